//! Adversarial inputs from fuzzing (`fuzz/`, see fuzz/README.md), replayed by `cargo test`:
//! every parser must answer them with a result or an error, never a panic or a hang. Crashers
//! found by the fuzz targets are added here once fixed.

use std::path::Path;
use std::time::{Duration, Instant};

use prov_engine::inventory::{Inventory, InventoryFormat};
use prov_engine::template::Templar;
use prov_engine::yaml::NoSecrets;
use prov_engine::{EngineError, Location};
use serde_json::Value;

fn yaml(text: &str) -> Result<Inventory, EngineError> {
    Inventory::parse_str(
        text,
        InventoryFormat::Yaml,
        Path::new("fuzz.yml"),
        &NoSecrets,
    )
}

fn ini(text: &str) -> Result<Inventory, EngineError> {
    Inventory::parse_str(
        text,
        InventoryFormat::Ini,
        Path::new("fuzz.ini"),
        &NoSecrets,
    )
}

/// Runs every query the CLI makes on a parsed inventory (they must not panic either).
fn query(inv: &Inventory) {
    for h in inv.hosts() {
        let _ = inv.host_vars(&h);
        let _ = inv.connection(&h);
        let _ = inv.group_names(&h);
    }
    let _ = inv.graph();
    let _ = inv.to_list_json();
    let _ = inv.select("all:!ungrouped");
}

/// `parse_str` (the fuzz targets' entry point) reads the same inventory as `load` of a file.
#[test]
fn parse_str_matches_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory");
    for (rel, format) in [
        ("yaml/hosts.yml", InventoryFormat::Yaml),
        ("ini/hosts.ini", InventoryFormat::Ini),
        ("patterns/hosts.ini", InventoryFormat::Ini),
    ] {
        let path = dir.join(rel);
        let text = std::fs::read_to_string(&path).expect("fixture");
        let from_file = Inventory::load(std::slice::from_ref(&path), &NoSecrets).expect(rel);
        let from_str = Inventory::parse_str(&text, format, &path, &NoSecrets).expect(rel);
        assert!(!from_str.hosts().is_empty(), "{rel}");
        assert_eq!(from_str.hosts(), from_file.hosts(), "{rel}");
        assert_eq!(from_str.groups(), from_file.groups(), "{rel}");
        // The fixtures have no group_vars/host_vars next to them, so the variables agree too.
        assert_eq!(from_str.to_list_json(), from_file.to_list_json(), "{rel}");
        assert_eq!(
            from_str.host_location(&from_str.hosts()[0]).map(|l| l.file),
            Some(path.clone()),
            "{rel}"
        );
    }
}

#[test]
fn parse_str_errors_name_the_origin() {
    let e = ini("[web\nh1\n").expect_err("unterminated section");
    assert!(e.to_string().contains("fuzz.ini"), "{e}");
    let e = yaml("all: [").expect_err("unterminated flow sequence");
    assert!(e.to_string().contains("fuzz.yml"), "{e}");
    // A vault-encrypted text without a password is an error, as for a file.
    let e = ini("$ANSIBLE_VAULT;1.1;AES256\n6161\n").expect_err("no vault password");
    assert!(matches!(e, EngineError::Vault { .. }), "{e:?}");
}

/// Deeply nested YAML: serde_yaml_ng's recursion limit answers with an error.
#[test]
fn deeply_nested_yaml_is_an_error() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let n = 2_000;
        let text = format!("all: {}1{}\n", open.repeat(n), close.repeat(n));
        let e = yaml(&text).expect_err("too deep");
        assert!(matches!(e, EngineError::Syntax { .. }), "{e:?}");
    }
}

/// Absurd flow nesting is refused by a linear pre-check, before the parser (quadratic in the
/// depth: 100k brackets took 29 s), naming where the limit is crossed.
#[test]
fn absurd_flow_nesting_is_refused_before_parsing() {
    let text = format!("- hosts: all\n  vars:\n    x: {}\n", "[".repeat(100_000));
    let e = prov_engine::yaml::load_str(&text, Path::new("deep.yml"), &NoSecrets)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with("deep.yml:3:136:") && e.contains("nested more than 128 deep"),
        "{e}"
    );
    // Brackets inside quotes and comments do not count.
    let quoted = format!("x: '{}'\n# {}\n", "[".repeat(500), "{".repeat(500));
    assert!(prov_engine::yaml::load_str(&quoted, Path::new("q.yml"), &NoSecrets).is_ok());
}

/// Alias expansion ("billion laughs") is bounded.
#[test]
fn yaml_alias_bomb_is_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let started = Instant::now();
    let result = yaml(&text);
    assert!(result.is_err(), "9^10 aliases must not be expanded");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Host ranges are capped; Python literals in INI values have a nesting limit.
#[test]
fn ini_ranges_and_literals_are_bounded() {
    let e = ini("[web]\nweb[0:99999999999]\n").expect_err("range too large");
    assert!(e.to_string().contains("fuzz.ini"), "{e}");
    let deep = format!("[web]\nh1 v={}1{}\n", "[".repeat(5_000), "]".repeat(5_000));
    let inv = ini(&deep).expect("kept as text past the nesting limit");
    query(&inv);
    assert!(inv.host_vars("h1").get("v").is_some_and(Value::is_string));
}

/// Odd but valid inputs parse and every query works on them.
#[test]
fn odd_inventories_parse_and_query() {
    for text in [
        "\u{feff}[g]\r\nh1 a=\"x\\\"y\" b='q'\\ r\r\n[g:vars]\r\nk=\r\n",
        "[::1] x=1\n[v6]\nfe80::1\n2001:db8::[a:c]\n",
        "h[1:3:2]:22 ansible_port=2222\n",
        "h ansible_port=not-a-port\n",
        "h ansible_become=maybe\n",
    ] {
        let inv = ini(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(!inv.hosts().is_empty(), "{text:?}");
        query(&inv);
    }
    for text in [
        "all:\n  hosts:\n    \"[::1]:22\":\n    h[a:c]: {x: 1}\n",
        "all:\n  children:\n    g: &g\n      hosts: {h1: }\n    g2: *g\n",
    ] {
        let inv = yaml(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        query(&inv);
    }
}

/// Host patterns that are invalid regexes or out-of-range subscripts are errors.
#[test]
fn bad_host_patterns_are_errors() {
    let inv = ini("[web]\nweb[1:3]\n").expect("inventory");
    for p in [
        "~[",
        "~(?",
        "web[99]",
        "web[-99]",
        "web[x]",
        "",
        "&",
        "!",
        "web[9999999999999999999999]",
    ] {
        match inv.select(p) {
            Err(EngineError::Pattern { .. }) => {}
            other => assert!(other.as_ref().is_ok_and(Vec::is_empty), "{p:?}: {other:?}"),
        }
    }
    assert_eq!(
        inv.select("web[-1]").expect("last host"),
        vec!["web3".to_string()]
    );
}

/// Pathological templates: deep nesting and odd delimiters give errors or text, not panics.
#[test]
fn pathological_templates() {
    let t = Templar::new();
    let ctx = Templar::context(&serde_json::Map::new());
    let at = Location::new(Path::new("fuzz.yml"), 1, 1);
    let n = 3_000;
    let inputs = [
        format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
        format!("{{{{ {}1{} }}}}", "[".repeat(n), "]".repeat(n)),
        format!("{}x{}", "{% if true %}".repeat(n), "{% endif %}".repeat(n)),
        format!("{}true", "not ".repeat(n)),
        "{{".into(),
        "{{ }}".into(),
        "{% raw %}".into(),
        "{#".into(),
        "{{ 1 / 0 }}".into(),
        "{{ 9223372036854775807 + 1 }}".into(),
        "{{ -9223372036854775808 - 1 }}".into(),
        "{{ 9223372036854775807 * 2 }}".into(),
        "{{ \"x\" * 9999999999999 }}".into(),
    ];
    for text in &inputs {
        let v = Value::String(text.clone());
        let _ = t.render_str(text, &ctx, &at);
        let _ = t.render_value(&v, &ctx, &at);
        let _ = t.eval_bool(&v, &ctx, &at);
        let _ = t.check_value(&v, true, &|_| at.clone());
    }
    assert!(t.render_str("{{", &ctx, &at).is_err());
}

/// A namespace that holds itself (`ns.s = ns, ...`, found by the `template` fuzz target) or a
/// value nested without bound: printing either recursed until the stack overflowed. Now the
/// assignment fails; ordinary namespace use is unchanged.
#[test]
fn namespaces_cannot_hold_themselves_or_unbounded_nesting() {
    let t = Templar::new();
    let vars = serde_json::json!({"s": "x"});
    let ctx = Templar::context(vars.as_object().unwrap());
    let at = Location::new(Path::new("fuzz.yml"), 1, 1);
    let render = |text: &str| t.render_value(&Value::String(text.into()), &ctx, &at);
    let fails_with = |text: &str, expected: &str| match render(text) {
        Err(e) => assert!(e.to_string().contains(expected), "{text}: {e}"),
        Ok(v) => panic!("{text} rendered {v}"),
    };
    fails_with(
        "{% set ns = namespace(s='x') %}\n\
         {% for i in range(64) %}{% set ns.s = ns,s ~ ns.s %}{% endfor %}\n{{ ns.s }}\n",
        "cannot assign to s: the value holds the namespace itself",
    );
    fails_with(
        "{% set a = namespace() %}{% set b = namespace(a=[a]) %}{% set a.b = {'k': b} %}{{ a }}",
        "cannot assign to b: the value holds the namespace itself",
    );
    fails_with(
        "{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}\
         {% endfor %}{{ ns.x }}",
        "cannot assign to x: the value is nested more than 100 levels deep",
    );
    let ok = render(
        "{% set a = namespace(items=[]) %}{% set b = namespace(inner=a) %}\
         {% for i in range(3) %}{% set a.items = a.items + [i] %}{% endfor %}\
         {% set b.copy = [a, a] %}{{ b.inner.items }} {{ b.copy | length }}",
    );
    assert_eq!(ok.unwrap(), Value::String("[0, 1, 2] 2".into()));
}
