//! `postgresql_privs` (community.postgresql 4.2): grants and revokes privileges on
//! databases, schemas, tables, sequences, tablespaces and languages, and default privileges,
//! through the host's `psql` (see `crate::postgres` for the login).
//!
//! ```yaml
//! postgresql_privs: { db: app, type: table, objs: ALL_IN_SCHEMA, privs: SELECT, roles: reader }
//! ```
//!
//! As the module: the `GRANT`/`REVOKE` (or `ALTER DEFAULT PRIVILEGES`) statement is built as
//! the module builds it (`grant_option: true` adds `WITH GRANT OPTION`, `false` revokes the
//! grant option; roles quoted, `PUBLIC`/`CURRENT_USER`/`SESSION_USER`/`CURRENT_ROLE` as
//! keywords; `ALL_IN_SCHEMA` for tables and sequences; `ALL_DEFAULT` for default privileges;
//! `absent` for default privileges revokes ALL on tables, functions, sequences and types),
//! and `changed` is what the module reports: whether the objects' access control lists differ
//! after the statement. prov learns that as the module does, by running the statement in a
//! transaction between two reads of the lists, then rolling it back (that is the probe: it
//! leaves nothing behind); a real run then runs it for good. `queries` lists the statement
//! even when nothing changed, as the module's. Missing roles fail ("Role 'x' does not exist")
//! or, with `fail_on_role: false`, are left out. Refused: `type` function, procedure, group,
//! foreign_data_wrapper, foreign_server, type and parameter, `schema: not-specified`,
//! `objs: schemas`, `target_roles` with other types than default_privs, and object, schema
//! or role names holding a double quote.

use async_trait::async_trait;
use prov_core::{CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ModuleSpec;
use crate::args::{Presence, de_bool, de_opt_bool};
use crate::postgres::{
    PgLogin, RunSql, Step, dangerous_input, json_rows, literal, parse_with_login, probe_error,
};
use crate::server_util::fact_with_input;

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("postgresql_privs", build);

const VALID_PRIVS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
    "CREATE",
    "CONNECT",
    "TEMPORARY",
    "TEMP",
    "EXECUTE",
    "USAGE",
    "ALL",
    "SET",
    "ALTER_SYSTEM",
    "MAINTAIN",
];

/// `VALID_DEFAULT_OBJS`: object kinds of default privileges and the privileges of each.
const DEFAULT_OBJS: &[(&str, &[&str])] = &[
    (
        "TABLES",
        &["ALL", "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"],
    ),
    ("SEQUENCES", &["ALL", "SELECT", "UPDATE", "USAGE"]),
    ("FUNCTIONS", &["ALL", "EXECUTE"]),
    ("TYPES", &["ALL", "USAGE"]),
    ("SCHEMAS", &["CREATE", "USAGE"]),
];

/// `VALID_IMPLICIT_ROLES` and the server version that knows each.
const IMPLICIT_ROLES: &[(&str, i64)] = &[
    ("PUBLIC", 0),
    ("CURRENT_USER", 95000),
    ("SESSION_USER", 95000),
    ("CURRENT_ROLE", 140000),
];

/// `type:` the object kinds; prov implements the first seven.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
enum ObjType {
    #[default]
    Table,
    Sequence,
    Database,
    Schema,
    Tablespace,
    Language,
    DefaultPrivs,
    Function,
    Procedure,
    Group,
    ForeignDataWrapper,
    ForeignServer,
    Type,
    Parameter,
}

impl ObjType {
    /// The word in `GRANT .. ON <word>`.
    fn word(self) -> &'static str {
        match self {
            ObjType::Table => "table",
            ObjType::Sequence => "sequence",
            ObjType::Database => "database",
            ObjType::Schema => "schema",
            ObjType::Tablespace => "tablespace",
            ObjType::Language => "language",
            _ => "default_privs",
        }
    }

    /// Qualified by a schema (`schema` defaults to `public`).
    fn in_schema(self) -> bool {
        matches!(
            self,
            ObjType::Table | ObjType::Sequence | ObjType::DefaultPrivs
        )
    }
}

/// The module's own arguments (the login ones are in `crate::postgres`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(
        default,
        alias = "db",
        alias = "database",
        deserialize_with = "crate::args::de_opt_string"
    )]
    login_db: Option<String>,
    #[serde(default)]
    state: Presence,
    #[serde(default, alias = "priv", deserialize_with = "crate::args::de_opt_string")]
    privs: Option<String>,
    #[serde(default, rename = "type")]
    obj_type: ObjType,
    #[serde(default, alias = "obj", deserialize_with = "crate::args::de_opt_string")]
    objs: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    schema: Option<String>,
    #[serde(default, alias = "role", deserialize_with = "crate::args::de_opt_string")]
    roles: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    target_roles: Option<String>,
    #[serde(default, alias = "admin_option", deserialize_with = "de_opt_bool")]
    grant_option: Option<bool>,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    fail_on_role: bool,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    trust_input: bool,
}

/// What the grants should be.
#[derive(Debug, Clone)]
struct PgPrivs {
    absent: bool,
    obj_type: ObjType,
    /// Privileges, upper case, in the order given (duplicates dropped).
    privs: Vec<String>,
    /// Objects (or default privilege kinds); empty with `ALL_IN_SCHEMA`.
    objs: Vec<String>,
    all_in_schema: bool,
    schema: Option<String>,
    roles: Vec<String>,
    target_roles: Vec<String>,
    grant_option: Option<bool>,
    fail_on_role: bool,
    login: PgLogin,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

fn dedup_upper(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in s.split(',') {
        let p = p.to_uppercase();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// A Python frozenset of strings as it prints (`frozenset({'A', 'B'})`).
fn frozenset(items: &[&str]) -> String {
    if items.is_empty() {
        return "frozenset()".into();
    }
    let quoted: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("frozenset({{{}}})", quoted.join(", "))
}

fn parse(args: Value) -> Result<PgPrivs, ModuleError> {
    let (a, mut login): (Args, PgLogin) = parse_with_login(args)?;
    let db = a
        .login_db
        .ok_or_else(|| ModuleError::arg("login_db", "missing required arguments: login_db"))?;
    let roles = a
        .roles
        .ok_or_else(|| ModuleError::arg("roles", "missing required arguments: roles"))?;
    let t = a.obj_type;
    if !matches!(
        t,
        ObjType::Table
            | ObjType::Sequence
            | ObjType::Database
            | ObjType::Schema
            | ObjType::Tablespace
            | ObjType::Language
            | ObjType::DefaultPrivs
    ) {
        return Err(ModuleError::arg(
            "type",
            "prov implements table, sequence, database, schema, tablespace, language and default_privs",
        ));
    }
    let schema = if t.in_schema() {
        if a.objs.as_deref() == Some("schemas") || a.schema.as_deref() == Some("not-specified") {
            return Err(ModuleError::arg(
                "schema",
                "objects without a schema (objs: schemas, schema: not-specified) are not implemented by prov",
            ));
        }
        Some(a.schema.filter(|s| !s.is_empty()).unwrap_or_else(|| "public".into()))
    } else if a.schema.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ModuleError::args(format!(
            "Argument \"schema\" is not allowed for type \"{}\".",
            t.word()
        )));
    } else {
        None
    };
    let objs_arg = a.objs.filter(|o| !o.is_empty());
    let all_in_schema = objs_arg.as_deref() == Some("ALL_IN_SCHEMA");
    if all_in_schema && !matches!(t, ObjType::Table | ObjType::Sequence) {
        return Err(ModuleError::args(format!(
            "Argument \"objs\": ALL_IN_SCHEMA can be used only for type: table, sequence, function or procedure, {} was passed.",
            t.word()
        )));
    }
    let objs_arg = match (t, objs_arg) {
        (ObjType::Database, None) => db.clone(),
        (_, Some(o)) => o,
        (_, None) => {
            return Err(ModuleError::args(format!(
                "Argument \"objs\" is required for type \"{}\".",
                t.word()
            )));
        }
    };
    let privs_arg = a.privs.filter(|p| !p.is_empty()).ok_or_else(|| {
        ModuleError::args(format!(
            "Argument \"privs\" is required for type \"{}\".",
            t.word()
        ))
    })?;
    if !a.trust_input {
        let check = [
            roles.as_str(),
            a.target_roles.as_deref().unwrap_or(""),
            login.session_role.as_deref().unwrap_or(""),
            schema.as_deref().unwrap_or(""),
        ];
        dangerous_input(&check, None)?;
    }
    let privs = dedup_upper(&privs_arg);
    let bad: Vec<&str> = privs
        .iter()
        .map(String::as_str)
        .filter(|p| !VALID_PRIVS.contains(p))
        .collect();
    if !bad.is_empty() {
        return Err(ModuleError::args(format!(
            "Invalid privileges specified: {}",
            frozenset(&bad)
        )));
    }
    let objs = if all_in_schema {
        Vec::new()
    } else if t == ObjType::DefaultPrivs {
        default_objs(&objs_arg, &privs)?
    } else {
        objs_arg.split(',').map(str::to_owned).collect()
    };
    let target_roles: Vec<String> = a
        .target_roles
        .filter(|r| !r.is_empty())
        .map(|r| r.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    if !target_roles.is_empty() && t != ObjType::DefaultPrivs {
        return Err(ModuleError::arg(
            "target_roles",
            "only used with type: default_privs (the module ignores it with a warning)",
        ));
    }
    let names = objs
        .iter()
        .chain(&target_roles)
        .chain(schema.iter())
        .chain(std::iter::once(&roles));
    if names.clone().any(|n| n.contains('"')) {
        return Err(ModuleError::args(
            "names holding a double quote are not implemented by prov",
        ));
    }
    login.database = Some(db).filter(|d| !d.is_empty());
    Ok(PgPrivs {
        absent: a.state == Presence::Absent,
        obj_type: t,
        privs,
        objs,
        all_in_schema,
        schema,
        roles: roles.split(',').map(str::to_owned).collect(),
        target_roles,
        grant_option: a.grant_option,
        fail_on_role: a.fail_on_role,
        login,
    })
}

/// The default privilege kinds of `objs` (`ALL_DEFAULT`: all but SCHEMAS), checked against
/// the privileges as the module checks them.
fn default_objs(objs: &str, privs: &[String]) -> Result<Vec<String>, ModuleError> {
    let objs: Vec<String> = if objs == "ALL_DEFAULT" {
        ["TABLES", "SEQUENCES", "FUNCTIONS", "TYPES"]
            .map(str::to_owned)
            .to_vec()
    } else {
        dedup_upper(objs)
    };
    let kinds = |o: &str| DEFAULT_OBJS.iter().find(|(k, _)| *k == o).map(|(_, p)| *p);
    let bad: Vec<&str> = objs
        .iter()
        .map(String::as_str)
        .filter(|o| kinds(o).is_none())
        .collect();
    if !bad.is_empty() {
        return Err(ModuleError::args(format!(
            "Invalid Object set specified: {}",
            frozenset(&bad)
        )));
    }
    let valid: Vec<&str> = objs
        .iter()
        .map(String::as_str)
        .filter(|o| privs.iter().all(|p| kinds(o).is_some_and(|k| k.contains(&p.as_str()))))
        .collect();
    if valid.len() != objs.len() {
        let all: Vec<&str> = objs.iter().map(String::as_str).collect();
        return Err(ModuleError::args(format!(
            "Invalid priv specified. Valid object for priv: {}. Objects: {}",
            frozenset(&valid),
            frozenset(&all)
        )));
    }
    Ok(objs)
}

/// What the server says before the statement is built: its version, which roles exist, and
/// with `ALL_IN_SCHEMA` whether the schema exists and its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Names {
    version: i64,
    /// Per role given, whether `pg_roles` has it.
    roles: Vec<bool>,
    schema_exists: bool,
    all_objs: Vec<String>,
}

struct NamesFact<'a> {
    want: &'a PgPrivs,
}

impl NamesFact<'_> {
    fn sql(&self) -> String {
        let w = self.want;
        let roles: Vec<String> = w
            .roles
            .iter()
            .map(|r| {
                format!(
                    "EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {})",
                    literal(r)
                )
            })
            .collect();
        let schema = literal(w.schema.as_deref().unwrap_or(""));
        let kinds = match w.obj_type {
            ObjType::Sequence => "('S')",
            _ => "('r', 'v', 'm', 'p', 'f')",
        };
        format!(
            "SELECT json_build_object('version', current_setting('server_version_num')::int, \
             'roles', json_build_array({}), \
             'schema_exists', EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {schema}), \
             'all_objs', (SELECT coalesce(json_agg(relname), '[]') FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE nspname = {schema} AND relkind IN {kinds}));\n",
            roles.join(", ")
        )
    }
}

impl Fact for NamesFact<'_> {
    type Output = Names;

    fn name(&self) -> String {
        format!("postgresql roles {}", self.want.roles.join(","))
    }

    fn script(&self) -> prov_core::Script {
        self.want.login.script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<Names, FactError> {
        if !out.success() {
            return Err(probe_error(self, &self.want.login, out, "Database query failed"));
        }
        let rows = json_rows(self, out)?;
        let [row] = rows.as_slice() else {
            return Err(self.error(format!("{} rows, expected 1", rows.len())));
        };
        let bad = || self.error(format!("unexpected row {row}"));
        let roles = row["roles"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(Value::as_bool)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?;
        if roles.len() != self.want.roles.len() {
            return Err(bad());
        }
        let all_objs = row["all_objs"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)?;
        Ok(Names {
            version: row["version"].as_i64().ok_or_else(bad)?,
            roles,
            schema_exists: row["schema_exists"].as_bool().ok_or_else(bad)?,
            all_objs,
        })
    }
}

/// The statement the module would run, and the objects whose lists it compares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    query: String,
    objs: Vec<String>,
}

impl PgPrivs {
    fn quoted_schema(&self) -> Option<String> {
        self.schema.as_ref().map(|s| format!("\"{s}\""))
    }

    /// The roles as the statement names them; missing ones fail or are left out.
    fn for_whom(&self, names: &Names) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for (r, exists) in self.roles.iter().zip(&names.roles) {
            let upper = r.to_uppercase();
            let implicit = IMPLICIT_ROLES
                .iter()
                .any(|(n, v)| *n == upper && names.version >= *v);
            if implicit {
                out.push(upper);
            } else if *exists {
                out.push(format!("\"{r}\""));
            } else if self.fail_on_role {
                return Err(format!("Role '{r}' does not exist"));
            }
        }
        Ok(out)
    }

    /// `manipulate_privs` and `QueryBuilder`: the statement, or `None` with nothing to do.
    fn statement(&self, names: &Names) -> Result<Option<Statement>, String> {
        let objs = if self.all_in_schema {
            if !names.schema_exists {
                return Err(format!(
                    "Schema \"{}\" does not exist.",
                    self.schema.as_deref().unwrap_or("")
                ));
            }
            names.all_objs.clone()
        } else {
            self.objs.clone()
        };
        let roles = self.for_whom(names)?;
        if objs.is_empty() || roles.is_empty() {
            return Ok(None);
        }
        let for_whom = roles.join(",");
        let privs = self.privs.join(",");
        let schema = self.quoted_schema();
        let query = if self.obj_type == ObjType::DefaultPrivs {
            self.default_query(&objs, &privs, &for_whom)
        } else {
            let set_what = if self.all_in_schema {
                let kind = match self.obj_type {
                    ObjType::Sequence => "ALL SEQUENCES IN SCHEMA",
                    _ => "ALL TABLES IN SCHEMA",
                };
                format!("{} ON {kind} {}", privs.replace('_', " "), schema.unwrap_or_default())
            } else {
                let ids: Vec<String> = objs
                    .iter()
                    .map(|o| match &schema {
                        Some(s) if self.obj_type.in_schema() => format!("{s}.\"{o}\""),
                        _ => format!("\"{o}\""),
                    })
                    .collect();
                format!(
                    "{} ON {} {}",
                    privs.replace('_', " "),
                    self.obj_type.word(),
                    ids.join(",")
                )
            };
            if self.absent {
                format!("REVOKE {set_what} FROM {for_whom};")
            } else {
                let mut q = format!("GRANT {set_what} TO {for_whom}");
                match self.grant_option {
                    Some(true) => q.push_str(" WITH GRANT OPTION;"),
                    Some(false) => q.push_str(&format!(
                        ";\nREVOKE GRANT OPTION FOR {set_what} FROM {for_whom};"
                    )),
                    None => q.push(';'),
                }
                q
            }
        };
        Ok(Some(Statement { query, objs }))
    }

    /// `ALTER DEFAULT PRIVILEGES` as `QueryBuilder` writes it.
    fn default_query(&self, objs: &[String], privs: &str, for_whom: &str) -> String {
        let schema = self
            .quoted_schema()
            .map(|s| format!(" IN SCHEMA {s}"))
            .unwrap_or_default();
        let head = if self.target_roles.is_empty() {
            format!("ALTER DEFAULT PRIVILEGES{schema}")
        } else {
            let who: Vec<String> = self.target_roles.iter().map(|r| format!("\"{r}\"")).collect();
            format!("ALTER DEFAULT PRIVILEGES FOR ROLE {}{schema}", who.join(","))
        };
        let revoke = |o: &str| format!("{head} REVOKE ALL ON {o} FROM {for_whom};");
        if self.absent {
            let all = ["TABLES", "FUNCTIONS", "SEQUENCES", "TYPES"];
            return all.map(revoke).join("\n");
        }
        let mut lines: Vec<String> = objs.iter().map(|o| revoke(o)).collect();
        for o in objs {
            let suffix = if self.grant_option == Some(true) {
                " WITH GRANT OPTION;"
            } else {
                ";"
            };
            lines.push(format!("{head} GRANT {privs} ON {o} TO {for_whom}{suffix}"));
        }
        lines.join("\n")
    }

    /// The query of the access control lists the module compares.
    fn status_sql(&self, objs: &[String]) -> String {
        let list = format!(
            "ARRAY[{}]::text[]",
            objs.iter().map(|o| literal(o)).collect::<Vec<_>>().join(", ")
        );
        let schema = literal(self.schema.as_deref().unwrap_or(""));
        let inner = match self.obj_type {
            ObjType::Table | ObjType::Sequence => {
                let kinds = if self.obj_type == ObjType::Sequence {
                    "('S')"
                } else {
                    "('r', 'p', 'v', 'm', 'f')"
                };
                format!(
                    "SELECT relacl::text AS acl FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
                     ON n.oid = c.relnamespace WHERE nspname = {schema} AND relkind IN {kinds} \
                     AND relname = ANY ({list})"
                )
            }
            ObjType::Schema => format!(
                "SELECT nspacl::text AS acl FROM pg_catalog.pg_namespace WHERE nspname = ANY ({list})"
            ),
            ObjType::Database => format!(
                "SELECT datacl::text AS acl FROM pg_catalog.pg_database WHERE datname = ANY ({list})"
            ),
            ObjType::Tablespace => format!(
                "SELECT spcacl::text AS acl FROM pg_catalog.pg_tablespace WHERE spcname = ANY ({list})"
            ),
            ObjType::Language => format!(
                "SELECT lanacl::text AS acl FROM pg_catalog.pg_language WHERE lanname = ANY ({list})"
            ),
            _ => format!(
                "SELECT defaclacl::text AS acl FROM pg_default_acl a JOIN pg_namespace b \
                 ON a.defaclnamespace = b.oid WHERE b.nspname = {schema}"
            ),
        };
        format!("SELECT json_build_object('acl', (SELECT coalesce(json_agg(acl), '[]') FROM ({inner}) s));\n")
    }
}

/// Whether the statement changes the lists: run between two reads, then rolled back.
struct TrialFact<'a> {
    want: &'a PgPrivs,
    statement: &'a Statement,
}

impl TrialFact<'_> {
    fn sql(&self) -> String {
        let status = self.want.status_sql(&self.statement.objs);
        format!(
            "BEGIN;\n{status}{};\n{status}ROLLBACK;\n",
            self.statement.query
        )
    }
}

/// The lists sorted as the module sorts them (a null one as an empty string).
fn sorted(v: &Value) -> Option<Vec<String>> {
    let mut out: Vec<String> = v["acl"]
        .as_array()?
        .iter()
        .map(|a| a.as_str().unwrap_or("").to_owned())
        .collect();
    out.sort();
    Some(out)
}

impl Fact for TrialFact<'_> {
    type Output = bool;

    fn name(&self) -> String {
        format!("postgresql privileges ({})", self.statement.query)
    }

    fn script(&self) -> prov_core::Script {
        self.want.login.script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<bool, FactError> {
        if !out.success() {
            let what = format!("Cannot execute SQL '{}'", self.statement.query);
            return Err(probe_error(self, &self.want.login, out, &what));
        }
        let rows = json_rows(self, out)?;
        let [before, after] = rows.as_slice() else {
            return Err(self.error(format!("{} rows, expected 2", rows.len())));
        };
        let bad = || self.error(format!("unexpected rows {before} {after}"));
        Ok(sorted(before).ok_or_else(bad)? != sorted(after).ok_or_else(bad)?)
    }
}

#[async_trait]
impl Module for PgPrivs {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = NamesFact { want: self };
        let names = fact_with_input(ctx, &fact, &self.login.input(&fact.sql())).await?;
        let Some(st) = self.statement(&names).map_err(ModuleError::failed)? else {
            return Ok(Plan::unchanged().with_result("queries", json!([])));
        };
        let base = Plan::unchanged().with_result("queries", json!([st.query]));
        let trial = TrialFact {
            want: self,
            statement: &st,
        };
        let changes = fact_with_input(ctx, &trial, &self.login.input(&trial.sql())).await?;
        if !changes {
            return Ok(base);
        }
        let action = RunSql {
            login: self.login.clone(),
            steps: vec![Step::new(
                st.query.clone(),
                format!("Cannot execute SQL '{}'", st.query),
            )],
            transaction: true,
            result: base.result().clone(),
        };
        let summary = st.query.lines().map(str::to_owned).collect();
        let diff = Diff::new("postgresql privileges", "", format!("{}\n", st.query));
        Ok(base.with_change(summary, vec![diff], action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::output;

    fn privs(args: Value) -> PgPrivs {
        parse(args).unwrap()
    }

    fn names(roles: Vec<bool>) -> Names {
        Names {
            version: 150004,
            roles,
            schema_exists: true,
            all_objs: vec!["t1".into(), "t2".into()],
        }
    }

    fn query(args: Value, n: &Names) -> String {
        privs(args).statement(n).unwrap().unwrap().query
    }

    #[test]
    fn statements_are_built_as_the_module_builds_them() {
        let n = names(vec![true, true]);
        assert_eq!(
            query(json!({"db": "app", "type": "database", "privs": "connect,temp", "roles": "a,b"}), &n),
            "GRANT CONNECT,TEMP ON database \"app\" TO \"a\",\"b\";"
        );
        let n1 = names(vec![true]);
        assert_eq!(
            query(json!({"db": "app", "objs": "t1,t2", "privs": "SELECT", "roles": "r", "grant_option": true}), &n1),
            "GRANT SELECT ON table \"public\".\"t1\",\"public\".\"t2\" TO \"r\" WITH GRANT OPTION;"
        );
        assert_eq!(
            query(json!({"db": "app", "objs": "t1", "schema": "s", "privs": "SELECT", "roles": "r", "grant_option": false}), &n1),
            "GRANT SELECT ON table \"s\".\"t1\" TO \"r\";\nREVOKE GRANT OPTION FOR SELECT ON table \"s\".\"t1\" FROM \"r\";"
        );
        assert_eq!(
            query(json!({"db": "app", "objs": "ALL_IN_SCHEMA", "privs": "SELECT,UPDATE", "roles": "public", "state": "absent"}), &n1),
            "REVOKE SELECT,UPDATE ON ALL TABLES IN SCHEMA \"public\" FROM PUBLIC;"
        );
        assert_eq!(
            query(json!({"db": "app", "type": "schema", "objs": "s1", "privs": "USAGE,CREATE", "roles": "r"}), &n1),
            "GRANT USAGE,CREATE ON schema \"s1\" TO \"r\";"
        );
        assert_eq!(
            query(json!({"db": "app", "type": "default_privs", "objs": "tables,sequences", "privs": "SELECT", "roles": "r", "target_roles": "owner"}), &n1),
            "ALTER DEFAULT PRIVILEGES FOR ROLE \"owner\" IN SCHEMA \"public\" REVOKE ALL ON TABLES FROM \"r\";\n\
             ALTER DEFAULT PRIVILEGES FOR ROLE \"owner\" IN SCHEMA \"public\" REVOKE ALL ON SEQUENCES FROM \"r\";\n\
             ALTER DEFAULT PRIVILEGES FOR ROLE \"owner\" IN SCHEMA \"public\" GRANT SELECT ON TABLES TO \"r\";\n\
             ALTER DEFAULT PRIVILEGES FOR ROLE \"owner\" IN SCHEMA \"public\" GRANT SELECT ON SEQUENCES TO \"r\";"
        );
        assert_eq!(
            query(json!({"db": "app", "type": "default_privs", "objs": "TABLES", "privs": "ALL", "roles": "r", "state": "absent"}), &n1),
            "ALTER DEFAULT PRIVILEGES IN SCHEMA \"public\" REVOKE ALL ON TABLES FROM \"r\";\n\
             ALTER DEFAULT PRIVILEGES IN SCHEMA \"public\" REVOKE ALL ON FUNCTIONS FROM \"r\";\n\
             ALTER DEFAULT PRIVILEGES IN SCHEMA \"public\" REVOKE ALL ON SEQUENCES FROM \"r\";\n\
             ALTER DEFAULT PRIVILEGES IN SCHEMA \"public\" REVOKE ALL ON TYPES FROM \"r\";"
        );
    }

    #[test]
    fn missing_roles_fail_or_are_left_out_and_nothing_to_do_is_unchanged() {
        let args = json!({"db": "app", "type": "database", "privs": "CONNECT", "roles": "a,b"});
        let e = privs(args.clone()).statement(&names(vec![true, false])).unwrap_err();
        assert_eq!(e, "Role 'b' does not exist");
        let mut lenient = args.clone();
        lenient["fail_on_role"] = json!(false);
        let st = privs(lenient.clone()).statement(&names(vec![true, false])).unwrap().unwrap();
        assert_eq!(st.query, "GRANT CONNECT ON database \"app\" TO \"a\";");
        assert!(privs(lenient).statement(&names(vec![false, false])).unwrap().is_none());
        let all = json!({"db": "app", "objs": "ALL_IN_SCHEMA", "privs": "SELECT", "roles": "r"});
        let mut n = names(vec![true]);
        n.all_objs.clear();
        assert!(privs(all.clone()).statement(&n).unwrap().is_none());
        n.schema_exists = false;
        assert_eq!(privs(all).statement(&n).unwrap_err(), "Schema \"public\" does not exist.");
    }

    #[test]
    fn the_trial_compares_sorted_lists() {
        let w = privs(json!({"db": "app", "type": "database", "privs": "CONNECT", "roles": "a"}));
        let st = w.statement(&names(vec![true])).unwrap().unwrap();
        let t = TrialFact { want: &w, statement: &st };
        let sql = t.sql();
        assert!(sql.starts_with("BEGIN;\n") && sql.ends_with("ROLLBACK;\n"), "{sql}");
        assert!(sql.contains("datname = ANY (ARRAY['app']::text[])"), "{sql}");
        let same = "{\"acl\": [\"{=Tc/postgres,a=c/postgres}\", null]}\n{\"acl\": [null, \"{=Tc/postgres,a=c/postgres}\"]}\n";
        assert!(!t.parse(&output(0, same, "")).unwrap());
        let differ = "{\"acl\": [null]}\n{\"acl\": [\"{a=c/postgres}\"]}\n";
        assert!(t.parse(&output(0, differ, "")).unwrap());
        let e = t
            .parse(&output(3, "", "psql:<stdin>:6: ERROR:  database \"app\" does not exist\n"))
            .unwrap_err();
        assert_eq!(
            e.detail,
            "Cannot execute SQL 'GRANT CONNECT ON database \"app\" TO \"a\";': database \"app\" does not exist\n"
        );
    }

    #[test]
    fn arguments_as_the_module_and_refusals_by_name() {
        let ok = |a: Value| parse(a).map(|_| ()).map_err(|e| e.to_string());
        assert!(ok(json!({"database": "app", "type": "database", "priv": "ALL", "role": "a", "admin_option": true})).is_ok());
        for (args, needle) in [
            (json!({"db": "app", "type": "function", "objs": "f()", "privs": "EXECUTE", "roles": "a"}), "type"),
            (json!({"db": "app", "type": "group", "objs": "g", "roles": "a"}), "type"),
            (json!({"db": "app", "privs": "SELECT", "roles": "a"}), "\"objs\" is required"),
            (json!({"db": "app", "objs": "t", "roles": "a"}), "\"privs\" is required"),
            (json!({"db": "app", "objs": "t", "privs": "SELECT,FLY", "roles": "a"}), "Invalid privileges specified: frozenset({'FLY'})"),
            (json!({"db": "app", "type": "database", "schema": "s", "privs": "ALL", "roles": "a"}), "not allowed"),
            (json!({"db": "app", "type": "default_privs", "objs": "TABLES", "privs": "EXECUTE", "roles": "a"}), "Invalid priv specified"),
            (json!({"db": "app", "type": "default_privs", "objs": "VIEWS", "privs": "ALL", "roles": "a"}), "Invalid Object set"),
            (json!({"db": "app", "type": "schema", "objs": "s", "privs": "ALL", "roles": "a", "target_roles": "b"}), "target_roles"),
            (json!({"type": "database", "privs": "ALL", "roles": "a"}), "login_db"),
            (json!({"db": "app", "objs": "t\"x", "privs": "ALL", "roles": "a"}), "double quote"),
        ] {
            let e = ok(args).unwrap_err();
            assert!(e.contains(needle), "{e} / {needle}");
        }
    }
}
