//! Reading an OpenSSH client config (`~/.ssh/config`) into [`SshParams`].
//!
//! Parsing (Host patterns with `!` negation, `Include`, `Key=value`, quoting, first value wins)
//! is done by the `ssh2-config` crate; this module maps the options prov honours: HostName
//! (with `%h`), User, Port, IdentityFile, ProxyJump (chains, `user@host:port`, `none`),
//! ConnectTimeout, ServerAliveInterval, UserKnownHostsFile, GlobalKnownHostsFile,
//! StrictHostKeyChecking and IdentityAgent. Other options are ignored.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use ssh2_config::{HostParams, ParseRule, SshConfig};

use super::params::{HostKeyPolicy, SshParams, default_known_hosts_files, home_dir};

/// Why an OpenSSH client config could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    /// The config file could not be read.
    #[error("cannot read ssh config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is malformed.
    #[error("invalid ssh config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An option has a value prov cannot use.
    #[error("ssh config for host {host}: {message}")]
    Value {
        /// The host being configured.
        host: String,
        /// What is wrong.
        message: String,
    },
}

/// How deep ProxyJump chains may nest (guards against loops in the config).
const MAX_JUMP_DEPTH: usize = 8;

/// A parsed config file, queried per host.
struct Parsed {
    config: SshConfig,
}

impl Parsed {
    fn load(path: Option<&Path>) -> Result<Option<Self>, SshConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => match home_dir() {
                Some(h) => (h.join(".ssh").join("config"), false),
                None => return Ok(None),
            },
        };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SshConfigError::Read { path, source }),
        };
        let mut config = SshConfig::default();
        if let Some(h) = home_dir() {
            config = config.home_dir(h);
        }
        let config = config
            .parse(
                &mut BufReader::new(file),
                ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
            )
            .map_err(|e| SshConfigError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?;
        Ok(Some(Self { config }))
    }
}

/// Expands `~/` at the start of a path.
fn expand_home(s: &str) -> PathBuf {
    match (s.strip_prefix("~/"), home_dir()) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(s),
    }
}

/// Expands the `%h` (target host name), `%n` (name as given), `%u`, `%p` and `%%` tokens.
fn expand_tokens(s: &str, host: &str, given: &str, user: &str, port: u16) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('n') => out.push_str(given),
            Some('u') => out.push_str(user),
            Some('p') => out.push_str(&port.to_string()),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// One ProxyJump element: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
fn parse_jump(spec: &str) -> (Option<String>, String, Option<u16>) {
    let spec = spec.trim();
    let spec = spec.strip_prefix("ssh://").unwrap_or(spec);
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_owned()), r),
        None => (None, spec),
    };
    // [v6addr]:port, host:port, or a bare host / v6 address.
    if let Some(inner) = rest.strip_prefix('[')
        && let Some((addr, after)) = inner.split_once(']')
    {
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (user, addr.to_owned(), port);
    }
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (user, h.to_owned(), Some(port)),
            Err(_) => (user, rest.to_owned(), None),
        },
        _ => (user, rest.to_owned(), None),
    }
}

fn unsupported<'a>(hp: &'a HostParams, key: &str) -> Option<&'a Vec<String>> {
    hp.unsupported_fields
        .get(key)
        .or_else(|| hp.ignored_fields.get(key))
}

fn build(parsed: Option<&Parsed>, host: &str, depth: usize) -> Result<SshParams, SshConfigError> {
    if depth > MAX_JUMP_DEPTH {
        return Err(SshConfigError::Value {
            host: host.to_owned(),
            message: format!("ProxyJump chain deeper than {MAX_JUMP_DEPTH} (a loop?)"),
        });
    }
    let mut p = SshParams::new(host, host);
    let Some(parsed) = parsed else {
        return Ok(p);
    };
    let hp = parsed.config.query(host);
    if let Some(port) = hp.port {
        p.port = port;
    }
    if let Some(user) = &hp.user {
        p.user = user.clone();
    }
    if let Some(name) = &hp.host_name {
        p.address = expand_tokens(name, host, host, &p.user, p.port);
    }
    if let Some(files) = &hp.identity_file {
        p.identity_files = files
            .iter()
            .map(|f| {
                let s = f.to_string_lossy();
                expand_home(&expand_tokens(&s, &p.address, host, &p.user, p.port))
            })
            .collect();
    }
    if let Some(t) = hp.connect_timeout
        && !t.is_zero()
    {
        p.connect_timeout = t;
    }
    if let Some(t) = hp.server_alive_interval {
        p.keepalive_interval = if t.is_zero() { None } else { Some(t) };
    }
    if let Some(files) = unsupported(&hp, "userknownhostsfile") {
        let user_files: Vec<PathBuf> = files
            .iter()
            .flat_map(|f| f.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|f| f != "none")
            .map(|f| expand_home(&expand_tokens(&f, &p.address, host, &p.user, p.port)))
            .collect();
        // The user files replace ~/.ssh/known_hosts; the global file stays.
        let globals: Vec<PathBuf> = default_known_hosts_files()
            .into_iter()
            .filter(|f| f.starts_with("/etc"))
            .collect();
        p.known_hosts_files = user_files.into_iter().chain(globals).collect();
    }
    if let Some(files) = unsupported(&hp, "globalknownhostsfile") {
        let globals: Vec<PathBuf> = files
            .iter()
            .flat_map(|f| f.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|f| f != "none" && f != "/dev/null")
            .map(|f| expand_home(&f))
            .collect();
        p.known_hosts_files
            .retain(|f| !f.starts_with("/etc/ssh/ssh_known_hosts"));
        p.known_hosts_files.extend(globals);
    }
    if let Some(v) = unsupported(&hp, "stricthostkeychecking").and_then(|v| v.first()) {
        p.host_key_policy = match v.to_ascii_lowercase().as_str() {
            "accept-new" => HostKeyPolicy::AcceptNew,
            "no" | "off" => HostKeyPolicy::Off,
            // "yes" and "ask" (no one to ask): strict.
            _ => HostKeyPolicy::Strict,
        };
    }
    if let Some(v) = unsupported(&hp, "identityagent").and_then(|v| v.first()) {
        match v.as_str() {
            "none" => p.use_agent = false,
            "SSH_AUTH_SOCK" => p.agent_socket = None,
            other => {
                let other = other.trim_matches('"');
                p.agent_socket = Some(match other.strip_prefix('$') {
                    Some(var) => std::env::var_os(var).map(PathBuf::from).unwrap_or_default(),
                    None => expand_home(other),
                });
            }
        }
    }
    if let Some(jumps) = &hp.proxy_jump {
        let chain: Vec<&str> = jumps
            .iter()
            .flat_map(|j| j.split(','))
            .map(str::trim)
            .filter(|j| !j.is_empty())
            .collect();
        if !(chain.len() == 1 && chain[0].eq_ignore_ascii_case("none")) {
            // `a,b`: connect to a, through it to b, through b to the host.
            let mut prev: Option<Box<SshParams>> = None;
            for spec in chain {
                let (user, name, port) = parse_jump(spec);
                let mut j = build(Some(parsed), &name, depth + 1)?;
                if let Some(u) = user {
                    j.user = u;
                }
                if let Some(port) = port {
                    j.port = port;
                }
                // A chain given here replaces whatever jump the hop itself configures.
                j.proxy_jump = prev.take();
                prev = Some(Box::new(j));
            }
            p.proxy_jump = prev;
        }
    }
    Ok(p)
}

impl SshParams {
    /// Parameters for `host` as OpenSSH would use them: the client config at `config_path`
    /// (`None`: `~/.ssh/config`, silently skipped when absent) applied on top of the defaults
    /// of [`SshParams::new`]. The inventory name and the initial address are `host`; `HostName`
    /// replaces the address.
    pub fn from_ssh_config(
        host: &str,
        config_path: Option<&Path>,
    ) -> Result<SshParams, SshConfigError> {
        let parsed = Parsed::load(config_path)?;
        build(parsed.as_ref(), host, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn params(text: &str, host: &str) -> SshParams {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config");
        std::fs::write(&f, text).unwrap();
        SshParams::from_ssh_config(host, Some(&f)).unwrap()
    }

    const CONFIG: &str = "\
# global defaults come last in OpenSSH order, first value wins
Host web*
    HostName %h.example.internal
    User deploy
    Port=2222
    IdentityFile /keys/web_ed25519
    IdentityFile /keys/web_rsa
    ConnectTimeout 7
    ServerAliveInterval 15
    UserKnownHostsFile /kh/one /kh/two
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking accept-new

Host db1
    HostName 10.0.0.9
    ProxyJump admin@bastion:2200

Host bastion
    HostName 10.0.0.1
    User jump
    IdentityFile /keys/bastion

Host chain
    ProxyJump bastion,db1

Host *
    User fallback
    StrictHostKeyChecking no
";

    #[test]
    fn applies_matching_host_blocks() {
        let p = params(CONFIG, "web1");
        assert_eq!(p.host, "web1");
        assert_eq!(p.address, "web1.example.internal");
        assert_eq!(p.user, "deploy");
        assert_eq!(p.port, 2222);
        assert_eq!(
            p.identity_files,
            vec![
                PathBuf::from("/keys/web_ed25519"),
                PathBuf::from("/keys/web_rsa")
            ]
        );
        assert_eq!(p.connect_timeout, Duration::from_secs(7));
        assert_eq!(p.keepalive_interval, Some(Duration::from_secs(15)));
        assert_eq!(p.known_hosts_files[0], PathBuf::from("/kh/one"));
        assert_eq!(p.known_hosts_files[1], PathBuf::from("/kh/two"));
        assert_eq!(p.known_hosts_files.len(), 2);
        assert_eq!(p.host_key_policy, HostKeyPolicy::AcceptNew);
        assert!(p.proxy_jump.is_none());
    }

    #[test]
    fn proxy_jump_uses_the_jump_hosts_own_block() {
        let p = params(CONFIG, "db1");
        assert_eq!(p.address, "10.0.0.9");
        assert_eq!(p.user, "fallback");
        assert_eq!(p.host_key_policy, HostKeyPolicy::Off);
        let j = p.proxy_jump.expect("jump");
        assert_eq!(j.host, "bastion");
        assert_eq!(j.address, "10.0.0.1");
        assert_eq!(j.user, "admin");
        assert_eq!(j.port, 2200);
        assert_eq!(j.identity_files, vec![PathBuf::from("/keys/bastion")]);
    }

    #[test]
    fn proxy_jump_chains_nest_in_order() {
        let p = params(CONFIG, "chain");
        let last = p.proxy_jump.expect("db1 hop");
        assert_eq!(last.host, "db1");
        let first = last.proxy_jump.expect("bastion hop");
        assert_eq!(first.host, "bastion");
        assert!(first.proxy_jump.is_none());
    }

    #[test]
    fn unmatched_host_keeps_defaults_and_missing_file_is_an_error() {
        let p = params("Host other\n  User x\n", "plain");
        assert_eq!(p.address, "plain");
        assert_eq!(p.port, 22);
        assert_eq!(p.host_key_policy, HostKeyPolicy::Strict);
        let err = SshParams::from_ssh_config("x", Some(Path::new("/nonexistent/prov/config")));
        assert!(matches!(err, Err(SshConfigError::Read { .. })));
    }

    #[test]
    fn jump_specs() {
        assert_eq!(parse_jump("h"), (None, "h".into(), None));
        assert_eq!(
            parse_jump("u@h:22"),
            (Some("u".into()), "h".into(), Some(22))
        );
        assert_eq!(
            parse_jump("ssh://u@[::1]:2222"),
            (Some("u".into()), "::1".into(), Some(2222))
        );
        assert_eq!(parse_jump("fe80::1"), (None, "fe80::1".into(), None));
    }
}
