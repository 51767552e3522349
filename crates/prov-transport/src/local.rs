//! The local connection: runs commands on the controller (`connection: local`, `-c local`).

use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prov_core::{CommandOutput, Connection, NodeStream, RemoteCommand, Stdin, TransportError};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Runs a host's tasks on the controller through `sh -c`.
#[derive(Debug, Clone)]
pub struct LocalConnection {
    host: String,
    is_root: bool,
}

impl LocalConnection {
    /// A local connection standing for inventory host `host`.
    pub fn new(host: impl Into<String>) -> Self {
        // SAFETY-free check: `id -u` would need a process; the effective uid is in /proc.
        let is_root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
            })
            .unwrap_or(false);
        Self {
            host: host.into(),
            is_root,
        }
    }
}

/// How long an abandoned command's process group has between TERM and KILL.
pub const KILL_GRACE: Duration = Duration::from_secs(3);

/// Process groups of abandoned commands that got TERM and are given [`KILL_GRACE`] before KILL,
/// each watched by a thread of its own (see [`stop_abandoned`]).
static ABANDONED: Mutex<Vec<Abandoned>> = Mutex::new(Vec::new());

struct Abandoned {
    pgid: i32,
    watcher: std::thread::JoinHandle<()>,
}

/// True while some process of group `pgid` is alive (zombies, which nothing can stop any more,
/// do not count).
fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists and may be signalled.
    if unsafe { libc::killpg(pgid, 0) } != 0 {
        return false;
    }
    // The group exists; it may hold only zombies (an orphan's parent, in a container whose PID 1
    // does not reap, may never collect them).
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != Some("Z") && state != Some("X") {
            return true;
        }
    }
    false
}

/// Stops process group `pgid`: TERM now, KILL once [`KILL_GRACE`] has passed if anything of it
/// is still alive (a command that ignores TERM, `trap '' TERM`). The wait runs on a thread of
/// its own; [`stop_abandoned`] lets prov wait for it before exiting.
fn stop_group(pgid: i32) {
    // SAFETY: killpg only sends a signal; `pgid` is the group this connection created for the
    // command (its leader's PID), never 0, 1 or our own group.
    unsafe {
        libc::killpg(pgid, libc::SIGTERM);
    }
    let watcher = std::thread::Builder::new()
        .name(format!("stop-{pgid}"))
        .spawn(move || {
            let deadline = Instant::now() + KILL_GRACE;
            while Instant::now() < deadline {
                if !group_alive(pgid) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if group_alive(pgid) {
                // SAFETY: as above; the group still has live members, so its id was not reused.
                unsafe {
                    libc::killpg(pgid, libc::SIGKILL);
                }
            }
        });
    let mut list = ABANDONED.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|a| !a.watcher.is_finished());
    match watcher {
        Ok(watcher) => list.push(Abandoned { pgid, watcher }),
        // No thread to wait with: no grace either.
        Err(_) => unsafe {
            // SAFETY: as above.
            libc::killpg(pgid, libc::SIGKILL);
        },
    }
}

/// Waits at most `within` for the abandoned commands' process groups to end (each has
/// [`KILL_GRACE`] after its TERM), then sends KILL to whatever is left. prov calls it before
/// exiting, so that no command it started outlives it; `Duration::ZERO` kills at once.
pub fn stop_abandoned(within: Duration) {
    let list = std::mem::take(&mut *ABANDONED.lock().unwrap_or_else(|p| p.into_inner()));
    let deadline = Instant::now() + within;
    for a in list {
        while !a.watcher.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !a.watcher.is_finished() && group_alive(a.pgid) {
            // SAFETY: as in `stop_group`; live members keep the group id from being reused.
            unsafe {
                libc::killpg(a.pgid, libc::SIGKILL);
            }
        }
    }
}

/// Stops a command's process group (TERM, grace, KILL: [`stop_group`]) unless the command
/// finished (`.0` cleared).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take().filter(|p| *p > 1) {
            stop_group(pgid);
        }
    }
}

#[async_trait]
impl Connection for LocalConnection {
    fn is_local(&self) -> bool {
        true
    }

    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(
        &self,
        command: &RemoteCommand,
        stdin: Stdin<'_>,
    ) -> Result<CommandOutput, TransportError> {
        let (line, prefix) = command.command_line(self.is_root);
        // A process group of its own, so that a command abandoned (timed out, run interrupted)
        // is stopped with everything it started, not just its `sh`.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let mut group = GroupGuard(child.id().and_then(|id| i32::try_from(id).ok()));
        let mut child_stdin = child.stdin.take();
        let feed = async {
            if let Some(mut w) = child_stdin.take() {
                if let Some(p) = prefix {
                    w.write_all(&p).await?;
                }
                match stdin {
                    Stdin::Null => {}
                    Stdin::Bytes(b) => w.write_all(b).await?,
                    Stdin::Reader(r) => {
                        tokio::io::copy(r, &mut w).await?;
                    }
                }
                w.shutdown().await?;
            }
            Ok::<_, std::io::Error>(())
        };
        let run = async {
            let (fed, out) = tokio::join!(feed, child.wait_with_output());
            // A command that does not read its stdin closes the pipe early: not an error.
            if let Err(e) = fed
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(TransportError::Io(e));
            }
            let out = out?;
            group.0 = None;
            Ok(CommandOutput {
                status: out.status.code().unwrap_or(-1),
                stdout: out.stdout,
                stderr: out.stderr,
            })
        };
        match command.timeout {
            Some(t) => tokio::time::timeout(t, run)
                .await
                .map_err(|_| TransportError::Timeout(t))?,
            None => run.await,
        }
    }

    async fn open_tcp(&self, addr: &str, port: u16) -> Result<Box<dyn NodeStream>, TransportError> {
        let stream = tokio::net::TcpStream::connect((addr, port)).await?;
        Ok(Box::new(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_commands_with_stdin_and_status() {
        let c = LocalConnection::new("localhost");
        let out = c
            .exec(
                &RemoteCommand::new("cat; echo err >&2; exit 3"),
                Stdin::Bytes(b"hello"),
            )
            .await
            .unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr_text(), "err");
    }

    #[tokio::test]
    async fn times_out_and_stops_what_the_command_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        let c = LocalConnection::new("localhost");
        // `sleep` runs as a child of the script's shell (not exec'd): it must be stopped too.
        let script = format!(
            "(sleep 1; touch {}) & wait",
            prov_core::quote::quote(&marker.display().to_string())
        );
        let cmd =
            RemoteCommand::new(script).with_timeout(Some(std::time::Duration::from_millis(200)));
        let err = c.exec(&cmd, Stdin::Null).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout(_)));
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert!(!marker.exists(), "a child of the timed-out command ran on");
    }

    /// The abandoned-command list is process-wide: its tests run one at a time.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// Runs a command that ignores TERM (and INT) and whose `sleep` writes its PID to a file,
    /// with a short timeout; returns the PID of the `sleep`.
    async fn time_out_a_term_ignoring_command(dir: &std::path::Path) -> i32 {
        let pidfile = dir.join("pid");
        let c = LocalConnection::new("localhost");
        let script = format!(
            "trap '' TERM INT; sleep 31 & echo $! > {}; wait",
            prov_core::quote::quote(&pidfile.display().to_string())
        );
        let cmd = RemoteCommand::new(script).with_timeout(Some(Duration::from_millis(300)));
        let err = c.exec(&cmd, Stdin::Null).await.unwrap_err();
        assert!(matches!(err, TransportError::Timeout(_)));
        std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Alive and not a zombie.
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().next().map(|st| st != "Z"))
            })
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn a_command_ignoring_term_is_killed_after_the_grace() {
        let _serial = SERIAL.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let pid = time_out_a_term_ignoring_command(dir.path()).await;
        let t0 = Instant::now();
        // TERM first: it is ignored, so the command is still there for a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(alive(pid), "killed without a grace period");
        while alive(pid) && t0.elapsed() < KILL_GRACE + Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!alive(pid), "a command ignoring TERM survived its timeout");
        assert!(t0.elapsed() >= KILL_GRACE - Duration::from_millis(500));
    }

    #[tokio::test]
    async fn stop_abandoned_kills_what_is_left_before_prov_exits() {
        let _serial = SERIAL.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let pid = time_out_a_term_ignoring_command(dir.path()).await;
        let t0 = Instant::now();
        stop_abandoned(Duration::ZERO);
        while alive(pid) && t0.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(pid), "stop_abandoned left the command running");
        assert!(t0.elapsed() < KILL_GRACE, "did not kill at once");
    }

    #[tokio::test]
    async fn put_file_is_atomic_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.txt");
        let dest = dest.to_str().unwrap();
        let c = LocalConnection::new("localhost");
        let data = b"new content\n";
        let sum = "a1b3c4"; // deliberately wrong checksum: must refuse and leave nothing behind
        let attrs = prov_core::transfer::FileAttrs::default();
        let out =
            prov_core::transfer::put_file(&c, dest, Stdin::Bytes(data), 12, sum, &attrs, None)
                .await
                .unwrap();
        assert_ne!(out.status, 0);
        assert!(!std::path::Path::new(dest).exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temp file left behind"
        );
    }
}
