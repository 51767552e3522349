//! Connection settings come only from `ansible_*`/`prov_*` names, at Ansible's precedence, on
//! real lab hosts (issue 14): ordinary words in play vars never move a task elsewhere, and a
//! play's `remote_user` counts only where no `ansible_user` says otherwise.

mod support;

use support::lab::{self, prov};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn ordinary_words_in_play_vars_never_change_where_a_task_runs() {
    let Some(lab) = lab::lab() else { return };
    lab.up(1).expect("lab up");
    let dir = tempfile::tempdir().unwrap();
    let inv = write(dir.path(), "hosts.yml", &lab.inventory_yaml().unwrap());
    let play = write(
        dir.path(),
        "play.yml",
        r#"
- hosts: lab1
  gather_facts: no
  vars:
    connection: local
    host: 127.0.0.1
    port: 9
    user: nobody
    become: false
  tasks:
    - name: where
      command: cat /etc/hostname
      register: where
      changed_when: false
    - name: say
      debug:
        msg: "{{ where.stdout }}"
"#,
    );
    let out = prov(&["run", &play, "-i", &inv]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let say = out
        .results()
        .into_iter()
        .find(|r| r["task"] == "say")
        .map(|r| r["msg"].clone());
    assert_eq!(say, Some(serde_json::json!("lab1")), "{}", out.stdout);
}

#[test]
fn remote_user_is_used_only_without_an_ansible_user_variable() {
    let Some(lab) = lab::lab() else { return };
    lab.up(1).expect("lab up");
    let dir = tempfile::tempdir().unwrap();
    let with_user = lab.inventory_yaml().unwrap();
    assert!(with_user.contains("ansible_user: root"), "{with_user}");
    let without_user = with_user.replace("ansible_user: root", "lab_note: no user here");
    let play_text = "- hosts: lab1\n  gather_facts: no\n  remote_user: nosuchuser\n  tasks:\n    - command: \"true\"\n";
    let play = write(dir.path(), "play.yml", play_text);
    // The inventory's ansible_user wins over the play's remote_user.
    let inv = write(dir.path(), "with.yml", &with_user);
    let out = prov(&["run", &play, "-i", &inv]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // Without it, the play's remote_user is who prov logs in as: unknown there, unreachable.
    let inv = write(dir.path(), "without.yml", &without_user);
    let out = prov(&["run", &play, "-i", &inv, "--connect-timeout", "5"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("nosuchuser") || out.stderr.contains("nosuchuser"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

/// A templated `become_user` is rendered with the task's variables (geerlingguy.postgresql's
/// `become_user: "{{ postgresql_user }}"`); it reached sudo as written before, and the task
/// failed. An undefined one fails the task, naming it.
#[test]
fn a_templated_become_user_is_rendered() {
    let Some(lab) = lab::lab() else { return };
    lab.up(1).expect("lab up");
    let dir = tempfile::tempdir().unwrap();
    let inv = write(dir.path(), "hosts.yml", &lab.inventory_yaml().unwrap());
    let play = write(
        dir.path(),
        "play.yml",
        r#"
- hosts: lab1
  gather_facts: no
  become: true
  vars:
    service_user: nobody
  tasks:
    - name: who
      command: id -un
      become_user: "{{ service_user }}"
      changed_when: false
    - name: undefined
      command: id -un
      become_user: "{{ no_such_user_var }}"
      ignore_errors: true
"#,
    );
    let out = prov(&["run", &play, "-i", &inv]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let result = |task: &str| {
        out.results()
            .into_iter()
            .find(|r| r["task"] == task)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        result("who")["result"]["stdout"],
        "nobody",
        "{}",
        out.stdout
    );
    assert_eq!(result("undefined")["status"], "ignored", "{}", out.stdout);
    let msg = result("undefined")["msg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("no_such_user_var"), "{msg}");
}
