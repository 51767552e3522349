//! `user`: local accounts via `useradd`/`usermod`/`userdel`, current state from `getent`/`id`.
//!
//! ```yaml
//! user: { name: redis, system: yes, shell: /usr/sbin/nologin, home: /var/lib/redis,
//!         create_home: no, groups: [adm], append: yes, comment: "Redis" }
//! ```

use std::collections::BTreeSet;

use async_trait::async_trait;
use prov_core::{Action, Diff, Module, ModuleContext, ModuleError, Outcome, Plan, quote};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{StringList, de_bool, de_opt_bool};
use crate::parse_args;
use crate::server_util::{self, section, sections};

/// The `user` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserArgs {
    /// The login name.
    #[serde(alias = "user")]
    pub name: String,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Option<String>,
    /// Create a system account (only on creation).
    #[serde(default, deserialize_with = "de_bool")]
    pub system: bool,
    /// The user id.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub uid: Option<u32>,
    /// The primary group (name or gid).
    #[serde(default)]
    pub group: Option<Value>,
    /// Supplementary groups (replace the list unless `append`).
    #[serde(default)]
    pub groups: Option<StringList>,
    /// Add to `groups` without removing others.
    #[serde(default, deserialize_with = "de_bool")]
    pub append: bool,
    /// The home directory.
    #[serde(default)]
    pub home: Option<String>,
    /// Move the old home's content when `home` changes.
    #[serde(default, deserialize_with = "de_bool")]
    pub move_home: bool,
    /// Create the home directory on creation (default yes).
    #[serde(default, deserialize_with = "de_opt_bool", alias = "createhome")]
    pub create_home: Option<bool>,
    /// The login shell.
    #[serde(default)]
    pub shell: Option<String>,
    /// The GECOS field.
    #[serde(default)]
    pub comment: Option<String>,
    /// Remove the home directory with the account (state absent).
    #[serde(default, deserialize_with = "de_bool")]
    pub remove: bool,
    /// Force removal even when logged in (state absent).
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
}

/// An account as `getent passwd` and `id` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Primary group name.
    pub group: String,
    /// GECOS.
    pub comment: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Supplementary groups (without the primary one).
    pub groups: BTreeSet<String>,
}

impl Account {
    /// Parses `getent passwd NAME`, `id -gn NAME` and `id -Gn NAME` output.
    pub fn parse(passwd: &str, primary: &str, all_groups: &str) -> Option<Account> {
        let line = passwd.lines().next()?;
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let group = primary.trim().to_owned();
        let groups = all_groups
            .split_whitespace()
            .filter(|g| *g != group)
            .map(str::to_owned)
            .collect();
        Some(Account {
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            group,
            comment: f[4].to_owned(),
            home: f[5].to_owned(),
            shell: f[6].to_owned(),
            groups,
        })
    }

    fn describe(&self) -> String {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        format!(
            "uid: {}\ngroup: {}\ngroups: {}\nhome: {}\nshell: {}\ncomment: {}\n",
            self.uid,
            self.group,
            groups.join(","),
            self.home,
            self.shell,
            self.comment
        )
    }
}

/// The checked `user` request.
#[derive(Debug, Clone)]
pub struct UserSpec {
    name: String,
    present: bool,
    system: bool,
    uid: Option<u32>,
    group: Option<String>,
    groups: Option<Vec<String>>,
    append: bool,
    home: Option<String>,
    move_home: bool,
    create_home: bool,
    shell: Option<String>,
    comment: Option<String>,
    remove: bool,
    force: bool,
}

/// The `usermod` options and summary lines that bring `cur` to `spec` (empty: nothing to do).
pub fn usermod_changes(spec: &UserSpec, cur: &Account) -> (Vec<String>, Vec<String>) {
    let mut opts = Vec::new();
    let mut summary = Vec::new();
    let n = &spec.name;
    if let Some(u) = spec.uid
        && u != cur.uid
    {
        opts.push(format!("-u {u}"));
        summary.push(format!("user {n}: uid {} -> {u}", cur.uid));
    }
    let mut primary_after = cur.group.clone();
    if let Some(g) = &spec.group {
        let differs = match g.parse::<u32>() {
            Ok(gid) => gid != cur.gid,
            Err(_) => *g != cur.group,
        };
        if differs {
            opts.push(format!("-g {}", quote(g)));
            summary.push(format!("user {n}: primary group {} -> {g}", cur.group));
            if g.parse::<u32>().is_err() {
                primary_after = g.clone();
            }
        }
    }
    if let Some(want) = &spec.groups {
        let want: BTreeSet<String> = want
            .iter()
            .filter(|g| **g != primary_after)
            .cloned()
            .collect();
        if spec.append {
            let missing: Vec<String> = want.difference(&cur.groups).cloned().collect();
            if !missing.is_empty() {
                opts.push(format!("-a -G {}", quote(&missing.join(","))));
                summary.push(format!("user {n}: add to groups {}", missing.join(",")));
            }
        } else if want != cur.groups {
            let list: Vec<&str> = want.iter().map(String::as_str).collect();
            opts.push(format!("-G {}", quote(&list.join(","))));
            let old: Vec<&str> = cur.groups.iter().map(String::as_str).collect();
            summary.push(format!(
                "user {n}: groups {} -> {}",
                old.join(","),
                list.join(",")
            ));
        }
    }
    if let Some(h) = &spec.home
        && *h != cur.home
    {
        opts.push(format!(
            "-d {}{}",
            quote(h),
            if spec.move_home { " -m" } else { "" }
        ));
        summary.push(format!("user {n}: home {} -> {h}", cur.home));
    }
    if let Some(s) = &spec.shell
        && *s != cur.shell
    {
        opts.push(format!("-s {}", quote(s)));
        summary.push(format!("user {n}: shell {} -> {s}", cur.shell));
    }
    if let Some(c) = &spec.comment
        && *c != cur.comment
    {
        opts.push(format!("-c {}", quote(c)));
        summary.push(format!("user {n}: comment {:?} -> {c:?}", cur.comment));
    }
    (opts, summary)
}

/// The account as it will be after `usermod` (for the diff).
fn account_after(spec: &UserSpec, cur: &Account) -> Account {
    let mut a = cur.clone();
    if let Some(u) = spec.uid {
        a.uid = u;
    }
    if let Some(g) = &spec.group {
        match g.parse::<u32>() {
            Ok(gid) if gid != cur.gid => a.group = format!("gid {gid}"),
            Ok(_) => {}
            Err(_) => a.group = g.clone(),
        }
    }
    if let Some(want) = &spec.groups {
        let want = want.iter().filter(|g| **g != a.group).cloned();
        if spec.append {
            a.groups.extend(want);
        } else {
            a.groups = want.collect();
        }
    }
    if let Some(h) = &spec.home {
        a.home = h.clone();
    }
    if let Some(s) = &spec.shell {
        a.shell = s.clone();
    }
    if let Some(c) = &spec.comment {
        a.comment = c.clone();
    }
    a
}

/// The `useradd` command line creating the account.
pub fn useradd_command(spec: &UserSpec) -> String {
    let mut s = String::from("useradd");
    if spec.system {
        s.push_str(" -r");
    }
    if let Some(u) = spec.uid {
        s.push_str(&format!(" -u {u}"));
    }
    if let Some(g) = &spec.group {
        s.push_str(&format!(" -g {}", quote(g)));
    }
    if let Some(gs) = &spec.groups
        && !gs.is_empty()
    {
        s.push_str(&format!(" -G {}", quote(&gs.join(","))));
    }
    if let Some(h) = &spec.home {
        s.push_str(&format!(" -d {}", quote(h)));
    }
    s.push_str(if spec.create_home { " -m" } else { " -M" });
    if let Some(sh) = &spec.shell {
        s.push_str(&format!(" -s {}", quote(sh)));
    }
    if let Some(c) = &spec.comment {
        s.push_str(&format!(" -c {}", quote(c)));
    }
    s.push_str(&format!(" -- {}", quote(&spec.name)));
    s
}

/// The `user` module.
#[derive(Debug)]
pub struct User {
    spec: UserSpec,
}

#[async_trait]
impl Module for User {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let n = quote(&self.spec.name);
        let script = format!(
            "{}getent passwd {n}\n{}id -gn {n} 2>/dev/null\n{}id -Gn {n} 2>/dev/null\n{}",
            section("passwd"),
            section("primary"),
            section("groups"),
            section("end")
        );
        let out = ctx.run(script).await?;
        let secs = sections(&out.stdout_text());
        if !secs.contains_key("end") {
            server_util::check_output("getent passwd", &out)?;
        }
        let cur = Account::parse(
            server_util::get(&secs, "passwd"),
            server_util::get(&secs, "primary"),
            server_util::get(&secs, "groups"),
        );
        let name = &self.spec.name;
        let mut plan = Plan::unchanged().with_result("name", json!(name));
        let (command, summary, diff) = match (&cur, self.spec.present) {
            (None, false) => return Ok(plan.with_result("state", json!("absent"))),
            (Some(acct), false) => {
                let mut c = String::from("userdel");
                if self.spec.remove {
                    c.push_str(" -r");
                }
                if self.spec.force {
                    c.push_str(" -f");
                }
                c.push_str(&format!(" -- {n}"));
                (
                    c,
                    vec![format!("remove user {name}")],
                    Diff::new(format!("user {name}"), acct.describe(), ""),
                )
            }
            (None, true) => {
                let c = useradd_command(&self.spec);
                (
                    c,
                    vec![format!("create user {name}")],
                    Diff::new(format!("user {name}"), "", self.describe_new()),
                )
            }
            (Some(acct), true) => {
                plan = plan
                    .with_result("uid", json!(acct.uid))
                    .with_result("group", json!(acct.gid))
                    .with_result("home", json!(acct.home))
                    .with_result("shell", json!(acct.shell));
                let (opts, summary) = usermod_changes(&self.spec, acct);
                if opts.is_empty() {
                    return Ok(plan.with_result("state", json!("present")));
                }
                let c = format!("usermod {} -- {n}", opts.join(" "));
                let after = account_after(&self.spec, acct);
                (
                    c,
                    summary,
                    Diff::new(format!("user {name}"), acct.describe(), after.describe()),
                )
            }
        };
        plan.changed = true;
        plan.summary = summary;
        plan.diffs.push(diff);
        plan.action = Some(Box::new(RunAction { command }));
        Ok(plan)
    }
}

impl User {
    fn describe_new(&self) -> String {
        let s = &self.spec;
        let mut out = String::new();
        if let Some(u) = s.uid {
            out.push_str(&format!("uid: {u}\n"));
        }
        if let Some(g) = &s.group {
            out.push_str(&format!("group: {g}\n"));
        }
        if let Some(g) = &s.groups {
            out.push_str(&format!("groups: {}\n", g.join(",")));
        }
        if let Some(h) = &s.home {
            out.push_str(&format!("home: {h}\n"));
        }
        if let Some(sh) = &s.shell {
            out.push_str(&format!("shell: {sh}\n"));
        }
        if let Some(c) = &s.comment {
            out.push_str(&format!("comment: {c}\n"));
        }
        out.push_str(&format!(
            "system: {}\ncreate_home: {}\n",
            s.system, s.create_home
        ));
        out
    }
}

/// Runs one planned command (shared by `user` and `group`).
pub(crate) struct RunAction {
    pub(crate) command: String,
}

#[async_trait]
impl Action for RunAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run(self.command.clone()).await?;
        server_util::check_output(&self.command, &out)?;
        Ok(Outcome::default())
    }
}

/// True for names useradd/groupadd accept.
pub(crate) fn valid_account_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && !n.starts_with('-')
        && n.trim_end_matches('$')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn plain_field(field: &str, v: &str) -> Result<(), ModuleError> {
    if v.contains([':', '\n']) {
        return Err(ModuleError::Args(format!(
            "user: {field} must not contain `:` or newlines"
        )));
    }
    Ok(())
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: UserArgs = parse_args("user", args)?;
    if !valid_account_name(&a.name) {
        return Err(ModuleError::Args(format!(
            "user: `{}` is not a valid user name",
            a.name
        )));
    }
    let present = match a.state.as_deref() {
        None | Some("present") => true,
        Some("absent") => false,
        Some(o) => {
            return Err(ModuleError::Args(format!(
                "user: state `{o}` is not present or absent"
            )));
        }
    };
    let group = match a.group {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(o) => {
            return Err(ModuleError::Args(format!(
                "user: group must be a name or a gid, found {o}"
            )));
        }
    };
    let groups = a.groups.map(|g| g.0);
    for g in group.iter().chain(groups.iter().flatten()) {
        if !valid_account_name(g) {
            return Err(ModuleError::Args(format!(
                "user: `{g}` is not a valid group name"
            )));
        }
    }
    for (f, v) in [
        ("home", &a.home),
        ("shell", &a.shell),
        ("comment", &a.comment),
    ] {
        if let Some(v) = v {
            plain_field(f, v)?;
        }
    }
    Ok(Box::new(User {
        spec: UserSpec {
            name: a.name,
            present,
            system: a.system,
            uid: a.uid,
            group,
            groups,
            append: a.append,
            home: a.home,
            move_home: a.move_home,
            create_home: a.create_home.unwrap_or(true),
            shell: a.shell,
            comment: a.comment,
            remove: a.remove,
            force: a.force,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> UserSpec {
        UserSpec {
            name: "redis".into(),
            present: true,
            system: true,
            uid: None,
            group: None,
            groups: None,
            append: false,
            home: None,
            move_home: false,
            create_home: false,
            shell: None,
            comment: None,
            remove: false,
            force: false,
        }
    }

    fn acct() -> Account {
        Account::parse(
            "redis:x:105:110:Redis Server:/var/lib/redis:/usr/sbin/nologin\n",
            "redis\n",
            "redis adm\n",
        )
        .unwrap()
    }

    #[test]
    fn getent_output_parses() {
        let a = acct();
        assert_eq!((a.uid, a.gid, a.group.as_str()), (105, 110, "redis"));
        assert_eq!(a.home, "/var/lib/redis");
        assert_eq!(a.groups.iter().collect::<Vec<_>>(), ["adm"]);
        assert!(Account::parse("", "", "").is_none());
    }

    #[test]
    fn only_differences_are_modified() {
        let mut s = spec();
        s.shell = Some("/usr/sbin/nologin".into());
        s.home = Some("/var/lib/redis".into());
        s.group = Some("110".into());
        s.groups = Some(vec!["adm".into(), "redis".into()]);
        assert_eq!(usermod_changes(&s, &acct()).0, Vec::<String>::new());
        s.shell = Some("/bin/bash".into());
        s.groups = Some(vec!["disk".into()]);
        s.append = true;
        let (opts, summary) = usermod_changes(&s, &acct());
        assert_eq!(opts, ["-a -G disk", "-s /bin/bash"]);
        assert_eq!(summary.len(), 2);
        s.append = false;
        s.groups = Some(vec![]);
        assert_eq!(usermod_changes(&s, &acct()).0, ["-G ''", "-s /bin/bash"]);
    }

    #[test]
    fn useradd_line() {
        let mut s = spec();
        s.comment = Some("Redis Server".into());
        s.groups = Some(vec!["adm".into()]);
        assert_eq!(
            useradd_command(&s),
            "useradd -r -G adm -M -c 'Redis Server' -- redis"
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "redis", "system": "yes", "createhome": false})).is_ok());
        assert!(build(json!({"name": "-o"})).is_err());
        assert!(build(json!({"name": "x", "comment": "a:b"})).is_err());
        assert!(build(json!({"name": "x", "password": "h"})).is_err());
    }
}
