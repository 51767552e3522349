//! What `mysql_db` and `mysql_user` share: community.mysql's login arguments, the host's
//! `mysql` client as the way to the server, SQL quoting as PyMySQL quotes, and the parser of
//! the client's batch output.
//!
//! Secrets never appear on a command line: the login (an option file per login, passwords
//! included) and the SQL go on the script's stdin; the script writes the option files in a
//! private temporary directory removed on exit (`mysql_client.sh`). As community.mysql's
//! `mysql_connect`, the login arguments override `config_file` (default `~/.my.cnf`, read
//! when it exists), and no other option file is read.

use prov_core::{
    Action, CommandOutput, Fact, FactError, ModuleContext, ModuleError, Outcome, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::args::de_bool;

/// community.mysql's common login arguments (`mysql_common_argument_spec`) and
/// `check_implicit_admin`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LoginArgs {
    /// The user to log in as (default: the client's, i.e. the remote user).
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    pub login_user: Option<String>,
    /// Its password.
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    pub login_password: Option<String>,
    /// The server's host (`localhost`: the unix socket, as the C client library does).
    #[serde(default = "default_host")]
    pub login_host: String,
    /// The server's TCP port.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub login_port: Option<u32>,
    /// A unix socket (replaces host and port).
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    pub login_unix_socket: Option<String>,
    /// An option file read first (`~/.my.cnf`), when it exists.
    #[serde(default = "default_config_file")]
    pub config_file: String,
    /// Seconds to wait for the connection.
    #[serde(default, deserialize_with = "crate::args::de_opt_int")]
    pub connect_timeout: Option<u32>,
    /// First try root without a password, then the login given.
    #[serde(default, deserialize_with = "de_bool")]
    pub check_implicit_admin: bool,
    /// Refused: TLS client options.
    #[serde(default, alias = "ssl_cert")]
    pub client_cert: Option<Value>,
    /// Refused.
    #[serde(default, alias = "ssl_key")]
    pub client_key: Option<Value>,
    /// Refused.
    #[serde(default, alias = "ssl_ca")]
    pub ca_cert: Option<Value>,
    /// Refused.
    #[serde(default)]
    pub check_hostname: Option<Value>,
    /// Refused when true.
    #[serde(default, deserialize_with = "de_bool")]
    pub config_overrides_defaults: bool,
    /// The session's database (`mysql` for mysql_user's `force_context`); set by the module.
    #[serde(skip)]
    pub database: Option<String>,
}

fn default_host() -> String {
    "localhost".into()
}

fn default_config_file() -> String {
    "~/.my.cnf".into()
}

/// The argument names of [`LoginArgs`].
const LOGIN_KEYS: &[&str] = &[
    "login_user",
    "login_password",
    "login_host",
    "login_port",
    "login_unix_socket",
    "config_file",
    "connect_timeout",
    "check_implicit_admin",
    "client_cert",
    "ssl_cert",
    "client_key",
    "ssl_key",
    "ca_cert",
    "ssl_ca",
    "check_hostname",
    "config_overrides_defaults",
];

/// Parses a module's arguments: the login arguments into [`LoginArgs`] (TLS client options
/// and `config_overrides_defaults` refused by name), the rest into the module's struct.
pub fn parse_with_login<T: serde::de::DeserializeOwned>(
    args: Value,
) -> Result<(T, LoginArgs), ModuleError> {
    let (module_args, login): (T, LoginArgs) = crate::parse_args_split(args, LOGIN_KEYS)?;
    for (name, v) in [
        ("client_cert", &login.client_cert),
        ("client_key", &login.client_key),
        ("ca_cert", &login.ca_cert),
        ("check_hostname", &login.check_hostname),
    ] {
        if v.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(ModuleError::arg(
                name,
                "TLS client options are not implemented by prov",
            ));
        }
    }
    if login.config_overrides_defaults {
        return Err(ModuleError::arg(
            "config_overrides_defaults",
            "not implemented by prov",
        ));
    }
    if login.login_port.is_some_and(|p| p > 65535) {
        return Err(ModuleError::arg(
            "login_port",
            "login_port must be a valid unix port number (0-65535)",
        ));
    }
    Ok((module_args, login))
}

/// A value for an option file: double-quoted, with the escapes the client's option file
/// parser undoes (`\\`, `\"`, `\n`, `\r`, `\t`).
pub fn cnf_value(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl LoginArgs {
    /// The `[client]` option file of one login (`user`/`password` `None`: from config_file).
    fn cnf(&self, user: Option<&str>, password: Option<&str>) -> String {
        let mut s = String::from("[client]\n");
        if let Some(u) = user {
            s.push_str(&format!("user={}\n", cnf_value(u)));
        }
        if let Some(p) = password {
            s.push_str(&format!("password={}\n", cnf_value(p)));
        }
        match &self.login_unix_socket {
            Some(sock) if !sock.is_empty() => {
                s.push_str(&format!("socket={}\n", cnf_value(sock)));
            }
            _ => {
                s.push_str(&format!("host={}\n", cnf_value(&self.login_host)));
                s.push_str(&format!("port={}\n", self.login_port.unwrap_or(3306)));
            }
        }
        if let Some(db) = &self.database {
            s.push_str(&format!("database={}\n", cnf_value(db)));
        }
        s.push_str(&format!(
            "connect_timeout={}\n",
            self.connect_timeout.unwrap_or(30)
        ));
        s
    }

    /// The logins to try, in order: root without a password first with
    /// `check_implicit_admin`, then the one given.
    fn logins(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.check_implicit_admin {
            v.push(self.cnf(Some("root"), Some("")));
        }
        v.push(self.cnf(self.login_user.as_deref(), self.login_password.as_deref()));
        v
    }

    /// The script that runs SQL on the server (see `mysql_client.sh`).
    pub fn script(&self) -> Script {
        sh!(
            "logins={}\nconfig_file={}\n",
            self.logins().len(),
            self.config_file
        )
        .then_text(include_str!("mysql_client.sh"))
    }

    /// The script's stdin: the option files, then `sql`.
    pub fn input(&self, sql: &str) -> Vec<u8> {
        let mut s = String::new();
        for cnf in self.logins() {
            s.push_str(&cnf);
            s.push_str("#prov-end\n");
        }
        s.push_str(sql);
        s.into_bytes()
    }

    /// Ansible's message when no login connects.
    pub fn connect_error(&self, detail: &str) -> String {
        format!(
            "unable to connect to database, check login_user and login_password are correct or {} has the credentials. Exception message: {}",
            self.config_file,
            detail.trim()
        )
    }
}

/// Every session starts with this: backslash escapes on (the quoting below relies on them),
/// everything else of the server's `sql_mode` kept.
pub const SESSION_PREAMBLE: &str = "SET SESSION sql_mode = IF(FIND_IN_SET('NO_BACKSLASH_ESCAPES', @@sql_mode), TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ',')), @@sql_mode);\n";

/// A string literal as PyMySQL writes it (`'...'`, backslash escapes).
pub fn sql_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{1a}' => out.push_str("\\Z"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `mysql_quote_identifier(name, 'database')`: back-quoted, doubled back quotes, dots split
/// fragments (a name with more than one dot is refused, as Ansible refuses it).
pub fn quote_db_identifier(name: &str) -> Result<String, String> {
    let parts = identifier_parse(name)?;
    if parts.len() > 2 {
        return Err("MySQL does not support database with more than 1 dots".into());
    }
    let parts: Vec<String> = parts
        .into_iter()
        .map(|p| if p == "`*`" { "*".into() } else { p })
        .collect();
    Ok(parts.join("."))
}

fn quote_fragment(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Ansible's `_identifier_parse` with the back quote.
fn identifier_parse(id: &str) -> Result<Vec<String>, String> {
    if id.is_empty() {
        return Err("Identifier name unspecified or unquoted trailing dot".into());
    }
    if let Some(rest) = id.strip_prefix('`')
        && let Some(end) = find_end_quote(rest)
    {
        let end = end + 1;
        if end < id.len() - 1 {
            if id.as_bytes()[end + 1] == b'.' {
                let mut v = identifier_parse(&id[end + 2..])?;
                v.insert(0, id[..end + 1].to_owned());
                return Ok(v);
            }
            return Err("User escaped identifiers must escape extra quotes".into());
        }
        return Ok(vec![id.to_owned()]);
    }
    match id.find('.') {
        Some(dot) if dot != 0 && dot < id.len() - 1 => {
            let mut v = identifier_parse(&id[dot + 1..])?;
            v.insert(0, quote_fragment(&id[..dot]));
            Ok(v)
        }
        _ => Ok(vec![quote_fragment(id)]),
    }
}

/// The index (in `s`) of the quote that closes an identifier, doubled quotes skipped.
fn find_end_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let q = i + s[i..].find('`')?;
        if b.get(q + 1) == Some(&b'`') {
            i = q + 2;
        } else {
            return Some(q);
        }
    }
}

/// One row of the client's batch output: tab-separated columns, escapes undone; `None` for
/// SQL NULL.
pub fn batch_row(line: &str) -> Vec<Option<String>> {
    line.split('\t')
        .map(|col| {
            if col == "NULL" {
                return None;
            }
            let mut out = String::new();
            let mut chars = col.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('0') => out.push('\0'),
                    Some('\\') => out.push('\\'),
                    Some(o) => {
                        out.push('\\');
                        out.push(o);
                    }
                    None => out.push('\\'),
                }
            }
            Some(out)
        })
        .collect()
}

/// The error of a probe that exited non-zero: Ansible's message when no login connected.
pub fn probe_error<F: Fact>(fact: &F, login: &LoginArgs, out: &CommandOutput) -> FactError {
    if out.status == 3 {
        fact.error(login.connect_error(&out.stderr_text()))
    } else {
        fact.probe_failed(out)
    }
}

/// The action of both modules: runs planned SQL through the client; a failure is `message`
/// followed by the server's error, with the result fields known so far.
pub struct RunSql {
    /// The client script.
    pub script: Script,
    /// Its stdin (logins and SQL).
    pub input: Vec<u8>,
    /// What a failure says first (`error creating database`).
    pub message: String,
    /// The result to fail with.
    pub result: Map<String, Value>,
    /// The login, for the connection error.
    pub login: LoginArgs,
}

#[async_trait::async_trait]
impl Action for RunSql {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx.run_with_input(&self.script, &self.input).await?;
        if out.success() {
            return Ok(Outcome::default());
        }
        let msg = if out.status == 3 {
            self.login.connect_error(&out.stderr_text())
        } else {
            format!("{}: {}", self.message, out.stderr_text())
        };
        Err(ModuleError::failed_with(msg, self.result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_are_quoted_as_pymysql_quotes_them() {
        assert_eq!(sql_str("utf8"), "'utf8'");
        assert_eq!(sql_str("a'b\\c\"\n"), r#"'a\'b\\c\"\n'"#);
    }

    #[test]
    fn database_identifiers_as_ansible_quotes_them() {
        assert_eq!(quote_db_identifier("app").unwrap(), "`app`");
        assert_eq!(quote_db_identifier("a`b").unwrap(), "`a``b`");
        assert_eq!(quote_db_identifier("a.b").unwrap(), "`a`.`b`");
        assert_eq!(quote_db_identifier("a.").unwrap(), "`a.`");
        assert!(quote_db_identifier("a.b.c").is_err());
        assert_eq!(quote_db_identifier("`x`").unwrap(), "`x`");
    }

    #[test]
    fn option_files_escape_and_logins_are_ordered() {
        assert_eq!(cnf_value("p\"w\\x\n"), r#""p\"w\\x\n""#);
        let (_, login): (Value, LoginArgs) = parse_with_login(json!({
            "login_user": "bob", "login_password": "s3cret", "check_implicit_admin": true,
            "login_unix_socket": "/run/mysqld/mysqld.sock"
        }))
        .unwrap();
        let input = String::from_utf8(login.input("SELECT 1;\n")).unwrap();
        assert_eq!(
            input,
            "[client]\nuser=\"root\"\npassword=\"\"\nsocket=\"/run/mysqld/mysqld.sock\"\nconnect_timeout=30\n#prov-end\n\
             [client]\nuser=\"bob\"\npassword=\"s3cret\"\nsocket=\"/run/mysqld/mysqld.sock\"\nconnect_timeout=30\n#prov-end\nSELECT 1;\n"
        );
        let script = login.script();
        assert!(!script.as_str().contains("s3cret"));
        assert!(
            script
                .as_str()
                .starts_with("logins=2\nconfig_file='~/.my.cnf'\n")
        );
    }

    #[test]
    fn tls_options_are_refused_by_name() {
        let e = parse_with_login::<Value>(json!({"ca_cert": "/x"})).unwrap_err();
        assert!(e.to_string().contains("ca_cert"), "{e}");
        let e = parse_with_login::<Value>(json!({"login_port": 70000})).unwrap_err();
        assert!(e.to_string().contains("login_port"), "{e}");
    }

    #[test]
    fn batch_rows_undo_escapes() {
        assert_eq!(
            batch_row("a\\tb\tNULL\tc\\\\d\\ne"),
            vec![Some("a\tb".into()), None, Some("c\\d\ne".into())]
        );
    }
}
