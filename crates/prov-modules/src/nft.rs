//! The nftables rule set behind the `firewall` module: typed rules, their deterministic
//! rendering, comparison with the live table, and the guard against cutting prov's own SSH.
//!
//! # Rendering
//!
//! [`FirewallSpec::render`] produces one table (`table inet prov { chain input { type filter hook
//! input priority filter; policy drop; ... } }`) in nft's own listing style: addresses masked
//! to their network, sets sorted and de-duplicated, one rule per address family.
//!
//! # Comparison
//!
//! nft prints sets and ranges in its own form (it merges `10.0.0.0/25, 10.0.0.128/25` into
//! `10.0.0.0/24`, adjacent addresses into ranges...). Rather than re-implementing that, the
//! firewall module loads the rendered table into a private, empty network namespace
//! (`unshare --net`) on the host and lists it there: the listing is the exact form in which the
//! host's nft prints that table, whatever its version, and is compared line by line with the live
//! listing (`nft -s list table inet prov`) after [`normalize_listing`]. Only when the host cannot
//! create a namespace does the comparison fall back to the rendered text itself, which matches
//! nft 1.0's listing except for merges of adjacent addresses or ranges.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use std::borrow::Cow;
use std::fmt;

use prov_core::ToShell;

use crate::args::{Presence, StringList, de_bool, yes};

/// An IPv4 or IPv6 network (`10.77.0.0/26`, `fd00::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr` or `addr/prefix`, clearing host bits.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let t = text.trim();
        let (a, p) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{t}` is not an IP address or CIDR network"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{t}` has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// True for an IPv4 network.
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// True when `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }

    /// True when `other` is inside this network.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    fn render(&self) -> String {
        let full = if self.is_v4() { 32 } else { 128 };
        if self.prefix == full {
            self.addr.to_string()
        } else {
            format!("{}/{}", self.addr, self.prefix)
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// The protocol a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TCP (the default when ports are given).
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (IPv4).
    Icmp,
    /// ICMPv6.
    Icmpv6,
    /// Any protocol (no ports).
    Any,
}

/// What a matching packet gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let it in.
    Accept,
    /// Drop it silently.
    Drop,
    /// Refuse it (ICMP/TCP reset).
    Reject,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
        }
    }
}

/// One rule of the managed input chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Destination port ranges (inclusive); empty = any port.
    pub ports: Vec<(u16, u16)>,
    /// The protocol.
    pub proto: Proto,
    /// Source networks; empty = anywhere.
    pub from: Vec<Cidr>,
    /// True when `port` was given as a list of several entries.
    pub ports_is_set: bool,
    /// Incoming interface name.
    pub iface: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// A comment kept in the rule.
    pub comment: Option<String>,
}

/// The arguments of one rule, as written in a playbook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleArgs {
    /// A port, a range `"8000-8100"`, or a list of them.
    #[serde(default)]
    pub port: Option<Value>,
    /// tcp (default with ports), udp, icmp, icmpv6, any.
    #[serde(default)]
    pub proto: Option<String>,
    /// Source address(es) or network(s).
    #[serde(default, alias = "src", alias = "source")]
    pub from: Option<StringList>,
    /// Incoming interface name.
    #[serde(default, alias = "in_interface")]
    pub iface: Option<String>,
    /// accept (default), drop, reject.
    #[serde(default, alias = "verdict")]
    pub action: Option<String>,
    /// Comment stored with the rule.
    #[serde(default)]
    pub comment: Option<String>,
}

fn parse_port_item(v: &Value) -> Result<(u16, u16), String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("port: expected a number or a range, found {other}")),
    };
    let one = |s: &str| -> Result<u16, String> {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port `{s}` is not a number between 1 and 65535"))
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("port range `{text}` is reversed"));
            }
            Ok((a, b))
        }
        None => {
            let p = one(&text)?;
            Ok((p, p))
        }
    }
}

/// Sorts port ranges and merges them the way nft's interval sets do (overlaps, and adjacency
/// when a real range is involved).
fn normalize_ports(mut ports: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ports.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (a, b) in ports {
        if let Some(last) = out.last_mut() {
            let overlaps = a <= last.1;
            let adjacent = u32::from(a) == u32::from(last.1) + 1 && (a != b || last.0 != last.1);
            if overlaps || adjacent {
                last.1 = last.1.max(b);
                continue;
            }
        }
        out.push((a, b));
    }
    out
}

/// Sorts networks and drops those covered by another.
fn normalize_cidrs(mut nets: Vec<Cidr>) -> Vec<Cidr> {
    nets.sort_by(|a, b| a.addr.cmp(&b.addr).then(a.prefix.cmp(&b.prefix)));
    let mut out: Vec<Cidr> = Vec::new();
    for n in nets {
        if out.iter().any(|o| o.covers(&n)) {
            continue;
        }
        out.retain(|o| !n.covers(o));
        out.push(n);
    }
    out
}

impl Rule {
    /// Builds a checked rule from playbook arguments.
    pub fn from_args(a: RuleArgs) -> Result<Rule, String> {
        let (ports, ports_is_set) = match &a.port {
            None | Some(Value::Null) => (Vec::new(), false),
            Some(Value::Array(items)) => (
                items
                    .iter()
                    .map(parse_port_item)
                    .collect::<Result<Vec<_>, _>>()?,
                items.len() > 1,
            ),
            Some(v) => (vec![parse_port_item(v)?], false),
        };
        if matches!(&a.port, Some(Value::Array(items)) if items.is_empty()) {
            return Err("port: the list is empty".into());
        }
        let proto = match a.proto.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None if !ports.is_empty() => Proto::Tcp,
            None | Some("any" | "all") => Proto::Any,
            Some("tcp") => Proto::Tcp,
            Some("udp") => Proto::Udp,
            Some("icmp") => Proto::Icmp,
            Some("icmpv6" | "ipv6-icmp") => Proto::Icmpv6,
            Some(o) => {
                return Err(format!(
                    "proto `{o}` is not one of tcp, udp, icmp, icmpv6, any"
                ));
            }
        };
        if !ports.is_empty() && !matches!(proto, Proto::Tcp | Proto::Udp) {
            return Err("ports need proto tcp or udp".into());
        }
        let from_items = a.from.map(|f| f.0).unwrap_or_default();
        let from = from_items
            .iter()
            .map(|f| Cidr::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(i) = &a.iface
            && (i.is_empty()
                || i.len() > 15
                || !i
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.@*".contains(c)))
        {
            return Err(format!("iface `{i}` is not a valid interface name"));
        }
        if let Some(c) = &a.comment
            && (c.contains(['"', '\n', '\\']) || c.len() > 128)
        {
            return Err(
                "comment: quotes, backslashes and newlines are not allowed (max 128 chars)".into(),
            );
        }
        let verdict = match a.action.as_deref() {
            None | Some("accept" | "allow") => Verdict::Accept,
            Some("drop" | "deny") => Verdict::Drop,
            Some("reject") => Verdict::Reject,
            Some(o) => return Err(format!("action `{o}` is not one of accept, drop, reject")),
        };
        if proto == Proto::Any && from.is_empty() && a.iface.is_none() {
            return Err("a rule needs at least one of port, proto, from or iface".into());
        }
        let v4 = from.iter().any(Cidr::is_v4);
        let v6 = from.iter().any(|c| !c.is_v4());
        if (proto == Proto::Icmp && v6 && !v4) || (proto == Proto::Icmpv6 && v4 && !v6) {
            return Err("icmp/icmpv6 does not match the address family of `from`".into());
        }
        Ok(Rule {
            ports: normalize_ports(ports),
            proto,
            from,
            ports_is_set,
            iface: a.iface,
            verdict,
            comment: a.comment,
        })
    }

    /// The nft rule lines (one per address family of `from`).
    pub fn render(&self) -> Vec<String> {
        let v4: Vec<Cidr> = self.from.iter().copied().filter(Cidr::is_v4).collect();
        let v6: Vec<Cidr> = self.from.iter().copied().filter(|c| !c.is_v4()).collect();
        let mut sources: Vec<Option<String>> = Vec::new();
        for (family, nets) in [("ip", v4), ("ip6", v6)] {
            if nets.is_empty() {
                continue;
            }
            // nft prints a set when the family got several entries (even if they merge).
            let set = nets.len() > 1;
            let nets = normalize_cidrs(nets);
            let items: Vec<String> = nets.iter().map(Cidr::render).collect();
            sources.push(Some(if set {
                format!("{family} saddr {{ {} }}", items.join(", "))
            } else {
                format!("{family} saddr {}", items.join(", "))
            }));
        }
        if sources.is_empty() {
            sources.push(None);
        }
        let proto = match (self.proto, self.ports.is_empty()) {
            (Proto::Tcp | Proto::Udp, false) => {
                let items: Vec<String> = self
                    .ports
                    .iter()
                    .map(|(a, b)| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect();
                let word = if self.proto == Proto::Tcp {
                    "tcp"
                } else {
                    "udp"
                };
                if self.ports_is_set {
                    Some(format!("{word} dport {{ {} }}", items.join(", ")))
                } else {
                    Some(format!("{word} dport {}", items.join(", ")))
                }
            }
            (Proto::Tcp, true) => Some("meta l4proto tcp".to_owned()),
            (Proto::Udp, true) => Some("meta l4proto udp".to_owned()),
            (Proto::Icmp, _) => Some("meta l4proto icmp".to_owned()),
            (Proto::Icmpv6, _) => Some("meta l4proto ipv6-icmp".to_owned()),
            (Proto::Any, _) => None,
        };
        sources
            .into_iter()
            .map(|src| {
                let mut parts: Vec<String> = Vec::new();
                if let Some(i) = &self.iface {
                    parts.push(format!("iifname \"{i}\""));
                }
                parts.extend(src);
                parts.extend(proto.clone());
                parts.push(self.verdict.word().to_owned());
                if let Some(c) = &self.comment {
                    parts.push(format!("comment \"{c}\""));
                }
                parts.join(" ")
            })
            .collect()
    }

    /// Whether this rule matches a new TCP connection to `port` from `src` (`None`: unknown
    /// source, assumed to match rules that accept and not to match rules that drop).
    fn matches_ssh(&self, src: Option<IpAddr>, port: u16) -> bool {
        let proto_ok = matches!(self.proto, Proto::Tcp | Proto::Any);
        let port_ok =
            self.ports.is_empty() || self.ports.iter().any(|(a, b)| (*a..=*b).contains(&port));
        let from_ok = self.from.is_empty()
            || match src {
                Some(ip) => self.from.iter().any(|c| c.contains(ip)),
                None => self.verdict == Verdict::Accept,
            };
        proto_ok && port_ok && from_ok
    }
}

/// The default policy of the managed input chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Accept what no rule matched.
    Accept,
    /// Drop what no rule matched.
    Drop,
}

/// A table name nft accepts unquoted: a letter, then letters, digits and `_` (64 at most).
/// Checked once when built, so it can appear in nft input and scripts as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName(String);

impl TableName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<TableName, String> {
        let mut c = name.chars();
        let ok = c.next().is_some_and(|f| f.is_ascii_alphabetic())
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
            && name.len() <= 64;
        if ok {
            Ok(TableName(name.to_owned()))
        } else {
            Err(format!(
                "table `{name}` is not a valid name (letters, digits, _)"
            ))
        }
    }
}

impl std::ops::Deref for TableName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ToShell for TableName {
    fn to_shell(&self) -> Cow<'_, str> {
        self.0.to_shell()
    }
}

/// The whole managed table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSpec {
    /// The table name (family inet).
    pub table: TableName,
    /// The input chain's policy.
    pub policy: Policy,
    /// Accept packets of established/related connections first.
    pub allow_established: bool,
    /// Accept everything on the loopback interface.
    pub allow_loopback: bool,
    /// Accept IPv6 neighbour discovery (without it, a drop policy breaks IPv6).
    pub allow_ipv6_nd: bool,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// The `firewall` module's arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallArgs {
    /// The managed table (family inet); default `prov`.
    #[serde(default)]
    pub table: Option<String>,
    /// present (default) or absent (delete the table and its persisted file).
    #[serde(default)]
    pub state: Presence,
    /// drop (default) or accept.
    #[serde(default)]
    pub policy: Option<String>,
    /// Accept established/related traffic (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub allow_established: bool,
    /// Accept loopback traffic (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub allow_loopback: bool,
    /// Accept IPv6 neighbour discovery (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub allow_ipv6_nd: bool,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<RuleArgs>,
    /// Apply even when prov's own SSH access would be cut (default no).
    #[serde(default, deserialize_with = "de_bool")]
    pub allow_cutting_ssh: bool,
    /// Persist the table so a reboot keeps it (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub persist: bool,
}

impl FirewallSpec {
    /// Builds the checked spec from the module's arguments.
    pub fn from_args(a: &FirewallArgs) -> Result<FirewallSpec, String> {
        let table = TableName::parse(a.table.as_deref().unwrap_or("prov"))?;
        let policy = match a.policy.as_deref() {
            None | Some("drop") => Policy::Drop,
            Some("accept") => Policy::Accept,
            Some(o) => return Err(format!("policy `{o}` is not drop or accept")),
        };
        let rules = a
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::from_args(r.clone()).map_err(|e| format!("rules[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FirewallSpec {
            table,
            policy,
            allow_established: a.allow_established,
            allow_loopback: a.allow_loopback,
            allow_ipv6_nd: a.allow_ipv6_nd,
            rules,
        })
    }

    /// The table definition, in nft's listing style.
    pub fn render(&self) -> String {
        let mut s = format!("table inet {} {{\n\tchain input {{\n", self.table);
        s.push_str(&format!(
            "\t\ttype filter hook input priority filter; policy {};\n",
            match self.policy {
                Policy::Accept => "accept",
                Policy::Drop => "drop",
            }
        ));
        if self.allow_established {
            s.push_str("\t\tct state established,related accept\n");
        }
        if self.allow_loopback {
            s.push_str("\t\tiif \"lo\" accept\n");
        }
        if self.allow_ipv6_nd {
            s.push_str(
                "\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept\n",
            );
        }
        for r in &self.rules {
            for line in r.render() {
                s.push_str("\t\t");
                s.push_str(&line);
                s.push('\n');
            }
        }
        s.push_str("\t}\n}\n");
        s
    }

    /// The `nft -f` input that replaces the table in one transaction (creating it first so the
    /// delete never fails); also the persisted file's body.
    pub fn apply_text(&self) -> String {
        format!(
            "table inet {t}\ndelete table inet {t}\n{}",
            self.render(),
            t = self.table
        )
    }

    /// Refuses a rule set under which a new SSH connection from `controller` (as seen by the
    /// host) to `ssh_port` would not be accepted.
    pub fn ssh_guard(&self, controller: Option<IpAddr>, ssh_port: u16) -> Result<(), String> {
        let controller = controller.map(|c| c.to_canonical());
        if self.allow_loopback && controller.is_some_and(|c| c.is_loopback()) {
            return Ok(());
        }
        let first = self.rules.iter().find(|r| {
            // Interface-bound rules: assume an accept could apply, a drop could not.
            (r.iface.is_none() || r.verdict == Verdict::Accept)
                && r.matches_ssh(controller, ssh_port)
        });
        let verdict = match first {
            Some(r) => r.verdict,
            None => match self.policy {
                Policy::Accept => Verdict::Accept,
                Policy::Drop => Verdict::Drop,
            },
        };
        if verdict == Verdict::Accept {
            return Ok(());
        }
        let who = controller.map_or_else(|| "anywhere".to_owned(), |c| c.to_string());
        let why = match first {
            Some(_) => format!("a {} rule matches it", verdict.word()),
            None => "the policy is drop and no rule admits it".to_owned(),
        };
        Err(format!(
            "refusing to apply table inet {}: new SSH connections (tcp/{ssh_port}) from {who} would be blocked ({why}), cutting prov's access to the host; \
             add a rule like `{{ port: {ssh_port}, proto: tcp, from: {who} }}` or set allow_cutting_ssh: yes",
            self.table
        ))
    }
}

/// Normalizes an nft listing for comparison: trimmed, non-empty, non-comment lines.
pub fn normalize_listing(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the controller's address and SSH port from an `SSH_CONNECTION` value
/// (`client_ip client_port server_ip server_port`).
pub fn parse_ssh_connection(text: &str) -> Option<(IpAddr, u16)> {
    let mut f = text.split_whitespace();
    let ip: IpAddr = f.next()?.parse().ok()?;
    let _client_port = f.next()?;
    let _server_ip = f.next()?;
    let port: u16 = f.next()?.parse().ok()?;
    Some((ip.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> Result<FirewallSpec, String> {
        let a: FirewallArgs = serde_json::from_value(v).map_err(|e| e.to_string())?;
        FirewallSpec::from_args(&a)
    }

    #[test]
    fn cidrs_parse_and_mask() {
        let c = Cidr::parse("10.77.0.5/26").unwrap();
        assert_eq!(c.render(), "10.77.0.0/26");
        assert!(c.contains("10.77.0.63".parse().unwrap()));
        assert!(!c.contains("10.77.0.64".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.1").unwrap().render(), "10.0.0.1");
        assert_eq!(Cidr::parse("fd00::1/64").unwrap().render(), "fd00::/64");
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("example.com").is_err());
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
    }

    #[test]
    fn renders_a_deterministic_table() {
        let s = spec(json!({
            "policy": "drop",
            "rules": [
                {"port": 22, "proto": "tcp", "from": "10.77.0.0/24"},
                {"port": [17001, 7000, 7001, 17000], "proto": "tcp", "from": ["10.77.0.0/26"]},
                {"proto": "icmp"},
                {"port": "5000-5010", "proto": "udp", "from": ["10.0.0.1", "fd00::/8"], "comment": "x y"},
            ]
        }))
        .unwrap();
        let expected = "table inet prov {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\
\t\tct state established,related accept\n\t\tiif \"lo\" accept\n\
\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept\n\
\t\tip saddr 10.77.0.0/24 tcp dport 22 accept\n\
\t\tip saddr 10.77.0.0/26 tcp dport { 7000, 7001, 17000, 17001 } accept\n\
\t\tmeta l4proto icmp accept\n\
\t\tip saddr 10.0.0.1 udp dport 5000-5010 accept comment \"x y\"\n\
\t\tip6 saddr fd00::/8 udp dport 5000-5010 accept comment \"x y\"\n\
\t}\n}\n";
        assert_eq!(s.render(), expected);
        assert!(
            s.apply_text()
                .starts_with("table inet prov\ndelete table inet prov\ntable inet prov {")
        );
    }

    #[test]
    fn sets_are_normalized_like_nft() {
        let r = Rule::from_args(serde_json::from_value(json!({
            "port": [90, "81-90", 80, 22, 23], "from": ["10.0.0.20", "10.0.0.5/26", "10.0.0.0/26"]
        })).unwrap()).unwrap();
        assert_eq!(
            r.render(),
            ["ip saddr { 10.0.0.0/26 } tcp dport { 22, 23, 80-90 } accept"]
        );
    }

    #[test]
    fn bad_rules_are_rejected() {
        for bad in [
            json!({"rules": [{"port": 0}]}),
            json!({"rules": [{"port": "90-80"}]}),
            json!({"rules": [{"port": 22, "proto": "icmp"}]}),
            json!({"rules": [{"proto": "gre"}]}),
            json!({"rules": [{}]}),
            json!({"rules": [{"port": 22, "from": "not-an-ip"}]}),
            json!({"rules": [{"port": 22, "comment": "a\"b"}]}),
            json!({"rules": [{"port": 22, "bogus": 1}]}),
            json!({"table": "bad name"}),
            json!({"policy": "reject"}),
        ] {
            assert!(spec(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalization_ignores_layout() {
        let a = "table inet prov {\n\tchain input {\n\t\ttcp dport 22 accept\n\t}\n}\n";
        let b = "# comment\ntable inet prov {\n  chain input {\n    tcp  dport 22 accept\n\n  }\n}";
        assert_eq!(normalize_listing(a), normalize_listing(b));
        assert_ne!(
            normalize_listing(a),
            normalize_listing(&a.replace("22", "23"))
        );
    }

    #[test]
    fn ssh_guard_refuses_cutting_access() {
        let ctl: IpAddr = "10.77.0.1".parse().unwrap();
        // Drop policy, SSH admitted only from another network: refused.
        let s = spec(json!({"rules": [{"port": 22, "from": "192.168.0.0/16"}, {"port": 6379}]}))
            .unwrap();
        let e = s.ssh_guard(Some(ctl), 22).unwrap_err();
        assert!(
            e.contains("tcp/22") && e.contains("10.77.0.1") && e.contains("allow_cutting_ssh"),
            "{e}"
        );
        // No SSH rule at all, address unknown: refused.
        assert!(s.ssh_guard(None, 2222).is_err());
        // Admitted from the controller's network: fine.
        let s = spec(json!({"rules": [{"port": 22, "from": ["10.77.0.0/24"]}]})).unwrap();
        assert!(s.ssh_guard(Some(ctl), 22).is_ok());
        // ...but not on another SSH port.
        assert!(s.ssh_guard(Some(ctl), 2222).is_err());
        // A port range or a source-only rule admits it too.
        assert!(
            spec(json!({"rules": [{"port": "20-30"}]}))
                .unwrap()
                .ssh_guard(Some(ctl), 22)
                .is_ok()
        );
        assert!(
            spec(json!({"rules": [{"from": "10.77.0.1"}]}))
                .unwrap()
                .ssh_guard(Some(ctl), 22)
                .is_ok()
        );
        // An earlier drop rule wins.
        let s =
            spec(json!({"policy": "accept", "rules": [{"port": 22, "action": "drop"}]})).unwrap();
        assert!(s.ssh_guard(Some(ctl), 22).is_err());
        // Accept policy without rules is fine; loopback controllers are admitted by allow_loopback.
        assert!(
            spec(json!({"policy": "accept"}))
                .unwrap()
                .ssh_guard(Some(ctl), 22)
                .is_ok()
        );
        let s = spec(json!({"rules": []})).unwrap();
        assert!(s.ssh_guard(Some("127.0.0.1".parse().unwrap()), 22).is_ok());
        // Unknown address: any accepting SSH rule counts.
        let s = spec(json!({"rules": [{"port": 22, "from": "192.168.0.0/16"}]})).unwrap();
        assert!(s.ssh_guard(None, 22).is_ok());
    }

    #[test]
    fn ssh_connection_parses() {
        assert_eq!(
            parse_ssh_connection("10.77.0.1 54321 10.77.0.11 22\n"),
            Some(("10.77.0.1".parse().unwrap(), 22))
        );
        assert_eq!(
            parse_ssh_connection("::ffff:10.77.0.1 5 ::ffff:10.77.0.11 2222"),
            Some(("10.77.0.1".parse().unwrap(), 2222))
        );
        assert_eq!(parse_ssh_connection(""), None);
    }
}
