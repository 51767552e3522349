//! `prov lint`: everything that can be checked without connecting to a host. Loading the
//! inventory and the playbook already rejects malformed YAML, unknown modules, unknown or
//! mistyped module arguments, unknown keywords, notifications that reach no handler and
//! template syntax in strings (with `file:line:column`); lint adds the template files (that
//! they exist and parse) and, given the inventory, names that no variable anywhere defines.

use crate::action::{EngineAction, TaskAction};
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::EngineError;
use prov_core::{FileKind, FileSource};

mod includes;
mod kv;
pub use includes::{IncludeReport, IncludedFiles, read_included_files};

use crate::inventory::Inventory;
use crate::playbook::{Node, Playbook, Task, collect_tasks};
use crate::runner::PlaybookFiles;
use crate::template::Templar;
use crate::yaml::{PathSeg, PathSeg as P, SecretResolver};

/// What lint knows about the variables a run will have: the inventory and the extra
/// variables. Without an inventory, any name may come from it and names are not checked.
pub struct LintVars<'a> {
    /// The inventory.
    pub inventory: &'a Inventory,
    /// `-e` variables.
    pub extra_vars: &'a Map<String, Value>,
    /// Decrypts vaulted `vars_files`.
    pub secrets: &'a dyn SecretResolver,
}

/// Variables prov sets itself for every task.
const MAGIC: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "groups",
    "hostvars",
    "play_hosts",
    "ansible_play_hosts",
    "ansible_play_batch",
    "ansible_play_hosts_all",
    "ansible_play_name",
    "ansible_role_names",
    "role_names",
    "ansible_diff_mode",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_check_mode",
    "omit",
    "ansible_version",
    "playbook_dir",
    "role_path",
    "role_name",
    "result",
    "item",
];

/// One problem found by lint.
#[derive(Debug)]
pub struct LintProblem {
    /// The error, with its location.
    pub error: EngineError,
}

/// Checks the templates of every task of `playbook` and of the files it includes.
pub fn lint_playbook(playbook: &Playbook, included: &IncludedFiles) -> Vec<LintProblem> {
    let templar = Templar::with_yaml_dialect(playbook.project.dialect);
    let empty = tera::Context::new();
    let mut out = Vec::new();
    {
        for t in all_tasks(playbook, included) {
            if t.action.is_module("template")
                && let Some(src) = t.args.get("src").and_then(Value::as_str)
                && !src.contains("{{")
            {
                let files = PlaybookFiles {
                    templar: &templar,
                    context: &empty,
                    playbook_dir: &playbook.dir,
                    role_dir: t.common.role.as_ref().map(|r| r.dir.as_path()),
                };
                match files.find(FileKind::Template, src) {
                    Ok(path) => {
                        if let Err(e) = templar.check_file_syntax(&path) {
                            out.push(LintProblem { error: e });
                        }
                    }
                    Err(e) => out.push(LintProblem {
                        error: EngineError::invalid(t.at.clone(), e.to_string()),
                    }),
                }
            }
        }
    }
    out
}

fn collect<'a>(nodes: &'a [Node], out: &mut Vec<&'a Task>) {
    for n in nodes {
        collect_tasks(n, out);
    }
}

/// Advice from lint that is not an error.
#[derive(Debug)]
pub struct LintSuggestion {
    /// Where it applies.
    pub at: crate::error::Location,
    /// What to consider.
    pub message: String,
}

/// Read-only commands whose registered result later tasks use: in `--check` they do not run,
/// so whatever depends on them is known only after apply; `check_mode: false` lets check
/// mode run them (suggested for `command`/`shell` with `changed_when: false`).
pub fn check_mode_suggestions(
    playbook: &Playbook,
    included: &IncludedFiles,
) -> Vec<LintSuggestion> {
    let tasks = all_tasks(playbook, included);
    let mut out = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        let (Some(reg), true) = (
            &t.register,
            t.action.is_module("command") || t.action.is_module("shell"),
        ) else {
            continue;
        };
        if t.changed_when != Some(Value::Bool(false)) || t.common.check_mode.is_some() {
            continue;
        }
        let used = tasks[i + 1..].iter().any(|later| uses(later, reg));
        if used {
            out.push(LintSuggestion {
                at: t.at.clone(),
                message: format!(
                    "`{}` only reads (changed_when: false) and later tasks use `{reg}`: add \
                     `check_mode: false` so that --check runs it and can plan them",
                    t.name
                ),
            });
        }
    }
    out
}

/// True when `t` names `name` in its arguments, conditions, loop or vars.
fn uses(t: &Task, name: &str) -> bool {
    let names = |v: &Value| crate::template::mentions(v, name);
    names(&t.args)
        || t.loop_.as_ref().is_some_and(names)
        || t.common.when.iter().any(|c| names(&c.expr))
        || t.changed_when.as_ref().is_some_and(names)
        || t.failed_when.as_ref().is_some_and(names)
        || t.common.vars.values().any(names)
}

/// Every task and handler of `playbook`, and the tasks of the files it includes.
fn all_tasks<'a>(playbook: &'a Playbook, included: &'a IncludedFiles) -> Vec<&'a Task> {
    let mut tasks = Vec::new();
    for play in &playbook.plays {
        collect(&play.tasks, &mut tasks);
        tasks.extend(play.handlers.iter());
    }
    tasks.extend(included.tasks());
    tasks
}

/// Names used in `playbook` that no variable anywhere defines: not the inventory, the extra
/// variables, any play, vars file, role, block or task, no `register`, `set_fact` or loop
/// variable, and no fact or magic variable. Each would fail its task (or, in `hosts:`, the
/// run) whatever the host.
pub fn undefined_names(
    playbook: &Playbook,
    included: &IncludedFiles,
    vars: &LintVars<'_>,
) -> Vec<LintProblem> {
    let known = match known_names(playbook, included, vars) {
        Ok(k) => k,
        Err(error) => return vec![LintProblem { error }],
    };
    let known: Arc<dyn Fn(&str) -> bool + Send + Sync> =
        Arc::new(move |n: &str| known.contains(n) || n.starts_with("ansible_"));
    let templar = Templar::with_yaml_dialect(playbook.project.dialect);
    let mut sources = kv::Sources::default();
    let mut out = Vec::new();
    let mut report = |found: Option<EngineError>| {
        if let Some(error) = found {
            out.push(LintProblem { error });
        }
    };
    for play in &playbook.plays {
        let hosts = Value::String(play.hosts.clone());
        report(templar.probe_undefined(&hosts, false, &known, &|_| play.hosts_at.clone()));
        let vars = Value::Object(play.vars.clone());
        report(templar.probe_undefined(&vars, false, &known, &|_| play.at.clone()));
    }
    for t in all_tasks(playbook, included) {
        for c in &t.common.when {
            report(templar.probe_undefined(&c.expr, true, &known, &|_| c.at.clone()));
        }
        for (k, v) in [
            ("changed_when", &t.changed_when),
            ("failed_when", &t.failed_when),
        ] {
            if let Some(v) = v {
                report(templar.probe_undefined(v, true, &known, &|p| t.keyword_location(k, p)));
            }
        }
        if let Some(c) = t.until.as_ref().and_then(|u| u.condition.as_ref()) {
            report(templar.probe_undefined(c, true, &known, &|p| t.keyword_location("until", p)));
        }
        // What the task's `when` guards with `is defined` is known where the task runs.
        let guarded = guarded_names(t);
        let known = if guarded.is_empty() {
            known.clone()
        } else {
            let outer = known.clone();
            Arc::new(move |n: &str| guarded.contains(n) || outer(n))
        };
        report(task_args_probe(&templar, t, &known, &sources.kv_values(t)));
        let vars = Value::Object(t.common.vars.clone());
        report(templar.probe_undefined(&vars, false, &known, &|p| t.keyword_location("vars", p)));
        if let Some(l) = &t.loop_ {
            let key = t.loop_keyword();
            report(templar.probe_undefined(l, false, &known, &|p| t.keyword_location(key, p)));
        }
    }
    out
}

/// The names a task's `when` tests with `is defined` (the task runs only where they are).
fn guarded_names(t: &Task) -> HashSet<String> {
    static GUARD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"([A-Za-z_][A-Za-z0-9_]*)\s+is\s+defined").expect("valid regex")
    });
    let mut out = HashSet::new();
    for c in &t.common.when {
        crate::template::walk_strings_of(&c.expr, &mut |s| {
            out.extend(GUARD.captures_iter(s).map(|m| m[1].to_owned()));
        });
    }
    out
}

/// [`Templar::probe_undefined`] over a task's arguments (`assert: that:` as conditions).
/// `kv` says where the values of `key=value` arguments start.
fn task_args_probe(
    templar: &Templar,
    t: &Task,
    known: &Arc<dyn Fn(&str) -> bool + Send + Sync>,
    kv: &std::collections::HashMap<String, crate::error::Location>,
) -> Option<EngineError> {
    let mut args = t.args.clone();
    if t.action.is(EngineAction::Assert)
        && let Some(that) = args.as_object_mut().and_then(|o| o.remove("that"))
    {
        let at = |p: &[PathSeg]| {
            let mut full = vec![P::Key("that".to_owned())];
            full.extend_from_slice(p);
            t.arg_location(&full)
        };
        if let Some(e) = templar.probe_undefined(&that, true, known, &at) {
            return Some(e);
        }
    }
    let at = |p: &[PathSeg]| match p {
        [P::Key(k)] => kv.get(k).cloned().unwrap_or_else(|| t.arg_location(p)),
        _ => t.arg_location(p),
    };
    templar.probe_undefined(&args, false, known, &at)
}

/// Every name some variable of a run of `playbook` may have.
fn known_names(
    playbook: &Playbook,
    included: &IncludedFiles,
    vars: &LintVars<'_>,
) -> Result<HashSet<String>, EngineError> {
    let mut names: HashSet<String> = MAGIC.iter().map(|s| (*s).to_owned()).collect();
    let add = |names: &mut HashSet<String>, m: &Map<String, Value>| names.extend(m.keys().cloned());
    add(&mut names, vars.extra_vars);
    for h in vars.inventory.hosts() {
        add(&mut names, &vars.inventory.host_vars(&h));
    }
    add(&mut names, &vars.inventory.host_vars("localhost"));
    // Gathered facts (the play's or a `setup` task's) that are variables under their own name.
    const SETUP_FACTS: [&str; 2] = ["gather_subset", "module_setup"];
    for play in &playbook.plays {
        if play.gather_facts {
            names.extend(SETUP_FACTS.map(str::to_owned));
        }
        add(&mut names, &play.vars);
        for f in &play.vars_files {
            let doc = crate::yaml::load_file(&playbook.dir.join(f), vars.secrets)?;
            if let Value::Object(m) = &doc.value {
                add(&mut names, m);
            }
        }
        for role in &play.roles {
            add(&mut names, &role.defaults);
            add(&mut names, &role.vars);
        }
        let mut blocks = Vec::new();
        collect_blocks(&play.tasks, &mut blocks);
        for common in blocks {
            add(&mut names, &common.vars);
            add(&mut names, &common.params);
            if let Some(role) = &common.role {
                add(&mut names, &role.defaults);
                add(&mut names, &role.vars);
            }
        }
    }
    for t in all_tasks(playbook, included) {
        if let Some(role) = &t.common.role {
            add_role_vars_files(&mut names, &role.dir, vars.secrets)?;
        }
        add(&mut names, &t.common.vars);
        add(&mut names, &t.common.params);
        if let Some(r) = &t.register {
            names.insert(r.clone());
        }
        if t.action.is(EngineAction::IncludeVars) {
            include_vars_names(&mut names, playbook, t, vars.secrets)?;
        }
        if t.action.is(EngineAction::Setup) {
            names.extend(SETUP_FACTS.map(str::to_owned));
        }
        if let TaskAction::Module(spec) = t.action {
            names.extend(spec.returns_facts.iter().map(|f| (*f).to_owned()));
        }
        if t.action.is(EngineAction::SetFact)
            && let Some(m) = t.args.as_object()
        {
            names.extend(m.keys().filter(|k| *k != "cacheable").cloned());
        }
        names.insert(t.loop_control.loop_var.clone());
        names.extend(t.loop_control.index_var.clone());
    }
    Ok(names)
}

/// The names an `include_vars` task defines: its `name`, else those of the file it names when
/// that is not templated and can be found (a role's `vars/` is read whole elsewhere).
fn include_vars_names(
    names: &mut HashSet<String>,
    playbook: &Playbook,
    t: &Task,
    secrets: &dyn SecretResolver,
) -> Result<(), EngineError> {
    if let Some(name) = t.args.get("name").and_then(Value::as_str) {
        names.insert(name.to_owned());
        return Ok(());
    }
    let Some(file) = t.args.get("file").and_then(Value::as_str) else {
        return Ok(());
    };
    if crate::template::is_templated(&Value::String(file.to_owned())) {
        return Ok(());
    }
    let mut bases = Vec::new();
    if let Some(role) = &t.common.role {
        bases.push(role.dir.as_path());
    }
    bases.push(playbook.dir.as_path());
    let found = bases
        .iter()
        .flat_map(|b| [b.join("vars").join(file), b.join(file)])
        .find(|p| p.is_file());
    if let Some(path) = found {
        let doc = crate::yaml::load_file(&path, secrets)?;
        if let Value::Object(m) = &doc.value {
            names.extend(m.keys().cloned());
        }
    }
    Ok(())
}

/// The names defined by any file in a role's `vars/` (what `include_vars` may read there).
fn add_role_vars_files(
    names: &mut HashSet<String>,
    role_dir: &std::path::Path,
    secrets: &dyn SecretResolver,
) -> Result<(), EngineError> {
    let Ok(entries) = std::fs::read_dir(role_dir.join("vars")) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        let yaml = p
            .extension()
            .is_some_and(|x| x == "yml" || x == "yaml" || x == "json");
        if yaml && p.is_file() {
            let doc = crate::yaml::load_file(&p, secrets)?;
            if let Value::Object(m) = &doc.value {
                names.extend(m.keys().cloned());
            }
        }
    }
    Ok(())
}

/// The keywords of every block inside `nodes`.
fn collect_blocks<'a>(nodes: &'a [Node], out: &mut Vec<&'a crate::playbook::Common>) {
    for n in nodes {
        if let Node::Block(b) = n {
            out.push(&b.common);
            collect_blocks(&b.block, out);
            collect_blocks(&b.rescue, out);
            collect_blocks(&b.always, out);
        }
    }
}
