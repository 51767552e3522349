//! Scale in: nodes of the cluster that the spec no longer lists (their host left the group).
//!
//! With [`PlanOptions::remove_departed`](crate::PlanOptions::remove_departed) the planner
//! moves their slots (with the keys) to the remaining masters, re-homes the replicas that
//! followed them, makes every remaining node `CLUSTER FORGET` them, and `CLUSTER RESET HARD`s
//! them so that they cannot gossip their way back. Without it, a departed node is refused
//! with a message saying how to scale in.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::nodes::{ClusterNode, Role};
use crate::plan::PlanError;
use crate::spec::{ClusterSpec, NodeSpec, format_ranges, ranges_from_slots};
use crate::state::{ClusterState, NodeState, departed_nodes};

/// A node of the cluster that the spec no longer lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departed {
    /// Its node id.
    pub id: String,
    /// Its address, as the cluster knows it.
    pub addr: String,
    /// Its client port.
    pub port: u16,
    /// The spec host whose connection reaches it (the hosts share the internal network).
    pub via: String,
    /// What it is when planned (`master of 5461 slots`, `replica of lab2[...]`...).
    pub role: String,
    /// True when it answered under its id: only then it is emptied and reset.
    pub reachable: bool,
    /// Spec nodes that follow it as replicas (they are re-homed).
    pub replicas: Vec<NodeSpec>,
}

impl Departed {
    /// How to reach it: its address and port, through the connection of host `via`.
    pub fn conn_spec(&self) -> NodeSpec {
        NodeSpec::new(&self.via, &self.addr, self.port)
    }
}

impl fmt::Display for Departed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short: String = self.id.chars().take(8).collect();
        write!(f, "departed {}:{} (id {short})", self.addr, self.port)
    }
}

/// A departed node as the planner sees it.
pub(crate) struct DepartedFacts {
    /// The node.
    pub node: Departed,
    /// Slots it serves (by its own report when it answered, else by its peers').
    pub slots: BTreeSet<u16>,
    /// Its own `CLUSTER NODES` line, when it answered under its id.
    pub me: Option<ClusterNode>,
}

/// Refuses a scale in that would leave fewer hosts than master/replica anti-affinity needs.
pub(crate) fn check_remaining_hosts(
    spec: &ClusterSpec,
    departed: &[DepartedFacts],
) -> Result<(), PlanError> {
    let hosts = spec.hosts();
    if departed.is_empty() || spec.replicas_per_master == 0 || hosts.len() >= 2 {
        return Ok(());
    }
    Err(PlanError::ScaleInRefused(format!(
        "after removing {} the cluster would be left on the single host {}: every master \
         needs its replica on another host, so at least 2 hosts must stay in the group",
        departed
            .iter()
            .map(|d| d.node.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        hosts.join(", ")
    )))
}

/// The departed nodes of `state` (see [`departed_nodes`]), with their slots and their own
/// report when [`inspect_departed`](crate::inspect_departed) reached them.
pub(crate) fn gather(
    spec: &ClusterSpec,
    state: &ClusterState,
    ids: &HashMap<&str, usize>,
) -> Result<Vec<DepartedFacts>, PlanError> {
    let mut out = Vec::new();
    for (id, conn) in departed_nodes(spec, state) {
        let own = state
            .departed
            .iter()
            .find(|st| st.spec.addr == conn.addr && st.spec.port == conn.port);
        let via = own.map_or(conn.host.clone(), |st| st.spec.host.clone());
        let me = own
            .filter(|st| st.usable() && st.id.as_deref() == Some(id.as_str()))
            .and_then(|st| st.myself().cloned());
        let seen = me.clone().or_else(|| peer_view(state, &id));
        let slots: BTreeSet<u16> = seen
            .iter()
            .filter(|v| v.role() == Role::Master)
            .flat_map(|v| v.slots.iter().flat_map(|r| r.slots()))
            .collect();
        let role = role_text(spec, seen.as_ref(), &slots, ids);
        if !slots.is_empty() && me.is_none() {
            return Err(PlanError::DepartedUnreachable {
                node: format!("{}:{} (id {id})", conn.addr, conn.port),
                slots: format_ranges(&ranges_from_slots(slots.iter().copied())),
                reason: why_unusable(own, &id),
            });
        }
        let replicas = followers(spec, state, &id);
        out.push(DepartedFacts {
            node: Departed {
                reachable: me.is_some(),
                id,
                addr: conn.addr,
                port: conn.port,
                via,
                role,
                replicas,
            },
            slots,
            me,
        });
    }
    Ok(out)
}

/// Why a departed node's own report cannot be used.
fn why_unusable(own: Option<&NodeState>, id: &str) -> String {
    let Some(st) = own else {
        return "it was not inspected".into();
    };
    match (&st.error, st.id.as_deref()) {
        (Some(e), _) => e.clone(),
        (None, Some(other)) if other != id => {
            format!("another node (id {other}) answers at its address")
        }
        _ => "it gave no usable report".into(),
    }
}

/// How the first spec node that knows `id` sees it.
fn peer_view(state: &ClusterState, id: &str) -> Option<ClusterNode> {
    state.nodes.iter().find_map(|st| st.view_of(id).cloned())
}

/// `master of N slots`, `master without slots`, `replica of X`.
fn role_text(
    spec: &ClusterSpec,
    seen: Option<&ClusterNode>,
    slots: &BTreeSet<u16>,
    ids: &HashMap<&str, usize>,
) -> String {
    let Some(v) = seen else {
        return "unknown role".into();
    };
    match (v.role(), v.master_id.as_deref()) {
        (Role::Master, _) if slots.is_empty() => "master without slots".into(),
        (Role::Master, _) => format!(
            "master of {} slots {}",
            slots.len(),
            format_ranges(&ranges_from_slots(slots.iter().copied()))
        ),
        (Role::Replica, Some(m)) => match ids.get(m) {
            Some(&i) => format!("replica of {}", spec.nodes[i]),
            None => format!(
                "replica of departed node {}",
                m.chars().take(8).collect::<String>()
            ),
        },
        (Role::Replica, None) => "replica without master".into(),
    }
}

/// The spec nodes that report `id` as their master.
fn followers(spec: &ClusterSpec, state: &ClusterState, id: &str) -> Vec<NodeSpec> {
    state
        .nodes
        .iter()
        .zip(&spec.nodes)
        .filter(|(st, _)| {
            st.myself()
                .is_some_and(|m| m.role() == Role::Replica && m.master_id.as_deref() == Some(id))
        })
        .map(|(_, n)| n.clone())
        .collect()
}

/// The "Scale in" part of the human plan.
pub(crate) fn write_departed(f: &mut fmt::Formatter<'_>, departed: &[Departed]) -> fmt::Result {
    if departed.is_empty() {
        return Ok(());
    }
    writeln!(
        f,
        "Scale in: {} departed node(s) leave the cluster:",
        departed.len()
    )?;
    for d in departed {
        write!(f, "  {d} via host {}: {}", d.via, d.role)?;
        if !d.replicas.is_empty() {
            let names: Vec<String> = d.replicas.iter().map(ToString::to_string).collect();
            write!(f, "; its replicas are re-homed: {}", names.join(", "))?;
        }
        if !d.reachable {
            write!(f, "; unreachable: forgotten, not reset")?;
        }
        writeln!(f)?;
    }
    Ok(())
}
