//! Lab tests of `authorized_key`, `timezone` and `service_facts` against real Debian 12 hosts
//! of `prov lab` (systemd, systemd-timedated over D-Bus). Effects are checked inside the host,
//! check mode must predict the real run and a second run must change nothing (`converge`).
//!
//! Every test skips with a message when the lab is not up:
//! `cargo run -p prov-lab --example lab -- up --hosts 3`.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::json;
use support::{NsConnection, apply, check, converge, lab_host, lab_lock};

const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHByb3YtdGVzdC1rZXktYQ alice@laptop";
const KEY_B: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCprovtestkeyb";

async fn stat(h: &NsConnection, path: &str) -> String {
    h.sh_ok(&format!("stat -c '%a %U:%G %F' {path}"))
        .await
        .trim()
        .to_owned()
}

#[tokio::test]
async fn authorized_key_writes_what_ansible_writes() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab3") else { return };
    let user = "prov_akuser";
    let home = format!("/home/{user}");
    let file = format!("{home}/.ssh/authorized_keys");
    h.sh(&format!("userdel -r {user} >/dev/null 2>&1; true"))
        .await;
    h.sh_ok(&format!("useradd -m -s /bin/sh {user}")).await;

    // Missing user dir and file: both created, 0700 / 0600, owned by the user.
    let real = converge(&h, "authorized_key", json!({"user": user, "key": KEY_A})).await;
    assert_eq!(
        real.summary,
        [format!("create {file} ({} bytes)", KEY_A.len() + 1)]
    );
    assert_eq!(h.sh_ok(&format!("cat {file}")).await, format!("{KEY_A}\n"));
    assert_eq!(
        stat(&h, &file).await,
        format!("600 {user}:{user} regular file")
    );
    assert_eq!(
        stat(&h, &format!("{home}/.ssh")).await,
        format!("700 {user}:{user} directory")
    );

    // A second key with options goes after the first; no comment = a space before the newline.
    let args = json!({"user": user, "key": KEY_B, "key_options": "no-pty,from=\"10.0.0.1\""});
    converge(&h, "authorized_key", args).await;
    assert_eq!(
        h.sh_ok(&format!("cat {file}")).await,
        format!("{KEY_A}\nno-pty,from=\"10.0.0.1\" {KEY_B} \n")
    );

    // Hand-written lines are normalized on the next write, duplicates collapse; exclusive
    // keeps only the given keys.
    h.sh_ok(&format!(
        "printf '# by hand\\n{KEY_A}\\nssh-rsa   AAAAB3NzaC1yc2EAAAADAQABAAABAQCprovtestkeyb\\n' > {file}"
    ))
    .await;
    let real = converge(
        &h,
        "authorized_key",
        json!({"user": user, "key": format!("{KEY_B}\n{KEY_A}"), "exclusive": true}),
    )
    .await;
    assert!(real.changed);
    assert_eq!(
        h.sh_ok(&format!("cat {file}")).await,
        format!("{KEY_A}\n{KEY_B} \n")
    );

    // A file with the wrong mode is left alone while nothing is written (as Ansible)...
    h.sh_ok(&format!("chmod 0644 {file}")).await;
    let ok = apply(&h, "authorized_key", json!({"user": user, "key": KEY_A}))
        .await
        .expect("apply");
    assert!(!ok.changed);
    assert_eq!(
        stat(&h, &file).await,
        format!("644 {user}:{user} regular file")
    );
    // ... and fixed by the next write.
    let real = converge(
        &h,
        "authorized_key",
        json!({"user": user, "key": KEY_B, "state": "absent"}),
    )
    .await;
    assert!(real.changed);
    assert_eq!(h.sh_ok(&format!("cat {file}")).await, format!("{KEY_A}\n"));
    assert_eq!(
        stat(&h, &file).await,
        format!("600 {user}:{user} regular file")
    );

    // Check mode with a missing user fails without a path, as in Ansible.
    let e = check(
        &h,
        "authorized_key",
        json!({"user": "prov_nosuchuser", "key": KEY_A}),
    )
    .await
    .expect_err("missing user");
    assert!(e.to_string().contains("Either user must exist"), "{e}");

    h.sh_ok(&format!("userdel -r {user} >/dev/null 2>&1; true"))
        .await;
}

#[tokio::test]
async fn timezone_goes_through_timedatectl() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab3") else { return };
    let link = h.sh_ok("readlink /etc/localtime").await.trim().to_owned();
    let etc_timezone = h.sh("cat /etc/timezone 2>/dev/null").await.stdout_text();
    if !h.sh("timedatectl status >/dev/null 2>&1").await.success() {
        eprintln!("SKIP: timedatectl does not work on lab3");
        return;
    }

    let before = h
        .sh_ok("timedatectl status | sed -n 's/^ *Time zone: \\([^ ]*\\).*/\\1/p'")
        .await
        .trim()
        .to_owned();
    let target = if before == "Europe/Berlin" {
        "America/New_York"
    } else {
        "Europe/Berlin"
    };
    let real = converge(&h, "timezone", json!({"name": target})).await;
    assert_eq!(real.summary, [format!("time zone {before} -> {target}")]);
    assert_eq!(
        h.sh_ok("readlink /etc/localtime").await.trim(),
        format!("../usr/share/zoneinfo/{target}")
    );
    // Debian 12's timedated leaves /etc/timezone alone.
    assert_eq!(
        h.sh("cat /etc/timezone 2>/dev/null").await.stdout_text(),
        etc_timezone
    );

    let e = check(&h, "timezone", json!({"name": "Mars/Olympus_Mons"}))
        .await
        .expect_err("unknown zone");
    assert!(e.to_string().contains("is not available"), "{e}");

    // Restore the original link exactly.
    h.sh_ok(&format!("ln -sfn '{link}' /etc/localtime")).await;
}

#[tokio::test]
async fn service_facts_lists_systemd_and_sysv_services() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab3") else { return };
    let checked = check(&h, "service_facts", json!({})).await.expect("check");
    let real = apply(&h, "service_facts", json!({})).await.expect("apply");
    assert!(!checked.changed && !real.changed);
    let services = &real.result["ansible_facts"]["services"];
    assert_eq!(
        services["ssh.service"],
        json!({"name": "ssh.service", "state": "running", "status": "enabled", "source": "systemd"})
    );
    assert_eq!(services["dbus.service"]["state"], json!("running"));
    assert!(services.get("chronyd.service").is_none());
    // Sysv entries (from `service --status-all`) have no status.
    if let Some(ssh) = services.get("ssh") {
        assert_eq!(ssh["source"], json!("sysv"));
        assert!(ssh.get("status").is_none());
    }
    // The same names in check mode (states of other units may move between the two runs).
    let names = |v: &serde_json::Value| {
        v.as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        names(&checked.result["ansible_facts"]["services"]),
        names(services)
    );
}
