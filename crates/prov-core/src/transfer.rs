//! Atomic file transfer on top of [`Connection::exec`].
//!
//! The content is streamed on stdin into a private (0600) temporary file in the target's own
//! directory, its size and SHA-256 are checked, mode and ownership are set, and only then is it
//! renamed over the target. A killed run or a cut connection therefore leaves either the old or
//! the new content, never a partial file, and the temporary file is removed on every path
//! (a shell trap covers errors, hang-ups and signals).

use crate::connection::{Become, CommandOutput, Connection, RemoteCommand, Stdin, TransportError};
use crate::quote::quote;

/// Attributes of a file written by [`put_file`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttrs {
    /// Octal mode such as `0644` or a symbolic one (`u=rw,g=r,o=r`); `None` keeps the old
    /// file's mode, or 0644 for a new file.
    pub mode: Option<String>,
    /// Owner by name (keeps the old owner when `None`).
    pub owner: Option<String>,
    /// Group by name (keeps the old group when `None`).
    pub group: Option<String>,
    /// Keep the previous content beside the new one as `DEST.<timestamp>~`.
    pub backup: bool,
}

/// The shell script that receives a file on stdin and installs it atomically at `dest`.
pub fn install_script(dest: &str, size: u64, sha256_hex: &str, attrs: &FileAttrs) -> String {
    let d = quote(dest);
    let mut s = String::new();
    s.push_str("set -e\n");
    s.push_str(&format!("d={d}\n"));
    s.push_str("dir=$(dirname -- \"$d\")\n");
    // Temporary files older than the host's current boot (PID 1's start) were left by a power
    // loss mid-transfer: no writer of them can still be alive, so they go.
    s.push_str(
        "boot=$(awk -v t=\"$(getconf CLK_TCK)\" 'NR==FNR{if($1==\"btime\")b=$2;next}{print b+int($22/t)}' /proc/stat /proc/1/stat 2>/dev/null) && \
         [ -n \"$boot\" ] && find \"$dir\" -maxdepth 1 -name '.prov-tmp.*' -type f ! -newermt \"@$boot\" -delete 2>/dev/null || true\n",
    );
    // The traps come first and the name before the file: a hang-up or signal at any moment
    // (prov stopped just as the transfer began) finds `$tmp` set and removes it.
    s.push_str("tmp=\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
    s.push_str(
        "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 141' PIPE\n",
    );
    s.push_str("tmp=$(mktemp -u -- \"$dir/.prov-tmp.XXXXXXXX\")\n");
    // Created without clobbering: a name someone else took (never in practice) is not ours to
    // remove.
    s.push_str("(umask 077 && set -C && : > \"$tmp\") || { tmp=; exit 1; }\n");
    s.push_str("cat > \"$tmp\"\n");
    s.push_str(&format!(
        "[ \"$(wc -c < \"$tmp\")\" -eq {size} ] || {{ echo 'transfer incomplete' >&2; exit 1; }}\n"
    ));
    s.push_str(&format!(
        "[ \"$(sha256sum < \"$tmp\" | cut -d' ' -f1)\" = {} ] || {{ echo 'checksum mismatch' >&2; exit 1; }}\n",
        quote(sha256_hex)
    ));
    s.push_str(&finish_script(attrs));
    s
}

/// The end of an atomic install, shared by every writer: given a complete temporary file
/// `$tmp` and the target `$d` (shell variables the caller sets), keep the old file's mode and
/// owner (0644 for a new file), apply `attrs`, optionally back the old content up, and rename
/// `$tmp` over `$d` (never into it, should `$d` be a directory or a link to one).
pub fn finish_script(attrs: &FileAttrs) -> String {
    let mut s = String::new();
    s.push_str(
        "if [ -e \"$d\" ]; then chmod --reference=\"$d\" \"$tmp\"; chown --reference=\"$d\" \"$tmp\" 2>/dev/null || true; else chmod 0644 \"$tmp\"; fi\n",
    );
    if let Some(mode) = &attrs.mode {
        s.push_str(&format!("chmod {} \"$tmp\"\n", quote(mode)));
    }
    match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => s.push_str(&format!("chown {}:{} \"$tmp\"\n", quote(o), quote(g))),
        (Some(o), None) => s.push_str(&format!("chown {} \"$tmp\"\n", quote(o))),
        (None, Some(g)) => s.push_str(&format!("chgrp {} \"$tmp\"\n", quote(g))),
        (None, None) => {}
    }
    if attrs.backup {
        s.push_str("if [ -f \"$d\" ]; then cp -p -- \"$d\" \"$d.$(date +%Y%m%d%H%M%S)~\"; fi\n");
    }
    s.push_str("mv -fT -- \"$tmp\" \"$d\"\n");
    s
}

/// Streams `content` (exactly `size` bytes with the given SHA-256) to `dest` atomically.
pub async fn put_file(
    conn: &dyn Connection,
    dest: &str,
    content: Stdin<'_>,
    size: u64,
    sha256_hex: &str,
    attrs: &FileAttrs,
    become_: Option<Become>,
) -> Result<CommandOutput, TransportError> {
    let cmd =
        RemoteCommand::new(install_script(dest, size, sha256_hex, attrs)).with_become(become_);
    conn.exec(&cmd, content).await
}
