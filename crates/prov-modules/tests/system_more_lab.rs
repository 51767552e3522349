//! Lab tests of the package-source and system modules (`apt_repository`, `deb822_repository`,
//! `debconf`, `pam_limits`) on lab host lab2: the effect is checked inside the
//! host, check mode must predict the real run and a second run must change nothing
//! (`converge`). Where it matters, the files prov writes are compared with what the real
//! Ansible module (ansible-core 2.19 from `/var/cache/prov-bench/venv`) writes on the same host
//! for the same arguments: Ansible runs first, its result is captured, the host is reset, prov
//! runs, and both captures must be equal.
//!
//! Run under the shared lock: `flock /work/lab.lock cargo test -p prov-modules --test
//! system_more_lab`. Every test skips with a message when the lab is not up; the comparisons
//! skip when the Ansible venv is missing.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::{Value, json};
use support::{
    NsConnection, ansible, apply, check, converge, lab_host, lab_lock, put, same_as_ansible,
};

const APT_FILES: &str = "/etc/apt/sources.list /etc/apt/sources.list.d/*";

/// Puts back the lab's apt sources: only the original sources.list.
async fn reset_apt(h: &NsConnection, original: &str) {
    h.sh_ok("rm -rf /etc/apt/sources.list.d && mkdir -m 755 /etc/apt/sources.list.d")
        .await;
    put(h, "/etc/apt/sources.list", original).await;
}

#[tokio::test]
async fn apt_repository_writes_what_ansible_writes() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let original = h.sh_ok("cat /etc/apt/sources.list").await;
    let repo = "deb [trusted=yes arch=amd64] file:/srv/prov-lab-repo ./";
    let file = "/etc/apt/sources.list.d/file_srv_prov_lab_repo.list";

    // A new line: its own file, named as Ansible names it; the cache is updated.
    let args = json!({"repo": repo, "mode": "0600"});
    let theirs = same_as_ansible(&h, "apt_repository", args.clone(), APT_FILES, || {
        reset_apt(&h, &original)
    })
    .await;
    if let Some((t, _)) = theirs {
        assert_eq!(t["sources_added"], json!([file]));
    }
    reset_apt(&h, &original).await;
    h.sh_ok("touch -d 2001-01-01 /var/cache/apt/pkgcache.bin")
        .await;
    let real = converge(&h, "apt_repository", args).await;
    assert_eq!(
        real.summary,
        [format!("create {file}"), "apt-get update".into()]
    );
    assert_eq!(real.result["sources_added"], json!([file]));
    assert_eq!(h.sh_ok(&format!("cat {file}")).await, format!("{repo}\n"));
    assert_eq!(h.sh_ok(&format!("stat -c %a {file}")).await.trim(), "600");
    let year = h.sh_ok("date -r /var/cache/apt/pkgcache.bin +%Y").await;
    assert_ne!(year.trim(), "2001", "apt-get update ran");

    // Disabled by hand, with odd spacing and a comment: enabled in place, normalized.
    h.sh_ok(&format!(
        "printf '#deb  [trusted=yes arch=amd64]   file:/srv/prov-lab-repo ./ #mine\\n' > {file}"
    ))
    .await;
    let args = json!({"repo": repo, "update_cache": false});
    same_as_ansible(&h, "apt_repository", args.clone(), APT_FILES, || async {
        reset_apt(&h, &original).await;
        h.sh_ok(&format!(
            "printf '#deb  [trusted=yes arch=amd64]   file:/srv/prov-lab-repo ./ #mine\\n\\n#x\\n' > {file}"
        ))
        .await;
    })
    .await;
    assert_eq!(
        h.sh_ok(&format!("cat {file}")).await,
        format!("{repo} # mine\n\n# x\n")
    );

    // Absent: the line goes, and a file left without lines is removed.
    let args = json!({"repo": repo, "state": "absent", "update_cache": false});
    let real = converge(&h, "apt_repository", args).await;
    assert_eq!(real.result["sources_removed"], json!([] as [&str; 0]));
    assert_eq!(h.sh_ok(&format!("cat {file}")).await, "\n# x\n");
    h.sh_ok(&format!("printf '{repo}\\n' > {file}")).await;
    let args = json!({"repo": repo, "state": "absent", "filename": "ignored"});
    let real = converge(&h, "apt_repository", args.clone()).await;
    assert_eq!(real.result["sources_removed"], json!([file]));
    assert!(!h.sh(&format!("test -e {file}")).await.success());

    // An update that keeps failing puts the files back and fails the task.
    let bad = "deb [trusted=yes] file:/srv/no-such-repo ./";
    let args = json!({"repo": bad, "filename": "bad", "update_cache_retries": 1, "update_cache_retry_max_delay": 1});
    let e = apply(&h, "apt_repository", args)
        .await
        .expect_err("update fails");
    assert!(
        e.to_string()
            .contains("Failed to update apt cache after 1 retries"),
        "{e}"
    );
    assert!(
        !h.sh("test -e /etc/apt/sources.list.d/bad.list")
            .await
            .success()
    );
    let planned = check(
        &h,
        "apt_repository",
        json!({"repo": repo, "state": "absent"}),
    )
    .await;
    assert!(!planned.expect("check").changed);
    reset_apt(&h, &original).await;
    assert_eq!(h.sh_ok("cat /etc/apt/sources.list").await, original);
}

#[tokio::test]
async fn deb822_repository_writes_a_sources_file_apt_reads() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let original = h.sh_ok("cat /etc/apt/sources.list").await;
    reset_apt(&h, &original).await;
    let dest = "/etc/apt/sources.list.d/prov-lab-flat.sources";
    let args = json!({
        "name": "Prov lab_flat", "uris": "file:/srv/prov-lab-repo", "suites": "./",
        "trusted": true, "architectures": ["amd64"], "mode": "0640"
    });
    let real = converge(&h, "deb822_repository", args).await;
    assert_eq!(real.summary, [format!("create {dest}")]);
    assert_eq!(real.result["key_filename"], Value::Null);
    let text = "Architectures: amd64\nX-Repolib-Name: Prov lab_flat\nSuites: ./\nTrusted: yes\nTypes: deb\nURIs: file:/srv/prov-lab-repo\n";
    assert_eq!(real.result["repo"], json!(text));
    assert_eq!(h.sh_ok(&format!("cat {dest}")).await, text);
    assert_eq!(
        h.sh_ok(&format!("stat -c '%a %U' {dest}")).await.trim(),
        "640 root"
    );
    // apt reads it: the flat repository is listed twice, from both files.
    let policy = h
        .sh_ok("apt-get -q update >/dev/null 2>&1; apt-cache policy redis-tools")
        .await;
    assert!(policy.contains("file:/srv/prov-lab-repo ./"), "{policy}");

    // A mode changed by hand is put back; signed_by naming a file is returned.
    h.sh_ok(&format!("chmod 600 {dest}")).await;
    let args = json!({"name": "Prov lab_flat", "uris": "file:/srv/prov-lab-repo", "suites": "./",
        "trusted": true, "architectures": ["amd64"], "mode": "0640"});
    let real = converge(&h, "deb822_repository", args).await;
    assert_eq!(real.summary, [format!("{dest}: mode 0600 -> 0640")]);
    h.sh_ok("echo key > /etc/apt/keyrings/prov-lab-flat.asc")
        .await;
    let args = json!({"name": "Prov lab_flat", "uris": "file:/srv/prov-lab-repo", "suites": "./",
        "signed_by": "/etc/apt/keyrings/prov-lab-flat.asc"});
    let real = converge(&h, "deb822_repository", args).await;
    assert_eq!(
        real.result["key_filename"],
        json!("/etc/apt/keyrings/prov-lab-flat.asc")
    );
    assert!(
        h.sh_ok(&format!("cat {dest}"))
            .await
            .contains("Signed-By: /etc/apt/keyrings/prov-lab-flat.asc\n")
    );

    // Absent removes the file and the key of the same slug.
    let real = converge(
        &h,
        "deb822_repository",
        json!({"name": "Prov lab_flat", "state": "absent"}),
    )
    .await;
    assert_eq!(
        real.summary,
        [
            format!("remove {dest}"),
            "remove /etc/apt/keyrings/prov-lab-flat.asc".into()
        ]
    );
    assert!(
        !h.sh("test -e /etc/apt/keyrings/prov-lab-flat.asc")
            .await
            .success()
    );
    reset_apt(&h, &original).await;
    h.sh_ok("apt-get -q update >/dev/null 2>&1; true").await;
}

async fn purge_debconf(h: &NsConnection) {
    h.sh_ok("echo PURGE | DEBIAN_FRONTEND=noninteractive debconf-communicate prov-test >/dev/null 2>&1; true")
        .await;
}

#[tokio::test]
async fn debconf_answers_as_ansible_does() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let show = "debconf-show prov-test";
    for args in [
        json!({"name": "prov-test", "question": "prov-test/q", "vtype": "string", "value": "a b"}),
        json!({"name": "prov-test", "question": "prov-test/b", "vtype": "boolean", "value": true, "unseen": true}),
        json!({"name": "prov-test", "question": "prov-test/m", "vtype": "multiselect", "value": ["y", "x"]}),
    ] {
        purge_debconf(&h).await;
        if let Some(theirs) = ansible("lab2", "debconf", &args) {
            assert_eq!(theirs["changed"], json!(true), "{theirs}");
            let ansible_state = h.sh_ok(show).await;
            purge_debconf(&h).await;
            let real = converge(&h, "debconf", args.clone()).await;
            assert_eq!(h.sh_ok(show).await, ansible_state, "{args}");
            assert_eq!(real.result["current"], theirs["current"], "{args}");
            assert_eq!(real.result["previous"], theirs["previous"], "{args}");
        }
    }
    // The multiselect order does not matter; without a question the module only reads.
    let args = json!({"name": "prov-test", "question": "prov-test/m", "vtype": "multiselect", "value": ["x", "y"]});
    assert!(!apply(&h, "debconf", args).await.expect("apply").changed);
    let read = converge(&h, "debconf", json!({"name": "prov-test"})).await;
    assert_eq!(read.result["current"], json!({"prov-test/m": "y, x"}));

    // A password goes on stdin; comparing it needs debconf-get-selections (debconf-utils),
    // which lab hosts lack: the task fails as Ansible's does.
    let args = json!({"name": "prov-test", "question": "prov-test/p", "vtype": "password", "value": "s3 cret"});
    let e = check(&h, "debconf", args)
        .await
        .expect_err("no debconf-get-selections");
    assert!(e.to_string().contains("debconf-get-selections"), "{e}");
    purge_debconf(&h).await;
    assert_eq!(h.sh_ok(show).await, "");
}

#[tokio::test]
async fn pam_limits_writes_what_ansible_writes() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let dest = "/etc/security/limits.d/prov-test.conf";
    let start = "# limits for tests\n*   soft   core   0   # no cores\n\nredis hard nofile 1024\n";
    let reset = || async {
        put(&h, dest, start).await;
    };
    for args in [
        json!({"domain": "redis", "limit_type": "-", "limit_item": "nofile", "value": 65536, "dest": dest}),
        json!({"domain": "redis", "limit_type": "hard", "limit_item": "nofile", "value": "4096", "dest": dest, "comment": "raised"}),
        json!({"domain": "redis", "limit_type": "hard", "limit_item": "nofile", "value": "512", "dest": dest, "use_max": true}),
        json!({"domain": "@adm", "limit_type": "soft", "limit_item": "nice", "value": "-5", "dest": dest}),
    ] {
        if let Some((theirs, ours)) =
            same_as_ansible(&h, "pam_limits", args.clone(), dest, reset).await
        {
            assert_eq!(ours.result["msg"], theirs["msg"], "{args}");
        }
    }
    // A missing file is created (0644).
    h.sh_ok(&format!("rm -f {dest}")).await;
    let args = json!({"domain": "*", "limit_type": "soft", "limit_item": "nproc", "value": "unlimited", "dest": dest});
    converge(&h, "pam_limits", args).await;
    assert_eq!(
        h.sh_ok(&format!("cat {dest}")).await,
        "*\tsoft\tnproc\tunlimited\n"
    );
    assert_eq!(h.sh_ok(&format!("stat -c %a {dest}")).await.trim(), "644");
    h.sh_ok(&format!("rm -f {dest}")).await;
}
