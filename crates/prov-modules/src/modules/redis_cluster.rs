//! `redis_cluster`: creates, completes or scales out a Redis Cluster natively (CLUSTER MEET,
//! slot assignment, CLUSTER REPLICATE, slot migration). Every node is reached through an SSH
//! direct-tcpip stream opened on the node's own host, so the controller needs no Redis port.
//!
//! ```yaml
//! redis_cluster:
//!   hosts: "{{ groups['redis'] }}"
//!   addresses: "{{ groups['redis'] | extract(container=hostvars, key='redis_bind_address') }}"
//!   master_port: 7000
//!   replica_port: 7001
//!   replicas: 1
//!   password: "{{ redis_password }}"
//! ```
//! Each host gets a node on `master_port` and one on `replica_port`; the planner puts every
//! replica on a different host than its master. Check mode prints the topology plan.
//!
//! Day 2 (see `docs/redis-cluster.md`):
//! * `layout: report` (default) reports drift from the intended layout (masters on
//!   `master_port`, the replica of host i's master on host i+1) without changing anything;
//!   `layout: enforce` repairs it with `CLUSTER FAILOVER` on the replica that should be master
//!   (and `CLUSTER REPLICATE` for misplaced replicas), then waits up to `settle_timeout`
//!   seconds for every node to agree. A replica whose link is not up yet (a node that has
//!   just rejoined) is first waited for, within `settle_timeout`.
//! * `failover_mode: default|force|takeover`: plain `CLUSTER FAILOVER` unless asked otherwise.
//! * `drain_host: HOST` (with `layout: enforce`): fails HOST's masters over to their replicas
//!   before a restart; a later `layout: enforce` run without it brings them back.
//! * `wait_for_sync: true`: first wait (up to `settle_timeout`) until the cluster is healthy,
//!   every replication link is up and every replica has its master's offset.
//! * `remove_departed: true` scales in: nodes of the cluster at addresses the arguments no
//!   longer list (their host left the group) have their slots moved to the remaining masters
//!   with the keys (`SETSLOT IMPORTING/MIGRATING`, `MIGRATE ... KEYS` in batches), the
//!   replicas that followed them are re-homed, every remaining node `CLUSTER FORGET`s them
//!   and they are `CLUSTER RESET HARD` (reached through a remaining host's connection).
//!   Refused when fewer than 2 hosts would remain. Without it (the default), such a node
//!   fails the task with a message saying how to scale in.
//! * The result carries `cluster` (cluster_state, roles per host, slots per master,
//!   replication links and offsets, drift) in every run, check mode included.

use async_trait::async_trait;
use prov_core::{Action, Change, Diff, Module, ModuleContext, ModuleError, Outcome, Peers, Plan};
use prov_redis::{
    ApplyOptions, ClusterHealth, ClusterPlan, ClusterSpec, Drift, FailoverMode, LayoutPolicy,
    NodeConnector, NodeSpec, NodeStream, PlanError, PlanOptions,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::parse_args;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    hosts: Vec<String>,
    addresses: Vec<String>,
    #[serde(default = "default_master_port")]
    master_port: u16,
    #[serde(default = "default_replica_port")]
    replica_port: u16,
    #[serde(default = "default_replicas")]
    replicas: usize,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    layout: Layout,
    #[serde(default)]
    failover_mode: Failover,
    #[serde(default)]
    drain_host: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    settle_timeout: Option<u64>,
    #[serde(default, deserialize_with = "crate::args::de_bool")]
    wait_for_sync: bool,
    #[serde(default, deserialize_with = "crate::args::de_bool")]
    remove_departed: bool,
}

/// `layout:` what to do about drift from the intended layout.
#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Layout {
    #[default]
    Report,
    Enforce,
}

/// `failover_mode:` the `CLUSTER FAILOVER` variant of repairs.
#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Failover {
    #[default]
    Default,
    Force,
    Takeover,
}

/// `settle_timeout` when not given, in seconds.
const DEFAULT_SETTLE_TIMEOUT: u64 = 60;

fn default_master_port() -> u16 {
    7000
}
fn default_replica_port() -> u16 {
    7001
}
fn default_replicas() -> usize {
    1
}

struct RedisCluster {
    spec: ClusterSpec,
    opts: PlanOptions,
    apply: ApplyOptions,
    /// Wait until every replica is in sync before planning.
    wait_for_sync: bool,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("redis_cluster", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = parse_args(args)?;
    if a.hosts.len() != a.addresses.len() {
        return Err(ModuleError::args(format!(
            "{} hosts but {} addresses",
            a.hosts.len(),
            a.addresses.len()
        )));
    }
    let mut nodes = Vec::new();
    for (h, addr) in a.hosts.iter().zip(&a.addresses) {
        nodes.push(NodeSpec::new(h.clone(), addr.clone(), a.master_port));
        if a.replicas > 0 {
            nodes.push(NodeSpec::new(h.clone(), addr.clone(), a.replica_port));
        }
    }
    if a.drain_host.is_some() && matches!(a.layout, Layout::Report) {
        return Err(ModuleError::args(
            "drain_host moves masters: it needs layout: enforce",
        ));
    }
    let settle = a.settle_timeout.unwrap_or(DEFAULT_SETTLE_TIMEOUT);
    if settle == 0 {
        return Err(ModuleError::args("settle_timeout must be at least 1 second"));
    }
    Ok(Box::new(RedisCluster {
        opts: plan_options(&a),
        wait_for_sync: a.wait_for_sync,
        apply: ApplyOptions {
            converge_timeout: std::time::Duration::from_secs(settle),
            ..ApplyOptions::default()
        },
        spec: ClusterSpec {
            nodes,
            replicas_per_master: a.replicas,
            password: a.password,
        },
    }))
}

fn plan_options(a: &Args) -> PlanOptions {
    PlanOptions {
        layout: match a.layout {
            Layout::Report => LayoutPolicy::Report,
            Layout::Enforce => LayoutPolicy::Enforce,
        },
        failover: match a.failover_mode {
            Failover::Default => FailoverMode::Default,
            Failover::Force => FailoverMode::Force,
            Failover::Takeover => FailoverMode::Takeover,
        },
        drain_host: a.drain_host.clone(),
        remove_departed: a.remove_departed,
    }
}

/// Opens node streams through each node's own host connection.
struct PeerTunnels<'a> {
    peers: &'a dyn Peers,
}

#[async_trait]
impl NodeConnector for PeerTunnels<'_> {
    async fn connect(&self, node: &NodeSpec) -> std::io::Result<Box<dyn NodeStream>> {
        let conn = self.peers.connection(&node.host).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                format!(
                    "no connection to host {} (is it part of the play?)",
                    node.host
                ),
            )
        })?;
        let stream = conn
            .open_tcp(&node.addr, node.port)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Box::new(stream))
    }
}

/// `host:port` of a node, as the result names it.
fn node_name(n: &NodeSpec) -> String {
    format!("{}:{}", n.host, n.port)
}

/// The `cluster` result: health, roles per host, slots per master, replication links and
/// offsets, and the drift from the intended layout.
fn cluster_json(h: &ClusterHealth, drift: &[Drift]) -> Value {
    let hosts: serde_json::Map<String, Value> = h
        .hosts
        .iter()
        .map(|x| {
            let roles = json!({"masters": x.masters, "replicas": x.replicas});
            (x.host.clone(), roles)
        })
        .collect();
    json!({
        "cluster_state": h.cluster_state,
        "healthy": h.ok,
        "nodes": h.nodes,
        "reachable": h.reachable,
        "slots_served": h.slots_served,
        "hosts": hosts,
        "masters": h.masters.iter().map(master_json).collect::<Vec<_>>(),
        "replicas": h.replicas.iter().map(replica_json).collect::<Vec<_>>(),
        "drift": drift.iter().map(drift_json).collect::<Vec<_>>(),
        "problems": h.problems,
    })
}

fn master_json(m: &prov_redis::MasterHealth) -> Value {
    json!({
        "node": node_name(&m.node),
        "slots": prov_redis::format_ranges(&m.slots),
        "slot_count": prov_redis::count_slots(&m.slots),
        "keys": m.keys,
        "repl_offset": m.offset,
        "replicas": m.replicas.iter().map(node_name).collect::<Vec<_>>(),
    })
}

fn replica_json(r: &prov_redis::ReplicaHealth) -> Value {
    let link = match r.link_up {
        Some(true) => "up",
        Some(false) => "down",
        None => "unknown",
    };
    json!({
        "node": node_name(&r.node),
        "master": r.master.as_ref().map(node_name),
        "link": link,
        "repl_offset": r.offset,
        "lag": r.lag,
    })
}

fn drift_json(d: &Drift) -> Value {
    let (kind, at) = match d {
        Drift::MasterDemoted { intended, .. } => ("master_demoted", intended),
        Drift::ReplicaMisplaced { replica, .. } => ("replica_misplaced", replica),
        Drift::Unrepairable { node, .. } => ("unrepairable", node),
    };
    json!({"kind": kind, "node": node_name(at), "msg": d.to_string()})
}

/// The `departed` result of a scale in: the nodes that leave the cluster.
fn departed_json(departed: &[prov_redis::Departed]) -> Option<Value> {
    if departed.is_empty() {
        return None;
    }
    let nodes = departed.iter().map(|d| {
        json!({
            "node": format!("{}:{}", d.addr, d.port),
            "id": d.id,
            "role": d.role,
            "reachable": d.reachable,
            "replicas_rehomed": d.replicas.iter().map(node_name).collect::<Vec<_>>(),
        })
    });
    Some(Value::Array(nodes.collect()))
}

struct ApplyCluster {
    spec: ClusterSpec,
    plan: ClusterPlan,
    opts: PlanOptions,
    apply: ApplyOptions,
}

#[async_trait]
impl Action for ApplyCluster {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let tunnels = PeerTunnels { peers: ctx.peers };
        let report = prov_redis::apply_with(&self.spec, &self.plan, &tunnels, &self.apply)
            .await
            .map_err(|e| ModuleError::failed(format!("redis cluster: {e}")))?;
        let state = prov_redis::inspect(&self.spec, &tunnels).await;
        let health = prov_redis::summarize(&self.spec, &state);
        let drift = prov_redis::plan_with(&self.spec, &state, &self.opts)
            .map(|p| p.drift)
            .unwrap_or_default();
        let mut outcome = Outcome::default();
        let r = &mut outcome.result;
        r.insert("steps".into(), json!(report.steps_done));
        r.insert("slots_moved".into(), json!(report.slots_moved));
        r.insert("keys_migrated".into(), json!(report.keys_migrated));
        r.insert("health".into(), json!(health.to_string()));
        r.insert("cluster".into(), cluster_json(&health, &drift));
        if !health.ok {
            return Err(ModuleError::failed_with(
                format!("cluster created but not healthy: {health}"),
                outcome.result,
            ));
        }
        Ok(outcome)
    }
}

/// The action of a plan that only reports layout drift: a real run changes nothing.
struct ReportOnly;

#[async_trait]
impl Action for ReportOnly {
    async fn apply(self: Box<Self>, _ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        Ok(Outcome::default())
    }
}

/// An unchanged plan that shows the layout drift (summary with `-v`, diff with `--diff`)
/// without counting as a change.
fn report_drift(unchanged: Plan, summary: Vec<String>, diff: Diff) -> Plan {
    Plan::Refresh(Change {
        summary,
        diffs: vec![diff],
        result: unchanged.into_result(),
        action: Box::new(ReportOnly),
    })
}

impl RedisCluster {
    /// Plans for an inspected state (as for brand-new nodes in check mode when no node runs
    /// yet, before Redis is even installed).
    fn plan_for(
        &self,
        state: &prov_redis::ClusterState,
        check_mode: bool,
    ) -> Result<ClusterPlan, PlanError> {
        if check_mode && state.nodes.iter().all(|n| !n.reachable) {
            prov_redis::plan_fresh(&self.spec)
        } else {
            prov_redis::plan_with(&self.spec, state, &self.opts)
        }
    }

    /// Inspects the spec's nodes, and the departed ones when scaling in.
    async fn observe(&self, tunnels: &PeerTunnels<'_>) -> prov_redis::ClusterState {
        let mut state = prov_redis::inspect(&self.spec, tunnels).await;
        if self.opts.remove_departed {
            prov_redis::inspect_departed(&self.spec, &mut state, tunnels).await;
        }
        state
    }

    /// Waits until every replica is in sync (up to `settle_timeout`).
    async fn wait_synced(&self, tunnels: &PeerTunnels<'_>) -> Result<(), ModuleError> {
        let poll = std::time::Duration::from_millis(500);
        prov_redis::wait_synced(&self.spec, tunnels, self.apply.converge_timeout, poll)
            .await
            .map(|_| ())
            .map_err(|e| ModuleError::failed(format!("redis cluster: {e}")))
    }

    /// The `--diff` of the roles per host: as observed, and as the layout intends.
    fn layout_diff(&self, state: &prov_redis::ClusterState) -> Option<Diff> {
        let intended =
            prov_redis::intended_layout(&self.spec, self.opts.drain_host.as_deref()).ok()?;
        let current = prov_redis::current_layout(state);
        let before = prov_redis::roles_by_host(&self.spec, &current);
        let after = prov_redis::roles_by_host(&self.spec, &intended);
        (before != after).then(|| Diff::new("redis cluster layout", before, after))
    }
}

#[async_trait]
impl Module for RedisCluster {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let tunnels = PeerTunnels { peers: ctx.peers };
        if self.wait_for_sync {
            self.wait_synced(&tunnels).await?;
        }
        let state = self.observe(&tunnels).await;
        let (state, plan) = match self.plan_for(&state, ctx.check_mode) {
            // A plain failover needs the replica in sync: wait for it, then plan again.
            Err(PlanError::FailoverBlocked { .. }) => {
                self.wait_synced(&tunnels).await?;
                let state = self.observe(&tunnels).await;
                let plan = self.plan_for(&state, ctx.check_mode);
                (state, plan)
            }
            plan => (state, plan),
        };
        let plan = plan.map_err(|e| ModuleError::failed(format!("redis cluster: {e}")))?;
        let health = prov_redis::summarize(&self.spec, &state);
        let current = health.to_string();
        let cluster = cluster_json(&health, &plan.drift);
        let text = plan.to_string();
        let summary: Vec<String> = text.lines().map(str::to_owned).collect();
        let layout_diff = self.layout_diff(&state).filter(|_| !plan.drift.is_empty());
        if plan.is_noop() {
            let unchanged = Plan::unchanged()
                .with_result("health", json!(current))
                .with_result("cluster", cluster);
            return Ok(match layout_diff {
                Some(diff) => report_drift(unchanged, summary, diff),
                None => unchanged,
            });
        }
        let action = ApplyCluster {
            spec: self.spec.clone(),
            plan,
            opts: self.opts.clone(),
            apply: self.apply.clone(),
        };
        let departed = departed_json(&action.plan.departed);
        let mut diffs = vec![Diff::new("redis cluster", current, text)];
        diffs.extend(layout_diff);
        let planned = Plan::changes(summary, diffs, action).with_result("cluster", cluster);
        Ok(match departed {
            Some(d) => planned.with_result("departed", d),
            None => planned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: Value) -> Value {
        let mut a = json!({
            "hosts": ["a", "b", "c"],
            "addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
            "password": "pw-secret",
        });
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        a
    }

    fn error_of(extra: Value) -> String {
        match build(args(extra)) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn day2_arguments_default_to_report_and_plain_failover() {
        let a: Args = parse_args(args(json!({}))).unwrap();
        let o = plan_options(&a);
        assert_eq!(o, PlanOptions::default());
        assert_eq!((a.settle_timeout, a.wait_for_sync), (None, false));
        let a: Args = parse_args(args(json!({
            "layout": "enforce", "failover_mode": "takeover", "drain_host": "a",
            "settle_timeout": "5", "wait_for_sync": "yes", "remove_departed": "true"
        })))
        .unwrap();
        assert!(plan_options(&a).remove_departed);
        assert_eq!((a.settle_timeout, a.wait_for_sync), (Some(5), true));
        let o = plan_options(&a);
        assert_eq!(o.layout, LayoutPolicy::Enforce);
        assert_eq!(o.failover, FailoverMode::Takeover);
        assert_eq!(o.drain_host.as_deref(), Some("a"));
        assert!(build(args(json!({"layout": "enforce", "drain_host": "b"}))).is_ok());
    }

    #[test]
    fn unknown_values_and_contradictions_are_refused() {
        let e = error_of(json!({"layout": "balance"}));
        assert!(e.contains("layout") && e.contains("enforce"), "{e}");
        let e = error_of(json!({"failover_mode": "FORCE"}));
        assert!(e.contains("failover_mode"), "{e}");
        let e = error_of(json!({"drain_host": "a"}));
        assert!(e.contains("needs layout: enforce"), "{e}");
        let e = error_of(json!({"settle_timeout": 0}));
        assert!(e.contains("settle_timeout"), "{e}");
        let e = error_of(json!({"remove_departed": "maybe"}));
        assert!(e.contains("remove_departed") || e.contains("boolean"), "{e}");
        let e = error_of(json!({"layouts": "enforce"}));
        assert!(e.contains("layouts"), "{e}");
    }

    #[test]
    fn cluster_result_carries_roles_links_and_drift() {
        let h = ClusterHealth {
            ok: true,
            cluster_state: "ok".into(),
            hosts: vec![prov_redis::HostRoles {
                host: "b".into(),
                masters: vec![7000, 7001],
                replicas: vec![],
            }],
            replicas: vec![prov_redis::ReplicaHealth {
                node: NodeSpec::new("a", "10.0.0.1", 7000),
                master: Some(NodeSpec::new("b", "10.0.0.2", 7001)),
                link_up: Some(true),
                offset: Some(90),
                lag: Some(10),
            }],
            ..ClusterHealth::default()
        };
        let drift = vec![Drift::MasterDemoted {
            intended: NodeSpec::new("a", "10.0.0.1", 7000),
            acting: NodeSpec::new("b", "10.0.0.2", 7001),
        }];
        let v = cluster_json(&h, &drift);
        assert_eq!(v["cluster_state"], "ok");
        assert_eq!(v["hosts"]["b"]["masters"], json!([7000, 7001]));
        assert_eq!(v["replicas"][0]["link"], "up");
        assert_eq!(v["replicas"][0]["lag"], 10);
        assert_eq!(v["replicas"][0]["master"], "b:7001");
        assert_eq!(v["drift"][0]["kind"], "master_demoted");
        assert_eq!(v["drift"][0]["node"], "a:7000");
    }
}
