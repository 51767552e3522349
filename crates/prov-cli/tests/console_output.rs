//! What the console prints for people (issue 20): why a task failed, by default and bounded;
//! skipped loop items; `--profile-tasks`. Runs the real `prov` binary on `-c local` hosts,
//! with stdout a pipe (plain lines, no progress bar).

mod engine_support;

use std::process::Command;

use engine_support::Project;

/// `prov run play.yml -i inv.yml ARGS...` with the console output.
fn console(p: &Project, args: &[&str]) -> engine_support::Outcome {
    let mut full = vec!["play.yml", "-i", "inv.yml"];
    full.extend_from_slice(args);
    p.prov_run(&full)
}

#[test]
fn a_failed_command_shows_its_rc_stderr_and_command_by_default() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: breaks
      shell: "echo some-output; echo oops-on-stderr >&2; exit 3"
"#,
    );
    let out = console(&p, &[]);
    out.expect_code(2);
    let s = &out.stdout;
    assert!(
        s.contains("failed: [h1] => non-zero return code"),
        "{}",
        out.dump()
    );
    assert!(s.contains("    rc: 3\n"), "{}", out.dump());
    assert!(s.contains("    stderr: oops-on-stderr\n"), "{}", out.dump());
    assert!(
        s.contains("    cmd: echo some-output; echo oops-on-stderr >&2; exit 3\n"),
        "{}",
        out.dump()
    );
    // stdout is shown only when stderr says nothing.
    assert!(!s.contains("some-output\n"), "{}", out.dump());
}

#[test]
fn a_failed_command_without_stderr_shows_its_stdout_and_ignored_failures_show_theirs() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: quiet failure
      shell: "echo only-on-stdout; exit 1"
      ignore_errors: yes
    - name: fail module
      fail:
        msg: "the reason
          it failed"
"#,
    );
    let out = console(&p, &[]);
    out.expect_code(2);
    let s = &out.stdout;
    assert!(
        s.contains("failed (ignored): [h1] => non-zero return code\n    cmd: echo only-on-stdout; exit 1\n    rc: 1\n    stdout: only-on-stdout\n"),
        "{}",
        out.dump()
    );
    assert!(
        s.contains("failed: [h1] => the reason it failed"),
        "{}",
        out.dump()
    );
}

#[test]
fn long_output_of_a_failure_is_cut_to_its_last_lines_unless_verbose_or_json() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: noisy
      shell: "for i in $(seq 1 50); do echo line-$i >&2; done; exit 4"
"#,
    );
    let out = console(&p, &[]);
    out.expect_code(2);
    let s = &out.stdout;
    assert!(
        s.contains("    stderr:\n      … 30 more lines"),
        "{}",
        out.dump()
    );
    for i in 31..=50 {
        assert!(
            s.contains(&format!("      line-{i}\n")),
            "line {i}\n{}",
            out.dump()
        );
    }
    for i in 1..=30 {
        assert!(
            !s.contains(&format!("line-{i}\n")),
            "line {i}\n{}",
            out.dump()
        );
    }

    let verbose = console(&p, &["-v"]);
    verbose.expect_code(2);
    assert!(!verbose.stdout.contains("more lines"), "{}", verbose.dump());
    for i in 1..=50 {
        assert!(
            verbose.stdout.contains(&format!("      line-{i}\n")),
            "line {i}\n{}",
            verbose.dump()
        );
    }

    let json = p.run("play.yml", &[]);
    json.expect_code(2);
    let stderr = json.result("h1", "noisy")["result"]["stderr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(stderr.lines().count(), 50, "{}", json.dump());
}

#[test]
fn a_long_multi_line_message_is_bounded_too() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: wordy
      fail:
        msg: "{% for i in range(40) %}msg-line-{{ i }}\n{% endfor %}"
"#,
    );
    let out = console(&p, &[]);
    out.expect_code(2);
    let s = &out.stdout;
    assert!(
        s.contains("failed: [h1]\n    msg:\n      … "),
        "{}",
        out.dump()
    );
    assert!(s.contains("msg-line-39"), "{}", out.dump());
    assert!(!s.contains("msg-line-3\n"), "{}", out.dump());
}

#[test]
fn the_failure_details_are_masked() {
    let p = Project::new(&["h1"]);
    p.write("pw", "console-test-password\n");
    let enc = Command::new(env!("CARGO_BIN_EXE_prov"))
        .args([
            "vault",
            "encrypt-string",
            "--vault-password-file",
            "pw",
            "-n",
            "token",
            "--",
            "tok-3f9a-secret",
        ])
        .current_dir(p.root())
        .env("CI", "1")
        .env_remove("PROV_VAULT_PASSWORD_FILE")
        .output()
        .expect("prov vault runs");
    assert!(enc.status.success(), "{enc:?}");
    p.write("vars.yml", &String::from_utf8_lossy(&enc.stdout));
    p.write(
        "play.yml",
        r#"- hosts: all
  gather_facts: no
  vars_files: [vars.yml]
  tasks:
    - name: leaks
      shell: "echo {{ token }}; echo bad {{ token }} >&2; exit 1"
"#,
    );
    for extra in [&[][..], &["-v"][..]] {
        let mut args = vec!["--vault-password-file", "pw"];
        args.extend_from_slice(extra);
        let out = console(&p, &args);
        out.expect_code(2);
        assert!(!out.stdout.contains("tok-3f9a"), "{}", out.dump());
        assert!(!out.stderr.contains("tok-3f9a"), "{}", out.dump());
        assert!(
            out.stdout.contains("    stderr: bad ********\n"),
            "{}",
            out.dump()
        );
        assert!(
            out.stdout.contains("    cmd: echo ********;"),
            "{}",
            out.dump()
        );
    }
}

#[test]
fn an_unreachable_host_says_why() {
    let p = Project::with_tasks(&["h1"], "    - command: \"true\"\n");
    p.write(
        "inv.yml",
        "all:\n  hosts:\n    far:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n",
    );
    let out = console(&p, &["--host-key-checking", "off"]);
    out.expect_code(3);
    assert!(
        out.stdout.contains("unreachable: [far] => ") && out.stdout.contains("127.0.0.1:1"),
        "{}",
        out.dump()
    );
}

#[test]
fn a_loop_whose_items_are_all_skipped_prints_a_skipping_line_per_item() {
    let p = Project::with_tasks(
        &["h1", "h2"],
        r#"
    - name: never
      debug: msg="{{ item }}"
      loop: [a, b]
      when: false
"#,
    );
    let out = console(&p, &[]);
    out.expect_code(0);
    let task = out
        .stdout
        .split("TASK [never]\n")
        .nth(1)
        .unwrap_or_default()
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut lines: Vec<&str> = task.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "skipping: [h1] => (item=a)",
            "skipping: [h1] => (item=b)",
            "skipping: [h2] => (item=a)",
            "skipping: [h2] => (item=b)",
        ],
        "{}",
        out.dump()
    );
    // JSON keeps one skipped result per item.
    let json = p.run("play.yml", &[]);
    assert_eq!(json.results_of("h1", "never").len(), 2, "{}", json.dump());
}

#[test]
fn profile_tasks_lists_the_slowest_tasks_and_hosts_on_request_only() {
    let p = Project::with_tasks(
        &["a1", "a2"],
        r#"
    - name: quick
      command: "true"
    - name: slow on a2
      command: "sleep {{ 0.8 if inventory_hostname == 'a2' else 0.05 }}"
    - name: medium
      command: sleep 0.3
"#,
    );
    let out = console(&p, &["--profile-tasks"]);
    out.expect_code(0);
    let profile = out
        .stdout
        .split("TASKS BY TIME (the 3 slowest of 3)\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no task profile\n{}", out.dump()));
    let lines: Vec<&str> = profile.lines().collect();
    assert!(
        lines.len() > 7
            && lines[0].contains("s  all : slow on a2  (slowest: a2 ")
            && lines[1].contains("s  all : medium  (slowest: ")
            && lines[2].contains("s  all : quick  (slowest: "),
        "{}",
        out.dump()
    );
    let secs = |l: &str| -> f64 {
        l.split_whitespace()
            .next()
            .and_then(|w| w.trim_end_matches('s').parse().ok())
            .unwrap_or(-1.0)
    };
    assert!(
        secs(lines[0]) >= 0.8 && secs(lines[1]) >= 0.3,
        "{}",
        out.dump()
    );
    assert_eq!(
        lines[4],
        "HOSTS BY TIME IN TASKS (the 2 slowest of 2)",
        "{}",
        out.dump()
    );
    assert!(
        lines[5].ends_with("s  a2") && lines[6].ends_with("s  a1"),
        "{}",
        out.dump()
    );
    assert!(secs(lines[5]) >= 1.1, "{}", out.dump());

    let plain = console(&p, &[]);
    plain.expect_code(0);
    assert!(!plain.stdout.contains("BY TIME"), "{}", plain.dump());
}
