//! Check mode on a real lab host over SSH (issue 15): after a converge, `--check --diff
//! --detailed-exitcode` exits 0 with the tasks that use a command's output reported as known
//! only after apply; drift in a file that does not depend on the command exits 5.

mod support;

use support::lab::{self, prov};

const PLAY: &str = r#"
- hosts: lab1
  gather_facts: no
  tasks:
    - file: {path: /srv/app-kaa, state: directory}
    - command: echo hello-from-register
      register: greeting
      changed_when: false
    - name: write greeting
      copy:
        content: "{{ greeting.stdout }}\n"
        dest: /srv/app-kaa/greeting.txt
    - name: guarded by rc
      copy: {content: "rc ok\n", dest: /srv/app-kaa/rc.txt}
      when: greeting.rc == 0
    - name: independent file
      copy: {content: "fixed\n", dest: /srv/app-kaa/fixed.txt}
"#;

#[test]
fn a_converged_lab_host_checks_clean_and_drift_elsewhere_is_found() {
    let Some(lab) = lab::lab() else { return };
    lab.up(1).expect("lab up");
    let files = lab::play_files(&lab, PLAY);
    let (inv, play) = (files.inv.as_str(), files.play.as_str());
    let setup = prov(&["run", play, "-i", inv]);
    assert_eq!(setup.code, 0, "{}\n{}", setup.stdout, setup.stderr);
    let check = prov(&[
        "run",
        play,
        "-i",
        inv,
        "--check",
        "--diff",
        "--detailed-exitcode",
    ]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    let status = |task: &str| {
        check
            .results()
            .into_iter()
            .find(|r| r["task"] == task)
            .map(|r| r["status"].clone())
    };
    assert_eq!(status("write greeting"), Some("known_after_apply".into()));
    assert_eq!(status("guarded by rc"), Some("known_after_apply".into()));
    assert_eq!(status("independent file"), Some("ok".into()));
    // Drift in the independent file: exit 5, and only that file's diff.
    let edit = files.dir.path().join("edit.yml");
    std::fs::write(
        &edit,
        "- hosts: lab1\n  gather_facts: no\n  tasks:\n    - copy: {content: \"drift\\n\", dest: /srv/app-kaa/fixed.txt}\n",
    )
    .unwrap();
    let e = prov(&["run", &edit.display().to_string(), "-i", inv]);
    assert_eq!(e.code, 0, "{}", e.stdout);
    let check = prov(&[
        "run",
        play,
        "-i",
        inv,
        "--check",
        "--diff",
        "--detailed-exitcode",
    ]);
    assert_eq!(check.code, 5, "{}\n{}", check.stdout, check.stderr);
    let changed: Vec<_> = check
        .changed_results()
        .iter()
        .map(|r| r["task"].clone())
        .collect();
    assert_eq!(changed, vec![serde_json::json!("independent file")]);
}
