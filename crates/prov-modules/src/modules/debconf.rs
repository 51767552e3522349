//! `debconf`: a debconf answer (preseed) with Ansible's comparison rules.
//!
//! ```yaml
//! debconf: { name: tzdata, question: tzdata/Areas, vtype: select, value: Europe }
//! ```
//!
//! As Ansible's module: the package's answers are read with `debconf-show NAME` (`* q: v`
//! lines); a question not shown is a change; `boolean` answers are compared in lower case,
//! `multiselect` lists sorted against the shown value split at commas, `password` answers
//! against `debconf-get-selections` (required for them, as in Ansible: from `debconf-utils`;
//! the first line of the package with no value makes the current password empty). A change is
//! `NAME QUESTION VTYPE VALUE` given to `debconf-set-selections` (`-u` with `unseen`) on its
//! standard input, never in a command line. Without `question` the module only reads. Returns
//! `current` and `previous` as Ansible's real run does (`current` is every answer of the
//! package when nothing changes; a `multiselect` list as the joined text), and `msg`, the output of `debconf-set-selections`.
//!
//! Refused, as Ansible fails on them: a `value` that is not a string (or a list for
//! `multiselect`, or any scalar for `boolean`), and `question`/`vtype`/`value` given without
//! the others.

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Diff, Fact, FactError, Module, ModuleContext, ModuleError, Outcome,
    Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::de_bool;
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("debconf", build);

const VTYPES: [&str; 10] = [
    "boolean",
    "error",
    "multiselect",
    "note",
    "password",
    "seen",
    "select",
    "string",
    "text",
    "title",
];

/// The `debconf` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebconfArgs {
    /// The package.
    #[serde(alias = "pkg")]
    pub name: String,
    /// The question.
    #[serde(default, alias = "selection", alias = "setting")]
    pub question: Option<String>,
    /// Its type.
    #[serde(default)]
    pub vtype: Option<String>,
    /// The answer.
    #[serde(default, alias = "answer")]
    pub value: Option<Value>,
    /// Leave the question unseen (`debconf-set-selections -u`).
    #[serde(default, deserialize_with = "de_bool")]
    pub unseen: bool,
}

/// The wanted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A text value (booleans already lower case).
    Text(String),
    /// A `multiselect` list.
    List(Vec<String>),
}

impl Answer {
    /// The text given to `debconf-set-selections`.
    pub fn text(&self) -> String {
        match self {
            Answer::Text(t) => t.clone(),
            Answer::List(l) => l.join(", "),
        }
    }
}

/// What the host has for the package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selections {
    /// `debconf-show`'s answers, in its order.
    pub shown: Vec<(String, String)>,
    /// The password answer from `debconf-get-selections` (for `password` questions); `None`
    /// when no line of the package says.
    pub password: Option<String>,
}

/// Reads a package's answers (and, for a password question, the stored password).
pub struct DebconfFact<'a> {
    /// The package.
    pub pkg: &'a str,
    /// The password question to look up, if any.
    pub password_question: Option<&'a str>,
}

const MARK: &str = "@@prov-debconf-get-selections";

impl Fact for DebconfFact<'_> {
    type Output = Selections;

    fn name(&self) -> String {
        format!("debconf answers of {}", self.pkg)
    }

    fn script(&self) -> Script {
        let show = sh!("debconf-show {} || exit $?", self.pkg);
        let Some(_) = self.password_question else {
            return show;
        };
        show.then(&sh!(
            "echo {}\ncommand -v debconf-get-selections >/dev/null || {{ echo 'Failed to find required executable \"debconf-get-selections\" (package debconf-utils)' >&2; exit 127; }}\ndebconf-get-selections | P={} awk 'index($0, ENVIRON[\"P\"]) == 1'",
            MARK,
            self.pkg
        ))
    }

    fn parse(&self, out: &CommandOutput) -> Result<Selections, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let text = out.stdout_text();
        let (show, get) = match text.split_once(&format!("{MARK}\n")) {
            Some((s, g)) => (s, Some(g)),
            None => (text.as_str(), None),
        };
        let mut shown = Vec::new();
        for line in show.lines() {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| self.error(format!("unexpected line `{line}`")))?;
            shown.push((k.trim_matches('*').trim().to_owned(), v.trim().to_owned()));
        }
        let password = match (get, self.password_question) {
            (Some(g), Some(q)) => password_value(g, self.pkg, q),
            _ => None,
        };
        Ok(Selections { shown, password })
    }
}

/// Ansible's `get_password_value` over `debconf-get-selections` lines.
pub fn password_value(out: &str, pkg: &str, question: &str) -> Option<String> {
    for line in out.split('\n').filter(|l| l.starts_with(pkg)) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() <= 3 {
            return Some(String::new());
        }
        if f[1] == question && f[2] == "password" {
            return Some(f[3].to_owned());
        }
    }
    None
}

/// The question to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The question's name.
    pub name: String,
    /// Its type.
    pub vtype: String,
    /// The answer.
    pub value: Answer,
}

/// The planner: `Some(previous value)` when the answer must be set (`""` when not shown).
pub fn plan_debconf(q: &Question, current: &Selections) -> Option<String> {
    let Some((_, shown)) = current.shown.iter().find(|(k, _)| *k == q.name) else {
        return Some(String::new());
    };
    let same = match (&q.value, q.vtype.as_str()) {
        (Answer::Text(v), "boolean") => *v == shown.to_lowercase(),
        (Answer::Text(v), "password") => current.password.as_ref() == Some(v),
        (Answer::Text(v), _) => v == shown,
        (Answer::List(v), _) => {
            let mut want = v.clone();
            want.sort();
            let mut have: Vec<String> = shown.split(',').map(|s| s.trim().to_owned()).collect();
            have.sort();
            want == have
        }
    };
    (!same).then(|| shown.clone())
}

/// The `debconf` module.
#[derive(Debug)]
pub struct Debconf {
    pkg: String,
    question: Option<Question>,
    unseen: bool,
}

struct SetSelection {
    line: String,
    unseen: bool,
}

#[async_trait]
impl Action for SetSelection {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let cmd = if self.unseen {
            Script::text("debconf-set-selections -u")
        } else {
            Script::text("debconf-set-selections")
        };
        let out = ctx.run_with_input(&cmd, self.line.as_bytes()).await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text()));
        }
        let mut result = Map::new();
        result.insert("msg".into(), json!(out.stdout_text()));
        Ok(Outcome { result })
    }
}

#[async_trait]
impl Module for Debconf {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let password_question = self
            .question
            .as_ref()
            .filter(|q| q.vtype == "password")
            .map(|q| q.name.as_str());
        let fact = DebconfFact {
            pkg: &self.pkg,
            password_question,
        };
        let current = ctx.fact(&fact).await?;
        let all: Map<String, Value> = current
            .shown
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let unchanged = Plan::unchanged()
            .with_result("msg", json!(""))
            .with_result("current", Value::Object(all));
        let Some(q) = &self.question else {
            return Ok(unchanged);
        };
        let Some(previous) = plan_debconf(q, &current) else {
            return Ok(unchanged);
        };
        let shown_value = if q.vtype == "password" {
            "(password)".to_owned()
        } else {
            q.value.text()
        };
        let before = format!("{}: {}\n", q.name, previous);
        let after = format!("{}: {shown_value}\n", q.name);
        let line = format!("{} {} {} {}", self.pkg, q.name, q.vtype, q.value.text());
        let plan = Plan::unchanged()
            .with_result("msg", json!(""))
            .with_result("current", json!({ q.name.clone(): q.value.text() }))
            .with_result("previous", json!({ q.name.clone(): previous }));
        Ok(plan.with_change(
            vec![format!("debconf {} {} = {shown_value}", self.pkg, q.name)],
            vec![Diff::new(format!("debconf {}", self.pkg), before, after)],
            SetSelection {
                line,
                unseen: self.unseen,
            },
        ))
    }
}

fn answer(vtype: &str, v: &Value) -> Result<Answer, ModuleError> {
    let bad = || {
        ModuleError::arg(
            "value",
            format!("a {vtype} answer must be a string (Ansible fails on {v})"),
        )
    };
    match (vtype, v) {
        ("boolean", Value::Bool(b)) => Ok(Answer::Text(b.to_string())),
        ("boolean", Value::Number(n)) => Ok(Answer::Text(n.to_string())),
        ("boolean", Value::String(s)) => Ok(Answer::Text(s.to_lowercase())),
        ("multiselect", Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<_, _>>()
            .map(Answer::List),
        (_, Value::String(s)) => Ok(Answer::Text(s.clone())),
        _ => Err(bad()),
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: DebconfArgs = parse_args(args)?;
    if let Some(v) = &a.vtype
        && !VTYPES.contains(&v.as_str())
    {
        return Err(ModuleError::arg(
            "vtype",
            format!("value of vtype must be one of: {}, got: {v}", VTYPES.join(", ")),
        ));
    }
    let question = match (a.question, a.vtype, a.value) {
        (None, None, None) => None,
        (Some(name), Some(vtype), Some(v)) => {
            let value = answer(&vtype, &v)?;
            if value.text().contains('\n') || name.contains(char::is_whitespace) {
                return Err(ModuleError::arg("value", "one line, and a question without spaces"));
            }
            Some(Question { name, vtype, value })
        }
        _ => {
            return Err(ModuleError::args(
                "parameters are required together: question, vtype, value",
            ));
        }
    };
    if a.name.is_empty() || a.name.contains(char::is_whitespace) {
        return Err(ModuleError::arg("name", "a package name"));
    }
    Ok(Box::new(Debconf {
        pkg: a.name,
        question,
        unseen: a.unseen,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: &str) -> CommandOutput {
        crate::server_util::testing::output(0, stdout, "")
    }

    #[test]
    fn the_fact_reads_debconf_show_and_passwords() {
        let f = DebconfFact {
            pkg: "tripwire",
            password_question: Some("tripwire/site-passphrase"),
        };
        let s = f
            .parse(&out(&format!(
                "* tripwire/site-passphrase: (password omitted)\n  tripwire/use-sitekey: true\n{MARK}\ntripwire\ttripwire/site-passphrase\tpassword\ts3 cret\n"
            )))
            .unwrap();
        assert_eq!(s.shown[1], ("tripwire/use-sitekey".into(), "true".into()));
        assert_eq!(s.password.as_deref(), Some("s3 cret"));
        assert!(f.parse(&out("garbage\n")).is_err());
        assert_eq!(
            password_value("tripwire\tother\tstring\n", "tripwire", "q"),
            Some(String::new()),
            "Ansible's quirk: a short line of the package means an empty password"
        );
    }

    fn q(vtype: &str, value: Answer) -> Question {
        Question {
            name: "p/q".into(),
            vtype: vtype.into(),
            value,
        }
    }

    #[test]
    fn comparisons_follow_ansible() {
        let shown = |v: &str| Selections {
            shown: vec![("p/q".into(), v.into())],
            password: Some("pw".into()),
        };
        let t = |s: &str| Answer::Text(s.into());
        assert_eq!(plan_debconf(&q("string", t("a")), &Selections::default()), Some(String::new()));
        assert_eq!(plan_debconf(&q("string", t("a")), &shown("a")), None);
        assert_eq!(plan_debconf(&q("string", t("a")), &shown("b")), Some("b".into()));
        assert_eq!(plan_debconf(&q("boolean", t("true")), &shown("True")), None);
        assert_eq!(plan_debconf(&q("password", t("pw")), &shown("(password omitted)")), None);
        assert!(plan_debconf(&q("password", t("x")), &shown("")).is_some());
        let list = Answer::List(vec!["b".into(), "a".into()]);
        assert_eq!(plan_debconf(&q("multiselect", list.clone()), &shown("a, b")), None);
        assert!(plan_debconf(&q("multiselect", t("b, a")), &shown("a, b")).is_some());
        assert_eq!(list.text(), "b, a");
    }

    #[test]
    fn args() {
        let ok = |v: Value| build(v).is_ok();
        assert!(ok(json!({"name": "tzdata"})));
        assert!(ok(json!({"name": "x", "question": "x/b", "vtype": "boolean", "value": true})));
        assert!(!ok(json!({"name": "x", "question": "x/q", "vtype": "string"})));
        assert!(!ok(json!({"name": "x", "question": "x/q", "vtype": "strin", "value": "a"})));
        assert!(!ok(json!({"name": "x", "question": "x/q", "vtype": "string", "value": 5})));
        assert!(!ok(json!({"name": "x", "question": "x/q", "vtype": "string", "value": "a\nb"})));
    }
}
