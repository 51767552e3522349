//! Test-only access to lab hosts without SSH: a [`Connection`] that runs each command inside a
//! lab host's namespaces with `nsenter -t <PID 1> -a`, plus helpers to plan/apply modules.
//!
//! Commands run with a clean environment like an SSH session's (`PATH`, `HOME`, `LANG`), plus
//! `SSH_CONNECTION` when the test sets one (so the firewall's SSH guard sees a controller).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use async_trait::async_trait;
use prov_core::{
    CommandOutput, Connection, FileKind, FileSource, ModuleContext, ModuleError, NodeStream, Peers,
    Plan, RemoteCommand, Stdin, TransportError,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One lab host reached through nsenter.
pub struct NsConnection {
    host: String,
    pid: u32,
    env: Vec<(String, String)>,
}

impl NsConnection {
    /// Adds an environment variable to every command (e.g. `SSH_CONNECTION`).
    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Runs a script and returns its output (panics on transport errors: test helper).
    pub async fn sh(&self, script: &str) -> CommandOutput {
        self.exec(&RemoteCommand::new(script), Stdin::Null)
            .await
            .expect("nsenter runs")
    }

    /// Runs a script that must succeed and returns its stdout.
    pub async fn sh_ok(&self, script: &str) -> String {
        let out = self.sh(script).await;
        assert!(
            out.success(),
            "`{script}` failed on {}: {} {}",
            self.host,
            out.stderr_text(),
            out.stdout_text()
        );
        out.stdout_text()
    }

    /// Installs `pkgs` from the lab's repository (no recommends) and returns every package that
    /// was not installed before, for [`NsConnection::purge`].
    pub async fn install(&self, pkgs: &str) -> String {
        const LIST: &str = "dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' | awk '$1 == \"ii\" {print $2}' | sort";
        let cmd = format!(
            "{LIST} > /tmp/prov-pkgs-before && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {pkgs} >/dev/null && {LIST} | comm -13 /tmp/prov-pkgs-before - | tr '\\n' ' '; rm -f /tmp/prov-pkgs-before"
        );
        self.sh_ok(&cmd).await
    }

    /// Purges what [`NsConnection::install`] added.
    pub async fn purge(&self, added: &str) {
        if added.trim().is_empty() {
            return;
        }
        self.sh_ok(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q {added} >/dev/null"
        ))
        .await;
    }
}

#[async_trait]
impl Connection for NsConnection {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(
        &self,
        command: &RemoteCommand,
        stdin: Stdin<'_>,
    ) -> Result<CommandOutput, TransportError> {
        let mut c = tokio::process::Command::new("nsenter");
        c.arg("-t")
            .arg(self.pid.to_string())
            .args(["-a", "-r", "-w", "--", "env", "-i"])
            .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("HOME=/root")
            .arg("LANG=C.UTF-8");
        for (k, v) in &self.env {
            c.arg(format!("{k}={v}"));
        }
        // As over SSH: the task's become (`sudo -u USER -- sh -c ...`) wraps the script.
        let (line, become_input) = command.command_line(true);
        c.args(["sh", "-c", &line])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = c.spawn()?;
        let mut input = child.stdin.take();
        let feed = async {
            if let Some(w) = input.as_mut() {
                if let Some(b) = &become_input {
                    let _ = w.write_all(b).await;
                }
                match stdin {
                    Stdin::Null => {}
                    Stdin::Bytes(b) => {
                        let _ = w.write_all(b).await;
                    }
                    Stdin::Reader(r) => {
                        let _ = tokio::io::copy(r, w).await;
                    }
                }
            }
            drop(input);
        };
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let mut out = Vec::new();
        let mut err = Vec::new();
        let run = async {
            let (_, a, b) = tokio::join!(
                feed,
                stdout.read_to_end(&mut out),
                stderr.read_to_end(&mut err)
            );
            a?;
            b?;
            child.wait().await
        };
        let status = match command.timeout {
            Some(t) => tokio::time::timeout(t, run)
                .await
                .map_err(|_| TransportError::Timeout(t))??,
            None => run.await?,
        };
        Ok(CommandOutput {
            status: status.code().unwrap_or(-1),
            stdout: out,
            stderr: err,
        })
    }

    async fn open_tcp(
        &self,
        _addr: &str,
        _port: u16,
    ) -> Result<Box<dyn NodeStream>, TransportError> {
        Err(TransportError::Other(
            "open_tcp is not supported by the nsenter test connection".into(),
        ))
    }
}

/// Serializes lab tests of one test binary (they share hosts).
pub async fn lab_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The lab host `name`, or `None` (with a printed message) when the lab is not up.
pub fn lab_host(name: &str) -> Option<NsConnection> {
    let lab = match prov_lab::Lab::open(prov_lab::DEFAULT_STATE_DIR) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "SKIP: lab not available ({e}); start it with `cargo run -p prov-lab --example lab -- up --hosts 3`"
            );
            return None;
        }
    };
    match lab.host_pid(name) {
        Ok(Some(pid)) => Some(NsConnection {
            host: name.into(),
            pid,
            env: Vec::new(),
        }),
        Ok(None) => {
            eprintln!("SKIP: lab host {name} is not running");
            None
        }
        Err(e) => {
            eprintln!("SKIP: lab host {name} unavailable ({e})");
            None
        }
    }
}

/// The lab address of `name` (10.77.0.(10+i)).
pub fn lab_addr(name: &str) -> String {
    let i = prov_lab::host_index(name).expect("lab host name");
    prov_lab::host_address(i).to_string()
}

struct NoFiles;

impl FileSource for NoFiles {
    fn find(&self, _kind: FileKind, name: &str) -> Result<PathBuf, ModuleError> {
        Err(ModuleError::LocalFile(format!(
            "no local files in this test: {name}"
        )))
    }
    fn render(&self, path: &Path) -> Result<String, ModuleError> {
        Err(ModuleError::Template(format!(
            "no templates in this test: {}",
            path.display()
        )))
    }
}

/// No other hosts.
pub struct NoPeers;

impl Peers for NoPeers {
    fn connection(&self, _host: &str) -> Option<Arc<dyn Connection>> {
        None
    }
}

/// Facts of a lab host.
pub fn lab_facts() -> Value {
    json!({"os_family": "Debian", "distribution": "Debian", "pkg_mgr": "apt", "service_mgr": "systemd"})
}

/// The parts of a plan a test compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Would change.
    pub changed: bool,
    /// The summary lines.
    pub summary: Vec<String>,
    /// Result fields.
    pub result: serde_json::Map<String, Value>,
    /// Rendered diffs.
    pub diffs: Vec<String>,
}

fn planned(p: &Plan) -> Planned {
    Planned {
        changed: p.changed(),
        summary: p.summary().to_vec(),
        result: p.result().clone(),
        diffs: p.diffs().iter().map(|d| d.unified()).collect(),
    }
}

/// Plans module `name` with `args` on `conn` in check mode (nothing applied).
pub async fn check(conn: &dyn Connection, name: &str, args: Value) -> Result<Planned, ModuleError> {
    run(conn, name, args, true, &lab_facts()).await
}

/// Plans and applies module `name`; returns the plan (of the real run).
pub async fn apply(conn: &dyn Connection, name: &str, args: Value) -> Result<Planned, ModuleError> {
    run(conn, name, args, false, &lab_facts()).await
}

/// Plans (and unless `check_mode`, applies) module `name` with explicit facts.
pub async fn run(
    conn: &dyn Connection,
    name: &str,
    args: Value,
    check_mode: bool,
    facts: &Value,
) -> Result<Planned, ModuleError> {
    run_as(conn, name, args, check_mode, facts, None).await
}

/// Like [`run`], with privilege escalation.
pub async fn run_as(
    conn: &dyn Connection,
    name: &str,
    args: Value,
    check_mode: bool,
    facts: &Value,
    become_: Option<&prov_core::Become>,
) -> Result<Planned, ModuleError> {
    let spec = prov_modules::lookup(name).unwrap_or_else(|| panic!("module {name} exists"));
    let module = (spec.build)(args)?;
    let ctx = ModuleContext {
        host: conn.host(),
        conn,
        become_,
        check_mode,
        facts,
        files: &NoFiles,
        peers: &NoPeers,
        timeout: Some(std::time::Duration::from_secs(600)),
        environment: &[],
    };
    let plan = module.plan(&ctx).await?;
    let p = planned(&plan);
    if !check_mode && let (_, Some(action)) = plan.split() {
        action.apply(&ctx).await?;
    }
    Ok(p)
}

/// The check-mode fidelity protocol: a check run predicts exactly the real run's changes, the
/// real run applies them, and afterwards both a check and a real run change nothing.
/// Returns the real run's plan.
pub async fn converge(conn: &dyn Connection, name: &str, args: Value) -> Planned {
    let predicted = check(conn, name, args.clone())
        .await
        .unwrap_or_else(|e| panic!("{name} check failed: {e}"));
    let real = apply(conn, name, args.clone())
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"));
    assert_eq!(
        predicted.changed, real.changed,
        "{name}: check predicted {predicted:#?}\nreal {real:#?}"
    );
    assert_eq!(
        predicted.summary, real.summary,
        "{name}: check mode must predict the real change"
    );
    let again = check(conn, name, args.clone())
        .await
        .expect("check after converge");
    assert!(
        !again.changed,
        "{name}: check on a converged host must be unchanged: {again:#?}"
    );
    let again = apply(conn, name, args).await.expect("second run");
    assert!(
        !again.changed,
        "{name}: second run must be unchanged: {again:#?}"
    );
    real
}

pub const VENV: &str = "/var/cache/prov-bench/venv/bin/ansible";
pub const LAB_DIR: &str = "/var/lib/prov-lab";

/// Runs the real Ansible module on `host` (an ad-hoc command over SSH) and returns its JSON
/// result; `None` (with a message) when the venv is missing.
pub fn ansible(host: &str, module: &str, args: &Value) -> Option<Value> {
    if !Path::new(VENV).exists() {
        eprintln!("SKIP comparison: no Ansible in {VENV}");
        return None;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("ansible.cfg");
    std::fs::write(&cfg, "[defaults]\n").expect("cfg");
    let out = std::process::Command::new(VENV)
        .args(["-i", &format!("{},", lab_addr(host)), "all", "-u", "root"])
        .args(["--private-key", &format!("{LAB_DIR}/id_ed25519")])
        .args(["-m", module, "-a", &args.to_string()])
        .env("ANSIBLE_CONFIG", &cfg)
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env(
            "ANSIBLE_SSH_COMMON_ARGS",
            format!(
                "-o UserKnownHostsFile={LAB_DIR}/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes"
            ),
        )
        .env("ANSIBLE_PIPELINING", "True")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", tmp.path().join("lt"))
        .env(
            "ANSIBLE_SSH_CONTROL_PATH_DIR",
            tmp.path().join("cp").display().to_string(),
        )
        .output()
        .expect("ansible runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let json_start = text
        .find(" => {")
        .unwrap_or_else(|| panic!("no result from ansible: {text}"));
    let mut v: Value =
        serde_json::from_str(&text[json_start + 4..]).expect("ansible's JSON result");
    // `HOST | FAILED! => {...}`: ansible-core 2.19's ad-hoc JSON of a failed task has no
    // `failed` key; the status word says it, and callers test `failed`.
    let status = text[..json_start].rsplit('|').next().unwrap_or("").trim();
    if matches!(status, "FAILED!" | "UNREACHABLE!")
        && let Value::Object(m) = &mut v
    {
        m.insert("failed".into(), Value::Bool(true));
    }
    Some(v)
}

/// Every file (name, mode, owner and content) under `paths` (a shell glob list).
pub async fn files(h: &NsConnection, paths: &str) -> String {
    h.sh_ok(&format!(
        "for f in {paths}; do [ -f \"$f\" ] || continue; stat -c '== %n %a %U:%G' \"$f\"; cat \"$f\"; done"
    ))
    .await
}

/// Writes `content` to `path` on the host (mode 0644).
pub async fn put(h: &NsConnection, path: &str, content: &str) {
    let cmd = RemoteCommand::new(format!("cat > '{path}' && chmod 644 '{path}'"));
    let out = h
        .exec(&cmd, Stdin::Bytes(content.as_bytes()))
        .await
        .expect("nsenter runs");
    assert!(out.success(), "{}", out.stderr_text());
}

/// Runs Ansible then prov with the same arguments from the same starting state (`reset`) and
/// asserts the files under `paths` end up equal; returns Ansible's result and prov's plan.
pub async fn same_as_ansible<F, Fut>(
    h: &NsConnection,
    module: &str,
    args: Value,
    paths: &str,
    reset: F,
) -> Option<(Value, Planned)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    reset().await;
    let theirs = ansible(h.host(), module, &args)?;
    assert!(
        theirs.get("failed").is_none(),
        "ansible {module} failed: {theirs}"
    );
    let ansible_files = files(h, paths).await;
    reset().await;
    let ours = converge(h, module, args).await;
    assert_eq!(
        files(h, paths).await,
        ansible_files,
        "{module}: prov and Ansible leave different files"
    );
    Some((theirs, ours))
}
