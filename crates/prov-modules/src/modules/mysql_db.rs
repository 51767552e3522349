//! `mysql_db` (community.mysql): creates and drops databases through the host's `mysql`
//! client (see `crate::mysql` for the login and how secrets travel).
//!
//! ```yaml
//! mysql_db: { name: app, encoding: utf8mb4, collation: utf8mb4_general_ci }
//! ```
//!
//! As community.mysql: `name` is a list (or a comma-separated string); `present` creates the
//! missing databases (`CREATE DATABASE ... CHARACTER SET ... COLLATE ...`, an existing one is
//! left as it is), `absent` drops those that exist; the result has `db` (the names joined by
//! spaces), `db_list` and, in a real run, `executed_commands`. `state: dump|import` are
//! refused (not implemented), and so are their own arguments.

use async_trait::async_trait;
use prov_core::{CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ModuleSpec;
use crate::args::{de_bool, de_opt_string_list};
use crate::server_util::fact_with_input;
use crate::mysql::{
    LoginArgs, RunSql, SESSION_PREAMBLE, batch_row, parse_with_login, probe_error,
    quote_db_identifier, sql_str,
};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("mysql_db", build);

/// `state:` what Ansible offers; prov does `present` and `absent`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum DbState {
    #[default]
    Present,
    Absent,
    Dump,
    Import,
}

/// The module's own arguments (the login ones are in [`LoginArgs`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "db", deserialize_with = "de_opt_string_list")]
    name: Option<Vec<Option<String>>>,
    #[serde(default)]
    state: DbState,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    encoding: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    collation: Option<String>,
    /// Only used by dump and import; ignored otherwise, as Ansible ignores it.
    #[serde(default)]
    #[allow(dead_code)]
    target: Option<Value>,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    sql_log_bin: bool,
}

/// What the host should have.
#[derive(Debug, Clone)]
struct MysqlDb {
    names: Vec<String>,
    absent: bool,
    encoding: String,
    collation: String,
    sql_log_bin: bool,
    login: LoginArgs,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let (a, login): (Args, LoginArgs) = parse_with_login(args)?;
    let names: Vec<String> = a
        .name
        .ok_or_else(|| ModuleError::arg("name", "missing required argument"))?
        .into_iter()
        .map(|n| n.unwrap_or_default().trim().to_owned())
        .collect();
    let absent = match a.state {
        DbState::Present => false,
        DbState::Absent => true,
        DbState::Dump | DbState::Import => {
            return Err(ModuleError::arg(
                "state",
                "dump and import are not implemented by prov (present and absent are)",
            ));
        }
    };
    if names == ["all"] {
        return Err(ModuleError::arg(
            "name",
            "name is not allowed to equal 'all' unless state equals import, or dump.",
        ));
    }
    for n in &names {
        quote_db_identifier(n).map_err(|e| ModuleError::arg("name", e))?;
    }
    Ok(Box::new(MysqlDb {
        names,
        absent,
        encoding: a.encoding.unwrap_or_default(),
        collation: a.collation.unwrap_or_default(),
        sql_log_bin: a.sql_log_bin,
        login,
    }))
}

/// Which of the named databases exist: one count per name, in order.
struct DatabasesFact<'a> {
    names: &'a [String],
    login: &'a LoginArgs,
}

impl DatabasesFact<'_> {
    fn sql(&self) -> String {
        let mut s = String::from(SESSION_PREAMBLE);
        for n in self.names {
            s.push_str(&format!(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {};\n",
                sql_str(n)
            ));
        }
        s
    }
}

impl Fact for DatabasesFact<'_> {
    type Output = Vec<bool>;

    fn name(&self) -> String {
        format!("databases {}", self.names.join(" "))
    }

    fn script(&self) -> prov_core::Script {
        self.login.script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<Vec<bool>, FactError> {
        if !out.success() {
            return Err(probe_error(self, self.login, out));
        }
        let text = out.stdout_text();
        let counts: Vec<bool> = text
            .lines()
            .map(|l| match batch_row(l).first() {
                Some(Some(n)) => n.parse::<u64>().map(|n| n > 0).map_err(|_| l.to_owned()),
                _ => Err(l.to_owned()),
            })
            .collect::<Result<_, _>>()
            .map_err(|l| self.error(format!("unexpected line `{l}`")))?;
        if counts.len() != self.names.len() {
            return Err(self.error(format!("{} answers for {} names", counts.len(), self.names.len())));
        }
        Ok(counts)
    }
}

/// One change to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DbOp {
    /// `CREATE DATABASE`.
    Create(String),
    /// `DROP DATABASE`.
    Drop(String),
}

/// The planner: the databases to create or drop, given which exist.
fn plan_db(want: &MysqlDb, exists: &[bool]) -> Vec<DbOp> {
    want.names
        .iter()
        .zip(exists)
        .filter(|(_, e)| **e == want.absent)
        .map(|(n, _)| match want.absent {
            true => DbOp::Drop(n.clone()),
            false => DbOp::Create(n.clone()),
        })
        .collect()
}

impl DbOp {
    /// The statement, as Ansible runs it and reports it in `executed_commands`.
    fn sql(&self, want: &MysqlDb) -> String {
        match self {
            DbOp::Drop(n) => format!("DROP DATABASE {}", ident(n)),
            DbOp::Create(n) => {
                let mut q = format!("CREATE DATABASE {}", ident(n));
                if !want.encoding.is_empty() {
                    q.push_str(&format!(" CHARACTER SET {}", sql_str(&want.encoding)));
                }
                if !want.collation.is_empty() {
                    q.push_str(&format!(" COLLATE {}", sql_str(&want.collation)));
                }
                q
            }
        }
    }

    /// One line for people.
    fn summary(&self) -> String {
        match self {
            DbOp::Create(n) => format!("create database {n}"),
            DbOp::Drop(n) => format!("drop database {n}"),
        }
    }

    /// The database before and after.
    fn diff(&self, want: &MysqlDb) -> Diff {
        let line = |n: &str| {
            let mut s = format!("database {n}");
            if !want.encoding.is_empty() {
                s.push_str(&format!(" encoding {}", want.encoding));
            }
            if !want.collation.is_empty() {
                s.push_str(&format!(" collation {}", want.collation));
            }
            s + "\n"
        };
        match self {
            DbOp::Create(n) => Diff::new(format!("mysql database {n}"), "", line(n)),
            DbOp::Drop(n) => Diff::new(format!("mysql database {n}"), format!("database {n}\n"), ""),
        }
    }
}

/// A name checked at build time.
fn ident(n: &str) -> String {
    quote_db_identifier(n).unwrap_or_else(|_| unreachable!("checked by build"))
}

#[async_trait]
impl Module for MysqlDb {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let base = Plan::unchanged()
            .with_result("db", json!(self.names.join(" ")))
            .with_result("db_list", json!(self.names));
        if self.names.is_empty() {
            return Ok(Plan::unchanged()
                .with_result("db", json!([]))
                .with_result("db_list", json!([])));
        }
        let fact = DatabasesFact {
            names: &self.names,
            login: &self.login,
        };
        let exists = fact_with_input(ctx, &fact, &self.login.input(&fact.sql())).await?;
        let ops = plan_db(self, &exists);
        let commands: Vec<String> = ops.iter().map(|o| o.sql(self)).collect();
        let base = if ctx.check_mode {
            base
        } else {
            base.with_result("executed_commands", json!(commands))
        };
        if ops.is_empty() {
            return Ok(base);
        }
        let mut sql = String::from(SESSION_PREAMBLE);
        if !self.sql_log_bin {
            sql.push_str("SET SQL_LOG_BIN=0;\n");
        }
        for c in &commands {
            sql.push_str(c);
            sql.push_str(";\n");
        }
        let action = RunSql {
            script: self.login.script(),
            input: self.login.input(&sql),
            message: if self.absent {
                "error deleting database".into()
            } else {
                "error creating database".into()
            },
            result: base.result().clone(),
            login: self.login.clone(),
        };
        let summary = ops.iter().map(DbOp::summary).collect();
        let diffs = ops.iter().map(|o| o.diff(self)).collect();
        Ok(base.with_change(summary, diffs, action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(extra: Value) -> MysqlDb {
        let mut a = json!({"name": "app, other"});
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (a, login): (Args, LoginArgs) = parse_with_login(a).unwrap();
        let names = a
            .name
            .unwrap()
            .into_iter()
            .map(|n| n.unwrap().trim().to_owned())
            .collect();
        MysqlDb {
            names,
            absent: a.state == DbState::Absent,
            encoding: a.encoding.unwrap_or_default(),
            collation: a.collation.unwrap_or_default(),
            sql_log_bin: a.sql_log_bin,
            login,
        }
    }

    #[test]
    fn the_planner_creates_missing_and_drops_existing() {
        let w = want(json!({"encoding": "utf8mb4", "collation": "utf8mb4_general_ci"}));
        assert_eq!(w.names, ["app", "other"]);
        let ops = plan_db(&w, &[true, false]);
        assert_eq!(ops, [DbOp::Create("other".into())]);
        assert_eq!(
            ops[0].sql(&w),
            "CREATE DATABASE `other` CHARACTER SET 'utf8mb4' COLLATE 'utf8mb4_general_ci'"
        );
        assert!(plan_db(&w, &[true, true]).is_empty());
        let w = want(json!({"state": "absent"}));
        let ops = plan_db(&w, &[true, false]);
        assert_eq!(ops, [DbOp::Drop("app".into())]);
        assert_eq!(ops[0].sql(&w), "DROP DATABASE `app`");
        assert!(plan_db(&w, &[false, false]).is_empty());
    }

    #[test]
    fn the_fact_reads_one_count_per_name() {
        let w = want(json!({}));
        let f = DatabasesFact {
            names: &w.names,
            login: &w.login,
        };
        let out = |s, o| crate::server_util::testing::output(s, o, "ERROR 1045 (28000): Access denied");
        assert_eq!(f.parse(&out(0, "1\n0\n")).unwrap(), [true, false]);
        assert!(f.parse(&out(0, "1\n")).is_err());
        assert!(f.parse(&out(0, "x\n0\n")).is_err());
        let e = f.parse(&out(3, "")).unwrap_err();
        assert!(e.detail.starts_with("unable to connect to database"), "{e:?}");
        assert!(f.sql().contains("SCHEMA_NAME = 'other'"));
    }

    #[test]
    fn arguments_as_ansible_and_refusals_by_name() {
        assert!(build(json!({"name": ["a", "b"], "login_unix_socket": "/x"})).is_ok());
        assert!(build(json!({"db": "a", "target": "/tmp/x.sql"})).is_ok());
        let e = build(json!({"name": "a", "state": "dump", "target": "/x"})).err().unwrap();
        assert!(e.to_string().contains("dump"), "{e}");
        let e = build(json!({"name": "all"})).err().unwrap();
        assert!(e.to_string().contains("'all'"), "{e}");
        let e = build(json!({"name": "a", "quick": true})).err().unwrap();
        assert!(e.to_string().contains("quick"), "{e}");
        assert!(build(json!({"name": "a.b.c"})).is_err());
    }
}
