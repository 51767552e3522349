//! How to reach one host over SSH: [`SshParams`] and [`HostKeyPolicy`].

use std::path::PathBuf;
use std::time::Duration;

use super::identity::KeyRing;

/// What to do with a host key that `known_hosts` does not vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Only keys recorded in a known_hosts file are accepted (OpenSSH
    /// `StrictHostKeyChecking yes`).
    #[default]
    Strict,
    /// An unknown host's key is recorded in the first known_hosts file and accepted; a changed key
    /// is still rejected (OpenSSH `StrictHostKeyChecking accept-new`).
    AcceptNew,
    /// Every key is accepted; the connection carries a warning (OpenSSH
    /// `StrictHostKeyChecking no`, without the recording). A changed key is accepted too.
    Off,
}

/// Everything needed to open an authenticated SSH connection to one host.
///
/// Build one with [`SshParams::new`] (defaults as OpenSSH: port 22, the local user name, the
/// default identity files, the agent, `~/.ssh/known_hosts` and `/etc/ssh/ssh_known_hosts`) and
/// adjust the public fields, or read an OpenSSH client config with
/// [`SshParams::from_ssh_config`](crate::ssh::SshParams::from_ssh_config).
#[derive(Clone, PartialEq, Eq)]
pub struct SshParams {
    /// The inventory name of the host (used in messages and as a fallback known_hosts name).
    pub host: String,
    /// The address to connect to (DNS name or IP); known_hosts entries are looked up under it.
    pub address: String,
    /// TCP port of sshd.
    pub port: u16,
    /// Remote user to log in as.
    pub user: String,
    /// Private key files to try, in order. When empty, the OpenSSH defaults that exist
    /// (`~/.ssh/id_ed25519`, `~/.ssh/id_ecdsa`, `~/.ssh/id_rsa`) are tried.
    pub identity_files: Vec<PathBuf>,
    /// Passphrase for encrypted identity files (this host's; tried before `keys`' own).
    pub key_passphrase: Option<String>,
    /// Where identity files are loaded, decrypted and cached: share one ring among the hosts
    /// of a run so each file is read (and its passphrase asked) once.
    pub keys: KeyRing,
    /// Try the keys held by an ssh-agent (after the identity files).
    pub use_agent: bool,
    /// Agent socket; `None` means `$SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// known_hosts files to check, in order; [`HostKeyPolicy::AcceptNew`] records new keys in
    /// the first one.
    pub known_hosts_files: Vec<PathBuf>,
    /// What to do with unknown host keys.
    pub host_key_policy: HostKeyPolicy,
    /// Limit for TCP connect, key exchange and authentication together (per hop).
    pub connect_timeout: Duration,
    /// Send a keepalive after this long without traffic from the server; after 3 unanswered
    /// ones the connection counts as dropped. `None` disables keepalives. The default (5 s)
    /// notices a host that vanished mid-run within about 15 s, so it is reported unreachable
    /// instead of hanging a task.
    pub keepalive_interval: Option<Duration>,
    /// Reach the host through this bastion (OpenSSH `ProxyJump`): connect to it, open a
    /// direct-tcpip channel to `address:port` and run this host's SSH session over it.
    pub proxy_jump: Option<Box<SshParams>>,
    /// How many command channels may be open at once on the connection (sshd's `MaxSessions`,
    /// 10 by default); further commands wait for a free slot.
    pub max_sessions: usize,
    /// How many persistent remote shells may run commands without input (one round trip and
    /// no sshd session setup per command; see the `shell` notes in the module docs). They
    /// count against `max_sessions`; 0 runs every command on its own exec channel.
    pub shell_workers: usize,
}

impl std::fmt::Debug for SshParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshParams")
            .field("host", &self.host)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("identity_files", &self.identity_files)
            .field(
                "key_passphrase",
                &self.key_passphrase.as_ref().map(|_| "********"),
            )
            .field("keys", &self.keys)
            .field("use_agent", &self.use_agent)
            .field("agent_socket", &self.agent_socket)
            .field("known_hosts_files", &self.known_hosts_files)
            .field("host_key_policy", &self.host_key_policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("proxy_jump", &self.proxy_jump)
            .field("max_sessions", &self.max_sessions)
            .field("shell_workers", &self.shell_workers)
            .finish()
    }
}

/// The user's home directory (`$HOME`).
pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The local user name (`$USER`, `$LOGNAME`, else `root` when running as uid 0).
pub(crate) fn local_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    "root".to_owned()
}

/// `~/.ssh/<name>`, when the home directory is known.
pub(crate) fn ssh_dir_file(name: &str) -> Option<PathBuf> {
    home_dir().map(|h| h.join(".ssh").join(name))
}

/// The default known_hosts files: `~/.ssh/known_hosts` then `/etc/ssh/ssh_known_hosts`.
pub fn default_known_hosts_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = ssh_dir_file("known_hosts") {
        v.push(p);
    }
    v.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
    v
}

impl SshParams {
    /// Parameters for inventory host `host` reached at `address`, with OpenSSH-like defaults.
    pub fn new(host: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            address: address.into(),
            port: 22,
            user: local_user(),
            identity_files: Vec::new(),
            key_passphrase: None,
            keys: KeyRing::default(),
            use_agent: true,
            agent_socket: None,
            known_hosts_files: default_known_hosts_files(),
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Some(Duration::from_secs(5)),
            proxy_jump: None,
            max_sessions: 10,
            shell_workers: 6,
        }
    }

    /// The same parameters with another port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same parameters with another remote user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// The same parameters with one more identity file.
    pub fn with_identity_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity_files.push(path.into());
        self
    }

    /// The same parameters with one more known_hosts file (checked after the others).
    pub fn with_known_hosts_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts_files.push(path.into());
        self
    }

    /// The same parameters with another host key policy.
    pub fn with_host_key_policy(mut self, policy: HostKeyPolicy) -> Self {
        self.host_key_policy = policy;
        self
    }

    /// The same parameters reached through the bastion `jump`.
    pub fn with_proxy_jump(mut self, jump: SshParams) -> Self {
        self.proxy_jump = Some(Box::new(jump));
        self
    }

    /// `host (address:port)`, or just `host` when it is the address, for messages.
    pub fn display_name(&self) -> String {
        if self.host == self.address && self.port == 22 {
            self.host.clone()
        } else {
            format!("{} ({}:{})", self.host, self.address, self.port)
        }
    }

    /// The identity files to try: the configured ones, or the OpenSSH defaults that exist.
    pub(crate) fn effective_identity_files(&self) -> (Vec<PathBuf>, bool) {
        if !self.identity_files.is_empty() {
            return (self.identity_files.clone(), true);
        }
        let defaults = ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .filter_map(|n| ssh_dir_file(n))
            .filter(|p| p.is_file())
            .collect();
        (defaults, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passphrase() {
        let mut p = SshParams::new("web1", "192.0.2.1");
        p.key_passphrase = Some("hunter2".into());
        let s = format!("{p:?}");
        assert!(!s.contains("hunter2"));
        assert!(s.contains("********"));
    }

    #[test]
    fn display_name_shows_address_when_different() {
        let p = SshParams::new("web1", "192.0.2.1").with_port(2222);
        assert_eq!(p.display_name(), "web1 (192.0.2.1:2222)");
        let q = SshParams::new("web1", "web1");
        assert_eq!(q.display_name(), "web1");
    }
}
