//! `git` (ansible.builtin.git): clone a repository and keep a checkout at a version.
//!
//! ```yaml
//! git: { repo: https://example.org/app.git, dest: /srv/app, version: v1.2 }
//! ```
//!
//! [`GitFact`] reads the checkout (is there a repository, its `HEAD`, local modifications, the
//! remote's URL, submodules) and asks the remote with `git ls-remote` which commit `version`
//! names there (a branch, a tag, or else a commit), without fetching: check mode knows the
//! commit the real run will end at. [`plan_git`] decides; [`GitOp`] clones or updates with
//! Ansible's commands (`git clone`, `git fetch`, `git checkout`, `git reset --hard`).
//!
//! Results as Ansible's: `before`, `after` (commit SHAs), `remote_url_changed`, `warnings`.
//! Refused by name (not done): `archive`, `archive_prefix`, `separate_git_dir`,
//! `verify_commit`, `gpg_allowlist`, `track_submodules: yes`.

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Outcome,
    Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{de_bool, de_opt_int, de_opt_string, yes};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("git", build);

/// The `git` module's arguments (Ansible's names and defaults).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitArgs {
    /// The repository's URL or path.
    #[serde(alias = "name")]
    pub repo: String,
    /// Where to check it out.
    #[serde(default)]
    pub dest: Option<String>,
    /// A branch, a tag, a commit, or `HEAD` (the default).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub version: Option<String>,
    /// The remote's name (`origin`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub remote: Option<String>,
    /// An extra refspec to fetch.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub refspec: Option<String>,
    /// A reference repository (`git clone --reference`).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub reference: Option<String>,
    /// Discard local modifications of tracked files.
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
    /// A shallow clone of this many commits.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub depth: Option<u32>,
    /// Clone when there is no repository (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub clone: bool,
    /// Fetch and move to `version` when there is one (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub update: bool,
    /// Verify the commit's GPG signature (refused when set).
    #[serde(default, deserialize_with = "de_bool")]
    pub verify_commit: bool,
    /// Allowed GPG fingerprints (refused: goes with `verify_commit`).
    #[serde(default, alias = "gpg_whitelist")]
    pub gpg_allowlist: Option<Value>,
    /// Add `StrictHostKeyChecking=no` to ssh's options.
    #[serde(default, deserialize_with = "de_bool")]
    pub accept_hostkey: bool,
    /// Add `StrictHostKeyChecking=accept-new` to ssh's options.
    #[serde(default, deserialize_with = "de_bool")]
    pub accept_newhostkey: bool,
    /// ssh's private key.
    #[serde(default)]
    pub key_file: Option<String>,
    /// More ssh options.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub ssh_opts: Option<String>,
    /// The git program.
    #[serde(default)]
    pub executable: Option<String>,
    /// A bare repository.
    #[serde(default, deserialize_with = "de_bool")]
    pub bare: bool,
    /// Update submodules (default yes).
    #[serde(default = "yes", deserialize_with = "de_bool")]
    pub recursive: bool,
    /// Clone only the wanted branch.
    #[serde(default, deserialize_with = "de_bool")]
    pub single_branch: bool,
    /// Move submodules to their remote branch's latest commit (refused when set).
    #[serde(default, deserialize_with = "de_bool")]
    pub track_submodules: bool,
    /// The umask of the git commands, a quoted octal string.
    #[serde(default)]
    pub umask: Option<Value>,
    /// Write an archive of the checkout (refused).
    #[serde(default)]
    pub archive: Option<String>,
    /// The archive's prefix (refused).
    #[serde(default)]
    pub archive_prefix: Option<String>,
    /// Keep the repository apart from the work tree (refused).
    #[serde(default)]
    pub separate_git_dir: Option<String>,
}

/// What the host should have, with Ansible's defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Git {
    /// The git program.
    pub git: String,
    /// The repository as git is given it (`file://` prepended to an absolute path).
    pub repo: String,
    /// The checkout.
    pub dest: Option<String>,
    /// The wanted version.
    pub version: String,
    /// The remote's name.
    pub remote: String,
    /// See [`GitArgs`].
    pub refspec: Option<String>,
    /// See [`GitArgs`].
    pub reference: Option<String>,
    /// See [`GitArgs`].
    pub force: bool,
    /// See [`GitArgs`].
    pub depth: Option<u32>,
    /// See [`GitArgs`].
    pub clone: bool,
    /// See [`GitArgs`].
    pub update: bool,
    /// See [`GitArgs`].
    pub bare: bool,
    /// See [`GitArgs`].
    pub recursive: bool,
    /// See [`GitArgs`].
    pub single_branch: bool,
    /// The umask (octal digits), if any.
    pub umask: Option<String>,
    /// `GIT_SSH_COMMAND`, when ssh options were given.
    pub ssh_command: Option<String>,
}

/// What `version` names on the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `HEAD` (the checkout's branch, or the remote's default one when cloning).
    Head,
    /// A branch.
    Branch,
    /// A tag.
    Tag,
    /// Neither: a commit.
    Sha,
}

/// The checkout and the remote as the probe found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// `dest` holds a repository.
    pub repo: bool,
    /// Its `HEAD` commit.
    pub head: Option<String>,
    /// Tracked files modified.
    pub mods: bool,
    /// The remote's URL.
    pub url: Option<String>,
    /// Submodules missing or not at the recorded commit.
    pub submodules: bool,
    /// What `version` names.
    pub kind: Kind,
    /// The commit `version` names (empty for an unknown commit).
    pub remote: String,
    /// The commit of the remote's branch that `HEAD` follows (for `HEAD` and bare clones).
    pub head_remote: String,
}

/// Reads the checkout and asks the remote (`git ls-remote`): one round trip.
pub struct GitFact<'a>(pub &'a Git);

impl Fact for GitFact<'_> {
    type Output = GitState;

    fn name(&self) -> String {
        format!("git {}", self.0.dest.as_deref().unwrap_or(&self.0.repo))
    }

    fn script(&self) -> Script {
        let w = self.0;
        sh!(
            "G={} REPO={} DEST={} V={} R={} BARE={} UPDATE={} RECURSIVE={}\n",
            w.git.as_str(),
            w.repo.as_str(),
            w.dest.as_deref().unwrap_or(""),
            w.version.as_str(),
            w.remote.as_str(),
            u8::from(w.bare),
            u8::from(w.update),
            u8::from(w.recursive)
        )
        .then(&ssh_env(w))
        .then(&Script::text(include_str!("git/probe.sh")))
    }

    fn parse(&self, out: &CommandOutput) -> Result<GitState, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        parse_state(&out.stdout_text()).map_err(|e| self.error(e))
    }
}

/// Parses the probe's `key=value` lines.
pub fn parse_state(text: &str) -> Result<GitState, String> {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_owned)
    };
    if get("nogit").is_some() {
        return Err("Failed to find required executable \"git\"".into());
    }
    let kind = match get("kind").as_deref() {
        Some("head") => Kind::Head,
        Some("branch") => Kind::Branch,
        Some("tag") => Kind::Tag,
        Some("sha") => Kind::Sha,
        other => return Err(format!("unexpected probe answer (kind {other:?}): {text}")),
    };
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let mods = get("mods").map(|n| n.trim() != "0").unwrap_or(false);
    Ok(GitState {
        repo: get("repo").as_deref() == Some("1"),
        head: nonempty(get("head")),
        mods,
        url: nonempty(get("url")),
        submodules: get("submodules").as_deref() == Some("1"),
        kind,
        remote: get("remote").unwrap_or_default(),
        head_remote: get("head_remote").unwrap_or_default(),
    })
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do: `dest` is at the wanted commit (or `update: no`).
    Unchanged {
        /// `HEAD` (`None` when there is no checkout: `clone: no`).
        before: Option<String>,
        /// The same, or the remote's commit when nothing is checked out.
        after: String,
    },
    /// No checkout and `clone: no`: Ansible reports the remote's commit as a change it does
    /// not make.
    Report {
        /// The remote's commit.
        after: String,
    },
    /// A change to make.
    Change(GitOp),
}

/// The change a checkout can need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitOp {
    /// `git clone` then check out `version`.
    Clone {
        /// The commit it will be at.
        after: String,
    },
    /// Fetch and move to `version`.
    Update {
        /// The current commit.
        before: String,
        /// The commit it will be at.
        after: String,
        /// Discard local modifications first (`force: yes`).
        reset: bool,
        /// The remote's URL is not `repo`: set it.
        set_url: bool,
    },
}

/// The planner: from the wanted checkout and the probe's answer to a decision, or Ansible's
/// failure message.
pub fn plan_git(want: &Git, st: &GitState) -> Result<Decision, String> {
    let target = target(want, st);
    if want.dest.is_none() || !st.repo {
        if want.dest.is_none() || !want.clone {
            return Ok(Decision::Report { after: target });
        }
        return Ok(Decision::Change(GitOp::Clone { after: target }));
    }
    let before = st.head.clone().unwrap_or_default();
    if !want.update {
        return Ok(Decision::Unchanged {
            before: Some(before.clone()),
            after: before,
        });
    }
    if st.mods && !want.force {
        return Err(format!(
            "Local modifications exist in the destination: {} (force=no).",
            want.dest.as_deref().unwrap_or_default()
        ));
    }
    let set_url = st.url.as_deref().is_some_and(|u| !same_url(u, &want.repo));
    if before == target && !st.mods && !set_url && !st.submodules {
        return Ok(Decision::Unchanged {
            before: Some(before.clone()),
            after: before,
        });
    }
    Ok(Decision::Change(GitOp::Update {
        before,
        after: target,
        reset: st.mods,
        set_url,
    }))
}

/// The commit the checkout will be at: `version`'s, except in a bare repository, whose `HEAD`
/// follows the remote's default branch unless a shallow or single-branch clone names the
/// branch or tag (`git clone --branch`).
fn target(want: &Git, st: &GitState) -> String {
    let named = matches!(st.kind, Kind::Branch | Kind::Tag);
    let cloning = !st.repo;
    let branch_clone = cloning && named && (want.depth.is_some() || want.single_branch);
    if st.kind == Kind::Head || (want.bare && !branch_clone) {
        st.head_remote.clone()
    } else if st.remote.is_empty() {
        want.version.clone()
    } else {
        st.remote.clone()
    }
}

/// Ansible's `unfrackgitpath` comparison: both URLs as `os.path.normpath` leaves them (`.`,
/// `..`, repeated and trailing slashes folded); its `realpath` cannot resolve links in a URL
/// (`file:` is no directory), and prefixes both with the same working directory.
fn same_url(a: &str, b: &str) -> bool {
    a == b || normpath(a) == normpath(b)
}

/// `os.path.normpath`: `.`, `..`, repeated and trailing slashes folded.
fn normpath(u: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in u.split('/') {
        match p {
            "" | "." => {}
            ".." if u.starts_with('/') && parts.is_empty() => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let root = if u.starts_with('/') { "/" } else { "" };
    format!("{root}{}", parts.join("/"))
}

impl GitOp {
    /// The commands that make the change (Ansible's, in its order); prints `after=SHA`.
    pub fn script(&self, w: &Git, kind: Kind) -> Script {
        let (op, reset, set_url) = match self {
            GitOp::Clone { .. } => ("clone", false, false),
            GitOp::Update { reset, set_url, .. } => ("update", *reset, *set_url),
        };
        let kind = match kind {
            Kind::Head => "head",
            Kind::Branch => "branch",
            Kind::Tag => "tag",
            Kind::Sha => "sha",
        };
        let header = sh!(
            "G={} REPO={} DEST={} V={} R={} OP={} BARE={} FORCE={} RESET={} SETURL={} KIND={}\n",
            w.git.as_str(),
            w.repo.as_str(),
            w.dest.as_deref().unwrap_or(""),
            w.version.as_str(),
            w.remote.as_str(),
            op,
            u8::from(w.bare),
            u8::from(w.force),
            u8::from(reset),
            u8::from(set_url),
            kind
        );
        let more = sh!(
            "DEPTH={} REFSPEC={} REFERENCE={} SINGLE={} RECURSIVE={} TRACK=0\n",
            w.depth.map(|d| d.to_string()).unwrap_or_default(),
            w.refspec.as_deref().unwrap_or(""),
            w.reference.as_deref().unwrap_or(""),
            u8::from(w.single_branch),
            u8::from(w.recursive)
        );
        let mut s = header.then(&more).then(&ssh_env(w));
        if let Some(u) = &w.umask {
            s = s.then(&sh!("umask {}", u.as_str()));
        }
        s.then(&Script::text(include_str!("git/apply.sh")))
    }

    /// One line for people.
    pub fn summary(&self, w: &Git) -> String {
        let dest = w.dest.as_deref().unwrap_or_default();
        match self {
            GitOp::Clone { after } => format!("clone {} to {dest} at {after}", w.repo),
            GitOp::Update {
                before,
                after,
                reset,
                ..
            } => {
                let r = if *reset { " (local modifications reset)" } else { "" };
                format!("update {dest}: {before} -> {after}{r}")
            }
        }
    }

    /// Ansible's `prepared` text of the change, as a before/after of the commit.
    pub fn diff(&self, w: &Git) -> Diff {
        let label = format!("git {}", w.dest.as_deref().unwrap_or_default());
        match self {
            GitOp::Clone { after } => {
                Diff::new(label, "", format!(">> Newly checked out {after}\n"))
            }
            GitOp::Update { before, after, .. } => {
                Diff::new(label, format!("{before}\n"), format!("{after}\n"))
            }
        }
    }
}

/// `export GIT_SSH_COMMAND=...` (Ansible always sets it: `ssh -o BatchMode=yes` at least).
fn ssh_env(w: &Git) -> Script {
    match &w.ssh_command {
        Some(c) => sh!("export GIT_SSH_COMMAND={}", c.as_str()),
        None => Script::default(),
    }
}

/// Ansible's `GIT_SSH_COMMAND`: `ssh` + options (`set_git_ssh_env`).
pub fn ssh_command(
    ssh_opts: Option<&str>,
    accept_hostkey: bool,
    accept_newhostkey: bool,
    key_file: Option<&str>,
) -> String {
    let mut opts = ssh_opts.map(str::to_owned);
    let strict = |o: &str| {
        !o.contains("-o StrictHostKeyChecking=no")
            && !o.contains("-o StrictHostKeyChecking=accept-new")
    };
    for (on, value) in [(accept_hostkey, "no"), (accept_newhostkey, "accept-new")] {
        if on {
            opts = Some(match opts {
                Some(o) if strict(&o) => format!("{o} -o StrictHostKeyChecking={value}"),
                Some(o) => o,
                None => format!("-o StrictHostKeyChecking={value}"),
            });
        }
    }
    let mut o = match opts {
        Some(o) => format!(" {o}"),
        None => String::new(),
    };
    if accept_hostkey && !o.contains("StrictHostKeyChecking=no") {
        o.push_str(" -o StrictHostKeyChecking=no");
    }
    if !o.contains("BatchMode=yes") {
        o.push_str(" -o BatchMode=yes");
    }
    if let Some(k) = key_file {
        let key = format!("-i {k}");
        if !o.contains(&key) {
            o.push_str(&format!("  {key}"));
        }
        if !o.contains("IdentitiesOnly=yes") {
            o.push_str(" -o IdentitiesOnly=yes");
        }
    }
    format!("ssh{o}")
}

/// Runs the planned clone or update; `after` is the commit it ended at.
struct GitAction {
    script: Script,
    after: String,
    result: Map<String, Value>,
}

#[async_trait]
impl Action for GitAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run(&self.script).await?;
        let text = out.stdout_text();
        let got = text
            .lines()
            .find_map(|l| l.strip_prefix("after="))
            .unwrap_or_default();
        let mut r = self.result.clone();
        if !out.success() {
            r.insert("rc".into(), json!(out.status));
            r.insert("stdout".into(), json!(text));
            r.insert("stderr".into(), json!(out.stderr_text()));
            let msg = format!("git failed: {}", out.stderr_text().trim());
            return Err(ModuleError::failed_with(msg, r));
        }
        if got.is_empty() {
            let msg = format!("git printed no commit: {}", text.trim());
            return Err(ModuleError::failed_with(msg, r));
        }
        // A short SHA resolves to the full one; a remote that moved since planning gives
        // another commit: reported as Ansible reports what it checked out.
        if got != self.after {
            let mut result = Map::new();
            result.insert("after".into(), json!(got));
            return Ok(Outcome { result });
        }
        Ok(Outcome::default())
    }
}

#[async_trait]
impl Module for Git {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let st = ctx.fact(&GitFact(self)).await?;
        let decision = plan_git(self, &st).map_err(|msg| {
            let mut r = Map::new();
            r.insert("before".into(), json!(st.head));
            ModuleError::failed_with(msg, r)
        })?;
        let mut plan = Plan::unchanged();
        let warnings = warnings(self, &st);
        if !warnings.is_empty() {
            plan = plan.with_result("warnings", json!(warnings));
        }
        let op = match decision {
            Decision::Unchanged { before, after } => {
                let plan = plan
                    .with_result("before", json!(before))
                    .with_result("after", json!(after));
                // Ansible compares the URL only when it updates.
                if !self.update {
                    return Ok(plan);
                }
                return Ok(plan.with_result("remote_url_changed", json!(false)));
            }
            Decision::Report { after } => {
                let plan = plan
                    .with_result("before", Value::Null)
                    .with_result("after", json!(after));
                let summary = format!("{} is at {after} (clone: no)", self.repo);
                return Ok(plan.with_change(vec![summary], vec![], NoOp));
            }
            Decision::Change(op) => op,
        };
        let (before, after, url) = match &op {
            GitOp::Clone { after } => (None, after.clone(), None),
            GitOp::Update {
                before,
                after,
                set_url,
                ..
            } => (Some(before.clone()), after.clone(), Some(*set_url)),
        };
        let mut plan = plan
            .with_result("before", json!(before))
            .with_result("after", json!(after));
        if let Some(u) = url {
            plan = plan.with_result("remote_url_changed", json!(u));
        }
        let action = GitAction {
            script: op.script(self, st.kind),
            after,
            result: plan.result().clone(),
        };
        Ok(plan.with_change(vec![op.summary(self)], vec![op.diff(self)], action))
    }
}

/// Ansible's warning for a shallow clone it cannot make.
fn warnings(w: &Git, st: &GitState) -> Vec<&'static str> {
    let cloning = !st.repo && w.clone && w.dest.is_some();
    let fetchable = w.version == "HEAD" || w.refspec.is_some() || matches!(st.kind, Kind::Branch | Kind::Tag);
    if cloning && w.depth.is_some() && !fetchable {
        vec!["Ignoring depth argument. Shallow clones are only available for HEAD, branches, tags or in combination with refspec."]
    } else {
        Vec::new()
    }
}

/// The action of a change Ansible reports without making it.
struct NoOp;

#[async_trait]
impl Action for NoOp {
    async fn apply(self: Box<Self>, _ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        Ok(Outcome::default())
    }
}

fn refuse(field: &str, why: &str) -> ModuleError {
    ModuleError::arg(field, format!("not supported by prov: {why}"))
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: GitArgs = parse_args(args)?;
    if a.archive.is_some() || a.archive_prefix.is_some() {
        let f = if a.archive.is_some() { "archive" } else { "archive_prefix" };
        return Err(refuse(f, "writing an archive of the checkout is not implemented"));
    }
    if a.separate_git_dir.is_some() {
        return Err(refuse("separate_git_dir", "not implemented"));
    }
    if a.verify_commit {
        return Err(refuse("verify_commit", "GPG verification is not implemented"));
    }
    if a.gpg_allowlist.as_ref().is_some_and(|v| !v.is_null() && v != &json!([])) {
        return Err(refuse("gpg_allowlist", "GPG verification is not implemented"));
    }
    if a.track_submodules {
        return Err(refuse(
            "track_submodules",
            "check mode cannot predict the submodules' remote branches",
        ));
    }
    if a.accept_hostkey && a.accept_newhostkey {
        return Err(ModuleError::args(
            "parameters are mutually exclusive: accept_hostkey|accept_newhostkey",
        ));
    }
    if a.dest.is_none() && a.clone {
        return Err(ModuleError::arg(
            "dest",
            "the destination directory must be specified unless clone=no",
        ));
    }
    let umask = match a.umask {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().all(|c| c.is_digit(8)) => Some(s),
        Some(Value::String(_)) => return Err(ModuleError::arg("umask", "umask must be an octal integer")),
        Some(_) => {
            return Err(ModuleError::arg(
                "umask",
                "umask must be defined as a quoted octal integer",
            ));
        }
    };
    let ssh = Some(ssh_command(
        a.ssh_opts.as_deref(),
        a.accept_hostkey,
        a.accept_newhostkey,
        a.key_file.as_deref(),
    ));
    let repo = if a.repo.starts_with('/') {
        format!("file://{}", a.repo)
    } else {
        a.repo
    };
    let dest = a.dest.map(|d| normpath(&d));
    Ok(Box::new(Git {
        git: a.executable.unwrap_or_else(|| "git".into()),
        repo,
        dest,
        version: a.version.unwrap_or_else(|| "HEAD".into()),
        remote: a.remote.unwrap_or_else(|| "origin".into()),
        refspec: a.refspec,
        reference: a.reference,
        force: a.force,
        depth: a.depth.filter(|d| *d > 0),
        clone: a.clone,
        update: a.update,
        bare: a.bare,
        recursive: a.recursive,
        single_branch: a.single_branch,
        umask,
        ssh_command: ssh,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(v: &str) -> Git {
        Git {
            git: "git".into(),
            repo: "file:///srv/r.git".into(),
            dest: Some("/opt/app".into()),
            version: v.into(),
            remote: "origin".into(),
            refspec: None,
            reference: None,
            force: false,
            depth: None,
            clone: true,
            update: true,
            bare: false,
            recursive: true,
            single_branch: false,
            umask: None,
            ssh_command: None,
        }
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn at(head: Option<&str>, remote: &str) -> GitState {
        GitState {
            repo: head.is_some(),
            head: head.map(str::to_owned),
            mods: false,
            url: Some("file:///srv/r.git".into()),
            submodules: false,
            kind: Kind::Branch,
            remote: remote.into(),
            head_remote: String::new(),
        }
    }

    #[test]
    fn the_probe_answer_parses() {
        let st = parse_state(&format!(
            "repo=1\nhead={A}\nhead_branch=main\nmods=2\nurl=file:///r\nkind=tag\nremote={B}\n"
        ))
        .unwrap();
        assert_eq!(
            st,
            GitState {
                repo: true,
                head: Some(A.into()),
                mods: true,
                url: Some("file:///r".into()),
                submodules: false,
                kind: Kind::Tag,
                remote: B.into(),
                head_remote: String::new(),
            }
        );
        let st = parse_state("repo=0\nkind=sha\n").unwrap();
        assert!(!st.repo && st.remote.is_empty() && st.kind == Kind::Sha);
        assert!(parse_state("repo=0\n").is_err());
        assert!(parse_state("nogit=1\n").unwrap_err().contains("git"));
    }

    #[test]
    fn the_planner_covers_every_case() {
        let w = want("main");
        assert_eq!(
            plan_git(&w, &at(None, B)),
            Ok(Decision::Change(GitOp::Clone { after: B.into() }))
        );
        assert_eq!(
            plan_git(&w, &at(Some(B), B)),
            Ok(Decision::Unchanged {
                before: Some(B.into()),
                after: B.into()
            })
        );
        let upd = |reset, set_url| {
            Ok(Decision::Change(GitOp::Update {
                before: A.into(),
                after: B.into(),
                reset,
                set_url,
            }))
        };
        assert_eq!(plan_git(&w, &at(Some(A), B)), upd(false, false));
        // Local modifications: a failure unless force.
        let mut st = at(Some(A), B);
        st.mods = true;
        assert_eq!(
            plan_git(&w, &st),
            Err("Local modifications exist in the destination: /opt/app (force=no).".into())
        );
        let mut wf = w.clone();
        wf.force = true;
        assert_eq!(plan_git(&wf, &st), upd(true, false));
        // Another URL: changed even at the same commit.
        let mut st = at(Some(B), B);
        st.url = Some("https://x/y".into());
        assert!(matches!(
            plan_git(&w, &st),
            Ok(Decision::Change(GitOp::Update { set_url: true, .. }))
        ));
        // update: no leaves it alone; clone: no only reports.
        let mut wn = w.clone();
        wn.update = false;
        assert!(matches!(
            plan_git(&wn, &at(Some(A), B)),
            Ok(Decision::Unchanged { .. })
        ));
        let mut wc = w.clone();
        wc.clone = false;
        assert_eq!(
            plan_git(&wc, &at(None, B)),
            Ok(Decision::Report { after: B.into() })
        );
        // A commit unknown here: the version as given.
        let w = want(A);
        let mut st = at(None, "");
        st.kind = Kind::Sha;
        assert_eq!(
            plan_git(&w, &st),
            Ok(Decision::Change(GitOp::Clone { after: A.into() }))
        );
    }

    #[test]
    fn head_and_bare_follow_the_remote_head() {
        let mut st = at(None, A);
        st.head_remote = B.into();
        let mut w = want("main");
        w.bare = true;
        let clone_at = |c: &str| Ok(Decision::Change(GitOp::Clone { after: c.into() }));
        assert_eq!(plan_git(&w, &st), clone_at(B), "bare: the remote's HEAD");
        w.single_branch = true;
        assert_eq!(plan_git(&w, &st), clone_at(A), "bare --branch main");
        let mut st = at(None, "");
        st.kind = Kind::Head;
        st.head_remote = B.into();
        assert_eq!(plan_git(&want("HEAD"), &st), clone_at(B));
    }

    #[test]
    fn args_follow_ansible() {
        assert!(build(json!({"repo": "/r", "dest": "/d", "archive": "/a.zip"})).is_err());
        assert!(build(json!({"repo": "/r", "dest": "/d", "separate_git_dir": "/g"})).is_err());
        assert!(build(json!({"repo": "/r", "dest": "/d", "verify_commit": true})).is_err());
        assert!(build(json!({"repo": "/r", "dest": "/d", "track_submodules": true})).is_err());
        assert!(build(json!({"repo": "/r", "dest": "/d", "umask": 18})).is_err());
        assert!(build(json!({"repo": "/r", "dest": "/d", "umask": "0022"})).is_ok());
        assert!(build(json!({"repo": "/r", "dest": "/d", "bogus": 1})).is_err());
        assert!(build(json!({"repo": "/r"})).is_err());
        assert!(build(json!({"repo": "/r", "clone": false})).is_ok());
        assert!(build(json!({"name": "/r", "dest": "/d", "version": 1.0})).is_ok());
        let err = build(json!({"repo": "/r", "dest": "/d", "accept_hostkey": true, "accept_newhostkey": true}));
        assert!(err.is_err());
        assert_eq!(normpath("/opt//app/./x/../"), "/opt/app");
        assert!(same_url("file:///srv/r.git", "file:///srv/./x/../r.git/"));
        assert!(!same_url("file:///srv/r.git", "file:///srv/link.git"));
    }

    #[test]
    fn ssh_command_is_ansibles() {
        assert_eq!(
            ssh_command(None, true, false, Some("/k")),
            "ssh -o StrictHostKeyChecking=no -o BatchMode=yes  -i /k -o IdentitiesOnly=yes"
        );
        assert_eq!(
            ssh_command(Some("-p 2222"), false, true, None),
            "ssh -p 2222 -o StrictHostKeyChecking=accept-new -o BatchMode=yes"
        );
    }

    #[test]
    fn scripts_quote_values() {
        let w = want("it's");
        let s = GitOp::Clone { after: A.into() }.script(&w, Kind::Branch);
        assert!(s.as_str().starts_with("G=git REPO=file:///srv/r.git DEST=/opt/app V='it'\\''s'"));
        assert!(GitFact(&w).script().as_str().contains("ls-remote"));
    }
}
