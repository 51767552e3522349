//! Facts through the host's connection: the play's `Gathering Facts` and the `setup` task
//! (facts gathered again, with its own `gather_subset` and `filter`). Both run the probe of a
//! [`Request`] and merge its facts as Ansible does.

use std::time::Duration;

use serde_json::{Map, Value};

use super::task_exec::Exec;
use super::{HostState, PlayCtx, Runner};
use crate::engine_args::SetupArgs;
use crate::facts::{self, Request};
use crate::playbook::{Common, Task};
use prov_core::{Become, Connection, RemoteCommand, Stdin, TaskStatus};

/// Runs the probe of `request` on `conn` (as `become_` when given) and parses its answer: the
/// facts as Ansible's `setup` returns them (`ansible_` names). A failure says whether the host
/// was unreachable.
pub(super) async fn probe(
    conn: &dyn Connection,
    request: &Request,
    timeout: Option<Duration>,
    become_: Option<Become>,
) -> Result<Map<String, Value>, (TaskStatus, String)> {
    let cmd = RemoteCommand::new(request.script())
        .with_timeout(timeout)
        .with_become(become_);
    match conn.exec(&cmd, Stdin::Null).await {
        Ok(out) if !out.success() && out.stdout.is_empty() => Err((
            TaskStatus::Failed,
            format!(
                "the fact probe failed (exit {}): {}",
                out.status,
                out.stderr_text()
            ),
        )),
        Ok(out) => request
            .parse(&out.stdout)
            .map(facts::module_facts)
            .map_err(|e| (TaskStatus::Failed, e.to_string())),
        Err(e) if e.is_unreachable() => Err((TaskStatus::Unreachable, e.to_string())),
        Err(e) => Err((TaskStatus::Failed, e.to_string())),
    }
}

/// Merges facts returned by a module or gathered (`ansible_facts` of a result) into the host's,
/// as Ansible does: `ansible_X` is the fact `X` (`ansible_facts.X`, variable `ansible_X`); any
/// other name `K` (`gather_subset`, a module's `services`), and `ansible_local`, keep their
/// name both as a fact and as a variable.
pub(super) fn merge_facts(h: &mut HostState, returned: &Map<String, Value>) {
    if !h.facts.is_object() {
        h.facts = Value::Object(Map::new());
    }
    if let Value::Object(facts) = &mut h.facts {
        for (k, v) in returned {
            match k.strip_prefix("ansible_").filter(|_| k != "ansible_local") {
                Some(name) => {
                    facts.insert(name.to_owned(), v.clone());
                }
                None => {
                    facts.insert(k.clone(), v.clone());
                    h.bare_facts.insert(k.clone());
                }
            }
        }
    }
}

impl Runner {
    /// The `setup` task: gathers the facts its arguments ask for through the host's connection
    /// (or the `delegate_to` host's), with the task's `become`, and returns them as
    /// `ansible_facts` (merged into the host's facts by the caller).
    pub(super) async fn setup_task(
        &self,
        task: &Task,
        scope: &Common,
        h: &mut HostState,
        args: &Value,
        ctx: &tera::Context,
    ) -> Exec {
        let setup = match SetupArgs::parse(args) {
            Ok(s) => s,
            Err((_, e)) => return Exec::failed(format!("invalid arguments: setup: {e}")),
        };
        let conn = match &scope.delegate_to {
            Some(d) if d != &h.name => match self.delegate_connection(d).await {
                Ok(c) => c,
                Err(e) => return Exec::failed(format!("delegate_to {d}: {e}")),
            },
            _ => match &h.conn {
                Some(c) => c.clone(),
                None => return Exec::failed("no connection"),
            },
        };
        let timeout = setup
            .gather_timeout
            .or(task.timeout)
            .map(Duration::from_secs)
            .or(self.opts.task_timeout);
        let become_ = match self.become_for(scope, h, ctx, &task.at) {
            Ok(b) => b,
            Err(msg) => return Exec::failed(msg),
        };
        match probe(conn.as_ref(), &setup.request, timeout, become_).await {
            Ok(facts) => super::actions::ok(
                Map::from_iter([("ansible_facts".into(), Value::Object(facts))]),
                None,
            ),
            Err((status, msg)) => Exec {
                status,
                ..Exec::failed(msg)
            },
        }
    }

    /// The play's `Gathering Facts` on one host (connected first when needed).
    pub(super) async fn gather_host_facts(&self, pctx: &PlayCtx<'_>, h: &mut HostState) {
        let started = std::time::Instant::now();
        if !self
            .ensure_connection(pctx, h, "Gathering Facts", started)
            .await
        {
            return;
        }
        let Some(conn) = h.conn.clone() else { return };
        let timeout = pctx
            .play
            .gather_timeout
            .map(Duration::from_secs)
            .or(self.opts.task_timeout);
        let (status, msg) = match probe(conn.as_ref(), &pctx.play.gather, timeout, None).await {
            Ok(gathered) => {
                // Gathered facts update what modules returned earlier, as in Ansible.
                merge_facts(h, &gathered);
                (TaskStatus::Ok, None)
            }
            Err((status, msg)) => {
                match status {
                    TaskStatus::Unreachable => h.unreachable = true,
                    _ => h.failed = true,
                }
                (status, Some(msg))
            }
        };
        h.recap.count(status);
        self.bus
            .emit(prov_core::Event::TaskResult(prov_core::TaskResult {
                host: h.name.clone(),
                play: pctx.play.name.clone(),
                task: "Gathering Facts".into(),
                module: "setup".into(),
                item: None,
                status,
                changed: false,
                duration: started.elapsed(),
                summary: Vec::new(),
                diffs: Vec::new(),
                msg,
                result: Value::Null,
            }));
    }
}
