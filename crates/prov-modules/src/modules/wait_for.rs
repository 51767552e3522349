//! `wait_for`: wait, on the host, until a port opens/closes or a file appears/disappears (or
//! contains a pattern). Never changes anything.
//!
//! ```yaml
//! wait_for: { port: 7000, host: 127.0.0.1, timeout: 60 }
//! wait_for: { path: /var/log/redis/redis-server-7000.log, search_regex: "Ready to accept" }
//! ```
//!
//! The whole wait is one remote shell loop with its own deadline (`timeout`, default 300 s):
//! ports are probed with bash's `/dev/tcp` under coreutils `timeout`, so neither `nc` nor `ss`
//! is needed. `state: drained` is not supported.

use async_trait::async_trait;
use prov_core::{Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::parse_args;

/// The `wait_for` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForArgs {
    /// The host to connect to, as seen from the managed host (default 127.0.0.1).
    #[serde(default)]
    pub host: Option<String>,
    /// The TCP port.
    #[serde(default)]
    pub port: Option<u16>,
    /// A file path.
    #[serde(default)]
    pub path: Option<String>,
    /// started/present (default) or stopped/absent.
    #[serde(default)]
    pub state: Option<String>,
    /// An extended regex the file content or the port's first bytes must match.
    #[serde(default)]
    pub search_regex: Option<String>,
    /// Seconds before failing (default 300).
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub timeout: Option<u64>,
    /// Seconds to wait before the first check.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub delay: Option<u64>,
    /// Seconds between checks (default 1).
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub sleep: Option<u64>,
    /// Seconds one connection attempt may take (default 5).
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub connect_timeout: Option<u64>,
    /// The failure message on timeout.
    #[serde(default)]
    pub msg: Option<String>,
}

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitSpec {
    /// The target host.
    pub host: String,
    /// The port, if waiting on a port.
    pub port: Option<u16>,
    /// The path, if waiting on a file.
    pub path: Option<String>,
    /// Wait for presence (started/present) or absence (stopped/absent).
    pub present: bool,
    /// A pattern to match.
    pub search_regex: Option<String>,
    /// The deadline in seconds.
    pub timeout: u64,
    /// Initial delay.
    pub delay: u64,
    /// Pause between checks.
    pub sleep: u64,
    /// One connection attempt's limit.
    pub connect_timeout: u64,
    /// Failure message.
    pub msg: Option<String>,
}

/// Exit status of the loop when the deadline passed.
const TIMED_OUT: i32 = 3;

/// The remote loop (`scripts/wait_for.sh`): prints `elapsed=N` and exits 0 on success,
/// [`TIMED_OUT`] on timeout.
pub fn wait_script(w: &WaitSpec) -> Script {
    let kind = match (&w.port, &w.search_regex) {
        (Some(_), None) => "port",
        (Some(_), Some(_)) => "port_re",
        (None, None) => "file",
        (None, Some(_)) => "file_re",
    };
    let vars = sh!(
        "h={}; p={}; f={}; re={}; ct={}; kind={}; present={}; delay={}; timeout={}; pause={}",
        w.host,
        w.port.map(|p| p.to_string()).unwrap_or_default(),
        w.path.as_deref().unwrap_or(""),
        w.search_regex.as_deref().unwrap_or(""),
        w.connect_timeout,
        kind,
        u8::from(w.present),
        w.delay,
        w.timeout,
        w.sleep
    );
    vars.then(&Script::text(include_str!("scripts/wait_for.sh")))
}

/// The `elapsed=N` line of the loop's output.
fn elapsed(stdout: &str) -> Option<u64> {
    stdout.lines().find_map(|l| {
        l.strip_prefix("elapsed=")
            .and_then(|v| v.trim().parse::<u64>().ok())
    })
}

/// The `wait_for` module.
#[derive(Debug)]
pub struct WaitFor {
    spec: WaitSpec,
}

#[async_trait]
impl Module for WaitFor {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let w = &self.spec;
        let out = ctx.run(&wait_script(w)).await?;
        if !matches!(out.status, 0 | TIMED_OUT) {
            crate::server_util::check_output("wait_for", &out)?;
        }
        let elapsed = elapsed(&out.stdout_text()).ok_or_else(|| {
            ModuleError::failed(format!(
                "wait_for: the wait loop printed no elapsed time: {}",
                out.stdout_text().trim()
            ))
        })?;
        let what = match (&w.port, &w.path) {
            (Some(p), _) => format!("{}:{p}", w.host),
            (None, Some(f)) => f.clone(),
            (None, None) => String::new(),
        };
        let mut plan = Plan::unchanged()
            .with_result("elapsed", json!(elapsed))
            .with_result(
                "state",
                json!(if w.present { "started" } else { "stopped" }),
            );
        if let Some(p) = w.port {
            plan = plan.with_result("port", json!(p));
        }
        if let Some(f) = &w.path {
            plan = plan.with_result("path", json!(f));
        }
        match out.status {
            0 => Ok(plan),
            TIMED_OUT => {
                let cond = match (w.present, &w.search_regex) {
                    (true, Some(r)) => format!("{what} to match /{r}/"),
                    (true, None) => format!(
                        "{what} to be {}",
                        if w.port.is_some() { "open" } else { "present" }
                    ),
                    (false, Some(r)) => format!("{what} to stop matching /{r}/"),
                    (false, None) => format!(
                        "{what} to be {}",
                        if w.port.is_some() { "closed" } else { "absent" }
                    ),
                };
                let msg = w
                    .msg
                    .clone()
                    .unwrap_or_else(|| format!("timeout after {elapsed}s waiting for {cond}"));
                Err(ModuleError::failed_with(msg, plan.into_result()))
            }
            _ => Ok(plan),
        }
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("wait_for", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: WaitForArgs = parse_args(args)?;
    let present = match a.state.as_deref() {
        None | Some("started" | "present") => true,
        Some("stopped" | "absent") => false,
        Some("drained") => {
            return Err(ModuleError::args("state `drained` is not supported"));
        }
        Some(o) => {
            return Err(ModuleError::args(format!(
                "state `{o}` is not one of started, stopped, present, absent"
            )));
        }
    };
    if a.port.is_some() && a.path.is_some() {
        return Err(ModuleError::args("port and path are mutually exclusive"));
    }
    if a.port.is_none() && a.path.is_none() {
        return Err(ModuleError::args("one of port or path is required"));
    }
    let host = a.host.unwrap_or_else(|| "127.0.0.1".into());
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:_[]".contains(c))
    {
        return Err(ModuleError::args(format!(
            "`{host}` is not a host name or address"
        )));
    }
    Ok(Box::new(WaitFor {
        spec: WaitSpec {
            host,
            port: a.port,
            path: a.path,
            present,
            search_regex: a.search_regex.filter(|r| !r.is_empty()),
            timeout: a.timeout.unwrap_or(300),
            delay: a.delay.unwrap_or(0),
            sleep: a.sleep.unwrap_or(1).max(1),
            connect_timeout: a.connect_timeout.unwrap_or(5).max(1),
            msg: a.msg,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(port: Option<u16>, path: Option<&str>, present: bool, re: Option<&str>) -> WaitSpec {
        WaitSpec {
            host: "127.0.0.1".into(),
            port,
            path: path.map(str::to_owned),
            present,
            search_regex: re.map(str::to_owned),
            timeout: 2,
            delay: 0,
            sleep: 1,
            connect_timeout: 1,
            msg: None,
        }
    }

    fn run(w: &WaitSpec) -> (i32, String) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(wait_script(w).as_str())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[test]
    fn file_waits_run_in_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ready");
        let fs = f.to_str().unwrap();
        assert_eq!(
            run(&spec(None, Some(fs), false, None)).0,
            0,
            "absent file: done at once"
        );
        std::fs::write(&f, "booting\nReady to accept connections\n").unwrap();
        let (rc, out) = run(&spec(None, Some(fs), true, None));
        assert_eq!((rc, out.trim()), (0, "elapsed=0"));
        assert_eq!(
            run(&spec(None, Some(fs), true, Some("Ready to (accept|serve)"))).0,
            0
        );
        assert_eq!(
            run(&spec(None, Some(fs), true, Some("never printed"))).0,
            TIMED_OUT
        );
        assert_eq!(run(&spec(None, Some(fs), false, None)).0, TIMED_OUT);
    }

    #[test]
    fn port_waits_run_in_a_real_shell() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(run(&spec(Some(port), None, true, None)).0, 0);
        assert_eq!(run(&spec(Some(port), None, false, None)).0, TIMED_OUT);
        drop(l);
        assert_eq!(run(&spec(Some(port), None, false, None)).0, 0);
    }

    #[test]
    fn args() {
        assert!(build(json!({"port": 7000, "timeout": 30})).is_ok());
        assert!(build(json!({"port": 7000, "state": "drained"})).is_err());
        assert!(build(json!({"port": 7000, "path": "/x"})).is_err());
        assert!(build(json!({"timeout": 3})).is_err());
        assert!(build(json!({"port": 7000, "host": "a b"})).is_err());
        assert!(build(json!({"port": 7000, "exclude_hosts": []})).is_err());
    }
}
