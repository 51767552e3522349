//! Ansible's YAML inventory format.
//!
//! ```yaml
//! all:
//!   vars: {ntp_server: ntp.example.com}
//!   hosts:
//!     bastion: {ansible_host: 203.0.113.5}
//!   children:
//!     web:
//!       hosts:
//!         web[01:03].example.com:
//!         db1:2222: {ansible_become: true}
//!       vars: {http_port: 8080}
//! ```
//!
//! Top-level keys are groups (usually just `all`); each group may have `hosts` (a mapping of
//! host patterns to their variables), `children` (a mapping of group names to group
//! definitions) and `vars`. Mapping order is recovered from the node locations, so hosts keep
//! the order in which the file lists them.

use serde_json::{Map, Value};

use super::hostrange::expand_host_pattern;
use super::model::Builder;
use crate::error::{EngineError, Location};
use crate::yaml::{PathSeg, YamlDoc};

/// Parses a loaded YAML inventory into `b`.
pub(crate) fn parse(doc: &YamlDoc, b: &mut Builder) -> Result<(), EngineError> {
    let root = match &doc.value {
        Value::Null => {
            b.warn(format!("{}: empty YAML inventory file", doc.file.display()));
            return Ok(());
        }
        Value::Object(m) => m,
        other => {
            return Err(EngineError::invalid(
                doc.location(&[]),
                format!(
                    "a YAML inventory must be a mapping of group names (usually `all:`), found {}",
                    kind(other)
                ),
            ));
        }
    };
    if is_list_format(root) {
        return parse_list_format(doc, b, root);
    }
    if root.contains_key("plugin") {
        b.warn(format!(
            "{}: skipped: inventory plugin configuration files (`plugin:`) are not supported",
            doc.location(&[PathSeg::Key("plugin".into())])
        ));
        return Ok(());
    }
    for name in ordered_keys(doc, &[], root) {
        let path = vec![PathSeg::Key(name.clone())];
        parse_group(doc, b, name, &root[name.as_str()], &path)?;
    }
    Ok(())
}

/// True for the JSON that dynamic inventory scripts and `ansible-inventory --list` print:
/// `_meta.hostvars`, and groups whose `hosts` / `children` are lists.
fn is_list_format(root: &Map<String, Value>) -> bool {
    root.contains_key("_meta")
        || root.values().any(|g| match g {
            Value::Array(_) => true,
            Value::Object(m) => {
                matches!(m.get("hosts"), Some(Value::Array(_)))
                    || matches!(m.get("children"), Some(Value::Array(_)))
            }
            _ => false,
        })
}

/// Names in a list, each a string (or a number, taken as text).
fn name_list(
    doc: &YamlDoc,
    path: &[PathSeg],
    v: &Value,
    what: &str,
) -> Result<Vec<String>, EngineError> {
    let Value::Array(items) = v else {
        return Err(EngineError::invalid(
            doc.location(path),
            format!("`{what}` must be a list of names, found {}", kind(v)),
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            other => {
                let mut p = path.to_vec();
                p.push(PathSeg::Index(i));
                return Err(EngineError::invalid(
                    doc.location(&p),
                    format!("`{what}` must be a list of names, found {}", kind(other)),
                ));
            }
        }
    }
    Ok(out)
}

/// The `--list` JSON format: `{"_meta": {"hostvars": {h: vars}}, "group": {"hosts": [..],
/// "children": [..], "vars": {..}}, "other_group": [hosts]}`.
fn parse_list_format(
    doc: &YamlDoc,
    b: &mut Builder,
    root: &Map<String, Value>,
) -> Result<(), EngineError> {
    for name in ordered_keys(doc, &[], root) {
        if name == "_meta" {
            continue;
        }
        let path = vec![PathSeg::Key(name.clone())];
        let at = doc.location(&path);
        let g = b.group(name, &at);
        let value = &root[name.as_str()];
        let (hosts, children, vars) = match value {
            Value::Null => (None, None, None),
            Value::Array(_) => (Some((value, path.clone())), None, None),
            Value::Object(m) => (
                m.get("hosts").map(|v| (v, child(&path, "hosts"))),
                m.get("children").map(|v| (v, child(&path, "children"))),
                m.get("vars").map(|v| (v, child(&path, "vars"))),
            ),
            other => {
                return Err(EngineError::invalid(
                    at,
                    format!(
                        "group `{name}` must be a list of hosts or a mapping, found {}",
                        kind(other)
                    ),
                ));
            }
        };
        if let Some((v, p)) = hosts {
            for host in name_list(doc, &p, v, "hosts")? {
                b.add_host(&host, g, &doc.location(&p));
            }
        }
        if let Some((v, p)) = children {
            for sub in name_list(doc, &p, v, "children")? {
                let c = b.group(&sub, &doc.location(&p));
                b.add_child(g, c, &doc.location(&p))?;
            }
        }
        if let Some((v, p)) = vars {
            let Some(vars) = section(doc, name, "vars", v, &p)? else {
                continue;
            };
            for var in ordered_keys(doc, &p, &vars) {
                let vat = doc.location(&child(&p, var));
                b.set_group_var(g, var.clone(), vars[var.as_str()].clone(), vat)?;
            }
        }
    }
    let meta_path = [
        PathSeg::Key("_meta".into()),
        PathSeg::Key("hostvars".into()),
    ];
    if let Some(Value::Object(hostvars)) = root.get("_meta").and_then(|m| m.get("hostvars")) {
        for host in ordered_keys(doc, &meta_path, hostvars) {
            let Some(&h) = b.host_index.get(host.as_str()) else {
                continue;
            };
            let hpath = child(&meta_path, host);
            match &hostvars[host.as_str()] {
                Value::Object(vars) => {
                    for var in ordered_keys(doc, &hpath, vars) {
                        let vat = doc.location(&child(&hpath, var));
                        b.set_host_var(h, var.clone(), vars[var.as_str()].clone(), vat);
                    }
                }
                Value::Null => {}
                other => {
                    return Err(EngineError::invalid(
                        doc.location(&hpath),
                        format!(
                            "variables of host `{host}` must be a mapping, found {}",
                            kind(other)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Keys of the mapping at `path` in the order the file lists them.
fn ordered_keys<'a>(
    doc: &YamlDoc,
    path: &[PathSeg],
    map: &'a Map<String, Value>,
) -> Vec<&'a String> {
    let mut keys: Vec<(usize, usize, &String)> = map
        .keys()
        .map(|k| {
            let mut p = path.to_vec();
            p.push(PathSeg::Key(k.clone()));
            let at = doc.location(&p);
            (at.line, at.column, k)
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, _, k)| k).collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn child(path: &[PathSeg], key: &str) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.push(PathSeg::Key(key.to_owned()));
    p
}

/// A `hosts` / `children` section: a mapping, nothing, or (as Ansible allows) one name.
fn section<'a>(
    doc: &YamlDoc,
    group: &str,
    section: &str,
    value: &'a Value,
    path: &[PathSeg],
) -> Result<Option<std::borrow::Cow<'a, Map<String, Value>>>, EngineError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(std::borrow::Cow::Borrowed(m))),
        Value::String(s) if section != "vars" => {
            let mut m = Map::new();
            m.insert(s.clone(), Value::Null);
            Ok(Some(std::borrow::Cow::Owned(m)))
        }
        other => {
            let hint = match section {
                "hosts" => {
                    " (write each host as a key: `hosts: {web1: , web2: }` or one host per line ending in `:`)"
                }
                "children" => " (write each child group as a key ending in `:`)",
                _ => " (write `name: value` pairs)",
            };
            Err(EngineError::invalid(
                doc.location(path),
                format!(
                    "`{section}` of group `{group}` must be a mapping, found {}{hint}",
                    kind(other)
                ),
            ))
        }
    }
}

/// The `hosts:` of group `g`: each pattern expanded (`web[1:3]`, `:port`), with its variables.
fn group_hosts(
    doc: &YamlDoc,
    b: &mut Builder,
    g: usize,
    hosts: &Map<String, Value>,
    kpath: &[PathSeg],
) -> Result<(), EngineError> {
    for pattern in ordered_keys(doc, kpath, hosts) {
        let hpath = child(kpath, pattern);
        let hat = doc.location(&hpath);
        let (names, port) = expand_host_pattern(pattern)
            .map_err(|message| EngineError::invalid(hat.clone(), message))?;
        let host_vars = match &hosts[pattern.as_str()] {
            Value::Null => None,
            Value::Object(m) => Some(m),
            other => {
                return Err(EngineError::invalid(
                    hat,
                    format!(
                        "variables of host `{pattern}` must be a mapping, found {} \
                         (write `{pattern}:` alone, or `{pattern}: {{key: value}}`)",
                        kind(other)
                    ),
                ));
            }
        };
        for host in names {
            let (h, _) = b.add_host(&host, g, &hat);
            if let Some(port) = port {
                b.set_host_var(h, "ansible_port".into(), Value::from(port), hat.clone());
            }
            let Some(vars) = host_vars else { continue };
            for var in ordered_keys(doc, &hpath, vars) {
                let vat = doc.location(&child(&hpath, var));
                b.set_host_var(h, var.clone(), vars[var.as_str()].clone(), vat);
            }
        }
    }
    Ok(())
}

fn parse_group(
    doc: &YamlDoc,
    b: &mut Builder,
    name: &str,
    value: &Value,
    path: &[PathSeg],
) -> Result<usize, EngineError> {
    let at = doc.location(path);
    if name.trim().is_empty() {
        return Err(EngineError::invalid(at, "empty group name"));
    }
    let map = match value {
        Value::Null => return Ok(b.group(name, &at)),
        Value::Object(m) => m,
        other => {
            return Err(EngineError::invalid(
                at,
                format!(
                    "group `{name}` must be a mapping with `hosts`, `children` and/or `vars`, found {}",
                    kind(other)
                ),
            ));
        }
    };
    let g = b.group(name, &at);
    for key in ordered_keys(doc, path, map) {
        let kpath = child(path, key);
        let kvalue = &map[key.as_str()];
        match key.as_str() {
            "vars" => {
                let Some(vars) = section(doc, name, "vars", kvalue, &kpath)? else {
                    continue;
                };
                for var in ordered_keys(doc, &kpath, &vars) {
                    let vat = doc.location(&child(&kpath, var));
                    b.set_group_var(g, var.clone(), vars[var.as_str()].clone(), vat)?;
                }
            }
            "hosts" => {
                let Some(hosts) = section(doc, name, "hosts", kvalue, &kpath)? else {
                    continue;
                };
                group_hosts(doc, b, g, &hosts, &kpath)?;
            }
            "children" => {
                let Some(children) = section(doc, name, "children", kvalue, &kpath)? else {
                    continue;
                };
                for sub in ordered_keys(doc, &kpath, &children) {
                    let cpath = child(&kpath, sub);
                    let c = parse_group(doc, b, sub, &children[sub.as_str()], &cpath)?;
                    let edge_at: Location = doc.location(&cpath);
                    b.add_child(g, c, &edge_at)?;
                }
            }
            other => {
                b.warn(format!(
                    "{}: skipping unexpected key `{other}` in group `{name}` (only `hosts`, \
                     `children` and `vars` are valid; child groups go under `children:`)",
                    doc.location(&kpath)
                ));
            }
        }
    }
    Ok(g)
}
