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

use async_trait::async_trait;
use prov_core::{Action, Diff, Module, ModuleContext, ModuleError, Outcome, Peers, Plan};
use prov_redis::{ClusterSpec, NodeConnector, NodeSpec, NodeStream};
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
}

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
    Ok(Box::new(RedisCluster {
        spec: ClusterSpec {
            nodes,
            replicas_per_master: a.replicas,
            password: a.password,
        },
    }))
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

struct ApplyCluster {
    spec: ClusterSpec,
    plan: prov_redis::ClusterPlan,
}

#[async_trait]
impl Action for ApplyCluster {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let tunnels = PeerTunnels { peers: ctx.peers };
        let report = prov_redis::apply(&self.spec, &self.plan, &tunnels)
            .await
            .map_err(|e| ModuleError::failed(format!("redis cluster: {e}")))?;
        let health = prov_redis::health(&self.spec, &tunnels).await;
        let mut outcome = Outcome::default();
        outcome
            .result
            .insert("steps".into(), json!(report.steps_done));
        outcome
            .result
            .insert("slots_moved".into(), json!(report.slots_moved));
        outcome
            .result
            .insert("keys_migrated".into(), json!(report.keys_migrated));
        outcome
            .result
            .insert("health".into(), json!(health.to_string()));
        if !health.ok {
            return Err(ModuleError::failed_with(
                format!("cluster created but not healthy: {health}"),
                outcome.result,
            ));
        }
        Ok(outcome)
    }
}

#[async_trait]
impl Module for RedisCluster {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let tunnels = PeerTunnels { peers: ctx.peers };
        let state = prov_redis::inspect(&self.spec, &tunnels).await;
        let none_reachable = state.nodes.iter().all(|n| !n.reachable);
        let plan = if none_reachable && ctx.check_mode {
            // Check mode before Redis runs anywhere: plan as for brand-new nodes.
            prov_redis::plan_fresh(&self.spec)
        } else {
            prov_redis::plan(&self.spec, &state)
        }
        .map_err(|e| ModuleError::failed(format!("redis cluster: {e}")))?;
        let current = prov_redis::summarize(&self.spec, &state).to_string();
        if plan.is_noop() {
            return Ok(Plan::unchanged().with_result("health", json!(current)));
        }
        let text = plan.to_string();
        let summary: Vec<String> = text.lines().map(str::to_owned).collect();
        let action = ApplyCluster {
            spec: self.spec.clone(),
            plan,
        };
        let diff = Diff::new("redis cluster", current, text);
        Ok(Plan::changes(summary, vec![diff], action))
    }
}
