//! Package managers behind the `apt` and `package` modules.
//!
//! A [`PkgBackend`] turns a [`PkgRequest`] (names, desired state, cache options) into a
//! [`PkgPlan`] that names exactly which packages and versions change, taken from the package
//! manager's own simulation, and later executes that plan. [`AptBackend`] is the Debian/Ubuntu
//! implementation (`apt-get -s` simulation, `Inst`/`Remv`/`Purg` lines); [`backend_for`] maps
//! `facts.pkg_mgr` to a backend.
//!
//! The generic module glue ([`PkgModule`]) is shared by `apt` (always apt) and `package` (backend
//! chosen from `facts.pkg_mgr`, or probed on the host when the facts do not say).

use std::sync::Arc;

use async_trait::async_trait;
use prov_core::{Action, Diff, Module, ModuleContext, ModuleError, Outcome, Plan, Script};
use serde::Serialize;
use serde_json::{Value, json};

mod apt;
mod apt_cmd;

pub use apt::*;
pub use apt_cmd::AptVerb;

/// The state a package task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PkgState {
    /// Installed (any version, or the pinned one); installed packages are not upgraded.
    Present,
    /// Not installed.
    Absent,
    /// Installed at the candidate version (upgraded when older).
    Latest,
}

impl PkgState {
    /// Parses Ansible's spelling (`present`/`installed`, `absent`/`removed`, `latest`).
    pub fn parse(s: &str) -> Result<PkgState, ModuleError> {
        match s {
            "present" | "installed" => Ok(PkgState::Present),
            "absent" | "removed" => Ok(PkgState::Absent),
            "latest" => Ok(PkgState::Latest),
            other => Err(ModuleError::args(format!(
                "state `{other}` is not supported (present, installed, absent, removed, latest)"
            ))),
        }
    }
}

/// What a package task asks for, independent of the package manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkgRequest {
    /// Package names, each optionally pinned as `name=version` (`version` may end in `*`).
    pub names: Vec<String>,
    /// The desired state.
    pub state: PkgState,
    /// Refresh the package index first.
    pub update_cache: bool,
    /// Skip the refresh when the index is younger than this many seconds.
    pub cache_valid_time: Option<u64>,
    /// Install recommended packages (`None`: the manager's default).
    pub install_recommends: Option<bool>,
    /// Remove configuration files too (state absent).
    pub purge: bool,
    /// Allow pins to downgrade installed packages.
    pub allow_downgrade: bool,
    /// Preferred release (`apt-get -t`).
    pub default_release: Option<String>,
    /// Seconds to wait for the package manager's lock.
    pub lock_timeout: u64,
    /// What only `apt` asks (the `package` module leaves it at its defaults).
    pub apt: AptOptions,
}

/// `upgrade:` of the `apt` module. prov always runs apt-get, as Ansible does with
/// `force_apt_get` or when aptitude is not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeMode {
    /// `yes`/`safe`: `apt-get upgrade --with-new-pkgs`.
    Safe,
    /// `full`/`dist`: `apt-get dist-upgrade`.
    Dist,
}

/// The `apt` module's options beyond names and states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptOptions {
    /// Upgrade every installed package.
    pub upgrade: Option<UpgradeMode>,
    /// Absolute paths of `.deb` files on the host to install.
    pub debs: Vec<String>,
    /// Remove packages nothing needs any more (alone, or `--auto-remove` with the command).
    pub autoremove: bool,
    /// Delete downloaded package files that can no longer be downloaded (alone only).
    pub autoclean: bool,
    /// Delete every downloaded package file (`apt-get clean`) first.
    pub clean: bool,
    /// Fail rather than remove packages (`--no-remove`).
    pub fail_on_autoremove: bool,
    /// Only upgrade names already installed (`--only-upgrade`).
    pub only_upgrade: bool,
    /// `--allow-unauthenticated`.
    pub allow_unauthenticated: bool,
    /// `--allow-change-held-packages`.
    pub allow_change_held_packages: bool,
    /// dpkg options, each passed as `-o Dpkg::Options::=--OPTION`.
    pub dpkg_options: Vec<String>,
    /// Attempts at `apt-get update` before failing.
    pub update_cache_retries: u32,
    /// The longest pause between two attempts, in seconds.
    pub update_cache_retry_max_delay: u32,
    /// The exit status of a temporary `/usr/sbin/policy-rc.d` while packages change.
    pub policy_rc_d: Option<u8>,
}

impl Default for AptOptions {
    /// Ansible's defaults.
    fn default() -> Self {
        Self {
            upgrade: None,
            debs: Vec::new(),
            autoremove: false,
            autoclean: false,
            clean: false,
            fail_on_autoremove: false,
            only_upgrade: false,
            allow_unauthenticated: false,
            allow_change_held_packages: false,
            dpkg_options: vec!["force-confdef".into(), "force-confold".into()],
            update_cache_retries: 5,
            update_cache_retry_max_delay: 12,
            policy_rc_d: None,
        }
    }
}

impl PkgRequest {
    /// A request for `names` in `state` with every option at its default.
    pub fn new(names: Vec<String>, state: PkgState) -> Self {
        Self {
            names,
            state,
            update_cache: false,
            cache_valid_time: None,
            install_recommends: None,
            purge: false,
            allow_downgrade: false,
            default_release: None,
            lock_timeout: 120,
            apt: AptOptions::default(),
        }
    }

    /// True when the task names packages (names or `.deb` files): a due index refresh or cache
    /// clean alone does not make it `changed`, as in Ansible.
    pub fn names_packages(&self) -> bool {
        !self.names.is_empty() || !self.apt.debs.is_empty()
    }

    /// Rejects names that cannot be package names (options, empty words).
    pub fn validate(&self) -> Result<(), ModuleError> {
        for n in &self.names {
            let (name, _) = split_pin(n);
            if name.is_empty()
                || name.starts_with('-')
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.:_".contains(c))
            {
                let hint = if n.ends_with(".deb") {
                    " (a .deb file goes in `deb`)"
                } else {
                    ""
                };
                return Err(ModuleError::args(format!(
                    "`{n}` is not a valid package name{hint}"
                )));
            }
        }
        if let Some(r) = &self.default_release
            && (r.is_empty() || r.starts_with('-'))
        {
            return Err(ModuleError::args(format!(
                "`{r}` is not a valid default_release"
            )));
        }
        Ok(())
    }
}

/// Splits `name=version` into its name and optional version.
pub fn split_pin(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    }
}

/// What happens to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PkgOp {
    /// Newly installed.
    Install,
    /// Replaced by another version.
    Upgrade,
    /// Removed, configuration kept.
    Remove,
    /// Removed with its configuration.
    Purge,
}

/// One predicted package change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PkgChange {
    /// What happens.
    pub action: PkgOp,
    /// The package name (with `:arch` when apt prints one).
    pub name: String,
    /// The version installed afterwards (install/upgrade) or removed (remove/purge).
    pub version: String,
    /// The version installed before an upgrade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_version: Option<String>,
}

impl PkgChange {
    /// The summary line for people (`install redis-tools 5:7.0.15-1`).
    pub fn summary(&self) -> String {
        match self.action {
            PkgOp::Install => format!("install {} {}", self.name, self.version),
            PkgOp::Upgrade => format!(
                "upgrade {} {} -> {}",
                self.name,
                self.old_version.as_deref().unwrap_or("?"),
                self.version
            ),
            PkgOp::Remove => format!("remove {} {}", self.name, self.version),
            PkgOp::Purge => format!("purge {} {}", self.name, self.version),
        }
    }
}

/// What a backend found and will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PkgPlan {
    /// The package index refresh is due (it counts as a change).
    pub cache_update_due: bool,
    /// The refresh was already performed while planning (real runs), so the action skips it.
    pub cache_updated: bool,
    /// The words passed to the install/remove command (names and pins still needing work).
    pub targets: Vec<String>,
    /// Every package that changes, dependencies included, from the manager's simulation.
    pub changes: Vec<PkgChange>,
    /// Packages whose version cannot be known before the index refresh (check mode only).
    pub unknown_until_refresh: Vec<String>,
    /// `clean` finds downloaded package files to delete.
    pub clean_due: bool,
    /// The clean was already performed while planning (real runs).
    pub cleaned: bool,
    /// The downloaded package files `autoclean` deletes (`name version`).
    pub autoclean: Vec<String>,
}

impl PkgPlan {
    /// True when the task reports `changed`, the way Ansible's `apt` does: a task that names
    /// packages changes when a package changes, and a due index refresh alone leaves it `ok`
    /// (with `cache_updated: true`); a task that only refreshes the index changes when the
    /// refresh is due.
    ///
    /// Exception, so that check mode still predicts the real run exactly: for `state: latest`
    /// the refresh counts as a change. Check mode does not refresh, so it cannot know whether
    /// the fresh index would bring an upgrade; set `cache_valid_time` to make such a task
    /// idempotent. An `upgrade` task is in the same case.
    ///
    /// `clean` is done before the rest of the task as in Ansible, and like the index refresh
    /// it does not make a task that names packages or upgrades `changed`; alone it changes
    /// when there are downloaded files to delete (Ansible reports every `clean` as `changed`).
    pub fn changed(&self, req: &PkgRequest) -> bool {
        let names = req.names_packages();
        let refresh_is_a_change = !names || req.state == PkgState::Latest;
        let clean_is_a_change = !names && req.apt.upgrade.is_none();
        (self.cache_update_due && refresh_is_a_change)
            || (self.clean_due && clean_is_a_change)
            || !self.changes.is_empty()
            || !self.unknown_until_refresh.is_empty()
            || !self.autoclean.is_empty()
    }
}

/// A package manager.
#[async_trait]
pub trait PkgBackend: Send + Sync {
    /// Its name as in `facts.pkg_mgr` (`apt`).
    fn name(&self) -> &'static str;

    /// Reads the host's state and predicts exactly what `req` changes.
    async fn plan(&self, ctx: &ModuleContext<'_>, req: &PkgRequest)
    -> Result<PkgPlan, ModuleError>;

    /// Executes `plan`; returns the package manager's output.
    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
        plan: &PkgPlan,
    ) -> Result<String, ModuleError>;
}

/// The backend for a `facts.pkg_mgr` value, if prov supports it.
pub fn backend_for(pkg_mgr: &str) -> Option<Arc<dyn PkgBackend>> {
    match pkg_mgr {
        "apt" | "apt-get" => Some(Arc::new(AptBackend)),
        _ => None,
    }
}

/// How a [`PkgModule`] finds its backend.
#[derive(Clone)]
pub enum BackendChoice {
    /// Always this one (`apt`).
    Fixed(Arc<dyn PkgBackend>),
    /// From `facts.pkg_mgr`, or this name (`package: use:`), or probed on the host.
    FromFacts(Option<String>),
}

/// The module behind `apt` and `package`.
pub struct PkgModule {
    /// How the backend is chosen.
    pub backend: BackendChoice,
    /// What is asked.
    pub req: PkgRequest,
}

impl PkgModule {
    async fn backend(&self, ctx: &ModuleContext<'_>) -> Result<Arc<dyn PkgBackend>, ModuleError> {
        let name = match &self.backend {
            BackendChoice::Fixed(b) => return Ok(b.clone()),
            BackendChoice::FromFacts(Some(u)) if u != "auto" => u.clone(),
            BackendChoice::FromFacts(_) => match ctx.facts.get("pkg_mgr").and_then(Value::as_str) {
                Some(m) if !m.is_empty() && m != "unknown" => m.to_owned(),
                _ => {
                    let out = ctx
                        .run(&Script::text("for m in apt-get dnf yum zypper apk pacman; do command -v $m >/dev/null 2>&1 && { echo $m; exit 0; }; done; echo unknown"))
                        .await?;
                    out.stdout_text().trim().to_owned()
                }
            },
        };
        backend_for(&name).ok_or_else(|| {
            ModuleError::failed(format!(
                "package manager `{name}` is not supported (supported: apt)"
            ))
        })
    }
}

/// The `--diff` view of package changes: `name version` lines before and after.
pub fn packages_diff(changes: &[PkgChange]) -> Diff {
    let mut before = String::new();
    let mut after = String::new();
    for c in changes {
        match c.action {
            PkgOp::Install => after.push_str(&format!("{} {}\n", c.name, c.version)),
            PkgOp::Upgrade => {
                before.push_str(&format!(
                    "{} {}\n",
                    c.name,
                    c.old_version.as_deref().unwrap_or("?")
                ));
                after.push_str(&format!("{} {}\n", c.name, c.version));
            }
            PkgOp::Remove | PkgOp::Purge => before.push_str(&format!("{} {}\n", c.name, c.version)),
        }
    }
    Diff::new("packages", before, after)
}

#[async_trait]
impl Module for PkgModule {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let backend = self.backend(ctx).await?;
        let pp = backend.plan(ctx, &self.req).await?;
        Ok(module_plan(backend, &self.req, pp))
    }
}

/// The task's plan from the backend's: what it reports (changed or not, summary, diff,
/// `cache_updated`) and the action that applies it.
fn module_plan(backend: Arc<dyn PkgBackend>, req: &PkgRequest, pp: PkgPlan) -> Plan {
    let plan = Plan::unchanged()
        .with_result("cache_updated", json!(pp.cache_updated))
        .with_result("cache_update_due", json!(pp.cache_update_due))
        .with_result(
            "packages",
            serde_json::to_value(&pp.changes).unwrap_or(Value::Null),
        );
    if !pp.changed(req) {
        return plan;
    }
    let mut summary = Vec::new();
    if pp.cache_update_due {
        summary.push(format!("update {} cache", backend.name()));
    }
    if pp.clean_due {
        summary.push(format!("clean {} cache", backend.name()));
    }
    summary.extend(pp.changes.iter().map(PkgChange::summary));
    summary.extend(
        pp.unknown_until_refresh
            .iter()
            .map(|n| format!("install {n} (version known after the cache update)")),
    );
    summary.extend(pp.autoclean.iter().map(|f| format!("autoclean {f}")));
    let diffs = if pp.changes.is_empty() {
        Vec::new()
    } else {
        vec![packages_diff(&pp.changes)]
    };
    let action = PkgAction {
        backend,
        req: req.clone(),
        plan: pp,
    };
    plan.with_change(summary, diffs, action)
}

struct PkgAction {
    backend: Arc<dyn PkgBackend>,
    req: PkgRequest,
    plan: PkgPlan,
}

#[async_trait]
impl Action for PkgAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let stdout = self.backend.apply(ctx, &self.req, &self.plan).await?;
        let mut outcome = Outcome::default();
        outcome.result.insert("stdout".into(), json!(stdout));
        outcome
            .result
            .insert("cache_updated".into(), json!(self.plan.cache_update_due));
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real run's plan after a due refresh (`cache_updated`) or a check run's (not done).
    fn refreshed(real: bool, changes: Vec<PkgChange>) -> PkgPlan {
        PkgPlan {
            cache_update_due: true,
            cache_updated: real,
            targets: changes.iter().map(|c| c.name.clone()).collect(),
            changes,
            ..PkgPlan::default()
        }
    }

    #[test]
    fn cache_refresh_alone_does_not_change_a_package_task() {
        let req = {
            let mut r = PkgRequest::new(
                vec!["redis-tools".into(), "nftables".into()],
                PkgState::Present,
            );
            r.update_cache = true;
            r
        };
        // Everything installed, refresh due (no cache_valid_time): `ok`, in check mode and in
        // the real run alike, and the real run says it refreshed the index.
        for real in [false, true] {
            let p = module_plan(Arc::new(AptBackend), &req, refreshed(real, vec![]));
            assert!(!p.changed(), "real={real}: {p:?}");
            assert!(matches!(p, Plan::Unchanged { .. }));
            assert!(p.summary().is_empty(), "{p:?}");
            assert_eq!(p.result()["cache_updated"], json!(real));
            assert_eq!(p.result()["cache_update_due"], json!(true));
        }
        let mut absent = req.clone();
        absent.state = PkgState::Absent;
        assert!(!module_plan(Arc::new(AptBackend), &absent, refreshed(true, vec![])).changed());

        // A package to install: changed, the refresh listed with it.
        let install = PkgChange {
            action: PkgOp::Install,
            name: "redis-tools".into(),
            version: "5:7.0.15-1".into(),
            old_version: None,
        };
        for real in [false, true] {
            let p = module_plan(
                Arc::new(AptBackend),
                &req,
                refreshed(real, vec![install.clone()]),
            );
            assert!(p.changed());
            assert!(matches!(p, Plan::Change(_)));
            assert_eq!(
                p.summary(),
                ["update apt cache", "install redis-tools 5:7.0.15-1"]
            );
        }
        // A name only the fresh index knows (check mode): changed.
        let mut unknown = refreshed(false, vec![]);
        unknown.unknown_until_refresh = vec!["redis-tools".into()];
        assert!(module_plan(Arc::new(AptBackend), &req, unknown).changed());

        // Only `update_cache`: the refresh is the task's change (Ansible: changed=cache_updated).
        let mut only = PkgRequest::new(vec![], PkgState::Present);
        only.update_cache = true;
        for real in [false, true] {
            let p = module_plan(Arc::new(AptBackend), &only, refreshed(real, vec![]));
            assert!(p.changed());
            assert_eq!(p.summary(), ["update apt cache"]);
        }
        let fresh = PkgPlan::default();
        assert!(!module_plan(Arc::new(AptBackend), &only, fresh).changed());

        // `latest`: check mode cannot see upgrades the fresh index would bring, so the due
        // refresh stays a change in both modes (prediction exact).
        let mut latest = req.clone();
        latest.state = PkgState::Latest;
        for real in [false, true] {
            assert!(module_plan(Arc::new(AptBackend), &latest, refreshed(real, vec![])).changed());
        }
    }

    #[test]
    fn clean_and_autoclean_change_a_task_as_in_ansible() {
        let cleaned = PkgPlan {
            clean_due: true,
            ..PkgPlan::default()
        };
        let mut only = PkgRequest::new(vec![], PkgState::Present);
        only.apt.clean = true;
        assert!(
            cleaned.changed(&only),
            "clean alone: changed when files are deleted"
        );
        assert!(!PkgPlan::default().changed(&only), "nothing to delete: ok");
        let p = module_plan(Arc::new(AptBackend), &only, cleaned.clone());
        assert_eq!(p.summary(), ["clean apt cache"]);
        let mut named = PkgRequest::new(vec!["x".into()], PkgState::Present);
        named.apt.clean = true;
        assert!(!cleaned.changed(&named), "with names, as the refresh: ok");
        let mut deb = PkgRequest::new(vec![], PkgState::Present);
        deb.apt.debs = vec!["/tmp/x.deb".into()];
        assert!(!cleaned.changed(&deb));
        let mut upgrade = only.clone();
        upgrade.apt.upgrade = Some(UpgradeMode::Safe);
        assert!(!cleaned.changed(&upgrade));
        let due = PkgPlan {
            cache_update_due: true,
            ..PkgPlan::default()
        };
        assert!(
            due.changed(&upgrade),
            "upgrade: a due refresh is a change (as latest)"
        );
        assert!(!due.changed(&deb), "deb: a due refresh alone is not");
        let autoclean = PkgPlan {
            autoclean: vec!["old 1.0".into()],
            ..PkgPlan::default()
        };
        assert!(autoclean.changed(&only));
        let p = module_plan(Arc::new(AptBackend), &only, autoclean);
        assert_eq!(p.summary(), ["autoclean old 1.0"]);
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(
            PkgRequest::new(vec!["-oAPT::x".into()], PkgState::Present)
                .validate()
                .is_err()
        );
        assert!(
            PkgRequest::new(vec!["a b".into()], PkgState::Present)
                .validate()
                .is_err()
        );
        assert!(
            PkgRequest::new(vec!["libc6:amd64=2.36*".into()], PkgState::Present)
                .validate()
                .is_ok()
        );
    }
}
