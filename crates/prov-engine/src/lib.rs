//! prov's engine: inventories, playbooks, variables, templates, and the run itself.
//!
//! The engine never prints: it emits [`prov_core::Event`]s that sinks render. It never touches a
//! host except through a [`prov_core::Connection`] and the modules' plan/apply contract.

pub mod action;
pub mod engine_args;
pub mod error;
pub mod events;
pub mod facts;
pub mod inventory;
pub mod lint;
pub mod loops;
pub mod playbook;
pub mod project;
pub mod runner;
pub mod template;
pub mod yaml;

pub use error::{EngineError, Location};
