//! Redis Cluster logic behind prov's `redis_cluster` module.
//!
//! The controller never opens TCP to Redis ports itself: every node is reached through a
//! [`NodeConnector`] (prov uses SSH direct-tcpip streams opened on the node's own host;
//! [`TcpConnector`] is for loopback tests). Over each stream a redis
//! [`MultiplexedConnection`](redis::aio::MultiplexedConnection) is built and authenticated
//! with the spec's password ([`connect_node`]).
//!
//! The flow is inspect → plan → apply:
//!
//! * [`inspect`]`(&ClusterSpec, &dyn NodeConnector) -> ClusterState`: per node, whether it is
//!   reachable, its id, `CLUSTER INFO`, parsed `CLUSTER NODES` (role, master, slots, flags,
//!   epochs, open slots), `DBSIZE` and the replication link.
//! * [`plan`]`(&ClusterSpec, &ClusterState) -> Result<ClusterPlan, PlanError>`: pure.
//!   Fresh nodes get one master per host (lowest port first, i.e. port 7000 with the
//!   7000/7001 layout), even contiguous slot ranges (0-5460, 5461-10922, 10923-16383 for three
//!   masters), and replicas placed by construction on another host than their master (the
//!   replica on host i+1 follows the master on host i). A healthy cluster gives an empty plan;
//!   a half-formed one is completed; new nodes are met, the empty ones become masters that
//!   receive slots moved evenly (with their keys) from the existing masters, and replicas are
//!   re-pointed only where needed to keep every replica off its master's host. The planner
//!   has no reset or flush step: nodes holding slots or data are never wiped, the plan fails
//!   with a [`PlanError`] instead. [`plan_fresh`] plans for brand-new nodes without
//!   inspecting (check mode before Redis is installed). `ClusterPlan`'s `Display` is the
//!   human topology plan.
//! * [`apply`]`(&ClusterSpec, &ClusterPlan, &dyn NodeConnector) -> Result<ApplyReport,
//!   ClusterError>`: runs exactly the plan's steps (`CLUSTER SET-CONFIG-EPOCH`, `ADDSLOTSRANGE`,
//!   `MEET`, `REPLICATE`, slot migration with `SETSLOT IMPORTING/MIGRATING`, `GETKEYSINSLOT`,
//!   `MIGRATE ... AUTH2 ... KEYS`, `SETSLOT NODE` on every master), then waits (60 s by
//!   default, see [`apply_with`]) until every node reports `cluster_state:ok`, all 16384
//!   slots, the planned masters, slots and replicas, the same config epochs and up
//!   replication links. Errors say which node disagrees about what.
//! * Scale in: nodes of the cluster the spec no longer lists ([`Departed`]) are refused by
//!   [`plan`]; [`inspect_departed`] reaches them through a remaining host, and [`plan_with`]
//!   with [`PlanOptions::remove_departed`] moves their slots (with the keys) to the remaining
//!   masters, re-homes the replicas that followed them, has every node `CLUSTER FORGET` them
//!   and `CLUSTER RESET HARD`s them.
//! * [`health`] / [`summarize`]: a [`ClusterHealth`] summary.
//!
//! The password never appears in `Debug` output, errors or plan text.

#![warn(missing_docs)]

mod apply;
mod conn;
mod departed;
mod health;
mod layout;
mod nodes;
mod plan;
mod spec;
mod state;
mod sync;

pub use apply::{ApplyOptions, ApplyReport, apply, apply_with};
pub use conn::{
    CONNECT_TIMEOUT, ClusterError, NodeConnector, NodeStream, RESPONSE_TIMEOUT, TcpConnector,
    connect_node,
};
pub use departed::Departed;
pub use health::{ClusterHealth, HostRoles, MasterHealth, ReplicaHealth, health, summarize};
pub use layout::{
    Drift, FailoverMode, LayoutPolicy, LayoutRepair, PlanOptions, crowded_hosts, current_layout,
    intended_layout, plan_with, roles_by_host,
};
pub use nodes::{ClusterInfo, ClusterNode, ParseNodesError, Role, parse_cluster_nodes};
pub use plan::{ClusterPlan, PlanError, PlannedMaster, Step, even_slot_ranges, plan, plan_fresh};
pub use spec::{
    ClusterSpec, NodeSpec, SLOT_COUNT, SlotRange, count_slots, format_ranges, key_slot,
    ranges_from_slots,
};
pub use state::{ClusterState, NodeState, departed_nodes, inspect, inspect_departed};
pub use sync::{sync_gaps, wait_synced};

/// Re-export of the redis crate, for callers that use [`connect_node`]'s connection.
pub use redis;

#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod scale_in_tests;
