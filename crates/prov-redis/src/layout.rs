//! The intended layout and drift from it.
//!
//! The intended layout is the one [`plan_fresh`] builds: one master per host on the host's first
//! port, the replica of host i's master on host i+1. After a failover the old master returns
//! as a replica of its former replica, so one host carries two masters. [`plan_with`] reports
//! such drift in every plan and, with [`LayoutPolicy::Enforce`], plans the repair: a
//! `CLUSTER FAILOVER` on the replica that should be master, and `CLUSTER REPLICATE` for
//! replicas that follow another master than intended. With a drained host (for a rolling
//! restart) the intended layout has that host's masters swapped with their replicas.

use std::collections::HashMap;
use std::fmt;

use crate::nodes::Role;
use crate::plan::{ClusterPlan, PlanError, PlannedMaster, Step, plan_fresh, plan_scaled};
use crate::spec::{ClusterSpec, NodeSpec, SlotRange};
use crate::state::ClusterState;

/// What a run does about drift from the intended layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayoutPolicy {
    /// Report the drift, change nothing (the default).
    #[default]
    Report,
    /// Plan the failovers and re-pointed replicas that restore the layout.
    Enforce,
}

/// The variant of `CLUSTER FAILOVER` a repair issues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverMode {
    /// Plain `CLUSTER FAILOVER`: the master stops writes, the replica catches up, then takes
    /// over. No write is lost; needs the master reachable and the replication link up.
    #[default]
    Default,
    /// `CLUSTER FAILOVER FORCE`: no handshake with the master (it may be down); writes the
    /// replica has not received yet are lost.
    Force,
    /// `CLUSTER FAILOVER TAKEOVER`: not even the other masters' agreement; last resort.
    Takeover,
}

impl FailoverMode {
    /// The option word after `CLUSTER FAILOVER`, if any.
    pub fn option(self) -> Option<&'static str> {
        match self {
            FailoverMode::Default => None,
            FailoverMode::Force => Some("FORCE"),
            FailoverMode::Takeover => Some("TAKEOVER"),
        }
    }
}

/// Options of [`plan_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Report or repair layout drift.
    pub layout: LayoutPolicy,
    /// How repairs fail over.
    pub failover: FailoverMode,
    /// A host whose masters should move to their replicas (before restarting it); needs
    /// [`LayoutPolicy::Enforce`].
    pub drain_host: Option<String>,
    /// Scale in: remove the cluster's nodes the spec does not list (their slots move to the
    /// remaining masters with their keys, their replicas are re-homed, every node forgets
    /// them). Without it such a node is refused. Their state comes from
    /// [`inspect_departed`](crate::inspect_departed).
    pub remove_departed: bool,
}

/// One way the cluster differs from its intended layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// `intended` should be a master but is a replica of `acting`, which serves its slots.
    MasterDemoted {
        /// The node meant to be master.
        intended: NodeSpec,
        /// The node serving the slots instead.
        acting: NodeSpec,
    },
    /// `replica` follows `follows` instead of `intended`.
    ReplicaMisplaced {
        /// The replica.
        replica: NodeSpec,
        /// The master it follows now (`None`: it follows no master).
        follows: Option<NodeSpec>,
        /// The master it should follow.
        intended: NodeSpec,
    },
    /// A difference a failover cannot repair.
    Unrepairable {
        /// The node meant to be master.
        node: NodeSpec,
        /// Why it cannot be made master by a failover.
        reason: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::MasterDemoted { intended, acting } => write!(
                f,
                "{intended} should be master but is a replica of {acting}, which serves its \
                 slots"
            ),
            Drift::ReplicaMisplaced {
                replica,
                follows,
                intended,
            } => match follows {
                Some(m) => write!(f, "{replica} replicates {m} instead of {intended}"),
                None => write!(f, "{replica} replicates nobody instead of {intended}"),
            },
            Drift::Unrepairable { node, reason } => {
                write!(f, "{node} should be master but {reason}")
            }
        }
    }
}

/// What a plan does about layout drift.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LayoutRepair {
    /// The layout is as intended.
    #[default]
    NotNeeded,
    /// Drift is reported only ([`LayoutPolicy::Report`]).
    Reported,
    /// The plan's steps restore the layout.
    Planned,
    /// Not repaired by this plan, and why (the next run repairs it).
    Deferred(String),
}

/// Plans like [`plan`](crate::plan), then compares the result with the intended layout: the
/// drift is in [`ClusterPlan::drift`], and with [`LayoutPolicy::Enforce`] the plan's steps
/// repair it. With [`PlanOptions::remove_departed`] the plan also scales in (see
/// [`Departed`](crate::Departed)).
pub fn plan_with(
    spec: &ClusterSpec,
    state: &ClusterState,
    opts: &PlanOptions,
) -> Result<ClusterPlan, PlanError> {
    if opts.drain_host.is_some() && opts.layout != LayoutPolicy::Enforce {
        return Err(PlanError::InvalidSpec(
            "draining a host moves masters: it needs layout enforce".into(),
        ));
    }
    let base = plan_scaled(spec, state, opts.remove_departed)?;
    let intended = intended_layout(spec, opts.drain_host.as_deref())?;
    let mut topo = Topology::of(&base.masters);
    let (drift, steps) = compare(&intended, &mut topo, opts.failover);
    let mut out = base;
    out.drift = drift;
    if out.drift.is_empty() {
        return Ok(out);
    }
    if opts.layout == LayoutPolicy::Report {
        out.layout = LayoutRepair::Reported;
        return Ok(out);
    }
    let masters = topo.planned(&intended);
    enforce(state, out, steps, masters, opts)
}

/// Turns a drifted plan into the repair, or says why it cannot.
fn enforce(
    state: &ClusterState,
    mut out: ClusterPlan,
    steps: Vec<Step>,
    masters: Vec<PlannedMaster>,
    opts: &PlanOptions,
) -> Result<ClusterPlan, PlanError> {
    let unrepairable: Vec<String> = out
        .drift
        .iter()
        .filter(|d| matches!(d, Drift::Unrepairable { .. }))
        .map(ToString::to_string)
        .collect();
    if !unrepairable.is_empty() {
        return Err(PlanError::LayoutUnrepairable(unrepairable));
    }
    if !out.steps.is_empty() {
        let why = "this run forms or scales the cluster first; the next run restores the layout";
        if let Some(host) = &opts.drain_host {
            return Err(PlanError::DrainBlocked {
                host: host.clone(),
                reason: why.into(),
            });
        }
        out.layout = LayoutRepair::Deferred(why.into());
        return Ok(out);
    }
    if opts.failover == FailoverMode::Default {
        check_links(state, &steps)?;
    }
    out.steps = steps;
    out.masters = masters;
    out.layout = LayoutRepair::Planned;
    Ok(out)
}

/// A plain failover needs the replica's link to its master up.
fn check_links(state: &ClusterState, steps: &[Step]) -> Result<(), PlanError> {
    for step in steps {
        let Step::Failover { node, master, .. } = step else {
            continue;
        };
        let link = state
            .nodes
            .iter()
            .find(|n| n.spec == *node)
            .and_then(|n| n.master_link_up);
        if link != Some(true) {
            return Err(PlanError::FailoverBlocked {
                node: node.to_string(),
                reason: format!(
                    "its replication link to {master} is {}",
                    if link.is_some() { "down" } else { "unknown" }
                ),
            });
        }
    }
    Ok(())
}

/// The layout [`plan_fresh`] builds, with the masters of `drain` swapped with their first
/// replica. Only roles matter (slots move with a failover).
pub fn intended_layout(
    spec: &ClusterSpec,
    drain: Option<&str>,
) -> Result<Vec<PlannedMaster>, PlanError> {
    let mut masters = plan_fresh(spec)?.masters;
    let Some(host) = drain else {
        return Ok(masters);
    };
    if !spec.nodes.iter().any(|n| n.host == host) {
        return Err(PlanError::InvalidSpec(format!(
            "drain host {host} is not one of the cluster's hosts"
        )));
    }
    for m in masters.iter_mut().filter(|m| m.node.host == host) {
        let Some(r) = m.replicas.first().cloned() else {
            return Err(PlanError::DrainBlocked {
                host: host.into(),
                reason: format!("master {} has no replica to take over", m.node),
            });
        };
        m.replicas[0] = std::mem::replace(&mut m.node, r);
    }
    Ok(masters)
}

/// The roles of every host's nodes, one line per host in spec order, e.g.
/// `lab1: master 7000, replica 7001 of lab3:7000` (for `--diff`).
pub fn roles_by_host(spec: &ClusterSpec, masters: &[PlannedMaster]) -> String {
    let mut out = String::new();
    for host in spec.hosts() {
        let mut roles = Vec::new();
        for n in spec.nodes.iter().filter(|n| n.host == host) {
            let role = match masters
                .iter()
                .find(|m| m.node == *n || m.replicas.contains(n))
            {
                Some(m) if m.node == *n => format!("master {}", n.port),
                Some(m) => format!("replica {} of {}:{}", n.port, m.node.host, m.node.port),
                None => format!("{} without role", n.port),
            };
            roles.push(role);
        }
        out.push_str(&format!("{host}: {}\n", roles.join(", ")));
    }
    out
}

/// The observed roles: masters serving slots and the spec nodes replicating each (by their
/// own report), for [`roles_by_host`].
pub fn current_layout(state: &ClusterState) -> Vec<PlannedMaster> {
    let mut masters: Vec<PlannedMaster> = Vec::new();
    for st in &state.nodes {
        if let Some(me) = st
            .myself()
            .filter(|m| m.role() == Role::Master && !m.slots.is_empty())
        {
            masters.push(PlannedMaster {
                node: st.spec.clone(),
                slots: me.slots.clone(),
                replicas: Vec::new(),
            });
        }
    }
    for st in &state.nodes {
        let Some(mid) = st.myself().and_then(|m| m.master_id.as_deref()) else {
            continue;
        };
        let master = state.by_id(mid).map(|(_, m)| &m.spec);
        if let Some(pm) = masters.iter_mut().find(|pm| Some(&pm.node) == master) {
            pm.replicas.push(st.spec.clone());
        }
    }
    masters
}

/// Hosts carrying more than one of `masters`, with their count.
pub fn crowded_hosts(masters: &[PlannedMaster]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for m in masters {
        match counts.iter_mut().find(|(h, _)| *h == m.node.host) {
            Some((_, c)) => *c += 1,
            None => counts.push((m.node.host.clone(), 1)),
        }
    }
    counts.retain(|(_, c)| *c > 1);
    counts
}

/// Compares `topo` with the intended layout; returns the drift and the steps that repair it,
/// and leaves `topo` as it is after those steps.
fn compare(
    intended: &[PlannedMaster],
    topo: &mut Topology,
    mode: FailoverMode,
) -> (Vec<Drift>, Vec<Step>) {
    let mut drift = Vec::new();
    let mut steps = Vec::new();
    compare_masters(intended, topo, mode, &mut drift, &mut steps);
    compare_replicas(intended, topo, &mut drift, &mut steps);
    (drift, steps)
}

/// Intended masters that serve no slots: a failover when their current master is meant to
/// be a replica, unrepairable otherwise.
fn compare_masters(
    intended: &[PlannedMaster],
    topo: &mut Topology,
    mode: FailoverMode,
    drift: &mut Vec<Drift>,
    steps: &mut Vec<Step>,
) {
    let is_intended = |n: &NodeSpec| intended.iter().any(|m| m.node == *n);
    for x in intended.iter().map(|m| &m.node) {
        if topo.slots.contains_key(x) {
            continue;
        }
        match topo.master_of.get(x).cloned() {
            Some(acting) if !is_intended(&acting) => {
                drift.push(Drift::MasterDemoted {
                    intended: x.clone(),
                    acting: acting.clone(),
                });
                steps.push(Step::Failover {
                    node: x.clone(),
                    master: acting.clone(),
                    mode,
                });
                topo.fail_over(x, &acting);
            }
            other => drift.push(Drift::Unrepairable {
                node: x.clone(),
                reason: match other {
                    Some(m) => format!("is a replica of {m}, which is meant to be a master too"),
                    None => "serves no slots and follows no master".into(),
                },
            }),
        }
    }
}

/// Replicas that follow another master than intended: re-pointed.
fn compare_replicas(
    intended: &[PlannedMaster],
    topo: &mut Topology,
    drift: &mut Vec<Drift>,
    steps: &mut Vec<Step>,
) {
    for im in intended {
        for r in &im.replicas {
            let follows = topo.master_of.get(r).cloned();
            if follows.as_ref() == Some(&im.node) {
                continue;
            }
            drift.push(Drift::ReplicaMisplaced {
                replica: r.clone(),
                follows: follows.clone(),
                intended: im.node.clone(),
            });
            steps.push(Step::Replicate {
                replica: r.clone(),
                master: im.node.clone(),
                previous: follows,
            });
            topo.master_of.insert(r.clone(), im.node.clone());
        }
    }
}

/// Who serves which slots and who follows whom.
struct Topology {
    slots: HashMap<NodeSpec, Vec<SlotRange>>,
    master_of: HashMap<NodeSpec, NodeSpec>,
}

impl Topology {
    fn of(masters: &[PlannedMaster]) -> Self {
        let mut t = Topology {
            slots: HashMap::new(),
            master_of: HashMap::new(),
        };
        for m in masters {
            t.slots.insert(m.node.clone(), m.slots.clone());
            for r in &m.replicas {
                t.master_of.insert(r.clone(), m.node.clone());
            }
        }
        t
    }

    /// `CLUSTER FAILOVER` on replica `x` of `y`: `x` takes `y`'s slots, `y` and `y`'s other
    /// replicas follow `x`.
    fn fail_over(&mut self, x: &NodeSpec, y: &NodeSpec) {
        let slots = self.slots.remove(y).unwrap_or_default();
        self.slots.insert(x.clone(), slots);
        self.master_of.remove(x);
        for m in self.master_of.values_mut().filter(|m| *m == y) {
            *m = x.clone();
        }
        self.master_of.insert(y.clone(), x.clone());
    }

    /// The topology as planned masters, in the order of `intended`.
    fn planned(&self, intended: &[PlannedMaster]) -> Vec<PlannedMaster> {
        intended
            .iter()
            .map(|im| PlannedMaster {
                node: im.node.clone(),
                slots: self.slots.get(&im.node).cloned().unwrap_or_default(),
                replicas: im.replicas.clone(),
            })
            .collect()
    }
}
