//! The vault subcommands, run through clap parsing and `prov_vault::run` with buffers.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{ci_env, fixture, fixture_bytes, fixture_secret, run_cli, write_script};
use prov_vault::{VaultEnv, VaultError, VaultPasswords, decrypt_file, parse_header};
use yaml_rust2::YamlLoader;

fn pw(id: &str) -> String {
    fixture(&format!("{id}.password")).display().to_string()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn header_of(path: &Path) -> prov_vault::VaultHeader {
    parse_header(&std::fs::read_to_string(path).unwrap(), "test").unwrap()
}

fn only(id: &str) -> VaultPasswords {
    VaultPasswords::single(fixture_secret(id))
}

fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let dest = dir.join(name);
    std::fs::copy(fixture(name), &dest).unwrap();
    dest
}

#[test]
fn encrypt_then_decrypt_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.yml");
    std::fs::write(&file, "token: abc\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = file.to_str().unwrap();

    let out = run_cli(
        &["encrypt", f, "--vault-password-file", &pw("default")],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    assert_eq!(out.stderr, "Encryption successful\n");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{text}");
    assert!(text.lines().skip(1).all(|l| l.len() <= 80));
    let body: Vec<&str> = text.lines().skip(1).collect();
    assert!(body[..body.len() - 1].iter().all(|l| l.len() == 80));
    assert_eq!(
        mode_of(&file),
        0o600,
        "encrypted output is private, as ansible-vault writes it"
    );

    // Encrypting again is refused.
    let again = run_cli(
        &["encrypt", f, "--vault-password-file", &pw("default")],
        b"",
        ci_env(),
    );
    assert!(matches!(
        again.result,
        Err(VaultError::AlreadyEncrypted { .. })
    ));

    let out = run_cli(
        &["decrypt", f, "--vault-password-file", &pw("default")],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "token: abc\n");
}

#[test]
fn stdin_to_stdout_and_output_flag() {
    let out = run_cli(
        &["encrypt", "--vault-id", &format!("dev@{}", pw("dev"))],
        b"x: 1\n",
        ci_env(),
    );
    out.result.unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"),
        "{text}"
    );
    assert_eq!(out.stderr, "", "no status line when writing to stdout");

    let out = run_cli(
        &["decrypt", "--vault-password-file", &pw("dev")],
        text.as_bytes(),
        ci_env(),
    );
    out.result.unwrap();
    assert_eq!(out.stdout, b"x: 1\n");

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("plain.yml");
    let src = fixture("v12-prod.vault");
    let out = run_cli(
        &[
            "decrypt",
            src.to_str().unwrap(),
            "--output",
            dest.to_str().unwrap(),
            "--vault-id",
            &format!("prod@{}", pw("prod")),
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        fixture_bytes("v12-prod.plain")
    );

    let out = run_cli(
        &[
            "decrypt",
            "a",
            "b",
            "--output",
            "c",
            "--vault-password-file",
            &pw("dev"),
        ],
        b"",
        ci_env(),
    );
    assert!(matches!(out.result, Err(VaultError::Usage(ref m)) if m.contains("At most one input")));
}

#[test]
fn view_writes_plaintext_to_stdout() {
    let out = run_cli(
        &[
            "view",
            fixture("multiline.vault").to_str().unwrap(),
            fixture("v12-dev.vault").to_str().unwrap(),
            "--vault-password-file",
            &pw("default"),
            "--vault-id",
            &format!("dev@{}", pw("dev")),
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    let mut expected = fixture_bytes("multiline.plain");
    expected.extend(fixture_bytes("v12-dev.plain"));
    assert_eq!(out.stdout, expected);
}

#[test]
fn wrong_password_error_names_file_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(dir.path(), "v11.vault");
    let before = std::fs::read(&file).unwrap();
    let out = run_cli(
        &[
            "decrypt",
            file.to_str().unwrap(),
            "--vault-password-file",
            &pw("dev"),
        ],
        b"",
        ci_env(),
    );
    let err = out.result.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Decryption failed (no vault secret matched) for {}",
            file.display()
        )
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn several_vault_ids_and_encrypt_vault_id() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.yml");
    std::fs::write(&file, "a: 1\n").unwrap();
    let f = file.to_str().unwrap();
    let dev = format!("dev@{}", pw("dev"));
    let prod = format!("prod@{}", pw("prod"));

    let out = run_cli(
        &["encrypt", f, "--vault-id", &dev, "--vault-id", &prod],
        b"",
        ci_env(),
    );
    let err = out.result.unwrap_err();
    assert!(
        err.to_string()
            .contains("Specify the vault-id to encrypt with --encrypt-vault-id"),
        "{err}"
    );
    assert!(err.to_string().contains("dev,prod"), "{err}");

    let out = run_cli(
        &[
            "encrypt",
            f,
            "--vault-id",
            &dev,
            "--vault-id",
            &prod,
            "--encrypt-vault-id",
            "staging",
        ],
        b"",
        ci_env(),
    );
    let err = out.result.unwrap_err();
    assert!(
        err.to_string().contains("--encrypt-vault-id=staging"),
        "{err}"
    );

    let out = run_cli(
        &[
            "encrypt",
            f,
            "--vault-id",
            &dev,
            "--vault-id",
            &prod,
            "--encrypt-vault-id",
            "prod",
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    assert_eq!(header_of(&file).vault_id.as_deref(), Some("prod"));
    assert_eq!(
        decrypt_file(&file, &only("prod")).unwrap().as_slice(),
        b"a: 1\n"
    );
    assert!(decrypt_file(&file, &only("dev")).is_err());

    // Decrypting with both ids given works for files of either id.
    let out = run_cli(
        &[
            "view",
            f,
            fixture("v12-dev.vault").to_str().unwrap(),
            "--vault-id",
            &dev,
            "--vault-id",
            &prod,
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    let mut expected = b"a: 1\n".to_vec();
    expected.extend(fixture_bytes("v12-dev.plain"));
    assert_eq!(out.stdout, expected);
}

#[test]
fn rekey_changes_the_password_and_keeps_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(dir.path(), "v11.vault");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::read(&file).unwrap();
    let f = file.to_str().unwrap();

    let out = run_cli(
        &[
            "rekey",
            f,
            "--vault-password-file",
            &pw("default"),
            "--new-vault-password-file",
            &pw("prod"),
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    assert_eq!(out.stderr, "Rekey successful\n");
    assert_ne!(std::fs::read(&file).unwrap(), before);
    assert_eq!(mode_of(&file), 0o640);
    assert_eq!(
        header_of(&file).vault_id,
        None,
        "new password file gives a 1.1 header"
    );
    assert!(matches!(
        decrypt_file(&file, &only("default")),
        Err(VaultError::NoMatchingSecret { .. })
    ));
    assert_eq!(
        decrypt_file(&file, &only("prod")).unwrap().as_slice(),
        fixture_bytes("v11.plain").as_slice()
    );

    // To a new vault id.
    let out = run_cli(
        &[
            "rekey",
            f,
            "--vault-password-file",
            &pw("prod"),
            "--new-vault-id",
            &format!("dev@{}", pw("dev")),
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    let header = header_of(&file);
    assert_eq!(
        (header.version.as_str(), header.vault_id.as_deref()),
        ("1.2", Some("dev"))
    );
    assert_eq!(
        decrypt_file(&file, &only("dev")).unwrap().as_slice(),
        fixture_bytes("v11.plain").as_slice()
    );

    // Without a new password and no terminal: a clear error naming the flag.
    let out = run_cli(
        &["rekey", f, "--vault-password-file", &pw("dev")],
        b"",
        ci_env(),
    );
    let err = out.result.unwrap_err();
    assert!(
        err.to_string().contains("--new-vault-password-file"),
        "{err}"
    );

    // Wrong old password: error names the file, file unchanged.
    let current = std::fs::read(&file).unwrap();
    let out = run_cli(
        &[
            "rekey",
            f,
            "--vault-password-file",
            &pw("prod"),
            "--new-vault-password-file",
            &pw("default"),
        ],
        b"",
        ci_env(),
    );
    assert!(out.result.unwrap_err().to_string().contains(f));
    assert_eq!(std::fs::read(&file).unwrap(), current);
}

#[test]
fn encrypt_string_prints_the_yaml_snippet() {
    let out = run_cli(
        &[
            "encrypt-string",
            "--vault-password-file",
            &pw("default"),
            "--name",
            "db_password",
            "hunter2",
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("db_password: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"),
        "{text}"
    );
    assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.starts_with("          ") && l.len() <= 90)
    );
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let vault = docs[0]["db_password"].as_str().unwrap();
    let plain = prov_vault::decrypt(vault, &only("default")).unwrap();
    assert_eq!(plain.as_slice(), b"hunter2");

    // Several strings, names matched by position, ansible's stderr delimiters.
    let out = run_cli(
        &[
            "encrypt_string",
            "--vault-id",
            &format!("dev@{}", pw("dev")),
            "-n",
            "a",
            "-n",
            "b",
            "one",
            "two",
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.stderr
            .contains("(\"b\", the string #2 from the command line args)"),
        "{}",
        out.stderr
    );
    let docs = YamlLoader::load_from_str(&text).unwrap();
    for (key, want) in [("a", "one"), ("b", "two")] {
        let vault = docs[0][key].as_str().unwrap();
        assert!(vault.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"));
        assert_eq!(
            prov_vault::decrypt(vault, &only("dev")).unwrap().as_slice(),
            want.as_bytes()
        );
    }

    // From stdin with --stdin-name; empty stdin is refused.
    let out = run_cli(
        &[
            "encrypt-string",
            "--vault-password-file",
            &pw("dev"),
            "--stdin-name",
            "token",
        ],
        b"from stdin",
        ci_env(),
    );
    out.result.unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let vault = docs[0]["token"].as_str().unwrap();
    assert_eq!(
        prov_vault::decrypt(vault, &only("dev")).unwrap().as_slice(),
        b"from stdin"
    );
    let out = run_cli(
        &["encrypt-string", "--vault-password-file", &pw("dev")],
        b"",
        ci_env(),
    );
    assert!(
        out.result
            .unwrap_err()
            .to_string()
            .contains("stdin was empty")
    );
}

#[test]
fn executable_password_files() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("get-pass.sh");
    write_script(&script, "#!/bin/sh\nprintf 'dev-s3cret\\n'\n");
    let out = run_cli(
        &[
            "view",
            fixture("v12-dev.vault").to_str().unwrap(),
            "--vault-password-file",
            script.to_str().unwrap(),
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    assert_eq!(out.stdout, fixture_bytes("v12-dev.plain"));

    // A *-client script gets --vault-id LABEL; exit 2 means "unknown id".
    let client = dir.path().join("vault-pass-client.py");
    write_script(
        &client,
        "#!/bin/sh\n[ \"$1\" = --vault-id ] || exit 1\ncase \"$2\" in\n  dev) echo dev-s3cret ;;\n  \
         prod) printf 'pr0d pass with spaces' ;;\n  *) echo \"no secret for $2\" >&2; exit 2 ;;\nesac\n",
    );
    let c = client.to_str().unwrap();
    let out = run_cli(
        &[
            "view",
            fixture("v12-dev.vault").to_str().unwrap(),
            fixture("v12-prod.vault").to_str().unwrap(),
            "--vault-id",
            &format!("dev@{c}"),
            "--vault-id",
            &format!("prod@{c}"),
        ],
        b"",
        ci_env(),
    );
    out.result.unwrap();
    let mut expected = fixture_bytes("v12-dev.plain");
    expected.extend(fixture_bytes("v12-prod.plain"));
    assert_eq!(out.stdout, expected);
    let out = run_cli(
        &["view", "x", "--vault-id", &format!("qa@{c}")],
        b"",
        ci_env(),
    );
    let err = out.result.unwrap_err().to_string();
    assert!(
        err.contains("no secret for vault-id=qa") && err.contains("no secret for qa"),
        "{err}"
    );

    // A failing script and an empty password are errors naming the source.
    let failing = dir.path().join("fail.sh");
    write_script(&failing, "#!/bin/sh\nexit 3\n");
    let out = run_cli(
        &[
            "view",
            "x",
            "--vault-password-file",
            failing.to_str().unwrap(),
        ],
        b"",
        ci_env(),
    );
    let err = out.result.unwrap_err().to_string();
    assert!(
        err.contains("fail.sh") && err.contains("exited with 3"),
        "{err}"
    );
    let empty = dir.path().join("empty.pw");
    std::fs::write(&empty, "  \n").unwrap();
    let out = run_cli(
        &[
            "view",
            "x",
            "--vault-password-file",
            empty.to_str().unwrap(),
        ],
        b"",
        ci_env(),
    );
    let err = out.result.unwrap_err().to_string();
    assert!(err.contains("empty.pw") && err.contains("empty"), "{err}");
    let out = run_cli(
        &["view", "x", "--vault-password-file", "/nonexistent/pw"],
        b"",
        ci_env(),
    );
    assert!(
        out.result
            .unwrap_err()
            .to_string()
            .contains("was not found")
    );
}

#[test]
fn missing_password_without_terminal_says_which_flag() {
    let file = fixture("v11.vault");
    let f = file.to_str().unwrap();
    let out = run_cli(&["view", f], b"", ci_env());
    let err = out.result.unwrap_err().to_string();
    for needle in [
        "--vault-password-file",
        "--vault-id",
        "PROV_VAULT_PASSWORD_FILE",
        "CI is set",
    ] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
    let no_tty = VaultEnv {
        ci: false,
        ..ci_env()
    };
    let err = run_cli(&["view", f], b"", no_tty.clone())
        .result
        .unwrap_err()
        .to_string();
    assert!(err.contains("stdin is not a terminal"), "{err}");
    let err = run_cli(&["view", f, "--vault-id", "dev@prompt"], b"", no_tty)
        .result
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stdin is not a terminal") && err.contains("vault id dev"),
        "{err}"
    );

    // The environment variable supplies it.
    let env = VaultEnv {
        password_file: Some(fixture("default.password")),
        ..ci_env()
    };
    let out = run_cli(&["view", f], b"", env);
    out.result.unwrap();
    assert_eq!(out.stdout, fixture_bytes("v11.plain"));
}

/// An editor script: logs the file it got and its mode, then runs `action` on it.
fn editor(dir: &Path, action: &str) -> (String, PathBuf) {
    let log = dir.join("editor.log");
    let script = dir.join("fake-editor.sh");
    write_script(
        &script,
        &format!(
            "#!/bin/sh\nfor f; do :; done\necho \"$f\" > '{log}'\nstat -c %a \"$f\" >> '{log}'\n{action}\n",
            log = log.display()
        ),
    );
    // With an extra argument, to check $EDITOR is split like a shell would.
    (format!("{} --wait", script.display()), log)
}

fn editor_env(cmd: String) -> VaultEnv {
    VaultEnv {
        editor: Some(cmd),
        ..ci_env()
    }
}

fn logged_temp(log: &Path) -> (PathBuf, String) {
    let text = std::fs::read_to_string(log).unwrap();
    let mut lines = text.lines();
    let path = PathBuf::from(lines.next().unwrap());
    let mode = lines.next().unwrap().to_string();
    (path, mode)
}

#[test]
fn edit_keeps_vault_id_and_removes_the_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(dir.path(), "v12-dev.vault");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let f = file.to_str().unwrap();
    let (cmd, log) = editor(dir.path(), "echo 'added: yes' >> \"$f\"");
    let out = run_cli(
        &["edit", f, "--vault-id", &format!("dev@{}", pw("dev"))],
        b"",
        editor_env(cmd),
    );
    out.result.unwrap();
    let (temp, mode) = logged_temp(&log);
    assert_eq!(mode, "600");
    assert!(!temp.exists(), "temp file {} left behind", temp.display());
    assert_eq!(temp.extension().and_then(|e| e.to_str()), Some("vault"));
    let mut expected = fixture_bytes("v12-dev.plain");
    expected.extend(b"added: yes\n");
    assert_eq!(
        decrypt_file(&file, &only("dev")).unwrap().as_slice(),
        expected.as_slice()
    );
    assert_eq!(header_of(&file).vault_id.as_deref(), Some("dev"));
    assert_eq!(mode_of(&file), 0o640);

    // No change: the file is not rewritten.
    let before = std::fs::read(&file).unwrap();
    let (cmd, _) = editor(dir.path(), "true");
    run_cli(
        &["edit", f, "--vault-password-file", &pw("dev")],
        b"",
        editor_env(cmd),
    )
    .result
    .unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn failing_editor_saves_nothing_and_removes_the_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_fixture(dir.path(), "v11.vault");
    let before = std::fs::read(&file).unwrap();
    let (cmd, log) = editor(dir.path(), "echo 'half edit' >> \"$f\"; exit 4");
    let out = run_cli(
        &[
            "edit",
            file.to_str().unwrap(),
            "--vault-password-file",
            &pw("default"),
        ],
        b"",
        editor_env(cmd),
    );
    let err = out.result.unwrap_err();
    assert!(matches!(err, VaultError::Editor { .. }), "{err:?}");
    let (temp, _) = logged_temp(&log);
    assert!(!temp.exists(), "temp file {} left behind", temp.display());
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // An editor that cannot start.
    let out = run_cli(
        &[
            "edit",
            file.to_str().unwrap(),
            "--vault-password-file",
            &pw("default"),
        ],
        b"",
        editor_env("/nonexistent/editor".into()),
    );
    assert!(out.result.unwrap_err().to_string().contains("cannot start"));
}

#[test]
fn create_new_file_with_editor() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new/dir/vault.yml");
    let f = file.to_str().unwrap();
    let (cmd, log) = editor(dir.path(), "printf 'created: true\\n' > \"$f\"");
    let out = run_cli(
        &["create", f, "--vault-id", &format!("prod@{}", pw("prod"))],
        b"",
        editor_env(cmd.clone()),
    );
    out.result.unwrap();
    assert!(out.stderr.contains("does not exist, creating"));
    let (temp, mode) = logged_temp(&log);
    assert_eq!(mode, "600");
    assert!(!temp.exists());
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(header_of(&file).vault_id.as_deref(), Some("prod"));
    assert_eq!(
        decrypt_file(&file, &only("prod")).unwrap().as_slice(),
        b"created: true\n"
    );

    let out = run_cli(
        &["create", f, "--vault-password-file", &pw("prod")],
        b"",
        editor_env(cmd),
    );
    assert!(
        out.result
            .unwrap_err()
            .to_string()
            .contains("exists, please use 'edit' instead")
    );
}
