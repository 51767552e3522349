//! Decrypting files and inline values made by ansible-vault (committed fixtures).

mod common;

use common::{all_secrets, fixture, fixture_bytes, fixture_secret, fixture_text};
use prov_vault::{
    VaultError, VaultPasswords, decrypt, decrypt_detailed, decrypt_file, decrypt_from,
    is_vault_text, parse_header,
};
use yaml_rust2::{Yaml, YamlLoader};

fn only(id: &str) -> VaultPasswords {
    VaultPasswords::single(fixture_secret(id))
}

#[test]
fn decrypts_ansible_1_1_file() {
    let plain = decrypt_file(&fixture("v11.vault"), &only("default")).unwrap();
    assert_eq!(plain.as_slice(), fixture_bytes("v11.plain").as_slice());
}

#[test]
fn decrypts_ansible_multiline_file() {
    let text = fixture_text("multiline.vault");
    assert!(text.lines().count() > 20, "spans many 80-column lines");
    let plain = decrypt(&text, &only("default")).unwrap();
    assert_eq!(
        plain.as_slice(),
        fixture_bytes("multiline.plain").as_slice()
    );
}

#[test]
fn decrypts_ansible_empty_plaintext() {
    let plain = decrypt_file(&fixture("empty.vault"), &only("default")).unwrap();
    assert!(plain.is_empty());
}

#[test]
fn decrypts_ansible_binary_plaintext() {
    let plain = decrypt_file(&fixture("binary.vault"), &only("dev")).unwrap();
    assert_eq!(plain.as_slice(), (0u8..=255).collect::<Vec<_>>().as_slice());
}

#[test]
fn decrypts_ansible_1_2_file_with_vault_id() {
    let text = fixture_text("v12-dev.vault");
    let header = parse_header(&text, "v12-dev.vault").unwrap();
    assert_eq!(header.version, "1.2");
    assert_eq!(header.cipher, "AES256");
    assert_eq!(header.vault_id.as_deref(), Some("dev"));
    let plain = decrypt(&text, &only("dev")).unwrap();
    assert_eq!(plain.as_slice(), fixture_bytes("v12-dev.plain").as_slice());
}

#[test]
fn password_file_without_newline_and_with_spaces() {
    // prod.password has inner spaces and no trailing newline.
    assert_eq!(fixture_secret("prod").password(), b"pr0d pass with spaces");
    let plain = decrypt_file(&fixture("v12-prod.vault"), &only("prod")).unwrap();
    assert_eq!(plain.as_slice(), fixture_bytes("v12-prod.plain").as_slice());
}

#[test]
fn several_vault_ids_pick_the_named_one_first() {
    let secrets = all_secrets();
    for (file, plain, id) in [
        ("v11.vault", "v11.plain", "default"),
        ("v12-dev.vault", "v12-dev.plain", "dev"),
        ("v12-prod.vault", "v12-prod.plain", "prod"),
    ] {
        let d = decrypt_detailed(&fixture_text(file), &secrets, file).unwrap();
        assert_eq!(
            d.plaintext.as_slice(),
            fixture_bytes(plain).as_slice(),
            "{file}"
        );
        assert_eq!(d.secret.id(), id, "{file}");
    }
}

#[test]
fn vault_id_is_a_hint_not_a_requirement() {
    // The dev file decrypts with the dev password even when it is registered under another id,
    // as in Ansible (the header id only orders the attempts).
    let dev_password = fixture_secret("dev").password().to_vec();
    let mut secrets = VaultPasswords::new();
    secrets.push(fixture_secret("prod"));
    secrets.push(prov_vault::VaultSecret::new("other", dev_password).unwrap());
    let d = decrypt_detailed(&fixture_text("v12-dev.vault"), &secrets, "x").unwrap();
    assert_eq!(d.secret.id(), "other");
}

#[test]
fn wrong_password_names_the_file() {
    let path = fixture("v12-dev.vault");
    let err = decrypt_file(&path, &only("prod")).unwrap_err();
    assert!(
        matches!(err, VaultError::NoMatchingSecret { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Decryption failed (no vault secret matched) for {}",
            path.display()
        )
    );
}

/// Finds `key` in a YAML mapping.
fn get<'a>(doc: &'a Yaml, key: &str) -> &'a Yaml {
    &doc[key]
}

#[test]
fn decrypts_encrypt_string_values_as_yaml_delivers_them() {
    let yaml = fixture_text("inline.yml");
    let docs = YamlLoader::load_from_str(&yaml).unwrap();
    let doc = &docs[0];
    assert_eq!(get(doc, "plain_value").as_str(), Some("visible"));
    let secrets = all_secrets();
    let cases = [
        (get(doc, "db_password"), "inline-db.plain"),
        (get(doc, "api_token"), "inline-api.plain"),
        (get(get(doc, "nested"), "inner"), "inline-db.plain"),
    ];
    for (value, plain) in cases {
        let text = scalar_text(value);
        assert!(is_vault_text(&text), "{text:?}");
        let got = decrypt_from(&text, &secrets, plain).unwrap();
        assert_eq!(got.as_slice(), fixture_bytes(plain).as_slice(), "{plain}");
    }
}

/// The string content of a (possibly tagged) YAML scalar.
fn scalar_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        other => panic!("not a string scalar: {other:?}"),
    }
}

#[test]
fn decrypts_indented_and_padded_text() {
    // Indentation not stripped, CRLF line ends and surrounding blank lines are tolerated.
    let text = fixture_text("v12-dev.vault");
    let messy: String = format!(
        "\n\n{}\n\n",
        text.lines()
            .map(|l| format!("      {l}   \r"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let plain = decrypt(&messy, &only("dev")).unwrap();
    assert_eq!(plain.as_slice(), fixture_bytes("v12-dev.plain").as_slice());
}
