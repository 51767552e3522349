//! `reboot`: reboots the host and waits until it is back, as Ansible's `reboot` action does.
//!
//! ```yaml
//! reboot: { msg: "Kernel upgrade", reboot_timeout: 300 }
//! ```
//!
//! Reads the host's boot id (`boot_time_command`), runs `shutdown -r DELAY_MIN "MSG"` (or
//! `reboot_command`, its program looked up in `search_paths`), then, after
//! `post_reboot_delay`, reopens the connection until the boot id differs and `test_command`
//! succeeds, each within `reboot_timeout` seconds, waiting 1, 2, 4... (at most 12) seconds
//! between attempts. Always changed; `elapsed` counts whole seconds from the reboot command.
//! Check mode reboots nothing and reports it changed (Ansible's result); a local connection
//! is refused, since it would reboot the controller.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Module, ModuleContext, ModuleError, Outcome, Plan, RemoteCommand,
    Script, Stdin, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{de_opt_int, de_opt_string, de_opt_string_list};

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("reboot", build);

/// Where the shutdown program is looked for (Ansible's default `search_paths`).
const SEARCH_PATHS: &[&str] = &["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"];

/// The longest wait between two attempts (Ansible's `max_fail_sleep`).
const MAX_BACKOFF: Duration = Duration::from_secs(12);

/// How long one attempt may take when `connect_timeout` is not given.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default, deserialize_with = "de_opt_string")]
    msg: Option<String>,
    #[serde(default, alias = "pre_reboot_delay_sec", deserialize_with = "de_opt_int")]
    pre_reboot_delay: Option<i64>,
    #[serde(default, alias = "post_reboot_delay_sec", deserialize_with = "de_opt_int")]
    post_reboot_delay: Option<i64>,
    #[serde(default, alias = "reboot_timeout_sec", deserialize_with = "de_opt_int")]
    reboot_timeout: Option<u64>,
    #[serde(default, alias = "connect_timeout_sec", deserialize_with = "de_opt_int")]
    connect_timeout: Option<u64>,
    #[serde(default, deserialize_with = "de_opt_string")]
    test_command: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    boot_time_command: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    reboot_command: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string_list")]
    search_paths: Option<Vec<Option<String>>>,
}

/// What the reboot runs and how long it waits.
#[derive(Debug, Clone, PartialEq)]
struct Reboot {
    /// The shutdown program (absolute, or looked up in `search_paths`).
    program: String,
    /// Its arguments as shell text: Ansible's `-r DELAY_MIN "MSG"` (the message quoted), or
    /// what follows the program in `reboot_command`.
    arguments: String,
    search_paths: Vec<String>,
    boot_time_command: String,
    test_command: String,
    post_reboot_delay: Duration,
    reboot_timeout: Duration,
    attempt_timeout: Duration,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

fn parse(args: Value) -> Result<Reboot, ModuleError> {
    let a: Args = crate::parse_args(args)?;
    let delay = |d: Option<i64>| Duration::from_secs(d.unwrap_or(0).max(0) as u64);
    let (program, arguments) = match &a.reboot_command {
        Some(line) => {
            let (program, rest) = line.split_once(' ').unwrap_or((line, ""));
            (program.to_owned(), rest.to_owned())
        }
        None => {
            let minutes = a.pre_reboot_delay.unwrap_or(0).max(0) / 60;
            let msg = a.msg.as_deref().unwrap_or("Reboot initiated by Ansible");
            let arguments = sh!("-r {} {}", minutes, msg).as_str().to_owned();
            ("shutdown".to_owned(), arguments)
        }
    };
    let search_paths = match a.search_paths {
        Some(paths) => paths.into_iter().flatten().collect(),
        None => SEARCH_PATHS.iter().map(|p| p.to_string()).collect(),
    };
    Ok(Reboot {
        program,
        arguments,
        search_paths,
        boot_time_command: a
            .boot_time_command
            .unwrap_or_else(|| "cat /proc/sys/kernel/random/boot_id".into()),
        test_command: a.test_command.unwrap_or_else(|| "whoami".into()),
        post_reboot_delay: delay(a.post_reboot_delay),
        reboot_timeout: Duration::from_secs(a.reboot_timeout.unwrap_or(600)),
        attempt_timeout: a
            .connect_timeout
            .map_or(ATTEMPT_TIMEOUT, |s| Duration::from_secs(s.max(1))),
    })
}

/// The result of a reboot that did (or, in check mode, would) happen.
fn rebooted(elapsed: u64) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("rebooted".into(), json!(true));
    result.insert("elapsed".into(), json!(elapsed));
    result
}

#[async_trait]
impl Module for Reboot {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        if ctx.conn.is_local() {
            let mut result = Map::new();
            result.insert("rebooted".into(), json!(false));
            result.insert("elapsed".into(), json!(0));
            return Err(ModuleError::failed_with(
                "Running reboot with local connection would reboot the control node.",
                result,
            ));
        }
        // Nothing is read while planning: check mode reports the reboot, as Ansible's does.
        Ok(Plan::Unchanged {
            result: rebooted(0),
        }
        .with_change(vec!["reboot".into()], Vec::new(), self.clone()))
    }
}

impl Reboot {
    /// Runs a shell line (the playbook's own commands are lines as Ansible runs them) with
    /// the task's become, without its `environment:` (as Ansible's low-level commands), within
    /// one attempt's time.
    async fn run_line(
        &self,
        ctx: &ModuleContext<'_>,
        line: &str,
    ) -> Result<CommandOutput, ModuleError> {
        let command = RemoteCommand::new(sh!("exec /bin/sh -c {}", line).as_str())
            .with_become(ctx.become_.cloned())
            .with_timeout(Some(self.attempt_timeout));
        Ok(ctx.conn.exec(&command, Stdin::Null).await?)
    }

    /// The host's boot id now (`boot_time_command`'s output).
    async fn boot_id(&self, ctx: &ModuleContext<'_>) -> Result<String, ModuleError> {
        let out = self.run_line(ctx, &self.boot_time_command).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "reboot: failed to get host boot time info, rc: {}, stdout: {}, stderr: {}",
                out.status,
                out.stdout_text(),
                out.stderr_text()
            )));
        }
        Ok(out.stdout_text().trim().to_owned())
    }

    /// The shutdown program's path: as given when absolute, else the first of `search_paths`
    /// that holds it.
    async fn program_path(&self, ctx: &ModuleContext<'_>) -> Result<String, ModuleError> {
        if self.program.starts_with('/') {
            return Ok(self.program.clone());
        }
        let mut find = Script::default();
        for dir in &self.search_paths {
            let path = format!("{}/{}", dir.trim_end_matches('/'), self.program);
            find = find.then(&sh!(
                "if [ -e {} ] || [ -L {} ]; then echo {}; exit 0; fi\n",
                path,
                path,
                path
            ));
        }
        let out = self.run_line(ctx, find.as_str()).await?;
        match out.stdout_text().lines().next() {
            Some(p) if out.success() => Ok(p.to_owned()),
            _ => Err(ModuleError::failed(format!(
                "Unable to find command \"{}\" in search paths: {}",
                self.program,
                python_list(&self.search_paths)
            ))),
        }
    }

    /// Runs the shutdown command; a connection lost while it runs counts as success.
    async fn shut_down(&self, ctx: &ModuleContext<'_>) -> Result<(), ModuleError> {
        let line = format!("{} {}", self.program_path(ctx).await?, self.arguments);
        match self.run_line(ctx, &line).await {
            Ok(out) if !out.success() => {
                let mut result = Map::new();
                result.insert("rebooted".into(), json!(false));
                Err(ModuleError::failed_with(
                    format!(
                        "Reboot command failed. Error was: '{}, {}'",
                        out.stdout_text().trim(),
                        out.stderr_text().trim()
                    ),
                    result,
                ))
            }
            Ok(_) | Err(ModuleError::Transport(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Repeats `attempt` until it succeeds or `reboot_timeout` has passed since the first
    /// try, reopening the connection after each failure.
    async fn until_success<'c, F, Fut>(
        &self,
        ctx: &ModuleContext<'c>,
        what: &str,
        mut attempt: F,
    ) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + self.reboot_timeout;
        let mut wait = Duration::from_secs(1);
        while Instant::now() < deadline {
            if attempt().await.is_ok() {
                return Ok(());
            }
            ctx.conn.reset().await;
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
        }
        Err(format!(
            "Timed out waiting for {what} (timeout={})",
            self.reboot_timeout.as_secs()
        ))
    }

    /// Waits until the boot id differs from `before`, then until `test_command` succeeds.
    async fn wait_for_boot(&self, ctx: &ModuleContext<'_>, before: &str) -> Result<(), String> {
        self.until_success(ctx, "last boot time check", || async {
            match self.boot_id(ctx).await {
                Ok(now) if !now.is_empty() && now != before => Ok(()),
                Ok(_) => Err("boot time has not changed".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        self.until_success(ctx, "post-reboot test command", || async {
            match self.run_line(ctx, &self.test_command).await {
                Ok(out) if out.success() => Ok(()),
                Ok(out) => Err(format!(
                    "Test command failed: {} {}",
                    out.stderr_text(),
                    out.stdout_text()
                )),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
    }
}

#[async_trait]
impl Action for Reboot {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let before = self.boot_id(ctx).await?;
        self.shut_down(ctx).await?;
        let start = Instant::now();
        tokio::time::sleep(self.post_reboot_delay).await;
        match self.wait_for_boot(ctx, &before).await {
            Ok(()) => Ok(Outcome {
                result: rebooted(start.elapsed().as_secs()),
            }),
            Err(msg) => Err(ModuleError::failed_with(
                msg,
                rebooted(start.elapsed().as_secs()),
            )),
        }
    }
}

/// A list of strings as Python prints it (`['/sbin', '/bin']`), for Ansible's messages.
fn python_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ansibles() {
        let r = parse(json!({})).unwrap();
        assert_eq!(r.program, "shutdown");
        assert_eq!(r.arguments, "-r 0 'Reboot initiated by Ansible'");
        assert_eq!(r.search_paths, SEARCH_PATHS);
        assert_eq!(r.boot_time_command, "cat /proc/sys/kernel/random/boot_id");
        assert_eq!(r.test_command, "whoami");
        assert_eq!(r.reboot_timeout, Duration::from_secs(600));
        assert_eq!(r.post_reboot_delay, Duration::ZERO);
    }

    #[test]
    fn delays_messages_and_commands() {
        let r = parse(json!({"pre_reboot_delay": 150, "msg": "it's time", "post_reboot_delay_sec": -3}))
            .unwrap();
        assert_eq!(r.arguments, "-r 2 'it'\\''s time'");
        assert_eq!(r.post_reboot_delay, Duration::ZERO);
        let r = parse(json!({"reboot_command": "systemctl reboot --force", "search_paths": "/a,/b"}))
            .unwrap();
        assert_eq!((r.program.as_str(), r.arguments.as_str()), ("systemctl", "reboot --force"));
        assert_eq!(r.search_paths, ["/a", "/b"]);
        assert!(parse(json!({"reboot_timeout": "x"})).is_err());
        assert!(parse(json!({"force": true})).is_err());
    }

    #[test]
    fn search_paths_print_as_python_lists() {
        assert_eq!(python_list(&["/sbin".into(), "/bin".into()]), "['/sbin', '/bin']");
    }
}
