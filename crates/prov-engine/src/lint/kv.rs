//! Where the values of `key=value` arguments are written (`debug: msg="{{ x }}"`): the loader
//! records where the whole string starts only, so lint looks each `key=` up in the source
//! text, to point a finding at its use rather than at the string's start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::Location;
use crate::playbook::Task;
use crate::yaml::PathSeg;

/// The source lines of the files lint has looked into.
#[derive(Default)]
pub(super) struct Sources {
    files: HashMap<PathBuf, Option<Vec<String>>>,
}

impl Sources {
    fn lines(&mut self, file: &Path) -> Option<&[String]> {
        self.files
            .entry(file.to_path_buf())
            .or_insert_with(|| {
                let text = std::fs::read_to_string(file).ok()?;
                Some(text.lines().map(str::to_owned).collect())
            })
            .as_deref()
    }

    /// Where each `key=value` argument of `t` starts its value (after an opening quote), for
    /// a task whose arguments are one `key=value` string. Empty for other tasks.
    pub(super) fn kv_values(&mut self, t: &Task) -> HashMap<String, Location> {
        let mut out = HashMap::new();
        let module = [PathSeg::Key(t.module_key.clone())];
        let (Some(start), Some(args)) = (t.locs.get(&module), t.args.as_object()) else {
            return out;
        };
        let written_as_mapping = args.keys().any(|k| {
            let mut p = module.to_vec();
            p.push(PathSeg::Key(k.clone()));
            t.locs.get(&p).is_some()
        });
        if written_as_mapping {
            return out;
        }
        let Some(lines) = self.lines(&start.file) else {
            return out;
        };
        for key in args.keys() {
            if let Some((line, column)) = find_value(lines, start.line, start.column, key) {
                out.insert(key.clone(), Location::new(&start.file, line, column));
            }
        }
        out
    }
}

/// Where the value of `key=` starts in the scalar that starts at `line`:`column` (1-based),
/// looked for on that line from `column` on, then on the lines that continue it (indented
/// deeper than the line it starts on).
fn find_value(lines: &[String], line: usize, column: usize, key: &str) -> Option<(usize, usize)> {
    let first = lines.get(line.checked_sub(1)?)?;
    let indent = |l: &str| l.chars().take_while(|c| *c == ' ').count();
    let base = indent(first);
    let skip = column.saturating_sub(1);
    if let Some(c) = find_in(first, skip, key) {
        return Some((line, c));
    }
    for (i, l) in lines.iter().enumerate().skip(line) {
        if l.trim().is_empty() || indent(l) <= base {
            break;
        }
        if let Some(c) = find_in(l, 0, key) {
            return Some((i + 1, c));
        }
    }
    None
}

/// The 1-based column where the value of `key=` starts in `line` (from char `skip` on), at
/// the start or after a space, past an opening quote.
fn find_in(line: &str, skip: usize, key: &str) -> Option<usize> {
    let chars: Vec<char> = line.chars().collect();
    let pattern: Vec<char> = format!("{key}=").chars().collect();
    (skip..chars.len()).find_map(|i| {
        let boundary = i == skip || chars[i - 1].is_whitespace();
        let matches = chars.get(i..i + pattern.len()) == Some(&pattern[..]);
        if !(boundary && matches) {
            return None;
        }
        let value = i + pattern.len();
        let quoted = matches!(chars.get(value), Some('"' | '\''));
        Some(value + usize::from(quoted) + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::find_value;

    #[test]
    fn values_are_found_after_their_key() {
        let lines: Vec<String> = [
            "- debug: msg=\"{{ os_vars }}\"",
            "- file: path={{ p }}",
            "        state=directory mode='{{ m }}'",
            "- x: 1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(find_value(&lines, 1, 10, "msg"), Some((1, 15)));
        assert_eq!(find_value(&lines, 2, 9, "path"), Some((2, 14)));
        assert_eq!(find_value(&lines, 2, 9, "mode"), Some((3, 31)));
        assert_eq!(find_value(&lines, 2, 9, "nope"), None);
        // `notmsg=` is not `msg=`.
        let lines = vec!["- debug: notmsg=1 msg=2".to_owned()];
        assert_eq!(find_value(&lines, 1, 10, "msg"), Some((1, 23)));
    }
}
