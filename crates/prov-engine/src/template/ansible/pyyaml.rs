//! YAML written as PyYAML's `yaml.dump` writes it for Ansible's `to_yaml` and `to_nice_yaml`
//! (`sort_keys`, `indent`, `allow_unicode`, width 80): block mappings indented by `indent`,
//! sequences inside a mapping not indented, `-` followed by `indent - 1` spaces before a
//! mapping item, strings plain unless YAML 1.1 would read them as another type (`'yes'`,
//! `'1.0'`, `''`) or their characters forbid it, then single-quoted (a line break written as an
//! empty line), long plain and single-quoted strings folded at spaces past column 80.
//! `flow_leaves` (`to_yaml`, PyYAML's `default_flow_style=None`): a list or mapping holding
//! only scalars is written inline (`[1, 2]`, `{a: 1}`).

use serde_json::Value;

const WIDTH: usize = 80;

pub(super) struct Dumper {
    pub indent: usize,
    pub flow_leaves: bool,
    out: String,
    column: usize,
}

impl Dumper {
    pub fn new(indent: usize, flow_leaves: bool) -> Self {
        Self {
            indent: indent.clamp(2, 9),
            flow_leaves,
            out: String::new(),
            column: 0,
        }
    }

    pub fn dump(mut self, v: &Value) -> String {
        match v {
            Value::Object(m) if !m.is_empty() && !self.is_flow(v) => self.mapping(v, 0),
            Value::Array(a) if !a.is_empty() && !self.is_flow(v) => self.sequence(v, 0),
            // A lone scalar: PyYAML ends its document with `...`, Ansible's output keeps
            // only the line.
            _ => self.node_inline(v, self.indent, false),
        }
        if !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out
    }

    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.column = s[i + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
    }

    fn newline_indent(&mut self, indent: usize) {
        if self.column != 0 || !self.out.is_empty() && !self.out.ends_with('\n') {
            self.write("\n");
        }
        self.write(&" ".repeat(indent));
    }

    fn is_flow(&self, v: &Value) -> bool {
        let scalar = |x: &Value| !matches!(x, Value::Array(_) | Value::Object(_));
        self.flow_leaves
            && match v {
                Value::Array(a) => a.iter().all(scalar),
                Value::Object(m) => m.values().all(scalar),
                _ => false,
            }
    }

    /// A block mapping whose keys start at column `indent` (the cursor is already there for
    /// the first key).
    fn mapping(&mut self, v: &Value, indent: usize) {
        let Value::Object(m) = v else { return };
        for (i, (k, val)) in m.iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            self.scalar(k, indent + self.indent, true, false);
            self.write(":");
            self.value(val, indent, true);
        }
    }

    /// A block sequence whose `-` are at column `indent`.
    fn sequence(&mut self, v: &Value, indent: usize) {
        let Value::Array(a) = v else { return };
        for (i, item) in a.iter().enumerate() {
            if i > 0 {
                self.newline_indent(indent);
            }
            self.write("-");
            self.value(item, indent, false);
        }
    }

    /// The value after `key:` (`in_mapping`) or `-`, the parent at column `indent`.
    fn value(&mut self, v: &Value, indent: usize, in_mapping: bool) {
        let nested = indent + self.indent;
        match v {
            Value::Object(m) if !m.is_empty() && !self.is_flow(v) => {
                if in_mapping {
                    self.newline_indent(nested);
                } else {
                    self.write(&" ".repeat(nested - self.column.min(nested)));
                }
                self.mapping(v, nested);
            }
            Value::Array(a) if !a.is_empty() && !self.is_flow(v) => {
                if in_mapping {
                    // PyYAML does not indent a sequence inside a mapping.
                    self.newline_indent(indent);
                    self.sequence(v, indent);
                } else {
                    self.write(&" ".repeat(nested - self.column.min(nested)));
                    self.sequence(v, nested);
                }
            }
            _ => {
                self.write(" ");
                self.node_inline(v, nested, false);
            }
        }
    }

    /// A scalar or flow collection at the cursor (`indent` for the continuation lines).
    fn node_inline(&mut self, v: &Value, indent: usize, flow: bool) {
        match v {
            Value::Null => self.write("null"),
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let text = match (n.as_i64(), n.as_u64(), n.as_f64()) {
                    (Some(i), _, _) => i.to_string(),
                    (_, Some(u), _) => u.to_string(),
                    (_, _, Some(f)) => python_float(f),
                    _ => n.to_string(),
                };
                self.write(&text);
            }
            Value::String(s) => self.scalar(s, indent, false, flow),
            Value::Array(a) => {
                self.write("[");
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        self.write(", ");
                    }
                    self.node_inline(x, indent, true);
                }
                self.write("]");
            }
            Value::Object(m) => {
                self.write("{");
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        self.write(", ");
                    }
                    self.scalar(k, indent, true, true);
                    self.write(": ");
                    self.node_inline(x, indent, true);
                }
                self.write("}");
            }
        }
    }

    fn scalar(&mut self, s: &str, indent: usize, key: bool, flow: bool) {
        match style(s, flow) {
            Style::Plain => self.folded(s, indent, !key, false),
            Style::Single if !(key && s.contains('\n')) => {
                self.write("'");
                self.folded(s, indent, !key, true);
                self.write("'");
            }
            _ => self.write(&double_quoted(s)),
        }
    }

    /// Plain or single-quoted text: a lone space past the width becomes a line break (when
    /// `split`), a run of line breaks in quoted text is written with one more.
    fn folded(&mut self, s: &str, indent: usize, split: bool, quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                let lone =
                    chars.get(i + 1).is_some_and(|n| *n != ' ') && i > 0 && chars[i - 1] != ' ';
                if split && lone && self.column > WIDTH && i + 1 < chars.len() {
                    self.newline_indent(indent);
                } else {
                    self.write(" ");
                }
            } else if c == '\n' && quoted {
                let start = i;
                while i + 1 < chars.len() && chars[i + 1] == '\n' {
                    i += 1;
                }
                let breaks = i - start + 1;
                self.write(&"\n".repeat(breaks + 1));
                self.column = 0;
                self.write(&" ".repeat(indent));
            } else if c == '\'' && quoted {
                self.write("''");
            } else {
                let mut b = [0u8; 4];
                self.write(c.encode_utf8(&mut b));
            }
            i += 1;
        }
    }
}

enum Style {
    Plain,
    Single,
    Double,
}

/// PyYAML's choice of style for a string (its `analyze_scalar` and implicit resolvers).
fn style(s: &str, flow: bool) -> Style {
    let printable = |c: char| {
        matches!(c, '\n' | '\t' | ' '..='~' | '\u{85}') || (c >= '\u{a0}' && c != '\u{feff}')
    };
    if !s.chars().all(printable) {
        return Style::Double;
    }
    let single_ok = !s.starts_with(' ') || !s.contains('\n');
    let plain_ok = plain_allowed(s, flow) && !resolves_to_other_type(s);
    match (plain_ok, single_ok) {
        (true, _) => Style::Plain,
        (false, true) => Style::Single,
        _ => Style::Double,
    }
}

fn plain_allowed(s: &str, flow: bool) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let (Some(first), Some(last)) = (chars.first(), chars.last()) else {
        return false;
    };
    if *first == ' ' || *last == ' ' || s.contains('\n') || s.contains('\t') {
        return false;
    }
    for (i, c) in chars.iter().enumerate() {
        let next_space = chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\n');
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(*c) {
                return false;
            }
            if "?:".contains(*c) && (flow || next_space) {
                return false;
            }
            if *c == '-' && next_space {
                return false;
            }
        } else {
            if flow && ",?[]{}".contains(*c) {
                return false;
            }
            if *c == ':' && (flow || next_space) {
                return false;
            }
            if *c == '#' && chars[i - 1] == ' ' {
                return false;
            }
        }
    }
    true
}

/// True when YAML 1.1 (PyYAML's resolvers) reads `s` as a boolean, null, number, timestamp,
/// merge key or value key.
fn resolves_to_other_type(s: &str) -> bool {
    const PATTERNS: &[&str] = &[
        r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        r"^(?:~|null|Null|NULL|)$",
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
        r"^(?:<<|=)$",
    ];
    static SET: std::sync::OnceLock<Option<regex::RegexSet>> = std::sync::OnceLock::new();
    SET.get_or_init(|| regex::RegexSet::new(PATTERNS).ok())
        .as_ref()
        .is_some_and(|set| set.is_match(s))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            '\u{feff}' => out.push_str("\\uFEFF"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Python's `repr` of a float, as PyYAML writes it (`1.0`, `0.5`, `1.0e+20`).
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f.fract() == 0.0 && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f}");
    if s.contains('e') && !s.contains('.') {
        return s.replace('e', ".0e");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nice(v: Value, indent: usize) -> String {
        Dumper::new(indent, false).dump(&v)
    }

    #[test]
    fn block_layout_is_pyyaml_s() {
        let v = json!({"a": 1, "c": {"y": [1, 2], "z": 1}});
        assert_eq!(
            nice(v.clone(), 4),
            "a: 1\nc:\n    y:\n    - 1\n    - 2\n    z: 1\n"
        );
        assert_eq!(nice(v, 2), "a: 1\nc:\n  y:\n  - 1\n  - 2\n  z: 1\n");
        assert_eq!(
            nice(json!([{"g": ["x"], "n": "a"}, 3]), 4),
            "-   g:\n    - x\n    n: a\n- 3\n"
        );
        assert_eq!(
            Dumper::new(2, true).dump(&json!({"c": {"y": [1, 2]}})),
            "c:\n  y: [1, 2]\n"
        );
    }

    #[test]
    fn strings_are_quoted_as_pyyaml_quotes_them() {
        let v = json!({"s": "yes", "e": "", "n": "1.0", "p": "/bin/sh", "c": "a: b", "h": "x #y", "d": "- a", "m": "a\nb"});
        assert_eq!(
            nice(v, 2),
            "s: 'yes'\ne: ''\nn: '1.0'\np: /bin/sh\nc: 'a: b'\nh: 'x #y'\nd: '- a'\nm: 'a\n\n  b'\n"
        );
    }
}
