//! Ansible host patterns: `all`, `*`, host and group names, globs (`web*`, `db?.example.com`,
//! `[ab]*`), regexes (`~^web\d+`), unions (`a:b`, `a,b`), intersections (`a:&b`), exclusions
//! (`a:!b`) and subscripts (`web[0]`, `web[-1]`, `web[1:3]`, `web[2:]`).
//!
//! Evaluation follows Ansible's `InventoryManager`: plain patterns first (their union), then
//! every `&` pattern (intersection), then every `!` pattern (exclusion); a pattern made only
//! of `&`/`!` parts starts from `all`. A name matches groups (all their hosts, children
//! included) and, when no group matched or the pattern is a glob/regex, hosts. `localhost`,
//! `127.0.0.1` and `::1` match the implicit local host when the inventory does not define
//! them. The result is in inventory order without duplicates.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::Inventory;
use crate::error::EngineError;

/// Names that mean the control machine when the inventory does not define them.
pub(crate) const LOCALHOST_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// A `:`-separated part: anything but whitespace, `:` and brackets, or a whole `[...]`.
static WORD_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").ok());
/// `pattern[3]`, `pattern[-1]`, `pattern[1:3]`, `pattern[2:]` (and the old `[1-3]`).
static SUBSCRIPT_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").ok());

/// One selected host: an inventory host (by index) or the implicit local host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Hit {
    Host(usize),
    Implicit(String),
}

/// Splits a pattern on `,` (preferred) and `:` (kept for compatibility; not inside `[...]`,
/// not in regexes, not in IPv6 addresses).
pub(crate) fn split_pattern(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    let word = WORD_RE.as_ref();
    for piece in pattern.split(',') {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let bare = piece.trim_start_matches(['&', '!']);
        if bare.starts_with('~') || is_ipv6_like(bare) || !piece.contains(':') {
            out.push(piece.to_owned());
            continue;
        }
        match word {
            Some(re) => out.extend(re.find_iter(piece).map(|m| m.as_str().to_owned())),
            None => out.push(piece.to_owned()),
        }
    }
    out
}

fn is_ipv6_like(s: &str) -> bool {
    (s.contains("::") || s.matches(':').count() == 7)
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
}

/// Expands `@file` parts (one pattern per line), as `--limit @retry_file` does.
pub(crate) fn expand_files(parts: Vec<String>) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::new();
    for part in parts {
        let Some(file) = part.strip_prefix('@') else {
            out.push(part);
            continue;
        };
        let text = std::fs::read_to_string(Path::new(file)).map_err(|e| EngineError::Io {
            file: file.into(),
            message: format!("cannot read the limit file: {e}"),
        })?;
        for line in text.lines() {
            out.extend(split_pattern(line));
        }
    }
    Ok(out)
}

/// Evaluates already split pattern parts against `inv`.
pub(crate) fn evaluate(
    inv: &Inventory,
    pattern: &str,
    parts: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, EngineError> {
    let mut regular: Vec<&str> = Vec::new();
    let mut intersect: Vec<&str> = Vec::new();
    let mut exclude: Vec<&str> = Vec::new();
    for p in parts {
        if let Some(rest) = p.strip_prefix('&') {
            intersect.push(rest);
        } else if let Some(rest) = p.strip_prefix('!') {
            exclude.push(rest);
        } else {
            regular.push(p);
        }
    }
    if regular.is_empty() {
        if intersect.is_empty() && exclude.is_empty() {
            return Err(EngineError::Pattern {
                pattern: pattern.to_owned(),
                message: "empty host pattern".into(),
            });
        }
        regular.push("all");
    }
    let mut hosts: BTreeSet<Hit> = BTreeSet::new();
    for p in regular {
        hosts.extend(match_one(inv, pattern, p, warnings)?);
    }
    for p in intersect {
        let that: BTreeSet<Hit> = match_one(inv, pattern, p, warnings)?.into_iter().collect();
        hosts.retain(|h| that.contains(h));
    }
    for p in exclude {
        let that: BTreeSet<Hit> = match_one(inv, pattern, p, warnings)?.into_iter().collect();
        hosts.retain(|h| !that.contains(h));
    }
    Ok(hosts
        .into_iter()
        .map(|h| match h {
            Hit::Host(i) => inv.hosts[i].name.clone(),
            Hit::Implicit(name) => name,
        })
        .collect())
}

fn bad(pattern: &str, message: String) -> EngineError {
    EngineError::Pattern {
        pattern: pattern.to_owned(),
        message,
    }
}

/// Hosts matching one part (without `&`/`!`), in inventory order, subscript applied.
fn match_one(
    inv: &Inventory,
    whole: &str,
    p: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Hit>, EngineError> {
    if p.is_empty() {
        return Err(bad(whole, "empty part in host pattern".into()));
    }
    if let Some(&h) = inv.host_index.get(p) {
        return Ok(vec![Hit::Host(h)]);
    }
    let (expr, subscript) = split_subscript(p, whole, warnings)?;
    let hits = enumerate(inv, whole, expr, warnings)?;
    match subscript {
        None => Ok(hits),
        Some(sub) => apply_subscript(hits, sub).ok_or_else(|| {
            bad(
                whole,
                format!("no hosts matched the subscripted pattern `{p}`"),
            )
        }),
    }
}

#[derive(Debug, Clone, Copy)]
enum Subscript {
    Index(i64),
    Range(usize, Option<usize>),
}

fn split_subscript<'a>(
    p: &'a str,
    whole: &str,
    warnings: &mut Vec<String>,
) -> Result<(&'a str, Option<Subscript>), EngineError> {
    if p.starts_with('~') {
        return Ok((p, None));
    }
    let Some(re) = SUBSCRIPT_RE.as_ref() else {
        return Err(bad(
            whole,
            "internal error: subscript pattern failed to compile".into(),
        ));
    };
    let Some(c) = re.captures(p) else {
        return Ok((p, None));
    };
    let expr = c.get(1).map_or(p, |m| m.as_str());
    if let Some(idx) = c.get(2) {
        let i = idx
            .as_str()
            .parse::<i64>()
            .map_err(|_| bad(whole, format!("subscript `{}` is too large", idx.as_str())))?;
        return Ok((expr, Some(Subscript::Index(i))));
    }
    let num = |m: Option<regex::Match<'_>>| -> Result<Option<usize>, EngineError> {
        match m.map(|m| m.as_str()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse::<usize>()
                .map(Some)
                .map_err(|_| bad(whole, format!("subscript `{s}` is too large"))),
        }
    };
    let start = num(c.get(3))?.unwrap_or(0);
    let end = num(c.get(5))?;
    if c.get(4).map(|m| m.as_str()) == Some("-") {
        warnings.push(format!(
            "host pattern `{whole}`: use inclusive [x:y] subscripts instead of [x-y]"
        ));
    }
    Ok((expr, Some(Subscript::Range(start, end))))
}

fn apply_subscript(hits: Vec<Hit>, sub: Subscript) -> Option<Vec<Hit>> {
    if hits.is_empty() {
        return Some(hits);
    }
    let len = hits.len();
    match sub {
        Subscript::Index(i) => {
            let idx = if i < 0 { len as i64 + i } else { i };
            let idx = usize::try_from(idx).ok()?;
            hits.get(idx).cloned().map(|h| vec![h])
        }
        Subscript::Range(start, end) => {
            let end = end.unwrap_or(len - 1).min(len - 1);
            if start > end {
                return Some(Vec::new());
            }
            Some(hits[start..=end].to_vec())
        }
    }
}

/// A compiled glob (`fnmatch`) or `~regex` pattern.
fn compile(whole: &str, expr: &str) -> Result<Regex, EngineError> {
    let source = match expr.strip_prefix('~') {
        // Python's re.match anchors at the start only.
        Some(re) => format!("^(?:{re})"),
        None => glob_to_regex(expr),
    };
    Regex::new(&source).map_err(|e| bad(whole, format!("invalid pattern `{expr}`: {e}")))
}

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`; everything else literal.
fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("^(?:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                    continue;
                }
                let mut class: &[char] = &chars[i..j];
                i = j + 1;
                out.push('[');
                if class.first() == Some(&'!') {
                    out.push('^');
                    class = &class[1..];
                }
                for &ch in class {
                    if ch != '-' && ch.is_ascii_punctuation() {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                out.push(']');
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// Ansible's `_enumerate_matches`.
fn enumerate(
    inv: &Inventory,
    whole: &str,
    expr: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Hit>, EngineError> {
    let re = compile(whole, expr)?;
    let mut found: BTreeSet<Hit> = BTreeSet::new();
    let mut matched_group = false;
    for g in &inv.groups {
        if re.is_match(&g.name) {
            matched_group = true;
            found.extend(g.all_hosts.iter().map(|&h| Hit::Host(h)));
        }
    }
    let special = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
    if !matched_group || special {
        for (i, h) in inv.hosts.iter().enumerate() {
            if re.is_match(&h.name) {
                found.insert(Hit::Host(i));
            }
        }
    }
    if found.is_empty() && LOCALHOST_NAMES.contains(&expr) {
        found.insert(Hit::Implicit(expr.to_owned()));
    }
    if found.is_empty() && !matched_group && expr != "all" {
        warnings.push(format!(
            "host pattern `{expr}` matches no host or group in the inventory; ignoring it"
        ));
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(split_pattern("a:b"), ["a", "b"]);
        assert_eq!(split_pattern("a:&b:!c"), ["a", "&b", "!c"]);
        assert_eq!(split_pattern("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(split_pattern("web[1:2]:db"), ["web[1:2]", "db"]);
        assert_eq!(split_pattern("~web:\\d"), ["~web:\\d"]);
        assert_eq!(split_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(split_pattern("a,b:&c"), ["a", "b", "&c"]);
    }

    #[test]
    fn globs() {
        let m = |g: &str, s: &str| {
            Regex::new(&glob_to_regex(g))
                .map(|r| r.is_match(s))
                .unwrap_or(false)
        };
        assert!(m("web*", "web01.example.com"));
        assert!(!m("web*", "db1"));
        assert!(m("db?", "db1"));
        assert!(m("[ab]x", "bx"));
        assert!(m("[!ab]x", "cx"));
        assert!(!m("[!ab]x", "ax"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(m("x[", "x["));
    }
}
