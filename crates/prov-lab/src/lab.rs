//! The lab itself: hosts as namespaces on this machine, their network, lifecycle and files.

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::chown;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::base::{self, DEPLOY_USER, HOST_REPO_DIR};
use crate::cmd::{Cmd, spawn_error, tail};
use crate::fsutil::{mkdirs, remove_file_if_exists, remove_tree, unmount_under, write_file};
use crate::layout::{HOST_KEY_TYPES, HostLayout, Layout, exists};
use crate::{LabError, files};

/// Default lab state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/prov-lab";
/// Name of the controller's bridge joining all hosts.
pub const BRIDGE: &str = "provlab0";
/// The lab network.
pub const NETWORK: &str = "10.77.0.0/24";
/// The controller's address on the lab network.
pub const CONTROLLER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Largest supported number of hosts.
pub const MAX_HOSTS: usize = 200;
/// Name of the cgroup (in the cgroup2 hierarchy) holding one child cgroup per host.
const CGROUP_PARENT: &str = "prov-lab";
/// Fixed MAC of the bridge (so hosts' neighbour entries never go stale).
const BRIDGE_MAC: &str = "02:77:0a:4d:00:01";
/// The embedded host pre-init script.
const PREINIT: &str = include_str!("preinit.sh");

/// Name of host number `i` (1-based): `lab{i}`.
pub fn host_name(i: usize) -> String {
    format!("lab{i}")
}

/// Index of a host name (`lab7` -> 7), if it is a valid lab host name.
pub fn host_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("lab")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: usize = digits.parse().ok()?;
    (1..=MAX_HOSTS).contains(&i).then_some(i)
}

/// Address of host number `i`: 10.77.0.(10+i).
pub fn host_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, (10 + i.min(MAX_HOSTS)) as u8)
}

/// Fixed MAC of host number `i`'s interface (embeds its address).
fn host_mac(i: usize) -> String {
    format!("02:77:0a:4d:00:{:02x}", 10 + i.min(MAX_HOSTS))
}

/// Controller-side veth of host number `i`.
fn veth_name(i: usize) -> String {
    format!("plab{i}")
}

/// Whether a host runs, is powered off, or runs with its network cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    /// Booted and connected.
    Running,
    /// Powered off (its disk, the overlay upper layer, is kept).
    Stopped,
    /// Running but partitioned from the network.
    Cut,
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostState::Running => "running",
            HostState::Stopped => "stopped",
            HostState::Cut => "cut",
        })
    }
}

/// One line of `prov lab status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    /// Host name (`lab1`).
    pub name: String,
    /// Its address on the lab network.
    pub address: Ipv4Addr,
    /// Its state.
    pub state: HostState,
    /// PID of its PID 1 as the controller sees it, when running.
    pub pid: Option<u32>,
}

/// What `up` did.
#[derive(Debug, Clone, Default)]
pub struct UpReport {
    /// All hosts of the lab after `up`, in order.
    pub hosts: Vec<String>,
    /// Hosts created by this call.
    pub created: Vec<String>,
    /// Hosts (re)booted by this call.
    pub started: Vec<String>,
    /// Hosts removed because the lab shrank.
    pub removed: Vec<String>,
    /// Time spent building the base rootfs, when it was built by this call.
    pub base_build: Option<Duration>,
    /// Total time of the call.
    pub elapsed: Duration,
    /// Where the inventory was written, if an inventory directory was set.
    pub inventory: Option<PathBuf>,
}

/// Output of a command run inside a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl ExecOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A handle on the lab kept in one state directory. See the crate documentation.
#[derive(Debug, Clone)]
pub struct Lab {
    layout: Layout,
    inventory_dir: Option<PathBuf>,
    progress: bool,
}

/// Holds the state directory's lock until dropped.
struct LockGuard {
    _file: fs::File,
}

impl Lab {
    /// Opens (creating if needed) the lab kept in `state_dir`.
    ///
    /// Fails when not on Linux, not root, or when `state_dir` is a non-empty directory that is
    /// not a lab state directory.
    pub fn open(state_dir: impl Into<PathBuf>) -> Result<Lab, LabError> {
        check_platform()?;
        let mut root: PathBuf = state_dir.into();
        if root.is_relative() {
            let cwd = std::env::current_dir().map_err(|e| LabError::io("read", ".", e))?;
            root = cwd.join(root);
        }
        let text = root.to_string_lossy();
        if text.contains([',', ':']) || text.chars().any(char::is_whitespace) {
            return Err(LabError::Other(format!(
                "state directory {text:?} must not contain ',', ':' or spaces (overlayfs options)"
            )));
        }
        let layout = Layout::new(root);
        if !exists(&layout.marker()) {
            if let Ok(mut rd) = fs::read_dir(&layout.root)
                && rd.next().is_some()
            {
                return Err(LabError::NotStateDir(layout.root.clone()));
            }
            mkdirs(&layout.root)?;
            crate::fsutil::set_mode(&layout.root, 0o700)?;
            write_file(
                &layout.marker(),
                b"prov lab state directory (see `prov lab --help`)\n",
                0o644,
            )?;
        }
        Ok(Lab {
            layout,
            inventory_dir: None,
            progress: false,
        })
    }

    /// Also writes (on `up`) and removes (on `down`) `DIR/hosts.yml`.
    pub fn with_inventory_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let mut d: PathBuf = dir.into();
        if d.is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            d = cwd.join(d);
        }
        self.inventory_dir = Some(d);
        self
    }

    /// Prints progress lines on standard error (the CLI turns this on).
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.layout.root
    }

    /// The lab's private key (accepted by `root` and `deploy` on every host).
    pub fn private_key(&self) -> PathBuf {
        self.layout.private_key()
    }

    /// The known_hosts file holding every host's real key (written by `up`).
    pub fn known_hosts(&self) -> PathBuf {
        self.layout.known_hosts()
    }

    /// The OpenSSH client configuration for the hosts (written by `up`).
    pub fn ssh_config(&self) -> PathBuf {
        self.layout.ssh_config()
    }

    /// The inventory file `up` writes, if an inventory directory was set.
    pub fn inventory_path(&self) -> Option<PathBuf> {
        self.inventory_dir.as_ref().map(|d| d.join("hosts.yml"))
    }

    /// The inventory (Ansible YAML shape) for the current hosts.
    pub fn inventory_yaml(&self) -> Result<String, LabError> {
        let hosts = self.host_indices()?;
        Ok(files::inventory_yaml(
            &self.layout.private_key(),
            &self.layout.known_hosts(),
            &hosts,
        ))
    }

    fn log(&self, msg: &str) {
        if self.progress {
            eprintln!("prov lab: {msg}");
        }
    }

    fn lock(&self) -> Result<LockGuard, LabError> {
        let path = self.layout.lock();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| LabError::io("open", &path, e))?;
        // SAFETY: flock on a file descriptor we own; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(LabError::io("lock", &path, std::io::Error::last_os_error()));
        }
        Ok(LockGuard { _file: file })
    }

    /// Builds the cached base rootfs and repository if needed; returns the build time if built.
    pub fn ensure_base(&self) -> Result<Option<Duration>, LabError> {
        let _g = self.lock()?;
        let hosts_exist = !self.host_indices()?.is_empty();
        base::ensure_base(&self.layout, hosts_exist, &|m| self.log(m))
    }

    /// Names of the created hosts (running or not), in index order.
    pub fn hosts(&self) -> Result<Vec<String>, LabError> {
        Ok(self.host_indices()?.into_iter().map(host_name).collect())
    }

    fn host_indices(&self) -> Result<Vec<usize>, LabError> {
        let dir = self.layout.hosts_dir();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LabError::io("read", &dir, e)),
        };
        let mut v: Vec<usize> = rd
            .flatten()
            .filter_map(|e| host_index(&e.file_name().to_string_lossy()))
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    fn index_of(&self, name: &str) -> Result<usize, LabError> {
        let i = host_index(name).ok_or_else(|| LabError::UnknownHost(name.to_string()))?;
        if !exists(&self.layout.host(name).created()) {
            return Err(LabError::UnknownHost(name.to_string()));
        }
        Ok(i)
    }

    /// Address of host `name`.
    pub fn host_address(&self, name: &str) -> Result<Ipv4Addr, LabError> {
        Ok(host_address(self.index_of(name)?))
    }

    /// PID (controller's view) of host `name`'s PID 1, or `None` when it is powered off.
    pub fn host_pid(&self, name: &str) -> Result<Option<u32>, LabError> {
        let i = self.index_of(name)?;
        Ok(self.alive_pid(i))
    }

    /// The host's PID 1 if it is alive (checked by its cgroup, so a reused PID never matches).
    fn alive_pid(&self, i: usize) -> Option<u32> {
        let name = host_name(i);
        let pid: u32 = fs::read_to_string(self.layout.host(&name).pid())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        pid_in_host(pid, &name).then_some(pid)
    }

    /// State of every created host.
    pub fn status(&self) -> Result<Vec<HostStatus>, LabError> {
        Ok(self
            .host_indices()?
            .into_iter()
            .map(|i| self.host_status(i))
            .collect())
    }

    fn host_status(&self, i: usize) -> HostStatus {
        let name = host_name(i);
        let pid = self.alive_pid(i);
        let state = match pid {
            None => HostState::Stopped,
            Some(_) if exists(&self.layout.host(&name).cut()) || !link_is_up(&veth_name(i)) => {
                HostState::Cut
            }
            Some(_) => HostState::Running,
        };
        HostStatus {
            name,
            address: host_address(i),
            state,
            pid,
        }
    }

    /// Brings the lab to `n` running, connected hosts `lab1..lab{n}`.
    ///
    /// Idempotent: running hosts are kept, missing ones created, stopped ones booted, cut ones
    /// healed, and hosts beyond `n` removed. Builds the base first if it is not cached. Returns
    /// once every host's sshd accepts TCP on port 22 and systemd reports running/degraded.
    pub fn up(&self, n: usize) -> Result<UpReport, LabError> {
        if n == 0 || n > MAX_HOSTS {
            return Err(LabError::BadHostCount(n));
        }
        let start = Instant::now();
        let _g = self.lock()?;
        let mut report = UpReport::default();
        let existing = self.host_indices()?;
        report.base_build =
            base::ensure_base(&self.layout, !existing.is_empty(), &|m| self.log(m))?;
        self.prepare_controller(n)?;
        let extra: Vec<usize> = existing.iter().copied().filter(|&i| i > n).collect();
        if !extra.is_empty() {
            self.log(&format!("removing {} host(s)", extra.len()));
            for &i in &extra {
                if let Some(pid) = self.alive_pid(i) {
                    kill(pid, libc::SIGKILL);
                }
            }
            parallel(&extra, |i| self.destroy(i))?;
            report.removed = extra.iter().map(|&i| host_name(i)).collect();
        }
        let key = files::ensure_lab_key(&self.layout)?;
        let lab_pub = fs::read_to_string(&key).map_err(|e| LabError::io("read", &key, e))?;
        // New hosts' SSH host keys first, several at once (RSA keys take a while).
        let new: Vec<usize> = (1..=n)
            .filter(|&i| !exists(&self.layout.host(&host_name(i)).created()))
            .collect();
        parallel(&new, |i| {
            files::ensure_host_keys(&self.layout, &host_name(i))
        })?;
        let mut to_start = Vec::new();
        for i in 1..=n {
            let name = host_name(i);
            if !exists(&self.layout.host(&name).created()) {
                self.create(i, lab_pub.trim())?;
                report.created.push(name.clone());
            }
            remove_file_if_exists(&self.layout.host(&name).cut())?;
            if self.alive_pid(i).is_none() {
                to_start.push(i);
            } else if !link_is_up(&veth_name(i)) {
                self.set_link(i, true)?;
            }
        }
        if !to_start.is_empty() {
            self.log(&format!(
                "booting {} host(s) ({:.1}s since start)",
                to_start.len(),
                start.elapsed().as_secs_f64()
            ));
        }
        self.boot(&to_start)?;
        report.started = to_start.iter().map(|&i| host_name(i)).collect();
        let all: Vec<usize> = (1..=n).collect();
        let t = Instant::now();
        self.wait_ready_all(&all, ready_timeout(n))?;
        self.log(&format!(
            "{n} host(s) ready (waited {:.1}s for sshd and systemd)",
            t.elapsed().as_secs_f64()
        ));
        files::write_client_files(&self.layout, &all)?;
        if let Some(path) = self.inventory_path() {
            files::write_inventory(&path, &self.layout, &all)?;
            report.inventory = Some(path);
        }
        report.hosts = all.into_iter().map(host_name).collect();
        report.elapsed = start.elapsed();
        Ok(report)
    }

    /// Removes every host, the bridge and the cgroups; with `purge` also the cached base, the
    /// repository, the lab key and the state directory itself.
    pub fn down(&self, purge: bool) -> Result<(), LabError> {
        let g = self.lock()?;
        // Hosts known by their folder, plus any whose folder vanished but whose cgroup remains.
        let mut indices = self.host_indices()?;
        if let Ok(root) = cgroup2_root()
            && let Ok(rd) = fs::read_dir(root.join(CGROUP_PARENT))
        {
            indices.extend(
                rd.flatten()
                    .filter_map(|e| host_index(&e.file_name().to_string_lossy())),
            );
        }
        indices.sort_unstable();
        indices.dedup();
        // Power everything off first (SIGKILL), then clean up in parallel.
        for &i in &indices {
            if let Some(pid) = self.alive_pid(i) {
                kill(pid, libc::SIGKILL);
            }
        }
        if !indices.is_empty() {
            self.log(&format!("removing {} host(s)", indices.len()));
        }
        parallel(&indices, |i| self.destroy(i))?;
        remove_tree(&self.layout.hosts_dir())?;
        if let Ok(root) = cgroup2_root() {
            remove_cgroup_tree(&root.join(CGROUP_PARENT))?;
        }
        // Controller-side veths of hosts whose folder vanished.
        if let Ok(rd) = fs::read_dir("/sys/class/net") {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.strip_prefix("p").and_then(host_index).is_some() {
                    let _ = Cmd::new("ip").args(["link", "del", &n]).output();
                }
            }
        }
        if link_exists(BRIDGE) {
            Cmd::new("ip").args(["link", "del", BRIDGE]).run()?;
        }
        remove_file_if_exists(&self.layout.known_hosts())?;
        remove_file_if_exists(&self.layout.ssh_config())?;
        if let Some(path) = self.inventory_path() {
            files::remove_inventory(&path)?;
        }
        unmount_under(&self.layout.root)?;
        if purge {
            self.log("purging the cached base, repository, lab key and host keys");
            let l = &self.layout;
            for d in [
                l.base_dir(),
                l.repo(),
                l.repo_tmp(),
                l.apt_tmp(),
                l.host_keys_dir(),
            ] {
                remove_tree(&d)?;
            }
            for f in [
                l.repo_ok(),
                l.private_key(),
                l.public_key(),
                l.preinit(),
                l.marker(),
                l.lock(),
            ] {
                remove_file_if_exists(&f)?;
            }
            drop(g);
            // Only removed when empty: never deletes anything the lab did not create.
            let _ = fs::remove_dir(&l.root);
        }
        Ok(())
    }

    /// Powers host `name` off (SIGKILL of its PID 1); its disk (upper layer) is kept.
    pub fn stop(&self, name: &str) -> Result<(), LabError> {
        let i = self.index_of(name)?;
        let _g = self.lock()?;
        self.power_off(i)
    }

    /// Powers host `name` on and waits until it is ready.
    pub fn start(&self, name: &str) -> Result<(), LabError> {
        let i = self.index_of(name)?;
        let _g = self.lock()?;
        if self.alive_pid(i).is_some() {
            return Ok(());
        }
        if !base::base_ready(&self.layout) {
            return Err(LabError::Other(
                "the base rootfs is missing: run `prov lab up` first".into(),
            ));
        }
        let n = self.host_indices()?.len();
        self.prepare_controller(n)?;
        self.boot(&[i])?;
        self.wait_ready_all(&[i], ready_timeout(1))
    }

    /// Gives hosts `names` a fresh disk: each is powered off, its disk (overlay upper layer) is
    /// recreated from the base exactly as `up` creates a new host (new machine-id; the same host
    /// keys, address and name), booted and waited for, while the other hosts keep running.
    /// Returns the time taken.
    pub fn reset(&self, names: &[&str]) -> Result<Duration, LabError> {
        let start = Instant::now();
        let mut indices = names
            .iter()
            .map(|n| self.index_of(n))
            .collect::<Result<Vec<usize>, LabError>>()?;
        indices.sort_unstable();
        indices.dedup();
        if indices.is_empty() {
            return Err(LabError::Other("reset: no host named".into()));
        }
        let _g = self.lock()?;
        if !base::base_ready(&self.layout) {
            return Err(LabError::Other(
                "the base rootfs is missing or outdated: run `prov lab up` first".into(),
            ));
        }
        let key = files::ensure_lab_key(&self.layout)?;
        let lab_pub = fs::read_to_string(&key).map_err(|e| LabError::io("read", &key, e))?;
        self.prepare_controller(self.host_indices()?.len())?;
        parallel(&indices, |i| self.power_off(i))?;
        for &i in &indices {
            self.create(i, lab_pub.trim())?;
        }
        self.boot(&indices)?;
        self.wait_ready_all(&indices, ready_timeout(indices.len()))?;
        // Host keys are kept per host name, so known_hosts stays valid; rewritten all the same.
        files::write_client_files(&self.layout, &self.host_indices()?)?;
        Ok(start.elapsed())
    }

    /// Partitions host `name` from the network (its bridge port goes down).
    pub fn cut(&self, name: &str) -> Result<(), LabError> {
        let i = self.index_of(name)?;
        let _g = self.lock()?;
        write_file(&self.layout.host(name).cut(), b"cut\n", 0o644)?;
        if link_exists(&veth_name(i)) {
            self.set_link(i, false)?;
        }
        Ok(())
    }

    /// Reconnects host `name` after [`Lab::cut`].
    pub fn heal(&self, name: &str) -> Result<(), LabError> {
        let i = self.index_of(name)?;
        let _g = self.lock()?;
        remove_file_if_exists(&self.layout.host(name).cut())?;
        if link_exists(&veth_name(i)) {
            self.set_link(i, true)?;
        }
        Ok(())
    }

    /// Runs `argv` inside host `name` (all its namespaces, via `nsenter`), without SSH.
    pub fn exec(&self, name: &str, argv: &[&str]) -> Result<ExecOutput, LabError> {
        self.exec_with_input(name, argv, None)
    }

    /// Like [`Lab::exec`], feeding `input` on standard input.
    pub fn exec_with_input(
        &self,
        name: &str,
        argv: &[&str],
        input: Option<&[u8]>,
    ) -> Result<ExecOutput, LabError> {
        let i = self.index_of(name)?;
        let pid = self
            .alive_pid(i)
            .ok_or_else(|| LabError::NotRunning(name.to_string()))?;
        if argv.is_empty() {
            return Err(LabError::Other("exec: empty command".into()));
        }
        let mut c = nsenter(pid).arg("--").args(argv);
        if let Some(data) = input {
            c = c.stdin(data.to_vec());
        }
        let out = c.output()?;
        Ok(ExecOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Waits until host `name` is ready (sshd accepts TCP, systemd running/degraded).
    pub fn wait_ready(&self, name: &str, timeout: Duration) -> Result<(), LabError> {
        let i = self.index_of(name)?;
        self.wait_ready_all(&[i], timeout)
    }

    /// Memory used by host `name`: the sum of the proportional set size of its processes.
    pub fn host_memory(&self, name: &str) -> Result<u64, LabError> {
        let _ = self.index_of(name)?;
        let cg = cgroup2_root()?.join(CGROUP_PARENT).join(name);
        let mut total = 0u64;
        for pid in cgroup_pids(&cg) {
            if let Ok(t) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
                for l in t.lines() {
                    if let Some(v) = l.strip_prefix("Pss:") {
                        let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                        total += kb * 1024;
                    }
                }
            }
        }
        Ok(total)
    }

    /// Replaces the current process with `ssh -F <lab ssh_config> NAME CMD...` (a convenience).
    pub fn ssh(&self, name: &str, command: &[String]) -> Result<(), LabError> {
        let _ = self.index_of(name)?;
        let cfg = self.layout.ssh_config();
        if !cfg.exists() {
            return Err(LabError::Other(
                "no lab ssh_config yet: run `prov lab up` first".into(),
            ));
        }
        let mut c = std::process::Command::new("ssh");
        c.arg("-F").arg(&cfg).arg(name).args(command);
        let e = c.exec();
        Err(spawn_error(
            "ssh",
            format!("ssh -F {} {name}", cfg.display()),
            e,
        ))
    }

    // ----- internals -----

    /// Writes the pre-init, raises the inotify limit and makes sure the bridge exists.
    fn prepare_controller(&self, n: usize) -> Result<(), LabError> {
        write_file(&self.layout.preinit(), PREINIT.as_bytes(), 0o755)?;
        raise_inotify_instances(256 + 8 * n)?;
        ensure_bridge()?;
        let cg = cgroup2_root()?.join(CGROUP_PARENT);
        mkdirs(&cg)
    }

    /// Creates host `i`'s files: upper layer with hostname, machine-id, host keys, authorized keys.
    fn create(&self, i: usize, lab_pub: &str) -> Result<(), LabError> {
        let name = host_name(i);
        let hl = self.layout.host(&name);
        remove_tree(&hl.dir)?;
        for d in [hl.upper(), hl.work(), hl.root()] {
            mkdirs(&d)?;
        }
        files::ensure_host_keys(&self.layout, &name)?;
        let lower = self.layout.rootfs();
        let up = Upper {
            lower: &lower,
            upper: hl.upper(),
        };
        up.write("etc/hostname", format!("{name}\n").as_bytes(), 0o644, 0, 0)?;
        let hosts = format!(
            "127.0.0.1\tlocalhost\n{}\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            host_address(i)
        );
        up.write("etc/hosts", hosts.as_bytes(), 0o644, 0, 0)?;
        up.write(
            "etc/machine-id",
            format!("{}\n", random_hex(16)?).as_bytes(),
            0o444,
            0,
            0,
        )?;
        let hk = self.layout.host_keys(&name);
        for kind in HOST_KEY_TYPES {
            let read = |p: PathBuf| fs::read(&p).map_err(|e| LabError::io("read", &p, e));
            let (key, key_pub) = (read(hk.private(kind))?, read(hk.public(kind))?);
            up.write(&format!("etc/ssh/ssh_host_{kind}_key"), &key, 0o600, 0, 0)?;
            up.write(
                &format!("etc/ssh/ssh_host_{kind}_key.pub"),
                &key_pub,
                0o644,
                0,
                0,
            )?;
        }
        let auth = format!("{lab_pub}\n");
        up.write("root/.ssh/authorized_keys", auth.as_bytes(), 0o600, 0, 0)?;
        let (uid, gid) = passwd_ids(&lower, DEPLOY_USER)?;
        up.write(
            &format!("home/{DEPLOY_USER}/.ssh/authorized_keys"),
            auth.as_bytes(),
            0o600,
            uid,
            gid,
        )?;
        // The apt lists (populated in the base) are as fresh as on a server whose `apt-get
        // update` ran when it booted: a role's `update_cache` with `cache_valid_time` skips the
        // update (check mode predicts no change), as on such a server, whatever the base's age.
        let lists = up.dirs(Path::new("var/lib/apt/lists"), 0, 0)?;
        crate::fsutil::set_mtime(&lists, std::time::SystemTime::now())?;
        write_file(&hl.created(), b"created\n", 0o644)
    }

    /// Powers off and deletes host `i` (disk included).
    fn destroy(&self, i: usize) -> Result<(), LabError> {
        self.power_off(i)?;
        remove_tree(&self.layout.host(&host_name(i)).dir)
    }

    /// SIGKILLs host `i`'s PID 1 and cleans its veth and cgroup.
    fn power_off(&self, i: usize) -> Result<(), LabError> {
        let name = host_name(i);
        let cg = cgroup2_root()?.join(CGROUP_PARENT).join(&name);
        if let Some(pid) = self.alive_pid(i) {
            kill(pid, libc::SIGKILL);
        }
        // The whole pid namespace dies with its PID 1; anything else in the cgroup too
        // (cgroup.kill where the kernel has it, SIGKILL of each listed PID otherwise).
        let _ = fs::write(cg.join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = cgroup_pids(&cg);
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(LabError::Other(format!(
                    "{name}: processes {pids:?} survive SIGKILL"
                )));
            }
            for p in pids {
                kill(p, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_cgroup_tree(&cg)?;
        release_netns(&self.layout.host(&name).dir);
        let veth = veth_name(i);
        // The veth pair dies with the network namespace, asynchronously; make sure it is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while link_exists(&veth) {
            let _ = Cmd::new("ip").args(["link", "del", &veth]).output();
            if Instant::now() > deadline {
                return Err(LabError::Other(format!("{name}: cannot delete {veth}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_file_if_exists(&self.layout.host(&name).pid())
    }

    /// Boots the given hosts: spawns all pre-inits, then wires their network in parallel.
    fn boot(&self, indices: &[usize]) -> Result<(), LabError> {
        for &i in indices {
            self.launch(i)?;
        }
        parallel(indices, |i| self.wire(i))
    }

    /// Starts host `i`'s pre-init, detached (`setsid -f`), console to its console.log.
    fn launch(&self, i: usize) -> Result<(), LabError> {
        let name = host_name(i);
        let hl = self.layout.host(&name);
        remove_file_if_exists(&hl.pid())?;
        let veth = veth_name(i);
        if link_exists(&veth) {
            let _ = Cmd::new("ip").args(["link", "del", &veth]).output();
        }
        let cg = cgroup2_root()?.join(CGROUP_PARENT).join(&name);
        remove_cgroup_tree(&cg)?;
        mkdirs(&cg)?;
        mkdirs(&hl.root())?;
        let console =
            fs::File::create(hl.console()).map_err(|e| LabError::io("create", hl.console(), e))?;
        let console2 = console
            .try_clone()
            .map_err(|e| LabError::io("open", hl.console(), e))?;
        let c = Cmd::new("setsid")
            .arg("-f")
            .arg("/bin/sh")
            .arg(self.layout.preinit())
            .arg("launch")
            .arg(&cg)
            .arg(&hl.dir)
            .arg(self.layout.rootfs())
            .arg(self.layout.repo())
            .arg(HOST_REPO_DIR);
        let display = c.display();
        let mut command = c.command();
        keep_no_inherited_fds(&mut command);
        let status = command
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console2)
            .status()
            .map_err(|e| spawn_error("setsid", display.clone(), e))?;
        if !status.success() {
            return Err(LabError::Boot {
                host: name,
                reason: format!("`{display}` failed: {status}"),
            });
        }
        Ok(())
    }

    /// Waits for host `i`'s PID, then gives it its veth, MAC and address.
    fn wire(&self, i: usize) -> Result<(), LabError> {
        let name = host_name(i);
        let hl = self.layout.host(&name);
        let deadline = Instant::now() + Duration::from_secs(15);
        let pid = loop {
            if let Some(pid) = self.alive_pid(i) {
                break pid;
            }
            if Instant::now() > deadline {
                return Err(boot_error(&hl, &name, "the pre-init did not start"));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // The `unshare` parent stays outside the pid namespace; move it out of the host's
        // cgroup so the host's cgroup namespace root holds only the host's own processes.
        if let Some(ppid) = parent_pid(pid)
            && fs::read(format!("/proc/{ppid}/cmdline")).is_ok_and(|c| c.starts_with(b"unshare\0"))
        {
            let procs = cgroup2_root()?.join(CGROUP_PARENT).join("cgroup.procs");
            fs::write(&procs, ppid.to_string()).map_err(|e| LabError::io("write", &procs, e))?;
        }
        let veth = veth_name(i);
        let pid_s = pid.to_string();
        let mac = host_mac(i);
        let addr = host_address(i);
        // Controller side in one `ip` run: veth pair (host end moved into the host's netns with
        // its fixed MAC), bridge port, link state, and no stale neighbour entry.
        let mut batch = format!(
            "link add {veth} type veth peer name eth0 address {mac} netns {pid_s}\n\
             link set dev {veth} master {BRIDGE}\n"
        );
        if !exists(&hl.cut()) {
            batch.push_str(&format!("link set dev {veth} up\n"));
        }
        batch.push_str(&format!("neigh flush to {addr} dev {BRIDGE}\n"));
        Cmd::new("ip").args(["-batch", "-"]).stdin(batch).run()?;
        let batch = format!("link set lo up\naddr add {addr}/24 dev eth0\nlink set eth0 up\n");
        nsenter_net(pid)
            .args(["ip", "-batch", "-"])
            .stdin(batch)
            .run()?;
        Ok(())
    }

    /// Takes host `i`'s bridge port up or down (and forgets the controller's stale neighbour).
    fn set_link(&self, i: usize, up: bool) -> Result<(), LabError> {
        let batch = format!(
            "link set dev {} {}\nneigh flush to {} dev {BRIDGE}\n",
            veth_name(i),
            if up { "up" } else { "down" },
            host_address(i)
        );
        Cmd::new("ip").args(["-batch", "-"]).stdin(batch).run()?;
        Ok(())
    }

    /// Waits (in parallel) until every given host is ready.
    fn wait_ready_all(&self, indices: &[usize], timeout: Duration) -> Result<(), LabError> {
        let deadline = Instant::now() + timeout;
        let errors: Mutex<Vec<LabError>> = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for &i in indices {
                let errors = &errors;
                s.spawn(move || {
                    if let Err(e) = self.wait_one(i, deadline)
                        && let Ok(mut v) = errors.lock()
                    {
                        v.push(e);
                    }
                });
            }
        });
        match errors.into_inner() {
            Ok(mut v) if !v.is_empty() => Err(v.remove(0)),
            _ => Ok(()),
        }
    }

    fn wait_one(&self, i: usize, deadline: Instant) -> Result<(), LabError> {
        let name = host_name(i);
        let hl = self.layout.host(&name);
        let sa = SocketAddr::from((host_address(i), 22));
        loop {
            let Some(pid) = self.alive_pid(i) else {
                return Err(boot_error(&hl, &name, "the host's PID 1 exited"));
            };
            let cut = exists(&hl.cut());
            let last = if cut || TcpStream::connect_timeout(&sa, Duration::from_millis(300)).is_ok()
            {
                let out = nsenter(pid)
                    .args(["systemctl", "is-system-running"])
                    .output()?;
                let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
                match state.as_str() {
                    "running" => return Ok(()),
                    "degraded" => {
                        let failed = nsenter(pid)
                            .args(["systemctl", "--failed", "--plain", "--no-legend"])
                            .output()
                            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                            .unwrap_or_default();
                        self.log(&format!("{name} is degraded: {failed}"));
                        return Ok(());
                    }
                    _ => format!("sshd is up, systemd is {state:?}"),
                }
            } else {
                "sshd does not accept TCP on port 22 yet".to_string()
            };
            if Instant::now() > deadline {
                return Err(boot_error(&hl, &name, &format!("timed out ({last})")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs `f` for every index on up to four threads; returns the first error.
fn parallel<F>(indices: &[usize], f: F) -> Result<(), LabError>
where
    F: Fn(usize) -> Result<(), LabError> + Sync,
{
    let next = AtomicUsize::new(0);
    let errors: Mutex<Vec<LabError>> = Mutex::new(Vec::new());
    let workers = indices.len().clamp(1, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(&i) = indices.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if let Err(e) = f(i)
                        && let Ok(mut v) = errors.lock()
                    {
                        v.push(e);
                    }
                }
            });
        }
    });
    match errors.into_inner() {
        Ok(mut v) if !v.is_empty() => Err(v.remove(0)),
        _ => Ok(()),
    }
}

/// Time allowed for `n` hosts to become ready.
fn ready_timeout(n: usize) -> Duration {
    Duration::from_secs(60) + Duration::from_millis(300 * n as u64)
}

/// A boot error carrying the tail of the host's console.
fn boot_error(hl: &HostLayout, name: &str, what: &str) -> LabError {
    let console = fs::read_to_string(hl.console()).unwrap_or_default();
    let console = console.trim();
    let reason = if console.is_empty() {
        what.to_string()
    } else {
        format!("{what}; console:\n{}", tail(console, 2000))
    };
    LabError::Boot {
        host: name.to_string(),
        reason,
    }
}

/// `nsenter` into all namespaces of `pid` (root and working directory included).
fn nsenter(pid: u32) -> Cmd {
    Cmd::new("nsenter")
        .arg("-t")
        .arg(pid.to_string())
        .args(["-a", "-r", "-w"])
}

/// `nsenter` into the network namespace of `pid` only (controller's tools).
fn nsenter_net(pid: u32) -> Cmd {
    Cmd::new("nsenter")
        .arg("-t")
        .arg(pid.to_string())
        .args(["-n", "--"])
}

/// Fails unless on Linux as root.
fn check_platform() -> Result<(), LabError> {
    if !cfg!(target_os = "linux") {
        return Err(LabError::NotLinux);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    Ok(())
}

/// Sends `sig` to `pid` (errors such as "no such process" are ignored).
fn kill(pid: u32, sig: libc::c_int) {
    if let Ok(p) = libc::pid_t::try_from(pid)
        && p > 1
    {
        // SAFETY: plain syscall on a PID of a lab host process.
        unsafe {
            libc::kill(p, sig);
        }
    }
}

/// True when `pid` is a live (non-zombie) process in host `name`'s cgroup.
fn pid_in_host(pid: u32, name: &str) -> bool {
    let Ok(cg) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return false;
    };
    let want = format!("/{CGROUP_PARENT}/{name}");
    let in_host = cg.lines().any(|l| {
        l.strip_prefix("0::")
            .is_some_and(|p| p == want || p.starts_with(&format!("{want}/")))
    });
    if !in_host {
        return false;
    }
    // State is the field after the parenthesised command name.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|k| s[k + 1..].split_whitespace().next().map(str::to_string))
        })
        .is_some_and(|st| st != "Z" && st != "X")
}

/// Parent PID of `pid`.
fn parent_pid(pid: u32) -> Option<u32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Mount point of the controller's cgroup2 hierarchy (`/sys/fs/cgroup` or `.../unified`).
pub(crate) fn cgroup2_root() -> Result<PathBuf, LabError> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| LabError::io("read", "/proc/self/mountinfo", e))?;
    let mut found: Vec<PathBuf> = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split(' ').next() == Some("cgroup2")
            && let Some(mp) = left.split(' ').nth(4)
        {
            found.push(PathBuf::from(mp));
        }
    }
    for pref in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        if let Some(p) = found.iter().find(|p| p.as_path() == Path::new(pref)) {
            return Ok(p.clone());
        }
    }
    found.into_iter().next().ok_or(LabError::NoCgroup2)
}

/// PIDs in cgroup `dir` and all its descendants.
fn cgroup_pids(dir: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(t) = fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(t.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    out
}

/// Removes cgroup `dir` and its descendants (deepest first), retrying while they drain.
/// Lets go of the network namespaces a host's launcher keeps in its folder (`netns.PID`). The
/// launcher does it itself once the host's PID 1 is gone; this does it at once, so that the
/// folder can be removed right after a power-off.
fn release_netns(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with("netns.") {
            let _ = Cmd::new("umount").arg("-l").arg(e.path()).output();
            let _ = fs::remove_file(e.path());
        }
    }
}

fn remove_cgroup_tree(dir: &Path) -> Result<(), LabError> {
    if !dir.exists() {
        return Ok(());
    }
    let mut dirs = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
        dirs.push(d);
    }
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    let deadline = Instant::now() + Duration::from_secs(5);
    for d in dirs {
        loop {
            match fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => {
                    if Instant::now() > deadline {
                        return Err(LabError::io("remove cgroup", &d, e));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    Ok(())
}

/// True when network device `name` exists in the controller's namespace.
fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// True when network device `name` exists and is administratively up.
fn link_is_up(name: &str) -> bool {
    fs::read_to_string(Path::new("/sys/class/net").join(name).join("flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|f| f & 1 == 1)
}

/// Creates the lab bridge with its fixed MAC and the controller's address, if missing.
fn ensure_bridge() -> Result<(), LabError> {
    if !link_exists(BRIDGE) {
        Cmd::new("ip")
            .args([
                "link", "add", "name", BRIDGE, "address", BRIDGE_MAC, "type", "bridge",
            ])
            .args(["forward_delay", "0", "stp_state", "0"])
            .run()?;
    }
    let out = Cmd::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", BRIDGE])
        .run()?;
    let want = format!("{CONTROLLER_ADDR}/24");
    if !String::from_utf8_lossy(&out.stdout).contains(&want) {
        Cmd::new("ip")
            .args(["addr", "add", &want, "dev", BRIDGE])
            .run()?;
    }
    if !link_is_up(BRIDGE) {
        Cmd::new("ip")
            .args(["link", "set", "dev", BRIDGE, "up"])
            .run()?;
    }
    Ok(())
}

/// Raises fs.inotify.max_user_instances to at least `want` (systemd hosts use several each).
fn raise_inotify_instances(want: usize) -> Result<(), LabError> {
    let path = Path::new("/proc/sys/fs/inotify/max_user_instances");
    let cur: usize = fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if cur < want {
        fs::write(path, format!("{want}\n")).map_err(|e| LabError::io("write", path, e))?;
    }
    Ok(())
}

/// `n` random bytes from the kernel, hex-encoded.
fn random_hex(n: usize) -> Result<String, LabError> {
    let mut buf = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| LabError::io("read", "/dev/urandom", e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// uid and gid of `user` in `root`/etc/passwd.
fn passwd_ids(root: &Path, user: &str) -> Result<(u32, u32), LabError> {
    let path = root.join("etc/passwd");
    let text = fs::read_to_string(&path).map_err(|e| LabError::io("read", &path, e))?;
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == user)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
        .ok_or_else(|| LabError::Other(format!("user {user} missing from {}", path.display())))
}

/// Writes files into an overlay upper layer while the overlay is not mounted.
struct Upper<'a> {
    lower: &'a Path,
    upper: PathBuf,
}

impl Upper<'_> {
    /// Writes `rel` with `mode`/`uid`/`gid`; missing parent directories copy the lower layer's
    /// owner and mode (or take `uid`/`gid` with 0700 when the lower layer lacks them).
    fn write(&self, rel: &str, data: &[u8], mode: u32, uid: u32, gid: u32) -> Result<(), LabError> {
        let rel = Path::new(rel);
        if let Some(parent) = rel.parent() {
            self.dirs(parent, uid, gid)?;
        }
        let p = self.upper.join(rel);
        write_file(&p, data, mode)?;
        chown(&p, Some(uid), Some(gid)).map_err(|e| LabError::io("chown", &p, e))
    }

    /// Creates directory `rel` and its missing parents in the upper layer (each copying the
    /// lower layer's owner and mode, or `uid`/`gid` with 0700); returns its upper path. The
    /// merged directory then shows the upper one's mtime.
    fn dirs(&self, rel: &Path, uid: u32, gid: u32) -> Result<PathBuf, LabError> {
        use std::os::unix::fs::MetadataExt;
        let mut prefix = PathBuf::new();
        for comp in rel.components() {
            prefix.push(comp);
            let u = self.upper.join(&prefix);
            if exists(&u) {
                continue;
            }
            let (m, o, g) = match fs::metadata(self.lower.join(&prefix)) {
                Ok(md) if md.is_dir() => (md.mode() & 0o7777, md.uid(), md.gid()),
                _ => (0o700, uid, gid),
            };
            fs::create_dir(&u).map_err(|e| LabError::io("create directory", &u, e))?;
            chown(&u, Some(o), Some(g)).map_err(|e| LabError::io("chown", &u, e))?;
            crate::fsutil::set_mode(&u, m)?;
        }
        Ok(self.upper.join(rel))
    }
}

/// Makes `command` close, at exec, every descriptor above stderr that this process inherited
/// without close-on-exec. A host outlives the `prov lab` that starts it: a descriptor passed
/// down to its launcher, such as the lock of `flock FILE prov lab up`, would stay open (and the
/// lock held) for as long as the host runs.
fn keep_no_inherited_fds(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure makes one async-signal-safe system call (close_range with
    // CLOSE_RANGE_CLOEXEC, Linux 5.11) between fork and exec; on an older kernel (ENOSYS) the
    // descriptors are left as they are.
    unsafe {
        command.pre_exec(|| {
            let rc = libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            let err = std::io::Error::last_os_error();
            if rc == 0 || err.raw_os_error() == Some(libc::ENOSYS) {
                Ok(())
            } else {
                Err(err)
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor inherited without close-on-exec (as `flock FILE prov lab up` passes its
    /// lock) reaches a plain child but not one prepared by `keep_no_inherited_fds`.
    #[test]
    fn launched_processes_do_not_keep_inherited_descriptors() {
        use std::os::fd::AsRawFd as _;
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = file.as_raw_fd();
        // SAFETY: clears FD_CLOEXEC on a descriptor this test owns.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
        let open_in_child = |prepared: bool| {
            let mut c = std::process::Command::new("sh");
            c.arg("-c").arg(format!("test -e /proc/self/fd/{fd}"));
            if prepared {
                keep_no_inherited_fds(&mut c);
            }
            c.status().unwrap().success()
        };
        assert!(open_in_child(false), "the test's descriptor is inherited");
        assert!(!open_in_child(true));
    }

    #[test]
    fn names_addresses_macs() {
        assert_eq!(host_name(3), "lab3");
        assert_eq!(host_index("lab3"), Some(3));
        assert_eq!(host_index("lab03"), None);
        assert_eq!(host_index("lab0"), None);
        assert_eq!(host_index("lab"), None);
        assert_eq!(host_index("labx"), None);
        assert_eq!(host_index(&format!("lab{}", MAX_HOSTS + 1)), None);
        assert_eq!(host_address(1), Ipv4Addr::new(10, 77, 0, 11));
        assert_eq!(host_address(MAX_HOSTS), Ipv4Addr::new(10, 77, 0, 210));
        assert_eq!(host_mac(1), "02:77:0a:4d:00:0b");
        assert_ne!(host_mac(1), BRIDGE_MAC);
        assert!(veth_name(MAX_HOSTS).len() <= 15);
    }

    #[test]
    fn preinit_is_embedded() {
        assert!(PREINIT.contains("pivot_root . ."));
        assert!(PREINIT.contains("container=prov-lab"));
    }

    #[test]
    fn upper_copies_lower_directory_metadata() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: chown needs root");
            return;
        }
        let base = std::env::temp_dir().join(format!("prov-lab-upper-{}", std::process::id()));
        let lower = base.join("lower");
        fs::create_dir_all(lower.join("root")).unwrap();
        fs::set_permissions(lower.join("root"), fs::Permissions::from_mode(0o700)).unwrap();
        let up = Upper {
            lower: &lower,
            upper: base.join("upper"),
        };
        fs::create_dir_all(&up.upper).unwrap();
        up.write("root/.ssh/authorized_keys", b"k\n", 0o600, 0, 0)
            .unwrap();
        let m = fs::metadata(base.join("upper/root")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o700);
        let m = fs::metadata(base.join("upper/root/.ssh")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o700);
        assert_eq!(
            fs::read(base.join("upper/root/.ssh/authorized_keys")).unwrap(),
            b"k\n"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
