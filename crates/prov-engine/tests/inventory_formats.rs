//! Inventory formats: YAML, INI, directories, files with group_vars next to them, several
//! sources, host lists, vault-encrypted sources; graph and list output.

use std::path::{Path, PathBuf};

use prov_engine::EngineError;
use prov_engine::inventory::Inventory;
use prov_engine::yaml::{NoSecrets, SecretResolver};
use serde_json::{Value, json};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(rel)
}

/// Test "vault": the payload after the header line, which must start with `plain:`.
struct TestSecrets;

impl SecretResolver for TestSecrets {
    fn is_encrypted(&self, text: &str) -> bool {
        text.trim_start().starts_with("$ANSIBLE_VAULT;")
    }
    fn decrypt(&self, text: &str, file: &Path) -> Result<String, EngineError> {
        let body = text
            .trim_start()
            .lines()
            .skip(1)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("\n");
        body.strip_prefix("plain:")
            .map(str::to_owned)
            .ok_or_else(|| EngineError::Vault {
                file: file.to_path_buf(),
                message: "bad test payload".into(),
            })
    }
}

fn load(rels: &[&str]) -> Inventory {
    let paths: Vec<PathBuf> = rels.iter().map(|r| fixture(r)).collect();
    match Inventory::load(&paths, &TestSecrets) {
        Ok(inv) => inv,
        Err(e) => panic!("loading {rels:?} failed: {e}"),
    }
}

fn var(inv: &Inventory, host: &str, name: &str) -> Value {
    inv.host_vars(host)
        .get(name)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn yaml_inventory() {
    let inv = load(&["yaml/hosts.yml"]);
    assert_eq!(
        inv.hosts(),
        [
            "bastion",
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
            "web-canary.example.com",
            "db1",
            "db2"
        ]
    );
    assert_eq!(
        inv.groups(),
        ["all", "ungrouped", "web", "db", "db_replicas", "prod"]
    );
    assert_eq!(
        var(&inv, "web-canary.example.com", "ansible_port"),
        json!(2222)
    );
    assert_eq!(var(&inv, "web-canary.example.com", "canary"), json!(true));
    assert_eq!(
        Value::Object(inv.host_vars("web02.example.com")),
        json!({"ntp_server": "ntp.example.com", "http_port": 8080})
    );
    assert_eq!(var(&inv, "db1", "ansible_user"), json!("postgres"));
    assert_eq!(var(&inv, "db2", "replica"), json!(true));
    assert_eq!(var(&inv, "bastion", "ansible_host"), json!("203.0.113.5"));
    assert_eq!(inv.group_names("db2"), ["db", "db_replicas", "prod"]);
    assert_eq!(inv.group_names("bastion"), ["ungrouped"]);
    let groups = Value::Object(inv.groups_map());
    assert_eq!(groups["ungrouped"], json!(["bastion"]));
    assert_eq!(groups["db"], json!(["db1", "db2"]));
    assert_eq!(
        groups["prod"],
        json!([
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
            "web-canary.example.com",
            "db1",
            "db2"
        ])
    );
    assert_eq!(groups["all"].as_array().map(Vec::len), Some(7));
    assert!(inv.warnings().is_empty(), "{:?}", inv.warnings());
}

#[test]
fn yaml_graph_like_ansible_inventory() {
    let inv = load(&["yaml/hosts.yml"]);
    let expected = "\
@all:
  |--@db:
  |  |--@db_replicas:
  |  |  |--db2
  |  |--db1
  |  |--db2
  |--@prod:
  |  |--@db:
  |  |  |--@db_replicas:
  |  |  |  |--db2
  |  |  |--db1
  |  |  |--db2
  |  |--@web:
  |  |  |--web-canary.example.com
  |  |  |--web01.example.com
  |  |  |--web02.example.com
  |  |  |--web03.example.com
  |--@ungrouped:
  |  |--bastion
  |--@web:
  |  |--web-canary.example.com
  |  |--web01.example.com
  |  |--web02.example.com
  |  |--web03.example.com";
    assert_eq!(inv.graph(), expected);
    assert_eq!(
        inv.graph_from("db").as_deref(),
        Some("@db:\n  |--@db_replicas:\n  |  |--db2\n  |--db1\n  |--db2")
    );
    assert_eq!(inv.graph_from("nosuch"), None);
}

#[test]
fn ini_inventory_and_value_parsing() {
    let inv = load(&["ini/hosts.ini"]);
    assert_eq!(
        inv.hosts(),
        [
            "bastion",
            "jump1",
            "web01.example.com",
            "web02.example.com",
            "web3.example.com",
            "db1",
            "db2"
        ]
    );
    assert_eq!(inv.group_names("bastion"), ["ungrouped"]);
    assert_eq!(inv.group_names("web3.example.com"), ["prod", "web"]);
    let w1 = "web01.example.com";
    // Host vars beat group vars.
    assert_eq!(var(&inv, w1, "http_port"), json!(80));
    assert_eq!(var(&inv, w1, "debug"), json!(true));
    assert_eq!(var(&inv, w1, "ratio"), json!(0.5));
    assert_eq!(var(&inv, w1, "name"), json!("hello world"));
    let w3 = "web3.example.com";
    assert_eq!(var(&inv, w3, "http_port"), json!(8080));
    assert_eq!(var(&inv, w3, "ansible_port"), json!(2222));
    assert_eq!(var(&inv, w3, "mode"), json!("0755"));
    assert_eq!(var(&inv, w3, "raw"), json!("0755"));
    assert_eq!(var(&inv, w3, "list"), json!(["a", "b"]));
    assert_eq!(var(&inv, w3, "empty"), json!(""));
    assert_eq!(var(&inv, w3, "secret"), json!("03#pa33w0rd"));
    assert_eq!(var(&inv, w3, "opts"), json!({"a": 1, "b": [true, null]}));
    assert_eq!(
        var(&inv, w3, "motd"),
        json!("Welcome to prov # not a literal, kept as text")
    );
    assert_eq!(var(&inv, w3, "env"), json!("production"));
    assert_eq!(var(&inv, "db2", "max_connections"), json!(100));
    assert_eq!(var(&inv, "db2", "env"), json!("production"));
    assert_eq!(var(&inv, "bastion", "ansible_host"), json!("203.0.113.5"));
    assert_eq!(var(&inv, "bastion", "env"), Value::Null);
}

#[test]
fn inventory_directory() {
    let inv = load(&["dir"]);
    // 01-hosts.yml, 02-more.ini, hosts, sub/nested.yaml; README.md, notes.txt, ansible.cfg skipped.
    assert_eq!(inv.hosts(), ["web1", "web2", "db1", "db2", "lb1", "mon1"]);
    assert_eq!(
        inv.groups(),
        ["all", "ungrouped", "web", "db", "lb", "edge", "monitoring"]
    );
    assert_eq!(var(&inv, "web2", "from_yaml"), json!("yes-yaml"));
    assert_eq!(var(&inv, "web2", "from_ini"), json!(2));
    // group_vars/all.yml, group_vars/web/ (folder, name order), db.json, lb (no extension),
    // host_vars/web1.yml, host_vars/db1/ (folder).
    assert_eq!(var(&inv, "web1", "level"), json!("web1-host"));
    assert_eq!(var(&inv, "web2", "level"), json!("web-20"));
    assert_eq!(var(&inv, "web2", "web_only"), json!(true));
    assert_eq!(var(&inv, "db1", "level"), json!("db1-b"));
    assert_eq!(
        (var(&inv, "db1", "a"), var(&inv, "db1", "b")),
        (json!(1), json!(2))
    );
    assert_eq!(var(&inv, "db2", "level"), json!("db-json"));
    assert_eq!(var(&inv, "db2", "port_db"), json!(5432));
    assert_eq!(var(&inv, "lb1", "level"), json!("lb-noext"));
    assert_eq!(var(&inv, "mon1", "level"), json!("all-file"));
    assert_eq!(var(&inv, "mon1", "dns"), json!("10.0.0.53"));
    assert_eq!(
        var(&inv, "web1", "not"),
        Value::Null,
        "group_vars/web/README.md must not load"
    );
    assert_eq!(inv.group_names("lb1"), ["edge", "lb"]);
    assert!(inv.warnings().is_empty(), "{:?}", inv.warnings());
}

#[test]
fn group_vars_next_to_an_inventory_file_and_vault_values() {
    let inv = load(&["file_vars/inventory.yml"]);
    assert_eq!(var(&inv, "solo", "region"), json!("eu"));
    assert_eq!(var(&inv, "solo", "secret"), json!("s3cret"));
    assert_eq!(var(&inv, "solo", "solo_var"), json!("here"));
    assert_eq!(var(&inv, "app1", "app_port"), json!(9000));
    assert_eq!(var(&inv, "solo", "app_port"), Value::Null);
    // Without a vault password the `!vault` value is an error.
    let err = Inventory::load(&[fixture("file_vars/inventory.yml")], &NoSecrets).err();
    assert!(matches!(err, Some(EngineError::Vault { .. })), "{err:?}");
}

#[test]
fn vault_encrypted_ini_file() {
    let inv = load(&["vault/hosts"]);
    assert_eq!(inv.hosts(), ["hidden1"]);
    assert_eq!(var(&inv, "hidden1", "token"), json!("abc"));
    assert_eq!(inv.group_names("hidden1"), ["secret_group"]);
}

#[test]
fn several_sources_merge_in_order() {
    let inv = load(&["multi/a.yml", "multi/b.ini"]);
    assert_eq!(inv.hosts(), ["web1", "web2", "db1"]);
    assert_eq!(var(&inv, "web1", "src"), json!("b"));
    assert_eq!(var(&inv, "web1", "only_a"), json!(1));
    assert_eq!(var(&inv, "web2", "gsrc"), json!("a"));
    assert_eq!(var(&inv, "web2", "from_group_vars"), json!(true));
    assert_eq!(var(&inv, "db1", "from_group_vars"), Value::Null);

    let both = load(&["yaml/hosts.yml", "dir"]);
    assert!(both.has_host("bastion") && both.has_host("lb1"));
    assert_eq!(var(&both, "web1", "dns"), json!("10.0.0.53"));
    assert_eq!(var(&both, "bastion", "dns"), json!("10.0.0.53"));
}

#[test]
fn host_list_source_and_empty_inventory() {
    let inv = match Inventory::load(&[PathBuf::from("h1, h2:2200,")], &NoSecrets) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(inv.hosts(), ["h1", "h2"]);
    assert_eq!(var(&inv, "h2", "ansible_port"), json!(2200));
    assert_eq!(inv.group_names("h1"), ["ungrouped"]);

    let empty = match Inventory::load(&[], &NoSecrets) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    assert!(empty.hosts().is_empty());
    assert_eq!(empty.groups(), ["all", "ungrouped"]);
    assert_eq!(empty.graph(), "@all:\n  |--@ungrouped:");
}

#[test]
fn list_json_like_ansible_inventory() {
    let inv = load(&["patterns/hosts.ini"]);
    let list = inv.to_list_json();
    assert_eq!(
        list["all"],
        json!({"children": ["ungrouped", "staging", "prod", "east", "empty"]})
    );
    assert_eq!(list["ungrouped"], json!({"hosts": ["solo"]}));
    assert_eq!(list["web"], json!({"hosts": ["web1", "web2", "web3"]}));
    assert_eq!(list["prod"], json!({"children": ["web", "db"]}));
    assert!(list.get("empty").is_none(), "empty groups are left out");
    assert_eq!(list["_meta"], json!({"hostvars": {}}));

    let inv = load(&["ini/hosts.ini"]);
    let list = inv.to_list_json();
    assert_eq!(
        list["_meta"]["hostvars"]["db2"],
        json!({"max_connections": 100, "env": "production"})
    );
    assert_eq!(
        inv.host_json("db2"),
        json!({"max_connections": 100, "env": "production"})
    );
    assert_eq!(inv.host_json("nosuch"), Value::Null);
}

#[test]
fn script_json_format_and_list_round_trip() {
    let inv = load(&["script/inventory.json"]);
    assert_eq!(inv.hosts(), ["web1", "web2", "db1"]);
    assert_eq!(var(&inv, "web1", "ansible_host"), json!("10.77.0.21"));
    assert_eq!(var(&inv, "web2", "http_port"), json!(8080));
    assert_eq!(var(&inv, "db1", "ansible_port"), json!(2222));
    assert_eq!(inv.group_names("db1"), ["db", "prod"]);

    // What `to_list_json` prints loads back as the same inventory.
    let original = load(&["ini/hosts.ini"]);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let file = dir.path().join("dump.json");
    let text = serde_json::to_string_pretty(&original.to_list_json()).unwrap_or_default();
    if let Err(e) = std::fs::write(&file, text) {
        panic!("{e}");
    }
    let again = match Inventory::load(&[file], &NoSecrets) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    let mut a = original.hosts();
    let mut b = again.hosts();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    for h in original.hosts() {
        assert_eq!(original.host_vars(&h), again.host_vars(&h), "{h}");
        assert_eq!(original.group_names(&h), again.group_names(&h), "{h}");
    }
}
