//! `script`: copies a local script to the host, runs it there with its arguments, removes it.
//!
//! ```yaml
//! script: setup.sh --fast "two words"
//! script: { cmd: setup.sh, creates: /etc/setup.done, chdir: /srv, executable: /bin/bash }
//! ```
//!
//! The script is found as Ansible finds it (`files/` of the role, then beside the playbook;
//! absolute paths as given). One remote command does the rest: a private directory from
//! `mktemp -d`, the script written there from stdin (mode 0700), run (through `executable` when
//! given) with the arguments as written (shell words, as in Ansible), and the directory removed
//! by an exit trap, on failure too. `creates`/`removes` are checked on the host first (`test
//! -e`, as Ansible's): with either, check mode predicts the run; without, the task is skipped in
//! check mode. Returns `rc`, `stdout`, `stderr` (and `_lines`) as the script wrote them.

use async_trait::async_trait;
use crate::cmdexec::{Skip, literal_skip};
use prov_core::{
    Action, CheckMode, FileKind, Module, ModuleContext, ModuleError, Outcome, Plan, Script, Stdin,
    sh,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::raw::low_level_result;
use crate::cmdexec::{check_arg, free_form_options, word_spans};

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("script", build).free_form();

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default, alias = "_raw_params")]
    cmd: Option<String>,
    #[serde(default)]
    creates: Option<String>,
    #[serde(default)]
    removes: Option<String>,
    #[serde(default)]
    chdir: Option<String>,
    #[serde(default)]
    executable: Option<String>,
}

/// The script task, as built.
#[derive(Debug, PartialEq, Eq)]
struct ScriptTask {
    /// The local script as named (a path, looked up in `files/`).
    source: String,
    /// The arguments as written (shell text).
    args: String,
    creates: Option<String>,
    removes: Option<String>,
    chdir: Option<String>,
    executable: Option<String>,
}

/// Builds the module from its arguments (`path args` free form; `creates=`... among them).
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

fn parse(args: Value) -> Result<ScriptTask, ModuleError> {
    let a: Args = crate::parse_args(free_form_options(args))?;
    let line = a.cmd.unwrap_or_default();
    let line = line.trim();
    let Some(&(start, end)) = word_spans(line).first() else {
        return Err(ModuleError::args("script: no script given (`cmd` or free form)"));
    };
    let source = shlex::split(&line[start..end])
        .and_then(|w| w.into_iter().next())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ModuleError::arg("cmd", format!("cannot read a path in `{line}`")))?;
    if line.contains('\0') {
        return Err(ModuleError::arg("cmd", "must not contain NUL characters"));
    }
    for (name, v) in [
        ("creates", &a.creates),
        ("removes", &a.removes),
        ("chdir", &a.chdir),
        ("executable", &a.executable),
    ] {
        check_arg("script", name, v)?;
    }
    if let Some(d) = &a.chdir
        && !d.starts_with('/')
    {
        return Err(ModuleError::arg(
            "chdir",
            format!("chdir {d} must be an absolute path for a Unix-aware remote node"),
        ));
    }
    Ok(ScriptTask {
        source,
        args: line[end..].trim().to_owned(),
        creates: a.creates,
        removes: a.removes,
        chdir: a.chdir,
        executable: a.executable,
    })
}

impl ScriptTask {
    /// Ansible's skip message when `creates`/`removes` say the script must not run.
    async fn skip_reason(&self, ctx: &ModuleContext<'_>) -> Result<Option<String>, ModuleError> {
        Ok(
            match literal_skip(ctx, &self.creates, &self.removes).await? {
                Some(Skip::Creates(c)) => Some(format!("{c} exists, matching creates option")),
                Some(Skip::Removes(r)) => Some(format!("{r} does not exist, matching removes option")),
                None => None,
            },
        )
    }

    /// The one remote command: private dir, script from stdin, run, always removed.
    fn script(&self, name: &str) -> Script {
        let exe = self.executable.as_deref().map(|e| format!("{e} ")).unwrap_or_default();
        // Like Ansible, the arguments (and executable) are shell text of the task's author;
        // they run in a shell of their own with the script's path in `$P`.
        let line = format!("{exe}\"$P\" {}", self.args);
        let cd = match &self.chdir {
            Some(d) => sh!(
                "cd -- {} || {{ echo {} >&2; exit 1; }}\n",
                d,
                format!("Unable to change directory before execution: {d}")
            ),
            None => Script::default(),
        };
        sh!(
            "d=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$d\"' EXIT\ntrap 'exit 129' HUP\n\
             trap 'exit 130' INT\ntrap 'exit 143' TERM\nP=\"$d\"/{}\n\
             cat > \"$P\" && chmod 0700 \"$P\" || exit 1\n{}P=\"$P\" /bin/sh -c {}\n",
            name,
            cd,
            line
        )
    }
}

/// Sends the script on stdin to the prepared command and reports Ansible's result.
struct RunLocalScript {
    script: Script,
    body: Vec<u8>,
}

#[async_trait]
impl Action for RunLocalScript {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx
            .conn
            .exec(&ctx.command(&self.script), Stdin::Bytes(&self.body))
            .await?;
        let result = low_level_result(out.status, &out.stdout, &out.stderr);
        if out.status != 0 {
            return Err(ModuleError::failed_with("non-zero return code", result));
        }
        Ok(Outcome { result })
    }
}

#[async_trait]
impl Module for ScriptTask {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        if let Some(msg) = self.skip_reason(ctx).await? {
            return Ok(Plan::unchanged()
                .with_result("msg", json!(msg))
                .with_result("skipped", json!(true)));
        }
        let path = ctx.files.find(FileKind::File, &self.source)?;
        let body = std::fs::read(&path).map_err(|e| {
            ModuleError::LocalFile(format!("reading script {}: {e}", path.display()))
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "script".into());
        let summary = format!("run script {} {}", self.source, self.args);
        let script = self.script(&name);
        Ok(Plan::change(summary.trim_end(), RunLocalScript { script, body }))
    }

    /// Like Ansible: check mode is supported only with `creates`/`removes`.
    fn check_mode(&self) -> CheckMode {
        if self.creates.is_some() || self.removes.is_some() {
            CheckMode::Predicts
        } else {
            CheckMode::Unpredictable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    #[test]
    fn free_form_splits_path_args_and_options() {
        let t = parse(json!({"_raw_params": "'my setup.sh' --a \"b c\" creates=/x chdir=/srv"})).unwrap();
        assert_eq!(t.source, "my setup.sh");
        assert_eq!(t.args, "--a \"b c\"");
        assert_eq!(t.creates.as_deref(), Some("/x"));
        assert_eq!(t.chdir.as_deref(), Some("/srv"));
        let s = t.script("my setup.sh");
        assert!(s.as_str().contains("P=\"$d\"/'my setup.sh'\n"), "{}", s.as_str());
        assert!(s.as_str().contains("cd -- /srv ||"), "{}", s.as_str());
        assert!(
            s.as_str().ends_with("P=\"$P\" /bin/sh -c '\"$P\" --a \"b c\"'\n"),
            "{}",
            s.as_str()
        );
        assert!(build(json!({"cmd": ""})).is_err());
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"cmd": "a.sh", "chdir": "rel"})).as_deref(), Some("chdir"));
        assert_eq!(field(json!({"cmd": "a.sh", "decrypt": false})).as_deref(), Some("decrypt"));
    }
}
