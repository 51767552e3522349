//! `apt`: Debian/Ubuntu packages, with exact predictions from apt's own simulation.
//!
//! ```yaml
//! apt:
//!   name: [redis-server, redis-tools=5:7.0.15-1~deb12u4]
//!   state: present            # present/installed, absent/removed, latest
//!   update_cache: yes
//!   cache_valid_time: 3600
//!   install_recommends: no
//! ```
//!
//! The plan lists every package (dependencies included) and version that would be installed,
//! upgraded or removed, parsed from `apt-get -s` run with the same options as the real command.
//! A due cache update is done while planning in a real run, so the prediction uses the fresh
//! index. As in Ansible, it does not by itself make a task that names packages `changed`: with
//! no package to change the task is `ok` and its result says `cache_updated: true`, so
//! `update_cache: yes` without `cache_valid_time` stays idempotent. A task with only
//! `update_cache` is `changed` when the refresh is due. With `state: latest` a due refresh
//! counts as a change (check mode, which does not refresh, could not otherwise predict whether
//! the fresh index brings an upgrade): give such tasks a `cache_valid_time`. Installs are
//! non-interactive, keep changed configuration files (`--force-confold`) and wait for the
//! dpkg lock.

use std::sync::Arc;

use prov_core::{Module, ModuleError};
use serde::Deserialize;
use serde_json::Value;

use crate::args::{StringList, de_bool, de_opt_bool};
use crate::parse_args;
use crate::pkg_backend::{AptBackend, BackendChoice, PkgModule, PkgRequest, PkgState};

fn default_lock_timeout() -> u64 {
    120
}

/// The `apt` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptArgs {
    /// Package names, optionally `name=version`.
    #[serde(default, alias = "pkg", alias = "package")]
    pub name: Option<StringList>,
    /// present/installed, absent/removed, latest.
    #[serde(default)]
    pub state: Option<String>,
    /// Run `apt-get update` first (when older than `cache_valid_time`).
    #[serde(default, deserialize_with = "de_bool", alias = "update-cache")]
    pub update_cache: bool,
    /// Seconds the index stays valid.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub cache_valid_time: Option<u64>,
    /// Install recommended packages (apt's default when unset).
    #[serde(
        default,
        deserialize_with = "de_opt_bool",
        alias = "install-recommends"
    )]
    pub install_recommends: Option<bool>,
    /// Remove configuration files too.
    #[serde(default, deserialize_with = "de_bool")]
    pub purge: bool,
    /// Allow pinned versions to downgrade.
    #[serde(
        default,
        deserialize_with = "de_bool",
        alias = "allow_downgrades",
        alias = "allow-downgrades"
    )]
    pub allow_downgrade: bool,
    /// Preferred release (`-t`).
    #[serde(default)]
    pub default_release: Option<String>,
    /// Seconds to wait for the dpkg lock.
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: u64,
    /// Accepted for compatibility (prov always uses apt-get).
    #[serde(default, deserialize_with = "de_bool")]
    pub force_apt_get: bool,
}

/// Builds the request from `apt` arguments.
pub fn request(a: AptArgs) -> Result<PkgRequest, ModuleError> {
    let state = PkgState::parse(a.state.as_deref().unwrap_or("present"))?;
    let names = a.name.map(|n| n.0).unwrap_or_default();
    if names.is_empty() && !a.update_cache {
        return Err(ModuleError::args("`name` or `update_cache` is required"));
    }
    let req = PkgRequest {
        names,
        state,
        update_cache: a.update_cache,
        cache_valid_time: a.cache_valid_time,
        install_recommends: a.install_recommends,
        purge: a.purge,
        allow_downgrade: a.allow_downgrade,
        // Ansible treats an empty release as none (roles default it to "").
        default_release: a.default_release.filter(|r| !r.is_empty()),
        lock_timeout: a.lock_timeout,
    };
    req.validate()?;
    Ok(req)
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("apt", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: AptArgs = parse_args(args)?;
    Ok(Box::new(PkgModule {
        backend: BackendChoice::Fixed(Arc::new(AptBackend)),
        req: request(a)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_follow_ansible() {
        let a: AptArgs = parse_args(
            json!({"pkg": "redis-server,redis-tools", "state": "installed", "update_cache": "yes",
                   "cache_valid_time": 3600, "install_recommends": "no"}),
        )
        .unwrap();
        let r = request(a).unwrap();
        assert_eq!(r.names, ["redis-server", "redis-tools"]);
        assert_eq!(r.state, PkgState::Present);
        assert!(r.update_cache);
        assert_eq!(r.install_recommends, Some(false));
        assert!(build(json!({"name": "x", "bogus": 1})).is_err());
        assert!(build(json!({"name": "x", "state": "fixed"})).is_err());
        assert!(build(json!({"state": "present"})).is_err());
        assert!(build(json!({"update_cache": true})).is_ok());
    }
}
