//! `copy` with a directory `src`, as Ansible copies one: `src: dir/` copies the directory's
//! contents into `dest`, `src: dir` creates `dest/dir/`.
//!
//! What Ansible does (checked against ansible-core 2.19 on a lab host), and so what this does:
//! - files get `mode`/`owner`/`group` (a new file without `mode` gets the host's default);
//!   with `force: no` an existing file is left alone entirely;
//! - every directory of the source tree gets `owner`/`group` and `directory_mode`, also when
//!   it already exists; the directories above them (`dest` itself, `dest/dir` without the
//!   slash, missing ancestors of `dest`) get them only when they are created;
//! - empty directories are created; symbolic links are followed (`local_follow: yes`) unless
//!   they dangle or loop back to a directory being copied: those are copied as links (all
//!   links with `local_follow: no`), with `owner`/`group` set on the link itself.
//!
//! Planning costs one remote command for the whole tree (the destination paths travel on
//! stdin, so the command line stays small), plus one more that reads the old content of the
//! files that change, for the diffs. Each file is then installed atomically
//! ([`crate::writefile`]), big ones streamed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Diff, Fact, FactError, ModuleContext, ModuleError, Outcome, Plan,
    RunScript, Script, sh,
};
use serde_json::json;

use crate::args::Mode;
use crate::remote_file::{
    Attrs, DIFF_LIMIT, Kind, ProbeSpec, Probed, chmod_octal, parse_probe, parent_of,
};
use crate::writefile::{NewContent, WriteOptions, plan_write};

/// Total size of old content read back for diffs; beyond it, changed files get a note.
const DIFF_TOTAL_LIMIT: u64 = 8 * 1024 * 1024;

/// The local tree to copy, as Ansible's `_walk_dirs` lists it. Relative paths are `/`-joined
/// and start with the directory's own name when `src` has no trailing slash.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tree {
    /// The directory created implicitly above the entries (`dir` for `src: dir`).
    pub root: Option<String>,
    /// Regular files: local path (links resolved), relative destination.
    pub files: Vec<(PathBuf, String)>,
    /// Directories, parents first.
    pub dirs: Vec<String>,
    /// Links copied as links: target, relative destination.
    pub links: Vec<(String, String)>,
}

/// Lists the tree under `top` (`slash`: the contents only; `follow`: Ansible's `local_follow`).
pub fn walk(top: &Path, slash: bool, follow: bool) -> Result<Tree, String> {
    let mut tree = Tree::default();
    let base = if slash {
        String::new()
    } else {
        let name = top
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: a directory name that is not UTF-8", top.display()))?;
        tree.root = Some(name.to_owned());
        name.to_owned()
    };
    let meta = std::fs::metadata(top).map_err(|e| format!("{}: {e}", top.display()))?;
    walk_dir(top, &base, follow, &mut vec![dev_ino(&meta)], &mut tree)?;
    Ok(tree)
}

fn dev_ino(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (m.dev(), m.ino())
}

fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}/{name}")
    }
}

/// One directory: its entries in name order, then (depth first) its subdirectories.
fn walk_dir(
    dir: &Path,
    base: &str,
    follow: bool,
    ancestors: &mut Vec<(u64, u64)>,
    tree: &mut Tree,
) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| err(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| err(dir, e)))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.contains('\n'))
            .ok_or_else(|| format!("{}: a file name that is not UTF-8 or has a newline", path.display()))?;
        let rel = join_rel(base, name);
        let lmeta = std::fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
        if lmeta.is_symlink() {
            walk_link(&path, rel, follow, ancestors, tree)?;
        } else if lmeta.is_dir() {
            tree.dirs.push(rel.clone());
            ancestors.push(dev_ino(&lmeta));
            walk_dir(&path, &rel, follow, ancestors, tree)?;
            ancestors.pop();
        } else if lmeta.is_file() {
            tree.files.push((path, rel));
        } else {
            return Err(format!(
                "{}: not a regular file, directory or link",
                path.display()
            ));
        }
    }
    Ok(())
}

/// A symbolic link: followed to a file or a directory (unless it loops back to a directory
/// being walked), or copied as a link.
fn walk_link(
    path: &Path,
    rel: String,
    follow: bool,
    ancestors: &mut Vec<(u64, u64)>,
    tree: &mut Tree,
) -> Result<(), String> {
    let target = std::fs::read_link(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let target = target
        .to_str()
        .filter(|t| !t.contains('\n'))
        .ok_or_else(|| format!("{}: a link target that is not UTF-8", path.display()))?
        .to_owned();
    let resolved = std::fs::metadata(path).ok().filter(|_| follow);
    match resolved {
        Some(m) if m.is_file() => {
            let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
            tree.files.push((real, rel));
        }
        Some(m) if m.is_dir() && !ancestors.contains(&dev_ino(&m)) => {
            let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
            tree.dirs.push(rel.clone());
            ancestors.push(dev_ino(&m));
            walk_dir(&real, &rel, follow, ancestors, tree)?;
            ancestors.pop();
        }
        _ => tree.links.push((target, rel)),
    }
    Ok(())
}

/// What a directory copy is asked to do.
pub(crate) struct DirCopy<'a> {
    /// `src` as written (its trailing slash matters).
    pub src: &'a str,
    /// `dest` as written.
    pub dest: &'a str,
    /// Attributes of files (and owner/group of directories and links), backup, validate.
    pub opts: &'a WriteOptions,
    /// `directory_mode`.
    pub directory_mode: Option<&'a Mode>,
    /// `force`.
    pub force: bool,
    /// `local_follow`.
    pub local_follow: bool,
}

/// How a destination path is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A file: not following links, with its SHA-256.
    File,
    /// A file or link: not following links, no checksum.
    Plain,
    /// A directory: following links.
    Dir,
}

impl Probe {
    fn tag(self) -> char {
        match self {
            Probe::File => 'F',
            Probe::Plain => 'N',
            Probe::Dir => 'D',
        }
    }
}

/// The state of many paths in one remote command; the paths come on stdin, one a line, each
/// after its [`Probe`] letter. The output is [`crate::remote_file::PathsFact`]'s.
struct TreeFact {
    dest: String,
    paths: Vec<(Probe, String)>,
}

impl TreeFact {
    fn input(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for (p, path) in &self.paths {
            v.extend_from_slice(format!("{}{path}\n", p.tag()).as_bytes());
        }
        v
    }
}

impl Fact for TreeFact {
    type Output = Vec<Probed>;

    fn name(&self) -> String {
        format!("stat of the tree at {}", self.dest)
    }

    fn script(&self) -> Script {
        Script::text(include_str!("dir_probe.sh"))
    }

    fn parse(&self, out: &CommandOutput) -> Result<Vec<Probed>, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let specs: Vec<ProbeSpec> = self
            .paths
            .iter()
            .map(|(_, p)| ProbeSpec::new(p.clone()))
            .collect();
        let probed = parse_probe(&specs, &out.stdout).map_err(|e| self.error(e))?;
        if let Some(p) = probed.iter().find(|p| p.content.is_some() || p.too_big) {
            return Err(self.error(format!("unexpected content for {}", p.path)));
        }
        Ok(probed)
    }
}

/// The current content of some files (for diffs), in one remote command: paths on stdin, for
/// each `@ SIZE` then the bytes.
struct ContentsFact(Vec<String>);

impl Fact for ContentsFact {
    type Output = HashMap<String, Vec<u8>>;

    fn name(&self) -> String {
        format!("content of {}", self.0.join(", "))
    }

    fn script(&self) -> Script {
        Script::text(
            "while IFS= read -r p; do\n  z=$(stat -c %s -- \"$p\") || exit 97\n  printf '@ %s\\n' \"$z\"\n  head -c \"$z\" -- \"$p\" || exit 98\ndone\n",
        )
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let mut map = HashMap::new();
        let mut rest = &out.stdout[..];
        for path in &self.0 {
            let nl = rest.iter().position(|&b| b == b'\n');
            let head = nl.map(|i| String::from_utf8_lossy(&rest[..i]).into_owned());
            let size = head
                .as_deref()
                .and_then(|h| h.strip_prefix("@ "))
                .and_then(|z| z.parse::<usize>().ok())
                .ok_or_else(|| self.error(format!("no size line for {path}")))?;
            let start = nl.unwrap_or(0) + 1;
            let body = rest
                .get(start..start + size)
                .ok_or_else(|| self.error(format!("{path}: fewer bytes than its size")))?;
            map.insert(path.clone(), body.to_vec());
            rest = &rest[start + size..];
        }
        if !rest.is_empty() {
            return Err(self.error("more output than asked for"));
        }
        Ok(map)
    }
}

/// `dest` joined with a relative path.
fn join(dest: &str, rel: &str) -> String {
    let base = dest.trim_end_matches('/');
    if rel.is_empty() {
        if base.is_empty() { "/".into() } else { base.into() }
    } else {
        format!("{base}/{rel}")
    }
}

/// The directories above the tree's entries, top first: `dest`'s ancestors (checked, created
/// when missing), `dest`, and `dest/dir` when `src` has no slash.
fn implicit_dirs(dest: &str, tree: &Tree) -> Vec<String> {
    let top = join(dest, "");
    let mut v = Vec::new();
    let mut p = top.clone();
    loop {
        let parent = parent_of(&p);
        if parent == "/" || parent == "." || parent == p {
            break;
        }
        v.push(parent.clone());
        p = parent;
    }
    v.reverse();
    if top != "/" {
        v.push(top);
    }
    if let Some(r) = &tree.root {
        v.push(join(dest, r));
    }
    v
}

/// Every destination path, in the order they are probed: implicit directories, the tree's
/// directories, files, links.
fn targets(dest: &str, tree: &Tree, force: bool) -> Vec<(Probe, String)> {
    let mut v: Vec<(Probe, String)> = implicit_dirs(dest, tree)
        .into_iter()
        .map(|d| (Probe::Dir, d))
        .collect();
    v.extend(tree.dirs.iter().map(|d| (Probe::Dir, join(dest, d))));
    let file = if force { Probe::File } else { Probe::Plain };
    v.extend(tree.files.iter().map(|(_, r)| (file, join(dest, r))));
    v.extend(tree.links.iter().map(|(_, r)| (Probe::Plain, join(dest, r))));
    v
}

/// Plans a directory copy from the local directory `local`.
pub(crate) async fn plan_dir(
    ctx: &ModuleContext<'_>,
    local: &Path,
    args: &DirCopy<'_>,
) -> Result<Plan, ModuleError> {
    let (top, slash, follow) = (local.to_owned(), args.src.ends_with('/'), args.local_follow);
    let tree = tokio::task::spawn_blocking(move || walk(&top, slash, follow))
        .await
        .map_err(|e| ModuleError::LocalFile(format!("walking {}: {e}", local.display())))?
        .map_err(ModuleError::LocalFile)?;
    let mut contents = Vec::with_capacity(tree.files.len());
    for (path, _) in &tree.files {
        contents.push(NewContent::from_local_file(path.clone()).await?);
    }
    let fact = TreeFact {
        dest: args.dest.to_owned(),
        paths: targets(args.dest, &tree, args.force),
    };
    let out = ctx.run_with_input(&fact.script(), &fact.input()).await?;
    let probed = fact.parse(&out)?;
    let wanted = old_contents_wanted(&tree, &contents, &probed, args.force);
    let before = if wanted.is_empty() {
        HashMap::new()
    } else {
        let fact = ContentsFact(wanted);
        let input: String = fact.0.iter().map(|p| format!("{p}\n")).collect();
        let out = ctx.run_with_input(&fact.script(), input.as_bytes()).await?;
        fact.parse(&out)?
    };
    let planned = plan_tree(args, &tree, &contents, &probed, &before, ctx.check_mode)?;
    Ok(planned.into_plan(args, local, &tree, &contents))
}

/// The files whose old content a diff shows: existing, changing, small, and replaced by
/// content that can be shown.
fn old_contents_wanted(
    tree: &Tree,
    contents: &[NewContent],
    probed: &[Probed],
    force: bool,
) -> Vec<String> {
    if !force {
        return Vec::new();
    }
    let first_file = probed.len() - tree.files.len() - tree.links.len();
    let mut total = 0;
    let mut v = Vec::new();
    for (new, p) in contents.iter().zip(&probed[first_file..]) {
        let Some(info) = &p.info else { continue };
        let differs = info.checksum.as_deref() != Some(new.sha256.as_str());
        if info.kind == Kind::File && differs && new.bytes().is_some() && info.size <= DIFF_LIMIT
        {
            total += info.size;
            if total > DIFF_TOTAL_LIMIT {
                break;
            }
            v.push(p.path.clone());
        }
    }
    v
}

/// The planned changes of a directory copy, in the order they are made.
#[derive(Default)]
struct TreePlan {
    summary: Vec<String>,
    diffs: Vec<Diff>,
    /// Directories created and directory attributes fixed: one script.
    dirs: Script,
    /// The files' writes, one action each.
    files: Vec<Box<dyn Action>>,
    /// Links: one script.
    links: Script,
    /// True when `force: no` left an existing file alone.
    skipped: bool,
}

/// The pure planner: the tree, its new contents and the probed destination → the changes.
fn plan_tree(
    args: &DirCopy<'_>,
    tree: &Tree,
    contents: &[NewContent],
    probed: &[Probed],
    before: &HashMap<String, Vec<u8>>,
    check_mode: bool,
) -> Result<TreePlan, ModuleError> {
    let n_implicit = probed.len() - tree.dirs.len() - tree.files.len() - tree.links.len();
    let (implicit, rest) = probed.split_at(n_implicit);
    let (dirs, rest) = rest.split_at(tree.dirs.len());
    let (files, links) = rest.split_at(tree.files.len());
    let mut plan = TreePlan::default();
    let attrs = &args.opts.attrs;
    let dir_attrs = Attrs {
        mode: args.directory_mode.cloned(),
        ..attrs.clone()
    };
    let empty = tree.files.is_empty() && tree.dirs.is_empty() && tree.links.is_empty();
    for p in implicit.iter().filter(|_| !empty) {
        plan_dir_entry(&mut plan, p, &dir_attrs, false)?;
    }
    for p in dirs {
        plan_dir_entry(&mut plan, p, &dir_attrs, true)?;
    }
    for (p, new) in files.iter().zip(contents) {
        plan_file(&mut plan, p, new, before, args, check_mode)?;
    }
    let link_attrs = Attrs {
        mode: None,
        ..attrs.clone()
    };
    for (p, (target, _)) in links.iter().zip(&tree.links) {
        plan_link(&mut plan, p, target, &link_attrs)?;
    }
    Ok(plan)
}

/// A directory: created when missing (with `directory_mode`, owner and group); an existing
/// one of the source tree (`enforce`) gets them too.
fn plan_dir_entry(
    plan: &mut TreePlan,
    p: &Probed,
    attrs: &Attrs,
    enforce: bool,
) -> Result<(), ModuleError> {
    match &p.info {
        None => {
            let path = &p.path;
            plan.summary.push(format!("create directory {path}"));
            plan.diffs.push(Diff::new(
                path.clone(),
                "state: absent\n",
                "state: directory\n",
            ));
            let mut s = sh!("mkdir -- {}", path);
            s = match (&attrs.owner, &attrs.group) {
                (Some(o), Some(g)) => s.then(&sh!("chown {}:{} -- {}", o, g, path)),
                (Some(o), None) => s.then(&sh!("chown {} -- {}", o, path)),
                (None, Some(g)) => s.then(&sh!("chgrp {} -- {}", g, path)),
                (None, None) => s,
            };
            if let Some(m) = attrs.new_mode(0o755, true)? {
                s = s.then(&sh!("chmod {} -- {}", chmod_octal(m), path));
            }
            plan.dirs = std::mem::take(&mut plan.dirs).then(&s);
        }
        Some(info) if info.kind != Kind::Dir => {
            return Err(ModuleError::failed(format!(
                "{} exists and is a {}, not a directory",
                p.path,
                info.kind.state_name()
            )));
        }
        Some(info) if enforce => {
            let ch = attrs.diff_against(info)?;
            plan.summary.extend(ch.summary(&p.path));
            plan.dirs = std::mem::take(&mut plan.dirs).then(&ch.script(&p.path, false));
        }
        Some(_) => {}
    }
    Ok(())
}

/// A file: [`plan_write`] on its probe (its directory exists by then; a link in its place is
/// replaced by the file, as Ansible does when copying a tree).
fn plan_file(
    plan: &mut TreePlan,
    p: &Probed,
    new: &NewContent,
    before: &HashMap<String, Vec<u8>>,
    args: &DirCopy<'_>,
    check_mode: bool,
) -> Result<(), ModuleError> {
    if p.exists() && !args.force {
        plan.skipped = true;
        return Ok(());
    }
    let mut p = p.clone();
    p.parent_dir = true;
    if p.info.as_ref().is_some_and(|i| i.kind == Kind::Link) {
        p.info = None;
    }
    let opts = WriteOptions {
        create_parent: true,
        ..args.opts.clone()
    };
    let old = before.get(&p.path).map(Vec::as_slice);
    let (report, action) = plan_write(&p.path, &p, new, old, &opts, check_mode)?.split();
    plan.summary.extend(report.summary);
    plan.diffs.extend(report.diffs);
    plan.files.extend(action);
    Ok(())
}

/// A link copied as a link: created (replacing a file or another link) unless it already
/// points at `target`; owner and group are those of the link itself.
fn plan_link(
    plan: &mut TreePlan,
    p: &Probed,
    target: &str,
    attrs: &Attrs,
) -> Result<(), ModuleError> {
    let path = &p.path;
    let same = match &p.info {
        Some(i) if i.kind == Kind::Dir => {
            return Err(ModuleError::failed(format!(
                "{path} exists and is a directory, not a link to {target}"
            )));
        }
        Some(i) if i.kind == Kind::Link && i.link_target.as_deref() == Some(target) => Some(i),
        _ => None,
    };
    if let Some(info) = same {
        let ch = attrs.diff_against(info)?;
        plan.summary.extend(ch.summary(path));
        plan.links = std::mem::take(&mut plan.links).then(&ch.script(path, true));
        return Ok(());
    }
    plan.summary.push(format!("link {path} -> {target}"));
    let before = match &p.info {
        Some(i) => match &i.link_target {
            Some(t) => format!("link: {t}\n"),
            None => format!("state: {}\n", i.kind.state_name()),
        },
        None => "state: absent\n".into(),
    };
    plan.diffs
        .push(Diff::new(path.clone(), before, format!("link: {target}\n")));
    let mut s = sh!("ln -sfn -- {} {}", target, path);
    s = match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => s.then(&sh!("chown -h {}:{} -- {}", o, g, path)),
        (Some(o), None) => s.then(&sh!("chown -h {} -- {}", o, path)),
        (None, Some(g)) => s.then(&sh!("chgrp -h {} -- {}", g, path)),
        (None, None) => s,
    };
    plan.links = std::mem::take(&mut plan.links).then(&s);
    Ok(())
}

impl TreePlan {
    /// The plan with Ansible's result fields: those of the file when the tree holds exactly
    /// one file that was considered, `dest` (with its slash) and `src` otherwise.
    fn into_plan(
        self,
        args: &DirCopy<'_>,
        local: &Path,
        tree: &Tree,
        contents: &[NewContent],
    ) -> Plan {
        let mut result = serde_json::Map::new();
        match (&tree.files[..], contents) {
            ([(_, rel)], [new]) if !self.skipped => {
                result.insert("dest".into(), json!(join(args.dest, rel)));
                result.insert("checksum".into(), json!(new.sha1));
                result.insert("size".into(), json!(new.size));
            }
            _ => {
                let dest = match args.dest.ends_with('/') {
                    true => args.dest.to_owned(),
                    false => format!("{}/", args.dest),
                };
                result.insert("dest".into(), json!(dest));
                let src = local.display().to_string();
                let src = match (args.src.ends_with('/'), src.ends_with('/')) {
                    (true, false) => format!("{src}/"),
                    (false, true) => src.trim_end_matches('/').to_owned(),
                    _ => src,
                };
                result.insert("src".into(), json!(src));
            }
        }
        let steps = Steps {
            dirs: self.dirs,
            files: self.files,
            links: self.links,
        };
        let mut plan = Plan::changes(self.summary, self.diffs, steps);
        *plan.result_mut() = result;
        plan
    }
}

/// The action: directories first, then each file, then the links.
struct Steps {
    dirs: Script,
    files: Vec<Box<dyn Action>>,
    links: Script,
}

#[async_trait]
impl Action for Steps {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let Steps { dirs, files, links } = *self;
        if !dirs.is_empty() {
            Box::new(RunScript(Script::text("set -e\n").then(&dirs)))
                .apply(ctx)
                .await?;
        }
        for f in files {
            f.apply(ctx).await?;
        }
        if !links.is_empty() {
            Box::new(RunScript(Script::text("set -e\n").then(&links)))
                .apply(ctx)
                .await?;
        }
        Ok(Outcome::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_file::FileInfo;
    use std::os::unix::fs::symlink;

    /// src/{a, sub/{b, deep/}, empty/, la -> a, ld -> sub, up -> ., dangling -> nowhere}
    fn sample() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let s = t.path().join("src");
        std::fs::create_dir_all(s.join("sub/deep")).unwrap();
        std::fs::create_dir_all(s.join("empty")).unwrap();
        std::fs::write(s.join("a"), "a\n").unwrap();
        std::fs::write(s.join("sub/b"), "b\n").unwrap();
        symlink("a", s.join("la")).unwrap();
        symlink("sub", s.join("ld")).unwrap();
        symlink(".", s.join("up")).unwrap();
        symlink("nowhere", s.join("dangling")).unwrap();
        t
    }

    fn rels(v: &[(PathBuf, String)]) -> Vec<&str> {
        v.iter().map(|(_, r)| r.as_str()).collect()
    }

    #[test]
    fn the_walk_lists_what_ansible_copies() {
        let t = sample();
        let src = t.path().join("src");
        let tree = walk(&src, true, true).unwrap();
        assert_eq!(tree.root, None);
        assert_eq!(rels(&tree.files), ["a", "la", "ld/b", "sub/b"]);
        assert!(tree.files[1].0.ends_with("src/a"), "a link to a file is followed");
        assert_eq!(tree.dirs, ["empty", "ld", "ld/deep", "sub", "sub/deep"]);
        assert_eq!(
            tree.links,
            [
                ("nowhere".to_owned(), "dangling".to_owned()),
                (".".to_owned(), "up".to_owned())
            ],
            "dangling and looping links stay links"
        );
        let tree = walk(&src, false, false).unwrap();
        assert_eq!(tree.root.as_deref(), Some("src"));
        assert_eq!(rels(&tree.files), ["src/a", "src/sub/b"]);
        assert_eq!(tree.dirs, ["src/empty", "src/sub", "src/sub/deep"]);
        let links: Vec<&str> = tree.links.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(links, ["src/dangling", "src/la", "src/ld", "src/up"]);
        assert!(walk(&t.path().join("none"), true, true).is_err());
    }

    #[test]
    fn implicit_directories_and_targets() {
        let tree = Tree {
            root: Some("src".into()),
            files: vec![(PathBuf::from("/l/src/a"), "src/a".into())],
            dirs: vec!["src/d".into()],
            links: vec![("t".into(), "src/l".into())],
        };
        assert_eq!(implicit_dirs("/x/y/", &tree), ["/x", "/x/y", "/x/y/src"]);
        assert_eq!(implicit_dirs("/", &Tree::default()), Vec::<String>::new());
        assert_eq!(implicit_dirs("rel", &Tree::default()), ["rel"]);
        let t = targets("/x/y", &tree, true);
        assert_eq!(
            t,
            [
                (Probe::Dir, "/x".into()),
                (Probe::Dir, "/x/y".into()),
                (Probe::Dir, "/x/y/src".into()),
                (Probe::Dir, "/x/y/src/d".into()),
                (Probe::File, "/x/y/src/a".into()),
                (Probe::Plain, "/x/y/src/l".into()),
            ]
        );
        assert_eq!(targets("/x/y", &tree, false)[4].0, Probe::Plain);
    }

    fn info(kind: Kind, mode: u32, owner: &str) -> FileInfo {
        FileInfo {
            kind,
            raw_mode: mode,
            mode,
            uid: 0,
            gid: 0,
            owner: owner.into(),
            group: "root".into(),
            size: 2,
            mtime: 0,
            atime: 0,
            ctime: 0,
            inode: 1,
            dev: 1,
            nlink: 1,
            link_target: None,
            checksum: None,
        }
    }

    fn probed(path: &str, info: Option<FileInfo>) -> Probed {
        Probed {
            path: path.into(),
            info,
            ..Probed::default()
        }
    }

    fn tree() -> Tree {
        Tree {
            root: None,
            files: vec![
                (PathBuf::from("/l/a"), "a".into()),
                (PathBuf::from("/l/d/b"), "d/b".into()),
            ],
            dirs: vec!["d".into()],
            links: vec![("a".into(), "l".into())],
        }
    }

    fn args<'a>(opts: &'a WriteOptions, dm: Option<&'a Mode>, force: bool) -> DirCopy<'a> {
        DirCopy {
            src: "src/",
            dest: "/x",
            opts,
            directory_mode: dm,
            force,
            local_follow: true,
        }
    }

    #[test]
    fn a_new_tree_is_created_and_an_equal_one_is_unchanged() {
        let contents = [
            NewContent::from_bytes(b"a\n".to_vec()),
            NewContent::from_bytes(b"b\n".to_vec()),
        ];
        let opts = WriteOptions {
            attrs: Attrs {
                owner: Some("daemon".into()),
                ..Attrs::default()
            },
            ..WriteOptions::default()
        };
        let dm = Mode::Octal(0o750);
        let a = args(&opts, Some(&dm), true);
        let absent: Vec<Probed> = ["/x", "/x/d", "/x/a", "/x/d/b", "/x/l"]
            .iter()
            .map(|p| probed(p, None))
            .collect();
        let p = plan_tree(&a, &tree(), &contents, &absent, &HashMap::new(), true).unwrap();
        assert_eq!(
            p.summary,
            [
                "create directory /x",
                "create directory /x/d",
                "create /x/a (2 bytes)",
                "create /x/d/b (2 bytes)",
                "link /x/l -> a"
            ]
        );
        assert_eq!(
            p.dirs.as_str(),
            "mkdir -- /x\nchown daemon -- /x\nchmod 00750 -- /x\nmkdir -- /x/d\nchown daemon -- /x/d\nchmod 00750 -- /x/d"
        );
        assert_eq!(p.links.as_str(), "ln -sfn -- a /x/l\nchown -h daemon -- /x/l");
        assert_eq!(p.files.len(), 2);

        let file = |sum: &str| {
            let mut i = info(Kind::File, 0o644, "daemon");
            i.checksum = Some(sum.into());
            Some(i)
        };
        let mut link = info(Kind::Link, 0o777, "daemon");
        link.link_target = Some("a".into());
        let same = vec![
            probed("/x", Some(info(Kind::Dir, 0o700, "root"))),
            probed("/x/d", Some(info(Kind::Dir, 0o750, "daemon"))),
            probed("/x/a", file(&contents[0].sha256)),
            probed("/x/d/b", file(&contents[1].sha256)),
            probed("/x/l", Some(link)),
        ];
        let p = plan_tree(&a, &tree(), &contents, &same, &HashMap::new(), false).unwrap();
        assert!(p.summary.is_empty(), "{:?}", p.summary);
        assert!(p.files.is_empty() && p.dirs.is_empty() && p.links.is_empty());

        // The tree's directories get directory_mode and owner, `dest` itself does not; an
        // old file is shown in the diff.
        let mut changed = same.clone();
        changed[1].info = Some(info(Kind::Dir, 0o700, "root"));
        changed[3].info = file("old");
        let before = HashMap::from([("/x/d/b".to_owned(), b"old\n".to_vec())]);
        let p = plan_tree(&a, &tree(), &contents, &changed, &before, true).unwrap();
        assert_eq!(
            p.summary,
            [
                "mode of /x/d: 0700 -> 0750",
                "owner of /x/d: root -> daemon",
                "update /x/d/b (+1 -1 lines)"
            ]
        );
        assert_eq!(p.diffs[0].before, "old\n");
        // force: no leaves an existing file alone.
        let a = args(&opts, Some(&dm), false);
        let p = plan_tree(&a, &tree(), &contents, &changed, &before, true).unwrap();
        assert!(p.skipped);
        assert_eq!(p.files.len(), 0);
    }

    #[test]
    fn what_is_in_the_way_fails() {
        let contents = [
            NewContent::from_bytes(b"a\n".to_vec()),
            NewContent::from_bytes(b"b\n".to_vec()),
        ];
        let opts = WriteOptions::default();
        let a = args(&opts, None, true);
        let base = |d: Option<FileInfo>, l: Option<FileInfo>| {
            vec![
                probed("/x", Some(info(Kind::Dir, 0o755, "root"))),
                probed("/x/d", d),
                probed("/x/a", None),
                probed("/x/d/b", None),
                probed("/x/l", l),
            ]
        };
        let e = plan_tree(&a, &tree(), &contents, &base(Some(info(Kind::File, 0o644, "root")), None), &HashMap::new(), true);
        assert!(e.err().unwrap().to_string().contains("/x/d exists and is a file"));
        let e = plan_tree(&a, &tree(), &contents, &base(None, Some(info(Kind::Dir, 0o755, "root"))), &HashMap::new(), true);
        assert!(e.err().unwrap().to_string().contains("is a directory"));
        // A file where the link goes is replaced.
        let p = plan_tree(&a, &tree(), &contents, &base(None, Some(info(Kind::File, 0o644, "root"))), &HashMap::new(), true).unwrap();
        assert_eq!(p.summary.last().unwrap(), "link /x/l -> a");
    }

    fn run_sh(script: &Script, input: &[u8]) -> CommandOutput {
        use std::io::Write as _;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script.as_str())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        CommandOutput {
            status: out.status.code().unwrap(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    /// The probes, run in a real shell on a temporary tree.
    #[test]
    fn the_probes_in_a_shell() {
        let t = sample();
        let d = t.path().join("src").display().to_string();
        let fact = TreeFact {
            dest: d.clone(),
            paths: vec![
                (Probe::Dir, d.clone()),
                (Probe::Dir, format!("{d}/ld")),
                (Probe::File, format!("{d}/a")),
                (Probe::Plain, format!("{d}/sub/b")),
                (Probe::File, format!("{d}/la")),
                (Probe::Plain, format!("{d}/nothing here")),
            ],
        };
        let p = fact.parse(&run_sh(&fact.script(), &fact.input())).unwrap();
        let kinds: Vec<Option<Kind>> = p.iter().map(|p| p.info.as_ref().map(|i| i.kind)).collect();
        use Kind::*;
        assert_eq!(kinds, [Some(Dir), Some(Dir), Some(File), Some(File), Some(Link), None]);
        let sum = |i: usize| p[i].info.as_ref().unwrap().checksum.clone();
        assert_eq!(sum(2), Some(crate::remote_file::sha256_hex(b"a\n")));
        assert_eq!(sum(3), None, "no checksum asked");
        assert_eq!(p[4].info.as_ref().unwrap().link_target.as_deref(), Some("a"));
        assert!(fact.parse(&run_sh(&Script::text("echo @; echo Q"), b"")).is_err());

        let fact = ContentsFact(vec![format!("{d}/a"), format!("{d}/sub/b")]);
        let input = format!("{d}/a\n{d}/sub/b\n");
        let got = fact.parse(&run_sh(&fact.script(), input.as_bytes())).unwrap();
        assert_eq!(got[&format!("{d}/sub/b")], b"b\n");
        let bad = CommandOutput {
            status: 0,
            stdout: b"@ 5\nab".to_vec(),
            stderr: Vec::new(),
        };
        assert!(fact.parse(&bad).unwrap_err().fact.starts_with("content of"));
    }
}
