//! `apt_repository`: a one-line apt source in `/etc/apt/sources.list` or
//! `/etc/apt/sources.list.d/*.list`, as Ansible's module keeps them.
//!
//! ```yaml
//! apt_repository: { repo: "deb [signed-by=/etc/apt/keyrings/x.gpg] https://x.example/apt stable main", filename: x }
//! ```
//!
//! Ansible's algorithm, step for step: every line of `sources.list` and of the `*.list` files
//! of `sources.list.d` is parsed (`# ` disables, a later `#` starts a comment, a valid line
//! starts with `deb` or `deb-src` and has its white space collapsed); `present` enables every
//! line equal to the repository (disabled ones too) or, when there is none, appends it to
//! `filename.list` or to the name derived from the line (options, `scheme://` and
//! `user:password@` dropped, the first word's non-alphanumerics turned into `_`); `absent`
//! removes the enabled equal lines (with Ansible's in-place list removal, which skips the line
//! after a removed one). The files are compared as Ansible dumps them (normalized lines, empty
//! files left out); when they differ, every file whose normalized text differs is rewritten,
//! files left without lines are removed, and, unless `update_cache: false`, `apt-get update`
//! runs (with Ansible's retries and backoff, `update_cache_retries`/`_max_delay`); if it keeps
//! failing the files are put back and the task fails. `mode` applies to the file a line was
//! appended to. A `*.list` file that is a symbolic link is written through.
//!
//! Refused: `ppa:` repositories (Ansible asks Launchpad's API over the network and imports the
//! key from a key server). `validate_certs`, `install_python_apt` and `codename` are accepted:
//! they only matter for PPAs or for Ansible's own Python dependency, which prov does not have.

use async_trait::async_trait;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Mode, Presence, de_bool, de_opt_int};
use crate::textfiles::{
    FileWrite, Probe, TextFiles, TextFilesFact, WriteFiles, py_lines, py_split, py_strip,
};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("apt_repository", build);

/// `sources.list`.
pub const SOURCES_LIST: &str = "/etc/apt/sources.list";
/// `sources.list.d`.
pub const SOURCES_DIR: &str = "/etc/apt/sources.list.d";

fn yes() -> bool {
    true
}

/// The `apt_repository` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptRepositoryArgs {
    /// The source line.
    pub repo: String,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
    /// Mode of the file a line is added to.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Run `apt-get update` after a change (default yes).
    #[serde(default = "yes", alias = "update-cache", deserialize_with = "de_bool")]
    pub update_cache: bool,
    /// Attempts of the update (default 5).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub update_cache_retries: Option<u32>,
    /// Largest delay between attempts, in seconds (default 12).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub update_cache_retry_max_delay: Option<u32>,
    /// The file name in `sources.list.d`, without `.list`.
    #[serde(default)]
    pub filename: Option<String>,
    /// Only for PPAs (refused).
    #[serde(default)]
    pub codename: Option<String>,
    /// Only for PPAs (refused).
    #[serde(default, deserialize_with = "crate::args::de_opt_bool")]
    pub validate_certs: Option<bool>,
    /// Ansible's own dependency; prov needs none.
    #[serde(default, deserialize_with = "crate::args::de_opt_bool")]
    pub install_python_apt: Option<bool>,
}

/// One line of a sources file as Ansible's `SourcesList._parse` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The line's number when loaded (Ansible removes by it).
    pub n: usize,
    /// Starts with `deb`/`deb-src`.
    pub valid: bool,
    /// Not commented out.
    pub enabled: bool,
    /// The source (white space collapsed when valid) or the text.
    pub source: String,
    /// The text after a later `#`.
    pub comment: String,
}

/// Parses one line (Ansible's `_parse`).
pub fn parse_line(n: usize, line: &str) -> Entry {
    let mut line = py_strip(line);
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let mut comment = String::new();
    if let Some(i) = line.find('#')
        && i > 0
    {
        comment = py_strip(&line[i + 1..]).to_owned();
        line = &line[..i];
    }
    let text = py_strip(line);
    let chunks = py_split(text);
    let valid = matches!(chunks.first(), Some(&"deb") | Some(&"deb-src"));
    let source = if valid {
        chunks.join(" ")
    } else {
        text.to_owned()
    };
    Entry {
        n,
        valid,
        enabled,
        source,
        comment,
    }
}

/// A file's lines as Ansible writes them (`dump`/`save`).
pub fn render(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        if !e.enabled {
            s.push_str("# ");
        }
        s.push_str(&e.source);
        if !e.comment.is_empty() {
            s.push_str(" # ");
            s.push_str(&e.comment);
        }
        s.push('\n');
    }
    s
}

/// The file name Ansible derives from a source line (`_suggest_filename`), with `.list`.
pub fn suggest_filename(source: &str) -> Option<String> {
    let options = regex::Regex::new(r"\[[^\]]+\]").expect("static regex");
    let scheme = regex::Regex::new(r"\w+://").expect("static regex");
    let line = options.replace_all(source, "");
    let line = scheme.replace_all(&line, "");
    let first = py_split(&line)
        .into_iter()
        .find(|p| *p != "deb" && *p != "deb-src")?;
    let host = first.split_once('@').map_or(first, |(_, rest)| rest);
    let cleaned: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    Some(format!("{}.list", py_split(&cleaned).join("_")))
}

/// A loaded sources file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesFile {
    /// The path (Ansible's key).
    pub path: String,
    /// Where it is written (a `sources.list.d` link's target).
    pub write_to: String,
    /// Its text as read (`None` for a file the plan creates).
    pub raw: Option<String>,
    /// The parsed lines.
    pub entries: Vec<Entry>,
}

/// Loads the probed files as Ansible's `SourcesList` does.
pub fn load(found: &TextFiles) -> Vec<SourcesFile> {
    found
        .files
        .iter()
        .map(|f| SourcesFile {
            path: f.path.clone(),
            write_to: match (&f.link_target, f.path == SOURCES_LIST) {
                (Some(t), false) => t.clone(),
                _ => f.path.clone(),
            },
            raw: Some(f.content.clone()),
            entries: py_lines(&f.content)
                .into_iter()
                .enumerate()
                .map(|(n, l)| parse_line(n, l))
                .collect(),
        })
        .collect()
}

/// What the module asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The normalized source.
    pub source: String,
    /// present or absent.
    pub state: Presence,
    /// The file a new line goes to (full path).
    pub file: String,
}

/// The outcome of the planner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoPlan {
    /// The files after the change (files with no lines are removed).
    pub after: Vec<SourcesFile>,
    /// Files a line was appended to (they get `mode`).
    pub new_repos: Vec<String>,
    /// Whether Ansible's dumps differ.
    pub changed: bool,
    /// Files in the dump after and not before.
    pub added: Vec<String>,
    /// Files in the dump before and not after.
    pub removed: Vec<String>,
}

fn dump(files: &[SourcesFile]) -> std::collections::BTreeMap<String, String> {
    files
        .iter()
        .filter(|f| !f.entries.is_empty())
        .map(|f| (f.path.clone(), render(&f.entries)))
        .collect()
}

/// The planner: Ansible's add/remove on the loaded files.
pub fn plan_repo(want: &Want, mut files: Vec<SourcesFile>) -> Result<RepoPlan, String> {
    let before = dump(&files);
    let mut new_repos = Vec::new();
    match want.state {
        Presence::Present => {
            let mut found = false;
            for e in files.iter_mut().flat_map(|f| f.entries.iter_mut()) {
                if e.valid && e.source == want.source {
                    e.enabled = true;
                    found = true;
                }
            }
            if !found {
                let i = match files.iter().position(|f| f.path == want.file) {
                    Some(i) => i,
                    None => {
                        files.push(SourcesFile {
                            path: want.file.clone(),
                            write_to: want.file.clone(),
                            raw: None,
                            entries: Vec::new(),
                        });
                        files.len() - 1
                    }
                };
                let entries = &mut files[i].entries;
                entries.push(Entry {
                    n: entries.len(),
                    valid: true,
                    enabled: true,
                    source: want.source.clone(),
                    comment: String::new(),
                });
                new_repos.push(want.file.clone());
            }
        }
        Presence::Absent => {
            for f in &mut files {
                remove_like_ansible(&mut f.entries, &want.source)
                    .map_err(|n| format!("{}: Ansible fails here (list index {n} out of range: duplicate lines)", f.path))?;
            }
        }
    }
    let after = dump(&files);
    let added = after.keys().filter(|k| !before.contains_key(*k)).cloned().collect();
    let removed = before.keys().filter(|k| !after.contains_key(*k)).cloned().collect();
    Ok(RepoPlan {
        changed: before != after,
        after: files,
        new_repos,
        added,
        removed,
    })
}

/// Ansible's `_remove_valid_source`: pops each matching line by its load number while iterating
/// the same list (so the line after a removed one is not looked at).
fn remove_like_ansible(entries: &mut Vec<Entry>, source: &str) -> Result<(), usize> {
    let mut i = 0;
    while i < entries.len() {
        let e = &entries[i];
        if e.valid && e.enabled && e.source == source {
            let n = e.n;
            if n >= entries.len() {
                return Err(n);
            }
            entries.remove(n);
        }
        i += 1;
    }
    Ok(())
}

/// The shell loop of Ansible's cache update: `retries` attempts, sleeping 2^attempt seconds
/// (at most `max_delay`) after each failure.
pub fn update_script(retries: u32, max_delay: u32) -> Script {
    sh!(
        "n={}; max={}; i=0; err=\nwhile [ $i -lt $n ]; do\n  if err=$(apt-get -q update 2>&1 >/dev/null); then exit 0; fi\n  d=$((1 << i)); [ $d -gt $max ] && d=$max\n  sleep $d; i=$((i + 1))\ndone\necho \"Failed to update apt cache after $n retries: ${{err:-unknown reason}}\" >&2\nexit 1",
        retries,
        max_delay
    )
}

/// The `apt_repository` module.
#[derive(Debug)]
pub struct AptRepository {
    repo: String,
    want: Want,
    mode: Option<Mode>,
    update: Option<Script>,
}

fn sources_fact() -> TextFilesFact {
    TextFilesFact::new(
        "apt sources",
        vec![
            Probe::File(SOURCES_LIST.into()),
            Probe::Glob {
                dir: SOURCES_DIR.into(),
                suffix: ".list".into(),
            },
        ],
    )
}

impl AptRepository {
    /// The writes (and the writes that undo them) of a changed plan.
    fn writes(&self, p: &RepoPlan) -> (Vec<String>, Vec<Diff>, Vec<FileWrite>, Vec<FileWrite>) {
        let (mut summary, mut diffs, mut writes, mut undo) = (vec![], vec![], vec![], vec![]);
        for f in &p.after {
            let raw = f.raw.as_deref();
            let new = render(&f.entries);
            let mode = p
                .new_repos
                .contains(&f.path)
                .then(|| self.mode.as_ref().map(Mode::chmod_arg))
                .flatten();
            let write = if f.entries.is_empty() {
                raw.map(|_| FileWrite::remove(&f.path))
            } else if raw != Some(new.as_str()) || mode.is_some() {
                Some(FileWrite::write(&f.write_to, new.clone()).with_mode(mode))
            } else {
                None
            };
            let Some(write) = write else { continue };
            let verb = match (raw, &write.content) {
                (None, _) => "create",
                (_, None) => "remove",
                _ => "update",
            };
            summary.push(format!("{verb} {}", f.path));
            diffs.push(Diff::new(
                f.path.clone(),
                raw.unwrap_or(""),
                write.content.clone().unwrap_or_default(),
            ));
            let target = if write.content.is_some() { &f.write_to } else { &f.path };
            undo.push(match raw {
                Some(r) => FileWrite::write(target, r),
                None => FileWrite::remove(target),
            });
            writes.push(write);
        }
        if self.update.is_some() {
            summary.push("apt-get update".into());
        }
        (summary, diffs, writes, undo)
    }
}

#[async_trait]
impl Module for AptRepository {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let found = ctx.fact(&sources_fact()).await?;
        let p = plan_repo(&self.want, load(&found)).map_err(ModuleError::failed)?;
        let state = match self.want.state {
            Presence::Present => "present",
            Presence::Absent => "absent",
        };
        let plan = Plan::unchanged()
            .with_result("repo", json!(self.repo))
            .with_result("state", json!(state))
            .with_result("sources_added", json!(p.added))
            .with_result("sources_removed", json!(p.removed));
        if !p.changed {
            return Ok(plan);
        }
        let (summary, diffs, writes, undo) = self.writes(&p);
        let action = WriteFiles {
            writes,
            then: self.update.clone(),
            undo,
        };
        Ok(plan.with_change(summary, diffs, action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: AptRepositoryArgs = parse_args(args)?;
    let repo = a.repo.as_str();
    if repo.is_empty() {
        return Err(ModuleError::arg(
            "repo",
            "Please set argument 'repo' to a non-empty value",
        ));
    }
    if repo.starts_with("ppa:") {
        return Err(ModuleError::arg(
            "repo",
            "PPA repositories are not supported: Ansible reads them from Launchpad's API and a key server over the network; write the `deb` line and its signed-by keyring instead",
        ));
    }
    let e = parse_line(0, repo);
    if !e.valid || !e.enabled {
        return Err(ModuleError::arg(
            "repo",
            format!("Invalid repository string: {repo}"),
        ));
    }
    let suggested = suggest_filename(&e.source).ok_or_else(|| {
        ModuleError::arg("repo", format!("Invalid repository string: {repo} (no URI)"))
    })?;
    let name = match &a.filename {
        Some(f) if f.contains('/') && !f.starts_with('/') => {
            return Err(ModuleError::arg(
                "filename",
                "a name in sources.list.d or an absolute path",
            ));
        }
        Some(f) if f.is_empty() => return Err(ModuleError::arg("filename", "empty file name")),
        Some(f) => format!("{f}.list"),
        None => suggested,
    };
    let file = if name.contains('/') {
        name
    } else {
        format!("{SOURCES_DIR}/{name}")
    };
    let update = a.update_cache.then(|| {
        update_script(
            a.update_cache_retries.unwrap_or(5),
            a.update_cache_retry_max_delay.unwrap_or(12),
        )
    });
    let _ = (a.codename, a.validate_certs, a.install_python_apt);
    Ok(Box::new(AptRepository {
        repo: a.repo.clone(),
        want: Want {
            source: e.source,
            state: a.state,
            file,
        },
        mode: a.mode,
        update,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::textfiles::TextFile;

    #[test]
    fn lines_parse_and_render_as_ansible_does() {
        let e = parse_line(3, "  deb   http://a/b  c main  # mine ");
        assert_eq!((e.valid, e.enabled), (true, true));
        assert_eq!((e.source.as_str(), e.comment.as_str()), ("deb http://a/b c main", "mine"));
        assert_eq!(render(&[e]), "deb http://a/b c main # mine\n");
        let off = parse_line(0, "#deb-src http://a b");
        assert_eq!((off.valid, off.enabled), (true, false));
        assert_eq!(render(&[off]), "# deb-src http://a b\n");
        let c = parse_line(0, "## a comment");
        assert!(!c.valid);
        assert_eq!(render(&[c]), "# # a comment\n");
        assert_eq!(render(&[parse_line(0, "")]), "\n");
        assert_eq!(render(&[parse_line(0, "#  text")]), "# text\n");
    }

    #[test]
    fn file_names_follow_ansibles_algorithm() {
        let s = |l: &str| suggest_filename(l).unwrap();
        assert_eq!(
            s("deb [arch=amd64 signed-by=/k.gpg] https://artifacts.elastic.co/packages/6.x/apt stable main"),
            "artifacts_elastic_co_packages_6_x_apt.list"
        );
        assert_eq!(s("deb http://user:pw@dl.example.com:8080/x y"), "dl_example_com_8080_x.list");
        assert_eq!(s("deb-src ftp://ftp.debian.org/debian bookworm main"), "ftp_debian_org_debian.list");
        assert_eq!(s("deb file:/srv/repo ./"), "file_srv_repo.list");
        assert_eq!(suggest_filename("deb [trusted=yes]"), None);
    }

    fn file(path: &str, content: &str) -> TextFiles {
        TextFiles {
            files: vec![TextFile {
                path: path.into(),
                link_target: None,
                mode: 0o644,
                content: content.into(),
            }],
            ..TextFiles::default()
        }
    }

    fn want(state: Presence) -> Want {
        Want {
            source: "deb http://x/d s main".into(),
            state,
            file: format!("{SOURCES_DIR}/x_d.list"),
        }
    }

    #[test]
    fn the_planner_adds_enables_and_removes() {
        let list = "# base\ndeb http://deb.debian.org/debian bookworm main\n";
        let p = plan_repo(&want(Presence::Present), load(&file(SOURCES_LIST, list))).unwrap();
        assert!(p.changed);
        assert_eq!(p.added, [format!("{SOURCES_DIR}/x_d.list")]);
        assert_eq!(render(&p.after[1].entries), "deb http://x/d s main\n");
        assert_eq!(render(&p.after[0].entries), list, "other files keep their lines");

        let off = "#deb  http://x/d s main\n";
        let p = plan_repo(&want(Presence::Present), load(&file(SOURCES_LIST, off))).unwrap();
        assert_eq!((p.changed, p.after.len()), (true, 1), "a disabled line is enabled in place");
        assert_eq!(render(&p.after[0].entries), "deb http://x/d s main\n");

        let on = "deb http://x/d   s main\n";
        let p = plan_repo(&want(Presence::Present), load(&file(SOURCES_LIST, on))).unwrap();
        assert!(!p.changed, "present already (white space does not matter)");

        let p = plan_repo(&want(Presence::Absent), load(&file("/etc/apt/sources.list.d/x_d.list", on))).unwrap();
        assert!(p.changed);
        assert_eq!(p.removed, ["/etc/apt/sources.list.d/x_d.list"]);
        assert!(p.after[0].entries.is_empty());
        let p = plan_repo(&want(Presence::Absent), load(&file(SOURCES_LIST, off))).unwrap();
        assert!(!p.changed, "a disabled line is not removed");
    }

    #[test]
    fn removal_keeps_ansibles_list_quirk() {
        let l = "deb http://x/d s main\n";
        let twice = format!("{l}{l}");
        let p = plan_repo(&want(Presence::Absent), load(&file(SOURCES_LIST, &twice))).unwrap();
        assert_eq!(render(&p.after[0].entries), l, "the second of two adjacent lines stays");
        let three = format!("{l}# c\n{l}");
        assert!(plan_repo(&want(Presence::Absent), load(&file(SOURCES_LIST, &three))).is_err());
    }

    #[test]
    fn args() {
        let b = |v: Value| build(v).map(|_| ()).map_err(|e| e.to_string());
        assert!(b(json!({"repo": "deb http://x/d s main", "mode": "0600", "update_cache": false})).is_ok());
        assert!(b(json!({"repo": "ppa:user/x"})).unwrap_err().contains("repo"));
        assert!(b(json!({"repo": "deb"})).unwrap_err().contains("repo"));
        assert!(b(json!({"repo": "#deb http://x y"})).unwrap_err().contains("Invalid"));
        assert!(b(json!({"repo": "deb http://x y", "filename": "a/b"})).unwrap_err().contains("filename"));
        assert!(b(json!({"repo": "deb http://x y", "keyserver": "k"})).unwrap_err().contains("keyserver"));
    }

    #[test]
    fn the_update_loop_retries_and_reports() {
        let s = update_script(2, 1);
        assert!(s.as_str().starts_with("n=2; max=1;"), "{s:?}");
    }
}
