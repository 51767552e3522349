//! Host patterns (`select`) and `--limit`.

use std::io::Write;
use std::path::Path;

use prov_engine::EngineError;
use prov_engine::inventory::Inventory;
use prov_engine::yaml::NoSecrets;

fn inventory() -> Inventory {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory/patterns/hosts.ini");
    match Inventory::load(&[path], &NoSecrets) {
        Ok(inv) => inv,
        Err(e) => panic!("{e}"),
    }
}

fn sel(inv: &Inventory, pattern: &str) -> Vec<String> {
    match inv.select(pattern) {
        Ok(hosts) => hosts,
        Err(e) => panic!("pattern {pattern}: {e}"),
    }
}

#[test]
fn names_groups_all() {
    let inv = inventory();
    let everyone = ["solo", "web1", "web2", "web3", "db1", "db2"];
    assert_eq!(inv.hosts(), everyone);
    assert_eq!(sel(&inv, "all"), everyone);
    assert_eq!(sel(&inv, "*"), everyone);
    assert_eq!(sel(&inv, "web"), ["web1", "web2", "web3"]);
    assert_eq!(sel(&inv, "web1"), ["web1"]);
    assert_eq!(sel(&inv, "prod"), ["web1", "web2", "web3", "db1", "db2"]);
    assert_eq!(sel(&inv, "ungrouped"), ["solo"]);
    assert!(inv.warnings().is_empty(), "{:?}", inv.warnings());
}

#[test]
fn globs_and_regexes() {
    let inv = inventory();
    assert_eq!(sel(&inv, "web*"), ["web1", "web2", "web3"]);
    assert_eq!(sel(&inv, "db?"), ["db1", "db2"]);
    assert_eq!(sel(&inv, "*2"), ["web2", "db2"]);
    // `[ws]*` matches the groups `web` and `staging` and the hosts `solo` and `web*`.
    assert_eq!(sel(&inv, "[ws]*"), ["solo", "web1", "web2", "web3", "db2"]);
    assert_eq!(sel(&inv, "~^web[12]$"), ["web1", "web2"]);
    assert_eq!(sel(&inv, "~db"), ["db1", "db2"]);
    // Like Python's re.match, a regex is anchored at the start.
    assert!(sel(&inv, "~b1").is_empty());
    assert!(matches!(
        inv.select("~web("),
        Err(EngineError::Pattern { .. })
    ));
}

#[test]
fn unions_intersections_exclusions() {
    let inv = inventory();
    assert_eq!(sel(&inv, "web:db"), ["web1", "web2", "web3", "db1", "db2"]);
    // Inventory order, whatever the order in the pattern; no duplicates.
    assert_eq!(sel(&inv, "db,web"), ["web1", "web2", "web3", "db1", "db2"]);
    assert_eq!(sel(&inv, "web1,web1,web"), ["web1", "web2", "web3"]);
    assert_eq!(sel(&inv, "prod:&staging"), ["web3", "db2"]);
    assert_eq!(sel(&inv, "prod:!staging"), ["web1", "web2", "db1"]);
    assert_eq!(sel(&inv, "web:db:&staging:!db2"), ["web3"]);
    assert_eq!(sel(&inv, "prod, &east, !db1"), ["web1"]);
    // Only exclusions / intersections: start from all.
    assert_eq!(sel(&inv, "!staging"), ["solo", "web1", "web2", "db1"]);
    assert_eq!(sel(&inv, "&east"), ["web1", "db1"]);
}

#[test]
fn subscripts() {
    let inv = inventory();
    assert_eq!(sel(&inv, "web[0]"), ["web1"]);
    assert_eq!(sel(&inv, "web[-1]"), ["web3"]);
    assert_eq!(sel(&inv, "web[1:2]"), ["web2", "web3"]);
    assert_eq!(sel(&inv, "prod[3:]"), ["db1", "db2"]);
    assert_eq!(sel(&inv, "web[0]:db[1]"), ["web1", "db2"]);
    assert!(matches!(
        inv.select("web[7]"),
        Err(EngineError::Pattern { .. })
    ));
}

#[test]
fn empty_matches_and_warnings() {
    let inv = inventory();
    assert!(sel(&inv, "empty").is_empty());
    assert!(
        inv.warnings().is_empty(),
        "a known empty group is not a warning"
    );
    assert!(sel(&inv, "nosuch").is_empty());
    assert_eq!(sel(&inv, "web1:nosuch2"), ["web1"]);
    let warnings = inv.take_warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("`nosuch`") && warnings[1].contains("`nosuch2`"),
        "{warnings:?}"
    );
    assert!(inv.warnings().is_empty());
    assert!(matches!(inv.select(""), Err(EngineError::Pattern { .. })));
    assert!(matches!(
        inv.select(" , "),
        Err(EngineError::Pattern { .. })
    ));
}

#[test]
fn implicit_localhost() {
    let inv = inventory();
    assert_eq!(sel(&inv, "localhost"), ["localhost"]);
    assert_eq!(sel(&inv, "web1:localhost"), ["web1", "localhost"]);
    assert!(!sel(&inv, "all").contains(&"localhost".to_owned()));
    assert_eq!(
        inv.host_vars("localhost").get("ansible_connection"),
        Some(&serde_json::json!("local"))
    );
}

#[test]
fn limit_keeps_play_order_and_reads_files() {
    let inv = inventory();
    let play: Vec<String> = ["db2", "web1", "web2", "web3", "solo"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let limited = inv.limit(&play, "web:!web2").ok();
    assert_eq!(limited, Some(vec!["web1".to_owned(), "web3".to_owned()]));
    let limited = inv.limit(&play, "!web").ok();
    assert_eq!(limited, Some(vec!["db2".to_owned(), "solo".to_owned()]));

    let mut file = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let _ = writeln!(file, "web3\nsolo\n");
    let pattern = format!("@{}", file.path().display());
    let limited = inv.limit(&play, &pattern).ok();
    assert_eq!(limited, Some(vec!["web3".to_owned(), "solo".to_owned()]));
    let missing = inv.limit(&play, "@/nonexistent/prov-limit-file");
    assert!(matches!(missing, Err(EngineError::Io { .. })));
}

#[test]
fn patterns_never_panic() {
    let inv = inventory();
    let alphabet: Vec<char> = "web1db*?[]:!&~,^$()-\\. 0".chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..1000 {
        let len = (seed % 12) as usize;
        let mut p = String::new();
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            p.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        seed = seed.wrapping_add(0x2545_f491_4f6c_dd1d);
        let _ = inv.select(&p);
        let _ = inv.limit(&inv.hosts(), &p.replace('@', ""));
    }
}
