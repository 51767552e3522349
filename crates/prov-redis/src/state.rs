//! Observing the cluster: what every node reports about itself and its peers.

use futures::future::join_all;
use redis::aio::MultiplexedConnection;

use crate::conn::{ClusterError, NodeConnector, connect_node};
use crate::nodes::{ClusterInfo, ClusterNode, ParseNodesError, parse_cluster_nodes};
use crate::spec::{ClusterSpec, NodeSpec};

/// What one node reported (or why it could not be asked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// The node.
    pub spec: NodeSpec,
    /// True if a connection and AUTH succeeded.
    pub reachable: bool,
    /// False if the node runs without `cluster-enabled yes`.
    pub cluster_enabled: bool,
    /// Why the node could not be (fully) inspected.
    pub error: Option<String>,
    /// The node's id (from its `myself` line).
    pub id: Option<String>,
    /// Parsed `CLUSTER INFO`.
    pub info: ClusterInfo,
    /// Parsed `CLUSTER NODES`: the node's view of the cluster, including itself.
    pub nodes: Vec<ClusterNode>,
    /// `DBSIZE`; `None` when it could not be read (unknown, which is not 0).
    pub key_count: Option<u64>,
    /// For replicas: `master_link_status:up` in `INFO replication`.
    pub master_link_up: Option<bool>,
    /// Replication offset from `INFO replication`: `master_repl_offset` of a master,
    /// `slave_repl_offset` of a replica (what it has received).
    pub repl_offset: Option<u64>,
}

impl NodeState {
    /// State of a node that could not be reached.
    pub fn unreachable(spec: &NodeSpec, reason: impl Into<String>) -> Self {
        Self {
            spec: spec.clone(),
            reachable: false,
            cluster_enabled: false,
            error: Some(reason.into()),
            id: None,
            info: ClusterInfo::default(),
            nodes: Vec::new(),
            key_count: None,
            master_link_up: None,
            repl_offset: None,
        }
    }

    /// Builds the state from the raw replies of `CLUSTER INFO`, `CLUSTER NODES` and `DBSIZE`
    /// (used by [`inspect`] and handy for tests).
    pub fn from_replies(
        spec: &NodeSpec,
        cluster_info: &str,
        cluster_nodes: &str,
        key_count: u64,
    ) -> Result<Self, ParseNodesError> {
        let nodes = parse_cluster_nodes(cluster_nodes)?;
        let id = nodes.iter().find(|n| n.is_myself()).map(|n| n.id.clone());
        Ok(Self {
            spec: spec.clone(),
            reachable: true,
            cluster_enabled: true,
            error: None,
            id,
            info: ClusterInfo::parse(cluster_info),
            nodes,
            key_count: Some(key_count),
            master_link_up: None,
            repl_offset: None,
        })
    }

    /// Records the answer to `DBSIZE`. A failure leaves the key count unknown (`None`, never
    /// 0: the planner refuses to give such a node a new role) and says why in `error`.
    pub fn record_dbsize(&mut self, reply: Result<u64, String>) {
        match reply {
            Ok(k) => self.key_count = Some(k),
            Err(e) => {
                self.key_count = None;
                self.error = Some(format!("DBSIZE failed: {e}"));
            }
        }
    }

    /// Records the link status and offset from a parsed `INFO replication`.
    pub fn record_replication(&mut self, repl: &ClusterInfo) {
        if repl.get("role") == Some("slave") {
            self.master_link_up = Some(repl.get("master_link_status") == Some("up"));
            self.repl_offset = repl.get_u64("slave_repl_offset");
        } else {
            self.repl_offset = repl.get_u64("master_repl_offset");
        }
    }

    /// The node's own line of `CLUSTER NODES`.
    pub fn myself(&self) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.is_myself())
    }

    /// How this node sees the node with id `id`.
    pub fn view_of(&self, id: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// True if the node answered, runs in cluster mode and reported itself.
    pub fn usable(&self) -> bool {
        self.reachable && self.cluster_enabled && self.myself().is_some()
    }
}

/// What every node of a spec reported; `nodes[i]` belongs to `spec.nodes[i]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterState {
    /// One entry per spec node, same order.
    pub nodes: Vec<NodeState>,
    /// Nodes of the cluster the spec does not list (their host left the group), as they
    /// report themselves; filled by [`inspect_departed`] only. Their `spec.host` is the spec
    /// host whose connection reaches them.
    pub departed: Vec<NodeState>,
}

impl ClusterState {
    /// State of the node with this id.
    pub fn by_id(&self, id: &str) -> Option<(usize, &NodeState)> {
        self.nodes
            .iter()
            .enumerate()
            .find(|(_, n)| n.id.as_deref() == Some(id))
    }

    /// Nodes that could not be inspected, with the reason.
    pub fn unusable(&self) -> Vec<(&NodeSpec, String)> {
        self.nodes
            .iter()
            .filter(|n| !n.usable())
            .map(|n| {
                let why = n.error.clone().unwrap_or_else(|| "no myself line".into());
                (&n.spec, why)
            })
            .collect()
    }
}

pub(crate) async fn query_string(
    conn: &mut MultiplexedConnection,
    node: &NodeSpec,
    what: &str,
    cmd: &redis::Cmd,
) -> Result<String, ClusterError> {
    cmd.query_async::<String>(conn)
        .await
        .map_err(|e| ClusterError::redis(node, what, e))
}

/// Asks one node over an open connection.
pub(crate) async fn inspect_conn(conn: &mut MultiplexedConnection, node: &NodeSpec) -> NodeState {
    let info = match query_string(
        conn,
        node,
        "CLUSTER INFO",
        redis::cmd("CLUSTER").arg("INFO"),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            let mut st = NodeState::unreachable(node, msg.clone());
            st.reachable = true;
            if msg.contains("cluster support disabled") {
                st.error = Some(format!("{node} runs without cluster-enabled yes"));
            }
            return st;
        }
    };
    let nodes = match query_string(
        conn,
        node,
        "CLUSTER NODES",
        redis::cmd("CLUSTER").arg("NODES"),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            let mut st = NodeState::unreachable(node, e.to_string());
            st.reachable = true;
            st.cluster_enabled = true;
            return st;
        }
    };
    let keys = redis::cmd("DBSIZE").query_async::<u64>(conn).await;
    let repl = query_string(
        conn,
        node,
        "INFO replication",
        redis::cmd("INFO").arg("replication"),
    )
    .await;
    let mut st = match NodeState::from_replies(node, &info, &nodes, 0) {
        Ok(st) => st,
        Err(e) => {
            let mut st = NodeState::unreachable(node, e.to_string());
            st.reachable = true;
            st.cluster_enabled = true;
            return st;
        }
    };
    st.record_dbsize(keys.map_err(|e| e.to_string()));
    if let Ok(repl) = repl {
        st.record_replication(&ClusterInfo::parse(&repl));
    }
    st
}

/// Connects to every node (in parallel) and records what it reports. Never fails as a whole:
/// unreachable nodes are recorded as such.
pub async fn inspect(spec: &ClusterSpec, connector: &dyn NodeConnector) -> ClusterState {
    let pw = spec.password.as_deref();
    let futs = spec.nodes.iter().map(|node| async move {
        match connect_node(node, pw, connector).await {
            Ok(mut conn) => inspect_conn(&mut conn, node).await,
            Err(e) => NodeState::unreachable(node, e.to_string()),
        }
    });
    ClusterState {
        nodes: join_all(futs).await,
        departed: Vec::new(),
    }
}

/// The nodes the spec nodes know that are not in the spec: their id, and how to reach them
/// (`host` is the host of the first spec node that knows them, on the same network). Nodes
/// still in handshake, without an address, or at a spec node's address are left out.
pub fn departed_nodes(spec: &ClusterSpec, state: &ClusterState) -> Vec<(String, NodeSpec)> {
    let own: Vec<&str> = state.nodes.iter().filter_map(|n| n.id.as_deref()).collect();
    let mut out: Vec<(String, NodeSpec)> = Vec::new();
    for st in &state.nodes {
        for v in &st.nodes {
            let listed = spec
                .nodes
                .iter()
                .any(|n| n.addr == v.ip && n.port == v.port);
            if v.is_myself()
                || v.in_handshake()
                || v.ip.is_empty()
                || listed
                || own.contains(&v.id.as_str())
                || out.iter().any(|(id, _)| *id == v.id)
            {
                continue;
            }
            out.push((v.id.clone(), NodeSpec::new(&st.spec.host, &v.ip, v.port)));
        }
    }
    out
}

/// Inspects the [departed nodes](departed_nodes) through their spec host's connection and
/// records them in `state.departed` (a node that cannot be reached is recorded as such).
pub async fn inspect_departed(
    spec: &ClusterSpec,
    state: &mut ClusterState,
    connector: &dyn NodeConnector,
) {
    let pw = spec.password.as_deref();
    let futs = departed_nodes(spec, state)
        .into_iter()
        .map(|(_, node)| async move {
            match connect_node(&node, pw, connector).await {
                Ok(mut conn) => inspect_conn(&mut conn, &node).await,
                Err(e) => NodeState::unreachable(&node, e.to_string()),
            }
        });
    state.departed = join_all(futs).await;
}
