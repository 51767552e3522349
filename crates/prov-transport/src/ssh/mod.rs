//! The SSH transport: one persistent, authenticated russh connection per host.
//!
//! * [`SshParams`] says how to reach a host (address, user, keys, agent, known_hosts files,
//!   [`HostKeyPolicy`], timeouts, an optional `ProxyJump` bastion);
//!   [`SshParams::from_ssh_config`] reads them from an OpenSSH client config.
//! * [`SshConnection::connect`] opens the connection once per run, verifies the host key against
//!   known_hosts (hashed entries included) and authenticates with identity files (ed25519, ECDSA,
//!   RSA with rsa-sha2-512/256) or ssh-agent keys.
//! * [`SshConnection`] implements [`prov_core::Connection`]: every command is an `exec` channel
//!   on that connection (become prefix and stdin streamed, stdout/stderr/status kept apart, the
//!   command's timeout honoured); `open_tcp` is a `direct-tcpip` channel.
//!
//! Every connect, authentication or host key failure and every dropped connection surfaces as
//! [`prov_core::TransportError::Unreachable`] naming the host. Nothing is printed: notes such as
//! an unverified host key accepted with the policy off are returned by
//! [`SshConnection::warnings`].

mod auth;
mod client_config;
mod handler;
mod host_keys;
mod params;
mod session;
mod shell;

pub use client_config::SshConfigError;
pub use params::{HostKeyPolicy, SshParams, default_known_hosts_files};
pub use session::SshConnection;
