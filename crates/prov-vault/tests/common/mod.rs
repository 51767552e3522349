//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clap::Parser;
use prov_vault::{VaultCommand, VaultEnv, VaultError, VaultIo, VaultPasswords, VaultSecret};

/// Path of a committed fixture.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Content of a committed fixture.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Content of a committed fixture as text.
pub fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture_bytes(name)).expect("fixture is UTF-8")
}

/// The password of a fixture password file, read the way a user's file is.
pub fn fixture_secret(id: &str) -> VaultSecret {
    VaultSecret::from_file(id, &fixture(&format!("{id}.password"))).expect("fixture password")
}

/// All three fixture secrets.
pub fn all_secrets() -> VaultPasswords {
    ["default", "dev", "prod"]
        .into_iter()
        .map(fixture_secret)
        .collect()
}

/// An environment that never prompts (as in CI).
pub fn ci_env() -> VaultEnv {
    VaultEnv {
        password_file: None,
        ci: true,
        stdin_is_terminal: false,
        editor: None,
    }
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: VaultCommand,
}

/// What a CLI run produced.
pub struct Output {
    pub result: Result<(), VaultError>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Parses `args` (without the program name) as a vault subcommand and runs it.
pub fn run_cli(args: &[&str], stdin: &[u8], env: VaultEnv) -> Output {
    let argv = std::iter::once("vault").chain(args.iter().copied());
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("bad test args {args:?}: {e}"));
    let mut input = stdin;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let result = {
        let mut io = VaultIo {
            stdin: &mut input,
            stdout: &mut stdout,
            stderr: &mut stderr,
            env,
        };
        prov_vault::run(cli.command, &mut io)
    };
    Output {
        result,
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Writes an executable script.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Path to ansible-vault: `ANSIBLE_VAULT_BIN`, else `ansible-vault` on PATH.
pub fn ansible_vault() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ANSIBLE_VAULT_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("ansible-vault"))
            .find(|p| p.is_file())
    })
}
