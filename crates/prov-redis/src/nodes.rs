//! Parsers for `CLUSTER NODES` and `CLUSTER INFO` replies.

use std::collections::BTreeMap;

use crate::spec::{SlotRange, count_slots};

/// Role of a node as reported by `CLUSTER NODES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A master (possibly without slots).
    Master,
    /// A replica (`slave` flag).
    Replica,
}

/// One line of `CLUSTER NODES`: how the reporting node sees some node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    /// 40-character node id.
    pub id: String,
    /// IP the node is known at (empty for a node that has not learned its own address yet).
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Cluster bus port.
    pub bus_port: u16,
    /// Flags (`myself`, `master`, `slave`, `fail?`, `fail`, `handshake`, `noaddr`, ...).
    pub flags: Vec<String>,
    /// Id of the master this node replicates (`None` for masters).
    pub master_id: Option<String>,
    /// Config epoch of the node (of its master, for replicas).
    pub config_epoch: u64,
    /// Whether the cluster-bus link is `connected`.
    pub link_connected: bool,
    /// Slots served by the node.
    pub slots: Vec<SlotRange>,
    /// Slots this node is migrating to another node: `(slot, target id)` (only on the myself line).
    pub migrating: Vec<(u16, String)>,
    /// Slots this node is importing from another node: `(slot, source id)` (only on the myself line).
    pub importing: Vec<(u16, String)>,
}

impl ClusterNode {
    /// True for a flag present on the line.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// True for the line describing the reporting node itself.
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }

    /// Role from the flags.
    pub fn role(&self) -> Role {
        if self.has_flag("slave") {
            Role::Replica
        } else {
            Role::Master
        }
    }

    /// True while the node is being met (its id is still a temporary one).
    pub fn in_handshake(&self) -> bool {
        self.has_flag("handshake") || self.has_flag("noaddr")
    }

    /// True if flagged `fail` or `fail?`.
    pub fn is_failing(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }

    /// Number of slots served.
    pub fn slot_count(&self) -> usize {
        count_slots(&self.slots)
    }
}

/// Error from parsing a `CLUSTER NODES` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse CLUSTER NODES line {line:?}: {reason}")]
pub struct ParseNodesError {
    /// The offending line.
    pub line: String,
    /// What was wrong.
    pub reason: String,
}

fn perr(line: &str, reason: &str) -> ParseNodesError {
    ParseNodesError {
        line: line.chars().take(200).collect(),
        reason: reason.to_string(),
    }
}

/// Parses the whole `CLUSTER NODES` reply.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<ClusterNode>, ParseNodesError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(parse_line)
        .collect()
}

fn parse_u16(s: &str, line: &str, what: &str) -> Result<u16, ParseNodesError> {
    s.parse::<u16>()
        .map_err(|_| perr(line, &format!("bad {what} {s:?}")))
}

fn parse_line(line: &str) -> Result<ClusterNode, ParseNodesError> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return Err(perr(line, "fewer than 8 fields"));
    }
    let id = fields[0].to_string();
    // ip:port@cport[,hostname]
    let addr = fields[1].split(',').next().unwrap_or_default();
    let (hostport, bus) = addr.split_once('@').unwrap_or((addr, ""));
    let (ip, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| perr(line, "address without port"))?;
    let port = parse_u16(port, line, "port")?;
    let bus_port = if bus.is_empty() {
        port.wrapping_add(10000)
    } else {
        parse_u16(bus, line, "bus port")?
    };
    let flags: Vec<String> = fields[2]
        .split(',')
        .filter(|f| !f.is_empty() && *f != "noflags")
        .map(str::to_string)
        .collect();
    let master_id = match fields[3] {
        "-" | "" => None,
        m => Some(m.to_string()),
    };
    let config_epoch = fields[6]
        .parse::<u64>()
        .map_err(|_| perr(line, "bad config epoch"))?;
    let link_connected = fields[7] == "connected";
    let mut slots = Vec::new();
    let mut migrating = Vec::new();
    let mut importing = Vec::new();
    for f in &fields[8..] {
        if let Some(inner) = f.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if let Some((slot, target)) = inner.split_once("->-") {
                migrating.push((parse_u16(slot, line, "slot")?, target.to_string()));
            } else if let Some((slot, source)) = inner.split_once("-<-") {
                importing.push((parse_u16(slot, line, "slot")?, source.to_string()));
            } else {
                return Err(perr(line, "bad open-slot marker"));
            }
        } else if let Some((a, b)) = f.split_once('-') {
            let (a, b) = (parse_u16(a, line, "slot")?, parse_u16(b, line, "slot")?);
            if a > b || b >= crate::spec::SLOT_COUNT {
                return Err(perr(line, "bad slot range"));
            }
            slots.push(SlotRange::new(a, b));
        } else {
            let s = parse_u16(f, line, "slot")?;
            if s >= crate::spec::SLOT_COUNT {
                return Err(perr(line, "slot out of range"));
            }
            slots.push(SlotRange::new(s, s));
        }
    }
    Ok(ClusterNode {
        id,
        ip: ip.to_string(),
        port,
        bus_port,
        flags,
        master_id,
        config_epoch,
        link_connected,
        slots,
        migrating,
        importing,
    })
}

/// Parsed `CLUSTER INFO` (or any `key:value` INFO section).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Every `key:value` pair.
    pub fields: BTreeMap<String, String>,
}

impl ClusterInfo {
    /// Parses `key:value` lines; comments and blank lines are skipped.
    pub fn parse(text: &str) -> Self {
        let fields = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Self { fields }
    }

    /// Raw value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// Numeric value of a field.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    /// True if `cluster_state:ok`.
    pub fn state_ok(&self) -> bool {
        self.get("cluster_state") == Some("ok")
    }

    /// `cluster_state` as reported, `unknown` when missing.
    pub fn state_text(&self) -> &str {
        self.get("cluster_state").unwrap_or("unknown")
    }

    /// `cluster_slots_assigned`.
    pub fn slots_assigned(&self) -> u64 {
        self.get_u64("cluster_slots_assigned").unwrap_or(0)
    }

    /// `cluster_known_nodes`.
    pub fn known_nodes(&self) -> u64 {
        self.get_u64("cluster_known_nodes").unwrap_or(0)
    }

    /// `cluster_current_epoch`; `None` when missing or unreadable (never taken for 0, which
    /// would mark the node as brand new).
    pub fn current_epoch(&self) -> Option<u64> {
        self.get_u64("cluster_current_epoch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_cluster_nodes_output() {
        let text = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a replica e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [93->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f] [77-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
";
        let nodes = parse_cluster_nodes(text).unwrap();
        assert_eq!(nodes.len(), 5);
        assert_eq!(nodes[1].slots, vec![SlotRange::new(5461, 10922)]);
        assert_eq!(nodes[1].slot_count(), 5462);
        assert_eq!(nodes[3].role(), Role::Replica);
        assert_eq!(
            nodes[3].master_id.as_deref(),
            Some("67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1")
        );
        assert_eq!(nodes[0].port, 30004);
        assert_eq!(nodes[0].bus_port, 31004);
        let me = &nodes[4];
        assert!(me.is_myself());
        assert_eq!(me.role(), Role::Master);
        assert_eq!(me.config_epoch, 1);
        assert_eq!(
            me.migrating,
            vec![(93, "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f".to_string())]
        );
        assert_eq!(
            me.importing,
            vec![(77, "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1".to_string())]
        );
    }

    #[test]
    fn fresh_node_and_garbage() {
        let nodes =
            parse_cluster_nodes("abc :7000@17000 myself,master - 0 0 0 connected\n").unwrap();
        assert_eq!(nodes[0].ip, "");
        assert!(nodes[0].slots.is_empty());
        assert!(parse_cluster_nodes("abc 1.2.3.4:x@1 master - 0 0 0 connected").is_err());
        assert!(parse_cluster_nodes("abc").is_err());
        assert!(parse_cluster_nodes("a 1.2.3.4:1@2 master - 0 0 0 connected 5-99999").is_err());
    }

    #[test]
    fn parses_cluster_info() {
        let info = ClusterInfo::parse(
            "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:6\r\n",
        );
        assert!(info.state_ok());
        assert_eq!(info.slots_assigned(), 16384);
        assert_eq!(info.known_nodes(), 6);
    }
}
