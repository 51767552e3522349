//! The Jinja2 dialect of content written for Ansible, rendered by minijinja configured to
//! behave as Ansible's templar: undefined values are Ansible's, chainable and strict (looking
//! into one, `foo.bar.baz`, gives another; using one, printing, iterating, testing its truth,
//! comparing or computing with it, is an error naming it; `is defined` and `default` accept
//! it), block tags take their newline with
//! them (`trim_blocks`), a template's final newline is kept, values print as Python prints them
//! (`True`, `['a', 'b']`), strings have Python's methods (`.split()`, `.items()`), and
//! Ansible's filters and tests are there. Conditions of every dialect are evaluated here too.

use std::cell::RefCell;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Serde, ValueKind};
use minijinja::{Environment, UndefinedBehavior, Value as MjValue};

mod builtins;
mod filters;
mod filters_more;
mod jinja_tests;
mod lookups;
mod password_hash;
mod pyrandom;
mod pyyaml;
mod text;
mod version;

pub(super) use lookups::lookup_items;

/// An error of a filter, test or lookup given a value or argument it cannot take.
pub(super) fn invalid(msg: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg.into())
}

/// The error of [`ensure_defined_inside`]; minijinja adds "(`x` is undefined)" when it knows
/// where the undefined value came from.
pub(super) const HOLDS_UNDEFINED: &str = "the result holds an undefined value";

/// Ansible's finalization of a result: a list or mapping that holds an undefined value (the
/// items without the attribute `map(attribute='x')` asked for) fails, as printed text or as a
/// value, where minijinja would print `undefined` or keep `null`. Sized lazy sequences
/// (`[1] + [x]`) are looked into; unsized ones, generators such as `map(...)`, are left alone
/// (`map(...) | select('defined')` is fine), as are values nested over 256 levels.
pub(super) fn ensure_defined_inside(value: &MjValue) -> Result<(), minijinja::Error> {
    /// The first undefined value inside `value` (or `value` itself).
    fn undefined_in(value: &MjValue, depth: usize) -> Option<MjValue> {
        if value.is_undefined() {
            return Some(value.clone());
        }
        let obj = value.as_object().filter(|_| depth < 256)?;
        let sized_iterable = value.kind() == ValueKind::Iterable && value.len().is_some();
        if !(matches!(value.kind(), ValueKind::Seq | ValueKind::Map) || sized_iterable) {
            return None;
        }
        obj.try_iter_pairs()?
            .find_map(|(_, item)| undefined_in(&item, depth + 1))
    }
    if value.is_undefined() {
        return Ok(());
    }
    match undefined_in(value, 0) {
        // The error names the expression the undefined value came from (patched minijinja).
        Some(undefined) => Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            HOLDS_UNDEFINED,
        )
        .about_undefined(&undefined)),
        None => Ok(()),
    }
}

/// The Ansible environment, for Jinja2 in YAML values and conditions.
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(super::budget::RENDER_FUEL));
    // minijinja patched by prov (vendor/minijinja/PROV-PATCH.md): Strict, but chainable.
    env.set_undefined_behavior(UndefinedBehavior::StrictChainable);
    // `x | ansible.builtin.to_json`, `x is ansible.builtin.match(..)`: Ansible 2.19 resolves
    // every filter and test, Jinja2's included, under `ansible.builtin` (patched minijinja).
    env.set_builtin_namespace(Some("ansible.builtin"));
    // Undefined values remember the name they came from, so that an error names it ("Variable
    // `x` is not defined"). minijinja does so only in debug mode, which is on by default in
    // debug builds only: a release build said "a name in the expression is not defined".
    env.set_debug(true);
    // In YAML values Ansible keeps `'\1'` as written (patched minijinja again); template files
    // process escapes as Jinja2 does ([`file_syntax`]).
    if let Ok(syntax) = file_syntax(&Overrides::default())
        .raw_string_literals(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    // A template's trailing newlines are put back by [`keep_trailing_newlines`].
    filters::register(&mut env);
    builtins::register(&mut env);
    filters_more::register(&mut env);
    password_hash::register(&mut env);
    pyrandom::register(&mut env);
    text::register(&mut env);
    // Ansible prints `None` as nothing in text (`v={{ none }}` is `v=`), and as `None` inside
    // a list or mapping.
    env.set_formatter(|out, state, value| {
        record_emitted(value);
        if value.is_none() {
            return Ok(());
        }
        ensure_defined_inside(value)?;
        minijinja::escape_formatter(out, state, value)
    });
    jinja_tests::register(&mut env);
    lookups::register(&mut env);
    env
}

thread_local! {
    /// The values `{{ }}` tags emitted while [`with_emitted`] records (two at most: all that
    /// matters is whether there was exactly one).
    static EMITTED: RefCell<Option<Vec<MjValue>>> = const { RefCell::new(None) };
}

fn record_emitted(value: &MjValue) {
    EMITTED.with(|e| {
        if let Some(values) = e.borrow_mut().as_mut()
            && values.len() < 2
        {
            values.push(value.clone());
        }
    });
}

/// Runs `render` recording the values its `{{ }}` tags emit (at most two kept). Ansible 2.19
/// keeps the type of a template that emits exactly one value and no text around it
/// (`{% set ... %}{{ ns.found }}` is a boolean).
pub(super) fn with_emitted<T>(render: impl FnOnce() -> T) -> (T, Vec<MjValue>) {
    EMITTED.with(|e| *e.borrow_mut() = Some(Vec::new()));
    let out = render();
    let values = EMITTED.with(|e| e.borrow_mut().take()).unwrap_or_default();
    (out, values)
}

/// The settings a template file's `#jinja2:` first line may change (Ansible's
/// `JINJA2_OVERRIDE`): `trim_blocks`, `lstrip_blocks` and the delimiters.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Overrides {
    pub trim_blocks: Option<bool>,
    pub lstrip_blocks: Option<bool>,
    pub variable: (Option<String>, Option<String>),
    pub block: (Option<String>, Option<String>),
    pub comment: (Option<String>, Option<String>),
}

/// Splits a template file's `#jinja2: key: value, ...` first line off `text`, as Ansible
/// does: the values are Python literals (`True`, `'[%'`). `Err` for a line Ansible refuses.
pub(super) fn split_overrides(text: &str) -> Result<(Overrides, &str), String> {
    let Some(rest) = text.strip_prefix("#jinja2:") else {
        return Ok((Overrides::default(), text));
    };
    let (line, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let mut o = Overrides::default();
    for pair in line.split(',') {
        let (key, value) = pair
            .split_once(':')
            .ok_or_else(|| format!("#jinja2: `{}` is not `key: value`", pair.trim()))?;
        let value = value.trim();
        let flag = || match value {
            "True" => Ok(true),
            "False" => Ok(false),
            other => Err(format!(
                "#jinja2: {}: `{other}` is not True or False",
                key.trim()
            )),
        };
        let text = || {
            let q = value.chars().next().filter(|c| *c == '\'' || *c == '"');
            match q {
                Some(q) if value.len() >= 2 && value.ends_with(q) => {
                    Ok(Some(value[1..value.len() - 1].to_owned()))
                }
                _ => Err(format!(
                    "#jinja2: {}: `{value}` is not a quoted string",
                    key.trim()
                )),
            }
        };
        match key.trim() {
            "trim_blocks" => o.trim_blocks = Some(flag()?),
            "lstrip_blocks" => o.lstrip_blocks = Some(flag()?),
            "variable_start_string" => o.variable.0 = text()?,
            "variable_end_string" => o.variable.1 = text()?,
            "block_start_string" => o.block.0 = text()?,
            "block_end_string" => o.block.1 = text()?,
            "comment_start_string" => o.comment.0 = text()?,
            "comment_end_string" => o.comment.1 = text()?,
            // Settings with no effect on prov's rendering (the final newline is Ansible's rule).
            "keep_trailing_newline" | "newline_sequence" => {}
            other => return Err(format!("#jinja2: `{other}` is not a setting prov knows")),
        }
    }
    Ok((o, body))
}

/// The syntax of a template file: `trim_blocks` on, as Ansible's template module sets it,
/// with the `#jinja2:` overrides.
pub(super) fn file_syntax(o: &Overrides) -> minijinja::syntax::SyntaxConfigBuilder {
    let mut b = minijinja::syntax::SyntaxConfig::builder();
    b.trim_blocks(o.trim_blocks.unwrap_or(true))
        .lstrip_blocks(o.lstrip_blocks.unwrap_or(false));
    let pick = |v: &Option<String>, d: &'static str| v.clone().unwrap_or_else(|| d.to_owned());
    b.variable_delimiters(pick(&o.variable.0, "{{"), pick(&o.variable.1, "}}"));
    b.block_delimiters(pick(&o.block.0, "{%"), pick(&o.block.1, "%}"));
    b.comment_delimiters(pick(&o.comment.0, "{#"), pick(&o.comment.1, "#}"));
    b
}

/// Ansible's `preserve_trailing_newlines`: Jinja2 drops a template's final newline; the
/// output then gets back as many as the template ended with, if it has fewer.
pub(super) fn keep_trailing_newlines(template: &str, mut out: String) -> String {
    let count = |s: &str| s.len() - s.trim_end_matches('\n').len();
    let (wanted, has) = (count(template), count(&out));
    if wanted > has {
        out.push_str(&"\n".repeat(wanted - has));
    }
    out
}

/// The variables a template or condition sees: a tera context, converted one name at a time
/// as it is looked up (a condition reads a few names out of hundreds), and `extra` values
/// (the template module's `ansible_managed`, `template_path`...) under them.
#[derive(Debug)]
pub(super) struct Scope {
    vars: tera::Context,
    extra: Vec<(&'static str, MjValue)>,
}

impl Scope {
    /// The variables of `ctx`.
    pub(super) fn new(ctx: &tera::Context) -> Self {
        Self {
            vars: ctx.clone(),
            extra: Vec::new(),
        }
    }

    /// The same, with `extra` values under the variables.
    pub(super) fn with_extra(ctx: &tera::Context, extra: Vec<(&'static str, MjValue)>) -> Self {
        Self {
            vars: ctx.clone(),
            extra,
        }
    }
}

impl Object for Scope {
    /// The variables' names (what `lookup('varnames', ...)` searches).
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names = self.vars.keys().chain(self.extra.iter().map(|(k, _)| *k));
        Enumerator::Values(names.map(MjValue::from).collect())
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let name = key.as_str()?;
        if let Some(v) = self.vars.get(name) {
            return Some(MjValue::from(Serde(v)));
        }
        self.extra
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The template module's extra variables for the template at `path`.
pub(super) fn template_file_vars(path: &std::path::Path) -> Vec<(&'static str, MjValue)> {
    let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let uid = std::fs::metadata(path).map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    vec![
        ("ansible_managed", MjValue::from("Ansible managed")),
        ("template_path", MjValue::from(path.display().to_string())),
        (
            "template_fullpath",
            MjValue::from(full.display().to_string()),
        ),
        ("template_host", MjValue::from(host.trim())),
        ("template_uid", uid.map(MjValue::from).unwrap_or_default()),
    ]
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    /// Undefined values keep the name they came from in every build (minijinja's debug mode,
    /// on by default only with debug assertions): errors say which name is not defined.
    #[test]
    fn undefined_errors_name_their_variable_in_every_build() {
        let env = super::environment();
        assert!(env.debug());
        let err = env.render_str("{{ nope.x | upper }}", ()).unwrap_err();
        assert!(
            format!("{err:?}").contains("`nope` is undefined"),
            "{err:?}"
        );
    }

    /// Printing a list that holds an undefined item fails, as Ansible's finalization does;
    /// filtering the undefined items out first is fine.
    #[test]
    fn printed_results_must_not_hold_undefined_values() {
        let env = super::environment();
        let users = context! { users => vec![context! { shell => "/bin/sh" }, context! {}] };
        let render = |t: &str| env.render_str(t, users.clone());
        let err = render("{{ users | map(attribute='shell') | list }}").unwrap_err();
        assert!(
            err.to_string().contains("holds an undefined value"),
            "{err}"
        );
        assert!(render("{{ {'k': users[1].nope} }}").is_err());
        assert_eq!(
            render("{{ users | map(attribute='shell') | select('defined') | list }}").unwrap(),
            "['/bin/sh']"
        );
    }

    /// Filters and tests answer to their FQCN too, as in ansible-core 2.19 (checked there:
    /// `ansible.builtin.map`, `ansible.builtin.upper`, `ansible.builtin.match`).
    #[test]
    fn builtin_filters_and_tests_by_fqcn() {
        let env = super::environment();
        let render = |t: &str| env.render_str(t, context! { x => "a" });
        assert_eq!(
            render("{{ [1, 2] | ansible.builtin.map('string') | list | ansible.builtin.to_json }}")
                .unwrap(),
            r#"["1", "2"]"#
        );
        assert_eq!(
            render("{{ x is ansible.builtin.match('a') }}").unwrap(),
            "True"
        );
        assert_eq!(render("{{ x | ansible.builtin.upper }}").unwrap(), "A");
        assert_eq!(
            render("{{ nope | ansible.builtin.default('d') }}").unwrap(),
            "d",
            "an undefined value may reach default by its FQCN"
        );
        assert_eq!(
            render("{{ nope is ansible.builtin.defined }}").unwrap(),
            "False"
        );
        assert!(render("{{ x | ansible.builtin.nonesuch }}").is_err());
        assert!(render("{{ x | community.general.upper }}").is_err());
    }
}
