//! The flagship job end to end on real lab hosts: `prov run playbooks/redis-cluster.yml`
//! against systemd, apt, nftables and redis-server inside network namespaces, reached over SSH.
//!
//! One test, in order (each step builds on the previous one's state):
//!
//! 1. fresh 3 hosts: cluster_state:ok everywhere, 16384 slots, 3 masters + 3 replicas, no
//!    replica on its master's host;
//! 2. 10,000 keys written and read back through SSH tunnels;
//! 3. re-run and `--check` report changed=0;
//! 4. a hand-edited config shows in `--check --diff` and the run restores it, restarting only
//!    that node;
//! 5. the firewall admits Redis from the internal network only, SSH from the admin network;
//! 6. a stopped master fails over to its replica on another host, keys stay readable, the next
//!    run brings the node back as a replica;
//! 7. scale-out to 4 hosts rebalances slots with the keys intact.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prov_lab::Lab;
use prov_redis::{ClusterNode, Role};
use support::lab;
use support::redis::{
    addr_of, assert_healthy, keys, nodes_of, redis_cli, redis_password, run, run_text, wait_healthy,
};

fn run_ids(lab: &Lab, hosts: &[&str], pw: &str) -> HashMap<(String, u16), String> {
    nodes_of(hosts)
        .into_iter()
        .map(|(h, p)| {
            let info = redis_cli(lab, &h, &addr_of(&h), p, pw, "info server");
            let id = info
                .lines()
                .find_map(|l| l.strip_prefix("run_id:"))
                .unwrap_or("")
                .trim()
                .to_owned();
            assert!(!id.is_empty(), "{h}:{p} has no run_id:\n{info}");
            ((h, p), id)
        })
        .collect()
}

fn tcp_open(lab: &Lab, from: &str, to: &str, port: u16) -> bool {
    let script = format!(
        "timeout 3 bash -c '</dev/tcp/{}/{port}' 2>/dev/null",
        addr_of(to)
    );
    lab.exec(from, &["sh", "-c", &script])
        .expect("exec")
        .success()
}

#[test]
fn redis_cluster_end_to_end() {
    let Some(lab) = lab::lab() else { return };
    lab.down(false).expect("lab down");
    lab.up(6).expect("lab up 6 hosts");
    let pw = redis_password();
    let hosts = ["lab1", "lab2", "lab3"];
    let inv = lab::inventory(&lab, &hosts);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // 1. Fresh hosts, console output with --diff, while the hosts' process lists are sampled:
    //    the vault password must show up in none of them.
    let t = Instant::now();
    let sampler = ProcessSampler::start(&lab, &hosts);
    let first = run_text(inv.path(), &["--diff"]);
    let processes = sampler.stop();
    assert_eq!(
        first.code, 0,
        "fresh run failed:\n{}\n{}",
        first.stdout, first.stderr
    );
    eprintln!(
        "fresh run: {:.1}s ({} process-list samples)",
        t.elapsed().as_secs_f64(),
        processes.len()
    );
    assert_healthy(&lab, &hosts, &pw);
    // A fresh node starts once, already with its configuration: no restart on a fresh host.
    for h in hosts {
        for port in [7000, 7001] {
            let unit = format!("redis-server@{port}");
            let log = lab
                .exec(h, &["journalctl", "-u", &unit, "-o", "cat", "--no-pager"])
                .expect("journalctl");
            let starts = log
                .stdout
                .lines()
                .filter(|l| l.starts_with("Started"))
                .count();
            assert_eq!(
                starts, 1,
                "{h} {unit} started {starts} times:\n{}",
                log.stdout
            );
        }
    }
    assert!(
        first.stdout.contains("+requirepass ********"),
        "the diff shows the masked line:\n{}",
        first.stdout
    );
    assert!(
        !first.stdout.contains(&pw) && !first.stderr.contains(&pw),
        "password leaked into console output"
    );
    assert!(processes.len() > 10, "too few process samples");
    assert!(
        !processes.iter().any(|p| p.contains(&pw)),
        "password seen in a remote process's arguments"
    );

    // 2. 10,000 keys through the cluster.
    rt.block_on(keys(&lab, &hosts, &pw, true));
    rt.block_on(keys(&lab, &hosts, &pw, false));

    // 3. Idempotence: a re-run and a check run change nothing.
    let t = Instant::now();
    let again = run(inv.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.total_changed(),
        0,
        "re-run changed: {:#?}",
        again.changed_results()
    );
    eprintln!("idempotent re-run: {:.2}s", t.elapsed().as_secs_f64());
    let check = run(inv.path(), &["--check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(
        check.total_changed(),
        0,
        "check on converged: {:#?}",
        check.changed_results()
    );

    // 4. Drift on one node: seen by --check --diff, repaired by the run, only that node restarted.
    let before = run_ids(&lab, &hosts, &pw);
    let edit = lab
        .exec(
            "lab2",
            &[
                "sed",
                "-i",
                "s/^maxmemory .*/maxmemory 32mb/",
                "/etc/redis/redis-7000.conf",
            ],
        )
        .unwrap();
    assert!(edit.success(), "{}", edit.stderr);
    let drift = run(inv.path(), &["--check", "--diff", "--detailed-exitcode"]);
    assert_eq!(
        drift.code, 5,
        "drift must exit 5 with --detailed-exitcode: {}",
        drift.stderr
    );
    // The check predicts the config rewrite and the restart of that one node, nothing else.
    let changed = drift.changed_results();
    let mut what: Vec<(String, String, String)> = changed
        .iter()
        .map(|r| {
            (
                r["host"].as_str().unwrap_or("").into(),
                r["module"].as_str().unwrap_or("").into(),
                r["item"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    what.sort();
    assert_eq!(
        what,
        vec![
            ("lab2".into(), "service".into(), "7000".into()),
            ("lab2".into(), "template".into(), "7000".into())
        ],
        "{changed:#?}"
    );
    let template = changed.iter().find(|r| r["module"] == "template").unwrap();
    let diff = serde_json::to_string(&template["diffs"]).unwrap();
    assert!(
        diff.contains("maxmemory 32mb") && diff.contains("maxmemory 64mb"),
        "{diff}"
    );
    assert!(!drift.stdout.contains(&pw), "password leaked into the diff");
    let fix = run(inv.path(), &[]);
    assert_eq!(fix.code, 0, "{}", fix.stderr);
    let after = run_ids(&lab, &hosts, &pw);
    for (node, id) in &before {
        let restarted = after[node] != *id;
        assert_eq!(
            restarted,
            *node == ("lab2".to_string(), 7000),
            "node {node:?} restarted={restarted}"
        );
    }
    let conf = lab
        .exec(
            "lab2",
            &["grep", "^maxmemory", "/etc/redis/redis-7000.conf"],
        )
        .unwrap();
    assert_eq!(conf.stdout.trim(), "maxmemory 64mb");
    wait_healthy(&lab, &hosts, &pw);

    // 5. Firewall: Redis only from the internal network (lab1..lab5), SSH from the lab network.
    assert!(
        tcp_open(&lab, "lab1", "lab2", 7000),
        "inside the internal network"
    );
    assert!(tcp_open(&lab, "lab1", "lab2", 17000), "bus port inside");
    assert!(
        !tcp_open(&lab, "lab6", "lab2", 7000),
        "lab6 (10.77.0.16) is outside 10.77.0.8/29"
    );
    assert!(!tcp_open(&lab, "lab6", "lab2", 17001), "bus port outside");
    assert!(
        tcp_open(&lab, "lab6", "lab2", 22),
        "SSH from the admin network"
    );

    // 6. Failover: stop lab1's master; its replica on another host takes over.
    let stop = lab
        .exec("lab1", &["systemctl", "stop", "redis-server@7000"])
        .unwrap();
    assert!(stop.success(), "{}", stop.stderr);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let info = redis_cli(&lab, "lab2", &addr_of("lab2"), 7000, &pw, "cluster info");
        let nodes = redis_cli(&lab, "lab2", &addr_of("lab2"), 7000, &pw, "cluster nodes");
        let parsed = prov_redis::parse_cluster_nodes(&nodes).unwrap_or_default();
        let serving: Vec<&ClusterNode> = parsed
            .iter()
            .filter(|n| n.role() == Role::Master && !n.slots.is_empty())
            .collect();
        // Promoted: the stopped node serves no slots any more and 3 masters serve them all.
        let promoted = serving.len() == 3
            && !serving
                .iter()
                .any(|n| n.ip == addr_of("lab1") && n.port == 7000);
        if info.contains("cluster_state:ok") && promoted {
            break;
        }
        assert!(Instant::now() < deadline, "no failover:\n{info}\n{nodes}");
        std::thread::sleep(Duration::from_millis(500));
    }
    rt.block_on(keys(&lab, &hosts, &pw, false));
    let back = run(inv.path(), &[]);
    assert_eq!(back.code, 0, "{}\n{}", back.stdout, back.stderr);
    let nodes = wait_healthy(&lab, &hosts, &pw);
    let old = nodes
        .iter()
        .find(|n| n.ip == addr_of("lab1") && n.port == 7000)
        .unwrap();
    assert_eq!(
        old.role(),
        Role::Replica,
        "the returning node rejoins as a replica"
    );

    // 7. Scale-out to 4 hosts.
    let hosts4 = ["lab1", "lab2", "lab3", "lab4"];
    lab::write_redis_group(inv.path(), &hosts4);
    let grow = run(inv.path(), &[]);
    assert_eq!(
        grow.code, 0,
        "scale-out failed:\n{}\n{}",
        grow.stdout, grow.stderr
    );
    wait_healthy(&lab, &hosts4, &pw);
    rt.block_on(keys(&lab, &hosts4, &pw, false));

    // The password is in no host's logs (journal, /var/log).
    for h in hosts4 {
        let script = "journalctl --no-pager -o cat 2>/dev/null; cat /var/log/redis/*.log /var/log/*.log 2>/dev/null";
        let logs = lab.exec(h, &["sh", "-c", script]).unwrap().stdout;
        assert!(logs.len() > 1000, "{h}: logs were read");
        assert!(
            !logs.contains(&pw),
            "{h}: password found in the host's logs"
        );
    }
}

/// Samples `ps` on lab hosts in the background until stopped.
struct ProcessSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<String>>,
}

impl ProcessSampler {
    fn start(lab: &Lab, hosts: &[&str]) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (lab, hosts, flag) = (
            lab.clone(),
            hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
            stop.clone(),
        );
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for h in &hosts {
                    if let Ok(out) = lab.exec(h, &["ps", "-eo", "args"]) {
                        seen.push(out.stdout);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        });
        Self { stop, handle }
    }

    fn stop(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().expect("sampler thread")
    }
}
