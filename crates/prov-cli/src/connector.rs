//! Opens connections for the engine: SSH (russh) by default, the local connection for
//! `connection: local` / `-c local`. Connection variables are read under prov's names and
//! Ansible's (`host`/`ansible_host`, `port`/`ansible_port`, `user`/`ansible_user`, ...).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prov_core::{Connection, TransportError};
use prov_engine::runner::Connector;
use prov_transport::ssh::{HostKeyPolicy, SshConnection, SshParams};
use prov_transport::LocalConnection;
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
}

fn var<'a>(vars: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| vars.get(*n).filter(|v| !v.is_null()))
}

fn var_str(vars: &Map<String, Value>, names: &[&str]) -> Option<String> {
    var(vars, names).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[async_trait]
impl Connector for CliConnector {
    async fn connect(&self, host: &str, vars: &Map<String, Value>) -> Result<Arc<dyn Connection>, TransportError> {
        let kind = var_str(vars, &["connection", "ansible_connection"]).unwrap_or_else(|| "ssh".into());
        if kind == "local" {
            return Ok(Arc::new(LocalConnection::new(host)));
        }
        if kind != "ssh" && kind != "smart" {
            return Err(TransportError::Unreachable(format!("{host}: unsupported connection type `{kind}` (prov has ssh and local)")));
        }
        let address = var_str(vars, &["host", "ansible_host", "ansible_ssh_host"]).unwrap_or_else(|| host.to_owned());
        // ~/.ssh/config (or -F FILE) first, as OpenSSH would; inventory variables win over it.
        let mut params = SshParams::from_ssh_config(host, self.ssh_config.as_deref())
            .map_err(|e| TransportError::Unreachable(format!("{host}: {e}")))?;
        if var(vars, &["host", "ansible_host", "ansible_ssh_host"]).is_some() {
            params.address = address;
        }
        if let Some(p) = var(vars, &["port", "ansible_port", "ansible_ssh_port"]) {
            let port = p.as_u64().or_else(|| p.as_str().and_then(|s| s.parse().ok()));
            match port.and_then(|p| u16::try_from(p).ok()) {
                Some(p) => params.port = p,
                None => return Err(TransportError::Unreachable(format!("{host}: bad port {p}"))),
            }
        }
        if let Some(u) = var_str(vars, &["user", "ansible_user", "ansible_ssh_user"]).or_else(|| self.user.clone()) {
            params.user = u;
        }
        if let Some(k) = var_str(vars, &["ssh_private_key_file", "ansible_ssh_private_key_file", "ansible_private_key_file"]) {
            params.identity_files.insert(0, PathBuf::from(k));
        }
        if let Some(k) = &self.private_key {
            params.identity_files.insert(0, k.clone());
        }
        if let Some(k) = var_str(vars, &["known_hosts_file", "prov_known_hosts_file"]) {
            params.known_hosts_files.push(PathBuf::from(k));
        }
        if let Some(k) = &self.known_hosts {
            params.known_hosts_files.push(k.clone());
        }
        if let Some(p) = var_str(vars, &["ssh_key_passphrase", "ansible_ssh_private_key_passphrase"]) {
            params.key_passphrase = Some(p);
        }
        params.host_key_policy = match self.host_key_checking {
            HostKeyChecking::Strict => HostKeyPolicy::Strict,
            HostKeyChecking::AcceptNew => HostKeyPolicy::AcceptNew,
            HostKeyChecking::Off => HostKeyPolicy::Off,
        };
        params.connect_timeout = self.connect_timeout;
        let conn = SshConnection::connect(&params).await?;
        Ok(Arc::new(conn))
    }
}
