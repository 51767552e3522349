//! Ansible's dynamic includes and variable files through the real `prov` binary on local
//! hosts: `include_tasks` decided per host when reached (its `when`, loop, templated name and
//! `vars`), a file that is never included is never loaded, `include_vars` with
//! `with_first_found` looked up in the role's `vars/`, at its precedence; `default(omit)`.

mod engine_support;

use engine_support::Project;

fn role_project() -> Project {
    let p = Project::new(&["h1", "h2"]);
    p.write(
        "inv.yml",
        "all:\n  vars:\n    ansible_connection: local\n  hosts:\n    h1:\n    h2:\n      flavour: b\n",
    );
    p.write(
        "roles/r/defaults/main.yml",
        "who: world\ngreeting: \"hello {{ who }}\"\nfrom_defaults: default\n",
    );
    p.write(
        "roles/r/vars/Family.yml",
        "__pkg: \"pkg-{{ who }}\"\nfrom_defaults: from-include-vars\n",
    );
    p.write("roles/r/tasks/setup-Other.yml", "- nosuchmodule: {x: 1}\n");
    p.write(
        "roles/r/tasks/setup-a.yml",
        "- name: in a\n  debug: msg=a\n",
    );
    p.write(
        "roles/r/tasks/setup-b.yml",
        "- name: in b\n  debug: msg=b\n",
    );
    p.write(
        "roles/r/tasks/item.yml",
        "- name: item task\n  debug: msg=\"{{ item }}-{{ extra }}\"\n",
    );
    p.write(
        "roles/r/tasks/main.yml",
        r#"
- name: os vars
  include_vars: "{{ item }}"
  with_first_found:
    - "Missing-{{ inventory_hostname }}.yml"
    - "Family.yml"
- name: show
  debug:
    msg: "{{ __pkg }} {{ greeting }} {{ from_defaults }}"
- name: never reached
  include_tasks: setup-Other.yml
  when: false
- name: per host
  include_tasks: "setup-{{ flavour | default('a') }}.yml"
- name: looped
  include_tasks: item.yml
  loop: [1, 2]
  vars:
    extra: "x{{ item }}"
"#,
    );
    p.write(
        "play.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [r]\n",
    );
    p
}

#[test]
fn includes_are_decided_per_host_when_reached() {
    let p = role_project();
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    // The file with an unknown module is never loaded: its include is skipped.
    assert_eq!(o.status("h1", "never reached"), "skipped");
    // Each host includes the file its own variables name.
    assert!(o.ran("h1", "in a") && !o.ran("h1", "in b"), "{}", o.dump());
    assert!(o.ran("h2", "in b") && !o.ran("h2", "in a"), "{}", o.dump());
    // A looped include runs its file once per item, with the item and the include's vars.
    assert_eq!(o.msgs("h1", "item task"), ["1-x1", "2-x2"]);
    assert_eq!(o.msgs("h2", "item task"), ["1-x1", "2-x2"]);
}

#[test]
fn include_vars_finds_the_first_file_and_outranks_role_defaults() {
    let p = role_project();
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.msg("h1", "show"),
        "pkg-world hello world from-include-vars"
    );
    let r = o.result("h1", "os vars");
    assert!(
        r["result"]["ansible_included_var_files"][0]
            .as_str()
            .is_some_and(|f| f.starts_with('/') && f.ends_with("/roles/r/vars/Family.yml")),
        "{}",
        o.dump()
    );
}

#[test]
fn a_broken_included_file_fails_the_include_on_the_hosts_that_reach_it() {
    let p = role_project();
    p.write(
        "roles/r/tasks/main.yml",
        "- name: reach it\n  include_tasks: setup-Other.yml\n  when: inventory_hostname == 'h2'\n- name: after\n  debug: msg=after\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    assert_eq!(o.status("h1", "reach it"), "skipped");
    assert_eq!(o.status("h2", "reach it"), "failed");
    let msg = o.result("h2", "reach it")["msg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        msg.contains("setup-Other.yml:1:3") && msg.contains("nosuchmodule"),
        "{msg}"
    );
    assert!(o.ran("h1", "after") && !o.ran("h2", "after"));
}

#[test]
fn a_missing_first_found_file_fails_naming_the_candidates() {
    let p = role_project();
    p.write(
        "roles/r/tasks/main.yml",
        "- name: vars\n  include_vars: \"{{ item }}\"\n  with_first_found: [Nope.yml, Nada.yml]\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    let msg = o.result("h1", "vars")["msg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("Nope.yml, Nada.yml"), "{msg}");
}

/// Runs `prov lint play.yml -i inv.yml` in the project: (exit code, stdout, stderr).
fn lint(p: &Project) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prov"))
        .args(["lint", "play.yml", "-i", "inv.yml"])
        .current_dir(p.root())
        .output()
        .expect("run prov lint");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lint_reads_every_included_file_it_can_find() {
    let p = role_project();
    let (code, out, err) = lint(&p);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("expressions read as jinja2"), "{out}");
    // The templated name stands for both files it can name.
    for f in ["setup-a.yml", "setup-b.yml", "item.yml"] {
        assert!(
            out.contains(&format!("{f}: read as a dynamically included tasks file")),
            "{f}: {out}"
        );
    }
    // A module prov lacks, in a file only a conditional include reaches, is a note.
    assert!(
        err.contains("note: ")
            && err.contains("setup-Other.yml:1:3: unknown module `nosuchmodule`"),
        "{err}"
    );
    // A name only `include_vars` defines (in the role's vars/) is not reported undefined.
    assert!(!err.contains("__pkg"), "{err}");
}

#[test]
fn lint_reports_what_an_unconditional_include_would_fail_on() {
    let p = role_project();
    p.write(
        "roles/r/tasks/setup-a.yml",
        "- name: in a\n  debug: msg={{ nowhere_defined }}\n",
    );
    p.write(
        "roles/r/tasks/main.yml",
        "- include_tasks: setup-Other.yml\n- include_tasks: setup-a.yml\n- include_tasks: missing.yml\n  when: false\n",
    );
    let (code, out, err) = lint(&p);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("setup-Other.yml:1:3: unknown module `nosuchmodule`"),
        "{err}"
    );
    assert!(!err.contains("note: "), "{err}");
    assert!(
        err.contains("setup-a.yml:2:") && err.contains("nowhere_defined"),
        "{err}"
    );
    assert!(
        err.contains("included file `missing.yml` not found"),
        "{err}"
    );
}

#[test]
fn default_omit_leaves_the_argument_out() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: omitted message
      debug:
        msg: "{{ nothing_here | default(omit) }}"
    - name: omitted mode
      copy:
        content: "x\n"
        dest: "{{ playbook_dir }}/out.txt"
        mode: "{{ no_mode | default(omit) }}"
    - name: kept
      debug:
        msg: "{{ 'given' | default(omit) }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "omitted message"), "Hello world!");
    assert_eq!(o.status("h1", "omitted mode"), "changed");
    assert_eq!(o.msg("h1", "kept"), "given");
}

#[test]
fn with_fileglob_and_with_file_loop_over_the_lookup() {
    let p = role_project();
    p.write("roles/r/files/conf.d/a.conf", "A\n");
    p.write("roles/r/files/conf.d/b.conf", "B\n");
    p.write("roles/r/files/conf.d/skip.txt", "no\n");
    p.write(
        "roles/r/tasks/main.yml",
        "- name: globbed\n  debug: msg=\"{{ item | basename }}\"\n  with_fileglob: conf.d/*.conf\n- name: contents\n  debug: msg=\"{{ item }}\"\n  with_file: [conf.d/a.conf, conf.d/b.conf]\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msgs("h1", "globbed"), ["a.conf", "b.conf"]);
    assert_eq!(o.msgs("h1", "contents"), ["A", "B"]);
}

#[test]
fn apply_gives_the_included_tasks_its_keywords() {
    let p = role_project();
    p.write(
        "roles/r/tasks/main.yml",
        r#"
- name: tagged include
  include_tasks:
    file: setup-a.yml
    apply:
      tags: [web]
      vars:
        who: applied
  tags: [web]
- name: other
  debug: msg=other
"#,
    );
    p.write(
        "roles/r/tasks/setup-a.yml",
        "- name: in a\n  debug: msg=\"a {{ who }}\"\n",
    );
    let o = p.run("play.yml", &["--tags", "web"]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "in a"), "a applied");
    assert!(!o.ran("h1", "other"));
    p.write(
        "roles/r/tasks/main.yml",
        "- include_tasks:\n    file: setup-a.yml\n    apply:\n      loop: [1]\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("`loop` cannot be applied"),
        "{}",
        o.stderr
    );
}

/// A project whose play runs role `r` (its tasks written by the test) on h1, for lint.
fn lint_project(files: &[(&str, &str)]) -> Project {
    let p = Project::new(&["h1"]);
    p.write(
        "inv.yml",
        "all:\n  vars:\n    ansible_connection: local\n  hosts:\n    h1:\n",
    );
    p.write(
        "play.yml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    things: [{domains: [a]}]\n  roles: [r]\n",
    );
    for (path, text) in files {
        p.write(&format!("roles/r/{path}"), text);
    }
    p
}

#[test]
fn lint_knows_the_loop_variable_of_a_looped_include() {
    let p = lint_project(&[
        (
            "tasks/main.yml",
            "- include_tasks: inner.yml\n  with_items: \"{{ things }}\"\n  loop_control:\n    loop_var: cert_item\n- include_tasks: inner2.yml\n  loop: \"{{ things }}\"\n",
        ),
        (
            "tasks/inner.yml",
            "- set_fact:\n    x: \"{{ cert_item.domains | first }}\"\n",
        ),
        (
            "tasks/inner2.yml",
            "- set_fact:\n    y: \"{{ item.domains | first }}\"\n- debug:\n    msg: \"a {{ item.domains | first }}\"\n",
        ),
    ]);
    let (code, out, err) = lint(&p);
    assert_eq!(code, 0, "{out}{err}");
    // Ansible defines the loop variable in the included file.
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
}

#[test]
fn lint_knows_what_include_vars_with_a_name_defines() {
    let p = lint_project(&[
        (
            "tasks/main.yml",
            r#"- include_vars:
    file: Debian.yml
    name: os_vars
- debug: msg="{{ os_vars }}"
- include_vars:
    file: "{{ item }}"
    name: os_vars2
  with_first_found:
    - files: ["Debian.yml"]
      skip: true
- debug: msg="{{ os_vars2 }}"
"#,
        ),
        ("vars/Debian.yml", "a: 1\n"),
    ]);
    let (code, out, err) = lint(&p);
    assert_eq!(code, 0, "{out}{err}");
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
}

/// A handler may use a fact that a file included from an included file sets, even when that
/// file also holds a task prov cannot load (os_hardening's `mountpoints_changed`).
#[test]
fn lint_knows_facts_set_in_nested_included_files_for_handlers() {
    let p = lint_project(&[
        (
            "tasks/main.yml",
            "- include_tasks: inc.yml\n  when: things | length > 0\n- debug: msg=x\n  changed_when: true\n  notify: h\n",
        ),
        (
            "tasks/inc.yml",
            "- nosuch_module: {}\n- include_tasks: inc2.yml\n",
        ),
        ("tasks/inc2.yml", "- set_fact:\n    from_inc: [1]\n"),
        (
            "handlers/main.yml",
            "- name: h\n  debug: msg=\"{{ item }}\"\n  loop: \"{{ from_inc }}\"\n",
        ),
    ]);
    let (code, out, err) = lint(&p);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("unknown module `nosuch_module`"), "{err}");
    assert!(
        out.contains("inc2.yml: read as a dynamically included"),
        "{out}"
    );
}

#[test]
fn lint_names_an_undefined_variable_where_it_is_used() {
    let p = lint_project(&[(
        "tasks/main.yml",
        "- debug: msg=\"{{ nowhere }}\"\n- debug: msg=\"a {{ nowhere2.x | upper }}\"\n- file: path=/tmp/x\n        mode={{ nowhere3 }}\n",
    )]);
    let (code, out, err) = lint(&p);
    assert_eq!(code, 4, "{out}{err}");
    for (at, name) in [
        ("roles/r/tasks/main.yml:1:18:", "nowhere"),
        ("roles/r/tasks/main.yml:2:20:", "nowhere2"),
        ("roles/r/tasks/main.yml:4:17:", "nowhere3"),
    ] {
        let want = format!("{at} template error: Variable `{name}` is not defined");
        assert!(err.contains(&want), "{want}\n{err}");
    }
}

#[test]
fn lint_follows_includes_in_included_files_and_reports_every_problem_of_a_file() {
    let p = lint_project(&[
        (
            "tasks/main.yml",
            "- include_tasks: a.yml\n  when: things | length > 5\n- include_tasks: c.yml\n",
        ),
        (
            "tasks/a.yml",
            "- debug: msg=a\n- nosuch_a: {}\n- include_tasks: b.yml\n",
        ),
        (
            "tasks/b.yml",
            "- nosuch_b: {}\n- nosuch_c: {}\n- debug: msg=\"{{ undefined_in_b }}\"\n- include_tasks: a.yml\n",
        ),
        (
            "tasks/c.yml",
            "- nosuch_d: {}\n- copy:\n    nosuch_arg: 1\n- include_tasks: missing.yml\n",
        ),
    ]);
    let (code, out, err) = lint(&p);
    assert_eq!(code, 4, "{out}{err}");
    for f in ["a.yml", "b.yml", "c.yml"] {
        assert!(
            out.contains(&format!(
                "tasks/{f}: read as a dynamically included tasks file"
            )),
            "{f}: {out}"
        );
    }
    // Behind the conditional include, directly or not: notes, each of them.
    for (at, module) in [
        ("a.yml:2:3", "nosuch_a"),
        ("b.yml:1:3", "nosuch_b"),
        ("b.yml:2:3", "nosuch_c"),
    ] {
        let want = format!("roles/r/tasks/{at}: unknown module `{module}`: fails only on");
        assert!(err.contains(&want), "{want}\n{err}");
    }
    assert!(
        err.contains("roles/r/tasks/b.yml:3:18: template error: Variable `undefined_in_b`"),
        "{err}"
    );
    // The unconditional include's file fails wherever it runs: problems, each of them.
    assert!(
        err.lines()
            .any(|l| l.ends_with("roles/r/tasks/c.yml:1:3: unknown module `nosuch_d`")),
        "{err}"
    );
    assert!(
        err.contains("c.yml:3:") && err.contains("nosuch_arg"),
        "{err}"
    );
    assert!(
        err.contains("included file `missing.yml` not found"),
        "{err}"
    );
    assert!(err.contains("4 problem(s)"), "{err}");
}

/// An include inside a block with a condition (or an `import_tasks` with `when`) is reached by
/// some hosts only: what its file lacks is a note, as for an include with `when`.
#[test]
fn lint_counts_a_block_condition_as_the_include_condition() {
    let p = lint_project(&[
        (
            "tasks/main.yml",
            "- block:\n    - include_tasks: d.yml\n  when: things | length > 5\n- import_tasks: e.yml\n  when: things | length > 5\n",
        ),
        ("tasks/d.yml", "- nosuch_d: {}\n"),
        ("tasks/e.yml", "- include_tasks: f.yml\n"),
        ("tasks/f.yml", "- nosuch_f: {}\n"),
    ]);
    let (code, out, err) = lint(&p);
    assert_eq!(code, 0, "{out}{err}");
    for (f, module) in [("d.yml", "nosuch_d"), ("f.yml", "nosuch_f")] {
        let want = format!("tasks/{f}:1:3: unknown module `{module}`: fails only on hosts");
        assert!(err.contains(&want), "{want}\n{err}");
    }
}

/// A role both imported and included brings its handlers into the play once: a notified
/// handler runs once, as in Ansible. It ran twice before. (`import_role: name=r` is the
/// key=value form, refused before.)
#[test]
fn a_role_imported_and_included_runs_its_handler_once() {
    let p = Project::new(&["h1"]);
    p.write(
        "roles/r/tasks/main.yml",
        "- name: change\n  command: echo x\n  notify: restart r\n",
    );
    p.write(
        "roles/r/handlers/main.yml",
        "- name: restart r\n  debug: msg=restarted\n",
    );
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - import_role: name=r
    - include_role:
        name: r
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.results_of("h1", "change").len(), 2, "{}", o.dump());
    assert_eq!(o.msgs("h1", "restart r"), ["restarted"], "{}", o.dump());
}
