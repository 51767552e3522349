//! Small text files of system configuration that modules rewrite whole (apt sources, cron
//! files, `limits.conf`, `fstab`...): one probe reads several files, globs and command outputs
//! in one round trip ([`TextFilesFact`]), and one action ([`WriteFiles`]) writes or removes the
//! planned files atomically and runs a follow-up command.
//!
//! The probe's answer is length-framed, so any byte of a path or content is safe:
//! `F <path bytes> <target bytes> <mode> <size>\n<path><target><content>` for an existing file
//! (`target` is the canonical path when the path is a symbolic link), `M <path bytes>\n<path>`
//! for a missing one, `C <name bytes> <status> <size>\n<name><output>` for a command.

use async_trait::async_trait;
use prov_core::transfer::FileAttrs;
use prov_core::{
    Action, CommandOutput, Fact, FactError, ModuleContext, ModuleError, Outcome, Script, sh,
};

use crate::server_util;

/// One thing the probe reads.
#[derive(Debug, Clone)]
pub enum Probe {
    /// One file (absent is an answer).
    File(String),
    /// Every entry `DIR/*SUFFIX` (not hidden files, as a shell or Python glob).
    Glob {
        /// The directory.
        dir: String,
        /// The name's ending (`.list`).
        suffix: String,
    },
    /// A command's stdout and exit status, under a name.
    Command {
        /// The name the answer is filed under.
        name: String,
        /// The command (its stderr is discarded).
        script: Script,
    },
}

/// A file as the probe read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFile {
    /// The path as probed (or found by a glob).
    pub path: String,
    /// The canonical path when `path` is a symbolic link.
    pub link_target: Option<String>,
    /// The permission bits.
    pub mode: u32,
    /// The content.
    pub content: String,
}

/// A command's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandAnswer {
    /// Exit status.
    pub status: i32,
    /// Stdout.
    pub stdout: String,
}

/// What the probe found, in probe order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFiles {
    /// Existing files.
    pub files: Vec<TextFile>,
    /// Paths probed that do not exist.
    pub missing: Vec<String>,
    /// Command answers by name.
    pub commands: Vec<(String, CommandAnswer)>,
}

impl TextFiles {
    /// The file at `path`, if it exists.
    pub fn file(&self, path: &str) -> Option<&TextFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The answer of command `name`.
    pub fn command(&self, name: &str) -> Option<&CommandAnswer> {
        self.commands
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a)
    }
}

/// Reads files, globs and commands in one round trip.
pub struct TextFilesFact {
    /// The fact's name for errors.
    pub name: String,
    /// What to read.
    pub probes: Vec<Probe>,
}

const EMIT: &str = r#"LC_ALL=C; export LC_ALL
emit() {
  if [ -f "$1" ]; then
    t=; [ -L "$1" ] && t=$(readlink -f -- "$1")
    m=$(stat -L -c %a -- "$1") || exit 3
    s=$(wc -c < "$1") || exit 3
    printf 'F %s %s %s %s\n%s%s' "${#1}" "${#t}" "$m" "$s" "$1" "$t"
    cat -- "$1" || exit 3
  elif [ -e "$1" ]; then
    echo "$1: not a regular file" >&2; exit 3
  else
    printf 'M %s\n%s' "${#1}" "$1"
  fi
}
cmd() {
  o=$( (eval "$2") 2>/dev/null; r=$?; printf x; exit $r); r=$?; o=${o%x}
  printf 'C %s %s %s\n%s%s' "${#1}" "$r" "${#o}" "$1" "$o"
}
"#;

impl TextFilesFact {
    /// A fact reading `probes`.
    pub fn new(name: impl Into<String>, probes: Vec<Probe>) -> Self {
        Self {
            name: name.into(),
            probes,
        }
    }
}

impl Fact for TextFilesFact {
    type Output = TextFiles;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn script(&self) -> Script {
        let mut s = Script::text(EMIT);
        for p in &self.probes {
            s = s.then(&match p {
                Probe::File(path) => sh!("emit {}", path),
                Probe::Glob { dir, suffix } => sh!(
                    "for f in {}/*{}; do if [ -e \"$f\" ]; then emit \"$f\"; fi; done",
                    dir,
                    suffix
                ),
                Probe::Command { name, script } => sh!("cmd {} {}", name, script.as_str()),
            });
        }
        s
    }

    fn parse(&self, out: &CommandOutput) -> Result<TextFiles, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        parse_frames(&out.stdout).map_err(|e| self.error(e))
    }
}

/// Parses the probe's framed answer.
pub fn parse_frames(mut data: &[u8]) -> Result<TextFiles, String> {
    let mut found = TextFiles::default();
    while !data.is_empty() {
        let nl = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a header without its line end")?;
        let header = std::str::from_utf8(&data[..nl]).map_err(|_| "a header is not text")?;
        data = &data[nl + 1..];
        let words: Vec<&str> = header.split(' ').collect();
        let num = |i: usize| -> Result<usize, String> {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("malformed header `{header}`"))
        };
        let mut take = |n: usize| -> Result<String, String> {
            if data.len() < n {
                return Err(format!("the answer ends inside `{header}`"));
            }
            let (head, rest) = data.split_at(n);
            data = rest;
            String::from_utf8(head.to_vec()).map_err(|_| format!("`{header}`: not UTF-8 text"))
        };
        match words.first().copied() {
            Some("F") if words.len() == 5 => {
                let mode = u32::from_str_radix(words[3], 8)
                    .map_err(|_| format!("malformed mode in `{header}`"))?;
                let (p, t, s) = (num(1)?, num(2)?, num(4)?);
                let path = take(p)?;
                let target = take(t)?;
                let content = take(s)?;
                found.files.push(TextFile {
                    path,
                    link_target: (!target.is_empty()).then_some(target),
                    mode,
                    content,
                });
            }
            Some("M") if words.len() == 2 => {
                let p = num(1)?;
                found.missing.push(take(p)?);
            }
            Some("C") if words.len() == 4 => {
                let (n, s) = (num(1)?, num(3)?);
                let status: i32 = words[2]
                    .parse()
                    .map_err(|_| format!("malformed status in `{header}`"))?;
                let name = take(n)?;
                let stdout = take(s)?;
                found
                    .commands
                    .push((name, CommandAnswer { status, stdout }));
            }
            _ => return Err(format!("malformed header `{header}`")),
        }
    }
    Ok(found)
}

/// One file the action writes (`Some` content) or removes (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// Where (a symbolic link's target when writing through it).
    pub path: String,
    /// The new content, or `None` to remove the file.
    pub content: Option<String>,
    /// The mode to set (octal or symbolic); `None` keeps the old file's (0644 when new).
    pub mode: Option<String>,
}

impl FileWrite {
    /// Writes `content` to `path`.
    pub fn write(path: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            content: Some(content.into()),
            mode: None,
        }
    }

    /// Removes `path`.
    pub fn remove(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            content: None,
            mode: None,
        }
    }

    /// With a mode.
    #[must_use]
    pub fn with_mode(mut self, mode: Option<String>) -> Self {
        self.mode = mode;
        self
    }
}

/// Writes and removes files, then runs `then` (if any). When `then` fails and `undo` is set,
/// the files of `undo` are put back before the failure is reported.
#[derive(Debug, Default)]
pub struct WriteFiles {
    /// The writes, in order.
    pub writes: Vec<FileWrite>,
    /// A command run after the writes.
    pub then: Option<Script>,
    /// What puts the files back should `then` fail.
    pub undo: Vec<FileWrite>,
}

/// Applies `writes` in order.
pub async fn apply_writes(
    ctx: &ModuleContext<'_>,
    writes: &[FileWrite],
) -> Result<(), ModuleError> {
    for w in writes {
        match &w.content {
            Some(c) => {
                let dir = crate::remote_file::parent_of(&w.path);
                ctx.run_ok(&sh!("mkdir -p -- {}", dir)).await?;
                let attrs = FileAttrs {
                    mode: w.mode.clone(),
                    ..FileAttrs::default()
                };
                server_util::write_text(ctx, &w.path, c, &attrs).await?;
            }
            None => {
                ctx.run_ok(&sh!("rm -f -- {}", w.path)).await?;
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Action for WriteFiles {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        apply_writes(ctx, &self.writes).await?;
        if let Some(then) = &self.then {
            let out = ctx.run(then).await?;
            if !out.success() {
                apply_writes(ctx, &self.undo).await?;
                let mut msg = out.stderr_text();
                if msg.is_empty() {
                    msg = out.stdout_text().trim().to_owned();
                }
                return Err(ModuleError::failed(msg));
            }
        }
        Ok(Outcome::default())
    }
}

/// Python's whitespace (`str.isspace`): Unicode white space and the separators `\x1c`..`\x1f`.
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// Python's `str.split()` (no argument).
pub fn py_split(s: &str) -> Vec<&str> {
    s.split(py_space).filter(|p| !p.is_empty()).collect()
}

/// The lines of a file as Python's text mode iterates them (universal newlines: `\n`, `\r\n`
/// and `\r` end a line), without their ends.
pub fn py_lines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            None => {
                lines.push(rest);
                break;
            }
            Some(i) => {
                lines.push(&rest[..i]);
                let end = if rest[i..].starts_with("\r\n") {
                    i + 2
                } else {
                    i + 1
                };
                rest = &rest[end..];
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_string_helpers() {
        assert_eq!(py_lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(py_lines("a\n\n"), ["a", ""]);
        assert!(py_lines("").is_empty());
        assert_eq!(py_split(" a\tb\x1fc "), ["a", "b", "c"]);
        assert_eq!(py_strip("\x1c a \n"), "a");
    }

    #[test]
    fn frames_parse_and_garbage_is_refused() {
        let data = b"F 6 0 644 3\n/a/b cabcM 2\n/xC 4 0 2\ncronhiF 2 4 600 0\n/l/t/u";
        let f = parse_frames(data).unwrap();
        assert_eq!(f.files.len(), 2);
        assert_eq!(f.files[0].path, "/a/b c");
        assert_eq!(f.files[0].content, "abc");
        assert_eq!(f.files[0].mode, 0o644);
        assert_eq!(f.files[1].link_target.as_deref(), Some("/t/u"));
        assert_eq!(f.missing, ["/x"]);
        assert_eq!(f.command("cron").unwrap().stdout, "hi");
        assert!(parse_frames(b"F 7 0 644 30\n/a/b cabc").is_err());
        assert!(parse_frames(b"Q 1\nx").is_err());
        assert!(parse_frames(b"F 1 0 9z 0\nx").is_err());
    }

    #[test]
    fn the_probe_runs_in_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::write(dir.path().join("a.list"), "deb x y\n").unwrap();
        std::fs::write(dir.path().join(".h.list"), "hidden").unwrap();
        std::os::unix::fs::symlink(dir.path().join("a.list"), dir.path().join("l.list")).unwrap();
        let fact = TextFilesFact::new(
            "t",
            vec![
                Probe::Glob {
                    dir: d.clone(),
                    suffix: ".list".into(),
                },
                Probe::File(format!("{d}/none")),
                Probe::Command {
                    name: "echo".into(),
                    script: Script::text("printf 'a\\n\\n'; exit 3"),
                },
            ],
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(fact.script().as_str())
            .output()
            .unwrap();
        let out = CommandOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        };
        let f = fact.parse(&out).unwrap();
        assert_eq!(f.files.len(), 2, "{f:?}");
        assert_eq!(f.files[0].content, "deb x y\n");
        assert_eq!(f.files[1].link_target, Some(format!("{d}/a.list")));
        assert_eq!(f.missing, [format!("{d}/none")]);
        let c = f.command("echo").unwrap();
        assert_eq!((c.status, c.stdout.as_str()), (3, "a\n\n"));
    }
}
