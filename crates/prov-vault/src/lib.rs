//! Encrypted secrets compatible with Ansible Vault.
//!
//! prov reads and writes the exact format of `ansible-vault`, so a team's existing encrypted
//! files open in prov and files prov writes open in `ansible-vault`:
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256                 (no vault id)
//! $ANSIBLE_VAULT;1.2;AES256;VAULT_ID        (with a vault id)
//! 6231...  hex lines of 80 columns, trailing newline
//! ```
//!
//! The body is `hexlify(hexlify(salt) \n hexlify(hmac) \n hexlify(ciphertext))`; keys come from
//! PBKDF2-HMAC-SHA256 (10000 iterations, 32-byte random salt) giving an AES-256 key, an
//! HMAC-SHA256 key and the AES-CTR initial counter; the plaintext is PKCS#7 padded, encrypted
//! with AES-256-CTR and authenticated with HMAC-SHA256 (compared in constant time).
//!
//! # Library API
//!
//! * [`VaultSecret`]: a vault id with its password (zeroized on drop, redacted in `Debug`);
//!   [`VaultPasswords`]: an ordered set of them.
//! * [`is_vault_text`]: does a string start with `$ANSIBLE_VAULT`?
//! * [`decrypt`] / [`decrypt_from`] / [`decrypt_detailed`]: vault text to plaintext
//!   (`Zeroizing<Vec<u8>>`). The secret whose id the 1.2 header names (or `default` for 1.1) is
//!   tried first, then all others. Surrounding whitespace and per-line indentation are ignored,
//!   so the content of a YAML `!vault |` block scalar can be passed as the YAML parser delivers
//!   it. Errors name the origin: `Decryption failed (no vault secret matched) for FILE`,
//!   `Malformed vault data in FILE: WHAT`.
//! * [`encrypt`]: plaintext to vault text (1.2 header when a vault id other than `default` is
//!   given).
//! * [`encrypt_string`] / [`format_yaml_inline`]: the `NAME: !vault |` snippet of
//!   `ansible-vault encrypt_string`.
//! * Password sources: [`load_passwords`] (what the CLI flags mean: `--vault-id LABEL@SOURCE`,
//!   `--vault-password-file`, `PROV_VAULT_PASSWORD_FILE`, the terminal prompt only when stdin is
//!   a terminal and `CI` is unset), [`read_password_file`] (file or executable script),
//!   [`VaultIdSpec`], [`VaultEnv`].
//!
//! # Command line
//!
//! [`VaultCommand`] is a clap `Subcommand` (`create`, `edit`, `view`, `encrypt`, `decrypt`,
//! `rekey`, `encrypt-string`) with ansible-vault's flags; [`PasswordArgs`] holds the password
//! flags and can be flattened into other commands. Run one with [`run`] (explicit streams and
//! environment, [`VaultIo`]) or [`run_process`] (the process's own). See
//! `examples/vault.rs`.
//!
//! ```
//! use prov_vault::{VaultPasswords, VaultSecret, decrypt, encrypt, is_vault_text};
//!
//! let secret = VaultSecret::new("dev", "correct horse").unwrap();
//! let text = encrypt(b"db_password: s3cret\n", &secret, Some("dev")).unwrap();
//! assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"));
//! assert!(is_vault_text(&text));
//! let plain = decrypt(&text, &VaultPasswords::single(secret)).unwrap();
//! assert_eq!(plain.as_slice(), b"db_password: s3cret\n");
//! ```

mod cli;
mod error;
mod format;
mod secret;

pub use cli::{PasswordArgs, VaultCommand, VaultIo, run, run_process};
pub use error::VaultError;
pub use format::{
    CIPHER_AES256, Decrypted, LINE_WIDTH, PBKDF2_ITERATIONS, VAULT_HEADER, VaultHeader,
    YAML_INDENT, decrypt, decrypt_detailed, decrypt_from, encrypt, encrypt_string,
    encrypt_with_salt, format_yaml_inline, is_vault_text, parse_header,
};
pub use secret::{
    DEFAULT_VAULT_ID, PASSWORD_FILE_ENV, PasswordSource, PromptMode, VaultEnv, VaultIdSpec,
    VaultPasswords, VaultSecret, load_passwords, load_spec, prompt_password, read_password_file,
    validate_vault_id,
};

/// Decrypts the vault file at `path`, naming it in errors.
pub fn decrypt_file(
    path: &std::path::Path,
    passwords: &VaultPasswords,
) -> Result<zeroize::Zeroizing<Vec<u8>>, VaultError> {
    let data = std::fs::read(path).map_err(|e| VaultError::Io {
        action: "Unable to read source file",
        path: path.to_path_buf(),
        source: e,
    })?;
    let origin = path.display().to_string();
    let text = std::str::from_utf8(&data).map_err(|_| VaultError::NotEncrypted {
        origin: origin.clone(),
    })?;
    decrypt_from(text, passwords, &origin)
}
