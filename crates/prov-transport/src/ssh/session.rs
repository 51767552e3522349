//! [`SshConnection`]: one authenticated russh connection; commands run on its worker shells or on
//! exec channels (see the module docs of `ssh`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use prov_core::{CommandOutput, Connection, NodeStream, RemoteCommand, Stdin, TransportError};
use russh::client::{self, Handle, Msg};
use russh::{ChannelMsg, ChannelOpenFailure, ChannelWriteHalf, Preferred, Sig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::{self, AuthError, Credentials};
use super::handler::{ClientHandler, HandlerError, Shared, lookup_names};
use super::host_keys;
use super::params::SshParams;
use super::shell::{SHELL_INPUT_MAX, ShellError, ShellPool, ShellWorker};

/// One authenticated SSH connection to one host, shared by every task of a run.
///
/// [`Connection::exec`] runs a command on a persistent shell worker of this connection when
/// its input is small, otherwise as an `exec` request on its own session channel; at most
/// [`SshParams::max_sessions`] session channels (workers included) are open at once.
/// [`Connection::open_tcp`] is a `direct-tcpip` channel. A dropped connection makes every later
/// call fail with [`TransportError::Unreachable`]. See the module docs for round trips.
pub struct SshConnection {
    host: String,
    display: String,
    user_is_root: bool,
    handle: Arc<Handle<ClientHandler>>,
    shared: Arc<Shared>,
    sessions: Arc<Semaphore>,
    shells: Arc<ShellPool>,
    reaper: Arc<Reaper>,
    /// The bastion this connection runs through; kept open as long as this one.
    jump: Option<Box<SshConnection>>,
}

impl std::fmt::Debug for SshConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConnection")
            .field("host", &self.display)
            .field("user_is_root", &self.user_is_root)
            .field("jump", &self.jump)
            .finish()
    }
}

/// The russh client configuration for `p`.
fn client_config(p: &SshParams) -> client::Config {
    let names = lookup_names(p);
    let key = host_keys::preferred_algorithms(&p.known_hosts_files, &names, p.port);
    client::Config {
        preferred: Preferred {
            key: key.into(),
            ..Preferred::DEFAULT
        },
        keepalive_interval: p.keepalive_interval,
        keepalive_max: KEEPALIVE_MAX as usize,
        nodelay: true,
        ..Default::default()
    }
}

/// How long a command without input waits for a busy shell worker before it takes an exec
/// channel instead.
const SHELL_GRACE: Duration = Duration::from_millis(20);

fn unreachable(p: &SshParams, reason: impl std::fmt::Display) -> TransportError {
    TransportError::Unreachable(format!("{}: {reason}", p.display_name()))
}

impl SshConnection {
    /// Connects to `p.address:p.port` (through `p.proxy_jump` when set), verifies the host key
    /// and authenticates. Any failure is [`TransportError::Unreachable`] naming the host.
    pub async fn connect(p: &SshParams) -> Result<SshConnection, TransportError> {
        let jump = match &p.proxy_jump {
            Some(j) => {
                let conn = Box::pin(SshConnection::connect(j)).await.map_err(|e| {
                    unreachable(
                        p,
                        format!("via jump host {}: {}", j.display_name(), detail(&e)),
                    )
                })?;
                Some(Box::new(conn))
            }
            None => None,
        };
        let creds = Credentials::gather(p).await;
        let timeout = p.connect_timeout;
        let via = match &p.proxy_jump {
            Some(j) => format!(" (via jump host {})", j.display_name()),
            None => String::new(),
        };
        match tokio::time::timeout(timeout, Self::connect_hop(p, jump, creds)).await {
            Ok(r) => r,
            Err(_) => Err(unreachable(
                p,
                format!("connect and authentication timed out after {timeout:?}{via}"),
            )),
        }
    }

    /// Runs the SSH session to `p` over `stream` (any byte stream reaching its sshd); host key
    /// checking and authentication as in [`SshConnection::connect`], without `proxy_jump`.
    pub async fn connect_stream<S>(
        p: &SshParams,
        stream: S,
    ) -> Result<SshConnection, TransportError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let creds = Credentials::gather(p).await;
        let timeout = p.connect_timeout;
        match tokio::time::timeout(timeout, Self::handshake(p, stream, None, creds)).await {
            Ok(r) => r,
            Err(_) => Err(unreachable(
                p,
                format!("connect and authentication timed out after {timeout:?}"),
            )),
        }
    }

    async fn connect_hop(
        p: &SshParams,
        jump: Option<Box<SshConnection>>,
        creds: Credentials,
    ) -> Result<SshConnection, TransportError> {
        match jump {
            Some(j) => {
                let ch = j
                    .handle
                    .channel_open_direct_tcpip(p.address.clone(), u32::from(p.port), "127.0.0.1", 0)
                    .await
                    .map_err(|e| {
                        unreachable(
                            p,
                            format!(
                                "jump host {} cannot reach {}:{}: {}",
                                j.display,
                                p.address,
                                p.port,
                                j.channel_error_text(&e)
                            ),
                        )
                    })?;
                Self::handshake(p, ch.into_stream(), Some(j), creds).await
            }
            None => {
                let tcp = tokio::net::TcpStream::connect((p.address.as_str(), p.port))
                    .await
                    .map_err(|e| unreachable(p, format!("cannot connect: {e}")))?;
                let _ = tcp.set_nodelay(true);
                if let Some(interval) = p.keepalive_interval {
                    set_user_timeout(&tcp, interval * (KEEPALIVE_MAX + 1));
                }
                Self::handshake(p, tcp, None, creds).await
            }
        }
    }

    async fn handshake<S>(
        p: &SshParams,
        stream: S,
        jump: Option<Box<SshConnection>>,
        creds: Credentials,
    ) -> Result<SshConnection, TransportError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::new(Shared::default());
        let handler = ClientHandler::new(p, shared.clone());
        let config = Arc::new(client_config(p));
        let mut handle = client::connect_stream(config, stream, handler)
            .await
            .map_err(|e| match e {
                HandlerError::HostKey(m) => TransportError::Unreachable(m),
                HandlerError::Ssh(e) => unreachable(p, format!("SSH handshake failed: {e}")),
            })?;
        match auth::authenticate(&mut handle, p, creds).await {
            Ok(()) => {}
            Err(AuthError::Refused(m)) => return Err(unreachable(p, m)),
            Err(AuthError::Lost(m)) => {
                let why = shared.disconnect_reason().unwrap_or(m);
                return Err(unreachable(
                    p,
                    format!("connection lost during authentication: {why}"),
                ));
            }
        }
        let handle = Arc::new(handle);
        let reaper = Arc::new(Reaper {
            handle: Arc::downgrade(&handle),
            tasks: std::sync::Mutex::new(Vec::new()),
        });
        Ok(SshConnection {
            host: p.host.clone(),
            display: p.display_name(),
            user_is_root: p.user == "root",
            handle,
            shared,
            sessions: Arc::new(Semaphore::new(p.max_sessions.max(1))),
            // Keep at least one slot for exec channels (commands with input).
            shells: ShellPool::new(
                p.shell_workers.min(p.max_sessions.max(1) - 1),
                reaper.clone(),
            ),
            reaper,
            jump,
        })
    }

    /// True once the connection has dropped (every later call fails with Unreachable).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Why the connection dropped, as far as known.
    pub(crate) fn lost_reason(&self) -> String {
        self.shared
            .disconnect_reason()
            .unwrap_or_else(|| "connection closed".to_owned())
    }

    fn lost(&self) -> TransportError {
        TransportError::Unreachable(format!(
            "{}: connection lost: {}",
            self.display,
            self.lost_reason()
        ))
    }

    fn channel_error_text(&self, e: &russh::Error) -> String {
        match e {
            russh::Error::ChannelOpenFailure(f) => match f {
                ChannelOpenFailure::Other { code, reason } => format!("{reason} (code {code})"),
                other => format!("{other:?}"),
            },
            other if self.handle.is_closed() => self
                .shared
                .disconnect_reason()
                .unwrap_or_else(|| other.to_string()),
            other => other.to_string(),
        }
    }

    /// Maps a russh error from a channel operation.
    fn channel_error(&self, e: russh::Error) -> TransportError {
        match &e {
            russh::Error::ChannelOpenFailure(_) if !self.handle.is_closed() => {
                TransportError::Other(format!("{}: {}", self.display, self.channel_error_text(&e)))
            }
            _ => self.lost(),
        }
    }

    /// Opens a session channel, retrying for a while when sshd refuses it for lack of a free
    /// session slot: sshd frees a finished session only after processing our close, so an open
    /// sent right behind that close can still find `MaxSessions` full (sshd then answers
    /// "connect failed" or "administratively prohibited").
    async fn open_session(&self) -> Result<russh::Channel<Msg>, TransportError> {
        open_session_retrying(&self.handle)
            .await
            .map_err(|e| self.channel_error(e))
    }

    /// A shell worker to run a command on: an idle one, or a new one while the pool has room.
    /// `None` when the pool is full and every worker is busy.
    async fn shell_worker(&self) -> Option<Result<ShellWorker, TransportError>> {
        if let Some(w) = self.shells.take() {
            return Some(Ok(w));
        }
        if !self.shells.reserve() {
            return None;
        }
        let permit = match self.sessions.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => {
                self.shells.release();
                return Some(Err(self.lost()));
            }
        };
        match self.open_session().await {
            Ok(channel) => Some(Ok(ShellWorker::start(channel, permit, &self.shells).await)),
            Err(e) => {
                self.shells.release();
                Some(Err(e))
            }
        }
    }

    /// Runs `line` with `input` on `worker`, returning the worker to the pool afterwards.
    async fn run_on_worker(
        &self,
        mut worker: ShellWorker,
        line: &str,
        input: Option<&[u8]>,
    ) -> Result<CommandOutput, TransportError> {
        match worker.run(line, input).await {
            Ok(out) => {
                self.shells.put(worker);
                Ok(out)
            }
            Err(ShellError::Ended { lost: true }) => Err(self.lost()),
            Err(_) if self.handle.is_closed() => Err(self.lost()),
            Err(_) => Err(TransportError::Other(format!(
                "{}: the remote shell running the command ended unexpectedly",
                self.display
            ))),
        }
    }

    /// Runs `line` on its own exec channel (using `permit` as its session slot when given).
    async fn run(
        &self,
        line: String,
        prefix: Option<Vec<u8>>,
        stdin: Stdin<'_>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<CommandOutput, TransportError> {
        let _permit = match permit {
            Some(p) => p,
            None => self
                .sessions
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| self.lost())?,
        };
        let channel = self.open_session().await?;
        let (mut rx, tx) = channel.split();
        let mut prelude = PidPrelude::new();
        let mut guard = ChannelGuard {
            tx: Some(tx),
            pgid: prelude.pgid.clone(),
            reaper: self.reaper.clone(),
        };
        let Some(tx) = guard.tx.as_ref() else {
            return Err(self.lost());
        };
        // The session's shell first reports its PID (its process group: sshd starts every
        // session in a group of its own), so that an abandoned command can be stopped.
        let line = format!("{}exec {line}", prelude.command());
        // want_reply: sshd answers success/failure, read below; no need to wait for it first.
        tx.exec(true, line.into_bytes())
            .await
            .map_err(|e| self.channel_error(e))?;
        let mut writer = tx.make_writer();

        let feed = async move {
            if let Some(p) = prefix {
                writer.write_all(&p).await.map_err(|_| FeedError::Remote)?;
            }
            match stdin {
                Stdin::Null => {}
                Stdin::Bytes(b) => writer.write_all(b).await.map_err(|_| FeedError::Remote)?,
                Stdin::Reader(r) => {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = r.read(&mut buf).await.map_err(FeedError::Local)?;
                        if n == 0 {
                            break;
                        }
                        writer
                            .write_all(&buf[..n])
                            .await
                            .map_err(|_| FeedError::Remote)?;
                    }
                }
            }
            // Sends EOF.
            writer.shutdown().await.map_err(|_| FeedError::Remote)
        };

        let collect = async {
            let mut out = CommandOutput {
                status: -1,
                ..CommandOutput::default()
            };
            while let Some(msg) = rx.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        prelude.feed(&data, &mut out.stderr)
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        out.status = i32::try_from(exit_status).unwrap_or(-1)
                    }
                    ChannelMsg::ExitSignal {
                        signal_name,
                        error_message,
                        ..
                    } => {
                        out.status = -1;
                        let note = format!("killed by signal {signal_name:?} {error_message}");
                        if !out.stderr.is_empty() && !out.stderr.ends_with(b"\n") {
                            out.stderr.push(b'\n');
                        }
                        out.stderr.extend_from_slice(note.trim().as_bytes());
                    }
                    ChannelMsg::Failure => {
                        return Err(TransportError::Other(format!(
                            "{}: sshd refused to run the command",
                            self.display
                        )));
                    }
                    ChannelMsg::Close => {
                        prelude.finish(&mut out.stderr);
                        return Ok(out);
                    }
                    _ => {}
                }
            }
            // The channel vanished without a close: the connection is gone.
            Err(self.lost())
        };

        tokio::pin!(feed);
        tokio::pin!(collect);
        let mut feeding = true;
        let result = loop {
            tokio::select! {
                fed = &mut feed, if feeding => {
                    feeding = false;
                    if let Err(FeedError::Local(e)) = fed {
                        // Abandon the command: the guard signals it (TERM) and closes the
                        // channel; input cut short is caught by the receiver (put_file's
                        // install script checks size and checksum before installing).
                        return Err(TransportError::Io(e));
                    }
                    // A remote write error means the command stopped reading its input or the
                    // channel closed: its output and status tell what happened.
                }
                out = &mut collect => break out,
            }
        };
        if result.is_ok() {
            guard.finished();
        }
        result
    }
}

/// Opens a session channel on `handle`, retrying for up to 5 s while sshd has no free session
/// slot (see [`SshConnection::open_session`]).
async fn open_session_retrying(
    handle: &Handle<ClientHandler>,
) -> Result<russh::Channel<Msg>, russh::Error> {
    let mut delay = Duration::from_millis(2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match handle.channel_open_session().await {
            Ok(c) => return Ok(c),
            Err(russh::Error::ChannelOpenFailure(
                ChannelOpenFailure::AdministrativelyProhibited
                | ChannelOpenFailure::ConnectFailed
                | ChannelOpenFailure::ResourceShortage,
            )) if tokio::time::Instant::now() < deadline && !handle.is_closed() => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Stops remote commands that were abandoned (timed out, or their run was interrupted) on
/// shell workers: their process group gets a TERM from a fresh exec channel. sshd refuses the
/// SSH `signal` request on root logins ("session signalling requires privilege separation"),
/// and closing a channel does not stop a command that is not reading or writing it.
pub(crate) struct Reaper {
    /// The connection (not kept open by the reaper).
    handle: std::sync::Weak<Handle<ClientHandler>>,
    /// Kills under way; [`Connection::close`] waits for them (bounded).
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Unanswered keepalives after which a connection counts as dropped.
const KEEPALIVE_MAX: u32 = 3;

/// Makes the kernel drop the connection when data it sent stays unacknowledged for `timeout`
/// (Linux `TCP_USER_TIMEOUT`). A host cut off while prov streams a file to it (packets dropped,
/// no reset) is then unreachable like a host whose keepalives go unanswered: keepalives alone
/// are not sent while the session waits for room to write, and TCP's own retries last minutes.
fn set_user_timeout(tcp: &tokio::net::TcpStream, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let ms = libc::c_uint::try_from(timeout.as_millis()).unwrap_or(libc::c_uint::MAX);
    // SAFETY: a valid socket descriptor, an option of the size given; failure leaves the
    // default (keepalives still apply).
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&ms as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        );
    }
}

/// How long [`Connection::close`] waits for kills under way (the host carries on without it:
/// see [`stop_group_script`]).
const REAP_GRACE: Duration = Duration::from_secs(2);

/// The shell script that stops remote process group `pgid`: TERM, up to
/// [`crate::local::KILL_GRACE`] for it to end, then KILL. It runs detached from the reaper's
/// channel (HUP ignored, no terminal, its own input and output), so it completes on the host even
/// when prov closes the connection or exits before the grace is over; the channel waits for it
/// while it is open.
pub(crate) fn stop_group_script(pgid: u32) -> String {
    let tenths = crate::local::KILL_GRACE.as_millis() / 100;
    format!(
        "( trap '' HUP INT TERM PIPE; kill -TERM -- -{pgid} 2>/dev/null || exit 0; n=0; \
         while [ $n -lt {tenths} ] && kill -0 -- -{pgid} 2>/dev/null; do sleep 0.1; \
         n=$((n+1)); done; kill -KILL -- -{pgid} 2>/dev/null ) </dev/null >/dev/null 2>&1 & \
         wait; true"
    )
}

impl Reaper {
    /// Stops the remote process group `pgid` (in the background): TERM, a grace period, KILL
    /// ([`stop_group_script`]).
    pub(crate) fn kill_group(&self, pgid: u32) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let handle = self.handle.clone();
        let task = rt.spawn(async move {
            let channel = {
                let Some(h) = handle.upgrade() else { return };
                match open_session_retrying(&h).await {
                    Ok(c) => c,
                    Err(_) => return,
                }
            };
            let (mut rx, tx) = channel.split();
            let line = stop_group_script(pgid);
            if tx.exec(true, line.into_bytes()).await.is_err() {
                return;
            }
            let _ = tx.eof().await;
            while let Some(msg) = rx.wait().await {
                if matches!(msg, ChannelMsg::Close) {
                    break;
                }
            }
        });
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Waits (at most `within`) for the kills under way.
    async fn settle(&self, within: Duration) {
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        if tasks.is_empty() {
            return;
        }
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        let _ = tokio::time::timeout(within, all).await;
    }
}

/// Where feeding stdin failed.
enum FeedError {
    /// Reading the caller's input.
    Local(std::io::Error),
    /// Writing to the channel.
    Remote,
}

/// The first line an exec channel's shell writes to stderr: a marker with its PID, which is
/// also the session's process group. Whatever comes before it (a chatty login rc file) is
/// dropped; if the marker never comes (the shell failed), everything is kept.
struct PidPrelude {
    marker: String,
    /// stderr bytes seen while waiting for the marker line.
    pending: Option<Vec<u8>>,
    /// The process group once known (0 before).
    pgid: Arc<AtomicU32>,
}

impl PidPrelude {
    fn new() -> Self {
        Self {
            marker: format!("\n{}:", super::shell::random_token()),
            pending: Some(Vec::new()),
            pgid: Arc::new(AtomicU32::new(0)),
        }
    }

    /// The shell code printing the marker line, to put before the command.
    fn command(&self) -> String {
        format!(
            "printf '{}%d\\n' \"$$\" >&2; ",
            self.marker.replace('\n', "\\n")
        )
    }

    /// Takes stderr bytes: held back until the marker line is complete, then passed on.
    fn feed(&mut self, data: &[u8], stderr: &mut Vec<u8>) {
        let Some(pending) = self.pending.as_mut() else {
            stderr.extend_from_slice(data);
            return;
        };
        pending.extend_from_slice(data);
        let marker = self.marker.as_bytes();
        let Some(at) = pending.windows(marker.len()).position(|w| w == marker) else {
            return;
        };
        let rest = &pending[at + marker.len()..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return;
        };
        if let Some(pid) = std::str::from_utf8(&rest[..nl])
            .ok()
            .and_then(|t| t.parse::<u32>().ok())
        {
            self.pgid.store(pid, Ordering::Release);
        }
        stderr.extend_from_slice(&rest[nl + 1..]);
        self.pending = None;
    }

    /// The channel ended: stderr held back without a marker is the command's after all.
    fn finish(&mut self, stderr: &mut Vec<u8>) {
        if let Some(pending) = self.pending.take() {
            stderr.extend_from_slice(&pending);
        }
    }
}

/// Closes the channel (after a TERM signal to the command) unless it finished normally: covers
/// timeouts, cancelled futures and local input errors. The command's process group also gets a
/// TERM from a fresh channel ([`Reaper`]): sshd refuses the `signal` request on root logins.
struct ChannelGuard {
    tx: Option<ChannelWriteHalf<Msg>>,
    pgid: Arc<AtomicU32>,
    reaper: Arc<Reaper>,
}

impl ChannelGuard {
    /// The command ended normally: nothing to close.
    fn finished(&mut self) {
        self.tx = None;
    }
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = tx.signal(Sig::TERM).await;
                let _ = tx.close().await;
            });
            let pgid = self.pgid.load(Ordering::Acquire);
            if pgid > 1 {
                self.reaper.kill_group(pgid);
            }
        }
    }
}

/// The text of a transport error without its `unreachable:` prefix.
pub(crate) fn detail(e: &TransportError) -> String {
    match e {
        TransportError::Unreachable(m) | TransportError::Other(m) => m.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl Connection for SshConnection {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(
        &self,
        command: &RemoteCommand,
        stdin: Stdin<'_>,
    ) -> Result<CommandOutput, TransportError> {
        let (line, prefix) = command.command_line(self.user_is_root);
        let run = async {
            // Input small enough to travel inside the command line of a shell worker.
            let input: Option<Option<Vec<u8>>> = match (&stdin, &prefix) {
                _ if !self.shells.enabled() => None,
                (Stdin::Null, None) => Some(None),
                (Stdin::Null, Some(p)) => Some(Some(p.clone())),
                (Stdin::Bytes(b), p)
                    if b.len() + p.as_ref().map_or(0, Vec::len) <= SHELL_INPUT_MAX =>
                {
                    let mut v = p.clone().unwrap_or_default();
                    v.extend_from_slice(b);
                    Some(Some(v))
                }
                _ => None,
            };
            let Some(input) = input else {
                return self.run(line, prefix, stdin, None).await;
            };
            let (shell_line, _) = command.shell_line(self.user_is_root);
            loop {
                if let Some(w) = self.shell_worker().await {
                    return self.run_on_worker(w?, &shell_line, input.as_deref()).await;
                }
                // Every worker is busy: take whichever comes first, a worker going idle or (after
                // a short grace, as an exec channel costs a round trip and an sshd session
                // setup) a free session slot for an exec channel.
                let idle = self.shells.idle_notified();
                let slot = async {
                    tokio::time::sleep(SHELL_GRACE).await;
                    self.sessions.clone().acquire_owned().await
                };
                tokio::select! {
                    permit = slot => {
                        let permit = permit.map_err(|_| self.lost())?;
                        return self.run(line, prefix, stdin, Some(permit)).await;
                    }
                    () = idle => {}
                }
            }
        };
        match command.timeout {
            Some(t) => tokio::time::timeout(t, run)
                .await
                .map_err(|_| TransportError::Timeout(t))?,
            None => run.await,
        }
    }

    async fn open_tcp(&self, addr: &str, port: u16) -> Result<Box<dyn NodeStream>, TransportError> {
        let ch = self
            .handle
            .channel_open_direct_tcpip(addr.to_owned(), u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|e| match &e {
                russh::Error::ChannelOpenFailure(_) if !self.handle.is_closed() => {
                    TransportError::Other(format!(
                        "{}: cannot open a TCP stream to {addr}:{port}: {}",
                        self.display,
                        self.channel_error_text(&e)
                    ))
                }
                _ => self.lost(),
            })?;
        Ok(Box::new(ch.into_stream()))
    }

    /// Host key accepted without verification (policy off), new host key recorded
    /// (accept-new); the jump host's notes first.
    fn take_notices(&self) -> Vec<String> {
        let mut out = match &self.jump {
            Some(j) => j.take_notices(),
            None => Vec::new(),
        };
        out.append(
            &mut self
                .shared
                .warnings
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        out
    }

    async fn close(&self) {
        self.shells.clear();
        // Commands abandoned on workers are stopped before the connection goes.
        self.reaper.settle(REAP_GRACE).await;
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        if let Some(j) = &self.jump {
            j.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_prelude_strips_chatter_and_marker_in_any_chunking() {
        let p = PidPrelude::new();
        let stream = format!("motd chatter\n{}4242\nreal error\n", p.marker).into_bytes();
        for split in 0..stream.len() {
            let mut q = PidPrelude::new();
            q.marker.clone_from(&p.marker);
            let mut stderr = Vec::new();
            q.feed(&stream[..split], &mut stderr);
            q.feed(&stream[split..], &mut stderr);
            q.finish(&mut stderr);
            assert_eq!(stderr, b"real error\n", "split at {split}");
            assert_eq!(q.pgid.load(Ordering::Acquire), 4242);
        }
        // No marker (the shell never ran the command): everything is kept.
        let mut q = PidPrelude::new();
        let mut stderr = Vec::new();
        q.feed(b"bash: bad shell\n", &mut stderr);
        q.finish(&mut stderr);
        assert_eq!(stderr, b"bash: bad shell\n");
        assert_eq!(q.pgid.load(Ordering::Acquire), 0);
    }
}
