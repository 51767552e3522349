//! The local connection: runs commands on the controller (`connection: local`, `-c local`).

use std::process::Stdio;

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

/// Sends TERM to a command's process group unless the command finished (`.0` cleared).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take().filter(|p| *p > 1) {
            // SAFETY: killpg only sends a signal; `pgid` is the group this connection created
            // for the command (its leader's PID), never 0, 1 or our own group.
            unsafe {
                libc::killpg(pgid, libc::SIGTERM);
            }
        }
    }
}

#[async_trait]
impl Connection for LocalConnection {
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
