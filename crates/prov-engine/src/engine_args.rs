//! Arguments of the engine's own actions that read files on the controller (`include_tasks`,
//! `include_vars`, `include_role`/`import_role`): checked when the playbook is loaded, read
//! when the task runs.

use serde::Deserialize;

/// `include_tasks: FILE` or `include_tasks: {file: FILE}` (also the old `include:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeTasksArgs {
    /// The tasks file, relative to the including file's folder (a role's `tasks/`).
    pub file: String,
}

/// `include_vars: FILE` or its mapping form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncludeVarsArgs {
    /// One file of variables (looked up in a role's `vars/`, then beside the playbook).
    pub file: Option<String>,
    /// A folder: every file in it with one of `extensions`, in name order.
    pub dir: Option<String>,
    /// Put the variables under this one name instead of at the top level.
    pub name: Option<String>,
    /// How deep to descend into `dir` (0: no limit).
    #[serde(default)]
    pub depth: u64,
    /// Only files of `dir` whose name matches this regular expression.
    pub files_matching: Option<String>,
    /// File names in `dir` to leave out.
    #[serde(default)]
    pub ignore_files: Vec<String>,
    /// The file extensions read in `dir`.
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
    /// Files of `dir` with other extensions are skipped instead of failing.
    #[serde(default)]
    pub ignore_unknown_extensions: bool,
}

fn default_extensions() -> Vec<String> {
    ["yaml", "yml", "json"].map(String::from).to_vec()
}

/// The mapping form of a free-form argument: `file=x name=y`, or the bare file name.
pub fn free_form_file(text: &str) -> serde_json::Map<String, serde_json::Value> {
    match crate::playbook::parse_kv_args(text) {
        Some(m) if !m.is_empty() => m,
        _ => serde_json::Map::from_iter([("file".to_owned(), text.trim().into())]),
    }
}

/// `include_role` / `import_role`: the role and which of its files to load.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleArgs {
    /// The role's name (looked for in `roles/` beside the playbook).
    pub name: String,
    /// The tasks file instead of `tasks/main.yml`.
    pub tasks_from: Option<String>,
    /// The vars file instead of `vars/main.yml`.
    pub vars_from: Option<String>,
    /// The defaults file instead of `defaults/main.yml`.
    pub defaults_from: Option<String>,
    /// The handlers file instead of `handlers/main.yml`.
    pub handlers_from: Option<String>,
    /// Accepted as Ansible's default (`true`); `false` is refused (prov does not deduplicate
    /// included roles).
    pub allow_duplicates: Option<bool>,
    /// Accepted as Ansible's default for `include_role` (`false`: the role's variables stay
    /// inside it); `true` is refused.
    pub public: Option<bool>,
}

impl RoleArgs {
    /// The options prov does not implement, as an error message.
    pub fn unsupported(&self) -> Option<&'static str> {
        if self.allow_duplicates == Some(false) {
            return Some("`allow_duplicates: false` is not supported");
        }
        if self.public == Some(true) {
            return Some("`public: true` is not supported: the role's variables stay inside it");
        }
        None
    }
}
