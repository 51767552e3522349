//! Questions asked on the terminal: the become password (`--ask-become-pass`) and passphrases
//! of encrypted SSH keys. Never asked in CI (`CI` set) or without a terminal on stdin.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use indicatif::ProgressBar;
use prov_core::Redactor;
use prov_transport::ssh::PassphrasePrompt;
use zeroize::Zeroizing;

/// The environment variable holding the passphrase of encrypted SSH keys.
pub const KEY_PASSPHRASE_ENV: &str = "PROV_SSH_KEY_PASSPHRASE";

/// True when a person can be asked: stdin is a terminal and this is not CI.
fn can_ask() -> bool {
    std::env::var_os("CI").is_none() && std::io::stdin().is_terminal()
}

/// Prompts for the become password.
pub fn ask_become_password() -> anyhow::Result<String> {
    if !can_ask() {
        anyhow::bail!(
            "--ask-become-pass needs a terminal: in CI set `ansible_become_password` in a vault-encrypted vars file (or -e @file)"
        );
    }
    Ok(rpassword::prompt_password("BECOME password: ")?)
}

/// The passphrase from [`KEY_PASSPHRASE_ENV`], registered for redaction.
pub fn key_passphrase_from_env(redactor: &Redactor) -> Option<Zeroizing<String>> {
    let p = std::env::var(KEY_PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())?;
    redactor.add(&p);
    Some(Zeroizing::new(p))
}

/// Asks for key passphrases on the terminal, pausing the progress display meanwhile; every
/// answer is registered for redaction.
pub struct TerminalKeyPrompt {
    progress: Option<ProgressBar>,
    redactor: Arc<Redactor>,
}

impl TerminalKeyPrompt {
    /// A prompt when a person can be asked, else `None`.
    pub fn when_interactive(
        progress: Option<ProgressBar>,
        redactor: Arc<Redactor>,
    ) -> Option<Arc<dyn PassphrasePrompt>> {
        can_ask().then(|| Arc::new(Self { progress, redactor }) as Arc<dyn PassphrasePrompt>)
    }
}

impl PassphrasePrompt for TerminalKeyPrompt {
    fn ask(&self, key_file: &Path, attempt: u32) -> Option<Zeroizing<String>> {
        let question = if attempt == 1 {
            format!("Enter passphrase for key '{}': ", key_file.display())
        } else {
            format!(
                "Wrong passphrase; try again for key '{}': ",
                key_file.display()
            )
        };
        let ask = || {
            rpassword::prompt_password(&question)
                .ok()
                .map(Zeroizing::new)
        };
        let answer = match &self.progress {
            Some(bar) => bar.suspend(ask),
            None => ask(),
        }?;
        if !answer.is_empty() {
            self.redactor.add(&answer);
        }
        Some(answer)
    }
}
