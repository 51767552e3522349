//! `postgresql_user` (community.postgresql 4.2): roles of a PostgreSQL server, their
//! passwords, attributes, expiry, connection limit, comment and configuration, through the
//! host's `psql` (see `crate::postgres` for the login and how secrets travel: passwords only
//! ever on stdin).
//!
//! ```yaml
//! postgresql_user: { name: app, password: "{{ pw }}", role_attr_flags: CREATEDB }
//! ```
//!
//! As the module: a missing role is created (`CREATE USER`, so with LOGIN unless `NOLOGIN`);
//! an existing one is altered when its password (compared as the module compares it: a
//! SCRAM-SHA-256 verifier checked against the password, an MD5 hash or a plain password
//! compared with `md5(password + name)` when the server hashes with md5, always changed when
//! it hashes with SCRAM and the role's password is not a SCRAM verifier), its
//! `role_attr_flags`, `expires` (compared by the server as `timestamptz`) or `conn_limit`
//! differ; `no_password_changes` skips all but the flags of an existing role; `comment` and
//! `configuration` (`ALTER ROLE .. SET/RESET`) are set when they differ. All statements run
//! in one transaction. The result has `user`, `queries` (the statements as the module lists
//! them, passwords and expiry as `%(password)s`/`%(expires)s` placeholders) and, for
//! `absent`, `user_removed`; `fail_on_user: false` reports a role that cannot be dropped
//! (objects or privileges depend on it, or it is the login's own) as not removed instead of
//! failing. `db`/`login_db` is the database to connect to (the module's `priv` is gone in
//! 4.x: refused as unknown). Refused: role names with a double quote (the module's quoting
//! rules for pre-quoted names are not implemented).

use async_trait::async_trait;
use prov_core::{CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::ModuleSpec;
use crate::args::{Presence, de_bool};
use crate::postgres::{
    PgLogin, RunSql, Scram, Step, dangerous_input, ident, is_md5_hash, is_scram, json_rows,
    literal, md5_verifier, parse_with_login, probe_error,
};
use crate::server_util::fact_with_input;

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("postgresql_user", build);

/// `FLAGS` of the module, with their `pg_roles` columns; BYPASSRLS needs 9.5.
const FLAGS: &[(&str, &str)] = &[
    ("SUPERUSER", "rolsuper"),
    ("CREATEROLE", "rolcreaterole"),
    ("CREATEDB", "rolcreatedb"),
    ("INHERIT", "rolinherit"),
    ("LOGIN", "rolcanlogin"),
    ("REPLICATION", "rolreplication"),
    ("BYPASSRLS", "rolbypassrls"),
];

/// The module's own arguments (the login ones are in `crate::postgres`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "user", deserialize_with = "crate::args::de_opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    password: Option<String>,
    #[serde(default)]
    state: Presence,
    #[serde(default, alias = "db", deserialize_with = "crate::args::de_opt_string")]
    login_db: Option<String>,
    #[serde(default = "crate::args::yes", alias = "fail_on_role", deserialize_with = "de_bool")]
    fail_on_user: bool,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    role_attr_flags: Option<String>,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    encrypted: bool,
    #[serde(default, deserialize_with = "de_bool")]
    no_password_changes: bool,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    expires: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    conn_limit: Option<i64>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    comment: Option<String>,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    trust_input: bool,
    #[serde(default)]
    configuration: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "de_bool")]
    reset_unspecified_configuration: bool,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    quote_configuration_values: bool,
}

/// What the role should be.
#[derive(Debug, Clone)]
struct PgUser {
    name: String,
    password: Option<String>,
    absent: bool,
    fail_on_user: bool,
    /// The flags as given (upper case, duplicates dropped, in order).
    flags: Vec<String>,
    encrypted: bool,
    no_password_changes: bool,
    expires: Option<String>,
    conn_limit: Option<i64>,
    comment: Option<String>,
    /// `configuration`, values quoted as the module quotes them.
    configuration: Vec<(String, String)>,
    reset_unspecified: bool,
    quote_values: bool,
    login: PgLogin,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

/// The arguments checked and normalized.
fn parse(args: Value) -> Result<PgUser, ModuleError> {
    let (a, mut login): (Args, PgLogin) = parse_with_login(args)?;
    let name = a
        .name
        .ok_or_else(|| ModuleError::arg("name", "missing required arguments: user"))?;
    if name.is_empty() || name.contains('"') {
        return Err(ModuleError::arg(
            "name",
            "role names that are empty or hold a double quote are not implemented by prov",
        ));
    }
    let quote_values = a.quote_configuration_values;
    let mut configuration = Vec::new();
    for (k, v) in a.configuration.unwrap_or_default() {
        let Value::String(v) = v else {
            return Err(ModuleError::arg(
                "configuration",
                format!("the value of {k} must be a string (prov)"),
            ));
        };
        if quote_values && (k.contains('"') || k.contains('\'')) {
            return Err(ModuleError::arg(
                "configuration",
                "The key of a configuration may not contain single or double quotes",
            ));
        }
        let v = if quote_values { v.replace('\'', "''") } else { v };
        configuration.push((k, v));
    }
    if !a.trust_input {
        let mut check: Vec<&str> = vec![&name];
        check.extend(a.password.as_deref());
        check.extend(a.expires.as_deref());
        check.extend(a.role_attr_flags.as_deref());
        check.extend(a.comment.as_deref());
        check.extend(login.session_role.as_deref());
        for (k, v) in &configuration {
            check.push(k);
            check.push(v);
        }
        dangerous_input(&check, a.password.as_deref())?;
    }
    login.database = a.login_db.filter(|d| !d.is_empty());
    let mut flags: Vec<String> = Vec::new();
    for f in a.role_attr_flags.unwrap_or_default().split(',') {
        let f = f.to_uppercase();
        if !f.is_empty() && !flags.contains(&f) {
            flags.push(f);
        }
    }
    Ok(PgUser {
        name,
        password: a.password,
        absent: a.state == Presence::Absent,
        fail_on_user: a.fail_on_user,
        flags,
        encrypted: a.encrypted,
        no_password_changes: a.no_password_changes,
        expires: a.expires,
        conn_limit: a.conn_limit,
        comment: a.comment,
        configuration,
        reset_unspecified: a.reset_unspecified_configuration,
        quote_values,
        login,
    })
}

/// The role as the server has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Role {
    /// Flag name → set.
    flags: Vec<(String, bool)>,
    conn_limit: i64,
    /// `rolconfig` entries (`key=value`).
    config: Vec<String>,
    comment: Option<String>,
    /// The expiry given differs from `rolvaliduntil` (`None`: no expiry given).
    expires_differ: Option<bool>,
    /// Objects depend on it, or it is the login's own role: DROP would fail.
    undroppable: bool,
    /// `rolpassword` (`None`: no password); read only when a password is given.
    password: Option<String>,
}

/// What the server says about the role and its hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    version: i64,
    /// `password_encryption`.
    encryption: String,
    role: Option<Role>,
}

/// The probe: server version, password hashing, the role (and its password when needed).
struct RoleFact<'a> {
    user: &'a PgUser,
}

impl RoleFact<'_> {
    fn needs_password(&self) -> bool {
        self.user.password.is_some() && !self.user.no_password_changes
    }

    fn sql(&self) -> String {
        let u = self.user;
        let name = literal(&u.name);
        let expires = match &u.expires {
            Some(e) => format!("({}::timestamptz IS DISTINCT FROM r.rolvaliduntil)", literal(e)),
            None => "NULL".into(),
        };
        let flags: Vec<String> = FLAGS
            .iter()
            .map(|(f, col)| format!("'{f}', r.{col}"))
            .collect();
        let mut s = format!(
            "SELECT json_build_object('version', current_setting('server_version_num')::int, \
             'encryption', current_setting('password_encryption'), 'role', \
             (SELECT json_build_object('flags', json_build_object({}), 'conn_limit', r.rolconnlimit, \
             'config', r.rolconfig, 'comment', pg_catalog.shobj_description(r.oid, 'pg_authid'), \
             'expires_differ', {expires}, 'undroppable', r.rolname = current_user OR r.rolname = session_user \
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend d WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass \
             AND d.refobjid = r.oid)) FROM pg_catalog.pg_roles r WHERE r.rolname = {name}));\n",
            flags.join(", ")
        );
        if self.needs_password() {
            s.push_str(&format!(
                "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS prov_authid \\gset\n\
                 \\if :prov_authid\n\
                 SELECT json_build_object('password', (SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = {name}));\n\
                 \\else\n\
                 SELECT json_build_object('password', '********');\n\
                 \\endif\n"
            ));
        }
        s
    }
}

impl Fact for RoleFact<'_> {
    type Output = Server;

    fn name(&self) -> String {
        format!("postgresql role {}", self.user.name)
    }

    fn script(&self) -> prov_core::Script {
        self.user.login.script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<Server, FactError> {
        if !out.success() {
            return Err(probe_error(self, &self.user.login, out, "Database query failed"));
        }
        let rows = json_rows(self, out)?;
        let want = 1 + usize::from(self.needs_password());
        if rows.len() != want {
            return Err(self.error(format!("{} rows, expected {want}", rows.len())));
        }
        let bad = |what: &str| self.error(format!("unexpected {what}: {}", rows[0]));
        let version = rows[0]["version"].as_i64().ok_or_else(|| bad("version"))?;
        let encryption = rows[0]["encryption"]
            .as_str()
            .ok_or_else(|| bad("password_encryption"))?
            .to_owned();
        let role = match &rows[0]["role"] {
            Value::Null => None,
            r => Some(parse_role(r).ok_or_else(|| bad("role"))?),
        };
        let role = role.map(|mut r| {
            r.password = rows
                .get(1)
                .and_then(|p| p["password"].as_str())
                .map(str::to_owned);
            r
        });
        Ok(Server {
            version,
            encryption,
            role,
        })
    }
}

fn parse_role(r: &Value) -> Option<Role> {
    let flags = r["flags"]
        .as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), v.as_bool()?)))
        .collect::<Option<Vec<_>>>()?;
    let config = match &r["config"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    Some(Role {
        flags,
        conn_limit: r["conn_limit"].as_i64()?,
        config,
        comment: r["comment"].as_str().map(str::to_owned),
        expires_differ: r["expires_differ"].as_bool(),
        undroppable: r["undroppable"].as_bool()?,
        password: None,
    })
}

/// One statement: as the module lists it in `queries`, and as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Query {
    shown: String,
    sql: String,
    what: String,
    summary: String,
}

/// The decision: the statements to run, and `user_removed` for `absent`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Decision {
    queries: Vec<Query>,
    /// Statements listed in `queries` but not run (a DROP that would fail, `fail_on_user: false`).
    listed_only: bool,
    user_removed: Option<bool>,
}

impl PgUser {
    /// `parse_role_attrs`: the flags checked against the server's version, space-joined.
    fn flags_sql(&self, version: i64) -> Result<String, String> {
        let valid = |f: &str| {
            let f = f.strip_prefix("NO").unwrap_or(f);
            FLAGS
                .iter()
                .any(|(n, _)| *n == f && (f != "BYPASSRLS" || version >= 90500))
        };
        let bad: Vec<&str> = self
            .flags
            .iter()
            .map(String::as_str)
            .filter(|f| !valid(f))
            .collect();
        if !bad.is_empty() {
            return Err(format!("Invalid role_attr_flags specified: {}", bad.join(" ")));
        }
        Ok(self.flags.join(" "))
    }

    /// The role's SQL name (`_pg_quote_user`).
    fn quoted(&self) -> String {
        ident(&self.name)
    }

    /// Fills the `%(password)s`/`%(expires)s` placeholders with literals.
    fn bind(&self, shown: &str) -> String {
        let mut sql = shown.to_owned();
        if let Some(p) = &self.password {
            sql = sql.replace("%(password)s", &literal(p));
        }
        if let Some(e) = &self.expires {
            sql = sql.replace("%(expires)s", &literal(e));
        }
        sql
    }

    fn query(&self, shown: String, what: &str, summary: String) -> Query {
        Query {
            sql: self.bind(&shown),
            shown,
            what: what.into(),
            summary,
        }
    }

    fn crypt(&self) -> &'static str {
        if self.encrypted { "ENCRYPTED" } else { "UNENCRYPTED" }
    }

    /// `user_add`.
    fn create(&self, flags: &str) -> Query {
        let mut q = vec![format!("CREATE USER {}", self.quoted())];
        let with_password = self.password.as_deref().is_some_and(|p| !p.is_empty());
        if with_password {
            q.push(format!("WITH {}", self.crypt()));
            q.push("PASSWORD %(password)s".into());
        }
        if self.expires.is_some() {
            q.push("VALID UNTIL %(expires)s".into());
        }
        if let Some(l) = self.conn_limit {
            q.push(format!("CONNECTION LIMIT {l}"));
        }
        q.push(flags.to_owned());
        let summary = format!(
            "create role {}{}",
            self.name,
            if with_password { " with a password" } else { "" }
        );
        self.query(
            q.join(" "),
            "Unable to add user with given requirement due to ",
            summary,
        )
    }

    /// `user_should_we_change_password`.
    fn password_changes(&self, server: &Server, current: Option<&str>) -> bool {
        let Some(password) = self.password.as_deref() else {
            return false;
        };
        if password.is_empty() {
            return current.is_some();
        }
        if is_scram(password) {
            return Some(password) != current;
        }
        if let Some(c) = current
            && is_scram(c)
        {
            return match Scram::parse(c).and_then(|s| s.matches(password)) {
                Some(m) => !m,
                None => true,
            };
        }
        if is_md5_hash(password) || !self.encrypted {
            return Some(password) != current;
        }
        match server.encryption.as_str() {
            "md5" => Some(md5_verifier(password, &self.name).as_str()) != current,
            "scram-sha-256" => true,
            _ => false,
        }
    }

    /// `need_to_change_role_attr_flags` (of contradicting flags, the last given wins).
    fn flags_change(&self, role: &Role) -> bool {
        let mut want: Vec<(&str, bool)> = Vec::new();
        for f in &self.flags {
            let (n, v) = match f.strip_prefix("NO") {
                Some(n) => (n, false),
                None => (f.as_str(), true),
            };
            want.retain(|(m, _)| *m != n);
            want.push((n, v));
        }
        want.iter()
            .any(|(n, v)| role.flags.iter().any(|(m, cur)| m == n && cur != v))
    }

    /// `user_alter`.
    fn alter(&self, server: &Server, role: &Role, flags: &str) -> Option<Query> {
        if self.no_password_changes {
            if flags.is_empty() || !self.flags_change(role) {
                return None;
            }
            return Some(self.query(
                format!("ALTER USER {} WITH {flags}", self.quoted()),
                "Database query failed",
                format!("alter role {}: {flags}", self.name),
            ));
        }
        if self.password.is_none()
            && flags.is_empty()
            && self.expires.is_none()
            && self.conn_limit.is_none()
        {
            return None;
        }
        let pw = self.password_changes(server, role.password.as_deref());
        let fl = self.flags_change(role);
        let ex = role.expires_differ == Some(true);
        let cl = self.conn_limit.is_some_and(|l| l != role.conn_limit);
        if !(pw || fl || ex || cl) {
            return None;
        }
        let mut q = vec![format!("ALTER USER {}", self.quoted())];
        let mut what = Vec::new();
        if pw {
            if self.password.as_deref() != Some("") {
                q.push(format!("WITH {}", self.crypt()));
                q.push("PASSWORD %(password)s".into());
                what.push("password".to_owned());
            } else {
                q.push("WITH PASSWORD NULL".into());
                what.push("no password".to_owned());
            }
            q.push(flags.to_owned());
        } else if !flags.is_empty() {
            q.push(format!("WITH {flags}"));
        }
        if fl {
            what.push(flags.to_owned());
        }
        if self.expires.is_some() {
            q.push("VALID UNTIL %(expires)s".into());
        }
        if ex {
            what.push(format!("valid until {}", self.expires.as_deref().unwrap_or("")));
        }
        if let Some(l) = self.conn_limit {
            q.push(format!("CONNECTION LIMIT {l}"));
        }
        if cl {
            what.push(format!("connection limit {}", self.conn_limit.unwrap_or(-1)));
        }
        Some(self.query(
            q.join(" "),
            "Database query failed",
            format!("alter role {}: {}", self.name, what.join(", ")),
        ))
    }

    /// `add_comment`.
    fn comment_query(&self, current: Option<&str>) -> Option<Query> {
        let want = self.comment.as_deref()?;
        if want == current.unwrap_or("") {
            return None;
        }
        let shown = format!("COMMENT ON ROLE \"{}\" IS {}", self.name, literal(want));
        Some(self.query(
            shown,
            "Unable to add comment on role",
            format!("comment on role {}", self.name),
        ))
    }

    /// `user_configuration`.
    fn config_queries(&self, current: &[String]) -> Vec<Query> {
        let current: Vec<(&str, &str)> = current
            .iter()
            .map(|c| c.split_once('=').unwrap_or((c.as_str(), "")))
            .collect();
        let what = format!("Unable to update configuration for '{}' due to", self.name);
        let mut out = Vec::new();
        if self.reset_unspecified {
            for (k, _) in &current {
                if !self.configuration.iter().any(|(d, _)| d == k) {
                    out.push(self.query(
                        format!("ALTER ROLE {} RESET \"{k}\";", self.quoted()),
                        &what,
                        format!("role {}: reset {k}", self.name),
                    ));
                }
            }
        }
        for (k, v) in &self.configuration {
            if current.iter().any(|(c, cv)| c == k && cv == v) {
                continue;
            }
            let value = if self.quote_values {
                format!("'{v}'")
            } else {
                v.clone()
            };
            out.push(self.query(
                format!("ALTER ROLE {} SET \"{k}\" TO {value};", self.quoted()),
                &what,
                format!("role {}: set {k}", self.name),
            ));
        }
        out
    }

    /// The whole decision.
    fn decide(&self, server: &Server) -> Result<Decision, String> {
        if self.absent {
            return Ok(match &server.role {
                None => Decision::default(),
                Some(r) => Decision {
                    queries: vec![self.query(
                        format!("DROP USER {}", self.quoted()),
                        "Unable to remove user",
                        format!("drop role {}", self.name),
                    )],
                    listed_only: !self.fail_on_user && r.undroppable,
                    user_removed: Some(self.fail_on_user || !r.undroppable),
                },
            });
        }
        let flags = self.flags_sql(server.version)?;
        let mut queries = Vec::new();
        let empty = Role::default();
        let role = match &server.role {
            None => {
                queries.push(self.create(&flags));
                &empty
            }
            Some(r) => {
                queries.extend(self.alter(server, r, &flags));
                r
            }
        };
        queries.extend(self.comment_query(role.comment.as_deref()));
        queries.extend(self.config_queries(&role.config));
        Ok(Decision {
            queries,
            ..Decision::default()
        })
    }
}

#[async_trait]
impl Module for PgUser {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let fact = RoleFact { user: self };
        let server = fact_with_input(ctx, &fact, &self.login.input(&fact.sql())).await?;
        let d = self.decide(&server).map_err(ModuleError::failed)?;
        let shown: Vec<&str> = d.queries.iter().map(|q| q.shown.as_str()).collect();
        let mut base = Plan::unchanged()
            .with_result("user", json!(self.name))
            .with_result("queries", json!(shown));
        if let Some(r) = d.user_removed {
            base = base.with_result("user_removed", json!(r));
        }
        if d.queries.is_empty() || d.listed_only {
            return Ok(base);
        }
        let steps = d
            .queries
            .iter()
            .map(|q| Step::new(q.sql.clone(), q.what.clone()))
            .collect();
        let action = RunSql {
            login: self.login.clone(),
            steps,
            transaction: true,
            result: base.result().clone(),
        };
        let summary = d.queries.iter().map(|q| q.summary.clone()).collect();
        let diffs = d
            .queries
            .iter()
            .map(|q| Diff::new(format!("postgresql role {}", self.name), "", format!("{}\n", q.shown)))
            .collect();
        Ok(base.with_change(summary, diffs, action))
    }
}

#[cfg(test)]
mod tests;
