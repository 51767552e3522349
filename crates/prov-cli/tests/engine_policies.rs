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

/// As in Ansible's linear strategy, `max_fail_percentage` counts the batch's failed hosts, not
/// its unreachable ones: h1 failing is 25 % of four hosts, under 30 %, though `gone` (nobody
/// listens on its port) is unreachable too.
#[test]
fn max_fail_percentage_does_not_count_unreachable_hosts() {
    let p = Project::new(&["h1"]);
    p.write(
        "inv.yml",
        "all:\n  hosts:\n    h1: { ansible_connection: local }\n    h2: { ansible_connection: local }\n    \
         h3: { ansible_connection: local }\n    gone: { ansible_host: 127.0.0.1, ansible_port: 1 }\n",
    );
    p.write(
        "pct.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n  max_fail_percentage: 30\n  tasks:\n    \
             - name: reach\n      command: /bin/true\n{FAIL_ON_H1}"
        ),
    );
    let out = p.run("pct.yml", &[]);
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

/// As Ansible's playbook executor: a batch whose every host failed, or a play stopped by
/// `any_errors_fatal`, ends the whole run; later `serial` batches and later plays do not run.
/// (Each case checked against ansible-playbook 2.19 with local hosts.)
#[test]
fn a_failed_batch_ends_the_run() {
    let p = Project::new(&["h1", "h2", "h3"]);
    let second_play = "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: second play\n      debug:\n        msg: hi\n";
    let play = |keywords: &str| {
        format!("- hosts: all\n  gather_facts: no\n{keywords}  tasks:{FAIL_ON_H1}{second_play}")
    };
    // h2 and h3 ran nothing after h1 failed: neither `next` nor the second play.
    let untouched_after_h1 = |out: &engine_support::Outcome| {
        for h in ["h2", "h3"] {
            assert!(
                !out.ran(h, "next") && !out.ran(h, "second play"),
                "{}",
                out.dump()
            );
        }
    };
    // serial: 1 — h1's batch failed entirely: h2 and h3 are never touched.
    p.write("one.yml", &play("  serial: 1\n"));
    let out = p.run("one.yml", &[]);
    out.expect_code(2);
    untouched_after_h1(&out);
    // serial: 2 — h2 survives in h1's batch, so the run goes on to h3 and the next play.
    p.write("two.yml", &play("  serial: 2\n"));
    let out = p.run("two.yml", &[]);
    out.expect_code(2);
    assert!(
        out.ran("h3", "next") && out.ran("h2", "second play"),
        "{}",
        out.dump()
    );
    // serial: 2 with any_errors_fatal — h1 takes h2 down with it and the run ends.
    p.write("fatal.yml", &play("  serial: 2\n  any_errors_fatal: yes\n"));
    let out = p.run("fatal.yml", &[]);
    out.expect_code(2);
    untouched_after_h1(&out);
    // No serial: every host of the first play failed, so the next play (other hosts) never runs.
    p.write(
        "all.yml",
        "- hosts: h1\n  gather_facts: no\n  tasks:\n    - fail:\n        msg: boom\n\
         - hosts: h2\n  gather_facts: no\n  tasks:\n    - name: second play\n      debug:\n        msg: hi\n",
    );
    let out = p.run("all.yml", &[]);
    out.expect_code(2);
    assert!(!out.ran("h2", "second play"), "{}", out.dump());
}

/// `async: SECONDS` with a `poll` interval: the task runs to its end within that time, or
/// fails with Ansible's message (geerlingguy.swap times its swap file creation this way);
/// values may be templates.
#[test]
fn async_with_poll_bounds_the_task() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: quick
      command: echo hi
      async: "{{ limit }}"
      poll: "{{ every }}"
      vars: {limit: 30, every: 1}
      register: r
    - name: slow
      command: sleep 5
      async: 1
      poll: 1
      ignore_errors: true
    - name: after
      debug:
        msg: "{{ r.stdout }} {{ r.finished }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "after"), "hi 1");
    assert_eq!(o.status("h1", "slow"), "ignored", "{}", o.dump());
    assert!(
        o.msg("h1", "slow")
            .contains("async task did not complete within the requested time - 1s"),
        "{}",
        o.dump()
    );
}

/// What prov cannot do with `async` is refused at load with the place: fire-and-forget
/// (`poll: 0`), and actions Ansible runs without async support.
#[test]
fn async_refusals_are_at_load() {
    for (task, expected) in [
        (
            "    - command: sleep 1\n      async: 10\n      poll: 0\n",
            "`poll: 0` (fire and forget",
        ),
        (
            "    - copy: {content: x, dest: /tmp/x}\n      async: 10\n",
            "This action (copy) does not support async.",
        ),
        (
            "    - command: sleep 1\n      poll: 5\n",
            "`poll` without `async`",
        ),
    ] {
        let p = Project::with_tasks(&["h1"], task);
        let o = p.run("play.yml", &[]);
        o.expect_code(4);
        assert!(
            o.stderr.contains("play.yml:") && o.stderr.contains(expected),
            "{task}: {}",
            o.stderr
        );
    }
}
