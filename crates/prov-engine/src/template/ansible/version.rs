//! Ansible's `version` test (and `version_compare` filter) with Python's `LooseVersion` and
//! `StrictVersion` (`strict=true` or `version_type='strict'`), errors included: comparing a
//! number with a word in a loose version fails in Python, and so it does here.

use std::cmp::Ordering;
use std::sync::LazyLock;

use minijinja::value::Kwargs;
use minijinja::{Error, Value as MjValue};

use super::invalid;

/// One component of a loose version: a number, or any other text between numbers, runs of
/// lowercase letters and dots (`'-'`, `'ubuntu'`, `'RC'`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loose {
    Number(u128),
    Text(String),
}

/// `LooseVersion(text).version`: the components of `re.split(r'(\d+|[a-z]+|\.)', text)`,
/// without empty ones and dots, digit runs as numbers.
fn loose(text: &str) -> Vec<Loose> {
    static COMPONENT: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\d+|[a-z]+|\.").expect("valid regex"));
    let mut pieces = Vec::new();
    let mut last = 0;
    for m in COMPONENT.find_iter(text) {
        pieces.push(&text[last..m.start()]);
        pieces.push(m.as_str());
        last = m.end();
    }
    pieces.push(&text[last..]);
    pieces
        .into_iter()
        .filter(|p| !p.is_empty() && *p != ".")
        .map(|p| match p.parse::<u128>() {
            Ok(n) => Loose::Number(n),
            Err(_) => Loose::Text(p.to_owned()),
        })
        .collect()
}

/// Python's comparison of two loose versions (lists): the first differing component decides;
/// a number against a word is Python's `TypeError`.
fn compare_loose(a: &[Loose], b: &[Loose]) -> Result<Ordering, String> {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x, y) {
            (Loose::Number(x), Loose::Number(y)) => x.cmp(y),
            (Loose::Text(x), Loose::Text(y)) => x.cmp(y),
            (Loose::Number(_), Loose::Text(_)) => {
                return Err("'<' not supported between instances of 'int' and 'str'".into());
            }
            (Loose::Text(_), Loose::Number(_)) => {
                return Err("'<' not supported between instances of 'str' and 'int'".into());
            }
        };
        if ord != Ordering::Equal {
            return Ok(ord);
        }
    }
    Ok(a.len().cmp(&b.len()))
}

/// `StrictVersion(text)`: `major.minor[.patch][{a|b}N]`, as (version, pre-release).
type Strict = ((u128, u128, u128), Option<(char, u128)>);

fn strict(text: &str) -> Result<Strict, String> {
    static FORM: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^([0-9]+)\.([0-9]+)(?:\.([0-9]+))?(?:([ab])([0-9]+))?$")
            .expect("valid regex")
    });
    let bad = || format!("invalid version number '{text}'");
    let caps = FORM.captures(text).ok_or_else(bad)?;
    let num = |i: usize| {
        caps.get(i)
            .map_or(Ok(0), |m| m.as_str().parse::<u128>().map_err(|_| bad()))
    };
    let pre = match caps.get(4) {
        Some(letter) => Some((letter.as_str().chars().next().unwrap_or('a'), num(5)?)),
        None => None,
    };
    Ok(((num(1)?, num(2)?, num(3)?), pre))
}

/// StrictVersion's order: the numbers, then a release after any of its pre-releases.
fn compare_strict(a: &Strict, b: &Strict) -> Ordering {
    a.0.cmp(&b.0).then_with(|| match (&a.1, &b.1) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    })
}

/// How two versions are compared.
#[derive(Clone, Copy)]
enum Kind {
    Loose,
    Strict,
}

impl Kind {
    /// `strict=` or `version_type=`, as Ansible picks them; semver and pep440 are refused.
    fn from_args(strict: Option<bool>, version_type: Option<&str>) -> Result<Self, Error> {
        if strict.is_some() && version_type.is_some() {
            return Err(invalid(
                "version: cannot specify both 'strict' and 'version_type'",
            ));
        }
        match (strict, version_type) {
            (Some(true), _) | (_, Some("strict")) => Ok(Kind::Strict),
            (_, None | Some("loose")) => Ok(Kind::Loose),
            (_, Some(other @ ("semver" | "semantic" | "pep440"))) => Err(invalid(format!(
                "version: version_type '{other}' is not supported by prov (loose and strict are)"
            ))),
            (_, Some(other)) => Err(invalid(format!(
                "version: invalid version type ({other}); must be one of 'loose', 'strict', \
                 'semver', 'semantic', 'pep440'"
            ))),
        }
    }

    fn compare(self, a: &str, b: &str) -> Result<Ordering, String> {
        match self {
            Kind::Loose => compare_loose(&loose(a), &loose(b)),
            Kind::Strict => Ok(compare_strict(&strict(a)?, &strict(b)?)),
        }
    }
}

/// Ansible's `version(other, operator='eq', strict=None, version_type=None)` test and
/// `version_compare` filter.
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
    let strict = kwargs.get::<Option<bool>>("strict")?;
    let version_type = kwargs.get::<Option<String>>("version_type")?;
    kwargs.assert_all_used()?;
    let kind = Kind::from_args(strict, version_type.as_deref())?;
    let (a, b) = (v.to_string(), other.to_string());
    if !v.is_true() {
        return Err(invalid("version: input version value cannot be empty"));
    }
    if !other.is_true() {
        return Err(invalid(
            "version: version parameter to compare against cannot be empty",
        ));
    }
    let wanted: &[Ordering] = match op.as_str() {
        "==" | "=" | "eq" => &[Ordering::Equal],
        "!=" | "<>" | "ne" => &[Ordering::Less, Ordering::Greater],
        "<" | "lt" => &[Ordering::Less],
        "<=" | "le" => &[Ordering::Less, Ordering::Equal],
        ">" | "gt" => &[Ordering::Greater],
        ">=" | "ge" => &[Ordering::Greater, Ordering::Equal],
        other => return Err(invalid(format!("version: invalid operator type ({other})"))),
    };
    let ord = kind
        .compare(&a, &b)
        .map_err(|e| invalid(format!("Version comparison failed: {e}")))?;
    Ok(wanted.contains(&ord))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str, op: &str, strict: bool) -> Result<bool, Error> {
        let kwargs = Kwargs::from_iter([("strict", MjValue::from(strict))]);
        version_compare(a.into(), b.into(), Some(op.into()), kwargs)
    }

    /// Answers of ansible-core 2.19's `version` test for the same comparisons.
    #[test]
    fn loose_versions_as_python() {
        assert!(cmp("1.10", "1.9", ">", false).unwrap());
        assert!(cmp("0.11.2", "0.11", ">=", false).unwrap());
        assert!(cmp("7.0-1ubuntu2", "7.0", ">", false).unwrap());
        assert!(cmp("2.4", "2.4.0", "<", false).unwrap());
        assert!(cmp("1.2.3", "1.2.3", "eq", false).unwrap());
        assert!(cmp("1.0.0-rc1", "1.0.0", ">", false).unwrap());
        assert!(cmp("1.0a", "1.0.1", "<", false).is_err());
        assert!(cmp("", "1.0", "<", false).is_err());
    }

    #[test]
    fn strict_versions_as_python() {
        assert!(cmp("1.2.10", "1.2.10", "==", true).unwrap());
        assert!(cmp("1.2", "1.2.0", "==", true).unwrap());
        assert!(cmp("1.0b1", "1.0", "<", true).unwrap());
        assert!(cmp("1.0a2", "1.0b1", "<", true).unwrap());
        let err = cmp("1.0.0-rc1", "1.0", "<", true).unwrap_err();
        assert!(
            err.to_string()
                .contains("invalid version number '1.0.0-rc1'"),
            "{err}"
        );
    }
}
