//! Variable precedence, variable origins, and connection variables (prov and Ansible names).

use std::path::{Path, PathBuf};

use prov_engine::EngineError;
use prov_engine::inventory::{ConnectionKind, Inventory};
use prov_engine::yaml::NoSecrets;
use serde_json::{Value, json};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(rel)
}

fn load(rel: &str) -> Inventory {
    match Inventory::load(&[fixture(rel)], &NoSecrets) {
        Ok(inv) => inv,
        Err(e) => panic!("loading {rel} failed: {e}"),
    }
}

/// 1-based (line, column) of `needle` in a fixture file.
fn position(rel: &str, needle: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(fixture(rel)).unwrap_or_default();
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return (i + 1, col + 1);
        }
    }
    panic!("`{needle}` not in {rel}");
}

#[test]
fn precedence_each_level_beats_the_one_below() {
    let inv = load("precedence/hosts.ini");
    let vars = inv.host_vars("h1");
    // pK is set at levels 1..=K, so level K must win.
    let levels = [
        "all-inv",
        "parent-inv",
        "child-inv",
        "all-file",
        "parent-file",
        "child-file",
        "host-inv",
        "host-file",
    ];
    for (k, expected) in levels.iter().enumerate() {
        let name = format!("p{}", k + 1);
        assert_eq!(vars.get(&name), Some(&json!(expected)), "{name}");
    }
    // h2 has no host-level variables: the child group's last group_vars file wins.
    let h2 = inv.host_vars("h2");
    assert_eq!(h2.get("p7"), Some(&json!("child-file")));
    assert_eq!(h2.get("p8"), Some(&json!("child-file")));
    assert_eq!(h2.get("p3"), Some(&json!("child-inv")));
}

#[test]
fn same_depth_groups_alphabetical_unless_priority() {
    let inv = load("precedence/hosts.ini");
    let vars = inv.host_vars("h1");
    assert_eq!(vars.get("sib"), Some(&json!("beta")));
    assert_eq!(vars.get("prio"), Some(&json!("gamma")));
    assert!(!vars.contains_key("ansible_group_priority"));
    assert_eq!(
        inv.group_names("h1"),
        ["alpha", "beta", "child", "delta", "gamma", "parent"]
    );
}

#[test]
fn variable_origins() {
    let inv = load("precedence/hosts.ini");
    let at = inv.var_origin("h1", "p8");
    assert_eq!(at.as_ref().map(|l| (l.line, l.column)), Some((1, 1)));
    assert!(at.is_some_and(|l| l.file.ends_with("host_vars/h1.yml")));
    let at = inv.var_origin("h1", "p7");
    assert_eq!(
        at.as_ref().map(|l| (l.line, l.column)),
        Some(position("precedence/hosts.ini", "p7=host-inv"))
    );
    let at = inv.var_origin("h2", "p3");
    assert_eq!(
        at.map(|l| (l.line, l.column)),
        Some(position("precedence/hosts.ini", "p3=child-inv"))
    );
    assert_eq!(
        inv.host_location("h1").map(|l| (l.line, l.column)),
        Some(position("precedence/hosts.ini", "h1 p7"))
    );
}

#[test]
fn connection_from_ansible_names() {
    let inv = load("aliases/hosts.yml");
    let c = match inv.connection("ansible_style") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.address, "10.77.0.11");
    assert_eq!(c.port, Some(2201));
    assert_eq!(c.user.as_deref(), Some("deploy"));
    assert_eq!(c.r#become, Some(true));
    assert_eq!(c.become_user.as_deref(), Some("postgres"));
    assert_eq!(c.become_password.as_deref(), Some("hunter2"));
    assert_eq!(c.private_key_file, Some(PathBuf::from("/keys/deploy")));
    assert_eq!(
        c.known_hosts_file,
        Some(PathBuf::from("/etc/prov/known_hosts"))
    );
    assert_eq!(c.connection, ConnectionKind::Ssh);
}

#[test]
fn short_names_are_ordinary_variables_never_connection_settings() {
    let inv = load("aliases/hosts.yml");
    let c = match inv.connection("short_names") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        (
            c.address.as_str(),
            c.port,
            c.user.as_deref(),
            c.r#become,
            c.become_user.as_deref(),
            c.connection
        ),
        (
            "short_names",
            None,
            Some("everyone"),
            None,
            None,
            ConnectionKind::Ssh
        )
    );
    assert_eq!(c.private_key_file, None);
    assert_eq!(c.known_hosts_file, None);

    let both = match inv.connection("both") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        (
            both.address.as_str(),
            both.port,
            both.user.as_deref(),
            both.r#become
        ),
        ("10.77.0.99", Some(9999), Some("ansible"), Some(false))
    );
}

#[test]
fn connection_defaults_local_and_ports_from_names() {
    let inv = load("aliases/hosts.yml");
    let plain = inv.connection("plain").ok();
    assert_eq!(plain.as_ref().map(|c| c.address.as_str()), Some("plain"));
    assert_eq!(
        plain.as_ref().and_then(|c| c.user.as_deref()),
        Some("everyone")
    );
    assert_eq!(plain.as_ref().and_then(|c| c.port), None);
    assert_eq!(plain.as_ref().and_then(|c| c.r#become), None);
    let local = inv.connection("local_one").ok();
    assert_eq!(local.map(|c| c.connection), Some(ConnectionKind::Local));
    let web1 = inv.connection("web1").ok();
    assert_eq!(web1.and_then(|c| c.port), Some(2200));
    // The implicit localhost is local and gets `all`'s variables.
    let lh = inv.connection("localhost").ok();
    assert_eq!(
        lh.as_ref().map(|c| c.connection),
        Some(ConnectionKind::Local)
    );
    assert_eq!(lh.and_then(|c| c.user), Some("everyone".to_owned()));
    assert!(inv.is_implicit_localhost("localhost"));
    assert!(!inv.hosts().contains(&"localhost".to_owned()));
}

#[test]
fn connection_errors_name_the_variable_and_its_location() {
    let inv = load("aliases/hosts.yml");
    match inv.connection("bad_port") {
        Err(EngineError::Invalid { at, message }) => {
            assert!(message.contains("ansible_port"), "{message}");
            assert_eq!(
                (at.line, at.column),
                position("aliases/hosts.yml", "ansible_port: not-a-port")
            );
        }
        other => panic!("expected an Invalid error, got {other:?}"),
    }
    assert!(matches!(
        inv.connection("nosuch"),
        Err(EngineError::Pattern { .. })
    ));
}

#[test]
fn ignored_ansible_variables_warn_once_with_location() {
    let inv = load("aliases/hosts.yml");
    let warnings = inv.warnings();
    let (line, col) = position("aliases/hosts.yml", "ansible_ssh_common_args");
    let hits: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("ansible_ssh_common_args"))
        .collect();
    assert_eq!(hits.len(), 1, "{warnings:?}");
    assert!(
        hits[0].contains(&format!("hosts.yml:{line}:{col}")),
        "{}",
        hits[0]
    );
    assert!(
        !warnings.iter().any(|w| w.contains("python")),
        "{warnings:?}"
    );
    // SSH passwords are not used, and the warning says what to do instead.
    let (line, col) = position("aliases/hosts.yml", "ansible_ssh_pass");
    let hits: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("ansible_ssh_pass"))
        .collect();
    assert_eq!(hits.len(), 1, "{warnings:?}");
    assert!(
        hits[0].contains(&format!("hosts.yml:{line}:{col}")) && hits[0].contains("keys"),
        "{}",
        hits[0]
    );
    // The variable itself is still visible to templates.
    assert_eq!(
        inv.host_vars("with_args").get("ansible_ssh_common_args"),
        Some(&Value::String("-o ProxyJump=bastion".into()))
    );
}
