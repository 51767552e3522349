//! Exit codes (documented in docs/ci.md).

/// What `prov` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything ran, nothing failed.
    Ok = 0,
    /// A task failed on some host.
    TaskFailed = 2,
    /// Some host was unreachable (and no task failed elsewhere).
    Unreachable = 3,
    /// Bad command line, inventory, playbook, template or vault input: nothing ran. Also output
    /// that could not be written (stdout on a full disk, an unwritable `--junit` file).
    Usage = 4,
    /// `--check --detailed-exitcode`: changes are pending (drift).
    ChangesPending = 5,
    /// Stopped by SIGINT (Ctrl-C): 128 + 2, like a shell reports it.
    Interrupted = 130,
    /// Stopped by SIGTERM (or SIGHUP): 128 + 15.
    Terminated = 143,
}

impl ExitCode {
    /// The exit code when some output was lost: 4, unless the run's own code is a higher
    /// failure (stopped by a signal). Drift (5) is not a failure: lost output wins over it.
    pub fn after_lost_output(self) -> ExitCode {
        match self {
            ExitCode::Interrupted | ExitCode::Terminated => self,
            _ => ExitCode::Usage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    #[test]
    fn lost_output_is_never_success() {
        for c in [
            ExitCode::Ok,
            ExitCode::TaskFailed,
            ExitCode::Unreachable,
            ExitCode::Usage,
            ExitCode::ChangesPending,
        ] {
            assert_eq!(c.after_lost_output(), ExitCode::Usage);
        }
        assert_eq!(
            ExitCode::Terminated.after_lost_output(),
            ExitCode::Terminated
        );
        assert_eq!(
            ExitCode::Interrupted.after_lost_output(),
            ExitCode::Interrupted
        );
    }
}
