//! Loading YAML with locations.
//!
//! Values are parsed by serde_yaml_ng (YAML 1.2, with line and column in syntax errors) and
//! converted to JSON values, the engine's one value type. A second, event-level pass
//! (yaml-rust2) records where every node starts, so that later semantic errors (an unknown
//! module, a bad `when`) can still name `file:line:column`. `!vault` tagged scalars are
//! decrypted through a [`SecretResolver`] and `!unsafe` scalars are kept as plain text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::error::{EngineError, Location};

/// Decrypts vault-encrypted text found while loading YAML.
pub trait SecretResolver: Send + Sync {
    /// True when `text` is a whole vault-encrypted file.
    fn is_encrypted(&self, text: &str) -> bool;
    /// Decrypts `text` from `file`; the plaintext is registered as a secret for redaction.
    fn decrypt(&self, text: &str, file: &Path) -> Result<String, EngineError>;
}

/// A resolver for runs without any vault password: any encrypted value is an error.
pub struct NoSecrets;

impl SecretResolver for NoSecrets {
    fn is_encrypted(&self, text: &str) -> bool {
        text.trim_start().starts_with("$ANSIBLE_VAULT;")
    }
    fn decrypt(&self, _text: &str, file: &Path) -> Result<String, EngineError> {
        Err(EngineError::Vault {
            file: file.to_path_buf(),
            message: "the file holds vault-encrypted data but no vault password was given \
                      (use --vault-password-file FILE or PROV_VAULT_PASSWORD_FILE)"
                .into(),
        })
    }
}

/// A path inside a YAML document: keys and sequence indexes.
pub type NodePath = Vec<PathSeg>;

/// One step of a [`NodePath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A loaded YAML document: its value and where each node starts.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    /// The file it came from.
    pub file: PathBuf,
    /// The document as a JSON value.
    pub value: Value,
    spans: HashMap<NodePath, (usize, usize)>,
    /// Where each value starts (the first character inside quotes for quoted scalars).
    values: HashMap<NodePath, (usize, usize)>,
}

/// Where the values below one node (a task, a block) start, relative to that node: what
/// run-time errors (a template that fails on a host) use to name `file:line:column`.
#[derive(Debug, Clone)]
pub struct NodeLocs {
    file: PathBuf,
    start: (usize, usize),
    values: std::sync::Arc<HashMap<NodePath, (usize, usize)>>,
}

impl NodeLocs {
    /// Locations that all point at `at` (for nodes built without a YAML document).
    pub fn at(at: &Location) -> Self {
        Self {
            file: at.file.clone(),
            start: (at.line, at.column),
            values: Default::default(),
        }
    }

    /// Where the value at `path` (relative to the node) starts, if it was recorded.
    pub fn get(&self, path: &[PathSeg]) -> Option<Location> {
        self.values
            .get(path)
            .map(|(l, c)| Location::new(&self.file, *l, *c))
    }

    /// Where the value at `path` starts, or its nearest recorded parent, or the node itself.
    pub fn value(&self, path: &[PathSeg]) -> Location {
        let mut p = path.to_vec();
        loop {
            if let Some(l) = self.get(&p) {
                return l;
            }
            if p.pop().is_none() {
                return Location::new(&self.file, self.start.0, self.start.1);
            }
        }
    }
}

impl YamlDoc {
    /// Where the value at `path` starts (for a mapping entry: its value, not its key), falling
    /// back like [`YamlDoc::location`].
    pub fn value_location(&self, path: &[PathSeg]) -> Location {
        match self.values.get(path) {
            Some((line, col)) => Location::new(&self.file, *line, *col),
            None => self.location(path),
        }
    }

    /// The value locations below `prefix`, relative to it.
    pub fn node_locs(&self, prefix: &[PathSeg]) -> NodeLocs {
        let values = self
            .values
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(p, pos)| (p[prefix.len()..].to_vec(), *pos))
            .collect();
        let at = self.location(prefix);
        NodeLocs {
            file: self.file.clone(),
            start: (at.line, at.column),
            values: std::sync::Arc::new(values),
        }
    }

    /// Where the node at `path` starts (falls back to the nearest parent, then the file start).
    pub fn location(&self, path: &[PathSeg]) -> Location {
        let mut p = path.to_vec();
        loop {
            if let Some((line, col)) = self.spans.get(&p) {
                return Location::new(&self.file, *line, *col);
            }
            if p.pop().is_none() {
                return Location::new(&self.file, 1, 1);
            }
        }
    }
}

/// Reads and parses a YAML file.
pub fn load_file(file: &Path, secrets: &dyn SecretResolver) -> Result<YamlDoc, EngineError> {
    let text = std::fs::read_to_string(file).map_err(|e| EngineError::Io {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    load_str(&text, file, secrets)
}

/// Parses YAML text that came from `file` (whole-file vault encryption is handled here).
pub fn load_str(
    text: &str,
    file: &Path,
    secrets: &dyn SecretResolver,
) -> Result<YamlDoc, EngineError> {
    if secrets.is_encrypted(text) {
        let plain = secrets.decrypt(text, file)?;
        return load_plain(&plain, file, secrets);
    }
    load_plain(text, file, secrets)
}

/// How deep `[`/`{` flow collections may nest. Real files stay far below; an absurd depth is
/// refused before parsing, which is quadratic in it.
const MAX_FLOW_DEPTH: usize = 128;

/// Refuses flow collections nested deeper than [`MAX_FLOW_DEPTH`], naming where the limit is
/// crossed. Quoted text and comments do not count.
fn check_flow_depth(text: &str, file: &Path) -> Result<(), EngineError> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        // The last character before `c` that is not a space: a quote after one of these (or
        // at the line's start) opens a quoted scalar; elsewhere (`don't`) it is text.
        let mut before = ':';
        for (col, c) in line.chars().enumerate() {
            if !prev.is_whitespace() {
                before = prev;
            }
            match (quote, c) {
                (Some(q), _) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if matches!(before, ':' | '-' | '[' | '{' | ',' | '?') => {
                    quote = Some(c)
                }
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(EngineError::Syntax {
                            at: Location::new(file, n + 1, col + 1),
                            message: format!("collections nested more than {MAX_FLOW_DEPTH} deep"),
                        });
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    Ok(())
}

fn load_plain(
    text: &str,
    file: &Path,
    secrets: &dyn SecretResolver,
) -> Result<YamlDoc, EngineError> {
    check_flow_depth(text, file)?;
    let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        EngineError::Syntax {
            at: Location::new(file, line, col),
            message: strip_location_suffix(&e.to_string()),
        }
    })?;
    let mut spans = SpanIndex::default();
    let mut parser = Parser::new_from_str(text);
    // serde_yaml_ng accepted the text, so the event pass cannot fail in practice; if it does,
    // locations simply fall back to the file start.
    let _ = parser.load(&mut spans, false);
    let mut value = to_json(raw, file, secrets)?;
    for (path, b) in &spans.yaml11_bools {
        if let Some(v @ Value::String(_)) = value_at_mut(&mut value, path) {
            *v = Value::Bool(*b);
        }
    }
    Ok(YamlDoc {
        file: file.to_path_buf(),
        value,
        spans: spans.spans,
        values: spans.values,
    })
}

fn strip_location_suffix(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Converts a serde_yaml_ng value to JSON, decrypting `!vault` scalars.
fn to_json(
    v: serde_yaml_ng::Value,
    file: &Path,
    secrets: &dyn SecretResolver,
) -> Result<Value, EngineError> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(|i| to_json(i, file, secrets))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_owned(),
                    other => serde_yaml_ng::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                out.insert(key, to_json(v, file, secrets)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            match (tag.trim_start_matches('!'), tagged.value) {
                ("vault", Y::String(s)) => Value::String(secrets.decrypt(&s, file)?),
                ("unsafe", Y::String(s)) => Value::String(s),
                (_, inner) => to_json(inner, file, secrets)?,
            }
        }
    })
}

/// The node at `path` inside `v`.
fn value_at_mut<'v>(v: &'v mut Value, path: &[PathSeg]) -> Option<&'v mut Value> {
    path.iter().try_fold(v, |v, seg| match (seg, v) {
        (PathSeg::Key(k), Value::Object(m)) => m.get_mut(k),
        (PathSeg::Index(i), Value::Array(items)) => items.get_mut(*i),
        _ => None,
    })
}

/// YAML 1.1's booleans that YAML 1.2 (serde_yaml_ng) reads as text: Ansible reads YAML with
/// PyYAML (YAML 1.1), so an unquoted `yes`, `No`, `on`, `OFF` is a boolean there.
fn yaml11_bool(plain: &str) -> Option<bool> {
    match plain {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

#[derive(Default)]
struct SpanIndex {
    spans: HashMap<NodePath, (usize, usize)>,
    values: HashMap<NodePath, (usize, usize)>,
    /// Values that are YAML 1.1 booleans written as plain (unquoted, untagged) text.
    yaml11_bools: Vec<(NodePath, bool)>,
    /// Anchors of such values (an alias of one is the same boolean).
    bool_anchors: HashMap<usize, bool>,
    stack: Vec<Frame>,
    depth_docs: usize,
    pending_key: Option<NodePath>,
}

enum Frame {
    Seq { path: NodePath, next: usize },
    Map { path: NodePath, key: Option<String> },
}

impl SpanIndex {
    /// The path of the node that starts now, and advances the parent's cursor.
    fn next_path(&mut self, scalar: Option<&str>) -> Option<NodePath> {
        match self.stack.last_mut() {
            None => Some(Vec::new()),
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(PathSeg::Index(*next));
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                None => {
                    // This node is a key.
                    *key = Some(scalar.unwrap_or("").to_owned());
                    // Record the key's position as the position of its value's entry.
                    let mut p = path.clone();
                    p.push(PathSeg::Key(scalar.unwrap_or("").to_owned()));
                    self.pending_key = Some(p);
                    None
                }
                Some(k) => {
                    let mut p = path.clone();
                    p.push(PathSeg::Key(k));
                    Some(p)
                }
            },
        }
    }
}

impl MarkedEventReceiver for SpanIndex {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = (mark.line(), mark.col() + 1);
        match ev {
            Event::DocumentStart => self.depth_docs += 1,
            Event::Scalar(s, style, anchor, tag) => {
                let was_key_slot = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if was_key_slot {
                    let _ = self.next_path(Some(&s));
                    if let Some(p) = self.pending_key.take() {
                        self.spans.entry(p).or_insert(pos);
                    }
                } else if let Some(p) = self.next_path(None) {
                    let plain = style == TScalarStyle::Plain && tag.is_none();
                    if let Some(b) = yaml11_bool(&s).filter(|_| plain) {
                        self.yaml11_bools.push((p.clone(), b));
                        if anchor > 0 {
                            self.bool_anchors.insert(anchor, b);
                        }
                    }
                    let quoted = matches!(
                        style,
                        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                    );
                    self.values.entry(p.clone()).or_insert(if quoted {
                        (pos.0, pos.1 + 1)
                    } else {
                        pos
                    });
                    self.spans.entry(p).or_insert(pos);
                }
            }
            Event::Alias(anchor) => {
                if let Some(p) = self.next_path(None) {
                    if let Some(b) = self.bool_anchors.get(&anchor) {
                        self.yaml11_bools.push((p.clone(), *b));
                    }
                    self.values.entry(p.clone()).or_insert(pos);
                    self.spans.entry(p).or_insert(pos);
                }
            }
            Event::SequenceStart(..) => {
                let p = self.next_path(None).unwrap_or_default();
                self.values.entry(p.clone()).or_insert(pos);
                self.spans.entry(p.clone()).or_insert(pos);
                self.stack.push(Frame::Seq { path: p, next: 0 });
            }
            Event::MappingStart(..) => {
                let p = self.next_path(None).unwrap_or_default();
                self.values.entry(p.clone()).or_insert(pos);
                self.spans.entry(p.clone()).or_insert(pos);
                self.stack.push(Frame::Map { path: p, key: None });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// As Ansible's PyYAML (YAML 1.1) reads them: unquoted `yes`/`no`/`on`/`off` in their three
    /// spellings are booleans, also through an alias; quoted, tagged or `y` stay text; keys stay
    /// text.
    #[test]
    fn plain_yaml11_booleans_are_booleans() {
        let text = "a: yes\nb: Off\nc: 'yes'\nd: !!str on\ne: y\nf: [NO, \"no\"]\ng: &flag ON\nh: *flag\nyes: key\n";
        let doc = load_str(text, Path::new("v.yml"), &NoSecrets).unwrap();
        assert_eq!(
            doc.value,
            json!({"a": true, "b": false, "c": "yes", "d": "on", "e": "y",
                   "f": [false, "no"], "g": true, "h": true, "yes": "key"})
        );
    }
}
