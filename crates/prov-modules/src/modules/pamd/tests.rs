//! The planner against community.general.pamd's own behaviour: `cases.json` was recorded by
//! running the module's `PamdService` on each case (`record_cases.py`), and every case must
//! give the same count and the same file text, the same validation message, or a failure where
//! the module crashes.

use super::*;
use crate::server_util::testing::refused_field;

fn strings(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn edit_of(c: &Value) -> PamEdit {
    let state: State = serde_json::from_value(c["state"].clone()).expect("state");
    PamEdit {
        key: (
            strings(&c["type"]).unwrap(),
            strings(&c["control"]).unwrap(),
            strings(&c["module_path"]).unwrap(),
        ),
        new: (
            strings(&c["new_type"]),
            strings(&c["new_control"]),
            strings(&c["new_module_path"]),
        ),
        args: c["module_arguments"].as_array().map(|a| {
            a.iter()
                .map(|x| x.as_str().expect("string").to_owned())
                .collect()
        }),
        state,
    }
}

#[test]
fn every_recorded_case_matches_the_module() {
    let all: Value = serde_json::from_str(include_str!("cases.json")).expect("cases.json");
    let now = all["now"].as_str().unwrap();
    let cases = all["cases"].as_array().unwrap();
    assert!(cases.len() >= 350, "{}", cases.len());
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let got = edit(&edit_of(c), c["content"].as_str().unwrap(), now);
        let want = &c["expect"];
        match (got, want.get("count"), want.get("fail"), want.get("crash")) {
            (Ok((n, text)), Some(count), None, None) => {
                assert_eq!(json!(n), *count, "{name}: change count");
                assert_eq!(text, want["text"].as_str().unwrap(), "{name}: file text");
            }
            (Err(PamError::Invalid(m)), None, Some(msg), None) => {
                assert_eq!(json!(m), *msg, "{name}: message");
            }
            (Err(PamError::Crash(_)), None, None, Some(_)) => {}
            (got, ..) => panic!("{name}: got {got:?}, the module gives {want}"),
        }
    }
}

#[test]
fn the_roles_task_removes_both_motd_rules_and_is_then_unchanged() {
    let sshd = include_str!("debian_sshd");
    let e = PamEdit {
        key: ("session".into(), "optional".into(), "pam_motd.so".into()),
        new: (None, None, None),
        args: None,
        state: State::Absent,
    };
    let (n, text) = edit(&e, sshd, "2026-01-02T03:04:05").unwrap();
    assert_eq!(n, 2);
    assert!(!text.contains("pam_motd"), "{text}");
    assert!(
        text.starts_with(
            "# PAM configuration for the Secure Shell service\n# Updated by Ansible - 2026-01-02T03:04:05\n\n"
        ),
        "{text}"
    );
    // Every rule is printed in the module's layout.
    assert!(text.contains("\naccount    required pam_nologin.so\n"), "{text}");
    let (n, again) = edit(&e, &text, "2026-01-02T03:04:06").unwrap();
    assert_eq!(n, 0);
    // Nothing changed: the mark is only rewritten (and the file written) when a rule changed.
    assert_eq!(again.replace(":06\n", ":05\n"), text);
}

#[test]
fn python_lines_and_times() {
    assert_eq!(
        crate::pytext::py_splitlines("a\r\nb\rc\n\nd\x0be\u{2028}f\n", false),
        ["a", "b", "c", "", "d", "e", "f"]
    );
    assert_eq!(crate::pytext::py_splitlines("", false), Vec::<&str>::new());
    assert_eq!(crate::pytext::py_splitlines("x", false), ["x"]);
    assert_eq!(
        isoformat("2026-12-07T14:05:09.123456789").as_deref(),
        Some("2026-12-07T14:05:09.123456")
    );
    assert_eq!(
        isoformat("2026-12-07T14:05:09.000000999").as_deref(),
        Some("2026-12-07T14:05:09")
    );
    assert_eq!(isoformat("2026-12-07T14:05:09.%N"), None);
    assert_eq!(HostNow.parse(&["T 2026-12-07T14:05:09.5"]), Err("unexpected time `2026-12-07T14:05:09.5`".into()));
    assert!(HostNow.parse(&[]).is_err());
}

#[test]
fn module_arguments_are_split_as_the_module_splits_them() {
    let p = |v: &[&str]| {
        service::parse_module_arguments(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    assert_eq!(p(&[""]), Vec::<String>::new());
    assert_eq!(p(&["preauth silent  deny=3"]), ["preauth", "silent", "deny=3"]);
    assert_eq!(p(&["a", "b c"]), ["a", "b", "c"]);
    assert_eq!(p(&["[x y] z"]), ["[x y]", "z"]);
    assert_eq!(p(&["[x] y [z]"]), ["[x] y [z]"]);
    assert_eq!(p(&["a[b] c"]), ["a[b]", "c"]);
    assert_eq!(p(&["x = 1"]), ["x", "=", "1"]);
}

#[test]
fn arguments_are_checked_as_ansible_checks_them() {
    let base = json!({"name": "sshd", "type": "session", "control": "optional", "module_path": "pam_motd.so"});
    let with = |extra: Value| {
        let mut v = base.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        build(v)
    };
    assert!(build(base.clone()).is_ok());
    assert!(with(json!({"state": "absent", "backup": "yes"})).is_ok());
    assert!(with(json!({"module_arguments": "crond,quiet", "state": "args_present"})).is_ok());
    let err = |r: Result<Box<dyn Module>, ModuleError>| r.err().map(|e| e.to_string()).unwrap();
    assert!(
        err(with(json!({"state": "args_present"})))
            .contains("state is args_present but all of the following are missing: module_arguments")
    );
    assert!(err(with(json!({"state": "before", "new_type": "auth"})))
        .contains("state is before but all of the following are missing: new_control, new_module_path"));
    assert!(
        err(with(json!({"state": "args_present", "module_arguments": ["[a=b]"]})))
            .contains("Unable to process bracketed '[' complex arguments")
    );
    assert_eq!(refused_field(with(json!({"type": "sessions"}))).as_deref(), Some("type"));
    assert_eq!(refused_field(with(json!({"new_type": "x"}))).as_deref(), Some("new_type"));
    assert_eq!(refused_field(with(json!({"state": "present"}))).as_deref(), Some("state"));
    assert_eq!(refused_field(with(json!({"path": "~/pam"}))).as_deref(), Some("path"));
    assert_eq!(refused_field(with(json!({"path": ""}))).as_deref(), Some("path"));
    assert_eq!(refused_field(with(json!({"unsafe_writes": true}))).as_deref(), Some("unsafe_writes"));
    assert_eq!(join("/etc/pam.d", "sshd"), "/etc/pam.d/sshd");
    assert_eq!(join("/etc/pam.d/", "sshd"), "/etc/pam.d/sshd");
    assert_eq!(join("/etc/pam.d", "/tmp/x"), "/tmp/x");
}

#[test]
fn the_backup_is_named_as_ansible_names_it() {
    let s = backup_script("/etc/pam.d/sshd").to_string();
    assert!(s.starts_with("f=/etc/pam.d/sshd\n"), "{s}");
    assert!(s.contains("$f.$$.$(date +%Y-%m-%d@%H:%M:%S)~"), "{s}");
}
