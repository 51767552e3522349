//! Sinks of the engine's event stream: the console (progress bars on a terminal, plain lines
//! otherwise, and the recap), JSON Lines, and JUnit XML.

mod console;
mod json;
mod junit;

pub use console::ConsoleSink;
pub use json::JsonSink;
pub use junit::JunitSink;
