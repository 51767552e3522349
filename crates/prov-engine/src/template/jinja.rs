//! Conditions (`when`, `changed_when`, `failed_when`, `until`, `assert: that:`), evaluated the
//! way Ansible evaluates them: by a Jinja2 engine (minijinja) whose undefined values are strict.
//!
//! An undefined name fails the condition wherever it appears (`not x`, `x == y`, `x in y`,
//! `x and y`) instead of counting as false, so a typo never lets a guarded step run. The guards
//! Ansible users write keep working: `x is defined`, `x | default(...)`, and short-circuiting
//! (`x is defined and x > 1` never looks at `x` when it is undefined).
//!
//! Condition syntax is the same in prov's tera dialect and in Jinja2; the filters prov offers
//! in conditions accept both tera's named arguments (`default(value=1)`) and Jinja2's
//! positional ones (`default(1)`).

use std::sync::Arc;

use minijinja::value::{Kwargs, Object, Rest, Serde};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as MjValue};
use serde_json::Value;

use super::find_word;
use crate::error::{EngineError, Location};

/// The engine that evaluates conditions.
#[derive(Debug)]
pub(super) struct Conditions {
    env: Environment<'static>,
    /// The same engine with lenient undefined values: evaluating a condition against no
    /// variables at all then reaches its filters and tests, to find unknown ones at load time.
    lenient: Environment<'static>,
}

/// The variables a condition sees: a tera context, converted one name at a time as the
/// condition looks it up (a condition reads a few names out of hundreds).
#[derive(Debug)]
struct Scope(tera::Context);

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        self.0.get(key.as_str()?).map(|v| MjValue::from(Serde(v)))
    }
}

/// What [`Conditions::probe`] evaluates against: the known names, each any value.
struct Probe(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

impl Object for Probe {
    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let name = key.as_str()?;
        (self.0)(name).then(|| MjValue::from_object(AnyValue))
    }
}

/// A value about which nothing is known: every field exists (and is another such value).
#[derive(Debug)]
struct AnyValue;

impl Object for AnyValue {
    fn get_value(self: &Arc<Self>, _key: &MjValue) -> Option<MjValue> {
        Some(MjValue::from_object(AnyValue))
    }
}

impl Conditions {
    pub(super) fn new() -> Self {
        let mut env = Environment::new();
        register_filters(&mut env);
        register_tests(&mut env);
        let lenient = env.clone();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        Self { env, lenient }
    }

    /// Evaluates the expression `expr`, which starts `offset` characters after `at`.
    pub(super) fn eval(
        &self,
        expr: &str,
        offset: usize,
        ctx: &tera::Context,
        at: &Location,
    ) -> Result<Value, EngineError> {
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|e| condition_error(&e, expr, offset, at))?;
        let scope = MjValue::from_object(Scope(ctx.clone()));
        let value = compiled
            .eval(scope)
            .map_err(|e| condition_error(&e, expr, offset, at))?;
        if value.is_undefined() {
            return Err(self.undefined_result(expr, offset, ctx, at));
        }
        serde_json::to_value(&value).map_err(|e| EngineError::Template {
            at: shifted(at, offset),
            message: format!("`{expr}` did not produce a value: {e}"),
        })
    }

    /// The error for a condition whose result is undefined (`x and nope` returns `nope`
    /// unevaluated): testing the result's truth, as `not (...)`, names the undefined value.
    fn undefined_result(
        &self,
        expr: &str,
        offset: usize,
        ctx: &tera::Context,
        at: &Location,
    ) -> EngineError {
        const PREFIX: &str = "not (";
        let negated = format!("{PREFIX}{expr})");
        let scope = MjValue::from_object(Scope(ctx.clone()));
        let Err(e) = self
            .env
            .compile_expression(&negated)
            .and_then(|c| c.eval(scope))
        else {
            return EngineError::Template {
                at: shifted(at, offset),
                message: format!("`{expr}` is undefined"),
            };
        };
        // The error names the undefined value, which `condition_error` finds in `expr`.
        condition_error(&e, expr, offset, at)
    }

    /// Evaluates `expr` where only the names `known` accepts exist (each standing for any
    /// value), to find a name that no variable anywhere defines (for `prov lint`): the error
    /// for the first such name reached, honouring guards and short-circuits.
    pub(super) fn probe(
        &self,
        expr: &str,
        offset: usize,
        known: Arc<dyn Fn(&str) -> bool + Send + Sync>,
        at: &Location,
    ) -> Option<EngineError> {
        // Testing the result's truth, as a condition does, reaches a bare undefined name too.
        let negated = format!("not ({expr})");
        let compiled = self.env.compile_expression(&negated).ok()?;
        match compiled.eval(MjValue::from_object(Probe(known))) {
            Err(e) if e.kind() == ErrorKind::UndefinedError => {
                Some(condition_error(&e, expr, offset, at))
            }
            _ => None,
        }
    }

    /// Checks a condition without its variables (for load time and `prov lint`): its syntax,
    /// and the filters and tests it reaches when every name is undefined.
    pub(super) fn check(
        &self,
        expr: &str,
        offset: usize,
        at: &Location,
    ) -> Result<(), EngineError> {
        let compiled = self
            .lenient
            .compile_expression(expr)
            .map_err(|e| condition_error(&e, expr, offset, at))?;
        match compiled.eval(()) {
            Err(e) if matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest) => {
                Err(condition_error(&e, expr, offset, at))
            }
            _ => Ok(()),
        }
    }
}

/// `at` moved `chars` characters to the right (same line).
fn shifted(at: &Location, chars: usize) -> Location {
    Location::new(&at.file, at.line, at.column + chars)
}

/// A minijinja error as an engine error at the position of the offending part of `expr`:
/// the undefined name it reports, else the start of the span it gives.
fn condition_error(e: &Error, expr: &str, offset: usize, at: &Location) -> EngineError {
    let span_start = || {
        e.range()
            .map(|r| r.start.min(expr.len()))
            .filter(|s| expr.is_char_boundary(*s))
            .map(|s| expr[..s].chars().count())
    };
    let start = undefined_name(e)
        .and_then(|name| find_word(expr, name))
        .or_else(span_start)
        .unwrap_or(0);
    let message = match (e.kind(), e.detail()) {
        (ErrorKind::UndefinedError, Some(d)) => undefined_message(d),
        (ErrorKind::UndefinedError, None) => "a name in the condition is not defined".to_owned(),
        (kind, Some(d)) => format!("{kind}: {d}"),
        (kind, None) => kind.to_string(),
    };
    EngineError::Template {
        at: shifted(at, offset + start),
        message,
    }
}

/// The name an undefined-value error reports (minijinja: "`name` is undefined").
fn undefined_name(e: &Error) -> Option<&str> {
    if e.kind() != ErrorKind::UndefinedError {
        return None;
    }
    e.detail()?.split('`').nth(1)
}

/// minijinja's "`x` is undefined" in prov's words: "Variable `x` is not defined" for a name,
/// "`x.y` is not defined" for a field.
fn undefined_message(detail: &str) -> String {
    let text = detail.replace(" is undefined", " is not defined");
    match detail.split('`').nth(1) {
        Some(name) if !name.contains(['.', '[']) => format!("Variable {text}"),
        _ => text,
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A filter argument given positionally (Jinja2) or by name (tera).
fn arg(positional: Option<MjValue>, kwargs: &Kwargs, name: &str) -> Result<Option<MjValue>, Error> {
    match positional {
        Some(v) => Ok(Some(v)),
        None => kwargs.get::<Option<MjValue>>(name),
    }
}

/// Ansible's `default(value, boolean=false)`: the value when defined (and, with `boolean`,
/// truthy), else the default.
fn default_filter(
    v: MjValue,
    default: Option<MjValue>,
    boolean: Option<bool>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let default = arg(default, &kwargs, "value")?.unwrap_or_else(|| MjValue::from(""));
    let boolean = match boolean {
        Some(b) => b,
        None => kwargs.get::<Option<bool>>("boolean")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let missing = v.is_undefined() || (boolean && !v.is_true());
    Ok(if missing { default } else { v })
}

/// Ansible's `bool`: `yes/true/on/1/y` strings are true.
fn bool_filter(v: MjValue) -> bool {
    match v.as_str() {
        Some(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "yes" | "true" | "on" | "1" | "y"
        ),
        None => v.is_true(),
    }
}

fn regex_search_filter(
    v: String,
    pattern: Option<String>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let pattern = match pattern {
        Some(p) => p,
        None => kwargs.get::<String>("pattern")?,
    };
    kwargs.assert_all_used()?;
    let re = regex::Regex::new(&pattern).map_err(|e| invalid(e.to_string()))?;
    Ok(re
        .find(&v)
        .map(|m| MjValue::from(m.as_str()))
        .unwrap_or(MjValue::from(())))
}

fn ternary_filter(v: MjValue, rest: Rest<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let yes = arg(rest.first().cloned(), &kwargs, "true_value")?;
    let no = arg(rest.get(1).cloned(), &kwargs, "false_value")?;
    kwargs.assert_all_used()?;
    let (Some(yes), Some(no)) = (yes, no) else {
        return Err(invalid("ternary needs a true value and a false value"));
    };
    Ok(if v.is_true() { yes } else { no })
}

fn mandatory_filter(v: MjValue, msg: Option<String>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let msg = match msg {
        Some(m) => Some(m),
        None => kwargs.get::<Option<String>>("msg")?,
    };
    kwargs.assert_all_used()?;
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            msg.unwrap_or_else(|| "mandatory variable is not defined".into()),
        ));
    }
    Ok(v)
}

fn to_json_filter(v: MjValue) -> Result<String, Error> {
    serde_json::to_string(&v).map_err(|e| invalid(e.to_string()))
}

fn from_json_filter(v: String) -> Result<MjValue, Error> {
    let j: Value = serde_json::from_str(&v).map_err(|e| invalid(e.to_string()))?;
    Ok(MjValue::from(Serde(j)))
}

fn basename_filter(v: String) -> String {
    std::path::Path::new(&v)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn dirname_filter(v: String) -> String {
    std::path::Path::new(&v)
        .parent()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn register_filters(env: &mut Environment<'static>) {
    env.add_filter("default", default_filter);
    env.add_filter("d", default_filter);
    env.add_filter("bool", bool_filter);
    env.add_filter("regex_search", regex_search_filter);
    env.add_filter("ternary", ternary_filter);
    env.add_filter("mandatory", mandatory_filter);
    env.add_filter("to_json", to_json_filter);
    env.add_filter("from_json", from_json_filter);
    env.add_filter("basename", basename_filter);
    env.add_filter("dirname", dirname_filter);
}

/// A registered result's boolean field (`failed`, `changed`, `skipped`), false when missing.
fn result_flag(v: &MjValue, field: &str) -> bool {
    v.get_attr(field).is_ok_and(|f| f.is_true())
}

fn in_network_test(v: String, network: Option<String>, kwargs: Kwargs) -> Result<bool, Error> {
    let network = match network {
        Some(n) => n,
        None => kwargs.get::<String>("network")?,
    };
    kwargs.assert_all_used()?;
    let net: ipnet::IpNet = network.parse().map_err(|e| invalid(format!("{e}")))?;
    let addr: std::net::IpAddr = v.parse().map_err(|e| invalid(format!("{e}")))?;
    Ok(net.contains(&addr))
}

fn register_tests(env: &mut Environment<'static>) {
    for (names, field, expect) in [
        (&["failed", "failure"], "failed", true),
        (&["succeeded", "success"], "failed", false),
        (&["changed", "change"], "changed", true),
        (&["skipped", "skip"], "skipped", true),
    ] {
        for name in names {
            env.add_test(*name, move |v: MjValue| result_flag(&v, field) == expect);
        }
    }
    env.add_test("in_network", in_network_test);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> tera::Context {
        crate::template::Templar::context(v.as_object().unwrap())
    }

    fn eval(expr: &str, vars: Value) -> Result<Value, String> {
        let at = Location::new(std::path::Path::new("p.yml"), 3, 10);
        Conditions::new()
            .eval(expr, 0, &ctx(vars), &at)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_undefined_name_fails_wherever_it_is() {
        for expr in [
            "not skip_dangerus",
            "x == nope",
            "nope == x",
            "rcc == 0",
            "not maintenance_mdoe",
            "x in nope",
            "nope in [1]",
            "nope and true",
            "true and nope",
            "x.missing == 1",
        ] {
            let e = eval(expr, json!({"x": {"a": 1}})).unwrap_err();
            assert!(
                e.contains("not defined") || e.contains("undefined"),
                "{expr}: {e}"
            );
        }
    }

    #[test]
    fn guards_and_short_circuits_work() {
        let v = json!({"x": 5, "r": {"rc": 0, "failed": false}});
        assert_eq!(eval("nope is defined", v.clone()), Ok(json!(false)));
        assert_eq!(eval("nope is not defined", v.clone()), Ok(json!(true)));
        assert_eq!(
            eval("nope is defined and nope > 1", v.clone()),
            Ok(json!(false))
        );
        assert_eq!(eval("nope | default(3) == 3", v.clone()), Ok(json!(true)));
        assert_eq!(eval("nope | default(value=3)", v.clone()), Ok(json!(3)));
        assert_eq!(eval("'' | default('z', true)", v.clone()), Ok(json!("z")));
        assert_eq!(
            eval("r is succeeded and r.rc == 0", v.clone()),
            Ok(json!(true))
        );
        assert_eq!(eval("x > 3 or nope", v.clone()), Ok(json!(true)));
        assert_eq!(eval("'yes' | bool", v.clone()), Ok(json!(true)));
        assert_eq!(
            eval("'10.0.0.5' is in_network(network='10.0.0.0/8')", v),
            Ok(json!(true))
        );
    }

    #[test]
    fn errors_point_at_the_undefined_name() {
        let e = eval("x and nope", json!({"x": true})).unwrap_err();
        assert!(
            e.starts_with("p.yml:3:16:") && e.contains("`nope` is not defined"),
            "{e}"
        );
    }
}
