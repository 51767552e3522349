//! Before/after content of one changed thing and its unified rendering.

use serde::{Deserialize, Serialize};

/// What a change does to one file, package set, rule set or topology, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// What is compared, e.g. a path (`/etc/redis/redis-7000.conf`) or `packages`.
    pub label: String,
    /// The current content (empty when the thing does not exist yet).
    pub before: String,
    /// The content after the change (empty when the thing is removed).
    pub after: String,
}

impl Diff {
    /// Creates a diff of `label` from `before` to `after`.
    pub fn new(
        label: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Self {
        Self {
            label: label.into(),
            before: before.into(),
            after: after.into(),
        }
    }

    /// Renders the unified diff (`--- before`/`+++ after` headers, 3 lines of context).
    pub fn unified(&self) -> String {
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("before: {}", self.label),
                &format!("after: {}", self.label),
            )
            .to_string()
    }

    /// Counts added and removed lines, for one-line summaries.
    pub fn line_counts(&self) -> (usize, usize) {
        let diff = similar::TextDiff::from_lines(&self.before, &self.after);
        let mut added = 0;
        let mut removed = 0;
        for change in diff.iter_all_changes() {
            match change.tag() {
                similar::ChangeTag::Insert => added += 1,
                similar::ChangeTag::Delete => removed += 1,
                similar::ChangeTag::Equal => {}
            }
        }
        (added, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_shows_changed_line() {
        let d = Diff::new("/etc/x", "a\nb\nc\n", "a\nB\nc\n");
        let text = d.unified();
        assert!(text.contains("-b\n"), "{text}");
        assert!(text.contains("+B\n"), "{text}");
        assert_eq!(d.line_counts(), (1, 1));
    }
}
