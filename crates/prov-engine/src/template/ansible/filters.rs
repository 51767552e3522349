//! Ansible's filters (and prov's), for conditions and Jinja2 templates. Arguments are taken
//! positionally as in Jinja2 and, where prov's tera dialect names them, by name as well.

use minijinja::value::{Kwargs, Rest, Serde};
use minijinja::{Environment, Error, ErrorKind, State, Value as MjValue};

use crate::template::budget::charge;
use serde_json::Value;

use super::invalid;

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

fn ternary_filter(v: MjValue, rest: Rest<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let yes = arg(rest.first().cloned(), &kwargs, "true_value")?;
    let no = arg(rest.get(1).cloned(), &kwargs, "false_value")?;
    let none = arg(rest.get(2).cloned(), &kwargs, "none_val")?;
    kwargs.assert_all_used()?;
    let (Some(yes), Some(no)) = (yes, no) else {
        return Err(invalid("ternary needs a true value and a false value"));
    };
    Ok(match none {
        Some(none) if v.is_none() => none,
        _ if v.is_true() => yes,
        _ => no,
    })
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

/// Ansible's `to_json`: Python's `json.dumps` (`", "` and `": "` separators, keys in order).
fn to_json_filter(v: MjValue, kwargs: Kwargs) -> Result<String, Error> {
    let sort = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let v = json_of(&v, sort)?;
    write_json(
        &v,
        PythonJson {
            indent: None,
            level: 0,
        },
    )
}

/// Ansible's `to_nice_json`: indented by 4 (or `indent`), keys sorted.
fn to_nice_json_filter(
    state: &State,
    v: MjValue,
    indent: Option<usize>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let indent = match indent {
        Some(i) => i,
        None => kwargs.get::<Option<usize>>("indent")?.unwrap_or(4),
    };
    let sort = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let v = json_of(&v, sort)?;
    charge(
        state,
        crate::template::budget::indentation_bytes(&v, indent as u64, 0),
    )?;
    write_json(
        &v,
        PythonJson {
            indent: Some(indent),
            level: 0,
        },
    )
}

/// `v` as JSON, with map keys sorted when `sort`.
pub(super) fn json_of(v: &MjValue, sort: bool) -> Result<Value, Error> {
    let mut j = serde_json::to_value(v).map_err(|e| invalid(e.to_string()))?;
    if sort {
        sort_keys(&mut j);
    }
    Ok(j)
}

fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut val) in entries {
                sort_keys(&mut val);
                m.insert(k, val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Python's `json.dumps` layout: `", "`/`": "` separators inline, or `indent` spaces per
/// level with `","` at line ends.
#[derive(Clone, Copy)]
pub(super) struct PythonJson {
    pub(super) indent: Option<usize>,
    pub(super) level: usize,
}

pub(super) fn write_json(v: &Value, f: PythonJson) -> Result<String, Error> {
    let mut out = String::new();
    json_into(v, f, &mut out)?;
    Ok(out)
}

fn json_into(v: &Value, f: PythonJson, out: &mut String) -> Result<(), Error> {
    let inner = PythonJson {
        level: f.level + 1,
        ..f
    };
    let (open, close, items): (char, char, Vec<(Option<&String>, &Value)>) = match v {
        Value::Array(a) => ('[', ']', a.iter().map(|x| (None, x)).collect()),
        Value::Object(m) => ('{', '}', m.iter().map(|(k, x)| (Some(k), x)).collect()),
        Value::String(text) => {
            ascii_json_string(text, out);
            return Ok(());
        }
        scalar => {
            out.push_str(&serde_json::to_string(scalar).map_err(|e| invalid(e.to_string()))?);
            return Ok(());
        }
    };
    out.push(open);
    for (i, (key, item)) in items.iter().enumerate() {
        match f.indent {
            Some(n) => {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&" ".repeat(n * inner.level));
            }
            None if i > 0 => out.push_str(", "),
            None => {}
        }
        if let Some(k) = key {
            ascii_json_string(k, out);
            out.push_str(": ");
        }
        json_into(item, inner, out)?;
    }
    if let (Some(n), false) = (f.indent, items.is_empty()) {
        out.push('\n');
        out.push_str(&" ".repeat(n * f.level));
    }
    out.push(close);
    Ok(())
}

/// A JSON string as Python's `json.dumps` writes it by default (`ensure_ascii`): characters
/// outside ASCII as `\uXXXX` escapes (UTF-16 pairs above U+FFFF).
fn ascii_json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || !c.is_ascii() => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Ansible's `to_yaml` / `to_nice_yaml` (block style; `to_nice_yaml` sorts keys as Ansible
/// does by default).
fn to_yaml_filter(v: MjValue, kwargs: Kwargs) -> Result<String, Error> {
    yaml_of(&v, &kwargs, 2, true)
}

fn to_nice_yaml_filter(v: MjValue, kwargs: Kwargs) -> Result<String, Error> {
    yaml_of(&v, &kwargs, 4, false)
}

/// PyYAML's `yaml.dump` of `v` ([`super::pyyaml`]), keys sorted unless `sort_keys=false`.
fn yaml_of(
    v: &MjValue,
    kwargs: &Kwargs,
    indent: usize,
    flow_leaves: bool,
) -> Result<String, Error> {
    let sort = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(indent);
    if let Some(false) = kwargs.get::<Option<bool>>("default_flow_style")? {
        return Ok(super::pyyaml::Dumper::new(indent, false).dump(&json_of(v, sort)?));
    }
    kwargs.assert_all_used()?;
    Ok(super::pyyaml::Dumper::new(indent, flow_leaves).dump(&json_of(v, sort)?))
}

fn from_yaml_filter(v: String) -> Result<MjValue, Error> {
    // Read as the engine reads YAML files: YAML 1.1's `yes`/`off` are booleans, as in PyYAML.
    let doc = crate::yaml::load_str(
        &v,
        std::path::Path::new("from_yaml"),
        &crate::yaml::NoSecrets,
    )
    .map_err(|e| invalid(e.to_string()))?;
    Ok(MjValue::from(Serde(doc.value)))
}

/// Ansible's `regex_replace(pattern, replacement, ignorecase, multiline)`; `\1` and `\g<1>`
/// back-references.
fn regex_replace_filter(
    state: &State,
    v: String,
    rest: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let text = |i: usize, name: &str| -> Result<Option<String>, Error> {
        Ok(arg(rest.get(i).cloned(), &kwargs, name)?
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
    };
    let pattern = text(0, "pattern")?.unwrap_or_default();
    let replacement = text(1, "replacement")?.unwrap_or_default();
    let ignorecase = arg(rest.get(2).cloned(), &kwargs, "ignorecase")?.is_some_and(|v| v.is_true());
    let multiline = arg(rest.get(3).cloned(), &kwargs, "multiline")?.is_some_and(|v| v.is_true());
    let count = match arg(rest.get(4).cloned(), &kwargs, "count")? {
        Some(c) => usize::try_from(c).map_err(|_| invalid("regex_replace: count is a number"))?,
        None => 0,
    };
    kwargs.assert_all_used()?;
    let re = regex::RegexBuilder::new(&pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    let replacement = python_replacement(&replacement);
    crate::template::budget::replace_charged(&re, &v, count, &replacement, |n| charge(state, n))
}

/// A Python `re.sub` replacement template as a `regex` crate one: `\1`, `\g<1>` and
/// `\g<name>` are groups, `\\` a backslash, `\n`/`\t`/`\r` control characters, `$` itself.
fn python_replacement(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        group.push(d);
                        chars.next();
                        if group.len() == 2 {
                            break;
                        }
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    chars.next();
                    let mut name = String::new();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        for n in chars.by_ref() {
                            if n == '>' {
                                break;
                            }
                            name.push(n);
                        }
                    }
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(e @ ('\\' | 'n' | 't' | 'r')) => {
                    chars.next();
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        _ => '\\',
                    });
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// Ansible's `comment(style='plain')`: the text between a prefix and a postfix line, each
/// line decorated (`#` by default).
fn comment_filter(
    state: &State,
    v: String,
    style: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let (mut beginning, mut decoration, mut end) = match style.as_deref().unwrap_or("plain") {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => return Err(invalid(format!("comment: unknown style `{other}`"))),
    };
    let owned: Vec<Option<String>> = ["beginning", "decoration", "end", "prefix", "postfix"]
        .iter()
        .map(|k| kwargs.get::<Option<String>>(k))
        .collect::<Result<_, _>>()?;
    let prefix_count = kwargs.get::<Option<usize>>("prefix_count")?.unwrap_or(1);
    let postfix_count = kwargs.get::<Option<usize>>("postfix_count")?.unwrap_or(1);
    let newline = kwargs
        .get::<Option<String>>("newline")?
        .unwrap_or_else(|| "\n".into());
    kwargs.assert_all_used()?;
    if let Some(b) = &owned[0] {
        beginning = b;
    }
    if let Some(d) = &owned[1] {
        decoration = d;
    }
    if let Some(e) = &owned[2] {
        end = e;
    }
    let bare = decoration.trim_end().to_owned();
    let prefix = owned[3].clone().unwrap_or_else(|| bare.clone());
    let postfix = owned[4].clone().unwrap_or(bare);
    let line_bytes = |line: &str, n: usize| (line.len() + newline.len()) as u64 * n as u64;
    charge(
        state,
        line_bytes(&prefix, prefix_count).saturating_add(line_bytes(&postfix, postfix_count)),
    )?;
    let mut lines: Vec<String> = Vec::new();
    if !beginning.is_empty() {
        lines.push(beginning.to_owned());
    }
    lines.extend(std::iter::repeat_n(prefix, prefix_count));
    lines.extend(
        v.split('\n')
            .map(|l| format!("{decoration}{l}").trim_end().to_owned()),
    );
    lines.extend(std::iter::repeat_n(postfix, postfix_count));
    if !end.is_empty() {
        lines.push(end.to_owned());
    }
    Ok(lines.join(&newline))
}

/// Ansible's `combine(*dicts, recursive=False, list_merge='replace')`.
fn combine_filter(v: MjValue, rest: Rest<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = kwargs
        .get::<Option<String>>("list_merge")?
        .unwrap_or_else(|| "replace".into());
    kwargs.assert_all_used()?;
    // Ansible flattens the terms one level: `[d1, d2] | combine` merges the list.
    let mut layers = Vec::new();
    for term in std::iter::once(&v).chain(rest.iter()) {
        match json_of(term, false)? {
            Value::Array(items) => layers.extend(items),
            other => layers.push(other),
        }
    }
    let mut layers = layers.into_iter();
    let Some(mut out) = layers.next() else {
        return Ok(MjValue::from(Serde(Value::Object(Default::default()))));
    };
    for layer in layers {
        merge(&mut out, layer, recursive, &list_merge)?;
    }
    Ok(MjValue::from(Serde(out)))
}

/// Python's `dict(mapping_or_pairs, **kwargs)` (the `dict` function and
/// `community.general.dict`): a mapping's items or a sequence of key/value pairs, then the
/// keyword arguments.
fn dict_function(v: Option<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let mut pairs = Vec::new();
    match &v {
        None => {}
        Some(m) if m.kind() == minijinja::value::ValueKind::Map => {
            for k in m.try_iter()? {
                let item = m.get_item(&k)?;
                pairs.push((k, item));
            }
        }
        Some(seq) if seq.as_str().is_none() => {
            for (n, pair) in seq.try_iter()?.enumerate() {
                let items: Vec<MjValue> =
                    pair.try_iter().map(Iterator::collect).unwrap_or_default();
                let [k, item] = <[MjValue; 2]>::try_from(items).map_err(|items| {
                    invalid(format!(
                        "dict: update sequence element #{n} has length {}; 2 is required",
                        items.len()
                    ))
                })?;
                pairs.push((k, item));
            }
        }
        Some(other) => return Err(invalid(format!("dict: cannot make a mapping of `{other}`"))),
    }
    for key in kwargs.args() {
        pairs.push((MjValue::from(key), kwargs.get::<MjValue>(key)?));
    }
    kwargs.assert_all_used()?;
    Ok(MjValue::from_pairs(pairs))
}

fn merge(into: &mut Value, from: Value, recursive: bool, list_merge: &str) -> Result<(), Error> {
    let (Value::Object(a), Value::Object(b)) = (&mut *into, &from) else {
        return Err(invalid("combine: expects mappings"));
    };
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(old @ Value::Object(_)), Value::Object(_)) if recursive => {
                merge(old, v.clone(), recursive, list_merge)?
            }
            (Some(Value::Array(old)), Value::Array(new)) if list_merge != "replace" => {
                match list_merge {
                    "append" => old.extend(new.iter().cloned()),
                    "prepend" => {
                        let mut n = new.clone();
                        n.append(old);
                        *old = n;
                    }
                    "append_rp" | "prepend_rp" | "keep" => {
                        if list_merge == "keep" {
                            continue;
                        }
                        let kept: Vec<Value> =
                            old.iter().filter(|x| !new.contains(x)).cloned().collect();
                        *old = if list_merge == "append_rp" {
                            kept.into_iter().chain(new.iter().cloned()).collect()
                        } else {
                            new.iter().cloned().chain(kept).collect()
                        };
                    }
                    other => return Err(invalid(format!("combine: unknown list_merge `{other}`"))),
                }
            }
            _ => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// The `key_name` and `value_name` of `dict2items`/`items2dict` (`key`, `value` by default).
fn item_names(kwargs: &Kwargs) -> Result<(String, String), Error> {
    let key = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    Ok((key, value))
}

fn dict2items_filter(v: MjValue, kwargs: Kwargs) -> Result<MjValue, Error> {
    let (key, value) = item_names(&kwargs)?;
    let Value::Object(m) = json_of(&v, false)? else {
        return Err(invalid("dict2items: expects a mapping"));
    };
    let items: Vec<Value> = m
        .into_iter()
        .map(|(k, v)| serde_json::json!({ key.clone(): k, value.clone(): v }))
        .collect();
    Ok(MjValue::from(Serde(items)))
}

fn items2dict_filter(v: MjValue, kwargs: Kwargs) -> Result<MjValue, Error> {
    let (key, value) = item_names(&kwargs)?;
    let Value::Array(items) = json_of(&v, false)? else {
        return Err(invalid("items2dict: expects a list"));
    };
    let mut out = serde_json::Map::new();
    for item in items {
        let k = match item.get(&key) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => return Err(invalid(format!("items2dict: an item has no `{key}`"))),
        };
        out.insert(k, item.get(&value).cloned().unwrap_or(Value::Null));
    }
    Ok(MjValue::from(Serde(out)))
}

fn flatten_filter(v: MjValue, levels: Option<usize>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get::<Option<usize>>("levels")?,
    };
    kwargs.assert_all_used()?;
    fn flat(items: Vec<Value>, levels: Option<usize>, out: &mut Vec<Value>) {
        for item in items {
            match item {
                Value::Array(inner) if levels != Some(0) => flat(inner, levels.map(|l| l - 1), out),
                Value::Null => {}
                other => out.push(other),
            }
        }
    }
    let Value::Array(items) = json_of(&v, false)? else {
        return Err(invalid("flatten: expects a list"));
    };
    let mut out = Vec::new();
    flat(items, levels, &mut out);
    Ok(MjValue::from(Serde(out)))
}

/// The items of a list, each once, in order.
fn list_of(v: &MjValue, what: &str) -> Result<Vec<Value>, Error> {
    match json_of(v, false)? {
        Value::Array(items) => Ok(items),
        _ => Err(invalid(format!("{what}: expects lists"))),
    }
}

fn unique_push(out: &mut Vec<Value>, v: Value) {
    if !out.contains(&v) {
        out.push(v);
    }
}

fn set_filter(op: &'static str) -> impl Fn(MjValue, MjValue) -> Result<MjValue, Error> {
    move |a, b| {
        let (a, b) = (list_of(&a, op)?, list_of(&b, op)?);
        let mut out = Vec::new();
        match op {
            "union" => a
                .into_iter()
                .chain(b)
                .for_each(|x| unique_push(&mut out, x)),
            "difference" => a
                .into_iter()
                .filter(|x| !b.contains(x))
                .for_each(|x| unique_push(&mut out, x)),
            "intersect" => a
                .into_iter()
                .filter(|x| b.contains(x))
                .for_each(|x| unique_push(&mut out, x)),
            _ => {
                let (only_a, only_b): (Vec<Value>, Vec<Value>) = (
                    a.iter().filter(|x| !b.contains(x)).cloned().collect(),
                    b.iter().filter(|x| !a.contains(x)).cloned().collect(),
                );
                only_a
                    .into_iter()
                    .chain(only_b)
                    .for_each(|x| unique_push(&mut out, x));
            }
        }
        Ok(MjValue::from(Serde(out)))
    }
}

/// Jinja2's `int(default=0, base=10)`: a string in `base` (with its `0x`-style prefix), else
/// as a float truncated, else `default`.
fn int_filter(
    v: MjValue,
    default: Option<MjValue>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<MjValue>>("default")?
            .unwrap_or(MjValue::from(0)),
    };
    let base = match base {
        Some(b) => b,
        None => kwargs.get::<Option<u32>>("base")?.unwrap_or(10),
    };
    kwargs.assert_all_used()?;
    if let Some(s) = v.as_str() {
        let t = s.trim().replace('_', "");
        let (neg, digits) = match t.strip_prefix('-') {
            Some(d) => (true, d.to_owned()),
            None => (false, t.strip_prefix('+').unwrap_or(&t).to_owned()),
        };
        let prefix = match base {
            16 => ["0x", "0X"],
            8 => ["0o", "0O"],
            2 => ["0b", "0B"],
            _ => ["", ""],
        };
        let digits = prefix
            .iter()
            .filter(|p| !p.is_empty())
            .find_map(|p| digits.strip_prefix(p))
            .unwrap_or(&digits);
        if (2..=36).contains(&base)
            && let Ok(n) = i64::from_str_radix(digits, base)
        {
            return Ok(MjValue::from(if neg { -n } else { n }));
        }
        return Ok(match t.parse::<f64>() {
            Ok(f) if f.is_finite() => MjValue::from(f.trunc() as i64),
            _ => default,
        });
    }
    if let Some(i) = v.as_i64() {
        return Ok(MjValue::from(i));
    }
    Ok(match f64::try_from(v.clone()) {
        Ok(f) if f.is_finite() => MjValue::from(f.trunc() as i64),
        _ if v.kind() == minijinja::value::ValueKind::Bool => MjValue::from(i64::from(v.is_true())),
        _ => default,
    })
}

fn b64encode_filter(v: String) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(v)
}

fn b64decode_filter(v: String) -> Result<String, Error> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|e| invalid(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| invalid(e.to_string()))
}

fn hash_filter(v: String, algorithm: Option<String>) -> Result<String, Error> {
    use sha2::Digest;
    let b = v.as_bytes();
    match algorithm.as_deref().unwrap_or("sha1") {
        "sha1" => Ok(hex::encode(sha1::Sha1::digest(b))),
        "md5" => Ok(format!("{:x}", md5::compute(b))),
        "sha224" => Ok(hex::encode(sha2::Sha224::digest(b))),
        "sha256" => Ok(hex::encode(sha2::Sha256::digest(b))),
        "sha384" => Ok(hex::encode(sha2::Sha384::digest(b))),
        "sha512" => Ok(hex::encode(sha2::Sha512::digest(b))),
        other => Err(invalid(format!(
            "hash: `{other}` is not supported by prov (sha1, md5, sha224, sha256, sha384, sha512)"
        ))),
    }
}

/// Python's type name of a value (`type_debug`).
fn type_debug_filter(v: MjValue) -> &'static str {
    use minijinja::value::ValueKind as K;
    match v.kind() {
        K::Bool => "bool",
        K::Number if v.as_i64().is_some() => "int",
        K::Number => "float",
        K::String => "str",
        K::Seq => "list",
        K::Map => "dict",
        K::None | K::Undefined => "NoneType",
        _ => "object",
    }
}

fn splitext_filter(v: String) -> Vec<String> {
    let p = std::path::Path::new(&v);
    match p.extension() {
        Some(ext) if !v.ends_with('/') => {
            let ext = format!(".{}", ext.to_string_lossy());
            vec![v[..v.len() - ext.len()].to_owned(), ext]
        }
        _ => vec![v.clone(), String::new()],
    }
}

/// Ansible's `extract(container, morekeys)` (`names | map('extract', hostvars, 'ip')`).
fn extract_filter(
    item: MjValue,
    container: MjValue,
    morekeys: Option<MjValue>,
) -> Result<MjValue, Error> {
    let mut v = container.get_item(&item)?;
    if let Some(keys) = morekeys {
        let keys: Vec<MjValue> = if keys.kind() == minijinja::value::ValueKind::Seq {
            keys.try_iter()?.collect()
        } else {
            vec![keys]
        };
        for k in keys {
            v = v.get_item(&k)?;
        }
    }
    Ok(v)
}

fn from_json_filter(v: String) -> Result<MjValue, Error> {
    let j: Value = serde_json::from_str(&v).map_err(|e| invalid(e.to_string()))?;
    Ok(MjValue::from(Serde(j)))
}

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("default", default_filter);
    env.add_filter("d", default_filter);
    env.add_filter("bool", bool_filter);
    env.add_filter("ternary", ternary_filter);
    env.add_filter("mandatory", mandatory_filter);
    env.add_filter("to_json", to_json_filter);
    env.add_filter("to_nice_json", to_nice_json_filter);
    env.add_filter("from_json", from_json_filter);
    env.add_filter("to_yaml", to_yaml_filter);
    env.add_filter("to_nice_yaml", to_nice_yaml_filter);
    env.add_filter("from_yaml", from_yaml_filter);
    env.add_filter("splitext", splitext_filter);
    env.add_filter("regex_replace", regex_replace_filter);
    env.add_filter("comment", comment_filter);
    env.add_filter("combine", combine_filter);
    env.add_function("dict", dict_function);
    env.add_filter("community.general.dict", |v: MjValue| {
        dict_function(Some(v), Kwargs::from_iter(Vec::<(&str, MjValue)>::new()))
    });
    env.add_filter("dict2items", dict2items_filter);
    env.add_filter("items2dict", items2dict_filter);
    env.add_filter("flatten", flatten_filter);
    for op in ["union", "difference", "intersect", "symmetric_difference"] {
        env.add_filter(op, set_filter(op));
    }
    env.add_filter("b64encode", b64encode_filter);
    env.add_filter("b64decode", b64decode_filter);
    env.add_filter("hash", hash_filter);
    env.add_filter("checksum", |v: String| hash_filter(v, None));
    env.add_filter("int", int_filter);
    env.add_filter("type_debug", type_debug_filter);
    env.add_filter("extract", extract_filter);
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    fn eval(expr: &str) -> String {
        let env = super::super::environment();
        env.compile_expression(expr)
            .and_then(|e| e.eval(context! {}))
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    /// `dict(...)` as Python's; `combine` flattens its terms one level (Jinja2 3.1 / Ansible).
    #[test]
    fn dict_and_combine_of_a_list() {
        assert_eq!(
            eval("dict([['b', 1], ('a', 2)], c=3)"),
            "{'b': 1, 'a': 2, 'c': 3}"
        );
        assert_eq!(eval("dict({'x': 1}, y=2)"), "{'x': 1, 'y': 2}");
        assert!(eval("dict([['a', 1, 2]])").contains("element #0 has length 3; 2 is required"));
        assert!(eval("dict('ab')").starts_with("error"));
        assert_eq!(
            eval("[{'a': 1}, {'a': 2, 'b': 3}] | combine"),
            "{'a': 2, 'b': 3}"
        );
        assert_eq!(eval("[] | combine"), "{}");
    }

    #[test]
    fn ansible_filters_behave_as_in_ansible() {
        assert_eq!(
            eval("{'a': 1, 'b': [1]} | to_json"),
            r#"{"a": 1, "b": [1]}"#
        );
        assert_eq!(
            eval("{'b': 1, 'a': 2} | to_nice_json"),
            "{\n    \"a\": 2,\n    \"b\": 1\n}"
        );
        assert_eq!(
            eval("{'a': {'x': 1}} | combine({'a': {'y': 2}}, recursive=true)"),
            "{'a': {'x': 1, 'y': 2}}"
        );
        assert_eq!(
            eval("{'a': {'x': 1}} | combine({'a': {'y': 2}})"),
            "{'a': {'y': 2}}"
        );
        assert_eq!(
            eval("{'k': 'v'} | dict2items"),
            "[{'key': 'k', 'value': 'v'}]"
        );
        assert_eq!(
            eval("[{'key': 'k', 'value': 'v'}] | items2dict"),
            "{'k': 'v'}"
        );
        assert_eq!(eval("[1, [2, [3]]] | flatten"), "[1, 2, 3]");
        assert_eq!(eval("[1, [2, [3]]] | flatten(1)"), "[1, 2, [3]]");
        assert_eq!(eval("[1, 2] | union([2, 3])"), "[1, 2, 3]");
        assert_eq!(eval("[1, 2, 3] | difference([2])"), "[1, 3]");
        assert_eq!(eval("[1, 2, 3] | intersect([3, 2])"), "[2, 3]");
        assert_eq!(
            eval("'Ansible managed' | comment"),
            "#\n# Ansible managed\n#"
        );
        assert_eq!(eval("'x' | comment('c')"), "//\n// x\n//");
        assert_eq!(
            eval(r"'ab12' | regex_replace('([a-z]+)(\d+)', '\2-\g<1>')"),
            "12-ab"
        );
        // A string literal keeps its backslashes (Ansible): `\\` is a backslash in Python's
        // replacement template.
        assert_eq!(
            eval(r"'ab12' | regex_replace('([a-z]+)', '\\\1$')"),
            r"\ab$12"
        );
        assert_eq!(eval("'' | default('z', true)"), "z");
        assert_eq!(eval("none | default('z')"), "None");
        assert_eq!(eval("'1.10' is version('1.9', '>')"), "True");
        assert_eq!(eval("'web01' is match('web')"), "True");
        assert_eq!(eval("'a web' is match('web')"), "False");
        assert_eq!(eval("'a web' is search('web')"), "True");
        assert_eq!(eval("[1] | type_debug"), "list");
        // Arguments prov cannot honour are refused, never ignored.
        assert!(eval("'1.0' is version('1.0', 'eq', version_type='semver')").starts_with("error"));
        assert_eq!(
            eval("'1.0' is version('1.0', 'eq', version_type='loose')"),
            "True"
        );
    }
}
