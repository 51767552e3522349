//! The small system collectors: `user`, `env`, `python`, `selinux`, `apparmor`, `chroot`,
//! `fips`, `service_mgr`, `pkg_mgr`, `ssh_pub_keys`, `cmdline`, `dns`, `loadavg`.

use serde_json::{Map, Value, json};

use super::FactError;
use super::frame::Probe;

/// `user_id`, `user_uid`, `user_gid`, `user_gecos`, `user_dir`, `user_shell` (the passwd entry
/// of Python's `getpass.getuser()`), and the real/effective ids of the probing process.
pub fn user(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let name = p
        .ok_cmd("username")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FactError::new("user_id", "the probe found no user name"))?;
    let entry = match p.ok_cmd("passwd") {
        Some(line) => line.lines().next().unwrap_or("").to_owned(),
        None => p
            .file("/etc/passwd")
            .and_then(|t| {
                t.lines()
                    .find(|l| l.split(':').next() == Some(name))
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
    };
    let fields: Vec<&str> = entry.split(':').collect();
    let [pw_name, _, uid, gid, gecos, dir, shell] = fields.as_slice() else {
        return Err(FactError::new(
            "user_id",
            format!("no passwd entry for {name:?} (found {entry:?})"),
        ));
    };
    let num = |fact: &str, v: &str| {
        v.parse::<u64>()
            .map_err(|_| FactError::new(fact, format!("not a number: {v:?}")))
    };
    out.insert("user_id".into(), json!(name));
    debug_assert!(!pw_name.is_empty());
    out.insert("user_uid".into(), json!(num("user_uid", uid)?));
    out.insert("user_gid".into(), json!(num("user_gid", gid)?));
    out.insert("user_gecos".into(), json!(gecos));
    out.insert("user_dir".into(), json!(dir));
    out.insert("user_shell".into(), json!(shell));
    let status = p
        .file("/proc/self/status")
        .ok_or_else(|| FactError::new("real_user_id", "/proc/self/status is unreadable"))?;
    let ids = |key: &str, fact: &str| -> Result<Vec<u64>, FactError> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .ok_or_else(|| FactError::new(fact, format!("/proc/self/status has no {key}")))?;
        line.split_whitespace().map(|v| num(fact, v)).collect()
    };
    let uids = ids("Uid:", "real_user_id")?;
    let gids = ids("Gid:", "real_group_id")?;
    let (Some(ruid), Some(euid), Some(rgid)) = (uids.first(), uids.get(1), gids.first()) else {
        return Err(FactError::new("real_user_id", "short Uid:/Gid: lines"));
    };
    out.insert("real_user_id".into(), json!(ruid));
    out.insert("effective_user_id".into(), json!(euid));
    out.insert("real_group_id".into(), json!(rgid));
    // Ansible reports os.getgid() for both.
    out.insert("effective_group_id".into(), json!(rgid));
    Ok(())
}

/// `env`: the session's exported variables, from `export -p` (dash's `export K='v'` and
/// bash's `declare -x K="v"` forms).
pub fn env(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let text = p
        .ok_cmd("export")
        .ok_or_else(|| FactError::new("env", "the probe printed no environment"))?;
    let mut env = Map::new();
    let mut rest = text;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let line = rest
            .strip_prefix("export ")
            .or_else(|| rest.strip_prefix("declare -x "))
            .ok_or_else(|| FactError::new("env", format!("unexpected line {:?}", first(rest))))?;
        let name_len = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(line.len());
        let name = &line[..name_len];
        rest = &line[name_len..];
        if let Some(v) = rest.strip_prefix('=') {
            let (value, after) = shell_word(v)
                .ok_or_else(|| FactError::new("env", format!("bad quoting for {name}")))?;
            env.insert(name.to_owned(), json!(value));
            rest = after;
        }
    }
    // prov's own fact (not Ansible's): the firewall module keeps this address reachable.
    if let Some(client) = env
        .get("SSH_CONNECTION")
        .and_then(Value::as_str)
        .and_then(|c| c.split_whitespace().next())
    {
        out.insert("ssh_client_address".into(), json!(client));
    }
    out.insert("env".into(), Value::Object(env));
    Ok(())
}

fn first(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// One shell word at the start of `s` (quotes: '…', "…" with backslash escapes, bare text up to
/// blank or newline); the value and what follows.
fn shell_word(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '\'' => {
                chars.next();
                loop {
                    let (_, c) = chars.next()?;
                    if c == '\'' {
                        break;
                    }
                    value.push(c);
                }
            }
            '"' => {
                chars.next();
                loop {
                    let (_, c) = chars.next()?;
                    match c {
                        '"' => break,
                        '\\' => {
                            let (_, n) = chars.next()?;
                            if !matches!(n, '"' | '\\' | '$' | '`' | '\n') {
                                value.push('\\');
                            }
                            value.push(n);
                        }
                        _ => value.push(c),
                    }
                }
            }
            '\\' => {
                chars.next();
                value.push(chars.next()?.1);
            }
            ' ' | '\t' | '\n' => return Some((value, &s[i..])),
            _ => {
                chars.next();
                value.push(c);
            }
        }
    }
    Some((value, ""))
}

/// `python`, `python_version`: only when the host has a Python 3 (the one Ansible would
/// discover: the first of its fallback list that exists).
pub fn python(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let Some(path) = p.ok_cmd("python-path").map(str::trim) else {
        return Ok(());
    };
    let text = p
        .ok_cmd("python-version")
        .ok_or_else(|| FactError::new("python", format!("`{path} -V` failed")))?;
    let version = text
        .trim()
        .strip_prefix("Python ")
        .ok_or_else(|| FactError::new("python", format!("unexpected `-V` output {text:?}")))?;
    // 3.11.2, 3.13.0rc1
    let digits_end = version
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(version.len());
    let (numbers, tail) = version.split_at(digits_end);
    let parts: Vec<u64> = numbers.split('.').filter_map(|n| n.parse().ok()).collect();
    let [major, minor, micro] = parts[..] else {
        return Err(FactError::new(
            "python",
            format!("unexpected version {version:?}"),
        ));
    };
    let (level, serial) = match tail.find(|c: char| c.is_ascii_digit()) {
        Some(i) => (&tail[..i], tail[i..].parse::<u64>().unwrap_or(0)),
        None => (tail, 0),
    };
    let releaselevel = match level {
        "" => "final",
        "a" => "alpha",
        "b" => "beta",
        _ => "candidate",
    };
    out.insert(
        "python".into(),
        json!({
            "executable": path,
            "has_sslcontext": true,
            "type": "cpython",
            "version": {"major": major, "minor": minor, "micro": micro, "releaselevel": releaselevel, "serial": serial},
            "version_info": [major, minor, micro, releaselevel, serial],
        }),
    );
    out.insert("python_version".into(), json!(numbers));
    Ok(())
}

/// `selinux` (and `selinux_python_present`), as Ansible reports them from its bindings (which
/// load `libselinux.so.1` through ctypes): without the library, the status says so.
pub fn selinux(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let bindings = p.exists.iter().any(|e| e.ends_with("/libselinux.so.1"));
    out.insert("selinux_python_present".into(), json!(bindings));
    let status = if !bindings {
        json!({"status": "Missing selinux Python library"})
    } else if !p.exists("/sys/fs/selinux") || p.file("/sys/fs/selinux/enforce").is_none() {
        json!({"status": "disabled"})
    } else {
        let mode = match p.content("/sys/fs/selinux/enforce") {
            Some("1") => "enforcing",
            _ => "permissive",
        };
        let config = p.file("/etc/selinux/config").unwrap_or("");
        let kv = super::platform::key_values(config);
        let get = |k: &str| kv.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        json!({
            "status": "enabled",
            "mode": mode,
            "config_mode": get("SELINUX").unwrap_or_else(|| "unknown".into()),
            "type": get("SELINUXTYPE").unwrap_or_else(|| "unknown".into()),
            "policyvers": p.content("/sys/fs/selinux/policyvers").and_then(|v| v.parse::<u64>().ok()),
        })
    };
    out.insert("selinux".into(), status);
    Ok(())
}

/// `apparmor`: enabled when securityfs shows it.
pub fn apparmor(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let status = if p.exists("/sys/kernel/security/apparmor") {
        "enabled"
    } else {
        "disabled"
    };
    out.insert("apparmor".into(), json!({"status": status}));
    Ok(())
}

/// `is_chroot`: `/` is not PID 1's root (or `debian_chroot` is set).
pub fn chroot(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let named = p
        .ok_cmd("debian_chroot")
        .is_some_and(|v| !v.trim().is_empty());
    let chroot = named || matches!(p.cmds.get("same-root"), Some((1, _)));
    out.insert("is_chroot".into(), json!(chroot));
    Ok(())
}

/// `fips`: /proc/sys/crypto/fips_enabled says 1.
pub fn fips(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    out.insert(
        "fips".into(),
        json!(p.content("/proc/sys/crypto/fips_enabled") == Some("1")),
    );
    Ok(())
}

/// `service_mgr`, as Ansible decides it on Linux: PID 1's name, else systemd/upstart/openrc/
/// sysvinit by what exists, else `service`.
pub fn service_mgr(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let proc_1 = p
        .content("/proc/1/comm")
        .map(|c| c.rsplit('/').next().unwrap_or(c).trim())
        .filter(|c| *c != "init" && !c.ends_with("sh"));
    let systemd_canary = ["/run/systemd/system", "/dev/.run/systemd", "/dev/.systemd"]
        .iter()
        .any(|c| p.exists(c));
    let name = match proc_1 {
        Some("procd") => "openwrt_init".to_owned(),
        Some("runit-init") => "runit".to_owned(),
        Some("svscan") => "svc".to_owned(),
        Some("openrc-init") => "openrc".to_owned(),
        Some(other) => other.to_owned(),
        None if p.exists("systemctl") && systemd_canary => "systemd".into(),
        None if p.exists("initctl") && p.exists("/etc/init") => "upstart".into(),
        None if p.exists("/sbin/openrc") => "openrc".into(),
        None if p.exists("/etc/init.d") => "sysvinit".into(),
        None => "service".into(),
    };
    out.insert("service_mgr".into(), json!(name));
    Ok(())
}

/// `pkg_mgr`: the last of Ansible's list that exists, apt on every Debian-family host.
pub fn pkg_mgr(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    const PKG_MGRS: &[(&str, &str)] = &[
        ("/usr/bin/yum", "yum"),
        ("/usr/bin/dnf", "dnf"),
        ("/usr/bin/dnf5", "dnf5"),
        ("/usr/bin/apt-get", "apt"),
        ("/usr/bin/zypper", "zypper"),
        ("/usr/bin/pacman", "pacman"),
        ("/usr/bin/opkg", "opkg"),
        ("/usr/local/bin/brew", "homebrew"),
        ("/opt/homebrew/bin/brew", "homebrew"),
        ("/sbin/apk", "apk"),
        ("/usr/sbin/pkg", "pkgng"),
        ("/usr/bin/emerge", "portage"),
        ("/usr/bin/xbps-install", "xbps"),
        ("/usr/bin/swupd", "swupd"),
    ];
    let found = PKG_MGRS
        .iter()
        .rev()
        .find(|(path, _)| p.exists(path))
        .map_or("unknown", |(_, n)| *n);
    let family = out.get("os_family").and_then(Value::as_str).unwrap_or("");
    let name = match family {
        "Debian" => "apt",
        "RedHat" if p.exists("/usr/bin/dnf5") => "dnf5",
        "RedHat" if p.exists("/usr/bin/dnf") => "dnf",
        "RedHat" if p.exists("/usr/bin/yum") => "yum",
        _ => found,
    };
    out.insert("pkg_mgr".into(), json!(name));
    Ok(())
}

/// `ssh_host_key_<type>_public` and `_keytype`, from the first of /etc/ssh, /etc/openssh and
/// /etc that holds any host key.
pub fn ssh_pub_keys(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    for dir in ["/etc/ssh", "/etc/openssh", "/etc"] {
        let mut found = false;
        for algo in ["dsa", "rsa", "ecdsa", "ed25519"] {
            let path = format!("{dir}/ssh_host_{algo}_key.pub");
            let Some(text) = p.content(&path) else {
                continue;
            };
            let mut words = text.split_whitespace();
            let (Some(keytype), Some(key)) = (words.next(), words.next()) else {
                return Err(FactError::new(
                    &format!("ssh_host_key_{algo}_public"),
                    format!("{path} is not a public key"),
                ));
            };
            out.insert(format!("ssh_host_key_{algo}_public"), json!(key));
            out.insert(
                format!("ssh_host_key_{algo}_public_keytype"),
                json!(keytype),
            );
            found = true;
        }
        if found {
            break;
        }
    }
    Ok(())
}

/// `cmdline` (last value wins) and `proc_cmdline` (repeated keys become lists).
pub fn cmdline(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let Some(data) = p.content("/proc/cmdline") else {
        return Ok(());
    };
    let mut last = Map::new();
    let mut all = Map::new();
    for piece in split_non_posix(data) {
        let (k, v) = match piece.split_once('=') {
            Some((k, v)) => (k.to_owned(), json!(v)),
            None => (piece.clone(), json!(true)),
        };
        last.insert(k.clone(), v.clone());
        match all.get_mut(&k) {
            Some(prev) if v.is_string() => match prev {
                Value::Array(list) => list.push(v),
                _ => *prev = json!([prev.clone(), v]),
            },
            _ => {
                all.insert(k, v);
            }
        }
    }
    out.insert("cmdline".into(), Value::Object(last));
    out.insert("proc_cmdline".into(), Value::Object(all));
    Ok(())
}

/// Python's `shlex.split(data, posix=False)`: words, quotes kept and grouping blanks.
fn split_non_posix(data: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in data.chars() {
        match quote {
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                word.push(c);
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `dns`: /etc/resolv.conf's nameservers, domain, search, sortlist and options.
pub fn dns(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let mut dns = Map::new();
    for line in p.file("/etc/resolv.conf").unwrap_or("").lines() {
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some((first, rest)) = tokens.split_first() else {
            continue;
        };
        match *first {
            "nameserver" => {
                let list = dns.entry("nameservers").or_insert_with(|| json!([]));
                if let Value::Array(l) = list {
                    l.extend(rest.iter().map(|s| json!(s)));
                }
            }
            "domain" if !rest.is_empty() => {
                dns.insert("domain".into(), json!(rest[0]));
            }
            "search" | "sortlist" => {
                dns.insert((*first).into(), json!(rest));
            }
            "options" => {
                let opts: Map<String, Value> = rest
                    .iter()
                    .map(|o| match o.split_once(':') {
                        Some((k, v)) if !v.is_empty() => (k.to_owned(), json!(v)),
                        Some((k, _)) => (k.to_owned(), json!(true)),
                        None => ((*o).to_owned(), json!(true)),
                    })
                    .collect();
                dns.insert("options".into(), Value::Object(opts));
            }
            _ => {}
        }
    }
    out.insert("dns".into(), Value::Object(dns));
    Ok(())
}

/// `loadavg`: 1, 5 and 15 minute load averages.
pub fn loadavg(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let Some(text) = p.content("/proc/loadavg") else {
        return Ok(());
    };
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| FactError::new("loadavg", format!("unexpected {text:?}")))?;
    let [a, b, c] = v[..] else {
        return Err(FactError::new("loadavg", format!("unexpected {text:?}")));
    };
    out.insert("loadavg".into(), json!({"1m": a, "5m": b, "15m": c}));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(files: &[(&str, &str)], cmds: &[(&str, &str)]) -> Probe {
        Probe::for_test(files, cmds)
    }

    #[test]
    fn env_reads_dash_and_bash_forms() {
        let dash = "export HOME='/root'\nexport MSG='it'\\''s\nmultiline'\nexport EMPTY=''\nexport UNSET\n";
        let bash = "declare -x HOME=\"/root\"\ndeclare -x Q=\"a \\\"b\\\" \\$c\"\n";
        let mut f = Map::new();
        env(&probe(&[], &[("export", dash)]), &mut f).unwrap();
        assert_eq!(
            f["env"],
            json!({"HOME": "/root", "MSG": "it's\nmultiline", "EMPTY": ""})
        );
        env(&probe(&[], &[("export", bash)]), &mut f).unwrap();
        assert_eq!(f["env"], json!({"HOME": "/root", "Q": "a \"b\" $c"}));
        env(
            &probe(
                &[],
                &[(
                    "export",
                    "export SSH_CONNECTION='10.77.0.1 4 10.77.0.14 22'\n",
                )],
            ),
            &mut f,
        )
        .unwrap();
        assert_eq!(f["ssh_client_address"], "10.77.0.1");
        let e = env(&probe(&[], &[("export", "HOME=/x\n")]), &mut f).unwrap_err();
        assert!(e.to_string().contains("`env`"), "{e}");
        let e = env(&probe(&[], &[("export", "export A='open\n")]), &mut f).unwrap_err();
        assert!(e.to_string().contains("bad quoting for A"), "{e}");
    }

    #[test]
    fn user_from_passwd_and_status() {
        let status = "Name:\tsh\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n";
        let p = probe(
            &[("/proc/self/status", status)],
            &[
                ("username", "deploy\n"),
                (
                    "passwd",
                    "deploy:x:1000:100:Deploy,,,:/home/deploy:/bin/bash\n",
                ),
            ],
        );
        let mut f = Map::new();
        user(&p, &mut f).unwrap();
        assert_eq!(f["user_id"], "deploy");
        assert_eq!(f["user_uid"], 1000);
        assert_eq!(f["user_gid"], 100);
        assert_eq!(f["user_gecos"], "Deploy,,,");
        assert_eq!(f["user_dir"], "/home/deploy");
        assert_eq!(f["effective_user_id"], 1000);
        let p = probe(
            &[("/proc/self/status", status)],
            &[
                ("username", "deploy\n"),
                ("passwd", "deploy:x:abc:100:::\n"),
            ],
        );
        let e = user(&p, &mut Map::new()).unwrap_err();
        assert!(e.to_string().contains("`user_uid`"), "{e}");
    }

    #[test]
    fn python_facts_only_with_python() {
        let mut f = Map::new();
        python(&Probe::default(), &mut f).unwrap();
        assert!(f.is_empty());
        let p = probe(
            &[],
            &[
                ("python-path", "/usr/bin/python3.11\n"),
                ("python-version", "Python 3.11.2\n"),
            ],
        );
        python(&p, &mut f).unwrap();
        assert_eq!(f["python_version"], "3.11.2");
        assert_eq!(f["python"]["version_info"], json!([3, 11, 2, "final", 0]));
        assert_eq!(f["python"]["executable"], "/usr/bin/python3.11");
        let p = probe(
            &[],
            &[
                ("python-path", "/usr/bin/python3\n"),
                ("python-version", "Python 3.13.0rc1\n"),
            ],
        );
        python(&p, &mut f).unwrap();
        assert_eq!(f["python"]["version"]["releaselevel"], "candidate");
        assert_eq!(f["python"]["version"]["serial"], 1);
        let p = probe(
            &[],
            &[
                ("python-path", "/usr/bin/python3\n"),
                ("python-version", "oops\n"),
            ],
        );
        let e = python(&p, &mut f).unwrap_err();
        assert!(e.to_string().contains("`python`"), "{e}");
    }

    #[test]
    fn cmdline_dns_and_keys() {
        let p = probe(
            &[
                (
                    "/proc/cmdline",
                    "BOOT_IMAGE=/vmlinuz root=UUID=1 ro quiet console=tty0 console=ttyS0 x=\"a b\"\n",
                ),
                (
                    "/etc/resolv.conf",
                    "# c\nnameserver 1.1.1.1\nnameserver 9.9.9.9\nsearch a.example b.example\noptions ndots:2 rotate\n",
                ),
                (
                    "/etc/ssh/ssh_host_ed25519_key.pub",
                    "ssh-ed25519 AAAAC3 root@h\n",
                ),
                ("/etc/ssh_host_rsa_key.pub", "ssh-rsa AAAAB3 root@h\n"),
            ],
            &[],
        );
        let mut f = Map::new();
        cmdline(&p, &mut f).unwrap();
        dns(&p, &mut f).unwrap();
        ssh_pub_keys(&p, &mut f).unwrap();
        assert_eq!(f["cmdline"]["console"], "ttyS0");
        assert_eq!(f["proc_cmdline"]["console"], json!(["tty0", "ttyS0"]));
        assert_eq!(f["cmdline"]["root"], "UUID=1");
        assert_eq!(f["cmdline"]["quiet"], true);
        assert_eq!(f["cmdline"]["x"], "\"a b\"");
        assert_eq!(f["dns"]["nameservers"], json!(["1.1.1.1", "9.9.9.9"]));
        assert_eq!(f["dns"]["options"], json!({"ndots": "2", "rotate": true}));
        assert_eq!(f["ssh_host_key_ed25519_public"], "AAAAC3");
        assert_eq!(f["ssh_host_key_ed25519_public_keytype"], "ssh-ed25519");
        // Only the first folder that holds keys counts.
        assert!(f.get("ssh_host_key_rsa_public").is_none());
        let p = probe(&[("/etc/ssh/ssh_host_rsa_key.pub", "garbage\n")], &[]);
        let e = ssh_pub_keys(&p, &mut f).unwrap_err();
        assert!(e.to_string().contains("`ssh_host_key_rsa_public`"), "{e}");
    }
}
