//! `alternatives` (community.general): Debian's alternatives system through `update-alternatives`.
//!
//! ```yaml
//! alternatives: { name: editor, path: /usr/bin/vim.basic, link: /usr/bin/editor, priority: 60 }
//! ```
//!
//! As Ansible's module: the state is read from `update-alternatives --display NAME` with
//! Ansible's regular expressions (mode, current path, link, each alternative's priority, family
//! and followers). `present`, `selected` (default) and `auto` install the alternative when it is
//! missing or its `priority` or `subcommands` differ (`--install LINK NAME PATH PRIORITY`,
//! `--family`, `--slave` per subcommand; the link defaults to the current one, the priority to
//! the current one or 50); `selected` then runs `--set` unless the path (or the family) is
//! already the current one; `auto` runs `--auto` when the group is in manual mode; `absent`
//! runs `--remove NAME PATH` when the path is one of the alternatives. Returns `msg` (the
//! messages of the steps) and a before/after diff of Ansible's fields.

use async_trait::async_trait;
use prov_core::{Diff, Fact, FactError, Module, ModuleContext, ModuleError, Plan, RunScript, Script, sh};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("alternatives", build);

/// One follower link (`subcommands`, alias `slaves`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Subcommand {
    /// The follower's name.
    pub name: String,
    /// Its target.
    pub path: String,
    /// Its link.
    pub link: String,
}

/// The `alternatives` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlternativesArgs {
    /// The generic name (`editor`).
    pub name: String,
    /// The alternative's target.
    #[serde(default)]
    pub path: Option<String>,
    /// The family.
    #[serde(default)]
    pub family: Option<String>,
    /// The generic link (`/usr/bin/editor`).
    #[serde(default)]
    pub link: Option<String>,
    /// The priority.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub priority: Option<i64>,
    /// present, selected (default), auto, absent.
    #[serde(default)]
    pub state: AltState,
    /// Followers.
    #[serde(default, alias = "slaves")]
    pub subcommands: Option<Vec<Subcommand>>,
}

/// The `state` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AltState {
    /// Installed.
    Present,
    /// Installed and chosen (manual mode).
    #[default]
    Selected,
    /// Installed, the group in auto mode.
    Auto,
    /// Removed.
    Absent,
}

/// An installed alternative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// Its path.
    pub path: String,
    /// Its priority.
    pub priority: i64,
    /// Its family (empty: none).
    pub family: String,
    /// Its followers (name, path, link).
    pub subcommands: Vec<(String, String, Option<String>)>,
}

/// What `update-alternatives --display` says about a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// `auto` or `manual` (`None`: no such group).
    pub mode: Option<String>,
    /// The current target.
    pub current_path: Option<String>,
    /// The generic link.
    pub link: Option<String>,
    /// The alternatives.
    pub alternatives: Vec<Alternative>,
}

impl Group {
    fn get(&self, path: &str) -> Option<&Alternative> {
        self.alternatives.iter().find(|a| a.path == path)
    }
}

/// Ansible's parse of `--display` (its regular expressions); `wanted` fills follower links the
/// output lacks, as Ansible does.
pub fn parse_display(out: &str, wanted: Option<&[Subcommand]>) -> Group {
    let re = |r: &str| Regex::new(r).expect("static regex");
    let mode = re(r"(?m)\s-\s(?:status\sis\s)?(\w*)(?:\smode|.)$");
    let Some(m) = mode.captures(out) else {
        return Group::default();
    };
    let cap1 = |r: &str| re(r).captures(out).map(|c| c[1].to_owned());
    let mut links: Vec<(String, String)> = re(r"(?m)^\s*(?:slave|follower) (\S+) is (.*)$")
        .captures_iter(out)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .collect();
    if links.is_empty()
        && let Some(w) = wanted
    {
        links = w.iter().map(|s| (s.name.clone(), s.link.clone())).collect();
    }
    let sub = re(r"(?m)^\s+(?:slave|follower) (.*): (.*)$");
    let alt = re(r"(?m)^(/.*)\s-\s(?:family\s(\S+)\s)?priority\s(\d+)((?:\s+(?:slave|follower).*)*)");
    let alternatives = alt
        .captures_iter(out)
        .map(|c| Alternative {
            path: c[1].to_owned(),
            family: c.get(2).map_or("", |f| f.as_str()).to_owned(),
            priority: c[3].parse().unwrap_or(i64::MAX),
            subcommands: sub
                .captures_iter(&c[4])
                .filter(|s| &s[2] != "(null)")
                .map(|s| {
                    let link = links.iter().find(|(n, _)| *n == s[1]).map(|(_, l)| l.clone());
                    (s[1].to_owned(), s[2].to_owned(), link)
                })
                .collect(),
        })
        .collect();
    Group {
        mode: Some(m[1].to_owned()),
        current_path: cap1(r"(?m)^\s*link currently points to (.*)$"),
        link: cap1(r"(?m)^\s*link \w+ is (.*)$"),
        alternatives,
    }
}

/// The group's state and whether `path` exists.
pub struct AltFact<'a> {
    name: &'a str,
    path: Option<&'a str>,
    wanted: Option<&'a [Subcommand]>,
}

impl Fact for AltFact<'_> {
    type Output = (Group, bool);

    fn name(&self) -> String {
        format!("alternatives {}", self.name)
    }

    fn script(&self) -> Script {
        let exists = match self.path {
            Some(p) => sh!("if [ -e {} ]; then echo yes; else echo no; fi", p),
            None => Script::text("echo no"),
        };
        sh!(
            "command -v update-alternatives >/dev/null || {{ echo 'Failed to find required executable \"update-alternatives\"' >&2; exit 127; }}\n{}\nLC_ALL=C update-alternatives --display {} 2>/dev/null; true",
            exists,
            self.name
        )
    }

    fn parse(&self, out: &prov_core::CommandOutput) -> Result<Self::Output, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let text = out.stdout_text();
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let exists = match first {
            "yes" => true,
            "no" => false,
            _ => return Err(self.error(format!("unexpected answer `{first}`"))),
        };
        Ok((parse_display(rest, self.wanted), exists))
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltOp {
    /// `--install`.
    Install {
        /// The link.
        link: String,
        /// The priority.
        priority: i64,
        /// Followers to pass.
        subcommands: Vec<Subcommand>,
    },
    /// `--set NAME ARG`.
    Set(String),
    /// `--auto`.
    Auto,
    /// `--remove NAME PATH`.
    Remove,
}

/// The `alternatives` module.
#[derive(Debug)]
pub struct Alternatives {
    a: AlternativesArgs,
}

/// The planner, Ansible's `run`.
pub fn plan_alternatives(a: &AlternativesArgs, g: &Group, path_exists: bool) -> Result<Vec<AltOp>, String> {
    let mut ops = Vec::new();
    if a.state == AltState::Absent {
        if let Some(p) = &a.path
            && g.get(p).is_some()
        {
            ops.push(AltOp::Remove);
        }
        return Ok(ops);
    }
    if let Some(p) = &a.path {
        let cur = g.get(p);
        let differs = match cur {
            None => true,
            Some(c) => {
                a.priority.is_some_and(|pr| pr != c.priority)
                    || a.subcommands.as_ref().is_some_and(|w| !same_subcommands(w, &c.subcommands))
            }
        };
        if differs {
            if !path_exists {
                return Err(format!("Specified path {p} does not exist"));
            }
            let Some(link) = a.link.clone().or_else(|| g.link.clone()) else {
                return Err("Needed to install the alternative, but unable to do so as we are missing the link".into());
            };
            let priority = a.priority.or(cur.map(|c| c.priority)).unwrap_or(50);
            ops.push(AltOp::Install {
                link,
                priority,
                subcommands: a.subcommands.clone().unwrap_or_default(),
            });
        }
    }
    let same_path = a.path.is_some() && g.current_path == a.path;
    let same_family = g
        .current_path
        .as_deref()
        .and_then(|c| g.get(c))
        .is_some_and(|c| a.family.as_deref() == Some(c.family.as_str()));
    if a.state == AltState::Selected && !(same_path || same_family) {
        let arg = a.path.clone().or_else(|| a.family.clone()).unwrap_or_default();
        ops.push(AltOp::Set(arg));
    }
    if a.state == AltState::Auto && g.mode.as_deref() == Some("manual") {
        ops.push(AltOp::Auto);
    }
    Ok(ops)
}

fn same_subcommands(want: &[Subcommand], have: &[(String, String, Option<String>)]) -> bool {
    let as_tuple = |s: &Subcommand| (s.name.clone(), s.path.clone(), Some(s.link.clone()));
    want.iter().all(|w| have.contains(&as_tuple(w)))
        && have.iter().all(|h| want.iter().any(|w| as_tuple(w) == *h))
}

impl Alternatives {
    fn script(&self, op: &AltOp) -> Script {
        let a = &self.a;
        let path = a.path.clone().unwrap_or_default();
        match op {
            AltOp::Install { link, priority, subcommands } => {
                let mut s = sh!("update-alternatives --install {} {} {} {}", link, a.name, path, priority.to_string());
                if let Some(f) = &a.family {
                    s = s.then_text(" --family").arg(f);
                }
                for sc in subcommands {
                    s = s.then_text(" --slave").arg(&sc.link).arg(&sc.name).arg(&sc.path);
                }
                s
            }
            AltOp::Set(arg) => sh!("update-alternatives --set {} {}", a.name, arg),
            AltOp::Auto => sh!("update-alternatives --auto {}", a.name),
            AltOp::Remove => sh!("update-alternatives --remove {} {}", a.name, path),
        }
    }

    fn message(&self, op: &AltOp) -> String {
        let (name, path) = (&self.a.name, self.a.path.as_deref().unwrap_or(""));
        match op {
            AltOp::Install { .. } => format!("Install alternative '{path}' for '{name}'."),
            AltOp::Set(arg) => format!("Set alternative '{arg}' for '{name}'."),
            AltOp::Auto => format!("Set alternative to auto for '{name}'."),
            AltOp::Remove => format!("Remove alternative '{path}' from '{name}'."),
        }
    }

    fn state_text(&self, g: &Group) -> String {
        let Some(p) = &self.a.path else {
            return format!("mode: {}\n", g.mode.as_deref().unwrap_or("(none)"));
        };
        match g.get(p) {
            None => "state: absent\n".into(),
            Some(c) => format!(
                "state: {}\npath: {p}\npriority: {}\nlink: {}\nmode: {}\ncurrent: {}\n",
                if g.current_path.as_deref() == Some(p) { "selected" } else { "present" },
                c.priority,
                g.link.as_deref().unwrap_or(""),
                g.mode.as_deref().unwrap_or(""),
                g.current_path.as_deref().unwrap_or(""),
            ),
        }
    }
}

#[async_trait]
impl Module for Alternatives {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = AltFact {
            name: &self.a.name,
            path: self.a.path.as_deref(),
            wanted: self.a.subcommands.as_deref(),
        };
        let (group, exists) = ctx.fact(&fact).await?;
        let ops = plan_alternatives(&self.a, &group, exists).map_err(ModuleError::failed)?;
        let messages: Vec<String> = ops.iter().map(|op| self.message(op)).collect();
        let plan = Plan::unchanged().with_result("msg", json!(messages.join(" ")));
        if ops.is_empty() {
            return Ok(plan);
        }
        let after = ops.iter().map(|op| format!("{}\n", self.script(op))).collect::<String>();
        let diff = Diff::new(format!("alternatives {}", self.a.name), self.state_text(&group), after);
        let scripts: Vec<Script> = ops.iter().map(|op| self.script(op)).collect();
        let script = Script::text("set -e\nexport LC_ALL=C").then(&Script::lines(&scripts));
        Ok(plan.with_change(messages, vec![diff], RunScript(script)))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: AlternativesArgs = parse_args(args)?;
    if a.path.is_none() && a.family.is_none() {
        return Err(ModuleError::args("one of the following is required: path, family"));
    }
    for (field, v) in [("path", &a.path), ("link", &a.link)] {
        if v.as_ref().is_some_and(|p| !p.starts_with('/')) {
            return Err(ModuleError::arg(field, "an absolute path"));
        }
    }
    Ok(Box::new(Alternatives { a }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGER: &str = "pager - manual mode\n  link best version is /bin/more\n  link currently points to /bin/less\n  link pager is /usr/bin/pager\n  slave pager.1.gz is /usr/share/man/man1/pager.1.gz\n/bin/less - priority 77\n  slave pager.1.gz: /usr/share/man/man1/less.1.gz\n/bin/more - family pg priority 50\n  slave pager.1.gz: (null)\n";

    #[test]
    fn display_is_parsed_as_ansible_parses_it() {
        let g = parse_display(PAGER, None);
        assert_eq!(g.mode.as_deref(), Some("manual"));
        assert_eq!(g.current_path.as_deref(), Some("/bin/less"));
        assert_eq!(g.link.as_deref(), Some("/usr/bin/pager"));
        assert_eq!(g.alternatives.len(), 2);
        assert_eq!(g.alternatives[0].priority, 77);
        assert_eq!(
            g.alternatives[0].subcommands,
            [("pager.1.gz".into(), "/usr/share/man/man1/less.1.gz".into(), Some("/usr/share/man/man1/pager.1.gz".into()))]
        );
        assert_eq!(g.alternatives[1].family, "pg");
        assert!(g.alternatives[1].subcommands.is_empty());
        assert_eq!(parse_display("", None), Group::default());
    }

    fn args(v: Value) -> AlternativesArgs {
        parse_args(v).unwrap()
    }

    #[test]
    fn the_planner_follows_ansibles_run() {
        let g = parse_display(PAGER, None);
        let p = |v: Value| plan_alternatives(&args(v), &g, true).unwrap();
        assert_eq!(p(json!({"name": "pager", "path": "/bin/less"})), []);
        assert_eq!(p(json!({"name": "pager", "path": "/bin/more"})), [AltOp::Set("/bin/more".into())]);
        assert_eq!(p(json!({"name": "pager", "path": "/bin/more", "state": "present"})), []);
        assert_eq!(p(json!({"name": "pager", "path": "/bin/more", "state": "auto"})), [AltOp::Auto]);
        let install = p(json!({"name": "pager", "path": "/bin/less", "priority": 10}));
        assert_eq!(install, [AltOp::Install { link: "/usr/bin/pager".into(), priority: 10, subcommands: vec![] }]);
        let new = p(json!({"name": "pager", "path": "/bin/cat", "state": "present"}));
        assert_eq!(new, [AltOp::Install { link: "/usr/bin/pager".into(), priority: 50, subcommands: vec![] }]);
        assert_eq!(p(json!({"name": "pager", "path": "/bin/more", "state": "absent"})), [AltOp::Remove]);
        assert_eq!(p(json!({"name": "pager", "path": "/bin/cat", "state": "absent"})), []);
        assert_eq!(p(json!({"name": "pager", "family": "pg"})), [AltOp::Set("pg".into())]);
        let e = plan_alternatives(&args(json!({"name": "x", "path": "/bin/cat"})), &Group::default(), true);
        assert!(e.unwrap_err().contains("missing the link"));
        let e = plan_alternatives(&args(json!({"name": "x", "path": "/no"})), &Group::default(), false);
        assert!(e.unwrap_err().contains("does not exist"));
    }

    #[test]
    fn build_checks() {
        assert!(build(json!({"name": "x"})).is_err());
        assert!(build(json!({"name": "x", "path": "rel"})).is_err());
        assert!(build(json!({"name": "x", "path": "/a", "state": "gone"})).is_err());
        assert!(build(json!({"name": "x", "path": "/a", "slaves": [{"name": "a", "path": "/b", "link": "/c"}]})).is_ok());
    }
}
