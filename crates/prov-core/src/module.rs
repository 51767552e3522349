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
use crate::fact::Fact;
use crate::script::Script;
use crate::sh;

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

    /// Where a module writes a controller file the playbook names (`fetch: dest:`): absolute
    /// paths as given, relative ones from the playbook's folder (Ansible's `path_dwim`). The
    /// default knows no playbook folder and refuses relative paths.
    fn output_path(&self, name: &str) -> Result<PathBuf, ModuleError> {
        if Path::new(name).is_absolute() {
            Ok(PathBuf::from(name))
        } else {
            Err(ModuleError::LocalFile(format!(
                "{name}: a relative controller path needs a playbook folder"
            )))
        }
    }

    /// Writes `content` to the controller file `path` (from [`FileSource::output_path`]),
    /// creating its missing parent folders, as Ansible's `fetch` writes: the file is truncated
    /// and rewritten in place (an existing file keeps its mode, a new one gets 0666 less the
    /// umask). Modules call it only from their [`Action`], so check mode never writes.
    fn write(&self, path: &Path, content: &[u8]) -> Result<(), ModuleError> {
        let err = |e: std::io::Error| {
            ModuleError::LocalFile(format!("cannot write {}: {e}", path.display()))
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        std::fs::write(path, content).map_err(err)
    }
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
    /// Builds a command for this task (environment, become and timeout applied).
    pub fn command(&self, script: &Script) -> RemoteCommand {
        let mut text = String::new();
        for (k, v) in self.environment {
            text.push_str(sh!("export {}={}\n", k, v).as_str());
        }
        text.push_str(script.as_str());
        RemoteCommand::new(text)
            .with_become(self.become_.cloned())
            .with_timeout(self.timeout)
    }

    /// Runs a script on the host and returns its output whatever its exit status.
    pub async fn run(&self, script: &Script) -> Result<CommandOutput, ModuleError> {
        Ok(self.conn.exec(&self.command(script), Stdin::Null).await?)
    }

    /// Runs a script with input on stdin and returns its output whatever its exit status.
    pub async fn run_with_input(
        &self,
        script: &Script,
        input: &[u8],
    ) -> Result<CommandOutput, ModuleError> {
        Ok(self
            .conn
            .exec(&self.command(script), Stdin::Bytes(input))
            .await?)
    }

    /// Runs a script and fails with its stderr unless it exits 0.
    pub async fn run_ok(&self, script: &Script) -> Result<CommandOutput, ModuleError> {
        let out = self.run(script).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(ModuleError::Remote {
                command: first_line(script.as_str()),
                status: out.status,
                stderr: out.stderr_text(),
            })
        }
    }

    /// Reads a fact: runs its probe and parses the answer.
    pub async fn fact<F: Fact>(&self, fact: &F) -> Result<F::Output, ModuleError> {
        let out = self.run(&fact.script()).await?;
        Ok(fact.parse(&out)?)
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

/// What executing a plan produced: result fields to merge into the registered result (`rc`,
/// `stdout`...). An action that ran but failed returns [`ModuleError::Failed`] instead.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The result fields.
    pub result: Map<String, Value>,
}

/// The change a plan will make, executed only when not in check mode.
#[async_trait]
pub trait Action: Send + Sync {
    /// Executes exactly what was planned.
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError>;
}

/// The action of most plans: run one planned script, fail with its stderr unless it exits 0.
pub struct RunScript(pub Script);

#[async_trait]
impl Action for RunScript {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        ctx.run_ok(&self.0).await?;
        Ok(Outcome::default())
    }
}

/// What a module found and what it would do. A failure found while planning is an
/// `Err(ModuleError::Failed)`, never a plan.
pub enum Plan {
    /// The host is as desired.
    Unchanged {
        /// Result fields known after planning (e.g. `stat`, `msg`).
        result: Map<String, Value>,
    },
    /// Applying `change` would change the host.
    Change(Change),
    /// An action that a real run executes but that changes no state, so it is reported as
    /// unchanged, as Ansible does (`systemd: daemon_reload: true` alone).
    Refresh(Change),
}

/// What a plan reports, without its action: what the engine shows and tests compare.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanReport {
    /// Whether the host would change.
    pub changed: bool,
    /// The summary lines.
    pub summary: Vec<String>,
    /// The diffs.
    pub diffs: Vec<Diff>,
    /// The result fields known after planning.
    pub result: Map<String, Value>,
}

/// A planned change: what it is for people and the action that makes it.
pub struct Change {
    /// One line per change, for people (`install redis-server 5:7.0.15-1`); never empty.
    pub summary: Vec<String>,
    /// Content diffs, shown with `--diff`.
    pub diffs: Vec<Diff>,
    /// Result fields known after planning.
    pub result: Map<String, Value>,
    /// The action that makes the change.
    pub action: Box<dyn Action>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plan::Unchanged { result } => {
                f.debug_struct("Unchanged").field("result", result).finish()
            }
            Plan::Change(c) | Plan::Refresh(c) => f
                .debug_struct(if self.changed() { "Change" } else { "Refresh" })
                .field("summary", &c.summary)
                .field("diffs", &c.diffs)
                .field("result", &c.result)
                .finish_non_exhaustive(),
        }
    }
}

impl Plan {
    /// A plan that changes nothing.
    pub fn unchanged() -> Self {
        Plan::Unchanged { result: Map::new() }
    }

    /// A plan that changes something through `action`.
    pub fn change(summary: impl Into<String>, action: impl Action + 'static) -> Self {
        Self::changes(vec![summary.into()], Vec::new(), action)
    }

    /// A plan of several changes (one summary line each) made by one `action`; a plan with no
    /// summary line changes nothing.
    pub fn changes(summary: Vec<String>, diffs: Vec<Diff>, action: impl Action + 'static) -> Self {
        if summary.is_empty() {
            return Self::unchanged();
        }
        Plan::Change(Change {
            summary,
            diffs,
            result: Map::new(),
            action: Box::new(action),
        })
    }

    /// This plan's result fields with a change: `summary` lines made by `action` (no summary
    /// line: unchanged).
    pub fn with_change(
        self,
        summary: Vec<String>,
        diffs: Vec<Diff>,
        action: impl Action + 'static,
    ) -> Self {
        let result = self.into_result();
        let mut plan = Self::changes(summary, diffs, action);
        *plan.result_mut() = result;
        plan
    }

    /// The result fields, taken.
    pub fn into_result(self) -> Map<String, Value> {
        match self {
            Plan::Unchanged { result }
            | Plan::Change(Change { result, .. })
            | Plan::Refresh(Change { result, .. }) => result,
        }
    }

    /// A real run executes `action`, reported as unchanged (see [`Plan::Refresh`]).
    pub fn refresh(summary: impl Into<String>, action: impl Action + 'static) -> Self {
        Plan::Refresh(Change {
            summary: vec![summary.into()],
            diffs: Vec::new(),
            result: Map::new(),
            action: Box::new(action),
        })
    }

    /// What the plan reports, and the action a real run executes (none when unchanged).
    pub fn split(self) -> (PlanReport, Option<Box<dyn Action>>) {
        let changed = self.changed();
        match self {
            Plan::Unchanged { result } => (
                PlanReport {
                    changed,
                    summary: Vec::new(),
                    diffs: Vec::new(),
                    result,
                },
                None,
            ),
            Plan::Change(c) | Plan::Refresh(c) => (
                PlanReport {
                    changed,
                    summary: c.summary,
                    diffs: c.diffs,
                    result: c.result,
                },
                Some(c.action),
            ),
        }
    }

    /// True when applying would change the host.
    pub fn changed(&self) -> bool {
        matches!(self, Plan::Change(_))
    }

    /// The summary lines (empty when unchanged).
    pub fn summary(&self) -> &[String] {
        match self {
            Plan::Unchanged { .. } => &[],
            Plan::Change(c) | Plan::Refresh(c) => &c.summary,
        }
    }

    /// The diffs (empty when unchanged).
    pub fn diffs(&self) -> &[Diff] {
        match self {
            Plan::Unchanged { .. } => &[],
            Plan::Change(c) | Plan::Refresh(c) => &c.diffs,
        }
    }

    /// The result fields known after planning.
    pub fn result(&self) -> &Map<String, Value> {
        match self {
            Plan::Unchanged { result }
            | Plan::Change(Change { result, .. })
            | Plan::Refresh(Change { result, .. }) => result,
        }
    }

    /// The result fields, to add to.
    pub fn result_mut(&mut self) -> &mut Map<String, Value> {
        match self {
            Plan::Unchanged { result }
            | Plan::Change(Change { result, .. })
            | Plan::Refresh(Change { result, .. }) => result,
        }
    }

    /// Adds a diff to a change (an unchanged plan has nothing to show).
    pub fn with_diff(mut self, diff: Diff) -> Self {
        if let Plan::Change(c) | Plan::Refresh(c) = &mut self {
            c.diffs.push(diff);
        }
        self
    }

    /// Adds a result field.
    pub fn with_result(mut self, key: &str, value: Value) -> Self {
        self.result_mut().insert(key.to_owned(), value);
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

/// A wrong argument: which one (when known) and what is wrong with it. The engine adds the
/// module's name and the task's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// The argument (`state`, `ports.0`), when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ArgError {
    /// `` `field`: message `` (the field is left out when the message already names it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) if !self.message.contains(&format!("`{field}`")) => {
                write!(f, "`{field}`: {}", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ArgError {}

impl ArgError {
    /// An error about argument `field`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// An error about the arguments as a whole (conflicting or missing options).
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

/// A task that ran (or planned) and failed: its message and the result fields it still
/// registers (`rc`, `stdout`, `elapsed`...).
#[derive(Debug, Default, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// Why it failed.
    pub message: String,
    /// Result fields to register with the failure.
    pub result: Map<String, Value>,
}

/// Remote state that could not be read: the fact's name and what was wrong with its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reading {fact} failed: {detail}")]
pub struct FactError {
    /// The fact (`stat of /etc/motd`).
    pub fact: String,
    /// What was wrong (the probe's stderr, or the malformed line).
    pub detail: String,
}

/// Why a module failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The arguments are wrong (unknown field, wrong type, conflicting options).
    #[error("invalid arguments: {0}")]
    Args(#[from] ArgError),
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
    /// Remote state could not be read.
    #[error(transparent)]
    Fact(#[from] FactError),
    /// The transport failed (possibly: host unreachable).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A local file could not be found or read.
    #[error("{0}")]
    LocalFile(String),
    /// A template could not be rendered.
    #[error("{0}")]
    Template(String),
    /// The task failed (`fail`, `assert`, a command's non-zero exit, a timeout waiting).
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl ModuleError {
    /// A failure with a message and no result fields.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(Failure {
            message: message.into(),
            result: Map::new(),
        })
    }

    /// A failure that registers `result`.
    pub fn failed_with(message: impl Into<String>, result: Map<String, Value>) -> Self {
        Self::Failed(Failure {
            message: message.into(),
            result,
        })
    }

    /// An argument error about the arguments as a whole.
    pub fn args(message: impl Into<String>) -> Self {
        Self::Args(ArgError::general(message))
    }

    /// An argument error about `field`.
    pub fn arg(field: &str, message: impl Into<String>) -> Self {
        Self::Args(ArgError::field(field, message))
    }

    /// True when the failure means the host is unreachable.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ModuleError::Transport(t) if t.is_unreachable())
    }
}
