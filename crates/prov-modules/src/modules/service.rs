//! `service` (also `systemd`, `systemd_service`): start/stop/restart/reload, enable, mask units.
//!
//! ```yaml
//! service: { name: redis-server@7000, state: started, enabled: yes, daemon_reload: yes }
//! ```
//!
//! The current state is read with one `systemctl show -p Id,LoadState,ActiveState,...` command.
//! The plan lists the operations (`daemon-reload`, `unmask`, `enable`, `start`...) and the action
//! runs exactly those in one script. After a start or restart the unit must be active (or a
//! oneshot that finished successfully); otherwise the error carries
//! `systemctl status --no-pager -n 20`. Hosts without systemd (`facts.service_mgr`, or no
//! `/run/systemd/system` when the facts do not say) fall back to `service NAME ...` and
//! `update-rc.d`/`chkconfig`/`rc-update` (best effort; no masking).

use std::collections::BTreeMap;

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Outcome, Plan,
    Script, sh,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{de_bool, de_opt_bool};
use crate::parse_args;
use crate::server_util;

/// The `service`/`systemd` arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceArgs {
    /// The unit (`redis-server`, `redis-server@7000`, `nftables.service`).
    /// Absent only when the task just reloads systemd (`daemon_reload: true` alone).
    #[serde(default, alias = "service", alias = "unit")]
    pub name: Option<String>,
    /// started, stopped, restarted, reloaded.
    #[serde(default)]
    pub state: Option<String>,
    /// Start at boot.
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub enabled: Option<bool>,
    /// Run `systemctl daemon-reload` first when the unit's files changed (or it is not loaded).
    #[serde(default, deserialize_with = "de_bool", alias = "daemon-reload")]
    pub daemon_reload: bool,
    /// Mask (or unmask) the unit.
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub masked: Option<bool>,
    /// Queue start/stop jobs without waiting for them (no activity check then).
    #[serde(default, deserialize_with = "de_bool")]
    pub no_block: bool,
    /// `system` (the default) or `user` (the user manager of the user the task runs as).
    #[serde(default)]
    pub scope: Option<String>,
    /// The service manager (`auto`, `systemd`, `sysvinit`, `service`); default from the facts.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// `service`'s seconds between stop and start on restart: ignored on systemd hosts, as
    /// Ansible's service action drops it there; refused on other hosts (not implemented).
    #[serde(default)]
    pub sleep: Option<Value>,
    /// `service`'s process pattern for status: ignored on systemd, refused elsewhere.
    #[serde(default)]
    pub pattern: Option<String>,
    /// `service`'s runlevel (OpenRC, sysvinit): ignored on systemd, refused elsewhere.
    #[serde(default)]
    pub runlevel: Option<String>,
    /// `service`'s extra command line arguments: ignored on systemd, refused elsewhere.
    #[serde(default, alias = "args")]
    pub arguments: Option<String>,
}

impl ServiceArgs {
    /// The `service`-only arguments given (Ansible ignores them on systemd hosts).
    fn sysv_only(&self) -> Vec<&'static str> {
        [
            ("sleep", self.sleep.is_some()),
            ("pattern", self.pattern.is_some()),
            ("runlevel", self.runlevel.is_some()),
            ("arguments", self.arguments.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}

/// The desired run state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Running.
    Started,
    /// Not running.
    Stopped,
    /// Restarted (always a change).
    Restarted,
    /// Reloaded when running, started otherwise (always a change).
    Reloaded,
}

/// One operation of a service plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `systemctl daemon-reload`.
    DaemonReload,
    /// `systemctl unmask`.
    Unmask,
    /// `systemctl mask`.
    Mask,
    /// `systemctl enable`.
    Enable,
    /// `systemctl disable`.
    Disable,
    /// `systemctl start`.
    Start,
    /// `systemctl stop`.
    Stop,
    /// `systemctl restart`.
    Restart,
    /// `systemctl reload`.
    Reload,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::DaemonReload => "daemon-reload",
            Op::Unmask => "unmask",
            Op::Mask => "mask",
            Op::Enable => "enable",
            Op::Disable => "disable",
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Restart => "restart",
            Op::Reload => "reload",
        }
    }
}

/// A unit's state as `systemctl show` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState {
    /// Every property printed.
    pub props: BTreeMap<String, String>,
}

impl UnitState {
    /// Parses `KEY=value` lines (a line without `=` is an error naming it).
    pub fn parse(text: &str) -> Result<UnitState, String> {
        let props = text
            .lines()
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| format!("`{l}` is not KEY=value"))
            })
            .collect::<Result<_, _>>()?;
        Ok(UnitState { props })
    }

    fn get(&self, k: &str) -> &str {
        self.props.get(k).map(String::as_str).unwrap_or("")
    }

    /// The unit is known to systemd.
    pub fn found(&self) -> bool {
        !matches!(self.get("LoadState"), "not-found" | "")
    }

    /// Running (or about to).
    pub fn active(&self) -> bool {
        matches!(
            self.get("ActiveState"),
            "active" | "activating" | "reloading"
        )
    }

    /// Stopping counts as running for `stopped` (the stop still has to finish).
    fn running_or_stopping(&self) -> bool {
        self.active() || self.get("ActiveState") == "deactivating"
    }

    /// Masked.
    pub fn masked(&self) -> bool {
        matches!(self.get("UnitFileState"), "masked" | "masked-runtime")
            || self.get("LoadState") == "masked"
    }

    /// Enabled the way `systemctl is-enabled` counts it (exit 0).
    pub fn enabled(&self) -> bool {
        matches!(
            self.get("UnitFileState"),
            "enabled" | "enabled-runtime" | "static" | "indirect" | "alias" | "generated"
        )
    }

    /// Enabled through its own links (what `disable` removes).
    fn disable_needed(&self) -> bool {
        matches!(
            self.get("UnitFileState"),
            "enabled" | "enabled-runtime" | "linked" | "linked-runtime"
        )
    }

    /// Its unit files changed since the last daemon-reload.
    pub fn needs_reload(&self) -> bool {
        self.get("NeedDaemonReload") == "yes"
    }
}

/// What the task asks for, checked.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The unit name.
    pub name: String,
    /// The run state.
    pub state: Option<RunState>,
    /// Enabled at boot.
    pub enabled: Option<bool>,
    /// Reload systemd's configuration first.
    pub daemon_reload: bool,
    /// Masked.
    pub masked: Option<bool>,
    /// Do not wait for jobs.
    pub no_block: bool,
}

/// The systemd operations that bring `cur` to `want`, in execution order. In check mode an
/// unknown unit is assumed to appear (stopped, disabled) once an earlier task creates it.
pub fn systemd_ops(
    want: &Desired,
    cur: &UnitState,
    check_mode: bool,
) -> Result<Vec<Op>, ModuleError> {
    let mut ops = Vec::new();
    let found = cur.found();
    if !found && !want.daemon_reload && !check_mode {
        let needs_unit = matches!(
            want.state,
            Some(RunState::Started | RunState::Restarted | RunState::Reloaded)
        ) || want.enabled == Some(true);
        if needs_unit {
            return Err(ModuleError::failed(format!(
                "could not find the requested service {}: unit not found (is its unit file installed?)",
                want.name
            )));
        }
    }
    let masked = cur.masked();
    match want.masked {
        Some(false) if masked => ops.push(Op::Unmask),
        Some(true) if !masked => ops.push(Op::Mask),
        _ => {}
    }
    match want.enabled {
        // A masked unit is never "enabled", so unmask + enable follow each other.
        Some(true) if !cur.enabled() => ops.push(Op::Enable),
        Some(false) if cur.disable_needed() => ops.push(Op::Disable),
        _ => {}
    }
    match want.state {
        Some(RunState::Started) if !cur.active() => ops.push(Op::Start),
        Some(RunState::Stopped) if cur.running_or_stopping() => ops.push(Op::Stop),
        Some(RunState::Restarted) => ops.push(Op::Restart),
        Some(RunState::Reloaded) => ops.push(if cur.active() { Op::Reload } else { Op::Start }),
        _ => {}
    }
    if want.daemon_reload && (!ops.is_empty() || cur.needs_reload() || !found) {
        ops.insert(0, Op::DaemonReload);
    }
    Ok(ops)
}

/// The script running `ops` on a systemd host, verifying that started units are up.
pub fn systemd_script(name: &str, ops: &[Op], no_block: bool) -> Script {
    let status = sh!("systemctl status --no-pager -n 20 -- {} >&2 || true", name);
    let nb = Script::text(if no_block { " --no-block" } else { "" });
    let mut s = Script::text("set -e");
    for op in ops {
        let verb = Script::text(op.verb());
        let line = match op {
            Op::DaemonReload => Script::text("systemctl daemon-reload"),
            Op::Start | Op::Restart | Op::Reload | Op::Stop => {
                if matches!(op, Op::Start | Op::Restart) {
                    // A unit that hit its start limit (e.g. after a bad config) would refuse
                    // the start even once its config is fixed: clear that first.
                    s = s.then(&sh!("systemctl reset-failed -- {} 2>/dev/null || true", name));
                }
                let run = sh!(
                    "if ! systemctl {}{} -- {}; then {}; exit 1; fi",
                    verb,
                    nb,
                    name,
                    status
                );
                if !no_block && matches!(op, Op::Start | Op::Restart | Op::Reload) {
                    run.then(&sh!("set -- {} {}", name, op.verb()))
                        .then(&Script::text(include_str!("scripts/service_verify.sh")))
                } else {
                    run
                }
            }
            _ => sh!("systemctl {} -- {}", verb, name),
        };
        s = s.then(&line);
    }
    s.then_text("\n")
}

/// The state of a service on a host without systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysvState {
    /// `service NAME status` exited 0.
    pub running: bool,
    /// A start link exists in a runlevel directory (or the service is in a runlevel).
    pub enabled: bool,
    /// An init script exists.
    pub exists: bool,
}

/// The operations for a host without systemd.
pub fn sysv_ops(want: &Desired, cur: SysvState) -> Result<Vec<Op>, ModuleError> {
    if want.masked == Some(true) {
        return Err(ModuleError::failed(format!(
            "cannot mask {}: masking needs systemd",
            want.name
        )));
    }
    let mut ops = Vec::new();
    match want.enabled {
        Some(true) if !cur.enabled => ops.push(Op::Enable),
        Some(false) if cur.enabled => ops.push(Op::Disable),
        _ => {}
    }
    match want.state {
        Some(RunState::Started) if !cur.running => ops.push(Op::Start),
        Some(RunState::Stopped) if cur.running => ops.push(Op::Stop),
        Some(RunState::Restarted) => ops.push(Op::Restart),
        Some(RunState::Reloaded) => ops.push(if cur.running { Op::Reload } else { Op::Start }),
        _ => {}
    }
    Ok(ops)
}

fn sysv_script(name: &str, ops: &[Op]) -> Script {
    let mut s = Script::text("set -e").then(&Script::text(include_str!("scripts/service_sysv.sh")));
    for op in ops {
        let line = match op {
            Op::Enable => sh!("sysv_enable {}", name),
            Op::Disable => sh!("sysv_disable {}", name),
            Op::Start | Op::Stop | Op::Restart | Op::Reload => {
                sh!("service {} {}", name, Script::text(op.verb()))
            }
            _ => continue,
        };
        s = s.then(&line);
    }
    s
}

/// The service manager the fact asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// systemd.
    Systemd,
    /// `service` and init scripts.
    Sysv,
}

/// A service's state, from the manager that runs the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// A systemd unit.
    Systemd(UnitState),
    /// An init script.
    Sysv(SysvState),
}

/// Which systemd instance a task talks to (Ansible's `scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The system manager.
    #[default]
    System,
    /// The user manager of the user the task runs as (`systemctl --user`, with
    /// `XDG_RUNTIME_DIR` defaulting to `/run/user/UID` as Ansible's module sets it).
    User,
}

impl Scope {
    /// Lines that make every later `systemctl` of a script talk to this scope's manager.
    pub fn preamble(self) -> Script {
        match self {
            Scope::System => Script::default(),
            Scope::User => Script::text(
                "export XDG_RUNTIME_DIR=\"${XDG_RUNTIME_DIR:-/run/user/$(id -u)}\"\n\
                 systemctl() { command systemctl --user \"$@\"; }\n",
            ),
        }
    }
}

/// Reads one service: `manager=…` then `KEY=value` lines (`systemctl show` properties, or
/// `running`/`enabled`/`exists` for an init script). `manager: None` asks systemd when it runs
/// the host.
pub struct ServiceFact<'a> {
    /// The unit.
    pub name: &'a str,
    /// The manager, when known.
    pub manager: Option<Manager>,
    /// The systemd instance asked.
    pub scope: Scope,
}

impl Fact for ServiceFact<'_> {
    type Output = ServiceState;

    fn name(&self) -> String {
        format!("service {}", self.name)
    }

    fn script(&self) -> Script {
        let manager = match self.manager {
            None => "auto",
            Some(Manager::Systemd) => "systemd",
            Some(Manager::Sysv) => "sysv",
        };
        self.scope
            .preamble()
            .then(&sh!("set -- {} {}", self.name, manager))
            .then(&Script::text(include_str!("scripts/service_state.sh")))
    }

    fn parse(&self, out: &CommandOutput) -> Result<ServiceState, FactError> {
        let text = out.stdout_text();
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let state = match first {
            "manager=systemd" if !out.success() && rest.trim().is_empty() => {
                return Err(self.probe_failed(out));
            }
            "manager=systemd" => UnitState::parse(rest).map_err(|e| self.error(e))?,
            "manager=sysv" => {
                let st = UnitState::parse(rest).map_err(|e| self.error(e))?;
                let yes = |k: &str| match st.get(k) {
                    "yes" => Ok(true),
                    "no" => Ok(false),
                    other => Err(self.error(format!("`{k}={other}` is not yes or no"))),
                };
                return Ok(ServiceState::Sysv(SysvState {
                    running: yes("running")?,
                    enabled: yes("enabled")?,
                    exists: yes("exists")?,
                }));
            }
            _ if !out.success() => return Err(self.probe_failed(out)),
            other => return Err(self.error(format!("unexpected first line `{other}`"))),
        };
        Ok(ServiceState::Systemd(state))
    }
}

/// The `service` module.
#[derive(Debug)]
pub struct Service {
    want: Desired,
    manager: Option<Manager>,
    scope: Scope,
    /// `sleep`, `pattern`, `runlevel`, `arguments` when given: systemd ignores them, the
    /// init-script path refuses them.
    sysv_only: Vec<&'static str>,
}

/// The operations for a host without systemd; outside check mode the init script must exist
/// when the task starts, stops or enables it.
pub fn sysv_plan(want: &Desired, cur: SysvState, check_mode: bool) -> Result<Vec<Op>, ModuleError> {
    if !cur.exists && !check_mode && (want.state.is_some() || want.enabled.is_some()) {
        let name = &want.name;
        return Err(ModuleError::failed(format!(
            "could not find the requested service {name}: no /etc/init.d/{name}"
        )));
    }
    sysv_ops(want, cur)
}

impl Service {
    /// The manager: the task's `use`, else the facts' `service_mgr`, else ask the host.
    fn manager(&self, facts: &Value) -> Option<Manager> {
        self.manager.or_else(|| {
            facts
                .get("service_mgr")
                .and_then(Value::as_str)
                .map(|m| match m {
                    "systemd" => Manager::Systemd,
                    _ => Manager::Sysv,
                })
        })
    }
}

#[async_trait]
impl Module for Service {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let name = &self.want.name;
        let fact = ServiceFact {
            name,
            manager: self.manager(ctx.facts),
            scope: self.scope,
        };
        let (ops, status, script) = match ctx.fact(&fact).await? {
            ServiceState::Systemd(cur) => {
                let ops = systemd_ops(&self.want, &cur, ctx.check_mode)?;
                let script = self.scope.preamble().then(&systemd_script(
                    name,
                    &ops,
                    self.want.no_block,
                ));
                let status: serde_json::Map<String, Value> = cur
                    .props
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                (ops, Value::Object(status), script)
            }
            ServiceState::Sysv(_) if !self.sysv_only.is_empty() => {
                return Err(ModuleError::args(format!(
                    "{} not supported on hosts without systemd",
                    self.sysv_only.join(", ")
                )));
            }
            ServiceState::Sysv(cur) => {
                let ops = sysv_plan(&self.want, cur, ctx.check_mode)?;
                let status = json!({"running": cur.running, "enabled": cur.enabled});
                (ops.clone(), status, sysv_script(name, &ops))
            }
        };
        let mut plan = Plan::unchanged()
            .with_result("name", json!(name))
            .with_result("status", status);
        if let Some(e) = self.want.enabled {
            plan = plan.with_result("enabled", json!(e));
        }
        let summary = ops
            .iter()
            .map(|op| match op {
                Op::DaemonReload => "daemon-reload".to_owned(),
                op => format!("{} {name}", op.verb()),
            })
            .collect();
        let action = ServiceAction {
            name: name.clone(),
            ops,
            script,
        };
        Ok(plan.with_change(summary, Vec::new(), action))
    }
}

struct ServiceAction {
    name: String,
    ops: Vec<Op>,
    script: Script,
}

#[async_trait]
impl Action for ServiceAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run(&self.script).await?;
        let verbs: Vec<&str> = self.ops.iter().map(|o| o.verb()).collect();
        server_util::check_output(
            &format!("systemctl {} {}", verbs.join("+"), self.name),
            &out,
        )?;
        Ok(Outcome::default())
    }
}

fn valid_unit_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('-')
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c))
}

/// `systemd: daemon_reload: true` without a unit: reloads systemd's configuration, which
/// Ansible reports as no change (it cannot tell whether anything was reloaded); check mode
/// does not run it.
#[derive(Clone, Copy)]
struct DaemonReload(Scope);

#[async_trait]
impl Module for DaemonReload {
    async fn plan(&self, _ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        Ok(Plan::refresh("daemon-reload", *self))
    }
}

#[async_trait]
impl Action for DaemonReload {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let script = self.0.preamble().then_text("systemctl daemon-reload");
        let out = ctx.run(&script).await?;
        server_util::check_output("systemctl daemon-reload", &out)?;
        Ok(Outcome::default())
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("service", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: ServiceArgs = parse_args(args)?;
    let scope = match a.scope.as_deref() {
        None | Some("system") => Scope::System,
        Some("user") => Scope::User,
        Some(s) => {
            return Err(ModuleError::args(format!(
                "scope `{s}` is not supported (system, user)"
            )));
        }
    };
    let Some(name) = a.name.clone() else {
        if a.daemon_reload && a.state.is_none() && a.enabled.is_none() && a.masked.is_none() {
            return Ok(Box::new(DaemonReload(scope)));
        }
        return Err(ModuleError::args(
            "missing field `name` (only `daemon_reload: true` works without one)",
        ));
    };
    if !valid_unit_name(&name) {
        return Err(ModuleError::args(format!(
            "`{name}` is not a valid unit name"
        )));
    }
    let state = match a.state.as_deref() {
        None => None,
        Some("started") | Some("running") => Some(RunState::Started),
        Some("stopped") => Some(RunState::Stopped),
        Some("restarted") => Some(RunState::Restarted),
        Some("reloaded") => Some(RunState::Reloaded),
        Some(o) => {
            return Err(ModuleError::args(format!(
                "state `{o}` is not one of started, stopped, restarted, reloaded"
            )));
        }
    };
    if state.is_none() && a.enabled.is_none() && a.masked.is_none() && !a.daemon_reload {
        return Err(ModuleError::args(
            "one of state, enabled, masked or daemon_reload is required",
        ));
    }
    let manager = match a.use_.as_deref() {
        // A user manager is systemd's.
        None | Some("auto") if scope == Scope::User => Some(Manager::Systemd),
        None | Some("auto") => None,
        Some("systemd") => Some(Manager::Systemd),
        Some("sysvinit" | "service" | "openrc" | "upstart") => Some(Manager::Sysv),
        Some(o) => {
            return Err(ModuleError::args(format!("use `{o}` is not supported")));
        }
    };
    Ok(Box::new(Service {
        want: Desired {
            name,
            state,
            enabled: a.enabled,
            daemon_reload: a.daemon_reload,
            masked: a.masked,
            no_block: a.no_block,
        },
        manager,
        scope,
        sysv_only: a.sysv_only(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW_INACTIVE: &str = "Id=redis-server@7000.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\nNeedDaemonReload=no\nResult=success\n";

    fn want(state: Option<RunState>, enabled: Option<bool>) -> Desired {
        Desired {
            name: "redis-server@7000".into(),
            state,
            enabled,
            daemon_reload: false,
            masked: None,
            no_block: false,
        }
    }

    fn unit(text: &str) -> UnitState {
        UnitState::parse(text).expect("KEY=value lines")
    }

    #[test]
    fn show_output_parses() {
        let s = unit(SHOW_INACTIVE);
        assert!(s.found());
        assert!(!s.active());
        assert!(!s.enabled());
        assert!(!s.masked());
        let s = unit("LoadState=not-found\nActiveState=inactive\nUnitFileState=\n");
        assert!(!s.found());
        let s = unit("LoadState=masked\nActiveState=inactive\nUnitFileState=masked\n");
        assert!(s.masked());
    }

    #[test]
    fn start_and_enable_only_when_needed() {
        let cur = unit(SHOW_INACTIVE);
        let ops = systemd_ops(&want(Some(RunState::Started), Some(true)), &cur, false).unwrap();
        assert_eq!(ops, [Op::Enable, Op::Start]);
        let cur = unit(
            "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no\n",
        );
        assert!(
            systemd_ops(&want(Some(RunState::Started), Some(true)), &cur, false)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            systemd_ops(&want(Some(RunState::Stopped), Some(false)), &cur, false).unwrap(),
            [Op::Disable, Op::Stop]
        );
        assert_eq!(
            systemd_ops(&want(Some(RunState::Restarted), None), &cur, false).unwrap(),
            [Op::Restart]
        );
        assert_eq!(
            systemd_ops(&want(Some(RunState::Reloaded), None), &cur, false).unwrap(),
            [Op::Reload]
        );
        let st = unit("LoadState=loaded\nActiveState=active\nUnitFileState=static\n");
        assert!(
            systemd_ops(&want(None, Some(true)), &st, false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn daemon_reload_and_missing_units() {
        let missing =
            unit("LoadState=not-found\nActiveState=inactive\nUnitFileState=\n");
        assert!(systemd_ops(&want(Some(RunState::Started), None), &missing, false).is_err());
        assert!(
            systemd_ops(&want(Some(RunState::Stopped), None), &missing, false)
                .unwrap()
                .is_empty()
        );
        // Check mode: the unit may come from an earlier task.
        assert_eq!(
            systemd_ops(&want(Some(RunState::Started), None), &missing, true).unwrap(),
            [Op::Start]
        );
        let mut w = want(Some(RunState::Started), None);
        w.daemon_reload = true;
        assert_eq!(
            systemd_ops(&w, &missing, false).unwrap(),
            [Op::DaemonReload, Op::Start]
        );
        let stale = unit(
            "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=yes\n",
        );
        assert_eq!(systemd_ops(&w, &stale, false).unwrap(), [Op::DaemonReload]);
        w.daemon_reload = false;
        assert!(systemd_ops(&w, &stale, false).unwrap().is_empty());
    }

    #[test]
    fn mask_and_unmask() {
        let masked =
            unit("LoadState=masked\nActiveState=inactive\nUnitFileState=masked\n");
        let mut w = want(Some(RunState::Started), Some(true));
        w.masked = Some(false);
        assert_eq!(
            systemd_ops(&w, &masked, false).unwrap(),
            [Op::Unmask, Op::Enable, Op::Start]
        );
        let cur = unit(SHOW_INACTIVE);
        let mut w = want(None, None);
        w.masked = Some(true);
        assert_eq!(systemd_ops(&w, &cur, false).unwrap(), [Op::Mask]);
    }

    #[test]
    fn script_checks_activity_and_reports_status() {
        let s = systemd_script(
            "redis-server@7000",
            &[Op::DaemonReload, Op::Enable, Op::Start],
            false,
        );
        assert!(s.as_str().contains("systemctl daemon-reload\n"));
        assert!(s.as_str().contains("systemctl enable -- redis-server@7000\n"));
        assert!(s.as_str().contains(
            "if ! systemctl start -- redis-server@7000; then systemctl status --no-pager -n 20"
        ));
        assert!(s.as_str().contains("show -p ActiveState,Result"));
        let s = systemd_script("x", &[Op::Stop], true);
        assert!(s.as_str().contains("systemctl stop --no-block -- x"));
        assert!(!s.as_str().contains("ActiveState"));
    }

    /// The check after a start reads both properties from one `systemctl show` (a fake one
    /// here) and fails for a unit that is not up.
    #[test]
    fn the_start_check_reads_one_show() {
        use std::os::unix::fs::PermissionsExt;
        let bin = tempfile::tempdir().unwrap();
        let fake = bin.path().join("systemctl");
        std::fs::write(
            &fake,
            "#!/bin/sh
[ \"$1 $2\" = 'show -p' ] && printf '%s\\n' \"$SHOW_A\" \"$SHOW_R\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let verify = |active: &str, result: &str| {
            let script = format!(
                "set -- x start\n{}",
                include_str!("scripts/service_verify.sh")
            );
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
                .env("SHOW_A", format!("ActiveState={active}"))
                .env("SHOW_R", format!("Result={result}"))
                .output()
                .unwrap();
            (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
        };
        assert!(verify("active", "success").0);
        assert!(verify("inactive", "success").0, "a oneshot that finished");
        let (ok, err) = verify("inactive", "exit-code");
        assert!(!ok && err.contains("x is inactive after start (result: exit-code)"), "{err}");
        let (ok, err) = verify("failed", "start-limit-hit");
        assert!(!ok && err.contains("x is failed after start (result: start-limit-hit)"), "{err}");
    }

    #[test]
    fn sysv_fallback() {
        let w = want(Some(RunState::Started), Some(true));
        let ops = sysv_ops(
            &w,
            SysvState {
                running: false,
                enabled: false,
                exists: true,
            },
        )
        .unwrap();
        assert_eq!(ops, [Op::Enable, Op::Start]);
        assert!(sysv_script("redis-server", &ops).as_str().contains("service redis-server start"));
        let mut w = w;
        w.masked = Some(true);
        assert!(
            sysv_ops(
                &w,
                SysvState {
                    running: true,
                    enabled: true,
                    exists: true
                }
            )
            .is_err()
        );
    }

    fn out(status: i32, stdout: &str) -> CommandOutput {
        crate::server_util::testing::output(status, stdout, "boom")
    }

    #[test]
    fn the_fact_reads_either_manager_and_refuses_garbage() {
        let f = ServiceFact {
            name: "redis",
            manager: None,
            scope: Scope::System,
        };
        let show = format!("manager=systemd\n{SHOW_INACTIVE}");
        assert_eq!(
            f.parse(&out(0, &show)),
            Ok(ServiceState::Systemd(unit(SHOW_INACTIVE)))
        );
        assert_eq!(
            f.parse(&out(0, "manager=sysv\nrunning=no\nenabled=yes\nexists=yes\n")),
            Ok(ServiceState::Sysv(SysvState {
                running: false,
                enabled: true,
                exists: true
            }))
        );
        let e = f.parse(&out(0, "manager=sysv\nrunning=maybe\n")).unwrap_err();
        assert_eq!(e.fact, "service redis");
        assert!(f.parse(&out(0, "manager=systemd\nLoadState\n")).is_err());
        assert!(f.parse(&out(0, "hello\n")).is_err());
        assert!(f.parse(&out(1, "manager=systemd\n")).unwrap_err().detail.contains("boom"));
    }

    #[test]
    fn scripts_are_valid_sh_and_quote_the_unit() {
        let odd = "a'b@1";
        let scripts = [
            ServiceFact {
                name: odd,
                manager: None,
                scope: Scope::User,
            }
            .script(),
            systemd_script(odd, &[Op::DaemonReload, Op::Start, Op::Enable], false),
            sysv_script(odd, &[Op::Enable, Op::Disable, Op::Start]),
            Scope::User.preamble().then(&systemd_script(odd, &[Op::Start], true)),
        ];
        for s in scripts {
            let o = std::process::Command::new("sh")
                .args(["-n", "-c", s.as_str()])
                .output()
                .expect("sh");
            assert!(o.status.success(), "{s}: {}", String::from_utf8_lossy(&o.stderr));
            assert!(s.as_str().contains(r"'a'\''b@1'"), "{s}");
        }
    }

    #[test]
    fn user_scope_talks_to_the_user_manager() {
        assert!(build(json!({"name": "x", "state": "started", "scope": "user"})).is_ok());
        assert!(build(json!({"daemon_reload": true, "scope": "user"})).is_ok());
        assert!(build(json!({"name": "x", "state": "started", "scope": "global"})).is_err());
        // `command` stands in for the real systemctl: it shows what the preamble makes of
        // a later `systemctl` line.
        let script = Scope::User.preamble().then_text("systemctl show -p Id -- x\n");
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "command() {{ shift; echo \"$XDG_RUNTIME_DIR $*\"; }}\n{script}"
            ))
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .expect("sh");
        let uid = std::process::Command::new("id").arg("-u").output().unwrap();
        let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("/run/user/{uid} --user show -p Id -- x\n")
        );
    }

    #[test]
    fn args() {
        assert!(
            build(serde_json::json!({"name": "redis-server@7000", "state": "started"})).is_ok()
        );
        assert!(build(serde_json::json!({"name": "x", "state": "bogus"})).is_err());
        assert!(build(serde_json::json!({"name": "x"})).is_err());
        assert!(build(serde_json::json!({"name": "-x", "state": "started"})).is_err());
        assert!(build(serde_json::json!({"name": "x", "enabled": "yes", "foo": 1})).is_err());
        // `service`'s own arguments (geerlingguy.mysql's handler has `sleep: 5`): Ansible
        // drops them on systemd hosts, so they are accepted (and refused on sysv hosts).
        let a = serde_json::json!({"name": "x", "state": "restarted", "sleep": 5,
            "pattern": "x", "runlevel": "3", "args": "-v"});
        let a: ServiceArgs = parse_args(a).unwrap();
        assert_eq!(a.sysv_only(), ["sleep", "pattern", "runlevel", "arguments"]);
        assert!(build(serde_json::json!({"name": "x", "state": "restarted", "sleep": 5})).is_ok());
    }
}
