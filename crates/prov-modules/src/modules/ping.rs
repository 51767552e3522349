//! `ping`: checks that a command runs on the host through the connection; returns
//! `ping: pong` (or `data`). `data: crash` fails, as Ansible's module does on purpose.
//!
//! ```yaml
//! ping:
//! ping: { data: hello }
//! ```
//!
//! Unlike Ansible's it needs no Python on the host: one `echo` round trip. Changes nothing; the
//! probe runs in check mode too (Ansible's ping supports check mode).

use async_trait::async_trait;
use prov_core::{Module, ModuleContext, ModuleError, Plan, sh};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("ping", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    data: Option<String>,
}

struct Ping {
    data: String,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = crate::parse_args(args)?;
    Ok(Box::new(Ping {
        data: a.data.unwrap_or_else(|| "pong".into()),
    }))
}

#[async_trait]
impl Module for Ping {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        // The data makes the round trip, so a host that answers is a host that runs commands.
        let out = ctx.run_ok(&sh!("printf %s {}", self.data.as_str())).await?;
        if out.stdout != self.data.as_bytes() {
            return Err(ModuleError::failed(format!(
                "ping: the host answered `{}` instead of `{}`",
                out.stdout_text(),
                self.data
            )));
        }
        if self.data == "crash" {
            let mut r = Map::new();
            r.insert("exception".into(), json!("Exception: boom"));
            return Err(ModuleError::failed_with(
                "MODULE FAILURE: Exception: boom",
                r,
            ));
        }
        Ok(Plan::unchanged().with_result("ping", json!(self.data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        assert!(build(json!({})).is_ok());
        assert!(build(json!({"data": "x"})).is_ok());
        assert!(build(json!({"bogus": 1})).is_err());
    }
}
