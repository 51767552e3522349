//! Lab tests of `apt_key`, `locale_gen` and `pip` on lab host lab4: the effect is checked
//! inside the host, check mode must predict the real run and a second run must change nothing
//! (`converge`); where it matters, what prov leaves is compared with what the real Ansible
//! module (ansible-core 2.19 and community.general from `/var/cache/prov-bench/venv`) leaves
//! on the same host for the same arguments.
//!
//! The host has no network: packages come from the lab's local apt repository, the key is
//! made inside the host with `gpg --quick-gen-key`, and the Python packages are wheels the
//! test builds there with `zipfile`. Every test removes what it installed.
//!
//! Run under the shared lock: `flock /work/lab.lock cargo test -p prov-modules --test
//! packages_more_lab`. Every test skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::json;
use support::{
    NsConnection, ansible, apply, check, converge, lab_host, lab_lock, put, same_as_ansible,
};

const HOST: &str = "lab4";

const KEYRING: &str = "/etc/apt/trusted.gpg.d/prov-test.gpg";

/// Keys in the test keyring, as `gpg --show-keys` prints their ids.
async fn keyring_ids(h: &NsConnection) -> String {
    h.sh_ok(&format!(
        "[ -e {KEYRING} ] && gpg --no-default-keyring --keyring {KEYRING} --list-keys --with-colons 2>/dev/null | grep '^pub' | cut -d: -f5; true"
    ))
    .await
}

#[tokio::test]
async fn apt_key_adds_and_removes_a_key_as_ansible_does() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let added = h.install("gnupg").await;
    h.sh_ok("export GNUPGHOME=$(mktemp -d) && gpg --batch --passphrase '' --quick-gen-key 'Prov Test <t@example.invalid>' default default never 2>/dev/null && gpg --armor --export > /tmp/prov-key.asc && rm -rf \"$GNUPGHOME\"")
        .await;
    let id = h
        .sh_ok("gpg --with-colons --show-keys /tmp/prov-key.asc | grep '^pub' | cut -d: -f5")
        .await
        .trim()
        .to_owned();
    let data = h.sh_ok("cat /tmp/prov-key.asc").await;

    // From a file into a keyring: the same keyring as Ansible's, the same result fields.
    let args = json!({"file": "/tmp/prov-key.asc", "keyring": KEYRING});
    let compared = same_as_ansible(
        &h,
        "apt_key",
        args.clone(),
        "/etc/apt/trusted.gpg.d/prov-test.gpg*",
        || async {
            h.sh_ok(&format!("rm -f {KEYRING} {KEYRING}~")).await;
        },
    )
    .await;
    if let Some((theirs, ours)) = compared {
        for k in ["id", "fp", "short_id", "key_id", "before"] {
            assert_eq!(ours.result[k], theirs[k], "{k}");
        }
        assert_eq!(theirs["changed"], json!(true));
    }
    assert_eq!(keyring_ids(&h).await.trim(), id);

    // The data, with an 8-digit id: present, so nothing to do.
    let short = &id[8..];
    let ours = converge(
        &h,
        "apt_key",
        json!({"data": data, "id": short, "keyring": KEYRING}),
    )
    .await;
    assert!(!ours.changed);
    assert_eq!(
        ours.result["before"],
        json!([short, ours.result["before"][1]])
    );

    // Absent by id, as Ansible removes it (apt-key del with the short id).
    let args = json!({"id": id, "keyring": KEYRING, "state": "absent"});
    let real = converge(&h, "apt_key", args.clone()).await;
    assert!(real.changed);
    assert_eq!(keyring_ids(&h).await.trim(), "");
    if let Some(theirs) = ansible(HOST, "apt_key", &args) {
        assert_eq!(theirs["changed"], json!(false), "{theirs}");
    }

    // Data without an id, into a fresh keyring.
    h.sh_ok(&format!("rm -f {KEYRING} {KEYRING}~")).await;
    let real = converge(&h, "apt_key", json!({"data": data, "keyring": KEYRING})).await;
    assert_eq!(real.result["id"], json!(id));
    assert_eq!(keyring_ids(&h).await.trim(), id);

    // Refused and failing cases.
    let e = check(
        &h,
        "apt_key",
        json!({"url": "https://example.invalid/k", "id": id}),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("get_url"), "{e}");
    let e = apply(
        &h,
        "apt_key",
        json!({"data": "not a key", "keyring": KEYRING}),
    )
    .await
    .unwrap_err();
    let theirs = ansible(
        HOST,
        "apt_key",
        &json!({"data": "not a key", "keyring": KEYRING}),
    );
    if let Some(t) = theirs {
        assert!(
            e.to_string().contains(t["msg"].as_str().unwrap()),
            "{e} vs {t}"
        );
    }

    h.sh_ok(&format!(
        "rm -f {KEYRING} {KEYRING}~ /tmp/prov-key.asc; rm -rf /root/.gnupg"
    ))
    .await;
    h.purge(&added).await;
    // Without gpg, Ansible's module ends ok with a message; prov too.
    let ours = check(&h, "apt_key", json!({"id": id, "state": "absent"}))
        .await
        .unwrap();
    assert!(!ours.changed);
    assert!(ours.result["msg"].as_str().unwrap().contains("\"gpg\""));
}

/// The locale.gen the package installed, and no generated locales.
async fn reset_locales(h: &NsConnection, original: &str) {
    put(h, "/etc/locale.gen", original).await;
    h.sh_ok("locale-gen >/dev/null").await;
}

#[tokio::test]
async fn locale_gen_generates_and_removes_locales_as_the_collection_does() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let added = h.install("locales").await;
    let original = h.sh_ok("cat /etc/locale.gen").await;
    let args = json!({"name": ["de_DE.UTF-8", "en_US.UTF-8"]});
    let compared = same_as_ansible(
        &h,
        "community.general.locale_gen",
        args.clone(),
        "/etc/locale.gen",
        || reset_locales(&h, &original),
    )
    .await;
    if let Some((theirs, ours)) = compared {
        for k in ["name", "mechanism", "ubuntu_mode"] {
            assert_eq!(ours.result[k], theirs[k], "{k}");
        }
        assert_eq!(theirs["changed"], json!(true));
    }
    let have = h.sh_ok("locale -a").await;
    assert!(
        have.contains("de_DE.utf8") && have.contains("en_US.utf8"),
        "{have}"
    );

    // Absent acts only when every name is present.
    let real = converge(
        &h,
        "locale_gen",
        json!({"name": "de_DE.UTF-8,fr_FR.UTF-8", "state": "absent"}),
    )
    .await;
    assert!(!real.changed);
    let args = json!({"name": "de_DE.UTF-8", "state": "absent"});
    let compared = same_as_ansible(&h, "community.general.locale_gen", args, "/etc/locale.gen", || async {
        reset_locales(&h, &original).await;
        h.sh_ok("sed -i 's/^# de_DE.UTF-8 UTF-8/de_DE.UTF-8 UTF-8/' /etc/locale.gen && locale-gen >/dev/null").await;
    })
    .await;
    if let Some((theirs, ours)) = compared {
        assert_eq!(theirs["changed"], json!(true));
        assert!(ours.changed);
    }
    assert!(!h.sh_ok("locale -a").await.contains("de_DE"));

    // A locale glibc does not know fails with the module's message.
    let e = check(&h, "locale_gen", json!({"name": ["xx_YY.UTF-8"]}))
        .await
        .unwrap_err();
    if let Some(t) = ansible(
        HOST,
        "community.general.locale_gen",
        &json!({"name": ["xx_YY.UTF-8"]}),
    ) {
        assert!(
            e.to_string().contains(t["msg"].as_str().unwrap()),
            "{e} vs {t}"
        );
    }

    reset_locales(&h, &original).await;
    h.purge(&added).await;
    h.sh_ok("rm -f /etc/locale.gen; rm -rf /usr/lib/locale/locale-archive")
        .await;
}

const WHEELS: &str = "/tmp/prov-wheels";
const VENV: &str = "/tmp/prov-venv";

/// Builds `prov_demo` 1.0 and 2.0 wheels in [`WHEELS`] with Python's zipfile.
async fn build_wheels(h: &NsConnection) {
    let py = r#"
import zipfile, os
d = "/tmp/prov-wheels"
os.makedirs(d, exist_ok=True)
for v in ("1.0", "2.0"):
    info = "prov_demo-%s.dist-info" % v
    files = {
        "prov_demo/__init__.py": "VERSION = %r\n" % v,
        info + "/METADATA": "Metadata-Version: 2.1\nName: prov-demo\nVersion: %s\n" % v,
        info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: prov-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[info + "/RECORD"] = "".join("%s,,\n" % f for f in list(files) + [info + "/RECORD"])
    with zipfile.ZipFile("%s/prov_demo-%s-py3-none-any.whl" % (d, v), "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
"#;
    put(h, "/tmp/prov-mkwheel.py", py).await;
    h.sh_ok("python3 /tmp/prov-mkwheel.py && rm /tmp/prov-mkwheel.py")
        .await;
}

async fn freeze(h: &NsConnection) -> String {
    h.sh_ok(&format!("{VENV}/bin/pip freeze")).await
}

#[tokio::test]
async fn pip_installs_into_a_virtualenv_as_ansible_does() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let added = h.install("python3-pip python3-venv").await;
    build_wheels(&h).await;
    let extra = format!("--no-index --find-links {WHEELS}");
    let base = |extra_fields: serde_json::Value| {
        let mut v = json!({"virtualenv": VENV, "virtualenv_command": "python3 -m venv", "extra_args": extra});
        v.as_object_mut()
            .unwrap()
            .extend(extra_fields.as_object().unwrap().clone());
        v
    };

    // A new virtualenv with one package, compared with Ansible's by `pip freeze`.
    let args = base(json!({"name": ["prov-demo==1.0"]}));
    h.sh_ok(&format!("rm -rf {VENV}")).await;
    if let Some(theirs) = ansible(HOST, "pip", &args) {
        assert_eq!(theirs["changed"], json!(true), "{theirs}");
        assert_eq!(freeze(&h).await, "prov-demo==1.0\n");
    }
    h.sh_ok(&format!("rm -rf {VENV}")).await;
    let real = converge(&h, "pip", args.clone()).await;
    assert_eq!(real.summary[0], format!("create virtualenv {VENV}"));
    assert_eq!(freeze(&h).await, "prov-demo==1.0\n");
    assert_eq!(
        h.sh_ok(&format!(
            "{VENV}/bin/python -c 'import prov_demo; print(prov_demo.VERSION)'"
        ))
        .await,
        "1.0\n"
    );

    // latest upgrades, then nothing; Ansible agrees on the second run.
    let real = converge(
        &h,
        "pip",
        base(json!({"name": "prov-demo", "state": "latest"})),
    )
    .await;
    assert_eq!(real.summary, ["install prov-demo 2.0"]);
    if let Some(theirs) = ansible(
        HOST,
        "pip",
        &base(json!({"name": "prov-demo", "state": "latest"})),
    ) {
        assert_eq!(theirs["changed"], json!(false), "{theirs}");
    }

    // version: a downgrade is a change; a satisfied specifier is not.
    let real = converge(
        &h,
        "pip",
        base(json!({"name": "prov-demo", "version": "1.0"})),
    )
    .await;
    assert_eq!(real.summary, ["install prov-demo 1.0"]);
    let real = converge(&h, "pip", base(json!({"name": ["prov-demo>=0.5", "<3"]}))).await;
    assert!(!real.changed);

    // forcereinstall always reinstalls (Ansible: `Successfully installed`).
    let args = base(json!({"name": "prov-demo", "state": "forcereinstall"}));
    let p = check(&h, "pip", args.clone()).await.unwrap();
    assert!(p.changed);
    apply(&h, "pip", args).await.unwrap();

    // A requirements file, in chdir (forcereinstall with -U left 2.0).
    assert_eq!(freeze(&h).await, "prov-demo==2.0\n");
    h.sh_ok("mkdir -p /tmp/prov-app && echo 'prov-demo==1.0' > /tmp/prov-app/req.txt")
        .await;
    let real = converge(
        &h,
        "pip",
        base(json!({"requirements": "req.txt", "chdir": "/tmp/prov-app"})),
    )
    .await;
    assert_eq!(real.summary, ["install prov-demo 1.0"]);
    assert_eq!(freeze(&h).await, "prov-demo==1.0\n");

    // absent removes any installed version; Ansible then finds nothing to do.
    let args = json!({"name": "prov_demo<1", "virtualenv": VENV, "state": "absent"});
    let real = converge(&h, "pip", args.clone()).await;
    assert_eq!(real.summary, ["uninstall prov-demo"]);
    assert_eq!(freeze(&h).await, "");
    if let Some(theirs) = ansible(HOST, "pip", &args) {
        assert_eq!(theirs["changed"], json!(false), "{theirs}");
    }

    // A package pip cannot find fails as the real run fails.
    let e = check(&h, "pip", base(json!({"name": "no-such-thing"})))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("No matching distribution"), "{e}");

    // A virtualenv with the system's site packages, made under a umask.
    let venv2 = "/tmp/prov-venv2";
    let args = json!({"name": "prov-demo", "virtualenv": venv2, "virtualenv_command": "/usr/bin/python3 -m venv",
        "virtualenv_site_packages": true, "umask": "0077", "extra_args": extra});
    converge(&h, "pip", args).await;
    let cfg = h
        .sh_ok(&format!("cat {venv2}/pyvenv.cfg; stat -c %a {venv2}"))
        .await;
    assert!(cfg.contains("include-system-site-packages = true"), "{cfg}");
    assert!(cfg.ends_with("700\n"), "{cfg}");
    h.sh_ok(&format!("rm -rf {venv2}")).await;

    // The system's pip (python3 -m pip): Debian's Python is externally managed, so pip fails
    // unless break_system_packages, as in Ansible.
    let args = json!({"name": "prov-demo", "extra_args": extra});
    let e = check(&h, "pip", args.clone()).await.unwrap_err();
    assert!(
        e.to_string().contains("externally-managed-environment"),
        "{e}"
    );
    if let Some(t) = ansible(HOST, "pip", &args) {
        assert!(
            t["msg"]
                .as_str()
                .unwrap()
                .contains("externally-managed-environment"),
            "{t}"
        );
    }
    let args =
        json!({"name": "prov-demo==1.0", "extra_args": extra, "break_system_packages": true});
    let real = converge(&h, "pip", args).await;
    assert_eq!(real.summary, ["install prov-demo 1.0"]);
    h.sh_ok("cd / && python3 -c 'import prov_demo'").await;
    let args = json!({"name": "prov-demo", "state": "absent", "executable": "pip3", "break_system_packages": true});
    let real = converge(&h, "pip", args).await;
    assert_eq!(real.summary, ["uninstall prov-demo"]);
    assert!(
        !h.sh("cd / && python3 -c 'import prov_demo'")
            .await
            .success()
    );

    h.sh_ok(&format!("rm -rf {VENV} {WHEELS} /tmp/prov-app"))
        .await;
    h.purge(&added).await;
}
