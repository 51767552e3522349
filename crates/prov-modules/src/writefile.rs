//! Planning and applying the write of a whole file (`copy`, `template`, `lineinfile`,
//! `blockinfile`): compare the probed destination with the wanted content and attributes, then
//! install atomically with [`prov_core::transfer::put_file`] or only fix mode/owner/group.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use prov_core::transfer::{FileAttrs, put_file};
use prov_core::{Action, Fact, ModuleContext, ModuleError, Outcome, Plan, Script, Stdin, sh};
use sha2::Digest as _;

use crate::remote_file::{
    AttrChange, Attrs, Content, EDIT_LIMIT, Kind, PathsFact, ProbePreamble, ProbeSpec, Probed,
    chmod_octal, content_diff, content_note, is_diffable, parent_of,
};

/// The bytes of a new file.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Held in memory.
    Bytes(Arc<Vec<u8>>),
    /// Streamed from a local file when applied.
    LocalFile(PathBuf),
}

/// The wanted content of a file, with its size and checksums.
#[derive(Debug, Clone)]
pub struct NewContent {
    /// Where the bytes come from.
    pub payload: Payload,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex), checked by the installer.
    pub sha256: String,
    /// SHA-1 (hex), Ansible's `checksum` result.
    pub sha1: String,
}

impl NewContent {
    /// Content held in memory.
    pub fn from_bytes(data: Vec<u8>) -> Self {
        let sha256 = hex::encode(sha2::Sha256::digest(&data));
        let sha1 = crate::remote_file::sha1_hex(&data);
        Self {
            size: data.len() as u64,
            sha256,
            sha1,
            payload: Payload::Bytes(Arc::new(data)),
        }
    }

    /// Content of a local file: small files are read into memory (for diffs), big ones are
    /// hashed in one streaming pass and streamed again when applied.
    pub async fn from_local_file(path: PathBuf) -> Result<Self, ModuleError> {
        tokio::task::spawn_blocking(move || Self::read_local(path))
            .await
            .map_err(|e| ModuleError::LocalFile(format!("reading a local file failed: {e}")))?
    }

    fn read_local(path: PathBuf) -> Result<Self, ModuleError> {
        use std::io::Read as _;
        let err = |e: std::io::Error| {
            ModuleError::LocalFile(format!("cannot read {}: {e}", path.display()))
        };
        let meta = std::fs::metadata(&path).map_err(err)?;
        if meta.is_dir() {
            return Err(ModuleError::LocalFile(format!(
                "{} is a directory: copying directories is not supported",
                path.display()
            )));
        }
        if meta.len() <= crate::remote_file::DIFF_LIMIT {
            let data = std::fs::read(&path).map_err(err)?;
            return Ok(Self::from_bytes(data));
        }
        let mut f = std::fs::File::open(&path).map_err(err)?;
        let mut h256 = sha2::Sha256::new();
        let mut h1 = <sha1::Sha1 as sha1::Digest>::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            h256.update(&buf[..n]);
            sha1::Digest::update(&mut h1, &buf[..n]);
        }
        Ok(Self {
            payload: Payload::LocalFile(path),
            size,
            sha256: hex::encode(h256.finalize()),
            sha1: hex::encode(sha1::Digest::finalize(h1)),
        })
    }

    /// The bytes, when held in memory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.payload {
            Payload::Bytes(b) => Some(b),
            Payload::LocalFile(_) => None,
        }
    }
}

/// How to write a file.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Wanted mode/owner/group.
    pub attrs: Attrs,
    /// Keep a backup of the old content.
    pub backup: bool,
    /// Create the missing parent directory (`mkdir -p`) instead of failing.
    pub create_parent: bool,
    /// A command (words, `%s` = the new file) that must accept the new content before it
    /// replaces the old one (Ansible's `validate`).
    pub validate: Option<Vec<String>>,
}

/// Parses a `validate` command line into words; it must contain `%s`.
pub fn parse_validate(
    module: &str,
    cmd: Option<String>,
) -> Result<Option<Vec<String>>, ModuleError> {
    let Some(cmd) = cmd else { return Ok(None) };
    if !cmd.contains("%s") {
        return Err(ModuleError::args(format!(
            "{module}: `validate` must contain %s: {cmd}"
        )));
    }
    let words = shlex::split(&cmd)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            ModuleError::args(format!(
                "{module}: cannot split `validate` into words: {cmd}"
            ))
        })?;
    Ok(Some(words))
}

/// Compares `probed` (probed with a SHA-256 checksum, following links) with `new` and plans
/// the write to `dest`. `before` is the old content when the caller already has it.
pub fn plan_write(
    dest: &str,
    probed: &Probed,
    new: &NewContent,
    before: Option<&[u8]>,
    opts: &WriteOptions,
    check_mode: bool,
) -> Result<Plan, ModuleError> {
    let parent = parent_of(dest);
    let parent_missing = check_destination(dest, probed, opts, check_mode)?;
    let same = probed
        .info
        .as_ref()
        .is_some_and(|i| i.checksum.as_deref() == Some(new.sha256.as_str()));
    let attr_change = match &probed.info {
        Some(info) => opts.attrs.diff_against(info)?,
        None => AttrChange::default(),
    };
    if same {
        if attr_change.is_empty() {
            return Ok(Plan::unchanged());
        }
        let action = WriteFile {
            dest: dest.to_owned(),
            content: None,
            attrs: FileAttrs::default(),
            attr_change: attr_change.clone(),
            mkdir: None,
            validate: None,
        };
        return Ok(Plan::changes(attr_change.summary(dest), Vec::new(), action));
    }
    let mode = match &probed.info {
        Some(_) => attr_change.mode.map(|(_, m)| m),
        None => opts.attrs.new_mode(0o644, false)?,
    };
    let file_attrs = FileAttrs {
        mode: mode.map(chmod_octal),
        owner: opts.attrs.owner.clone(),
        group: opts.attrs.group.clone(),
        backup: opts.backup,
    };
    let before_bytes = before.or(probed.content.as_deref());
    let before_note = match (&probed.info, before_bytes) {
        (Some(i), None) => Some(content_note(i.size, None)),
        _ => None,
    };
    let after = new.bytes();
    let diff = match after {
        Some(a) => content_diff(dest, before_bytes, before_note, Some(a)),
        None => {
            let mut d = content_diff(dest, before_bytes, before_note, None);
            d.after = content_note(new.size, Some(&new.sha256));
            d
        }
    };
    let mut summary = vec![match (&probed.info, before_bytes, after) {
        (None, _, _) => format!("create {dest} ({} bytes)", new.size),
        (Some(_), Some(b), Some(a)) if is_diffable(b) && is_diffable(a) => {
            let (add, del) = diff.line_counts();
            format!("update {dest} (+{add} -{del} lines)")
        }
        (Some(_), _, _) => format!("update {dest} ({} bytes)", new.size),
    }];
    summary.extend(attr_change.summary(dest));
    if parent_missing {
        summary.push(format!(
            "(directory {parent} does not exist yet: an earlier task must create it)"
        ));
    }
    let mkdir = (probed.info.is_none() && !probed.parent_dir).then_some(parent);
    let action = WriteFile {
        dest: dest.to_owned(),
        content: Some(new.clone()),
        attrs: file_attrs,
        attr_change,
        mkdir,
        validate: opts.validate.clone(),
    };
    Ok(Plan::changes(summary, vec![diff], action))
}

/// Fails unless `dest` can be written: a regular file or nothing, in an existing directory
/// (or one to create). Returns true when the directory is missing and check mode predicts
/// the write anyway: in check mode an earlier task (a package install) may be what creates
/// it.
fn check_destination(
    dest: &str,
    probed: &Probed,
    opts: &WriteOptions,
    check_mode: bool,
) -> Result<bool, ModuleError> {
    if let Some(info) = &probed.info
        && info.kind != Kind::File
    {
        return Err(ModuleError::failed(format!(
            "{dest} exists and is a {}, not a regular file",
            info.kind.state_name()
        )));
    }
    let parent_missing = probed.info.is_none() && !probed.parent_dir && !opts.create_parent;
    if parent_missing && !check_mode {
        return Err(ModuleError::failed(format!(
            "Destination directory {} does not exist",
            parent_of(dest)
        )));
    }
    Ok(parent_missing)
}

/// Writes (or only fixes the attributes of) one file, as planned.
pub struct WriteFile {
    dest: String,
    content: Option<NewContent>,
    attrs: FileAttrs,
    attr_change: AttrChange,
    mkdir: Option<String>,
    validate: Option<Vec<String>>,
}

#[async_trait]
impl Action for WriteFile {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        if let Some(dir) = &self.mkdir {
            ctx.run_ok(&sh!("mkdir -p -- {}", dir)).await?;
        }
        let Some(content) = &self.content else {
            ctx.run_ok(&self.attr_change.script(&self.dest, false))
                .await?;
            return Ok(Outcome::default());
        };
        // With `validate`, the content goes to a private temporary name first, is checked,
        // and only then takes the place (and the old attributes) of the destination.
        let tmp = self.validate.as_ref().map(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            format!(
                "{}/.prov-validate.{}.{nanos}",
                parent_of(&self.dest),
                std::process::id()
            )
        });
        let (upload_to, upload_attrs) = match &tmp {
            Some(t) => (
                t.as_str(),
                FileAttrs {
                    mode: Some("0600".into()),
                    ..FileAttrs::default()
                },
            ),
            None => (self.dest.as_str(), self.attrs.clone()),
        };
        let out = upload(ctx, content, upload_to, &upload_attrs).await?;
        if !out.success() {
            return Err(ModuleError::Remote {
                command: format!("install {}", self.dest),
                status: out.status,
                stderr: out.stderr_text(),
            });
        }
        if let (Some(tmp), Some(words)) = (&tmp, &self.validate) {
            let out = ctx
                .run(&validate_script(&self.dest, tmp, words, &self.attrs))
                .await?;
            if !out.success() {
                let mut msg = format!("failed to validate {}", self.dest);
                for t in [out.stdout_text(), out.stderr_text()] {
                    if !t.trim().is_empty() {
                        msg.push_str(": ");
                        msg.push_str(t.trim());
                    }
                }
                return Err(ModuleError::failed(msg));
            }
        }
        Ok(Outcome::default())
    }
}

/// Streams `content` to `to` with `put_file`, from memory or from its local file.
async fn upload(
    ctx: &ModuleContext<'_>,
    content: &NewContent,
    to: &str,
    attrs: &FileAttrs,
) -> Result<prov_core::CommandOutput, ModuleError> {
    let become_ = ctx.become_.cloned();
    let (size, sha) = (content.size, content.sha256.as_str());
    match &content.payload {
        Payload::Bytes(b) => {
            Ok(put_file(ctx.conn, to, Stdin::Bytes(b), size, sha, attrs, become_).await?)
        }
        Payload::LocalFile(path) => {
            let mut f = tokio::fs::File::open(path).await.map_err(|e| {
                ModuleError::LocalFile(format!("cannot read {}: {e}", path.display()))
            })?;
            let input = Stdin::Reader(&mut f);
            Ok(put_file(ctx.conn, to, input, size, sha, attrs, become_).await?)
        }
    }
}

/// Checks `tmp` with the validate command, then installs it at `dest` the way `put_file`
/// does (old mode/owner kept unless given, backup, atomic rename); `tmp` is removed on failure.
fn validate_script(dest: &str, tmp: &str, words: &[String], attrs: &FileAttrs) -> Script {
    let check = words
        .iter()
        .fold(Script::default(), |s, w| s.arg(w.replace("%s", tmp)));
    sh!("tmp={}\nd={}\n", tmp, dest)
        .then(&prov_core::transfer::cleanup_traps_script("tmp"))
        .then(&sh!("{} || exit 1\nset -e\n", check))
        .then(&prov_core::transfer::finish(attrs))
}

/// What `lineinfile`/`blockinfile` read before editing a file.
#[derive(Debug)]
pub struct EditTarget {
    /// The probe of the path (links followed, SHA-256, whole content).
    pub probed: Probed,
    /// The file the edit writes: the link's target when the path is a symbolic link.
    pub target: String,
    /// The current content, `None` when the file does not exist.
    pub content: Option<Vec<u8>>,
}

/// A dangling symbolic link at the path to edit, read with the path's probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dangling {
    /// The link's target, resolved (`readlink -f`): where the edit writes.
    Target(String),
    /// The link cannot be resolved: a loop, or a target inside a missing directory.
    Unresolvable,
}

/// Whether `path` is a dangling symbolic link: one line `D <target>` (`D !` when it cannot
/// be resolved), nothing otherwise.
pub struct DanglingLink<'a>(pub &'a str);

impl ProbePreamble for DanglingLink<'_> {
    type Output = Option<Dangling>;

    fn script(&self) -> Script {
        sh!("p={}\n", self.0).then_text(
            "if [ -L \"$p\" ] && [ ! -e \"$p\" ]; then printf 'D %s\\n' \"$(readlink -f -- \"$p\" 2>/dev/null || echo '!')\"; fi\n",
        )
    }

    fn parse(&self, lines: &[&str]) -> Result<Self::Output, String> {
        match lines {
            [] => Ok(None),
            ["D !"] => Ok(Some(Dangling::Unresolvable)),
            [line] => match line.strip_prefix("D ") {
                Some(t) if !t.is_empty() => Ok(Some(Dangling::Target(t.to_owned()))),
                _ => Err(format!("unexpected line `{line}` about a dangling link")),
            },
            _ => Err(format!("unexpected lines {lines:?} about a dangling link")),
        }
    }
}

/// Reads a file for editing in ONE remote command (links followed, like Ansible). The target
/// is where Ansible's `realpath(path)` writes: a link's target, also when the link dangles (the
/// target is then created and the link kept).
pub async fn read_for_edit(
    ctx: &ModuleContext<'_>,
    module: &str,
    path: &str,
) -> Result<EditTarget, ModuleError> {
    let spec = edit_spec(path);
    let fact = PathsFact::with(&spec, DanglingLink(path));
    let (probed, dangling) = ctx.fact(&fact).await?;
    edit_target(module, path, probed, dangling, &fact)
}

/// [`read_for_edit`] with more facts read in the same command: `extra`'s lines come first,
/// then a line `-- link`, then the dangling-link check.
pub async fn read_for_edit_with<X: ProbePreamble>(
    ctx: &ModuleContext<'_>,
    module: &str,
    path: &str,
    extra: X,
) -> Result<(EditTarget, X::Output), ModuleError> {
    let spec = edit_spec(path);
    let fact = PathsFact::with(&spec, WithLink(extra, DanglingLink(path)));
    let (probed, (out, dangling)) = ctx.fact(&fact).await?;
    Ok((edit_target(module, path, probed, dangling, &fact)?, out))
}

/// A preamble followed by the dangling-link check, separated by a line `-- link`.
struct WithLink<'a, X>(X, DanglingLink<'a>);

impl<X: ProbePreamble> ProbePreamble for WithLink<'_, X> {
    type Output = (X::Output, Option<Dangling>);

    fn script(&self) -> Script {
        self.0
            .script()
            .then_text("echo '-- link'\n")
            .then(&self.1.script())
    }

    fn parse(&self, lines: &[&str]) -> Result<Self::Output, String> {
        let at = lines
            .iter()
            .rposition(|l| *l == "-- link")
            .ok_or("no `-- link` line")?;
        Ok((self.0.parse(&lines[..at])?, self.1.parse(&lines[at + 1..])?))
    }
}

fn edit_spec(path: &str) -> [ProbeSpec; 1] {
    [ProbeSpec {
        follow: true,
        checksum: Some("sha256sum"),
        content: Content::Always { limit: EDIT_LIMIT },
        resolve: true,
        ..ProbeSpec::new(path)
    }]
}

/// The checks of [`read_for_edit`] on a probe's answer.
fn edit_target(
    module: &str,
    path: &str,
    mut probed: Vec<Probed>,
    dangling: Option<Dangling>,
    fact: &impl Fact,
) -> Result<EditTarget, ModuleError> {
    let probed = probed.pop().ok_or_else(|| fact.error("no section"))?;
    if probed.too_big {
        return Err(ModuleError::failed(format!(
            "{module}: {path} is larger than {EDIT_LIMIT} bytes, too big to edit"
        )));
    }
    if let Some(info) = &probed.info
        && info.kind != Kind::File
    {
        return Err(ModuleError::failed(format!(
            "{module}: {path} is a {}, not a regular file",
            info.kind.state_name()
        )));
    }
    let content = match &probed.info {
        Some(_) => Some(probed.content.clone().unwrap_or_default()),
        None => None,
    };
    let target = match (&probed.real_path, dangling) {
        (_, Some(Dangling::Unresolvable)) => {
            return Err(ModuleError::failed(format!(
                "{module}: {path} is a symbolic link that cannot be resolved (a loop, or its target's directory does not exist)"
            )));
        }
        (Some(real), _) => real.clone(),
        (None, Some(Dangling::Target(t))) => t,
        (None, None) => path.to_owned(),
    };
    Ok(EditTarget {
        probed,
        target,
        content,
    })
}

/// Splits content into lines that keep their `\n` (Python's `readlines`).
pub fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangling_link_lines() {
        let d = DanglingLink("/l");
        assert_eq!(d.parse(&[]), Ok(None));
        assert_eq!(d.parse(&["D !"]), Ok(Some(Dangling::Unresolvable)));
        assert_eq!(d.parse(&["D /t"]), Ok(Some(Dangling::Target("/t".into()))));
        assert!(d.parse(&["D "]).is_err());
        assert!(d.parse(&["X /t"]).is_err());
        assert!(d.parse(&["D /t", "D /u"]).is_err());
    }

    #[test]
    fn the_validate_script_quotes_every_word() {
        let s = validate_script(
            "/etc/x y",
            "/etc/.t",
            &["visudo".into(), "-cf".into(), "%s".into()],
            &FileAttrs::default(),
        );
        assert!(s.as_str().starts_with("tmp=/etc/.t\nd='/etc/x y'\n"), "{s}");
        assert!(
            s.as_str().contains("\nvisudo -cf /etc/.t || exit 1\n"),
            "{s}"
        );
    }
}
