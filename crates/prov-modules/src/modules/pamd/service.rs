//! community.general.pamd's model of a PAM service file, line for line as the module's
//! `PamdService`/`PamdRule` classes behave: a doubly linked list of lines (comments, `@include`
//! lines, empty lines and rules), edited by pointer surgery and printed back with every rule
//! reformatted. The linked list is kept (as indices into a vector) because the module's insert
//! operations unlink lines as a side effect (comments between two rules vanish), and only the
//! same surgery gives the same file.
//!
//! Where the Python code crashes (a line its rule regex does not match, an argument with two
//! `=`, removing the only line), [`PamError::Crash`] says so: the module fails there too.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

/// Python's `str.isspace()` for one character (Unicode White_Space plus the information
/// separators \x1c-\x1f, which Python counts as space).
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `\s` and `\S` as Python's `re` reads them in a `str` pattern.
const S: &str = r"[\s\x1c-\x1f]";
const NS: &str = r"[^\s\x1c-\x1f]";

/// The module's `RULE_REGEX` (verbose whitespace removed).
static RULE_REGEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?P<rule_type>-?(?:auth|account|session|password)){S}+(?P<control>\[.*\]|{NS}*){S}+(?P<path>{NS}*){S}*(?P<args>.*){S}*"
    ))
    .expect("RULE_REGEX")
});

/// The module's `RULE_ARG_REGEX`.
static RULE_ARG_REGEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(\[.*\]|{NS}*)")).expect("RULE_ARG_REGEX"));

/// The types the module accepts (`VALID_TYPES`).
pub const VALID_TYPES: [&str; 8] = [
    "account", "-account", "auth", "-auth", "password", "-password", "session", "-session",
];

const VALID_SIMPLE_CONTROLS: [&str; 7] = [
    "required",
    "requisite",
    "sufficient",
    "optional",
    "include",
    "substack",
    "definitive",
];

const VALID_CONTROL_VALUES: [&str; 33] = [
    "success",
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "new_authtok_reqd",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "ignore",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
    "default",
];

const VALID_CONTROL_ACTIONS: [&str; 6] = ["ignore", "bad", "die", "ok", "done", "reset"];

/// Why the module stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PamError {
    /// The module's `validate()` message ("Rule is not valid ...", "Rule control, X, ...").
    Invalid(String),
    /// Where the Python code raises (the module fails with a traceback): what it hit.
    Crash(String),
}

impl std::fmt::Display for PamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PamError::Invalid(m) => f.write_str(m),
            PamError::Crash(m) => write!(
                f,
                "{m} (community.general.pamd fails here too, with a Python traceback)"
            ),
        }
    }
}

/// The module's `parse_module_arguments` on a list (a string is a list of one): every item
/// split as `RULE_ARG_REGEX.findall` splits it, empty matches dropped. (Its `\s*=\s*` clean-up
/// is computed and thrown away by the module, so it does nothing here either.)
pub fn parse_module_arguments(items: &[String]) -> Vec<String> {
    if items.len() == 1 && items[0].is_empty() {
        return Vec::new();
    }
    items
        .iter()
        .flat_map(|arg| {
            RULE_ARG_REGEX
                .find_iter(arg)
                .map(|m| m.as_str().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A rule's control: a word, or the bracketed `value=action` list split on single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Control {
    Simple(String),
    List(Vec<String>),
}

impl Control {
    /// The `rule_control` setter.
    fn set(text: &str) -> Self {
        if text.starts_with('[') {
            let t = text.replace(" = ", "=").replace(['[', ']'], "");
            Control::List(t.split(' ').map(str::to_owned).collect())
        } else {
            Control::Simple(text.to_owned())
        }
    }

    /// The `rule_control` getter.
    fn get(&self) -> String {
        match self {
            Control::Simple(s) => s.clone(),
            Control::List(l) => format!("[{}]", l.join(" ")),
        }
    }
}

/// One PAM rule (`PamdRule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    rule_type: String,
    control: Control,
    path: String,
    args: Vec<String>,
}

impl Rule {
    /// `PamdRule(type, control, path, args)`: the control and the arguments go through their
    /// setters (`args` parsed again).
    pub fn new(rule_type: &str, control: &str, path: &str, args: Option<&[String]>) -> Self {
        Rule {
            rule_type: rule_type.to_owned(),
            control: Control::set(control),
            path: path.to_owned(),
            args: args.map(parse_module_arguments).unwrap_or_default(),
        }
    }

    /// `PamdRule.rule_from_string`: `RULE_REGEX.search` anywhere in the line.
    fn from_line(line: &str) -> Result<Self, PamError> {
        let caps = RULE_REGEX.captures(line).ok_or_else(|| {
            PamError::Crash(format!(
                "the line `{line}` is not a comment, an @include or a rule \
                 ('NoneType' object has no attribute 'group')"
            ))
        })?;
        let args = parse_module_arguments(&[caps["args"].to_owned()]);
        Ok(Rule::new(
            &caps["rule_type"],
            &caps["control"],
            &caps["path"],
            Some(&args),
        ))
    }

    /// `matches(type, control, path)`: the control compared as the getter prints it.
    fn matches(&self, rule_type: &str, control: &str, path: &str) -> bool {
        self.rule_type == rule_type && self.control.get() == control && self.path == path
    }

    /// The `rule_args` setter.
    fn set_args(&mut self, args: &[String]) {
        self.args = parse_module_arguments(args);
    }

    /// `__str__`: the type left-aligned in 11 columns.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:<11}{} {}",
            self.rule_type,
            self.control.get(),
            self.path
        );
        if !self.args.is_empty() {
            s.push(' ');
            s.push_str(&self.args.join(" "));
        }
        s
    }

    /// `PamdRule.validate()`.
    fn validate(&self) -> Result<(), PamError> {
        let invalid = |m: String| Err(PamError::Invalid(m));
        if !VALID_TYPES.contains(&self.rule_type.as_str()) {
            return invalid(format!(
                "Rule type, {}, is not valid in rule {}",
                self.rule_type,
                self.line()
            ));
        }
        match &self.control {
            Control::Simple(c) if !VALID_SIMPLE_CONTROLS.contains(&c.as_str()) => invalid(
                format!("Rule control, {c}, is not valid in rule {}", self.line()),
            ),
            Control::Simple(_) => Ok(()),
            Control::List(items) => {
                for item in items {
                    let parts: Vec<&str> = item.split('=').collect();
                    let &[value, action] = parts.as_slice() else {
                        return Err(PamError::Crash(format!(
                            "the control item `{item}` of `{}` is not one value=action pair \
                             (ValueError: wrong number of values to unpack)",
                            self.line()
                        )));
                    };
                    if !VALID_CONTROL_VALUES.contains(&value) {
                        return invalid(format!(
                            "Rule control value, {value}, is not valid in rule {}",
                            self.line()
                        ));
                    }
                    if !VALID_CONTROL_ACTIONS.contains(&action) && !is_unsigned_int(action) {
                        return invalid(format!(
                            "Rule control action, {action}, is not valid in rule {}",
                            self.line()
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

/// `PamdRule.is_action_unsigned_int`: Python's `int(s) >= 0` (surrounding space, a sign and
/// single underscores between digits allowed; ASCII digits only).
fn is_unsigned_int(s: &str) -> bool {
    let t = s.trim_matches(py_space);
    let (negative, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    well_formed && (!negative || digits.chars().all(|c| c == '0' || c == '_'))
}

/// What a line of the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Comment(String),
    Include(String),
    Empty(String),
    Rule(Rule),
}

impl Line {
    fn text(&self) -> String {
        match self {
            Line::Comment(t) | Line::Include(t) | Line::Empty(t) => t.clone(),
            Line::Rule(r) => r.line(),
        }
    }

    fn matches(&self, t: &str, c: &str, p: &str) -> bool {
        matches!(self, Line::Rule(r) if r.matches(t, c, p))
    }

    fn skipped_by_inserts(&self) -> bool {
        matches!(self, Line::Comment(_) | Line::Empty(_))
    }

    /// `validate()` of every kind of line.
    fn validate(&self) -> Result<(), PamError> {
        let ok = match self {
            Line::Comment(t) => t.starts_with('#'),
            Line::Include(t) => t.starts_with("@include"),
            Line::Empty(t) => t.trim_matches(py_space).is_empty(),
            Line::Rule(r) => return r.validate(),
        };
        if ok {
            Ok(())
        } else {
            Err(PamError::Invalid(format!("Rule is not valid {}", self.text())))
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    line: Line,
    prev: Option<usize>,
    next: Option<usize>,
}

/// The three fields that name a rule.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// `type`.
    pub rule_type: &'a str,
    /// `control`, as written in the task.
    pub control: &'a str,
    /// `module_path`.
    pub path: &'a str,
}

/// The new rule of `before`/`after`, or the new fields of `updated`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewFields<'a> {
    /// `new_type`.
    pub rule_type: Option<&'a str>,
    /// `new_control`.
    pub control: Option<&'a str>,
    /// `new_module_path`.
    pub path: Option<&'a str>,
    /// `module_arguments` (as Ansible converted them to a list).
    pub args: Option<&'a [String]>,
}

/// A PAM service file (`PamdService`).
#[derive(Debug, Clone)]
pub struct Service {
    nodes: Vec<Node>,
    head: Option<usize>,
    tail: Option<usize>,
}

impl Service {
    /// Parses the file's text as the module's constructor does.
    pub fn parse(content: &str) -> Result<Self, PamError> {
        let mut s = Service {
            nodes: Vec::new(),
            head: None,
            tail: None,
        };
        for raw in crate::pytext::py_splitlines(content, false) {
            let stripped = raw.trim_start_matches(py_space);
            let line = if stripped.starts_with('#') {
                Line::Comment(raw.to_owned())
            } else if stripped.starts_with("@include") {
                Line::Include(raw.to_owned())
            } else if raw.trim_matches(py_space).is_empty() {
                Line::Empty(raw.to_owned())
            } else {
                Line::Rule(Rule::from_line(raw)?)
            };
            s.append(line);
        }
        Ok(s)
    }

    fn push(&mut self, line: Line) -> usize {
        self.nodes.push(Node {
            line,
            prev: None,
            next: None,
        });
        self.nodes.len() - 1
    }

    fn append(&mut self, line: Line) {
        let i = self.push(line);
        match self.tail {
            None => {
                self.head = Some(i);
                self.tail = Some(i);
            }
            Some(t) => {
                self.nodes[i].prev = Some(t);
                self.nodes[t].next = Some(i);
                self.tail = Some(i);
            }
        }
    }

    fn rule_mut(&mut self, i: usize) -> &mut Rule {
        match &mut self.nodes[i].line {
            Line::Rule(r) => r,
            _ => unreachable!("get() returns rules only"),
        }
    }

    /// `get(type, control, path)`: the matching rules, in file order.
    fn get(&self, k: Key<'_>) -> Vec<usize> {
        let mut out = Vec::new();
        let mut cur = self.head;
        while let Some(i) = cur {
            if self.nodes[i].line.matches(k.rule_type, k.control, k.path) {
                out.push(i);
            }
            cur = self.nodes[i].next;
        }
        out
    }

    /// `remove(type, control, path)`: unlinks every matching rule; the count.
    pub fn remove(&mut self, k: Key<'_>) -> Result<usize, PamError> {
        let mut changed = 0;
        let mut cur = self.head;
        while let Some(i) = cur {
            if self.nodes[i].line.matches(k.rule_type, k.control, k.path) {
                let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
                match prev {
                    Some(p) => {
                        self.nodes[p].next = next;
                        if let Some(n) = next {
                            self.nodes[n].prev = Some(p);
                        }
                    }
                    None => {
                        self.head = next;
                        let Some(n) = next else {
                            return Err(PamError::Crash(format!(
                                "removing `{}`, the file's only remaining line \
                                 ('NoneType' object has no attribute 'prev')",
                                self.nodes[i].line.text()
                            )));
                        };
                        self.nodes[n].prev = None;
                    }
                }
                changed += 1;
            }
            cur = self.nodes[i].next;
        }
        Ok(changed)
    }

    /// `update_rule`: the matching rules get the new type, control, path and arguments.
    pub fn update(&mut self, k: Key<'_>, new: NewFields<'_>) -> usize {
        let new_args = new.args.map(parse_module_arguments);
        let mut changes = 0;
        for i in self.get(k) {
            let r = self.rule_mut(i);
            let mut changed = false;
            if let Some(t) = new.rule_type.filter(|t| !t.is_empty())
                && r.rule_type != t
            {
                changed = true;
                r.rule_type = t.to_owned();
            }
            if let Some(c) = new.control.filter(|c| !c.is_empty())
                && r.control.get() != c
            {
                changed = true;
                r.control = Control::set(c);
            }
            if let Some(p) = new.path.filter(|p| !p.is_empty())
                && r.path != p
            {
                changed = true;
                r.path = p.to_owned();
            }
            if let Some(a) = &new_args
                && &r.args != a
            {
                changed = true;
                r.set_args(a);
            }
            changes += usize::from(changed);
        }
        changes
    }

    /// `PamdRule(new_type, new_control, new_path, new_args)`, not linked yet.
    fn new_rule(&mut self, new: NewFields<'_>) -> usize {
        let rule = Rule::new(
            new.rule_type.unwrap_or_default(),
            new.control.unwrap_or_default(),
            new.path.unwrap_or_default(),
            new.args,
        );
        self.push(Line::Rule(rule))
    }

    /// `insert_before`: a new rule before every matching rule whose previous rule (comments
    /// and empty lines skipped) is not already it. The lines skipped over are unlinked.
    pub fn insert_before(&mut self, k: Key<'_>, new: NewFields<'_>) -> usize {
        let (nt, nc, np) = new_key(new);
        let mut changes = 0;
        for cur in self.get(k) {
            let n = self.new_rule(new);
            let mut prev = self.nodes[cur].prev;
            while let Some(p) = prev
                && self.nodes[p].line.skipped_by_inserts()
            {
                prev = self.nodes[p].prev;
            }
            match prev {
                Some(p) if !self.nodes[p].line.matches(nt, nc, np) => {
                    self.nodes[p].next = Some(n);
                    self.nodes[n].prev = Some(p);
                    self.nodes[n].next = Some(cur);
                    self.nodes[cur].prev = Some(n);
                    changes += 1;
                }
                Some(_) => {}
                None => {
                    let before = self.nodes[cur].prev;
                    match before {
                        None => self.head = Some(n),
                        Some(b) => self.nodes[b].next = Some(n),
                    }
                    self.nodes[n].prev = before;
                    self.nodes[n].next = Some(cur);
                    self.nodes[cur].prev = Some(n);
                    changes += 1;
                }
            }
        }
        changes
    }

    /// `insert_after`: a new rule after every matching rule whose next rule (comments and
    /// empty lines skipped) is not already it. The lines skipped over are unlinked; at the end
    /// of the file the rule goes after the last line.
    pub fn insert_after(&mut self, k: Key<'_>, new: NewFields<'_>) -> usize {
        let (nt, nc, np) = new_key(new);
        let mut changes = 0;
        for cur in self.get(k) {
            let mut next = self.nodes[cur].next;
            while let Some(x) = next
                && self.nodes[x].line.skipped_by_inserts()
            {
                next = self.nodes[x].next;
            }
            let n = self.new_rule(new);
            match next {
                Some(x) if !self.nodes[x].line.matches(nt, nc, np) => {
                    self.nodes[x].prev = Some(n);
                    self.nodes[n].next = Some(x);
                    self.nodes[n].prev = Some(cur);
                    self.nodes[cur].next = Some(n);
                    changes += 1;
                }
                Some(_) => {}
                None => {
                    let tail = self.tail.expect("a matching rule means a tail");
                    self.nodes[n].prev = Some(tail);
                    self.nodes[n].next = None;
                    self.nodes[tail].next = Some(n);
                    self.tail = Some(n);
                    self.nodes[cur].next = Some(n);
                    changes += 1;
                }
            }
        }
        changes
    }

    /// `add_module_arguments` (`args_present`): missing arguments appended, `key=value`
    /// arguments with another value changed in place. Python adds the missing ones in the
    /// order of a `set` (random between runs); here they keep the order given.
    pub fn add_args(&mut self, k: Key<'_>, args: &[String]) -> Result<usize, PamError> {
        let to_add = parse_module_arguments(args);
        let mut changes = 0;
        for i in self.get(k) {
            let line = self.nodes[i].line.text();
            let (new_simple, new_kv) = split_args(&to_add, &line)?;
            let r = self.rule_mut(i);
            let (cur_simple, cur_kv) = split_args(&r.args, &line)?;
            let mut added: Vec<String> = new_simple
                .iter()
                .filter(|a| !cur_simple.contains(*a))
                .cloned()
                .collect();
            added.extend(
                new_kv
                    .iter()
                    .filter(|(key, _)| !cur_kv.contains_key(key))
                    .map(|(key, v)| format!("{key}={v}")),
            );
            let mut changed = false;
            if !added.is_empty() {
                let mut all = r.args.clone();
                all.extend(added);
                r.set_args(&all);
                changed = true;
            }
            for (key, v) in new_kv.iter() {
                let Some(old) = cur_kv.get(key) else { continue };
                if old != v {
                    let was = format!("{key}={old}");
                    if let Some(pos) = r.args.iter().position(|a| *a == was) {
                        r.args[pos] = format!("{key}={v}");
                    }
                    changed = true;
                }
            }
            changes += usize::from(changed);
        }
        Ok(changes)
    }

    /// `remove_module_arguments` (`args_absent`): every argument equal to one given is removed.
    pub fn remove_args(&mut self, k: Key<'_>, args: &[String]) -> usize {
        let to_remove: HashSet<String> = parse_module_arguments(args).into_iter().collect();
        let mut changes = 0;
        for i in self.get(k) {
            let r = self.rule_mut(i);
            if !r.args.iter().any(|a| to_remove.contains(a)) {
                continue;
            }
            let kept: Vec<String> = r
                .args
                .iter()
                .filter(|a| !to_remove.contains(*a))
                .cloned()
                .collect();
            r.set_args(&kept);
            changes += 1;
        }
        changes
    }

    /// `validate()`: the first invalid line's message.
    pub fn validate(&self) -> Result<(), PamError> {
        let mut cur = self.head;
        while let Some(i) = cur {
            self.nodes[i].line.validate()?;
            cur = self.nodes[i].next;
        }
        Ok(())
    }

    /// `__str__` with the module's mark line (`# Updated by Ansible - <now>`, `now` as
    /// Python's `datetime.now().isoformat()`), as written to the file.
    pub fn render(&self, now: &str) -> String {
        let mut lines = Vec::new();
        let mut cur = self.head;
        while let Some(i) = cur {
            lines.push(self.nodes[i].line.text());
            cur = self.nodes[i].next;
        }
        let mark = format!("# Updated by Ansible - {now}");
        if lines.len() <= 1 {
            lines.insert(0, String::new());
            lines.insert(1, mark);
        } else if lines[1].starts_with("# Updated by Ansible") {
            lines[1] = mark;
        } else {
            lines.insert(1, mark);
        }
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }
}

/// The new rule's key, as `matches` receives it (`None` never matches a rule's text).
fn new_key(new: NewFields<'_>) -> (&str, &str, &str) {
    (
        new.rule_type.unwrap_or("\0"),
        new.control.unwrap_or("\0"),
        new.path.unwrap_or("\0"),
    )
}

/// Splits arguments as `add_module_arguments` does: bracketed ones skipped, `key=value` ones
/// into a map (the last value of a key wins), the others into a set (kept in their order).
fn split_args(args: &[String], line: &str) -> Result<(Vec<String>, KeyValues), PamError> {
    let mut simple: Vec<String> = Vec::new();
    let mut kv = KeyValues::default();
    for a in args {
        if a.starts_with('[') {
            continue;
        }
        if !a.contains('=') {
            if !simple.contains(a) {
                simple.push(a.clone());
            }
            continue;
        }
        let parts: Vec<&str> = a.split('=').collect();
        let &[key, value] = parts.as_slice() else {
            return Err(PamError::Crash(format!(
                "the argument `{a}` (rule `{line}`) has more than one `=` \
                 (ValueError: too many values to unpack)"
            )));
        };
        kv.insert(key.to_owned(), value.to_owned());
    }
    Ok((simple, kv))
}

/// `key=value` arguments in the order their keys first appear, the last value winning (a
/// Python dict).
#[derive(Debug, Default)]
struct KeyValues {
    order: Vec<String>,
    values: HashMap<String, String>,
}

impl KeyValues {
    fn insert(&mut self, k: String, v: String) {
        if !self.values.contains_key(&k) {
            self.order.push(k.clone());
        }
        self.values.insert(k, v);
    }

    fn contains_key(&self, k: &str) -> bool {
        self.values.contains_key(k)
    }

    fn get(&self, k: &str) -> Option<&String> {
        self.values.get(k)
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.order.iter().map(|k| (k, &self.values[k]))
    }
}
