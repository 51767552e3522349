//! `platform`, `distribution` and `lsb`: what the host is (Ansible's collectors of those names).

use serde_json::{Map, Value, json};

use super::FactError;
use super::frame::Probe;

/// `system`, `kernel`, `kernel_version`, `machine`, `architecture`, `nodename`, `hostname`,
/// `fqdn`, `domain`, `machine_id`.
pub fn platform(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let need = |fact: &str, path: &str| {
        p.content(path)
            .map(str::to_owned)
            .ok_or_else(|| FactError::new(fact, format!("{path} is missing or empty")))
    };
    let machine = p
        .ok_cmd("machine")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| FactError::new("machine", "`uname -m` printed nothing"))?;
    let nodename = need("nodename", "/proc/sys/kernel/hostname")?;
    let fqdn = fqdn(p, &nodename);
    out.insert(
        "system".into(),
        json!(need("system", "/proc/sys/kernel/ostype")?),
    );
    out.insert(
        "kernel".into(),
        json!(need("kernel", "/proc/sys/kernel/osrelease")?),
    );
    out.insert(
        "kernel_version".into(),
        json!(need("kernel_version", "/proc/sys/kernel/version")?),
    );
    out.insert("architecture".into(), json!(machine));
    out.insert("machine".into(), json!(machine));
    out.insert(
        "hostname".into(),
        json!(nodename.split('.').next().unwrap_or("")),
    );
    out.insert("nodename".into(), json!(nodename));
    let domain = fqdn.split_once('.').map(|(_, d)| d).unwrap_or("");
    out.insert("domain".into(), json!(domain));
    out.insert("fqdn".into(), json!(fqdn));
    // Ansible reads D-Bus's copy first.
    if let Some(id) = p
        .content("/var/lib/dbus/machine-id")
        .or_else(|| p.content("/etc/machine-id"))
    {
        out.insert(
            "machine_id".into(),
            json!(id.lines().next().unwrap_or_default()),
        );
    }
    Ok(())
}

/// Python's `socket.getfqdn()`: the node name's address, then the first of that address's
/// names that holds a dot (else its first name); the node name when lookups fail.
fn fqdn(p: &Probe, nodename: &str) -> String {
    let names: Vec<&str> = p
        .ok_cmd("hosts-by-addr")
        .and_then(|o| o.lines().next())
        .map(|l| l.split_whitespace().skip(1).collect())
        .unwrap_or_default();
    names
        .iter()
        .find(|n| n.contains('.'))
        .or(names.first())
        .map_or_else(|| nodename.to_owned(), |n| (*n).to_owned())
}

/// `KEY=value` lines of os-release/lsb-release, quotes removed.
pub fn key_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

const FAMILIES: &[(&str, &[&str])] = &[
    (
        "Debian",
        &[
            "Debian",
            "Ubuntu",
            "Raspbian",
            "Neon",
            "Linux Mint",
            "SteamOS",
            "Devuan",
            "Kali",
            "Pop!_OS",
            "Parrot",
            "Uos",
            "Deepin",
            "OSMC",
        ],
    ),
    (
        "RedHat",
        &[
            "RedHat",
            "Fedora",
            "CentOS",
            "Scientific",
            "OracleLinux",
            "Amazon",
            "AlmaLinux",
            "Rocky",
            "CloudLinux",
            "EuroLinux",
        ],
    ),
    (
        "Suse",
        &[
            "SLES",
            "SLED",
            "openSUSE",
            "openSUSE Leap",
            "openSUSE Tumbleweed",
        ],
    ),
    ("Archlinux", &["Archlinux", "Manjaro"]),
    ("Alpine", &["Alpine"]),
    ("Gentoo", &["Gentoo"]),
];

/// distro's names for os-release ids that capitalising does not give.
fn distribution_name(id: &str) -> String {
    match id {
        "rhel" | "redhat" => "RedHat".into(),
        "amzn" => "Amazon".into(),
        "ol" | "oracle" => "OracleLinux".into(),
        "arch" => "Archlinux".into(),
        "almalinux" => "AlmaLinux".into(),
        "centos" => "CentOS".into(),
        "opensuse-leap" => "openSUSE Leap".into(),
        "opensuse-tumbleweed" => "openSUSE Tumbleweed".into(),
        "sles" => "SLES".into(),
        "linuxmint" => "Linux Mint".into(),
        _ => {
            let mut c = id.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase().collect::<String>() + c.as_str()
            })
        }
    }
}

/// `distribution`, `_release`, `_version`, `_major_version`, `_minor_version`, `_file_*`,
/// `os_family`, from os-release and (Debian) /etc/debian_version, as distro and Ansible read them.
pub fn distribution(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let (path, text) = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| p.file(path).map(|t| (*path, t)))
        .ok_or_else(|| FactError::new("distribution", "the host has no os-release file"))?;
    let kv = key_values(text);
    let get = |k: &str| {
        kv.iter()
            .find(|(key, _)| key == k)
            .map_or("", |(_, v)| v.as_str())
    };
    if get("ID").is_empty() {
        return Err(FactError::new("distribution", format!("{path} has no ID")));
    }
    let name = distribution_name(get("ID"));
    let family = FAMILIES
        .iter()
        .find(|(_, names)| names.contains(&name.as_str()))
        .map_or(name.as_str(), |(f, _)| *f)
        .to_owned();
    let mut release = [get("VERSION_CODENAME"), get("UBUNTU_CODENAME")]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("NA")
        .to_owned();
    // distro's `version(best=True)`: the most precise of VERSION_ID and /etc/debian_version.
    let mut version = get("VERSION_ID").to_owned();
    let mut minor = version.split('.').nth(1).unwrap_or("").to_owned();
    if name == "Debian" {
        if let Some(r) = pretty_release(get("PRETTY_NAME")) {
            release = r;
        }
        let deb = p.content("/etc/debian_version").unwrap_or("");
        if deb.starts_with(|c: char| c.is_ascii_digit())
            && deb.matches('.').count() > version.matches('.').count()
        {
            version = deb.to_owned();
        }
        minor = deb
            .split_once('.')
            .map(|(_, m)| m.chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
    }
    let variety = if family == "Debian" && name != "Debian" {
        "Debian".to_owned()
    } else {
        family.clone()
    };
    out.insert("distribution".into(), json!(name));
    out.insert("distribution_release".into(), json!(release));
    out.insert(
        "distribution_major_version".into(),
        json!(version.split('.').next().unwrap_or("")),
    );
    out.insert("distribution_minor_version".into(), json!(minor));
    out.insert("distribution_version".into(), json!(version));
    out.insert("distribution_file_variety".into(), json!(variety));
    out.insert("distribution_file_path".into(), json!("/etc/os-release"));
    out.insert("distribution_file_parsed".into(), json!(true));
    out.insert("os_family".into(), json!(family));
    Ok(())
}

/// The codename in `Debian GNU/Linux 12 (bookworm)`.
fn pretty_release(pretty: &str) -> Option<String> {
    let open = pretty.find(" (")?;
    let rest = &pretty[open + 2..];
    let close = rest.find(')')?;
    Some(rest[..close].to_owned()).filter(|r| !r.is_empty())
}

/// `lsb`: `lsb_release -a` when installed, else /etc/lsb-release; `{}` when neither.
pub fn lsb(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let mut lsb = Map::new();
    if let Some(text) = p.ok_cmd("lsb_release") {
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let key = match k.trim() {
                "Distributor ID" => "id",
                "Description" => "description",
                "Release" => "release",
                "Codename" => "codename",
                _ => continue,
            };
            lsb.insert(key.into(), json!(v.trim()));
        }
    } else if let Some(text) = p.file("/etc/lsb-release") {
        for (k, v) in key_values(text) {
            let key = match k.as_str() {
                "DISTRIB_ID" => "id",
                "DISTRIB_RELEASE" => "release",
                "DISTRIB_DESCRIPTION" => "description",
                "DISTRIB_CODENAME" => "codename",
                _ => continue,
            };
            lsb.insert(key.into(), json!(v));
        }
    }
    if let Some(r) = lsb.get("release").and_then(Value::as_str) {
        let major = r.split('.').next().unwrap_or("").to_owned();
        lsb.insert("major_release".into(), json!(major));
    }
    out.insert("lsb".into(), Value::Object(lsb));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(files: &[(&str, &str)], cmds: &[(&str, &str)]) -> Probe {
        Probe::for_test(files, cmds)
    }

    const BOOKWORM: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
        VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

    #[test]
    fn debian_point_release_and_family() {
        let p = probe(
            &[
                ("/etc/os-release", BOOKWORM),
                ("/etc/debian_version", "12.15\n"),
            ],
            &[],
        );
        let mut f = Map::new();
        distribution(&p, &mut f).unwrap();
        assert_eq!(f["distribution"], "Debian");
        assert_eq!(f["distribution_version"], "12.15");
        assert_eq!(f["distribution_major_version"], "12");
        assert_eq!(f["distribution_minor_version"], "15");
        assert_eq!(f["distribution_release"], "bookworm");
        assert_eq!(f["distribution_file_variety"], "Debian");
        assert_eq!(f["os_family"], "Debian");
        // Debian testing: no number in /etc/debian_version.
        let p = probe(
            &[
                (
                    "/etc/os-release",
                    "ID=debian\nVERSION_ID=\"13\"\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n",
                ),
                ("/etc/debian_version", "trixie/sid\n"),
            ],
            &[],
        );
        let mut f = Map::new();
        distribution(&p, &mut f).unwrap();
        assert_eq!(f["distribution_version"], "13");
        assert_eq!(f["distribution_release"], "NA");
    }

    #[test]
    fn ubuntu_is_debian_family() {
        let p = probe(
            &[(
                "/etc/os-release",
                "ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n",
            )],
            &[(
                "lsb_release",
                "Distributor ID:\tUbuntu\nDescription:\tUbuntu 22.04.4 LTS\nRelease:\t22.04\nCodename:\tjammy\n",
            )],
        );
        let mut f = Map::new();
        distribution(&p, &mut f).unwrap();
        lsb(&p, &mut f).unwrap();
        assert_eq!(f["distribution"], "Ubuntu");
        assert_eq!(f["os_family"], "Debian");
        assert_eq!(f["distribution_major_version"], "22");
        assert_eq!(f["lsb"]["major_release"], "22");
        assert_eq!(f["lsb"]["id"], "Ubuntu");
    }

    #[test]
    fn missing_os_release_or_id_names_the_fact() {
        let e = distribution(&Probe::default(), &mut Map::new()).unwrap_err();
        assert!(e.to_string().contains("`distribution`"), "{e}");
        let p = probe(&[("/etc/os-release", "NAME=x\n")], &[]);
        let e = distribution(&p, &mut Map::new()).unwrap_err();
        assert!(e.to_string().contains("has no ID"), "{e}");
    }

    #[test]
    fn fqdn_follows_python_getfqdn() {
        let base = [
            ("/proc/sys/kernel/ostype", "Linux\n"),
            ("/proc/sys/kernel/osrelease", "6.1.0\n"),
            ("/proc/sys/kernel/version", "#1 SMP\n"),
            ("/proc/sys/kernel/hostname", "web1\n"),
            ("/etc/machine-id", "abc\n"),
        ];
        let p = probe(
            &base,
            &[
                ("machine", "x86_64\n"),
                ("hosts-by-addr", "10.0.0.5 web1 web1.example.com\n"),
            ],
        );
        let mut f = Map::new();
        platform(&p, &mut f).unwrap();
        assert_eq!(f["fqdn"], "web1.example.com");
        assert_eq!(f["domain"], "example.com");
        assert_eq!(f["hostname"], "web1");
        assert_eq!(f["machine_id"], "abc");
        assert_eq!(f["kernel_version"], "#1 SMP");
        let p = probe(&base, &[]);
        let e = platform(&p, &mut Map::new()).unwrap_err();
        assert!(e.to_string().contains("`machine`"), "{e}");
    }
}
