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
        assert_eq!(r["status"], "known_after_apply", "{task}: {r}");
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
    let recap = check
        .events
        .iter()
        .find(|e| e["event"] == "run_end")
        .map(|e| e["recap"][0].clone())
        .unwrap_or_default();
    assert_eq!(recap["known_after_apply"], 4, "{recap}");
    assert_eq!(recap["failed"], 0, "{recap}");
    // Teams that want unknowns to count as drift ask for it.
    p.run(
        "play.yml",
        &["--check", "--detailed-exitcode", "--strict-unknowns"],
    )
    .expect_code(5);
    // The console lists them at the end; JUnit marks them skipped with their own type.
    let junit = p.path("report.xml");
    let text = p.prov_run(&[
        "play.yml",
        "-i",
        "inv.yml",
        "--check",
        "--junit",
        junit.to_str().unwrap_or_default(),
    ]);
    assert!(
        text.stdout.contains("known after apply: [h1]")
            && text.stdout.contains("KNOWN AFTER APPLY")
            && text.stdout.contains("known_after_apply=4"),
        "{}",
        text.stdout
    );
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(xml.contains("known_after_apply"), "{xml}");
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

#[test]
fn lint_suggests_check_mode_false_for_a_read_only_command_whose_result_is_used() {
    let lint = |p: &Project| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prov"))
            .args(["lint", "play.yml", "-i", "inv.yml"])
            .current_dir(p.root())
            .output()
            .expect("prov lint runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let p = Project::with_tasks(&["h1"], PLAY);
    let (code, err) = lint(&p);
    assert_eq!(code, Some(0), "a suggestion is not an error: {err}");
    assert!(
        err.contains("warning: play.yml:4:") && err.contains("add `check_mode: false`"),
        "{err}"
    );
    let fixed = Project::with_tasks(
        &["h1"],
        &PLAY.replace(
            "      changed_when: false\n",
            "      changed_when: false\n      check_mode: false\n",
        ),
    );
    let (_, err) = lint(&fixed);
    assert!(!err.contains("check_mode: false"), "{err}");
}
