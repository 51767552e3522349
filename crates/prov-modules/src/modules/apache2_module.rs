//! `apache2_module` (community.general.apache2_module): enable or disable an Apache module
//! with `a2enmod`/`a2dismod`, its state read from `apache2ctl -M`.
//!
//! ```yaml
//! apache2_module: { name: rewrite, state: present }
//! ```
//!
//! As Ansible: a module is enabled when `apache2ctl -M` lists ` IDENTIFIER` (by default
//! `NAME_module`, with Ansible's spellings for shib, evasive and php); after the command the
//! listing is read again and the module fails when it does not show the wanted state. Result:
//! `result` ("Module NAME enabled"), `warnings`.

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Outcome,
    Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{Presence, de_bool, yes};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("apache2_module", build);

/// The arguments (Ansible's names and defaults).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apache2ModuleArgs {
    /// The module's name as `a2enmod` knows it.
    pub name: String,
    /// The name `apache2ctl -M` shows (guessed from `name` when not given).
    #[serde(default)]
    pub identifier: Option<String>,
    /// `a2dismod -f` (disable even when other modules depend on it).
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
    /// A failing configuration check counts as "not enabled" instead of a failure.
    #[serde(default, deserialize_with = "de_bool")]
    pub ignore_configcheck: bool,
    /// Warn when no MPM module is loaded (with `ignore_configcheck`).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub warn_mpm_absent: bool,
}

/// What the host should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apache2Module {
    name: String,
    identifier: String,
    force: bool,
    state: Presence,
    ignore_configcheck: bool,
    warn_mpm_absent: bool,
}

/// `apache2ctl -M` (and `-V` for cgi) as the probe found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlState {
    /// The control program (`apache2ctl` or `apachectl`), `None` when neither exists.
    pub ctl: Option<String>,
    /// `-M`'s exit status.
    pub rc: i32,
    /// `-M`'s output.
    pub stdout: String,
    /// `-M`'s error output.
    pub stderr: String,
    /// `-V` says `threaded: yes`.
    pub threaded: bool,
}

/// Runs `apache2ctl -M` (and `-V`): one round trip.
pub struct CtlFact;

impl Fact for CtlFact {
    type Output = CtlState;

    fn name(&self) -> String {
        "apache2ctl -M".into()
    }

    fn script(&self) -> Script {
        Script::text(include_str!("apache2_module_probe.sh"))
    }

    fn parse(&self, out: &CommandOutput) -> Result<CtlState, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        parse_ctl(&out.stdout_text()).ok_or_else(|| self.error("unexpected probe answer"))
    }
}

/// Parses the probe's answer: `ctl=`, `rc=`, `threaded=` lines, then the framed outputs.
pub fn parse_ctl(text: &str) -> Option<CtlState> {
    if text.starts_with("nobin\n") {
        return Some(CtlState {
            ctl: None,
            rc: 0,
            stdout: String::new(),
            stderr: String::new(),
            threaded: false,
        });
    }
    let (head, rest) = text.split_once("--stdout--\n")?;
    let (stdout, stderr) = rest.split_once("--stderr--\n")?;
    let get = |k: &str| head.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix('='));
    Some(CtlState {
        ctl: Some(get("ctl")?.to_owned()),
        rc: get("rc")?.parse().ok()?,
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
        threaded: get("threaded") == Some("1"),
    })
}

/// Ansible's `create_apache_identifier`: the name `apache2ctl -M` shows for `name`.
pub fn identifier_for(name: &str) -> String {
    for (spelling, id) in [
        ("shib", "mod_shib"),
        ("shib2", "mod_shib"),
        ("evasive", "evasive20_module"),
    ] {
        if name.contains(spelling) {
            return id.into();
        }
    }
    if name.contains("php8") {
        // ^(php)[\d\.]+
        let rest = &name[3.min(name.len())..];
        if name.starts_with("php") && rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return "php_module".into();
        }
    }
    if name.contains("php") {
        // ^(php\d)\.
        let b = name.as_bytes();
        if name.starts_with("php") && b.len() > 4 && b[3].is_ascii_digit() && b[4] == b'.' {
            return format!("{}_module", &name[..4]);
        }
    }
    format!("{name}_module")
}

/// Whether the module is enabled, or Ansible's failure; warnings are pushed to `warnings`.
pub fn is_enabled(
    want: &Apache2Module,
    st: &CtlState,
    warnings: &mut Vec<String>,
) -> Result<bool, String> {
    let Some(ctl) = &st.ctl else {
        return Err("Neither of apache2ctl nor apachectl found. At least one apache control binary is necessary.".into());
    };
    if st.rc != 0 {
        let msg = format!("Error executing {ctl}: {}", st.stderr);
        if !want.ignore_configcheck {
            return Err(msg);
        }
        if st.stderr.contains("AH00534") && want.name.contains("mpm_") {
            if want.warn_mpm_absent {
                warnings.push(
                    "No MPM module loaded! apache2 reload AND other module actions will fail if no MPM module is loaded immediately.".into(),
                );
            }
        } else {
            warnings.push(msg);
        }
        return Ok(false);
    }
    Ok(st.stdout.contains(&format!(" {}", want.identifier)))
}

/// The one change: `a2enmod NAME` or `a2dismod [-f] NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apache2Op {
    /// `a2enmod`.
    Enable,
    /// `a2dismod` (`-f` with force).
    Disable {
        /// `-f`.
        force: bool,
    },
}

/// The planner: the change from the current state to the wanted one, if any.
pub fn plan_apache2(want: &Apache2Module, enabled: bool) -> Option<Apache2Op> {
    match (want.state, enabled) {
        (Presence::Present, false) => Some(Apache2Op::Enable),
        (Presence::Absent, true) => Some(Apache2Op::Disable { force: want.force }),
        _ => None,
    }
}

impl Apache2Op {
    /// The command, with Ansible's message when the program is missing.
    pub fn script(&self, name: &str) -> Script {
        let (bin, force) = match self {
            Apache2Op::Enable => ("a2enmod", false),
            Apache2Op::Disable { force } => ("a2dismod", *force),
        };
        let find = sh!(
            "command -v {} >/dev/null || {{ echo {} >&2; exit 127; }}",
            bin,
            format!("{bin} not found. Perhaps this system does not use {bin} to manage apache")
        );
        let run = if force {
            sh!("{} -f {}", bin, name)
        } else {
            sh!("{} {}", bin, name)
        };
        find.then(&run)
    }

    /// One line for people.
    pub fn summary(&self, name: &str) -> String {
        match self {
            Apache2Op::Enable => format!("enable apache module {name}"),
            Apache2Op::Disable { .. } => format!("disable apache module {name}"),
        }
    }

    /// The module's state before and after.
    pub fn diff(&self, name: &str) -> Diff {
        let (b, a) = match self {
            Apache2Op::Enable => ("disabled\n", "enabled\n"),
            Apache2Op::Disable { .. } => ("enabled\n", "disabled\n"),
        };
        Diff::new(format!("apache module {name}"), b, a)
    }
}

/// Runs the command, then reads `apache2ctl -M` again as Ansible does.
struct Apache2Action {
    want: Apache2Module,
    script: Script,
    result: Map<String, Value>,
}

#[async_trait]
impl Action for Apache2Action {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run(&self.script).await?;
        let mut r = self.result.clone();
        if out.status == 127 {
            return Err(ModuleError::failed_with(out.stderr_text().trim(), r));
        }
        let st = ctx.fact(&CtlFact).await?;
        let mut warnings = Vec::new();
        let want_on = self.want.state == Presence::Present;
        if is_enabled(&self.want, &st, &mut warnings).map_err(ModuleError::failed)? == want_on {
            return Ok(Outcome::default());
        }
        let state = if want_on { "enabled" } else { "disabled" };
        let msg = format!(
            "Failed to set module {} to {state}:\n{}\nMaybe the module identifier ({}) was guessed incorrectly.Consider setting the \"identifier\" option.",
            self.want.name,
            out.stdout_text(),
            self.want.identifier
        );
        r.insert("rc".into(), json!(out.status));
        r.insert("stdout".into(), json!(out.stdout_text()));
        r.insert("stderr".into(), json!(out.stderr_text()));
        Err(ModuleError::failed_with(msg, r))
    }
}

#[async_trait]
impl Module for Apache2Module {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let st = ctx.fact(&CtlFact).await?;
        if self.name == "cgi" && self.state == Presence::Present && st.threaded {
            return Err(ModuleError::failed(
                "Your MPM seems to be threaded, therefore enabling cgi module is not allowed.",
            ));
        }
        let mut warnings = Vec::new();
        let enabled = is_enabled(self, &st, &mut warnings).map_err(ModuleError::failed)?;
        let state = if self.state == Presence::Present { "enabled" } else { "disabled" };
        let mut plan = Plan::unchanged()
            .with_result("result", json!(format!("Module {} {state}", self.name)));
        if !warnings.is_empty() {
            plan = plan.with_result("warnings", json!(warnings));
        }
        let Some(op) = plan_apache2(self, enabled) else {
            return Ok(plan);
        };
        let action = Apache2Action {
            want: self.clone(),
            script: op.script(&self.name),
            result: plan.result().clone(),
        };
        let (summary, diff) = (op.summary(&self.name), op.diff(&self.name));
        Ok(plan.with_change(vec![summary], vec![diff], action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Apache2ModuleArgs = parse_args(args)?;
    let identifier = match a.identifier {
        Some(i) if !i.is_empty() => i,
        _ => identifier_for(&a.name),
    };
    Ok(Box::new(Apache2Module {
        name: a.name,
        identifier,
        force: a.force,
        state: a.state,
        ignore_configcheck: a.ignore_configcheck,
        warn_mpm_absent: a.warn_mpm_absent,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(name: &str, state: Presence) -> Apache2Module {
        Apache2Module {
            name: name.into(),
            identifier: identifier_for(name),
            force: false,
            state,
            ignore_configcheck: false,
            warn_mpm_absent: true,
        }
    }

    fn ctl(rc: i32, stdout: &str, stderr: &str) -> CtlState {
        CtlState {
            ctl: Some("/usr/sbin/apache2ctl".into()),
            rc,
            stdout: stdout.into(),
            stderr: stderr.into(),
            threaded: false,
        }
    }

    #[test]
    fn identifiers_follow_ansible() {
        assert_eq!(identifier_for("rewrite"), "rewrite_module");
        assert_eq!(identifier_for("shib2"), "mod_shib");
        assert_eq!(identifier_for("evasive"), "evasive20_module");
        assert_eq!(identifier_for("php7.4"), "php7_module");
        assert_eq!(identifier_for("php8.2"), "php_module");
        assert_eq!(identifier_for("dump_io"), "dump_io_module");
    }

    #[test]
    fn the_probe_answer_parses() {
        let st = parse_ctl(
            "ctl=/usr/sbin/apache2ctl\nrc=0\nthreaded=1\n--stdout--\nLoaded Modules:\n core_module (static)\n--stderr--\n",
        )
        .unwrap();
        assert_eq!(st.rc, 0);
        assert!(st.threaded && st.stdout.contains(" core_module"));
        assert_eq!(parse_ctl("nobin\n").unwrap().ctl, None);
        assert_eq!(parse_ctl("garbage"), None);
    }

    #[test]
    fn enabled_and_planned_as_ansible() {
        let mut w = Vec::new();
        let on = ctl(0, "Loaded Modules:\n rewrite_module (shared)\n", "");
        let p = want("rewrite", Presence::Present);
        assert_eq!(is_enabled(&p, &on, &mut w), Ok(true));
        assert_eq!(plan_apache2(&p, true), None);
        assert_eq!(plan_apache2(&p, false), Some(Apache2Op::Enable));
        let mut a = want("rewrite", Presence::Absent);
        a.force = true;
        assert_eq!(
            plan_apache2(&a, true),
            Some(Apache2Op::Disable { force: true })
        );
        assert_eq!(plan_apache2(&a, false), None);
        // A failing config check: a failure, or with ignore_configcheck "disabled" + warning.
        let bad = ctl(1, "", "AH00534: apache2: Configuration error: No MPM loaded.");
        assert!(is_enabled(&p, &bad, &mut w).unwrap_err().starts_with("Error executing"));
        let mut m = want("mpm_event", Presence::Present);
        m.ignore_configcheck = true;
        assert_eq!(is_enabled(&m, &bad, &mut w), Ok(false));
        assert!(w[0].starts_with("No MPM module loaded!"));
        assert_eq!(
            Apache2Op::Disable { force: true }.script("x y").as_str().lines().nth(1),
            Some("a2dismod -f 'x y'")
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "rewrite"})).is_ok());
        assert!(build(json!({"name": "rewrite", "state": "enabled"})).is_err());
        assert!(build(json!({"name": "rewrite", "bogus": 1})).is_err());
    }
}
