//! `slurp`: reads a remote file and returns it base64-encoded (`content`, `encoding`,
//! `source`). Read-only: never changed, one remote command.
//!
//! ```yaml
//! slurp: { src: /etc/machine-id }
//! ```

use async_trait::async_trait;
use base64::Engine as _;
use prov_core::{CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::remote_file::check_path;
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("slurp", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "path")]
    src: String,
}

/// What the host has at `src`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slurped {
    /// No such path.
    Missing,
    /// A directory.
    Directory,
    /// The file could not be read (permissions).
    Unreadable(String),
    /// The file's bytes.
    File(Vec<u8>),
}

/// Reads one file in one command: a first line `N`, `D` or `F`, then the bytes.
pub struct SlurpFact<'a>(pub &'a str);

impl Fact for SlurpFact<'_> {
    type Output = Slurped;

    fn name(&self) -> String {
        format!("content of {}", self.0)
    }

    fn script(&self) -> Script {
        sh!(
            "p={}\nif [ -d \"$p\" ]; then echo D; elif [ -e \"$p\" ]; then echo F; exec cat -- \"$p\"; else echo N; fi",
            self.0
        )
    }

    fn parse(&self, out: &CommandOutput) -> Result<Slurped, FactError> {
        let (head, body) = match out.stdout.iter().position(|&b| b == b'\n') {
            Some(i) => (&out.stdout[..i], &out.stdout[i + 1..]),
            None => (&out.stdout[..], &[][..]),
        };
        match (head, out.success()) {
            (b"N", true) => Ok(Slurped::Missing),
            (b"D", true) => Ok(Slurped::Directory),
            (b"F", true) => Ok(Slurped::File(body.to_vec())),
            (b"F", false) => Ok(Slurped::Unreadable(out.stderr_text())),
            (_, false) => Err(self.probe_failed(out)),
            (other, true) => Err(self.error(format!(
                "unexpected first line `{}`",
                String::from_utf8_lossy(other)
            ))),
        }
    }
}

struct Slurp {
    src: String,
}

#[async_trait]
impl Module for Slurp {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        match ctx.fact(&SlurpFact(&self.src)).await? {
            Slurped::Missing => Err(ModuleError::failed(format!("file not found: {}", self.src))),
            Slurped::Directory => Err(ModuleError::failed(
                "source is a directory and must be a file",
            )),
            Slurped::Unreadable(why) => Err(ModuleError::failed(format!(
                "file is not readable: {} ({why})",
                self.src
            ))),
            Slurped::File(bytes) => Ok(Plan::unchanged()
                .with_result(
                    "content",
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
                )
                .with_result("encoding", json!("base64"))
                .with_result("source", json!(self.src))),
        }
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = parse_args(args)?;
    check_path("slurp", "src", &a.src)?;
    Ok(Box::new(Slurp { src: a.src }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(status: i32, stdout: &[u8]) -> CommandOutput {
        CommandOutput {
            status,
            stdout: stdout.to_vec(),
            stderr: b"cat: x: Permission denied".to_vec(),
        }
    }

    #[test]
    fn the_fact_reads_every_answer_and_refuses_garbage() {
        let f = SlurpFact("/x");
        assert_eq!(f.parse(&out(0, b"N\n")), Ok(Slurped::Missing));
        assert_eq!(f.parse(&out(0, b"D\n")), Ok(Slurped::Directory));
        assert_eq!(
            f.parse(&out(0, b"F\na\nb\0")),
            Ok(Slurped::File(b"a\nb\0".to_vec()))
        );
        assert_eq!(f.parse(&out(0, b"F\n")), Ok(Slurped::File(Vec::new())));
        assert!(matches!(f.parse(&out(1, b"F\n")), Ok(Slurped::Unreadable(m)) if m.contains("denied")));
        assert_eq!(f.parse(&out(0, b"?\n")).unwrap_err().fact, "content of /x");
        assert!(f.parse(&out(2, b"")).is_err());
    }

    #[test]
    fn args() {
        assert!(build(json!({"src": "/etc/hosts"})).is_ok());
        assert!(build(json!({"path": "/etc/hosts"})).is_ok());
        assert!(build(json!({"src": "/etc/hosts", "encoding": "utf-8"})).is_err());
    }
}
