//! Lab tests of the execution modules (`command`/`shell` guards and free-form options, `raw`,
//! `script`, `uri`, `ping`, `wait_for_connection`) on lab3, a real Debian 12 host of
//! `prov lab`. Effects are checked inside the host; check mode is checked against the real run.
//!
//! Every test skips with a message when the lab is not up. Run under the shared lab lock:
//! `flock /work/lab.lock cargo test -p prov-modules --test exec_lab`.

#[path = "support/server_lab.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use prov_core::{
    CheckMode, Connection, FileKind, FileSource, ModuleContext, ModuleError, Peers, Plan,
};
use serde_json::{Map, Value, json};
use support::{NsConnection, converge, lab_facts, lab_host, lab_lock};

const HOST: &str = "lab3";

/// Finds files as the engine does for a task outside a role: `files/` beside the playbook,
/// then the playbook's folder.
struct PlaybookDir(PathBuf);

impl FileSource for PlaybookDir {
    fn find(&self, _kind: FileKind, name: &str) -> Result<PathBuf, ModuleError> {
        [self.0.join("files").join(name), self.0.join(name)]
            .into_iter()
            .find(|p| p.exists())
            .ok_or_else(|| ModuleError::LocalFile(format!("could not find `{name}`")))
    }
    fn render(&self, path: &Path) -> Result<String, ModuleError> {
        Err(ModuleError::Template(format!(
            "no templates: {}",
            path.display()
        )))
    }
}

struct NoPeers;

impl Peers for NoPeers {
    fn connection(&self, _host: &str) -> Option<Arc<dyn Connection>> {
        None
    }
}

/// What a task returned: changed or not, and its result fields (also on failure).
#[derive(Debug)]
struct Ran {
    changed: bool,
    result: Map<String, Value>,
    failed: Option<String>,
}

/// Runs module `name` as the engine does: in check mode an unpredictable module is skipped
/// (`None`), otherwise plan, then (unless check mode) apply.
async fn task(
    conn: &dyn Connection,
    name: &str,
    args: Value,
    check_mode: bool,
    files: &dyn FileSource,
    env: &[(String, String)],
) -> Result<Option<Ran>, ModuleError> {
    let spec = prov_modules::lookup(name).expect("module exists");
    let module = (spec.build)(args)?;
    if check_mode && module.check_mode() == CheckMode::Unpredictable {
        return Ok(None);
    }
    let facts = lab_facts();
    let ctx = ModuleContext {
        host: conn.host(),
        conn,
        become_: None,
        check_mode,
        facts: &facts,
        files,
        peers: &NoPeers,
        timeout: Some(std::time::Duration::from_secs(120)),
        environment: env,
    };
    let plan: Plan = module.plan(&ctx).await?;
    let (report, action) = plan.split();
    let mut ran = Ran {
        changed: report.changed,
        result: report.result,
        failed: None,
    };
    if !check_mode && let Some(action) = action {
        match action.apply(&ctx).await {
            Ok(o) => ran.result.extend(o.result),
            Err(ModuleError::Failed(f)) => {
                ran.result.extend(f.result);
                ran.failed = Some(f.message);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Some(ran))
}

fn no_files() -> PlaybookDir {
    PlaybookDir(PathBuf::from("/nonexistent-prov-playbook"))
}

async fn real(h: &NsConnection, name: &str, args: Value) -> Ran {
    task(h, name, args, false, &no_files(), &[])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .expect("ran")
}

async fn fresh_dir(h: &NsConnection, dir: &str) {
    h.sh_ok(&format!("rm -rf {dir} && mkdir -p {dir}")).await;
}

#[tokio::test]
async fn command_and_shell_take_free_form_options_and_predict_guarded_runs() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let dir = "/tmp/prov_exec_cmd";
    fresh_dir(&h, dir).await;
    // `creates=` inside the free-form line guards the command, as in Ansible; with a guard,
    // check mode predicts the run (changed), the run happens once.
    let args = json!({"cmd": format!("touch {dir}/made creates={dir}/made")});
    let first = converge(&h, "command", args.clone()).await;
    assert!(first.changed);
    assert_eq!(h.sh_ok(&format!("ls {dir}")).await, "made\n");
    let again = real(&h, "command", args).await;
    assert_eq!(
        again.result["msg"],
        json!(format!("Did not run command since '{dir}/made' exists"))
    );
    assert_eq!(
        again.result["stdout"],
        json!(format!("skipped, since {dir}/made exists"))
    );
    // Check mode of a guarded command that would run: changed, Ansible's message, no effect.
    let args = json!({"cmd": format!("rm {dir}/made removes={dir}/made")});
    let check = task(&h, "command", args.clone(), true, &no_files(), &[])
        .await
        .unwrap()
        .expect("guarded: planned in check mode");
    assert!(check.changed);
    assert_eq!(
        check.result["msg"],
        json!("Command would have run if not in check mode")
    );
    assert_eq!(h.sh_ok(&format!("ls {dir}")).await, "made\n");
    // Unguarded: skipped in check mode.
    let unguarded = task(
        &h,
        "command",
        json!({"cmd": "true"}),
        true,
        &no_files(),
        &[],
    )
    .await;
    assert!(unguarded.unwrap().is_none());
    // shell: chdir= and executable= free form, stdin, stdin_add_newline=no, strip_empty_ends.
    let out = real(
        &h,
        "shell",
        json!({"cmd": "[[ -n x ]] && cat > in; pwd; od -c in | head -1 chdir=/tmp/prov_exec_cmd executable=/bin/bash",
               "stdin": "abc", "stdin_add_newline": "no"}),
    )
    .await;
    assert_eq!(out.failed, None, "{out:?}");
    assert_eq!(out.result["stdout_lines"][0], json!(dir));
    assert_eq!(out.result["stdout_lines"][1], json!("0000000   a   b   c"));
    let out = real(
        &h,
        "shell",
        json!({"cmd": "printf 'x\\n\\n\\n'", "strip_empty_ends": false}),
    )
    .await;
    assert_eq!(out.result["stdout"], json!("x\n\n\n"));
    // command: argv keeps words literal, expand_argument_vars=false keeps `$HOME`.
    let out = real(&h, "command", json!({"argv": ["echo", "$HOME", "a  b"]})).await;
    assert_eq!(out.result["stdout"], json!("/root a  b"));
    let args = json!({"argv": ["echo", "$HOME"], "expand_argument_vars": false});
    assert_eq!(
        real(&h, "command", args).await.result["stdout"],
        json!("$HOME")
    );
    // command's `executable` is ignored with Ansible's warning.
    let out = real(
        &h,
        "command",
        json!({"cmd": "echo $0", "executable": "/bin/bash"}),
    )
    .await;
    assert_eq!(out.result["stdout"], json!("$0"));
    assert!(
        out.result["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no longer supported")
    );
    h.sh_ok(&format!("rm -rf {dir}")).await;
}

#[tokio::test]
async fn raw_runs_the_line_as_is_and_is_skipped_in_check_mode() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let dir = "/tmp/prov_exec_raw";
    fresh_dir(&h, dir).await;
    let args = json!({"cmd": format!("echo $0 > {dir}/shell; echo out; echo err >&2")});
    let check = task(&h, "raw", args.clone(), true, &no_files(), &[]).await;
    assert!(check.unwrap().is_none(), "raw is skipped in check mode");
    assert_eq!(h.sh_ok(&format!("ls {dir}")).await, "");
    // The task's environment is not applied (Ansible's raw does not support it).
    let env = [("PROV_RAW_ENV".to_owned(), "set".to_owned())];
    let out = task(&h, "raw", args, false, &no_files(), &env)
        .await
        .unwrap()
        .unwrap();
    assert!(out.changed, "raw is always changed");
    assert_eq!(out.result["stdout"], json!("out\n"), "not stripped");
    assert_eq!(out.result["stderr_lines"], json!(["err"]));
    assert_eq!(out.result["rc"], json!(0));
    assert_eq!(h.sh_ok(&format!("cat {dir}/shell")).await, "/bin/sh\n");
    let out = task(
        &h,
        "raw",
        json!({"cmd": "echo ${PROV_RAW_ENV:-unset}"}),
        false,
        &no_files(),
        &env,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.result["stdout"], json!("unset\n"));
    // executable= free form; a non-zero exit fails with rc and output registered.
    let out = real(
        &h,
        "raw",
        json!({"cmd": "echo $0; exit 3 executable=/bin/bash"}),
    )
    .await;
    assert_eq!(out.failed.as_deref(), Some("non-zero return code"));
    assert_eq!(out.result["rc"], json!(3));
    assert_eq!(out.result["stdout"], json!("/bin/bash\n"));
    h.sh_ok(&format!("rm -rf {dir}")).await;
}

/// A playbook folder on the controller with `files/NAME` holding `body`.
fn playbook_with(name: &str, body: &str) -> (tempfile::TempDir, PlaybookDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("files")).unwrap();
    std::fs::write(tmp.path().join("files").join(name), body).unwrap();
    let dir = PlaybookDir(tmp.path().to_path_buf());
    (tmp, dir)
}

const PROBE: &str = "#!/bin/sh\n\
    echo \"dir=$(dirname \"$0\")\"\n\
    echo \"pwd=$(pwd)\"\n\
    for a in \"$@\"; do echo \"arg=$a\"; done\n\
    [ -z \"$FAIL\" ] || { echo failing >&2; exit \"$FAIL\"; }\n\
    touch /tmp/prov_exec_script/ran\n";

async fn remote_dir_of(out: &Ran) -> String {
    out.result["stdout_lines"][0]
        .as_str()
        .and_then(|l| l.strip_prefix("dir="))
        .expect("the script printed its directory")
        .to_owned()
}

#[tokio::test]
async fn script_is_copied_run_with_its_args_and_removed() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let dir = "/tmp/prov_exec_script";
    fresh_dir(&h, dir).await;
    let (_tmp, files) = playbook_with("probe.sh", PROBE);
    let run = |args: Value, check: bool, env: Vec<(String, String)>| {
        let files = &files;
        let h = &h;
        async move { task(h, "script", args, check, files, &env).await }
    };
    // Without creates/removes: skipped in check mode.
    assert!(
        run(json!({"cmd": "probe.sh"}), true, vec![])
            .await
            .unwrap()
            .is_none()
    );
    // Arguments are shell words as written; chdir= free form.
    let out = run(
        json!({"cmd": format!("probe.sh 'two words' $HOME chdir={dir}")}),
        false,
        vec![],
    )
    .await
    .unwrap()
    .unwrap();
    assert!(out.changed && out.failed.is_none(), "{out:?}");
    let lines = &out.result["stdout_lines"];
    assert_eq!(lines[1], json!(format!("pwd={dir}")));
    assert_eq!(lines[2], json!("arg=two words"));
    assert_eq!(lines[3], json!("arg=/root"));
    let tmp = remote_dir_of(&out).await;
    assert!(tmp.starts_with("/tmp/tmp."), "{tmp}");
    assert_eq!(h.sh(&format!("test -e {tmp}")).await.status, 1, "removed");
    // A failing script: failure with rc and output, and still removed.
    let env = vec![("FAIL".to_owned(), "7".to_owned())];
    let out = run(
        json!({"cmd": "probe.sh", "executable": "/bin/bash"}),
        false,
        env,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.failed.as_deref(), Some("non-zero return code"));
    assert_eq!(out.result["rc"], json!(7));
    assert_eq!(out.result["stderr"], json!("failing\n"));
    let tmp = remote_dir_of(&out).await;
    assert_eq!(
        h.sh(&format!("test -e {tmp}")).await.status,
        1,
        "removed on failure"
    );
    // creates: check mode predicts the run, which happens once.
    h.sh_ok(&format!("rm -f {dir}/ran")).await;
    let args = json!({"cmd": format!("probe.sh creates={dir}/ran")});
    let check = run(args.clone(), true, vec![]).await.unwrap().unwrap();
    assert!(check.changed);
    assert_eq!(h.sh(&format!("test -e {dir}/ran")).await.status, 1);
    assert!(
        run(args.clone(), false, vec![])
            .await
            .unwrap()
            .unwrap()
            .changed
    );
    let again = run(args, false, vec![]).await.unwrap().unwrap();
    assert!(!again.changed);
    assert_eq!(
        again.result["msg"],
        json!(format!("{dir}/ran exists, matching creates option"))
    );
    // A missing local script fails before anything runs on the host.
    let missing = run(json!({"cmd": "nope.sh"}), false, vec![]).await;
    assert!(
        matches!(missing, Err(ModuleError::LocalFile(_))),
        "{missing:?}"
    );
    h.sh_ok(&format!("rm -rf {dir}")).await;
}
