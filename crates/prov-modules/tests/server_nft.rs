//! The firewall's rendering checked against the real `nft` of this machine, in a private network
//! namespace (`unshare --net`, nothing touches the machine's own rule set): the rendered table
//! loads, and nft lists it exactly as rendered, so even the fallback comparison (used where a
//! host cannot create a namespace) agrees with nft for these rule sets.
//!
//! Skips with a message when `nft` or `unshare` is missing or the test does not run as root.

use std::io::Write;
use std::process::{Command, Stdio};

use prov_modules::nft::{FirewallArgs, FirewallSpec, normalize_listing};
use serde_json::{Value, json};

fn spec(v: Value) -> FirewallSpec {
    let a: FirewallArgs = serde_json::from_value(v).expect("args");
    FirewallSpec::from_args(&a).expect("spec")
}

/// Loads `text` into a fresh network namespace and lists `table`; `None` when unavailable.
fn nft_listing(text: &str, table: &str) -> Option<Result<String, String>> {
    let probe = Command::new("unshare")
        .args(["-n", "nft", "list", "ruleset"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!("SKIP: needs root, unshare and nft (apt-get install nftables)");
            return None;
        }
    }
    let mut child = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            &format!("nft -f - && nft -s list table inet {table}"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    Some(if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

#[test]
fn rendered_tables_load_and_list_as_rendered() {
    let cases = [
        json!({"policy": "drop", "rules": [
            {"port": 22, "proto": "tcp", "from": "10.77.0.0/24"},
            {"port": [7000, 7001, 17000, 17001], "proto": "tcp", "from": ["10.77.0.0/26"]},
            {"proto": "icmp"}
        ]}),
        json!({"table": "edge", "policy": "accept", "allow_established": false, "allow_loopback": false,
               "allow_ipv6_nd": false, "rules": [
            {"port": "8000-8100", "proto": "udp"},
            {"port": [443, 80], "from": ["192.168.1.0/24", "fd00::/8"], "comment": "web"},
            {"from": "10.0.0.5", "action": "drop"},
            {"iface": "eth0", "port": 25, "action": "reject"},
            {"proto": "icmpv6"},
            {"proto": "tcp", "from": "10.1.2.3/16"}
        ]}),
    ];
    for case in cases {
        let s = spec(case.clone());
        let Some(listing) = nft_listing(&s.render(), &s.table) else {
            return;
        };
        let listing = listing
            .unwrap_or_else(|e| panic!("nft rejects the rendering of {case}: {e}\n{}", s.render()));
        assert_eq!(listing, s.render(), "nft lists {case} differently");
        assert_eq!(normalize_listing(&listing), normalize_listing(&s.render()));
        // The apply text (create; delete; define) is one valid transaction, also when the table
        // already exists.
        let twice = format!("{}{}", s.apply_text(), s.apply_text());
        let again = nft_listing(&twice, &s.table)
            .expect("available")
            .expect("apply text loads twice");
        assert_eq!(again, s.render());
    }
}

#[test]
fn a_different_rule_set_lists_differently() {
    let a = spec(json!({"rules": [{"port": 22, "from": "10.77.0.0/24"}]}));
    let b = spec(json!({"rules": [{"port": 22, "from": "10.77.0.0/25"}]}));
    let (Some(la), Some(lb)) = (
        nft_listing(&a.render(), "prov"),
        nft_listing(&b.render(), "prov"),
    ) else {
        return;
    };
    assert_ne!(
        normalize_listing(&la.unwrap()),
        normalize_listing(&lb.unwrap())
    );
}
