//! `shell`: runs a command line through a shell (`/bin/sh` or `executable`), so pipes,
//! redirections and expansions work. `creates`/`removes` make it idempotent.

use async_trait::async_trait;
use prov_core::{CheckMode, Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::de_bool;
use crate::cmdexec::{
    Guards, RunCommand, check_arg, command_line, free_form_options, run_plan, skipped_plan,
    stdin_bytes,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default, alias = "_raw_params")]
    cmd: Option<String>,
    #[serde(default)]
    chdir: Option<String>,
    #[serde(default)]
    creates: Option<String>,
    #[serde(default)]
    removes: Option<String>,
    #[serde(default)]
    executable: Option<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    stdin_add_newline: bool,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    strip_empty_ends: bool,
}

struct Shell {
    cmd: String,
    executable: Option<String>,
    guards: Guards,
    stdin: Option<Vec<u8>>,
    strip_empty_ends: bool,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("shell", build).free_form();

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = crate::parse_args(free_form_options(args))?;
    let cmd = command_line(a.cmd)?;
    check_arg("shell", "chdir", &a.chdir)?;
    check_arg("shell", "creates", &a.creates)?;
    check_arg("shell", "removes", &a.removes)?;
    check_arg("shell", "executable", &a.executable)?;
    Ok(Box::new(Shell {
        cmd,
        executable: a.executable,
        guards: Guards {
            chdir: a.chdir,
            creates: a.creates,
            removes: a.removes,
        },
        stdin: stdin_bytes(a.stdin, a.stdin_add_newline),
        strip_empty_ends: a.strip_empty_ends,
    }))
}

impl Shell {
    fn script(&self) -> Script {
        // The command always runs in a shell of its own, so nothing of ours (the `cd` line)
        // can change its meaning.
        let exe = self.executable.as_deref().unwrap_or("/bin/sh");
        let run = sh!("exec {} -c {}\n", exe, self.cmd);
        self.guards.cd_line().then(&run)
    }
}

#[async_trait]
impl Module for Shell {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let cmd = json!(self.cmd);
        if let Some(skip) = self.guards.skip_reason(ctx).await? {
            return Ok(skipped_plan(&skip, ctx.check_mode, cmd));
        }
        let first = self
            .cmd
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Ok(run_plan(
            format!("run {}", first.trim()),
            RunCommand {
                script: self.script(),
                stdin: self.stdin.clone(),
                cmd,
                strip_empty_ends: self.strip_empty_ends,
            },
            ctx.check_mode,
        ))
    }

    /// Like Ansible: unpredictable (skipped in check mode) unless `creates`/`removes` guard
    /// the command, in which case check mode reports whether it would run.
    fn check_mode(&self) -> CheckMode {
        if self.guards.guarded() {
            CheckMode::Predicts
        } else {
            CheckMode::Unpredictable
        }
    }
}
