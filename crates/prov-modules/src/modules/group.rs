//! `group`: local groups via `groupadd`/`groupmod`/`groupdel`, current state from `getent group`.
//!
//! ```yaml
//! group: { name: redis, system: yes, gid: 990 }
//! ```

use async_trait::async_trait;
use prov_core::Script;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, quote};
use serde::Deserialize;
use serde_json::{Value, json};

use super::user::{RunAction, valid_account_name};
use crate::args::de_bool;
use crate::parse_args;

/// The `group` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupArgs {
    /// The group name.
    pub name: String,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Option<String>,
    /// The group id.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub gid: Option<u32>,
    /// Create a system group (only on creation).
    #[serde(default, deserialize_with = "de_bool")]
    pub system: bool,
}

/// Parses `getent group NAME` output into its gid.
pub fn parse_getent_group(text: &str) -> Option<u32> {
    let line = text.lines().next()?;
    line.split(':').nth(2)?.trim().parse().ok()
}

/// The `group` module.
#[derive(Debug)]
pub struct Group {
    name: String,
    present: bool,
    gid: Option<u32>,
    system: bool,
}

#[async_trait]
impl Module for Group {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let n = quote(&self.name);
        let out = ctx
            .run(&Script::__legacy(format!("getent group {n}; true")))
            .await?;
        let cur = parse_getent_group(&out.stdout_text());
        let name = &self.name;
        let label = format!("group {name}");
        let mut plan = Plan::unchanged().with_result("name", json!(name));
        if let Some(g) = cur {
            plan = plan.with_result("gid", json!(g));
        }
        let (command, summary, diff) = match (cur, self.present) {
            (None, false) => return Ok(plan.with_result("state", json!("absent"))),
            (Some(g), false) => (
                format!("groupdel -- {n}"),
                format!("remove group {name}"),
                Diff::new(label, format!("gid: {g}\n"), ""),
            ),
            (None, true) => {
                let mut c = String::from("groupadd");
                if self.system {
                    c.push_str(" -r");
                }
                if let Some(g) = self.gid {
                    c.push_str(&format!(" -g {g}"));
                }
                c.push_str(&format!(" -- {n}"));
                let after = self
                    .gid
                    .map(|g| format!("gid: {g}\n"))
                    .unwrap_or_else(|| "gid: (assigned)\n".into());
                (
                    c,
                    format!("create group {name}"),
                    Diff::new(label, "", after),
                )
            }
            (Some(g), true) => match self.gid {
                Some(want) if want != g => (
                    format!("groupmod -g {want} -- {n}"),
                    format!("group {name}: gid {g} -> {want}"),
                    Diff::new(label, format!("gid: {g}\n"), format!("gid: {want}\n")),
                ),
                _ => return Ok(plan.with_result("state", json!("present"))),
            },
        };
        Ok(plan.with_change(vec![summary], vec![diff], RunAction { command }))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: GroupArgs = parse_args(args)?;
    if !valid_account_name(&a.name) {
        return Err(ModuleError::args(format!(
            "`{}` is not a valid group name",
            a.name
        )));
    }
    let present = match a.state.as_deref() {
        None | Some("present") => true,
        Some("absent") => false,
        Some(o) => {
            return Err(ModuleError::args(format!(
                "state `{o}` is not present or absent"
            )));
        }
    };
    Ok(Box::new(Group {
        name: a.name,
        present,
        gid: a.gid,
        system: a.system,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getent_parses() {
        assert_eq!(parse_getent_group("redis:x:110:\n"), Some(110));
        assert_eq!(parse_getent_group("adm:x:4:syslog,alice\n"), Some(4));
        assert_eq!(parse_getent_group(""), None);
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "redis", "system": true, "gid": 990})).is_ok());
        assert!(build(json!({"name": "redis", "members": ["a"]})).is_err());
        assert!(build(json!({"name": "a b"})).is_err());
    }
}
