//! `openssh_keypair` (community.crypto.openssh_keypair): an SSH key pair made by the host's
//! `ssh-keygen` (the module's `opensshbin` backend).
//!
//! ```yaml
//! openssh_keypair: { path: /etc/ssh/ssh_host_rsa_key, type: rsa, size: 4096 }
//! ```
//!
//! One remote command reads what the module reads: `ssh-keygen -l -f PATH` (size, fingerprint,
//! type), `ssh-keygen -P '' -y -f PATH` (whether the key is readable, and its public key), the
//! `.pub` file, `ssh -V`, and the `stat` of both files. The planner ([`decide`]) follows the
//! module's `_execute`: with `regenerate: partial_idempotence` (the default) a key whose type
//! or size differs is made anew, one that cannot be read is an error; a `.pub` file that does
//! not match the private key (or the `comment`) is rewritten from it; `mode`/`owner`/`group`
//! apply to both files. A new pair is generated in a private directory beside the key and
//! renamed over the old files (which keep their mode and owner, as `atomic_move` keeps them).
//!
//! Refused: `passphrase` and `backend: cryptography` (the module's cryptography backend; with
//! ssh-keygen the passphrase would be on a command line), `type: rsa1`, `private_key_format`
//! other than `auto` (the module refuses it too without the cryptography backend).

use async_trait::async_trait;
use base64::Engine as _;
use prov_core::{
    Action, CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Outcome, Plan,
    Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ModuleSpec;
use crate::args::{Presence, de_bool, de_opt_int, de_opt_string};
use crate::remote_file::{Attrs, FileInfo, PathsFact, ProbePreamble, ProbeSpec, check_path};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("openssh_keypair", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    #[serde(default)]
    state: Presence,
    #[serde(default, deserialize_with = "de_opt_int")]
    size: Option<i64>,
    #[serde(default = "default_type", rename = "type")]
    key_type: String,
    #[serde(default, deserialize_with = "de_bool")]
    force: bool,
    #[serde(default, deserialize_with = "de_opt_string")]
    comment: Option<String>,
    #[serde(default)]
    regenerate: Regenerate,
    #[serde(default)]
    passphrase: Option<Value>,
    #[serde(default)]
    private_key_format: Option<String>,
    #[serde(default)]
    backend: Option<String>,
}

fn default_type() -> String {
    "rsa".into()
}

/// When an existing key is made anew (`regenerate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regenerate {
    /// Never (an unreadable key is an error).
    Never,
    /// A key of another type or size is an error.
    Fail,
    /// A key of another type or size is regenerated; an unreadable one is an error.
    #[default]
    PartialIdempotence,
    /// Like partial, and an unreadable key is regenerated too.
    FullIdempotence,
    /// Always (also `force: true`).
    Always,
}

/// What the task asks, resolved.
#[derive(Debug, Clone)]
pub struct Want {
    /// The private key's path (`PATH.pub` is the public one).
    pub path: String,
    /// Present or absent.
    pub state: Presence,
    /// `rsa`, `dsa`, `ecdsa`, `ed25519`.
    pub key_type: String,
    /// Bits (Ansible's default per type; 256 for ed25519).
    pub size: u32,
    /// The comment, when given.
    pub comment: Option<String>,
    /// `regenerate` (`always` with `force`).
    pub regenerate: Regenerate,
    /// `mode`/`owner`/`group` of both files.
    pub attrs: Attrs,
}

/// `ssh-keygen -l` on the private key: the module's `PrivateKey.from_string`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateKey {
    /// Bits.
    pub size: u32,
    /// Lower-cased type from the last word (`(RSA)` → `rsa`).
    pub key_type: String,
    /// `SHA256:...`.
    pub fingerprint: String,
}

impl PrivateKey {
    /// Parses `ssh-keygen -l` output; `None` where the module's parse raises.
    pub fn parse(text: &str) -> Option<Self> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let size = words.first()?.parse().ok()?;
        let fingerprint = words.get(1)?.to_string();
        let last = words.last()?;
        let mut chars = last.chars();
        chars.next();
        chars.next_back();
        Some(Self {
            size,
            key_type: chars.as_str().to_lowercase(),
            fingerprint,
        })
    }
}

/// A public key line: the module's `PublicKey` (type, data, comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `ssh-rsa`...
    pub type_string: String,
    /// The base64 key.
    pub data: String,
    /// The comment (`""` when none).
    pub comment: String,
}

impl PublicKey {
    /// `PublicKey.load`: the `.pub` file stripped of spaces and newlines at both ends, split on
    /// the first two single spaces; fewer than two fields is no key.
    pub fn load(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.trim_matches([' ', '\n']).splitn(3, ' ').collect();
        if parts.len() < 2 {
            return None;
        }
        Some(Self {
            type_string: parts[0].into(),
            data: parts[1].into(),
            comment: parts.get(2).copied().unwrap_or_default().into(),
        })
    }

    /// `PublicKey.from_string` (`ssh-keygen -y` output): newlines stripped, the same split;
    /// one field only is where the module raises.
    pub fn from_output(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.trim_matches('\n').splitn(3, ' ').collect();
        Some(Self {
            type_string: parts.first()?.to_string(),
            data: parts.get(1)?.to_string(),
            comment: parts.get(2).copied().unwrap_or_default().into(),
        })
    }

    /// `str(key)`: type and data, no comment.
    pub fn text(&self) -> String {
        format!("{} {}", self.type_string, self.data)
    }
}

/// A command's exit code and output, as the probe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Exit code.
    pub rc: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// The `.pub` file as the probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubFile {
    /// It does not exist.
    Missing,
    /// It exists but cannot be read (a directory...).
    Unreadable,
    /// Its bytes.
    Content(Vec<u8>),
}

/// What the module reads on the host before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProbe {
    /// The key's directory exists.
    pub dir_ok: bool,
    /// The key's path is a directory.
    pub is_dir: bool,
    /// `ssh-keygen` is installed.
    pub keygen: bool,
    /// `ssh -V` (stderr), when `ssh` is installed.
    pub ssh_version: Option<String>,
    /// `ssh-keygen -l -f PATH`, when PATH exists.
    pub list: Option<Run>,
    /// `ssh-keygen -P '' -y -f PATH`, when PATH exists.
    pub public_of_private: Option<Run>,
    /// `PATH.pub`.
    pub pub_file: PubFile,
}

/// The probe's own lines, before the two files' `stat`.
#[derive(Clone)]
pub struct KeyPreamble<'a> {
    path: &'a str,
    dir: String,
}

impl ProbePreamble for KeyPreamble<'_> {
    type Output = KeyProbe;

    fn script(&self) -> Script {
        sh!("k={}\nd={}\n", self.path, self.dir.as_str())
            .then_text(include_str!("openssh_keypair_probe.sh"))
    }

    fn parse(&self, lines: &[&str]) -> Result<KeyProbe, String> {
        parse_probe(lines)
    }
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("bad base64 `{s}`: {e}"))
}

fn b64_text(s: &str) -> Result<String, String> {
    Ok(String::from_utf8_lossy(&b64(s)?).into_owned())
}

/// Parses the probe's lines (also printed again after a change, for the results).
pub fn parse_probe(lines: &[&str]) -> Result<KeyProbe, String> {
    let mut p = KeyProbe {
        dir_ok: false,
        is_dir: false,
        keygen: false,
        ssh_version: None,
        list: None,
        public_of_private: None,
        pub_file: PubFile::Missing,
    };
    for line in lines {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        let words: Vec<&str> = rest.split(' ').collect();
        let run = |w: &[&str]| -> Result<Run, String> {
            Ok(Run {
                rc: w[0].parse().map_err(|_| format!("bad exit code in `{line}`"))?,
                stdout: b64_text(w.get(1).copied().unwrap_or_default())?,
                stderr: b64_text(w.get(2).copied().unwrap_or_default())?,
            })
        };
        match tag {
            "dir" => p.dir_ok = rest == "1",
            "isdir" => p.is_dir = rest == "1",
            "keygen" => p.keygen = rest == "1",
            "ssh" => p.ssh_version = Some(b64_text(rest)?),
            "l" => p.list = Some(run(&words)?),
            "y" => p.public_of_private = Some(run(&words)?),
            "pub" if rest == "!" => p.pub_file = PubFile::Unreadable,
            "pub" => p.pub_file = PubFile::Content(b64(rest)?),
            _ => return Err(format!("unexpected line `{line}`")),
        }
    }
    Ok(p)
}

/// The key pair's state: the probe and the `stat` of both files (links followed).
struct KeyFact<'a> {
    specs: [ProbeSpec; 2],
    preamble: KeyPreamble<'a>,
}

impl Fact for KeyFact<'_> {
    type Output = (KeyProbe, Option<FileInfo>, Option<FileInfo>);

    fn name(&self) -> String {
        format!("ssh key pair {}", self.preamble.path)
    }

    fn script(&self) -> Script {
        PathsFact::with(&self.specs, self.preamble.clone()).script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        let (mut probed, probe) = PathsFact::with(&self.specs, self.preamble.clone()).parse(out)?;
        let public = probed.pop().and_then(|p| p.info);
        let private = probed.pop().and_then(|p| p.info);
        Ok((probe, private, public))
    }
}

/// What a present key pair needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOp {
    /// A new pair (the old one, if any, was of another type/size or `always`).
    Generate {
        /// The key it replaces, if one could be read.
        old: Option<PrivateKey>,
    },
    /// The `.pub` file rewritten from the private key (`type data`), then the comment set with
    /// `ssh-keygen -c` when one is given.
    RestorePublic {
        /// The public key line to write.
        line: String,
        /// `ssh-keygen -o` (OpenSSH 6.5 to 7.7).
        force_new_format: bool,
    },
}

/// The module's message for a key it will not read.
pub const UNREADABLE: &str = "Unable to read the key. The key is protected with a passphrase or broken. Will not proceed. To force regeneration, call the module with `generate` set to `full_idempotence` or `always`, or with `force=true`.";

/// The module's message for `regenerate: fail`.
pub const WRONG_KEY: &str = "Key has wrong type and/or size. Will not proceed. To force regeneration, call the module with `generate` set to `partial_idempotence`, `full_idempotence` or `always`, or with `force=true`.";

/// The private key as the module loads it (`None`: missing or unreadable by `ssh-keygen -l`).
pub fn original_private(p: &KeyProbe) -> Option<PrivateKey> {
    p.list
        .as_ref()
        .filter(|r| r.rc == 0)
        .and_then(|r| PrivateKey::parse(&r.stdout))
}

/// The `.pub` file as the module loads it; a file that is not UTF-8 is where it raises.
pub fn original_public(p: &KeyProbe) -> Result<Option<PublicKey>, ModuleError> {
    match &p.pub_file {
        PubFile::Missing | PubFile::Unreadable => Ok(None),
        PubFile::Content(b) => std::str::from_utf8(b).map(PublicKey::load).map_err(|e| {
            ModuleError::failed(format!("unexpected error occurred: {e} (in the .pub file)"))
        }),
    }
}

/// `_private_key_readable`: `ssh-keygen -y` neither exits 255 nor complains.
fn readable(p: &KeyProbe) -> bool {
    let Some(y) = &p.public_of_private else {
        return false;
    };
    !(y.rc == 255
        || ["is not a public key file", "incorrect passphrase", "load failed"]
            .iter()
            .any(|s| y.stderr.contains(s)))
}

/// The module's `_execute` for `state: present`, up to the permissions: what to do, or its
/// failure.
pub fn decide(w: &Want, p: &KeyProbe) -> Result<Option<KeyOp>, ModuleError> {
    let private_exists = p.list.is_some();
    let orig = original_private(p);
    let partial_or_less = matches!(
        w.regenerate,
        Regenerate::Never | Regenerate::Fail | Regenerate::PartialIdempotence
    );
    if private_exists && partial_or_less && (orig.is_none() || !readable(p)) {
        return Err(ModuleError::failed(UNREADABLE));
    }
    let valid = orig
        .as_ref()
        .is_some_and(|k| k.size == w.size && k.key_type == w.key_type);
    let generate = match (&orig, w.regenerate) {
        (None, _) => true,
        (Some(_), Regenerate::Never) => false,
        (Some(_), Regenerate::Fail) if !valid => return Err(ModuleError::failed(WRONG_KEY)),
        (Some(_), Regenerate::Fail) => false,
        (Some(_), Regenerate::PartialIdempotence | Regenerate::FullIdempotence) => !valid,
        (Some(_), Regenerate::Always) => true,
    };
    if generate {
        return Ok(Some(KeyOp::Generate { old: orig }));
    }
    let current = public_of_private(p)?;
    let public_ok = original_public(p)?.is_some_and(|o| {
        o.type_string == current.type_string
            && o.data == current.data
            && w.comment.as_ref().is_none_or(|c| *c == o.comment)
    });
    if public_ok {
        return Ok(None);
    }
    Ok(Some(KeyOp::RestorePublic {
        line: current.text(),
        force_new_format: force_new_format(p.ssh_version.as_deref()),
    }))
}

/// `_get_public_key`: `ssh-keygen -y`'s line (run with `check_rc`).
fn public_of_private(p: &KeyProbe) -> Result<PublicKey, ModuleError> {
    let y = p
        .public_of_private
        .as_ref()
        .ok_or_else(|| ModuleError::failed("the private key is missing"))?;
    if y.rc != 0 {
        return Err(ModuleError::failed(format!(
            "ssh-keygen -y failed (rc {}): {}",
            y.rc,
            y.stderr.trim()
        )));
    }
    PublicKey::from_output(&y.stdout).ok_or_else(|| {
        ModuleError::failed(format!(
            "unexpected error occurred: ssh-keygen -y printed `{}`",
            y.stdout.trim()
        ))
    })
}

/// The module's `parse_openssh_version` and `6.5 <= version < 7.8` (no `ssh`: 7.8).
pub fn force_new_format(ssh_v: Option<&str>) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^.*openssh_(?P<version>[0-9.]+)(p?[0-9]+)[^0-9]*.*$").expect("re")
    });
    let lower = ssh_v.unwrap_or("").to_lowercase();
    let version = RE
        .captures(lower.trim())
        .map(|c| c["version"].trim().to_owned())
        .filter(|_| ssh_v.is_some())
        .unwrap_or_else(|| "7.8".into());
    let parts = |v: &str| -> Vec<u64> { v.split('.').filter_map(|x| x.parse().ok()).collect() };
    let v = parts(&version);
    parts("6.5") <= v && v < parts("7.8")
}

/// `os.path.dirname(path) or "."`.
fn dirname(path: &str) -> String {
    let head = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    let trimmed = head.trim_end_matches('/');
    match (head, trimmed) {
        ("", _) => ".".into(),
        (h, "") => h.into(),
        (_, t) => t.into(),
    }
}

struct Keypair {
    want: Want,
}

impl Keypair {
    fn results(&self, p: &KeyProbe) -> Result<Map<String, Value>, ModuleError> {
        let private = original_private(p);
        let public = original_public(p)?;
        let mut m = Map::new();
        m.insert("size".into(), json!(self.want.size));
        m.insert("type".into(), json!(self.want.key_type));
        m.insert("filename".into(), json!(self.want.path));
        m.insert(
            "fingerprint".into(),
            json!(private.map(|k| k.fingerprint).unwrap_or_default()),
        );
        m.insert(
            "public_key".into(),
            json!(public.as_ref().map(PublicKey::text).unwrap_or_default()),
        );
        m.insert(
            "comment".into(),
            json!(public.map(|k| k.comment).unwrap_or_default()),
        );
        Ok(m)
    }

    fn summary(&self, op: &KeyOp) -> String {
        let w = &self.want;
        match op {
            KeyOp::Generate { old: None } => {
                format!("generate {} {} key pair {}", w.key_type, w.size, w.path)
            }
            KeyOp::Generate { old: Some(k) } => format!(
                "regenerate key pair {} as {} {} (was {} {})",
                w.path, w.key_type, w.size, k.key_type, k.size
            ),
            KeyOp::RestorePublic { .. } => match &w.comment {
                Some(c) if !c.is_empty() => format!(
                    "rewrite {}.pub from the private key, comment `{c}`",
                    w.path
                ),
                _ => format!("rewrite {}.pub from the private key", w.path),
            },
        }
    }
}

#[async_trait]
impl Module for Keypair {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let w = &self.want;
        let public_path = format!("{}.pub", w.path);
        let fact = KeyFact {
            specs: [
                ProbeSpec {
                    follow: true,
                    ..ProbeSpec::new(&w.path)
                },
                ProbeSpec {
                    follow: true,
                    ..ProbeSpec::new(&public_path)
                },
            ],
            preamble: KeyPreamble {
                path: &w.path,
                dir: dirname(&w.path),
            },
        };
        let (p, private_info, public_info) = ctx.fact(&fact).await?;
        if !p.dir_ok {
            return Err(ModuleError::failed(format!(
                "The directory {} does not exist or the file is not a directory",
                dirname(&w.path)
            )));
        }
        if p.is_dir {
            return Err(ModuleError::failed(format!(
                "{} is a directory. Please specify a path to a file.",
                w.path
            )));
        }
        if !p.keygen {
            return Err(ModuleError::failed(
                "Cannot find the OpenSSH binary in the PATH",
            ));
        }
        let plan = Plan::Unchanged {
            result: self.results(&p)?,
        };
        if w.state == Presence::Absent {
            let exists = private_info.is_some() || public_info.is_some();
            if !exists {
                return Ok(plan);
            }
            let summary = vec![format!("remove {} and {public_path}", w.path)];
            let action = KeyAction {
                want: w.clone(),
                script: sh!("k={}\n", w.path.as_str()).then_text(
                    "if [ -e \"$k\" ]; then rm -f -- \"$k\"; fi\nif [ -e \"$k.pub\" ]; then rm -f -- \"$k.pub\"; fi\n",
                ),
                report: false,
            };
            return Ok(plan.with_change(summary, Vec::new(), action));
        }
        let op = decide(w, &p)?;
        let mut summary: Vec<String> = op.iter().map(|o| self.summary(o)).collect();
        if !matches!(op, Some(KeyOp::Generate { .. })) {
            for (path, info) in [(&w.path, &private_info), (&public_path, &public_info)] {
                if let Some(i) = info {
                    summary.extend(w.attrs.diff_against(i)?.summary(path));
                }
            }
        }
        let script = match &op {
            Some(KeyOp::Generate { .. }) => generate_script(w),
            Some(KeyOp::RestorePublic {
                line,
                force_new_format,
            }) => restore_script(w, line, *force_new_format),
            None => Script::default(),
        }
        .then(&attrs_script(w));
        let action = KeyAction {
            want: w.clone(),
            script,
            report: true,
        };
        Ok(plan.with_change(summary, Vec::new(), action))
    }
}

/// A new pair made in a private directory beside the key, then renamed over each file; an
/// existing file's mode and owner go to its replacement first.
fn generate_script(w: &Want) -> Script {
    let comment = w.comment.clone().unwrap_or_default();
    sh!(
        "k={}\nd={}\nty={}\nbits={}\nc={}\n",
        w.path.as_str(),
        dirname(&w.path),
        w.key_type.as_str(),
        w.size,
        comment
    )
    .then_text(include_str!("openssh_keypair_generate.sh"))
}

/// The `.pub` file rewritten (atomically, keeping its mode and owner, 0644 when new), then
/// the comment set with `ssh-keygen -c`.
fn restore_script(w: &Want, line: &str, force_new_format: bool) -> Script {
    let mut s = sh!("k={}\nd={}\nline={}\n", w.path.as_str(), dirname(&w.path), line)
        .then(&prov_core::transfer::cleanup_traps_script("t"))
        .then_text(
            "set -e\nt=$(mktemp -- \"$d/.prov-pub.XXXXXXXX\")\nprintf '%s\\n' \"$line\" > \"$t\"\n\
             if [ -e \"$k.pub\" ]; then chmod --reference=\"$k.pub\" \"$t\"; chown --reference=\"$k.pub\" \"$t\"; else chmod 0644 \"$t\"; fi\n\
             mv -fT -- \"$t\" \"$k.pub\"\nt=\n",
        );
    if let Some(c) = w.comment.as_deref().filter(|c| !c.is_empty()) {
        let flag = if force_new_format { "-o " } else { "" };
        s = s.then(&sh!(
            "ssh-keygen -q {}-c -C {} -f \"$k\" </dev/null >/dev/null\n",
            Script::text(flag),
            c
        ));
    }
    s.then_text("set +e\n")
}

/// `mode`/`owner`/`group` set on both files (as `set_fs_attributes_if_different` does after
/// the module's change).
fn attrs_script(w: &Want) -> Script {
    let a = &w.attrs;
    let mut s = Script::default();
    for f in [w.path.clone(), format!("{}.pub", w.path)] {
        if let Some(m) = &a.mode {
            s = s.then(&sh!("chmod {} -- {} || exit 1\n", m.chmod_arg(), f.as_str()));
        }
        s = s.then(&match (&a.owner, &a.group) {
            (Some(o), Some(g)) => sh!("chown {}:{} -- {} || exit 1\n", o, g, f.as_str()),
            (Some(o), None) => sh!("chown {} -- {} || exit 1\n", o, f.as_str()),
            (None, Some(g)) => sh!("chgrp {} -- {} || exit 1\n", g, f.as_str()),
            (None, None) => Script::default(),
        });
    }
    s
}

/// Runs the planned script; after a change to a present pair, reads the key again for the
/// results, as the module does.
struct KeyAction {
    want: Want,
    script: Script,
    report: bool,
}

#[async_trait]
impl Action for KeyAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let mut script = self.script.clone();
        if self.report {
            script = script
                .then(&sh!(
                    "k={}\nd={}\necho '-- after'\n",
                    self.want.path.as_str(),
                    dirname(&self.want.path)
                ))
                .then_text(include_str!("openssh_keypair_probe.sh"));
        }
        let out = ctx.run_ok(&script).await?;
        if !self.report {
            return Ok(Outcome::default());
        }
        let text = out.stdout_text();
        let after: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "-- after")
            .skip(1)
            .collect();
        let p = parse_probe(&after).map_err(|e| {
            ModuleError::failed(format!("reading the new key pair failed: {e}"))
        })?;
        let k = Keypair { want: self.want };
        Ok(Outcome {
            result: k.results(&p)?,
        })
    }
}

/// Ansible's `_get_size`: the default and the allowed sizes per type.
fn key_size(key_type: &str, size: Option<i64>) -> Result<u32, ModuleError> {
    let bad = |m: &str| Err(ModuleError::arg("size", m));
    let s = match key_type {
        "rsa" => {
            let s = size.unwrap_or(4096);
            if s < 1024 {
                return bad(
                    "For RSA keys, the minimum size is 1024 bits and the default is 4096 bits. Attempting to use bit lengths under 1024 will cause the module to fail.",
                );
            }
            s
        }
        "dsa" => {
            let s = size.unwrap_or(1024);
            if s != 1024 {
                return bad("DSA keys must be exactly 1024 bits as specified by FIPS 186-2.");
            }
            s
        }
        "ecdsa" => {
            let s = size.unwrap_or(256);
            if ![256, 384, 521].contains(&s) {
                return bad(
                    "For ECDSA keys, size determines the key length by selecting from one of three elliptic curve sizes: 256, 384 or 521 bits. Attempting to use bit lengths other than these three values for ECDSA keys will cause this module to fail.",
                );
            }
            s
        }
        "ed25519" => 256,
        "rsa1" => {
            return Err(ModuleError::arg(
                "type",
                "rsa1 (SSH protocol 1) is refused: current ssh-keygen cannot make such keys",
            ));
        }
        other => {
            return Err(ModuleError::arg(
                "type",
                format!(
                    "value of type must be one of: rsa, dsa, rsa1, ecdsa, ed25519, got: {other}"
                ),
            ));
        }
    };
    u32::try_from(s).map_err(|_| ModuleError::arg("size", format!("{s} is too large")))
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("openssh_keypair", "path", &a.path)?;
    if !a.path.starts_with('/') {
        return Err(ModuleError::arg(
            "path",
            format!("{} is relative (or starts with `~`): give an absolute path", a.path),
        ));
    }
    if a.passphrase.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(ModuleError::arg(
            "passphrase",
            "refused: a passphrase needs the module's cryptography backend, which prov does not implement (ssh-keygen would take it on its command line)",
        ));
    }
    match a.backend.as_deref() {
        None | Some("auto" | "opensshbin") => {}
        Some("cryptography") => {
            return Err(ModuleError::arg(
                "backend",
                "refused: prov makes keys with the host's ssh-keygen (backend opensshbin) only",
            ));
        }
        Some(other) => {
            return Err(ModuleError::arg(
                "backend",
                format!("value of backend must be one of: auto, cryptography, opensshbin, got: {other}"),
            ));
        }
    }
    match a.private_key_format.as_deref() {
        None | Some("auto") => {}
        Some(_) => {
            return Err(ModuleError::arg(
                "private_key_format",
                "'auto' is the only valid option for 'private_key_format' when 'backend' is not 'cryptography'",
            ));
        }
    }
    let size = key_size(&a.key_type, a.size)?;
    Ok(Box::new(Keypair {
        want: Want {
            path: a.path,
            state: a.state,
            key_type: a.key_type,
            size,
            comment: a.comment,
            regenerate: if a.force {
                Regenerate::Always
            } else {
                a.regenerate
            },
            attrs,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn enc(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    const PUB: &str = "ssh-rsa AAAAB3Nza root@lab4";

    /// A probe of an existing readable key of `bits` bits whose `.pub` is `pub_file`.
    fn probe(bits: u32, pub_file: &str) -> KeyProbe {
        let lines = [
            "dir 1".to_owned(),
            "isdir 0".into(),
            "keygen 1".into(),
            format!("ssh {}", enc("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024")),
            format!("l 0 {}", enc(&format!("{bits} SHA256:abc root@lab4 (RSA)\n"))),
            format!("y 0 {} ", enc(&format!("{PUB}\n"))),
            format!("pub {}", enc(pub_file)),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        parse_probe(&lines).unwrap()
    }

    fn want(size: u32) -> Want {
        Want {
            path: "/etc/ssh/ssh_host_rsa_key".into(),
            state: Presence::Present,
            key_type: "rsa".into(),
            size,
            comment: None,
            regenerate: Regenerate::PartialIdempotence,
            attrs: Attrs::default(),
        }
    }

    fn missing() -> KeyProbe {
        parse_probe(&["dir 1", "isdir 0", "keygen 1"]).unwrap()
    }

    #[test]
    fn the_probe_is_parsed() {
        let p = probe(3072, "ssh-rsa AAAAB3Nza root@lab4\n");
        assert_eq!(
            original_private(&p),
            Some(PrivateKey {
                size: 3072,
                key_type: "rsa".into(),
                fingerprint: "SHA256:abc".into()
            })
        );
        assert_eq!(
            original_public(&p).unwrap(),
            Some(PublicKey {
                type_string: "ssh-rsa".into(),
                data: "AAAAB3Nza".into(),
                comment: "root@lab4".into()
            })
        );
        assert!(readable(&p));
        assert_eq!(missing().pub_file, PubFile::Missing);
        assert!(parse_probe(&["pub !"]).unwrap().pub_file == PubFile::Unreadable);
        assert!(parse_probe(&["what 1"]).is_err());
        assert!(parse_probe(&["l x"]).is_err());
    }

    #[test]
    fn partial_idempotence_regenerates_on_size_or_type_only() {
        let p = probe(3072, "ssh-rsa AAAAB3Nza root@lab4\n");
        assert!(matches!(
            decide(&want(4096), &p).unwrap(),
            Some(KeyOp::Generate { old: Some(k) }) if k.size == 3072
        ));
        assert_eq!(decide(&want(3072), &p).unwrap(), None);
        // The comment is not part of the key's validity: only the .pub is rewritten.
        let mut w = want(3072);
        w.comment = Some("new".into());
        assert!(matches!(
            decide(&w, &p).unwrap(),
            Some(KeyOp::RestorePublic { line, force_new_format: false }) if line == "ssh-rsa AAAAB3Nza"
        ));
        let mut w = want(3072);
        w.key_type = "ed25519".into();
        w.size = 256;
        assert!(matches!(decide(&w, &p).unwrap(), Some(KeyOp::Generate { .. })));
        assert_eq!(
            decide(&want(4096), &missing()).unwrap(),
            Some(KeyOp::Generate { old: None })
        );
    }

    #[test]
    fn other_regenerate_values() {
        let p = probe(3072, "ssh-rsa AAAAB3Nza x\n");
        let with = |r: Regenerate| Want {
            regenerate: r,
            ..want(4096)
        };
        assert_eq!(decide(&with(Regenerate::Never), &p).unwrap(), None);
        assert_eq!(
            decide(&with(Regenerate::Fail), &p).unwrap_err().to_string(),
            ModuleError::failed(WRONG_KEY).to_string()
        );
        assert!(matches!(
            decide(&with(Regenerate::FullIdempotence), &p).unwrap(),
            Some(KeyOp::Generate { .. })
        ));
        let same = Want {
            regenerate: Regenerate::Always,
            ..want(3072)
        };
        assert!(matches!(decide(&same, &p).unwrap(), Some(KeyOp::Generate { .. })));
        // An unreadable key: an error below full_idempotence, regenerated from there on.
        let mut broken = p.clone();
        broken.list = Some(Run {
            rc: 255,
            stdout: String::new(),
            stderr: "not a key file".into(),
        });
        assert!(decide(&with(Regenerate::PartialIdempotence), &broken).is_err());
        assert!(decide(&with(Regenerate::Never), &broken).is_err());
        assert!(matches!(
            decide(&with(Regenerate::FullIdempotence), &broken).unwrap(),
            Some(KeyOp::Generate { old: None })
        ));
        let mut locked = p.clone();
        locked.public_of_private = Some(Run {
            rc: 255,
            stdout: String::new(),
            stderr: "Load key: incorrect passphrase supplied".into(),
        });
        assert!(decide(&want(3072), &locked).is_err());
    }

    #[test]
    fn the_public_file_is_checked_against_the_private_key() {
        // Missing, or of another key: rewritten.
        let mut p = probe(3072, "");
        p.pub_file = PubFile::Missing;
        assert!(matches!(decide(&want(3072), &p).unwrap(), Some(KeyOp::RestorePublic { .. })));
        let p = probe(3072, "ssh-rsa OTHER root@lab4\n");
        assert!(matches!(decide(&want(3072), &p).unwrap(), Some(KeyOp::RestorePublic { .. })));
        // Without its comment: fine while no comment is asked.
        let p = probe(3072, "  ssh-rsa AAAAB3Nza\n\n");
        assert_eq!(decide(&want(3072), &p).unwrap(), None);
        let mut w = want(3072);
        w.comment = Some(String::new());
        assert_eq!(decide(&w, &p).unwrap(), None);
    }

    #[test]
    fn python_helpers() {
        assert_eq!(dirname("/etc/ssh/key"), "/etc/ssh");
        assert_eq!(dirname("/key"), "/");
        assert_eq!(dirname("key"), ".");
        assert_eq!(dirname("/a//b"), "/a");
        assert!(!force_new_format(Some("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15")));
        assert!(force_new_format(Some("OpenSSH_7.4p1, OpenSSL 1.0.2k-fips")));
        assert!(!force_new_format(None));
        assert_eq!(
            PublicKey::load("ssh-ed25519  AAA c d").unwrap().comment,
            "AAA c d"
        );
        assert_eq!(PublicKey::load("ssh-ed25519"), None);
        assert_eq!(
            PrivateKey::parse("256 SHA256:x no comment (ED25519)\n").unwrap().key_type,
            "ed25519"
        );
        assert_eq!(PrivateKey::parse("oops"), None);
    }

    #[test]
    fn arguments_are_checked() {
        let ok = |v: Value| build(v).is_ok();
        assert!(ok(json!({"path": "/k"})));
        assert!(ok(json!({"path": "/k", "type": "ed25519", "size": 99, "mode": "0600", "backend": "opensshbin"})));
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"path": "/k", "passphrase": "s3cret"})).as_deref(), Some("passphrase"));
        assert_eq!(field(json!({"path": "/k", "backend": "cryptography"})).as_deref(), Some("backend"));
        assert_eq!(field(json!({"path": "/k", "type": "rsa1"})).as_deref(), Some("type"));
        assert_eq!(field(json!({"path": "/k", "private_key_format": "pkcs1"})).as_deref(), Some("private_key_format"));
        assert_eq!(field(json!({"path": "/k", "size": 512})).as_deref(), Some("size"));
        assert_eq!(field(json!({"path": "/k", "type": "dsa", "size": 2048})).as_deref(), Some("size"));
        assert_eq!(field(json!({"path": "/k", "type": "ecdsa", "size": 255})).as_deref(), Some("size"));
        assert_eq!(field(json!({"path": "~/.ssh/id"})).as_deref(), Some("path"));
        assert_eq!(field(json!({"path": "/k", "regenerate": "sometimes"})).as_deref(), Some("regenerate"));
        assert_eq!(field(json!({"path": "/k", "seuser": "x"})).as_deref(), Some("seuser"));
        assert_eq!(field(json!({"path": "/k", "attributes": "+i"})).as_deref(), Some("attributes"));
    }

    #[test]
    fn scripts_quote_every_value() {
        let mut w = want(4096);
        w.comment = Some("a b'c".into());
        let s = generate_script(&w).to_string();
        assert!(s.contains("c='a b'\\''c'\n"), "{s}");
        assert!(s.contains("ssh-keygen -q -N '' -b \"$bits\" -t \"$ty\" -f \"$t/key\" -C \"$c\""), "{s}");
        let s = restore_script(&w, "ssh-rsa AAA", false).to_string();
        assert!(s.contains("ssh-keygen -q -c -C 'a b'\\''c' -f \"$k\""), "{s}");
    }
}
