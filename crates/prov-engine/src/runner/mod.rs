//! Running a playbook: plays over host batches, tasks over hosts in parallel (linear strategy:
//! each task completes on every host before the next starts), blocks, handlers, and the recap.

mod actions;
mod files;
mod includes;
mod setup;
mod task;
mod vars;
use task as task_exec;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use prov_core::{Connection, Event, HostRecap, Peers, TransportError};
use serde_json::{Map, Value};

use crate::action::EngineAction;
use crate::error::EngineError;
use crate::events::EventBus;
use crate::inventory::Inventory;
use crate::playbook::{Block, Common, Node, Play, Playbook, SerialSize, Task, VarLocations};
use crate::template::{Dialect, Templar};
use crate::yaml::{self, SecretResolver};

pub use files::PlaybookFiles;

/// Opens connections to hosts (SSH or local), given the host's resolved variables.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connects to `host`; `vars` are its variables (connection variables included).
    async fn connect(
        &self,
        host: &str,
        vars: &Map<String, Value>,
    ) -> Result<Arc<dyn Connection>, TransportError>;
}

/// How a run behaves (the command line's options).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `--check`: plan only.
    pub check: bool,
    /// `--diff`: include diffs in results.
    pub diff: bool,
    /// `--forks`: hosts worked on at once.
    pub forks: usize,
    /// `--limit` pattern.
    pub limit: Option<String>,
    /// `--tags`.
    pub tags: Vec<String>,
    /// `--skip-tags`.
    pub skip_tags: Vec<String>,
    /// `--start-at-task`.
    pub start_at_task: Option<String>,
    /// `-e` variables (highest precedence).
    pub extra_vars: Map<String, Value>,
    /// `--become`.
    pub become_: bool,
    /// `--become-user`.
    pub become_user: Option<String>,
    /// `-c/--connection` override.
    pub connection: Option<String>,
    /// Per-task timeout for remote commands.
    pub task_timeout: Option<Duration>,
    /// The dialect of expressions in YAML: the playbook's (`playbook.project.dialect`).
    pub dialect: Dialect,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            check: false,
            diff: false,
            forks: 50,
            limit: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            start_at_task: None,
            extra_vars: Map::new(),
            become_: false,
            become_user: None,
            connection: None,
            task_timeout: None,
            dialect: Dialect::Jinja2,
        }
    }
}

/// What a run ended with.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Per-host totals.
    pub recap: Vec<HostRecap>,
    /// Wall time.
    pub elapsed: Duration,
    /// Why the run was stopped early ([`Interrupt::interrupt`]), if it was.
    pub interrupted: Option<String>,
}

impl RunSummary {
    /// Some task failed (not ignored, not rescued).
    pub fn any_failed(&self) -> bool {
        self.recap.iter().any(|r| r.failed > 0)
    }
    /// Some host was unreachable.
    pub fn any_unreachable(&self) -> bool {
        self.recap.iter().any(|r| r.unreachable > 0)
    }
    /// Something changed (or would change, in check mode).
    pub fn any_changed(&self) -> bool {
        self.recap.iter().any(|r| r.changed > 0)
    }
    /// Check mode: some task depends on values known only after apply.
    pub fn any_known_after_apply(&self) -> bool {
        self.recap.iter().any(|r| r.known_after_apply > 0)
    }
}

/// Stops a run from outside, e.g. from a signal handler: the tasks in flight are abandoned
/// (each reported as failed with the reason; dropping them closes their remote commands), no
/// further task starts, the connections are closed and the run ends with its recap.
#[derive(Debug, Clone)]
pub struct Interrupt {
    tx: Arc<tokio::sync::watch::Sender<Option<String>>>,
}

impl Default for Interrupt {
    fn default() -> Self {
        Self {
            tx: Arc::new(tokio::sync::watch::channel(None).0),
        }
    }
}

impl Interrupt {
    /// Asks the run to stop; `reason` (such as `interrupted by SIGINT`) is what the abandoned
    /// tasks report. Only the first reason counts.
    pub fn interrupt(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// The reason, once [`Interrupt::interrupt`] was called.
    pub fn reason(&self) -> Option<String> {
        self.tx.borrow().clone()
    }

    /// Completes once the run is interrupted.
    pub(crate) async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// How long closing one connection may take at the end of a run (a host that vanished must
/// not hold the recap back).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One host's state during a play.
pub(crate) struct HostState {
    pub name: String,
    /// Inventory variables (groups and host), resolved once.
    pub inventory_vars: Map<String, Value>,
    /// Where each inventory variable is set.
    pub inventory_vars_at: VarLocations,
    /// Facts (`Null` until gathered).
    pub facts: Value,
    /// Facts modules returned without the `ansible_` prefix (`services`): variables under
    /// their own name.
    pub bare_facts: BTreeSet<String>,
    /// Registered results and `set_fact` values.
    pub registered: Map<String, Value>,
    /// Variables read by `include_vars` (rendered when used).
    pub included_vars: Map<String, Value>,
    /// Tasks files this host included at the current task, not yet run.
    pub includes: Vec<includes::IncludeRequest>,
    /// Of those, the ones whose values are known only after apply (in check mode: results of
    /// commands that were not run, and what was computed from them).
    pub unknown: BTreeSet<String>,
    pub conn: Option<Arc<dyn Connection>>,
    pub failed: bool,
    pub unreachable: bool,
    pub recap: HostRecap,
    /// Handlers notified and not yet run.
    pub notified: Vec<String>,
    /// In check mode, handlers that tasks known only after apply would notify if they change.
    pub possibly_notified: Vec<String>,
    /// `meta: end_host` / `end_play` for this host.
    pub ended: bool,
    /// The last task that failed on this host and its result: a `rescue` section sees them as
    /// `ansible_failed_task` and `ansible_failed_result`.
    pub last_failure: Option<(Value, Value)>,
}

impl HostState {
    fn active(&self) -> bool {
        !self.failed && !self.unreachable && !self.ended
    }
}

/// What each host carries from one play to the next (facts, registered results, its recap),
/// and which hosts are out of the run.
#[derive(Default)]
struct Carried {
    hosts: HashMap<String, CarriedHost>,
    /// Hosts that failed or were unreachable: later plays leave them out.
    dead: BTreeSet<String>,
}

#[derive(Default)]
struct CarriedHost {
    facts: Value,
    bare_facts: BTreeSet<String>,
    registered: Map<String, Value>,
    included_vars: Map<String, Value>,
    unknown: BTreeSet<String>,
    recap: Option<HostRecap>,
}

impl Carried {
    /// Keeps what host `s` carries into the next play.
    fn keep(&mut self, s: HostState) {
        if s.failed || s.unreachable {
            self.dead.insert(s.name.clone());
        }
        self.hosts.insert(
            s.name,
            CarriedHost {
                facts: s.facts,
                bare_facts: s.bare_facts,
                registered: s.registered,
                included_vars: s.included_vars,
                unknown: s.unknown,
                recap: Some(s.recap),
            },
        );
    }

    /// The recap of every host that took part, by name.
    fn recap(&mut self) -> Vec<HostRecap> {
        let mut names: Vec<&String> = self.hosts.keys().collect();
        names.sort();
        let names: Vec<String> = names.into_iter().cloned().collect();
        names
            .iter()
            .filter_map(|n| self.hosts.get_mut(n).and_then(|h| h.recap.take()))
            .collect()
    }
}

/// The open connections of a run, shared with modules that reach other hosts.
#[derive(Default, Clone)]
pub(crate) struct ConnectionPool {
    conns: Arc<Mutex<HashMap<String, Arc<dyn Connection>>>>,
}

impl ConnectionPool {
    fn insert(&self, host: &str, c: Arc<dyn Connection>) {
        if let Ok(mut m) = self.conns.lock() {
            m.insert(host.to_owned(), c);
        }
    }
    fn all(&self) -> Vec<Arc<dyn Connection>> {
        self.conns
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl Peers for ConnectionPool {
    fn connection(&self, host: &str) -> Option<Arc<dyn Connection>> {
        self.conns.lock().ok().and_then(|m| m.get(host).cloned())
    }
}

/// Runs playbooks against an inventory.
pub struct Runner {
    pub(crate) inventory: Arc<Inventory>,
    pub(crate) templar: Templar,
    pub(crate) opts: RunOptions,
    pub(crate) bus: EventBus,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) secrets: Arc<dyn SecretResolver>,
    pub(crate) pool: ConnectionPool,
    /// Name of the task to start at, until reached.
    start_at: Mutex<Option<String>>,
    /// Set to stop the run early.
    pub(crate) interrupt: Interrupt,
    /// Tasks files loaded by `include_tasks` during the run.
    included: includes::IncludeCache,
}

/// Per-play data every task needs.
pub(crate) struct PlayCtx<'a> {
    pub play: &'a Play,
    pub playbook: &'a Playbook,
    pub vars_files: Map<String, Value>,
    /// Where each variable of `vars_files` is set.
    pub vars_files_at: VarLocations,
    /// The hosts of this batch.
    pub play_hosts: Vec<String>,
    /// Every host the play targets (`ansible_play_hosts_all`).
    pub all_hosts: Vec<String>,
    /// Set when `any_errors_fatal` or `max_fail_percentage` stopped this batch: the run ends.
    pub broken: std::sync::atomic::AtomicBool,
}

impl Runner {
    /// A runner for `inventory`, emitting to `bus`, connecting through `connector`.
    pub fn new(
        inventory: Arc<Inventory>,
        opts: RunOptions,
        bus: EventBus,
        connector: Arc<dyn Connector>,
        secrets: Arc<dyn SecretResolver>,
    ) -> Self {
        let start_at = Mutex::new(opts.start_at_task.clone());
        Self {
            inventory,
            templar: Templar::with_yaml_dialect(opts.dialect),
            opts,
            bus,
            connector,
            secrets,
            pool: ConnectionPool::default(),
            start_at,
            interrupt: Interrupt::default(),
            included: includes::IncludeCache::default(),
        }
    }

    /// A handle that stops this runner's run early (see [`Interrupt`]).
    pub fn interrupt_handle(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// True once the run has been interrupted.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupt.reason().is_some()
    }

    /// The state host `h` starts a play batch with: what it carried from earlier plays.
    fn resume(&self, h: &str, carried: &mut Carried) -> HostState {
        let c = carried.hosts.remove(h).unwrap_or_default();
        HostState {
            name: h.to_owned(),
            inventory_vars: self.inventory.host_vars(h),
            inventory_vars_at: self.inventory.host_var_origins(h),
            facts: c.facts,
            bare_facts: c.bare_facts,
            registered: c.registered,
            included_vars: c.included_vars,
            includes: Vec::new(),
            unknown: c.unknown,
            conn: self.pool.connection(h),
            failed: false,
            unreachable: false,
            recap: c.recap.unwrap_or_else(|| HostRecap {
                host: h.to_owned(),
                ..HostRecap::default()
            }),
            notified: Vec::new(),
            possibly_notified: Vec::new(),
            ended: false,
            last_failure: None,
        }
    }

    /// Runs every play of `playbook` and returns the recap.
    pub async fn run(&self, playbook: &Playbook) -> Result<RunSummary, EngineError> {
        let started = Instant::now();
        // Like Ansible: a --limit that leaves no host at all is a mistake, not an empty run.
        if let Some(limit) = &self.opts.limit
            && self
                .inventory
                .limit(&self.inventory.hosts(), limit)?
                .is_empty()
        {
            return Err(EngineError::Pattern {
                pattern: limit.clone(),
                message: "--limit matches no host of the inventory".into(),
            });
        }
        // vars_files are read before anything runs, so a broken one stops the run up front.
        let all_vars_files: Vec<(Map<String, Value>, VarLocations)> = playbook
            .plays
            .iter()
            .map(|p| self.load_vars_files(p, playbook))
            .collect::<Result<_, _>>()?;
        // So are host patterns: an undefined name in one stops the run before anything ran.
        let patterns: Vec<String> = playbook
            .plays
            .iter()
            .map(|p| self.hosts_pattern(p))
            .collect::<Result<_, _>>()?;
        self.bus.emit(Event::RunStart {
            playbook: playbook.path.display().to_string(),
            check_mode: self.opts.check,
        });
        let mut carried = Carried::default();
        let result = async {
            'plays: for ((play, vars_files), pattern) in
                playbook.plays.iter().zip(&all_vars_files).zip(&patterns)
            {
                let mut hosts = self.inventory.select(pattern)?;
                if let Some(limit) = &self.opts.limit {
                    hosts = self.inventory.limit(&hosts, limit)?;
                }
                // Hosts that failed or were unreachable in an earlier play stay out.
                hosts.retain(|h| !carried.dead.contains(h));
                for batch in batches(&play.serial, &hosts) {
                    if self.interrupted() {
                        break;
                    }
                    let mut states: Vec<HostState> =
                        batch.iter().map(|h| self.resume(h, &mut carried)).collect();
                    let pctx = PlayCtx {
                        play,
                        playbook,
                        vars_files: vars_files.0.clone(),
                        vars_files_at: vars_files.1.clone(),
                        play_hosts: batch.clone(),
                        all_hosts: hosts.clone(),
                        broken: Default::default(),
                    };
                    self.run_play_batch(&pctx, &mut states).await?;
                    let ends_run = batch_ends_run(&pctx, &states);
                    states.into_iter().for_each(|s| carried.keep(s));
                    if ends_run {
                        break 'plays;
                    }
                }
            }
            // Like Ansible: a --start-at-task that names no task is a mistake.
            if !self.interrupted()
                && let Ok(guard) = self.start_at.lock()
                && let Some(name) = guard.as_deref()
            {
                return Err(EngineError::Invalid {
                    at: crate::error::Location::new(&playbook.path, 1, 1),
                    message: format!("--start-at-task: no task is named `{name}`"),
                });
            }
            Ok::<(), EngineError>(())
        }
        .await;
        // All at once, each bounded: a vanished host must not hold the recap back.
        futures::future::join_all(
            self.pool
                .all()
                .into_iter()
                .map(|c| async move { tokio::time::timeout(CLOSE_TIMEOUT, c.close()).await }),
        )
        .await;
        let recap = carried.recap();
        let summary = RunSummary {
            recap: recap.clone(),
            elapsed: started.elapsed(),
            interrupted: self.interrupt.reason(),
        };
        self.bus.emit(Event::RunEnd {
            recap,
            elapsed: summary.elapsed,
        });
        result.map(|_| summary)
    }

    /// The play's host pattern, rendered with the play's variables and the extra variables
    /// (as Ansible does): an undefined name in it is an error, never a pattern that matches
    /// no host.
    fn hosts_pattern(&self, play: &Play) -> Result<String, EngineError> {
        if !crate::template::is_templated(&Value::String(play.hosts.clone())) {
            return Ok(play.hosts.clone());
        }
        let mut layers = vars::Layers::default();
        layers.templated(&play.vars);
        layers.templated(&self.opts.extra_vars);
        let vars = self.resolve_vars(layers);
        let rendered = self
            .templar
            .render_value(
                &Value::String(play.hosts.clone()),
                vars.context(),
                &play.hosts_at,
            )
            .map_err(|e| vars.explain_error(e))?;
        match rendered {
            Value::String(s) => Ok(s),
            Value::Array(items) => Ok(items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(":")),
            other => Ok(other.to_string()),
        }
    }

    fn load_vars_files(
        &self,
        play: &Play,
        playbook: &Playbook,
    ) -> Result<(Map<String, Value>, VarLocations), EngineError> {
        let (mut out, mut at) = (Map::new(), VarLocations::new());
        for f in &play.vars_files {
            let path = playbook.dir.join(f);
            let doc = yaml::load_file(&path, self.secrets.as_ref())?;
            match &doc.value {
                Value::Object(m) => {
                    at.extend(crate::playbook::var_locations(&doc, &[], m));
                    out.extend(m.clone());
                }
                Value::Null => {}
                _ => {
                    return Err(EngineError::invalid(
                        doc.location(&[]),
                        "a vars file must be a mapping of variables",
                    ));
                }
            }
        }
        Ok((out, at))
    }

    async fn run_play_batch(
        &self,
        pctx: &PlayCtx<'_>,
        states: &mut [HostState],
    ) -> Result<(), EngineError> {
        let play = pctx.play;
        self.bus.emit(Event::PlayStart {
            play: play.name.clone(),
            hosts: pctx.play_hosts.clone(),
        });
        let scope = Common {
            any_errors_fatal: Some(play.any_errors_fatal),
            ..play.keywords.clone()
        };
        if play.gather_facts {
            self.gather_facts(pctx, states).await;
        }
        self.run_nodes(pctx, &play.tasks, &scope, states).await?;
        self.flush_handlers(pctx, states).await?;
        Ok(())
    }

    async fn gather_facts(&self, pctx: &PlayCtx<'_>, states: &mut [HostState]) {
        if self.interrupted() {
            return;
        }
        let hosts: Vec<String> = states
            .iter()
            .filter(|s| s.active() && s.facts.is_null())
            .map(|s| s.name.clone())
            .collect();
        if hosts.is_empty() {
            return;
        }
        self.bus.emit(Event::TaskStart {
            play: pctx.play.name.clone(),
            task: "Gathering Facts".into(),
            hosts,
            handler: false,
        });
        let forks = self.opts.forks.max(1);
        futures::stream::iter(
            states
                .iter_mut()
                .filter(|s| s.active() && s.facts.is_null()),
        )
        .map(|s| self.gather_host_facts_interruptible(pctx, s))
        .buffer_unordered(forks)
        .collect::<Vec<_>>()
        .await;
    }

    async fn flush_handlers(
        &self,
        pctx: &PlayCtx<'_>,
        states: &mut [HostState],
    ) -> Result<(), EngineError> {
        for handler in &pctx.play.handlers {
            let wanted: Vec<usize> = states
                .iter()
                .enumerate()
                .filter(|(_, s)| s.active() && s.notified.iter().any(|n| handler.answers_to(n)))
                .map(|(i, _)| i)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let scope = pctx.play.keywords.inherit(&handler.common);
            self.run_task(pctx, handler, &scope, states, &wanted, true)
                .await?;
        }
        self.report_possibly_notified(pctx, states);
        for s in states.iter_mut() {
            s.notified.clear();
            s.possibly_notified.clear();
        }
        Ok(())
    }

    /// Lists the handlers that would run only if a task known only after apply changes
    /// something (check mode).
    fn report_possibly_notified(&self, pctx: &PlayCtx<'_>, states: &[HostState]) {
        for handler in &pctx.play.handlers {
            let hosts: Vec<&str> = states
                .iter()
                .filter(|s| {
                    let names = |n: &String| handler.answers_to(n);
                    !s.notified.iter().any(names) && s.possibly_notified.iter().any(names)
                })
                .map(|s| s.name.as_str())
                .collect();
            if !hosts.is_empty() {
                self.bus.emit(Event::Warning {
                    message: format!(
                        "handler `{}` possibly notified on {}: by tasks whose values are known only after apply",
                        handler.name,
                        hosts.join(", ")
                    ),
                });
            }
        }
    }

    fn run_nodes<'a>(
        &'a self,
        pctx: &'a PlayCtx<'a>,
        nodes: &'a [Node],
        scope: &'a Common,
        states: &'a mut [HostState],
    ) -> futures::future::LocalBoxFuture<'a, Result<(), EngineError>> {
        Box::pin(async move {
            for node in nodes {
                if self.interrupted() {
                    return Ok(());
                }
                match node {
                    Node::Task(t) => {
                        if t.action.is(EngineAction::Meta)
                            && t.args.get("action").and_then(|a| a.as_str())
                                == Some("flush_handlers")
                        {
                            self.flush_handlers(pctx, states).await?;
                            continue;
                        }
                        let s = scope.inherit(&t.common);
                        if !self.selected_by_tags(&s.tags) || !self.reached_start(t) {
                            continue;
                        }
                        let active: Vec<usize> = states
                            .iter()
                            .enumerate()
                            .filter(|(_, s)| s.active())
                            .map(|(i, _)| i)
                            .collect();
                        if active.is_empty() {
                            return Ok(());
                        }
                        self.run_task(pctx, t, &s, states, &active, false).await?;
                        self.apply_failure_policy(pctx, &s, states, &active);
                        if t.action.is(EngineAction::IncludeTasks)
                            || t.action.is(EngineAction::IncludeRole)
                        {
                            self.run_includes(pctx, t, scope, states).await?;
                        }
                    }
                    Node::Block(b) => self.run_block(pctx, b, scope, states).await?,
                }
            }
            Ok(())
        })
    }

    async fn run_block(
        &self,
        pctx: &PlayCtx<'_>,
        b: &Block,
        scope: &Common,
        states: &mut [HostState],
    ) -> Result<(), EngineError> {
        let s = scope.inherit(&b.common);
        let entered: Vec<String> = states
            .iter()
            .filter(|h| h.active())
            .map(|h| h.name.clone())
            .collect();
        if entered.is_empty() {
            return Ok(());
        }
        let outside: Vec<(usize, bool)> = states
            .iter()
            .enumerate()
            .filter(|(_, h)| !entered.contains(&h.name))
            .map(|(i, h)| (i, h.ended))
            .collect();
        // Hosts outside the block sit it out.
        for (i, _) in &outside {
            states[*i].ended = true;
        }
        self.run_nodes(pctx, &b.block, &s, states).await?;
        if !b.rescue.is_empty() {
            let failed_here: Vec<usize> = states
                .iter()
                .enumerate()
                .filter(|(_, h)| entered.contains(&h.name) && h.failed && !h.unreachable)
                .map(|(i, _)| i)
                .collect();
            if !failed_here.is_empty() {
                let others: Vec<(usize, bool)> = states
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !failed_here.contains(i))
                    .map(|(i, h)| (i, h.ended))
                    .collect();
                for (i, _) in &others {
                    states[*i].ended = true;
                }
                for i in &failed_here {
                    let h = &mut states[*i];
                    h.failed = false;
                    h.recap.failed = h.recap.failed.saturating_sub(1);
                    h.recap.rescued += 1;
                    // As Ansible's non-persistent facts: seen from here to the end of the play.
                    if let Some((task, result)) = h.last_failure.take() {
                        h.registered.insert("ansible_failed_task".into(), task);
                        h.registered.insert("ansible_failed_result".into(), result);
                    }
                }
                self.run_nodes(pctx, &b.rescue, &s, states).await?;
                for (i, ended) in others {
                    states[i].ended = ended;
                }
            }
        }
        if !b.always.is_empty() {
            // `always` runs on every host that entered the block, failed or not.
            let was_failed: Vec<(usize, bool)> = states
                .iter()
                .enumerate()
                .map(|(i, h)| (i, h.failed))
                .collect();
            for h in states.iter_mut() {
                if entered.contains(&h.name) {
                    h.failed = false;
                }
            }
            self.run_nodes(pctx, &b.always, &s, states).await?;
            for (i, f) in was_failed {
                states[i].failed |= f;
            }
        }
        for (i, ended) in outside {
            states[i].ended = ended;
        }
        Ok(())
    }

    fn apply_failure_policy(
        &self,
        pctx: &PlayCtx<'_>,
        scope: &Common,
        states: &mut [HostState],
        ran_on: &[usize],
    ) {
        let failed_now = ran_on.iter().filter(|i| states[**i].failed).count();
        if failed_now == 0 {
            return;
        }
        let fatal = scope.any_errors_fatal.unwrap_or(pctx.play.any_errors_fatal);
        // Ansible's linear strategy: the batch's failed hosts over its size; unreachable
        // hosts are not counted.
        let over_pct = pctx.play.max_fail_percentage.is_some_and(|pct| {
            let total = states.len().max(1) as f64;
            let failed = states.iter().filter(|s| s.failed && !s.unreachable).count() as f64;
            failed * 100.0 / total > pct
        });
        if fatal || over_pct {
            let why = if fatal {
                "any_errors_fatal"
            } else {
                "max_fail_percentage exceeded"
            };
            self.bus.emit(Event::Warning {
                message: format!("play `{}` stopped for every host: {why}", pctx.play.name),
            });
            for s in states.iter_mut() {
                s.ended = true;
            }
            pctx.broken
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn selected_by_tags(&self, tags: &[String]) -> bool {
        let has = |t: &str| tags.iter().any(|x| x == t);
        if self.opts.skip_tags.iter().any(|t| has(t)) {
            return false;
        }
        if self.opts.tags.is_empty() || self.opts.tags.iter().any(|t| t == "all") {
            return !has("never");
        }
        has("always")
            || self.opts.tags.iter().any(|t| {
                has(t)
                    || (t == "tagged" && !tags.is_empty())
                    || (t == "untagged" && tags.is_empty())
            })
    }

    fn reached_start(&self, t: &Task) -> bool {
        let Ok(mut guard) = self.start_at.lock() else {
            return true;
        };
        match guard.as_deref() {
            None => true,
            Some(name) if name == t.name => {
                *guard = None;
                true
            }
            Some(_) => false,
        }
    }
}

/// Whether the run stops after this batch, as Ansible's playbook executor decides: a failure
/// policy stopped the play, or every host of the batch failed or was unreachable. No later
/// batch of the play and no later play runs (with `serial: 1`, a host whose update failed keeps
/// the next hosts from being touched).
fn batch_ends_run(pctx: &PlayCtx<'_>, states: &[HostState]) -> bool {
    pctx.broken.load(std::sync::atomic::Ordering::Relaxed)
        || (!states.is_empty() && states.iter().all(|s| s.failed || s.unreachable))
}

/// Splits hosts into `serial` batches (numbers, percentages, or a list of them; the last size
/// repeats).
fn batches(serial: &[SerialSize], hosts: &[String]) -> Vec<Vec<String>> {
    let (Some(last), false) = (serial.last(), hosts.is_empty()) else {
        return vec![hosts.to_vec()];
    };
    let size_of = |v: &SerialSize| -> usize {
        let n = match *v {
            SerialSize::Hosts(n) => usize::try_from(n).unwrap_or(usize::MAX),
            SerialSize::Percent(pct) => ((hosts.len() as f64) * pct / 100.0).floor() as usize,
        };
        n.max(1)
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < hosts.len() {
        let size = size_of(serial.get(k).unwrap_or(last));
        out.push(hosts[i..i.saturating_add(size).min(hosts.len())].to_vec());
        i = i.saturating_add(size);
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serial_batches() {
        let hosts: Vec<String> = (1..=5).map(|i| format!("h{i}")).collect();
        let sizes = |v: Value| -> Vec<SerialSize> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(crate::playbook::serial_size)
                .collect()
        };
        assert_eq!(batches(&sizes(json!([2])), &hosts).len(), 3);
        assert_eq!(
            batches(&sizes(json!([1, "50%"])), &hosts)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![1, 2, 2]
        );
        assert_eq!(batches(&[], &hosts).len(), 1);
        assert!(crate::playbook::serial_size(&json!("many")).is_none());
        assert!(crate::playbook::serial_size(&json!(0)).is_none());
    }
}
