//! SSH transport against a real OpenSSH sshd started on 127.0.0.1 by the test itself.
//!
//! Skips (with a message) when /usr/sbin/sshd is missing or the tests do not run as root.
//! The network-crossing variants of these scenarios run against the prov lab in `ssh_lab.rs`.

mod ssh_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use prov_core::{Connection, RemoteCommand, Stdin, TransportError};
use prov_transport::ssh::{KeyRing, PassphrasePrompt, ReconnectingSsh, SshConnection, SshParams};
use ssh_support::scenarios::{self, run_ok};
use ssh_support::{Sshd, free_port, make_key, pub_key_text};
use zeroize::Zeroizing;

macro_rules! sshd_or_skip {
    () => {
        match Sshd::start() {
            Some(s) => s,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_exec_basics() {
    let sshd = sshd_or_skip!();
    scenarios::exec_basics(&sshd.params("loop")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_key_types_and_passphrase() {
    let keys_dir = tempfile::tempdir().unwrap();
    let ecdsa = make_key(keys_dir.path(), "ecdsa", "ecdsa", "");
    let rsa = make_key(keys_dir.path(), "rsa", "rsa", "");
    let enc = make_key(keys_dir.path(), "enc", "ed25519", "s3cret pass");
    let sshd = match Sshd::start_with_keys(&[
        pub_key_text(&ecdsa),
        pub_key_text(&rsa),
        pub_key_text(&enc),
    ]) {
        Some(s) => s,
        None => return,
    };
    for key in [&ecdsa, &rsa] {
        let mut p = sshd.params("loop");
        p.identity_files = vec![key.clone()];
        let c = SshConnection::connect(&p)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        assert_eq!(run_ok(&c, "id -u").await, "0");
        c.close().await;
    }
    // Encrypted key: with the passphrase it works, without it is skipped and named.
    let mut p = sshd.params("loop");
    p.identity_files = vec![enc.clone()];
    let err = SshConnection::connect(&p).await.expect_err("no passphrase");
    assert!(err.to_string().contains("encrypted"), "{err}");
    p.key_passphrase = Some("wrong".into());
    let err = SshConnection::connect(&p)
        .await
        .expect_err("wrong passphrase");
    assert!(err.is_unreachable(), "{err}");
    p.key_passphrase = Some("s3cret pass".into());
    let c = SshConnection::connect(&p).await.expect("passphrase key");
    c.close().await;
    // An unauthorized key: refused, named in the error.
    let stranger = make_key(keys_dir.path(), "stranger", "ed25519", "");
    let mut p = sshd.params("loop");
    p.identity_files = vec![stranger.clone()];
    let err = SshConnection::connect(&p).await.expect_err("unauthorized");
    let msg = err.to_string();
    assert!(
        err.is_unreachable() && msg.contains("loop") && msg.contains("refused"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_agent_auth() {
    let sshd = sshd_or_skip!();
    scenarios::agent_auth(&sshd.params("loop"), &sshd.client_key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_changed_host_key_rejected() {
    let sshd = sshd_or_skip!();
    scenarios::changed_host_key(&sshd.params("loop")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_accept_new_and_hashed_known_hosts() {
    let sshd = sshd_or_skip!();
    scenarios::accept_new_and_hashed(&sshd.params("loop")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_unreachable_host() {
    let sshd = sshd_or_skip!();
    let mut dead = sshd.params("deadhost");
    dead.port = free_port();
    scenarios::unreachable_while_others_work(&sshd.params("loop"), &dead).await;
    // Connect timeout: a listener that never speaks SSH.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut p = sshd.params("silent");
    p.port = silent.local_addr().unwrap().port();
    p.connect_timeout = Duration::from_millis(700);
    let err = SshConnection::connect(&p).await.expect_err("silent server");
    assert!(
        err.is_unreachable() && err.to_string().contains("timed out"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_direct_tcpip() {
    let sshd = sshd_or_skip!();
    scenarios::direct_tcpip_banner(&sshd.params("loop"), sshd.port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_thirty_concurrent_commands() {
    let sshd = sshd_or_skip!();
    scenarios::concurrent(&sshd.params("loop"), 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_transfer_100mb_streamed() {
    let sshd = sshd_or_skip!();
    let remote = tempfile::tempdir().unwrap();
    scenarios::big_transfer(&sshd.params("loop"), remote.path().to_str().unwrap(), 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_transfer_atomic_when_connection_cut() {
    let sshd = sshd_or_skip!();
    let remote = tempfile::tempdir().unwrap();
    scenarios::cut_transfer(&sshd.params("loop"), remote.path().to_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_proxy_jump_through_itself() {
    let sshd = sshd_or_skip!();
    // Loopback: the jump host and the target are the same sshd; the target's SSH session runs
    // inside a direct-tcpip channel of the jump connection.
    scenarios::proxy_jump(&sshd.params("jumphost"), &sshd.params("target"), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_from_openssh_config() {
    let sshd = sshd_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    std::fs::write(
        &cfg,
        format!(
            "Host myalias\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n  \
             UserKnownHostsFile {}\n  IdentityAgent none\n  ConnectTimeout 5\n  ServerAliveInterval 2\n",
            sshd.port,
            sshd.client_key.display(),
            sshd.known_hosts.display()
        ),
    )
    .unwrap();
    let p = SshParams::from_ssh_config("myalias", Some(&cfg)).unwrap();
    assert_eq!(p.address, "127.0.0.1");
    assert_eq!(p.keepalive_interval, Some(Duration::from_secs(2)));
    let c = SshConnection::connect(&p)
        .await
        .expect("connect from config");
    assert_eq!(c.host(), "myalias");
    assert_eq!(run_ok(&c, "echo cfg").await, "cfg");
    c.close().await;
    // After close, calls fail as unreachable.
    let err = c
        .exec(&RemoteCommand::new("true"), Stdin::Null)
        .await
        .expect_err("closed");
    assert!(matches!(err, TransportError::Unreachable(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_sshd_killed_gives_unreachable() {
    let sshd = sshd_or_skip!();
    let mut p = sshd.params("loop");
    p.keepalive_interval = Some(Duration::from_millis(300));
    let c = SshConnection::connect(&p).await.expect("connect");
    let pid = scenarios::serving_pid(&c).await;
    // The sshd process serving this connection is a child of our sshd: kill it by PID.
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status();
    let err = c
        .exec(&RemoteCommand::new("true"), Stdin::Null)
        .await
        .expect_err("connection gone");
    assert!(
        err.is_unreachable() && err.to_string().contains("loop"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_exec_basics_without_shell_workers() {
    let sshd = sshd_or_skip!();
    let mut p = sshd.params("loop");
    p.shell_workers = 0;
    scenarios::exec_basics(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_term_ignoring_command_is_killed() {
    let sshd = sshd_or_skip!();
    let mut p = sshd.params("loop");
    scenarios::term_ignoring_command_is_killed(&p).await;
    p.shell_workers = 0;
    scenarios::term_ignoring_command_is_killed(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_shell_workers_keep_commands_apart() {
    let sshd = sshd_or_skip!();
    let c = SshConnection::connect(&sshd.params("loop")).await.unwrap();
    // Binary input (NULs, no trailing newline) through a worker, output byte-exact.
    let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let out = c
        .exec(
            &RemoteCommand::new("cat; printf E >&2"),
            Stdin::Bytes(&data),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout, data);
    assert_eq!(out.stderr, b"E");
    // Nothing leaks from one command to the next (each runs in a subshell of the worker).
    run_ok(&c, "cd /tmp; X=1; export Y=2").await;
    assert_eq!(
        run_ok(&c, "echo \"[$X][$Y]\"; pwd").await.lines().next(),
        Some("[][]")
    );
    // Output that looks like a marker without the token is kept.
    let out = scenarios::run(
        &c,
        "printf '\\nPROV0000:0\\n'; printf '\\nPROV\\n' >&2; exit 3",
    )
    .await;
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout, b"\nPROV0000:0\n");
    assert_eq!(out.stderr, b"\nPROV\n");
    // A syntax error stays inside its command: the worker reads the next one as usual.
    let out = scenarios::run(&c, "echo 'unterminated").await;
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Syntax error"),
        "{out:?}"
    );
    assert_eq!(run_ok(&c, "echo after").await, "after");
    // A command that kills its own worker shell (`$$` in a subshell is the worker): reported,
    // and later commands still work.
    let err = c
        .exec(&RemoteCommand::new("kill -9 $$; sleep 1"), Stdin::Null)
        .await;
    match err {
        Err(TransportError::Other(m)) => assert!(m.contains("ended unexpectedly"), "{m}"),
        Ok(out) => panic!("expected an error, got {out:?}"),
        Err(e) => panic!("expected Other, got {e}"),
    }
    for i in 0..20 {
        assert_eq!(run_ok(&c, &format!("echo {i}")).await, i.to_string());
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_shell_worker_skips_login_shell_chatter() {
    // A chatty login: every session first prints on both streams, then runs the command.
    let rc_dir = tempfile::tempdir().unwrap();
    let wrapper = rc_dir.path().join("chatty");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\necho chatty-out; echo chatty-err >&2\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&wrapper)
        .status()
        .unwrap();
    let sshd = match Sshd::start_with(&[], &format!("ForceCommand {}\n", wrapper.display())) {
        Some(s) => s,
        None => return,
    };
    // The setup works: an exec channel per command shows the chatter in every output.
    let mut p = sshd.params("loop");
    p.shell_workers = 0;
    let c = SshConnection::connect(&p).await.unwrap();
    let out = scenarios::run(&c, "echo x").await;
    assert_eq!(out.stdout_text(), "chatty-out\nx\n");
    c.close().await;
    let c = SshConnection::connect(&sshd.params("loop")).await.unwrap();
    for i in 0..3 {
        let out = scenarios::run(&c, &format!("echo {i}; echo e{i} >&2")).await;
        assert_eq!(out.stdout_text(), format!("{i}\n"));
        assert_eq!(out.stderr_text(), format!("e{i}"));
    }
    c.close().await;
}

/// Yields `left` bytes of data, then fails.
struct FailingReader {
    left: usize,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        let n = self.left.min(buf.remaining()).min(32 * 1024);
        buf.put_slice(&vec![b'z'; n]);
        self.left -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_local_read_error_aborts_transfer() {
    let sshd = sshd_or_skip!();
    let c = SshConnection::connect(&sshd.params("loop")).await.unwrap();
    let remote = tempfile::tempdir().unwrap();
    let dest = remote.path().join("f");
    std::fs::write(&dest, "old").unwrap();
    let mut r = FailingReader { left: 3 << 20 };
    let err = prov_core::transfer::put_file(
        &c,
        dest.to_str().unwrap(),
        Stdin::Reader(&mut r),
        10 << 20,
        "00",
        &prov_core::transfer::FileAttrs::default(),
        None,
    )
    .await
    .expect_err("local read error");
    assert!(matches!(err, TransportError::Io(_)), "{err}");
    // The remote side cleans up; the old content stays.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(remote.path()).unwrap().count() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "temporary file left behind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
    // The connection is still fine.
    assert_eq!(run_ok(&c, "echo ok").await, "ok");
}

/// Kills the sshd process serving `c` (a child of the test's sshd, by PID) and waits until
/// `c` has noticed.
async fn drop_connection(c: &ReconnectingSsh) {
    let pid = scenarios::serving_pid(c).await;
    let status = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !c.is_dropped() {
        assert!(
            std::time::Instant::now() < deadline,
            "the drop went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_reconnects_after_a_dropped_connection() {
    let mut sshd = sshd_or_skip!();
    let c = ReconnectingSsh::connect(sshd.params("loop"), 0)
        .await
        .expect("connect");
    let first = scenarios::serving_pid(&c).await;
    drop_connection(&c).await;
    // The next command finds the connection dropped, opens a new one and runs there.
    let second = scenarios::serving_pid(&c).await;
    assert_ne!(first, second);
    let notices = c.take_notices();
    assert!(
        notices.len() == 1 && notices[0].contains("loop") && notices[0].contains("reconnected"),
        "{notices:?}"
    );
    assert!(c.take_notices().is_empty(), "notices are handed out once");

    // With nothing listening any more, reconnecting fails: unreachable, saying both steps.
    sshd.stop_listening();
    drop_connection(&c).await;
    let err = c
        .exec(&RemoteCommand::new("true"), Stdin::Null)
        .await
        .expect_err("nobody listens");
    let msg = err.to_string();
    assert!(
        err.is_unreachable() && msg.contains("dropped") && msg.contains("reconnecting failed"),
        "{msg}"
    );
    // Given up for good: the next call fails at once, with the same reason.
    let t0 = std::time::Instant::now();
    let again = c
        .exec(&RemoteCommand::new("true"), Stdin::Null)
        .await
        .expect_err("still unreachable");
    assert_eq!(again.to_string(), msg);
    assert!(t0.elapsed() < Duration::from_millis(500));
}

/// Counts the questions; answers from a list.
struct CountingPrompt {
    answers: std::sync::Mutex<Vec<&'static str>>,
    asked: AtomicU32,
}

impl PassphrasePrompt for CountingPrompt {
    fn ask(&self, _key: &std::path::Path, _attempt: u32) -> Option<Zeroizing<String>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let mut a = self.answers.lock().unwrap();
        (!a.is_empty()).then(|| Zeroizing::new(a.remove(0).to_owned()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_encrypted_key_prompted_once_for_many_hosts() {
    let keys_dir = tempfile::tempdir().unwrap();
    let enc = make_key(keys_dir.path(), "enc", "ed25519", "s3cret pass");
    let sshd = match Sshd::start_with_keys(&[pub_key_text(&enc)]) {
        Some(s) => s,
        None => return,
    };
    let prompt = Arc::new(CountingPrompt {
        answers: std::sync::Mutex::new(vec!["typo", "s3cret pass"]),
        asked: AtomicU32::new(0),
    });
    let ring = KeyRing::new(None, Some(prompt.clone()));
    // Eight hosts (names) on one sshd, connecting at once, share the ring.
    let mut hosts = tokio::task::JoinSet::new();
    for i in 0..8 {
        let mut p = sshd.params(&format!("host{i}"));
        p.identity_files = vec![enc.clone()];
        p.keys = ring.clone();
        hosts.spawn(async move { SshConnection::connect(&p).await });
    }
    while let Some(c) = hosts.join_next().await {
        let c = c.unwrap().expect("connects with the key unlocked once");
        assert_eq!(run_ok(&c, "id -u").await, "0");
        c.close().await;
    }
    // One wrong answer, one right one: two questions for eight hosts.
    assert_eq!(prompt.asked.load(Ordering::SeqCst), 2);

    // The run-wide passphrase (PROV_SSH_KEY_PASSPHRASE in the CLI) needs no prompt.
    let mut p = sshd.params("env");
    p.identity_files = vec![enc.clone()];
    p.keys = KeyRing::new(Some(Zeroizing::new("s3cret pass".into())), None);
    SshConnection::connect(&p)
        .await
        .expect("run-wide passphrase")
        .close()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_encrypted_key_held_by_the_agent_is_not_prompted_for() {
    let sshd = sshd_or_skip!();
    // The same key as the sshd's client key, encrypted on disk; the agent holds it in clear.
    let dir = tempfile::tempdir().unwrap();
    let enc = dir.path().join("enc");
    std::fs::copy(&sshd.client_key, &enc).unwrap();
    ssh_support::keygen(&[
        "-p",
        "-q",
        "-P",
        "",
        "-N",
        "on disk only",
        "-f",
        enc.to_str().unwrap(),
    ]);
    let agent = ssh_support::Agent::start();
    agent.add(&sshd.client_key);
    let prompt = Arc::new(CountingPrompt {
        answers: std::sync::Mutex::new(Vec::new()),
        asked: AtomicU32::new(0),
    });
    let mut p = sshd.params("agent");
    p.identity_files = vec![enc];
    p.use_agent = true;
    p.agent_socket = Some(agent.socket.clone());
    p.keys = KeyRing::new(None, Some(prompt.clone()));
    let c = SshConnection::connect(&p).await.expect("agent signs");
    assert_eq!(run_ok(&c, "echo signed").await, "signed");
    c.close().await;
    assert_eq!(prompt.asked.load(Ordering::SeqCst), 0);
}
