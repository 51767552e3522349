//! Exit codes (documented in docs/ci.md).

/// What `prov` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything ran, nothing failed.
    Ok = 0,
    /// A task failed on some host.
    TaskFailed = 2,
    /// Some host was unreachable (and no task failed elsewhere).
    Unreachable = 3,
    /// Bad command line, inventory, playbook, template or vault input: nothing ran.
    Usage = 4,
    /// `--check --detailed-exitcode`: changes are pending (drift).
    ChangesPending = 5,
    /// Stopped by SIGINT (Ctrl-C): 128 + 2, like a shell reports it.
    Interrupted = 130,
    /// Stopped by SIGTERM: 128 + 15.
    Terminated = 143,
}
