//! Test scenarios shared by the loopback-sshd tests and the lab tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prov_core::transfer::{FileAttrs, put_file};
use prov_core::{Become, Connection, RemoteCommand, Stdin, TransportError};
use prov_transport::ssh::{HostKeyPolicy, SshConnection, SshParams};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{sha256_file, sha256_hex, write_big_file};

/// Runs `script` and returns its output, asserting the transport call itself succeeded.
pub async fn run(c: &dyn Connection, script: &str) -> prov_core::CommandOutput {
    c.exec(&RemoteCommand::new(script), Stdin::Null)
        .await
        .unwrap_or_else(|e| panic!("exec {script:?} on {}: {e}", c.host()))
}

/// Runs `script`, asserting exit 0, returns trimmed stdout.
pub async fn run_ok(c: &dyn Connection, script: &str) -> String {
    let out = run(c, script).await;
    assert_eq!(
        out.status,
        0,
        "{script:?} failed on {}: {}",
        c.host(),
        out.stderr_text()
    );
    out.stdout_text().trim().to_owned()
}

/// stdout, stderr, exit status and stdin are kept apart; large output; timeouts.
pub async fn exec_basics(p: &SshParams) {
    let c = SshConnection::connect(p).await.expect("connect");
    let out = c
        .exec(
            &RemoteCommand::new("cat; echo to-err >&2; printf tail; exit 7"),
            Stdin::Bytes(b"hello\n"),
        )
        .await
        .expect("exec");
    assert_eq!(out.status, 7);
    assert_eq!(out.stdout, b"hello\ntail");
    assert_eq!(out.stderr_text(), "to-err");

    // A command that does not read stdin, fed more than a channel window: no hang.
    let big = vec![b'x'; 8 << 20];
    let out = c
        .exec(&RemoteCommand::new("echo done"), Stdin::Bytes(&big))
        .await
        .expect("exec ignoring stdin");
    assert_eq!(out.stdout_text().trim(), "done");

    // Large stdout (5 MiB) arrives whole.
    let out = run(&c, "head -c 5242880 /dev/zero").await;
    assert_eq!(out.stdout.len(), 5 << 20);

    // Quoting survives: the script runs under sh -c exactly.
    let s = run_ok(&c, "x='a b'\"'\"'c'; printf '%s' \"$x\"").await;
    assert_eq!(s, "a b'c");

    // Timeout: reported as such, the command is stopped on the host (here a child of its
    // shell that would leave a mark), and the connection stays usable.
    let mark = format!(
        "/tmp/prov-timeout-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    run_ok(&c, &format!("rm -f {mark}")).await;
    let t0 = Instant::now();
    let err = c
        .exec(
            &RemoteCommand::new(format!("(sleep 2; touch {mark}) & wait"))
                .with_timeout(Some(Duration::from_millis(500))),
            Stdin::Null,
        )
        .await
        .expect_err("must time out");
    assert!(matches!(err, TransportError::Timeout(_)), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(run_ok(&c, "echo still-here").await, "still-here");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        run_ok(
            &c,
            &format!("test -e {mark} && echo ran-on || echo stopped")
        )
        .await,
        "stopped",
        "the timed-out command ran on (shell workers: {})",
        p.shell_workers
    );
    c.close().await;
}

/// A timed-out command that ignores TERM (`trap '' TERM INT`) is stopped on the host anyway:
/// TERM, a grace period, then KILL of its process group; also when the connection is closed
/// right after (prov exiting).
pub async fn term_ignoring_command_is_killed(p: &SshParams) {
    let c = SshConnection::connect(p).await.expect("connect");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let pidfile = format!("/tmp/prov-term-ignored-{}-{stamp}", std::process::id());
    let alive = |pid: &str| {
        format!(
            "if [ -e /proc/{pid} ] && ! grep -q '^State:.*Z' /proc/{pid}/status; then echo alive; else echo gone; fi"
        )
    };
    let start = |file: String| {
        RemoteCommand::new(format!(
            "trap '' TERM INT; sleep 31 & echo $! > {file}; wait"
        ))
        .with_timeout(Some(Duration::from_millis(500)))
    };
    let err = c
        .exec(&start(format!("{pidfile}.a")), Stdin::Null)
        .await
        .expect_err("must time out");
    assert!(matches!(err, TransportError::Timeout(_)), "{err}");
    let t0 = Instant::now();
    let pid = run_ok(&c, &format!("cat {pidfile}.a")).await;
    // TERM is ignored: the command is still there for a moment (a grace period, not KILL at
    // once), then it is killed.
    let mut first = None;
    let mut state = String::new();
    while t0.elapsed() < Duration::from_secs(8) {
        state = run_ok(&c, &alive(&pid)).await;
        first.get_or_insert(state.clone());
        if state == "gone" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        state, "gone",
        "a timed-out command ignoring TERM ran on (shell workers: {})",
        p.shell_workers
    );
    assert_eq!(
        first.as_deref(),
        Some("alive"),
        "no grace period after TERM"
    );

    // The same with the connection closed at once: the host finishes the job alone.
    let err = c
        .exec(&start(format!("{pidfile}.b")), Stdin::Null)
        .await
        .expect_err("must time out");
    assert!(matches!(err, TransportError::Timeout(_)), "{err}");
    c.close().await;
    let c = SshConnection::connect(p).await.expect("reconnect");
    let pid = run_ok(&c, &format!("cat {pidfile}.b")).await;
    let t0 = Instant::now();
    while run_ok(&c, &alive(&pid)).await == "alive" {
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "the command outlived the closed connection (shell workers: {})",
            p.shell_workers
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run_ok(&c, &format!("rm -f {pidfile}.a {pidfile}.b")).await;
    c.close().await;
}

/// `n` concurrent commands on one connection, each with its own output.
pub async fn concurrent(p: &SshParams, n: usize) {
    let c = Arc::new(SshConnection::connect(p).await.expect("connect"));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let script = format!("sleep 0.5; echo out-{i}; echo err-{i} >&2; exit {}", i % 5);
            let out = c
                .exec(&RemoteCommand::new(script), Stdin::Null)
                .await
                .expect("exec");
            (i, out)
        }));
    }
    for t in tasks {
        let (i, out) = t.await.expect("join");
        assert_eq!(out.stdout_text().trim(), format!("out-{i}"));
        assert_eq!(out.stderr_text(), format!("err-{i}"));
        assert_eq!(out.status, (i % 5) as i32);
    }
    let took = t0.elapsed();
    // Serially this would take n * 0.5 s; with 10 channels at a time about n/10 * 0.5 s.
    assert!(
        took < Duration::from_secs_f64(n as f64 * 0.5 / 2.0),
        "{n} commands took {took:?}: not concurrent"
    );
    eprintln!("{n} concurrent commands of 0.5 s on one connection: {took:?}");
}

/// Streams a `size_mb` MiB file from disk (Stdin::Reader) into `remote_dir` atomically and
/// checks the remote SHA-256.
pub async fn big_transfer(p: &SshParams, remote_dir: &str, size_mb: usize) {
    let c = SshConnection::connect(p).await.expect("connect");
    let local = tempfile::tempdir().expect("tempdir");
    let src = local.path().join("big.bin");
    write_big_file(&src, size_mb << 20, 42);
    let sum = sha256_file(&src);
    let dest = format!("{remote_dir}/big.bin");
    run_ok(&c, &format!("mkdir -p {remote_dir}")).await;
    let mut f = tokio::fs::File::open(&src).await.expect("open");
    let t0 = Instant::now();
    let out = put_file(
        &c,
        &dest,
        Stdin::Reader(&mut f),
        (size_mb << 20) as u64,
        &sum,
        &FileAttrs::default(),
        None,
    )
    .await
    .expect("put_file");
    let took = t0.elapsed();
    assert!(out.success(), "install failed: {}", out.stderr_text());
    eprintln!(
        "{size_mb} MiB streamed to {} in {took:?} ({:.1} MiB/s)",
        p.host,
        size_mb as f64 / took.as_secs_f64()
    );
    let remote_sum = run_ok(&c, &format!("sha256sum {dest} | cut -d' ' -f1")).await;
    assert_eq!(remote_sum, sum);
    let left = run_ok(
        &c,
        &format!("ls -A {remote_dir} | grep -c prov-tmp || true"),
    )
    .await;
    assert_eq!(left, "0", "temporary file left behind");
    run_ok(&c, &format!("rm -f {dest}")).await;
    c.close().await;
}

/// The PID of the sshd process serving connection `c` (the parent of its commands).
pub async fn serving_pid(c: &dyn Connection) -> u32 {
    // Walk up from the command to the first sshd process (the login shell may sit between).
    let script = "p=$PPID; i=0; while [ \"$(cat /proc/$p/comm)\" != sshd ] && [ $i -lt 10 ]; do \
                  p=$(cut -d' ' -f4 /proc/$p/stat); i=$((i+1)); done; echo $p";
    run_ok(c, script).await.parse().expect("numeric PPID")
}

/// Cuts a connection in the middle of a large transfer: the target keeps its old content,
/// no temporary file is left, and the connection reports Unreachable afterwards.
pub async fn cut_transfer(p: &SshParams, remote_dir: &str) {
    let victim = SshConnection::connect(p).await.expect("connect victim");
    let killer = SshConnection::connect(p).await.expect("connect killer");
    let dest = format!("{remote_dir}/atomic.bin");
    run_ok(
        &killer,
        &format!("mkdir -p {remote_dir} && rm -f {remote_dir}/.prov-tmp.* && printf old > {dest}"),
    )
    .await;
    let pid = serving_pid(&victim).await;

    let size: usize = 256 << 20;
    let local = tempfile::tempdir().expect("tempdir");
    let src = local.path().join("new.bin");
    write_big_file(&src, size, 7);
    let sum = sha256_file(&src);

    let kill = async {
        // Wait until a good part of the content sits in the temporary file, then cut.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sz = run_ok(
                &killer,
                &format!("stat -c %s {remote_dir}/.prov-tmp.* 2>/dev/null | head -n1"),
            )
            .await;
            if sz.parse::<u64>().unwrap_or(0) > (8 << 20) {
                break;
            }
            assert!(Instant::now() < deadline, "transfer never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        run_ok(&killer, &format!("kill -9 {pid}")).await;
    };
    let mut f = tokio::fs::File::open(&src).await.expect("open");
    let attrs = FileAttrs::default();
    let transfer = put_file(
        &victim,
        &dest,
        Stdin::Reader(&mut f),
        size as u64,
        &sum,
        &attrs,
        None,
    );
    let (res, ()) = tokio::join!(transfer, kill);
    match res {
        Err(TransportError::Unreachable(m)) => {
            assert!(m.contains(&p.host), "message names the host: {m}")
        }
        other => panic!("cut transfer must be Unreachable, got {other:?}"),
    }
    // The remote install script notices the cut (short input) and cleans up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = run_ok(
            &killer,
            &format!("ls -A {remote_dir} | grep -c prov-tmp || true"),
        )
        .await;
        if left == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "temporary file left behind");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(run_ok(&killer, &format!("cat {dest}")).await, "old");
    let err = victim
        .exec(&RemoteCommand::new("true"), Stdin::Null)
        .await
        .expect_err("dropped connection");
    assert!(err.is_unreachable(), "{err}");
    assert!(victim.is_closed());
    run_ok(&killer, &format!("rm -f {dest}")).await;
}

/// The key recorded for `p` in its known_hosts files (first plain entry naming its address).
pub fn recorded_key(p: &SshParams) -> PublicKey {
    let name = if p.port == 22 {
        p.address.clone()
    } else {
        format!("[{}]:{}", p.address, p.port)
    };
    for f in &p.known_hosts_files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines() {
            let mut t = line.split_whitespace();
            let (Some(hosts), Some(kt), Some(b64)) = (t.next(), t.next(), t.next()) else {
                continue;
            };
            if hosts.split(',').any(|h| h == name) {
                return PublicKey::from_openssh(&format!("{kt} {b64}")).expect("key");
            }
        }
    }
    panic!("no known_hosts entry for {name}");
}

fn fp(k: &PublicKey) -> String {
    k.fingerprint(HashAlg::Sha256).to_string()
}

/// A known_hosts file naming `p`'s address with `key`.
fn known_hosts_with(dir: &Path, p: &SshParams, key: &str) -> PathBuf {
    let f = dir.join("known_hosts_test");
    let name = if p.port == 22 {
        p.address.clone()
    } else {
        format!("[{}]:{}", p.address, p.port)
    };
    std::fs::write(&f, format!("{name} {key}\n")).expect("write");
    f
}

/// A changed host key is a hard failure naming the host and both fingerprints, under Strict
/// and AcceptNew; Off accepts it with a warning.
pub async fn changed_host_key(p: &SshParams) {
    let real = recorded_key(p);
    let dir = tempfile::tempdir().expect("tempdir");
    let other = super::make_key(dir.path(), "other", "ed25519", "");
    let other_pub = super::pub_key_text(&other);
    let other_key = PublicKey::from_openssh(&other_pub).expect("key");
    let kh = known_hosts_with(dir.path(), p, &other_pub);
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let mut q = p.clone();
        q.known_hosts_files = vec![kh.clone()];
        q.host_key_policy = policy;
        let err = SshConnection::connect(&q).await.expect_err("changed key");
        let TransportError::Unreachable(msg) = &err else {
            panic!("expected Unreachable, got {err:?}");
        };
        assert!(msg.contains(&p.host), "names host: {msg}");
        assert!(msg.contains("CHANGED"), "{msg}");
        assert!(msg.contains(&fp(&real)), "names offered fingerprint: {msg}");
        assert!(
            msg.contains(&fp(&other_key)),
            "names known fingerprint: {msg}"
        );
    }
    // AcceptNew did not touch the file.
    assert_eq!(
        std::fs::read_to_string(&kh).expect("read").lines().count(),
        1
    );
    let mut q = p.clone();
    q.known_hosts_files = vec![kh];
    q.host_key_policy = HostKeyPolicy::Off;
    let c = SshConnection::connect(&q)
        .await
        .expect("policy off connects");
    let w = c.take_notices();
    assert!(
        w.iter()
            .any(|w| w.contains("CHANGED") && w.contains(&fp(&real))),
        "{w:?}"
    );
    c.close().await;
}

/// Unknown host: Strict refuses, AcceptNew records the key (then Strict accepts it), and the
/// recorded key also works hashed (`ssh-keygen -H`).
pub async fn accept_new_and_hashed(p: &SshParams) {
    let real = recorded_key(p);
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("sub").join("known_hosts");
    let mut q = p.clone();
    q.known_hosts_files = vec![kh.clone()];
    let err = SshConnection::connect(&q)
        .await
        .expect_err("unknown key, strict");
    assert!(err.is_unreachable());
    assert!(err.to_string().contains("not known"), "{err}");
    assert!(err.to_string().contains(&fp(&real)), "{err}");

    q.host_key_policy = HostKeyPolicy::AcceptNew;
    let c = SshConnection::connect(&q).await.expect("accept-new");
    let w = c.take_notices();
    assert!(
        w.iter().any(|w| w.contains("recorded new host key")),
        "{w:?}"
    );
    c.close().await;
    let text = std::fs::read_to_string(&kh).expect("recorded");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(
            &real
                .to_openssh()
                .expect("enc")
                .split_whitespace()
                .nth(1)
                .unwrap_or("?")
                .to_owned()
        )
    );

    q.host_key_policy = HostKeyPolicy::Strict;
    let c = SshConnection::connect(&q).await.expect("now known");
    assert!(c.take_notices().is_empty());
    c.close().await;

    // Hash it the OpenSSH way; still recognised.
    super::keygen(&["-q", "-H", "-f", kh.to_str().expect("utf8")]);
    let hashed = std::fs::read_to_string(&kh).expect("read");
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let c = SshConnection::connect(&q).await.expect("hashed entry");
    c.close().await;
}

/// Authentication through an ssh-agent holding `key` (no identity file usable).
pub async fn agent_auth(p: &SshParams, key: &Path) {
    let agent = super::Agent::start();
    let mut q = p.clone();
    q.identity_files = vec![PathBuf::from("/nonexistent/prov-test-key")];
    q.use_agent = true;
    q.agent_socket = Some(agent.socket.clone());
    // Without the key in the agent: refused, and the message says what was tried.
    let err = SshConnection::connect(&q).await.expect_err("empty agent");
    assert!(err.to_string().contains("authentication failed"), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
    agent.add(key);
    let c = SshConnection::connect(&q).await.expect("agent auth");
    assert_eq!(run_ok(&c, "echo via-agent").await, "via-agent");
    c.close().await;
    drop(agent);
}

/// A direct-tcpip stream to a port on the host: sshd's own banner on 127.0.0.1:`port`.
pub async fn direct_tcpip_banner(p: &SshParams, port: u16) {
    let c = SshConnection::connect(p).await.expect("connect");
    let mut s = c.open_tcp("127.0.0.1", port).await.expect("open_tcp");
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("banner in time")
        .expect("read");
    let banner = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(banner.starts_with("SSH-2.0-"), "{banner:?}");
    // Talk back: an invalid identification makes sshd close the stream.
    s.write_all(b"garbage\r\n").await.expect("write");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    drop(s);
    // A closed port: an error, and the connection still works.
    let err = match c.open_tcp("127.0.0.1", 1).await {
        Ok(_) => panic!("port 1 should be closed"),
        Err(e) => e,
    };
    assert!(!err.is_unreachable(), "{err}");
    assert_eq!(run_ok(&c, "echo alive").await, "alive");
    c.close().await;
}

/// A host with nothing listening is Unreachable (naming it) while another works.
pub async fn unreachable_while_others_work(good: &SshParams, dead: &SshParams) {
    let t0 = Instant::now();
    let (a, b) = tokio::join!(SshConnection::connect(dead), SshConnection::connect(good));
    let err = a.expect_err("dead host");
    match &err {
        TransportError::Unreachable(m) => assert!(m.contains(&dead.host), "{m}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(20));
    let c = b.expect("good host");
    assert_eq!(run_ok(&c, "echo ok").await, "ok");
    c.close().await;
}

/// Writes a root-owned 0640 file as a non-root user through sudo, with put_file.
pub async fn sudo_put_file(p: &SshParams, dest: &str) {
    assert_ne!(p.user, "root");
    let c = SshConnection::connect(p).await.expect("connect");
    assert_eq!(run_ok(&c, "id -un").await, p.user);
    let data = b"root-owned content\n";
    let sum = sha256_hex(data);
    let attrs = FileAttrs {
        mode: Some("0640".into()),
        owner: Some("root".into()),
        group: Some("root".into()),
        backup: false,
    };
    // Without become the user cannot write there.
    let out = put_file(
        &c,
        dest,
        Stdin::Bytes(data),
        data.len() as u64,
        &sum,
        &attrs,
        None,
    )
    .await
    .expect("transport");
    assert!(!out.success(), "non-root write to {dest} must fail");
    let out = put_file(
        &c,
        dest,
        Stdin::Bytes(data),
        data.len() as u64,
        &sum,
        &attrs,
        Some(Become::default()),
    )
    .await
    .expect("transport");
    assert!(out.success(), "sudo put_file failed: {}", out.stderr_text());
    let who = c
        .exec(
            &RemoteCommand::new(format!("stat -c '%U:%G %a' {dest}; cat {dest}"))
                .with_become(Some(Become::default())),
            Stdin::Null,
        )
        .await
        .expect("stat");
    assert_eq!(who.stdout_text(), "root:root 640\nroot-owned content\n");
    // The user itself cannot read it (0640 root:root).
    let out = run(&c, &format!("cat {dest}")).await;
    assert_ne!(out.status, 0);
    let out = c
        .exec(
            &RemoteCommand::new(format!("rm -f {dest}")).with_become(Some(Become::default())),
            Stdin::Null,
        )
        .await
        .expect("rm");
    assert!(out.success());
    c.close().await;
}

/// Reaches `target` through `jump` (ProxyJump) and checks the hop by the host name.
pub async fn proxy_jump(jump: &SshParams, target: &SshParams, expect_hostname: Option<&str>) {
    let mut q = target.clone();
    q.proxy_jump = Some(Box::new(jump.clone()));
    let c = SshConnection::connect(&q)
        .await
        .expect("connect through jump");
    let name = run_ok(&c, "hostname").await;
    if let Some(h) = expect_hostname {
        assert_eq!(name, h);
    }
    // The target sees the jump host as its peer, not the controller.
    let peer = run_ok(&c, "echo ${SSH_CONNECTION%% *}").await;
    eprintln!(
        "through {} to {}: peer address seen by target = {peer}",
        jump.host, target.host
    );
    // A jump to a port where nothing listens: Unreachable naming the target and the jump host.
    let mut bad = q.clone();
    bad.port = 1;
    // Refused, or silently dropped by a firewall: then the connect timeout applies.
    bad.connect_timeout = Duration::from_secs(5);
    let err = SshConnection::connect(&bad)
        .await
        .expect_err("closed port behind jump");
    let TransportError::Unreachable(m) = &err else {
        panic!("expected Unreachable, got {err:?}");
    };
    assert!(m.contains(&target.host) && m.contains(&jump.host), "{m}");
    c.close().await;
}
