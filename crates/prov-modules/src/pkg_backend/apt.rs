//! The apt backend: plans from `apt-get -s` simulations (`Inst`/`Remv`/`Purg` lines) and
//! dpkg's view of the requested names, then runs exactly the simulated command.

use std::collections::HashMap;

use async_trait::async_trait;
use prov_core::{FactError, ModuleContext, ModuleError, Script, sh};

use super::{PkgBackend, PkgChange, PkgOp, PkgPlan, PkgRequest, PkgState, split_pin};
use crate::server_util::{self, Section, Sectioned, SectionedFact, Sections};

/// apt (Debian, Ubuntu).
#[derive(Debug, Clone, Copy, Default)]
pub struct AptBackend;

impl AptBackend {
    fn common_opts(req: &PkgRequest) -> Script {
        let s = sh!(
            "-y -q -o DPkg::Lock::Timeout={} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold",
            req.lock_timeout
        );
        match &req.default_release {
            Some(r) => s.then_text(" -t").arg(r),
            None => s,
        }
    }

    /// The `install`/`remove` command line (without `apt-get`), shared by simulation and run so
    /// the prediction uses exactly the options of the real command.
    fn op_args(req: &PkgRequest, targets: &[String]) -> Script {
        let mut s = Self::common_opts(req);
        match req.state {
            PkgState::Present | PkgState::Latest => {
                match req.install_recommends {
                    Some(true) => s = s.then_text(" --install-recommends"),
                    Some(false) => s = s.then_text(" --no-install-recommends"),
                    None => {}
                }
                if req.allow_downgrade {
                    s = s.then_text(" --allow-downgrades");
                }
                s = s.then_text(" install");
            }
            PkgState::Absent => {
                s = s.then_text(" remove");
                if req.purge {
                    s = s.then_text(" --purge");
                }
            }
        }
        targets.iter().fold(s.then_text(" --"), |s, t| s.arg(t))
    }

    fn update_script(req: &PkgRequest) -> Script {
        sh!(
            "DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout={} && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp",
            req.lock_timeout
        )
    }

    async fn simulate(
        &self,
        ctx: &ModuleContext<'_>,
        req: &PkgRequest,
        targets: &[String],
    ) -> Result<SimResult, ModuleError> {
        ctx.fact(&Sectioned(AptSimulation { req, targets })).await
    }
}

/// The sections of an `apt-get -s` run: its output (`sim`) and exit status (`simrc`).
fn sim_sections(req: &PkgRequest, targets: &[String]) -> [Section; 2] {
    let sim = sh!(
        "DEBIAN_FRONTEND=noninteractive apt-get -s -o Debug::NoLocking=1 {} 2>&1; rc=$?",
        AptBackend::op_args(req, targets)
    );
    [
        Section::new("sim", sim),
        Section::new("simrc", Script::text("echo $rc")),
    ]
}

/// Reads [`sim_sections`].
fn parse_sim(s: &Sections) -> Result<SimResult, FactError> {
    let status = s
        .status_of("simrc")?
        .ok_or_else(|| s.error("apt-get -s did not run"))?;
    let mut r = parse_apt_simulation(s.get("sim")?);
    r.status = status;
    Ok(r)
}

/// What `apt-get -s` predicts for `targets`.
pub struct AptSimulation<'a> {
    /// The request (its options go on the command line).
    pub req: &'a PkgRequest,
    /// The names and pins to install or remove.
    pub targets: &'a [String],
}

impl SectionedFact for AptSimulation<'_> {
    type Output = SimResult;

    fn name(&self) -> String {
        format!("apt-get -s for {}", self.targets.join(" "))
    }

    fn sections(&self) -> Vec<Section> {
        sim_sections(self.req, self.targets).into()
    }

    fn parse_sections(&self, s: &Sections) -> Result<SimResult, FactError> {
        parse_sim(s)
    }
}

/// The apt index's age and dpkg's view of the requested names, with the simulation riding
/// along when its targets are known up front (`latest` without a refresh).
pub struct AptStatus<'a> {
    /// The request.
    pub req: &'a PkgRequest,
    /// Simulate installing every requested name too.
    pub simulate: bool,
}

/// The [`AptStatus`] answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptState {
    /// Modification times of the index stamps (one per line).
    pub stamps: String,
    /// The host's clock (`date +%s`).
    pub now: String,
    /// dpkg's view of the requested names.
    pub dpkg: HashMap<String, DpkgEntry>,
    /// The simulation, when asked.
    pub sim: Option<SimResult>,
}

impl SectionedFact for AptStatus<'_> {
    type Output = AptState;

    fn name(&self) -> String {
        "apt status".into()
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = vec![
            Section::new(
                "stamp",
                Script::text(
                    "stat -c %Y /var/lib/apt/periodic/update-success-stamp /var/lib/apt/lists 2>/dev/null",
                ),
            ),
            Section::new("now", Script::text("date +%s")),
        ];
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
        if self.simulate {
            v.extend(sim_sections(self.req, &self.req.names));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<AptState, FactError> {
        let dpkg = if self.req.names.is_empty() {
            HashMap::new()
        } else {
            parse_dpkg_query(s.get("dpkg")?)
        };
        Ok(AptState {
            stamps: s.get("stamp")?.to_owned(),
            now: s.get("now")?.to_owned(),
            dpkg,
            sim: self.simulate.then(|| parse_sim(s)).transpose()?,
        })
    }
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
}

/// Parses `apt-get -s` output: `Inst pkg [old] (new origin [arch])`, `Remv pkg [old]`,
/// `Purg pkg [old]`, and `E:` errors (with the names of unavailable packages).
pub fn parse_apt_simulation(text: &str) -> SimResult {
    let mut r = SimResult::default();
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("Inst ") {
            let mut parts = rest.splitn(2, ' ');
            let name = parts.next().unwrap_or("").to_owned();
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
            if name.is_empty() {
                continue;
            }
            r.changes.push(PkgChange {
                action: if old.is_some() {
                    PkgOp::Upgrade
                } else {
                    PkgOp::Install
                },
                name,
                version,
                old_version: old,
            });
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

/// The names/pins that still need work for `state`, given dpkg's view.
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
        // One command reads the index age and dpkg's view; for `latest` without a cache
        // refresh the simulation rides along (every name is a target).
        let inline_sim =
            req.state == PkgState::Latest && !req.update_cache && !req.names.is_empty();
        let fact = AptStatus {
            req,
            simulate: inline_sim,
        };
        let st = ctx.fact(&Sectioned(fact)).await?;
        let mut plan = PkgPlan {
            cache_update_due: cache_update_due(req, &st.stamps, &st.now),
            ..PkgPlan::default()
        };
        if plan.cache_update_due && !ctx.check_mode {
            // The refresh is part of this task's change; doing it now lets the plan name the
            // exact versions the install will bring.
            let out = ctx.run(&Self::update_script(req)).await?;
            server_util::check_output("apt-get update", &out)?;
            plan.cache_updated = true;
        }
        if req.names.is_empty() {
            return Ok(plan);
        }
        plan.targets = apt_targets(req, &st.dpkg);
        if plan.targets.is_empty() {
            return Ok(plan);
        }
        let mut sim = match st.sim {
            Some(sim) => sim,
            None => self.simulate(ctx, req, &plan.targets).await?,
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
                self.simulate(ctx, req, &rest).await?
            };
        }
        if sim.status != 0 {
            return Err(simulation_failure(req, &plan.targets, &sim));
        }
        plan.changes = sim.changes;
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
            let out = ctx.run(&Self::update_script(req)).await?;
            server_util::check_output("apt-get update", &out)?;
            output.push_str(&out.stdout_text());
        }
        if plan.changes.is_empty() && plan.unknown_until_refresh.is_empty() {
            return Ok(output);
        }
        let script = sh!(
            "DEBIAN_FRONTEND=noninteractive apt-get {}",
            Self::op_args(req, &plan.targets)
        );
        let out = ctx.run(&script).await?;
        let verb = if req.state == PkgState::Absent {
            "remove"
        } else {
            "install"
        };
        server_util::check_output(&format!("apt-get {verb} {}", plan.targets.join(" ")), &out)?;
        output.push_str(&out.stdout_text());
        Ok(output)
    }
}

/// The failure of a simulation that apt refused: the unavailable names, or apt's errors.
fn simulation_failure(req: &PkgRequest, targets: &[String], sim: &SimResult) -> ModuleError {
    if !sim.missing.is_empty() {
        return ModuleError::failed(format!(
            "no package matching {} is available ({})",
            sim.missing.join(", "),
            sim.errors.join("; ")
        ));
    }
    let detail = if sim.errors.is_empty() {
        format!("status {}", sim.status)
    } else {
        sim.errors.join("; ")
    };
    ModuleError::failed(format!(
        "apt-get cannot {} {}: {detail}",
        if req.state == PkgState::Absent {
            "remove"
        } else {
            "install"
        },
        targets.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkg_backend::PkgChange;

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
    fn options_are_shared_by_simulation_and_run() {
        let mut req = PkgRequest::new(vec!["redis-tools".into()], PkgState::Present);
        req.install_recommends = Some(false);
        let args = AptBackend::op_args(&req, &req.names).to_string();
        assert!(
            args.contains("--no-install-recommends install -- redis-tools"),
            "{args}"
        );
        assert!(args.contains("DPkg::Lock::Timeout=120"));
        assert!(args.contains("--force-confold"));
        let [sim, _] = sim_sections(&req, &req.names);
        assert!(sim.script().as_str().contains(&args));
        req.state = PkgState::Absent;
        req.purge = true;
        assert!(
            AptBackend::op_args(&req, &req.names)
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
            targets: &req.names,
        });
        let out =
            crate::server_util::testing::sh(&prov_core::Fact::script(&fact), Some(dir.path()));
        let r = prov_core::Fact::parse(&fact, &out).unwrap();
        assert_eq!(r.status, 100);
        assert_eq!(r.missing, ["foo"]);
    }
}
