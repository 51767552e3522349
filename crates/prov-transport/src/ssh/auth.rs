//! Public key authentication: identity files first, then the keys of an ssh-agent. Both are
//! gathered ([`Credentials::gather`]) before the connection is opened.
//!
//! RSA keys sign with the best hash the server announces in `server-sig-algs`
//! (rsa-sha2-512, then rsa-sha2-256, legacy ssh-rsa only for servers that announce nothing).

use std::sync::Arc;

use russh::client::{AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::HashAlg;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey};

use super::handler::ClientHandler;
use super::host_keys::fingerprint;
use super::identity::KeySkip;
use super::params::SshParams;

/// Why authentication failed.
#[derive(Debug)]
pub(crate) enum AuthError {
    /// Every key was tried and refused (the text lists what was tried and skipped).
    Refused(String),
    /// The connection broke while authenticating.
    Lost(String),
}

/// Lazily asked: the RSA signature hash the server prefers.
struct RsaHash(Option<Option<HashAlg>>);

impl RsaHash {
    async fn get(&mut self, handle: &Handle<ClientHandler>) -> Option<HashAlg> {
        if let Some(h) = self.0 {
            return h;
        }
        let h = match handle.best_supported_rsa_hash().await {
            Ok(Some(h)) => h,
            // The server announced nothing: only legacy ssh-rsa is sure to work.
            Ok(None) | Err(_) => None,
        };
        self.0 = Some(h);
        h
    }
}

/// An ssh-agent and the public keys it offers.
pub(crate) struct Agent {
    client: AgentClient<tokio::net::UnixStream>,
    keys: Vec<PublicKey>,
}

/// What to offer a server, gathered before connecting: a passphrase prompt must not eat into
/// the connect timeout.
pub(crate) struct Credentials {
    /// Identity files loaded, with the name shown in messages.
    keys: Vec<(String, Arc<PrivateKey>)>,
    agent: Option<Agent>,
    /// Sources not used, and why (for the failure message).
    skipped: Vec<String>,
}

impl Credentials {
    /// Connects to the agent (when `p.use_agent`) and loads the identity files through
    /// `p.keys` (decrypting, prompting, caching).
    pub(crate) async fn gather(p: &SshParams) -> Credentials {
        let mut skipped = Vec::new();
        let mut agent = None;
        if p.use_agent {
            let socket = p
                .agent_socket
                .clone()
                .or_else(|| std::env::var_os("SSH_AUTH_SOCK").map(Into::into))
                .filter(|s: &std::path::PathBuf| !s.as_os_str().is_empty());
            if let Some(sock) = socket {
                let ask = async {
                    let mut client = AgentClient::connect_uds(&sock).await?;
                    let ids = client.request_identities().await?;
                    Ok::<_, russh::keys::Error>((client, ids))
                };
                // A hung agent must not hang the run: it gets the connect timeout.
                let connected = match tokio::time::timeout(p.connect_timeout, ask).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer within {:?}", p.connect_timeout)),
                };
                match connected {
                    Ok((client, ids)) => {
                        let keys = ids
                            .into_iter()
                            .filter_map(|id| match id {
                                AgentIdentity::PublicKey { key, .. } => Some(key),
                                _ => None,
                            })
                            .collect();
                        agent = Some(Agent { client, keys });
                    }
                    Err(e) => skipped.push(format!("ssh-agent at {} ({e})", sock.display())),
                }
            }
        }
        let agent_keys = agent.as_ref().map_or(&[][..], |a| &a.keys[..]);
        let (files, explicit) = p.effective_identity_files();
        let mut keys = Vec::new();
        for file in &files {
            let shown = file.display().to_string();
            match p
                .keys
                .load(file, p.key_passphrase.as_deref(), agent_keys)
                .await
            {
                Ok(k) => keys.push((shown, k)),
                Err(KeySkip::NotFound) if explicit => skipped.push(format!("{shown} (not found)")),
                Err(KeySkip::NotFound | KeySkip::InAgent) => {}
                Err(KeySkip::Unusable(why)) => skipped.push(format!("{shown} ({why})")),
            }
        }
        Credentials {
            keys,
            agent,
            skipped,
        }
    }
}

/// Authenticates `handle` as `p.user`, trying identity files, then agent keys.
pub(crate) async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    p: &SshParams,
    creds: Credentials,
) -> Result<(), AuthError> {
    let mut tried: Vec<String> = Vec::new();
    let Credentials {
        keys,
        agent,
        skipped,
    } = creds;
    let mut rsa = RsaHash(None);

    for (shown, key) in keys {
        let hash = if key.algorithm().is_rsa() {
            rsa.get(handle).await
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(key, hash);
        match handle.authenticate_publickey(p.user.clone(), key).await {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => tried.push(format!("{shown} (refused)")),
            Err(e) => return Err(AuthError::Lost(e.to_string())),
        }
    }

    if let Some(Agent { mut client, keys }) = agent {
        for key in keys {
            let shown = format!("agent key {} {}", key.algorithm(), fingerprint(&key));
            let hash = if key.algorithm().is_rsa() {
                rsa.get(handle).await
            } else {
                None
            };
            match handle
                .authenticate_publickey_with(p.user.clone(), key, hash, &mut client)
                .await
            {
                Ok(AuthResult::Success) => return Ok(()),
                Ok(AuthResult::Failure { .. }) => tried.push(format!("{shown} (refused)")),
                Err(russh::AgentAuthError::Send(_)) => {
                    return Err(AuthError::Lost(
                        "connection closed during authentication".into(),
                    ));
                }
                Err(e) => tried.push(format!("{shown} (agent failed to sign: {e})")),
            }
        }
    }

    let mut msg = format!("authentication failed for user '{}'", p.user);
    if tried.is_empty() && skipped.is_empty() {
        msg.push_str(": no identity file and no ssh-agent key to try");
    }
    if !tried.is_empty() {
        msg.push_str(&format!("; tried: {}", tried.join(", ")));
    }
    if !skipped.is_empty() {
        msg.push_str(&format!("; skipped: {}", skipped.join(", ")));
    }
    Err(AuthError::Refused(msg))
}
