//! Running external programs from argument vectors (never through a shell command line).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::LabError;

/// The PATH given to every program the lab runs.
pub(crate) const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The Debian package that provides a program the lab runs (for error messages).
fn package_of(program: &str) -> &'static str {
    match program {
        "ip" => "iproute2",
        "mount" | "umount" => "mount",
        "unshare" | "nsenter" | "setsid" => "util-linux",
        "debootstrap" => "debootstrap",
        "apt-ftparchive" => "apt-utils",
        "apt-get" => "apt",
        "ssh-keygen" | "ssh" => "openssh-client",
        "chroot" => "coreutils",
        "sh" => "dash",
        _ => "?",
    }
}

/// A command being prepared: program, arguments and optional standard input.
pub(crate) struct Cmd {
    program: String,
    args: Vec<std::ffi::OsString>,
    stdin: Option<Vec<u8>>,
    cwd: Option<std::path::PathBuf>,
}

impl Cmd {
    /// Starts a command for `program`.
    pub(crate) fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            stdin: None,
            cwd: None,
        }
    }

    /// Appends one argument.
    pub(crate) fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    /// Appends several arguments.
    pub(crate) fn args<I, S>(mut self, items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        for a in items {
            self.args.push(a.as_ref().to_os_string());
        }
        self
    }

    /// Feeds `data` on standard input.
    pub(crate) fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// Runs the program in directory `dir`.
    pub(crate) fn current_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The command line, for messages only.
    pub(crate) fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Builds the `std::process::Command` (environment reduced to a fixed PATH and C locale).
    pub(crate) fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args)
            .env_clear()
            .env("PATH", SAFE_PATH)
            .env("LC_ALL", "C")
            .env("HOME", "/root");
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c
    }

    /// Runs the command and returns its output, whatever its exit status.
    pub(crate) fn output(self) -> Result<Output, LabError> {
        let display = self.display();
        let mut c = self.command();
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = c
            .spawn()
            .map_err(|e| spawn_error(&self.program, display, e))?;
        if let Some(data) = self.stdin
            && let Some(mut w) = child.stdin.take()
        {
            // A program that exits early closes the pipe; its status tells what happened.
            let _ = w.write_all(&data);
        }
        child.wait_with_output().map_err(|e| LabError::Spawn {
            command: self.program.clone(),
            source: e,
        })
    }

    /// Runs the command; a non-zero exit status is an error carrying the tail of stderr.
    pub(crate) fn run(self) -> Result<Output, LabError> {
        let display = self.display();
        let out = self.output()?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(command_error(display, &out))
        }
    }
}

/// Maps a spawn failure, naming the package when the program is missing.
pub(crate) fn spawn_error(program: &str, display: String, e: std::io::Error) -> LabError {
    if e.kind() == std::io::ErrorKind::NotFound {
        LabError::MissingTool {
            program: program.to_string(),
            package: package_of(program).to_string(),
        }
    } else {
        LabError::Spawn {
            command: display,
            source: e,
        }
    }
}

/// Builds the error for a command that failed.
pub(crate) fn command_error(display: String, out: &Output) -> LabError {
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    LabError::Command {
        command: display,
        status: out.status.to_string(),
        stderr: tail(&text, 1500),
    }
}

/// The last `max` bytes of `s` (cut at a character boundary).
pub(crate) fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}
