//! Shared helpers for the engine integration tests: a throw-away project folder (playbook,
//! inventory, roles, templates), a run of the real `prov` binary, and its parsed JSON Lines
//! events.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A temporary project folder.
pub struct Project {
    dir: tempfile::TempDir,
}

/// An inventory of local hosts (`ansible_connection: local`) in group `all`.
pub fn local_inventory(hosts: &[&str]) -> String {
    let mut s = String::from("all:\n  hosts:\n");
    for h in hosts {
        s.push_str(&format!("    {h}:\n      ansible_connection: local\n"));
    }
    s
}

impl Project {
    /// An empty project with an inventory `inv.yml` of local hosts.
    pub fn new(hosts: &[&str]) -> Self {
        let p = Project {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        p.write("inv.yml", &local_inventory(hosts));
        p
    }

    /// A project whose `play.yml` runs `tasks` (YAML list items, indented by 4) on all of
    /// `hosts`, without fact gathering.
    pub fn with_tasks(hosts: &[&str], tasks: &str) -> Self {
        let p = Self::new(hosts);
        p.write(
            "play.yml",
            &format!(
                "- hosts: all\n  gather_facts: no\n  tasks:\n{}",
                tasks.trim_start_matches('\n')
            ),
        );
        p
    }

    /// The project folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the project.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (parents created); returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// Runs `prov run PLAY -i inv.yml --output json ARGS...` in the project folder.
    pub fn run(&self, play: &str, args: &[&str]) -> Outcome {
        let mut full = vec![play, "-i", "inv.yml", "--output", "json"];
        full.extend_from_slice(args);
        self.prov_run(&full)
    }

    /// Runs `prov run ARGS...` in the project folder (nothing added).
    pub fn prov_run(&self, args: &[&str]) -> Outcome {
        let out = Command::new(env!("CARGO_BIN_EXE_prov"))
            .arg("run")
            .args(args)
            .current_dir(self.root())
            .env("NO_COLOR", "1")
            .env_remove("PROV_VAULT_PASSWORD_FILE")
            .output()
            .expect("run prov");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let events = stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr,
            events,
        }
    }
}

/// What a run printed and how it ended.
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The JSON Lines events (with `--output json`).
    pub events: Vec<Value>,
}

impl Outcome {
    /// Everything, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }

    /// The `task_result` events.
    pub fn results(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "task_result")
            .collect()
    }

    /// The `task_result` events of `task` on `host` (one per loop item).
    pub fn results_of(&self, host: &str, task: &str) -> Vec<&Value> {
        self.results()
            .into_iter()
            .filter(|e| e["host"] == host && e["task"] == task)
            .collect()
    }

    /// The one `task_result` of `task` on `host`.
    #[track_caller]
    pub fn result(&self, host: &str, task: &str) -> &Value {
        let r = self.results_of(host, task);
        assert_eq!(
            r.len(),
            1,
            "expected one result of `{task}` on {host}, found {}\n{}",
            r.len(),
            self.dump()
        );
        r[0]
    }

    /// True when `task` produced any result on `host`.
    pub fn ran(&self, host: &str, task: &str) -> bool {
        !self.results_of(host, task).is_empty()
    }

    /// The status of the one result of `task` on `host`.
    #[track_caller]
    pub fn status(&self, host: &str, task: &str) -> String {
        self.result(host, task)["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value shown by `debug: var=NAME` in task `task` on `host`.
    #[track_caller]
    pub fn var(&self, host: &str, task: &str) -> Value {
        let r = self.result(host, task);
        let obj = r["result"].as_object().cloned().unwrap_or_default();
        let key = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "changed" | "failed"))
            .cloned()
            .unwrap_or_default();
        obj.get(&key).cloned().unwrap_or(Value::Null)
    }

    /// The `msg` of the one result of `task` on `host`.
    #[track_caller]
    pub fn msg(&self, host: &str, task: &str) -> String {
        self.result(host, task)["msg"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The `msg` of every result (loop items) of `task` on `host`, in order.
    pub fn msgs(&self, host: &str, task: &str) -> Vec<String> {
        self.results_of(host, task)
            .iter()
            .map(|r| r["msg"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Task names in the order they started (handlers included).
    pub fn started(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == "task_start")
            .map(|e| e["task"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Task names whose results on `host` are `changed`, in order.
    pub fn changed_tasks(&self, host: &str) -> Vec<String> {
        self.results()
            .into_iter()
            .filter(|e| e["host"] == host && e["changed"] == true)
            .map(|e| e["task"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The recap line of `host`.
    #[track_caller]
    pub fn recap(&self, host: &str) -> Value {
        let end = self
            .events
            .iter()
            .find(|e| e["event"] == "run_end")
            .unwrap_or_else(|| panic!("no run_end event\n{}", self.dump()));
        end["recap"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["host"] == host))
            .cloned()
            .unwrap_or_else(|| panic!("no recap for {host}\n{}", self.dump()))
    }

    /// One counter of `host`'s recap.
    #[track_caller]
    pub fn count(&self, host: &str, what: &str) -> u64 {
        self.recap(host)[what].as_u64().unwrap_or(u64::MAX)
    }
}
