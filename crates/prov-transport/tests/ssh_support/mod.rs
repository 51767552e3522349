//! Test support: a private OpenSSH sshd on loopback, an ssh-agent, and the prov lab's files.
//!
//! Everything started here is killed by PID when its guard drops.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prov_transport::ssh::{HostKeyPolicy, SshParams};

pub const SSHD: &str = "/usr/sbin/sshd";
pub const LAB_DIR: &str = "/var/lib/prov-lab";
pub const LAB_KNOWN_HOSTS: &str = "/var/lib/prov-lab/known_hosts";
pub const LAB_KEY: &str = "/var/lib/prov-lab/id_ed25519";

/// True when running as root (sshd on loopback needs it to switch users).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs `ssh-keygen` with `args`, panicking with its stderr on failure.
pub fn keygen(args: &[&str]) -> String {
    let out = Command::new("ssh-keygen")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen (openssh-client) must be installed");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes a key pair `dir/name` of `kind` (ed25519, ecdsa, rsa) with passphrase `pass`.
pub fn make_key(dir: &Path, name: &str, kind: &str, pass: &str) -> PathBuf {
    let p = dir.join(name);
    let mut args = vec!["-q", "-t", kind, "-N", pass, "-C", name, "-f"];
    let ps = p.to_str().expect("utf8 path").to_owned();
    args.push(&ps);
    if kind == "rsa" {
        args.extend(["-b", "2048"]);
    }
    keygen(&args);
    p
}

/// The `type base64` part of a public key file.
pub fn pub_key_text(private: &Path) -> String {
    let text = std::fs::read_to_string(private.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", private.display())))
        .expect("public key file");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A free loopback TCP port (closed again, so something can bind it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A private sshd on 127.0.0.1.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub host_key: PathBuf,
    /// Client key authorized for root (ed25519, no passphrase).
    pub client_key: PathBuf,
    /// known_hosts with this sshd's host key.
    pub known_hosts: PathBuf,
    child: Child,
}

impl Sshd {
    /// Starts an sshd, or returns `None` (after printing why) when that is impossible here.
    pub fn start() -> Option<Sshd> {
        Self::start_with_keys(&[])
    }

    /// Starts an sshd that also accepts the given extra public keys for root.
    pub fn start_with_keys(extra_pub_keys: &[String]) -> Option<Sshd> {
        Self::start_with(extra_pub_keys, "")
    }

    /// Starts an sshd with extra public keys for root and extra sshd_config lines.
    pub fn start_with(extra_pub_keys: &[String], extra_config: &str) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            eprintln!("SKIP: {SSHD} not installed (apt-get install openssh-server)");
            return None;
        }
        if !is_root() {
            eprintln!("SKIP: loopback sshd tests need root");
            return None;
        }
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut dir = tempfile::tempdir().expect("tempdir");
        let host_key = make_key(dir.path(), "host_ed25519", "ed25519", "");
        let client_key = make_key(dir.path(), "client_ed25519", "ed25519", "");
        let mut auth = pub_key_text(&client_key);
        auth.push('\n');
        for k in extra_pub_keys {
            auth.push_str(k);
            auth.push('\n');
        }
        let auth_file = dir.path().join("authorized_keys");
        std::fs::write(&auth_file, auth).expect("authorized_keys");
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 PidFile none\n\
                 AuthorizedKeysFile {}\n\
                 StrictModes no\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\n\
                 UsePAM no\n\
                 AllowTcpForwarding yes\n\
                 MaxSessions 10\n\
                 MaxStartups 100:30:200\n\
                 LogLevel ERROR\n{extra_config}",
                auth_file.display()
            ),
        )
        .expect("sshd_config");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .arg("-p")
                .arg(port.to_string())
                .arg("-h")
                .arg(&host_key)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            let mut sshd = Sshd {
                known_hosts: dir.path().join("known_hosts"),
                dir,
                port,
                host_key: host_key.clone(),
                client_key: client_key.clone(),
                child,
            };
            let line = format!("[127.0.0.1]:{port} {}\n", pub_key_text(&host_key));
            std::fs::write(&sshd.known_hosts, line).expect("known_hosts");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // The port may have gone to another test's sshd in the meantime, ours then
                    // exits at once for want of it: answering is not enough, ours must be alive.
                    std::thread::sleep(Duration::from_millis(100));
                    if matches!(sshd.child.try_wait(), Ok(None)) {
                        return Some(sshd);
                    }
                    break;
                }
                if let Ok(Some(_)) = sshd.child.try_wait() {
                    break; // port taken in the meantime: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = sshd.child.kill();
            let _ = sshd.child.wait();
            dir = sshd.into_dir();
        }
        panic!("sshd did not start");
    }

    /// Stops the listening sshd (our child, by PID); sessions already open keep running.
    pub fn stop_listening(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn into_dir(mut self) -> tempfile::TempDir {
        // Replace with an empty one; the drop of `self` kills the (dead) child only.
        let empty = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, empty)
    }

    /// Parameters for root on this sshd with the client key and its known_hosts only.
    pub fn params(&self, host: &str) -> SshParams {
        let mut p = SshParams::new(host, "127.0.0.1")
            .with_port(self.port)
            .with_user("root")
            .with_identity_file(&self.client_key);
        p.known_hosts_files = vec![self.known_hosts.clone()];
        p.use_agent = false;
        p.host_key_policy = HostKeyPolicy::Strict;
        p.connect_timeout = Duration::from_secs(10);
        p
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Our own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private ssh-agent, killed by PID on drop.
pub struct Agent {
    pub socket: PathBuf,
    pid: u32,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start() -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let out = Command::new("ssh-agent")
            .arg("-s")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-agent (openssh-client) must be installed");
        assert!(out.status.success(), "ssh-agent failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let pid = text
            .split(';')
            .find_map(|part| part.trim().strip_prefix("SSH_AGENT_PID="))
            .and_then(|p| p.trim().parse().ok())
            .expect("SSH_AGENT_PID in ssh-agent output");
        Agent {
            socket,
            pid,
            _dir: dir,
        }
    }

    /// `ssh-add` a key file.
    pub fn add(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add");
        assert!(
            out.status.success(),
            "ssh-add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Lab host `n` (lab1 = 10.77.0.11, ...) as root with the lab key and known_hosts, or `None`
/// (after printing why) when the lab is not up.
pub fn lab_params(n: usize, user: &str) -> Option<SshParams> {
    if !Path::new(LAB_KNOWN_HOSTS).exists() {
        eprintln!("SKIP: prov lab is not up ({LAB_KNOWN_HOSTS} absent)");
        return None;
    }
    let mut p = SshParams::new(format!("lab{n}"), format!("10.77.0.{}", 10 + n))
        .with_user(user)
        .with_identity_file(LAB_KEY);
    p.known_hosts_files = vec![PathBuf::from(LAB_KNOWN_HOSTS)];
    p.use_agent = false;
    p.connect_timeout = Duration::from_secs(15);
    Some(p)
}

/// SHA-256 (hex) of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// SHA-256 (hex) of a file, streamed.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open");
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Writes `size` bytes of deterministic pseudo-random data to `path`.
pub fn write_big_file(path: &Path, size: usize, seed: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x = seed | 1;
    let mut left = size;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).expect("write");
        left -= n;
    }
    f.flush().expect("flush");
}

pub mod scenarios;
