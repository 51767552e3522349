//! `prov`: agentless provisioning with Ansible's habits. This binary is a thin layer: it parses
//! the command line, wires the engine to transports and output sinks, and maps outcomes to exit
//! codes (see docs/ci.md).

mod cli;
mod connector;
mod exit;
mod output;
mod prompt;
mod run;
mod secrets;
mod stdout;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, InventoryView};
use crate::exit::ExitCode;
use crate::stdout::{errln, outln};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => ExitCode::Usage as i32,
            };
            // Help or version text that could not be written is not a success either.
            let code = match e.print() {
                Err(_) => ExitCode::Usage as i32,
                Ok(()) => code,
            };
            std::process::exit(code);
        }
    };
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            errln!("prov: error: {e:#}");
            ExitCode::Usage
        }
    };
    // Output that could not be written (stdout on a full disk, the JUnit report) is never
    // reported as success.
    stdout::flush();
    let code = if stdout::failed() {
        code.after_lost_output()
    } else {
        code
    };
    std::process::exit(code as i32);
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Inventory(args) => {
            let (view, opts) = match args.resolve() {
                Ok(v) => v,
                Err(msg) => {
                    errln!("prov inventory: {msg}");
                    return Ok(ExitCode::Usage);
                }
            };
            let (inv, redactor) = run::load_inventory(&opts.inventory, &opts.vault)?;
            // Vault values are masked in everything shown.
            let mut shown = match view {
                InventoryView::List => inv.to_list_json(),
                InventoryView::Graph => serde_json::Value::String(inv.graph()),
                InventoryView::Host(name) => match inv.host_json(&name) {
                    serde_json::Value::Null => {
                        errln!("prov inventory: no host `{name}` in the inventory");
                        return Ok(ExitCode::Usage);
                    }
                    v => v,
                },
            };
            redactor.redact_json(&mut shown);
            match shown {
                serde_json::Value::String(text) => outln!("{text}"),
                other => outln!("{}", serde_json::to_string_pretty(&other)?),
            }
            Ok(ExitCode::Ok)
        }
        Command::Vault(cmd) => {
            prov_vault::run_process(cmd)?;
            Ok(ExitCode::Ok)
        }
        Command::Lab(cmd) => {
            prov_lab::run(cmd)?;
            Ok(ExitCode::Ok)
        }
        Command::Lint {
            playbook,
            inventory,
            extra_vars,
            dialect,
            vault,
        } => run::lint(&playbook, dialect, &inventory, &extra_vars, &vault),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "prov", &mut buf);
            stdout::write_bytes(&buf);
            Ok(ExitCode::Ok)
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            stdout::write_bytes(&buf);
            Ok(ExitCode::Ok)
        }
    }
}
