//! Templating: strings in playbooks and `*.tera` files with tera 2 (prov's own dialect);
//! conditions and every other template file with minijinja configured as Ansible's templar
//! ([`ansible`]).
//!
//! * A value that is exactly one expression (`"{{ base_port + 1 }}"`) keeps its native type;
//!   mixed text (`"node-{{ port }}.conf"`) becomes a string.
//! * `when`, `changed_when`, `failed_when` and `assert: that:` are bare expressions (wrapping
//!   them in `{{ }}` works too), evaluated with Ansible's strict undefined semantics
//!   ([`jinja`]).
//! * The filters Ansible users reach for that tera lacks are registered here, in one place.
//! * Errors name the file, line and column, and say what the tera form is for Jinja2-only syntax.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use tera::{Context, Kwargs, State, Tera, TeraResult};

use crate::error::{EngineError, Location};
use crate::yaml::PathSeg;

mod ansible;
pub(crate) mod budget;
mod jinja;

/// A template language: prov's own (tera) or Ansible's Jinja2.
///
/// Template files: `*.tera` are tera, every other template (`*.j2` and the rest: what roles
/// written for Ansible bring) is Jinja2. YAML (playbooks, roles, variables): Jinja2, unless the
/// project says otherwise (see [`crate::project`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// tera, prov's own dialect.
    Tera,
    /// Jinja2 as Ansible renders it.
    Jinja2,
}

impl Dialect {
    /// The dialect of the template file at `path`.
    pub fn of_file(path: &Path) -> Self {
        if path.extension().is_some_and(|e| e == "tera") {
            Dialect::Tera
        } else {
            Dialect::Jinja2
        }
    }

    /// The dialect's name as written in `prov.toml` and `--dialect`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Tera => "tera",
            Dialect::Jinja2 => "jinja2",
        }
    }
}

/// Renders strings, values, conditions and files.
pub struct Templar {
    tera: Tera,
    jinja: jinja::Jinja,
    /// The dialect of expressions and text in YAML values.
    yaml: Dialect,
}

impl Default for Templar {
    fn default() -> Self {
        Self::new()
    }
}

fn terr(msg: impl ToString) -> tera::Error {
    tera::Error::message(msg)
}

fn to_json_filter(v: tera::Value, _: Kwargs, _: &State) -> TeraResult<String> {
    if v.is_undefined() {
        return Err(terr("the value is undefined"));
    }
    serde_json::to_string(&v).map_err(terr)
}

fn to_nice_json_filter(v: tera::Value, _: Kwargs, _: &State) -> TeraResult<String> {
    serde_json::to_string_pretty(&v).map_err(terr)
}

fn from_json_filter(v: &str, _: Kwargs, _: &State) -> TeraResult<tera::Value> {
    let j: Value = serde_json::from_str(v).map_err(terr)?;
    Ok(tera::Value::from_serializable(&j))
}

fn to_yaml_filter(v: tera::Value, _: Kwargs, _: &State) -> TeraResult<String> {
    serde_yaml_ng::to_string(&v).map_err(terr)
}

fn b64encode_filter(v: &str, _: Kwargs, _: &State) -> String {
    base64::engine::general_purpose::STANDARD.encode(v)
}

fn b64decode_filter(v: &str, _: Kwargs, _: &State) -> TeraResult<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(terr)?;
    String::from_utf8(bytes).map_err(terr)
}

fn regex_replace_filter(v: &str, kw: Kwargs, state: &State) -> TeraResult<String> {
    let pattern = kw.must_get::<&str>("pattern")?;
    let replacement = kw.get::<&str>("replacement")?.unwrap_or("");
    let re = regex::Regex::new(pattern).map_err(terr)?;
    // Python's \1 back-references become $1 in Rust's regex replacement syntax.
    let rep = regex::Regex::new(r"\\(\d+)")
        .map_err(terr)?
        .replace_all(replacement, "$${$1}");
    budget::replace_charged(&re, v, 0, &rep, |bytes| state.consume_fuel(bytes / 64 + 1))
}

fn regex_search_filter(v: &str, kw: Kwargs, _: &State) -> TeraResult<tera::Value> {
    let pattern = kw.must_get::<&str>("pattern")?;
    let re = regex::Regex::new(pattern).map_err(terr)?;
    Ok(match re.find(v) {
        Some(m) => tera::Value::from(m.as_str()),
        None => tera::Value::none(),
    })
}

fn bool_filter(v: tera::Value, _: Kwargs, _: &State) -> bool {
    if let Some(s) = v.as_str() {
        matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "yes" | "true" | "on" | "1" | "y"
        )
    } else {
        v.is_truthy()
    }
}

fn sha256_filter(v: &str, _: Kwargs, _: &State) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(v.as_bytes()))
}

fn basename_filter(v: &str, _: Kwargs, _: &State) -> String {
    Path::new(v)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn dirname_filter(v: &str, _: Kwargs, _: &State) -> String {
    Path::new(v)
        .parent()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn quote_filter(v: &str, _: Kwargs, _: &State) -> String {
    prov_core::quote(v).into_owned()
}

fn mandatory_filter(v: tera::Value, kw: Kwargs, _: &State) -> TeraResult<tera::Value> {
    if v.is_undefined() {
        let msg = kw
            .get::<&str>("msg")?
            .unwrap_or("mandatory variable is not defined");
        return Err(terr(msg));
    }
    Ok(v)
}

fn ternary_filter(v: tera::Value, kw: Kwargs, _: &State) -> TeraResult<tera::Value> {
    let yes = kw.must_get::<tera::Value>("true_value")?;
    let no = kw.must_get::<tera::Value>("false_value")?;
    Ok(if v.is_truthy() { yes } else { no })
}

fn ipaddr_filter(v: &str, kw: Kwargs, _: &State) -> TeraResult<tera::Value> {
    // ipaddr(query="address"|"network"|"prefix"), a subset of Ansible's ipaddr helpers.
    let query = kw.get::<&str>("query")?.unwrap_or("address");
    if let Ok(net) = v.parse::<ipnet::IpNet>() {
        return Ok(match query {
            "address" => tera::Value::from(net.addr().to_string()),
            "network" => tera::Value::from(net.network().to_string()),
            "prefix" => tera::Value::from(net.prefix_len() as u64),
            "netmask" => tera::Value::from(net.netmask().to_string()),
            _ => return Err(terr(format!("ipaddr: unknown query `{query}`"))),
        });
    }
    match v.parse::<std::net::IpAddr>() {
        Ok(a) => Ok(tera::Value::from(a.to_string())),
        Err(_) => Ok(tera::Value::none()),
    }
}

fn extract_filter(v: tera::Value, kw: Kwargs, _: &State) -> TeraResult<tera::Value> {
    // Ansible's `map('extract', container, key)`: names -> container[name][key].
    let container = kw.must_get::<tera::Value>("container")?;
    let key = kw.get::<&str>("key")?;
    let names = v
        .as_array()
        .ok_or_else(|| terr("extract: expected a list of names"))?;
    let map = container
        .as_map()
        .ok_or_else(|| terr("extract: `container` must be a mapping"))?;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let name = n
            .as_str()
            .ok_or_else(|| terr("extract: names must be strings"))?;
        let entry = map
            .get(&tera::value::Key::Str(name))
            .ok_or_else(|| terr(format!("extract: `{name}` is not in the container")))?;
        let value = match key {
            Some(k) => entry
                .as_map()
                .and_then(|m| m.get(&tera::value::Key::Str(k)))
                .cloned()
                .ok_or_else(|| terr(format!("extract: `{name}` has no `{k}`")))?,
            None => entry.clone(),
        };
        out.push(value);
    }
    Ok(tera::Value::from(out))
}

/// A registered result's boolean field (`failed`, `changed`, `skipped`), false when missing.
fn result_flag(v: &tera::Value, field: &str) -> bool {
    v.as_map()
        .and_then(|m| m.get(&tera::value::Key::Str(field)))
        .is_some_and(|f| f.is_truthy())
}

fn failed_test(v: tera::Value, _: Kwargs, _: &State) -> bool {
    result_flag(&v, "failed")
}

fn succeeded_test(v: tera::Value, _: Kwargs, _: &State) -> bool {
    !result_flag(&v, "failed")
}

fn changed_test(v: tera::Value, _: Kwargs, _: &State) -> bool {
    result_flag(&v, "changed")
}

fn skipped_test(v: tera::Value, _: Kwargs, _: &State) -> bool {
    result_flag(&v, "skipped")
}

fn in_network_test(v: &str, kw: Kwargs, _: &State) -> TeraResult<bool> {
    let net = kw.must_get::<&str>("network")?;
    let net: ipnet::IpNet = net.parse().map_err(terr)?;
    let addr: std::net::IpAddr = v.parse().map_err(terr)?;
    Ok(net.contains(&addr))
}

impl Templar {
    /// A templar whose YAML values are Jinja2, as Ansible's.
    pub fn new() -> Self {
        Self::with_yaml_dialect(Dialect::Jinja2)
    }

    /// A templar whose YAML values are in `yaml`.
    pub fn with_yaml_dialect(yaml: Dialect) -> Self {
        let mut tera = Tera::default();
        tera.set_fuel(Some(budget::RENDER_FUEL));
        tera.register_filter("to_json", to_json_filter);
        tera.register_filter("to_nice_json", to_nice_json_filter);
        tera.register_filter("from_json", from_json_filter);
        tera.register_filter("to_yaml", to_yaml_filter);
        tera.register_filter("to_nice_yaml", to_yaml_filter);
        tera.register_filter("b64encode", b64encode_filter);
        tera.register_filter("b64decode", b64decode_filter);
        tera.register_filter("regex_replace", regex_replace_filter);
        tera.register_filter("regex_search", regex_search_filter);
        tera.register_filter("bool", bool_filter);
        tera.register_filter("sha256", sha256_filter);
        tera.register_filter("basename", basename_filter);
        tera.register_filter("dirname", dirname_filter);
        tera.register_filter("quote", quote_filter);
        tera.register_filter("mandatory", mandatory_filter);
        tera.register_filter("ternary", ternary_filter);
        tera.register_filter("ipaddr", ipaddr_filter);
        tera.register_filter("extract", extract_filter);
        tera.register_test("in_network", in_network_test);
        // Ansible's tests on registered results.
        tera.register_test("failed", failed_test);
        tera.register_test("failure", failed_test);
        tera.register_test("succeeded", succeeded_test);
        tera.register_test("success", succeeded_test);
        tera.register_test("changed", changed_test);
        tera.register_test("change", changed_test);
        tera.register_test("skipped", skipped_test);
        tera.register_test("skip", skipped_test);
        Self {
            tera,
            jinja: jinja::Jinja::new(),
            yaml,
        }
    }

    /// The dialect of YAML values.
    pub fn yaml_dialect(&self) -> Dialect {
        self.yaml
    }

    /// The items of a `with_NAME` loop over the lookup `name` (`fileglob`, `file`, `env`),
    /// with the task's variables `ctx` (where its role and playbook are).
    pub fn lookup_items(
        &self,
        name: &str,
        terms: Value,
        ctx: &Context,
    ) -> Result<Vec<Value>, String> {
        let vars = |n: &str| {
            ctx.get(n)
                .map(|v| minijinja::Value::from(minijinja::value::Serde(v)))
        };
        ansible::lookup_items(&vars, name, terms)
    }

    /// Parses a template file without rendering it (for `prov lint`).
    pub fn check_file_syntax(&self, path: &Path) -> Result<(), EngineError> {
        let text = read_source(path).map_err(|e| EngineError::Io {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if Dialect::of_file(path) == Dialect::Jinja2 {
            return self.jinja.check_template(&text, path);
        }
        let mut t = self.tera.clone();
        t.add_raw_template("lint", &text)
            .map_err(|e| template_error(&e, &text, &Location::new(path, 1, 1), None))
    }

    /// Builds a tera context from a variables map.
    pub fn context(vars: &serde_json::Map<String, Value>) -> Context {
        let mut ctx = Context::new();
        for (k, v) in vars {
            ctx.insert_value(k.clone(), tera::Value::from_serializable(v));
        }
        ctx
    }

    /// [`Templar::context`] of `vars`, then the already converted `shared` values on top: for
    /// variables that are the same for every host of a task (`groups`, `play_hosts`,
    /// `hostvars`), converted once instead of once per host and context (tera values share
    /// their lists and maps, so adding them is cheap).
    pub fn context_with(vars: &serde_json::Map<String, Value>, shared: &Context) -> Context {
        let mut ctx = Self::context(vars);
        ctx.extend(shared.clone());
        ctx
    }

    /// Renders text; `at` is where the text is (for error messages).
    pub fn render_str(
        &self,
        text: &str,
        ctx: &Context,
        at: &Location,
    ) -> Result<String, EngineError> {
        if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
            return Ok(text.to_owned());
        }
        self.tera
            .render_str(text, ctx, false)
            .map_err(|e| template_error(&e, text, at, Some(0)))
    }

    /// Renders a template file.
    pub fn render_file(&self, path: &Path, ctx: &Context) -> Result<String, EngineError> {
        let text = read_source(path).map_err(|e| EngineError::Io {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if Dialect::of_file(path) == Dialect::Jinja2 {
            return self.jinja.render_template(&text, path, ctx);
        }
        let at = Location::new(path, 1, 1);
        self.tera
            .render_str(&text, ctx, false)
            .map_err(|e| template_error(&e, &text, &at, None))
    }

    /// Renders every string inside a value. A string that is exactly one `{{ expression }}`
    /// keeps the expression's native type.
    pub fn render_value(
        &self,
        v: &Value,
        ctx: &Context,
        at: &Location,
    ) -> Result<Value, EngineError> {
        self.render_value_with(v, ctx, &|_| at.clone())
    }

    /// Like [`Templar::render_value`], with `locate` naming where the string at a path inside
    /// `v` starts (for error messages).
    pub fn render_value_with(
        &self,
        v: &Value,
        ctx: &Context,
        locate: &dyn Fn(&[PathSeg]) -> Location,
    ) -> Result<Value, EngineError> {
        self.render_value_in(self.yaml, v, ctx, locate)
    }

    /// Like [`Templar::render_value_with`], in the given dialect.
    pub fn render_value_in(
        &self,
        dialect: Dialect,
        v: &Value,
        ctx: &Context,
        locate: &dyn Fn(&[PathSeg]) -> Location,
    ) -> Result<Value, EngineError> {
        let mut path = Vec::new();
        self.render_in(dialect, v, ctx, locate, &mut path)
    }

    /// One string in `dialect`: a single expression keeps its type, text stays text.
    fn render_string(
        &self,
        dialect: Dialect,
        s: &str,
        ctx: &Context,
        at: &Location,
    ) -> Result<Value, EngineError> {
        match (dialect, single_expression(s)) {
            (Dialect::Tera, Some(expr)) => self
                .eval_in(expr, offset_in(s, expr), ctx, at)
                .map_err(|e| self.dialect_hint(s, e)),
            (Dialect::Tera, None) => self
                .render_str(s, ctx, at)
                .map(Value::String)
                .map_err(|e| self.dialect_hint(s, e)),
            (Dialect::Jinja2, Some(expr)) => self.jinja.eval(expr, offset_in(s, expr), ctx, at),
            (Dialect::Jinja2, None) if !is_templated(&Value::String(s.to_owned())) => {
                Ok(Value::String(s.to_owned()))
            }
            (Dialect::Jinja2, None) => self.jinja.render_native(s, ctx, at),
        }
    }

    fn render_in(
        &self,
        dialect: Dialect,
        v: &Value,
        ctx: &Context,
        locate: &dyn Fn(&[PathSeg]) -> Location,
        path: &mut Vec<PathSeg>,
    ) -> Result<Value, EngineError> {
        Ok(match v {
            Value::String(s) => self.render_string(dialect, s, ctx, &locate(path))?,
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(PathSeg::Index(i));
                    let r = self.render_in(dialect, item, ctx, locate, path);
                    path.pop();
                    out.push(r?);
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, item) in map {
                    path.push(PathSeg::Key(k.clone()));
                    let r = self.render_in(dialect, item, ctx, locate, path);
                    path.pop();
                    out.insert(k.clone(), r?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// A tera error about text that is valid Jinja2 says so: the form is Ansible's, and the
    /// project reads its YAML as tera (the tera spelling, when known, is already in `e`).
    fn dialect_hint(&self, text: &str, e: EngineError) -> EngineError {
        let EngineError::Template {
            at,
            message,
            undefined,
        } = e
        else {
            return e;
        };
        if jinja_hint(text).is_some() || !self.jinja.parses(text) {
            return EngineError::Template {
                at,
                message,
                undefined,
            };
        }
        EngineError::Template {
            at,
            undefined,
            message: format!(
                "{message} (this is Jinja2, Ansible's dialect; the project's prov.toml says dialect = \"tera\": write it in tera, or read the playbook as Jinja2 with --dialect jinja2)"
            ),
        }
    }

    /// Evaluates one expression to a native value.
    pub fn eval(&self, expr: &str, ctx: &Context, at: &Location) -> Result<Value, EngineError> {
        self.eval_in(expr, 0, ctx, at)
    }

    /// Evaluates `expr`, which starts `offset` characters after `at`.
    fn eval_in(
        &self,
        expr: &str,
        offset: usize,
        ctx: &Context,
        at: &Location,
    ) -> Result<Value, EngineError> {
        let wrapped = format!("{EVAL_PREFIX}{expr}{EVAL_SUFFIX}");
        let json = match self.tera.render_str(&wrapped, ctx, false) {
            Ok(j) => j,
            Err(e) => {
                // An undefined value only fails inside the `to_json` wrapper ("the value is
                // undefined"); rendering the bare expression names the variable instead.
                if let Err(plain) = self
                    .tera
                    .render_str(&format!("{{{{ {expr} }}}}"), ctx, false)
                    && !matches!(plain.kind(), tera::ErrorKind::SyntaxError(_))
                {
                    return Err(template_error(&plain, expr, at, Some(offset as isize - 3)));
                }
                return Err(template_error(
                    &e,
                    expr,
                    at,
                    Some(offset as isize - EVAL_PREFIX.len() as isize),
                ));
            }
        };
        serde_json::from_str(&json).map_err(|e| EngineError::Template {
            at: at.clone(),
            message: format!("`{expr}` did not produce a value: {e}"),
            undefined: false,
        })
    }

    /// Evaluates a condition (`when`, `changed_when`...): a bare expression, optionally wrapped
    /// in `{{ }}`; booleans the Ansible way (`yes`/`no` strings count).
    pub fn eval_bool(
        &self,
        expr: &Value,
        ctx: &Context,
        at: &Location,
    ) -> Result<bool, EngineError> {
        self.eval_bool_with(expr, ctx, &|_| at.clone())
    }

    /// Like [`Templar::eval_bool`]; a list holds conditions that must all be true, and
    /// `locate(&[Index(i)])` names where item `i` is.
    pub fn eval_bool_with(
        &self,
        expr: &Value,
        ctx: &Context,
        locate: &dyn Fn(&[PathSeg]) -> Location,
    ) -> Result<bool, EngineError> {
        match expr {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            Value::Number(_) => Err(not_boolean(expr, locate(&[]))),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = locate(&[PathSeg::Index(i)]);
                    if !self.eval_bool(item, ctx, &at)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Value::String(s) => {
                let expr = single_expression(s.trim()).unwrap_or(s.trim());
                let v = self
                    .jinja
                    .eval(expr, offset_in(s, expr), ctx, &locate(&[]))?;
                match v {
                    Value::Bool(b) => Ok(b),
                    other => Err(not_boolean(&other, locate(&[]))),
                }
            }
            Value::Object(_) => Err(EngineError::Template {
                at: locate(&[]),
                message: "a condition must be an expression, not a mapping".into(),
                undefined: false,
            }),
        }
    }

    /// Looks for a name that no variable anywhere defines (for `prov lint`), in a condition
    /// (`condition`) or in the strings of a value. `known` says which names some variable,
    /// fact or magic variable may define; guards (`is defined`, `default`) are honoured. The
    /// first such name found, with its location.
    pub fn probe_undefined(
        &self,
        v: &Value,
        condition: bool,
        known: &Arc<dyn Fn(&str) -> bool + Send + Sync>,
        locate: &dyn Fn(&[PathSeg]) -> Location,
    ) -> Option<EngineError> {
        let mut found = None;
        walk_strings(v, &mut Vec::new(), &mut |s, path| {
            if found.is_some() {
                return;
            }
            let at = locate(path);
            found = if condition {
                let expr = single_expression(s.trim()).unwrap_or(s.trim());
                self.jinja
                    .probe(expr, offset_in(s, expr), known.clone(), &at)
            } else if self.yaml == Dialect::Jinja2 {
                self.jinja.probe_text(s, known.clone(), &at)
            } else {
                self.probe_text(s, known, &at)
            };
        });
        found
    }

    /// [`Templar::probe_undefined`] for text in prov's tera dialect: rendered with every name
    /// `known` accepts set to an empty string; an undefined-variable error about a name it
    /// does not accept is the finding (other errors come from the stand-in values).
    fn probe_text(
        &self,
        text: &str,
        known: &Arc<dyn Fn(&str) -> bool + Send + Sync>,
        at: &Location,
    ) -> Option<EngineError> {
        if !text.contains("{{") && !text.contains("{%") {
            return None;
        }
        let mut ctx = Context::new();
        for name in template_names(text) {
            if known(&name) {
                ctx.insert(name, "");
            }
        }
        let e = match single_expression(text) {
            Some(expr) => self.eval_in(expr, offset_in(text, expr), &ctx, at).err()?,
            None => self.render_str(text, &ctx, at).err()?,
        };
        let EngineError::Template { message, .. } = &e else {
            return None;
        };
        let name = undefined_variable(message)?;
        (!known(name)).then_some(e)
    }

    /// Checks the template syntax of every string inside `v` (unknown filters and tests
    /// included) without rendering anything that depends on variables. `condition` treats
    /// strings as bare expressions (`when:`).
    pub fn check_value(
        &self,
        v: &Value,
        condition: bool,
        locate: &dyn Fn(&[PathSeg]) -> Location,
    ) -> Result<(), EngineError> {
        let mut path = Vec::new();
        self.check_in(v, condition, locate, &mut path)
    }

    fn check_in(
        &self,
        v: &Value,
        condition: bool,
        locate: &dyn Fn(&[PathSeg]) -> Location,
        path: &mut Vec<PathSeg>,
    ) -> Result<(), EngineError> {
        match v {
            Value::String(s) if condition => {
                let expr = single_expression(s.trim()).unwrap_or(s.trim());
                self.jinja.check(expr, offset_in(s, expr), &locate(path))
            }
            Value::String(s) if self.yaml == Dialect::Jinja2 => match single_expression(s) {
                Some(expr) => self.jinja.check(expr, offset_in(s, expr), &locate(path)),
                None if is_templated(v) || s.contains("{#") => {
                    self.jinja.check_text(s, &locate(path))
                }
                None => Ok(()),
            },
            Value::String(s) => {
                let (text, shift) = match single_expression(s) {
                    Some(expr) => (
                        format!("{EVAL_PREFIX}{expr}{EVAL_SUFFIX}"),
                        offset_in(s, expr) as isize - EVAL_PREFIX.len() as isize,
                    ),
                    None if is_templated(v) || s.contains("{#") => (s.clone(), 0),
                    None => return Ok(()),
                };
                match self.tera.render_str(&text, &Context::new(), false) {
                    Ok(_) => Ok(()),
                    Err(e) if is_static_error(&e) => {
                        Err(self.dialect_hint(s, template_error(&e, s, &locate(path), Some(shift))))
                    }
                    Err(_) => Ok(()),
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(PathSeg::Index(i));
                    let r = self.check_in(item, condition, locate, path);
                    path.pop();
                    r?;
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, item) in map {
                    path.push(PathSeg::Key(k.clone()));
                    let r = self.check_in(item, condition, locate, path);
                    path.pop();
                    r?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Calls `f` with every string inside `v`.
pub(crate) fn walk_strings_of(v: &Value, f: &mut dyn FnMut(&str)) {
    walk_strings(v, &mut Vec::new(), &mut |s, _| f(s));
}

/// Calls `f` with every string inside `v` and its path.
fn walk_strings(v: &Value, path: &mut Vec<PathSeg>, f: &mut dyn FnMut(&str, &[PathSeg])) {
    match v {
        Value::String(s) => f(s, path),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                walk_strings(item, path, f);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(PathSeg::Key(k.clone()));
                walk_strings(item, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The identifiers in `text` (a superset of the variable names a template uses).
fn template_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut cur = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '_' {
            cur.push(c);
        } else if !cur.is_empty() {
            if !cur.starts_with(|d: char| d.is_ascii_digit()) {
                out.insert(std::mem::take(&mut cur));
            }
            cur.clear();
        }
    }
    out
}

/// The variable a tera "Variable `NAME` is not defined" message names (tera reports this
/// error as text only).
fn undefined_variable(message: &str) -> Option<&str> {
    let rest = message.split("Variable `").nth(1)?;
    let name = rest.split('`').next()?;
    rest.contains("` is not defined").then_some(name)
}

/// What an expression is wrapped in to evaluate it to a native value.
const EVAL_PREFIX: &str = "{{ (";
const EVAL_SUFFIX: &str = ") | to_json }}";

/// Where `inner` (a slice of `outer`) starts in `outer`, in characters.
pub(crate) fn offset_in(outer: &str, inner: &str) -> usize {
    let start = (inner.as_ptr() as usize).wrapping_sub(outer.as_ptr() as usize);
    if start <= outer.len() && outer.is_char_boundary(start) {
        outer[..start].chars().count()
    } else {
        0
    }
}

/// True for errors found without any variable: syntax, unknown filters, tests and functions.
fn is_static_error(e: &tera::Error) -> bool {
    match e.kind() {
        tera::ErrorKind::SyntaxError(_) => true,
        tera::ErrorKind::Msg(m) => {
            m.contains("Unknown filter `")
                || m.contains("Unknown test `")
                || m.contains("Unknown function `")
        }
        _ => false,
    }
}

/// The error for a condition whose result is not a boolean (Ansible 2.19: "Conditionals must
/// have a boolean result"; `when: name_of_a_string` is `name | length > 0`, `name | bool`...).
fn not_boolean(v: &Value, at: Location) -> EngineError {
    let python_type = match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    };
    let truth = if truthy(v) { "True" } else { "False" };
    EngineError::Template {
        at,
        message: format!(
            "the condition's result ({truth}) is a {python_type}, not a boolean: conditionals \
             must have a boolean result (as in Ansible 2.19)"
        ),
        undefined: false,
    }
}

/// Ansible truthiness of a value: strings `yes/true/on/1` are true, empty things false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "no" | "false" | "off" | "0" | "n"
        ),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Returns the inner expression when `s` is exactly one `{{ ... }}`. Text around it, even a
/// newline (`"{{ x }}\n"`), makes `s` text, as in Ansible. Braces inside the expression (a
/// dict literal, `combine({'a': {'b': 1}})`) and quoted strings are skipped as Jinja2's lexer
/// skips them: their `}}` does not end the expression.
pub fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let bytes = inner.as_bytes();
    let (mut depth, mut quote, mut i) = (0usize, None::<u8>, 0);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'(' | b'[' | b'{' if depth > 0 || !inner[i..].starts_with("{{") => {
                    if depth == 0 && inner[i..].starts_with("{%") {
                        return None;
                    }
                    depth += 1;
                }
                b')' | b']' | b'}' if depth > 0 => depth -= 1,
                b'{' | b'}' => return None,
                _ => {}
            },
        }
        i += 1;
    }
    (depth == 0 && quote.is_none()).then(|| inner.trim())
}

/// Where `word` first stands alone in `text` (not inside a longer name), in characters.
pub(crate) fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word)
        .find(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + word.len()..].chars().next();
            !before.is_some_and(is_name) && !after.is_some_and(is_name)
        })
        .map(|(i, _)| text[..i].chars().count())
}

/// True when a string inside `v` names `name` (as a word).
pub(crate) fn mentions(v: &Value, name: &str) -> bool {
    match v {
        Value::String(s) => find_word(s, name).is_some(),
        Value::Array(items) => items.iter().any(|i| mentions(i, name)),
        Value::Object(m) => m.values().any(|i| mentions(i, name)),
        _ => false,
    }
}

/// True when a value holds template syntax somewhere.
pub fn is_templated(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(items) => items.iter().any(is_templated),
        Value::Object(map) => map.values().any(is_templated),
        _ => false,
    }
}

/// Turns a tera error into one naming `file:line:column`. `shift` is `None` inside a template
/// file (tera's positions are the file's); for text from a YAML string, tera's 0-based column
/// `c` on the first line is the string's column `at.column + c + shift`.
fn template_error(e: &tera::Error, text: &str, at: &Location, shift: Option<isize>) -> EngineError {
    let (message, pos) = match e.kind() {
        tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => {
            let sp = r.span();
            (r.message().to_owned(), Some((sp.start_line, sp.start_col)))
        }
        tera::ErrorKind::Msg(m) if m.contains("\n --> ") => parse_report(m),
        _ => (error_chain(e), None),
    };
    let location = match (pos, shift) {
        (Some((line, col)), None) => Location::new(&at.file, line, col + 1),
        (Some((1, col)), Some(shift)) => {
            let c = (at.column as isize + col as isize + shift).max(at.column as isize);
            Location::new(&at.file, at.line, c as usize)
        }
        (Some((line, col)), Some(_)) => Location::new(&at.file, at.line + line - 1, col + 1),
        (None, _) => at.clone(),
    };
    let hint = jinja_hint(text);
    EngineError::Template {
        at: location,
        undefined: undefined_variable(&message).is_some(),
        message: match hint {
            Some(h) => format!("{message} ({h})"),
            None => message,
        },
    }
}

/// Reads tera's report text (`error: MESSAGE\n --> NAME:LINE:COL ...`, several joined by
/// blank lines): the messages, and the first position as (1-based line, 0-based column).
fn parse_report(report: &str) -> (String, Option<(usize, usize)>) {
    let mut messages = Vec::new();
    let mut first: Option<(usize, usize)> = None;
    let mut lines = report.lines().peekable();
    while let Some(l) = lines.next() {
        if let Some(m) = l.trim().strip_prefix("error: ") {
            messages.push(m.to_owned());
            if let Some(next) = lines.peek()
                && let Some(loc) = next.trim().strip_prefix("--> ")
            {
                let mut parts = loc.rsplitn(3, ':');
                let col = parts.next().and_then(|c| c.parse::<usize>().ok());
                let line = parts.next().and_then(|c| c.parse::<usize>().ok());
                if let (Some(line), Some(col), None) = (line, col, first) {
                    first = Some((line, col.saturating_sub(1)));
                }
            }
        }
    }
    if messages.is_empty() {
        return (report.to_owned(), None);
    }
    (messages.join("; "), first)
}

fn error_chain(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Suggests the tera form of Jinja2-only syntax.
fn jinja_hint(text: &str) -> Option<&'static str> {
    let positional = regex::Regex::new(
        r"\|\s*(default|d|join|replace|regex_replace|ternary|round)\s*\(\s*['\x22\d]",
    )
    .ok()?;
    if positional.is_match(text) {
        return Some(
            "tera filters take named arguments, e.g. default(value=\"x\"), join(sep=\",\"), \
             replace(from=\"a\", to=\"b\"), regex_replace(pattern=\"a\", replacement=\"b\")",
        );
    }
    if text.contains("| d(") || text.contains("|d(") {
        return Some("tera has no `d` alias: use default(value=...)");
    }
    if text.contains(" is not defined") || text.contains(" is defined") {
        return None;
    }
    if text.contains("lookup(") {
        return Some(
            "lookups are Jinja2, Ansible's dialect; tera has none: load data with vars_files or set_fact",
        );
    }
    None
}

/// The largest file templating reads on the controller (template files, `lookup('file')`,
/// `lookup('template')`): a special file such as `/dev/zero` fails instead of filling memory.
pub(crate) const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Reads a text file of at most [`MAX_SOURCE_BYTES`].
pub(crate) fn read_source(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SOURCE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB, the most prov reads for a template",
            MAX_SOURCE_BYTES >> 20
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod single_expression_tests {
    use super::single_expression;

    #[test]
    fn dict_literals_and_strings_stay_inside_the_expression() {
        let one = "{{ conf | combine({'server': {'tls': true}}) }}";
        assert_eq!(
            single_expression(one),
            Some("conf | combine({'server': {'tls': true}})")
        );
        assert_eq!(single_expression("{{ '}}' ~ x }}"), Some("'}}' ~ x"));
        assert_eq!(single_expression("{{ {'a': 1}}}"), Some("{'a': 1}"));
        assert_eq!(single_expression("{{ a }} {{ b }}"), None);
        assert_eq!(single_expression("{{ a }}{{ b }}"), None);
        assert_eq!(single_expression("{{ a }}{% if x %}{{ b }}"), None);
        assert_eq!(single_expression("{{ a }} }}"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> Context {
        Templar::context(v.as_object().unwrap())
    }

    fn at() -> Location {
        Location::new(Path::new("play.yml"), 7, 12)
    }

    #[test]
    fn single_expression_keeps_native_type() {
        let t = Templar::new();
        let c = ctx(json!({"base_port": 7000, "dirs": ["a", "b"], "flag": true}));
        assert_eq!(
            t.render_value(&json!("{{ base_port + 1 }}"), &c, &at())
                .unwrap(),
            json!(7001)
        );
        assert_eq!(
            t.render_value(&json!("{{ dirs }}"), &c, &at()).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            t.render_value(&json!("{{ flag }}"), &c, &at()).unwrap(),
            json!(true)
        );
        assert_eq!(
            t.render_value(&json!("node-{{ base_port }}.conf"), &c, &at())
                .unwrap(),
            json!("node-7000.conf")
        );
        // Text around the expression, even a final newline, keeps it text.
        assert_eq!(
            t.render_value(&json!("{{ base_port }}\n"), &c, &at())
                .unwrap(),
            json!("7000\n")
        );
    }

    #[test]
    fn conditions_are_bare_or_wrapped() {
        let t = Templar::new();
        let c = ctx(json!({"enable_x": true, "port": 2000, "s": "yes"}));
        assert!(
            t.eval_bool(&json!("enable_x and port > 1024"), &c, &at())
                .unwrap()
        );
        assert!(t.eval_bool(&json!("{{ port > 1024 }}"), &c, &at()).unwrap());
        assert!(
            !t.eval_bool(&json!(["enable_x", "port < 10"]), &c, &at())
                .unwrap()
        );
        assert!(t.eval_bool(&json!("s | bool"), &c, &at()).unwrap());
    }

    #[test]
    fn undefined_variable_is_an_error_with_location() {
        let t = Templar::new();
        let c = ctx(json!({}));
        let e = t
            .render_value(&json!("x {{ nope }}"), &c, &at())
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("play.yml:7:"), "{msg}");
    }

    #[test]
    fn undefined_in_a_single_expression_or_condition_is_an_error() {
        let t = Templar::new();
        let c = ctx(json!({}));
        assert!(t.render_value(&json!("{{ item }}"), &c, &at()).is_err());
        assert!(t.eval_bool(&json!("nope"), &c, &at()).is_err());
        assert_eq!(
            t.eval("nope | default(value=3)", &c, &at()).unwrap(),
            json!(3)
        );
        assert!(t.eval_bool(&json!("nope is defined"), &c, &at()).is_ok());
    }

    #[test]
    fn jinja2_only_forms_in_a_tera_project_say_so() {
        let t = Templar::with_yaml_dialect(Dialect::Tera);
        let c = ctx(json!({"v": "1.2", "s": "a b", "d": {"k": 1}}));
        for text in [
            "{{ v is version('1.0', '>=') }}",
            "{{ s.split() }}",
            "{{ d.items() | list }}",
            "{{ s | indent(4) }}",
            "{{ [1, 2] | union([3]) }}",
        ] {
            let e = t
                .render_value(&json!(text), &c, &at())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("this is Jinja2") || e.contains("tera"),
                "{text}: {e}"
            );
        }
        let e = t
            .render_value(&json!("{{ s | indent(4) }}"), &c, &at())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--dialect jinja2"), "{e}");
    }

    #[test]
    fn jinja_positional_default_gets_a_hint() {
        let t = Templar::with_yaml_dialect(Dialect::Tera);
        let c = ctx(json!({}));
        let e = t
            .render_value(&json!("{{ x | default('a') }}"), &c, &at())
            .unwrap_err();
        assert!(e.to_string().contains("default(value="), "{e}");
    }

    #[test]
    fn yaml_in_jinja2_is_checked_and_rendered_as_ansible_does() {
        let t = Templar::new();
        let here = |_: &[PathSeg]| at();
        let c = ctx(json!({"flag": true, "items": ["a", "b"]}));
        let v = t
            .render_value(
                &json!("{{ x | default('a') }}-{{ flag }}-{{ items }}"),
                &c,
                &at(),
            )
            .unwrap();
        assert_eq!(v, json!("a-True-['a', 'b']"));
        assert!(
            t.check_value(&json!("x {{ y | default(omit) | upper }}"), false, &here)
                .is_ok()
        );
        let e = t
            .check_value(&json!("x {{ y | nofilter }}"), false, &here)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("play.yml:7:21:") && e.contains("nofilter"),
            "{e}"
        );
        let e = t
            .check_value(&json!(["ok", "a {% if %}"]), false, &here)
            .unwrap_err()
            .to_string();
        assert!(e.contains("template error"), "{e}");
        let known: Arc<dyn Fn(&str) -> bool + Send + Sync> = Arc::new(|n| n == "y");
        let found = t.probe_undefined(&json!("a {{ y }} {{ z }}"), false, &known, &here);
        assert!(found.unwrap().to_string().contains("`z`"));
        assert!(
            t.probe_undefined(&json!("{{ z | default(y) }}"), false, &known, &here)
                .is_none()
        );
    }

    #[test]
    fn errors_point_inside_the_string() {
        let t = Templar::new();
        let c = ctx(json!({}));
        // `at` is where the string's first character is: column 12.
        let e = t
            .render_value(&json!("a {{ nope }}"), &c, &at())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("play.yml:7:17:"), "{e}");
        let e = t
            .render_value(&json!("{{ nope }}"), &c, &at())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("play.yml:7:15:") && e.contains("`nope` is not defined"),
            "{e}"
        );
        let e = t
            .eval_bool(&json!("x and nope"), &ctx(json!({"x": true})), &at())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("play.yml:7:18:"), "{e}");
    }

    #[test]
    fn check_finds_syntax_and_unknown_filters_only() {
        let t = Templar::with_yaml_dialect(Dialect::Tera);
        let here = |_: &[PathSeg]| at();
        assert!(
            t.check_value(
                &json!({"a": "{{ undefined_is_fine }}", "b": ["x {{ y | upper }}"]}),
                false,
                &here
            )
            .is_ok()
        );
        assert!(
            t.check_value(&json!("port > 1 and enabled"), true, &here)
                .is_ok()
        );
        let e = t
            .check_value(&json!(["ok", "{{ 1 + }}"]), false, &here)
            .unwrap_err()
            .to_string();
        assert!(e.contains("template error"), "{e}");
        let e = t
            .check_value(&json!("{{ x | nofilter }}"), false, &here)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("play.yml:7:19:")
                && e.contains("Unknown filter `nofilter`")
                && !e.contains("__tera"),
            "{e}"
        );
        let e = t
            .check_value(&json!("x is nosuchtest"), true, &here)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown test") && e.contains("nosuchtest"),
            "{e}"
        );
    }

    #[test]
    fn result_tests() {
        let t = Templar::new();
        let c = ctx(
            json!({"ok": {"changed": true, "failed": false}, "bad": {"failed": true}, "sk": {"skipped": true}}),
        );
        assert!(
            t.eval_bool(
                &json!("ok is succeeded and ok is success and ok is changed"),
                &c,
                &at()
            )
            .unwrap()
        );
        assert!(
            t.eval_bool(
                &json!("bad is failed and bad is not succeeded and bad is not changed"),
                &c,
                &at()
            )
            .unwrap()
        );
        assert!(
            t.eval_bool(&json!("sk is skipped and ok is not skipped"), &c, &at())
                .unwrap()
        );
    }

    #[test]
    fn ansible_filters() {
        let t = Templar::new();
        let c = ctx(json!({"m": {"a": 1}, "s": "hello"}));
        assert_eq!(
            t.eval("m | to_json", &c, &at()).unwrap(),
            json!("{\"a\":1}")
        );
        assert_eq!(
            t.eval("s | b64encode | b64decode", &c, &at()).unwrap(),
            json!("hello")
        );
        assert_eq!(
            t.eval(
                "s | regex_replace(pattern=\"l+\", replacement=\"L\")",
                &c,
                &at()
            )
            .unwrap(),
            json!("heLo")
        );
        assert_eq!(
            t.eval("\"10.0.0.5/24\" | ipaddr(query=\"network\")", &c, &at())
                .unwrap(),
            json!("10.0.0.0")
        );
        let c = ctx(json!({"hv": {"a": {"ip": "1"}, "b": {"ip": "2"}}, "names": ["b", "a"]}));
        assert_eq!(
            t.eval("names | extract(container=hv, key=\"ip\")", &c, &at())
                .unwrap(),
            json!(["2", "1"])
        );
    }
}
