//! `--output json`: one JSON object per line for every event (see docs/output.md).

use std::io::Write;
use std::sync::Mutex;

use prov_core::{Event, EventSink};

/// Writes every event as one line of JSON to stdout.
pub struct JsonSink {
    out: Mutex<std::io::Stdout>,
}

impl JsonSink {
    /// A sink writing to stdout.
    pub fn new() -> Self {
        Self {
            out: Mutex::new(std::io::stdout()),
        }
    }
}

impl EventSink for JsonSink {
    fn event(&self, event: &Event) {
        if let (Ok(line), Ok(mut out)) = (serde_json::to_string(event), self.out.lock()) {
            crate::stdout::check(writeln!(out, "{line}"));
        }
    }
    fn finish(&self) {
        if let Ok(mut out) = self.out.lock() {
            crate::stdout::check(out.flush());
        }
    }
}
