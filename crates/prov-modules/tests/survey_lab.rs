//! Lab tests of module differences found by running public roles with prov and Ansible (the
//! corpus survey), on lab host lab5: check mode must predict the real run and a second run must
//! change nothing (`converge`).
//!
//! Run under the shared lock: `flock -o /work/lab.lock cargo test -p prov-modules --test
//! survey_lab`. Every test skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::json;
use support::{converge, lab_host, lab_lock};

/// geerlingguy.mysql's `restart mysql` handler passes `sleep: 5` to `service`; on a systemd host
/// Ansible's service action drops `sleep` (and `pattern`, `runlevel`, `arguments`) with a
/// warning and runs the systemd module, so the task works as without them.
#[tokio::test]
async fn service_ignores_sysv_arguments_on_systemd() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab5") else { return };
    let args = json!({"name": "cron", "state": "started", "enabled": true, "sleep": 5,
        "pattern": "cron", "runlevel": "3", "arguments": "-f"});
    converge(&h, "service", args).await;
    assert_eq!(h.sh_ok("systemctl is-active cron").await.trim(), "active");
}
