//! Waiting until the cluster is in sync: healthy, every replication link up, and every
//! replica caught up with the offset its master had a moment before.

use std::time::{Duration, Instant};

use crate::conn::{ClusterError, NodeConnector};
use crate::health::{ClusterHealth, summarize};
use crate::spec::ClusterSpec;
use crate::state::{ClusterState, inspect};

/// Why the cluster is not in sync: health problems of `after`, and replicas whose offset in
/// `after` is behind their master's offset in `before` (empty when in sync). Reading the
/// masters first makes the check exact under continuous writes: a replica is caught up once
/// it has what its master had earlier.
pub fn sync_gaps(spec: &ClusterSpec, before: &ClusterState, after: &ClusterState) -> Vec<String> {
    let health = summarize(spec, after);
    let mut gaps = health.problems.clone();
    for r in &health.replicas {
        let Some(master) = &r.master else { continue };
        let was = before
            .nodes
            .iter()
            .find(|n| n.spec == *master)
            .and_then(|n| n.repl_offset);
        match (r.offset, was) {
            (Some(have), Some(want)) if have >= want => {}
            (have, want) => gaps.push(format!(
                "replica {} at offset {}, its master {master} was at {}",
                r.node,
                have.map_or("unknown".into(), |o| o.to_string()),
                want.map_or("unknown".into(), |o| o.to_string()),
            )),
        }
    }
    gaps
}

/// Waits (up to `timeout`) until [`sync_gaps`] is empty; returns the health then.
pub async fn wait_synced(
    spec: &ClusterSpec,
    connector: &dyn NodeConnector,
    timeout: Duration,
    poll: Duration,
) -> Result<ClusterHealth, ClusterError> {
    let started = Instant::now();
    let mut before = inspect(spec, connector).await;
    loop {
        let after = inspect(spec, connector).await;
        let gaps = sync_gaps(spec, &before, &after);
        if gaps.is_empty() {
            return Ok(summarize(spec, &after));
        }
        if started.elapsed() >= timeout {
            return Err(ClusterError::NotConverged {
                what: "replicas in sync with their masters".into(),
                waited: started.elapsed(),
                disagreements: gaps,
            });
        }
        tokio::time::sleep(poll).await;
        before = after;
    }
}
