//! `prov run` and its SSH sessions on lab hosts (real OpenSSH sshd over the lab network):
//! passphrase-protected keys unlocked from `PROV_SSH_KEY_PASSPHRASE` or a terminal prompt (asked
//! once for all hosts, never shown), and a connection that drops between tasks reopened.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prov_lab::Lab;
use support::lab::{lab, prov, repo_root};

const PASSPHRASE: &str = "correct horse 42";
const HOSTS: [&str; 2] = ["lab3", "lab4"];

/// An encrypted key authorized for root on [`HOSTS`]; the authorization is removed on drop.
struct EncryptedKey {
    lab: Lab,
    dir: tempfile::TempDir,
    key: PathBuf,
    marker: String,
}

impl EncryptedKey {
    fn new(lab: Lab) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_encrypted");
        let marker = format!("prov-passphrase-test-{}", std::process::id());
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", &marker, "-f"])
            .arg(&key)
            .output()
            .expect("ssh-keygen");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        for h in HOSTS {
            let out = lab
                .exec(
                    h,
                    &[
                        "sh",
                        "-c",
                        &format!(
                            "printf '%s\\n' '{}' >> /root/.ssh/authorized_keys",
                            public.trim()
                        ),
                    ],
                )
                .unwrap();
            assert!(out.success(), "{h}: cannot authorize the test key");
        }
        let inventory = format!(
            "all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {key}\n    \
             prov_known_hosts_file: {kh}\n  hosts:\n{hosts}",
            key = key.display(),
            kh = lab.known_hosts().display(),
            hosts = HOSTS
                .iter()
                .map(|h| format!(
                    "    {h}: {{ ansible_host: {} }}\n",
                    lab.host_address(h).unwrap()
                ))
                .collect::<String>(),
        );
        std::fs::write(dir.path().join("hosts.yml"), inventory).unwrap();
        std::fs::write(
            dir.path().join("play.yml"),
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: who\n      command: id -un\n",
        )
        .unwrap();
        Self {
            lab,
            dir,
            key,
            marker,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Drop for EncryptedKey {
    fn drop(&mut self) {
        for h in HOSTS {
            let _ = self.lab.exec(
                h,
                &[
                    "sed",
                    "-i",
                    &format!("/{}/d", self.marker),
                    "/root/.ssh/authorized_keys",
                ],
            );
        }
    }
}

/// `prov` with `args`, stdin closed, no agent, no CI variable unless `ci`, optional extra env.
fn prov_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prov"));
    cmd.args(args)
        .current_dir(repo_root())
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("PROV_SSH_KEY_PASSPHRASE")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("prov runs")
}

#[test]
fn encrypted_key_unlocked_from_the_environment() {
    let Some(lab) = lab() else { return };
    let k = EncryptedKey::new(lab);
    let (inv, play) = (k.path("hosts.yml"), k.path("play.yml"));
    let args = ["run", &play, "-i", &inv, "--output", "json"];

    // No passphrase and nobody to ask: every host unreachable, saying what to do.
    let out = prov_env(&args, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("encrypted") && text.contains("PROV_SSH_KEY_PASSPHRASE"),
        "{text}"
    );

    // From the environment: both hosts run; the passphrase appears nowhere.
    let out = prov_env(&args, &[("PROV_SSH_KEY_PASSPHRASE", PASSPHRASE)]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("\"stdout\":\"root\"").count(), 2, "{stdout}");
    assert!(!stdout.contains(PASSPHRASE) && !stderr.contains(PASSPHRASE));

    // A wrong one is refused like a missing one.
    let out = prov_env(&args, &[("PROV_SSH_KEY_PASSPHRASE", "wrong")]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not decrypt"));
}

/// Runs `prov` under `script` (a pseudo-terminal), answering `answers` to each passphrase
/// prompt as a person would: after the prompt appeared. Returns the exit code and the terminal
/// transcript.
fn prov_on_terminal(args: &[&str], answers: &[&str]) -> (i32, String) {
    let line = std::iter::once(env!("CARGO_BIN_EXE_prov"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(repo_root())
        .env_remove("CI")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("PROV_SSH_KEY_PASSPHRASE")
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut transcript = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut answered = 0;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(chunk) => transcript.push_str(&String::from_utf8_lossy(&chunk)),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let prompts = transcript.matches("passphrase").count();
        if answered < answers.len() && prompts > answered {
            // Typed as a person would, a moment after the prompt: input that arrives before
            // the prompt has switched the terminal's echo off is echoed by the terminal itself.
            std::thread::sleep(Duration::from_millis(300));
            stdin
                .write_all(format!("{}\n", answers[answered]).as_bytes())
                .unwrap();
            stdin.flush().unwrap();
            answered += 1;
        }
        assert!(
            Instant::now() < deadline,
            "prov did not finish: {transcript}"
        );
    }
    drop(stdin);
    let _ = reader.join();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), transcript)
}

#[test]
fn encrypted_key_unlocked_on_the_terminal_once_for_all_hosts() {
    let Some(lab) = lab() else { return };
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed to give prov a terminal");
    }
    let k = EncryptedKey::new(lab);
    let (inv, play) = (k.path("hosts.yml"), k.path("play.yml"));
    // A typo first: asked again; then the right passphrase serves both hosts.
    let (code, transcript) = prov_on_terminal(
        &["run", &play, "-i", &inv, "--output", "json"],
        &["typo", PASSPHRASE],
    );
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(
        transcript.matches("Enter passphrase for key").count(),
        1,
        "{transcript}"
    );
    assert_eq!(
        transcript.matches("Wrong passphrase").count(),
        1,
        "{transcript}"
    );
    assert!(transcript.contains(&k.key.display().to_string()));
    assert_eq!(
        transcript.matches("\"stdout\":\"root\"").count(),
        2,
        "{transcript}"
    );
    // Not echoed, not logged.
    assert!(!transcript.contains(PASSPHRASE), "{transcript}");
}

/// A playbook whose second task kills the sshd process serving its own connection (after it
/// returned), waits on the controller, then runs more tasks on the host.
fn write_dropping_play(dir: &Path) -> PathBuf {
    let play = dir.join("drop.yml");
    std::fs::write(
        &play,
        r#"- hosts: lab2
  gather_facts: false
  tasks:
    - name: before
      command: "true"
    - name: kill the sshd process serving this connection, in a moment
      shell: |
        p=$PPID; i=0
        while [ "$(cat /proc/$p/comm)" != sshd ] && [ $i -lt 10 ]; do
          p=$(cut -d' ' -f4 /proc/$p/stat); i=$((i+1))
        done
        echo "$p" > /tmp/prov-dropped-sshd
        nohup sh -c "sleep 0.5; kill -9 $p" </dev/null >/dev/null 2>&1 &
    - name: wait on the controller
      command: sleep 2
      delegate_to: localhost
    - name: after
      command: cat /tmp/prov-dropped-sshd
      register: dropped
    - name: the killed sshd process is gone
      shell: "! kill -0 {{ dropped.stdout }} 2>/dev/null"
"#,
    )
    .unwrap();
    play
}

#[test]
fn dropped_connection_reopened_between_tasks() {
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("hosts.yml");
    std::fs::write(&inv, lab.inventory_yaml().unwrap()).unwrap();
    let play = write_dropping_play(dir.path());
    let run = prov(&["run", play.to_str().unwrap(), "-i", inv.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let recap = run.recap();
    let lab2 = recap
        .iter()
        .find(|r| r["host"] == "lab2")
        .expect("lab2 in recap");
    assert_eq!(lab2["failed"], 0, "{recap:?}");
    assert_eq!(lab2["unreachable"], 0, "{recap:?}");
    // `ok` counts every task that succeeded (changed ones included), as Ansible's recap does.
    assert_eq!(lab2["ok"], 5, "{recap:?}");
    let warnings: Vec<_> = run
        .events
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("lab2") && w.contains("dropped") && w.contains("reconnected")),
        "{warnings:?}"
    );
}

#[test]
fn host_key_notes_reach_the_output() {
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, "").unwrap();
    let inventory = format!(
        "all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {key}\n    \
         prov_known_hosts_file: {kh}\n  hosts:\n    lab1: {{ ansible_host: {addr} }}\n",
        key = lab.private_key().display(),
        kh = known_hosts.display(),
        addr = lab.host_address("lab1").unwrap(),
    );
    let inv = dir.path().join("hosts.yml");
    std::fs::write(&inv, inventory).unwrap();
    let play = dir.path().join("play.yml");
    std::fs::write(
        &play,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    )
    .unwrap();
    let warnings = |run: &support::lab::RunOutput| -> Vec<String> {
        run.events
            .iter()
            .filter(|e| e["event"] == "warning")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let base = [
        "run",
        play.to_str().unwrap(),
        "-i",
        inv.to_str().unwrap(),
        "--known-hosts",
    ];
    let kh = known_hosts.to_str().unwrap();
    // Off: accepted, with a warning saying the key was not verified.
    let run = prov(&[&base[..], &[kh, "--host-key-checking", "off"]].concat());
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        warnings(&run)
            .iter()
            .any(|w| w.contains("unverified") && w.contains("lab1")),
        "{:?}",
        warnings(&run)
    );
    // accept-new: recorded, and the warning says where.
    let run = prov(&[&base[..], &[kh, "--host-key-checking", "accept-new"]].concat());
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        warnings(&run)
            .iter()
            .any(|w| w.contains("recorded new host key")),
        "{:?}",
        warnings(&run)
    );
    assert!(
        std::fs::read_to_string(&known_hosts)
            .unwrap()
            .contains("ssh-")
    );
    // Strict, now that the key is known: no warning.
    let run = prov(&base.iter().copied().chain([kh]).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(warnings(&run).is_empty(), "{:?}", warnings(&run));
}
