//! The playbook model and its loader: plays, tasks, blocks, roles, includes and handlers.
//!
//! Loading resolves everything that can be known before a run: the module of every task (an
//! unknown module or argument is an error naming `file:line:column`), `import_tasks` and
//! `include_tasks` (expanded in place as blocks), and roles (`roles/NAME/{tasks,handlers,
//! defaults,vars,templates,files}`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::engine_args::RoleArgs;

use crate::action::{EngineAction, TaskAction};
use crate::error::{EngineError, Location};
use crate::project::Project;
use crate::template::{Templar, is_templated};
use crate::yaml::{self, NodeLocs, PathSeg, SecretResolver, YamlDoc};

/// A loaded playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// The playbook file.
    pub path: PathBuf,
    /// Its folder (where `templates/`, `files/`, `roles/` are looked up).
    pub dir: PathBuf,
    /// Its plays, in order.
    pub plays: Vec<Play>,
    /// The project settings it was loaded in (the dialect of its expressions).
    pub project: Project,
    /// Tasks prov cannot run (an unknown module, refused arguments) that are under a
    /// condition: loaded to fail with this error on a host where their condition holds.
    pub refused_when_reached: Vec<EngineError>,
}

/// Where each variable of a `vars:` mapping or vars file is written (its value's location).
pub type VarLocations = std::collections::BTreeMap<String, Location>;

/// A role used by a play.
#[derive(Debug, Clone)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// `defaults/main.yml` (lowest precedence).
    pub defaults: Map<String, Value>,
    /// Where each default is written.
    pub defaults_at: VarLocations,
    /// `vars/main.yml`.
    pub vars: Map<String, Value>,
    /// Where each of `vars` is written.
    pub vars_at: VarLocations,
}

/// One play.
#[derive(Debug, Clone)]
pub struct Play {
    /// Name (defaults to the host pattern).
    pub name: String,
    /// Host pattern.
    pub hosts: String,
    /// Where the `hosts:` value starts (its template errors point inside it).
    pub hosts_at: Location,
    /// `vars`.
    pub vars: Map<String, Value>,
    /// Where each of `vars` is written.
    pub vars_at: VarLocations,
    /// `vars_files`, loaded in order (paths relative to the playbook).
    pub vars_files: Vec<String>,
    /// Play-level `become`.
    pub become_: Option<bool>,
    /// Play-level `become_user`.
    pub become_user: Option<String>,
    /// `gather_facts` (default yes).
    pub gather_facts: bool,
    /// What gathering facts collects: `gather_subset` (default all) and `fact_path`.
    pub gather: crate::facts::Request,
    /// `gather_timeout`: seconds the whole gathering may take (default: the task timeout).
    pub gather_timeout: Option<u64>,
    /// `serial`: batch sizes (numbers or percentages).
    pub serial: Vec<SerialSize>,
    /// `connection: local` and friends.
    pub connection: Option<String>,
    /// Play tags, inherited by every task.
    pub tags: Vec<String>,
    /// Roles, in order.
    pub roles: Vec<Arc<Role>>,
    /// `pre_tasks`, then role tasks, `tasks`, `post_tasks`: all in one ordered list.
    pub tasks: Vec<Node>,
    /// Handlers (play handlers and role handlers).
    pub handlers: Vec<Task>,
    /// Keywords every task of the play inherits (`environment`, `no_log`, `ignore_errors`,
    /// `check_mode`, `become*`, `diff`, `tags`); the play's `vars` are not among them.
    pub keywords: Common,
    /// `remote_user`: the user to connect as when no `ansible_user` variable says otherwise.
    pub remote_user: Option<String>,
    /// `any_errors_fatal`.
    pub any_errors_fatal: bool,
    /// `max_fail_percentage`.
    pub max_fail_percentage: Option<f64>,
    /// Where the play starts.
    pub at: Location,
}

/// A task or a block.
#[derive(Debug, Clone)]
pub enum Node {
    /// One task.
    Task(Box<Task>),
    /// A block (also what includes and roles expand to).
    Block(Box<Block>),
}

/// Keywords shared by tasks and blocks.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// `when` conditions (all must hold).
    pub when: Vec<Condition>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `become`.
    pub become_: Option<bool>,
    /// `become_user`.
    pub become_user: Option<String>,
    /// `vars`.
    pub vars: Map<String, Value>,
    /// Where each of `vars` is written.
    pub vars_at: VarLocations,
    /// Role parameters (`- role: x` + `port: 1`, or its `vars:`) and the `vars:` of an include:
    /// as in Ansible they rank above `set_fact` and registered results, below extra vars.
    pub params: Map<String, Value>,
    /// `ignore_errors`.
    pub ignore_errors: Option<Flag>,
    /// `no_log`.
    pub no_log: Option<Flag>,
    /// `environment`: mappings (outermost first) of variables set for the module's commands.
    pub environment: Vec<Condition>,
    /// `become_method`.
    pub become_method: Option<prov_core::BecomeMethod>,
    /// `diff`: show (or hide) this task's diffs whatever `--diff` says.
    pub diff: Option<bool>,
    /// `check_mode` (false: run for real even in check mode).
    pub check_mode: Option<bool>,
    /// `delegate_to`.
    pub delegate_to: Option<String>,
    /// `run_once`.
    pub run_once: Option<bool>,
    /// `any_errors_fatal`.
    pub any_errors_fatal: Option<bool>,
    /// The loop variables an include was reached with: data, never rendered.
    pub loop_vars: Map<String, Value>,
    /// How many dynamic includes deep this node is.
    pub include_depth: usize,
    /// The role this belongs to.
    pub role: Option<Arc<Role>>,
}

/// A task's `loop_control`.
#[derive(Debug, Clone)]
pub struct LoopControl {
    /// `loop_var`: the name of the current item (default `item`).
    pub loop_var: String,
    /// `label`: what the output shows for an item (default: the item).
    pub label: Option<Value>,
    /// `index_var`: a variable holding the item's index (from 0).
    pub index_var: Option<String>,
    /// `extended`: `ansible_loop` (index, index0, first, last, length, revindex, revindex0,
    /// previtem, nextitem, allitems) is set for each item.
    pub extended: bool,
    /// `pause`: seconds to wait between items.
    pub pause: Option<std::time::Duration>,
}

impl Default for LoopControl {
    fn default() -> Self {
        Self {
            loop_var: "item".into(),
            label: None,
            index_var: None,
            extended: false,
            pause: None,
        }
    }
}

impl LoopControl {
    const KEYS: &[&str] = &["loop_var", "label", "index_var", "extended", "pause"];

    /// Reads `loop_control` (at `at`); unknown keys and wrong types are errors there.
    fn parse(doc: &YamlDoc, at: &[PathSeg], v: Option<&Value>) -> Result<LoopControl, EngineError> {
        let mut lc = LoopControl::default();
        let m = match v {
            None | Some(Value::Null) => return Ok(lc),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(EngineError::invalid(
                    doc.location(at),
                    "`loop_control` must be a mapping",
                ));
            }
        };
        let name = |k: &str, v: &Value| -> Result<String, EngineError> {
            v.as_str()
                .filter(|s| is_identifier(s))
                .map(str::to_owned)
                .ok_or_else(|| {
                    EngineError::invalid(
                        doc.value_location(&key(at, k)),
                        format!("`loop_control.{k}` must be a variable name"),
                    )
                })
        };
        for (k, v) in m {
            match k.as_str() {
                "loop_var" => lc.loop_var = name(k, v)?,
                "index_var" => lc.index_var = Some(name(k, v)?),
                "label" => lc.label = Some(v.clone()),
                "extended" => lc.extended = as_bool(doc, &key(at, k), v)?,
                "pause" => {
                    let secs = v
                        .as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| {
                            EngineError::invalid(
                                doc.value_location(&key(at, k)),
                                "`loop_control.pause` must be a number of seconds",
                            )
                        })?;
                    lc.pause = Some(std::time::Duration::from_secs_f64(secs));
                }
                other => {
                    return Err(EngineError::invalid(
                        doc.location(&key(at, other)),
                        format!(
                            "unknown `loop_control` key `{other}` (known: {})",
                            Self::KEYS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(lc)
    }
}

/// A valid variable name: a letter or `_`, then letters, digits or `_`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One `when` condition and where it is written.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The expression (a string, or a literal boolean).
    pub expr: Value,
    /// Where it is written.
    pub at: Location,
}

/// A yes/no keyword that may be a template decided per host at run time
/// (`no_log: "{{ hide_secrets }}"`).
#[derive(Debug, Clone)]
pub enum Flag {
    /// Written as a boolean.
    Fixed(bool),
    /// A template, evaluated as a condition.
    Templated(Condition),
}

impl Common {
    /// The keywords in effect inside a node with keywords `inner` written under `self`:
    /// conditions, tags and vars add up; the other keywords, when `inner` sets them, win.
    pub fn inherit(&self, inner: &Common) -> Common {
        let mut s = self.clone();
        s.when.extend(inner.when.iter().cloned());
        s.tags.extend(inner.tags.iter().cloned());
        s.vars
            .extend(inner.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        s.vars_at.extend(inner.vars_at.clone());
        s.params
            .extend(inner.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        s.become_ = inner.become_.or(s.become_);
        s.become_user = inner.become_user.clone().or(s.become_user);
        s.ignore_errors = inner.ignore_errors.clone().or(s.ignore_errors);
        s.no_log = inner.no_log.clone().or(s.no_log);
        s.environment.extend(inner.environment.iter().cloned());
        s.become_method = inner.become_method.or(s.become_method);
        s.diff = inner.diff.or(s.diff);
        s.check_mode = inner.check_mode.or(s.check_mode);
        s.delegate_to = inner.delegate_to.clone().or(s.delegate_to);
        s.run_once = inner.run_once.or(s.run_once);
        s.any_errors_fatal = inner.any_errors_fatal.or(s.any_errors_fatal);
        s.role = inner.role.clone().or(s.role);
        s.loop_vars
            .extend(inner.loop_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        s.include_depth = s.include_depth.max(inner.include_depth);
        s
    }
}

/// A block with rescue and always sections.
#[derive(Debug, Clone)]
pub struct Block {
    /// Name, if any.
    pub name: Option<String>,
    /// The tasks.
    pub block: Vec<Node>,
    /// Run on hosts that failed in `block`.
    pub rescue: Vec<Node>,
    /// Run on every host that entered the block.
    pub always: Vec<Node>,
    /// Shared keywords, inherited by the block's tasks.
    pub common: Common,
    /// Where it is.
    pub at: Location,
}

impl Block {
    /// A block of `nodes` under the keywords `common`, without rescue or always (what roles,
    /// imports and includes become).
    pub fn plain(name: String, nodes: Vec<Node>, common: Common, at: Location) -> Self {
        Self {
            name: Some(name),
            block: nodes,
            rescue: Vec::new(),
            always: Vec::new(),
            common,
            at,
        }
    }
}

/// A task's `until` with its `retries` and `delay`.
#[derive(Debug, Clone)]
pub struct Until {
    /// None: until the task succeeds (Ansible 2.16+ `retries` without `until`).
    pub condition: Option<Value>,
    /// How many times the task runs at most (Ansible: `retries` + 1, 3 when not given).
    pub attempts: u64,
    /// Seconds between attempts (`delay`, 5 when not given).
    pub delay: u64,
}

/// One task.
#[derive(Debug, Clone)]
pub struct Task {
    /// `name` (defaults to the module name).
    pub name: String,
    /// The module or engine action it runs, resolved at load time.
    pub action: TaskAction,
    /// Its arguments (unrendered).
    pub args: Value,
    /// Shared keywords.
    pub common: Common,
    /// `loop` / `with_*` (unrendered).
    pub loop_: Option<Value>,
    /// Which loop keyword it came from.
    pub loop_kind: crate::loops::LoopKind,
    /// The key its loop is written under (`with_items`, `with_community.general.flattened`).
    pub loop_key: Option<String>,
    /// `loop_control`.
    pub loop_control: LoopControl,
    /// `register`.
    pub register: Option<String>,
    /// `notify`.
    pub notify: Vec<String>,
    /// `listen` (handlers).
    pub listen: Vec<String>,
    /// `changed_when`.
    pub changed_when: Option<Value>,
    /// `failed_when`.
    pub failed_when: Option<Value>,
    /// `timeout` in seconds.
    pub timeout: Option<u64>,
    /// `until`, `retries`, `delay`: run again until the condition holds.
    pub until: Option<Until>,
    /// `async: SECONDS` with `poll` > 0: the task must finish within that time.
    pub async_limit: Option<AsyncLimit>,
    /// Where it is.
    pub at: Location,
    /// The key that named the module (`ansible.builtin.copy`), as written.
    pub module_key: String,
    /// The keywords an include applies to the tasks it includes (`apply:`).
    pub apply: Option<Box<Common>>,
    /// Where the values inside the task are written.
    pub locs: NodeLocs,
}

impl Task {
    /// True when a `notify` of `name` reaches this handler: its name, one of its `listen`
    /// topics, or, for a role's handler, `ROLE : NAME` (as Ansible also accepts).
    pub fn answers_to(&self, name: &str) -> bool {
        let qualified = || {
            let role = self.common.role.as_ref()?;
            name.strip_prefix(role.name.as_str())?.strip_prefix(" : ")
        };
        self.name == name
            || self.listen.iter().any(|l| l == name)
            || qualified() == Some(&self.name)
    }

    /// The canonical name of what it runs (`copy`, `include_tasks`).
    pub fn module(&self) -> &'static str {
        self.action.name()
    }

    /// The keyword its loop is written under (`loop`, `with_items`, ...), as written.
    pub fn loop_keyword(&self) -> &str {
        self.loop_key.as_deref().unwrap_or("loop")
    }

    /// Where the module argument at `path` is written (under the module key or `args:`).
    pub fn arg_location(&self, path: &[PathSeg]) -> Location {
        let under = |k: &str| {
            let mut p = vec![PathSeg::Key(k.to_owned())];
            p.extend_from_slice(path);
            p
        };
        self.locs
            .get(&under(&self.module_key))
            .or_else(|| self.locs.get(&under("args")))
            .unwrap_or_else(|| self.locs.value(&under(&self.module_key)))
    }

    /// Where the value of task keyword `keyword` (and `path` inside it) is written.
    pub fn keyword_location(&self, keyword: &str, path: &[PathSeg]) -> Location {
        let mut p = vec![PathSeg::Key(keyword.to_owned())];
        p.extend_from_slice(path);
        self.locs.value(&p)
    }
}

const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "loop",
    "with_items",
    "with_list",
    "with_flattened",
    "with_dict",
    "with_indexed_items",
    "with_together",
    "with_nested",
    "with_cartesian",
    "with_subelements",
    "with_sequence",
    "with_first_found",
    "with_fileglob",
    "with_file",
    "with_env",
    "loop_control",
    "register",
    "notify",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "tags",
    "become",
    "become_user",
    "become_method",
    "run_once",
    "delegate_to",
    "no_log",
    "vars",
    "args",
    "check_mode",
    "listen",
    "timeout",
    "async",
    "poll",
    "any_errors_fatal",
    "environment",
    "diff",
    "retries",
    "delay",
    "until",
    "connection",
    "block",
    "rescue",
    "always",
    "ignore_unreachable",
];

const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "become",
    "become_user",
    "become_method",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "serial",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "any_errors_fatal",
    "max_fail_percentage",
    "connection",
    "tags",
    "remote_user",
    "strategy",
    "environment",
    "collections",
    "order",
    "ignore_errors",
    "vars_prompt",
    "check_mode",
    "diff",
];

/// A role as loaded: the role, its tasks, its handlers.
type LoadedRole = (Arc<Role>, Vec<Node>, Vec<Task>);

/// What a task runs, decided before its keywords are read.
struct TaskParts {
    module_key: String,
    module: String,
    action: TaskAction,
    args: Value,
    apply: Option<Box<Common>>,
}

struct Loader<'a> {
    secrets: &'a dyn SecretResolver,
    /// Checks template syntax while loading.
    templar: Templar,
    playbook_dir: PathBuf,
    depth: usize,
    /// Handlers of roles that tasks import or include, for the play's handlers.
    role_handlers: Vec<Task>,
    /// Roles that tasks import (with their dependencies), for the play's roles.
    imported_roles: Vec<Arc<Role>>,
    /// How many conditions enclose the tasks being loaded (a `when` on a block, an import or
    /// a role; a `rescue`).
    conditioned: usize,
    /// The tasks loaded to be refused when reached ([`Playbook::refused_when_reached`]).
    refused_when_reached: Vec<EngineError>,
    /// When set (`prov lint` reading an included file), a task that cannot be loaded is left
    /// out and its error kept here, so that it does not hide the rest of the file.
    skipped: Option<Vec<EngineError>>,
}

impl<'a> Loader<'a> {
    fn new(secrets: &'a dyn SecretResolver, project: &Project, playbook_dir: PathBuf) -> Self {
        Loader {
            secrets,
            templar: Templar::with_yaml_dialect(project.dialect),
            playbook_dir,
            depth: 0,
            role_handlers: Vec::new(),
            imported_roles: Vec::new(),
            conditioned: 0,
            refused_when_reached: Vec::new(),
            skipped: None,
        }
    }

    /// Runs `load` with one more enclosing condition when `conditioned`.
    fn under_condition<T>(&mut self, conditioned: bool, load: impl FnOnce(&mut Self) -> T) -> T {
        let n = usize::from(conditioned);
        self.conditioned += n;
        let out = load(self);
        self.conditioned -= n;
        out
    }
}

/// Where the file an `include_tasks` in `including_file` names is looked for, in order:
/// beside the including file, in the role's `tasks/`, beside the playbook and in its `tasks/`.
pub fn include_candidates(
    including_file: &Path,
    role: Option<&Role>,
    playbook_dir: &Path,
    file: &str,
) -> Vec<PathBuf> {
    let here = including_file.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![here.join(file)];
    if let Some(role) = role {
        candidates.push(role.dir.join("tasks").join(file));
    }
    candidates.push(playbook_dir.join(file));
    candidates.push(playbook_dir.join("tasks").join(file));
    candidates
}

/// Loads a tasks file reached by `include_tasks` while `playbook` runs (as part of `role`),
/// checking its notifications against the play's `handlers`.
pub fn load_tasks_file(
    playbook: &Playbook,
    handlers: &[Task],
    secrets: &dyn SecretResolver,
    path: &Path,
    role: Option<&Arc<Role>>,
) -> Result<Vec<Node>, EngineError> {
    let mut loader = Loader::new(secrets, &playbook.project, playbook.dir.clone());
    let doc = yaml::load_file(path, secrets)?;
    let nodes = match &doc.value {
        Value::Null => Vec::new(),
        v => loader.task_list(&doc, &[], v, role)?,
    };
    check_notifications(&nodes, handlers)?;
    Ok(nodes)
}

/// [`load_tasks_file`] for `prov lint`: a task that cannot be loaded is left out and its error
/// returned with the others (a wrong notification too), so that one bad task does not hide
/// the rest of the file. Only a file that cannot be read or parsed at all is an `Err`.
pub fn load_tasks_file_lenient(
    playbook: &Playbook,
    handlers: &[Task],
    secrets: &dyn SecretResolver,
    path: &Path,
    role: Option<&Arc<Role>>,
) -> Result<LenientTasks, EngineError> {
    let mut loader = Loader::new(secrets, &playbook.project, playbook.dir.clone());
    loader.skipped = Some(Vec::new());
    let doc = yaml::load_file(path, secrets)?;
    let nodes = match &doc.value {
        Value::Null => Vec::new(),
        v => loader.task_list(&doc, &[], v, role)?,
    };
    let mut errors = loader.skipped.take().unwrap_or_default();
    errors.extend(check_notifications(&nodes, handlers).err());
    Ok(LenientTasks {
        nodes,
        errors,
        refused_when_reached: loader.refused_when_reached,
    })
}

/// What [`load_tasks_file_lenient`] read of a tasks file.
pub struct LenientTasks {
    /// The tasks it could load.
    pub nodes: Vec<Node>,
    /// The errors of those it could not (and of wrong notifications).
    pub errors: Vec<EngineError>,
    /// Tasks prov cannot run under a condition, loaded to fail where reached
    /// ([`Playbook::refused_when_reached`]).
    pub refused_when_reached: Vec<EngineError>,
}

/// Loads the role an `include_role` reached while `playbook` runs names: the role and its
/// tasks. A role with dependencies is refused (run it from `roles:` or `import_role`).
pub fn load_included_role(
    playbook: &Playbook,
    handlers: &[Task],
    secrets: &dyn SecretResolver,
    args: &RoleArgs,
    at: &Location,
) -> Result<(Arc<Role>, Vec<Node>), EngineError> {
    let mut loader = Loader::new(secrets, &playbook.project, playbook.dir.clone());
    let (role, tasks, _) = loader.role(at, &args.name, args)?;
    if !RoleMeta::load(&role.dir, secrets)?.dependencies.is_empty() {
        return Err(EngineError::invalid(
            at.clone(),
            format!(
                "include_role: role `{}` has dependencies, which prov runs only for roles in `roles:` or `import_role`",
                args.name
            ),
        ));
    }
    check_notifications(&tasks, handlers)?;
    Ok((role, tasks))
}

/// Loads a playbook file, in the dialect its project says (see [`crate::project`]).
pub fn load(path: &Path, secrets: &dyn SecretResolver) -> Result<Playbook, EngineError> {
    load_in(Project::of_playbook(path)?, path, secrets)
}

/// Loads a playbook file in `project`'s settings.
pub fn load_in(
    project: Project,
    path: &Path,
    secrets: &dyn SecretResolver,
) -> Result<Playbook, EngineError> {
    let doc = yaml::load_file(path, secrets)?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let mut loader = Loader::new(secrets, &project, dir.clone());
    let Value::Array(plays) = &doc.value else {
        return Err(EngineError::invalid(
            doc.location(&[]),
            "a playbook must be a list of plays",
        ));
    };
    let mut out = Vec::new();
    for (i, p) in plays.iter().enumerate() {
        out.push(loader.play(&doc, p, &[PathSeg::Index(i)])?);
    }
    Ok(Playbook {
        path: path.to_path_buf(),
        dir,
        plays: out,
        project,
        refused_when_reached: loader.refused_when_reached,
    })
}

fn key(path: &[PathSeg], k: &str) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.push(PathSeg::Key(k.to_owned()));
    p
}

fn idx(path: &[PathSeg], i: usize) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.push(PathSeg::Index(i));
    p
}

/// Reads an Ansible boolean (`yes/no/on/off/true/false`).
pub fn as_bool(doc: &YamlDoc, path: &[PathSeg], v: &Value) -> Result<bool, EngineError> {
    prov_modules::args::parse_bool(v).ok_or_else(|| {
        EngineError::invalid(
            doc.location(path),
            format!("expected a boolean (yes/no/true/false), found {v}"),
        )
    })
}

fn opt_bool(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    k: &str,
) -> Result<Option<bool>, EngineError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.contains("{{") => Err(EngineError::invalid(
            doc.value_location(&key(path, k)),
            format!("`{k}` cannot be a template in prov: write true or false"),
        )),
        Some(v) => as_bool(doc, &key(path, k), v).map(Some),
    }
}

/// A yes/no keyword that may also be a template (see [`Flag`]).
fn opt_flag(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    k: &str,
) -> Result<Option<Flag>, EngineError> {
    match m.get(k) {
        Some(Value::String(s)) if s.contains("{{") => Ok(Some(Flag::Templated(Condition {
            expr: Value::String(s.clone()),
            at: doc.value_location(&key(path, k)),
        }))),
        _ => Ok(opt_bool(doc, path, m, k)?.map(Flag::Fixed)),
    }
}

/// A number of seconds or times (`retries`, `delay`).
fn opt_count(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    k: &str,
) -> Result<Option<u64>, EngineError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| {
                EngineError::invalid(
                    doc.value_location(&key(path, k)),
                    format!("`{k}` must be a whole number, found {}", kind_of(v)),
                )
            }),
    }
}

/// Every `notify` that is not a template names a handler of the play (by name or `listen`),
/// and no handler name is a template: prov knows every handler before the run, so a
/// notification that would reach nothing is an error at load time, where Ansible fails only
/// when it fires.
fn check_notifications(tasks: &[Node], handlers: &[Task]) -> Result<(), EngineError> {
    for h in handlers {
        if h.name.contains("{{") {
            return Err(EngineError::invalid(
                h.keyword_location("name", &[]),
                "a handler name cannot be a template: notifications match names before the run",
            ));
        }
    }
    let known = |n: &str| handlers.iter().any(|h| h.answers_to(n));
    let mut all: Vec<&Task> = Vec::new();
    for node in tasks {
        collect_tasks(node, &mut all);
    }
    all.extend(handlers.iter());
    for task in all {
        for (i, n) in task.notify.iter().enumerate() {
            let at = || task.keyword_location("notify", &[PathSeg::Index(i)]);
            // A templated name is rendered and matched when the task runs.
            if !crate::template::is_templated(&Value::String(n.clone())) && !known(n) {
                let names: Vec<&str> = handlers.iter().map(|h| h.name.as_str()).collect();
                return Err(EngineError::invalid(
                    at(),
                    format!(
                        "`notify: {n}` names no handler of this play{}",
                        suggest_from(n, &names)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The tasks inside `node` (blocks opened, rescue and always included).
pub(crate) fn collect_tasks<'a>(node: &'a Node, out: &mut Vec<&'a Task>) {
    match node {
        Node::Task(t) => out.push(t),
        Node::Block(b) => {
            for n in b.block.iter().chain(&b.rescue).chain(&b.always) {
                collect_tasks(n, out);
            }
        }
    }
}

/// The loop keyword of a task (`loop` or one of `with_*`) as written, and its kind: at most one.
fn loop_keyword<'m>(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &'m Map<String, Value>,
) -> Result<Option<(&'m str, crate::loops::LoopKind)>, EngineError> {
    let mut found = m
        .keys()
        .filter_map(|k| crate::loops::LoopKind::of_key(k).map(|kind| (k.as_str(), kind)));
    let first = found.next();
    if let Some((second, _)) = found.next() {
        return Err(EngineError::invalid(
            doc.location(&key(path, second)),
            format!(
                "a task has one loop, found `{}` and `{second}`",
                first.map_or("", |f| f.0)
            ),
        ));
    }
    Ok(first)
}

/// Whether `k` is a task keyword (a loop keyword by its lookup's FQCN included).
fn is_task_keyword(k: &str) -> bool {
    TASK_KEYWORDS.contains(&k) || crate::loops::LoopKind::of_key(k).is_some()
}

/// A `serial` batch size: a positive number of hosts, or a percentage (`"30%"`).
pub fn serial_size(v: &Value) -> Option<SerialSize> {
    match v {
        Value::Number(n) => n.as_u64().filter(|n| *n > 0).map(SerialSize::Hosts),
        Value::String(s) => {
            let s = s.trim();
            match s.strip_suffix('%') {
                Some(p) => p
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .map(SerialSize::Percent),
                None => s
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(SerialSize::Hosts),
            }
        }
        _ => None,
    }
}

/// One `serial` batch size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SerialSize {
    /// A number of hosts.
    Hosts(u64),
    /// A percentage of the play's hosts.
    Percent(f64),
}

/// `until` / `retries` / `delay`, with Ansible's defaults (3 attempts, 5 seconds apart).
fn until(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<Option<Until>, EngineError> {
    let retries = opt_count(doc, path, m, "retries")?;
    let delay = opt_count(doc, path, m, "delay")?;
    let condition = m.get("until").cloned();
    if condition.is_none() && retries.is_none() {
        if delay.is_some() {
            return Err(EngineError::invalid(
                doc.location(&key(path, "delay")),
                "`delay` needs `until` or `retries`",
            ));
        }
        return Ok(None);
    }
    Ok(Some(Until {
        condition,
        attempts: retries.map_or(3, |r| r + 1).max(1),
        delay: delay.unwrap_or(5),
    }))
}

/// `become_method`: the methods prov implements.
fn opt_become_method(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<Option<prov_core::BecomeMethod>, EngineError> {
    match opt_string(doc, path, m, "become_method")?.as_deref() {
        None => Ok(None),
        Some("sudo") => Ok(Some(prov_core::BecomeMethod::Sudo)),
        Some("su") => Ok(Some(prov_core::BecomeMethod::Su)),
        Some(other) => Err(EngineError::invalid(
            doc.value_location(&key(path, "become_method")),
            format!("become_method `{other}` is not supported: prov implements sudo and su"),
        )),
    }
}

/// `environment`: a mapping, or a template that renders to one at run time.
fn environment(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<Vec<Condition>, EngineError> {
    match m.get("environment") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v @ Value::Object(_)) => Ok(vec![Condition {
            expr: v.clone(),
            at: doc.value_location(&key(path, "environment")),
        }]),
        Some(v @ Value::String(s)) if s.contains("{{") => Ok(vec![Condition {
            expr: v.clone(),
            at: doc.value_location(&key(path, "environment")),
        }]),
        Some(other) => Err(EngineError::invalid(
            doc.value_location(&key(path, "environment")),
            format!(
                "`environment` must be a mapping of variables, found {}",
                kind_of(other)
            ),
        )),
    }
}

/// Keywords prov knows but does not implement: refused where they are written, never
/// accepted and ignored. `allowed` values are the ones that mean prov's own behaviour.
/// Task keywords that a static import (`import_tasks`, `import_role`) cannot take: its tasks
/// are copied in place, so there is no one task to loop, register or notify from. Refused
/// with their location instead of ignored.
fn refuse_on_static_import(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    what: &str,
) -> Result<(), EngineError> {
    const PER_TASK: &[&str] = &[
        "loop_control",
        "register",
        "notify",
        "listen",
        "changed_when",
        "failed_when",
        "until",
        "retries",
        "delay",
        "timeout",
    ];
    let loops = m
        .keys()
        .map(String::as_str)
        .filter(|k| crate::loops::LoopKind::of_key(k).is_some());
    match loops
        .chain(PER_TASK.iter().copied().filter(|k| m.contains_key(*k)))
        .next()
    {
        Some(k) => Err(EngineError::invalid(
            doc.location(&key(path, k)),
            format!(
                "`{k}` cannot be used on {what}, a static import whose tasks are copied in place: put it on the imported tasks, or use the dynamic include_tasks / include_role"
            ),
        )),
        None => Ok(()),
    }
}

fn refuse_unsupported(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    unsupported: &[(&str, &[&str])],
) -> Result<(), EngineError> {
    for (k, allowed) in unsupported {
        let Some(v) = m.get(*k) else { continue };
        if v.as_str().is_some_and(|s| allowed.contains(&s)) {
            continue;
        }
        let also = if allowed.is_empty() {
            String::new()
        } else {
            format!(" (only {} is)", allowed.join(", "))
        };
        return Err(EngineError::invalid(
            doc.location(&key(path, k)),
            format!("`{k}` is not supported by prov{also}"),
        ));
    }
    Ok(())
}

fn string_list(
    doc: &YamlDoc,
    path: &[PathSeg],
    v: Option<&Value>,
) -> Result<Vec<String>, EngineError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, it)| match it {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(EngineError::invalid(
                    doc.location(&idx(path, i)),
                    format!("expected a string, found {other}"),
                )),
            })
            .collect(),
        Some(other) => Err(EngineError::invalid(
            doc.location(path),
            format!("expected a string or a list of strings, found {other}"),
        )),
    }
}

fn opt_string(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    k: &str,
) -> Result<Option<String>, EngineError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(EngineError::invalid(
            doc.location(&key(path, k)),
            format!("`{k}` must be a string, found {other}"),
        )),
    }
}

fn mapping<'v>(
    doc: &YamlDoc,
    path: &[PathSeg],
    v: &'v Value,
    what: &str,
) -> Result<&'v Map<String, Value>, EngineError> {
    v.as_object().ok_or_else(|| {
        EngineError::invalid(
            doc.location(path),
            format!("{what} must be a mapping, found {}", kind_of(v)),
        )
    })
}

/// Where each variable of the mapping `m` at `path` is written.
pub(crate) fn var_locations(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> VarLocations {
    m.keys()
        .map(|k| (k.clone(), doc.value_location(&key(path, k))))
        .collect()
}

fn opt_map(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    k: &str,
) -> Result<Map<String, Value>, EngineError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(v) => mapping(doc, &key(path, k), v, &format!("`{k}`")).cloned(),
    }
}

/// A short name for a value's type, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The `when` conditions `v` of the node at `path`, each with where it is written.
fn conditions(doc: &YamlDoc, path: &[PathSeg], v: Option<&Value>) -> Vec<Condition> {
    let at = key(path, "when");
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, expr)| Condition {
                expr: expr.clone(),
                at: doc.value_location(&idx(&at, i)),
            })
            .collect(),
        Some(expr) => vec![Condition {
            expr: expr.clone(),
            at: doc.value_location(&at),
        }],
    }
}

/// Parses Ansible's `key=value key2="quoted value"` free-form arguments.
pub fn parse_kv_args(text: &str) -> Option<Map<String, Value>> {
    let words = shlex_split(text)?;
    let mut out = Map::new();
    for w in words {
        let (k, v) = w.split_once('=')?;
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        out.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Some(out)
}

fn shlex_split(text: &str) -> Option<Vec<String>> {
    // Template expressions may contain spaces: keep `{{ ... }}` together.
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if depth == 0 && quote.is_none() && c.is_whitespace() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        } else if c == '{' && chars.get(i + 1) == Some(&'{') {
            depth += 1;
            cur.push_str("{{");
            i += 1;
        } else if c == '}' && chars.get(i + 1) == Some(&'}') && depth > 0 {
            depth -= 1;
            cur.push_str("}}");
            i += 1;
        } else if depth == 0 && (c == '"' || c == '\'') && quote.is_none() {
            quote = Some(c);
        } else if Some(c) == quote {
            quote = None;
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if quote.is_some() {
        return None;
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Some(words)
}

impl Loader<'_> {
    fn play(&mut self, doc: &YamlDoc, v: &Value, path: &[PathSeg]) -> Result<Play, EngineError> {
        let m = mapping(doc, path, v, "a play")?;
        if m.contains_key("import_playbook") {
            return Err(EngineError::invalid(
                doc.location(path),
                "import_playbook is not supported yet: run the playbooks one after another",
            ));
        }
        refuse_unsupported(
            doc,
            path,
            m,
            &[
                ("strategy", &["linear"]),
                ("order", &["inventory"]),
                ("vars_prompt", &[]),
            ],
        )?;
        if let Some(k) = m.keys().find(|k| !PLAY_KEYWORDS.contains(&k.as_str())) {
            return Err(EngineError::invalid(
                doc.location(&key(path, k)),
                format!(
                    "unknown play keyword `{k}`{}",
                    suggest_from(k, PLAY_KEYWORDS)
                ),
            ));
        }
        let hosts = play_hosts(doc, path, m)?;
        let name = opt_string(doc, path, m, "name")?.unwrap_or_else(|| hosts.clone());
        let (mut roles, mut role_nodes, mut handlers) = (Vec::new(), Vec::new(), Vec::new());
        let mut out = PlayRoles {
            nodes: &mut role_nodes,
            handlers: &mut handlers,
            roles: &mut roles,
            seen: &mut Vec::new(),
            depth: 0,
        };
        self.play_roles(doc, path, m, &mut out)?;
        let mut tasks = self.section(doc, path, m, "pre_tasks")?;
        tasks.extend(role_nodes);
        tasks.extend(self.section(doc, path, m, "tasks")?);
        tasks.extend(self.section(doc, path, m, "post_tasks")?);
        roles.append(&mut self.imported_roles);
        // A role both imported and included (or included twice) brings its handlers once.
        for h in std::mem::take(&mut self.role_handlers) {
            if !handlers.iter().any(|known| known.at == h.at) {
                handlers.push(h);
            }
        }
        // A handler runs only when notified: for prov, under a condition.
        let play_handlers =
            self.under_condition(true, |this| this.section(doc, path, m, "handlers"));
        for node in play_handlers? {
            flatten_tasks(node, &mut handlers);
        }
        let serial = play_serial(doc, path, m)?;
        let mut keywords = self.common(doc, path, m, None)?;
        keywords.vars = Map::new();
        check_notifications(&tasks, &handlers)?;
        let max_fail_percentage = m
            .get("max_fail_percentage")
            .map(|v| {
                v.as_f64().ok_or_else(|| {
                    EngineError::invalid(
                        doc.location(&key(path, "max_fail_percentage")),
                        "`max_fail_percentage` must be a number",
                    )
                })
            })
            .transpose()?;
        self.check_templates(doc, path, m, "vars", false)?;
        Ok(Play {
            name,
            hosts,
            hosts_at: doc.value_location(&key(path, "hosts")),
            vars_at: var_locations(doc, &key(path, "vars"), &opt_map(doc, path, m, "vars")?),
            vars: opt_map(doc, path, m, "vars")?,
            vars_files: string_list(doc, &key(path, "vars_files"), m.get("vars_files"))?,
            become_: opt_bool(doc, path, m, "become")?,
            become_user: opt_string(doc, path, m, "become_user")?,
            gather_facts: opt_bool(doc, path, m, "gather_facts")?.unwrap_or(true),
            gather: gather_request(doc, path, m)?,
            gather_timeout: m
                .get("gather_timeout")
                .map(|v| {
                    v.as_u64().ok_or_else(|| {
                        EngineError::invalid(
                            doc.value_location(&key(path, "gather_timeout")),
                            "`gather_timeout` takes a number of seconds",
                        )
                    })
                })
                .transpose()?,
            serial,
            connection: opt_string(doc, path, m, "connection")?,
            tags: string_list(doc, &key(path, "tags"), m.get("tags"))?,
            roles,
            tasks,
            handlers,
            keywords,
            remote_user: opt_string(doc, path, m, "remote_user")?,
            any_errors_fatal: opt_bool(doc, path, m, "any_errors_fatal")?.unwrap_or(false),
            max_fail_percentage,
            at: doc.location(path),
        })
    }

    /// The play's `roles:`, each with its dependencies, into `out`.
    fn play_roles(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        out: &mut PlayRoles<'_>,
    ) -> Result<(), EngineError> {
        let Some(rv) = m.get("roles") else {
            return Ok(());
        };
        let Value::Array(items) = rv else {
            return Err(EngineError::invalid(
                doc.location(&key(path, "roles")),
                "`roles` must be a list",
            ));
        };
        for (i, r) in items.iter().enumerate() {
            let rp = idx(&key(path, "roles"), i);
            let (rname, rmap) = role_entry(doc, &rp, r)?;
            let main = RoleArgs::default();
            self.role_with_dependencies(doc, &rp, &rname, &rmap, &main, out)?;
        }
        Ok(())
    }

    fn section(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        k: &str,
    ) -> Result<Vec<Node>, EngineError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => self.task_list(doc, &key(path, k), v, None),
        }
    }

    fn task_list(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        v: &Value,
        role: Option<&Arc<Role>>,
    ) -> Result<Vec<Node>, EngineError> {
        let Value::Array(items) = v else {
            return Err(EngineError::invalid(
                doc.location(path),
                format!("expected a list of tasks, found {}", kind_of(v)),
            ));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, t) in items.iter().enumerate() {
            match (self.node(doc, &idx(path, i), t, role), &mut self.skipped) {
                (Ok(node), _) => out.push(node),
                (Err(e), Some(skipped)) => skipped.push(e),
                (Err(e), None) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Checks the template syntax of the strings in `m[k]` (conditions when `condition`).
    fn check_templates(
        &self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        k: &str,
        condition: bool,
    ) -> Result<(), EngineError> {
        let Some(v) = m.get(k) else { return Ok(()) };
        let base = key(path, k);
        self.templar.check_value(v, condition, &|p| {
            let mut full = base.clone();
            full.extend_from_slice(p);
            doc.value_location(&full)
        })
    }

    fn common(
        &self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        role: Option<&Arc<Role>>,
    ) -> Result<Common, EngineError> {
        refuse_unsupported(
            doc,
            path,
            m,
            &[("connection", &[]), ("ignore_unreachable", &[])],
        )?;
        self.check_templates(doc, path, m, "when", true)?;
        self.check_templates(doc, path, m, "vars", false)?;
        Ok(Common {
            when: conditions(doc, path, m.get("when")),
            tags: string_list(doc, &key(path, "tags"), m.get("tags"))?,
            become_: opt_bool(doc, path, m, "become")?,
            become_user: opt_string(doc, path, m, "become_user")?,
            vars_at: var_locations(doc, &key(path, "vars"), &opt_map(doc, path, m, "vars")?),
            vars: opt_map(doc, path, m, "vars")?,
            params: Map::new(),
            ignore_errors: opt_flag(doc, path, m, "ignore_errors")?,
            no_log: opt_flag(doc, path, m, "no_log")?,
            environment: environment(doc, path, m)?,
            become_method: opt_become_method(doc, path, m)?,
            diff: opt_bool(doc, path, m, "diff")?,
            check_mode: opt_bool(doc, path, m, "check_mode")?,
            delegate_to: opt_string(doc, path, m, "delegate_to")?,
            run_once: opt_bool(doc, path, m, "run_once")?,
            any_errors_fatal: opt_bool(doc, path, m, "any_errors_fatal")?,
            loop_vars: Map::new(),
            include_depth: 0,
            role: role.cloned(),
        })
    }

    fn node(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        v: &Value,
        role: Option<&Arc<Role>>,
    ) -> Result<Node, EngineError> {
        let m = mapping(doc, path, v, "a task")?;
        if m.contains_key("block") {
            return self.block(doc, path, m, role);
        }
        let module_key = task_module_key(doc, path, m)?;
        let short = prov_modules::short_name(&module_key);
        if short == "import_tasks" {
            return self.include(doc, path, m, &module_key, role);
        }
        if short == "import_role" {
            return self.import_role(doc, path, m, &module_key, role);
        }
        match self.task(doc, path, m, module_key, role) {
            Err(e)
                if e.is_unsupported_task() && (m.contains_key("when") || self.conditioned > 0) =>
            {
                self.refused_when_reached(doc, path, m, e, role)
            }
            other => other,
        }
    }

    /// A task that names a module (not a block, not a static import).
    fn task(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        module_key: String,
        role: Option<&Arc<Role>>,
    ) -> Result<Node, EngineError> {
        let Some(action) = TaskAction::resolve(&module_key) else {
            return Err(EngineError::UnknownModule {
                at: doc.location(&key(path, &module_key)),
                hint: suggest(&module_key),
                module: module_key,
            });
        };
        let module = action.name();
        let mut args = task_args(doc, path, m, &module_key, module)?;
        let apply = self.include_apply(doc, &key(path, &module_key), module, &mut args, role)?;
        // Arguments without templates are checked now: unknown or mistyped ones are reported
        // before anything runs.
        check_args(doc, &key(path, &module_key), module, &args)?;
        if module == "include_role" {
            self.preload_role_handlers(doc, &key(path, &module_key), &args)?;
        }
        let locs = doc.node_locs(path);
        self.check_task_templates(doc, path, m, &module_key, &args, &locs)?;
        let parts = TaskParts {
            module_key,
            module: module.to_owned(),
            action,
            args,
            apply,
        };
        self.task_with(doc, path, m, role, parts)
            .map(|t| Node::Task(Box::new(t)))
    }

    /// A task prov cannot run (`e`: an unknown module, refused arguments) under a condition:
    /// loaded as a `fail` with that error, which runs only where the condition holds, and
    /// listed in [`Playbook::refused_when_reached`]. Optional paths of public roles (a snap
    /// install, disabling firewalld) then do not stop the roles that never take them.
    fn refused_when_reached(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        e: EngineError,
        role: Option<&Arc<Role>>,
    ) -> Result<Node, EngineError> {
        let module_key = task_module_key(doc, path, m)?;
        let parts = TaskParts {
            module: prov_modules::short_name(&module_key).to_owned(),
            module_key,
            action: TaskAction::Engine(crate::action::EngineAction::Fail),
            args: serde_json::json!({ "msg": e.to_string() }),
            apply: None,
        };
        let mut task = self.task_with(doc, path, m, role, parts)?;
        task.notify.clear();
        self.refused_when_reached.push(e);
        Ok(Node::Task(Box::new(task)))
    }

    /// A task of `parts` with the keywords written in `m`.
    fn task_with(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        role: Option<&Arc<Role>>,
        parts: TaskParts,
    ) -> Result<Task, EngineError> {
        let TaskParts {
            module_key,
            module,
            action,
            args,
            apply,
        } = parts;
        let loop_kind = loop_keyword(doc, path, m)?;
        Ok(Task {
            module_key: module_key.clone(),
            apply,
            locs: doc.node_locs(path),
            name: opt_string(doc, path, m, "name")?.unwrap_or_else(|| module.clone()),
            action,
            args,
            common: self.common(doc, path, m, role)?,
            loop_: loop_kind.and_then(|(k, _)| m.get(k)).cloned(),
            loop_kind: loop_kind.map_or(crate::loops::LoopKind::Loop, |(_, kind)| kind),
            loop_key: loop_kind.map(|(k, _)| k.to_owned()),
            loop_control: LoopControl::parse(
                doc,
                &key(path, "loop_control"),
                m.get("loop_control"),
            )?,
            register: opt_string(doc, path, m, "register")?,
            notify: string_list(doc, &key(path, "notify"), m.get("notify"))?,
            listen: string_list(doc, &key(path, "listen"), m.get("listen"))?,
            changed_when: m.get("changed_when").cloned(),
            failed_when: m.get("failed_when").cloned(),
            timeout: task_timeout(doc, path, m)?,
            async_limit: async_limit(doc, path, m, &module)?,
            until: until(doc, path, m)?,
            at: doc.location(path),
        })
    }

    /// A `block:` with its `rescue:` and `always:`.
    fn block(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        role: Option<&Arc<Role>>,
    ) -> Result<Node, EngineError> {
        if let Some(k) = m.keys().find(|k| !is_task_keyword(k)) {
            return Err(EngineError::invalid(
                doc.location(&key(path, k)),
                format!(
                    "unknown block keyword `{k}`{}",
                    suggest_from(k, TASK_KEYWORDS)
                ),
            ));
        }
        let sub = |this: &mut Self, k: &str| -> Result<Vec<Node>, EngineError> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(v) => this.task_list(doc, &key(path, k), v, role),
            }
        };
        let when = m.contains_key("when");
        Ok(Node::Block(Box::new(Block {
            name: opt_string(doc, path, m, "name")?,
            block: self.under_condition(when, |this| sub(this, "block"))?,
            // `rescue` runs only when the block failed.
            rescue: self.under_condition(true, |this| sub(this, "rescue"))?,
            always: self.under_condition(when, |this| sub(this, "always"))?,
            common: self.common(doc, path, m, role)?,
            at: doc.location(path),
        })))
    }

    /// Checks the template syntax (and filters) of a task's arguments and keywords, before
    /// anything runs; `assert`'s `that` holds conditions.
    fn check_task_templates(
        &self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        module_key: &str,
        args: &Value,
        locs: &NodeLocs,
    ) -> Result<(), EngineError> {
        let arg_at = |p: &[PathSeg]| {
            let mut a = vec![PathSeg::Key(module_key.to_owned())];
            a.extend_from_slice(p);
            let mut b = vec![PathSeg::Key("args".to_owned())];
            b.extend_from_slice(p);
            locs.get(&a)
                .or_else(|| locs.get(&b))
                .unwrap_or_else(|| locs.value(&a))
        };
        let mut plain = args.clone();
        if let Value::Object(o) = &mut plain
            && TaskAction::resolve(module_key).is_some_and(|a| a.is(EngineAction::Assert))
            && let Some(that) = o.remove("that")
        {
            self.templar.check_value(&that, true, &|p| {
                let mut full = vec![PathSeg::Key("that".to_owned())];
                full.extend_from_slice(p);
                arg_at(&full)
            })?;
        }
        self.templar.check_value(&plain, false, &arg_at)?;
        for (k, _) in crate::loops::LoopKind::KEYWORDS {
            self.check_templates(doc, path, m, k, false)?;
        }
        for (k, condition) in [
            ("loop_control", false),
            ("changed_when", true),
            ("failed_when", true),
            ("until", true),
            ("name", false),
        ] {
            self.check_templates(doc, path, m, k, condition)?;
        }
        Ok(())
    }

    /// An include's `apply:` (taken out of its arguments): the keywords its included tasks get.
    fn include_apply(
        &self,
        doc: &YamlDoc,
        args_path: &[PathSeg],
        module: &str,
        args: &mut Value,
        role: Option<&Arc<Role>>,
    ) -> Result<Option<Box<Common>>, EngineError> {
        const APPLIES: &[&str] = &[
            "when",
            "tags",
            "become",
            "become_user",
            "become_method",
            "vars",
            "ignore_errors",
            "no_log",
            "environment",
            "diff",
            "check_mode",
            "delegate_to",
            "run_once",
            "any_errors_fatal",
        ];
        if !matches!(module, "include_tasks" | "include_role") {
            return Ok(None);
        }
        let Some(apply) = args.as_object_mut().and_then(|a| a.remove("apply")) else {
            return Ok(None);
        };
        let path = key(args_path, "apply");
        let Value::Object(m) = &apply else {
            return Err(EngineError::invalid(
                doc.location(&path),
                "`apply` takes a mapping of task keywords",
            ));
        };
        if let Some(k) = m.keys().find(|k| !APPLIES.contains(&k.as_str())) {
            return Err(EngineError::invalid(
                doc.location(&key(&path, k)),
                format!(
                    "`{k}` cannot be applied to included tasks{}",
                    suggest_from(k, APPLIES)
                ),
            ));
        }
        Ok(Some(Box::new(self.common(doc, &path, m, role)?)))
    }

    /// The handlers of a role that `include_role` names (when its name is not templated), for
    /// the play's handlers: tasks inside it may notify them.
    fn preload_role_handlers(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        args: &Value,
    ) -> Result<(), EngineError> {
        let Ok(files) = serde_json::from_value::<RoleArgs>(args.clone()) else {
            return Ok(()); // reported by check_engine_args
        };
        if files.name.contains("{{") {
            return Ok(());
        }
        let (_, _, mut handlers) = self.role(&doc.location(path), &files.name, &files)?;
        self.role_handlers.append(&mut handlers);
        Ok(())
    }

    /// `import_role`: the role (its dependencies first) in place, as a block with the task's
    /// keywords; its handlers join the play's.
    fn import_role(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        module_key: &str,
        role: Option<&Arc<Role>>,
    ) -> Result<Node, EngineError> {
        refuse_on_static_import(doc, path, m, "import_role")?;
        let at = doc.location(&key(path, module_key));
        let raw = m.get(module_key).cloned().unwrap_or_default();
        // `import_role: name=r1` is the key=value form of the mapping.
        let args =
            normalize_args("import_role", raw).map_err(|e| EngineError::invalid(at.clone(), e))?;
        let args: RoleArgs = serde_json::from_value(args)
            .map_err(|e| EngineError::invalid(at.clone(), format!("import_role: {e}")))?;
        if let Some(msg) = args.unsupported() {
            return Err(EngineError::invalid(at, format!("import_role: {msg}")));
        }
        if args.name.contains("{{") {
            return Err(EngineError::invalid(
                at,
                "import_role is static: its name cannot be templated (use include_role)",
            ));
        }
        let mut nodes = Vec::new();
        let mut handlers = Vec::new();
        let mut roles = Vec::new();
        let mut seen = Vec::new();
        let mut out = PlayRoles {
            nodes: &mut nodes,
            handlers: &mut handlers,
            roles: &mut roles,
            seen: &mut seen,
            depth: 0,
        };
        let entry = Map::from_iter([("role".to_owned(), Value::String(args.name.clone()))]);
        let rp = key(path, module_key);
        self.under_condition(m.contains_key("when"), |this| {
            this.role_with_dependencies(doc, &rp, &args.name, &entry, &args, &mut out)
        })?;
        self.role_handlers.append(&mut handlers);
        self.imported_roles.append(&mut roles);
        let mut common = self.common(doc, path, m, role)?;
        common.params = std::mem::take(&mut common.vars);
        common.role = None;
        Ok(Node::Block(Box::new(Block::plain(
            format!("import_role {}", args.name),
            nodes,
            common,
            doc.location(path),
        ))))
    }

    fn include(
        &mut self,
        doc: &YamlDoc,
        path: &[PathSeg],
        m: &Map<String, Value>,
        module_key: &str,
        role: Option<&Arc<Role>>,
    ) -> Result<Node, EngineError> {
        refuse_on_static_import(doc, path, m, "import_tasks")?;
        let at = doc.location(&key(path, module_key));
        let file = match m.get(module_key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("file")
                .and_then(|f| f.as_str())
                .map(str::to_owned)
                .ok_or_else(|| EngineError::invalid(at.clone(), "include needs `file:`"))?,
            _ => return Err(EngineError::invalid(at, "include needs a file name")),
        };
        if file.contains("{{") {
            return Err(EngineError::invalid(
                at,
                "templated include file names are not supported: includes are resolved before the run",
            ));
        }
        if self.depth > 20 {
            return Err(EngineError::invalid(
                at,
                "includes nested more than 20 deep (a cycle?)",
            ));
        }
        let base = match role {
            Some(r) => r.dir.join("tasks"),
            None => doc.file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let candidates = [
            base.join(&file),
            self.playbook_dir.join(&file),
            self.playbook_dir.join("tasks").join(&file),
        ];
        let target = candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| {
                let looked: Vec<String> =
                    candidates.iter().map(|c| c.display().to_string()).collect();
                EngineError::invalid(
                    at.clone(),
                    format!(
                        "included file `{file}` not found (looked for {})",
                        looked.join(", ")
                    ),
                )
            })?;
        let sub = yaml::load_file(&target, self.secrets)?;
        self.depth += 1;
        let tasks = self.under_condition(m.contains_key("when"), |this| match &sub.value {
            Value::Null => Ok(Vec::new()),
            v => this.task_list(&sub, &[], v, role),
        });
        self.depth -= 1;
        let tasks = tasks?;
        let mut common = self.common(doc, path, m, role)?;
        common.params = std::mem::take(&mut common.vars);
        Ok(Node::Block(Box::new(Block::plain(
            format!("include {file}"),
            tasks,
            common,
            doc.location(path),
        ))))
    }

    /// A role of a play's `roles:` (or a dependency of one, from its `meta/main.yml`), its
    /// dependencies first, as Ansible runs them: a role already in the play with the same
    /// parameters is not run again unless its meta says `allow_duplicates: true`.
    fn role_with_dependencies(
        &mut self,
        doc: &YamlDoc,
        rp: &[PathSeg],
        rname: &str,
        rmap: &Map<String, Value>,
        files: &RoleArgs,
        out: &mut PlayRoles<'_>,
    ) -> Result<(), EngineError> {
        if out.depth > 20 {
            return Err(EngineError::invalid(
                doc.location(rp),
                format!("role dependencies nested more than 20 deep at `{rname}` (a cycle?)"),
            ));
        }
        let (role, tasks, role_handlers) = self
            .under_condition(rmap.contains_key("when"), |this| {
                this.role(&doc.location(rp), rname, files)
            })?;
        let meta = RoleMeta::load(&role.dir, self.secrets)?;
        if let Some(meta_doc) = &meta.doc {
            for (i, dep) in meta.dependencies.iter().enumerate() {
                let dp = idx(&key(&[], "dependencies"), i);
                let (dname, dmap) = role_entry(meta_doc, &dp, dep)?;
                let main = RoleArgs::default();
                out.depth += 1;
                let r = self.role_with_dependencies(meta_doc, &dp, &dname, &dmap, &main, out);
                out.depth -= 1;
                r?;
            }
        }
        let mut common = Common {
            when: conditions(doc, rp, rmap.get("when")),
            tags: string_list(doc, &key(rp, "tags"), rmap.get("tags"))?,
            role: Some(role.clone()),
            ..Common::default()
        };
        for (k, v) in rmap {
            if ![
                "role",
                "name",
                "when",
                "tags",
                "become",
                "become_user",
                "vars",
            ]
            .contains(&k.as_str())
            {
                common.params.insert(k.clone(), v.clone());
            }
        }
        common.params.extend(opt_map(doc, rp, rmap, "vars")?);
        common.become_ = opt_bool(doc, rp, rmap, "become")?;
        common.become_user = opt_string(doc, rp, rmap, "become_user")?;
        let identity = (role.dir.clone(), Value::Object(common.params.clone()));
        if out.seen.contains(&identity) && !meta.allow_duplicates {
            return Ok(());
        }
        out.seen.push(identity);
        // The role's handlers see its parameters too.
        out.handlers.extend(role_handlers.into_iter().map(|mut h| {
            let mut params = common.params.clone();
            params.append(&mut h.common.params);
            h.common.params = params;
            h
        }));
        out.nodes.push(Node::Block(Box::new(Block::plain(
            format!("role {rname}"),
            tasks,
            common,
            doc.location(rp),
        ))));
        out.roles.push(role);
        Ok(())
    }

    /// A role, with the files `files` names instead of the `main` ones.
    fn role(
        &mut self,
        at: &Location,
        name: &str,
        files: &RoleArgs,
    ) -> Result<LoadedRole, EngineError> {
        let candidates = [
            self.playbook_dir.join("roles").join(name),
            PathBuf::from("roles").join(name),
            PathBuf::from(name),
        ];
        let dir = candidates
            .iter()
            .find(|p| p.is_dir())
            .cloned()
            .ok_or_else(|| {
                EngineError::invalid(
                    at.clone(),
                    format!(
                        "role `{name}` not found (looked in {})",
                        self.playbook_dir.join("roles").display()
                    ),
                )
            })?;
        let load_map = |sub: &str,
                        from: &Option<String>|
         -> Result<(Map<String, Value>, VarLocations), EngineError> {
            let Some(f) = role_file(&dir.join(sub), from, at)? else {
                return Ok((Map::new(), VarLocations::new()));
            };
            let d = yaml::load_file(&f, self.secrets)?;
            match &d.value {
                Value::Null => Ok((Map::new(), VarLocations::new())),
                Value::Object(o) => Ok((o.clone(), var_locations(&d, &[], o))),
                other => Err(EngineError::invalid(
                    d.location(&[]),
                    format!("expected a mapping of variables, found {}", kind_of(other)),
                )),
            }
        };
        let (defaults, defaults_at) = load_map("defaults", &files.defaults_from)?;
        let (vars, vars_at) = load_map("vars", &files.vars_from)?;
        let role = Arc::new(Role {
            name: name.to_owned(),
            dir: dir.clone(),
            defaults,
            defaults_at,
            vars,
            vars_at,
        });
        let mut tasks = Vec::new();
        if let Some(f) = role_file(&dir.join("tasks"), &files.tasks_from, at)? {
            let d = yaml::load_file(&f, self.secrets)?;
            if !d.value.is_null() {
                tasks = self.task_list(&d, &[], &d.value, Some(&role))?;
            }
        }
        let mut handlers = Vec::new();
        if let Some(f) = role_file(&dir.join("handlers"), &files.handlers_from, at)? {
            let d = yaml::load_file(&f, self.secrets)?;
            if !d.value.is_null() {
                let nodes = self
                    .under_condition(true, |this| this.task_list(&d, &[], &d.value, Some(&role)));
                for n in nodes? {
                    flatten_tasks(n, &mut handlers);
                }
            }
        }
        Ok((role, tasks, handlers))
    }
}

/// Where a play's roles go while they are loaded.
struct PlayRoles<'a> {
    nodes: &'a mut Vec<Node>,
    handlers: &'a mut Vec<Task>,
    roles: &'a mut Vec<Arc<Role>>,
    /// The roles already in the play (folder and parameters).
    seen: &'a mut Vec<(PathBuf, Value)>,
    /// How deep in dependencies the role being loaded is.
    depth: usize,
}

/// A role's `meta/main.yml`: what prov reads of it (`galaxy_info` and the rest are
/// descriptions for Galaxy and have no effect on a run, in Ansible either).
struct RoleMeta {
    doc: Option<YamlDoc>,
    dependencies: Vec<Value>,
    allow_duplicates: bool,
}

impl RoleMeta {
    fn load(dir: &Path, secrets: &dyn SecretResolver) -> Result<Self, EngineError> {
        let Some(f) = main_file(&dir.join("meta")) else {
            return Ok(Self {
                doc: None,
                dependencies: Vec::new(),
                allow_duplicates: false,
            });
        };
        let doc = yaml::load_file(&f, secrets)?;
        let (dependencies, allow_duplicates) = match &doc.value {
            Value::Null => (Vec::new(), false),
            Value::Object(m) => {
                let deps = match m.get("dependencies") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(d)) => d.clone(),
                    Some(other) => {
                        return Err(EngineError::invalid(
                            doc.location(&key(&[], "dependencies")),
                            format!("`dependencies` must be a list, found {}", kind_of(other)),
                        ));
                    }
                };
                let dup = match m.get("allow_duplicates") {
                    None => false,
                    Some(v) => as_bool(&doc, &key(&[], "allow_duplicates"), v)?,
                };
                (deps, dup)
            }
            other => {
                return Err(EngineError::invalid(
                    doc.location(&[]),
                    format!("a role's meta must be a mapping, found {}", kind_of(other)),
                ));
            }
        };
        Ok(Self {
            doc: Some(doc),
            dependencies,
            allow_duplicates,
        })
    }
}

/// A role entry (`- name`, `- role: name` with parameters): its name and mapping.
fn role_entry(
    doc: &YamlDoc,
    rp: &[PathSeg],
    r: &Value,
) -> Result<(String, Map<String, Value>), EngineError> {
    match r {
        Value::String(s) => Ok((s.clone(), Map::new())),
        Value::Object(o) => {
            let n = o
                .get("role")
                .or_else(|| o.get("name"))
                .and_then(|n| n.as_str())
                .ok_or_else(|| {
                    EngineError::invalid(doc.location(rp), "a role entry needs `role: NAME`")
                })?;
            Ok((n.to_owned(), o.clone()))
        }
        other => Err(EngineError::invalid(
            doc.location(rp),
            format!("a role entry must be a name or a mapping, found {other}"),
        )),
    }
}

/// A role's file in `dir`: `main`, or the one a `*_from` option names (which must exist).
fn role_file(
    dir: &Path,
    from: &Option<String>,
    at: &Location,
) -> Result<Option<PathBuf>, EngineError> {
    let Some(name) = from else {
        return Ok(main_file(dir));
    };
    let found = [name.clone(), format!("{name}.yml"), format!("{name}.yaml")]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    match found {
        Some(f) => Ok(Some(f)),
        None => Err(EngineError::invalid(
            at.clone(),
            format!("`{name}` not found in {}", dir.display()),
        )),
    }
}

fn main_file(dir: &Path) -> Option<PathBuf> {
    ["main.yml", "main.yaml", "main"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// The one key of a task mapping that is not a task keyword: its module (or action).
fn task_module_key(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<String, EngineError> {
    let module_keys: Vec<&str> = m
        .keys()
        .map(String::as_str)
        .filter(|k| !is_task_keyword(k))
        .collect();
    match module_keys.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(EngineError::invalid(
            doc.location(path),
            "this task names no module (e.g. `copy:`, `command:`)",
        )),
        names => {
            let unknown = names.iter().copied().find(|n| {
                TaskAction::resolve(n).is_none()
                    && !matches!(prov_modules::short_name(n), "import_tasks" | "include")
            });
            let first = unknown.unwrap_or(names[1]);
            Err(EngineError::invalid(
                doc.location(&key(path, first)),
                format!(
                    "a task has exactly one module, found {}; `{first}` is not a task keyword or a second module{}",
                    names.join(", "),
                    suggest_from(first, TASK_KEYWORDS)
                ),
            ))
        }
    }
}

/// A task's arguments: its module key's value (free-form strings made a mapping) plus `args:`.
fn task_args(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    module_key: &str,
    module: &str,
) -> Result<Value, EngineError> {
    let raw = m.get(module_key).cloned().unwrap_or(Value::Null);
    let mut args = normalize_args(module, raw)
        .map_err(|msg| EngineError::invalid(doc.location(&key(path, module_key)), msg))?;
    if let Some(extra) = m.get("args") {
        let extra = mapping(doc, &key(path, "args"), extra, "`args`")?;
        if let Value::Object(a) = &mut args {
            a.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    Ok(args)
}

/// A task's `async:` (and `poll:`), as written: numbers or templates rendered when it runs.
#[derive(Debug, Clone)]
pub struct AsyncLimit {
    /// `async`: the most seconds the task may take.
    pub seconds: Value,
    /// `poll` (Ansible's default 15): 0 is fire-and-forget, refused when it is known.
    pub poll: Value,
}

/// What Ansible runs through an action plugin without async support ("This action (copy)
/// does not support async"): prov refuses `async:` on them at load.
const NO_ASYNC: &[&str] = &[
    "copy",
    "template",
    "fetch",
    "unarchive",
    "assemble",
    "script",
    "raw",
    "reboot",
    "pause",
    "wait_for_connection",
    "add_host",
    "group_by",
];

/// `async:` and `poll:`. `poll: 0` (fire and forget, with `async_status` later) is refused.
fn async_limit(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
    module: &str,
) -> Result<Option<AsyncLimit>, EngineError> {
    let Some(seconds) = m.get("async") else {
        return match m.get("poll") {
            Some(_) => Err(EngineError::invalid(
                doc.location(&key(path, "poll")),
                "`poll` without `async` has no effect: say how long the task may take with `async: SECONDS`",
            )),
            None => Ok(None),
        };
    };
    let engine = crate::action::TaskAction::resolve(module).is_some_and(|a| a.engine().is_some());
    if engine || NO_ASYNC.contains(&module) {
        return Err(EngineError::invalid(
            doc.location(&key(path, "async")),
            format!("This action ({module}) does not support async."),
        ));
    }
    let poll = m.get("poll").cloned().unwrap_or(Value::from(15));
    for (k, v) in [("async", seconds), ("poll", &poll)] {
        let known = !crate::template::is_templated(v);
        if known && v.as_u64().is_none() {
            return Err(EngineError::invalid(
                doc.location(&key(path, k)),
                format!("`{k}` must be a number of seconds"),
            ));
        }
    }
    if poll.as_u64() == Some(0) {
        return Err(EngineError::invalid(
            doc.location(&key(path, "poll")),
            "`poll: 0` (fire and forget, checked later with async_status) is not supported by prov: give `poll` a number of seconds, and the task runs to its end within `async`",
        ));
    }
    Ok(Some(AsyncLimit {
        seconds: seconds.clone(),
        poll,
    }))
}

/// `timeout:` in seconds.
fn task_timeout(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<Option<u64>, EngineError> {
    m.get("timeout")
        .map(|v| {
            v.as_u64().ok_or_else(|| {
                EngineError::invalid(
                    doc.location(&key(path, "timeout")),
                    "`timeout` must be a number of seconds",
                )
            })
        })
        .transpose()
}

/// A play's `hosts:` pattern (a list is joined with `:`).
fn play_hosts(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<String, EngineError> {
    match m.get("hosts") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(":")),
        Some(other) => Err(EngineError::invalid(
            doc.location(&key(path, "hosts")),
            format!("`hosts` must be a pattern string, found {other}"),
        )),
        None => Err(EngineError::invalid(
            doc.location(path),
            "a play needs `hosts:`",
        )),
    }
}

/// A play's `serial:` batch sizes (one size or a list).
fn play_serial(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<Vec<SerialSize>, EngineError> {
    let sizes = match m.get("serial") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(v) => vec![v.clone()],
    };
    let at = |i: usize| match m.get("serial") {
        Some(Value::Array(_)) => doc.value_location(&idx(&key(path, "serial"), i)),
        _ => doc.value_location(&key(path, "serial")),
    };
    sizes
        .iter()
        .enumerate()
        .map(|(i, size)| {
            serial_size(size).ok_or_else(|| {
                EngineError::invalid(
                    at(i),
                    format!(
                        "`serial` takes a number of hosts or a percentage (`30%`), found {size}"
                    ),
                )
            })
        })
        .collect()
}

fn flatten_tasks(node: Node, out: &mut Vec<Task>) {
    match node {
        Node::Task(t) => out.push(*t),
        Node::Block(b) => {
            for n in b.block.into_iter().chain(b.rescue).chain(b.always) {
                flatten_tasks(n, out);
            }
        }
    }
}

/// A list written as a YAML list or as Ansible's comma-separated string.
pub fn comma_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(
            s.split(',')
                .map(|x| x.trim().to_owned())
                .filter(|x| !x.is_empty())
                .collect(),
        ),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// The play's `gather_subset` and `fact_path`, resolved now: a bad subset is refused here.
fn gather_request(
    doc: &YamlDoc,
    path: &[PathSeg],
    m: &Map<String, Value>,
) -> Result<crate::facts::Request, EngineError> {
    let at = |k: &str| doc.value_location(&key(path, k));
    let subset = match m.get("gather_subset") {
        None => vec!["all".to_owned()],
        Some(v) => comma_list(v).ok_or_else(|| {
            EngineError::invalid(
                at("gather_subset"),
                "`gather_subset` takes a list of subsets",
            )
        })?,
    };
    let fact_path = match m.get("fact_path") {
        None => crate::facts::DEFAULT_FACT_PATH.to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(EngineError::invalid(
                at("fact_path"),
                "`fact_path` takes a folder",
            ));
        }
    };
    crate::facts::Request::new(&subset, &[], &fact_path).map_err(|e| {
        // The error points at the subset refused when the list is a YAML list.
        let bad = subset.iter().position(|s| {
            crate::facts::Request::new(std::slice::from_ref(s), &[], &fact_path).is_err()
        });
        let at = match (m.get("gather_subset"), bad) {
            (Some(Value::Array(_)), Some(i)) => {
                let mut p = key(path, "gather_subset");
                p.push(PathSeg::Index(i));
                doc.value_location(&p)
            }
            _ => at("gather_subset"),
        };
        EngineError::invalid(at, e)
    })
}

/// Checks a task's arguments (at `args_path`) when they hold no templates: the typed ones of
/// engine actions, and a module's by building it; the error points at the argument it names.
fn check_args(
    doc: &YamlDoc,
    args_path: &[PathSeg],
    module: &str,
    args: &Value,
) -> Result<(), EngineError> {
    if is_templated(args) {
        return Ok(());
    }
    if module == "setup"
        && let Err((arg, e)) = crate::engine_args::SetupArgs::parse(args)
    {
        // An unknown argument is blamed on its key, a bad value on the value.
        let at = match arg {
            Some(k) if e.starts_with("unknown argument") => doc.location(&key(args_path, &k)),
            Some(k) => doc.value_location(&key(args_path, &k)),
            None => doc.location(args_path),
        };
        return Err(EngineError::invalid(at, format!("setup: {e}")));
    }
    if let Err(e) = check_engine_args(module, args) {
        return Err(EngineError::invalid(
            doc.location(args_path),
            format!("{module}: {e}"),
        ));
    }
    let Some(TaskAction::Module(spec)) = TaskAction::resolve(module) else {
        return Ok(());
    };
    let e = match (spec.build)(args.clone()) {
        Ok(_) => return Ok(()),
        Err(prov_core::ModuleError::Args(e)) => e,
        Err(e) => return Err(EngineError::invalid(doc.location(args_path), e.to_string())),
    };
    // The argument to blame: its key when it is unknown, else its value.
    let top = e
        .field
        .as_deref()
        .map(|f| f.split(['.', '[']).next().unwrap_or(f));
    let given = top.filter(|k| args.get(*k).is_some());
    let at = match given {
        Some(k) if e.message.starts_with("unknown field") => doc.location(&key(args_path, k)),
        Some(k) => doc.value_location(&key(args_path, k)),
        None => doc.location(args_path),
    };
    Err(EngineError::InvalidArgs {
        at,
        module: module.to_owned(),
        message: e.to_string(),
    })
}

/// Checks the arguments of the engine actions that have typed ones.
fn check_engine_args(module: &str, args: &Value) -> Result<(), serde_json::Error> {
    use crate::engine_args::{IncludeTasksArgs, IncludeVarsArgs};
    match module {
        "include_tasks" => serde_json::from_value::<IncludeTasksArgs>(args.clone()).map(drop),
        "include_vars" => serde_json::from_value::<IncludeVarsArgs>(args.clone()).map(drop),
        "include_role" => {
            let a: RoleArgs = serde_json::from_value(args.clone())?;
            match a.unsupported() {
                Some(msg) => Err(serde::de::Error::custom(msg)),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn suggest(name: &str) -> String {
    let short = prov_modules::short_name(name);
    let mut names: Vec<&str> = prov_modules::registry().iter().map(|m| m.name).collect();
    names.extend(EngineAction::ALL.map(EngineAction::name));
    let best = names
        .iter()
        .map(|n| (edit_distance(short, n), *n))
        .min()
        .filter(|(d, _)| *d <= 2);
    match best {
        Some((_, n)) => format!(" (did you mean `{n}`?)"),
        None => String::new(),
    }
}

/// ` (did you mean `X`?)` for the closest of `names`, or nothing.
fn suggest_from(word: &str, names: &[&str]) -> String {
    // Ties go to a name that only adds letters (`taks` -> `tasks`, not `tags`).
    let adds_only = |n: &str| {
        let mut rest = n.chars();
        word.chars().all(|c| rest.any(|r| r == c))
    };
    names
        .iter()
        .map(|n| (edit_distance(word, n), !adds_only(n), *n))
        .min()
        .filter(|(d, _, _)| *d <= 2)
        .map(|(_, _, n)| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Turns a module's raw YAML value into an argument mapping (free-form strings included).
fn normalize_args(module: &str, raw: Value) -> Result<Value, String> {
    let free_form = prov_modules::lookup(module).is_some_and(|s| s.free_form);
    match raw {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(raw),
        // As Ansible's `_raw_params`: the module takes `k=v` options out of this line only,
        // never out of an explicit `cmd:`.
        Value::String(s) if free_form => Ok(Value::Object(Map::from_iter([(
            "_raw_params".to_owned(),
            Value::String(s),
        )]))),
        Value::String(s) if module == "include_tasks" || module == "include_vars" => {
            Ok(Value::Object(crate::engine_args::free_form_file(&s)))
        }
        Value::String(s) if module == "meta" => Ok(Value::Object(Map::from_iter([(
            "action".to_owned(),
            Value::String(s),
        )]))),
        Value::String(s) if module == "debug" => match parse_kv_args(&s) {
            Some(m) => Ok(Value::Object(m)),
            None => Ok(Value::Object(Map::from_iter([(
                "msg".to_owned(),
                Value::String(s),
            )]))),
        },
        Value::String(s) => parse_kv_args(&s).map(Value::Object).ok_or_else(|| {
            format!("`{module}` takes a mapping of arguments (or key=value pairs), found `{s}`")
        }),
        other => Err(format!(
            "`{module}` takes a mapping of arguments, found {}",
            kind_of(&other)
        )),
    }
}
