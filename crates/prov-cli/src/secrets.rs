//! Vault integration for runs: decrypts `!vault` values and encrypted files with the passwords
//! from the command line, and registers every plaintext for redaction.

use std::path::Path;
use std::sync::Arc;

use prov_core::Redactor;
use prov_engine::EngineError;
use prov_engine::yaml::SecretResolver;
use prov_vault::VaultPasswords;

/// Decrypts vault data found while loading inventories, playbooks and vars files.
pub struct VaultSecrets {
    passwords: VaultPasswords,
    redactor: Arc<Redactor>,
}

impl VaultSecrets {
    /// A resolver with these passwords, registering plaintexts in `redactor`.
    pub fn new(passwords: VaultPasswords, redactor: Arc<Redactor>) -> Self {
        Self {
            passwords,
            redactor,
        }
    }
}

impl SecretResolver for VaultSecrets {
    fn is_encrypted(&self, text: &str) -> bool {
        prov_vault::is_vault_text(text)
    }

    fn decrypt(&self, text: &str, file: &Path) -> Result<String, EngineError> {
        if self.passwords.is_empty() {
            return prov_engine::yaml::NoSecrets.decrypt(text, file);
        }
        let plain = prov_vault::decrypt_from(text, &self.passwords, &file.display().to_string())
            .map_err(|e| EngineError::Vault {
                file: file.to_path_buf(),
                message: e.to_string(),
            })?;
        let s = String::from_utf8(plain.to_vec()).map_err(|_| EngineError::Vault {
            file: file.to_path_buf(),
            message: "decrypted data is not UTF-8 text".into(),
        })?;
        // A whole encrypted file is YAML; mask each scalar value of it, and the inline value itself.
        if prov_vault::is_vault_text(text) && s.contains('\n') {
            for line in s.lines() {
                if let Some((_, v)) = line.split_once(':') {
                    let v = v.trim().trim_matches('"').trim_matches('\'');
                    if v.len() >= 4 {
                        self.redactor.add(v);
                    }
                }
            }
        }
        self.redactor.add(&s);
        Ok(s)
    }
}
