//! `apt`: Debian/Ubuntu packages, with exact predictions from apt's own simulation.
//!
//! ```yaml
//! - apt:
//!     name: [redis-server, redis-tools=5:7.0.15-1~deb12u4]
//!     state: present            # present/installed, absent/removed, latest
//!     update_cache: yes
//!     cache_valid_time: 3600
//!     install_recommends: no
//! - apt: { upgrade: dist, autoremove: yes }
//! - apt: { deb: /tmp/tool_1.2_amd64.deb, policy_rc_d: 101 }
//! ```
//!
//! The plan lists every package (dependencies included) and version that would be installed,
//! upgraded or removed, parsed from `apt-get -s` run with the same options as the real command.
//! A due cache update is done while planning in a real run, so the prediction uses the fresh
//! index. As in Ansible, it does not by itself make a task that names packages `changed`: with
//! no package to change the task is `ok` and its result says `cache_updated: true`, so
//! `update_cache: yes` without `cache_valid_time` stays idempotent. A task with only
//! `update_cache` is `changed` when the refresh is due. With `state: latest` or `upgrade` a due
//! refresh counts as a change (check mode, which does not refresh, could not otherwise predict
//! whether the fresh index brings an upgrade): give such tasks a `cache_valid_time`. Installs
//! are non-interactive, pass `dpkg_options` (Ansible's default `force-confdef,force-confold`)
//! and wait for the dpkg lock.
//!
//! The other operations, with Ansible's options (see `pkg_backend/apt_cmd.rs`):
//!
//! - `upgrade: yes|safe` is `apt-get upgrade --with-new-pkgs`, `full|dist` is `dist-upgrade`
//!   (apt-get always, as Ansible with `force_apt_get` or without aptitude); `name: "*"` with
//!   `state: latest` is `upgrade: yes`.
//! - `deb: /path/a.deb[,/path/b.deb]`: installed with `apt-get install /path/a.deb` (its
//!   dependencies from the archive in the same command) unless dpkg already has that version;
//!   an older file needs `allow_downgrade`. A URL is refused (fetch it with `get_url`).
//! - `autoremove`: alone, `apt-get autoremove` (`purge` honoured); with names, upgrade or
//!   removal, `--auto-remove` on that command. `autoclean` acts only in a task without names,
//!   `deb` or `upgrade` (as in Ansible). `clean` runs first; alone it is `changed` when there are
//!   downloaded files to delete (Ansible reports every `clean` as changed).
//! - `only_upgrade`, `allow_unauthenticated`, `allow_change_held_packages`,
//!   `fail_on_autoremove` (`--no-remove`), `policy_rc_d` (a temporary `/usr/sbin/policy-rc.d`
//!   around the commands that change packages, an existing one put back), and
//!   `update_cache_retries`/`update_cache_retry_max_delay` (Ansible's backoff) as in Ansible.
//! - As in Ansible, a task without names, `deb` or `upgrade` does only the first of `clean`,
//!   `update_cache`, `autoclean`, `autoremove` it names (Ansible's module exits after it).
//!   `force` is refused.

use std::sync::Arc;

use prov_core::{Module, ModuleError};
use serde::Deserialize;
use serde_json::Value;

use crate::args::{StringList, de_bool, de_opt_bool, de_opt_int, de_opt_string};
use crate::parse_args;
use crate::pkg_backend::{
    AptBackend, AptOptions, BackendChoice, PkgModule, PkgRequest, PkgState, UpgradeMode,
};

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
    /// Attempts at `apt-get update` (Ansible's default 5).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub update_cache_retries: Option<u32>,
    /// The longest pause between attempts, in seconds (Ansible's default 12).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub update_cache_retry_max_delay: Option<u32>,
    /// Seconds the index stays valid; set, it implies `update_cache` (as in Ansible).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub cache_valid_time: Option<u64>,
    /// Install recommended packages (apt's default when unset).
    #[serde(
        default,
        deserialize_with = "de_opt_bool",
        alias = "install-recommends"
    )]
    pub install_recommends: Option<bool>,
    /// Remove configuration files too (`absent`, `autoremove`).
    #[serde(default, deserialize_with = "de_bool")]
    pub purge: bool,
    /// Allow pinned versions and `.deb` files to downgrade.
    #[serde(
        default,
        deserialize_with = "de_bool",
        alias = "allow-downgrade",
        alias = "allow_downgrades",
        alias = "allow-downgrades"
    )]
    pub allow_downgrade: bool,
    /// Preferred release (`-t`).
    #[serde(default, alias = "default-release")]
    pub default_release: Option<String>,
    /// Seconds to wait for the dpkg lock.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub lock_timeout: Option<u64>,
    /// Accepted for compatibility (prov always uses apt-get).
    #[serde(default, deserialize_with = "de_bool")]
    pub force_apt_get: bool,
    /// `no`, `yes`/`safe` (`apt-get upgrade --with-new-pkgs`), `full`/`dist` (`dist-upgrade`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub upgrade: Option<String>,
    /// `.deb` files on the host (absolute paths, comma-separated).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub deb: Option<String>,
    /// Remove packages nothing needs any more.
    #[serde(default, deserialize_with = "de_bool")]
    pub autoremove: bool,
    /// Delete downloaded package files that can no longer be downloaded.
    #[serde(default, deserialize_with = "de_bool")]
    pub autoclean: bool,
    /// Delete every downloaded package file first.
    #[serde(default, deserialize_with = "de_bool")]
    pub clean: bool,
    /// Fail rather than remove packages (`--no-remove`).
    #[serde(default, deserialize_with = "de_bool")]
    pub fail_on_autoremove: bool,
    /// Only upgrade names already installed.
    #[serde(default, deserialize_with = "de_bool")]
    pub only_upgrade: bool,
    /// `--allow-unauthenticated`.
    #[serde(default, deserialize_with = "de_bool", alias = "allow-unauthenticated")]
    pub allow_unauthenticated: bool,
    /// `--allow-change-held-packages`.
    #[serde(default, deserialize_with = "de_bool")]
    pub allow_change_held_packages: bool,
    /// dpkg options, comma-separated (default `force-confdef,force-confold`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub dpkg_options: Option<String>,
    /// Exit status of a temporary `/usr/sbin/policy-rc.d` while packages change.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub policy_rc_d: Option<i64>,
    /// Accepted for compatibility (prov needs no Python module on the host).
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub auto_install_module_deps: Option<bool>,
    /// Refused when true (`--force-yes`).
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
}

/// Reads `upgrade` as Ansible does (`type: str` with choices; YAML booleans become yes/no).
fn upgrade_mode(v: Option<&str>) -> Result<Option<UpgradeMode>, ModuleError> {
    match v {
        None | Some("no" | "False") => Ok(None),
        Some("yes" | "True" | "safe") => Ok(Some(UpgradeMode::Safe)),
        Some("full" | "dist") => Ok(Some(UpgradeMode::Dist)),
        Some(other) => Err(ModuleError::arg(
            "upgrade",
            format!("`{other}` is not one of dist, full, no, safe, yes"),
        )),
    }
}

/// The `.deb` paths of `deb` (comma-separated, as Ansible splits them): absolute paths on the
/// host; a URL is refused (prov downloads nothing for apt: use `get_url` first).
fn deb_paths(deb: &str) -> Result<Vec<String>, ModuleError> {
    deb.split(',')
        .map(|p| {
            if p.contains("://") {
                Err(ModuleError::arg(
                    "deb",
                    format!("`{p}`: downloading a .deb is not supported; fetch it with get_url and give its path"),
                ))
            } else if !p.starts_with('/') {
                Err(ModuleError::arg(
                    "deb",
                    format!("`{p}` is not an absolute path on the host"),
                ))
            } else {
                Ok(p.to_owned())
            }
        })
        .collect()
}

/// The `apt`-only options from the arguments.
fn apt_options(a: &AptArgs) -> Result<AptOptions, ModuleError> {
    let defaults = AptOptions::default();
    let policy_rc_d = match a.policy_rc_d {
        None => None,
        Some(c) => Some(u8::try_from(c).map_err(|_| {
            ModuleError::arg("policy_rc_d", format!("{c} is not an exit status (0-255)"))
        })?),
    };
    Ok(AptOptions {
        upgrade: upgrade_mode(a.upgrade.as_deref())?,
        debs: match a.deb.as_deref() {
            Some(d) if !d.is_empty() => deb_paths(d)?,
            _ => Vec::new(),
        },
        autoremove: a.autoremove,
        autoclean: a.autoclean,
        clean: a.clean,
        fail_on_autoremove: a.fail_on_autoremove,
        only_upgrade: a.only_upgrade,
        allow_unauthenticated: a.allow_unauthenticated,
        allow_change_held_packages: a.allow_change_held_packages,
        dpkg_options: match &a.dpkg_options {
            Some(o) => o
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
            None => defaults.dpkg_options,
        },
        update_cache_retries: a
            .update_cache_retries
            .unwrap_or(defaults.update_cache_retries),
        update_cache_retry_max_delay: a
            .update_cache_retry_max_delay
            .unwrap_or(defaults.update_cache_retry_max_delay),
        policy_rc_d,
    })
}

/// Ansible's rules between arguments: `deb`, `name` and `upgrade` exclude each other, `deb`
/// only installs, `*` with `latest` upgrades everything.
fn combine(names: &mut Vec<String>, state: PkgState, apt: &mut AptOptions) -> Result<(), ModuleError> {
    if names.iter().any(|n| n == "*") && state == PkgState::Latest {
        if names.len() > 1 {
            return Err(ModuleError::arg(
                "name",
                "unable to install additional packages when upgrading all installed packages",
            ));
        }
        names.clear();
        apt.upgrade.get_or_insert(UpgradeMode::Safe);
    }
    let given = [!apt.debs.is_empty(), !names.is_empty(), apt.upgrade.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ModuleError::args(
            "parameters are mutually exclusive: deb|name|upgrade",
        ));
    }
    if !apt.debs.is_empty() && state != PkgState::Present {
        return Err(ModuleError::arg("deb", "deb only supports state=present"));
    }
    Ok(())
}

/// A task without names, `deb` or `upgrade` does, as Ansible does, only the first of `clean`,
/// `update_cache`, `autoclean`, `autoremove` it names: Ansible's module exits after it.
fn first_operation_only(names: &[String], update_cache: &mut bool, apt: &mut AptOptions) {
    if !names.is_empty() || !apt.debs.is_empty() || apt.upgrade.is_some() {
        return;
    }
    if apt.clean {
        *update_cache = false;
    }
    if apt.clean || *update_cache {
        apt.autoclean = false;
    }
    if apt.clean || *update_cache || apt.autoclean {
        apt.autoremove = false;
    }
}

/// Builds the request from `apt` arguments.
pub fn request(a: AptArgs) -> Result<PkgRequest, ModuleError> {
    if a.force {
        return Err(ModuleError::arg(
            "force",
            "not supported (apt's deprecated --force-yes); use allow_unauthenticated, allow_downgrade or allow_change_held_packages",
        ));
    }
    let state = PkgState::parse(a.state.as_deref().unwrap_or("present"))?;
    let mut apt = apt_options(&a)?;
    let mut names = a.name.map(|n| n.0).unwrap_or_default();
    combine(&mut names, state, &mut apt)?;
    // Ansible refreshes when `cache_valid_time` is set, even without `update_cache`.
    let mut update_cache = a.update_cache || a.cache_valid_time.is_some_and(|t| t > 0);
    let something = !names.is_empty()
        || update_cache
        || !apt.debs.is_empty()
        || apt.upgrade.is_some()
        || apt.autoremove
        || apt.autoclean
        || apt.clean;
    if !something {
        return Err(ModuleError::args(
            "one of name, deb, upgrade, update_cache, autoremove, autoclean or clean is required",
        ));
    }
    first_operation_only(&names, &mut update_cache, &mut apt);
    let req = PkgRequest {
        names,
        state,
        update_cache,
        cache_valid_time: a.cache_valid_time,
        install_recommends: a.install_recommends,
        purge: a.purge,
        allow_downgrade: a.allow_downgrade,
        // Ansible treats an empty release as none (roles default it to "").
        default_release: a.default_release.filter(|r| !r.is_empty()),
        lock_timeout: a.lock_timeout.unwrap_or(120),
        apt,
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

    fn req(args: Value) -> PkgRequest {
        request(parse_args(args).unwrap()).unwrap()
    }

    /// The argument an error blames.
    fn blamed(args: Value) -> Option<String> {
        match build(args).err().expect("refused") {
            ModuleError::Args(e) => e.field,
            other => panic!("not an argument error: {other}"),
        }
    }

    #[test]
    fn the_new_arguments_follow_ansible() {
        let r = req(json!({"upgrade": "dist", "autoremove": "yes", "purge": true,
                           "update_cache_retries": "3", "update_cache_retry_max_delay": 2,
                           "dpkg_options": "force-confnew, force-confmiss,", "policy_rc_d": 101,
                           "fail_on_autoremove": false, "allow_unauthenticated": true,
                           "allow_change_held_packages": true, "force_apt_get": true,
                           "auto_install_module_deps": false}));
        assert_eq!(r.apt.upgrade, Some(UpgradeMode::Dist));
        assert!(r.apt.autoremove && r.apt.allow_unauthenticated && r.apt.allow_change_held_packages);
        assert_eq!(r.apt.dpkg_options, ["force-confnew", "force-confmiss"]);
        assert_eq!(
            (r.apt.update_cache_retries, r.apt.update_cache_retry_max_delay),
            (3, 2)
        );
        assert_eq!(r.apt.policy_rc_d, Some(101));
        // Ansible's defaults.
        let d = req(json!({"name": "x"})).apt;
        assert_eq!(d.dpkg_options, ["force-confdef", "force-confold"]);
        assert_eq!((d.update_cache_retries, d.update_cache_retry_max_delay), (5, 12));
        // `upgrade` choices; YAML booleans as Ansible converts them.
        for (v, m) in [
            (json!("yes"), Some(UpgradeMode::Safe)),
            (json!(true), Some(UpgradeMode::Safe)),
            (json!("safe"), Some(UpgradeMode::Safe)),
            (json!("full"), Some(UpgradeMode::Dist)),
        ] {
            assert_eq!(req(json!({"upgrade": v})).apt.upgrade, m);
        }
        assert!(build(json!({"upgrade": "no"})).is_err(), "nothing to do");
        assert!(build(json!({"upgrade": false, "autoclean": true})).is_ok());
        assert_eq!(blamed(json!({"upgrade": "everything"})).as_deref(), Some("upgrade"));
        // Each operation alone is a task; `cache_valid_time` implies `update_cache`.
        for alone in ["autoremove", "autoclean", "clean"] {
            assert!(build(json!({alone: true})).is_ok(), "{alone}");
        }
        assert!(req(json!({"cache_valid_time": 60, "name": "x"})).update_cache);
        // `*` with latest upgrades everything; with other names it is refused.
        let all = req(json!({"name": "*", "state": "latest"}));
        assert!(all.names.is_empty());
        assert_eq!(all.apt.upgrade, Some(UpgradeMode::Safe));
        assert_eq!(
            blamed(json!({"name": ["*", "x"], "state": "latest"})).as_deref(),
            Some("name")
        );
    }

    #[test]
    fn a_task_without_packages_does_the_first_operation_only() {
        // Ansible's order: clean, update_cache, autoclean, autoremove; each exits.
        let r = req(json!({"clean": true, "update_cache": true, "autoclean": true, "autoremove": true}));
        assert!(r.apt.clean && !r.update_cache && !r.apt.autoclean && !r.apt.autoremove);
        let r = req(json!({"cache_valid_time": 600, "autoclean": true, "autoremove": true}));
        assert!(r.update_cache && !r.apt.autoclean && !r.apt.autoremove);
        let r = req(json!({"autoclean": true, "autoremove": true}));
        assert!(r.apt.autoclean && !r.apt.autoremove);
        // With packages every option stays (clean runs first, autoremove joins the command).
        let r = req(json!({"name": "x", "clean": true, "update_cache": true, "autoremove": true}));
        assert!(r.apt.clean && r.update_cache && r.apt.autoremove);
        let r = req(json!({"upgrade": "dist", "update_cache": true, "autoremove": true}));
        assert!(r.update_cache && r.apt.autoremove);
    }

    #[test]
    fn deb_follows_ansible_and_refuses_downloads() {
        let r = req(json!({"deb": "/tmp/a.deb,/srv/b c.deb", "allow_downgrade": true}));
        assert_eq!(r.apt.debs, ["/tmp/a.deb", "/srv/b c.deb"]);
        assert!(r.names.is_empty());
        assert_eq!(blamed(json!({"deb": "https://example.com/a.deb"})).as_deref(), Some("deb"));
        assert_eq!(blamed(json!({"deb": "a.deb"})).as_deref(), Some("deb"));
        assert_eq!(
            blamed(json!({"deb": "/tmp/a.deb", "state": "absent"})).as_deref(),
            Some("deb")
        );
        for clash in [
            json!({"deb": "/tmp/a.deb", "name": "x"}),
            json!({"deb": "/tmp/a.deb", "upgrade": "dist"}),
            json!({"name": "x", "upgrade": "yes"}),
        ] {
            let e = build(clash).err().unwrap().to_string();
            assert!(e.contains("mutually exclusive"), "{e}");
        }
        // A path in `name` points at `deb`.
        let e = build(json!({"name": "/tmp/a.deb"})).err().unwrap().to_string();
        assert!(e.contains("deb"), "{e}");
    }

    #[test]
    fn unsupported_or_invalid_values_name_their_argument() {
        assert_eq!(blamed(json!({"name": "x", "force": true})).as_deref(), Some("force"));
        assert!(build(json!({"name": "x", "force": false})).is_ok());
        assert_eq!(
            blamed(json!({"name": "x", "policy_rc_d": 300})).as_deref(),
            Some("policy_rc_d")
        );
        assert_eq!(
            blamed(json!({"name": "x", "update_cache_retries": "many"})).as_deref(),
            Some("update_cache_retries")
        );
        assert_eq!(blamed(json!({"name": "x", "only_upgrade": "maybe"})).as_deref(), Some("only_upgrade"));
    }
}
