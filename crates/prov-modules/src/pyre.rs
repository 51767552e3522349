//! Python-style regular expressions (Ansible's `regexp`, `insertafter`...) on top of the Rust
//! `regex` crate, and Python's replacement templates (`\1`, `\g<name>`) for `backrefs`.
//!
//! Common Python-only spellings are translated (`\Z`, `{,n}`, a literal `{`, `[` inside a
//! class, `(?#comment)`); constructs the Rust engine cannot run (look-around,
//! backreferences inside the pattern) are rejected with a message saying so.

use prov_core::ModuleError;
use regex::bytes::{Captures, Regex};

/// Compiles a Python-style pattern given as argument `what` of `module`.
pub fn compile(module: &str, what: &str, pattern: &str) -> Result<Regex, ModuleError> {
    let translated = translate(pattern).map_err(|e| {
        ModuleError::args(format!(
            "{module}: `{what}` regular expression `{pattern}`: {e}"
        ))
    })?;
    Regex::new(&translated).map_err(|e| {
        ModuleError::args(format!(
            "{module}: `{what}` is not a valid regular expression `{pattern}`: {e}"
        ))
    })
}

/// Translates Python regex syntax into Rust regex syntax.
pub fn translate(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    // Inside a character set: where its members start (a `]` there is a literal).
    let mut class_start: Option<usize> = None;
    while i < chars.len() {
        i = match (class_start, chars[i]) {
            (Some(start), _) => {
                let (next, closed) = class_char(&chars, i, start, &mut out);
                if closed {
                    class_start = None;
                }
                next
            }
            (None, '[') => {
                let next = open_class(&chars, i, &mut out);
                class_start = Some(next);
                next
            }
            (None, _) => outside_char(&chars, i, &mut out)?,
        };
    }
    if class_start.is_some() {
        return Err("unterminated character set `[`".into());
    }
    Ok(out)
}

/// One character inside a set: the next index and whether it closed the set.
fn class_char(chars: &[char], i: usize, start: usize, out: &mut String) -> (usize, bool) {
    match chars[i] {
        '\\' => {
            out.push('\\');
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
            }
            return (i + 2, false);
        }
        ']' if i > start => {
            out.push(']');
            return (i + 1, true);
        }
        '[' => out.push_str("\\["),
        '&' => out.push_str("\\&"),
        '~' => out.push_str("\\~"),
        '-' if chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
        c => out.push(c),
    }
    (i + 1, false)
}

/// `[` or `[^`, and a `]` right after it (a literal): the index where the members start.
fn open_class(chars: &[char], mut i: usize, out: &mut String) -> usize {
    out.push('[');
    i += 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    i
}

/// One construct outside a set: the index after it.
fn outside_char(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    match chars[i] {
        '\\' => {
            let Some(&n) = chars.get(i + 1) else {
                return Err("ends with a lone backslash".into());
            };
            match n {
                '1'..='9' => {
                    return Err(
                        "backreferences inside a pattern (\\1) are not supported by prov's regex engine"
                            .into(),
                    );
                }
                'Z' => out.push_str("\\z"),
                n => {
                    out.push('\\');
                    out.push(n);
                }
            }
            Ok(i + 2)
        }
        '(' if chars.get(i + 1) == Some(&'?') => extension_group(chars, i, out),
        '{' => Ok(brace(chars, i, out)),
        '}' => {
            out.push_str("\\}");
            Ok(i + 1)
        }
        c => {
            out.push(c);
            Ok(i + 1)
        }
    }
}

/// `(?...`: refuses what the engine cannot run, drops comments.
fn extension_group(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let rest: String = chars[i + 2..].iter().take(3).collect();
    if ["=", "!", "<=", "<!"].iter().any(|p| rest.starts_with(p)) {
        return Err("look-ahead and look-behind assertions ((?=...), (?!...), (?<=...), (?<!...)) are not supported by prov's regex engine".into());
    }
    if rest.starts_with("P=") {
        return Err(
            "named backreferences (?P=name) are not supported by prov's regex engine".into(),
        );
    }
    if rest.starts_with('#') {
        // A comment group: drop it.
        let end = chars[i..]
            .iter()
            .position(|&c| c == ')')
            .ok_or("unterminated (?# comment")?;
        return Ok(i + end + 1);
    }
    out.push_str("(?");
    Ok(i + 2)
}

/// `{`: a quantifier (`{,n}` becomes `{0,n}`) or a literal brace.
fn brace(chars: &[char], i: usize, out: &mut String) -> usize {
    let rest: String = chars[i + 1..].iter().collect();
    match rest.find('}') {
        Some(end) if is_quantifier(&rest[..end]) => {
            let body = &rest[..end];
            if let Some(max) = body.strip_prefix(',') {
                out.push_str("{0,");
                out.push_str(max);
                out.push('}');
            } else {
                out.push('{');
                out.push_str(body);
                out.push('}');
            }
            // `end` counts bytes of `rest`: the body is ASCII (a quantifier).
            i + end + 2
        }
        _ => {
            out.push_str("\\{");
            i + 1
        }
    }
}

fn is_quantifier(body: &str) -> bool {
    let (a, b) = match body.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    match b {
        None => !a.is_empty() && digits(a),
        Some(b) => digits(a) && digits(b) && !(a.is_empty() && b.is_empty()),
    }
}

/// Expands a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`) with `caps`.
pub fn expand(template: &str, caps: &Captures<'_>) -> Result<Vec<u8>, String> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = Vec::with_capacity(template.len());
    let mut i = 0;
    let group = |out: &mut Vec<u8>, name: &str| -> Result<(), String> {
        let m = match name.parse::<usize>() {
            Ok(n) => {
                if n >= caps.len() {
                    return Err(format!("invalid group reference {n}"));
                }
                caps.get(n)
            }
            Err(_) => caps.name(name),
        };
        if let Some(m) = m {
            out.extend_from_slice(m.as_bytes());
        }
        Ok(())
    };
    let mut buf = [0u8; 4];
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            return Err("bad escape (end of pattern)".into());
        };
        i += 2;
        match n {
            '0'..='9' => {
                let mut num = n.to_string();
                if let Some(&d) = chars.get(i)
                    && d.is_ascii_digit()
                    && n != '0'
                {
                    num.push(d);
                    i += 1;
                }
                if n == '0' {
                    out.push(0);
                } else {
                    group(&mut out, &num)?;
                }
            }
            'g' => {
                if chars.get(i) != Some(&'<') {
                    return Err("missing < after \\g".into());
                }
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == '>')
                    .ok_or("missing > in \\g<...>")?;
                let name: String = chars[i + 1..i + end].iter().collect();
                group(&mut out, &name)?;
                i += end + 1;
            }
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            'r' => out.push(b'\r'),
            'a' => out.push(7),
            'f' => out.push(12),
            'v' => out.push(11),
            'b' => out.push(8),
            '\\' => out.push(b'\\'),
            c if c.is_ascii_alphabetic() => return Err(format!("bad escape \\{c}")),
            c => {
                out.push(b'\\');
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_python_syntax() {
        assert_eq!(translate(r"^a\Z").unwrap(), r"^a\z");
        assert_eq!(translate(r"server {").unwrap(), r"server \{");
        assert_eq!(translate(r"a{2,3}b{,4}").unwrap(), r"a{2,3}b{0,4}");
        assert_eq!(translate(r"[[]x").unwrap(), r"[\[]x");
        assert_eq!(translate(r"[]a]").unwrap(), r"[\]a]");
        assert_eq!(translate(r"a(?#note)b").unwrap(), "ab");
        assert!(translate(r"(?<=a)b").unwrap_err().contains("look-ahead"));
        assert!(translate(r"(a)\1").unwrap_err().contains("backreferences"));
        assert!(compile("m", "regexp", r"(?P<k>\w+)=").is_ok());
    }

    #[test]
    fn expands_python_templates() {
        let re = compile("m", "regexp", r"^(?P<k>\w+)=(\d+)").unwrap();
        let caps = re.captures(b"port=80").unwrap();
        assert_eq!(expand(r"\g<k> \2\\x\n", &caps).unwrap(), b"port 80\\x\n");
        assert!(expand(r"\q", &caps).is_err());
        assert!(expand(r"\5", &caps).is_err());
    }
}
