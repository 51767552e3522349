//! `package`: the generic package module; the backend comes from `facts.pkg_mgr` (or `use:`),
//! or is probed on the host when the facts do not name one. See [`crate::pkg_backend`].

use prov_core::{Module, ModuleError};
use serde::Deserialize;
use serde_json::Value;

use crate::args::{StringList, de_bool};
use crate::parse_args;
use crate::pkg_backend::{BackendChoice, PkgModule, PkgRequest, PkgState};

/// The `package` module's arguments.
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

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: PackageArgs = parse_args("package", args)?;
    let state = PkgState::parse(a.state.as_deref().unwrap_or("present"))?;
    if a.name.0.is_empty() {
        return Err(ModuleError::Args("package: `name` is empty".into()));
    }
    let mut req = PkgRequest::new(a.name.0, state);
    req.update_cache = a.update_cache;
    req.validate()?;
    Ok(Box::new(PkgModule {
        backend: BackendChoice::FromFacts(a.use_),
        req,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args() {
        assert!(build(json!({"name": ["redis-server"], "state": "latest"})).is_ok());
        assert!(build(json!({"name": "redis-server", "install_recommends": false})).is_err());
        assert!(build(json!({"state": "present"})).is_err());
    }
}
