//! `sysctl`: a kernel parameter, both live and persisted in a sysctl file.
//!
//! ```yaml
//! sysctl: { name: vm.overcommit_memory, value: "1" }   # sysctl_file: /etc/sysctl.conf
//! ```
//!
//! The plan reads the live value and the file in one command. The file gets one `name=value`
//! line (an existing line for the key is replaced, duplicates removed); the live value is set
//! with `sysctl -w` when it differs and `reload` (default yes) or `sysctl_set` is on. Values are
//! compared with whitespace normalized (`32768 60999` equals `32768\t60999`). A `sysctl_file`
//! that is a symbolic link is written through: its target (`readlink -f`) gets the edit and
//! the link stays.

use async_trait::async_trait;
use prov_core::transfer::FileAttrs;
use prov_core::{
    Action, Diff, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Presence, de_bool, yes};
use crate::parse_args;
use crate::server_util::{self, LinkTarget, Section, Sectioned, SectionedFact, Sections};

/// Where the setting is persisted without `sysctl_file`: Ansible's default.
const DEFAULT_FILE: &str = "/etc/sysctl.conf";

/// The `sysctl` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlArgs {
    /// The key (`net.core.somaxconn`).
    #[serde(alias = "key")]
    pub name: String,
    /// The value (string or number).
    #[serde(default, alias = "val")]
    pub value: Option<Value>,
    /// present (default) or absent (removes the line; the live value stays).
    #[serde(default)]
    pub state: Presence,
    /// The file the setting is persisted in.
    #[serde(default)]
    pub sysctl_file: Option<String>,
    /// Apply the value to the running kernel (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub reload: bool,
    /// Also set the live value when the file is already right (implied by `reload`).
    #[serde(default, deserialize_with = "de_bool")]
    pub sysctl_set: bool,
    /// Ignore errors about unknown keys.
    #[serde(default, deserialize_with = "de_bool")]
    pub ignoreerrors: bool,
}

/// Collapses whitespace for value comparison.
pub fn norm_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn norm_key(k: &str) -> String {
    k.trim().trim_start_matches('-').replace('/', ".")
}

/// The key and value of a sysctl.d line, if it sets one.
pub fn parse_line(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    Some((norm_key(k), norm_value(v)))
}

/// The file content after setting (`Some(value)`) or removing (`None`) `name`.
pub fn edit_file(content: &str, name: &str, value: Option<&str>) -> String {
    let key = norm_key(name);
    let mut out = String::new();
    let mut done = false;
    for line in content.lines() {
        match parse_line(line) {
            Some((k, v)) if k == key => {
                if let (Some(want), false) = (value, done) {
                    if v == norm_value(want) {
                        out.push_str(line);
                    } else {
                        out.push_str(&format!("{name}={want}"));
                    }
                    out.push('\n');
                    done = true;
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if let (Some(want), false) = (value, done) {
        out.push_str(&format!("{name}={want}\n"));
    }
    out
}

/// The `sysctl` module.
#[derive(Debug)]
pub struct Sysctl {
    name: String,
    value: Option<String>,
    state: Presence,
    file: String,
    set_live: bool,
    ignoreerrors: bool,
}

/// The live value of a key and the file it is persisted in.
pub struct SysctlFact<'a> {
    /// The key.
    pub name: &'a str,
    /// The file the setting is persisted in.
    pub file: &'a str,
}

/// The [`SysctlFact`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlState {
    /// The live value, whitespace normalized, or `sysctl`'s error message.
    pub live: Result<String, String>,
    /// The file's content, if it exists.
    pub file: Option<String>,
    /// Where a write of the file goes.
    pub target: LinkTarget,
}

impl SectionedFact for SysctlFact<'_> {
    type Output = SysctlState;

    fn name(&self) -> String {
        format!("sysctl {}", self.name)
    }

    fn prelude(&self) -> Script {
        Script::text("PATH=$PATH:/usr/sbin:/sbin")
    }

    fn sections(&self) -> Vec<Section> {
        vec![
            Section::new("live", sh!("sysctl -n -- {} 2>&1; rc=$?", self.name)),
            Section::new("rc", Script::text("echo $rc")),
            Section::file("file", self.file),
            Section::link_target("target", self.file),
        ]
    }

    fn parse_sections(&self, s: &Sections) -> Result<SysctlState, FactError> {
        let text = s.get("live")?;
        let live = match s.get("rc")?.trim() {
            "0" => Ok(norm_value(text)),
            rc if rc.parse::<i32>().is_ok() => Err(text.trim().to_owned()),
            other => return Err(s.error(format!("`{other}` is not an exit status"))),
        };
        Ok(SysctlState {
            live,
            file: s.file("file")?,
            target: s.link("target")?,
        })
    }
}

/// The planner: the file edit and the live change that bring the host to `want`.
fn plan_sysctl(
    want: &Sysctl,
    st: &SysctlState,
) -> Result<(Vec<String>, Vec<Diff>, SysctlAction), ModuleError> {
    let name = &want.name;
    // A symlinked file (Debian's `99-sysctl.conf -> ../sysctl.conf`) is written through:
    // its target gets the edit and the link stays, as ansible.posix.sysctl's `realpath`.
    let target = st.target.write_path("sysctl", &want.file)?;
    let file = st.file.as_deref().unwrap_or("");
    let mut summary: Vec<String> = Vec::new();
    let mut diffs = Vec::new();
    let mut action = SysctlAction {
        file: None,
        set: None,
    };
    let value = match want.state {
        Presence::Present => Some(want.value.as_deref().unwrap_or("")),
        Presence::Absent if st.file.is_some() => None,
        Presence::Absent => return Ok((summary, diffs, action)),
    };
    if let (Some(_), Err(why)) = (value, &st.live)
        && !want.ignoreerrors
    {
        return Err(ModuleError::failed(format!(
            "sysctl: cannot read {name}: {why}"
        )));
    }
    let new = edit_file(file, name, value);
    if new != file || st.file.is_none() {
        summary.push(match value {
            Some(v) => format!("persist {name}={v} in {target}"),
            None => format!("remove {name} from {target}"),
        });
        diffs.push(Diff::new(target.clone(), file, new.clone()));
        action.file = Some((target, new));
    }
    if let (Some(want_v), Ok(l)) = (value, &st.live)
        && want.set_live
        && *l != norm_value(want_v)
    {
        summary.push(format!("set {name} {l} -> {want_v} (live)"));
        diffs.push(Diff::new(
            format!("sysctl {name}"),
            format!("{l}\n"),
            format!("{}\n", norm_value(want_v)),
        ));
        action.set = Some(format!("{name}={want_v}"));
    }
    Ok((summary, diffs, action))
}

#[async_trait]
impl Module for Sysctl {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = SysctlFact {
            name: &self.name,
            file: &self.file,
        };
        let st = ctx.fact(&Sectioned(fact)).await?;
        let mut plan = Plan::unchanged().with_result("name", json!(self.name));
        if let Ok(l) = &st.live {
            plan = plan.with_result("live_value", json!(l));
        }
        let (summary, diffs, action) = plan_sysctl(self, &st)?;
        Ok(plan.with_change(summary, diffs, action))
    }
}

struct SysctlAction {
    file: Option<(String, String)>,
    set: Option<String>,
}

#[async_trait]
impl Action for SysctlAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        if let Some((path, content)) = &self.file {
            let dir = std::path::Path::new(path)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            ctx.run_ok(&sh!("mkdir -p -- {}", dir)).await?;
            server_util::write_text(ctx, path, content, &FileAttrs::default()).await?;
        }
        if let Some(assign) = &self.set {
            let cmd = sh!("PATH=$PATH:/usr/sbin:/sbin; sysctl -q -w -- {}", assign);
            let out = ctx.run(&cmd).await?;
            server_util::check_output(&format!("sysctl -w {assign}"), &out)?;
        }
        Ok(Outcome::default())
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("sysctl", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: SysctlArgs = parse_args(args)?;
    let n = &a.name;
    if n.is_empty()
        || n.starts_with('-')
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    {
        return Err(ModuleError::args(format!("`{n}` is not a valid key")));
    }
    let present = a.state == Presence::Present;
    let value = match a.value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(if b { "1" } else { "0" }.to_owned()),
        Some(o) => {
            return Err(ModuleError::args(format!(
                "value must be a string or number, found {o}"
            )));
        }
    };
    if present && value.is_none() {
        return Err(ModuleError::args("`value` is required with state present"));
    }
    if value.as_deref().is_some_and(|v| v.contains('\n')) {
        return Err(ModuleError::args("value must be one line"));
    }
    let file = a
        .sysctl_file
        .unwrap_or_else(|| DEFAULT_FILE.into());
    if !file.starts_with('/') {
        return Err(ModuleError::args(format!(
            "sysctl_file `{file}` must be an absolute path"
        )));
    }
    Ok(Box::new(Sysctl {
        name: a.name,
        value,
        state: a.state,
        file,
        set_live: a.reload || a.sysctl_set,
        ignoreerrors: a.ignoreerrors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_edits_are_minimal() {
        let f = "# tuning\nnet.core.somaxconn = 1024\nvm.swappiness=10\nnet/core/somaxconn=2048\n";
        assert_eq!(
            edit_file(f, "net.core.somaxconn", Some("4096")),
            "# tuning\nnet.core.somaxconn=4096\nvm.swappiness=10\n"
        );
        assert_eq!(
            edit_file(f, "vm.swappiness", Some("10")),
            f,
            "already set: unchanged"
        );
        assert_eq!(
            edit_file("", "vm.overcommit_memory", Some("1")),
            "vm.overcommit_memory=1\n"
        );
        assert_eq!(
            edit_file(f, "net.core.somaxconn", None),
            "# tuning\nvm.swappiness=10\n"
        );
        let ranges = "net.ipv4.ip_local_port_range = 32768\t60999\n";
        assert_eq!(
            edit_file(ranges, "net.ipv4.ip_local_port_range", Some("32768 60999")),
            ranges
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "vm.overcommit_memory", "value": 1})).is_ok());
        assert!(build(json!({"name": "vm.overcommit_memory"})).is_err());
        assert!(build(json!({"name": "vm.x", "value": "1", "sysctl_file": "rel.conf"})).is_err());
        assert!(build(json!({"name": "vm.x", "value": "1", "bogus": 1})).is_err());
        assert!(build(json!({"name": "vm.x", "state": "absent"})).is_ok());
    }
}
