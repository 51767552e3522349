//! Variable precedence (docs/variables.md), magic variables and facts, through the real
//! `prov` binary on local hosts.

mod engine_support;

use engine_support::Project;
use serde_json::json;

/// Every level that can set `v`, lowest precedence first.
const LEVELS: &[&str] = &[
    "role_defaults",
    "group_all",
    "group_parent",
    "group_child",
    "host_vars",
    "play_vars",
    "vars_files",
    "role_vars",
    "block_vars",
    "task_vars",
    "set_fact",
    "role_params",
    "include_params",
    "extra_vars",
];

/// A project where `v` is set at every level in `on`; returns the args for the run.
fn precedence_project(on: &[&str]) -> (Project, Vec<String>) {
    let p = Project::new(&[]);
    let has = |l: &str| on.contains(&l);
    let line = |l: &str| {
        if has(l) {
            format!("v: {l}\n")
        } else {
            "other: 1\n".to_owned()
        }
    };
    p.write(
        "inv.yml",
        "all:\n  children:\n    parent:\n      children:\n        child:\n          hosts:\n            h1:\n              ansible_connection: local\n",
    );
    p.write("group_vars/all.yml", &line("group_all"));
    p.write("group_vars/parent.yml", &line("group_parent"));
    p.write("group_vars/child.yml", &line("group_child"));
    p.write("host_vars/h1.yml", &line("host_vars"));
    p.write("vars.yml", &line("vars_files"));
    p.write("roles/r/defaults/main.yml", &line("role_defaults"));
    p.write("roles/r/vars/main.yml", &line("role_vars"));
    let indent = |text: String, n: usize| {
        text.lines()
            .map(|l| format!("{}{l}\n", " ".repeat(n)))
            .collect::<String>()
    };
    let mut tasks = String::new();
    if has("set_fact") {
        tasks.push_str("- name: set it\n  set_fact:\n    v: set_fact\n");
    }
    tasks.push_str("- include_tasks: inner.yml\n  vars:\n");
    tasks.push_str(&indent(line("include_params"), 4));
    p.write("roles/r/tasks/main.yml", &tasks);
    let mut inner = String::from("- name: a block\n  vars:\n");
    inner.push_str(&indent(line("block_vars"), 4));
    inner.push_str("  block:\n    - name: show v\n      debug: var=v\n      vars:\n");
    inner.push_str(&indent(line("task_vars"), 8));
    p.write("roles/r/tasks/inner.yml", &inner);
    p.write(
        "play.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n  vars:\n{}  vars_files: [vars.yml]\n  roles:\n    - role: r\n{}",
            indent(line("play_vars"), 4),
            indent(line("role_params"), 6)
        ),
    );
    let mut args = Vec::new();
    if has("extra_vars") {
        args.extend(["-e".to_owned(), "v=extra_vars".to_owned()]);
    }
    (p, args)
}

#[test]
fn each_level_wins_over_the_ones_below() {
    // Remove levels from the top, one by one: the highest remaining one must win.
    for top in (0..LEVELS.len()).rev() {
        let on = &LEVELS[..=top];
        let (p, args) = precedence_project(on);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = p.run("play.yml", &args);
        o.expect_code(0);
        assert_eq!(
            o.var("h1", "show v"),
            json!(LEVELS[top]),
            "with levels {on:?}\n{}",
            o.dump()
        );
    }
    // And each level alone is seen (nothing else sets `v`).
    for level in LEVELS {
        let (p, args) = precedence_project(&[level]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = p.run("play.yml", &args);
        assert_eq!(
            o.var("h1", "show v"),
            json!(level),
            "only {level}\n{}",
            o.dump()
        );
    }
}

#[test]
fn magic_variables_and_facts() {
    let p = Project::new(&[]);
    p.write(
        "inv.yml",
        "all:\n  vars:\n    ansible_connection: local\n  children:\n    web:\n      hosts:\n        web1.example.org:\n          colour: blue\n        web2.example.org:\n          colour: green\n",
    );
    p.write("roles/probe/tasks/main.yml", "- name: role magic\n  debug:\n    msg: \"{{ role_name }} {{ ansible_role_name }} {{ role_path.endswith('roles/probe') }}\"\n");
    p.write(
        "play.yml",
        r#"
- hosts: web
  roles: [probe]
  vars:
    peers: "{{ groups['web'] | join('+') }}"
  tasks:
    - name: names
      debug:
        msg: "{{ inventory_hostname }} {{ inventory_hostname_short }} {{ group_names | join(',') }} {{ groups.web | length }} {{ play_hosts | length }} {{ ansible_play_hosts | length }} {{ ansible_play_batch | length }} {{ ansible_check_mode }}"
    - name: a variable made of magic ones
      debug:
        msg: "{{ peers }}"
      loop: [1]
    - name: hostvars of the other host
      debug:
        msg: "{{ hostvars['web2.example.org'].colour }}"
    - name: facts both ways
      assert:
        that:
          - ansible_facts.hostname == ansible_hostname
          - ansible_facts.os_family == ansible_os_family
          - ansible_facts.processor_count >= 1
          - ansible_facts.distribution | length > 0
    - name: hostname fact
      debug: var=ansible_hostname
    - name: playbook dir
      debug: var=playbook_dir
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.msg("web1.example.org", "names"),
        "web1.example.org web1 web 2 2 2 2 False"
    );
    assert_eq!(
        o.msgs("web1.example.org", "a variable made of magic ones"),
        ["web1.example.org+web2.example.org"]
    );
    assert_eq!(
        o.msg("web1.example.org", "hostvars of the other host"),
        "green"
    );
    assert_eq!(o.msg("web2.example.org", "role magic"), "probe probe True");
    assert_eq!(
        o.status("web1.example.org", "facts both ways"),
        "ok",
        "{}",
        o.dump()
    );
    let hostname = std::process::Command::new("hostname")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(o.var("web1.example.org", "hostname fact"), json!(hostname));
    let dir = o.var("web1.example.org", "playbook dir");
    assert_eq!(
        dir,
        json!(p.root().display().to_string()),
        "playbook_dir is absolute"
    );
}

/// The play-wide magic variables, with the values ansible-core 2.19 gives for the same play
/// (recorded with `ansible-playbook -c local`, with and without `--tags x,always --skip-tags y
/// --diff`).
#[test]
fn play_magic_variables_are_ansibles() {
    let p = Project::new(&[]);
    p.write("inv.yml", "all:\n  hosts:\n    h1: {ansible_connection: local}\n    h2: {ansible_connection: local}\n");
    p.write("roles/probe/tasks/main.yml", "- debug: msg=in-role\n");
    p.write(
        "play.yml",
        r#"
- hosts: all
  name: magic
  serial: 1
  roles: [probe]
  tasks:
    - name: play
      tags: always
      debug:
        msg: "{{ [ansible_play_hosts_all, ansible_play_name, ansible_role_names, role_names, ansible_diff_mode, ansible_run_tags, ansible_skip_tags] | to_json }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.msg("h1", "play"),
        r#"[["h1", "h2"], "magic", ["probe"], ["probe"], false, ["all"], []]"#
    );
    let o = p.run(
        "play.yml",
        &["--tags", "x,always", "--skip-tags", "y", "--diff"],
    );
    o.expect_code(0);
    assert_eq!(
        o.msg("h2", "play"),
        r#"[["h1", "h2"], "magic", ["probe"], ["probe"], true, ["always", "x"], ["y"]]"#
    );
}

/// The defaults and vars of every role of a play (`roles:`, `import_role`) are the whole
/// play's, as in Ansible (`private_role_vars` off): a role sees another's defaults, play tasks
/// see them, role vars outrank play vars; role parameters stay inside their role; an
/// `include_role`'s variables stay inside it. The five messages are what ansible-core 2.19
/// printed for this play. Before, prov kept each role's variables to its own tasks.
#[test]
fn role_defaults_and_vars_are_the_plays() {
    let p = Project::new(&["h1"]);
    p.write(
        "roles/ra/defaults/main.yml",
        "ra_port: 80\nshared: from-ra-defaults\nra_derived: \"{{ ra_port + 1 }}\"\n",
    );
    p.write(
        "roles/ra/vars/main.yml",
        "ra_vars_only: ra-vars\nover: from-ra-vars\n",
    );
    p.write(
        "roles/ra/tasks/main.yml",
        "- name: ra\n  debug: msg=\"ra {{ ra_port }} {{ shared }} {{ over }} {{ ra_derived }} {{ rb_port | default('no-rb') }}\"\n- set_fact: ra_fact=set\n",
    );
    p.write(
        "roles/rb/defaults/main.yml",
        "rb_port: \"{{ ra_port * 2 }}\"\n",
    );
    p.write(
        "roles/rb/tasks/main.yml",
        "- name: rb\n  debug: msg=\"rb {{ rb_port }} {{ ra_fact }} {{ ra_vars_only | default('hidden') }} {{ over }} {{ shared }}\"\n",
    );
    p.write("roles/rc/defaults/main.yml", "rc_only: from-rc\n");
    p.write("roles/rc/tasks/main.yml", "- debug: msg=rc\n");
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: false
  vars:
    over: from-play
    shared: from-play
  roles:
    - role: ra
      ra_port: 81
    - rb
  tasks:
    - import_role:
        name: rc
    - name: play
      debug: msg="play {{ over }} {{ shared }} {{ ra_vars_only | default('hidden') }} {{ ra_port | default('hidden') }} {{ rc_only }}"
    - include_role:
        name: ra
      vars:
        ra_port: 90
    - name: after
      debug: msg="after {{ ra_port | default('hidden') }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.msgs("h1", "ra"),
        [
            "ra 81 from-play from-ra-vars 82 162",
            "ra 90 from-play from-ra-vars 91 180"
        ]
    );
    assert_eq!(
        o.msg("h1", "rb"),
        "rb 160 set ra-vars from-ra-vars from-play"
    );
    assert_eq!(
        o.msg("h1", "play"),
        "play from-ra-vars from-play ra-vars 80 from-rc"
    );
    assert_eq!(o.msg("h1", "after"), "after 80");
}
