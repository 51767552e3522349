//! The cached base rootfs (overlay lower layer) and the hosts' local apt repository.
//!
//! Built once with `debootstrap --variant=minbase bookworm` from the mirror this machine's own apt
//! sources name; the repository holds the .debs a fresh host lacks for [`REPO_PACKAGES`], computed
//! against the base's dpkg status by the controller's apt-get, indexed with apt-ftparchive.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::LabError;
use crate::cmd::Cmd;
use crate::fsutil::{
    force_symlink, mkdirs, remove_file_if_exists, remove_tree, set_mode, set_mtime, write_file,
};
use crate::layout::{Layout, exists};

/// Debian suite of the base.
pub const SUITE: &str = "bookworm";

/// Format version of the cached base; bump when the base configuration changes.
const BASE_VERSION: &str = "prov-lab-base 9";

/// Packages installed into the base on top of minbase.
///
/// `python3` and `python3-apt` are there because a stock Debian server has them and Ansible needs
/// them on the target (its apt module would otherwise install python3-apt itself, on one twin of
/// a comparison only); `cron` because a stock server has it and roles' `cron` tasks need its
/// `crontab` (geerlingguy.certbot's renewal job).
pub const BASE_PACKAGES: &[&str] = &[
    "openssh-server",
    "sudo",
    "nftables",
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "procps",
    "netbase",
    "python3",
    "python3-apt",
    "cron",
];

/// Packages (with their missing dependencies and recommends) offered to hosts by the local apt
/// repository: Redis for the project's own playbooks, and what the public roles of the Ansible
/// corpus (`shared/ansible-corpus`, see `tests/corpus/`) install on Debian 12.
pub const REPO_PACKAGES: &[&str] = &[
    "redis-server",
    "redis-tools",
    // geerlingguy.nginx
    "nginx",
    // geerlingguy.memcached
    "memcached",
    // Oefenweb.fail2ban and geerlingguy.security (python3-systemd: the systemd backend)
    "fail2ban",
    "python3-systemd",
    // geerlingguy.ntp: the Debian 12 vars name ntpsec (the `ntp` package is a transitional one)
    "ntpsec",
    // geerlingguy.security's automatic updates
    "unattended-upgrades",
    // what the lab tests of Ansible's modules need on a host: ufw and iptables, pip and venv,
    // unarchive's zip tools, locale_gen, modprobe, apt_key (gpg), user managers for
    // `systemd scope: user` (pam_systemd)
    "libpam-systemd",
    "ufw",
    "iptables",
    "python3-pip",
    "python3-venv",
    "unzip",
    "zip",
    "locales",
    "kmod",
    "gnupg",
    // what other popular public roles for Debian servers install (geerlingguy's apache, mysql,
    // postgresql, php, git, haproxy, certbot; Oefenweb's postfix...), so that such roles can be
    // tried on the lab as they are: their packages, the Python libraries Ansible's modules for
    // them need on the host, and the daemons a stock server has (cron, logrotate, rsyslog)
    "git",
    "git-svn",
    "apache2",
    "libapache2-mod-php",
    "mariadb-server",
    "python3-mysqldb",
    "python3-pymysql",
    "postgresql",
    "postgresql-contrib",
    "libpq-dev",
    "python3-psycopg2",
    "php-fpm",
    "php-cli",
    "php-mysql",
    "php-apcu",
    "php8.2-opcache",
    "haproxy",
    "certbot",
    "postfix",
    "mailutils",
    "sasl2-bin",
    "libsasl2-modules",
    // geerlingguy.java (Debian 12 vars: openjdk-17-jdk)
    "openjdk-17-jdk",
    // dev-sec's os_hardening (initramfs-tools: its sysctl tasks install it)
    "initramfs-tools",
    "auditd",
    "libpam-passwdqc",
    "logrotate",
    "rsyslog",
    "curl",
    "acl",
];

/// Where the local repository is mounted inside every host.
pub const HOST_REPO_DIR: &str = "/srv/prov-lab-repo";

/// The non-root login user of every host (passwordless sudo).
pub const DEPLOY_USER: &str = "deploy";

/// Units that cannot work (or must not run by themselves) in a namespace host.
const MASKED_UNITS: &[&str] = &[
    // periodic jobs that would grab the dpkg lock or touch disks behind a playbook's back
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    // consoles and terminals
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "container-getty@.service",
    "getty-static.service",
    // hardware, kernel and boot plumbing owned by the controller
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "systemd-binfmt.service",
    "systemd-modules-load.service",
    "kmod-static-nodes.service",
    "systemd-remount-fs.service",
    "systemd-firstboot.service",
    "systemd-hwdb-update.service",
    "systemd-journald-audit.socket",
    "systemd-pstore.service",
    "systemd-time-wait-sync.service",
];

/// A Debian mirror found in this machine's apt sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Base URL of the archive.
    pub uri: String,
    /// Keyring file named by `signed-by`, if any.
    pub signed_by: Option<String>,
}

/// One `deb` entry of an apt source file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AptSource {
    uri: String,
    suites: Vec<String>,
    signed_by: Option<String>,
}

/// Parses one-line-style sources (`deb [opts] uri suite comp...`).
fn parse_list(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut toks = line.split_whitespace();
        if toks.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = toks.collect();
        let mut signed_by = None;
        if rest.first().is_some_and(|t| t.starts_with('[')) {
            let mut opts = Vec::new();
            while !rest.is_empty() {
                let t = rest.remove(0);
                let done = t.ends_with(']');
                opts.push(t.trim_start_matches('[').trim_end_matches(']').to_string());
                if done {
                    break;
                }
            }
            for o in opts {
                if let Some(v) = o.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
        }
        if rest.len() < 2 {
            continue;
        }
        out.push(AptSource {
            uri: rest[0].to_string(),
            suites: vec![rest[1].to_string()],
            signed_by,
        });
    }
    out
}

/// Parses deb822-style `.sources` files.
fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let flush = |fields: &mut Vec<(String, String)>, out: &mut Vec<AptSource>| {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let types = get("Types").unwrap_or_default();
        let enabled = get("Enabled").is_none_or(|v| !v.trim().eq_ignore_ascii_case("no"));
        if enabled && types.split_whitespace().any(|t| t == "deb") {
            let suites: Vec<String> = get("Suites")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            // Signed-By may hold an inline key block; only a path is useful here.
            let signed_by = get("Signed-By")
                .map(|v| v.trim().to_string())
                .filter(|v| v.starts_with('/') && !v.contains('\n'));
            for uri in get("URIs").unwrap_or_default().split_whitespace() {
                out.push(AptSource {
                    uri: uri.to_string(),
                    suites: suites.clone(),
                    signed_by: signed_by.clone(),
                });
            }
        }
        fields.clear();
    };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut fields, &mut out);
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    flush(&mut fields, &mut out);
    out
}

/// Picks the first source offering exactly `suite` over a network or file scheme.
fn pick(sources: &[AptSource], suite: &str) -> Option<Mirror> {
    sources
        .iter()
        .find(|s| {
            s.suites.iter().any(|x| x == suite)
                && ["http://", "https://", "ftp://", "file:"]
                    .iter()
                    .any(|p| s.uri.starts_with(p))
        })
        .map(|s| Mirror {
            uri: s.uri.trim_end_matches('/').to_string(),
            signed_by: s.signed_by.clone(),
        })
}

/// Reads this machine's apt sources and returns the Debian mirror serving [`SUITE`].
///
/// `PROV_LAB_MIRROR` overrides the search.
pub fn find_mirror() -> Result<Mirror, LabError> {
    if let Ok(m) = std::env::var("PROV_LAB_MIRROR")
        && !m.trim().is_empty()
    {
        return Ok(Mirror {
            uri: m.trim().trim_end_matches('/').to_string(),
            signed_by: None,
        });
    }
    let mut sources = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        sources.extend(parse_list(&t));
    }
    let mut files: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let Ok(t) = fs::read_to_string(&f) else {
            continue;
        };
        match f.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(parse_list(&t)),
            Some("sources") => sources.extend(parse_deb822(&t)),
            _ => {}
        }
    }
    pick(&sources, SUITE).ok_or(LabError::NoMirror)
}

/// True when the cached base and repository are complete and current.
pub(crate) fn base_ready(layout: &Layout) -> bool {
    fs::read_to_string(layout.base_ok()).is_ok_and(|v| v.trim() == BASE_VERSION)
        && layout.rootfs().join("sbin/init").exists()
        && exists(&layout.repo_ok())
}

/// Builds the base rootfs and the local repository unless they are cached.
///
/// `hosts_exist` tells whether hosts still use an existing base (then an outdated base is an
/// error instead of being rebuilt). Returns the build time when something was built.
pub(crate) fn ensure_base(
    layout: &Layout,
    hosts_exist: bool,
    log: &dyn Fn(&str),
) -> Result<Option<Duration>, LabError> {
    if base_ready(layout) {
        return Ok(None);
    }
    let start = Instant::now();
    if exists(&layout.base_ok()) || exists(&layout.rootfs()) {
        // Outdated or half-renamed base.
        if hosts_exist {
            return Err(LabError::StaleBase);
        }
        remove_tree(&layout.rootfs())?;
        remove_file_if_exists(&layout.base_ok())?;
        remove_tree(&layout.repo())?;
        remove_file_if_exists(&layout.repo_ok())?;
    }
    mkdirs(&layout.base_dir())?;
    let mirror = find_mirror()?;
    let tmp = layout.rootfs_tmp();
    if !exists(&layout.debootstrap_ok()) {
        remove_tree(&tmp)?;
        remove_tree(&layout.repo_tmp())?;
        remove_file_if_exists(&layout.repo_ok())?;
        log(&format!(
            "building the base rootfs ({SUITE} minbase) with debootstrap, once (about a minute)"
        ));
        Cmd::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--include={}", BASE_PACKAGES.join(",")))
            .arg(SUITE)
            .arg(&tmp)
            .arg(&mirror.uri)
            .run()?;
        write_file(&layout.debootstrap_ok(), b"ok\n", 0o644)?;
    }
    if !exists(&layout.repo_ok()) {
        log("building the hosts' local apt repository");
        build_repo(layout, &tmp.join("var/lib/dpkg/status"), &mirror)?;
    }
    log("configuring the base rootfs");
    configure_base(&tmp, &layout.repo())?;
    fs::rename(&tmp, layout.rootfs()).map_err(|e| LabError::io("rename", &tmp, e))?;
    write_file(
        &layout.base_ok(),
        format!("{BASE_VERSION}\n").as_bytes(),
        0o644,
    )?;
    remove_file_if_exists(&layout.debootstrap_ok())?;
    Ok(Some(start.elapsed()))
}

/// Downloads the .debs a fresh base lacks for [`REPO_PACKAGES`] and indexes them.
fn build_repo(layout: &Layout, status: &Path, mirror: &Mirror) -> Result<(), LabError> {
    let tmp = layout.apt_tmp();
    let repo_tmp = layout.repo_tmp();
    remove_tree(&tmp)?;
    remove_tree(&repo_tmp)?;
    for d in ["lists/partial", "cache/archives/partial", "parts", "log"] {
        mkdirs(&tmp.join(d))?;
    }
    mkdirs(&repo_tmp.join("partial"))?;
    let keyring = mirror.signed_by.clone().or_else(|| {
        let k = "/usr/share/keyrings/debian-archive-keyring.gpg";
        Path::new(k).exists().then(|| k.to_string())
    });
    let opts = keyring
        .map(|k| format!("[signed-by={k}] "))
        .unwrap_or_default();
    write_file(
        &tmp.join("sources.list"),
        format!("deb {opts}{} {SUITE} main\n", mirror.uri).as_bytes(),
        0o644,
    )?;
    write_file(&tmp.join("preferences"), b"", 0o644)?;
    write_file(&tmp.join("extended_states"), b"", 0o644)?;
    let p = |k: &str, v: &Path| format!("{k}={}", v.display());
    let apt_opts = vec![
        "-q".to_string(),
        "-o".into(),
        p("Dir::State::status", status),
        "-o".into(),
        p("Dir::State::Lists", &tmp.join("lists")),
        "-o".into(),
        p("Dir::State::extended_states", &tmp.join("extended_states")),
        "-o".into(),
        p("Dir::Etc::SourceList", &tmp.join("sources.list")),
        "-o".into(),
        p("Dir::Etc::SourceParts", &tmp.join("parts")),
        "-o".into(),
        p("Dir::Etc::Preferences", &tmp.join("preferences")),
        "-o".into(),
        p("Dir::Etc::PreferencesParts", &tmp.join("parts")),
        "-o".into(),
        p("Dir::Cache", &tmp.join("cache")),
        "-o".into(),
        p("Dir::Cache::archives", &repo_tmp),
        "-o".into(),
        p("Dir::Log", &tmp.join("log")),
        "-o".into(),
        "Debug::NoLocking=1".into(),
    ];
    Cmd::new("apt-get").args(&apt_opts).arg("update").run()?;
    Cmd::new("apt-get")
        .args(&apt_opts)
        .args(["-y", "install", "--download-only"])
        .args(REPO_PACKAGES)
        .run()?;
    remove_tree(&repo_tmp.join("partial"))?;
    remove_file_if_exists(&repo_tmp.join("lock"))?;
    let debs = fs::read_dir(&repo_tmp)
        .map_err(|e| LabError::io("read", &repo_tmp, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".deb"))
        .count();
    if debs == 0 {
        return Err(LabError::Other(format!(
            "apt-get downloaded no packages for {} (already in the base?)",
            REPO_PACKAGES.join(" ")
        )));
    }
    let packages = Cmd::new("apt-ftparchive")
        .args(["packages", "."])
        .current_dir(&repo_tmp)
        .run()?;
    write_file(&repo_tmp.join("Packages"), &packages.stdout, 0o644)?;
    let release = Cmd::new("apt-ftparchive")
        .args(["release", "."])
        .current_dir(&repo_tmp)
        .run()?;
    write_file(&repo_tmp.join("Release"), &release.stdout, 0o644)?;
    for e in fs::read_dir(&repo_tmp)
        .map_err(|e| LabError::io("read", &repo_tmp, e))?
        .flatten()
    {
        set_mode(&e.path(), 0o644)?;
    }
    set_mode(&repo_tmp, 0o755)?;
    remove_tree(&layout.repo())?;
    fs::rename(&repo_tmp, layout.repo()).map_err(|e| LabError::io("rename", &repo_tmp, e))?;
    remove_tree(&tmp)?;
    write_file(&layout.repo_ok(), b"ok\n", 0o644)?;
    Ok(())
}

/// Turns a fresh debootstrap tree into the lab hosts' common lower layer; `repo` is the finished
/// local repository (the apt lists are filled from it).
fn configure_base(root: &Path, repo: &Path) -> Result<(), LabError> {
    let passwd = fs::read_to_string(root.join("etc/passwd"))
        .map_err(|e| LabError::io("read", root.join("etc/passwd"), e))?;
    if !passwd
        .lines()
        .any(|l| l.starts_with(&format!("{DEPLOY_USER}:")))
    {
        Cmd::new("chroot")
            .arg(root)
            .args([
                "useradd",
                "--create-home",
                "--shell",
                "/bin/bash",
                "--user-group",
                DEPLOY_USER,
            ])
            .run()?;
    }
    // '*' = no password but not locked: key logins work, password logins cannot.
    Cmd::new("chroot")
        .arg(root)
        .args(["usermod", "--password", "*", DEPLOY_USER])
        .run()?;
    write_file(
        &root.join("etc/sudoers.d/prov-lab"),
        format!("{DEPLOY_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n").as_bytes(),
        0o440,
    )?;

    // sshd: the host keys a stock Debian host has (rsa, ecdsa, ed25519), its own per host,
    // written at host creation; logins by key only. Dead clients are noticed within about 15 s
    // (the ClientAlive probes of a hardened server, shortened): without them a connection whose
    // client vanished behind a network cut lives on until TCP gives up, which takes from seconds
    // to hours depending on what the server last sent, and so does the command it runs.
    for e in fs::read_dir(root.join("etc/ssh"))
        .map_err(|e| LabError::io("read", root.join("etc/ssh"), e))?
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("ssh_host_") {
            remove_file_if_exists(&e.path())?;
        }
    }
    write_file(
        &root.join("etc/ssh/sshd_config.d/prov-lab.conf"),
        b"# written by prov lab\n\
          PasswordAuthentication no\n\
          KbdInteractiveAuthentication no\n\
          PermitRootLogin prohibit-password\n\
          UseDNS no\n\
          ClientAliveInterval 5\n\
          ClientAliveCountMax 3\n",
        0o644,
    )?;

    // systemd: masked units, volatile size-capped journal, per-host machine-id.
    let sysdir = root.join("etc/systemd/system");
    for unit in MASKED_UNITS {
        force_symlink("/dev/null", &sysdir.join(unit))?;
    }
    write_file(
        &root.join("etc/systemd/journald.conf.d/prov-lab.conf"),
        b"[Journal]\nStorage=volatile\nRuntimeMaxUse=8M\nRuntimeMaxFileSize=2M\nForwardToConsole=no\n",
        0o644,
    )?;
    write_file(&root.join("etc/machine-id"), b"", 0o444)?;
    force_symlink("/etc/machine-id", &root.join("var/lib/dbus/machine-id"))?;
    write_file(&root.join("etc/resolv.conf"), b"", 0o644)?;
    write_file(&root.join("etc/hostname"), b"localhost\n", 0o644)?;

    // apt: the read-only local repository is the only source. The lists are filled from it
    // below (a real server's lists are current, and roles install without `update_cache`).
    write_file(
        &root.join("etc/apt/sources.list"),
        format!("# written by prov lab: the lab's local repository is the only source\ndeb [trusted=yes] file:{HOST_REPO_DIR} ./\n")
            .as_bytes(),
        0o644,
    )?;
    write_file(
        &root.join("etc/apt/apt.conf.d/99prov-lab"),
        b"Acquire::Languages \"none\";\n",
        0o644,
    )?;
    let lists = root.join("var/lib/apt/lists");
    for e in fs::read_dir(&lists)
        .map_err(|e| LabError::io("read", &lists, e))?
        .flatten()
    {
        let p = e.path();
        if p.is_file() && e.file_name() != "lock" {
            remove_file_if_exists(&p)?;
        }
    }
    for e in fs::read_dir(root.join("var/cache/apt"))
        .map_err(|e| LabError::io("read", root.join("var/cache/apt"), e))?
        .flatten()
    {
        if e.file_name().to_string_lossy().ends_with(".bin") {
            remove_file_if_exists(&e.path())?;
        }
    }
    for e in fs::read_dir(root.join("var/cache/apt/archives"))
        .map_err(|e| LabError::io("read", root.join("var/cache/apt/archives"), e))?
        .flatten()
    {
        if e.file_name().to_string_lossy().ends_with(".deb") {
            remove_file_if_exists(&e.path())?;
        }
    }
    remove_file_if_exists(&root.join("var/lib/apt/periodic/update-success-stamp"))?;
    mkdirs(&root.join(HOST_REPO_DIR.trim_start_matches('/')))?;
    // `apt-get update` as a host runs it: the base's own apt, in a chroot, with the repository
    // bind-mounted read-only where hosts see it, in a private mount namespace (the mounts vanish
    // with it, whatever happens).
    Cmd::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(
            "set -e; mount --bind \"$1\" \"$2$3\"; mount -o remount,bind,ro \"$2$3\"; \
             chroot \"$2\" apt-get -q update",
        )
        .arg("sh")
        .arg(repo)
        .arg(root)
        .arg(HOST_REPO_DIR)
        .run()?;
    // The lists directory keeps an old mtime (what Ansible's and prov's `cache_valid_time` look
    // at when there is no update-success-stamp): a task with `update_cache` and a validity
    // window then really runs `apt-get update` (cheap: the repository is local) instead of
    // behaving differently depending on how long ago the host booted.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800); // 2000-01-01
    set_mtime(&lists.join("partial"), old)?;
    set_mtime(&lists, old)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources() {
        let t = "# comment\n\
                 deb-src http://src.example/debian bookworm main\n\
                 deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://m.example/debian/ bookworm main contrib\n\
                 deb http://other.example/debian bookworm-updates main\n";
        let s = parse_list(t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://m.example/debian/");
        assert_eq!(s[0].signed_by.as_deref(), Some("/usr/share/keyrings/k.gpg"));
        let m = pick(&s, "bookworm").unwrap();
        assert_eq!(m.uri, "http://m.example/debian");
        assert!(pick(&s, "trixie").is_none());
    }

    #[test]
    fn deb822_sources() {
        let t = "Types: deb\n\
                 URIs: http://sec.example/debian-security\n\
                 Suites: bookworm-security\n\
                 Components: main\n\
                 \n\
                 Types: deb deb-src\n\
                 # inline comment\n\
                 URIs: http://a.example/debian\n\
                 Suites: bookworm bookworm-updates\n\
                 Components: main\n\
                 Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\
                 \n\
                 Types: deb\n\
                 Enabled: no\n\
                 URIs: http://disabled.example/debian\n\
                 Suites: bookworm\n";
        let s = parse_deb822(t);
        assert_eq!(s.len(), 2);
        let m = pick(&s, "bookworm").unwrap();
        assert_eq!(m.uri, "http://a.example/debian");
        assert_eq!(
            m.signed_by.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
    }

    #[test]
    fn inline_key_is_not_a_keyring_path() {
        let t = "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n";
        let s = parse_deb822(t);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].signed_by, None);
    }
}
