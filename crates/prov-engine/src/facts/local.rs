//! `local`: /etc/ansible/facts.d/*.fact (or `fact_path`), JSON or INI, executables run. As in
//! Ansible, a fact file that cannot be read becomes a message in its place, not a failure.

use serde_json::{Map, Value, json};

use super::FactError;
use super::frame::Probe;

pub fn local(p: &Probe, dir: &str, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let mut local = Map::new();
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let files = p.files.iter().map(|(k, v)| (k, 0, v, false));
    let runs = p.local.iter().map(|(k, (rc, v))| (k, *rc, v, true));
    for (path, rc, text, ran) in files.chain(runs) {
        let Some(name) = path
            .strip_prefix(&prefix)
            .and_then(|n| n.strip_suffix(".fact"))
        else {
            continue;
        };
        let value = if ran && rc != 0 {
            json!(format!(
                "Failure executing fact script ({path}), rc: {rc}, err: "
            ))
        } else {
            parse_fact(path, text)
        };
        local.insert(name.replace(".fact", ""), value);
    }
    out.insert("local".into(), Value::Object(local));
    Ok(())
}

/// JSON first, else INI (Python's ConfigParser: sections, `key = value` or `key: value`, keys
/// lower-cased, `#`/`;` comments, indented continuation lines).
fn parse_fact(path: &str, text: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return v;
    }
    let bad = || {
        json!(format!(
            "error loading facts as JSON or ini - please check content: {path}"
        ))
    };
    let mut sections = Map::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let (Some(s), Some(k)) = (&current, &last_key) else {
                return bad();
            };
            if let Some(Value::String(v)) = sections.get_mut(s).and_then(|m| m.get_mut(k.as_str()))
            {
                v.push('\n');
                v.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            sections.entry(name.to_owned()).or_insert_with(|| json!({}));
            current = Some(name.to_owned());
            continue;
        }
        let Some(section) = &current else {
            return bad();
        };
        let cut = trimmed.find(['=', ':']);
        let (k, v) = match cut {
            Some(i) => (trimmed[..i].trim(), trimmed[i + 1..].trim()),
            None => return bad(),
        };
        let key = k.to_lowercase();
        if let Some(Value::Object(m)) = sections.get_mut(section) {
            m.insert(key.clone(), json!(v));
        }
        last_key = Some(key);
    }
    Value::Object(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_ini_executables_and_errors() {
        let d = "/etc/ansible/facts.d";
        let mut p = Probe::default();
        p.files
            .insert(format!("{d}/app.fact"), "{\"port\": 8080}".into());
        p.files.insert(
            format!("{d}/site.fact"),
            "[general]\nName = web\nlist: a\n  b\n".into(),
        );
        p.files.insert(
            format!("{d}/broken.fact"),
            "key=value without section\n".into(),
        );
        p.files.insert("/etc/other.fact".into(), "{}".into());
        p.local
            .insert(format!("{d}/gen.fact"), (0, "{\"x\": [1]}".into()));
        p.local.insert(format!("{d}/fail.fact"), (3, String::new()));
        let mut f = Map::new();
        local(&p, d, &mut f).unwrap();
        let l = &f["local"];
        assert_eq!(l["app"]["port"], 8080);
        assert_eq!(
            l["site"],
            json!({"general": {"name": "web", "list": "a\nb"}})
        );
        assert!(
            l["broken"]
                .as_str()
                .unwrap()
                .starts_with("error loading facts")
        );
        assert_eq!(l["gen"]["x"][0], 1);
        assert!(l["fail"].as_str().unwrap().contains("rc: 3"));
        assert_eq!(l.as_object().unwrap().len(), 5);
    }
}
