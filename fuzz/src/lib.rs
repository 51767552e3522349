//! Fuzz targets for prov's parsers, as plain functions over bytes.
//!
//! Each `fuzz_targets/NAME.rs` calls [`NAME`](crate) from here. A target feeds its input to a
//! parser and, when the parser accepts it, to the queries that use the parsed result. It passes
//! when nothing panics: errors are the expected outcome for almost every input. A target never
//! writes outside its own temporary directory and never touches the network.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use prov_engine::inventory::{Inventory, InventoryFormat};
use prov_engine::playbook;
use prov_engine::template::Templar;
use prov_engine::yaml::{PathSeg, SecretResolver};
use prov_engine::{EngineError, Location};
use prov_vault::{VaultIdSpec, VaultPasswords, VaultSecret};
use serde_json::{Value, json};

/// A stand-in vault for the engine targets: a text is "encrypted" when it starts with
/// `$ANSIBLE_VAULT;`, and its "plaintext" is everything after the header line (each line
/// trimmed). It keeps key derivation out of the engine targets while still letting the fuzzer
/// reach the code that parses decrypted files and `!vault` values.
pub struct FakeSecrets;

impl SecretResolver for FakeSecrets {
    fn is_encrypted(&self, text: &str) -> bool {
        text.trim_start().starts_with("$ANSIBLE_VAULT;")
    }

    fn decrypt(&self, text: &str, file: &Path) -> Result<String, EngineError> {
        let body: Vec<&str> = text.trim_start().lines().skip(1).map(str::trim).collect();
        if body.first() == Some(&"fail") {
            return Err(EngineError::Vault {
                file: file.to_path_buf(),
                message: "no vault secret matched".into(),
            });
        }
        Ok(body.join("\n"))
    }
}

/// Bytes as text, the way the loaders see files: only valid UTF-8 reaches the parsers.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Exercises the queries of a parsed inventory (the ones `prov inventory` and a run use).
fn query_inventory(inv: &Inventory) {
    let hosts = inv.hosts();
    for h in hosts.iter().take(64) {
        let _ = inv.host_vars(h);
        let _ = inv.group_names(h);
        let _ = inv.connection(h);
        let _ = inv.host_location(h);
        let _ = inv.host_json(h);
    }
    for g in inv.groups().iter().take(64) {
        let _ = inv.graph_from(g);
    }
    let _ = inv.connection("localhost");
    let _ = inv.groups_map();
    let _ = inv.graph();
    let _ = inv.to_list_json();
    let _ = inv.select("all");
    let _ = inv.select("all:!ungrouped:&all");
    let _ = inv.limit(&hosts, "all[0:1]");
    let _ = inv.warnings();
}

/// `Inventory::parse_str` on YAML (and JSON) inventory text, then every query.
pub fn inventory_yaml(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(inv) = Inventory::parse_str(
        t,
        InventoryFormat::Yaml,
        Path::new("fuzz.yml"),
        &FakeSecrets,
    ) {
        query_inventory(&inv);
    }
}

/// `Inventory::parse_str` on INI inventory text, then every query.
pub fn inventory_ini(data: &[u8]) {
    let Some(t) = text(data) else { return };
    if let Ok(inv) =
        Inventory::parse_str(t, InventoryFormat::Ini, Path::new("fuzz.ini"), &FakeSecrets)
    {
        query_inventory(&inv);
    }
}

/// A fixed inventory with ranges, children, aliases and ports for the pattern target.
const PATTERN_INVENTORY: &str = "\
bastion ansible_host=203.0.113.5
[web]
web[01:04].example.com
web-extra:2222
[db]
db[a:c] ansible_user=postgres
[prod:children]
web
db
[prod:vars]
env=prod
";

static PATTERN_INV: LazyLock<Option<Inventory>> = LazyLock::new(|| {
    Inventory::parse_str(
        PATTERN_INVENTORY,
        InventoryFormat::Ini,
        Path::new("patterns.ini"),
        &FakeSecrets,
    )
    .ok()
});

/// Host patterns (`--limit`, `hosts:`) against a fixed inventory, and comma-separated host
/// lists (`-i web1,web2:22,`).
pub fn inventory_pattern(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Some(inv) = PATTERN_INV.as_ref() else {
        return;
    };
    let _ = inv.select(t);
    // `limit` reads `@FILE` parts from disk: leave those to the select above.
    if !t.contains('@') {
        let _ = inv.limit(&inv.hosts(), t);
    }
    // A host list is any `-i` value with a comma that is not an existing path.
    if t.contains(',')
        && !t.contains('\0')
        && !Path::new(t).exists()
        && let Ok(list) = Inventory::load(&[PathBuf::from(t)], &FakeSecrets)
    {
        query_inventory(&list);
    }
}

/// A scratch playbook folder with a task file, a template and a role that seeds can refer to
/// (`include_tasks: tasks.yml`, `src: t.j2`, `roles: [r]`).
static PLAYBOOK_DIR: LazyLock<Option<tempfile::TempDir>> = LazyLock::new(|| {
    let dir = tempfile::Builder::new()
        .prefix("prov-fuzz-")
        .tempdir()
        .ok()?;
    let files: &[(&str, &str)] = &[
        ("tasks.yml", "- name: included\n  debug:\n    msg: hi\n"),
        ("templates/t.j2", "port {{ port | default(value=1) }}\n"),
        ("files/f.txt", "plain\n"),
        (
            "roles/r/tasks/main.yml",
            "- name: role task\n  debug:\n    msg: \"{{ role_var }}\"\n",
        ),
        ("roles/r/defaults/main.yml", "role_var: 1\n"),
        (
            "roles/r/handlers/main.yml",
            "- name: restart\n  debug:\n    msg: restarted\n",
        ),
    ];
    for (rel, content) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent()?).ok()?;
        std::fs::write(&p, content).ok()?;
    }
    Some(dir)
});

/// `playbook::load` on a playbook file holding the input (includes and roles resolve in a
/// scratch folder), then `prov lint`'s reading of dynamically included files and its template
/// checks.
pub fn playbook(data: &[u8]) {
    let Some(dir) = PLAYBOOK_DIR.as_ref() else {
        return;
    };
    let path = dir.path().join("play.yml");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(pb) = playbook::load(&path, &FakeSecrets) {
        let includes = prov_engine::lint::read_included_files(&pb, &FakeSecrets);
        let _ = prov_engine::lint::lint_playbook(&pb, &includes.files);
    }
}

static TEMPLAR: LazyLock<Templar> = LazyLock::new(Templar::new);

/// The variables every template input is rendered against.
static CONTEXT: LazyLock<tera::Context> = LazyLock::new(|| {
    let vars = json!({
        "name": "web1",
        "port": 6379,
        "ratio": 0.5,
        "flag": true,
        "off": "no",
        "empty": "",
        "nothing": null,
        "hosts": ["web1", "web2", "db1"],
        "nums": [3, 1, 2],
        "obj": {"a": 1, "b": [1, 2, {"c": "d"}], "e": {"f": null}},
        "result": {"changed": true, "failed": false, "rc": 0, "stdout": "ok\nline",
                   "stdout_lines": ["ok", "line"], "skipped": false},
        "json_text": "{\"k\": [1, 2]}",
        "b64": "aGVsbG8=",
        "addr": "10.77.0.5",
        "net": "10.77.0.0/24",
        "groups": {"all": ["web1", "web2", "db1"], "web": ["web1", "web2"]},
        "hostvars": {"web1": {"port": 1}, "web2": {"port": 2}},
    });
    match vars {
        Value::Object(map) => Templar::context(&map),
        _ => tera::Context::new(),
    }
});

/// Template text through every front end: `render_str`, `render_value` (a whole-string
/// expression keeps its type), `eval_bool` (a `when:` condition) and `check_value` (the
/// load-time syntax check).
pub fn template(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let templar = &*TEMPLAR;
    let ctx = &*CONTEXT;
    let at = Location::new(Path::new("fuzz.yml"), 1, 1);
    let locate = |_: &[PathSeg]| at.clone();
    let v = Value::String(t.to_owned());
    let _ = templar.render_str(t, ctx, &at);
    let _ = templar.render_value(&v, ctx, &at);
    let _ = templar.eval_bool(&v, ctx, &at);
    let _ = templar.check_value(&v, false, &locate);
    let _ = templar.check_value(&v, true, &locate);
    let _ = prov_engine::template::single_expression(t);
    let _ = prov_engine::template::is_templated(&v);
}

/// Passwords of the vault test fixtures (`crates/prov-vault/tests/fixtures/*.password`), so
/// that mutated fixture vaults can get past the HMAC check.
static VAULT_PASSWORDS: LazyLock<VaultPasswords> = LazyLock::new(|| {
    let mut pw = VaultPasswords::new();
    for (id, password) in [
        (
            "default",
            include_str!("../../crates/prov-vault/tests/fixtures/default.password"),
        ),
        (
            "dev",
            include_str!("../../crates/prov-vault/tests/fixtures/dev.password"),
        ),
        (
            "prod",
            include_str!("../../crates/prov-vault/tests/fixtures/prod.password"),
        ),
    ] {
        if let Ok(s) = VaultSecret::new(id, password.trim()) {
            pw.push(s);
        }
    }
    pw
});

/// Vault text: `is_vault_text`, `parse_header`, `decrypt_from` with the fixture passwords,
/// and `--vault-id` values (`VaultIdSpec::parse`).
pub fn vault_decrypt(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let _ = prov_vault::is_vault_text(t);
    let _ = prov_vault::parse_header(t, "fuzz");
    let _ = prov_vault::decrypt_from(t, &VAULT_PASSWORDS, "fuzz");
    let _ = prov_vault::decrypt_from(t, &VaultPasswords::new(), "fuzz");
    let _ = VaultIdSpec::parse(t);
    let _ = prov_vault::validate_vault_id(t);
}

/// Encrypt then decrypt: the input's first byte picks the vault id, the next bytes are the
/// password (up to the first NUL) and the rest is the plaintext. Whatever encrypts must
/// decrypt to the same bytes, also as an indented `!vault |` YAML value.
pub fn vault_roundtrip(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (password, plaintext) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let id = ["default", "dev", "", "a;b", "x y", "prod"][usize::from(sel) % 6];
    let Ok(secret) = VaultSecret::with_default_id(password) else {
        return;
    };
    let salt = [sel; 32];
    let Ok(vault) = prov_vault::encrypt_with_salt(plaintext, &secret, Some(id), &salt) else {
        return;
    };
    let passwords = VaultPasswords::single(secret);
    let plain = prov_vault::decrypt(&vault, &passwords).expect("own vault text must decrypt");
    assert_eq!(plain.as_slice(), plaintext, "round trip changed the data");
    // What a YAML loader hands over for `!vault |`: the lines without their indentation.
    let inline = prov_vault::format_yaml_inline(&vault, Some("v"));
    let block: String = inline
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let plain = prov_vault::decrypt(&block, &passwords).expect("inline vault must decrypt");
    assert_eq!(
        plain.as_slice(),
        plaintext,
        "inline round trip changed the data"
    );
}
