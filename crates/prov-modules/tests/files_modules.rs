//! Integration tests of command, shell, copy, template, file, lineinfile, blockinfile and stat
//! on the local connection, in temporary directories.
//!
//! For every module: the first run changes, the second does not, a check-mode plan on the
//! converged state predicts no change, and the check plan made before the change predicts
//! exactly what the real run then changes (its diffs equal the real run's and the resulting
//! file).

#[path = "support/counting.rs"]
mod counting;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use counting::Counting;
use prov_core::{
    CheckMode, Connection, FileKind, FileSource, ModuleContext, ModuleError, Peers, PlanReport,
};
use prov_transport::LocalConnection;
use serde_json::{Value, json};

/// What a test compares of a plan.
type Seen = PlanReport;

/// What applying produced: the result fields and the failure, if the action failed.
#[derive(Debug, Default)]
struct Ran {
    result: serde_json::Map<String, Value>,
    failed: Option<String>,
}

/// Finds files in one folder; renders `{{ name }}` and `{{ port }}` as a template engine would.
struct Files {
    dir: PathBuf,
}

impl FileSource for Files {
    fn find(&self, _kind: FileKind, name: &str) -> Result<PathBuf, ModuleError> {
        let p = if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            self.dir.join(name)
        };
        if p.exists() {
            Ok(p)
        } else {
            Err(ModuleError::LocalFile(format!("could not find {name}")))
        }
    }

    fn render(&self, path: &Path) -> Result<String, ModuleError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ModuleError::Template(e.to_string()))?;
        Ok(text
            .replace("{{ name }}", "world")
            .replace("{{ port }}", "6379"))
    }
}

struct NoPeers;

impl Peers for NoPeers {
    fn connection(&self, _host: &str) -> Option<Arc<dyn Connection>> {
        None
    }
}

struct Host {
    conn: Counting<Box<LocalConnection>>,
    files: Files,
    facts: Value,
    /// The remote side of the test.
    dir: tempfile::TempDir,
    /// The controller's files.
    _local: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let local = tempfile::tempdir().unwrap();
        Self {
            conn: Counting::new(Box::new(LocalConnection::new("localhost"))),
            files: Files {
                dir: local.path().to_owned(),
            },
            facts: json!({}),
            dir: tempfile::tempdir().unwrap(),
            _local: local,
        }
    }

    /// A path in the remote directory.
    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// Writes a controller-side file (for `src`).
    fn local_file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.files.dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn ctx(&self, check: bool) -> ModuleContext<'_> {
        ModuleContext {
            host: "localhost",
            conn: &self.conn,
            become_: None,
            check_mode: check,
            facts: &self.facts,
            files: &self.files,
            peers: &NoPeers,
            timeout: Some(std::time::Duration::from_secs(30)),
            environment: &[],
        }
    }

    async fn plan(&self, module: &str, args: Value, check: bool) -> Result<Seen, ModuleError> {
        let m = build(module, args)?;
        Ok(m.plan(&self.ctx(check)).await?.split().0)
    }

    /// Plans and applies (like the engine outside check mode); a failure of the action is an
    /// outcome with `failed` set, as the engine registers it.
    async fn run(&self, module: &str, args: Value) -> Result<(Seen, Ran), ModuleError> {
        let m = build(module, args)?;
        let ctx = self.ctx(false);
        let (seen, action) = m.plan(&ctx).await?.split();
        let outcome = match action {
            None => Ran::default(),
            Some(a) => match a.apply(&ctx).await {
                Ok(o) => Ran {
                    result: o.result,
                    failed: None,
                },
                Err(ModuleError::Failed(f)) => Ran {
                    result: f.result,
                    failed: Some(f.message),
                },
                Err(e) => return Err(e),
            },
        };
        Ok((seen, outcome))
    }

    /// The full idempotence cycle. Returns the real run's plan and outcome.
    async fn converge(&self, module: &str, args: Value) -> (Seen, Ran) {
        let predicted = self.plan(module, args.clone(), true).await.unwrap();
        assert!(
            predicted.changed,
            "{module}: check plan predicts no change: {predicted:?}"
        );
        let (plan, outcome) = self.run(module, args.clone()).await.unwrap();
        assert!(plan.changed, "{module}: first run did not change");
        assert!(outcome.failed.is_none(), "{module}: {outcome:?}");
        assert_eq!(
            predicted.diffs, plan.diffs,
            "{module}: check plan diffs differ from the real run"
        );
        assert_eq!(
            predicted.summary, plan.summary,
            "{module}: check summary differs"
        );
        let before = self.conn.count();
        let (again, _) = self.run(module, args.clone()).await.unwrap();
        assert_eq!(
            self.conn.count() - before,
            1,
            "{module}: a run without changes must cost exactly one remote command"
        );
        assert!(!again.changed, "{module}: second run changed: {again:?}");
        let check = self.plan(module, args, true).await.unwrap();
        assert!(
            !check.changed,
            "{module}: check plan on converged state changed: {check:?}"
        );
        (plan, outcome)
    }
}

fn build(module: &str, args: Value) -> Result<Box<dyn prov_core::Module>, ModuleError> {
    let spec = prov_modules::lookup(module).unwrap_or_else(|| panic!("no module {module}"));
    (spec.build)(args)
}

fn mode_of(p: &str) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// Asserts that the plan's content diff for `path` ends in what the file now holds.
fn assert_diff_matches_file(plan: &Seen, path: &str) {
    let d = plan
        .diffs
        .iter()
        .find(|d| d.label == path)
        .unwrap_or_else(|| panic!("no diff for {path}: {plan:?}"));
    assert_eq!(
        d.after,
        read(path),
        "diff `after` is not the resulting file"
    );
}

fn no_temp_files(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".prov-"))
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// Argument checking

#[test]
fn unknown_arguments_are_rejected_by_name() {
    for m in [
        "command",
        "shell",
        "copy",
        "template",
        "file",
        "lineinfile",
        "blockinfile",
        "stat",
    ] {
        let err = build(
            m,
            json!({"cmd": "true", "path": "/tmp/x", "dest": "/tmp/x", "src": "a", "bogus_arg": 1}),
        )
        .err()
        .unwrap_or_else(|| panic!("{m} accepted an unknown argument"));
        let msg = err.to_string();
        assert!(
            msg.contains("bogus_arg") || msg.contains("unknown field"),
            "{m}: {msg}"
        );
    }
    let err = build(
        "copy",
        json!({"content": "x", "dest": "/tmp/x", "mdoe": "0644"}),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("mdoe"), "{err}");
    assert!(
        build(
            "copy",
            json!({"content": "x", "dest": "/tmp/x", "mode": 680})
        )
        .is_err()
    );
    assert!(build("file", json!({"path": "/tmp/x", "state": "sideways"})).is_err());
    assert!(build("command", json!({"cmd": "echo 'unbalanced"})).is_err());
    assert!(build("command", json!({})).is_err());
    assert!(build("copy", json!({"dest": "/tmp/x"})).is_err());
}

#[test]
fn python_only_regexes_get_clear_errors() {
    let e = build(
        "lineinfile",
        json!({"path": "/tmp/x", "regexp": "(?<=a)b", "line": "x"}),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("look-ahead and look-behind"), "{e}");
    let e = build(
        "lineinfile",
        json!({"path": "/tmp/x", "regexp": "(a)\\1", "line": "x"}),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("backreferences"), "{e}");
    let e = build(
        "lineinfile",
        json!({"path": "/tmp/x", "regexp": "a(", "line": "x"}),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("regexp"), "{e}");
    // Python accepts a literal `{`; so do we.
    assert!(
        build(
            "lineinfile",
            json!({"path": "/tmp/x", "regexp": "^server {", "line": "x"})
        )
        .is_ok()
    );
}

// ---------------------------------------------------------------------------------------------
// command / shell

#[tokio::test]
async fn command_words_are_not_interpreted_by_a_shell() {
    let h = Host::new();
    let marker = h.p("pwned");
    let cmd =
        format!(r#"printf '%s|' "a  b" 'it'"'"'s' '$(touch {marker})' '>out' ';' "`id`" '*'"#);
    let m = build("command", json!({ "cmd": cmd })).unwrap();
    assert_eq!(m.check_mode(), CheckMode::Unpredictable);
    let (plan, out) = h
        .run("command", json!({ "cmd": cmd, "chdir": h.p("") }))
        .await
        .unwrap();
    assert!(plan.changed);
    assert_eq!(out.result["rc"], json!(0));
    assert_eq!(
        out.result["stdout"],
        json!(format!("a  b|it's|$(touch {marker})|>out|;|`id`|*|"))
    );
    assert!(!Path::new(&marker).exists(), "command substitution ran");
    assert!(!Path::new(&h.p("out")).exists(), "redirection ran");
    assert_eq!(out.result["cmd"][0], json!("printf"));

    // argv, $VAR expansion (set and unset), leading ~.
    let (_, out) = h
        .run(
            "command",
            json!({"argv": ["printf", "%s|", "$HOME", "${PROV_SURELY_UNSET}", "~/x y"]}),
        )
        .await
        .unwrap();
    let home = std::env::var("HOME").unwrap();
    assert_eq!(
        out.result["stdout"],
        json!(format!("{home}|${{PROV_SURELY_UNSET}}|{home}/x y|"))
    );

    // A shell builtin name runs the real program (exec), a non-zero rc fails.
    let (_, out) = h.run("command", json!({"cmd": "false"})).await.unwrap();
    assert_eq!(out.failed.as_deref(), Some("non-zero return code"));
    assert_eq!(out.result["rc"], json!(1));
    let (_, out) = h
        .run("command", json!({"cmd": "cat", "stdin": "hello"}))
        .await
        .unwrap();
    assert_eq!(out.result["stdout"], json!("hello"));
    assert_eq!(out.result["stdout_lines"], json!(["hello"]));
}

#[tokio::test]
async fn command_creates_and_removes_make_it_idempotent() {
    let h = Host::new();
    let target = h.p("made by command");
    let args = json!({"cmd": format!("touch '{target}'"), "creates": target});
    let (p1, out) = h.run("command", args.clone()).await.unwrap();
    assert!(p1.changed);
    assert!(out.failed.is_none(), "{out:?}");
    assert!(Path::new(&target).exists());
    let before = h.conn.count();
    let (p2, _) = h.run("command", args.clone()).await.unwrap();
    assert!(!p2.changed);
    assert_eq!(h.conn.count() - before, 1);
    assert_eq!(
        p2.result["msg"],
        json!(format!("Did not run command since '{target}' exists"))
    );
    assert_eq!(
        p2.result["stdout"],
        json!(format!("skipped, since {target} exists"))
    );
    let check = h.plan("command", args, true).await.unwrap();
    assert!(!check.changed);
    // creates as a glob, relative to chdir.
    let glob = json!({"cmd": "touch nothing", "chdir": h.p(""), "creates": "made*"});
    assert!(!h.plan("command", glob, false).await.unwrap().changed);
    // removes: runs only while the path exists.
    let args = json!({"cmd": format!("rm '{target}'"), "removes": target});
    let (p, _) = h.run("command", args.clone()).await.unwrap();
    assert!(p.changed);
    let (p, _) = h.run("command", args).await.unwrap();
    assert!(!p.changed);
    assert_eq!(
        p.result["msg"],
        json!(format!(
            "Did not run command since '{target}' does not exist"
        ))
    );
}

#[tokio::test]
async fn shell_runs_pipelines_and_is_guarded() {
    let h = Host::new();
    let out_file = h.p("shell out");
    let args = json!({"cmd": format!("echo hi | tr a-z A-Z > '{out_file}'"), "creates": out_file});
    // Guarded by `creates`: check mode reports whether it would run, as Ansible's.
    assert_eq!(
        build("shell", args.clone()).unwrap().check_mode(),
        CheckMode::Predicts
    );
    let (p, out) = h.run("shell", args.clone()).await.unwrap();
    assert!(p.changed && out.failed.is_none());
    assert_eq!(read(&out_file), "HI\n");
    let (p, _) = h.run("shell", args).await.unwrap();
    assert!(!p.changed);
    let (_, out) = h
        .run("shell", json!({"cmd": "[[ x == x ]] && echo bash; pwd", "executable": "/bin/bash", "chdir": h.p("")}))
        .await
        .unwrap();
    assert_eq!(
        out.result["stdout_lines"],
        json!(["bash", h.dir.path().to_str().unwrap()])
    );
    let (_, out) = h
        .run("shell", json!({"cmd": "echo oops >&2; exit 3"}))
        .await
        .unwrap();
    assert_eq!(out.result["rc"], json!(3));
    assert_eq!(out.result["stderr"], json!("oops"));
    assert!(out.failed.is_some());
    let (_, out) = h
        .run(
            "shell",
            json!({"cmd": "read x; echo \"got $x\"", "stdin": "v"}),
        )
        .await
        .unwrap();
    assert_eq!(out.result["stdout"], json!("got v"));
}

// ---------------------------------------------------------------------------------------------
// copy / template

#[tokio::test]
async fn copy_content_converges_with_mode_owner_group() {
    let h = Host::new();
    let dest = h.p("app.conf");
    let args = json!({"content": "a = 1\nb = 2\n", "dest": dest, "mode": 644, "owner": "root", "group": "nogroup"});
    let (plan, _) = h.converge("copy", args).await;
    assert_diff_matches_file(&plan, &dest);
    assert_eq!(plan.diffs[0].before, "");
    assert_eq!(mode_of(&dest), 0o644);
    let meta = std::fs::metadata(&dest).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 65534));
    let sum = std::process::Command::new("sha1sum")
        .arg(&dest)
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(
        plan.result["checksum"],
        json!(sum.split(' ').next().unwrap())
    );
    no_temp_files(h.dir.path());

    // Content change: the diff shows old -> new and matches the result.
    let args = json!({"content": "a = 1\nb = 3\n", "dest": dest, "mode": "0644"});
    let (plan, _) = h.converge("copy", args).await;
    assert_eq!(plan.diffs[0].before, "a = 1\nb = 2\n");
    assert_diff_matches_file(&plan, &dest);
    assert!(plan.summary[0].contains("+1 -1"), "{:?}", plan.summary);

    // Attribute-only change (symbolic mode), predicted then applied.
    let (plan, _) = h
        .converge(
            "copy",
            json!({"content": "a = 1\nb = 3\n", "dest": dest, "mode": "u=rw,g=,o="}),
        )
        .await;
    assert_eq!(plan.summary, vec![format!("mode of {dest}: 0644 -> 0600")]);
    assert_eq!(mode_of(&dest), 0o600);

    // force: no leaves an existing file alone.
    let (p, _) = h
        .run(
            "copy",
            json!({"content": "other", "dest": dest, "force": "no"}),
        )
        .await
        .unwrap();
    assert!(!p.changed);
    assert_eq!(read(&dest), "a = 1\nb = 3\n");
}

#[tokio::test]
async fn copy_src_into_directory_with_backup() {
    let h = Host::new();
    h.local_file("motd", b"hello\n");
    let dir = h.p("etc");
    std::fs::create_dir(&dir).unwrap();
    let (plan, _) = h
        .converge("copy", json!({"src": "motd", "dest": dir}))
        .await;
    let dest = format!("{dir}/motd");
    assert_eq!(plan.result["dest"], json!(dest));
    assert_diff_matches_file(&plan, &dest);
    assert_eq!(mode_of(&dest), 0o644);
    // backup keeps the previous content.
    h.local_file("motd", b"changed\n");
    h.converge("copy", json!({"src": "motd", "dest": dest, "backup": true}))
        .await;
    let backups: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with("motd.")
                && e.file_name().to_string_lossy().ends_with('~')
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).unwrap(),
        "hello\n"
    );
    // A trailing slash creates the directory.
    let newdir = h.p("new/");
    h.converge("copy", json!({"src": "motd", "dest": newdir}))
        .await;
    assert_eq!(read(&format!("{newdir}motd")), "changed\n");
}

#[tokio::test]
async fn copy_big_binary_file_is_streamed_and_noted() {
    let h = Host::new();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    h.local_file("blob.bin", &data);
    let dest = h.p("blob.bin");
    let (plan, _) = h
        .converge("copy", json!({"src": "blob.bin", "dest": dest}))
        .await;
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(
        plan.diffs[0].after.contains("not shown"),
        "{:?}",
        plan.diffs
    );
}

#[tokio::test]
async fn copy_errors_are_clear_and_leave_no_temp_file() {
    let h = Host::new();
    let err = h
        .plan(
            "copy",
            json!({"content": "x", "dest": h.p("missing/dir/f")}),
            false,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Destination directory"), "{err}");
    // The install fails (unknown owner): nothing is left behind, the old file is untouched.
    let dest = h.p("keep");
    std::fs::write(&dest, "old\n").unwrap();
    let err = h
        .run(
            "copy",
            json!({"content": "new\n", "dest": dest, "owner": "no-such-user-prov"}),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no-such-user-prov") || err.to_string().contains("invalid user"),
        "{err}"
    );
    assert_eq!(read(&dest), "old\n");
    no_temp_files(h.dir.path());
    let err = h
        .plan("copy", json!({"src": "nope", "dest": dest}), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn template_renders_and_converges() {
    let h = Host::new();
    h.local_file("redis.conf.j2", b"# {{ name }}\nport {{ port }}\n");
    let dest = h.p("redis.conf");
    let (plan, _) = h
        .converge(
            "template",
            json!({"src": "redis.conf.j2", "dest": dest, "mode": 640}),
        )
        .await;
    assert_eq!(read(&dest), "# world\nport 6379\n");
    assert_diff_matches_file(&plan, &dest);
    assert_eq!(mode_of(&dest), 0o640);
    std::fs::write(&dest, "# world\nport 1\n").unwrap();
    let (plan, _) = h
        .converge(
            "template",
            json!({"src": "redis.conf.j2", "dest": dest, "mode": 640}),
        )
        .await;
    assert_eq!(plan.diffs[0].before, "# world\nport 1\n");
    assert_diff_matches_file(&plan, &dest);
}

// ---------------------------------------------------------------------------------------------
// file

#[tokio::test]
async fn file_directory_touch_absent() {
    let h = Host::new();
    let deep = h.p("a/b/c");
    let (plan, _) = h
        .converge(
            "file",
            json!({"path": deep, "state": "directory", "mode": "0750"}),
        )
        .await;
    assert_eq!(plan.summary.len(), 3, "{:?}", plan.summary);
    for d in ["a", "a/b", "a/b/c"] {
        assert_eq!(mode_of(&h.p(d)), 0o750, "{d}");
    }
    assert!(plan.diffs[0].after.contains("mode: 0750"));
    // Attribute change on an existing directory, predicted exactly.
    let (plan, _) = h
        .converge(
            "file",
            json!({"path": deep, "state": "directory", "mode": "u=rwx,go=rx"}),
        )
        .await;
    assert_eq!(
        plan.diffs[0].before,
        format!("path: {deep}\nstate: directory\nmode: 0750\n")
    );
    assert_eq!(
        plan.diffs[0].after,
        format!("path: {deep}\nstate: directory\nmode: 0755\n")
    );
    assert_eq!(mode_of(&deep), 0o755);

    // touch with preserved times is idempotent; default touch always changes.
    let f = h.p("a/touched");
    h.converge(
        "file",
        json!({"path": f, "state": "touch", "mode": 600, "modification_time": "preserve", "access_time": "preserve"}),
    )
    .await;
    assert_eq!(mode_of(&f), 0o600);
    let (p, _) = h
        .run("file", json!({"path": f, "state": "touch"}))
        .await
        .unwrap();
    assert!(p.changed);
    // An explicit timestamp converges.
    h.converge(
        "file",
        json!({"path": f, "state": "file", "modification_time": "202001021030.00"}),
    )
    .await;
    let meta = std::fs::metadata(&f).unwrap();
    let out = std::process::Command::new("date")
        .args(["-d", "2020-01-02 10:30:00", "+%s"])
        .output()
        .unwrap();
    assert_eq!(
        meta.mtime().to_string(),
        String::from_utf8_lossy(&out.stdout).trim()
    );

    // state=file on a missing path fails; on an existing file it only fixes attributes.
    let err = h
        .plan("file", json!({"path": h.p("nope"), "state": "file"}), false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is absent, cannot continue"),
        "{err}"
    );
    h.converge(
        "file",
        json!({"path": f, "mode": "0644", "owner": "root", "group": "nogroup"}),
    )
    .await;
    assert_eq!(std::fs::metadata(&f).unwrap().gid(), 65534);

    // absent removes a whole tree.
    let (plan, _) = h
        .converge("file", json!({"path": h.p("a"), "state": "absent"}))
        .await;
    assert!(plan.diffs[0].after.contains("state: absent"));
    assert!(!Path::new(&h.p("a")).exists());
}

/// `state: link` with `mode` (and `follow`, the default) sets the mode of the link's target,
/// as Ansible's file module does (it resolves the path before setting attributes):
/// geerlingguy.apache links its vhost file with `mode: 0644`. With `follow: no` a mode is
/// refused (Linux links have none); a dangling link gets no attributes.
#[tokio::test]
async fn file_link_attributes_go_to_the_target_with_follow() {
    use std::os::unix::fs::PermissionsExt;
    let h = Host::new();
    let target = h.p("vhosts.conf");
    std::fs::write(&target, "v").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = h.p("enabled.conf");
    let args = json!({"path": link, "src": target, "state": "link", "mode": "0644"});
    h.converge("file", args).await;
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&target), 0o644, "the target's mode");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // An existing link whose target's mode differs: only the mode changes, on the target.
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (plan, _) = h
        .converge(
            "file",
            json!({"path": link, "src": target, "state": "link", "mode": "0600"}),
        )
        .await;
    assert_eq!(plan.summary.len(), 1, "{:?}", plan.summary);
    assert_eq!(mode(&target), 0o600);
    let err = build(
        "file",
        json!({"path": link, "src": target, "state": "link", "mode": "0644", "follow": false}),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("follow: no"), "{err}");
    // A link to a missing target (force) gets no attributes, as Ansible warns and skips.
    let ghost = h.p("ghost-link");
    h.converge(
        "file",
        json!({"path": ghost, "src": h.p("nowhere"), "state": "link", "force": true, "mode": "0644"}),
    )
    .await;
}

#[tokio::test]
async fn file_links_and_recursion() {
    let h = Host::new();
    let target = h.p("target.txt");
    std::fs::write(&target, "t").unwrap();
    let link = h.p("link");
    let (plan, _) = h
        .converge(
            "file",
            json!({"path": link, "src": "target.txt", "state": "link"}),
        )
        .await;
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        PathBuf::from("target.txt")
    );
    assert!(plan.diffs[0].after.contains("src: target.txt"));
    // Re-pointing the link is predicted and applied.
    std::fs::write(h.p("other"), "o").unwrap();
    h.converge(
        "file",
        json!({"path": link, "src": h.p("other"), "state": "link"}),
    )
    .await;
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        PathBuf::from(h.p("other"))
    );
    // A missing source is refused without force, accepted with it.
    let err = h
        .plan(
            "file",
            json!({"path": h.p("l2"), "src": "ghost", "state": "link"}),
            false,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("src file does not exist"), "{err}");
    h.converge(
        "file",
        json!({"path": h.p("l2"), "src": "ghost", "state": "link", "force": true}),
    )
    .await;
    // A regular file is not replaced by a link without force.
    let err = h
        .plan(
            "file",
            json!({"path": target, "src": "other", "state": "link"}),
            false,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    // Hard links.
    let hard = h.p("hard");
    h.converge(
        "file",
        json!({"path": hard, "src": target, "state": "hard"}),
    )
    .await;
    assert_eq!(
        std::fs::metadata(&hard).unwrap().ino(),
        std::fs::metadata(&target).unwrap().ino()
    );

    // recurse sets every entry.
    let tree = h.p("tree");
    std::fs::create_dir_all(format!("{tree}/sub")).unwrap();
    std::fs::write(format!("{tree}/sub/f"), "x").unwrap();
    std::fs::set_permissions(
        format!("{tree}/sub/f"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (plan, _) = h
        .converge("file", json!({"path": tree, "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o=rX", "group": "nogroup"}))
        .await;
    assert!(
        plan.summary.iter().any(|s| s.contains("2 entries")),
        "{:?}",
        plan.summary
    );
    assert_eq!(mode_of(&format!("{tree}/sub/f")), 0o644);
    assert_eq!(mode_of(&format!("{tree}/sub")), 0o755);
    assert_eq!(
        std::fs::metadata(format!("{tree}/sub/f")).unwrap().gid(),
        65534
    );
}

// ---------------------------------------------------------------------------------------------
// lineinfile / blockinfile

#[tokio::test]
async fn lineinfile_replaces_last_match_inserts_and_removes() {
    let h = Host::new();
    let f = h.p("sshd_config");
    std::fs::write(
        &f,
        "Port 22\n#PermitRootLogin yes\nPermitRootLogin yes\nUsePAM yes",
    )
    .unwrap();
    let (plan, _) = h
        .converge(
            "lineinfile",
            json!({"path": f, "regexp": "^#?PermitRootLogin\\s", "line": "PermitRootLogin no"}),
        )
        .await;
    assert_eq!(
        read(&f),
        "Port 22\n#PermitRootLogin yes\nPermitRootLogin no\nUsePAM yes"
    );
    assert_diff_matches_file(&plan, &f);
    assert_eq!(plan.result["msg"], json!("line replaced"));
    // No match: inserted after the last insertafter match.
    let (plan, _) = h
        .converge(
            "lineinfile",
            json!({"path": f, "line": "X11Forwarding no", "insertafter": "^Port"}),
        )
        .await;
    assert_eq!(
        read(&f),
        "Port 22\nX11Forwarding no\n#PermitRootLogin yes\nPermitRootLogin no\nUsePAM yes"
    );
    assert_diff_matches_file(&plan, &f);
    // At EOF of a file without a final newline.
    h.converge("lineinfile", json!({"path": f, "line": "Banner none"}))
        .await;
    assert!(read(&f).ends_with("UsePAM yes\nBanner none\n"));
    // insertbefore BOF.
    h.converge(
        "lineinfile",
        json!({"path": f, "line": "# managed", "insertbefore": "BOF"}),
    )
    .await;
    assert!(read(&f).starts_with("# managed\nPort 22\n"));
    // backrefs.
    h.converge(
        "lineinfile",
        json!({"path": f, "regexp": "^(Port) \\d+$", "line": "\\g<1> 2222", "backrefs": "yes"}),
    )
    .await;
    assert!(read(&f).contains("\nPort 2222\n"));
    // backrefs without a match changes nothing.
    let (p, _) = h
        .run(
            "lineinfile",
            json!({"path": f, "regexp": "^Nope (.*)$", "line": "\\1", "backrefs": true}),
        )
        .await
        .unwrap();
    assert!(!p.changed);
    // absent.
    let (plan, _) = h
        .converge(
            "lineinfile",
            json!({"path": f, "regexp": "PermitRootLogin", "state": "absent"}),
        )
        .await;
    assert_eq!(plan.result["msg"], json!("2 line(s) removed"));
    assert!(!read(&f).contains("PermitRootLogin"));
    // create with mode.
    let nf = h.p("sub/new.conf");
    h.converge(
        "lineinfile",
        json!({"path": nf, "line": "k=v", "create": true, "mode": 600}),
    )
    .await;
    assert_eq!(read(&nf), "k=v\n");
    assert_eq!(mode_of(&nf), 0o600);
    let err = h
        .plan(
            "lineinfile",
            json!({"path": h.p("none"), "line": "x"}),
            false,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    no_temp_files(h.dir.path());
}

#[tokio::test]
async fn blockinfile_inserts_updates_and_removes() {
    let h = Host::new();
    let f = h.p("hosts");
    std::fs::write(&f, "127.0.0.1 localhost\n::1 localhost\n").unwrap();
    let (plan, _) = h
        .converge(
            "blockinfile",
            json!({"path": f, "block": "10.0.0.1 a\n10.0.0.2 b", "insertafter": "^127"}),
        )
        .await;
    assert_eq!(
        read(&f),
        "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 a\n10.0.0.2 b\n# END ANSIBLE MANAGED BLOCK\n::1 localhost\n"
    );
    assert_diff_matches_file(&plan, &f);
    assert_eq!(plan.result["msg"], json!("Block inserted"));
    // Updating the block keeps its place.
    let (plan, _) = h
        .converge(
            "blockinfile",
            json!({"path": f, "block": "10.0.0.3 c", "insertafter": "^127"}),
        )
        .await;
    assert_diff_matches_file(&plan, &f);
    assert!(read(&f).contains("BLOCK\n10.0.0.3 c\n# END"));
    // A second block with its own markers, at the top.
    h.converge(
        "blockinfile",
        json!({"path": f, "block": "x", "marker": "## {mark} extra", "insertbefore": "BOF", "mode": 600}),
    )
    .await;
    assert!(read(&f).starts_with("## BEGIN extra\nx\n## END extra\n127.0.0.1"));
    assert_eq!(mode_of(&f), 0o600);
    // Removal.
    let (plan, _) = h
        .converge("blockinfile", json!({"path": f, "state": "absent"}))
        .await;
    assert_eq!(plan.result["msg"], json!("Block removed"));
    assert_eq!(
        read(&f),
        "## BEGIN extra\nx\n## END extra\n127.0.0.1 localhost\n::1 localhost\n"
    );
    let nf = h.p("created");
    h.converge(
        "blockinfile",
        json!({"path": nf, "block": "a", "create": true}),
    )
    .await;
    assert_eq!(
        read(&nf),
        "# BEGIN ANSIBLE MANAGED BLOCK\na\n# END ANSIBLE MANAGED BLOCK\n"
    );
}

// ---------------------------------------------------------------------------------------------
// stat

#[tokio::test]
async fn stat_reports_and_never_changes() {
    let h = Host::new();
    let f = h.p("s.txt");
    std::fs::write(&f, "hello\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&f, h.p("ln")).unwrap();
    for check in [false, true] {
        let p = h.plan("stat", json!({"path": f}), check).await.unwrap();
        assert!(!p.changed);
        let st = &p.result["stat"];
        assert_eq!(st["exists"], json!(true));
        assert_eq!(st["mode"], json!("0640"));
        assert_eq!(st["isreg"], json!(true));
        assert_eq!(st["isdir"], json!(false));
        assert_eq!(st["size"], json!(6));
        assert_eq!(st["pw_name"], json!("root"));
        assert_eq!(st["uid"], json!(0));
        // sha1 of "hello\n"
        assert_eq!(
            st["checksum"],
            json!("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        assert_eq!(st["mtime"], json!(std::fs::metadata(&f).unwrap().mtime()));
    }
    let p = h
        .plan(
            "stat",
            json!({"path": h.p("ln"), "checksum_algorithm": "sha256"}),
            false,
        )
        .await
        .unwrap();
    assert_eq!(p.result["stat"]["islnk"], json!(true));
    assert_eq!(p.result["stat"]["lnk_source"], json!(f));
    let p = h
        .plan(
            "stat",
            json!({"path": h.p("ln"), "follow": true, "checksum_algorithm": "sha256"}),
            false,
        )
        .await
        .unwrap();
    assert_eq!(p.result["stat"]["islnk"], json!(false));
    assert_eq!(
        p.result["stat"]["checksum"],
        json!("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
    );
    let p = h
        .plan("stat", json!({"path": h.p("missing")}), false)
        .await
        .unwrap();
    assert_eq!(p.result["stat"], json!({"exists": false}));
    let p = h
        .plan("stat", json!({"path": h.dir.path()}), false)
        .await
        .unwrap();
    assert_eq!(p.result["stat"]["isdir"], json!(true));
}

#[tokio::test]
async fn validate_guards_the_install() {
    let h = Host::new();
    let dest = h.p("sudoers frag");
    std::fs::write(&dest, "ok old\n").unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o440)).unwrap();
    // Rejected content: the old file stays, nothing is left behind.
    let (_, ran) = h
        .run(
            "copy",
            json!({"content": "bad\n", "dest": dest, "validate": "grep -q '^ok' %s"}),
        )
        .await
        .unwrap();
    let failed = ran.failed.unwrap_or_default();
    assert!(failed.contains("failed to validate"), "{failed}");
    assert_eq!(read(&dest), "ok old\n");
    no_temp_files(h.dir.path());
    // Accepted content replaces it and keeps the old mode.
    let (plan, _) = h
        .converge(
            "copy",
            json!({"content": "ok new\n", "dest": dest, "validate": "grep -q '^ok' %s"}),
        )
        .await;
    assert_diff_matches_file(&plan, &dest);
    assert_eq!(mode_of(&dest), 0o440);
    no_temp_files(h.dir.path());
    let err = build(
        "copy",
        json!({"content": "x", "dest": dest, "validate": "true"}),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("%s"), "{err}");
}
