//! Writing to stdout without panicking when the reader goes away (`prov ... | head`), and
//! remembering output that could not be written (a full disk, an unwritable report file), so
//! that the run does not exit 0 after losing it (see [`failed`]).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static FAILED: AtomicBool = AtomicBool::new(false);

/// Records that some output was lost; the first time, says so on stderr. The exit code then
/// reports it (see `ExitCode::after_lost_output`).
pub fn note_failure(what: &str, e: &dyn std::fmt::Display) {
    if !FAILED.swap(true, Ordering::SeqCst) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "prov: error: cannot write {what}: {e}");
    }
}

/// True when some output could not be written.
pub fn failed() -> bool {
    FAILED.load(Ordering::SeqCst)
}

/// Checks the result of writing to stdout: a closed pipe is the reader's choice and ignored
/// (as other Unix tools do), any other error (a full disk, an I/O error) is recorded.
pub fn check(result: std::io::Result<()>) {
    if let Err(e) = result
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        note_failure("to stdout", &e);
    }
}

/// Flushes stdout and records an error (called once before exiting).
pub fn flush() {
    check(std::io::stdout().lock().flush());
}

/// Writes bytes to stdout; a closed pipe ends the program quietly, as for other Unix tools;
/// other errors are recorded.
pub fn write_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => check(other),
    }
}

/// `println!` that survives a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::write_bytes(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}
pub(crate) use outln;

/// `eprintln!` that never panics: stderr may be gone (a closed terminal after SIGHUP).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use errln;
