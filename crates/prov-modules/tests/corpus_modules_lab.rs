//! Lab tests of `authorized_key`, `timezone`, `service_facts` and `user` (passwords, expiry,
//! SSH keys) against real Debian 12 hosts of `prov lab` (systemd, systemd-timedated over
//! D-Bus). Effects are checked inside the host, check mode must predict the real run and a
//! second run must change nothing (`converge`).
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

const HASH_A: &str = "$6$provsalt$mXXUZkWLwFEkne9p4Fq8897w6FFz3UfCD4prM6il9DRVBazJrk3OT3idxWTkG9v9kfiXgh0b3CADjPZKEOlih.";
const HASH_B: &str = "$6$provsal2$9eZ56OpJ6m7vVkLuFR04hWDbfSV6mEBdBJ6H8Rsp9ufn2JMBywgEHp1Qg0QKVLOQs3RnzAtqPVQVxs6lIPSK5.";

async fn shadow_field(h: &NsConnection, user: &str, field: u8) -> String {
    h.sh_ok(&format!("getent shadow {user} | cut -d: -f{field}"))
        .await
        .trim()
        .to_owned()
}

#[tokio::test]
async fn user_password_expiry_and_ssh_key_as_ansible() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab4") else { return };
    let user = "prov_uuser";
    let home = format!("/home/{user}");
    h.sh(&format!(
        "userdel -r {user} >/dev/null 2>&1; groupdel {user} >/dev/null 2>&1; true"
    ))
    .await;

    // As the users role creates an account (strings everywhere), with a hash and a key.
    let args = json!({"name": user, "uid": "4301", "groups": "", "shell": "/bin/bash",
        "password": HASH_A, "comment": "prov user", "home": home, "createhome": "yes",
        "generate_ssh_key": "yes", "password_expire_max": "90", "expires": 1_893_456_000});
    let real = converge(&h, "user", args.clone()).await;
    assert_eq!(
        real.summary,
        [
            format!("create user {user}"),
            format!("user {user}: generate ssh key {home}/.ssh/id_rsa"),
            format!("user {user}: password_expire_max 90"),
        ]
    );
    assert_eq!(real.result["password"], json!("NOT_LOGGING_PASSWORD"));
    assert!(!format!("{real:?}").contains(HASH_A));
    assert_eq!(shadow_field(&h, user, 2).await, HASH_A);
    assert_eq!(shadow_field(&h, user, 5).await, "90");
    // 2030-01-01 is day 21915.
    assert_eq!(shadow_field(&h, user, 8).await, "21915");
    assert_eq!(
        h.sh_ok(&format!("getent passwd {user} | cut -d: -f1,3,5-7"))
            .await
            .trim(),
        format!("{user}:4301:prov user:{home}:/bin/bash")
    );
    assert_eq!(
        stat(&h, &format!("{home}/.ssh")).await,
        format!("700 {user}:{user} directory")
    );
    assert_eq!(
        stat(&h, &format!("{home}/.ssh/id_rsa")).await,
        format!("600 {user}:{user} regular file")
    );
    let public = h.sh_ok(&format!("cat {home}/.ssh/id_rsa.pub")).await;
    let host = h.sh_ok("uname -n").await;
    assert!(
        public
            .trim()
            .ends_with(&format!("ansible-generated on {}", host.trim())),
        "{public}"
    );

    // A new hash: only chpasswd runs; the key is kept; on_create leaves it alone.
    let mut changed = args.clone();
    changed["password"] = json!(HASH_B);
    let real = converge(&h, "user", changed.clone()).await;
    assert_eq!(real.summary, [format!("user {user}: set password")]);
    assert_eq!(shadow_field(&h, user, 2).await, HASH_B);
    assert_eq!(
        h.sh_ok(&format!("cat {home}/.ssh/id_rsa.pub")).await,
        public
    );
    let mut on_create = args.clone();
    on_create["update_password"] = json!("on_create");
    assert!(!check(&h, "user", on_create).await.unwrap().changed);

    // Lock, unlock, the role's `!`, expiry cleared.
    let real = converge(
        &h,
        "user",
        json!({"name": user, "password_lock": true, "expires": -1}),
    )
    .await;
    assert_eq!(
        real.summary,
        [
            format!("user {user}: expires 2030-01-01 -> never"),
            format!("user {user}: lock password"),
        ]
    );
    assert_eq!(shadow_field(&h, user, 2).await, format!("!{HASH_B}"));
    assert_eq!(shadow_field(&h, user, 8).await, "");
    let real = converge(&h, "user", json!({"name": user, "password_lock": false})).await;
    assert_eq!(real.summary, [format!("user {user}: unlock password")]);
    assert_eq!(shadow_field(&h, user, 2).await, HASH_B);
    converge(&h, "user", json!({"name": user, "password": "!"})).await;
    assert_eq!(shadow_field(&h, user, 2).await, "!");

    // A missing home is recreated from the skeleton (create_home defaults to yes).
    h.sh_ok(&format!("rm -rf {home}")).await;
    let real = converge(&h, "user", json!({"name": user})).await;
    assert_eq!(real.summary, [format!("user {user}: create home {home}")]);
    assert_eq!(
        stat(&h, &home).await,
        format!("755 {user}:{user} directory")
    );
    h.sh_ok(&format!("test -f {home}/.bashrc")).await;

    // A key with a passphrase: the passphrase opens it.
    let real = converge(
        &h,
        "user",
        json!({"name": user, "generate_ssh_key": true, "ssh_key_type": "ed25519",
               "ssh_key_passphrase": "prov pass", "ssh_key_comment": "k2"}),
    )
    .await;
    assert_eq!(
        real.summary,
        [format!(
            "user {user}: generate ssh key {home}/.ssh/id_ed25519"
        )]
    );
    h.sh_ok(&format!(
        "ssh-keygen -y -P 'prov pass' -f {home}/.ssh/id_ed25519 >/dev/null"
    ))
    .await;

    h.sh(&format!(
        "userdel -r {user} >/dev/null 2>&1; groupdel {user} >/dev/null 2>&1; true"
    ))
    .await;
}
