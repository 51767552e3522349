//! Ansible's INI inventory format.
//!
//! ```ini
//! bastion ansible_host=203.0.113.5     # before any section: group `ungrouped`
//!
//! [web]
//! web[01:03].example.com ansible_user=deploy
//! db1:2222 ansible_become=True
//!
//! [web:vars]
//! http_port = 8080
//!
//! [prod:children]
//! web
//! ```
//!
//! Host lines are split like a POSIX shell (Python's `shlex`, `#` starts a comment) and every
//! `key=value` value, as well as every `[group:vars]` value, is parsed like Python's
//! `ast.literal_eval` (see `pyliteral`). As in Ansible, `[group:vars]` must name a group that
//! is declared (by `[group]` or `[group:children]`) in the same file or in an earlier
//! source, and so must every name listed in `[group:children]`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::hostrange::expand_host_pattern;
use super::model::{Builder, UNGROUPED_IDX};
use super::pyliteral::parse_value;
use crate::error::{EngineError, Location};

/// `[group]`, `[group:vars]`, `[group:children]`, optionally followed by a comment.
static SECTION_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$").ok());
/// A group name in a `[group:children]` section.
static GROUP_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:[#;].*)?$").ok());

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// A reference that must be resolved by a declaration later in the file.
struct Pending {
    name: String,
    at: Location,
    /// `Some(parent)` for a `[parent:children]` entry, `None` for `[name:vars]`.
    parent: Option<usize>,
}

/// Parses INI inventory `text` from `file` into `b`.
pub(crate) fn parse(text: &str, file: &Path, b: &mut Builder) -> Result<(), EngineError> {
    let (Some(section_re), Some(group_re)) = (SECTION_RE.as_ref(), GROUP_RE.as_ref()) else {
        return Err(EngineError::Io {
            file: file.to_path_buf(),
            message: "internal error: INI patterns failed to compile".into(),
        });
    };
    let mut p = IniParser {
        file,
        b,
        group: UNGROUPED_IDX,
        state: State::Hosts,
        pending: Vec::new(),
        seen_in_group: HashSet::new(),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, raw_line) in text.lines().enumerate() {
        let line_no = n + 1;
        let indent = raw_line.len() - raw_line.trim_start().len();
        let col0 = raw_line[..indent].chars().count() + 1;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = Location::new(file, line_no, col0);
        if let Some(caps) = section_re.captures(line) {
            p.section(&caps, line, at)?;
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(EngineError::Syntax {
                at,
                message: format!(
                    "invalid section header `{line}`: expected [group], [group:vars] or \
                     [group:children] without spaces"
                ),
            });
        }
        match p.state {
            State::Hosts => {
                parse_host_line(raw_line, line_no, file, p.group, p.b, &mut p.seen_in_group)?;
            }
            State::Vars => p.var_line(line, at)?,
            State::Children => {
                let child = group_re.captures(line).and_then(|c| c.get(1));
                p.child_line(child.map(|c| c.as_str()), line, at)?;
            }
        }
    }
    p.finish()
}

/// The state of an INI inventory being read.
struct IniParser<'a> {
    file: &'a Path,
    b: &'a mut Builder,
    /// The group of the current section.
    group: usize,
    state: State,
    /// Groups named before their declaration (`[x:vars]`, or a child in `[p:children]`).
    pending: Vec<Pending>,
    seen_in_group: HashSet<(usize, usize)>,
}

impl IniParser<'_> {
    /// A `[name]`, `[name:vars]` or `[name:children]` header.
    fn section(
        &mut self,
        caps: &regex::Captures<'_>,
        line: &str,
        at: Location,
    ) -> Result<(), EngineError> {
        let name = caps.get(1).map_or("", |m| m.as_str());
        let kind = caps.get(2).map(|m| (m.as_str(), m.start()));
        self.state = match kind {
            None | Some(("hosts", _)) => State::Hosts,
            Some(("vars", _)) => State::Vars,
            Some(("children", _)) => State::Children,
            Some((other, start)) => {
                return Err(EngineError::Syntax {
                    at: Location::new(
                        self.file,
                        at.line,
                        at.column + line[..start].chars().count(),
                    ),
                    message: format!(
                        "section [{name}:{other}] has unknown type `{other}` \
                         (expected `vars` or `children`)"
                    ),
                });
            }
        };
        let existed = self.b.group_exists(name);
        self.group = self.b.group(name, &at);
        if self.state == State::Vars {
            if !existed && !self.pending.iter().any(|p| p.name == name) {
                self.pending.push(Pending {
                    name: name.to_owned(),
                    at,
                    parent: None,
                });
            }
            return Ok(());
        }
        // A declaration: resolve what was waiting for it.
        let (resolved, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.name == name);
        self.pending = waiting;
        for p in resolved {
            if let Some(parent) = p.parent {
                self.b.add_child(parent, self.group, &p.at)?;
            }
        }
        Ok(())
    }

    /// `key=value` in a `[group:vars]` section.
    fn var_line(&mut self, line: &str, at: Location) -> Result<(), EngineError> {
        let Some((k, v)) = line.split_once('=') else {
            return Err(EngineError::Syntax {
                at,
                message: format!("expected `key=value` in a [group:vars] section, got `{line}`"),
            });
        };
        let key = k.trim();
        if key.is_empty() {
            return Err(EngineError::Syntax {
                at,
                message: "missing variable name before `=`".into(),
            });
        }
        self.b
            .set_group_var(self.group, key.to_owned(), parse_value(v.trim()), at)
    }

    /// A group name in a `[group:children]` section.
    fn child_line(
        &mut self,
        child: Option<&str>,
        line: &str,
        at: Location,
    ) -> Result<(), EngineError> {
        let Some(child) = child else {
            return Err(EngineError::Syntax {
                at,
                message: format!(
                    "expected a group name in a [group:children] section, got `{line}`"
                ),
            });
        };
        if self.b.group_exists(child) {
            let c = self.b.group(child, &at);
            return self.b.add_child(self.group, c, &at);
        }
        self.pending.push(Pending {
            name: child.to_owned(),
            at,
            parent: Some(self.group),
        });
        Ok(())
    }

    /// Fails on the first group that was named but never declared.
    fn finish(self) -> Result<(), EngineError> {
        let Some(p) = self.pending.into_iter().next() else {
            return Ok(());
        };
        let message = match p.parent {
            None => format!(
                "section [{0}:vars] is for group `{0}`, which is not declared (with [{0}] or \
                 [{0}:children]) in this file or an earlier inventory source",
                p.name
            ),
            Some(parent) => format!(
                "section [{}:children] lists `{}`, which is not declared as a group (with [{}] \
                 or [{}:children]) in this file or an earlier inventory source",
                self.b.groups[parent].name, p.name, p.name, p.name
            ),
        };
        Err(EngineError::invalid(p.at, message))
    }
}

/// `host[range][:port] key=value ...`
fn parse_host_line(
    raw_line: &str,
    line_no: usize,
    file: &Path,
    group: usize,
    b: &mut Builder,
    seen_in_group: &mut HashSet<(usize, usize)>,
) -> Result<(), EngineError> {
    let tokens = shlex_split(raw_line).map_err(|(col, message)| EngineError::Syntax {
        at: Location::new(file, line_no, col),
        message,
    })?;
    let Some(first) = tokens.first() else {
        return Ok(());
    };
    let host_at = Location::new(file, line_no, first.col);
    if first.text == "---" {
        return Err(EngineError::Syntax {
            at: host_at,
            message:
                "`---` starts a YAML document; YAML inventories need a .yml or .yaml file name"
                    .into(),
        });
    }
    let (names, port) =
        expand_host_pattern(&first.text).map_err(|message| EngineError::Syntax {
            at: host_at.clone(),
            message,
        })?;
    let mut vars: Vec<(String, Value, Location)> = Vec::new();
    for t in &tokens[1..] {
        let at = Location::new(file, line_no, t.col);
        let Some((k, v)) = t.text.split_once('=') else {
            return Err(EngineError::Syntax {
                at,
                message: format!("expected `key=value` host variable, got `{}`", t.text),
            });
        };
        if k.is_empty() {
            return Err(EngineError::Syntax {
                at,
                message: "missing variable name before `=`".into(),
            });
        }
        vars.push((k.to_owned(), parse_value(v), at));
    }
    for name in names {
        let (h, _) = b.add_host(&name, group, &host_at);
        if !seen_in_group.insert((group, h)) {
            b.warn(format!(
                "{host_at}: host `{name}` is listed more than once in group `{}`; its variables are merged",
                b.groups[group].name
            ));
        }
        if let Some(port) = port {
            b.set_host_var(h, "ansible_port".into(), Value::from(port), host_at.clone());
        }
        for (k, v, at) in &vars {
            b.set_host_var(h, k.clone(), v.clone(), at.clone());
        }
    }
    Ok(())
}

/// One shell word and the 1-based column where it starts.
#[derive(Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) col: usize,
}

/// Splits a line like Python's `shlex.split(line, comments=True)` (POSIX mode). Errors carry
/// the 1-based column of the problem.
pub(crate) fn shlex_split(line: &str) -> Result<Vec<Token>, (usize, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut cur: Option<Token> = None;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        match c {
            c if c.is_whitespace() => {
                if let Some(t) = cur.take() {
                    tokens.push(t);
                }
                i += 1;
            }
            '#' => break,
            '\'' => {
                let tok = cur.get_or_insert_with(|| Token {
                    text: String::new(),
                    col,
                });
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err((col, "no closing quotation (')".into())),
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            tok.text.push(ch);
                            i += 1;
                        }
                    }
                }
            }
            '"' => {
                let tok = cur.get_or_insert_with(|| Token {
                    text: String::new(),
                    col,
                });
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err((col, "no closing quotation (\")".into())),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => match chars.get(i + 1) {
                            Some(&e @ ('"' | '\\')) => {
                                tok.text.push(e);
                                i += 2;
                            }
                            Some(&e) => {
                                tok.text.push('\\');
                                tok.text.push(e);
                                i += 2;
                            }
                            None => return Err((col, "no closing quotation (\")".into())),
                        },
                        Some(&ch) => {
                            tok.text.push(ch);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                let tok = cur.get_or_insert_with(|| Token {
                    text: String::new(),
                    col,
                });
                match chars.get(i + 1) {
                    Some(&e) => {
                        tok.text.push(e);
                        i += 2;
                    }
                    None => return Err((col, "no escaped character after `\\`".into())),
                }
            }
            _ => {
                cur.get_or_insert_with(|| Token {
                    text: String::new(),
                    col,
                })
                .text
                .push(c);
                i += 1;
            }
        }
    }
    if let Some(t) = cur.take() {
        tokens.push(t);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        shlex_split(line)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn shlex_like_python() {
        assert_eq!(words("web1 a=1 b='x y'  # c"), ["web1", "a=1", "b=x y"]);
        assert_eq!(words(r#"h s="'03#pa33w0rd'""#), ["h", "s='03#pa33w0rd'"]);
        assert_eq!(words(r#"h x="a\"b\n""#), ["h", "x=a\"b\\n"]);
        assert_eq!(words("h pass=abc#123"), ["h", "pass=abc"]);
        assert_eq!(words("h e=''"), ["h", "e="]);
        assert_eq!(words(r"h a=b\ c"), ["h", "a=b c"]);
        let toks = shlex_split("  web1   k=v").unwrap_or_default();
        assert_eq!((toks[0].col, toks[1].col), (3, 10));
        assert_eq!(shlex_split("h a='open").err().map(|e| e.0), Some(5));
    }
}
