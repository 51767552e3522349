//! The progress line on a real terminal (issue 20, item 4): under tmux, on lab hosts, a task
//! whose duration differs per host. The screen (capture-pane) shows the hosts still working,
//! how many are done and how they ended, then the slowest host; the line never stays on the
//! screen once the run ends, nor after Ctrl-C, and the terminal's settings are given back.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::lab;

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(script: &Path, name: &str) -> Tmux {
        let t = Tmux {
            socket: format!("prov-progress-{}-{name}", std::process::id()),
        };
        let ok = t
            .cmd(&["new-session", "-d", "-x", "150", "-y", "45"])
            .arg(format!("sh {}", script.display()))
            .status()
            .expect("tmux runs")
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c
    }

    fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen has a line for which `f` holds; returns that line.
    #[track_caller]
    fn wait_line(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if let Some(l) = screen.lines().find(|l| f(l)) {
                return l.to_owned();
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("never saw {what} on the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

const PLAY: &str = r#"
- hosts: "lab1:lab2:lab3:lab4"
  gather_facts: no
  tasks:
    - name: nap
      command: "sleep {{ nap }}"
    - name: after
      command: "true"
"#;

/// A project folder: the lab's inventory with `nap: N` seconds for labN, the play, and the
/// script tmux runs (prov on the terminal, then its exit code and the terminal's echoctl; the
/// shell itself outlives a Ctrl-C).
fn project(lab: &prov_lab::Lab) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inv");
    std::fs::create_dir_all(inv.join("host_vars")).unwrap();
    std::fs::write(
        inv.join("hosts.yml"),
        lab.inventory_yaml().expect("inventory"),
    )
    .unwrap();
    for i in 1..=4 {
        std::fs::write(
            inv.join(format!("host_vars/lab{i}.yml")),
            format!("nap: {i}\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("nap.yml"), PLAY).unwrap();
    std::fs::write(
        dir.path().join("run.sh"),
        format!(
            "trap : INT\ncd {}\nenv -u CI -u NO_COLOR {} run nap.yml -i inv\necho \"EXIT=$?\"\nstty -a | tr ' ;' '\\n\\n' | grep -x -- '-*echoctl' | sed 's/^/ECHOCTL=/'\nsleep 120\n",
            dir.path().display(),
            env!("CARGO_BIN_EXE_prov")
        ),
    )
    .unwrap();
    dir
}

fn is_progress(l: &str) -> bool {
    l.contains(" done (ok ")
}

#[test]
fn the_progress_line_names_working_hosts_then_the_slowest_and_leaves_no_trace() {
    let Some(lab) = lab::lab() else { return };
    if !have_tmux() {
        assert!(
            std::env::var("PROV_REQUIRE_LAB").as_deref() != Ok("1"),
            "PROV_REQUIRE_LAB=1 but tmux is missing (apt-get install tmux)"
        );
        eprintln!("SKIPPED: tmux is missing");
        return;
    }
    if lab.hosts().map(|h| h.len()).unwrap_or(0) < 4 {
        lab.up(4).expect("lab up 4 hosts");
    }
    let dir = project(&lab);

    // A whole run.
    let tmux = Tmux::start(&dir.path().join("run.sh"), "run");
    let first = tmux.wait_line("lab1 done, three hosts working", |l| {
        l.contains("nap: 1/4 done (ok 0, changed 1, failed 0) · working: lab2, lab3, lab4")
    });
    // The spinner and the task's elapsed time come first.
    assert!(first.contains("s nap: 1/4"), "{first}");
    tmux.wait_line("the slowest host named", |l| {
        l.contains("nap: 3/4 done (ok 0, changed 3, failed 0) · waiting for the slowest: lab4")
    });
    tmux.wait_line("the exit code", |l| l.starts_with("EXIT="));
    // run.sh prints the terminal's echoctl setting after the exit code: wait for it too.
    tmux.wait_line("the terminal mode", |l| l.starts_with("ECHOCTL="));
    let screen = tmux.screen();
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        !screen.lines().any(is_progress),
        "progress line left over:\n{screen}"
    );
    // Result lines are whole lines, never mixed with the progress line.
    for h in ["lab1", "lab2", "lab3", "lab4"] {
        assert!(
            screen.lines().any(|l| l == format!("changed: [{h}]")),
            "{h}:\n{screen}"
        );
    }
    assert!(screen.contains("PLAY RECAP"), "{screen}");
    assert!(
        screen.contains("ECHOCTL=echoctl"),
        "echoctl not restored:\n{screen}"
    );
    drop(tmux);

    // Ctrl-C while lab3 and lab4 work: the line goes, the recap comes, the terminal is back.
    let tmux = Tmux::start(&dir.path().join("run.sh"), "ctrl-c");
    tmux.wait_line("two hosts working", |l| {
        l.contains("nap: 2/4 done") && l.contains("working: lab3, lab4")
    });
    assert!(
        tmux.cmd(&["send-keys", "C-c"])
            .status()
            .expect("send-keys")
            .success(),
        "send-keys"
    );
    tmux.wait_line("the exit code", |l| l.starts_with("EXIT="));
    // run.sh prints the terminal's echoctl setting after the exit code: wait for it too.
    tmux.wait_line("the terminal mode", |l| l.starts_with("ECHOCTL="));
    let screen = tmux.screen();
    assert!(screen.contains("EXIT=130"), "{screen}");
    assert!(
        !screen.lines().any(is_progress),
        "progress line left over:\n{screen}"
    );
    assert!(!screen.contains("^C"), "{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.starts_with("[WARNING]: interrupted by SIGINT")),
        "{screen}"
    );
    assert!(screen.contains("PLAY RECAP"), "{screen}");
    assert!(
        screen.contains("ECHOCTL=echoctl"),
        "echoctl not restored:\n{screen}"
    );
}
