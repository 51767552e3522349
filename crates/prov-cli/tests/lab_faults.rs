//! Faults on real lab hosts, each checked the same way: the other hosts finish, the recap and
//! the exit code say exactly what happened, no target file is left half-written, no remote
//! temporary file (`.prov-tmp.*`) stays behind, and a re-run completes the job.
//!
//! * sshd refusing connections: unreachable with the reason (exit 3);
//! * a slow host hitting `--timeout`: that task fails with the timeout, its command is stopped
//!   on the host (exit 2);
//! * a full disk while a streamed `copy` and a large `template` are written: the write fails
//!   with "No space left on device", the old files stay (exit 2);
//! * a host powered off and another one cut from the network in the middle of a large
//!   transfer: both unreachable, the others finish (exit 3);
//! * SIGINT and SIGTERM to `prov` in the middle of a 200 MB transfer to 3 hosts: prompt exit
//!   (130/143) with the recap so far, targets old or new, never partial;
//! * two runs writing the same file at once: one complete version wins.
//!
//! The tests share the lab, so they take turns (one lock). docs/reliability.md lists them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prov_lab::Lab;
use serde_json::Value;
use support::lab::{self, RunOutput};

/// Everything the tests write on the hosts lives under this folder.
const ROOT: &str = "/srv/prov-faults";

/// One test at a time on the lab.
static LAB_LOCK: Mutex<()> = Mutex::new(());

/// A test's hold on the lab: the lock, the lab, an inventory and a scratch folder.
struct Fixture {
    lab: Lab,
    inv: tempfile::TempDir,
    work: tempfile::TempDir,
    _lock: MutexGuard<'static, ()>,
}

impl Fixture {
    /// Takes the lab (6 hosts running, `ROOT` empty on each), or `None` when there is none.
    fn take() -> Option<Fixture> {
        let lock = LAB_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let lab = lab::lab()?;
        lab.up(6).expect("lab up 6 hosts");
        let inv = tempfile::tempdir().unwrap();
        std::fs::write(inv.path().join("hosts.yml"), lab.inventory_yaml().unwrap()).unwrap();
        let f = Fixture {
            lab,
            inv,
            work: tempfile::tempdir().unwrap(),
            _lock: lock,
        };
        for h in hosts(6) {
            f.sh(&h, &format!("rm -rf {ROOT} && mkdir -p {ROOT}"));
        }
        Some(f)
    }

    fn inv(&self) -> String {
        self.inv.path().display().to_string()
    }

    /// Writes a file into the scratch folder and returns its path.
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.work.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    /// A file of `mib` MiB of random bytes in the scratch folder.
    fn random_file(&self, name: &str, mib: usize) -> PathBuf {
        let p = self.work.path().join(name);
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("head -c {}M /dev/urandom > '{}'", mib, p.display()))
            .status()
            .unwrap();
        assert!(st.success());
        p
    }

    /// Runs a shell script inside `host` (no SSH); panics when it fails.
    fn sh(&self, host: &str, script: &str) -> String {
        let out = self
            .lab
            .exec(host, &["sh", "-c", script])
            .unwrap_or_else(|e| panic!("{host}: {script}: {e}"));
        assert!(
            out.success(),
            "{host}: {script}: {}{}",
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// The `.prov-tmp.*` (and `.prov-validate.*`) files under `ROOT` on `host`.
    fn temp_files(&self, host: &str) -> Vec<String> {
        self.sh(
            host,
            &format!("find {ROOT} -name '.prov-tmp.*' -o -name '.prov-validate.*'"),
        )
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// What the hosts of `left` (`host:path` entries) show about temporary files left behind:
    /// the files, the processes and sshd's log, for the failure message.
    fn leak_report(&self, left: &[String]) -> String {
        let mut hosts: Vec<&str> = left.iter().filter_map(|l| l.split(':').next()).collect();
        hosts.dedup();
        let mut out = String::new();
        for h in hosts {
            let script = format!(
                "date +%s.%N; ls -la --time-style=+%s.%N {ROOT}/*/ 2>&1; ps -eo pid,pgid,ppid,stat,lstart,args; journalctl -n 40 --no-pager -o short-precise 2>&1 | tail -40"
            );
            let report = self
                .lab
                .exec(h, &["sh", "-c", &script])
                .map(|o| o.stdout + &o.stderr)
                .unwrap_or_else(|e| e.to_string());
            out.push_str(&format!("\n--- {h}\n{report}"));
        }
        out
    }

    /// Waits (up to `within`) until no host of `hosts` has a temporary file left; returns
    /// what is left.
    fn wait_no_temp_files(&self, hosts: &[String], within: Duration) -> Vec<String> {
        let t = Instant::now();
        loop {
            let left: Vec<String> = hosts
                .iter()
                .flat_map(|h| {
                    self.temp_files(h)
                        .into_iter()
                        .map(move |f| format!("{h}:{f}"))
                })
                .collect();
            if left.is_empty() || t.elapsed() > within {
                return left;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SHA-256 of `path` on `host`, `None` when it does not exist.
    fn sha256(&self, host: &str, path: &str) -> Option<String> {
        let out = self.sh(
            host,
            &format!("if [ -e {path} ]; then sha256sum < {path} | cut -d' ' -f1; fi"),
        );
        let s = out.trim();
        (!s.is_empty()).then(|| s.to_owned())
    }
}

impl Drop for Fixture {
    /// Leaves nothing of the test on the hosts (a test's own guards, declared later, have
    /// already put the lab back).
    fn drop(&mut self) {
        for h in hosts(6) {
            let _ = self.lab.exec(&h, &["rm", "-rf", ROOT]);
        }
    }
}

/// `lab1..lab{n}`.
fn hosts(n: usize) -> Vec<String> {
    (1..=n).map(prov_lab::host_name).collect()
}

/// SHA-256 of a local file or of bytes.
fn local_sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

const OLD: &str = "old\n";
/// SHA-256 of [`OLD`].
fn old_sha() -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("old");
    std::fs::write(&p, OLD).unwrap();
    local_sha256(&p)
}

/// Runs `f` when dropped: puts the lab back even when an assertion fails.
struct Finally<F: FnMut()>(F);

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// A `prov run --output json` in the background.
struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
    started: Instant,
}

impl Running {
    fn spawn(args: &[&str]) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("stdout");
        let err = dir.path().join("stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_prov"))
            .args(args)
            .args(["--output", "json"])
            .current_dir(lab::repo_root())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("prov starts");
        Running {
            child,
            out,
            err,
            _dir: dir,
            started: Instant::now(),
        }
    }

    /// Sends `signal` (`INT`, `TERM`) to prov.
    fn signal(&self, signal: &str) {
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success(), "kill -{signal}");
    }

    /// Waits for prov to exit (killing it after `limit`, which fails the test).
    fn finish(mut self, limit: Duration) -> RunOutput {
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "prov did not exit within {limit:?}\n{}",
                    std::fs::read_to_string(&self.out).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = std::fs::read_to_string(&self.out).unwrap();
        let events = stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
            .collect();
        RunOutput {
            code: status.code().unwrap_or(-1),
            events,
            stdout,
            stderr: std::fs::read_to_string(&self.err).unwrap(),
        }
    }
}

/// Runs prov to the end (at most `limit`).
fn prov(args: &[&str], limit: Duration) -> RunOutput {
    Running::spawn(args).finish(limit)
}

/// The recap line of `host`.
fn recap(out: &RunOutput, host: &str) -> Value {
    out.recap()
        .into_iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("no recap for {host}\n{}", out.stdout))
}

/// The `task_result` events of `host`.
fn results_of<'a>(out: &'a RunOutput, host: &str) -> Vec<&'a Value> {
    out.results()
        .into_iter()
        .filter(|r| r["host"] == host)
        .collect()
}

fn n(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(u64::MAX)
}

fn show(out: &RunOutput) -> String {
    format!("exit {}\n{}\n{}", out.code, out.stdout, out.stderr)
}

#[test]
fn sshd_refusing_connections_is_unreachable_with_the_reason() {
    let Some(f) = Fixture::take() else { return };
    let play = f.write(
        "refused.yml",
        &format!(
            "- hosts: lab1:lab2:lab3\n  gather_facts: no\n  tasks:\n\
             \x20   - copy: {{ content: \"v1\\n\", dest: {ROOT}/refused.txt }}\n\
             \x20   - command: \"true\"\n"
        ),
    );
    f.sh("lab3", "systemctl stop ssh.socket ssh.service");
    let _restore = Finally(|| {
        let _ = f.lab.exec("lab3", &["systemctl", "start", "ssh.service"]);
        let _ = f.lab.wait_ready("lab3", Duration::from_secs(20));
    });
    let inv = f.inv();
    let t = Instant::now();
    let out = prov(
        &["run", &play, "-i", &inv, "--connect-timeout", "5"],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 3, "exit 3 = unreachable\n{}", show(&out));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a refused connection is reported at once, took {:?}",
        t.elapsed()
    );
    let r3 = recap(&out, "lab3");
    assert_eq!((n(&r3, "unreachable"), n(&r3, "ok")), (1, 0), "{r3}");
    let why: Vec<&Value> = out
        .events
        .iter()
        .filter(|e| e["event"] == "host_unreachable" && e["host"] == "lab3")
        .collect();
    assert_eq!(why.len(), 1, "{}", show(&out));
    let reason = why[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("lab3") && reason.contains("Connection refused"),
        "the reason names the host and the refusal: {reason}"
    );
    for h in ["lab1", "lab2"] {
        let r = recap(&out, h);
        assert_eq!(
            (n(&r, "changed"), n(&r, "failed"), n(&r, "unreachable")),
            (2, 0, 0),
            "{r}"
        );
        assert_eq!(f.sh(h, &format!("cat {ROOT}/refused.txt")), "v1\n");
    }
    assert!(f.sha256("lab3", &format!("{ROOT}/refused.txt")).is_none());

    // sshd back: the re-run completes the job on lab3 only.
    f.sh("lab3", "systemctl start ssh.service");
    f.lab.wait_ready("lab3", Duration::from_secs(20)).unwrap();
    let out = prov(&["run", &play, "-i", &inv], Duration::from_secs(30));
    assert_eq!(out.code, 0, "{}", show(&out));
    assert_eq!(f.sh("lab3", &format!("cat {ROOT}/refused.txt")), "v1\n");
    let copies: Vec<(String, bool)> = out
        .results()
        .iter()
        .filter(|r| r["module"] == "copy")
        .map(|r| (r["host"].as_str().unwrap().to_owned(), r["changed"] == true))
        .collect();
    assert_eq!(copies.len(), 3, "{}", show(&out));
    for (h, changed) in copies {
        assert_eq!(changed, h == "lab3", "only lab3 still needed the file: {h}");
    }
}

#[test]
fn a_slow_host_hits_the_task_timeout() {
    let Some(f) = Fixture::take() else { return };
    let play = f.write(
        "slow.yml",
        &format!(
            "- hosts: lab1:lab2:lab3\n  gather_facts: no\n  tasks:\n\
             \x20   - name: slow on lab2\n\
             \x20     command: sleep 10\n\
             \x20     when: inventory_hostname == 'lab2'\n\
             \x20   - name: after\n\
             \x20     copy: {{ content: \"done\\n\", dest: {ROOT}/after.txt }}\n"
        ),
    );
    let inv = f.inv();
    let t = Instant::now();
    let out = prov(
        &["run", &play, "-i", &inv, "--timeout", "2"],
        Duration::from_secs(30),
    );
    let took = t.elapsed();
    assert_eq!(out.code, 2, "exit 2 = a task failed\n{}", show(&out));
    assert!(
        took < Duration::from_secs(8),
        "the run does not wait for the slow command: {took:?}"
    );
    let r2 = recap(&out, "lab2");
    assert_eq!((n(&r2, "failed"), n(&r2, "ok")), (1, 0), "{r2}");
    let slow = results_of(&out, "lab2");
    assert_eq!(slow.len(), 1, "lab2 stops after the failure: {slow:?}");
    let msg = slow[0]["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("timed out after 2s"), "{msg}");
    for h in ["lab1", "lab3"] {
        let r = recap(&out, h);
        assert_eq!(
            (n(&r, "skipped"), n(&r, "changed"), n(&r, "failed")),
            (1, 1, 0),
            "{r}"
        );
    }
    assert!(f.sha256("lab2", &format!("{ROOT}/after.txt")).is_none());
    // The timed-out command does not keep running on the host.
    let t = Instant::now();
    loop {
        let left = f.sh("lab2", "pgrep -x sleep || true");
        if left.trim().is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "`sleep 10` still runs on lab2 after the timeout: {left}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // With time enough, the re-run completes the job.
    let out = prov(
        &["run", &play, "-i", &inv, "--timeout", "15"],
        Duration::from_secs(40),
    );
    assert_eq!(out.code, 0, "{}", show(&out));
    let r2 = recap(&out, "lab2");
    assert_eq!((n(&r2, "changed"), n(&r2, "failed")), (2, 0), "{r2}");
    assert_eq!(f.sh("lab2", &format!("cat {ROOT}/after.txt")), "done\n");
}

#[test]
fn a_full_disk_fails_the_write_and_keeps_the_old_file() {
    let Some(f) = Fixture::take() else { return };
    let small = format!("{ROOT}/small");
    for h in hosts(3) {
        f.sh(&h, &format!("mkdir -p {small}"));
    }
    f.sh(
        "lab2",
        &format!(
            "mount -t tmpfs -o size=1m tmpfs {small} && printf 'old\\n' > {small}/big.bin && printf 'old\\n' > {small}/page.html"
        ),
    );
    let _restore = Finally(|| {
        let _ = f.lab.exec("lab2", &["umount", &small]);
    });
    // 4 MiB streamed by `copy`, about 2.5 MB rendered by `template` (sent from memory).
    let big = f.random_file("big.bin", 4);
    let tpl = f.write(
        "page.j2",
        "{% for i in range(40000) %}line {{ i }} of a page too large for a full disk, padded\n{% endfor %}",
    );
    let play = f.write(
        "disk.yml",
        &format!(
            "- hosts: lab1:lab2:lab3\n  gather_facts: no\n  tasks:\n\
             \x20   - name: big file\n\
             \x20     copy: {{ src: {}, dest: {small}/big.bin }}\n\
             \x20     ignore_errors: yes\n\
             \x20   - name: big page\n\
             \x20     template: {{ src: {tpl}, dest: {small}/page.html }}\n",
            big.display()
        ),
    );
    let inv = f.inv();
    let out = prov(&["run", &play, "-i", &inv], Duration::from_secs(60));
    assert_eq!(out.code, 2, "exit 2 = a task failed\n{}", show(&out));
    let r2 = recap(&out, "lab2");
    assert_eq!((n(&r2, "ignored"), n(&r2, "failed")), (1, 1), "{r2}");
    for r in results_of(&out, "lab2") {
        let msg = r["msg"].as_str().unwrap_or_default();
        assert!(msg.contains("No space left on device"), "{r}");
    }
    // The old files are intact, no temporary file is left.
    assert_eq!(
        f.sh("lab2", &format!("cat {small}/big.bin {small}/page.html")),
        "old\nold\n"
    );
    assert_eq!(f.temp_files("lab2"), Vec::<String>::new());
    let want_big = local_sha256(&big);
    let page_sha = f.sha256("lab1", &format!("{small}/page.html")).unwrap();
    for h in ["lab1", "lab3"] {
        let r = recap(&out, h);
        assert_eq!((n(&r, "changed"), n(&r, "failed")), (2, 0), "{r}");
        assert_eq!(
            f.sha256(h, &format!("{small}/big.bin")),
            Some(want_big.clone())
        );
        assert_eq!(
            f.sha256(h, &format!("{small}/page.html")),
            Some(page_sha.clone())
        );
        let size: u64 = f
            .sh(h, &format!("stat -c %s {small}/page.html"))
            .trim()
            .parse()
            .unwrap();
        assert!(size > 2_000_000, "the page is large: {size}");
    }

    // Room again: the re-run completes the job on lab2 only.
    f.sh("lab2", &format!("mount -o remount,size=16m {small}"));
    let out = prov(&["run", &play, "-i", &inv], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{}", show(&out));
    assert_eq!(n(&recap(&out, "lab2"), "changed"), 2);
    assert_eq!(n(&recap(&out, "lab1"), "changed"), 0);
    assert_eq!(
        f.sha256("lab2", &format!("{small}/big.bin")),
        Some(want_big)
    );
    assert_eq!(
        f.sha256("lab2", &format!("{small}/page.html")),
        Some(page_sha)
    );
    assert!(f.wait_no_temp_files(&hosts(3), Duration::ZERO).is_empty());
}

#[test]
fn a_host_powered_off_and_a_host_cut_off_mid_transfer() {
    let Some(f) = Fixture::take() else { return };
    let four = hosts(4);
    let dest = format!("{ROOT}/big/big.bin");
    for h in &four {
        f.sh(
            h,
            &format!("mkdir -p {ROOT}/big && printf 'old\\n' > {dest}"),
        );
    }
    let _restore = Finally(|| {
        let _ = f.lab.heal("lab3");
        let _ = f.lab.start("lab2");
    });
    let big = f.random_file("big.bin", 100);
    let want = local_sha256(&big);
    let play = f.write(
        "big.yml",
        &format!(
            "- hosts: lab1:lab2:lab3:lab4\n  gather_facts: no\n  tasks:\n\
             \x20   - copy: {{ src: {}, dest: {dest} }}\n\
             \x20   - command: \"true\"\n",
            big.display()
        ),
    );
    let inv = f.inv();
    let run = Running::spawn(&["run", &play, "-i", &inv, "--connect-timeout", "5"]);
    // Once the transfer is under way on lab2 and lab3: power lab2 off, cut lab3 off.
    let t = Instant::now();
    while f.temp_files("lab2").is_empty() || f.temp_files("lab3").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20), "no transfer started");
        std::thread::sleep(Duration::from_millis(10));
    }
    f.lab.stop("lab2").unwrap();
    f.lab.cut("lab3").unwrap();
    let faulted = Instant::now();
    let out = run.finish(Duration::from_secs(90));
    eprintln!(
        "power-off + cut: prov ended {:.1}s after the faults",
        faulted.elapsed().as_secs_f64()
    );
    assert_eq!(out.code, 3, "exit 3 = unreachable\n{}", show(&out));
    for h in ["lab2", "lab3"] {
        let r = recap(&out, h);
        assert_eq!(
            (n(&r, "unreachable"), n(&r, "ok"), n(&r, "changed")),
            (1, 0, 0),
            "{r}"
        );
        let why = out
            .events
            .iter()
            .find(|e| e["event"] == "host_unreachable" && e["host"] == h)
            .unwrap_or_else(|| panic!("no host_unreachable for {h}\n{}", show(&out)));
        eprintln!("{h}: {}", why["reason"]);
        assert!(
            why["reason"]
                .as_str()
                .is_some_and(|r| r.contains(h) && r.contains("connection lost")),
            "{why}"
        );
    }
    for h in ["lab1", "lab4"] {
        let r = recap(&out, h);
        assert_eq!(
            (n(&r, "changed"), n(&r, "failed"), n(&r, "unreachable")),
            (2, 0, 0),
            "the others finish: {r}"
        );
        assert_eq!(f.sha256(h, &dest), Some(want.clone()));
    }
    let others = ["lab1".to_owned(), "lab4".to_owned()];
    assert!(f.wait_no_temp_files(&others, Duration::ZERO).is_empty());

    // lab3's sshd notices the old connection is gone (its ClientAlive probes go unanswered, see
    // the lab's sshd settings) and its installer removes the partial temporary file; the target
    // was never touched.
    f.lab.heal("lab3").unwrap();
    let healed = Instant::now();
    let left = f.wait_no_temp_files(&["lab3".to_owned()], Duration::from_secs(60));
    eprintln!(
        "cut: temporary file gone {:.1}s after the network came back",
        healed.elapsed().as_secs_f64()
    );
    assert!(left.is_empty(), "left behind on lab3: {left:?}");
    let old = old_sha();
    let lab3 = f.sha256("lab3", &dest).unwrap();
    assert!(lab3 == old || lab3 == want, "lab3 target half-written");

    // Powered on again: the target is the old file (the new one never got complete). The
    // partial temporary file survives the power loss on disk (no process was left to remove
    // it) until the next write into that folder, which removes temporary files older than the
    // boot.
    f.lab.start("lab2").unwrap();
    assert_eq!(f.sha256("lab2", &dest), Some(old.clone()));
    let stale = f.temp_files("lab2");
    eprintln!("power-off: left on lab2's disk: {stale:?}");
    assert!(stale.len() <= 1, "{stale:?}");
    for t in &stale {
        let size: u64 = f
            .sh("lab2", &format!("stat -c %s {t}"))
            .trim()
            .parse()
            .unwrap();
        assert!(
            size < 100 << 20,
            "a partial temporary file, never the target: {size}"
        );
    }

    // The re-run completes the job everywhere, removes the stale temporary file and leaves none
    // of its own.
    let out = prov(&["run", &play, "-i", &inv], Duration::from_secs(90));
    assert_eq!(out.code, 0, "{}", show(&out));
    for h in &four {
        assert_eq!(f.sha256(h, &dest), Some(want.clone()), "{h}");
    }
    let left = f.wait_no_temp_files(&four, Duration::ZERO);
    assert!(
        left.is_empty(),
        "left behind: {left:?}{}",
        f.leak_report(&left)
    );
    for h in &four {
        f.sh(h, &format!("rm -rf {ROOT}/big"));
    }
}

#[test]
fn sigint_and_sigterm_mid_transfer_stop_cleanly() {
    let Some(f) = Fixture::take() else { return };
    let three = hosts(3);
    let dest = format!("{ROOT}/sig/big.bin");
    for h in &three {
        f.sh(
            h,
            &format!("mkdir -p {ROOT}/sig && printf 'old\\n' > {dest}"),
        );
    }
    let big = f.random_file("big.bin", 200);
    let want = local_sha256(&big);
    let old = old_sha();
    let play = f.write(
        "sig.yml",
        &format!(
            "- hosts: lab1:lab2:lab3\n  gather_facts: no\n  tasks:\n\
             \x20   - copy: {{ src: {}, dest: {dest} }}\n\
             \x20   - command: \"true\"\n",
            big.display()
        ),
    );
    let inv = f.inv();
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let run = Running::spawn(&["run", &play, "-i", &inv]);
        // ~1 s in, with the transfer under way on every host.
        let t = Instant::now();
        while three.iter().any(|h| f.temp_files(h).is_empty()) {
            assert!(t.elapsed() < Duration::from_secs(20), "no transfer started");
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(rest) = Duration::from_secs(1).checked_sub(run.started.elapsed()) {
            std::thread::sleep(rest);
        }
        run.signal(sig);
        let signalled = Instant::now();
        let out = run.finish(Duration::from_secs(30));
        let took = signalled.elapsed();
        eprintln!(
            "SIG{sig}: prov exited {:.2}s after the signal",
            took.as_secs_f64()
        );
        assert_eq!(out.code, code, "SIG{sig}\n{}", show(&out));
        assert!(
            took < Duration::from_secs(5),
            "SIG{sig}: slow exit {took:?}"
        );
        assert!(
            out.events.iter().any(|e| e["event"] == "warning"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("interrupted by SIG{sig}")))),
            "{}",
            show(&out)
        );
        // The recap so far: the copy in flight on every host, stopped.
        assert_eq!(out.recap().len(), 3, "{}", show(&out));
        for h in &three {
            let r = recap(&out, h);
            assert_eq!((n(&r, "failed"), n(&r, "ok")), (1, 0), "{r}");
            let res = results_of(&out, h);
            assert_eq!(res.len(), 1, "{res:?}");
            assert!(
                res[0]["msg"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("interrupted by SIG{sig}"))),
                "{}",
                res[0]
            );
        }
        // No partial file anywhere, no temporary file left once the hosts noticed.
        let t = Instant::now();
        let left = f.wait_no_temp_files(&three, Duration::from_secs(10));
        eprintln!(
            "SIG{sig}: temporary files gone {:.2}s after prov exited",
            t.elapsed().as_secs_f64()
        );
        assert!(
            left.is_empty(),
            "SIG{sig}: left behind: {left:?}{}",
            f.leak_report(&left)
        );
        for h in &three {
            let got = f.sha256(h, &dest).unwrap();
            assert!(got == old || got == want, "SIG{sig}: {h} half-written");
        }
    }
    let out = prov(&["run", &play, "-i", &inv], Duration::from_secs(120));
    assert_eq!(out.code, 0, "{}", show(&out));
    for h in &three {
        assert_eq!(f.sha256(h, &dest), Some(want.clone()), "{h}");
        f.sh(h, &format!("rm -rf {ROOT}/sig"));
    }
}

#[test]
fn two_runs_writing_the_same_file_leave_one_complete_version() {
    let Some(f) = Fixture::take() else { return };
    let three = hosts(3);
    let dest = format!("{ROOT}/race/file.bin");
    for h in &three {
        f.sh(h, &format!("mkdir -p {ROOT}/race"));
    }
    let a = f.random_file("a.bin", 16);
    let b = f.random_file("b.bin", 16);
    let (sha_a, sha_b) = (local_sha256(&a), local_sha256(&b));
    let play = f.write(
        "race.yml",
        &format!(
            "- hosts: lab1:lab2:lab3\n  gather_facts: no\n  tasks:\n\
             \x20   - copy: {{ src: \"{{{{ src }}}}\", dest: {dest} }}\n"
        ),
    );
    let inv = f.inv();
    for round in 0..3 {
        let ea = format!("src={}", a.display());
        let eb = format!("src={}", b.display());
        let ra = Running::spawn(&["run", &play, "-i", &inv, "-e", &ea]);
        let rb = Running::spawn(&["run", &play, "-i", &inv, "-e", &eb]);
        let (oa, ob) = (
            ra.finish(Duration::from_secs(60)),
            rb.finish(Duration::from_secs(60)),
        );
        assert_eq!(oa.code, 0, "round {round}, run A\n{}", show(&oa));
        assert_eq!(ob.code, 0, "round {round}, run B\n{}", show(&ob));
        for h in &three {
            let got = f.sha256(h, &dest).unwrap();
            assert!(
                got == sha_a || got == sha_b,
                "round {round}: {h} holds neither version"
            );
        }
        let left = f.wait_no_temp_files(&three, Duration::ZERO);
        assert!(
            left.is_empty(),
            "round {round}: left behind: {left:?}{}",
            f.leak_report(&left)
        );
    }
}

/// The same stop without the lab, on the local connection: SIGTERM during a long command
/// gives exit 143, the interruption as a warning and as the task's failure, and the recap.
#[test]
fn sigterm_stops_a_local_run_with_its_recap() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        "all:\n  hosts:\n    here: { ansible_connection: local }\n",
    )
    .unwrap();
    let play = dir.path().join("play.yml");
    std::fs::write(
        &play,
        "- hosts: all\n  gather_facts: no\n  tasks:\n    - command: \"true\"\n    - name: long\n      command: sleep 5\n    - command: \"true\"\n",
    )
    .unwrap();
    let (play, inv) = (play.display().to_string(), inv.display().to_string());
    let run = Running::spawn(&["run", &play, "-i", &inv]);
    let t = Instant::now();
    // Until the long command runs.
    while !std::fs::read_to_string(&run.out)
        .unwrap_or_default()
        .contains(r#""task":"long""#)
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    run.signal("TERM");
    let signalled = Instant::now();
    let out = run.finish(Duration::from_secs(10));
    assert!(signalled.elapsed() < Duration::from_secs(3));
    assert_eq!(out.code, 143, "{}", show(&out));
    let r = recap(&out, "here");
    assert_eq!((n(&r, "changed"), n(&r, "failed")), (1, 1), "{r}");
    let last = results_of(&out, "here");
    assert_eq!(last.len(), 2, "the third task never started: {last:?}");
    assert!(
        last[1]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("interrupted by SIGTERM")),
        "{}",
        last[1]
    );
    assert_eq!(out.events.last().unwrap()["event"], "run_end");
}
