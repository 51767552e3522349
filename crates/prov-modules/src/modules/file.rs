//! `file`: ensures a path is a file (attributes only), a directory (parents created), absent,
//! a symbolic or hard link, or touched; with mode/owner/group (recursively for directories) and
//! access/modification times.
//!
//! One probe command reads everything the plan needs (the path, the link source, the deepest
//! existing ancestor, the wanted timestamps, a recursive listing when `recurse`); the plan's
//! action is one shell script doing exactly the planned steps.

use prov_core::Script;
use std::fmt::Write as _;

use async_trait::async_trait;
use prov_core::quote::quote;
use prov_core::{Action, Diff, Module, ModuleContext, ModuleError, Outcome, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Mode, de_bool};
use crate::remote_file::{
    AttrChange, Attrs, FileInfo, Kind, ProbeSpec, Probed, check_path, chmod_octal, mode_str,
    parent_of, probe, resolve_mode, same_principal, state_text,
};

fn yes() -> bool {
    true
}

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
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    group: Option<String>,
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
    let a: Args = crate::parse_args(args)?;
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
    if a.state == Some(State::Link) && a.mode.is_some() {
        return Err(ModuleError::args(
            "`mode` cannot be set on a symbolic link (Linux has no link permissions); set it on the target",
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
        attrs: Attrs {
            mode: a.mode,
            owner: a.owner,
            group: a.group,
        },
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

/// The plan under construction: shell steps, summary lines and the before/after state.
struct Steps {
    script: String,
    summary: Vec<String>,
}

impl Steps {
    fn new() -> Self {
        Self {
            script: "set -e\n".into(),
            summary: Vec::new(),
        }
    }

    fn add(&mut self, summary: impl Into<String>, script: impl AsRef<str>) {
        self.summary.push(summary.into());
        self.script.push_str(script.as_ref());
        if !self.script.ends_with('\n') {
            self.script.push('\n');
        }
    }

    fn changed(&self) -> bool {
        !self.summary.is_empty()
    }
}

/// Runs the planned script.
struct RunScript {
    script: String,
}

#[async_trait]
impl Action for RunScript {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        ctx.run_ok(&Script::__legacy(self.script)).await?;
        Ok(Outcome::default())
    }
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

    /// The attribute lines of the diff text for `info`-like values.
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

    /// Shell lines setting the attributes of a path this plan creates, and the new mode.
    fn new_path_attrs(
        &self,
        path: &str,
        base: u32,
        is_dir: bool,
        no_deref: bool,
    ) -> Result<(String, Option<u32>), ModuleError> {
        let mode = self.attrs.new_mode(base, is_dir)?;
        let ch = AttrChange {
            mode: mode.map(|m| (base, m)),
            owner: self.attrs.owner.clone().map(|o| (String::new(), o)),
            group: self.attrs.group.clone().map(|g| (String::new(), g)),
        };
        Ok((ch.script(path, no_deref), mode))
    }

    fn probe_specs(&self) -> Vec<ProbeSpec> {
        let state = self.state;
        let linkish = matches!(state, Some(State::Link | State::Hard));
        let mut extra = String::new();
        for (tag, t) in [("m", &self.mtime), ("a", &self.atime)] {
            if let Some(Time::At(s)) = t {
                let _ = writeln!(
                    extra,
                    "printf 'T {tag} %s\\n' \"$(date -d {} +%s)\"",
                    quote(s)
                );
            }
        }
        if state == Some(State::Directory) || (state.is_none() && self.recurse) {
            extra.push_str(
                "a=\"$p\"; while [ ! -e \"$a\" ] && [ ! -L \"$a\" ] && [ \"$a\" != / ] && [ \"$a\" != . ]; do a=$(dirname -- \"$a\"); done\n",
            );
            extra.push_str("if [ -d \"$a\" ]; then printf 'A %s\\n' \"$a\"; else printf 'N %s\\n' \"$a\"; fi\n");
            if self.recurse {
                let h = if self.follow { "-H " } else { "" };
                extra.push_str(&format!(
                    "if [ -d \"$p\" ]; then find {h}\"$p\" -mindepth 1 -printf 'F %y %m %U %G %u %g\\n'; fi\n"
                ));
            }
        }
        if linkish {
            extra.push_str("if [ -d \"$p\" ] && [ ! -L \"$p\" ] && [ -z \"$(ls -A -- \"$p\")\" ]; then echo E; fi\n");
        }
        if state == Some(State::Touch) {
            // A dangling link: `D <its target as written>`.
            extra.push_str(
                "if [ -L \"$p\" ] && [ ! -e \"$p\" ]; then printf 'D %s\\n' \"$(readlink -- \"$p\")\"; fi\n",
            );
        }
        let follow = self.follow && !linkish && state != Some(State::Absent);
        let mut specs = vec![ProbeSpec {
            follow,
            extra: (!extra.is_empty()).then_some(extra),
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

    fn wanted_time(
        &self,
        probed: &Probed,
        tag: &str,
        t: &Option<Time>,
        default: Time,
    ) -> Result<Time, ModuleError> {
        let t = t.clone().unwrap_or(default);
        if let Time::At(s) = &t {
            let line = probed
                .extra
                .iter()
                .find_map(|l| l.strip_prefix(&format!("T {tag} ")))
                .unwrap_or("");
            if line.trim().parse::<i64>().is_err() {
                return Err(fail(format!("the host cannot interpret the time {s:?}")));
            }
            return Ok(Time::At(line.trim().to_owned()));
        }
        Ok(t)
    }

    /// Timestamp steps for an existing `info` (or a new path when `None`).
    fn time_steps(
        &self,
        steps: &mut Steps,
        probed: &Probed,
        info: Option<&FileInfo>,
        default: Time,
        no_deref: bool,
    ) -> Result<(), ModuleError> {
        let m = self.wanted_time(probed, "m", &self.mtime, default.clone())?;
        let a = self.wanted_time(probed, "a", &self.atime, default)?;
        let p = quote(&self.path);
        let h = if no_deref { "-h " } else { "" };
        for (flag, name, t, cur) in [
            ("-m", "modification time", &m, info.map(|i| i.mtime)),
            ("-a", "access time", &a, info.map(|i| i.atime)),
        ] {
            match t {
                Time::Preserve => {}
                Time::Now => steps.add(
                    format!("set {name} of {} to now", self.path),
                    format!("touch -c {h}{flag} -- {p}"),
                ),
                Time::At(epoch) => {
                    if cur.map(|c| c.to_string()) != Some(epoch.clone()) {
                        steps.add(
                            format!("set {name} of {} to @{epoch}", self.path),
                            format!("touch -c {h}{flag} -d @{epoch} -- {p}"),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn plan_attrs(
        &self,
        steps: &mut Steps,
        info: &FileInfo,
        no_deref: bool,
    ) -> Result<AttrChange, ModuleError> {
        let ch = self.attrs.diff_against(info)?;
        if !ch.is_empty() {
            for line in ch.summary(&self.path) {
                steps.summary.push(line);
            }
            steps.script.push_str(&ch.script(&self.path, no_deref));
        }
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
        if !ch.is_empty() {
            steps.summary.extend(ch.summary(&self.path));
            steps.script.push_str(&ch.script(&self.path, true));
        }
        Ok(ch)
    }

    fn after_text(&self, state: &str, info: &FileInfo, ch: &AttrChange) -> String {
        let mode = ch.mode.map(|(_, m)| m).unwrap_or(info.mode);
        let owner = ch
            .owner
            .as_ref()
            .map(|(_, o)| o.clone())
            .unwrap_or(info.owner.clone());
        let group = ch
            .group
            .as_ref()
            .map(|(_, g)| g.clone())
            .unwrap_or(info.group.clone());
        state_text(
            &self.path,
            state,
            &self.attr_lines(Some(mode), Some(&owner), Some(&group)),
        )
    }

    fn plan_recursive(&self, steps: &mut Steps, probed: &Probed) -> Result<(), ModuleError> {
        let mut n_mode = 0usize;
        let mut n_owner = 0usize;
        for line in probed.extra.iter().filter_map(|l| l.strip_prefix("F ")) {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() != 6 {
                continue;
            }
            let (ty, perm) = (f[0], u32::from_str_radix(f[1], 8).unwrap_or(0));
            let uid: u32 = f[2].parse().unwrap_or(u32::MAX);
            let gid: u32 = f[3].parse().unwrap_or(u32::MAX);
            if ty != "l"
                && let Some(m) = &self.attrs.mode
                && resolve_mode(m, perm, ty == "d")? != perm
            {
                n_mode += 1;
            }
            let owner_off = self
                .attrs
                .owner
                .as_ref()
                .is_some_and(|o| !same_principal(o, f[4], uid));
            let group_off = self
                .attrs
                .group
                .as_ref()
                .is_some_and(|g| !same_principal(g, f[5], gid));
            if owner_off || group_off {
                n_owner += 1;
            }
        }
        let p = quote(&self.path);
        let h = if self.follow { "-H " } else { "" };
        if n_mode > 0
            && let Some(m) = &self.attrs.mode
        {
            let arg = match m {
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
            };
            steps.add(
                format!(
                    "mode of {n_mode} entries under {}: {}",
                    self.path,
                    m.chmod_arg()
                ),
                format!(
                    "find {h}{p} -mindepth 1 ! -type l -exec chmod {} {{}} +",
                    quote(&arg)
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
                format!("ownership of {n_owner} entries under {}: {spec}", self.path),
                format!(
                    "find {h}{p} -mindepth 1 -exec chown -h {} {{}} +",
                    quote(&spec)
                ),
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Module for FileModule {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let specs = self.probe_specs();
        let probed = probe(ctx, &specs).await?;
        let me = &probed[0];
        let src = self.src.as_ref().and_then(|_| probed.get(1));
        let followed = self.touches_through_link().then(|| probed.last()).flatten();
        let prev = me.info.as_ref();
        let prev_state = prev.map_or("absent", |i| {
            if i.kind == Kind::File && i.nlink > 1 {
                "hard"
            } else {
                i.kind.state_name()
            }
        });
        let state = match self.state {
            Some(s) => s,
            None => match prev.map(|i| i.kind) {
                Some(Kind::Dir) => State::Directory,
                Some(Kind::Link) => State::Link,
                Some(_) => State::File,
                None if self.recurse => State::Directory,
                None => State::File,
            },
        };
        let path = &self.path;
        let p = quote(path);
        let mut steps = Steps::new();
        let before = match prev {
            Some(i) => state_text(path, prev_state, &self.info_attr_lines(i)),
            None => state_text(path, "absent", &[]),
        };
        let after: String;
        let final_state: &str;
        if self.state.is_none()
            && let Some(i) = prev
            && i.kind == Kind::Link
        {
            // No state and an unfollowed link: only its owner/group.
            if self.attrs.mode.is_some() {
                return Err(fail(format!(
                    "{path} is a symbolic link: `mode` cannot be set on it (use follow: yes)"
                )));
            }
            let ch = self.plan_attrs(&mut steps, i, true)?;
            self.time_steps(&mut steps, me, Some(i), Time::Preserve, true)?;
            return Ok(self.finish(
                steps,
                before.clone(),
                self.after_text("link", i, &ch),
                "link",
                path,
            ));
        }
        match state {
            State::Absent => {
                final_state = "absent";
                after = state_text(path, "absent", &[]);
                if let Some(i) = prev {
                    let rm = if i.kind == Kind::Dir {
                        "rm -rf"
                    } else {
                        "rm -f"
                    };
                    steps.add(
                        format!("remove {path} ({prev_state})"),
                        format!("{rm} -- {p}"),
                    );
                }
            }
            State::File => {
                final_state = "file";
                let Some(i) = prev else {
                    return Err(fail(format!("file ({path}) is absent, cannot continue")));
                };
                if i.kind != Kind::File {
                    return Err(fail(format!(
                        "file ({path}) is {prev_state}, cannot continue"
                    )));
                }
                let ch = self.plan_attrs(&mut steps, i, false)?;
                self.time_steps(&mut steps, me, Some(i), Time::Preserve, false)?;
                after = self.after_text(prev_state, i, &ch);
            }
            State::Directory => {
                final_state = "directory";
                match prev {
                    Some(i) if i.kind == Kind::Dir => {
                        let ch = self.plan_attrs(&mut steps, i, false)?;
                        if self.recurse {
                            self.plan_recursive(&mut steps, me)?;
                        }
                        self.time_steps(&mut steps, me, Some(i), Time::Preserve, false)?;
                        after = self.after_text("directory", i, &ch);
                    }
                    Some(_) => {
                        return Err(fail(format!("{path} already exists as a {prev_state}")));
                    }
                    None => {
                        let ancestor = me
                            .extra
                            .iter()
                            .find_map(|l| l.strip_prefix("A "))
                            .ok_or_else(|| {
                                let n = me
                                    .extra
                                    .iter()
                                    .find_map(|l| l.strip_prefix("N "))
                                    .unwrap_or("?");
                                fail(format!(
                                    "cannot create {path}: {n} exists and is not a directory"
                                ))
                            })?;
                        let mut missing = Vec::new();
                        let mut cur = path.trim_end_matches('/').to_owned();
                        while cur != ancestor && cur != "/" && cur != "." && !cur.is_empty() {
                            missing.push(cur.clone());
                            cur = parent_of(&cur);
                        }
                        missing.reverse();
                        let mut final_mode = None;
                        for d in &missing {
                            let (attrs_script, mode) =
                                self.new_path_attrs(d, 0o755, true, false)?;
                            final_mode = mode;
                            steps.add(
                                format!("create directory {d}"),
                                format!("mkdir -p -- {}\n{attrs_script}", quote(d)),
                            );
                        }
                        self.time_steps(&mut steps, me, None, Time::Preserve, false)?;
                        after = state_text(
                            path,
                            "directory",
                            &self.attr_lines(
                                final_mode,
                                self.attrs.owner.as_deref(),
                                self.attrs.group.as_deref(),
                            ),
                        );
                    }
                }
            }
            State::Touch => {
                final_state = "file";
                // Ansible never creates a dangling link's target: it sets the times through
                // the link (`os.utime`), which fails, with or without `follow`.
                if let Some(t) = me.extra.iter().find_map(|l| l.strip_prefix("D ")) {
                    return Err(fail(format!(
                        "Error while updating modification or access time: {path} is a dangling symbolic link (its target {t} does not exist)"
                    )));
                }
                match prev {
                    Some(i) if i.kind == Kind::Link => {
                        // `follow: no`: owner and group go to the link itself (`chown -h`);
                        // `mode` is a no-op, as in Ansible (Linux cannot chmod a link, and
                        // the link's own 0777 is never compared); the times are the target's.
                        let target = followed
                            .and_then(|f| f.info.as_ref())
                            .ok_or_else(|| fail(format!("internal: {path}: no target probed")))?;
                        let ch = self.plan_attrs_without_mode(&mut steps, i)?;
                        self.time_steps(&mut steps, me, Some(target), Time::Now, false)?;
                        after = self.after_text(prev_state, i, &ch);
                    }
                    Some(i) => {
                        let ch = self.plan_attrs(&mut steps, i, false)?;
                        self.time_steps(&mut steps, me, Some(i), Time::Now, false)?;
                        after = self.after_text(prev_state, i, &ch);
                    }
                    None => {
                        if !me.parent_dir {
                            return Err(fail(format!(
                                "Error, could not touch target: directory {} does not exist",
                                parent_of(path)
                            )));
                        }
                        let (attrs_script, mode) =
                            self.new_path_attrs(path, 0o644, false, false)?;
                        steps.add(
                            format!("create {path}"),
                            format!("touch -- {p}\n{attrs_script}"),
                        );
                        self.time_steps(&mut steps, me, None, Time::Preserve, false)?;
                        after = state_text(
                            path,
                            "file",
                            &self.attr_lines(
                                mode,
                                self.attrs.owner.as_deref(),
                                self.attrs.group.as_deref(),
                            ),
                        );
                    }
                }
            }
            State::Link | State::Hard => {
                let hard = state == State::Hard;
                final_state = if hard { "hard" } else { "link" };
                let src_arg = self.src.clone().unwrap_or_default();
                let src_abs = self.src_abs().unwrap_or_default();
                let src_info = src.and_then(|s| s.info.as_ref());
                if src_info.is_none() && (hard || !self.force) {
                    return Err(fail(if hard {
                        format!("src does not exist: {src_abs}")
                    } else {
                        format!(
                            "src file does not exist, use \"force=yes\" if you really want to create the link: {src_abs}"
                        )
                    }));
                }
                let up_to_date = match prev {
                    None => false,
                    Some(i) if hard => {
                        i.kind == Kind::File
                            && src_info.is_some_and(|s| s.inode == i.inode && s.dev == i.dev)
                    }
                    Some(i) => {
                        i.kind == Kind::Link && i.link_target.as_deref() == Some(src_arg.as_str())
                    }
                };
                if up_to_date {
                    let i = prev.ok_or_else(|| fail("internal: missing state".into()))?;
                    let ch = self.plan_attrs(&mut steps, i, !hard)?;
                    self.time_steps(&mut steps, me, Some(i), Time::Preserve, !hard)?;
                    after = self.after_text(final_state, i, &ch);
                } else {
                    if let Some(i) = prev {
                        match i.kind {
                            Kind::Dir => {
                                let empty = me.extra.iter().any(|l| l == "E");
                                if !self.force {
                                    return Err(fail(format!(
                                        "refusing to convert from directory to {final_state} for {path}"
                                    )));
                                }
                                if !empty {
                                    return Err(fail(format!(
                                        "the directory {path} is not empty, refusing to convert it"
                                    )));
                                }
                                steps.script.push_str(&format!("rmdir -- {p}\n"));
                            }
                            Kind::Link => {}
                            _ if !self.force => {
                                return Err(fail(if hard {
                                    format!(
                                        "Cannot link, {prev_state} exists at destination: {path}"
                                    )
                                } else {
                                    format!(
                                        "refusing to convert from {prev_state} to symlink for {path}"
                                    )
                                }));
                            }
                            _ => {}
                        }
                    } else if !me.parent_dir {
                        return Err(fail(format!(
                            "Error while linking: directory {} does not exist",
                            parent_of(path)
                        )));
                    }
                    let ln = if hard { "ln -L" } else { "ln -s" };
                    let link_src = if hard { &src_abs } else { &src_arg };
                    let tmp = format!("{}/.prov-ln-{}", parent_of(path), std::process::id());
                    let base = if hard {
                        src_info.map_or(0o644, |s| s.mode)
                    } else {
                        0o644
                    };
                    let (attrs_script, _) = self.new_path_attrs(path, base, false, !hard)?;
                    let what = if hard { "hard link" } else { "symlink" };
                    steps.add(
                        format!("{what} {path} -> {link_src}"),
                        format!(
                            "t={t}; rm -f -- \"$t\"; {ln} -- {s} \"$t\"; mv -Tf -- \"$t\" {p}\n{attrs_script}",
                            t = quote(&tmp),
                            s = quote(link_src),
                        ),
                    );
                    self.time_steps(&mut steps, me, None, Time::Preserve, !hard)?;
                    let mode = if hard { src_info.map(|s| s.mode) } else { None };
                    let mut lines = vec![("src", link_src.clone())];
                    lines.extend(self.attr_lines(
                        self.attrs.new_mode(mode.unwrap_or(0o644), false)?.or(mode),
                        self.attrs.owner.as_deref(),
                        self.attrs.group.as_deref(),
                    ));
                    after = state_text(path, final_state, &lines);
                }
            }
        }
        let before = if let (Some(i), State::Link | State::Hard) = (prev, state) {
            let mut lines = Vec::new();
            if let Some(t) = &i.link_target {
                lines.push(("src", t.clone()));
            } else if let (true, Some(s)) =
                (state == State::Hard, src.and_then(|s| s.info.as_ref()))
                && s.inode == i.inode
            {
                lines.push(("src", self.src_abs().unwrap_or_default()));
            }
            lines.extend(self.info_attr_lines(i));
            state_text(path, prev_state, &lines)
        } else {
            before
        };
        Ok(self.finish(steps, before, after, final_state, path))
    }
}

impl FileModule {
    fn finish(
        &self,
        steps: Steps,
        before: String,
        after: String,
        final_state: &str,
        path: &str,
    ) -> Plan {
        let mut plan = if steps.changed() {
            let diffs = if before != after {
                vec![Diff::new(path, before, after)]
            } else {
                Vec::new()
            };
            let action = RunScript {
                script: steps.script.clone(),
            };
            Plan::changes(steps.summary.clone(), diffs, action)
        } else {
            Plan::unchanged()
        };
        plan.result_mut().insert("path".into(), json!(path));
        plan.result_mut().insert("state".into(), json!(final_state));
        if let Some(src) = &self.src {
            plan.result_mut().insert("src".into(), json!(src));
        }
        plan
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
}
