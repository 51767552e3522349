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

/// `setup`: which facts to gather again, as Ansible's module takes them (`gather_subset`,
/// `filter`, `gather_timeout`, `fact_path`; lists as YAML lists or comma-separated strings).
#[derive(Debug, Clone, PartialEq)]
pub struct SetupArgs {
    /// The collectors to run and the `filter` to keep.
    pub request: crate::facts::Request,
    /// `gather_timeout` in seconds: how long the probe may take (else the task's timeout).
    pub gather_timeout: Option<u64>,
}

impl SetupArgs {
    /// Reads the arguments; an unknown one, an unknown subset or a bad filter is an error,
    /// with the argument it is about (none for a malformed mapping).
    pub fn parse(args: &serde_json::Value) -> Result<Self, (Option<String>, String)> {
        use crate::playbook::comma_list;
        use serde_json::Value;
        let empty = serde_json::Map::new();
        let m = match args {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err((None, "`setup` takes a mapping of arguments".into())),
        };
        if let Some(k) = m.keys().find(|k| {
            !["gather_subset", "filter", "gather_timeout", "fact_path"].contains(&k.as_str())
        }) {
            return Err((
                Some(k.clone()),
                format!(
                    "unknown argument `{k}` (setup takes gather_subset, filter, gather_timeout, fact_path)"
                ),
            ));
        }
        let list = |k: &'static str, default: &[&str]| match m.get(k) {
            None => Ok(default.iter().map(|s| (*s).to_owned()).collect()),
            Some(v) => {
                comma_list(v).ok_or((Some(k.to_owned()), format!("`{k}` takes a list of strings")))
            }
        };
        let subset = list("gather_subset", &["all"])?;
        let filter = list("filter", &[])?;
        for f in &filter {
            crate::facts::check_filter(f).map_err(|e| (Some("filter".to_owned()), e))?;
        }
        let fact_path = match m.get("fact_path") {
            None => crate::facts::DEFAULT_FACT_PATH.to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err((
                    Some("fact_path".into()),
                    "`fact_path` takes a folder".into(),
                ));
            }
        };
        let gather_timeout = match m.get("gather_timeout") {
            None => None,
            Some(v) => Some(
                match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .ok_or((
                    Some("gather_timeout".to_owned()),
                    "`gather_timeout` takes a number of seconds".to_owned(),
                ))?,
            ),
        };
        let request = crate::facts::Request::new(&subset, &filter, &fact_path)
            .map_err(|e| (Some("gather_subset".to_owned()), e))?;
        Ok(SetupArgs {
            request,
            gather_timeout,
        })
    }
}
