//! Real lab tests: boot hosts on this machine (needs root on Linux; skipped otherwise).
//!
//! Every step shares one lab, so everything runs in one test, in sequence. The state directory
//! is `PROV_LAB_STATE_DIR` or the default one (its cached base is reused; any lab running there
//! is taken down).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prov_lab::{BRIDGE, DEFAULT_STATE_DIR, HostState, Lab, LabCommand, LabError, LabOpts};

fn state_dir() -> PathBuf {
    std::env::var_os("PROV_LAB_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// Opens the lab, or returns None (with a message) when not root / not Linux.
fn open_lab(inventory: &Path) -> Option<Lab> {
    match Lab::open(state_dir()) {
        Ok(lab) => Some(lab.with_inventory_dir(inventory)),
        Err(e @ (LabError::NotRoot | LabError::NotLinux)) => {
            eprintln!("SKIPPED prov-lab tests: {e}");
            None
        }
        Err(e) => panic!("cannot open lab: {e}"),
    }
}

/// TCP connect to port 22 of `addr` within `timeout`, returning the SSH banner's first bytes.
fn ssh_banner(addr: std::net::Ipv4Addr, timeout: Duration) -> Option<String> {
    let sa = SocketAddr::from((addr, 22));
    let mut s = TcpStream::connect_timeout(&sa, timeout).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Retries the banner read until `deadline` (for a healed link).
fn ssh_banner_until(addr: std::net::Ipv4Addr, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(b) = ssh_banner(addr, Duration::from_millis(500)) {
            return Some(b);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Processes (not zombies) that belong to a lab host: in the lab cgroup, or with the lab's
/// `container=` environment, or running the lab's pre-init.
fn lab_processes() -> Vec<String> {
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let p = e.path();
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|k| stat[k + 1..].split_whitespace().next())
            .unwrap_or("?");
        if state == "Z" || state == "X" || state == "?" {
            continue;
        }
        let cgroup = std::fs::read_to_string(p.join("cgroup")).unwrap_or_default();
        let environ = std::fs::read(p.join("environ")).unwrap_or_default();
        let cmdline = std::fs::read(p.join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let in_cgroup = cgroup
            .lines()
            .any(|l| l.starts_with("0::/prov-lab/") || l == "0::/prov-lab");
        let has_env = environ
            .split(|&b| b == 0)
            .any(|v| v == b"container=prov-lab");
        if in_cgroup || has_env || cmd.contains("preinit.sh") {
            found.push(format!("{name}: {cmd}"));
        }
    }
    found
}

/// Asserts the lab left nothing behind on the controller.
fn assert_clean(lab: &Lab) {
    // Processes die asynchronously after SIGKILL; zombies are skipped.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut procs = lab_processes();
    while !procs.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        procs = lab_processes();
    }
    assert!(procs.is_empty(), "lab processes left: {procs:?}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let state = lab.state_dir().to_string_lossy().into_owned();
    let left: Vec<&str> = mountinfo.lines().filter(|l| l.contains(&state)).collect();
    assert!(left.is_empty(), "mounts left under the state dir: {left:?}");
    assert!(
        !Path::new("/sys/class/net").join(BRIDGE).exists(),
        "bridge left"
    );
    let links: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("plab"))
        .collect();
    assert!(links.is_empty(), "veths left: {links:?}");
    for cg in ["/sys/fs/cgroup/prov-lab", "/sys/fs/cgroup/unified/prov-lab"] {
        assert!(!Path::new(cg).exists(), "cgroup {cg} left");
    }
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        let ns: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("lab"))
            .collect();
        assert!(ns.is_empty(), "named netns left: {ns:?}");
    }
    assert!(lab.status().unwrap().is_empty(), "hosts still listed");
    assert!(!lab.state_dir().join("hosts").exists(), "host disks left");
}

/// Brings the lab back to `hosts` hosts when the test ends (even on failure).
struct Restore {
    lab: Lab,
    hosts: usize,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if self.hosts > 0 {
            // The lab test's own inventory directory is not rewritten here.
            let lab = Lab::open(self.lab.state_dir()).expect("reopen lab");
            match lab.up(self.hosts) {
                Ok(r) => eprintln!("restored the lab to {} host(s)", r.hosts.len()),
                Err(e) => eprintln!("could not restore the lab: {e}"),
            }
        }
    }
}

fn exec_ok(lab: &Lab, host: &str, argv: &[&str]) -> String {
    let out = lab.exec(host, argv).unwrap();
    assert!(out.success(), "{host}: {argv:?} failed: {out:?}");
    out.stdout
}

#[test]
fn lab_lifecycle() {
    let inv_dir = std::env::temp_dir().join(format!("prov-lab-test-inv-{}", std::process::id()));
    let Some(lab) = open_lab(&inv_dir) else {
        return;
    };
    // Other crates' lab tests expect a running lab: bring back as many hosts as were up.
    let _restore = Restore {
        lab: lab.clone(),
        hosts: lab.hosts().unwrap().len(),
    };
    lab.down(false).unwrap();

    // ----- up -----
    let base = lab.ensure_base().unwrap();
    if let Some(t) = base {
        eprintln!("base build: {:.1}s", t.as_secs_f64());
    }
    let t = Instant::now();
    let report = lab.up(3).unwrap();
    eprintln!("up 3 hosts: {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(report.hosts, vec!["lab1", "lab2", "lab3"]);
    assert_eq!(report.created.len(), 3);
    assert_eq!(report.started.len(), 3);

    // ----- status -----
    let st = lab.status().unwrap();
    assert_eq!(st.len(), 3);
    for (k, h) in st.iter().enumerate() {
        assert_eq!(h.name, format!("lab{}", k + 1));
        assert_eq!(h.address.to_string(), format!("10.77.0.{}", 11 + k));
        assert_eq!(h.state, HostState::Running);
        let pid = h.pid.expect("running host has a pid");
        assert_eq!(lab.host_pid(&h.name).unwrap(), Some(pid));
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(env.split(|&b| b == 0).any(|v| v == b"container=prov-lab"));
    }
    // The CLI path works too.
    prov_lab::run(LabCommand::Status {
        opts: LabOpts {
            state_dir: lab.state_dir().to_path_buf(),
        },
    })
    .unwrap();

    // ----- inside the hosts -----
    for h in &st {
        assert_eq!(exec_ok(&lab, &h.name, &["hostname"]).trim(), h.name);
        let sys = lab
            .exec(&h.name, &["systemctl", "is-system-running"])
            .unwrap();
        assert!(
            ["running", "degraded"].contains(&sys.stdout.trim()),
            "{}: {sys:?}",
            h.name
        );
        // The host has the keys of a stock Debian host, and its real keys are in known_hosts.
        let kh = std::fs::read_to_string(lab.known_hosts()).unwrap();
        for kind in ["ed25519", "ecdsa", "rsa"] {
            let key = exec_ok(
                &lab,
                &h.name,
                &["cat", &format!("/etc/ssh/ssh_host_{kind}_key.pub")],
            );
            let key_b64 = key.split_whitespace().nth(1).unwrap().to_string();
            assert!(
                kh.lines()
                    .any(|l| l.starts_with(&format!("{},{} ", h.name, h.address))
                        && l.contains(&key_b64)),
                "known_hosts lacks {}'s {kind} key",
                h.name
            );
        }
        // sshd offers all three (no HostKey restriction).
        let sshd_t = exec_ok(&lab, &h.name, &["sshd", "-T"]);
        assert_eq!(
            sshd_t.lines().filter(|l| l.starts_with("hostkey ")).count(),
            3,
            "{sshd_t}"
        );
        let banner = ssh_banner(h.address, Duration::from_secs(2)).expect("sshd answers");
        assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{banner}");
    }
    // Distinct machine-ids and host keys.
    let m1 = exec_ok(&lab, "lab1", &["cat", "/etc/machine-id"]);
    let m2 = exec_ok(&lab, "lab2", &["cat", "/etc/machine-id"]);
    assert_ne!(m1, m2);
    assert_eq!(m1.trim().len(), 32);
    let rsa = |h: &str| exec_ok(&lab, h, &["cat", "/etc/ssh/ssh_host_rsa_key.pub"]);
    assert_ne!(rsa("lab1"), rsa("lab2"));
    // Python for Ansible, as on a stock server.
    exec_ok(&lab, "lab1", &["python3", "-c", "import apt"]);
    // The clock is the controller's: hosts run without CAP_SYS_TIME (bit 25), and a time
    // zone set on a host (timedated tells the kernel; its first such call after boot would
    // shift the system clock by the zone's offset) leaves the controller's clock alone.
    let status = exec_ok(&lab, "lab1", &["cat", "/proc/1/status"]);
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("CapBnd");
    assert_eq!(bounding & (1 << 25), 0, "CAP_SYS_TIME in {bounding:x}");
    let before = std::time::SystemTime::now();
    exec_ok(
        &lab,
        "lab1",
        &["timedatectl", "set-timezone", "Asia/Kolkata"],
    );
    exec_ok(&lab, "lab1", &["timedatectl", "set-timezone", "Etc/UTC"]);
    let drift = std::time::SystemTime::now()
        .duration_since(before)
        .unwrap_or_default();
    assert!(
        drift < Duration::from_secs(60),
        "the clock moved by {drift:?}"
    );
    // Redis is not preinstalled; the only apt source is the local repository.
    assert!(
        !lab.exec("lab1", &["dpkg", "-s", "redis-server"])
            .unwrap()
            .success()
    );
    let sources = exec_ok(&lab, "lab1", &["cat", "/etc/apt/sources.list"]);
    assert!(sources.contains("deb [trusted=yes] file:/srv/prov-lab-repo ./"));
    assert!(exec_ok(&lab, "lab1", &["ls", "/srv/prov-lab-repo"]).contains("redis-server_"));
    // The apt lists are populated from the local repository (the corpus roles' packages are
    // installable without an update) and as fresh as the host (created moments ago)...
    let policy = exec_ok(&lab, "lab1", &["apt-cache", "policy", "nginx", "ntpsec"]);
    assert!(
        policy.contains("/srv/prov-lab-repo") && !policy.contains("Candidate: (none)"),
        "{policy}"
    );
    let mtime: u64 = exec_ok(&lab, "lab1", &["stat", "-c", "%Y", "/var/lib/apt/lists"])
        .trim()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        mtime + 600 > now && mtime <= now + 5,
        "apt lists mtime {mtime}, now {now}"
    );
    // ... and the playbook-style install from the local repository works offline, with
    // Debian's hardened redis unit (fails with 217/USER from a chroot instead of pivot_root).
    let t = Instant::now();
    exec_ok(&lab, "lab1", &["apt-get", "update", "-q"]);
    exec_ok(
        &lab,
        "lab1",
        &["apt-get", "install", "-y", "-q", "redis-server"],
    );
    eprintln!(
        "apt install redis-server: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let mut pong = String::new();
    for _ in 0..50 {
        pong = lab.exec("lab1", &["redis-cli", "ping"]).unwrap().stdout;
        if pong.trim() == "PONG" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pong.trim(), "PONG");
    assert_eq!(
        exec_ok(&lab, "lab1", &["systemctl", "is-active", "redis-server"]).trim(),
        "active"
    );
    assert!(
        !lab.exec("lab2", &["dpkg", "-s", "redis-server"])
            .unwrap()
            .success()
    );
    // deploy has passwordless sudo; kernel.*/fs.* sysctls are read-only, net.* writable.
    assert_eq!(
        exec_ok(&lab, "lab1", &["su", "deploy", "-c", "sudo -n id -u"]).trim(),
        "0"
    );
    assert!(
        !lab.exec(
            "lab1",
            &[
                "sh",
                "-c",
                "echo 4096 > /proc/sys/fs/inotify/max_user_instances"
            ]
        )
        .unwrap()
        .success()
    );
    exec_ok(&lab, "lab1", &["sysctl", "-w", "net.ipv4.ip_forward=1"]);
    // Hosts reach each other.
    exec_ok(
        &lab,
        "lab1",
        &["bash", "-c", "echo > /dev/tcp/10.77.0.12/22"],
    );

    // ----- client files -----
    let inv = std::fs::read_to_string(inv_dir.join("hosts.yml")).unwrap();
    let key = lab.private_key().display().to_string();
    assert!(inv.contains(&format!("ansible_ssh_private_key_file: \"{key}\"")));
    assert!(inv.contains("lab3: { ansible_host: 10.77.0.13 }"));
    assert!(lab.private_key().exists());
    let cfg = std::fs::read_to_string(lab.ssh_config()).unwrap();
    assert!(cfg.contains("Host lab2\n    HostName 10.77.0.12\n"));

    // ----- stop / start (disk kept) -----
    exec_ok(&lab, "lab2", &["sh", "-c", "echo kept > /root/marker"]);
    let old_pid = lab.host_pid("lab2").unwrap().unwrap();
    assert!(old_pid > 1);
    let t = Instant::now();
    lab.stop("lab2").unwrap();
    eprintln!("stop: {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(lab.host_pid("lab2").unwrap(), None);
    let st2 = lab.status().unwrap();
    assert_eq!(st2[1].state, HostState::Stopped);
    assert!(ssh_banner(st2[1].address, Duration::from_millis(800)).is_none());
    assert!(matches!(
        lab.exec("lab2", &["true"]),
        Err(LabError::NotRunning(_))
    ));
    let t = Instant::now();
    lab.start("lab2").unwrap();
    eprintln!("start: {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(
        exec_ok(&lab, "lab2", &["cat", "/root/marker"]).trim(),
        "kept"
    );
    assert_eq!(exec_ok(&lab, "lab2", &["cat", "/etc/machine-id"]), m2);
    assert!(ssh_banner(st2[1].address, Duration::from_secs(2)).is_some());

    // ----- reset (fresh disk, same keys; the other hosts keep running) -----
    let lab1_pid = lab.host_pid("lab1").unwrap();
    let rsa2 = rsa("lab2");
    let known = std::fs::read_to_string(lab.known_hosts()).unwrap();
    let t = Instant::now();
    lab.reset(&["lab2"]).unwrap();
    eprintln!("reset 1 host: {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(lab.host_pid("lab1").unwrap(), lab1_pid, "lab1 was touched");
    assert_ne!(lab.host_pid("lab2").unwrap(), Some(old_pid));
    assert!(
        !lab.exec("lab2", &["test", "-e", "/root/marker"])
            .unwrap()
            .success(),
        "the reset host kept its disk"
    );
    assert_ne!(exec_ok(&lab, "lab2", &["cat", "/etc/machine-id"]), m2);
    assert_eq!(rsa("lab2"), rsa2);
    assert_eq!(std::fs::read_to_string(lab.known_hosts()).unwrap(), known);
    assert!(ssh_banner(st2[1].address, Duration::from_secs(2)).is_some());
    assert!(matches!(
        lab.reset(&["lab9"]),
        Err(LabError::UnknownHost(_))
    ));

    // ----- cut / heal -----
    let a3 = lab.host_address("lab3").unwrap();
    lab.cut("lab3").unwrap();
    assert_eq!(lab.status().unwrap()[2].state, HostState::Cut);
    assert!(
        ssh_banner(a3, Duration::from_secs(1)).is_none(),
        "lab3 reachable while cut"
    );
    assert!(
        !lab.exec(
            "lab1",
            &[
                "timeout",
                "2",
                "bash",
                "-c",
                "echo > /dev/tcp/10.77.0.13/22"
            ]
        )
        .unwrap()
        .success(),
        "lab1 reaches lab3 while cut"
    );
    exec_ok(&lab, "lab3", &["true"]); // still running
    lab.heal("lab3").unwrap();
    assert_eq!(lab.status().unwrap()[2].state, HostState::Running);
    assert!(
        ssh_banner_until(a3, Duration::from_secs(5)).is_some(),
        "lab3 unreachable after heal"
    );

    // ----- idle memory (informational) -----
    std::thread::sleep(Duration::from_secs(1));
    let mem = lab.host_memory("lab1").unwrap();
    eprintln!("lab1 memory (PSS): {:.1} MiB", mem as f64 / 1048576.0);
    assert!(mem > 1024 * 1024);

    // ----- shrink -----
    let r = lab.up(2).unwrap();
    assert_eq!(r.removed, vec!["lab3"]);
    assert!(r.started.is_empty());
    assert_eq!(lab.hosts().unwrap(), vec!["lab1", "lab2"]);
    let inv = std::fs::read_to_string(inv_dir.join("hosts.yml")).unwrap();
    assert!(!inv.contains("lab3"));
    assert!(!Path::new("/sys/class/net/plab3").exists());

    // ----- down leaves nothing -----
    let t = Instant::now();
    lab.down(false).unwrap();
    eprintln!("down 2 hosts: {:.2}s", t.elapsed().as_secs_f64());
    assert_clean(&lab);
    assert!(!inv_dir.join("hosts.yml").exists());
    assert!(
        lab.state_dir().join("base/rootfs").exists(),
        "base cache kept"
    );

    // ----- re-up after down -----
    let r = lab.up(2).unwrap();
    assert_eq!(r.created.len(), 2);
    assert!(r.base_build.is_none());
    for h in lab.status().unwrap() {
        assert_eq!(h.state, HostState::Running);
        assert!(ssh_banner(h.address, Duration::from_secs(2)).is_some());
    }
    lab.down(false).unwrap();
    assert_clean(&lab);
    let _ = std::fs::remove_dir_all(&inv_dir);
}
