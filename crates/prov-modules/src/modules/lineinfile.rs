//! `lineinfile`: ensures one line is present (replacing the last line matching `regexp` or
//! `search_string`, else inserting it after/before a match or at EOF/BOF) or absent.
//!
//! The file is read in one remote command; the new content is computed on the controller with
//! Ansible's algorithm (Python regexes translated for the Rust engine) and written atomically.

use async_trait::async_trait;
use prov_core::{Module, ModuleContext, ModuleError, Plan};
use regex::bytes::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Presence, de_bool};
use crate::pyre;
use crate::remote_file::{Attrs, check_path};
use crate::writefile::{
    NewContent, WriteOptions, parse_validate, plan_write, read_for_edit, split_lines,
};


#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    path: String,
    #[serde(default, alias = "regex")]
    regexp: Option<String>,
    #[serde(default)]
    search_string: Option<String>,
    #[serde(default)]
    state: Presence,
    #[serde(default, alias = "value")]
    line: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    backrefs: bool,
    #[serde(default)]
    insertafter: Option<String>,
    #[serde(default)]
    insertbefore: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    create: bool,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
    #[serde(default)]
    validate: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    firstmatch: bool,
}

/// What [`LineInFile::find`] found.
#[derive(Debug, Default)]
struct Found {
    /// The line to replace (Ansible's `index[0]`).
    line: Option<usize>,
    /// The line `regexp`/`search_string` matched.
    matched: Option<usize>,
    /// Where to insert (Ansible's `index[1]`).
    insert_at: Option<usize>,
}

/// Where to insert when nothing matches.
#[derive(Debug)]
enum Insert {
    Eof,
    Bof,
    After(Regex),
    Before(Regex),
}

struct LineInFile {
    path: String,
    state: Presence,
    regexp: Option<Regex>,
    search: Option<Vec<u8>>,
    line: Option<String>,
    backrefs: bool,
    insert: Insert,
    firstmatch: bool,
    create: bool,
    opts: WriteOptions,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("lineinfile", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("lineinfile", "path", &a.path)?;
    let err = |m: &str| Err(ModuleError::args(m));
    if a.insertafter.is_some() && a.insertbefore.is_some() {
        return err("`insertafter` and `insertbefore` are mutually exclusive");
    }
    if a.regexp.is_some() && a.search_string.is_some() {
        return err("`regexp` and `search_string` are mutually exclusive");
    }
    if a.backrefs && a.regexp.is_none() {
        return err("`backrefs` requires `regexp`");
    }
    if a.state == Presence::Present && a.line.is_none() {
        return err("`line` is required with state=present");
    }
    if a.state == Presence::Absent
        && a.line.is_none()
        && a.regexp.is_none()
        && a.search_string.is_none()
    {
        return err("one of `line`, `regexp` or `search_string` is required with state=absent");
    }
    if a.regexp.as_deref() == Some("") {
        return err("`regexp` is empty: it would match every line");
    }
    if a.search_string.as_deref() == Some("") {
        return err("`search_string` is empty: it would match every line");
    }
    let regexp = a
        .regexp
        .as_deref()
        .map(|r| pyre::compile("lineinfile", "regexp", r))
        .transpose()?;
    let insert = match (a.insertafter.as_deref(), a.insertbefore.as_deref()) {
        (Some("EOF"), _) | (None, None) => Insert::Eof,
        (Some("BOF"), _) => Insert::Bof,
        (Some(r), _) => Insert::After(pyre::compile("lineinfile", "insertafter", r)?),
        (None, Some("BOF")) => Insert::Bof,
        (None, Some(r)) => Insert::Before(pyre::compile("lineinfile", "insertbefore", r)?),
    };
    Ok(Box::new(LineInFile {
        path: a.path,
        state: a.state,
        regexp,
        search: a.search_string.map(String::into_bytes),
        line: a.line,
        backrefs: a.backrefs,
        insert,
        firstmatch: a.firstmatch,
        create: a.create,
        opts: WriteOptions {
            attrs,
            backup: a.backup,
            validate: parse_validate("lineinfile", a.validate)?,
            create_parent: true,
        },
    }))
}

/// A line without its `\n` (what regexes see, so `$` behaves like Python's).
fn body(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// A line without `\r\n` / `\n` endings.
fn trimmed(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some(r) = l.strip_suffix(b"\n").or_else(|| l.strip_suffix(b"\r")) {
        l = r;
    }
    l
}

fn ends_with_newline(lines: &[Vec<u8>]) -> bool {
    lines
        .last()
        .is_none_or(|l| matches!(l.last(), Some(b'\n' | b'\r')))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

impl LineInFile {
    /// Ansible's `present()`: returns the message when the lines changed.
    fn present(&self, lines: &mut Vec<Vec<u8>>) -> Result<Option<&'static str>, ModuleError> {
        let line = self.line.as_deref().unwrap_or("").as_bytes();
        let found = self.find(lines, line);
        if let Some(i) = found.line {
            return self.replace_at(lines, i, found.matched);
        }
        if self.backrefs {
            return Ok(None);
        }
        Ok(self.insert(lines, line, found.insert_at))
    }

    /// Ansible's search: the last (or first) line matching `regexp`/`search_string`, else the
    /// line equal to `line`, and where `insertafter`/`insertbefore` point.
    fn find(&self, lines: &[Vec<u8>], line: &[u8]) -> Found {
        let mut found = Found::default();
        for (n, l) in lines.iter().enumerate() {
            let hit = match (&self.regexp, &self.search) {
                (Some(re), _) => re.is_match(body(l)),
                (None, Some(s)) => contains(l, s),
                (None, None) => false,
            };
            if hit {
                found.line = Some(n);
                found.matched = Some(n);
                if self.firstmatch {
                    break;
                }
            }
        }
        if found.matched.is_some() {
            return found;
        }
        for (n, l) in lines.iter().enumerate() {
            if trimmed(l) == line {
                found.line = Some(n);
                continue;
            }
            let at = match &self.insert {
                Insert::After(re) if re.is_match(body(l)) => n + 1,
                Insert::Before(re) if re.is_match(body(l)) => n,
                _ => continue,
            };
            found.insert_at = Some(at);
            if self.firstmatch {
                break;
            }
        }
        found
    }

    /// Replaces line `i` with `line` (expanded with the match's groups for `backrefs`).
    fn replace_at(
        &self,
        lines: &mut [Vec<u8>],
        i: usize,
        matched: Option<usize>,
    ) -> Result<Option<&'static str>, ModuleError> {
        let line = self.line.as_deref().unwrap_or("");
        let mut new_line = match (self.backrefs, matched, &self.regexp) {
            (true, Some(m), Some(re)) => {
                let caps = re
                    .captures(body(&lines[m]))
                    .ok_or_else(|| ModuleError::failed("lineinfile: regexp no longer matches"))?;
                pyre::expand(line, &caps)
                    .map_err(|e| ModuleError::arg("line", format!("with backrefs: {e}")))?
            }
            _ => line.as_bytes().to_vec(),
        };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        if lines[i] == new_line {
            return Ok(None);
        }
        lines[i] = new_line;
        Ok(Some("line replaced"))
    }

    /// Inserts `line` where nothing matched: at BOF, EOF, or after/before the `insert` match.
    fn insert(
        &self,
        lines: &mut Vec<Vec<u8>>,
        line: &[u8],
        at: Option<usize>,
    ) -> Option<&'static str> {
        let mut with_nl = line.to_vec();
        with_nl.push(b'\n');
        match (&self.insert, at) {
            (Insert::Bof, _) => lines.insert(0, with_nl),
            (Insert::Eof, _) | (_, None) => {
                if !ends_with_newline(lines) {
                    lines.push(b"\n".to_vec());
                }
                lines.push(with_nl);
            }
            (Insert::After(_), Some(at)) if at == lines.len() => {
                if trimmed(&lines[at - 1]) == line {
                    return None;
                }
                if !ends_with_newline(lines)
                    && let Some(last) = lines.last_mut()
                {
                    last.push(b'\n');
                }
                lines.push(with_nl);
            }
            (Insert::After(_), Some(at)) if trimmed(&lines[at]) == line => return None,
            (_, Some(at)) => lines.insert(at, with_nl),
        }
        Some("line added")
    }

    /// Ansible's `absent()`: returns the number of removed lines.
    fn absent(&self, lines: &mut Vec<Vec<u8>>) -> usize {
        let line = self.line.as_deref().unwrap_or("").as_bytes();
        let before = lines.len();
        lines.retain(|l| {
            let hit = if let Some(re) = &self.regexp {
                re.is_match(body(l))
            } else if let Some(s) = &self.search {
                contains(l, s)
            } else {
                trimmed(l) == line
            };
            !hit
        });
        before - lines.len()
    }
}

#[async_trait]
impl Module for LineInFile {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let t = read_for_edit(ctx, "lineinfile", &self.path).await?;
        let exists = t.content.is_some();
        if !exists {
            match self.state {
                Presence::Absent => {
                    return Ok(Plan::unchanged()
                        .with_result("msg", json!("file not present"))
                        .with_result("changed", json!(false)));
                }
                Presence::Present if !self.create => {
                    return Err(ModuleError::failed(format!(
                        "Destination {} does not exist !",
                        self.path
                    )));
                }
                Presence::Present => {}
            }
        }
        let old = t.content.clone().unwrap_or_default();
        let mut lines = split_lines(&old);
        let msg = match self.state {
            Presence::Present => self.present(&mut lines)?.unwrap_or("").to_owned(),
            Presence::Absent => match self.absent(&mut lines) {
                0 => String::new(),
                n => format!("{n} line(s) removed"),
            },
        };
        if !exists && msg.is_empty() {
            // Nothing to add (backrefs without a match): the file is not created.
            return Ok(Plan::unchanged()
                .with_result("msg", json!(""))
                .with_result("changed", json!(false)));
        }
        let new = NewContent::from_bytes(lines.concat());
        let before = exists.then_some(old.as_slice());
        let mut plan = plan_write(
            &t.target,
            &t.probed,
            &new,
            before,
            &self.opts,
            ctx.check_mode,
        )?;
        let msg = if plan.changed() && msg.is_empty() {
            "ownership, perms or SE linux context changed".to_owned()
        } else {
            msg
        };
        plan.result_mut().insert("msg".into(), json!(msg));
        Ok(plan)
    }
}
