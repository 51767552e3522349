//! The tasks files that dynamic includes name, read by lint as far as it can find them: a
//! static name is the file it names; a templated name (`setup-{{ ansible_os_family }}.yml`)
//! stands for every file its fixed parts match (`setup-*.yml`). Such files are read only when
//! a host reaches the include, so what only fails there (a module prov lacks, in the file for
//! another OS) is a note, not a problem.

use crate::action::EngineAction;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{LintProblem, LintSuggestion};
use crate::error::EngineError;
use crate::playbook::{
    LenientTasks, Node, Playbook, Task, collect_tasks, include_candidates, load_tasks_file_lenient,
};
use crate::template::is_templated;
use crate::yaml::SecretResolver;

/// Includes nested deeper than this are not followed (a file that includes itself).
const MAX_DEPTH: usize = 20;

/// The tasks files lint found behind dynamic includes, loaded.
#[derive(Default)]
pub struct IncludedFiles {
    files: Vec<(PathBuf, Vec<Node>)>,
}

impl IncludedFiles {
    /// Every task of every included file.
    pub fn tasks(&self) -> Vec<&Task> {
        let mut out = Vec::new();
        for (_, nodes) in &self.files {
            for n in nodes {
                collect_tasks(n, &mut out);
            }
        }
        out
    }

    /// The files, in the order they were found.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(p, _)| p.as_path())
    }
}

/// What reading the included files found.
#[derive(Default)]
pub struct IncludeReport {
    /// The files read.
    pub files: IncludedFiles,
    /// Problems (a file that cannot be loaded, an include that names no file).
    pub problems: Vec<LintProblem>,
    /// What fails only on hosts that reach the include.
    pub notes: Vec<LintSuggestion>,
}

/// Reads the tasks files that `playbook`'s dynamic includes name, recursively (an include
/// inside an included file too, up to [`MAX_DEPTH`] deep; a file is read once). A task that
/// cannot be loaded does not hide the rest of its file: each is reported.
pub fn read_included_files(playbook: &Playbook, secrets: &dyn SecretResolver) -> IncludeReport {
    let mut report = IncludeReport::default();
    let mut seen = HashSet::new();
    for play in &playbook.plays {
        // Each include, and whether only some hosts reach it (behind a condition).
        let mut pending = Vec::new();
        includes_reached(&play.tasks, false, &mut pending);
        let mut depth = 0;
        while !pending.is_empty() && depth < MAX_DEPTH {
            let mut next = Vec::new();
            for (t, behind) in &pending {
                let conditional = *behind || is_conditional(t);
                for path in files_named(playbook, t, &mut report.problems) {
                    if !seen.insert(path.clone()) {
                        continue;
                    }
                    let role = t.common.role.as_ref();
                    match load_tasks_file_lenient(playbook, &play.handlers, secrets, &path, role) {
                        Ok(LenientTasks {
                            nodes,
                            errors,
                            refused_when_reached,
                        }) => {
                            for e in errors {
                                file_error(t, conditional, e, &mut report);
                            }
                            for e in refused_when_reached {
                                refused_when_reached_note(e, &mut report);
                            }
                            includes_reached(&nodes, conditional, &mut next);
                            report.files.files.push((path, nodes));
                        }
                        Err(e) => file_error(t, conditional, e, &mut report),
                    }
                }
            }
            pending = next;
            depth += 1;
        }
    }
    report
}

/// The `include_tasks` of `nodes`, each with whether only some hosts reach it: all of them
/// when `conditional`, else those inside a block with a condition (an `import_tasks` or a
/// role of `roles:` with `when`) or in a `rescue:`.
fn includes_reached(nodes: &[Node], conditional: bool, out: &mut Vec<(Task, bool)>) {
    for n in nodes {
        match n {
            Node::Task(t) if t.action.is(EngineAction::IncludeTasks) => {
                out.push((t.as_ref().clone(), conditional))
            }
            Node::Task(_) => {}
            Node::Block(b) => {
                let inside = conditional || !b.common.when.is_empty();
                includes_reached(&b.block, inside, out);
                includes_reached(&b.rescue, true, out);
                includes_reached(&b.always, inside, out);
            }
        }
    }
}

/// True when only some hosts may reach what `include` includes: it has a condition, or its
/// file name is a template.
fn is_conditional(include: &Task) -> bool {
    !include.common.when.is_empty() || include_file(include).is_none()
}

/// A task of an included file that could not be loaded: a problem, unless it only fails
/// where a conditional or templated include is reached (`conditional`: a module prov lacks).
fn file_error(include: &Task, conditional: bool, error: EngineError, report: &mut IncludeReport) {
    match error {
        EngineError::UnknownModule { at, module, .. } if conditional => {
            report.notes.push(LintSuggestion {
                at,
                message: format!(
                    "unknown module `{module}`: fails only on hosts that reach the include at {}",
                    include.at
                ),
            })
        }
        error => report.problems.push(LintProblem { error }),
    }
}

/// A task prov cannot run that is under a condition inside an included file: a note, as
/// `prov run` says it at load ([`Playbook::refused_when_reached`]).
fn refused_when_reached_note(error: EngineError, report: &mut IncludeReport) {
    let (at, message) = match &error {
        EngineError::UnknownModule { at, module, .. } => {
            (at.clone(), format!("unknown module `{module}`"))
        }
        EngineError::InvalidArgs {
            at,
            module,
            message,
        } => (
            at.clone(),
            format!("invalid arguments: {module}: {message}"),
        ),
        _ => return report.problems.push(LintProblem { error }),
    };
    report.notes.push(LintSuggestion {
        at,
        message: format!("{message}: under a condition, fails only on hosts where it holds"),
    });
}

/// The file name of an include, when it is not templated.
fn include_file(t: &Task) -> Option<&str> {
    let file = t.args.get("file")?;
    (!is_templated(file)).then(|| file.as_str()).flatten()
}

/// The files an include may name: the one a static name names (a problem when missing), or
/// those matching a templated name's fixed parts.
fn files_named(playbook: &Playbook, t: &Task, problems: &mut Vec<LintProblem>) -> Vec<PathBuf> {
    let Some(Value::String(file)) = t.args.get("file") else {
        return Vec::new();
    };
    let role = t.common.role.as_deref();
    if !is_templated(&Value::String(file.clone())) {
        let candidates = include_candidates(&t.at.file, role, &playbook.dir, file);
        return match candidates.iter().find(|p| p.is_file()) {
            Some(p) => vec![p.clone()],
            None => {
                problems.push(LintProblem {
                    error: EngineError::invalid(
                        t.arg_location(&[]),
                        format!("included file `{file}` not found"),
                    ),
                });
                Vec::new()
            }
        };
    }
    let pattern = wildcard(file);
    let Ok(glob) = globset::Glob::new(&pattern).map(|g| g.compile_matcher()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for candidate in include_candidates(&t.at.file, role, &playbook.dir, "") {
        let Ok(entries) = std::fs::read_dir(&candidate) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| p.file_name().is_some_and(|n| glob.is_match(n)))
            .collect();
        names.sort();
        out.extend(names);
    }
    out
}

/// A templated file name with each `{{ ... }}` replaced by `*`.
fn wildcard(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        out.push('*');
        rest = rest[start..]
            .find("}}")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn templated_names_become_wildcards() {
        assert_eq!(wildcard("setup-{{ ansible_os_family }}.yml"), "setup-*.yml");
        assert_eq!(wildcard("{{ a }}-{{b}}.yml"), "*-*.yml");
        assert_eq!(wildcard("plain.yml"), "plain.yml");
    }
}
