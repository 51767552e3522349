//! `service_facts`: the host's services as `ansible_facts.services`, computed as Ansible's
//! module computes them on a Debian host with systemd.
//!
//! The same commands run on the host (with `LANG`/`LC_ALL` set to `C.UTF-8` as Ansible's
//! parsable locale) and their output is parsed with Ansible's rules:
//!
//! - `service --status-all` (when `service` exists and neither `chkconfig` nor `rc-status`
//!   does): every `[ + ] NAME` / `[ - ] NAME` line gives `NAME` → `{name, state:
//!   running|stopped, source: sysv}` (no `status`);
//! - when systemd is the init system (`/run/systemd/system/` or PID 1 named `systemd`):
//!   `systemctl list-units --no-pager --type service --all --plain` gives `NAME.service` →
//!   `{name, state, status, source: systemd}`, `state` `running` when the SUB column says so
//!   (else `stopped`), `status` `not-found`, `masked` or `failed` when one of those words is
//!   among the fields but the last, else the ACTIVE column; then
//!   `systemctl list-unit-files --no-pager --type service --all` sets `status` to the unit file
//!   state (unless it was one of the bad states) and adds the unit files not loaded, their
//!   `state` being `systemctl show NAME --property=ActiveState` (`unknown` when that fails).
//!
//! Upstart, chkconfig and OpenRC listings are not implemented (not on Debian). When Ansible
//! finds several bad states on one line it picks one in its set's hash order (not fixed across
//! runs); prov checks `not-found`, `masked`, `failed` in that order.

use async_trait::async_trait;
use prov_core::{FactError, Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::parse_args;
use crate::server_util::{Section, Sectioned, SectionedFact, Sections};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {}

const BAD_STATES: [&str; 3] = ["not-found", "masked", "failed"];

const PRELUDE: &str =
    "export LANG=C.UTF-8 LC_ALL=C.UTF-8\nPATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin";

/// Python's `str.split()`: runs of Unicode whitespace (including `\x1c`..`\x1f`).
fn py_split(s: &str) -> Vec<&str> {
    s.split(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
        .filter(|p| !p.is_empty())
        .collect()
}

/// `service --status-all` lines (Ansible's `_list_sysvinit`).
pub fn parse_sysv(stdout: &str, services: &mut Map<String, Value>) {
    let re = regex::Regex::new(r"(?m)^\s*\[ (\+|-) \]\s+(.+)$").expect("static regex");
    for c in re.captures_iter(stdout) {
        let name = c[2].to_owned();
        let state = if &c[1] == "+" { "running" } else { "stopped" };
        services.insert(
            name.clone(),
            json!({"name": name, "state": state, "source": "sysv"}),
        );
    }
}

/// `systemctl list-units` lines (Ansible's `_list_from_units`).
pub fn parse_units(stdout: &str, services: &mut Map<String, Value>) -> Result<(), String> {
    for line in stdout.split('\n').filter(|l| l.contains(".service")) {
        let fields = py_split(line);
        let head = &fields[..fields.len().saturating_sub(1)];
        let status = match BAD_STATES.iter().find(|b| head.contains(b)) {
            Some(b) => (*b).to_owned(),
            None => (*fields.get(2).ok_or_else(|| malformed(line))?).to_owned(),
        };
        if fields.len() < 4 {
            return Err(malformed(line));
        }
        let state = if fields[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        let name = fields[0].to_owned();
        services.insert(
            name.clone(),
            json!({"name": name, "state": state, "status": status, "source": "systemd"}),
        );
    }
    Ok(())
}

fn malformed(line: &str) -> String {
    format!("Malformed output discovered from systemd: {line}")
}

/// `systemctl list-unit-files` lines (Ansible's `_list_from_unit_files`): updates `status` of
/// known units, adds the others with state `unknown` and returns their names, whose state
/// `systemctl show` gives.
pub fn parse_unit_files(
    stdout: &str,
    services: &mut Map<String, Value>,
) -> Result<Vec<String>, String> {
    let mut to_show = Vec::new();
    for line in stdout.split('\n').filter(|l| l.contains(".service")) {
        let f = py_split(line);
        let [name, status, ..] = f.as_slice() else {
            return Err(format!(
                "Malformed output discovered from systemd list-unit-files: {line}"
            ));
        };
        match services.get_mut(*name) {
            None => {
                services.insert(
                    (*name).to_owned(),
                    json!({"name": name, "state": "unknown", "status": status, "source": "systemd"}),
                );
                to_show.push((*name).to_owned());
            }
            Some(v) => {
                let bad = v
                    .get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| BAD_STATES.contains(&s));
                if !bad {
                    v["status"] = json!(status);
                }
            }
        }
    }
    Ok(to_show)
}

/// The state Ansible takes from `systemctl show NAME --property=ActiveState`.
pub fn active_state(rc: &str, stdout: &str) -> String {
    if rc.trim() == "0" && !stdout.is_empty() {
        stdout.replace("ActiveState=", "").trim_end().to_owned()
    } else {
        "unknown".into()
    }
}

/// Decides, before the sections, which listings run: `sv` when `service` is the tool (neither
/// `chkconfig` nor `rc-status`), `sd` when systemd is the init system.
const LISTING_PRELUDE: &str = r#"have() { command -v "$1" >/dev/null 2>&1; }
sv=; sd=
if have service && ! have chkconfig && ! have rc-status; then sv=1; fi
if have systemctl && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ] || [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }; then sd=1; fi"#;

/// The listings Ansible's module reads: `service --status-all`, `systemctl list-units` and
/// `systemctl list-unit-files`, each with its exit status (`None`: not run).
pub struct ServiceListings;

/// One listing's exit status and output.
pub type Listing = Option<(i32, String)>;

/// The [`ServiceListings`] answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listings {
    /// `service --status-all` (not run, or exit 4 without `/etc/init.d`: `None`).
    pub sysv: Listing,
    /// `systemctl list-units` (`None` without systemd).
    pub units: Listing,
    /// `systemctl list-unit-files` (`None` without systemd).
    pub files: Listing,
}

impl SectionedFact for ServiceListings {
    type Output = Listings;

    fn name(&self) -> String {
        "service listings".into()
    }

    fn prelude(&self) -> Script {
        Script::text(PRELUDE).then(&Script::text(LISTING_PRELUDE))
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = vec![
            Section::new(
                "sysv",
                Script::text(
                    "rc=none
if [ -n \"$sv\" ]; then
  o=$(service --status-all 2>/dev/null); rc=$?
  \
                     if [ $rc -eq 4 ] && [ ! -e /etc/init.d ]; then rc=none; else printf '%s\\n' \"$o\"; fi
fi",
                ),
            ),
            Section::new("sysv_rc", Script::text("echo $rc")),
        ];
        for (name, rc, cmd) in [
            (
                "units",
                "units_rc",
                Script::text("systemctl list-units --no-pager --type service --all --plain"),
            ),
            (
                "files",
                "files_rc",
                Script::text("systemctl list-unit-files --no-pager --type service --all"),
            ),
        ] {
            let run = sh!(
                "rc=none\nif [ -n \"$sd\" ]; then {} 2>/dev/null; rc=$?; fi",
                cmd
            );
            v.push(Section::new(name, run));
            v.push(Section::new(rc, Script::text("echo $rc")));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<Listings, FactError> {
        let listing = |name: &str, rc: &str| -> Result<Listing, FactError> {
            match s.status_of(rc)? {
                Some(code) => Ok(Some((code, s.get(name)?.to_owned()))),
                None => Ok(None),
            }
        };
        Ok(Listings {
            sysv: listing("sysv", "sysv_rc")?,
            units: listing("units", "units_rc")?,
            files: listing("files", "files_rc")?,
        })
    }
}

/// `systemctl show NAME --property=ActiveState` of each unit file not loaded.
pub struct ActiveStates<'a>(pub &'a [String]);

impl SectionedFact for ActiveStates<'_> {
    type Output = Vec<String>;

    fn name(&self) -> String {
        "systemctl show --property=ActiveState".into()
    }

    fn prelude(&self) -> Script {
        Script::text(PRELUDE)
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = Vec::new();
        for (i, n) in self.0.iter().enumerate() {
            let show = sh!(
                "o=$(systemctl show {} --property=ActiveState 2>/dev/null); rc=$?; printf '%s' \"$o\"",
                n
            );
            v.push(Section::new(format!("out{i}"), show));
            v.push(Section::new(format!("rc{i}"), Script::text("echo $rc")));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<Vec<String>, FactError> {
        (0..self.0.len())
            .map(|i| {
                let rc = s.get(&format!("rc{i}"))?;
                Ok(active_state(rc, s.get(&format!("out{i}"))?))
            })
            .collect()
    }
}

/// The `service_facts` module.
#[derive(Debug)]
pub struct ServiceFacts;

#[async_trait]
impl Module for ServiceFacts {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let listings = ctx.fact(&Sectioned(ServiceListings)).await?;
        let mut warnings: Vec<String> = Vec::new();
        let mut all = Map::new();
        if let Some((code, text)) = &listings.sysv {
            if *code != 0 {
                warnings.push(format!("Unable to query 'service' tool ({code})"));
            }
            parse_sysv(text, &mut all);
        }
        let mut systemd = Map::new();
        let fail = |e: String| ModuleError::failed(format!("service_facts: {e}"));
        match &listings.units {
            Some((0, text)) => parse_units(text, &mut systemd).map_err(fail)?,
            Some(_) => warnings.push("Could not list units from systemd".into()),
            None => {}
        }
        match &listings.files {
            Some((0, text)) => {
                let to_show = parse_unit_files(text, &mut systemd).map_err(fail)?;
                if !to_show.is_empty() {
                    let states = ctx.fact(&Sectioned(ActiveStates(&to_show))).await?;
                    for (n, state) in to_show.iter().zip(states) {
                        if let Some(v) = systemd.get_mut(n) {
                            v["state"] = json!(state);
                        }
                    }
                }
            }
            Some(_) => warnings.push("Could not get unit files data from systemd".into()),
            None => {}
        }
        all.extend(systemd);
        let mut plan = Plan::unchanged();
        if all.is_empty() {
            plan = plan.with_result("skipped", json!(true)).with_result(
                "msg",
                json!(
                    "Failed to find any services. This can be due to privileges or some other configuration issue."
                ),
            );
        } else {
            plan = plan.with_result("ansible_facts", json!({"services": all}));
        }
        if !warnings.is_empty() {
            plan = plan.with_result("warnings", json!(warnings));
        }
        Ok(plan)
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("service_facts", build)
    .returns_facts(&["services"]);

/// Builds the module from its arguments (it takes none).
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let args = if args.is_null() { json!({}) } else { args };
    let _: Args = parse_args(args)?;
    Ok(Box::new(ServiceFacts))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: &str = "  UNIT                         LOAD      ACTIVE   SUB     DESCRIPTION
  cron.service                 loaded    active   running Regular background program processing daemon
  chronyd.service              not-found inactive dead    chronyd.service
  nftables.service             loaded    inactive dead    nftables
  ssh.service                  loaded    active   running OpenBSD Secure Shell server
  redis-server.service         loaded    failed   failed  Advanced key-value store
  systemd-journald.service     loaded    active   running Journal Service

LOAD   = Reflects whether the unit definition was properly loaded.
ACTIVE = The high-level unit activation state, i.e. generalization of SUB.
SUB    = The low-level unit activation state, values depend on unit type.
6 loaded units listed.
To show all installed unit files use 'systemctl list-unit-files'.
";

    const FILES: &str = "UNIT FILE                    STATE           VENDOR PRESET
cron.service                 enabled         enabled
getty@.service               masked          enabled
nftables.service             disabled        enabled
redis-server.service         enabled         enabled
ssh.service                  enabled         enabled
sshd.service                 alias           -
systemd-journald.service     static          -

7 unit files listed.
";

    #[test]
    fn systemd_units_and_files() {
        let mut s = Map::new();
        parse_units(UNITS, &mut s).unwrap();
        assert_eq!(
            s["cron.service"],
            json!({"name": "cron.service", "state": "running", "status": "active", "source": "systemd"})
        );
        assert_eq!(
            s["chronyd.service"],
            json!({"name": "chronyd.service", "state": "stopped", "status": "not-found", "source": "systemd"})
        );
        assert_eq!(s["redis-server.service"]["status"], json!("failed"));
        assert_eq!(s["nftables.service"]["status"], json!("inactive"));
        let show = parse_unit_files(FILES, &mut s).unwrap();
        assert_eq!(show, ["getty@.service", "sshd.service"]);
        // Unit file states replace the ACTIVE column, except bad states.
        assert_eq!(s["cron.service"]["status"], json!("enabled"));
        assert_eq!(s["nftables.service"]["status"], json!("disabled"));
        assert_eq!(s["systemd-journald.service"]["status"], json!("static"));
        assert_eq!(s["redis-server.service"]["status"], json!("failed"));
        assert_eq!(s["chronyd.service"]["status"], json!("not-found"));
        assert_eq!(
            s["sshd.service"],
            json!({"name": "sshd.service", "state": "unknown", "status": "alias", "source": "systemd"})
        );
        // Order: list-units first, then the unit files not loaded.
        let keys: Vec<&String> = s.keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("cron.service"));
        assert_eq!(keys.last().map(|k| k.as_str()), Some("sshd.service"));
    }

    #[test]
    fn bad_state_in_description_counts_but_not_the_last_field() {
        let mut s = Map::new();
        parse_units(
            "a.service loaded active running Restore failed units\nb.service loaded active running masked\n",
            &mut s,
        )
        .unwrap();
        assert_eq!(s["a.service"]["status"], json!("failed"));
        assert_eq!(s["b.service"]["status"], json!("active"));
        assert!(parse_units("x.service loaded\n", &mut s).is_err());
        assert!(parse_unit_files("lonely.service\n", &mut s).is_err());
    }

    #[test]
    fn listings_run_here_and_parse() {
        use prov_core::Fact;
        let f = Sectioned(ServiceListings);
        let out = crate::server_util::testing::sh(&f.script(), None);
        f.parse(&out).expect("this machine's listings parse");
        let bad = crate::server_util::testing::output(
            0,
            "@@prov:sysv\n\n@@prov:sysv_rc\nx\n@@prov:units\n\n@@prov:units_rc\nnone\n@@prov:files\n\n@@prov:files_rc\nnone\n@@prov:end\n",
            "",
        );
        assert_eq!(f.parse(&bad).unwrap_err().fact, "service listings");
    }

    #[test]
    fn show_states() {
        assert_eq!(active_state("0", "ActiveState=active"), "active");
        assert_eq!(active_state("0", "ActiveState=inactive\n"), "inactive");
        assert_eq!(active_state("1", ""), "unknown");
        assert_eq!(active_state("0", ""), "unknown");
    }

    #[test]
    fn sysv_lines() {
        let mut s = Map::new();
        parse_sysv(
            " [ + ]  dbus\n [ - ]  hwclock.sh\n [ ? ]  weird\n [ + ]  ssh\n",
            &mut s,
        );
        assert_eq!(
            s["dbus"],
            json!({"name": "dbus", "state": "running", "source": "sysv"})
        );
        assert_eq!(s["hwclock.sh"]["state"], json!("stopped"));
        assert!(!s.contains_key("weird"));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn scripts_quote_names_and_args() {
        use prov_core::Fact;
        let names = ["a b.service".to_owned()];
        let show = Sectioned(ActiveStates(&names)).script();
        assert!(
            show.as_str()
                .contains("systemctl show 'a b.service' --property=ActiveState")
        );
        for s in [&show, &Sectioned(ServiceListings).script()] {
            let o = std::process::Command::new("sh")
                .args(["-n", "-c", s.as_str()])
                .output()
                .expect("sh");
            assert!(o.status.success(), "{s}");
        }
        assert!(build(Value::Null).is_ok());
        assert!(build(json!({})).is_ok());
        assert!(build(json!({"x": 1})).is_err());
    }
}
