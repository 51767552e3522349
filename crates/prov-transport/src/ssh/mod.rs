//! The SSH transport: one persistent, authenticated russh connection per host.
//!
//! * [`SshParams`] says how to reach a host (address, user, keys, agent, known_hosts files,
//!   [`HostKeyPolicy`], timeouts, an optional `ProxyJump` bastion);
//!   [`SshParams::from_ssh_config`] reads them from an OpenSSH client config.
//! * [`SshConnection::connect`] opens the connection once per run, verifies the host key against
//!   known_hosts (hashed entries included) and authenticates with identity files (ed25519, ECDSA,
//!   RSA with rsa-sha2-512/256) or ssh-agent keys.
//! * [`KeyRing`] loads identity files for a whole run: each file is read and unlocked once
//!   (host passphrase, run passphrase, then a [`PassphrasePrompt`]), never two prompts at once,
//!   and always before the connect timeout starts.
//! * [`ReconnectingSsh`] is what the engine holds per host: an [`SshConnection`] that is opened
//!   again when found dropped between commands (with `ansible_ssh_retries` attempts).
//! * [`SshConnection`] implements [`prov_core::Connection`]: every command is an `exec` channel
//!   on that connection (become prefix and stdin streamed, stdout/stderr/status kept apart, the
//!   command's timeout honoured); `open_tcp` is a `direct-tcpip` channel.
//!
//! # Round trips and speed
//!
//! Connect + key exchange + public key authentication is a handful of round trips, done once
//! per host per run (about 30 ms to a lab host). After that a command costs:
//!
//! * on an **exec channel** (one per command): channel open (1 round trip), then the exec
//!   request, stdin and EOF are pipelined and the output, exit status and close come back
//!   (1 more), plus the sshd session setup on the host (fork, login shell) — 2.8 ms median
//!   for a no-op to a lab host; on hosts with slow session setup (NSS, PAM) 100 ms and more;
//! * on a **persistent shell worker** (see `shell.rs`): one `sh` per worker stays running and
//!   reads framed command lines; one round trip and no session setup — 0.7 ms median for a
//!   no-op to a lab host.
//!
//! Commands without input, and with small input ([`prov_core::Stdin::Bytes`] up to 256 KiB,
//! become password included), run on up to [`SshParams::shell_workers`] workers (6 by
//! default); streamed input ([`prov_core::Stdin::Reader`], file transfers) uses exec channels.
//! Measured with `examples/ssh_bench.rs` against lab hosts, 10 tasks sharing one connection:
//! about 600 no-op commands/s with exec channels only, about 1,500/s with workers.
//!
//! Every connect, authentication or host key failure and every dropped connection surfaces as
//! [`prov_core::TransportError::Unreachable`] naming the host. Nothing is printed: notes such as
//! an unverified host key accepted with the policy off are handed to the engine by
//! `Connection::take_notices`.

mod auth;
mod client_config;
mod handler;
mod host_keys;
mod identity;
mod params;
mod reconnect;
mod session;
mod shell;

pub use client_config::SshConfigError;
pub use identity::{KeyRing, PROMPT_ATTEMPTS, PassphrasePrompt};
pub use params::{HostKeyPolicy, SshParams, default_known_hosts_files};
pub use reconnect::ReconnectingSsh;
pub use session::SshConnection;
