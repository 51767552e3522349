//! `package`: the generic package module; the backend comes from `facts.pkg_mgr` (or `use:`),
//! or is probed on the host when the facts do not name one. See [`crate::pkg_backend`].
//!
//! As in Ansible, arguments beyond the generic ones belong to the package manager's own
//! module: on an apt host they go to `apt` (`install_recommends`, `cache_valid_time`...).
//! Arguments of other managers' modules (`enablerepo` for yum/dnf...) are refused when the
//! task runs on a host whose manager prov does not have, so that a role's task for another
//! OS family, skipped by its `when`, does not stop the role from loading.

use async_trait::async_trait;
use prov_core::{Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::args::{StringList, de_bool};
use crate::parse_args;
use crate::pkg_backend::{BackendChoice, PkgModule, PkgRequest, PkgState};

/// Arguments of other package managers' modules (yum, dnf, zypper, pacman, apk) that
/// `package` passes on to them in Ansible.
const OTHER_MANAGERS_ARGS: &[&str] = &[
    "enablerepo",
    "disablerepo",
    "exclude",
    "disable_gpg_check",
    "disable_excludes",
    "installroot",
    "releasever",
    "security",
    "bugfix",
    "skip_broken",
    "update_only",
    "allow_downgrade",
    "install_weak_deps",
    "conf_file",
    "download_only",
    "validate_certs",
    "allowerasing",
    "nobest",
    "extra_args",
];

/// The `package` module's generic arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageArgs {
    /// Package names, optionally `name=version`.
    #[serde(alias = "pkg")]
    pub name: StringList,
    /// present/installed, absent/removed, latest.
    #[serde(default)]
    pub state: Option<String>,
    /// The package manager to use (`auto` = from the facts).
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// Refresh the package index first.
    #[serde(default, deserialize_with = "de_bool")]
    pub update_cache: bool,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("package", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    const GENERIC: &[&str] = &["name", "pkg", "state", "use", "update_cache"];
    if let Value::Object(all) = &args {
        let backend_args: Vec<String> = all
            .keys()
            .filter(|k| !GENERIC.contains(&k.as_str()))
            .cloned()
            .collect();
        if !backend_args.is_empty() {
            return backend_specific(all, backend_args);
        }
    }
    let a: PackageArgs = parse_args(args)?;
    let state = PkgState::parse(a.state.as_deref().unwrap_or("present"))?;
    if a.name.0.is_empty() {
        return Err(ModuleError::args("`name` is empty"));
    }
    let mut req = PkgRequest::new(a.name.0, state);
    req.update_cache = a.update_cache;
    req.validate()?;
    Ok(Box::new(PkgModule {
        backend: BackendChoice::FromFacts(a.use_),
        req,
    }))
}

/// `package` with arguments of a manager's own module: `apt`'s are checked now and used on apt
/// hosts; other managers' are refused on the hosts the task runs on.
fn backend_specific(
    all: &Map<String, Value>,
    backend_args: Vec<String>,
) -> Result<Box<dyn Module>, ModuleError> {
    let mut apt_args = all.clone();
    apt_args.remove("use");
    if let Ok(apt) = super::apt::build(Value::Object(apt_args)) {
        return Ok(apt);
    }
    let foreign: Vec<String> = backend_args
        .iter()
        .filter(|k| OTHER_MANAGERS_ARGS.contains(&k.as_str()))
        .cloned()
        .collect();
    if foreign.len() < backend_args.len() {
        let unknown: Vec<&String> = backend_args
            .iter()
            .filter(|k| !foreign.contains(k))
            .collect();
        return Err(ModuleError::arg(
            unknown[0],
            "unknown field: neither a generic argument (name, state, use, update_cache) nor one of a package manager's module",
        ));
    }
    Ok(Box::new(ForOtherManagers { args: foreign }))
}

/// A `package` task written for another package manager (its arguments name yum/dnf...
/// options): refused on the hosts it runs on, since prov's managers do not take them.
struct ForOtherManagers {
    args: Vec<String>,
}

#[async_trait]
impl Module for ForOtherManagers {
    async fn plan(&self, _ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        Err(ModuleError::args(format!(
            "`{}` is an argument of another package manager's module (yum, dnf...); prov's package managers (apt) do not take it",
            self.args.join("`, `")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args() {
        assert!(build(json!({"name": ["redis-server"], "state": "latest"})).is_ok());
        // apt's own arguments make it the apt module, as `package` does on apt hosts.
        assert!(build(json!({"name": "redis-server", "install_recommends": false})).is_ok());
        // Another manager's arguments load, and are refused only where the task runs.
        assert!(build(json!({"name": "fail2ban", "enablerepo": "epel"})).is_ok());
        assert!(build(json!({"name": "x", "no_such_argument": 1})).is_err());
        assert!(build(json!({"state": "present"})).is_err());
    }
}
