//! The render budget of both template engines, and prov's own filters charged to it.
//!
//! minijinja's fuel, and the same budget patched into tera (vendor/tera/PROV-PATCH.md): one
//! fuel per instruction and per 64 bytes a template writes or builds, checked before a value
//! of known size is allocated. A template that grows a value without bound fails its task
//! instead of exhausting the controller's memory (an allocation failure aborts a Rust
//! process). prov's filters charge *before* they build a value whose size their arguments
//! decide (`comment(prefix_count=10**10)`, `'{:>9999999999}'.format(x)`); what any filter
//! returns is charged again after the call by the engine.

use minijinja::{Error, State, Value};
use serde_json::Value as Json;

/// The fuel of one render (a template file, a YAML value, a condition): about 512 MiB of data
/// or 8 million steps, far beyond what configuration files need.
pub(crate) const RENDER_FUEL: u64 = 8 << 20;

/// What a render that used up [`RENDER_FUEL`] fails with (the words of tera's patch).
pub(crate) const BUDGET_EXCEEDED: &str =
    "the template exceeded its render budget: does it grow a value in a loop?";

/// Bytes one slot of a list costs (minijinja's `Value` is 24 bytes).
pub(crate) const SLOT_BYTES: u64 = 24;

/// Charges `bytes` of data about to be created by a minijinja filter; fails the render once
/// the budget is spent.
pub(crate) fn charge(state: &State, bytes: u64) -> Result<(), Error> {
    state.consume_fuel(bytes / 64 + 1)
}

/// Charges `steps` of work about to be done by a filter whose arguments decide its cost
/// (`password_hash`'s rounds); fails the render once the budget is spent.
pub(crate) fn charge_steps(state: &State, steps: u64) -> Result<(), Error> {
    state.consume_fuel(steps)
}

/// An upper bound of the padding `str.format` adds for `text`'s replacement fields: every
/// number inside a `{...}` (widths and precisions) counted as that many bytes.
fn format_field_widths(text: &str) -> u64 {
    let mut total = 0u64;
    for field in text.split('{').skip(1) {
        let spec = field.split('}').next().unwrap_or_default();
        for number in spec.split(|c: char| !c.is_ascii_digit()) {
            // A number too large for u64 is too large to pad with.
            let width = match number {
                "" => 0,
                n => n.parse::<u64>().unwrap_or(u64::MAX),
            };
            total = total.saturating_add(width);
        }
    }
    total
}

/// The bytes `to_nice_json` spends on indentation for `v`: `indent` per level on every line.
pub(crate) fn indentation_bytes(v: &Json, indent: u64, level: u64) -> u64 {
    let children: Box<dyn Iterator<Item = &Json>> = match v {
        Json::Array(items) => Box::new(items.iter()),
        Json::Object(map) => Box::new(map.values()),
        _ => return 0,
    };
    let mut total = indent.saturating_mul(level + 1);
    for child in children {
        total = total
            .saturating_add(indent.saturating_mul(level + 1))
            .saturating_add(indentation_bytes(child, indent, level + 1));
    }
    total
}

/// The methods Python strings have, as minijinja-contrib's `pycompat` provides them, with
/// `format` charged for the padding its fields ask for before it pads.
pub(crate) fn method_callback(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let ("format", Some(text)) = (method, value.as_str()) {
        charge(state, format_field_widths(text))?;
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// `re.replacen(text, count, replacement)` (`count` 0: every match) with each match charged
/// through `charge` before it is expanded: at most the text before it and the replacement's,
/// plus the whole match per group reference (a group lies inside its match).
pub(crate) fn replace_charged<E>(
    re: &regex::Regex,
    text: &str,
    count: usize,
    replacement: &str,
    mut charge: impl FnMut(u64) -> Result<(), E>,
) -> Result<String, E> {
    let refs = replacement.matches('$').count() as u64;
    let limit = if count == 0 { usize::MAX } else { count };
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(text).take(limit) {
        let Some(m) = caps.get(0) else { continue };
        let bound = (m.start() - last + replacement.len()) as u64;
        charge(bound.saturating_add(refs.saturating_mul(m.len() as u64)))?;
        out.push_str(&text[last..m.start()]);
        caps.expand(replacement, &mut out);
        last = m.end();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;
    use crate::template::Templar;
    use serde_json::json;

    /// Each of these asked the allocator for gigabytes and aborted the process before the
    /// budget: now each fails its evaluation with the budget's message.
    #[test]
    fn values_sized_by_arguments_fail_on_the_budget_not_the_allocator() {
        let t = Templar::new();
        let ctx = Templar::context(&serde_json::Map::new());
        let at = Location::new(std::path::Path::new("t.yml"), 1, 1);
        for expr in [
            "'x' * 10000000000",
            "'{:>10000000000}'.format(1)",
            "('a' * 1000000) | regex_replace('a', 'x' * 100000)",
            "[1] | to_nice_json(indent=10000000000)",
            "'x' | comment(prefix_count=10000000000)",
            "range(100000) | product(range(100000)) | list",
            "[1, 2] | product(repeat=100) | list",
        ] {
            let value = json!(format!("{{{{ {expr} }}}}"));
            let err = t
                .render_value(&value, &ctx, &at)
                .expect_err(expr)
                .to_string();
            assert!(err.contains(BUDGET_EXCEEDED), "{expr}: {err}");
        }
    }

    #[test]
    fn format_widths_sum_the_numbers_inside_fields() {
        assert_eq!(format_field_widths("{:>10} {0:.3f} x100 {}"), 10 + 3);
        assert_eq!(format_field_widths("{:>99999999999999999999999}"), u64::MAX);
        assert_eq!(format_field_widths("no fields 42"), 0);
    }

    #[test]
    fn replace_charged_replaces_as_replacen_and_charges_each_match() {
        let re = regex::Regex::new("(a)").unwrap();
        let mut charged = Vec::new();
        let out = replace_charged(&re, "xaya", 0, "<$1$1>", |n| {
            charged.push(n);
            Ok::<_, ()>(())
        });
        assert_eq!(out.as_deref(), Ok("x<aa>y<aa>"));
        assert_eq!(out.unwrap(), re.replacen("xaya", 0, "<$1$1>"));
        assert_eq!(charged, [1 + 6 + 2, 1 + 6 + 2]);
        let refused = replace_charged(&re, "aaa", 2, "b", |_| Err("spent"));
        assert_eq!(refused, Err("spent"));
        assert_eq!(
            replace_charged(&re, "aaa", 2, "b", |_| Ok::<_, ()>(())),
            Ok("bba".into())
        );
    }

    #[test]
    fn indentation_grows_with_depth_and_width() {
        assert_eq!(indentation_bytes(&json!(1), 4, 0), 0);
        assert_eq!(indentation_bytes(&json!([1, 2]), 4, 0), 4 + 2 * 4);
        assert_eq!(
            indentation_bytes(&json!([[1]]), 1_000_000_000, 0),
            6_000_000_000
        );
    }
}
