//! prov's modules, one file each under `modules/`, all behind [`prov_core::Module`].
//!
//! A module is looked up by name ([`lookup`], accepting Ansible's `ansible.builtin.NAME` and
//! friends) and built from its rendered arguments, which deserialize into a typed struct that
//! rejects unknown fields. Modules only touch their host through the [`prov_core::ModuleContext`]
//! they are given; controller-side actions (`debug`, `assert`, `set_fact`, `fail`, `meta`) live in
//! the engine because they work on variables, not on hosts.

pub mod args;
pub mod cmdexec;
pub mod modules;
pub mod mysql;
pub mod mysql_privs;
pub mod nft;
pub mod pkg_backend;
pub mod postgres;
pub mod pyre;
pub mod pytext;
pub mod remote_file;
pub mod server_util;
pub mod textfiles;
pub mod writefile;

use prov_core::{ArgError, Module, ModuleError};
use serde_json::Value;

/// How a module is named and built.
#[derive(Debug)]
pub struct ModuleSpec {
    /// The canonical name (`copy`).
    pub name: &'static str,
    /// Other names for it (`systemd_service` for `systemd`).
    pub aliases: &'static [&'static str],
    /// Accepts a free-form string (`command: /bin/true`), passed as the `cmd` argument.
    pub free_form: bool,
    /// Builds the module from its rendered arguments (a JSON object).
    pub build: fn(Value) -> Result<Box<dyn Module>, ModuleError>,
    /// The facts it returns that become variables of their own (`services`), for lint.
    pub returns_facts: &'static [&'static str],
}

impl ModuleSpec {
    /// A module named `name` built by `build`, with no aliases, no free form and no returned
    /// facts (add those with the methods below).
    pub const fn new(
        name: &'static str,
        build: fn(Value) -> Result<Box<dyn Module>, ModuleError>,
    ) -> Self {
        Self {
            name,
            aliases: &[],
            free_form: false,
            build,
            returns_facts: &[],
        }
    }

    /// Other names for the module.
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Takes a free-form string (passed as `cmd`).
    pub const fn free_form(mut self) -> Self {
        self.free_form = true;
        self
    }

    /// Returns facts that become variables of their own.
    pub const fn returns_facts(mut self, facts: &'static [&'static str]) -> Self {
        self.returns_facts = facts;
        self
    }
}

/// Every module prov knows.
pub fn registry() -> &'static [ModuleSpec] {
    modules::REGISTRY
}

/// A module or action name without its collection prefix: `ansible.builtin.copy`,
/// `ansible.legacy.copy`, `ansible.posix.sysctl`, `community.general.NAME`, `community.mysql.NAME`,
/// `community.crypto.NAME`, `community.postgresql.NAME` and `prov.NAME`
/// all name what prov calls `copy`, `sysctl`, `NAME`.
pub fn short_name(name: &str) -> &str {
    [
        "ansible.builtin.",
        "ansible.legacy.",
        "ansible.posix.",
        "community.general.",
        "community.mysql.",
        "community.crypto.",
        "community.postgresql.",
        "prov.",
    ]
    .iter()
    .find_map(|p| name.strip_prefix(p))
    .unwrap_or(name)
}

/// Finds a module by any of its names (see [`short_name`]).
pub fn lookup(name: &str) -> Option<&'static ModuleSpec> {
    let short = short_name(name);
    registry()
        .iter()
        .find(|m| m.name == short || m.aliases.contains(&short))
}

/// Deserializes a module's arguments into its typed struct; an unknown or mistyped field is an
/// [`ArgError`] naming it.
pub fn parse_args<T: serde::de::DeserializeOwned>(args: Value) -> Result<T, ModuleError> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ModuleError::Args(if path == "." {
            ArgError::general(message)
        } else {
            ArgError::field(&path, message)
        })
    })
}

/// Deserializes a module's arguments in two parts: the entries named in `keys` into `S` (a
/// group several modules share: file attributes, database logins), the rest into the module's
/// struct `T` (which declares `deny_unknown_fields` and not those keys). Errors name the
/// field, as [`parse_args`]'s do.
pub fn parse_args_split<T, S>(args: Value, keys: &[&str]) -> Result<(T, S), ModuleError>
where
    T: serde::de::DeserializeOwned,
    S: serde::de::DeserializeOwned,
{
    let Value::Object(mut rest) = args else {
        // Not a map: the module's struct says what is wrong with it.
        let shared = parse_args(Value::Object(serde_json::Map::new()))?;
        return Ok((parse_args(args)?, shared));
    };
    let taken: serde_json::Map<String, Value> =
        keys.iter().filter_map(|k| rest.remove_entry(*k)).collect();
    let shared = parse_args(Value::Object(taken))?;
    Ok((parse_args(Value::Object(rest))?, shared))
}

/// Deserializes a file module's arguments: the shared file attributes (`mode`, `owner`,
/// `group`) into [`remote_file::Attrs`], the rest into the module's struct.
pub fn parse_args_with_attrs<T: serde::de::DeserializeOwned>(
    args: Value,
) -> Result<(T, remote_file::Attrs), ModuleError> {
    let (module_args, a): (T, args::FileAttrArgs) =
        parse_args_split(args, &args::FileAttrArgs::KEYS)?;
    let attrs = remote_file::Attrs {
        mode: a.mode,
        owner: a.owner,
        group: a.group,
    };
    Ok((module_args, attrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_accepts_ansible_names() {
        assert_eq!(lookup("ansible.builtin.copy").map(|m| m.name), Some("copy"));
        assert_eq!(lookup("copy").map(|m| m.name), Some("copy"));
        assert!(lookup("no_such_module").is_none());
    }

    #[test]
    fn argument_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Args {
            name: String,
            #[serde(default)]
            count: Option<u32>,
        }
        let field = |v: Value| match parse_args::<Args>(v) {
            Err(ModuleError::Args(e)) => e.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(serde_json::json!({"name": "a", "bogus": 1})).as_deref(),
            Some("bogus")
        );
        assert_eq!(
            field(serde_json::json!({"name": "a", "count": "x"})).as_deref(),
            Some("count")
        );
        assert_eq!(
            field(serde_json::json!({"count": 1})),
            None,
            "missing `name`"
        );
    }

    #[test]
    fn file_attributes_are_parsed_apart_with_the_same_errors() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Args {
            path: String,
        }
        let (a, attrs) = parse_args_with_attrs::<Args>(
            serde_json::json!({"path": "/x", "mode": "0640", "owner": "daemon"}),
        )
        .unwrap();
        assert_eq!(a.path, "/x");
        assert_eq!(attrs.mode, Some(args::Mode::Octal(0o640)));
        assert_eq!(
            (attrs.owner.as_deref(), attrs.group.as_deref()),
            (Some("daemon"), None)
        );
        let field = |v: Value| match parse_args_with_attrs::<Args>(v) {
            Err(ModuleError::Args(e)) => e.field,
            other => panic!("{other:?}"),
        };
        let f = field(serde_json::json!({"path": "/x", "mode": "rwx"}));
        assert_eq!(f.as_deref(), Some("mode"));
        let f = field(serde_json::json!({"path": "/x", "owner": ["a"]}));
        assert_eq!(f.as_deref(), Some("owner"));
        let f = field(serde_json::json!({"path": "/x", "bogus": 1, "group": "adm"}));
        assert_eq!(f.as_deref(), Some("bogus"));
        assert_eq!(
            field(serde_json::json!({"mode": "0644"})),
            None,
            "missing `path`"
        );
        assert!(parse_args_with_attrs::<Args>(serde_json::json!("x")).is_err());
    }
}
