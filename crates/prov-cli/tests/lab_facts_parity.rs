//! prov's facts against the real Ansible's on the same lab host: `ansible lab4 -m setup`
//! (ansible-core 2.19 from the benchmark's virtualenv) and `prov run` of a play that shows
//! `ansible_facts`, compared fact by fact. Every fact both gather must be equal, except the few
//! listed in [`VARYING`] (they change between two runs) and [`SESSION`]; the facts prov does
//! not gather are listed in [`NOT_GATHERED`] with the reason (docs/ansible-content.md, Facts).
//! A second pair of runs checks `setup` with `gather_subset` and `filter` returns the same
//! names as Ansible's.
//!
//! Needs the lab (host lab4, read only) and ansible-core: `$ANSIBLE_BIN`, else the `ansible`
//! beside `$ANSIBLE_VAULT_BIN`, else `$PROV_BENCH_CACHE/venv/bin/ansible` (what scripts/test.sh
//! installs). Without them the test is skipped with a message, unless `PROV_REQUIRE_LAB=1`.

mod support;

use std::path::Path;
use std::time::Instant;

use serde_json::{Map, Value};
use support::lab::{self, prov};

const HOST: &str = "lab4";

/// Facts Ansible gathers and prov does not, and why.
const NOT_GATHERED: &[(&str, &str)] = &[
    ("bios_date", "DMI (/sys/class/dmi/id): not gathered"),
    ("bios_vendor", "DMI: not gathered"),
    ("bios_version", "DMI: not gathered"),
    ("board_asset_tag", "DMI: not gathered"),
    ("board_name", "DMI: not gathered"),
    ("board_serial", "DMI: not gathered"),
    ("board_vendor", "DMI: not gathered"),
    ("board_version", "DMI: not gathered"),
    ("chassis_asset_tag", "DMI: not gathered"),
    ("chassis_serial", "DMI: not gathered"),
    ("chassis_vendor", "DMI: not gathered"),
    ("chassis_version", "DMI: not gathered"),
    ("form_factor", "DMI: not gathered"),
    ("product_name", "DMI: not gathered"),
    ("product_serial", "DMI: not gathered"),
    ("product_uuid", "DMI: not gathered"),
    ("product_version", "DMI: not gathered"),
    ("system_vendor", "DMI: not gathered"),
    ("devices", "block devices (/sys/block): not gathered"),
    (
        "device_links",
        "block device links (/dev/disk/by-*): not gathered",
    ),
    ("lvm", "LVM (vgs/lvs/pvs): not gathered"),
    (
        "locally_reachable_ips",
        "`ip route show table local`: not gathered",
    ),
    (
        "userspace_architecture",
        "comes from the Python interpreter; prov runs none",
    ),
    (
        "userspace_bits",
        "comes from the Python interpreter; prov runs none",
    ),
    (
        "discovered_interpreter_python",
        "Ansible's interpreter discovery; prov runs none",
    ),
    (
        "system_capabilities",
        "the `caps` collector (capsh): not gathered",
    ),
    (
        "system_capabilities_enforced",
        "the `caps` collector: not gathered",
    ),
    (
        "systemd",
        "the `systemd` collector (systemctl --version): not gathered",
    ),
    (
        "fibre_channel_wwn",
        "the `fibre_channel_wwn` collector: not gathered",
    ),
    ("iscsi_iqn", "the `iscsi` collector: not gathered"),
    ("hostnqn", "the `nvme` collector: not gathered"),
];

/// Facts only prov has, and why.
const PROV_ONLY: &[(&str, &str)] = &[(
    "ssh_client_address",
    "prov's own: the controller's address as the host sees it (read by the firewall module)",
)];

/// Facts whose values change between two runs a second apart: compared for shape and range
/// (see [`compare_varying`]), not for equality.
const VARYING: &[&str] = &[
    "date_time",
    "uptime_seconds",
    "loadavg",
    "memfree_mb",
    "swapfree_mb",
    "memory_mb",
    "mounts",
];

/// Facts of the session: compared without what differs from one SSH session to another
/// (see [`compare_env`]).
const SESSION: &[&str] = &["env"];

/// Lists whose order is not meaningful (compared as sets): Ansible lists `/sys/class/net` in
/// directory order (glob), and the virtualization technologies as a set.
const UNORDERED: &[&str] = &[
    "interfaces",
    "virtualization_tech_guest",
    "virtualization_tech_host",
];

/// Runs `ansible HOST -m setup [-a ARGS]`; its `ansible_facts`.
fn ansible_setup(ansible: &Path, lab: &prov_lab::Lab, work: &Path, args: Option<&str>) -> Value {
    ansible_facts_of(ansible, lab, work, "setup", args)
}

/// Runs `ansible HOST -m MODULE [-a ARGS]` ([`lab::ansible_command`]); its `ansible_facts`.
fn ansible_facts_of(
    ansible: &Path,
    lab: &prov_lab::Lab,
    work: &Path,
    module: &str,
    args: Option<&str>,
) -> Value {
    let mut cmd = lab::ansible_command(ansible, lab, work, HOST);
    cmd.args(["-m", module]);
    if let Some(a) = args {
        cmd.args(["-a", a]);
    }
    let out = cmd.output().expect("ansible runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ansible {HOST} -m {module} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("ansible's json callback output");
    report["plays"][0]["tasks"][0]["hosts"][HOST]["ansible_facts"].clone()
}

/// Ansible's `namespace_facts`: what a play sees as `ansible_facts`.
fn namespaced(facts: &Value) -> Map<String, Value> {
    facts
        .as_object()
        .expect("ansible_facts is a mapping")
        .iter()
        .map(|(k, v)| match k.strip_prefix("ansible_") {
            Some(name) if k != "ansible_local" => (name.to_owned(), v.clone()),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

const PLAY: &str = r#"
- hosts: lab4
  gather_facts: yes
  tasks:
    - name: facts
      debug: var=ansible_facts
    - name: setup again
      ansible.builtin.setup: gather_subset=!all,!min,network,distribution filter=ansible_distribution*,ansible_default_ipv4,ansible_lo
    - name: packages
      package_facts:
"#;

/// The `result` of `task` on the host in a `prov run --output json`.
fn prov_result<'a>(out: &'a lab::RunOutput, task: &str) -> &'a Value {
    let r = out
        .results()
        .into_iter()
        .find(|r| r["task"] == task && r["host"] == HOST)
        .unwrap_or_else(|| panic!("no result of `{task}`:\n{}", out.stdout));
    assert_eq!(r["status"], "ok", "{r}");
    &r["result"]
}

fn num(v: &Value, what: &str, diffs: &mut Vec<String>) -> f64 {
    match v.as_f64() {
        Some(n) => n,
        None => {
            diffs.push(format!("{what}: not a number: {v}"));
            0.0
        }
    }
}

/// The changing facts: the same fields, the same fixed values, moving ones within reason.
/// `secs` is how long both runs took together.
fn compare_varying(name: &str, a: &Value, p: &Value, secs: f64, diffs: &mut Vec<String>) {
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    if keys(a) != keys(p) {
        diffs.push(format!(
            "{name}: fields {:?} vs prov {:?}",
            keys(a),
            keys(p)
        ));
    }
    let epoch = |v: &Value, d: &mut Vec<String>| {
        let e = v["epoch"].as_str().and_then(|s| s.parse::<f64>().ok());
        e.unwrap_or_else(|| {
            d.push(format!("{name}.epoch: {v}"));
            0.0
        })
    };
    match name {
        "date_time" => {
            let (ea, ep) = (epoch(a, diffs), epoch(p, diffs));
            if !(0.0..=secs + 2.0).contains(&(ep - ea)) {
                diffs.push(format!("date_time.epoch: {ea} then prov {ep}"));
            }
            let mut fixed = vec!["tz", "tz_dst", "tz_offset"];
            if a["hour"] == p["hour"] {
                fixed.extend(["date", "year", "month", "day", "weekday", "weekday_number"]);
                fixed.push("weeknumber");
            }
            for k in fixed {
                if a[k] != p[k] {
                    diffs.push(format!("date_time.{k}: {} vs prov {}", a[k], p[k]));
                }
            }
        }
        "uptime_seconds" => {
            let d = num(p, name, diffs) - num(a, name, diffs);
            if !(-1.0..=secs + 2.0).contains(&d) {
                diffs.push(format!("uptime_seconds: {a} then prov {p}"));
            }
        }
        "loadavg" => {
            for k in keys(a) {
                if num(&p[&k], name, diffs) < 0.0 {
                    diffs.push(format!("loadavg.{k}: {}", p[&k]));
                }
            }
        }
        "memfree_mb" | "swapfree_mb" => {
            num(p, name, diffs);
        }
        "memory_mb" => {
            for part in ["real", "swap"] {
                if a[part]["total"] != p[part]["total"] {
                    diffs.push(format!("memory_mb.{part}.total: {a} vs prov {p}"));
                }
            }
            for part in keys(a) {
                if keys(&a[&part]) != keys(&p[&part]) {
                    diffs.push(format!(
                        "memory_mb.{part}: {} vs prov {}",
                        a[&part], p[&part]
                    ));
                }
            }
        }
        "mounts" => compare_mounts(a, p, diffs),
        _ => unreachable!("{name} is not in VARYING"),
    }
}

/// Mounts by mount point; free space and inodes in use change with other writers.
fn compare_mounts(a: &Value, p: &Value, diffs: &mut Vec<String>) {
    const MOVING: &[&str] = &[
        "block_available",
        "block_used",
        "size_available",
        "inode_available",
        "inode_used",
    ];
    let by_mount = |v: &Value| -> Vec<Map<String, Value>> {
        let mut m: Vec<Map<String, Value>> = v
            .as_array()
            .map(|l| l.iter().filter_map(|x| x.as_object().cloned()).collect())
            .unwrap_or_default();
        m.sort_by_key(|x| x["mount"].to_string());
        m
    };
    let (am, pm) = (by_mount(a), by_mount(p));
    if am.len() != pm.len() {
        diffs.push(format!("mounts: {a} vs prov {p}"));
        return;
    }
    for (x, y) in am.iter().zip(&pm) {
        let mut x = x.clone();
        let mut y = y.clone();
        for k in MOVING {
            if x.contains_key(*k) != y.contains_key(*k) {
                diffs.push(format!("mounts[{}].{k}: present in one only", x["mount"]));
            }
            x.remove(*k);
            y.remove(*k);
        }
        if x != y {
            diffs.push(format!("mounts: {x:?} vs prov {y:?}"));
        }
    }
}

/// The session's environment: the same, but for the client port of `SSH_CLIENT` and
/// `SSH_CONNECTION`, what the OpenSSH client sends (`SendEnv LANG LC_*`) and `_` (the last
/// command of the shell that started Ansible's Python).
fn compare_env(a: &Value, p: &Value, diffs: &mut Vec<String>) {
    let clean = |v: &Value, ansible: bool| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        for k in ["SSH_CLIENT", "SSH_CONNECTION"] {
            if let Some(Value::String(s)) = m.get(k) {
                let mut w: Vec<&str> = s.split(' ').collect();
                if w.len() > 1 {
                    w[1] = "PORT";
                }
                m.insert(k.into(), Value::String(w.join(" ")));
            }
        }
        if ansible {
            m.retain(|k, _| k != "_" && k != "LANG" && !k.starts_with("LC_"));
        }
        m
    };
    let (ae, pe) = (clean(a, true), clean(p, false));
    for k in ae.keys().chain(pe.keys()) {
        if ae.get(k) != pe.get(k) {
            diffs.push(format!("env.{k}: {:?} vs prov {:?}", ae.get(k), pe.get(k)));
        }
    }
}

fn sorted(v: &Value) -> Vec<String> {
    let mut l: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    l.sort();
    l
}

/// Every difference between Ansible's facts and prov's that the lists above do not explain.
fn differences(ansible: &Map<String, Value>, prov: &Map<String, Value>, secs: f64) -> Vec<String> {
    let mut diffs = Vec::new();
    let listed = |l: &[(&str, &str)], k: &str| l.iter().any(|(n, _)| *n == k);
    for (k, a) in ansible {
        let Some(p) = prov.get(k) else {
            if !listed(NOT_GATHERED, k) {
                diffs.push(format!("{k}: gathered by Ansible ({a}), not by prov"));
            }
            continue;
        };
        if listed(NOT_GATHERED, k) {
            diffs.push(format!(
                "{k}: prov gathers it now; take it off NOT_GATHERED"
            ));
        }
        if VARYING.contains(&k.as_str()) {
            compare_varying(k, a, p, secs, &mut diffs);
        } else if SESSION.contains(&k.as_str()) {
            compare_env(a, p, &mut diffs);
        } else if UNORDERED.contains(&k.as_str()) {
            if sorted(a) != sorted(p) {
                diffs.push(format!("{k}: {a} vs prov {p}"));
            }
        } else if a != p {
            diffs.push(format!("{k}: {a}\n   prov: {p}"));
        }
    }
    for k in prov.keys().filter(|k| !ansible.contains_key(*k)) {
        if !listed(PROV_ONLY, k) {
            diffs.push(format!("{k}: gathered by prov only ({})", prov[k]));
        }
    }
    diffs
}

#[test]
fn facts_are_ansibles_on_a_lab_host() {
    let Some(lab) = lab::lab() else { return };
    let required = std::env::var("PROV_REQUIRE_LAB").is_ok_and(|v| v == "1");
    let Some(ansible) = lab::ansible_bin() else {
        assert!(
            !required,
            "PROV_REQUIRE_LAB=1 but no ansible-core (set ANSIBLE_BIN)"
        );
        eprintln!("SKIPPED: no ansible-core (set ANSIBLE_BIN or PROV_BENCH_CACHE)");
        return;
    };
    // Other lab tests resize the lab: make sure lab4 runs (as lab_progress.rs does).
    if !lab.hosts().unwrap_or_default().iter().any(|h| h == HOST) {
        lab.up(4).expect("lab up 4 hosts");
    }
    let work = tempfile::tempdir().unwrap();
    let inventory = lab.inventory_yaml().expect("lab inventory");
    std::fs::write(work.path().join("hosts.yml"), inventory).unwrap();
    let play = work.path().join("play.yml");
    std::fs::write(&play, PLAY).unwrap();

    let started = Instant::now();
    let theirs = ansible_setup(&ansible, &lab, work.path(), None);
    let inv = work.path().join("hosts.yml").display().to_string();
    let out = prov(&["run", &play.display().to_string(), "-i", &inv]);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let ours = prov_result(&out, "facts")["ansible_facts"]
        .as_object()
        .cloned()
        .expect("ansible_facts shown");
    let diffs = differences(&namespaced(&theirs), &ours, secs);
    assert!(
        diffs.is_empty(),
        "{} facts differ from Ansible's:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    // Sanity: the comparison covered the facts both gather.
    assert!(ours.len() >= 60, "{:?}", ours.keys());

    // `setup` with a subset and a filter: the names Ansible returns, the same values.
    let args = "gather_subset=!all,!min,network,distribution filter=ansible_distribution*,ansible_default_ipv4,ansible_lo";
    let theirs = ansible_setup(&ansible, &lab, work.path(), Some(args));
    let ours = &prov_result(&out, "setup again")["ansible_facts"];
    let names = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    let mut expected = names(&theirs);
    expected.retain(|k| k != "discovered_interpreter_python");
    assert_eq!(expected, names(ours));
    for k in expected {
        assert_eq!(theirs[&k], ours[&k], "{k}");
    }

    // `package_facts`: every installed package, the same entries.
    let theirs = ansible_facts_of(&ansible, &lab, work.path(), "package_facts", None);
    let ours = &prov_result(&out, "packages")["ansible_facts"]["packages"];
    assert!(
        theirs["packages"]
            .as_object()
            .is_some_and(|p| p.len() > 100)
    );
    assert_eq!(theirs["packages"], *ours);
}
