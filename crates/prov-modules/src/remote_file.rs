//! Shared helpers of the file modules (`copy`, `template`, `file`, `lineinfile`, `blockinfile`,
//! `stat`): one-command probes of remote paths, ownership/mode comparison, symbolic modes, local
//! hashing and diffs.
//!
//! A probe is ONE remote shell script that prints, per path, whether it exists, its `stat`
//! fields, owner and group names, link target, checksum and (optionally) its content, so a
//! module that finds nothing to change costs exactly one round trip.

use prov_core::Script;
use std::fmt::Write as _;

use prov_core::quote::quote;
use prov_core::{Diff, ModuleContext, ModuleError};
use sha2::Digest as _;

use crate::args::Mode;

/// Largest content (bytes) fetched or shown for a diff; bigger files get a note instead.
pub const DIFF_LIMIT: u64 = 100 * 1024;

/// Largest file that `lineinfile`/`blockinfile` edit (they read the whole file).
pub const EDIT_LIMIT: u64 = 32 * 1024 * 1024;

/// The type of a remote path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only when the probe does not follow links).
    Link,
    /// Anything else (device, fifo, socket).
    Other,
}

impl Kind {
    /// Ansible's name for the state (`file`, `directory`, `link`).
    pub fn state_name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Link => "link",
            Kind::Other => "special",
        }
    }
}

/// What `stat` says about an existing remote path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Its type.
    pub kind: Kind,
    /// The raw `st_mode` (type and permission bits).
    pub raw_mode: u32,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Owner name (`UNKNOWN` when the uid has no name).
    pub owner: String,
    /// Group name (`UNKNOWN` when the gid has no name).
    pub group: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (seconds since the epoch).
    pub mtime: i64,
    /// Access time.
    pub atime: i64,
    /// Status change time.
    pub ctime: i64,
    /// Inode number.
    pub inode: u64,
    /// Device number.
    pub dev: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// The link target (`readlink`) for a symbolic link.
    pub link_target: Option<String>,
    /// Checksum of a regular file, when asked for.
    pub checksum: Option<String>,
}

/// Whether a probe sends back the file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Never.
    Never,
    /// When it is a regular file of at most `limit` bytes.
    Always {
        /// Size limit.
        limit: u64,
    },
    /// When it is a regular file of at most `limit` bytes whose SHA-256 differs from `sha256`
    /// (the content is only needed for a diff; requires `checksum: Some("sha256sum")`).
    UnlessSha256 {
        /// The expected SHA-256 (hex).
        sha256: String,
        /// Size limit.
        limit: u64,
    },
}

/// One path to probe.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// The remote path.
    pub path: String,
    /// Follow a symbolic link (`stat -L`); a dangling link then counts as absent.
    pub follow: bool,
    /// Checksum command for regular files (`sha256sum`, `sha1sum`, `md5sum`...).
    pub checksum: Option<&'static str>,
    /// Whether to send back the content (only the LAST spec of a probe may ask).
    pub content: Content,
    /// When `path` is an existing directory, probe `path/NAME` instead (copy's `dest` dir).
    pub dir_append: Option<String>,
    /// When the path is a symbolic link, also report its canonical target (`readlink -f`), in
    /// [`Probed::real_path`].
    pub resolve: bool,
    /// Extra shell lines run before the `stat` of this path (`$p` holds the path); their output
    /// lines (which must not be `@` or start with one of the probe's keys) are collected in
    /// [`Probed::extra`]. Every value in them must be quoted by the caller.
    pub extra: Option<String>,
}

impl ProbeSpec {
    /// A spec for `path` with everything off.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            follow: false,
            checksum: None,
            content: Content::Never,
            dir_append: None,
            resolve: false,
            extra: None,
        }
    }
}

/// What one probed path looks like.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    /// The path actually probed (`path/NAME` when `dir_append` applied).
    pub path: String,
    /// True when `dir_append` applied because the path was a directory.
    pub into_dir: bool,
    /// True when the parent directory exists.
    pub parent_dir: bool,
    /// `stat` of the path; `None` when it does not exist.
    pub info: Option<FileInfo>,
    /// The content, when asked for and sent.
    pub content: Option<Vec<u8>>,
    /// True when content was asked for but the file is bigger than the limit.
    pub too_big: bool,
    /// The canonical target when [`ProbeSpec::resolve`] was set and the path is a link.
    pub real_path: Option<String>,
    /// Output lines of [`ProbeSpec::extra`].
    pub extra: Vec<String>,
}

impl Probed {
    /// True when the path exists.
    pub fn exists(&self) -> bool {
        self.info.is_some()
    }
}

/// Builds the shell script that probes `specs` in order.
///
/// Besides `sh` it starts one `stat` per existing path, plus the checksum command and `cat`
/// when asked for, and `readlink` for links: the parent directory is known beforehand and the
/// size test reads the `stat` line already taken.
pub fn probe_script(specs: &[ProbeSpec]) -> String {
    let mut s = String::new();
    for spec in specs {
        let _ = writeln!(s, "p={}", quote(&spec.path));
        let _ = writeln!(s, "d={}", quote(&parent_of(&spec.path)));
        s.push_str(
            "echo @
",
        );
        if let Some(name) = &spec.dir_append {
            let _ = writeln!(
                s,
                "if [ -d \"$p\" ]; then echo I; d=\"$p\"; p=\"${{p%/}}\"/{}; fi",
                quote(name)
            );
        }
        s.push_str("if [ -d \"$d\" ]; then echo P; fi\n");
        if let Some(extra) = &spec.extra {
            s.push_str(extra);
            if !extra.ends_with('\n') {
                s.push('\n');
            }
        }
        let (exists, stat) = if spec.follow {
            ("[ -e \"$p\" ]", "stat -L")
        } else {
            ("[ -e \"$p\" ] || [ -L \"$p\" ]", "stat")
        };
        let _ = writeln!(s, "if {exists}; then");
        if spec.resolve {
            // Only a link needs resolving: any other path is its own target.
            s.push_str(
                "  if [ -L \"$p\" ]; then printf 'R %s\\n' \"$(readlink -f -- \"$p\")\"; fi\n",
            );
        }
        let _ = writeln!(
            s,
            "  s=$({stat} --printf 'S %f %u %g %s %Y %X %Z %i %d %h\\nU %U\\nG %G\\n' -- \"$p\") || exit 97"
        );
        // The size, 5th field of the `S` line, for the content limits below.
        s.push_str("  printf '%s\\n' \"$s\"; z=${s#S * * * }; z=${z%% *}\n");
        let regular = if spec.follow {
            "[ -f \"$p\" ]"
        } else {
            s.push_str("  if [ -L \"$p\" ]; then printf 'L %s\\n' \"$(readlink -- \"$p\")\"; fi\n");
            "[ -f \"$p\" ] && [ ! -L \"$p\" ]"
        };
        let _ = writeln!(s, "  if {regular}; then :");
        let unreadable = "{ echo; echo \"cannot read $p\" >&2; exit 98; }";
        match (spec.checksum, &spec.content) {
            // Compared below: kept in `$c`.
            (Some(cmd), Content::UnlessSha256 { .. }) => {
                let _ = writeln!(
                    s,
                    "    c=$({cmd} < \"$p\") || {unreadable}; c=${{c%% *}}; echo \"C $c\""
                );
            }
            // Only reported: straight to the output (`C <sum>  -`).
            (Some(cmd), _) => {
                let _ = writeln!(s, "    printf 'C '; {cmd} < \"$p\" || {unreadable}");
            }
            (None, _) => {}
        }
        let cond = match &spec.content {
            Content::Never => None,
            Content::Always { limit } => Some(format!("[ \"$z\" -le {limit} ]")),
            Content::UnlessSha256 { sha256, limit } => Some(format!(
                "[ \"$z\" -le {limit} ] && [ \"$c\" != {} ]",
                quote(sha256)
            )),
        };
        if let Some(cond) = cond {
            if matches!(spec.content, Content::Always { .. }) {
                let _ = writeln!(
                    s,
                    "    if {cond}; then echo X; exec cat -- \"$p\"; else echo Z; fi"
                );
            } else {
                let _ = writeln!(s, "    if {cond}; then echo X; exec cat -- \"$p\"; fi");
            }
        }
        s.push_str("  fi\nfi\n");
    }
    s
}

/// Parses the output of [`probe_script`] for `specs`.
pub fn parse_probe(specs: &[ProbeSpec], out: &[u8]) -> Result<Vec<Probed>, ModuleError> {
    let mut result: Vec<Probed> = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        let line = String::from_utf8_lossy(line);
        if line == "@" {
            let path = specs
                .get(result.len())
                .map(|s| s.path.clone())
                .ok_or_else(|| bad_probe("more sections than paths"))?;
            result.push(Probed {
                path,
                ..Probed::default()
            });
            continue;
        }
        let idx = result.len().saturating_sub(1);
        let Some(cur) = result.last_mut() else {
            return Err(bad_probe(&format!("unexpected line `{line}`")));
        };
        let (key, value) = line.split_once(' ').unwrap_or((&line, ""));
        match key {
            "I" => {
                let spec = &specs[idx];
                let name = spec.dir_append.as_deref().unwrap_or_default();
                cur.path = format!("{}/{}", spec.path.trim_end_matches('/'), name);
                cur.into_dir = true;
            }
            "P" => cur.parent_dir = true,
            "S" => cur.info = Some(parse_stat_line(value)?),
            "U" => set_info(cur, |i| i.owner = value.to_owned())?,
            "G" => set_info(cur, |i| i.group = value.to_owned())?,
            "L" => set_info(cur, |i| i.link_target = Some(value.to_owned()))?,
            // `C <sum>` or, straight from the checksum command, `C <sum>  -`.
            "C" => {
                let sum = value
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                set_info(cur, |i| i.checksum = Some(sum))?
            }
            "Z" => cur.too_big = true,
            "R" => cur.real_path = Some(value.to_owned()),
            "X" => {
                cur.content = Some(rest.to_vec());
                rest = &rest[rest.len()..];
            }
            _ => cur.extra.push(line.into_owned()),
        }
    }
    if result.len() != specs.len() {
        return Err(bad_probe("missing sections"));
    }
    Ok(result)
}

fn set_info(p: &mut Probed, f: impl FnOnce(&mut FileInfo)) -> Result<(), ModuleError> {
    match p.info.as_mut() {
        Some(i) => {
            f(i);
            Ok(())
        }
        None => Err(bad_probe("attribute before stat")),
    }
}

fn bad_probe(what: &str) -> ModuleError {
    ModuleError::failed(format!(
        "unexpected output while inspecting the remote file: {what}"
    ))
}

fn parse_stat_line(value: &str) -> Result<FileInfo, ModuleError> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() != 10 {
        return Err(bad_probe(&format!("stat line `{value}`")));
    }
    let raw_mode = u32::from_str_radix(f[0], 16).map_err(|_| bad_probe("raw mode"))?;
    let num = |i: usize| {
        f[i].parse::<i64>()
            .map_err(|_| bad_probe(&format!("stat field `{}`", f[i])))
    };
    let kind = match raw_mode & 0o170000 {
        0o100000 => Kind::File,
        0o040000 => Kind::Dir,
        0o120000 => Kind::Link,
        _ => Kind::Other,
    };
    Ok(FileInfo {
        kind,
        raw_mode,
        mode: raw_mode & 0o7777,
        uid: num(1)? as u32,
        gid: num(2)? as u32,
        owner: String::new(),
        group: String::new(),
        size: num(3)? as u64,
        mtime: num(4)?,
        atime: num(5)?,
        ctime: num(6)?,
        inode: num(7)? as u64,
        dev: num(8)? as u64,
        nlink: num(9)? as u64,
        link_target: None,
        checksum: None,
    })
}

/// Runs one probe script for `specs` (one remote command) and parses it.
pub async fn probe(
    ctx: &ModuleContext<'_>,
    specs: &[ProbeSpec],
) -> Result<Vec<Probed>, ModuleError> {
    probe_with(ctx, specs, "").await
}

/// Like [`probe`] with extra shell lines run first (their output must not start with `@`).
pub async fn probe_with(
    ctx: &ModuleContext<'_>,
    specs: &[ProbeSpec],
    prelude: &str,
) -> Result<Vec<Probed>, ModuleError> {
    let script = format!("{prelude}{}", probe_script(specs));
    let out = ctx.run(&Script::__legacy(script)).await?;
    if !out.success() {
        let err = out.stderr_text();
        return Err(ModuleError::failed(if err.is_empty() {
            format!(
                "inspecting {} failed with status {}",
                specs.first().map_or("", |s| &s.path),
                out.status
            )
        } else {
            err
        }));
    }
    parse_probe(specs, &out.stdout)
}

/// Probes one path.
pub async fn probe_one(ctx: &ModuleContext<'_>, spec: ProbeSpec) -> Result<Probed, ModuleError> {
    let specs = [spec];
    let mut v = probe(ctx, &specs).await?;
    v.pop().ok_or_else(|| bad_probe("no section"))
}

// ---------------------------------------------------------------------------------------------
// Modes, owners, groups

/// Formats permission bits the way Ansible shows them (`0644`).
pub fn mode_str(mode: u32) -> String {
    format!("{mode:04o}")
}

/// The chmod argument for numeric bits. Five digits so that GNU chmod also clears the setuid /
/// setgid bits of a directory (it keeps them for a 4-digit mode).
pub fn chmod_octal(mode: u32) -> String {
    format!("0{mode:04o}")
}

/// Computes the permission bits `mode` gives a path whose bits are `current`.
pub fn resolve_mode(mode: &Mode, current: u32, is_dir: bool) -> Result<u32, ModuleError> {
    match mode {
        Mode::Octal(m) => Ok(*m),
        Mode::Symbolic(s) => apply_symbolic(s, current, is_dir).map_err(ModuleError::args),
    }
}

/// Applies a symbolic mode (`u=rw,g+r,o-w,a+X`) to `current`. A clause without a `who` part
/// applies to everyone (no umask is involved, so the result is predictable).
pub fn apply_symbolic(spec: &str, current: u32, is_dir: bool) -> Result<u32, String> {
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let bad = || format!("invalid symbolic mode clause `{clause}` in `{spec}`");
        let who_len = clause.find(['=', '+', '-']).ok_or_else(bad)?;
        let who_str = &clause[..who_len];
        let mut who: u32 = 0;
        for c in who_str.chars() {
            who |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return Err(bad()),
            };
        }
        if who == 0 {
            who = 0o7777;
        }
        let mut chars = clause[who_len..].chars().peekable();
        while let Some(op) = chars.next() {
            if !matches!(op, '=' | '+' | '-') {
                return Err(bad());
            }
            let mut bits: u32 = 0;
            while let Some(&c) = chars.peek() {
                if matches!(c, '=' | '+' | '-') {
                    break;
                }
                chars.next();
                bits |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' => {
                        if is_dir || mode & 0o111 != 0 {
                            0o111
                        } else {
                            0
                        }
                    }
                    's' => 0o6000,
                    't' => 0o1000,
                    'u' => spread((mode >> 6) & 7),
                    'g' => spread((mode >> 3) & 7),
                    'o' => spread(mode & 7),
                    _ => return Err(bad()),
                };
            }
            let bits = bits & who;
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => {
                    let mut clear = who & 0o777;
                    // Like GNU chmod: `=` keeps a directory's setuid/setgid bits unless named.
                    if !is_dir {
                        clear |= who & 0o6000;
                    }
                    clear |= who & 0o1000;
                    (mode & !clear) | bits
                }
            };
        }
    }
    Ok(mode)
}

fn spread(rwx: u32) -> u32 {
    rwx | (rwx << 3) | (rwx << 6)
}

/// Desired mode/owner/group of a path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// The mode.
    pub mode: Option<Mode>,
    /// The owner (name or uid).
    pub owner: Option<String>,
    /// The group (name or gid).
    pub group: Option<String>,
}

/// The attribute changes a path needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrChange {
    /// Old and new permission bits.
    pub mode: Option<(u32, u32)>,
    /// Old and new owner.
    pub owner: Option<(String, String)>,
    /// Old and new group.
    pub group: Option<(String, String)>,
}

impl AttrChange {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }

    /// One summary line per change, for `path`.
    pub fn summary(&self, path: &str) -> Vec<String> {
        let mut v = Vec::new();
        if let Some((a, b)) = self.mode {
            v.push(format!(
                "mode of {path}: {} -> {}",
                mode_str(a),
                mode_str(b)
            ));
        }
        if let Some((a, b)) = &self.owner {
            v.push(format!("owner of {path}: {a} -> {b}"));
        }
        if let Some((a, b)) = &self.group {
            v.push(format!("group of {path}: {a} -> {b}"));
        }
        v
    }

    /// The shell lines that make the change on `path` (links are not followed for owner and
    /// group when `no_deref`).
    pub fn script(&self, path: &str, no_deref: bool) -> String {
        let p = quote(path);
        let h = if no_deref { "-h " } else { "" };
        let mut s = String::new();
        match (&self.owner, &self.group) {
            (Some((_, o)), Some((_, g))) => {
                let _ = writeln!(s, "chown {h}{}:{} -- {p}", quote(o), quote(g));
            }
            (Some((_, o)), None) => {
                let _ = writeln!(s, "chown {h}{} -- {p}", quote(o));
            }
            (None, Some((_, g))) => {
                let _ = writeln!(s, "chgrp {h}{} -- {p}", quote(g));
            }
            (None, None) => {}
        }
        // chmod after chown: chown may clear setuid/setgid bits.
        if let Some((_, m)) = self.mode {
            let _ = writeln!(s, "chmod {} -- {p}", chmod_octal(m));
        }
        s
    }
}

/// True when the owner spec (`name` or a numeric uid) is what `name`/`id` already are.
pub fn same_principal(want: &str, name: &str, id: u32) -> bool {
    want == name || want.parse::<u32>().is_ok_and(|n| n == id)
}

impl Attrs {
    /// True when no attribute is requested.
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }

    /// What has to change on an existing path described by `info`.
    pub fn diff_against(&self, info: &FileInfo) -> Result<AttrChange, ModuleError> {
        let mut ch = AttrChange::default();
        if let Some(m) = &self.mode {
            let want = resolve_mode(m, info.mode, info.kind == Kind::Dir)?;
            if want != info.mode {
                ch.mode = Some((info.mode, want));
            }
        }
        if let Some(o) = &self.owner
            && !same_principal(o, &info.owner, info.uid)
        {
            ch.owner = Some((info.owner.clone(), o.clone()));
        }
        if let Some(g) = &self.group
            && !same_principal(g, &info.group, info.gid)
        {
            ch.group = Some((info.group.clone(), g.clone()));
        }
        Ok(ch)
    }

    /// The mode a new path gets, from `base` (0644 for a file, 0755 for a directory).
    pub fn new_mode(&self, base: u32, is_dir: bool) -> Result<Option<u32>, ModuleError> {
        self.mode
            .as_ref()
            .map(|m| resolve_mode(m, base, is_dir))
            .transpose()
    }
}

// ---------------------------------------------------------------------------------------------
// Content, hashing, diffs

/// SHA-256 (hex) of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// SHA-1 (hex) of `data`, Ansible's `checksum`.
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(data))
}

/// True when `data` is text worth showing in a diff (UTF-8 without NUL bytes, not too big).
pub fn is_diffable(data: &[u8]) -> bool {
    data.len() as u64 <= DIFF_LIMIT && !data.contains(&0) && std::str::from_utf8(data).is_ok()
}

/// A note standing in for content that is not shown (binary or too big).
pub fn content_note(size: u64, sha256: Option<&str>) -> String {
    match sha256 {
        Some(s) => format!("(binary or large content not shown: {size} bytes, sha256 {s})\n"),
        None => format!("(binary or large content not shown: {size} bytes)\n"),
    }
}

/// The diff of a file's content from `before` (`None` = absent) to `after` (`None` = removed),
/// with notes for content that cannot be shown.
pub fn content_diff(
    label: &str,
    before: Option<&[u8]>,
    before_note: Option<String>,
    after: Option<&[u8]>,
) -> Diff {
    let show = |d: Option<&[u8]>| -> String {
        match d {
            None => String::new(),
            Some(b) if is_diffable(b) => String::from_utf8_lossy(b).into_owned(),
            Some(b) => content_note(b.len() as u64, Some(&sha256_hex(b))),
        }
    };
    let before_text = match (before, before_note) {
        (Some(b), _) => show(Some(b)),
        (None, Some(note)) => note,
        (None, None) => String::new(),
    };
    Diff::new(label, before_text, show(after))
}

/// Text of an attribute diff (`path: X\nstate: file\nmode: 0644\n`) used by `file`.
pub fn state_text(path: &str, state: &str, attrs: &[(&str, String)]) -> String {
    let mut s = format!("path: {path}\nstate: {state}\n");
    for (k, v) in attrs {
        let _ = writeln!(s, "{k}: {v}");
    }
    s
}

/// The parent directory of a remote path (`.` for a bare name).
pub fn parent_of(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        None if path.starts_with('/') => "/".into(),
        Some(0) => "/".into(),
        Some(i) => trimmed[..i].into(),
        None => ".".into(),
    }
}

/// The last component of a path.
pub fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Fails with a clear message when a remote path argument is unusable.
pub fn check_path(module: &str, what: &str, path: &str) -> Result<(), ModuleError> {
    if path.is_empty() {
        return Err(ModuleError::args(format!(
            "{module}: `{what}` must not be empty"
        )));
    }
    if path.contains(['\0', '\n']) {
        return Err(ModuleError::args(format!(
            "{module}: `{what}` must not contain NUL or newline characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes() {
        assert_eq!(apply_symbolic("u=rw,g=r,o=r", 0o777, false).unwrap(), 0o644);
        assert_eq!(apply_symbolic("a+X", 0o644, true).unwrap(), 0o755);
        assert_eq!(apply_symbolic("a+X", 0o644, false).unwrap(), 0o644);
        assert_eq!(apply_symbolic("a+X", 0o744, false).unwrap(), 0o755);
        assert_eq!(apply_symbolic("go-w", 0o666, false).unwrap(), 0o644);
        assert_eq!(apply_symbolic("u+x,g=u", 0o640, false).unwrap(), 0o770);
        assert_eq!(apply_symbolic("+x", 0o644, false).unwrap(), 0o755);
        assert_eq!(apply_symbolic("u+s", 0o755, false).unwrap(), 0o4755);
        assert_eq!(apply_symbolic("o=", 0o777, false).unwrap(), 0o770);
        assert!(apply_symbolic("z=r", 0o644, false).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(parent_of("/etc/x"), "/etc");
        assert_eq!(parent_of("/x"), "/");
        assert_eq!(parent_of("x"), ".");
        assert_eq!(parent_of("/"), "/");
        assert_eq!(parent_of("x/"), ".");
        assert_eq!(basename("/a/b/"), "b");
    }

    #[test]
    fn parses_probe_output() {
        let specs = [ProbeSpec::new("/a"), ProbeSpec::new("/b")];
        let out =
            b"@\nP\nS 81a4 0 0 5 10 11 12 13 14 1\nU root\nG root\nC abc  -\n@\nP\nX\nhello\nworld";
        let p = parse_probe(&specs, out).unwrap();
        let i = p[0].info.as_ref().unwrap();
        assert_eq!(
            (i.kind, i.mode, i.size, i.owner.as_str()),
            (Kind::File, 0o644, 5, "root")
        );
        assert_eq!(i.checksum.as_deref(), Some("abc"));
        assert!(p[1].info.is_none());
        assert_eq!(p[1].content.as_deref(), Some(&b"hello\nworld"[..]));
    }
}
