//! Masking of secrets. Every value that came from a vault (and every become password) is
//! registered here; sinks only ever see text that went through [`Redactor::redact`].
//!
//! A secret is masked in every representation prov can cheaply predict, because output shows a
//! secret in more forms than the one it was registered in:
//!
//! - **as is**, and in any ASCII letter case (`upper`, `lower`, `capitalize` of a secret), plus the
//!   Unicode upper and lower case forms of a non-ASCII secret;
//! - **per line**, for a multi-line secret (a PEM key read back by `command: cat` shows up one
//!   line per element of `stdout_lines`; indentation around a line does not matter): every line
//!   of 4 characters or more (after trimming) is a secret of its own;
//! - **JSON-escaped**, once and twice (a secret containing `"`, `\` or a newline, inside
//!   `to_json` output or the JSON text of a registered result shown as a string).
//!
//! Values *derived* from a secret (`replace`, `truncate`, `b64encode`, a hash, a substring) are not
//! recognised: such tasks need `no_log: true` (docs/output.md, "What is masked").

use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Secrets (and lines of secrets) shorter than this are only masked as whole values: as
/// substrings they would mask ordinary text everywhere.
const MIN_SUBSTRING: usize = 4;

/// One form of a secret, matched regardless of ASCII letter case.
#[derive(Debug)]
struct Form {
    /// The form with ASCII letters lowercased.
    lower: String,
}

/// The set of secret values of a run.
#[derive(Debug, Default)]
pub struct Redactor {
    inner: RwLock<Forms>,
}

#[derive(Debug, Default)]
struct Forms {
    /// Secrets as registered (to ignore repeats).
    secrets: Vec<String>,
    /// Forms masked wherever they occur, longest first (so a secret containing another is
    /// masked whole).
    substrings: Vec<Form>,
    /// Short forms masked only as a whole value (ASCII-lowercased).
    whole: Vec<String>,
}

/// `s` as it appears inside a JSON string literal (without the quotes).
fn json_escaped(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_owned()
}

/// Every form of `secret` to mask (see the module documentation).
fn forms_of(secret: &str) -> Vec<String> {
    let mut base: Vec<String> = vec![secret.to_owned()];
    let trimmed = secret.trim();
    if trimmed != secret && !trimmed.is_empty() {
        base.push(trimmed.to_owned());
    }
    if secret.contains('\n') || secret.contains('\r') {
        for line in secret.lines() {
            let line = line.trim();
            if line.len() >= MIN_SUBSTRING {
                base.push(line.to_owned());
            }
        }
    }
    let mut cased = Vec::new();
    for b in &base {
        if !b.is_ascii() {
            cased.push(b.to_uppercase());
            cased.push(b.to_lowercase());
        }
    }
    base.extend(cased);
    let mut all = Vec::with_capacity(base.len() * 3);
    for b in base {
        let once = json_escaped(&b);
        if once != b {
            let twice = json_escaped(&once);
            all.push(twice);
            all.push(once);
        }
        all.push(b);
    }
    all
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret (and with it every form of it listed in the module documentation).
    /// Very short values (under 4 characters) would mask ordinary text everywhere, so they are
    /// still registered but only masked as whole lines/values.
    pub fn add(&self, secret: &str) {
        let secret = secret.trim_end_matches('\n');
        if secret.is_empty() {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.secrets.iter().any(|s| s == secret) {
            return;
        }
        inner.secrets.push(secret.to_owned());
        for form in forms_of(secret) {
            let lower = form.to_ascii_lowercase();
            if form.len() >= MIN_SUBSTRING {
                if !inner.substrings.iter().any(|f| f.lower == lower) {
                    inner.substrings.push(Form { lower });
                }
            } else if !form.is_empty() && !inner.whole.contains(&lower) {
                inner.whole.push(lower);
            }
        }
        // Longest first, so a secret containing another is masked whole.
        inner
            .substrings
            .sort_by_key(|f| std::cmp::Reverse(f.lower.len()));
    }

    /// True when no secret is registered.
    pub fn is_empty(&self) -> bool {
        self.inner
            .read()
            .map(|s| s.secrets.is_empty())
            .unwrap_or(true)
    }

    /// Replaces every registered secret in `text` with [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        // ASCII lowercasing keeps every byte position, so a match in `lower` is at the same
        // (character boundary) position in `out`.
        let mut lower = out.to_ascii_lowercase();
        for f in &inner.substrings {
            if !lower.contains(f.lower.as_str()) {
                continue;
            }
            let mut masked = String::with_capacity(out.len());
            let mut last = 0;
            for (at, _) in lower.match_indices(f.lower.as_str()) {
                masked.push_str(&out[last..at]);
                masked.push_str(MASK);
                last = at + f.lower.len();
            }
            masked.push_str(&out[last..]);
            out = masked;
            lower = out.to_ascii_lowercase();
        }
        let value = lower.trim();
        if !value.is_empty() && inner.whole.iter().any(|w| w == value) {
            out = MASK.to_owned();
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                let r = self.redact(s);
                if r != *s {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_everywhere() {
        let r = Redactor::new();
        r.add("hunter22");
        assert_eq!(r.redact("requirepass hunter22\n"), "requirepass ********\n");
        let mut v = serde_json::json!({"a": ["x hunter22 y"], "b": 1});
        r.redact_json(&mut v);
        assert_eq!(v["a"][0], "x ******** y");
    }

    const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDdummydummydummydummydummydummydummydummydummyAAAA
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn a_multi_line_secret_is_masked_line_by_line() {
        let r = Redactor::new();
        r.add(PEM);
        // `command: cat key.pem` registered: stdout (trailing newline gone) and stdout_lines.
        let lines: Vec<&str> = PEM.lines().collect();
        let mut v = serde_json::json!({
            "stdout": PEM.trim_end(),
            "stdout_lines": lines,
            "msg": format!("key:\n    {}\n", lines[1]),
        });
        r.redact_json(&mut v);
        let text = v.to_string();
        for l in PEM.lines() {
            assert!(!text.contains(l), "line {l:?} leaked: {text}");
        }
        assert_eq!(v["stdout"], MASK);
        assert!(
            v["stdout_lines"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l == MASK)
        );
        // The whole key with other line endings, or indented, is masked line by line too.
        let crlf = PEM.replace('\n', "\r\n");
        assert!(!r.redact(&crlf).contains("b3BlbnNzaC1rZX"));
        let indented = PEM.replace('\n', "\n    ");
        assert!(!r.redact(&indented).contains("QyNTUxOQAAAC"));
    }

    #[test]
    fn json_escaped_forms_are_masked() {
        let secret = r#"pa"ss\word-42"#;
        let r = Redactor::new();
        r.add(secret);
        // `to_json` of a dict holding the secret, and the same embedded in JSON once more.
        let once = serde_json::json!({"db": {"password": secret}}).to_string();
        let twice = serde_json::Value::String(once.clone()).to_string();
        for text in [&once, &twice] {
            let masked = r.redact(text);
            assert!(!masked.contains("word-42"), "{text} -> {masked}");
            assert!(masked.contains(MASK), "{masked}");
        }
        // Nested registered results: a string inside an object inside a list.
        let mut v = serde_json::json!({"results": [{"item": "x", "msg": once}]});
        r.redact_json(&mut v);
        assert!(!v.to_string().contains("word-42"), "{v}");
        // A multi-line secret JSON-escaped as a whole (`\n` inside a string).
        let r = Redactor::new();
        r.add("line-one\nline-two\n");
        assert_eq!(
            r.redact(r#"{"k":"line-one\nline-two"}"#),
            r#"{"k":"********"}"#
        );
    }

    #[test]
    fn case_variants_are_masked() {
        let r = Redactor::new();
        r.add("Hunter22-Secret");
        for v in ["HUNTER22-SECRET", "hunter22-secret", "Hunter22-secret"] {
            assert_eq!(r.redact(&format!("pw={v};")), "pw=********;", "{v}");
        }
        let r = Redactor::new();
        r.add("straße-geheim");
        assert_eq!(r.redact("STRASSE-GEHEIM"), MASK);
        assert_eq!(r.redact("x Straße-Geheim"), "x ********");
    }

    #[test]
    fn short_secrets_only_as_whole_values() {
        let r = Redactor::new();
        r.add("abc");
        assert_eq!(r.redact("abc"), MASK);
        assert_eq!(r.redact("ABC"), MASK);
        assert_eq!(r.redact("abcdef"), "abcdef");
        // Short lines of a multi-line secret are not masked everywhere.
        let r = Redactor::new();
        r.add("{\n  \"token\": \"s3cr3t-t0ken\"\n}\n");
        assert_eq!(r.redact("}"), "}");
        assert!(!r.redact(r#"  "token": "s3cr3t-t0ken""#).contains("s3cr3t"));
    }

    #[test]
    fn masking_never_panics_on_any_text() {
        let r = Redactor::new();
        r.add("ÄÖÜ-secret");
        r.add("äöü-secret");
        for t in [
            "",
            "ä",
            "ÄÖÜ-SECRET ä",
            "\u{0}äöü-secretäöü-secret",
            "İstanbul äöü-secret",
        ] {
            let _ = r.redact(t);
        }
        assert_eq!(r.redact("İ äöü-secret"), "İ ********");
    }

    #[test]
    fn longest_secret_wins() {
        let r = Redactor::new();
        r.add("abcd");
        r.add("abcdefgh");
        assert_eq!(r.redact("abcdefgh"), MASK);
    }
}
