//! `fetch`: copies a file from the host to the controller, as ansible.builtin.fetch does.
//!
//! ```yaml
//! fetch: { src: /etc/redis/redis.conf, dest: backup/ }      # backup/<host>/etc/redis/redis.conf
//! fetch: { src: /etc/hostname, dest: "out/{{ inventory_hostname }}.name", flat: true }
//! ```
//!
//! Planning is ONE remote command: the file's bytes ([`SlurpFact`]), compared by SHA-1 with
//! the controller file at `dest/<inventory_hostname>/<src>` (or `dest` with `flat`; a `dest`
//! ending in `/` then takes `src`'s file name; a relative `dest` is from the playbook's
//! folder). Changed only when the checksums differ; the real run writes the controller file
//! through [`prov_core::FileSource::write`] (parent folders created). Results as Ansible's
//! action: `changed`, `md5sum`, `dest`, `checksum`, `remote_checksum`, `remote_md5sum: null`
//! (changed) or `file`, `dest`, `md5sum`, `checksum` (unchanged). A missing file or a
//! directory fails with Ansible's messages, or with `fail_on_missing: false` is reported
//! unchanged with the message ending in "ignored".
//!
//! Ansible skips fetch in check mode, and so does prov ([`CheckMode::Unpredictable`]; the task
//! runs with `check_mode: false`). A relative `src` (or one with `~`) is refused.

use async_trait::async_trait;
use prov_core::{Action, CheckMode, Module, ModuleContext, ModuleError, Outcome, Plan};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;

use crate::args::de_bool;
use crate::modules::slurp::{SlurpFact, Slurped};
use crate::remote_file::{check_path, sha1_hex};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("fetch", build);

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    src: String,
    dest: String,
    #[serde(default, deserialize_with = "de_bool")]
    flat: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    fail_on_missing: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    validate_checksum: bool,
}

/// The `fetch` module.
#[derive(Debug)]
pub struct Fetch {
    src: String,
    dest: String,
    flat: bool,
    fail_on_missing: bool,
    validate_checksum: bool,
}

/// Python's `os.path.normpath` of an absolute path.
pub fn normpath(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Python's `os.path.basename`.
fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn md5_hex(data: &[u8]) -> String {
    format!("{:x}", md5::compute(data))
}

impl Fetch {
    /// The controller file for `host`, as Ansible's action computes it; `resolve` is the
    /// playbook's `path_dwim` (relative to its folder).
    pub fn local_dest(
        &self,
        host: &str,
        resolve: impl Fn(&str) -> Result<PathBuf, ModuleError>,
    ) -> Result<String, ModuleError> {
        let shown = |p: PathBuf| p.display().to_string();
        if !self.flat {
            let base = shown(resolve(&self.dest)?);
            return Ok(normpath(&format!("{base}/{host}/{}", self.src)));
        }
        let is_dir = |p: &str| resolve(p).map(|p| p.is_dir());
        let mut dest = self.dest.clone();
        if is_dir(&dest)? && !dest.ends_with('/') {
            return Err(ModuleError::failed(
                "dest is an existing directory, use a trailing slash if you want to fetch src into that directory",
            ));
        }
        if dest.ends_with('/') {
            dest = format!("{dest}{}", basename(&self.src));
            if is_dir(&dest)? {
                return Err(ModuleError::failed(format!(
                    "calculated dest '{dest}' is an existing directory, use another path that does not point to an existing directory"
                )));
            }
        }
        Ok(normpath(&shown(resolve(&dest)?)))
    }

    /// What a file that cannot be fetched gives: a failure, or (`fail_on_missing: false`) an
    /// unchanged result with the message.
    pub fn not_fetched(&self, found: &Slurped) -> Result<Plan, ModuleError> {
        let (msg, fail_msg) = match found {
            Slurped::Missing => {
                let m = "the remote file does not exist, not transferring, ignored";
                (Some(m.to_owned()), m.to_owned())
            }
            Slurped::Directory => {
                let m = "remote file is a directory, fetch cannot work on directories";
                (Some(format!("{m}, not transferring, ignored")), m.to_owned())
            }
            Slurped::Unreadable(_) => (None, format!("File is not readable: {}", self.src)),
            Slurped::File(_) => unreachable!("a file is fetched"),
        };
        if self.fail_on_missing {
            return Err(ModuleError::failed(fail_msg));
        }
        let mut plan = Plan::unchanged();
        if !matches!(found, Slurped::Directory) {
            plan = plan.with_result("file", json!(self.src));
        }
        if let Some(m) = msg {
            plan = plan.with_result("msg", json!(m));
        }
        Ok(plan)
    }

    /// The decision for a readable file: unchanged (its result) or the content to write.
    pub fn decide(&self, remote: &[u8], local: Option<&[u8]>, dest: &str) -> Plan {
        let remote_checksum = sha1_hex(remote);
        if let Some(l) = local
            && sha1_hex(l) == remote_checksum
        {
            return Plan::unchanged()
                .with_result("md5sum", json!(md5_hex(l)))
                .with_result("file", json!(self.src))
                .with_result("dest", json!(dest))
                .with_result("checksum", json!(remote_checksum));
        }
        let summary = format!("fetch {} to {dest} on the controller", self.src);
        let write = Write {
            path: PathBuf::from(dest),
            content: remote.to_vec(),
        };
        Plan::unchanged()
            .with_result("md5sum", json!(md5_hex(remote)))
            .with_result("dest", json!(dest))
            .with_result("remote_md5sum", Value::Null)
            .with_result("checksum", json!(remote_checksum))
            .with_result("remote_checksum", json!(remote_checksum))
            .with_change(vec![summary], Vec::new(), write)
    }
}

/// Writes the fetched bytes to the controller file.
struct Write {
    path: PathBuf,
    content: Vec<u8>,
}

#[async_trait]
impl Action for Write {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        ctx.files
            .write(&self.path, &self.content)
            .map_err(|_| ModuleError::failed("Failed to fetch the file."))?;
        Ok(Outcome::default())
    }
}

#[async_trait]
impl Module for Fetch {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let found = ctx.fact(&SlurpFact(&self.src)).await?;
        let Slurped::File(remote) = &found else {
            return self.not_fetched(&found);
        };
        let dest = self.local_dest(ctx.host, |p| ctx.files.output_path(p))?;
        // Ansible's `checksum(dest)`: none for a missing path or a directory.
        let local = match std::fs::metadata(&dest) {
            Ok(m) if m.is_dir() => None,
            Ok(_) => Some(tokio::fs::read(&dest).await.map_err(|e| {
                ModuleError::LocalFile(format!("cannot read {dest}: {e}"))
            })?),
            Err(_) => None,
        };
        // The bytes written are the bytes read, so `validate_checksum` never finds a mismatch.
        let _ = self.validate_checksum;
        Ok(self.decide(remote, local.as_deref(), &dest))
    }

    fn check_mode(&self) -> CheckMode {
        CheckMode::Unpredictable
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

fn parse(args: Value) -> Result<Fetch, ModuleError> {
    let a: Args = parse_args(args)?;
    check_path("fetch", "src", &a.src)?;
    check_path("fetch", "dest", &a.dest)?;
    if !a.src.starts_with('/') {
        return Err(ModuleError::arg(
            "src",
            "a relative src (or one with `~`) is not implemented: give an absolute path",
        ));
    }
    if a.dest.starts_with('~') {
        return Err(ModuleError::arg("dest", "a dest with `~` is not implemented"));
    }
    Ok(Fetch {
        src: a.src,
        dest: a.dest,
        flat: a.flat,
        fail_on_missing: a.fail_on_missing,
        validate_checksum: a.validate_checksum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: Value) -> Fetch {
        parse(v).unwrap()
    }

    fn at(dir: &std::path::Path) -> impl Fn(&str) -> Result<PathBuf, ModuleError> + '_ {
        move |p: &str| Ok(if p.starts_with('/') { PathBuf::from(p) } else { dir.join(p) })
    }

    #[test]
    fn normpath_is_pythons() {
        assert_eq!(normpath("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(normpath("/d/lab3//etc/motd"), "/d/lab3/etc/motd");
    }

    #[test]
    fn the_destination_is_ansibles() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let base = d.display().to_string();
        let x = f(json!({"src": "/etc/motd", "dest": "out"}));
        assert_eq!(x.local_dest("web1", at(d)).unwrap(), format!("{base}/out/web1/etc/motd"));
        let x = f(json!({"src": "/etc/motd", "dest": "/abs/"}));
        assert_eq!(x.local_dest("web1", at(d)).unwrap(), "/abs/web1/etc/motd");
        let x = f(json!({"src": "/etc/motd", "dest": "one.txt", "flat": true}));
        assert_eq!(x.local_dest("web1", at(d)).unwrap(), format!("{base}/one.txt"));
        std::fs::create_dir(d.join("dir")).unwrap();
        let x = f(json!({"src": "/etc/motd", "dest": "dir/", "flat": true}));
        assert_eq!(x.local_dest("web1", at(d)).unwrap(), format!("{base}/dir/motd"));
        let x = f(json!({"src": "/etc/motd", "dest": "dir", "flat": true}));
        assert!(x.local_dest("web1", at(d)).unwrap_err().to_string().contains("use a trailing slash"));
        std::fs::create_dir(d.join("dir/motd")).unwrap();
        let x = f(json!({"src": "/etc/motd", "dest": "dir/", "flat": true}));
        assert!(x.local_dest("web1", at(d)).unwrap_err().to_string().contains("calculated dest 'dir/motd'"));
    }

    #[test]
    fn changed_only_when_the_content_differs() {
        let x = f(json!({"src": "/etc/motd", "dest": "/o"}));
        let p = x.decide(b"hi\n", Some(b"hi\n"), "/o/h/etc/motd");
        assert!(!p.changed());
        assert_eq!(p.result()["checksum"], sha1_hex(b"hi\n"));
        assert_eq!(p.result()["md5sum"], md5_hex(b"hi\n"));
        assert_eq!(p.result()["file"], "/etc/motd");
        for local in [None, Some(&b"old\n"[..])] {
            let p = x.decide(b"hi\n", local, "/o/h/etc/motd");
            assert!(p.changed());
            assert_eq!(p.result()["remote_checksum"], sha1_hex(b"hi\n"));
            assert_eq!(p.result()["remote_md5sum"], Value::Null);
            assert_eq!(p.result()["dest"], "/o/h/etc/motd");
        }
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn missing_files_and_directories() {
        let x = f(json!({"src": "/nope", "dest": "/o"}));
        let e = x.not_fetched(&Slurped::Missing).unwrap_err().to_string();
        assert_eq!(e, "the remote file does not exist, not transferring, ignored");
        let e = x.not_fetched(&Slurped::Directory).unwrap_err().to_string();
        assert_eq!(e, "remote file is a directory, fetch cannot work on directories");
        let x = f(json!({"src": "/nope", "dest": "/o", "fail_on_missing": false}));
        let p = x.not_fetched(&Slurped::Missing).unwrap();
        assert!(!p.changed());
        assert_eq!(p.result()["file"], "/nope");
        let p = x.not_fetched(&Slurped::Directory).unwrap();
        assert_eq!(
            p.result()["msg"],
            "remote file is a directory, fetch cannot work on directories, not transferring, ignored"
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"src": "/etc/motd", "dest": "o"})).is_ok());
        assert!(build(json!({"src": "etc/motd", "dest": "o"})).is_err());
        assert!(build(json!({"src": "/etc/motd"})).is_err());
        assert!(build(json!({"src": "/etc/motd", "dest": "o", "recursive": true})).is_err());
    }
}
