//! Check mode, `--diff`, `--junit` and exit codes through the real `prov` binary.

mod engine_support;

use engine_support::Project;
use quick_xml::events::Event as XmlEvent;

#[test]
fn check_mode_skips_commands_unless_check_mode_false() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: cmd
      command: touch should-not-exist
      register: cmd_out
    - name: forced
      command: touch forced
      check_mode: false
      register: forced_out
    - name: uses skipped result
      debug:
        msg: "skipped={{ cmd_out.skipped }} rc={{ forced_out.rc }}"
    - name: when on skipped result
      debug: msg=x
      when: cmd_out is skipped
    - name: check mode var
      debug: var=ansible_check_mode
"#,
    );
    // Commands run in the connection's working directory; use absolute paths instead.
    let text = std::fs::read_to_string(p.path("play.yml")).expect("play");
    let root = p.root().display().to_string();
    p.write(
        "play.yml",
        &text.replace("touch ", &format!("touch {root}/")),
    );
    let o = p.run("play.yml", &["--check"]);
    o.expect_code(0);
    assert_eq!(o.events[0]["check_mode"], true);
    assert_eq!(o.status("h1", "cmd"), "skipped");
    assert!(
        !p.path("should-not-exist").exists(),
        "check mode ran a command"
    );
    assert_eq!(o.status("h1", "forced"), "changed");
    assert!(
        p.path("forced").exists(),
        "check_mode: false runs even under --check"
    );
    // Booleans print as Python prints them (Jinja2, the dialect of YAML without a prov.toml).
    assert_eq!(o.msg("h1", "uses skipped result"), "skipped=True rc=0");
    assert_eq!(o.status("h1", "when on skipped result"), "ok");
    assert_eq!(o.var("h1", "check mode var"), serde_json::json!(true));
}

/// A playbook touching files the ways the file modules do, rooted at `{{ base }}`.
const FILES_PLAY: &str = r#"
- hosts: all
  gather_facts: no
  vars:
    conf: "{{ base }}/conf"
  tasks:
    - name: make dir
      file:
        path: "{{ conf }}"
        state: directory
        mode: "0750"
    - name: nested dir
      file:
        path: "{{ conf }}/a/b"
        state: directory
    - name: copy inline
      copy:
        content: "hello\n"
        dest: "{{ conf }}/hello.txt"
        mode: "0640"
    - name: copy from files
      copy:
        src: data.txt
        dest: "{{ conf }}/a/b/data.txt"
    - name: template it
      template:
        src: t.j2
        dest: "{{ conf }}/t.conf"
        mode: "0600"
    - name: line in new file
      lineinfile:
        path: "{{ conf }}/lines.txt"
        line: "first"
        create: yes
    - name: line in existing file
      lineinfile:
        path: "{{ base }}/existing.txt"
        regexp: "^port="
        line: "port=7000"
    - name: link it
      file:
        src: "{{ base }}/existing.txt"
        dest: "{{ base }}/link"
        state: link
    - name: remove old
      file:
        path: "{{ base }}/old.txt"
        state: absent
    - name: already right
      copy:
        content: "same\n"
        dest: "{{ base }}/same.txt"
"#;

fn files_project() -> Project {
    let p = Project::new(&["h1"]);
    p.write("play.yml", FILES_PLAY);
    p.write("files/data.txt", "data\n");
    p.write(
        "templates/t.j2",
        "host={{ inventory_hostname }}\nbase={{ base }}\n",
    );
    p.write("work/existing.txt", "a=1\nport=6379\n");
    p.write("work/old.txt", "old\n");
    p.write("work/same.txt", "same\n");
    p
}

#[test]
fn check_mode_predicts_the_real_run_for_file_modules() {
    let p = files_project();
    let base = format!("base={}", p.path("work").display());
    let check = p.run("play.yml", &["--check", "-e", &base]);
    check.expect_code(0);
    assert!(
        !p.path("work/conf").exists(),
        "check mode created a directory"
    );
    assert!(p.path("work/old.txt").exists(), "check mode removed a file");
    assert_eq!(
        std::fs::read_to_string(p.path("work/existing.txt")).unwrap_or_default(),
        "a=1\nport=6379\n"
    );
    let predicted = check.changed_tasks("h1");

    let real = p.run("play.yml", &["-e", &base]);
    real.expect_code(0);
    let done = real.changed_tasks("h1");
    assert_eq!(
        predicted,
        done,
        "--check must report exactly what the real run changes\ncheck:\n{}\nreal:\n{}",
        check.dump(),
        real.dump()
    );
    assert_eq!(
        done.len(),
        9,
        "every task but `already right` changes: {done:?}"
    );
    assert_eq!(
        std::fs::read_to_string(p.path("work/conf/t.conf")).unwrap_or_default(),
        format!("host=h1\nbase={}\n", p.path("work").display())
    );
    assert_eq!(
        std::fs::read_to_string(p.path("work/existing.txt")).unwrap_or_default(),
        "a=1\nport=7000\n"
    );
    assert!(!p.path("work/old.txt").exists());

    let again = p.run("play.yml", &["-e", &base]);
    again.expect_code(0);
    assert_eq!(
        again.changed_tasks("h1"),
        Vec::<String>::new(),
        "a second run changes nothing\n{}",
        again.dump()
    );
    assert_eq!(again.count("h1", "changed"), 0);
    let check_again = p.run("play.yml", &["--check", "-e", &base]);
    assert_eq!(
        check_again.count("h1", "changed"),
        0,
        "{}",
        check_again.dump()
    );
}

#[test]
fn diff_output_is_a_unified_diff() {
    let p = Project::new(&["h1"]);
    let dest = p.write("target.txt", "line one\nold line\nline three\n");
    p.write(
        "play.yml",
        &format!(
            "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: rewrite\n      copy:\n        dest: {}\n        content: \"line one\\nnew line\\nline three\\n\"\n",
            dest.display()
        ),
    );
    let o = p.run("play.yml", &["--check", "--diff"]);
    o.expect_code(0);
    let diffs = o.result("h1", "rewrite")["diffs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(diffs.len(), 1, "{}", o.dump());
    assert_eq!(diffs[0]["before"], "line one\nold line\nline three\n");
    assert_eq!(diffs[0]["after"], "line one\nnew line\nline three\n");
    let text = p.prov_run(&["play.yml", "-i", "inv.yml", "--check", "--diff"]);
    text.expect_code(0);
    for needle in [
        "--- before:",
        "+++ after:",
        "@@ -1,3 +1,3 @@",
        "-old line",
        "+new line",
        " line one",
    ] {
        assert!(
            text.stdout.contains(needle),
            "missing `{needle}` in\n{}",
            text.dump()
        );
    }
    // Without --diff no diff is shown.
    let plain = p.run("play.yml", &["--check"]);
    assert!(plain.result("h1", "rewrite").get("diffs").is_none());
}

#[test]
fn junit_report_is_well_formed_xml() {
    let p = Project::with_tasks(
        &["h1", "h2"],
        r#"
    - name: fine & "quoted" <task>
      debug: msg=ok
    - name: fails on h2
      command: "false"
      when: inventory_hostname == 'h2'
"#,
    );
    let report = p.path("report.xml");
    let o = p.run(
        "play.yml",
        &["--junit", report.to_str().unwrap_or_default()],
    );
    o.expect_code(2);
    let xml = std::fs::read_to_string(&report).expect("junit file written");
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut depth = 0i32;
    let mut roots = 0;
    let (mut cases, mut failures, mut skipped) = (0, 0, 0);
    let mut names = Vec::new();
    loop {
        let (element, opens) = match reader.read_event() {
            Ok(XmlEvent::Start(e)) => (e.into_owned(), true),
            Ok(XmlEvent::Empty(e)) => (e.into_owned(), false),
            Ok(XmlEvent::End(_)) => {
                depth -= 1;
                continue;
            }
            Ok(XmlEvent::Eof) => break,
            Ok(_) => continue,
            Err(e) => panic!(
                "malformed JUnit XML at {}: {e}\n{xml}",
                reader.buffer_position()
            ),
        };
        if opens {
            if depth == 0 {
                roots += 1;
            }
            depth += 1;
        }
        match element.name().as_ref() {
            b"testcase" => {
                cases += 1;
                for a in element.attributes().flatten() {
                    if a.key.as_ref() == b"name" {
                        names.push(
                            a.unescape_value()
                                .map(|v| v.into_owned())
                                .unwrap_or_default(),
                        );
                    }
                }
            }
            b"failure" => failures += 1,
            b"skipped" => skipped += 1,
            _ => {}
        }
    }
    assert_eq!(
        (depth, roots),
        (0, 1),
        "one root element, every element closed"
    );
    assert_eq!(cases, 4, "{xml}");
    assert_eq!(failures, 1, "{xml}");
    assert_eq!(skipped, 1, "{xml}");
    assert!(
        names.iter().any(|n| n == "[h1] fine & \"quoted\" <task>"),
        "{names:?}"
    );
}

#[test]
fn exit_codes() {
    let p = Project::new(&["h1"]);
    p.write(
        "ok.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: fine\n      debug: msg=ok\n",
    );
    p.write(
        "fail.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: boom\n      command: \"false\"\n",
    );
    p.write("bad.yml", "- hosts: all\n  tasks:\n    - name: [unclosed\n");
    p.write(
        "unreach.yml",
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - name: x\n      command: echo\n",
    );
    p.write("unreach-inv.yml", "all:\n  hosts:\n    closed:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n      ansible_user: nobody\n");
    p.run("ok.yml", &[]).expect_code(0);
    p.run("fail.yml", &[]).expect_code(2);
    let bad = p.run("bad.yml", &[]);
    bad.expect_code(4);
    assert!(bad.stderr.contains("bad.yml:"), "{}", bad.dump());
    assert!(bad.events.is_empty(), "bad input runs nothing");
    p.run("missing.yml", &[]).expect_code(4);
    let unreachable = p.prov_run(&[
        "unreach.yml",
        "-i",
        "unreach-inv.yml",
        "--output",
        "json",
        "--connect-timeout",
        "3",
    ]);
    unreachable.expect_code(3);
    // --check --detailed-exitcode: 5 when changes are pending, 0 when none.
    p.write("drift.yml", &format!("- hosts: all\n  gather_facts: no\n  tasks:\n    - name: drift\n      copy:\n        dest: {}\n        content: x\n", p.path("drift.txt").display()));
    p.run("drift.yml", &["--check", "--detailed-exitcode"])
        .expect_code(5);
    p.run("drift.yml", &[]).expect_code(0);
    p.run("drift.yml", &["--check", "--detailed-exitcode"])
        .expect_code(0);
}
