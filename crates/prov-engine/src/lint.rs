//! `prov lint`: everything that can be checked without connecting to a host. Loading the
//! inventory and the playbook already rejects malformed YAML, unknown modules, unknown or
//! mistyped module arguments, unknown keywords and template syntax in strings (with
//! `file:line:column`); lint adds the template files: that they exist and parse.

use serde_json::Value;

use crate::error::EngineError;
use prov_core::{FileKind, FileSource};

use crate::playbook::{Node, Playbook, Task};
use crate::runner::PlaybookFiles;
use crate::template::Templar;

/// One problem found by lint.
#[derive(Debug)]
pub struct LintProblem {
    /// The error, with its location.
    pub error: EngineError,
}

/// Checks the templates of every task of `playbook`.
pub fn lint_playbook(playbook: &Playbook) -> Vec<LintProblem> {
    let templar = Templar::new();
    let empty = tera::Context::new();
    let mut out = Vec::new();
    for play in &playbook.plays {
        let mut tasks: Vec<&Task> = Vec::new();
        collect(&play.tasks, &mut tasks);
        tasks.extend(play.handlers.iter());
        for t in tasks {
            if t.module == "template"
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
        match n {
            Node::Task(t) => out.push(t),
            Node::Block(b) => {
                collect(&b.block, out);
                collect(&b.rescue, out);
                collect(&b.always, out);
            }
        }
    }
}
