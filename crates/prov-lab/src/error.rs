//! The error type of every lab operation.

use std::path::PathBuf;

/// Everything that can go wrong while managing the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The lab only works on Linux (namespaces, overlayfs, veth, bridges).
    #[error("prov lab needs Linux (network/mount/pid namespaces, overlayfs, bridges)")]
    NotLinux,
    /// The lab needs root privileges.
    #[error("prov lab must run as root (it creates namespaces, mounts and network devices)")]
    NotRoot,
    /// A required external program is not installed.
    #[error("required program `{program}` not found in PATH (install the `{package}` package)")]
    MissingTool {
        /// Program name.
        program: String,
        /// Debian package providing it.
        package: String,
    },
    /// An external command could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line (for display only).
        command: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external command exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line (for display only).
        command: String,
        /// Exit status description.
        status: String,
        /// Trimmed standard error (tail).
        stderr: String,
    },
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No Debian bookworm mirror was found in this machine's apt sources.
    #[error(
        "no `deb` source for suite `bookworm` found in /etc/apt/sources.list or /etc/apt/sources.list.d/ \
         (set PROV_LAB_MIRROR to a Debian mirror URL to override)"
    )]
    NoMirror,
    /// No cgroup2 hierarchy is mounted on the controller.
    #[error("no cgroup2 hierarchy mounted on this machine (needed for systemd in the hosts)")]
    NoCgroup2,
    /// A host name that is not part of the lab.
    #[error("unknown lab host `{0}` (expected one of the created hosts, e.g. lab1)")]
    UnknownHost(String),
    /// The host exists but is not running.
    #[error("lab host `{0}` is not running")]
    NotRunning(String),
    /// Invalid number of hosts.
    #[error("invalid number of hosts {0}: must be between 1 and {max}", max = crate::MAX_HOSTS)]
    BadHostCount(usize),
    /// A host failed to boot or become ready in time.
    #[error("lab host `{host}` did not become ready: {reason}")]
    Boot {
        /// Host name.
        host: String,
        /// What was observed (includes the tail of the host's console log).
        reason: String,
    },
    /// The state directory does not look like a lab state directory (refusing to purge it).
    #[error("{} is not a prov lab state directory (no .prov-lab marker); refusing to touch it", .0.display())]
    NotStateDir(PathBuf),
    /// The cached base was built by an incompatible version and hosts still use it.
    #[error("the cached base rootfs is outdated but hosts still use it: run `prov lab down` first")]
    StaleBase,
    /// Anything else, described in words.
    #[error("{0}")]
    Other(String),
}

impl LabError {
    /// Wraps an I/O error with the action and the path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
