//! `network` on Linux: interfaces from /sys/class/net and `ip addr show`, the default routes from
//! `ip route get`, as Ansible's LinuxNetwork builds them.

use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use super::FactError;
use super::frame::Probe;

const V4_TARGET: &str = "8.8.8.8";
const V6_TARGET: &str = "2404:6800:400a:800::1012";

/// What `ip route get` says: interface, source address, gateway.
fn route(p: &Probe, name: &str, target: &str) -> Map<String, Value> {
    let mut m = Map::new();
    let Some(line) = p.ok_cmd(name).and_then(|o| o.lines().next()) else {
        return m;
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.first() != Some(&target) {
        return m;
    }
    for w in words.windows(2) {
        match w[0] {
            "dev" => m.insert("interface".into(), json!(w[1])),
            "src" => m.insert("address".into(), json!(w[1])),
            "via" if w[1] != target => m.insert("gateway".into(), json!(w[1])),
            _ => None,
        };
    }
    m
}

/// One interface's /sys/class/net attributes.
fn sys_attrs(p: &Probe, dev: &str) -> Result<Map<String, Value>, FactError> {
    let base = format!("/sys/class/net/{dev}");
    let get = |a: &str| p.content(&format!("{base}/{a}"));
    let fact = dev.to_owned();
    let mut i = Map::new();
    i.insert("device".into(), json!(dev));
    if let Some(mac) = get("address").filter(|m| *m != "00:00:00:00:00:00") {
        i.insert("macaddress".into(), json!(mac));
    }
    if let Some(mtu) = get("mtu") {
        let mtu: u64 = mtu
            .parse()
            .map_err(|_| FactError::new(&fact, format!("bad mtu {mtu:?}")))?;
        i.insert("mtu".into(), json!(mtu));
    }
    if let Some(state) = p.file(&format!("{base}/operstate")) {
        i.insert("active".into(), json!(state.trim() != "down"));
    }
    if let Some(t) = get("type") {
        let ty = match t {
            "1" => "ether",
            "32" => "infiniband",
            "512" => "ppp",
            "772" => "loopback",
            "65534" => "tunnel",
            _ => "unknown",
        };
        i.insert("type".into(), json!(ty));
    }
    if p.exists(&format!("{base}/bridge")) {
        i.insert("type".into(), json!("bridge"));
        let prefix = format!("{base}/brif/");
        let members: Vec<&str> = p
            .exists
            .iter()
            .filter_map(|e| e.strip_prefix(&prefix))
            .collect();
        i.insert("interfaces".into(), json!(members));
        if let Some(id) = p.file(&format!("{base}/bridge/bridge_id")) {
            i.insert("id".into(), json!(id.trim()));
        }
        if let Some(stp) = get("bridge/stp_state") {
            i.insert("stp".into(), json!(stp == "1"));
        }
    }
    if p.exists(&format!("{base}/bonding")) {
        i.insert("type".into(), json!("bonding"));
        let words = |a: &str| {
            get(a)
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        i.insert("slaves".into(), json!(words("bonding/slaves")));
        for a in ["mode", "miimon", "lacp_rate"] {
            let w = words(&format!("bonding/{a}"));
            i.insert(a.into(), json!(w.first().cloned().unwrap_or_default()));
        }
        if let Some(primary) = get("bonding/primary") {
            i.insert("primary".into(), json!(primary));
        }
    }
    if let Some(perm) = p.file(&format!("{base}/bonding_slave/perm_hwaddr")) {
        i.insert("perm_macaddress".into(), json!(perm.trim()));
    }
    if let Some(speed) = get("speed") {
        let speed: i64 = speed
            .parse()
            .map_err(|_| FactError::new(&fact, format!("bad speed {speed:?}")))?;
        i.insert("speed".into(), json!(speed));
    }
    if let Some(flags) = get("flags") {
        let n = u64::from_str_radix(flags.trim_start_matches("0x"), 16)
            .map_err(|_| FactError::new(&fact, format!("bad flags {flags:?}")))?;
        i.insert("promisc".into(), json!(n & 0x100 != 0));
    }
    Ok(i)
}

/// An IPv4 address entry (`address/prefix`, broadcast) with netmask and network.
fn ipv4_entry(cidr: &str, broadcast: &str) -> Option<Value> {
    let (addr, prefix) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let a: Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = prefix.parse().ok().filter(|b| *b <= 32)?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Some(json!({
        "address": addr, "broadcast": broadcast,
        "netmask": Ipv4Addr::from(mask).to_string(),
        "network": Ipv4Addr::from(u32::from(a) & mask).to_string(),
        "prefix": prefix,
    }))
}

/// Parses `ip addr show` into the interfaces' ipv4/ipv6 entries and the address lists.
fn addresses(
    text: &str,
    ifaces: &mut Map<String, Value>,
    all4: &mut Vec<String>,
    all6: &mut Vec<String>,
) -> Result<(), FactError> {
    let mut dev = String::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            // `2: eth0@if5: <BROADCAST,...> mtu 1500 ...`
            let name = line.split(": ").nth(1).unwrap_or("");
            dev = name.split('@').next().unwrap_or("").to_owned();
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some(Value::Object(iface)) = ifaces.get_mut(&dev) else {
            continue;
        };
        match w.first().copied() {
            Some("inet") if w.len() > 1 => {
                let brd = if w.get(2) == Some(&"brd") {
                    w.get(3).copied().unwrap_or("")
                } else {
                    ""
                };
                let entry = ipv4_entry(w[1], brd)
                    .ok_or_else(|| FactError::new(&dev, format!("bad `ip addr` line {line:?}")))?;
                let address = entry["address"].as_str().unwrap_or("").to_owned();
                if w.contains(&"secondary") || iface.contains_key("ipv4") {
                    let list = iface.entry("ipv4_secondaries").or_insert_with(|| json!([]));
                    if let Value::Array(l) = list {
                        l.push(entry);
                    }
                } else {
                    iface.insert("ipv4".into(), entry);
                }
                if !address.starts_with("127.") {
                    all4.push(address);
                }
            }
            Some("inet6") if w.len() > 3 => {
                let (address, prefix, scope) = if w[2] == "peer" {
                    (
                        w[1],
                        w[3].split_once('/').map_or("", |x| x.1),
                        w.get(5).copied().unwrap_or(""),
                    )
                } else {
                    let (a, p) = w[1].split_once('/').unwrap_or((w[1], "128"));
                    (a, p, w[3])
                };
                let list = iface.entry("ipv6").or_insert_with(|| json!([]));
                if let Value::Array(l) = list {
                    l.push(json!({"address": address, "prefix": prefix, "scope": scope}));
                }
                if address != "::1" {
                    all6.push(address.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Fills a default route's entry from its interface, as Ansible does.
fn complete_default(default: &mut Map<String, Value>, ifaces: &Map<String, Value>, v6: bool) {
    let Some(addr) = default
        .get("address")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return;
    };
    for iface in ifaces.values() {
        let entries: Vec<&Value> = if v6 {
            iface["ipv6"]
                .as_array()
                .map(|l| l.iter().collect())
                .unwrap_or_default()
        } else {
            std::iter::once(&iface["ipv4"])
                .chain(iface["ipv4_secondaries"].as_array().into_iter().flatten())
                .collect()
        };
        let Some(e) = entries.into_iter().find(|e| e["address"] == addr.as_str()) else {
            continue;
        };
        let keys: &[&str] = if v6 {
            &["prefix", "scope"]
        } else {
            &["broadcast", "netmask", "network", "prefix"]
        };
        for k in keys {
            default.insert((*k).into(), e[*k].clone());
        }
        default.insert(
            "macaddress".into(),
            iface.get("macaddress").cloned().unwrap_or(json!("unknown")),
        );
        default.insert("mtu".into(), iface["mtu"].clone());
        default.insert(
            "type".into(),
            iface.get("type").cloned().unwrap_or(json!("unknown")),
        );
        if !v6 {
            default.insert("alias".into(), iface["device"].clone());
        }
        return;
    }
}

pub fn network(p: &Probe, out: &mut Map<String, Value>) -> Result<(), FactError> {
    let Some(addr_text) = p.ok_cmd("addr") else {
        return Ok(()); // no `ip`: Ansible gathers no network facts either
    };
    let mut names: Vec<String> = p
        .files
        .keys()
        .filter_map(|k| k.strip_prefix("/sys/class/net/"))
        .filter_map(|k| k.split_once('/').map(|(d, _)| d.to_owned()))
        .collect();
    names.dedup();
    let mut ifaces = Map::new();
    for dev in &names {
        ifaces.insert(dev.clone(), Value::Object(sys_attrs(p, dev)?));
    }
    let (mut all4, mut all6) = (Vec::new(), Vec::new());
    addresses(addr_text, &mut ifaces, &mut all4, &mut all6)?;
    let mut d4 = route(p, "route4", V4_TARGET);
    let mut d6 = route(p, "route6", V6_TARGET);
    complete_default(&mut d4, &ifaces, false);
    complete_default(&mut d6, &ifaces, true);
    let keys: Vec<String> = ifaces.keys().map(|k| k.replace(':', "_")).collect();
    out.insert("interfaces".into(), json!(keys));
    for (name, v) in ifaces {
        out.insert(name.replace(':', "_"), v);
    }
    out.insert("default_ipv4".into(), Value::Object(d4));
    out.insert("default_ipv6".into(), Value::Object(d6));
    out.insert("all_ipv4_addresses".into(), json!(all4));
    out.insert("all_ipv6_addresses".into(), json!(all6));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet6 ::1/128 scope host
       valid_lft forever preferred_lft forever
2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether 02:77:0a:4d:00:0e brd ff:ff:ff:ff:ff:ff link-netnsid 0
    inet 10.77.0.14/24 brd 10.77.0.255 scope global eth0
       valid_lft forever preferred_lft forever
    inet 10.77.0.99/24 scope global secondary eth0
       valid_lft forever preferred_lft forever
    inet6 2001:db8::14/64 scope global
       valid_lft forever preferred_lft forever
    inet6 fe80::77:aff:fe4d:e/64 scope link
       valid_lft forever preferred_lft forever
";

    fn lab_probe() -> Probe {
        let mut p = Probe::default();
        for (dev, mac, mtu, ty, flags) in [
            ("eth0", "02:77:0a:4d:00:0e", "1500", "1", "0x1003"),
            ("lo", "00:00:00:00:00:00", "65536", "772", "0x9"),
        ] {
            for (a, v) in [
                ("address", mac),
                ("mtu", mtu),
                ("type", ty),
                ("flags", flags),
                ("operstate", "up"),
            ] {
                p.files
                    .insert(format!("/sys/class/net/{dev}/{a}"), format!("{v}\n"));
            }
        }
        p.files
            .insert("/sys/class/net/eth0/speed".into(), "10000\n".into());
        p.files
            .insert("/sys/class/net/lo/speed".into(), String::new());
        p.cmds.insert("addr".into(), (0, ADDR.into()));
        p.cmds.insert(
            "route4".into(),
            (
                0,
                "8.8.8.8 via 10.77.0.1 dev eth0 src 10.77.0.14 uid 0 \n    cache \n".into(),
            ),
        );
        p.cmds.insert("route6".into(), (2, String::new()));
        p
    }

    #[test]
    fn interfaces_and_default_route() {
        let mut f = Map::new();
        network(&lab_probe(), &mut f).unwrap();
        assert_eq!(f["interfaces"], json!(["eth0", "lo"]));
        assert_eq!(f["all_ipv4_addresses"], json!(["10.77.0.14", "10.77.0.99"]));
        assert_eq!(
            f["all_ipv6_addresses"],
            json!(["2001:db8::14", "fe80::77:aff:fe4d:e"])
        );
        assert_eq!(f["eth0"]["ipv4"]["netmask"], "255.255.255.0");
        assert_eq!(f["eth0"]["ipv4"]["broadcast"], "10.77.0.255");
        assert_eq!(f["eth0"]["ipv4_secondaries"][0]["address"], "10.77.0.99");
        assert_eq!(f["eth0"]["speed"], 10000);
        assert_eq!(f["eth0"]["promisc"], false);
        assert_eq!(f["lo"]["type"], "loopback");
        assert!(f["lo"].get("macaddress").is_none() && f["lo"].get("speed").is_none());
        assert_eq!(
            f["default_ipv4"],
            json!({"address": "10.77.0.14", "alias": "eth0", "broadcast": "10.77.0.255",
                   "gateway": "10.77.0.1", "interface": "eth0", "macaddress": "02:77:0a:4d:00:0e",
                   "mtu": 1500, "netmask": "255.255.255.0", "network": "10.77.0.0",
                   "prefix": "24", "type": "ether"})
        );
        assert_eq!(f["default_ipv6"], json!({}));
    }

    #[test]
    fn malformed_values_name_the_interface() {
        let mut p = lab_probe();
        p.files
            .insert("/sys/class/net/eth0/mtu".into(), "big\n".into());
        let e = network(&p, &mut Map::new()).unwrap_err();
        assert!(
            e.to_string().contains("`eth0`") && e.to_string().contains("mtu"),
            "{e}"
        );
        let mut p = lab_probe();
        p.cmds.insert(
            "addr".into(),
            (
                0,
                "2: eth0: <UP>\n    inet 10.0.0.300/24 scope global eth0\n".into(),
            ),
        );
        let e = network(&p, &mut Map::new()).unwrap_err();
        assert!(e.to_string().contains("`eth0`"), "{e}");
    }
}
