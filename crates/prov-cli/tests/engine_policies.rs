//! Failure policies and delegation through the real `prov` binary on local hosts:
//! `any_errors_fatal`, `max_fail_percentage` and `delegate_to`.

mod engine_support;

use engine_support::Project;

const FAIL_ON_H1: &str = r#"
    - name: maybe fail
      fail:
        msg: h1 fails
      when: inventory_hostname == 'h1'
    - name: next
      debug:
        msg: still here
"#;

#[test]
fn any_errors_fatal_stops_every_host() {
    let p = Project::new(&["h1", "h2", "h3"]);
    p.write(
        "fatal.yml",
        &format!("- hosts: all\n  gather_facts: no\n  any_errors_fatal: yes\n  tasks:{FAIL_ON_H1}"),
    );
    let out = p.run("fatal.yml", &[]);
    out.expect_code(2);
    for h in ["h2", "h3"] {
        assert!(
            !out.ran(h, "next"),
            "{h} must stop after h1's failure:\n{}",
            out.dump()
        );
    }
    // Without it, the other hosts go on.
    p.write(
        "plain.yml",
        &format!("- hosts: all\n  gather_facts: no\n  tasks:{FAIL_ON_H1}"),
    );
    let out = p.run("plain.yml", &[]);
    out.expect_code(2);
    assert!(
        out.ran("h2", "next") && out.ran("h3", "next"),
        "{}",
        out.dump()
    );
    assert!(!out.ran("h1", "next"), "a failed host leaves the play");
}

#[test]
fn max_fail_percentage_stops_the_play_when_exceeded() {
    let p = Project::new(&["h1", "h2", "h3"]);
    // One of three hosts (33 %) fails: over 20 %, the play stops; under 50 %, it goes on.
    p.write(
        "strict.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n  max_fail_percentage: 20\n  tasks:{FAIL_ON_H1}"
        ),
    );
    let out = p.run("strict.yml", &[]);
    out.expect_code(2);
    assert!(
        !out.ran("h2", "next") && !out.ran("h3", "next"),
        "{}",
        out.dump()
    );
    p.write(
        "lenient.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n  max_fail_percentage: 50\n  tasks:{FAIL_ON_H1}"
        ),
    );
    let out = p.run("lenient.yml", &[]);
    assert!(
        out.ran("h2", "next") && out.ran("h3", "next"),
        "{}",
        out.dump()
    );
}

#[test]
fn delegate_to_runs_through_the_other_hosts_connection() {
    let p = Project::new(&["h1"]);
    // `gone` is an SSH host nobody listens for: a task delegated to it must fail on h1 with a
    // delegation error, while h1's own tasks run locally.
    p.write(
        "inv.yml",
        "all:\n  hosts:\n    h1: { ansible_connection: local }\n    gone: { ansible_host: 127.0.0.1, ansible_port: 1 }\n",
    );
    p.write(
        "play.yml",
        "- hosts: h1\n  gather_facts: no\n  tasks:\n    - name: local\n      command: \"true\"\n    - name: delegated\n      command: \"true\"\n      delegate_to: gone\n",
    );
    let out = p.run("play.yml", &["--connect-timeout", "2"]);
    out.expect_code(2);
    assert_eq!(out.status("h1", "local"), "changed", "{}", out.dump());
    assert_eq!(out.status("h1", "delegated"), "failed", "{}", out.dump());
    assert!(
        out.msg("h1", "delegated").contains("delegate_to gone"),
        "{}",
        out.dump()
    );
}
