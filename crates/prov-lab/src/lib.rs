//! `prov lab`: real test hosts on this one Linux machine.
//!
//! Every host `lab{i}` is a set of namespaces (network, mount, pid, uts, ipc, cgroup) running
//! real systemd as its PID 1 on an overlayfs root: the lower layer is a Debian bookworm minbase
//! rootfs built once with debootstrap and cached in the state directory, the upper layer is the
//! host's own "disk" (kept across stop/start, removed on down). Hosts hang off the controller's
//! bridge `provlab0` (10.77.0.1/24) through a veth pair each; host `i` has address 10.77.0.(10+i)
//! and a fixed MAC. There is no route out: hosts reach only each other and the controller.
//!
//! A host may reboot itself (`systemctl reboot`, Ansible's `reboot`): its launcher boots it
//! again in the same network namespace (so its address stays; the running firewall is
//! forgotten, as a reboot forgets it), and every boot has its own `boot_id` (the kernel's is
//! shared by all hosts). `stop` is a hard power-off instead: the host's network goes with it.
//!
//! Each host runs sshd on port 22 with its own rsa, ecdsa and ed25519 host keys (as a stock
//! Debian host; generated once per host name and kept in the state directory) and accepts the lab
//! key pair (generated once in the state directory) for `root` and `deploy` (passwordless sudo).
//! The base has `python3` and `python3-apt` (as a stock Debian server; Ansible needs them). Its
//! only apt source is a read-only local repository holding the packages a fresh host lacks for
//! [`REPO_PACKAGES`] (Redis, and what the public roles of the Ansible corpus install: nginx,
//! memcached, fail2ban, ntpsec, unattended-upgrades..., and what other popular roles install:
//! apache2, mariadb, postgresql, php, git, haproxy, certbot, postfix...; none is preinstalled;
//! about 224 MB, a minute to fetch on a fast mirror). The apt lists
//! are populated from it in the base, and are as fresh as the host (the lists directory's mtime
//! is the host's creation time: an `update_cache` with `cache_valid_time` skips the update
//! within that window, as on a server updated at boot).
//!
//! `up` writes, in the state directory, the private key `id_ed25519`, `known_hosts` (the hosts'
//! real keys), `ssh_config`, and (when an inventory directory is given) `hosts.yml`:
//!
//! ```yaml
//! all:
//!   vars:
//!     ansible_user: root
//!     ansible_ssh_private_key_file: "/var/lib/prov-lab/id_ed25519"
//!     prov_known_hosts_file: "/var/lib/prov-lab/known_hosts"
//!     lab_network: 10.77.0.0/24
//!   children:
//!     lab:
//!       hosts:
//!         lab1: { ansible_host: 10.77.0.11 }
//! ```
//!
//! # Command line
//!
//! [`LabCommand`] is a clap subcommand enum (`up`, `down`, `status`, `ssh`, `exec`, `stop`,
//! `start`, `reset`, `cut`, `heal`); [`run`] executes one. The `prov` binary embeds it as `prov lab ...`.
//!
//! # Rust API (for test suites)
//!
//! ```no_run
//! use prov_lab::Lab;
//! # fn main() -> Result<(), prov_lab::LabError> {
//! let lab = Lab::open("/var/lib/prov-lab")?          // needs root on Linux
//!     .with_inventory_dir("/tmp/my-test/inventory"); // optional: writes hosts.yml there
//! let report = lab.up(3)?;                           // lab1..lab3 ready (sshd + systemd)
//! let out = lab.exec("lab1", &["systemctl", "is-system-running"])?; // nsenter, no SSH
//! assert!(out.success());
//! let pid = lab.host_pid("lab2")?;                   // Some(pid of its PID 1) when running
//! lab.stop("lab2")?;                                 // hard power-off (SIGKILL of PID 1)
//! lab.start("lab2")?;                                // boots again, same disk
//! lab.reset(&["lab2"])?;                             // fresh disk from the base, booted
//! lab.cut("lab3")?;                                  // network partition
//! lab.heal("lab3")?;
//! println!("{:?} {:?} {:?}", report.hosts, pid, lab.status()?);
//! lab.down(false)?;                                  // keeps the cached base
//! # Ok(()) }
//! ```
//!
//! Only one lab can run on a machine at a time (the bridge, cgroup and subnet are fixed).
//! Operations changing the lab hold a lock file in the state directory.

mod base;
mod cli;
mod cmd;
mod error;
mod files;
mod fsutil;
mod lab;
mod layout;

pub use base::{
    BASE_PACKAGES, DEPLOY_USER, HOST_REPO_DIR, Mirror, REPO_PACKAGES, SUITE, find_mirror,
};
pub use cli::{LabCommand, LabOpts, run};
pub use error::LabError;
pub use lab::{
    BRIDGE, CONTROLLER_ADDR, DEFAULT_STATE_DIR, ExecOutput, HostState, HostStatus, Lab, MAX_HOSTS,
    NETWORK, UpReport, host_address, host_index, host_name,
};
