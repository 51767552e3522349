//! The event bus: the engine emits, sinks render. Redaction happens here, once, before any
//! sink sees an event.

use std::sync::Arc;

use prov_core::{Event, EventSink, Redactor};

/// Delivers events to every sink, with secrets masked.
#[derive(Clone)]
pub struct EventBus {
    sinks: Arc<Vec<Box<dyn EventSink>>>,
    redactor: Arc<Redactor>,
}

impl EventBus {
    /// A bus delivering to `sinks`, masking the secrets known to `redactor`.
    pub fn new(sinks: Vec<Box<dyn EventSink>>, redactor: Arc<Redactor>) -> Self {
        Self {
            sinks: Arc::new(sinks),
            redactor,
        }
    }

    /// The redactor (vault values and become passwords are registered in it).
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Emits one event to every sink.
    pub fn emit(&self, event: Event) {
        let event = if self.redactor.is_empty() {
            event
        } else {
            match serde_json::to_value(&event) {
                Ok(mut v) => {
                    self.redactor.redact_json(&mut v);
                    serde_json::from_value(v).unwrap_or(event)
                }
                Err(_) => event,
            }
        };
        for s in self.sinks.iter() {
            s.event(&event);
        }
    }

    /// Tells every sink the run is over.
    pub fn finish(&self) {
        for s in self.sinks.iter() {
            s.finish();
        }
    }
}
