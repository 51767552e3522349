//! A compact health summary of the cluster.

use std::fmt;

use crate::conn::NodeConnector;
use crate::nodes::{ClusterNode, Role};
use crate::spec::{ClusterSpec, NodeSpec, SLOT_COUNT, SlotRange, count_slots, format_ranges};
use crate::state::{ClusterState, NodeState, inspect};

/// A master as seen by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterHealth {
    /// The master.
    pub node: NodeSpec,
    /// Slots it serves.
    pub slots: Vec<SlotRange>,
    /// Its key count; `None` when `DBSIZE` failed.
    pub keys: Option<u64>,
    /// Spec nodes that replicate it.
    pub replicas: Vec<NodeSpec>,
    /// Its `master_repl_offset`.
    pub offset: Option<u64>,
}

/// A replica and its replication link, as the replica reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaHealth {
    /// The replica.
    pub node: NodeSpec,
    /// Its master, when that is a spec node.
    pub master: Option<NodeSpec>,
    /// `master_link_status:up`; `None` when unknown.
    pub link_up: Option<bool>,
    /// Its `slave_repl_offset`.
    pub offset: Option<u64>,
    /// How far it is behind its master's offset (read a moment apart, so approximate).
    pub lag: Option<u64>,
}

/// The roles of the nodes of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRoles {
    /// The host.
    pub host: String,
    /// Ports of its nodes that are masters serving slots.
    pub masters: Vec<u16>,
    /// Ports of its nodes that are replicas.
    pub replicas: Vec<u16>,
}

/// Health of the cluster: `ok` when every node is reachable and agrees the cluster is ok,
/// all slots are served, and no replica shares a host with its master.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterHealth {
    /// True when `problems` is empty.
    pub ok: bool,
    /// Nodes in the spec.
    pub nodes: usize,
    /// Nodes that answered.
    pub reachable: usize,
    /// Nodes reporting `cluster_state:ok`.
    pub state_ok: usize,
    /// Distinct slots served by the masters.
    pub slots_served: usize,
    /// `cluster_state` the reachable nodes agree on; `mixed` when they differ, `unknown` when
    /// none answered.
    pub cluster_state: String,
    /// Masters with slots.
    pub masters: Vec<MasterHealth>,
    /// Replicas with their links.
    pub replicas: Vec<ReplicaHealth>,
    /// Masters and replicas per host, in spec order.
    pub hosts: Vec<HostRoles>,
    /// Keys held by the masters; `None` when a master's count is unknown.
    pub total_keys: Option<u64>,
    /// Everything that is not right, one line each.
    pub problems: Vec<String>,
}

impl fmt::Display for ClusterHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "redis cluster {}: {}/{} nodes reachable, {} report cluster_state:ok, {}/{} slots served, {}",
            if self.ok { "healthy" } else { "NOT healthy" },
            self.reachable,
            self.nodes,
            self.state_ok,
            self.slots_served,
            SLOT_COUNT,
            keys_text(self.total_keys)
        )?;
        for m in &self.masters {
            writeln!(
                f,
                "  master {} slots {} ({} slots, {})",
                m.node,
                format_ranges(&m.slots),
                count_slots(&m.slots),
                keys_text(m.keys)
            )?;
            for r in &m.replicas {
                writeln!(f, "    replica {r}{}", link_text(self.replica(r)))?;
            }
        }
        for h in self.hosts.iter().filter(|h| h.masters.len() > 1) {
            writeln!(f, "  host {} carries {} masters", h.host, h.masters.len())?;
        }
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        Ok(())
    }
}

impl ClusterHealth {
    /// The link of replica `node`.
    pub fn replica(&self, node: &NodeSpec) -> Option<&ReplicaHealth> {
        self.replicas.iter().find(|r| r.node == *node)
    }
}

fn link_text(r: Option<&ReplicaHealth>) -> String {
    let Some(r) = r else { return String::new() };
    let link = match r.link_up {
        Some(true) => "up",
        Some(false) => "DOWN",
        None => "unknown",
    };
    match (r.offset, r.lag) {
        (Some(o), Some(l)) => format!(": link {link}, offset {o}, lag {l}"),
        (Some(o), None) => format!(": link {link}, offset {o}"),
        _ => format!(": link {link}"),
    }
}

fn keys_text(keys: Option<u64>) -> String {
    match keys {
        Some(k) => format!("{k} keys"),
        None => "key count unknown".into(),
    }
}

/// Summarizes an inspected state (pure).
pub fn summarize(spec: &ClusterSpec, state: &ClusterState) -> ClusterHealth {
    let mut h = ClusterHealth {
        nodes: spec.nodes.len(),
        total_keys: Some(0),
        ..Default::default()
    };
    let mut served = vec![false; usize::from(SLOT_COUNT)];
    for st in &state.nodes {
        if st.reachable {
            h.reachable += 1;
        }
        if !st.usable() {
            h.problems.push(format!(
                "{}: {}",
                st.spec,
                st.error.as_deref().unwrap_or("cannot be inspected")
            ));
            continue;
        }
        if st.info.state_ok() {
            h.state_ok += 1;
        }
        h.problems.extend(node_problems(spec, st));
        let Some(me) = st.myself() else { continue };
        match me.role() {
            Role::Master if !me.slots.is_empty() => {
                for s in me.slots.iter().flat_map(SlotRange::slots) {
                    served[usize::from(s)] = true;
                }
                h.total_keys = h
                    .total_keys
                    .zip(st.key_count)
                    .map(|(a, b)| a.saturating_add(b));
                h.masters.push(master_health(state, st, me));
            }
            Role::Master => {}
            Role::Replica => {
                h.problems.extend(replica_problems(state, st, me));
                h.replicas.push(replica_health(state, st, me));
            }
        }
    }
    h.cluster_state = agreed_state(state);
    h.hosts = host_roles(spec, state);
    h.slots_served = served.iter().filter(|s| **s).count();
    if h.slots_served != usize::from(SLOT_COUNT) {
        h.problems.push(format!(
            "{} of {SLOT_COUNT} slots are served",
            h.slots_served
        ));
    }
    h.ok = h.problems.is_empty();
    h
}

/// The `cluster_state` every reachable node reports, `mixed` or `unknown`.
fn agreed_state(state: &ClusterState) -> String {
    let mut seen = state
        .nodes
        .iter()
        .filter(|n| n.usable())
        .map(|n| n.info.state_text());
    let Some(first) = seen.next() else {
        return "unknown".into();
    };
    if seen.all(|s| s == first) {
        first.into()
    } else {
        "mixed".into()
    }
}

/// Masters (with slots) and replicas on each host, by their own report.
fn host_roles(spec: &ClusterSpec, state: &ClusterState) -> Vec<HostRoles> {
    spec.hosts()
        .into_iter()
        .map(|host| {
            let mut hr = HostRoles {
                host: host.into(),
                masters: Vec::new(),
                replicas: Vec::new(),
            };
            for st in state.nodes.iter().filter(|n| n.spec.host == host) {
                match st.myself() {
                    Some(me) if me.role() == Role::Replica => hr.replicas.push(st.spec.port),
                    Some(me) if !me.slots.is_empty() => hr.masters.push(st.spec.port),
                    _ => {}
                }
            }
            hr
        })
        .collect()
}

/// A replica's link and how far it is behind its master.
fn replica_health(state: &ClusterState, st: &NodeState, me: &ClusterNode) -> ReplicaHealth {
    let master = me
        .master_id
        .as_deref()
        .and_then(|mid| state.by_id(mid))
        .map(|(_, m)| m);
    let lag = master
        .and_then(|m| m.repl_offset)
        .zip(st.repl_offset)
        .map(|(m, r)| m.saturating_sub(r));
    ReplicaHealth {
        node: st.spec.clone(),
        master: master.map(|m| m.spec.clone()),
        link_up: st.master_link_up,
        offset: st.repl_offset,
        lag,
    }
}

/// What is wrong with a node by its own report: its cluster state, the nodes it knows, its key
/// count, slots left open.
fn node_problems(spec: &ClusterSpec, st: &NodeState) -> Vec<String> {
    let mut p = Vec::new();
    if !st.info.state_ok() {
        p.push(format!(
            "{}: cluster_state is {}",
            st.spec,
            st.info.state_text()
        ));
    }
    if st.info.known_nodes() != spec.nodes.len() as u64 {
        p.push(format!(
            "{}: knows {} nodes, the spec has {}",
            st.spec,
            st.info.known_nodes(),
            spec.nodes.len()
        ));
    }
    if st.key_count.is_none() {
        p.push(format!(
            "{}: key count unknown ({})",
            st.spec,
            st.error.as_deref().unwrap_or("DBSIZE gave no answer")
        ));
    }
    if let Some(me) = st.myself()
        && (!me.migrating.is_empty() || !me.importing.is_empty())
    {
        p.push(format!("{}: has open (migrating/importing) slots", st.spec));
    }
    p
}

/// A master serving slots (`me`, its own view), with the spec nodes replicating it.
fn master_health(state: &ClusterState, st: &NodeState, me: &ClusterNode) -> MasterHealth {
    let replicas = state
        .nodes
        .iter()
        .filter(|o| {
            o.myself().is_some_and(|om| {
                om.role() == Role::Replica && om.master_id.as_deref() == Some(me.id.as_str())
            })
        })
        .map(|o| o.spec.clone())
        .collect();
    MasterHealth {
        node: st.spec.clone(),
        slots: me.slots.clone(),
        keys: st.key_count,
        replicas,
        offset: st.repl_offset,
    }
}

/// What is wrong with a replica: a master on its host or outside the spec, a link not up.
fn replica_problems(state: &ClusterState, st: &NodeState, me: &ClusterNode) -> Vec<String> {
    let mut p = Vec::new();
    let master = me
        .master_id
        .as_deref()
        .and_then(|mid| state.by_id(mid))
        .map(|(_, m)| &m.spec);
    match master {
        Some(m) if m.host == st.spec.host => p.push(format!(
            "replica {} is on the same host as its master {m}",
            st.spec
        )),
        Some(_) => {}
        None => p.push(format!(
            "replica {} follows a node that is not in the spec",
            st.spec
        )),
    }
    match st.master_link_up {
        Some(true) => {}
        Some(false) => p.push(format!("replica {}: link to its master is down", st.spec)),
        None => p.push(format!(
            "replica {}: state of the link to its master is unknown",
            st.spec
        )),
    }
    p
}

/// Inspects the cluster and summarizes it.
pub async fn health(spec: &ClusterSpec, connector: &dyn NodeConnector) -> ClusterHealth {
    summarize(spec, &inspect(spec, connector).await)
}
