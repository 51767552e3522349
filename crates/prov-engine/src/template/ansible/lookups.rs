//! Ansible's lookups: `lookup(NAME, terms..., key=value)` and `query`/`q` (always a list).
//!
//! Those that read the controller: `env`, `file`, `fileglob`, `first_found`, `vars`,
//! `varnames`; those that
//! shape lists, shared with the `with_*` loops ([`crate::loops::LoopKind`]): `items`, `list`,
//! `flattened`, `dict`, `indexed_items`, `together`, `nested`/`cartesian`, `subelements`,
//! `sequence`. Relative file names are looked for as Ansible looks for a task's files: in the
//! role's `files/` and folder, then the playbook's `files/` and folder. Any other lookup is an
//! error naming it, never an empty value.

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Rest, Serde};
use minijinja::{Environment, Error, ErrorKind, State, Value as MjValue};
use serde_json::Value;

use crate::loops::LoopKind;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

use super::invalid;

/// `lookup(...)`: a list of strings joined with `,`, one value as itself (`wantlist=True`
/// gives the list, as `query` does).
fn lookup(
    state: &State,
    name: String,
    terms: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    let values = run_in(state, &name, terms.0, &kwargs)?;
    kwargs.assert_all_used()?;
    if wantlist {
        return Ok(MjValue::from(Serde(&values)));
    }
    if values.iter().all(Value::is_string) {
        let joined: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        return Ok(MjValue::from(joined.join(",")));
    }
    Ok(match values.as_slice() {
        [one] => MjValue::from(Serde(one)),
        _ => MjValue::from(Serde(&values)),
    })
}

/// `query(...)` / `q(...)`: the lookup's values as a list.
fn query(
    state: &State,
    name: String,
    terms: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let values = run_in(state, &name, terms.0, &kwargs)?;
    kwargs.assert_all_used()?;
    Ok(MjValue::from(Serde(&values)))
}

/// A lookup called from a template, where the render's state gives the variables.
fn run_in(
    state: &State,
    name: &str,
    terms: Vec<MjValue>,
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    match name.strip_prefix("ansible.builtin.").unwrap_or(name) {
        "varnames" => varnames(state, &terms),
        _ => run(&|n| state.lookup(n), name, terms, kwargs),
    }
}

/// `varnames`: the names of the variables that each regular expression matches (searched
/// anywhere in the name, as Python's `re.search`), term after term.
fn varnames(state: &State, terms: &[MjValue]) -> Result<Vec<Value>, Error> {
    let globals: Vec<&str> = state.env().globals().map(|(k, _)| k).collect();
    let known = state.known_variables();
    let names: Vec<&str> = known
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| !globals.contains(n) && *n != "loop")
        .collect();
    let mut out = Vec::new();
    for term in terms {
        let pattern = term
            .as_str()
            .ok_or_else(|| invalid(format!("lookup('varnames'): `{term}` is not a string")))?;
        let re = regex::Regex::new(pattern)
            .map_err(|e| invalid(format!("lookup('varnames'): `{pattern}`: {e}")))?;
        out.extend(
            names
                .iter()
                .filter(|n| re.is_match(n))
                .map(|n| Value::from(*n)),
        );
    }
    Ok(out)
}

/// The values of lookup `name` over `terms` (a `with_NAME` loop's items), where `vars`
/// gives the task's variables (`role_path` and `playbook_dir` say where files are).
pub(crate) fn lookup_items(
    vars: &dyn Fn(&str) -> Option<MjValue>,
    name: &str,
    terms: Value,
) -> Result<Vec<Value>, String> {
    let terms = match terms {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    let terms = terms.iter().map(|t| MjValue::from(Serde(t))).collect();
    let none: Kwargs = std::iter::empty::<(&str, MjValue)>().collect();
    run(vars, name, terms, &none).map_err(|e| e.to_string())
}

/// What a lookup reads of the task's variables.
type Vars<'a> = &'a dyn Fn(&str) -> Option<MjValue>;

fn run(
    state: Vars<'_>,
    name: &str,
    terms: Vec<MjValue>,
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let terms: Vec<Value> = terms
        .iter()
        .map(|t| serde_json::to_value(t).map_err(|e| invalid(e.to_string())))
        .collect::<Result<_, _>>()?;
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    let listed = |kind: LoopKind, v: Value| {
        kind.items(v, &|f| find(state, "files", f))
            .map_err(|e| invalid(format!("lookup('{name}') {e}")))
    };
    match name {
        "env" => {
            let default = kwargs.get::<Option<String>>("default")?.unwrap_or_default();
            Ok(strings(&terms)?
                .into_iter()
                .map(|t| Value::String(std::env::var(t).unwrap_or_else(|_| default.clone())))
                .collect())
        }
        "file" => file_contents(state, &terms, kwargs),
        "template" => template_contents(state, &terms, kwargs),
        "fileglob" => Ok(strings(&terms)?
            .into_iter()
            .flat_map(|t| fileglob(state, t))
            .map(Value::String)
            .collect()),
        "first_found" => {
            let skip = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
            let mut terms = terms;
            if skip {
                terms.push(serde_json::json!({"files": [], "skip": true}));
            }
            listed(LoopKind::FirstFound, Value::Array(terms))
        }
        "vars" => {
            let default = kwargs.get::<Option<MjValue>>("default")?;
            strings(&terms)?
                .into_iter()
                .map(|t| match (state(t), &default) {
                    (Some(v), _) if !v.is_undefined() => {
                        serde_json::to_value(&v).map_err(|e| invalid(e.to_string()))
                    }
                    (_, Some(d)) => serde_json::to_value(d).map_err(|e| invalid(e.to_string())),
                    _ => Err(Error::new(
                        ErrorKind::UndefinedError,
                        format!("lookup('vars'): `{t}` is undefined"),
                    )),
                })
                .collect()
        }
        "items" => listed(LoopKind::Items, Value::Array(terms)),
        "list" => listed(LoopKind::List, Value::Array(terms)),
        "flattened" => listed(LoopKind::Flattened, Value::Array(terms)),
        "indexed_items" => listed(LoopKind::IndexedItems, Value::Array(terms)),
        "together" => listed(LoopKind::Together, Value::Array(terms)),
        "nested" | "cartesian" => listed(LoopKind::Nested, Value::Array(terms)),
        "subelements" => listed(LoopKind::Subelements, Value::Array(terms)),
        "dict" => listed(
            LoopKind::Dict,
            terms.into_iter().next().unwrap_or(Value::Null),
        ),
        "sequence" => listed(
            LoopKind::Sequence,
            terms.into_iter().next().unwrap_or(Value::Null),
        ),
        other => Err(invalid(format!(
            "lookup plugin `{other}` is not supported by prov (supported: env, file, template, varnames, fileglob, first_found, vars, items, list, flattened, dict, indexed_items, together, nested, subelements, sequence)"
        ))),
    }
}

fn strings(terms: &[Value]) -> Result<Vec<&str>, Error> {
    terms
        .iter()
        .map(|t| {
            t.as_str()
                .ok_or_else(|| invalid(format!("lookup term must be a string, found {t}")))
        })
        .collect()
}

/// `lookup('file', ...)`: each file's text, trailing whitespace stripped (`rstrip`), leading
/// kept (`lstrip`), as Ansible's defaults.
fn file_contents(state: Vars<'_>, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
    let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
    strings(terms)?
        .into_iter()
        .map(|t| {
            let path = find(state, "files", t)
                .ok_or_else(|| invalid(format!("could not locate file in lookup: {t}")))?;
            let text = crate::template::read_source(Path::new(&path))
                .map_err(|e| invalid(format!("lookup('file'): {path}: {e}")))?;
            let text = if rstrip { text.trim_end() } else { &text };
            let text = if lstrip { text.trim_start() } else { text };
            Ok(Value::String(text.to_owned()))
        })
        .collect()
}

/// `lookup('template', 'x.j2', template_vars={...})`: each template file (found in `templates/`
/// as the template module finds it) rendered as the template module renders it, with the
/// variables it uses taken from the task's and `template_vars` on top; the trailing newline
/// is kept.
fn template_contents(
    state: Vars<'_>,
    terms: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let extra = kwargs
        .get::<Option<MjValue>>("template_vars")?
        .unwrap_or_default();
    strings(terms)?
        .into_iter()
        .map(|t| {
            let path = find(state, "templates", t).ok_or_else(|| {
                invalid(format!(
                    "the template file {t} could not be found for the lookup"
                ))
            })?;
            let text = crate::template::read_source(Path::new(&path))
                .map_err(|e| invalid(format!("lookup('template'): {path}: {e}")))?;
            render_file(state, &text, Path::new(&path), &extra).map(Value::String)
        })
        .collect()
}

/// Renders template file `text` with the variables it names, looked up in `state`
/// (`extra` first, then the template module's own variables, then the task's).
fn render_file(state: Vars<'_>, text: &str, path: &Path, extra: &MjValue) -> Result<String, Error> {
    let (overrides, body) = super::split_overrides(text).map_err(invalid)?;
    let mut env = super::environment();
    env.set_syntax(super::file_syntax(&overrides).build()?);
    let template = env.template_from_str(body)?;
    let own = super::template_file_vars(path);
    let mut ctx = std::collections::BTreeMap::new();
    for name in template.undeclared_variables(false) {
        let value = extra
            .get_attr(&name)
            .ok()
            .filter(|v| !v.is_undefined())
            .or_else(|| own.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
            .or_else(|| state(&name));
        if let Some(v) = value {
            ctx.insert(name, v);
        }
    }
    let out = template.render(MjValue::from(ctx))?;
    Ok(super::keep_trailing_newlines(body, out))
}

/// `lookup('fileglob', 'dir/*.conf')`: the files matching the pattern's last part in the
/// first folder found for its directory part, sorted.
fn fileglob(state: Vars<'_>, term: &str) -> Vec<String> {
    let path = Path::new(term);
    let (dir, pattern) = match (path.parent(), path.file_name()) {
        (Some(d), Some(p)) => (
            d.to_string_lossy().into_owned(),
            p.to_string_lossy().into_owned(),
        ),
        _ => return Vec::new(),
    };
    let Ok(glob) = globset::Glob::new(&pattern).map(|g| g.compile_matcher()) else {
        return Vec::new();
    };
    let Some(found) = candidates(state, "files", &dir)
        .into_iter()
        .find(|c| c.is_dir())
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = std::fs::read_dir(&found)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.file_name().is_some_and(|n| glob.is_match(n)))
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Where a relative file name is looked for: the role's `subdir/` and folder, then the
/// playbook's (from the `role_path` and `playbook_dir` variables).
fn candidates(state: Vars<'_>, subdir: &str, name: &str) -> Vec<PathBuf> {
    if Path::new(name).is_absolute() {
        return vec![PathBuf::from(name)];
    }
    ["role_path", "playbook_dir"]
        .iter()
        .filter_map(|v| state(v))
        .filter_map(|v| v.as_str().map(PathBuf::from))
        .flat_map(|base| [base.join(subdir).join(name), base.join(name)])
        .collect()
}

fn find(state: Vars<'_>, subdir: &str, name: &str) -> Option<String> {
    candidates(state, subdir, name)
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn eval(expr: &str, vars: serde_json::Value) -> Result<serde_json::Value, String> {
        let env = super::super::environment();
        let e = env.compile_expression(expr).map_err(|e| e.to_string())?;
        let v = e
            .eval(minijinja::Value::from(minijinja::value::Serde(&vars)))
            .map_err(|e| e.to_string())?;
        serde_json::to_value(&v).map_err(|e| e.to_string())
    }

    #[test]
    fn lookups_read_the_controller_and_shape_lists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        std::fs::write(dir.path().join("files/key.pub"), "ssh-ed25519 AAAA x\n\n").unwrap();
        std::fs::write(dir.path().join("files/a.conf"), "").unwrap();
        std::fs::write(dir.path().join("files/b.conf"), "").unwrap();
        let vars = json!({"playbook_dir": dir.path().display().to_string(), "x": 5});
        assert_eq!(
            eval("lookup('file', 'key.pub')", vars.clone()),
            Ok(json!("ssh-ed25519 AAAA x"))
        );
        let globbed = eval("query('fileglob', '*.conf')", vars.clone()).unwrap();
        assert_eq!(globbed.as_array().map(Vec::len), Some(2));
        assert!(globbed[0].as_str().unwrap().ends_with("files/a.conf"));
        assert_eq!(eval("lookup('vars', 'x')", vars.clone()), Ok(json!(5)));
        assert_eq!(
            eval(
                "lookup('env', 'PROV_SURELY_UNSET', default='d')",
                vars.clone()
            ),
            Ok(json!("d"))
        );
        assert_eq!(
            eval("lookup('items', ['a', 'b'])", vars.clone()),
            Ok(json!("a,b"))
        );
        assert_eq!(
            eval("query('dict', {'k': 1})", vars.clone()),
            Ok(json!([{"key": "k", "value": 1}]))
        );
        assert_eq!(
            eval(
                "lookup('first_found', ['nope.txt', 'key.pub'])",
                vars.clone()
            )
            .map(|v| v.as_str().unwrap_or("").ends_with("files/key.pub")),
            Ok(true)
        );
        assert!(
            eval("lookup('file', 'missing')", vars.clone())
                .unwrap_err()
                .contains("could not locate")
        );
        assert!(
            eval("lookup('pipe', 'id')", vars)
                .unwrap_err()
                .contains("`pipe` is not supported")
        );
    }
}
