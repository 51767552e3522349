//! `pam_limits` (community.general): one limit in `/etc/security/limits.conf` (or `dest`),
//! edited line for line as Ansible's module edits it.
//!
//! ```yaml
//! pam_limits: { domain: redis, limit_type: "-", limit_item: nofile, value: 65536 }
//! ```
//!
//! Ansible's rules, quirks included: lines starting with `#` and blank lines are kept; the
//! other lines are read with white space collapsed and split at the first `#`; every line of
//! four fields must hold a valid value (else the task fails); each line of the same domain,
//! type and item gets the value (`use_max`/`use_min` keep the larger/smaller, `unlimited`,
//! `infinity` and `-1` counting as no limit) and is rewritten as
//! `domain<TAB>type<TAB>item<TAB>value[<TAB>#comment]`; with no such line one is appended.
//! When `comment` is not given, the comment is the first one found on a non-comment line
//! before (Ansible keeps it in the same variable), with its line end, so such a line is
//! followed by an empty one, exactly as Ansible writes it. A missing `dest` is created (its
//! directory must exist). Returns `msg`, the line written or found.
//!
//! Refused: `backup: true` (Ansible's backup file name has its process id; not implemented).

use async_trait::async_trait;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::de_bool;
use crate::remote_file::parent_of;
use crate::textfiles::{FileWrite, Probe, TextFilesFact, WriteFiles, py_space, py_strip};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("pam_limits", build);

const ITEMS: [&str; 19] = [
    "core",
    "data",
    "fsize",
    "memlock",
    "nofile",
    "rss",
    "stack",
    "cpu",
    "nproc",
    "as",
    "maxlogins",
    "maxsyslogins",
    "priority",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
    "chroot",
];

/// The `pam_limits` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PamLimitsArgs {
    /// A user, `@group`, `*`...
    pub domain: String,
    /// soft, hard or `-`.
    pub limit_type: String,
    /// The item (`nofile`).
    pub limit_item: String,
    /// The value.
    pub value: Value,
    /// Keep the larger of the file's and this value.
    #[serde(default, deserialize_with = "de_bool")]
    pub use_max: bool,
    /// Keep the smaller of the file's and this value.
    #[serde(default, deserialize_with = "de_bool")]
    pub use_min: bool,
    /// Only `false` is supported.
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    /// The file (default `/etc/security/limits.conf`).
    #[serde(default)]
    pub dest: Option<String>,
    /// A comment for the line.
    #[serde(default)]
    pub comment: Option<String>,
}

/// The limit to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// Domain.
    pub domain: String,
    /// Type.
    pub kind: String,
    /// Item.
    pub item: String,
    /// Value.
    pub value: String,
    /// use_max.
    pub use_max: bool,
    /// use_min.
    pub use_min: bool,
    /// The comment argument (empty: none).
    pub comment: String,
}

/// Ansible's `_assert_is_valid_value`.
pub fn check_value(item: &str, value: &str) -> Result<(), String> {
    if item == "nice" || item == "priority" {
        let ok = value
            .trim()
            .parse::<i64>()
            .is_ok_and(|v| (-20..=19).contains(&v));
        if !ok {
            return Err(format!(
                "Value of '{value}' for item '{item}' is invalid. Value must be a number in the range -20 to 19 inclusive."
            ));
        }
    } else if !(is_unlimited(value)
        || (!value.is_empty() && value.chars().all(|c| c.is_ascii_digit())))
    {
        return Err(format!(
            "Value of '{value}' for item '{item}' is invalid. Value must either be 'unlimited', 'infinity' or -1, all of which indicate no limit, or a limit of 0 or larger."
        ));
    }
    Ok(())
}

fn is_unlimited(v: &str) -> bool {
    matches!(v, "unlimited" | "infinity" | "-1")
}

fn pick(l: &Limit, actual: &str) -> String {
    let (au, vu) = (is_unlimited(actual), is_unlimited(&l.value));
    let num = |s: &str| s.parse::<i128>().unwrap_or(0);
    if l.use_max {
        return if au {
            actual.into()
        } else if vu {
            l.value.clone()
        } else {
            num(&l.value).max(num(actual)).to_string()
        };
    }
    if l.use_min {
        return if au && vu {
            actual.into()
        } else if au {
            l.value.clone()
        } else if vu {
            actual.into()
        } else {
            num(&l.value).min(num(actual)).to_string()
        };
    }
    l.value.clone()
}

/// The edited file, whether it changed, and the message (the line written or found).
pub fn edit_limits(content: &str, l: &Limit, dest: &str) -> Result<(String, bool, String), String> {
    let mut out = String::new();
    let mut changed = false;
    let mut found = false;
    let mut message = String::new();
    let mut comment = l.comment.clone();
    let mut new_value = l.value.clone();
    for line in content.split_inclusive('\n') {
        if line.starts_with('#') {
            out.push_str(line);
            continue;
        }
        let collapsed = collapse(line);
        if collapsed.is_empty() {
            out.push_str(line);
            continue;
        }
        let body = collapsed.split('#').next().unwrap_or("").trim_end_matches(py_space);
        let old_comment = line.split_once('#').map_or("", |(_, c)| c);
        if comment.is_empty() {
            comment = old_comment.to_owned();
        }
        let f: Vec<&str> = body.split(' ').collect();
        let [domain, kind, item, actual] = f.as_slice() else {
            out.push_str(line);
            continue;
        };
        check_value(item, actual)
            .map_err(|e| format!("Invalid configuration found in '{dest}'. {e}"))?;
        if !(*domain == l.domain && *kind == l.kind && *item == l.item) {
            out.push_str(line);
            continue;
        }
        found = true;
        if l.value == *actual {
            message = line.to_owned();
            out.push_str(line);
            continue;
        }
        new_value = pick(l, actual);
        if new_value != *actual {
            changed = true;
            if !comment.is_empty() {
                comment = format!("\t#{comment}");
            }
            message = limit_line(l, &new_value, &comment);
            out.push_str(&message);
        } else {
            message = line.to_owned();
            out.push_str(line);
        }
    }
    if !found {
        changed = true;
        if !comment.is_empty() {
            comment = format!("\t#{comment}");
        }
        message = limit_line(l, &new_value, &comment);
        out.push_str(&message);
    }
    Ok((out, changed, message))
}

fn collapse(line: &str) -> String {
    let mut s = String::new();
    let mut space = false;
    for c in line.chars() {
        if py_space(c) {
            if !space {
                s.push(' ');
            }
            space = true;
        } else {
            s.push(c);
            space = false;
        }
    }
    py_strip(&s).to_owned()
}

fn limit_line(l: &Limit, value: &str, comment: &str) -> String {
    format!("{}\t{}\t{}\t{value}{comment}\n", l.domain, l.kind, l.item)
}

/// The `pam_limits` module.
#[derive(Debug)]
pub struct PamLimits {
    limit: Limit,
    dest: String,
}

#[async_trait]
impl Module for PamLimits {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let dir = parent_of(&self.dest);
        let fact = TextFilesFact::new(
            format!("limits file {}", self.dest),
            vec![
                Probe::File(self.dest.clone()),
                Probe::Command {
                    name: "dir".into(),
                    script: sh!("test -d {} && test -w {}", dir, dir),
                },
            ],
        );
        let found = ctx.fact(&fact).await?;
        let current = found.file(&self.dest);
        if current.is_none() && found.command("dir").is_none_or(|c| c.status != 0) {
            return Err(ModuleError::failed(format!(
                "directory {dir} is not writable (check presence, access rights, use sudo)"
            )));
        }
        let before = current.map_or("", |f| f.content.as_str());
        let (after, changed, msg) =
            edit_limits(before, &self.limit, &self.dest).map_err(ModuleError::failed)?;
        let plan = Plan::unchanged().with_result("msg", json!(msg));
        if !changed && current.is_some() {
            return Ok(plan);
        }
        let target = current
            .and_then(|f| f.link_target.clone())
            .unwrap_or_else(|| self.dest.clone());
        let verb = if current.is_some() { "update" } else { "create" };
        Ok(plan.with_change(
            vec![format!("{verb} {}: {}", self.dest, msg.trim_end())],
            vec![Diff::new(self.dest.clone(), before, after.clone())],
            WriteFiles {
                writes: vec![FileWrite::write(target, after)],
                ..WriteFiles::default()
            },
        ))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: PamLimitsArgs = parse_args(args)?;
    if !["soft", "hard", "-"].contains(&a.limit_type.as_str()) {
        return Err(ModuleError::arg(
            "limit_type",
            format!("value of limit_type must be one of: soft, hard, -, got: {}", a.limit_type),
        ));
    }
    if !ITEMS.contains(&a.limit_item.as_str()) {
        return Err(ModuleError::arg(
            "limit_item",
            format!("value of limit_item must be one of: {}, got: {}", ITEMS.join(", "), a.limit_item),
        ));
    }
    let value = match &a.value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(ModuleError::arg("value", format!("expected a string, found {other}"))),
    };
    if a.use_max && a.use_min {
        return Err(ModuleError::args("Cannot use use_min and use_max at the same time."));
    }
    if a.backup {
        return Err(ModuleError::arg("backup", "backup: true is not supported"));
    }
    check_value(&a.limit_item, &value).map_err(|e| ModuleError::arg("value", e))?;
    let dest = a.dest.unwrap_or_else(|| "/etc/security/limits.conf".into());
    if !dest.starts_with('/') {
        return Err(ModuleError::arg("dest", "an absolute path"));
    }
    let comment = a.comment.unwrap_or_default();
    if [&a.domain, &comment].iter().any(|s| s.contains('\n')) {
        return Err(ModuleError::args("domain and comment must be one line"));
    }
    Ok(Box::new(PamLimits {
        limit: Limit {
            domain: a.domain,
            kind: a.limit_type,
            item: a.limit_item,
            value,
            use_max: a.use_max,
            use_min: a.use_min,
            comment,
        },
        dest,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(value: &str) -> Limit {
        Limit {
            domain: "redis".into(),
            kind: "-".into(),
            item: "nofile".into(),
            value: value.into(),
            use_max: false,
            use_min: false,
            comment: String::new(),
        }
    }

    #[test]
    fn lines_are_edited_as_ansible_edits_them() {
        let f = "# header\n\n*  soft  core  0\n";
        let (out, changed, msg) = edit_limits(f, &limit("65536"), "/l").unwrap();
        assert!(changed);
        assert_eq!(out, format!("{f}redis\t-\tnofile\t65536\n"));
        assert_eq!(msg, "redis\t-\tnofile\t65536\n");
        let (again, changed, _) = edit_limits(&out, &limit("65536"), "/l").unwrap();
        assert_eq!((again.as_str(), changed), (out.as_str(), false));

        let f = "redis   -   nofile   1024   # old\n";
        let (out, changed, _) = edit_limits(f, &limit("4096"), "/l").unwrap();
        assert!(changed);
        assert_eq!(out, "redis\t-\tnofile\t4096\t# old\n\n", "Ansible keeps the line end in the comment");

        let mut l = limit("4096");
        l.comment = "mine".into();
        let (out, _, _) = edit_limits("x soft core 0 # inherited\n", &l, "/l").unwrap();
        assert_eq!(out, "x soft core 0 # inherited\nredis\t-\tnofile\t4096\t#mine\n");
        let (out, _, _) = edit_limits("x soft core 0 # inherited\n", &limit("1"), "/l").unwrap();
        assert_eq!(out, "x soft core 0 # inherited\nredis\t-\tnofile\t1\t# inherited\n\n");
        assert!(edit_limits("x soft core lots\n", &limit("1"), "/l").is_err());
        let (out, _, _) = edit_limits("x soft core 0", &limit("1"), "/l").unwrap();
        assert_eq!(out, "x soft core 0redis\t-\tnofile\t1\n", "no line end: glued, as Ansible");
    }

    #[test]
    fn use_max_and_use_min() {
        let mut l = limit("2048");
        l.use_max = true;
        let f = "redis - nofile 4096\n";
        assert!(!edit_limits(f, &l, "/l").unwrap().1);
        l.value = "unlimited".into();
        assert_eq!(edit_limits(f, &l, "/l").unwrap().0, "redis\t-\tnofile\tunlimited\n");
        let mut l = limit("2048");
        l.use_min = true;
        assert_eq!(edit_limits(f, &l, "/l").unwrap().0, "redis\t-\tnofile\t2048\n");
        assert!(!edit_limits("redis - nofile 1\n", &l, "/l").unwrap().1);
    }

    #[test]
    fn args() {
        let ok = |v: Value| build(v).is_ok();
        assert!(ok(json!({"domain": "*", "limit_type": "soft", "limit_item": "nofile", "value": 1024})));
        assert!(!ok(json!({"domain": "*", "limit_type": "soft", "limit_item": "nofiles", "value": 1})));
        assert!(!ok(json!({"domain": "*", "limit_type": "x", "limit_item": "nofile", "value": 1})));
        assert!(!ok(json!({"domain": "*", "limit_type": "-", "limit_item": "nice", "value": 30})));
        assert!(!ok(json!({"domain": "*", "limit_type": "-", "limit_item": "nofile", "value": 1, "backup": true})));
        assert!(!ok(json!({"domain": "*", "limit_type": "-", "limit_item": "nofile", "value": 1, "use_max": true, "use_min": true})));
    }
}
