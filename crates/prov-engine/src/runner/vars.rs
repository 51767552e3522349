//! The variables of one scope (a host's connection, a task on a host, one loop item), with the
//! values that refer to other variables rendered.
//!
//! Variables are lazy, as in Ansible: a value that cannot be rendered (it names an undefined
//! variable, or refers to itself through others) is left out of the scope and remembered with
//! its cause. Using it fails with that cause; a variable that is never used never fails. Data
//! that came from hosts (facts, registered results) is never rendered: a command's output that
//! happens to contain `{{ }}` stays text.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};
use tera::Context;

use crate::error::{EngineError, Location};
use crate::playbook::VarLocations;
use crate::template::{Templar, find_word, is_templated};

/// A variable that could not be rendered: what it says, where, and why it failed.
#[derive(Debug, Clone)]
struct Unresolved {
    source: Value,
    defined_at: Option<Location>,
    cause: String,
}

/// A scope's variables, rendered, and as a template context.
#[derive(Clone)]
pub(crate) struct ScopeVars {
    /// The scope's own variables (what [`ScopeVars::with`] and [`ScopeVars::insert`] add is in
    /// the context only: a loop item does not copy the scope).
    values: Arc<Map<String, Value>>,
    context: Context,
    unresolved: BTreeMap<String, Unresolved>,
    /// Where the variables written in playbooks and roles are.
    defined_at: Arc<HashMap<String, Location>>,
}

/// Variables in precedence order, lowest first, each layer either written by people (rendered
/// when it holds templates) or data from hosts (never rendered).
#[derive(Default)]
pub(crate) struct Layers {
    values: Map<String, Value>,
    raw: HashSet<String>,
    defined_at: HashMap<String, Location>,
}

impl Layers {
    /// Adds variables written in inventories or on the command line.
    pub(crate) fn templated(&mut self, vars: &Map<String, Value>) {
        for (k, v) in vars {
            self.raw.remove(k);
            self.defined_at.remove(k);
            self.values.insert(k.clone(), v.clone());
        }
    }

    /// Adds variables written in a playbook or role file, with where each is written.
    pub(crate) fn templated_at(&mut self, vars: &Map<String, Value>, at: &VarLocations) {
        self.templated(vars);
        for k in vars.keys() {
            if let Some(l) = at.get(k) {
                self.defined_at.insert(k.clone(), l.clone());
            }
        }
    }

    /// Adds data from hosts (facts, registered results, magic variables): never rendered.
    pub(crate) fn raw(&mut self, vars: &Map<String, Value>) {
        for (k, v) in vars {
            self.raw.insert(k.clone());
            self.defined_at.remove(k);
            self.values.insert(k.clone(), v.clone());
        }
    }

    /// Adds one value of host data.
    pub(crate) fn raw_one(&mut self, k: &str, v: Value) {
        self.raw.insert(k.to_owned());
        self.defined_at.remove(k);
        self.values.insert(k.to_owned(), v);
    }
}

impl ScopeVars {
    /// Renders the templated values of `layers`; `shared` holds variables the same for every
    /// host of a task (already converted), which values may refer to.
    pub(crate) fn resolve(templar: &Templar, layers: Layers, shared: &Context) -> Self {
        let Layers {
            mut values,
            raw,
            defined_at,
        } = layers;
        let pending: Vec<(String, Value)> = values
            .iter()
            .filter(|(k, v)| !raw.contains(*k) && is_templated(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, _) in &pending {
            values.remove(k);
        }
        let mut context = Templar::context(&values);
        context.extend(shared.clone());
        let mut scope = ScopeVars {
            values: Arc::new(Map::new()),
            context,
            unresolved: BTreeMap::new(),
            defined_at: Arc::new(defined_at),
        };
        values.extend(scope.render_pending(templar, pending));
        scope.values = Arc::new(values);
        scope
    }

    /// This scope with `extra` variables added (a loop item and its companions): only the
    /// values that could not be rendered before are tried again, the rest is shared.
    pub(crate) fn with(&self, templar: &Templar, extra: &[(&str, Value)]) -> Self {
        let mut scope = self.clone();
        for (k, v) in extra {
            scope.insert(k, v.clone());
        }
        let pending: Vec<(String, Value)> = std::mem::take(&mut scope.unresolved)
            .into_iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .map(|(k, u)| (k, u.source))
            .collect();
        scope.render_pending(templar, pending);
        scope
    }

    /// Sets one variable (a registered result for `changed_when`, a loop item).
    pub(crate) fn insert(&mut self, k: &str, v: Value) {
        self.context
            .insert_value(k.to_owned(), tera::Value::from_serializable(&v));
        self.unresolved.remove(k);
    }

    /// The rendered values.
    pub(crate) fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// The values as a template context.
    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    /// The variables that could not be rendered, with what they say.
    pub(crate) fn unresolved(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.unresolved.iter().map(|(k, u)| (k.as_str(), &u.source))
    }

    /// `e` as text, with the causes [`ScopeVars::explain_error`] adds.
    pub(crate) fn explain(&self, e: EngineError) -> String {
        self.explain_error(e).to_string()
    }

    /// `e` with, for each variable it names that could not be rendered, why.
    pub(crate) fn explain_error(&self, mut e: EngineError) -> EngineError {
        if let EngineError::Template { message, .. } = &mut e {
            for (name, u) in &self.unresolved {
                if message.contains(&format!("`{name}`")) {
                    let at = u
                        .defined_at
                        .as_ref()
                        .map(|l| format!(" at {l}"))
                        .unwrap_or_default();
                    message.push_str(&format!(
                        " (`{name}` is set{at}, but its value could not be rendered: {})",
                        u.cause
                    ));
                }
            }
        }
        e
    }

    /// Renders `pending` values in passes until no more can be: each pass renders what the
    /// values rendered so far allow. Returns the rendered values (also in the context); the
    /// rest is unresolved, with its cause.
    fn render_pending(
        &mut self,
        templar: &Templar,
        mut pending: Vec<(String, Value)>,
    ) -> Vec<(String, Value)> {
        let at = Location::new(std::path::Path::new("<variables>"), 1, 1);
        let mut last_error: BTreeMap<String, String> = BTreeMap::new();
        let mut rendered = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(
                |(k, source)| match templar.render_value(source, &self.context, &at) {
                    Ok(v) => {
                        self.insert(k, v.clone());
                        rendered.push((k.clone(), v));
                        false
                    }
                    Err(e) => {
                        last_error.insert(k.clone(), template_message(e));
                        true
                    }
                },
            );
            if pending.len() == before {
                break;
            }
        }
        let names: Vec<&str> = pending.iter().map(|(k, _)| k.as_str()).collect();
        let cycles = cycles(&pending, &names);
        for (k, source) in &pending {
            let cause = match cycles.get(k) {
                Some(path) => format!("it refers to itself ({path})"),
                None => last_error.remove(k).unwrap_or_default(),
            };
            self.unresolved.insert(
                k.clone(),
                Unresolved {
                    source: source.clone(),
                    defined_at: self.defined_at.get(k).cloned(),
                    cause,
                },
            );
        }
        rendered
    }
}

/// The message of a template error without its `<variables>:1:1` location.
fn template_message(e: EngineError) -> String {
    match e {
        EngineError::Template { message, .. } => message,
        other => other.to_string(),
    }
}

/// For each unresolved value that refers back to itself through other unresolved values, the
/// path of names (`a -> b -> a`).
fn cycles(pending: &[(String, Value)], names: &[&str]) -> BTreeMap<String, String> {
    let refers = |source: &Value| -> Vec<&str> {
        let text = source.to_string();
        names
            .iter()
            .copied()
            .filter(|n| find_word(&text, n).is_some())
            .collect()
    };
    let edges: BTreeMap<&str, Vec<&str>> = pending
        .iter()
        .map(|(k, source)| (k.as_str(), refers(source)))
        .collect();
    names
        .iter()
        .filter_map(|start| Some(((*start).to_owned(), cycle_from(start, &edges)?.join(" -> "))))
        .collect()
}

/// The names on a way from `start` back to itself, if there is one.
fn cycle_from<'a>(start: &'a str, edges: &BTreeMap<&'a str, Vec<&'a str>>) -> Option<Vec<&'a str>> {
    let mut seen = HashSet::new();
    let mut stack = vec![vec![start]];
    while let Some(path) = stack.pop() {
        let last = path.last().copied().unwrap_or(start);
        for next in edges.get(last).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next);
            if *next == start {
                return Some(longer);
            }
            if seen.insert(*next) {
                stack.push(longer);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(vars: Value) -> ScopeVars {
        let mut layers = Layers::default();
        layers.templated(vars.as_object().unwrap());
        ScopeVars::resolve(&Templar::new(), layers, &Context::new())
    }

    #[test]
    fn values_refer_to_each_other_in_any_order() {
        let s = scope(json!({"a": "{{ b }}-x", "b": "{{ c }}", "c": 7, "n": "{{ c + 1 }}"}));
        assert_eq!(s.values()["a"], json!("7-x"));
        assert_eq!(s.values()["n"], json!(8));
    }

    #[test]
    fn an_undefined_name_leaves_the_value_out_with_its_cause() {
        let s = scope(json!({"broken": "{{ nobody_defined_this }}-x", "fine": 1}));
        assert!(!s.values().contains_key("broken"));
        let t = Templar::new();
        let at = Location::new(std::path::Path::new("p.yml"), 4, 5);
        let e = t
            .render_value(&json!("value={{ broken }}"), s.context(), &at)
            .unwrap_err();
        let msg = s.explain(e);
        assert!(
            msg.contains("p.yml:4:")
                && msg.contains("`broken`")
                && msg.contains("nobody_defined_this"),
            "{msg}"
        );
    }

    #[test]
    fn cycles_are_named() {
        let s = scope(json!({"myport": "{{ myport }}", "a": "{{ b }}", "b": "{{ a }}"}));
        assert_eq!(
            s.unresolved["myport"].cause,
            "it refers to itself (myport -> myport)"
        );
        assert_eq!(s.unresolved["a"].cause, "it refers to itself (a -> b -> a)");
    }

    #[test]
    fn host_data_is_never_rendered() {
        let mut layers = Layers::default();
        layers.templated(json!({"x": 1}).as_object().unwrap());
        layers.raw_one("out", json!({"stdout": "{{ x }}"}));
        let s = ScopeVars::resolve(&Templar::new(), layers, &Context::new());
        assert_eq!(s.values()["out"], json!({"stdout": "{{ x }}"}));
    }

    #[test]
    fn loop_items_render_only_what_needs_them() {
        let s = scope(json!({"port": "{{ item + 1 }}", "base": 5}));
        assert!(!s.values().contains_key("port"));
        let i = s.with(&Templar::new(), &[("item", json!(6379))]);
        let port = i.context().get("port").map(|v| v.to_string());
        assert_eq!(port.as_deref(), Some("6380"));
        assert!(
            Arc::ptr_eq(&s.values, &i.values),
            "an item shares the scope's values"
        );
    }
}
