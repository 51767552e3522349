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
use prov_core::Script;
use prov_core::{Module, ModuleContext, ModuleError, Plan, quote};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::parse_args;
use crate::server_util::{self, section, sections};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {}

const BAD_STATES: [&str; 3] = ["not-found", "masked", "failed"];

const PRELUDE: &str =
    "export LANG=C.UTF-8 LC_ALL=C.UTF-8\nPATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin\n";

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

fn first_script() -> String {
    let mut s = String::from(PRELUDE);
    s.push_str("have() { command -v \"$1\" >/dev/null 2>&1; }\n");
    s.push_str("if have service && ! have chkconfig && ! have rc-status; then\n");
    s.push_str(&section("sysv"));
    s.push_str("  o=$(service --status-all 2>/dev/null); rc=$?\n");
    s.push_str("  if [ $rc -eq 4 ] && [ ! -e /etc/init.d ]; then :; else\n");
    s.push_str("    printf '%s\\n' \"$o\"\n");
    s.push_str(&format!("    {}", section("sysv_rc")));
    s.push_str("    echo $rc\n  fi\nfi\n");
    s.push_str("if have systemctl && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ] || [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ]; }; then\n");
    for (name, cmd) in [
        (
            "units",
            "systemctl list-units --no-pager --type service --all --plain",
        ),
        (
            "files",
            "systemctl list-unit-files --no-pager --type service --all",
        ),
    ] {
        s.push_str(&section(name));
        s.push_str(&format!("  {cmd} 2>/dev/null; rc=$?\n"));
        s.push_str(&section(&format!("{name}_rc")));
        s.push_str("  echo $rc\n");
    }
    s.push_str("fi\n");
    s.push_str(&section("end"));
    s
}

fn show_script(names: &[String]) -> String {
    let mut s = String::from(PRELUDE);
    for (i, n) in names.iter().enumerate() {
        s.push_str(&format!(
            "o=$(systemctl show {} --property=ActiveState 2>/dev/null); rc=$?\necho '@@prov:rc{i}'; echo $rc\necho '@@prov:out{i}'; printf '%s' \"$o\"; echo\n",
            quote(n)
        ));
    }
    s
}

/// The `service_facts` module.
#[derive(Debug)]
pub struct ServiceFacts;

#[async_trait]
impl Module for ServiceFacts {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let out = ctx.run(&Script::__legacy(first_script())).await?;
        let secs = sections(&out.stdout_text());
        if !secs.contains_key("end") {
            server_util::check_output("service_facts", &out)?;
        }
        let mut warnings: Vec<String> = Vec::new();
        let mut all = Map::new();
        if secs.contains_key("sysv_rc") {
            let code = server_util::get(&secs, "sysv_rc").trim();
            if code != "0" {
                warnings.push(format!("Unable to query 'service' tool ({code})"));
            }
            parse_sysv(server_util::get(&secs, "sysv"), &mut all);
        }
        let mut systemd = Map::new();
        if secs.contains_key("units") {
            let fail = |e: String| ModuleError::failed(format!("service_facts: {e}"));
            if server_util::get(&secs, "units_rc").trim() == "0" {
                parse_units(server_util::get(&secs, "units"), &mut systemd).map_err(fail)?;
            } else {
                warnings.push("Could not list units from systemd".into());
            }
            if server_util::get(&secs, "files_rc").trim() == "0" {
                let to_show = parse_unit_files(server_util::get(&secs, "files"), &mut systemd)
                    .map_err(fail)?;
                if !to_show.is_empty() {
                    let out = ctx.run(&Script::__legacy(show_script(&to_show))).await?;
                    let shown = sections(&out.stdout_text());
                    for (i, n) in to_show.iter().enumerate() {
                        let o = server_util::get(&shown, &format!("out{i}"));
                        let o = o.strip_suffix('\n').unwrap_or(o);
                        let state = active_state(server_util::get(&shown, &format!("rc{i}")), o);
                        if let Some(v) = systemd.get_mut(n) {
                            v["state"] = json!(state);
                        }
                    }
                }
            } else {
                warnings.push("Could not get unit files data from systemd".into());
            }
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
        let s = show_script(&["a b.service".into()]);
        assert!(s.contains("systemctl show 'a b.service' --property=ActiveState"));
        assert!(build(Value::Null).is_ok());
        assert!(build(json!({})).is_ok());
        assert!(build(json!({"x": 1})).is_err());
    }
}
