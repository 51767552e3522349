//! Lab tests of the `apt` module's operations beyond names and states (`deb`, `upgrade`,
//! `autoremove`, `autoclean`, `clean`, `only_upgrade`, held packages, `dpkg_options`,
//! `policy_rc_d`, `update_cache_retries`) on lab1, a real Debian 12 host whose apt reads the
//! lab's local repository. Each test checks the effect with dpkg inside the host, that check
//! mode predicted the real run, and that a second run changes nothing (`converge`); it puts
//! lab1 back as it found it (the packages it installed are purged).
//!
//! The repository holds one version of each package, so upgrades are made possible by
//! installing an older package of the same name built on the host with `dpkg-deb`.
//!
//! Run under the shared lab lock: `flock /work/lab.lock cargo test -p prov-modules --test apt_lab`.

#[path = "support/counting.rs"]
mod counting;
#[path = "support/server_lab.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use counting::Counting;
use prov_core::ModuleError;
use serde_json::{Value, json};
use support::{NsConnection, apply, check, converge, lab_host, lab_lock};

/// Where the tests build their `.deb` files on lab1.
const DIR: &str = "/tmp/prov-apt-lab";

/// `mkdeb NAME VERSION DEPENDS OUT`: a minimal architecture-independent package holding
/// `/usr/share/doc/NAME/README`.
const MKDEB: &str = r#"mkdeb() {
  d=$(mktemp -d); mkdir -p "$d/DEBIAN" "$d/usr/share/doc/$1"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: prov <prov@example.invalid>\nDescription: prov apt test package\n' "$1" "$2" > "$d/DEBIAN/control"
  [ -n "$3" ] && printf 'Depends: %s\n' "$3" >> "$d/DEBIAN/control"
  echo "$1 $2" > "$d/usr/share/doc/$1/README"
  dpkg-deb -Zgzip --build "$d" "$4" >/dev/null && rm -rf "$d"
}
"#;

fn lab1() -> Option<NsConnection> {
    lab_host("lab1")
}

/// Builds `DIR/FILE` on the host.
async fn mkdeb(h: &NsConnection, name: &str, version: &str, depends: &str, file: &str) {
    h.sh_ok(&format!(
        "{MKDEB}mkdir -p {DIR} && mkdeb {name} '{version}' '{depends}' {DIR}/{file}"
    ))
    .await;
}

/// The installed version of `name`, if installed.
async fn dpkg_version(h: &NsConnection, name: &str) -> Option<String> {
    let out = h
        .sh(&format!(
            "dpkg-query -W -f='${{db:Status-Status}}|${{Version}}' {name} 2>/dev/null"
        ))
        .await;
    let text = out.stdout_text();
    let (status, version) = text.split_once('|')?;
    (status == "installed").then(|| version.to_owned())
}

/// True when dpkg knows nothing of `name` (not even its configuration files).
async fn gone(h: &NsConnection, name: &str) -> bool {
    !h.sh(&format!("dpkg-query -W {name} >/dev/null 2>&1"))
        .await
        .success()
}

/// Purges packages with dpkg itself (setup and cleanup, not the module under test).
async fn purge(h: &NsConnection, names: &[&str]) {
    h.sh_ok(&format!(
        "DEBIAN_FRONTEND=noninteractive dpkg --purge {} >/dev/null 2>&1; true",
        names.join(" ")
    ))
    .await;
}

/// Installs the fake old whois 5.5.16 (the repository has 5.5.17).
async fn old_whois(h: &NsConnection) {
    mkdeb(h, "whois", "5.5.16", "", "whois-old.deb").await;
    h.sh_ok(&format!("dpkg -i {DIR}/whois-old.deb >/dev/null"))
        .await;
}

/// Installs liblzf1 from the repository, marked as automatically installed (autoremovable).
async fn auto_lzf(h: &NsConnection) {
    h.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q liblzf1 >/dev/null && apt-mark auto liblzf1 >/dev/null")
        .await;
}

/// lab1 as the tests found it: none of their packages, no files of theirs.
async fn restore(h: &NsConnection) {
    h.sh_ok("apt-mark unhold whois >/dev/null 2>&1; true").await;
    purge(
        h,
        &[
            "prov-apt-demo",
            "whois",
            "memcached",
            "libevent-2.1-7",
            "liblzf1",
        ],
    )
    .await;
    h.sh_ok(&format!(
        "rm -rf {DIR} /etc/apt/sources.list.d/prov-apt-lab-broken.list /var/cache/apt/archives/prov-apt-gone_1.0_all.deb /var/cache/apt/archives/whois_5.5.17_amd64.deb"
    ))
    .await;
}

/// The packages dpkg knows, in any state.
async fn packages(h: &NsConnection) -> BTreeSet<String> {
    h.sh_ok("dpkg-query -W -f='${Package}\n'")
        .await
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Ends a test: its files and packages removed, including what apt installed along (memcached
/// brings perl, which apt keeps because an installed package suggests it), so lab1 has exactly
/// the packages it had before the test.
async fn finish(h: &NsConnection, before: &BTreeSet<String>) {
    restore(h).await;
    let added: Vec<String> = packages(h).await.difference(before).cloned().collect();
    if !added.is_empty() {
        h.sh_ok(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q {} >/dev/null",
            added.join(" ")
        ))
        .await;
    }
    assert_eq!(&packages(h).await, before, "lab1 as found");
}

fn err(e: Result<support::Planned, ModuleError>) -> String {
    e.expect_err("must fail").to_string()
}

#[tokio::test]
async fn apt_deb_installs_a_file_with_its_dependencies() {
    let _g = lab_lock().await;
    let Some(h) = lab1() else { return };
    restore(&h).await;
    let before = packages(&h).await;
    mkdeb(&h, "prov-apt-demo", "1.0", "liblzf1", "demo1.deb").await;
    mkdeb(&h, "prov-apt-demo", "0.9", "", "demo09.deb").await;
    let demo1 = format!("{DIR}/demo1.deb");

    // The file and its dependency from the repository, in one apt-get command.
    let real = converge(&h, "apt", json!({"deb": demo1})).await;
    assert_eq!(
        real.summary,
        ["install liblzf1 3.6-3", "install prov-apt-demo 1.0"]
    );
    assert_eq!(
        dpkg_version(&h, "prov-apt-demo").await.as_deref(),
        Some("1.0")
    );
    assert_eq!(dpkg_version(&h, "liblzf1").await.as_deref(), Some("3.6-3"));
    // Ansible's default dpkg options leave the packaged files in place.
    h.sh_ok("test -f /usr/share/doc/prov-apt-demo/README").await;

    // An older file: refused unless downgrades are allowed (as Ansible: "A later version is
    // already installed").
    let older = json!({"deb": format!("{DIR}/demo09.deb")});
    let e = err(check(&h, "apt", older.clone()).await);
    assert!(e.contains("allow-downgrades"), "{e}");
    let downgrade = json!({"deb": format!("{DIR}/demo09.deb"), "allow_downgrade": true});
    let real = converge(&h, "apt", downgrade).await;
    assert_eq!(real.summary, ["upgrade prov-apt-demo 1.0 -> 0.9"]);
    assert_eq!(
        dpkg_version(&h, "prov-apt-demo").await.as_deref(),
        Some("0.9")
    );

    // `dpkg_options` reach dpkg: a path excluded is not unpacked.
    purge(&h, &["prov-apt-demo"]).await;
    let exclude = json!({"deb": demo1,
        "dpkg_options": "force-confdef,force-confold,path-exclude=/usr/share/doc/prov-apt-demo/*"});
    let real = converge(&h, "apt", exclude).await;
    assert_eq!(real.summary, ["install prov-apt-demo 1.0"]);
    assert_eq!(
        dpkg_version(&h, "prov-apt-demo").await.as_deref(),
        Some("1.0")
    );
    h.sh_ok("test ! -e /usr/share/doc/prov-apt-demo/README")
        .await;

    // A file that is not there is an error naming it.
    let e = err(check(&h, "apt", json!({"deb": format!("{DIR}/nope.deb")})).await);
    assert!(e.contains("nope.deb"), "{e}");

    finish(&h, &before).await;
}

/// Runs a converged task for real and returns how many commands it took (it must change
/// nothing).
async fn round_trips(h: &NsConnection, args: Value) -> usize {
    let c = Counting::new(h);
    let p = apply(&c, "apt", args.clone()).await.expect("apply");
    assert!(!p.changed, "{args}: {p:#?}");
    c.count()
}

#[tokio::test]
async fn apt_upgrade_and_autoremove() {
    let _g = lab_lock().await;
    let Some(h) = lab1() else { return };
    restore(&h).await;
    let before = packages(&h).await;
    old_whois(&h).await;
    auto_lzf(&h).await;

    // `upgrade: yes` upgrades whois and leaves liblzf1 (no autoremove).
    let real = converge(&h, "apt", json!({"upgrade": "yes"})).await;
    assert_eq!(real.summary, ["upgrade whois 5.5.16 -> 5.5.17"]);
    assert_eq!(dpkg_version(&h, "whois").await.as_deref(), Some("5.5.17"));
    assert!(dpkg_version(&h, "liblzf1").await.is_some());
    // Nothing to upgrade: `ok` in one round trip, as every other no-op.
    for args in [json!({"upgrade": "dist"}), json!({"upgrade": "safe"})] {
        assert_eq!(round_trips(&h, args).await, 1);
    }

    // `autoremove` alone removes what nothing needs.
    let real = converge(&h, "apt", json!({"autoremove": true})).await;
    assert_eq!(real.summary, ["remove liblzf1 3.6-3"]);
    assert!(gone(&h, "liblzf1").await);
    assert_eq!(round_trips(&h, json!({"autoremove": true})).await, 1);

    // `upgrade: dist` with `autoremove`: both in one command; `fail_on_autoremove` refuses.
    old_whois(&h).await;
    auto_lzf(&h).await;
    let refused = json!({"upgrade": "dist", "autoremove": true, "fail_on_autoremove": true});
    let e = err(check(&h, "apt", refused).await);
    assert!(e.contains("dist-upgrade"), "{e}");
    let real = converge(&h, "apt", json!({"upgrade": "dist", "autoremove": true})).await;
    assert_eq!(
        real.summary,
        ["remove liblzf1 3.6-3", "upgrade whois 5.5.16 -> 5.5.17"]
    );
    assert_eq!(dpkg_version(&h, "whois").await.as_deref(), Some("5.5.17"));
    assert!(dpkg_version(&h, "liblzf1").await.is_none());

    // `name: "*"` with `latest` is `upgrade: yes`.
    old_whois(&h).await;
    let real = converge(&h, "apt", json!({"name": "*", "state": "latest"})).await;
    assert_eq!(real.summary, ["upgrade whois 5.5.16 -> 5.5.17"]);

    finish(&h, &before).await;
}

#[tokio::test]
async fn apt_only_upgrade_and_held_packages() {
    let _g = lab_lock().await;
    let Some(h) = lab1() else { return };
    restore(&h).await;
    let before = packages(&h).await;
    old_whois(&h).await;

    // Only what is installed is upgraded: memcached stays out.
    let args = json!({"name": ["whois", "memcached"], "state": "latest", "only_upgrade": true});
    let real = converge(&h, "apt", args).await;
    assert_eq!(real.summary, ["upgrade whois 5.5.16 -> 5.5.17"]);
    assert!(gone(&h, "memcached").await);
    let present = json!({"name": "memcached", "only_upgrade": true});
    assert!(!check(&h, "apt", present).await.unwrap().changed);

    // A held package changes only with `allow_change_held_packages`.
    old_whois(&h).await;
    h.sh_ok("apt-mark hold whois >/dev/null").await;
    let latest = json!({"name": "whois", "state": "latest"});
    let e = err(check(&h, "apt", latest).await);
    assert!(e.contains("allow-change-held-packages"), "{e}");
    let allowed = json!({"name": "whois", "state": "latest", "allow_change_held_packages": true,
                         "allow_unauthenticated": true});
    let real = converge(&h, "apt", allowed).await;
    assert_eq!(real.summary, ["upgrade whois 5.5.16 -> 5.5.17"]);
    assert_eq!(dpkg_version(&h, "whois").await.as_deref(), Some("5.5.17"));

    finish(&h, &before).await;
}

async fn memcached_active(h: &NsConnection) -> bool {
    h.sh("systemctl is-active --quiet memcached")
        .await
        .success()
}

#[tokio::test]
async fn apt_policy_rc_d_keeps_new_services_stopped() {
    let _g = lab_lock().await;
    let Some(h) = lab1() else { return };
    restore(&h).await;
    let before = packages(&h).await;
    let gone_with_deps = json!({"name": "memcached", "state": "absent", "purge": true,
                                "autoremove": true});

    // Without policy_rc_d the package starts its service (so the next check can fail).
    converge(&h, "apt", json!({"name": "memcached"})).await;
    assert!(
        memcached_active(&h).await,
        "memcached starts when installed"
    );
    // `autoremove` with a removal takes the dependencies too.
    let real = converge(&h, "apt", gone_with_deps.clone()).await;
    assert!(
        real.summary
            .iter()
            .any(|l| l.starts_with("purge libevent-2.1-7")),
        "{:?}",
        real.summary
    );
    assert!(gone(&h, "memcached").await && gone(&h, "libevent-2.1-7").await);

    // policy-rc.d exiting 101: installed, not started, and no policy-rc.d left behind.
    let args = json!({"name": "memcached", "policy_rc_d": 101});
    converge(&h, "apt", args).await;
    assert!(dpkg_version(&h, "memcached").await.is_some());
    assert!(
        !memcached_active(&h).await,
        "policy-rc.d 101 keeps it stopped"
    );
    h.sh_ok("test ! -e /usr/sbin/policy-rc.d").await;

    // An existing policy-rc.d is put back as it was.
    let mine = "#!/bin/sh\n# kept by the host\nexit 0\n";
    h.sh_ok(&format!(
        "printf '%s' '{mine}' > /usr/sbin/policy-rc.d && chmod 0750 /usr/sbin/policy-rc.d && test -s /usr/sbin/policy-rc.d"
    ))
    .await;
    let mut remove = gone_with_deps.clone();
    remove["policy_rc_d"] = json!(101);
    converge(&h, "apt", remove).await;
    assert!(gone(&h, "memcached").await);
    let kept = h
        .sh_ok("stat -c %a /usr/sbin/policy-rc.d; cat /usr/sbin/policy-rc.d")
        .await;
    h.sh_ok("rm -f /usr/sbin/policy-rc.d").await;
    assert_eq!(kept, format!("750\n{mine}"));

    finish(&h, &before).await;
}

#[tokio::test]
async fn apt_clean_autoclean_and_update_retries() {
    let _g = lab_lock().await;
    let Some(h) = lab1() else { return };
    restore(&h).await;
    let before = packages(&h).await;
    let archives = "/var/cache/apt/archives";
    let fill = format!(
        "{MKDEB}mkdeb prov-apt-gone 1.0 '' {archives}/prov-apt-gone_1.0_all.deb && cp /srv/prov-lab-repo/whois_5.5.17_amd64.deb {archives}/"
    );
    let debs_in_cache = format!("ls {archives} | grep '[.]deb$' || true");

    // autoclean deletes the file no repository offers any more, keeps the other.
    h.sh_ok(&fill).await;
    let real = converge(&h, "apt", json!({"autoclean": true})).await;
    assert_eq!(real.summary, ["autoclean prov-apt-gone 1.0"]);
    assert_eq!(h.sh_ok(&debs_in_cache).await, "whois_5.5.17_amd64.deb\n");

    // clean deletes every downloaded file.
    let real = converge(&h, "apt", json!({"clean": true})).await;
    assert_eq!(real.summary, ["clean apt cache"]);
    assert_eq!(h.sh_ok(&debs_in_cache).await, "");
    assert_eq!(round_trips(&h, json!({"clean": true})).await, 1);

    // With a package already installed, clean runs first and the task stays `ok` (Ansible).
    h.sh_ok(&fill).await;
    let real = converge(&h, "apt", json!({"name": "apt", "clean": true})).await;
    assert!(!real.changed, "{real:#?}");
    assert_eq!(h.sh_ok(&debs_in_cache).await, "");

    // A failing index refresh is retried with backoff, then reported with apt's error.
    h.sh_ok("echo 'deb [trusted=yes] file:/nonexistent-prov-apt-lab ./' > /etc/apt/sources.list.d/prov-apt-lab-broken.list")
        .await;
    let start = Instant::now();
    let e = err(apply(
        &h,
        "apt",
        json!({"update_cache": true, "update_cache_retries": 2,
                   "update_cache_retry_max_delay": 1}),
    )
    .await);
    assert!(
        e.contains("Failed to update apt cache after 2 retries") && e.contains("nonexistent"),
        "{e}"
    );
    assert!(start.elapsed() >= Duration::from_secs(1), "one pause");
    h.sh_ok("rm -f /etc/apt/sources.list.d/prov-apt-lab-broken.list")
        .await;
    let ok = apply(
        &h,
        "apt",
        json!({"update_cache": true, "update_cache_retries": 2}),
    )
    .await
    .expect("update");
    assert!(ok.changed);

    finish(&h, &before).await;
}
