//! `systemd` with `scope: user` on lab host lab2: a user unit of a lingering user is started
//! and enabled through that user's own manager (the task becomes the user, as in Ansible),
//! check mode predicts the real run, and a second run changes nothing.
//!
//! Run under the shared lock: `flock /work/lab.lock cargo test -p prov-modules --test
//! service_user_lab`. Skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use prov_core::{Become, BecomeMethod};
use serde_json::json;
use support::{NsConnection, lab_facts, lab_host, lab_lock, put, run_as};

const USER: &str = "provuser";
const UNIT: &str = "prov-hello";

/// The user's manager, asked directly.
async fn user_systemctl(h: &NsConnection, args: &str) -> String {
    h.sh(&format!(
        "sudo -u {USER} XDG_RUNTIME_DIR=/run/user/$(id -u {USER}) systemctl --user {args}"
    ))
    .await
    .stdout_text()
    .trim()
    .to_owned()
}

/// A lingering user (its manager runs without a login; user managers need pam_systemd, which
/// lab hosts lack until this installs it from the lab's repository) with a unit of its own.
async fn set_up(h: &NsConnection) {
    h.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y -q libpam-systemd >/dev/null")
        .await;
    h.sh_ok(&format!(
        "id {USER} >/dev/null 2>&1 || useradd -m {USER}; loginctl enable-linger {USER}; \
         for i in $(seq 100); do [ -S /run/user/$(id -u {USER})/systemd/private ] && exit 0; \
         sleep 0.1; done; echo 'no user manager' >&2; exit 1"
    ))
    .await;
    let dir = format!("/home/{USER}/.config/systemd/user");
    h.sh_ok(&format!("mkdir -p {dir}")).await;
    put(
        h,
        &format!("{dir}/{UNIT}.service"),
        "[Service]\nExecStart=/bin/sleep infinity\n\n[Install]\nWantedBy=default.target\n",
    )
    .await;
    h.sh_ok(&format!("chown -R {USER}: /home/{USER}/.config"))
        .await;
}

async fn tear_down(h: &NsConnection) {
    h.sh(&format!(
        "loginctl disable-linger {USER}; sleep 0.5; pkill -KILL -u {USER} 2>/dev/null; \
         userdel -r {USER} 2>/dev/null; \
         DEBIAN_FRONTEND=noninteractive apt-get purge -y -q libpam-systemd >/dev/null; true"
    ))
    .await;
}

#[tokio::test]
async fn a_user_unit_is_started_and_enabled_through_the_users_manager() {
    let _g = lab_lock().await;
    let Some(h) = lab_host("lab2") else { return };
    set_up(&h).await;
    let become_ = Become {
        user: USER.into(),
        method: BecomeMethod::Sudo,
        password: None,
    };
    let args = json!({"name": UNIT, "state": "started", "enabled": true, "scope": "user",
                      "daemon_reload": true});
    let facts = lab_facts();
    let step = |check: bool| run_as(&h, "systemd", args.clone(), check, &facts, Some(&become_));
    let predicted = step(true).await.expect("check");
    assert!(predicted.changed, "{predicted:?}");
    assert_eq!(
        user_systemctl(&h, &format!("is-active {UNIT}")).await,
        "inactive"
    );
    let real = step(false).await.expect("real run");
    assert_eq!(real.summary, predicted.summary);
    assert_eq!(
        user_systemctl(&h, &format!("is-active {UNIT}")).await,
        "active"
    );
    assert_eq!(
        user_systemctl(&h, &format!("is-enabled {UNIT}")).await,
        "enabled"
    );
    assert!(!step(true).await.expect("check again").changed);
    assert!(!step(false).await.expect("second run").changed);
    tear_down(&h).await;
}
