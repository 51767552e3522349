//! A lab host with a local folder of playbook files, for the file modules' lab tests: modules
//! run as the engine runs them (local `src` files found in the folder, controller outputs
//! written there), and each plan's remote commands are counted.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use prov_core::{FileKind, FileSource, ModuleContext, ModuleError};
use serde_json::Value;

use crate::counting::Counting;
use crate::support::{NoPeers, NsConnection, lab_facts, lab_host};

/// The playbook's folder: `src` files (a trailing `/` kept, as the engine keeps it) and
/// relative controller outputs live there.
pub struct Files(pub PathBuf);

impl FileSource for Files {
    fn find(&self, _kind: FileKind, name: &str) -> Result<PathBuf, ModuleError> {
        let p = self.0.join(name.trim_end_matches('/'));
        if !p.exists() {
            return Err(ModuleError::LocalFile(format!("no such file {name}")));
        }
        Ok(if name.ends_with('/') {
            PathBuf::from(format!("{}/", p.display()))
        } else {
            p
        })
    }
    fn render(&self, path: &Path) -> Result<String, ModuleError> {
        Err(ModuleError::Template(format!("{}", path.display())))
    }
    fn output_path(&self, name: &str) -> Result<PathBuf, ModuleError> {
        Ok(self.0.join(name))
    }
}

/// What a run reported (the plan's result with the action's fields added), and how many
/// remote commands its planning cost.
#[derive(Debug, Clone)]
pub struct Ran {
    pub changed: bool,
    pub summary: Vec<String>,
    pub result: serde_json::Map<String, Value>,
    pub plan_commands: usize,
}

/// One lab host and the local folder of its playbook.
pub struct Host {
    pub conn: Counting<Box<NsConnection>>,
    pub files: Files,
    name: &'static str,
    /// The most remote commands a plan that finds nothing to change may cost.
    unchanged_commands: usize,
    _temp: Option<tempfile::TempDir>,
}

impl Host {
    /// Lab host `name` with local files in `dir`; `None` (with a message) when it is not up.
    pub fn open(name: &'static str, dir: PathBuf) -> Option<Host> {
        Some(Host {
            conn: Counting::new(Box::new(lab_host(name)?)),
            files: Files(dir),
            name,
            unchanged_commands: usize::MAX,
            _temp: None,
        })
    }

    /// Lab host `name` with a new temporary folder of local files.
    pub fn open_temp(name: &'static str) -> Option<Host> {
        let temp = tempfile::tempdir().unwrap();
        let mut host = Host::open(name, temp.path().to_path_buf())?;
        host._temp = Some(temp);
        Some(host)
    }

    /// [`Host::converge`] also checks that a plan finding nothing to change is one command.
    pub fn one_command_when_unchanged(mut self) -> Self {
        self.unchanged_commands = 1;
        self
    }

    /// The local folder.
    pub fn local(&self) -> &Path {
        &self.files.0
    }

    /// Runs a script on the host that must succeed; its stdout.
    pub async fn sh(&self, script: &str) -> String {
        self.conn.inner.sh_ok(script).await
    }

    /// Plans (and unless `check`, applies) a module.
    pub async fn run(&self, name: &str, args: Value, check: bool) -> Result<Ran, ModuleError> {
        let module = (prov_modules::lookup(name).expect("registered").build)(args)?;
        let facts = lab_facts();
        let ctx = ModuleContext {
            host: self.name,
            conn: &self.conn,
            become_: None,
            check_mode: check,
            facts: &facts,
            files: &self.files,
            peers: &NoPeers,
            timeout: Some(std::time::Duration::from_secs(120)),
            environment: &[],
        };
        let before = self.conn.count();
        let plan = module.plan(&ctx).await?;
        let mut ran = Ran {
            changed: plan.changed(),
            summary: plan.summary().to_vec(),
            result: plan.result().clone(),
            plan_commands: self.conn.count() - before,
        };
        if !check && let (_, Some(action)) = plan.split() {
            ran.result.extend(action.apply(&ctx).await?.result);
        }
        Ok(ran)
    }

    /// Check predicts the real run; then check and real runs are unchanged.
    pub async fn converge(&self, name: &str, args: Value) -> Ran {
        let predicted = self.run(name, args.clone(), true).await;
        let predicted = predicted.unwrap_or_else(|e| panic!("{name} check: {e}"));
        let real = self.run(name, args.clone(), false).await;
        let real = real.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            predicted.changed, real.changed,
            "{name}: {predicted:?} {real:?}"
        );
        assert_eq!(predicted.summary, real.summary, "{name}: check = real");
        for check in [true, false] {
            let again = self.run(name, args.clone(), check).await.expect("again");
            assert!(!again.changed, "{name} (check: {check}) again: {again:?}");
            assert!(
                again.plan_commands <= self.unchanged_commands,
                "{name}: unchanged costs {} commands",
                again.plan_commands
            );
        }
        real
    }
}
