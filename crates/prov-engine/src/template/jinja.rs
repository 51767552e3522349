//! The Jinja2 engine (minijinja, configured as Ansible's templar in [`super::ansible`]): it
//! renders Jinja2 template files and evaluates conditions (`when`, `changed_when`,
//! `failed_when`, `until`, `assert: that:`) of every dialect, with strict undefined values.
//!
//! An undefined name fails the condition wherever it appears (`not x`, `x == y`, `x in y`,
//! `x and y`) instead of counting as false, so a typo never lets a guarded step run. The guards
//! Ansible users write keep working: `x is defined`, `x | default(...)`, and short-circuiting
//! (`x is defined and x > 1` never looks at `x` when it is undefined).
//!
//! Condition syntax is the same in prov's tera dialect and in Jinja2; conditions are evaluated
//! by the Ansible environment ([`super::ansible`]), whose filters accept both tera's named
//! arguments (`default(value=1)`) and Jinja2's positional ones (`default(1)`).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use minijinja::value::Object;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as MjValue};
use serde_json::Value;

use super::ansible::{Overrides, Scope};
use super::find_word;
use crate::error::{EngineError, Location};

/// The Jinja2 engine: conditions and Jinja2 template files.
#[derive(Debug)]
pub(super) struct Jinja {
    env: Environment<'static>,
    /// The engine for template files: string literals process their escapes (`'\t'` is a
    /// tab), as Jinja2 does and Ansible's template module does, unlike YAML values.
    files: Environment<'static>,
    /// The same engine with lenient undefined values: evaluating a condition against no
    /// variables at all then reaches its filters and tests, to find unknown ones at load time.
    lenient: Environment<'static>,
}

/// What [`Jinja::probe`] evaluates against: the known names, each any value.
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

impl Jinja {
    pub(super) fn new() -> Self {
        let env = super::ansible::environment();
        let mut lenient = env.clone();
        lenient.set_undefined_behavior(UndefinedBehavior::Lenient);
        let mut files = env.clone();
        if let Ok(syntax) = super::ansible::file_syntax(&Overrides::default()).build() {
            files.set_syntax(syntax);
        }
        Self {
            env,
            files,
            lenient,
        }
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
        let scope = MjValue::from_object(Scope::new(ctx));
        let value = compiled
            .eval(scope)
            .map_err(|e| condition_error(&e, expr, offset, at))?;
        if value.is_undefined() {
            return Err(self.undefined_result(expr, offset, ctx, at));
        }
        if let Err(e) = super::ansible::ensure_defined_inside(&value) {
            // Printed, the value fails inside the engine, whose error names the undefined one.
            let scope = MjValue::from_object(Scope::new(ctx));
            let named = self
                .env
                .render_str(&format!("{{{{ {expr} }}}}"), scope)
                .err();
            return Err(condition_error(
                named.as_ref().unwrap_or(&e),
                expr,
                offset,
                at,
            ));
        }
        serde_json::to_value(&value).map_err(|e| EngineError::Template {
            at: shifted(at, offset),
            message: format!("`{expr}` did not produce a value: {e}"),
            undefined: false,
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
        let scope = MjValue::from_object(Scope::new(ctx));
        let Err(e) = self
            .env
            .compile_expression(&negated)
            .and_then(|c| c.eval(scope))
        else {
            return EngineError::Template {
                at: shifted(at, offset),
                message: format!("`{expr}` is undefined"),
                undefined: true,
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
        match compiled.eval(MjValue::from_object(Probe(known.clone()))) {
            Err(e) if names_unknown(&e, &known) => Some(condition_error(&e, expr, offset, at)),
            _ => None,
        }
    }

    /// Renders text from a YAML value (`at` is where it starts); its final newlines are kept.
    pub(super) fn render_text(
        &self,
        text: &str,
        ctx: &tera::Context,
        at: &Location,
    ) -> Result<String, EngineError> {
        self.env
            .render_str(text, MjValue::from_object(Scope::new(ctx)))
            .map(|out| super::ansible::keep_trailing_newlines(text, out))
            .map_err(|e| text_error(&e, text, at))
    }

    /// Text from a YAML value (not a single `{{ expression }}`): its rendered text, or, as in
    /// Ansible 2.19, the value itself when the template emitted exactly one value and no text
    /// around it (`{% if a %}{{ list_a }}{% else %}{{ list_b }}{% endif %}` is a list), and
    /// null when it emitted nothing at all.
    pub(super) fn render_native(
        &self,
        text: &str,
        ctx: &tera::Context,
        at: &Location,
    ) -> Result<Value, EngineError> {
        let (out, emitted) = super::ansible::with_emitted(|| self.render_text(text, ctx, at));
        let out = out?;
        if emitted.is_empty() && out.is_empty() {
            // Nothing emitted at all (`{% if false %}x{% endif %}`): Ansible's None.
            return Ok(Value::Null);
        }
        if let [one] = emitted.as_slice()
            && self
                .env
                .render_str("{{ v }}", minijinja::context! { v => one })
                .ok()
                == Some(out.clone())
            && let Ok(native) = serde_json::to_value(one)
        {
            return Ok(native);
        }
        Ok(Value::String(out))
    }

    /// [`Jinja::probe`] for text from a YAML value: rendered where only the names `known`
    /// accepts exist; the first undefined name reached is the finding.
    pub(super) fn probe_text(
        &self,
        text: &str,
        known: Arc<dyn Fn(&str) -> bool + Send + Sync>,
        at: &Location,
    ) -> Option<EngineError> {
        if let Some(expr) = super::single_expression(text) {
            return self.probe(expr, super::offset_in(text, expr), known, at);
        }
        match self
            .env
            .render_str(text, MjValue::from_object(Probe(known.clone())))
        {
            Err(e) if names_unknown(&e, &known) => Some(undefined_text_error(&e, text, at)),
            _ => None,
        }
    }

    /// Checks text from a YAML value without its variables: its syntax, and the filters and
    /// tests it reaches when every name is undefined.
    pub(super) fn check_text(&self, text: &str, at: &Location) -> Result<(), EngineError> {
        let compiled = self
            .lenient
            .template_from_str(text)
            .map_err(|e| text_error(&e, text, at))?;
        match compiled.render(()) {
            Err(e) if matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest) => {
                Err(text_error(&e, text, at))
            }
            _ => Ok(()),
        }
    }

    /// Renders a Jinja2 template file's `text` (Ansible's template module: its extra variables
    /// `ansible_managed`, `template_path`, `template_fullpath`, `template_host`,
    /// `template_uid` are set).
    pub(super) fn render_template(
        &self,
        text: &str,
        path: &Path,
        ctx: &tera::Context,
    ) -> Result<String, EngineError> {
        let scope = Scope::with_extra(ctx, super::ansible::template_file_vars(path));
        let (env, body, header) = self.file_env(text, path)?;
        env.render_str(body, MjValue::from_object(scope))
            .map(|out| super::ansible::keep_trailing_newlines(body, out))
            .map_err(|e| below(file_error(&e, body, path), header))
    }

    /// The engine for the template file `text` (the file's own when its first line is a
    /// `#jinja2:` override, as Ansible's template module reads it), the text it renders, and
    /// the number of lines taken off its top.
    fn file_env<'t>(
        &self,
        text: &'t str,
        path: &Path,
    ) -> Result<(Cow<'_, Environment<'static>>, &'t str, usize), EngineError> {
        let (overrides, body) =
            super::ansible::split_overrides(text).map_err(|message| EngineError::Template {
                at: Location::new(path, 1, 1),
                message,
                undefined: false,
            })?;
        if overrides == Overrides::default() {
            return Ok((Cow::Borrowed(&self.files), body, usize::from(body != text)));
        }
        let syntax = super::ansible::file_syntax(&overrides)
            .build()
            .map_err(|e| file_error(&e, text, path))?;
        let mut env = self.files.clone();
        env.set_syntax(syntax);
        Ok((Cow::Owned(env), body, 1))
    }

    /// True when `text` (from a YAML value) is valid Jinja2 and uses only known filters and
    /// tests.
    pub(super) fn parses(&self, text: &str) -> bool {
        let at = Location::new(Path::new(""), 1, 1);
        match super::single_expression(text) {
            Some(expr) => self.check(expr, 0, &at).is_ok(),
            None => self.check_text(text, &at).is_ok(),
        }
    }

    /// Checks a Jinja2 template file's syntax.
    pub(super) fn check_template(&self, text: &str, path: &Path) -> Result<(), EngineError> {
        let (env, body, header) = self.file_env(text, path)?;
        env.template_from_str(body)
            .map(|_| ())
            .map_err(|e| below(file_error(&e, body, path), header))
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

/// An error in text from a YAML value that starts at `at`, located in the YAML file.
fn text_error(e: &Error, text: &str, at: &Location) -> EngineError {
    let mut err = file_error(e, text, &at.file);
    if let EngineError::Template { at: a, .. } = &mut err {
        *a = if a.line == 1 {
            shifted(at, a.column - 1)
        } else {
            Location::new(&at.file, at.line + a.line - 1, a.column)
        };
    }
    err
}

/// [`text_error`] for an undefined name, at the name itself: its last mention before the end
/// of the part that failed (minijinja points at what used it: a filter, a loop).
fn undefined_text_error(e: &Error, text: &str, at: &Location) -> EngineError {
    let mut err = text_error(e, text, at);
    let (Some(name), Some(range)) = (undefined_name(e), e.range()) else {
        return err;
    };
    let root = name
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or(name);
    let end = range.end.min(text.len());
    if root.is_empty() || !text.is_char_boundary(end) {
        return err;
    }
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    let before = &text[..end];
    let Some(start) = before
        .match_indices(root)
        .map(|(i, _)| i)
        .filter(|i| {
            !before[..*i].chars().next_back().is_some_and(is_name)
                && !before[i + root.len()..].chars().next().is_some_and(is_name)
        })
        .last()
    else {
        return err;
    };
    let head = &text[..start];
    let line = head.matches('\n').count() + 1;
    let column = head.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    if let EngineError::Template { at: a, .. } = &mut err {
        *a = if line == 1 {
            shifted(at, column - 1)
        } else {
            Location::new(&at.file, at.line + line - 1, column)
        };
    }
    err
}

/// A minijinja error in the template file `path` (whose text is `text`), at its line and
/// column.
fn file_error(e: &Error, text: &str, path: &Path) -> EngineError {
    let (line, column) = match e.range() {
        Some(r) if text.is_char_boundary(r.start.min(text.len())) => {
            let before = &text[..r.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        }
        _ => (e.line().unwrap_or(1), 1),
    };
    EngineError::Template {
        at: Location::new(path, line, column),
        message: message_of(e),
        undefined: e.kind() == ErrorKind::UndefinedError,
    }
}

/// An error in a template file's text under its first `lines` lines, located in the file.
fn below(mut e: EngineError, lines: usize) -> EngineError {
    if let EngineError::Template { at, .. } = &mut e {
        at.line += lines;
    }
    e
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
    EngineError::Template {
        at: shifted(at, offset + start),
        message: message_of(e),
        undefined: e.kind() == ErrorKind::UndefinedError,
    }
}

/// A minijinja error's message in prov's words.
fn message_of(e: &Error) -> String {
    match (e.kind(), e.detail()) {
        // Without its origin, the likely cause.
        (ErrorKind::UndefinedError, Some(super::ansible::HOLDS_UNDEFINED)) => format!(
            "{} (an item or attribute that does not exist, as from map(attribute=...) on items \
             without it)",
            super::ansible::HOLDS_UNDEFINED
        ),
        (ErrorKind::UndefinedError, Some(d)) => undefined_message(d),
        (ErrorKind::UndefinedError, None) => "a name in the expression is not defined".to_owned(),
        (ErrorKind::OutOfFuel, _) => super::budget::BUDGET_EXCEEDED.to_owned(),
        (kind, Some(d)) => format!("{kind}: {d}"),
        (kind, None) => kind.to_string(),
    }
}

/// True when `e`, from [`Jinja::probe`], is about a name `known` does not accept. An undefined
/// value that does not come from such a name (`x | first` where `x` stands for any value and
/// has no first item) is an artifact of the stand-in values, not a finding.
fn names_unknown(e: &Error, known: &Arc<dyn Fn(&str) -> bool + Send + Sync>) -> bool {
    let Some(name) = undefined_name(e) else {
        return false;
    };
    let root = name
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or(name);
    !root.is_empty() && !known(root)
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
        Some(name) if detail.starts_with('`') && !name.contains(['.', '[']) => {
            format!("Variable {text}")
        }
        _ => text,
    }
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
        Jinja::new()
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

    /// Ansible 2.19's undefined values are chainable: looking into one (attribute, item,
    /// method) gives another undefined value, which the guards accept (verified with
    /// ansible-core 2.19: tests/fixtures/ansible_jinja).
    #[test]
    fn undefined_values_chain_as_in_ansible() {
        let v = json!({"foo": {"a": 1}});
        for (expr, want) in [
            ("nope.bar.baz | default('x')", json!("x")),
            ("foo.bar.baz | default('x')", json!("x")),
            ("foo.a.b.c | default(3)", json!(3)),
            ("nope.bar is defined", json!(false)),
            ("foo.bar.baz is undefined", json!(true)),
            ("nope['a']['b'] | default(2)", json!(2)),
            ("(nope | default({})).bar | default(1)", json!(1)),
            ("nope.split(',') | default([])", json!([])),
            ("nope[0] | default(3)", json!(3)),
            ("nope.x is defined and nope.x > 1", json!(false)),
        ] {
            assert_eq!(eval(expr, v.clone()), Ok(want), "{expr}");
        }
    }

    /// ... and strict: using one (printing, truth, comparison, arithmetic, iteration, a
    /// filter) is an error naming the first undefined name of the chain, as Ansible's
    /// "'nope' is undefined".
    #[test]
    fn a_chained_undefined_value_fails_when_used() {
        let v = json!({"foo": {"a": 1}});
        for expr in [
            "nope.bar",
            "not nope.bar",
            "nope.bar == 1",
            "nope.bar + 1",
            "nope.bar ~ 'x'",
            "1 if nope.bar else 2",
            "nope.bar | length",
            "nope.split(',') | length",
        ] {
            let e = eval(expr, v.clone()).unwrap_err();
            assert!(
                e.contains("`nope` is not defined") || e.contains("`nope` is undefined"),
                "{expr}: {e}"
            );
        }
        let e = eval("foo.bar.baz == 1", v).unwrap_err();
        assert!(e.contains("not defined"), "{e}");
    }

    #[test]
    fn errors_point_at_the_undefined_name() {
        let e = eval("x and nope", json!({"x": true})).unwrap_err();
        assert!(
            e.starts_with("p.yml:3:16:") && e.contains("`nope` is not defined"),
            "{e}"
        );
    }

    /// `prov lint`'s probe names the unknown name it finds, and finds nothing where every name
    /// is known: a stand-in value that gives an undefined result (`x | first`) is no finding.
    #[test]
    fn the_probe_names_unknown_names_only() {
        let j = Jinja::new();
        let at = Location::new(Path::new("p.yml"), 3, 11);
        let known: Arc<dyn Fn(&str) -> bool + Send + Sync> =
            Arc::new(|n| n == "cert_item" || n == "item");
        for expr in [
            "cert_item.domains | first",
            "item.domains | first | upper",
            "(item | first).a",
        ] {
            let found = j.probe(expr, 0, known.clone(), &at).map(|e| e.to_string());
            assert_eq!(found, None, "{expr}");
        }
        let text = "a {{ cert_item.domains | first }}";
        assert!(j.probe_text(text, known.clone(), &at).is_none());
        // In text, the finding points at the name, not at the filter that used it.
        let e = j.probe_text("a {{ nope.x | upper }}", known.clone(), &at);
        let e = e.unwrap().to_string();
        assert!(e.starts_with("p.yml:3:16:") && e.contains("`nope`"), "{e}");
        let e = j.probe_text("a\n{% for i in nope %}{% endfor %}", known.clone(), &at);
        let e = e.unwrap().to_string();
        assert!(e.starts_with("p.yml:4:13:") && e.contains("`nope`"), "{e}");
        for (expr, col) in [("item.a ~ nope", 20), ("nope.x | first", 11)] {
            let e = j.probe(expr, 0, known.clone(), &at).unwrap().to_string();
            assert!(
                e.starts_with(&format!("p.yml:3:{col}:"))
                    && e.contains("Variable `nope` is not defined"),
                "{expr}: {e}"
            );
        }
    }
}
