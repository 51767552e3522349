//! Small helpers shared by the server modules (`apt`, `service`, `firewall`, `user`, `group`,
//! `sysctl`, `wait_for`): sectioned output of one state-reading command, and writing a text file
//! through [`prov_core::transfer::put_file`].

use std::collections::HashMap;

use prov_core::transfer::{FileAttrs, put_file};
use prov_core::{ModuleContext, ModuleError, Stdin};
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

/// Writes `content` to `path` on the host atomically (mode/owner per `attrs`).
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
}
