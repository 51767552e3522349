//! Where the lab keeps its files inside the state directory.

use std::path::{Path, PathBuf};

/// Paths inside the lab state directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The state directory itself.
    pub(crate) root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Self {
        Layout { root }
    }
    /// Marker that identifies a lab state directory.
    pub(crate) fn marker(&self) -> PathBuf {
        self.root.join(".prov-lab")
    }
    /// Lock file serialising state changes.
    pub(crate) fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    /// Directory of the cached base rootfs.
    pub(crate) fn base_dir(&self) -> PathBuf {
        self.root.join("base")
    }
    /// The finished base rootfs (overlay lower layer).
    pub(crate) fn rootfs(&self) -> PathBuf {
        self.base_dir().join("rootfs")
    }
    /// The base rootfs while being built.
    pub(crate) fn rootfs_tmp(&self) -> PathBuf {
        self.base_dir().join("rootfs.tmp")
    }
    /// Marker: debootstrap finished in `rootfs_tmp`.
    pub(crate) fn debootstrap_ok(&self) -> PathBuf {
        self.base_dir().join("debootstrap.ok")
    }
    /// Marker: base finished; holds the base format version.
    pub(crate) fn base_ok(&self) -> PathBuf {
        self.base_dir().join("ok")
    }
    /// Scratch space for the controller-side apt run.
    pub(crate) fn apt_tmp(&self) -> PathBuf {
        self.root.join("apt-tmp")
    }
    /// The local apt repository (bind-mounted read-only into every host).
    pub(crate) fn repo(&self) -> PathBuf {
        self.root.join("repo")
    }
    /// The repository while being built.
    pub(crate) fn repo_tmp(&self) -> PathBuf {
        self.root.join("repo.tmp")
    }
    /// Marker: repository finished.
    pub(crate) fn repo_ok(&self) -> PathBuf {
        self.root.join("repo.ok")
    }
    /// The lab's private key (accepted by root and deploy on every host).
    pub(crate) fn private_key(&self) -> PathBuf {
        self.root.join("id_ed25519")
    }
    /// The lab's public key.
    pub(crate) fn public_key(&self) -> PathBuf {
        self.root.join("id_ed25519.pub")
    }
    /// known_hosts with every host's real key.
    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }
    /// OpenSSH client configuration for the hosts.
    pub(crate) fn ssh_config(&self) -> PathBuf {
        self.root.join("ssh_config")
    }
    /// The host pre-init script.
    pub(crate) fn preinit(&self) -> PathBuf {
        self.root.join("preinit.sh")
    }
    /// Directory holding every host's SSH host keys, one folder per host name (kept across
    /// `down`/`up`, removed by `down --purge`).
    pub(crate) fn host_keys_dir(&self) -> PathBuf {
        self.root.join("host-keys")
    }
    /// The SSH host keys of host `name`.
    pub(crate) fn host_keys(&self, name: &str) -> HostKeys {
        HostKeys {
            dir: self.host_keys_dir().join(name),
        }
    }
    /// Directory holding one folder per host.
    pub(crate) fn hosts_dir(&self) -> PathBuf {
        self.root.join("hosts")
    }
    /// The folder of host `name`.
    pub(crate) fn host(&self, name: &str) -> HostLayout {
        HostLayout {
            dir: self.hosts_dir().join(name),
        }
    }
}

/// Paths of one host.
#[derive(Debug, Clone)]
pub(crate) struct HostLayout {
    pub(crate) dir: PathBuf,
}

impl HostLayout {
    /// Overlay upper layer (the host's "disk").
    pub(crate) fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    /// Overlay work directory.
    pub(crate) fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// Mount point of the overlay root (mounted only inside the host's mount namespace).
    pub(crate) fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    /// Marker: host files were created.
    pub(crate) fn created(&self) -> PathBuf {
        self.dir.join("created")
    }
    /// Outer PID of the host's PID 1, written by the pre-init.
    pub(crate) fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }
    /// Marker: the host's network is cut.
    pub(crate) fn cut(&self) -> PathBuf {
        self.dir.join("cut")
    }
    /// Console output of the pre-init and systemd.
    pub(crate) fn console(&self) -> PathBuf {
        self.dir.join("console.log")
    }
}

/// The SSH host key types a stock Debian host has, in the order known_hosts lists them.
pub(crate) const HOST_KEY_TYPES: [&str; 3] = ["ed25519", "ecdsa", "rsa"];

/// Where one host's SSH host keys are kept.
#[derive(Debug, Clone)]
pub(crate) struct HostKeys {
    pub(crate) dir: PathBuf,
}

impl HostKeys {
    /// The private host key of type `kind` (`ssh_host_{kind}_key`, as in /etc/ssh).
    pub(crate) fn private(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("ssh_host_{kind}_key"))
    }
    /// The public host key of type `kind`.
    pub(crate) fn public(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("ssh_host_{kind}_key.pub"))
    }
}

/// True when `p` exists (without following a final symlink).
pub(crate) fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}
