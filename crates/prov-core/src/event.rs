//! The one event stream of a run. Progress bars, plain lines, the recap, JSON Lines and JUnit
//! are all [`EventSink`]s of it; the engine never prints.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::Diff;

/// The result of one task on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Nothing had to change.
    Ok,
    /// Something changed (or, in check mode, would change).
    Changed,
    /// The task failed.
    Failed,
    /// The task was skipped (`when`, check mode, tags).
    Skipped,
    /// The host could not be reached.
    Unreachable,
    /// The task failed but `ignore_errors` was set.
    Ignored,
    /// The task failed inside a block whose `rescue` ran.
    Rescued,
    /// Check mode: the task would run, but it depends on values known only after apply (the
    /// output of a command check mode did not run), so what it would do cannot be planned.
    #[serde(rename = "known_after_apply")]
    KnownAfterApply,
}

/// One task's outcome on one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    /// Inventory host name.
    pub host: String,
    /// Play name.
    pub play: String,
    /// Task name.
    pub task: String,
    /// Module name.
    pub module: String,
    /// Loop item label, when the task loops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Outcome.
    pub status: TaskStatus,
    /// Whether it changed something.
    pub changed: bool,
    /// Time spent on this host.
    #[serde(with = "duration_secs")]
    pub duration: Duration,
    /// One line per change.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub summary: Vec<String>,
    /// Content diffs (filled only with `--diff`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub diffs: Vec<Diff>,
    /// Failure or skip message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// The registered result (hidden with `no_log`).
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub result: Value,
}

/// Totals for one host at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecap {
    /// Inventory host name.
    pub host: String,
    /// Tasks that found nothing to change.
    pub ok: u32,
    /// Tasks that changed something.
    pub changed: u32,
    /// 1 when the host was unreachable.
    pub unreachable: u32,
    /// Failed tasks.
    pub failed: u32,
    /// Skipped tasks.
    pub skipped: u32,
    /// Failures handled by a rescue block.
    pub rescued: u32,
    /// Failures ignored by `ignore_errors`.
    pub ignored: u32,
    /// Check mode: tasks that depend on values known only after apply.
    #[serde(default)]
    pub known_after_apply: u32,
}

impl HostRecap {
    /// Counts one task result.
    pub fn count(&mut self, status: TaskStatus) {
        match status {
            TaskStatus::Ok => self.ok += 1,
            TaskStatus::Changed => {
                self.ok += 1;
                self.changed += 1
            }
            TaskStatus::Failed => self.failed += 1,
            TaskStatus::Skipped => self.skipped += 1,
            TaskStatus::Unreachable => self.unreachable = 1,
            TaskStatus::Ignored => {
                self.ok += 1;
                self.ignored += 1
            }
            TaskStatus::Rescued => self.rescued += 1,
            TaskStatus::KnownAfterApply => self.known_after_apply += 1,
        }
    }
}

/// Everything that happens during a run, in order.
// `TaskResult` is the common event and the large one (its result is an ordered JSON map);
// boxing it would add an allocation to every task result to shrink the rare small events.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run starts.
    RunStart {
        /// Playbook path.
        playbook: String,
        /// Check mode.
        check_mode: bool,
    },
    /// A play starts on these hosts.
    PlayStart {
        /// Play name.
        play: String,
        /// Targeted hosts.
        hosts: Vec<String>,
    },
    /// A task starts on these hosts.
    TaskStart {
        /// Play name.
        play: String,
        /// Task name.
        task: String,
        /// Hosts it runs on.
        hosts: Vec<String>,
        /// True for handlers.
        handler: bool,
    },
    /// A task finished on one host.
    TaskResult(TaskResult),
    /// A host became unreachable.
    HostUnreachable {
        /// Host name.
        host: String,
        /// Why.
        reason: String,
    },
    /// A warning for people.
    Warning {
        /// Message.
        message: String,
    },
    /// The run ended.
    RunEnd {
        /// Per-host totals, sorted by host.
        recap: Vec<HostRecap>,
        /// Wall time of the run.
        #[serde(with = "duration_secs")]
        elapsed: Duration,
    },
}

/// A consumer of the event stream.
pub trait EventSink: Send + Sync {
    /// Handles one event (already redacted).
    fn event(&self, event: &Event);
    /// Called once at the end (flush files, clear progress bars).
    fn finish(&self) {}
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(secs.max(0.0)))
    }
}
