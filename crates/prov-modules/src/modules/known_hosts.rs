//! `known_hosts`: one host key in an SSH `known_hosts` file, as Ansible's module keeps it.
//!
//! ```yaml
//! known_hosts: { name: git.example.com, key: "git.example.com ssh-ed25519 AAAA..." }
//! ```
//!
//! As in Ansible: the host is lower-cased; `ssh-keygen -F HOST -f PATH` finds its lines
//! (hashed ones too) and the line number of the last key it lists; a key of the same type and
//! host field that differs is replaced in place of that line (the new line goes at the end),
//! an equal one changes nothing (a hashed host field counts as equal to another hash);
//! `state: absent` with a key removes a matching line, without a key every line of the host
//! through `ssh-keygen -R` (which leaves `PATH.old`, as Ansible's run does). `hash_host` hashes
//! the new line's host field (`|1|salt|hmac`, HMAC-SHA1 with a random salt). The key must name
//! the host (checked with `ssh-keygen -F` on the key alone); a comma-separated `name` is
//! refused. `path` defaults to `~/.ssh/known_hosts` of the remote user; its directory must
//! exist, as in Ansible. Returns `name`, `key`, `path`, `hash_host`, `state`, and the diff.
//! `~user/` paths are refused.

use async_trait::async_trait;
use base64::Engine;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, RunScript, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::args::{Presence, de_bool};
use crate::textfiles::{CommandAnswer, FileWrite, Probe, TextFilesFact, WriteFiles};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("known_hosts", build);

/// The `known_hosts` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownHostsArgs {
    /// The host (lower-cased).
    #[serde(alias = "host")]
    pub name: String,
    /// The known_hosts line (`host type key`).
    #[serde(default)]
    pub key: Option<String>,
    /// The file (default `~/.ssh/known_hosts`).
    #[serde(default)]
    pub path: Option<String>,
    /// Hash the host field of the new line.
    #[serde(default, deserialize_with = "de_bool")]
    pub hash_host: bool,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
}

/// A known_hosts line as Ansible compares it (`normalize_known_hosts_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// `@cert-authority` / `@revoked`.
    pub marker: Option<String>,
    /// The host field.
    pub host: String,
    /// The key type.
    pub kind: String,
    /// The key.
    pub key: String,
}

/// Ansible's `normalize_known_hosts_key`.
pub fn normalize(line: &str) -> Result<HostKey, String> {
    let k: Vec<&str> = line.split_whitespace().collect();
    let (marker, rest) = match k.first() {
        Some(m) if m.starts_with('@') => (Some((*m).to_owned()), &k[1..]),
        Some(_) => (None, &k[..]),
        None => return Err("an empty key".into()),
    };
    match rest {
        [host, kind, key, ..] => Ok(HostKey {
            marker,
            host: (*host).into(),
            kind: (*kind).into(),
            key: (*key).into(),
        }),
        _ => Err(format!("`{line}` is not a known_hosts line (host type key)")),
    }
}

/// What `ssh-keygen -F` found: whether the host is there, whether the key must be replaced or
/// added, and the line of the same-type key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The host has lines.
    pub found: bool,
    /// The key differs from the file's (or is missing).
    pub replace_or_add: bool,
    /// The line to replace or remove.
    pub found_line: Option<usize>,
}

/// Ansible's `search_for_host_key` over `ssh-keygen -F`'s answer (stdout and stderr merged).
pub fn search(answer: &CommandAnswer, key: Option<&HostKey>) -> Result<Search, String> {
    let none = Search {
        found: false,
        replace_or_add: false,
        found_line: None,
    };
    if answer.stdout.is_empty() && (answer.status == 0 || answer.status == 1) {
        return Ok(none);
    }
    if answer.status != 0 {
        return Err(format!(
            "ssh-keygen failed (rc={}, stdout='{}')",
            answer.status, answer.stdout
        ));
    }
    let Some(new) = key else {
        return Ok(Search { found: true, ..none });
    };
    let mut found_line = None;
    for l in answer.stdout.split('\n').filter(|l| !l.is_empty()) {
        if l.starts_with('#') {
            let n = l
                .split("found: line ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("failed to parse output of ssh-keygen for line number: '{l}'"))?;
            found_line = Some(n);
            continue;
        }
        let f = normalize(l)?;
        let hit = |replace| {
            Ok(Search {
                found: true,
                replace_or_add: replace,
                found_line,
            })
        };
        let special = f
            .marker
            .as_deref()
            .is_some_and(|m| m.starts_with("@cert-authority") || m.starts_with("@revoke"));
        if special {
            if *new == f {
                return hit(false);
            }
            continue;
        }
        let mut n = new.clone();
        if n.host.starts_with("|1|") && f.host.starts_with("|1|") {
            n.host = f.host.clone();
        }
        if n == f {
            return hit(false);
        }
        if n.kind == f.kind {
            return hit(true);
        }
    }
    Ok(Search {
        found: true,
        replace_or_add: true,
        found_line: None,
    })
}

/// The file after the change (Ansible's rewrite and `compute_diff`).
pub fn rewrite(content: &str, s: &Search, present: bool, key_line: &str) -> String {
    let mut out = String::new();
    for (i, line) in content.split_inclusive('\n').enumerate() {
        if s.found_line == Some(i + 1) && (s.replace_or_add || !present) {
            continue;
        }
        out.push_str(line);
    }
    if present {
        out.push_str(key_line);
    }
    out
}

/// Ansible's `hash_host_key`: the host field replaced by `|1|base64(salt)|base64(hmac)`.
pub fn hash_host_key(host: &str, key: &str, salt: &[u8; 20]) -> String {
    let mac = hmac_sha1(salt, host.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut parts: Vec<String> = key.split_whitespace().map(str::to_owned).collect();
    let i = usize::from(parts.first().is_some_and(|p| p.starts_with('@')));
    if let Some(p) = parts.get_mut(i) {
        *p = format!("|1|{}|{}", b64.encode(salt), b64.encode(mac));
    }
    parts.join(" ")
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    k[..key.len().min(64)].copy_from_slice(&key[..key.len().min(64)]);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha1::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha1::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The `known_hosts` module.
#[derive(Debug)]
pub struct KnownHosts {
    host: String,
    key: Option<String>,
    path: String,
    hash_host: bool,
    state: Presence,
}

impl KnownHosts {
    /// The path as a shell word (`~/` becomes `"$HOME"/`).
    fn path_word(&self) -> Script {
        match self.path.strip_prefix("~/") {
            Some(rest) => sh!("\"$HOME\"/{}", rest),
            None if self.path == "~" => Script::text("\"$HOME\""),
            None => sh!("{}", self.path),
        }
    }

    fn probes(&self, key_line: Option<&str>) -> Vec<Probe> {
        let p = self.path_word();
        let cmd = |name: &str, script: Script| Probe::Command {
            name: name.into(),
            script,
        };
        let mut probes = vec![
            cmd("keygen", Script::text("command -v ssh-keygen")),
            cmd("path", sh!("printf %s {}", p)),
            cmd("file", sh!("[ -f {} ] || exit 4; cat -- {}", p, p)),
            cmd("dir", sh!("test -d \"$(dirname -- {})\"", p)),
            cmd(
                "search",
                sh!("[ -e {} ] || exit 0; ssh-keygen -F {} -f {} 2>&1", p, self.host, p),
            ),
        ];
        if let Some(k) = key_line {
            probes.push(cmd(
                "sanity",
                sh!("printf '%s\\n' {} | ssh-keygen -F {} -f /dev/stdin", k, self.host),
            ));
        }
        probes
    }
}

#[async_trait]
impl Module for KnownHosts {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let key_line = self.key.as_ref().map(|k| {
            let k = k.trim_end_matches(['\r', '\n']);
            if self.hash_host {
                hash_host_key(&self.host, k, &rand::random())
            } else {
                k.to_owned()
            }
        });
        let found = ctx
            .fact(&TextFilesFact::new(
                format!("known_hosts {}", self.path),
                self.probes(key_line.as_deref()),
            ))
            .await?;
        let answer = |n: &str| {
            found
                .command(n)
                .ok_or_else(|| ModuleError::failed(format!("no answer for {n}")))
        };
        if answer("keygen")?.status != 0 {
            return Err(ModuleError::failed(
                "Failed to find required executable \"ssh-keygen\"",
            ));
        }
        if key_line.is_some() && answer("sanity")?.stdout.is_empty() {
            return Err(ModuleError::failed(
                "Host parameter does not match hashed host field in supplied key",
            ));
        }
        let path = answer("path")?.stdout.clone();
        let file = answer("file")?;
        let content = (file.status == 0).then_some(file.stdout.as_str());
        let new = key_line.as_deref().map(normalize).transpose().map_err(ModuleError::failed)?;
        let s = search(answer("search")?, new.as_ref()).map_err(ModuleError::failed)?;
        let present = self.state == Presence::Present;
        let key_nl = key_line.map(|k| format!("{k}\n")).unwrap_or_default();
        let after = rewrite(content.unwrap_or(""), &s, present, &key_nl);
        let plan = Plan::unchanged()
            .with_result("name", json!(self.host))
            .with_result("key", json!(self.key))
            .with_result("path", json!(path))
            .with_result("hash_host", json!(self.hash_host))
            .with_result("state", json!(if present { "present" } else { "absent" }));
        if (!present && s.found_line.is_none() && new.is_some())
            || !(s.replace_or_add || present != s.found)
        {
            return Ok(plan);
        }
        let diff = Diff::new(path.clone(), content.unwrap_or(""), after.clone());
        if s.found && new.is_none() && !present {
            let script = sh!("ssh-keygen -R {} -f {}", self.host, path);
            let summary = format!("remove every key of {} from {path}", self.host);
            return Ok(plan.with_change(vec![summary], vec![diff], RunScript(script)));
        }
        if content.is_none() && answer("dir")?.status != 0 {
            return Err(ModuleError::failed(format!("Failed to write to file '{path}'.")));
        }
        let verb = match (present, s.found_line.is_some() && s.replace_or_add) {
            (true, true) => "replace",
            (true, false) => "add",
            (false, _) => "remove",
        };
        let summary = format!("{path}: {verb} the key of {}", self.host);
        let write = WriteFiles {
            writes: vec![FileWrite::write(path.clone(), after)],
            ..WriteFiles::default()
        };
        Ok(plan.with_change(vec![summary], vec![diff], write))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: KnownHostsArgs = parse_args(args)?;
    let key = a.key.filter(|k| !k.is_empty());
    if key.is_none() && a.state == Presence::Present {
        return Err(ModuleError::arg("key", "No key specified when adding a host"));
    }
    if let Some(k) = &key {
        normalize(k).map_err(|e| ModuleError::arg("key", e))?;
        if k.trim_end_matches(['\r', '\n']).contains(['\n', '\r']) {
            return Err(ModuleError::arg("key", "one line"));
        }
    }
    let comma = regex::Regex::new(r"\S+(\s+)?,(\s+)?").expect("static regex");
    if comma.is_match(&a.name) {
        return Err(ModuleError::arg(
            "name",
            "Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file.",
        ));
    }
    let path = a.path.unwrap_or_else(|| "~/.ssh/known_hosts".into());
    if !(path.starts_with('/') || path == "~" || path.starts_with("~/")) {
        return Err(ModuleError::arg("path", "an absolute path or one in ~/ (not ~user/)"));
    }
    Ok(Box::new(KnownHosts {
        host: a.name.to_lowercase(),
        key,
        path,
        hash_host: a.hash_host,
        state: a.state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn answer(status: i32, stdout: &str) -> CommandAnswer {
        CommandAnswer {
            status,
            stdout: stdout.into(),
        }
    }

    const ED: &str = "lab ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA";

    #[test]
    fn search_follows_ansible() {
        let key = normalize(ED).unwrap();
        let s = search(&answer(1, ""), Some(&key)).unwrap();
        assert!(!s.found);
        let out = "# Host lab found: line 2\nlab ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n";
        let s = search(&answer(0, out), Some(&key)).unwrap();
        assert_eq!((s.found, s.replace_or_add, s.found_line), (true, false, Some(2)));
        let out = "# Host lab found: line 3\nlab ssh-ed25519 OTHER\n";
        let s = search(&answer(0, out), Some(&key)).unwrap();
        assert_eq!((s.replace_or_add, s.found_line), (true, Some(3)));
        let out = "# Host lab found: line 3\nlab ssh-rsa OTHER\n";
        let s = search(&answer(0, out), Some(&key)).unwrap();
        assert_eq!((s.replace_or_add, s.found_line), (true, None));
        let s = search(&answer(0, out), None).unwrap();
        assert_eq!((s.found, s.replace_or_add), (true, false));
        // Two hashes of the same host compare equal.
        let hashed = normalize(&hash_host_key("lab", ED, &[7; 20])).unwrap();
        let out = "# Host lab found: line 1\n|1|abc|def ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n";
        assert!(!search(&answer(0, out), Some(&hashed)).unwrap().replace_or_add);
        assert!(search(&answer(255, "boom"), Some(&key)).is_err());
    }

    #[test]
    fn hashing_matches_ssh_keygen() {
        // `ssh-keygen -H` of "lab ..." with this salt gives this hash (HMAC-SHA1 of the name).
        let line = hash_host_key("lab", ED, &[0; 20]);
        let salt = base64::engine::general_purpose::STANDARD.encode([0u8; 20]);
        assert!(line.starts_with(&format!("|1|{salt}|")), "{line}");
        assert!(line.ends_with(" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"));
        // RFC 2202 test case 2.
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert!(hash_host_key("lab", "@cert-authority lab t k", &[0; 20]).starts_with("@cert-authority |1|"));
    }

    #[test]
    fn rewrite_replaces_in_place_of_the_line() {
        let s = Search {
            found: true,
            replace_or_add: true,
            found_line: Some(2),
        };
        assert_eq!(rewrite("a\nold\nc\n", &s, true, "new\n"), "a\nc\nnew\n");
        assert_eq!(rewrite("a\nold\nc\n", &s, false, ""), "a\nc\n");
        let none = Search {
            found: false,
            replace_or_add: false,
            found_line: None,
        };
        assert_eq!(rewrite("a", &none, true, "new\n"), "anew\n", "glued, as Ansible");
    }

    #[test]
    fn args() {
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"name": "a"})).as_deref(), Some("key"));
        assert_eq!(field(json!({"name": "a", "state": "absent"})), None);
        assert_eq!(field(json!({"name": "a,b", "key": ED})).as_deref(), Some("name"));
        assert_eq!(field(json!({"name": "a", "key": "x"})).as_deref(), Some("key"));
        assert_eq!(field(json!({"host": "a", "key": ED, "path": "~bob/k"})).as_deref(), Some("path"));
    }
}
