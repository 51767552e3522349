//! Try the lab without the `prov` binary: `cargo run -p prov-lab --example lab -- up --hosts 3`.

use clap::Parser;
use prov_lab::LabCommand;

/// Stand-alone `prov lab`.
#[derive(Parser)]
#[command(name = "lab", about = "prov lab: real test hosts on this machine")]
struct Cli {
    #[command(subcommand)]
    cmd: LabCommand,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = prov_lab::run(cli.cmd) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
