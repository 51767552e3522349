//! The russh client handler: host key verification and disconnect bookkeeping.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use russh::client::{self, DisconnectReason};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::PublicKey;

use super::host_keys::{self, Verdict, fingerprint};
use super::params::{HostKeyPolicy, SshParams};

/// State the handler shares with the connection that owns it.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Notes for the engine (host key accepted without checking, key recorded).
    pub(crate) warnings: Mutex<Vec<String>>,
    /// Why the connection ended, once it has.
    pub(crate) disconnect: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn warn(&self, w: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    pub(crate) fn disconnect_reason(&self) -> Option<String> {
        self.disconnect
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Why the russh session failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    /// A protocol or I/O failure inside russh.
    #[error("{0}")]
    Ssh(#[from] russh::Error),
    /// The host key was rejected.
    #[error("{0}")]
    HostKey(String),
}

/// The russh client handler of one connection.
pub(crate) struct ClientHandler {
    display: String,
    names: Vec<String>,
    port: u16,
    files: Vec<PathBuf>,
    policy: HostKeyPolicy,
    shared: Arc<Shared>,
}

/// The names a host's key is looked up under: the address, then the inventory name.
pub(crate) fn lookup_names(p: &SshParams) -> Vec<String> {
    let mut names = vec![p.address.clone()];
    if p.host != p.address && !p.host.is_empty() {
        names.push(p.host.clone());
    }
    names
}

impl ClientHandler {
    pub(crate) fn new(p: &SshParams, shared: Arc<Shared>) -> Self {
        Self {
            display: p.display_name(),
            names: lookup_names(p),
            port: p.port,
            files: p.known_hosts_files.clone(),
            policy: p.host_key_policy,
            shared,
        }
    }

    fn check_key(&self, key: &PublicKey) -> Result<(), String> {
        let offered = format!("{} {}", key.algorithm(), fingerprint(key));
        let files = self
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match host_keys::verify(&self.files, &self.names, self.port, key) {
            Verdict::Known => Ok(()),
            Verdict::Revoked { location } => Err(format!(
                "host key {offered} of {} is marked @revoked ({location})",
                self.display
            )),
            Verdict::Changed { known } => {
                let msg = format!(
                    "host key for {} has CHANGED (possible man-in-the-middle attack): server offered {offered}, known_hosts has {}",
                    self.display,
                    known.join(", ")
                );
                if self.policy == HostKeyPolicy::Off {
                    self.shared
                        .warn(format!("host key checking is off, accepting anyway: {msg}"));
                    Ok(())
                } else {
                    Err(format!(
                        "{msg}; if the change is expected, remove the old entry (ssh-keygen -R {})",
                        host_keys::lookup_name(&self.names[0], self.port)
                    ))
                }
            }
            Verdict::OtherTypesKnown { known } => {
                let msg = format!(
                    "host key {offered} of {} is not in known_hosts, which records other key types for it: {}",
                    self.display,
                    known.join(", ")
                );
                if self.policy == HostKeyPolicy::Off {
                    self.shared
                        .warn(format!("host key checking is off, accepting anyway: {msg}"));
                    Ok(())
                } else {
                    Err(msg)
                }
            }
            Verdict::Unknown => match self.policy {
                HostKeyPolicy::Strict => Err(format!(
                    "host key {offered} of {} is not known (checked: {files}); add it to known_hosts or use the accept-new host key policy",
                    self.display
                )),
                HostKeyPolicy::AcceptNew => {
                    let Some(file) = self.files.first() else {
                        return Err(format!(
                            "host key {offered} of {} is not known and there is no known_hosts file to record it in",
                            self.display
                        ));
                    };
                    host_keys::record(file, &self.names[0], self.port, key).map_err(|e| {
                        format!(
                            "cannot record host key of {} in {}: {e}",
                            self.display,
                            file.display()
                        )
                    })?;
                    self.shared.warn(format!(
                        "recorded new host key {offered} for {} in {}",
                        self.display,
                        file.display()
                    ));
                    Ok(())
                }
                HostKeyPolicy::Off => {
                    self.shared.warn(format!(
                        "host key checking is off: accepted unverified host key {offered} of {}",
                        self.display
                    ));
                    Ok(())
                }
            },
        }
    }
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                self.check_key(key).map_err(HandlerError::HostKey)?;
                Ok(true)
            }
            PublicKeyOrCertificate::Certificate(_) => Err(HandlerError::HostKey(format!(
                "{} presented a host certificate, which prov does not verify",
                self.display
            ))),
        }
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                format!(
                    "server disconnected: {:?} {}",
                    info.reason_code, info.message
                )
            }
            DisconnectReason::Error(e) => e.to_string(),
        };
        *self
            .shared
            .disconnect
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(text);
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }
}
