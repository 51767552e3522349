//! `wait_for_connection`: waits until a command runs on the host through its connection.
//!
//! ```yaml
//! wait_for_connection: { delay: 5, timeout: 300 }
//! ```
//!
//! After `delay` seconds, runs `true` on the host (each attempt limited to `connect_timeout`
//! seconds) every `sleep` seconds until one succeeds or `timeout` seconds have passed, then
//! reports `elapsed` (whole seconds). Never changes anything; skipped in check mode, as
//! Ansible's. Each attempt goes through the host's connection; after a failed one the
//! connection is reset (as Ansible's action resets it), so the next attempt opens a new one:
//! waiting for a host that reboots works.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use prov_core::{
    Action, CheckMode, Module, ModuleContext, ModuleError, Outcome, Plan, RemoteCommand, Stdin,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::de_opt_int;

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("wait_for_connection", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default, deserialize_with = "de_opt_int")]
    delay: Option<u64>,
    #[serde(default, deserialize_with = "de_opt_int")]
    sleep: Option<u64>,
    #[serde(default, deserialize_with = "de_opt_int")]
    timeout: Option<u64>,
    #[serde(default, deserialize_with = "de_opt_int")]
    connect_timeout: Option<u64>,
}

/// The wait, in seconds (Ansible's defaults: 0, 1, 600, 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wait {
    delay: u64,
    sleep: u64,
    timeout: u64,
    connect_timeout: u64,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = crate::parse_args(args)?;
    Ok(Box::new(Wait {
        delay: a.delay.unwrap_or(0),
        sleep: a.sleep.unwrap_or(1),
        timeout: a.timeout.unwrap_or(600),
        connect_timeout: a.connect_timeout.unwrap_or(5).max(1),
    }))
}

#[async_trait]
impl Action for Wait {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(self.delay)).await;
        let deadline = Instant::now() + Duration::from_secs(self.timeout);
        let probe = RemoteCommand::new("true")
            .with_timeout(Some(Duration::from_secs(self.connect_timeout)));
        let mut last = String::from("no attempt made");
        while Instant::now() < deadline {
            match ctx.conn.exec(&probe, Stdin::Null).await {
                Ok(out) if out.success() => {
                    let mut result = Map::new();
                    result.insert("elapsed".into(), json!(start.elapsed().as_secs()));
                    return Ok(Outcome { result });
                }
                Ok(out) => last = format!("`true` exited {}: {}", out.status, out.stderr_text()),
                Err(e) => last = e.to_string(),
            }
            ctx.conn.reset().await;
            tokio::time::sleep(Duration::from_secs(self.sleep)).await;
        }
        let mut result = Map::new();
        result.insert("elapsed".into(), json!(start.elapsed().as_secs()));
        Err(ModuleError::failed_with(
            format!("timed out waiting for ping module test: {last}"),
            result,
        ))
    }
}

#[async_trait]
impl Module for Wait {
    async fn plan(&self, _ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        // Nothing is read while planning: the host may well be unreachable now.
        Ok(Plan::refresh(
            format!("wait up to {} s for the connection", self.timeout),
            *self,
        ))
    }

    /// Ansible's action skips in check mode.
    fn check_mode(&self) -> CheckMode {
        CheckMode::Unpredictable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_defaults() {
        assert!(build(json!({"delay": "2", "timeout": 30})).is_ok());
        assert!(build(json!({"port": 22})).is_err());
        let a: Args = crate::parse_args(json!({})).unwrap();
        assert_eq!((a.delay, a.sleep, a.timeout), (None, None, None));
    }
}
