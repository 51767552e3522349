//! What the community.postgresql modules share: the login arguments
//! (`postgres_common_argument_spec`, `session_role`) and `get_conn_params`' rules, the host's
//! `psql` as the way to the server (libpq, as psycopg), SQL quoting, psql's errors as psycopg
//! reports them, and SCRAM-SHA-256 / MD5 password verifiers.
//!
//! Secrets never appear on a command line: the login password and the SQL go on the
//! script's stdin (`postgres_client.sh`); the password reaches libpq as `PGPASSWORD` in the
//! client's environment. Every session starts with the same two lines (standard conforming
//! strings, which the quoting below relies on, then `SET ROLE` for `session_role`), so a
//! failure on line 2 is the role switch's.

use prov_core::{
    Action, CommandOutput, Fact, FactError, ModuleContext, ModuleError, Outcome, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

/// The login arguments as the user gives them (aliases as community.postgresql 4.2).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginArgs {
    #[serde(
        default,
        alias = "login",
        deserialize_with = "crate::args::de_opt_string"
    )]
    login_user: Option<String>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    login_password: Option<String>,
    #[serde(
        default,
        alias = "host",
        deserialize_with = "crate::args::de_opt_string"
    )]
    login_host: Option<String>,
    #[serde(
        default,
        alias = "unix_socket",
        deserialize_with = "crate::args::de_opt_string"
    )]
    login_unix_socket: Option<String>,
    #[serde(default, alias = "port", deserialize_with = "crate::args::de_opt_int")]
    login_port: Option<u32>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    ssl_mode: Option<String>,
    #[serde(default, alias = "ssl_rootcert")]
    ca_cert: Option<Value>,
    #[serde(default)]
    ssl_cert: Option<Value>,
    #[serde(default)]
    ssl_key: Option<Value>,
    #[serde(default)]
    connect_params: Option<Value>,
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    session_role: Option<String>,
}

/// The argument names of [`LoginArgs`], aliases included.
const LOGIN_KEYS: &[&str] = &[
    "login_user",
    "login",
    "login_password",
    "login_host",
    "host",
    "login_unix_socket",
    "unix_socket",
    "login_port",
    "port",
    "ssl_mode",
    "ca_cert",
    "ssl_rootcert",
    "ssl_cert",
    "ssl_key",
    "connect_params",
    "session_role",
];

const SSL_MODES: &[&str] = &[
    "allow",
    "disable",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Who logs in as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UserMode {
    /// `login_user` given (not empty).
    Given(String),
    /// Not given: `$PGUSER`, else `postgres` (the module's default).
    Default,
    /// Given empty: libpq's default (`$PGUSER`, else the system user).
    Libpq,
}

/// How to reach the server: `get_conn_params`' result, for psql.
#[derive(Clone)]
pub struct PgLogin {
    user: UserMode,
    password: String,
    /// `PGHOST` (a host or a socket directory); empty: libpq's default.
    host: String,
    port: Option<u32>,
    ssl_mode: String,
    /// The session's role (`SET ROLE`).
    pub session_role: Option<String>,
    /// The database to connect to; `None`: libpq's default.
    pub database: Option<String>,
}

impl std::fmt::Debug for PgLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLogin")
            .field("user", &self.user)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// Parses a module's arguments: the login arguments into [`PgLogin`] (TLS files and
/// `connect_params` refused by name), the rest into the module's struct.
pub fn parse_with_login<T: serde::de::DeserializeOwned>(
    args: Value,
) -> Result<(T, PgLogin), ModuleError> {
    let (module_args, a): (T, LoginArgs) = crate::parse_args_split(args, LOGIN_KEYS)?;
    for (name, v) in [
        ("ca_cert", &a.ca_cert),
        ("ssl_cert", &a.ssl_cert),
        ("ssl_key", &a.ssl_key),
    ] {
        if v.as_ref().is_some_and(|v| !v.is_null() && v != "") {
            return Err(ModuleError::arg(
                name,
                "TLS client files are not implemented by prov",
            ));
        }
    }
    if a.connect_params
        .as_ref()
        .is_some_and(|v| !v.is_null() && v.as_object().is_none_or(|m| !m.is_empty()))
    {
        return Err(ModuleError::arg(
            "connect_params",
            "not implemented by prov",
        ));
    }
    let ssl_mode = a.ssl_mode.unwrap_or_else(|| "prefer".into());
    if !SSL_MODES.contains(&ssl_mode.as_str()) {
        return Err(ModuleError::arg(
            "ssl_mode",
            format!(
                "value of ssl_mode must be one of: {}, got: {ssl_mode}",
                SSL_MODES.join(", ")
            ),
        ));
    }
    let user = match a.login_user {
        None => UserMode::Default,
        Some(u) if u.is_empty() => UserMode::Libpq,
        Some(u) => UserMode::Given(u),
    };
    let host = conn_host(
        a.login_host.as_deref().unwrap_or(""),
        a.login_unix_socket.as_deref().unwrap_or(""),
    );
    let login = PgLogin {
        user,
        password: a.login_password.unwrap_or_default(),
        host,
        port: a.login_port,
        ssl_mode,
        session_role: a.session_role.filter(|r| !r.is_empty()),
        database: None,
    };
    Ok((module_args, login))
}

/// `get_conn_params`' host: a unix socket directory replaces an empty or `localhost` host.
fn conn_host(login_host: &str, unix_socket: &str) -> String {
    let is_localhost = login_host.is_empty() || login_host == "localhost";
    if is_localhost && !unix_socket.is_empty() {
        unix_socket.to_owned()
    } else {
        login_host.to_owned()
    }
}

/// The line of the session preamble that switches roles (see [`PgLogin::input`]).
const ROLE_LINE: &str = "psql:<stdin>:2:";

impl PgLogin {
    /// The client script (see `postgres_client.sh`).
    pub fn script(&self) -> Script {
        let (mode, user) = match &self.user {
            UserMode::Given(u) => ("given", u.as_str()),
            UserMode::Default => ("default", ""),
            UserMode::Libpq => ("libpq", ""),
        };
        let port = self.port.map(|p| p.to_string()).unwrap_or_default();
        sh!(
            "pg_user_mode={}\npg_user={}\npg_host={}\npg_port={}\npg_db={}\npg_sslmode={}\npg_pwlen={}\n",
            mode,
            user,
            self.host,
            port,
            self.database.clone().unwrap_or_default(),
            self.ssl_mode,
            self.password.len()
        )
        .then_text(include_str!("postgres_client.sh"))
    }

    /// The script's stdin: the password, the session preamble, then `sql`.
    pub fn input(&self, sql: &str) -> Vec<u8> {
        let mut s = self.password.clone();
        s.push_str("SET standard_conforming_strings = on;\n");
        match &self.session_role {
            Some(r) => s.push_str(&format!("SET ROLE {};\n", ident(r))),
            None => s.push_str("-- no session_role\n"),
        }
        s.push_str(sql);
        s.into_bytes()
    }

    /// The message of a failed client run, as the module words it (`what`: the module's
    /// prefix for a failed statement, e.g. `Database query failed`).
    pub fn failure(&self, out: &CommandOutput, what: &str) -> String {
        let err = out.stderr_text();
        match out.status {
            2 => format!(
                "unable to connect to database: {}",
                err.trim().trim_start_matches("psql: error: ")
            ),
            3 if err.starts_with(ROLE_LINE) => {
                format!("Could not switch role: {}", sql_error(&err))
            }
            3 => format!("{what}: {}", sql_error(&err)),
            _ => format!("{what}: {}", err.trim()),
        }
    }
}

/// psql's error text as psycopg's exception prints it: the message without psql's
/// `psql:<stdin>:N: ERROR:  ` prefix, its DETAIL/HINT lines kept, ending with a newline.
pub fn sql_error(stderr: &str) -> String {
    let Some(start) = stderr.find("ERROR:  ") else {
        return stderr.trim().to_owned();
    };
    let mut msg = stderr[start + "ERROR:  ".len()..].trim_end().to_owned();
    msg.push('\n');
    msg
}

/// A string literal (standard conforming strings: quotes doubled).
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A double-quoted identifier (quotes doubled).
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The rows a probe printed: one JSON value per line (`-A -t`: one column per row).
pub fn json_rows<F: Fact>(fact: &F, out: &CommandOutput) -> Result<Vec<Value>, FactError> {
    out.stdout_text()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| fact.error(format!("unexpected line `{l}`: {e}")))
        })
        .collect()
}

/// The error of a probe that exited non-zero, worded as the module words it.
pub fn probe_error<F: Fact>(
    fact: &F,
    login: &PgLogin,
    out: &CommandOutput,
    what: &str,
) -> FactError {
    match out.status {
        2 | 3 => fact.error(login.failure(out, what)),
        _ => fact.probe_failed(out),
    }
}

/// One planned statement and what its failure's message starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The statement (without `;`).
    pub sql: String,
    /// The message prefix when it fails (`Database query failed`).
    pub what: String,
}

impl Step {
    /// A statement failing with `what: <server error>`.
    pub fn new(sql: impl Into<String>, what: impl Into<String>) -> Step {
        Step {
            sql: sql.into(),
            what: what.into(),
        }
    }
}

/// The SQL of `steps` (in one transaction with `transaction`), and the psql line each
/// statement ends on (the line psql names in an error), counted after the session preamble.
pub fn steps_sql(steps: &[Step], transaction: bool) -> (String, Vec<usize>) {
    let mut sql = String::new();
    let mut line = 2;
    if transaction {
        sql.push_str("BEGIN;\n");
        line += 1;
    }
    let mut ends = Vec::new();
    for s in steps {
        sql.push_str(&s.sql);
        sql.push_str(";\n");
        line += 1 + s.sql.matches('\n').count();
        ends.push(line);
    }
    if transaction {
        sql.push_str("COMMIT;\n");
    }
    (sql, ends)
}

/// The psql line an error names (`psql:<stdin>:N: ERROR: ...`).
fn error_line(stderr: &str) -> Option<usize> {
    let rest = stderr.strip_prefix("psql:<stdin>:")?;
    rest.split(':').next()?.parse().ok()
}

/// The action of the modules: runs planned statements through the client; a failure is
/// worded by [`PgLogin::failure`] with the failing statement's `what`, with the result
/// fields known so far.
pub struct RunSql {
    /// The client.
    pub login: PgLogin,
    /// The statements.
    pub steps: Vec<Step>,
    /// All or nothing (the user module's transaction).
    pub transaction: bool,
    /// The result to fail with.
    pub result: Map<String, Value>,
}

#[async_trait::async_trait]
impl Action for RunSql {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let (sql, ends) = steps_sql(&self.steps, self.transaction);
        let input = self.login.input(&sql);
        let out = ctx.run_with_input(&self.login.script(), &input).await?;
        if out.success() {
            return Ok(Outcome::default());
        }
        let line = error_line(&out.stderr_text());
        let what = self
            .steps
            .iter()
            .zip(&ends)
            .find(|(_, end)| line.is_some_and(|l| l <= **end))
            .or(self.steps.last().zip(ends.last()))
            .map_or("Database query failed", |(s, _)| s.what.as_str());
        Err(ModuleError::failed_with(
            self.login.failure(&out, what),
            self.result,
        ))
    }
}

/// `check_input` (`trust_input: false`): fails naming the values that look like SQL
/// injection (`is_input_dangerous`); `secret` (a password) is shown masked, as Ansible masks
/// `no_log` values.
pub fn dangerous_input(values: &[&str], secret: Option<&str>) -> Result<(), ModuleError> {
    static PATTERNS: std::sync::LazyLock<[regex::Regex; 3]> = std::sync::LazyLock::new(|| {
        [
            regex::Regex::new(r#"('|").*--"#).expect("pattern"),
            regex::Regex::new(r"(?i)(UNION|INTERSECT|EXCEPT).*SELECT").expect("pattern"),
            regex::Regex::new(r"(?i);.*(SELECT|UPDATE|INSERT|DELETE|DROP|TRUNCATE|ALTER)")
                .expect("pattern"),
        ]
    });
    let bad: Vec<&str> = values
        .iter()
        .filter(|v| PATTERNS.iter().any(|p| p.is_match(v)))
        .map(|v| if Some(*v) == secret { "********" } else { *v })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(ModuleError::args(format!(
        "Passed input '{}' is potentially dangerous",
        bad.join(", ")
    )))
}

/// `is_pg_passwd_md5`: `md5` and 32 more characters.
pub fn is_md5_hash(password: &str) -> bool {
    password.starts_with("md5") && password.chars().count() == 35
}

/// The MD5 verifier PostgreSQL stores: `md5` + md5(password + user).
pub fn md5_verifier(password: &str, user: &str) -> String {
    format!("md5{:x}", md5::compute(format!("{password}{user}")))
}

/// A SCRAM-SHA-256 verifier (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scram {
    iterations: u32,
    salt: Vec<u8>,
    server_key: Vec<u8>,
}

/// `SCRAM_SHA256_REGEX` of the module.
pub fn is_scram(s: &str) -> bool {
    parse_scram_parts(s).is_some()
}

fn b64(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

fn parse_scram_parts(s: &str) -> Option<(&str, &str, &str, &str)> {
    let rest = s.strip_prefix("SCRAM-SHA-256$")?;
    let (iters, rest) = rest.split_once(':')?;
    let (salt, rest) = rest.split_once('$')?;
    let (stored, server) = rest.split_once(':')?;
    let digits = !iters.is_empty() && iters.bytes().all(|b| b.is_ascii_digit());
    (digits && b64(salt) && b64(stored) && b64(server)).then_some((iters, salt, stored, server))
}

impl Scram {
    /// Parses a verifier; `None` when it is not one (or does not decode).
    pub fn parse(s: &str) -> Option<Scram> {
        use base64::Engine;
        let (iters, salt, _, server) = parse_scram_parts(s)?;
        let e = base64::engine::general_purpose::STANDARD;
        Some(Scram {
            iterations: iters.parse().ok()?,
            salt: e.decode(salt).ok()?,
            server_key: e.decode(server).ok()?,
        })
    }

    /// Whether `password` is the one the verifier was made from, as the module checks it
    /// (`ServerKey = HMAC(PBKDF2(SASLprep(password), salt, i), "Server Key")`). `None` where
    /// the module's SASLprep raises (ASCII control characters): it then changes the password.
    /// Other text is used as it is (SASLprep leaves ASCII and most NFKC-normal text alone).
    pub fn matches(&self, password: &str) -> Option<bool> {
        if password.chars().any(|c| c.is_ascii_control()) {
            return None;
        }
        let salted = pbkdf2_sha256(password.as_bytes(), &self.salt, self.iterations);
        Some(hmac_sha256(&salted, b"Server Key")[..] == self.server_key[..])
    }
}

/// HMAC-SHA-256 of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes a key of any length.
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 with one block of output (32 bytes, as SCRAM uses it).
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_unix_socket_replaces_an_empty_or_localhost_host() {
        assert_eq!(
            conn_host("localhost", "/var/run/postgresql"),
            "/var/run/postgresql"
        );
        assert_eq!(conn_host("", "/var/run/postgresql"), "/var/run/postgresql");
        assert_eq!(conn_host("db1", "/var/run/postgresql"), "db1");
        assert_eq!(conn_host("localhost", ""), "localhost");
        assert_eq!(conn_host("", ""), "");
    }

    #[test]
    fn the_login_travels_on_stdin_and_the_script_sets_libpq_variables() {
        let (_, mut login): (Value, PgLogin) = parse_with_login(json!({
            "login_user": "admin", "login_password": "s3'cret", "login_host": "localhost",
            "login_unix_socket": "/var/run/postgresql", "port": "5433", "session_role": "ops"
        }))
        .unwrap();
        login.database = Some("app".into());
        let script = login.script();
        let text = script.as_str();
        assert!(!text.contains("s3'cret"), "{text}");
        assert!(text.starts_with(
            "pg_user_mode=given\npg_user=admin\npg_host=/var/run/postgresql\npg_port=5433\npg_db=app\npg_sslmode=prefer\npg_pwlen=7\n"
        ), "{text}");
        let input = String::from_utf8(login.input("SELECT 1;\n")).unwrap();
        assert_eq!(
            input,
            "s3'cretSET standard_conforming_strings = on;\nSET ROLE \"ops\";\nSELECT 1;\n"
        );
        let (_, login): (Value, PgLogin) = parse_with_login(json!({})).unwrap();
        assert!(login.script().as_str().starts_with(
            "pg_user_mode=default\npg_user=''\npg_host=''\npg_port=''\npg_db=''\npg_sslmode=prefer\npg_pwlen=0\n"
        ), "{}", login.script().as_str());
    }

    #[test]
    fn tls_files_and_connect_params_are_refused_by_name() {
        for (k, v) in [
            ("ca_cert", json!("/x")),
            ("ssl_key", json!("/x")),
            ("connect_params", json!({"connect_timeout": 3})),
            ("ssl_mode", json!("sometimes")),
        ] {
            let e = parse_with_login::<Value>(json!({ k: v })).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
        assert!(
            parse_with_login::<Value>(json!({"connect_params": {}, "ssl_mode": "require"})).is_ok()
        );
    }

    #[test]
    fn errors_are_worded_as_psycopg_words_them() {
        let (_, login): (Value, PgLogin) = parse_with_login(json!({})).unwrap();
        let out = |s, e| crate::server_util::testing::output(s, "", e);
        assert_eq!(
            login.failure(&out(3, "psql:<stdin>:5: ERROR:  role \"x\" cannot be dropped because some objects depend on it\nDETAIL:  privileges for database app\n"), "Unable to remove user"),
            "Unable to remove user: role \"x\" cannot be dropped because some objects depend on it\nDETAIL:  privileges for database app\n"
        );
        assert_eq!(
            login.failure(
                &out(3, "psql:<stdin>:2: ERROR:  role \"ops\" does not exist\n"),
                "x"
            ),
            "Could not switch role: role \"ops\" does not exist\n"
        );
        assert_eq!(
            login.failure(&out(2, "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  Peer authentication failed for user \"postgres\"\n"), "x"),
            "unable to connect to database: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  Peer authentication failed for user \"postgres\""
        );
    }

    #[test]
    fn statements_are_numbered_by_the_line_they_end_on() {
        let steps = [
            Step::new("CREATE USER \"a\"", "x"),
            Step::new("COMMENT ON ROLE \"a\" IS 'l1\nl2'", "y"),
            Step::new("SELECT 1", "z"),
        ];
        let (sql, ends) = steps_sql(&steps, true);
        assert_eq!(
            sql,
            "BEGIN;\nCREATE USER \"a\";\nCOMMENT ON ROLE \"a\" IS 'l1\nl2';\nSELECT 1;\nCOMMIT;\n"
        );
        assert_eq!(ends, [4, 6, 7]);
        assert_eq!(error_line("psql:<stdin>:6: ERROR:  x"), Some(6));
    }

    #[test]
    fn quoting() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn password_verifiers_are_checked_as_the_module_checks_them() {
        // Made with Python's hashlib/hmac (as the module computes them).
        let v = "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$VhVaHS4TJI8qAXIVdE+Bvt28+bLNI916oqrWrlH7gW4=:l9uQssnBz/giD/nAU7VhQPygB0WXOfyJpf8Ms6NpOeA=";
        assert!(is_scram(v));
        let s = Scram::parse(v).unwrap();
        assert_eq!(s.matches("p'w\"\\ x"), Some(true));
        assert_eq!(s.matches("p'w\"\\ y"), Some(false));
        assert_eq!(s.matches("a\tb"), None);
        assert!(!is_scram("SCRAM-SHA-256$x:a$b:c"));
        assert!(!is_scram("md5abc"));
        assert_eq!(
            md5_verifier("secret", "alice"),
            "md54a0a68b43b6cd5cf266fa02f196e2371"
        );
        assert!(is_md5_hash("md54a0a68b43b6cd5cf266fa02f196e2371"));
        assert!(!is_md5_hash("md5short"));
    }
}
