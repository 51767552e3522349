//! `tempfile`: creates a temporary file or directory, as ansible.builtin.tempfile does.
//!
//! ```yaml
//! tempfile: { state: directory, suffix: build }
//! ```
//!
//! The name is Python's `mkstemp`/`mkdtemp` name: `prefix` (default `ansible.`), eight
//! characters of `[a-z0-9_]`, `suffix` (default empty), in `path` (absolute) or else in
//! `$TMPDIR`/`$TEMP`/`$TMP`/`/tmp` as Python's `gettempdir` picks it. The file is created
//! exclusively with mode 0600 (a directory 0700), less the umask, as Python does; on a name
//! collision the next of a few random names is tried. Always changed. Returns `path` and, as
//! Ansible's `add_path_info` does, `uid`, `gid`, `owner`, `group`, `mode`, `state`, `size`.
//!
//! Ansible's module does not support check mode, so in check mode the task is skipped
//! ([`CheckMode::Unpredictable`]). A `prefix` or `suffix` with a `/` fails as in Ansible; a
//! relative `path` (or one with `~`) is refused.

use async_trait::async_trait;
use prov_core::{
    Action, CheckMode, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh,
};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::remote_file::check_path;
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("tempfile", build);

/// Python's `tempfile._RandomNameSequence` alphabet.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";

/// How many names the script tries before giving up.
const TRIES: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default = "default_state")]
    state: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default)]
    suffix: String,
}

fn default_state() -> String {
    "file".into()
}

fn default_prefix() -> String {
    "ansible.".into()
}

/// The `tempfile` module.
#[derive(Debug)]
pub struct Tempfile {
    directory: bool,
    path: Option<String>,
    prefix: String,
    suffix: String,
}

/// One random middle part of a name, as Python draws it.
pub fn random_name(rng: &mut impl Rng) -> String {
    (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Python's repr of a short string (`'a/b'`), for Ansible's messages.
fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

impl Tempfile {
    /// Ansible's checks of `prefix` and `suffix` (file name components only).
    pub fn check(&self) -> Result<(), ModuleError> {
        for (what, v) in [("prefix", &self.prefix), ("suffix", &self.suffix)] {
            if v.contains('/') {
                return Err(ModuleError::failed(format!(
                    "{what} must be a valid file name component, got {}",
                    py_repr(v)
                )));
            }
        }
        Ok(())
    }

    /// The script creating the first free name of `names` and printing its `stat`.
    pub fn script(&self, names: &[String]) -> Script {
        let mut list = Script::text("set --");
        for n in names {
            list = list.arg(format!("{}{n}{}", self.prefix, self.suffix).as_str());
        }
        let dir = match &self.path {
            Some(p) => sh!("d={}", p),
            None => Script::text("d=${TMPDIR:-${TEMP:-${TMP:-/tmp}}}"),
        };
        sh!("{}\nkind={}", dir, if self.directory { "d" } else { "f" })
            .then(&list)
            .then_text(concat!(
                "\ncase $d in */) ;; *) d=$d/ ;; esac\n",
                "umask \"$(printf %04o $(( 0$(umask) | 077 )))\"\n",
                "for n in \"$@\"; do\n",
                "  p=$d$n\n",
                "  if [ \"$kind\" = d ]; then mkdir -- \"$p\" 2>/dev/null || continue\n",
                "  else (set -C; : > \"$p\") 2>/dev/null || continue; fi\n",
                "  exec stat -c '%u %g %U %G %a %s|%n' -- \"$p\"\n",
                "done\n",
                "[ -d \"$d\" ] || { echo \"[Errno 2] No such file or directory: '$d'\" >&2; exit 1; }\n",
                "echo \"[Errno 17] No usable temporary file name found in $d\" >&2; exit 1",
            ))
    }
}

/// Parses the created path's `stat` line into Ansible's result fields.
pub fn parse_created(line: &str, directory: bool) -> Option<Map<String, Value>> {
    let (fields, path) = line.trim_end_matches('\n').split_once('|')?;
    let f: Vec<&str> = fields.split(' ').collect();
    let [uid, gid, owner, group, mode, size] = f[..] else {
        return None;
    };
    let mode = u32::from_str_radix(mode, 8).ok()?;
    let mut r = Map::new();
    r.insert("path".into(), json!(path));
    r.insert("uid".into(), json!(uid.parse::<u64>().ok()?));
    r.insert("gid".into(), json!(gid.parse::<u64>().ok()?));
    r.insert("owner".into(), json!(owner));
    r.insert("group".into(), json!(group));
    r.insert("mode".into(), json!(format!("0{mode:03o}")));
    r.insert(
        "state".into(),
        json!(if directory { "directory" } else { "file" }),
    );
    r.insert("size".into(), json!(size.parse::<u64>().ok()?));
    Some(r)
}

/// Creates the file or directory and registers its path and attributes.
struct Create {
    script: Script,
    directory: bool,
}

#[async_trait]
impl Action for Create {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run(&self.script).await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text().trim().to_owned()));
        }
        let text = out.stdout_text();
        let result = parse_created(&text, self.directory).ok_or_else(|| {
            ModuleError::failed(format!("tempfile: unexpected answer `{}`", text.trim()))
        })?;
        Ok(Outcome { result })
    }
}

#[async_trait]
impl Module for Tempfile {
    async fn plan(&self, _ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        self.check()?;
        let names: Vec<String> = {
            let mut rng = rand::thread_rng();
            (0..TRIES).map(|_| random_name(&mut rng)).collect()
        };
        let what = if self.directory { "directory" } else { "file" };
        let summary = format!(
            "create a temporary {what} {}XXXXXXXX{} in {}",
            self.prefix,
            self.suffix,
            self.path.as_deref().unwrap_or("the temporary directory")
        );
        Ok(Plan::change(
            summary,
            Create {
                script: self.script(&names),
                directory: self.directory,
            },
        ))
    }

    fn check_mode(&self) -> CheckMode {
        CheckMode::Unpredictable
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

fn parse(args: Value) -> Result<Tempfile, ModuleError> {
    let a: Args = parse_args(args)?;
    let directory = match a.state.as_str() {
        "file" => false,
        "directory" => true,
        other => {
            return Err(ModuleError::arg(
                "state",
                format!("value of state must be one of: file, directory, got: {other}"),
            ));
        }
    };
    if let Some(p) = &a.path {
        check_path("tempfile", "path", p)?;
        if !p.starts_with('/') {
            return Err(ModuleError::arg("path", "a relative path (or `~`) is not implemented: give an absolute path"));
        }
    }
    for (what, v) in [("prefix", &a.prefix), ("suffix", &a.suffix)] {
        if v.contains(['\0', '\n']) {
            return Err(ModuleError::arg(what, "must not contain NUL or newline characters"));
        }
    }
    Ok(Tempfile {
        directory,
        path: a.path,
        prefix: a.prefix,
        suffix: a.suffix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Value) -> Tempfile {
        parse(v).unwrap()
    }

    #[test]
    fn names_are_pythons() {
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            let n = random_name(&mut rng);
            assert_eq!(n.len(), 8);
            assert!(n.bytes().all(|b| ALPHABET.contains(&b)), "{n}");
        }
    }

    #[test]
    fn the_script_quotes_and_defaults() {
        let x = t(json!({}));
        let s = x.script(&["abc".into(), "def".into()]);
        assert!(s.as_str().contains("d=${TMPDIR:-${TEMP:-${TMP:-/tmp}}}"));
        assert!(s.as_str().contains("set -- ansible.abc ansible.def\n"), "{}", s.as_str());
        let y = t(json!({"state": "directory", "path": "/var/tmp", "prefix": "a b", "suffix": ".d"}));
        let s = y.script(&["x".into()]);
        assert!(s.as_str().contains("d=/var/tmp\nkind=d"), "{}", s.as_str());
        assert!(s.as_str().contains("'a bx.d'"), "{}", s.as_str());
    }

    #[test]
    fn prefix_and_suffix_are_file_name_components() {
        assert!(t(json!({"prefix": "ok."})).check().is_ok());
        let e = t(json!({"prefix": "a/b"})).check().unwrap_err().to_string();
        assert_eq!(e, "prefix must be a valid file name component, got 'a/b'");
        let e = t(json!({"suffix": "/x"})).check().unwrap_err().to_string();
        assert_eq!(e, "suffix must be a valid file name component, got '/x'");
    }

    #[test]
    fn the_created_path_is_parsed() {
        let r = parse_created("0 0 root root 600 0|/tmp/ansible.abc\n", false).unwrap();
        assert_eq!(r["path"], "/tmp/ansible.abc");
        assert_eq!(r["mode"], "0600");
        assert_eq!(r["state"], "file");
        let r = parse_created("0 0 root root 700 4096|/tmp/d", true).unwrap();
        assert_eq!((r["state"].as_str(), r["size"].as_u64()), (Some("directory"), Some(4096)));
        assert!(parse_created("garbage", false).is_none());
    }

    #[test]
    fn args() {
        assert!(build(json!({})).is_ok());
        assert!(build(json!({"state": "directory", "path": "/tmp"})).is_ok());
        assert!(build(json!({"state": "link"})).is_err());
        assert!(build(json!({"path": "rel"})).is_err());
        assert!(build(json!({"mode": "0644"})).is_err());
    }
}
