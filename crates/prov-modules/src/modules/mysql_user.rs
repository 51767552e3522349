//! `mysql_user` (community.mysql): accounts, their passwords and privileges on a MariaDB
//! server (10.2 or later), through the host's `mysql` client (see `crate::mysql` for the
//! login and how secrets travel: passwords only ever on stdin).
//!
//! ```yaml
//! mysql_user: { name: app, password: "{{ pw }}", priv: "app.*:ALL/*.*:USAGE" }
//! ```
//!
//! As community.mysql's `user_add`/`user_mod`/`user_delete`: a new account is created with
//! the password hashed by the server (`mysql_native_password`), an existing one has its
//! password changed when the server's hash differs (`update_password: always`), its
//! privileges replaced, appended (`append_privs`) or subtracted (`subtract_privs`) per
//! `db.table` as Ansible compares them (`crate::mysql_privs`), its TLS requirements set to
//! `tls_requires` (`SSL`, `X509` or `CIPHER`/`ISSUER`/`SUBJECT`; none when not given);
//! `plugin` with `plugin_hash_string` (`AS`) or
//! `plugin_auth_string` (`BY`, `USING` for pam, `USING PASSWORD()` for ed25519) as Ansible
//! compares and sets them; `host_all` (every host of the name: one more read, then each
//! account as above); `resource_limits` (MariaDB's five, `ALTER USER .. WITH`); `locked`
//! (`ACCOUNT LOCK`/`UNLOCK`, MariaDB 10.4.2 or later); `session_vars` (`SET SESSION` first in
//! every session); `force_context` (the `mysql` database as the session's). Refused by name: `salt`, `attributes`,
//! `password_expire`, `password_expire_interval` (not implemented), and MySQL (not MariaDB) servers.

use async_trait::async_trait;
use prov_core::{CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ModuleSpec;
use crate::args::{Presence, de_bool, de_opt_bool};
use crate::server_util::fact_with_input;
use crate::mysql::{
    LoginArgs, RunSql, SESSION_PREAMBLE, batch_row, parse_with_login, probe_error,
    sql_str,
};
use crate::mysql_privs::{self, Privs};

/// Ansible's warning when `column_case_sensitive` is left out.
const COLUMN_CASE_WARNING: &str = "Option column_case_sensitive is not provided. The default is now false, so the column's name will be uppercased. The default will be changed to true in community.mysql 4.0.0.";

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("mysql_user", build);

/// `update_password:` when a password given is set.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
enum UpdatePassword {
    #[default]
    Always,
    OnCreate,
    OnNewUsername,
}

/// The module's own arguments (the login ones are in [`LoginArgs`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(alias = "user", deserialize_with = "crate::args::de_opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    password: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    encrypted: bool,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    host: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    host_all: bool,
    #[serde(default)]
    state: Presence,
    #[serde(default, rename = "priv")]
    priv_arg: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    append_privs: bool,
    #[serde(default, deserialize_with = "de_bool")]
    subtract_privs: bool,
    #[serde(default)]
    update_password: UpdatePassword,
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    sql_log_bin: bool,
    #[serde(default, deserialize_with = "de_opt_bool")]
    column_case_sensitive: Option<bool>,
    // Refused when given (see `REFUSED`).
    #[serde(default)]
    tls_requires: Option<Value>,
    #[serde(default)]
    resource_limits: Option<Value>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    plugin: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    plugin_hash_string: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    plugin_auth_string: Option<String>,
    #[serde(default)]
    salt: Option<Value>,
    #[serde(default)]
    attributes: Option<Value>,
    #[serde(default)]
    password_expire: Option<Value>,
    #[serde(default)]
    password_expire_interval: Option<Value>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    locked: Option<bool>,
    #[serde(default)]
    session_vars: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    force_context: bool,
}

/// What the account should be.
#[derive(Debug, Clone)]
struct MysqlUser {
    user: String,
    host: String,
    state: Presence,
    password: Option<String>,
    encrypted: bool,
    priv_: Option<String>,
    append_privs: bool,
    subtract_privs: bool,
    update_password: UpdatePassword,
    sql_log_bin: bool,
    column_case_sensitive: bool,
    /// `column_case_sensitive` left out: Ansible warns.
    warn_column_case: bool,
    host_all: bool,
    /// `locked`.
    locked: Option<bool>,
    /// `SET SESSION` statements of `session_vars`.
    session: String,
    /// `tls_requires`, sanitized.
    tls: Option<Tls>,
    /// `resource_limits`, in the order given.
    limits: Vec<(String, i64)>,
    plugin: Option<String>,
    plugin_hash: Option<String>,
    plugin_auth: Option<String>,
    login: LoginArgs,
}

/// Refuses the arguments prov does not implement, by name.
fn refuse_unimplemented(a: &Args) -> Result<(), ModuleError> {
    let given = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
    let refused = [
        ("salt", given(&a.salt)),
        ("attributes", given(&a.attributes)),
        ("password_expire", given(&a.password_expire)),
        ("password_expire_interval", given(&a.password_expire_interval)),
    ];
    match refused.iter().find(|(_, g)| *g) {
        Some((name, _)) => Err(ModuleError::arg(name, "not implemented by prov")),
        None => Ok(()),
    }
}

/// `priv` as a string: a dict becomes `key:value/...` (Ansible's `convert_priv_dict_to_str`).
fn priv_string(v: &Value) -> Result<Option<String>, ModuleError> {
    let bad = || ModuleError::arg("priv", "priv parameter must be str or dict");
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Object(m) => {
            let parts: Result<Vec<String>, _> = m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok(format!("{k}:{s}")),
                    _ => Err(bad()),
                })
                .collect();
            Ok(Some(parts?.join("/")))
        }
        _ => Err(bad()),
    }
}

/// TLS requirements as Ansible's `sanitize_requires` leaves them.
#[derive(Debug, Clone)]
enum Tls {
    /// `REQUIRE SSL`.
    Ssl,
    /// `REQUIRE X509`.
    X509,
    /// `REQUIRE CIPHER 'c' AND ISSUER 'i' AND SUBJECT 's'` (some of them).
    Specified(Vec<(String, String)>),
}

impl Eq for Tls {}

impl PartialEq for Tls {
    /// As Python compares the sanitized values (dicts regardless of order).
    fn eq(&self, other: &Tls) -> bool {
        match (self, other) {
            (Tls::Ssl, Tls::Ssl) | (Tls::X509, Tls::X509) => true,
            (Tls::Specified(a), Tls::Specified(b)) => {
                let (mut a, mut b) = (a.clone(), b.clone());
                a.sort();
                b.sort();
                a == b
            }
            _ => false,
        }
    }
}

impl Tls {
    /// Ansible's `sanitize_requires` of upper-cased keys and their values.
    fn sanitize(items: Vec<(String, Option<String>)>) -> Option<Tls> {
        if items.is_empty() {
            return None;
        }
        let specific = ["CIPHER", "ISSUER", "SUBJECT"];
        if items.iter().any(|(k, _)| specific.contains(&k.as_str())) {
            let kept = items
                .into_iter()
                .filter(|(k, _)| k != "SSL" && k != "X509")
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect();
            return Some(Tls::Specified(kept));
        }
        Some(match items.iter().any(|(k, _)| k == "X509") {
            true => Tls::X509,
            false => Tls::Ssl,
        })
    }

    /// What follows `REQUIRE`.
    fn sql(&self) -> String {
        match self {
            Tls::Ssl => "SSL".into(),
            Tls::X509 => "X509".into(),
            Tls::Specified(items) => items
                .iter()
                .map(|(k, v)| format!("{k} {}", sql_str(v)))
                .collect::<Vec<_>>()
                .join(" AND "),
        }
    }
}

/// `tls_requires`: a dict (values strings or null).
fn tls_requires(v: Option<&Value>) -> Result<Option<Tls>, ModuleError> {
    let m = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ModuleError::arg("tls_requires", "must be a dict")),
    };
    let items = m
        .iter()
        .map(|(k, v)| {
            let v = crate::args::scalar_string(v).map_err(|e| ModuleError::arg("tls_requires", e))?;
            Ok((k.to_uppercase(), v))
        })
        .collect::<Result<Vec<_>, ModuleError>>()?;
    Ok(Tls::sanitize(items))
}

/// `session_vars`: `SET SESSION `name` = value;` each, values as PyMySQL quotes them.
fn session_vars(v: Option<&Value>) -> Result<String, ModuleError> {
    let m = match v {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ModuleError::arg("session_vars", "must be a dict")),
    };
    let mut out = String::new();
    for (k, v) in m {
        let value = match v {
            Value::String(s) => sql_str(s),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => i32::from(*b).to_string(),
            Value::Null => "NULL".into(),
            _ => return Err(ModuleError::arg("session_vars", "values must be scalars")),
        };
        out.push_str(&format!("SET SESSION `{}` = {value};\n", k.replace('`', "``")));
    }
    Ok(out)
}

/// The resource limits MariaDB has, as Ansible names them, and their `mysql.user` columns.
const LIMITS: [(&str, &str); 5] = [
    ("MAX_QUERIES_PER_HOUR", "max_questions"),
    ("MAX_UPDATES_PER_HOUR", "max_updates"),
    ("MAX_CONNECTIONS_PER_HOUR", "max_connections"),
    ("MAX_USER_CONNECTIONS", "max_user_connections"),
    ("MAX_STATEMENT_TIME", "max_statement_time"),
];

/// `resource_limits`: known keys, values as Python's `int()` converts them.
fn resource_limits(v: Option<&Value>) -> Result<Vec<(String, i64)>, ModuleError> {
    let m = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ModuleError::arg("resource_limits", "must be a dict")),
    };
    m.iter()
        .map(|(k, v)| {
            if !LIMITS.iter().any(|(name, _)| name == k) {
                return Err(format!("resource_limits: key '{k}' is unsupported."));
            }
            let n = match v {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
                Value::String(s) => s.trim().parse().ok(),
                Value::Bool(b) => Some(i64::from(*b)),
                _ => None,
            };
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            n.map(|n| (k.clone(), n))
                .ok_or_else(|| format!("Can't convert value '{text}' to integer."))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| ModuleError::arg("resource_limits", e))
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(from_args(args)?))
}

/// The module's settings from its arguments.
fn from_args(args: Value) -> Result<MysqlUser, ModuleError> {
    let (a, login): (Args, LoginArgs) = parse_with_login(args)?;
    refuse_unimplemented(&a)?;
    let user = a
        .name
        .ok_or_else(|| ModuleError::arg("name", "missing required argument"))?;
    if a.append_privs && a.subtract_privs {
        return Err(ModuleError::args(
            "parameters are mutually exclusive: append_privs|subtract_privs",
        ));
    }
    let priv_ = match a.priv_arg.as_ref() {
        Some(v) => priv_string(v)?,
        None => None,
    };
    Ok(MysqlUser {
        user,
        host: a.host.unwrap_or_else(|| "localhost".into()).to_lowercase(),
        state: a.state,
        password: a.password,
        encrypted: a.encrypted,
        priv_,
        append_privs: a.append_privs,
        subtract_privs: a.subtract_privs,
        update_password: a.update_password,
        sql_log_bin: a.sql_log_bin,
        column_case_sensitive: a.column_case_sensitive.unwrap_or(false),
        warn_column_case: a.column_case_sensitive.is_none(),
        host_all: a.host_all,
        limits: resource_limits(a.resource_limits.as_ref())?,
        tls: tls_requires(a.tls_requires.as_ref())?,
        locked: a.locked,
        plugin: a.plugin.filter(|p| !p.is_empty()),
        plugin_hash: a.plugin_hash_string.filter(|p| !p.is_empty()),
        plugin_auth: a.plugin_auth_string.filter(|p| !p.is_empty()),
        session: session_vars(a.session_vars.as_ref())?,
        login: LoginArgs {
            database: a.force_context.then(|| "mysql".to_owned()),
            ..login
        },
    })
}

/// The account as the server has it.
#[derive(Debug, Clone, PartialEq)]
struct Account {
    /// `COALESCE(Password, authentication_string)` (empty ones as NULL), as Ansible reads it.
    hash: Option<String>,
    /// Its resource limits, in [`LIMITS`]' order.
    limits: Vec<f64>,
    /// Its authentication plugin and `authentication_string`.
    plugin: (String, String),
    /// Its TLS requirements (`ssl_type`, `ssl_cipher`, `x509_issuer`, `x509_subject`), as
    /// Ansible's `get_tls_requires` reads them.
    tls: Option<Tls>,
    /// Its privileges (`SHOW GRANTS`).
    privs: Privs,
}

/// What the user fact reads.
#[derive(Debug, Clone, PartialEq)]
struct UserState {
    /// `VERSION()`.
    version: String,
    /// `@@sql_mode` has ANSI.
    ansi: bool,
    /// The account `user@host`, if it exists.
    account: Option<Account>,
    /// The server's hash of the password given (`*SHA1(SHA1(pw))`).
    wanted_hash: Option<String>,
    /// The account is locked (read only when `locked` is given).
    locked: bool,
    /// `(plugin, auth)` of the accounts of the same name, on any host (on_new_username).
    auths: Vec<(String, String)>,
}

/// Reads everything the planner needs in one session.
struct UserFact<'a>(&'a MysqlUser);

impl UserFact<'_> {
    fn sql(&self) -> String {
        let w = self.0;
        let (u, h) = (sql_str(&w.user), sql_str(&w.host));
        let mut s = format!("{SESSION_PREAMBLE}{}", w.session);
        s.push_str("SELECT '#version', VERSION();\nSELECT '#mode', @@sql_mode;\n");
        s.push_str(&format!(
            "SELECT '#account', COALESCE(CASE WHEN Password = '' THEN NULL ELSE Password END, \
             CASE WHEN authentication_string = '' THEN NULL ELSE authentication_string END), \
             CONCAT(ssl_type, ssl_cipher, x509_issuer, x509_subject) <> '', plugin, authentication_string, \
             max_questions, max_updates, max_connections, max_user_connections, max_statement_time, \
             ssl_type, ssl_cipher, x509_issuer, x509_subject \
             FROM mysql.user WHERE user = {u} AND host = {h};\n"
        ));
        if let Some(p) = w.password.as_deref().filter(|p| !p.is_empty() && !w.encrypted) {
            s.push_str(&format!(
                "SELECT '#hash', CONCAT('*', UCASE(SHA1(UNHEX(SHA1({})))));\n",
                sql_str(p)
            ));
        }
        s.push_str(&format!(
            "SELECT '#auth', plugin, auth FROM (SELECT plugin, password AS auth FROM mysql.user \
             WHERE user = {u} UNION SELECT plugin, authentication_string AS auth FROM mysql.user \
             WHERE user = {u}) x GROUP BY plugin, auth;\n"
        ));
        if w.locked.is_some() {
            s.push_str(&format!(
                "SELECT '#locked', IFNULL(JSON_VALUE(Priv, '$.account_locked'), 'false') \
                 FROM mysql.global_priv WHERE user = {u} AND host = {h};\n"
            ));
        }
        let show = format!("SHOW GRANTS FOR {u}@{h}");
        s.push_str(&format!(
            "SET @prov_q = IF((SELECT COUNT(*) FROM mysql.user WHERE user = {u} AND host = {h}) > 0, {}, 'SELECT 1 FROM DUAL WHERE 0');\n\
             SELECT '#grants';\nPREPARE prov_s FROM @prov_q;\nEXECUTE prov_s;\nDEALLOCATE PREPARE prov_s;\nSELECT '#end';\n",
            sql_str(&show)
        ));
        s
    }
}

impl Fact for UserFact<'_> {
    type Output = UserState;

    fn name(&self) -> String {
        format!("mysql user {}@{}", self.0.user, self.0.host)
    }

    fn script(&self) -> prov_core::Script {
        self.0.login.script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<UserState, FactError> {
        if !out.success() {
            return Err(probe_error(self, &self.0.login, out));
        }
        parse_user_state(&out.stdout_text()).map_err(|e| self.error(e))
    }
}

/// Ansible's `get_tls_requires` then `sanitize_requires`: `ssl_type`, `ssl_cipher`,
/// `x509_issuer`, `x509_subject`.
fn current_tls(cols: &[String]) -> Option<Tls> {
    let col = |i: usize| cols.get(i).cloned().unwrap_or_default();
    let mut items = Vec::new();
    match col(0).as_str() {
        "ANY" => items.push(("SSL".to_owned(), None)),
        "X509" => items.push(("X509".to_owned(), None)),
        _ => {}
    }
    for (i, k) in [(1, "CIPHER"), (2, "ISSUER"), (3, "SUBJECT")] {
        if !col(i).is_empty() {
            items.push((k.to_owned(), Some(col(i))));
        }
    }
    Tls::sanitize(items)
}

/// Parses the tagged rows of [`UserFact`]'s SQL.
fn parse_user_state(text: &str) -> Result<UserState, String> {
    let mut st = UserState {
        version: String::new(),
        ansi: false,
        account: None,
        wanted_hash: None,
        locked: false,
        auths: Vec::new(),
    };
    let (mut grants, mut in_grants) = (Vec::new(), false);
    for line in text.lines() {
        let row = batch_row(line);
        let col = |i: usize| row.get(i).cloned().flatten();
        if in_grants {
            match col(0).as_deref() {
                Some("#end") => in_grants = false,
                Some(g) => grants.push(g.to_owned()),
                None => return Err(format!("unexpected grant line `{line}`")),
            }
            continue;
        }
        match col(0).as_deref() {
            Some("#version") => st.version = col(1).unwrap_or_default(),
            Some("#mode") => st.ansi = col(1).unwrap_or_default().contains("ANSI"),
            Some("#account") => {
                st.account = Some(Account {
                    hash: col(1),
                    tls: current_tls(&(10..14).map(|i| col(i).unwrap_or_default()).collect::<Vec<_>>()),
                    plugin: (col(3).unwrap_or_default(), col(4).unwrap_or_default()),
                    limits: (5..10)
                        .map(|i| col(i).and_then(|v| v.parse().ok()).unwrap_or(0.0))
                        .collect(),
                    privs: Privs::default(),
                })
            }
            Some("#hash") => st.wanted_hash = col(1),
            // JSON_VALUE gives a JSON true as `1`.
            Some("#locked") => st.locked = matches!(col(1).as_deref(), Some("1" | "true")),
            Some("#auth") => st.auths.push((col(1).unwrap_or_default(), col(2).unwrap_or_default())),
            Some("#grants") => in_grants = true,
            _ => return Err(format!("unexpected line `{line}`")),
        }
    }
    if let Some(a) = st.account.as_mut() {
        a.privs = mysql_privs::from_grants(&grants)?;
    }
    Ok(st)
}

/// One statement group Ansible runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UserOp {
    /// `CREATE USER` with its authentication and TLS requirements.
    Create(CreateAuth, Option<Tls>),
    /// `ALTER USER .. IDENTIFIED WITH mysql_native_password AS hash`.
    SetPassword(String),
    /// `ALTER USER .. IDENTIFIED WITH plugin ...`.
    SetPlugin(String, PluginAuth),
    /// `REVOKE` (and `REVOKE GRANT OPTION` first when `grant_option`), then `FLUSH PRIVILEGES`.
    Revoke {
        on: String,
        privs: Vec<String>,
        grant_option: bool,
    },
    /// `GRANT .. [WITH GRANT OPTION]`.
    Grant { on: String, privs: Vec<String> },
    /// `ALTER USER .. ACCOUNT LOCK` (`UNLOCK` for false).
    Lock(bool),
    /// `ALTER USER .. REQUIRE ...` (`NONE` for `None`).
    SetTls(Option<Tls>),
    /// `ALTER USER .. WITH LIMIT n ...`.
    SetLimits(Vec<(String, i64)>),
    /// `DROP USER IF EXISTS`.
    Drop,
}

/// How a new account authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CreateAuth {
    /// No password.
    None,
    /// `IDENTIFIED WITH mysql_native_password AS hash` (a password given).
    Native(String),
    /// `IDENTIFIED BY PASSWORD hash` (an `encrypted` password given).
    ByPassword(String),
    /// `IDENTIFIED WITH plugin ...` (given, or the same name's existing password with
    /// on_new_username).
    Plugin(String, PluginAuth),
}

/// What follows `IDENTIFIED WITH plugin` (Ansible's `plugin_hash_string` /
/// `plugin_auth_string`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum PluginAuth {
    /// Nothing.
    None,
    /// `AS hash`.
    Hash(String),
    /// `USING auth` (pam).
    Using(String),
    /// `USING PASSWORD(auth)` (ed25519).
    UsingPassword(String),
    /// `BY auth`.
    By(String),
}

impl PluginAuth {
    /// From the arguments, in Ansible's order of precedence.
    fn of(plugin: &str, hash: Option<&str>, auth: Option<&str>) -> PluginAuth {
        match (hash, auth) {
            (Some(h), _) => PluginAuth::Hash(h.into()),
            (None, Some(a)) if plugin == "pam" => PluginAuth::Using(a.into()),
            (None, Some(a)) if plugin == "ed25519" => PluginAuth::UsingPassword(a.into()),
            (None, Some(a)) => PluginAuth::By(a.into()),
            (None, None) => PluginAuth::None,
        }
    }

    /// `IDENTIFIED WITH 'plugin' ...`.
    fn sql(&self, plugin: &str) -> String {
        let p = sql_str(plugin);
        match self {
            PluginAuth::None => format!("IDENTIFIED WITH {p}"),
            PluginAuth::Hash(h) => format!("IDENTIFIED WITH {p} AS {}", sql_str(h)),
            PluginAuth::Using(a) => format!("IDENTIFIED WITH {p} USING {}", sql_str(a)),
            PluginAuth::UsingPassword(a) => {
                format!("IDENTIFIED WITH {p} USING PASSWORD({})", sql_str(a))
            }
            PluginAuth::By(a) => format!("IDENTIFIED WITH {p} BY {}", sql_str(a)),
        }
    }
}

/// What the planner decided: the statements, and the result fields Ansible reports.
#[derive(Debug, Clone, PartialEq)]
struct UserPlan {
    ops: Vec<UserOp>,
    /// `msg` of a real run, and of a check run.
    msg: (String, String),
    /// `password_changed` of a real run, and of a check run.
    password_changed: (Value, Value),
    attributes: Value,
}

impl UserPlan {
    fn new(msg: &str, attributes: Value) -> Self {
        UserPlan {
            ops: Vec::new(),
            msg: (msg.into(), msg.into()),
            password_changed: (json!(false), json!(false)),
            attributes,
        }
    }

    fn say(&mut self, msg: &str) {
        self.msg = (msg.into(), msg.into());
    }
}

/// `True` for `*` and 40 hex digits (Ansible's `is_hash`).
fn is_hash(p: &str) -> bool {
    p.len() == 41 && p.starts_with('*') && p[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The planner (pure): Ansible's `user_add`, `user_mod` and `user_delete` for one account.
fn plan_user(w: &MysqlUser, st: &UserState) -> Result<UserPlan, String> {
    if !st.version.to_lowercase().contains("mariadb") {
        return Err(format!(
            "prov's mysql_user supports MariaDB servers only (this one is {})",
            st.version
        ));
    }
    if version_below(&st.version, 10, 2) {
        return Err(format!("prov's mysql_user needs MariaDB 10.2 or later ({})", st.version));
    }
    let privs = match &w.priv_ {
        Some(p) => Some(mysql_privs::unpack(
            p,
            st.ansi,
            w.column_case_sensitive,
            !w.subtract_privs,
        )?),
        None => None,
    };
    match (w.state, &st.account) {
        (Presence::Absent, None) => Ok(UserPlan::new("User doesn't exist", Value::Null)),
        (Presence::Absent, Some(_)) => {
            let mut p = UserPlan::new("User deleted", Value::Null);
            p.ops.push(UserOp::Drop);
            Ok(p)
        }
        (Presence::Present, None) => {
            let mut p = plan_add(w, st, privs);
            plan_limits(w, &[0.0; 5], &mut p);
            Ok(p)
        }
        (Presence::Present, Some(acct)) => {
            let mut p = plan_mod(w, st, acct, privs.as_ref())?;
            plan_limits(w, &acct.limits, &mut p);
            Ok(p)
        }
    }
}

/// Ansible's `limit_resources`: the limits that differ from the account's (a new account's
/// are all 0), set in one `ALTER USER`.
fn plan_limits(w: &MysqlUser, current: &[f64], p: &mut UserPlan) {
    let change: Vec<(String, i64)> = w
        .limits
        .iter()
        .filter(|(k, v)| {
            let i = LIMITS.iter().position(|(name, _)| name == k).unwrap_or(0);
            current.get(i).copied().unwrap_or(0.0) != *v as f64
        })
        .cloned()
        .collect();
    if !change.is_empty() {
        p.ops.push(UserOp::SetLimits(change));
    }
}

/// True when `version` (`10.11.6-MariaDB-0+deb12u1`) is below `major.minor`.
fn version_below(version: &str, major: u32, minor: u32) -> bool {
    let mut nums = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let v = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    v < (major, minor)
}

/// `user_add`: create, then grant each `db.table` of `priv`.
fn plan_add(w: &MysqlUser, st: &UserState, privs: Option<Privs>) -> UserPlan {
    let mut p = UserPlan::new("User added", Value::Null);
    let password = w.password.as_deref().filter(|p| !p.is_empty());
    let reuse = match (w.update_password, st.auths.as_slice()) {
        (UpdatePassword::OnNewUsername, [(plugin, auth)]) => Some((plugin, auth)),
        _ => None,
    };
    let auth = match (reuse, password, &w.plugin) {
        (Some((plugin, auth)), _, _) => {
            CreateAuth::Plugin(plugin.clone(), PluginAuth::Hash(auth.clone()))
        }
        (None, Some(pw), _) if w.encrypted => CreateAuth::ByPassword(pw.to_owned()),
        (None, Some(_), _) => CreateAuth::Native(st.wanted_hash.clone().unwrap_or_default()),
        (None, None, Some(plugin)) => CreateAuth::Plugin(
            plugin.clone(),
            PluginAuth::of(plugin, w.plugin_hash.as_deref(), w.plugin_auth.as_deref()),
        ),
        (None, None, None) => CreateAuth::None,
    };
    p.password_changed = (json!(reuse.is_none()), Value::Null);
    p.ops.push(UserOp::Create(auth, w.tls.clone()));
    let privs = if w.subtract_privs { None } else { privs };
    for (on, list) in privs.iter().flat_map(|p| p.0.iter()) {
        p.ops.push(UserOp::Grant {
            on: on.clone(),
            privs: list.clone(),
        });
    }
    if w.locked == Some(true) {
        p.ops.push(UserOp::Lock(true));
    }
    p
}

/// `user_mod` for one host: password, privileges, TLS requirements.
fn plan_mod(
    w: &MysqlUser,
    st: &UserState,
    acct: &Account,
    privs: Option<&Privs>,
) -> Result<UserPlan, String> {
    let mut p = UserPlan::new("User unchanged", json!({}));
    let password = match w.update_password {
        UpdatePassword::Always => w.password.as_deref().filter(|p| !p.is_empty()),
        _ => None,
    };
    if let Some(pw) = password {
        let wanted = if w.encrypted {
            if !is_hash(pw) {
                return Err("encrypted was specified however it does not appear to be a valid hash expecting: *SHA1(SHA1(your_password))".into());
            }
            pw.to_owned()
        } else {
            st.wanted_hash.clone().unwrap_or_default()
        };
        if acct.hash.as_deref() != Some(wanted.as_str()) {
            p.password_changed = (json!(true), json!(true));
            p.msg = (
                "Password updated (new style)".into(),
                "Password updated".into(),
            );
            p.ops.push(UserOp::SetPassword(wanted));
        }
    }
    if w.update_password == UpdatePassword::Always
        && let Some(plugin) = &w.plugin
    {
        let (cur_plugin, cur_auth) = &acct.plugin;
        let differs = |v: &Option<String>| v.as_ref().is_some_and(|v| v != cur_auth);
        if cur_plugin != plugin || differs(&w.plugin_hash) || differs(&w.plugin_auth) {
            let how = PluginAuth::of(plugin, w.plugin_hash.as_deref(), w.plugin_auth.as_deref());
            p.password_changed = (json!(true), json!(true));
            p.ops.push(UserOp::SetPlugin(plugin.clone(), how));
        }
    }
    if let Some(new) = privs {
        plan_privs(w, &acct.privs, new, &mut p);
    }
    if let Some(lock) = w.locked.filter(|l| *l != st.locked) {
        p.msg = match lock {
            true => ("User locked".into(), "User will be locked".into()),
            false => ("User unlocked".into(), "User will be unlocked".into()),
        };
        p.ops.push(UserOp::Lock(lock));
    }
    if acct.tls != w.tls {
        p.say("TLS requires updated");
        p.ops.push(UserOp::SetTls(w.tls.clone()));
    }
    Ok(p)
}

/// Items of `a` not in `b`, in `a`'s order, once each.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in a {
        if !b.contains(x) && !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// Items of `a` also in `b`, in `a`'s order, once each.
fn both(a: &[String], b: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in a {
        if b.contains(x) && !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// A Python list of strings as `str()` prints it.
fn py_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", items.join(", "))
}

/// The privilege part of `user_mod`.
fn plan_privs(w: &MysqlUser, cur: &Privs, new: &Privs, p: &mut UserPlan) {
    let mut grant_option = false;
    if !w.append_privs && !w.subtract_privs {
        for (on, privs) in &cur.0 {
            if privs.iter().any(|x| x == "GRANT") {
                grant_option = true;
            }
            if !new.contains(on) && w.user != "root" && !privs.iter().any(|x| x == "PROXY") {
                p.say("Privileges updated");
                p.ops.push(UserOp::Revoke {
                    on: on.clone(),
                    privs: privs.clone(),
                    grant_option,
                });
            }
        }
    }
    if !w.subtract_privs {
        for (on, privs) in &new.0 {
            if !cur.contains(on) {
                p.say("New privileges granted");
                p.ops.push(UserOp::Grant {
                    on: on.clone(),
                    privs: privs.clone(),
                });
            }
        }
    }
    for (on, wanted) in &new.0 {
        let Some(have) = cur.get(on) else { continue };
        let (mut grant, mut revoke) = (Vec::new(), Vec::new());
        if w.append_privs {
            grant = minus(wanted, have);
        } else if w.subtract_privs {
            revoke = both(wanted, have);
        } else {
            grant = minus(wanted, have);
            revoke = minus(have, wanted);
            if grant.iter().any(|x| x == "ALL" || x == "ALL PRIVILEGES") {
                revoke.retain(|x| x == "GRANT" || x == "PROXY");
            }
            grant_option = revoke.iter().any(|x| x == "GRANT") && !grant.iter().any(|x| x == "GRANT");
        }
        if grant == ["GRANT"] {
            grant.push("USAGE".into());
        }
        if grant.is_empty() && revoke.is_empty() {
            continue;
        }
        p.say(&format!(
            "Privileges updated: granted {}, revoked {}",
            py_list(&grant),
            py_list(&revoke)
        ));
        if !revoke.is_empty() {
            p.ops.push(UserOp::Revoke {
                on: on.clone(),
                privs: revoke,
                grant_option,
            });
        }
        if !grant.is_empty() {
            p.ops.push(UserOp::Grant {
                on: on.clone(),
                privs: grant,
            });
        }
    }
}

impl UserOp {
    /// The statements, as Ansible runs them.
    fn sql(&self, user: &str, host: &str) -> Vec<String> {
        let who = format!("{}@{}", sql_str(user), sql_str(host));
        let without_grant = |privs: &[String]| {
            privs
                .iter()
                .filter(|p| *p != "GRANT")
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            UserOp::Create(auth, tls) => {
                let q = match auth {
                CreateAuth::None => format!("CREATE USER {who}"),
                CreateAuth::Native(h) => format!(
                    "CREATE USER {who} IDENTIFIED WITH mysql_native_password AS {}",
                    sql_str(h)
                ),
                CreateAuth::ByPassword(h) => {
                    format!("CREATE USER {who} IDENTIFIED BY PASSWORD {}", sql_str(h))
                }
                CreateAuth::Plugin(plugin, how) => {
                    format!("CREATE USER {who} {}", how.sql(plugin))
                }
            };
                vec![match tls {
                    Some(t) => format!("{q} REQUIRE {}", t.sql()),
                    None => q,
                }]
            }
            UserOp::SetPassword(h) => vec![format!(
                "ALTER USER {who} IDENTIFIED WITH mysql_native_password AS {}",
                sql_str(h)
            )],
            UserOp::Revoke {
                on,
                privs,
                grant_option,
            } => {
                let mut v = Vec::new();
                if *grant_option {
                    v.push(format!("REVOKE GRANT OPTION ON {on} FROM {who}"));
                }
                let list = without_grant(privs);
                if !(list.is_empty() || *grant_option && list == "USAGE") {
                    v.push(format!("REVOKE {list} ON {on} FROM {who}"));
                }
                v.push("FLUSH PRIVILEGES".into());
                v
            }
            UserOp::Grant { on, privs } => {
                let mut q = format!("GRANT {} ON {on} TO {who}", without_grant(privs));
                if privs.iter().any(|p| p == "GRANT") {
                    q.push_str(" WITH GRANT OPTION");
                }
                vec![q]
            }
            UserOp::SetPlugin(plugin, how) => vec![format!("ALTER USER {who} {}", how.sql(plugin))],
            UserOp::Lock(true) => vec![format!("ALTER USER {who} ACCOUNT LOCK")],
            UserOp::Lock(false) => vec![format!("ALTER USER {who} ACCOUNT UNLOCK")],
            UserOp::SetTls(tls) => {
                let what = tls.as_ref().map_or_else(|| "NONE".into(), Tls::sql);
                vec![format!("ALTER USER {who} REQUIRE {what}")]
            }
            UserOp::SetLimits(l) => {
                let words: Vec<String> = l.iter().map(|(k, v)| format!("{k} {v}")).collect();
                vec![format!("ALTER USER {who} WITH {}", words.join(" "))]
            }
            UserOp::Drop => vec![format!("DROP USER IF EXISTS {who}")],
        }
    }

    /// One line for people (no password, no hash).
    fn summary(&self, account: &str) -> String {
        match self {
            UserOp::Create(CreateAuth::None, _) => format!("create user {account}"),
            UserOp::Create(..) => format!("create user {account} with a password"),
            UserOp::SetPassword(_) => format!("user {account}: set password"),
            UserOp::SetPlugin(plugin, _) => format!("user {account}: authenticate with {plugin}"),
            UserOp::Revoke { on, privs, .. } => {
                format!("user {account}: revoke {} on {on}", privs.join(","))
            }
            UserOp::Grant { on, privs } => {
                format!("user {account}: grant {} on {on}", privs.join(","))
            }
            UserOp::Lock(true) => format!("user {account}: lock"),
            UserOp::Lock(false) => format!("user {account}: unlock"),
            UserOp::SetTls(None) => format!("user {account}: require no TLS"),
            UserOp::SetTls(Some(t)) => format!("user {account}: require {}", t.sql()),
            UserOp::SetLimits(l) => {
                let words: Vec<String> = l.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!("user {account}: limits {}", words.join(" "))
            }
            UserOp::Drop => format!("drop user {account}"),
        }
    }
}

/// The account's privileges before and after, one `db.table: privs` line each.
fn privs_text(p: &Privs) -> String {
    p.0.iter()
        .map(|(k, v)| format!("{k}: {}\n", v.join(",")))
        .collect()
}

/// The hosts of every account named `user` (`host_all`).
struct HostsFact<'a>(&'a MysqlUser);

impl HostsFact<'_> {
    fn sql(&self) -> String {
        format!(
            "{SESSION_PREAMBLE}{}SELECT Host FROM mysql.user WHERE user = {};\n",
            self.0.session,
            sql_str(&self.0.user)
        )
    }
}

impl Fact for HostsFact<'_> {
    type Output = Vec<String>;

    fn name(&self) -> String {
        format!("mysql hosts of user {}", self.0.user)
    }

    fn script(&self) -> prov_core::Script {
        self.0.login.script()
    }

    fn parse(&self, out: &CommandOutput) -> Result<Vec<String>, FactError> {
        if !out.success() {
            return Err(probe_error(self, &self.0.login, out));
        }
        let text = out.stdout_text();
        Ok(text
            .lines()
            .map(|l| batch_row(l).into_iter().next().flatten().unwrap_or_default())
            .collect())
    }
}

/// Merges the plans of several hosts as Ansible's loop over hostnames does: the last message
/// set wins, a password changed on any host is `password_changed`.
fn merge(plans: Vec<UserPlan>) -> UserPlan {
    let mut all = UserPlan::new("User unchanged", json!({}));
    let initial = all.msg.clone();
    for p in plans {
        if p.msg != initial {
            all.msg = p.msg.clone();
        }
        if p.password_changed.0 == json!(true) {
            all.password_changed = p.password_changed.clone();
        }
        all.attributes = p.attributes.clone();
        all.ops.extend(p.ops);
    }
    all
}

impl MysqlUser {
    /// This account on another host.
    fn on_host(&self, host: &str) -> MysqlUser {
        MysqlUser {
            host: host.to_owned(),
            ..self.clone()
        }
    }

    /// The plan of each account this task manages: `host`, or every host with `host_all`.
    async fn plans(
        &self,
        ctx: &ModuleContext<'_>,
    ) -> Result<Vec<(MysqlUser, UserState, UserPlan)>, ModuleError> {
        let hosts = if self.host_all {
            let fact = HostsFact(self);
            fact_with_input(ctx, &fact, &self.login.input(&fact.sql())).await?
        } else {
            vec![self.host.clone()]
        };
        if self.host_all && hosts.is_empty() && self.state == Presence::Present {
            return Err(ModuleError::failed(
                "host_all parameter cannot be used when adding a user",
            ));
        }
        let mut out = Vec::new();
        for h in hosts {
            let w = self.on_host(&h);
            let fact = UserFact(&w);
            let st = fact_with_input(ctx, &fact, &self.login.input(&fact.sql())).await?;
            let up = plan_user(&w, &st).map_err(ModuleError::failed)?;
            out.push((w, st, up));
        }
        Ok(out)
    }
}

/// The summary lines and the diff of one account's plan.
fn describe(w: &MysqlUser, st: &UserState, up: &UserPlan) -> (Vec<String>, Diff) {
    let account = format!("'{}'@'{}'", w.user, w.host);
    let summary: Vec<String> = up.ops.iter().map(|o| o.summary(&account)).collect();
    let before = st.account.as_ref().map(|a| privs_text(&a.privs));
    let after = match w.state {
        Presence::Absent => String::new(),
        Presence::Present => summary.iter().map(|s| format!("{s}\n")).collect(),
    };
    let diff = Diff::new(
        format!("mysql user {account}"),
        before.unwrap_or_default(),
        after,
    );
    (summary, diff)
}

#[async_trait]
impl Module for MysqlUser {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let plans = self.plans(ctx).await?;
        let (mut summary, mut diffs, mut sql) = (Vec::new(), Vec::new(), String::new());
        for (w, st, up) in &plans {
            if up.ops.is_empty() {
                continue;
            }
            let (s, d) = describe(w, st, up);
            summary.extend(s);
            diffs.push(d);
            for op in &up.ops {
                for q in op.sql(&w.user, &w.host) {
                    sql.push_str(&q);
                    sql.push_str(";\n");
                }
            }
        }
        let up = match self.host_all {
            true => merge(plans.into_iter().map(|p| p.2).collect()),
            false => plans.into_iter().next().map(|p| p.2).expect("one host"),
        };
        let up = match (self.host_all, self.state, up.ops.is_empty()) {
            (true, Presence::Absent, true) => UserPlan::new("User doesn't exist", Value::Null),
            (true, Presence::Absent, false) => UserPlan {
                msg: ("User deleted".into(), "User deleted".into()),
                attributes: Value::Null,
                ..up
            },
            _ => up,
        };
        let check = ctx.check_mode;
        let pick = |pair: &(Value, Value)| if check { pair.1.clone() } else { pair.0.clone() };
        let msg = if check { &up.msg.1 } else { &up.msg.0 };
        let mut plan = Plan::unchanged()
            .with_result("user", json!(self.user))
            .with_result("msg", json!(msg))
            .with_result("password_changed", pick(&up.password_changed))
            .with_result("attributes", up.attributes.clone());
        if self.warn_column_case {
            plan = plan.with_result("warnings", json!([COLUMN_CASE_WARNING]));
        }
        if summary.is_empty() {
            return Ok(plan);
        }
        let mut input = String::from(SESSION_PREAMBLE);
        if !self.sql_log_bin {
            input.push_str("SET SQL_LOG_BIN=0;\n");
        }
        input.push_str(&self.session);
        input.push_str(&sql);
        let action = RunSql {
            script: self.login.script(),
            input: self.login.input(&input),
            message: "error changing user".into(),
            result: plan.result().clone(),
            login: self.login.clone(),
        };
        Ok(plan.with_change(summary, diffs, action))
    }
}

#[cfg(test)]
mod tests;
