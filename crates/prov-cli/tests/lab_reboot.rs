//! `reboot` and `wait_for_connection` across a real reboot of a lab host, over SSH (issue 18):
//! the host's systemd reboots it, the lab boots it again (a new boot id, as a machine gets),
//! and prov reconnects and goes on with the play. Check mode reboots nothing. The real
//! Ansible's `reboot` module, run on the same host, sees the same reboot (so the lab's
//! reboot is one Ansible recognises).

mod support;

use serde_json::Value;
use support::lab::{self, prov};

const HOST: &str = "lab2";

/// The tests reboot the same host: one at a time.
static HOST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

const PLAY: &str = r#"
- hosts: lab2
  gather_facts: no
  tasks:
    - command: cat /proc/sys/kernel/random/boot_id
      register: before
      changed_when: false
    - name: reboot it
      reboot: {msg: "prov lab test", reboot_timeout: 120}
      register: r
    - command: cat /proc/sys/kernel/random/boot_id
      register: between
      changed_when: false
    - name: reboot behind prov's back
      shell: "nohup sh -c 'sleep 1; systemctl reboot' >/dev/null 2>&1 &"
    - name: wait for it
      wait_for_connection: {delay: 3, timeout: 120}
    - command: cat /proc/sys/kernel/random/boot_id
      register: after
      changed_when: false
    - assert:
        that:
          - r.rebooted
          - r.elapsed >= 0
          - before.stdout != between.stdout
          - between.stdout != after.stdout
"#;

fn boot_id(lab: &prov_lab::Lab) -> String {
    let pid = lab.host_pid(HOST).unwrap().expect("host up");
    let out = std::process::Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-a",
            "cat",
            "/proc/sys/kernel/random/boot_id",
        ])
        .output()
        .expect("nsenter");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn reboot_and_wait_for_connection_reconnect_after_a_real_reboot() {
    let _one = HOST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lab) = lab::lab() else { return };
    lab.up(4).expect("lab up");
    let files = lab::play_files(&lab, PLAY);
    let (inv, play) = (files.inv.as_str(), files.play.as_str());

    // Check mode: reported changed (Ansible's result), nothing rebooted.
    let first = boot_id(&lab);
    let check = prov(&["run", play, "-i", inv, "--check"]);
    let reboot = check
        .results()
        .into_iter()
        .find(|r| r["task"] == "reboot it")
        .cloned();
    let reboot = reboot.unwrap_or_else(|| panic!("{}\n{}", check.stdout, check.stderr));
    assert_eq!(reboot["status"], "changed", "{reboot}");
    assert_eq!(boot_id(&lab), first, "check mode rebooted nothing");

    let run = prov(&["run", play, "-i", inv]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let reboot: Value = run
        .results()
        .into_iter()
        .find(|r| r["task"] == "reboot it")
        .cloned()
        .unwrap();
    assert_eq!(reboot["status"], "changed", "{reboot}");
    assert_ne!(boot_id(&lab), first, "the host rebooted");
}

#[test]
fn ansibles_reboot_module_sees_the_lab_reboot() {
    let _one = HOST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lab) = lab::lab() else { return };
    let Some(ansible) = lab::ansible_bin() else {
        eprintln!("SKIPPED: no ansible-core to compare with");
        return;
    };
    lab.up(4).expect("lab up");
    let first = boot_id(&lab);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("hosts.yml"), lab.inventory_yaml().unwrap()).unwrap();
    let out = lab::ansible_command(&ansible, &lab, work.path(), HOST)
        .args(["-m", "reboot", "-a", "reboot_timeout=120"])
        .output()
        .expect("ansible runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let result = &report["plays"][0]["tasks"][0]["hosts"][HOST];
    assert_eq!(
        result["rebooted"],
        true,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_ne!(boot_id(&lab), first);
}
