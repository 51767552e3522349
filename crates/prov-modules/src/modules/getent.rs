//! `getent`: one of the host's name-service databases as `ansible_facts.getent_<database>`.
//!
//! ```yaml
//! getent: { database: passwd, key: root }
//! ```
//!
//! As Ansible's module: `getent DATABASE [KEY]`, each output line split at `split` (default `:`
//! for `passwd`, `shadow`, `group` and `gshadow`, white space otherwise, as Python's
//! `str.split`), filed under its first field with the other fields as the value; a key seen
//! again turns its value into a list of field lists. Exit 1, 2 and 3 fail with Ansible's
//! messages; with `fail_key: false` a missing key gives `{KEY: null}` and a `msg`. Never
//! changes anything. Refused: `service` (the `-s` override is not implemented).

use async_trait::async_trait;
use prov_core::{CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Plan, Script, sh};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::de_bool;
use crate::textfiles::{py_lines, py_split};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry. The facts are named after the database;
/// the usual ones are declared for lint.
pub const SPEC: ModuleSpec = ModuleSpec::new("getent", build).returns_facts(&[
    "getent_passwd",
    "getent_group",
    "getent_shadow",
    "getent_gshadow",
    "getent_hosts",
    "getent_ahosts",
    "getent_ahostsv4",
    "getent_ahostsv6",
    "getent_services",
    "getent_protocols",
    "getent_networks",
    "getent_ethers",
    "getent_rpc",
    "getent_aliases",
    "getent_netgroup",
    "getent_initgroups",
]);

/// The `getent` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetentArgs {
    /// The database (`passwd`, `group`, `hosts`...).
    pub database: String,
    /// One key; without it, the whole database.
    #[serde(default)]
    pub key: Option<String>,
    /// The field separator.
    #[serde(default)]
    pub split: Option<String>,
    /// Fail when the key is missing (default yes).
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    pub fail_key: bool,
    /// Refused.
    #[serde(default)]
    pub service: Option<String>,
}

/// `getent`'s exit status and output.
pub struct GetentFact<'a> {
    database: &'a str,
    key: Option<&'a str>,
}

impl Fact for GetentFact<'_> {
    type Output = (i32, String);

    fn name(&self) -> String {
        match self.key {
            Some(k) => format!("getent {} {k}", self.database),
            None => format!("getent {}", self.database),
        }
    }

    fn script(&self) -> Script {
        let mut s = sh!("getent {}", self.database);
        if let Some(k) = self.key {
            s = s.arg(k);
        }
        s
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        if out.status == 127 || out.status < 0 {
            return Err(self.probe_failed(out));
        }
        let text = String::from_utf8(out.stdout.clone())
            .map_err(|_| self.error("the output is not UTF-8 text"))?;
        Ok((out.status, text))
    }
}

/// Ansible's structure: first field → the other fields (a list of such lists for a key seen
/// more than once).
pub fn tree(text: &str, split: Option<&str>) -> Result<Map<String, Value>, String> {
    let mut tree = Map::new();
    let mut seen: Map<String, Value> = Map::new();
    for line in py_lines(text) {
        let record: Vec<&str> = match split {
            Some(sep) => line.split(sep).collect(),
            None => py_split(line),
        };
        let Some((first, rest)) = record.split_first() else {
            return Err(format!("an empty line in `{text}`"));
        };
        let fields = json!(rest);
        match seen.get(*first).and_then(Value::as_u64) {
            None => {
                tree.insert((*first).to_owned(), fields);
                seen.insert((*first).to_owned(), json!(1));
            }
            Some(n) => {
                let entry = tree.get_mut(*first).expect("seen keys are in the tree");
                if n == 1 {
                    *entry = json!([entry.take()]);
                }
                if let Value::Array(list) = entry {
                    list.push(fields);
                }
                seen.insert((*first).to_owned(), json!(n + 1));
            }
        }
    }
    Ok(tree)
}

/// The `getent` module.
#[derive(Debug)]
pub struct Getent {
    database: String,
    key: Option<String>,
    split: Option<String>,
    fail_key: bool,
}

impl Getent {
    fn facts(&self, tree: Map<String, Value>) -> Value {
        json!({ format!("getent_{}", self.database): tree })
    }
}

#[async_trait]
impl Module for Getent {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = GetentFact {
            database: &self.database,
            key: self.key.as_deref(),
        };
        let (status, text) = ctx.fact(&fact).await?;
        let msg = match status {
            0 => {
                let tree = tree(&text, self.split.as_deref())
                    .map_err(|e| ModuleError::Fact(fact.error(e)))?;
                return Ok(Plan::unchanged().with_result("ansible_facts", self.facts(tree)));
            }
            1 => "Missing arguments, or database unknown.",
            2 => "One or more supplied key could not be found in the database.",
            3 => "Enumeration not supported on this database.",
            _ => "Unexpected failure!",
        };
        if let (2, false, Some(key)) = (status, self.fail_key, &self.key) {
            let mut tree = Map::new();
            tree.insert(key.clone(), Value::Null);
            return Ok(Plan::unchanged()
                .with_result("ansible_facts", self.facts(tree))
                .with_result("msg", json!(msg)));
        }
        Err(ModuleError::failed(msg))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: GetentArgs = parse_args(args)?;
    if a.service.is_some() {
        return Err(ModuleError::arg(
            "service",
            "not supported by prov (getent's -s override)",
        ));
    }
    if a.split.as_deref() == Some("") {
        return Err(ModuleError::arg("split", "empty separator"));
    }
    let colon = ["passwd", "shadow", "group", "gshadow"];
    let split = a
        .split
        .or_else(|| colon.contains(&a.database.as_str()).then(|| ":".into()));
    Ok(Box::new(Getent {
        database: a.database,
        key: a.key,
        split,
        fail_key: a.fail_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;
    use crate::server_util::testing::output;

    #[test]
    fn lines_become_ansibles_tree() {
        let t = tree("root:x:0:0:root:/root:/bin/bash\n", Some(":")).unwrap();
        assert_eq!(
            Value::Object(t),
            json!({"root": ["x", "0", "0", "root", "/root", "/bin/bash"]})
        );
        let hosts = "127.0.0.1       localhost\n::1 localhost ip6-localhost\n127.0.0.1 x\n";
        let t = tree(hosts, None).unwrap();
        assert_eq!(
            Value::Object(t),
            json!({"127.0.0.1": [["localhost"], ["x"]], "::1": ["localhost", "ip6-localhost"]})
        );
        let t = tree("a\tb\n", Some("\t")).unwrap();
        assert_eq!(Value::Object(t), json!({"a": ["b"]}));
        assert!(tree("\n", None).is_err());
    }

    #[test]
    fn the_fact_keeps_the_status_and_refuses_a_missing_getent() {
        let f = GetentFact {
            database: "passwd",
            key: Some("a b"),
        };
        assert_eq!(f.script().as_str(), "getent passwd 'a b'");
        assert_eq!(f.parse(&output(2, "", "")), Ok((2, String::new())));
        let e = f.parse(&output(127, "", "getent: not found")).unwrap_err();
        assert!(e.detail.contains("not found"), "{e}");
    }

    #[test]
    fn args() {
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"database": "passwd", "service": "files"})).as_deref(), Some("service"));
        assert_eq!(field(json!({"database": "passwd", "bogus": 1})).as_deref(), Some("bogus"));
        assert_eq!(field(json!({"database": "hosts", "fail_key": "no"})), None);
    }
}
