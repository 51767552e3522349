//! What the caller wants: the nodes of the cluster, and small value types shared by every stage.

use std::fmt;

/// Number of hash slots of a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// One Redis node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeSpec {
    /// Inventory host the node runs on (SSH streams to the node are opened on this host).
    pub host: String,
    /// Address other nodes (and `MIGRATE`) use to reach the node.
    pub addr: String,
    /// Client port of the node (the cluster bus is `port + 10000`).
    pub port: u16,
}

impl NodeSpec {
    /// Builds a node spec.
    pub fn new(host: impl Into<String>, addr: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            addr: addr.into(),
            port,
        }
    }

    /// `addr:port`, the endpoint other nodes use.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.addr, self.port)
    }
}

impl fmt::Display for NodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}:{}]", self.host, self.addr, self.port)
    }
}

/// The wanted cluster: its nodes, how many replicas each master gets, and the shared password.
///
/// `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Every node of the cluster (masters and replicas alike; the planner picks roles).
    pub nodes: Vec<NodeSpec>,
    /// Replicas per master; the node count must be a multiple of `replicas_per_master + 1`.
    pub replicas_per_master: usize,
    /// `requirepass`/`masterauth` of the nodes, used for AUTH and for `MIGRATE ... AUTH2`.
    pub password: Option<String>,
}

impl fmt::Debug for ClusterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSpec")
            .field("nodes", &self.nodes)
            .field("replicas_per_master", &self.replicas_per_master)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ClusterSpec {
    /// Distinct host names, in order of first appearance in `nodes`.
    pub fn hosts(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if !hosts.contains(&n.host.as_str()) {
                hosts.push(&n.host);
            }
        }
        hosts
    }

    /// Index of `node` in `nodes` (matched on host, addr and port).
    pub fn index_of(&self, node: &NodeSpec) -> Option<usize> {
        self.nodes.iter().position(|n| n == node)
    }
}

/// An inclusive range of hash slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotRange {
    /// First slot of the range.
    pub start: u16,
    /// Last slot of the range (inclusive).
    pub end: u16,
}

impl SlotRange {
    /// Builds a range; `start` and `end` are sorted if given in the wrong order.
    pub fn new(start: u16, end: u16) -> Self {
        Self {
            start: start.min(end),
            end: start.max(end),
        }
    }

    /// Number of slots in the range.
    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    /// Always false: a range holds at least one slot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The slots of the range.
    pub fn slots(&self) -> impl Iterator<Item = u16> + use<> {
        self.start..=self.end
    }
}

impl fmt::Display for SlotRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Compresses a list of slots (any order, duplicates allowed) into sorted contiguous ranges.
pub fn ranges_from_slots(slots: impl IntoIterator<Item = u16>) -> Vec<SlotRange> {
    let mut v: Vec<u16> = slots.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<SlotRange> = Vec::new();
    for s in v {
        match out.last_mut() {
            Some(r) if r.end.checked_add(1) == Some(s) => r.end = s,
            _ => out.push(SlotRange::new(s, s)),
        }
    }
    out
}

/// Total number of slots in `ranges`.
pub fn count_slots(ranges: &[SlotRange]) -> usize {
    ranges.iter().map(SlotRange::len).sum()
}

/// Formats ranges as `0-5460,5462` (or `none`).
pub fn format_ranges(ranges: &[SlotRange]) -> String {
    if ranges.is_empty() {
        return "none".to_string();
    }
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Hash slot of a key, honouring `{hash tags}` like Redis does.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOT_COUNT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis_reference_values() {
        // CRC16 check value of the XMODEM variant.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // Empty tag: the whole key is hashed.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn ranges_compress_and_format() {
        let r = ranges_from_slots([5, 3, 4, 9, 10, 3, 0]);
        assert_eq!(
            r,
            vec![
                SlotRange::new(0, 0),
                SlotRange::new(3, 5),
                SlotRange::new(9, 10)
            ]
        );
        assert_eq!(format_ranges(&r), "0,3-5,9-10");
        assert_eq!(count_slots(&r), 6);
        assert_eq!(format_ranges(&[]), "none");
    }

    #[test]
    fn debug_hides_password() {
        let spec = ClusterSpec {
            nodes: vec![NodeSpec::new("a", "10.0.0.1", 7000)],
            replicas_per_master: 0,
            password: Some("s3cr3t-pw".into()),
        };
        let dbg = format!("{spec:?}");
        assert!(!dbg.contains("s3cr3t-pw"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }
}
