//! `ufw` (community.general.ufw): the Uncomplicated Firewall's state, default policies,
//! logging and rules, through the `ufw` command.
//!
//! ```yaml
//! ufw: { rule: allow, port: "22", proto: tcp }
//! ufw: { state: enabled, policy: deny }
//! ```
//!
//! As the collection's module, `changed` is whether `ufw status verbose` or the `### tuple`
//! lines of the user rules files differ after the commands ran. The plan predicts it from one
//! probe: the status, the tuples, the configured policies and log level, and for a rule the
//! `ufw --dry-run` of the very command (its rules files, compared with the tuples as Ansible's
//! check mode compares them). A default policy whose effect the status does not show (set
//! while ufw is inactive, or routed while forwarding is off) is still run, reported `ok` as
//! Ansible reports it; `logging` while ufw is inactive is a change every time, as the module
//! decides it (its status has no `Logging:` line). Every argument of the module is implemented.

use async_trait::async_trait;
use prov_core::{
    Action, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script,
};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

use crate::args::{de_bool, de_opt_int, de_opt_string};
use crate::server_util::{Section, Sectioned, SectionedFact, Sections};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("ufw", build);

/// The user rules files Ansible greps for `### tuple` lines, in its order.
const RULES_FILES: [&str; 6] = [
    "/lib/ufw/user.rules",
    "/lib/ufw/user6.rules",
    "/etc/ufw/user.rules",
    "/etc/ufw/user6.rules",
    "/var/lib/ufw/user.rules",
    "/var/lib/ufw/user6.rules",
];

/// `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UfwState {
    /// `ufw -f enable`.
    Enabled,
    /// `ufw -f disable`.
    Disabled,
    /// `ufw -f reload` (always changed).
    Reloaded,
    /// `ufw -f reset` (always changed).
    Reset,
}

/// `default`/`policy` and the `rule` verdicts share names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// allow.
    Allow,
    /// deny.
    Deny,
    /// reject.
    Reject,
    /// limit (rules only).
    Limit,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Reject => "reject",
            Verdict::Limit => "limit",
        }
    }
}

/// `insert_relative_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelativeTo {
    /// Absolute position (default).
    #[default]
    Zero,
    /// Relative to the first IPv4 rule.
    FirstIpv4,
    /// Relative to the last IPv4 rule.
    LastIpv4,
    /// Relative to the first IPv6 rule.
    FirstIpv6,
    /// Relative to the last IPv6 rule.
    LastIpv6,
}

/// The `ufw` module's arguments (Ansible's names and aliases).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UfwArgs {
    /// enabled, disabled, reloaded or reset.
    #[serde(default)]
    pub state: Option<UfwState>,
    /// The default policy (allow, deny, reject).
    #[serde(default, alias = "policy")]
    pub default: Option<Verdict>,
    /// The log level (on, off, low, medium, high, full).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub logging: Option<String>,
    /// in, incoming, out, outgoing or routed.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub direction: Option<String>,
    /// Delete the rule.
    #[serde(default, deserialize_with = "de_bool")]
    pub delete: bool,
    /// A route (forwarding) rule.
    #[serde(default, deserialize_with = "de_bool")]
    pub route: bool,
    /// Insert the rule at this position.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub insert: Option<i64>,
    /// What `insert` counts from.
    #[serde(default)]
    pub insert_relative_to: RelativeTo,
    /// The rule's verdict.
    #[serde(default)]
    pub rule: Option<Verdict>,
    /// The interface (with `direction`).
    #[serde(default, alias = "if", deserialize_with = "de_opt_string")]
    pub interface: Option<String>,
    /// The incoming interface.
    #[serde(default, alias = "if_in", deserialize_with = "de_opt_string")]
    pub interface_in: Option<String>,
    /// The outgoing interface.
    #[serde(default, alias = "if_out", deserialize_with = "de_opt_string")]
    pub interface_out: Option<String>,
    /// Log new connections matching the rule.
    #[serde(default, deserialize_with = "de_bool")]
    pub log: bool,
    /// Source address (default any).
    #[serde(default, alias = "from", alias = "src", deserialize_with = "de_opt_string")]
    pub from_ip: Option<String>,
    /// Source port.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub from_port: Option<String>,
    /// Destination address (default any).
    #[serde(default, alias = "dest", alias = "to", deserialize_with = "de_opt_string")]
    pub to_ip: Option<String>,
    /// Destination port.
    #[serde(default, alias = "port", deserialize_with = "de_opt_string")]
    pub to_port: Option<String>,
    /// Protocol.
    #[serde(default, alias = "protocol", deserialize_with = "de_opt_string")]
    pub proto: Option<String>,
    /// An application profile.
    #[serde(default, alias = "app", deserialize_with = "de_opt_string")]
    pub name: Option<String>,
    /// A comment for the rule.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub comment: Option<String>,
}

/// One `ufw` command the task runs, in Ansible's order (state, default, rule, logging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UfwCmd {
    /// `-f enable|disable|reload|reset`.
    State(UfwState),
    /// `default POLICY [DIRECTION]`.
    Default(Verdict, Option<String>),
    /// A rule: its words after `ufw` (the `insert` position is resolved at plan time).
    Rule,
    /// `logging LEVEL`.
    Logging(String),
}

/// The `ufw` module.
#[derive(Debug)]
pub struct Ufw {
    args: UfwArgs,
    cmds: Vec<UfwCmd>,
}

/// What the probe read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UfwProbe {
    /// `ufw status verbose`.
    pub status: String,
    /// The `### tuple` lines of the user rules files.
    pub rules: String,
    /// `DEFAULT_*_POLICY` and `LOGLEVEL` from `/etc/default/ufw` and `/etc/ufw/ufw.conf`.
    pub conf: Vec<(String, String)>,
    /// `ufw --version`'s first line.
    pub version: String,
    /// The dry run of the rule: exit status, stdout, stderr.
    pub dry: Option<(i32, String, String)>,
}

/// Reads the state of ufw, and the dry run of `rule` (its words) when there is one.
pub struct UfwFact {
    /// The rule's words after `ufw --dry-run`.
    pub rule: Option<Vec<String>>,
}

fn words(prefix: Script, argv: &[String]) -> Script {
    argv.iter().fold(prefix, |s, w| s.arg(w.as_str()))
}

impl SectionedFact for UfwFact {
    type Output = Option<UfwProbe>;

    fn name(&self) -> String {
        "ufw".into()
    }

    fn prelude(&self) -> Script {
        Script::text("PATH=$PATH:/usr/sbin:/sbin; export LANG=C; e=$(mktemp)")
    }

    fn sections(&self) -> Vec<Section> {
        let files = RULES_FILES
            .iter()
            .fold(Script::text("grep -h '^### tuple'"), |s, f| s.arg(*f));
        let mut v = vec![
            Section::new("bin", Script::text("command -v ufw || true")),
            Section::new(
                "status",
                Script::text("command -v ufw >/dev/null && ufw status verbose 2>\"$e\"; rc=$?"),
            ),
            Section::new("status_rc", Script::text("echo $rc; cat \"$e\"")),
            Section::new("rules", files.then_text(" 2>/dev/null")),
            Section::new(
                "conf",
                Script::text(
                    "cat /etc/default/ufw /etc/ufw/ufw.conf 2>/dev/null | grep -E '^(DEFAULT_[A-Z]+_POLICY|LOGLEVEL)='",
                ),
            ),
            Section::new(
                "version",
                Script::text("command -v ufw >/dev/null && ufw --version | head -n 1"),
            ),
        ];
        if let Some(rule) = &self.rule {
            let dry = words(Script::text("command -v ufw >/dev/null && ufw --dry-run"), rule);
            v.push(Section::new("dry", dry.then_text(" 2>\"$e\"; rc=$?")));
            v.push(Section::new("dry_rc", Script::text("echo $rc")));
            v.push(Section::new(
                "dry_err",
                Script::text("cat \"$e\"; rm -f \"$e\""),
            ));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<Option<UfwProbe>, FactError> {
        if s.get("bin")?.trim().is_empty() {
            return Ok(None);
        }
        let (rc, err) = s.get("status_rc")?.split_once('\n').unwrap_or((s.get("status_rc")?, ""));
        if rc.trim() != "0" {
            return Err(s.error(format!("ufw status verbose failed: {err}")));
        }
        let conf = s
            .get("conf")?
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        let dry = match self.rule {
            None => None,
            Some(_) => {
                let rc = s
                    .get("dry_rc")?
                    .trim()
                    .parse()
                    .map_err(|_| s.error("the dry run's exit status is not a number"))?;
                Some((rc, s.get("dry")?.to_owned(), s.get("dry_err")?.to_owned()))
            }
        };
        Ok(Some(UfwProbe {
            status: s.get("status")?.to_owned(),
            rules: s.get("rules")?.to_owned(),
            conf,
            version: s.get("version")?.trim().to_owned(),
            dry,
        }))
    }
}

/// `ufw status numbered`, for `insert_relative_to`.
pub struct NumberedFact;

impl SectionedFact for NumberedFact {
    type Output = String;

    fn name(&self) -> String {
        "ufw status numbered".into()
    }

    fn prelude(&self) -> Script {
        Script::text("PATH=$PATH:/usr/sbin:/sbin; export LANG=C")
    }

    fn sections(&self) -> Vec<Section> {
        vec![Section::new("numbered", Script::text("ufw status numbered 2>/dev/null"))]
    }

    fn parse_sections(&self, s: &Sections) -> Result<String, FactError> {
        Ok(s.get("numbered")?.to_owned())
    }
}

static NUMBERED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[ *([0-9]+)\] ").unwrap());

/// The absolute insert position for `insert` counted from `relative` in the output of
/// `ufw status numbered` (`None`: past the end, append), as the module computes it.
pub fn insert_position(insert: i64, relative: RelativeTo, numbered: &str) -> Option<i64> {
    if relative == RelativeTo::Zero {
        return Some(insert);
    }
    let lines: Vec<(i64, bool)> = numbered
        .lines()
        .filter_map(|l| {
            let c = NUMBERED.captures(l)?;
            Some((c[1].parse().ok()?, l.contains("(v6)")))
        })
        .collect();
    let last = lines.iter().map(|l| l.0).max().unwrap_or(0);
    let last_v4 = lines.iter().filter(|l| !l.1).map(|l| l.0).max();
    let has_v6 = lines.iter().any(|l| l.1);
    let relative_to = match relative {
        RelativeTo::Zero => 0,
        RelativeTo::FirstIpv4 => 1,
        RelativeTo::LastIpv4 => last_v4.unwrap_or(1),
        RelativeTo::FirstIpv6 => last_v4.map_or(1, |n| n + 1),
        RelativeTo::LastIpv6 if has_v6 => last,
        RelativeTo::LastIpv6 => last + 1,
    };
    let at = insert + relative_to;
    (at <= last).then_some(at)
}

impl UfwArgs {
    /// The rule's words after `ufw`: [`UfwArgs::rule_line`] split as a shell splits it
    /// (`app 'NAME'` is two words), as `run_command` splits the module's string.
    pub fn rule_words(&self, verdict: Verdict, insert: Option<i64>) -> Vec<String> {
        let joined = self.rule_line(verdict, insert);
        shlex::split(&joined).unwrap_or_else(|| joined.split_whitespace().map(Into::into).collect())
    }

    /// The rule's text after `ufw`, joined as the module joins it.
    pub fn rule_line(&self, verdict: Verdict, insert: Option<i64>) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |cond: bool, s: String| {
            if cond {
                parts.push(s)
            }
        };
        push(self.route, "route".into());
        push(self.delete, "delete".into());
        if let Some(at) = insert {
            push(!self.delete, format!("insert {at}"));
        }
        push(true, verdict.as_str().into());
        fn opt(o: &Option<String>) -> Option<&str> {
            o.as_deref().filter(|s| !s.is_empty())
        }
        if let Some(d) = opt(&self.direction) {
            push(true, d.into());
        }
        for (v, t) in [
            (&self.interface, "on "),
            (&self.interface_in, "in on "),
            (&self.interface_out, "out on "),
        ] {
            if let Some(i) = opt(v) {
                push(true, format!("{t}{i}"));
            }
        }
        push(self.log, "log".into());
        let from = self.from_ip.clone().unwrap_or_else(|| "any".into());
        let to = self.to_ip.clone().unwrap_or_else(|| "any".into());
        for (v, t) in [
            (Some(from), "from "),
            (self.from_port.clone(), "port "),
            (Some(to), "to "),
            (self.to_port.clone(), "port "),
            (self.proto.clone(), "proto "),
        ] {
            if let Some(x) = v.filter(|s| !s.is_empty()) {
                push(true, format!("{t}{x}"));
            }
        }
        if let Some(n) = opt(&self.name) {
            push(true, format!("app '{n}'"));
        }
        if let Some(c) = opt(&self.comment) {
            push(true, format!("comment '{c}'"));
        }
        parts.join(" ")
    }
}

impl UfwCmd {
    /// The words after `ufw` (the rule's are given).
    pub fn words(&self, rule: &[String]) -> Vec<String> {
        match self {
            UfwCmd::State(s) => {
                let verb = match s {
                    UfwState::Enabled => "enable",
                    UfwState::Disabled => "disable",
                    UfwState::Reloaded => "reload",
                    UfwState::Reset => "reset",
                };
                vec!["-f".into(), verb.into()]
            }
            UfwCmd::Default(p, d) => {
                let mut w = vec!["default".into(), p.as_str().into()];
                w.extend(d.clone());
                w
            }
            UfwCmd::Rule => rule.to_vec(),
            UfwCmd::Logging(l) => vec!["logging".into(), l.clone()],
        }
    }
}

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}",
        r"(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])"
    ))
    .unwrap()
});

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
        r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}",
        r"(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4})",
        r"{1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]",
        r"{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]",
        r"{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4})",
        r"{0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]",
        r"|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
        r"[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}",
        r"[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))"
    ))
    .unwrap()
});

fn starts_with(re: &Regex, s: &str) -> bool {
    re.find(s).is_some_and(|m| m.start() == 0)
}

/// The lines (with their newlines) of `text` for which `keep` holds, joined.
fn keep_lines(text: &str, keep: impl Fn(&str) -> bool) -> String {
    text.split_inclusive('\n').filter(|l| keep(l)).collect()
}

/// Whether the dry run of a rule changes the tuples, as the module's check mode decides.
pub fn rule_changes(pre_rules: &str, dry: &str, from_ip: &str, to_ip: &str) -> bool {
    let total = dry.split_inclusive('\n').count();
    let skipping = dry.split_inclusive('\n').filter(|l| l.contains("Skipping")).count();
    if skipping > 0 && skipping == total {
        return false;
    }
    let dry = keep_lines(dry, |l| l.starts_with("### tuple"));
    let filtered = |re: &Regex| {
        let f = |t: &str| keep_lines(t, |l| re.is_match(l));
        f(pre_rules) != f(&dry)
    };
    if starts_with(&IPV4, from_ip) || starts_with(&IPV4, to_ip) {
        filtered(&IPV4)
    } else if starts_with(&IPV6, from_ip) || starts_with(&IPV6, to_ip) {
        filtered(&IPV6)
    } else {
        pre_rules != dry
    }
}

static LOGGING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Logging: (on|off)(?: \(([a-z]+)\))?").unwrap());
static DEFAULTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Default: (deny|allow|reject) \(incoming\), (deny|allow|reject) \(outgoing\), (deny|allow|reject|disabled) \(routed\)").unwrap()
});

/// What one command does: whether `ufw status verbose` or the tuples change (`changed`), and
/// whether it changes anything at all (then it must run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    /// The status or the rules change: Ansible reports `changed`.
    pub visible: bool,
    /// The command changes something (configuration the status does not show included).
    pub acts: bool,
}

impl Effect {
    const NONE: Effect = Effect {
        visible: false,
        acts: false,
    };
    fn visible(v: bool) -> Effect {
        Effect { visible: v, acts: v }
    }
    fn hidden(acts: bool) -> Effect {
        Effect {
            visible: false,
            acts,
        }
    }
}

fn conf<'a>(p: &'a UfwProbe, key: &str) -> Option<&'a str> {
    p.conf.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn is_active(p: &UfwProbe) -> bool {
    p.status.contains(" active")
}

/// The log level `ufw logging LEVEL` leaves (`on` keeps a level, or turns `off` into `low`).
fn level_after(current: &str, want: &str) -> String {
    match want {
        "on" if current == "off" || current.is_empty() => "low".into(),
        "on" => current.into(),
        other => other.into(),
    }
}

/// The planner for one command that is not a rule.
pub fn effect(cmd: &UfwCmd, p: &UfwProbe) -> Effect {
    let active = is_active(p);
    match cmd {
        UfwCmd::State(UfwState::Reloaded | UfwState::Reset) => Effect::visible(true),
        UfwCmd::State(UfwState::Enabled) => Effect::visible(!active),
        UfwCmd::State(UfwState::Disabled) => Effect::visible(active),
        UfwCmd::Logging(want) => {
            let current = conf(p, "LOGLEVEL").unwrap_or("");
            let acts = level_after(current, want) != current;
            match LOGGING.captures(&p.status) {
                Some(c) => {
                    let on_off = &c[1];
                    let level = c.get(2).map_or("", |m| m.as_str());
                    let visible = if want != "off" {
                        on_off == "off" || (want != "on" && want != level)
                    } else {
                        on_off != "off"
                    };
                    Effect { visible, acts: acts || visible }
                }
                // The module's own decision, in a real run too: no `Logging:` line (ufw is
                // inactive) is a change, every time.
                None => Effect::visible(true),
            }
        }
        UfwCmd::Default(policy, direction) => {
            let dir = direction.as_deref().unwrap_or("incoming");
            let key = match dir {
                "outgoing" => "DEFAULT_OUTPUT_POLICY",
                "routed" => "DEFAULT_FORWARD_POLICY",
                _ => "DEFAULT_INPUT_POLICY",
            };
            let want = match policy {
                Verdict::Allow => "ACCEPT",
                Verdict::Deny => "DROP",
                _ => "REJECT",
            };
            let acts = conf(p, key) != Some(want);
            match DEFAULTS.captures(&p.status) {
                Some(c) => {
                    let i = match dir {
                        "outgoing" => 2,
                        "routed" => 3,
                        _ => 1,
                    };
                    let v = &c[i];
                    let visible = v != policy.as_str() && v != "disabled";
                    Effect { visible, acts: acts || visible }
                }
                None => Effect::hidden(acts),
            }
        }
        UfwCmd::Rule => Effect::NONE,
    }
}

/// The whole decision: the commands to run (words after `ufw`) and whether Ansible reports a
/// change; `Err` is the module's failure message.
pub fn plan_ufw(
    a: &UfwArgs,
    cmds: &[UfwCmd],
    rule: &[String],
    p: &UfwProbe,
) -> Result<(Vec<Vec<String>>, Effect), String> {
    let mut total = Effect::NONE;
    for cmd in cmds {
        let e = match cmd {
            UfwCmd::Rule => {
                let (rc, out, err) = p.dry.clone().unwrap_or_default();
                if rc != 0 {
                    return Err(if err.is_empty() { out } else { err });
                }
                let from = a.from_ip.as_deref().unwrap_or("any");
                let to = a.to_ip.as_deref().unwrap_or("any");
                Effect::visible(rule_changes(&p.rules, &out, from, to))
            }
            other => effect(other, p),
        };
        total.visible |= e.visible;
        total.acts |= e.acts;
    }
    let run = cmds.iter().map(|c| c.words(rule)).collect();
    Ok((run, total))
}

/// The module's `commands` result: what it runs, as it logs it (the status and the grep of
/// the tuples first; per rule `ufw --version` then the rule, with `--dry-run` in check mode;
/// other commands only in a real run; the status again at the end of a real run, and the grep
/// again unless `decided`: the commands already made the module report a change, `reloaded`,
/// `reset` or a visible `logging`, so it does not compare).
pub fn ansible_commands(
    cmds: &[UfwCmd],
    rule_line: &str,
    check_mode: bool,
    decided: bool,
) -> Vec<String> {
    let ufw = "/usr/sbin/ufw";
    let mut out = vec![
        format!("{ufw} status verbose"),
        format!("/usr/bin/grep -h '^### tuple' {}", RULES_FILES.join(" ")),
    ];
    for c in cmds {
        match c {
            UfwCmd::Rule => {
                out.push(format!("{ufw} --version"));
                let dry = if check_mode { " --dry-run" } else { "" };
                out.push(format!("{ufw}{dry} {rule_line}"));
            }
            _ if check_mode => {}
            other => out.push(format!("{ufw} {}", other.words(&[]).join(" "))),
        }
    }
    if !check_mode {
        out.push(out[0].clone());
        if !decided {
            out.push(out[1].clone());
        }
    }
    out
}

/// Runs the commands in order (failing on the first that fails, with its stderr or stdout, as
/// the module does), then reads the status for `msg`.
struct RunUfw {
    cmds: Vec<Vec<String>>,
}

#[async_trait]
impl Action for RunUfw {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let env = Script::text("PATH=$PATH:/usr/sbin:/sbin; export LANG=C;");
        for w in &self.cmds {
            let out = ctx.run(&words(env.clone().then_text(" ufw"), w)).await?;
            if !out.success() {
                let err = out.stderr_text();
                let msg = if err.is_empty() { out.stdout_text() } else { err };
                return Err(ModuleError::failed(msg));
            }
        }
        let status = ctx.run_ok(&env.then_text(" ufw status verbose")).await?;
        let mut result = Map::new();
        result.insert("msg".into(), json!(status.stdout_text().trim_end()));
        Ok(Outcome { result })
    }
}

#[async_trait]
impl Module for Ufw {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let a = &self.args;
        let rule = match (a.rule, self.cmds.contains(&UfwCmd::Rule)) {
            (Some(v), true) => {
                let mut insert = a.insert;
                if let (Some(i), false) = (a.insert, a.delete)
                    && a.insert_relative_to != RelativeTo::Zero
                {
                    let numbered = ctx.fact(&Sectioned(NumberedFact)).await?;
                    insert = insert_position(i, a.insert_relative_to, &numbered);
                }
                Some((a.rule_words(v, insert), a.rule_line(v, insert)))
            }
            _ => None,
        };
        let (rule, rule_line) = rule.unzip();
        let fact = UfwFact { rule: rule.clone() };
        let Some(p) = ctx.fact(&Sectioned(fact)).await? else {
            return Err(ModuleError::failed(
                "Failed to find required executable \"ufw\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ));
        };
        let rule = rule.unwrap_or_default();
        let (run, total) = plan_ufw(a, &self.cmds, &rule, &p).map_err(ModuleError::failed)?;
        let lines: Vec<String> = run.iter().map(|w| format!("ufw {}", w.join(" "))).collect();
        let line = rule_line.unwrap_or_default();
        let decided = self.cmds.iter().any(|c| match c {
            UfwCmd::State(UfwState::Reloaded | UfwState::Reset) | UfwCmd::Logging(_) => {
                effect(c, &p).visible
            }
            _ => false,
        });
        let commands = ansible_commands(&self.cmds, &line, ctx.check_mode, decided);
        let mut plan = Plan::unchanged().with_result("commands", json!(commands));
        if !total.acts {
            if !ctx.check_mode {
                plan = plan.with_result("msg", json!(p.status.trim_end()));
            }
            return Ok(plan);
        }
        let action = RunUfw { cmds: run };
        let change = if total.visible {
            Plan::changes(lines, vec![], action)
        } else {
            Plan::refresh(lines.join("; "), action)
        };
        Ok(change.with_result("commands", json!(commands)))
    }
}

fn check_choice(field: &str, v: &Option<String>, choices: &[&str]) -> Result<(), ModuleError> {
    match v {
        Some(s) if !choices.contains(&s.as_str()) => Err(ModuleError::arg(
            field,
            format!("value of {field} must be one of: {}, got: {s}", choices.join(", ")),
        )),
        _ => Ok(()),
    }
}

fn validate(a: &UfwArgs) -> Result<(), ModuleError> {
    check_choice("logging", &a.logging, &["full", "high", "low", "medium", "off", "on"])?;
    check_choice("direction", &a.direction, &["in", "incoming", "out", "outgoing", "routed"])?;
    check_choice(
        "proto",
        &a.proto,
        &["ah", "any", "esp", "ipv6", "tcp", "udp", "gre", "igmp", "vrrp"],
    )?;
    if a.default == Some(Verdict::Limit) {
        return Err(ModuleError::arg(
            "default",
            "value of default must be one of: allow, deny, reject, got: limit",
        ));
    }
    let set = [a.name.is_some(), a.proto.is_some(), a.logging.is_some()];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(ModuleError::args("parameters are mutually exclusive: name|proto|logging"));
    }
    for (other, name) in [(&a.interface_in, "interface_in"), (&a.interface_out, "interface_out")] {
        if a.direction.is_some() && other.is_some() {
            return Err(ModuleError::args(format!(
                "parameters are mutually exclusive: direction|{name}"
            )));
        }
    }
    if a.interface.is_some() && a.direction.is_none() {
        return Err(ModuleError::args(
            "missing parameter(s) required by 'interface': direction",
        ));
    }
    let dir = a.direction.as_deref();
    if a.default.is_some() && !matches!(dir, None | Some("outgoing" | "incoming" | "routed")) {
        return Err(ModuleError::failed(
            "For default, direction must be one of \"outgoing\", \"incoming\" and \"routed\", or direction must not be specified.",
        ));
    }
    if a.rule.is_some() {
        if !matches!(dir, None | Some("in" | "out")) {
            return Err(ModuleError::failed(
                "For rules, direction must be one of \"in\" and \"out\", or direction must not be specified.",
            ));
        }
        if !a.route && a.interface_in.is_some() && a.interface_out.is_some() {
            return Err(ModuleError::failed(
                "Only route rules can combine interface_in and interface_out",
            ));
        }
    }
    Ok(())
}

/// The commands, in the module's order; empty values do not count (as Python's truthiness).
fn commands(a: &UfwArgs) -> Vec<UfwCmd> {
    let mut v = Vec::new();
    v.extend(a.state.map(UfwCmd::State));
    v.extend(a.default.map(|p| UfwCmd::Default(p, a.direction.clone())));
    v.extend(a.rule.map(|_| UfwCmd::Rule));
    v.extend(a.logging.clone().filter(|l| !l.is_empty()).map(UfwCmd::Logging));
    v
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: UfwArgs = parse_args(args)?;
    validate(&a)?;
    let cmds = commands(&a);
    if cmds.is_empty() {
        return Err(ModuleError::args(
            "one of the following is required: state, default, rule, logging",
        ));
    }
    Ok(Box::new(Ufw { args: a, cmds }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> UfwArgs {
        parse_args(v).unwrap()
    }

    fn rule(v: Value) -> Vec<String> {
        let a = args(v);
        a.rule_words(a.rule.unwrap(), a.insert)
    }

    #[test]
    fn rule_words_are_joined_as_the_module_joins_them() {
        assert_eq!(
            rule(json!({"rule": "allow", "port": 22, "proto": "tcp"})),
            ["allow", "from", "any", "to", "any", "port", "22", "proto", "tcp"]
        );
        assert_eq!(
            rule(json!({"rule": "allow", "name": "OpenSSH", "comment": "ssh in", "delete": true, "insert": 2})),
            ["delete", "allow", "from", "any", "to", "any", "app", "OpenSSH", "comment", "ssh in"]
        );
        assert_eq!(
            rule(json!({"rule": "deny", "route": true, "interface_in": "eth0", "interface_out": "eth1",
                "log": true, "from": "10.0.0.0/8", "from_port": "53", "to": "10.1.0.1", "insert": 1})),
            ["route", "insert", "1", "deny", "in", "on", "eth0", "out", "on", "eth1", "log", "from",
             "10.0.0.0/8", "port", "53", "to", "10.1.0.1"]
        );
        assert_eq!(
            rule(json!({"rule": "limit", "direction": "in", "interface": "eth0", "port": "ssh"})),
            ["limit", "in", "on", "eth0", "from", "any", "to", "any", "port", "ssh"]
        );
    }

    #[test]
    fn commands_are_logged_as_the_module_logs_them() {
        let a = args(json!({"state": "enabled", "rule": "allow", "name": "OpenSSH"}));
        let line = a.rule_line(Verdict::Allow, None);
        assert_eq!(line, "allow from any to any app 'OpenSSH'");
        let grep = "/usr/bin/grep -h '^### tuple' /lib/ufw/user.rules /lib/ufw/user6.rules /etc/ufw/user.rules /etc/ufw/user6.rules /var/lib/ufw/user.rules /var/lib/ufw/user6.rules";
        assert_eq!(
            ansible_commands(&commands(&a), &line, true, false),
            [
                "/usr/sbin/ufw status verbose",
                grep,
                "/usr/sbin/ufw --version",
                "/usr/sbin/ufw --dry-run allow from any to any app 'OpenSSH'"
            ]
        );
        assert_eq!(
            ansible_commands(&commands(&a), &line, false, false),
            [
                "/usr/sbin/ufw status verbose",
                grep,
                "/usr/sbin/ufw -f enable",
                "/usr/sbin/ufw --version",
                "/usr/sbin/ufw allow from any to any app 'OpenSSH'",
                "/usr/sbin/ufw status verbose",
                grep
            ]
        );
        let reload = [UfwCmd::State(UfwState::Reloaded)];
        assert_eq!(
            ansible_commands(&reload, "", false, true),
            [
                "/usr/sbin/ufw status verbose",
                grep,
                "/usr/sbin/ufw -f reload",
                "/usr/sbin/ufw status verbose"
            ]
        );
    }

    #[test]
    fn insert_positions_follow_the_numbered_status() {
        let numbered = "Status: active\n\n     To      Action      From\n     --      ------      ----\n\
[ 1] 22/tcp                     ALLOW IN    Anywhere\n\
[ 2] 80/tcp                     ALLOW IN    Anywhere\n\
[ 3] 22/tcp (v6)                ALLOW IN    Anywhere (v6)\n\
[ 4] 80/tcp (v6)                ALLOW IN    Anywhere (v6)\n";
        assert_eq!(insert_position(1, RelativeTo::Zero, numbered), Some(1));
        assert_eq!(insert_position(0, RelativeTo::FirstIpv4, numbered), Some(1));
        assert_eq!(insert_position(0, RelativeTo::LastIpv4, numbered), Some(2));
        assert_eq!(insert_position(0, RelativeTo::FirstIpv6, numbered), Some(3));
        assert_eq!(insert_position(0, RelativeTo::LastIpv6, numbered), Some(4));
        assert_eq!(insert_position(1, RelativeTo::LastIpv6, numbered), None);
        assert_eq!(insert_position(0, RelativeTo::LastIpv6, "Status: inactive\n"), None);
    }

    const PRE: &str = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 22 ::/0 any ::/0 in\n";

    #[test]
    fn rule_changes_compare_tuples_as_check_mode_does() {
        let skip = "Skipping adding existing rule\nSkipping adding existing rule (v6)\n";
        assert!(!rule_changes(PRE, skip, "any", "any"));
        let same = format!("*filter\n{}-A x\nCOMMIT\n", PRE);
        assert!(!rule_changes(PRE, &same, "any", "any"));
        let more = format!("{PRE}### tuple ### allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in\n");
        assert!(rule_changes(PRE, &more, "any", "any"));
        // An IPv4 rule: the dry run prints user.rules only; IPv6 tuples are not compared.
        let v4 = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n";
        assert!(!rule_changes(PRE, v4, "10.0.0.1", "any"));
        assert!(rule_changes(PRE, v4, "any", "any"));
        assert!(!rule_changes("", "Rules updated\n", "any", "any"));
    }

    fn probe(status: &str, conf: &[(&str, &str)]) -> UfwProbe {
        UfwProbe {
            status: status.into(),
            conf: conf.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..UfwProbe::default()
        }
    }

    const ACTIVE: &str = "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\nNew profiles: skip\n";

    #[test]
    fn effects_follow_the_status_and_run_hidden_changes() {
        let conf = [
            ("DEFAULT_INPUT_POLICY", "DROP"),
            ("DEFAULT_OUTPUT_POLICY", "ACCEPT"),
            ("DEFAULT_FORWARD_POLICY", "DROP"),
            ("LOGLEVEL", "low"),
        ];
        let on = probe(ACTIVE, &conf);
        let off = probe("Status: inactive\n", &conf);
        let e = |c: UfwCmd, p: &UfwProbe| effect(&c, p);
        assert_eq!(e(UfwCmd::State(UfwState::Enabled), &on), Effect::NONE);
        assert_eq!(e(UfwCmd::State(UfwState::Enabled), &off), Effect::visible(true));
        assert_eq!(e(UfwCmd::State(UfwState::Disabled), &off), Effect::NONE);
        assert_eq!(e(UfwCmd::State(UfwState::Reloaded), &on), Effect::visible(true));
        assert_eq!(e(UfwCmd::Logging("on".into()), &on), Effect::NONE);
        assert_eq!(e(UfwCmd::Logging("low".into()), &on), Effect::NONE);
        assert_eq!(e(UfwCmd::Logging("high".into()), &on), Effect::visible(true));
        assert_eq!(e(UfwCmd::Logging("high".into()), &off), Effect::visible(true));
        assert_eq!(e(UfwCmd::Logging("low".into()), &off), Effect::visible(true));
        let deny = |d: Option<&str>| UfwCmd::Default(Verdict::Deny, d.map(Into::into));
        let allow = |d: Option<&str>| UfwCmd::Default(Verdict::Allow, d.map(Into::into));
        assert_eq!(e(deny(None), &on), Effect::NONE);
        assert_eq!(e(allow(None), &on), Effect::visible(true));
        assert_eq!(e(deny(Some("outgoing")), &on), Effect::visible(true));
        // Routed while forwarding is off: the status says `disabled`; the file still changes.
        assert_eq!(e(allow(Some("routed")), &on), Effect::hidden(true));
        assert_eq!(e(deny(Some("routed")), &on), Effect::NONE);
        assert_eq!(e(allow(None), &off), Effect::hidden(true));
        assert_eq!(e(deny(None), &off), Effect::NONE);
    }

    #[test]
    fn the_plan_fails_with_the_dry_runs_error() {
        let a = args(json!({"rule": "allow", "port": "x"}));
        let mut p = probe(ACTIVE, &[]);
        p.dry = Some((1, String::new(), "ERROR: Bad port\n".into()));
        let r = plan_ufw(&a, &commands(&a), &[], &p);
        assert_eq!(r.unwrap_err(), "ERROR: Bad port\n");
    }

    #[test]
    fn args_are_validated_as_the_module_validates_them() {
        let err = |v: Value| build(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(json!({"direction": "in"})).contains("one of the following is required"));
        assert!(err(json!({"rule": "allow", "name": "x", "proto": "tcp"})).contains("mutually exclusive"));
        assert!(err(json!({"rule": "allow", "interface": "eth0"})).contains("required by 'interface'"));
        assert!(err(json!({"rule": "allow", "direction": "routed"})).contains("For rules"));
        assert!(err(json!({"policy": "deny", "direction": "in"})).contains("For default"));
        assert!(err(json!({"logging": "loud"})).contains("must be one of"));
        assert!(err(json!({"rule": "allow", "interface_in": "a", "interface_out": "b"})).contains("Only route"));
        assert!(err(json!({"rule": "allow", "bogus": 1})).contains("bogus"));
        assert!(build(json!({"state": "enabled", "policy": "deny", "logging": "on"})).is_ok());
        assert_eq!(
            commands(&args(json!({"logging": "low", "rule": "allow", "state": "enabled", "default": "deny"}))),
            [
                UfwCmd::State(UfwState::Enabled),
                UfwCmd::Default(Verdict::Deny, None),
                UfwCmd::Rule,
                UfwCmd::Logging("low".into())
            ]
        );
    }
}
