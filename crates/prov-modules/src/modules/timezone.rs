//! `timezone` (community.general): the system time zone, set the way Ansible sets it on a
//! systemd host.
//!
//! ```yaml
//! timezone: { name: Europe/Berlin }
//! ```
//!
//! Like Ansible's `SystemdTimezone`, the current zone is the `Time zone:` of
//! `timedatectl status` and a change is `timedatectl set-timezone NAME`, after which the zone is
//! read again and must be the one asked for. systemd-timedated does the writing, so what is left
//! on disk is what Ansible leaves: on Debian 12 (systemd 252) `/etc/localtime` becomes the
//! symbolic link `../usr/share/zoneinfo/NAME` and `/etc/timezone` is not touched (Debian's
//! systemd stopped maintaining it in 252.6). The zone must exist as a file under
//! `/usr/share/zoneinfo` (Ansible's check) before anything runs.
//!
//! Not supported, with a clear error: `hwclock` (containers and lab hosts have no hardware
//! clock to configure), and hosts where `timedatectl` does not work, where Ansible would instead
//! edit `/etc/timezone` and run `dpkg-reconfigure tzdata`.

use async_trait::async_trait;
use prov_core::{
    Action, Diff, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::parse_args;
use crate::server_util::{self, Section, Sectioned, SectionedFact, Sections};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, alias = "rtc")]
    hwclock: Option<String>,
}

/// The zone named by `timedatectl status` output (Ansible's
/// `^\s*Time ?zone\s*:\s*([^\s]+)`, multi-line).
pub fn parse_status_zone(status: &str) -> Option<String> {
    status.lines().find_map(|line| {
        let l = line.trim_start();
        let rest = l
            .strip_prefix("Time zone")
            .or_else(|| l.strip_prefix("Timezone"))?;
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        let zone: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        (!zone.is_empty()).then_some(zone)
    })
}

/// What the module does given the current zone: `None` when nothing changes.
pub fn plan_zone(current: &str, wanted: &str) -> Option<Diff> {
    (current != wanted).then(|| {
        Diff::new(
            "timezone",
            format!("name: {current}\n"),
            format!("name: {wanted}\n"),
        )
    })
}

/// The `timezone` module.
#[derive(Debug)]
pub struct Timezone {
    name: String,
}

const PRELUDE: &str = "export LC_ALL=C\nPATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin";

/// `timedatectl status` (and, when asked, whether a zone's file exists).
pub struct TimezoneFact<'a> {
    /// Also check that this zone exists under `/usr/share/zoneinfo`.
    pub zone: Option<&'a str>,
}

/// The [`TimezoneFact`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimezoneState {
    /// Where `timedatectl` is (`None`: not installed).
    pub bin: Option<String>,
    /// `timedatectl status` output (stdout and stderr).
    pub status: String,
    /// Its exit status.
    pub rc: i32,
    /// The asked zone's file exists (when asked).
    pub zone_exists: Option<bool>,
}

impl SectionedFact for TimezoneFact<'_> {
    type Output = TimezoneState;

    fn name(&self) -> String {
        "timedatectl status".into()
    }

    fn prelude(&self) -> Script {
        Script::text(PRELUDE)
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = vec![
            Section::new("bin", Script::text("command -v timedatectl || true")),
            Section::new("status", Script::text("timedatectl status 2>&1; rc=$?")),
            Section::new("rc", Script::text("echo $rc")),
        ];
        if let Some(zone) = self.zone {
            let file = format!("/usr/share/zoneinfo/{zone}");
            v.push(Section::new("zonefile", sh!("if [ -f {} ]; then echo yes; fi", file)));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<TimezoneState, FactError> {
        let bin = s.get("bin")?.trim();
        let rc = s.get("rc")?.trim();
        Ok(TimezoneState {
            bin: (!bin.is_empty()).then(|| bin.to_owned()),
            status: s.get("status")?.to_owned(),
            rc: rc
                .parse()
                .map_err(|_| s.error(format!("`{rc}` is not an exit status")))?,
            zone_exists: self.zone.map(|_| s.flag("zonefile")).transpose()?,
        })
    }
}

/// The current zone and the `timedatectl` that reported it; the module's errors for hosts where
/// timedatectl is missing or does not work.
fn current_zone(st: &TimezoneState) -> Result<(String, String), ModuleError> {
    let Some(bin) = &st.bin else {
        return Err(ModuleError::failed(
            "timezone: timedatectl is not installed: prov sets the time zone through systemd-timedated only (Ansible would edit /etc/timezone and run dpkg-reconfigure tzdata instead)",
        ));
    };
    if st.rc != 0 {
        return Err(ModuleError::failed(format!(
            "timezone: `timedatectl status` does not work on this host ({}): prov sets the time zone through systemd-timedated only (Ansible would edit /etc/timezone and run dpkg-reconfigure tzdata instead)",
            st.status.trim()
        )));
    }
    let zone = parse_status_zone(&st.status).ok_or_else(|| {
        ModuleError::failed(format!(
            "timezone: no `Time zone:` in the output of timedatectl status: {}",
            st.status.trim()
        ))
    })?;
    Ok((bin.clone(), zone))
}

#[async_trait]
impl Module for Timezone {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let name = &self.name;
        let st = ctx
            .fact(&Sectioned(TimezoneFact { zone: Some(name) }))
            .await?;
        let (bin, zone) = current_zone(&st)?;
        if st.zone_exists != Some(true) {
            return Err(ModuleError::failed(format!(
                "Error message:\ngiven timezone \"{name}\" is not available"
            )));
        }
        let before = json!({"name": zone});
        let Some(diff) = plan_zone(&zone, name) else {
            return Ok(Plan::unchanged()
                .with_result("diff", json!({"before": before, "after": {"name": name}})));
        };
        let command = format!("{bin} set-timezone {name}");
        let mut plan = Plan::change(
            format!("time zone {zone} -> {name}"),
            SetZone {
                name: name.clone(),
                msg: format!("executed `{command}`"),
            },
        )
        .with_diff(diff);
        plan.result_mut().insert(
            "diff".into(),
            json!({"before": before, "after": {"name": name}}),
        );
        Ok(plan)
    }
}

struct SetZone {
    name: String,
    msg: String,
}

#[async_trait]
impl Action for SetZone {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let set = Script::text(PRELUDE).then(&sh!("timedatectl set-timezone {}", self.name));
        let out = ctx.run(&set).await?;
        server_util::check_output(&format!("timedatectl set-timezone {}", self.name), &out)?;
        // Ansible reads the state again and fails unless it is the planned one.
        let (_, after) = current_zone(&ctx.fact(&Sectioned(TimezoneFact { zone: None })).await?)?;
        if after != self.name {
            return Err(ModuleError::failed(format!(
                "Error message:\nstill not desired state, though changes have made - planned: {{'name': '{}'}}, after: {{'name': '{}'}}\nOther message(s):\n{}",
                self.name, after, self.msg
            )));
        }
        let mut o = Outcome::default();
        o.result.insert("msg".into(), json!(self.msg));
        Ok(o)
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("timezone", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = parse_args(args)?;
    if let Some(h) = &a.hwclock {
        return Err(ModuleError::args(format!(
            "`hwclock: {h}` is not supported: prov's hosts (containers, lab namespaces) have no hardware clock to configure; leave `hwclock` out"
        )));
    }
    let Some(name) = a.name else {
        return Err(ModuleError::args(
            "`name` is required (one of name, hwclock; hwclock is not supported)",
        ));
    };
    if name.is_empty()
        || name.starts_with('-')
        || name.contains(['\n', '\0'])
        || name.chars().any(char::is_whitespace)
    {
        return Err(ModuleError::args(format!(
            "`{name}` is not a time zone name"
        )));
    }
    Ok(Box::new(Timezone { name }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "               Local time: Tue 2025-05-20 10:00:00 UTC
           Universal time: Tue 2025-05-20 10:00:00 UTC
                 RTC time: n/a
                Time zone: Etc/UTC (UTC, +0000)
System clock synchronized: no
              NTP service: n/a
          RTC in local TZ: no
";

    #[test]
    fn zone_from_status() {
        assert_eq!(parse_status_zone(STATUS).as_deref(), Some("Etc/UTC"));
        assert_eq!(
            parse_status_zone("Timezone: Europe/Berlin (CEST, +0200)\n").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            parse_status_zone("  Time zone: n/a (UTC, +0000)\n").as_deref(),
            Some("n/a")
        );
        assert_eq!(parse_status_zone("Local time: x\n"), None);
    }

    #[test]
    fn plans() {
        assert!(plan_zone("Etc/UTC", "Etc/UTC").is_none());
        let d = plan_zone("Etc/UTC", "Europe/Berlin").expect("change");
        assert_eq!(d.before, "name: Etc/UTC\n");
        assert_eq!(d.after, "name: Europe/Berlin\n");
        // `UTC` and `Etc/UTC` are different names for Ansible too.
        assert!(plan_zone("Etc/UTC", "UTC").is_some());
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "Europe/Berlin"})).is_ok());
        assert!(build(json!({"name": "Etc/UTC", "hwclock": "UTC"})).is_err());
        assert!(build(json!({"name": "Etc/UTC", "rtc": "local"})).is_err());
        assert!(build(json!({})).is_err());
        assert!(build(json!({"name": "Etc/UTC", "bogus": 1})).is_err());
        assert!(build(json!({"name": "Europe/Ber lin"})).is_err());
    }
}
