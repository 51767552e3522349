//! The apt backend: plans from `apt-get -s` simulations (`Inst`/`Remv`/`Purg`/`Del` lines) and
//! dpkg's view of the requested names or `.deb` files, then runs exactly the simulated
//! commands (built by [`apt_cmd`](super::apt_cmd)).

use std::collections::HashMap;

use async_trait::async_trait;
use prov_core::{FactError, ModuleContext, ModuleError, Script};

use super::apt_cmd::{self, AptVerb};
use super::{PkgBackend, PkgChange, PkgOp, PkgPlan, PkgRequest, PkgState, split_pin};
use crate::server_util::{self, Section, Sectioned, SectionedFact, Sections};

/// apt (Debian, Ubuntu).
#[derive(Debug, Clone, Copy, Default)]
pub struct AptBackend;

/// The sections of an `apt-get -s` run of `script` (see [`apt_cmd::simulation`]): its output
/// (`NAME`) and exit status (`NAMErc`).
fn sim_sections(name: &'static str, script: Script) -> [Section; 2] {
    [
        Section::new(name, script),
        Section::new(format!("{name}rc"), Script::text("echo $rc")),
    ]
}

/// Reads [`sim_sections`].
fn parse_sim(s: &Sections, name: &str) -> Result<SimResult, FactError> {
    let status = s
        .status_of(&format!("{name}rc"))?
        .ok_or_else(|| s.error("apt-get -s did not run"))?;
    let mut r = parse_apt_simulation(s.get(name)?);
    r.status = status;
    Ok(r)
}

/// The simulation of the task's operation on `targets`.
fn operation_sim(req: &PkgRequest, verb: AptVerb, targets: &[String]) -> [Section; 2] {
    sim_sections(
        "sim",
        apt_cmd::simulation(&apt_cmd::op_args(req, verb, targets)),
    )
}

/// The simulation of `apt-get autoclean` (`Del` lines).
fn autoclean_sim(req: &PkgRequest) -> [Section; 2] {
    sim_sections("ac", apt_cmd::simulation(&apt_cmd::autoclean_args(req)))
}

/// What `apt-get -s` predicts for the task's operation on `targets` (and for `autoclean`).
pub struct AptSimulation<'a> {
    /// The request (its options go on the command line).
    pub req: &'a PkgRequest,
    /// The operation.
    pub verb: Option<AptVerb>,
    /// The names, pins or `.deb` files to install or remove.
    pub targets: &'a [String],
    /// Simulate `autoclean` too.
    pub autoclean: bool,
}

/// The [`AptSimulation`] answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    /// The operation's simulation.
    pub sim: Option<SimResult>,
    /// `autoclean`'s.
    pub autoclean: Option<SimResult>,
}

impl SectionedFact for AptSimulation<'_> {
    type Output = Simulated;

    fn name(&self) -> String {
        match self.verb {
            Some(v) if self.targets.is_empty() => format!("apt-get -s {}", v.word()),
            Some(v) => format!("apt-get -s {} {}", v.word(), self.targets.join(" ")),
            None => "apt-get -s autoclean".into(),
        }
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = Vec::new();
        if let Some(verb) = self.verb {
            v.extend(operation_sim(self.req, verb, self.targets));
        }
        if self.autoclean {
            v.extend(autoclean_sim(self.req));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<Simulated, FactError> {
        Ok(Simulated {
            sim: self.verb.map(|_| parse_sim(s, "sim")).transpose()?,
            autoclean: self.autoclean.then(|| parse_sim(s, "ac")).transpose()?,
        })
    }
}

/// The apt index's age and dpkg's view of the requested names or `.deb` files, the files
/// `clean` would delete, with the simulations riding along when their targets are known up
/// front (`upgrade`, `autoremove`, `autoclean`, `latest` without a refresh).
pub struct AptStatus<'a> {
    /// The request.
    pub req: &'a PkgRequest,
    /// The operation, simulated on every requested name when `simulate`.
    pub verb: Option<AptVerb>,
    /// Simulate the operation too.
    pub simulate: bool,
    /// Simulate `autoclean` too.
    pub autoclean: bool,
}

/// The [`AptStatus`] answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptState {
    /// Modification times of the index stamps (one per line); empty unless
    /// [`index_age_matters`].
    pub stamps: String,
    /// The host's clock (`date +%s`); empty unless [`index_age_matters`].
    pub now: String,
    /// dpkg's view of the requested names.
    pub dpkg: HashMap<String, DpkgEntry>,
    /// Each `.deb` file: what it holds and whether that version is installed, or why it
    /// cannot be read.
    pub debs: Vec<Result<DebFile, String>>,
    /// The files `clean` would delete.
    pub clean_files: Vec<String>,
    /// The simulations, when asked.
    pub simulated: Simulated,
}

impl AptStatus<'_> {
    fn probes(&self) -> Vec<Section> {
        let mut v = Vec::new();
        if !self.req.names.is_empty() {
            let query =
                Script::text("dpkg-query -W -f='${Package}\\t${Status}\\t${Version}\\n' --");
            let query = self
                .req
                .names
                .iter()
                .fold(query, |q, n| q.arg(split_pin(n).0));
            v.push(Section::new("dpkg", query.then_text(" 2>/dev/null")));
        }
        if !self.req.apt.debs.is_empty() {
            v.push(Section::new("debs", apt_cmd::deb_probe(&self.req.apt.debs)));
        }
        if self.req.apt.clean {
            v.push(Section::new("clean", apt_cmd::clean_probe()));
        }
        v
    }
}

impl SectionedFact for AptStatus<'_> {
    type Output = AptState;

    fn name(&self) -> String {
        "apt status".into()
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = Vec::new();
        if index_age_matters(self.req) {
            v.push(Section::new(
                "stamp",
                Script::text(
                    "stat -c %Y /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists 2>/dev/null",
                ),
            ));
            v.push(Section::new("now", Script::text("date +%s")));
        }
        v.extend(self.probes());
        if let Some(verb) = self.verb.filter(|_| self.simulate) {
            v.extend(operation_sim(self.req, verb, &self.req.names));
        }
        if self.autoclean {
            v.extend(autoclean_sim(self.req));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<AptState, FactError> {
        let req = self.req;
        let dpkg = if req.names.is_empty() {
            HashMap::new()
        } else {
            parse_dpkg_query(s.get("dpkg")?)
        };
        let debs = if req.apt.debs.is_empty() {
            Vec::new()
        } else {
            parse_debs(s.get("debs")?, req.apt.debs.len()).map_err(|e| s.error(e))?
        };
        let clean_files = if req.apt.clean {
            s.get("clean")?.lines().map(str::to_owned).collect()
        } else {
            Vec::new()
        };
        let (stamps, now) = if index_age_matters(req) {
            (s.get("stamp")?.to_owned(), s.get("now")?.to_owned())
        } else {
            Default::default()
        };
        Ok(AptState {
            stamps,
            now,
            dpkg,
            debs,
            clean_files,
            simulated: Simulated {
                sim: (self.simulate && self.verb.is_some())
                    .then(|| parse_sim(s, "sim"))
                    .transpose()?,
                autoclean: self.autoclean.then(|| parse_sim(s, "ac")).transpose()?,
            },
        })
    }
}

/// What a `.deb` file holds, and whether dpkg has that version installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebFile {
    /// Its package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The installed version of that package, if any.
    pub installed: Option<String>,
    /// dpkg compares the installed version equal to the file's: nothing to do.
    pub same: bool,
}

/// Parses [`apt_cmd::deb_probe`]: exactly `count` lines, `same|new|other NAME VERSION
/// INSTALLED` or `error MESSAGE`.
pub fn parse_debs(text: &str, count: usize) -> Result<Vec<Result<DebFile, String>>, String> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != count {
        return Err(format!(
            "{} lines for {count} .deb files: {text:?}",
            lines.len()
        ));
    }
    lines
        .into_iter()
        .map(|l| {
            if let Some(msg) = l.strip_prefix("error ") {
                return Ok(Err(msg.trim().to_owned()));
            }
            let w: Vec<&str> = l.split(' ').collect();
            let [state @ ("same" | "new" | "other"), name, version, installed] = w.as_slice()
            else {
                return Err(format!("unexpected .deb line `{l}`"));
            };
            Ok(Ok(DebFile {
                name: (*name).to_owned(),
                version: (*version).to_owned(),
                installed: (*installed != "-").then(|| (*installed).to_owned()),
                same: *state == "same",
            }))
        })
        .collect()
}

/// The parsed output of one `apt-get -s` run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimResult {
    /// Its exit status.
    pub status: i32,
    /// Predicted changes.
    pub changes: Vec<PkgChange>,
    /// `E:` lines and other error text.
    pub errors: Vec<String>,
    /// Names apt reports as unavailable.
    pub missing: Vec<String>,
    /// `Del NAME VERSION [SIZE]` lines (`autoclean`): `NAME VERSION`.
    pub deletes: Vec<String>,
    /// The last line that is not a package action (apt's reason when it gives no `E:` line).
    pub last_line: Option<String>,
}

/// Parses `apt-get -s` output: `Inst pkg [old] (new origin [arch])`, `Remv pkg [old]`,
/// `Purg pkg [old]`, `Del pkg version [size]`, and `E:` errors (with the names of unavailable
/// packages).
pub fn parse_apt_simulation(text: &str) -> SimResult {
    let mut r = SimResult::default();
    for line in text.lines() {
        let line = line.trim_end();
        if !line.is_empty()
            && !["Inst ", "Conf ", "Remv ", "Purg ", "Del "]
                .iter()
                .any(|p| line.starts_with(p))
        {
            r.last_line = Some(line.to_owned());
        }
        if let Some(rest) = line.strip_prefix("Del ") {
            let what = rest.split(" [").next().unwrap_or(rest);
            r.deletes.push(what.to_owned());
        } else if let Some(rest) = line.strip_prefix("Inst ") {
            r.changes.extend(parse_inst(rest));
        } else if let Some((op, rest)) = line
            .strip_prefix("Remv ")
            .map(|r| (PkgOp::Remove, r))
            .or_else(|| line.strip_prefix("Purg ").map(|r| (PkgOp::Purge, r)))
        {
            let mut parts = rest.splitn(2, ' ');
            let name = parts.next().unwrap_or("").to_owned();
            let version = parts
                .next()
                .and_then(|v| v.strip_prefix('['))
                .and_then(|v| v.split(']').next())
                .unwrap_or("")
                .to_owned();
            if !name.is_empty() {
                r.changes.push(PkgChange {
                    action: op,
                    name,
                    version,
                    old_version: None,
                });
            }
        } else if let Some(err) = line.strip_prefix("E: ") {
            r.errors.push(err.to_owned());
            if let Some(n) = err.strip_prefix("Unable to locate package ") {
                r.missing.push(n.trim().to_owned());
            } else if let Some(rest) = err.strip_prefix("Version '") {
                // Version 'x' for 'name' was not found
                if let Some(n) = rest
                    .split("' for '")
                    .nth(1)
                    .and_then(|s| s.split('\'').next())
                {
                    r.missing.push(n.to_owned());
                }
            } else if let Some(rest) = err.strip_prefix("Package '") {
                // Package 'name' has no installation candidate
                if let Some(n) = rest.split('\'').next() {
                    r.missing.push(n.to_owned());
                }
            }
        } else if line.starts_with("Package ") && line.contains(" is not available") {
            r.errors.push(line.to_owned());
        }
    }
    r
}

/// An `Inst pkg [old] (new origin [arch])` line, after `Inst `.
fn parse_inst(rest: &str) -> Option<PkgChange> {
    let mut parts = rest.splitn(2, ' ');
    let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
    let rest = parts.next().unwrap_or("");
    let (old, rest) = match rest.strip_prefix('[') {
        Some(r) => match r.split_once(']') {
            Some((old, after)) => (Some(old.to_owned()), after.trim_start()),
            None => (None, rest),
        },
        None => (None, rest),
    };
    let version = rest
        .strip_prefix('(')
        .and_then(|r| r.split([' ', ')']).next())
        .unwrap_or("")
        .to_owned();
    Some(PkgChange {
        action: if old.is_some() {
            PkgOp::Upgrade
        } else {
            PkgOp::Install
        },
        name,
        version,
        old_version: old,
    })
}

/// One package as `dpkg-query` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgEntry {
    /// Fully installed.
    pub installed: bool,
    /// Removed, configuration files left (`rc`).
    pub config_files: bool,
    /// The version dpkg knows.
    pub version: String,
}

/// Parses `dpkg-query -W -f='${Package}\t${Status}\t${Version}\n'` output.
pub fn parse_dpkg_query(text: &str) -> std::collections::HashMap<String, DpkgEntry> {
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        let mut f = line.split('\t');
        let (Some(name), Some(status), Some(version)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        // `want flag status`: `install ok installed`, `hold ok installed`, `deinstall ok config-files`.
        let state = status.split_whitespace().nth(2).unwrap_or("");
        let installed = state == "installed";
        let config_files = state == "config-files";
        let entry = DpkgEntry {
            installed,
            config_files,
            version: version.to_owned(),
        };
        // Several architectures of one name: keep an installed one.
        match out.get(name) {
            Some(DpkgEntry {
                installed: true, ..
            }) => {}
            _ => {
                out.insert(name.to_owned(), entry);
            }
        }
    }
    out
}

/// True when `version` satisfies a pin (`*` at the end matches any suffix).
pub fn version_matches(pin: &str, version: &str) -> bool {
    match pin.strip_suffix('*') {
        Some(prefix) => version.starts_with(prefix),
        None => pin == version,
    }
}

/// The names/pins that still need work for `state`, given dpkg's view (with `only_upgrade`,
/// names not installed are skipped, as Ansible skips them).
pub fn apt_targets(
    req: &PkgRequest,
    dpkg: &std::collections::HashMap<String, DpkgEntry>,
) -> Vec<String> {
    req.names
        .iter()
        .filter(|spec| {
            let (name, pin) = split_pin(spec);
            let base = name.split(':').next().unwrap_or(name);
            let entry = dpkg.get(name).or_else(|| dpkg.get(base));
            let installed = entry.is_some_and(|e| e.installed);
            if req.apt.only_upgrade && !installed && req.state != PkgState::Absent {
                return false;
            }
            match req.state {
                PkgState::Latest => true,
                PkgState::Present => match (entry, pin) {
                    (Some(e), None) => !e.installed,
                    (Some(e), Some(p)) => !(e.installed && version_matches(p, &e.version)),
                    (None, _) => true,
                },
                PkgState::Absent => {
                    entry.is_some_and(|e| e.installed || (req.purge && e.config_files))
                }
            }
        })
        .cloned()
        .collect()
}

/// True when the index's age decides something (`update_cache` with a `cache_valid_time`): only
/// then does the status probe read the index stamps and the host's clock.
pub fn index_age_matters(req: &PkgRequest) -> bool {
    req.update_cache && req.cache_valid_time.unwrap_or(0) > 0
}

/// True when the apt index must be refreshed (`update_cache` and older than `cache_valid_time`).
pub fn cache_update_due(req: &PkgRequest, stamps: &str, now: &str) -> bool {
    if !req.update_cache {
        return false;
    }
    let valid = req.cache_valid_time.unwrap_or(0);
    if valid == 0 {
        return true;
    }
    let newest = stamps
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .max();
    match (newest, now.trim().parse::<u64>()) {
        (Some(t), Ok(now)) => now.saturating_sub(t) > valid,
        _ => true,
    }
}

/// True when `autoclean` acts: as in Ansible, only in a task that names no package and does
/// not upgrade.
pub fn autoclean_applies(req: &PkgRequest) -> bool {
    req.apt.autoclean && !req.names_packages() && req.apt.upgrade.is_none()
}

/// True when the status probe can simulate the operation at once: its targets do not depend
/// on dpkg's view (`upgrade`, `autoremove`, `latest` of every name) and no index refresh
/// would make the simulation stale.
fn simulate_at_once(req: &PkgRequest, verb: Option<AptVerb>) -> bool {
    match verb {
        Some(AptVerb::Upgrade(_) | AptVerb::AutoRemove) => true,
        Some(AptVerb::Install) => {
            req.state == PkgState::Latest
                && !req.update_cache
                && req.apt.debs.is_empty()
                && !req.apt.only_upgrade
        }
        _ => false,
    }
}

impl AptBackend {
    async fn simulate(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
        verb: AptVerb,
        targets: &[String],
    ) -> Result<SimResult, ModuleError> {
        let fact = AptSimulation {
            req,
            verb: Some(verb),
            targets,
            autoclean: false,
        };
        let sim = ctx.fact(&Sectioned(fact)).await?.sim;
        sim.ok_or_else(|| ModuleError::failed("apt-get -s gave no answer"))
    }

    /// In a real run, the due index refresh and cache clean happen while planning, as Ansible
    /// does them before anything else; the plan then names the versions the fresh index
    /// brings.
    async fn refresh_and_clean(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
        plan: &mut PkgPlan,
    ) -> Result<(), ModuleError> {
        if ctx.check_mode {
            return Ok(());
        }
        if plan.cache_update_due {
            let out = ctx.run(&apt_cmd::update(req)).await?;
            server_util::check_output("apt-get update", &out)?;
            plan.cache_updated = true;
        }
        if plan.clean_due {
            let out = ctx.run(&apt_cmd::clean()).await?;
            server_util::check_output("apt-get clean", &out)?;
            plan.cleaned = true;
        }
        Ok(())
    }

    /// The names (and pins) still needing work, and what apt does to them.
    async fn plan_names(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
        verb: AptVerb,
        st: AptState,
        plan: &mut PkgPlan,
    ) -> Result<(), ModuleError> {
        plan.targets = apt_targets(req, &st.dpkg);
        if plan.targets.is_empty() {
            return Ok(());
        }
        let mut sim = match st.simulated.sim {
            Some(sim) if !plan.cache_updated => sim,
            _ => self.simulate(ctx, req, verb, &plan.targets).await?,
        };
        if sim.status != 0
            && !sim.missing.is_empty()
            && plan.cache_update_due
            && !plan.cache_updated
        {
            // Check mode with a stale index: names unknown now may appear after the refresh.
            let (unknown, rest): (Vec<String>, Vec<String>) = plan
                .targets
                .iter()
                .cloned()
                .partition(|t| sim.missing.iter().any(|m| m == split_pin(t).0));
            plan.unknown_until_refresh = unknown;
            sim = if rest.is_empty() {
                SimResult::default()
            } else {
                self.simulate(ctx, req, verb, &rest).await?
            };
        }
        plan.changes = checked(sim, verb, &plan.targets)?.changes;
        Ok(())
    }

    /// The `.deb` files whose version is not installed, and what apt does to install them.
    async fn plan_debs(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
        debs: Vec<Result<DebFile, String>>,
        plan: &mut PkgPlan,
    ) -> Result<(), ModuleError> {
        for (path, deb) in req.apt.debs.iter().zip(debs) {
            match deb {
                Err(why) => {
                    return Err(ModuleError::failed(format!("cannot read {path}: {why}")));
                }
                Ok(d) if d.same => {}
                Ok(_) => plan.targets.push(path.clone()),
            }
        }
        if plan.targets.is_empty() {
            return Ok(());
        }
        let sim = self
            .simulate(ctx, req, AptVerb::Install, &plan.targets)
            .await?;
        plan.changes = checked(sim, AptVerb::Install, &plan.targets)?.changes;
        Ok(())
    }
}

/// The simulation when apt accepted it, else the failure naming what apt refused.
fn checked(sim: SimResult, verb: AptVerb, targets: &[String]) -> Result<SimResult, ModuleError> {
    if sim.status == 0 {
        Ok(sim)
    } else {
        Err(simulation_failure(verb, targets, &sim))
    }
}

#[async_trait]
impl PkgBackend for AptBackend {
    fn name(&self) -> &'static str {
        "apt"
    }

    async fn plan(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
    ) -> Result<PkgPlan, ModuleError> {
        // One command reads the index age, dpkg's view and the cache, and runs the simulations
        // whose targets are known up front: a task that changes nothing costs one round trip.
        let verb = AptVerb::of(req);
        let fact = AptStatus {
            req,
            verb,
            simulate: simulate_at_once(req, verb),
            autoclean: autoclean_applies(req),
        };
        let mut st = ctx.fact(&Sectioned(fact)).await?;
        let mut plan = PkgPlan {
            cache_update_due: cache_update_due(req, &st.stamps, &st.now),
            clean_due: !st.clean_files.is_empty(),
            ..PkgPlan::default()
        };
        self.refresh_and_clean(ctx, req, &mut plan).await?;
        if plan.cache_updated {
            // Simulated on the old index: simulate again (below, or here for autoclean).
            st.simulated.sim = None;
            if autoclean_applies(req) {
                let fact = AptSimulation {
                    req,
                    verb: None,
                    targets: &[],
                    autoclean: true,
                };
                st.simulated.autoclean = ctx.fact(&Sectioned(fact)).await?.autoclean;
            }
        }
        if let Some(ac) = st.simulated.autoclean.take() {
            if ac.status != 0 {
                let why = reason(&ac);
                return Err(ModuleError::failed(format!(
                    "apt-get cannot autoclean: {why}"
                )));
            }
            plan.autoclean = ac.deletes;
        }
        match verb {
            None => {}
            Some(v @ (AptVerb::Upgrade(_) | AptVerb::AutoRemove)) => {
                let sim = match st.simulated.sim {
                    Some(sim) => sim,
                    None => self.simulate(ctx, req, v, &[]).await?,
                };
                plan.changes = checked(sim, v, &[])?.changes;
            }
            Some(AptVerb::Install) if !req.apt.debs.is_empty() => {
                self.plan_debs(ctx, req, st.debs, &mut plan).await?;
            }
            Some(v) => self.plan_names(ctx, req, v, st, &mut plan).await?,
        }
        Ok(plan)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
        plan: &PkgPlan,
    ) -> Result<String, ModuleError> {
        let mut output = String::new();
        if plan.cache_update_due && !plan.cache_updated {
            let out = ctx.run(&apt_cmd::update(req)).await?;
            server_util::check_output("apt-get update", &out)?;
            output.push_str(&out.stdout_text());
        }
        if plan.clean_due && !plan.cleaned {
            let out = ctx.run(&apt_cmd::clean()).await?;
            server_util::check_output("apt-get clean", &out)?;
        }
        if !plan.changes.is_empty() || !plan.unknown_until_refresh.is_empty() {
            let verb = AptVerb::of(req).ok_or_else(|| {
                ModuleError::failed("apt: a change was planned without a command")
            })?;
            let args = apt_cmd::op_args(req, verb, &plan.targets);
            let out = ctx.run(&apt_cmd::real(req, &args)).await?;
            let what = format!("apt-get {} {}", verb.word(), plan.targets.join(" "));
            server_util::check_output(what.trim_end(), &out)?;
            output.push_str(&out.stdout_text());
        }
        if !plan.autoclean.is_empty() {
            let out = ctx
                .run(&apt_cmd::real(req, &apt_cmd::autoclean_args(req)))
                .await?;
            server_util::check_output("apt-get autoclean", &out)?;
            output.push_str(&out.stdout_text());
        }
        Ok(output)
    }
}

/// The failure of a simulation that apt refused: the unavailable names, or apt's errors.
fn simulation_failure(verb: AptVerb, targets: &[String], sim: &SimResult) -> ModuleError {
    if !sim.missing.is_empty() {
        return ModuleError::failed(format!(
            "no package matching {} is available ({})",
            sim.missing.join(", "),
            sim.errors.join("; ")
        ));
    }
    let what = format!("{} {}", verb.word(), targets.join(" "));
    ModuleError::failed(format!(
        "apt-get cannot {}: {}",
        what.trim_end(),
        reason(sim)
    ))
}

/// Why apt refused a simulation: its `E:` lines, else its last line of text.
fn reason(sim: &SimResult) -> String {
    match (sim.errors.is_empty(), &sim.last_line) {
        (false, _) => sim.errors.join("; "),
        (true, Some(line)) => format!("{line} (status {})", sim.status),
        (true, None) => format!("status {}", sim.status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg_backend::{PkgChange, UpgradeMode};

    const SIM: &str = "NOTE: This is only a simulation!\n\
Reading package lists...\n\
The following NEW packages will be installed:\n  libjemalloc2 redis-tools\n\
Inst libjemalloc2 (5.3.0-1 Debian:12.11/stable [amd64])\n\
Inst redis-tools (5:7.0.15-1~deb12u4 Debian:12.11/stable, Debian-Security:12/stable-security [amd64])\n\
Inst libappstream4 [0.16.1-2] (0.16.1-2+b1 Debian:12.15/oldstable [amd64])\n\
Conf libjemalloc2 (5.3.0-1 Debian:12.11/stable [amd64])\n\
Conf redis-tools (5:7.0.15-1~deb12u4 Debian:12.11/stable [amd64])\n";

    #[test]
    fn simulation_lists_installs_and_upgrades() {
        let r = parse_apt_simulation(SIM);
        assert_eq!(r.changes.len(), 3);
        assert_eq!(r.changes[0].summary(), "install libjemalloc2 5.3.0-1");
        assert_eq!(
            r.changes[1].summary(),
            "install redis-tools 5:7.0.15-1~deb12u4"
        );
        assert_eq!(
            r.changes[2].summary(),
            "upgrade libappstream4 0.16.1-2 -> 0.16.1-2+b1"
        );
        assert!(r.errors.is_empty());
    }

    #[test]
    fn simulation_lists_removals() {
        let r = parse_apt_simulation(
            "Remv redis-server [5:7.0.15-1]\nPurg redis-tools [5:7.0.15-1]\nPurg libfoo:amd64 [1.2] [bar ]\n",
        );
        let s: Vec<String> = r.changes.iter().map(PkgChange::summary).collect();
        assert_eq!(
            s,
            [
                "remove redis-server 5:7.0.15-1",
                "purge redis-tools 5:7.0.15-1",
                "purge libfoo:amd64 1.2"
            ]
        );
    }

    #[test]
    fn simulation_errors_name_missing_packages() {
        let r = parse_apt_simulation(
            "Reading package lists...\nE: Unable to locate package nosuchpkg\nE: Version '0.1' for 'nftables' was not found\nE: Package 'ghost' has no installation candidate\n",
        );
        assert_eq!(r.missing, ["nosuchpkg", "nftables", "ghost"]);
        assert_eq!(r.errors.len(), 3);
        assert!(r.changes.is_empty());
    }

    #[test]
    fn present_skips_installed_and_matching_pins() {
        let dpkg = parse_dpkg_query(
            "redis-tools\tinstall ok installed\t5:7.0.15-1\nnano\tdeinstall ok config-files\t7.2-1\ncurl\tinstall ok installed\t7.88.1-10\n",
        );
        let mut req = PkgRequest::new(
            vec![
                "redis-tools".into(),
                "nano".into(),
                "curl=7.88.1-11".into(),
                "vim".into(),
                "redis-tools=5:7.0*".into(),
            ],
            PkgState::Present,
        );
        assert_eq!(apt_targets(&req, &dpkg), ["nano", "curl=7.88.1-11", "vim"]);
        req.state = PkgState::Absent;
        assert_eq!(
            apt_targets(&req, &dpkg),
            ["redis-tools", "curl=7.88.1-11", "redis-tools=5:7.0*"]
        );
        req.purge = true;
        assert_eq!(
            apt_targets(&req, &dpkg),
            [
                "redis-tools",
                "nano",
                "curl=7.88.1-11",
                "redis-tools=5:7.0*"
            ]
        );
        req.state = PkgState::Latest;
        assert_eq!(apt_targets(&req, &dpkg).len(), 5);
    }

    #[test]
    fn cache_age_decides_the_refresh() {
        let mut req = PkgRequest::new(vec![], PkgState::Present);
        assert!(!cache_update_due(&req, "100\n", "200\n"));
        req.update_cache = true;
        assert!(
            cache_update_due(&req, "100\n", "200\n"),
            "no valid time: always"
        );
        req.cache_valid_time = Some(3600);
        assert!(!cache_update_due(&req, "100\n150\n", "3700\n"));
        assert!(cache_update_due(&req, "100\n", "3701\n"));
        assert!(cache_update_due(&req, "", "3701\n"), "no index: due");
    }

    #[test]
    fn the_index_age_is_read_only_when_it_decides() {
        let names = |req: &PkgRequest| -> Vec<String> {
            let status = AptStatus {
                req,
                verb: None,
                simulate: false,
                autoclean: false,
            };
            status
                .sections()
                .iter()
                .map(|s| s.name().to_owned())
                .collect()
        };
        let mut req = PkgRequest::new(vec!["zip".into()], PkgState::Present);
        assert_eq!(names(&req), ["dpkg"]);
        req.update_cache = true;
        assert_eq!(names(&req), ["dpkg"], "refreshed anyway: its age is moot");
        req.cache_valid_time = Some(3600);
        assert_eq!(names(&req), ["stamp", "now", "dpkg"]);
    }

    #[test]
    fn options_are_shared_by_simulation_and_run() {
        let mut req = PkgRequest::new(vec!["redis-tools".into()], PkgState::Present);
        req.install_recommends = Some(false);
        let args = apt_cmd::op_args(&req, AptVerb::Install, &req.names).to_string();
        assert!(
            args.contains("--no-install-recommends install -- redis-tools"),
            "{args}"
        );
        assert!(args.contains("DPkg::Lock::Timeout=120"));
        assert!(args.contains("--force-confold"));
        let [sim, _] = operation_sim(&req, AptVerb::Install, &req.names);
        assert!(sim.script().as_str().contains(&args));
        let real = apt_cmd::real(&req, &apt_cmd::op_args(&req, AptVerb::Install, &req.names));
        assert!(real.as_str().contains(&args));
        req.state = PkgState::Absent;
        req.purge = true;
        assert!(
            apt_cmd::op_args(&req, AptVerb::Remove, &req.names)
                .as_str()
                .ends_with("remove --purge -- redis-tools")
        );
    }

    #[test]
    fn simulation_script_reports_apt_status() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("apt-get");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'Reading package lists...'\necho 'E: Unable to locate package foo' >&2\nexit 100\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let req = PkgRequest::new(vec!["foo".into()], PkgState::Present);
        let fact = Sectioned(AptSimulation {
            req: &req,
            verb: Some(AptVerb::Install),
            targets: &req.names,
            autoclean: true,
        });
        let out =
            crate::server_util::testing::sh(&prov_core::Fact::script(&fact), Some(dir.path()));
        let r = prov_core::Fact::parse(&fact, &out).unwrap();
        let sim = r.sim.unwrap();
        assert_eq!(sim.status, 100);
        assert_eq!(sim.missing, ["foo"]);
        assert_eq!(r.autoclean.unwrap().status, 100, "both simulations ran");
    }

    /// Fake commands in a temporary `PATH` directory.
    fn fake_bin(scripts: &[(&str, &str)]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in scripts {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    #[test]
    fn the_deb_probe_reads_files_and_compares_versions() {
        // dpkg-deb reads the files; dpkg-query has demo 1.0 and old 2.0 installed; dpkg
        // compares versions equal when the strings are.
        let bin = fake_bin(&[
            (
                "dpkg-deb",
                r#"case "$4" in /x/demo.deb) printf 'demo 1.0';; /x/old.deb) printf 'old 1.5';; /x/new.deb) printf 'fresh 3';; *) echo "dpkg-deb: error: failed to read archive '$4': No such file or directory" >&2; exit 2;; esac"#,
            ),
            (
                "dpkg-query",
                r#"case "$4" in demo) echo 'installed 1.0';; old) echo 'config-files 0.1'; echo 'installed 2.0';; *) exit 1;; esac"#,
            ),
            ("dpkg", r#"[ "$2" = "$4" ]"#),
        ]);
        let debs: Vec<String> = ["/x/demo.deb", "/x/old.deb", "/x/new.deb", "/x/gone.deb"]
            .map(String::from)
            .to_vec();
        let out = crate::server_util::testing::sh(&apt_cmd::deb_probe(&debs), Some(bin.path()));
        let parsed = parse_debs(&out.stdout_text(), 4).unwrap();
        let d = |n: &str, v: &str, i: Option<&str>, same| {
            Ok(DebFile {
                name: n.into(),
                version: v.into(),
                installed: i.map(String::from),
                same,
            })
        };
        assert_eq!(parsed[0], d("demo", "1.0", Some("1.0"), true));
        assert_eq!(parsed[1], d("old", "1.5", Some("2.0"), false));
        assert_eq!(parsed[2], d("fresh", "3", None, false));
        let err = parsed[3].clone().unwrap_err();
        assert!(err.contains("No such file"), "{err}");
        // A short or garbled answer is an error, never a default.
        assert!(parse_debs(&out.stdout_text(), 5).is_err());
        assert!(parse_debs("maybe demo 1.0 -\n", 1).is_err());
    }

    /// Captured from Debian 12 (lab1): `apt-get -s -y dist-upgrade --auto-remove` with an old
    /// whois installed and liblzf1 left over.
    const DIST_UPGRADE: &str = "Reading package lists...\nBuilding dependency tree...\n\
Reading state information...\nCalculating upgrade...\nThe following packages will be REMOVED:\n\
  liblzf1\nThe following packages will be upgraded:\n  whois\n\
1 upgraded, 0 newly installed, 1 to remove and 0 not upgraded.\n\
Remv liblzf1 [3.6-3]\nInst whois [5.5.16] (5.5.17 localhost [amd64])\nConf whois (5.5.17 localhost [amd64])\n";

    #[test]
    fn upgrades_and_cleanups_parse_from_captured_output() {
        let r = parse_apt_simulation(DIST_UPGRADE);
        let s: Vec<String> = r.changes.iter().map(PkgChange::summary).collect();
        assert_eq!(
            s,
            ["remove liblzf1 3.6-3", "upgrade whois 5.5.16 -> 5.5.17"]
        );
        // Nothing to upgrade.
        let none = parse_apt_simulation(
            "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
        );
        assert!(none.changes.is_empty() && none.errors.is_empty());
        // `apt-get -s autoclean`: the files it deletes.
        let ac = parse_apt_simulation(
            "Reading package lists...\nBuilding dependency tree...\nReading state information...\nDel prov-apt-gone 1.0 [640 B]\nDel libfoo1:amd64 2.0-1 [12.5 kB]\n",
        );
        assert_eq!(ac.deletes, ["prov-apt-gone 1.0", "libfoo1:amd64 2.0-1"]);
        assert!(ac.changes.is_empty());
        // apt's refusals without an `E:` line keep their reason.
        let refused = SimResult {
            status: 100,
            ..parse_apt_simulation(
                "Reading state information...\nCalculating upgrade...\nWe are not supposed to delete stuff, can't start AutoRemover\n",
            )
        };
        let e = simulation_failure(AptVerb::Upgrade(UpgradeMode::Dist), &[], &refused).to_string();
        assert!(
            e.contains("dist-upgrade: We are not supposed to delete stuff"),
            "{e}"
        );
        let held = parse_apt_simulation(
            "The following held packages will be changed:\n  whois\nE: Held packages were changed and -y was used without --allow-change-held-packages.\n",
        );
        assert_eq!(held.errors.len(), 1);
    }

    #[test]
    fn only_upgrade_skips_names_not_installed() {
        let dpkg = parse_dpkg_query(
            "whois\tinstall ok installed\t5.5.16\nnano\tdeinstall ok config-files\t7.2-1\n",
        );
        let mut req = PkgRequest::new(
            vec!["whois".into(), "nano".into(), "memcached".into()],
            PkgState::Latest,
        );
        req.apt.only_upgrade = true;
        assert_eq!(apt_targets(&req, &dpkg), ["whois"]);
        req.state = PkgState::Present;
        assert!(apt_targets(&req, &dpkg).is_empty());
        req.names.push("whois=5.5.17".into());
        assert_eq!(apt_targets(&req, &dpkg), ["whois=5.5.17"]);
    }

    #[test]
    fn what_is_simulated_at_once() {
        let mut req = PkgRequest::new(vec![], PkgState::Present);
        req.apt.upgrade = Some(UpgradeMode::Safe);
        req.update_cache = true;
        assert!(
            simulate_at_once(&req, AptVerb::of(&req)),
            "upgrade: re-simulated after a refresh"
        );
        let mut latest = PkgRequest::new(vec!["x".into()], PkgState::Latest);
        assert!(simulate_at_once(&latest, AptVerb::of(&latest)));
        latest.apt.only_upgrade = true;
        assert!(
            !simulate_at_once(&latest, AptVerb::of(&latest)),
            "targets depend on dpkg"
        );
        let present = PkgRequest::new(vec!["x".into()], PkgState::Present);
        assert!(!simulate_at_once(&present, AptVerb::of(&present)));
        let mut ac = PkgRequest::new(vec![], PkgState::Present);
        ac.apt.autoclean = true;
        assert!(autoclean_applies(&ac));
        ac.apt.upgrade = Some(UpgradeMode::Dist);
        assert!(
            !autoclean_applies(&ac),
            "Ansible ignores autoclean with upgrade"
        );
    }
}
