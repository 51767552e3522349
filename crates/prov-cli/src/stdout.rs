//! Writing to stdout without panicking when the reader goes away (`prov ... | head`).

use std::io::Write;

/// Writes bytes to stdout; a closed pipe ends the program quietly, as for other Unix tools.
pub fn write_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|_| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// `println!` that survives a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::write_bytes(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}
pub(crate) use outln;
