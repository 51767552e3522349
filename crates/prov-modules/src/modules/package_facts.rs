//! `package_facts`: the host's installed packages as `ansible_facts.packages`, as Ansible's
//! module returns them on a Debian host (`manager: auto` picks apt there).
//!
//! ```yaml
//! - package_facts:
//! - debug: msg="nginx {{ ansible_facts.packages['nginx'][0].version }}"
//!   when: "'nginx' in ansible_facts.packages"
//! ```
//!
//! Read in one command with `dpkg-query`: every package with an installed version (Ansible's
//! `pkg.is_installed`), each architecture a list entry of `name`, `version`, `arch`, `category`
//! (the section), `origin` and `source: apt`. `origin` is the archive's `Origin:` that python-apt
//! finds for the installed version; dpkg does not record it, so prov reports `""` (what Ansible
//! reports too for packages no configured archive carries).

use async_trait::async_trait;
use prov_core::{CommandOutput, Fact, FactError, Module, ModuleContext, ModuleError, Plan, Script};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::parse_args;

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec =
    crate::ModuleSpec::new("package_facts", build).returns_facts(&["packages"]);

/// Ansible's arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    /// `auto` (default), `apt` or `dpkg`, or a list of them.
    #[serde(default)]
    manager: Option<Value>,
    /// `first` (default) or `all`: with one manager on Debian, the same.
    #[serde(default)]
    strategy: Option<String>,
}

/// One installed package instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The package name.
    pub name: String,
    /// Its installed version.
    pub version: String,
    /// Its architecture.
    pub arch: String,
    /// Its section.
    pub category: String,
}

/// Every package with an installed version, from `dpkg-query`.
pub struct InstalledPackages;

/// Fields separated by tabs, one package per line.
const FORMAT: &str = "${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\t${Section}\n";

impl Fact for InstalledPackages {
    type Output = Vec<Installed>;

    fn name(&self) -> String {
        "installed packages".into()
    }

    fn script(&self) -> Script {
        Script::text("LC_ALL=C dpkg-query -W -f").arg(FORMAT)
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        if !out.success() {
            return Err(self.probe_failed(out));
        }
        let text = out.stdout_text();
        let mut packages = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let [status, name, version, arch, category] = line
                .splitn(5, '\t')
                .collect::<Vec<_>>()
                .try_into()
                .map_err(|_| self.error(format!("unexpected dpkg-query line `{line}`")))?;
            // `not-installed` and `config-files` have no installed version.
            if matches!(status, "not-installed" | "config-files") {
                continue;
            }
            packages.push(Installed {
                name: name.to_owned(),
                version: version.to_owned(),
                arch: arch.to_owned(),
                category: category.to_owned(),
            });
        }
        Ok(packages)
    }
}

/// `ansible_facts.packages`: name → its installed instances, names in order.
pub fn packages_fact(installed: &[Installed]) -> Value {
    let mut by_name: Map<String, Value> = Map::new();
    let mut sorted: Vec<&Installed> = installed.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for p in sorted {
        let entry = json!({
            "name": p.name, "version": p.version, "arch": p.arch,
            "category": p.category, "origin": "", "source": "apt",
        });
        match by_name.get_mut(&p.name) {
            Some(Value::Array(list)) => list.push(entry),
            _ => {
                by_name.insert(p.name.clone(), json!([entry]));
            }
        }
    }
    Value::Object(by_name)
}

/// The module: reads, never changes.
struct PackageFacts;

#[async_trait]
impl Module for PackageFacts {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let installed = ctx.fact(&InstalledPackages).await?;
        let facts = json!({"packages": packages_fact(&installed)});
        Ok(Plan::unchanged().with_result("ansible_facts", facts))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let args = if args.is_null() { json!({}) } else { args };
    let a: Args = parse_args(args)?;
    let managers: Vec<String> = match a.manager {
        None => vec!["auto".into()],
        Some(Value::String(s)) => s.split(',').map(|m| m.trim().to_owned()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().unwrap_or("").to_owned())
            .collect(),
        Some(other) => {
            return Err(ModuleError::arg(
                "manager",
                format!("expected a name or a list, found {other}"),
            ));
        }
    };
    if let Some(m) = managers
        .iter()
        .find(|m| !matches!(m.as_str(), "auto" | "apt" | "dpkg"))
    {
        return Err(ModuleError::arg(
            "manager",
            format!("`{m}` is not supported: prov reads Debian's package database (auto, apt)"),
        ));
    }
    if let Some(s) = a.strategy.filter(|s| s != "first" && s != "all") {
        return Err(ModuleError::arg(
            "strategy",
            format!("`{s}` is not first or all"),
        ));
    }
    Ok(Box::new(PackageFacts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(stdout: &str) -> CommandOutput {
        crate::server_util::testing::output(0, stdout, "")
    }

    #[test]
    fn dpkg_query_lines_become_ansibles_structure() {
        let text = "installed\tbash\t5.2.15-2+b13\tamd64\tshells\n\
                    config-files\told\t1.0\tamd64\tutils\n\
                    installed\tlibc6\t2.36-9\tamd64\tlibs\n\
                    installed\tlibc6\t2.36-9\ti386\tlibs\n";
        let got = InstalledPackages.parse(&out(text)).unwrap();
        assert_eq!(got.len(), 3, "config-files has no installed version");
        let facts = packages_fact(&got);
        assert_eq!(
            facts["bash"],
            json!([{"arch": "amd64", "category": "shells", "name": "bash", "origin": "", "source": "apt", "version": "5.2.15-2+b13"}])
        );
        assert_eq!(facts["libc6"].as_array().map(Vec::len), Some(2));
        assert!(facts.get("old").is_none());
    }

    #[test]
    fn garbage_is_an_error_naming_the_fact() {
        let err = InstalledPackages.parse(&out("installed\tbash\n")).unwrap_err();
        assert_eq!(err.fact, "installed packages");
    }

    #[test]
    fn managers_other_than_debians_are_refused() {
        assert!(build(Value::Null).is_ok());
        assert!(build(json!({"manager": ["auto"], "strategy": "all"})).is_ok());
        assert!(build(json!({"manager": "rpm"})).is_err());
        assert!(build(json!({"bogus": 1})).is_err());
    }
}
