//! `file`: ensures a path is a file (attributes only), a directory (parents created), absent,
//! a symbolic or hard link, or touched; with mode/owner/group (recursively for directories) and
//! access/modification times.
//!
//! One probe command reads everything the plan needs (the path, the link source, the deepest
//! existing ancestor, the wanted timestamps, a recursive listing when `recurse`); the plan's
//! action is one shell script doing exactly the planned steps.

use async_trait::async_trait;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, RunScript, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Mode, de_bool, yes};
use crate::remote_file::{
    AttrChange, Attrs, FileInfo, Kind, PathsFact, ProbePreamble, ProbeSpec, Probed, check_path,
    chmod_octal, mode_str, parent_of, resolve_mode, same_principal, state_text,
};

const DEFAULT_TIME_FORMAT: &str = "%Y%m%d%H%M.%S";

fn default_time_format() -> String {
    DEFAULT_TIME_FORMAT.into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    File,
    Directory,
    Absent,
    Link,
    Hard,
    Touch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "dest", alias = "name")]
    path: String,
    #[serde(default)]
    state: Option<State>,
    #[serde(default)]
    src: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    recurse: bool,
    #[serde(default, deserialize_with = "de_bool")]
    force: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    follow: bool,
    #[serde(default)]
    modification_time: Option<String>,
    #[serde(default = "default_time_format")]
    modification_time_format: String,
    #[serde(default)]
    access_time: Option<String>,
    #[serde(default = "default_time_format")]
    access_time_format: String,
}

/// A wanted timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Time {
    Preserve,
    Now,
    /// A `date -d` string (`2024-01-31 12:00:00`).
    At(String),
}

struct FileModule {
    path: String,
    state: Option<State>,
    src: Option<String>,
    attrs: Attrs,
    recurse: bool,
    force: bool,
    follow: bool,
    mtime: Option<Time>,
    atime: Option<Time>,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("file", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("file", "path", &a.path)?;
    if a.recurse && !matches!(a.state, None | Some(State::Directory)) {
        return Err(ModuleError::args("`recurse` requires `state: directory`"));
    }
    match (&a.src, a.state) {
        (Some(_), Some(State::Link | State::Hard)) => {}
        (None, Some(State::Link | State::Hard)) => {
            return Err(ModuleError::args(
                "`src` is required for `state: link` and `state: hard`",
            ));
        }
        (Some(_), _) => {
            return Err(ModuleError::args(
                "`src` requires `state: link` or `state: hard`",
            ));
        }
        _ => {}
    }
    if let Some(src) = &a.src {
        check_path("file", "src", src)?;
    }
    if a.state == Some(State::Link) && attrs.mode.is_some() && !a.follow {
        return Err(ModuleError::args(
            "`mode` cannot be set on a symbolic link with `follow: no` (Linux has no link permissions)",
        ));
    }
    let mtime = a
        .modification_time
        .as_deref()
        .map(|t| parse_time("modification_time", t, &a.modification_time_format))
        .transpose()?;
    let atime = a
        .access_time
        .as_deref()
        .map(|t| parse_time("access_time", t, &a.access_time_format))
        .transpose()?;
    Ok(Box::new(FileModule {
        path: a.path,
        state: a.state,
        src: a.src,
        attrs,
        recurse: a.recurse,
        force: a.force,
        follow: a.follow,
        mtime,
        atime,
    }))
}

/// Parses `now`, `preserve` or a timestamp in a strftime format (`%Y %m %d %H %M %S`).
fn parse_time(what: &str, value: &str, format: &str) -> Result<Time, ModuleError> {
    match value {
        "now" => return Ok(Time::Now),
        "preserve" => return Ok(Time::Preserve),
        _ => {}
    }
    let bad = || {
        ModuleError::args(format!(
            "`{what}` {value:?} does not match the format {format:?} (or use now/preserve)"
        ))
    };
    let mut fields = [0u32; 6]; // Y m d H M S
    let mut seen = [false; 6];
    let v: Vec<char> = value.chars().collect();
    let f: Vec<char> = format.chars().collect();
    let (mut i, mut j) = (0usize, 0usize);
    while j < f.len() {
        if f[j] == '%' && j + 1 < f.len() {
            let (idx, width) = match f[j + 1] {
                'Y' => (0, 4),
                'm' => (1, 2),
                'd' => (2, 2),
                'H' => (3, 2),
                'M' => (4, 2),
                'S' => (5, 2),
                '%' => {
                    if v.get(i) != Some(&'%') {
                        return Err(bad());
                    }
                    i += 1;
                    j += 2;
                    continue;
                }
                other => {
                    return Err(ModuleError::args(format!(
                        "`{what}_format`: %{other} is not supported (use %Y %m %d %H %M %S)"
                    )));
                }
            };
            let digits: String = v[i..]
                .iter()
                .take(width)
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if digits.is_empty() {
                return Err(bad());
            }
            i += digits.len();
            fields[idx] = digits.parse().map_err(|_| bad())?;
            seen[idx] = true;
            j += 2;
        } else {
            if v.get(i) != Some(&f[j]) {
                return Err(bad());
            }
            i += 1;
            j += 1;
        }
    }
    if i != v.len() || !seen[0] {
        return Err(bad());
    }
    let [y, mo, d, h, mi, s] = fields;
    let (mo, d) = (if seen[1] { mo } else { 1 }, if seen[2] { d } else { 1 });
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    Ok(Time::At(format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"
    )))
}

// ---------------------------------------------------------------------------------------------
// What the plan reads

/// A wanted timestamp as the host reads it (`date -d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostTime {
    /// Seconds since the epoch.
    Epoch(i64),
    /// `date` could not interpret the time (it printed nothing).
    Unreadable,
}

/// The deepest existing ancestor of a directory to create.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ancestor {
    /// A directory: the missing ones below it are created.
    Dir(String),
    /// Something else is in the way.
    NotDir(String),
}

/// One entry under a directory, for `recurse`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `find`'s `%y`: `f`, `d`, `l`...
    kind: String,
    /// Permission bits.
    perm: u32,
    uid: u32,
    gid: u32,
    owner: String,
    group: String,
}

/// What `file` reads besides the paths' `stat`, in the same command ([`Extras`]).
#[derive(Debug, Default, PartialEq, Eq)]
struct Extras {
    /// The wanted modification time, when one was given as a date.
    mtime: Option<HostTime>,
    /// The wanted access time, when one was given as a date.
    atime: Option<HostTime>,
    /// For `state: directory`: the deepest existing ancestor.
    ancestor: Option<Ancestor>,
    /// For `recurse`: the entries under the directory.
    entries: Vec<Entry>,
    /// For a link or hard link: the path is an empty directory.
    empty_dir: bool,
    /// For `touch`: the path is a dangling link to this target (as written).
    dangling: Option<String>,
}

/// The preamble reading [`Extras`] for one task: lines `T m|a <epoch>`, `A|N <ancestor>`,
/// `F <type> <perm> <uid> <gid> <owner> <group>`, `E`, `D <target>`, each only when the
/// task needs it.
struct ExtrasProbe<'a>(&'a FileModule);

impl ProbePreamble for ExtrasProbe<'_> {
    type Output = Extras;

    fn script(&self) -> Script {
        let m = self.0;
        let state = m.state;
        let mut s = sh!("p={}\n", m.path);
        for (tag, t) in [("T m", &m.mtime), ("T a", &m.atime)] {
            if let Some(Time::At(at)) = t {
                s = s.then(&sh!(
                    "printf '%s %s\\n' {} \"$(date -d {} +%s)\"\n",
                    tag,
                    at
                ));
            }
        }
        if state == Some(State::Directory) || (state.is_none() && m.recurse) {
            s = s.then_text(include_str!("file_ancestor.sh"));
            if m.recurse {
                s = s
                    .then_text("if [ -d \"$p\" ]; then find ")
                    .then_text(if m.follow { "-H " } else { "" })
                    .then_text("\"$p\" -mindepth 1 -printf 'F %y %m %U %G %u %g\\n'; fi\n");
            }
        }
        if matches!(state, Some(State::Link | State::Hard)) {
            s = s.then_text("if [ -d \"$p\" ] && [ ! -L \"$p\" ] && [ -z \"$(ls -A -- \"$p\")\" ]; then echo E; fi\n");
        }
        if state == Some(State::Touch) {
            // A dangling link: `D <its target as written>`.
            s = s.then_text("if [ -L \"$p\" ] && [ ! -e \"$p\" ]; then printf 'D %s\\n' \"$(readlink -- \"$p\")\"; fi\n");
        }
        s
    }

    fn parse(&self, lines: &[&str]) -> Result<Extras, String> {
        let mut x = Extras::default();
        for line in lines {
            let (tag, value) = line.split_once(' ').unwrap_or((line, ""));
            match tag {
                "T" => parse_time_line(&mut x, value).ok_or(format!("time line `{line}`"))?,
                "A" => x.ancestor = Some(Ancestor::Dir(value.to_owned())),
                "N" => x.ancestor = Some(Ancestor::NotDir(value.to_owned())),
                "F" => x
                    .entries
                    .push(parse_entry(value).ok_or(format!("listing line `{line}`"))?),
                "E" if value.is_empty() => x.empty_dir = true,
                "D" => x.dangling = Some(value.to_owned()),
                _ => return Err(format!("unexpected line `{line}`")),
            }
        }
        Ok(x)
    }
}

/// `m <epoch>` or `a <epoch>` (`m ` alone: `date` could not read the time).
fn parse_time_line(x: &mut Extras, value: &str) -> Option<()> {
    let (which, epoch) = value.split_once(' ')?;
    let t = match epoch {
        "" => HostTime::Unreadable,
        e => HostTime::Epoch(e.parse().ok()?),
    };
    match which {
        "m" => x.mtime = Some(t),
        "a" => x.atime = Some(t),
        _ => return None,
    }
    Some(())
}

/// `<type> <perm> <uid> <gid> <owner> <group>`.
fn parse_entry(value: &str) -> Option<Entry> {
    let f: Vec<&str> = value.split(' ').collect();
    let [kind, perm, uid, gid, owner, group] = f.as_slice() else {
        return None;
    };
    Some(Entry {
        kind: (*kind).to_owned(),
        perm: u32::from_str_radix(perm, 8).ok()?,
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        owner: (*owner).to_owned(),
        group: (*group).to_owned(),
    })
}

/// What the plan starts from.
struct Current<'a> {
    /// The path.
    me: &'a Probed,
    /// The link source (`src`), followed.
    src: Option<&'a Probed>,
    /// The path followed, for a touch through an unfollowed link (its target's times).
    followed: Option<&'a Probed>,
    extras: &'a Extras,
}

impl Current<'_> {
    fn prev(&self) -> Option<&FileInfo> {
        self.me.info.as_ref()
    }

    /// Ansible's name for what the path is now (`hard` for a file with several links).
    fn prev_state(&self) -> &'static str {
        self.prev().map_or("absent", |i| {
            if i.kind == Kind::File && i.nlink > 1 {
                "hard"
            } else {
                i.kind.state_name()
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The plan

/// The plan under construction: shell steps and summary lines.
struct Steps {
    script: Script,
    summary: Vec<String>,
}

impl Steps {
    fn new() -> Self {
        Self {
            script: Script::text("set -e\n"),
            summary: Vec::new(),
        }
    }

    fn add(&mut self, summary: impl Into<String>, script: Script) {
        self.summary.push(summary.into());
        self.script = std::mem::take(&mut self.script).then(&script);
    }

    /// Attribute changes: their summary lines and their commands.
    fn add_attrs(&mut self, ch: &AttrChange, path: &str, no_deref: bool) {
        if !ch.is_empty() {
            self.summary.extend(ch.summary(path));
            self.script = std::mem::take(&mut self.script).then(&ch.script(path, no_deref));
        }
    }

    fn changed(&self) -> bool {
        !self.summary.is_empty()
    }
}

/// What the planner decided.
struct FilePlan {
    steps: Steps,
    before: String,
    after: String,
    final_state: &'static str,
}

fn fail(msg: String) -> ModuleError {
    ModuleError::failed(msg)
}

impl FileModule {
    fn src_abs(&self) -> Option<String> {
        self.src.as_ref().map(|s| {
            if s.starts_with('/') {
                s.clone()
            } else {
                format!("{}/{}", parent_of(&self.path), s)
            }
        })
    }

    /// The paths to probe: the path, the link source, the link's target for a touch through
    /// an unfollowed link.
    fn probe_specs(&self) -> Vec<ProbeSpec> {
        let linkish = matches!(self.state, Some(State::Link | State::Hard));
        let follow = self.follow && !linkish && self.state != Some(State::Absent);
        let mut specs = vec![ProbeSpec {
            follow,
            ..ProbeSpec::new(self.path.clone())
        }];
        if let Some(src) = self.src_abs() {
            specs.push(ProbeSpec {
                follow: true,
                ..ProbeSpec::new(src)
            });
        }
        if self.touches_through_link() {
            // The times a touch through an unfollowed link sets are its target's.
            specs.push(ProbeSpec {
                follow: true,
                ..ProbeSpec::new(self.path.clone())
            });
        }
        specs
    }

    /// `state: touch` with `follow: no`: a link is kept as the path itself (its owner and
    /// group), while the times are still set on its target, as Ansible's `os.utime` does.
    fn touches_through_link(&self) -> bool {
        self.state == Some(State::Touch) && !self.follow
    }

    /// The state to reach: the one asked for, else what the path is.
    fn effective_state(&self, prev: Option<&FileInfo>) -> State {
        match self.state {
            Some(s) => s,
            None => match prev.map(|i| i.kind) {
                Some(Kind::Dir) => State::Directory,
                Some(Kind::Link) => State::Link,
                Some(_) => State::File,
                None if self.recurse => State::Directory,
                None => State::File,
            },
        }
    }

    /// The attribute lines of the diff text, for the attributes the task sets.
    fn attr_lines(
        &self,
        mode: Option<u32>,
        owner: Option<&str>,
        group: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if self.attrs.mode.is_some()
            && let Some(m) = mode
        {
            v.push(("mode", mode_str(m)));
        }
        if self.attrs.owner.is_some()
            && let Some(o) = owner
        {
            v.push(("owner", o.to_owned()));
        }
        if self.attrs.group.is_some()
            && let Some(g) = group
        {
            v.push(("group", g.to_owned()));
        }
        v
    }

    fn info_attr_lines(&self, info: &FileInfo) -> Vec<(&'static str, String)> {
        self.attr_lines(Some(info.mode), Some(&info.owner), Some(&info.group))
    }

    /// The attribute lines of a path this plan creates with `mode`.
    fn new_attr_lines(&self, mode: Option<u32>) -> Vec<(&'static str, String)> {
        let (owner, group) = (self.attrs.owner.as_deref(), self.attrs.group.as_deref());
        self.attr_lines(mode, owner, group)
    }

    /// Commands setting the attributes of a path this plan creates, and its new mode.
    fn new_path_attrs(
        &self,
        path: &str,
        base: u32,
        is_dir: bool,
        no_deref: bool,
    ) -> Result<(Script, Option<u32>), ModuleError> {
        let mode = self.attrs.new_mode(base, is_dir)?;
        let ch = AttrChange {
            mode: mode.map(|m| (base, m)),
            owner: self.attrs.owner.clone().map(|o| (String::new(), o)),
            group: self.attrs.group.clone().map(|g| (String::new(), g)),
        };
        Ok((ch.script(path, no_deref), mode))
    }

    /// The epoch the host gives a wanted time (`None`: keep or set to now).
    fn host_time(&self, t: &Time, read: Option<HostTime>) -> Result<Option<i64>, ModuleError> {
        match (t, read) {
            (Time::At(_), Some(HostTime::Epoch(e))) => Ok(Some(e)),
            (Time::At(s), _) => Err(fail(format!("the host cannot interpret the time {s:?}"))),
            _ => Ok(None),
        }
    }

    /// Timestamp steps for an existing `info` (or a new path when `None`).
    fn time_steps(
        &self,
        steps: &mut Steps,
        extras: &Extras,
        info: Option<&FileInfo>,
        default: Time,
        no_deref: bool,
    ) -> Result<(), ModuleError> {
        let path = &self.path;
        let touch = Script::text(if no_deref { "touch -c -h" } else { "touch -c" });
        for (flag, name, t, read, cur) in [
            ("-m", "modification time", &self.mtime, extras.mtime, info.map(|i| i.mtime)),
            ("-a", "access time", &self.atime, extras.atime, info.map(|i| i.atime)),
        ] {
            let t = t.clone().unwrap_or(default.clone());
            let flag = Script::text(flag);
            match (&t, self.host_time(&t, read)?) {
                (Time::Preserve, _) => {}
                (Time::Now, _) => steps.add(
                    format!("set {name} of {path} to now"),
                    sh!("{} {} -- {}", touch, flag, path),
                ),
                (Time::At(_), Some(epoch)) if cur != Some(epoch) => steps.add(
                    format!("set {name} of {path} to @{epoch}"),
                    sh!("{} {} -d @{} -- {}", touch, flag, epoch, path),
                ),
                (Time::At(_), _) => {}
            }
        }
        Ok(())
    }

    /// Attribute steps for an existing path; `mode` is left out with `without_mode` (a link
    /// itself, `chown -h`).
    fn plan_attrs(
        &self,
        steps: &mut Steps,
        info: &FileInfo,
        no_deref: bool,
    ) -> Result<AttrChange, ModuleError> {
        let ch = self.attrs.diff_against(info)?;
        steps.add_attrs(&ch, &self.path, no_deref);
        Ok(ch)
    }

    /// Owner/group steps for a link itself (`chown -h`); a wanted `mode` is ignored.
    fn plan_attrs_without_mode(
        &self,
        steps: &mut Steps,
        info: &FileInfo,
    ) -> Result<AttrChange, ModuleError> {
        let attrs = Attrs {
            mode: None,
            ..self.attrs.clone()
        };
        let ch = attrs.diff_against(info)?;
        steps.add_attrs(&ch, &self.path, true);
        Ok(ch)
    }

    fn after_text(&self, state: &str, info: &FileInfo, ch: &AttrChange) -> String {
        let mode = ch.mode.map_or(info.mode, |(_, m)| m);
        let owner = ch.owner.as_ref().map_or(&info.owner, |(_, o)| o);
        let group = ch.group.as_ref().map_or(&info.group, |(_, g)| g);
        state_text(
            &self.path,
            state,
            &self.attr_lines(Some(mode), Some(owner), Some(group)),
        )
    }

    /// The whole decision: from what the host has to the steps, the diff texts and the state
    /// reached. No I/O.
    fn plan_file(&self, cur: &Current) -> Result<FilePlan, ModuleError> {
        let path = &self.path;
        let prev = cur.prev();
        let prev_state = cur.prev_state();
        let before = match prev {
            Some(i) => state_text(path, prev_state, &self.info_attr_lines(i)),
            None => state_text(path, "absent", &[]),
        };
        let mut steps = Steps::new();
        if self.state.is_none()
            && let Some(i) = prev
            && i.kind == Kind::Link
        {
            let after = self.plan_unfollowed_link(&mut steps, cur, i)?;
            return Ok(FilePlan {
                steps,
                before,
                after,
                final_state: "link",
            });
        }
        let state = self.effective_state(prev);
        let (after, final_state) = match state {
            State::Absent => (self.plan_absent(&mut steps, cur), "absent"),
            State::File => (self.plan_regular(&mut steps, cur)?, "file"),
            State::Directory => (self.plan_directory(&mut steps, cur)?, "directory"),
            State::Touch => (self.plan_touch(&mut steps, cur)?, "file"),
            State::Link => (self.plan_link(&mut steps, cur, false)?, "link"),
            State::Hard => (self.plan_link(&mut steps, cur, true)?, "hard"),
        };
        let before = match (prev, state) {
            (Some(i), State::Link | State::Hard) => self.link_before_text(cur, i, state),
            _ => before,
        };
        Ok(FilePlan {
            steps,
            before,
            after,
            final_state,
        })
    }

    /// No state and an unfollowed link: only its owner/group.
    fn plan_unfollowed_link(
        &self,
        steps: &mut Steps,
        cur: &Current,
        i: &FileInfo,
    ) -> Result<String, ModuleError> {
        if self.attrs.mode.is_some() {
            return Err(fail(format!(
                "{} is a symbolic link: `mode` cannot be set on it (use follow: yes)",
                self.path
            )));
        }
        let ch = self.plan_attrs(steps, i, true)?;
        self.time_steps(steps, cur.extras, Some(i), Time::Preserve, true)?;
        Ok(self.after_text("link", i, &ch))
    }

    fn plan_absent(&self, steps: &mut Steps, cur: &Current) -> String {
        let path = &self.path;
        if let Some(i) = cur.prev() {
            let rm = Script::text(if i.kind == Kind::Dir { "rm -rf" } else { "rm -f" });
            steps.add(
                format!("remove {path} ({})", cur.prev_state()),
                sh!("{} -- {}", rm, path),
            );
        }
        state_text(path, "absent", &[])
    }

    /// `state: file`: an existing regular file's attributes and times.
    fn plan_regular(&self, steps: &mut Steps, cur: &Current) -> Result<String, ModuleError> {
        let (path, prev_state) = (&self.path, cur.prev_state());
        let Some(i) = cur.prev() else {
            return Err(fail(format!("file ({path}) is absent, cannot continue")));
        };
        if i.kind != Kind::File {
            return Err(fail(format!(
                "file ({path}) is {prev_state}, cannot continue"
            )));
        }
        let ch = self.plan_attrs(steps, i, false)?;
        self.time_steps(steps, cur.extras, Some(i), Time::Preserve, false)?;
        Ok(self.after_text(prev_state, i, &ch))
    }

    fn plan_directory(&self, steps: &mut Steps, cur: &Current) -> Result<String, ModuleError> {
        match cur.prev() {
            Some(i) if i.kind == Kind::Dir => {
                let ch = self.plan_attrs(steps, i, false)?;
                if self.recurse {
                    self.plan_recursive(steps, &cur.extras.entries)?;
                }
                self.time_steps(steps, cur.extras, Some(i), Time::Preserve, false)?;
                Ok(self.after_text("directory", i, &ch))
            }
            Some(_) => Err(fail(format!(
                "{} already exists as a {}",
                self.path,
                cur.prev_state()
            ))),
            None => self.plan_mkdir(steps, cur.extras),
        }
    }

    /// Creates the missing directories down to the path, each with the wanted attributes.
    fn plan_mkdir(&self, steps: &mut Steps, extras: &Extras) -> Result<String, ModuleError> {
        let path = &self.path;
        let ancestor = match &extras.ancestor {
            Some(Ancestor::Dir(a)) => a,
            Some(Ancestor::NotDir(n)) => {
                return Err(fail(format!(
                    "cannot create {path}: {n} exists and is not a directory"
                )));
            }
            None => return Err(fail(format!("internal: {path}: no ancestor probed"))),
        };
        let mut missing = Vec::new();
        let mut d = path.trim_end_matches('/').to_owned();
        while d != *ancestor && d != "/" && d != "." && !d.is_empty() {
            missing.push(d.clone());
            d = parent_of(&d);
        }
        missing.reverse();
        let mut final_mode = None;
        for d in &missing {
            let (attrs_script, mode) = self.new_path_attrs(d, 0o755, true, false)?;
            final_mode = mode;
            steps.add(
                format!("create directory {d}"),
                sh!("mkdir -p -- {}", d).then(&attrs_script),
            );
        }
        self.time_steps(steps, extras, None, Time::Preserve, false)?;
        Ok(state_text(
            path,
            "directory",
            &self.new_attr_lines(final_mode),
        ))
    }

    fn plan_touch(&self, steps: &mut Steps, cur: &Current) -> Result<String, ModuleError> {
        let (path, prev_state) = (&self.path, cur.prev_state());
        // Ansible never creates a dangling link's target: it sets the times through the link
        // (`os.utime`), which fails, with or without `follow`.
        if let Some(t) = &cur.extras.dangling {
            return Err(fail(format!(
                "Error while updating modification or access time: {path} is a dangling symbolic link (its target {t} does not exist)"
            )));
        }
        match cur.prev() {
            Some(i) if i.kind == Kind::Link => {
                // `follow: no`: owner and group go to the link itself (`chown -h`); `mode` is
                // a no-op, as in Ansible (Linux cannot chmod a link, and the link's own 0777
                // is never compared); the times are the target's.
                let target = cur
                    .followed
                    .and_then(|f| f.info.as_ref())
                    .ok_or_else(|| fail(format!("internal: {path}: no target probed")))?;
                let ch = self.plan_attrs_without_mode(steps, i)?;
                self.time_steps(steps, cur.extras, Some(target), Time::Now, false)?;
                Ok(self.after_text(prev_state, i, &ch))
            }
            Some(i) => {
                let ch = self.plan_attrs(steps, i, false)?;
                self.time_steps(steps, cur.extras, Some(i), Time::Now, false)?;
                Ok(self.after_text(prev_state, i, &ch))
            }
            None => {
                if !cur.me.parent_dir {
                    return Err(fail(format!(
                        "Error, could not touch target: directory {} does not exist",
                        parent_of(path)
                    )));
                }
                let (attrs_script, mode) = self.new_path_attrs(path, 0o644, false, false)?;
                steps.add(
                    format!("create {path}"),
                    sh!("touch -- {}", path).then(&attrs_script),
                );
                self.time_steps(steps, cur.extras, None, Time::Preserve, false)?;
                Ok(state_text(path, "file", &self.new_attr_lines(mode)))
            }
        }
    }

    /// `state: link` or `state: hard`.
    fn plan_link(&self, steps: &mut Steps, cur: &Current, hard: bool) -> Result<String, ModuleError> {
        let final_state = if hard { "hard" } else { "link" };
        let src_abs = self.src_abs().unwrap_or_default();
        let src_info = cur.src.and_then(|s| s.info.as_ref());
        if src_info.is_none() && (hard || !self.force) {
            return Err(fail(if hard {
                format!("src does not exist: {src_abs}")
            } else {
                format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {src_abs}"
                )
            }));
        }
        // With `follow` (the default) Ansible sets a symbolic link's attributes and times on
        // its target (its path resolved), and none when the target is missing.
        let on_target = !hard && self.follow;
        if let Some(i) = cur.prev().filter(|i| self.link_up_to_date(i, src_info, hard)) {
            let attrs_of = if on_target { src_info } else { Some(i) };
            let Some(a) = attrs_of else {
                return Ok(self.after_text(final_state, i, &AttrChange::default()));
            };
            let ch = self.plan_attrs(steps, a, !on_target && !hard)?;
            self.time_steps(steps, cur.extras, Some(a), Time::Preserve, !on_target && !hard)?;
            return Ok(self.after_text(final_state, a, &ch));
        }
        self.clear_for_link(steps, cur, hard)?;
        let src_arg = self.src.clone().unwrap_or_default();
        let link_src = if hard { &src_abs } else { &src_arg };
        let base = match src_info {
            Some(s) if hard => s.mode,
            _ => 0o644,
        };
        let attrs_script = match (on_target, src_info) {
            (true, Some(target)) => self.attrs.diff_against(target)?.script(&self.path, false),
            (true, None) => Script::default(),
            (false, _) => self.new_path_attrs(&self.path, base, false, !hard)?.0,
        };
        let tmp = format!("{}/.prov-ln-{}", parent_of(&self.path), std::process::id());
        let (what, ln) = if hard {
            ("hard link", Script::text("ln -L"))
        } else {
            ("symlink", Script::text("ln -s"))
        };
        steps.add(
            format!("{what} {} -> {link_src}", self.path),
            sh!(
                "t={}; rm -f -- \"$t\"; {} -- {} \"$t\"; mv -Tf -- \"$t\" {}",
                tmp,
                ln,
                link_src,
                self.path
            )
            .then(&attrs_script),
        );
        let (times_of, times_no_deref) = if on_target { (src_info, false) } else { (None, !hard) };
        if !on_target || src_info.is_some() {
            self.time_steps(steps, cur.extras, times_of, Time::Preserve, times_no_deref)?;
        }
        let mode = if hard || on_target { src_info.map(|s| s.mode) } else { None };
        let mut lines = vec![("src", link_src.clone())];
        lines.extend(self.new_attr_lines(self.attrs.new_mode(mode.unwrap_or(0o644), false)?.or(mode)));
        Ok(state_text(&self.path, final_state, &lines))
    }

    /// True when the path already is the wanted link.
    fn link_up_to_date(&self, i: &FileInfo, src: Option<&FileInfo>, hard: bool) -> bool {
        if hard {
            i.kind == Kind::File && src.is_some_and(|s| s.inode == i.inode && s.dev == i.dev)
        } else {
            i.kind == Kind::Link && i.link_target.as_deref() == self.src.as_deref()
        }
    }

    /// Checks what is at the path before a link replaces it (an empty directory is removed
    /// with `force`).
    fn clear_for_link(&self, steps: &mut Steps, cur: &Current, hard: bool) -> Result<(), ModuleError> {
        let (path, prev_state) = (&self.path, cur.prev_state());
        let final_state = if hard { "hard" } else { "link" };
        let Some(i) = cur.prev() else {
            if !cur.me.parent_dir {
                return Err(fail(format!(
                    "Error while linking: directory {} does not exist",
                    parent_of(path)
                )));
            }
            return Ok(());
        };
        match i.kind {
            Kind::Dir if !self.force => Err(fail(format!(
                "refusing to convert from directory to {final_state} for {path}"
            ))),
            Kind::Dir if !cur.extras.empty_dir => Err(fail(format!(
                "the directory {path} is not empty, refusing to convert it"
            ))),
            Kind::Dir => {
                steps.script = std::mem::take(&mut steps.script).then(&sh!("rmdir -- {}", path));
                Ok(())
            }
            Kind::Link => Ok(()),
            _ if !self.force => Err(fail(if hard {
                format!("Cannot link, {prev_state} exists at destination: {path}")
            } else {
                format!("refusing to convert from {prev_state} to symlink for {path}")
            })),
            _ => Ok(()),
        }
    }

    /// The before text of a link task: what the path was, with its link source.
    fn link_before_text(&self, cur: &Current, i: &FileInfo, state: State) -> String {
        let mut lines = Vec::new();
        if let Some(t) = &i.link_target {
            lines.push(("src", t.clone()));
        } else if let (true, Some(s)) = (state == State::Hard, cur.src.and_then(|s| s.info.as_ref()))
            && s.inode == i.inode
        {
            lines.push(("src", self.src_abs().unwrap_or_default()));
        }
        lines.extend(self.info_attr_lines(i));
        state_text(&self.path, cur.prev_state(), &lines)
    }

    /// `recurse`: one `find` for the modes and one for the owners under the directory, when
    /// some entry differs.
    fn plan_recursive(&self, steps: &mut Steps, entries: &[Entry]) -> Result<(), ModuleError> {
        let mut n_mode = 0usize;
        let mut n_owner = 0usize;
        for e in entries {
            if e.kind != "l"
                && let Some(m) = &self.attrs.mode
                && resolve_mode(m, e.perm, e.kind == "d")? != e.perm
            {
                n_mode += 1;
            }
            let owner_off = (self.attrs.owner.as_ref())
                .is_some_and(|o| !same_principal(o, &e.owner, e.uid));
            let group_off = (self.attrs.group.as_ref())
                .is_some_and(|g| !same_principal(g, &e.group, e.gid));
            if owner_off || group_off {
                n_owner += 1;
            }
        }
        let find = Script::text(if self.follow { "find -H" } else { "find" });
        let path = &self.path;
        if n_mode > 0
            && let Some(m) = &self.attrs.mode
        {
            steps.add(
                format!("mode of {n_mode} entries under {path}: {}", m.chmod_arg()),
                sh!(
                    "{} {} -mindepth 1 ! -type l -exec chmod {} {{}} +",
                    find,
                    path,
                    recursive_chmod_arg(m)
                ),
            );
        }
        if n_owner > 0 {
            let spec = match (&self.attrs.owner, &self.attrs.group) {
                (Some(o), Some(g)) => format!("{o}:{g}"),
                (Some(o), None) => o.clone(),
                (None, Some(g)) => format!(":{g}"),
                (None, None) => String::new(),
            };
            steps.add(
                format!("ownership of {n_owner} entries under {path}: {spec}"),
                sh!("{} {} -mindepth 1 -exec chown -h {} {{}} +", find, path, spec),
            );
        }
        Ok(())
    }

    /// The plan with Ansible's result fields.
    fn finish(&self, fp: FilePlan) -> Plan {
        let path = &self.path;
        let mut plan = if fp.steps.changed() {
            let diffs = if fp.before != fp.after {
                vec![Diff::new(path, fp.before, fp.after)]
            } else {
                Vec::new()
            };
            Plan::changes(fp.steps.summary, diffs, RunScript(fp.steps.script))
        } else {
            Plan::unchanged()
        };
        plan.result_mut().insert("path".into(), json!(path));
        plan.result_mut().insert("state".into(), json!(fp.final_state));
        if let Some(src) = &self.src {
            plan.result_mut().insert("src".into(), json!(src));
        }
        plan
    }
}

/// A mode for `chmod` on every entry: a symbolic clause without `who` applies to all (`a`).
fn recursive_chmod_arg(m: &Mode) -> String {
    match m {
        Mode::Octal(o) => chmod_octal(*o),
        Mode::Symbolic(s) => s
            .split(',')
            .map(|c| {
                if c.starts_with(['=', '+', '-']) {
                    format!("a{c}")
                } else {
                    c.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

#[async_trait]
impl Module for FileModule {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let specs = self.probe_specs();
        let (probed, extras) = ctx
            .fact(&PathsFact::with(&specs, ExtrasProbe(self)))
            .await?;
        let cur = Current {
            me: &probed[0],
            src: self.src.as_ref().and_then(|_| probed.get(1)),
            followed: self.touches_through_link().then(|| probed.last()).flatten(),
            extras: &extras,
        };
        Ok(self.finish(self.plan_file(&cur)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times() {
        assert_eq!(
            parse_time("t", "202401311205.30", DEFAULT_TIME_FORMAT).unwrap(),
            Time::At("2024-01-31 12:05:30".into())
        );
        assert_eq!(
            parse_time("t", "now", DEFAULT_TIME_FORMAT).unwrap(),
            Time::Now
        );
        assert_eq!(
            parse_time("t", "2024-01-31 12:05", "%Y-%m-%d %H:%M").unwrap(),
            Time::At("2024-01-31 12:05:00".into())
        );
        assert!(parse_time("t", "2024", DEFAULT_TIME_FORMAT).is_err());
        assert!(parse_time("t", "202413311205.30", DEFAULT_TIME_FORMAT).is_err());
    }

    fn module(args: Value) -> FileModule {
        let (a, _): (Args, Attrs) = crate::parse_args_with_attrs(args).unwrap();
        FileModule {
            path: a.path,
            state: a.state,
            src: a.src,
            attrs: Attrs::default(),
            recurse: a.recurse,
            force: a.force,
            follow: a.follow,
            mtime: Some(Time::At("2024-01-31 12:00:00".into())),
            atime: None,
        }
    }

    #[test]
    fn the_extras_parse_their_lines_and_refuse_garbage() {
        let m = module(json!({"path": "/d", "state": "directory", "recurse": true}));
        let x = ExtrasProbe(&m);
        let script = x.script();
        assert!(script.as_str().contains("date -d '2024-01-31 12:00:00' +%s"));
        assert!(script.as_str().contains("find -H \"$p\" -mindepth 1"));
        let got = x
            .parse(&["T m 1706702400", "T a ", "A /", "F d 755 0 4 root adm", "E", "D t"])
            .unwrap();
        assert_eq!(got.mtime, Some(HostTime::Epoch(1706702400)));
        assert_eq!(got.atime, Some(HostTime::Unreadable));
        assert_eq!(got.ancestor, Some(Ancestor::Dir("/".into())));
        assert_eq!(
            got.entries,
            [Entry {
                kind: "d".into(),
                perm: 0o755,
                uid: 0,
                gid: 4,
                owner: "root".into(),
                group: "adm".into()
            }]
        );
        assert!(got.empty_dir);
        assert_eq!(got.dangling.as_deref(), Some("t"));
        for bad in [
            "F d 755 0 root adm",
            "F d 7z5 0 0 root adm",
            "F d 755 x 0 root adm",
            "F d 755 0 0 root adm extra",
            "T m soon",
            "T x 1",
            "E yes",
            "Q",
        ] {
            assert!(x.parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_uninterpretable_time_fails_the_plan() {
        let m = module(json!({"path": "/f", "state": "touch"}));
        let extras = Extras {
            mtime: Some(HostTime::Unreadable),
            ..Extras::default()
        };
        let me = Probed {
            path: "/f".into(),
            parent_dir: true,
            ..Probed::default()
        };
        let cur = Current {
            me: &me,
            src: None,
            followed: None,
            extras: &extras,
        };
        let Err(e) = m.plan_file(&cur) else {
            panic!("planned with a time the host cannot read")
        };
        assert!(e.to_string().contains("cannot interpret the time"), "{e}");
        let extras = Extras {
            mtime: Some(HostTime::Epoch(7)),
            ..Extras::default()
        };
        let cur = Current {
            extras: &extras,
            ..cur
        };
        let fp = m.plan_file(&cur).unwrap();
        assert_eq!(fp.steps.summary, ["create /f", "set modification time of /f to @7"]);
        assert!(fp.steps.script.as_str().ends_with("touch -c -m -d @7 -- /f"));
        assert_eq!(fp.final_state, "file");
    }
}
