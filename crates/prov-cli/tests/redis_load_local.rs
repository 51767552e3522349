//! The load client of the Redis lab tests (`support::load`) checked against real
//! `redis-server` processes on loopback (needs `redis-server` in PATH): a plain failover
//! under load (prov's drain, then layout enforce) costs no failed attempt and no key, while a
//! master paused without failover does show up as failed attempts and a stall — so the
//! zeros the lab test asserts are measured, not assumed.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prov_redis::{
    ClusterSpec, LayoutPolicy, NodeConnector, NodeSpec, PlanOptions, TcpConnector, apply,
    connect_node, inspect, plan, plan_with,
};
use support::load::{LoadClient, LoadReport};

const PW: &str = "l0ad-test-pw";

/// A redis-server child process, killed (by PID) when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(port: u16, dir: &Path) -> Server {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"])
        .arg("--cluster-config-file")
        .arg(dir.join(format!("nodes-{port}.conf")))
        .args(["--requirepass", PW, "--masterauth", PW])
        .arg("--dir")
        .arg(dir)
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    Server(child)
}

fn spec(base: u16) -> ClusterSpec {
    let nodes = ["a", "b", "c"]
        .iter()
        .enumerate()
        .flat_map(|(h, host)| {
            (0..2u16).map(move |p| NodeSpec::new(*host, "127.0.0.1", base + 2 * h as u16 + p))
        })
        .collect();
    ClusterSpec {
        nodes,
        replicas_per_master: 1,
        password: Some(PW.into()),
    }
}

async fn form(spec: &ClusterSpec) {
    let deadline = Instant::now() + Duration::from_secs(15);
    for n in &spec.nodes {
        while connect_node(n, Some(PW), &TcpConnector).await.is_err() {
            assert!(Instant::now() < deadline, "{n} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let p = plan(spec, &inspect(spec, &TcpConnector).await).unwrap();
    apply(spec, &p, &TcpConnector).await.unwrap();
}

/// Runs the load client while `during` runs, then a second more.
async fn under_load<F: std::future::Future<Output = ()>>(
    spec: &ClusterSpec,
    during: F,
) -> LoadReport {
    let connector: Arc<dyn NodeConnector> = Arc::new(TcpConnector);
    let stop = Arc::new(AtomicBool::new(false));
    let client = LoadClient::new(spec.nodes.clone(), connector, PW);
    let load = tokio::spawn(client.run(stop.clone(), Duration::from_secs(120)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    during.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap()
}

async fn enforce(spec: &ClusterSpec, drain: Option<&str>) {
    let opts = PlanOptions {
        layout: LayoutPolicy::Enforce,
        drain_host: drain.map(str::to_owned),
        ..PlanOptions::default()
    };
    let p = plan_with(spec, &inspect(spec, &TcpConnector).await, &opts).unwrap();
    assert_eq!(p.steps.len(), 1, "{p}");
    apply(spec, &p, &TcpConnector).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_failover_under_load_fails_nothing_and_a_paused_master_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(21500);
    let servers: Vec<Server> = spec
        .nodes
        .iter()
        .map(|n| start_server(n.port, dir.path()))
        .collect();
    form(&spec).await;

    let failover = under_load(&spec, async {
        enforce(&spec, Some("a")).await;
        enforce(&spec, None).await;
    })
    .await;
    eprintln!("drain and restore under load: {failover}");
    assert!(failover.writes > 100, "{failover}");
    assert_eq!(failover.failed_attempts, 0, "{failover}");
    assert_eq!(failover.lost_keys, 0, "{failover}");
    assert_eq!(failover.given_up, 0, "{failover}");

    // a:21500 is master again; pausing it (SIGSTOP, no failover within 2 s) must be seen.
    let pid = servers[0].0.id().to_string();
    let paused = under_load(&spec, async {
        let stop = Command::new("kill").args(["-STOP", &pid]).status().unwrap();
        assert!(stop.success());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cont = Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        assert!(cont.success());
    })
    .await;
    eprintln!("master paused 3 s: {paused}");
    assert!(paused.failed_attempts > 0, "{paused}");
    assert!(paused.longest_stall >= Duration::from_secs(2), "{paused}");
    assert_eq!(paused.lost_keys, 0, "{paused}");
}
