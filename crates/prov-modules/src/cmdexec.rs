//! Shared machinery of `command` and `shell`: `chdir`/`creates`/`removes` guards, running the
//! command and building Ansible's result (`rc`, `stdout`, `stderr`, `*_lines`, `cmd`, `delta`).

use std::time::Instant;

use async_trait::async_trait;
use prov_core::{Action, ModuleContext, ModuleError, Outcome, Plan, Script, Stdin, sh};
use serde_json::{Map, Value, json};

/// `chdir`, `creates` and `removes` of a command task.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Directory to change into first.
    pub chdir: Option<String>,
    /// Skip when this path (glob) exists.
    pub creates: Option<String>,
    /// Skip unless this path (glob) exists.
    pub removes: Option<String>,
}

impl Guards {
    /// The shell line changing into `chdir`, if any (empty otherwise).
    pub fn cd_line(&self) -> Script {
        match &self.chdir {
            Some(d) => sh!(
                "cd -- {} || {{ echo {} >&2; exit 1; }}",
                d,
                format!("Unable to change directory before execution: {d}")
            ),
            None => Script::default(),
        }
    }

    /// True when `creates` or `removes` is set: Ansible then runs the guard in check mode and
    /// reports "would run" (changed) or the skip, so check mode predicts the real run.
    pub fn guarded(&self) -> bool {
        self.creates.is_some() || self.removes.is_some()
    }

    /// Checks `creates`/`removes` as globs (`command`, `shell`): one remote command when either
    /// is set, none otherwise. Returns why the command must not run.
    pub async fn skip_reason(&self, ctx: &ModuleContext<'_>) -> Result<Option<Skip>, ModuleError> {
        self.skip_reason_by(ctx, PathMatch::Glob).await
    }

    /// Like [`Guards::skip_reason`], with the paths matched as `m` says.
    pub async fn skip_reason_by(
        &self,
        ctx: &ModuleContext<'_>,
        m: PathMatch,
    ) -> Result<Option<Skip>, ModuleError> {
        if !self.guarded() {
            return Ok(None);
        }
        let mut s = self.cd_line();
        for (tag, pat) in [("C", &self.creates), ("R", &self.removes)] {
            if let Some(p) = pat {
                s = s.then(&match m {
                    PathMatch::Glob => sh!(
                        "for f in {}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo {}; break; fi; done",
                        glob_word(p),
                        tag
                    ),
                    PathMatch::Literal => sh!("if test -e {}; then echo {}; fi", p, tag),
                });
            }
        }
        let out = ctx.run(&s).await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text()));
        }
        let text = out.stdout_text();
        if let Some(c) = &self.creates
            && text.lines().any(|l| l == "C")
        {
            return Ok(Some(Skip::Creates(c.clone())));
        }
        if let Some(r) = &self.removes
            && !text.lines().any(|l| l == "R")
        {
            return Ok(Some(Skip::Removes(r.clone())));
        }
        Ok(None)
    }
}

/// How `creates`/`removes` name their paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
    /// A shell glob (`command`, `shell`).
    Glob,
    /// One literal path, `test -e` (`script`, `uri`: Ansible checks that path only).
    Literal,
}

/// A task's command line: given, not blank, and without NUL (no shell can receive one).
pub fn command_line(cmd: Option<String>) -> Result<String, ModuleError> {
    let cmd = cmd
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ModuleError::args("no command given"))?;
    if cmd.contains('\0') {
        return Err(ModuleError::args(
            "the command must not contain NUL characters",
        ));
    }
    Ok(cmd)
}

/// Why `creates`/`removes`, each one literal path tested with `test -e` (as `script` and
/// `uri` check them), say the task must not run.
pub async fn literal_skip(
    ctx: &ModuleContext<'_>,
    creates: &Option<String>,
    removes: &Option<String>,
) -> Result<Option<Skip>, ModuleError> {
    let guards = Guards {
        chdir: None,
        creates: creates.clone(),
        removes: removes.clone(),
    };
    guards.skip_reason_by(ctx, PathMatch::Literal).await
}

/// Why a guarded command does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// `creates` matched an existing path.
    Creates(String),
    /// `removes` matched nothing.
    Removes(String),
}

impl Skip {
    /// Ansible's `stdout` of the skip (`skipped, since /x exists`).
    pub fn stdout(&self) -> String {
        match self {
            Skip::Creates(p) => format!("skipped, since {p} exists"),
            Skip::Removes(p) => format!("skipped, since {p} does not exist"),
        }
    }

    /// Ansible's `msg` of the skip (`Did not run command since '/x' exists`; `Would` in check
    /// mode).
    pub fn msg(&self, check_mode: bool) -> String {
        let verb = if check_mode { "Would" } else { "Did" };
        match self {
            Skip::Creates(p) => format!("{verb} not run command since '{p}' exists"),
            Skip::Removes(p) => format!("{verb} not run command since '{p}' does not exist"),
        }
    }
}

/// A glob pattern as one shell word: literal parts quoted, `*` and `?` left active.
pub fn glob_word(pattern: &str) -> Script {
    let mut out = Script::default();
    let mut lit = String::new();
    for c in pattern.chars() {
        if c == '*' || c == '?' {
            if !lit.is_empty() {
                out = sh!("{}{}", out, lit);
                lit.clear();
            }
            out = sh!("{}{}", out, Script::text(if c == '*' { "*" } else { "?" }));
        } else {
            lit.push(c);
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out = sh!("{}{}", out, lit);
    }
    out
}

/// Builds the unchanged plan of a skipped command.
pub fn skipped_plan(skip: &Skip, check_mode: bool, cmd: Value) -> Plan {
    let stdout = skip.stdout();
    Plan::unchanged()
        .with_result("msg", json!(skip.msg(check_mode)))
        .with_result("stdout", json!(stdout.clone()))
        .with_result("stdout_lines", json!([stdout]))
        .with_result("stderr", json!(""))
        .with_result("stderr_lines", json!([]))
        .with_result("rc", json!(0))
        .with_result("cmd", cmd)
        .with_result("changed", json!(false))
}

/// Runs a prepared script and reports Ansible's command result.
pub struct RunCommand {
    /// The script run by the connection's `sh -c`.
    pub script: Script,
    /// Data for stdin.
    pub stdin: Option<Vec<u8>>,
    /// The `cmd` result field.
    pub cmd: Value,
    /// Strip trailing newlines from stdout/stderr.
    pub strip_empty_ends: bool,
}

#[async_trait]
impl Action for RunCommand {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let start = Instant::now();
        let input = match &self.stdin {
            Some(b) => Stdin::Bytes(b),
            None => Stdin::Null,
        };
        let out = ctx.conn.exec(&ctx.command(&self.script), input).await?;
        let delta = start.elapsed();
        let mut result = Map::new();
        let text = |b: &[u8]| {
            let t = String::from_utf8_lossy(b).into_owned();
            if self.strip_empty_ends {
                t.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                t
            }
        };
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        result.insert("rc".into(), json!(out.status));
        result.insert(
            "stdout_lines".into(),
            json!(stdout.lines().collect::<Vec<_>>()),
        );
        result.insert(
            "stderr_lines".into(),
            json!(stderr.lines().collect::<Vec<_>>()),
        );
        result.insert("stdout".into(), json!(stdout));
        result.insert("stderr".into(), json!(stderr));
        result.insert("cmd".into(), self.cmd.clone());
        result.insert("changed".into(), json!(true));
        let secs = delta.as_secs();
        result.insert(
            "delta".into(),
            json!(format!(
                "{}:{:02}:{:02}.{:06}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60,
                delta.subsec_micros()
            )),
        );
        if out.status != 0 {
            result.insert("msg".into(), json!("non-zero return code"));
            return Err(ModuleError::failed_with("non-zero return code", result));
        }
        result.insert("msg".into(), json!(""));
        Ok(Outcome { result })
    }
}

/// The plan of a command that will run: the guards were checked, `summary` names it. In check
/// mode (reached only for a guarded command) the result says it would have run, as Ansible's.
pub fn run_plan(summary: String, action: RunCommand, check_mode: bool) -> Plan {
    let cmd = action.cmd.clone();
    let plan = Plan::change(summary, action).with_result("cmd", cmd);
    if check_mode {
        plan.with_result("rc", json!(0))
            .with_result("msg", json!("Command would have run if not in check mode"))
    } else {
        plan
    }
}

/// The options Ansible takes out of a free-form command line (`creates=/x` among the words).
pub const FREE_FORM_KEYS: &[&str] = &[
    "creates",
    "removes",
    "chdir",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

/// The byte spans of the words of a command line as Ansible's `split_args` sees them:
/// separated by whitespace outside quotes, quotes kept in the word.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut prev = '\0';
    for (i, c) in text.char_indices() {
        match (quote, start) {
            (None, _) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    spans.push((s, i));
                }
            }
            (None, _) if (c == '"' || c == '\'') && prev != '\\' => {
                quote = Some(c);
                start.get_or_insert(i);
            }
            (Some(q), _) if c == q && prev != '\\' => quote = None,
            _ => {
                start.get_or_insert(i);
            }
        }
        prev = c;
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// Takes Ansible's free-form options ([`FREE_FORM_KEYS`] written `key=value` among the
/// words) out of a command line: returns the rest as written (without those words; `None`
/// when nothing remains) and the options, values unquoted.
pub fn split_free_form(text: &str) -> (Option<String>, Map<String, Value>) {
    let mut opts = Map::new();
    let mut rest = String::new();
    let mut last = 0;
    for (a, b) in word_spans(text) {
        let word = &text[a..b];
        let Some((k, v)) = word.split_once('=') else {
            continue;
        };
        if !FREE_FORM_KEYS.contains(&k) {
            continue;
        }
        rest.push_str(&text[last..a]);
        last = b;
        opts.insert(k.to_owned(), json!(unquote(v)));
    }
    rest.push_str(&text[last..]);
    if opts.is_empty() {
        return (Some(text.to_owned()), opts);
    }
    let rest = rest.trim();
    ((!rest.is_empty()).then(|| rest.to_owned()), opts)
}

fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Turns a free-form task's line (`_raw_params`, what the engine passes for `command: LINE`)
/// into `cmd` and the options [`split_free_form`] finds in it, which join the arguments (an
/// option also given in `args:` keeps that value), so `command: make install
/// creates=/usr/local/bin/x` is guarded as in Ansible. An explicit `cmd:` is taken as written,
/// as Ansible takes it.
pub fn free_form_options(mut args: Value) -> Value {
    let Some(map) = args.as_object_mut() else {
        return args;
    };
    let Some(Value::String(line)) = map.remove("_raw_params") else {
        return args;
    };
    let (rest, opts) = split_free_form(&line);
    if let Some(r) = rest {
        map.entry("cmd").or_insert(json!(r));
    }
    for (k, v) in opts {
        map.entry(k).or_insert(v);
    }
    args
}

/// Appends the newline Ansible adds to `stdin` unless told not to.
pub fn stdin_bytes(stdin: Option<String>, add_newline: bool) -> Option<Vec<u8>> {
    stdin.map(|s| {
        let mut b = s.into_bytes();
        if add_newline {
            b.push(b'\n');
        }
        b
    })
}

/// Rejects an empty or NUL-containing path argument.
pub fn check_arg(module: &str, name: &str, value: &Option<String>) -> Result<(), ModuleError> {
    if let Some(v) = value
        && (v.is_empty() || v.contains('\0'))
    {
        return Err(ModuleError::args(format!(
            "{module}: `{name}` must be a non-empty path"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_words_quote_literals() {
        assert_eq!(glob_word("/tmp/a b/*.conf").as_str(), "'/tmp/a b/'*.conf");
        assert_eq!(glob_word("/x/$(id)?").as_str(), "'/x/$(id)'?");
        assert_eq!(glob_word("").as_str(), "''");
    }

    #[test]
    fn free_form_options_come_out_as_ansible_takes_them() {
        let (rest, opts) = split_free_form("make  install creates=/usr/bin/x chdir='/src dir' X=1");
        assert_eq!(rest.as_deref(), Some("make  install   X=1"));
        assert_eq!(opts["creates"], json!("/usr/bin/x"));
        assert_eq!(opts["chdir"], json!("/src dir"));
        // Nothing to take: the text stays exactly as written (newlines, quotes).
        let script = "echo 'a  b'\nprintf x=1 | grep \"creates=2\"\n";
        assert_eq!(
            split_free_form(script),
            (Some(script.to_owned()), Map::new())
        );
        let (rest, opts) = split_free_form("removes=/tmp/x");
        assert_eq!((rest, opts.len()), (None, 1));
        let args = free_form_options(json!({"_raw_params": "ls creates=/a", "creates": "/b"}));
        assert_eq!(args, json!({"cmd": "ls", "creates": "/b"}));
        let args = free_form_options(json!({"_raw_params": "stdin_add_newline=no cat"}));
        assert_eq!(args, json!({"cmd": "cat", "stdin_add_newline": "no"}));
        // An explicit `cmd:` is the command as written, `creates=` and all.
        let args = free_form_options(json!({"cmd": "echo creates=/a"}));
        assert_eq!(args, json!({"cmd": "echo creates=/a"}));
    }

    #[test]
    fn skip_messages_are_ansibles() {
        let c = Skip::Creates("/x".into());
        assert_eq!(c.stdout(), "skipped, since /x exists");
        assert_eq!(c.msg(false), "Did not run command since '/x' exists");
        let r = Skip::Removes("/y".into());
        assert_eq!(
            r.msg(true),
            "Would not run command since '/y' does not exist"
        );
        assert_eq!(r.stdout(), "skipped, since /y does not exist");
    }
}
