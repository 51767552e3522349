//! Truncated, garbled and otherwise bad input: clear errors naming the origin, never a panic.

mod common;

use common::{fixture, fixture_secret, fixture_text};
use prov_vault::{VaultError, VaultPasswords, decrypt, decrypt_file, decrypt_from};
use rand::{Rng, SeedableRng};

fn dev() -> VaultPasswords {
    VaultPasswords::single(fixture_secret("dev"))
}

fn reason(err: &VaultError) -> String {
    match err {
        VaultError::Malformed { reason, .. } => reason.clone(),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn every_truncation_is_a_clear_error() {
    let text = fixture_text("v12-dev.vault");
    let secrets = dev();
    let full = decrypt_from(&text, &secrets, "secrets.yml").unwrap();
    assert!(!full.is_empty());
    for cut in 0..text.trim_end().len() {
        let err = decrypt_from(&text[..cut], &secrets, "secrets.yml")
            .expect_err(&format!("truncated at {cut} must fail"));
        let msg = err.to_string();
        assert!(msg.contains("secrets.yml"), "cut {cut}: {msg}");
        assert!(
            matches!(
                err,
                VaultError::Malformed { .. }
                    | VaultError::NoMatchingSecret { .. }
                    | VaultError::NotEncrypted { .. }
            ),
            "cut {cut}: {err:?}"
        );
    }
}

#[test]
fn truncated_file_names_file_and_problem() {
    let text = fixture_text("multiline.vault");
    let lines: Vec<&str> = text.lines().collect();
    // Drop the last 3 lines, as a cut-off copy would.
    let cut = lines[..lines.len() - 3].join("\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group_vars_all.yml");
    std::fs::write(&path, &cut).unwrap();
    let secrets = VaultPasswords::single(fixture_secret("default"));
    let err = decrypt_file(&path, &secrets).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        matches!(
            err,
            VaultError::Malformed { .. } | VaultError::NoMatchingSecret { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn header_only() {
    let err = decrypt("$ANSIBLE_VAULT;1.1;AES256\n", &dev()).unwrap_err();
    assert!(reason(&err).contains("no encrypted data"), "{err}");
}

#[test]
fn bad_headers() {
    let err = decrypt("$ANSIBLE_VAULT\n6162\n", &dev()).unwrap_err();
    assert!(reason(&err).contains("bad header"), "{err}");
    let err = decrypt("$ANSIBLE_VAULTX;1.1;AES256\n6162\n", &dev()).unwrap_err();
    assert!(reason(&err).contains("bad header"), "{err}");
    let body: String = fixture_text("v11.vault").lines().skip(1).collect();
    let err = decrypt(&format!("$ANSIBLE_VAULT;1.1;AES128\n{body}\n"), &dev()).unwrap_err();
    assert!(matches!(err, VaultError::UnsupportedCipher { ref cipher, .. } if cipher == "AES128"));
    let err = decrypt("db_password: plain\n", &dev()).unwrap_err();
    assert!(matches!(err, VaultError::NotEncrypted { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "vault text is not vault encrypted data (no $ANSIBLE_VAULT header)"
    );
}

#[test]
fn non_hex_and_odd_length_body() {
    let text = fixture_text("v11.vault");
    let (header, body) = text.split_once('\n').unwrap();
    let garbled = format!("{header}\n{}", body.replacen('6', "z", 3));
    let err = decrypt(&garbled, &dev()).unwrap_err();
    assert!(reason(&err).contains("non-hex character 'z'"), "{err}");

    let mut odd = text.trim_end().to_string();
    odd.pop();
    let err = decrypt(&odd, &dev()).unwrap_err();
    assert!(reason(&err).contains("odd number of hex digits"), "{err}");
}

#[test]
fn inner_structure_problems() {
    let wrap = |inner: &str| format!("$ANSIBLE_VAULT;1.1;AES256\n{}\n", hex::encode(inner));
    let err = decrypt(&wrap("abcd"), &dev()).unwrap_err();
    assert!(reason(&err).contains("salt, HMAC and ciphertext"), "{err}");
    let err = decrypt(&wrap("abcd\n00\nzz"), &dev()).unwrap_err();
    assert!(
        reason(&err).contains("ciphertext is not valid hex"),
        "{err}"
    );
    let err = decrypt(
        &wrap("abcd\n0011\n00112233445566778899aabbccddeeff"),
        &dev(),
    )
    .unwrap_err();
    assert!(reason(&err).contains("HMAC is 2 bytes"), "{err}");
    let mac = "00".repeat(32);
    let err = decrypt(&wrap(&format!("abcd\n{mac}\n0011")), &dev()).unwrap_err();
    assert!(reason(&err).contains("not a positive multiple"), "{err}");
    let err = decrypt(&wrap(&format!("\n{mac}\n{}", "00".repeat(16))), &dev()).unwrap_err();
    assert!(reason(&err).contains("salt is empty"), "{err}");
    // Well-formed but forged: the HMAC does not match any secret.
    let err = decrypt(&wrap(&format!("abcd\n{mac}\n{}", "00".repeat(16))), &dev()).unwrap_err();
    assert!(
        matches!(err, VaultError::NoMatchingSecret { .. }),
        "{err:?}"
    );
}

#[test]
fn flipped_ciphertext_digit_fails_hmac() {
    let text = fixture_text("v11.vault");
    let secrets = VaultPasswords::single(fixture_secret("default"));
    // Flip one hex digit of the last line (ciphertext): still valid hex, wrong HMAC.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines.len() - 1;
    let line = lines[last].clone();
    let flipped: String = line
        .char_indices()
        .map(|(i, c)| {
            if i == 1 {
                if c == '1' { '2' } else { '1' }
            } else {
                c
            }
        })
        .collect();
    lines[last] = flipped;
    let err = decrypt_from(&lines.join("\n"), &secrets, "v11.vault").unwrap_err();
    assert!(err.to_string().contains("v11.vault"), "{err}");
}

#[test]
fn no_secrets_and_missing_file() {
    let err = decrypt(&fixture_text("v11.vault"), &VaultPasswords::new()).unwrap_err();
    assert!(matches!(err, VaultError::NoSecrets { .. }), "{err:?}");
    let missing = fixture("does-not-exist.vault");
    let err = decrypt_file(&missing, &dev()).unwrap_err();
    assert!(err.to_string().contains("does-not-exist.vault"), "{err}");
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let secrets = dev();
    let alphabet = b"0123456789abcdefABCDEF\n \r;$zxANSIBLE_VAULT";
    for round in 0..300 {
        let len = rng.gen_range(0..400);
        let body: String = (0..len)
            .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
            .collect();
        let text = if round % 2 == 0 {
            format!("$ANSIBLE_VAULT;1.1;AES256\n{body}")
        } else {
            body
        };
        assert!(decrypt(&text, &secrets).is_err(), "round {round}");
    }
    // Structured garbage: right shape, random hex content.
    for round in 0..50 {
        let rand_hex = |rng: &mut rand::rngs::StdRng, n: usize| {
            hex::encode((0..n).map(|_| rng.r#gen::<u8>()).collect::<Vec<u8>>())
        };
        let salt = rand_hex(&mut rng, 32);
        let mac = rand_hex(&mut rng, 32);
        let ct = rand_hex(&mut rng, 16 * (1 + round % 4));
        let inner = format!("{salt}\n{mac}\n{ct}");
        let text = format!("$ANSIBLE_VAULT;1.1;AES256\n{}\n", hex::encode(inner));
        let err = decrypt(&text, &secrets).unwrap_err();
        assert!(
            matches!(err, VaultError::NoMatchingSecret { .. }),
            "{err:?}"
        );
    }
}
