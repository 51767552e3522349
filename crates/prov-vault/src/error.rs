//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading passwords, encrypting, decrypting or running the
/// vault CLI. Messages name the file (or other origin) concerned and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No configured secret could decrypt the data (wrong password, or HMAC mismatch).
    #[error("Decryption failed (no vault secret matched) for {origin}")]
    NoMatchingSecret {
        /// The file or value that was being decrypted.
        origin: String,
    },
    /// The vault envelope or payload is malformed or truncated.
    #[error("Malformed vault data in {origin}: {reason}")]
    Malformed {
        /// The file or value that was being decrypted.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The text does not start with `$ANSIBLE_VAULT`.
    #[error("{origin} is not vault encrypted data (no $ANSIBLE_VAULT header)")]
    NotEncrypted {
        /// The file or value concerned.
        origin: String,
    },
    /// The input of an encryption is already vault encrypted.
    #[error("{origin} is already vault encrypted")]
    AlreadyEncrypted {
        /// The file or value concerned.
        origin: String,
    },
    /// The header names a cipher other than AES256.
    #[error("Unsupported vault cipher {cipher:?} in {origin} (only AES256 is supported)")]
    UnsupportedCipher {
        /// The file or value concerned.
        origin: String,
        /// The cipher named in the header.
        cipher: String,
    },
    /// Decryption was attempted without any secret.
    #[error("No vault secrets available to decrypt {origin}")]
    NoSecrets {
        /// The file or value concerned.
        origin: String,
    },
    /// No password source was given and none could be prompted for.
    #[error(
        "A vault password is required{purpose} but none was given and {why}: pass \
         --vault-password-file FILE or --vault-id LABEL@FILE, or set PROV_VAULT_PASSWORD_FILE"
    )]
    PasswordRequired {
        /// Extra words about what the password is for (may be empty).
        purpose: String,
        /// Why no prompt was possible.
        why: String,
    },
    /// The new password for `rekey` was not given and cannot be prompted for.
    #[error(
        "A new vault password is required for rekey but none was given and {why}: pass \
         --new-vault-password-file FILE or --new-vault-id LABEL@FILE"
    )]
    NewPasswordRequired {
        /// Why no prompt was possible.
        why: String,
    },
    /// A password file, script or prompt gave an unusable password.
    #[error("Invalid vault password source {source_name}: {reason}")]
    PasswordSource {
        /// The file, script or prompt concerned.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--vault-id` value is not valid.
    #[error("Invalid vault id {id:?}: {reason}")]
    InvalidVaultId {
        /// The offending value.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The secret to encrypt with is ambiguous or missing.
    #[error("{0}")]
    EncryptSecret(String),
    /// Wrong use of the command line (conflicting or missing arguments).
    #[error("{0}")]
    Usage(String),
    /// The editor could not be started or failed.
    #[error("Editor {editor:?} failed: {reason}")]
    Editor {
        /// The editor command line.
        editor: String,
        /// What happened.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("Unable to read", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("Unable to get random bytes for the vault salt: {0}")]
    Random(String),
}

impl VaultError {
    /// Builds an [`VaultError::Io`] for `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        VaultError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Builds a [`VaultError::Malformed`].
    pub(crate) fn malformed(origin: &str, reason: impl Into<String>) -> Self {
        VaultError::Malformed {
            origin: origin.to_string(),
            reason: reason.into(),
        }
    }
}
