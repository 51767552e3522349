//! The contracts every part of prov shares.
//!
//! * [`connection`]: how the engine and the modules reach a host (run a command, stream a file,
//!   open a TCP stream as seen from the host). Transports (`prov-transport`) implement it.
//! * [`module`]: the plan/apply contract every module follows (`prov-modules`).
//! * [`event`]: the one event stream a run produces; progress, recap, JSON and JUnit are sinks of it.
//! * [`redact`]: masking of secrets in everything shown to people or machines.
//! * [`quote`]: shell quoting for every remote command line; [`script`]: scripts built only
//!   from static text and quoted values ([`sh!`]).
//! * [`fact`]: remote state read by a probe script and its typed parser.
//! * [`diff`]: before/after content and its unified rendering.

pub mod connection;
pub mod diff;
pub mod event;
pub mod fact;
pub mod module;
pub mod quote;
pub mod redact;
pub mod script;
pub mod transfer;

pub use connection::{
    Become, BecomeMethod, CommandOutput, Connection, NodeStream, RemoteCommand, Stdin,
    TransportError,
};
pub use diff::Diff;
pub use event::{Event, EventSink, HostRecap, TaskResult, TaskStatus};
pub use fact::Fact;
pub use module::{
    Action, ArgError, Change, CheckMode, FactError, Failure, FileKind, FileSource, Module,
    ModuleContext, ModuleError, Outcome, Peers, Plan, PlanReport, RunScript,
};
pub use quote::quote;
pub use redact::Redactor;
pub use script::{Script, ToShell};
