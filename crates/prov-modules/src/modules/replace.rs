//! `replace`: replaces every match of a Python regular expression (MULTILINE) in a file,
//! optionally only between `after` and `before`, with a Python replacement template (`\1`,
//! `\g<name>`).
//!
//! ```yaml
//! replace: { path: /etc/hosts, regexp: '^(127\.0\.1\.1)\s+old$', replace: '\1 new' }
//! ```
//!
//! One remote command reads the file (links followed: the real file is written, as Ansible
//! does); [`replace_text`] computes the new content on the controller with Python's `re.subn`
//! rules, and the shared writer installs it atomically (`validate`, `backup`, mode/owner/group).
//! Only the `utf-8` encoding is supported; another one is refused.

use async_trait::async_trait;
use prov_core::{Module, ModuleContext, ModuleError, Plan};
use regex::bytes::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{de_bool, de_opt_string};
use crate::pyre;
use crate::remote_file::{Attrs, check_path};
use crate::writefile::{NewContent, WriteOptions, parse_validate, plan_write, read_for_edit};
use crate::ModuleSpec;

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("replace", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    path: String,
    regexp: String,
    #[serde(default, deserialize_with = "de_opt_string")]
    replace: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
    #[serde(default)]
    validate: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

/// The edit: the regex, its template and the optional section.
#[derive(Debug, Clone)]
pub struct ReplaceEdit {
    regexp: Regex,
    replace: String,
    /// `after(?P<subsection>.*?)before` (DOTALL) and its Python text, for the message.
    section: Option<(Regex, String)>,
}

/// What [`replace_text`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// The `after`/`before` section was not found (Ansible's message).
    NoSection(String),
    /// Nothing to replace (no match, or every replacement equal to its match).
    Same,
    /// The new content and the number of replacements.
    Changed(Vec<u8>, usize),
}

impl ReplaceEdit {
    /// Compiles the patterns as Ansible builds them.
    pub fn new(
        regexp: &str,
        replace: &str,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<Self, ModuleError> {
        let after = after.filter(|a| !a.is_empty());
        let before = before.filter(|b| !b.is_empty());
        let pattern = match (after, before) {
            (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
            (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
            (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
            (None, None) => None,
        };
        let what = match (after, before) {
            (Some(_), Some(_)) => "after/before",
            (Some(_), None) => "after",
            _ => "before",
        };
        let section = pattern
            .map(|p| pyre::compile("replace", what, &format!("(?s){p}")).map(|re| (re, p)))
            .transpose()?;
        Ok(Self {
            regexp: pyre::compile("replace", "regexp", &format!("(?m){regexp}"))?,
            replace: replace.to_owned(),
            section,
        })
    }
}

/// Python's `re.subn(regex, template, hay)`: every match replaced, an empty match allowed
/// right after a non-empty one but never twice at the same place.
pub fn subn(re: &Regex, hay: &[u8], template: &str) -> Result<(Vec<u8>, usize), String> {
    let (mut out, mut n, mut last, mut pos) = (Vec::new(), 0, 0, 0);
    let mut must_advance = false;
    while pos <= hay.len() {
        let Some(caps) = re.captures_at(hay, pos) else {
            break;
        };
        let m = caps.get(0).expect("group 0");
        if must_advance && m.start() == pos && m.end() == pos {
            let Some(&b) = hay.get(pos) else { break };
            pos += utf8_len(b);
            must_advance = false;
            continue;
        }
        out.extend_from_slice(&hay[last..m.start()]);
        out.extend(pyre::expand(template, &caps)?);
        n += 1;
        last = m.end();
        must_advance = m.start() == m.end();
        pos = m.end();
    }
    out.extend_from_slice(&hay[last..]);
    Ok((out, n))
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

/// Ansible's replace on the file's content.
pub fn replace_text(e: &ReplaceEdit, contents: &[u8]) -> Result<Replaced, ModuleError> {
    let (start, end) = match &e.section {
        None => (0, contents.len()),
        Some((re, text)) => match re.captures(contents).and_then(|c| c.name("subsection")) {
            Some(m) => (m.start(), m.end()),
            None => {
                return Ok(Replaced::NoSection(format!(
                    "Pattern for before/after params did not match the given file: {text}"
                )));
            }
        },
    };
    let section = &contents[start..end];
    let (new, n) = subn(&e.regexp, section, &e.replace).map_err(|err| {
        ModuleError::failed(format!("Unable to process replace due to error: {err}"))
    })?;
    if n == 0 || new == section {
        return Ok(Replaced::Same);
    }
    let mut all = contents[..start].to_vec();
    all.extend(new);
    all.extend_from_slice(&contents[end..]);
    Ok(Replaced::Changed(all, n))
}

struct Replace {
    path: String,
    edit: ReplaceEdit,
    opts: WriteOptions,
}

#[async_trait]
impl Module for Replace {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let t = read_for_edit(ctx, "replace", &self.path).await?;
        let (Some(old), Some(info)) = (&t.content, &t.probed.info) else {
            return Err(ModuleError::failed_with(
                format!("Path {} does not exist !", self.path),
                [("rc".to_owned(), json!(257))].into_iter().collect(),
            ));
        };
        if std::str::from_utf8(old).is_err() {
            return Err(ModuleError::failed(format!(
                "replace: {} is not valid utf-8",
                self.path
            )));
        }
        let (new, mut msg) = match replace_text(&self.edit, old)? {
            Replaced::NoSection(msg) => {
                return Ok(Plan::unchanged()
                    .with_result("msg", json!(msg))
                    .with_result("rc", json!(0)));
            }
            Replaced::Same => (old.clone(), String::new()),
            Replaced::Changed(new, n) => (new, format!("{n} replacements made")),
        };
        if !self.opts.attrs.diff_against(info)?.is_empty() {
            if !msg.is_empty() {
                msg.push_str(" and ");
            }
            msg.push_str("ownership, perms or SE linux context changed");
        }
        let new = NewContent::from_bytes(new);
        let plan = plan_write(&t.target, &t.probed, &new, Some(old), &self.opts, ctx.check_mode)?;
        Ok(plan.with_result("msg", json!(msg)).with_result("rc", json!(0)))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("replace", "path", &a.path)?;
    if let Some(enc) = &a.encoding
        && !matches!(enc.to_ascii_lowercase().as_str(), "utf-8" | "utf8")
    {
        return Err(ModuleError::arg(
            "encoding",
            format!("only utf-8 is supported, not {enc}"),
        ));
    }
    let edit = ReplaceEdit::new(
        &a.regexp,
        a.replace.as_deref().unwrap_or(""),
        a.after.as_deref(),
        a.before.as_deref(),
    )?;
    Ok(Box::new(Replace {
        path: a.path,
        edit,
        opts: WriteOptions {
            attrs,
            backup: a.backup,
            create_parent: false,
            validate: parse_validate("replace", a.validate)?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn run(re: &str, rep: &str, after: Option<&str>, before: Option<&str>, text: &str) -> Replaced {
        let e = ReplaceEdit::new(re, rep, after, before).unwrap();
        replace_text(&e, text.as_bytes()).unwrap()
    }

    fn changed(text: &str, n: usize) -> Replaced {
        Replaced::Changed(text.as_bytes().to_vec(), n)
    }

    #[test]
    fn multiline_with_python_templates() {
        let hosts = "127.0.0.1 localhost\n127.0.1.1 old old.lan\n";
        assert_eq!(
            run(r"^(127\.0\.1\.1)\s+old\b.*$", r"\1 new", None, None, hosts),
            changed("127.0.0.1 localhost\n127.0.1.1 new\n", 1)
        );
        assert_eq!(
            run(r"(?P<k>\w+)=(\d+)", r"\g<k>: \2", None, None, "a=1\nb=2\n"),
            changed("a: 1\nb: 2\n", 2)
        );
        assert_eq!(run("x", "x", None, None, "xx"), Replaced::Same);
        assert_eq!(run("nomatch", "y", None, None, "xx"), Replaced::Same);
    }

    #[test]
    fn empty_matches_follow_python() {
        // re.subn('x*', '-', 'abxd') == ('-a-b--d-', 5)
        assert_eq!(run("x*", "-", None, None, "abxd"), changed("-a-b--d-", 5));
        // re.subn('$', ';', 'a\nb') == ('a;\nb;', 2)  (MULTILINE)
        assert_eq!(run("$", ";", None, None, "a\nb"), changed("a;\nb;", 2));
    }

    #[test]
    fn after_and_before_bound_the_section() {
        let text = "x=1\n[s]\nx=1\n[t]\nx=1\n";
        assert_eq!(
            run("x=1", "x=2", Some(r"\[s\]"), Some(r"\[t\]"), text),
            changed("x=1\n[s]\nx=2\n[t]\nx=1\n", 1)
        );
        assert_eq!(
            run("x=1", "x=2", Some(r"\[s\]"), None, text),
            changed("x=1\n[s]\nx=2\n[t]\nx=2\n", 2)
        );
        assert_eq!(
            run("x=1", "x=2", None, Some(r"\[s\]"), text),
            changed("x=2\n[s]\nx=1\n[t]\nx=1\n", 1)
        );
        assert!(matches!(
            run("x", "y", Some("nowhere"), None, text),
            Replaced::NoSection(m) if m.ends_with("nowhere(?P<subsection>.*)")
        ));
    }

    #[test]
    fn args_are_checked() {
        assert!(build(json!({"path": "/x", "regexp": "a"})).is_ok());
        let field = |v: Value| refused_field(build(v));
        assert_eq!(
            field(json!({"path": "/x", "regexp": "a", "encoding": "latin-1"})).as_deref(),
            Some("encoding")
        );
        assert_eq!(
            field(json!({"path": "/x", "regexp": "a", "unsafe_writes": true})).as_deref(),
            Some("unsafe_writes")
        );
        assert!(build(json!({"path": "/x", "regexp": "(?<=a)b"})).is_err());
        assert!(build(json!({"path": "/x", "regexp": "a", "validate": "true"})).is_err());
    }
}
