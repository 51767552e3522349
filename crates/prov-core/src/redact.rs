//! Masking of secrets. Every value that came from a vault (and every become password) is
//! registered here; sinks only ever see text that went through [`Redactor::redact`].

use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// The set of secret values of a run.
#[derive(Debug, Default)]
pub struct Redactor {
    secrets: RwLock<Vec<String>>,
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret. Very short values (under 4 characters) would mask ordinary text
    /// everywhere, so they are still registered but only masked as whole lines/values.
    pub fn add(&self, secret: &str) {
        let secret = secret.trim_end_matches('\n');
        if secret.is_empty() {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_owned());
            // Longest first, so a secret containing another is masked whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// True when no secret is registered.
    pub fn is_empty(&self) -> bool {
        self.secrets.read().map(|s| s.is_empty()).unwrap_or(true)
    }

    /// Replaces every registered secret in `text` with [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for s in secrets.iter() {
            if s.len() >= 4 {
                if out.contains(s.as_str()) {
                    out = out.replace(s.as_str(), MASK);
                }
            } else if out == *s {
                out = MASK.to_owned();
            }
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

    #[test]
    fn longest_secret_wins() {
        let r = Redactor::new();
        r.add("abcd");
        r.add("abcdefgh");
        assert_eq!(r.redact("abcdefgh"), MASK);
    }
}
