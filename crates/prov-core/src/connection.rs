//! How prov reaches a host: the [`Connection`] trait and the command types around it.
//!
//! A connection runs shell scripts (`sh -c`) with optional privilege escalation ([`Become`]),
//! streams standard input into them and opens TCP streams as seen from the host. Everything else
//! (file transfer, facts, modules) is built on these three operations, so every transport (local,
//! SSH) behaves the same.

use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::quote::quote;

/// How to become another user on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BecomeMethod {
    /// `sudo` (non-interactive unless a password is given, which is fed on stdin).
    #[default]
    Sudo,
    /// `su` (the password, if any, is fed on stdin).
    Su,
}

/// Privilege escalation for a command.
#[derive(Clone, PartialEq, Eq)]
pub struct Become {
    /// The user to become (`root` by default).
    pub user: String,
    /// The tool used to become that user.
    pub method: BecomeMethod,
    /// The become password, if one is needed; only ever sent on stdin.
    pub password: Option<String>,
}

impl std::fmt::Debug for Become {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Become")
            .field("user", &self.user)
            .field("method", &self.method)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

impl Default for Become {
    fn default() -> Self {
        Self {
            user: "root".into(),
            method: BecomeMethod::Sudo,
            password: None,
        }
    }
}

/// A shell script to run on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCommand {
    /// The script, run by `sh -c`. Every interpolated value must be quoted with [`quote`].
    pub script: String,
    /// Run it as another user.
    pub become_: Option<Become>,
    /// Give up (and report a timeout) after this long.
    pub timeout: Option<Duration>,
}

impl RemoteCommand {
    /// A command running `script` as the connecting user, without a timeout.
    pub fn new(script: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            become_: None,
            timeout: None,
        }
    }

    /// The same command run as another user.
    pub fn with_become(mut self, become_: Option<Become>) -> Self {
        self.become_ = become_;
        self
    }

    /// The same command with a timeout.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line a transport executes, and the bytes to send on stdin before the
    /// caller's own input (the become password, never placed in argv).
    pub fn command_line(&self, connected_as_root: bool) -> (String, Option<Vec<u8>>) {
        self.line(connected_as_root, format!("sh -c {}", quote(&self.script)))
    }

    /// Like [`RemoteCommand::command_line`], for a caller that is itself a POSIX shell (a
    /// persistent shell worker): without become the script runs in a subshell through `eval`,
    /// which costs a fork but no new `sh` to start; it is as isolated as `sh -c` (its `cd`,
    /// variables, `exit` and even a syntax error stay inside). With become, `sudo`/`su` start a
    /// shell anyway and the line is the same as `command_line`'s.
    pub fn shell_line(&self, connected_as_root: bool) -> (String, Option<Vec<u8>>) {
        self.line(connected_as_root, format!("(eval {})", quote(&self.script)))
    }

    /// `plain` when no user switch is needed, else the `sudo`/`su` line.
    fn line(&self, connected_as_root: bool, plain: String) -> (String, Option<Vec<u8>>) {
        let inner = format!("sh -c {}", quote(&self.script));
        let Some(b) = &self.become_ else {
            return (plain, None);
        };
        if connected_as_root && b.user == "root" {
            return (plain, None);
        }
        match b.method {
            BecomeMethod::Sudo => match &b.password {
                Some(pw) => (
                    format!("sudo -S -p '' -H -u {} -- {inner}", quote(&b.user)),
                    Some(format!("{pw}\n").into_bytes()),
                ),
                None => (format!("sudo -n -H -u {} -- {inner}", quote(&b.user)), None),
            },
            BecomeMethod::Su => (
                format!(
                    "su -s /bin/sh {} -c {}",
                    quote(&b.user),
                    quote(&self.script)
                ),
                b.password.as_ref().map(|pw| format!("{pw}\n").into_bytes()),
            ),
        }
    }
}

/// What a finished command returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit status; -1 when the process was killed by a signal or the status is unknown.
    pub status: i32,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl CommandOutput {
    /// True when the exit status is 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Stdout as (lossy) UTF-8.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as (lossy) UTF-8, trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_owned()
    }
}

/// Standard input for a remote command.
pub enum Stdin<'a> {
    /// No input (stdin is closed at once).
    Null,
    /// These bytes.
    Bytes(&'a [u8]),
    /// Streamed from a reader, so large files never sit whole in memory.
    Reader(&'a mut (dyn AsyncRead + Send + Unpin)),
}

/// A bidirectional byte stream (a TCP stream as seen from a host).
pub trait NodeStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> NodeStream for T {}

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The host cannot be reached (down, refused, dropped, authentication or host key failure).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The command did not finish in time.
    #[error("command timed out after {0:?}")]
    Timeout(Duration),
    /// A local I/O error (reading input, spawning a process).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other transport failure.
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// True when the failure means the host is unreachable rather than a task failure.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TransportError::Unreachable(_))
    }
}

/// One open connection to one host, shared by every task of a run.
#[async_trait]
pub trait Connection: Send + Sync {
    /// The inventory name of the host.
    fn host(&self) -> &str;

    /// Runs `command` on the host, feeding it `stdin`, and waits for it to finish.
    async fn exec(
        &self,
        command: &RemoteCommand,
        stdin: Stdin<'_>,
    ) -> Result<CommandOutput, TransportError>;

    /// Opens a TCP stream to `addr:port` as seen from the host (SSH: a direct-tcpip channel).
    async fn open_tcp(&self, addr: &str, port: u16) -> Result<Box<dyn NodeStream>, TransportError>;

    /// Notes for people gathered since the last call (a host key recorded or accepted
    /// unverified, a dropped connection reopened); the engine shows them as warnings.
    fn take_notices(&self) -> Vec<String> {
        Vec::new()
    }

    /// Closes the connection (best effort).
    async fn close(&self) {}

    /// Forgets the current connection: the next command opens a new one, even after an
    /// earlier attempt to reopen it failed (Ansible's `reset()`: what waiting for a host that
    /// reboots needs). Nothing to do for connections that never drop.
    async fn reset(&self) {}

    /// True when commands run on the controller itself (`ansible_connection: local`).
    fn is_local(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn become_password_goes_to_stdin_not_argv() {
        let cmd = RemoteCommand::new("id -u").with_become(Some(Become {
            password: Some("s3cret".into()),
            ..Become::default()
        }));
        let (line, prefix) = cmd.command_line(false);
        assert!(!line.contains("s3cret"));
        assert_eq!(prefix.as_deref(), Some(&b"s3cret\n"[..]));
        assert!(line.starts_with("sudo -S"));
        assert!(!format!("{cmd:?}").contains("s3cret"));
    }

    #[test]
    fn root_needs_no_sudo() {
        let cmd = RemoteCommand::new("true").with_become(Some(Become::default()));
        assert_eq!(cmd.command_line(true).0, "sh -c true");
        assert_eq!(cmd.shell_line(true).0, "(eval true)");
        assert!(
            cmd.command_line(false)
                .0
                .starts_with("sudo -n -H -u root -- sh -c true")
        );
    }
}
