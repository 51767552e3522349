//! `dpkg_selections`: a package's dpkg selection (`install`, `hold`, `deinstall`, `purge`), as
//! ansible.builtin.dpkg_selections sets it.
//!
//! ```yaml
//! dpkg_selections: { name: redis-server, selection: hold }
//! ```
//!
//! One remote command plans it: `dpkg --get-selections NAME` in the C locale (its first line's
//! second word; no line at all is `not present`; "no packages found matching" on stderr fails
//! as Ansible fails). The real run pipes `NAME SELECTION` to `dpkg --set-selections`. Returns
//! `before` and `after` (changed or not, check mode too), as Ansible; no diff (Ansible gives
//! none). The module installs or removes nothing, as in Ansible.

use async_trait::async_trait;
use prov_core::{
    Action, CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Outcome, Plan,
    Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("dpkg_selections", build);

/// The selections Ansible accepts.
const SELECTIONS: [&str; 4] = ["install", "hold", "deinstall", "purge"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: String,
    selection: String,
}

/// What `dpkg --get-selections NAME` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// dpkg knows no package matching the name.
    NoPackage,
    /// The current selection (`not present` when dpkg printed nothing).
    Current(String),
}

/// `dpkg --get-selections NAME` in the C locale.
pub struct SelectionFact<'a>(pub &'a str);

impl Fact for SelectionFact<'_> {
    type Output = Selection;

    fn name(&self) -> String {
        format!("dpkg selection of {}", self.0)
    }

    fn script(&self) -> Script {
        sh!(
            "LANG=C LC_ALL=C LC_MESSAGES=C LC_CTYPE=C LANGUAGE=C dpkg --get-selections {}",
            self.0
        )
    }

    fn parse(&self, out: &CommandOutput) -> Result<Selection, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        if out.stderr_text().contains("no packages found matching") {
            return Ok(Selection::NoPackage);
        }
        let text = out.stdout_text();
        if text.is_empty() {
            return Ok(Selection::Current("not present".into()));
        }
        // Python's `out.split()[1]`: the second word of the whole output.
        let word = text.split_whitespace().nth(1);
        let word = word.ok_or_else(|| self.error(format!("unexpected answer `{}`", text.trim())))?;
        Ok(Selection::Current(word.to_owned()))
    }
}

/// The `dpkg_selections` module.
#[derive(Debug)]
pub struct DpkgSelections {
    name: String,
    selection: String,
}

/// Pipes `NAME SELECTION` to `dpkg --set-selections`.
struct SetSelection(String);

#[async_trait]
impl Action for SetSelection {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let cmd = Script::text("LANG=C LC_ALL=C LC_MESSAGES=C dpkg --set-selections");
        let out = ctx.run_with_input(&cmd, self.0.as_bytes()).await?;
        if !out.success() {
            let mut result = Map::new();
            result.insert("rc".into(), json!(out.status));
            result.insert("stdout".into(), json!(out.stdout_text()));
            result.insert("stderr".into(), json!(out.stderr_text()));
            return Err(ModuleError::failed_with(out.stderr_text(), result));
        }
        Ok(Outcome::default())
    }
}

impl DpkgSelections {
    /// The decision: `before`, and the line for `dpkg --set-selections` when it differs.
    pub fn decide(&self, found: &Selection) -> Result<(String, Option<String>), ModuleError> {
        match found {
            Selection::NoPackage => Err(ModuleError::failed(format!(
                "Failed to find package '{}' to perform selection '{}'.",
                self.name, self.selection
            ))),
            Selection::Current(c) if *c == self.selection => Ok((c.clone(), None)),
            Selection::Current(c) => {
                Ok((c.clone(), Some(format!("{} {}\n", self.name, self.selection))))
            }
        }
    }
}

#[async_trait]
impl Module for DpkgSelections {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let found = ctx.fact(&SelectionFact(&self.name)).await?;
        let (before, line) = self.decide(&found)?;
        let plan = Plan::unchanged()
            .with_result("before", json!(before))
            .with_result("after", json!(self.selection));
        let Some(line) = line else { return Ok(plan) };
        let summary = format!("dpkg selection of {}: {before} -> {}", self.name, self.selection);
        Ok(plan.with_change(vec![summary], Vec::new(), SetSelection(line)))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Args = parse_args(args)?;
    if !SELECTIONS.contains(&a.selection.as_str()) {
        return Err(ModuleError::arg(
            "selection",
            format!(
                "value of selection must be one of: {}, got: {}",
                SELECTIONS.join(", "),
                a.selection
            ),
        ));
    }
    if a.name.is_empty() || a.name.contains(['\n', '\0', ' ', '\t']) {
        return Err(ModuleError::arg("name", "a package name without blanks"));
    }
    Ok(Box::new(DpkgSelections {
        name: a.name,
        selection: a.selection,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(status: i32, stdout: &str, stderr: &str) -> CommandOutput {
        CommandOutput {
            status,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_fact_reads_every_answer() {
        let f = SelectionFact("bash");
        assert_eq!(
            f.parse(&out(0, "bash\t\t\t\t\t\thold\n", "")),
            Ok(Selection::Current("hold".into()))
        );
        assert_eq!(
            f.parse(&out(0, "", "")),
            Ok(Selection::Current("not present".into()))
        );
        assert_eq!(
            f.parse(&out(0, "", "dpkg: no packages found matching bash\n")),
            Ok(Selection::NoPackage)
        );
        assert!(f.parse(&out(0, "bash\n", "")).is_err());
        assert!(f.parse(&out(2, "", "dpkg: error")).is_err());
        assert!(f.script().as_str().contains("dpkg --get-selections bash"));
    }

    #[test]
    fn the_planner() {
        let m = DpkgSelections { name: "bash".into(), selection: "hold".into() };
        let cur = |s: &str| Selection::Current(s.into());
        assert_eq!(m.decide(&cur("hold")).unwrap(), ("hold".into(), None));
        assert_eq!(
            m.decide(&cur("install")).unwrap(),
            ("install".into(), Some("bash hold\n".into()))
        );
        assert_eq!(
            m.decide(&cur("not present")).unwrap().1,
            Some("bash hold\n".into())
        );
        let e = m.decide(&Selection::NoPackage).unwrap_err().to_string();
        assert_eq!(e, "Failed to find package 'bash' to perform selection 'hold'.");
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "bash", "selection": "hold"})).is_ok());
        assert!(build(json!({"name": "bash", "selection": "remove"})).is_err());
        assert!(build(json!({"name": "bash"})).is_err());
        assert!(build(json!({"name": "bash", "selection": "hold", "x": 1})).is_err());
    }
}
