//! `pamd` (community.general.pamd): edits the rules of a PAM service file (`/etc/pam.d/NAME`).
//!
//! ```yaml
//! pamd: { name: sshd, type: session, control: optional, module_path: pam_motd.so, state: absent }
//! ```
//!
//! One remote command reads the file (links followed) and the host's clock; the module's own
//! model of the file ([`service`]: its parser, its linked-list edits, its validation and the
//! way it prints the file back, every rule reformatted and a `# Updated by Ansible - <time>`
//! line second) computes the new content on the controller. When a rule changed, the file is
//! written atomically (the old one kept as `NAME.<pid>.<date>~` with `backup`), as the module
//! does: `changed` is `change_count > 0`.

mod service;

use async_trait::async_trait;
use prov_core::transfer::{FileAttrs, put_file};
use prov_core::{Action, Module, ModuleContext, ModuleError, Outcome, Plan, Script, Stdin, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ModuleSpec;
use crate::args::{de_bool, de_opt_string_list};
use crate::remote_file::{ProbePreamble, check_path, content_diff};
use crate::writefile::{NewContent, read_for_edit_with};
pub use service::{Key, NewFields, PamError, Service, VALID_TYPES};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("pamd", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: String,
    #[serde(rename = "type")]
    rule_type: String,
    control: String,
    module_path: String,
    #[serde(default)]
    new_type: Option<String>,
    #[serde(default)]
    new_control: Option<String>,
    #[serde(default)]
    new_module_path: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string_list")]
    module_arguments: Option<Vec<Option<String>>>,
    #[serde(default)]
    state: State,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
}

fn default_path() -> String {
    "/etc/pam.d".into()
}

/// The edit (`state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Change the matching rules' type, control, path or arguments.
    #[default]
    Updated,
    /// Insert a new rule before each matching rule.
    Before,
    /// Insert a new rule after each matching rule.
    After,
    /// Add (or change the value of) arguments of the matching rules.
    ArgsPresent,
    /// Remove arguments from the matching rules.
    ArgsAbsent,
    /// Remove the matching rules.
    Absent,
}

/// What the task asks, resolved.
#[derive(Debug, Clone)]
pub struct PamEdit {
    /// `type`, `control`, `module_path`.
    pub key: (String, String, String),
    /// `new_type`, `new_control`, `new_module_path`.
    pub new: (Option<String>, Option<String>, Option<String>),
    /// `module_arguments` as Ansible's `type: list` made them.
    pub args: Option<Vec<String>>,
    /// `state`.
    pub state: State,
}

/// Applies the edit to the file's text: the number of changed rules and the text the module
/// writes (with `now` in its mark line), or why the module fails.
pub fn edit(e: &PamEdit, content: &str, now: &str) -> Result<(usize, String), PamError> {
    let mut s = Service::parse(content)?;
    let key = Key {
        rule_type: &e.key.0,
        control: &e.key.1,
        path: &e.key.2,
    };
    let new = NewFields {
        rule_type: e.new.0.as_deref(),
        control: e.new.1.as_deref(),
        path: e.new.2.as_deref(),
        args: e.args.as_deref(),
    };
    let args = e.args.as_deref().unwrap_or_default();
    let changes = match e.state {
        State::Updated => s.update(key, new),
        State::Before => s.insert_before(key, new),
        State::After => s.insert_after(key, new),
        State::ArgsAbsent => s.remove_args(key, args),
        State::ArgsPresent => s.add_args(key, args)?,
        State::Absent => s.remove(key)?,
    };
    s.validate()?;
    Ok((changes, s.render(now)))
}

/// The host's local time as Python's `datetime.now().isoformat()` prints it, read with the
/// file (one line `T <date>`).
struct HostNow;

impl ProbePreamble for HostNow {
    type Output = String;

    fn script(&self) -> Script {
        Script::text("date '+T %Y-%m-%dT%H:%M:%S.%N'\n")
    }

    fn parse(&self, lines: &[&str]) -> Result<String, String> {
        let [line] = lines else {
            return Err(format!("expected one line with the host's time, got {lines:?}"));
        };
        let t = line
            .strip_prefix("T ")
            .ok_or_else(|| format!("unexpected time line `{line}`"))?;
        isoformat(t).ok_or_else(|| format!("unexpected time `{t}`"))
    }
}

/// `2026-12-07T14:05:09.123456789` → `2026-12-07T14:05:09.123456` (no fraction when the
/// microseconds are 0, as Python prints it).
fn isoformat(t: &str) -> Option<String> {
    let (secs, nanos) = t.split_once('.')?;
    if secs.len() != 19 || nanos.len() < 6 || !nanos.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(match &nanos[..6] {
        "000000" => secs.to_owned(),
        micros => format!("{secs}.{micros}"),
    })
}

struct Pamd {
    file: String,
    edit: PamEdit,
    backup: bool,
}

#[async_trait]
impl Module for Pamd {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let (t, now) = read_for_edit_with(ctx, "pamd", &self.file, HostNow).await?;
        let Some(old) = &t.content else {
            return Err(ModuleError::failed(format!(
                "Unable to open/read PAM module file {f} with error [Errno 2] No such file or directory: '{f}'.",
                f = self.file
            )));
        };
        let text = std::str::from_utf8(old).map_err(|e| {
            ModuleError::failed(format!(
                "pamd: {} is not UTF-8 text ({e}): the module cannot read it either",
                self.file
            ))
        })?;
        let (count, new) =
            edit(&self.edit, text, &now).map_err(|e| ModuleError::failed(e.to_string()))?;
        let plan = Plan::unchanged()
            .with_result("change_count", json!(count))
            .with_result("backupdest", json!(""));
        if count == 0 {
            return Ok(plan);
        }
        let diff = content_diff(&t.target, Some(old.as_slice()), None, Some(new.as_bytes()));
        let (add, del) = diff.line_counts();
        let summary = format!(
            "update {} ({count} rule(s) changed, +{add} -{del} lines)",
            t.target
        );
        let action = WritePam {
            file: self.file.clone(),
            target: t.target.clone(),
            content: NewContent::from_bytes(new.into_bytes()),
            backup: self.backup,
        };
        Ok(plan.with_change(vec![summary], vec![diff], action))
    }
}

/// Backs the file up (when asked) and installs the new content atomically at the link's
/// target; the old file's mode and owner are kept, as Ansible's `atomic_move` keeps them.
struct WritePam {
    file: String,
    target: String,
    content: NewContent,
    backup: bool,
}

#[async_trait]
impl Action for WritePam {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let mut outcome = Outcome::default();
        if self.backup {
            let out = ctx.run_ok(&backup_script(&self.file)).await?;
            let dest = out.stdout_text();
            outcome
                .result
                .insert("backupdest".into(), json!(dest.trim_end_matches('\n')));
        }
        let bytes = self.content.bytes().unwrap_or_default();
        let out = put_file(
            ctx.conn,
            &self.target,
            Stdin::Bytes(bytes),
            self.content.size,
            &self.content.sha256,
            &FileAttrs::default(),
            ctx.become_.cloned(),
        )
        .await?;
        if !out.success() {
            return Err(ModuleError::Remote {
                command: format!("install {}", self.target),
                status: out.status,
                stderr: out.stderr_text(),
            });
        }
        Ok(outcome)
    }
}

/// Ansible's `backup_local`: a copy (content, mode, owner, times) named
/// `FILE.<pid>.<YYYY-MM-DD@HH:MM:SS>~`; prints the name.
fn backup_script(file: &str) -> Script {
    sh!("f={}\n", file).then_text(
        "b=\"$f.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"\ncp -p -- \"$f\" \"$b\"\nprintf '%s\\n' \"$b\"\n",
    )
}

/// `os.path.join(path, name)`.
fn join(path: &str, name: &str) -> String {
    if name.starts_with('/') || path.is_empty() {
        name.to_owned()
    } else if path.ends_with('/') {
        format!("{path}{name}")
    } else {
        format!("{path}/{name}")
    }
}

/// Ansible's `required_if` message.
fn required_if(state: &str, missing: &[&str]) -> ModuleError {
    ModuleError::args(format!(
        "state is {state} but all of the following are missing: {}",
        missing.join(", ")
    ))
}

fn check_choice(field: &str, v: &str) -> Result<(), ModuleError> {
    if VALID_TYPES.contains(&v) {
        return Ok(());
    }
    Err(ModuleError::arg(
        field,
        format!(
            "value of {field} must be one of: {}, got: {v}",
            VALID_TYPES.join(", ")
        ),
    ))
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = crate::parse_args(args)?;
    check_choice("type", &a.rule_type)?;
    if let Some(t) = &a.new_type {
        check_choice("new_type", t)?;
    }
    let module_args = a
        .module_arguments
        .map(|items| {
            items
                .into_iter()
                .map(|i| {
                    i.ok_or_else(|| {
                        ModuleError::arg("module_arguments", "an element is null (refused)")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let has_args = module_args.is_some();
    let (state_name, needs): (&str, Vec<(&str, bool)>) = match a.state {
        State::ArgsPresent => ("args_present", vec![("module_arguments", has_args)]),
        State::ArgsAbsent => ("args_absent", vec![("module_arguments", has_args)]),
        State::Before | State::After => (
            if a.state == State::Before {
                "before"
            } else {
                "after"
            },
            vec![
                ("new_control", a.new_control.is_some()),
                ("new_type", a.new_type.is_some()),
                ("new_module_path", a.new_module_path.is_some()),
            ],
        ),
        _ => ("", Vec::new()),
    };
    let missing: Vec<&str> = needs.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        return Err(required_if(state_name, &missing));
    }
    if a.state == State::ArgsPresent
        && service::parse_module_arguments(module_args.as_deref().unwrap_or_default())
            .iter()
            .any(|x| x.starts_with('['))
    {
        return Err(ModuleError::arg(
            "module_arguments",
            "Unable to process bracketed '[' complex arguments with 'args_present'. Please use 'updated'.",
        ));
    }
    if a.path.starts_with('~') || a.path.contains('$') {
        return Err(ModuleError::arg(
            "path",
            "`~` and `$VARIABLES` are not expanded by prov: give the path itself",
        ));
    }
    let file = join(&a.path, &a.name);
    check_path("pamd", "name", &file)?;
    if !file.starts_with('/') {
        return Err(ModuleError::arg(
            "path",
            format!("{file} is relative: give an absolute `path`"),
        ));
    }
    Ok(Box::new(Pamd {
        file,
        edit: PamEdit {
            key: (a.rule_type, a.control, a.module_path),
            new: (a.new_type, a.new_control, a.new_module_path),
            args: module_args,
            state: a.state,
        },
        backup: a.backup,
    }))
}

#[cfg(test)]
mod tests;
