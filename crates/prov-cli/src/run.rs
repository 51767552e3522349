//! `prov run`: load everything first (so bad input stops the run before any host is touched),
//! then run with the chosen sinks and map the outcome to an exit code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prov_core::{EventSink, Redactor};
use prov_engine::events::EventBus;
use prov_engine::inventory::Inventory;
use prov_engine::lint;
use prov_engine::playbook::{self, Node};
use prov_engine::project::Project;
use prov_engine::runner::{RunOptions, Runner};
use prov_engine::yaml::SecretResolver;
use prov_transport::ssh::KeyRing;
use serde_json::{Map, Value};

use crate::cli::{DialectArg, OutputFormat, RunArgs};
use crate::connector::CliConnector;
use crate::exit::ExitCode;
use crate::output::{ConsoleSink, JsonSink, JunitSink};
use crate::prompt;
use crate::secrets::VaultSecrets;
use crate::stdout::{errln, outln};

/// Threads of the async runtime. A run waits on hosts, not on the CPU: two threads keep
/// hundreds of connections busy (BENCHMARKS.md), more would only add memory and contention.
const RUNTIME_THREADS: usize = 2;

fn secrets(
    vault: &prov_vault::PasswordArgs,
    redactor: Arc<Redactor>,
) -> anyhow::Result<VaultSecrets> {
    let env = prov_vault::VaultEnv::from_process();
    let asked = !vault.vault_password_files.is_empty()
        || !vault.vault_ids.is_empty()
        || vault.ask_vault_password;
    // Without any password flag or PROV_VAULT_PASSWORD_FILE, vault data is an error only when
    // some is actually found (it then names the file and the flag to use).
    let passwords = if asked || std::env::var_os(prov_vault::PASSWORD_FILE_ENV).is_some() {
        vault.load(&env, prov_vault::PromptMode::Existing)?
    } else {
        prov_vault::VaultPasswords::new()
    };
    Ok(VaultSecrets::new(passwords, redactor))
}

/// Loads the inventories named by `-i` (with vault support) and returns the redactor that
/// knows their secrets.
pub fn load_inventory(
    paths: &[PathBuf],
    vault: &prov_vault::PasswordArgs,
) -> anyhow::Result<(Inventory, Arc<Redactor>)> {
    let redactor = Arc::new(Redactor::new());
    let s = secrets(vault, redactor.clone())?;
    let inv = Inventory::load(paths, &s)?;
    Ok((inv, redactor))
}

fn parse_extra_vars(
    items: &[String],
    secrets: &dyn SecretResolver,
) -> anyhow::Result<Map<String, Value>> {
    let mut out = Map::new();
    for item in items {
        if let Some(file) = item.strip_prefix('@') {
            let doc = prov_engine::yaml::load_file(std::path::Path::new(file), secrets)?;
            match doc.value {
                Value::Object(m) => out.extend(m),
                _ => anyhow::bail!("-e @{file}: the file must hold a mapping of variables"),
            }
        } else if item.trim_start().starts_with('{') {
            let v: Value = serde_yaml_ng::from_str(item)
                .with_context(|| format!("-e {item}: not valid JSON/YAML"))?;
            match v {
                Value::Object(m) => out.extend(m),
                _ => anyhow::bail!("-e {item}: expected a mapping"),
            }
        } else {
            let map = prov_engine::playbook::parse_kv_args(item).with_context(|| {
                format!("-e {item}: expected key=value pairs, JSON/YAML or @file")
            })?;
            for (k, v) in map {
                // Values typed on the command line are YAML scalars: numbers and booleans keep their type.
                let typed = match &v {
                    Value::String(s) => serde_yaml_ng::from_str::<Value>(s)
                        .ok()
                        .filter(|t| !t.is_object() && !t.is_array())
                        .unwrap_or(v.clone()),
                    _ => v.clone(),
                };
                out.insert(k, typed);
            }
        }
    }
    Ok(out)
}

fn print_tasks(nodes: &[Node], depth: usize) {
    for n in nodes {
        match n {
            Node::Task(t) => {
                let tags = if t.common.tags.is_empty() {
                    String::new()
                } else {
                    format!("\tTAGS: [{}]", t.common.tags.join(", "))
                };
                outln!("{}{}{tags}", "  ".repeat(depth), t.name);
            }
            Node::Block(b) => {
                print_tasks(&b.block, depth);
                print_tasks(&b.rescue, depth);
                print_tasks(&b.always, depth);
            }
        }
    }
}

/// What prov says at load of a task it cannot run that is under a condition.
fn refused_when_reached(e: &prov_engine::EngineError) -> String {
    format!("{e} (the task is under a condition: it fails on a host where the condition holds)")
}

/// Loads a playbook in its project's dialect, or in `dialect` when given.
fn load_playbook(
    path: &std::path::Path,
    dialect: Option<DialectArg>,
    secrets: &dyn SecretResolver,
) -> anyhow::Result<prov_engine::playbook::Playbook> {
    let project = Project::of_playbook(path)?.with_dialect(dialect.map(Into::into));
    Ok(playbook::load_in(project, path, secrets)?)
}

/// Runs `prov lint`: loads inventory and playbook (which already rejects bad YAML, unknown
/// modules and arguments) and checks every template; prints each problem with its location.
pub fn lint(
    playbook: &std::path::Path,
    dialect: Option<DialectArg>,
    inventory: &[PathBuf],
    extra_vars: &[String],
    vault: &prov_vault::PasswordArgs,
) -> anyhow::Result<ExitCode> {
    let redactor = Arc::new(Redactor::new());
    let secrets = secrets(vault, redactor)?;
    let inventory = match inventory {
        [] => None,
        paths => Some(Inventory::load(paths, &secrets)?),
    };
    let extra_vars = parse_extra_vars(extra_vars, &secrets)?;
    let book = load_playbook(playbook, dialect, &secrets)?;
    outln!(
        "{}: expressions read as {} ({})",
        playbook.display(),
        book.project.dialect.name(),
        book.project.dialect_source()
    );
    let includes = lint::read_included_files(&book, &secrets);
    let mut problems = includes.problems;
    problems.extend(lint::lint_playbook(&book, &includes.files));
    if let Some(inventory) = &inventory {
        let vars = lint::LintVars {
            inventory,
            extra_vars: &extra_vars,
            secrets: &secrets,
        };
        problems.extend(lint::undefined_names(&book, &includes.files, &vars));
    }
    for p in &problems {
        errln!("{}", p.error);
    }
    for f in includes.files.paths() {
        outln!("{}: read as a dynamically included tasks file", f.display());
    }
    for n in &includes.notes {
        errln!("note: {}: {}", n.at, n.message);
    }
    for e in &book.refused_when_reached {
        errln!("note: {}", refused_when_reached(e));
    }
    for s in lint::check_mode_suggestions(&book, &includes.files) {
        errln!("warning: {}: {}", s.at, s.message);
    }
    if problems.is_empty() {
        outln!("{}: no problems found", playbook.display());
        Ok(ExitCode::Ok)
    } else {
        errln!("{} problem(s)", problems.len());
        Ok(ExitCode::Usage)
    }
}

/// Runs `prov run`. An error's text is masked like events are: it may quote a vault value.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let redactor = Arc::new(Redactor::new());
    run_masked(args, redactor.clone())
        .map_err(|e| anyhow::anyhow!(redactor.redact(&format!("{e:#}"))))
}

fn run_masked(args: RunArgs, redactor: Arc<Redactor>) -> anyhow::Result<ExitCode> {
    let secrets: Arc<dyn SecretResolver> = Arc::new(secrets(&args.vault, redactor.clone())?);
    if args.inventory.is_empty() {
        anyhow::bail!("no inventory given: use -i INVENTORY (a file or a folder)");
    }
    let inventory = Arc::new(Inventory::load(&args.inventory, secrets.as_ref())?);
    let book = load_playbook(&args.playbook, args.dialect, secrets.as_ref())?;
    let mut extra_vars = parse_extra_vars(&args.extra_vars, secrets.as_ref())?;
    if args.ask_become_pass {
        extra_vars.insert(
            "ansible_become_password".into(),
            Value::String(crate::prompt::ask_become_password()?),
        );
    }

    if args.syntax_check {
        for e in &book.refused_when_reached {
            errln!("warning: {}", refused_when_reached(e));
        }
        outln!("playbook: {} (syntax OK)", args.playbook.display());
        return Ok(ExitCode::Ok);
    }
    if args.list_hosts || args.list_tasks {
        for play in &book.plays {
            let mut hosts = inventory.select(&play.hosts)?;
            if let Some(l) = &args.limit {
                hosts = inventory.limit(&hosts, l)?;
            }
            outln!("play: {} ({} hosts)", play.name, hosts.len());
            if args.list_hosts {
                for h in &hosts {
                    outln!("  {h}");
                }
            }
            if args.list_tasks {
                print_tasks(&play.tasks, 1);
            }
        }
        return Ok(ExitCode::Ok);
    }

    let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
    let mut progress = None;
    match args.output {
        OutputFormat::Text => {
            let console = ConsoleSink::new(args.verbose, args.diff, args.profile_tasks);
            progress = console.progress_bar();
            sinks.push(Box::new(console));
        }
        OutputFormat::Json => sinks.push(Box::new(JsonSink::new())),
    }
    if let Some(j) = &args.junit {
        sinks.push(Box::new(JunitSink::new(j.clone())));
    }
    let keys = KeyRing::new(
        prompt::key_passphrase_from_env(&redactor),
        prompt::TerminalKeyPrompt::when_interactive(progress, redactor.clone()),
    );
    let bus = EventBus::new(sinks, redactor);
    for e in &book.refused_when_reached {
        bus.emit(prov_core::Event::Warning {
            message: refused_when_reached(e),
        });
    }
    let connector = Arc::new(CliConnector {
        keys,
        ssh_retries: args.ssh_retries,
        user: args.user.clone(),
        private_key: args.private_key.clone(),
        ssh_config: args.ssh_config.clone(),
        known_hosts: args.known_hosts.clone(),
        host_key_checking: args.host_key_checking,
        connect_timeout: Duration::from_secs(args.connect_timeout),
    });
    let opts = RunOptions {
        check: args.check,
        diff: args.diff,
        forks: args.forks.max(1),
        limit: args.limit.clone(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        start_at_task: args.start_at_task.clone(),
        extra_vars,
        become_: args.become_,
        become_user: args.become_user.clone(),
        connection: args.connection.clone(),
        task_timeout: args.task_timeout.map(Duration::from_secs),
        dialect: book.project.dialect,
    };
    let runner = Runner::new(inventory, opts, bus.clone(), connector, secrets);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (summary, signal) = rt.block_on(run_until_signal(&runner, &book, &bus))?;
    // Commands abandoned on the controller (timed out, interrupted) that ignore TERM get their
    // grace period, then KILL: none outlives prov.
    prov_transport::local::stop_abandoned(
        prov_transport::local::KILL_GRACE + Duration::from_secs(1),
    );
    bus.finish();
    let summary = summary?;
    if let Some(sig) = signal {
        return Ok(sig.exit_code());
    }
    Ok(if summary.any_failed() {
        ExitCode::TaskFailed
    } else if summary.any_unreachable() {
        ExitCode::Unreachable
    } else if args.check
        && args.detailed_exitcode
        && (summary.any_changed() || (args.strict_unknowns && summary.any_known_after_apply()))
    {
        ExitCode::ChangesPending
    } else {
        ExitCode::Ok
    })
}

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopSignal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
    /// SIGHUP (the terminal went away): handled like SIGTERM.
    Hup,
}

impl StopSignal {
    fn name(self) -> &'static str {
        match self {
            StopSignal::Int => "SIGINT",
            StopSignal::Term => "SIGTERM",
            StopSignal::Hup => "SIGHUP",
        }
    }

    fn exit_code(self) -> ExitCode {
        match self {
            StopSignal::Int => ExitCode::Interrupted,
            StopSignal::Term | StopSignal::Hup => ExitCode::Terminated,
        }
    }
}

/// Exits at once after a second signal or a stop that took too long: commands abandoned on the
/// controller are killed first (no grace left), the sinks flushed (the progress line cleared),
/// then `why` is said.
fn exit_now(bus: &EventBus, code: ExitCode, why: &str) -> ! {
    prov_transport::local::stop_abandoned(Duration::ZERO);
    bus.finish();
    errln!("{why}");
    crate::stdout::flush();
    std::process::exit(code as i32);
}

/// After the first signal, how long the run may take to stop (abandon its tasks, close its
/// connections, emit the recap) before prov exits anyway.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `book`, stopping cleanly on SIGINT, SIGTERM or SIGHUP: the tasks in flight are abandoned
/// (their commands get TERM, then KILL after a grace period; their channels are closed, so
/// half-sent files are removed by the installer's trap), the connections are closed and the
/// recap so far is emitted. A second signal, or a stop taking longer than [`STOP_GRACE`], exits
/// at once.
async fn run_until_signal(
    runner: &Runner,
    book: &playbook::Playbook,
    bus: &EventBus,
) -> anyhow::Result<(
    Result<prov_engine::runner::RunSummary, prov_engine::EngineError>,
    Option<StopSignal>,
)> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let interrupt = runner.interrupt_handle();
    let run = runner.run(book);
    tokio::pin!(run);
    let mut got: Option<StopSignal> = None;
    let deadline = tokio::time::sleep(STOP_GRACE);
    tokio::pin!(deadline);
    loop {
        let sig = tokio::select! {
            r = &mut run => return Ok((r, got)),
            _ = int.recv() => StopSignal::Int,
            _ = term.recv() => StopSignal::Term,
            _ = hup.recv() => StopSignal::Hup,
            () = &mut deadline, if got.is_some() => {
                let first = got.unwrap_or(StopSignal::Int);
                exit_now(
                    bus,
                    first.exit_code(),
                    &format!("prov: the run did not stop within {STOP_GRACE:?} after {}; exiting", first.name()),
                );
            }
        };
        if let Some(first) = got {
            exit_now(
                bus,
                first.exit_code(),
                &format!("prov: {} again: exiting at once", sig.name()),
            );
        }
        got = Some(sig);
        deadline
            .as_mut()
            .reset(tokio::time::Instant::now() + STOP_GRACE);
        let reason = format!("interrupted by {}", sig.name());
        bus.emit(prov_core::Event::Warning {
            message: format!(
                "{reason}: stopping the run (tasks in flight are abandoned, files being written keep their old content); send it again to exit at once"
            ),
        });
        interrupt.interrupt(reason);
    }
}
