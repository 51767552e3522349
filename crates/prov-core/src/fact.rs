//! Facts: remote state read by one probe script and parsed by the typed parser that sits beside
//! it. A module plans from facts; it never parses command output of its own.
//!
//! A malformed answer is a [`FactError`] naming the fact, never a default.

use crate::connection::CommandOutput;
use crate::module::FactError;
use crate::script::Script;

/// One piece of remote state: the script that reads it and the parser of its output.
pub trait Fact: Send + Sync {
    /// What the fact reads, typed.
    type Output;

    /// The fact's name for errors (`stat of /etc/motd`, `group prov`).
    fn name(&self) -> String;

    /// The probe: one script, one round trip. It must not change the host.
    fn script(&self) -> Script;

    /// Parses the probe's output (whatever its exit status: the parser decides what a status
    /// means).
    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError>;

    /// A [`FactError`] for this fact.
    fn error(&self, detail: impl Into<String>) -> FactError {
        FactError {
            fact: self.name(),
            detail: detail.into(),
        }
    }

    /// A [`FactError`] for a probe that exited non-zero, with its stderr.
    fn probe_failed(&self, out: &CommandOutput) -> FactError {
        self.error(format!(
            "the probe exited with status {}: {}",
            out.status,
            out.stderr_text().trim()
        ))
    }
}
