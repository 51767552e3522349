//! Lab tests of `unarchive` with zip archives, `fetch`, `tempfile` and `dpkg_selections` on
//! lab3 (a real Debian 12 host of `prov lab`): the effect is checked inside the host (and, for
//! `fetch`, on the controller), check mode must predict the real run and a second run changes
//! nothing; where it matters the result is compared with what the real Ansible module
//! (ansible-core 2.19 from `/var/cache/prov-bench/venv`) does on the same host.
//!
//! Run under the shared lab lock: `flock /work/lab.lock cargo test -p prov-modules --test
//! files_zip_lab`. Every test skips with a message when the lab is not up.

#[path = "support/counting.rs"]
mod counting;
#[path = "support/files_host.rs"]
mod files_host;
#[path = "support/server_lab.rs"]
mod support;

use files_host::Host;

use std::path::{Path, PathBuf};

use prov_core::Connection;
use serde_json::{Value, json};
use support::{ansible, lab_addr, lab_lock};

const HOST: &str = "lab3";

/// Every path under `dir` on the host: type, mode, owner, size, mtime, content checksum.
async fn tree(h: &Host, dir: &str) -> String {
    h.sh(&format!(
        "cd {dir} && find . -mindepth 1 | sort | while IFS= read -r f; do \
         if [ -L \"$f\" ]; then stat -c '%F %U:%G %n' \"$f\"; readlink \"$f\"; else \
         stat -c '%F %a %U:%G %s %Y %n' \"$f\"; [ -f \"$f\" ] && md5sum < \"$f\"; fi; done; true"
    ))
    .await
}

/// Installs unzip from the lab repository; returns whether it was there before.
async fn ensure_unzip(h: &Host) -> bool {
    let had = h.conn.inner.sh("command -v unzip").await.success();
    if !had {
        h.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q unzip >/dev/null 2>&1")
            .await;
    }
    had
}

/// A zip of a small tree, made on the controller with Python's zipfile (no Unix extra
/// fields: DOS times, as many zips in the wild) or with Info-ZIP's zip (`info_zip`).
fn make_zip(dir: &Path, name: &str, info_zip: bool) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let t = dir.join(format!("tree-{name}"));
    std::fs::create_dir_all(t.join("app/bin")).unwrap();
    std::fs::write(t.join("app/bin/run"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(
        t.join("app/bin/run"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::fs::write(t.join("app/conf"), "a=1\n").unwrap();
    std::fs::write(t.join("app/with space.txt"), "x\n").unwrap();
    std::os::unix::fs::symlink("conf", t.join("app/link")).unwrap();
    let out = dir.join(name);
    let ok = if info_zip {
        std::process::Command::new("zip")
            .current_dir(&t)
            .args(["-qry"])
            .arg(&out)
            .arg("app")
            .status()
            .unwrap()
    } else {
        let py = "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1],'w')\nfor p in ['app/','app/bin/','app/bin/run','app/conf','app/with space.txt']: z.write(p)\nz.close()";
        std::process::Command::new("python3")
            .current_dir(&t)
            .args(["-c", py])
            .arg(&out)
            .status()
            .unwrap()
    };
    assert!(ok.success());
    out
}

#[tokio::test]
async fn unarchive_zip_as_ansible() {
    let _g = lab_lock().await;
    let Some(h) = Host::open_temp(HOST) else {
        return;
    };
    let had_unzip = ensure_unzip(&h).await;
    make_zip(h.local(), "app.zip", false);
    let d = "/tmp/prov-zip";
    h.sh(&format!(
        "rm -rf {d}; mkdir -p {d}/dest {d}/other {d}/theirs"
    ))
    .await;

    // From the controller: streamed in, compared entry by entry, unpacked with unzip -o.
    let args = json!({"src": "app.zip", "dest": format!("{d}/dest"), "list_files": true});
    let real = h.converge("unarchive", args.clone()).await;
    assert!(real.changed);
    assert_eq!(
        real.summary[0],
        format!("unpack app.zip into {d}/dest (5 entries)")
    );
    assert_eq!(real.result["handler"], "ZipArchive");
    assert_eq!(
        real.result["files"],
        json!([
            "app/",
            "app/bin/",
            "app/bin/run",
            "app/conf",
            "app/with space.txt"
        ])
    );
    assert_eq!(
        h.sh(&format!("cat '{d}/dest/app/with space.txt'")).await,
        "x\n"
    );
    assert_eq!(
        h.sh(&format!("stat -c %a {d}/dest/app/bin/run")).await,
        "750\n"
    );
    // Same content and size, new modification time: unpacked again (Ansible compares mtimes).
    h.sh(&format!("touch {d}/dest/app/conf")).await;
    let real = h.converge("unarchive", args.clone()).await;
    assert_eq!(real.summary[1], "  .f..t....?? app/conf");
    // Same size and time, other content: the CRC-32 tells.
    h.sh(&format!("t=$(stat -c %Y {d}/dest/app/conf); echo b=2 > {d}/dest/app/conf; touch -d @$t {d}/dest/app/conf"))
        .await;
    let real = h.converge("unarchive", args).await;
    assert_eq!(real.summary[1], "  .fc......?? app/conf");
    assert_eq!(h.sh(&format!("cat {d}/dest/app/conf")).await, "a=1\n");

    // From the host, as Ansible leaves it: an Info-ZIP archive with a symlink, and a mode for
    // every entry of an archive without one (with a symlink Ansible reports `changed` on every
    // run: it "chmods" the link).
    make_zip(h.local(), "info.zip", true);
    for name in ["info.zip", "app.zip"] {
        let bytes = std::fs::read(h.local().join(name)).unwrap();
        let put = h
            .conn
            .exec(
                &prov_core::RemoteCommand::new(format!("cat > {d}/{name}")),
                prov_core::Stdin::Bytes(&bytes),
            )
            .await
            .unwrap();
        assert!(put.success());
    }
    let cases = [
        ("info.zip", json!({})),
        (
            "info.zip",
            json!({"owner": "nobody", "group": "nogroup", "list_files": true}),
        ),
        ("app.zip", json!({"mode": "u=rwX,g=rX,o="})),
    ];
    for (zip, extra) in cases {
        let mut args =
            json!({"src": format!("{d}/{zip}"), "dest": format!("{d}/theirs"), "remote_src": true});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        h.sh(&format!("rm -rf {d}/theirs/* {d}/other/*")).await;
        let Some(theirs) = ansible(HOST, "unarchive", &args) else {
            break;
        };
        assert_eq!(theirs["changed"], true, "{theirs}");
        assert_eq!(theirs["handler"], "ZipArchive");
        // Ansible finds what prov unpacked unarchived, and prov finds Ansible's unarchived.
        let ours = h.run("unarchive", args.clone(), true).await.unwrap();
        assert!(!ours.changed, "prov after Ansible: {ours:?}");
        args["dest"] = json!(format!("{d}/other"));
        let real = h.converge("unarchive", args.clone()).await;
        assert!(real.changed);
        for k in ["handler", "files"] {
            assert_eq!(real.result.get(k), theirs.get(k), "{k}");
        }
        assert_eq!(
            tree(&h, &format!("{d}/other")).await,
            tree(&h, &format!("{d}/theirs")).await
        );
        let again = ansible(HOST, "unarchive", &args).unwrap();
        assert_eq!(again["changed"], false, "Ansible after prov: {again}");
    }
    // A mode changed by hand: unpacked again, then the mode given back.
    h.sh(&format!("chmod 0644 {d}/other/app/bin/run")).await;
    let args = json!({"src": format!("{d}/app.zip"), "dest": format!("{d}/other"), "remote_src": true, "mode": "u=rwX,g=rX,o="});
    let real = h.converge("unarchive", args).await;
    assert_eq!(real.summary[1], "  .f...p...?? app/bin/run");
    // Unpacked again (0750 from the archive), then u=rwX,g=rX,o= keeps 0750.
    assert_eq!(
        h.sh(&format!("stat -c %a {d}/other/app/bin/run")).await,
        "750\n"
    );

    // Without unzip a zip archive fails, as Ansible's handlers do.
    if !had_unzip {
        h.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q unzip >/dev/null 2>&1")
            .await;
        let args = json!({"src": format!("{d}/info.zip"), "dest": format!("{d}/other"), "remote_src": true});
        let e = h
            .run("unarchive", args, true)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("Failed to find handler"), "{e}");
    }
    h.sh(&format!("rm -rf {d}")).await;
}

#[tokio::test]
async fn fetch_writes_what_ansible_writes() {
    let _g = lab_lock().await;
    let Some(h) = Host::open_temp(HOST) else {
        return;
    };
    let d = "/tmp/prov-fetch";
    h.sh(&format!(
        "rm -rf {d}; mkdir -p {d}/dir; printf 'one\\ntwo\\n' > {d}/f.txt"
    ))
    .await;
    let src = format!("{d}/f.txt");

    // dest/<host>/<src>, relative to the playbook's folder; changed only when it differs.
    let args = json!({"src": src, "dest": "out"});
    let real = h.converge("fetch", args.clone()).await;
    let local = h.local().join(format!("out/{HOST}{src}"));
    assert_eq!(std::fs::read_to_string(&local).unwrap(), "one\ntwo\n");
    assert_eq!(real.result["dest"], json!(local.display().to_string()));
    assert_eq!(
        real.result["checksum"],
        "c708d7ef841f7e1748436b8ef5670d0b2de1a227"
    );
    assert_eq!(real.result["remote_md5sum"], Value::Null);
    let ok = h.run("fetch", args.clone(), false).await.unwrap();
    assert_eq!(ok.result["file"], json!(src));
    std::fs::write(&local, "changed\n").unwrap();
    assert!(h.converge("fetch", args).await.changed);
    assert_eq!(std::fs::read_to_string(&local).unwrap(), "one\ntwo\n");

    // flat: into a folder with a trailing slash, or to a file name.
    std::fs::create_dir_all(h.local().join("flat")).unwrap();
    let real = h
        .converge("fetch", json!({"src": src, "dest": "flat/", "flat": true}))
        .await;
    assert_eq!(
        real.result["dest"],
        json!(h.local().join("flat/f.txt").display().to_string())
    );
    let e = h
        .run(
            "fetch",
            json!({"src": src, "dest": "flat", "flat": true}),
            false,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("use a trailing slash"), "{e}");

    // Missing files and directories.
    let e = h
        .run(
            "fetch",
            json!({"src": format!("{d}/nope"), "dest": "out"}),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the remote file does not exist, not transferring, ignored"
    );
    let ok = h
        .run(
            "fetch",
            json!({"src": format!("{d}/dir"), "dest": "out", "fail_on_missing": false}),
            false,
        )
        .await
        .unwrap();
    assert!(!ok.changed);
    assert!(
        ok.result["msg"]
            .as_str()
            .unwrap()
            .ends_with("not transferring, ignored")
    );

    // What Ansible's fetch writes (under the inventory name it uses: the lab address).
    let theirs_dir = tempfile::tempdir().unwrap();
    let ours_dir = tempfile::tempdir().unwrap();
    let tdest = format!("{}/", theirs_dir.path().display());
    if let Some(t) = ansible(HOST, "fetch", &json!({"src": src, "dest": tdest})) {
        let addr = lab_addr(HOST);
        let theirs_file = theirs_dir.path().join(format!("{addr}{src}"));
        let ours = h
            .run(
                "fetch",
                json!({"src": src, "dest": format!("{}/", ours_dir.path().display())}),
                false,
            )
            .await
            .unwrap();
        let ours_file = ours_dir.path().join(format!("{HOST}{src}"));
        assert_eq!(
            std::fs::read(&ours_file).unwrap(),
            std::fs::read(&theirs_file).unwrap()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&ours_file), mode(&theirs_file));
        for k in [
            "changed",
            "checksum",
            "md5sum",
            "remote_checksum",
            "remote_md5sum",
        ] {
            assert_eq!(
                ours.result.get(k).cloned().unwrap_or(json!(ours.changed)),
                t[k],
                "{k}: {t}"
            );
        }
        assert_eq!(t["dest"], json!(theirs_file.display().to_string()));
        let again = ansible(HOST, "fetch", &json!({"src": src, "dest": tdest})).unwrap();
        let ours = h
            .run(
                "fetch",
                json!({"src": src, "dest": format!("{}/", ours_dir.path().display())}),
                false,
            )
            .await
            .unwrap();
        for k in ["changed", "checksum", "md5sum", "file"] {
            assert_eq!(
                ours.result.get(k).cloned().unwrap_or(json!(ours.changed)),
                again[k],
                "{k}: {again}"
            );
        }
        let missing = ansible(
            HOST,
            "fetch",
            &json!({"src": format!("{d}/nope"), "dest": tdest, "fail_on_missing": false}),
        )
        .unwrap();
        let ours = h
            .run(
                "fetch",
                json!({"src": format!("{d}/nope"), "dest": "out", "fail_on_missing": false}),
                false,
            )
            .await
            .unwrap();
        assert_eq!(ours.result["msg"], missing["msg"]);
        assert_eq!(ours.result["file"], missing["file"]);
    }
    h.sh(&format!("rm -rf {d}")).await;
}

#[tokio::test]
async fn tempfile_creates_what_ansible_creates() {
    let _g = lab_lock().await;
    let Some(h) = Host::open_temp(HOST) else {
        return;
    };
    for args in [
        json!({"state": "file"}),
        json!({"state": "directory", "suffix": ".build"}),
        json!({"path": "/var/tmp", "prefix": "x_"}),
    ] {
        let ours = h.run("tempfile", args.clone(), false).await.unwrap();
        assert!(ours.changed);
        let path = ours.result["path"].as_str().unwrap().to_owned();
        let dir = args["state"] == "directory";
        let got = h.sh(&format!("stat -c '%F %a %U' {path}")).await;
        let want = if dir {
            "directory 700 root\n"
        } else {
            "regular empty file 600 root\n"
        };
        assert_eq!(got, want);
        let prefix = args["prefix"].as_str().unwrap_or("ansible.");
        let base = path.rsplit('/').next().unwrap();
        assert!(
            base.starts_with(prefix) && base.ends_with(args["suffix"].as_str().unwrap_or("")),
            "{path}"
        );
        assert_eq!(
            base.len(),
            prefix.len() + 8 + args["suffix"].as_str().unwrap_or("").len()
        );
        if let Some(t) = ansible(HOST, "tempfile", &args) {
            let theirs = t["path"].as_str().unwrap().to_owned();
            assert_eq!(parent(&theirs), parent(&path));
            for k in [
                "changed", "mode", "state", "owner", "group", "uid", "gid", "size",
            ] {
                assert_eq!(
                    ours.result.get(k).cloned().unwrap_or(json!(true)),
                    t[k],
                    "{k}: {t}"
                );
            }
            h.sh(&format!("rm -rf {theirs}")).await;
        }
        h.sh(&format!("rm -rf {path}")).await;
    }
    let e = h
        .run("tempfile", json!({"prefix": "a/b"}), false)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "prefix must be a valid file name component, got 'a/b'"
    );
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(a, _)| a)
}

#[tokio::test]
async fn dpkg_selections_as_ansible() {
    let _g = lab_lock().await;
    let Some(h) = Host::open_temp(HOST) else {
        return;
    };
    let before = h.sh("dpkg --get-selections bash").await;
    assert!(before.contains("install"), "{before}");

    let real = h
        .converge(
            "dpkg_selections",
            json!({"name": "bash", "selection": "hold"}),
        )
        .await;
    assert!(real.changed);
    assert_eq!(
        (
            real.result["before"].as_str(),
            real.result["after"].as_str()
        ),
        (Some("install"), Some("hold"))
    );
    assert_eq!(
        h.sh("dpkg --get-selections bash")
            .await
            .split_whitespace()
            .nth(1),
        Some("hold")
    );
    let ok = h
        .run(
            "dpkg_selections",
            json!({"name": "bash", "selection": "hold"}),
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        (ok.result["before"].as_str(), ok.result["after"].as_str()),
        (Some("hold"), Some("hold"))
    );
    let real = h
        .converge(
            "dpkg_selections",
            json!({"name": "bash", "selection": "install"}),
        )
        .await;
    assert!(real.changed);

    // Ansible's results for the same steps.
    if let Some(t) = ansible(
        HOST,
        "dpkg_selections",
        &json!({"name": "bash", "selection": "hold"}),
    ) {
        assert_eq!(
            (
                t["changed"].as_bool(),
                t["before"].as_str(),
                t["after"].as_str()
            ),
            (Some(true), Some("install"), Some("hold"))
        );
        let ours = h
            .run(
                "dpkg_selections",
                json!({"name": "bash", "selection": "hold"}),
                false,
            )
            .await
            .unwrap();
        let t2 = ansible(
            HOST,
            "dpkg_selections",
            &json!({"name": "bash", "selection": "hold"}),
        )
        .unwrap();
        assert_eq!(
            (
                json!(ours.changed),
                &ours.result["before"],
                &ours.result["after"]
            ),
            (t2["changed"].clone(), &t2["before"], &t2["after"])
        );
        h.sh("echo bash install | dpkg --set-selections").await;
    }
    let e = h
        .run(
            "dpkg_selections",
            json!({"name": "no-such-package-prov", "selection": "hold"}),
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Failed to find package 'no-such-package-prov' to perform selection 'hold'."
    );
    assert_eq!(h.sh("dpkg --get-selections bash").await, before);
}
