//! `cron`: one job or environment variable in a user's crontab or in a cron file, edited line
//! for line as Ansible's module edits it.
//!
//! ```yaml
//! cron: { name: backup, cron_file: backup, user: root, hour: "2", minute: "30", job: /usr/local/bin/backup }
//! ```
//!
//! Ansible's rules, quirks included: a job is the line after its `#Ansible: NAME` marker; a
//! line equal to the wanted job without a marker gets one; a changed job is rewritten in place;
//! `state: absent` removes the marker and the line after it, and a cron file left without
//! lines is removed; `env: yes` manages `NAME="VALUE"` lines (first line by default, or
//! `insertafter`/`insertbefore` another variable); `special_time` (`@daily`...), `disabled`
//! (a leading `#`); a file without a final line end is changed to get one. With `cron_file`
//! (relative names go to `/etc/cron.d`), `user` is required and written in each line. Without
//! it, the crontab of `user` (or the remote user) is read with `crontab [-u USER] -l` (its
//! three header lines dropped) and installed with `crontab [-u USER] -` (the content on
//! stdin). Returns `jobs`, `envs`, `cron_file`.
//!
//! Unlike Ansible, a `cron_file` does not need the `crontab` binary (Ansible looks it up
//! first and fails without it); the user-crontab path fails naming it when it is missing.
//! Refused: `backup: true`.

use async_trait::async_trait;
use prov_core::{Action, Diff, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Presence, de_bool};
use crate::textfiles::{FileWrite, Probe, TextFilesFact, WriteFiles};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("cron", build);

const MARK: &str = "#Ansible: ";

/// The `cron` module's arguments (Ansible's names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronArgs {
    /// The job's (or variable's) name.
    pub name: String,
    /// Whose crontab; the user column of a cron file.
    #[serde(default)]
    pub user: Option<String>,
    /// The command (or the variable's value).
    #[serde(default, alias = "value")]
    pub job: Option<String>,
    /// A file in /etc/cron.d (or an absolute path).
    #[serde(default)]
    pub cron_file: Option<String>,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
    /// Only `false`.
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    /// Minute.
    #[serde(default = "star", deserialize_with = "de_text")]
    pub minute: String,
    /// Hour.
    #[serde(default = "star", deserialize_with = "de_text")]
    pub hour: String,
    /// Day of month.
    #[serde(default = "star", alias = "dom", deserialize_with = "de_text")]
    pub day: String,
    /// Month.
    #[serde(default = "star", deserialize_with = "de_text")]
    pub month: String,
    /// Day of week.
    #[serde(default = "star", alias = "dow", deserialize_with = "de_text")]
    pub weekday: String,
    /// reboot, yearly, annually, monthly, weekly, daily, hourly.
    #[serde(default)]
    pub special_time: Option<SpecialTime>,
    /// Comment the job out.
    #[serde(default, deserialize_with = "de_bool")]
    pub disabled: bool,
    /// Manage a variable instead of a job.
    #[serde(default, deserialize_with = "de_bool")]
    pub env: bool,
    /// Put a new variable after this one.
    #[serde(default)]
    pub insertafter: Option<String>,
    /// Put a new variable before this one.
    #[serde(default)]
    pub insertbefore: Option<String>,
}

/// `special_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum SpecialTime {
    Reboot,
    Yearly,
    Annually,
    Monthly,
    Weekly,
    Daily,
    Hourly,
}

impl SpecialTime {
    fn word(self) -> &'static str {
        match self {
            SpecialTime::Reboot => "reboot",
            SpecialTime::Yearly => "yearly",
            SpecialTime::Annually => "annually",
            SpecialTime::Monthly => "monthly",
            SpecialTime::Weekly => "weekly",
            SpecialTime::Daily => "daily",
            SpecialTime::Hourly => "hourly",
        }
    }
}

fn star() -> String {
    "*".into()
}

fn de_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string, found {other}"))),
    }
}

/// The edit's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// Something changes.
    pub changed: bool,
    /// The new content (`None`: remove the cron file).
    pub content: Option<String>,
    /// Job names (Ansible's `jobs`), `None` when the file is removed.
    pub jobs: Option<Vec<String>>,
    /// Variable names.
    pub envs: Vec<String>,
}

/// Ansible's `get_cron_job`.
pub fn job_line(a: &CronArgs, job: &str) -> String {
    let job = job.trim_matches(['\r', '\n']);
    let prefix = if a.disabled { "#" } else { "" };
    let user = match (&a.cron_file, &a.user) {
        (Some(_), Some(u)) => format!(" {u}"),
        (Some(_), None) => " None".into(),
        _ => String::new(),
    };
    match a.special_time {
        Some(s) => format!("{prefix}@{}{user} {job}", s.word()),
        None => format!(
            "{prefix}{} {} {} {} {}{user} {job}",
            a.minute, a.hour, a.day, a.month, a.weekday
        ),
    }
}

/// Ansible's `find_job`: `[comment, line]`, or `[comment, line, inserted]` when a marker was
/// put in front of an unmarked equal line (which it inserts into `lines`).
fn find_job(lines: &mut Vec<String>, name: &str, job: Option<&str>) -> Vec<String> {
    let mut comment: Option<String> = None;
    for l in lines.iter() {
        if let Some(c) = &comment {
            if c == name {
                return vec![c.clone(), l.clone()];
            }
            comment = None;
        } else if l.starts_with(MARK) {
            comment = Some(l.replace(MARK, ""));
        }
    }
    let Some(job) = job else { return Vec::new() };
    let Some(i) = lines.iter().position(|l| l == job) else {
        return Vec::new();
    };
    // Python's lines[i - 1]: the last line when i is 0.
    let prev = lines[if i == 0 { lines.len() - 1 } else { i - 1 }].clone();
    if !prev.starts_with(MARK) {
        lines.insert(i, format!("{MARK}{name}"));
        return vec![lines[i].clone(), job.to_owned(), "True".into()];
    }
    if !name.is_empty() && prev == format!("{MARK}None") {
        let at = if i == 0 { lines.len() - 1 } else { i - 1 };
        lines[at] = format!("{MARK}{name}");
        return vec![lines[at].clone(), job.to_owned(), "True".into()];
    }
    Vec::new()
}

/// Ansible's `_update_job`: the marker's next line replaced by `job` (`None`: both removed).
fn update_job(lines: &[String], name: &str, job: Option<&str>) -> Vec<String> {
    let marker = format!("{MARK}{name}");
    let mut out = Vec::new();
    let mut comment: Option<&String> = None;
    for l in lines {
        if let Some(c) = comment.take() {
            if let Some(j) = job {
                out.push(c.clone());
                out.push(j.to_owned());
            }
        } else if *l == marker {
            comment = Some(l);
        } else {
            out.push(l.clone());
        }
    }
    out
}

fn env_regex(name: &str) -> Result<Regex, String> {
    Regex::new(&format!("^{name}=")).map_err(|_| format!("Invalid name for environment variable: {name}"))
}

fn edit_env(lines: &mut Vec<String>, a: &CronArgs) -> Result<bool, String> {
    if a.name.contains(' ') {
        return Err("Invalid name for environment variable".into());
    }
    let decl = format!("{}=\"{}\"", a.name, a.job.as_deref().unwrap_or("None"));
    let re = env_regex(&a.name)?;
    let old = lines.iter().position(|l| re.is_match(l));
    let present = a.state == Presence::Present;
    match old {
        None if present => {
            let index = match (&a.insertafter, &a.insertbefore) {
                (None, None) => 0,
                (after, before) => {
                    let other = after.as_ref().or(before.as_ref()).expect("one is set");
                    let ore = env_regex(other)?;
                    let Some(i) = lines.iter().position(|l| ore.is_match(l)) else {
                        return Err(format!("Variable named '{other}' not found."));
                    };
                    if after.is_some() { i + 1 } else { i }
                }
            };
            lines.insert(index, decl);
            Ok(true)
        }
        Some(i) if present && lines[i] != decl => {
            for l in lines.iter_mut().filter(|l| re.is_match(l)) {
                l.clone_from(&decl);
            }
            Ok(true)
        }
        Some(_) if !present => {
            lines.retain(|l| !re.is_match(l));
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Ansible's edit of a crontab or cron file (`existing` is its text, `None` when missing).
pub fn edit_cron(existing: Option<&str>, a: &CronArgs) -> Result<Edited, String> {
    let text = existing.unwrap_or("");
    let mut lines: Vec<String> = crate::textfiles::py_lines(text).into_iter().map(str::to_owned).collect();
    let present = a.state == Presence::Present;
    let mut changed = false;
    if a.env {
        changed = edit_env(&mut lines, a)?;
    } else if present {
        let job = job_line(a, a.job.as_deref().unwrap_or(""));
        let old = find_job(&mut lines, &a.name, Some(&job));
        if old.is_empty() {
            lines.push(format!("{MARK}{}", a.name));
            lines.push(job.clone());
            changed = true;
        } else if old[1] != job || old.len() > 2 {
            lines = update_job(&lines, &a.name, Some(&job));
            changed = true;
        }
    } else if !find_job(&mut lines, &a.name, None).is_empty() {
        lines = update_job(&lines, &a.name, None);
        changed = true;
        if a.cron_file.is_some() && lines.iter().all(|l| l.trim().is_empty()) {
            return Ok(Edited {
                changed: existing.is_some(),
                content: None,
                jobs: None,
                envs: Vec::new(),
            });
        }
    }
    if !changed && !text.is_empty() && !text.ends_with(['\r', '\n']) {
        changed = true;
    }
    let mut content = lines.join("\n");
    if !content.is_empty() {
        content = format!("{}\n", content.trim_end_matches(['\r', '\n']));
    }
    let env_line = Regex::new(r"^\S+=").expect("static regex");
    let envs = lines
        .iter()
        .filter(|l| env_line.is_match(l))
        .map(|l| l.split('=').next().unwrap_or("").to_owned())
        .collect();
    let jobs = lines
        .iter()
        .filter(|l| l.starts_with(MARK))
        .map(|l| l.replace(MARK, ""))
        .collect();
    Ok(Edited {
        changed,
        content: Some(content),
        jobs: Some(jobs),
        envs,
    })
}

/// Drops the header lines `crontab -l` prints (Ansible's `read`: among the first three lines,
/// those that match its patterns).
pub fn strip_crontab_header(out: &str) -> String {
    let patterns = [
        Regex::new(r"^# DO NOT EDIT THIS FILE - edit the master and reinstall\.").expect("regex"),
        Regex::new(r"^# \(/tmp/.*installed on.*\)").expect("regex"),
        Regex::new(r"^# \(.*version.*\)").expect("regex"),
    ];
    let mut text = out.to_owned();
    for (count, l) in crate::textfiles::py_lines(out).into_iter().enumerate() {
        if count <= 2 && patterns.iter().any(|p| p.is_match(l)) {
            for end in ["\r\n", "\n", "\r", ""] {
                let pat = format!("{l}{end}");
                if let Some(i) = text.find(&pat) {
                    text.replace_range(i..i + pat.len(), "");
                    break;
                }
            }
        }
    }
    text
}

/// Installs a user's crontab from stdin.
struct InstallCrontab {
    script: Script,
    content: String,
}

#[async_trait]
impl Action for InstallCrontab {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run_with_input(&self.script, self.content.as_bytes()).await?;
        if !out.success() {
            let mut r = serde_json::Map::new();
            r.insert("rc".into(), json!(out.status));
            r.insert("stderr".into(), json!(out.stderr_text()));
            r.insert("stdout".into(), json!(out.stdout_text()));
            return Err(ModuleError::failed_with("Failed to install new cronfile", r));
        }
        Ok(Outcome::default())
    }
}

/// The `cron` module.
#[derive(Debug)]
pub struct Cron {
    a: CronArgs,
    /// The cron file's full path.
    file: Option<String>,
}

impl Cron {
    /// `crontab [-u USER] ARGS`, with `-u` only when the user is not the remote user (as
    /// Ansible).
    fn crontab(&self, tail: &'static str) -> Script {
        match &self.a.user {
            Some(u) => sh!("if [ \"$(id -un)\" != {} ]; then crontab -u {} {}; else crontab {}; fi", u, u, Script::text(tail), Script::text(tail)),
            None => sh!("crontab {}", Script::text(tail)),
        }
    }

    fn header(&self) -> String {
        match (&self.file, &self.a.user) {
            (Some(f), _) => f.clone(),
            (None, Some(u)) => format!("crontab for user \"{u}\""),
            (None, None) => "crontab".into(),
        }
    }

    async fn read(&self, ctx: &ModuleContext<'_>) -> Result<Option<String>, ModuleError> {
        if let Some(f) = &self.file {
            let found = ctx.fact(&TextFilesFact::new(format!("cron file {f}"), vec![Probe::File(f.clone())])).await?;
            return Ok(found.file(f).map(|t| t.content.clone()));
        }
        let probe = Probe::Command {
            name: "crontab".into(),
            script: sh!("command -v crontab >/dev/null || exit 127\n{}", self.crontab("-l")),
        };
        let found = ctx.fact(&TextFilesFact::new(self.header(), vec![probe])).await?;
        match found.command("crontab") {
            Some(c) if c.status == 127 => Err(ModuleError::failed(
                "Failed to find required executable \"crontab\": user crontabs need it (install the cron package), or use cron_file",
            )),
            Some(c) if c.status == 0 || c.status == 1 => Ok(Some(strip_crontab_header(&c.stdout))),
            _ => Err(ModuleError::failed("Unable to read crontab")),
        }
    }
}

#[async_trait]
impl Module for Cron {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let existing = self.read(ctx).await?;
        let e = edit_cron(existing.as_deref(), &self.a).map_err(ModuleError::failed)?;
        let mut plan = Plan::unchanged();
        if let Some(jobs) = &e.jobs {
            plan = plan.with_result("jobs", json!(jobs)).with_result("envs", json!(e.envs));
        } else {
            plan = plan.with_result("state", json!("absent"));
        }
        if let Some(f) = &self.a.cron_file {
            plan = plan.with_result("cron_file", json!(f));
        }
        if !e.changed {
            return Ok(plan);
        }
        let before = existing.clone().unwrap_or_default();
        let header = self.header();
        let diff = Diff::new(header.clone(), before, e.content.clone().unwrap_or_default());
        let (summary, action): (String, Box<dyn Action>) = match (&self.file, &e.content) {
            (Some(f), None) => (format!("remove {f}"), Box::new(WriteFiles { writes: vec![FileWrite::remove(f.clone())], ..WriteFiles::default() })),
            (Some(f), Some(c)) => {
                let verb = if existing.is_some() { "update" } else { "create" };
                (format!("{verb} {f}: {}", self.a.name), Box::new(WriteFiles { writes: vec![FileWrite::write(f.clone(), c.clone())], ..WriteFiles::default() }))
            }
            (None, c) => (
                format!("update {header}: {}", self.a.name),
                Box::new(InstallCrontab { script: self.crontab("-"), content: c.clone().unwrap_or_default() }),
            ),
        };
        Ok(plan.with_change(vec![summary], vec![diff], BoxedAction(action)))
    }
}

struct BoxedAction(Box<dyn Action>);

#[async_trait]
impl Action for BoxedAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        self.0.apply(ctx).await
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: CronArgs = parse_args(args)?;
    if a.backup {
        return Err(ModuleError::arg("backup", "backup: true is not supported"));
    }
    if a.insertafter.is_some() && a.insertbefore.is_some() {
        return Err(ModuleError::args("parameters are mutually exclusive: insertafter|insertbefore"));
    }
    let file = a.cron_file.as_ref().map(|f| {
        if f.starts_with('/') { f.clone() } else { format!("/etc/cron.d/{f}") }
    });
    if file.as_deref() == Some("/etc/crontab") {
        return Err(ModuleError::arg("cron_file", "Will not manage /etc/crontab via cron_file, see documentation."));
    }
    let times = [&a.minute, &a.hour, &a.day, &a.month, &a.weekday];
    if a.special_time.is_some() && times.iter().any(|t| *t != "*") {
        return Err(ModuleError::args("You cannot combine special_time with any of the time or day/date parameters."));
    }
    if a.state == Presence::Present {
        if a.cron_file.is_some() && a.user.is_none() {
            return Err(ModuleError::arg("user", "To use cron_file=... parameter you must specify user=... as well"));
        }
        if a.job.is_none() {
            return Err(ModuleError::arg("job", "You must specify 'job' to install a new cron job or variable"));
        }
        if (a.insertafter.is_some() || a.insertbefore.is_some()) && !a.env {
            return Err(ModuleError::args("Insertafter and insertbefore parameters are valid only with env=yes"));
        }
    }
    if [Some(&a.name), a.user.as_ref()].into_iter().flatten().any(|s| s.contains('\n')) {
        return Err(ModuleError::args("name and user must be one line"));
    }
    Ok(Box::new(Cron { a, file }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn args(v: Value) -> CronArgs {
        parse_args(v).unwrap()
    }

    #[test]
    fn jobs_are_added_updated_and_removed_as_ansible_does() {
        let a = args(json!({"name": "backup", "cron_file": "b", "user": "root", "hour": 2, "minute": "30", "job": "/bin/backup"}));
        let e = edit_cron(None, &a).unwrap();
        assert_eq!(e.content.as_deref(), Some("#Ansible: backup\n30 2 * * * root /bin/backup\n"));
        assert_eq!(e.jobs, Some(vec!["backup".to_owned()]));
        let again = edit_cron(e.content.as_deref(), &a).unwrap();
        assert!(!again.changed);
        let changed = args(json!({"name": "backup", "cron_file": "b", "user": "root", "special_time": "daily", "job": "/bin/backup", "disabled": true}));
        let e2 = edit_cron(e.content.as_deref(), &changed).unwrap();
        assert_eq!(e2.content.as_deref(), Some("#Ansible: backup\n#@daily root /bin/backup\n"));
        // An equal line without a marker gets one.
        let e3 = edit_cron(Some("X=1\n30 2 * * * root /bin/backup\n"), &a).unwrap();
        assert!(e3.changed);
        assert_eq!(e3.content.as_deref(), Some("X=1\n#Ansible: backup\n30 2 * * * root /bin/backup\n"));
        assert_eq!(e3.envs, ["X"]);
        // Absent: marker and line go; an empty cron file is removed.
        let gone = args(json!({"name": "backup", "cron_file": "b", "state": "absent"}));
        let e4 = edit_cron(e.content.as_deref(), &gone).unwrap();
        assert_eq!((e4.changed, e4.content), (true, None));
        let e5 = edit_cron(e3.content.as_deref(), &gone).unwrap();
        assert_eq!(e5.content.as_deref(), Some("X=1\n"));
        assert!(!edit_cron(Some("X=1\n"), &gone).unwrap().changed);
        assert!(edit_cron(Some("X=1"), &gone).unwrap().changed, "a missing line end is a change");
    }

    #[test]
    fn user_crontab_lines_have_no_user() {
        let a = args(json!({"name": "n", "job": "ls", "weekday": "1-5"}));
        assert_eq!(job_line(&a, "ls\n"), "* * * * 1-5 ls");
        let a = args(json!({"name": "n", "job": "ls", "special_time": "reboot"}));
        assert_eq!(job_line(&a, "ls"), "@reboot ls");
    }

    #[test]
    fn variables() {
        let a = args(json!({"name": "PATH", "env": true, "job": "/bin"}));
        let e = edit_cron(Some("#Ansible: x\n* * * * * ls\n"), &a).unwrap();
        assert_eq!(e.content.as_deref(), Some("PATH=\"/bin\"\n#Ansible: x\n* * * * * ls\n"));
        let b = args(json!({"name": "MAILTO", "env": true, "job": "", "insertafter": "PATH"}));
        let e2 = edit_cron(e.content.as_deref(), &b).unwrap();
        assert_eq!(e2.content.as_deref(), Some("PATH=\"/bin\"\nMAILTO=\"\"\n#Ansible: x\n* * * * * ls\n"));
        assert_eq!(e2.envs, ["PATH", "MAILTO"]);
        let c = args(json!({"name": "PATH", "env": true, "job": "/usr/bin"}));
        assert_eq!(edit_cron(e2.content.as_deref(), &c).unwrap().content.unwrap().lines().next(), Some("PATH=\"/usr/bin\""));
        let d = args(json!({"name": "PATH", "env": true, "state": "absent"}));
        assert_eq!(edit_cron(e.content.as_deref(), &d).unwrap().content.as_deref(), Some("#Ansible: x\n* * * * * ls\n"));
        let bad = args(json!({"name": "A", "env": true, "job": "1", "insertbefore": "NOPE"}));
        assert!(edit_cron(None, &bad).unwrap_err().contains("NOPE"));
    }

    #[test]
    fn crontab_headers_are_dropped() {
        let out = "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# (/tmp/crontab.x installed on Mon)\n# (Cron version -- $Id$)\n#Ansible: a\n* * * * * ls\n";
        assert_eq!(strip_crontab_header(out), "#Ansible: a\n* * * * * ls\n");
        assert_eq!(strip_crontab_header("* * * * * ls\n"), "* * * * * ls\n");
    }

    #[test]
    fn build_checks() {
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"name": "a", "job": "ls", "cron_file": "x"})).as_deref(), Some("user"));
        assert_eq!(field(json!({"name": "a"})).as_deref(), Some("job"));
        assert_eq!(field(json!({"name": "a", "job": "ls", "backup": true})).as_deref(), Some("backup"));
        assert_eq!(field(json!({"name": "a", "state": "absent", "cron_file": "/etc/crontab"})).as_deref(), Some("cron_file"));
        assert!(build(json!({"name": "a", "job": "ls", "special_time": "daily", "hour": "1"})).is_err());
        assert!(build(json!({"name": "a", "job": "ls", "special_time": "often"})).is_err());
        assert_eq!(field(json!({"name": "a", "state": "absent"})), None);
    }
}
