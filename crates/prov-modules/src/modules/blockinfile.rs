//! `blockinfile`: ensures a block of lines between two marker lines is present (inserted or
//! replaced) or absent, with Ansible's placement rules (`insertafter`/`insertbefore`).
//!
//! One remote command reads the file; the new content is computed on the controller and written
//! atomically.

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


fn default_marker() -> String {
    "# {mark} ANSIBLE MANAGED BLOCK".into()
}

fn default_begin() -> String {
    "BEGIN".into()
}

fn default_end() -> String {
    "END".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    path: String,
    #[serde(default)]
    state: Presence,
    #[serde(default = "default_marker")]
    marker: String,
    #[serde(default, alias = "content")]
    block: Option<String>,
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
    #[serde(default = "default_begin")]
    marker_begin: String,
    #[serde(default = "default_end")]
    marker_end: String,
    #[serde(default, deserialize_with = "de_bool")]
    append_newline: bool,
    #[serde(default, deserialize_with = "de_bool")]
    prepend_newline: bool,
}

/// Where a new block goes.
#[derive(Debug)]
enum Insert {
    Eof,
    Bof,
    After(Regex, bool),
    Before(Regex, bool),
}

struct BlockInFile {
    path: String,
    present: bool,
    block: Vec<u8>,
    marker0: Vec<u8>,
    marker1: Vec<u8>,
    insert: Insert,
    create: bool,
    append_newline: bool,
    prepend_newline: bool,
    opts: WriteOptions,
}

/// True when a Python pattern turns on MULTILINE with a leading inline flag (`(?m)`).
fn is_multiline(pattern: &str) -> bool {
    pattern
        .strip_prefix("(?")
        .and_then(|r| r.split([')', ':']).next())
        .is_some_and(|flags| flags.chars().all(|c| c.is_ascii_alphabetic()) && flags.contains('m'))
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("blockinfile", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("blockinfile", "path", &a.path)?;
    if a.insertafter.is_some() && a.insertbefore.is_some() {
        return Err(ModuleError::args(
            "`insertafter` and `insertbefore` are mutually exclusive",
        ));
    }
    if a.marker_begin == a.marker_end && a.marker.contains("{mark}") {
        return Err(ModuleError::args(
            "`marker_begin` and `marker_end` must differ",
        ));
    }
    let compile = |what: &str, r: &str| -> Result<(Regex, bool), ModuleError> {
        Ok((pyre::compile("blockinfile", what, r)?, is_multiline(r)))
    };
    let insert = match (a.insertafter.as_deref(), a.insertbefore.as_deref()) {
        (Some("EOF"), _) | (None, None) => Insert::Eof,
        (Some(r), _) => {
            let (re, m) = compile("insertafter", r)?;
            Insert::After(re, m)
        }
        (None, Some("BOF")) => Insert::Bof,
        (None, Some(r)) => {
            let (re, m) = compile("insertbefore", r)?;
            Insert::Before(re, m)
        }
    };
    let marker_line = |mark: &str| {
        let mut m = a.marker.replace("{mark}", mark).into_bytes();
        m.push(b'\n');
        m
    };
    Ok(Box::new(BlockInFile {
        marker0: marker_line(&a.marker_begin),
        marker1: marker_line(&a.marker_end),
        path: a.path,
        present: a.state == Presence::Present,
        block: a.block.unwrap_or_default().into_bytes(),
        insert,
        create: a.create,
        append_newline: a.append_newline,
        prepend_newline: a.prepend_newline,
        opts: WriteOptions {
            attrs,
            backup: a.backup,
            validate: parse_validate("blockinfile", a.validate)?,
            create_parent: true,
        },
    }))
}

impl BlockInFile {
    /// Ansible's algorithm: the new content from the old one.
    fn edit(&self, original: &[u8]) -> Vec<u8> {
        let mut lines = split_lines(original);
        let blocklines: Vec<Vec<u8>> = if self.present && !self.block.is_empty() {
            let mut block = self.block.clone();
            if !block.ends_with(b"\n") {
                block.push(b'\n');
            }
            let mut v = vec![self.marker0.clone()];
            v.extend(split_lines(&block));
            v.push(self.marker1.clone());
            v
        } else {
            Vec::new()
        };
        let mut n0: Option<usize> = None;
        let mut n1: Option<usize> = None;
        for (i, l) in lines.iter().enumerate() {
            if *l == self.marker0 {
                n0 = Some(i);
            }
            if *l == self.marker1 {
                n1 = Some(i);
            }
        }
        let mut at = match (n0, n1) {
            (Some(a), Some(b)) if a < b => {
                lines.drain(a..=b);
                a
            }
            (Some(a), Some(b)) => {
                lines.drain(b..=a);
                b
            }
            _ => match &self.insert {
                Insert::Eof => lines.len(),
                Insert::Bof => 0,
                Insert::After(re, multi) | Insert::Before(re, multi) => {
                    let after = matches!(self.insert, Insert::After(..));
                    let mut found: Option<usize> = None;
                    if *multi {
                        if let Some(m) = re.find(original) {
                            let end = if after { m.end() } else { m.start() };
                            found = Some(original[..end].iter().filter(|&&b| b == b'\n').count());
                        }
                    } else {
                        for (i, l) in lines.iter().enumerate() {
                            if re.is_match(l.strip_suffix(b"\n").unwrap_or(l)) {
                                found = Some(i);
                            }
                        }
                    }
                    match found {
                        None => lines.len(),
                        Some(n) if after => n + 1,
                        Some(n) => n,
                    }
                }
            },
        };
        if at > 0 && at <= lines.len() && !lines[at - 1].ends_with(b"\n") {
            lines[at - 1].push(b'\n');
        }
        if self.prepend_newline
            && self.present
            && at != 0
            && lines.get(at - 1).is_none_or(|l| l != b"\n")
        {
            lines.insert(at, b"\n".to_vec());
            at += 1;
        }
        let n = blocklines.len();
        lines.splice(at..at, blocklines);
        if self.append_newline && self.present {
            let after = at + n;
            if after < lines.len() && lines[after] != b"\n" {
                lines.insert(after, b"\n".to_vec());
            }
        }
        lines.concat()
    }
}

#[async_trait]
impl Module for BlockInFile {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let t = read_for_edit(ctx, "blockinfile", &self.path).await?;
        let Some(original) = &t.content else {
            if !self.present {
                return Ok(Plan::unchanged()
                    .with_result("msg", json!(format!("File {} not present", self.path)))
                    .with_result("changed", json!(false)));
            }
            if !self.create {
                return Err(ModuleError::failed(format!(
                    "Path {} does not exist !",
                    self.path
                )));
            }
            let new = NewContent::from_bytes(self.edit(b""));
            let mut plan =
                plan_write(&t.target, &t.probed, &new, None, &self.opts, ctx.check_mode)?;
            plan.result_mut()
                .insert("msg".into(), json!("File created"));
            plan.result_mut().insert("changed".into(), json!(true));
            return Ok(plan);
        };
        let result = self.edit(original);
        let msg = if result == *original {
            ""
        } else if !self.present || self.block.is_empty() {
            "Block removed"
        } else {
            "Block inserted"
        };
        let new = NewContent::from_bytes(result);
        let mut plan = plan_write(
            &t.target,
            &t.probed,
            &new,
            Some(original),
            &self.opts,
            ctx.check_mode,
        )?;
        let msg = if plan.changed() && msg.is_empty() {
            "ownership, perms or SE linux context changed"
        } else {
            msg
        };
        plan.result_mut().insert("msg".into(), json!(msg));
        Ok(plan)
    }
}
