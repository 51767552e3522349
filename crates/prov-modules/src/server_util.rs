//! Small helpers shared by the server modules (`apt`, `service`, `firewall`, `user`, `group`,
//! `sysctl`, `wait_for`): sectioned output of one state-reading command, and writing a text file
//! through [`prov_core::transfer::put_file`].

use std::collections::HashMap;

use prov_core::transfer::{FileAttrs, put_file};
use prov_core::{ModuleContext, ModuleError, Stdin, quote};
use sha2::{Digest, Sha256};

/// The marker that starts a section in the output of a state-reading script.
pub const MARK: &str = "@@prov:";

/// The shell line that starts section `name` (`echo '@@prov:name'`).
pub fn section(name: &str) -> String {
    format!("echo '{MARK}{name}'\n")
}

/// Splits `text` into its sections (`@@prov:NAME` lines start one); text before the first marker
/// is dropped. A section's text keeps its trailing newline.
pub fn sections(text: &str) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(name) = bare.strip_prefix(MARK) {
            current = Some(name.to_owned());
            out.entry(name.to_owned()).or_default();
            continue;
        }
        if let Some(name) = &current {
            out.entry(name.clone()).or_default().push_str(line);
        }
    }
    out
}

/// The text of section `name` (empty when absent).
pub fn get<'a>(sections: &'a HashMap<String, String>, name: &str) -> &'a str {
    sections.get(name).map(String::as_str).unwrap_or("")
}

/// Shell lines that print section `name` holding the file a write to `path` must replace when
/// `path` is a symbolic link (dangling or not): its target, resolved by `readlink -f`, or `!`
/// when that fails (a loop, or a target inside a missing directory). Nothing for any other path.
/// Read it back with [`write_target`].
pub fn resolve_section(name: &str, path: &str) -> String {
    let q = quote(path);
    format!(
        "{}if [ -L {q} ]; then readlink -f -- {q} 2>/dev/null || echo '!'; fi\n",
        section(name)
    )
}

/// The path a write to `path` must go to, from section `name` printed by [`resolve_section`]:
/// the link's resolved target when `path` is a symbolic link, so the write goes through the
/// link and keeps it (as Ansible's `realpath`), else `path` itself.
pub fn write_target(
    module: &str,
    sections: &HashMap<String, String>,
    name: &str,
    path: &str,
) -> Result<String, ModuleError> {
    match get(sections, name).trim_end_matches('\n') {
        "" => Ok(path.to_owned()),
        "!" => Err(ModuleError::failed(format!(
            "{module}: {path} is a symbolic link that cannot be resolved (a loop, or its target's directory does not exist)"
        ))),
        target => Ok(target.to_owned()),
    }
}

/// Writes `content` to `path` on the host atomically (mode/owner per `attrs`). A link at `path`
/// is replaced: pass the [`write_target`] of the path to write through it.
pub async fn write_text(
    ctx: &ModuleContext<'_>,
    path: &str,
    content: &str,
    attrs: &FileAttrs,
) -> Result<(), ModuleError> {
    let bytes = content.as_bytes();
    let sha = hex::encode(Sha256::digest(bytes));
    let out = put_file(
        ctx.conn,
        path,
        Stdin::Bytes(bytes),
        bytes.len() as u64,
        &sha,
        attrs,
        ctx.become_.cloned(),
    )
    .await?;
    if out.success() {
        Ok(())
    } else {
        Err(ModuleError::Remote {
            command: format!("write {path}"),
            status: out.status,
            stderr: out.stderr_text(),
        })
    }
}

/// Turns a command's output into a failure naming the command and its stderr (or stdout when
/// stderr is empty) unless it exited 0.
pub fn check_output(command: &str, out: &prov_core::CommandOutput) -> Result<(), ModuleError> {
    if out.success() {
        return Ok(());
    }
    let mut stderr = out.stderr_text();
    if stderr.is_empty() {
        stderr = out.stdout_text().trim().to_owned();
    }
    Err(ModuleError::Remote {
        command: command.to_owned(),
        status: out.status,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_on_markers() {
        let s = sections("junk\n@@prov:a\n1\n2\n@@prov:b\n@@prov:c\nx");
        assert_eq!(get(&s, "a"), "1\n2\n");
        assert_eq!(get(&s, "b"), "");
        assert_eq!(get(&s, "c"), "x");
        assert_eq!(get(&s, "missing"), "");
        assert!(!s.contains_key("junk"));
    }

    /// Runs `resolve_section` in a real shell on `path`.
    fn resolve(path: &str) -> Result<String, ModuleError> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(resolve_section("t", path))
            .output()
            .expect("sh");
        let secs = sections(&String::from_utf8_lossy(&out.stdout));
        write_target("m", &secs, "t", path)
    }

    #[test]
    fn write_target_goes_through_links() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonicalize");
        let p = |n: &str| dir.path().join(n).display().to_string();
        let r = |n: &str| root.join(n).display().to_string();
        std::fs::write(dir.path().join("real.conf"), "x\n").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        symlink("../real.conf", dir.path().join("sub/link.conf")).expect("symlink");
        symlink("sub/link.conf", dir.path().join("chain.conf")).expect("symlink");
        symlink("missing.conf", dir.path().join("dangling.conf")).expect("symlink");
        symlink("nodir/x.conf", dir.path().join("deep.conf")).expect("symlink");
        symlink("loop.conf", dir.path().join("loop.conf")).expect("symlink");

        assert_eq!(resolve(&p("real.conf")).unwrap(), p("real.conf"));
        assert_eq!(resolve(&p("absent.conf")).unwrap(), p("absent.conf"));
        assert_eq!(resolve(&p("sub/link.conf")).unwrap(), r("real.conf"));
        assert_eq!(resolve(&p("chain.conf")).unwrap(), r("real.conf"));
        assert_eq!(resolve(&p("dangling.conf")).unwrap(), r("missing.conf"));
        for bad in ["deep.conf", "loop.conf"] {
            let e = resolve(&p(bad)).unwrap_err().to_string();
            assert!(e.contains("cannot be resolved"), "{e}");
        }
        let odd = p("it's $(x).conf");
        assert_eq!(resolve(&odd).unwrap(), odd);
    }
}
