//! Python's text rules that modules reproduce where Ansible's Python code relies on them.

/// Python's `str.splitlines(keepends)`.
pub fn py_splitlines(s: &str, keepends: bool) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r'
            && let Some(&(j, '\n')) = it.peek()
        {
            end = j + 1;
            it.next();
        }
        out.push(if keepends {
            &s[start..end]
        } else {
            &s[start..i]
        });
        start = end;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_where_python_splits() {
        assert_eq!(
            py_splitlines("a\nb\r\nc\x0cd", true),
            ["a\n", "b\r\n", "c\x0c", "d"]
        );
        assert_eq!(py_splitlines("a\n\nb", false), ["a", "", "b"]);
        assert_eq!(py_splitlines("", false), Vec::<&str>::new());
        assert_eq!(py_splitlines("x\u{2028}y\n", false), ["x", "y"]);
    }
}
