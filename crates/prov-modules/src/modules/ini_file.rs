//! `ini_file` (community.general.ini_file): one option of one section of an INI file, present
//! (with one or more values) or absent, or a whole section absent.
//!
//! ```yaml
//! ini_file: { path: /etc/app.ini, section: main, option: port, value: 8080, mode: "0640" }
//! ```
//!
//! The file is read in one remote command ([`read_for_edit`]); the new content is computed on
//! the controller by [`edit_ini`], a line-for-line port of Ansible's `do_ini` (same output
//! layout: `opt = value`, a new section appended as `[name]` at the end, a new file starting
//! with an empty line), and written atomically by the shared writer. `section_has_values` is
//! not implemented and is refused.

use async_trait::async_trait;
use prov_core::{Module, ModuleContext, ModuleError, Plan};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Presence, de_bool, de_opt_string, de_opt_string_list};
use crate::remote_file::{Attrs, check_path};
use crate::writefile::{NewContent, WriteOptions, plan_write, read_for_edit};
use crate::ModuleSpec;

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("ini_file", build);

fn yes() -> bool {
    true
}

/// The `ini_file` module's arguments (Ansible's names and defaults).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "dest")]
    path: String,
    #[serde(default, deserialize_with = "de_opt_string")]
    section: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    option: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    value: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string_list")]
    values: Option<Vec<Option<String>>>,
    #[serde(default)]
    state: Presence,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    exclusive: bool,
    #[serde(default, deserialize_with = "de_bool")]
    no_extra_spaces: bool,
    #[serde(default, deserialize_with = "de_bool")]
    ignore_spaces: bool,
    #[serde(default, deserialize_with = "de_bool")]
    allow_no_value: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    modify_inactive_option: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    create: bool,
    #[serde(default, deserialize_with = "de_bool")]
    follow: bool,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
}

/// Ansible's stand-in name for the lines before the first section.
const FAKE_SECTION: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";

/// What to do to the INI text: everything [`edit_ini`] needs, regexes compiled.
#[derive(Debug, Clone)]
pub struct IniEdit {
    section: String,
    section_re: Regex,
    option: Option<String>,
    values: Vec<String>,
    state: Presence,
    exclusive: bool,
    no_extra_spaces: bool,
    ignore_spaces: bool,
    allow_no_value: bool,
    opt_re: Option<Regex>,
    active_re: Option<Regex>,
}

/// The outcome of [`edit_ini`]: whether it changed and Ansible's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniResult {
    /// Whether the content changed.
    pub changed: bool,
    /// Ansible's `msg` (`OK`, `option added`, `section and option added`...).
    pub msg: &'static str,
    /// The new content.
    pub text: String,
}

/// A match of Ansible's option pattern: (comment marker, value).
fn opt_match(re: &Regex, line: &str) -> Option<(bool, String)> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let c = re.captures(body)?;
    let commented = c.get(2).is_some_and(|m| !m.as_str().is_empty());
    Some((commented, c.get(8).map_or("", |m| m.as_str()).to_owned()))
}

/// Ansible's `non_blank_non_comment_pattern`: blank or comment lines.
fn blank_or_comment(line: &str) -> bool {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let t = body.trim_start_matches([' ', '\t']);
    t.is_empty() || t.starts_with(['#', ';'])
}

impl IniEdit {
    /// The edit for `section` (`None`: the lines before the first section) and `option`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        section: Option<&str>,
        option: Option<&str>,
        values: Vec<String>,
        state: Presence,
        exclusive: bool,
        no_extra_spaces: bool,
        ignore_spaces: bool,
        allow_no_value: bool,
        modify_inactive_option: bool,
    ) -> Self {
        let section = match section {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => FAKE_SECTION.to_owned(),
        };
        let section_re = Regex::new(&format!(r"^\[\s*{}\s*\]", regex::escape(section.trim())))
            .expect("escaped section pattern");
        let pattern = |prefix: &str, o: &str| {
            Regex::new(&format!(
                r"^{prefix}( |\t)*({})( |\t)*(=|$)( |\t)*(.*)",
                regex::escape(o)
            ))
            .expect("escaped option pattern")
        };
        let active_re = option.map(|o| pattern("()()", o));
        let opt_re = match modify_inactive_option {
            true => option.map(|o| pattern(r"( |\t)*([#;]?)", o)),
            false => active_re.clone(),
        };
        let mut unique: Vec<String> = Vec::new();
        for v in values {
            if !unique.contains(&v) {
                unique.push(v);
            }
        }
        Self {
            section,
            section_re,
            option: option.map(str::to_owned),
            values: unique,
            state,
            exclusive,
            no_extra_spaces,
            ignore_spaces,
            allow_no_value,
            opt_re,
            active_re,
        }
    }

    fn assignment(&self, value: &str) -> String {
        let o = self.option.as_deref().unwrap_or("");
        match self.no_extra_spaces {
            true => format!("{o}={value}\n"),
            false => format!("{o} = {value}\n"),
        }
    }

    fn no_value_line(&self) -> String {
        format!("{}\n", self.option.as_deref().unwrap_or(""))
    }

    /// Ansible's `update_section_line`: replaces line `i` unless equal (or, with
    /// `ignore_spaces`, equal in value); returns whether it changed.
    fn update_line(&self, lines: &mut [String], touched: &mut [bool], i: usize, new: String) -> bool {
        let re = self.opt_re.as_ref().expect("an option");
        let mut option_changed = None;
        if self.ignore_spaces
            && let Some((false, old)) = opt_match(re, &lines[i])
        {
            option_changed = opt_match(re, &new).map(|(_, v)| v != old);
        }
        let option_changed = option_changed.unwrap_or(lines[i] != new);
        if option_changed {
            lines[i] = new;
        }
        touched[i] = true;
        option_changed
    }
}

/// Lines as Python's universal-newline `readlines()` gives them (`\r\n` and `\r` become `\n`,
/// a UTF-8 byte order mark is dropped).
pub fn ini_lines(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.split_inclusive('\n').map(str::to_owned).collect()
}

/// Ansible's `do_ini` on the lines of the file (empty for a missing file).
pub fn edit_ini(mut ini: Vec<String>, e: &IniEdit) -> IniResult {
    let mut changed = false;
    if ini.is_empty() {
        ini.push("\n".into());
    }
    if let Some(last) = ini.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
        changed = true;
    }
    ini.insert(0, format!("[{FAKE_SECTION}]"));
    ini.push("[".into());
    let (mut within, mut start, mut end) = (false, 0, 0);
    for (i, line) in ini.iter().enumerate() {
        if within && line.starts_with('[') {
            end = i;
            break;
        }
        if e.section_re.is_match(line) {
            within = true;
            start = i;
        }
    }
    let after = ini.split_off(end);
    let mut section = ini.split_off(start);
    let before = ini;
    let mut msg = "OK";
    let present = e.state == Presence::Present;
    let mut values = e.values.clone();
    if present {
        present_in_section(e, &mut section, &mut values, &mut changed, &mut msg);
    } else {
        absent_in_section(e, &mut section, &values, &mut changed, &mut msg);
    }
    let mut out: Vec<String> = before.into_iter().chain(section).chain(after).collect();
    out.remove(0);
    out.pop();
    if !within && present {
        out.push(format!("[{}]\n", e.section));
        msg = "section and option added";
        if e.option.is_some() && !values.is_empty() {
            out.extend(values.iter().map(|v| e.assignment(v)));
        } else if e.option.is_some() && e.allow_no_value {
            out.push(e.no_value_line());
        } else {
            msg = "only section added";
        }
        changed = true;
    }
    IniResult {
        changed,
        msg,
        text: out.concat(),
    }
}

/// The `state: present` part of `do_ini` on the lines of the section.
fn present_in_section(
    e: &IniEdit,
    lines: &mut Vec<String>,
    values: &mut Vec<String>,
    changed: &mut bool,
    msg: &mut &'static str,
) {
    let mut touched = vec![false; lines.len()];
    let mut no_value_present = false;
    if let Some(re) = &e.opt_re {
        for i in 0..lines.len() {
            let Some((_, found)) = opt_match(re, &lines[i]) else {
                continue;
            };
            if !values.is_empty() && values.contains(&found) {
                let new = if found.is_empty() && e.allow_no_value {
                    no_value_present = true;
                    e.no_value_line()
                } else {
                    e.assignment(&found)
                };
                if e.update_line(lines, &mut touched, i, new) {
                    (*changed, *msg) = (true, "option changed");
                }
                let at = values.iter().position(|v| *v == found).expect("contained");
                values.remove(at);
            } else if values.is_empty() && e.allow_no_value {
                if e.update_line(lines, &mut touched, i, e.no_value_line()) {
                    (*changed, *msg) = (true, "option changed");
                }
                no_value_present = true;
                break;
            }
        }
    }
    if e.exclusive && !e.allow_no_value {
        exclusive_in_section(e, lines, &mut touched, values, changed, msg);
    }
    // Insert after the last line that is neither blank nor a comment.
    let Some(index) = (1..=lines.len()).rev().find(|&i| !blank_or_comment(&lines[i - 1])) else {
        return;
    };
    if e.option.is_some() && !values.is_empty() {
        for v in values.iter().rev() {
            lines.insert(index, e.assignment(v));
        }
        (*changed, *msg) = (true, "option added");
    } else if e.option.is_some() && e.allow_no_value && !no_value_present {
        lines.insert(index, e.no_value_line());
        (*changed, *msg) = (true, "option added");
    }
}

/// `exclusive`: the remaining values take the other lines of the option, the rest go.
fn exclusive_in_section(
    e: &IniEdit,
    lines: &mut Vec<String>,
    touched: &mut Vec<bool>,
    values: &mut Vec<String>,
    changed: &mut bool,
    msg: &mut &'static str,
) {
    let Some(re) = &e.opt_re else { return };
    if !values.is_empty() {
        for i in 0..lines.len() {
            if !touched[i] && opt_match(re, &lines[i]).is_some() {
                let v = values.remove(0);
                if e.update_line(lines, touched, i, e.assignment(&v)) {
                    (*changed, *msg) = (true, "option changed");
                }
                if values.is_empty() {
                    break;
                }
            }
        }
    }
    for i in (1..lines.len()).rev() {
        if !touched[i] && opt_match(re, &lines[i]).is_some() {
            lines.remove(i);
            touched.remove(i);
            (*changed, *msg) = (true, "option changed");
        }
    }
}

/// The `state: absent` part of `do_ini` on the lines of the section.
fn absent_in_section(
    e: &IniEdit,
    lines: &mut Vec<String>,
    values: &[String],
    changed: &mut bool,
    msg: &mut &'static str,
) {
    let Some(active) = &e.active_re else {
        if !lines.is_empty() {
            lines.clear();
            (*changed, *msg) = (true, "section removed");
        }
        return;
    };
    let before = lines.len();
    if e.exclusive {
        lines.retain(|l| opt_match(active, l).is_none());
    } else if !values.is_empty() {
        lines.retain(|l| !opt_match(active, l).is_some_and(|(_, v)| values.contains(&v)));
    }
    if lines.len() != before {
        (*changed, *msg) = (true, "option changed");
    }
}

/// The module: the edit, where, and how the file is written.
struct IniFile {
    path: String,
    edit: IniEdit,
    create: bool,
    follow: bool,
    opts: WriteOptions,
}

#[async_trait]
impl Module for IniFile {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let t = read_for_edit(ctx, "ini_file", &self.path).await?;
        let target = if self.follow { t.target.clone() } else { self.path.clone() };
        if t.content.is_none() && !self.create {
            return Err(ModuleError::failed_with(
                format!("Destination {target} does not exist!"),
                [("rc".to_owned(), json!(257))].into_iter().collect(),
            ));
        }
        let old = t.content.as_deref().unwrap_or_default();
        let text = std::str::from_utf8(old).map_err(|_| {
            ModuleError::failed(format!("ini_file: {target} is not UTF-8 text"))
        })?;
        let r = edit_ini(ini_lines(text), &self.edit);
        let base = Plan::unchanged()
            .with_result("path", json!(self.path))
            .with_result("msg", json!(r.msg));
        if t.content.is_none() && !r.changed {
            return Ok(base);
        }
        let new = match r.changed {
            true => NewContent::from_bytes(r.text.into_bytes()),
            false => NewContent::from_bytes(old.to_vec()),
        };
        let plan = plan_write(&target, &t.probed, &new, Some(old), &self.opts, ctx.check_mode)?;
        let result = base.into_result();
        let mut plan = plan;
        for (k, v) in result {
            plan.result_mut().insert(k, v);
        }
        Ok(plan)
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("ini_file", "path", &a.path)?;
    if a.value.is_some() && a.values.is_some() {
        return Err(ModuleError::args(
            "`value` and `values` are mutually exclusive",
        ));
    }
    let values: Vec<String> = match (a.value, a.values) {
        (Some(v), _) => vec![v],
        (None, Some(vs)) => vs.into_iter().flatten().collect(),
        (None, None) => Vec::new(),
    };
    if a.state == Presence::Present && !a.allow_no_value && values.is_empty() {
        return Err(ModuleError::arg(
            "value",
            "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
        ));
    }
    let edit = IniEdit::new(
        a.section.as_deref(),
        a.option.as_deref(),
        values,
        a.state,
        a.exclusive,
        a.no_extra_spaces,
        a.ignore_spaces,
        a.allow_no_value,
        a.modify_inactive_option,
    );
    Ok(Box::new(IniFile {
        path: a.path,
        edit,
        create: a.create,
        follow: a.follow,
        opts: WriteOptions {
            attrs,
            backup: a.backup,
            create_parent: true,
            validate: None,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed(section: Option<&str>, option: &str, values: &[&str]) -> IniEdit {
        IniEdit::new(
            section,
            Some(option),
            values.iter().map(|v| v.to_string()).collect(),
            Presence::Present,
            true,
            false,
            false,
            false,
            true,
        )
    }

    fn run(text: &str, e: &IniEdit) -> (bool, &'static str, String) {
        let r = edit_ini(ini_lines(text), e);
        (r.changed, r.msg, r.text)
    }

    #[test]
    fn new_files_and_sections_look_like_ansibles() {
        let e = ed(Some("main"), "port", &["8080"]);
        assert_eq!(
            run("", &e),
            (true, "section and option added", "\n[main]\nport = 8080\n".into())
        );
        assert_eq!(
            run("[a]\nx = 1\n", &e),
            (true, "section and option added", "[a]\nx = 1\n[main]\nport = 8080\n".into())
        );
        let top = ed(None, "port", &["1"]);
        assert_eq!(run("", &top), (true, "option added", "port = 1\n\n".into()));
        assert_eq!(
            run("# c\n[a]\nx = 1\n", &top),
            (true, "option added", "port = 1\n# c\n[a]\nx = 1\n".into()),
            "as the real ansible-core: after the (hidden) header, before the comment"
        );
    }

    #[test]
    fn options_are_replaced_added_and_left_alone() {
        let e = ed(Some("main"), "port", &["8080"]);
        let conf = "[main]\nhost = a\nport = 80\n\n[other]\nport = 1\n";
        assert_eq!(
            run(conf, &e),
            (
                true,
                "option changed",
                "[main]\nhost = a\nport = 8080\n\n[other]\nport = 1\n".into()
            )
        );
        let done = "[main]\nhost = a\nport = 8080\n\n[other]\nport = 1\n";
        assert_eq!(run(done, &e), (false, "OK", done.into()));
        // Added after the last non-blank, non-comment line of the section.
        assert_eq!(
            run("[main]\nhost = a\n# end\n\n[x]\n", &e).2,
            "[main]\nhost = a\nport = 8080\n# end\n\n[x]\n"
        );
        // A commented-out option is activated (modify_inactive_option, the default).
        assert_eq!(
            run("[main]\n;port = 1\n", &e),
            (true, "option changed", "[main]\nport = 8080\n".into())
        );
        // CRLF lines read as LF (Python's universal newlines), so they are rewritten as LF.
        assert_eq!(
            run("[main]\r\nhost = a\r\n", &e).2,
            "[main]\nhost = a\nport = 8080\n"
        );
        // A missing final newline is a change by itself.
        assert!(run("[main]\nport = 8080", &e).0);
        // `port=8080` differs from `port = 8080` unless ignore_spaces.
        assert!(run("[main]\nport=8080\n", &e).0);
        let mut sp = e.clone();
        sp.ignore_spaces = true;
        assert!(!run("[main]\nport=8080\n", &sp).0);
    }

    #[test]
    fn exclusive_values_and_absent() {
        let e = ed(Some("s"), "k", &["1", "2"]);
        assert_eq!(
            run("[s]\nk = 3\nk = 1\nk = 4\n", &e).2,
            "[s]\nk = 2\nk = 1\n"
        );
        let mut keep = e.clone();
        keep.exclusive = false;
        assert_eq!(run("[s]\nk = 3\nk = 1\n", &keep).2, "[s]\nk = 3\nk = 1\nk = 2\n");
        let mut gone = ed(Some("s"), "k", &[]);
        gone.state = Presence::Absent;
        assert_eq!(
            run("[s]\nk = 3\n#k = 1\nj = 2\n", &gone),
            (true, "option changed", "[s]\n#k = 1\nj = 2\n".into())
        );
        assert_eq!(run("", &gone), (false, "OK", "\n".into()));
        let section = IniEdit::new(
            Some("s"),
            None,
            vec![],
            Presence::Absent,
            true,
            false,
            false,
            false,
            true,
        );
        assert_eq!(
            run("[a]\nx=1\n[s]\nk = 3\n[b]\n", &section),
            (true, "section removed", "[a]\nx=1\n[b]\n".into())
        );
    }

    #[test]
    fn allow_no_value_and_no_extra_spaces() {
        let mut e = ed(Some("mysqld"), "skip-name-resolve", &[]);
        e.allow_no_value = true;
        assert_eq!(
            run("[mysqld]\nuser = mysql\n", &e).2,
            "[mysqld]\nuser = mysql\nskip-name-resolve\n"
        );
        assert!(!run("[mysqld]\nskip-name-resolve\n", &e).0);
        let mut n = ed(Some("s"), "k", &["v"]);
        n.no_extra_spaces = true;
        assert_eq!(run("[s]\n", &n).2, "[s]\nk=v\n");
    }

    #[test]
    fn args_are_checked() {
        let ok = |v: Value| build(v).is_ok();
        assert!(ok(json!({"path": "/x", "section": "s", "option": "o", "value": 1})));
        assert!(!ok(json!({"path": "/x", "section": "s", "option": "o"})));
        assert!(ok(json!({"path": "/x", "section": "s", "state": "absent"})));
        let e = build(json!({"path": "/x", "section": "s", "option": "o", "value": "v",
            "section_has_values": []}))
        .err()
        .expect("refused");
        assert!(
            matches!(&e, ModuleError::Args(a) if a.field.as_deref() == Some("section_has_values")),
            "{e}"
        );
        assert!(!ok(json!({"path": "/x", "option": "o", "value": "v", "values": ["a"]})));
    }
}
