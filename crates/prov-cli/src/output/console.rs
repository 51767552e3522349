//! The console: live progress on a terminal (indicatif), plain lines otherwise, diffs with
//! `--diff`, results with `-v`, and the recap at the end. Colors honor `NO_COLOR`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prov_core::{Event, EventSink, TaskResult, TaskStatus};

/// Renders the run for people.
pub struct ConsoleSink {
    verbosity: u8,
    diff: bool,
    color: bool,
    profile: bool,
    state: Mutex<ConsoleState>,
}

struct ConsoleState {
    bar: Option<ProgressBar>,
    /// The terminal echoed control characters (`^C`) before the progress line turned that
    /// off; restored when the line goes.
    echoctl: bool,
    /// Hosts of the current task without a result yet.
    pending: BTreeSet<String>,
    task: String,
    /// The current task's tally, for the progress line.
    tally: Tally,
    /// With `--profile-tasks`: every task run, in order.
    timings: Vec<TaskTiming>,
    /// With `--profile-tasks`: time each host spent in tasks.
    host_time: BTreeMap<String, Duration>,
    /// Check mode: tasks known only after apply, with their hosts, listed at the end.
    after_apply: Vec<(String, Vec<String>)>,
}

/// How long one task took (`--profile-tasks`).
struct TaskTiming {
    play: String,
    task: String,
    handler: bool,
    started: Instant,
    /// When its last result arrived.
    ended: Option<Instant>,
    /// Time per host (loop items summed).
    hosts: BTreeMap<String, Duration>,
}

impl TaskTiming {
    fn wall(&self) -> Duration {
        self.ended
            .map(|e| e.saturating_duration_since(self.started))
            .unwrap_or_default()
    }
}

/// How many tasks and hosts `--profile-tasks` lists.
pub const PROFILE_TASKS: usize = 20;
/// How many hosts `--profile-tasks` lists.
pub const PROFILE_HOSTS: usize = 10;

const RESET: &str = "\x1b[0m";

impl ConsoleSink {
    /// A console sink; a progress line only when stdout is a terminal (it is drawn there, with
    /// the result lines above it).
    pub fn new(verbosity: u8, diff: bool, profile: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let color = tty && std::env::var_os("NO_COLOR").is_none();
        let bar = if tty && std::env::var_os("CI").is_none() {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            Some(b)
        } else {
            None
        };
        // The progress line fills the terminal's width (indicatif keeps the cursor at its right
        // edge), so a `^C` echoed by the terminal would wrap to a new line and the line would be
        // left on screen when cleared: the echo is off while it is shown.
        let echoctl = bar.is_some() && echoctl_off();
        Self {
            verbosity,
            diff,
            color,
            profile,
            state: Mutex::new(ConsoleState {
                bar,
                echoctl,
                pending: BTreeSet::new(),
                task: String::new(),
                tally: Tally::default(),
                timings: Vec::new(),
                host_time: BTreeMap::new(),
                after_apply: Vec::new(),
            }),
        }
    }

    /// The live progress display, when there is one (to pause it while asking a question).
    pub fn progress_bar(&self) -> Option<ProgressBar> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bar
            .clone()
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn print(&self, state: &ConsoleState, text: &str) {
        match &state.bar {
            Some(b) => b.println(text),
            None => {
                let mut out = std::io::stdout().lock();
                crate::stdout::check(writeln!(out, "{text}"));
            }
        }
    }

    fn result_line(&self, r: &TaskResult) -> String {
        let (word, code) = match r.status {
            TaskStatus::Ok => ("ok", "32"),
            TaskStatus::Changed => ("changed", "33"),
            TaskStatus::Failed => ("failed", "31"),
            TaskStatus::Skipped => ("skipping", "36"),
            TaskStatus::Unreachable => ("unreachable", "31;1"),
            TaskStatus::Ignored => ("failed (ignored)", "35"),
            TaskStatus::Rescued => ("rescued", "35"),
            TaskStatus::KnownAfterApply => ("known after apply", "36"),
        };
        let mut line = match &r.item {
            Some(i) => format!("{}: [{}] => (item={i})", word, r.host),
            None => format!("{}: [{}]", word, r.host),
        };
        let failure = matches!(
            r.status,
            TaskStatus::Failed
                | TaskStatus::Unreachable
                | TaskStatus::Ignored
                | TaskStatus::Rescued
        );
        if let Some(m) = &r.msg
            // A message of several lines is shown bounded, under the result line.
            && !(failure && m.contains('\n'))
            && (matches!(
                r.status,
                TaskStatus::Failed | TaskStatus::Unreachable | TaskStatus::Ignored
            ) || (r.module == "debug" && r.status != TaskStatus::Skipped)
                || r.status == TaskStatus::KnownAfterApply
                || self.verbosity > 0)
        {
            line.push_str(&format!(" => {m}"));
        }
        let mut out = self.paint(code, &line);
        if failure {
            let limit = if self.verbosity > 0 {
                usize::MAX
            } else {
                DETAIL_LINES
            };
            for l in failure_details(r, limit) {
                out.push('\n');
                out.push_str(&l);
            }
        }
        if r.status == TaskStatus::Changed || self.verbosity > 0 {
            for s in &r.summary {
                out.push_str(&format!("\n    {s}"));
            }
        }
        if self.diff {
            for d in &r.diffs {
                for l in d.unified().lines() {
                    let colored = if l.starts_with('+') && !l.starts_with("+++") {
                        self.paint("32", l)
                    } else if l.starts_with('-') && !l.starts_with("---") {
                        self.paint("31", l)
                    } else {
                        l.to_owned()
                    };
                    out.push('\n');
                    out.push_str(&colored);
                }
            }
        }
        if self.verbosity > 0 && !r.result.is_null() {
            out.push('\n');
            out.push_str(&serde_json::to_string_pretty(&r.result).unwrap_or_default());
        }
        out
    }
}

/// Removes the progress line and gives the terminal its echo of control characters back.
fn clear_progress(st: &mut ConsoleState) {
    if let Some(b) = st.bar.take() {
        b.finish_and_clear();
    }
    if std::mem::take(&mut st.echoctl) {
        stty(&["echoctl"]);
    }
}

/// Runs `stty ARGS` on the controlling terminal; its output when it succeeded.
fn stty(args: &[&str]) -> Option<String> {
    let tty = std::fs::File::open("/dev/tty").ok()?;
    let out = std::process::Command::new("stty")
        .args(args)
        .stdin(tty)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Turns off the terminal's echo of control characters; true when it was on (and is now off).
fn echoctl_off() -> bool {
    let on = stty(&["-a"]).is_some_and(|a| a.split_whitespace().any(|w| w == "echoctl"));
    on && stty(&["-echoctl"]).is_some()
}

/// What the hosts of the current task have done so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Hosts the task runs on.
    pub hosts: usize,
    /// Done without change (ignored failures count here, as in the recap).
    pub ok: usize,
    /// Done with a change.
    pub changed: usize,
    /// Failed or unreachable.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
}

impl Tally {
    fn count(&mut self, status: TaskStatus) {
        match status {
            TaskStatus::Ok | TaskStatus::Ignored | TaskStatus::Rescued => self.ok += 1,
            TaskStatus::Changed => self.changed += 1,
            TaskStatus::Failed | TaskStatus::Unreachable => self.failed += 1,
            TaskStatus::Skipped | TaskStatus::KnownAfterApply => self.skipped += 1,
        }
    }

    fn done(&self) -> usize {
        self.ok + self.changed + self.failed + self.skipped
    }
}

/// How many working hosts the progress line names.
const PROGRESS_NAMES: usize = 6;

/// The progress line (after the spinner and the task's elapsed time): how many hosts are done,
/// how they ended, and which are still working; when one host is left of several, it is named
/// as the slowest. The bar's width cuts what does not fit.
pub fn progress_message(task: &str, t: &Tally, working: &BTreeSet<String>) -> String {
    let mut m = format!(
        "{task}: {}/{} done (ok {}, changed {}, failed {}",
        t.done(),
        t.hosts,
        t.ok,
        t.changed,
        t.failed
    );
    if t.skipped > 0 {
        m.push_str(&format!(", skipped {}", t.skipped));
    }
    m.push(')');
    match working.len() {
        0 => {}
        1 if t.hosts > 1 => {
            let host = working
                .iter()
                .next()
                .map(String::as_str)
                .unwrap_or_default();
            m.push_str(&format!(" · waiting for the slowest: {host}"));
        }
        n => {
            let names: Vec<&str> = working
                .iter()
                .take(PROGRESS_NAMES)
                .map(String::as_str)
                .collect();
            m.push_str(&format!(" · working: {}", names.join(", ")));
            if n > PROGRESS_NAMES {
                m.push_str(&format!(" +{} more", n - PROGRESS_NAMES));
            }
        }
    }
    m
}

/// The `--profile-tasks` summary: the slowest tasks (wall time from their start to their last
/// result, and their slowest host) and the hosts by time spent in tasks, slowest first.
/// Adds `host` to the hosts of `task` in the list of tasks known only after apply.
fn note_after_apply(list: &mut Vec<(String, Vec<String>)>, task: &str, host: &str) {
    match list.iter_mut().find(|(t, _)| t == task) {
        Some((_, hosts)) => hosts.push(host.to_owned()),
        None => list.push((task.to_owned(), vec![host.to_owned()])),
    }
}

fn profile_text(timings: &[TaskTiming], host_time: &BTreeMap<String, Duration>) -> String {
    let mut out = String::new();
    let mut tasks: Vec<&TaskTiming> = timings.iter().collect();
    // Slowest first; equal times keep the run's order.
    tasks.sort_by_key(|t| std::cmp::Reverse(t.wall()));
    out.push_str(&format!(
        "\nTASKS BY TIME (the {} slowest of {})\n",
        tasks.len().min(PROFILE_TASKS),
        tasks.len()
    ));
    for t in tasks.iter().take(PROFILE_TASKS) {
        let kind = if t.handler { "HANDLER " } else { "" };
        let slowest = t
            .hosts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1))
            .map(|(h, d)| format!("  (slowest: {h} {:.2}s)", d.as_secs_f64()))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:>9.2}s  {kind}{} : {}{slowest}\n",
            t.wall().as_secs_f64(),
            t.play,
            t.task
        ));
    }
    let mut hosts: Vec<(&String, &Duration)> = host_time.iter().collect();
    hosts.sort_by_key(|h| std::cmp::Reverse(*h.1));
    out.push_str(&format!(
        "\nHOSTS BY TIME IN TASKS (the {} slowest of {})\n",
        hosts.len().min(PROFILE_HOSTS),
        hosts.len()
    ));
    for (h, d) in hosts.iter().take(PROFILE_HOSTS) {
        out.push_str(&format!("{:>9.2}s  {h}\n", d.as_secs_f64()));
    }
    out
}

/// How many lines of a failed result's stderr (or stdout) and command are shown without `-v`.
pub const DETAIL_LINES: usize = 20;

/// The lines that say why a task failed (indented, for under its result line): the command,
/// `rc`, the last lines of stderr (of stdout when stderr is empty) and the message when it is
/// not already on the result line. Each text is cut to its last `limit` lines, with a marker
/// saying how many were left out. Everything comes from the event, which the bus has masked.
pub fn failure_details(r: &TaskResult, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let obj = r.result.as_object();
    let field = |k: &str| obj.and_then(|o| o.get(k));
    let text = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(a) => Some(
                a.iter()
                    .map(|x| match x {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            other => Some(other.to_string()),
        }
    };
    // The message, when the result line does not show it already (it shows a one-line
    // `r.msg`).
    if let Some(m) = r.msg.as_deref().filter(|m| m.contains('\n')) {
        push_block(&mut out, "msg", m, limit, true);
    } else if let Some(m) = field("msg").and_then(text)
        && !m.trim().is_empty()
        && r.msg.as_deref() != Some(m.as_str())
    {
        push_block(&mut out, "msg", &m, limit, true);
    }
    if let Some(cmd) = field("cmd").and_then(text)
        && !cmd.trim().is_empty()
    {
        push_block(&mut out, "cmd", &cmd, limit, false);
    }
    if let Some(rc) = field("rc").filter(|v| !v.is_null()) {
        out.push(format!("    rc: {rc}"));
    }
    let stderr = field("stderr").and_then(text).unwrap_or_default();
    let stdout = field("stdout").and_then(text).unwrap_or_default();
    if !stderr.trim().is_empty() {
        push_block(&mut out, "stderr", &stderr, limit, true);
    } else if !stdout.trim().is_empty() {
        push_block(&mut out, "stdout", &stdout, limit, true);
    }
    out
}

/// `name: text` on one line when `text` is one line, else `name:` and the lines indented; at
/// most `limit` lines are kept (the last ones when `tail`, else the first ones).
fn push_block(out: &mut Vec<String>, name: &str, text: &str, limit: usize, tail: bool) {
    let lines: Vec<&str> = text.trim_end_matches(['\n', '\r']).lines().collect();
    if let [one] = lines.as_slice() {
        out.push(format!("    {name}: {one}"));
        return;
    }
    out.push(format!("    {name}:"));
    let hidden = lines.len().saturating_sub(limit);
    let marker = format!("      … {hidden} more lines (all of them with -v or --output json)");
    let kept: &[&str] = if tail {
        &lines[hidden..]
    } else {
        &lines[..lines.len() - hidden]
    };
    if hidden > 0 && tail {
        out.push(marker.clone());
    }
    out.extend(kept.iter().map(|l| format!("      {l}")));
    if hidden > 0 && !tail {
        out.push(marker);
    }
}

impl EventSink for ConsoleSink {
    fn event(&self, event: &Event) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match event {
            Event::RunStart { check_mode, .. } => {
                if *check_mode {
                    self.print(
                        &st,
                        &self.paint("36", "check mode: nothing will be changed"),
                    );
                }
            }
            Event::PlayStart { play, hosts } => {
                let line = format!("\nPLAY [{play}] ({} hosts)", hosts.len());
                self.print(&st, &self.paint("1", &line));
            }
            Event::TaskStart {
                play,
                task,
                hosts,
                handler,
            } => {
                if self.profile {
                    st.timings.push(TaskTiming {
                        play: play.clone(),
                        task: task.clone(),
                        handler: *handler,
                        started: Instant::now(),
                        ended: None,
                        hosts: BTreeMap::new(),
                    });
                }
                st.task = task.clone();
                st.pending = hosts.iter().cloned().collect();
                let kind = if *handler { "HANDLER" } else { "TASK" };
                self.print(&st, &self.paint("1", &format!("\n{kind} [{task}]")));
                st.tally = Tally {
                    hosts: st.pending.len(),
                    ..Tally::default()
                };
                if let Some(b) = &st.bar {
                    b.reset_elapsed();
                    b.set_message(progress_message(&st.task, &st.tally, &st.pending));
                }
            }
            Event::TaskResult(r) => {
                // Every result has its line, skipped loop items too (`skipping: [h] =>
                // (item=x)`, as Ansible prints them): a task never shows a bare header.
                let line = self.result_line(r);
                self.print(&st, &line);
                if r.status == TaskStatus::KnownAfterApply {
                    note_after_apply(&mut st.after_apply, &r.task, &r.host);
                }
                if self.profile {
                    *st.host_time.entry(r.host.clone()).or_default() += r.duration;
                    if let Some(t) = st.timings.last_mut() {
                        t.ended = Some(Instant::now());
                        *t.hosts.entry(r.host.clone()).or_default() += r.duration;
                    }
                }
                // A host counts as done at its first result (loop items: its first item).
                if st.pending.remove(&r.host) {
                    st.tally.count(r.status);
                }
                if let Some(b) = &st.bar {
                    b.set_message(progress_message(&st.task, &st.tally, &st.pending));
                }
            }
            Event::HostUnreachable { .. } => {}
            Event::Warning { message } => {
                self.print(&st, &self.paint("35", &format!("[WARNING]: {message}")))
            }
            Event::RunEnd { recap, elapsed } => {
                clear_progress(&mut st);
                let mut out = String::from("\nPLAY RECAP\n");
                let width = recap.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
                for r in recap {
                    let code = if r.failed > 0 || r.unreachable > 0 {
                        "31"
                    } else if r.changed > 0 {
                        "33"
                    } else {
                        "32"
                    };
                    out.push_str(&format!(
                        "{} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                        self.paint(code, &format!("{:<width$}", r.host)),
                        r.ok, r.changed, r.unreachable, r.failed, r.skipped, r.rescued, r.ignored
                    ));
                    if r.known_after_apply > 0 {
                        out.push_str(&format!("    known_after_apply={}", r.known_after_apply));
                    }
                    out.push('\n');
                }
                if !st.after_apply.is_empty() {
                    out.push_str("\nKNOWN AFTER APPLY (would run; what they do depends on values a real run computes)\n");
                    for (task, hosts) in &st.after_apply {
                        out.push_str(&format!("  {task}: {}\n", hosts.join(", ")));
                    }
                }
                if self.profile {
                    out.push_str(&profile_text(&st.timings, &st.host_time));
                }
                out.push_str(&format!("\nfinished in {:.2}s", elapsed.as_secs_f64()));
                let mut stdout = std::io::stdout().lock();
                crate::stdout::check(writeln!(stdout, "{out}").and_then(|_| stdout.flush()));
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut st) = self.state.lock() {
            clear_progress(&mut st);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_progress_line_names_working_hosts_counts_and_the_slowest() {
        let mut t = Tally {
            hosts: 9,
            ..Tally::default()
        };
        let all: Vec<String> = (1..=9).map(|i| format!("lab{i}")).collect();
        let mut working: BTreeSet<String> = all.iter().cloned().collect();
        assert_eq!(
            progress_message("sleep", &t, &working),
            "sleep: 0/9 done (ok 0, changed 0, failed 0) · working: lab1, lab2, lab3, lab4, lab5, lab6 +3 more"
        );
        for (h, st) in [
            ("lab1", TaskStatus::Changed),
            ("lab2", TaskStatus::Failed),
            ("lab3", TaskStatus::Ok),
            ("lab4", TaskStatus::Skipped),
        ] {
            working.remove(h);
            t.count(st);
        }
        assert_eq!(
            progress_message("sleep", &t, &working),
            "sleep: 4/9 done (ok 1, changed 1, failed 1, skipped 1) · working: lab5, lab6, lab7, lab8, lab9"
        );
        assert_eq!(
            progress_message("sleep", &t, &set(&["lab9"])),
            "sleep: 4/9 done (ok 1, changed 1, failed 1, skipped 1) · waiting for the slowest: lab9"
        );
        let one = Tally {
            hosts: 1,
            ..Tally::default()
        };
        assert_eq!(
            progress_message("t", &one, &set(&["h"])),
            "t: 0/1 done (ok 0, changed 0, failed 0) · working: h"
        );
    }
}
