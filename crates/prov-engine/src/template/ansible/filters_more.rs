//! More of Ansible's filters and tests, each as ansible-core 2.19 computes it (checked against
//! the real Ansible by `tests/ansible_jinja.rs`): regular expressions with groups, paths,
//! list combinators, human-readable sizes, times and URLs, and the path tests.

use minijinja::value::{Kwargs, Rest, Serde};
use minijinja::{Environment, Error, State, Value as MjValue};
use serde_json::{Map, Value};

use crate::template::budget::charge;

use super::invalid;

/// A regular expression with Python's `ignorecase` and `multiline` flags taken from `kwargs`.
fn regex_with(pattern: &str, kwargs: &Kwargs) -> Result<regex::Regex, Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

/// Ansible's `regex_search(pattern, *groups, ignorecase, multiline)`: the first match, or
/// with groups (`'\\1'`, `'\\g<name>'`) the list of those groups of the first match; `None`
/// when nothing matches.
fn regex_search_filter(
    v: String,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let re = regex_with(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let Some(caps) = re.captures(&v) else {
        return Ok(MjValue::from(()));
    };
    if groups.is_empty() {
        return Ok(MjValue::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let group = if let Some(n) = g.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
            n.parse::<usize>()
                .map_or_else(|_| caps.name(n), |i| caps.get(i))
        } else if let Some(n) = g.strip_prefix('\\').and_then(|n| n.parse::<usize>().ok()) {
            caps.get(n)
        } else {
            return Err(invalid(format!("regex_search: unknown argument `{g}`")));
        };
        out.push(group.map_or(MjValue::from(()), |m| MjValue::from(m.as_str())));
    }
    Ok(MjValue::from(out))
}

/// Python's `re.findall`: the matches, or with one group that group, or with several the list
/// of groups ("" for a group that did not take part).
fn regex_findall_filter(v: String, pattern: String, kwargs: Kwargs) -> Result<MjValue, Error> {
    let re = regex_with(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let groups = re.captures_len() - 1;
    let text = |m: Option<regex::Match<'_>>| MjValue::from(m.map_or("", |m| m.as_str()));
    let out: Vec<MjValue> = re
        .captures_iter(&v)
        .map(|c| match groups {
            0 => text(c.get(0)),
            1 => text(c.get(1)),
            n => MjValue::from((1..=n).map(|i| text(c.get(i))).collect::<Vec<_>>()),
        })
        .collect();
    Ok(MjValue::from(out))
}

/// Python's `re.escape` (3.7 and later): the special characters get a backslash.
fn regex_escape_filter(v: String, re_type: Option<String>) -> Result<String, Error> {
    if re_type.as_deref().is_some_and(|t| t != "python") {
        return Err(invalid(
            "regex_escape: only re_type='python' is supported by prov",
        ));
    }
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

/// Python's `shlex.quote`.
fn quote_filter(v: String) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if v.is_empty() {
        return "''".into();
    }
    if v.chars().all(safe) {
        return v;
    }
    format!("'{}'", v.replace('\'', "'\"'\"'"))
}

/// Python's `os.path.basename`.
fn basename_filter(v: String) -> String {
    v.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Python's `os.path.dirname`.
fn dirname_filter(v: String) -> String {
    let head = &v[..v.rfind('/').map_or(0, |i| i + 1)];
    let trimmed = head.trim_end_matches('/');
    if trimmed.is_empty() { head } else { trimmed }.to_owned()
}

/// Python's `os.path.normpath` (POSIX).
fn normpath(v: &str) -> String {
    if v.is_empty() {
        return ".".into();
    }
    let lead = if v.starts_with("//") && !v.starts_with("///") {
        "//"
    } else if v.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in v.split('/') {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if !lead.is_empty() => {}
            p => parts.push(p),
        }
    }
    let joined = format!("{lead}{}", parts.join("/"));
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

fn normpath_filter(v: String) -> String {
    normpath(&v)
}

/// Python's `os.path.realpath` on the controller: symbolic links resolved as far as the path
/// exists, the rest normalized.
fn realpath_filter(v: String) -> String {
    let abs = if v.starts_with('/') {
        v.clone()
    } else {
        let cwd = std::env::current_dir().map(|d| d.display().to_string());
        format!("{}/{v}", cwd.unwrap_or_default())
    };
    let norm = normpath(&abs);
    match std::fs::canonicalize(&abs) {
        Ok(p) => p.display().to_string(),
        Err(_) => norm,
    }
}

/// The home folder of `user` on the controller (`/etc/passwd`), or `$HOME` for the current one.
fn home_of(user: &str) -> Option<String> {
    if user.is_empty()
        && let Some(h) = std::env::var_os("HOME")
    {
        return Some(h.to_string_lossy().into_owned());
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let uid = std::fs::metadata("/proc/self")
        .ok()
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let wanted = if user.is_empty() {
            uid.is_some_and(|u| f.get(2) == Some(&u.to_string().as_str()))
        } else {
            f.first() == Some(&user)
        };
        wanted.then(|| f.get(5).map(|h| (*h).to_owned())).flatten()
    })
}

/// Python's `os.path.expanduser` on the controller.
fn expanduser_filter(v: String) -> String {
    let Some(rest) = v.strip_prefix('~') else {
        return v;
    };
    let (user, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match home_of(user) {
        Some(home) => {
            let out = format!("{}{tail}", home.trim_end_matches('/'));
            if out.is_empty() { "/".to_owned() } else { out }
        }
        None => v,
    }
}

/// Ansible's `path_join`: Python's `os.path.join` of a list (an absolute part starts over).
fn path_join_filter(v: MjValue) -> Result<String, Error> {
    let parts: Vec<String> = match v.as_str() {
        Some(s) => vec![s.to_owned()],
        None => v.try_iter()?.map(|p| p.to_string()).collect(),
    };
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') || out.is_empty() {
            out = p;
        } else if out.ends_with('/') {
            out.push_str(&p);
        } else {
            out = format!("{out}/{p}");
        }
    }
    Ok(out)
}

fn items(v: &MjValue) -> Result<Vec<MjValue>, Error> {
    Ok(v.try_iter()?.collect())
}

/// Python's `itertools.zip_longest(fillvalue=None)`.
fn zip_longest_filter(v: MjValue, others: Rest<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let fill = kwargs
        .get::<Option<MjValue>>("fillvalue")?
        .unwrap_or(MjValue::from(()));
    kwargs.assert_all_used()?;
    let mut lists = vec![items(&v)?];
    for o in others.iter() {
        lists.push(items(o)?);
    }
    let len = lists.iter().map(Vec::len).max().unwrap_or(0);
    let out: Vec<MjValue> = (0..len)
        .map(|i| {
            let row: Vec<MjValue> = lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                .collect();
            MjValue::from(row)
        })
        .collect();
    Ok(MjValue::from(out))
}

/// Python's `itertools.product`.
fn product_filter(
    state: &State,
    v: MjValue,
    others: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let repeat = kwargs.get::<Option<usize>>("repeat")?.unwrap_or(1);
    kwargs.assert_all_used()?;
    let mut lists = vec![items(&v)?];
    for o in others.iter() {
        lists.push(items(o)?);
    }
    // Every row holds one slot per list, `repeat` times over.
    let columns = (lists.len() as u64).saturating_mul(repeat as u64);
    let once = lists
        .iter()
        .fold(1u64, |n, l| n.saturating_mul(l.len() as u64));
    let rows = u32::try_from(repeat).ok().and_then(|r| once.checked_pow(r));
    let slots = rows.map_or(u64::MAX, |r| r.saturating_mul(columns));
    charge(
        state,
        slots.saturating_mul(crate::template::budget::SLOT_BYTES),
    )?;
    let lists: Vec<Vec<MjValue>> = (0..repeat).flat_map(|_| lists.clone()).collect();
    let mut rows: Vec<Vec<MjValue>> = vec![Vec::new()];
    for l in &lists {
        rows = rows
            .iter()
            .flat_map(|r| {
                l.iter().map(move |x| {
                    let mut r = r.clone();
                    r.push(x.clone());
                    r
                })
            })
            .collect();
    }
    Ok(MjValue::from(
        rows.into_iter().map(MjValue::from).collect::<Vec<_>>(),
    ))
}

/// Ansible's `subelements(subelement, skip_missing=False)`: `[item, sub]` for each element of
/// each item's list `subelement` (a dotted path).
fn subelements_filter(
    v: MjValue,
    key: String,
    skip_missing: Option<bool>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let skip = match skip_missing {
        Some(s) => s,
        None => kwargs.get::<Option<bool>>("skip_missing")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let list = if v.kind() == minijinja::value::ValueKind::Map {
        v.try_iter()?
            .map(|k| v.get_item(&k))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        items(&v)?
    };
    let mut out = Vec::new();
    for item in list {
        let mut sub = item.clone();
        let mut missing = false;
        for part in key.split('.') {
            match sub.get_attr(part) {
                Ok(s) if !s.is_undefined() => sub = s,
                _ => {
                    missing = true;
                    break;
                }
            }
        }
        if missing {
            if skip {
                continue;
            }
            return Err(invalid(format!(
                "could not find '{key}' key in iterated item '{item}'"
            )));
        }
        if sub.kind() != minijinja::value::ValueKind::Seq {
            return Err(invalid(format!(
                "the key {key} should point to a list, got '{sub}'"
            )));
        }
        for s in sub.try_iter()? {
            out.push(MjValue::from(vec![item.clone(), s]));
        }
    }
    Ok(MjValue::from(out))
}

const SIZE_RANGES: [(char, u128); 9] = [
    ('Y', 1 << 80),
    ('Z', 1 << 70),
    ('E', 1 << 60),
    ('P', 1 << 50),
    ('T', 1 << 40),
    ('G', 1 << 30),
    ('M', 1 << 20),
    ('K', 1 << 10),
    ('B', 1),
];

/// Ansible's `human_readable(isbits=False, unit=None)` (`bytes_to_human`).
fn human_readable_filter(
    v: MjValue,
    isbits: Option<bool>,
    unit: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let isbits = match isbits {
        Some(b) => b,
        None => kwargs.get::<Option<bool>>("isbits")?.unwrap_or(false),
    };
    let unit = match unit {
        Some(u) => Some(u),
        None => kwargs.get::<Option<String>>("unit")?,
    };
    kwargs.assert_all_used()?;
    let size =
        number(&v).ok_or_else(|| invalid(format!("human_readable: `{v}` is not a number")))?;
    let base = if isbits { "bits" } else { "Bytes" };
    let mut chosen = SIZE_RANGES[SIZE_RANGES.len() - 1];
    for (suffix, limit) in SIZE_RANGES {
        chosen = (suffix, limit);
        let hit = match &unit {
            None => size >= limit as f64,
            Some(u) => u.to_uppercase().starts_with(suffix),
        };
        if hit {
            break;
        }
    }
    let (suffix, limit) = chosen;
    let suffix = if limit == 1 {
        base.to_owned()
    } else {
        format!("{suffix}{}", &base[..1])
    };
    Ok(format!("{:.2} {suffix}", size / limit as f64))
}

fn number(v: &MjValue) -> Option<f64> {
    match v.as_str() {
        Some(s) => s.trim().parse().ok(),
        None => f64::try_from(v.clone()).ok(),
    }
}

/// Ansible's `human_to_bytes(default_unit=None, isbits=False)`.
fn human_to_bytes_filter(
    v: MjValue,
    default_unit: Option<String>,
    isbits: Option<bool>,
    kwargs: Kwargs,
) -> Result<i64, Error> {
    let default_unit = match default_unit {
        Some(u) => Some(u),
        None => kwargs.get::<Option<String>>("default_unit")?,
    };
    let isbits = match isbits {
        Some(b) => b,
        None => kwargs.get::<Option<bool>>("isbits")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let re = regex::Regex::new(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$")
        .map_err(|e| invalid(e.to_string()))?;
    let bad = || {
        invalid(format!(
            "human_to_bytes() can't interpret following string: {text}"
        ))
    };
    let caps = re.captures(&text).ok_or_else(bad)?;
    let num: f64 = caps[1].parse().map_err(|_| bad())?;
    let Some(unit) = caps.get(2).map(|m| m.as_str().to_owned()).or(default_unit) else {
        return Ok(num.round_ties_even() as i64);
    };
    let key = unit
        .chars()
        .next()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or('B');
    let limit = SIZE_RANGES
        .iter()
        .find(|(s, _)| *s == key)
        .map(|(_, l)| *l)
        .ok_or_else(|| invalid(format!("human_to_bytes() failed to convert {text} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B")))?;
    let (class, class_name) = if isbits { ('b', "bit") } else { ('B', "byte") };
    if unit.chars().count() > 1
        && !unit.to_lowercase().contains(class_name)
        && unit.chars().nth(1) != Some(class)
    {
        return Err(invalid(format!(
            "human_to_bytes() failed to convert {text}. Value is not a valid string"
        )));
    }
    Ok((num * limit as f64).round_ties_even() as i64)
}

/// Ansible's `strftime(second=None, utc=False)`: the time in seconds since the epoch (now by
/// default), local unless `utc`, formatted as C's `strftime`.
fn strftime_filter(
    fmt: String,
    second: Option<MjValue>,
    utc: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    use std::fmt::Write as _;
    let second = match second {
        Some(s) => Some(s),
        None => kwargs.get::<Option<MjValue>>("second")?,
    };
    let utc = match utc {
        Some(u) => u,
        None => kwargs.get::<Option<bool>>("utc")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let secs = match second {
        Some(s) => number(&s)
            .ok_or_else(|| invalid(format!("strftime: `{s}` is not a number of seconds")))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    };
    let t = chrono::DateTime::from_timestamp(secs.trunc() as i64, 0)
        .ok_or_else(|| invalid("strftime: time out of range"))?;
    let mut out = String::new();
    let written = if utc {
        write!(out, "{}", t.format(&fmt))
    } else {
        write!(out, "{}", t.with_timezone(&chrono::Local).format(&fmt))
    };
    written.map_err(|_| invalid(format!("strftime: `{fmt}` is not a format prov knows")))?;
    Ok(out)
}

/// Python's `urllib.parse.urlsplit`, as Ansible's `urlsplit(query='')` gives it: every field,
/// or the one named.
fn urlsplit_filter(v: String, query: Option<String>) -> Result<MjValue, Error> {
    let mut rest = v.as_str();
    let mut scheme = "";
    if let Some(i) = rest.find(':') {
        let s = &rest[..i];
        if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            scheme = s;
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = "";
    if let Some(r) = rest.strip_prefix("//") {
        let end = r.find(['/', '?', '#']).unwrap_or(r.len());
        netloc = &r[..end];
        rest = &r[end..];
    }
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (path, q) = rest.split_once('?').unwrap_or((rest, ""));
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((n, p)) => (Value::from(n), Value::from(p)),
            None => (Value::from(u), Value::Null),
        },
        None => (Value::Null, Value::Null),
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let (h, after) = h.split_once(']').unwrap_or((h, ""));
        (h, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port.filter(|p| !p.is_empty()) {
        Some(p) => Value::from(
            p.parse::<u16>()
                .map_err(|_| invalid(format!("urlsplit: port `{p}` is not a number")))?,
        ),
        None => Value::Null,
    };
    let hostname = if host.is_empty() {
        Value::Null
    } else {
        Value::from(host.to_lowercase())
    };
    let mut all = Map::new();
    for (k, val) in [
        ("fragment", Value::from(fragment)),
        ("hostname", hostname),
        ("netloc", Value::from(netloc)),
        ("password", password),
        ("path", Value::from(path)),
        ("port", port),
        ("query", Value::from(q)),
        ("scheme", Value::from(scheme)),
        ("username", username),
    ] {
        all.insert(k.to_owned(), val);
    }
    match query.filter(|q| !q.is_empty()) {
        None => Ok(MjValue::from(Serde(Value::Object(all)))),
        Some(q) => all
            .get(&q)
            .map(|v| MjValue::from(Serde(v.clone())))
            .ok_or_else(|| invalid(format!("urlsplit: unknown URL component: {q}"))),
    }
}

/// Ansible's `subset`/`superset` tests.
fn subset_test(
    superset: bool,
) -> impl Fn(MjValue, MjValue) -> Result<bool, Error> + Send + Sync + 'static {
    move |a, b| {
        let (a, b) = (items(&a)?, items(&b)?);
        let (small, big) = if superset { (&b, &a) } else { (&a, &b) };
        Ok(small.iter().all(|x| big.contains(x)))
    }
}

/// Ansible's `contains` test (`list is contains(x)`).
fn contains_test(seq: MjValue, item: MjValue) -> Result<bool, Error> {
    Ok(items(&seq)?.contains(&item))
}

/// Ansible's path tests on the controller (`'/etc' is directory`).
fn path_test(kind: &'static str) -> impl Fn(String) -> bool + Send + Sync + 'static {
    move |p| {
        let path = std::path::Path::new(&p);
        match kind {
            "file" => path.is_file(),
            "directory" => path.is_dir(),
            "link" => path.is_symlink(),
            "exists" => path.exists(),
            "abs" => path.is_absolute(),
            _ => false,
        }
    }
}

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_search", regex_search_filter);
    env.add_filter("regex_findall", regex_findall_filter);
    env.add_filter("regex_escape", regex_escape_filter);
    env.add_filter("quote", quote_filter);
    env.add_filter("basename", basename_filter);
    env.add_filter("dirname", dirname_filter);
    env.add_filter("normpath", normpath_filter);
    env.add_filter("realpath", realpath_filter);
    env.add_filter("expanduser", expanduser_filter);
    env.add_filter("path_join", path_join_filter);
    env.add_filter("zip_longest", zip_longest_filter);
    env.add_filter("product", product_filter);
    env.add_filter("subelements", subelements_filter);
    env.add_filter("human_readable", human_readable_filter);
    env.add_filter("human_to_bytes", human_to_bytes_filter);
    env.add_filter("strftime", strftime_filter);
    env.add_filter("urlsplit", urlsplit_filter);
    env.add_test("subset", subset_test(false));
    env.add_test("superset", subset_test(true));
    env.add_test("contains", contains_test);
    for kind in ["file", "directory", "link", "exists", "abs"] {
        env.add_test(kind, path_test(kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_normalize_as_python_does() {
        assert_eq!(basename_filter("/etc/".into()), "");
        assert_eq!(dirname_filter("/".into()), "/");
        assert_eq!(dirname_filter("//a//b".into()), "//a");
        assert_eq!(dirname_filter("a".into()), "");
        assert_eq!(normpath("/a/./b/../../.."), "/");
        assert_eq!(normpath("a/../../b/"), "../b");
        assert_eq!(normpath(""), ".");
    }

    #[test]
    fn quote_is_shlex_quote() {
        assert_eq!(quote_filter(String::new()), "''");
        assert_eq!(quote_filter("a-b/c.d".into()), "a-b/c.d");
        assert_eq!(quote_filter("it's".into()), r#"'it'"'"'s'"#);
    }
}
