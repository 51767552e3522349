//! The playbook's local files as modules see them: `templates/` and `files/` lookup, and
//! template rendering with the host's variables.

use std::path::{Path, PathBuf};

use prov_core::{FileKind, FileSource, ModuleError};
use tera::Context;

use crate::template::Templar;

/// Finds files beside the playbook and in the current role, renders templates.
pub struct PlaybookFiles<'a> {
    /// The templar.
    pub templar: &'a Templar,
    /// The host's variables for this task.
    pub context: &'a Context,
    /// The playbook's folder.
    pub playbook_dir: &'a Path,
    /// The current role's folder, if any.
    pub role_dir: Option<&'a Path>,
}

impl FileSource for PlaybookFiles<'_> {
    fn find(&self, kind: FileKind, name: &str) -> Result<PathBuf, ModuleError> {
        let p = Path::new(name);
        if p.is_absolute() {
            return if p.exists() {
                Ok(p.to_path_buf())
            } else {
                Err(ModuleError::LocalFile(format!(
                    "{name}: no such file on the controller"
                )))
            };
        }
        let sub = match kind {
            FileKind::Template => "templates",
            FileKind::File => "files",
        };
        let mut candidates = Vec::new();
        if let Some(r) = self.role_dir {
            candidates.push(r.join(sub).join(name));
            candidates.push(r.join(name));
        }
        candidates.push(self.playbook_dir.join(sub).join(name));
        // The project layout keeps templates/ at the repository root beside playbooks/.
        if let Some(parent) = self.playbook_dir.parent() {
            candidates.push(parent.join(sub).join(name));
        }
        candidates.push(self.playbook_dir.join(name));
        candidates.push(PathBuf::from(sub).join(name));
        candidates.into_iter().find(|c| c.exists()).ok_or_else(|| {
            ModuleError::LocalFile(format!(
                "could not find `{name}` in {sub}/ beside the playbook ({}){}",
                self.playbook_dir.display(),
                self.role_dir
                    .map(|r| format!(" or in role {}", r.display()))
                    .unwrap_or_default()
            ))
        })
    }

    fn output_path(&self, name: &str) -> Result<PathBuf, ModuleError> {
        Ok(self.playbook_dir.join(name))
    }

    fn render(&self, path: &Path) -> Result<String, ModuleError> {
        self.templar
            .render_file(path, self.context)
            .map_err(|e| ModuleError::Template(e.to_string()))
    }
}
