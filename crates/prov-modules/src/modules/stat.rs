//! `stat`: reports facts about a remote path as the `stat` result (Ansible's field names); one
//! remote command, never changed.

use async_trait::async_trait;
use prov_core::{Fact, Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{de_bool, yes};
use crate::remote_file::{
    Kind, PathsFact, ProbePreamble, ProbeSpec, Probed, check_path, mode_str,
};

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

/// What the probing user may do with the path, and its MIME type (`file`), read with its
/// `stat`: one word per access (`readable`, `writeable`, `executable`), then `mimetype X` and
/// `charset X` when asked for and `file` is installed.
struct Access<'a> {
    path: &'a str,
    mime: bool,
}

/// The answer of [`Access`].
#[derive(Debug, Default, PartialEq, Eq)]
struct AccessInfo {
    readable: bool,
    writeable: bool,
    executable: bool,
    mimetype: Option<String>,
    charset: Option<String>,
}

impl ProbePreamble for Access<'_> {
    type Output = AccessInfo;

    fn script(&self) -> Script {
        let s = sh!("p={}\n", self.path).then_text(
            "if [ -r \"$p\" ]; then echo readable; fi\nif [ -w \"$p\" ]; then echo writeable; fi\nif [ -x \"$p\" ]; then echo executable; fi\n",
        );
        if !self.mime {
            return s;
        }
        s.then_text(
            "if [ -e \"$p\" ] && command -v file >/dev/null 2>&1; then printf 'mimetype %s\\n' \"$(file -b --mime-type -- \"$p\")\"; printf 'charset %s\\n' \"$(file -b --mime-encoding -- \"$p\")\"; fi\n",
        )
    }

    fn parse(&self, lines: &[&str]) -> Result<AccessInfo, String> {
        let mut a = AccessInfo::default();
        for line in lines {
            match line.split_once(' ') {
                None if *line == "readable" => a.readable = true,
                None if *line == "writeable" => a.writeable = true,
                None if *line == "executable" => a.executable = true,
                Some(("mimetype", v)) => a.mimetype = Some(v.to_owned()),
                Some(("charset", v)) => a.charset = Some(v.to_owned()),
                _ => return Err(format!("unexpected line `{line}` about access")),
            }
        }
        Ok(a)
    }
}

impl Stat {
    /// Ansible's `stat` dictionary of an existing path.
    fn stat_dict(&self, p: &Probed, access: AccessInfo) -> Map<String, Value> {
        let mut st = Map::new();
        let Some(i) = &p.info else {
            st.insert("exists".into(), json!(false));
            return st;
        };
        let ty = i.raw_mode & 0o170000;
        let named = |n: &str| (n != "UNKNOWN").then(|| json!(n));
        let fields = [
            ("exists", Some(json!(true))),
            ("path", Some(json!(self.path))),
            ("mode", Some(json!(mode_str(i.mode)))),
            ("isdir", Some(json!(i.kind == Kind::Dir))),
            ("isreg", Some(json!(i.kind == Kind::File))),
            ("islnk", Some(json!(i.kind == Kind::Link))),
            ("ischr", Some(json!(ty == 0o020000))),
            ("isblk", Some(json!(ty == 0o060000))),
            ("isfifo", Some(json!(ty == 0o010000))),
            ("issock", Some(json!(ty == 0o140000))),
            ("uid", Some(json!(i.uid))),
            ("gid", Some(json!(i.gid))),
            ("pw_name", named(&i.owner)),
            ("gr_name", named(&i.group)),
            ("size", Some(json!(i.size))),
            ("inode", Some(json!(i.inode))),
            ("dev", Some(json!(i.dev))),
            ("nlink", Some(json!(i.nlink))),
            ("mtime", Some(json!(i.mtime))),
            ("atime", Some(json!(i.atime))),
            ("ctime", Some(json!(i.ctime))),
        ];
        let bits = [
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
        ]
        .map(|(k, b)| (k, Some(json!(i.mode & b != 0))));
        let rest = [
            ("readable", Some(json!(access.readable))),
            ("writeable", Some(json!(access.writeable))),
            ("executable", Some(json!(access.executable))),
            ("mimetype", access.mimetype.map(Value::from)),
            ("charset", access.charset.map(Value::from)),
            ("checksum", i.checksum.clone().map(Value::from)),
        ];
        for (k, v) in fields.into_iter().chain(bits).chain(rest) {
            if let Some(v) = v {
                st.insert(k.into(), v);
            }
        }
        if i.kind == Kind::Link {
            let target = i.link_target.clone().unwrap_or_default();
            st.insert("lnk_target".into(), json!(target));
            if let Some(r) = &p.real_path {
                st.insert("lnk_source".into(), json!(r));
            }
        }
        st
    }
}

#[async_trait]
impl Module for Stat {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let spec = [ProbeSpec {
            follow: self.follow,
            checksum: self.checksum,
            resolve: true,
            ..ProbeSpec::new(self.path.clone())
        }];
        let access = Access {
            path: &self.path,
            mime: self.get_mime,
        };
        let fact = PathsFact::with(&spec, access);
        let (mut probed, access) = ctx.fact(&fact).await?;
        let probed = probed.pop().ok_or_else(|| fact.error("no section"))?;
        Ok(Plan::unchanged()
            .with_result("stat", Value::Object(self.stat_dict(&probed, access)))
            .with_result("changed", json!(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_parse_and_garbage_is_refused() {
        let a = Access {
            path: "/x",
            mime: true,
        };
        assert!(a.script().as_str().starts_with("p=/x\n"));
        let got = a
            .parse(&["readable", "executable", "mimetype text/plain", "charset us-ascii"])
            .unwrap();
        assert_eq!(
            got,
            AccessInfo {
                readable: true,
                writeable: false,
                executable: true,
                mimetype: Some("text/plain".into()),
                charset: Some("us-ascii".into()),
            }
        );
        assert!(a.parse(&["T readable"]).is_err());
        assert!(a.parse(&["readable yes"]).is_err());
    }
}
