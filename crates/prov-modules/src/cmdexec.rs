//! Shared machinery of `command` and `shell`: `chdir`/`creates`/`removes` guards, running the
//! command and building Ansible's result (`rc`, `stdout`, `stderr`, `*_lines`, `cmd`, `delta`).

use std::time::Instant;

use async_trait::async_trait;
use prov_core::{Action, ModuleContext, ModuleError, Outcome, Plan, Script, Stdin, sh};
use serde_json::{Map, Value, json};

/// `chdir`, `creates` and `removes` of a command task.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Directory to change into first.
    pub chdir: Option<String>,
    /// Skip when this path (glob) exists.
    pub creates: Option<String>,
    /// Skip unless this path (glob) exists.
    pub removes: Option<String>,
}

impl Guards {
    /// The shell line changing into `chdir`, if any (empty otherwise).
    pub fn cd_line(&self) -> Script {
        match &self.chdir {
            Some(d) => sh!(
                "cd -- {} || {{ echo {} >&2; exit 1; }}",
                d,
                format!("Unable to change directory before execution: {d}")
            ),
            None => Script::default(),
        }
    }

    /// Checks `creates`/`removes` (one remote command when either is set, none otherwise).
    /// Returns the skip message when the command must not run.
    pub async fn skip_reason(
        &self,
        ctx: &ModuleContext<'_>,
    ) -> Result<Option<String>, ModuleError> {
        if self.creates.is_none() && self.removes.is_none() {
            return Ok(None);
        }
        let mut s = self.cd_line();
        for (tag, pat) in [("C", &self.creates), ("R", &self.removes)] {
            if let Some(p) = pat {
                s = s.then(&sh!(
                    "for f in {}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo {}; break; fi; done",
                    glob_word(p),
                    tag
                ));
            }
        }
        let out = ctx.run(&s).await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text()));
        }
        let text = out.stdout_text();
        if let Some(c) = &self.creates
            && text.lines().any(|l| l == "C")
        {
            return Ok(Some(format!("skipped, since {c} exists")));
        }
        if let Some(r) = &self.removes
            && !text.lines().any(|l| l == "R")
        {
            return Ok(Some(format!("skipped, since {r} does not exist")));
        }
        Ok(None)
    }
}

/// A glob pattern as one shell word: literal parts quoted, `*` and `?` left active.
pub fn glob_word(pattern: &str) -> Script {
    let mut out = Script::default();
    let mut lit = String::new();
    for c in pattern.chars() {
        if c == '*' || c == '?' {
            if !lit.is_empty() {
                out = sh!("{}{}", out, lit);
                lit.clear();
            }
            out = sh!("{}{}", out, Script::text(if c == '*' { "*" } else { "?" }));
        } else {
            lit.push(c);
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out = sh!("{}{}", out, lit);
    }
    out
}

/// Builds the unchanged plan of a skipped command.
pub fn skipped_plan(msg: String, cmd: Value) -> Plan {
    Plan::unchanged()
        .with_result("msg", json!(msg.clone()))
        .with_result("stdout", json!(msg.clone()))
        .with_result("stdout_lines", json!([msg]))
        .with_result("stderr", json!(""))
        .with_result("stderr_lines", json!([]))
        .with_result("rc", json!(0))
        .with_result("cmd", cmd)
        .with_result("changed", json!(false))
}

/// Runs a prepared script and reports Ansible's command result.
pub struct RunCommand {
    /// The script run by the connection's `sh -c`.
    pub script: Script,
    /// Data for stdin.
    pub stdin: Option<Vec<u8>>,
    /// The `cmd` result field.
    pub cmd: Value,
    /// Strip trailing newlines from stdout/stderr.
    pub strip_empty_ends: bool,
}

#[async_trait]
impl Action for RunCommand {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let start = Instant::now();
        let input = match &self.stdin {
            Some(b) => Stdin::Bytes(b),
            None => Stdin::Null,
        };
        let out = ctx.conn.exec(&ctx.command(&self.script), input).await?;
        let delta = start.elapsed();
        let mut result = Map::new();
        let text = |b: &[u8]| {
            let t = String::from_utf8_lossy(b).into_owned();
            if self.strip_empty_ends {
                t.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                t
            }
        };
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        result.insert("rc".into(), json!(out.status));
        result.insert(
            "stdout_lines".into(),
            json!(stdout.lines().collect::<Vec<_>>()),
        );
        result.insert(
            "stderr_lines".into(),
            json!(stderr.lines().collect::<Vec<_>>()),
        );
        result.insert("stdout".into(), json!(stdout));
        result.insert("stderr".into(), json!(stderr));
        result.insert("cmd".into(), self.cmd.clone());
        result.insert("changed".into(), json!(true));
        let secs = delta.as_secs();
        result.insert(
            "delta".into(),
            json!(format!(
                "{}:{:02}:{:02}.{:06}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60,
                delta.subsec_micros()
            )),
        );
        if out.status != 0 {
            result.insert("msg".into(), json!("non-zero return code"));
            return Err(ModuleError::failed_with("non-zero return code", result));
        }
        result.insert("msg".into(), json!(""));
        Ok(Outcome { result })
    }
}

/// The plan of a command that will run: the guards were checked, `summary` names it.
pub fn run_plan(summary: String, action: RunCommand) -> Plan {
    let cmd = action.cmd.clone();
    Plan::change(summary, action).with_result("cmd", cmd)
}

/// Appends the newline Ansible adds to `stdin` unless told not to.
pub fn stdin_bytes(stdin: Option<String>, add_newline: bool) -> Option<Vec<u8>> {
    stdin.map(|s| {
        let mut b = s.into_bytes();
        if add_newline {
            b.push(b'\n');
        }
        b
    })
}

/// Rejects an empty or NUL-containing path argument.
pub fn check_arg(module: &str, name: &str, value: &Option<String>) -> Result<(), ModuleError> {
    if let Some(v) = value
        && (v.is_empty() || v.contains('\0'))
    {
        return Err(ModuleError::args(format!(
            "{module}: `{name}` must be a non-empty path"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_words_quote_literals() {
        assert_eq!(glob_word("/tmp/a b/*.conf").as_str(), "'/tmp/a b/'*.conf");
        assert_eq!(glob_word("/x/$(id)?").as_str(), "'/x/$(id)'?");
        assert_eq!(glob_word("").as_str(), "''");
    }
}
