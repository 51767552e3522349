//! Atomic file transfer on top of [`Connection::exec`].
//!
//! The content is streamed on stdin into a private (0600) temporary file in the target's own
//! directory, its size and SHA-256 are checked, mode and ownership are set, and only then is it
//! renamed over the target. A killed run or a cut connection therefore leaves either the old or
//! the new content, never a partial file, and the temporary file is removed on every path
//! (a shell trap covers errors, hang-ups and signals).

use crate::connection::{Become, CommandOutput, Connection, RemoteCommand, Stdin, TransportError};
use crate::quote::quote;
use crate::script::Script;
use crate::sh;

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
    s.push_str("tmp=\n");
    s.push_str(&cleanup_traps("tmp"));
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

/// Shell traps that remove the file named by shell variable `var` however the script ends:
/// on exit, and on a hang-up, interrupt, TERM or broken pipe (exit 129/130/143/141).
///
/// The removal ignores those signals first, and `rm` inherits that: prov stops an abandoned
/// command by signalling its whole process group, and a TERM reaching `rm` itself while the
/// exit trap runs would otherwise leave the file behind (seen on lab hosts, about one stop in
/// eight).
pub fn cleanup_traps(var: &'static str) -> String {
    cleanup_traps_script(var).to_string()
}

/// [`cleanup_traps`] as a [`Script`] (`var` is a shell variable name, written in the code).
pub fn cleanup_traps_script(var: &'static str) -> Script {
    let var = Script::text(var);
    sh!(
        "prov_cleanup() {{ trap '' HUP INT TERM PIPE; rm -f -- \"${}\"; }}\n\
         trap prov_cleanup EXIT\n\
         trap 'prov_cleanup; exit 129' HUP; trap 'prov_cleanup; exit 130' INT; \
         trap 'prov_cleanup; exit 143' TERM; trap 'prov_cleanup; exit 141' PIPE\n",
        var
    )
}

/// The end of an atomic install, shared by every writer: given a complete temporary file
/// `$tmp` and the target `$d` (shell variables the caller sets), keep the old file's mode and
/// owner (0644 for a new file), apply `attrs`, optionally back the old content up, and rename
/// `$tmp` over `$d` (never into it, should `$d` be a directory or a link to one).
pub fn finish_script(attrs: &FileAttrs) -> String {
    finish(attrs).to_string()
}

/// [`finish_script`] as a [`Script`].
pub fn finish(attrs: &FileAttrs) -> Script {
    let mut s = Script::text(
        "if [ -e \"$d\" ]; then chmod --reference=\"$d\" \"$tmp\"; chown --reference=\"$d\" \"$tmp\" 2>/dev/null || true; else chmod 0644 \"$tmp\"; fi\n",
    );
    if let Some(mode) = &attrs.mode {
        s = s.then(&sh!("chmod {} \"$tmp\"\n", mode));
    }
    let owner = match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => sh!("chown {}:{} \"$tmp\"\n", o, g),
        (Some(o), None) => sh!("chown {} \"$tmp\"\n", o),
        (None, Some(g)) => sh!("chgrp {} \"$tmp\"\n", g),
        (None, None) => Script::default(),
    };
    s = s.then(&owner);
    if attrs.backup {
        s = s.then_text(
            "if [ -f \"$d\" ]; then cp -p -- \"$d\" \"$d.$(date +%Y%m%d%H%M%S)~\"; fi\n",
        );
    }
    s.then_text("mv -fT -- \"$tmp\" \"$d\"\n")
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    /// A transfer cut short whose cleanup is itself hit by the TERM prov's reaper sends to the
    /// whole process group (here: while `rm` runs, made slow by a stand-in that sleeps first)
    /// still removes its temporary file.
    #[test]
    fn a_term_to_the_group_during_cleanup_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("prov-transfer-{}", std::process::id()));
        let bin = dir.join("bin");
        let out = dir.join("out");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        let rm = bin.join("rm");
        std::fs::write(&rm, "#!/bin/sh\nsleep 0.4\nexec /bin/rm \"$@\"\n").unwrap();
        std::fs::set_permissions(&rm, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dest = out.join("file");
        let script = install_script(
            &dest.display().to_string(),
            10,
            &"0".repeat(64),
            &FileAttrs::default(),
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        // Three bytes of ten, then the input ends: the script finds the transfer incomplete
        // and exits; its cleanup runs the slow `rm`, and the group gets a TERM meanwhile.
        child.stdin.take().unwrap().write_all(b"abc").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .status();
        let status = child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!status.success());
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
