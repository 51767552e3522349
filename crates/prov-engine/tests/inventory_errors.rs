//! Inventory errors name file:line:column; warnings for tolerated problems; no panics.

use std::path::{Path, PathBuf};

use prov_engine::inventory::Inventory;
use prov_engine::yaml::NoSecrets;
use prov_engine::{EngineError, Location};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(rel)
}

fn load_err(rel: &str) -> EngineError {
    match Inventory::load(&[fixture(rel)], &NoSecrets) {
        Ok(_) => panic!("{rel} should not load"),
        Err(e) => e,
    }
}

/// The location and message of an `Invalid` or `Syntax` error.
fn located(e: &EngineError) -> (&Location, &str) {
    match e {
        EngineError::Invalid { at, message } | EngineError::Syntax { at, message } => {
            (at, message.as_str())
        }
        other => panic!("expected an error with a location, got {other:?}"),
    }
}

fn assert_at(rel: &str, line: usize, column: Option<usize>, contains: &str) -> EngineError {
    let e = load_err(rel);
    let (at, message) = located(&e);
    assert!(at.file.ends_with(rel), "{e}");
    assert_eq!(at.line, line, "{e}");
    if let Some(col) = column {
        assert_eq!(at.column, col, "{e}");
    }
    assert!(
        message.contains(contains),
        "`{message}` should contain `{contains}`"
    );
    e
}

#[test]
fn cyclic_children_name_the_cycle_and_where() {
    let e = assert_at(
        "errors/cycle.yml",
        9,
        Some(17),
        "cyclic group children: a -> b -> c -> a",
    );
    assert!(
        e.to_string()
            .starts_with(&format!("{}:9:17: ", fixture("errors/cycle.yml").display()))
    );
    assert_at(
        "errors/cycle.ini",
        11,
        Some(1),
        "cyclic group children: a -> b -> a",
    );
}

#[test]
fn host_and_group_with_the_same_name() {
    assert_at(
        "errors/clash.yml",
        8,
        Some(9),
        "`web` is defined both as a host and as a group",
    );
}

#[test]
fn wrong_yaml_types() {
    assert_at(
        "errors/hosts_list.yml",
        4,
        None,
        "`hosts` of group `web` must be a mapping, found a list",
    );
    assert_at(
        "errors/vars_list.yml",
        2,
        None,
        "`vars` of group `all` must be a mapping",
    );
    assert_at(
        "errors/host_vars_scalar.yml",
        3,
        None,
        "variables of host `web1` must be a mapping",
    );
    assert_at(
        "errors/top_list.yml",
        1,
        None,
        "must be a mapping of group names",
    );
    let e = load_err("errors/group_vars_list/hosts.ini");
    let (at, message) = located(&e);
    assert!(
        at.file.ends_with("group_vars_list/group_vars/web.yml"),
        "{e}"
    );
    assert_eq!((at.line, at.column), (1, 1), "{e}");
    assert!(message.contains("variables file must be a mapping"), "{e}");
}

#[test]
fn malformed_yaml_is_a_syntax_error() {
    let e = load_err("errors/malformed.yml");
    assert!(
        matches!(e, EngineError::Syntax { ref at, .. } if at.line == 4),
        "{e}"
    );
}

#[test]
fn unparsable_ini_lines_give_line_and_column() {
    assert_at(
        "errors/bad_line.ini",
        3,
        Some(26),
        "expected `key=value` host variable, got `oops`",
    );
    assert_at("errors/bad_quote.ini", 2, Some(11), "no closing quotation");
    assert_at(
        "errors/bad_section.ini",
        4,
        Some(6),
        "unknown type `hosts_and_more`",
    );
    assert_at("errors/bad_range.ini", 2, Some(1), "ends before it begins");
    assert_at(
        "errors/undefined_child.ini",
        6,
        Some(1),
        "lists `dbs`, which is not declared",
    );
    assert_at("errors/undefined_vars.ini", 4, Some(1), "[dbs:vars]");
}

#[test]
fn duplicate_host_in_one_ini_group_is_a_warning() {
    let inv = match Inventory::load(&[fixture("errors/dup.ini")], &NoSecrets) {
        Ok(inv) => inv,
        Err(e) => panic!("{e}"),
    };
    let warnings = inv.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("dup.ini:4:1") && warnings[0].contains("`web1`"),
        "{warnings:?}"
    );
    let vars = inv.host_vars("web1");
    assert_eq!(
        (vars.get("a"), vars.get("b")),
        (Some(&1.into()), Some(&2.into()))
    );
    assert_eq!(inv.group_names("web1"), ["db", "web"]);
}

#[test]
fn missing_sources_and_scripts() {
    let e = Inventory::load(&[fixture("errors/does-not-exist")], &NoSecrets).err();
    assert!(matches!(e, Some(EngineError::Io { .. })), "{e:?}");
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let script = dir.path().join("ec2.py");
    if let Err(e) = std::fs::write(&script, "#!/usr/bin/env python3\nprint('{}')\n") {
        panic!("{e}");
    }
    let e = Inventory::load(std::slice::from_ref(&script), &NoSecrets).err();
    assert!(
        matches!(e, Some(EngineError::Io { ref message, .. }) if message.contains("scripts")),
        "{e:?}"
    );
    // Inside a directory, a script is skipped with a warning.
    if let Err(e) = std::fs::write(dir.path().join("hosts"), "[web]\nweb1\n") {
        panic!("{e}");
    }
    let inv = match Inventory::load(&[dir.path().to_path_buf()], &NoSecrets) {
        Ok(inv) => inv,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(inv.hosts(), ["web1"]);
    assert!(
        inv.warnings().iter().any(|w| w.contains("ec2.py")),
        "{:?}",
        inv.warnings()
    );
}

#[test]
fn garbage_ini_never_panics() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let pieces = [
        "[", "]", "web", ":", "vars", "children", "=", "'", "\"", "\\", "#", ";", " ", "\n",
        "[1:3]", "x=1", "{'a':", "(", ")", "---", "all:", "\t", "0", "é", "[a:c]", "::1", "-",
    ];
    let mut seed: u64 = 0x1234_5678_9abc_def1;
    let file = dir.path().join("inv.ini");
    for _ in 0..400 {
        let mut text = String::new();
        for _ in 0..(seed % 40) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        seed = seed.wrapping_add(0x2545_f491_4f6c_dd1d);
        if std::fs::write(&file, &text).is_err() {
            continue;
        }
        if let Ok(inv) = Inventory::load(std::slice::from_ref(&file), &NoSecrets) {
            let _ = inv.graph();
            let _ = inv.to_list_json();
            for h in inv.hosts() {
                let _ = inv.connection(&h);
            }
        }
    }
}
