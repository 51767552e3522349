//! Ansible's tests (`is failed`, `is version(...)`, `is match(...)`...).

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, Value as MjValue};

use super::invalid;

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

/// One part of a version: numbers compare as numbers, other text as text, numbers first.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum VersionPart {
    Number(u64),
    Text(String),
}

/// A loose version (`1.2.3`, `7.0-1ubuntu2`, `2.4.0b1`): runs of digits and of letters.
fn version_parts(v: &str) -> Vec<VersionPart> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<VersionPart>| {
        if cur.is_empty() {
            return;
        }
        let part = match cur.parse::<u64>() {
            Ok(n) => VersionPart::Number(n),
            Err(_) => VersionPart::Text(cur.clone()),
        };
        out.push(part);
        cur.clear();
    };
    for c in v.chars() {
        let same_kind = cur
            .chars()
            .last()
            .is_none_or(|l| l.is_ascii_digit() == c.is_ascii_digit());
        if !c.is_ascii_alphanumeric() {
            flush(&mut cur, &mut out);
        } else {
            if !same_kind {
                flush(&mut cur, &mut out);
            }
            cur.push(c);
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// Ansible's `version(other, operator='eq')` test and `version_compare` filter.
pub(super) fn version_compare(
    v: MjValue,
    other: MjValue,
    op: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let op = match op {
        Some(o) => o,
        None => kwargs
            .get::<Option<String>>("operator")?
            .unwrap_or_else(|| "eq".into()),
    };
    // Loose versions only: the other comparisons are refused rather than ignored.
    let strict = kwargs.get::<Option<bool>>("strict")?.unwrap_or(false);
    let version_type = kwargs.get::<Option<String>>("version_type")?;
    kwargs.assert_all_used()?;
    if strict || version_type.as_deref().is_some_and(|t| t != "loose") {
        return Err(invalid(
            "version: only loose version comparison is supported by prov",
        ));
    }
    let (a, b) = (
        version_parts(&v.to_string()),
        version_parts(&other.to_string()),
    );
    let ord = a.cmp(&b);
    use std::cmp::Ordering::*;
    Ok(match op.as_str() {
        "==" | "=" | "eq" => ord == Equal,
        "!=" | "<>" | "ne" => ord != Equal,
        "<" | "lt" => ord == Less,
        "<=" | "le" => ord != Greater,
        ">" | "gt" => ord == Greater,
        ">=" | "ge" => ord != Less,
        other => return Err(invalid(format!("version: unknown operator `{other}`"))),
    })
}

/// Ansible's `match` (anchored at the start), `search` and `regex` tests.
fn regex_test(
    anchored: bool,
) -> impl Fn(String, String, Kwargs) -> Result<bool, Error> + Send + Sync + 'static {
    move |v, pattern, kwargs| {
        let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
        let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
        let match_type = kwargs.get::<Option<String>>("match_type")?;
        kwargs.assert_all_used()?;
        let anchored = anchored || match_type.as_deref() == Some("match");
        let pattern = if anchored {
            format!(r"\A(?:{pattern})")
        } else {
            pattern
        };
        let re = regex::RegexBuilder::new(&pattern)
            .case_insensitive(ignorecase)
            .multi_line(multiline)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(re.is_match(&v))
    }
}

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_test("version", version_compare);
    env.add_test("version_compare", version_compare);
    env.add_test("match", regex_test(true));
    env.add_test("search", regex_test(false));
    env.add_test("regex", regex_test(false));
    env.add_test("truthy", |v: MjValue| v.is_true());
    env.add_test("falsy", |v: MjValue| !v.is_true());
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
mod unit {
    use super::*;

    #[test]
    fn versions_compare_loosely() {
        let cmp = |a: &str, b: &str, op: &str| {
            version_compare(
                a.into(),
                b.into(),
                Some(op.into()),
                Kwargs::from_iter(std::iter::empty::<(&str, MjValue)>()),
            )
            .unwrap_or(false)
        };
        assert!(cmp("1.10", "1.9", ">"));
        assert!(cmp("0.11.2", "0.11", ">="));
        assert!(cmp("7.0-1ubuntu2", "7.0", ">"));
        assert!(cmp("2.4", "2.4.0", "<"));
        assert!(cmp("1.2.3", "1.2.3", "eq"));
    }
}
