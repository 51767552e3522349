//! Lab tests of the two modules dev-sec's `ssh_hardening` role needs (`pamd`,
//! `openssh_keypair`) on lab host lab4, each case compared with the real module
//! (community.general / community.crypto in the Ansible venv) run from the same state: the
//! files left (pamd: the whole text, the mark line's time aside; keys: type, size, comment,
//! format, mode and owner, never the key bits) and the result fields. Every prov run is a
//! `converge` (check mode predicts the real run, a second run changes nothing) where the
//! module is idempotent.
//!
//! Run under the shared lock: `flock -o /work/lab.lock cargo test -p prov-modules --test
//! ssh_hardening_lab`. lab4's files are restored at the end of each test.

#[path = "support/server_lab.rs"]
mod support;

use std::path::{Path, PathBuf};

use prov_core::{FileKind, FileSource, ModuleContext, ModuleError, PlanReport};
use serde_json::{Map, Value, json};
use support::{NoPeers, NsConnection, ansible, check, converge, lab_facts, lab_host, lab_lock};

const HOST: &str = "lab4";
const PAM_DIR: &str = "/root/prov-pamd";
const KEY_DIR: &str = "/root/prov-keys";

/// `# Updated by Ansible - <time>` with the time replaced by `T` (after checking its form).
fn mask_mark(text: &str) -> String {
    let re = regex::Regex::new(r"(?m)^# Updated by Ansible - (.*)$").unwrap();
    let time = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$").unwrap();
    for c in re.captures_iter(text) {
        assert!(
            time.is_match(&c[1]),
            "mark time `{}` is not isoformat",
            &c[1]
        );
    }
    re.replace_all(text, "# Updated by Ansible - T")
        .into_owned()
}

async fn pam_files(h: &NsConnection) -> String {
    mask_mark(&support::files(h, &format!("{PAM_DIR}/*")).await)
}

/// Fresh copies of lab4's PAM files, plus a small file of unusual rules.
async fn reset_pam(h: &NsConnection) {
    h.sh_ok(&format!(
        "rm -rf {PAM_DIR} && mkdir {PAM_DIR} && cp -p /etc/pam.d/sshd /etc/pam.d/common-auth /etc/pam.d/su /etc/pam.d/login {PAM_DIR}/"
    ))
    .await;
    support::put(
        h,
        &format!("{PAM_DIR}/custom"),
        "#%PAM-1.0\nauth       sufficient   pam_rootok.so\n# between\nauth       required     pam_wheel.so use_uid\nauth    required  pam_faillock.so preauth silent deny=3 unlock_time=600\n-session optional pam_systemd.so\n\npassword include system-auth\n",
    )
    .await;
}

/// The result fields both report.
fn pam_result(v: &Map<String, Value>) -> Value {
    json!({"change_count": v["change_count"], "backupdest": v["backupdest"]})
}

#[tokio::test]
async fn pamd_edits_what_ansible_edits() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let base = |name: &str, t: &str, c: &str, p: &str| json!({"name": name, "type": t, "control": c, "module_path": p, "path": PAM_DIR});
    let with = |mut v: Value, extra: Value| {
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let cases = [
        // The role's task (without its backup, checked below on the real file).
        with(
            base("sshd", "session", "optional", "pam_motd.so"),
            json!({"state": "absent"}),
        ),
        with(
            base("sshd", "session", "optional", "pam_nothere.so"),
            json!({"state": "absent"}),
        ),
        with(
            base("sshd", "session", "optional", "pam_keyinit.so"),
            json!({"new_control": "required", "module_arguments": "revoke"}),
        ),
        with(
            base(
                "sshd",
                "session",
                "[success=ok ignore=ignore module_unknown=ignore default=bad]",
                "pam_selinux.so",
            ),
            json!({"state": "after", "new_type": "session", "new_control": "optional", "new_module_path": "pam_x.so"}),
        ),
        with(
            base("custom", "auth", "required", "pam_wheel.so"),
            json!({"state": "before", "new_type": "auth", "new_control": "[success=1 default=ignore]", "new_module_path": "pam_y.so", "module_arguments": ["a", "b=1"]}),
        ),
        with(
            base("su", "auth", "sufficient", "pam_rootok.so"),
            json!({"state": "after", "new_type": "auth", "new_control": "required", "new_module_path": "pam_wheel.so", "module_arguments": "use_uid"}),
        ),
        with(
            base("custom", "auth", "required", "pam_faillock.so"),
            json!({"state": "args_present", "module_arguments": "deny=5"}),
        ),
        with(
            base("custom", "auth", "required", "pam_faillock.so"),
            json!({"state": "args_present", "module_arguments": ["even_deny_root"]}),
        ),
        with(
            base("custom", "auth", "required", "pam_faillock.so"),
            json!({"state": "args_absent", "module_arguments": "preauth,unlock_time=600"}),
        ),
        with(
            base(
                "common-auth",
                "auth",
                "[success=1 default=ignore]",
                "pam_unix.so",
            ),
            json!({"state": "updated", "new_control": "[success=2 default=ignore]", "module_arguments": ""}),
        ),
        with(
            base("custom", "-session", "optional", "pam_systemd.so"),
            json!({"state": "absent"}),
        ),
        with(
            base("login", "session", "optional", "pam_motd.so"),
            json!({"state": "updated", "new_module_path": "pam_motd2.so"}),
        ),
    ];
    for args in cases {
        reset_pam(&h).await;
        let theirs = ansible(HOST, "community.general.pamd", &args).expect("ansible");
        assert!(theirs.get("failed").is_none(), "{args}: {theirs}");
        let their_files = pam_files(&h).await;
        reset_pam(&h).await;
        let ours = converge(&h, "pamd", args.clone()).await;
        assert_eq!(pam_files(&h).await, their_files, "{args}: files differ");
        assert_eq!(ours.changed, theirs["changed"] == json!(true), "{args}");
        let t = theirs.as_object().unwrap();
        assert_eq!(pam_result(&ours.result), pam_result(t), "{args}");
    }

    // A control Ansible refuses: the same message.
    reset_pam(&h).await;
    let args = with(
        base("sshd", "session", "required", "pam_limits.so"),
        json!({"new_control": "bogus"}),
    );
    let theirs = ansible(HOST, "community.general.pamd", &args).expect("ansible");
    let ours = support::apply(&h, "pamd", args).await.unwrap_err();
    assert_eq!(
        ours.to_string(),
        ModuleError::failed(theirs["msg"].as_str().unwrap()).to_string()
    );

    // The role's exact task on lab4's real /etc/pam.d/sshd, with its backup.
    let original = h.sh_ok("cat /etc/pam.d/sshd").await;
    let role = json!({"name": "sshd", "type": "session", "control": "optional", "module_path": "pam_motd.so", "state": "absent", "backup": true});
    let theirs = ansible(HOST, "community.general.pamd", &role).expect("ansible");
    assert_eq!(theirs["change_count"], json!(2), "{theirs}");
    let their_backup = theirs["backupdest"].as_str().unwrap().to_owned();
    let their_file = mask_mark(&h.sh_ok("cat /etc/pam.d/sshd").await);
    h.sh_ok(&format!(
        "cp -p '{their_backup}' /etc/pam.d/sshd && rm -f '{their_backup}'"
    ))
    .await;
    let (plan, outcome) = apply_with_outcome(&h, "pamd", role.clone()).await;
    assert!(plan.changed);
    let backup = outcome["backupdest"].as_str().unwrap().to_owned();
    let name =
        regex::Regex::new(r"^/etc/pam\.d/sshd\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$").unwrap();
    assert!(name.is_match(&backup), "{backup}");
    assert!(name.is_match(&their_backup), "{their_backup}");
    assert_eq!(h.sh_ok(&format!("cat '{backup}'")).await, original);
    assert_eq!(
        h.sh_ok(&format!("stat -c '%a %U' '{backup}' /etc/pam.d/sshd"))
            .await,
        "644 root\n644 root\n"
    );
    assert_eq!(mask_mark(&h.sh_ok("cat /etc/pam.d/sshd").await), their_file);
    let again = check(&h, "pamd", role).await.unwrap();
    assert!(!again.changed);
    h.sh_ok(&format!(
        "cp -p '{backup}' /etc/pam.d/sshd && rm -f '{backup}' && rm -rf {PAM_DIR}"
    ))
    .await;
    assert_eq!(h.sh_ok("cat /etc/pam.d/sshd").await, original);
}

/// A key pair's properties that must be equal (never its bits): for each file, its mode and
/// owner; the private key's format line, `ssh-keygen -l` without the fingerprint; the `.pub`'s
/// type and comment.
async fn key_props(h: &NsConnection, k: &str) -> String {
    h.sh_ok(&format!(
        "k={k}; for f in \"$k\" \"$k.pub\"; do [ -e \"$f\" ] && stat -c '%n %a %U:%G' \"$f\" || echo \"$f absent\"; done; \
         [ -e \"$k\" ] && head -1 \"$k\" && ssh-keygen -l -f \"$k\" | awk '{{$2=\"\"; print}}'; \
         [ -e \"$k.pub\" ] && awk '{{$2=\"\"; print}}' \"$k.pub\"; true"
    ))
    .await
}

/// The key's fingerprint and public key as the files say.
async fn key_facts(h: &NsConnection, k: &str) -> (String, String) {
    let fp = h
        .sh_ok(&format!("ssh-keygen -l -f {k} | awk '{{print $2}}'"))
        .await;
    let public = h.sh_ok(&format!("awk '{{print $1\" \"$2}}' {k}.pub")).await;
    (fp.trim().into(), public.trim().into())
}

/// The result fields that do not depend on the key bits.
fn key_result(v: &Map<String, Value>) -> Value {
    json!({"size": v["size"], "type": v["type"], "filename": v["filename"], "comment": v["comment"]})
}

#[tokio::test]
async fn openssh_keypair_makes_what_ansible_makes() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let k = format!("{KEY_DIR}/key");
    let fresh = format!("rm -rf {KEY_DIR} && mkdir -m 700 {KEY_DIR}");
    let old_1024 = format!(
        "{fresh} && ssh-keygen -q -N '' -t rsa -b 1024 -C old -f {k} && chgrp adm {k} {k}.pub && chmod 640 {k}.pub"
    );
    let host_key = format!(
        "{fresh} && cp -p /etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_rsa_key.pub {KEY_DIR}/"
    );
    let cases: Vec<(&str, String, Value)> = vec![
        (
            "new rsa",
            fresh.clone(),
            json!({"path": k, "size": 2048, "comment": "c1"}),
        ),
        (
            "new ed25519",
            fresh.clone(),
            json!({"path": k, "type": "ed25519"}),
        ),
        (
            "new ecdsa 384 with mode and group",
            fresh.clone(),
            json!({"path": k, "type": "ecdsa", "size": 384, "mode": "0600", "group": "adm"}),
        ),
        ("kept", old_1024.clone(), json!({"path": k, "size": 1024})),
        (
            "size mismatch",
            old_1024.clone(),
            json!({"path": k, "size": 2048}),
        ),
        (
            "type mismatch",
            old_1024.clone(),
            json!({"path": k, "type": "ed25519", "comment": "n"}),
        ),
        (
            "comment only",
            old_1024.clone(),
            json!({"path": k, "size": 1024, "comment": "new one"}),
        ),
        (
            "missing .pub",
            format!("{old_1024} && rm {k}.pub"),
            json!({"path": k, "size": 1024}),
        ),
        (
            "mode only",
            old_1024.clone(),
            json!({"path": k, "size": 1024, "mode": "0600"}),
        ),
        (
            "force",
            old_1024.clone(),
            json!({"path": k, "size": 1024, "force": true}),
        ),
        (
            "the role's host key task",
            host_key,
            json!({"path": format!("{KEY_DIR}/ssh_host_rsa_key"), "state": "present", "type": "rsa", "size": 4096, "force": false, "regenerate": "partial_idempotence"}),
        ),
    ];
    for (name, setup, args) in cases {
        let path = args["path"].as_str().unwrap().to_owned();
        h.sh_ok(&setup).await;
        let theirs = ansible(HOST, "community.crypto.openssh_keypair", &args).expect("ansible");
        assert!(theirs.get("failed").is_none(), "{name}: {theirs}");
        let their_props = key_props(&h, &path).await;
        let (fp, public) = key_facts(&h, &path).await;
        assert_eq!(theirs["fingerprint"], json!(fp), "{name}");
        assert_eq!(theirs["public_key"], json!(public), "{name}");
        h.sh_ok(&setup).await;
        let forced = args["force"] == json!(true);
        let ours = if forced {
            let (plan, outcome) = apply_with_outcome(&h, "openssh_keypair", args.clone()).await;
            assert!(plan.changed);
            let (fp, public) = key_facts(&h, &path).await;
            assert_eq!(outcome["fingerprint"], json!(fp), "{name}");
            assert_eq!(outcome["public_key"], json!(public), "{name}");
            plan.result
        } else {
            let real = converge(&h, "openssh_keypair", args.clone()).await;
            assert_eq!(real.changed, theirs["changed"] == json!(true), "{name}");
            real.result
        };
        assert_eq!(key_props(&h, &path).await, their_props, "{name}");
        let after = check(&h, "openssh_keypair", args.clone()).await.unwrap();
        let (fp, public) = key_facts(&h, &path).await;
        assert_eq!(after.result["fingerprint"], json!(fp), "{name}");
        assert_eq!(after.result["public_key"], json!(public), "{name}");
        assert_eq!(
            key_result(&after.result),
            key_result(theirs.as_object().unwrap()),
            "{name}"
        );
        let _ = ours;
    }

    // The outcome of a real run reports the new key, as the module does.
    h.sh_ok(&old_1024).await;
    let args = json!({"path": k, "size": 2048});
    let (plan, outcome) = apply_with_outcome(&h, "openssh_keypair", args).await;
    assert_eq!(
        plan.summary,
        [format!(
            "regenerate key pair {k} as rsa 2048 (was rsa 1024)"
        )]
    );
    let (fp, public) = key_facts(&h, &k).await;
    assert_eq!(outcome["fingerprint"], json!(fp));
    assert_eq!(outcome["public_key"], json!(public));
    assert_eq!(outcome["comment"], json!(""));

    // regenerate: fail, an unreadable key, a missing directory: the module's messages.
    let failing: Vec<(String, Value)> = vec![
        (
            old_1024.clone(),
            json!({"path": k, "size": 2048, "regenerate": "fail"}),
        ),
        (format!("{fresh} && echo junk > {k}"), json!({"path": k})),
        // ssh-keygen ignores a private key others may read: so does the module.
        (
            format!("{old_1024} && chmod 640 {k}"),
            json!({"path": k, "size": 1024}),
        ),
        (
            fresh.clone(),
            json!({"path": format!("{KEY_DIR}/nodir/key")}),
        ),
        (fresh.clone(), json!({"path": KEY_DIR})),
    ];
    for (setup, args) in failing {
        h.sh_ok(&setup).await;
        let theirs = ansible(HOST, "community.crypto.openssh_keypair", &args).expect("ansible");
        assert_eq!(theirs["failed"], json!(true), "{args}: {theirs}");
        h.sh_ok(&setup).await;
        let ours = support::apply(&h, "openssh_keypair", args.clone())
            .await
            .unwrap_err();
        assert_eq!(
            ours.to_string(),
            ModuleError::failed(theirs["msg"].as_str().unwrap()).to_string(),
            "{args}"
        );
    }

    // Absent: both files go; a second run changes nothing; the results describe the removed
    // key (each tool's own: the setup makes a new key each time).
    let before = format!(
        "ssh-keygen -l -f {k} 2>/dev/null | awk '{{print $2}}'; if [ -e {k}.pub ]; then awk '{{print $1\" \"$2}}' {k}.pub; else echo; fi"
    );
    for setup in [old_1024.clone(), format!("{old_1024} && rm {k}")] {
        let args = json!({"path": k, "state": "absent"});
        h.sh_ok(&setup).await;
        let theirs_before = h.sh_ok(&before).await;
        let theirs = ansible(HOST, "community.crypto.openssh_keypair", &args).expect("ansible");
        let their_props = key_props(&h, &k).await;
        h.sh_ok(&setup).await;
        let ours_before = h.sh_ok(&before).await;
        let ours = converge(&h, "openssh_keypair", args).await;
        assert_eq!(key_props(&h, &k).await, their_props);
        assert_eq!(ours.changed, theirs["changed"] == json!(true));
        let fields = |r: &Value| {
            format!(
                "{}\n{}\n",
                r["fingerprint"].as_str().unwrap(),
                r["public_key"].as_str().unwrap()
            )
            .trim_start_matches('\n')
            .to_owned()
        };
        assert_eq!(fields(&theirs), theirs_before, "{setup}");
        assert_eq!(
            fields(&Value::Object(ours.result.clone())),
            ours_before,
            "{setup}"
        );
        assert_eq!(ours.result["comment"], theirs["comment"]);
    }
    h.sh_ok(&format!("rm -rf {KEY_DIR}")).await;
    let left = h.sh_ok("ls -a /etc/ssh /root | grep prov- || true").await;
    assert_eq!(left, "", "temporary files left");
}

struct NoFiles;

impl FileSource for NoFiles {
    fn find(&self, _kind: FileKind, name: &str) -> Result<PathBuf, ModuleError> {
        Err(ModuleError::LocalFile(format!("no local files: {name}")))
    }
    fn render(&self, path: &Path) -> Result<String, ModuleError> {
        Err(ModuleError::Template(format!(
            "no templates: {}",
            path.display()
        )))
    }
}

/// A real run that also returns the action's result fields (what a playbook registers).
async fn apply_with_outcome(
    h: &NsConnection,
    name: &str,
    args: Value,
) -> (PlanReport, Map<String, Value>) {
    let module = (prov_modules::lookup(name).unwrap().build)(args).expect("build");
    let facts = lab_facts();
    let ctx = ModuleContext {
        host: HOST,
        conn: h,
        become_: None,
        check_mode: false,
        facts: &facts,
        files: &NoFiles,
        peers: &NoPeers,
        timeout: Some(std::time::Duration::from_secs(600)),
        environment: &[],
    };
    let plan = module.plan(&ctx).await.expect("plan");
    let (report, action) = plan.split();
    let outcome = action.expect("a change").apply(&ctx).await.expect("apply");
    (report, outcome.result)
}
