//! Task flow through the real `prov` binary on local hosts: conditions, loops, registered
//! results, changed_when/failed_when, ignore_errors, handlers, blocks, engine actions and
//! native types.

mod engine_support;

use engine_support::Project;
use serde_json::json;

#[test]
fn when_conditions_bare_wrapped_lists_and_yes_no() {
    let p = Project::new(&["h1", "h2"]);
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: no
  vars:
    n: 5
    names: [a, b]
    yes_s: "yes"
    no_s: "no"
    yes_bare: yes
    flag_true: true
  tasks:
    - name: bare true
      debug: msg=x
      when: n > 3
    - name: bare false
      debug: msg=x
      when: n > 10
    - name: wrapped true
      debug: msg=x
      when: "{{ n == 5 }}"
    - name: wrapped false
      debug: msg=x
      when: "{{ n != 5 }}"
    - name: list all true
      debug: msg=x
      when:
        - n > 1
        - "'a' in names"
    - name: list one false
      debug: msg=x
      when:
        - n > 1
        - "'z' in names"
    - name: bare yes
      debug: msg=x
      when: yes_bare
    - name: literal false
      debug: msg=x
      when: false
    - name: bool filter
      debug: msg=x
      when: no_s | bool
    - name: not bool filter
      debug: msg=x
      when: not (no_s | bool) and flag_true
    - name: per host
      debug: msg=x
      when: inventory_hostname == 'h1'
    - name: is defined
      debug: msg=x
      when: not_there is defined
    - name: is not defined
      debug: msg=x
      when: not_there is not defined
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    for (task, want) in [
        ("bare true", "ok"),
        ("bare false", "skipped"),
        ("wrapped true", "ok"),
        ("wrapped false", "skipped"),
        ("list all true", "ok"),
        ("list one false", "skipped"),
        ("bare yes", "ok"),
        ("literal false", "skipped"),
        ("bool filter", "skipped"),
        ("not bool filter", "ok"),
        ("is defined", "skipped"),
        ("is not defined", "ok"),
    ] {
        assert_eq!(o.status("h1", task), want, "task `{task}`\n{}", o.dump());
    }
    assert_eq!(o.status("h1", "per host"), "ok");
    assert_eq!(o.status("h2", "per host"), "skipped");
    assert_eq!(
        o.result("h1", "bare false")["msg"],
        "Conditional result was False"
    );
    assert_eq!(o.count("h1", "skipped"), 6);
    assert_eq!(o.count("h2", "skipped"), 7);
}

/// A condition whose result is not a boolean fails its task, as in Ansible 2.19
/// ("Conditionals must have a boolean result"): a string, even `yes`, a number, a list. prov
/// took their Python truth before (Ansible 2.18), and so ran tasks Ansible 2.19 fails on
/// (dev-sec's ssh_hardening "Remove all small primes").
#[test]
fn a_condition_must_be_a_boolean() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: string
      debug: msg=x
      when: yes_s
      vars: {yes_s: "yes"}
      ignore_errors: true
    - name: number
      debug: msg=x
      when: 1
      ignore_errors: true
    - name: list
      debug: msg=x
      when: "{{ [] }}"
      ignore_errors: true
    - name: bool filter
      debug: msg=x
      when: yes_s | bool
      vars: {yes_s: "yes"}
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    for (task, result) in [
        ("string", "(True) is a str"),
        ("number", "(True) is a int"),
        ("list", "(False) is a list"),
    ] {
        assert_eq!(o.status("h1", task), "ignored", "{}", o.dump());
        assert!(o.msg("h1", task).contains(result), "{}", o.dump());
    }
    assert_eq!(o.status("h1", "bool filter"), "ok");
}

#[test]
fn loop_control_index_var_extended_and_pause() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: first pass
      command: "echo {{ item }}"
      loop: [a, b, c]
      register: first
    - name: index into the first pass
      debug:
        msg: "{{ i }}:{{ item }}:{{ first.results[i].stdout }}"
      loop: [a, b, c]
      loop_control:
        index_var: i
    - name: extended
      debug:
        msg: "{{ ansible_loop.index }}/{{ ansible_loop.length }} first={{ ansible_loop.first }} last={{ ansible_loop.last }} prev={{ ansible_loop.previtem | default(value='-') }}"
      loop: [x, y]
      loop_control:
        extended: yes
    - name: paused
      command: "date +%s.%N"
      loop: [1, 2, 3]
      loop_control:
        pause: 0.3
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let msgs = o.msgs("h1", "index into the first pass");
    assert_eq!(msgs, ["0:a:a", "1:b:b", "2:c:c"]);
    let msgs = o.msgs("h1", "extended");
    assert_eq!(
        msgs,
        [
            "1/2 first=True last=False prev=-",
            "2/2 first=False last=True prev=x"
        ]
    );
    let stamps: Vec<f64> = o
        .results_of("h1", "paused")
        .iter()
        .map(|r| {
            r["result"]["stdout"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[1] - w[0] >= 0.29),
        "items 0.3 s apart: {stamps:?}"
    );

    // A misspelt key is refused where it is written, with the known ones.
    p.write(
        "typo.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - debug: msg=x\n      loop: [1]\n      loop_control:\n        index_vr: i\n",
    );
    let o = p.run("typo.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("typo.yml:7:9")
            && o.stderr.contains("index_vr")
            && o.stderr.contains("index_var"),
        "{}",
        o.dump()
    );
}

#[test]
fn loops_loop_var_label_and_registered_results() {
    let p = Project::new(&["h1"]);
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: no
  vars:
    names: [alpha, beta, gamma]
    users:
      - {name: ann, uid: 1001}
      - {name: bob, uid: 1002}
  tasks:
    - name: echo each
      command: echo {{ item }}
      loop: "{{ names }}"
      register: echoed
    - name: show echoed
      debug: var=echoed
    - name: custom var and label
      debug:
        msg: "{{ user.name }}={{ user.uid }}"
      loop: "{{ users }}"
      loop_control:
        loop_var: user
        label: "{{ user.name }}"
      register: labelled
    - name: show labelled
      debug: var=labelled
    - name: with_items and per-item when
      command: echo {{ item }}
      with_items: [1, 2, 3]
      when: item != 2
      register: partial
    - name: show partial
      debug: var=partial
    - name: empty loop
      command: echo never
      loop: []
      register: nothing
    - name: show nothing
      debug: var=nothing
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);

    let items: Vec<String> = o
        .results_of("h1", "echo each")
        .iter()
        .map(|r| r["item"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(items, ["alpha", "beta", "gamma"]);
    let echoed = o.var("h1", "show echoed");
    let results = echoed["results"].as_array().expect("results list");
    assert_eq!(results.len(), 3, "{echoed}");
    for (r, name) in results.iter().zip(["alpha", "beta", "gamma"]) {
        assert_eq!(r["stdout"], name);
        assert_eq!(r["item"], name);
        assert_eq!(r["rc"], 0);
        assert_eq!(r["changed"], true);
    }
    assert_eq!(echoed["changed"], true);
    assert_eq!(echoed["failed"], false);

    let labels: Vec<String> = o
        .results_of("h1", "custom var and label")
        .iter()
        .map(|r| r["item"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        labels,
        ["ann", "bob"],
        "label is the rendered loop_control.label"
    );
    let msgs = o.msgs("h1", "custom var and label");
    assert_eq!(msgs, ["ann=1001", "bob=1002"]);
    let labelled = o.var("h1", "show labelled");
    assert_eq!(
        labelled["results"][1]["user"],
        json!({"name": "bob", "uid": 1002})
    );
    assert_eq!(labelled["results"][1]["ansible_loop_var"], "user");

    let statuses: Vec<String> = o
        .results_of("h1", "with_items and per-item when")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(statuses, ["changed", "skipped", "changed"]);
    let partial = o.var("h1", "show partial");
    assert_eq!(partial["results"][0]["stdout"], "1");
    assert_eq!(partial["results"][1]["skipped"], true);
    assert_eq!(partial["results"][2]["stdout"], "3");
    assert_eq!(partial["skipped"], false);

    // A loop over nothing is skipped (one result, like Ansible's "skipping: no items").
    assert_eq!(o.status("h1", "empty loop"), "skipped");
    let nothing = o.var("h1", "show nothing");
    assert_eq!(nothing["results"], json!([]), "{nothing}");
    assert_eq!(nothing["skipped"], true, "{nothing}");
}

#[test]
fn register_fields_rc_stdout_changed_failed_skipped() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: two lines
      shell: printf 'one\ntwo\n'; echo oops >&2
      register: out
    - name: show out
      debug: var=out
    - name: exits 3
      shell: echo partial; exit 3
      register: bad
      ignore_errors: yes
    - name: show bad
      debug: var=bad
    - name: skipped one
      command: echo never
      when: false
      register: sk
    - name: show sk
      debug: var=sk
    - name: use results in conditions
      debug: msg=x
      when: out is succeeded and bad is failed and sk is skipped and out is changed
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let out = o.var("h1", "show out");
    assert_eq!(out["rc"], 0);
    assert_eq!(out["stdout"], "one\ntwo");
    assert_eq!(out["stdout_lines"], json!(["one", "two"]));
    assert_eq!(out["stderr"], "oops");
    assert_eq!(out["changed"], true);
    assert_eq!(out["failed"], false);
    let bad = o.var("h1", "show bad");
    assert_eq!(bad["rc"], 3);
    assert_eq!(bad["stdout"], "partial");
    assert_eq!(bad["failed"], true);
    let sk = o.var("h1", "show sk");
    assert_eq!(sk["skipped"], true);
    assert_eq!(sk["changed"], false);
    assert_eq!(
        o.status("h1", "use results in conditions"),
        "ok",
        "{}",
        o.dump()
    );
    assert_eq!(o.status("h1", "exits 3"), "ignored");
    assert_eq!(o.count("h1", "ignored"), 1);
    assert_eq!(o.count("h1", "failed"), 0);
}

#[test]
fn changed_when_failed_when_and_ignore_errors() {
    let p = Project::with_tasks(
        &["h1", "h2"],
        r#"
    - name: never changes
      command: echo hi
      changed_when: false
    - name: changed by expression
      command: echo hi
      register: r
      changed_when: "'hi' in r.stdout"
    - name: unchanged by expression
      command: echo hi
      register: r2
      changed_when: "{{ r2.stdout == 'bye' }}"
    - name: rc 1 is fine
      command: "false"
      register: r3
      failed_when: r3.rc not in [0, 1]
    - name: fails on output
      command: echo ERROR
      register: r4
      failed_when: "'ERROR' in r4.stdout"
      ignore_errors: true
    - name: h2 fails for real
      command: "false"
      when: inventory_hostname == 'h2'
    - name: after
      debug: msg=still here
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    let r = o.result("h1", "never changes");
    assert_eq!(
        (r["status"].as_str(), r["changed"].as_bool()),
        (Some("ok"), Some(false))
    );
    assert_eq!(o.status("h1", "changed by expression"), "changed");
    assert_eq!(o.status("h1", "unchanged by expression"), "ok");
    assert_eq!(
        o.status("h1", "rc 1 is fine"),
        "changed",
        "command always reports changed"
    );
    assert_eq!(o.status("h1", "fails on output"), "ignored");
    assert_eq!(o.result("h1", "fails on output")["result"]["failed"], true);
    // h1 keeps going; h2 stops after its real failure.
    assert_eq!(o.status("h1", "after"), "ok");
    assert!(
        !o.ran("h2", "after"),
        "a failed host runs no more tasks\n{}",
        o.dump()
    );
    assert_eq!(o.count("h1", "ignored"), 1);
    assert_eq!(o.count("h2", "ignored"), 1);
    assert_eq!(o.count("h1", "failed"), 0);
    assert_eq!(o.count("h2", "failed"), 1);
    assert_eq!(o.count("h1", "changed"), 2, "{}", o.dump());
}

#[test]
fn handlers_run_once_at_end_in_definition_order() {
    let p = Project::with_tasks(
        &["h1", "h2"],
        r#"
    - name: change a
      command: echo a
      notify: [second handler, first handler]
    - name: unchanged
      command: echo b
      changed_when: false
      notify: never handler
    - name: change again
      command: echo c
      notify: first handler
    - name: only h1 changes
      command: echo d
      when: inventory_hostname == 'h1'
      notify: topic
    - name: last task
      debug: msg=end
  handlers:
    - name: first handler
      command: echo 1
    - name: second handler
      command: echo 2
    - name: never handler
      command: echo 3
    - name: listening handler
      command: echo 4
      listen: topic
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let started = o.started();
    let tail: Vec<&str> = started
        .iter()
        .skip_while(|t| *t != "last task")
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "last task",
            "first handler",
            "second handler",
            "listening handler"
        ],
        "{}",
        o.dump()
    );
    for h in ["h1", "h2"] {
        assert_eq!(
            o.results_of(h, "first handler").len(),
            1,
            "notified twice, runs once"
        );
        assert_eq!(o.results_of(h, "second handler").len(), 1);
        assert!(
            !o.ran(h, "never handler"),
            "not notified by an unchanged task"
        );
    }
    assert!(o.ran("h1", "listening handler"));
    assert!(
        !o.ran("h2", "listening handler"),
        "only hosts that notified run a handler"
    );
    let hstart = o
        .events
        .iter()
        .find(|e| e["event"] == "task_start" && e["task"] == "first handler")
        .cloned()
        .unwrap_or_default();
    assert_eq!(hstart["handler"], true);
}

#[test]
fn flush_handlers_runs_them_early_and_only_once() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: notify it
      command: echo x
      notify: the handler
    - meta: flush_handlers
    - name: after flush
      debug: msg=after
  handlers:
    - name: the handler
      command: echo handled
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.started(),
        ["notify it", "the handler", "after flush"],
        "{}",
        o.dump()
    );
}

#[test]
fn handlers_do_not_run_on_failed_hosts() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: notify it
      command: echo x
      notify: the handler
    - name: boom
      command: "false"
  handlers:
    - name: the handler
      command: echo handled
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    assert!(!o.ran("h1", "the handler"));
}

#[test]
fn block_rescue_always() {
    let p = Project::with_tasks(
        &["h1", "h2"],
        r#"
    - name: guarded
      vars:
        block_var: from-block
      block:
        - name: in block
          debug: msg="{{ block_var }}"
        - name: fails on h1
          command: "false"
          when: inventory_hostname == 'h1'
        - name: after failure
          debug: msg=x
      rescue:
        - name: rescue task
          debug: msg=rescuing
      always:
        - name: always task
          debug: msg=always
    - name: after block
      debug: msg=continues
    - name: unrescued
      block:
        - name: fails h2
          command: "false"
          when: inventory_hostname == 'h2'
      always:
        - name: always despite failure
          debug: msg=x
    - name: the end
      debug: msg=end
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    assert_eq!(o.msg("h1", "in block"), "from-block");
    assert!(!o.ran("h1", "after failure"));
    assert!(o.ran("h2", "after failure"));
    assert!(o.ran("h1", "rescue task"));
    assert!(
        !o.ran("h2", "rescue task"),
        "rescue runs only where the block failed"
    );
    assert!(o.ran("h1", "always task") && o.ran("h2", "always task"));
    assert!(o.ran("h1", "after block"), "a rescued host goes on");
    assert_eq!(o.count("h1", "rescued"), 1);
    assert_eq!(o.count("h1", "failed"), 0);
    // Without rescue the failure stands: always runs, then the host stops.
    assert!(o.ran("h2", "always despite failure"));
    assert!(!o.ran("h2", "the end"));
    assert!(o.ran("h1", "the end"));
    assert_eq!(o.count("h2", "failed"), 1);
    assert_eq!(o.count("h2", "rescued"), 0);
}

#[test]
fn set_fact_assert_fail_and_native_types() {
    let p = Project::new(&["h1"]);
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: no
  vars:
    base: 6379
    ports_list: [1, 2]
    enabled: true
    port_plus: "{{ base + 1 }}"
  tasks:
    - name: facts
      set_fact:
        next_port: "{{ base + 1 }}"
        label: "port-{{ base }}"
        flag: "{{ enabled }}"
        copy_of_list: "{{ ports_list }}"
    - name: show next_port
      debug: var=next_port
    - name: show label
      debug: var=label
    - name: show flag
      debug: var=flag
    - name: show port_plus
      debug: var=port_plus
    - name: loop over templated list
      debug: msg="{{ item * 10 }}"
      loop: "{{ copy_of_list }}"
    - name: arithmetic on a set fact
      assert:
        that:
          - next_port == 6380
          - next_port + 1 == 6381
          - port_plus == 6380
          - flag
          - "{{ copy_of_list | length == 2 }}"
        success_msg: all good
    - name: failing assert
      assert:
        that: next_port > 7000
        fail_msg: "port {{ next_port }} too small"
      ignore_errors: yes
    - name: explicit fail
      fail:
        msg: "stopped at {{ label }}"
    - name: unreachable
      debug: msg=no
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    assert_eq!(
        o.var("h1", "show next_port"),
        json!(6380),
        "a single expression keeps its number type"
    );
    assert_eq!(o.var("h1", "show label"), json!("port-6379"));
    assert_eq!(o.var("h1", "show flag"), json!(true));
    assert_eq!(o.var("h1", "show port_plus"), json!(6380));
    let msgs = o.msgs("h1", "loop over templated list");
    assert_eq!(msgs, ["10", "20"]);
    assert_eq!(
        o.status("h1", "arithmetic on a set fact"),
        "ok",
        "{}",
        o.dump()
    );
    assert_eq!(o.msg("h1", "arithmetic on a set fact"), "all good");
    assert_eq!(o.status("h1", "failing assert"), "ignored");
    assert_eq!(o.msg("h1", "failing assert"), "port 6380 too small");
    assert_eq!(o.status("h1", "explicit fail"), "failed");
    assert_eq!(o.msg("h1", "explicit fail"), "stopped at port-6379");
    assert!(!o.ran("h1", "unreachable"));
}

#[test]
fn options_come_out_of_a_free_form_line_but_not_out_of_an_explicit_cmd() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: free form
      command: echo hello creates=/
      register: guarded
    - name: explicit cmd
      command:
        cmd: echo hello creates=/
      register: literal
    - debug: {msg: "{{ guarded.msg | default('ran') }}|{{ literal.stdout }}"}
      name: show
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.msg("h1", "show"),
        "Did not run command since '/' exists|hello creates=/"
    );
}

/// A `rescue` sees the failed task and its result as Ansible sets them
/// (`ansible_failed_task`, `ansible_failed_result`: non-persistent facts, still there after the
/// block). Before, both were undefined and the rescue itself failed.
#[test]
fn rescue_sees_the_failed_task_and_its_result() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - block:
        - name: the failing one
          command: sh -c 'echo oops >&2; exit 3'
      rescue:
        - name: in rescue
          debug:
            msg: "{{ ansible_failed_task.name }} {{ ansible_failed_task.action }} {{ ansible_failed_result.rc }} {{ ansible_failed_result.stderr }} {{ ansible_failed_result.failed }}"
    - name: after the block
      debug:
        msg: "{{ ansible_failed_result.rc }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.msg("h1", "in rescue"),
        "the failing one command 3 oops True"
    );
    assert_eq!(o.msg("h1", "after the block"), "3");
}

/// `notify` names may be templates (rendered when the task runs) and may name a role's
/// handler as `ROLE : NAME`, as in Ansible; a rendered name that matches no handler fails the
/// task, naming it. Before, prov refused both forms at load.
#[test]
fn templated_and_role_qualified_notifications() {
    let p = Project::new(&["h1"]);
    p.write(
        "roles/web/handlers/main.yml",
        "- name: restart web\n  debug: msg=restarted\n",
    );
    p.write("roles/web/tasks/main.yml", "- debug: msg=web\n");
    p.write(
        "play.yml",
        r#"
- hosts: all
  gather_facts: false
  vars:
    service: web
  roles: [web]
  tasks:
    - name: templated
      command: echo 1
      notify: "restart {{ service }}"
    - name: qualified
      command: echo 2
      notify: "web : restart web"
    - name: no such handler
      command: echo 3
      notify: "restart {{ service }}-x"
      ignore_errors: true
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msgs("h1", "restart web"), ["restarted"], "{}", o.dump());
    assert_eq!(o.status("h1", "no such handler"), "ignored");
    assert!(
        o.msg("h1", "no such handler")
            .contains("is `restart web-x`, which names no handler"),
        "{}",
        o.dump()
    );
}

/// A task skipped by a condition registers the condition that was false, as written
/// (`false_condition`, Ansible 2.19; a block's condition when that one is false): the two
/// values are what ansible-core printed for this play.
#[test]
fn a_skipped_task_registers_its_false_condition() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - command: echo
      when: [x == 1, "x  >  5"]
      register: a
      vars: {x: 1}
    - block:
        - command: echo
          register: b
          when: true
      when: 1 == 2
    - name: show
      debug: msg="[{{ a.false_condition }}] [{{ b.false_condition }}]"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "show"), "[x  >  5] [1 == 2]");
}
