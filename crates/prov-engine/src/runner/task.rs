//! One task on its hosts: variables, `when`, loops, the module's plan and apply, `register`,
//! `changed_when`/`failed_when`, `notify`, and the result event.

use std::collections::{BTreeMap, BTreeSet};

use crate::loops::LoopKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use prov_core::{Become, CheckMode, Event, ModuleContext, ModuleError, TaskResult, TaskStatus};
use serde_json::{Map, Value, json};
use tera::Context;

use super::files::PlaybookFiles;
use super::vars::{Layers, ScopeVars};
use super::{HostState, PlayCtx, Runner};
use crate::action::{EngineAction, TaskAction};
use crate::error::EngineError;
use crate::playbook::{Common, Condition, Flag, Role, Task};
use crate::yaml::PathSeg;

/// Which item of a loop runs: the loop's items and the index of this one.
#[derive(Clone, Copy)]
pub(super) struct LoopItem<'a> {
    items: &'a [Value],
    index: usize,
}

/// What a task produced on a host: one execution, or one per loop item with its label.
pub(super) enum Outcome {
    Once(Exec),
    Items(Vec<(Exec, String)>),
}

/// What one execution (one loop item, or the whole task) produced.
pub(super) struct Exec {
    pub(super) status: TaskStatus,
    pub(super) changed: bool,
    pub(super) summary: Vec<String>,
    pub(super) diffs: Vec<prov_core::Diff>,
    pub(super) msg: Option<String>,
    pub(super) result: Map<String, Value>,
    /// The result's values are known only after apply (check mode did not run it).
    pub(super) known_after_apply: bool,
}

impl Exec {
    pub(super) fn failed(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Exec {
            status: TaskStatus::Failed,
            changed: false,
            summary: Vec::new(),
            diffs: Vec::new(),
            result: Map::from_iter([
                ("failed".into(), json!(true)),
                ("msg".into(), json!(msg.clone())),
            ]),
            msg: Some(msg),
            known_after_apply: false,
        }
    }
    /// Skipped because the condition `c` is false (Ansible's `false_condition`: as written).
    fn skipped_by(c: &Condition) -> Self {
        let mut e = Self::skipped("Conditional result was False");
        e.result.insert("false_condition".into(), c.expr.clone());
        e
    }

    fn skipped(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        Exec {
            status: TaskStatus::Skipped,
            changed: false,
            summary: Vec::new(),
            diffs: Vec::new(),
            result: Map::from_iter([
                ("skipped".into(), json!(true)),
                ("changed".into(), json!(false)),
                ("skip_reason".into(), json!(msg.clone())),
            ]),
            msg: Some(msg),
            known_after_apply: false,
        }
    }

    /// A task that check mode cannot plan: it depends on `names`, whose values are known only
    /// after apply. `known` says what can be told anyway (the file that may change).
    fn deferred(names: &[String], known: Option<String>) -> Self {
        let mut msg = format!(
            "would run; depends on values known only after apply ({})",
            names.join(", ")
        );
        if let Some(k) = known {
            msg.push_str(&format!("; {k}"));
        }
        let mut e = Exec::skipped(msg);
        e.status = TaskStatus::KnownAfterApply;
        e.result.insert("known_after_apply".into(), json!(true));
        e.known_after_apply = true;
        e
    }
}

impl Runner {
    /// Shows what the connection has to say (host key recorded, connection reopened...).
    fn emit_notices(&self, conn: &dyn prov_core::Connection) {
        for message in conn.take_notices() {
            self.bus.emit(Event::Warning { message });
        }
    }

    /// Connects the host if needed; false (and the host marked unreachable) on failure.
    pub(super) async fn ensure_connection(
        &self,
        pctx: &PlayCtx<'_>,
        h: &mut HostState,
        task: &str,
        started: Instant,
    ) -> bool {
        if h.conn.is_some() {
            return true;
        }
        let mut layers = Layers::default();
        // `remote_user` ranks below every variable, as in Ansible.
        if let Some(user) = &pctx.play.remote_user {
            layers.raw_one("ansible_user", json!(user));
        }
        layers.templated_at(&h.inventory_vars, &h.inventory_vars_at);
        layers.templated(&pctx.play.vars);
        layers.templated(&self.opts.extra_vars);
        if let Some(c) = self
            .opts
            .connection
            .clone()
            .or_else(|| pctx.play.connection.clone())
        {
            layers.raw_one("ansible_connection", json!(c));
        }
        let vars = self.resolve_vars(layers);
        match self.connector.connect(&h.name, vars.values()).await {
            Ok(c) => {
                self.emit_notices(c.as_ref());
                self.pool.insert(&h.name, c.clone());
                h.conn = Some(c);
                true
            }
            Err(e) => {
                h.unreachable = true;
                h.recap.count(TaskStatus::Unreachable);
                self.bus.emit(Event::HostUnreachable {
                    host: h.name.clone(),
                    reason: e.to_string(),
                });
                self.bus.emit(Event::TaskResult(TaskResult {
                    host: h.name.clone(),
                    play: pctx.play.name.clone(),
                    task: task.to_owned(),
                    module: String::new(),
                    item: None,
                    status: TaskStatus::Unreachable,
                    changed: false,
                    duration: started.elapsed(),
                    summary: Vec::new(),
                    diffs: Vec::new(),
                    msg: Some(e.to_string()),
                    result: Value::Null,
                }));
                false
            }
        }
    }

    /// Runs `task` on the hosts at `indexes` (in parallel, bounded by `--forks`).
    pub(super) async fn run_task(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        states: &mut [HostState],
        indexes: &[usize],
        handler: bool,
    ) -> Result<(), EngineError> {
        if self.interrupted() {
            return Ok(());
        }
        let mut idx: Vec<usize> = indexes.to_vec();
        let run_once = scope.run_once.unwrap_or(false);
        if run_once {
            idx.truncate(1);
        }
        self.bus.emit(Event::TaskStart {
            play: pctx.play.name.clone(),
            task: task.name.clone(),
            hosts: idx.iter().map(|i| states[*i].name.clone()).collect(),
            handler,
        });
        let shared = self.shared_vars(pctx, task, states);
        let forks = self.opts.forks.max(1);
        let results: Vec<Result<(), EngineError>> = futures::stream::iter(
            states
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| idx.contains(i))
                .map(|(_, s)| s),
        )
        .map(|h| self.run_on_host_interruptible(pctx, task, scope, h, &shared))
        .buffer_unordered(forks)
        .collect()
        .await;
        for r in results {
            r?;
        }
        for i in &idx {
            if let Some(c) = &states[*i].conn {
                self.emit_notices(c.as_ref());
            }
        }
        if run_once
            && let Some(first) = idx.first()
            && let Some(reg) = &task.register
            && let Some(v) = states[*first].registered.get(reg).cloned()
        {
            for i in indexes {
                states[*i].registered.insert(reg.clone(), v.clone());
            }
        }
        Ok(())
    }

    /// The magic variables that are the same for every host of `task`, as a template context
    /// built once per task: `groups`, `play_hosts`, `ansible_play_hosts`, `ansible_play_batch`
    /// and, for tasks that can use it, `hostvars` (which resolves every host's variables).
    fn shared_vars(&self, pctx: &PlayCtx<'_>, task: &Task, states: &[HostState]) -> Context {
        let mut shared = Context::new();
        shared.insert("groups", &self.inventory.groups_map());
        let play_hosts = tera::Value::from_serializable(&pctx.play_hosts);
        for name in ["play_hosts", "ansible_play_hosts", "ansible_play_batch"] {
            shared.insert_value(name, play_hosts.clone());
        }
        shared.insert("ansible_play_hosts_all", &pctx.all_hosts);
        shared.insert("ansible_play_name", &pctx.play.name);
        let role_names: Vec<&str> = pctx.play.roles.iter().map(|r| r.name.as_str()).collect();
        shared.insert("ansible_role_names", &role_names);
        shared.insert("role_names", &role_names);
        shared.insert("ansible_diff_mode", &self.opts.diff);
        // Ansible keeps the tags as sets: sorted, `all` when none is asked for.
        let sorted = |tags: &[String]| tags.iter().cloned().collect::<BTreeSet<String>>();
        let run_tags = match sorted(&self.opts.tags) {
            t if t.is_empty() => json!(["all"]),
            t => json!(t),
        };
        shared.insert("ansible_run_tags", &run_tags);
        shared.insert("ansible_skip_tags", &sorted(&self.opts.skip_tags));
        if mentions_hostvars(task) {
            shared.insert("hostvars", &self.hostvars(pctx, states));
        }
        shared
    }

    /// Variables of every host of the play, for `hostvars`.
    fn hostvars(&self, pctx: &PlayCtx<'_>, states: &[HostState]) -> Value {
        let mut out = Map::new();
        for s in states {
            let mut layers = Layers::default();
            layers.templated_at(&s.inventory_vars, &s.inventory_vars_at);
            inject_facts(&mut layers, &s.facts, &s.bare_facts);
            layers.raw(&s.registered);
            layers.raw_one("inventory_hostname", json!(s.name));
            let vars = self.resolve_vars(layers);
            out.insert(s.name.clone(), Value::Object(vars.values().clone()));
        }
        // Hosts of the inventory outside this batch still have their inventory variables.
        for h in self.inventory.hosts() {
            if !out.contains_key(h.as_str()) {
                let mut layers = Layers::default();
                layers.templated_at(
                    &self.inventory.host_vars(&h),
                    &self.inventory.host_var_origins(&h),
                );
                layers.raw_one("inventory_hostname", json!(h));
                let vars = self.resolve_vars(layers);
                out.insert(h.clone(), Value::Object(vars.values().clone()));
            }
        }
        let _ = pctx;
        Value::Object(out)
    }

    /// Renders variables that refer to other variables (see [`ScopeVars`]).
    pub(super) fn resolve_vars(&self, layers: Layers) -> ScopeVars {
        ScopeVars::resolve(&self.templar, layers, &Context::new())
    }

    /// The variables a task sees on a host, lowest precedence first.
    fn task_vars(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        h: &HostState,
        shared: &Context,
    ) -> ScopeVars {
        let mut v = Layers::default();
        // As in Ansible (`private_role_vars` off), the defaults and vars of every role of the
        // play (its `roles:` and `import_role`s, with their dependencies) are the whole play's,
        // each at its precedence; the task's own role's come on top of the others'.
        let own = scope.role.as_ref();
        let others = || {
            let own_role = |r: &&Arc<Role>| own.is_some_and(|o| Arc::ptr_eq(o, r));
            pctx.play.roles.iter().filter(move |r| !own_role(r))
        };
        for role in others().chain(own) {
            v.templated_at(&role.defaults, &role.defaults_at);
        }
        v.templated_at(&h.inventory_vars, &h.inventory_vars_at);
        inject_facts(&mut v, &h.facts, &h.bare_facts);
        v.templated_at(&pctx.play.vars, &pctx.play.vars_at);
        v.templated_at(&pctx.vars_files, &pctx.vars_files_at);
        for role in others().chain(own) {
            v.templated_at(&role.vars, &role.vars_at);
        }
        v.templated_at(&scope.vars, &scope.vars_at);
        v.templated_at(&task.common.vars, &task.common.vars_at);
        v.templated(&h.included_vars);
        v.raw(&h.registered);
        v.templated(&scope.params);
        v.raw(&scope.loop_vars);
        v.templated(&self.opts.extra_vars);
        v.raw_one("inventory_hostname", json!(h.name));
        v.raw_one(
            "inventory_hostname_short",
            json!(h.name.split('.').next().unwrap_or(&h.name)),
        );
        v.raw_one("group_names", json!(self.inventory.group_names(&h.name)));
        v.raw_one("ansible_check_mode", json!(self.opts.check));
        v.raw_one("omit", json!(OMIT));
        // prov runs content written for ansible-core 2.19 with its semantics.
        v.raw_one(
            "ansible_version",
            json!({"full": "2.19.0", "major": 2, "minor": 19, "revision": 0, "string": "2.19.0"}),
        );
        v.raw_one("playbook_dir", json!(absolute(&pctx.playbook.dir)));
        if let Some(role) = &scope.role {
            v.raw_one("role_path", json!(absolute(&role.dir)));
            v.raw_one("role_name", json!(role.name));
            v.raw_one("ansible_role_name", json!(role.name));
        }
        // Variables may refer to each other and to the magic variables (above and `shared`).
        ScopeVars::resolve(&self.templar, v, shared)
    }

    /// [`Runner::run_on_host`], abandoned when the run is interrupted: dropping the task's
    /// future closes its remote command (see the SSH transport), and the host reports the task
    /// as failed with the interruption's reason.
    async fn run_on_host_interruptible(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        h: &mut HostState,
        shared: &Context,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        let finished = {
            let run = self.run_on_host(pctx, task, scope, &mut *h, shared);
            tokio::pin!(run);
            tokio::select! {
                biased;
                r = &mut run => Some(r),
                () = self.interrupt.wait() => None,
            }
        };
        match finished {
            Some(r) => r,
            None => {
                self.report_interrupted(pctx, &task.name, task.module(), h, started);
                Ok(())
            }
        }
    }

    /// [`Runner::gather_host_facts`], abandoned when the run is interrupted.
    pub(super) async fn gather_host_facts_interruptible(
        &self,
        pctx: &PlayCtx<'_>,
        h: &mut HostState,
    ) {
        let started = Instant::now();
        let finished = {
            let run = self.gather_host_facts(pctx, &mut *h);
            tokio::pin!(run);
            tokio::select! {
                biased;
                () = &mut run => true,
                () = self.interrupt.wait() => false,
            }
        };
        if !finished {
            self.report_interrupted(pctx, "Gathering Facts", "setup", h, started);
        }
    }

    /// Marks `h` failed for a task stopped by an interruption, and says so.
    fn report_interrupted(
        &self,
        pctx: &PlayCtx<'_>,
        task: &str,
        module: &str,
        h: &mut HostState,
        started: Instant,
    ) {
        let reason = self
            .interrupt
            .reason()
            .unwrap_or_else(|| "interrupted".to_owned());
        let msg = format!("{reason}: the task was stopped before it finished");
        h.failed = true;
        h.recap.count(TaskStatus::Failed);
        self.bus.emit(Event::TaskResult(TaskResult {
            host: h.name.clone(),
            play: pctx.play.name.clone(),
            task: task.to_owned(),
            module: module.to_owned(),
            item: None,
            status: TaskStatus::Failed,
            changed: false,
            duration: started.elapsed(),
            summary: Vec::new(),
            diffs: Vec::new(),
            msg: Some(msg.clone()),
            result: json!({"failed": true, "msg": msg}),
        }));
    }

    async fn run_on_host(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        h: &mut HostState,
        shared: &Context,
    ) -> Result<(), EngineError> {
        let started = Instant::now();
        let needs_conn = task.action.needs_connection();
        if needs_conn && !self.ensure_connection(pctx, h, &task.name, started).await {
            return Ok(());
        }
        let vars = self.task_vars(pctx, task, scope, h, shared);
        // A `no_log` that cannot be decided hides everything and fails the task.
        let no_log = self.flag(scope.no_log.as_ref(), "no_log", &vars);
        let ignore_errors = self.flag(scope.ignore_errors.as_ref(), "ignore_errors", &vars);
        let notify = self.notifications(pctx, task, &vars);
        let flag_failure = no_log
            .as_ref()
            .err()
            .or(ignore_errors.as_ref().err())
            .or(notify.as_ref().err())
            .cloned();
        let no_log = no_log.unwrap_or(true);
        let report = Reporter {
            runner: self,
            pctx,
            task,
            no_log,
            show_diff: scope.diff.unwrap_or(self.opts.diff) && !no_log,
            ignore_errors: ignore_errors.unwrap_or(false),
            started,
        };

        let deferred = self.unknown_inputs(task, scope, &vars, h);
        let outcome = if let Some(msg) = flag_failure {
            Outcome::Once(Exec::failed(msg))
        } else if !deferred.is_empty() {
            let known = self.known_target(task, &vars);
            Outcome::Once(Exec::deferred(&deferred, known))
        } else if let Some(loop_v) = &task.loop_ {
            self.run_loop(pctx, task, scope, h, &vars, loop_v).await?
        } else {
            Outcome::Once(self.execute(pctx, task, scope, h, &vars).await?)
        };
        let settled = match outcome {
            Outcome::Once(e) => report.once(h, e),
            Outcome::Items(results) => report.items(h, results),
        };
        self.record(task, h, settled, &notify.unwrap_or_default());
        Ok(())
    }

    /// The handlers `task` notifies, its templated names rendered (`restart {{ service }}`);
    /// a name that matches no handler of the play is an error, as in Ansible.
    fn notifications(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        vars: &ScopeVars,
    ) -> Result<Vec<String>, String> {
        let render = |(i, name): (usize, &String)| {
            let raw = Value::String(name.clone());
            if !crate::template::is_templated(&raw) {
                return Ok(name.clone());
            }
            let at = task.keyword_location("notify", &[PathSeg::Index(i)]);
            let rendered = match self.templar.render_value(&raw, vars.context(), &at) {
                Ok(Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(e) => return Err(vars.explain(e)),
            };
            if pctx.play.handlers.iter().any(|h| h.answers_to(&rendered)) {
                Ok(rendered)
            } else {
                Err(format!(
                    "{at}: `notify: {name}` is `{rendered}`, which names no handler of this play"
                ))
            }
        };
        task.notify.iter().enumerate().map(render).collect()
    }

    /// Marks the host, registers the result and queues the handlers of a finished task.
    fn record(&self, task: &Task, h: &mut HostState, mut settled: Settled, notify: &[String]) {
        self.track_unknowns(task, h, settled.unknown);
        if let Value::Object(m) = &mut settled.registered {
            m.entry("changed").or_insert(json!(settled.changed));
            m.entry("failed").or_insert(json!(settled.failed));
        }
        if settled.failed {
            h.failed = true;
            let failed_task = json!({
                "name": task.name,
                "action": task.module_key,
                "args": task.args,
            });
            h.last_failure = Some((failed_task, settled.registered.clone()));
        }
        if let Some(reg) = &task.register {
            h.registered.insert(reg.clone(), settled.registered);
        }
        let notified = if settled.changed && !settled.failed {
            &mut h.notified
        } else if settled.unknown {
            &mut h.possibly_notified
        } else {
            return;
        };
        for n in notify {
            if !notified.contains(n) {
                notified.push(n.clone());
            }
        }
    }

    /// The task once per item of its loop (or once, when the loop is empty or broken).
    async fn run_loop(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        h: &mut HostState,
        vars: &ScopeVars,
        loop_v: &Value,
    ) -> Result<Outcome, EngineError> {
        let loop_key = task.loop_keyword();
        let loop_at = |p: &[PathSeg]| task.keyword_location(loop_key, p);
        let rendered = match self
            .templar
            .render_value_with(loop_v, vars.context(), &loop_at)
        {
            Ok(v) => v,
            // As in Ansible, a loop that names an undefined value leaves the task to its
            // conditions, evaluated without the loop: skipped when they are false (`when:
            // feature_on` over a list defined only with the feature), failed with the loop's
            // error otherwise, as is a loop that fails for any other reason.
            Err(e) => {
                let undefined = matches!(
                    e,
                    EngineError::Template {
                        undefined: true,
                        ..
                    }
                );
                let exec = match undefined.then(|| self.first_false_condition(scope, vars)) {
                    Some(Ok(Some(c))) => Exec::skipped_by(c),
                    _ => Exec::failed(vars.explain(e)),
                };
                return Ok(Outcome::Once(exec));
            }
        };
        let subdir = super::includes::files_subdir(task.module());
        let find = |name: &str| {
            self.find_file(pctx, scope, subdir, name)
                .map(|p| p.display().to_string())
        };
        let items = match task.loop_kind {
            LoopKind::Lookup(name) => self.templar.lookup_items(name, rendered, vars.context()),
            kind => kind.items(rendered, &find),
        };
        let items = match items {
            Ok(items) if !items.is_empty() => items,
            Ok(_) => {
                let mut e = Exec::skipped("No items in the list");
                e.result.insert("results".into(), json!([]));
                return Ok(Outcome::Once(e));
            }
            Err(e) => {
                let at = loop_at(&[]);
                return Ok(Outcome::Once(Exec::failed(format!(
                    "{at}: `{loop_key}` {e}"
                ))));
            }
        };
        let mut results = Vec::with_capacity(items.len());
        for index in 0..items.len() {
            if index > 0
                && let Some(pause) = task.loop_control.pause
            {
                tokio::time::sleep(pause).await;
            }
            let item = LoopItem {
                items: &items,
                index,
            };
            results.push(self.run_item(pctx, task, scope, h, vars, item).await?);
        }
        Ok(Outcome::Items(results))
    }

    /// One item of a loop: the task with the loop variables set, and the item's label.
    async fn run_item(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        h: &mut HostState,
        vars: &ScopeVars,
        at: LoopItem<'_>,
    ) -> Result<(Exec, String), EngineError> {
        let lc = &task.loop_control;
        let (items, index) = (at.items, at.index);
        let item = &items[index];
        let mut extra = vec![
            (lc.loop_var.as_str(), item.clone()),
            ("ansible_loop_var", json!(lc.loop_var)),
        ];
        if let Some(index_var) = &lc.index_var {
            extra.push((index_var.as_str(), json!(index)));
        }
        if lc.extended {
            extra.push(("ansible_loop", extended_loop(items, index)));
        }
        // Task vars may refer to the loop variable (`port: "{{ item }}"`).
        let iv = vars.with(&self.templar, &extra);
        let label_at = task.keyword_location("loop_control", &[PathSeg::Key("label".into())]);
        let label = match &lc.label {
            Some(l) => self.templar.render_value(l, iv.context(), &label_at),
            None => Ok(item.clone()),
        };
        let (label, mut e) = match label {
            Ok(l) => (l, self.execute(pctx, task, scope, h, &iv).await?),
            Err(err) => (item.clone(), Exec::failed(iv.explain(err))),
        };
        let label = match label {
            Value::String(s) => s,
            other => other.to_string(),
        };
        e.result.insert(lc.loop_var.clone(), item.clone());
        e.result
            .insert("ansible_loop_var".into(), json!(lc.loop_var));
        if let Some(index_var) = &lc.index_var {
            e.result.insert(index_var.clone(), json!(index));
        }
        Ok((e, label))
    }

    /// The first of the task's conditions (its own and those it inherits, which are part of
    /// the scope) that is false, evaluated in order; `None` when all hold.
    fn first_false_condition<'s>(
        &self,
        scope: &'s Common,
        vars: &ScopeVars,
    ) -> Result<Option<&'s Condition>, EngineError> {
        for c in &scope.when {
            if !self.templar.eval_bool(&c.expr, vars.context(), &c.at)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// One execution of the task (the whole task, or one loop item).
    async fn execute(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        h: &mut HostState,
        vars: &ScopeVars,
    ) -> Result<Exec, EngineError> {
        match self.first_false_condition(scope, vars) {
            Ok(None) => {}
            Ok(Some(c)) => return Ok(Exec::skipped_by(c)),
            Err(e) => {
                let msg = vars.explain(e);
                return Ok(Exec::failed(format!(
                    "`when` could not be evaluated: {msg}"
                )));
            }
        }
        let Some(until) = &task.until else {
            return self.attempt(pctx, task, scope, h, vars).await;
        };
        let mut attempt = 1;
        loop {
            let mut exec = self.attempt(pctx, task, scope, h, vars).await?;
            if matches!(exec.status, TaskStatus::Unreachable | TaskStatus::Skipped) {
                return Ok(exec);
            }
            exec.result.insert("attempts".into(), json!(attempt));
            let done = match &until.condition {
                None => exec.status != TaskStatus::Failed,
                Some(condition) => {
                    let uv = with_result(vars, task, &exec);
                    let at = |p: &[PathSeg]| task.keyword_location("until", p);
                    match self.templar.eval_bool_with(condition, uv.context(), &at) {
                        Ok(done) => done,
                        Err(e) => {
                            return Ok(Exec::failed(format!("`until`: {}", vars.explain(e))));
                        }
                    }
                }
            };
            if done {
                return Ok(exec);
            }
            if attempt >= until.attempts {
                exec.status = TaskStatus::Failed;
                exec.result.insert("failed".into(), json!(true));
                exec.msg
                    .get_or_insert_with(|| format!("gave up after {attempt} attempts"));
                return Ok(exec);
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_secs(until.delay)).await;
        }
    }

    /// One attempt at the task (rendered arguments, the module or action, `changed_when` and
    /// `failed_when`).
    async fn attempt(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        scope: &Common,
        h: &mut HostState,
        vars: &ScopeVars,
    ) -> Result<Exec, EngineError> {
        let ctx = vars.context();
        let args = match self
            .templar
            .render_value_with(&task.args, ctx, &|p| task.arg_location(p))
        {
            Ok(a) => without_omitted(a),
            Err(e) => return Ok(Exec::failed(vars.explain(e))),
        };
        let mut exec = match task.action {
            TaskAction::Engine(EngineAction::Setup) => {
                let exec = self.setup_task(task, scope, h, &args, ctx).await;
                merge_returned_facts(h, &exec);
                exec
            }
            TaskAction::Engine(_) => super::actions::run(self, pctx, task, scope, &args, h, ctx),
            TaskAction::Module(spec) => {
                let limit = match self.async_seconds(task, ctx) {
                    Ok(limit) => limit,
                    Err(e) => return Ok(Exec::failed(vars.explain(e))),
                };
                let exec = match (spec.build)(args) {
                    Ok(module) => {
                        let run = self.run_module(pctx, task, module, scope, h, ctx);
                        within_async_limit(limit, run).await
                    }
                    Err(ModuleError::Args(a)) => Exec::failed(format!(
                        "invalid arguments: {}: {a} ({})",
                        spec.name, task.at
                    )),
                    Err(e) => Exec::failed(format!("{e} ({})", task.at)),
                };
                merge_returned_facts(h, &exec);
                exec
            }
        };
        if exec.status == TaskStatus::Unreachable || exec.status == TaskStatus::Skipped {
            return Ok(exec);
        }
        // changed_when / failed_when see the result under the register name (and `result`).
        if task.changed_when.is_some() || task.failed_when.is_some() {
            let cv = with_result(vars, task, &exec);
            let cctx = cv.context();
            if let Some(cw) = &task.changed_when {
                match self
                    .templar
                    .eval_bool_with(cw, cctx, &|p| task.keyword_location("changed_when", p))
                {
                    Ok(c) => {
                        exec.changed = c;
                        if exec.status == TaskStatus::Changed || exec.status == TaskStatus::Ok {
                            exec.status = if c {
                                TaskStatus::Changed
                            } else {
                                TaskStatus::Ok
                            };
                        }
                    }
                    Err(e) => {
                        return Ok(Exec::failed(format!("`changed_when`: {}", vars.explain(e))));
                    }
                }
            }
            if let Some(fw) = &task.failed_when {
                match self
                    .templar
                    .eval_bool_with(fw, cctx, &|p| task.keyword_location("failed_when", p))
                {
                    Ok(true) => {
                        exec.status = TaskStatus::Failed;
                        exec.msg
                            .get_or_insert_with(|| "failed_when condition was true".into());
                    }
                    Ok(false) => {
                        if exec.status == TaskStatus::Failed {
                            exec.status = if exec.changed {
                                TaskStatus::Changed
                            } else {
                                TaskStatus::Ok
                            };
                            exec.msg = None;
                        }
                    }
                    Err(e) => {
                        return Ok(Exec::failed(format!("`failed_when`: {}", vars.explain(e))));
                    }
                }
            }
        }
        exec.result.insert("changed".into(), json!(exec.changed));
        exec.result
            .insert("failed".into(), json!(exec.status == TaskStatus::Failed));
        Ok(exec)
    }

    /// The seconds of a task's `async:` (with `poll` > 0), rendered for this host.
    fn async_seconds(&self, task: &Task, ctx: &Context) -> Result<Option<u64>, EngineError> {
        let Some(limit) = &task.async_limit else {
            return Ok(None);
        };
        let number = |k: &str, v: &Value| -> Result<u64, EngineError> {
            let at = task.keyword_location(k, &[]);
            let rendered = self.templar.render_value(v, ctx, &at)?;
            let n = match &rendered {
                Value::String(s) => s.trim().parse::<u64>().ok(),
                other => other.as_u64(),
            };
            n.ok_or_else(|| EngineError::Template {
                at,
                message: format!("`{k}` must be a number of seconds, not {rendered}"),
                undefined: false,
            })
        };
        let seconds = number("async", &limit.seconds)?;
        if number("poll", &limit.poll)? == 0 {
            return Err(EngineError::Template {
                at: task.keyword_location("poll", &[]),
                message: "`poll: 0` (fire and forget) is not supported by prov".into(),
                undefined: false,
            });
        }
        Ok((seconds > 0).then_some(seconds))
    }

    async fn run_module(
        &self,
        pctx: &PlayCtx<'_>,
        task: &Task,
        module: Box<dyn prov_core::Module>,
        scope: &Common,
        h: &mut HostState,
        ctx: &tera::Context,
    ) -> Exec {
        let check_mode = match scope.check_mode {
            Some(true) => true,
            Some(false) => false,
            None => self.opts.check,
        };
        if check_mode && module.check_mode() == CheckMode::Unpredictable {
            let mut e = Exec::skipped(
                "skipped in check mode: the command's effect cannot be predicted (set check_mode: false to run it anyway)",
            );
            e.known_after_apply = true;
            return e;
        }
        // delegate_to runs the module through another host's connection.
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
        let become_ = match self.become_for(scope, h, ctx, &task.at) {
            Ok(b) => b,
            Err(msg) => return Exec::failed(msg),
        };
        let files = PlaybookFiles {
            templar: &self.templar,
            context: ctx,
            playbook_dir: &pctx.playbook.dir,
            role_dir: scope.role.as_ref().map(|r| r.dir.as_path()),
        };
        let facts = h.facts.clone();
        let timeout = task
            .timeout
            .map(Duration::from_secs)
            .or(self.opts.task_timeout);
        let environment = match self.environment(scope, ctx) {
            Ok(e) => e,
            Err(msg) => return Exec::failed(msg),
        };
        let mctx = ModuleContext {
            host: &h.name,
            conn: conn.as_ref(),
            become_: become_.as_ref(),
            check_mode,
            facts: &facts,
            files: &files,
            peers: &self.pool,
            timeout,
            environment: &environment,
        };
        let (report, action) = match module.plan(&mctx).await {
            Ok(p) => p.split(),
            Err(e) => return module_error(task.module(), e),
        };
        let mut result = report.result;
        let mut exec = Exec {
            status: if report.changed {
                TaskStatus::Changed
            } else {
                TaskStatus::Ok
            },
            changed: report.changed,
            summary: report.summary,
            diffs: report.diffs,
            msg: None,
            result: Map::new(),
            known_after_apply: false,
        };
        if !check_mode && let Some(action) = action {
            match action.apply(&mctx).await {
                Ok(outcome) => result.extend(outcome.result),
                Err(e) => {
                    let mut f = module_error(task.module(), e);
                    f.changed = exec.changed;
                    f.summary = exec.summary;
                    f.diffs = exec.diffs;
                    result.extend(std::mem::take(&mut f.result));
                    f.result = result;
                    return f;
                }
            }
        }
        exec.result = result;
        exec
    }

    pub(super) async fn delegate_connection(
        &self,
        host: &str,
    ) -> Result<Arc<dyn prov_core::Connection>, String> {
        if let Some(c) = prov_core::Peers::connection(&self.pool, host) {
            return Ok(c);
        }
        let mut layers = Layers::default();
        layers.templated(&self.inventory.host_vars(host));
        let vars = self.resolve_vars(layers);
        let c = self
            .connector
            .connect(host, vars.values())
            .await
            .map_err(|e| e.to_string())?;
        self.emit_notices(c.as_ref());
        self.pool.insert(host, c.clone());
        Ok(c)
    }

    /// The results whose values are known only after apply that `task` depends on (in check
    /// mode): registered results of commands check mode did not run, named in its arguments,
    /// conditions, loop or label directly or through variables computed from them.
    fn unknown_inputs(
        &self,
        task: &Task,
        scope: &Common,
        vars: &ScopeVars,
        h: &HostState,
    ) -> Vec<String> {
        if !self.opts.check || h.unknown.is_empty() {
            return Vec::new();
        }
        // Variables computed from unknown values are unknown too (they could not be rendered);
        // each is traced back to the results it came from.
        let mut roots: BTreeMap<String, BTreeSet<String>> = h
            .unknown
            .iter()
            .map(|n| (n.clone(), BTreeSet::from([n.clone()])))
            .collect();
        loop {
            let more: Vec<(String, BTreeSet<String>)> = vars
                .unresolved()
                .filter(|(k, _)| !roots.contains_key(*k))
                .filter_map(|(k, source)| {
                    let from: BTreeSet<String> = roots
                        .iter()
                        .filter(|(n, _)| uses_unknown(source, n))
                        .flat_map(|(_, r)| r.iter().cloned())
                        .collect();
                    (!from.is_empty()).then(|| (k.to_owned(), from))
                })
                .collect();
            if more.is_empty() {
                break;
            }
            roots.extend(more);
        }
        let mut texts: Vec<&Value> = vec![&task.args];
        texts.extend(task.loop_.iter());
        texts.extend(scope.when.iter().map(|c| &c.expr));
        texts.extend(task.changed_when.iter());
        texts.extend(task.failed_when.iter());
        texts.extend(task.until.iter().filter_map(|u| u.condition.as_ref()));
        texts.extend(task.loop_control.label.iter());
        let found: BTreeSet<String> = roots
            .into_iter()
            .filter(|(name, _)| texts.iter().any(|t| uses_unknown(t, name)))
            .flat_map(|(_, r)| r)
            .collect();
        found.into_iter().collect()
    }

    /// What can be told about a deferred task anyway: the file or thing it names, when that
    /// does not depend on unknown values.
    fn known_target(&self, task: &Task, vars: &ScopeVars) -> Option<String> {
        ["dest", "path", "name"].into_iter().find_map(|k| {
            let v = task.args.get(k)?;
            let at = |p: &[PathSeg]| {
                let mut full = vec![PathSeg::Key(k.to_owned())];
                full.extend_from_slice(p);
                task.arg_location(&full)
            };
            match self
                .templar
                .render_value_with(v, vars.context(), &at)
                .ok()?
            {
                Value::String(s) => Some(format!("{k} {s} may change")),
                _ => None,
            }
        })
    }

    /// Records whether the task's registered result (and, for `set_fact`, the facts it sets)
    /// is known only after apply.
    fn track_unknowns(&self, task: &Task, h: &mut HostState, unknown: bool) {
        let mut names: Vec<String> = task.register.iter().cloned().collect();
        if task.action.is(EngineAction::SetFact)
            && let Some(m) = task.args.as_object()
        {
            names.extend(m.keys().cloned());
        }
        for n in names {
            if unknown {
                h.unknown.insert(n);
            } else {
                h.unknown.remove(&n);
            }
        }
    }

    /// The task's `environment` (play, blocks and task merged, inner wins), rendered.
    fn environment(&self, scope: &Common, ctx: &Context) -> Result<Vec<(String, String)>, String> {
        let mut merged: Map<String, Value> = Map::new();
        for layer in &scope.environment {
            match self.templar.render_value(&layer.expr, ctx, &layer.at) {
                Ok(Value::Object(m)) => merged.extend(m),
                Ok(other) => {
                    return Err(format!(
                        "{}: `environment` must be a mapping of variables, found {}",
                        layer.at,
                        crate::playbook::kind_of(&other)
                    ));
                }
                Err(e) => return Err(format!("`environment`: {e}")),
            }
        }
        merged
            .into_iter()
            .map(|(k, v)| {
                let valid = k
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!("`environment`: `{k}` is not a valid variable name"));
                }
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                Ok((k, text))
            })
            .collect()
    }

    /// The value of a yes/no keyword on this host (false when not written); a template that
    /// cannot be decided is an error naming the keyword.
    fn flag(&self, flag: Option<&Flag>, keyword: &str, vars: &ScopeVars) -> Result<bool, String> {
        match flag {
            None => Ok(false),
            Some(Flag::Fixed(b)) => Ok(*b),
            Some(Flag::Templated(c)) => self
                .templar
                .eval_bool(&c.expr, vars.context(), &c.at)
                .map_err(|e| format!("`{keyword}` could not be evaluated: {}", vars.explain(e))),
        }
    }

    /// The task's privilege escalation on this host; a templated `become_user`
    /// (`"{{ postgresql_user }}"`) is rendered with the task's variables, as Ansible does.
    pub(super) fn become_for(
        &self,
        scope: &Common,
        h: &HostState,
        ctx: &tera::Context,
        at: &crate::error::Location,
    ) -> Result<Option<Become>, String> {
        // The host's become settings under prov's or Ansible's names (`-e` wins, e.g. the
        // password from --ask-become-pass); a malformed value was already reported when the
        // connection was opened.
        let mut vars = h.inventory_vars.clone();
        vars.extend(self.opts.extra_vars.clone());
        let hc = crate::inventory::HostConnection::from_vars(&h.name, &vars).ok();
        let host_become = hc.as_ref().and_then(|c| c.r#become);
        if !scope.become_.or(host_become).unwrap_or(self.opts.become_) {
            return Ok(None);
        }
        let user = scope
            .become_user
            .clone()
            .or_else(|| self.opts.become_user.clone())
            .or_else(|| hc.as_ref().and_then(|c| c.become_user.clone()))
            .unwrap_or_else(|| "root".into());
        let user = self
            .templar
            .render_str(&user, ctx, at)
            .map_err(|e| format!("`become_user` could not be rendered: {e}"))?;
        let password = hc.and_then(|c| c.become_password);
        if let Some(p) = &password {
            self.bus.redactor().add(p);
        }
        let method = scope.become_method.unwrap_or(
            match vars.get("ansible_become_method").and_then(|v| v.as_str()) {
                Some("su") => prov_core::BecomeMethod::Su,
                _ => prov_core::BecomeMethod::Sudo,
            },
        );
        Ok(Some(Become {
            user,
            method,
            password,
        }))
    }
}

/// True when a string inside `v` uses more of `name` than a skipped result holds: every use
/// but its known fields (`name.skipped`, `.changed`, `.failed`, `.skip_reason`) and tests on
/// it (`name is skipped`).
fn uses_unknown(v: &Value, name: &str) -> bool {
    const KNOWN_FIELDS: &[&str] = &["skipped", "changed", "failed", "skip_reason"];
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    let text_uses = |text: &str| {
        text.match_indices(name).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let rest = &text[i + name.len()..];
            if before.is_some_and(|c| is_name(c) || c == '.') || rest.starts_with(is_name) {
                return false; // part of another name
            }
            let rest = rest.trim_start();
            let field = rest
                .strip_prefix('.')
                .map(|r| r.split(|c: char| !is_name(c)).next().unwrap_or(""));
            let tested = rest.strip_prefix("is").is_some_and(|r| r.starts_with(' '));
            !(tested || field.is_some_and(|f| KNOWN_FIELDS.contains(&f)))
        })
    };
    match v {
        Value::String(s) => text_uses(s),
        Value::Array(items) => items.iter().any(|i| uses_unknown(i, name)),
        Value::Object(m) => m.values().any(|i| uses_unknown(i, name)),
        _ => false,
    }
}

/// `vars` with `exec`'s result under the task's register name and as `result` (what
/// `changed_when`, `failed_when` and `until` look at).
fn with_result(vars: &ScopeVars, task: &Task, exec: &Exec) -> ScopeVars {
    let mut v = vars.clone();
    let r = Value::Object(exec.result.clone());
    if let Some(reg) = &task.register {
        v.insert(reg, r.clone());
    }
    v.insert("result", r);
    v
}

/// What a task left on one host: its registered value and what it did.
struct Settled {
    registered: Value,
    changed: bool,
    failed: bool,
    unknown: bool,
}

/// Reports one task's results on one host: events, recap counts, unreachable marks.
struct Reporter<'a, 'p> {
    runner: &'a Runner,
    pctx: &'a PlayCtx<'p>,
    task: &'a Task,
    no_log: bool,
    show_diff: bool,
    ignore_errors: bool,
    started: Instant,
}

impl Reporter<'_, '_> {
    /// A task without a loop.
    fn once(&self, h: &mut HostState, mut e: Exec) -> Settled {
        self.ignore(&mut e);
        h.recap.count(e.status);
        if e.status == TaskStatus::Unreachable {
            self.unreachable(h, e.msg.clone().unwrap_or_default());
        }
        self.emit(h, &e, None);
        Settled {
            changed: e.changed,
            failed: e.status == TaskStatus::Failed,
            unknown: e.known_after_apply,
            registered: Value::Object(e.result),
        }
    }

    /// A loop: one event per item, one recap count and one registered `results` list.
    fn items(&self, h: &mut HostState, results: Vec<(Exec, String)>) -> Settled {
        let (mut changed, mut failed, mut unknown) = (false, false, false);
        let mut all_skipped = !results.is_empty();
        let mut unreachable = None;
        let mut list = Vec::new();
        for (mut e, label) in results {
            self.ignore(&mut e);
            changed |= e.changed;
            failed |= e.status == TaskStatus::Failed;
            unknown |= e.known_after_apply;
            all_skipped &= e.status == TaskStatus::Skipped;
            if e.status == TaskStatus::Unreachable {
                unreachable = e.msg.clone();
            }
            self.emit(h, &e, Some(label));
            list.push(Value::Object(e.result));
        }
        let status = match () {
            _ if unreachable.is_some() => TaskStatus::Unreachable,
            _ if failed => TaskStatus::Failed,
            _ if all_skipped => TaskStatus::Skipped,
            _ if changed => TaskStatus::Changed,
            _ => TaskStatus::Ok,
        };
        h.recap.count(status);
        if let Some(reason) = unreachable {
            self.unreachable(h, reason);
        }
        let registered = json!({"results": list, "changed": changed, "failed": failed, "skipped": all_skipped, "msg": "All items completed"});
        Settled {
            registered,
            changed,
            failed,
            unknown,
        }
    }

    fn ignore(&self, e: &mut Exec) {
        if e.status == TaskStatus::Failed && self.ignore_errors {
            e.status = TaskStatus::Ignored;
        }
    }

    fn unreachable(&self, h: &mut HostState, reason: String) {
        h.unreachable = true;
        self.runner.bus.emit(Event::HostUnreachable {
            host: h.name.clone(),
            reason,
        });
    }

    /// One result event, with what `no_log` hides hidden.
    fn emit(&self, h: &HostState, e: &Exec, item: Option<String>) {
        let no_log = self.no_log;
        let result = if no_log {
            json!({"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"})
        } else {
            Value::Object(e.result.clone())
        };
        self.runner.bus.emit(Event::TaskResult(TaskResult {
            host: h.name.clone(),
            play: self.pctx.play.name.clone(),
            task: self.task.name.clone(),
            module: self.task.module().to_owned(),
            // As in Ansible, a hidden loop item shows as `None`.
            item: item.map(|i| if no_log { "None".to_owned() } else { i }),
            status: e.status,
            changed: e.changed,
            duration: self.started.elapsed(),
            summary: if no_log {
                Vec::new()
            } else {
                e.summary.clone()
            },
            diffs: if self.show_diff {
                e.diffs.clone()
            } else {
                Vec::new()
            },
            msg: if no_log && e.status != TaskStatus::Skipped {
                None
            } else {
                e.msg.clone()
            },
            result,
        }));
    }
}

/// The failed (or unreachable) task a module error makes; argument errors name the module,
/// failures keep the result fields they register.
/// A module run under `async: SECONDS` (polled): failed as Ansible's when it takes longer,
/// otherwise its result with the async job's `started`/`finished` flags.
async fn within_async_limit(limit: Option<u64>, run: impl Future<Output = Exec>) -> Exec {
    let Some(seconds) = limit else {
        return run.await;
    };
    match tokio::time::timeout(Duration::from_secs(seconds), run).await {
        Ok(mut exec) => {
            exec.result.insert("started".into(), json!(1));
            exec.result.insert("finished".into(), json!(1));
            exec
        }
        Err(_) => Exec::failed(format!(
            "async task did not complete within the requested time - {seconds}s"
        )),
    }
}

fn module_error(module: &str, e: ModuleError) -> Exec {
    match e {
        e if e.is_unreachable() => Exec {
            status: TaskStatus::Unreachable,
            ..Exec::failed(e.to_string())
        },
        ModuleError::Args(a) => Exec::failed(format!("invalid arguments: {module}: {a}")),
        ModuleError::Failed(f) => {
            let mut e = Exec::failed(f.message);
            e.result.extend(f.result);
            e
        }
        e => Exec::failed(e.to_string()),
    }
}

/// A controller path as an absolute path string (like Ansible's `playbook_dir`).
fn absolute(p: &std::path::Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// The value of Ansible's `omit`: an argument rendered to exactly this is left out.
const OMIT: &str = "__omit_place_holder__prov";

/// `v` without the mapping entries and list items that are exactly [`OMIT`] (what
/// `default(omit)` leaves where a value was not given).
fn without_omitted(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| v.as_str() != Some(OMIT))
                .map(|(k, v)| (k, without_omitted(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|v| v.as_str() != Some(OMIT))
                .map(without_omitted)
                .collect(),
        ),
        other => other,
    }
}

/// A module's returned `ansible_facts` (`service_facts`, `setup`...) join the host's facts
/// (see [`super::setup::merge_facts`]).
fn merge_returned_facts(h: &mut HostState, exec: &Exec) {
    if let Some(Value::Object(returned)) = exec.result.get("ansible_facts") {
        super::setup::merge_facts(h, returned);
    }
}

/// Facts are visible as `ansible_facts.NAME` and as `ansible_NAME`.
fn inject_facts(v: &mut Layers, facts: &Value, bare: &BTreeSet<String>) {
    if let Value::Object(f) = facts {
        for (k, val) in f {
            if bare.contains(k) {
                v.raw_one(k, val.clone());
            } else {
                v.raw_one(&format!("ansible_{k}"), val.clone());
            }
        }
        v.raw_one("ansible_facts", facts.clone());
    } else {
        // As in Ansible, `ansible_facts` is there before anything is gathered.
        v.raw_one("ansible_facts", json!({}));
    }
}

/// Ansible's `ansible_loop` for item `index` of `items` (`loop_control.extended`).
fn extended_loop(items: &[Value], index: usize) -> Value {
    let length = items.len();
    let mut v = json!({
        "allitems": items,
        "index": index + 1,
        "index0": index,
        "revindex": length - index,
        "revindex0": length - index - 1,
        "first": index == 0,
        "last": index + 1 == length,
        "length": length,
    });
    // As in Ansible, undefined (not null) on the first and the last item.
    if let Some(o) = v.as_object_mut() {
        if let Some(prev) = index.checked_sub(1).and_then(|i| items.get(i)) {
            o.insert("previtem".into(), prev.clone());
        }
        if let Some(next) = items.get(index + 1) {
            o.insert("nextitem".into(), next.clone());
        }
    }
    v
}

fn mentions_hostvars(task: &Task) -> bool {
    let text = |v: &Value| v.to_string().contains("hostvars");
    text(&task.args)
        || task.common.when.iter().any(|c| text(&c.expr))
        || task.loop_.as_ref().is_some_and(text)
        || task.action.is_module("template")
}
