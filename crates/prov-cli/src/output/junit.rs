//! `--junit FILE`: one test case per host × task, written when the run ends.

use std::path::PathBuf;
use std::sync::Mutex;

use prov_core::{Event, EventSink, TaskResult, TaskStatus};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// Collects task results and writes a JUnit XML report.
pub struct JunitSink {
    path: PathBuf,
    results: Mutex<Vec<TaskResult>>,
}

impl JunitSink {
    /// A sink writing to `path` at the end of the run.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            results: Mutex::new(Vec::new()),
        }
    }
}

impl EventSink for JunitSink {
    fn event(&self, event: &Event) {
        if let Event::TaskResult(r) = event
            && let Ok(mut v) = self.results.lock()
        {
            v.push(r.clone());
        }
    }

    fn finish(&self) {
        let Ok(results) = self.results.lock() else {
            return;
        };
        let mut report = Report::new("prov");
        let mut suites: Vec<TestSuite> = Vec::new();
        for r in results.iter() {
            let suite = match suites.iter_mut().find(|s| s.name.as_str() == r.play) {
                Some(s) => s,
                None => {
                    suites.push(TestSuite::new(r.play.clone()));
                    suites.last_mut().expect("just pushed")
                }
            };
            let status = match r.status {
                TaskStatus::Failed | TaskStatus::Unreachable => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(r.msg.clone().unwrap_or_default());
                    s.set_type(format!("{:?}", r.status).to_lowercase());
                    s
                }
                TaskStatus::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(r.msg.clone().unwrap_or_default());
                    s
                }
                TaskStatus::KnownAfterApply => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(r.msg.clone().unwrap_or_default());
                    s.set_type("known_after_apply");
                    s
                }
                _ => TestCaseStatus::success(),
            };
            let name = match &r.item {
                Some(i) => format!("[{}] {} ({i})", r.host, r.task),
                None => format!("[{}] {}", r.host, r.task),
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(format!("{}.{}", r.host, r.module));
            case.set_time(r.duration);
            suite.add_test_case(case);
        }
        report.add_test_suites(suites);
        // A report that could not be written fails the run (exit 4, see `crate::stdout`).
        match report.to_string() {
            Ok(xml) => {
                if let Err(e) = std::fs::write(&self.path, xml) {
                    crate::stdout::note_failure(
                        &format!("the JUnit report {}", self.path.display()),
                        &e,
                    );
                }
            }
            Err(e) => crate::stdout::note_failure("the JUnit report", &e),
        }
    }
}
