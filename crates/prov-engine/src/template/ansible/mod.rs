//! The Jinja2 dialect of content written for Ansible, rendered by minijinja configured to
//! behave as Ansible's templar: undefined values are Ansible's, chainable and strict (looking
//! into one, `foo.bar.baz`, gives another; using one, printing, iterating, testing its truth,
//! comparing or computing with it, is an error naming it; `is defined` and `default` accept
//! it), block tags take their newline with
//! them (`trim_blocks`), a template's final newline is kept, values print as Python prints them
//! (`True`, `['a', 'b']`), strings have Python's methods (`.split()`, `.items()`), and
//! Ansible's filters and tests are there. Conditions of every dialect are evaluated here too.

use std::sync::Arc;

use minijinja::value::{Object, Serde};
use minijinja::{Environment, UndefinedBehavior, Value as MjValue};

mod filters;
mod jinja_tests;
mod lookups;

pub(super) use lookups::lookup_items;

/// The Ansible environment.
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // minijinja patched by prov (vendor/minijinja/PROV-PATCH.md): Strict, but chainable.
    env.set_undefined_behavior(UndefinedBehavior::StrictChainable);
    // A template's trailing newlines are put back by [`keep_trailing_newlines`].
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    filters::register(&mut env);
    jinja_tests::register(&mut env);
    lookups::register(&mut env);
    env
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
