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
    // Where the variable is written, too.
    assert!(msg.contains("`broken` is set at play.yml:6:18"), "{msg}");
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

#[test]
fn until_retries_until_the_condition_holds() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: poll
      shell: "n=$(cat {{ playbook_dir }}/n 2>/dev/null || echo 0); echo $((n+1)) > {{ playbook_dir }}/n; echo $((n+1))"
      register: r
      until: r.stdout | int >= 3
      retries: 5
      delay: 0
    - name: give up
      command: "false"
      register: g
      retries: 1
      delay: 0
      ignore_errors: true
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.result("h1", "poll")["result"]["attempts"],
        3,
        "{}",
        o.dump()
    );
    assert_eq!(std::fs::read_to_string(p.path("n")).unwrap().trim(), "3");
    let g = o.result("h1", "give up");
    assert_eq!(g["status"], "ignored", "{}", o.dump());
    assert_eq!(g["result"]["attempts"], 2);
}

#[test]
fn environment_reaches_commands_from_play_block_and_task() {
    let p = Project::new(&["h1"]);
    p.write(
        "play.yml",
        r#"- hosts: all
  gather_facts: no
  environment:
    FROM_PLAY: play
    SHARED: play
  vars:
    greeting: hello
  tasks:
    - block:
        - name: show
          shell: echo "$FROM_PLAY $FROM_BLOCK $SHARED $GREETING"
          register: out
          environment:
            SHARED: task
            GREETING: "{{ greeting }}"
      environment:
        FROM_BLOCK: block
    - name: shown
      debug:
        msg: "{{ out.stdout }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.msg("h1", "shown"),
        "play block task hello",
        "{}",
        o.dump()
    );
}

#[test]
fn a_templated_no_log_hides_results_and_loop_items() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: hidden
      debug:
        msg: "password is {{ item }}"
      loop: [hunter2, swordfish]
      no_log: "{{ hide }}"
"#,
    );
    let o = p.run("play.yml", &["-e", "hide=true"]);
    o.expect_code(0);
    assert!(
        !o.stdout.contains("hunter2") && !o.stdout.contains("swordfish"),
        "{}",
        o.dump()
    );
    let text = p.prov_run(&["play.yml", "-i", "inv.yml", "-e", "hide=true"]);
    assert!(
        !text.stdout.contains("hunter2") && text.stdout.contains("(item=None)"),
        "{}",
        text.stdout
    );
    // Not hidden when the template says so.
    let o = p.run("play.yml", &["-e", "hide=false"]);
    assert!(o.stdout.contains("hunter2"), "{}", o.dump());
    // An undefined name in it hides everything and fails the task.
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    assert!(!o.stdout.contains("hunter2"), "{}", o.dump());
}

#[test]
fn lint_finds_undefined_names_in_variables_and_host_patterns_without_a_host() {
    let p = Project::new(&["h1"]);
    p.write(
        "play.yml",
        r#"- hosts: "{{ target }}"
  gather_facts: no
  tasks:
    - name: write it
      vars:
        broken: "{{ nobody_defined_this }}-x"
      debug:
        msg: "{{ broken }} {{ maybe | default(value='x') }}"
      when: ready is defined and ready
"#,
    );
    let lint = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prov"))
            .args(["lint", "play.yml", "-i", "inv.yml"])
            .args(extra)
            .current_dir(p.root())
            .output()
            .expect("prov lint runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = lint(&[]);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("play.yml:1:14:") && err.contains("`target`"),
        "{err}"
    );
    assert!(
        err.contains("play.yml:6:21:") && err.contains("`nobody_defined_this`"),
        "{err}"
    );
    assert!(
        err.contains("2 problem(s)"),
        "guards are not findings: {err}"
    );
    // Names given with -e are defined.
    let (_, err) = lint(&["-e", "target=all"]);
    assert!(
        !err.contains("`target`") && err.contains("1 problem(s)"),
        "{err}"
    );
}

#[test]
fn a_broken_role_default_is_named_with_its_file_and_line() {
    let p = Project::new(&["h1"]);
    p.write(
        "play.yml",
        "- hosts: all\n  gather_facts: no\n  roles:\n    - web\n",
    );
    p.write(
        "roles/web/defaults/main.yml",
        "web_port: 80\nweb_url: \"http://{{ web_hots }}:{{ web_port }}\"\n",
    );
    p.write(
        "roles/web/tasks/main.yml",
        "- name: show url\n  debug:\n    msg: \"{{ web_url }}\"\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    let msg = o.msg("h1", "show url");
    assert!(
        msg.contains("`web_url` is set at ")
            && msg.contains("defaults/main.yml:2:")
            && msg.contains("`web_hots` is not defined"),
        "{msg}"
    );
}

#[test]
fn a_broken_inventory_variable_is_named_with_its_file_and_line() {
    let p = Project::new(&["h1"]);
    p.write(
        "group_vars/all.yml",
        "web_url: \"http://{{ web_hots }}/\"\n",
    );
    p.write(
        "play.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: show url\n      debug:\n        msg: \"{{ web_url }}\"\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    let msg = o.msg("h1", "show url");
    assert!(
        msg.contains("`web_url` is set at ")
            && msg.contains("group_vars/all.yml:1:")
            && msg.contains("`web_hots` is not defined"),
        "{msg}"
    );
}

#[test]
fn a_broken_vars_file_variable_is_named_with_its_file_and_line() {
    let p = Project::new(&["h1"]);
    p.write("extra.yml", "# extra\ndb_url: \"{{ db_hots }}\"\n");
    p.write(
        "play.yml",
        r#"- hosts: all
  gather_facts: no
  vars_files: [extra.yml]
  tasks:
    - name: show db
      debug: {msg: "{{ db_url }}"}
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    let msg = o.msg("h1", "show db");
    assert!(
        msg.contains("`db_url` is set at ") && msg.contains("extra.yml:2:"),
        "{msg}"
    );
}
