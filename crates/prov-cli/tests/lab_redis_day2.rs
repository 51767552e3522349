//! Redis Cluster day 2 on real lab hosts (issue #19): layout drift after a failover is seen
//! in every run and in `--check --diff` without counting as a change, repaired on request by
//! a plain `CLUSTER FAILOVER`, and the task result carries the cluster's health.
//!
//! 1. fresh 3 hosts; `--check` on the healthy cluster: changed=0, the result's `cluster`
//!    shows cluster_state ok, one master and one replica per host, slots, links up, no drift;
//! 2. lab1's master is stopped, its replica on lab2 takes over, the node returns as a replica:
//!    lab2 carries two masters;
//! 3. `--check --diff` and a plain run report the drift (changed=0) and touch nothing;
//! 4. `-e redis_layout=enforce` fails lab2:7001 back to lab1:7000 (plain failover), every
//!    node agrees, the keys are intact, a second enforce run changes nothing;
//! 5. scale in: lab3 leaves the `redis` group. A run refuses its nodes with a message saying
//!    how to scale in; `--check --diff -e redis_remove_departed=true` shows the plan and
//!    changes nothing; the real run moves lab3's slots to lab1 and lab2 with the keys,
//!    re-homes lab1:7001 (which followed lab3:7000) onto lab2's master, and every remaining
//!    node forgets lab3's nodes (reset afterwards). All 16384 slots on the two masters, a
//!    replica of each on the other host, the 10,000 keys intact, a re-run changes nothing.

mod support;

use std::time::{Duration, Instant};

use prov_lab::Lab;
use prov_redis::{ClusterNode, Role};
use serde_json::Value;
use support::lab;
use support::redis::{
    addr_of, intended_masters, keys, masters_by_host, redis_cli, redis_password, run, run_with,
    wait_healthy,
};

/// The `redis_cluster` task's result of a run.
fn cluster_result(out: &lab::RunOutput) -> Value {
    out.results()
        .into_iter()
        .find(|r| r["module"] == "redis_cluster")
        .cloned()
        .unwrap_or_else(|| panic!("no redis_cluster result:\n{}\n{}", out.stdout, out.stderr))
}

/// Waits until `ip:port`'s node is promoted away (another node serves its slots) as seen by
/// lab2:7000.
fn wait_promoted_away(lab: &Lab, pw: &str, host: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let info = redis_cli(lab, "lab2", &addr_of("lab2"), 7000, pw, "cluster info");
        let nodes = redis_cli(lab, "lab2", &addr_of("lab2"), 7000, pw, "cluster nodes");
        let parsed = prov_redis::parse_cluster_nodes(&nodes).unwrap_or_default();
        let serving: Vec<&ClusterNode> = parsed
            .iter()
            .filter(|n| n.role() == Role::Master && !n.slots.is_empty())
            .collect();
        let gone = serving.len() == 3
            && !serving
                .iter()
                .any(|n| n.ip == addr_of(host) && n.port == port);
        if info.contains("cluster_state:ok") && gone {
            return;
        }
        assert!(Instant::now() < deadline, "no failover:\n{info}\n{nodes}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn assert_health_result(cluster: &Value, hosts: &[&str]) {
    assert_eq!(cluster["cluster_state"], "ok", "{cluster:#}");
    assert_eq!(cluster["healthy"], true, "{cluster:#}");
    assert_eq!(cluster["slots_served"], 16384, "{cluster:#}");
    let masters = cluster["masters"].as_array().expect("masters");
    assert_eq!(masters.len(), hosts.len(), "{cluster:#}");
    let slots: u64 = masters
        .iter()
        .map(|m| m["slot_count"].as_u64().unwrap())
        .sum();
    assert_eq!(slots, 16384);
    let replicas = cluster["replicas"].as_array().expect("replicas");
    assert_eq!(replicas.len(), hosts.len(), "{cluster:#}");
    for r in replicas {
        assert_eq!(r["link"], "up", "{r}");
        assert!(r["repl_offset"].as_u64().is_some(), "{r}");
        assert!(r["lag"].as_u64().is_some(), "{r}");
    }
}

#[test]
fn redis_layout_drift_is_reported_and_repaired() {
    let Some(lab) = lab::lab() else { return };
    lab.down(false).expect("lab down");
    lab.up(6).expect("lab up 6 hosts");
    let pw = redis_password();
    let hosts = ["lab1", "lab2", "lab3"];
    let inv = lab::inventory(&lab, &hosts);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // 1. A fresh cluster; --check on it changes nothing and shows its health.
    let t = Instant::now();
    let first = run(inv.path(), &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    eprintln!("fresh run: {:.1}s", t.elapsed().as_secs_f64());
    wait_healthy(&lab, &hosts, &pw);
    rt.block_on(keys(&lab, &hosts, &pw, true));
    let check = run(inv.path(), &["--check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(check.total_changed(), 0, "{:#?}", check.changed_results());
    let r = cluster_result(&check);
    let cluster = &r["result"]["cluster"];
    assert_health_result(cluster, &hosts);
    for h in hosts {
        let roles = &cluster["hosts"][h];
        assert_eq!(roles["masters"], serde_json::json!([7000]), "{cluster:#}");
        assert_eq!(roles["replicas"], serde_json::json!([7001]), "{cluster:#}");
    }
    assert_eq!(cluster["drift"], serde_json::json!([]), "{cluster:#}");
    assert!(!check.stdout.contains(&pw), "password in the JSON events");

    // 2. lab1's master fails over to lab2:7001 and comes back as its replica.
    let stop = lab
        .exec("lab1", &["systemctl", "stop", "redis-server@7000"])
        .unwrap();
    assert!(stop.success(), "{}", stop.stderr);
    wait_promoted_away(&lab, &pw, "lab1", 7000);
    let start = lab
        .exec("lab1", &["systemctl", "start", "redis-server@7000"])
        .unwrap();
    assert!(start.success(), "{}", start.stderr);
    wait_healthy(&lab, &hosts, &pw);
    let drifted = vec![
        ("lab1".to_string(), vec![]),
        ("lab2".to_string(), vec![7000, 7001]),
        ("lab3".to_string(), vec![7000]),
    ];
    assert_eq!(masters_by_host(&lab, &pw, &hosts, 7000), drifted);

    // 3. Reported by --check --diff and by a plain run, not a change, nothing touched.
    let check = run(inv.path(), &["--check", "--diff", "--detailed-exitcode"]);
    assert_eq!(check.code, 0, "drift is no change: {}", check.stderr);
    let r = cluster_result(&check);
    assert_eq!(r["changed"], false, "{r:#}");
    let drift = r["result"]["cluster"]["drift"].as_array().unwrap().clone();
    assert_eq!(drift.len(), 1, "{r:#}");
    assert_eq!(drift[0]["kind"], "master_demoted");
    assert_eq!(drift[0]["node"], "lab1:7000");
    assert_eq!(
        r["result"]["cluster"]["hosts"]["lab2"]["masters"],
        serde_json::json!([7000, 7001])
    );
    let diffs = serde_json::to_string(&r["diffs"]).unwrap();
    assert!(
        diffs.contains("lab1: replica 7000 of lab2:7001") && diffs.contains("lab1: master 7000"),
        "{diffs}"
    );
    let text = run_with(inv.path(), &["--check", "--diff"], true);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("+lab1: master 7000"),
        "{}",
        text.stdout
    );
    let plain = run(inv.path(), &[]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert_eq!(plain.total_changed(), 0, "{:#?}", plain.changed_results());
    assert_eq!(
        masters_by_host(&lab, &pw, &hosts, 7000),
        drifted,
        "report never touches"
    );

    // A value the module does not know is refused, not ignored.
    let bad = run(inv.path(), &["--check", "-e", "redis_failover_mode=hard"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stdout.contains("failover_mode") || bad.stderr.contains("failover_mode"),
        "{}\n{}",
        bad.stdout,
        bad.stderr
    );

    // 4. Enforced: a plain failover back to lab1:7000; every node agrees; keys intact.
    let check = run(inv.path(), &["--check", "-e", "redis_layout=enforce"]);
    assert_eq!(
        check.total_changed(),
        1,
        "{:#}\n{}",
        cluster_result(&check),
        check.stderr
    );
    let t = Instant::now();
    let fix = run(inv.path(), &["-e", "redis_layout=enforce"]);
    assert_eq!(fix.code, 0, "{}\n{}", fix.stdout, fix.stderr);
    eprintln!("enforce run: {:.1}s", t.elapsed().as_secs_f64());
    let r = cluster_result(&fix);
    assert_eq!(r["changed"], true);
    assert_eq!(
        r["result"]["steps"],
        serde_json::json!([check_step(&check)]),
        "the run did what the check predicted"
    );
    assert_health_result(&r["result"]["cluster"], &hosts);
    assert_eq!(r["result"]["cluster"]["drift"], serde_json::json!([]));
    wait_healthy(&lab, &hosts, &pw);
    assert_eq!(
        masters_by_host(&lab, &pw, &hosts, 7000),
        intended_masters(&hosts)
    );
    rt.block_on(keys(&lab, &hosts, &pw, false));
    let again = run(inv.path(), &["-e", "redis_layout=enforce"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.total_changed(), 0, "{:#?}", again.changed_results());

    scale_in(&lab, &pw, &inv, &rt);
}

/// Node ids as `host:seen_from` sees them, by endpoint `host:port`.
fn ids_by_node(lab: &Lab, pw: &str, host: &str) -> Vec<(String, String)> {
    let text = redis_cli(lab, host, &addr_of(host), 7000, pw, "cluster nodes");
    prov_redis::parse_cluster_nodes(&text)
        .expect("cluster nodes")
        .into_iter()
        .map(|n| {
            (
                format!("{}:{}", support::redis::host_of_ip(&n.ip), n.port),
                n.id,
            )
        })
        .collect()
}

/// Step 5: lab3 leaves the group; its slots, keys and replicas move to lab1 and lab2.
fn scale_in(lab: &Lab, pw: &str, inv: &tempfile::TempDir, rt: &tokio::runtime::Runtime) {
    let two = ["lab1", "lab2"];
    let departed: Vec<String> = ids_by_node(lab, pw, "lab1")
        .into_iter()
        .filter(|(n, _)| n.starts_with("lab3:"))
        .map(|(_, id)| id)
        .collect();
    assert_eq!(departed.len(), 2, "lab3's nodes");
    lab::write_redis_group(inv.path(), &two);

    // Not asked: refused, saying how.
    let refused = run(inv.path(), &["--check"]);
    assert_ne!(refused.code, 0);
    let all = format!("{}{}", refused.stdout, refused.stderr);
    assert!(all.contains("redis_remove_departed=true"), "{all}");

    // Check mode shows the plan and touches nothing.
    let scale = ["-e", "redis_remove_departed=true"];
    let check = run(inv.path(), &["--check", "--diff", scale[0], scale[1]]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    assert_eq!(check.total_changed(), 1, "{:#?}", check.changed_results());
    let r = cluster_result(&check);
    let text = r["summary"].to_string();
    assert!(
        text.contains("Scale in: 2 departed node(s)") && text.contains("re-homed"),
        "{r:#}"
    );
    assert_eq!(
        r["result"]["departed"].as_array().map(Vec::len),
        Some(2),
        "{r:#}"
    );
    let planned = planned_steps(&check);
    assert!(
        planned.iter().any(|s| s.contains("CLUSTER FORGET")),
        "{planned:?}"
    );
    let still: Vec<String> = ids_by_node(lab, pw, "lab1")
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert!(
        departed.iter().all(|id| still.contains(id)),
        "check mode changed nothing"
    );

    // The real run does what the check planned.
    let t = Instant::now();
    let out = run(inv.path(), &scale);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    eprintln!("scale-in run: {:.1}s", t.elapsed().as_secs_f64());
    let r = cluster_result(&out);
    assert_eq!(r["result"]["steps"], serde_json::json!(planned), "{r:#}");
    assert!(
        r["result"]["keys_migrated"].as_u64().unwrap() > 2000,
        "{r:#}"
    );
    assert_health_result(&r["result"]["cluster"], &two);

    // 16384 slots on the two masters, each with a replica on the other host (checked by
    // wait_healthy), every key readable with its value, lab3's nodes unknown everywhere.
    let nodes = wait_healthy(lab, &two, pw);
    for m in nodes.iter().filter(|n| n.role() == Role::Master) {
        assert_eq!(m.port, 7000, "{nodes:?}");
        assert_eq!(m.slot_count(), 8192, "{nodes:?}");
    }
    rt.block_on(keys(lab, &two, pw, false));
    for h in two {
        for port in [7000, 7001] {
            let seen = redis_cli(lab, h, &addr_of(h), port, pw, "cluster nodes");
            assert!(
                departed.iter().all(|id| !seen.contains(id.as_str())),
                "{h}:{port} still knows a departed node:\n{seen}"
            );
        }
    }
    for port in [7000, 7001] {
        let info = redis_cli(lab, "lab3", &addr_of("lab3"), port, pw, "cluster info");
        assert!(
            info.contains("cluster_known_nodes:1"),
            "lab3:{port} reset:\n{info}"
        );
    }

    // A re-run, asked to scale in or not, changes nothing.
    let again = run(inv.path(), &scale);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.total_changed(), 0, "{:#?}", again.changed_results());
}

/// The steps of the `redis_cluster` task's plan (its summary's numbered lines).
fn planned_steps(out: &lab::RunOutput) -> Vec<String> {
    let r = cluster_result(out);
    r["summary"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .filter_map(|s| {
            let (num, step) = s.trim().split_once(". ")?;
            num.parse::<usize>().ok().map(|_| step.to_owned())
        })
        .collect()
}

/// The failover step the check run planned.
fn check_step(check: &lab::RunOutput) -> String {
    let r = cluster_result(check);
    let summary: Vec<String> = r["summary"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .filter_map(|s| s.trim().strip_prefix("1. "))
        .map(str::to_owned)
        .collect();
    assert_eq!(summary.len(), 1, "{r:#}");
    assert!(summary[0].contains("CLUSTER FAILOVER)"), "{summary:?}");
    summary[0].clone()
}
