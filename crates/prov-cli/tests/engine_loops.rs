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
