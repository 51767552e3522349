//! `hostname`: the host's name, as Ansible's module sets it on Linux.
//!
//! ```yaml
//! hostname: { name: web1 }
//! ```
//!
//! Strategies, as in ansible-core 2.19: `use: systemd` and `use: debian` (Ansible maps
//! `debian` to its systemd strategy) read `hostnamectl --static status` and `--transient
//! status`, and set the static (and pretty) name first with `hostnamectl --pretty --static
//! set-hostname`, then the transient one; names longer than 64 characters fail. Without `use`,
//! a host managed by systemd (`systemctl` present and `/run/systemd/system/`) gets the systemd
//! strategy; a Debian-family host without systemd gets Ansible's file strategy: only
//! `/etc/hostname` is written (the running name is not changed, as in Ansible). Other `use`
//! values are refused.
//!
//! Returns `name` and `ansible_facts` (`ansible_hostname`, `ansible_nodename`, `ansible_fqdn`,
//! `ansible_domain`). The fqdn is Python's `socket.getfqdn()` of the name the real run leaves
//! (resolved through `getent`), in check mode too, where Ansible gives the current name's.

use async_trait::async_trait;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, RunScript, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::textfiles::{FileWrite, Probe, TextFiles, TextFilesFact, WriteFiles, py_split, py_strip};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("hostname", build).returns_facts(&[
    "ansible_hostname",
    "ansible_nodename",
    "ansible_fqdn",
    "ansible_domain",
]);

const FILE: &str = "/etc/hostname";

/// The `hostname` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostnameArgs {
    /// The name.
    pub name: String,
    /// The strategy (`systemd`, `debian`).
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
}

/// How the name is read and set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// hostnamectl.
    Systemd,
    /// `/etc/hostname` only.
    File,
}

/// The names the host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The running (transient) name.
    pub current: String,
    /// The permanent (static) name.
    pub permanent: String,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostnameOp {
    /// `hostnamectl --pretty --static set-hostname`.
    SetStatic,
    /// `hostnamectl --transient set-hostname`.
    SetTransient,
    /// Write `/etc/hostname`.
    WriteFile,
}

/// The planner, in Ansible's order (systemd: the permanent name first).
pub fn plan_hostname(strategy: Strategy, names: &Names, want: &str) -> Vec<HostnameOp> {
    match strategy {
        Strategy::Systemd => {
            let mut ops = Vec::new();
            if names.permanent != want {
                ops.push(HostnameOp::SetStatic);
            }
            if names.current != want {
                ops.push(HostnameOp::SetTransient);
            }
            ops
        }
        Strategy::File if names.permanent != want => vec![HostnameOp::WriteFile],
        Strategy::File => Vec::new(),
    }
}

/// Python's `socket.getfqdn()` from `getent hosts ADDRESS` of the name's first address: the
/// first of the canonical name and aliases that holds a dot, else the canonical name; the name
/// itself when it does not resolve.
pub fn getfqdn(name: &str, reverse: &str) -> String {
    let line = py_split(reverse.lines().next().unwrap_or(""));
    let names = line.get(1..).unwrap_or(&[]);
    match names.iter().find(|n| n.contains('.')) {
        Some(n) => (*n).to_owned(),
        None => names.first().map_or(name, |n| n).to_owned(),
    }
}

/// The `hostname` module.
#[derive(Debug)]
pub struct Hostname {
    name: String,
    strategy: Option<Strategy>,
}

fn reverse(name: &Script) -> Script {
    sh!(
        "a=$(getent ahosts {} | awk 'NR==1{{print $1}}') && [ -n \"$a\" ] && getent hosts \"$a\"",
        name
    )
}

fn probes(name: &str) -> Vec<Probe> {
    let cmd = |name: &str, script: Script| Probe::Command {
        name: name.into(),
        script,
    };
    vec![
        cmd(
            "systemd",
            Script::text(
                "command -v systemctl >/dev/null && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ]; }",
            ),
        ),
        cmd("static", Script::text("hostnamectl --static status")),
        cmd("transient", Script::text("hostnamectl --transient status")),
        cmd("reverse_new", reverse(&sh!("{}", name))),
        cmd("reverse_uname", reverse(&Script::text("\"$(uname -n)\""))),
        cmd("uname", Script::text("uname -n")),
        Probe::File(FILE.into()),
    ]
}

impl Hostname {
    fn names(&self, strategy: Strategy, found: &TextFiles) -> Result<Names, ModuleError> {
        if strategy == Strategy::File {
            let permanent = found.file(FILE).map_or("", |f| py_strip(&f.content));
            return Ok(Names {
                current: permanent.to_owned(),
                permanent: permanent.to_owned(),
            });
        }
        let read = |what: &str| -> Result<String, ModuleError> {
            match found.command(what) {
                Some(c) if c.status == 0 => Ok(py_strip(&c.stdout).to_owned()),
                Some(c) if c.status == 127 => Err(ModuleError::failed(
                    "Failed to find required executable \"hostnamectl\"",
                )),
                Some(c) => Err(ModuleError::failed(format!(
                    "Command failed rc={}, out={}, err=(hostnamectl --{what} status)",
                    c.status, c.stdout
                ))),
                None => Err(ModuleError::failed(format!("no answer for hostnamectl --{what}"))),
            }
        };
        Ok(Names {
            permanent: read("static")?,
            current: read("transient")?,
        })
    }

    fn facts(&self, reverse: &str, fqdn_of: &str) -> Value {
        let fqdn = getfqdn(fqdn_of, reverse);
        let domain = fqdn.split('.').skip(1).collect::<Vec<_>>().join(".");
        json!({
            "ansible_hostname": self.name.split('.').next().unwrap_or(""),
            "ansible_nodename": self.name,
            "ansible_fqdn": fqdn,
            "ansible_domain": domain,
        })
    }
}

#[async_trait]
impl Module for Hostname {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let found = ctx
            .fact(&TextFilesFact::new("hostname", probes(&self.name)))
            .await?;
        let systemd = found.command("systemd").is_some_and(|c| c.status == 0);
        let strategy = match self.strategy {
            Some(s) => s,
            None if systemd => Strategy::Systemd,
            None if ctx.facts["os_family"] == "Debian" => Strategy::File,
            None => {
                return Err(ModuleError::failed(format!(
                    "hostname module cannot be used on platform Linux ({})",
                    ctx.facts["distribution"].as_str().unwrap_or("unknown")
                )));
            }
        };
        let names = self.names(strategy, &found)?;
        // The fqdn Ansible reports is the one of the running name after the change: the new
        // name with systemd, the unchanged kernel name with the file strategy.
        let (reverse, fqdn_of) = match strategy {
            Strategy::File => ("reverse_uname", found.command("uname").map_or("", |c| py_strip(&c.stdout))),
            Strategy::Systemd => ("reverse_new", self.name.as_str()),
        };
        let reverse = found.command(reverse).map_or("", |c| c.stdout.as_str());
        let plan = Plan::unchanged()
            .with_result("name", json!(self.name))
            .with_result("ansible_facts", self.facts(reverse, fqdn_of));
        let ops = plan_hostname(strategy, &names, &self.name);
        if ops.is_empty() {
            return Ok(plan);
        }
        if strategy == Strategy::Systemd && self.name.chars().count() > 64 {
            return Err(ModuleError::failed(
                "name cannot be longer than 64 characters on systemd servers, try a shorter name",
            ));
        }
        let before = if self.name != names.current { &names.current } else { &names.permanent };
        let diff = Diff::new(
            "hostname",
            format!("hostname = {before}\n"),
            format!("hostname = {}\n", self.name),
        );
        let summary = ops.iter().map(|op| self.summary(op, &names)).collect();
        let plan = if ops == [HostnameOp::WriteFile] {
            plan.with_change(summary, vec![diff], WriteFiles {
                writes: vec![FileWrite::write(FILE, format!("{}\n", self.name))],
                ..WriteFiles::default()
            })
        } else {
            let script = Script::lines(ops.iter().map(|op| match op {
                HostnameOp::SetStatic => {
                    sh!("hostnamectl --pretty --static set-hostname {}", self.name)
                }
                _ => sh!("hostnamectl --transient set-hostname {}", self.name),
            }).collect::<Vec<_>>().iter());
            plan.with_change(summary, vec![diff], RunScript(sh!("set -e\n{}", script)))
        };
        Ok(plan)
    }
}

impl Hostname {
    fn summary(&self, op: &HostnameOp, names: &Names) -> String {
        let n = &self.name;
        match op {
            HostnameOp::SetStatic => format!("static hostname {} -> {n}", names.permanent),
            HostnameOp::SetTransient => format!("transient hostname {} -> {n}", names.current),
            HostnameOp::WriteFile => format!("{FILE}: {} -> {n}", names.permanent),
        }
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: HostnameArgs = parse_args(args)?;
    let strategy = match a.use_.as_deref() {
        None => None,
        Some("systemd" | "debian") => Some(Strategy::Systemd),
        Some(
            other @ ("alpine" | "freebsd" | "generic" | "macos" | "macosx" | "darwin" | "openbsd"
            | "openrc" | "redhat" | "sles" | "solaris"),
        ) => {
            return Err(ModuleError::arg(
                "use",
                format!("the {other} strategy is not implemented (systemd and debian are)"),
            ));
        }
        Some(other) => {
            return Err(ModuleError::arg(
                "use",
                format!(
                    "value of use must be one of: alpine, debian, freebsd, generic, macos, macosx, darwin, openbsd, openrc, redhat, sles, solaris, systemd, got: {other}"
                ),
            ));
        }
    };
    if a.name.is_empty() || a.name.contains(['\n', '\r']) {
        return Err(ModuleError::arg("name", "one non-empty line"));
    }
    Ok(Box::new(Hostname {
        name: a.name,
        strategy,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn names(current: &str, permanent: &str) -> Names {
        Names {
            current: current.into(),
            permanent: permanent.into(),
        }
    }

    #[test]
    fn the_planner_follows_ansibles_order() {
        use HostnameOp::*;
        let s = Strategy::Systemd;
        assert_eq!(plan_hostname(s, &names("a", "a"), "b"), [SetStatic, SetTransient]);
        assert_eq!(plan_hostname(s, &names("b", "a"), "b"), [SetStatic]);
        assert_eq!(plan_hostname(s, &names("a", "b"), "b"), [SetTransient]);
        assert!(plan_hostname(s, &names("b", "b"), "b").is_empty());
        assert_eq!(plan_hostname(Strategy::File, &names("a", "a"), "b"), [WriteFile]);
        assert!(plan_hostname(Strategy::File, &names("b", "b"), "b").is_empty());
    }

    #[test]
    fn getfqdn_as_python() {
        assert_eq!(getfqdn("web", "10.0.0.1 web.example.com web\n"), "web.example.com");
        assert_eq!(getfqdn("web", "10.0.0.1 web w.lan\n"), "w.lan");
        assert_eq!(getfqdn("web", "10.0.0.1 lab2\n"), "lab2");
        assert_eq!(getfqdn("web", ""), "web");
    }

    #[test]
    fn args() {
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"name": "a", "use": "redhat"})).as_deref(), Some("use"));
        assert_eq!(field(json!({"name": "a", "use": "nope"})).as_deref(), Some("use"));
        assert_eq!(field(json!({"name": "a", "use": "debian"})), None);
        assert_eq!(field(json!({"name": "a\nb"})).as_deref(), Some("name"));
    }
}
