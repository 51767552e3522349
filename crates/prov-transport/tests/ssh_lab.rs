//! SSH transport across the network, against the prov lab hosts (lab1..lab3, 10.77.0.11-13).
//!
//! Needs `prov lab up --hosts 3` first; every test skips with a message when
//! /var/lib/prov-lab/known_hosts is absent.

mod ssh_support;

use std::path::Path;
use std::time::Duration;

use prov_core::Connection;
use prov_transport::ssh::{SshConnection, SshParams};
use ssh_support::scenarios::{self, run_ok};
use ssh_support::{LAB_DIR, LAB_KEY, lab_params};

macro_rules! lab_or_skip {
    ($n:expr, $user:expr) => {
        match lab_params($n, $user) {
            Some(p) => p,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_exec_basics() {
    let p = lab_or_skip!(1, "root");
    scenarios::exec_basics(&p).await;
    let mut q = p.clone();
    q.shell_workers = 0;
    scenarios::exec_basics(&q).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_agent_auth_as_deploy() {
    let p = lab_or_skip!(2, "deploy");
    scenarios::agent_auth(&p, Path::new(LAB_KEY)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_changed_host_key_rejected() {
    let p = lab_or_skip!(1, "root");
    scenarios::changed_host_key(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_accept_new_and_hashed_known_hosts() {
    let p = lab_or_skip!(2, "root");
    scenarios::accept_new_and_hashed(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_sudo_become_writes_root_owned_file() {
    let p = lab_or_skip!(1, "deploy");
    scenarios::sudo_put_file(&p, "/etc/prov-ssh-test.conf").await;
    // The same through exec channels only.
    let mut q = p.clone();
    q.shell_workers = 0;
    scenarios::sudo_put_file(&q, "/etc/prov-ssh-test2.conf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_transfer_100mb_streamed() {
    let p = lab_or_skip!(2, "root");
    scenarios::big_transfer(&p, "/var/tmp/prov-ssh-big", 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_transfer_atomic_when_connection_cut() {
    let p = lab_or_skip!(3, "root");
    scenarios::cut_transfer(&p, "/var/tmp/prov-ssh-cut").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_unreachable_host_while_others_work() {
    let good = lab_or_skip!(1, "root");
    // Nothing listens on port 2 of lab3: refused (or dropped by a firewall: connect timeout).
    let mut dead = lab_or_skip!(3, "root");
    dead.host = "lab3-port2".into();
    dead.port = 2;
    dead.connect_timeout = Duration::from_secs(5);
    scenarios::unreachable_while_others_work(&good, &dead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_proxy_jump() {
    let jump = lab_or_skip!(1, "root");
    let target = lab_or_skip!(2, "deploy");
    let direct = SshConnection::connect(&target).await.expect("direct");
    let name = run_ok(&direct, "hostname").await;
    direct.close().await;
    scenarios::proxy_jump(&jump, &target, Some(&name)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_direct_tcpip_to_remote_port() {
    let p = lab_or_skip!(3, "root");
    scenarios::direct_tcpip_banner(&p, 22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_thirty_concurrent_commands() {
    let p = lab_or_skip!(1, "root");
    scenarios::concurrent(&p, 30).await;
    let mut q = p.clone();
    q.shell_workers = 0;
    scenarios::concurrent(&q, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_openssh_config() {
    let _ = lab_or_skip!(1, "root");
    let cfg = Path::new(LAB_DIR).join("ssh_config");
    if !cfg.exists() {
        eprintln!("SKIP: {} absent", cfg.display());
        return;
    }
    let p = SshParams::from_ssh_config("lab2", Some(&cfg)).expect("parse lab ssh_config");
    assert_eq!(p.address, "10.77.0.12");
    let c = SshConnection::connect(&p)
        .await
        .expect("connect from config");
    assert_eq!(c.host(), "lab2");
    assert_eq!(run_ok(&c, "id -un").await, p.user);
    c.close().await;
}
