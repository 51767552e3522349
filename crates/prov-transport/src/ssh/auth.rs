//! Public key authentication: identity files first, then the keys of an ssh-agent.
//!
//! RSA keys sign with the best hash the server announces in `server-sig-algs`
//! (rsa-sha2-512, then rsa-sha2-256, legacy ssh-rsa only for servers that announce nothing).

use std::sync::Arc;

use russh::client::{AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::HashAlg;
use russh::keys::{PrivateKeyWithHashAlg, load_secret_key};

use super::handler::ClientHandler;
use super::host_keys::fingerprint;
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

/// Authenticates `handle` as `p.user`, trying identity files, then agent keys.
pub(crate) async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    p: &SshParams,
) -> Result<(), AuthError> {
    let mut tried: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut rsa = RsaHash(None);

    let (files, explicit) = p.effective_identity_files();
    for file in &files {
        let shown = file.display().to_string();
        let key = match load_secret_key(file, p.key_passphrase.as_deref()) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                skipped.push(format!("{shown} (encrypted, no passphrase given)"));
                continue;
            }
            Err(russh::keys::Error::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                if explicit {
                    skipped.push(format!("{shown} (not found)"));
                }
                continue;
            }
            Err(e) => {
                skipped.push(format!("{shown} ({e})"));
                continue;
            }
        };
        let hash = if key.algorithm().is_rsa() {
            rsa.get(handle).await
        } else {
            None
        };
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        match handle.authenticate_publickey(p.user.clone(), key).await {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => tried.push(format!("{shown} (refused)")),
            Err(e) => return Err(AuthError::Lost(e.to_string())),
        }
    }

    if p.use_agent {
        let socket = p
            .agent_socket
            .clone()
            .or_else(|| std::env::var_os("SSH_AUTH_SOCK").map(Into::into))
            .filter(|s: &std::path::PathBuf| !s.as_os_str().is_empty());
        match socket {
            None => {}
            Some(sock) => match AgentClient::connect_uds(&sock).await {
                Err(e) => skipped.push(format!("ssh-agent at {} ({e})", sock.display())),
                Ok(mut agent) => match agent.request_identities().await {
                    Err(e) => skipped.push(format!("ssh-agent at {} ({e})", sock.display())),
                    Ok(ids) => {
                        for id in ids {
                            let AgentIdentity::PublicKey { key, .. } = id else {
                                continue;
                            };
                            let shown =
                                format!("agent key {} {}", key.algorithm(), fingerprint(&key));
                            let hash = if key.algorithm().is_rsa() {
                                rsa.get(handle).await
                            } else {
                                None
                            };
                            match handle
                                .authenticate_publickey_with(p.user.clone(), key, hash, &mut agent)
                                .await
                            {
                                Ok(AuthResult::Success) => return Ok(()),
                                Ok(AuthResult::Failure { .. }) => {
                                    tried.push(format!("{shown} (refused)"))
                                }
                                Err(russh::AgentAuthError::Send(_)) => {
                                    return Err(AuthError::Lost(
                                        "connection closed during authentication".into(),
                                    ));
                                }
                                Err(e) => {
                                    tried.push(format!("{shown} (agent failed to sign: {e})"))
                                }
                            }
                        }
                    }
                },
            },
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
