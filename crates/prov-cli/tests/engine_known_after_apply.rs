//! `--check` on values known only after apply (issue 15): a command that check mode does not
//! run leaves its registered result unknown; the tasks that depend on it are reported as
//! "would run; depends on values known only after apply", never as a failure or an invented
//! diff, and drift elsewhere is still found. Real `prov` binary, local hosts.

mod engine_support;

use engine_support::Project;

const PLAY: &str = r#"
    - command: echo hello-from-register
      register: greeting
      changed_when: false
    - name: write greeting
      copy:
        content: "{{ greeting.stdout }}\n"
        dest: "{{ playbook_dir }}/greeting.txt"
    - name: loop over lines
      debug: msg="{{ item }}"
      loop: "{{ greeting.stdout_lines }}"
    - name: guarded by rc
      copy: {content: "rc ok\n", dest: "{{ playbook_dir }}/rc.txt"}
      when: greeting.rc == 0
    - name: computed from it
      vars:
        shout: "{{ greeting.stdout | upper }}"
      debug: msg="{{ shout }}"
    - name: independent file
      copy: {content: "fixed\n", dest: "{{ playbook_dir }}/fixed.txt"}
"#;

const DEPENDENT: &[&str] = &[
    "write greeting",
    "loop over lines",
    "guarded by rc",
    "computed from it",
];

#[test]
fn a_converged_host_checks_clean_and_dependent_tasks_are_known_after_apply() {
    let p = Project::with_tasks(&["h1"], PLAY);
    p.run("play.yml", &[]).expect_code(0);
    let check = p.run("play.yml", &["--check", "--diff", "--detailed-exitcode"]);
    check.expect_code(0);
    for task in DEPENDENT {
        let r = check.result("h1", task);
        assert_eq!(r["result"]["known_after_apply"], true, "{task}: {r}");
        assert!(
            check
                .msg("h1", task)
                .contains("depends on values known only after apply (greeting)"),
            "{task}: {}",
            check.dump()
        );
        assert!(r["diffs"].as_array().is_none_or(Vec::is_empty), "{r}");
    }
    assert!(
        check
            .msg("h1", "write greeting")
            .contains("greeting.txt may change"),
        "what is known is shown: {}",
        check.msg("h1", "write greeting")
    );
    assert_eq!(check.status("h1", "independent file"), "ok");
}

#[test]
fn drift_in_an_independent_file_is_still_found() {
    let p = Project::with_tasks(&["h1"], PLAY);
    p.run("play.yml", &[]).expect_code(0);
    std::fs::write(p.path("fixed.txt"), "drift\n").unwrap();
    let check = p.run("play.yml", &["--check", "--diff", "--detailed-exitcode"]);
    check.expect_code(5);
    let changed: Vec<String> = check
        .results()
        .iter()
        .filter(|r| r["status"] == "changed")
        .map(|r| r["task"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        changed,
        vec!["independent file".to_owned()],
        "{}",
        check.dump()
    );
    assert_eq!(
        std::fs::read_to_string(p.path("fixed.txt")).unwrap(),
        "drift\n"
    );
}

#[test]
fn check_mode_false_runs_the_command_and_nothing_is_unknown() {
    let p = Project::with_tasks(
        &["h1"],
        &PLAY.replace(
            "      changed_when: false\n",
            "      changed_when: false\n      check_mode: false\n",
        ),
    );
    p.run("play.yml", &[]).expect_code(0);
    let check = p.run("play.yml", &["--check", "--diff", "--detailed-exitcode"]);
    check.expect_code(0);
    for task in DEPENDENT {
        assert_ne!(
            check.result("h1", task)["result"]["known_after_apply"],
            true,
            "{task}"
        );
    }
    assert_eq!(
        check.status("h1", "write greeting"),
        "ok",
        "{}",
        check.dump()
    );
}

#[test]
fn handlers_notified_only_by_tasks_known_after_apply_are_listed_as_possibly_notified() {
    let p = Project::new(&["h1"]);
    p.write(
        "play.yml",
        r#"- hosts: all
  gather_facts: no
  tasks:
    - command: date +%N
      register: stamp
      changed_when: false
    - name: write stamp
      copy:
        content: "{{ stamp.stdout }}\n"
        dest: "{{ playbook_dir }}/stamp.txt"
      notify: restart app
  handlers:
    - name: restart app
      command: echo restarted
"#,
    );
    p.run("play.yml", &[]).expect_code(0);
    let check = p.run("play.yml", &["--check", "--detailed-exitcode"]);
    check.expect_code(0);
    let warned = check.events.iter().any(|e| {
        e["event"] == "warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("handler `restart app` possibly notified on h1"))
    });
    assert!(warned, "{}", check.dump());
    assert!(!check.ran("h1", "restart app"), "{}", check.dump());
}
