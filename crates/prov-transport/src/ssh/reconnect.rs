//! [`ReconnectingSsh`]: the connection the engine gets for a host. It holds one
//! [`SshConnection`] and, when it finds that connection dropped before a command (the host's
//! sshd restarted, a firewall forgot an idle connection, a network blip), opens a new one
//! instead of giving up on the host.
//!
//! A command already running when the connection drops is not repeated: whether it ran is
//! unknown, so it fails as unreachable, as it would with Ansible.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use prov_core::{CommandOutput, Connection, NodeStream, RemoteCommand, Stdin, TransportError};

use super::params::SshParams;
use super::session::SshConnection;

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// An SSH connection that reconnects when it finds itself dropped between commands.
///
/// Opening (and reopening) makes `1 + retries` attempts, waiting 1 s, 2 s, 4 s... (at most
/// 8 s) between them; `retries` is Ansible's `ansible_ssh_retries`. When reopening fails the
/// connection gives up for good: later calls fail at once with the same reason.
pub struct ReconnectingSsh {
    params: SshParams,
    retries: u32,
    current: tokio::sync::RwLock<Arc<SshConnection>>,
    notices: Mutex<Vec<String>>,
    /// Set when reopening failed: later calls fail at once with this reason instead of
    /// trying again (a Redis tunnel through the host, for one).
    gave_up: Mutex<Option<String>>,
    /// Set by [`Connection::reset`]: the next reopening was asked for, not a drop to report.
    was_reset: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ReconnectingSsh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectingSsh")
            .field("host", &self.params.host)
            .field("retries", &self.retries)
            .finish()
    }
}

/// Connects to `p` in `1 + retries` attempts; the last error when all fail.
async fn connect_with_retries(
    p: &SshParams,
    retries: u32,
) -> Result<SshConnection, TransportError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        match SshConnection::connect(p).await {
            Ok(c) => return Ok(c),
            Err(e) if attempt >= retries => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        }
    }
}

impl ReconnectingSsh {
    /// Opens the first connection (see the type docs for the attempts).
    pub async fn connect(params: SshParams, retries: u32) -> Result<Self, TransportError> {
        let first = connect_with_retries(&params, retries).await?;
        Ok(Self {
            params,
            retries,
            current: tokio::sync::RwLock::new(Arc::new(first)),
            notices: Mutex::new(Vec::new()),
            gave_up: Mutex::new(None),
            was_reset: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// True when the current connection has dropped: the next command reconnects first.
    pub fn is_dropped(&self) -> bool {
        self.current.try_read().is_ok_and(|c| c.is_closed())
    }

    /// The live connection: the current one, or a new one when the current one dropped.
    async fn live(&self) -> Result<Arc<SshConnection>, TransportError> {
        let usable = |c: &SshConnection| !c.is_closed() && !self.was_reset.load(Ordering::Relaxed);
        {
            let c = self.current.read().await;
            if usable(&c) {
                return Ok(c.clone());
            }
        }
        let mut current = self.current.write().await;
        // Another command may have reconnected (or given up) while this one waited.
        if usable(&current) {
            return Ok(current.clone());
        }
        if let Some(why) = self
            .gave_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(TransportError::Unreachable(why));
        }
        let lost = current.lost_reason();
        let earlier = current.take_notices();
        self.notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(earlier);
        current.close().await;
        match connect_with_retries(&self.params, self.retries).await {
            Ok(c) => {
                if !self.was_reset.swap(false, Ordering::Relaxed) {
                    self.notices
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!(
                            "{}: the connection dropped ({lost}); reconnected",
                            self.params.display_name()
                        ));
                }
                *current = Arc::new(c);
                Ok(current.clone())
            }
            Err(e) => {
                self.was_reset.store(false, Ordering::Relaxed);
                let why = format!(
                    "{}: the connection dropped ({lost}) and reconnecting failed: {}",
                    self.params.display_name(),
                    super::session::detail(&e)
                );
                *self.gave_up.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
                Err(TransportError::Unreachable(why))
            }
        }
    }
}

#[async_trait]
impl Connection for ReconnectingSsh {
    fn host(&self) -> &str {
        &self.params.host
    }

    async fn exec(
        &self,
        command: &RemoteCommand,
        stdin: Stdin<'_>,
    ) -> Result<CommandOutput, TransportError> {
        self.live().await?.exec(command, stdin).await
    }

    async fn open_tcp(&self, addr: &str, port: u16) -> Result<Box<dyn NodeStream>, TransportError> {
        self.live().await?.open_tcp(addr, port).await
    }

    async fn close(&self) {
        self.current.read().await.close().await;
    }

    async fn reset(&self) {
        let current = self.current.write().await;
        self.was_reset.store(true, Ordering::Relaxed);
        *self.gave_up.lock().unwrap_or_else(|p| p.into_inner()) = None;
        current.close().await;
    }

    fn take_notices(&self) -> Vec<String> {
        let mut out: Vec<String> =
            std::mem::take(&mut *self.notices.lock().unwrap_or_else(|p| p.into_inner()));
        if let Ok(c) = self.current.try_read() {
            out.extend(c.take_notices());
        }
        out
    }
}
