//! `get_url`: downloads a URL to a file on the host (the host fetches it, with `curl` or else
//! `python3`'s urllib, whichever it has).
//!
//! ```yaml
//! get_url: { url: "http://10.77.0.1:8000/app.tar.gz", dest: /opt/, checksum: "sha256:9f86d0...", mode: "0644" }
//! ```
//!
//! Planning is ONE remote command ([`GetUrlFact`]): the destination's hashes and attributes
//! and, unless `checksum` already matches (with `force: no`), the download into a private
//! temporary file that is hashed and removed, so check mode knows exactly whether the content
//! would change. A real run that changes downloads again next to the destination, refuses
//! content other than what was planned, and renames it into place. With `force: no` and no
//! checksum an existing file is asked for with `If-Modified-Since`, as Ansible does. The
//! request (URL, headers) goes to the host on stdin, never in a command line. Refused:
//! credentials (`url_username`/`url_password`), a checksum given as a URL, and every argument
//! not listed in [`Args`]; a directory `dest` takes the URL's file name (a Content-Disposition
//! name is not used).

use std::collections::BTreeMap;

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Outcome, Plan,
    Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{Mode, de_bool, de_opt_int};
use crate::remote_file::{Attrs, FileInfo, Kind, check_path, mode_str};
use crate::ModuleSpec;

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("get_url", build);

fn yes() -> bool {
    true
}

/// The arguments prov implements (Ansible's names and defaults); any other is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    url: String,
    dest: String,
    #[serde(default)]
    checksum: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    force: bool,
    #[serde(default, deserialize_with = "de_opt_int")]
    timeout: Option<u64>,
    #[serde(default)]
    headers: Option<BTreeMap<String, Value>>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    validate_certs: bool,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
}

/// `sha1 sha256 digest` of a file (`digest` in the checksum's algorithm, when one is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sums {
    /// SHA-1 (Ansible's `checksum_src`/`checksum_dest`).
    pub sha1: String,
    /// SHA-256 (what the real run must download again).
    pub sha256: String,
    /// The digest `checksum` is compared with.
    pub digest: Option<String>,
}

/// What the plan's command found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The file written (`dest`, or `dest/NAME` for a directory).
    pub path: String,
    /// The existing file: hashes and attributes.
    pub dest: Option<(Sums, FileInfo)>,
    /// What happened to the download.
    pub fetched: Fetched,
}

/// The download's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Not needed: the checksum matches and `force` is off.
    Skipped,
    /// The path exists and is not a regular file.
    NotAFile,
    /// The destination's directory is missing.
    NoDirectory,
    /// The server answered `code` (0: no answer) with `reason`, and the body's hashes and size
    /// when it was a success.
    Http {
        /// HTTP status (0 when the request failed before an answer).
        code: u16,
        /// Reason or error.
        reason: String,
        /// The downloaded content's hashes and size.
        got: Option<(Sums, u64)>,
    },
}

/// The plan's one command for `url` → `dest`.
pub struct GetUrlFact<'a> {
    /// The arguments.
    pub g: &'a GetUrl,
}

fn parse_sums(f: &[&str]) -> Option<Sums> {
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    match f {
        [s1, s2, dg, ..] if hex(s1) && hex(s2) => Some(Sums {
            sha1: (*s1).to_owned(),
            sha256: (*s2).to_owned(),
            digest: (*dg != "-").then(|| (*dg).to_owned()),
        }),
        _ => None,
    }
}

fn parse_attr(f: &[&str]) -> Option<FileInfo> {
    let [mode, uid, gid, owner, group] = f else {
        return None;
    };
    Some(FileInfo {
        kind: Kind::File,
        raw_mode: 0,
        mode: u32::from_str_radix(mode, 8).ok()?,
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        owner: (*owner).to_owned(),
        group: (*group).to_owned(),
        size: 0,
        mtime: 0,
        atime: 0,
        ctime: 0,
        inode: 0,
        dev: 0,
        nlink: 0,
        link_target: None,
        checksum: None,
    })
}

impl Fact for GetUrlFact<'_> {
    type Output = Probe;

    fn name(&self) -> String {
        format!("download of {} to {}", self.g.url, self.g.dest)
    }

    fn script(&self) -> Script {
        self.g
            .vars()
            .then(&Script::text(include_str!("get_url/fetch.sh")))
            .then(&Script::text(include_str!("get_url/probe.sh")))
    }

    fn parse(&self, out: &CommandOutput) -> Result<Probe, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let text = out.stdout_text();
        let (mut path, mut sums, mut attr, mut fetched) = (None, None, None, None);
        let mut http: Option<(u16, String)> = None;
        for line in text.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            let f: Vec<&str> = rest.split(' ').collect();
            let bad = || self.error(format!("unexpected line `{line}`"));
            match key {
                "PATH" => path = Some(rest.to_owned()),
                "DEST" => sums = Some(parse_sums(&f).ok_or_else(bad)?),
                "ATTR" => attr = Some(parse_attr(&f).ok_or_else(bad)?),
                "SKIP" => fetched = Some(Fetched::Skipped),
                "NOTFILE" => fetched = Some(Fetched::NotAFile),
                "NODIR" => fetched = Some(Fetched::NoDirectory),
                "HTTP" => {
                    let code = f.first().and_then(|c| c.parse().ok()).ok_or_else(bad)?;
                    http = Some((code, f[1..].join(" ")));
                }
                "GOT" => {
                    let (code, reason) = http.take().ok_or_else(bad)?;
                    let size = f.get(3).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                    let got = (200..300).contains(&code).then(|| parse_sums(&f)).flatten();
                    let got = got.map(|s| (s, size));
                    fetched = Some(Fetched::Http { code, reason, got });
                }
                _ => return Err(bad()),
            }
        }
        let path = path.ok_or_else(|| self.error("no PATH line"))?;
        let fetched = fetched.ok_or_else(|| self.error("no outcome"))?;
        let dest = match (sums, attr) {
            (Some(s), Some(a)) => Some((s, a)),
            (None, None) => None,
            _ => return Err(self.error("hashes without attributes")),
        };
        Ok(Probe { path, dest, fetched })
    }
}

/// What the module was asked.
#[derive(Debug, Clone)]
pub struct GetUrl {
    url: String,
    dest: String,
    /// `(algorithm, lowercase hex)`.
    checksum: Option<(String, String)>,
    force: bool,
    timeout: u64,
    headers: BTreeMap<String, String>,
    validate_certs: bool,
    backup: bool,
    attrs: Attrs,
}

/// Ansible's `url_filename`: the last part of the URL's path, `index.html` when empty.
pub fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    match path.rsplit('/').next() {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => "index.html".to_owned(),
    }
}

/// A value inside double quotes of a curl config file.
fn curl_quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl GetUrl {
    /// The quoted variables the scripts read.
    fn vars(&self) -> Script {
        let (algo, want) = match &self.checksum {
            Some((a, w)) => (a.as_str(), w.as_str()),
            None => ("", ""),
        };
        sh!(
            "dest={}\nname={}\nforce={}\nalgo={}\nwant={}",
            self.dest,
            url_filename(&self.url),
            u8::from(self.force),
            algo,
            want
        )
    }

    /// The request on stdin: a JSON line for python3, then a curl config.
    fn request(&self) -> Vec<u8> {
        let line = json!({"url": self.url, "headers": self.headers, "timeout": self.timeout,
            "validate_certs": self.validate_certs});
        let mut s = format!("{line}\nurl = {}\n", curl_quoted(&self.url));
        for (k, v) in &self.headers {
            s.push_str(&format!("header = {}\n", curl_quoted(&format!("{k}: {v}"))));
        }
        s.push_str(&format!("max-time = {}\n", self.timeout));
        if !self.validate_certs {
            s.push_str("insecure\n");
        }
        s.into_bytes()
    }

    fn install_script(&self, path: &str, sha256: &str) -> Script {
        let mode = self.attrs.mode.as_ref().map(Mode::chmod_arg).unwrap_or_default();
        sh!(
            "p={}\nsha256={}\nmode={}\nowner={}\ngroup={}\nbackup={}\nalgo=",
            path,
            sha256,
            mode,
            self.attrs.owner.clone().unwrap_or_default(),
            self.attrs.group.clone().unwrap_or_default(),
            u8::from(self.backup)
        )
        .then(&Script::text(include_str!("get_url/fetch.sh")))
        .then(&Script::text(include_str!("get_url/install.sh")))
    }
}

/// Runs a script with the request on stdin; fails with its stderr.
struct WithInput {
    script: Script,
    input: Vec<u8>,
}

#[async_trait]
impl Action for WithInput {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run_with_input(&self.script, &self.input).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "get_url failed: {}",
                out.stderr_text()
            )));
        }
        Ok(Outcome::default())
    }
}

/// The attribute-only change of an existing file.
fn attr_script(path: &str, ch: &crate::remote_file::AttrChange) -> Script {
    let mut s = Script::default();
    if let Some((_, o)) = &ch.owner {
        s = s.then(&sh!("chown {} -- {}", o, path));
    }
    if let Some((_, g)) = &ch.group {
        s = s.then(&sh!("chgrp {} -- {}", g, path));
    }
    if let Some((_, m)) = ch.mode {
        s = s.then(&sh!("chmod {} -- {}", format!("0{m:04o}"), path));
    }
    s
}

impl GetUrl {
    /// The decision from what the command found.
    fn decide(&self, p: Probe, mut result: Map<String, Value>) -> Result<Plan, ModuleError> {
        result.insert("dest".into(), json!(p.path));
        let dest_sha1 = p.dest.as_ref().map(|(s, _)| s.sha1.clone());
        result.insert("checksum_dest".into(), json!(dest_sha1));
        let failed = |msg: String, r: &Map<String, Value>| ModuleError::failed_with(msg, r.clone());
        let (code, reason, got) = match p.fetched {
            Fetched::NotAFile => return Err(failed(format!("{} is not a regular file", p.path), &result)),
            Fetched::NoDirectory => {
                let dir = crate::remote_file::parent_of(&p.path);
                return Err(failed(format!("Destination {dir} does not exist"), &result));
            }
            Fetched::Skipped => {
                let info = &p.dest.as_ref().expect("skipped only for a file").1;
                return self.attrs_only(&p.path, info, result, "file already exists");
            }
            Fetched::Http { code, reason, got } => (code, reason, got),
        };
        result.insert("status_code".into(), json!(code));
        result.insert("msg".into(), json!(reason));
        if code == 304 {
            return Ok(Plan::Unchanged { result });
        }
        let Some((got, size)) = got else {
            result.insert("response".into(), json!(reason));
            return Err(failed("Request failed".into(), &result));
        };
        result.insert("checksum_src".into(), json!(got.sha1));
        if let Some((_, want)) = &self.checksum
            && got.digest.as_deref() != Some(want)
        {
            let it = got.digest.unwrap_or_default();
            return Err(failed(format!("The checksum for {} did not match {want}; it was {it}.", self.url), &result));
        }
        if let Some((s, info)) = &p.dest
            && s.sha1 == got.sha1
        {
            return self.attrs_only(&p.path, info, result, &reason);
        }
        let mut summary = vec![format!("download {} to {} ({size} bytes)", self.url, p.path)];
        if let Some(m) = &self.attrs.mode {
            let base = p.dest.as_ref().map_or(0o644, |(_, i)| i.mode);
            let want = crate::remote_file::resolve_mode(m, base, false)?;
            if p.dest.is_none() || want != base {
                summary.push(format!("mode of {}: {}", p.path, mode_str(want)));
            }
        }
        let action = WithInput {
            script: self.install_script(&p.path, &got.sha256),
            input: self.request(),
        };
        let mut plan = Plan::changes(summary, Vec::new(), action);
        *plan.result_mut() = result;
        Ok(plan)
    }

    fn attrs_only(
        &self,
        path: &str,
        info: &FileInfo,
        mut result: Map<String, Value>,
        msg: &str,
    ) -> Result<Plan, ModuleError> {
        let ch = self.attrs.diff_against(info)?;
        if ch.is_empty() {
            result.insert("msg".into(), json!(msg));
            return Ok(Plan::Unchanged { result });
        }
        let msg = match msg {
            "file already exists" => "file already exists but file attributes changed",
            m => m,
        };
        result.insert("msg".into(), json!(msg));
        let mut plan = Plan::changes(
            ch.summary(path),
            Vec::new(),
            prov_core::RunScript(attr_script(path, &ch)),
        );
        *plan.result_mut() = result;
        Ok(plan)
    }
}

#[async_trait]
impl Module for GetUrl {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = GetUrlFact { g: self };
        let out = ctx.run_with_input(&fact.script(), &self.request()).await?;
        let probe = fact.parse(&out)?;
        let mut result = Map::new();
        result.insert("url".into(), json!(self.url));
        result.insert("elapsed".into(), json!(0));
        self.decide(probe, result)
    }
}

/// `algo:hex` as Ansible reads it (non-word characters dropped, lowercase).
fn parse_checksum(text: &str) -> Result<Option<(String, String)>, ModuleError> {
    if text.is_empty() {
        return Ok(None);
    }
    let (algo, sum) = text.split_once(':').ok_or_else(|| {
        ModuleError::arg("checksum", "The checksum parameter has to be in format <algorithm>:<checksum>")
    })?;
    if sum.contains("://") {
        return Err(ModuleError::arg("checksum", "a checksum file given by URL is not implemented"));
    }
    let algo = algo.to_ascii_lowercase();
    if !matches!(algo.as_str(), "md5" | "sha1" | "sha224" | "sha256" | "sha384" | "sha512") {
        return Err(ModuleError::arg("checksum", format!("unsupported algorithm {algo}")));
    }
    let sum: String = sum.chars().filter(|c| c.is_alphanumeric() || *c == '_').collect();
    let sum = sum.to_ascii_lowercase();
    if sum.is_empty() || !sum.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ModuleError::arg("checksum", "The checksum format is invalid"));
    }
    Ok(Some((algo, sum)))
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("get_url", "dest", &a.dest)?;
    if !a.url.contains("://") || a.url.contains(['\n', '\r']) {
        return Err(ModuleError::arg("url", format!("not a URL: {}", a.url)));
    }
    let mut headers = BTreeMap::new();
    for (k, v) in a.headers.unwrap_or_default() {
        let v = crate::args::scalar_string(&v)
            .map_err(|e| ModuleError::arg(&format!("headers.{k}"), e))?
            .unwrap_or_default();
        if k.contains([':', '\n', '\r']) || v.contains(['\n', '\r']) {
            return Err(ModuleError::arg(&format!("headers.{k}"), "no newlines (or `:` in names)"));
        }
        headers.insert(k, v);
    }
    Ok(Box::new(GetUrl {
        checksum: parse_checksum(a.checksum.as_deref().unwrap_or(""))?,
        url: a.url,
        dest: a.dest,
        force: a.force,
        timeout: a.timeout.unwrap_or(10),
        headers,
        validate_certs: a.validate_certs,
        backup: a.backup,
        attrs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn g(v: Value) -> GetUrl {
        let mut args = json!({"url": "http://h/a/app.tgz?x=1", "dest": "/opt/"});
        args.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
        let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args.clone()).unwrap();
        let _ = build(args).unwrap();
        GetUrl {
            checksum: parse_checksum(a.checksum.as_deref().unwrap_or("")).unwrap(),
            url: a.url,
            dest: a.dest,
            force: a.force,
            timeout: 10,
            headers: BTreeMap::new(),
            validate_certs: true,
            backup: false,
            attrs,
        }
    }

    fn parse(g: &GetUrl, stdout: &str) -> Result<Probe, FactError> {
        GetUrlFact { g }.parse(&CommandOutput { status: 0, stdout: stdout.into(), stderr: vec![] })
    }

    const S1: &str = "aaaa";
    const S2: &str = "bbbb";

    #[test]
    fn the_probe_parses_and_refuses_garbage() {
        let x = g(json!({}));
        let p = parse(&x, &format!("PATH /opt/app.tgz\nDEST {S1} {S2} -\nATTR 644 0 0 root root\nHTTP 200 OK (3 bytes)\nGOT cccc dddd - 3\n")).unwrap();
        assert_eq!(p.path, "/opt/app.tgz");
        assert_eq!(p.dest.as_ref().unwrap().1.mode, 0o644);
        assert!(matches!(&p.fetched, Fetched::Http { code: 200, got: Some((s, 3)), .. } if s.sha1 == "cccc"));
        let p = parse(&x, "PATH /x\nHTTP 0 curl: (7) refused\nGOT da39 e3b0 - 0\n").unwrap();
        assert!(matches!(p.fetched, Fetched::Http { code: 0, got: None, .. }));
        assert!(parse(&x, "PATH /x\nHTTP abc\n").is_err());
        assert!(parse(&x, "PATH /x\n").is_err(), "no outcome");
        assert!(parse(&x, &format!("PATH /x\nDEST {S1} {S2} -\nSKIP\n")).is_err(), "no ATTR");
    }

    fn decide(x: &GetUrl, out: &str) -> Result<Plan, ModuleError> {
        x.decide(parse(x, out).unwrap(), Map::new())
    }

    #[test]
    fn the_decision() {
        let x = g(json!({}));
        let new = "PATH /opt/app.tgz\nHTTP 200 OK\nGOT cccc dddd - 3\n";
        let p = decide(&x, new).unwrap();
        assert_eq!(p.summary(), ["download http://h/a/app.tgz?x=1 to /opt/app.tgz (3 bytes)"]);
        let same = "PATH /opt/app.tgz\nDEST cccc dddd -\nATTR 644 0 0 root root\nHTTP 200 OK\nGOT cccc dddd - 3\n";
        assert!(!decide(&x, same).unwrap().changed());
        let m = g(json!({"mode": "0600"}));
        assert_eq!(decide(&m, same).unwrap().summary(), ["mode of /opt/app.tgz: 0644 -> 0600"]);
        let e = decide(&x, "PATH /o/a\nHTTP 404 Not Found\nGOT da39 e3b0 - 0\n").unwrap_err();
        assert!(matches!(&e, ModuleError::Failed(f) if f.message == "Request failed" && f.result["status_code"] == 404));
        assert!(!decide(&x, &format!("PATH /o/a\nDEST {S1} {S2} -\nATTR 644 0 0 r r\nHTTP 304 Not Modified\nGOT da39 e3b0 - 0\n")).unwrap().changed());
        let c = g(json!({"checksum": "sha256:ABCD"}));
        let e = decide(&c, "PATH /o/a\nHTTP 200 OK\nGOT cccc dddd eeee 3\n").unwrap_err();
        assert!(e.to_string().contains("did not match abcd; it was eeee"), "{e}");
        let p = decide(&c, &format!("PATH /o/a\nDEST {S1} {S2} abcd\nATTR 644 0 0 r r\nSKIP\n")).unwrap();
        assert_eq!(p.result()["msg"], "file already exists");
        assert!(decide(&x, "PATH /o/a\nNODIR\n").unwrap_err().to_string().contains("Destination /o does not exist"));
    }

    #[test]
    fn names_checksums_and_refusals() {
        assert_eq!(url_filename("http://h/a/app.tgz?x=1"), "app.tgz");
        assert_eq!(url_filename("http://h/"), "index.html");
        assert_eq!(url_filename("http://h"), "index.html");
        assert_eq!(parse_checksum("sha256: AB:cd").unwrap(), Some(("sha256".into(), "abcd".into())));
        assert!(parse_checksum("abcd").is_err());
        assert!(parse_checksum("sha256:http://h/SHA256SUMS").is_err());
        let field = |v: Value| refused_field(build(v));
        let base = |k: &str, v: Value| {
            let mut a = json!({"url": "http://h/x", "dest": "/x"});
            a[k] = v;
            a
        };
        for k in ["url_password", "password", "url_username", "tmp_dest", "decompress"] {
            assert_eq!(field(base(k, json!("x"))).as_deref(), Some(k), "{k}");
        }
        assert_eq!(field(base("checksum", json!("md5"))).as_deref(), Some("checksum"));
        assert!(build(base("headers", json!({"Authorization": "Bearer t"}))).is_ok());
        let x = build(base("headers", json!({"X": "a\nb"})));
        assert!(x.is_err());
    }

    #[test]
    fn secrets_stay_out_of_the_script() {
        let mut x = g(json!({}));
        x.headers.insert("Authorization".into(), "Bearer s3cret".into());
        let fact = GetUrlFact { g: &x };
        assert!(!fact.script().as_str().contains("s3cret"));
        assert!(!x.install_script("/p", "ab").as_str().contains("s3cret"));
        let req = String::from_utf8(x.request()).unwrap();
        assert!(req.contains("header = \"Authorization: Bearer s3cret\""), "{req}");
    }

    /// The probe in a real shell with the controller's curl, against a loopback server.
    #[test]
    fn the_probe_runs_with_curl() {
        use std::io::{Read as _, Write as _};
        if std::process::Command::new("curl").arg("--version").output().is_err() {
            eprintln!("SKIP: no curl here");
            return;
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut b).unwrap();
                head.extend_from_slice(&b[..n]);
            }
            s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc").unwrap();
            String::from_utf8_lossy(&head).into_owned()
        });
        let dir = std::env::temp_dir().join(format!("prov-get-url-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut x = g(json!({"checksum": "sha1:a9993e364706816aba3e25717850c26c9cd0d89d"}));
        x.url = format!("http://127.0.0.1:{port}/f.txt");
        x.dest = format!("{}/", dir.display());
        x.headers.insert("X-Token".into(), "t".into());
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(GetUrlFact { g: &x }.script().as_str())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&x.request()).unwrap();
        let out = child.wait_with_output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let head = server.join().unwrap();
        assert!(head.contains("X-Token: t"), "{head}");
        let p = GetUrlFact { g: &x }
            .parse(&CommandOutput { status: out.status.code().unwrap_or(-1), stdout: out.stdout, stderr: vec![] })
            .unwrap();
        assert_eq!(p.path, format!("{}/f.txt", dir.display()));
        let Fetched::Http { code: 200, got: Some((sums, 3)), .. } = p.fetched else { panic!("{p:?}") };
        assert_eq!(sums.digest.as_deref(), Some("a9993e364706816aba3e25717850c26c9cd0d89d"));
    }
}
