//! Transports: how prov reaches a host.
//!
//! * [`local`]: runs tasks on the controller itself (`connection: local`).
//! * `ssh` (see its module docs): one persistent russh connection per host.

pub mod local;

pub use local::LocalConnection;
