//! Jinja2's text filters as Ansible has them (`truncate`, `center`, `wordcount`, `urlencode`)
//! and the Python list method `index`, where minijinja has none or another behaviour.

use std::sync::LazyLock;

use minijinja::value::{Kwargs, Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value as MjValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::invalid;
use crate::template::budget;

/// Python's `str()` of a scalar: `True`, `None`, `1.5`, the text itself.
fn py_str(value: &MjValue) -> String {
    match value.kind() {
        ValueKind::Bool if value.is_true() => "True".into(),
        ValueKind::Bool => "False".into(),
        ValueKind::None => "None".into(),
        _ => value.to_string(),
    }
}

/// `format` (and `text % args`, patched minijinja): minijinja's printf-style formatting, with
/// Python's text for `None`, `True` and `False` (`'%s' % none` is `None`).
fn format_filter(
    state: &mut State,
    text: MjValue,
    args: Rest<ValueOrKwargs>,
) -> Result<MjValue, Error> {
    let args = args
        .0
        .into_iter()
        .map(|arg| match arg.kind() {
            ValueKind::None | ValueKind::Bool => MjValue::from(py_str(&arg)).into(),
            _ => arg,
        })
        .collect();
    minijinja::filters::format(state, &text, Rest(args))
}

/// `truncate(length=255, killwords=False, end='...', leeway=5)`: Jinja2's `do_truncate`; a
/// text at most `leeway` characters over `length` is kept whole.
fn truncate_filter(
    s: String,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let length = length.or(kwargs.get("length")?).unwrap_or(255);
    let killwords = killwords.or(kwargs.get("killwords")?).unwrap_or(false);
    let end = end.or(kwargs.get("end")?).unwrap_or_else(|| "...".into());
    let leeway = kwargs.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kwargs.assert_all_used()?;
    let end_len = end.chars().count();
    if length < end_len {
        return Err(invalid(format!(
            "truncate: expected length >= {end_len}, got {length}"
        )));
    }
    if s.chars().count() <= length + leeway {
        return Ok(s);
    }
    let kept: String = s.chars().take(length - end_len).collect();
    let kept = match (killwords, kept.rfind(' ')) {
        (false, Some(space)) => &kept[..space],
        _ => &kept[..],
    };
    Ok(format!("{kept}{end}"))
}

/// `center(width=80)`: Python's `str.center` (the odd space goes left when the margin and
/// the width are both odd).
fn center_filter(value: MjValue, width: Option<usize>) -> String {
    let s = py_str(&value);
    let width = width.unwrap_or(80);
    let len = s.chars().count();
    if width <= len {
        return s;
    }
    let margin = width - len;
    let left = margin / 2 + (margin & width & 1);
    format!("{}{s}{}", " ".repeat(left), " ".repeat(margin - left))
}

/// `wordcount`: the number of runs of word characters (`\w+`).
fn wordcount_filter(value: MjValue) -> usize {
    static WORD: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\w+").expect("valid regex"));
    WORD.find_iter(&py_str(&value)).count()
}

/// What Python's `quote_from_bytes` leaves alone: letters, digits and `_.-~`.
const QUOTE_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// Jinja2's `url_quote`: `/` is kept in a plain value, and in a query string (`for_qs`) it is
/// quoted and a space is `+`.
fn url_quote(value: &MjValue, for_qs: bool) -> String {
    const PATH_SAFE: &AsciiSet = &QUOTE_SAFE.remove(b'/');
    let set = if for_qs { QUOTE_SAFE } else { PATH_SAFE };
    let quoted = utf8_percent_encode(&py_str(value), set).to_string();
    if for_qs {
        quoted.replace("%20", "+")
    } else {
        quoted
    }
}

/// `urlencode`: a string (or other scalar) quoted for a URL path; a mapping, or a list of
/// pairs, as a query string `k=v&k2=v2`.
fn urlencode_filter(value: MjValue) -> Result<String, Error> {
    if value.as_str().is_some() || value.as_object().is_none() {
        return Ok(url_quote(&value, false));
    }
    let pairs: Vec<(MjValue, MjValue)> = if value.kind() == ValueKind::Map {
        value
            .try_iter()?
            .map(|k| value.get_item(&k).map(|v| (k, v)))
            .collect::<Result<_, _>>()?
    } else {
        value
            .try_iter()?
            .map(|pair| {
                Ok((
                    pair.get_item(&MjValue::from(0))?,
                    pair.get_item(&MjValue::from(1))?,
                ))
            })
            .collect::<Result<_, Error>>()?
    };
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_quote(k, true), url_quote(v, true)))
        .collect::<Vec<_>>()
        .join("&"))
}

/// Python's `list.index(x[, start[, end]])`: the first position of `x`, or an error.
fn list_index(value: &MjValue, args: &[MjValue]) -> Result<MjValue, Error> {
    let (wanted, range) = args
        .split_first()
        .ok_or_else(|| invalid("index() takes at least 1 argument (0 given)"))?;
    let bound =
        |n: Option<&MjValue>, default: usize| n.map_or(Ok(default), |n| usize::try_from(n.clone()));
    let items: Vec<MjValue> = value.try_iter()?.collect();
    let start = bound(range.first(), 0)?;
    let end = bound(range.get(1), items.len())?.min(items.len());
    (start..end)
        .find(|&i| items[i] == *wanted)
        .map(MjValue::from)
        .ok_or_else(|| invalid(format!("{} is not in list", py_str(wanted))))
}

/// Methods called on values: `list.index` here, the rest as minijinja-contrib's `pycompat`
/// (through the render budget's charge for `str.format`).
pub(super) fn method_callback(
    state: &mut State,
    value: &MjValue,
    method: &str,
    args: &[MjValue],
) -> Result<MjValue, Error> {
    if method == "index" && value.kind() == ValueKind::Seq {
        return list_index(value, args);
    }
    budget::method_callback(state, value, method, args)
}

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("format", format_filter);
    env.add_filter("truncate", truncate_filter);
    env.add_filter("center", center_filter);
    env.add_filter("wordcount", wordcount_filter);
    env.add_filter("urlencode", urlencode_filter);
    env.set_unknown_method_callback(method_callback);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of Jinja2 3.1 (Python 3.11) for the same calls.
    #[test]
    fn as_jinja2() {
        let no_kwargs = || Kwargs::from_iter(Vec::<(&str, MjValue)>::new());
        let t = |s: &str, n| truncate_filter(s.into(), Some(n), None, None, no_kwargs()).unwrap();
        assert_eq!(t("Hello World", 8), "Hello World");
        assert_eq!(t("Hello big wide World", 12), "Hello...");
        assert_eq!(center_filter("ab".into(), Some(7)), "   ab  ");
        assert_eq!(center_filter("abc".into(), Some(6)), " abc  ");
        assert_eq!(wordcount_filter("Hello, wide-world_x 42!".into()), 4);
        assert_eq!(
            urlencode_filter("a b/c~d&é".into()).unwrap(),
            "a%20b/c~d%26%C3%A9"
        );
        let map = MjValue::from(minijinja::value::Serde(
            serde_json::json!({"q": "a b/c", "n": true}),
        ));
        assert_eq!(urlencode_filter(map).unwrap(), "q=a+b%2Fc&n=True");
        let pairs = MjValue::from(minijinja::value::Serde(serde_json::json!([
            ["a", 1],
            ["b c", null]
        ])));
        assert_eq!(urlencode_filter(pairs).unwrap(), "a=1&b+c=None");
        let list = MjValue::from(vec![1, 2, 3, 2]);
        assert_eq!(list_index(&list, &[2.into()]).unwrap(), MjValue::from(1));
        assert_eq!(
            list_index(&list, &[2.into(), 2.into()]).unwrap(),
            MjValue::from(3)
        );
        assert!(list_index(&list, &[9.into()]).is_err());
    }

    /// `text % args` and `format` as Python's printf-style formatting.
    #[test]
    fn percent_formats_as_python() {
        let env = super::super::environment();
        let eval = |e: &str| {
            let expr = env.compile_expression(e).unwrap();
            expr.eval(minijinja::context! {}).map(|v| v.to_string())
        };
        assert_eq!(eval("'%s-%d' % ('a', 3)").unwrap(), "a-3");
        assert_eq!(eval("'%s|%s' % (none, true)").unwrap(), "None|True");
        assert_eq!(eval("'%02d' % 7").unwrap(), "07");
        assert_eq!(eval("'%s' % [1, 2]").unwrap(), "[1, 2]");
        assert_eq!(eval("'%s' % (['a'],)").unwrap(), "['a']");
        assert_eq!(eval("'%s' % ({'k': none},)").unwrap(), "{'k': None}");
        assert_eq!(eval("'%s' | format(false)").unwrap(), "False");
        assert_eq!(
            eval("'%(a)s-%(b)03d' % {'a': 'x', 'b': 7}").unwrap(),
            "x-007"
        );
        assert_eq!(eval("'%s' % {'a': 1}").unwrap(), "{'a': 1}");
        assert_eq!(eval("10 % 3").unwrap(), "1");
        assert!(eval("'%s %s' % ('a',)").is_err());
    }
}
