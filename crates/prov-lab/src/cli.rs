//! The `prov lab ...` command line.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::LabError;
use crate::lab::{DEFAULT_STATE_DIR, Lab};

/// Options shared by every lab command.
#[derive(Debug, Clone, Args)]
pub struct LabOpts {
    /// Lab state directory (base rootfs cache, keys, hosts' disks).
    #[arg(long, env = "PROV_LAB_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
}

/// `prov lab` subcommands: real test hosts (namespaces + systemd) on this machine.
#[derive(Debug, Clone, Subcommand)]
pub enum LabCommand {
    /// Create/boot hosts lab1..labN (idempotent; shrinks the lab when N is smaller).
    Up {
        /// Number of hosts.
        #[arg(long, default_value_t = 3)]
        hosts: usize,
        /// Where to write hosts.yml.
        #[arg(long, default_value = "inventories/lab")]
        inventory_dir: PathBuf,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Remove every host, the bridge and the cgroups.
    Down {
        /// Also delete the cached base rootfs, the local repository and the lab key.
        #[arg(long)]
        purge: bool,
        /// Where `up` wrote hosts.yml (removed if the lab wrote it).
        #[arg(long, default_value = "inventories/lab")]
        inventory_dir: PathBuf,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Show every host: address, state (running/stopped/cut), PID.
    Status {
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Open an SSH session (OpenSSH client with the lab's ssh_config) to a host.
    Ssh {
        /// Host name (lab1, ...).
        host: String,
        /// Command to run instead of a login shell.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Run a command inside a host without SSH (nsenter).
    Exec {
        /// Host name (lab1, ...).
        host: String,
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Power a host off (its disk is kept).
    Stop {
        /// Host name.
        host: String,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Power a host on and wait until it is ready.
    Start {
        /// Host name.
        host: String,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Give hosts a fresh disk (recreated from the base; same name, address and host keys) and
    /// boot them again; other hosts keep running.
    Reset {
        /// Host names (lab1, ...).
        #[arg(required = true)]
        hosts: Vec<String>,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Partition a host from the network.
    Cut {
        /// Host name.
        host: String,
        #[command(flatten)]
        opts: LabOpts,
    },
    /// Reconnect a host cut with `cut`.
    Heal {
        /// Host name.
        host: String,
        #[command(flatten)]
        opts: LabOpts,
    },
}

/// Runs one lab command, printing results on standard output.
pub fn run(cmd: LabCommand) -> Result<(), LabError> {
    match cmd {
        LabCommand::Up {
            hosts,
            inventory_dir,
            opts,
        } => {
            let lab = Lab::open(opts.state_dir)?
                .with_inventory_dir(inventory_dir)
                .with_progress(true);
            let r = lab.up(hosts)?;
            if let Some(t) = r.base_build {
                println!("base rootfs built in {:.1}s", t.as_secs_f64());
            }
            println!(
                "lab up: {} host(s) ready in {:.1}s (created {}, booted {}, removed {})",
                r.hosts.len(),
                r.elapsed.as_secs_f64(),
                r.created.len(),
                r.started.len(),
                r.removed.len()
            );
            if let Some(inv) = &r.inventory {
                println!("inventory: {}", inv.display());
            }
            println!("ssh_config: {}", lab.ssh_config().display());
            Ok(())
        }
        LabCommand::Down {
            purge,
            inventory_dir,
            opts,
        } => {
            let lab = Lab::open(opts.state_dir)?
                .with_inventory_dir(inventory_dir)
                .with_progress(true);
            lab.down(purge)?;
            println!("lab down{}", if purge { " (purged)" } else { "" });
            Ok(())
        }
        LabCommand::Status { opts } => {
            let lab = Lab::open(opts.state_dir)?;
            let st = lab.status()?;
            if st.is_empty() {
                println!("no lab hosts (run `prov lab up`)");
                return Ok(());
            }
            println!(
                "{:<8} {:<12} {:<8} {:>8}",
                "HOST", "ADDRESS", "STATE", "PID"
            );
            for h in st {
                let pid = h.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{:<8} {:<12} {:<8} {:>8}",
                    h.name,
                    h.address.to_string(),
                    h.state.to_string(),
                    pid
                );
            }
            Ok(())
        }
        LabCommand::Ssh {
            host,
            command,
            opts,
        } => Lab::open(opts.state_dir)?.ssh(&host, &command),
        LabCommand::Exec {
            host,
            command,
            opts,
        } => {
            let lab = Lab::open(opts.state_dir)?;
            let argv: Vec<&str> = command.iter().map(String::as_str).collect();
            let out = lab.exec(&host, &argv)?;
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            if out.success() {
                Ok(())
            } else {
                Err(LabError::Other(format!(
                    "command exited with {}",
                    out.code
                        .map(|c| format!("status {c}"))
                        .unwrap_or_else(|| "a signal".into())
                )))
            }
        }
        LabCommand::Stop { host, opts } => {
            Lab::open(opts.state_dir)?.stop(&host)?;
            println!("{host} stopped");
            Ok(())
        }
        LabCommand::Start { host, opts } => {
            Lab::open(opts.state_dir)?
                .with_progress(true)
                .start(&host)?;
            println!("{host} running");
            Ok(())
        }
        LabCommand::Reset { hosts, opts } => {
            let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
            let t = Lab::open(opts.state_dir)?
                .with_progress(true)
                .reset(&names)?;
            println!(
                "{} reset (fresh disk, booted) in {:.1}s",
                names.join(" "),
                t.as_secs_f64()
            );
            Ok(())
        }
        LabCommand::Cut { host, opts } => {
            Lab::open(opts.state_dir)?.cut(&host)?;
            println!("{host} cut from the network");
            Ok(())
        }
        LabCommand::Heal { host, opts } => {
            Lab::open(opts.state_dir)?.heal(&host)?;
            println!("{host} reconnected");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Top {
        #[command(subcommand)]
        cmd: LabCommand,
    }

    fn parse(args: &[&str]) -> LabCommand {
        let mut v = vec!["lab"];
        v.extend_from_slice(args);
        Top::try_parse_from(v).unwrap().cmd
    }

    #[test]
    fn up_defaults_and_options() {
        match parse(&["up"]) {
            LabCommand::Up {
                hosts,
                inventory_dir,
                ..
            } => {
                assert_eq!(hosts, 3);
                assert_eq!(inventory_dir, PathBuf::from("inventories/lab"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "up",
            "--hosts",
            "7",
            "--state-dir",
            "/x",
            "--inventory-dir",
            "inv",
        ]) {
            LabCommand::Up {
                hosts,
                inventory_dir,
                opts,
            } => {
                assert_eq!(hosts, 7);
                assert_eq!(inventory_dir, PathBuf::from("inv"));
                assert_eq!(opts.state_dir, PathBuf::from("/x"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ssh_and_exec_take_trailing_commands() {
        match parse(&["ssh", "lab1", "--", "uname", "-a"]) {
            LabCommand::Ssh { host, command, .. } => {
                assert_eq!(host, "lab1");
                assert_eq!(command, vec!["uname", "-a"]);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["ssh", "lab2"]) {
            LabCommand::Ssh { command, .. } => assert!(command.is_empty()),
            other => panic!("{other:?}"),
        }
        match parse(&["exec", "lab1", "ls", "-l", "/"]) {
            LabCommand::Exec { command, .. } => assert_eq!(command, vec!["ls", "-l", "/"]),
            other => panic!("{other:?}"),
        }
        assert!(Top::try_parse_from(["lab", "exec", "lab1"]).is_err());
        assert!(matches!(
            parse(&["down", "--purge"]),
            LabCommand::Down { purge: true, .. }
        ));
        assert!(matches!(parse(&["cut", "lab3"]), LabCommand::Cut { .. }));
        match parse(&["reset", "lab3", "lab4"]) {
            LabCommand::Reset { hosts, .. } => assert_eq!(hosts, vec!["lab3", "lab4"]),
            other => panic!("{other:?}"),
        }
        assert!(Top::try_parse_from(["lab", "reset"]).is_err());
    }
}
