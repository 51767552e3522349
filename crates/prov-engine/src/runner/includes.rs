//! Ansible's dynamic includes and the controller files tasks name.
//!
//! `include_tasks` is decided when it is reached, per host: its `when`, its loop and its
//! templated file name are evaluated like any task's, the file is loaded then (a file that is
//! never included is never read), and its tasks run for the hosts that included it, with the
//! include's `vars` and loop variables. The include's own keywords (`when`, `tags`...) apply
//! to the include, not to the included tasks, as in Ansible. `include_vars` reads variables
//! from files on the controller into the host's variables. Relative file names are looked up
//! where Ansible looks for them ([`Runner::find_file`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tera::Context;

use super::actions::ok;
use super::task_exec::Exec;
use super::{HostState, PlayCtx, Runner};
use crate::engine_args::{IncludeTasksArgs, IncludeVarsArgs, RoleArgs};
use crate::error::EngineError;
use crate::playbook::{Block, Common, Node, Role, Task};

/// Includes nested deeper than this are refused (a file that includes itself).
const MAX_INCLUDE_DEPTH: usize = 50;

/// A tasks file that a host reached through `include_tasks`.
#[derive(Clone)]
pub(crate) struct IncludeRequest {
    /// The file, found.
    pub path: PathBuf,
    /// Its tasks, loaded.
    pub nodes: Arc<Vec<Node>>,
    /// The loop variables the include was reached with (`item`, `index_var`...).
    pub loop_vars: Map<String, Value>,
    /// The role the tasks belong to, for `include_role`.
    pub role: Option<Arc<Role>>,
}

/// A loaded tasks file's key: its path and the role it was loaded for.
type TasksFileKey = (PathBuf, Option<String>);

/// Tasks files loaded during the run: each is read once.
#[derive(Default)]
pub(crate) struct IncludeCache(Mutex<HashMap<TasksFileKey, Arc<Vec<Node>>>>);

/// The folder a module's files are looked for in: `first_found` and `include_vars` look in
/// `vars/` for `include_vars`, `templates/` for `template`, `files/` for the rest, as Ansible.
pub(crate) fn files_subdir(module: &str) -> &'static str {
    if module.contains("template") {
        "templates"
    } else if module.contains("var") {
        "vars"
    } else {
        "files"
    }
}

impl Runner {
    /// Where a relative file name of kind `subdir` is looked for, in order: the role's
    /// `subdir/` and the role's folder, then the playbook's `subdir/` and folder.
    fn file_candidates(
        &self,
        pctx: &PlayCtx<'_>,
        scope: &Common,
        subdir: &str,
        name: &str,
    ) -> Vec<PathBuf> {
        if Path::new(name).is_absolute() {
            return vec![PathBuf::from(name)];
        }
        let mut bases: Vec<&Path> = Vec::new();
        if let Some(role) = &scope.role {
            bases.push(&role.dir);
        }
        bases.push(&pctx.playbook.dir);
        bases
            .iter()
            .map(|b| std::path::absolute(b).unwrap_or_else(|_| b.to_path_buf()))
            .flat_map(|b| [b.join(subdir).join(name), b.join(name)])
            .collect()
    }

    /// The file `name` of kind `subdir` (see [`files_subdir`]), if it exists.
    pub(super) fn find_file(
        &self,
        pctx: &PlayCtx<'_>,
        scope: &Common,
        subdir: &str,
        name: &str,
    ) -> Option<PathBuf> {
        self.file_candidates(pctx, scope, subdir, name)
            .into_iter()
            .find(|p| p.is_file())
    }

    /// `include_vars`: reads the variables of a file (or of a folder's files) into the host's
    /// variables, at Ansible's `include_vars` precedence (their templates are rendered when
    /// used, like any variable written in a file).
    pub(super) fn include_vars(
        &self,
        pctx: &PlayCtx<'_>,
        scope: &Common,
        args: &Value,
        h: &mut HostState,
    ) -> Exec {
        let args: IncludeVarsArgs = match serde_json::from_value(args.clone()) {
            Ok(a) => a,
            Err(e) => return Exec::failed(format!("include_vars: {e}")),
        };
        let files = match self.vars_files(pctx, scope, &args) {
            Ok(f) => f,
            Err(msg) => return Exec::failed(format!("include_vars: {msg}")),
        };
        let mut vars = Map::new();
        for f in &files {
            match self.read_vars_file(f) {
                Ok(v) => vars.extend(v),
                Err(e) => return Exec::failed(format!("include_vars: {e}")),
            }
        }
        if let Some(name) = &args.name {
            vars = Map::from_iter([(name.clone(), Value::Object(vars))]);
        }
        h.included_vars
            .extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let msg = format!("included variables from {}", names.join(", "));
        ok(
            Map::from_iter([
                ("ansible_facts".into(), Value::Object(vars)),
                ("ansible_included_var_files".into(), json!(names)),
            ]),
            Some(msg),
        )
    }

    /// The files `include_vars` reads: its `file`, or the files of its `dir`.
    fn vars_files(
        &self,
        pctx: &PlayCtx<'_>,
        scope: &Common,
        args: &IncludeVarsArgs,
    ) -> Result<Vec<PathBuf>, String> {
        let (name, is_dir) = match (&args.file, &args.dir) {
            (Some(f), None) => (f, false),
            (None, Some(d)) => (d, true),
            _ => return Err("give exactly one of `file` and `dir`".into()),
        };
        let candidates = self.file_candidates(pctx, scope, "vars", name);
        let found = candidates
            .iter()
            .find(|p| if is_dir { p.is_dir() } else { p.is_file() });
        let Some(found) = found else {
            let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            return Err(format!(
                "could not find `{name}` (looked for {})",
                looked.join(", ")
            ));
        };
        if !is_dir {
            return Ok(vec![found.clone()]);
        }
        dir_files(found, args)
    }

    fn read_vars_file(&self, path: &Path) -> Result<Map<String, Value>, EngineError> {
        let doc = crate::yaml::load_file(path, self.secrets.as_ref())?;
        match &doc.value {
            Value::Object(m) => Ok(m.clone()),
            Value::Null => Ok(Map::new()),
            other => Err(EngineError::invalid(
                doc.location(&[]),
                format!(
                    "expected a mapping of variables, found {}",
                    crate::playbook::kind_of(other)
                ),
            )),
        }
    }

    /// `include_tasks` on one host: finds and loads the file and records it for the host; its
    /// tasks run once every host has reached the include ([`Runner::run_includes`]).
    pub(super) fn include_tasks(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        args: &Value,
        h: &mut HostState,
        ctx: &Context,
    ) -> Exec {
        let args: IncludeTasksArgs = match include_args("include_tasks", args, scope) {
            Ok(a) => a,
            Err(why) => return Exec::failed(why),
        };
        let path = match self.tasks_file(pctx, task, scope, &args.file) {
            Ok(p) => p,
            Err(msg) => return Exec::failed(format!("include_tasks: {msg}")),
        };
        let nodes = match self.load_tasks_file(pctx, scope, &path) {
            Ok(n) => n,
            Err(e) => return Exec::failed(e.to_string()),
        };
        let msg = format!("included: {}", path.display());
        let result = ("include", json!(path.display().to_string()));
        record(
            h,
            task,
            ctx,
            IncludeRequest::new(path, nodes, None),
            result,
            msg,
        )
    }

    /// `include_role` on one host: loads the role (its tasks, defaults and vars, or the files
    /// its `*_from` options name) and records it for the host, like `include_tasks`.
    pub(super) fn include_role(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        args: &Value,
        h: &mut HostState,
        ctx: &Context,
    ) -> Exec {
        let args: RoleArgs = match include_args("include_role", args, scope) {
            Ok(a) => a,
            Err(why) => return Exec::failed(why),
        };
        let loaded = crate::playbook::load_included_role(
            pctx.playbook,
            &pctx.play.handlers,
            self.secrets.as_ref(),
            &args,
            &task.at,
        );
        let (role, nodes) = match loaded {
            Ok(r) => r,
            Err(e) => return Exec::failed(e.to_string()),
        };
        let path = role
            .dir
            .join("tasks")
            .join(args.tasks_from.as_deref().unwrap_or("main"));
        let msg = format!("included role {}", args.name);
        let req = IncludeRequest::new(path, Arc::new(nodes), Some(role));
        record(h, task, ctx, req, ("include_role", json!(args.name)), msg)
    }

    /// The tasks file an include names: beside the including file, in the role's `tasks/`,
    /// beside the playbook or in its `tasks/`.
    fn tasks_file(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        file: &str,
    ) -> Result<PathBuf, String> {
        let candidates = crate::playbook::include_candidates(
            &task.at.file,
            scope.role.as_deref(),
            &pctx.playbook.dir,
            file,
        );
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => Ok(p.clone()),
            None => {
                let looked: Vec<String> =
                    candidates.iter().map(|c| c.display().to_string()).collect();
                Err(format!(
                    "included file `{file}` not found (looked for {})",
                    looked.join(", ")
                ))
            }
        }
    }

    fn load_tasks_file(
        &self,
        pctx: &PlayCtx<'_>,
        scope: &Common,
        path: &Path,
    ) -> Result<Arc<Vec<Node>>, EngineError> {
        let key = (
            path.to_path_buf(),
            scope.role.as_ref().map(|r| r.name.clone()),
        );
        if let Some(n) = self
            .included
            .0
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return Ok(n);
        }
        let nodes = Arc::new(crate::playbook::load_tasks_file(
            pctx.playbook,
            &pctx.play.handlers,
            self.secrets.as_ref(),
            path,
            scope.role.as_ref(),
        )?);
        if let Ok(mut c) = self.included.0.lock() {
            c.insert(key, nodes.clone());
        }
        Ok(nodes)
    }

    /// Runs what the hosts included at `task`: each distinct file (and loop item) once, for
    /// the hosts that included it, in the order they were reached. `scope` is the include's
    /// surroundings: its own `when` and `tags` decided whether it was included and do not
    /// apply to the included tasks.
    pub(super) async fn run_includes(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        states: &mut [HostState],
    ) -> Result<(), EngineError> {
        let mut groups: Vec<(IncludeRequest, Vec<usize>)> = Vec::new();
        for (i, h) in states.iter_mut().enumerate() {
            for req in std::mem::take(&mut h.includes) {
                match groups
                    .iter_mut()
                    .find(|(g, _)| g.path == req.path && g.loop_vars == req.loop_vars)
                {
                    Some((_, hosts)) => hosts.push(i),
                    None => groups.push((req, vec![i])),
                }
            }
        }
        for (req, hosts) in groups {
            let common = Common {
                params: task.common.vars.clone(),
                loop_vars: req.loop_vars,
                include_depth: scope.include_depth + 1,
                role: req.role.clone().or_else(|| task.common.role.clone()),
                ..task.apply.as_deref().cloned().unwrap_or_default()
            };
            let name = format!("include {}", req.path.display());
            let block = Block::plain(name, req.nodes.as_ref().clone(), common, task.at.clone());
            // Only the hosts that included this file take part.
            let outside: Vec<(usize, bool)> = (0..states.len())
                .filter(|i| !hosts.contains(i))
                .map(|i| (i, states[i].ended))
                .collect();
            for (i, _) in &outside {
                states[*i].ended = true;
            }
            let r = self.run_block(pctx, &block, scope, states).await;
            for (i, ended) in outside {
                states[i].ended = ended;
            }
            r?;
        }
        Ok(())
    }
}

impl IncludeRequest {
    fn new(path: PathBuf, nodes: Arc<Vec<Node>>, role: Option<Arc<Role>>) -> Self {
        Self {
            path,
            nodes,
            loop_vars: Map::new(),
            role,
        }
    }
}

/// An include's arguments, unless they are wrong or it is nested too deep (why).
fn include_args<T: serde::de::DeserializeOwned>(
    module: &str,
    args: &Value,
    scope: &Common,
) -> Result<T, String> {
    if scope.include_depth >= MAX_INCLUDE_DEPTH {
        return Err(format!(
            "{module}: includes nested more than {MAX_INCLUDE_DEPTH} deep (a file that includes itself?)"
        ));
    }
    serde_json::from_value(args.clone()).map_err(|e| format!("{module}: {e}"))
}

/// Records what a host included (with the loop item it was reached with) and reports it.
fn record(
    h: &mut HostState,
    task: &Task,
    ctx: &Context,
    mut req: IncludeRequest,
    (key, value): (&str, Value),
    msg: String,
) -> Exec {
    req.loop_vars = loop_vars(task, ctx);
    h.includes.push(req);
    ok(Map::from_iter([(key.to_owned(), value)]), Some(msg))
}

/// The loop variables of the item an include was reached with (none outside a loop).
fn loop_vars(task: &Task, ctx: &Context) -> Map<String, Value> {
    if task.loop_.is_none() {
        return Map::new();
    }
    let lc = &task.loop_control;
    let mut names = vec![lc.loop_var.as_str(), "ansible_loop_var", "ansible_loop"];
    if let Some(i) = &lc.index_var {
        names.push(i);
    }
    names
        .into_iter()
        .filter_map(|n| {
            let v = ctx.get(n)?;
            Some((n.to_owned(), serde_json::to_value(v).ok()?))
        })
        .collect()
}

/// The files of an `include_vars` folder, in name order, as its options select them.
fn dir_files(dir: &Path, args: &IncludeVarsArgs) -> Result<Vec<PathBuf>, String> {
    let matching = match &args.files_matching {
        Some(r) => Some(regex::Regex::new(r).map_err(|e| format!("files_matching: {e}"))?),
        None => None,
    };
    let mut out = Vec::new();
    walk(dir, 1, args.depth, &mut out)?;
    out.sort();
    let mut selected = Vec::new();
    for p in out {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if args.ignore_files.contains(&name)
            || matching.as_ref().is_some_and(|m| !m.is_match(&name))
        {
            continue;
        }
        let ext = p
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        if args.extensions.contains(&ext) {
            selected.push(p);
        } else if !args.ignore_unknown_extensions {
            return Err(format!(
                "{} does not have a valid extension: {}",
                p.display(),
                args.extensions.join(", ")
            ));
        }
    }
    Ok(selected)
}

fn walk(dir: &Path, level: u64, depth: u64, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth == 0 || level < depth {
                walk(&p, level + 1, depth, out)?;
            }
        } else {
            out.push(p);
        }
    }
    Ok(())
}
