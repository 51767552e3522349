//! `authorized_key` (ansible.posix): SSH public keys in a user's `authorized_keys` file.
//!
//! ```yaml
//! authorized_key: { user: deploy, key: "{{ lookup('file', 'deploy.pub') }}" }
//! ```
//!
//! The file is read in one remote command (with the user's passwd entry); the new content is
//! computed on the controller with ansible.posix's algorithm, quirks included, because the
//! result is compared byte for byte with what Ansible writes:
//!
//! - every line of the file is parsed and written back in Ansible's form: a key line becomes
//!   `OPTIONS TYPE BLOB COMMENT\n` (options re-joined with `,`, whitespace collapsed, and a
//!   space before the newline when the key has no comment), other lines are kept verbatim;
//! - lines are identified by their key blob (other lines by their text), so duplicates collapse
//!   to one line at the position of the last one;
//! - a new key goes after the existing lines; a key whose type, options or comment differ is
//!   removed and added again (at the end), so it moves;
//! - `changed` is Ansible's `do_write`: a rewrite that leaves the bytes unchanged still counts,
//!   and only a run that writes fixes the file's mode (0600) and owner (the user), and with
//!   `manage_dir` those of its directory (0700).
//!
//! Keys from a URL (`key: https://...`) are refused: modules do not reach the network.

use std::collections::BTreeMap;

use async_trait::async_trait;
use prov_core::transfer::FileAttrs;
use prov_core::{
    Action, CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Outcome,
    Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Presence, de_bool, yes};
use crate::parse_args;
use crate::pytext::py_splitlines;
use crate::server_util;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    user: String,
    key: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    manage_dir: bool,
    #[serde(default)]
    state: Presence,
    #[serde(default)]
    key_options: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    exclusive: bool,
    #[serde(default)]
    comment: Option<String>,
    /// Only meaningful for a URL `key`, which is refused.
    #[serde(default = "yes", deserialize_with = "de_bool")]
    validate_certs: bool,
    #[serde(default, deserialize_with = "de_bool")]
    follow: bool,
}

/// The key types ansible.posix recognizes (`VALID_SSH2_KEY_TYPES`).
const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// Key options in order, repeated names kept (Ansible's `keydict`).
pub type KeyOptions = Vec<(String, Option<String>)>;

/// One line of the file as Ansible models it: `(key, type, options, comment, rank)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key blob; for a line that is not a key, the line itself.
    pub id: String,
    /// The key type, or `skipped` for a line that is not a key.
    pub key_type: String,
    /// The options (`None` for a line that is not a key).
    pub options: Option<KeyOptions>,
    /// The comment (`None` for a line that is not a key).
    pub comment: Option<String>,
    /// The position the line is written at (ties keep insertion order).
    pub rank: i64,
}

const SKIPPED: &str = "skipped";

/// Ansible compares options as a dict of lists: names in any order, the values of one name in
/// order.
fn options_eq(a: &Option<KeyOptions>, b: &Option<KeyOptions>) -> bool {
    fn multimap(o: &KeyOptions) -> BTreeMap<&str, Vec<Option<&str>>> {
        let mut m: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
        for (k, v) in o {
            m.entry(k.as_str()).or_default().push(v.as_deref());
        }
        m
    }
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => multimap(a) == multimap(b),
        _ => false,
    }
}

/// `parsed_new_key[:4] == existing[:4]`.
fn same_key(a: &Entry, b: &Entry) -> bool {
    a.id == b.id
        && a.key_type == b.key_type
        && options_eq(&a.options, &b.options)
        && a.comment == b.comment
}

/// Python's universal newlines when reading a text file: `\r\n` and `\r` become `\n`.
pub fn universal_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// The parts `re.split(r'''((?:[^,"']|"[^"]*"|'[^']*')+)''', s)[1:-1]` gives.
fn split_option_parts(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let match_at = |i: usize| -> Option<usize> {
        let mut j = i;
        while j < b.len() {
            match b[j] {
                b',' => break,
                q @ (b'"' | b'\'') => match b[j + 1..].iter().position(|&c| c == q) {
                    Some(k) => j += k + 2,
                    None => break,
                },
                _ => j += 1,
            }
        }
        (j > i).then_some(j)
    };
    let mut pieces: Vec<&str> = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        match match_at(i) {
            Some(end) => {
                pieces.push(&s[last..i]);
                pieces.push(&s[i..end]);
                last = end;
                i = end;
            }
            // Only ASCII `,` `"` `'` start no match: `i + 1` stays on a char boundary.
            None => i += 1,
        }
    }
    pieces.push(&s[last..]);
    if pieces.len() < 2 {
        return Vec::new();
    }
    pieces[1..pieces.len() - 1].to_vec()
}

/// Ansible's `parseoptions`.
pub fn parse_options(options: Option<&str>) -> KeyOptions {
    let mut out = KeyOptions::new();
    let Some(s) = options.filter(|s| !s.is_empty()) else {
        return out;
    };
    for part in split_option_parts(s) {
        if let Some((k, v)) = part.split_once('=') {
            out.push((k.to_owned(), Some(v.to_owned())));
        } else if part != "," {
            out.push((part.to_owned(), None));
        }
    }
    out
}

/// Ansible's `parsekey`: `Ok(None)` for a line without a known key type.
pub fn parse_key(raw: &str, rank: i64) -> Result<Option<Entry>, String> {
    let raw = raw.replace("\\#", "#");
    // shlex with whitespace_split, no quotes, no comments: split on ' \t\r\n'.
    let parts: Vec<&str> = raw
        .split([' ', '\t', '\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.first() == Some(&"#") {
        return Ok(Some(Entry {
            id: raw.clone(),
            key_type: SKIPPED.into(),
            options: None,
            comment: None,
            rank,
        }));
    }
    let Some(ti) = parts.iter().position(|p| KEY_TYPES.contains(p)) else {
        return Ok(None);
    };
    let options = (ti > 0).then(|| parts[..ti].join(" "));
    let Some(blob) = parts.get(ti + 1) else {
        return Err(format!(
            "the line `{}` names the key type {} without a key",
            raw.trim_end(),
            parts[ti]
        ));
    };
    Ok(Some(Entry {
        id: (*blob).to_owned(),
        key_type: parts[ti].to_owned(),
        options: Some(parse_options(options.as_deref())),
        comment: Some(parts[ti + 2..].join(" ")),
        rank,
    }))
}

/// A Python dict of entries keyed by `id`: assignment keeps an existing key's place.
#[derive(Debug, Default)]
struct Keys(Vec<Entry>);

impl Keys {
    fn get(&self, id: &str) -> Option<&Entry> {
        self.0.iter().find(|e| e.id == id)
    }
    fn set(&mut self, e: Entry) {
        match self.0.iter_mut().find(|x| x.id == e.id) {
            Some(x) => *x = e,
            None => self.0.push(e),
        }
    }
    fn remove(&mut self, id: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|e| e.id != id);
        self.0.len() != before
    }
}

/// Ansible's `parsekeys`.
fn parse_keys(content: &str) -> Result<Keys, String> {
    let mut keys = Keys::default();
    for (rank, line) in py_splitlines(content, true).into_iter().enumerate() {
        let rank = rank as i64;
        let e = parse_key(line, rank)?.unwrap_or_else(|| Entry {
            id: line.to_owned(),
            key_type: SKIPPED.into(),
            options: None,
            comment: None,
            rank,
        });
        keys.set(e);
    }
    Ok(keys)
}

/// Ansible's `serialize`.
fn serialize(keys: &Keys) -> String {
    let mut v: Vec<&Entry> = keys.0.iter().collect();
    v.sort_by_key(|e| e.rank);
    let mut out = String::new();
    for e in v {
        if e.key_type == SKIPPED {
            out.push_str(&e.id);
            continue;
        }
        if let Some(opts) = e.options.as_ref().filter(|o| !o.is_empty()) {
            let strs: Vec<String> = opts
                .iter()
                .map(|(k, v)| match v {
                    None => k.clone(),
                    Some(v) => format!("{k}={v}"),
                })
                .collect();
            out.push_str(&strs.join(","));
            out.push(' ');
        }
        out.push_str(&format!(
            "{} {} {}\n",
            e.key_type,
            e.id,
            e.comment.as_deref().unwrap_or("None")
        ));
    }
    out
}

/// What the task asks for, independent of the host.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// The `key` argument (one or several keys, one per line).
    pub key: String,
    /// `state: present`.
    pub present: bool,
    /// `key_options`.
    pub key_options: Option<String>,
    /// `comment`.
    pub comment: Option<String>,
    /// `exclusive`.
    pub exclusive: bool,
}

/// Ansible's `enforce_state` on the current content (already read with universal newlines):
/// whether Ansible writes the file (`do_write`, its `changed`) and the content it writes.
pub fn enforce(existing: &str, req: &KeyRequest) -> Result<(bool, String), String> {
    let new_keys: Vec<&str> = py_splitlines(&req.key, false)
        .into_iter()
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .collect();
    let mut keys = parse_keys(existing)?;
    let max_rank = keys.0.len() as i64;
    let mut keys_to_exist: Vec<String> = Vec::new();
    let mut do_write = false;
    for (rank, new_key) in new_keys.iter().enumerate() {
        let rank = rank as i64;
        let mut parsed = parse_key(new_key, rank)
            .map_err(|e| format!("invalid key specified: {new_key} ({e})"))?
            .ok_or_else(|| format!("invalid key specified: {new_key}"))?;
        if let Some(o) = &req.key_options {
            parsed.options = Some(parse_options(Some(o)));
        }
        if let Some(c) = &req.comment {
            parsed.comment = Some(c.clone());
        }
        let mut matched = false;
        let mut non_matching: Option<String> = None;
        if let Some(ex) = keys.get(&parsed.id) {
            if !same_key(&parsed, ex) && req.present {
                non_matching = Some(ex.id.clone());
            } else {
                matched = true;
            }
        }
        if req.present {
            keys_to_exist.push(parsed.id.clone());
            if let Some(id) = non_matching
                && keys.remove(&id)
            {
                do_write = true;
            }
            if !matched {
                parsed.rank = max_rank + rank;
                keys.set(parsed);
                do_write = true;
            }
        } else if matched {
            keys.remove(&parsed.id);
            do_write = true;
        }
    }
    if req.present && req.exclusive {
        let before = keys.0.len();
        keys.0.retain(|e| keys_to_exist.contains(&e.id));
        if keys.0.len() != before {
            do_write = true;
        }
    }
    Ok((do_write, serialize(&keys)))
}

/// Python's `os.path.dirname`.
fn py_dirname(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let head = &p[..i];
    if !head.is_empty() && !head.chars().all(|c| c == '/') {
        head.trim_end_matches('/').to_owned()
    } else {
        head.to_owned()
    }
}

/// A passwd entry's uid, gid and home.
fn parse_passwd(line: &str) -> Option<(u32, u32, String)> {
    let f: Vec<&str> = line.trim_end_matches('\n').split(':').collect();
    if f.len() < 7 {
        return None;
    }
    Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].to_owned()))
}

/// The `authorized_key` module.
#[derive(Debug)]
pub struct AuthorizedKey {
    user: String,
    path: Option<String>,
    manage_dir: bool,
    follow: bool,
    req: KeyRequest,
    params: serde_json::Map<String, Value>,
}

/// The key file as the host has it: the user's passwd entry, the file's path, where a write
/// goes (a link's target) and the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// The user's uid, gid and home; `None` when the user does not exist.
    pub account: Option<(u32, u32, String)>,
    /// The key file (`~user/.ssh/authorized_keys` or `path`, expanded); empty when unknown.
    pub path: String,
    /// `readlink -m` of the path (empty when the path is).
    pub real: String,
    /// The content; `None` when there is no such regular file.
    pub content: Option<Vec<u8>>,
}

/// Reads the [`KeyFile`] of a task: three lines (the passwd entry, the path, its canonical
/// form), then `content` and the file's bytes when it is a regular file.
pub struct KeyFileFact<'a> {
    /// The user.
    pub user: &'a str,
    /// The `path` argument.
    pub path: Option<&'a str>,
}

impl KeyFileFact<'_> {
    /// The shell lines that set `$p` to the key file (Ansible's `type: path` expansion of `~`,
    /// or `~user/.ssh/authorized_keys`).
    fn path_script(&self) -> Script {
        let Some(path) = self.path else {
            return Script::text(
                "p=\nif [ -n \"$ent\" ]; then h=$(printf '%s\\n' \"$ent\" | cut -d: -f6); if [ -n \"$h\" ]; then p=\"${h%/}/.ssh/authorized_keys\"; fi; fi\n",
            );
        };
        let Some(rest) = path.strip_prefix('~') else {
            return sh!("p={}\n", path);
        };
        let (name, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if name.is_empty() {
            sh!(
                "p={}\nif [ -n \"${{HOME:-}}\" ]; then p=\"${{HOME%/}}\"{}; fi\n",
                path,
                tail
            )
        } else {
            sh!(
                "p={}\nh=$(getent passwd {} | cut -d: -f6) && [ -n \"$h\" ] && p=\"${{h%/}}\"{}\n",
                path,
                name,
                tail
            )
        }
    }
}

impl Fact for KeyFileFact<'_> {
    type Output = KeyFile;

    fn name(&self) -> String {
        format!("authorized keys of {}", self.user)
    }

    fn script(&self) -> Script {
        sh!(
            "u={}\nent=$(getent passwd \"$u\") || ent=\nprintf '%s\\n' \"$ent\"\n",
            self.user
        )
        .then(&self.path_script())
        .then_text(include_str!("authorized_key_read.sh"))
    }

    fn parse(&self, out: &CommandOutput) -> Result<KeyFile, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let mut rest = &out.stdout[..];
        let mut line = || -> Result<String, FactError> {
            let i = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| self.error("the answer ends early"))?;
            let l = String::from_utf8_lossy(&rest[..i]).into_owned();
            rest = &rest[i + 1..];
            Ok(l)
        };
        let (passwd, path, real) = (line()?, line()?, line()?);
        let account = match passwd.as_str() {
            "" => None,
            p => Some(
                parse_passwd(p).ok_or_else(|| self.error(format!("passwd entry `{p}`")))?,
            ),
        };
        let content = match rest {
            [] => None,
            r => Some(
                r.strip_prefix(b"content\n")
                    .ok_or_else(|| self.error("unexpected text after the path"))?
                    .to_vec(),
            ),
        };
        Ok(KeyFile {
            account,
            path,
            real,
            content,
        })
    }
}

impl AuthorizedKey {
    /// The decision: the key file's new content from what the host has (no I/O).
    fn plan_keys(&self, kf: KeyFile, check_mode: bool) -> Result<Plan, ModuleError> {
        let user = &self.user;
        if kf.account.is_none() {
            if check_mode && self.path.is_none() {
                return Err(ModuleError::failed(
                    "Either user must exist or you must provide full path to key file in check mode",
                ));
            }
            if !check_mode {
                return Err(ModuleError::failed(format!(
                    "Failed to lookup user {user}: \"getpwnam(): name not found: '{user}'\""
                )));
            }
        }
        let keyfile = kf.path;
        if !keyfile.starts_with('/') {
            return Err(ModuleError::failed(format!(
                "authorized_key: the key file of {user} is not an absolute path (`{keyfile}`): the home directory in its passwd entry is empty or relative"
            )));
        }
        let write_path = match kf.real.as_str() {
            r if self.follow && !r.is_empty() => r.to_owned(),
            _ => keyfile.clone(),
        };
        let existing = match &kf.content {
            None => String::new(),
            Some(bytes) => universal_newlines(std::str::from_utf8(bytes).map_err(|_| {
                ModuleError::failed(format!(
                    "authorized_key: {keyfile} is not valid UTF-8 text (Ansible fails on it too)"
                ))
            })?),
        };
        let (do_write, new) = enforce(&existing, &self.req)
            .map_err(|e| ModuleError::failed(format!("authorized_key: {e}")))?;
        let mut plan = Plan::Unchanged {
            result: self.params.clone(),
        };
        plan.result_mut().insert("keyfile".into(), json!(keyfile));
        plan.result_mut().insert("changed".into(), json!(do_write));
        if !do_write {
            return Ok(plan);
        }
        let diff = Diff::new(write_path.clone(), existing.clone(), new.clone());
        let summary = if kf.content.is_none() {
            format!("create {write_path} ({} bytes)", new.len())
        } else if existing == new {
            format!("rewrite {write_path} (same content: Ansible rewrites it too)")
        } else {
            let (add, del) = diff.line_counts();
            format!("update {write_path} (+{add} -{del} lines)")
        };
        let action = WriteKeys {
            sshdir: self.manage_dir.then(|| py_dirname(&keyfile)),
            keysfile: write_path,
            owner: kf.account.map(|(uid, gid, _)| (uid, gid)),
            content: new,
        };
        Ok(plan.with_change(vec![summary], vec![diff], action))
    }
}

#[async_trait]
impl Module for AuthorizedKey {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = KeyFileFact {
            user: &self.user,
            path: self.path.as_deref(),
        };
        let kf = ctx.fact(&fact).await?;
        self.plan_keys(kf, ctx.check_mode)
    }
}

/// Ansible's `keyfile(write=True)` then `writefile`: the directory (with `manage_dir`) made
/// 0700 and the user's, the file created if missing, 0600 and the user's, then replaced
/// atomically.
struct WriteKeys {
    sshdir: Option<String>,
    keysfile: String,
    owner: Option<(u32, u32)>,
    content: String,
}

impl WriteKeys {
    fn prepare_script(&self, uid: u32, gid: u32) -> Script {
        let mut s = Script::text("set -e\n");
        if let Some(d) = &self.sshdir {
            s = s.then(&sh!(
                "d={}\nif [ ! -e \"$d\" ]; then mkdir -m 0700 -- \"$d\"; fi\nchown {}:{} -- \"$d\"\nchmod 0700 -- \"$d\"\n",
                d,
                uid,
                gid
            ));
        }
        s.then(&sh!(
            "k={}\nif [ ! -e \"$k\" ]; then mkdir -p -- \"$(dirname -- \"$k\")\"; : > \"$k\"; fi\nchown {}:{} -- \"$k\" 2>/dev/null || true\nchmod 0600 -- \"$k\" 2>/dev/null || true\n",
            self.keysfile,
            uid,
            gid
        ))
    }
}

#[async_trait]
impl Action for WriteKeys {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let (uid, gid) = self
            .owner
            .ok_or_else(|| ModuleError::failed("authorized_key: the user does not exist"))?;
        ctx.run_ok(&self.prepare_script(uid, gid)).await?;
        let attrs = FileAttrs {
            mode: Some("0600".into()),
            owner: Some(uid.to_string()),
            group: Some(gid.to_string()),
            backup: false,
        };
        server_util::write_text(ctx, &self.keysfile, &self.content, &attrs).await?;
        Ok(Outcome::default())
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("authorized_key", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = parse_args(args)?;
    let err = |m: String| Err(ModuleError::args(m));
    if a.user.is_empty() || a.user.starts_with('-') || a.user.contains([':', '\n', '\0', '/']) {
        return err(format!("`{}` is not a valid user name", a.user));
    }
    if a.key.starts_with("http") {
        return err(format!(
            "`key` is a URL ({}): fetching keys over the network is not supported; give the keys themselves (e.g. from lookup('file', ...) or lookup('url', ...) on the controller)",
            a.key
        ));
    }
    if let Some(p) = &a.path {
        crate::remote_file::check_path("authorized_key", "path", p)?;
        if p.contains('$') {
            return err(format!(
                "`path` {p} contains `$`: environment variables in paths are not expanded by prov"
            ));
        }
        if !p.starts_with('/') && !p.starts_with('~') {
            return err(format!("`path` {p} must be absolute (or start with ~)"));
        }
    }
    for (what, v) in [("key_options", &a.key_options), ("comment", &a.comment)] {
        if v.as_deref().is_some_and(|v| v.contains(['\n', '\r'])) {
            return err(format!("`{what}` must be one line"));
        }
    }
    let present = a.state == Presence::Present;
    let params = serde_json::Map::from_iter([
        ("user".to_owned(), json!(a.user)),
        ("key".to_owned(), json!(a.key)),
        ("path".to_owned(), json!(a.path)),
        ("manage_dir".to_owned(), json!(a.manage_dir)),
        (
            "state".to_owned(),
            json!(if present { "present" } else { "absent" }),
        ),
        ("key_options".to_owned(), json!(a.key_options)),
        ("exclusive".to_owned(), json!(a.exclusive)),
        ("comment".to_owned(), json!(a.comment)),
        ("validate_certs".to_owned(), json!(a.validate_certs)),
        ("follow".to_owned(), json!(a.follow)),
    ]);
    Ok(Box::new(AuthorizedKey {
        user: a.user,
        path: a.path,
        manage_dir: a.manage_dir,
        follow: a.follow,
        req: KeyRequest {
            key: a.key,
            present,
            key_options: a.key_options,
            comment: a.comment,
            exclusive: a.exclusive,
        },
        params,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop";
    const B: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob@desk";
    const C: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY carol";

    fn req(key: &str) -> KeyRequest {
        KeyRequest {
            key: key.into(),
            present: true,
            key_options: None,
            comment: None,
            exclusive: false,
        }
    }

    fn run(existing: &str, r: &KeyRequest) -> (bool, String) {
        enforce(existing, r).unwrap()
    }

    #[test]
    fn adds_to_empty_and_missing_files() {
        assert_eq!(run("", &req(A)), (true, format!("{A}\n")));
        // Several keys, one per line; blank and `#` lines of `key` are ignored.
        let both = format!("{A}\n\n# old key\n{B}\n");
        assert_eq!(run("", &req(&both)), (true, format!("{A}\n{B}\n")));
    }

    #[test]
    fn present_key_is_unchanged() {
        let file = format!("{A}\n{B}\n");
        assert_eq!(run(&file, &req(B)), (false, file.clone()));
        // Whitespace differences alone do not count (compared by parts).
        let spaced = "ssh-rsa   AAAAB3NzaC1yc2EAAAADAQABAAABAQ\tbob@desk\n";
        assert!(!run(spaced, &req(B)).0);
    }

    #[test]
    fn new_keys_go_after_existing_lines_and_lines_are_rewritten() {
        // Existing lines are re-serialized: comments kept verbatim, keys normalized, a last
        // line without newline gets one.
        let file = "# managed by hand\nssh-rsa   AAAAB3NzaC1yc2EAAAADAQABAAABAQ   bob@desk";
        assert_eq!(
            run(file, &req(A)),
            (true, format!("# managed by hand\n{B}\n{A}\n"))
        );
    }

    #[test]
    fn key_without_comment_gets_a_trailing_space() {
        assert_eq!(
            run("", &req("ssh-ed25519 AAAAC3")),
            (true, "ssh-ed25519 AAAAC3 \n".into())
        );
        // ... and is then unchanged.
        assert!(!run("ssh-ed25519 AAAAC3 \n", &req("ssh-ed25519 AAAAC3")).0);
    }

    #[test]
    fn changed_options_or_comment_move_the_key_to_the_end() {
        let file = format!("{A}\n{B}\n{C}\n");
        let mut r = req(A);
        r.key_options = Some("no-port-forwarding,from=\"10.0.0.1\"".into());
        assert_eq!(
            run(&file, &r),
            (
                true,
                format!("{B}\n{C}\nno-port-forwarding,from=\"10.0.0.1\" {A}\n")
            )
        );
        // Options compare as a dict: order does not matter.
        let with = format!("from=\"10.0.0.1\",no-port-forwarding {A}\n");
        assert!(!run(&with, &r).0);
        let mut r = req(B);
        r.comment = Some("bob@new".into());
        let (w, out) = run(&file, &r);
        assert!(w);
        assert_eq!(
            out,
            format!("{A}\n{C}\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob@new\n")
        );
    }

    #[test]
    fn duplicates_collapse_to_the_last_position() {
        let file = format!("{A}\n\n{B}\n\n{A} other\n");
        // `A` (blob) and the blank line each keep their last rank.
        // The new key's rank (3 unique lines + 0) ties with the blank line's: the dict order
        // puts it after the blank line, before `A` (rank 4).
        assert_eq!(
            run(&file, &req(C)),
            (true, format!("{B}\n\n{C}\n{A} other\n"))
        );
        // Unchanged when nothing is added: the file is not rewritten at all.
        assert_eq!(run(&file, &req(B)), (false, format!("{B}\n\n{A} other\n")));
    }

    #[test]
    fn new_rank_counts_unique_lines() {
        // Three blank lines collapse to one entry (rank 2): the new key gets rank 2 + 0 and
        // sorts before the key at rank 3, as in Ansible.
        let file = format!("\n\n\n{A}\n");
        assert_eq!(run(&file, &req(B)), (true, format!("\n{B}\n{A}\n")));
    }

    #[test]
    fn absent_removes_by_blob_whatever_the_options() {
        let file = format!("{A}\nno-pty {B}\n");
        let mut r = req("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ");
        r.present = false;
        assert_eq!(run(&file, &r), (true, format!("{A}\n")));
        assert_eq!(run(&format!("{A}\n"), &r), (false, format!("{A}\n")));
    }

    #[test]
    fn exclusive_removes_everything_else_including_comments() {
        let file = format!("# keys\n{A}\n{B}\n");
        let mut r = req(B);
        r.exclusive = true;
        assert_eq!(run(&file, &r), (true, format!("{B}\n")));
        assert_eq!(run(&format!("{B}\n"), &r), (false, format!("{B}\n")));
    }

    #[test]
    fn invalid_keys_fail_and_odd_lines_are_kept() {
        assert!(enforce("", &req("not a key")).is_err());
        assert!(enforce("", &req("ssh-rsa")).is_err());
        let file = "garbage line\n#comment\n";
        assert_eq!(
            run(file, &req(A)),
            (true, format!("garbage line\n#comment\n{A}\n"))
        );
        // `\#` in a comment line is unescaped.
        assert_eq!(
            run("# a \\# b\n", &req(A)),
            (true, format!("# a # b\n{A}\n"))
        );
    }

    #[test]
    fn options_parse_like_ansible() {
        assert_eq!(
            parse_options(Some("no-pty,command=\"a,b\",from='x'")),
            vec![
                ("no-pty".to_owned(), None),
                ("command".to_owned(), Some("\"a,b\"".to_owned())),
                ("from".to_owned(), Some("'x'".to_owned())),
            ]
        );
        assert_eq!(
            parse_options(Some("a,,b")),
            vec![
                ("a".to_owned(), None),
                (",,".to_owned(), None),
                ("b".to_owned(), None)
            ]
        );
        assert!(parse_options(Some("")).is_empty());
        // Options with spaces inside quotes survive a round trip.
        let mut r = req(A);
        r.key_options = Some("command=\"echo  hi\"".into());
        let (_, out) = run("", &r);
        assert_eq!(out, format!("command=\"echo  hi\" {A}\n"));
        // Re-read, the two spaces collapse (shlex split, joined by one): Ansible rewrites.
        assert!(run(&out, &r).0);
    }

    #[test]
    fn text_helpers() {
        assert_eq!(universal_newlines("a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(py_dirname("/home/u/.ssh/authorized_keys"), "/home/u/.ssh");
        assert_eq!(py_dirname("/keys"), "/");
        assert_eq!(
            parse_passwd("bob:x:1001:1002:Bob:/home/bob:/bin/sh\n"),
            Some((1001, 1002, "/home/bob".into()))
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"user": "bob", "key": A})).is_ok());
        assert!(build(json!({"user": "bob", "key": "https://github.com/bob.keys"})).is_err());
        assert!(build(json!({"user": "bob", "key": A, "bogus": 1})).is_err());
        assert!(build(json!({"user": "bob", "key": A, "state": "latest"})).is_err());
        assert!(build(json!({"user": "bob", "key": A, "path": "rel/keys"})).is_err());
        assert!(
            build(
                json!({"user": "bob", "key": A, "path": "~bob/.ssh/k", "manage_dir": "no",
                         "exclusive": "yes", "validate_certs": false, "follow": true})
            )
            .is_ok()
        );
    }

    fn run_fact(fact: &KeyFileFact, home: Option<&str>) -> Result<KeyFile, FactError> {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(fact.script().as_str());
        if let Some(h) = home {
            cmd.env("HOME", h);
        }
        let out = cmd.output().expect("sh");
        fact.parse(&CommandOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    /// The fact's script, run in a real shell: `~` expansion and content that looks like the
    /// framing.
    #[test]
    fn the_fact_in_a_shell() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("keys");
        let text = format!("{A}\ncontent\n\n");
        std::fs::write(&f, &text).expect("write");
        let path = f.display().to_string();
        let fact = KeyFileFact {
            user: "root",
            path: Some(&path),
        };
        let kf = run_fact(&fact, None).expect("the fact");
        assert_eq!(kf.content.as_deref(), Some(text.as_bytes()));
        assert_eq!(kf.account.as_ref().map(|a| a.0), Some(0));
        assert_eq!(kf.path, path);
        assert_eq!(kf.real, path);
        let home = KeyFileFact {
            user: "root",
            path: Some("~/x/keys"),
        };
        let kf = run_fact(&home, Some("/h/")).expect("the fact");
        assert_eq!((kf.path.as_str(), kf.content), ("/h/x/keys", None));
        let nobody = KeyFileFact {
            user: "no-such-user-prov",
            path: None,
        };
        let kf = run_fact(&nobody, None).expect("the fact");
        assert_eq!((kf.account, kf.path.as_str()), (None, ""));
    }

    #[test]
    fn the_fact_refuses_malformed_answers() {
        let fact = KeyFileFact {
            user: "bob",
            path: None,
        };
        let out = |stdout: &[u8]| CommandOutput {
            status: 0,
            stdout: stdout.to_vec(),
            stderr: Vec::new(),
        };
        let ok = fact
            .parse(&out(b"bob:x:1001:1002:Bob:/home/bob:/bin/sh\n/k\n/k\ncontent\nx"))
            .unwrap();
        assert_eq!(ok.account, Some((1001, 1002, "/home/bob".into())));
        assert_eq!(ok.content.as_deref(), Some(&b"x"[..]));
        for bad in [&b"bob:x:one:2:B:/h:/s\n/k\n/k\n"[..], b"\n/k\n", b"\n/k\n/k\nother"] {
            let e = fact.parse(&out(bad)).unwrap_err();
            assert_eq!(e.fact, "authorized keys of bob", "{e}");
        }
    }
}
