//! Round trips: prov with itself (random plaintexts), prov against the committed ansible-vault
//! fixtures byte for byte, and prov against a live `ansible-vault` when one is installed
//! (`ANSIBLE_VAULT_BIN` or `ansible-vault` on PATH; skipped with a message otherwise).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{all_secrets, ansible_vault, fixture, fixture_bytes, fixture_secret, fixture_text};
use prov_vault::{
    VaultPasswords, VaultSecret, decrypt, decrypt_detailed, encrypt, encrypt_string,
    encrypt_with_salt, parse_header,
};
use rand::{Rng, SeedableRng};
use yaml_rust2::YamlLoader;

/// The salt stored in a vault text (to re-create ansible-vault's output exactly).
fn salt_of(text: &str) -> Vec<u8> {
    let body: String = text.lines().skip(1).collect();
    let inner = hex::decode(body).unwrap();
    let salt_hex = inner.split(|b| *b == b'\n').next().unwrap();
    hex::decode(salt_hex).unwrap()
}

#[test]
fn reproduces_ansible_fixtures_byte_for_byte() {
    // Same salt, same password, same plaintext => prov's output must equal ansible-vault's.
    for (vault, plain, id) in [
        ("v11.vault", "v11.plain", "default"),
        ("multiline.vault", "multiline.plain", "default"),
        ("empty.vault", "empty.plain", "default"),
        ("v12-dev.vault", "v12-dev.plain", "dev"),
        ("v12-prod.vault", "v12-prod.plain", "prod"),
        ("binary.vault", "binary.plain", "dev"),
    ] {
        let expected = fixture_text(vault);
        let header = parse_header(&expected, vault).unwrap();
        let out = encrypt_with_salt(
            &fixture_bytes(plain),
            &fixture_secret(id),
            header.vault_id.as_deref(),
            &salt_of(&expected),
        )
        .unwrap();
        assert_eq!(out, expected, "{vault}");
    }
}

#[test]
fn encrypt_string_layout_matches_ansible() {
    // Same layout as ansible's snippet for a value of the same length: header line, ten-space
    // indentation, identical line lengths.
    let yaml = fixture_text("inline.yml");
    let theirs: Vec<&str> = yaml
        .lines()
        .skip_while(|l| !l.starts_with("db_password:"))
        .take_while(|l| !l.starts_with("api_token:"))
        .collect();
    let value = fixture_bytes("inline-db.plain");
    let ours = encrypt_string(
        &value,
        Some("db_password"),
        &fixture_secret("default"),
        None,
    )
    .unwrap();
    let ours: Vec<&str> = ours.lines().collect();
    assert_eq!(ours[0], theirs[0]);
    assert_eq!(ours[1], theirs[1]);
    let lens = |v: &[&str]| v.iter().map(|l| l.len()).collect::<Vec<_>>();
    assert_eq!(lens(&ours), lens(&theirs));
}

#[test]
fn random_plaintexts_round_trip() {
    // Debug builds run PBKDF2 (10000 rounds) slowly, so each round does only a few derivations.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let ids = [None, Some("default"), Some("dev"), Some("team-a.prod_2")];
    let decoy = fixture_secret("prod");
    for round in 0..30 {
        let len = match round {
            0..=17 => round, // every length around the first block boundary
            _ => rng.gen_range(0..3000),
        };
        let plain: Vec<u8> = (0..len).map(|_| rng.r#gen::<u8>()).collect();
        let pw_len = rng.gen_range(1..40);
        let password: Vec<u8> = (0..pw_len).map(|_| rng.gen_range(b'!'..=b'~')).collect();
        let id = ids[round % ids.len()];
        let secret = VaultSecret::new(id.unwrap_or("default"), password.clone()).unwrap();
        let text = encrypt(&plain, &secret, id).unwrap();

        let header = parse_header(&text, "t").unwrap();
        let expect_id = id.filter(|i| *i != "default");
        assert_eq!(header.vault_id.as_deref(), expect_id, "round {round}");
        assert_eq!(
            header.version,
            if expect_id.is_some() { "1.2" } else { "1.1" }
        );
        assert!(text.ends_with('\n'));
        assert!(text.lines().skip(1).all(|l| !l.is_empty() && l.len() <= 80));

        // Decrypts with the right secret, wherever it is in the list.
        let secrets: VaultPasswords = if round % 2 == 0 {
            [decoy.clone(), secret.clone()].into_iter().collect()
        } else {
            VaultPasswords::single(secret.clone())
        };
        let d = decrypt_detailed(&text, &secrets, "t").unwrap();
        assert_eq!(d.plaintext.as_slice(), plain.as_slice(), "round {round}");
        assert_eq!(d.secret.password(), password.as_slice());
        if round % 6 == 0 {
            // Not with a different password; and a second encryption differs (fresh salt).
            let mut other = password.clone();
            other.push(b'x');
            let wrong = VaultPasswords::single(VaultSecret::new("dev", other).unwrap());
            assert!(decrypt(&text, &wrong).is_err(), "round {round}");
            assert_ne!(encrypt(&plain, &secret, id).unwrap(), text);
        }
    }
}

// ---- live ansible-vault ---------------------------------------------------------------------

fn ansible_or_skip(test: &str) -> Option<std::path::PathBuf> {
    let bin = ansible_vault();
    if bin.is_none() {
        println!(
            "SKIPPED {test}: ansible-vault not found (set ANSIBLE_VAULT_BIN or put ansible-vault \
             on PATH)"
        );
    }
    bin
}

fn ansible(bin: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(args)
        .env("ANSIBLE_NOCOLOR", "1")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_VAULT_IDENTITY_LIST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ansible-vault");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ansible-vault {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn pw(id: &str) -> String {
    fixture(&format!("{id}.password")).display().to_string()
}

#[test]
fn ansible_vault_reads_what_prov_writes() {
    let Some(bin) = ansible_or_skip("ansible_vault_reads_what_prov_writes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (Vec::new(), None),
        (fixture_bytes("multiline.plain"), None),
        (fixture_bytes("binary.plain"), Some("dev")),
        ("ünïcode ✓\n".as_bytes().to_vec(), Some("prod")),
    ];
    for _ in 0..3 {
        let len = rng.gen_range(1..2000);
        cases.push(((0..len).map(|_| rng.r#gen::<u8>()).collect(), Some("dev")));
    }
    for (i, (plain, id)) in cases.iter().enumerate() {
        let key = id.unwrap_or("default");
        let text = encrypt(plain, &fixture_secret(key), *id).unwrap();
        let path = dir.path().join(format!("case{i}.vault"));
        std::fs::write(&path, &text).unwrap();
        let vault_id = format!("{key}@{}", pw(key));
        let got = ansible(
            &bin,
            &[
                "decrypt",
                "--vault-id",
                &vault_id,
                "--output",
                "-",
                path.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(&got, plain, "case {i}");
    }

    // A prov encrypt_string snippet in a vars file, decrypted by ansible's own YAML loader.
    let value = "p@ss: 'with' \"quotes\"";
    let snippet = encrypt_string(
        value.as_bytes(),
        Some("db_password"),
        &fixture_secret("dev"),
        Some("dev"),
    )
    .unwrap();
    let vars = dir.path().join("vars.yml");
    std::fs::write(&vars, format!("{snippet}\n")).unwrap();
    let got = ansible(
        &bin,
        &[
            "decrypt",
            "--vault-id",
            &format!("dev@{}", pw("dev")),
            "--output",
            "-",
        ],
        yaml_block(&snippet, "db_password").as_bytes(),
    );
    assert_eq!(got, value.as_bytes());
}

/// The content of the block scalar `key` as a YAML parser delivers it.
fn yaml_block(yaml: &str, key: &str) -> String {
    let docs = YamlLoader::load_from_str(yaml).unwrap();
    docs[0][key].as_str().unwrap().to_string()
}

#[test]
fn prov_reads_what_ansible_vault_writes() {
    let Some(bin) = ansible_or_skip("prov_reads_what_ansible_vault_writes") else {
        return;
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let secrets = all_secrets();
    for i in 0..4 {
        let len = rng.gen_range(0..1500);
        let plain: Vec<u8> = (0..len).map(|_| rng.r#gen::<u8>()).collect();
        let id = ["default", "dev", "prod", "dev"][i];
        let text = ansible(
            &bin,
            &[
                "encrypt",
                "--vault-id",
                &format!("{id}@{}", pw(id)),
                "--output",
                "-",
            ],
            &plain,
        );
        let text = String::from_utf8(text).unwrap();
        let d = decrypt_detailed(&text, &secrets, "ansible output").unwrap();
        assert_eq!(d.plaintext.as_slice(), plain.as_slice(), "case {i}");
        assert_eq!(d.secret.id(), id);
    }
    // encrypt_string output, through a YAML parser.
    let snippet = ansible(
        &bin,
        &[
            "encrypt_string",
            "--vault-id",
            &format!("prod@{}", pw("prod")),
            "--name",
            "k",
            "v a l u e",
        ],
        b"",
    );
    let snippet = String::from_utf8(snippet).unwrap();
    let plain = decrypt(&yaml_block(&snippet, "k"), &secrets).unwrap();
    assert_eq!(plain.as_slice(), b"v a l u e");
}

#[test]
fn same_salt_same_bytes_as_ansible_vault() {
    let Some(bin) = ansible_or_skip("same_salt_same_bytes_as_ansible_vault") else {
        return;
    };
    // ansible-vault takes a fixed salt from ANSIBLE_VAULT_ENCRYPT_SALT; with it both tools must
    // write identical files.
    use std::io::Write;
    let salt = "prov-fixed-salt-for-this-test";
    let plain = fixture_bytes("multiline.plain");
    let mut child = Command::new(&bin)
        .args([
            "encrypt",
            "--vault-id",
            &format!("dev@{}", pw("dev")),
            "--output",
            "-",
        ])
        .env("ANSIBLE_VAULT_ENCRYPT_SALT", salt)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&plain).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let ours =
        encrypt_with_salt(&plain, &fixture_secret("dev"), Some("dev"), salt.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ours);
}
