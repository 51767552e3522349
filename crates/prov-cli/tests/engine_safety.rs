//! Nothing runs and nothing is written on a guess (issue 14): undefined names inside
//! variables, conditions and `hosts:`, self-referring variables, text that looks like a
//! template in a command's output, and final newlines of rendered values. Real `prov` binary,
//! local hosts.

mod engine_support;

use engine_support::Project;

#[test]
fn an_undefined_name_inside_a_variable_fails_the_task_that_uses_it() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: write it
      vars:
        broken: "{{ nobody_defined_this }}-x"
      copy:
        content: "value={{ broken }}\n"
        dest: "{{ playbook_dir }}/out.txt"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    assert_eq!(o.status("h1", "write it"), "failed", "{}", o.dump());
    let msg = o.msg("h1", "write it");
    assert!(
        msg.contains("play.yml:8:")
            && msg.contains("`broken`")
            && msg.contains("nobody_defined_this"),
        "{msg}"
    );
    assert!(!p.path("out.txt").exists(), "nothing written on a guess");
}

#[test]
fn a_variable_that_refers_to_itself_is_named_as_a_cycle() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: cycle
      vars:
        myport: "{{ myport }}"
      debug:
        msg: "port {{ myport }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    let msg = o.msg("h1", "cycle");
    assert!(msg.contains("refers to itself (myport -> myport)"), "{msg}");
}

#[test]
fn an_unused_broken_variable_does_not_fail_and_used_ones_resolve_in_any_order() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: chain
      vars:
        a: "{{ b }}-x"
        b: "{{ c }}"
        c: 7
        unused: "{{ nope }}"
      debug:
        msg: "{{ a }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "chain"), "7-x");
}

#[test]
fn command_output_is_data_never_a_template() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: print braces
      command: "echo '{{ '{{' }} secret_name {{ '}}' }}'"
      register: out
    - name: use it
      vars:
        shown: "{{ out.stdout }}"
      debug:
        msg: "{{ shown }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "use it"), "{{ secret_name }}", "{}", o.dump());
}

#[test]
fn rendered_values_keep_their_final_newline() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: hostname file
      copy:
        content: "{{ inventory_hostname }}\n"
        dest: "{{ playbook_dir }}/host.txt"
    - command: echo hello
      register: r
      changed_when: false
    - name: output file
      copy:
        content: "{{ r.stdout }}\n"
        dest: "{{ playbook_dir }}/out.txt"
"#,
    );
    p.run("play.yml", &[]).expect_code(0);
    let read = |f: &str| std::fs::read_to_string(p.path(f)).unwrap_or_default();
    assert_eq!(read("host.txt"), "h1\n");
    assert_eq!(read("out.txt"), "hello\n");
}

#[test]
fn a_templated_host_pattern_with_an_undefined_name_stops_the_run() {
    let p = Project::new(&["h1", "h2"]);
    p.write(
        "play.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: first\n      debug: msg=x\n\
         - hosts: \"{{ target }}\"\n  gather_facts: no\n  tasks:\n    - name: second\n      debug: msg=x\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("play.yml:6:") && o.stderr.contains("`target` is not defined"),
        "{}",
        o.dump()
    );
    assert!(o.results().is_empty(), "nothing ran: {}", o.dump());
    // Defined by an extra variable, or by the play's vars, it selects hosts as Ansible does.
    let o = p.run("play.yml", &["-e", "target=h2"]);
    o.expect_code(0);
    assert!(
        o.ran("h2", "second") && !o.ran("h1", "second"),
        "{}",
        o.dump()
    );
}
