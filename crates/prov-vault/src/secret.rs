//! Vault secrets (id + password) and where passwords come from: password files, password
//! scripts, `--vault-id label@source`, `PROV_VAULT_PASSWORD_FILE` and the interactive prompt.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::VaultError;

/// The vault id of secrets given without a label (`--vault-password-file`, `--vault-id FILE`).
/// Data encrypted with it gets a `1.1` header.
pub const DEFAULT_VAULT_ID: &str = "default";

/// Environment variable naming a password file used when no password flag is given.
pub const PASSWORD_FILE_ENV: &str = "PROV_VAULT_PASSWORD_FILE";

/// Checks that `id` can stand in a vault header: not empty, no `;`, no control characters, no
/// surrounding whitespace.
pub fn validate_vault_id(id: &str) -> Result<(), VaultError> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.contains(';') {
        "the character ';' is not allowed in vault ids"
    } else if id.chars().any(char::is_control) {
        "control characters are not allowed in vault ids"
    } else if id.trim() != id {
        "leading or trailing whitespace is not allowed in vault ids"
    } else {
        return Ok(());
    };
    Err(VaultError::InvalidVaultId {
        id: id.to_string(),
        reason: reason.to_string(),
    })
}

/// One vault secret: a vault id and its password. The password is zeroized on drop and never
/// shown by `Debug`.
#[derive(Clone)]
pub struct VaultSecret {
    id: String,
    password: Zeroizing<Vec<u8>>,
}

impl VaultSecret {
    /// A secret for vault id `id`. Fails on an invalid id or an empty password.
    pub fn new(id: impl Into<String>, password: impl Into<Vec<u8>>) -> Result<Self, VaultError> {
        let id = id.into();
        validate_vault_id(&id)?;
        let password = Zeroizing::new(password.into());
        if password.is_empty() {
            return Err(VaultError::PasswordSource {
                source_name: format!("for vault id {id}"),
                reason: "the password is empty".into(),
            });
        }
        Ok(VaultSecret { id, password })
    }

    /// A secret with the `default` vault id.
    pub fn with_default_id(password: impl Into<Vec<u8>>) -> Result<Self, VaultError> {
        Self::new(DEFAULT_VAULT_ID, password)
    }

    /// Loads the password of vault id `id` from a password file or script (see
    /// [`read_password_file`]).
    pub fn from_file(id: impl Into<String>, path: &Path) -> Result<Self, VaultError> {
        let id = id.into();
        validate_vault_id(&id)?;
        let password = read_password_file(path, &id)?;
        Ok(VaultSecret { id, password })
    }

    /// The vault id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The password bytes.
    pub fn password(&self) -> &[u8] {
        &self.password
    }
}

impl fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSecret")
            .field("id", &self.id)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An ordered set of vault secrets. Decryption tries the secret named by a 1.2 header first,
/// then all others in this order; encryption picks one (see [`VaultPasswords::encrypt_secret`]).
#[derive(Clone, Debug, Default)]
pub struct VaultPasswords {
    secrets: Vec<VaultSecret>,
}

impl VaultPasswords {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding one secret.
    pub fn single(secret: VaultSecret) -> Self {
        VaultPasswords {
            secrets: vec![secret],
        }
    }

    /// Appends a secret (earlier secrets are preferred).
    pub fn push(&mut self, secret: VaultSecret) {
        self.secrets.push(secret);
    }

    /// The secrets in order.
    pub fn iter(&self) -> std::slice::Iter<'_, VaultSecret> {
        self.secrets.iter()
    }

    /// Number of secrets.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// True when there is no secret.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The first secret with vault id `id`.
    pub fn get(&self, id: &str) -> Option<&VaultSecret> {
        self.secrets.iter().find(|s| s.id == id)
    }

    /// The vault ids in order (may repeat).
    pub fn ids(&self) -> Vec<&str> {
        self.secrets.iter().map(|s| s.id.as_str()).collect()
    }

    /// The secret to encrypt with, as ansible-vault chooses it: the first one with
    /// `encrypt_vault_id` when given (an error if none has it), else the only one; several
    /// secrets without `encrypt_vault_id` are an error asking for `--encrypt-vault-id`.
    pub fn encrypt_secret(
        &self,
        encrypt_vault_id: Option<&str>,
    ) -> Result<&VaultSecret, VaultError> {
        if let Some(want) = encrypt_vault_id {
            return self.get(want).ok_or_else(|| {
                VaultError::EncryptSecret(format!(
                    "Did not find a match for --encrypt-vault-id={want} in the known vault-ids [{}]",
                    self.ids().join(", ")
                ))
            });
        }
        match self.secrets.as_slice() {
            [] => Err(VaultError::EncryptSecret(
                "A vault password is required to encrypt".into(),
            )),
            [one] => Ok(one),
            many => Err(VaultError::EncryptSecret(format!(
                "The vault-ids {} are available to encrypt. Specify the vault-id to encrypt with \
                 --encrypt-vault-id",
                many.iter()
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ))),
        }
    }
}

impl FromIterator<VaultSecret> for VaultPasswords {
    fn from_iter<I: IntoIterator<Item = VaultSecret>>(iter: I) -> Self {
        VaultPasswords {
            secrets: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a VaultPasswords {
    type Item = &'a VaultSecret;
    type IntoIter = std::slice::Iter<'a, VaultSecret>;
    fn into_iter(self) -> Self::IntoIter {
        self.secrets.iter()
    }
}

/// Where one password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// A password file (its whitespace-trimmed content, as Ansible reads it) or an executable
    /// script printing the password.
    File(PathBuf),
    /// The interactive prompt (`--vault-id label@prompt`).
    Prompt,
}

/// A parsed `--vault-id [LABEL@]SOURCE` value. Without `@` the whole value is the source and the
/// label is `default`; the source `prompt` means the interactive prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultIdSpec {
    /// The vault id.
    pub label: String,
    /// Where its password comes from.
    pub source: PasswordSource,
}

impl VaultIdSpec {
    /// Parses `LABEL@SOURCE` or `SOURCE`.
    pub fn parse(value: &str) -> Result<Self, VaultError> {
        let (label, source) = match value.split_once('@') {
            Some((label, source)) => (label, source),
            None => (DEFAULT_VAULT_ID, value),
        };
        let label = if label.is_empty() {
            DEFAULT_VAULT_ID
        } else {
            label
        };
        validate_vault_id(label)?;
        if source.is_empty() {
            return Err(VaultError::InvalidVaultId {
                id: value.to_string(),
                reason: "no password source after '@' (use LABEL@FILE or LABEL@prompt)".into(),
            });
        }
        let source = match source {
            "prompt" | "prompt_ask_vault_pass" => PasswordSource::Prompt,
            path => PasswordSource::File(PathBuf::from(path)),
        };
        Ok(VaultIdSpec {
            label: label.to_string(),
            source,
        })
    }
}

impl FromStr for VaultIdSpec {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// True for Ansible "client" scripts (`NAME-client` or `NAME-client.EXT`), which are called with
/// `--vault-id LABEL`.
fn is_client_script(path: &Path) -> bool {
    path.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-client"))
}

/// Reads a password from a file, or runs the file when it is executable.
///
/// As in Ansible: a plain file's whole content with surrounding whitespace trimmed is the
/// password (for the usual one-line file, its first line); an executable prints the password on
/// stdout (trailing newlines trimmed); a `*-client` script is given `--vault-id VAULT_ID`.
/// An empty password is an error.
pub fn read_password_file(path: &Path, vault_id: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let name = path.display().to_string();
    let source_err = |reason: String| VaultError::PasswordSource {
        source_name: name.clone(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        source_err(if e.kind() == std::io::ErrorKind::NotFound {
            "the vault password file was not found".to_string()
        } else {
            format!("cannot access it: {e}")
        })
    })?;
    if meta.is_dir() {
        return Err(source_err("it is a directory, not a file".into()));
    }
    let password = if is_executable(&meta) {
        let client = is_client_script(path);
        let mut cmd = Command::new(script_path(path));
        if client {
            cmd.arg("--vault-id").arg(vault_id);
        }
        let out = cmd
            .stdin(Stdio::inherit())
            .stderr(if client {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .stdout(Stdio::piped())
            .output()
            .map_err(|e| {
                source_err(format!(
                    "cannot run the password script ({e}); if it is not a script, remove its \
                     executable bit"
                ))
            })?;
        let stdout = Zeroizing::new(out.stdout);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let code = out
                .status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| c.to_string());
            let detail = if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            };
            return Err(source_err(if client && out.status.code() == Some(2) {
                format!("the client script found no secret for vault-id={vault_id}{detail}")
            } else {
                format!("the password script exited with {code}{detail}")
            }));
        }
        let trimmed = trim_newlines(&stdout);
        Zeroizing::new(trimmed.to_vec())
    } else {
        let content = Zeroizing::new(
            std::fs::read(path).map_err(|e| source_err(format!("cannot read it: {e}")))?,
        );
        Zeroizing::new(trim_newlines(content.trim_ascii()).to_vec())
    };
    if password.is_empty() {
        return Err(source_err("the password is empty".into()));
    }
    Ok(password)
}

/// The path to execute for a password script. A relative path names a file relative to the
/// working directory, as in Ansible: a bare name (`okpw.sh`) must not be looked up in `$PATH`,
/// which is what running it unchanged would do.
fn script_path(path: &Path) -> PathBuf {
    if path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    }
}

fn trim_newlines(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b'\r' | b'\n'))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b'\r' | b'\n'))
        .map_or(start, |p| p + 1);
    &b[start..end]
}

/// What the process environment says about passwords, prompting and editing. Built once by
/// [`VaultEnv::from_process`]; tests build it by hand.
#[derive(Clone, Debug, Default)]
pub struct VaultEnv {
    /// `PROV_VAULT_PASSWORD_FILE`: used when no password flag is given.
    pub password_file: Option<PathBuf>,
    /// `CI` is set (non-empty, not `0`/`false`): never prompt.
    pub ci: bool,
    /// stdin is a terminal: prompting is possible.
    pub stdin_is_terminal: bool,
    /// `$EDITOR` (the CLI falls back to `vi`).
    pub editor: Option<String>,
}

impl VaultEnv {
    /// Reads `PROV_VAULT_PASSWORD_FILE`, `CI`, `EDITOR` and whether stdin is a terminal.
    pub fn from_process() -> Self {
        use std::io::IsTerminal;
        let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        VaultEnv {
            password_file: nonempty(PASSWORD_FILE_ENV).map(PathBuf::from),
            ci: nonempty("CI").is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false")),
            stdin_is_terminal: std::io::stdin().is_terminal(),
            editor: nonempty("EDITOR").and_then(|v| v.into_string().ok()),
        }
    }

    /// `None` when prompting is allowed, else the reason why not.
    pub fn cannot_prompt_reason(&self) -> Option<&'static str> {
        if self.ci {
            Some("CI is set, so prov does not prompt")
        } else if !self.stdin_is_terminal {
            Some("stdin is not a terminal to prompt on")
        } else {
            None
        }
    }
}

/// Whether a prompted password is for reading existing data or for encrypting (asked twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptMode {
    /// Decrypting: ask once.
    Existing,
    /// Encrypting: ask twice and require both answers to match.
    New,
}

/// Asks for the password of vault id `label` on the terminal (never echoed).
pub fn prompt_password(
    label: &str,
    mode: PromptMode,
    env: &VaultEnv,
) -> Result<VaultSecret, VaultError> {
    if let Some(why) = env.cannot_prompt_reason() {
        return Err(VaultError::PasswordRequired {
            purpose: format!(" for vault id {label}"),
            why: why.to_string(),
        });
    }
    let ask = |prompt: String| -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let answer = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|e| {
            VaultError::PasswordSource {
                source_name: "prompt".into(),
                reason: e.to_string(),
            }
        })?);
        Ok(Zeroizing::new(answer.trim().as_bytes().to_vec()))
    };
    let first = match mode {
        PromptMode::Existing => ask(format!("Vault password ({label}): "))?,
        PromptMode::New => ask(format!("New vault password ({label}): "))?,
    };
    if mode == PromptMode::New {
        let second = ask(format!("Confirm new vault password ({label}): "))?;
        if *first != *second {
            return Err(VaultError::PasswordSource {
                source_name: "prompt".into(),
                reason: "Passwords do not match".into(),
            });
        }
    }
    if first.is_empty() {
        return Err(VaultError::PasswordSource {
            source_name: "prompt".into(),
            reason: "the password is empty".into(),
        });
    }
    Ok(VaultSecret {
        id: label.to_string(),
        password: first,
    })
}

/// Loads one `--vault-id` spec.
pub fn load_spec(
    spec: &VaultIdSpec,
    mode: PromptMode,
    env: &VaultEnv,
) -> Result<VaultSecret, VaultError> {
    match &spec.source {
        PasswordSource::File(path) => VaultSecret::from_file(spec.label.clone(), path),
        PasswordSource::Prompt => prompt_password(&spec.label, mode, env),
    }
}

/// Loads all secrets the way the `prov` and `prov vault` command lines do.
///
/// Order: each `--vault-id` value, then each `--vault-password-file` (vault id `default`), then
/// a prompt when `ask` is set. Without any of these, `PROV_VAULT_PASSWORD_FILE` is used, and
/// without that a prompt when stdin is a terminal and `CI` is not set; otherwise the error
/// names the flags and the variable that supply a password. Any failing source is an error.
pub fn load_passwords(
    vault_ids: &[String],
    password_files: &[PathBuf],
    ask: bool,
    env: &VaultEnv,
    mode: PromptMode,
) -> Result<VaultPasswords, VaultError> {
    let mut out = VaultPasswords::new();
    for value in vault_ids {
        out.push(load_spec(&VaultIdSpec::parse(value)?, mode, env)?);
    }
    for path in password_files {
        out.push(VaultSecret::from_file(DEFAULT_VAULT_ID, path)?);
    }
    if ask {
        out.push(prompt_password(DEFAULT_VAULT_ID, mode, env)?);
    }
    if out.is_empty() {
        if let Some(path) = &env.password_file {
            out.push(
                VaultSecret::from_file(DEFAULT_VAULT_ID, path).map_err(|e| match e {
                    VaultError::PasswordSource {
                        source_name,
                        reason,
                    } => VaultError::PasswordSource {
                        source_name: format!("{source_name} (from {PASSWORD_FILE_ENV})"),
                        reason,
                    },
                    other => other,
                })?,
            );
        } else if let Some(why) = env.cannot_prompt_reason() {
            return Err(VaultError::PasswordRequired {
                purpose: String::new(),
                why: why.to_string(),
            });
        } else {
            out.push(prompt_password(DEFAULT_VAULT_ID, mode, env)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_id_specs() {
        let spec = VaultIdSpec::parse("dev@/etc/pw").unwrap();
        assert_eq!(spec.label, "dev");
        assert_eq!(spec.source, PasswordSource::File(PathBuf::from("/etc/pw")));
        let spec = VaultIdSpec::parse("pw.txt").unwrap();
        assert_eq!(spec.label, DEFAULT_VAULT_ID);
        assert_eq!(spec.source, PasswordSource::File(PathBuf::from("pw.txt")));
        assert_eq!(
            VaultIdSpec::parse("prod@prompt").unwrap().source,
            PasswordSource::Prompt
        );
        // Only the first '@' separates the label.
        let spec = VaultIdSpec::parse("a@b@c").unwrap();
        assert_eq!(
            (spec.label.as_str(), spec.source),
            ("a", PasswordSource::File("b@c".into()))
        );
        assert!(VaultIdSpec::parse("a;b@file").is_err());
        assert!(VaultIdSpec::parse("dev@").is_err());
    }

    #[test]
    fn vault_id_validation() {
        assert!(validate_vault_id("team-a.prod_2").is_ok());
        for bad in ["", "a;b", "a\nb", " a", "a "] {
            assert!(validate_vault_id(bad).is_err(), "{bad:?}");
        }
        assert!(VaultSecret::new("dev", "").is_err());
    }

    #[test]
    fn newline_trimming_and_debug_redaction() {
        assert_eq!(trim_newlines(b"\r\npass word\r\n\n"), b"pass word");
        assert_eq!(trim_newlines(b"\n\n"), b"");
        let secret = VaultSecret::new("dev", "hunter2").unwrap();
        let shown = format!("{secret:?}");
        assert!(
            shown.contains("dev") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn encrypt_secret_choice() {
        let mut set = VaultPasswords::new();
        assert!(set.encrypt_secret(None).is_err());
        set.push(VaultSecret::new("dev", "a").unwrap());
        assert_eq!(set.encrypt_secret(None).unwrap().id(), "dev");
        set.push(VaultSecret::new("prod", "b").unwrap());
        assert!(set.encrypt_secret(None).is_err());
        assert_eq!(set.encrypt_secret(Some("prod")).unwrap().password(), b"b");
        assert!(set.encrypt_secret(Some("qa")).is_err());
    }
}
