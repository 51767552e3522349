//! A differential test of prov's Jinja2 against ansible-core: the expressions, conditions and
//! template files of `fixtures/ansible_jinja/cases.yml` (what public roles for Debian servers
//! use), rendered by prov, must give what the real ansible-core gave for them, as recorded in
//! `fixtures/ansible_jinja/recorded.json` by `fixtures/ansible_jinja/record.py` (a local
//! playbook run with ansible-core; see there). Runs without Ansible; re-record after changing
//! the cases.
//!
//! The comparison: a value must be the same JSON value (types included: `4.0` is not `4`);
//! a template file the same text; where Ansible failed, prov must fail, and where Ansible's
//! error names an undefined variable (`'nope' is undefined`), prov's must name it too.

use std::path::{Path, PathBuf};

use prov_engine::Location;
use prov_engine::template::{Dialect, Templar};
use serde_json::{Map, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ansible_jinja")
}

/// The undefined name an Ansible error reports ("'nope' is undefined").
fn undefined_name(message: &str) -> Option<&str> {
    let end = message.find("' is undefined")?;
    let start = message[..end].rfind('\'')? + 1;
    Some(&message[start..end])
}

/// What prov gives for one recorded case.
fn render(
    templar: &Templar,
    case: &Map<String, Value>,
    vars: &Map<String, Value>,
    dir: &Path,
    n: usize,
) -> Result<Value, String> {
    let mut vars = vars.clone();
    if let Some(Value::Object(own)) = case.get("vars") {
        vars.extend(own.clone());
    }
    vars.insert("inventory_hostname".into(), "localhost".into());
    vars.insert("omit".into(), "__omit_place_holder__".into());
    let ctx = Templar::context(&vars);
    let text = case["text"].as_str().expect("text");
    let at = Location::new(Path::new("cases.yml"), 1, 1);
    match case["kind"].as_str() {
        Some("expr") => templar
            .render_value_in(Dialect::Jinja2, &Value::String(text.into()), &ctx, &|_| {
                at.clone()
            })
            .map_err(|e| e.to_string()),
        Some("when") => templar
            .eval_bool(&Value::String(text.into()), &ctx, &at)
            .map(Value::Bool)
            .map_err(|e| e.to_string()),
        Some("template") => {
            let path = dir.join(format!("case{n}.j2"));
            std::fs::write(&path, text).unwrap();
            templar
                .render_file(&path, &ctx)
                .map(Value::String)
                .map_err(|e| e.to_string())
        }
        other => panic!("unknown kind {other:?}"),
    }
}

/// Cases where prov does not yet give what Ansible gives (their text, or a template's name):
/// each is a known gap (docs/ansible-content.md). A case listed here that now matches fails
/// the test too, so that the list only shrinks.
const KNOWN_GAPS: &[&str] = &[
    "{{ users | groupby('shell') | length }}",
    "{{ lookup('pipe', 'echo hi') }}",
    "{{ ('2026-01-02 03:04:05' | to_datetime).year }}",
    "{{ (('2026-01-02' | to_datetime('%Y-%m-%d')) - ('2025-12-31' | to_datetime('%Y-%m-%d'))).days }}",
];

#[test]
fn jinja_renders_as_ansible_core_recorded() {
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("recorded.json")).expect("recorded.json"),
    )
    .expect("recorded.json is JSON");
    let vars = recorded["vars"].as_object().cloned().unwrap_or_default();
    let cases = recorded["cases"].as_array().expect("cases");
    // Every case of cases.yml was recorded (re-record after editing it).
    let spec = std::fs::read_to_string(fixtures().join("cases.yml")).unwrap();
    let spec: Value = serde_yaml_ng::from_str(&spec).unwrap();
    let listed: usize = ["expr", "when", "template"]
        .iter()
        .map(|k| spec[k].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(listed, cases.len(), "cases.yml changed: run record.py");

    let templar = Templar::new();
    let dir = tempfile::tempdir().unwrap();
    let mut differ = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let case = case.as_object().unwrap();
        let what = format!(
            "{} {}",
            case["kind"].as_str().unwrap(),
            case.get("name").unwrap_or(&case["text"])
        );
        let got = render(&templar, case, &vars, dir.path(), n);
        let ansible = &case["ansible"];
        let key = case.get("name").unwrap_or(&case["text"]).as_str().unwrap();
        let known = KNOWN_GAPS.contains(&key);
        let before = differ.len();
        match (ansible.get("ok"), ansible.get("error"), &got) {
            (Some(want), _, Ok(v)) if v == want => {}
            (_, Some(err), Err(e)) => {
                let err = err.as_str().unwrap_or_default();
                if let Some(name) = undefined_name(err)
                    && !e.contains(&format!("`{name}`"))
                {
                    differ.push(format!("{what}\n  ansible: {err}\n  prov:    {e}"));
                }
            }
            (Some(want), _, _) => {
                differ.push(format!("{what}\n  ansible: {want}\n  prov:    {got:?}"))
            }
            (_, Some(err), Ok(v)) => {
                differ.push(format!("{what}\n  ansible error: {err}\n  prov:    {v}"))
            }
            _ => panic!("bad record {ansible}"),
        }
        match (known, differ.len() > before) {
            (true, true) => {
                differ.pop();
            }
            (true, false) => differ.push(format!(
                "{what}\n  matches Ansible now: remove it from KNOWN_GAPS"
            )),
            _ => {}
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} cases differ from ansible-core:\n{}",
        differ.len(),
        cases.len(),
        differ.join("\n")
    );
}
