//! `template`: renders a template on the controller (with the host's variables) and installs
//! the result at `dest` exactly like `copy` (one probe, diff, atomic install).

use async_trait::async_trait;
use prov_core::{FileKind, Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{de_bool, yes};
use crate::modules::copy::plan_install;
use crate::remote_file::{Attrs, basename, check_path};
use crate::writefile::{NewContent, WriteOptions, parse_validate};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    src: String,
    dest: String,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    force: bool,
    #[serde(default, deserialize_with = "de_bool")]
    backup: bool,
    #[serde(default)]
    validate: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    follow: bool,
    #[serde(default)]
    newline_sequence: Option<String>,
}

struct Template {
    src: String,
    dest: String,
    opts: WriteOptions,
    force: bool,
    follow: bool,
    newline: Option<&'static str>,
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("template", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, attrs): (Args, Attrs) = crate::parse_args_with_attrs(args)?;
    check_path("template", "dest", &a.dest)?;
    if a.src.is_empty() {
        return Err(ModuleError::args("`src` must not be empty"));
    }
    let newline = match a.newline_sequence.as_deref() {
        None | Some("\n") | Some("\\n") => None,
        Some("\r\n") | Some("\\r\\n") => Some("\r\n"),
        Some("\r") | Some("\\r") => Some("\r"),
        Some(other) => {
            return Err(ModuleError::args(format!(
                "`newline_sequence` must be \\n, \\r or \\r\\n, not {other:?}"
            )));
        }
    };
    Ok(Box::new(Template {
        src: a.src,
        opts: WriteOptions {
            attrs,
            backup: a.backup,
            validate: parse_validate("template", a.validate)?,
            create_parent: a.dest.ends_with('/'),
        },
        dest: a.dest,
        force: a.force,
        follow: a.follow,
        newline,
    }))
}

#[async_trait]
impl Module for Template {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let path = ctx.files.find(FileKind::Template, &self.src)?;
        let mut text = ctx.files.render(&path)?;
        if let Some(nl) = self.newline {
            text = text.replace("\r\n", "\n").replace('\n', nl);
        }
        let new = NewContent::from_bytes(text.into_bytes());
        let mut plan = plan_install(
            ctx,
            &self.dest,
            Some(basename(&self.src)),
            &new,
            &self.opts,
            self.force,
            self.follow,
        )
        .await?;
        plan.result_mut()
            .insert("src".into(), json!(path.display().to_string()));
        Ok(plan)
    }
}
