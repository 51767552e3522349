//! Shared helpers of the file modules (`copy`, `template`, `file`, `lineinfile`, `blockinfile`,
//! `stat`): one-command probes of remote paths, ownership/mode comparison, symbolic modes, local
//! hashing and diffs.
//!
//! [`PathsFact`] is ONE remote shell script that prints, per path, whether it exists, its `stat`
//! fields, owner and group names, link target, checksum and (optionally) its content, so a
//! module that finds nothing to change costs exactly one round trip. A module that needs more
//! in the same command gives a [`ProbePreamble`]: its own lines, printed and parsed by it.

use std::fmt::Write as _;

use prov_core::{CommandOutput, Diff, Fact, FactError, ModuleContext, ModuleError, Script, sh};
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
}

impl Probed {
    /// True when the path exists.
    pub fn exists(&self) -> bool {
        self.info.is_some()
    }
}

/// More facts about the probed paths, read in the same remote command as the paths (one round
/// trip): the type that prints these lines is the one that parses them.
///
/// The preamble runs first, before the paths' sections (it sets its own shell variables); none
/// of its lines may be `@`, the line that opens a path's section.
pub trait ProbePreamble: Send + Sync {
    /// What the preamble reads, typed.
    type Output;

    /// The shell lines (they must not change the host).
    fn script(&self) -> Script;

    /// Parses the preamble's lines; an error says what was wrong with them.
    fn parse(&self, lines: &[&str]) -> Result<Self::Output, String>;
}

/// No preamble: the paths only.
impl ProbePreamble for () {
    type Output = ();

    fn script(&self) -> Script {
        Script::default()
    }

    fn parse(&self, lines: &[&str]) -> Result<(), String> {
        match lines.first() {
            None => Ok(()),
            Some(l) => Err(format!("unexpected line `{l}` before the first path")),
        }
    }
}

/// The state of remote paths (type, `stat` fields, owner and group names, link target,
/// checksum, content, as each [`ProbeSpec`] asks), with a [`ProbePreamble`]'s facts, in ONE
/// remote command.
///
/// Each path's section opens with a line `@`; its lines are tagged by one letter: `I` (the
/// name was appended to a directory), `P` (the parent directory exists), `S` (the `stat`
/// fields), `U`/`G` (owner and group names), `L` (link target), `C` (checksum), `R` (canonical
/// target), `Z` (content too big), `X` (the content follows, to the end of the output).
pub struct PathsFact<'a, X = ()> {
    /// The paths, in order.
    pub specs: &'a [ProbeSpec],
    /// What else is read in the same command.
    pub preamble: X,
}

impl<'a> PathsFact<'a> {
    /// The paths alone.
    pub fn new(specs: &'a [ProbeSpec]) -> Self {
        Self {
            specs,
            preamble: (),
        }
    }
}

impl<'a, X: ProbePreamble> PathsFact<'a, X> {
    /// The paths with a preamble.
    pub fn with(specs: &'a [ProbeSpec], preamble: X) -> Self {
        Self { specs, preamble }
    }
}

impl<X: ProbePreamble> Fact for PathsFact<'_, X> {
    type Output = (Vec<Probed>, X::Output);

    fn name(&self) -> String {
        let paths: Vec<&str> = self.specs.iter().map(|s| s.path.as_str()).collect();
        format!("stat of {}", paths.join(", "))
    }

    fn script(&self) -> Script {
        self.preamble.script().then(&probe_script(self.specs))
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let (pre, paths) = split_preamble(&out.stdout);
        let pre = String::from_utf8_lossy(pre);
        let lines: Vec<&str> = pre.lines().collect();
        let extra = self.preamble.parse(&lines).map_err(|e| self.error(e))?;
        let probed = parse_probe(self.specs, paths).map_err(|e| self.error(e))?;
        Ok((probed, extra))
    }
}

/// Splits the output at the first line `@`: the preamble's lines, then the paths' sections.
fn split_preamble(out: &[u8]) -> (&[u8], &[u8]) {
    if out.starts_with(b"@\n") || out == b"@" {
        return (&[], out);
    }
    match out.windows(3).position(|w| w == b"\n@\n") {
        Some(i) => (&out[..=i], &out[i + 1..]),
        None if out.ends_with(b"\n@") => (&out[..out.len() - 1], &out[out.len() - 1..]),
        None => (out, &[]),
    }
}

/// Builds the shell script that probes `specs` in order.
///
/// Besides `sh` it starts one `stat` per existing path, plus the checksum command and `cat`
/// when asked for, and `readlink` for links: the parent directory is known beforehand and the
/// size test reads the `stat` line already taken.
pub fn probe_script(specs: &[ProbeSpec]) -> Script {
    specs
        .iter()
        .fold(Script::default(), |s, spec| s.then(&spec_script(spec)))
}

/// The section of one path.
fn spec_script(spec: &ProbeSpec) -> Script {
    let mut s = sh!("p={}\nd={}\necho @\n", spec.path, parent_of(&spec.path));
    if let Some(name) = &spec.dir_append {
        s = s.then(&sh!(
            "if [ -d \"$p\" ]; then echo I; d=\"$p\"; p=\"${{p%/}}\"/{}; fi\n",
            name
        ));
    }
    s = s.then_text("if [ -d \"$d\" ]; then echo P; fi\n");
    s = s.then_text(if spec.follow {
        "if [ -e \"$p\" ]; then\n"
    } else {
        "if [ -e \"$p\" ] || [ -L \"$p\" ]; then\n"
    });
    if spec.resolve {
        // Only a link needs resolving: any other path is its own target.
        s = s.then_text(
            "  if [ -L \"$p\" ]; then printf 'R %s\\n' \"$(readlink -f -- \"$p\")\"; fi\n",
        );
    }
    s = s
        .then_text(if spec.follow {
            "  s=$(stat -L"
        } else {
            "  s=$(stat"
        })
        .then_text(
            " --printf 'S %f %u %g %s %Y %X %Z %i %d %h\\nU %U\\nG %G\\n' -- \"$p\") || exit 97\n",
        )
        // The size, 5th field of the `S` line, for the content limits below.
        .then_text("  printf '%s\\n' \"$s\"; z=${s#S * * * }; z=${z%% *}\n");
    s = if spec.follow {
        s.then_text("  if [ -f \"$p\" ]; then :\n")
    } else {
        s.then_text("  if [ -L \"$p\" ]; then printf 'L %s\\n' \"$(readlink -- \"$p\")\"; fi\n")
            .then_text("  if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then :\n")
    };
    s.then(&checksum_script(spec))
        .then(&content_script(&spec.content))
        .then_text("  fi\nfi\n")
}

/// The `C` line of a regular file (inside the regular-file branch).
fn checksum_script(spec: &ProbeSpec) -> Script {
    const UNREADABLE: &str = " || { echo; echo \"cannot read $p\" >&2; exit 98; }";
    if hashed_here(spec) {
        // The content comes back whole: hashing it on the host would spawn a process for
        // nothing (see `parse_probe`), except for a file too big to send.
        return sh!("    if [ \"$z\" -gt {} ]; then", content_limit(spec)).then(
            &checksum_script(&ProbeSpec {
                content: Content::Never,
                ..spec.clone()
            })
            .then_text("    fi\n"),
        );
    }
    match (spec.checksum, &spec.content) {
        // Compared by the content test: kept in `$c`.
        (Some(cmd), Content::UnlessSha256 { .. }) => Script::text("    c=$(")
            .then_text(cmd)
            .then_text(" < \"$p\")")
            .then_text(UNREADABLE)
            .then_text("; c=${c%% *}; echo \"C $c\"\n"),
        // Only reported: straight to the output (`C <sum>  -`).
        (Some(cmd), _) => Script::text("    printf 'C '; ")
            .then_text(cmd)
            .then_text(" < \"$p\"")
            .then_text(UNREADABLE)
            .then_text("\n"),
        (None, _) => Script::default(),
    }
}

/// Whether the controller computes the SHA-256 from the content sent back instead of the host:
/// asked for, and the content of a file within the limit is always sent.
fn hashed_here(spec: &ProbeSpec) -> bool {
    spec.checksum == Some("sha256sum") && matches!(spec.content, Content::Always { .. })
}

fn content_limit(spec: &ProbeSpec) -> u64 {
    match spec.content {
        Content::Always { limit } | Content::UnlessSha256 { limit, .. } => limit,
        Content::Never => 0,
    }
}

/// The `X`/`Z` lines and the content of a regular file (inside the regular-file branch).
fn content_script(content: &Content) -> Script {
    match content {
        Content::Never => Script::default(),
        Content::Always { limit } => sh!(
            "    if [ \"$z\" -le {} ]; then echo X; exec cat -- \"$p\"; else echo Z; fi\n",
            *limit
        ),
        Content::UnlessSha256 { sha256, limit } => sh!(
            "    if [ \"$z\" -le {} ] && [ \"$c\" != {} ]; then echo X; exec cat -- \"$p\"; fi\n",
            *limit,
            sha256
        ),
    }
}

/// Parses the paths' sections of a [`PathsFact`] (the output of [`probe_script`]).
pub fn parse_probe(specs: &[ProbeSpec], out: &[u8]) -> Result<Vec<Probed>, String> {
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
            let spec = specs.get(result.len()).ok_or("more sections than paths")?;
            result.push(Probed {
                path: spec.path.clone(),
                ..Probed::default()
            });
            continue;
        }
        let spec = &specs[result.len().saturating_sub(1)];
        let Some(cur) = result.last_mut() else {
            return Err(format!("unexpected line `{line}`"));
        };
        if line == "X" {
            if hashed_here(spec)
                && let Some(info) = cur.info.as_mut()
            {
                info.checksum = Some(sha256_hex(rest));
            }
            cur.content = Some(rest.to_vec());
            break;
        }
        parse_line(spec, cur, &line)?;
    }
    if result.len() != specs.len() {
        return Err("missing sections".into());
    }
    Ok(result)
}

/// One tagged line of a path's section.
fn parse_line(spec: &ProbeSpec, cur: &mut Probed, line: &str) -> Result<(), String> {
    let (key, value) = line.split_once(' ').unwrap_or((line, ""));
    match key {
        "I" => {
            let name = spec.dir_append.as_deref().ok_or("`I` without a name")?;
            cur.path = format!("{}/{}", spec.path.trim_end_matches('/'), name);
            cur.into_dir = true;
        }
        "P" => cur.parent_dir = true,
        "S" => cur.info = Some(parse_stat_line(value)?),
        "U" => info_of(cur)?.owner = value.to_owned(),
        "G" => info_of(cur)?.group = value.to_owned(),
        "L" => info_of(cur)?.link_target = Some(value.to_owned()),
        // `C <sum>` or, straight from the checksum command, `C <sum>  -`.
        "C" => {
            let sum = value.split_whitespace().next().ok_or("empty checksum")?;
            info_of(cur)?.checksum = Some(sum.to_owned());
        }
        "Z" => cur.too_big = true,
        "R" => cur.real_path = Some(value.to_owned()),
        _ => return Err(format!("unexpected line `{line}`")),
    }
    Ok(())
}

fn info_of(p: &mut Probed) -> Result<&mut FileInfo, String> {
    p.info
        .as_mut()
        .ok_or_else(|| "attribute before stat".into())
}

fn parse_stat_line(value: &str) -> Result<FileInfo, String> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() != 10 {
        return Err(format!("stat line `{value}`"));
    }
    let raw_mode = u32::from_str_radix(f[0], 16).map_err(|_| format!("raw mode `{}`", f[0]))?;
    fn num<T: std::str::FromStr>(field: &str) -> Result<T, String> {
        field.parse().map_err(|_| format!("stat field `{field}`"))
    }
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
        uid: num(f[1])?,
        gid: num(f[2])?,
        owner: String::new(),
        group: String::new(),
        size: num(f[3])?,
        mtime: num(f[4])?,
        atime: num(f[5])?,
        ctime: num(f[6])?,
        inode: num(f[7])?,
        dev: num(f[8])?,
        nlink: num(f[9])?,
        link_target: None,
        checksum: None,
    })
}

/// Runs one probe for `specs` (one remote command) and parses it.
pub async fn probe(
    ctx: &ModuleContext<'_>,
    specs: &[ProbeSpec],
) -> Result<Vec<Probed>, ModuleError> {
    Ok(ctx.fact(&PathsFact::new(specs)).await?.0)
}

/// Probes one path.
pub async fn probe_one(ctx: &ModuleContext<'_>, spec: ProbeSpec) -> Result<Probed, ModuleError> {
    let specs = [spec];
    let fact = PathsFact::new(&specs);
    let mut v = ctx.fact(&fact).await?.0;
    v.pop().ok_or_else(|| fact.error("no section").into())
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

    /// The commands that make the change on `path` (links are not followed for owner and
    /// group when `no_deref`).
    pub fn script(&self, path: &str, no_deref: bool) -> Script {
        let chown = Script::text(if no_deref { "chown -h" } else { "chown" });
        let chgrp = Script::text(if no_deref { "chgrp -h" } else { "chgrp" });
        let mut s = match (&self.owner, &self.group) {
            (Some((_, o)), Some((_, g))) => sh!("{} {}:{} -- {}", chown, o, g, path),
            (Some((_, o)), None) => sh!("{} {} -- {}", chown, o, path),
            (None, Some((_, g))) => sh!("{} {} -- {}", chgrp, g, path),
            (None, None) => Script::default(),
        };
        // chmod after chown: chown may clear setuid/setgid bits.
        if let Some((_, m)) = self.mode {
            s = s.then(&sh!("chmod {} -- {}", chmod_octal(m), path));
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

    /// Reads `lines`: the preamble of the tests.
    struct Lines;

    impl ProbePreamble for Lines {
        type Output = Vec<String>;
        fn script(&self) -> Script {
            Script::text("echo one\necho two\n")
        }
        fn parse(&self, lines: &[&str]) -> Result<Vec<String>, String> {
            Ok(lines.iter().map(|l| l.to_string()).collect())
        }
    }

    fn out(status: i32, stdout: &[u8]) -> CommandOutput {
        CommandOutput {
            status,
            stdout: stdout.to_vec(),
            stderr: b"cannot read /a".to_vec(),
        }
    }

    #[test]
    fn the_fact_splits_the_preamble_and_names_itself_in_errors() {
        let specs = [ProbeSpec::new("/a")];
        let fact = PathsFact::with(&specs, Lines);
        let (p, lines) = fact.parse(&out(0, b"one\ntwo\n@\nP\n")).unwrap();
        assert_eq!(lines, ["one", "two"]);
        assert!(p[0].parent_dir && !p[0].exists());
        let plain = PathsFact::new(&specs);
        for bad in [
            &b"stray\n@\n"[..],
            b"@\nS 81a4 0 0 5 10 11 12 13 14\n",
            b"@\nS 81a4 x 0 5 10 11 12 13 14 1\n",
            b"@\nQ\n",
            b"@\nU root\n",
            b"@\n@\n",
            b"",
        ] {
            let e = plain.parse(&out(0, bad)).unwrap_err();
            assert_eq!(e.fact, "stat of /a", "{e}");
        }
        let e = plain.parse(&out(98, b"@\n")).unwrap_err();
        assert!(e.detail.contains("cannot read /a"), "{e}");
    }

    /// The probe script, run in a real shell on a temporary directory.
    #[test]
    fn the_probe_in_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("it's");
        std::fs::write(&f, "hello\n").unwrap();
        let d = dir.path().display().to_string();
        let specs = [
            ProbeSpec::new(format!("{d}/missing/x")),
            ProbeSpec {
                checksum: Some("sha256sum"),
                dir_append: Some("it's".into()),
                content: Content::UnlessSha256 {
                    sha256: "0".into(),
                    limit: 10,
                },
                ..ProbeSpec::new(d.clone())
            },
        ];
        let fact = PathsFact::new(&specs);
        let sh = std::process::Command::new("sh")
            .arg("-c")
            .arg(fact.script().as_str())
            .output()
            .unwrap();
        let (p, ()) = fact
            .parse(&out(sh.status.code().unwrap(), &sh.stdout))
            .unwrap();
        assert!(!p[0].exists() && !p[0].parent_dir);
        assert!(p[1].into_dir && p[1].path.ends_with("/it's"));
        let i = p[1].info.as_ref().unwrap();
        assert_eq!((i.kind, i.size), (Kind::File, 6));
        assert_eq!(i.checksum.as_deref(), Some(sha256_hex(b"hello\n").as_str()));
        assert_eq!(p[1].content.as_deref(), Some(&b"hello\n"[..]));
    }

    /// A file sent back whole is hashed by the controller (no `sha256sum` on the host); one too
    /// big to send is still hashed by the host. Same checksum either way.
    #[test]
    fn sent_content_is_hashed_here_and_a_big_file_there() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::write(dir.path().join("small"), "hello\n").unwrap();
        std::fs::write(dir.path().join("big"), "0123456789abcdef").unwrap();
        let spec = |name: &str| ProbeSpec {
            checksum: Some("sha256sum"),
            follow: true,
            content: Content::Always { limit: 10 },
            ..ProbeSpec::new(format!("{d}/{name}"))
        };
        for (name, data, sent) in [
            ("small", &b"hello\n"[..], true),
            ("big", &b"0123456789abcdef"[..], false),
        ] {
            let specs = [spec(name)];
            let fact = PathsFact::new(&specs);
            let script = fact.script();
            let hashed_there_if_big = "-gt 10 ]; then\n    printf 'C '; sha256sum";
            assert!(script.as_str().contains(hashed_there_if_big), "{script:?}");
            let sh = std::process::Command::new("sh")
                .arg("-c")
                .arg(script.as_str())
                .output()
                .unwrap();
            let (p, ()) = fact
                .parse(&out(sh.status.code().unwrap(), &sh.stdout))
                .unwrap();
            let i = p[0].info.as_ref().unwrap();
            assert_eq!(i.checksum.as_deref(), Some(sha256_hex(data).as_str()));
            assert_eq!(p[0].content.is_some(), sent, "{name}");
            assert_eq!(p[0].too_big, !sent, "{name}");
        }
    }

    #[test]
    fn attribute_changes_quote_their_values() {
        let ch = AttrChange {
            mode: Some((0o644, 0o600)),
            owner: Some(("root".into(), "a b".into())),
            group: Some(("root".into(), "adm".into())),
        };
        assert_eq!(
            ch.script("/x y", true).as_str(),
            "chown -h 'a b':adm -- '/x y'\nchmod 00600 -- '/x y'"
        );
    }
}
