//! `systemd` (and `systemd_service`): Ansible's systemd module, the one `service` drives on a
//! systemd host. Built by [`super::service`]; only `service`'s own arguments (`use`, and the
//! init-script ones `sleep`, `pattern`, `runlevel`, `arguments`) are refused here, as Ansible's
//! systemd module refuses them ("Unsupported parameters").

use prov_core::{Module, ModuleError};
use serde_json::Value;

/// The arguments only `service` takes.
const SERVICE_ONLY: [&str; 6] = ["use", "sleep", "pattern", "runlevel", "arguments", "args"];

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec =
    crate::ModuleSpec::new("systemd", build).aliases(&["systemd_service"]);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let given = |k: &&&str| args.as_object().is_some_and(|m| m.contains_key(**k));
    if let Some(k) = SERVICE_ONLY.iter().find(given) {
        return Err(ModuleError::arg(
            k,
            "unsupported parameter for systemd (an argument of the `service` module)",
        ));
    }
    super::service::build(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_only_arguments_are_refused() {
        let e = build(json!({"name": "x", "state": "restarted", "sleep": 5})).err();
        assert!(e.is_some_and(|e| e.to_string().contains("sleep")));
        assert!(build(json!({"name": "x", "use": "systemd"})).is_err());
        assert!(build(json!({"name": "x", "state": "restarted", "daemon_reload": true})).is_ok());
        let service = super::super::service::build;
        assert!(service(json!({"name": "x", "state": "restarted", "sleep": 5})).is_ok());
    }
}
