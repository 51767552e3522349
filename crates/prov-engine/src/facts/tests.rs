//! The probe as a whole: run for real on this machine, its subsets, `filter`.

use std::process::Command;

use super::*;

fn subsets(s: &[&str]) -> Result<Request, String> {
    let s: Vec<String> = s.iter().map(|x| (*x).to_owned()).collect();
    Request::new(&s, &[], DEFAULT_FACT_PATH)
}

#[test]
fn gather_subset_resolves_as_ansible() {
    let all = subsets(&["all"]).unwrap().collectors;
    assert!(all.contains(&"hardware") && all.contains(&"network") && all.contains(&"local"));
    let min = subsets(&["!all"]).unwrap().collectors;
    assert!(
        min.contains(&"distribution") && !min.contains(&"hardware") && !min.contains(&"network")
    );
    // `network` alone is min plus network.
    let net = subsets(&["network"]).unwrap().collectors;
    assert!(net.contains(&"network") && net.contains(&"env") && !net.contains(&"hardware"));
    let no_hw = subsets(&["all", "!hardware"]).unwrap().collectors;
    assert!(!no_hw.contains(&"hardware") && no_hw.contains(&"virtual"));
    // `!all,!min` keeps only what is named, plus what it requires.
    let only = subsets(&["!all", "!min", "hardware"]).unwrap().collectors;
    assert_eq!(only, vec!["platform", "hardware"]);
    // A fact name selects its collector.
    let by_fact = subsets(&["!all", "!min", "os_family"]).unwrap().collectors;
    assert_eq!(by_fact, vec!["distribution"]);
    let e = subsets(&["hardwar"]).unwrap_err();
    assert!(e.contains("bad subset `hardwar`"), "{e}");
    let e = subsets(&["!all", "facter"]).unwrap_err();
    assert!(e.contains("does not gather the `facter` facts"), "{e}");
    assert!(subsets(&["all", "!facter"]).is_ok());
}

fn run_locally(req: &Request) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(req.script())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The probe's `slurp` gives a file's content: a short one read line by line (a missing
/// last newline added), a long one (over 64 lines, read by `cat`) exactly.
#[test]
fn slurp_reads_short_and_long_files() {
    let probe = include_str!("probe.sh");
    let start = probe.find("slurp() {").unwrap();
    let end = start + probe[start..].find("\n}\n").unwrap() + 3;
    let dir = tempfile::tempdir().unwrap();
    let long: String = (0..500).map(|i| format!("line {i}\tx  \\n\n")).collect();
    for (name, content, want) in [
        (
            "short",
            "a\n  b\\c\n\nlast",
            "a\n  b\\c\n\nlast\n".to_string(),
        ),
        ("long", long.as_str(), long.clone()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let script = format!("{}\nslurp \"$1\" && printf %s \"$_s\"", &probe[start..end]);
        let out = Command::new("sh")
            .args(["-c", &script, "sh"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{name}");
    }
}

/// The real probe on this (Linux) machine: every fact group parses.
#[test]
fn the_probe_runs_and_parses_here() {
    let req = Request::default();
    let facts = req.parse(&run_locally(&req)).unwrap();
    for k in [
        "system",
        "kernel",
        "distribution",
        "os_family",
        "memtotal_mb",
        "processor_vcpus",
        "interfaces",
        "env",
        "date_time",
        "user_id",
        "virtualization_type",
        "service_mgr",
        "pkg_mgr",
        "dns",
        "cmdline",
        "local",
        "fips",
        "is_chroot",
        "mounts",
    ] {
        assert!(facts.contains_key(k), "no `{k}` in {:?}", facts.keys());
    }
    assert_eq!(facts["system"], "Linux");
    assert_eq!(facts["gather_subset"], json!(["all"]));
    // The environment is the caller's, not the probe's own settings.
    assert!(facts["env"].get("LC_ALL").is_none() || std::env::var("LC_ALL").is_ok());
    assert!(facts["env"].get("PROV_FACTS_SUBSETS").is_none());
}

#[test]
fn subsets_and_filter_limit_what_is_probed_and_kept() {
    let req = Request::new(
        &["!all".into()],
        &["distribution*".into(), "ansible_os_family".into()],
        DEFAULT_FACT_PATH,
    )
    .unwrap();
    let out = run_locally(&req);
    let text = String::from_utf8_lossy(&out);
    assert!(
        !text.contains("/proc/meminfo"),
        "hardware was not asked for"
    );
    let facts = req.parse(&out).unwrap();
    let mut keys: Vec<&str> = facts.keys().map(String::as_str).collect();
    keys.retain(|k| !k.starts_with("distribution"));
    keys.sort_unstable();
    // As in Ansible, setup's own facts are filtered too.
    assert_eq!(keys, vec!["os_family"]);
    assert!(facts.contains_key("distribution_version"));
    let keep = |filter: &[&str]| {
        let filter: Vec<String> = filter.iter().map(|f| (*f).to_owned()).collect();
        let req = Request::new(&["!all".into()], &filter, DEFAULT_FACT_PATH).unwrap();
        let facts = req.parse(&out).unwrap();
        let mut keys: Vec<String> = facts.keys().cloned().collect();
        keys.sort_unstable();
        keys
    };
    assert_eq!(
        keep(&["module_*", "os_family"]),
        ["module_setup", "os_family"]
    );
    assert!(keep(&["os_family", "*"]).len() > 10);
}

#[test]
fn a_cut_short_answer_is_an_error() {
    let req = Request::default();
    let out = run_locally(&req);
    let cut = &out[..out.len() - 30];
    let e = req.parse(cut).unwrap_err();
    assert_eq!(e.fact, "probe output");
}

/// shellcheck, when installed, finds nothing in the probe.
#[test]
fn probe_passes_shellcheck() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/facts/probe.sh");
    let syntax = Command::new("sh")
        .args(["-n", path])
        .status()
        .expect("sh runs");
    assert!(syntax.success(), "sh -n {path}");
    match Command::new("shellcheck").args(["-s", "sh", path]).output() {
        Ok(out) => assert!(
            out.status.success(),
            "shellcheck:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(_) => eprintln!("SKIPPED: shellcheck is not installed"),
    }
}
