//! The broken-input corpus (`tests/fixtures/broken/` at the repository root): every mistake is
//! reported with `file:line:column` and the right exit code, never with a panic.

mod engine_support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

struct Expect {
    file: String,
    exit: i32,
    at: String,
    msg: String,
    task: Option<String>,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/broken")
}

fn corpus() -> Vec<Expect> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fixtures/broken exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml") && !p.ends_with("inventory.yml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        let header = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {k}: ")))
                .map(str::to_owned)
        };
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Expect {
            exit: header("expect-exit")
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("{file}: no expect-exit")),
            at: header("expect-at").unwrap_or_else(|| panic!("{file}: no expect-at")),
            msg: header("expect-msg").unwrap_or_else(|| panic!("{file}: no expect-msg")),
            task: header("expect-task"),
            file,
        });
    }
    out
}

/// Runs `prov run ARGS` in the corpus folder with its address space capped at 8 GiB: the
/// templates that grow without bound must fail their task, and if that regressed the cap
/// turns it into an abort (a failed case) instead of a machine out of memory.
fn prov(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("sh")
        .args(["-c", "ulimit -v 8388608 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_prov"))
        .arg("run")
        .args(args)
        .current_dir(corpus_dir())
        .env("NO_COLOR", "1")
        .output()
        .expect("run prov");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_broken_input_names_its_location() {
    let cases = corpus();
    assert!(
        cases.len() >= 12,
        "the corpus is there: {} cases",
        cases.len()
    );
    let mut problems = Vec::new();
    for c in &cases {
        let (code, stdout, stderr) = prov(&[&c.file, "-i", "inventory.yml", "--output", "json"]);
        let dump = format!("exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
        if stderr.contains("panicked") || code == 101 {
            problems.push(format!("{}: panic\n{dump}", c.file));
            continue;
        }
        if code != c.exit {
            problems.push(format!(
                "{}: exit {code}, expected {}\n{dump}",
                c.file, c.exit
            ));
            continue;
        }
        let events: Vec<Value> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        match c.exit {
            4 => {
                let want = format!("prov: error: {}", c.at);
                if !stderr.contains(&want) || !stderr.contains(&c.msg) {
                    problems.push(format!(
                        "{}: stderr lacks `{want}` or `{}`\n{dump}",
                        c.file, c.msg
                    ));
                }
                if events.iter().any(|e| e["event"] == "task_result") {
                    problems.push(format!("{}: a task ran despite bad input\n{dump}", c.file));
                }
                let (sc, _, serr) = prov(&[&c.file, "-i", "inventory.yml", "--syntax-check"]);
                if sc != 4 || !serr.contains(&c.at) {
                    problems.push(format!(
                        "{}: --syntax-check exit {sc}, stderr: {serr}",
                        c.file
                    ));
                }
            }
            2 => {
                let task = c.task.clone().unwrap_or_default();
                let failed: Vec<&Value> = events
                    .iter()
                    .filter(|e| e["event"] == "task_result" && e["status"] == "failed")
                    .collect();
                let ok = failed.len() == 1
                    && failed[0]["host"] == "h1"
                    && failed[0]["task"] == task.as_str()
                    && failed[0]["msg"]
                        .as_str()
                        .is_some_and(|m| m.contains(&c.at) && m.contains(&c.msg));
                if !ok {
                    problems.push(format!(
                        "{}: expected one failure of `{task}` on h1 naming `{}` and `{}`\n{dump}",
                        c.file, c.at, c.msg
                    ));
                }
                // The text output names the task, the host and the location together.
                let (_, text, terr) = prov(&[&c.file, "-i", "inventory.yml"]);
                let all = format!("{text}{terr}");
                let line = all
                    .lines()
                    .find(|l| l.starts_with("failed: [h1] => "))
                    .unwrap_or_default();
                if !all.contains(&format!("TASK [{task}]")) || !line.contains(&c.at) {
                    problems.push(format!(
                        "{}: text output lacks the task, host or location:\n{all}",
                        c.file
                    ));
                }
                // A name that no variable anywhere defines is found by lint, without a host.
                if c.msg.contains("is not defined") {
                    let out = Command::new(env!("CARGO_BIN_EXE_prov"))
                        .args(["lint", &c.file, "-i", "inventory.yml"])
                        .current_dir(corpus_dir())
                        .output()
                        .expect("prov lint runs");
                    let text = String::from_utf8_lossy(&out.stderr);
                    if out.status.code() != Some(4)
                        || !text.contains(&c.at)
                        || !text.contains(&c.msg)
                    {
                        problems.push(format!(
                            "{}: lint did not report `{}` at {}: {text}",
                            c.file, c.msg, c.at
                        ));
                    }
                }
                let (sc, _, serr) = prov(&[&c.file, "-i", "inventory.yml", "--syntax-check"]);
                if sc != 0 {
                    problems.push(format!(
                        "{}: --syntax-check should pass (a run-time error), exit {sc}: {serr}",
                        c.file
                    ));
                }
            }
            other => problems.push(format!("{}: unsupported expect-exit {other}", c.file)),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} cases wrong:\n\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n\n")
    );
}

#[test]
fn vars_file_and_role_mistakes_name_their_file() {
    let p = engine_support::Project::new(&["h1"]);
    p.write("vars.yml", "a: 1\nb: [unclosed\n");
    p.write("play.yml", "- hosts: all\n  gather_facts: no\n  vars_files: [vars.yml]\n  tasks:\n    - debug: msg=x\n");
    let o = p.prov_run(&["play.yml", "-i", "inv.yml"]);
    o.expect_code(4);
    assert!(o.stderr.contains("vars.yml:"), "{}", o.dump());
    p.write(
        "roles/r/tasks/main.yml",
        "- name: in role\n  servce:\n    name: x\n",
    );
    p.write("play2.yml", "- hosts: all\n  roles: [r]\n");
    let o = p.prov_run(&["play2.yml", "-i", "inv.yml"]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("roles/r/tasks/main.yml:2:3")
            && o.stderr.contains("did you mean `service`"),
        "{}",
        o.dump()
    );
    let o = p.prov_run(&["nope.yml", "-i", "inv.yml"]);
    o.expect_code(4);
    assert!(o.stderr.contains("nope.yml"), "{}", o.dump());
}
