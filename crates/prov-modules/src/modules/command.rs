//! `command`: runs a program with arguments, without a shell interpreting them.
//!
//! The command line (`cmd`, split like a shell would with `shlex`, or `argv`) becomes one
//! `exec` line where every word is quoted, so spaces, quotes, `$(...)`, `>` or `;` reach the
//! program literally. Like Ansible (`expand_argument_vars: true`), `$VAR`/`${VAR}` of the
//! remote environment and a leading `~` are expanded; unset variables stay as written.
//! `creates`/`removes` make the task idempotent (one remote check).

use async_trait::async_trait;
use prov_core::{CheckMode, Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::de_bool;
use crate::cmdexec::{
    Guards, RunCommand, check_arg, free_form_options, run_plan, skipped_plan, stdin_bytes,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default, alias = "_raw_params")]
    cmd: Option<String>,
    #[serde(default)]
    argv: Option<Vec<Value>>,
    #[serde(default)]
    chdir: Option<String>,
    #[serde(default)]
    creates: Option<String>,
    #[serde(default)]
    removes: Option<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    stdin_add_newline: bool,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    strip_empty_ends: bool,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    expand_argument_vars: bool,
    /// Accepted and ignored with a warning, as Ansible does since 2.4 (use `shell`).
    #[serde(default)]
    executable: Option<String>,
}

struct Command {
    words: Vec<String>,
    guards: Guards,
    stdin: Option<Vec<u8>>,
    strip_empty_ends: bool,
    expand: bool,
    warning: Option<String>,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("command", build).free_form();

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = crate::parse_args(free_form_options(args))?;
    let words = match (a.cmd, a.argv) {
        (Some(_), Some(_)) => {
            return Err(ModuleError::args(
                "`cmd` (free form) and `argv` are mutually exclusive",
            ));
        }
        (Some(cmd), None) => shlex::split(&cmd).ok_or_else(|| {
            ModuleError::args(format!(
                "cannot split `{cmd}` into words (unbalanced quotes?)"
            ))
        })?,
        (None, Some(argv)) => argv
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(if b { "True" } else { "False" }.to_owned()),
                other => Err(ModuleError::args(format!(
                    "`argv` items must be strings, found {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        (None, None) => {
            return Err(ModuleError::args("no command given (`cmd` or `argv`)"));
        }
    };
    if words.is_empty() {
        return Err(ModuleError::args("no command given (`cmd` or `argv`)"));
    }
    if words.iter().any(|w| w.contains('\0')) {
        return Err(ModuleError::args(
            "arguments must not contain NUL characters",
        ));
    }
    check_arg("command", "chdir", &a.chdir)?;
    check_arg("command", "creates", &a.creates)?;
    check_arg("command", "removes", &a.removes)?;
    Ok(Box::new(Command {
        words,
        guards: Guards {
            chdir: a.chdir,
            creates: a.creates,
            removes: a.removes,
        },
        stdin: stdin_bytes(a.stdin, a.stdin_add_newline),
        strip_empty_ends: a.strip_empty_ends,
        expand: a.expand_argument_vars,
        warning: a.executable.map(|e| {
            format!(
                "As of Ansible 2.4, the parameter 'executable' is no longer supported with the \
                 'command' module. Not using '{e}'."
            )
        }),
    }))
}

impl Command {
    /// The script: optional `cd`, then `exec` with every word quoted (so neither shell
    /// syntax nor builtins get in the way).
    fn script(&self) -> Script {
        let exec = self.words.iter().fold(Script::text("exec"), |s, w| {
            if self.expand {
                sh!("{} {}", s, expand_word(w))
            } else {
                s.arg(w)
            }
        });
        self.guards.cd_line().then(&exec.then_text("\n"))
    }
}

/// One word as shell text: literal, except `$VAR`/`${VAR}` (expanded when set, left as
/// written when unset, like Python's `os.path.expandvars`) and a leading `~` / `~user`.
pub fn expand_word(word: &str) -> Script {
    let mut out = Script::default();
    let mut rest = word;
    if let Some(after) = rest.strip_prefix('~') {
        let end = after.find('/').unwrap_or(after.len());
        let user = &after[..end];
        if user.is_empty() {
            out = Script::text("\"$HOME\"");
            rest = &after[end..];
        } else if user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !user.starts_with('-')
        {
            // The slash must stay unquoted for the shell to expand the tilde prefix (the
            // user name needs no quoting: quoting leaves it as it is).
            out = sh!("~{}", user);
            rest = &after[end..];
            if let Some(r) = rest.strip_prefix('/') {
                out = out.then_text("/");
                rest = r;
            }
        }
    }
    let mut lit = String::new();
    let flush = |lit: &mut String, out: &mut Script| {
        if !lit.is_empty() {
            *out = sh!("{}{}", &*out, &*lit);
            lit.clear();
        }
    };
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '$' {
            let tail = &rest[i + 1..];
            let (name, braced) = if let Some(b) = tail.strip_prefix('{') {
                match b.find('}') {
                    Some(e) => (&b[..e], true),
                    None => ("", false),
                }
            } else {
                let e = tail
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                    .unwrap_or(tail.len());
                (&tail[..e], false)
            };
            let valid = !name.is_empty()
                && !name.starts_with(|ch: char| ch.is_ascii_digit())
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if valid {
                flush(&mut lit, &mut out);
                // `name` is an identifier, which quoting leaves as it is.
                out = if braced {
                    sh!("{}\"${{{}-\\${{{}\\}}}}\"", out, name, name)
                } else {
                    sh!("{}\"${{{}-\\${}}}\"", out, name, name)
                };
                let skip = name.len() + if braced { 2 } else { 0 };
                for _ in 0..skip {
                    chars.next();
                }
                continue;
            }
        }
        lit.push(c);
    }
    flush(&mut lit, &mut out);
    if out.is_empty() {
        out = Script::text("''");
    }
    out
}

#[async_trait]
impl Module for Command {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let cmd = json!(self.words);
        let plan = self.plan_run(ctx, cmd).await?;
        Ok(match &self.warning {
            Some(w) => plan.with_result("warnings", json!([w])),
            None => plan,
        })
    }

    /// Like Ansible: unpredictable (skipped in check mode) unless `creates`/`removes` guard
    /// the command, in which case check mode reports whether it would run.
    fn check_mode(&self) -> CheckMode {
        if self.guards.guarded() {
            CheckMode::Predicts
        } else {
            CheckMode::Unpredictable
        }
    }
}

impl Command {
    async fn plan_run(&self, ctx: &ModuleContext<'_>, cmd: Value) -> Result<Plan, ModuleError> {
        if let Some(skip) = self.guards.skip_reason(ctx).await? {
            return Ok(skipped_plan(&skip, ctx.check_mode, cmd));
        }
        Ok(run_plan(
            format!("run {}", self.words.join(" ")),
            RunCommand {
                script: self.script(),
                stdin: self.stdin.clone(),
                cmd,
                strip_empty_ends: self.strip_empty_ends,
            },
            ctx.check_mode,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_stay_literal_but_vars_expand() {
        assert_eq!(expand_word("a b").as_str(), "'a b'");
        assert_eq!(expand_word("$(id)").as_str(), "'$(id)'");
        assert_eq!(expand_word("$HOME/x").as_str(), "\"${HOME-\\$HOME}\"/x");
        assert_eq!(expand_word("~/x").as_str(), "\"$HOME\"/x");
        assert_eq!(expand_word("").as_str(), "''");
        assert_eq!(expand_word("$1").as_str(), "'$1'");
        assert_eq!(expand_word("~root/a b").as_str(), "~root/'a b'");
        assert_eq!(expand_word("${A}b").as_str(), "\"${A-\\${A\\}}\"b");
    }
}
