//! Shared helpers for end-to-end tests on lab hosts: the lab handle, a private inventory
//! folder built from the repository's `inventories/lab`, and running the real `prov` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use prov_lab::Lab;
use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The lab, or `None` (with a message) when lab tests cannot run here. With
/// `PROV_REQUIRE_LAB=1` (set by scripts/test.sh) a missing lab is a failure, not a skip.
pub fn lab() -> Option<Lab> {
    let required = std::env::var("PROV_REQUIRE_LAB").is_ok_and(|v| v == "1");
    match Lab::open(prov_lab::DEFAULT_STATE_DIR) {
        Ok(l) => Some(l),
        Err(e) if !required => {
            eprintln!("SKIPPED: lab tests need root on Linux and `prov lab`: {e}");
            None
        }
        Err(e) => panic!("PROV_REQUIRE_LAB=1 but the lab cannot be opened: {e}"),
    }
}

/// An inventory folder: the repository's lab group_vars plus the lab's generated hosts,
/// with group `redis` made of `redis_hosts`.
pub fn inventory(lab: &Lab, redis_hosts: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = repo_root().join("inventories/lab");
    copy_dir(&src.join("group_vars"), &dir.path().join("group_vars"));
    std::fs::write(
        dir.path().join("hosts.yml"),
        lab.inventory_yaml().expect("lab inventory"),
    )
    .unwrap();
    write_redis_group(dir.path(), redis_hosts);
    dir
}

/// A temporary folder holding the lab's inventory (`hosts.yml`) and `play`, for `prov run`.
pub struct PlayFiles {
    pub dir: tempfile::TempDir,
    /// The inventory's path.
    pub inv: String,
    /// The playbook's path.
    pub play: String,
}

/// Writes the lab's inventory and `play` into a new temporary folder.
pub fn play_files(lab: &Lab, play: &str) -> PlayFiles {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("hosts.yml");
    std::fs::write(&inv, lab.inventory_yaml().expect("lab inventory")).unwrap();
    let path = dir.path().join("play.yml");
    std::fs::write(&path, play).unwrap();
    PlayFiles {
        inv: inv.display().to_string(),
        play: path.display().to_string(),
        dir,
    }
}

/// Rewrites the `redis` group of an inventory folder.
pub fn write_redis_group(dir: &Path, hosts: &[&str]) {
    let mut text = String::from("all:\n  children:\n    redis:\n      hosts:\n");
    for h in hosts {
        text.push_str(&format!("        {h}:\n"));
    }
    std::fs::write(dir.join("redis.yml"), text).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// What one `prov run --output json` produced.
pub struct RunOutput {
    /// Exit code.
    pub code: i32,
    /// JSON events.
    pub events: Vec<Value>,
    /// Raw stdout.
    pub stdout: String,
    /// Raw stderr.
    pub stderr: String,
}

impl RunOutput {
    /// The recap entries.
    pub fn recap(&self) -> Vec<Value> {
        self.events
            .iter()
            .find(|e| e["event"] == "run_end")
            .and_then(|e| e["recap"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Sum of `changed` over hosts.
    pub fn total_changed(&self) -> u64 {
        self.recap()
            .iter()
            .map(|r| r["changed"].as_u64().unwrap_or(0))
            .sum()
    }

    /// Task results (`task_result` events).
    pub fn results(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "task_result")
            .collect()
    }

    /// Task results that changed something.
    pub fn changed_results(&self) -> Vec<&Value> {
        self.results()
            .into_iter()
            .filter(|r| r["changed"] == true)
            .collect()
    }
}

/// Runs the real `prov` binary with `args` and `--output json`.
pub fn prov(args: &[&str]) -> RunOutput {
    prov_with(args, &["--output", "json"])
}

/// Runs the real `prov` binary with `args` and its default (text) output.
pub fn prov_text(args: &[&str]) -> RunOutput {
    prov_with(args, &[])
}

fn prov_with(args: &[&str], extra: &[&str]) -> RunOutput {
    let out = Command::new(env!("CARGO_BIN_EXE_prov"))
        .args(args)
        .args(extra)
        .current_dir(repo_root())
        .output()
        .expect("prov runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let events = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    RunOutput {
        code: out.status.code().unwrap_or(-1),
        events,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The ansible-core to compare with: `$ANSIBLE_BIN`, else the `ansible` beside
/// `$ANSIBLE_VAULT_BIN`, else `$PROV_BENCH_CACHE/venv/bin/ansible` (what scripts/test.sh
/// installs).
pub fn ansible_bin() -> Option<PathBuf> {
    let from_env = std::env::var_os("ANSIBLE_BIN").map(PathBuf::from);
    let beside_vault = std::env::var_os("ANSIBLE_VAULT_BIN")
        .map(PathBuf::from)
        .and_then(|v| v.parent().map(|d| d.join("ansible")));
    let cache = std::env::var_os("PROV_BENCH_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/prov-bench"), PathBuf::from);
    [from_env, beside_vault, Some(cache.join("venv/bin/ansible"))]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
}

/// `ansible HOST -i WORK/hosts.yml` (the caller writes that inventory) with the lab's key and
/// known_hosts, as tests/corpus/compare runs it (no SSH control master left behind, its own
/// config and temporary folders under `work`, the JSON callback); add `-m`/`-a`.
pub fn ansible_command(ansible: &Path, lab: &Lab, work: &Path, host: &str) -> Command {
    let cfg = work.join("ansible.cfg");
    std::fs::write(&cfg, "[defaults]\n").unwrap();
    let mut cmd = Command::new(ansible);
    cmd.args([host, "-i"])
        .arg(work.join("hosts.yml"))
        .env("ANSIBLE_CONFIG", &cfg)
        .env("ANSIBLE_HOME", work.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", work.join("ansible-tmp"))
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env("ANSIBLE_SSH_ARGS", "-o ControlMaster=no")
        .env(
            "ANSIBLE_SSH_COMMON_ARGS",
            format!(
                "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes",
                lab.known_hosts().display()
            ),
        )
        .env("ANSIBLE_PIPELINING", "True")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_LOAD_CALLBACK_PLUGINS", "1")
        .env("ANSIBLE_STDOUT_CALLBACK", "json")
        .env("ANSIBLE_NOCOLOR", "1")
        .current_dir(work);
    cmd
}

/// Asserts that events carry the fields docs/output.md documents.
pub fn assert_documented_fields(events: &[Value]) {
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().expect("every event names its kind"))
        .collect();
    assert_eq!(kinds.first(), Some(&"run_start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"run_end"), "{kinds:?}");
    assert!(
        kinds.contains(&"play_start") && kinds.contains(&"task_start"),
        "{kinds:?}"
    );
    for r in events.iter().filter(|e| e["event"] == "task_result") {
        for field in [
            "host", "play", "task", "module", "status", "changed", "duration",
        ] {
            assert!(!r[field].is_null(), "task_result lacks `{field}`: {r}");
        }
        assert!(r["duration"].is_number(), "{r}");
        let status = r["status"].as_str().unwrap();
        assert!(
            [
                "ok",
                "changed",
                "failed",
                "skipped",
                "unreachable",
                "ignored",
                "rescued"
            ]
            .contains(&status),
            "{r}"
        );
    }
    for r in events.last().unwrap()["recap"]
        .as_array()
        .expect("run_end has a recap")
    {
        for field in [
            "host",
            "ok",
            "changed",
            "unreachable",
            "failed",
            "skipped",
            "rescued",
            "ignored",
        ] {
            assert!(
                r[field].is_string() || r[field].is_u64(),
                "recap lacks `{field}`: {r}"
            );
        }
    }
    assert!(events.last().unwrap()["elapsed"].is_number());
}
