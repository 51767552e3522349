//! The probe's output framing: sections `#prov-facts LENGTH KIND NAME` followed by exactly
//! LENGTH bytes of body (see probe.sh). A body is never scanned for headers, so no content can
//! be mistaken for framing.

use std::collections::{BTreeMap, BTreeSet};

use super::FactError;

const HEADER: &str = "#prov-facts ";

/// What the probe saw on the host, by kind.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Probe {
    /// Readable files and their content.
    pub files: BTreeMap<String, String>,
    /// Paths that exist.
    pub exists: BTreeSet<String>,
    /// Commands by name: exit status and stdout.
    pub cmds: BTreeMap<String, (i32, String)>,
    /// Executable local facts by path: exit status and stdout.
    pub local: BTreeMap<String, (i32, String)>,
}

#[cfg(test)]
impl Probe {
    /// A probe answer with these files and these commands' outputs (exit status 0).
    pub(crate) fn for_test(files: &[(&str, &str)], cmds: &[(&str, &str)]) -> Probe {
        let mut p = Probe::default();
        for (k, v) in files {
            p.files.insert((*k).into(), (*v).into());
        }
        for (k, v) in cmds {
            p.cmds.insert((*k).into(), (0, (*v).into()));
        }
        p
    }
}

impl Probe {
    /// The content of `path`, when it was readable.
    pub fn file(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// The content of `path` trimmed, `None` when unreadable or empty (Python's
    /// `get_file_content`, which Ansible's collectors use).
    pub fn content(&self, path: &str) -> Option<&str> {
        self.file(path).map(str::trim).filter(|s| !s.is_empty())
    }

    /// True when `path` exists on the host.
    pub fn exists(&self, path: &str) -> bool {
        self.exists.contains(path) || self.files.contains_key(path)
    }

    /// The stdout of command `name` when it ran and succeeded.
    pub fn ok_cmd(&self, name: &str) -> Option<&str> {
        match self.cmds.get(name) {
            Some((0, out)) => Some(out.as_str()),
            _ => None,
        }
    }
}

/// Splits the probe's output into its sections. An output that does not follow the framing,
/// or that lacks the final `end` section (the script was cut short), is an error. Lengths are
/// bytes: a body that is not UTF-8 is read lossily once cut out.
pub fn split(output: &[u8]) -> Result<Probe, FactError> {
    let err = |msg: String| FactError::new("probe output", msg);
    let mut probe = Probe::default();
    let mut rest = output;
    loop {
        let Some(after) = rest.strip_prefix(HEADER.as_bytes()) else {
            let start = String::from_utf8_lossy(&rest[..rest.len().min(60)]).into_owned();
            return Err(err(format!("expected a section header, found {start:?}")));
        };
        let nl = after
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| err("unterminated section header".into()))?;
        let line = String::from_utf8_lossy(&after[..nl]).into_owned();
        let body_start = &after[nl + 1..];
        let mut words = line.splitn(3, ' ');
        let (len, kind, name) = match (words.next(), words.next(), words.next()) {
            (Some(l), Some(k), Some(n)) => (l, k, n),
            _ => return Err(err(format!("malformed section header {line:?}"))),
        };
        let len: usize = len
            .parse()
            .map_err(|_| err(format!("section header {line:?}: bad length")))?;
        let body = body_start.get(..len).ok_or_else(|| {
            err(format!(
                "section {kind} {name}: body shorter than {len} bytes"
            ))
        })?;
        let body = String::from_utf8_lossy(body).into_owned();
        rest = &body_start[len..];
        match kind {
            "end" => {
                return if rest.iter().all(u8::is_ascii_whitespace) {
                    Ok(probe)
                } else {
                    Err(err("text after the end section".into()))
                };
            }
            "file" => {
                probe.files.insert(name.to_owned(), body);
            }
            "exists" => {
                probe.exists.insert(name.to_owned());
            }
            "cmd" | "local" => {
                let (what, status) = match kind {
                    "cmd" => name.rsplit_once(' '),
                    _ => name.split_once(' ').map(|(s, n)| (n, s)),
                }
                .ok_or_else(|| err(format!("section {kind} {name:?}: no exit status")))?;
                let status: i32 = status
                    .parse()
                    .map_err(|_| err(format!("section {kind} {name:?}: bad exit status")))?;
                let map = if kind == "cmd" {
                    &mut probe.cmds
                } else {
                    &mut probe.local
                };
                map.insert(what.to_owned(), (status, body));
            }
            other => return Err(err(format!("unknown section kind {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_looks_like_a_header_stays_a_body() {
        let body = "x\n#prov-facts 3 end end\nabc";
        let out = format!(
            "#prov-facts {} file /etc/x\n{body}#prov-facts 2 cmd ip addr 1\nok#prov-facts 0 exists /e\n\
             #prov-facts 4 local 0 /etc/ansible/facts.d/a b.fact\n{{}}\n\n#prov-facts 0 end end\n",
            body.len()
        );
        let p = split(out.as_bytes()).unwrap();
        assert_eq!(p.file("/etc/x"), Some(body));
        assert_eq!(p.cmds["ip addr"], (1, "ok".into()));
        assert_eq!(p.ok_cmd("ip addr"), None);
        assert!(p.exists("/e") && p.exists("/etc/x") && !p.exists("/f"));
        assert_eq!(
            p.local["/etc/ansible/facts.d/a b.fact"],
            (0, "{}\n\n".into())
        );
    }

    #[test]
    fn broken_framing_is_an_error() {
        for (out, says) in [
            ("#prov-facts 3 file /x\nab", "body shorter"),
            ("#prov-facts 0 file /x\n", "expected a section header"),
            ("garbage", "expected a section header"),
            ("#prov-facts x file /x\n", "bad length"),
            (
                "#prov-facts 0 cmd ip\n#prov-facts 0 end end\n",
                "no exit status",
            ),
            (
                "#prov-facts 0 what /x\n#prov-facts 0 end end\n",
                "unknown section kind",
            ),
            ("#prov-facts 0 end end\nmore", "after the end"),
        ] {
            let e = split(out.as_bytes()).unwrap_err().to_string();
            assert!(
                e.contains("probe output") && e.contains(says),
                "{out:?}: {e}"
            );
        }
    }
}
