//! The SSH transport at the engine's level, on real lab hosts: 30 hosts in one run over one
//! connection each, and a host powered off mid-run ending unreachable while the others finish.

mod support;

use std::time::{Duration, Instant};

use support::lab::{self, prov};

const NOOP_PLAY: &str = r#"
- hosts: lab
  gather_facts: no
  tasks:
    - command: "true"
    - stat: { path: /etc/hostname }
    - file: { path: /tmp, state: directory }
"#;

const SLOW_PLAY: &str = r#"
- hosts: lab
  gather_facts: no
  tasks:
    - name: slow
      command: sleep 3
    - name: after
      command: "true"
"#;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn thirty_hosts_and_a_host_lost_mid_run() {
    let Some(lab) = lab::lab() else { return };
    lab.up(30).expect("lab up 30 hosts");
    let dir = tempfile::tempdir().unwrap();
    let inv_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        inv_dir.path().join("hosts.yml"),
        lab.inventory_yaml().unwrap(),
    )
    .unwrap();
    let inv = inv_dir.path().display().to_string();

    // 30 hosts, one run.
    let play = write(dir.path(), "noop.yml", NOOP_PLAY);
    let t = Instant::now();
    let out = prov(&["run", &play, "-i", &inv]);
    eprintln!("30 hosts x 3 tasks: {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let recap = out.recap();
    assert_eq!(recap.len(), 30);
    for r in &recap {
        assert_eq!(r["ok"], 3, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
    }

    // A host powered off while a task runs: it ends unreachable, the others finish.
    let play = write(dir.path(), "slow.yml", SLOW_PLAY);
    let runner = std::thread::spawn(move || {
        prov(&[
            "run",
            &play,
            "-i",
            &inv,
            "--connect-timeout",
            "5",
            "--timeout",
            "20",
        ])
    });
    std::thread::sleep(Duration::from_millis(1500));
    lab.stop("lab2").expect("power off lab2");
    let out = runner.join().unwrap();
    lab.start("lab2").expect("power lab2 back on");
    assert_eq!(
        out.code, 3,
        "exit code 3 = unreachable host\n{}\n{}",
        out.stdout, out.stderr
    );
    for r in out.recap() {
        if r["host"] == "lab2" {
            assert_eq!(r["unreachable"], 1, "{r}");
        } else {
            assert_eq!(r["ok"], 2, "{r}");
            assert_eq!(r["unreachable"], 0, "{r}");
        }
    }
    lab.up(6).expect("back to 6 hosts");
}
