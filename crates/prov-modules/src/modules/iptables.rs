//! `iptables` (ansible.builtin.iptables): one rule, a chain's policy, a flush, or a chain,
//! through `iptables`/`ip6tables`.
//!
//! ```yaml
//! iptables: { chain: INPUT, protocol: tcp, destination_port: "22", ctstate: [NEW], jump: ACCEPT }
//! ```
//!
//! The rule's words are built as the module builds them ([`construct_rule`]); its presence is
//! `iptables -C` of those words, the policy is read from `iptables -L CHAIN`, a chain's
//! existence from the exit status of `iptables -L CHAIN`. One probe reads all of it for every
//! `ip_version`. As Ansible: `flush` always reports a change; with no rule words,
//! `state: absent` reports a change when the chain exists (deleting it only with
//! `chain_management`) and `state: present` when it does not (creating it only with
//! `chain_management`).
//!
//! Refused (an error naming the argument): `tcp_flags`, `gateway`, `fragment`,
//! `set_counters`, `set_dscp_mark`, `set_dscp_mark_class`, `src_range`, `dst_range`,
//! `match_set`, `match_set_flags`, `uid_owner`, `gid_owner`.

use async_trait::async_trait;
use prov_core::{FactError, Module, ModuleContext, ModuleError, Plan, RunScript, Script};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{StringList, de_bool, de_opt_string};
use crate::server_util::{Section, Sectioned, SectionedFact, Sections};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("iptables", build);

/// Arguments of the module that prov does not implement: refused by name.
const REFUSED: [&str; 12] = [
    "tcp_flags",
    "gateway",
    "fragment",
    "set_counters",
    "set_dscp_mark",
    "set_dscp_mark_class",
    "src_range",
    "dst_range",
    "match_set",
    "match_set_flags",
    "uid_owner",
    "gid_owner",
];

fn d_filter() -> String {
    "filter".into()
}
fn d_present() -> String {
    "present".into()
}
fn d_append() -> String {
    "append".into()
}
fn d_ipv4() -> String {
    "ipv4".into()
}
fn d_ignore() -> String {
    "ignore".into()
}

/// The `iptables` module's arguments (Ansible's names).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct IptablesArgs {
    /// filter (default), nat, mangle, raw, security.
    #[serde(default = "d_filter")]
    pub table: String,
    /// present (default) or absent.
    #[serde(default = "d_present")]
    pub state: String,
    /// append (default) or insert.
    #[serde(default = "d_append")]
    pub action: String,
    /// ipv4 (default), ipv6 or both.
    #[serde(default = "d_ipv4")]
    pub ip_version: String,
    /// The chain.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub chain: Option<String>,
    /// The position for `action: insert`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub rule_num: Option<String>,
    /// `-p`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub protocol: Option<String>,
    /// `-w`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub wait: Option<String>,
    /// `-s`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub source: Option<String>,
    /// `--to-source`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub to_source: Option<String>,
    /// `-d`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub destination: Option<String>,
    /// `--to-destination`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub to_destination: Option<String>,
    /// `-m`, each.
    #[serde(default)]
    pub r#match: StringList,
    /// `-j`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub jump: Option<String>,
    /// `--log-prefix` (implies `jump: LOG`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub log_prefix: Option<String>,
    /// `--log-level` (implies `jump: LOG`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub log_level: Option<String>,
    /// `-g`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub goto: Option<String>,
    /// `-i`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub in_interface: Option<String>,
    /// `-o`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub out_interface: Option<String>,
    /// `--source-port`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub source_port: Option<String>,
    /// `--destination-port`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub destination_port: Option<String>,
    /// `-m multiport --dports a,b`.
    #[serde(default)]
    pub destination_ports: StringList,
    /// `--to-ports`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub to_ports: Option<String>,
    /// `--comment` (with `-m comment`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub comment: Option<String>,
    /// Connection states (`-m conntrack --ctstate`, or `--state` with `match: state`).
    #[serde(default)]
    pub ctstate: StringList,
    /// `-m limit --limit`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub limit: Option<String>,
    /// `-m limit --limit-burst`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub limit_burst: Option<String>,
    /// `--reject-with` (implies `-j REJECT` without a jump).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub reject_with: Option<String>,
    /// `--icmp-type` / `--icmpv6-type`.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub icmp_type: Option<String>,
    /// ignore (default), match or negate: `--syn`.
    #[serde(default = "d_ignore")]
    pub syn: String,
    /// Flush the chain (or the table).
    #[serde(default, deserialize_with = "de_bool")]
    pub flush: bool,
    /// The chain's policy.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub policy: Option<String>,
    /// Create or delete the chain when no rule is given.
    #[serde(default, deserialize_with = "de_bool")]
    pub chain_management: bool,
    /// `--numeric` when listing.
    #[serde(default, deserialize_with = "de_bool")]
    pub numeric: bool,
}

/// `param` as the module appends it: `flag value`, or `! flag value` for a value starting
/// with `!`.
fn append_param(rule: &mut Vec<String>, param: &Option<String>, flag: &str) {
    if let Some(p) = param {
        match p.strip_prefix('!') {
            Some(rest) => rule.extend(["!".into(), flag.into(), rest.into()]),
            None => rule.extend([flag.into(), p.clone()]),
        }
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// The rule's words, in the module's order (`construct_rule`).
pub fn construct_rule(a: &IptablesArgs) -> Vec<String> {
    let mut r: Vec<String> = Vec::new();
    append_param(&mut r, &a.protocol, "-p");
    append_param(&mut r, &a.source, "-s");
    append_param(&mut r, &a.destination, "-d");
    for m in &a.r#match.0 {
        append_param(&mut r, &some(m), "-m");
    }
    append_param(&mut r, &a.jump, "-j");
    append_param(&mut r, &a.log_prefix, "--log-prefix");
    append_param(&mut r, &a.log_level, "--log-level");
    append_param(&mut r, &a.to_destination, "--to-destination");
    if !a.destination_ports.0.is_empty() {
        r.extend(["-m".into(), "multiport".into()]);
        r.extend(["--dports".into(), a.destination_ports.0.join(",")]);
    }
    append_param(&mut r, &a.to_source, "--to-source");
    append_param(&mut r, &a.goto, "-g");
    append_param(&mut r, &a.in_interface, "-i");
    append_param(&mut r, &a.out_interface, "-o");
    append_param(&mut r, &a.source_port, "--source-port");
    append_param(&mut r, &a.destination_port, "--destination-port");
    append_param(&mut r, &a.to_ports, "--to-ports");
    match a.syn.as_str() {
        "match" => r.push("--syn".into()),
        "negate" => r.extend(["!".into(), "--syn".into()]),
        _ => {}
    }
    let matches = &a.r#match.0;
    let states = a.ctstate.0.join(",");
    if matches.iter().any(|m| m == "conntrack") {
        if !states.is_empty() {
            r.extend(["--ctstate".into(), states]);
        }
    } else if matches.iter().any(|m| m == "state") {
        if !states.is_empty() {
            r.extend(["--state".into(), states]);
        }
    } else if !states.is_empty() {
        r.extend(["-m".into(), "conntrack".into(), "--ctstate".into(), states]);
    }
    if a.limit.is_some() || a.limit_burst.is_some() {
        r.extend(["-m".into(), "limit".into()]);
    }
    append_param(&mut r, &a.limit, "--limit");
    append_param(&mut r, &a.limit_burst, "--limit-burst");
    if a.jump.is_none() && a.reject_with.is_some() {
        r.extend(["-j".into(), "REJECT".into()]);
    }
    append_param(&mut r, &a.reject_with, "--reject-with");
    let icmp = match a.ip_version.as_str() {
        "ipv6" => "--icmpv6-type",
        "both" => "--icmp-type --icmpv6-type",
        _ => "--icmp-type",
    };
    append_param(&mut r, &a.icmp_type, icmp);
    if a.comment.is_some() {
        r.extend(["-m".into(), "comment".into()]);
    }
    append_param(&mut r, &a.comment, "--comment");
    r
}

/// `iptables -t TABLE ACTION CHAIN [rule_num] [-w wait] [rule...]` (`push_arguments`; a
/// missing chain is left out, as `run_command` drops `None`).
pub fn push_arguments(a: &IptablesArgs, action: &str, rule: Option<&[String]>) -> Vec<String> {
    let mut cmd = vec!["-t".to_owned(), a.table.clone(), action.to_owned()];
    cmd.extend(a.chain.clone());
    if action == "-I"
        && let Some(n) = a.rule_num.as_ref().filter(|n| !n.is_empty())
    {
        cmd.push(n.clone());
    }
    if let Some(w) = a.wait.as_ref().filter(|w| !w.is_empty()) {
        cmd.extend(["-w".into(), w.clone()]);
    }
    if let Some(r) = rule {
        cmd.extend(r.iter().cloned());
    }
    cmd
}

/// What the task does, decided from the arguments alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// `-F`: always changed.
    Flush,
    /// `-P CHAIN POLICY` when the current policy differs.
    Policy(String),
    /// No rule words, `state: absent`: the chain.
    ChainAbsent,
    /// No rule words, `state: present`: the chain.
    ChainPresent,
    /// The rule (`-C` to test).
    Rule,
}

/// What the probe read for one binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The rule test (`-C`) or chain listing (`-L`) succeeded.
    Yes,
    /// It failed.
    No,
    /// The policy from the `-L` header (`None`: the header has none).
    Policy(Option<String>),
}

/// The state of the rule, policy or chain, for each binary (`iptables`, `ip6tables`).
pub struct IptablesFact {
    /// The binaries, in order.
    pub bins: Vec<&'static str>,
    /// The probe's words after the binary.
    pub probe: Vec<String>,
    /// The task, to read the answer.
    pub task: Task,
}

impl SectionedFact for IptablesFact {
    type Output = Vec<Result<Found, String>>;

    fn name(&self) -> String {
        "iptables".into()
    }

    fn prelude(&self) -> Script {
        Script::text("PATH=$PATH:/usr/sbin:/sbin; export LANG=C; e=$(mktemp)")
    }

    fn sections(&self) -> Vec<Section> {
        self.bins
            .iter()
            .map(|b| {
                let s = self.probe.iter().fold(
                    Script::text("command -v").arg(*b).then_text(" >/dev/null || { echo missing; exit 0; }; ").arg(*b),
                    |s, w| s.arg(w.as_str()),
                );
                Section::new(
                    *b,
                    s.then_text(" >\"$e.o\" 2>\"$e\"; echo \"rc=$?\"; head -n 1 \"$e.o\"; cat \"$e\"; rm -f \"$e.o\""),
                )
            })
            .collect()
    }

    fn parse_sections(&self, s: &Sections) -> Result<Self::Output, FactError> {
        self.bins
            .iter()
            .map(|b| parse_answer(&self.task, s.get(b)?, b).map_err(|e| s.error(e)))
            .collect()
    }
}

/// One binary's answer: `rc=N`, the first line of stdout, then stderr.
fn parse_answer(task: &Task, text: &str, bin: &str) -> Result<Result<Found, String>, String> {
    if text.trim() == "missing" {
        return Ok(Err(format!(
            "Failed to find required executable \"{bin}\" in paths: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )));
    }
    let mut lines = text.splitn(3, '\n');
    let rc: i32 = lines
        .next()
        .and_then(|l| l.strip_prefix("rc="))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no exit status in `{text}`"))?;
    let first = lines.next().unwrap_or("");
    let err = lines.next().unwrap_or("").trim_end().to_owned();
    Ok(match task {
        Task::Policy(_) if rc != 0 => Err(err),
        Task::Policy(_) => Ok(Found::Policy(policy_of(first))),
        // As the module: any failure of `-C` (a missing chain included) is "not present".
        _ if rc == 0 => Ok(Found::Yes),
        _ => Ok(Found::No),
    })
}

/// The policy in a `-L` header (`Chain INPUT (policy ACCEPT)`).
pub fn policy_of(header: &str) -> Option<String> {
    let at = header.find("(policy ")? + "(policy ".len();
    let rest = &header[at..];
    let end = rest.find(')')?;
    let p = &rest[..end];
    (!p.is_empty() && p.chars().all(|c| c.is_ascii_uppercase())).then(|| p.to_owned())
}

/// The planner: per binary, whether it changes and the command that changes it (`None`:
/// Ansible reports the change but runs nothing, as for a chain without `chain_management`).
pub fn plan_iptables(
    a: &IptablesArgs,
    task: &Task,
    rule: &[String],
    found: &Found,
) -> Result<(bool, Option<Vec<String>>), String> {
    let present = a.state == "present";
    Ok(match (task, found) {
        (Task::Flush, _) => (true, Some(push_arguments(a, "-F", None))),
        (Task::Policy(want), Found::Policy(cur)) => {
            let Some(cur) = cur else {
                return Err("Can't detect current policy".into());
            };
            let mut cmd = push_arguments(a, "-P", None);
            cmd.push(want.clone());
            (cur != want, (cur != want).then_some(cmd))
        }
        (Task::ChainAbsent, f) => {
            let exists = *f == Found::Yes;
            let cmd = (exists && a.chain_management).then(|| push_arguments(a, "-X", None));
            (exists, cmd)
        }
        (Task::ChainPresent, f) => {
            let missing = *f != Found::Yes;
            let cmd = (missing && a.chain_management).then(|| push_arguments(a, "-N", None));
            (missing, cmd)
        }
        (Task::Rule, f) => {
            let is = *f == Found::Yes;
            if is == present {
                (false, None)
            } else {
                let verb = match (present, a.action.as_str()) {
                    (false, _) => "-D",
                    (true, "insert") => "-I",
                    _ => "-A",
                };
                (true, Some(push_arguments(a, verb, Some(rule))))
            }
        }
        (Task::Policy(_), _) => return Err("Can't detect current policy".into()),
    })
}

/// The `iptables` module.
#[derive(Debug)]
pub struct Iptables {
    args: IptablesArgs,
    task: Task,
    rule: Vec<String>,
    /// `rule` as Ansible returns it (before `jump: LOG` is implied).
    rule_text: String,
}

impl Iptables {
    fn bins(&self) -> Vec<&'static str> {
        match self.args.ip_version.as_str() {
            "ipv6" => vec!["ip6tables"],
            "both" => vec!["iptables", "ip6tables"],
            _ => vec!["iptables"],
        }
    }

    fn probe(&self) -> Vec<String> {
        let mut p = match &self.task {
            Task::Rule => push_arguments(&self.args, "-C", Some(&self.rule)),
            Task::Flush => vec!["--version".into()],
            _ => push_arguments(&self.args, "-L", None),
        };
        if self.args.numeric && !matches!(self.task, Task::Rule | Task::Flush) {
            p.push("--numeric".into());
        }
        p
    }
}

#[async_trait]
impl Module for Iptables {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let a = &self.args;
        let bins = self.bins();
        let fact = IptablesFact {
            bins: bins.clone(),
            probe: self.probe(),
            task: self.task.clone(),
        };
        let answers = ctx.fact(&Sectioned(fact)).await?;
        let mut changed = false;
        let (mut lines, mut script) = (Vec::new(), Script::default());
        for (bin, found) in bins.iter().zip(answers) {
            let found = found.map_err(ModuleError::failed)?;
            let (c, cmd) =
                plan_iptables(a, &self.task, &self.rule, &found).map_err(ModuleError::failed)?;
            changed |= c;
            if let Some(cmd) = cmd {
                lines.push(format!("{bin} {}", cmd.join(" ")));
                let s = cmd.iter().fold(Script::text("").arg(*bin), |s, w| s.arg(w.as_str()));
                script = script.then(&s);
            } else if c {
                lines.push(format!("{bin}: reported changed, nothing to run"));
            }
        }
        let plan = Plan::unchanged()
            .with_result("ip_version", json!(a.ip_version))
            .with_result("table", json!(a.table))
            .with_result("chain", json!(a.chain))
            .with_result("flush", json!(a.flush))
            .with_result("rule", json!(self.rule_text))
            .with_result("state", json!(a.state))
            .with_result("chain_management", json!(a.chain_management))
            .with_result("wait", json!(a.wait));
        if !changed {
            return Ok(plan);
        }
        let script = Script::text("PATH=$PATH:/usr/sbin:/sbin").then(&script);
        Ok(plan.with_change(lines, vec![], RunScript(script)))
    }
}

fn choice(field: &str, v: &str, choices: &[&str]) -> Result<(), ModuleError> {
    if choices.contains(&v) {
        return Ok(());
    }
    Err(ModuleError::arg(
        field,
        format!("value of {field} must be one of: {}, got: {v}", choices.join(", ")),
    ))
}

fn validate(a: &IptablesArgs) -> Result<(), ModuleError> {
    choice("table", &a.table, &["filter", "nat", "mangle", "raw", "security"])?;
    choice("state", &a.state, &["absent", "present"])?;
    choice("action", &a.action, &["append", "insert"])?;
    choice("ip_version", &a.ip_version, &["ipv4", "ipv6", "both"])?;
    choice("syn", &a.syn, &["ignore", "match", "negate"])?;
    if let Some(p) = &a.policy {
        choice("policy", p, &["ACCEPT", "DROP", "QUEUE", "RETURN"])?;
    }
    if let Some(l) = &a.log_level {
        let levels = [
            "0", "1", "2", "3", "4", "5", "6", "7", "emerg", "alert", "crit", "error", "warning",
            "notice", "info", "debug",
        ];
        choice("log_level", l, &levels)?;
    }
    if a.flush && a.policy.is_some() {
        return Err(ModuleError::args("parameters are mutually exclusive: flush|policy"));
    }
    if !a.flush && a.chain.is_none() {
        return Err(ModuleError::args("flush is False but all of the following are missing: chain"));
    }
    Ok(())
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    if let Some(obj) = args.as_object()
        && let Some(name) = REFUSED.iter().find(|k| obj.get(**k).is_some_and(|v| !v.is_null()))
    {
        return Err(ModuleError::arg(name, format!("{name} is not supported by prov")));
    }
    let mut args = args;
    if let Some(obj) = args.as_object_mut() {
        obj.retain(|k, v| !(REFUSED.contains(&k.as_str()) && v.is_null()));
    }
    let mut a: IptablesArgs = parse_args(args)?;
    validate(&a)?;
    let rule_text = construct_rule(&a).join(" ");
    if a.log_prefix.is_some() || a.log_level.is_some() {
        match a.jump.as_deref() {
            None => a.jump = Some("LOG".into()),
            Some("LOG") => {}
            Some(_) => {
                return Err(ModuleError::failed(
                    "Logging options can only be used with the LOG jump target.",
                ));
            }
        }
    }
    let task = if a.flush {
        Task::Flush
    } else if let Some(p) = &a.policy {
        Task::Policy(p.clone())
    } else if rule_text.is_empty() && a.state == "absent" {
        Task::ChainAbsent
    } else if rule_text.is_empty() {
        Task::ChainPresent
    } else {
        Task::Rule
    };
    let rule = construct_rule(&a);
    Ok(Box::new(Iptables {
        args: a,
        task,
        rule,
        rule_text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> IptablesArgs {
        parse_args(v).unwrap()
    }

    fn words(v: Value) -> String {
        construct_rule(&args(v)).join(" ")
    }

    #[test]
    fn rules_are_built_in_the_modules_order() {
        assert_eq!(
            words(json!({"chain": "INPUT", "protocol": "tcp", "destination_port": 22, "ctstate": ["NEW"],
                "jump": "ACCEPT", "comment": "ssh", "in_interface": "eth0", "source": "!10.0.0.0/8"})),
            "-p tcp ! -s 10.0.0.0/8 -j ACCEPT -i eth0 --destination-port 22 -m conntrack --ctstate NEW -m comment --comment ssh"
        );
        assert_eq!(
            words(json!({"chain": "INPUT", "match": ["tcp", "state"], "ctstate": "ESTABLISHED,RELATED",
                "destination_ports": ["80", "443:445"], "protocol": "tcp", "jump": "ACCEPT"})),
            "-p tcp -m tcp -m state -j ACCEPT -m multiport --dports 80,443:445 --state ESTABLISHED,RELATED"
        );
        assert_eq!(
            words(json!({"chain": "INPUT", "reject_with": "tcp-reset", "protocol": "tcp", "syn": "match"})),
            "-p tcp --syn -j REJECT --reject-with tcp-reset"
        );
        assert_eq!(words(json!({"chain": "INPUT"})), "");
    }

    #[test]
    fn commands_follow_push_arguments() {
        let a = args(json!({"chain": "INPUT", "action": "insert", "rule_num": 3, "wait": "5"}));
        assert_eq!(
            push_arguments(&a, "-I", Some(&["-j".into(), "DROP".into()])).join(" "),
            "-t filter -I INPUT 3 -w 5 -j DROP"
        );
        assert_eq!(push_arguments(&a, "-C", None).join(" "), "-t filter -C INPUT -w 5");
        let f = args(json!({"flush": true, "table": "nat"}));
        assert_eq!(push_arguments(&f, "-F", None).join(" "), "-t nat -F");
    }

    #[test]
    fn the_planner_matches_the_modules_decisions() {
        let a = args(json!({"chain": "INPUT", "jump": "DROP"}));
        let rule = construct_rule(&a);
        let p = |t: &Task, f: Found| plan_iptables(&a, t, &rule, &f).unwrap();
        assert_eq!(p(&Task::Rule, Found::Yes), (false, None));
        assert_eq!(
            p(&Task::Rule, Found::No).1.unwrap().join(" "),
            "-t filter -A INPUT -j DROP"
        );
        let pol = Task::Policy("DROP".into());
        assert_eq!(p(&pol, Found::Policy(Some("DROP".into()))), (false, None));
        assert_eq!(
            p(&pol, Found::Policy(Some("ACCEPT".into()))).1.unwrap().join(" "),
            "-t filter -P INPUT DROP"
        );
        assert!(plan_iptables(&a, &pol, &rule, &Found::Policy(None)).is_err());
        // A chain without chain_management: reported, not touched.
        assert_eq!(p(&Task::ChainAbsent, Found::Yes), (true, None));
        assert_eq!(p(&Task::ChainPresent, Found::No), (true, None));
        assert_eq!(p(&Task::ChainPresent, Found::Yes), (false, None));
        let m = args(json!({"chain": "X", "chain_management": true, "state": "absent"}));
        assert_eq!(
            plan_iptables(&m, &Task::ChainAbsent, &[], &Found::Yes).unwrap().1.unwrap().join(" "),
            "-t filter -X X"
        );
        let absent = args(json!({"chain": "INPUT", "jump": "DROP", "state": "absent"}));
        assert_eq!(
            plan_iptables(&absent, &Task::Rule, &rule, &Found::Yes).unwrap().1.unwrap().join(" "),
            "-t filter -D INPUT -j DROP"
        );
    }

    #[test]
    fn answers_parse() {
        assert_eq!(policy_of("Chain INPUT (policy DROP)"), Some("DROP".into()));
        assert_eq!(policy_of("Chain X (0 references)"), None);
        let pol = Task::Policy("DROP".into());
        assert_eq!(
            parse_answer(&pol, "rc=0\nChain INPUT (policy ACCEPT)\n", "iptables"),
            Ok(Ok(Found::Policy(Some("ACCEPT".into()))))
        );
        assert_eq!(parse_answer(&Task::Rule, "rc=1\n\nBad rule\n", "iptables"), Ok(Ok(Found::No)));
        assert_eq!(
            parse_answer(&Task::Rule, "rc=2\n\nBad argument `x'\n", "iptables"),
            Ok(Ok(Found::No))
        );
        assert!(parse_answer(&Task::Rule, "missing\n", "iptables").unwrap().is_err());
        assert!(parse_answer(&Task::Rule, "garbage", "iptables").is_err());
    }

    #[test]
    fn args_refuse_what_prov_lacks() {
        let err = |v: Value| build(v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(json!({"chain": "INPUT", "tcp_flags": {"flags": ["SYN"]}})).contains("tcp_flags"));
        assert!(err(json!({"chain": "INPUT", "uid_owner": "0"})).contains("uid_owner"));
        assert!(err(json!({"jump": "DROP"})).contains("chain"));
        assert!(err(json!({"chain": "INPUT", "flush": true, "policy": "DROP"})).contains("exclusive"));
        assert!(err(json!({"chain": "INPUT", "log_prefix": "x", "jump": "DROP"})).contains("LOG jump"));
        assert!(build(json!({"chain": "INPUT", "log_prefix": "x", "gateway": null})).is_ok());
    }
}
