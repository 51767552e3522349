//! INI inventory values, parsed the way Ansible parses them: with Python's `ast.literal_eval`,
//! falling back to the text itself. So `port=22` is the integer 22, `debug=True` a boolean,
//! `pkgs="['a', 'b']"` a list, `x=None` null, `"'0755'"` the string `0755`, while `yes`, `true`,
//! `0755` and `hello world` stay strings.
//!
//! This implements the subset of Python literals that can occur in inventories: numbers
//! (decimal, hex, octal, binary, underscores, floats), strings (all quote styles, escapes,
//! `r`/`u`/`b` prefixes, implicit concatenation), `True`/`False`/`None`, lists, tuples, sets
//! and dicts. Anything else (complex numbers included) is kept as text.

use serde_json::{Map, Number, Value};

/// Parses an INI value like Ansible's `_parse_value`.
pub(crate) fn parse_value(text: &str) -> Value {
    let mut p = Parser {
        s: text.chars().collect(),
        i: 0,
        nesting: 0,
    };
    // literal_eval strips leading spaces and tabs.
    while matches!(p.peek(), Some(' ' | '\t')) {
        p.i += 1;
    }
    match p.top() {
        Some(v) => {
            p.skip_ws();
            if p.i >= p.s.len() {
                v
            } else {
                Value::String(text.to_owned())
            }
        }
        None => Value::String(text.to_owned()),
    }
}

struct Parser {
    s: Vec<char>,
    i: usize,
    /// Bracket nesting: newlines are whitespace only inside brackets.
    nesting: usize,
}

/// Nesting limit: deeper input is kept as text rather than risking the stack.
const MAX_NESTING: usize = 64;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, off: usize) -> Option<char> {
        self.s.get(self.i + off).copied()
    }

    /// Skips whitespace and `#` comments (a comment runs to the end of the line).
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\x0c' => self.i += 1,
                '\n' | '\r' if self.nesting > 0 => self.i += 1,
                '\\' if self.nesting > 0 && matches!(self.peek_at(1), Some('\n')) => self.i += 2,
                '#' => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.i += 1;
                    }
                    if self.nesting == 0 {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `expr` or a bare tuple `expr, expr, ...`.
    fn top(&mut self) -> Option<Value> {
        let first = self.expr()?;
        self.skip_ws();
        if self.peek() != Some(',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(',') {
            self.skip_ws();
            if self.peek().is_none() {
                break;
            }
            items.push(self.expr()?);
        }
        Some(Value::Array(items))
    }

    fn expr(&mut self) -> Option<Value> {
        self.skip_ws();
        let c = self.peek()?;
        match c {
            '-' | '+' => {
                self.i += 1;
                self.skip_ws();
                let v = self.number()?;
                if c == '+' {
                    return Some(v);
                }
                negate(v)
            }
            '0'..='9' => self.number(),
            '.' if self.peek_at(1) == Some('.') && self.peek_at(2) == Some('.') => {
                self.i += 3;
                Some(Value::String("...".into()))
            }
            '.' => self.number(),
            '\'' | '"' => self.strings(),
            '[' => self.seq('[', ']'),
            '(' => self.paren(),
            '{' => self.brace(),
            c if c.is_alphabetic() || c == '_' => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '_') {
                    self.i += 1;
                }
                let word: String = self.s[start..self.i].iter().collect();
                if matches!(self.peek(), Some('\'' | '"')) && is_string_prefix(&word) {
                    self.i = start;
                    return self.strings();
                }
                match word.as_str() {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.nesting += 1;
        (self.nesting <= MAX_NESTING).then_some(())
    }

    /// `[a, b, ...]` (the opening bracket is next).
    fn seq(&mut self, open: char, close: char) -> Option<Value> {
        if !self.eat(open) {
            return None;
        }
        self.enter()?;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                break;
            }
            items.push(self.expr()?);
            if self.eat(close) {
                break;
            }
            if !self.eat(',') {
                return None;
            }
        }
        self.nesting -= 1;
        Some(Value::Array(items))
    }

    /// `(a)` is `a`; `()`, `(a,)` and `(a, b)` are tuples (lists).
    fn paren(&mut self) -> Option<Value> {
        if !self.eat('(') {
            return None;
        }
        self.enter()?;
        if self.eat(')') {
            self.nesting -= 1;
            return Some(Value::Array(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(')') {
            self.nesting -= 1;
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(',') {
            if self.eat(')') {
                self.nesting -= 1;
                return Some(Value::Array(items));
            }
            items.push(self.expr()?);
        }
        if self.eat(')') {
            self.nesting -= 1;
            Some(Value::Array(items))
        } else {
            None
        }
    }

    /// `{}` and `{k: v, ...}` are dicts, `{a, b}` a set (a list).
    fn brace(&mut self) -> Option<Value> {
        if !self.eat('{') {
            return None;
        }
        self.enter()?;
        if self.eat('}') {
            self.nesting -= 1;
            return Some(Value::Object(Map::new()));
        }
        let first = self.expr()?;
        if self.eat(':') {
            let mut map = Map::new();
            let v = self.expr()?;
            map.insert(key_text(&first)?, v);
            loop {
                if self.eat('}') {
                    break;
                }
                if !self.eat(',') {
                    return None;
                }
                if self.eat('}') {
                    break;
                }
                let k = self.expr()?;
                if !self.eat(':') {
                    return None;
                }
                let v = self.expr()?;
                map.insert(key_text(&k)?, v);
            }
            self.nesting -= 1;
            return Some(Value::Object(map));
        }
        let mut items = vec![first];
        loop {
            if self.eat('}') {
                break;
            }
            if !self.eat(',') {
                return None;
            }
            if self.eat('}') {
                break;
            }
            items.push(self.expr()?);
        }
        self.nesting -= 1;
        Some(Value::Array(items))
    }

    /// One or more adjacent string literals (concatenated).
    fn strings(&mut self) -> Option<Value> {
        let mut out = self.string()?;
        loop {
            let save = self.i;
            self.skip_ws();
            let start = self.i;
            while matches!(self.peek(), Some(c) if c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix: String = self.s[start..self.i].iter().collect();
            if matches!(self.peek(), Some('\'' | '"'))
                && (prefix.is_empty() || is_string_prefix(&prefix))
            {
                self.i = start;
                out.push_str(&self.string()?);
            } else {
                self.i = save;
                return Some(Value::String(out));
            }
        }
    }

    /// One string literal with an optional prefix.
    fn string(&mut self) -> Option<String> {
        let mut raw = false;
        let mut bytes = false;
        while let Some(c) = self.peek() {
            match c.to_ascii_lowercase() {
                'r' => raw = true,
                'b' => bytes = true,
                'u' => {}
                _ => break,
            }
            self.i += 1;
        }
        let quote = self.peek()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            if c == quote
                && (!triple || (self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote)))
            {
                self.i += if triple { 3 } else { 1 };
                break;
            }
            if (c == '\n' || c == '\r') && !triple {
                return None;
            }
            if bytes && !c.is_ascii() {
                return None;
            }
            self.i += 1;
            if c != '\\' {
                out.push(c);
                continue;
            }
            let e = self.peek()?;
            self.i += 1;
            if raw {
                out.push('\\');
                out.push(e);
                continue;
            }
            match e {
                '\n' => {}
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\x0b'),
                '0'..='7' => {
                    let mut n = e.to_digit(8)?;
                    for _ in 0..2 {
                        match self.peek().and_then(|c| c.to_digit(8)) {
                            Some(d) => {
                                n = n * 8 + d;
                                self.i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push(char::from_u32(n)?);
                }
                'x' => out.push(self.hex_escape(2)?),
                'u' if !bytes => out.push(self.hex_escape(4)?),
                'U' if !bytes => out.push(self.hex_escape(8)?),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
        Some(out)
    }

    fn hex_escape(&mut self, digits: usize) -> Option<char> {
        let mut n: u32 = 0;
        for _ in 0..digits {
            let d = self.peek()?.to_digit(16)?;
            n = n.checked_mul(16)?.checked_add(d)?;
            self.i += 1;
        }
        char::from_u32(n)
    }

    /// An int or float literal.
    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            // An exponent sign belongs to the number: 1e-3.
            self.i += 1;
            if matches!(self.s.get(self.i - 1), Some('e' | 'E'))
                && matches!(self.peek(), Some('+' | '-'))
                && !self.s[start..self.i].iter().any(|c| *c == 'x' || *c == 'X')
            {
                self.i += 1;
            }
        }
        let text: String = self.s[start..self.i].iter().collect();
        parse_number(&text)
    }
}

fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "b" | "br" | "rb"
    )
}

fn negate(v: Value) -> Option<Value> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Value::from(i.checked_neg()?))
            } else if let Some(u) = n.as_u64() {
                // u64 beyond i64::MAX: only -(2^63) still fits.
                if u == 1u64 << 63 {
                    Some(Value::from(i64::MIN))
                } else {
                    Number::from_f64(-(u as f64)).map(Value::Number)
                }
            } else {
                Number::from_f64(-n.as_f64()?).map(Value::Number)
            }
        }
        _ => None,
    }
}

/// A dict key as text (JSON keys are strings).
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

/// Python's rules for single underscores between digits.
fn digits_ok(s: &str, radix: u32) -> bool {
    !s.is_empty()
        && !s.starts_with('_')
        && !s.ends_with('_')
        && !s.contains("__")
        && s.chars().all(|c| c == '_' || c.is_digit(radix))
}

fn parse_number(text: &str) -> Option<Value> {
    let lower = text.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let rest = rest.strip_prefix('_').unwrap_or(rest);
            if !digits_ok(rest, radix) {
                return None;
            }
            let clean: String = rest.chars().filter(|c| *c != '_').collect();
            return u64::from_str_radix(&clean, radix).ok().map(Value::from);
        }
    }
    if lower.ends_with('j') {
        // Complex numbers are kept as text.
        return None;
    }
    let is_float = lower.contains('.') || lower.contains('e');
    if !is_float {
        if !digits_ok(&lower, 10) {
            return None;
        }
        let clean: String = lower.chars().filter(|c| *c != '_').collect();
        // Python forbids leading zeros in non-zero decimal ints (0755 is a syntax error).
        if clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0') {
            return None;
        }
        return match clean.parse::<u64>() {
            Ok(n) => Some(Value::from(n)),
            // Larger than 64 bits: keep the digits as text.
            Err(_) => Some(Value::String(clean)),
        };
    }
    // Float: mantissa [. fraction] [e[+-]exp], each digit run following the underscore rule.
    let (mantissa, exp) = match lower.find('e') {
        Some(i) => (&lower[..i], Some(&lower[i + 1..])),
        None => (lower.as_str(), None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
        None => (mantissa, None),
    };
    if int_part.is_empty() && frac_part.is_none_or(str::is_empty) {
        return None;
    }
    if !int_part.is_empty() && !digits_ok(int_part, 10) {
        return None;
    }
    if let Some(f) = frac_part
        && !f.is_empty()
        && !digits_ok(f, 10)
    {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !digits_ok(e, 10) {
            return None;
        }
    }
    let clean: String = lower.chars().filter(|c| *c != '_').collect();
    let f: f64 = clean.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars() {
        assert_eq!(parse_value("22"), json!(22));
        assert_eq!(parse_value("-5"), json!(-5));
        assert_eq!(parse_value("1_000"), json!(1000));
        assert_eq!(parse_value("0x1F"), json!(31));
        assert_eq!(parse_value("0o755"), json!(493));
        assert_eq!(parse_value("1.5"), json!(1.5));
        assert_eq!(parse_value("1e3"), json!(1000.0));
        assert_eq!(parse_value("True"), json!(true));
        assert_eq!(parse_value("False"), json!(false));
        assert_eq!(parse_value("None"), Value::Null);
        assert_eq!(parse_value("'0755'"), json!("0755"));
        assert_eq!(parse_value("\"a\\tb\""), json!("a\tb"));
        assert_eq!(parse_value("r'a\\tb'"), json!("a\\tb"));
        assert_eq!(parse_value("'a' \"b\""), json!("ab"));
        assert_eq!(parse_value("8080 # the port"), json!(8080));
    }

    #[test]
    fn stays_text() {
        for s in [
            "yes",
            "true",
            "0755",
            "hello world",
            "1.2.3.4",
            "",
            "1j",
            "a,b",
            "f'x'",
            "[1,",
            "~/.ssh/id",
        ] {
            assert_eq!(parse_value(s), json!(s), "{s}");
        }
    }

    #[test]
    fn containers() {
        assert_eq!(parse_value("['a', 'b']"), json!(["a", "b"]));
        assert_eq!(parse_value("(1, 2)"), json!([1, 2]));
        assert_eq!(parse_value("(1)"), json!(1));
        assert_eq!(parse_value("1,2"), json!([1, 2]));
        assert_eq!(
            parse_value("{'a': 1, 'b': [True, None]}"),
            json!({"a": 1, "b": [true, null]})
        );
        assert_eq!(parse_value("{}"), json!({}));
        assert_eq!(parse_value("{1, 2,}"), json!([1, 2]));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse_value(&deep), json!(deep));
    }
}
