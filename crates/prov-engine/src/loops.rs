//! Ansible's loop keywords: `loop` and the `with_*` family, each turning its (rendered) value
//! into the list of items a task runs once for, with Ansible's semantics (`with_items` flattens
//! one level, `with_dict` yields `{key, value}`, `with_subelements` pairs, ...).

use serde_json::{Map, Value, json};

use crate::playbook::kind_of as kind;

/// Which loop keyword a task uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopKind {
    /// `loop`: the list as it is.
    Loop,
    /// `with_list`: the list as it is.
    List,
    /// `with_items`: the list, nested lists flattened one level.
    Items,
    /// `with_flattened`: the list flattened completely.
    Flattened,
    /// `with_dict`: a mapping's entries as `{key, value}`.
    Dict,
    /// `with_indexed_items`: `[index, item]` pairs.
    IndexedItems,
    /// `with_together`: lists zipped, the shorter ones padded with null.
    Together,
    /// `with_nested` / `with_cartesian`: every combination of the lists' items.
    Nested,
    /// `with_subelements`: `[element, subelement]` for every subelement of every element.
    Subelements,
    /// `with_sequence`: numbers as strings (`start=1 end=5 stride=1 format=%d`, or `count=N`).
    Sequence,
    /// `with_first_found`: the first of the candidate files that exists (one item), looked up
    /// as Ansible looks up the files of the task's module.
    FirstFound,
    /// `with_fileglob`, `with_file`, `with_env`: the items of that lookup
    /// ([`crate::template::Templar::lookup_items`]).
    Lookup(&'static str),
}

impl LoopKind {
    /// Every loop keyword and its kind.
    pub const KEYWORDS: &[(&str, LoopKind)] = &[
        ("loop", LoopKind::Loop),
        ("with_list", LoopKind::List),
        ("with_items", LoopKind::Items),
        ("with_flattened", LoopKind::Flattened),
        ("with_dict", LoopKind::Dict),
        ("with_indexed_items", LoopKind::IndexedItems),
        ("with_together", LoopKind::Together),
        ("with_nested", LoopKind::Nested),
        ("with_cartesian", LoopKind::Nested),
        ("with_subelements", LoopKind::Subelements),
        ("with_sequence", LoopKind::Sequence),
        ("with_first_found", LoopKind::FirstFound),
        ("with_fileglob", LoopKind::Lookup("fileglob")),
        ("with_file", LoopKind::Lookup("file")),
        ("with_env", LoopKind::Lookup("env")),
    ];

    /// The loop kind a task key names: `loop` or a `with_*` keyword, also with its lookup's
    /// FQCN as Ansible accepts it (`with_ansible.builtin.items`; `flattened` and `cartesian`
    /// live in `community.general`: `with_community.general.flattened`).
    pub fn of_key(key: &str) -> Option<LoopKind> {
        let canonical = |k: &str| {
            Self::KEYWORDS
                .iter()
                .find(|(w, _)| *w == k)
                .map(|(_, kind)| *kind)
        };
        if let Some(kind) = canonical(key) {
            return Some(kind);
        }
        let lookup = key.strip_prefix("with_")?;
        let short = match lookup.strip_prefix("community.general.") {
            Some(s @ ("flattened" | "cartesian")) => s,
            Some(_) => return None,
            None => lookup
                .strip_prefix("ansible.builtin.")
                .filter(|s| !matches!(*s, "flattened" | "cartesian"))?,
        };
        canonical(&format!("with_{short}"))
    }

    /// The items of a loop whose rendered value is `v` (none for a null value); `find` is how
    /// a file name is looked up (only `with_first_found` looks for files).
    pub fn items(
        self,
        v: Value,
        find: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Value>, String> {
        match self {
            LoopKind::FirstFound => first_found(v, find),
            LoopKind::Lookup(name) => Err(format!(
                "with_{name} takes the task's variables: use Templar::lookup_items"
            )),
            LoopKind::Loop | LoopKind::List => list(v, "a list"),
            LoopKind::Items => Ok(flatten(list_or_one(v), Some(1))),
            LoopKind::Flattened => Ok(flatten(list_or_one(v), None)),
            LoopKind::Dict => dict_items(v),
            LoopKind::IndexedItems => Ok(list(v, "a list")?
                .into_iter()
                .enumerate()
                .map(|(i, x)| json!([i, x]))
                .collect()),
            LoopKind::Together => together(list(v, "a list of lists")?),
            LoopKind::Nested => nested(list(v, "a list of lists")?),
            LoopKind::Subelements => subelements(v),
            LoopKind::Sequence => sequence(&v),
        }
    }
}

fn list(v: Value, what: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("expects {what}, found {}", kind(&other))),
    }
}

/// `with_items: x` with a single value loops once over it.
fn list_or_one(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn flatten(items: Vec<Value>, levels: Option<usize>) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Array(inner) if levels != Some(0) => {
                out.extend(flatten(inner, levels.map(|l| l - 1)))
            }
            other => out.push(other),
        }
    }
    out
}

fn dict_items(v: Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Object(m) => Ok(m
            .into_iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect()),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("expects a mapping, found {}", kind(&other))),
    }
}

fn together(lists: Vec<Value>) -> Result<Vec<Value>, String> {
    let lists: Vec<Vec<Value>> = lists
        .into_iter()
        .map(|l| list(l, "a list of lists"))
        .collect::<Result<_, _>>()?;
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .map(|i| {
            Value::Array(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect())
}

fn nested(lists: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut combos: Vec<Vec<Value>> = vec![Vec::new()];
    for l in lists {
        let items = list_or_one(l);
        combos = combos
            .into_iter()
            .flat_map(|c| {
                items.iter().map(move |x| {
                    let mut next = c.clone();
                    next.push(x.clone());
                    next
                })
            })
            .collect();
    }
    Ok(combos.into_iter().map(Value::Array).collect())
}

/// `with_subelements: [elements, 'key']` or `[elements, 'key', {skip_missing: true}]`.
fn subelements(v: Value) -> Result<Vec<Value>, String> {
    let args = list(v, "[list, 'key'] (and optional flags)")?;
    let (elements, key, flags) = match args.as_slice() {
        [e, Value::String(k)] => (e.clone(), k.clone(), Map::new()),
        [e, Value::String(k), Value::Object(f)] => (e.clone(), k.clone(), f.clone()),
        _ => return Err("expects [list, 'key'] (and optional flags)".into()),
    };
    let skip_missing = flags
        .get("skip_missing")
        .is_some_and(crate::template::truthy);
    let elements = match elements {
        Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
        other => list(other, "a list of mappings")?,
    };
    let mut out = Vec::new();
    for element in elements {
        let mut sub = element.clone();
        for part in key.split('.') {
            sub = sub.get(part).cloned().unwrap_or(Value::Null);
        }
        match sub {
            Value::Array(subs) => out.extend(subs.into_iter().map(|s| json!([element.clone(), s]))),
            Value::Null if skip_missing => {}
            Value::Null => return Err(format!("an element has no `{key}`")),
            other => return Err(format!("`{key}` must be a list, found {}", kind(&other))),
        }
    }
    Ok(out)
}

/// Ansible's `first_found`: the terms are file names, or mappings of `files` and `paths`
/// (strings split on `,` and `;`, paths also on `:`) and `skip`; the first candidate `find`
/// finds is the one item. None found is an error, or no item with `skip: true`.
pub fn first_found(v: Value, find: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Value>, String> {
    let mut candidates = Vec::new();
    let mut skip = false;
    for term in flatten(list_or_one(v), None) {
        match term {
            Value::String(s) => candidates.push(s),
            Value::Object(m) => {
                let split = |k: &str, seps: &[char]| -> Vec<String> {
                    match m.get(k) {
                        Some(Value::String(s)) => s
                            .split(seps)
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect(),
                        _ => Vec::new(),
                    }
                };
                let files = split("files", &[',', ';']);
                let paths = split("paths", &[',', ':', ';']);
                skip |= m.get("skip").is_some_and(crate::template::truthy);
                if paths.is_empty() {
                    candidates.extend(files);
                } else {
                    for p in &paths {
                        candidates.extend(files.iter().map(|f| format!("{p}/{f}")));
                    }
                }
            }
            other => return Err(format!("expects file names, found {}", kind(&other))),
        }
    }
    match candidates.iter().find_map(|c| find(c)) {
        Some(found) => Ok(vec![Value::String(found)]),
        None if skip => Ok(Vec::new()),
        None => Err(format!(
            "found none of the files: {}",
            candidates.join(", ")
        )),
    }
}

/// `with_sequence: start=1 end=10 stride=2 format=host%02d` or `count=5` (items are strings).
fn sequence(v: &Value) -> Result<Vec<Value>, String> {
    let Value::String(spec) = v else {
        return Err(format!("expects `start=.. end=..`, found {}", kind(v)));
    };
    let mut start = 1i64;
    let (mut end, mut count, mut stride, mut format) = (None, None, 1i64, "%d".to_owned());
    for word in spec.split_whitespace() {
        let (k, val) = word
            .split_once('=')
            .ok_or_else(|| format!("`{word}` is not key=value"))?;
        let num = || {
            val.parse::<i64>()
                .map_err(|_| format!("`{k}` must be a number"))
        };
        match k {
            "start" => start = num()?,
            "end" => end = Some(num()?),
            "count" => count = Some(num()?),
            "stride" => stride = num()?,
            "format" => format = val.to_owned(),
            other => return Err(format!("unknown `{other}`")),
        }
    }
    let out_of_range = || "the sequence's numbers are out of range".to_owned();
    let end = match (end, count) {
        (Some(e), None) => e,
        (None, Some(c)) => c
            .checked_sub(1)
            .and_then(|c| c.checked_mul(stride))
            .and_then(|d| d.checked_add(start))
            .ok_or_else(out_of_range)?,
        _ => return Err("give either `end` or `count`".into()),
    };
    let span = end.checked_sub(start).ok_or_else(out_of_range)?;
    if stride == 0 || span.signum() * stride.signum() < 0 {
        return Err("`stride` does not lead from start to end".into());
    }
    let n = span / stride + 1;
    if n > 100_000 {
        return Err(format!("{n} items is more than 100000"));
    }
    // `n` items from `start` stay between `start` and `end`: no overflow below.
    (0..n)
        .map(|i| printf_int(&format, start + i * stride).map(Value::String))
        .collect()
}

/// The widest field `printf_int` pads to: wider is refused (Python would pad; a sequence of
/// such items only fills memory).
const MAX_PRINTF_WIDTH: usize = 1024;

/// Python's `%d`, `%02d`, `%x` applied to `n` inside `format`.
fn printf_int(format: &str, n: i64) -> Result<String, String> {
    let Some(pos) = format.find('%') else {
        return Ok(format.to_owned());
    };
    let rest = &format[pos + 1..];
    let spec_len = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or(rest.len(), |i| i + 1);
    let (spec, after) = rest.split_at(spec_len);
    let (flags, conv) = spec.split_at(spec.len().saturating_sub(1));
    let width: usize = match flags.trim_start_matches('0') {
        "" => 0,
        w => w
            .parse()
            .ok()
            .filter(|w| *w <= MAX_PRINTF_WIDTH)
            .ok_or_else(|| format!("`{w}` is not a field width up to {MAX_PRINTF_WIDTH}"))?,
    };
    let zero = flags.starts_with('0');
    let digits = match conv {
        "x" => format!("{n:x}"),
        "X" => format!("{n:X}"),
        "o" => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = match (zero, width) {
        (true, w) => format!("{digits:0>w$}"),
        (false, w) => format!("{digits:>w$}"),
    };
    Ok(format!("{}{padded}{after}", &format[..pos]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_makes_ansibles_items() {
        let items = |k: LoopKind, v: Value| k.items(v, &|_| None).map(Value::Array);
        assert_eq!(
            items(LoopKind::Items, json!([[1, 2], 3, [[4]]])),
            Ok(json!([1, 2, 3, [4]]))
        );
        assert_eq!(
            items(LoopKind::Flattened, json!([[1, [2]], 3])),
            Ok(json!([1, 2, 3]))
        );
        assert_eq!(
            items(LoopKind::Dict, json!({"b": 1, "a": 2})),
            Ok(json!([{"key": "b", "value": 1}, {"key": "a", "value": 2}]))
        );
        assert_eq!(
            items(LoopKind::IndexedItems, json!(["x", "y"])),
            Ok(json!([[0, "x"], [1, "y"]]))
        );
        assert_eq!(
            items(LoopKind::Together, json!([[1, 2], ["a"]])),
            Ok(json!([[1, "a"], [2, null]]))
        );
        assert_eq!(
            items(LoopKind::Nested, json!([[1, 2], ["a", "b"]])),
            Ok(json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]]))
        );
        let users = json!([{"name": "u1", "keys": ["k1", "k2"]}, {"name": "u2"}]);
        assert!(items(LoopKind::Subelements, json!([users.clone(), "keys"])).is_err());
        assert_eq!(
            items(
                LoopKind::Subelements,
                json!([users, "keys", {"skip_missing": true}])
            ),
            Ok(json!([
                [{"name": "u1", "keys": ["k1", "k2"]}, "k1"],
                [{"name": "u1", "keys": ["k1", "k2"]}, "k2"]
            ]))
        );
        assert_eq!(
            items(LoopKind::Sequence, json!("start=1 end=3 format=web%02d")),
            Ok(json!(["web01", "web02", "web03"]))
        );
        assert_eq!(
            items(LoopKind::Sequence, json!("start=10 count=3 stride=5")),
            Ok(json!(["10", "15", "20"]))
        );
        assert!(items(LoopKind::Loop, json!("text")).is_err());
    }

    #[test]
    fn first_found_takes_the_first_file_that_exists() {
        let find = |f: &str| (f.ends_with("Debian.yml")).then(|| format!("/r/vars/{f}"));
        let ff = |v: Value| LoopKind::FirstFound.items(v, &find);
        assert_eq!(
            ff(json!(["Debian-12.yml", "Debian.yml", "default.yml"])),
            Ok(vec![json!("/r/vars/Debian.yml")])
        );
        assert_eq!(
            ff(json!([{"files": "a.yml,Debian.yml", "paths": "x:y"}])),
            Ok(vec![json!("/r/vars/x/Debian.yml")])
        );
        assert!(
            ff(json!(["RedHat.yml"]))
                .unwrap_err()
                .contains("RedHat.yml")
        );
        assert_eq!(
            ff(json!([{"files": ["RedHat.yml"], "skip": true}])),
            Ok(vec![])
        );
    }
}
