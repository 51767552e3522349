//! The contract every module follows: arguments in, a [`Plan`] out, then apply exactly that plan.
//!
//! A module is built from its (already rendered, typed) arguments. [`Module::plan`] reads the
//! host's current state and says whether anything would change, with a human summary and diffs.
//! In check mode the engine stops there; otherwise it runs the plan's [`Action`], which executes
//! what was planned and nothing else. Because a real run and a check run share `plan`, what a
//! check run predicts is what a real run changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::connection::{Become, CommandOutput, Connection, RemoteCommand, Stdin, TransportError};
use crate::diff::Diff;

/// How a module behaves in check mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// `plan` predicts the change exactly; check mode reports it without applying it.
    Predicts,
    /// The change cannot be predicted (`command`, `shell`): in check mode the task is skipped
    /// unless it is marked `check_mode: false`.
    Unpredictable,
}

/// Where a module looks up a file named by the playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `template: src:` (the `templates/` folders).
    Template,
    /// `copy: src:` (the `files/` folders).
    File,
}

/// Finds and renders the playbook's local files for a module.
pub trait FileSource: Send + Sync {
    /// Resolves `name` in the folders of `kind` (role first, then beside the playbook); absolute
    /// paths are used as given.
    fn find(&self, kind: FileKind, name: &str) -> Result<PathBuf, ModuleError>;
    /// Renders a template file with the host's variables.
    fn render(&self, path: &Path) -> Result<String, ModuleError>;
}

/// Gives a module connections to other hosts of the run (the Redis cluster reaches every node
/// through its own host's connection).
pub trait Peers: Send + Sync {
    /// The open connection to `host`, if that host is part of the run and reachable.
    fn connection(&self, host: &str) -> Option<Arc<dyn Connection>>;
}

/// Everything a module may use while planning and applying.
pub struct ModuleContext<'a> {
    /// The inventory name of the host.
    pub host: &'a str,
    /// The host's connection.
    pub conn: &'a dyn Connection,
    /// Privilege escalation for this task, if any.
    pub become_: Option<&'a Become>,
    /// True in check mode (plan only).
    pub check_mode: bool,
    /// The host's facts (`os_family`, `default_ipv4`, `pkg_mgr`...).
    pub facts: &'a Value,
    /// The playbook's local files.
    pub files: &'a dyn FileSource,
    /// Other hosts' connections.
    pub peers: &'a dyn Peers,
    /// Per-task timeout for remote commands.
    pub timeout: Option<std::time::Duration>,
    /// Environment variables set for every command of the task (`environment:`); names are
    /// shell identifiers (checked by the engine).
    pub environment: &'a [(String, String)],
}

impl ModuleContext<'_> {
    /// Builds a command for this task (become and timeout applied).
    pub fn command(&self, script: impl Into<String>) -> RemoteCommand {
        let mut script = script.into();
        if !self.environment.is_empty() {
            let exports: String = self
                .environment
                .iter()
                .map(|(k, v)| format!("export {k}={}\n", crate::quote(v)))
                .collect();
            script.insert_str(0, &exports);
        }
        RemoteCommand::new(script)
            .with_become(self.become_.cloned())
            .with_timeout(self.timeout)
    }

    /// Runs a script on the host and returns its output whatever its exit status.
    pub async fn run(&self, script: impl Into<String>) -> Result<CommandOutput, ModuleError> {
        Ok(self.conn.exec(&self.command(script), Stdin::Null).await?)
    }

    /// Runs a script with input on stdin and returns its output whatever its exit status.
    pub async fn run_with_input(
        &self,
        script: impl Into<String>,
        input: &[u8],
    ) -> Result<CommandOutput, ModuleError> {
        Ok(self
            .conn
            .exec(&self.command(script), Stdin::Bytes(input))
            .await?)
    }

    /// Runs a script and fails with its stderr unless it exits 0.
    pub async fn run_ok(&self, script: impl Into<String>) -> Result<CommandOutput, ModuleError> {
        let script = script.into();
        let out = self.run(script.clone()).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(ModuleError::Remote {
                command: first_line(&script),
                status: out.status,
                stderr: out.stderr_text(),
            })
        }
    }
}

fn first_line(script: &str) -> String {
    let line = script.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if line.len() > 120 {
        format!(
            "{}...",
            &line[..line.char_indices().nth(117).map_or(line.len(), |(i, _)| i)]
        )
    } else {
        line.to_owned()
    }
}

/// What executing a plan produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Result fields to merge into the registered result (`rc`, `stdout`...).
    pub result: Map<String, Value>,
    /// A failure message when the action ran but failed (e.g. a command's non-zero exit).
    pub failed: Option<String>,
}

/// The change a plan will make, executed only when not in check mode.
#[async_trait]
pub trait Action: Send + Sync {
    /// Executes exactly what was planned.
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError>;
}

/// What a module found and what it would do.
#[derive(Default)]
pub struct Plan {
    /// True when applying would change the host.
    pub changed: bool,
    /// One line per change, for people (`install redis-server 5:7.0.15-1`).
    pub summary: Vec<String>,
    /// Content diffs, shown with `--diff`.
    pub diffs: Vec<Diff>,
    /// Result fields known after planning (e.g. `stat`, `msg`).
    pub result: Map<String, Value>,
    /// The action that makes the change; `None` when nothing changes.
    pub action: Option<Box<dyn Action>>,
    /// A failure detected while planning (`fail`, `assert`), reported as a failed task.
    pub failed: Option<String>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("changed", &self.changed)
            .field("summary", &self.summary)
            .field("diffs", &self.diffs)
            .field("result", &self.result)
            .field("has_action", &self.action.is_some())
            .field("failed", &self.failed)
            .finish()
    }
}

impl Plan {
    /// A plan that changes nothing.
    pub fn unchanged() -> Self {
        Self::default()
    }

    /// A plan that changes something through `action`.
    pub fn change(summary: impl Into<String>, action: impl Action + 'static) -> Self {
        Self {
            changed: true,
            summary: vec![summary.into()],
            action: Some(Box::new(action)),
            ..Self::default()
        }
    }

    /// Adds a diff.
    pub fn with_diff(mut self, diff: Diff) -> Self {
        self.diffs.push(diff);
        self
    }

    /// Adds a result field.
    pub fn with_result(mut self, key: &str, value: Value) -> Self {
        self.result.insert(key.to_owned(), value);
        self
    }
}

/// A module, built from its typed arguments.
#[async_trait]
pub trait Module: Send + Sync {
    /// Reads the host's current state and computes the plan.
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError>;

    /// How this module behaves in check mode.
    fn check_mode(&self) -> CheckMode {
        CheckMode::Predicts
    }
}

/// Why a module failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The arguments are wrong (unknown field, wrong type, conflicting options).
    #[error("invalid arguments: {0}")]
    Args(String),
    /// A remote command failed.
    #[error("`{command}` failed with status {status}: {stderr}")]
    Remote {
        /// The command's first line.
        command: String,
        /// Its exit status.
        status: i32,
        /// Its stderr.
        stderr: String,
    },
    /// The transport failed (possibly: host unreachable).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A local file could not be found or read.
    #[error("{0}")]
    LocalFile(String),
    /// A template could not be rendered.
    #[error("{0}")]
    Template(String),
    /// Anything else, with a message.
    #[error("{0}")]
    Failed(String),
}

impl ModuleError {
    /// True when the failure means the host is unreachable.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ModuleError::Transport(t) if t.is_unreachable())
    }
}
