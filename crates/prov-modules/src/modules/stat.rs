//! `stat`: reports facts about a remote path as the `stat` result (Ansible's field names); one
//! remote command, never changed.

use async_trait::async_trait;
use prov_core::{Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::de_bool;
use crate::remote_file::{Kind, ProbeSpec, check_path, mode_str, probe_one};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "dest", alias = "name")]
    path: String,
    #[serde(default, deserialize_with = "de_bool")]
    follow: bool,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    get_checksum: bool,
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    checksum_algorithm: Option<String>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    get_mime: bool,
    /// Accepted for compatibility; file attributes (lsattr) are not reported.
    #[serde(default = "yes", deserialize_with = "de_bool")]
    get_attributes: bool,
}

struct Stat {
    path: String,
    follow: bool,
    checksum: Option<&'static str>,
    get_mime: bool,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("stat", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = crate::parse_args(args)?;
    check_path("stat", "path", &a.path)?;
    let _ = a.get_attributes;
    let algo = a.checksum_algorithm.as_deref().unwrap_or("sha1");
    let cmd = match algo {
        "sha1" => "sha1sum",
        "md5" => "md5sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        other => {
            return Err(ModuleError::args(format!(
                "`checksum_algorithm` must be one of md5, sha1, sha224, sha256, sha384, sha512, not {other:?}"
            )));
        }
    };
    Ok(Box::new(Stat {
        path: a.path,
        follow: a.follow,
        checksum: a.get_checksum.then_some(cmd),
        get_mime: a.get_mime,
    }))
}

#[async_trait]
impl Module for Stat {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let mut extra = String::from(
            "if [ -r \"$p\" ]; then echo 'T readable'; fi\nif [ -w \"$p\" ]; then echo 'T writeable'; fi\nif [ -x \"$p\" ]; then echo 'T executable'; fi\n",
        );
        if self.get_mime {
            extra.push_str(
                "if [ -e \"$p\" ] && command -v file >/dev/null 2>&1; then printf 'T mimetype %s\\n' \"$(file -b --mime-type -- \"$p\")\"; printf 'T charset %s\\n' \"$(file -b --mime-encoding -- \"$p\")\"; fi\n",
            );
        }
        let spec = ProbeSpec {
            follow: self.follow,
            checksum: self.checksum,
            resolve: true,
            extra: Some(extra),
            ..ProbeSpec::new(self.path.clone())
        };
        let probed = probe_one(ctx, spec).await?;
        let mut st = Map::new();
        let Some(i) = &probed.info else {
            st.insert("exists".into(), json!(false));
            return Ok(Plan::unchanged()
                .with_result("stat", Value::Object(st))
                .with_result("changed", json!(false)));
        };
        let bit = |b: u32| json!(i.mode & b != 0);
        let ty = i.raw_mode & 0o170000;
        st.insert("exists".into(), json!(true));
        st.insert("path".into(), json!(self.path));
        st.insert("mode".into(), json!(mode_str(i.mode)));
        st.insert("isdir".into(), json!(i.kind == Kind::Dir));
        st.insert("isreg".into(), json!(i.kind == Kind::File));
        st.insert("islnk".into(), json!(i.kind == Kind::Link));
        st.insert("ischr".into(), json!(ty == 0o020000));
        st.insert("isblk".into(), json!(ty == 0o060000));
        st.insert("isfifo".into(), json!(ty == 0o010000));
        st.insert("issock".into(), json!(ty == 0o140000));
        st.insert("uid".into(), json!(i.uid));
        st.insert("gid".into(), json!(i.gid));
        if i.owner != "UNKNOWN" {
            st.insert("pw_name".into(), json!(i.owner));
        }
        if i.group != "UNKNOWN" {
            st.insert("gr_name".into(), json!(i.group));
        }
        st.insert("size".into(), json!(i.size));
        st.insert("inode".into(), json!(i.inode));
        st.insert("dev".into(), json!(i.dev));
        st.insert("nlink".into(), json!(i.nlink));
        st.insert("mtime".into(), json!(i.mtime));
        st.insert("atime".into(), json!(i.atime));
        st.insert("ctime".into(), json!(i.ctime));
        for (name, b) in [
            ("rusr", 0o400),
            ("wusr", 0o200),
            ("xusr", 0o100),
            ("rgrp", 0o040),
            ("wgrp", 0o020),
            ("xgrp", 0o010),
            ("roth", 0o004),
            ("woth", 0o002),
            ("xoth", 0o001),
            ("isuid", 0o4000),
            ("isgid", 0o2000),
        ] {
            st.insert(name.into(), bit(b));
        }
        for flag in ["readable", "writeable", "executable"] {
            st.insert(
                flag.into(),
                json!(probed.extra.iter().any(|l| l == &format!("T {flag}"))),
            );
        }
        for key in ["mimetype", "charset"] {
            if let Some(v) = probed
                .extra
                .iter()
                .find_map(|l| l.strip_prefix(&format!("T {key} ")))
            {
                st.insert(key.into(), json!(v));
            }
        }
        if let Some(c) = &i.checksum {
            st.insert("checksum".into(), json!(c));
        }
        if i.kind == Kind::Link {
            st.insert(
                "lnk_target".into(),
                json!(i.link_target.clone().unwrap_or_default()),
            );
            if let Some(r) = &probed.real_path {
                st.insert("lnk_source".into(), json!(r));
            }
        }
        Ok(Plan::unchanged()
            .with_result("stat", Value::Object(st))
            .with_result("changed", json!(false)))
    }
}
