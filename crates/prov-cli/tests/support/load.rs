//! A load client for Redis Cluster lab tests: writes and reads continuously through the
//! cluster while an operation runs, like an application would, and reports what it saw.
//!
//! Nodes are reached through a [`NodeConnector`] (SSH tunnels in the lab: the controller is
//! outside the network the firewall admits). Each key is routed to the master serving its
//! slot; `MOVED` updates the slot table and `ASK` is followed with `ASKING`, as cluster clients
//! do: redirections are counted but are not failures. Any other error (connection refused,
//! `CLUSTERDOWN`, a timeout...) is a failed attempt: the client refreshes its slot table and
//! retries the same operation until it succeeds, up to [`OP_DEADLINE`]. The time an operation
//! took from its first attempt to its success is its stall; the longest is reported.
//!
//! A connection kept from earlier that turns out closed (its node restarted while the client
//! used other nodes) is reopened at once and counted in `reconnects`, not as a failure, as
//! cluster clients do; an error on a fresh connection is a failure.
//!
//! At the end every acknowledged key is read back: a missing or wrong value is a lost key.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prov_redis::redis::{self, ErrorKind, ServerErrorKind, aio::MultiplexedConnection};
use prov_redis::{NodeConnector, NodeSpec, Role};

/// An operation is given up after this long (and counted in `given_up`).
pub const OP_DEADLINE: Duration = Duration::from_secs(30);
/// Time allowed for one reply before the attempt counts as failed.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two writes (about 200 writes a second, plus reads).
const PACE: Duration = Duration::from_millis(5);

/// What the load client saw.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Acknowledged writes.
    pub writes: u64,
    /// Reads of earlier keys during the run (each checked).
    pub reads: u64,
    /// Attempts that failed with something else than a redirection.
    pub failed_attempts: u64,
    /// Operations given up after [`OP_DEADLINE`].
    pub given_up: u64,
    /// `MOVED`/`ASK` redirections followed.
    pub redirects: u64,
    /// Idle connections found closed (a restarted node) and reopened at once, as cluster
    /// clients do; not failures.
    pub reconnects: u64,
    /// Acknowledged keys missing or wrong, during the run or in the final check.
    pub lost_keys: u64,
    /// Longest time one operation took from its first attempt to its success.
    pub longest_stall: Duration,
    /// The first few failures, for the test's message.
    pub samples: Vec<String>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} writes, {} reads, {} failed attempts, {} given up, {} redirects, {} reconnects, \
             {} lost keys, longest stall {:.3}s",
            self.writes,
            self.reads,
            self.failed_attempts,
            self.given_up,
            self.redirects,
            self.reconnects,
            self.lost_keys,
            self.longest_stall.as_secs_f64()
        )?;
        for s in &self.samples {
            write!(f, "\n  {s}")?;
        }
        Ok(())
    }
}

/// The client: a slot table and one connection per node.
pub struct LoadClient {
    nodes: Vec<NodeSpec>,
    connector: Arc<dyn NodeConnector>,
    password: String,
    owner: Vec<Option<usize>>,
    conns: HashMap<usize, MultiplexedConnection>,
    report: LoadReport,
}

/// How one attempt ended.
enum Attempt {
    Done(redis::Value),
    Redirect {
        to: usize,
        ask: bool,
    },
    /// A connection kept from earlier was found closed.
    Stale,
    Failed(String),
}

impl LoadClient {
    /// A client of the cluster made of `nodes` (every node, masters and replicas).
    pub fn new(nodes: Vec<NodeSpec>, connector: Arc<dyn NodeConnector>, password: &str) -> Self {
        Self {
            nodes,
            connector,
            password: password.to_owned(),
            owner: vec![None; 16384],
            conns: HashMap::new(),
            report: LoadReport::default(),
        }
    }

    /// Writes `load:N` keys and reads earlier ones back until `stop` is set or `max` has
    /// passed, then checks every acknowledged key.
    pub async fn run(mut self, stop: Arc<AtomicBool>, max: Duration) -> LoadReport {
        let started = Instant::now();
        let mut acked: Vec<u64> = Vec::new();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) && started.elapsed() < max {
            let key = format!("load:{i}");
            let set = redis::cmd("SET").arg(&key).arg(value_of(i)).to_owned();
            if self.op(&key, &set).await.is_some() {
                self.report.writes += 1;
                acked.push(i);
            }
            if i % 4 == 3 && !acked.is_empty() {
                let k = acked[(i as usize * 7919) % acked.len()];
                self.check(k).await;
            }
            i += 1;
            tokio::time::sleep(PACE).await;
        }
        for k in acked {
            self.check(k).await;
        }
        self.report
    }

    /// Reads key `load:k` back and counts it lost when missing or wrong.
    async fn check(&mut self, k: u64) {
        let key = format!("load:{k}");
        let get = redis::cmd("GET").arg(&key).to_owned();
        match self.op(&key, &get).await {
            Some(redis::Value::BulkString(v)) if v == value_of(k).as_bytes() => {
                self.report.reads += 1;
            }
            Some(other) => {
                self.report.lost_keys += 1;
                self.sample(format!("{key}: read {other:?}"));
            }
            None => {}
        }
    }

    /// Runs `cmd` for `key` until it succeeds (following redirections) or [`OP_DEADLINE`].
    async fn op(&mut self, key: &str, cmd: &redis::Cmd) -> Option<redis::Value> {
        let slot = usize::from(prov_redis::key_slot(key.as_bytes()));
        let started = Instant::now();
        let mut ask_to: Option<usize> = None;
        while started.elapsed() < OP_DEADLINE {
            let ask = ask_to.take();
            let target = match ask.or(self.owner[slot]) {
                Some(t) => t,
                None => {
                    self.refresh_from(0).await;
                    match self.owner[slot] {
                        Some(t) => t,
                        None => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                }
            };
            match self.attempt(target, cmd, ask.is_some()).await {
                Attempt::Done(v) => {
                    self.report.longest_stall = self.report.longest_stall.max(started.elapsed());
                    return Some(v);
                }
                Attempt::Redirect { to, ask } => {
                    self.report.redirects += 1;
                    if ask {
                        ask_to = Some(to);
                    } else {
                        // The topology changed: reload the whole slot table, starting with
                        // the new owner's view, as cluster clients do on MOVED.
                        self.owner[slot] = Some(to);
                        self.refresh_from(to).await;
                    }
                }
                Attempt::Stale => {
                    self.report.reconnects += 1;
                    self.conns.remove(&target);
                }
                Attempt::Failed(why) => {
                    self.report.failed_attempts += 1;
                    self.sample(format!(
                        "{:.1}s {key} on {}: {why}",
                        started.elapsed().as_secs_f64(),
                        self.nodes[target]
                    ));
                    self.conns.remove(&target);
                    self.owner = vec![None; 16384];
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        self.report.given_up += 1;
        self.sample(format!("{key}: given up after {OP_DEADLINE:?}"));
        None
    }

    /// One attempt on node `target` (with `ASKING` first after an `ASK`).
    async fn attempt(&mut self, target: usize, cmd: &redis::Cmd, asking: bool) -> Attempt {
        let reused = self.conns.contains_key(&target);
        let mut conn = match self.conn(target).await {
            Ok(c) => c,
            Err(e) => return Attempt::Failed(e),
        };
        let fut = async {
            if asking {
                let mut p = redis::pipe();
                p.cmd("ASKING").ignore().add_command(cmd.clone());
                p.query_async::<Vec<redis::Value>>(&mut conn)
                    .await
                    .map(|mut v| v.pop().unwrap_or(redis::Value::Nil))
            } else {
                cmd.query_async::<redis::Value>(&mut conn).await
            }
        };
        match tokio::time::timeout(REPLY_TIMEOUT, fut).await {
            Err(_) => Attempt::Failed("no reply in time".into()),
            Ok(Ok(v)) => Attempt::Done(v),
            Ok(Err(e)) if reused && e.is_connection_dropped() => Attempt::Stale,
            Ok(Err(e)) => match e.redirect_node().and_then(|(ep, _)| self.index_of(ep)) {
                Some(to) => Attempt::Redirect {
                    to,
                    ask: e.kind() == ErrorKind::Server(ServerErrorKind::Ask),
                },
                None => Attempt::Failed(e.to_string()),
            },
        }
    }

    async fn conn(&mut self, i: usize) -> Result<MultiplexedConnection, String> {
        if let Some(c) = self.conns.get(&i) {
            return Ok(c.clone());
        }
        let connect =
            prov_redis::connect_node(&self.nodes[i], Some(&self.password), &*self.connector);
        let c = tokio::time::timeout(REPLY_TIMEOUT, connect)
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        self.conns.insert(i, c.clone());
        Ok(c)
    }

    fn index_of(&self, endpoint: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.endpoint() == endpoint)
    }

    /// Reloads the slot table from the first node that answers `CLUSTER NODES`, trying node
    /// `first` first.
    async fn refresh_from(&mut self, first: usize) {
        let n = self.nodes.len();
        for i in (0..n).map(|k| (first + k) % n) {
            let Ok(mut c) = self.conn(i).await else {
                continue;
            };
            let q = redis::cmd("CLUSTER").arg("NODES").to_owned();
            let reply = tokio::time::timeout(REPLY_TIMEOUT, q.query_async::<String>(&mut c));
            let Ok(Ok(text)) = reply.await else {
                self.conns.remove(&i);
                continue;
            };
            let Ok(view) = prov_redis::parse_cluster_nodes(&text) else {
                continue;
            };
            for n in view
                .iter()
                .filter(|n| n.role() == Role::Master && !n.is_failing())
            {
                let Some(j) = self.index_of(&format!("{}:{}", n.ip, n.port)) else {
                    continue;
                };
                for s in n.slots.iter().flat_map(|r| r.slots()) {
                    self.owner[usize::from(s)] = Some(j);
                }
            }
            return;
        }
    }

    fn sample(&mut self, s: String) {
        if self.report.samples.len() < 8 {
            self.report.samples.push(s);
        }
    }
}

fn value_of(i: u64) -> String {
    format!("v{i}")
}
