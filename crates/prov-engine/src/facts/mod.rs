//! Facts: Ansible's `setup` facts, with Ansible's names and values, gathered in one round trip.
//!
//! One POSIX sh script (`probe.sh`, beside this file) reads what every collector needs and
//! prints it in length-framed sections ([`frame`]); each collector below turns its sections
//! into facts and reports a malformed answer as an error naming the fact.

mod datetime;
mod frame;
mod hardware;
mod local;
mod network;
mod platform;
mod system;
mod virt;

use serde_json::{Map, Value, json};

/// The probe script: POSIX sh, no Python.
pub const PROBE_SCRIPT: &str = include_str!("probe.sh");

/// Where local facts are read by default.
pub const DEFAULT_FACT_PATH: &str = "/etc/ansible/facts.d";

/// A fact the host answered in a way the parser cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fact `{fact}`: {msg}")]
pub struct FactError {
    /// The fact (or `probe output` for the framing).
    pub fact: String,
    /// What was wrong.
    pub msg: String,
}

impl FactError {
    pub(crate) fn new(fact: &str, msg: impl Into<String>) -> Self {
        FactError {
            fact: fact.to_owned(),
            msg: msg.into(),
        }
    }
}

type Collect = fn(&frame::Probe, &mut Map<String, Value>) -> Result<(), FactError>;

/// A collector: its name, the fact names that select it, the collectors it needs, its parser.
type Collector = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    Option<Collect>,
);

/// Ansible's collectors on Linux, in its order: name, the fact names it answers for in
/// `gather_subset`, the collectors it requires, what prov runs (None: not gathered by prov).
const COLLECTORS: &[Collector] = &[
    (
        "platform",
        &[
            "system",
            "kernel",
            "kernel_version",
            "machine",
            "python_version",
            "architecture",
            "machine_id",
        ],
        &[],
        Some(platform::platform),
    ),
    (
        "distribution",
        &[
            "distribution_version",
            "distribution_release",
            "distribution_major_version",
            "os_family",
        ],
        &[],
        Some(platform::distribution),
    ),
    ("lsb", &[], &[], Some(platform::lsb)),
    ("selinux", &[], &[], Some(system::selinux)),
    ("apparmor", &[], &[], Some(system::apparmor)),
    ("chroot", &["is_chroot"], &[], Some(system::chroot)),
    ("fips", &[], &[], Some(system::fips)),
    ("python", &[], &[], Some(system::python)),
    (
        "caps",
        &["system_capabilities", "system_capabilities_enforced"],
        &[],
        None,
    ),
    ("pkg_mgr", &[], &["distribution"], Some(system::pkg_mgr)),
    (
        "service_mgr",
        &[],
        &["platform", "distribution"],
        Some(system::service_mgr),
    ),
    ("cmdline", &[], &[], Some(system::cmdline)),
    ("date_time", &[], &[], Some(datetime::date_time)),
    ("env", &[], &[], Some(system::env)),
    ("loadavg", &[], &[], Some(system::loadavg)),
    (
        "ssh_pub_keys",
        &[
            "ssh_host_pub_keys",
            "ssh_host_key_dsa_public",
            "ssh_host_key_rsa_public",
            "ssh_host_key_ecdsa_public",
            "ssh_host_key_ed25519_public",
        ],
        &[],
        Some(system::ssh_pub_keys),
    ),
    (
        "user",
        &[
            "user_id",
            "user_uid",
            "user_gid",
            "user_gecos",
            "user_dir",
            "user_shell",
            "real_user_id",
            "effective_user_id",
            "effective_group_ids",
        ],
        &[],
        Some(system::user),
    ),
    ("systemd", &[], &[], None),
    (
        "virtual",
        &[
            "virtualization_type",
            "virtualization_role",
            "virtualization_tech_guest",
            "virtualization_tech_host",
        ],
        &[],
        Some(virt::virtual_),
    ),
    (
        "hardware",
        &[
            "processor",
            "processor_cores",
            "processor_count",
            "mounts",
            "devices",
        ],
        &["platform"],
        Some(hardware::hardware),
    ),
    ("dns", &[], &[], Some(system::dns)),
    ("fibre_channel_wwn", &[], &[], None),
    (
        "network",
        &[
            "interfaces",
            "default_ipv4",
            "default_ipv6",
            "all_ipv4_addresses",
            "all_ipv6_addresses",
        ],
        &["distribution", "platform"],
        Some(network::network),
    ),
    ("iscsi", &[], &[], None),
    ("nvme", &[], &[], None),
    ("local", &[], &[], None),
    ("facter", &[], &[], None),
    ("ohai", &[], &[], None),
];

/// What `setup` always gathers, even under `gather_subset: "!all"`.
const MINIMAL: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

/// Collectors prov has no probe for; naming one explicitly is refused.
fn unsupported(name: &str) -> bool {
    COLLECTORS
        .iter()
        .any(|(n, _, _, run)| *n == name && run.is_none() && name != "local")
}

/// One fact gathering: which collectors run, the `filter`, the local facts folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `gather_subset` as written (reported back as the `gather_subset` fact).
    pub gather_subset: Vec<String>,
    /// The collectors that run, in Ansible's order.
    pub collectors: Vec<&'static str>,
    /// `filter`: globs on fact names (`ansible_eth*` or `eth*`); empty keeps all.
    pub filter: Vec<String>,
    /// `fact_path`: local facts.
    pub fact_path: String,
}

impl Default for Request {
    fn default() -> Self {
        Request::new(&["all".to_owned()], &[], DEFAULT_FACT_PATH).expect("`all` is valid")
    }
}

impl Request {
    /// Resolves `gather_subset` as Ansible does (`min` always first; `!x` excludes, `all`,
    /// `!all`, `!min`, single collectors or their fact names); an unknown name is an error.
    pub fn new(
        gather_subset: &[String],
        filter: &[String],
        fact_path: &str,
    ) -> Result<Self, String> {
        let valid: Vec<&str> = COLLECTORS.iter().map(|c| c.0).collect();
        let aliases = |name: &str| -> Vec<&'static str> {
            COLLECTORS
                .iter()
                .filter(|c| c.0 == name || c.1.contains(&name))
                .map(|c| c.0)
                .collect()
        };
        let mut add: Vec<&str> = Vec::new();
        let mut exclude: Vec<&str> = Vec::new();
        let mut explicit: Vec<&str> = Vec::new();
        let subsets = std::iter::once("min").chain(gather_subset.iter().map(|s| s.trim()));
        for s in subsets {
            match s {
                "min" => add.extend(MINIMAL),
                "all" => add.extend(&valid),
                "!min" => exclude.extend(MINIMAL),
                "!all" => exclude.extend(valid.iter().filter(|v| !MINIMAL.contains(v))),
                _ if s.starts_with('!') => exclude.extend(aliases(&s[1..])),
                _ => {
                    let found = aliases(s);
                    if found.is_empty() {
                        return Err(format!(
                            "bad subset `{s}`: gather_subset takes all, min, {}",
                            valid.join(", ")
                        ));
                    }
                    if let Some(u) = found.iter().find(|c| unsupported(c)) {
                        return Err(format!(
                            "prov does not gather the `{u}` facts (asked for by `{s}`)"
                        ));
                    }
                    explicit.extend(&found);
                    add.extend(&found);
                }
            }
        }
        add.retain(|c| !exclude.contains(c) || explicit.contains(c));
        // Requirements run too (network needs platform and distribution...).
        for (name, _, requires, _) in COLLECTORS {
            if add.contains(name) {
                let needed: Vec<&str> = requires.to_vec();
                add.extend(needed);
            }
        }
        let collectors = valid.into_iter().filter(|c| add.contains(c)).collect();
        Ok(Request {
            gather_subset: gather_subset.to_vec(),
            collectors,
            filter: filter.to_vec(),
            fact_path: fact_path.to_owned(),
        })
    }

    /// The script to run on the host: the probe, told which collectors to serve.
    pub fn script(&self) -> String {
        let mut groups = self.collectors.join(" ");
        // The restrictive collectors share a probe function.
        if ["selinux", "apparmor", "chroot", "fips"]
            .iter()
            .any(|c| self.collectors.contains(c))
        {
            groups.push_str(" restrictive");
        }
        format!(
            "PROV_FACTS_SUBSETS='{groups}'\nPROV_FACTS_PATH={}\n{PROBE_SCRIPT}",
            prov_core::quote::quote(&self.fact_path)
        )
    }

    /// Turns the probe's output into facts (names without `ansible_`), filtered.
    pub fn parse(&self, output: &[u8]) -> Result<Map<String, Value>, FactError> {
        let probe = frame::split(output)?;
        let mut facts = Map::new();
        for (name, _, _, run) in COLLECTORS {
            if !self.collectors.contains(name) {
                continue;
            }
            match (name, run) {
                (&"local", _) => local::local(&probe, &self.fact_path, &mut facts)?,
                (_, Some(run)) => run(&probe, &mut facts)?,
                (_, None) => {}
            }
        }
        facts.insert("gather_subset".into(), json!(self.gather_subset));
        facts.insert("module_setup".into(), json!(true));
        Ok(self.filtered(facts))
    }

    /// Ansible's `filter`: a fact is kept when a pattern matches its name as `setup` returns
    /// it (`ansible_NAME`, `gather_subset`), or that name with `ansible_` put in front for a
    /// pattern that lacks it; an empty pattern or `*` keeps everything.
    fn filtered(&self, facts: Map<String, Value>) -> Map<String, Value> {
        if self.filter.is_empty() || self.filter.iter().any(|f| f.is_empty() || f == "*") {
            return facts;
        }
        let mut globs: Vec<globset::GlobMatcher> = Vec::new();
        for f in &self.filter {
            let mut patterns = vec![f.clone()];
            if !(f.starts_with("ansible_") || f.starts_with("facter") || f.starts_with("ohai")) {
                patterns.push(format!("ansible_{f}"));
            }
            globs.extend(
                patterns
                    .iter()
                    .filter_map(|p| globset::Glob::new(p).ok().map(|g| g.compile_matcher())),
            );
        }
        facts
            .into_iter()
            .filter(|(k, _)| {
                let name = module_name(k);
                globs.iter().any(|g| g.is_match(&name))
            })
            .collect()
    }
}

/// A fact's name as `setup` returns it: `ansible_` in front, but for its own two facts.
fn module_name(fact: &str) -> String {
    match fact {
        "gather_subset" | "module_setup" => fact.to_owned(),
        _ => format!("ansible_{fact}"),
    }
}

/// Facts as Ansible's `setup` returns them (its result's `ansible_facts`): every name with
/// `ansible_` in front, except `gather_subset` and `module_setup`.
pub fn module_facts(facts: Map<String, Value>) -> Map<String, Value> {
    facts
        .into_iter()
        .map(|(k, v)| (module_name(&k), v))
        .collect()
}

/// Checks a `filter` pattern (an invalid glob is refused at load time).
pub fn check_filter(pattern: &str) -> Result<(), String> {
    globset::Glob::new(pattern)
        .map(drop)
        .map_err(|e| format!("filter `{pattern}`: {e}"))
}

#[cfg(test)]
mod tests;
