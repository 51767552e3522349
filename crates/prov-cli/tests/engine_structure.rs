//! Playbook structure through the real `prov` binary on local hosts: roles, includes, tags,
//! `--start-at-task`, `-e`, `--limit`, `serial` and `run_once`.

mod engine_support;

use engine_support::Project;
use serde_json::json;

fn role_project() -> Project {
    let p = Project::new(&["h1"]);
    p.write(
        "roles/web/defaults/main.yml",
        "web_port: 80\ngreeting: hello\nout_dir: /nonexistent\n",
    );
    p.write("roles/web/vars/main.yml", "role_var: from-role-vars\n");
    p.write(
        "roles/web/tasks/main.yml",
        r#"
- name: render config
  template:
    src: web.conf.j2
    dest: "{{ out_dir }}/web.conf"
  notify: reload web
- name: role extra
  include_tasks: extra.yml
"#,
    );
    p.write(
        "roles/web/tasks/extra.yml",
        "- name: from role include\n  debug:\n    msg: \"{{ role_name }} {{ web_port }}\"\n",
    );
    p.write(
        "roles/web/handlers/main.yml",
        "- name: reload web\n  command: echo reloaded {{ web_port }}\n",
    );
    p.write(
        "roles/web/templates/web.conf.j2",
        "port={{ web_port }}\ngreeting={{ greeting }}\nvars={{ role_var }}\n",
    );
    // A template of the same name beside the playbook must not win over the role's.
    p.write("templates/web.conf.j2", "WRONG TEMPLATE\n");
    p
}

#[test]
fn roles_tasks_handlers_defaults_vars_templates() {
    let p = role_project();
    let out = p.path("out");
    std::fs::create_dir_all(&out).expect("out dir");
    p.write(
        "play.yml",
        &format!(
            r#"
- hosts: all
  gather_facts: no
  pre_tasks:
    - name: before roles
      debug: msg=pre
  roles:
    - role: web
      web_port: 8080
      out_dir: {}
  tasks:
    - name: after roles
      debug: msg=post
"#,
            out.display()
        ),
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.started(),
        [
            "before roles",
            "render config",
            "role extra",
            "from role include",
            "after roles",
            "reload web"
        ],
        "{}",
        o.dump()
    );
    let text = std::fs::read_to_string(out.join("web.conf")).expect("rendered file");
    assert_eq!(text, "port=8080\ngreeting=hello\nvars=from-role-vars\n");
    assert_eq!(o.msg("h1", "from role include"), "web 8080");
    assert_eq!(o.status("h1", "reload web"), "changed");
    // The role's handler sees the role's parameters.
    assert_eq!(
        o.result("h1", "reload web")["result"]["stdout"],
        "reloaded 8080"
    );

    // Second run: nothing changes, so the handler is not notified.
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "render config"), "ok");
    assert!(!o.ran("h1", "reload web"));
}

#[test]
fn import_and_include_tasks() {
    let p = Project::new(&["h1", "h2"]);
    p.write("tasks/common.yml", "- name: common one\n  debug:\n    msg: \"{{ who | default(value='nobody') }}\"\n- name: common two\n  debug: msg=two\n");
    p.write(
        "nested.yml",
        "- name: nested outer\n  import_tasks: tasks/common.yml\n",
    );
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: import it
      import_tasks: tasks/common.yml
    - name: include with vars and when
      include_tasks: tasks/common.yml
      vars:
        who: included
      when: inventory_hostname == 'h2'
    - import_tasks: nested.yml
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let h1: Vec<String> = o
        .results_of("h1", "common one")
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["status"].as_str().unwrap_or(""),
                r["msg"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(h1, ["ok:nobody", "ok:nobody"], "{}", o.dump());
    // A dynamic include's `when` decides whether the file is included at all: on h1 the
    // include is skipped and its tasks do not appear.
    assert_eq!(o.status("h1", "include with vars and when"), "skipped");
    let h2: Vec<String> = o
        .results_of("h2", "common one")
        .iter()
        .map(|r| r["msg"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(h2, ["nobody", "included", "nobody"]);
    assert_eq!(o.results_of("h1", "common two").len(), 2);
}

fn tags_project() -> Project {
    Project::with_tasks(
        &["h1"],
        r#"
    - name: tagged a
      debug: msg=a
      tags: a
    - name: tagged b
      debug: msg=b
      tags: [b]
    - name: untagged
      debug: msg=u
    - name: always runs
      debug: msg=always
      tags: always
    - name: never unless asked
      debug: msg=never
      tags: [never, debugonly]
    - name: block tagged a
      tags: a
      block:
        - name: inherits a
          debug: msg=inherited
"#,
    )
}

fn ran_tasks(o: &engine_support::Outcome) -> Vec<String> {
    o.results()
        .iter()
        .filter(|r| r["host"] == "h1")
        .map(|r| r["task"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn tags_skip_tags_never_always() {
    let p = tags_project();
    let all = p.run("play.yml", &[]);
    all.expect_code(0);
    assert_eq!(
        ran_tasks(&all),
        [
            "tagged a",
            "tagged b",
            "untagged",
            "always runs",
            "inherits a"
        ]
    );
    let a = p.run("play.yml", &["--tags", "a"]);
    assert_eq!(ran_tasks(&a), ["tagged a", "always runs", "inherits a"]);
    let skip = p.run("play.yml", &["--skip-tags", "a,always"]);
    assert_eq!(ran_tasks(&skip), ["tagged b", "untagged"]);
    let never = p.run("play.yml", &["--tags", "debugonly"]);
    assert_eq!(ran_tasks(&never), ["always runs", "never unless asked"]);
    let untagged = p.run("play.yml", &["--tags", "untagged"]);
    assert_eq!(ran_tasks(&untagged), ["untagged", "always runs"]);
}

#[test]
fn start_at_task() {
    let p = tags_project();
    let o = p.run("play.yml", &["--start-at-task", "untagged"]);
    o.expect_code(0);
    assert_eq!(ran_tasks(&o), ["untagged", "always runs", "inherits a"]);
    let missing = p.run("play.yml", &["--start-at-task", "no such task"]);
    missing.expect_code(4);
    assert!(
        missing.stderr.contains("no such task"),
        "{}",
        missing.dump()
    );
}

#[test]
fn extra_vars_win_over_everything() {
    let p = Project::new(&["h1"]);
    p.write("inv.yml", "all:\n  vars:\n    x: inventory\n  hosts:\n    h1:\n      ansible_connection: local\n      x: host\n");
    p.write("extra.yml", "x: from-file\nfile_only: 42\n");
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: no
  vars:
    x: play
  tasks:
    - name: set it
      set_fact:
        x: set_fact
    - name: show x
      debug: var=x
      vars:
        x: task
    - name: show typed
      debug: var=typed
"#,
    );
    let kv = p.run("play.yml", &["-e", "x=cli typed=5"]);
    kv.expect_code(0);
    assert_eq!(kv.var("h1", "show x"), json!("cli"));
    assert_eq!(
        kv.var("h1", "show typed"),
        json!(5),
        "key=value values are YAML scalars"
    );
    let js = p.run("play.yml", &["-e", r#"{"x": "json", "typed": [1, 2]}"#]);
    js.expect_code(0);
    assert_eq!(js.var("h1", "show x"), json!("json"));
    assert_eq!(js.var("h1", "show typed"), json!([1, 2]));
    let file = p.run("play.yml", &["-e", "@extra.yml", "-e", "typed=true"]);
    file.expect_code(0);
    assert_eq!(file.var("h1", "show x"), json!("from-file"));
    assert_eq!(file.var("h1", "show typed"), json!(true));
    let none = p.run("play.yml", &["-e", "typed=0"]);
    assert_eq!(
        none.var("h1", "show x"),
        json!("set_fact"),
        "set_fact wins over task vars"
    );
}

#[test]
fn limit_selects_hosts() {
    let p = Project::new(&["h1", "h2", "h3"]);
    p.write(
        "play.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: hi\n      debug: msg=hi\n",
    );
    let hosts = |o: &engine_support::Outcome| -> Vec<String> {
        let mut v: Vec<String> = o
            .results()
            .iter()
            .map(|r| r["host"].as_str().unwrap_or("").to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(hosts(&p.run("play.yml", &["--limit", "h2"])), ["h2"]);
    assert_eq!(
        hosts(&p.run("play.yml", &["--limit", "all:!h1"])),
        ["h2", "h3"]
    );
    assert_eq!(hosts(&p.run("play.yml", &["-l", "h1,h3"])), ["h1", "h3"]);
    let none = p.run("play.yml", &["--limit", "nosuchhost"]);
    none.expect_code(4);
    assert!(none.stderr.contains("nosuchhost"), "{}", none.dump());
}

#[test]
fn serial_batches_and_run_once() {
    let p = Project::new(&["h1", "h2", "h3"]);
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: no
  serial: [1, 2]
  tasks:
    - name: first
      debug: msg=1
    - name: second
      debug: msg=2
- hosts: all
  gather_facts: no
  tasks:
    - name: once
      command: echo {{ inventory_hostname }}
      run_once: true
      register: once_out
    - name: everyone sees it
      debug:
        msg: "{{ once_out.stdout }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let batches: Vec<Vec<String>> = o
        .events
        .iter()
        .filter(|e| e["event"] == "play_start")
        .map(|e| {
            e["hosts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|h| h.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        batches,
        vec![
            vec!["h1".to_owned()],
            vec!["h2".to_owned(), "h3".to_owned()],
            vec!["h1".to_owned(), "h2".to_owned(), "h3".to_owned()]
        ]
    );
    // Each batch finishes the play before the next starts.
    let order: Vec<String> = o
        .results()
        .iter()
        .filter(|r| r["task"] == "first" || r["task"] == "second")
        .map(|r| {
            format!(
                "{}:{}",
                r["task"].as_str().unwrap_or(""),
                r["host"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(&order[..2], ["first:h1", "second:h1"]);
    assert!(
        order[2..4].iter().all(|s| s.starts_with("first:")),
        "{order:?}"
    );
    assert_eq!(
        o.results().iter().filter(|r| r["task"] == "once").count(),
        1,
        "run_once runs on one host"
    );
    for h in ["h1", "h2", "h3"] {
        assert_eq!(
            o.msg(h, "everyone sees it"),
            "h1",
            "the registered result is shared with every host"
        );
    }
}

#[test]
fn role_dependencies_run_first_and_once() {
    let p = Project::new(&["h1"]);
    p.write(
        "roles/common/tasks/main.yml",
        "- name: common task\n  debug: msg=common\n",
    );
    p.write(
        "roles/base/meta/main.yml",
        "galaxy_info: {author: x}\ndependencies:\n  - common\n",
    );
    p.write(
        "roles/base/tasks/main.yml",
        "- name: base task\n  debug: msg=\"base {{ level }}\"\n",
    );
    p.write(
        "roles/app/meta/main.yml",
        "dependencies:\n  - role: base\n    level: 2\n  - common\n",
    );
    p.write(
        "roles/app/tasks/main.yml",
        "- name: app task\n  debug: msg=app\n",
    );
    p.write(
        "play.yml",
        "- hosts: all\n  gather_facts: no\n  roles:\n    - app\n    - common\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.started(),
        ["common task", "base task", "app task"],
        "{}",
        o.dump()
    );
    assert_eq!(o.msg("h1", "base task"), "base 2");
}

#[test]
fn import_role_and_include_role() {
    let p = Project::new(&["h1", "h2"]);
    p.write("roles/web/defaults/main.yml", "port: 80\n");
    p.write("roles/web/tasks/main.yml", "- name: web main\n  debug: msg=\"main {{ port }}\"\n  notify: web handler\n  changed_when: true\n");
    p.write(
        "roles/web/tasks/extra.yml",
        "- name: web extra\n  debug: msg=\"extra {{ port }}\"\n",
    );
    p.write(
        "roles/web/handlers/main.yml",
        "- name: web handler\n  debug: msg=handled\n",
    );
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: imported
      import_role:
        name: web
        tasks_from: extra
      vars:
        port: 81
    - name: included
      include_role:
        name: web
      when: inventory_hostname == 'h2'
      vars:
        port: 82
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "web extra"), "extra 81");
    assert_eq!(o.status("h1", "included"), "skipped");
    assert!(!o.ran("h1", "web main"));
    assert_eq!(o.msg("h2", "web main"), "main 82");
    // The included role's handler is the play's: notified on h2 only.
    assert!(
        o.ran("h2", "web handler") && !o.ran("h1", "web handler"),
        "{}",
        o.dump()
    );
}

#[test]
fn per_task_keywords_on_a_static_import_are_refused_with_their_location() {
    let p = Project::new(&["h1"]);
    p.write("tasks/common.yml", "- name: common\n  debug: msg=x\n");
    p.write("roles/web/tasks/main.yml", "- name: web\n  debug: msg=x\n");
    for (task, keyword) in [
        ("import_tasks: tasks/common.yml\n      loop: [1, 2]", "loop"),
        (
            "import_tasks: tasks/common.yml\n      register: r",
            "register",
        ),
        ("import_role: {name: web}\n      notify: h", "notify"),
        (
            "import_role: {name: web}\n      with_items: [1]",
            "with_items",
        ),
    ] {
        p.write(
            "play.yml",
            &format!("- hosts: all\n  gather_facts: no\n  tasks:\n    - {task}\n"),
        );
        let o = p.run("play.yml", &[]);
        o.expect_code(4);
        assert!(
            o.stderr.contains("play.yml:5:7")
                && o.stderr.contains(&format!("`{keyword}` cannot be used on")),
            "{keyword}: {}",
            o.stderr
        );
    }
}

/// A task prov cannot run (an unknown module, a refused argument) under a condition — its own
/// `when`, a block's or an import's, a `rescue`, a handler — is said at load and fails only on
/// a host where the condition holds (public roles keep such optional paths: a snap install,
/// disabling firewalld with `warn:`). Without a condition it is refused at load, as before.
#[test]
fn unsupported_tasks_under_a_condition_fail_only_when_reached() {
    let p = Project::new(&["h1"]);
    p.write(
        "optional.yml",
        "- name: snap path\n  snap: {name: certbot}\n- name: warn path\n  shell: echo x\n  args: {warn: false}\n",
    );
    p.write(
        "play.yml",
        r#"- hosts: all
  gather_facts: no
  vars: {method: package}
  tasks:
    - import_tasks: optional.yml
      when: method == 'snap'
    - name: own condition
      nonesuch_module: {x: 1}
      when: false
      notify: never notified
    - name: reached
      debug: msg=ran
  handlers:
    - name: never notified
      another_missing_module: {}
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "reached"), "ran");
    for (at, what) in [
        ("optional.yml:2:3", "unknown module `snap`"),
        ("optional.yml:4:3", "invalid arguments: shell"),
        ("play.yml:8:7", "unknown module `nonesuch_module`"),
        ("play.yml:15:7", "unknown module `another_missing_module`"),
    ] {
        assert!(
            o.stdout.contains(at) && o.stdout.contains(what),
            "a warning for {at} {what}:\n{}",
            o.dump()
        );
    }
    // Where the condition holds, the task fails with the load error, at its place.
    let o = p.run("play.yml", &["-e", "method=snap"]);
    o.expect_code(2);
    assert!(
        o.msg("h1", "snap path")
            .contains("optional.yml:2:3: unknown module `snap`"),
        "{}",
        o.dump()
    );
    // Without a condition: refused at load.
    p.write(
        "bare.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - snap: {name: x}\n",
    );
    let o = p.run("bare.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("bare.yml:4:7: unknown module `snap`"),
        "{}",
        o.stderr
    );
}
