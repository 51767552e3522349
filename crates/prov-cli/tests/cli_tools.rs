//! The CI-facing tools of the command line: `prov lint`, `--version`, shell completions, the man
//! page, and the shape of `--output json` events (docs/output.md).

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn prov(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prov"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("prov runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lint_accepts_the_redis_playbook() {
    let (code, out, err) = prov(
        &[
            "lint",
            "playbooks/redis-cluster.yml",
            "-i",
            "inventories/lab",
            "--vault-password-file",
            "inventories/lab/vault-password",
        ],
        &root(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no problems found"));
}

#[test]
fn lint_finds_a_broken_template_file_before_any_run() {
    let dir = root().join("tests/fixtures/broken");
    let (code, _, err) = prov(
        &["lint", "template-syntax-file.yml", "-i", "inventory.yml"],
        &dir,
    );
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("templates/broken.j2:3:"),
        "names file:line:column: {err}"
    );
    // Errors found while loading are lint errors too, with their locations.
    let (code, _, err) = prov(&["lint", "unknown-module.yml", "-i", "inventory.yml"], &dir);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("unknown-module.yml:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn lint_reports_every_load_time_mistake_of_the_corpus_with_its_location() {
    let dir = root().join("tests/fixtures/broken");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yml") || name == "inventory.yml" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {k}: ")))
                .map(str::to_owned)
        };
        if header("expect-exit").as_deref() != Some("4") {
            continue;
        }
        let at = header("expect-at").expect("expect-at");
        let (code, _, err) = prov(&["lint", &name, "-i", "inventory.yml"], &dir);
        assert_eq!(code, 4, "{name}: {err}");
        assert!(err.contains(&at), "{name}: expected {at} in: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} load-time cases in the corpus"
    );
}

#[test]
fn inventory_commands_show_the_tree_and_mask_vault_values() {
    let lab_inv = [
        "-i",
        "inventories/lab",
        "--vault-password-file",
        "inventories/lab/vault-password",
    ];
    let (code, out, err) = prov(
        &[&["inventory"][..], &lab_inv, &["graph"]].concat(),
        &root(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("@all:") && out.contains("@redis:") && out.contains("lab1"),
        "{out}"
    );
    let (code, out, err) = prov(
        &[&["inventory"][..], &lab_inv, &["host", "lab1"]].concat(),
        &root(),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("host variables as JSON");
    assert_eq!(
        v["redis_password"], "********",
        "vault values are masked: {out}"
    );
    let (code, out, _) = prov(&[&["inventory"][..], &lab_inv, &["list"]].concat(), &root());
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["_meta"]["hostvars"]["lab2"]["redis_password"], "********",
        "{out}"
    );
}

#[test]
fn version_completions_and_man_page() {
    let (code, out, _) = prov(&["--version"], &root());
    assert_eq!(code, 0);
    assert!(out.starts_with("prov "), "{out}");
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = prov(&["completions", shell], &root());
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("prov") && out.contains("run") && out.len() > 500,
            "{shell}: {out}"
        );
    }
    let (code, out, _) = prov(&["man"], &root());
    assert_eq!(code, 0);
    assert!(out.contains(".TH prov"), "{out}");
}

#[test]
fn json_events_have_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inv.yml"),
        "all:\n  hosts:\n    h1: { ansible_connection: local }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("play.yml"),
        format!(
            "- hosts: all\n  gather_facts: no\n  tasks:\n    - copy: {{ content: \"x\\n\", dest: \"{0}/f\" }}\n    - command: \"false\"\n      ignore_errors: yes\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (code, out, err) = prov(
        &[
            "run", "play.yml", "-i", "inv.yml", "--output", "json", "--diff",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_start"));
    assert_eq!(kinds.last(), Some(&"run_end"));
    assert!(kinds.contains(&"play_start") && kinds.contains(&"task_start"));
    for r in events.iter().filter(|e| e["event"] == "task_result") {
        for field in [
            "host", "play", "task", "module", "status", "changed", "duration",
        ] {
            assert!(!r[field].is_null(), "task_result lacks `{field}`: {r}");
        }
        assert!(r["duration"].is_number());
    }
    let copy = events.iter().find(|e| e["module"] == "copy").unwrap();
    assert_eq!(copy["status"], "changed");
    assert!(copy["diffs"][0]["after"].as_str().unwrap().contains('x'));
    let ignored = events.iter().find(|e| e["module"] == "command").unwrap();
    assert_eq!(ignored["status"], "ignored");
    let recap = &events.last().unwrap()["recap"][0];
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
        assert!(!recap[field].is_null(), "recap lacks `{field}`");
    }
    assert_eq!(recap["ignored"], 1);
}
