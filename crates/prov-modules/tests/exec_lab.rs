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
    let args = json!({"_raw_params": format!("touch {dir}/made creates={dir}/made")});
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
    let args = json!({"_raw_params": format!("rm {dir}/made removes={dir}/made")});
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
        json!({"_raw_params": "[[ -n x ]] && cat > in; pwd; od -c in | head -1 chdir=/tmp/prov_exec_cmd executable=/bin/bash",
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
        json!({"_raw_params": "echo $0; exit 3 executable=/bin/bash"}),
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
        json!({"_raw_params": format!("probe.sh 'two words' $HOME chdir={dir}")}),
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
    let args = json!({"_raw_params": format!("probe.sh creates={dir}/ran")});
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

/// One request the test server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    /// The lab host's process command lines while the request was being answered.
    processes: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<tokio::sync::Mutex<Vec<Seen>>>;

/// A tiny HTTP/1.1 server on the lab bridge address (reachable from lab hosts only).
async fn http_server() -> (String, Log) {
    let listener = tokio::net::TcpListener::bind("10.77.0.1:0")
        .await
        .expect("bind 10.77.0.1");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move { serve(stream, seen).await });
        }
    });
    (base, log)
}

async fn serve(mut stream: tokio::net::TcpStream, log: Log) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, path) = (
        first.next().unwrap_or("").to_owned(),
        first.next().unwrap_or("").to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let processes = match lab_host(HOST) {
        Some(h) => h
            .sh("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
            .await
            .stdout_text(),
        None => String::new(),
    };
    let seen = Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        processes,
    };
    let (status, extra, ctype, reply) = respond(&seen);
    log.lock().await.push(seen);
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
}

/// The routes: status line, extra headers, content type, body.
fn respond(r: &Seen) -> (&'static str, String, &'static str, String) {
    let json = "application/json";
    match r.path.as_str() {
        "/json" => (
            "200 OK",
            String::new(),
            json,
            r#"{"hello": "world"}"#.into(),
        ),
        "/echo" => {
            let echo = json!({"method": r.method, "body": r.body,
                "content_type": r.header("content-type")});
            ("200 OK", "X-Echo-Id: 7\r\n".into(), json, echo.to_string())
        }
        "/redirect" => (
            "302 Found",
            "Location: /json\r\n".into(),
            "text/plain",
            String::new(),
        ),
        "/auth" => match r.header("authorization") {
            Some("Basic YWxpY2U6czNjcmV0LXB3") => {
                ("200 OK", String::new(), "text/plain", "in\n".into())
            }
            _ => (
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"lab\"\r\n".into(),
                "text/plain",
                "no\n".into(),
            ),
        },
        "/file" => ("200 OK", String::new(), "text/plain", "payload\n".into()),
        _ => (
            "404 Not Found",
            String::new(),
            "text/plain",
            "nothing here\n".into(),
        ),
    }
}

async fn uri(h: &NsConnection, args: Value) -> Ran {
    real(h, "uri", args).await
}

#[tokio::test]
async fn uri_requests_from_the_host_as_ansible_does() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let (base, log) = http_server().await;
    // GET with a JSON answer: `json`, headers, no `content` unless asked; reported ok.
    let out = uri(&h, json!({"url": format!("{base}/json")})).await;
    assert_eq!(out.failed, None, "{out:?}");
    assert!(!out.changed);
    assert_eq!(out.result["status"], json!(200));
    assert_eq!(out.result["json"], json!({"hello": "world"}));
    assert_eq!(out.result["content_type"], json!("application/json"));
    assert_eq!(out.result["msg"], json!("OK (18 bytes)"));
    assert!(!out.result.contains_key("content"));
    assert_eq!(out.result["redirected"], json!(false));
    // POST a JSON body (encoded as Ansible's json.dumps), return_content, response headers.
    let args = json!({"url": format!("{base}/echo"), "method": "POST", "body": {"a": 1, "b": [true]},
        "body_format": "json", "return_content": true});
    // Check mode: skipped, whatever the method, and no request is made.
    let before = log.lock().await.len();
    assert!(
        task(&h, "uri", args.clone(), true, &no_files(), &[])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(log.lock().await.len(), before);
    let out = uri(&h, args).await;
    assert_eq!(out.result["json"]["method"], json!("POST"));
    assert_eq!(
        out.result["json"]["body"],
        json!(r#"{"a": 1, "b": [true]}"#)
    );
    assert_eq!(
        out.result["json"]["content_type"],
        json!("application/json")
    );
    assert_eq!(out.result["x_echo_id"], json!("7"));
    assert!(out.result["content"].as_str().unwrap().contains("\"POST\""));
    // form-urlencoded
    let args = json!({"url": format!("{base}/echo"), "method": "PUT",
        "body": {"name": "a b", "flag": true}, "body_format": "form-urlencoded"});
    let out = uri(&h, args).await;
    assert_eq!(out.result["json"]["body"], json!("name=a+b&flag=True"));
    assert_eq!(
        out.result["json"]["content_type"],
        json!("application/x-www-form-urlencoded")
    );
    // status_code: a 404 fails with Ansible's message unless expected.
    let out = uri(&h, json!({"url": format!("{base}/missing")})).await;
    assert_eq!(
        out.failed.as_deref(),
        Some("Status code was 404 and not [200]: HTTP Error 404: Not Found")
    );
    assert_eq!(out.result["status"], json!(404));
    let out = uri(
        &h,
        json!({"url": format!("{base}/missing"), "status_code": [200, 404]}),
    )
    .await;
    assert_eq!(out.failed, None);
    // Redirects: followed for GET (safe), not with follow_redirects: none.
    let out = uri(&h, json!({"url": format!("{base}/redirect")})).await;
    assert_eq!(out.result["url"], json!(format!("{base}/json")));
    assert_eq!(out.result["redirected"], json!(true));
    let args =
        json!({"url": format!("{base}/redirect"), "follow_redirects": "none", "status_code": 302});
    let out = uri(&h, args).await;
    assert_eq!(out.failed, None, "{out:?}");
    assert_eq!(out.result["location"], json!(format!("{base}/json")));
    // Basic auth, forced and on challenge; the password never shows in a process argument.
    for force in [true, false] {
        let args = json!({"url": format!("{base}/auth"), "url_username": "alice",
            "url_password": "s3cret-pw", "force_basic_auth": force});
        let out = uri(&h, args).await;
        assert_eq!(out.failed, None, "force_basic_auth {force}: {out:?}");
    }
    let log_now = log.lock().await.clone();
    let auth: Vec<&Seen> = log_now.iter().filter(|s| s.path == "/auth").collect();
    assert_eq!(
        auth.len(),
        3,
        "forced: 1 request; on challenge: 401 then 200"
    );
    assert!(
        auth.iter().all(|s| s.processes.contains("python3 -c")),
        "seen while running"
    );
    assert!(auth.iter().all(|s| !s.processes.contains("s3cret-pw")));
    // dest: written (changed), creates then skips.
    let dir = "/tmp/prov_exec_uri";
    fresh_dir(&h, dir).await;
    let args = json!({"url": format!("{base}/file"), "dest": format!("{dir}/got"),
        "creates": format!("{dir}/got")});
    let out = uri(&h, args.clone()).await;
    assert!(out.changed);
    assert_eq!(out.result["path"], json!(format!("{dir}/got")));
    assert_eq!(h.sh_ok(&format!("cat {dir}/got")).await, "payload\n");
    let again = uri(&h, args).await;
    assert!(!again.changed);
    assert_eq!(
        again.result["stdout"],
        json!(format!("skipped, since '{dir}/got' exists"))
    );
    h.sh_ok(&format!("rm -rf {dir}")).await;
}

#[tokio::test]
async fn ping_and_wait_for_connection() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let out = real(&h, "ping", json!({})).await;
    assert_eq!(out.result["ping"], json!("pong"));
    assert!(!out.changed);
    let check = task(&h, "ping", json!({"data": "hi"}), true, &no_files(), &[]).await;
    assert_eq!(check.unwrap().unwrap().result["ping"], json!("hi"));
    let crash = task(
        &h,
        "ping",
        json!({"data": "crash"}),
        false,
        &no_files(),
        &[],
    )
    .await;
    assert!(matches!(crash, Err(ModuleError::Failed(_))), "{crash:?}");
    // wait_for_connection: skipped in check mode; returns at once on a live connection.
    let files = no_files();
    let w = task(
        &h,
        "wait_for_connection",
        json!({"timeout": 5}),
        true,
        &files,
        &[],
    )
    .await;
    assert!(w.unwrap().is_none());
    let out = real(&h, "wait_for_connection", json!({"timeout": 5, "delay": 1})).await;
    assert_eq!(out.failed, None);
    assert!(!out.changed);
    assert_eq!(out.result["elapsed"], json!(1));
}
