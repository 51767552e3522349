//! Pure planning: from the spec and the observed state to the list of steps that forms,
//! completes or scales the cluster. Never plans a reset or a flush: there is no such step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use crate::departed::{self, Departed, DepartedFacts};
use crate::layout::{Drift, FailoverMode, LayoutRepair};
use crate::nodes::{ClusterNode, Role};
use crate::spec::{
    ClusterSpec, NodeSpec, SLOT_COUNT, SlotRange, count_slots, format_ranges, ranges_from_slots,
};
use crate::state::ClusterState;

/// One action of a plan. Nodes are named by spec; ids are resolved when applying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `CLUSTER SET-CONFIG-EPOCH` on a brand-new master (speeds up forming a fresh cluster).
    SetConfigEpoch {
        /// The master.
        node: NodeSpec,
        /// Its config epoch.
        epoch: u64,
    },
    /// `CLUSTER ADDSLOTSRANGE` of slots nobody serves yet.
    AddSlots {
        /// The master receiving the slots.
        node: NodeSpec,
        /// The slots.
        slots: Vec<SlotRange>,
    },
    /// `CLUSTER MEET target.addr target.port`, sent to `node`.
    Meet {
        /// Node already in the cluster that is told about `target`.
        node: NodeSpec,
        /// Node joining.
        target: NodeSpec,
    },
    /// `CLUSTER REPLICATE <master id>` on `replica`.
    Replicate {
        /// The replica.
        replica: NodeSpec,
        /// Its (new) master.
        master: NodeSpec,
        /// Master it followed before, if it was a replica of another node.
        previous: Option<NodeSpec>,
    },
    /// Moves slots with their keys: `SETSLOT IMPORTING/MIGRATING`, `GETKEYSINSLOT` +
    /// `MIGRATE ... AUTH2 ... KEYS`, then `SETSLOT NODE` on every master.
    MoveSlots {
        /// Current owner.
        from: NodeSpec,
        /// New owner.
        to: NodeSpec,
        /// The slots.
        slots: Vec<SlotRange>,
        /// True when finishing a migration that was left open.
        resume: bool,
    },
    /// Scale in: moves slots of a departed master to a remaining master, with their keys
    /// (as [`Step::MoveSlots`]; the departed node is reached through its `via` host).
    Evacuate {
        /// The departed master.
        from: Departed,
        /// The remaining master receiving the slots.
        to: NodeSpec,
        /// The slots.
        slots: Vec<SlotRange>,
        /// True when finishing a migration that was left open.
        resume: bool,
    },
    /// Scale in: `CLUSTER FORGET <id>` of a departed node on every spec node.
    Forget {
        /// The departed node.
        node: Departed,
    },
    /// Scale in: `CLUSTER RESET HARD` on the (emptied) departed node, so that it forgets the
    /// cluster and cannot gossip its way back.
    Reset {
        /// The departed node.
        node: Departed,
    },
    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]` on replica `node` of `master`: the two swap roles.
    Failover {
        /// The replica that becomes master.
        node: NodeSpec,
        /// Its master, which becomes its replica.
        master: NodeSpec,
        /// Plain, FORCE or TAKEOVER.
        mode: FailoverMode,
    },
}

/// A slot move as the plan prints it (a resumed one says so).
fn write_move(
    f: &mut fmt::Formatter<'_>,
    resume: bool,
    slots: &[crate::spec::SlotRange],
    from: &dyn fmt::Display,
    to: &dyn fmt::Display,
) -> fmt::Result {
    write!(
        f,
        "{} {} slots {} from {from} to {to} with key migration",
        if resume { "finish moving" } else { "move" },
        count_slots(slots),
        format_ranges(slots)
    )
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SetConfigEpoch { node, epoch } => {
                write!(f, "set config epoch {epoch} on {node}")
            }
            Step::AddSlots { node, slots } => write!(
                f,
                "assign slots {} ({} slots) to {node}",
                format_ranges(slots),
                count_slots(slots)
            ),
            Step::Meet { node, target } => write!(f, "{node} meets {target} (join cluster)"),
            Step::Replicate {
                replica,
                master,
                previous,
            } => {
                write!(f, "{replica} replicates {master}")?;
                match previous {
                    Some(p) => write!(f, " (re-pointed, was replica of {p})"),
                    None => Ok(()),
                }
            }
            Step::MoveSlots {
                from,
                to,
                slots,
                resume,
            } => write_move(f, *resume, slots, from, to),
            Step::Evacuate {
                from,
                to,
                slots,
                resume,
            } => write_move(f, *resume, slots, from, to),
            Step::Forget { node } => {
                write!(f, "every remaining node forgets {node} (CLUSTER FORGET)")
            }
            Step::Reset { node } => write!(
                f,
                "reset {node} (CLUSTER RESET HARD: it forgets the cluster)"
            ),
            Step::Failover { node, master, mode } => {
                write!(
                    f,
                    "fail over: {node} takes over from {master} (CLUSTER FAILOVER"
                )?;
                match mode.option() {
                    Some(o) => write!(f, " {o})"),
                    None => write!(f, ")"),
                }
            }
        }
    }
}

/// A master of the planned topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedMaster {
    /// The master.
    pub node: NodeSpec,
    /// Slots it serves once the plan is applied.
    pub slots: Vec<SlotRange>,
    /// Its replicas (each on another host).
    pub replicas: Vec<NodeSpec>,
}

/// The topology to reach and the steps to get there. `Display` renders the human plan shown
/// in check mode (it never contains the password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPlan {
    /// Masters, their slots and replicas after the plan.
    pub masters: Vec<PlannedMaster>,
    /// Steps in execution order; empty when the cluster already matches.
    pub steps: Vec<Step>,
    /// Number of distinct hosts.
    pub host_count: usize,
    /// How the cluster differs from its intended layout (see [`plan_with`](crate::plan_with));
    /// empty from [`plan`] alone.
    pub drift: Vec<Drift>,
    /// What the plan does about `drift`.
    pub layout: LayoutRepair,
    /// Nodes of the cluster the spec no longer lists, removed by the plan (scale in).
    pub departed: Vec<Departed>,
}

impl ClusterPlan {
    /// True when there is nothing to do.
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }

    /// Master planned for a replica.
    pub fn master_of(&self, replica: &NodeSpec) -> Option<&NodeSpec> {
        self.masters
            .iter()
            .find(|m| m.replicas.contains(replica))
            .map(|m| &m.node)
    }

    /// Number of slots the plan moves between masters (with their keys).
    pub fn slots_moved(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match s {
                Step::MoveSlots { slots, .. } | Step::Evacuate { slots, .. } => count_slots(slots),
                _ => 0,
            })
            .sum()
    }
}

impl fmt::Display for ClusterPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let replicas: usize = self.masters.iter().map(|m| m.replicas.len()).sum();
        writeln!(
            f,
            "Redis Cluster topology: {} nodes on {} hosts, {} masters, {} replicas",
            self.masters.len() + replicas,
            self.host_count,
            self.masters.len(),
            replicas
        )?;
        for m in &self.masters {
            writeln!(
                f,
                "  master {} on host {}: slots {} ({} slots)",
                m.node,
                m.node.host,
                format_ranges(&m.slots),
                count_slots(&m.slots)
            )?;
            for r in &m.replicas {
                writeln!(f, "    replica {} on host {}", r, r.host)?;
            }
        }
        departed::write_departed(f, &self.departed)?;
        write_drift(f, &self.drift, &self.layout)?;
        if self.layout != LayoutRepair::Planned {
            for (host, count) in crate::layout::crowded_hosts(&self.masters) {
                writeln!(
                    f,
                    "  host {host} carries {count} masters: losing it loses {count} shards' primaries"
                )?;
            }
        }
        if self.steps.is_empty() {
            write!(f, "Steps: none, the cluster already matches")
        } else {
            write!(f, "Steps ({}):", self.steps.len())?;
            for (i, s) in self.steps.iter().enumerate() {
                write!(f, "\n  {}. {s}", i + 1)?;
            }
            Ok(())
        }
    }
}

/// The drift lines of the human plan, and what is done about them.
fn write_drift(f: &mut fmt::Formatter<'_>, drift: &[Drift], repair: &LayoutRepair) -> fmt::Result {
    if drift.is_empty() {
        return Ok(());
    }
    writeln!(f, "Layout drift ({}):", drift.len())?;
    for d in drift {
        writeln!(f, "  {d}")?;
    }
    match repair {
        LayoutRepair::NotNeeded => Ok(()),
        LayoutRepair::Reported => {
            writeln!(f, "  (reported only; layout: enforce repairs it)")
        }
        LayoutRepair::Planned => writeln!(f, "  (repaired by the steps below)"),
        LayoutRepair::Deferred(why) => writeln!(f, "  (not repaired now: {why})"),
    }
}

/// Why no plan can be made. Nothing is ever reset or flushed to get around these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The spec itself is unusable.
    #[error("invalid redis cluster spec: {0}")]
    InvalidSpec(String),
    /// Replicas cannot all be placed on another host than their master.
    #[error(
        "cannot place every replica on a different host than its master: {0}; \
         add hosts or lower replicas_per_master"
    )]
    SameHostUnavoidable(String),
    /// The observed state does not belong to this spec.
    #[error("cluster state does not match the spec: {0}")]
    StateMismatch(String),
    /// Some nodes could not be inspected.
    #[error("cannot plan, some redis nodes cannot be inspected:\n  {}", .0.join("\n  "))]
    Unreachable(Vec<String>),
    /// Two spec entries are the same redis server.
    #[error("{a} and {b} are the same redis node (id {id})")]
    DuplicateNodeId {
        /// The id.
        id: String,
        /// First spec entry.
        a: String,
        /// Second spec entry.
        b: String,
    },
    /// The cluster contains a node at a spec node's address under another id.
    #[error(
        "{seen_by} knows node {id} at {endpoint}, the address of a spec node that now has \
         another id; remove the stale entry with CLUSTER FORGET {id}"
    )]
    ForeignNode {
        /// Node whose view contains it.
        seen_by: String,
        /// Its id.
        id: String,
        /// Its address.
        endpoint: String,
    },
    /// The cluster contains a node the spec does not list, and scale in was not asked.
    #[error(
        "{seen_by} knows node {id} at {endpoint} which is not in the spec (its host is not in \
         the group); to scale in, re-run with remove_departed: true (in playbooks/\
         redis-cluster.yml: -e redis_remove_departed=true): its slots move to the remaining \
         masters with their keys, its replicas are re-homed, and every node forgets it"
    )]
    Departed {
        /// Node whose view contains it.
        seen_by: String,
        /// Its id.
        id: String,
        /// Its address.
        endpoint: String,
    },
    /// Scale in would break master/replica anti-affinity.
    #[error("scale in refused: {0}")]
    ScaleInRefused(String),
    /// A departed node serves slots but cannot be asked for its keys.
    #[error(
        "scale in refused: departed node {node} serves slots {slots} but cannot be reached \
         ({reason}), so its keys cannot be moved; bring it back, or fail its slots over to a \
         replica on a remaining host first"
    )]
    DepartedUnreachable {
        /// The node.
        node: String,
        /// Its slots.
        slots: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Two nodes claim the same slot.
    #[error(
        "slot {slot} is claimed by both {a} and {b}; wait for the cluster to converge or fix it \
         by hand (redis-cli --cluster fix)"
    )]
    SlotConflict {
        /// The slot.
        slot: u16,
        /// First claimer.
        a: String,
        /// Second claimer.
        b: String,
    },
    /// A slot is marked migrating/importing in a way that cannot be finished safely.
    #[error(
        "slot {slot} on {node} is left open ({detail}); fix it by hand (redis-cli --cluster fix)"
    )]
    OpenSlot {
        /// The node.
        node: String,
        /// The slot.
        slot: u16,
        /// What is inconsistent.
        detail: String,
    },
    /// A node's `DBSIZE` failed, so whether it holds data is unknown. Unknown is never taken
    /// for empty: the cluster is not built or extended on such a node.
    #[error(
        "cannot tell whether {node} holds data ({reason}); prov never builds or extends the \
         cluster on a node whose key count is unknown (it could hold data that a new master \
         or replica role would hide or lose): retry once it answers DBSIZE"
    )]
    KeyCountUnknown {
        /// The node.
        node: String,
        /// Why the count is unknown.
        reason: String,
    },
    /// A node holds keys but serves no slot and is not a replica.
    #[error(
        "{node} holds {keys} keys but serves no slot and is no replica; refusing to flush it: \
         empty it by hand or give it back its slots"
    )]
    StrayData {
        /// The node.
        node: String,
        /// Its key count.
        keys: u64,
    },
    /// More nodes serve slots than the spec wants masters.
    #[error(
        "{have} nodes serve slots but the spec wants {want} masters ({masters}); prov does not \
         demote masters that hold slots, except in a scale in (remove_departed: true), which \
         moves the extra masters' slots to the others first"
    )]
    TooManyMasters {
        /// Masters with slots.
        have: usize,
        /// Wanted masters.
        want: usize,
        /// Their names.
        masters: String,
    },
    /// Layout enforcement was asked but a difference cannot be repaired by failovers.
    #[error("cannot restore the intended layout by failovers:\n  {}", .0.join("\n  "))]
    LayoutUnrepairable(Vec<String>),
    /// A plain failover would not succeed (or would not be safe).
    #[error(
        "cannot fail over to {node}: {reason}; wait until it is in sync, or set \
         failover_mode: force (writes it has not received are lost)"
    )]
    FailoverBlocked {
        /// The replica that should take over.
        node: String,
        /// Why not.
        reason: String,
    },
    /// A host cannot be drained of its masters.
    #[error("cannot drain host {host}: {reason}")]
    DrainBlocked {
        /// The host.
        host: String,
        /// Why not.
        reason: String,
    },
    /// Not enough empty nodes to become the missing masters.
    #[error("need {want} masters but only {have} are possible: {detail}")]
    NoMasterCandidate {
        /// Wanted masters.
        want: usize,
        /// Possible masters.
        have: usize,
        /// Why.
        detail: String,
    },
}

/// Checks the spec alone.
fn validate_spec(spec: &ClusterSpec) -> Result<usize, PlanError> {
    if spec.nodes.is_empty() {
        return Err(PlanError::InvalidSpec("no nodes".into()));
    }
    let mut seen = BTreeSet::new();
    for n in &spec.nodes {
        if n.host.trim().is_empty() {
            return Err(PlanError::InvalidSpec(format!(
                "{n} has an empty host name"
            )));
        }
        if n.addr.parse::<std::net::IpAddr>().is_err() {
            return Err(PlanError::InvalidSpec(format!(
                "{n}: addr must be an IP address (CLUSTER MEET does not resolve names)"
            )));
        }
        if n.port == 0 || n.port > 55535 {
            return Err(PlanError::InvalidSpec(format!(
                "{n}: port must be 1-55535 (the cluster bus uses port+10000)"
            )));
        }
        if !seen.insert((n.addr.as_str(), n.port)) {
            return Err(PlanError::InvalidSpec(format!(
                "{} is listed twice",
                n.endpoint()
            )));
        }
    }
    let group = spec.replicas_per_master + 1;
    if !spec.nodes.len().is_multiple_of(group) {
        return Err(PlanError::InvalidSpec(format!(
            "{} nodes cannot be split into masters with {} replica(s) each (need a multiple of {group})",
            spec.nodes.len(),
            spec.replicas_per_master
        )));
    }
    Ok(spec.nodes.len() / group)
}

/// Slot ranges of an even contiguous split among `m` masters (same split as `redis-cli`).
pub fn even_slot_ranges(m: usize) -> Vec<SlotRange> {
    let total = usize::from(SLOT_COUNT);
    let m = m.max(1);
    let mut out = Vec::with_capacity(m);
    let mut first = 0usize;
    for k in 0..m {
        let last = if k + 1 == m {
            total - 1
        } else {
            // round((k+1) * total / m) - 1
            ((2 * (k + 1) * total + m) / (2 * m)).saturating_sub(1)
        };
        let last = last.max(first).min(total - 1);
        out.push(SlotRange::new(first as u16, last as u16));
        first = last + 1;
    }
    out
}

/// Plans as if every node were brand new (for check mode before Redis is even installed).
pub fn plan_fresh(spec: &ClusterSpec) -> Result<ClusterPlan, PlanError> {
    let m = validate_spec(spec)?;
    let n = spec.nodes.len();
    let facts = Facts {
        role: vec![Role::Master; n],
        slots: vec![BTreeSet::new(); n],
        keys: vec![KeyCount::Known(0); n],
        current_master: vec![None; n],
        knows: vec![BTreeSet::new(); n],
        fresh: true,
        open_moves: BTreeMap::new(),
        departed: Vec::new(),
        evac_open: BTreeMap::new(),
        demote_extra: false,
    };
    build(spec, m, &facts)
}

/// A node's key count as far as the planner knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyCount {
    /// `DBSIZE` answered.
    Known(u64),
    /// `DBSIZE` failed (the reason): the node may hold any amount of data.
    Unknown(String),
}

/// What the planner needs to know about each node, indexed like `spec.nodes`.
struct Facts {
    role: Vec<Role>,
    slots: Vec<BTreeSet<u16>>,
    keys: Vec<KeyCount>,
    current_master: Vec<Option<usize>>,
    knows: Vec<BTreeSet<usize>>,
    /// Every node knows only itself and has epoch 0.
    fresh: bool,
    /// Open migrations to finish: (from, to) -> slots.
    open_moves: BTreeMap<(usize, usize), BTreeSet<u16>>,
    /// Departed nodes to remove (scale in).
    departed: Vec<DepartedFacts>,
    /// Open migrations from departed node k to spec node t: (k, t) -> slots.
    evac_open: BTreeMap<(usize, usize), BTreeSet<u16>>,
    /// Scale in: masters serving slots beyond the wanted count hand their slots to the others
    /// and become replicas (instead of [`PlanError::TooManyMasters`]).
    demote_extra: bool,
}

/// Plans the steps that turn `state` into the cluster `spec` describes.
///
/// * fresh nodes: masters one per host (the lowest port of each host first), even contiguous
///   slot ranges, replica on host i+1 follows master on host i;
/// * a healthy cluster of the same nodes: no steps;
/// * a half-formed cluster: the missing meets, slots and replicas (open migrations are finished);
/// * new nodes: they are met, empty ones become the missing masters and receive slots moved
///   (with their keys) from the existing masters, replicas are (re-)attached so that no replica
///   shares a host with its master.
///
/// A node of the cluster that the spec does not list is refused ([`PlanError::Departed`]);
/// see [`plan_with`](crate::plan_with) for scale in.
pub fn plan(spec: &ClusterSpec, state: &ClusterState) -> Result<ClusterPlan, PlanError> {
    plan_scaled(spec, state, false)
}

/// [`plan`], and with `remove_departed` the scale in: the departed nodes' slots move to the
/// remaining masters (balanced), the replicas that followed them are re-homed, every
/// remaining node forgets them and the reachable ones are reset.
pub(crate) fn plan_scaled(
    spec: &ClusterSpec,
    state: &ClusterState,
    remove_departed: bool,
) -> Result<ClusterPlan, PlanError> {
    let m = validate_spec(spec)?;
    let facts = gather(spec, state, remove_departed)?;
    build(spec, m, &facts)
}

fn gather(
    spec: &ClusterSpec,
    state: &ClusterState,
    remove_departed: bool,
) -> Result<Facts, PlanError> {
    check_state(spec, state)?;
    let n = spec.nodes.len();
    let (ids, me) = identify(spec, state)?;
    let departed = if remove_departed {
        departed::gather(spec, state, &ids)?
    } else {
        Vec::new()
    };
    departed::check_remaining_hosts(spec, &departed)?;
    let name = |i: usize| {
        if i >= n {
            departed[i - n].node.to_string()
        } else {
            spec.nodes[i].to_string()
        }
    };
    let knows = acquaintances(spec, state, &ids, &name, remove_departed)?;
    let mut role = Vec::with_capacity(n);
    let mut slots = vec![BTreeSet::new(); n];
    let mut keys = Vec::with_capacity(n);
    let mut current_master = vec![None; n];
    let mut owner: Vec<Option<usize>> = vec![None; usize::from(SLOT_COUNT)];
    for i in 0..n {
        role.push(me[i].role());
        keys.push(match state.nodes[i].key_count {
            Some(k) => KeyCount::Known(k),
            None => KeyCount::Unknown(
                state.nodes[i]
                    .error
                    .clone()
                    .unwrap_or_else(|| "DBSIZE gave no answer".into()),
            ),
        });
        if me[i].role() == Role::Replica {
            current_master[i] = me[i].master_id.as_deref().and_then(|m| ids.get(m).copied());
            continue;
        }
        for r in &me[i].slots {
            for s in r.slots() {
                if let Some(j) = owner[usize::from(s)] {
                    return Err(PlanError::SlotConflict {
                        slot: s,
                        a: name(j),
                        b: name(i),
                    });
                }
                owner[usize::from(s)] = Some(i);
                slots[i].insert(s);
            }
        }
    }
    let (all_ids, lines) = with_departed(&ids, &me, &departed, &mut owner, &name)?;
    let all_moves = open_migrations(&lines, &all_ids, &owner, &name)?;
    let (open_moves, evac_open) = split_open_moves(all_moves, n, &name)?;
    let fresh = (0..n).all(|i| {
        knows[i].is_empty()
            && state.nodes[i].info.current_epoch() == Some(0)
            && me[i].config_epoch == 0
            && me[i].role() == Role::Master
    });
    Ok(Facts {
        role,
        slots,
        keys,
        current_master,
        knows,
        fresh,
        open_moves,
        departed,
        evac_open,
        demote_extra: remove_departed,
    })
}

/// Node ids and own `CLUSTER NODES` lines of the spec nodes and of the departed ones (index
/// `n + k` for departed node `k`), whose slots are added to `owner` (a slot claimed twice is a
/// conflict).
type IdsAndLines<'a> = (HashMap<&'a str, usize>, Vec<(usize, &'a ClusterNode)>);
fn with_departed<'a>(
    ids: &HashMap<&'a str, usize>,
    me: &[&'a ClusterNode],
    departed: &'a [DepartedFacts],
    owner: &mut [Option<usize>],
    name: &dyn Fn(usize) -> String,
) -> Result<IdsAndLines<'a>, PlanError> {
    let n = me.len();
    let mut all_ids = ids.clone();
    let mut lines: Vec<(usize, &ClusterNode)> = me.iter().copied().enumerate().collect();
    for (k, d) in departed.iter().enumerate() {
        all_ids.insert(d.node.id.as_str(), n + k);
        for &s in &d.slots {
            if let Some(j) = owner[usize::from(s)] {
                return Err(PlanError::SlotConflict {
                    slot: s,
                    a: name(j),
                    b: name(n + k),
                });
            }
            owner[usize::from(s)] = Some(n + k);
        }
        if let Some(line) = &d.me {
            lines.push((n + k, line));
        }
    }
    Ok((all_ids, lines))
}

/// Splits open migrations (node indexes past `n` are departed nodes) into those between spec
/// nodes and those from a departed node `k` (index `n + k`) to a spec node. A migration
/// towards a departed node is refused.
type OpenMoves = BTreeMap<(usize, usize), BTreeSet<u16>>;
fn split_open_moves(
    all: OpenMoves,
    n: usize,
    name: &dyn Fn(usize) -> String,
) -> Result<(OpenMoves, OpenMoves), PlanError> {
    let (mut spec_moves, mut evac) = (OpenMoves::new(), OpenMoves::new());
    for ((from, to), slots) in all {
        if to >= n {
            let slot = slots.first().copied().unwrap_or(0);
            return Err(PlanError::OpenSlot {
                node: name(from),
                slot,
                detail: format!("marked as moving to {}, which is leaving", name(to)),
            });
        }
        if from >= n {
            evac.insert((from - n, to), slots);
        } else {
            spec_moves.insert((from, to), slots);
        }
    }
    Ok((spec_moves, evac))
}

/// The state must be of the spec's nodes, each of them usable.
fn check_state(spec: &ClusterSpec, state: &ClusterState) -> Result<(), PlanError> {
    if state.nodes.len() != spec.nodes.len()
        || state
            .nodes
            .iter()
            .zip(&spec.nodes)
            .any(|(s, n)| s.spec != *n)
    {
        return Err(PlanError::StateMismatch(
            "the state was inspected for other nodes".into(),
        ));
    }
    let unusable = state.unusable();
    if !unusable.is_empty() {
        return Err(PlanError::Unreachable(
            unusable
                .into_iter()
                .map(|(n, why)| {
                    if why.contains(&n.to_string()) {
                        why
                    } else {
                        format!("{n}: {why}")
                    }
                })
                .collect(),
        ));
    }
    Ok(())
}

/// Each node's own line, and the node index of each node id (ids must be unique).
fn identify<'s>(
    spec: &ClusterSpec,
    state: &'s ClusterState,
) -> Result<(HashMap<&'s str, usize>, Vec<&'s ClusterNode>), PlanError> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut me = Vec::with_capacity(state.nodes.len());
    for (i, st) in state.nodes.iter().enumerate() {
        let myself = st
            .myself()
            .ok_or_else(|| PlanError::Unreachable(vec![format!("{}: no myself line", st.spec)]))?;
        if let Some(j) = ids.insert(myself.id.as_str(), i) {
            return Err(PlanError::DuplicateNodeId {
                id: myself.id.clone(),
                a: spec.nodes[j].to_string(),
                b: spec.nodes[i].to_string(),
            });
        }
        me.push(myself);
    }
    Ok((ids, me))
}

/// The nodes each node knows (handshakes aside). A node the spec does not list is an error
/// unless it is departed and `remove_departed` is set; one at a spec node's address always is.
fn acquaintances(
    spec: &ClusterSpec,
    state: &ClusterState,
    ids: &HashMap<&str, usize>,
    name: &dyn Fn(usize) -> String,
    remove_departed: bool,
) -> Result<Vec<BTreeSet<usize>>, PlanError> {
    let mut knows = vec![BTreeSet::new(); state.nodes.len()];
    for (i, st) in state.nodes.iter().enumerate() {
        for e in &st.nodes {
            if e.is_myself() || e.in_handshake() {
                continue;
            }
            match ids.get(e.id.as_str()) {
                Some(&j) => {
                    knows[i].insert(j);
                }
                None => {
                    let endpoint = format!("{}:{}", e.ip, e.port);
                    let (seen_by, id) = (name(i), e.id.clone());
                    if spec.nodes.iter().any(|n| n.endpoint() == endpoint) || e.ip.is_empty() {
                        return Err(PlanError::ForeignNode {
                            seen_by,
                            id,
                            endpoint,
                        });
                    }
                    if !remove_departed {
                        return Err(PlanError::Departed {
                            seen_by,
                            id,
                            endpoint,
                        });
                    }
                }
            }
        }
    }
    Ok(knows)
}

/// Open migrations, to finish towards the importing side: (from, to) -> slots.
fn open_migrations(
    me: &[(usize, &ClusterNode)],
    ids: &HashMap<&str, usize>,
    owner: &[Option<usize>],
    name: &dyn Fn(usize) -> String,
) -> Result<BTreeMap<(usize, usize), BTreeSet<u16>>, PlanError> {
    let mut open_moves: BTreeMap<(usize, usize), BTreeSet<u16>> = BTreeMap::new();
    let mut open_slots: BTreeMap<u16, (usize, usize)> = BTreeMap::new();
    let mut record = |slot: u16, from: usize, to: usize, at: usize| -> Result<(), PlanError> {
        if owner[usize::from(slot)] != Some(from) {
            return Err(PlanError::OpenSlot {
                node: name(at),
                slot,
                detail: format!(
                    "marked as moving from {} to {} but served by {}",
                    name(from),
                    name(to),
                    owner[usize::from(slot)].map_or("nobody".into(), name)
                ),
            });
        }
        if from == to {
            return Err(PlanError::OpenSlot {
                node: name(at),
                slot,
                detail: "marked as moving to itself".into(),
            });
        }
        if let Some(&(f, t)) = open_slots.get(&slot)
            && (f, t) != (from, to)
        {
            return Err(PlanError::OpenSlot {
                node: name(at),
                slot,
                detail: "marked as moving to two different nodes".into(),
            });
        }
        open_slots.insert(slot, (from, to));
        open_moves.entry((from, to)).or_default().insert(slot);
        Ok(())
    };
    for &(i, myself) in me {
        for (slot, target) in &myself.migrating {
            let to = *ids
                .get(target.as_str())
                .ok_or_else(|| PlanError::OpenSlot {
                    node: name(i),
                    slot: *slot,
                    detail: format!("migrating to unknown node {target}"),
                })?;
            record(*slot, i, to, i)?;
        }
        for (slot, source) in &myself.importing {
            let from = *ids
                .get(source.as_str())
                .ok_or_else(|| PlanError::OpenSlot {
                    node: name(i),
                    slot: *slot,
                    detail: format!("importing from unknown node {source}"),
                })?;
            record(*slot, from, i, i)?;
        }
    }
    Ok(open_moves)
}

/// The spec's shape the planning steps share: node names, hosts, and which host each node is on.
struct Layout<'a> {
    spec: &'a ClusterSpec,
    /// Nodes.
    n: usize,
    /// Wanted masters.
    m: usize,
    /// Replicas per master.
    r: usize,
    /// The distinct hosts, in spec order.
    hosts: Vec<&'a str>,
    /// Index in `hosts` of each node's host.
    host_of: Vec<usize>,
}

impl<'a> Layout<'a> {
    fn new(spec: &'a ClusterSpec, m: usize) -> Self {
        let hosts = spec.hosts();
        let host_of = spec
            .nodes
            .iter()
            .map(|nd| hosts.iter().position(|h| *h == nd.host).unwrap_or(0))
            .collect();
        Layout {
            spec,
            n: spec.nodes.len(),
            m,
            r: spec.replicas_per_master,
            hosts,
            host_of,
        }
    }

    /// The number of hosts.
    fn h(&self) -> usize {
        self.hosts.len()
    }

    fn name(&self, i: usize) -> String {
        self.spec.nodes[i].to_string()
    }

    fn node(&self, i: usize) -> NodeSpec {
        self.spec.nodes[i].clone()
    }
}

/// Which nodes are masters, which replicas.
struct Roles {
    is_master: Vec<bool>,
    masters: Vec<usize>,
    replicas: Vec<usize>,
    /// Masters serving slots that become replicas once their slots moved (scale in).
    demoted: Vec<usize>,
}

/// Where the slots end up: each node's slots, the unowned slots each master receives (by
/// master rank), the rebalancing moves (donor, receiver, slots) and the evacuation of the
/// departed nodes (departed index, receiver, slots, resumed).
struct SlotLayout {
    owned: Vec<BTreeSet<u16>>,
    add: Vec<BTreeSet<u16>>,
    moves: Vec<(usize, usize, BTreeSet<u16>)>,
    evac: Vec<Evacuation>,
}

/// Slots of a departed node or of a demoted master moving to spec node `to`.
struct Evacuation {
    from: Source,
    to: usize,
    slots: BTreeSet<u16>,
    resume: bool,
}

/// Where evacuated slots come from.
#[derive(Clone, Copy)]
enum Source {
    /// A departed node, by its index among the departed.
    Departed(usize),
    /// A spec node that stops being a master.
    Demoted(usize),
}

fn build(spec: &ClusterSpec, m: usize, facts: &Facts) -> Result<ClusterPlan, PlanError> {
    let lay = Layout::new(spec, m);
    let roles = choose_masters(&lay, facts)?;
    let assigned = assign_replicas(&lay, facts, &roles)?;
    let slots = place_slots(&lay, facts, &roles);
    let steps = steps(&lay, facts, &roles, &assigned, &slots);
    let planned = roles
        .masters
        .iter()
        .map(|&i| PlannedMaster {
            node: lay.node(i),
            slots: ranges_from_slots(slots.owned[i].iter().copied()),
            replicas: roles
                .replicas
                .iter()
                .filter(|&&u| assigned[u] == Some(i))
                .map(|&u| lay.node(u))
                .collect(),
        })
        .collect();
    Ok(ClusterPlan {
        masters: planned,
        steps,
        host_count: lay.h(),
        drift: Vec::new(),
        layout: LayoutRepair::NotNeeded,
        departed: facts.departed.iter().map(|d| d.node.clone()).collect(),
    })
}

/// 1. Masters: every node serving slots stays a master; the missing ones are picked among the
///    empty masters, spread over the hosts.
fn choose_masters(lay: &Layout<'_>, facts: &Facts) -> Result<Roles, PlanError> {
    let (n, m) = (lay.n, lay.m);
    let mut is_master = vec![false; n];
    let mut slot_masters: Vec<usize> = (0..n)
        .filter(|&i| facts.role[i] == Role::Master && !facts.slots[i].is_empty())
        .collect();
    let mut demoted = Vec::new();
    if slot_masters.len() > m && facts.demote_extra {
        let all = slot_masters.clone();
        slot_masters.sort_by_key(|&i| master_preference(lay, &all, i));
        demoted = slot_masters.split_off(m);
        slot_masters.sort_unstable();
    }
    if slot_masters.len() > m {
        return Err(PlanError::TooManyMasters {
            have: slot_masters.len(),
            want: m,
            masters: slot_masters
                .iter()
                .map(|&i| lay.name(i))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    check_empty_masters(lay, facts)?;
    let mut per_host = vec![0usize; lay.h()];
    for &i in &slot_masters {
        is_master[i] = true;
        per_host[lay.host_of[i]] += 1;
    }
    let mut count = slot_masters.len();
    while count < m {
        // Empty masters only: a replica cannot become an empty master without a reset.
        let pick = (0..n)
            .filter(|&i| {
                !is_master[i]
                    && facts.role[i] == Role::Master
                    && facts.keys[i] == KeyCount::Known(0)
            })
            .min_by_key(|&i| {
                let host = lay.host_of[i];
                (per_host[host], host, lay.spec.nodes[i].port, i)
            });
        let Some(i) = pick else {
            return Err(PlanError::NoMasterCandidate {
                want: m,
                have: count,
                detail: "the other nodes are replicas, and a replica holding data is never \
                         reset to become an empty master"
                    .into(),
            });
        };
        is_master[i] = true;
        per_host[lay.host_of[i]] += 1;
        count += 1;
    }
    let masters = (0..n).filter(|&i| is_master[i]).collect();
    let replicas = (0..n).filter(|&i| !is_master[i]).collect();
    Ok(Roles {
        is_master,
        masters,
        replicas,
        demoted,
    })
}

/// Which masters serving slots stay masters when there are too many (scale in): the first
/// master of each host before a host's second one, then hosts and ports in spec order.
fn master_preference(lay: &Layout<'_>, masters: &[usize], i: usize) -> (usize, usize, u16) {
    let host = lay.host_of[i];
    let port = lay.spec.nodes[i].port;
    let before = masters
        .iter()
        .filter(|&&j| lay.host_of[j] == host && lay.spec.nodes[j].port < port)
        .count();
    (before, host, port)
}

/// Every master without slots becomes a new master or a replica: it must be known empty.
fn check_empty_masters(lay: &Layout<'_>, facts: &Facts) -> Result<(), PlanError> {
    for i in 0..lay.n {
        if facts.role[i] != Role::Master || !facts.slots[i].is_empty() {
            continue;
        }
        match &facts.keys[i] {
            KeyCount::Known(0) => {}
            KeyCount::Known(k) => {
                return Err(PlanError::StrayData {
                    node: lay.name(i),
                    keys: *k,
                });
            }
            KeyCount::Unknown(reason) => {
                return Err(PlanError::KeyCountUnknown {
                    node: lay.name(i),
                    reason: reason.clone(),
                });
            }
        }
    }
    Ok(())
}

/// 2. Replicas: keep valid assignments, match the rest (augmenting paths) so that every
///    replica is on another host than its master. The master of each replica, by node index.
fn assign_replicas(
    lay: &Layout<'_>,
    facts: &Facts,
    roles: &Roles,
) -> Result<Vec<Option<usize>>, PlanError> {
    let (n, r, h) = (lay.n, lay.r, lay.h());
    let host_of = &lay.host_of;
    let mut assigned: Vec<Option<usize>> = vec![None; n];
    let mut load = vec![0usize; n];
    for &u in &roles.replicas {
        if let Some(cm) = facts.current_master[u]
            && facts.role[u] == Role::Replica
            && roles.is_master[cm]
            && host_of[cm] != host_of[u]
            && load[cm] < r
        {
            assigned[u] = Some(cm);
            load[cm] += 1;
        }
    }
    let prefs = replica_preferences(lay, roles);
    for &u in &roles.replicas {
        if assigned[u].is_some() {
            continue;
        }
        let mut visited = vec![false; n];
        if !augment(u, &prefs, r, &mut visited, &mut assigned, &mut load) {
            let detail = if h == 1 {
                format!("all {n} nodes are on the single host {}", lay.hosts[0])
            } else {
                format!(
                    "no master on another host has a free seat for {} ({} masters, {} replicas each, {} hosts)",
                    lay.name(u),
                    lay.m,
                    r,
                    h
                )
            };
            return Err(PlanError::SameHostUnavoidable(detail));
        }
    }
    Ok(assigned)
}

/// Each node's masters in order of preference: the master on the previous host first (replica
/// on host i+1 follows master on host i), then further hosts back; the k-th replica of a host
/// starts k hosts further back, so that the replicas of one master spread over several hosts.
fn replica_preferences(lay: &Layout<'_>, roles: &Roles) -> Vec<Vec<usize>> {
    let (h, host_of) = (lay.h(), &lay.host_of);
    (0..lay.n)
        .map(|u| {
            let mut p: Vec<usize> = roles
                .masters
                .iter()
                .copied()
                .filter(|&mm| host_of[mm] != host_of[u])
                .collect();
            if h > 1 {
                let pos = roles
                    .replicas
                    .iter()
                    .filter(|&&v| host_of[v] == host_of[u] && v < u)
                    .count();
                let off = pos % (h - 1);
                p.sort_by_key(|&mm| {
                    let dist = (host_of[u] + h - host_of[mm]) % h; // 1..h-1
                    ((dist - 1 + (h - 1) - off) % (h - 1), mm)
                });
            }
            p
        })
        .collect()
}

/// Finds a master with a free seat for replica `u`, moving earlier replicas along augmenting
/// paths when needed.
fn augment(
    u: usize,
    prefs: &[Vec<usize>],
    r: usize,
    visited: &mut [bool],
    assigned: &mut [Option<usize>],
    load: &mut [usize],
) -> bool {
    for &mm in &prefs[u] {
        if visited[mm] {
            continue;
        }
        visited[mm] = true;
        if load[mm] < r {
            assigned[u] = Some(mm);
            load[mm] += 1;
            return true;
        }
        let holders: Vec<usize> = (0..assigned.len())
            .filter(|&v| assigned[v] == Some(mm))
            .collect();
        for v in holders {
            if augment(v, prefs, r, visited, assigned, load) {
                // v moved elsewhere; u takes its seat.
                load[mm] -= 1;
                assigned[u] = Some(mm);
                load[mm] += 1;
                return true;
            }
        }
    }
    false
}

/// 3. Slots: finish open migrations, fill unassigned slots, rebalance if uneven.
fn place_slots(lay: &Layout<'_>, facts: &Facts, roles: &Roles) -> SlotLayout {
    let m = lay.m;
    let masters = &roles.masters;
    let mut owned: Vec<BTreeSet<u16>> = facts.slots.clone();
    for ((from, to), slots) in &facts.open_moves {
        for s in slots {
            owned[*from].remove(s);
            owned[*to].insert(*s);
        }
    }
    let ideal = even_slot_ranges(m);
    let targets: Vec<usize> = ideal.iter().map(SlotRange::len).collect();
    let evac = evacuate(facts, roles, &targets, &mut owned);
    let mut counts: Vec<usize> = masters.iter().map(|&i| owned[i].len()).collect();
    let add = fill_unowned(&owned, &ideal, &targets, &mut counts);
    for (k, &i) in masters.iter().enumerate() {
        owned[i].extend(add[k].iter().copied());
    }
    let unbalanced = (0..m).any(|k| {
        let tol = (targets[k] / 50).max(2);
        counts[k].abs_diff(targets[k]) > tol
    });
    let moves = if unbalanced {
        rebalance(masters, &targets, &mut counts, &mut owned)
    } else {
        Vec::new()
    };
    SlotLayout {
        owned,
        add,
        moves,
        evac,
    }
}

/// Scale in: the open migrations from departed nodes are finished towards their target, the
/// other slots of departed nodes go to the remaining masters furthest below their target
/// (the fewest slots first), in contiguous pieces.
fn evacuate(
    facts: &Facts,
    roles: &Roles,
    targets: &[usize],
    owned: &mut [BTreeSet<u16>],
) -> Vec<Evacuation> {
    let masters = &roles.masters;
    let mut out = Vec::new();
    let mut rest: Vec<(Source, BTreeSet<u16>)> = facts
        .departed
        .iter()
        .enumerate()
        .map(|(k, d)| (Source::Departed(k), d.slots.clone()))
        .collect();
    for (&(from, to), slots) in &facts.evac_open {
        for s in slots {
            rest[from].1.remove(s);
            owned[to].insert(*s);
        }
        out.push(Evacuation {
            from: Source::Departed(from),
            to,
            slots: slots.clone(),
            resume: true,
        });
    }
    for &e in &roles.demoted {
        rest.push((Source::Demoted(e), std::mem::take(&mut owned[e])));
    }
    let total = rest.iter().map(|(_, r)| r.len()).sum();
    let mut share = shares(masters, targets, owned, total);
    let mut rank = 0;
    for (from, left) in rest {
        let mut left: Vec<u16> = left.into_iter().collect();
        while !left.is_empty() && rank < masters.len() {
            if share[rank] == 0 {
                rank += 1;
                continue;
            }
            let take = share[rank].min(left.len());
            let slots: BTreeSet<u16> = left.drain(..take).collect();
            share[rank] -= take;
            owned[masters[rank]].extend(slots.iter().copied());
            out.push(Evacuation {
                from,
                to: masters[rank],
                slots,
                resume: false,
            });
        }
    }
    out
}

/// How many of `total` slots each master (by rank) receives: one at a time to the master
/// furthest below its target.
fn shares(
    masters: &[usize],
    targets: &[usize],
    owned: &[BTreeSet<u16>],
    total: usize,
) -> Vec<usize> {
    let mut counts: Vec<usize> = masters.iter().map(|&i| owned[i].len()).collect();
    let mut share = vec![0usize; masters.len()];
    for _ in 0..total {
        let Some(k) = (0..masters.len())
            .max_by_key(|&k| (targets[k] as i64 - counts[k] as i64, std::cmp::Reverse(k)))
        else {
            break;
        };
        counts[k] += 1;
        share[k] += 1;
    }
    share
}

/// The slots nobody owns, by master rank: each goes to the master whose even range holds it,
/// or to the master furthest below its target when that one is full.
fn fill_unowned(
    owned: &[BTreeSet<u16>],
    ideal: &[SlotRange],
    targets: &[usize],
    counts: &mut [usize],
) -> Vec<BTreeSet<u16>> {
    let m = targets.len();
    let mut any_owner = vec![false; usize::from(SLOT_COUNT)];
    for set in owned {
        for &s in set {
            any_owner[usize::from(s)] = true;
        }
    }
    let mut add: Vec<BTreeSet<u16>> = vec![BTreeSet::new(); m];
    for s in 0..SLOT_COUNT {
        if any_owner[usize::from(s)] {
            continue;
        }
        let mut k = ideal
            .iter()
            .position(|rg| rg.start <= s && s <= rg.end)
            .unwrap_or(0);
        if counts[k] >= targets[k] {
            let best = (0..m)
                .filter(|&j| counts[j] < targets[j])
                .max_by_key(|&j| (targets[j] - counts[j], std::cmp::Reverse(j)));
            if let Some(j) = best {
                k = j;
            }
        }
        add[k].insert(s);
        counts[k] += 1;
    }
    add
}

/// Moves slots from masters above their target to masters below it (highest slots first).
fn rebalance(
    masters: &[usize],
    targets: &[usize],
    counts: &mut [usize],
    owned: &mut [BTreeSet<u16>],
) -> Vec<(usize, usize, BTreeSet<u16>)> {
    let m = masters.len();
    let mut moves = Vec::new();
    let mut excess: Vec<usize> = (0..m)
        .map(|k| counts[k].saturating_sub(targets[k]))
        .collect();
    for rk in 0..m {
        let mut deficit = targets[rk].saturating_sub(counts[rk]);
        for dk in 0..m {
            if deficit == 0 {
                break;
            }
            if excess[dk] == 0 {
                continue;
            }
            let take = deficit.min(excess[dk]);
            let (d, rcv) = (masters[dk], masters[rk]);
            let moved: BTreeSet<u16> = owned[d].iter().rev().take(take).copied().collect();
            for s in &moved {
                owned[d].remove(s);
                owned[rcv].insert(*s);
            }
            excess[dk] -= take;
            deficit -= take;
            counts[dk] -= take;
            counts[rk] += take;
            moves.push((d, rcv, moved));
        }
    }
    moves
}

/// 4. Steps: config epochs of a fresh cluster, new slots, meets, open migrations, replicas,
///    then rebalancing moves.
fn steps(
    lay: &Layout<'_>,
    facts: &Facts,
    roles: &Roles,
    assigned: &[Option<usize>],
    slots: &SlotLayout,
) -> Vec<Step> {
    let masters = &roles.masters;
    let mut steps = Vec::new();
    if facts.fresh {
        for (k, &i) in masters.iter().enumerate() {
            steps.push(Step::SetConfigEpoch {
                node: lay.node(i),
                epoch: k as u64 + 1,
            });
        }
    }
    for (k, &i) in masters.iter().enumerate() {
        if !slots.add[k].is_empty() {
            steps.push(Step::AddSlots {
                node: lay.node(i),
                slots: ranges_from_slots(slots.add[k].iter().copied()),
            });
        }
    }
    steps.extend(meets(lay, facts, masters));
    for ((from, to), moving) in &facts.open_moves {
        steps.push(Step::MoveSlots {
            from: lay.node(*from),
            to: lay.node(*to),
            slots: ranges_from_slots(moving.iter().copied()),
            resume: true,
        });
    }
    for e in &slots.evac {
        let (to, slots) = (lay.node(e.to), ranges_from_slots(e.slots.iter().copied()));
        steps.push(match e.from {
            Source::Departed(k) => Step::Evacuate {
                from: facts.departed[k].node.clone(),
                to,
                slots,
                resume: e.resume,
            },
            Source::Demoted(i) => Step::MoveSlots {
                from: lay.node(i),
                to,
                slots,
                resume: e.resume,
            },
        });
    }
    for &u in &roles.replicas {
        let Some(mm) = assigned[u] else { continue };
        let already = facts.role[u] == Role::Replica && facts.current_master[u] == Some(mm);
        if !already {
            let previous = if facts.role[u] == Role::Replica {
                facts.current_master[u].map(|p| lay.node(p))
            } else {
                None
            };
            steps.push(Step::Replicate {
                replica: lay.node(u),
                master: lay.node(mm),
                previous,
            });
        }
    }
    for (d, rcv, moved) in &slots.moves {
        steps.push(Step::MoveSlots {
            from: lay.node(*d),
            to: lay.node(*rcv),
            slots: ranges_from_slots(moved.iter().copied()),
            resume: false,
        });
    }
    for d in &facts.departed {
        steps.push(Step::Forget {
            node: d.node.clone(),
        });
    }
    for d in facts.departed.iter().filter(|d| d.node.reachable) {
        steps.push(Step::Reset {
            node: d.node.clone(),
        });
    }
    steps
}

/// Meets: join every group of nodes that know each other to the anchor's group.
fn meets(lay: &Layout<'_>, facts: &Facts, masters: &[usize]) -> Vec<Step> {
    let n = lay.n;
    let mut group: Vec<usize> = (0..n).collect();
    fn find(g: &mut [usize], x: usize) -> usize {
        let mut x = x;
        while g[x] != x {
            g[x] = g[g[x]];
            x = g[x];
        }
        x
    }
    for i in 0..n {
        for &j in &facts.knows[i] {
            let (a, b) = (find(&mut group, i), find(&mut group, j));
            if a != b {
                group[a] = b;
            }
        }
    }
    let anchor = masters
        .iter()
        .copied()
        .find(|&i| !facts.slots[i].is_empty())
        .or_else(|| masters.first().copied())
        .unwrap_or(0);
    let anchor_group = find(&mut group, anchor);
    (0..n)
        .filter(|&i| find(&mut group, i) != anchor_group)
        .map(|i| Step::Meet {
            node: lay.node(anchor),
            target: lay.node(i),
        })
        .collect()
}
