//! Integration tests against real `redis-server` processes on loopback.
//!
//! Needs `redis-server` in PATH (Debian: `apt-get install redis-server redis-tools`). Every
//! test starts its own servers on its own ports in a temporary directory and kills them by PID
//! when done. The ports are 21000+ so that their cluster bus ports (31000+) stay below the
//! kernel's ephemeral range (32768+), where a leftover connection in TIME-WAIT once held one
//! and redis-server did not start.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prov_redis::redis::{self, aio::MultiplexedConnection};
use prov_redis::{
    ClusterSpec, Drift, FailoverMode, LayoutPolicy, NodeSpec, PlanOptions, Step, TcpConnector,
    apply, connect_node, health, inspect, key_slot, plan, plan_with,
};

const PW: &str = "t3st-cluster-pw";

/// A redis-server child process, killed (by PID) when dropped.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(port: u16, dir: &Path) -> Server {
    let conf = dir.join(format!("nodes-{port}.conf"));
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", &conf.to_string_lossy()])
        .args(["--requirepass", PW, "--masterauth", PW])
        .args(["--dir", &dir.to_string_lossy()])
        .args(["--bind", "127.0.0.1", "--daemonize", "no"])
        .args(["--cluster-node-timeout", "5000"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--repl-diskless-sync-delay", "0"])
        .args([
            "--logfile",
            &dir.join(format!("redis-{port}.log")).to_string_lossy(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server redis-tools)");
    Server { child }
}

async fn wait_ready(node: &NodeSpec) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(mut c) = connect_node(node, Some(PW), &TcpConnector).await
            && redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on {node} did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spec_for(hosts: &[&str], base: u16) -> ClusterSpec {
    let mut nodes = Vec::new();
    for (h, host) in hosts.iter().enumerate() {
        for p in 0..2u16 {
            nodes.push(NodeSpec::new(*host, "127.0.0.1", base + 2 * h as u16 + p));
        }
    }
    ClusterSpec {
        nodes,
        replicas_per_master: 1,
        password: Some(PW.to_string()),
    }
}

async fn start_all(spec: &ClusterSpec, dir: &Path) -> Vec<Server> {
    let servers: Vec<Server> = spec
        .nodes
        .iter()
        .map(|n| start_server(n.port, dir))
        .collect();
    for n in &spec.nodes {
        wait_ready(n).await;
    }
    servers
}

/// A minimal cluster-aware client: routes each key to the master serving its slot (computed
/// with `key_slot`), pipelines per master, and follows MOVED redirections.
struct SlotClient {
    spec: ClusterSpec,
    owner: Vec<usize>,
    conns: HashMap<usize, MultiplexedConnection>,
    redirects: usize,
}

impl SlotClient {
    async fn new(spec: &ClusterSpec) -> Self {
        let mut c = SlotClient {
            spec: spec.clone(),
            owner: vec![usize::MAX; 16384],
            conns: HashMap::new(),
            redirects: 0,
        };
        c.refresh().await;
        c
    }

    async fn refresh(&mut self) {
        let state = inspect(&self.spec, &TcpConnector).await;
        self.owner = vec![usize::MAX; 16384];
        for (i, st) in state.nodes.iter().enumerate() {
            let me = st.myself().expect("node inspected");
            if me.role() == prov_redis::Role::Master {
                for r in &me.slots {
                    for s in r.slots() {
                        self.owner[usize::from(s)] = i;
                    }
                }
            }
        }
        assert!(
            self.owner.iter().all(|&o| o != usize::MAX),
            "all slots served"
        );
    }

    async fn conn(&mut self, i: usize) -> MultiplexedConnection {
        if !self.conns.contains_key(&i) {
            let c = connect_node(&self.spec.nodes[i], Some(PW), &TcpConnector)
                .await
                .expect("connect");
            self.conns.insert(i, c);
        }
        self.conns[&i].clone()
    }

    fn index_of_endpoint(&self, ep: &str) -> usize {
        self.spec
            .nodes
            .iter()
            .position(|n| n.endpoint() == ep)
            .unwrap_or_else(|| panic!("redirect to unknown node {ep}"))
    }

    /// Runs one command for `key`, following MOVED.
    async fn one(&mut self, key: &str, cmd: &redis::Cmd) -> redis::Value {
        let mut target = self.owner[usize::from(key_slot(key.as_bytes()))];
        for _ in 0..5 {
            let mut c = self.conn(target).await;
            match cmd.query_async::<redis::Value>(&mut c).await {
                Ok(v) => return v,
                Err(e) => match e.redirect_node() {
                    Some((ep, _)) => {
                        self.redirects += 1;
                        target = self.index_of_endpoint(ep);
                    }
                    None => panic!("{key}: {e}"),
                },
            }
        }
        panic!("{key}: too many redirections");
    }

    fn by_owner<'k>(&self, keys: &'k [String]) -> HashMap<usize, Vec<&'k String>> {
        let mut m: HashMap<usize, Vec<&String>> = HashMap::new();
        for k in keys {
            m.entry(self.owner[usize::from(key_slot(k.as_bytes()))])
                .or_default()
                .push(k);
        }
        m
    }

    async fn set_all(&mut self, keys: &[String]) {
        for (owner, ks) in self.by_owner(keys) {
            let mut p = redis::pipe();
            for k in &ks {
                p.cmd("SET").arg(k.as_str()).arg(value_of(k));
            }
            let mut c = self.conn(owner).await;
            if p.query_async::<Vec<redis::Value>>(&mut c).await.is_err() {
                for k in ks {
                    let cmd = redis::cmd("SET")
                        .arg(k.as_str())
                        .arg(value_of(k))
                        .to_owned();
                    self.one(k, &cmd).await;
                }
            }
        }
    }

    /// Reads every key back and returns the number of keys whose value is right.
    async fn count_good(&mut self, keys: &[String]) -> usize {
        let mut good = 0;
        for (owner, ks) in self.by_owner(keys) {
            let mut p = redis::pipe();
            for k in &ks {
                p.cmd("GET").arg(k.as_str());
            }
            let mut c = self.conn(owner).await;
            match p.query_async::<Vec<Option<String>>>(&mut c).await {
                Ok(vals) => {
                    good += ks
                        .iter()
                        .zip(vals)
                        .filter(|(k, v)| v.as_deref() == Some(value_of(k).as_str()))
                        .count();
                }
                Err(_) => {
                    for k in ks {
                        let cmd = redis::cmd("GET").arg(k.as_str()).to_owned();
                        if let redis::Value::BulkString(v) = self.one(k, &cmd).await
                            && v == value_of(k).as_bytes()
                        {
                            good += 1;
                        }
                    }
                }
            }
        }
        good
    }
}

fn value_of(key: &str) -> String {
    format!("value-of-{key}")
}

async fn assert_healthy(spec: &ClusterSpec) {
    let h = health(spec, &TcpConnector).await;
    assert!(h.ok, "{h}");
    assert_eq!(h.reachable, spec.nodes.len());
    assert_eq!(
        h.state_ok,
        spec.nodes.len(),
        "every node reports cluster_state:ok"
    );
    assert_eq!(h.slots_served, 16384);
    assert_eq!(h.masters.len(), spec.nodes.len() / 2);
    for m in &h.masters {
        assert_eq!(m.replicas.len(), 1, "{h}");
        for r in &m.replicas {
            assert_ne!(r.host, m.node.host, "replica {r} on the host of its master");
        }
    }
}

/// The cluster as `spec` sees it, departed nodes included, and the plan of a scale in.
async fn scale_in_plan(spec: &ClusterSpec) -> (prov_redis::ClusterState, prov_redis::ClusterPlan) {
    let mut state = inspect(spec, &TcpConnector).await;
    prov_redis::inspect_departed(spec, &mut state, &TcpConnector).await;
    let options = PlanOptions {
        remove_departed: true,
        ..PlanOptions::default()
    };
    let plan = plan_with(spec, &state, &options).unwrap();
    (state, plan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_fill_noop_and_scale_out() {
    let dir = tempfile::tempdir().unwrap();
    let spec3 = spec_for(&["a", "b", "c"], 21000);
    let spec4 = spec_for(&["a", "b", "c", "d"], 21000);
    let _servers = start_all(&spec4, dir.path()).await;

    // Create: 3 hosts x 2 nodes.
    let state = inspect(&spec3, &TcpConnector).await;
    assert!(
        state
            .nodes
            .iter()
            .all(|n| n.usable() && n.key_count == Some(0))
    );
    let p = plan(&spec3, &state).unwrap();
    let text = p.to_string();
    assert!(!text.contains(PW));
    assert!(text.contains("slots 0-5460"), "{text}");
    eprintln!("{text}");
    let report = apply(&spec3, &p, &TcpConnector).await.unwrap();
    eprintln!("{report:?}");
    assert!(report.changed);
    assert_eq!(report.keys_migrated, 0);
    assert_healthy(&spec3).await;

    // 10,000 keys through a slot-routing client, read back.
    let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
    let mut client = SlotClient::new(&spec3).await;
    for k in ["foo", "key:1", "{user1000}.following"] {
        let server_slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(k)
            .query_async(&mut client.conn(0).await)
            .await
            .unwrap();
        assert_eq!(server_slot, key_slot(k.as_bytes()), "{k}");
    }
    client.set_all(&keys).await;
    assert_eq!(client.redirects, 0, "slot routing matches the servers");
    assert_eq!(client.count_good(&keys).await, keys.len());

    // Second run: nothing to do.
    let again = plan(&spec3, &inspect(&spec3, &TcpConnector).await).unwrap();
    assert!(again.is_noop(), "{again}");
    let report = apply(&spec3, &again, &TcpConnector).await.unwrap();
    assert!(!report.changed);

    // Scale out to 4 hosts.
    let p4 = plan(&spec4, &inspect(&spec4, &TcpConnector).await).unwrap();
    let moved = p4.slots_moved();
    assert!(
        (4000..=4200).contains(&moved),
        "about a quarter moves: {moved}\n{p4}"
    );
    assert!(p4.steps.iter().any(|s| matches!(s, Step::Meet { .. })));
    eprintln!("{p4}");
    let report = apply(&spec4, &p4, &TcpConnector).await.unwrap();
    eprintln!("{report:?}");
    assert!(report.changed);
    assert_eq!(report.slots_moved, moved);
    assert!(
        report.keys_migrated > 1500,
        "keys moved with their slots: {report:?}"
    );
    assert_healthy(&spec4).await;
    let h = health(&spec4, &TcpConnector).await;
    assert_eq!(h.total_keys, Some(10_000), "{h}");
    for m in &h.masters {
        let n = prov_redis::count_slots(&m.slots);
        assert!((4000..=4200).contains(&n), "{h}");
    }

    // Every key still readable, through the new owners.
    let mut client = SlotClient::new(&spec4).await;
    assert_eq!(client.count_good(&keys).await, keys.len());
    assert_eq!(client.redirects, 0);
    let again = plan(&spec4, &inspect(&spec4, &TcpConnector).await).unwrap();
    assert!(again.is_noop(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_formed_cluster_is_completed_and_bad_password_is_not_leaked() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_for(&["a", "b", "c"], 21100);
    let _servers = start_all(&spec, dir.path()).await;

    // By hand: the first master gets its slots and meets one node; nothing else.
    let mut a0 = connect_node(&spec.nodes[0], Some(PW), &TcpConnector)
        .await
        .unwrap();
    redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(5460)
        .exec_async(&mut a0)
        .await
        .unwrap();
    redis::cmd("CLUSTER")
        .arg("MEET")
        .arg("127.0.0.1")
        .arg(spec.nodes[2].port)
        .exec_async(&mut a0)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let p = plan(&spec, &inspect(&spec, &TcpConnector).await).unwrap();
    assert!(
        p.steps
            .iter()
            .all(|s| !matches!(s, Step::MoveSlots { .. } | Step::SetConfigEpoch { .. })),
        "{p}"
    );
    assert_eq!(p.masters[0].node, spec.nodes[0]);
    assert_eq!(
        p.masters[0].slots,
        vec![prov_redis::SlotRange::new(0, 5460)]
    );
    eprintln!("{p}");
    apply(&spec, &p, &TcpConnector).await.unwrap();
    assert_healthy(&spec).await;

    // A wrong password: nodes are reported unreachable, and no secret shows up anywhere.
    let mut wrong = spec.clone();
    wrong.password = Some("not-the-pw-XYZ".into());
    let state = inspect(&wrong, &TcpConnector).await;
    assert!(state.nodes.iter().all(|n| !n.usable()));
    let err = plan(&wrong, &state).unwrap_err().to_string();
    eprintln!("{err}");
    assert!(
        !err.contains("not-the-pw-XYZ") && !err.contains(PW),
        "{err}"
    );
    assert!(!format!("{wrong:?}").contains("not-the-pw-XYZ"));
}

/// Masters per host, from a health summary.
fn masters_on(h: &prov_redis::ClusterHealth, host: &str) -> Vec<u16> {
    h.hosts
        .iter()
        .find(|x| x.host == host)
        .map(|x| x.masters.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_reports_drift_and_enforce_restores_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_for(&["a", "b", "c"], 21200);
    let _servers = start_all(&spec, dir.path()).await;
    let p = plan(&spec, &inspect(&spec, &TcpConnector).await).unwrap();
    apply(&spec, &p, &TcpConnector).await.unwrap();
    let keys: Vec<String> = (0..3_000).map(|i| format!("key:{i}")).collect();
    let mut client = SlotClient::new(&spec).await;
    client.set_all(&keys).await;
    let enforce = PlanOptions {
        layout: LayoutPolicy::Enforce,
        ..PlanOptions::default()
    };

    // Drain host a: its master fails over (plainly) to its replica on b.
    let drain = PlanOptions {
        drain_host: Some("a".into()),
        ..enforce.clone()
    };
    let p = plan_with(&spec, &inspect(&spec, &TcpConnector).await, &drain).unwrap();
    eprintln!("{p}");
    assert!(
        matches!(
            p.steps.as_slice(),
            [Step::Failover { node, master, mode: FailoverMode::Default }]
                if node.host == "b" && master.host == "a"
        ),
        "{p}"
    );
    let t = Instant::now();
    let report = apply(&spec, &p, &TcpConnector).await.unwrap();
    eprintln!("drain: {:?} ({:?})", report.steps_done, t.elapsed());
    let h = health(&spec, &TcpConnector).await;
    assert!(h.ok, "{h}");
    assert_eq!(masters_on(&h, "a"), Vec::<u16>::new(), "{h}");
    assert_eq!(masters_on(&h, "b"), vec![21202, 21203], "{h}");

    // Reported by default, nothing planned; the keys followed the failover.
    let state = inspect(&spec, &TcpConnector).await;
    let seen = plan_with(&spec, &state, &PlanOptions::default()).unwrap();
    assert!(seen.is_noop(), "{seen}");
    assert!(
        matches!(seen.drift.as_slice(), [Drift::MasterDemoted { intended, .. }] if intended.host == "a"),
        "{seen}"
    );
    let mut client = SlotClient::new(&spec).await;
    assert_eq!(client.count_good(&keys).await, keys.len());

    // Enforced: a plain failover back, every node agrees, links up, keys intact.
    let fix = plan_with(&spec, &state, &enforce).unwrap();
    assert_eq!(fix.steps.len(), 1, "{fix}");
    let t = Instant::now();
    apply(&spec, &fix, &TcpConnector).await.unwrap();
    eprintln!("restore: {:?}", t.elapsed());
    assert_healthy(&spec).await;
    let h = health(&spec, &TcpConnector).await;
    for host in ["a", "b", "c"] {
        assert_eq!(masters_on(&h, host).len(), 1, "{h}");
    }
    assert!(h.replicas.iter().all(|r| r.link_up == Some(true)), "{h}");
    let again = plan_with(&spec, &inspect(&spec, &TcpConnector).await, &enforce).unwrap();
    assert!(again.is_noop() && again.drift.is_empty(), "{again}");
    let mut client = SlotClient::new(&spec).await;
    assert_eq!(client.count_good(&keys).await, keys.len());
}

/// `CLUSTER NODES` of `node`, parsed.
async fn nodes_seen_by(node: &NodeSpec) -> Vec<prov_redis::ClusterNode> {
    let mut c = connect_node(node, Some(PW), &TcpConnector).await.unwrap();
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut c)
        .await
        .unwrap();
    prov_redis::parse_cluster_nodes(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_in_moves_keys_rehomes_replicas_and_forgets_departed_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let spec3 = spec_for(&["a", "b", "c"], 21300);
    let spec2 = spec_for(&["a", "b"], 21300);
    let _servers = start_all(&spec3, dir.path()).await;
    let p = plan(&spec3, &inspect(&spec3, &TcpConnector).await).unwrap();
    apply(&spec3, &p, &TcpConnector).await.unwrap();
    assert_healthy(&spec3).await;
    let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
    let mut client = SlotClient::new(&spec3).await;
    client.set_all(&keys).await;
    let departed_ids: Vec<String> = nodes_seen_by(&spec3.nodes[4])
        .await
        .into_iter()
        .filter(|n| n.port >= 21304)
        .map(|n| n.id)
        .collect();
    assert_eq!(departed_ids.len(), 2);

    // Host c leaves the spec: refused unless asked.
    let state = inspect(&spec2, &TcpConnector).await;
    let err = plan(&spec2, &state).unwrap_err().to_string();
    assert!(err.contains("remove_departed: true"), "{err}");

    // A slot left open by an interrupted run (c:7000 -> a:7000) is finished first.
    let (a0, c0) = (spec2.nodes[0].clone(), spec3.nodes[4].clone());
    let ids = [&a0, &c0].map(|n| {
        state
            .nodes
            .iter()
            .chain(&state.nodes)
            .find_map(|st| {
                st.nodes
                    .iter()
                    .find(|v| v.port == n.port)
                    .map(|v| v.id.clone())
            })
            .unwrap()
    });
    let slot = 16000u16;
    for (n, dir, other) in [(&a0, "IMPORTING", &ids[1]), (&c0, "MIGRATING", &ids[0])] {
        let mut c = connect_node(n, Some(PW), &TcpConnector).await.unwrap();
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(dir)
            .arg(other)
            .exec_async(&mut c)
            .await
            .unwrap();
    }
    let (state, p) = scale_in_plan(&spec2).await;
    assert_eq!(state.departed.len(), 2);
    eprintln!("{p}");
    assert!(
        matches!(&p.steps[0], Step::Evacuate { resume: true, slots, to, .. }
            if *to == a0 && prov_redis::format_ranges(slots) == slot.to_string()),
        "{p}"
    );
    assert_eq!(p.slots_moved(), 5461, "{p}");
    let t = Instant::now();
    let report = apply(&spec2, &p, &TcpConnector).await.unwrap();
    eprintln!("scale in: {:?} ({:?})", report, t.elapsed());
    assert!(report.keys_migrated > 3000, "{report:?}");

    // 2 masters with 8192 slots each, a replica of each on the other host, every key intact.
    assert_healthy(&spec2).await;
    let h = health(&spec2, &TcpConnector).await;
    assert_eq!(h.total_keys, Some(10_000), "{h}");
    for m in &h.masters {
        assert_eq!(prov_redis::count_slots(&m.slots), 8192, "{h}");
    }
    let mut client = SlotClient::new(&spec2).await;
    assert_eq!(client.count_good(&keys).await, keys.len());
    // Nobody knows the departed nodes; they were reset (they know only themselves).
    for n in &spec2.nodes {
        let seen = nodes_seen_by(n).await;
        assert_eq!(seen.len(), 4, "{n}: {seen:?}");
        assert!(seen.iter().all(|v| !departed_ids.contains(&v.id)), "{n}");
    }
    for n in &spec3.nodes[4..] {
        let seen = nodes_seen_by(n).await;
        assert_eq!(seen.len(), 1, "{n} was reset: {seen:?}");
        assert!(!departed_ids.contains(&seen[0].id));
    }
    // A re-run has nothing to do; departed nodes stay gone after the forget ban (60 s) would
    // matter only if someone still gossiped about them: nobody knows them.
    let (state, again) = scale_in_plan(&spec2).await;
    assert!(state.departed.is_empty());
    assert!(again.is_noop(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_in_after_a_host_died_demotes_the_master_that_took_over() {
    let dir = tempfile::tempdir().unwrap();
    let spec3 = spec_for(&["a", "b", "c"], 21400);
    let spec2 = spec_for(&["a", "b"], 21400);
    let mut servers = start_all(&spec3, dir.path()).await;
    let p = plan(&spec3, &inspect(&spec3, &TcpConnector).await).unwrap();
    apply(&spec3, &p, &TcpConnector).await.unwrap();
    let keys: Vec<String> = (0..3_000).map(|i| format!("key:{i}")).collect();
    let mut client = SlotClient::new(&spec3).await;
    client.set_all(&keys).await;

    // c:7000 dies; its replica a:7001 takes over (host a now carries two masters).
    drop(servers.remove(4));
    let a1 = spec2.nodes[1].clone();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let st = inspect(&spec2, &TcpConnector).await;
        let me = st.nodes[1].myself().cloned();
        let ok = st.nodes.iter().all(|n| n.info.state_ok());
        if ok && me.is_some_and(|m| m.role() == prov_redis::Role::Master && !m.slots.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "{a1} did not take over");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let (_, p) = scale_in_plan(&spec2).await;
    eprintln!("{p}");
    assert!(
        p.steps
            .iter()
            .any(|s| matches!(s, Step::MoveSlots { from, .. } if *from == a1)),
        "{p}"
    );
    apply(&spec2, &p, &TcpConnector).await.unwrap();
    assert_healthy(&spec2).await;
    let h = health(&spec2, &TcpConnector).await;
    assert_eq!(masters_on(&h, "a"), vec![21400], "{h}");
    assert_eq!(masters_on(&h, "b"), vec![21402], "{h}");
    let mut client = SlotClient::new(&spec2).await;
    assert_eq!(client.count_good(&keys).await, keys.len());
    let (_, again) = scale_in_plan(&spec2).await;
    assert!(again.is_noop(), "{again}");
}
