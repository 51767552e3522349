//! `postgresql_db` (community.postgresql 4.2): creates, alters and drops databases through
//! the host's `psql` (see `crate::postgres` for the login), connected to `maintenance_db`.
//!
//! ```yaml
//! postgresql_db: { name: app, owner: app, encoding: UTF-8, template: template0 }
//! ```
//!
//! As the module: `present` creates a missing database (`CREATE DATABASE` with `owner`,
//! `template`, `encoding`, `lc_collate`, `lc_ctype`, `icu_locale`, `locale_provider`,
//! `tablespace`, `conn_limit`, then `comment`); on an existing one a different encoding
//! (compared by the server's encoding id), collation, ctype, ICU locale or locale provider is
//! an error ("Changing database encoding is not supported. ..."), and the owner, connection
//! limit, tablespace and comment are altered when they differ (`template` is not compared).
//! `absent` drops it (`force`: `WITH (FORCE)` from PostgreSQL 13, other sessions ended
//! before on older servers). The result has `db` and `executed_commands` (empty in check
//! mode, as the module's). One difference: where the module's check mode reports `changed`
//! for a database whose encoding or locale differs and its real run then fails, prov's check
//! mode fails with the real run's message. Refused: `state: dump`, `restore`, `rename` (and
//! `target`, `target_opts`, `dump_extra_args` with them), and names holding a double quote
//! (the module pastes them between double quotes unescaped).

use async_trait::async_trait;
use prov_core::{CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ModuleSpec;
use crate::args::de_bool;
use crate::postgres::{
    PgLogin, RunSql, Step, dangerous_input, json_rows, literal, parse_with_login, probe_error,
};
use crate::server_util::fact_with_input;

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("postgresql_db", build);

/// `state:` what the module offers; prov does `present` and `absent`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
enum DbState {
    #[default]
    Present,
    Absent,
    Dump,
    Restore,
    Rename,
}

fn s(v: Option<String>) -> String {
    v.unwrap_or_default()
}

/// The module's own arguments (the login ones are in `crate::postgres`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "db", deserialize_with = "crate::args::de_opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    template: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    encoding: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    lc_collate: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    lc_ctype: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    icu_locale: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    locale_provider: Option<String>,
    #[serde(default)]
    state: DbState,
    #[serde(default)]
    target: Option<Value>,
    #[serde(default)]
    target_opts: Option<Value>,
    #[serde(default)]
    dump_extra_args: Option<Value>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    maintenance_db: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    conn_limit: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    tablespace: Option<String>,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    trust_input: bool,
    #[serde(default, deserialize_with = "de_bool")]
    force: bool,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    comment: Option<String>,
}

/// What the server should have.
#[derive(Debug, Clone)]
struct PgDb {
    name: String,
    absent: bool,
    owner: String,
    template: String,
    encoding: String,
    lc_collate: String,
    lc_ctype: String,
    icu_locale: String,
    locale_provider: String,
    conn_limit: String,
    tablespace: String,
    force: bool,
    comment: Option<String>,
    login: PgLogin,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

fn parse(args: Value) -> Result<PgDb, ModuleError> {
    let (a, mut login): (Args, PgLogin) = parse_with_login(args)?;
    let name = a
        .name
        .ok_or_else(|| ModuleError::arg("name", "missing required arguments: db"))?;
    let absent = match a.state {
        DbState::Present => false,
        DbState::Absent => true,
        DbState::Dump | DbState::Restore | DbState::Rename => {
            return Err(ModuleError::arg(
                "state",
                "dump, restore and rename are not implemented by prov (present and absent are)",
            ));
        }
    };
    for (k, v) in [
        ("target", &a.target),
        ("target_opts", &a.target_opts),
        ("dump_extra_args", &a.dump_extra_args),
    ] {
        if v.as_ref().is_some_and(|v| !v.is_null() && v != "") {
            return Err(ModuleError::arg(
                k,
                "only used by dump, restore and rename, which prov does not implement",
            ));
        }
    }
    let (owner, template, tablespace) = (s(a.owner), s(a.template), s(a.tablespace));
    for (k, v) in [
        ("name", &name),
        ("owner", &owner),
        ("template", &template),
        ("tablespace", &tablespace),
    ] {
        if v.contains('"') {
            return Err(ModuleError::arg(
                k,
                "names holding a double quote are not implemented by prov",
            ));
        }
    }
    let conn_limit = s(a.conn_limit);
    let encoding = s(a.encoding);
    if !a.trust_input {
        let check: [&str; 8] = [
            owner.as_str(),
            &conn_limit,
            &encoding,
            &name,
            &template,
            &tablespace,
            login.session_role.as_deref().unwrap_or(""),
            a.comment.as_deref().unwrap_or(""),
        ];
        dangerous_input(&check, None)?;
    }
    login.database = Some(a.maintenance_db.unwrap_or_else(|| "postgres".into()))
        .filter(|d| !d.is_empty());
    Ok(PgDb {
        name,
        absent,
        owner,
        template,
        encoding,
        lc_collate: s(a.lc_collate),
        lc_ctype: s(a.lc_ctype),
        icu_locale: s(a.icu_locale),
        locale_provider: s(a.locale_provider),
        conn_limit,
        tablespace,
        force: a.force,
        comment: a.comment,
        login,
    })
}

/// A database as `get_db_info` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DbInfo {
    owner: String,
    encoding: String,
    encoding_id: i64,
    lc_collate: String,
    lc_ctype: String,
    icu_locale: Option<String>,
    locale_provider: Option<String>,
    conn_limit: i64,
    tablespace: String,
    comment: String,
}

/// The server's version, the id of the encoding asked for, and the database.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    version: i64,
    encoding_id: Option<i64>,
    db: Option<DbInfo>,
}

struct DbFact<'a> {
    want: &'a PgDb,
}

/// `get_db_info`'s query with the ICU columns of a server version.
fn info_sql(name: &str, icu: &str) -> String {
    format!(
        "SELECT json_build_object('version', current_setting('server_version_num')::int, \
         'encoding_id', {{enc}}, 'db', (SELECT json_build_object('owner', rolname, \
         'encoding', pg_encoding_to_char(encoding), 'encoding_id', encoding, \
         'lc_collate', datcollate, 'lc_ctype', datctype, {icu}, \
         'conn_limit', pg_database.datconnlimit, 'tablespace', spcname, \
         'comment', pg_catalog.shobj_description(pg_database.oid, 'pg_database')) \
         FROM pg_database JOIN pg_roles ON pg_roles.oid = pg_database.datdba \
         JOIN pg_tablespace ON pg_tablespace.oid = pg_database.dattablespace \
         WHERE datname = {}));\n",
        literal(name)
    )
}

impl DbFact<'_> {
    fn sql(&self) -> String {
        let enc = if self.want.encoding.is_empty() {
            "NULL".to_owned()
        } else {
            format!("pg_char_to_encoding({})", literal(&self.want.encoding))
        };
        let prov = "CASE datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END";
        let v17 = info_sql(&self.want.name, &format!("'icu_locale', datlocale, 'locale_provider', {prov}"));
        let v15 = info_sql(&self.want.name, &format!("'icu_locale', daticulocale, 'locale_provider', {prov}"));
        let old = info_sql(&self.want.name, "'icu_locale', NULL, 'locale_provider', NULL");
        format!(
            "SELECT current_setting('server_version_num')::int >= 170000 AS prov_v17, \
             current_setting('server_version_num')::int >= 150000 AS prov_v15 \\gset\n\
             \\if :prov_v17\n{v17}\\elif :prov_v15\n{v15}\\else\n{old}\\endif\n"
        )
        .replace("{enc}", &enc)
    }
}

impl Fact for DbFact<'_> {
    type Output = Server;

    fn name(&self) -> String {
        format!("postgresql database {}", self.want.name)
    }

    fn script(&self) -> prov_core::Script {
        self.want.login.script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<Server, FactError> {
        if !out.success() {
            return Err(probe_error(self, &self.want.login, out, "Database query failed"));
        }
        let rows = json_rows(self, out)?;
        let [row] = rows.as_slice() else {
            return Err(self.error(format!("{} rows, expected 1", rows.len())));
        };
        let bad = || self.error(format!("unexpected row {row}"));
        let db = match &row["db"] {
            Value::Null => None,
            d => Some(parse_info(d).ok_or_else(bad)?),
        };
        Ok(Server {
            version: row["version"].as_i64().ok_or_else(bad)?,
            encoding_id: row["encoding_id"].as_i64(),
            db,
        })
    }
}

fn parse_info(d: &Value) -> Option<DbInfo> {
    let text = |k: &str| d[k].as_str().map(str::to_owned);
    Some(DbInfo {
        owner: text("owner")?,
        encoding: text("encoding")?,
        encoding_id: d["encoding_id"].as_i64()?,
        lc_collate: text("lc_collate")?,
        lc_ctype: text("lc_ctype")?,
        icu_locale: text("icu_locale"),
        locale_provider: text("locale_provider"),
        conn_limit: d["conn_limit"].as_i64()?,
        tablespace: text("tablespace")?,
        comment: text("comment").unwrap_or_default(),
    })
}

/// One statement, as the module lists it in `executed_commands` (and runs it), and for people.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Command {
    sql: String,
    summary: String,
}

impl PgDb {
    fn cmd(&self, sql: String, summary: String) -> Command {
        Command { sql, summary }
    }

    /// `db_create`.
    fn create(&self, version: i64) -> Vec<Command> {
        let icu = version >= 150000;
        let mut q = vec![format!("CREATE DATABASE \"{}\"", self.name)];
        if !self.owner.is_empty() {
            q.push(format!("OWNER \"{}\"", self.owner));
        }
        if !self.template.is_empty() {
            q.push(format!("TEMPLATE \"{}\"", self.template));
        }
        for (v, kw, ok) in [
            (&self.encoding, "ENCODING", true),
            (&self.lc_collate, "LC_COLLATE", true),
            (&self.lc_ctype, "LC_CTYPE", true),
            (&self.icu_locale, "ICU_LOCALE", icu),
            (&self.locale_provider, "LOCALE_PROVIDER", icu),
        ] {
            if !v.is_empty() && ok {
                q.push(format!("{kw} {}", literal(v)));
            }
        }
        if !self.tablespace.is_empty() {
            q.push(format!("TABLESPACE \"{}\"", self.tablespace));
        }
        if !self.conn_limit.is_empty() {
            q.push(format!("CONNECTION LIMIT {}", self.conn_limit));
        }
        let mut out = vec![self.cmd(q.join(" "), format!("create database {}", self.name))];
        if let Some(c) = self.comment.as_deref().filter(|c| !c.is_empty()) {
            out.push(self.comment_cmd(c));
        }
        out
    }

    fn comment_cmd(&self, c: &str) -> Command {
        self.cmd(
            format!("COMMENT ON DATABASE \"{}\" IS {}", self.name, literal(c)),
            format!("comment on database {}", self.name),
        )
    }

    /// `db_update`'s refusals: what cannot change on an existing database.
    fn unchangeable(&self, server: &Server, db: &DbInfo) -> Result<(), String> {
        if !self.encoding.is_empty() && server.encoding_id != Some(db.encoding_id) {
            return Err(format!(
                "Changing database encoding is not supported. Current encoding: {}",
                db.encoding
            ));
        }
        if !self.lc_collate.is_empty() && self.lc_collate != db.lc_collate {
            return Err(format!(
                "Changing LC_COLLATE is not supported. Current LC_COLLATE: {}",
                db.lc_collate
            ));
        }
        if !self.lc_ctype.is_empty() && self.lc_ctype != db.lc_ctype {
            return Err(format!(
                "Changing LC_CTYPE is not supported.Current LC_CTYPE: {}",
                db.lc_ctype
            ));
        }
        let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "None".into());
        if !self.icu_locale.is_empty() && Some(&self.icu_locale) != db.icu_locale.as_ref() {
            return Err(format!(
                "Changing ICU_LOCALE is not supported.Current ICU_LOCALE: {}",
                none(&db.icu_locale)
            ));
        }
        if !self.locale_provider.is_empty()
            && Some(&self.locale_provider) != db.locale_provider.as_ref()
        {
            return Err(format!(
                "Changing LOCALE_PROVIDER is not supported.Current LOCALE_PROVIDER: {}",
                none(&db.locale_provider)
            ));
        }
        Ok(())
    }

    /// `db_update`'s changes.
    fn update(&self, db: &DbInfo) -> Vec<Command> {
        let n = &self.name;
        let mut out = Vec::new();
        if !self.owner.is_empty() && self.owner != db.owner {
            out.push(self.cmd(
                format!("ALTER DATABASE \"{n}\" OWNER TO \"{}\"", self.owner),
                format!("database {n}: owner {}", self.owner),
            ));
        }
        if !self.conn_limit.is_empty() && self.conn_limit != db.conn_limit.to_string() {
            out.push(self.cmd(
                format!("ALTER DATABASE \"{n}\" CONNECTION LIMIT {}", self.conn_limit),
                format!("database {n}: connection limit {}", self.conn_limit),
            ));
        }
        if !self.tablespace.is_empty() && self.tablespace != db.tablespace {
            out.push(self.cmd(
                format!("ALTER DATABASE \"{n}\" SET TABLESPACE \"{}\"", self.tablespace),
                format!("database {n}: tablespace {}", self.tablespace),
            ));
        }
        if let Some(c) = &self.comment
            && *c != db.comment
        {
            out.push(self.comment_cmd(c));
        }
        out
    }

    /// The whole decision: the statements to run (and those to run first, not listed).
    fn decide(&self, server: &Server) -> Result<(Vec<Step>, Vec<Command>), String> {
        if self.absent {
            let Some(_) = &server.db else {
                return Ok((Vec::new(), Vec::new()));
            };
            let mut pre = Vec::new();
            let mut q = format!("DROP DATABASE \"{}\"", self.name);
            if self.force && server.version >= 130000 {
                q.push_str(" WITH (FORCE)");
            } else if self.force {
                let db = literal(&self.name);
                pre.push(Step::new(
                    format!("UPDATE pg_database SET datallowconn = false WHERE datname={db}; SELECT pg_terminate_backend(pg_stat_activity.pid) FROM pg_stat_activity WHERE pg_stat_activity.datname={db} AND pid <> pg_backend_pid()"),
                    "Database query failed",
                ));
            }
            let drop = self.cmd(q, format!("drop database {}", self.name));
            return Ok((pre, vec![drop]));
        }
        match &server.db {
            None => Ok((Vec::new(), self.create(server.version))),
            Some(db) => {
                self.unchangeable(server, db)?;
                Ok((Vec::new(), self.update(db)))
            }
        }
    }
}

#[async_trait]
impl Module for PgDb {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = DbFact { want: self };
        let server = fact_with_input(ctx, &fact, &self.login.input(&fact.sql())).await?;
        let (pre, commands) = self.decide(&server).map_err(ModuleError::failed)?;
        let listed: Vec<&str> = if ctx.check_mode {
            Vec::new()
        } else {
            commands.iter().map(|c| c.sql.as_str()).collect()
        };
        let base = Plan::unchanged()
            .with_result("db", json!(self.name))
            .with_result("executed_commands", json!(listed));
        if commands.is_empty() {
            return Ok(base);
        }
        let steps = pre
            .into_iter()
            .chain(commands.iter().map(|c| Step::new(c.sql.clone(), "Database query failed")))
            .collect();
        let action = RunSql {
            login: self.login.clone(),
            steps,
            transaction: false,
            result: base.result().clone(),
        };
        let summary = commands.iter().map(|c| c.summary.clone()).collect();
        let diffs = commands
            .iter()
            .map(|c| Diff::new(format!("postgresql database {}", self.name), "", format!("{}\n", c.sql)))
            .collect();
        Ok(base.with_change(summary, diffs, action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::output;

    fn db(args: Value) -> PgDb {
        parse(args).unwrap()
    }

    fn info() -> DbInfo {
        DbInfo {
            owner: "postgres".into(),
            encoding: "UTF8".into(),
            encoding_id: 6,
            lc_collate: "C.UTF-8".into(),
            lc_ctype: "C.UTF-8".into(),
            icu_locale: None,
            locale_provider: Some("libc".into()),
            conn_limit: -1,
            tablespace: "pg_default".into(),
            comment: String::new(),
        }
    }

    fn server(db: Option<DbInfo>, encoding_id: Option<i64>) -> Server {
        Server {
            version: 150004,
            encoding_id,
            db,
        }
    }

    fn sqls(d: &(Vec<Step>, Vec<Command>)) -> Vec<&str> {
        d.1.iter().map(|c| c.sql.as_str()).collect()
    }

    #[test]
    fn a_missing_database_is_created_as_the_module_writes_it() {
        let w = db(json!({"name": "app", "owner": "app", "template": "template0", "encoding": "UTF-8",
            "lc_collate": "C.UTF-8", "lc_ctype": "C.UTF-8", "conn_limit": 10, "comment": "it's"}));
        let d = w.decide(&server(None, Some(6))).unwrap();
        assert_eq!(
            sqls(&d),
            [
                "CREATE DATABASE \"app\" OWNER \"app\" TEMPLATE \"template0\" ENCODING 'UTF-8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' CONNECTION LIMIT 10",
                "COMMENT ON DATABASE \"app\" IS 'it''s'",
            ]
        );
        let d = db(json!({"name": "app"})).decide(&server(None, None)).unwrap();
        assert_eq!(sqls(&d), ["CREATE DATABASE \"app\""]);
    }

    #[test]
    fn an_existing_database_is_altered_or_refused_as_the_module_does() {
        let w = db(json!({"name": "app", "encoding": "utf-8", "lc_collate": "C.UTF-8", "template": "x"}));
        assert!(w.decide(&server(Some(info()), Some(6))).unwrap().1.is_empty());
        let e = w.decide(&server(Some(info()), Some(8))).unwrap_err();
        assert_eq!(e, "Changing database encoding is not supported. Current encoding: UTF8");
        let e = db(json!({"name": "app", "lc_ctype": "en_US.UTF-8"}))
            .decide(&server(Some(info()), None))
            .unwrap_err();
        assert_eq!(e, "Changing LC_CTYPE is not supported.Current LC_CTYPE: C.UTF-8");
        let w = db(json!({"name": "app", "owner": "app", "conn_limit": "-1", "comment": "c", "tablespace": "pg_default"}));
        let d = w.decide(&server(Some(info()), None)).unwrap();
        assert_eq!(
            sqls(&d),
            ["ALTER DATABASE \"app\" OWNER TO \"app\"", "COMMENT ON DATABASE \"app\" IS 'c'"]
        );
        assert_eq!(d.1[0].summary, "database app: owner app");
    }

    #[test]
    fn absent_drops_an_existing_database() {
        let w = db(json!({"name": "app", "state": "absent"}));
        assert!(w.decide(&server(None, None)).unwrap().1.is_empty());
        assert_eq!(sqls(&w.decide(&server(Some(info()), None)).unwrap()), ["DROP DATABASE \"app\""]);
        let w = db(json!({"name": "app", "state": "absent", "force": true}));
        let d = w.decide(&server(Some(info()), None)).unwrap();
        assert_eq!(sqls(&d), ["DROP DATABASE \"app\" WITH (FORCE)"]);
        let d = w.decide(&Server { version: 120000, ..server(Some(info()), None) }).unwrap();
        assert_eq!(sqls(&d), ["DROP DATABASE \"app\""]);
        assert_eq!(d.0.len(), 1);
    }

    #[test]
    fn the_fact_picks_the_columns_of_the_version_and_parses_the_row() {
        let w = db(json!({"name": "o'k", "encoding": "UTF-8"}));
        let f = DbFact { want: &w };
        let sql = f.sql();
        assert!(sql.contains("WHERE datname = 'o''k'"), "{sql}");
        assert!(sql.contains("'encoding_id', pg_char_to_encoding('UTF-8')"));
        assert!(sql.contains("daticulocale") && sql.contains("datlocale"));
        let row = r#"{"version": 150004, "encoding_id": 6, "db": {"owner": "postgres", "encoding": "UTF8", "encoding_id": 6, "lc_collate": "C.UTF-8", "lc_ctype": "C.UTF-8", "icu_locale": null, "locale_provider": "libc", "conn_limit": -1, "tablespace": "pg_default", "comment": null}}"#;
        let s = f.parse(&output(0, &format!("{row}\n"), "")).unwrap();
        assert_eq!(s, server(Some(info()), Some(6)));
        let s = f
            .parse(&output(0, r#"{"version": 150004, "encoding_id": null, "db": null}"#, ""))
            .unwrap();
        assert_eq!(s, server(None, None));
        assert!(f.parse(&output(0, "", "")).is_err());
        assert_eq!(w.login.database.as_deref(), Some("postgres"));
    }

    #[test]
    fn arguments_as_the_module_and_refusals_by_name() {
        assert!(parse(json!({"db": "a", "maintenance_db": "template1", "port": 5432})).is_ok());
        for (args, field) in [
            (json!({"name": "a", "state": "dump", "target": "/x.sql"}), "state"),
            (json!({"name": "a", "target": "/x.sql"}), "target"),
            (json!({"name": "a\"b"}), "name"),
            (json!({"name": "a", "quick": true}), "quick"),
        ] {
            let e = parse(args).err().unwrap();
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
