//! Identity files for a whole run: [`KeyRing`] reads and decrypts each private key file once,
//! whatever the number of hosts that use it, and asks for a passphrase at most once per file.
//!
//! Passphrases for an encrypted key are tried in this order: the host's own
//! ([`SshParams::key_passphrase`](super::SshParams::key_passphrase), from an inventory
//! variable), the ring's ([`KeyRing::with_passphrase`], e.g. from `PROV_SSH_KEY_PASSPHRASE`),
//! then a [`PassphrasePrompt`] (a terminal prompt supplied by the command line), up to
//! [`PROMPT_ATTEMPTS`] times. Keys are loaded one at a time, so two hosts never prompt at once;
//! a key whose public half an ssh-agent already holds is left to the agent, without a prompt.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// How many times a [`PassphrasePrompt`] is asked before the key is given up.
pub const PROMPT_ATTEMPTS: u32 = 3;

/// Asks a person for the passphrase of an encrypted private key.
pub trait PassphrasePrompt: Send + Sync {
    /// Blocks until the person answers; `None` when there is nobody to ask or they decline (an
    /// empty answer). `attempt` starts at 1 and grows after each wrong passphrase.
    fn ask(&self, key_file: &Path, attempt: u32) -> Option<Zeroizing<String>>;
}

/// The private keys of a run, loaded on first use and shared by every connection (clones share
/// one cache). [`KeyRing::default`] has no passphrase and no prompt.
#[derive(Clone, Default)]
pub struct KeyRing {
    inner: Arc<RingInner>,
}

#[derive(Default)]
struct RingInner {
    passphrase: Option<Zeroizing<String>>,
    prompt: Option<Arc<dyn PassphrasePrompt>>,
    /// Loaded keys and keys given up on (prompt declined or every attempt wrong), by path.
    loaded: tokio::sync::Mutex<HashMap<PathBuf, Result<Arc<PrivateKey>, String>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "passphrase",
                &self.inner.passphrase.as_ref().map(|_| "********"),
            )
            .field("prompt", &self.inner.prompt.is_some())
            .finish()
    }
}

/// Rings are equal when they share one cache.
impl PartialEq for KeyRing {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for KeyRing {}

/// Why a key file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySkip {
    /// The file does not exist.
    NotFound,
    /// An ssh-agent holds this key: the agent signs, no passphrase needed.
    InAgent,
    /// Encrypted without a usable passphrase, unreadable or corrupt (the text says which).
    Unusable(String),
}

/// What the file at a path holds, before any passphrase.
enum KeyFile {
    Plain(Box<PrivateKey>),
    /// Encrypted: the text, and the public key when the file (or `FILE.pub`) shows it.
    Encrypted(Zeroizing<String>, Option<PublicKey>),
}

impl KeyRing {
    /// A ring with an optional passphrase for every encrypted key and an optional prompt.
    pub fn new(
        passphrase: Option<Zeroizing<String>>,
        prompt: Option<Arc<dyn PassphrasePrompt>>,
    ) -> Self {
        Self {
            inner: Arc::new(RingInner {
                passphrase,
                prompt,
                loaded: tokio::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The key in `path`, decrypted with `host_passphrase`, the ring's passphrase or the prompt.
    /// `agent_keys` are the public keys an ssh-agent offers: an encrypted key among them is
    /// skipped ([`KeySkip::InAgent`]) rather than prompted for.
    pub(crate) async fn load(
        &self,
        path: &Path,
        host_passphrase: Option<&str>,
        agent_keys: &[PublicKey],
    ) -> Result<Arc<PrivateKey>, KeySkip> {
        let mut loaded = self.inner.loaded.lock().await;
        // A key given up on at the prompt is not asked for again, but a host that brings its
        // own passphrase may still unlock it.
        let given_up = match loaded.get(path) {
            Some(Ok(k)) => return Ok(k.clone()),
            Some(Err(why)) if host_passphrase.is_none() => {
                return Err(KeySkip::Unusable(why.clone()));
            }
            Some(Err(why)) => Some(why.clone()),
            None => None,
        };
        let owned = path.to_path_buf();
        let file = tokio::task::spawn_blocking(move || read_key_file(&owned))
            .await
            .map_err(|e| KeySkip::Unusable(e.to_string()))??;
        let (text, public) = match file {
            KeyFile::Plain(k) => {
                let k = Arc::new(*k);
                loaded.insert(path.to_path_buf(), Ok(k.clone()));
                return Ok(k);
            }
            KeyFile::Encrypted(text, public) => (Arc::new(text), public),
        };
        if public
            .as_ref()
            .is_some_and(|p| agent_keys.iter().any(|a| a.key_data() == p.key_data()))
        {
            return Err(KeySkip::InAgent);
        }
        let given = [
            host_passphrase,
            self.inner.passphrase.as_deref().map(String::as_str),
        ];
        for passphrase in given.into_iter().flatten() {
            if let Some(k) = decrypt(&text, Zeroizing::new(passphrase.to_owned())).await {
                let k = Arc::new(k);
                loaded.insert(path.to_path_buf(), Ok(k.clone()));
                return Ok(k);
            }
        }
        if let Some(why) = given_up {
            return Err(KeySkip::Unusable(why));
        }
        let wrong_given = given.iter().any(Option::is_some);
        let Some(prompt) = self.inner.prompt.clone() else {
            // Not remembered: another host may bring its own passphrase.
            return Err(KeySkip::Unusable(if wrong_given {
                "encrypted, the passphrase given does not decrypt it".into()
            } else {
                "encrypted, no passphrase given: set PROV_SSH_KEY_PASSPHRASE, \
                 `ansible_ssh_private_key_passphrase`, or run on a terminal"
                    .into()
            }));
        };
        let outcome = ask_until_right(prompt, path, text).await;
        loaded.insert(path.to_path_buf(), outcome.clone());
        outcome.map_err(KeySkip::Unusable)
    }
}

/// Prompts up to [`PROMPT_ATTEMPTS`] times; the error says why the key was given up.
async fn ask_until_right(
    prompt: Arc<dyn PassphrasePrompt>,
    path: &Path,
    text: Arc<Zeroizing<String>>,
) -> Result<Arc<PrivateKey>, String> {
    for attempt in 1..=PROMPT_ATTEMPTS {
        let (p, owned) = (prompt.clone(), path.to_path_buf());
        let answer = tokio::task::spawn_blocking(move || p.ask(&owned, attempt))
            .await
            .map_err(|e| e.to_string())?;
        let Some(answer) = answer.filter(|a| !a.is_empty()) else {
            return Err("encrypted, no passphrase entered".into());
        };
        if let Some(k) = decrypt(&text, answer).await {
            return Ok(Arc::new(k));
        }
    }
    Err(format!(
        "encrypted, {PROMPT_ATTEMPTS} wrong passphrases entered"
    ))
}

/// Decrypts `text` with `passphrase` (off the async threads: OpenSSH's bcrypt KDF is slow on
/// purpose); `None` when the passphrase is wrong.
async fn decrypt(
    text: &Arc<Zeroizing<String>>,
    passphrase: Zeroizing<String>,
) -> Option<PrivateKey> {
    let text = text.clone();
    tokio::task::spawn_blocking(move || {
        russh::keys::decode_secret_key(&text, Some(&passphrase)).ok()
    })
    .await
    .ok()
    .flatten()
}

/// Reads `path`: a plain key, or an encrypted one with its public half when known.
fn read_key_file(path: &Path) -> Result<KeyFile, KeySkip> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(KeySkip::NotFound),
        Err(e) => return Err(KeySkip::Unusable(e.to_string())),
    };
    match russh::keys::decode_secret_key(&text, None) {
        Ok(k) => Ok(KeyFile::Plain(Box::new(k))),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            // The OpenSSH format keeps the public key in clear; PEM keys need FILE.pub.
            let public = russh::keys::ssh_key::PrivateKey::from_openssh(text.as_bytes())
                .ok()
                .map(|k| k.public_key().clone())
                .or_else(|| {
                    let mut pub_file = path.as_os_str().to_owned();
                    pub_file.push(".pub");
                    russh::keys::load_public_key(PathBuf::from(pub_file)).ok()
                });
            Ok(KeyFile::Encrypted(text, public))
        }
        Err(e) => Err(KeySkip::Unusable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Answers from a list and counts the questions.
    struct Scripted {
        answers: Mutex<Vec<&'static str>>,
        asked: AtomicU32,
    }

    impl PassphrasePrompt for Scripted {
        fn ask(&self, _key_file: &Path, _attempt: u32) -> Option<Zeroizing<String>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let mut a = self.answers.lock().unwrap();
            (!a.is_empty()).then(|| Zeroizing::new(a.remove(0).to_owned()))
        }
    }

    fn scripted(answers: &[&'static str]) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.to_vec()),
            asked: AtomicU32::new(0),
        })
    }

    /// Makes an ed25519 key with ssh-keygen, encrypted with `passphrase` (plain when empty).
    fn key_file(dir: &Path, passphrase: &str) -> (PathBuf, PublicKey) {
        let path = dir.join(format!("id_{}", passphrase.len()));
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-C", "test", "-N", passphrase, "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen (openssh-client) is installed");
        assert!(status.success());
        let public = russh::keys::load_public_key(path.with_extension("pub")).unwrap();
        (path, public)
    }

    #[tokio::test]
    async fn prompts_once_per_key_for_many_hosts_and_retries_wrong_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public) = key_file(dir.path(), "right one");
        let prompt = scripted(&["wrong", "right one"]);
        let ring = KeyRing::new(None, Some(prompt.clone()));
        let mut hosts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (ring, path) = (ring.clone(), path.clone());
            hosts.spawn(async move { ring.load(&path, None, &[]).await });
        }
        while let Some(k) = hosts.join_next().await {
            assert_eq!(
                k.unwrap().unwrap().public_key().key_data(),
                public.key_data()
            );
        }
        assert_eq!(prompt.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn passphrases_given_come_before_the_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = key_file(dir.path(), "ring's");
        let prompt = scripted(&[]);
        let ring = KeyRing::new(Some(Zeroizing::new("ring's".into())), Some(prompt.clone()));
        ring.load(&path, Some("host's wrong one"), &[])
            .await
            .unwrap();
        assert_eq!(prompt.asked.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn encrypted_key_without_passphrase_is_skipped_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = key_file(dir.path(), "secret");
        let ring = KeyRing::default();
        match ring.load(&path, None, &[]).await {
            Err(KeySkip::Unusable(why)) => {
                assert!(why.contains("PROV_SSH_KEY_PASSPHRASE"), "{why}")
            }
            other => panic!("unexpected: {other:?}"),
        }
        // The host's own passphrase still works afterwards.
        assert!(ring.load(&path, Some("secret"), &[]).await.is_ok());
    }

    #[tokio::test]
    async fn declined_prompt_is_remembered_and_agent_keys_are_not_prompted_for() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public) = key_file(dir.path(), "secret");
        let prompt = scripted(&[]);
        let ring = KeyRing::new(None, Some(prompt.clone()));
        assert_eq!(
            ring.load(&path, None, std::slice::from_ref(&public))
                .await
                .err(),
            Some(KeySkip::InAgent)
        );
        assert_eq!(prompt.asked.load(Ordering::SeqCst), 0);
        assert!(ring.load(&path, None, &[]).await.is_err());
        assert!(ring.load(&path, None, &[]).await.is_err());
        assert_eq!(prompt.asked.load(Ordering::SeqCst), 1);
        // A host with its own passphrase still unlocks it, without another question.
        assert!(ring.load(&path, Some("secret"), &[]).await.is_ok());
        assert!(ring.load(&path, None, &[]).await.is_ok());
        assert_eq!(prompt.asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn plain_and_missing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public) = key_file(dir.path(), "");
        let ring = KeyRing::default();
        let k = ring.load(&path, None, &[]).await.unwrap();
        assert_eq!(k.public_key().key_data(), public.key_data());
        assert_eq!(
            ring.load(&dir.path().join("nope"), None, &[]).await.err(),
            Some(KeySkip::NotFound)
        );
    }
}
