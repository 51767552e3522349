//! `find`: lists the files under one or more directories that match names (shell patterns or
//! Python regexes), age, size, mode and content, with Ansible's stat fields per file. Read-only.
//!
//! ```yaml
//! find: { paths: /var/log, patterns: "*.log", age: 2w, recurse: yes }
//! ```
//!
//! One remote command lists every entry with its `lstat` fields (GNU `find -printf`, directory
//! order as `os.walk` sees it); the walk of Ansible's module (files before directories,
//! `depth`, `hidden`, `limit`, `examined`) is replayed on the controller by [`walk`]. Only
//! `contains` and `get_checksum` cost a second command, reading just the candidate files.
//! `follow: true` and an `encoding` other than utf-8 are refused.

use std::collections::HashMap;

use async_trait::async_trait;
use base64::Engine as _;
use prov_core::{CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Plan, Script, sh};
use regex::bytes::Regex;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{Mode, StringList, de_bool, de_opt_int, de_opt_string};
use crate::pyre;
use crate::remote_file::apply_symbolic;
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("find", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "name", alias = "path")]
    paths: StringList,
    #[serde(default, alias = "pattern")]
    patterns: StringList,
    #[serde(default, alias = "exclude")]
    excludes: StringList,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    read_whole_file: bool,
    #[serde(default)]
    file_type: FileType,
    #[serde(default, deserialize_with = "de_opt_string")]
    age: Option<String>,
    #[serde(default)]
    age_stamp: AgeStamp,
    #[serde(default, deserialize_with = "de_opt_string")]
    size: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    recurse: bool,
    #[serde(default, deserialize_with = "de_bool")]
    hidden: bool,
    #[serde(default, deserialize_with = "de_bool")]
    follow: bool,
    #[serde(default, deserialize_with = "de_bool")]
    get_checksum: bool,
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    checksum_algorithm: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    use_regex: bool,
    #[serde(default, deserialize_with = "de_opt_int")]
    depth: Option<i64>,
    #[serde(default)]
    mode: Option<Value>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    exact_mode: bool,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default, deserialize_with = "de_opt_int")]
    limit: Option<i64>,
}

fn yes() -> bool {
    true
}

/// `file_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// Regular files (the default).
    #[default]
    File,
    /// Directories.
    Directory,
    /// Symbolic links.
    Link,
    /// Everything.
    Any,
}

/// `age_stamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeStamp {
    /// Modification time (the default).
    #[default]
    Mtime,
    /// Access time.
    Atime,
    /// Status change time.
    Ctime,
}

/// One entry under a searched path, as `lstat` sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Relative to the searched path (`a/b`).
    pub rel: String,
    /// `find`'s `%y` type letter (`f d l b c p s`).
    pub ty: char,
    /// The type of a link's target (`%Y`), to sort links to directories as `os.walk` does.
    pub target_ty: char,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group ids.
    pub uid: u64,
    /// Group id.
    pub gid: u64,
    /// Size in bytes.
    pub size: u64,
    /// Inode, device, link count.
    pub inode: u64,
    /// Device number.
    pub dev: u64,
    /// Hard links.
    pub nlink: u64,
    /// Access, modification and change times (seconds, fractional).
    pub atime: f64,
    /// Modification time.
    pub mtime: f64,
    /// Status change time.
    pub ctime: f64,
    /// Owner name (`""` when the uid has none).
    pub pw_name: String,
    /// Group name (`""` when the gid has none).
    pub gr_name: String,
}

/// What one searched path holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// Not a directory: Ansible skips it with a warning.
    NotDir,
    /// Its entries in `find` order; `false` when `find` reported errors.
    Dir(Vec<Entry>, bool),
}

/// The listing of every searched path, with the host's clock.
pub struct ListFact<'a> {
    paths: &'a [String],
    maxdepth: Option<i64>,
}

/// The fields `find -printf` writes per entry, then `\0`, the relative path, `\0`.
const PRINTF: &str = "%y %Y %m %U %G %s %i %D %n %A@ %T@ %C@ %u %g\\0%P\\0";

impl Fact for ListFact<'_> {
    type Output = (f64, Vec<Listed>);

    fn name(&self) -> String {
        format!("listing of {}", self.paths.join(", "))
    }

    fn script(&self) -> Script {
        let depth = match self.maxdepth {
            Some(d) => sh!(" -maxdepth {}", d),
            None => Script::default(),
        };
        let mut s = Script::text("printf 'T %s\\0' \"$(date +%s.%N)\"");
        for p in self.paths {
            s = s.then(&sh!(
                "p={}\nif [ -d \"$p\" ]; then printf 'R\\0'; find \"$p\" -mindepth 1{} -printf {} 2>/dev/null || printf 'W\\0'; printf 'E\\0'; else printf 'X\\0'; fi",
                p,
                depth,
                PRINTF
            ));
        }
        s
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tokens = text.split('\0');
        let now = tokens
            .next()
            .and_then(|t| t.strip_prefix("T "))
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or_else(|| self.error("no clock line"))?;
        let mut listed = Vec::new();
        for _ in self.paths {
            match tokens.next() {
                Some("X") => listed.push(Listed::NotDir),
                Some("R") => listed.push(self.parse_dir(&mut tokens)?),
                other => return Err(self.error(format!("unexpected section {other:?}"))),
            }
        }
        Ok((now, listed))
    }
}

impl ListFact<'_> {
    fn parse_dir<'t>(&self, tokens: &mut impl Iterator<Item = &'t str>) -> Result<Listed, FactError> {
        let (mut entries, mut ok) = (Vec::new(), true);
        loop {
            match tokens.next() {
                Some("E") => return Ok(Listed::Dir(entries, ok)),
                Some("W") => ok = false,
                Some(fields) => {
                    let rel = tokens.next().ok_or_else(|| self.error("entry without a path"))?;
                    let e = parse_entry(fields, rel)
                        .ok_or_else(|| self.error(format!("unexpected entry `{fields}`")))?;
                    entries.push(e);
                }
                None => return Err(self.error("listing cut short")),
            }
        }
    }
}

fn parse_entry(fields: &str, rel: &str) -> Option<Entry> {
    let f: Vec<&str> = fields.split(' ').collect();
    if f.len() != 14 {
        return None;
    }
    let n = |i: usize| f[i].parse::<u64>().ok();
    let t = |i: usize| f[i].parse::<f64>().ok();
    let name = |i: usize, id: &str| if f[i] == id { String::new() } else { f[i].to_owned() };
    Some(Entry {
        rel: rel.to_owned(),
        ty: f[0].chars().next()?,
        target_ty: f[1].chars().next()?,
        mode: u32::from_str_radix(f[2], 8).ok()?,
        uid: n(3)?,
        gid: n(4)?,
        size: n(5)?,
        inode: n(6)?,
        dev: n(7)?,
        nlink: n(8)?,
        atime: t(9)?,
        mtime: t(10)?,
        ctime: t(11)?,
        pw_name: name(12, f[3]),
        gr_name: name(13, f[4]),
    })
}

/// Python's `fnmatch.translate`: a shell pattern as an anchored regex.
pub fn fnmatch_regex(pat: &str) -> String {
    let c: Vec<char> = pat.chars().collect();
    let (mut out, mut i) = (String::from("(?s)^(?:"), 0);
    while i < c.len() {
        let ch = c[i];
        i += 1;
        match ch {
            '*' => {
                if !out.ends_with(".*") {
                    out.push_str(".*");
                }
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if c.get(j) == Some(&'!') {
                    j += 1;
                }
                if c.get(j) == Some(&']') {
                    j += 1;
                }
                while j < c.len() && c[j] != ']' {
                    j += 1;
                }
                if j >= c.len() {
                    out.push_str("\\[");
                    continue;
                }
                out.push('[');
                for (k, &s) in c[i..j].iter().enumerate() {
                    if k == 0 && s == '!' {
                        out.push('^');
                        continue;
                    }
                    // Python escapes a leading `^` and backslashes; Rust needs `[`, `&`, `~`
                    // escaped too (class operators).
                    if matches!(s, '\\' | '[' | ']' | '&' | '~' | '^') {
                        out.push('\\');
                    }
                    out.push(s);
                }
                out.push(']');
                i = j + 1;
            }
            ch => out.push_str(&regex::escape(&ch.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// The name, age, size, mode and content filters.
#[derive(Debug, Clone)]
pub struct Filters {
    patterns: Vec<Regex>,
    excludes: Vec<Regex>,
    file_type: FileType,
    age: Option<i64>,
    age_stamp: AgeStamp,
    size: Option<i64>,
    mode: Option<(u32, bool)>,
    hidden: bool,
    recurse: bool,
    depth: Option<i64>,
    limit: Option<usize>,
    /// `contains`: the pattern for `search`, the anchored one for `match`, and
    /// `read_whole_file`.
    contains: Option<(Regex, Regex, bool)>,
}

impl Filters {
    fn names(&self, name: &str) -> bool {
        let hit = |res: &[Regex]| res.iter().any(|r| r.is_match(name.as_bytes()));
        hit(&self.patterns) && !hit(&self.excludes)
    }

    fn age_ok(&self, e: &Entry, now: f64) -> bool {
        let stamp = match self.age_stamp {
            AgeStamp::Mtime => e.mtime,
            AgeStamp::Atime => e.atime,
            AgeStamp::Ctime => e.ctime,
        };
        match self.age {
            None => true,
            Some(a) if a >= 0 => now - stamp >= a as f64,
            Some(a) => now - stamp <= a.unsigned_abs() as f64,
        }
    }

    fn size_ok(&self, e: &Entry) -> bool {
        match self.size {
            None => true,
            Some(s) if s >= 0 => e.size >= s as u64,
            Some(s) => e.size <= s.unsigned_abs(),
        }
    }

    fn mode_ok(&self, e: &Entry) -> bool {
        match self.mode {
            None => true,
            Some((m, true)) => e.mode & 0o7777 == m,
            Some((m, false)) => e.mode & m != 0,
        }
    }

    /// Whether the entry is listed, `content` deciding `contains` for regular files.
    fn keep(&self, e: &Entry, now: f64, content: &mut dyn FnMut(&Entry) -> bool) -> bool {
        let common = |s: &Self| s.names(basename(&e.rel)) && s.age_ok(e, now) && s.mode_ok(e);
        match (self.file_type, e.ty) {
            (FileType::Any, 'f') => common(self) && self.size_ok(e),
            (FileType::Any, _) | (FileType::Directory, 'd') | (FileType::Link, 'l') => common(self),
            (FileType::File, 'f') => common(self) && self.size_ok(e) && content(e),
            _ => false,
        }
    }

    /// Ansible's `contentfilter` on a file's bytes: `search` over the whole text, or `match`
    /// on each line (universal newlines).
    pub fn content_matches(&self, bytes: &[u8]) -> bool {
        let Some((search, anchored, whole)) = &self.contains else {
            return true;
        };
        let text = String::from_utf8_lossy(bytes)
            .replace("\r\n", "\n")
            .replace('\r', "\n");
        if *whole {
            return search.is_match(text.as_bytes());
        }
        text.split_inclusive('\n')
            .any(|l| anchored.is_match(l.strip_suffix('\n').unwrap_or(l).as_bytes()))
    }
}

fn basename(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// A searched path joined with a relative entry, normalized like `os.path.normpath`.
pub fn join_norm(root: &str, rel: &str) -> String {
    let joined = format!("{root}/{rel}");
    let abs = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if abs => {}
            p => parts.push(p),
        }
    }
    let body = parts.join("/");
    match (abs, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// The outcome of the walk over one searched path.
#[derive(Debug, Default)]
pub struct Walked {
    /// Indices of the listed entries, in Ansible's order.
    pub matched: Vec<usize>,
    /// Entries looked at (`examined`).
    pub looked: u64,
    /// The limit was reached.
    pub stopped: bool,
}

/// Ansible's `os.walk` loop over the entries of one searched path: per directory, files before
/// directories (a link to a directory counts as one), `depth` prunes, `hidden` skips names,
/// links are not descended into. `already` is the number of files matched before this path.
pub fn walk(
    f: &Filters,
    entries: &[Entry],
    now: f64,
    already: usize,
    content: &mut dyn FnMut(&Entry) -> bool,
) -> Walked {
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let parent = e.rel.rsplit_once('/').map_or("", |(p, _)| p);
        children.entry(parent).or_default().push(i);
    }
    let mut w = Walked::default();
    let mut stack = vec![""];
    while let Some(root) = stack.pop() {
        let kids = children.get(root).map_or(&[][..], Vec::as_slice);
        let is_dir = |i: &usize| {
            let e = &entries[*i];
            e.ty == 'd' || (e.ty == 'l' && e.target_ty == 'd')
        };
        let (dirs, files): (Vec<usize>, Vec<usize>) = kids.iter().copied().partition(is_dir);
        w.looked += kids.len() as u64;
        let mut prune = false;
        for &i in files.iter().chain(&dirs) {
            let e = &entries[i];
            if f.depth.is_some_and(|d| e.rel.matches('/').count() as i64 + 1 > d) {
                prune = true;
                continue;
            }
            if basename(&e.rel).starts_with('.') && !f.hidden {
                continue;
            }
            if f.keep(e, now, content) {
                w.matched.push(i);
            }
            if f.limit == Some(already + w.matched.len()) {
                w.stopped = true;
                break;
            }
        }
        if !f.recurse || w.stopped {
            break;
        }
        if !prune {
            let real: Vec<&str> = dirs.iter().filter(|i| entries[**i].ty == 'd').map(|i| entries[*i].rel.as_str()).collect();
            stack.extend(real.into_iter().rev());
        }
    }
    w
}

/// Ansible's `statinfo` for an entry.
pub fn statinfo(path: &str, e: &Entry) -> Map<String, Value> {
    let m = e.mode;
    let bit = |b: u32| json!(m & b != 0);
    let mut r = Map::new();
    for (k, v) in [
        ("path", json!(path)),
        ("mode", json!(format!("{:04o}", m & 0o7777))),
        ("isdir", json!(e.ty == 'd')),
        ("ischr", json!(e.ty == 'c')),
        ("isblk", json!(e.ty == 'b')),
        ("isreg", json!(e.ty == 'f')),
        ("isfifo", json!(e.ty == 'p')),
        ("islnk", json!(e.ty == 'l')),
        ("issock", json!(e.ty == 's')),
        ("uid", json!(e.uid)),
        ("gid", json!(e.gid)),
        ("size", json!(e.size)),
        ("inode", json!(e.inode)),
        ("dev", json!(e.dev)),
        ("nlink", json!(e.nlink)),
        ("atime", json!(e.atime)),
        ("mtime", json!(e.mtime)),
        ("ctime", json!(e.ctime)),
        ("gr_name", json!(e.gr_name)),
        ("pw_name", json!(e.pw_name)),
        ("wusr", bit(0o200)),
        ("rusr", bit(0o400)),
        ("xusr", bit(0o100)),
        ("wgrp", bit(0o020)),
        ("rgrp", bit(0o040)),
        ("xgrp", bit(0o010)),
        ("woth", bit(0o002)),
        ("roth", bit(0o004)),
        ("xoth", bit(0o001)),
        ("isuid", bit(0o4000)),
        ("isgid", bit(0o2000)),
    ] {
        r.insert(k.to_owned(), v);
    }
    r
}

/// Reads some files (base64 of the content, or a checksum), one line each: `+DATA` or `-`.
pub struct FilesFact {
    paths: Vec<String>,
    checksum: Option<&'static str>,
}

impl Fact for FilesFact {
    type Output = Vec<Option<Vec<u8>>>;

    fn name(&self) -> String {
        format!("content of {} files", self.paths.len())
    }

    fn script(&self) -> Script {
        let mut s = Script::text("for f in");
        for p in &self.paths {
            s = s.arg(p);
        }
        match self.checksum {
            None => s.then_text("; do if c=$(base64 -w0 -- \"$f\"); then echo \"+$c\"; else echo -; fi; done"),
            Some(cmd) => s
                .then_text("; do if c=$(")
                .then_text(cmd)
                .then_text(" < \"$f\"); then echo \"+${c%% *}\"; else echo -; fi; done"),
        }
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        let text = out.stdout_text();
        let lines: Vec<&str> = text.lines().collect();
        if !out.success() || lines.len() != self.paths.len() {
            return Err(self.error(format!("{} lines for {} files", lines.len(), self.paths.len())));
        }
        lines
            .iter()
            .map(|l| match l.strip_prefix('+') {
                None if *l == "-" => Ok(None),
                None => Err(self.error(format!("unexpected line `{l}`"))),
                Some(d) if self.checksum.is_some() => Ok(Some(d.as_bytes().to_vec())),
                Some(d) => base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .map(Some)
                    .map_err(|e| self.error(format!("bad base64: {e}"))),
            })
            .collect()
    }
}

/// Matched files (path, entry), entries examined, skipped paths, Ansible's message.
type WalkAll = (Vec<(String, Entry)>, u64, Map<String, Value>, &'static str);

struct Find {
    paths: Vec<String>,
    filters: Filters,
    checksum: Option<&'static str>,
}

impl Find {
    /// `os.walk` over every path; `content` answers `contains`.
    fn walk_all(
        &self,
        now: f64,
        listed: &[Listed],
        content: &mut dyn FnMut(&Entry) -> bool,
    ) -> WalkAll {
        let (mut files, mut looked, mut skipped) = (Vec::new(), 0, Map::new());
        let mut msg = "All paths examined";
        for (p, l) in self.paths.iter().zip(listed) {
            let Listed::Dir(entries, ok) = l else {
                skipped.insert(p.clone(), json!(format!("'{p}' is not a directory")));
                continue;
            };
            if !ok {
                skipped.insert(p.clone(), json!("find reported errors reading some entries"));
            }
            let w = walk(&self.filters, entries, now, files.len(), content);
            looked += w.looked;
            for i in w.matched {
                files.push((join_norm(p, &entries[i].rel), entries[i].clone()));
            }
            if w.stopped {
                msg = "Limit of matches reached";
            }
        }
        if !skipped.is_empty() {
            msg = "Not all paths examined, check warnings for details";
        }
        (files, looked, skipped, msg)
    }
}

#[async_trait]
impl Module for Find {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let maxdepth = match (self.filters.recurse, self.filters.depth) {
            (false, _) => Some(1),
            (true, Some(d)) if d > 0 => Some(d + 1),
            (true, _) => None,
        };
        let (now, listed) = ctx
            .fact(&ListFact { paths: &self.paths, maxdepth })
            .await?;
        let mut contents: HashMap<String, bool> = HashMap::new();
        if self.filters.contains.is_some() {
            // A first pass names the candidates; their content is read in one command.
            let mut wanted = Vec::new();
            let all = Filters { limit: None, ..self.filters.clone() };
            let me = Find { paths: self.paths.clone(), filters: all, checksum: None };
            let (cands, ..) = me.walk_all(now, &listed, &mut |_| true);
            wanted.extend(cands.into_iter().filter(|(_, e)| e.ty == 'f').map(|(p, _)| p));
            if !wanted.is_empty() {
                let got = ctx.fact(&FilesFact { paths: wanted.clone(), checksum: None }).await?;
                for (p, c) in wanted.into_iter().zip(got) {
                    let hit = c.is_some_and(|b| self.filters.content_matches(&b));
                    contents.insert(p, hit);
                }
            }
        }
        let paths = self.paths.clone();
        let no_contains = self.filters.contains.is_none();
        let mut content = |e: &Entry| {
            no_contains
                || paths.iter().any(|p| contents.get(&join_norm(p, &e.rel)).copied().unwrap_or(false))
        };
        let (files, looked, skipped, msg) = self.walk_all(now, &listed, &mut content);
        let mut out: Vec<Map<String, Value>> = files.iter().map(|(p, e)| statinfo(p, e)).collect();
        if let Some(cmd) = self.checksum {
            let regular: Vec<usize> = (0..files.len()).filter(|i| files[*i].1.ty == 'f').collect();
            if !regular.is_empty() {
                let paths = regular.iter().map(|i| files[*i].0.clone()).collect();
                let sums = ctx.fact(&FilesFact { paths, checksum: Some(cmd) }).await?;
                for (i, sum) in regular.into_iter().zip(sums) {
                    let sum = sum.map(|s| String::from_utf8_lossy(&s).into_owned());
                    out[i].insert("checksum".into(), json!(sum));
                }
            }
        }
        Ok(Plan::unchanged()
            .with_result("matched", json!(out.len()))
            .with_result("files", json!(out))
            .with_result("examined", json!(looked))
            .with_result("msg", json!(msg))
            .with_result("skipped_paths", Value::Object(skipped)))
    }
}

/// `age` (`-2w`, `30`, `1d`) in seconds, or `size` (`10k`, `-1m`) in bytes.
fn with_unit(text: &str, units: &[(char, i64)]) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let (num, unit) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => (&t[..t.len() - 1], Some(c)),
        _ => (t.as_str(), None),
    };
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        None => 1,
        Some(u) => units.iter().find(|(c, _)| *c == u)?.1,
    };
    n.checked_mul(mult)
}

fn compile_all(what: &str, pats: &[String], regex: bool) -> Result<Vec<Regex>, ModuleError> {
    pats.iter()
        .map(|p| match regex {
            true => pyre::compile("find", what, &format!("\\A(?:{p})")),
            false => Regex::new(&fnmatch_regex(p))
                .map_err(|e| ModuleError::arg(what, format!("pattern `{p}`: {e}"))),
        })
        .collect()
}

/// `mode` as Ansible reads it: octal text, else symbolic applied to 0.
fn find_mode(v: &Value) -> Result<u32, ModuleError> {
    let Value::String(s) = v else {
        return Err(ModuleError::arg(
            "mode",
            "argument 'mode' is not a string and conversion is not allowed",
        ));
    };
    match Mode::parse(s).map_err(|e| ModuleError::arg("mode", e))? {
        Mode::Octal(m) => Ok(m),
        Mode::Symbolic(sym) => apply_symbolic(&sym, 0, false).map_err(|e| ModuleError::arg("mode", e)),
    }
}

fn checksum_cmd(algo: Option<&str>) -> Result<&'static str, ModuleError> {
    Ok(match algo.unwrap_or("sha1") {
        "md5" => "md5sum",
        "sha1" => "sha1sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        other => {
            return Err(ModuleError::arg(
                "checksum_algorithm",
                format!("value of checksum_algorithm must be one of: md5, sha1, sha224, sha256, sha384, sha512, got: {other}"),
            ));
        }
    })
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(find_from(args)?))
}

fn find_from(args: Value) -> Result<Find, ModuleError> {
    let a: Args = parse_args(args)?;
    if a.follow {
        return Err(ModuleError::arg("follow", "following links (follow: true) is not implemented"));
    }
    if let Some(enc) = &a.encoding
        && !matches!(enc.to_ascii_lowercase().as_str(), "utf-8" | "utf8")
    {
        return Err(ModuleError::arg("encoding", format!("only utf-8 is supported, not {enc}")));
    }
    if a.paths.0.is_empty() {
        return Err(ModuleError::arg("paths", "at least one path is required"));
    }
    for p in &a.paths.0 {
        crate::remote_file::check_path("find", "paths", p)?;
    }
    let age = a.age.as_deref().map(|t| {
        with_unit(t, &[('s', 1), ('m', 60), ('h', 3600), ('d', 86400), ('w', 604_800)])
            .ok_or_else(|| ModuleError::arg("age", format!("failed to process age: {t}")))
    });
    let k = 1024i64;
    let size = a.size.as_deref().map(|t| {
        with_unit(t, &[('b', 1), ('k', k), ('m', k * k), ('g', k * k * k), ('t', k * k * k * k)])
            .ok_or_else(|| ModuleError::arg("size", format!("failed to process size: {t}")))
    });
    let limit = match a.limit {
        Some(l) if l <= 0 => {
            return Err(ModuleError::arg("limit", format!("limit cannot be {l} (use None for unlimited)")));
        }
        l => l.map(|l| l as usize),
    };
    let patterns = match a.patterns.0.is_empty() {
        true => vec![if a.use_regex { ".*" } else { "*" }.to_owned()],
        false => a.patterns.0,
    };
    let contains = a
        .contains
        .as_deref()
        .map(|c| -> Result<_, ModuleError> {
            Ok((
                pyre::compile("find", "contains", c)?,
                pyre::compile("find", "contains", &format!("\\A(?:{c})"))?,
                a.read_whole_file,
            ))
        })
        .transpose()?;
    let filters = Filters {
        patterns: compile_all("patterns", &patterns, a.use_regex)?,
        excludes: compile_all("excludes", &a.excludes.0, a.use_regex)?,
        file_type: a.file_type,
        age: age.transpose()?,
        age_stamp: a.age_stamp,
        size: size.transpose()?,
        mode: a.mode.as_ref().map(find_mode).transpose()?.map(|m| (m, a.exact_mode)),
        hidden: a.hidden,
        recurse: a.recurse,
        depth: a.depth.filter(|d| *d != 0),
        limit,
        contains,
    };
    let checksum = match a.get_checksum {
        true => Some(checksum_cmd(a.checksum_algorithm.as_deref())?),
        false => None,
    };
    Ok(Find { paths: a.paths.0, filters, checksum })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn entry(rel: &str, ty: char, size: u64, mtime: f64) -> Entry {
        Entry {
            rel: rel.into(),
            ty,
            target_ty: ty,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
            inode: 1,
            dev: 2,
            nlink: 1,
            atime: mtime,
            mtime,
            ctime: mtime,
            pw_name: "root".into(),
            gr_name: "root".into(),
        }
    }

    fn filters(v: Value) -> Filters {
        let mut args = json!({"paths": "/d"});
        args.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
        find_from(args).unwrap().filters
    }

    fn names(f: &Filters, entries: &[Entry]) -> (Vec<String>, u64) {
        let w = walk(f, entries, 1000.0, 0, &mut |_| true);
        (w.matched.iter().map(|i| entries[*i].rel.clone()).collect(), w.looked)
    }

    #[test]
    fn fnmatch_like_python() {
        let m = |p: &str, s: &str| Regex::new(&fnmatch_regex(p)).unwrap().is_match(s.as_bytes());
        assert!(m("*.log", "a.log") && !m("*.log", "a.log.1"));
        assert!(m("a?[0-9]", "ab7") && !m("a?[!0-9]", "ab7"));
        assert!(m("[]x]", "]") && m("[^x]", "^") && !m("[^x]", "y"));
        assert!(m("a[", "a[") && m("x.y", "x.y") && !m("x.y", "xzy"));
    }

    #[test]
    fn the_walk_is_ansibles() {
        // find order: a dir's entries, each directory followed by its own entries.
        let es = vec![
            entry("sub", 'd', 0, 0.0),
            entry("sub/deep.log", 'f', 10, 0.0),
            entry("sub/more", 'd', 0, 0.0),
            entry("sub/more/x.log", 'f', 10, 0.0),
            entry("a.log", 'f', 5000, 990.0),
            entry(".hidden.log", 'f', 1, 0.0),
            entry("b.txt", 'f', 1, 0.0),
        ];
        let f = filters(json!({"patterns": "*.log"}));
        assert_eq!(names(&f, &es), (vec!["a.log".into()], 4), "no recursion: the top only");
        let f = filters(json!({"patterns": "*.log", "recurse": true, "hidden": true}));
        assert_eq!(
            names(&f, &es).0,
            ["a.log", ".hidden.log", "sub/deep.log", "sub/more/x.log"]
        );
        let f = filters(json!({"patterns": ["*.log"], "recurse": true, "depth": 2}));
        assert_eq!(names(&f, &es), (vec!["a.log".into(), "sub/deep.log".into()], 7));
        let f = filters(json!({"recurse": true, "file_type": "directory"}));
        assert_eq!(names(&f, &es).0, ["sub", "sub/more"]);
        let f = filters(json!({"age": "60s"}));
        assert_eq!(names(&f, &es).0, ["b.txt"], "old enough: not a.log (10 s old)");
        let f = filters(json!({"size": "2k"}));
        assert_eq!(names(&f, &es).0, ["a.log"]);
        let f = filters(json!({"patterns": "^[ab]\\.", "use_regex": true, "excludes": "b"}));
        assert_eq!(names(&f, &es).0, ["a.log"]);
        let f = filters(json!({"recurse": true, "limit": 2}));
        assert_eq!(names(&f, &es).0, ["a.log", "b.txt"]);
    }

    #[test]
    fn the_listing_parses_and_refuses_garbage() {
        let paths = ["/d".to_owned(), "/f".to_owned()];
        let fact = ListFact { paths: &paths, maxdepth: Some(1) };
        let out = |s: &str| CommandOutput { status: 0, stdout: s.as_bytes().to_vec(), stderr: vec![] };
        let ok = "T 100.5\0R\0f f 644 0 0 3 7 8 1 1.5 2.5 3.5 root 0\0a b\0W\0E\0X\0";
        let (now, listed) = fact.parse(&out(ok)).unwrap();
        assert_eq!(now, 100.5);
        let Listed::Dir(es, false) = &listed[0] else { panic!("{listed:?}") };
        assert_eq!((es[0].rel.as_str(), es[0].mode, es[0].gr_name.as_str()), ("a b", 0o644, ""));
        assert_eq!(listed[1], Listed::NotDir);
        assert!(fact.parse(&out("T 1\0R\0f f x\0a\0E\0X\0")).is_err());
        assert!(fact.parse(&out("T 1\0R\0")).is_err());
        assert!(fact.script().as_str().contains("-maxdepth 1"));
    }

    #[test]
    fn contains_matches_lines_from_their_start() {
        let mut f = filters(json!({}));
        f.contains = Some((Regex::new("b=1").unwrap(), Regex::new("\\A(?:b=1)").unwrap(), false));
        assert!(f.content_matches(b"a\nb=1\n"));
        assert!(!f.content_matches(b"a\nxb=1\n"));
        f.contains.as_mut().unwrap().2 = true;
        assert!(f.content_matches(b"a\nxb=1\n"));
    }

    #[test]
    fn args() {
        assert!(build(json!({"paths": ["/a", "/b"], "age": "-2w", "size": "10m"})).is_ok());
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"paths": "/a", "follow": true})).as_deref(), Some("follow"));
        assert_eq!(field(json!({"paths": "/a", "age": "2y"})).as_deref(), Some("age"));
        assert_eq!(field(json!({"paths": "/a", "mode": 644})).as_deref(), Some("mode"));
        assert_eq!(field(json!({"paths": "/a", "limit": 0})).as_deref(), Some("limit"));
        assert_eq!(field(json!({"paths": "/a", "file_type": "socket"})).as_deref(), Some("file_type"));
    }
}
