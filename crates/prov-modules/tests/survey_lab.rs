//! Lab tests of module differences found by running public roles with prov and Ansible (the
//! corpus survey), on lab host lab2: check mode must predict the real run and a second run must
//! change nothing (`converge`).
//!
//! Run under the shared lock: `flock -o /work/lab.lock cargo test -p prov-modules --test
//! survey_lab`. Every test skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::json;
use support::{converge, lab_host, lab_lock, put, same_as_ansible};

/// geerlingguy.mysql's `restart mysql` handler passes `sleep: 5` to `service`; on a systemd host
/// Ansible's service action drops `sleep` (and `pattern`, `runlevel`, `arguments`) with a
/// warning and runs the systemd module, so the task works as without them.
#[tokio::test]
async fn service_ignores_sysv_arguments_on_systemd() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let args = json!({"name": "cron", "state": "started", "enabled": true, "sleep": 5,
        "pattern": "cron", "runlevel": "3", "arguments": "-f"});
    converge(&h, "service", args).await;
    assert_eq!(h.sh_ok("systemctl is-active cron").await.trim(), "active");
}

/// dev-sec's os_hardening sets its sysctls with `ansible.posix.sysctl` and no `sysctl_file`:
/// Ansible's default file is `/etc/sysctl.conf`, and prov must write the same file.
#[tokio::test]
async fn sysctl_default_file_is_etc_sysctl_conf() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    let original = h.sh_ok("cat /etc/sysctl.conf").await;
    let reset = || async {
        put(&h, "/etc/sysctl.conf", &original).await;
        h.sh_ok("rm -f /etc/sysctl.d/99-prov.conf").await;
    };
    reset().await;
    let args = json!({"name": "net.ipv4.ip_forward", "value": "0", "sysctl_set": true,
        "reload": true});
    let files = "/etc/sysctl.conf /etc/sysctl.d/*";
    if same_as_ansible(&h, "sysctl", args.clone(), files, reset)
        .await
        .is_none()
    {
        reset().await;
        converge(&h, "sysctl", args).await;
    }
    let conf = h.sh_ok("cat /etc/sysctl.conf").await;
    assert!(conf.ends_with("net.ipv4.ip_forward=0\n"), "{conf}");
    reset().await;
}
