//! Lab tests of `ufw`, `iptables` and `modprobe` on lab host lab1: the effect is checked
//! inside the host, check mode must predict the real run and a second run must change nothing
//! (`converge`), and results and files are compared with what the real modules (Ansible 2.19
//! and its collections from `/var/cache/prov-bench/venv`) do on the same host.
//!
//! Each test installs what it needs from the lab's local repository and leaves lab1 as it
//! found it: ufw reset, disabled and purged; the iptables rules and chains removed and the
//! package purged; the nftables tables iptables-nft created deleted (lab1 keeps answering SSH).
//!
//! Run under the shared lock: `flock /work/lab.lock cargo test -p prov-modules --test
//! firewall_more_lab`. Every test skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::{Value, json};
use support::{
    NsConnection, ansible, apply, check, converge, files, lab_host, lab_lock, same_as_ansible,
};

const UFW_FILES: &str =
    "/etc/ufw/user.rules /etc/ufw/user6.rules /etc/ufw/ufw.conf /etc/default/ufw";

/// The nftables tables of the host, one `family name` a line.
async fn nft_tables(h: &NsConnection) -> Vec<String> {
    let out = h.sh_ok("nft list tables").await;
    out.lines()
        .filter_map(|l| l.strip_prefix("table "))
        .map(str::to_owned)
        .collect()
}

/// Deletes the nftables tables that were not there before.
async fn drop_new_tables(h: &NsConnection, before: &[String]) {
    for t in nft_tables(h).await {
        if !before.contains(&t) {
            h.sh_ok(&format!("nft delete table {t}")).await;
        }
    }
    assert_eq!(nft_tables(h).await, before, "nftables tables restored");
}

async fn install(h: &NsConnection, pkg: &str) {
    h.sh_ok(&format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y {pkg} >/dev/null 2>&1 || apt-get install -y {pkg}"
    ))
    .await;
}

async fn purge(h: &NsConnection, pkg: &str) {
    h.sh_ok(&format!(
        "DEBIAN_FRONTEND=noninteractive apt-get purge -y --autoremove {pkg} >/dev/null 2>&1 || apt-get purge -y {pkg}"
    ))
    .await;
}

/// Rules reset, ufw disabled, and its policies and log level as installed (`ufw reset` keeps
/// those): the state every comparison starts from.
async fn ufw_clean(h: &NsConnection) {
    h.sh_ok(
        "ufw --force reset >/dev/null && ufw disable >/dev/null && rm -f /etc/ufw/*.20* /etc/default/ufw.20* \
         && cp /root/prov-ufw.default /etc/default/ufw && cp /root/prov-ufw.conf /etc/ufw/ufw.conf",
    )
    .await;
}

/// The host's SSH still answers (the comparisons with Ansible go through it).
async fn ssh_answers(h: &NsConnection) {
    let host = prov_core::Connection::host(h).to_owned();
    let r = tokio::task::spawn_blocking(move || ansible(&host, "ping", &json!({"data": "pong"})))
        .await
        .expect("ping");
    if let Some(r) = r {
        assert_eq!(r["ping"], json!("pong"), "{r}");
    }
}

fn theirs_changed(v: &Option<(Value, support::Planned)>) -> Option<(bool, bool)> {
    v.as_ref()
        .map(|(t, o)| (t["changed"].as_bool().unwrap_or(false), o.changed))
}

#[tokio::test]
async fn ufw_rules_policies_and_state_as_ansible() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab1") else { return };
    // A fresh install: its configuration files are the state every comparison starts from.
    if h.sh("command -v ufw").await.success() {
        h.sh_ok("ufw --force reset >/dev/null; ufw disable >/dev/null; rm -f /etc/ufw/*.20*")
            .await;
        purge(&h, "ufw").await;
    }
    // Tables an interrupted run left: iptables-nft's filter tables holding ufw's chains.
    h.sh_ok(
        "for t in 'ip filter' 'ip6 filter'; do nft list table $t 2>/dev/null | grep -Eq 'chain ufw6?-' && nft delete table $t; done; true",
    )
    .await;
    let tables = nft_tables(&h).await;
    install(&h, "ufw").await;
    h.sh_ok(
        "cp /etc/default/ufw /root/prov-ufw.default && cp /etc/ufw/ufw.conf /root/prov-ufw.conf",
    )
    .await;
    ufw_clean(&h).await;

    // A rule while inactive: the tuple appears in both files; a second run is ok.
    let real = converge(
        &h,
        "ufw",
        json!({"rule": "allow", "port": "22", "proto": "tcp"}),
    )
    .await;
    assert_eq!(
        real.summary,
        ["ufw allow from any to any port 22 proto tcp"]
    );
    let rules = h
        .sh_ok("grep -h '^### tuple' /etc/ufw/user.rules /etc/ufw/user6.rules")
        .await;
    assert_eq!(
        rules,
        "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 22 ::/0 any ::/0 in\n"
    );

    // Same files as Ansible for rules with a comment, an address, an app and a route rule.
    let reset = || async {
        ufw_clean(&h).await;
        h.sh_ok("ufw allow 22/tcp >/dev/null").await;
    };
    for args in [
        json!({"rule": "limit", "port": "2222", "proto": "tcp", "comment": "rate limited ssh"}),
        json!({"rule": "deny", "from_ip": "10.9.0.0/16", "to_port": "5432", "direction": "in", "interface": "lo", "log": true}),
        json!({"rule": "allow", "name": "OpenSSH", "from": "fd00::/8"}),
        json!({"rule": "reject", "route": true, "interface_in": "lo", "interface_out": "lo", "to": "10.1.2.3"}),
        json!({"rule": "allow", "port": "53", "proto": "udp", "insert": 1}),
        json!({"rule": "allow", "port": "22", "proto": "tcp", "delete": true}),
        json!({"default": "reject", "direction": "outgoing"}),
    ] {
        let both =
            same_as_ansible(&h, "community.general.ufw", args.clone(), UFW_FILES, reset).await;
        if let Some((t, o)) = theirs_changed(&both) {
            assert_eq!(t, o, "changed differs from Ansible's for {args}");
        }
        if let Some((t, o)) = &both {
            assert_eq!(t["commands"], o.result["commands"], "commands for {args}");
        }
    }

    // Enabled with a deny policy (SSH is allowed): the firewall is up, SSH still answers.
    reset().await;
    let args = json!({"state": "enabled", "policy": "deny"});
    let both = same_as_ansible(&h, "community.general.ufw", args, UFW_FILES, reset).await;
    if let Some((t, o)) = theirs_changed(&both) {
        assert_eq!((t, o), (true, true));
    }
    let status = h.sh_ok("LANG=C ufw status verbose").await;
    assert!(status.starts_with("Status: active\n"), "{status}");
    if let Some((_, ours)) = &both {
        assert_eq!(ours.summary, ["ufw -f enable", "ufw default deny"]);
    }
    ssh_answers(&h).await;

    // While active: logging, policies, rules, insert relative to the IPv6 rules.
    converge(&h, "ufw", json!({"logging": "medium"})).await;
    let status = h.sh_ok("LANG=C ufw status verbose").await;
    assert!(status.contains("Logging: on (medium)"), "{status}");
    converge(
        &h,
        "ufw",
        json!({"policy": "allow", "direction": "outgoing"}),
    )
    .await;
    converge(
        &h,
        "ufw",
        json!({"rule": "allow", "port": "80", "proto": "tcp"}),
    )
    .await;
    let real = converge(
        &h,
        "ufw",
        json!({"rule": "deny", "port": "81", "proto": "tcp", "from_ip": "fd00::/8", "insert": 0, "insert_relative_to": "first-ipv6"}),
    )
    .await;
    assert!(
        real.summary[0].starts_with("ufw insert "),
        "{:?}",
        real.summary
    );
    let numbered = h.sh_ok("LANG=C ufw status numbered").await;
    let line = numbered
        .lines()
        .find(|l| l.contains("81/tcp"))
        .expect("v6 rule");
    assert!(
        line.starts_with("[ 3]") && line.contains("fd00::/8"),
        "{numbered}"
    );
    let args = json!({"rule": "deny", "port": "81", "proto": "tcp", "from_ip": "fd00::/8", "delete": true});
    converge(&h, "ufw", args).await;

    // A routed policy while forwarding is off: ufw writes the file, Ansible reports ok.
    h.sh_ok(
        "sed -i 's/^DEFAULT_FORWARD_POLICY=.*/DEFAULT_FORWARD_POLICY=\"DROP\"/' /etc/default/ufw",
    )
    .await;
    let planned = check(&h, "ufw", json!({"policy": "allow", "direction": "routed"}))
        .await
        .unwrap();
    assert!(!planned.changed);
    let real = apply(&h, "ufw", json!({"policy": "allow", "direction": "routed"}))
        .await
        .unwrap();
    assert!(!real.changed);
    assert!(
        h.sh_ok("cat /etc/default/ufw")
            .await
            .contains("DEFAULT_FORWARD_POLICY=\"ACCEPT\"")
    );

    // reloaded is always a change, in check mode too.
    let planned = check(&h, "ufw", json!({"state": "reloaded"}))
        .await
        .unwrap();
    assert!(planned.changed);
    assert!(
        apply(&h, "ufw", json!({"state": "reloaded"}))
            .await
            .unwrap()
            .changed
    );

    // A bad port fails with ufw's message, in check mode already.
    let e = check(&h, "ufw", json!({"rule": "allow", "port": "nope"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ERROR: Bad port"), "{e}");

    // Disabled; then a log level set while inactive: a change every time, as in Ansible.
    converge(&h, "ufw", json!({"state": "disabled"})).await;
    for _ in 0..2 {
        assert!(
            check(&h, "ufw", json!({"logging": "high"}))
                .await
                .unwrap()
                .changed
        );
        assert!(
            apply(&h, "ufw", json!({"logging": "high"}))
                .await
                .unwrap()
                .changed
        );
    }
    assert!(
        h.sh_ok("cat /etc/ufw/ufw.conf")
            .await
            .contains("LOGLEVEL=high")
    );
    if let Some(t) = ansible("lab1", "community.general.ufw", &json!({"logging": "full"})) {
        assert_eq!(t["changed"], json!(true), "{t}");
    }
    assert!(
        h.sh_ok("cat /etc/ufw/ufw.conf")
            .await
            .contains("LOGLEVEL=full")
    );

    // Restore: reset, disabled, purged; no ufw chains or tables left; SSH answers.
    ufw_clean(&h).await;
    h.sh_ok("rm -f /root/prov-ufw.default /root/prov-ufw.conf")
        .await;
    purge(&h, "ufw").await;
    drop_new_tables(&h, &tables).await;
    assert!(!h.sh("command -v ufw").await.success());
    ssh_answers(&h).await;
}

/// `iptables -S` of the test chain and of INPUT's test rules.
async fn rules_of(h: &NsConnection) -> String {
    h.sh_ok("iptables -S PROVTEST 2>/dev/null; iptables -S INPUT | grep -e '--dport 9 ' -e 'prov' ; iptables -S FORWARD | head -n 1; true")
        .await
}

async fn iptables_clean(h: &NsConnection) {
    h.sh_ok(
        "iptables -F PROVTEST 2>/dev/null; iptables -X PROVTEST 2>/dev/null; \
         iptables -L INPUT -n --line-numbers | awk '/dpt:9( |$)/ {print $1}' | sort -rn | while read n; do iptables -D INPUT $n; done; \
         iptables -P FORWARD ACCEPT; true",
    )
    .await;
}

/// Runs Ansible's iptables module and prov's with the same arguments from the same state;
/// the rules must be equal, and so must `changed`.
async fn same_rules_as_ansible(h: &NsConnection, args: Value, setup: &str) {
    iptables_clean(h).await;
    h.sh_ok(setup).await;
    let Some(theirs) = ansible("lab1", "ansible.builtin.iptables", &args) else {
        return;
    };
    assert!(theirs.get("failed").is_none(), "{theirs}");
    let want = rules_of(h).await;
    iptables_clean(h).await;
    h.sh_ok(setup).await;
    let ours = converge(h, "iptables", args.clone()).await;
    assert_eq!(
        rules_of(h).await,
        want,
        "rules differ from Ansible's for {args}"
    );
    assert_eq!(theirs["changed"].as_bool(), Some(ours.changed), "{args}");
    assert_eq!(theirs["rule"], ours.result["rule"], "{args}");
}

#[tokio::test]
async fn iptables_rules_chains_and_policies_as_ansible() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab1") else { return };
    let tables = nft_tables(&h).await;
    install(&h, "iptables").await;
    iptables_clean(&h).await;

    // A chain (chain_management), rules in it, one in INPUT for a port nobody uses.
    let chain = json!({"chain": "PROVTEST", "chain_management": true});
    same_rules_as_ansible(&h, chain.clone(), "true").await;
    let new = "iptables -N PROVTEST";
    for args in [
        json!({"chain": "PROVTEST", "protocol": "tcp", "destination_port": "8080", "ctstate": ["NEW", "ESTABLISHED"], "jump": "ACCEPT", "comment": "prov web"}),
        json!({"chain": "PROVTEST", "source": "!10.0.0.0/8", "in_interface": "lo", "jump": "DROP"}),
        json!({"chain": "PROVTEST", "protocol": "udp", "destination_ports": ["53", "5353:5355"], "jump": "RETURN"}),
        json!({"chain": "PROVTEST", "protocol": "tcp", "source_port": "1024:65535", "destination": "10.1.0.0/16", "out_interface": "lo", "jump": "REJECT", "reject_with": "tcp-reset"}),
        json!({"chain": "PROVTEST", "protocol": "tcp", "match": ["state"], "ctstate": ["RELATED"], "jump": "ACCEPT", "action": "insert", "rule_num": "1"}),
        json!({"chain": "INPUT", "protocol": "tcp", "destination_port": "9", "jump": "DROP", "comment": "prov discard"}),
        json!({"chain": "FORWARD", "policy": "DROP"}),
    ] {
        same_rules_as_ansible(&h, args, new).await;
    }

    // Insert goes first; absent removes it; the rule text is returned.
    iptables_clean(&h).await;
    h.sh_ok("iptables -N PROVTEST && iptables -A PROVTEST -j RETURN")
        .await;
    let args = json!({"chain": "PROVTEST", "protocol": "icmp", "icmp_type": "echo-request", "jump": "ACCEPT", "action": "insert"});
    let real = converge(&h, "iptables", args).await;
    assert_eq!(
        real.result["rule"],
        json!("-p icmp -j ACCEPT --icmp-type echo-request")
    );
    assert_eq!(
        h.sh_ok("iptables -S PROVTEST").await,
        "-N PROVTEST\n-A PROVTEST -p icmp -m icmp --icmp-type 8 -j ACCEPT\n-A PROVTEST -j RETURN\n"
    );
    let absent = json!({"chain": "PROVTEST", "protocol": "icmp", "icmp_type": "echo-request", "jump": "ACCEPT", "state": "absent"});
    converge(&h, "iptables", absent).await;
    assert_eq!(
        h.sh_ok("iptables -S PROVTEST").await,
        "-N PROVTEST\n-A PROVTEST -j RETURN\n"
    );

    // Flush always reports a change, as Ansible's; then the chain goes with chain_management.
    let flush = json!({"chain": "PROVTEST", "flush": true});
    assert!(check(&h, "iptables", flush.clone()).await.unwrap().changed);
    assert!(apply(&h, "iptables", flush).await.unwrap().changed);
    assert_eq!(h.sh_ok("iptables -S PROVTEST").await, "-N PROVTEST\n");
    let gone = json!({"chain": "PROVTEST", "state": "absent", "chain_management": true});
    converge(&h, "iptables", gone).await;
    assert!(!h.sh("iptables -S PROVTEST").await.success());

    // Without chain_management a missing chain is reported as a change and left alone.
    let planned = apply(&h, "iptables", json!({"chain": "PROVTEST"}))
        .await
        .unwrap();
    assert!(planned.changed);
    assert!(!h.sh("iptables -S PROVTEST").await.success());
    if let Some(t) = ansible(
        "lab1",
        "ansible.builtin.iptables",
        &json!({"chain": "PROVTEST"}),
    ) {
        assert_eq!(t["changed"], json!(true), "{t}");
    }

    // IPv6 and both.
    let both = json!({"chain": "INPUT", "protocol": "tcp", "destination_port": "9", "jump": "DROP", "ip_version": "both"});
    converge(&h, "iptables", both.clone()).await;
    assert!(
        h.sh_ok("ip6tables -S INPUT")
            .await
            .contains("--dport 9 -j DROP")
    );
    let mut gone = both;
    gone["state"] = json!("absent");
    converge(&h, "iptables", gone).await;
    assert!(!h.sh_ok("ip6tables -S INPUT").await.contains("--dport 9"));

    // Refused arguments are named.
    let e = apply(
        &h,
        "iptables",
        json!({"chain": "INPUT", "uid_owner": "0", "jump": "ACCEPT"}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("uid_owner"), "{e}");

    iptables_clean(&h).await;
    purge(&h, "iptables").await;
    drop_new_tables(&h, &tables).await;
    ssh_answers(&h).await;
}

/// The error of a module run, prov's or Ansible's.
fn msg_of(v: &Value) -> String {
    v["msg"].as_str().unwrap_or_default().to_owned()
}

const MODPROBE_FILES: &str = "/etc/modules-load.d/* /etc/modprobe.d/*";

#[tokio::test]
async fn modprobe_fails_as_ansible_on_a_kernel_without_modules() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab1") else { return };
    // This machine's kernel has no loadable modules (no /proc/modules, no /lib/modules): both
    // Ansible's module and prov's fail before loading or writing anything. Nothing here loads
    // or unloads a kernel module.
    assert!(
        !h.sh("test -e /proc/modules").await.success(),
        "the kernel has modules"
    );
    let before = files(&h, MODPROBE_FILES).await;

    // Without kmod: the executable is missing.
    let had_kmod = h.sh("command -v modprobe").await.success();
    let args = json!({"name": "nf_tables", "state": "present"});
    if !had_kmod {
        let ours = apply(&h, "modprobe", args.clone()).await.unwrap_err();
        assert!(
            ours.to_string()
                .contains("Failed to find required executable \"modprobe\""),
            "{ours}"
        );
        if let Some(t) = ansible("lab1", "community.general.modprobe", &args) {
            assert!(
                msg_of(&t).starts_with("Failed to find required executable \"modprobe\""),
                "{t}"
            );
        }
        install(&h, "kmod").await;
    }
    for args in [
        json!({"name": "nf_tables", "state": "present", "persistent": "present", "params": "a=1"}),
        json!({"name": "dummy", "state": "absent", "persistent": "absent"}),
        json!({"name": "dummy"}),
    ] {
        let before_run = files(&h, MODPROBE_FILES).await;
        let want = "[Errno 2] No such file or directory: '/proc/modules'";
        let e = check(&h, "modprobe", args.clone()).await.unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        let e = apply(&h, "modprobe", args.clone()).await.unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        if let Some(t) = ansible("lab1", "community.general.modprobe", &args) {
            assert_eq!(msg_of(&t), want, "{t}");
        }
        assert_eq!(
            files(&h, MODPROBE_FILES).await,
            before_run,
            "nothing written"
        );
    }
    if !had_kmod {
        purge(&h, "kmod").await;
    }
    assert_eq!(files(&h, MODPROBE_FILES).await, before);
}

/// Runs Ansible's own modprobe module (the collection's code, from the venv's Python) against
/// copies of `/etc/modules-load.d` and `/etc/modprobe.d` under `root`, with `module_loaded`
/// answering yes (this machine's kernel cannot tell) and no `modprobe` run.
const MODPROBE_HARNESS: &str = r#"
import sys, json
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
root, args = sys.argv[1], json.loads(sys.argv[2])
basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
basic._ANSIBLE_PROFILE = "legacy"
import ansible_collections.community.general.plugins.modules.modprobe as m
m.MODULES_LOAD_LOCATION = root + "/etc/modules-load.d"
m.PARAMETERS_FILES_LOCATION = root + "/etc/modprobe.d"
m.Modprobe.module_loaded = lambda self: True
basic.AnsibleModule.get_bin_path = lambda self, *a, **k: "/bin/false"
m.main()
"#;

/// Every file under `root`, path (relative) and content.
fn tree(root: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["etc/modules-load.d", "etc/modprobe.d"] {
        for e in std::fs::read_dir(root.join(dir)).expect("dir") {
            let p = e.expect("entry").path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.push((rel, std::fs::read_to_string(&p).expect("read")));
        }
    }
    out.sort();
    out
}

/// prov's persistence planner on the files under `root`, its writes applied there.
fn prov_persistence(root: &std::path::Path, name: &str, params: &str, persistent: &str) -> bool {
    use prov_modules::modules::modprobe::{ModprobeState, plan_persistence};
    use prov_modules::textfiles::TextFile;
    let read = |dir: &str| -> Vec<TextFile> {
        tree(root)
            .into_iter()
            .filter(|(p, _)| p.starts_with(&dir[1..]))
            .map(|(p, content)| TextFile {
                path: format!("/{p}"),
                link_target: None,
                mode: 0o644,
                content,
            })
            .collect()
    };
    let st = ModprobeState {
        load_files: read("/etc/modules-load.d"),
        option_files: read("/etc/modprobe.d"),
        options_dir: true,
        load_dir: true,
    };
    let writes = plan_persistence(name, params, persistent, &st).expect("plan");
    for w in &writes {
        let path = root.join(&w.path[1..]);
        std::fs::write(path, w.content.as_deref().expect("a write")).expect("write");
    }
    !writes.is_empty()
}

/// Files before (path under the root, content), name, params, persistent.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
    &'static str,
);

#[test]
fn modprobe_persistence_files_are_what_ansibles_code_writes() {
    let python = "/var/cache/prov-bench/venv/bin/python3";
    if !std::path::Path::new(python).exists() {
        eprintln!("SKIP comparison: no Ansible venv");
        return;
    }
    let cases: [Case; 6] = [
        (&[], "dummy", "", "present"),
        (
            &[(
                "etc/modprobe.d/x.conf",
                "blacklist foo\noptions dummy a=1 # old\noptions dummy2 a=1\n",
            )],
            "dummy",
            "a=2  b=3",
            "present",
        ),
        (
            &[
                ("etc/modules-load.d/m.conf", "# mine\n dummy ;x\nother\n"),
                (
                    "etc/modprobe.d/dummy.conf",
                    "options dummy b=3\noptions dummy a=2\n",
                ),
            ],
            "dummy",
            "a=2 b=3",
            "present",
        ),
        (
            &[
                ("etc/modules-load.d/m.conf", "# mine\ndummy\nother\n"),
                ("etc/modules-load.d/dummy.conf", "dummy\n"),
                ("etc/modprobe.d/dummy.conf", "options dummy a=2\n"),
            ],
            "dummy",
            "",
            "absent",
        ),
        (
            &[("etc/modules-load.d/m.conf", "other\n")],
            "dummy",
            "",
            "absent",
        ),
        (
            &[("etc/modules-load.d/m.conf", "dummy\n")],
            "dummy",
            "x=1",
            "disabled",
        ),
    ];
    for (files, name, params, persistent) in cases {
        let setup = || {
            let dir = tempfile::tempdir().expect("tempdir");
            for d in ["etc/modules-load.d", "etc/modprobe.d"] {
                std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
            }
            for (p, c) in files {
                std::fs::write(dir.path().join(p), c).expect("write");
            }
            dir
        };
        let theirs = setup();
        let args = json!({"name": name, "params": params, "persistent": persistent});
        let out = std::process::Command::new(python)
            .args(["-c", MODPROBE_HARNESS])
            .arg(theirs.path())
            .arg(args.to_string())
            .output()
            .expect("python runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let result: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|_| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        let ours = setup();
        let changed = prov_persistence(ours.path(), name, params, persistent);
        assert_eq!(tree(ours.path()), tree(theirs.path()), "{args}");
        assert_eq!(result["changed"], json!(changed), "{args}");
    }
}
