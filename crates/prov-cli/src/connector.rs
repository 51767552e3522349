//! Opens connections for the engine: SSH (russh) by default, the local connection for
//! `connection: local` / `-c local`. Connection variables are read under prov's names and
//! Ansible's (`host`/`ansible_host`, `port`/`ansible_port`, `user`/`ansible_user`, ...).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prov_core::{Connection, TransportError};
use prov_engine::inventory::{ConnectionKind, HostConnection};
use prov_engine::runner::Connector;
use prov_transport::LocalConnection;
use prov_transport::ssh::{HostKeyPolicy, KeyRing, ReconnectingSsh, SshParams};
use serde_json::{Map, Value};

use crate::cli::HostKeyChecking;

/// Command-line defaults for connections.
#[derive(Debug, Clone)]
pub struct CliConnector {
    /// `-u`.
    pub user: Option<String>,
    /// `--private-key`.
    pub private_key: Option<PathBuf>,
    /// `-F`.
    pub ssh_config: Option<PathBuf>,
    /// `--known-hosts`.
    pub known_hosts: Option<PathBuf>,
    /// `--host-key-checking`.
    pub host_key_checking: HostKeyChecking,
    /// `--connect-timeout`.
    pub connect_timeout: Duration,
    /// `--ssh-retries`: extra connection attempts, unless a host sets `ansible_ssh_retries`.
    pub ssh_retries: u32,
    /// Identity files of the run, shared by every host (read and unlocked once).
    pub keys: KeyRing,
}

#[async_trait]
impl Connector for CliConnector {
    async fn connect(
        &self,
        host: &str,
        vars: &Map<String, Value>,
    ) -> Result<Arc<dyn Connection>, TransportError> {
        let hc = HostConnection::from_vars(host, vars).map_err(|e| {
            TransportError::Unreachable(format!("{host}: variable `{}`: {}", e.var, e.message))
        })?;
        if hc.connection == ConnectionKind::Local {
            return Ok(Arc::new(LocalConnection::new(host)));
        }
        // ~/.ssh/config (or -F FILE) first, as OpenSSH would; inventory variables win over it.
        let mut params = SshParams::from_ssh_config(host, self.ssh_config.as_deref())
            .map_err(|e| TransportError::Unreachable(format!("{host}: {e}")))?;
        if hc.address != host {
            params.address = hc.address.clone();
        }
        if let Some(p) = hc.port {
            params.port = p;
        }
        if let Some(u) = hc.user.clone().or_else(|| self.user.clone()) {
            params.user = u;
        }
        if let Some(k) = &hc.private_key_file {
            params.identity_files.insert(0, k.clone());
        }
        if let Some(k) = &self.private_key {
            params.identity_files.insert(0, k.clone());
        }
        // A known_hosts file named on the command line or in the inventory comes first: it is
        // checked first and accept-new records new keys there (as OpenSSH's
        // UserKnownHostsFile), not in ~/.ssh/known_hosts.
        if let Some(k) = &hc.known_hosts_file {
            params.known_hosts_files.insert(0, k.clone());
        }
        if let Some(k) = &self.known_hosts {
            params.known_hosts_files.insert(0, k.clone());
        }
        params.key_passphrase = hc.private_key_passphrase.clone();
        params.keys = self.keys.clone();
        params.host_key_policy = match self.host_key_checking {
            HostKeyChecking::Strict => HostKeyPolicy::Strict,
            HostKeyChecking::AcceptNew => HostKeyPolicy::AcceptNew,
            HostKeyChecking::Off => HostKeyPolicy::Off,
        };
        params.connect_timeout = self.connect_timeout;
        let retries = hc.ssh_retries.unwrap_or(self.ssh_retries);
        Ok(Arc::new(ReconnectingSsh::connect(params, retries).await?))
    }
}
