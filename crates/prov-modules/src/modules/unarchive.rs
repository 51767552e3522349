//! `unarchive`: unpacks a tar archive (plain, gzip, xz, bzip2, zstd) or a zip archive into a
//! directory, from the controller (`src` looked up like `copy`'s) or from the host
//! (`remote_src: yes`).
//!
//! ```yaml
//! unarchive: { src: app.tar.gz, dest: /opt/app, creates: /opt/app/bin/app, mode: "u+rwX,go+rX" }
//! ```
//!
//! Planning is ONE remote command ([`UnarchiveFact`]; a controller archive travels on its
//! stdin into a private temporary file removed at its end). As Ansible tries its handlers, an
//! archive the host's `unzip` can list is a zip archive: the command reports `zipinfo -T -s`,
//! the CRCs of `unzip -v`, `lstat` and CRC-32 of every entry in `dest`, the user it runs as,
//! its umask and time zone, and Ansible's `ZipArchive.is_unarchived` is replayed over that
//! ([`zip`]); the real run is `unzip -o`, then mode/owner/group on every entry and top
//! folder. Otherwise it is a tar archive: its type and listing, GNU `tar --diff` against
//! `dest` filtered as Ansible filters it (content, size, modification times, missing files,
//! modes unless `mode` is given, owners as root unless `owner` is given, symlinks), and, with
//! mode/owner/group, the attributes of every entry; the real run extracts with
//! `tar --extract`, then gives every entry the requested mode/owner/group. Check mode is exact
//! for both (Ansible itself skips tar archives in check mode).
//! Refused: `extra_opts`, `include`/`exclude`, `keep_newer: yes`, a URL `src`.

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Fact, FactError, FileKind, Module, ModuleContext, ModuleError,
    Outcome, Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Value, json};

mod zip;

pub use zip::{ZipCheck, ZipListing, is_unarchived};

use crate::args::{Mode, StringList, de_bool};
use crate::remote_file::{Attrs, FileInfo, Kind, check_path};
use crate::ModuleSpec;

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("unarchive", build);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    src: String,
    dest: String,
    #[serde(default, deserialize_with = "de_bool")]
    remote_src: bool,
    #[serde(default)]
    creates: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    list_files: bool,
    #[serde(default, deserialize_with = "de_bool")]
    keep_newer: bool,
    #[serde(default)]
    extra_opts: StringList,
}

/// What the planning command found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// `creates` exists.
    Creates,
    /// `dest` is not a directory.
    NoDest,
    /// The remote `src` does not exist.
    NoSrc,
    /// The archive is empty.
    Empty,
    /// A zip archive `unzip` can read, compared with `dest`.
    Zip(Box<ZipListing>),
    /// A zip archive without `unzip` on the host (the reason).
    NoZip(String),
    /// `tar` cannot read it.
    Bad(String),
    /// A readable tar archive.
    Tar(Listing),
}

/// A tar archive compared with `dest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// tar's decompression flag (`-z`, `-J`, `-j`, `--zstd`, or none).
    pub flag: String,
    /// The uid the command ran as.
    pub uid: u32,
    /// The archive's entries (`tar -t`).
    pub files: Vec<String>,
    /// `tar --diff` lines.
    pub diff: Vec<String>,
    /// Attributes of the entries present in `dest`: (name, info).
    pub attrs: Vec<(String, FileInfo)>,
}

/// The one planning command.
pub struct UnarchiveFact<'a>(pub &'a Unarchive);

fn parse_attr(rest: &str) -> Option<(String, FileInfo)> {
    let (fields, name) = rest.split_once('|')?;
    let f: Vec<&str> = fields.splitn(6, ' ').collect();
    let [mode, uid, gid, owner, group, kind] = f[..] else {
        return None;
    };
    let kind = match kind {
        "directory" => Kind::Dir,
        "symbolic link" => Kind::Link,
        k if k.starts_with("regular") => Kind::File,
        _ => Kind::Other,
    };
    let info = FileInfo {
        kind,
        raw_mode: 0,
        mode: u32::from_str_radix(mode, 8).ok()?,
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        owner: owner.to_owned(),
        group: group.to_owned(),
        size: 0,
        mtime: 0,
        atime: 0,
        ctime: 0,
        inode: 0,
        dev: 0,
        nlink: 0,
        link_target: None,
        checksum: None,
    };
    Some((name.to_owned(), info))
}

impl Fact for UnarchiveFact<'_> {
    type Output = Found;

    fn name(&self) -> String {
        format!("archive {} against {}", self.0.src, self.0.dest)
    }

    fn script(&self) -> Script {
        let u = self.0;
        sh!(
            "src={}\ndest={}\ncreates={}\nremote={}\nown={}\ngrp={}\nattrs={}",
            u.remote_path(),
            u.dest,
            u.creates.clone().unwrap_or_default(),
            u8::from(u.remote_src),
            u.attrs.owner.clone().unwrap_or_default(),
            u.attrs.group.clone().unwrap_or_default(),
            u8::from(!u.attrs.is_empty())
        )
        .then(&Script::text(include_str!("unarchive/probe.sh")))
    }

    fn parse(&self, out: &CommandOutput) -> Result<Found, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let text = out.stdout_text();
        if let Some(rest) = text.strip_prefix("ZIP ") {
            return self.parse_zip(rest).map(|z| Found::Zip(Box::new(z)));
        }
        let mut l = Listing::default();
        let (mut flag, mut uid) = (None, None);
        for line in text.lines() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "CREATES" => return Ok(Found::Creates),
                "NODEST" => return Ok(Found::NoDest),
                "NOSRC" => return Ok(Found::NoSrc),
                "EMPTY" => return Ok(Found::Empty),
                "NOZIP" => return Ok(Found::NoZip(rest.to_owned())),
                "BAD" => return Ok(Found::Bad(rest.trim().to_owned())),
                "FLAG" => flag = Some(rest.to_owned()),
                "UID" => uid = rest.parse().ok(),
                "F" => l.files.push(rest.trim_start_matches('/').to_owned()),
                "D" => l.diff.push(rest.to_owned()),
                "A" => l.attrs.push(
                    parse_attr(rest).ok_or_else(|| self.error(format!("bad line `{line}`")))?,
                ),
                _ => return Err(self.error(format!("unexpected line `{line}`"))),
            }
        }
        l.flag = flag.ok_or_else(|| self.error("no archive type"))?;
        l.uid = uid.ok_or_else(|| self.error("no uid"))?;
        Ok(Found::Tar(l))
    }
}

impl UnarchiveFact<'_> {
    /// The zip part of the answer (after `ZIP `): see `unarchive/probe.sh`.
    fn parse_zip(&self, text: &str) -> Result<ZipListing, FactError> {
        let mut lines = text.lines();
        let mut l = ZipListing {
            handler: lines.next().unwrap_or_default().to_owned(),
            ..ZipListing::default()
        };
        let mut v = Vec::new();
        let (mut run, mut tz, mut rc) = (false, None, None);
        let principal = |id: &str, name: &str| {
            Some(zip::Principal { id: id.parse().ok()?, name: name.to_owned() })
        };
        for line in lines {
            let bad = || self.error(format!("bad line `{line}`"));
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            let w: Vec<&str> = rest.split(' ').collect();
            match key {
                "RUN" => {
                    let [uid, gid, user, group] = w[..] else { return Err(bad()) };
                    l.run_user = principal(uid, user).ok_or_else(bad)?;
                    l.run_group = principal(gid, group).ok_or_else(bad)?;
                    run = true;
                }
                "GROUPS" => l.groups = w.iter().filter_map(|g| g.parse().ok()).collect(),
                "UMASK" => l.umask = u32::from_str_radix(rest, 8).map_err(|_| bad())?,
                "TZ" => {
                    let offs: Option<Vec<i64>> = w.iter().map(|o| zip::parse_offset(o)).collect();
                    tz = offs.and_then(|o| o.into_iter().min());
                }
                "FUTO" | "FUTG" => {
                    let [id, name] = w[..] else { return Err(bad()) };
                    let p = principal(id, name).ok_or_else(bad)?;
                    if key == "FUTO" { l.fut_owner = Some(p) } else { l.fut_group = Some(p) }
                }
                "ZRC" => rc = rest.parse().ok(),
                "Z" => l.zipinfo.push(rest.to_owned()),
                "V" => v.push(rest.to_owned()),
                "N" => l.files.push(rest.to_owned()),
                "A" | "T" => {
                    let (fields, name) = rest.split_once('|').ok_or_else(bad)?;
                    let e = zip::parse_entry(fields).ok_or_else(bad)?;
                    if key == "A" {
                        l.entries.insert(name.to_owned(), e);
                    } else {
                        l.tops.push((name.to_owned(), e));
                    }
                }
                "K" => {
                    let (hex, name) = rest.split_once('|').ok_or_else(bad)?;
                    let b = hex::decode(hex).map_err(|_| bad())?;
                    let [b0, b1, b2, b3] = b[..] else { return Err(bad()) };
                    l.file_crcs.insert(name.to_owned(), u32::from_le_bytes([b0, b1, b2, b3]));
                }
                _ => return Err(self.error(format!("unexpected line `{line}`"))),
            }
        }
        if !run {
            return Err(self.error("no user"));
        }
        l.std_offset = tz.ok_or_else(|| self.error("no time zone"))?;
        l.zipinfo_rc = rc.ok_or_else(|| self.error("no zipinfo status"))?;
        l.crcs = zip::parse_crcs(&v);
        Ok(l)
    }
}

/// Ansible's filter of `tar --diff` output: the lines that mean "not unarchived".
pub fn relevant_diff(lines: &[String], uid: u32, attrs: &Attrs) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            if l.ends_with(": : Warning: Cannot stat: No such file or directory") {
                return false;
            }
            (uid == 0 && attrs.owner.is_none() && l.ends_with(": Uid differs"))
                || (uid == 0 && attrs.group.is_none() && l.ends_with(": Gid differs"))
                || (attrs.mode.is_none() && l.ends_with(": Mode differs"))
                || l.ends_with(": Mod time differs")
                || l.ends_with(": Warning: Cannot stat: No such file or directory")
                || l.contains(": Invalid owner")
                || l.contains(": Invalid group")
                || l.ends_with(": Symlink differs")
                || l.ends_with(": Contents differ")
                || l.ends_with(": Size differs")
        })
        .cloned()
        .collect()
}

/// Ansible's handler name for tar's flag.
fn handler(flag: &str) -> &'static str {
    match flag {
        "-z" => "TgzArchive",
        "-J" => "TarXzArchive",
        "-j" => "TarBzipArchive",
        "--zstd" => "TarZstdArchive",
        _ => "TarArchive",
    }
}

/// What the module was asked.
#[derive(Debug, Clone)]
pub struct Unarchive {
    src: String,
    dest: String,
    remote_src: bool,
    creates: Option<String>,
    list_files: bool,
    attrs: Attrs,
}

impl Unarchive {
    fn remote_path(&self) -> String {
        if self.remote_src { self.src.clone() } else { String::new() }
    }

    /// The decision: the summary lines (none: unchanged) and whether to extract.
    pub fn decide(&self, l: &Listing) -> Result<(Vec<String>, bool), ModuleError> {
        let extract = !relevant_diff(&l.diff, l.uid, &self.attrs).is_empty();
        let mut summary = Vec::new();
        if extract {
            summary.push(format!("unpack {} into {} ({} entries)", self.src, self.dest, l.files.len()));
            if !self.attrs.is_empty() {
                summary.push(format!("mode/owner/group of the {} entries", l.files.len()));
            }
            return Ok((summary, true));
        }
        let mut changed = 0;
        for (_, info) in l.attrs.iter().filter(|(_, i)| i.kind != Kind::Link) {
            if !self.attrs.diff_against(info)?.is_empty() {
                changed += 1;
            }
        }
        if changed > 0 {
            summary.push(format!("mode/owner/group of {changed} of the {} entries", l.files.len()));
        }
        Ok((summary, false))
    }

    /// The decision for a zip archive (Ansible's `is_unarchived`, then the attributes of the
    /// top folders): the summary lines (none: unchanged) and whether to extract.
    pub fn decide_zip(&self, l: &ZipListing) -> Result<(Vec<String>, bool), ModuleError> {
        let check = is_unarchived(l, &self.attrs)?;
        let n = l.files.len();
        if !check.unarchived {
            let mut summary = vec![format!("unpack {} into {} ({n} entries)", self.src, self.dest)];
            summary.extend(check.itemized.iter().map(|i| format!("  {i}")));
            if !self.attrs.is_empty() {
                summary.push(format!("mode/owner/group of the {n} entries"));
            }
            return Ok((summary, true));
        }
        let mut summary = Vec::new();
        for (name, e) in &l.tops {
            let info = zip_info(e);
            if info.kind != Kind::Link {
                summary.extend(self.attrs.diff_against(&info)?.summary(name));
            }
        }
        Ok((summary, false))
    }

    fn apply_script(&self, flag: &str, zip: bool, extract: bool) -> Script {
        let chown_to = match (&self.attrs.owner, &self.attrs.group) {
            (Some(o), Some(g)) => format!("{o}:{g}"),
            (Some(o), None) => o.clone(),
            (None, Some(g)) => format!(":{g}"),
            (None, None) => String::new(),
        };
        let z = match flag {
            "-z" => Script::text("-z"),
            "-J" => Script::text("-J"),
            "-j" => Script::text("-j"),
            "--zstd" => Script::text("--zstd"),
            _ => Script::default(),
        };
        sh!(
            "src={}\ndest={}\nremote={}\nzip={}\nz={}\nown={}\ngrp={}\nchmod_to={}\nchown_to={}\nonly_attrs={}",
            if self.remote_src { self.src.as_str() } else { "" },
            self.dest,
            u8::from(self.remote_src),
            u8::from(zip),
            z,
            self.attrs.owner.clone().unwrap_or_default(),
            self.attrs.group.clone().unwrap_or_default(),
            self.attrs.mode.as_ref().map(Mode::chmod_arg).unwrap_or_default(),
            chown_to,
            u8::from(!extract)
        )
        .then(&Script::text(include_str!("unarchive/apply.sh")))
    }
}

/// Runs the apply script with the archive (if from the controller) on stdin.
struct Apply {
    script: Script,
    archive: Option<std::sync::Arc<Vec<u8>>>,
}

#[async_trait]
impl Action for Apply {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = match &self.archive {
            Some(a) => ctx.run_with_input(&self.script, a).await?,
            None => ctx.run(&self.script).await?,
        };
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text()));
        }
        Ok(Outcome::default())
    }
}

/// The attributes of a path in `dest` as the shared attribute code reads them.
fn zip_info(e: &zip::Entry) -> FileInfo {
    let kind = match e.mode & 0o170_000 {
        0o040_000 => Kind::Dir,
        0o120_000 => Kind::Link,
        0o100_000 => Kind::File,
        _ => Kind::Other,
    };
    let mut info = parse_attr("644 0 0 root root regular file|x").expect("a valid line").1;
    info.kind = kind;
    info.mode = e.mode & 0o7777;
    (info.uid, info.gid) = (e.owner.id, e.group.id);
    (info.owner, info.group) = (e.owner.name.clone(), e.group.name.clone());
    info
}

impl Unarchive {
    fn plan_zip(
        &self,
        l: &ZipListing,
        archive: Option<std::sync::Arc<Vec<u8>>>,
        src_shown: String,
    ) -> Result<Plan, ModuleError> {
        let mut plan = Plan::unchanged()
            .with_result("dest", json!(self.dest))
            .with_result("src", json!(src_shown))
            .with_result("handler", json!(l.handler));
        if self.list_files {
            plan = plan.with_result("files", json!(l.files));
        }
        let (summary, extract) = self.decide_zip(l)?;
        let action = Apply {
            script: self.apply_script("", true, extract),
            archive,
        };
        Ok(plan.with_change(summary, Vec::new(), action))
    }
}

#[async_trait]
impl Module for Unarchive {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let (archive, src_shown) = if self.remote_src {
            (None, self.src.clone())
        } else {
            let path = ctx.files.find(FileKind::File, &self.src)?;
            let bytes = tokio::fs::read(&path).await.map_err(|e| {
                ModuleError::LocalFile(format!("cannot read {}: {e}", path.display()))
            })?;
            (Some(std::sync::Arc::new(bytes)), path.display().to_string())
        };
        let fact = UnarchiveFact(self);
        let out = match &archive {
            Some(a) => ctx.run_with_input(&fact.script(), a).await?,
            None => ctx.run(&fact.script()).await?,
        };
        let l = match fact.parse(&out)? {
            Found::Creates => {
                let c = self.creates.as_deref().unwrap_or_default();
                return Ok(Plan::unchanged().with_result("msg", json!(format!("skipped, since {c} exists"))));
            }
            Found::NoDest => return Err(ModuleError::failed(format!("Destination '{}' is not a directory", self.dest))),
            Found::NoSrc => return Err(ModuleError::failed(format!("Source '{}' does not exist", self.src))),
            Found::Empty => return Err(ModuleError::failed(format!("Invalid archive '{}', the file is 0 bytes", self.src))),
            Found::NoZip(why) => return Err(ModuleError::failed(format!("Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.\n{why}", self.src))),
            Found::Bad(why) => return Err(ModuleError::failed(format!("Failed to find handler for \"{}\": {why}", self.src))),
            Found::Zip(z) => return self.plan_zip(&z, archive, src_shown),
            Found::Tar(l) => l,
        };
        let mut plan = Plan::unchanged()
            .with_result("dest", json!(self.dest))
            .with_result("src", json!(src_shown))
            .with_result("handler", json!(handler(&l.flag)));
        if self.list_files {
            plan = plan.with_result("files", json!(l.files));
        }
        let (summary, extract) = self.decide(&l)?;
        let action = Apply {
            script: self.apply_script(&l.flag, false, extract),
            archive,
        };
        Ok(plan.with_change(summary, Vec::new(), action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("unarchive", "src", &a.src)?;
    check_path("unarchive", "dest", &a.dest)?;
    if a.keep_newer {
        return Err(ModuleError::arg("keep_newer", "keep_newer: yes is not implemented"));
    }
    if !a.extra_opts.0.is_empty() {
        return Err(ModuleError::arg("extra_opts", "extra_opts are not implemented"));
    }
    if a.src.contains("://") {
        return Err(ModuleError::arg("src", "a URL as src is not implemented (use get_url first)"));
    }
    Ok(Box::new(Unarchive {
        src: a.src,
        dest: a.dest,
        remote_src: a.remote_src,
        creates: a.creates,
        list_files: a.list_files,
        attrs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn u(v: Value) -> Unarchive {
        let mut args = json!({"src": "a.tgz", "dest": "/opt"});
        args.as_object_mut().unwrap().extend(v.as_object().unwrap().clone());
        let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args).unwrap();
        Unarchive {
            src: a.src,
            dest: a.dest,
            remote_src: a.remote_src,
            creates: a.creates,
            list_files: a.list_files,
            attrs,
        }
    }

    fn parse(x: &Unarchive, s: &str) -> Result<Found, FactError> {
        UnarchiveFact(x).parse(&CommandOutput { status: 0, stdout: s.into(), stderr: vec![] })
    }

    #[test]
    fn the_fact_parses_and_refuses_garbage() {
        let x = u(json!({}));
        let out = "FLAG -z\nUID 0\nF app/\nF app/x\nD app/x: Mod time differs\nA 644 0 0 root root regular file|app/x\n";
        let Found::Tar(l) = parse(&x, out).unwrap() else { panic!() };
        assert_eq!((l.flag.as_str(), l.files.len(), l.diff.len()), ("-z", 2, 1));
        assert_eq!(l.attrs[0].1.kind, Kind::File);
        assert_eq!(parse(&x, "CREATES\n").unwrap(), Found::Creates);
        assert!(parse(&x, "UID 0\n").is_err(), "no FLAG");
        assert!(parse(&x, "FLAG \nUID 0\nA x\n").is_err());
        assert!(parse(&x, "what\n").is_err());
    }

    #[test]
    fn the_zip_answer_is_parsed_and_garbage_refused() {
        let x = u(json!({"src": "a.zip"}));
        let out = "ZIP ZipArchive\nRUN 0 0 root root\nGROUPS 0\nUMASK 0022\nTZ +0100 +0200\n\
            ZRC 0\nZ Archive:  /tmp/a.zip\n\
            Z -rw-r--r--  3.0 unx        4 tx stor 20261207.050739 a b\n\
            V Archive:  /tmp/a.zip\nV  Length   Method    Size  Cmpr    Date    Time   CRC-32   Name\n\
            V --------\nV        4  Stored        4   0% 2026-12-07 05:07 363a3020  a b\nV --------\nV 4 1 file\n\
            N a b\nA 81a4 0 0 root root 4 2026-12-07 05:07:39.000000000 +0100|a b\nK 20303a36|a b\n";
        let Found::Zip(z) = parse(&x, out).unwrap() else { panic!() };
        assert_eq!((z.handler.as_str(), z.umask, z.std_offset), ("ZipArchive", 0o022, 3600));
        assert_eq!(z.file_crcs["a b"], 0x363a3020);
        assert_eq!(z.crcs["a b"], 0x363a3020);
        assert_eq!(z.entries["a b"].size, 4);
        assert_eq!(x.decide_zip(&z).unwrap(), (vec![], false));
        assert!(parse(&x, "ZIP ZipArchive\nRUN 0\n").is_err());
        assert!(parse(&x, "ZIP ZipArchive\nRUN 0 0 root root\nZRC 0\n").is_err(), "no TZ");
        assert!(parse(&x, "ZIP ZipArchive\nK zz|a\n").is_err());
        assert_eq!(parse(&x, "NOZIP why\n").unwrap(), Found::NoZip("why".into()));
    }

    #[test]
    fn the_diff_is_filtered_as_ansible_filters_it() {
        let lines: Vec<String> = [
            "a: Mode differs",
            "b: Uid differs",
            "c: Contents differ",
            "tar: d: Warning: Cannot stat: No such file or directory",
        ]
        .map(String::from)
        .to_vec();
        let none = Attrs::default();
        assert_eq!(relevant_diff(&lines, 0, &none).len(), 4);
        assert_eq!(relevant_diff(&lines, 1000, &none).len(), 3, "uid only as root");
        let given = Attrs { mode: Some(Mode::Octal(0o644)), owner: Some("root".into()), group: None };
        assert_eq!(relevant_diff(&lines, 0, &given), ["c: Contents differ", "tar: d: Warning: Cannot stat: No such file or directory"]);
    }

    #[test]
    fn the_decision() {
        let x = u(json!({"mode": "0600"}));
        let info = |m| FileInfo { mode: m, ..parse_attr("644 0 0 root root regular file|f").unwrap().1 };
        let l = Listing {
            flag: "-z".into(),
            uid: 0,
            files: vec!["f".into()],
            diff: vec![],
            attrs: vec![("f".into(), info(0o644))],
        };
        assert_eq!(x.decide(&l).unwrap(), (vec!["mode/owner/group of 1 of the 1 entries".into()], false));
        let l2 = Listing { attrs: vec![("f".into(), info(0o600))], ..l.clone() };
        assert_eq!(x.decide(&l2).unwrap(), (vec![], false));
        let l3 = Listing { diff: vec!["f: Mod time differs".into()], ..l };
        assert!(x.decide(&l3).unwrap().1);
    }

    #[test]
    fn args_are_refused_by_name() {
        let field = |v: Value| refused_field(build(v));
        let base = |k: &str, v: Value| {
            let mut a = json!({"src": "a.tgz", "dest": "/opt"});
            a[k] = v;
            a
        };
        assert!(build(json!({"src": "a.tgz", "dest": "/opt", "remote_src": true})).is_ok());
        assert_eq!(field(base("keep_newer", json!(true))).as_deref(), Some("keep_newer"));
        assert_eq!(field(base("extra_opts", json!(["--strip-components=1"]))).as_deref(), Some("extra_opts"));
        assert_eq!(field(base("exclude", json!(["x"]))).as_deref(), Some("exclude"));
        assert_eq!(field(base("src", json!("http://h/a.tgz"))).as_deref(), Some("src"));
    }
}
