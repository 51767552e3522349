//! Try the vault CLI: `cargo run -p prov-vault --example vault -- view secrets.yml --vault-password-file pw`.

use clap::Parser;
use prov_vault::VaultCommand;

/// ansible-vault compatible encryption of prov data files.
#[derive(Parser)]
#[command(name = "vault")]
struct Cli {
    #[command(subcommand)]
    command: VaultCommand,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match prov_vault::run_process(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR! {e}");
            std::process::ExitCode::from(1)
        }
    }
}
