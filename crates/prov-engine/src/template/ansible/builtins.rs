//! Jinja2 built-in filters that minijinja lacks or prints otherwise (`tojson`, `xmlattr`,
//! `pprint`, `filesizeformat`, `wordwrap`), and Ansible's math filters (`log`, `pow`, `root`)
//! and `to_uuid`, each as Python prints its result.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value as MjValue};

use super::filters::{PythonJson, json_of, write_json};
use super::invalid;

/// Registers the filters of this module.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("tojson", tojson_filter);
    env.add_filter("xmlattr", xmlattr_filter);
    env.add_filter("pprint", pprint_filter);
    env.add_filter("filesizeformat", filesizeformat_filter);
    env.add_filter("wordwrap", wordwrap_filter);
    env.add_filter("log", log_filter);
    env.add_filter("pow", pow_filter);
    env.add_filter("root", root_filter);
    env.add_filter("to_uuid", to_uuid_filter);
}

/// Jinja2's `tojson`: `json.dumps` with keys sorted, and `<`, `>`, `&`, `'` escaped as
/// `\u003c`... so that the text is safe inside HTML.
fn tojson_filter(v: MjValue, indent: Option<usize>) -> Result<String, Error> {
    let json = write_json(&json_of(&v, true)?, PythonJson { indent, level: 0 })?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027"))
}

/// Jinja2's `xmlattr`: ` key="value"` for each item whose value is not none or undefined,
/// values HTML-escaped, with the leading space unless `autospace` is false.
fn xmlattr_filter(map: MjValue, autospace: Option<bool>) -> Result<String, Error> {
    if map.kind() != ValueKind::Map {
        return Err(invalid("xmlattr takes a mapping"));
    }
    let mut out = String::new();
    for key in map.try_iter()? {
        let value = map.get_item(&key)?;
        if value.is_none() || value.is_undefined() {
            continue;
        }
        let key = key.to_string();
        if key.contains(|c: char| c.is_whitespace() || "/>=".contains(c)) {
            return Err(invalid(format!(
                "Invalid character in attribute name: {key:?}"
            )));
        }
        out.push_str(&format!(" {key}=\"{}\"", html_escape(&value.to_string())));
    }
    if !autospace.unwrap_or(true) {
        out = out.trim_start().to_owned();
    }
    Ok(out)
}

/// markupsafe's escape.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Jinja2's `pprint`: Python's `pprint.pformat` (width 80): the value's repr when it fits,
/// otherwise one item of a list or mapping per line, nested ones indented under it.
fn pprint_filter(v: MjValue) -> String {
    pformat(&v, 0)
}

const PPRINT_WIDTH: usize = 80;

fn pformat(v: &MjValue, indent: usize) -> String {
    let one_line = repr(v);
    if indent + one_line.len() < PPRINT_WIDTH {
        return one_line;
    }
    match v.kind() {
        ValueKind::Seq => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|item| pformat(&item, indent + 1)).collect())
                .unwrap_or_default();
            wrap_items('[', ']', &items, indent)
        }
        ValueKind::Map => {
            let items: Vec<String> = v
                .try_iter()
                .map(|keys| {
                    keys.map(|k| {
                        let key = format!("{}: ", repr(&k));
                        let value = v.get_item(&k).unwrap_or_default();
                        format!("{key}{}", pformat(&value, indent + 1 + key.len()))
                    })
                    .collect()
                })
                .unwrap_or_default();
            wrap_items('{', '}', &items, indent)
        }
        _ => one_line,
    }
}

/// Python's `repr` of `v`, as minijinja prints it inside a list (`'text'` for a string).
fn repr(v: &MjValue) -> String {
    let in_list = MjValue::from(vec![v.clone()]).to_string();
    in_list[1..in_list.len() - 1].to_owned()
}

/// `items` one per line after `open`, aligned under its first one.
fn wrap_items(open: char, close: char, items: &[String], indent: usize) -> String {
    let sep = format!(",\n{}", " ".repeat(indent + 1));
    format!("{open}{}{close}", items.join(&sep))
}

/// Jinja2's `filesizeformat` (minijinja-contrib's).
fn filesizeformat_filter(value: f64, binary: Option<bool>) -> String {
    minijinja_contrib::filters::filesizeformat(value, binary)
}

/// Jinja2's `wordwrap(width=79, break_long_words=True, wrapstring=None,
/// break_on_hyphens=True)`, positional or by name: each line of the text wrapped as Python's
/// `textwrap.wrap` does (greedy, first fit; through the textwrap crate), lines joined with
/// `wrapstring` (a newline).
fn wordwrap_filter(
    text: String,
    width: Option<usize>,
    break_long_words: Option<bool>,
    wrapstring: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    use textwrap::{Options, WordSplitter, WrapAlgorithm};
    let named = |key: &str| kwargs.get::<Option<MjValue>>(key);
    let width = match named("width")? {
        Some(w) => usize::try_from(w).map_err(|_| invalid("wordwrap: width must be a number"))?,
        None => width.unwrap_or(79),
    };
    let break_long_words =
        named("break_long_words")?.map_or(break_long_words.unwrap_or(true), |v| v.is_true());
    let break_on_hyphens = named("break_on_hyphens")?.is_none_or(|v| v.is_true());
    let wrapstring = match named("wrapstring")? {
        Some(s) => s.to_string(),
        None => wrapstring.unwrap_or_else(|| "\n".to_owned()),
    };
    kwargs.assert_all_used()?;
    let options = Options::new(width)
        .wrap_algorithm(WrapAlgorithm::FirstFit)
        .break_words(break_long_words)
        .word_splitter(if break_on_hyphens {
            WordSplitter::HyphenSplitter
        } else {
            WordSplitter::NoHyphenation
        });
    let lines: Vec<String> = text
        .lines()
        .map(|line| textwrap::wrap(line, &options).join(&wrapstring))
        .collect();
    Ok(lines.join(&wrapstring))
}

/// Ansible's `log`: the natural logarithm, or in `base`.
fn log_filter(x: f64, base: Option<f64>) -> f64 {
    match base {
        Some(b) => x.ln() / b.ln(),
        None => x.ln(),
    }
}

/// Ansible's `pow`: `math.pow`, always a float.
fn pow_filter(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// Ansible's `root`: the square root, or the `base`th root.
fn root_filter(x: f64, base: Option<f64>) -> f64 {
    match base {
        None | Some(2.0) => x.sqrt(),
        Some(b) => x.powf(1.0 / b),
    }
}

/// Ansible's default `to_uuid` namespace.
const ANSIBLE_NAMESPACE: &str = "361E6D51-FAEC-444A-9079-341386DA8E2E";

/// Ansible's `to_uuid`: the UUID version 5 of the text in `namespace`.
fn to_uuid_filter(
    text: String,
    namespace: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let namespace = match kwargs.get::<Option<String>>("namespace")? {
        Some(n) => n,
        None => namespace.unwrap_or_else(|| ANSIBLE_NAMESPACE.to_owned()),
    };
    kwargs.assert_all_used()?;
    let namespace = uuid::Uuid::parse_str(&namespace)
        .map_err(|e| invalid(format!("to_uuid: namespace {namespace:?}: {e}")))?;
    Ok(uuid::Uuid::new_v5(&namespace, text.as_bytes()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(expr: &str) -> String {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(expr, ()).unwrap()
    }

    #[test]
    fn pprint_wraps_what_does_not_fit_as_pformat() {
        assert_eq!(render("{{ {'a': 1} | pprint }}"), "{'a': 1}");
        // Python 3.11's pprint.pformat of these two values.
        let x = "x".repeat(40);
        let fits = "{{ {'first': 'x' * 40, 'second': ['y' * 30, 'z' * 30]} | pprint }}";
        let (y, z) = ("y".repeat(30), "z".repeat(30));
        assert_eq!(
            render(fits),
            format!("{{'first': '{x}',\n 'second': ['{y}', '{z}']}}")
        );
        let wraps = "{{ {'first': 'x' * 40, 'second': ['y' * 40, 'z' * 40]} | pprint }}";
        let (y, z) = ("y".repeat(40), "z".repeat(40));
        assert_eq!(
            render(wraps),
            format!("{{'first': '{x}',\n 'second': ['{y}',\n            '{z}']}}")
        );
    }

    #[test]
    fn xmlattr_skips_none_and_escapes() {
        assert_eq!(
            render("{{ {'a': 'x<y', 'b': none, 'c': 1} | xmlattr }}"),
            " a=\"x&lt;y\" c=\"1\""
        );
    }
}
