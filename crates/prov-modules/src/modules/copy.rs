//! `copy`: installs a local file (`src`) or inline `content` at `dest` on the host.
//!
//! One probe command reads the destination's state (type, SHA-256, mode, owner, group and, only
//! when it differs and is small, its old content for the diff); the file is then installed
//! atomically with `put_file` (big files are streamed) or only its attributes are fixed.
//! A directory `src` is copied recursively by [`dir`].

mod dir;

use async_trait::async_trait;
use prov_core::{FileKind, Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Mode, de_bool, yes};
use crate::remote_file::{Attrs, Content, DIFF_LIMIT, ProbeSpec, basename, check_path, probe_one};
use crate::writefile::{NewContent, WriteOptions, parse_validate, plan_write};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    src: Option<String>,
    #[serde(default)]
    content: Option<Value>,
    dest: String,
    #[serde(default = "yes", alias = "thirsty", deserialize_with = "de_bool")]
    force: bool,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
    #[serde(default)]
    validate: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    follow: bool,
    #[serde(default)]
    directory_mode: Option<Mode>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    local_follow: bool,
}

enum Source {
    Local(String),
    Inline(Vec<u8>),
}

struct Copy {
    source: Source,
    dest: String,
    opts: WriteOptions,
    force: bool,
    follow: bool,
    directory_mode: Option<Mode>,
    local_follow: bool,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("copy", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("copy", "dest", &a.dest)?;
    let source = match (a.src, a.content) {
        (Some(_), Some(_)) => {
            return Err(ModuleError::args(
                "`src` and `content` are mutually exclusive",
            ));
        }
        (Some(src), None) => {
            if src.is_empty() {
                return Err(ModuleError::args("`src` must not be empty"));
            }
            Source::Local(src)
        }
        (None, Some(Value::String(s))) => Source::Inline(s.into_bytes()),
        (None, Some(Value::Null)) => Source::Inline(Vec::new()),
        (None, Some(v)) => Source::Inline(
            serde_json::to_string(&v)
                .map_err(|e| ModuleError::args(format!("`content`: {e}")))?
                .into_bytes(),
        ),
        (None, None) => {
            return Err(ModuleError::args("one of `src` or `content` is required"));
        }
    };
    let dest_is_dir = a.dest.ends_with('/');
    if dest_is_dir && matches!(source, Source::Inline(_)) {
        return Err(ModuleError::args(
            "can not use `content` with a directory as `dest`",
        ));
    }
    Ok(Box::new(Copy {
        source,
        dest: a.dest,
        opts: WriteOptions {
            attrs,
            backup: a.backup,
            validate: parse_validate("copy", a.validate)?,
            create_parent: dest_is_dir,
        },
        force: a.force,
        follow: a.follow,
        directory_mode: a.directory_mode,
        local_follow: a.local_follow,
    }))
}

/// Plans the install of `new` at `dest` (a directory `dest` gets `dest/name`): shared by
/// `copy` and `template`. Returns the plan with Ansible's result fields.
pub(crate) async fn plan_install(
    ctx: &ModuleContext<'_>,
    dest: &str,
    name: Option<&str>,
    new: &NewContent,
    opts: &WriteOptions,
    force: bool,
    follow: bool,
) -> Result<Plan, ModuleError> {
    let (path, dir_append) = match name {
        Some(n) if dest.ends_with('/') => (format!("{dest}{n}"), None),
        Some(n) => (dest.to_owned(), Some(n.to_owned())),
        None => (dest.to_owned(), None),
    };
    let spec = ProbeSpec {
        follow: true,
        checksum: Some("sha256sum"),
        content: if force {
            Content::UnlessSha256 {
                sha256: new.sha256.clone(),
                limit: DIFF_LIMIT,
            }
        } else {
            Content::Never
        },
        dir_append,
        resolve: follow,
        ..ProbeSpec::new(path)
    };
    let probed = probe_one(ctx, spec).await?;
    let target = match (&probed.real_path, follow) {
        (Some(real), true) => real.clone(),
        _ => probed.path.clone(),
    };
    let mut plan = if !force && probed.exists() {
        Plan::unchanged().with_result("msg", json!("file already exists"))
    } else {
        plan_write(&target, &probed, new, None, opts, ctx.check_mode)?
    };
    plan.result_mut().insert("dest".into(), json!(target));
    plan.result_mut().insert("checksum".into(), json!(new.sha1));
    plan.result_mut().insert("size".into(), json!(new.size));
    Ok(plan)
}

impl Copy {
    fn dir_copy<'a>(&'a self, src: &'a str) -> dir::DirCopy<'a> {
        dir::DirCopy {
            src,
            dest: &self.dest,
            opts: &self.opts,
            directory_mode: self.directory_mode.as_ref(),
            force: self.force,
            local_follow: self.local_follow,
        }
    }
}

#[async_trait]
impl Module for Copy {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let (new, name, src) = match &self.source {
            Source::Inline(b) => (NewContent::from_bytes(b.clone()), None, None),
            Source::Local(src) => {
                let path = ctx.files.find(FileKind::File, src)?;
                if path.is_dir() {
                    return dir::plan_dir(ctx, &path, &self.dir_copy(src)).await;
                }
                let new = NewContent::from_local_file(path.clone()).await?;
                (new, Some(basename(src).to_owned()), Some(path))
            }
        };
        let mut plan = plan_install(
            ctx,
            &self.dest,
            name.as_deref(),
            &new,
            &self.opts,
            self.force,
            self.follow,
        )
        .await?;
        if let Some(p) = src {
            plan.result_mut()
                .insert("src".into(), json!(p.display().to_string()));
        }
        Ok(plan)
    }
}
