//! Lab tests of `ini_file`, `replace`, `slurp`, `find`, `get_url` and `unarchive` on lab3 (a
//! real Debian 12 host of `prov lab`): the effect is checked inside the host, check mode must
//! predict the real run, a second run changes nothing and costs ONE remote command.
//!
//! Expected file contents for `ini_file` are what the real community.general.ini_file wrote on
//! lab3 for the same arguments (checked by hand with ansible-core 2.19).
//!
//! Run under the shared lab lock: `flock /work/lab.lock cargo test -p prov-modules --test
//! files_more_lab`. Every test skips with a message when the lab is not up.

#[path = "support/counting.rs"]
mod counting;
#[path = "support/files_host.rs"]
mod files_host;
#[path = "support/server_lab.rs"]
mod support;

use files_host::Host;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use support::lab_lock;

fn local_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("prov-files-more-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn ini_file_writes_what_ansible_writes() {
    let _g = lab_lock().await;
    let Some(h) = Host::open("lab3", local_dir("ini")).map(Host::one_command_when_unchanged) else {
        return;
    };
    let d = "/tmp/prov-ini";
    h.sh(&format!(
        "rm -rf {d}; mkdir -p {d}; printf '# c\\n[a]\\nx = 1\\n' > {d}/top; \
         printf '[a]\\nx = 1' > {d}/nonl; printf '[main]\\r\\nhost = a\\r\\n' > {d}/crlf"
    ))
    .await;
    let cases = [
        (
            json!({"path": format!("{d}/sub/new"), "section": "main", "option": "port", "value": 8080, "mode": "0600"}),
            "\n[main]\nport = 8080\n",
        ),
        (
            json!({"path": format!("{d}/top"), "option": "port", "value": "1"}),
            "port = 1\n# c\n[a]\nx = 1\n",
        ),
        (
            json!({"path": format!("{d}/nonl"), "section": "b", "option": "y", "value": "2"}),
            "[a]\nx = 1\n[b]\ny = 2\n",
        ),
        (
            json!({"path": format!("{d}/crlf"), "section": "main", "option": "port", "value": "2"}),
            "[main]\nhost = a\nport = 2\n",
        ),
    ];
    for (args, want) in cases {
        let path = args["path"].as_str().unwrap().to_owned();
        let real = h.converge("ini_file", args).await;
        assert!(real.changed);
        assert_eq!(h.sh(&format!("cat {path}")).await, want, "{path}");
    }
    assert_eq!(h.sh(&format!("stat -c %a {d}/sub/new")).await, "600\n");
    // Replacing, then removing an option; a mode change alone is a change too.
    let args = json!({"path": format!("{d}/top"), "section": "a", "option": "x", "value": "2", "mode": "0640"});
    let real = h.converge("ini_file", args).await;
    assert_eq!(real.result["msg"], "option changed");
    assert_eq!(
        h.sh(&format!("cat {d}/top; stat -c %a {d}/top")).await,
        "port = 1\n# c\n[a]\nx = 2\n640\n"
    );
    let args =
        json!({"path": format!("{d}/top"), "section": "a", "option": "x", "state": "absent"});
    h.converge("ini_file", args).await;
    assert_eq!(h.sh(&format!("cat {d}/top")).await, "port = 1\n# c\n[a]\n");
    let e = h
        .run("ini_file", json!({"path": format!("{d}/none"), "section": "s", "option": "o", "value": "v", "create": false}), true)
        .await
        .expect_err("create: false");
    assert!(e.to_string().contains("does not exist"), "{e}");
    h.sh(&format!("rm -rf {d}")).await;
}

#[tokio::test]
async fn replace_edits_the_real_file_between_markers() {
    let _g = lab_lock().await;
    let Some(h) = Host::open("lab3", local_dir("replace")).map(Host::one_command_when_unchanged)
    else {
        return;
    };
    let d = "/tmp/prov-replace";
    h.sh(&format!(
        "rm -rf {d}; mkdir -p {d}; printf 'port=1\\n[s]\\nport=1\\nport=11\\n[t]\\nport=1\\n' > {d}/real; \
         ln -s real {d}/link"
    ))
    .await;
    let args = json!({"path": format!("{d}/link"), "regexp": r"^port=(1|11)$", "replace": r"port=\g<1>0",
        "after": r"\[s\]", "before": r"\[t\]", "mode": "0600", "validate": "grep -q port=10 %s"});
    let real = h.converge("replace", args).await;
    assert_eq!(
        real.result["msg"],
        "2 replacements made and ownership, perms or SE linux context changed"
    );
    assert_eq!(
        h.sh(&format!("cat {d}/real; stat -c '%a %F' {d}/real {d}/link"))
            .await,
        "port=1\n[s]\nport=10\nport=110\n[t]\nport=1\n600 regular file\n777 symbolic link\n"
    );
    // A validate command that refuses leaves the file as it was.
    let args = json!({"path": format!("{d}/real"), "regexp": "port", "replace": "p", "validate": "false %s"});
    let e = h.run("replace", args, false).await.expect_err("validate");
    assert!(e.to_string().contains("failed to validate"), "{e}");
    assert_eq!(h.sh(&format!("grep -c port {d}/real")).await, "4\n");
    let e = h
        .run(
            "replace",
            json!({"path": format!("{d}/none"), "regexp": "a"}),
            true,
        )
        .await
        .expect_err("missing");
    assert!(e.to_string().contains("does not exist"), "{e}");
    h.sh(&format!("rm -rf {d}")).await;
}

/// A read-only module: unchanged in check and real runs, one command each, same result.
async fn read_only(h: &Host, name: &str, args: Value) -> serde_json::Map<String, Value> {
    let one_command = args.get("contains").is_none() && args.get("get_checksum").is_none();
    let check = h.run(name, args.clone(), true).await.expect("check");
    let real = h.run(name, args, false).await.expect("real");
    assert!(!check.changed && !real.changed, "{name} never changes");
    // Reading files (`contains`, checksums) moves their atime: compare without it.
    let no_atime = |r: &serde_json::Map<String, Value>| {
        let mut r = r.clone();
        if let Some(Value::Array(files)) = r.get_mut("files") {
            files.iter_mut().for_each(|f| {
                f.as_object_mut().map(|f| f.remove("atime"));
            });
        }
        r
    };
    assert_eq!(no_atime(&check.result), no_atime(&real.result));
    if one_command {
        assert_eq!(real.plan_commands, 1, "{name}: one command");
    }
    real.result
}

#[tokio::test]
async fn slurp_returns_the_bytes() {
    let _g = lab_lock().await;
    let Some(h) = Host::open("lab3", local_dir("slurp")).map(Host::one_command_when_unchanged)
    else {
        return;
    };
    h.sh("printf 'a\\0b\\377\\n' > /tmp/prov-slurp").await;
    let r = read_only(&h, "slurp", json!({"src": "/tmp/prov-slurp"})).await;
    assert_eq!(
        r["content"],
        h.sh("base64 -w0 /tmp/prov-slurp").await.as_str()
    );
    assert_eq!(
        (r["encoding"].as_str(), r["source"].as_str()),
        (Some("base64"), Some("/tmp/prov-slurp"))
    );
    let e = h
        .run("slurp", json!({"src": "/tmp/prov-nothing"}), true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("file not found"), "{e}");
    let e = h
        .run("slurp", json!({"src": "/tmp"}), true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("directory"), "{e}");
    h.sh("rm -f /tmp/prov-slurp").await;
}

/// The tree `find` is tested on (also used to compare with the real module by hand).
const FIND_TREE: &str = "rm -rf /tmp/prov-find; mkdir -p /tmp/prov-find/sub/more /tmp/prov-find/.hid; cd /tmp/prov-find; \
    printf 'key=1\\n' > a.log; printf 'x\\nkey=2\\n' > sub/b.log; printf 'nokey\\n' > sub/more/c.log; \
    printf 'k\\n' > .hid/d.log; head -c 3000 /dev/zero > big.bin; ln -s sub lnk; chmod 0600 sub/b.log; \
    touch -d '2020-01-01' a.log";

#[tokio::test]
async fn find_lists_what_ansible_lists() {
    let _g = lab_lock().await;
    let Some(h) = Host::open("lab3", local_dir("find")).map(Host::one_command_when_unchanged)
    else {
        return;
    };
    h.sh(FIND_TREE).await;
    let paths = |r: &serde_json::Map<String, Value>| -> Vec<String> {
        let mut v: Vec<String> = r["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let r = read_only(
        &h,
        "find",
        json!({"paths": "/tmp/prov-find", "patterns": "*.log", "recurse": true}),
    )
    .await;
    // As the real module: `hidden` looks at names only (a file in a hidden directory is found).
    assert_eq!(
        paths(&r),
        [
            "/tmp/prov-find/.hid/d.log",
            "/tmp/prov-find/a.log",
            "/tmp/prov-find/sub/b.log",
            "/tmp/prov-find/sub/more/c.log"
        ]
    );
    assert_eq!(
        (r["matched"].as_u64(), r["examined"].as_u64()),
        (Some(4), Some(9))
    );
    let b = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/tmp/prov-find/sub/b.log")
        .unwrap();
    assert_eq!(
        (
            b["mode"].as_str(),
            b["size"].as_u64(),
            b["pw_name"].as_str()
        ),
        (Some("0600"), Some(8), Some("root"))
    );
    assert_eq!(
        (
            b["rusr"].as_bool(),
            b["roth"].as_bool(),
            b["isreg"].as_bool()
        ),
        (Some(true), Some(false), Some(true))
    );
    let inode = h.sh("stat -c %i /tmp/prov-find/sub/b.log").await;
    assert_eq!(b["inode"].to_string(), inode.trim());

    let r = read_only(&h, "find", json!({"paths": "/tmp/prov-find", "contains": "key=", "recurse": true, "hidden": true, "get_checksum": true})).await;
    assert_eq!(
        paths(&r),
        ["/tmp/prov-find/a.log", "/tmp/prov-find/sub/b.log"],
        "`contains` matches from a line's start"
    );
    let sum = h.sh("sha1sum < /tmp/prov-find/a.log").await;
    let a = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/tmp/prov-find/a.log")
        .unwrap();
    assert_eq!(a["checksum"].as_str(), sum.split(' ').next());
    let r = read_only(
        &h,
        "find",
        json!({"paths": "/tmp/prov-find", "age": "52w", "size": "-1k"}),
    )
    .await;
    assert_eq!(paths(&r), ["/tmp/prov-find/a.log"]);
    let r = read_only(&h, "find", json!({"paths": ["/tmp/prov-find", "/tmp/prov-find/a.log"], "file_type": "any", "depth": 1, "recurse": true})).await;
    assert_eq!(
        paths(&r),
        [
            "/tmp/prov-find/a.log",
            "/tmp/prov-find/big.bin",
            "/tmp/prov-find/lnk",
            "/tmp/prov-find/sub"
        ]
    );
    assert_eq!(
        r["msg"],
        "Not all paths examined, check warnings for details"
    );
    assert_eq!(
        r["examined"], 8,
        "entries one level too deep are counted, then pruned"
    );
    h.sh("rm -rf /tmp/prov-find").await;
}

/// A tiny HTTP/1.0 server on the lab bridge (the controller's side, 10.77.0.1): `/app.bin`
/// serves the current body, anything else is a 404. Request heads are recorded.
struct Http {
    port: u16,
    body: Arc<std::sync::Mutex<Vec<u8>>>,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Http {
    async fn start(body: &[u8]) -> Http {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("10.77.0.1:0")
            .await
            .expect("bind on the lab bridge");
        let port = listener.local_addr().unwrap().port();
        let body = Arc::new(std::sync::Mutex::new(body.to_vec()));
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (b, hs) = (body.clone(), heads.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (b, hs) = (b.clone(), hs.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    hs.lock().unwrap().push(head.clone());
                    let path = head.split(' ').nth(1).unwrap_or("");
                    let (status, data) = match path {
                        "/app.bin" => ("200 OK", b.lock().unwrap().clone()),
                        _ => ("404 Not Found", b"no".to_vec()),
                    };
                    let mut resp = format!(
                        "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n",
                        data.len()
                    )
                    .into_bytes();
                    resp.extend(data);
                    let _ = s.write_all(&resp).await;
                });
            }
        });
        Http {
            port,
            body,
            heads,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://10.77.0.1:{}{path}", self.port)
    }
}

#[tokio::test]
async fn get_url_downloads_from_the_lab_bridge() {
    let _g = lab_lock().await;
    let Some(h) = Host::open("lab3", local_dir("get_url")).map(Host::one_command_when_unchanged)
    else {
        return;
    };
    let srv = Http::start(b"version 1\n").await;
    let d = "/tmp/prov-get-url";
    h.sh(&format!("rm -rf {d}; mkdir -p {d}")).await;
    let tool = h.sh("command -v curl || command -v python3").await;
    eprintln!("lab3 downloads with {}", tool.trim());

    // Into a directory: the URL's file name; the header reaches the server.
    let args = json!({"url": srv.url("/app.bin"), "dest": format!("{d}/"), "mode": "0640",
        "headers": {"Authorization": "Bearer t0ken"}});
    let real = h.converge("get_url", args).await;
    assert_eq!(
        real.summary[0],
        format!("download {} to {d}/app.bin (10 bytes)", srv.url("/app.bin"))
    );
    assert_eq!(
        h.sh(&format!("cat {d}/app.bin; stat -c %a {d}/app.bin"))
            .await,
        "version 1\n640\n"
    );
    assert!(
        srv.heads
            .lock()
            .unwrap()
            .iter()
            .any(|hd| hd.contains("Authorization: Bearer t0ken"))
    );

    // New content at the URL: downloaded again (force: no and no checksum compare content).
    *srv.body.lock().unwrap() = b"version 2\n".to_vec();
    let args = json!({"url": srv.url("/app.bin"), "dest": format!("{d}/app.bin")});
    let real = h.converge("get_url", args).await;
    assert!(real.changed);
    assert_eq!(
        h.sh(&format!("cat {d}/app.bin; stat -c %a {d}/app.bin"))
            .await,
        "version 2\n640\n"
    );

    // A matching checksum: no download at all.
    let sum = h.sh(&format!("sha256sum < {d}/app.bin")).await;
    let sum = sum.split(' ').next().unwrap();
    let n = srv.heads.lock().unwrap().len();
    let args = json!({"url": srv.url("/app.bin"), "dest": format!("{d}/app.bin"), "checksum": format!("sha256:{sum}")});
    let ok = h.run("get_url", args, false).await.unwrap();
    assert_eq!(
        (ok.changed, ok.result["msg"].as_str()),
        (false, Some("file already exists"))
    );
    assert_eq!(srv.heads.lock().unwrap().len(), n, "no request");

    // A wrong checksum fails and leaves the file; a 404 fails with the status.
    let args = json!({"url": srv.url("/app.bin"), "dest": format!("{d}/new.bin"), "checksum": "sha1:0123"});
    let e = h.run("get_url", args, true).await.unwrap_err();
    assert!(e.to_string().contains("did not match"), "{e}");
    let e = h
        .run(
            "get_url",
            json!({"url": srv.url("/nothing"), "dest": format!("{d}/x")}),
            false,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Request failed"), "{e}");
    assert_eq!(
        h.sh(&format!("ls -A {d}")).await,
        "app.bin\n",
        "no temporary file left"
    );
    srv.task.abort();
    h.sh(&format!("rm -rf {d}")).await;
}

#[tokio::test]
async fn unarchive_from_the_controller_and_from_the_host() {
    let _g = lab_lock().await;
    let local = local_dir("unarchive");
    let tree = local.join("tree");
    std::fs::create_dir_all(tree.join("app/bin")).unwrap();
    std::fs::write(tree.join("app/bin/run"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::write(tree.join("app/conf"), "a=1\n").unwrap();
    let tar = std::process::Command::new("tar")
        .args(["--owner=0", "--group=0", "-czf"])
        .arg(local.join("app.tar.gz"))
        .arg("-C")
        .arg(&tree)
        .arg("app")
        .status()
        .unwrap();
    assert!(tar.success());
    let Some(h) = Host::open("lab3", local.clone()).map(Host::one_command_when_unchanged) else {
        return;
    };
    let d = "/tmp/prov-unarchive";
    h.sh(&format!("rm -rf {d}; mkdir -p {d}/dest {d}/other"))
        .await;

    // From the controller: streamed in, compared with `tar --diff`, unpacked.
    let args = json!({"src": "app.tar.gz", "dest": format!("{d}/dest"), "list_files": true});
    let real = h.converge("unarchive", args.clone()).await;
    assert_eq!(
        real.summary,
        [format!("unpack app.tar.gz into {d}/dest (4 entries)")]
    );
    assert_eq!(real.result["handler"], "TgzArchive");
    let mut files: Vec<&str> = real.result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["app/", "app/bin/", "app/bin/run", "app/conf"]);
    assert_eq!(h.sh(&format!("cat {d}/dest/app/conf")).await, "a=1\n");
    // A touched file (new modification time) is unpacked again, as Ansible does.
    h.sh(&format!("echo changed > {d}/dest/app/conf")).await;
    let real = h.converge("unarchive", args).await;
    assert!(real.changed);
    assert_eq!(h.sh(&format!("cat {d}/dest/app/conf")).await, "a=1\n");

    // From the host, with a mode for every entry; then `creates` skips.
    h.sh(&format!(
        "cd {d} && mkdir -p t/x && echo y > t/x/y && tar -cf plain.tar -C t x"
    ))
    .await;
    let args = json!({"src": format!("{d}/plain.tar"), "dest": format!("{d}/other"), "remote_src": true, "mode": "u=rwX,go="});
    let real = h.converge("unarchive", args.clone()).await;
    assert_eq!(real.result["handler"], "TarArchive");
    assert_eq!(
        h.sh(&format!("stat -c '%a %n' {d}/other/x {d}/other/x/y"))
            .await,
        format!("700 {d}/other/x\n600 {d}/other/x/y\n")
    );
    h.sh(&format!("chmod 0644 {d}/other/x/y")).await;
    let real = h.converge("unarchive", args).await;
    assert_eq!(real.summary, ["mode/owner/group of 1 of the 2 entries"]);
    let args = json!({"src": format!("{d}/plain.tar"), "dest": format!("{d}/nowhere"), "remote_src": true, "creates": format!("{d}/other/x")});
    let ok = h.run("unarchive", args, false).await.unwrap();
    assert_eq!(
        (ok.changed, ok.result["msg"].as_str()),
        (
            false,
            Some(format!("skipped, since {d}/other/x exists").as_str())
        )
    );
    let e = h.run("unarchive", json!({"src": format!("{d}/plain.tar"), "dest": format!("{d}/nowhere"), "remote_src": true}), true).await.unwrap_err();
    assert!(e.to_string().contains("is not a directory"), "{e}");
    h.sh(&format!("rm -rf {d}")).await;
    let _ = std::fs::remove_dir_all(&local);
}

/// The local tree of the directory copies: files, a private directory, empty directories, a
/// link to a file, one to a directory and a dangling one.
fn copy_tree(root: &Path) -> PathBuf {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let s = root.join("src");
    for d in ["sub/deep", "empty/inner", "other"] {
        std::fs::create_dir_all(s.join(d)).unwrap();
    }
    for (f, text) in [
        ("a.txt", "a\n"),
        ("sub/b.txt", "b\n"),
        ("sub/deep/c.txt", "c\n"),
        ("other/o.txt", "o\n"),
    ] {
        std::fs::write(s.join(f), text).unwrap();
    }
    let mode = |p: &str, m| std::fs::set_permissions(s.join(p), PermissionsExt::from_mode(m));
    mode("sub", 0o700).unwrap();
    mode("a.txt", 0o600).unwrap();
    symlink("a.txt", s.join("link_a")).unwrap();
    symlink("other", s.join("link_dir")).unwrap();
    symlink("nowhere", s.join("dangling")).unwrap();
    s
}

/// `find` of a remote tree: path, mode, owner, group, link target; sorted.
async fn listing(h: &Host, dir: &str) -> Vec<String> {
    let out = h
        .sh(&format!("cd {dir} && find . -printf '%p %M %u %g %l\\n'"))
        .await;
    let mut v: Vec<String> = out.lines().map(|l| l.trim_end().to_owned()).collect();
    v.sort();
    v
}

/// What ansible-core 2.19's `copy` left on lab3 for the tree of [`copy_tree`] (recorded by
/// hand with `ansible lab3 -m copy`), with `{d}` for the directory's permissions, `{f}` for
/// the files', `{o}` for owner and group.
fn ansible_left(lines: &[&str], d: &str, f: &str, o: &str) -> Vec<String> {
    let mut v: Vec<String> = lines
        .iter()
        .map(|l| {
            l.replace("{d}", d)
                .replace("{f}", f)
                .replace("{o}", o)
                .trim_end()
                .to_owned()
        })
        .collect();
    v.sort();
    v
}

const ANSIBLE_TREE: &[&str] = &[
    "./a.txt -{f} {o}",
    "./dangling lrwxrwxrwx {o} nowhere",
    "./empty d{d} {o}",
    "./empty/inner d{d} {o}",
    "./link_a -{f} {o}",
    "./link_dir d{d} {o}",
    "./link_dir/o.txt -{f} {o}",
    "./other d{d} {o}",
    "./other/o.txt -{f} {o}",
    "./sub d{d} {o}",
    "./sub/b.txt -{f} {o}",
    "./sub/deep d{d} {o}",
    "./sub/deep/c.txt -{f} {o}",
];

#[tokio::test]
async fn copy_of_a_directory_leaves_what_ansible_leaves() {
    let _g = lab_lock().await;
    let local = local_dir("copydir");
    copy_tree(&local);
    let Some(h) = Host::open("lab3", local.clone()).map(Host::one_command_when_unchanged) else {
        return;
    };
    let d = "/tmp/prov-copydir";
    h.sh(&format!("rm -rf {d}; mkdir {d}")).await;

    // `src/`: the contents, into a new directory owned like the files.
    let args =
        json!({"src": "src/", "dest": format!("{d}/slash"), "owner": "daemon", "group": "daemon"});
    let real = h.converge("copy", args).await;
    assert!(real.changed);
    assert_eq!(
        (real.result["dest"].as_str(), real.result["src"].as_str()),
        (
            Some(format!("{d}/slash/").as_str()),
            Some(format!("{}/src/", local.display()).as_str())
        )
    );
    let mut want = ansible_left(ANSIBLE_TREE, "rwxr-xr-x", "rw-r--r--", "daemon daemon");
    want.push(". drwxr-xr-x daemon daemon".into());
    want.sort();
    assert_eq!(listing(&h, &format!("{d}/slash")).await, want);

    // `src`: `dest/src/`, with modes for files and directories.
    let args = json!({"src": "src", "dest": format!("{d}/noslash"), "mode": "0640", "directory_mode": "0750"});
    h.converge("copy", args.clone()).await;
    let mut want = ansible_left(ANSIBLE_TREE, "rwxr-x---", "rw-r-----", "root root");
    want = want.iter().map(|l| l.replacen("./", "./src/", 1)).collect();
    want.extend([
        ". drwxr-x--- root root".into(),
        "./src drwxr-x--- root root".into(),
    ]);
    want.sort();
    assert_eq!(listing(&h, &format!("{d}/noslash")).await, want);

    // As Ansible: the tree's directories get directory_mode again, `dest` and `dest/src` do
    // not; a file gets its mode back.
    h.sh(&format!(
        "cd {d}/noslash && chmod 0700 . src src/sub && chmod 0600 src/a.txt"
    ))
    .await;
    let real = h.converge("copy", args).await;
    assert_eq!(
        real.summary,
        [
            format!("mode of {d}/noslash/src/sub: 0700 -> 0750"),
            format!("mode of {d}/noslash/src/a.txt: 0600 -> 0640"),
        ]
    );
    assert_eq!(
        h.sh(&format!(
            "cd {d}/noslash && stat -c '%a %n' . src src/sub src/a.txt"
        ))
        .await,
        "700 .\n700 src\n750 src/sub\n640 src/a.txt\n"
    );

    // local_follow: no copies the links as links.
    let args = json!({"src": "src/", "dest": format!("{d}/nolf"), "local_follow": false});
    h.converge("copy", args).await;
    let nolf = listing(&h, &format!("{d}/nolf")).await;
    let links: Vec<&String> = nolf.iter().filter(|l| l.contains(" l")).collect();
    assert_eq!(
        links,
        [
            "./dangling lrwxrwxrwx root root nowhere",
            "./link_a lrwxrwxrwx root root a.txt",
            "./link_dir lrwxrwxrwx root root other"
        ]
    );
    assert!(!nolf.iter().any(|l| l.starts_with("./link_dir/")));

    // A changed file is updated in place, with a diff line count; force: no keeps it.
    h.sh(&format!("echo old > {d}/slash/sub/b.txt")).await;
    let keep = json!({"src": "src/", "dest": format!("{d}/slash"), "owner": "daemon", "group": "daemon", "force": false});
    let kept = h.run("copy", keep, false).await.unwrap();
    assert!(!kept.changed, "{kept:?}");
    let args =
        json!({"src": "src/", "dest": format!("{d}/slash"), "owner": "daemon", "group": "daemon"});
    let real = h.converge("copy", args).await;
    assert_eq!(
        real.summary,
        [format!("update {d}/slash/sub/b.txt (+1 -1 lines)")]
    );
    assert_eq!(h.sh(&format!("cat {d}/slash/sub/b.txt")).await, "b\n");

    // A tree with one file reports that file, as Ansible does.
    std::fs::create_dir_all(local.join("one")).unwrap();
    std::fs::write(local.join("one/x"), "x\n").unwrap();
    let real = h
        .converge("copy", json!({"src": "one", "dest": format!("{d}/one/")}))
        .await;
    assert_eq!(real.result["dest"], format!("{d}/one/one/x").as_str());
    assert_eq!(
        real.result["checksum"],
        "6fcf9dfbd479ed82697fee719b9f8c610a11ff2a"
    );
    h.sh(&format!("rm -rf {d}")).await;
    let _ = std::fs::remove_dir_all(&local);
}
