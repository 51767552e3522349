//! The command line, Ansible-shaped where Ansible has a flag for it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Agentless provisioning with Ansible's habits, over SSH, in parallel.
#[derive(Debug, Parser)]
#[command(name = "prov", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook against an inventory.
    Run(Box<RunArgs>),
    /// Show the inventory (`list`, `graph`, `host NAME`, or Ansible's `--list`, `--graph`,
    /// `--host NAME`; `-i` goes before or after the subcommand).
    Inventory(Box<InventoryArgs>),
    /// Encrypted secrets (Ansible Vault format).
    #[command(subcommand)]
    Vault(prov_vault::VaultCommand),
    /// Real test hosts on this machine (Linux, root).
    #[command(subcommand)]
    Lab(prov_lab::LabCommand),
    /// Check a playbook, its roles and templates and the inventory without connecting.
    Lint {
        /// The playbook.
        playbook: PathBuf,
        /// Inventory file or folder (repeatable). With it, lint also reports names that no
        /// variable anywhere defines.
        #[arg(short = 'i', long = "inventory")]
        inventory: Vec<PathBuf>,
        /// Extra variables, as for `prov run` (`k=v`, JSON, `@file`; repeatable).
        #[arg(short = 'e', long = "extra-vars")]
        extra_vars: Vec<String>,
        /// Read the playbook's expressions in this dialect, whatever its `prov.toml` says.
        #[arg(long, value_enum)]
        dialect: Option<DialectArg>,
        #[command(flatten)]
        vault: prov_vault::PasswordArgs,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// `prov inventory`: what to show, and the inventory options, which are accepted before and
/// after the subcommand (`prov inventory -i INV list` and `prov inventory list -i INV`).
#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(flatten)]
    pub opts: InventoryOpts,
    /// Every group and host with their variables, as JSON (as `list`; Ansible's form).
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    pub list: bool,
    /// The group tree (as `graph`; Ansible's form).
    #[arg(long, conflicts_with = "host")]
    pub graph: bool,
    /// One host's resolved variables (as `host NAME`; Ansible's form).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    #[command(subcommand)]
    pub command: Option<InventoryCommand>,
}

/// The options every form of `prov inventory` takes.
#[derive(Debug, Clone, Default, Args)]
pub struct InventoryOpts {
    /// Inventory file or folder (repeatable).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    #[command(flatten)]
    pub vault: prov_vault::PasswordArgs,
}

impl InventoryOpts {
    /// Both sets of options together (those given before the subcommand, then after).
    pub fn merge(mut self, other: InventoryOpts) -> Self {
        self.inventory.extend(other.inventory);
        self.vault
            .vault_password_files
            .extend(other.vault.vault_password_files);
        self.vault.vault_ids.extend(other.vault.vault_ids);
        self.vault.ask_vault_password |= other.vault.ask_vault_password;
        self
    }
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Every group and host with their variables, as JSON.
    List {
        #[command(flatten)]
        opts: InventoryOpts,
    },
    /// The group tree.
    Graph {
        #[command(flatten)]
        opts: InventoryOpts,
    },
    /// One host's resolved variables (secrets masked).
    Host {
        /// Host name.
        name: String,
        #[command(flatten)]
        opts: InventoryOpts,
    },
}

/// What `prov inventory` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryView {
    List,
    Graph,
    Host(String),
}

impl InventoryArgs {
    /// The view asked for and all the options, or why the command line is not usable.
    pub fn resolve(self) -> Result<(InventoryView, InventoryOpts), String> {
        let flag = if self.list {
            Some(InventoryView::List)
        } else if self.graph {
            Some(InventoryView::Graph)
        } else {
            self.host.map(InventoryView::Host)
        };
        let (sub, opts) = match self.command {
            None => (None, self.opts),
            Some(InventoryCommand::List { opts }) => {
                (Some(InventoryView::List), self.opts.merge(opts))
            }
            Some(InventoryCommand::Graph { opts }) => {
                (Some(InventoryView::Graph), self.opts.merge(opts))
            }
            Some(InventoryCommand::Host { name, opts }) => {
                (Some(InventoryView::Host(name)), self.opts.merge(opts))
            }
        };
        let view = match (flag, sub) {
            (Some(_), Some(_)) => {
                return Err(
                    "give either a subcommand (list, graph, host NAME) or --list/--graph/--host NAME, not both".into(),
                );
            }
            (Some(v), None) | (None, Some(v)) => v,
            (None, None) => {
                return Err(
                    "say what to show: list, graph or host NAME (or --list, --graph, --host NAME)"
                        .into(),
                );
            }
        };
        if opts.inventory.is_empty() {
            return Err("no inventory given: use -i INVENTORY (a file or a folder)".into());
        }
        Ok((view, opts))
    }
}

/// Output format on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable lines and a recap.
    Text,
    /// JSON Lines, one event per line (docs/output.md).
    Json,
}

/// The dialect of expressions in a playbook's YAML (overrides `prov.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// prov's own template language.
    Tera,
    /// Jinja2, as Ansible renders it.
    Jinja2,
}

impl From<DialectArg> for prov_engine::template::Dialect {
    fn from(d: DialectArg) -> Self {
        match d {
            DialectArg::Tera => Self::Tera,
            DialectArg::Jinja2 => Self::Jinja2,
        }
    }
}

/// Host key checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HostKeyChecking {
    /// Unknown and changed keys are refused.
    Strict,
    /// New keys are recorded; changed keys are refused.
    AcceptNew,
    /// No checking (a warning is printed).
    Off,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook.
    pub playbook: PathBuf,
    /// Read the playbook's expressions in this dialect, whatever its `prov.toml` says
    /// (without one, YAML is Jinja2 as in Ansible).
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,
    /// Inventory file or folder (repeatable).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Limit the run to hosts matching this pattern.
    #[arg(short = 'l', long)]
    pub limit: Option<String>,
    /// Only run tasks with these tags (comma-separated, repeatable).
    #[arg(short = 't', long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long, value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Extra variables: key=value, JSON/YAML, or @file (repeatable; highest precedence).
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Hosts worked on at once.
    #[arg(short = 'f', long, default_value_t = 50)]
    pub forks: usize,
    /// Dry run: show what would change, change nothing.
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show diffs of what changes.
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// More output (-v: task results).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Run tasks with privilege escalation (sudo).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    /// The user to become.
    #[arg(long)]
    pub become_user: Option<String>,
    /// Ask for the become (sudo) password on the terminal.
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,
    /// Connect as this user.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Private key file.
    #[arg(long = "private-key", visible_alias = "key-file")]
    pub private_key: Option<PathBuf>,
    /// Connection type override (`local` or `ssh`).
    #[arg(short = 'c', long)]
    pub connection: Option<String>,
    /// OpenSSH client config file.
    #[arg(short = 'F', long = "ssh-config")]
    pub ssh_config: Option<PathBuf>,
    /// A known_hosts file, checked before the default ones; `accept-new` records new keys in it.
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,
    /// Host key checking mode.
    #[arg(long, value_enum, default_value_t = HostKeyChecking::Strict)]
    pub host_key_checking: HostKeyChecking,
    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Extra attempts when connecting to a host, or reconnecting after its connection dropped,
    /// fails (a host's `ansible_ssh_retries` wins). Waits 1 s, 2 s, 4 s... in between.
    #[arg(long, default_value_t = 0)]
    pub ssh_retries: u32,
    /// Seconds a remote command may take.
    #[arg(long = "timeout")]
    pub task_timeout: Option<u64>,
    #[command(flatten)]
    pub vault: prov_vault::PasswordArgs,
    /// List the hosts the plays would run on, and exit.
    #[arg(long)]
    pub list_hosts: bool,
    /// List the tasks, and exit.
    #[arg(long)]
    pub list_tasks: bool,
    /// Check the playbook and inventory (YAML, modules, arguments), and exit.
    #[arg(long)]
    pub syntax_check: bool,
    /// Start at the task with this name.
    #[arg(long)]
    pub start_at_task: Option<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// At the end, the slowest tasks and hosts (as Ansible's profile_tasks callback; console
    /// output only: JSON events carry every duration).
    #[arg(long)]
    pub profile_tasks: bool,
    /// With --check: exit 5 when changes are pending, 0 when none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// With --check --detailed-exitcode: tasks that depend on values known only after apply
    /// count as pending changes (exit 5); by default they are listed but exit 0.
    #[arg(long)]
    pub strict_unknowns: bool,
}
