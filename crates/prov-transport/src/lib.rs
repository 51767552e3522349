//! Transports: how prov reaches a host.
//!
//! * [`local`]: runs tasks on the controller itself (`connection: local`).
//! * [`ssh`]: one persistent russh connection per host.

pub mod local;
pub mod ssh;

pub use local::LocalConnection;
pub use ssh::{HostKeyPolicy, SshConnection, SshParams};
