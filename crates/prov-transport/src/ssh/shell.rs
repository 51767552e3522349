//! Persistent remote shells: commands framed over one long-lived `sh` per worker.
//!
//! An exec channel per command costs two round trips and, on the host, a fresh sshd session
//! (fork, environment, login shell). A shell worker is one session channel running `sh` that
//! reads one wrapped command line at a time on its stdin:
//!
//! ```text
//! <command line> </dev/null; printf '\n<token>:%d\n' "$?"; printf '\n<token>\n' >&2
//! ```
//!
//! The command line is [`RemoteCommand::shell_line`](prov_core::RemoteCommand::shell_line):
//! `(eval '<script>')`, a subshell of the worker, so a command costs a fork but not the start
//! of a new `sh` (with become, `sudo ... sh -c '<script>'`).
//!
//! The command's stdout and stderr stay on the channel's two streams; each ends with a marker
//! carrying a random per-worker token (the stdout one also carries the exit status), so
//! output, errors and status stay apart and exact. One round trip per command, no sshd session
//! setup. The shell's own stdin is the control stream, so a command gets `/dev/null`, or its
//! input (become password and small [`Stdin::Bytes`](prov_core::Stdin), up to
//! [`SHELL_INPUT_MAX`]) embedded base64-encoded in the line and piped through `base64 -d`;
//! streamed input ([`Stdin::Reader`](prov_core::Stdin)) and larger inputs use exec channels.
//! A worker whose command timed out or was cancelled is closed, never reused, and its command
//! is stopped: the worker learns its remote process group when it starts (sshd makes every
//! session a process group of its own), and the connection's [`Reaper`] sends that group a
//! TERM from a fresh channel. (sshd refuses the SSH `signal` request on root logins, which run
//! without privilege separation, so signalling the channel alone would leave the command
//! running until it ends by itself.)

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use prov_core::CommandOutput;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use tokio::sync::OwnedSemaphorePermit;

use super::session::Reaper;

/// Why a worker could not run a command.
pub(crate) enum ShellError {
    /// The channel ended: the connection is gone (`lost`) or only the shell died.
    Ended { lost: bool },
    /// Writing to the shell failed.
    Write,
}

/// One long-lived remote `sh` on its own session channel.
pub(crate) struct ShellWorker {
    rx: ChannelReadHalf,
    tx: Option<ChannelWriteHalf<Msg>>,
    token: String,
    /// The session slot this worker holds for its whole life.
    _permit: OwnedSemaphorePermit,
    /// The pool's count of live workers, decremented when this one goes.
    live: Arc<AtomicU64>,
    /// The startup output has been skipped (see [`ShellWorker::run`]).
    synced: bool,
    /// Bytes read past the last markers.
    carry_out: Vec<u8>,
    carry_err: Vec<u8>,
    /// The remote shell's process id, which is also its process group (learnt at startup).
    pgid: Option<u32>,
    /// A command was sent and its end not read yet.
    busy: bool,
    /// Stops the command of a worker dropped while busy.
    reaper: Arc<Reaper>,
}

/// Largest input (become password included) sent through a shell worker.
pub(crate) const SHELL_INPUT_MAX: usize = 256 * 1024;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A 128-bit random hex token (std's randomly keyed SipHash over a counter and the time).
pub(crate) fn random_token() -> String {
    let mut out = String::from("PROV");
    for _ in 0..2 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(d.as_nanos());
        }
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Position of `needle` in `hay`, searching from `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

impl ShellWorker {
    /// Starts `sh` on a fresh session channel, taking over a reservation of `pool`.
    pub(crate) async fn start(
        channel: russh::Channel<Msg>,
        permit: OwnedSemaphorePermit,
        pool: &ShellPool,
    ) -> ShellWorker {
        let (rx, tx) = channel.split();
        let w = ShellWorker {
            rx,
            tx: Some(tx),
            token: random_token(),
            _permit: permit,
            live: pool.live.clone(),
            synced: false,
            carry_out: Vec::new(),
            carry_err: Vec::new(),
            pgid: None,
            busy: false,
            reaper: pool.reaper.clone(),
        };
        // `exec` keeps the login shell from lingering as the parent of the worker shell. A
        // refusal shows up as the channel ending on the first command.
        if let Some(tx) = &w.tx {
            let _ = tx.exec(false, &b"exec /bin/sh"[..]).await;
        }
        w
    }

    /// Runs `line` with `input` on its stdin (`/dev/null` when `None`) and collects its output
    /// and status. On any error the worker must be dropped (which closes it).
    pub(crate) async fn run(
        &mut self,
        line: &str,
        input: Option<&[u8]>,
    ) -> Result<CommandOutput, ShellError> {
        let t = &self.token;
        let end = format!("; printf '\\n{t}:%d\\n' \"$?\"; printf '\\n{t}\\n' >&2\n");
        // The first command is preceded by a sync marker: whatever the login shell printed
        // before the worker shell started (a chatty rc file) is discarded with it. Its last
        // line is the shell's process id.
        let mut text = if self.synced {
            String::new()
        } else {
            format!("echo \"$$\"{end}")
        };
        match input {
            // printf is a shell builtin: the data never shows up in a process's argv.
            Some(data) => text.push_str(&format!(
                "printf '%s' '{}' | base64 -d | {line}{end}",
                base64::engine::general_purpose::STANDARD.encode(data)
            )),
            None => text.push_str(&format!("{line} </dev/null{end}")),
        }
        let Some(tx) = self.tx.as_ref() else {
            return Err(ShellError::Write);
        };
        self.busy = true;
        tx.data_bytes(text.into_bytes())
            .await
            .map_err(|_| ShellError::Write)?;
        if !self.synced {
            let sync = self.collect().await?;
            self.pgid = last_line_pid(&sync.stdout);
            self.synced = true;
        }
        let out = self.collect().await?;
        self.busy = false;
        Ok(out)
    }

    /// Reads the channel up to the next pair of markers; bytes after them are kept for the
    /// next call.
    async fn collect(&mut self) -> Result<CommandOutput, ShellError> {
        let t = &self.token;
        let out_marker = format!("\n{t}:").into_bytes();
        let err_marker = format!("\n{t}\n").into_bytes();
        let mut stdout: Vec<u8> = std::mem::take(&mut self.carry_out);
        let mut stderr: Vec<u8> = std::mem::take(&mut self.carry_err);
        // (marker position, status, end of the status line)
        let mut status: Option<(usize, i32, usize)> = None;
        let mut err_end: Option<usize> = None;
        let mut out_scan = 0usize;
        let mut err_scan = 0usize;
        let mut fresh_out = true;
        let mut fresh_err = true;
        loop {
            if fresh_out && status.is_none() {
                match find(&stdout, &out_marker, out_scan) {
                    Some(i) => {
                        // The status follows the marker up to a newline.
                        let rest = &stdout[i + out_marker.len()..];
                        if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                            let code = std::str::from_utf8(&rest[..nl])
                                .ok()
                                .and_then(|s| s.parse::<i32>().ok())
                                .unwrap_or(-1);
                            status = Some((i, code, i + out_marker.len() + nl + 1));
                        }
                    }
                    None => out_scan = stdout.len().saturating_sub(out_marker.len()),
                }
            }
            if fresh_err && err_end.is_none() {
                match find(&stderr, &err_marker, err_scan) {
                    Some(i) => err_end = Some(i),
                    None => err_scan = stderr.len().saturating_sub(err_marker.len()),
                }
            }
            if let (Some((out_end, code, after)), Some(e_end)) = (status, err_end) {
                self.carry_out = stdout.split_off(after);
                self.carry_err = stderr.split_off(e_end + err_marker.len());
                stdout.truncate(out_end);
                stderr.truncate(e_end);
                return Ok(CommandOutput {
                    status: code,
                    stdout,
                    stderr,
                });
            }
            fresh_out = false;
            fresh_err = false;
            match self.rx.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    stdout.extend_from_slice(&data);
                    fresh_out = true;
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    stderr.extend_from_slice(&data);
                    fresh_err = true;
                }
                Some(
                    ChannelMsg::Eof
                    | ChannelMsg::Close
                    | ChannelMsg::ExitStatus { .. }
                    | ChannelMsg::ExitSignal { .. },
                ) => return Err(ShellError::Ended { lost: false }),
                Some(_) => {}
                None => return Err(ShellError::Ended { lost: true }),
            }
        }
    }
}

/// The process id printed on the last line of `out`.
fn last_line_pid(out: &[u8]) -> Option<u32> {
    std::str::from_utf8(out)
        .ok()?
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())?
        .trim()
        .parse()
        .ok()
        .filter(|&p| p > 1)
}

impl Drop for ShellWorker {
    fn drop(&mut self) {
        let _ = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        // Dropped in the middle of a command (timeout, cancelled run): stop that command.
        if self.busy
            && let Some(pgid) = self.pgid
        {
            self.reaper.kill_group(pgid);
        }
        // Only workers that are not reused get dropped: stop the shell and whatever it runs.
        if let Some(tx) = self.tx.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = tx.signal(Sig::TERM).await;
                let _ = tx.eof().await;
                let _ = tx.close().await;
            });
        }
    }
}

/// The idle workers of a connection and how many exist.
pub(crate) struct ShellPool {
    idle: std::sync::Mutex<Vec<ShellWorker>>,
    /// Signalled whenever a worker goes back to the idle list.
    went_idle: tokio::sync::Notify,
    live: Arc<AtomicU64>,
    max: u64,
    /// Stops the commands of workers dropped while busy.
    pub(crate) reaper: Arc<Reaper>,
}

impl ShellPool {
    pub(crate) fn new(max: usize, reaper: Arc<Reaper>) -> Arc<Self> {
        Arc::new(Self {
            idle: std::sync::Mutex::new(Vec::new()),
            went_idle: tokio::sync::Notify::new(),
            live: Arc::new(AtomicU64::new(0)),
            max: max as u64,
            reaper,
        })
    }

    /// True when workers are enabled at all.
    pub(crate) fn enabled(&self) -> bool {
        self.max > 0
    }

    /// An idle worker, if any.
    pub(crate) fn take(&self) -> Option<ShellWorker> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// Reserves room for one more worker; `false` when the pool is full.
    pub(crate) fn reserve(&self) -> bool {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a reservation whose worker was never made.
    pub(crate) fn release(&self) {
        let _ = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Returns a healthy worker to the idle list.
    pub(crate) fn put(&self, w: ShellWorker) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(w);
        self.went_idle.notify_one();
    }

    /// Completes when a worker has gone idle (possibly just before the call).
    pub(crate) async fn idle_notified(&self) {
        self.went_idle.notified().await;
    }

    /// Drops every idle worker (closing their channels).
    pub(crate) fn clear(&self) {
        let drained: Vec<ShellWorker> =
            std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        drop(drained);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_find_works() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 32);
        assert_eq!(find(b"abcabc", b"ca", 0), Some(2));
        assert_eq!(find(b"abcabc", b"ca", 3), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
    }

    #[test]
    fn pid_from_the_sync_output() {
        assert_eq!(last_line_pid(b"motd text\n4242\n"), Some(4242));
        assert_eq!(last_line_pid(b"4242"), Some(4242));
        assert_eq!(last_line_pid(b"hello\n"), None);
        assert_eq!(last_line_pid(b"1\n"), None);
        assert_eq!(last_line_pid(b""), None);
    }
}
