//! `setup` as a task, on a local host: the facts it returns join the host's as Ansible merges
//! them (`ansible_X` and `ansible_facts['X']` both see them; `ansible_local`, `gather_subset`
//! and `module_setup` keep their names), `filter` and `gather_subset` limit them, and lint
//! knows the names it defines.

mod engine_support;

use engine_support::Project;
use serde_json::json;

const PLAY: &str = r#"
- hosts: all
  gather_facts: no
  tasks:
    - name: nothing gathered yet
      assert:
        that:
          - ansible_distribution is not defined
          - ansible_facts.distribution is not defined
    - name: gather some
      setup:
        gather_subset: "!all"
        filter:
          - ansible_distribution*
          - ansible_local
          - os_family
          - module_setup
          - gather_*
        fact_path: "{{ playbook_dir }}/facts.d"
      register: gathered
    - name: both forms see them
      assert:
        that:
          - ansible_distribution == ansible_facts['distribution']
          - ansible_distribution | length > 0
          - ansible_os_family == ansible_facts.os_family
          - ansible_local.site.colour == 'green'
          - ansible_facts.ansible_local.site.colour == 'green'
          - module_setup
          - ansible_facts.module_setup
          - gather_subset == ['!all']
          - ansible_hostname is not defined
          - ansible_facts.hostname is not defined
    - name: again, by its full name and in key=value form
      ansible.builtin.setup: gather_subset=!all,!min,network filter=ansible_default_ipv4,ansible_interfaces,gather_subset
    - name: the new facts join the earlier ones
      assert:
        that:
          - ansible_facts.interfaces | length > 0
          - "'lo' in ansible_interfaces"
          - ansible_distribution == ansible_facts.distribution
          - gather_subset == ['!all', '!min', 'network']
    - name: facts seen in a template
      debug:
        msg: "{{ ansible_facts['os_family'] }}/{{ ansible_os_family }}"
"#;

#[test]
fn setup_task_facts_are_seen_both_ways() {
    let p = Project::new(&["h1"]);
    p.write("facts.d/site.fact", "{\"colour\": \"green\"}\n");
    p.write("play.yml", PLAY);
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    for t in [
        "nothing gathered yet",
        "gather some",
        "both forms see them",
        "the new facts join the earlier ones",
    ] {
        assert_eq!(o.status("h1", t), "ok", "{t}\n{}", o.dump());
    }
    // The result is what Ansible's setup returns: `ansible_` names, filtered.
    let facts = &o.result("h1", "gather some")["result"]["ansible_facts"];
    let mut keys: Vec<&str> = facts
        .as_object()
        .expect("ansible_facts in the result")
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with("ansible_distribution"))
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "ansible_local",
            "ansible_os_family",
            "gather_subset",
            "module_setup"
        ]
    );
    assert_eq!(facts["ansible_local"], json!({"site": {"colour": "green"}}));
    let os = facts["ansible_os_family"].as_str().unwrap();
    assert_eq!(
        o.msg("h1", "facts seen in a template"),
        format!("{os}/{os}")
    );
}

#[test]
fn setup_arguments_are_checked_and_lint_knows_its_facts() {
    let p = Project::with_tasks(
        &["h1"],
        "    - setup: {gather_subset: network}\n    - debug: msg=\"{{ module_setup }} {{ gather_subset }}\"\n",
    );
    let lint = std::process::Command::new(env!("CARGO_BIN_EXE_prov"))
        .args(["lint", "play.yml", "-i", "inv.yml"])
        .current_dir(p.root())
        .output()
        .expect("prov lint runs");
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let p = Project::with_tasks(&["h1"], "    - setup:\n        filters: x\n");
    let o = p.run("play.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("play.yml:5:9") && o.stderr.contains("unknown argument `filters`"),
        "{}",
        o.dump()
    );
    let p = Project::with_tasks(&["h1"], "    - setup:\n        gather_timeout: soon\n");
    let o = p.run("play.yml", &[]);
    o.expect_code(4);
    assert!(
        o.stderr.contains("play.yml:5:25") && o.stderr.contains("gather_timeout"),
        "{}",
        o.dump()
    );
}
