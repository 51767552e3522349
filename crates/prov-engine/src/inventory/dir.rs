//! Inventory sources on disk: single files, inventory directories, comma-separated host
//! lists, and the `group_vars/` and `host_vars/` folders next to them.
//!
//! An inventory directory is read like Ansible reads it: every entry in name order, recursing
//! into sub-directories, skipping hidden entries, `group_vars`, `host_vars`, `vars_plugins`
//! and files ending in `.md .txt .rst .cfg .retry .orig .bak .swp .pyc .pyo .rpm ~`.
//! `.yml`, `.yaml` and `.json` files are YAML inventories (or the JSON that dynamic inventory
//! scripts and `ansible-inventory --list` print); `.ini` files and files without an
//! extension are INI inventories (an extension-less file whose first line is `---` or a
//! top-level `name:` key is read as YAML). Executable inventory scripts (`#!`) are skipped
//! with a warning; any other file is tried as INI and skipped with a warning when that fails.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::model::{Builder, Vars};
use super::{ini_format, yaml_format};
use crate::error::EngineError;
use crate::yaml::{self, PathSeg, SecretResolver};

/// Suffixes Ansible's `INVENTORY_IGNORE_EXTS` skips in inventory directories.
const IGNORED_SUFFIXES: &[&str] = &[
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
/// Entries always skipped in inventory directories.
const IGNORED_NAMES: &[&str] = &["group_vars", "host_vars", "vars_plugins"];
/// Extensions of variable files in `group_vars/` and `host_vars/`.
const VARS_EXTENSIONS: &[&str] = &["yml", "yaml", "json"];
/// Bound on directory nesting (guards against symlink loops).
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Ini,
    /// Unknown extension: INI when it parses, otherwise skipped.
    TryIni,
}

/// Reads one `-i` source into `b`. Returns the directory whose `group_vars/` and
/// `host_vars/` apply to it (`None` for a host list).
pub(crate) fn load_source(
    source: &Path,
    b: &mut Builder,
    secrets: &dyn SecretResolver,
) -> Result<Option<PathBuf>, EngineError> {
    if source.is_dir() {
        load_dir(source, b, secrets, 0)?;
        return Ok(Some(source.to_path_buf()));
    }
    if source.is_file() {
        load_file(source, b, secrets, true)?;
        let base = match source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        return Ok(Some(base));
    }
    let text = source.to_string_lossy();
    if text.contains(',') {
        load_host_list(&text, source, b)?;
        return Ok(None);
    }
    Err(EngineError::Io {
        file: source.to_path_buf(),
        message: "inventory source not found (expected a file, a directory, or a comma-separated \
                  host list such as `web1,web2,`)"
            .into(),
    })
}

/// `-i 'web1,web2:2222,'`: hosts in `ungrouped`.
fn load_host_list(text: &str, source: &Path, b: &mut Builder) -> Result<(), EngineError> {
    let at = crate::error::Location::new(source, 1, 1);
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (names, port) = super::hostrange::expand_host_pattern(part).map_err(|message| {
            EngineError::Pattern {
                pattern: text.to_owned(),
                message,
            }
        })?;
        for name in names {
            let (h, _) = b.add_host(&name, super::model::UNGROUPED_IDX, &at);
            if let Some(port) = port {
                b.set_host_var(h, "ansible_port".into(), Value::from(port), at.clone());
            }
        }
    }
    Ok(())
}

fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || IGNORED_NAMES.contains(&name)
        || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let rd = std::fs::read_dir(dir).map_err(|e| EngineError::Io {
        file: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut entries: Vec<PathBuf> = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| EngineError::Io {
            file: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        entries.push(entry.path());
    }
    entries.sort();
    Ok(entries)
}

fn load_dir(
    dir: &Path,
    b: &mut Builder,
    secrets: &dyn SecretResolver,
    depth: usize,
) -> Result<(), EngineError> {
    if depth > MAX_DEPTH {
        b.warn(format!(
            "{}: skipped: inventory directories nested too deeply",
            dir.display()
        ));
        return Ok(());
    }
    for path in sorted_entries(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_ignored(&name) {
            continue;
        }
        if path.is_dir() {
            load_dir(&path, b, secrets, depth + 1)?;
        } else if path.is_file() {
            load_file(&path, b, secrets, false)?;
        }
    }
    Ok(())
}

fn format_of(path: &Path) -> Format {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("yml" | "yaml" | "json") => Format::Yaml,
        Some("ini") | None => Format::Ini,
        Some(_) => Format::TryIni,
    }
}

/// True when the first meaningful line looks like YAML rather than INI.
fn looks_like_yaml(text: &str) -> bool {
    let Some(first) = text.lines().map(str::trim_end).find(|l| {
        !l.trim().is_empty() && !l.trim_start().starts_with('#') && !l.trim_start().starts_with(';')
    }) else {
        return false;
    };
    if first == "---" || first.starts_with("--- ") {
        return true;
    }
    // `all:` / `web:` at column 1: an INI host would not end in a colon.
    !first.starts_with(' ')
        && first.ends_with(':')
        && first[..first.len() - 1]
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Reads one inventory file. `explicit` is true for a file named with `-i` (unknown
/// extensions are then errors, not warnings).
fn load_file(
    path: &Path,
    b: &mut Builder,
    secrets: &dyn SecretResolver,
    explicit: bool,
) -> Result<(), EngineError> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::Io {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if bytes.starts_with(b"#!") {
        let message = "dynamic inventory scripts are not supported; run the script with `--list` \
                       and save its JSON output as a .json file in the inventory";
        if explicit {
            return Err(EngineError::Io {
                file: path.to_path_buf(),
                message: message.into(),
            });
        }
        b.warn(format!("{}: skipped: {message}", path.display()));
        return Ok(());
    }
    let text = String::from_utf8(bytes).map_err(|_| EngineError::Io {
        file: path.to_path_buf(),
        message: "not valid UTF-8 text".into(),
    })?;
    let mut format = format_of(path);
    if format != Format::Yaml && !secrets.is_encrypted(&text) && looks_like_yaml(&text) {
        format = Format::Yaml;
    }
    match format {
        Format::Yaml => load_text(text, path, true, b, secrets),
        Format::Ini => load_text(text, path, false, b, secrets),
        Format::TryIni => {
            let text = plain_text(text, path, secrets)?;
            if explicit {
                return ini_format::parse(&text, path, b);
            }
            // Parse into a scratch copy so a failed attempt leaves no half-read hosts behind.
            let mut trial = b.clone();
            match ini_format::parse(&text, path, &mut trial) {
                Ok(()) => {
                    *b = trial;
                    Ok(())
                }
                Err(e) => {
                    b.warn(format!(
                        "{}: skipped: not an INI or YAML inventory ({e})",
                        path.display()
                    ));
                    Ok(())
                }
            }
        }
    }
}

/// Parses inventory `text` that came from `path` into `b`: as a YAML inventory when `yaml` is
/// true, otherwise as INI (a whole-file vault-encrypted text is decrypted first).
pub(crate) fn load_text(
    text: String,
    path: &Path,
    yaml: bool,
    b: &mut Builder,
    secrets: &dyn SecretResolver,
) -> Result<(), EngineError> {
    if yaml {
        let doc = yaml::load_str(&text, path, secrets)?;
        yaml_format::parse(&doc, b)
    } else {
        let text = plain_text(text, path, secrets)?;
        ini_format::parse(&text, path, b)
    }
}

fn plain_text(
    text: String,
    path: &Path,
    secrets: &dyn SecretResolver,
) -> Result<String, EngineError> {
    if secrets.is_encrypted(&text) {
        secrets.decrypt(&text, path)
    } else {
        Ok(text)
    }
}

/// The variable files for `name` under `base/kind` (`kind` is `group_vars` or `host_vars`),
/// the way Ansible finds them: the first of `NAME` (a file, or a directory whose files are
/// read recursively in name order), `NAME.yml`, `NAME.yaml`, `NAME.json`.
pub(crate) fn vars_files(base: &Path, kind: &str, name: &str) -> Vec<PathBuf> {
    let dir = base.join(kind);
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || !dir.is_dir()
    {
        return Vec::new();
    }
    for ext in ["", ".yml", ".yaml", ".json"] {
        let candidate = dir.join(format!("{name}{ext}"));
        if candidate.is_dir() {
            let mut found = Vec::new();
            collect_dir_vars(&candidate, &mut found, 0);
            return found;
        }
        if candidate.is_file() {
            return vec![candidate];
        }
    }
    Vec::new()
}

fn collect_dir_vars(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = sorted_entries(dir) else {
        return;
    };
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if path.is_dir() && ext.is_none() {
            collect_dir_vars(&path, found, depth + 1);
        } else if path.is_file() && ext.as_deref().is_none_or(|e| VARS_EXTENSIONS.contains(&e)) {
            found.push(path);
        }
    }
}

/// Loads one `group_vars` / `host_vars` file: a mapping of variables (or an empty file).
pub(crate) fn load_vars_file(
    path: &Path,
    secrets: &dyn SecretResolver,
) -> Result<Vars, EngineError> {
    let doc = yaml::load_file(path, secrets)?;
    let mut vars = Vars::default();
    match &doc.value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                let at = doc.location(&[PathSeg::Key(k.clone())]);
                vars.set(k.clone(), v.clone(), Some(at));
            }
        }
        other => {
            return Err(EngineError::invalid(
                doc.location(&[]),
                format!(
                    "a variables file must be a mapping of variable names to values, found {}",
                    match other {
                        Value::Array(_) => "a list",
                        Value::String(_) => "a string",
                        _ => "a scalar",
                    }
                ),
            ));
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_entries() {
        for n in [
            ".git",
            "group_vars",
            "host_vars",
            "README.md",
            "notes.txt",
            "ansible.cfg",
            "x.retry",
            "h~",
        ] {
            assert!(is_ignored(n), "{n}");
        }
        for n in ["hosts", "prod.ini", "hosts.yml", "staging"] {
            assert!(!is_ignored(n), "{n}");
        }
    }

    #[test]
    fn yaml_sniffing() {
        assert!(looks_like_yaml("---\nall:\n"));
        assert!(looks_like_yaml("# c\nall:\n  hosts:\n"));
        assert!(!looks_like_yaml("[web]\nweb1\n"));
        assert!(!looks_like_yaml("web1 ansible_host=1.2.3.4\n"));
    }
}
