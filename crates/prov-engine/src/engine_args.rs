//! Arguments of the engine's own actions that read files on the controller (`include_tasks`,
//! `include_vars`): checked when the playbook is loaded, read when the task runs.

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
