//! `raw`: runs a command line as it is through the connection: no module, no Python on the
//! host, no `creates`/`chdir` guards.
//!
//! ```yaml
//! raw: apt-get -y install python3
//! raw: echo $0 executable=/bin/bash
//! ```
//!
//! Like Ansible's `raw` action: always `changed`, skipped in check mode, the task's
//! `environment:` is not applied (Ansible warns that raw does not support it), `stdout`/`stderr`
//! are returned as the command wrote them (not stripped). The line runs in its own
//! `/bin/sh -c` (or `executable -c`), so nothing of prov's wrapper changes its meaning.

use async_trait::async_trait;
use prov_core::{
    Action, CheckMode, Module, ModuleContext, ModuleError, Outcome, Plan, RemoteCommand, Script,
    Stdin, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::cmdexec::{check_arg, command_line, free_form_options};

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("raw", build).free_form();

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default, alias = "_raw_params")]
    cmd: Option<String>,
    #[serde(default)]
    executable: Option<String>,
}

struct Raw {
    cmd: String,
    executable: Option<String>,
}

/// Builds the module from its arguments (free form; `executable=` may be among the words).
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = crate::parse_args(free_form_options(args))?;
    let cmd = command_line(a.cmd)?;
    check_arg("raw", "executable", &a.executable)?;
    Ok(Box::new(Raw {
        cmd,
        executable: a.executable,
    }))
}

impl Raw {
    fn script(&self) -> Script {
        let exe = self.executable.as_deref().unwrap_or("/bin/sh");
        sh!("exec {} -c {}\n", exe, self.cmd)
    }
}

/// Runs the raw line and returns Ansible's low-level result.
struct RunRaw(Script);

#[async_trait]
impl Action for RunRaw {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        // Not `ctx.command`: raw ignores the task's `environment:` as Ansible's does.
        let command = RemoteCommand::new(self.0.as_str())
            .with_become(ctx.become_.cloned())
            .with_timeout(ctx.timeout);
        let out = ctx.conn.exec(&command, Stdin::Null).await?;
        let result = low_level_result(out.status, &out.stdout, &out.stderr);
        if out.status != 0 {
            return Err(ModuleError::failed_with("non-zero return code", result));
        }
        Ok(Outcome { result })
    }
}

/// Ansible's result of a low-level command (`raw`, `script`): `rc`, `stdout`, `stderr` as
/// written and their `_lines`.
pub(crate) fn low_level_result(rc: i32, stdout: &[u8], stderr: &[u8]) -> Map<String, Value> {
    let stdout = String::from_utf8_lossy(stdout);
    let stderr = String::from_utf8_lossy(stderr);
    let mut r = Map::new();
    r.insert("rc".into(), json!(rc));
    r.insert("stdout".into(), json!(stdout));
    r.insert("stdout_lines".into(), json!(stdout.lines().collect::<Vec<_>>()));
    r.insert("stderr".into(), json!(stderr));
    r.insert("stderr_lines".into(), json!(stderr.lines().collect::<Vec<_>>()));
    if rc != 0 {
        r.insert("msg".into(), json!("non-zero return code"));
    }
    r
}

#[async_trait]
impl Module for Raw {
    async fn plan(&self, _ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let first = self.cmd.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        Ok(Plan::change(
            format!("raw {}", first.trim()),
            RunRaw(self.script()),
        ))
    }

    /// Ansible's `raw` is always skipped in check mode.
    fn check_mode(&self) -> CheckMode {
        CheckMode::Unpredictable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    #[test]
    fn the_line_runs_in_its_own_shell() {
        let r = Raw {
            cmd: "echo $0; exit 3".into(),
            executable: None,
        };
        assert_eq!(r.script().as_str(), "exec /bin/sh -c 'echo $0; exit 3'\n");
        let r = Raw {
            cmd: "x".into(),
            executable: Some("/bin/bash".into()),
        };
        assert_eq!(r.script().as_str(), "exec /bin/bash -c x\n");
    }

    #[test]
    fn args() {
        assert!(build(json!({"cmd": "uptime"})).is_ok());
        assert!(build(json!({"_raw_params": "echo $0 executable=/bin/bash"})).is_ok());
        assert!(build(json!({"cmd": " "})).is_err());
        let field = |v: Value| refused_field(build(v));
        // Options raw does not have are refused, naming them (Ansible ignores them silently).
        assert_eq!(field(json!({"_raw_params": "ls creates=/x"})).as_deref(), Some("creates"));
        assert_eq!(field(json!({"cmd": "ls", "chdir": "/"})).as_deref(), Some("chdir"));
    }

    #[test]
    fn results_are_not_stripped() {
        let r = low_level_result(2, b"a\nb\n", b"");
        assert_eq!(r["stdout"], json!("a\nb\n"));
        assert_eq!(r["stdout_lines"], json!(["a", "b"]));
        assert_eq!(r["msg"], json!("non-zero return code"));
        assert!(!low_level_result(0, b"", b"").contains_key("msg"));
    }
}
