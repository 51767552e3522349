//! Lab tests of the server modules (apt, package, service, firewall, user, group, sysctl,
//! wait_for) against real Debian hosts of `prov lab` (systemd, apt with a local repository,
//! nftables). Commands reach the hosts through nsenter (see `support/server_lab.rs`).
//!
//! Every test skips with a message when the lab is not up:
//! `cargo run -p prov-lab --example lab -- up --hosts 3`.

#[path = "support/server_lab.rs"]
mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use prov_core::{Connection, ModuleError};
use serde_json::json;
use support::{NsConnection, apply, check, converge, lab_addr, lab_host, lab_lock};

/// Parses `install NAME VERSION` / `upgrade NAME OLD -> NEW` summary lines.
fn installs(summary: &[String]) -> Vec<(String, String)> {
    summary
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["install", name, version] => Some((name.to_string(), version.to_string())),
                ["upgrade", name, _, "->", version] => {
                    Some((name.to_string(), version.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

async fn dpkg_version(h: &NsConnection, name: &str) -> Option<String> {
    let out = h
        .sh(&format!(
            "dpkg-query -W -f='${{Status}}|${{Version}}' {name} 2>/dev/null"
        ))
        .await;
    let text = out.stdout_text();
    let (status, version) = text.split_once('|')?;
    (status == "install ok installed").then(|| version.to_owned())
}

#[tokio::test]
async fn apt_installs_exactly_the_simulated_versions() {
    let _g = lab_lock().await;
    // Other suites run Redis on lab hosts: use one where redis-server is not installed, so
    // removing redis-tools never takes a running server with it.
    let mut chosen = None;
    for name in ["lab3", "lab2", "lab1"] {
        if let Some(h) = lab_host(name)
            && dpkg_version(&h, "redis-server").await.is_none()
        {
            chosen = Some(h);
            break;
        }
    }
    let Some(h) = chosen else {
        eprintln!("SKIP: every lab host runs redis-server (used by another suite)");
        return;
    };

    // A due cache refresh is a change; a fresh one is not.
    h.sh_ok("rm -f /var/lib/apt/periodic/update-success-stamp; touch -d '2000-01-01' /var/lib/apt/lists")
        .await;
    let refresh = json!({"update_cache": true, "cache_valid_time": 3600});
    let real = converge(&h, "apt", refresh.clone()).await;
    assert_eq!(real.summary, ["update apt cache"]);

    // Start without redis-tools.
    let pre = dpkg_version(&h, "redis-tools").await;
    if pre.is_some() {
        apply(
            &h,
            "apt",
            json!({"name": "redis-tools", "state": "absent", "purge": true}),
        )
        .await
        .expect("purge redis-tools");
    }
    assert_eq!(dpkg_version(&h, "redis-tools").await, None);

    let args = json!({"name": ["redis-tools"], "state": "present", "update_cache": true,
                      "cache_valid_time": 3600, "install_recommends": false});
    let predicted = check(&h, "apt", args.clone()).await.expect("check");
    let predicted_installs = installs(&predicted.summary);
    let repo_version = h
        .sh_ok("apt-cache policy redis-tools | sed -n 's/^ *Candidate: //p'")
        .await
        .trim()
        .to_owned();
    assert!(
        predicted_installs.contains(&("redis-tools".into(), repo_version.clone())),
        "prediction {predicted_installs:?} must name redis-tools {repo_version}"
    );
    for (name, _) in &predicted_installs {
        assert_eq!(
            dpkg_version(&h, name).await,
            None,
            "{name} predicted but already installed"
        );
    }

    let real = converge(&h, "apt", args.clone()).await;
    assert_eq!(installs(&real.summary), predicted_installs);
    for (name, version) in &predicted_installs {
        assert_eq!(
            dpkg_version(&h, name).await.as_deref(),
            Some(version.as_str()),
            "{name}"
        );
    }
    assert!(!real.diffs.is_empty(), "package diff for --diff");

    // The common idiom, `update_cache: yes` without `cache_valid_time`: the index is refreshed
    // on every run, yet with the package installed the task is `ok` (as in Ansible), in check
    // mode and in the real run alike, and the real run's result says `cache_updated`.
    h.sh_ok("touch -d '2000-01-01' /var/lib/apt/periodic/update-success-stamp")
        .await;
    let idiom = json!({"name": ["redis-tools"], "state": "present", "update_cache": true});
    let predicted = check(&h, "apt", idiom.clone()).await.expect("check");
    assert!(!predicted.changed, "{predicted:#?}");
    assert_eq!(predicted.result["cache_update_due"], json!(true));
    let real = converge(&h, "apt", idiom).await;
    assert!(!real.changed, "{real:#?}");
    assert_eq!(real.result["cache_updated"], json!(true), "{real:#?}");
    let stamp_age = h
        .sh_ok("echo $(( $(date +%s) - $(stat -c %Y /var/lib/apt/periodic/update-success-stamp) ))")
        .await;
    assert!(
        stamp_age.trim().parse::<u64>().is_ok_and(|a| a < 3600),
        "the index was refreshed: stamp age {stamp_age}"
    );
    // Converged: `latest` (candidate installed) and a matching pin change nothing.
    let latest = check(&h, "apt", json!({"name": "redis-tools", "state": "latest"}))
        .await
        .unwrap();
    assert!(!latest.changed, "{latest:?}");
    let pinned = check(
        &h,
        "apt",
        json!({"name": format!("redis-tools={repo_version}")}),
    )
    .await
    .unwrap();
    assert!(!pinned.changed, "{pinned:?}");

    // The generic `package` module agrees (facts name apt; and probing without facts).
    let p = check(
        &h,
        "package",
        json!({"name": "redis-tools", "state": "present"}),
    )
    .await
    .unwrap();
    assert!(!p.changed);
    let p = support::run(
        &h,
        "package",
        json!({"name": "redis-tools"}),
        true,
        &json!({}),
    )
    .await
    .unwrap();
    assert!(!p.changed);

    // A missing package is a clear error naming it.
    let e = check(
        &h,
        "apt",
        json!({"name": ["redis-tools", "prov-no-such-package"]}),
    )
    .await
    .expect_err("missing package");
    assert!(e.to_string().contains("prov-no-such-package"), "{e}");

    // Removal: predicted exactly, dependencies listed explicitly are removed too.
    let names: Vec<String> = predicted_installs.iter().map(|(n, _)| n.clone()).collect();
    let remove = json!({"name": names, "state": "absent", "purge": true});
    let real = converge(&h, "apt", remove).await;
    let purged: Vec<String> = real
        .summary
        .iter()
        .filter_map(|l| {
            l.strip_prefix("purge ")
                .map(|r| r.split(' ').next().unwrap_or("").to_owned())
        })
        .collect();
    for n in &names {
        assert!(purged.contains(n), "{n} purged: {:?}", real.summary);
        assert_eq!(dpkg_version(&h, n).await, None);
    }
    if let Some(v) = pre {
        // Leave the host as found.
        apply(&h, "apt", json!({"name": format!("redis-tools={v}")}))
            .await
            .unwrap();
    }
}

const SLEEP_UNIT: &str = "[Unit]\nDescription=prov test sleeper\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n";
const FAIL_UNIT: &str = "[Unit]\nDescription=prov test failure\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo prov-test-failure-marker >&2; exit 3'\n";

async fn write_file(h: &NsConnection, path: &str, content: &str) {
    let out = h
        .exec(
            &prov_core::RemoteCommand::new(format!("cat > {path}")),
            prov_core::Stdin::Bytes(content.as_bytes()),
        )
        .await
        .unwrap();
    assert!(out.success(), "{}", out.stderr_text());
}

async fn main_pid(h: &NsConnection, unit: &str) -> String {
    h.sh_ok(&format!("systemctl show -p MainPID --value {unit}"))
        .await
        .trim()
        .to_owned()
}

async fn unit_state(h: &NsConnection, unit: &str) -> (String, String) {
    let out = h
        .sh(&format!(
            "systemctl is-active {unit}; systemctl is-enabled {unit}"
        ))
        .await
        .stdout_text();
    let mut l = out.lines();
    (
        l.next().unwrap_or("").to_owned(),
        l.next().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn service_starts_stops_enables_real_units() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let units = "prov-test-sleep.service prov-test-echo@7000.service prov-test-fail.service";
    h.sh(&format!("systemctl disable --now {units} >/dev/null 2>&1; systemctl unmask prov-test-sleep.service >/dev/null 2>&1; true"))
        .await;
    h.sh_ok("mkdir -p /usr/local/lib/systemd/system").await;
    write_file(
        &h,
        "/usr/local/lib/systemd/system/prov-test-sleep.service",
        SLEEP_UNIT,
    )
    .await;
    write_file(
        &h,
        "/usr/local/lib/systemd/system/prov-test-echo@.service",
        SLEEP_UNIT,
    )
    .await;
    write_file(
        &h,
        "/usr/local/lib/systemd/system/prov-test-fail.service",
        FAIL_UNIT,
    )
    .await;
    h.sh_ok("systemctl daemon-reload").await;

    let real = converge(
        &h,
        "service",
        json!({"name": "prov-test-sleep", "state": "started", "enabled": true, "daemon_reload": true}),
    )
    .await;
    assert_eq!(
        real.summary,
        [
            "daemon-reload",
            "enable prov-test-sleep",
            "start prov-test-sleep"
        ]
    );
    assert_eq!(
        unit_state(&h, "prov-test-sleep").await,
        ("active".into(), "enabled".into())
    );
    // Without facts the service manager is detected on the host.
    let detected = support::run(
        &h,
        "service",
        json!({"name": "prov-test-sleep", "state": "started", "enabled": true}),
        true,
        &json!({}),
    )
    .await
    .unwrap();
    assert!(!detected.changed, "{detected:?}");

    // Template instances.
    let real = converge(
        &h,
        "systemd",
        json!({"name": "prov-test-echo@7000", "state": "started", "enabled": "yes"}),
    )
    .await;
    assert_eq!(
        real.summary,
        ["enable prov-test-echo@7000", "start prov-test-echo@7000"]
    );
    assert_eq!(
        unit_state(&h, "prov-test-echo@7000").await,
        ("active".into(), "enabled".into())
    );

    // Restart is always a change and really restarts.
    let before = main_pid(&h, "prov-test-sleep").await;
    let r = apply(
        &h,
        "service",
        json!({"name": "prov-test-sleep", "state": "restarted"}),
    )
    .await
    .unwrap();
    assert!(r.changed);
    assert_ne!(main_pid(&h, "prov-test-sleep").await, before);

    // A changed unit file needs a daemon-reload, which counts as a change.
    write_file(
        &h,
        "/usr/local/lib/systemd/system/prov-test-sleep.service",
        &SLEEP_UNIT.replace("infinity", "86400"),
    )
    .await;
    let real = converge(
        &h,
        "service",
        json!({"name": "prov-test-sleep", "state": "started", "daemon_reload": true}),
    )
    .await;
    assert_eq!(real.summary, ["daemon-reload"]);

    // Stop and disable.
    let real = converge(
        &h,
        "service",
        json!({"name": "prov-test-sleep", "state": "stopped", "enabled": false}),
    )
    .await;
    assert_eq!(
        real.summary,
        ["disable prov-test-sleep", "stop prov-test-sleep"]
    );
    assert_eq!(
        unit_state(&h, "prov-test-sleep").await,
        ("inactive".into(), "disabled".into())
    );

    // Mask and unmask.
    let real = converge(
        &h,
        "service",
        json!({"name": "prov-test-sleep", "masked": true}),
    )
    .await;
    assert_eq!(real.summary, ["mask prov-test-sleep"]);
    assert_eq!(unit_state(&h, "prov-test-sleep").await.1, "masked");
    converge(
        &h,
        "service",
        json!({"name": "prov-test-sleep", "masked": false}),
    )
    .await;

    // A unit that fails to start reports its status lines.
    let e = apply(
        &h,
        "service",
        json!({"name": "prov-test-fail", "state": "started"}),
    )
    .await
    .expect_err("failing unit");
    let msg = e.to_string();
    assert!(msg.contains("prov-test-fail"), "{msg}");
    assert!(
        msg.contains("Active:") || msg.contains("Loaded:"),
        "status lines expected: {msg}"
    );

    // An unknown unit is a clear error.
    let e = apply(
        &h,
        "service",
        json!({"name": "prov-test-nonexistent", "state": "started"}),
    )
    .await
    .expect_err("unknown unit");
    assert!(e.to_string().contains("prov-test-nonexistent"), "{e}");

    h.sh(&format!("systemctl disable --now {units} >/dev/null 2>&1; rm -f /usr/local/lib/systemd/system/prov-test-*.service; systemctl daemon-reload; systemctl reset-failed; true"))
        .await;
}

#[tokio::test]
async fn user_and_group_converge() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    h.sh("userdel -r prov_tuser >/dev/null 2>&1; groupdel prov_tgrp >/dev/null 2>&1; true")
        .await;

    let real = converge(
        &h,
        "group",
        json!({"name": "prov_tgrp", "gid": 4242, "system": true}),
    )
    .await;
    assert_eq!(real.summary, ["create group prov_tgrp"]);
    assert_eq!(
        h.sh_ok("getent group prov_tgrp").await.trim(),
        "prov_tgrp:x:4242:"
    );
    let real = converge(&h, "group", json!({"name": "prov_tgrp", "gid": 4243})).await;
    assert_eq!(real.summary, ["group prov_tgrp: gid 4242 -> 4243"]);

    let user = json!({"name": "prov_tuser", "uid": 4250, "group": "prov_tgrp", "groups": ["adm"],
                      "shell": "/bin/sh", "home": "/home/prov_tuser", "comment": "prov test"});
    let real = converge(&h, "user", user.clone()).await;
    assert_eq!(real.summary, ["create user prov_tuser"]);
    assert_eq!(
        h.sh_ok("getent passwd prov_tuser").await.trim(),
        "prov_tuser:x:4250:4243:prov test:/home/prov_tuser:/bin/sh"
    );
    h.sh_ok("test -d /home/prov_tuser").await;
    assert_eq!(h.sh_ok("id -Gn prov_tuser").await.trim(), "prov_tgrp adm");

    let mut changed = user.clone();
    changed["shell"] = json!("/bin/bash");
    let real = converge(&h, "user", changed).await;
    assert_eq!(
        real.summary,
        ["user prov_tuser: shell /bin/sh -> /bin/bash"]
    );

    let real = converge(
        &h,
        "user",
        json!({"name": "prov_tuser", "groups": "disk", "append": true}),
    )
    .await;
    assert_eq!(real.summary, ["user prov_tuser: add to groups disk"]);
    assert_eq!(
        h.sh_ok("id -Gn prov_tuser").await.trim(),
        "prov_tgrp adm disk"
    );
    let real = converge(&h, "user", json!({"name": "prov_tuser", "groups": []})).await;
    assert_eq!(real.summary, ["user prov_tuser: groups adm,disk -> "]);
    assert_eq!(h.sh_ok("id -Gn prov_tuser").await.trim(), "prov_tgrp");

    let real = converge(
        &h,
        "user",
        json!({"name": "prov_tuser", "state": "absent", "remove": true}),
    )
    .await;
    assert_eq!(real.summary, ["remove user prov_tuser"]);
    assert!(!h.sh("getent passwd prov_tuser").await.success());
    h.sh_ok("test ! -e /home/prov_tuser").await;
    let real = converge(&h, "group", json!({"name": "prov_tgrp", "state": "absent"})).await;
    assert_eq!(real.summary, ["remove group prov_tgrp"]);
}

#[tokio::test]
async fn sysctl_keeps_live_value_and_file_in_step() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let file = "/etc/sysctl.d/99-prov-test.conf";
    let orig = h
        .sh_ok("sysctl -n net.core.somaxconn")
        .await
        .trim()
        .to_owned();
    h.sh_ok(&format!(
        "rm -f {file}; sysctl -q -w net.core.somaxconn=4096"
    ))
    .await;

    let args = json!({"name": "net.core.somaxconn", "value": 4321, "sysctl_file": file});
    let real = converge(&h, "sysctl", args.clone()).await;
    assert_eq!(
        real.summary,
        [
            format!("persist net.core.somaxconn=4321 in {file}"),
            "set net.core.somaxconn 4096 -> 4321 (live)".to_owned()
        ]
    );
    assert_eq!(h.sh_ok("sysctl -n net.core.somaxconn").await.trim(), "4321");
    assert_eq!(
        h.sh_ok(&format!("cat {file}")).await,
        "net.core.somaxconn=4321\n"
    );

    // Drift of the live value alone is repaired alone.
    h.sh_ok("sysctl -q -w net.core.somaxconn=1000").await;
    let real = converge(&h, "sysctl", args).await;
    assert_eq!(real.summary, ["set net.core.somaxconn 1000 -> 4321 (live)"]);

    // Multi-word values compare with normalized whitespace.
    let range = json!({"name": "net.ipv4.ip_local_port_range", "value": "20000   60999", "sysctl_file": file});
    converge(&h, "sysctl", range).await;
    assert_eq!(
        h.sh_ok("sysctl -n net.ipv4.ip_local_port_range")
            .await
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["20000", "60999"]
    );

    let e = check(
        &h,
        "sysctl",
        json!({"name": "net.prov.no_such_key", "value": 1}),
    )
    .await
    .expect_err("unknown key");
    assert!(e.to_string().contains("net.prov.no_such_key"), "{e}");

    let real = converge(
        &h,
        "sysctl",
        json!({"name": "net.core.somaxconn", "state": "absent", "sysctl_file": file}),
    )
    .await;
    assert_eq!(
        real.summary,
        [format!("remove net.core.somaxconn from {file}")]
    );
    assert!(!h.sh_ok(&format!("cat {file}")).await.contains("somaxconn"));
    h.sh_ok(&format!("rm -f {file}; sysctl -q -w net.core.somaxconn={orig}; sysctl -q -w net.ipv4.ip_local_port_range='32768 60999'")).await;
}

#[tokio::test]
async fn wait_for_polls_on_the_host() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let ok = check(&h, "wait_for", json!({"port": 22, "timeout": 10}))
        .await
        .unwrap();
    assert!(!ok.changed, "{ok:?}");
    let ok = check(
        &h,
        "wait_for",
        json!({"port": 1, "state": "stopped", "timeout": 5}),
    )
    .await
    .unwrap();
    assert!(!ok.changed, "{ok:?}");
    let t = std::time::Instant::now();
    let bad = check(
        &h,
        "wait_for",
        json!({"port": 1, "timeout": 2, "connect_timeout": 1}),
    )
    .await;
    match bad {
        Err(ModuleError::Failed(f)) => {
            assert!(f.message.contains("127.0.0.1:1"), "{f:?}");
            assert!(f.result.contains_key("elapsed"), "{f:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() >= Duration::from_secs(2));
    let ok = check(
        &h,
        "wait_for",
        json!({"path": "/etc/hostname", "search_regex": "^lab2$", "timeout": 5}),
    )
    .await
    .unwrap();
    assert!(!ok.changed, "{ok:?}");

    // A file that appears later: the remote loop waits for it.
    h.sh_ok(
        "rm -f /tmp/prov-wait-flag; (sleep 2; echo ready > /tmp/prov-wait-flag) >/dev/null 2>&1 &",
    )
    .await;
    let ok = apply(
        &h,
        "wait_for",
        json!({"path": "/tmp/prov-wait-flag", "search_regex": "ready", "timeout": 30}),
    )
    .await
    .unwrap();
    assert!(!ok.changed, "{ok:?}");
    assert!(ok.result["elapsed"].as_u64().unwrap_or(0) >= 1, "{ok:?}");
    h.sh_ok("rm -f /tmp/prov-wait-flag").await;
}

/// Connects from lab host `from` (or the controller when `None`) to `addr:port`.
async fn reachable(from: Option<&NsConnection>, addr: &str, port: u16) -> bool {
    match from {
        Some(h) => h
            .sh(&format!(
                "timeout 3 bash -c 'exec 3<>/dev/tcp/{addr}/{port}'"
            ))
            .await
            .success(),
        None => {
            let sa: SocketAddr = format!("{addr}:{port}").parse().unwrap();
            tokio::task::spawn_blocking(move || {
                TcpStream::connect_timeout(&sa, Duration::from_secs(3)).is_ok()
            })
            .await
            .unwrap()
        }
    }
}

fn ssh_banner(addr: &str) -> bool {
    let sa: SocketAddr = format!("{addr}:22").parse().unwrap();
    let Ok(mut s) = TcpStream::connect_timeout(&sa, Duration::from_secs(3)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-")
}

/// The port the firewall test opens (a systemd socket); chosen away from Redis ports other
/// suites use on the lab hosts.
const FW_PORT: u16 = 7999;

#[tokio::test]
async fn firewall_admits_by_cidr_keeps_ssh_and_persists() {
    let _g = lab_lock().await;
    // Other suites apply their own `table inet prov` (and reboot hosts): this test uses its own
    // table and a target host that carries no other prov firewall.
    let mut up = Vec::new();
    for name in ["lab1", "lab2", "lab3"] {
        if let Some(h) = lab_host(name) {
            up.push((name, h));
        }
    }
    let mut target_idx = None;
    for (i, (_, h)) in up.iter().enumerate() {
        if !h
            .sh("nft list table inet prov >/dev/null 2>&1")
            .await
            .success()
        {
            target_idx = Some(i);
            break;
        }
    }
    let (Some(ti), true) = (target_idx, up.len() >= 2) else {
        eprintln!("SKIP: needs two lab hosts, one without another suite's firewall");
        return;
    };
    let (tname, target) = up.remove(ti);
    let (iname, inside) = up.remove(0);
    let outside = up.pop().map(|(_, h)| h);
    let (a1, a2) = (lab_addr(tname), lab_addr(iname));
    let controller = prov_lab::CONTROLLER_ADDR.to_string();
    let net = prov_lab::NETWORK;
    // The controller's SSH session as the host would see it.
    let target = target.with_env("SSH_CONNECTION", &format!("{controller} 50000 {a1} 22"));

    // Clean slate, a listener (systemd socket), and a table owned by someone else.
    apply(
        &target,
        "firewall",
        json!({"table": "prov_test", "state": "absent"}),
    )
    .await
    .unwrap();
    let was_enabled = target
        .sh("systemctl is-enabled nftables")
        .await
        .stdout_text()
        .trim()
        == "enabled";
    target
        .sh("nft delete table inet other_team 2>/dev/null; true")
        .await;
    write_file(
        &target,
        "/etc/systemd/system/prov-fw-test.socket",
        &format!("[Socket]\nListenStream={FW_PORT}\nAccept=yes\n"),
    )
    .await;
    write_file(
        &target,
        "/etc/systemd/system/prov-fw-test@.service",
        "[Service]\nExecStart=/bin/echo hello\nStandardOutput=socket\n",
    )
    .await;
    apply(
        &target,
        "service",
        json!({"name": "prov-fw-test.socket", "state": "started", "daemon_reload": true}),
    )
    .await
    .unwrap();
    target
        .sh_ok("nft add table inet other_team; nft add chain inet other_team keep")
        .await;
    assert!(
        reachable(Some(&inside), &a1, FW_PORT).await,
        "listener up before the firewall"
    );

    // A rule set that would cut the controller's SSH is refused (and changes nothing).
    let cutting = json!({"table": "prov_test", "policy": "drop", "rules": [{"port": 22, "proto": "tcp", "from": format!("{a2}/32")}]});
    let e = check(&target, "firewall", cutting.clone())
        .await
        .expect_err("refused");
    assert!(
        e.to_string().contains("allow_cutting_ssh") && e.to_string().contains(&controller),
        "{e}"
    );
    assert!(apply(&target, "firewall", cutting).await.is_err());
    assert!(!target.sh("nft list table inet prov_test").await.success());

    // FW_PORT only from lab2; everything else from the lab network stays open so other suites'
    // Redis traffic on this host is not disturbed.
    let args = json!({
        "table": "prov_test",
        "policy": "drop",
        "allow_established": "yes",
        "allow_loopback": true,
        "rules": [
            {"port": 22, "proto": "tcp", "from": net},
            {"port": [FW_PORT, FW_PORT - 1], "proto": "tcp", "from": [format!("{a2}/32")]},
            {"port": [FW_PORT, FW_PORT - 1], "proto": "tcp", "action": "drop"},
            {"from": net},
            {"proto": "icmp"}
        ],
        "allow_cutting_ssh": false
    });
    let real = converge(&target, "firewall", args.clone()).await;
    let mut expected = vec![
        "create table inet prov_test (5 rules)",
        "write /etc/nftables.d/prov_test.nft",
        "include /etc/nftables.d/prov_test.nft from /etc/nftables.conf",
    ];
    if !was_enabled {
        expected.push("enable nftables.service");
    }
    assert_eq!(real.summary, expected);
    let admitted = format!(
        "+\t\tip saddr {a2} tcp dport {{ {}, {FW_PORT} }} accept",
        FW_PORT - 1
    );
    assert!(real.diffs[0].contains(&admitted), "{}", real.diffs[0]);

    assert!(
        reachable(Some(&inside), &a1, FW_PORT).await,
        "the admitted address reaches the port"
    );
    match &outside {
        Some(o) => assert!(
            !reachable(Some(o), &a1, FW_PORT).await,
            "a lab host outside the admitted CIDR"
        ),
        None => {
            eprintln!("no third lab host: only the controller is checked as an outside address")
        }
    }
    assert!(
        !reachable(None, &a1, FW_PORT).await,
        "the controller is outside the admitted CIDR"
    );
    assert!(ssh_banner(&a1), "SSH stays reachable from the controller");
    if let Some(o) = &outside {
        assert!(
            reachable(Some(o), &a1, 22).await,
            "SSH reachable from the lab network"
        );
    }
    assert!(
        target.sh("nft list table inet other_team").await.success(),
        "foreign tables are left alone"
    );

    // A change replaces the table in one transaction and shows the rule diff.
    let mut narrower = args.clone();
    narrower["rules"][1]["port"] = json!(FW_PORT);
    let real = converge(&target, "firewall", narrower.clone()).await;
    assert_eq!(real.summary.len(), 2, "{:?}", real.summary);
    assert!(
        real.summary[0].starts_with("replace table inet prov_test (+1 -1"),
        "{:?}",
        real.summary
    );
    assert!(real.diffs[0].contains("-\t\tip saddr"), "{}", real.diffs[0]);

    // Persistence: nftables.service is enabled and its boot configuration recreates the table.
    assert_eq!(
        target.sh_ok("systemctl is-enabled nftables").await.trim(),
        "enabled"
    );
    let live = target.sh_ok("nft -s list table inet prov_test").await;
    let booted = target
        .sh_ok("unshare -n sh -c 'nft -f /etc/nftables.conf && nft -s list table inet prov_test'")
        .await;
    assert_eq!(
        booted, live,
        "/etc/nftables.conf loads the same table at boot"
    );

    // A real reboot (hard power-off + boot) is disruptive for other suites sharing the lab:
    // only with PROV_LAB_REBOOT=1.
    if std::env::var("PROV_LAB_REBOOT").as_deref() == Ok("1") {
        let lab = prov_lab::Lab::open(prov_lab::DEFAULT_STATE_DIR).unwrap();
        tokio::task::spawn_blocking(move || {
            lab.stop(tname)?;
            lab.start(tname)?;
            lab.wait_ready(tname, Duration::from_secs(120))
        })
        .await
        .unwrap()
        .expect("target reboots");
        let target = lab_host(tname)
            .expect("target back")
            .with_env("SSH_CONNECTION", &format!("{controller} 50000 {a1} 22"));
        let after = check(&target, "firewall", narrower).await.unwrap();
        assert!(!after.changed, "the table survives a reboot: {after:?}");
        assert!(!reachable(None, &a1, FW_PORT).await);
        assert!(ssh_banner(&a1));
        cleanup_firewall(&target, was_enabled).await;
    } else {
        cleanup_firewall(&target, was_enabled).await;
    }
}

#[tokio::test]
async fn firewall_guard_finds_the_controller_behind_sudo_over_ssh() {
    let _g = lab_lock().await;
    let Some(_h) = lab_host("lab1") else { return };
    let lab = prov_lab::Lab::open(prov_lab::DEFAULT_STATE_DIR).unwrap();
    let a1 = lab_addr("lab1");
    let params = prov_transport::SshParams::new("lab1", a1.clone())
        .with_user(prov_lab::DEPLOY_USER)
        .with_identity_file(lab.private_key())
        .with_known_hosts_file(lab.known_hosts());
    let conn = match prov_transport::SshConnection::connect(&params).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIP: no SSH to lab1 ({e})");
            return;
        }
    };
    // sudo drops SSH_CONNECTION from the environment: the module finds it up the process tree.
    let become_ = prov_core::Become::default();
    let facts = support::lab_facts();
    let controller = prov_lab::CONTROLLER_ADDR.to_string();
    let cutting = json!({"rules": [{"port": 22, "from": format!("{a1}/32")}]});
    let e = support::run_as(&conn, "firewall", cutting, true, &facts, Some(&become_))
        .await
        .expect_err("refused");
    assert!(e.to_string().contains(&controller), "{e}");
    let fine = json!({"rules": [{"port": 22, "from": format!("{controller}/32")}]});
    let p = support::run_as(&conn, "firewall", fine, true, &facts, Some(&become_))
        .await
        .expect("admitted");
    assert_eq!(p.result["controller_address"], json!(controller));
    conn.close().await;
}

async fn cleanup_firewall(target: &NsConnection, was_enabled: bool) {
    let real = converge(
        target,
        "firewall",
        json!({"table": "prov_test", "state": "absent"}),
    )
    .await;
    assert!(
        real.summary
            .contains(&"delete table inet prov_test".to_owned()),
        "{:?}",
        real.summary
    );
    assert!(!target.sh("nft list table inet prov_test").await.success());
    target
        .sh_ok(
            "test ! -e /etc/nftables.d/prov_test.nft && ! grep -q prov_test.nft /etc/nftables.conf",
        )
        .await;
    target
        .sh("systemctl disable --now prov-fw-test.socket >/dev/null 2>&1; rm -f /etc/systemd/system/prov-fw-test*; systemctl daemon-reload; nft delete table inet other_team 2>/dev/null; true")
        .await;
    if !was_enabled {
        target
            .sh("systemctl disable nftables >/dev/null 2>&1")
            .await;
    }
}
