//! Project settings: the nearest `prov.toml` at or above a playbook's folder.
//!
//! Its one setting is the dialect of the expressions in YAML (playbooks, roles, variables):
//! `dialect = "tera"` for content written for prov, `dialect = "jinja2"` for content written
//! for Ansible. Without a `prov.toml`, YAML is Jinja2, so that roles and playbooks written for
//! Ansible run with no edit and no flag.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{EngineError, Location};
use crate::template::Dialect;

/// The name of the project settings file.
pub const SETTINGS_FILE: &str = "prov.toml";

/// The settings that apply to one playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The dialect of YAML expressions.
    pub dialect: Dialect,
    /// The `prov.toml` that set it, if one did.
    pub settings: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    dialect: Option<Dialect>,
}

impl Project {
    /// The settings of the playbook at `playbook`: from the nearest `prov.toml` in its folder or
    /// above (a `prov.toml` without `dialect` means Jinja2 and stops the search).
    pub fn of_playbook(playbook: &Path) -> Result<Self, EngineError> {
        // Resolved, so that `..` leads where it points and not to the folder it is written in.
        let start = std::fs::canonicalize(playbook)
            .or_else(|_| std::path::absolute(playbook))
            .map_err(|e| EngineError::Io {
                file: playbook.to_path_buf(),
                message: e.to_string(),
            })?;
        for dir in start.ancestors().skip(1) {
            let candidate = dir.join(SETTINGS_FILE);
            if candidate.is_file() {
                let settings = read(&candidate)?;
                return Ok(Self {
                    dialect: settings.dialect.unwrap_or(Dialect::Jinja2),
                    settings: Some(candidate),
                });
            }
        }
        Ok(Self {
            dialect: Dialect::Jinja2,
            settings: None,
        })
    }

    /// These settings with the dialect given on the command line, if any.
    pub fn with_dialect(mut self, dialect: Option<Dialect>) -> Self {
        if let Some(d) = dialect {
            self.dialect = d;
            self.settings = None;
        }
        self
    }

    /// Where the dialect comes from, for people: the file, or the rule's default.
    pub fn dialect_source(&self) -> String {
        match &self.settings {
            Some(f) => f.display().to_string(),
            None => "default for YAML without a prov.toml, or --dialect".into(),
        }
    }
}

fn read(path: &Path) -> Result<Settings, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::Io {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(&text, s.start))
            .unwrap_or((1, 1));
        EngineError::invalid(Location::new(path, line, column), e.message().to_owned())
    })
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_with(settings: Option<&str>) -> (tempfile::TempDir, Result<Project, EngineError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plays")).unwrap();
        if let Some(s) = settings {
            std::fs::write(dir.path().join(SETTINGS_FILE), s).unwrap();
        }
        let p = Project::of_playbook(&dir.path().join("plays/site.yml"));
        (dir, p)
    }

    #[test]
    fn the_nearest_settings_file_decides() {
        let (_d, p) = project_with(Some("dialect = \"tera\"\n"));
        assert_eq!(p.unwrap().dialect, Dialect::Tera);
        let (_d, p) = project_with(Some("# nothing set\n"));
        assert_eq!(p.unwrap().dialect, Dialect::Jinja2);
    }

    #[test]
    fn a_bad_settings_file_is_named_with_line_and_column() {
        let (_d, p) = project_with(Some("\ndialect = \"jinja\"\n"));
        let e = p.unwrap_err().to_string();
        assert!(e.contains("prov.toml:2:11"), "{e}");
        let (_d, p) = project_with(Some("dialekt = \"tera\"\n"));
        let e = p.unwrap_err().to_string();
        assert!(e.contains("prov.toml:1:1") && e.contains("dialekt"), "{e}");
    }

    #[test]
    fn a_path_through_dot_dot_is_resolved_first() {
        let dir = tempfile::tempdir().unwrap();
        let tera = dir.path().join("tera-project");
        let ansible = dir.path().join("ansible-roles");
        std::fs::create_dir_all(&tera).unwrap();
        std::fs::create_dir_all(&ansible).unwrap();
        std::fs::write(tera.join(SETTINGS_FILE), "dialect = \"tera\"\n").unwrap();
        std::fs::write(ansible.join("site.yml"), "[]\n").unwrap();
        // Written from inside the tera project, the playbook is still outside it.
        let p = Project::of_playbook(&tera.join("../ansible-roles/site.yml")).unwrap();
        assert_eq!(p.dialect, Dialect::Jinja2);
    }

    #[test]
    fn the_command_line_overrides() {
        let (_d, p) = project_with(Some("dialect = \"tera\"\n"));
        let p = p.unwrap().with_dialect(Some(Dialect::Jinja2));
        assert_eq!(p.dialect, Dialect::Jinja2);
        assert!(p.settings.is_none());
    }
}
