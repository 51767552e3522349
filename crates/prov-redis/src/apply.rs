//! Executing a plan, then waiting until every node agrees on the planned topology.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use redis::aio::MultiplexedConnection;

use crate::conn::{ClusterError, NodeConnector, connect_node};
use crate::departed::Departed;
use crate::nodes::{ClusterNode, Role};
use crate::plan::{ClusterPlan, Step};
use crate::spec::{ClusterSpec, NodeSpec, SLOT_COUNT, SlotRange, format_ranges, ranges_from_slots};
use crate::state::{NodeState, inspect_conn, query_string};

/// Tuning of [`apply_with`].
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// How long to wait for the nodes to know each other, and then to agree on the topology.
    pub converge_timeout: Duration,
    /// Slots prepared (`SETSLOT IMPORTING/MIGRATING`) and finished (`SETSLOT NODE`) together.
    pub migrate_batch: usize,
    /// Keys fetched by one `GETKEYSINSLOT` and moved by one `MIGRATE`.
    pub keys_per_migrate: usize,
    /// `MIGRATE` timeout in milliseconds.
    pub migrate_timeout_ms: u64,
    /// Pause between two convergence checks.
    pub poll_interval: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            converge_timeout: Duration::from_secs(60),
            migrate_batch: 128,
            keys_per_migrate: 200,
            migrate_timeout_ms: 10_000,
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// What [`apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// True if at least one step ran.
    pub changed: bool,
    /// Steps executed, as displayed in the plan.
    pub steps_done: Vec<String>,
    /// Slots moved to another master.
    pub slots_moved: usize,
    /// Keys moved with `MIGRATE`.
    pub keys_migrated: u64,
    /// Non-fatal remarks (for example a skipped `SET-CONFIG-EPOCH`).
    pub notes: Vec<String>,
    /// Time spent waiting for the nodes to agree.
    pub waited: Duration,
}

/// Open connections: the spec's nodes (indexes `0..spec.nodes.len()`, like the spec), then the
/// reachable departed nodes the plan empties or resets.
struct Live<'a> {
    spec: &'a ClusterSpec,
    /// How each node is reached (a departed node through its `via` host).
    nodes: Vec<NodeSpec>,
    conns: Vec<MultiplexedConnection>,
    ids: Vec<String>,
}

impl<'a> Live<'a> {
    /// Connects to every node of `spec` and to the departed nodes the plan works on, and
    /// reads their ids (a departed node must still have the id the plan knows).
    async fn connect(
        spec: &'a ClusterSpec,
        plan: &ClusterPlan,
        connector: &dyn NodeConnector,
    ) -> Result<Self, ClusterError> {
        let pw = spec.password.as_deref();
        let departed = departed_in_steps(plan);
        let mut nodes = spec.nodes.clone();
        nodes.extend(departed.iter().map(|d| d.conn_spec()));
        let conns = join_all(nodes.iter().map(|n| connect_node(n, pw, connector)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut live = Self {
            spec,
            nodes,
            conns,
            ids: Vec::new(),
        };
        for i in 0..live.nodes.len() {
            let id = live.cluster_text(i, "MYID").await?;
            live.ids.push(id.trim().to_string());
        }
        for (k, d) in departed.iter().enumerate() {
            let have = &live.ids[spec.nodes.len() + k];
            if *have != d.id {
                return Err(ClusterError::PlanMismatch(format!(
                    "{d} now answers with id {have}: it is another node, left untouched"
                )));
            }
        }
        Ok(live)
    }
}

/// The departed nodes that steps of the plan empty or reset (each once).
fn departed_in_steps(plan: &ClusterPlan) -> Vec<Departed> {
    let mut out: Vec<Departed> = Vec::new();
    for step in &plan.steps {
        let d = match step {
            Step::Evacuate { from, .. } => from,
            Step::Reset { node } => node,
            _ => continue,
        };
        if !out.iter().any(|x| x.id == d.id) {
            out.push(d.clone());
        }
    }
    out
}

impl Live<'_> {
    /// Number of spec nodes (the first connections).
    fn n(&self) -> usize {
        self.spec.nodes.len()
    }

    /// `CLUSTER SUB` on node `i`, as text.
    async fn cluster_text(&self, i: usize, sub: &str) -> Result<String, ClusterError> {
        let mut c = self.conns[i].clone();
        let cmd = redis::cmd("CLUSTER").arg(sub).to_owned();
        query_string(&mut c, &self.nodes[i], &format!("CLUSTER {sub}"), &cmd).await
    }

    fn idx(&self, node: &NodeSpec) -> Result<usize, ClusterError> {
        self.spec
            .index_of(node)
            .ok_or_else(|| ClusterError::PlanMismatch(format!("{node} is not in the spec")))
    }

    /// Connection index of a departed node.
    fn departed_idx(&self, d: &Departed) -> Result<usize, ClusterError> {
        (self.n()..self.ids.len())
            .find(|&i| self.ids[i] == d.id)
            .ok_or_else(|| ClusterError::PlanMismatch(format!("{d} is not connected")))
    }

    async fn run(
        &self,
        i: usize,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<redis::Value, ClusterError> {
        let mut c = self.conns[i].clone();
        cmd.query_async::<redis::Value>(&mut c)
            .await
            .map_err(|e| ClusterError::redis(&self.nodes[i], what, e))
    }

    async fn run_pipe(
        &self,
        i: usize,
        what: &str,
        pipe: &redis::Pipeline,
    ) -> Result<(), ClusterError> {
        let mut c = self.conns[i].clone();
        pipe.query_async::<Vec<redis::Value>>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::redis(&self.nodes[i], what, e))
    }

    /// What every spec node reports.
    async fn states(&self) -> Vec<NodeState> {
        join_all(self.conns.iter().zip(&self.spec.nodes).map(|(c, n)| {
            let mut c = c.clone();
            async move { inspect_conn(&mut c, n).await }
        }))
        .await
    }
}

/// Checks that every node named by the plan is in the spec and every spec node has a role.
fn check_plan(spec: &ClusterSpec, plan: &ClusterPlan) -> Result<(), ClusterError> {
    let mut seen = vec![false; spec.nodes.len()];
    for node in plan
        .masters
        .iter()
        .flat_map(|m| std::iter::once(&m.node).chain(m.replicas.iter()))
    {
        let i = spec
            .index_of(node)
            .ok_or_else(|| ClusterError::PlanMismatch(format!("{node} is not in the spec")))?;
        if seen[i] {
            return Err(ClusterError::PlanMismatch(format!("{node} has two roles")));
        }
        seen[i] = true;
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(ClusterError::PlanMismatch(format!(
            "{} has no role in the plan",
            spec.nodes[i]
        )));
    }
    let total: usize = plan
        .masters
        .iter()
        .map(|m| crate::spec::count_slots(&m.slots))
        .sum();
    if total != usize::from(SLOT_COUNT) {
        return Err(ClusterError::PlanMismatch(format!(
            "the plan covers {total} slots, not {SLOT_COUNT}"
        )));
    }
    Ok(())
}

/// Executes exactly the plan's steps, then waits (60 s) until every node agrees.
pub async fn apply(
    spec: &ClusterSpec,
    plan: &ClusterPlan,
    connector: &dyn NodeConnector,
) -> Result<ApplyReport, ClusterError> {
    apply_with(spec, plan, connector, &ApplyOptions::default()).await
}

/// [`apply`] with explicit options.
pub async fn apply_with(
    spec: &ClusterSpec,
    plan: &ClusterPlan,
    connector: &dyn NodeConnector,
    opts: &ApplyOptions,
) -> Result<ApplyReport, ClusterError> {
    check_plan(spec, plan)?;
    let live = Live::connect(spec, plan, connector).await?;
    let mut report = ApplyReport::default();
    // After a MEET, the nodes must know each other before any other step.
    let mut joined = true;
    for step in &plan.steps {
        let meet = matches!(step, Step::Meet { .. });
        if !joined && !meet {
            wait_joined(&live, opts).await?;
            joined = true;
        }
        run_step(&live, plan, step, opts, &mut report).await?;
        if meet {
            joined = false;
        }
        report.steps_done.push(step.to_string());
    }
    if !joined {
        wait_joined(&live, opts).await?;
    }
    report.changed = !report.steps_done.is_empty();
    let started = Instant::now();
    wait_converged(&live, plan, opts).await?;
    report.waited = started.elapsed();
    Ok(report)
}

/// Runs one step of the plan, counting what it moved in `report`.
async fn run_step(
    live: &Live<'_>,
    plan: &ClusterPlan,
    step: &Step,
    opts: &ApplyOptions,
    report: &mut ApplyReport,
) -> Result<(), ClusterError> {
    match step {
        Step::SetConfigEpoch { node, epoch } => {
            let i = live.idx(node)?;
            let cmd = redis::cmd("CLUSTER")
                .arg("SET-CONFIG-EPOCH")
                .arg(*epoch)
                .to_owned();
            if let Err(e) = live.run(i, "CLUSTER SET-CONFIG-EPOCH", &cmd).await {
                report.notes.push(format!("skipped: {e}"));
            }
        }
        Step::AddSlots { node, slots } => {
            let i = live.idx(node)?;
            add_slots(live, i, slots).await?;
        }
        Step::Meet { node, target } => {
            let i = live.idx(node)?;
            live.idx(target)?;
            let cmd = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg(&target.addr)
                .arg(target.port)
                .to_owned();
            live.run(i, "CLUSTER MEET", &cmd).await?;
        }
        Step::Replicate {
            replica, master, ..
        } => {
            let (r, m) = (live.idx(replica)?, live.idx(master)?);
            let cmd = redis::cmd("CLUSTER")
                .arg("REPLICATE")
                .arg(&live.ids[m])
                .to_owned();
            live.run(r, "CLUSTER REPLICATE", &cmd).await?;
        }
        Step::MoveSlots {
            from, to, slots, ..
        } => {
            let (f, t) = (live.idx(from)?, live.idx(to)?);
            // A node that just joined refuses MIGRATE (CLUSTERDOWN) until it sees the
            // cluster as ok, which can take up to the node timeout.
            wait_state_ok(live, &[f, t], opts).await?;
            report.keys_migrated += move_slots(live, plan, f, t, slots, opts).await?;
            report.slots_moved += crate::spec::count_slots(slots);
        }
        Step::Evacuate {
            from, to, slots, ..
        } => {
            let (f, t) = (live.departed_idx(from)?, live.idx(to)?);
            wait_state_ok(live, &[f, t], opts).await?;
            report.keys_migrated += move_slots(live, plan, f, t, slots, opts).await?;
            report.slots_moved += crate::spec::count_slots(slots);
        }
        Step::Forget { node } => forget(live, node).await?,
        Step::Reset { node } => {
            let d = live.departed_idx(node)?;
            let cmd = redis::cmd("CLUSTER").arg("RESET").arg("HARD").to_owned();
            live.run(d, "CLUSTER RESET HARD", &cmd).await?;
        }
        Step::Failover { node, master, mode } => {
            let (x, y) = (live.idx(node)?, live.idx(master)?);
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("FAILOVER");
            if let Some(o) = mode.option() {
                cmd.arg(o);
            }
            live.run(x, "CLUSTER FAILOVER", &cmd).await?;
            wait_swapped(live, x, y, opts).await?;
        }
    }
    Ok(())
}

/// `CLUSTER FORGET` of a departed node on every spec node (one that no longer knows it is
/// fine: a re-run after an interruption).
async fn forget(live: &Live<'_>, node: &Departed) -> Result<(), ClusterError> {
    for i in 0..live.n() {
        let cmd = redis::cmd("CLUSTER").arg("FORGET").arg(&node.id).to_owned();
        match live.run(i, "CLUSTER FORGET", &cmd).await {
            Err(ClusterError::Redis { source, .. })
                if source
                    .to_string()
                    .to_ascii_lowercase()
                    .contains("unknown node") => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

/// How the nodes' views differ from "`x` is a master, `y` a replica of `x`".
fn swap_disagreements(live: &Live<'_>, x: usize, y: usize, states: &[NodeState]) -> Vec<String> {
    let (nx, ny) = (&live.spec.nodes[x], &live.spec.nodes[y]);
    let mut out = Vec::new();
    for st in states {
        if !st.usable() {
            out.push(format!("{}: cannot be inspected", st.spec));
            continue;
        }
        if st
            .view_of(&live.ids[x])
            .is_none_or(|v| v.role() != Role::Master)
        {
            out.push(format!("{}: does not see {nx} as a master yet", st.spec));
        }
        let y_follows_x = st.view_of(&live.ids[y]).is_some_and(|v| {
            v.role() == Role::Replica && v.master_id.as_deref() == Some(live.ids[x].as_str())
        });
        if !y_follows_x {
            out.push(format!(
                "{}: does not see {ny} as a replica of {nx} yet",
                st.spec
            ));
        }
    }
    out
}

/// Waits until every node sees the roles of `x` and `y` swapped after `CLUSTER FAILOVER`.
async fn wait_swapped(
    live: &Live<'_>,
    x: usize,
    y: usize,
    opts: &ApplyOptions,
) -> Result<(), ClusterError> {
    let started = Instant::now();
    loop {
        let diffs = swap_disagreements(live, x, y, &live.states().await);
        if diffs.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= opts.converge_timeout {
            return Err(ClusterError::NotConverged {
                what: format!(
                    "{} taking over from {} after CLUSTER FAILOVER",
                    live.spec.nodes[x], live.spec.nodes[y]
                ),
                waited: started.elapsed(),
                disagreements: diffs,
            });
        }
        tokio::time::sleep(opts.poll_interval).await;
    }
}

async fn add_slots(live: &Live<'_>, i: usize, slots: &[SlotRange]) -> Result<(), ClusterError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("ADDSLOTSRANGE");
    for r in slots {
        cmd.arg(r.start).arg(r.end);
    }
    match live.run(i, "CLUSTER ADDSLOTSRANGE", &cmd).await {
        Ok(_) => Ok(()),
        Err(ClusterError::Redis { source, .. })
            if source
                .to_string()
                .to_ascii_lowercase()
                .contains("unknown subcommand") =>
        {
            // Redis < 7.0: plain ADDSLOTS.
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("ADDSLOTS");
            for r in slots {
                for s in r.slots() {
                    cmd.arg(s);
                }
            }
            live.run(i, "CLUSTER ADDSLOTS", &cmd).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Moves `slots` from node `f` to node `t` with their keys; returns the number of keys moved.
async fn move_slots(
    live: &Live<'_>,
    plan: &ClusterPlan,
    f: usize,
    t: usize,
    slots: &[SlotRange],
    opts: &ApplyOptions,
) -> Result<u64, ClusterError> {
    let all: Vec<u16> = slots.iter().flat_map(SlotRange::slots).collect();
    let target = &live.nodes[t];
    // SETSLOT NODE goes to the target, the source, then every other master.
    let mut finish_order = vec![t, f];
    for m in &plan.masters {
        let i = live.idx(&m.node)?;
        if !finish_order.contains(&i) {
            finish_order.push(i);
        }
    }
    let mut moved = 0u64;
    for chunk in all.chunks(opts.migrate_batch.max(1)) {
        let mut importing = redis::pipe();
        let mut migrating = redis::pipe();
        for &s in chunk {
            importing
                .cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("IMPORTING")
                .arg(&live.ids[f]);
            migrating
                .cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(s)
                .arg("MIGRATING")
                .arg(&live.ids[t]);
        }
        live.run_pipe(t, "CLUSTER SETSLOT IMPORTING", &importing)
            .await?;
        live.run_pipe(f, "CLUSTER SETSLOT MIGRATING", &migrating)
            .await?;
        for &s in chunk {
            loop {
                let keys_cmd = redis::cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(s)
                    .arg(opts.keys_per_migrate.max(1))
                    .to_owned();
                let mut c = live.conns[f].clone();
                let keys: Vec<Vec<u8>> = keys_cmd
                    .query_async(&mut c)
                    .await
                    .map_err(|e| ClusterError::redis(&live.nodes[f], "CLUSTER GETKEYSINSLOT", e))?;
                if keys.is_empty() {
                    break;
                }
                let mut mig = redis::cmd("MIGRATE");
                mig.arg(&target.addr)
                    .arg(target.port)
                    .arg("")
                    .arg(0)
                    .arg(opts.migrate_timeout_ms);
                if let Some(pw) = live.spec.password.as_deref() {
                    mig.arg("AUTH2").arg("default").arg(pw);
                }
                mig.arg("KEYS");
                for k in &keys {
                    mig.arg(k.as_slice());
                }
                live.run(f, "MIGRATE", &mig).await?;
                moved += keys.len() as u64;
            }
        }
        for &i in &finish_order {
            let mut p = redis::pipe();
            for &s in chunk {
                p.cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(s)
                    .arg("NODE")
                    .arg(&live.ids[t]);
            }
            match live.run_pipe(i, "CLUSTER SETSLOT NODE", &p).await {
                // A source emptied of its last slot turns into a replica of the target as soon
                // as it hears of the target's claim (Redis does that by itself); the others
                // learn the owner from the target's claim too: only the target must answer.
                Err(e) if i != t && is_replica_refusal(&e) => {}
                other => other?,
            }
        }
    }
    Ok(moved)
}

/// True for the refusal of `CLUSTER SETSLOT` by a node that is (now) a replica.
fn is_replica_refusal(e: &ClusterError) -> bool {
    matches!(e, ClusterError::Redis { source, .. }
        if source.to_string().contains("SETSLOT only with masters"))
}

/// Waits until the given nodes report `cluster_state:ok`.
async fn wait_state_ok(
    live: &Live<'_>,
    nodes: &[usize],
    opts: &ApplyOptions,
) -> Result<(), ClusterError> {
    let started = Instant::now();
    loop {
        let mut bad = Vec::new();
        for &i in nodes {
            let node = &live.nodes[i];
            let info = live.cluster_text(i, "INFO").await?;
            let info = crate::nodes::ClusterInfo::parse(&info);
            if !info.state_ok() {
                bad.push(format!("{node}: cluster_state is {}", info.state_text()));
            }
        }
        if bad.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= opts.converge_timeout {
            return Err(ClusterError::NotConverged {
                what: "cluster_state:ok before moving slots".into(),
                waited: started.elapsed(),
                disagreements: bad,
            });
        }
        tokio::time::sleep(opts.poll_interval).await;
    }
}

/// Waits until every node knows every other node (no handshake left).
async fn wait_joined(live: &Live<'_>, opts: &ApplyOptions) -> Result<(), ClusterError> {
    let started = Instant::now();
    loop {
        let states = live.states().await;
        let mut missing = Vec::new();
        for (i, st) in states.iter().enumerate() {
            if !st.usable() {
                missing.push(format!(
                    "{}: {}",
                    st.spec,
                    st.error.as_deref().unwrap_or("cannot be inspected")
                ));
                continue;
            }
            for (j, id) in live.ids[..live.n()].iter().enumerate() {
                if i != j && st.view_of(id).is_none_or(|v| v.in_handshake()) {
                    missing.push(format!(
                        "{} does not know {} yet",
                        st.spec, live.spec.nodes[j]
                    ));
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= opts.converge_timeout {
            return Err(ClusterError::NotConverged {
                what: "nodes meeting each other".into(),
                waited: started.elapsed(),
                disagreements: missing,
            });
        }
        tokio::time::sleep(opts.poll_interval).await;
    }
}

/// What the plan expects every node to see, by spec index.
struct Expected<'a> {
    spec: &'a ClusterSpec,
    ids: &'a [String],
    /// Masters and the slots they serve.
    masters: HashMap<usize, Vec<SlotRange>>,
    /// Replicas and their master.
    replicas: HashMap<usize, usize>,
    /// Each node's config epoch as it reports it.
    own_epoch: Vec<Option<u64>>,
}

impl<'a> Expected<'a> {
    fn new(
        spec: &'a ClusterSpec,
        plan: &ClusterPlan,
        ids: &'a [String],
        states: &[NodeState],
    ) -> Self {
        let mut masters = HashMap::new();
        let mut replicas = HashMap::new();
        for m in &plan.masters {
            let Some(mi) = spec.index_of(&m.node) else {
                continue;
            };
            masters.insert(
                mi,
                ranges_from_slots(m.slots.iter().flat_map(SlotRange::slots)),
            );
            for ri in m.replicas.iter().filter_map(|r| spec.index_of(r)) {
                replicas.insert(ri, mi);
            }
        }
        let own_epoch = states
            .iter()
            .map(|s| s.myself().map(|m| m.config_epoch))
            .collect();
        Self {
            spec,
            ids,
            masters,
            replicas,
            own_epoch,
        }
    }

    /// How `who`'s view `v` of node `j` differs from the plan.
    fn check_view(&self, who: &NodeSpec, j: usize, v: &ClusterNode, out: &mut Vec<String>) {
        let other = &self.spec.nodes[j];
        if v.is_failing() {
            out.push(format!("{who}: sees {other} as failing"));
        }
        if let Some(want) = self.masters.get(&j) {
            let have = ranges_from_slots(v.slots.iter().flat_map(SlotRange::slots));
            if v.role() != Role::Master {
                out.push(format!(
                    "{who}: sees {other} as a replica, expected a master"
                ));
            } else if &have != want {
                out.push(format!(
                    "{who}: sees {other} serving slots {}, expected {}",
                    format_ranges(&have),
                    format_ranges(want)
                ));
            }
        }
        if let Some(&mi) = self.replicas.get(&j) {
            let want_id = self.ids.get(mi).map(String::as_str);
            if v.role() != Role::Replica || v.master_id.as_deref() != want_id {
                out.push(format!(
                    "{who}: sees {other} as {}, expected a replica of {}",
                    self.seen_as(v),
                    self.spec.nodes[mi]
                ));
            }
        }
        if let Some(Some(e)) = self.own_epoch.get(j)
            && v.config_epoch != *e
        {
            out.push(format!(
                "{who}: sees config epoch {} for {other}, which reports {e}",
                v.config_epoch
            ));
        }
    }

    /// What a view says a node is: a master, or a replica of whom.
    fn seen_as(&self, v: &ClusterNode) -> String {
        match (v.role(), v.master_id.as_deref()) {
            (Role::Replica, Some(mid)) => match self.ids.iter().position(|x| x == mid) {
                Some(k) => format!("a replica of {}", self.spec.nodes[k]),
                None => format!("a replica of unknown node {mid}"),
            },
            (Role::Replica, None) => "a replica without master".to_string(),
            (Role::Master, _) => "a master".to_string(),
        }
    }
}

/// How a node's own report differs from a converged cluster of `n` nodes: its state, its slot
/// counts, the nodes it knows, slots left open.
fn own_report(who: &NodeSpec, st: &NodeState, n: usize, out: &mut Vec<String>) {
    if !st.info.state_ok() {
        out.push(format!("{who}: cluster_state is {}", st.info.state_text()));
    }
    let assigned = st.info.slots_assigned();
    let ok = st.info.get_u64("cluster_slots_ok").unwrap_or(0);
    if assigned != u64::from(SLOT_COUNT) || ok != u64::from(SLOT_COUNT) {
        out.push(format!(
            "{who}: {assigned} slots assigned, {ok} ok (expected {SLOT_COUNT})"
        ));
    }
    if st.info.known_nodes() != n as u64 {
        out.push(format!(
            "{who}: knows {} nodes (expected {n})",
            st.info.known_nodes()
        ));
    }
    if let Some(me) = st.myself()
        && (!me.migrating.is_empty() || !me.importing.is_empty())
    {
        out.push(format!(
            "{who}: has open slots ({} migrating, {} importing)",
            me.migrating.len(),
            me.importing.len()
        ));
    }
}

/// Lists how the nodes' views differ from the planned topology (empty when converged).
pub(crate) fn disagreements(
    spec: &ClusterSpec,
    plan: &ClusterPlan,
    ids: &[String],
    states: &[NodeState],
) -> Vec<String> {
    let expected = Expected::new(spec, plan, ids, states);
    let mut out = Vec::new();
    for (i, st) in states.iter().enumerate() {
        let who = &spec.nodes[i];
        if !st.usable() {
            out.push(format!(
                "{who}: cannot be inspected: {}",
                st.error.as_deref().unwrap_or("no myself line")
            ));
            continue;
        }
        own_report(who, st, spec.nodes.len(), &mut out);
        for (j, id) in ids.iter().enumerate() {
            match st.view_of(id) {
                Some(v) => expected.check_view(who, j, v, &mut out),
                None => out.push(format!("{who}: does not know {}", spec.nodes[j])),
            }
        }
        if expected.replicas.contains_key(&i) && st.master_link_up != Some(true) {
            out.push(format!("{who}: replication link to its master is not up"));
        }
    }
    out
}

async fn wait_converged(
    live: &Live<'_>,
    plan: &ClusterPlan,
    opts: &ApplyOptions,
) -> Result<(), ClusterError> {
    let started = Instant::now();
    loop {
        let states = live.states().await;
        let diffs = disagreements(live.spec, plan, &live.ids[..live.n()], &states);
        if diffs.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= opts.converge_timeout {
            return Err(ClusterError::NotConverged {
                what: "every node agreeing on the planned topology".into(),
                waited: started.elapsed(),
                disagreements: diffs,
            });
        }
        tokio::time::sleep(opts.poll_interval).await;
    }
}
