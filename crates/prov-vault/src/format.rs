//! The Ansible Vault format: envelope parsing/formatting and the AES256 cipher
//! (PBKDF2-HMAC-SHA256 key derivation, AES-256-CTR, HMAC-SHA256, PKCS#7 padding).

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::VaultError;
use crate::secret::{DEFAULT_VAULT_ID, VaultPasswords, VaultSecret, validate_vault_id};

/// The first field of every vault header.
pub const VAULT_HEADER: &str = "$ANSIBLE_VAULT";
/// The only cipher Ansible writes (and the only one prov reads).
pub const CIPHER_AES256: &str = "AES256";
/// PBKDF2 iterations Ansible uses.
pub const PBKDF2_ITERATIONS: u32 = 10_000;
/// Width of the hex lines in the envelope.
pub const LINE_WIDTH: usize = 80;
/// Indentation `ansible-vault encrypt_string` puts before each line of the block scalar.
pub const YAML_INDENT: usize = 10;

const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const SALT_LEN: usize = 32;
const BLOCK: usize = 16;
const MAC_LEN: usize = 32;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// The parsed first line of a vault text, e.g. `$ANSIBLE_VAULT;1.2;AES256;dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultHeader {
    /// Format version: `1.1` or `1.2` (any value is accepted when reading).
    pub version: String,
    /// Cipher name, `AES256`.
    pub cipher: String,
    /// The vault id of a 1.2 header, `None` for 1.1.
    pub vault_id: Option<String>,
}

/// The result of [`decrypt_detailed`]: the plaintext plus what was used to get it.
#[derive(Debug)]
pub struct Decrypted {
    /// The plaintext, zeroized on drop.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The secret that decrypted the data (a copy; its password is zeroized on drop).
    pub secret: VaultSecret,
    /// The header of the vault text.
    pub header: VaultHeader,
}

/// True when `text` (after leading whitespace) starts with the `$ANSIBLE_VAULT` header.
pub fn is_vault_text(text: &str) -> bool {
    text.trim_start().starts_with(VAULT_HEADER)
}

/// Parses the header line of a vault text. `origin` names the file or value in errors.
pub fn parse_header(text: &str, origin: &str) -> Result<VaultHeader, VaultError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with(VAULT_HEADER) {
        return Err(VaultError::NotEncrypted {
            origin: origin.to_string(),
        });
    }
    let line = trimmed.lines().next().unwrap_or_default().trim();
    let fields: Vec<&str> = line.split(';').map(str::trim).collect();
    if fields.first() != Some(&VAULT_HEADER) {
        return Err(VaultError::malformed(
            origin,
            format!("bad header {line:?}: expected {VAULT_HEADER};VERSION;CIPHER[;VAULT_ID]"),
        ));
    }
    if fields.len() < 3 || fields[1].is_empty() || fields[2].is_empty() {
        return Err(VaultError::malformed(
            origin,
            format!("bad header {line:?}: expected {VAULT_HEADER};VERSION;CIPHER[;VAULT_ID]"),
        ));
    }
    let vault_id = fields
        .get(3)
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty());
    Ok(VaultHeader {
        version: fields[1].to_string(),
        cipher: fields[2].to_string(),
        vault_id,
    })
}

/// The decoded payload of a vault text.
struct Payload {
    salt: Vec<u8>,
    mac: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// Splits a vault text into header and payload, checking everything that can be checked without
/// a password. Whitespace around the text and at the start/end of every line is ignored, so the
/// content of a YAML `!vault |` block scalar is accepted as is.
fn parse(text: &str, origin: &str) -> Result<(VaultHeader, Payload), VaultError> {
    let body: String = text
        .trim_start()
        .lines()
        .skip(1)
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if body.is_empty() && is_vault_text(text) {
        return Err(VaultError::malformed(
            origin,
            "no encrypted data after the header (file truncated?)",
        ));
    }
    let header = parse_header(text, origin)?;
    if header.cipher != CIPHER_AES256 {
        return Err(VaultError::UnsupportedCipher {
            origin: origin.to_string(),
            cipher: header.cipher,
        });
    }
    if let Some(pos) = body.find(|c: char| !c.is_ascii_hexdigit()) {
        let bad = body[pos..].chars().next().unwrap_or('?');
        return Err(VaultError::malformed(
            origin,
            format!("encrypted data contains the non-hex character {bad:?}"),
        ));
    }
    if !body.len().is_multiple_of(2) {
        return Err(VaultError::malformed(
            origin,
            "encrypted data has an odd number of hex digits (file truncated?)",
        ));
    }
    let inner = hex::decode(&body)
        .map_err(|e| VaultError::malformed(origin, format!("encrypted data is not hex: {e}")))?;
    let mut parts = inner.splitn(3, |b| *b == b'\n');
    let (Some(salt_hex), Some(mac_hex), Some(ct_hex)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(VaultError::malformed(
            origin,
            "payload does not hold salt, HMAC and ciphertext (file truncated?)",
        ));
    };
    let decode_part = |part: &[u8], what: &str| -> Result<Vec<u8>, VaultError> {
        hex::decode(part).map_err(|e| {
            VaultError::malformed(
                origin,
                format!("{what} is not valid hex ({e}; file truncated?)"),
            )
        })
    };
    let salt = decode_part(salt_hex, "salt")?;
    let mac = decode_part(mac_hex, "HMAC")?;
    let ciphertext = decode_part(ct_hex, "ciphertext")?;
    if salt.is_empty() {
        return Err(VaultError::malformed(origin, "salt is empty"));
    }
    if mac.len() != MAC_LEN {
        return Err(VaultError::malformed(
            origin,
            format!("HMAC is {} bytes, expected {MAC_LEN}", mac.len()),
        ));
    }
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(VaultError::malformed(
            origin,
            format!(
                "ciphertext is {} bytes, not a positive multiple of the AES block size {BLOCK} \
                 (file truncated?)",
                ciphertext.len()
            ),
        ));
    }
    Ok((
        header,
        Payload {
            salt,
            mac,
            ciphertext,
        },
    ))
}

/// Derived key material: AES key, HMAC key, CTR initial counter. Zeroized on drop.
struct Keys(Zeroizing<[u8; 2 * KEY_LEN + IV_LEN]>);

impl Keys {
    fn derive(password: &[u8], salt: &[u8]) -> Self {
        let mut out = Zeroizing::new([0u8; 2 * KEY_LEN + IV_LEN]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, PBKDF2_ITERATIONS, out.as_mut_slice());
        Keys(out)
    }
    fn cipher_key(&self) -> &[u8] {
        &self.0[..KEY_LEN]
    }
    fn mac_key(&self) -> &[u8] {
        &self.0[KEY_LEN..2 * KEY_LEN]
    }
    fn iv(&self) -> &[u8] {
        &self.0[2 * KEY_LEN..]
    }
    fn mac(&self, data: &[u8]) -> Result<[u8; MAC_LEN], VaultError> {
        // HMAC accepts keys of any length, so this does not fail in practice.
        let mut mac = HmacSha256::new_from_slice(self.mac_key())
            .map_err(|e| VaultError::Usage(format!("HMAC key rejected: {e}")))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().into())
    }
    fn apply_ctr(&self, data: &mut [u8]) {
        let mut cipher = Aes256Ctr::new(self.cipher_key().into(), self.iv().into());
        cipher.apply_keystream(data);
    }
}

/// Decrypts with one secret; `Ok(None)` when the HMAC does not match (wrong password).
fn decrypt_with(
    payload: &Payload,
    secret: &VaultSecret,
    origin: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
    let keys = Keys::derive(secret.password(), &payload.salt);
    let expected = keys.mac(&payload.ciphertext)?;
    if !bool::from(expected.ct_eq(payload.mac.as_slice())) {
        return Ok(None);
    }
    let mut plain = Zeroizing::new(payload.ciphertext.clone());
    keys.apply_ctr(&mut plain);
    let pad = usize::from(plain.last().copied().unwrap_or(0));
    let valid_pad = (1..=BLOCK).contains(&pad)
        && pad <= plain.len()
        && plain[plain.len() - pad..]
            .iter()
            .all(|b| usize::from(*b) == pad);
    if !valid_pad {
        return Err(VaultError::malformed(
            origin,
            "HMAC matched but the PKCS#7 padding is invalid",
        ));
    }
    let len = plain.len() - pad;
    plain[len..].zeroize();
    plain.truncate(len);
    Ok(Some(plain))
}

/// Decrypts a vault text with the first matching secret and tells which one matched.
///
/// Secrets whose id equals the vault id of a 1.2 header (or `default` for a 1.1 header) are tried
/// first, then all others in order. `origin` names the file or value in errors.
pub fn decrypt_detailed(
    text: &str,
    passwords: &VaultPasswords,
    origin: &str,
) -> Result<Decrypted, VaultError> {
    let (header, payload) = parse(text, origin)?;
    if passwords.is_empty() {
        return Err(VaultError::NoSecrets {
            origin: origin.to_string(),
        });
    }
    let wanted = header.vault_id.as_deref().unwrap_or(DEFAULT_VAULT_ID);
    let ordered = passwords
        .iter()
        .filter(|s| s.id() == wanted)
        .chain(passwords.iter().filter(|s| s.id() != wanted));
    for secret in ordered {
        if let Some(plaintext) = decrypt_with(&payload, secret, origin)? {
            return Ok(Decrypted {
                plaintext,
                secret: secret.clone(),
                header,
            });
        }
    }
    Err(VaultError::NoMatchingSecret {
        origin: origin.to_string(),
    })
}

/// Decrypts a vault text, naming `origin` (a file name, a variable) in errors.
pub fn decrypt_from(
    text: &str,
    passwords: &VaultPasswords,
    origin: &str,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    decrypt_detailed(text, passwords, origin).map(|d| d.plaintext)
}

/// Decrypts a vault text (a whole vault file or the content of a `!vault |` YAML scalar).
///
/// Errors name the origin as `vault text`; use [`decrypt_from`] to name a file.
pub fn decrypt(text: &str, passwords: &VaultPasswords) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    decrypt_from(text, passwords, "vault text")
}

/// Encrypts `plaintext` with `secret` using a fresh random 32-byte salt and returns the vault
/// text exactly as ansible-vault writes it (header, 80-column hex lines, trailing newline).
///
/// A `vault_id` other than `None`, `""` or `default` produces a `1.2` header naming it,
/// otherwise the header is `1.1`. Fails only on an invalid vault id (`;` or whitespace) or when
/// the OS random generator fails.
pub fn encrypt(
    plaintext: &[u8],
    secret: &VaultSecret,
    vault_id: Option<&str>,
) -> Result<String, VaultError> {
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| VaultError::Random(e.to_string()))?;
    encrypt_with_salt(plaintext, secret, vault_id, &salt)
}

/// [`encrypt`] with a caller-chosen salt (deterministic output, for tests and reproducibility;
/// never reuse a salt for real secrets).
pub fn encrypt_with_salt(
    plaintext: &[u8],
    secret: &VaultSecret,
    vault_id: Option<&str>,
    salt: &[u8],
) -> Result<String, VaultError> {
    let vault_id = vault_id.filter(|id| !id.is_empty() && *id != DEFAULT_VAULT_ID);
    if let Some(id) = vault_id {
        validate_vault_id(id)?;
    }
    if salt.is_empty() {
        return Err(VaultError::Usage("the vault salt must not be empty".into()));
    }
    let keys = Keys::derive(secret.password(), salt);
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut data = Zeroizing::new(Vec::with_capacity(plaintext.len() + pad));
    data.extend_from_slice(plaintext);
    // pad is 1..=16, so the cast is lossless
    data.extend(std::iter::repeat_n(pad as u8, pad));
    keys.apply_ctr(&mut data);
    let mac = keys.mac(&data)?;
    let inner = format!(
        "{}\n{}\n{}",
        hex::encode(salt),
        hex::encode(mac),
        hex::encode(data.as_slice())
    );
    let outer = hex::encode(inner.as_bytes());
    let mut out = match vault_id {
        Some(id) => format!("{VAULT_HEADER};1.2;{CIPHER_AES256};{id}\n"),
        None => format!("{VAULT_HEADER};1.1;{CIPHER_AES256}\n"),
    };
    out.reserve(outer.len() + outer.len() / LINE_WIDTH + 1);
    // hex is ASCII, so slicing at any byte offset is on a char boundary
    let mut rest = outer.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(LINE_WIDTH));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    Ok(out)
}

/// Formats a vault text as the YAML snippet `ansible-vault encrypt_string` prints:
/// `NAME: !vault |` (or just `!vault |` without a name) followed by the vault text indented by
/// ten spaces. Like Ansible's formatter the result has no trailing newline.
pub fn format_yaml_inline(vault_text: &str, name: Option<&str>) -> String {
    let mut out = match name {
        Some(n) if !n.is_empty() => format!("{n}: !vault |"),
        _ => "!vault |".to_string(),
    };
    for line in vault_text.lines() {
        out.push('\n');
        out.push_str(&" ".repeat(YAML_INDENT));
        out.push_str(line);
    }
    out
}

/// Encrypts `value` and formats it as the `NAME: !vault |` YAML snippet of
/// `ansible-vault encrypt_string` (see [`format_yaml_inline`]).
pub fn encrypt_string(
    value: &[u8],
    name: Option<&str>,
    secret: &VaultSecret,
    vault_id: Option<&str>,
) -> Result<String, VaultError> {
    let text = encrypt(value, secret, vault_id)?;
    Ok(format_yaml_inline(&text, name))
}
