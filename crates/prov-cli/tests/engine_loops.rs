//! Ansible's loop family through the real `prov` binary on a local host: `with_items`
//! (flattens one level), `with_dict`, `with_subelements` (the users-and-keys idiom),
//! `with_together`, `with_nested`, `with_indexed_items`, `with_sequence`. (The strings here are
//! prov's tera dialect, which writes `item[0]` for Ansible's `item.0`.)

mod engine_support;

use engine_support::Project;

#[test]
fn the_with_family_loops_as_in_ansible() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: items
      debug: msg="{{ item }}"
      with_items: [[a, b], c]
    - name: dict
      debug: msg="{{ item.key }}={{ item.value }}"
      with_dict: {zeta: 1, alpha: 2}
    - name: subelements
      debug: msg="{{ item[0].name }}:{{ item[1] }}"
      with_subelements:
        - [{name: u1, keys: [k1, k2]}, {name: u2}]
        - keys
        - skip_missing: true
    - name: together
      debug: msg="{{ item[0] }}{{ item[1] }}"
      with_together: [[1, 2], [x, y]]
    - name: nested
      debug: msg="{{ item[0] }}{{ item[1] }}"
      with_nested: [[1, 2], [x]]
    - name: indexed
      debug: msg="{{ item[0] }}:{{ item[1] }}"
      with_indexed_items: [p, q]
    - name: sequence
      debug: msg="{{ item }}"
      with_sequence: start=1 end=3 format=web%02d
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let msgs = |task: &str| o.msgs("h1", task);
    assert_eq!(msgs("items"), ["a", "b", "c"]);
    assert_eq!(msgs("dict"), ["zeta=1", "alpha=2"]);
    assert_eq!(msgs("subelements"), ["u1:k1", "u1:k2"]);
    assert_eq!(msgs("together"), ["1x", "2y"]);
    assert_eq!(msgs("nested"), ["1x", "2x"]);
    assert_eq!(msgs("indexed"), ["0:p", "1:q"]);
    assert_eq!(msgs("sequence"), ["web01", "web02", "web03"]);
}

#[test]
fn two_loop_keywords_on_one_task_are_refused_where_they_are() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: two loops
      debug: msg=x
      loop: [1]
      with_items: [2]
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("play.yml:")
            && o.stderr
                .contains("a task has one loop, found `loop` and `with_items`"),
        "{}",
        o.stderr
    );
}

/// A `with_*` loop named by its lookup's FQCN loops as the short one (os_hardening writes
/// `with_community.general.flattened`); a lookup that is not in the named collection is not
/// a loop, so the task is refused at load with its location.
#[test]
fn with_loops_by_their_lookups_fqcn() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: flattened
      debug: msg="{{ item }}"
      with_community.general.flattened: [[a, [b]], c]
    - name: items
      debug: msg="{{ item }}"
      with_ansible.builtin.items: [[x, y], z]
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msgs("h1", "flattened"), ["a", "b", "c"]);
    assert_eq!(o.msgs("h1", "items"), ["x", "y", "z"]);
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: not a loop
      debug: msg=x
      with_community.general.items: [1]
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("play.yml:") && o.stderr.contains("with_community.general.items"),
        "{}",
        o.stderr
    );
}

/// Ansible evaluates a task whose loop names an undefined value without its loop: when the
/// task's conditions are false it is skipped (`when: feature_on` over items written for the
/// feature: geerlingguy.php's php-fpm pool lines); when they hold, or need the item themselves,
/// the loop's error fails it. ansible-core 2.19 gave the same for these four tasks: skipped,
/// skipped, failed, failed. Before, prov failed all four.
#[test]
fn a_loop_over_undefined_values_is_left_to_the_tasks_conditions() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: feature off
      debug: msg="{{ item.line }}"
      with_items:
        - line: "owner = {{ nope }}"
          when: "{{ nope is defined and nope }}"
        - line: b
      when: feature_on and item.when | default(True)
      vars:
        feature_on: false
    - name: when false
      debug: msg="{{ item }}"
      loop: "{{ [1, 2] + [nope] }}"
      when: false
    - name: needs the item
      debug: msg="{{ item }}"
      with_items: ["{{ nope }}", 2]
      when: item == 2
      ignore_errors: true
    - name: holds
      debug: msg="{{ item }}"
      loop: "{{ [1] + nope }}"
      when: true
      ignore_errors: true
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "feature off"), "skipped");
    assert_eq!(o.status("h1", "when false"), "skipped");
    for task in ["needs the item", "holds"] {
        assert_eq!(o.status("h1", task), "ignored", "{}", o.dump());
        assert!(o.msg("h1", task).contains("`nope`"), "{}", o.dump());
    }
}

/// An undefined value inside a list is an error where the list is used, not an item `null`:
/// `[1, 2] + [nope]` ran its third item with `item` null before.
#[test]
fn an_undefined_value_inside_a_loops_list_fails_the_task() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: concat
      debug: msg="{{ item }}"
      loop: "{{ [1, 2] + [nope] }}"
      ignore_errors: true
    - name: printed
      debug: msg="x {{ [1] + [nope] }}"
      ignore_errors: true
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    for task in ["concat", "printed"] {
        assert_eq!(o.status("h1", task), "ignored", "{}", o.dump());
        assert!(o.msg("h1", task).contains("`nope`"), "{}", o.dump());
    }
}
