//! Host key verification against OpenSSH `known_hosts` files.
//!
//! Supports plain and hashed (`|1|salt|hash`) host fields, comma-separated patterns with `*`/`?`
//! wildcards and `!` negation, `[host]:port` entries for non-standard ports, and the `@revoked`
//! marker (`@cert-authority` lines are ignored: prov does not ask for host certificates).
//! Malformed lines are skipped, as OpenSSH does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// A known_hosts line marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// One known_hosts entry that matched the host being checked.
#[derive(Debug, Clone)]
pub(crate) struct KnownEntry {
    file: PathBuf,
    line: usize,
    marker: Marker,
    key: PublicKey,
}

impl KnownEntry {
    fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// The outcome of checking a server's host key.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// A known_hosts entry holds exactly this key.
    Known,
    /// No entry for this host at all.
    Unknown,
    /// The host is known with keys of other types only.
    OtherTypesKnown {
        /// `type fingerprint (file:line)` of each recorded key.
        known: Vec<String>,
    },
    /// The host is known with a different key of the same type.
    Changed {
        /// `fingerprint (file:line)` of each recorded key of that type.
        known: Vec<String>,
    },
    /// The key is listed as `@revoked`.
    Revoked {
        /// Where the revocation is.
        location: String,
    },
}

/// The name known_hosts uses for `host` on `port` (`[host]:port` unless the port is 22).
pub(crate) fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// SHA256 fingerprint of a key, as OpenSSH prints it (`SHA256:...`).
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Glob match with `*` and `?` (ASCII case-insensitive, as OpenSSH host patterns).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some(p);
                mark = t;
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    t = mark;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// True when a hashed host field `|1|salt|hash` is the HMAC-SHA1 of `name`.
fn hashed_match(field: &str, name: &str) -> bool {
    let mut parts = field.split('|').skip(2);
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    let Ok(mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// True when the host field of a known_hosts line matches `name` (already in `[h]:p` form).
fn hosts_field_matches(field: &str, name: &str) -> bool {
    if field.starts_with("|1|") {
        return hashed_match(field, name);
    }
    let mut matched = false;
    for pat in field.split(',') {
        let (neg, pat) = match pat.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pat),
        };
        if glob_match(pat.as_bytes(), name.as_bytes()) {
            if neg {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// Parses one known_hosts line whose host field `wanted` accepts; `None` for comments, blanks,
/// malformed lines and other hosts' lines. The key is decoded only for a wanted line: with a
/// known_hosts of many hosts, decoding every line for every connection was most of the
/// controller's work on a large inventory.
fn parse_line(line: &str, wanted: impl Fn(&str) -> bool) -> Option<(Marker, PublicKey)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut tokens = line.split_whitespace();
    let mut first = tokens.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        m if m.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = tokens.next()?;
    }
    if !wanted(first) {
        return None;
    }
    let key_type = tokens.next()?;
    let blob = tokens.next()?;
    let key = PublicKey::from_openssh(&format!("{key_type} {blob}")).ok()?;
    Some((marker, key))
}

/// Every entry of `files` (missing files are skipped) whose host field matches `name`.
pub(crate) fn entries_for(files: &[PathBuf], name: &str) -> Vec<KnownEntry> {
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if let Some((marker, key)) = parse_line(line, |hosts| hosts_field_matches(hosts, name))
            {
                out.push(KnownEntry {
                    file: file.clone(),
                    line: i + 1,
                    marker,
                    key,
                });
            }
        }
    }
    out
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// Checks `key` for the host known under `names` (most specific first) on `port`.
///
/// The first name with any plain entry decides, as OpenSSH decides by the one name it looks up;
/// a revocation under any name always wins.
pub(crate) fn verify(files: &[PathBuf], names: &[String], port: u16, key: &PublicKey) -> Verdict {
    let per_name: Vec<Vec<KnownEntry>> = names
        .iter()
        .map(|n| entries_for(files, &lookup_name(n, port)))
        .collect();
    for entries in &per_name {
        if let Some(r) = entries
            .iter()
            .find(|e| e.marker == Marker::Revoked && same_key(&e.key, key))
        {
            return Verdict::Revoked {
                location: r.location(),
            };
        }
    }
    for entries in per_name {
        let plain: Vec<&KnownEntry> = entries
            .iter()
            .filter(|e| e.marker == Marker::None)
            .collect();
        if plain.is_empty() {
            continue;
        }
        if plain.iter().any(|e| same_key(&e.key, key)) {
            return Verdict::Known;
        }
        let algo = key.key_data().algorithm();
        let same_type: Vec<String> = plain
            .iter()
            .filter(|e| e.key.key_data().algorithm() == algo)
            .map(|e| format!("{} ({})", fingerprint(&e.key), e.location()))
            .collect();
        if !same_type.is_empty() {
            return Verdict::Changed { known: same_type };
        }
        return Verdict::OtherTypesKnown {
            known: plain
                .iter()
                .map(|e| {
                    format!(
                        "{} {} ({})",
                        e.key.algorithm(),
                        fingerprint(&e.key),
                        e.location()
                    )
                })
                .collect(),
        };
    }
    Verdict::Unknown
}

/// Host key algorithms to offer: the types already recorded for the host first (so the server
/// proves the key we know), then the usual order.
pub(crate) fn preferred_algorithms(
    files: &[PathBuf],
    names: &[String],
    port: u16,
) -> Vec<Algorithm> {
    let defaults: Vec<Algorithm> = russh::Preferred::DEFAULT.key.to_vec();
    let mut known: Vec<Algorithm> = Vec::new();
    for n in names {
        for e in entries_for(files, &lookup_name(n, port)) {
            if e.marker != Marker::None {
                continue;
            }
            let algos: Vec<Algorithm> = match e.key.algorithm() {
                Algorithm::Rsa { .. } => vec![
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha512),
                    },
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha256),
                    },
                ],
                a => vec![a],
            };
            for a in algos {
                if defaults.contains(&a) && !known.contains(&a) {
                    known.push(a);
                }
            }
        }
    }
    for a in defaults {
        if !known.contains(&a) {
            known.push(a);
        }
    }
    known
}

static RECORD_LOCK: Mutex<()> = Mutex::new(());

/// Appends `name key` (in `[name]:port` form for non-22 ports) to the known_hosts file `file`.
pub(crate) fn record(file: &Path, name: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    let _guard = RECORD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let needs_newline = match std::fs::read(file) {
        Ok(b) => !b.is_empty() && b.last() != Some(&b'\n'),
        Err(_) => false,
    };
    let openssh = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(format!("cannot encode host key: {e}")))?;
    // Only `type base64`: a server key has no comment worth keeping.
    let mut it = openssh.split_whitespace();
    let (Some(kt), Some(blob)) = (it.next(), it.next()) else {
        return Err(std::io::Error::other("cannot encode host key"));
    };
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&format!("{} {kt} {blob}\n", lookup_name(name, port)));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    f.write_all(line.as_bytes())?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const K2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("known_hosts");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match(b"*.example.com", b"a.example.com"));
        assert!(!glob_match(b"*.example.com", b"example.com"));
        assert!(glob_match(b"10.77.0.?", b"10.77.0.1"));
        assert!(glob_match(b"[10.0.0.1]:2222", b"[10.0.0.1]:2222"));
        assert!(!glob_match(b"10.0.0.1", b"10.0.0.12"));
        assert!(hosts_field_matches("web,!db*,*.lan", "x.lan"));
        assert!(!hosts_field_matches("*.lan,!db.lan", "db.lan"));
    }

    #[test]
    fn plain_hashed_port_and_changed() {
        let dir = tempfile::tempdir().unwrap();
        // `example.com` hashed with salt from russh's own test vector.
        let text = format!(
            "# comment\n\
             garbage line\n\
             [localhost]:2222 {K1}\n\
             |1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= {K2}\n\
             web1,10.0.0.5\t{K1} comment here\n"
        );
        let f = write(dir.path(), &text);
        let files = vec![f.clone(), dir.path().join("missing")];
        let n = |s: &str| vec![s.to_owned()];
        assert!(matches!(
            verify(&files, &n("localhost"), 2222, &key(K1)),
            Verdict::Known
        ));
        assert!(matches!(
            verify(&files, &n("localhost"), 22, &key(K1)),
            Verdict::Unknown
        ));
        assert!(matches!(
            verify(&files, &n("example.com"), 22, &key(K2)),
            Verdict::Known
        ));
        assert!(matches!(
            verify(&files, &n("10.0.0.5"), 22, &key(K1)),
            Verdict::Known
        ));
        match verify(&files, &n("web1"), 22, &key(K2)) {
            Verdict::Changed { known } => {
                assert_eq!(known.len(), 1);
                assert!(known[0].contains(&fingerprint(&key(K1))), "{known:?}");
                assert!(known[0].contains(":5)"), "{known:?}");
            }
            v => panic!("expected changed, got {v:?}"),
        }
        // The first name with entries decides; the inventory name is only a fallback.
        let names = vec!["10.9.9.9".to_owned(), "web1".to_owned()];
        assert!(matches!(
            verify(&files, &names, 22, &key(K1)),
            Verdict::Known
        ));
    }

    #[test]
    fn revoked_wins() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), &format!("h1 {K1}\n@revoked * {K1}\n"));
        assert!(matches!(
            verify(&[f], &["h1".to_owned()], 22, &key(K1)),
            Verdict::Revoked { .. }
        ));
    }

    #[test]
    fn record_then_known_and_preferred_first() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub").join("known_hosts");
        record(&f, "10.1.2.3", 2200, &key(K2)).unwrap();
        record(&f, "10.1.2.4", 22, &key(K1)).unwrap();
        let files = vec![f.clone()];
        assert!(matches!(
            verify(&files, &["10.1.2.3".to_owned()], 2200, &key(K2)),
            Verdict::Known
        ));
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("[10.1.2.3]:2200 ssh-ed25519 "), "{text}");
        assert_eq!(text.lines().count(), 2);
        let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC+XipIArIonJyz/3hoUEE7pHf+ycwuIyNHYF7OOr2yXdtkr4vdqGE4axOBO6Hi+7asm3FOAeaYL4nXbJfhOwP9oYc1Squfvm3b4YP3MO+aupfxpSLsG58PdvpMtO+Tk3KcJ/m3dNFKXWth3daE4C8jMSVYqBdUQAhEaRaMIkYyrw==";
        let f2 = write(dir.path(), &format!("h {rsa}\n"));
        let pref = preferred_algorithms(&[f2], &["h".to_owned()], 22);
        assert_eq!(
            pref[0],
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512)
            }
        );
        assert!(pref.contains(&Algorithm::Ed25519));
    }
}
