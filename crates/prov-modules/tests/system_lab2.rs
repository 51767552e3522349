//! Lab tests of the system modules of issue #18 (`getent`, `hostname`, `known_hosts`,
//! `alternatives`, `cron`, `mount`) on lab host lab2: the effect is
//! checked inside the host, check mode must predict the real run and a second run must change
//! nothing (`converge`). Where practical the result is compared with what the real Ansible
//! module (ansible-core 2.19 and its collections from `/var/cache/prov-bench/venv`) gives or
//! writes on the same host for the same arguments. Every test puts back what it changed.
//!
//! Run under the shared lock: `flock /work/lab.lock cargo test -p prov-modules --test
//! system_lab2`. Every test skips with a message when the lab is not up; the comparisons
//! skip when the Ansible venv is missing.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::json;
use support::{
    LAB_DIR, NsConnection, ansible, check, converge, files, lab_host, lab_lock, put,
    same_as_ansible,
};

#[tokio::test]
async fn getent_returns_what_ansible_returns() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    for args in [
        json!({"database": "passwd", "key": "root"}),
        json!({"database": "hosts"}),
        json!({"database": "group", "split": ":"}),
        json!({"database": "passwd", "key": "nobody-here", "fail_key": false}),
    ] {
        let ours = converge(&h, "getent", args.clone()).await;
        assert!(!ours.changed);
        let db = format!("getent_{}", args["database"].as_str().unwrap());
        assert!(ours.result["ansible_facts"][&db].is_object(), "{ours:?}");
        if let Some(theirs) = ansible("lab2", "getent", &args) {
            assert_eq!(
                ours.result["ansible_facts"][&db], theirs["ansible_facts"][&db],
                "{args}"
            );
            assert_eq!(ours.result.get("msg"), theirs.get("msg"), "{args}");
        }
    }
    let root = converge(&h, "getent", json!({"database": "passwd", "key": "root"})).await;
    assert_eq!(
        root.result["ansible_facts"]["getent_passwd"]["root"][3],
        json!("root")
    );
    let e = check(
        &h,
        "getent",
        json!({"database": "passwd", "key": "nobody-here"}),
    )
    .await
    .expect_err("missing key");
    assert!(e.to_string().contains("could not be found"), "{e}");
    let e = check(&h, "getent", json!({"database": "nodb"}))
        .await
        .expect_err("bad db");
    assert!(e.to_string().contains("database unknown"), "{e}");
}

/// Puts lab2's name back (static, transient, no pretty name) even when the test fails.
struct RestoreLab2Name;

impl Drop for RestoreLab2Name {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ssh")
            .args(["-F", &format!("{LAB_DIR}/ssh_config"), "lab2"])
            .arg("hostnamectl set-hostname lab2 && hostnamectl --pretty set-hostname ''")
            .status();
    }
}

#[tokio::test]
async fn hostname_sets_the_static_and_transient_name() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let _restore = RestoreLab2Name;
    assert_eq!(h.sh_ok("hostname").await.trim(), "lab2");
    let real = converge(&h, "hostname", json!({"name": "prov-test.example.org"})).await;
    assert_eq!(
        real.summary,
        [
            "static hostname lab2 -> prov-test.example.org",
            "transient hostname lab2 -> prov-test.example.org"
        ]
    );
    assert_eq!(real.diffs.len(), 1);
    let facts = &real.result["ansible_facts"];
    assert_eq!(facts["ansible_hostname"], json!("prov-test"));
    assert_eq!(facts["ansible_nodename"], json!("prov-test.example.org"));
    assert_eq!(h.sh_ok("uname -n").await.trim(), "prov-test.example.org");
    assert_eq!(
        h.sh_ok("cat /etc/hostname").await,
        "prov-test.example.org\n"
    );
    // `use: debian` is Ansible's systemd strategy too; a transient name changed by hand is put
    // back alone.
    h.sh_ok("hostname other").await;
    let real = converge(
        &h,
        "hostname",
        json!({"name": "prov-test.example.org", "use": "debian"}),
    )
    .await;
    assert_eq!(
        real.summary,
        ["transient hostname other -> prov-test.example.org"]
    );
    let e = check(&h, "hostname", json!({"name": "x".repeat(65)}))
        .await
        .expect_err("too long");
    assert!(e.to_string().contains("64 characters"), "{e}");

    // Back to lab2, as Ansible's module would do it, then compared with Ansible's answer.
    let real = converge(&h, "hostname", json!({"name": "lab2"})).await;
    assert_eq!(real.result["ansible_facts"]["ansible_fqdn"], json!("lab2"));
    assert_eq!(real.result["ansible_facts"]["ansible_domain"], json!(""));
    if let Some(theirs) = ansible("lab2", "hostname", &json!({"name": "lab2"})) {
        assert_eq!(theirs["changed"], json!(false));
        for k in [
            "ansible_hostname",
            "ansible_nodename",
            "ansible_fqdn",
            "ansible_domain",
        ] {
            assert_eq!(
                real.result["ansible_facts"][k], theirs["ansible_facts"][k],
                "{k}"
            );
        }
    }
    h.sh_ok("hostnamectl --pretty set-hostname ''").await;
    assert_eq!(h.sh_ok("hostname").await.trim(), "lab2");
}

/// The second field and key of a public key file's line (`type key`).
async fn pubkey(h: &NsConnection, file: &str) -> String {
    let line = h.sh_ok(&format!("cat {file}")).await;
    let f: Vec<&str> = line.split_whitespace().collect();
    format!("{} {}", f[0], f[1])
}

#[tokio::test]
async fn known_hosts_writes_what_ansible_writes() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let path = "/root/.ssh/prov_kh";
    let files_glob = "/root/.ssh/prov_kh*";
    let ed = pubkey(&h, "/etc/ssh/ssh_host_ed25519_key.pub").await;
    let rsa = pubkey(&h, "/etc/ssh/ssh_host_rsa_key.pub").await;
    let other_ed = {
        let l = std::fs::read_to_string(format!("{LAB_DIR}/id_ed25519.pub")).expect("lab key");
        let f: Vec<&str> = l.split_whitespace().collect();
        format!("{} {}", f[0], f[1])
    };
    let cases = [
        // Added at the end of a file that lacks the host.
        (
            format!("other {rsa}\n"),
            json!({"name": "LAB2", "key": format!("lab2 {ed}"), "path": path}),
        ),
        // A different key of the same type is replaced (the new line at the end).
        (
            format!("lab2 {other_ed}\nother {rsa}\n"),
            json!({"name": "lab2", "key": format!("lab2 {ed}"), "path": path}),
        ),
        // Another type of key for the host: added.
        (
            format!("lab2 {rsa}\n"),
            json!({"name": "lab2", "key": format!("lab2 {ed}"), "path": path}),
        ),
        // Absent with a key removes that line only.
        (
            format!("lab2 {rsa}\nlab2 {ed}\nx {ed}\n"),
            json!({"name": "lab2", "key": format!("lab2 {ed}"), "path": path, "state": "absent"}),
        ),
        // Absent without a key: ssh-keygen -R (and its .old file).
        (
            format!("lab2 {rsa}\nlab2 {ed}\nx {ed}\n"),
            json!({"name": "lab2", "path": path, "state": "absent"}),
        ),
    ];
    for (start, args) in cases {
        let reset = || async {
            h.sh_ok("rm -f /root/.ssh/prov_kh*").await;
            put(&h, path, &start).await;
        };
        if let Some((theirs, ours)) =
            same_as_ansible(&h, "known_hosts", args.clone(), files_glob, reset).await
        {
            assert_eq!(theirs["changed"], json!(true), "{args}");
            assert_eq!(ours.result["path"], theirs["path"], "{args}");
        }
    }
    // A missing file is created in ~/.ssh; the equal key changes nothing.
    h.sh_ok("rm -f /root/.ssh/prov_kh*").await;
    let args = json!({"name": "lab2", "key": format!("lab2 {ed}"), "path": "~/.ssh/prov_kh"});
    let real = converge(&h, "known_hosts", args).await;
    assert_eq!(real.result["path"], json!(path));
    assert_eq!(
        h.sh_ok(&format!("cat {path}")).await,
        format!("lab2 {ed}\n")
    );
    assert_eq!(h.sh_ok(&format!("stat -c %a {path}")).await.trim(), "644");

    // A hashed line ssh-keygen finds; a second run keeps the hash.
    h.sh_ok("rm -f /root/.ssh/prov_kh*").await;
    let args =
        json!({"name": "lab2", "key": format!("lab2 {ed}"), "path": path, "hash_host": true});
    converge(&h, "known_hosts", args).await;
    let text = h.sh_ok(&format!("cat {path}")).await;
    assert!(text.starts_with("|1|") && !text.contains("lab2"), "{text}");
    let found = h.sh_ok(&format!("ssh-keygen -F lab2 -f {path}")).await;
    assert!(found.contains("found: line 1"), "{found}");

    // A key that names another host is refused; a missing directory fails.
    let args = json!({"name": "lab2", "key": format!("other {ed}"), "path": path});
    let e = check(&h, "known_hosts", args).await.expect_err("mismatch");
    assert!(e.to_string().contains("does not match"), "{e}");
    let args = json!({"name": "lab2", "key": format!("lab2 {ed}"), "path": "/nonexistent/kh"});
    let e = check(&h, "known_hosts", args).await.expect_err("no dir");
    assert!(e.to_string().contains("Failed to write"), "{e}");
    h.sh_ok("rm -f /root/.ssh/prov_kh*").await;
}

const ALT_SHOW: &str = "update-alternatives --display provtest 2>&1; readlink /usr/local/bin/provtest /etc/alternatives/provtest; true";

#[tokio::test]
async fn alternatives_do_what_ansible_does() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let link = "/usr/local/bin/provtest";
    let clean = "update-alternatives --remove-all provtest >/dev/null 2>&1; rm -f /usr/local/bin/provtest /usr/local/share/provtest.1; true";
    let two = format!(
        "{clean}; update-alternatives --install {link} provtest /usr/bin/true 20 && update-alternatives --install {link} provtest /usr/bin/false 30"
    );
    let cases = [
        (
            clean.to_owned(),
            json!({"name": "provtest", "path": "/usr/bin/true", "link": link, "priority": 20}),
        ),
        (
            two.clone(),
            json!({"name": "provtest", "path": "/usr/bin/true"}),
        ),
        (
            format!("{two} && update-alternatives --set provtest /usr/bin/true"),
            json!({"name": "provtest", "path": "/usr/bin/true", "state": "auto"}),
        ),
        (
            two.clone(),
            json!({"name": "provtest", "path": "/usr/bin/false", "state": "absent"}),
        ),
        (
            two.clone(),
            json!({"name": "provtest", "path": "/usr/bin/true", "priority": 40, "state": "present",
            "subcommands": [{"name": "provtest.1", "path": "/usr/share/man/man1/true.1.gz", "link": "/usr/local/share/provtest.1"}]}),
        ),
    ];
    for (start, args) in cases {
        h.sh_ok(&start).await;
        let theirs = ansible("lab2", "community.general.alternatives", &args);
        let ansible_state = h.sh_ok(ALT_SHOW).await;
        h.sh_ok(&start).await;
        let ours = converge(&h, "alternatives", args.clone()).await;
        if let Some(t) = theirs {
            assert!(t.get("failed").is_none(), "{t}");
            assert_eq!(h.sh_ok(ALT_SHOW).await, ansible_state, "{args}");
            assert_eq!(ours.result["msg"], t["msg"], "{args}");
            assert_eq!(t["changed"], json!(true));
        }
    }
    // Installing needs a link: there is none for a new group (nor, as Ansible reads
    // `link \w+ is`, for a name with a hyphen).
    h.sh_ok(clean).await;
    let e = check(
        &h,
        "alternatives",
        json!({"name": "provtest", "path": "/usr/bin/true"}),
    )
    .await
    .expect_err("no link");
    assert!(e.to_string().contains("missing the link"), "{e}");
    h.sh_ok(clean).await;
}

#[tokio::test]
async fn cron_file_writes_what_ansible_writes() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let f = "/etc/cron.d/prov-test";
    let job = json!({"name": "backup", "cron_file": "prov-test", "user": "root", "minute": 30, "hour": "2", "job": "/usr/local/bin/backup > /dev/null"});
    let had = "SHELL=/bin/sh\n#Ansible: backup\n30 2 * * * root /usr/local/bin/backup > /dev/null\n#Ansible: other\n@hourly nobody true\n";
    let cases = [
        ("", job.clone()),
        (
            had,
            json!({"name": "backup", "cron_file": "prov-test", "user": "root", "special_time": "weekly", "disabled": true, "job": "/usr/local/bin/backup"}),
        ),
        (
            had,
            json!({"name": "MAILTO", "env": true, "value": "ops@example.com", "cron_file": "prov-test", "user": "root", "insertafter": "SHELL"}),
        ),
        (
            had,
            json!({"name": "other", "cron_file": "prov-test", "state": "absent"}),
        ),
        (
            "#Ansible: backup\n30 2 * * * root /usr/local/bin/backup > /dev/null\n",
            json!({"name": "backup", "cron_file": f, "state": "absent"}),
        ),
        (
            "30 2 * * * root /usr/local/bin/backup > /dev/null",
            job.clone(),
        ),
    ];
    for (start, args) in cases {
        let reset = || async {
            h.sh_ok("rm -f /etc/cron.d/prov-test*").await;
            if !start.is_empty() {
                put(&h, f, start).await;
            }
        };
        reset().await;
        let theirs = ansible("lab2", "cron", &args);
        let ansible_files = files(&h, "/etc/cron.d/prov-test*").await;
        reset().await;
        let ours = converge(&h, "cron", args.clone()).await;
        if let Some(t) = theirs {
            assert!(t.get("failed").is_none(), "{t}");
            assert_eq!(
                files(&h, "/etc/cron.d/prov-test*").await,
                ansible_files,
                "{args}"
            );
            assert_eq!(t["changed"], json!(true), "{args}");
            for k in ["jobs", "envs", "cron_file"] {
                assert_eq!(ours.result.get(k), t.get(k), "{k} of {args}");
            }
        }
    }
    // The format, by eye once: marker, then the line.
    h.sh_ok("rm -f /etc/cron.d/prov-test*").await;
    converge(&h, "cron", job).await;
    assert_eq!(
        h.sh_ok(&format!("cat {f}; stat -c %a {f}")).await,
        "#Ansible: backup\n30 2 * * * root /usr/local/bin/backup > /dev/null\n644\n"
    );
    h.sh_ok("rm -f /etc/cron.d/prov-test*").await;

    // A user's crontab, through the host's `crontab` (cron is installed, as on a stock
    // server): the same table as Ansible's.
    let user_job = json!({"name": "prov-user-job", "job": "true", "user": "root"});
    let no_table = "crontab -r -u root 2>/dev/null; true";
    h.sh_ok(no_table).await;
    let theirs = ansible("lab2", "cron", &user_job);
    let ansible_table = h.sh("crontab -l -u root").await.stdout_text();
    h.sh_ok(no_table).await;
    converge(&h, "cron", user_job).await;
    let our_table = h.sh_ok("crontab -l -u root").await;
    h.sh_ok(no_table).await;
    assert!(
        our_table.contains("#Ansible: prov-user-job\n* * * * * true"),
        "{our_table}"
    );
    if let Some(t) = theirs {
        assert!(t.get("failed").is_none(), "{t}");
        assert_eq!(our_table, ansible_table);
    }
}

const FSTAB: &str = "/etc/prov-test.fstab";
const MNT: &str = "/mnt/prov-test";
const MOUNT_SHOW: &str = "cat /etc/prov-test.fstab 2>&1; findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint /mnt/prov-test; test -d /mnt/prov-test && echo dir; true";

/// Lab2 without the test mount, with `fstab` as the test fstab (and mounted by it if asked).
async fn reset_mount(h: &NsConnection, fstab: &str, mount: bool) {
    h.sh_ok(&format!(
        "while umount {MNT} 2>/dev/null; do :; done; rm -rf {MNT} '{MNT} x' {FSTAB}"
    ))
    .await;
    put(h, FSTAB, fstab).await;
    if mount {
        h.sh_ok(&format!("mkdir -p {MNT} && mount -T {FSTAB} {MNT}"))
            .await;
    }
}

#[tokio::test]
async fn mount_writes_and_mounts_as_ansible_does() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let line = format!("tmpfs {MNT} tmpfs size=1m 0 0\n");
    let base = |state: &str| json!({"path": MNT, "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m", "fstab": FSTAB, "state": state});
    let cases = [
        (
            "# test fstab\n".to_owned(),
            false,
            json!({"path": format!("{MNT} x"), "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m", "fstab": FSTAB, "state": "present", "boot": false}),
        ),
        (
            format!("# test fstab\ntmpfs {MNT} tmpfs size=2m\n"),
            false,
            base("present"),
        ),
        ("# test fstab\n".to_owned(), false, base("mounted")),
        (
            format!("tmpfs {MNT} tmpfs size=2m 0 0\n"),
            true,
            base("mounted"),
        ),
        (line.clone(), true, base("absent")),
        (
            line.clone(),
            true,
            json!({"path": MNT, "state": "unmounted"}),
        ),
        (
            format!("{line}tmpfs /other tmpfs defaults 0 0\n"),
            false,
            json!({"path": MNT, "fstab": FSTAB, "state": "absent_from_fstab"}),
        ),
    ];
    for (start, mounted, args) in cases {
        reset_mount(&h, &start, mounted).await;
        let theirs = ansible("lab2", "ansible.posix.mount", &args);
        let ansible_state = h.sh_ok(MOUNT_SHOW).await;
        reset_mount(&h, &start, mounted).await;
        let ours = converge(&h, "mount", args.clone()).await;
        if let Some(t) = theirs {
            assert!(t.get("failed").is_none(), "{t}");
            assert_eq!(h.sh_ok(MOUNT_SHOW).await, ansible_state, "{args}");
            for k in [
                "name", "opts", "dump", "passno", "fstab", "boot", "src", "fstype",
            ] {
                assert_eq!(ours.result.get(k), t.get(k), "{k} of {args}");
            }
        }
    }
    // The effect, seen from inside: mounted with the options of the line, then remounted.
    reset_mount(&h, "", false).await;
    converge(&h, "mount", base("mounted")).await;
    assert_eq!(h.sh_ok(&format!("cat {FSTAB}")).await, line);
    let opts = h
        .sh_ok(&format!("findmnt -n -o OPTIONS --mountpoint {MNT}"))
        .await;
    assert!(opts.contains("size=1024k"), "{opts}");
    let args = json!({"path": MNT, "src": "tmpfs", "fstype": "tmpfs", "opts": "size=2m", "fstab": FSTAB, "state": "mounted"});
    let real = converge(&h, "mount", args).await;
    assert_eq!(
        real.summary,
        [format!("{FSTAB}: {MNT}"), format!("remount {MNT}")]
    );
    let opts = h
        .sh_ok(&format!("findmnt -n -o OPTIONS --mountpoint {MNT}"))
        .await;
    assert!(opts.contains("size=2048k"), "{opts}");
    // remounted is always a change; a check predicts it.
    let args = json!({"path": MNT, "state": "remounted"});
    assert!(
        check(&h, "mount", args.clone())
            .await
            .expect("check")
            .changed
    );
    assert!(
        support::apply(&h, "mount", args)
            .await
            .expect("remount")
            .changed
    );
    // A mount that fails puts the fstab back and removes the directory it made.
    reset_mount(&h, "# kept\n", false).await;
    let bad = json!({"path": MNT, "src": "/dev/nonexistent", "fstype": "ext4", "fstab": FSTAB, "state": "mounted"});
    let e = support::apply(&h, "mount", bad)
        .await
        .expect_err("cannot mount");
    assert!(
        e.to_string().contains(&format!("Error mounting {MNT}")),
        "{e}"
    );
    assert_eq!(h.sh_ok(&format!("cat {FSTAB}")).await, "# kept\n");
    assert!(!h.sh(&format!("test -e {MNT}")).await.success());
    reset_mount(&h, "", false).await;
    h.sh_ok(&format!("rm -f {FSTAB}")).await;
}
