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
            self.masked(&event)
        };
        for s in self.sinks.iter() {
            s.event(&event);
        }
    }

    /// `event` with every secret masked. The fields that give the event its shape (its kind
    /// and status, fixed words such as `task_result` or `changed`) are kept as they were, so
    /// a secret that happens to be such a word cannot make the event unreadable; an event
    /// that still cannot be read back is withheld, never shown unmasked.
    fn masked(&self, event: &Event) -> Event {
        const SHAPE: &[&str] = &["event", "status"];
        let withheld = || Event::Warning {
            message: "an event was withheld: it could not be shown with its secrets masked".into(),
        };
        let Ok(original) = serde_json::to_value(event) else {
            return withheld();
        };
        let mut v = original.clone();
        self.redactor.redact_json(&mut v);
        if let (Some(masked), Some(orig)) = (v.as_object_mut(), original.as_object()) {
            for k in SHAPE {
                if let Some(value) = orig.get(*k) {
                    masked.insert((*k).to_owned(), value.clone());
                }
            }
        }
        serde_json::from_value(v).unwrap_or_else(|_| withheld())
    }

    /// Tells every sink the run is over.
    pub fn finish(&self) {
        for s in self.sinks.iter() {
            s.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use prov_core::{TaskResult, TaskStatus};
    use serde_json::json;

    use super::*;

    #[derive(Default)]
    struct Collect(Arc<Mutex<Vec<Event>>>);

    impl EventSink for Collect {
        fn event(&self, event: &Event) {
            if let Ok(mut v) = self.0.lock() {
                v.push(event.clone());
            }
        }
    }

    #[test]
    fn a_secret_that_is_a_fixed_word_is_still_masked_and_the_event_kept() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let redactor = Arc::new(Redactor::new());
        redactor.add("task");
        let bus = EventBus::new(vec![Box::new(Collect(seen.clone()))], redactor);
        bus.emit(Event::TaskResult(TaskResult {
            host: "h1".into(),
            play: "p".into(),
            task: "t".into(),
            module: "debug".into(),
            item: None,
            status: TaskStatus::Ok,
            changed: false,
            duration: std::time::Duration::ZERO,
            summary: Vec::new(),
            diffs: Vec::new(),
            msg: Some("the task word".into()),
            result: json!({"msg": "the task word"}),
        }));
        let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
        let text = serde_json::to_string(&seen).unwrap_or_default();
        assert!(matches!(seen.as_slice(), [Event::TaskResult(_)]), "{text}");
        assert!(!text.contains("the task word"), "{text}");
    }
}
