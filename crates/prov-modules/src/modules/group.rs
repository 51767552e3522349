//! `group`: local groups via `groupadd`/`groupmod`/`groupdel`, current state from `getent group`.
//!
//! ```yaml
//! group: { name: redis, system: yes, gid: 990 }
//! ```
//!
//! The worked example of the module contract (docs/modules.md): arguments → [`GroupFact`]
//! (probe and parser side by side) → the pure planner [`plan_group`] → a [`Plan`] whose action
//! runs a [`Script`] built from quoted values only.

use async_trait::async_trait;
use prov_core::{
    CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Plan, RunScript,
    Script, sh,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::user::valid_account_name;
use crate::args::{Presence, de_bool};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("group", build);

/// The `group` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupArgs {
    /// The group name.
    pub name: String,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
    /// The group id.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub gid: Option<u32>,
    /// Create a system group (only on creation).
    #[serde(default, deserialize_with = "de_bool")]
    pub system: bool,
}

/// A group as the host's group database (`getent group`) has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// The group id.
    pub gid: u32,
}

/// Reads one group: `None` when the host has no such group.
pub struct GroupFact<'a>(pub &'a str);

impl Fact for GroupFact<'_> {
    type Output = Option<GroupEntry>;

    fn name(&self) -> String {
        format!("group {}", self.0)
    }

    fn script(&self) -> Script {
        // getent exits 2 for "no such key": an answer, not a failure.
        sh!("getent group {}; rc=$?; [ $rc -eq 2 ] && exit 0; exit $rc", self.0)
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let text = out.stdout_text();
        let Some(line) = text.lines().next() else {
            return Ok(None);
        };
        // name:password:gid:members
        let gid = line
            .split(':')
            .nth(2)
            .and_then(|g| g.trim().parse().ok())
            .ok_or_else(|| self.error(format!("unexpected getent line `{line}`")))?;
        Ok(Some(GroupEntry { gid }))
    }
}

/// What the host should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    name: String,
    state: Presence,
    gid: Option<u32>,
    system: bool,
}

/// The one change a group can need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOp {
    /// `groupadd` (with `-r` for a system group, `-g` for a fixed gid).
    Add {
        /// The wanted gid, if any.
        gid: Option<u32>,
        /// A system group.
        system: bool,
    },
    /// `groupmod -g`.
    SetGid {
        /// The current gid.
        from: u32,
        /// The wanted gid.
        to: u32,
    },
    /// `groupdel`.
    Delete {
        /// The current gid.
        gid: u32,
    },
}

/// The planner: what to do to go from `current` to `want` (`None`: nothing).
pub fn plan_group(want: &Group, current: Option<&GroupEntry>) -> Option<GroupOp> {
    match (current, want.state) {
        (None, Presence::Absent) => None,
        (Some(c), Presence::Absent) => Some(GroupOp::Delete { gid: c.gid }),
        (None, Presence::Present) => Some(GroupOp::Add {
            gid: want.gid,
            system: want.system,
        }),
        (Some(c), Presence::Present) => match want.gid {
            Some(to) if to != c.gid => Some(GroupOp::SetGid { from: c.gid, to }),
            _ => None,
        },
    }
}

impl GroupOp {
    /// The command that makes the change.
    pub fn script(&self, name: &str) -> Script {
        match self {
            GroupOp::Add { gid, system } => {
                let mut s = Script::text("groupadd");
                if *system {
                    s = s.then_text(" -r");
                }
                if let Some(g) = gid {
                    s = s.then_text(" -g").arg(*g);
                }
                s.then_text(" --").arg(name)
            }
            GroupOp::SetGid { to, .. } => sh!("groupmod -g {} -- {}", *to, name),
            GroupOp::Delete { .. } => sh!("groupdel -- {}", name),
        }
    }

    /// One line for people.
    pub fn summary(&self, name: &str) -> String {
        match self {
            GroupOp::Add { .. } => format!("create group {name}"),
            GroupOp::SetGid { from, to } => format!("group {name}: gid {from} -> {to}"),
            GroupOp::Delete { .. } => format!("remove group {name}"),
        }
    }

    /// The before/after of the group's attributes.
    pub fn diff(&self, name: &str) -> Diff {
        let gid = |g: &u32| format!("gid: {g}\n");
        let (before, after) = match self {
            GroupOp::Add { gid: Some(g), .. } => (String::new(), gid(g)),
            GroupOp::Add { gid: None, .. } => (String::new(), "gid: (assigned)\n".into()),
            GroupOp::SetGid { from, to } => (gid(from), gid(to)),
            GroupOp::Delete { gid: g } => (gid(g), String::new()),
        };
        Diff::new(format!("group {name}"), before, after)
    }
}

#[async_trait]
impl Module for Group {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let current = ctx.fact(&GroupFact(&self.name)).await?;
        let mut plan = Plan::unchanged().with_result("name", json!(self.name));
        if let Some(c) = &current {
            plan = plan.with_result("gid", json!(c.gid));
        }
        let Some(op) = plan_group(self, current.as_ref()) else {
            let state = if current.is_some() { "present" } else { "absent" };
            return Ok(plan.with_result("state", json!(state)));
        };
        let (summary, diff) = (op.summary(&self.name), op.diff(&self.name));
        let action = RunScript(op.script(&self.name));
        Ok(plan.with_change(vec![summary], vec![diff], action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: GroupArgs = parse_args(args)?;
    if !valid_account_name(&a.name) {
        return Err(ModuleError::arg("name", "not a valid group name"));
    }
    Ok(Box::new(Group {
        name: a.name,
        state: a.state,
        gid: a.gid,
        system: a.system,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(status: i32, stdout: &str) -> CommandOutput {
        crate::server_util::testing::output(status, stdout, "boom")
    }

    #[test]
    fn the_fact_parses_getent_and_refuses_garbage() {
        let f = GroupFact("adm");
        assert_eq!(
            f.parse(&out(0, "adm:x:4:syslog,alice\n")),
            Ok(Some(GroupEntry { gid: 4 }))
        );
        assert_eq!(f.parse(&out(0, "")), Ok(None), "getent's exit 2 became 0");
        let err = f.parse(&out(0, "adm:x:four:\n")).unwrap_err();
        assert_eq!(err.fact, "group adm");
        assert!(f.parse(&out(1, "")).unwrap_err().detail.contains("boom"));
        assert_eq!(
            f.script().as_str(),
            "getent group adm; rc=$?; [ $rc -eq 2 ] && exit 0; exit $rc"
        );
    }

    fn want(state: Presence, gid: Option<u32>) -> Group {
        Group {
            name: "redis".into(),
            state,
            gid,
            system: true,
        }
    }

    #[test]
    fn the_planner_covers_every_case() {
        let at = |g| GroupEntry { gid: g };
        let p = Presence::Present;
        assert_eq!(plan_group(&want(Presence::Absent, None), None), None);
        assert_eq!(
            plan_group(&want(Presence::Absent, None), Some(&at(7))),
            Some(GroupOp::Delete { gid: 7 })
        );
        assert_eq!(
            plan_group(&want(p, Some(990)), None),
            Some(GroupOp::Add {
                gid: Some(990),
                system: true
            })
        );
        assert_eq!(
            plan_group(&want(p, Some(990)), Some(&at(7))),
            Some(GroupOp::SetGid { from: 7, to: 990 })
        );
        assert_eq!(plan_group(&want(p, Some(7)), Some(&at(7))), None);
        assert_eq!(plan_group(&want(p, None), Some(&at(7))), None);
    }

    #[test]
    fn scripts_quote_the_name() {
        let add = GroupOp::Add {
            gid: Some(990),
            system: true,
        };
        assert_eq!(add.script("redis").as_str(), "groupadd -r -g 990 -- redis");
        assert_eq!(
            GroupOp::Delete { gid: 1 }.script("a'b").as_str(),
            r"groupdel -- 'a'\''b'"
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "redis", "system": true, "gid": 990})).is_ok());
        assert!(build(json!({"name": "redis", "members": ["a"]})).is_err());
        assert!(build(json!({"name": "a b"})).is_err());
        assert!(build(json!({"name": "redis", "state": "gone"})).is_err());
    }
}
