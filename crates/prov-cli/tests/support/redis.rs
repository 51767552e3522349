//! Helpers shared by the Redis lab tests: the lab's vault password, redis-cli inside hosts
//! (password on stdin), SSH tunnels to nodes, keys written and read through the cluster, and
//! `prov run` of the Redis playbooks.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prov_core::Connection;
use prov_lab::Lab;
use prov_redis::{ClusterNode, NodeConnector, NodeSpec, NodeStream, Role};
use prov_transport::ssh::{SshConnection, SshParams};

use super::lab::{self, prov};

/// Keys written and read back by [`keys`].
pub const KEYS: usize = 10_000;

pub fn vault_password_file() -> String {
    lab::repo_root()
        .join("inventories/lab/vault-password")
        .display()
        .to_string()
}

pub fn redis_password() -> String {
    let pw = prov_vault::VaultSecret::from_file(
        "default",
        &lab::repo_root().join("inventories/lab/vault-password"),
    )
    .expect("lab vault password");
    let plain = prov_vault::decrypt_file(
        &lab::repo_root().join("inventories/lab/group_vars/redis/vault.yml"),
        &prov_vault::VaultPasswords::single(pw),
    )
    .expect("decrypt lab vault");
    let text = String::from_utf8(plain.to_vec()).unwrap();
    let v: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    v["redis_password"]
        .as_str()
        .expect("redis_password in vault")
        .to_owned()
}

/// Runs redis-cli inside `host` against `addr:port`, the password on stdin (never in argv).
pub fn redis_cli(lab: &Lab, host: &str, addr: &str, port: u16, pw: &str, args: &str) -> String {
    let script = format!(
        "read -r p; REDISCLI_AUTH=\"$p\" redis-cli --no-auth-warning -h {addr} -p {port} {args}"
    );
    let out = lab
        .exec_with_input(
            host,
            &["sh", "-c", &script],
            Some(format!("{pw}\n").as_bytes()),
        )
        .expect("exec in lab host");
    out.stdout
}

pub fn addr_of(host: &str) -> String {
    let i = prov_lab::host_index(host).expect("lab host");
    prov_lab::host_address(i).to_string()
}

pub fn host_of_ip(ip: &str) -> String {
    let last: usize = ip.rsplit('.').next().unwrap().parse().unwrap();
    prov_lab::host_name(last - 10)
}

pub fn nodes_of(hosts: &[&str]) -> Vec<(String, u16)> {
    hosts
        .iter()
        .flat_map(|h| [(h.to_string(), 7000), (h.to_string(), 7001)])
        .collect()
}

/// Checks the whole cluster from every node's point of view; returns the nodes as seen by the
/// first one.
pub fn assert_healthy(lab: &Lab, hosts: &[&str], pw: &str) -> Vec<ClusterNode> {
    for (h, port) in nodes_of(hosts) {
        let info = redis_cli(lab, &h, &addr_of(&h), port, pw, "cluster info");
        assert!(
            info.contains("cluster_state:ok"),
            "{h}:{port} cluster info:\n{info}"
        );
        assert!(
            info.contains("cluster_slots_assigned:16384"),
            "{h}:{port}:\n{info}"
        );
        assert!(
            info.contains(&format!("cluster_known_nodes:{}", hosts.len() * 2)),
            "{h}:{port}:\n{info}"
        );
    }
    let text = redis_cli(lab, hosts[0], &addr_of(hosts[0]), 7000, pw, "cluster nodes");
    let nodes = prov_redis::parse_cluster_nodes(&text).expect("cluster nodes parse");
    let masters: Vec<&ClusterNode> = nodes
        .iter()
        .filter(|n| n.role() == Role::Master && !n.slots.is_empty())
        .collect();
    let replicas: Vec<&ClusterNode> = nodes.iter().filter(|n| n.role() == Role::Replica).collect();
    assert_eq!(masters.len(), hosts.len(), "masters:\n{text}");
    assert_eq!(replicas.len(), hosts.len(), "replicas:\n{text}");
    let by_id: HashMap<&str, &ClusterNode> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    for r in &replicas {
        let m = by_id[r.master_id.as_deref().expect("replica has a master")];
        assert_ne!(
            r.ip, m.ip,
            "replica {}:{} is on its master's host:\n{text}",
            r.ip, r.port
        );
    }
    let slots: usize = masters.iter().map(|m| m.slot_count()).sum();
    assert_eq!(slots, 16384);
    nodes
}

/// Reaches nodes through SSH direct-tcpip streams of their own hosts (the product's path).
pub struct Tunnels {
    /// One SSH connection per host.
    pub conns: HashMap<String, Arc<SshConnection>>,
}

#[async_trait]
impl NodeConnector for Tunnels {
    async fn connect(&self, node: &NodeSpec) -> std::io::Result<Box<dyn NodeStream>> {
        let c = self
            .conns
            .get(&node.host)
            .ok_or_else(|| std::io::Error::other("no such host"))?;
        let s = c
            .open_tcp(&node.addr, node.port)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Box::new(s))
    }
}

pub async fn tunnels(lab: &Lab, hosts: &[&str]) -> Tunnels {
    let mut conns = HashMap::new();
    for h in hosts {
        let p = SshParams::new(*h, addr_of(h))
            .with_user("root")
            .with_identity_file(lab.private_key())
            .with_known_hosts_file(lab.known_hosts());
        conns.insert(
            h.to_string(),
            Arc::new(SshConnection::connect(&p).await.expect("ssh to lab host")),
        );
    }
    Tunnels { conns }
}

/// Writes (`write = true`) or reads back and checks every key, routing each key to the master
/// that serves its slot.
pub async fn keys(lab: &Lab, hosts: &[&str], pw: &str, write: bool) {
    let owner = slot_owners(lab, hosts, pw);
    let t = tunnels(lab, hosts).await;
    let mut batches: HashMap<(String, String, u16), Vec<usize>> = HashMap::new();
    for i in 0..KEYS {
        let key = format!("key:{i}");
        let o = owner[prov_redis::key_slot(key.as_bytes()) as usize]
            .clone()
            .expect("slot served");
        batches.entry(o).or_default().push(i);
    }
    for ((host, ip, port), ids) in batches {
        let spec = NodeSpec::new(host, ip, port);
        let mut con = prov_redis::connect_node(&spec, Some(pw), &t)
            .await
            .expect("connect node");
        let mut pipe = prov_redis::redis::pipe();
        for i in &ids {
            if write {
                pipe.cmd("SET")
                    .arg(format!("key:{i}"))
                    .arg(format!("value-{i}"))
                    .ignore();
            } else {
                pipe.cmd("GET").arg(format!("key:{i}"));
            }
        }
        if write {
            let _: () = pipe.query_async(&mut con).await.expect("SET pipeline");
        } else {
            let got: Vec<Option<String>> = pipe.query_async(&mut con).await.expect("GET pipeline");
            for (i, v) in ids.iter().zip(got) {
                assert_eq!(
                    v.as_deref(),
                    Some(format!("value-{i}").as_str()),
                    "key:{i} on {spec}"
                );
            }
        }
    }
}

pub type Owner = (String, String, u16);

/// Who serves each slot, once every node that answers agrees (gossip settles within seconds
/// after a failover or a migration).
pub fn slot_owners(lab: &Lab, hosts: &[&str], pw: &str) -> Vec<Option<Owner>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let views: Vec<Vec<Option<Owner>>> = nodes_of(hosts)
            .iter()
            .map(|(h, p)| redis_cli(lab, h, &addr_of(h), *p, pw, "cluster nodes"))
            .filter(|t| !t.trim().is_empty())
            .map(|text| {
                let mut owner = vec![None; 16384];
                let nodes = prov_redis::parse_cluster_nodes(&text).unwrap_or_default();
                for n in nodes
                    .iter()
                    .filter(|n| n.role() == Role::Master && !n.is_failing())
                {
                    for r in &n.slots {
                        for s in r.start..=r.end {
                            owner[s as usize] = Some((host_of_ip(&n.ip), n.ip.clone(), n.port));
                        }
                    }
                }
                owner
            })
            .collect();
        let agreed = !views.is_empty()
            && views.iter().all(|v| v == &views[0])
            && views[0].iter().all(Option::is_some);
        if agreed {
            return views[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "nodes do not agree on slot owners"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs the Redis playbook on `inv` with the lab's vault password: JSON events, or the
/// console's text output with `text`.
pub fn run_with(inv: &std::path::Path, extra: &[&str], text: bool) -> lab::RunOutput {
    run_playbook("playbooks/redis-cluster.yml", inv, extra, text)
}

/// Runs `play` (a path from the repository root) on `inv` with the lab's vault password: JSON
/// events, or the console's text output with `text`.
pub fn run_playbook(
    play: &str,
    inv: &std::path::Path,
    extra: &[&str],
    text: bool,
) -> lab::RunOutput {
    let inv = inv.display().to_string();
    let pwf = vault_password_file();
    let mut args = vec!["run", play, "-i", &inv, "--vault-password-file", &pwf];
    args.extend_from_slice(extra);
    if text {
        lab::prov_text(&args)
    } else {
        prov(&args)
    }
}

pub fn run_text(inv: &std::path::Path, extra: &[&str]) -> lab::RunOutput {
    run_with(inv, extra, true)
}

pub fn run(inv: &std::path::Path, extra: &[&str]) -> lab::RunOutput {
    run_with(inv, extra, false)
}

/// Waits (up to 30 s) until every node agrees, then checks everything.
pub fn wait_healthy(lab: &Lab, hosts: &[&str], pw: &str) -> Vec<ClusterNode> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all_ok = nodes_of(hosts).iter().all(|(h, p)| {
            let info = redis_cli(lab, h, &addr_of(h), *p, pw, "cluster info");
            info.contains("cluster_state:ok")
                && info.contains(&format!("cluster_known_nodes:{}", hosts.len() * 2))
        });
        if all_ok || Instant::now() > deadline {
            return assert_healthy(lab, hosts, pw);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The ports of the masters serving slots on each host, as `lab3:seen_from` sees the cluster.
pub fn masters_by_host(
    lab: &Lab,
    pw: &str,
    hosts: &[&str],
    seen_from: u16,
) -> Vec<(String, Vec<u16>)> {
    let text = redis_cli(
        lab,
        "lab3",
        &addr_of("lab3"),
        seen_from,
        pw,
        "cluster nodes",
    );
    let nodes = prov_redis::parse_cluster_nodes(&text).expect("cluster nodes");
    hosts
        .iter()
        .map(|h| {
            let mut ports: Vec<u16> = nodes
                .iter()
                .filter(|n| n.ip == addr_of(h) && n.role() == Role::Master && !n.slots.is_empty())
                .map(|n| n.port)
                .collect();
            ports.sort_unstable();
            (h.to_string(), ports)
        })
        .collect()
}

/// The intended layout as [`masters_by_host`] shows it: one master per host, on 7000.
pub fn intended_masters(hosts: &[&str]) -> Vec<(String, Vec<u16>)> {
    hosts.iter().map(|h| (h.to_string(), vec![7000])).collect()
}
