//! Facts: what a host is, read in one round trip (one shell script, `key=value` lines).

use serde_json::{Map, Value, json};

/// The script that prints a host's facts. POSIX sh, no Python, tolerant of missing tools.
pub const FACTS_SCRIPT: &str = r#"
. /etc/os-release 2>/dev/null
echo "distribution=${ID:-unknown}"
echo "distribution_version=${VERSION_ID:-}"
echo "distribution_release=${VERSION_CODENAME:-}"
echo "os_like=${ID_LIKE:-}"
echo "hostname=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null || hostname 2>/dev/null)"
echo "kernel=$(uname -r)"
echo "architecture=$(uname -m)"
echo "system=$(uname -s)"
echo "debian_version=$(cat /etc/debian_version 2>/dev/null)"
echo "python_version=$(python3 -V 2>/dev/null | cut -d' ' -f2)"
IFS=: read -r _ _ _ gid _ home shell <<EOF_PASSWD
$(getent passwd "$(id -un)" 2>/dev/null)
EOF_PASSWD
echo "user_gid=${gid:-}"
echo "user_dir=${home:-}"
echo "user_shell=${shell:-}"
echo "processor_count=$(nproc 2>/dev/null || echo 1)"
echo "memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
echo "user_id=$(id -un)"
echo "uid=$(id -u)"
if [ -d /run/systemd/system ]; then echo service_mgr=systemd; else echo service_mgr=sysvinit; fi
if command -v apt-get >/dev/null 2>&1; then echo pkg_mgr=apt; elif command -v dnf >/dev/null 2>&1; then echo pkg_mgr=dnf; elif command -v yum >/dev/null 2>&1; then echo pkg_mgr=yum; else echo pkg_mgr=unknown; fi
set -- ${SSH_CONNECTION:-}
echo "ssh_client_address=${1:-}"
echo "ssh_server_port=${4:-}"
if command -v ip >/dev/null 2>&1; then
  ip -o -4 route show default 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/default_interface=\1/p' | head -n1
  ip -o -4 addr show scope global 2>/dev/null | while read -r _ dev _ addr _; do echo "ipv4=$dev=$addr"; done
fi
"#;

/// Parses the script's output into the facts map exposed to templates.
pub fn parse(output: &str) -> Value {
    let mut raw: Map<String, Value> = Map::new();
    let mut addrs: Vec<(String, String)> = Vec::new();
    for line in output.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k == "ipv4" {
            if let Some((dev, cidr)) = v.split_once('=') {
                addrs.push((dev.to_owned(), cidr.to_owned()));
            }
            continue;
        }
        raw.insert(k.to_owned(), Value::String(v.trim().to_owned()));
    }
    let get = |k: &str| raw.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let distribution = get("distribution");
    let os_like = get("os_like");
    let os_family = match distribution.as_str() {
        "debian" | "ubuntu" => "Debian",
        "rhel" | "centos" | "fedora" | "rocky" | "almalinux" => "RedHat",
        "alpine" => "Alpine",
        "arch" => "Archlinux",
        _ if os_like.contains("debian") => "Debian",
        _ if os_like.contains("rhel") || os_like.contains("fedora") => "RedHat",
        _ => "unknown",
    };
    let default_if = get("default_interface");
    let all_ipv4: Vec<String> = addrs
        .iter()
        .map(|(_, c)| c.split('/').next().unwrap_or("").to_owned())
        .collect();
    let default_ipv4 = addrs
        .iter()
        .find(|(d, _)| *d == default_if)
        .or_else(|| addrs.first())
        .map(|(d, c)| {
            let (addr, prefix) = c.split_once('/').unwrap_or((c.as_str(), "32"));
            json!({"address": addr, "interface": d, "prefix": prefix})
        })
        .unwrap_or_else(|| json!({}));
    let mem_mb = get("memtotal_kb")
        .parse::<u64>()
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    // Ansible takes Debian's point release from /etc/debian_version (12.8, not 12).
    let debian_version = get("debian_version");
    let version = if os_family == "Debian"
        && distribution == "debian"
        && debian_version.starts_with(|c: char| c.is_ascii_digit())
    {
        debian_version
    } else {
        get("distribution_version")
    };
    let mut facts = json!({
        "os_family": os_family,
        "distribution": capitalize(&distribution),
        "distribution_version": version,
        "distribution_major_version": version.split('.').next().unwrap_or(""),
        "system": get("system"),
        "machine": get("architecture"),
        "user_gid": get("user_gid").parse::<u64>().ok(),
        "user_dir": get("user_dir"),
        "user_shell": get("user_shell"),
        "distribution_release": get("distribution_release"),
        "hostname": get("hostname"),
        "nodename": get("hostname"),
        "fqdn": get("fqdn"),
        "kernel": get("kernel"),
        "architecture": get("architecture"),
        "processor_count": get("processor_count").parse::<u64>().unwrap_or(1),
        "processor_vcpus": get("processor_count").parse::<u64>().unwrap_or(1),
        "memtotal_mb": mem_mb,
        "user_id": get("user_id"),
        "user_uid": get("uid").parse::<u64>().unwrap_or(0),
        "service_mgr": get("service_mgr"),
        "pkg_mgr": get("pkg_mgr"),
        "ssh_client_address": get("ssh_client_address"),
        "default_ipv4": default_ipv4,
        "all_ipv4_addresses": all_ipv4,
        "interfaces": addrs.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
    });
    // Python facts only where Python is (Ansible's come from the Python it runs on).
    let python = get("python_version");
    if let (Some(m), [major, minor, micro]) = (
        facts.as_object_mut(),
        python.split('.').collect::<Vec<_>>().as_slice(),
    ) {
        let num = |s: &str| s.parse::<u64>().unwrap_or(0);
        m.insert("python_version".into(), json!(python));
        m.insert(
            "python".into(),
            json!({"version": {"major": num(major), "minor": num(minor), "micro": num(micro)}, "executable": "/usr/bin/python3"}),
        );
    }
    facts
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_host() {
        let out = "distribution=debian\ndistribution_version=12\nhostname=lab1\nprocessor_count=2\n\
                   memtotal_kb=2048000\nservice_mgr=systemd\npkg_mgr=apt\n\
                   ipv4=eth0=10.77.0.11/24\nipv4=eth1=192.0.2.5/24\ndefault_interface=eth0\n";
        let f = parse(out);
        assert_eq!(f["os_family"], "Debian");
        assert_eq!(f["distribution"], "Debian");
        assert_eq!(f["default_ipv4"]["address"], "10.77.0.11");
        assert_eq!(f["all_ipv4_addresses"], json!(["10.77.0.11", "192.0.2.5"]));
        assert_eq!(f["memtotal_mb"], 2000);
        assert_eq!(f["pkg_mgr"], "apt");
        assert!(f.get("python_version").is_none());
    }

    #[test]
    fn debian_point_release_system_user_and_python() {
        let out = "distribution=debian\ndistribution_version=12\ndebian_version=12.8\nsystem=Linux\n\
                   python_version=3.11.2\nuser_dir=/root\nuser_shell=/bin/bash\nuser_gid=0\n";
        let f = parse(out);
        assert_eq!(f["distribution_version"], "12.8");
        assert_eq!(f["distribution_major_version"], "12");
        assert_eq!(f["system"], "Linux");
        assert_eq!(f["python_version"], "3.11.2");
        assert_eq!(f["python"]["version"]["minor"], 11);
        assert_eq!(f["user_dir"], "/root");
        assert_eq!(f["user_gid"], 0);
        // A Debian testing host has no number in /etc/debian_version.
        let f = parse("distribution=debian\ndistribution_version=13\ndebian_version=trixie/sid\n");
        assert_eq!(f["distribution_version"], "13");
    }
}
