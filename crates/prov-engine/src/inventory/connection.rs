//! How to reach a host, resolved from its variables.
//!
//! Connection settings come only from names that cannot collide with a playbook's own data:
//! Ansible's `ansible_*` names, and `prov_*` for what only prov has. Ordinary words (`host`,
//! `port`, `user`, `connection`, `become`...) are ordinary variables: a play that sets `port`
//! for its own use never changes where prov connects.
//!
//! | field              | variables (first found wins)                                  |
//! |--------------------|---------------------------------------------------------------|
//! | `address`          | `ansible_host`, `ansible_ssh_host` (default: inventory name)  |
//! | `port`             | `ansible_port`, `ansible_ssh_port`                            |
//! | `user`             | `ansible_user`, `ansible_ssh_user`                            |
//! | `private_key_file` | `ansible_ssh_private_key_file`, `ansible_private_key_file`    |
//! | `connection`       | `ansible_connection`                                          |
//! | `become`           | `ansible_become`                                              |
//! | `become_user`      | `ansible_become_user`                                         |
//! | `become_password`  | `ansible_become_password`, `ansible_become_pass`              |
//! | `known_hosts_file` | `prov_known_hosts_file`                                       |
//! | `private_key_passphrase` | `ansible_ssh_private_key_passphrase`                    |
//! | `ssh_retries`      | `ansible_ssh_retries`                                         |
//!
//! `ansible_ssh_common_args` and `ansible_ssh_extra_args` are ignored (the inventory warns
//! where they are set); `ansible_python_interpreter` is ignored silently (prov needs no Python
//! on the hosts). Values are taken as they are: variables holding `{{ templates }}` should be
//! rendered by the caller first and passed to [`HostConnection::from_vars`].

use std::path::PathBuf;

use serde_json::{Map, Value};

/// How prov talks to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    /// Commands run on the control machine itself.
    Local,
    /// Commands run over SSH.
    Ssh,
}

/// The resolved connection settings of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConnection {
    /// Address to connect to (`host` / `ansible_host`, default: the inventory name).
    pub address: String,
    /// SSH port (`None`: the transport's default, 22).
    pub port: Option<u16>,
    /// Remote user (`None`: the transport's default).
    pub user: Option<String>,
    /// SSH private key file (a leading `~/` is expanded).
    pub private_key_file: Option<PathBuf>,
    /// Local or SSH.
    pub connection: ConnectionKind,
    /// Whether to escalate privileges (`None`: not set; the play decides).
    pub r#become: Option<bool>,
    /// User to become.
    pub become_user: Option<String>,
    /// Password for privilege escalation.
    pub become_password: Option<String>,
    /// Known-hosts file to verify host keys against (a leading `~/` is expanded).
    pub known_hosts_file: Option<PathBuf>,
    /// Passphrase of the private key file.
    pub private_key_passphrase: Option<String>,
    /// Extra attempts when connecting or reconnecting fails (`None`: the transport's default).
    pub ssh_retries: Option<u32>,
}

/// A connection variable holds a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("variable `{var}`: {message}")]
pub struct ConnectionVarError {
    /// The variable.
    pub var: String,
    /// What is wrong with it.
    pub message: String,
}

/// Why OpenSSH arguments are ignored.
const NOT_OPENSSH: &str = "prov connects with its own SSH client, not OpenSSH (use `port`, \
                           `user`, `ssh_private_key_file` and `known_hosts_file` instead)";
/// Why SSH passwords are ignored.
const NO_PASSWORDS: &str = "prov logs in with keys (identity files or an ssh-agent), not \
                            passwords; a become password is `ansible_become_password`";

/// Variables prov ignores with a warning, and why.
pub(crate) const WARN_IGNORED_VARS: &[(&str, &str)] = &[
    ("ansible_ssh_common_args", NOT_OPENSSH),
    ("ansible_ssh_extra_args", NOT_OPENSSH),
    ("ansible_password", NO_PASSWORDS),
    ("ansible_ssh_pass", NO_PASSWORDS),
    ("ansible_ssh_password", NO_PASSWORDS),
];

impl HostConnection {
    /// Resolves the connection of host `inventory_name` from its (merged) variables.
    pub fn from_vars(
        inventory_name: &str,
        vars: &Map<String, Value>,
    ) -> Result<Self, ConnectionVarError> {
        let address = text(vars, &["ansible_host", "ansible_ssh_host"])?
            .unwrap_or_else(|| inventory_name.to_owned());
        let port = match first(vars, &["ansible_port", "ansible_ssh_port"]) {
            None => None,
            Some((var, v)) => Some(parse_port(v).ok_or_else(|| ConnectionVarError {
                var: var.to_owned(),
                message: format!("expected a port number (1-65535), got {v}"),
            })?),
        };
        let connection = match first(vars, &["ansible_connection"]) {
            None => ConnectionKind::Ssh,
            Some((var, v)) => {
                let name = scalar_text(v).unwrap_or_default();
                let short = name.strip_prefix("ansible.builtin.").unwrap_or(&name);
                match short {
                    "local" => ConnectionKind::Local,
                    "ssh" | "smart" | "paramiko" | "paramiko_ssh" => ConnectionKind::Ssh,
                    _ => {
                        return Err(ConnectionVarError {
                            var: var.to_owned(),
                            message: format!(
                                "connection `{name}` is not supported (prov supports `ssh` and `local`)"
                            ),
                        });
                    }
                }
            }
        };
        let r#become = match first(vars, &["ansible_become"]) {
            None => None,
            Some((var, v)) => Some(parse_bool(v).ok_or_else(|| ConnectionVarError {
                var: var.to_owned(),
                message: format!("expected a boolean (true/false, yes/no, 1/0), got {v}"),
            })?),
        };
        let ssh_retries = match first(vars, &["ansible_ssh_retries"]) {
            None => None,
            Some((var, v)) => Some(parse_count(v).ok_or_else(|| ConnectionVarError {
                var: var.to_owned(),
                message: format!("expected a number of retries (0-100), got {v}"),
            })?),
        };
        Ok(Self {
            address,
            port,
            user: text(vars, &["ansible_user", "ansible_ssh_user"])?,
            private_key_file: text(
                vars,
                &["ansible_ssh_private_key_file", "ansible_private_key_file"],
            )?
            .map(|p| expand_home(&p)),
            connection,
            r#become,
            become_user: text(vars, &["ansible_become_user"])?,
            become_password: text(vars, &["ansible_become_password", "ansible_become_pass"])?,
            known_hosts_file: text(vars, &["prov_known_hosts_file"])?.map(|p| expand_home(&p)),
            private_key_passphrase: text(vars, &["ansible_ssh_private_key_passphrase"])?,
            ssh_retries,
        })
    }

    /// The variable names [`HostConnection::from_vars`] reads.
    pub fn variable_names() -> &'static [&'static str] {
        &[
            "ansible_host",
            "ansible_ssh_host",
            "ansible_port",
            "ansible_ssh_port",
            "ansible_user",
            "ansible_ssh_user",
            "ansible_ssh_private_key_file",
            "ansible_private_key_file",
            "ansible_connection",
            "ansible_become",
            "ansible_become_user",
            "ansible_become_password",
            "ansible_become_pass",
            "prov_known_hosts_file",
            "ansible_ssh_private_key_passphrase",
            "ansible_ssh_retries",
        ]
    }
}

/// The first of `names` that is set to something other than null.
pub(crate) fn first<'a>(
    vars: &'a Map<String, Value>,
    names: &[&'a str],
) -> Option<(&'a str, &'a Value)> {
    names
        .iter()
        .find_map(|n| vars.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(vars: &Map<String, Value>, names: &[&str]) -> Result<Option<String>, ConnectionVarError> {
    match first(vars, names) {
        None => Ok(None),
        Some((var, v)) => scalar_text(v).map(Some).ok_or_else(|| ConnectionVarError {
            var: var.to_owned(),
            message: format!("expected a string, got {v}"),
        }),
    }
}

fn parse_count(v: &Value) -> Option<u32> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    u32::try_from(n).ok().filter(|n| *n <= 100)
}

fn parse_port(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|p| *p > 0)
}

/// Ansible's `boolean()`: true/false, yes/no, on/off, y/n, t/f, 1/0 (any case).
pub(crate) fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn expand_home(p: &str) -> PathBuf {
    let home = std::env::var_os("HOME");
    match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        (None, Some(home)) if p == "~" => PathBuf::from(home),
        _ => PathBuf::from(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults() {
        let c = HostConnection::from_vars("web1", &Map::new()).ok();
        assert_eq!(c.as_ref().map(|c| c.address.as_str()), Some("web1"));
        assert_eq!(c.as_ref().map(|c| c.connection), Some(ConnectionKind::Ssh));
        assert_eq!(c.and_then(|c| c.port), None);
    }

    #[test]
    fn only_ansible_and_prov_names_count() {
        let v = vars(json!({
            "ansible_host": "10.0.0.1", "ansible_port": "2222", "ansible_user": "deploy",
            "ansible_become": "yes", "ansible_become_user": "postgres", "ansible_become_pass": "pw",
            "ansible_ssh_private_key_file": "/k", "ansible_connection": "ssh",
            "prov_known_hosts_file": "/kh"
        }));
        let c = HostConnection::from_vars("h", &v).map_err(|e| e.to_string());
        let c = c.as_ref().ok();
        assert_eq!(c.map(|c| c.address.as_str()), Some("10.0.0.1"));
        assert_eq!(c.and_then(|c| c.port), Some(2222));
        assert_eq!(c.and_then(|c| c.user.as_deref()), Some("deploy"));
        assert_eq!(c.and_then(|c| c.r#become), Some(true));
        assert_eq!(c.and_then(|c| c.become_user.as_deref()), Some("postgres"));
        assert_eq!(c.and_then(|c| c.become_password.as_deref()), Some("pw"));
        assert_eq!(
            c.and_then(|c| c.private_key_file.clone()),
            Some(PathBuf::from("/k"))
        );
        assert_eq!(
            c.and_then(|c| c.known_hosts_file.clone()),
            Some(PathBuf::from("/kh"))
        );

        // Ordinary words are the playbook's own data, whatever their level.
        let mut both = v.clone();
        for (k, val) in [
            ("host", json!("10.9.9.9")),
            ("port", json!(22)),
            ("user", json!("prov")),
            ("become", json!(false)),
            ("connection", json!("local")),
            ("known_hosts_file", json!("/kh2")),
        ] {
            both.insert(k.into(), val);
        }
        assert_eq!(
            HostConnection::from_vars("h", &both).ok(),
            HostConnection::from_vars("h", &v).ok()
        );
    }

    #[test]
    fn bad_values() {
        let e = HostConnection::from_vars("h", &vars(json!({"ansible_port": "ssh"}))).err();
        assert_eq!(e.map(|e| e.var), Some("ansible_port".to_owned()));
        let e = HostConnection::from_vars("h", &vars(json!({"ansible_port": 70000}))).err();
        assert_eq!(e.map(|e| e.var), Some("ansible_port".to_owned()));
        let e = HostConnection::from_vars("h", &vars(json!({"ansible_become": "maybe"}))).err();
        assert_eq!(e.map(|e| e.var), Some("ansible_become".to_owned()));
        let e = HostConnection::from_vars("h", &vars(json!({"ansible_connection": "winrm"}))).err();
        assert_eq!(e.map(|e| e.var), Some("ansible_connection".to_owned()));
        let e = HostConnection::from_vars("h", &vars(json!({"ansible_user": ["a"]}))).err();
        assert_eq!(e.map(|e| e.var), Some("ansible_user".to_owned()));
    }
}
