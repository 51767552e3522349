//! Safety of the command line itself (issue 14): where a vault password script is looked up, and
//! that output which could not be written is never reported as success.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn prov(args: &[&str], dir: &Path, path_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prov"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .env_remove("PROV_VAULT_PASSWORD_FILE");
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().expect("prov runs")
}

fn dump(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `--vault-password-file okpw.sh` names `./okpw.sh`, never a program called `okpw.sh` found in
/// `$PATH` (as in Ansible).
#[test]
fn a_bare_password_script_name_is_a_file_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let marker = dir.path().join("impostor-ran");
    write_script(&work.join("okpw.sh"), "#!/bin/sh\nprintf 'right-pw\\n'\n");
    write_script(
        &bin.join("okpw.sh"),
        &format!(
            "#!/bin/sh\ntouch '{}'\nprintf 'wrong-pw\\n'\n",
            marker.display()
        ),
    );
    // Encrypt with the right password given as a plain file.
    std::fs::write(dir.path().join("plain-pw"), "right-pw\n").unwrap();
    std::fs::write(work.join("secret.yml"), "token: hunter2\n").unwrap();
    let plain = dir.path().join("plain-pw");
    let out = prov(
        &[
            "vault",
            "encrypt",
            "secret.yml",
            "--vault-password-file",
            plain.to_str().unwrap(),
        ],
        &work,
        None,
    );
    assert!(out.status.success(), "{}", dump(&out));

    let path_env = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = prov(
        &[
            "vault",
            "view",
            "secret.yml",
            "--vault-password-file",
            "okpw.sh",
        ],
        &work,
        Some(&path_env),
    );
    assert!(!marker.exists(), "the okpw.sh found in $PATH was run");
    assert!(out.status.success(), "{}", dump(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "token: hunter2\n");

    // Without a file of that name in the working directory, the name is not found (and the
    // program in $PATH still does not run).
    std::fs::remove_file(work.join("okpw.sh")).unwrap();
    let out = prov(
        &[
            "vault",
            "view",
            "secret.yml",
            "--vault-password-file",
            "okpw.sh",
        ],
        &work,
        Some(&path_env),
    );
    assert!(!marker.exists(), "the okpw.sh found in $PATH was run");
    assert_eq!(out.status.code(), Some(4), "{}", dump(&out));
}

/// A one-host local project: `play.yml` with `tasks` (YAML list items indented by 4).
fn local_project(tasks: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inv.yml"),
        "all:\n  hosts:\n    h1:\n      ansible_connection: local\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("play.yml"),
        format!("- hosts: all\n  gather_facts: no\n  tasks:\n{tasks}"),
    )
    .unwrap();
    dir
}

const OK_TASK: &str = "    - name: hello\n      debug: msg=hello\n";
const FAILING_TASK: &str = "    - name: boom\n      command: 'false'\n";

fn run_with_stdout(dir: &Path, args: &[&str], stdout: std::process::Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prov"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .stdout(stdout)
        .output()
        .expect("prov runs")
}

/// A JUnit report that cannot be written fails the run: exit 4, or the run's own code when a
/// signal stopped it; never 0.
#[test]
fn an_unwritable_junit_report_is_exit_4() {
    let dir = local_project(OK_TASK);
    for output in ["text", "json"] {
        let out = prov(
            &[
                "run",
                "play.yml",
                "-i",
                "inv.yml",
                "--output",
                output,
                "--junit",
                "no-such-dir/report.xml",
            ],
            dir.path(),
            None,
        );
        assert_eq!(out.status.code(), Some(4), "{}", dump(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot write the JUnit report no-such-dir/report.xml"),
            "{err}"
        );
    }
    // A writable report: exit 0, and the report is there.
    let out = prov(
        &["run", "play.yml", "-i", "inv.yml", "--junit", "report.xml"],
        dir.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", dump(&out));
    assert!(dir.path().join("report.xml").exists());

    // A failed task (2) and a lost report: 4.
    let dir = local_project(FAILING_TASK);
    let out = prov(
        &[
            "run",
            "play.yml",
            "-i",
            "inv.yml",
            "--junit",
            "no-such-dir/r.xml",
        ],
        dir.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(4), "{}", dump(&out));
}

/// Output to a full disk (`/dev/full`) is exit 4 with the reason, for the console, JSON Lines and
/// the other commands that print.
#[test]
fn stdout_on_a_full_disk_is_exit_4() {
    let dir = local_project(OK_TASK);
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    for output in ["text", "json"] {
        let out = run_with_stdout(
            dir.path(),
            &["run", "play.yml", "-i", "inv.yml", "--output", output],
            full().into(),
        );
        assert_eq!(out.status.code(), Some(4), "{output}: {}", dump(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot write to stdout") && err.contains("No space left on device"),
            "{err}"
        );
        assert_eq!(err.matches("cannot write").count(), 1, "said once: {err}");
    }
    for args in [
        &["inventory", "list", "-i", "inv.yml"][..],
        &["run", "play.yml", "-i", "inv.yml", "--list-hosts"][..],
        &["completions", "bash"][..],
        &["--version"][..],
    ] {
        let out = run_with_stdout(dir.path(), args, full().into());
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", dump(&out));
    }
    // The same runs to a working stdout exit 0.
    let out = run_with_stdout(
        dir.path(),
        &["run", "play.yml", "-i", "inv.yml"],
        std::process::Stdio::piped(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", dump(&out));
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// A play whose second task starts a command that ignores TERM and INT and writes the PID of
/// its `sleep` to `pid`.
const TERM_IGNORING: &str = "    - name: first\n      command: 'true'\n    - name: stubborn\n      shell: trap '' TERM INT; sleep 31 & echo $! > pid; wait\n";

/// Waits for the `pid` file of [`TERM_IGNORING`].
fn stubborn_pid(dir: &Path) -> u32 {
    let t = std::time::Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SIGTERM or SIGHUP to prov while a command that ignores TERM runs: the recap is printed, the
/// exit code is 143, and the command does not outlive prov (TERM, a grace period, KILL).
#[test]
fn signals_stop_a_command_that_ignores_term_and_hup_counts_as_term() {
    for sig in ["TERM", "HUP"] {
        let dir = local_project(TERM_IGNORING);
        let child = Command::new(env!("CARGO_BIN_EXE_prov"))
            .args(["run", "play.yml", "-i", "inv.yml", "--output", "json"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env("CI", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("prov starts");
        let pid = stubborn_pid(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(200));
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let signalled = std::time::Instant::now();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(143), "SIG{sig}: {}", dump(&out));
        assert!(
            signalled.elapsed() < std::time::Duration::from_secs(9),
            "SIG{sig}: took {:?}",
            signalled.elapsed()
        );
        assert!(
            stdout.contains(&format!("interrupted by SIG{sig}")),
            "{}",
            dump(&out)
        );
        let last = stdout.lines().last().unwrap_or_default();
        assert!(last.contains(r#""event":"run_end""#), "no recap: {last}");
        assert!(
            !alive(pid),
            "SIG{sig}: the command ignoring TERM outlived prov"
        );
    }
}

/// A task timeout on a command that ignores TERM: the task fails, and the command is killed
/// after the grace period (by the time prov exits at the latest).
#[test]
fn a_timed_out_command_that_ignores_term_does_not_outlive_prov() {
    let dir = local_project(TERM_IGNORING);
    let out = prov(
        &["run", "play.yml", "-i", "inv.yml", "--timeout", "1"],
        dir.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", dump(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("timed out"),
        "{}",
        dump(&out)
    );
    let pid = stubborn_pid(dir.path());
    assert!(!alive(pid), "the timed-out command outlived prov");
}
