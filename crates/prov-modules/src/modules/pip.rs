//! `pip`: Python packages installed with pip, system-wide or in a virtualenv, as Ansible's
//! module installs them.
//!
//! ```yaml
//! pip: { name: [flask>=2], virtualenv: /opt/app/venv, virtualenv_command: python3 -m venv }
//! ```
//!
//! Ansible's algorithm, step for step: with `virtualenv` (joined to `chdir` when relative) a
//! directory without `bin/activate` is created first with `virtualenv_command` (its program
//! looked up in `PATH`; `--system-site-packages` when `virtualenv_site_packages`, else
//! `--no-site-packages` when the program's `--help` offers it; `-p<python>` unless the command
//! is `python3 -m venv`/`pyvenv`), and pip is its `bin/pip3` or `bin/pip`; without it pip is
//! `executable`, or `python3 -m pip` when that Python has pip, or `pip3` from `PATH`. The
//! names are regrouped as Ansible regroups them (`["django>1", "<2"]` is one requirement) and
//! normalized (`foo >= 1` is `foo>=1`); `version` is appended (`==V` when it starts with a
//! digit). The command is `pip install` (`-U` for latest, `-U --force-reinstall` for
//! forcereinstall) or `pip uninstall -y`, then `extra_args` (`-e` added when `editable`), then
//! the names or `-r requirements`, run in `chdir` (default `/tmp`) with the virtualenv's `bin`
//! first in `PATH` and `PIP_BREAK_SYSTEM_PACKAGES=1` when `break_system_packages`.
//!
//! `changed` follows Ansible's real run: a created virtualenv; for absent, `Successfully
//! uninstalled` (a named package is installed, whatever the version); for the install states,
//! `Successfully installed` (with `requirements` or a VCS URL: `pip freeze` differs before and
//! after). Prov predicts it with the same pip: the installed packages from `pip list
//! --format=freeze`, and what `pip install --dry-run` with the same arguments would install,
//! so check mode is exact where Ansible's own check mode says `changed` for any `extra_args`,
//! `requirements` or `latest`.
//!
//! Refused: `state: absent` with `requirements` (prov cannot tell which packages the file
//! names without reading it with pip's parser) or with a name that is not a plain requirement
//! (a URL or a path); `~` and `$` in paths (Ansible expands them on the host). A pip older
//! than 22.2 (no `--dry-run`; Debian 12 has 23.0) fails the plan with that reason.

use async_trait::async_trait;
use prov_core::{
    Action, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{de_bool, de_opt_string};
use crate::server_util::{Section, Sectioned, SectionedFact, Sections};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("pip", build);

fn virtualenv_default() -> String {
    "virtualenv".into()
}

/// The `pip` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipArgs {
    /// present (default), absent, latest or forcereinstall.
    #[serde(default)]
    pub state: PipState,
    /// The packages (with version specifiers).
    #[serde(default, deserialize_with = "crate::args::de_opt_string_list")]
    pub name: Option<Vec<Option<String>>>,
    /// The version of the one package.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub version: Option<String>,
    /// A requirements file on the host.
    #[serde(default)]
    pub requirements: Option<String>,
    /// The virtualenv directory.
    #[serde(default)]
    pub virtualenv: Option<String>,
    /// Create the virtualenv with the system's site packages.
    #[serde(default, deserialize_with = "de_bool")]
    pub virtualenv_site_packages: bool,
    /// The command creating the virtualenv.
    #[serde(default = "virtualenv_default")]
    pub virtualenv_command: String,
    /// The Python of a `virtualenv`-made virtualenv.
    #[serde(default)]
    pub virtualenv_python: Option<String>,
    /// More pip arguments.
    #[serde(default, deserialize_with = "de_opt_string")]
    pub extra_args: Option<String>,
    /// Install in editable mode (`-e`).
    #[serde(default, deserialize_with = "de_bool")]
    pub editable: bool,
    /// The directory pip runs in.
    #[serde(default)]
    pub chdir: Option<String>,
    /// The pip to run (not with `virtualenv`).
    #[serde(default)]
    pub executable: Option<String>,
    /// The umask of the run (octal).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub umask: Option<String>,
    /// Let pip install into an externally managed Python.
    #[serde(default, deserialize_with = "de_bool")]
    pub break_system_packages: bool,
}

/// The `state` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipState {
    /// Installed (any version satisfying the specifier).
    #[default]
    Present,
    /// Uninstalled.
    Absent,
    /// Upgraded to the newest version.
    Latest,
    /// Reinstalled every run.
    Forcereinstall,
}

impl PipState {
    fn args(self) -> &'static [&'static str] {
        match self {
            PipState::Present => &["install"],
            PipState::Absent => &["uninstall", "-y"],
            PipState::Latest => &["install", "-U"],
            PipState::Forcereinstall => &["install", "-U", "--force-reinstall"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            PipState::Present => "present",
            PipState::Absent => "absent",
            PipState::Latest => "latest",
            PipState::Forcereinstall => "forcereinstall",
        }
    }
}

const OPS: [&str; 7] = [">=", "<=", ">", "<", "==", "!=", "~="];

/// Ansible's `_recover_package_name`: the names split on commas and regrouped, a version
/// specifier joining the package before it.
pub fn recover_package_names(names: &[String]) -> Vec<String> {
    let flat: Vec<&str> = names.iter().flat_map(|n| n.split(',')).collect();
    let mut out = Vec::new();
    let mut parts: Vec<&str> = Vec::new();
    let mut in_brackets = false;
    for name in flat {
        let is_name = !OPS.iter().any(|o| name.trim_start().starts_with(o));
        if is_name && !in_brackets {
            if !parts.is_empty() {
                out.push(parts.join(","));
            }
            parts.clear();
        }
        if name.contains('[') {
            in_brackets = true;
        }
        if in_brackets && name.contains(']') {
            in_brackets = false;
        }
        parts.push(name);
    }
    out.push(parts.join(","));
    out
}

/// A package as Ansible's `Package` wraps it: a plain requirement (name, extras, specifiers)
/// or anything else pip takes (a URL, a path), passed as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The canonical name of a plain requirement.
    pub canonical: Option<String>,
    /// The text passed to pip.
    pub text: String,
    /// A plain requirement with a version specifier.
    pub has_specifier: bool,
}

/// PEP 503's canonical name.
pub fn canonicalize(name: &str) -> String {
    let re = regex::Regex::new(r"[-_.]+").expect("static regex");
    re.replace_all(name, "-").to_lowercase()
}

impl Package {
    /// Parses a requirement (`packaging.requirements.Requirement`, for the common forms).
    pub fn parse(s: &str) -> Package {
        let re = regex::Regex::new(
            r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*(.*?)\s*$",
        )
        .expect("static regex");
        let spec = regex::Regex::new(r"^\s*(===|~=|==|!=|<=|>=|<|>)\s*([^\s,;()]+)\s*$")
            .expect("static regex");
        let other = Package {
            canonical: None,
            text: s.to_owned(),
            has_specifier: false,
        };
        let Some(c) = re.captures(s) else {
            return other;
        };
        let name = &c[1];
        let (rest, marker) = match c[3].split_once(';') {
            Some((r, m)) => (r.trim(), Some(m.trim())),
            None => (c[3].trim(), None),
        };
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(rest);
        let mut specs = Vec::new();
        if !rest.is_empty() {
            for part in rest.split(',') {
                let Some(m) = spec.captures(part) else {
                    return other;
                };
                specs.push(format!("{}{}", &m[1], &m[2]));
            }
        }
        specs.sort();
        let mut text = name.to_owned();
        if let Some(e) = c.get(2) {
            let mut extras: Vec<&str> = e.as_str().split(',').map(str::trim).collect();
            extras.retain(|x| !x.is_empty());
            extras.sort();
            extras.dedup();
            if !extras.is_empty() {
                text.push_str(&format!("[{}]", extras.join(",")));
            }
        }
        text.push_str(&specs.join(","));
        if let Some(m) = marker {
            text.push_str(&format!("; {m}"));
        }
        Package {
            canonical: Some(canonicalize(name)),
            text,
            has_specifier: !specs.is_empty(),
        }
    }

    /// `Package(str(pkg), version)`: `==V` when the version starts with a digit, else the
    /// specifier as written.
    pub fn with_version(&self, version: &str) -> Package {
        let v = version.trim_start();
        let sep = if v.starts_with(|c: char| c.is_ascii_digit()) {
            "=="
        } else {
            " "
        };
        Package::parse(&format!("{}{sep}{v}", self.text))
    }
}

/// The `name==version` lines of `pip list --format=freeze`, canonical names.
pub fn installed(list: &str) -> Vec<(String, String)> {
    list.lines()
        .filter(|l| !l.starts_with("You are using") && !l.starts_with("You should consider"))
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (canonicalize(n), v.trim().to_owned()))
        .collect()
}

/// The `name-version` items of pip's `Would install ...` line (canonical names).
pub fn would_install(dry_run: &str) -> Vec<(String, String)> {
    dry_run
        .lines()
        .filter_map(|l| l.strip_prefix("Would install "))
        .flat_map(str::split_whitespace)
        .filter_map(|item| item.rsplit_once('-'))
        .map(|(n, v)| (canonicalize(n), v.to_owned()))
        .collect()
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipFound {
    /// The virtualenv exists (`bin/activate`); true without a virtualenv.
    pub venv: bool,
    /// The pip found (`None`: missing; not looked for when the virtualenv is missing).
    pub pip: Option<String>,
    /// `pip list --format=freeze`.
    pub list: Option<String>,
    /// `pip install --dry-run ...` output and status, when it ran.
    pub dry: Option<(String, i32)>,
}

/// The module, resolved.
#[derive(Debug, Clone)]
pub struct Pip {
    state: PipState,
    names: Option<Vec<String>>,
    packages: Vec<Package>,
    version: Option<String>,
    requirements: Option<String>,
    env: Option<String>,
    site_packages: bool,
    venv_command: String,
    venv_python: Option<String>,
    extra: Vec<String>,
    chdir: String,
    executable: Option<String>,
    umask: Option<String>,
    break_system: bool,
    has_vcs: bool,
}

impl Pip {
    /// The shell lines every script starts with: the umask, the environment, the directory.
    fn prelude(&self, with_umask: bool) -> Script {
        let mut s = Script::text("");
        if let (true, Some(u)) = (with_umask, &self.umask) {
            s = s.then(&sh!("umask {}\n", u.as_str()));
        }
        if self.break_system {
            s = s.then_text("export PIP_BREAK_SYSTEM_PACKAGES=1\n");
        }
        s = s.then(&sh!("cd -- {} || exit 1\nenv_dir={}\n", self.chdir.as_str(), self.env.clone().unwrap_or_default()));
        s.then_text("P() { if [ -n \"$pipmod\" ]; then \"$py\" -m pip \"$@\"; else \"$pip\" \"$@\"; fi; }\n")
    }

    /// Finds pip as Ansible's `_get_pip` (sets `pip`/`pipmod`/`py`, `found=1`).
    fn resolve_pip(&self) -> Script {
        let head = Script::text("found=; pip=; pipmod=; py=\n");
        let body = match (&self.executable, &self.env) {
            (Some(e), _) if e.starts_with('/') => sh!("pip={}; found=1", e.as_str()),
            (Some(e), _) => sh!("pip=$(command -v {}) && found=1", e.as_str()),
            (None, Some(_)) => Script::text(
                "for b in pip3 pip; do if [ -e \"$env_dir/bin/$b\" ] && [ -x \"$env_dir/bin/$b\" ]; then pip=\"$env_dir/bin/$b\"; found=1; break; fi; done",
            ),
            (None, None) => Script::text(
                "py=$(command -v python3) && \"$py\" -c 'import importlib.util,sys; sys.exit(importlib.util.find_spec(\"pip\") is None)' 2>/dev/null && { pipmod=1; found=1; }\n[ -n \"$found\" ] || { pip=$(command -v pip3) && found=1; }",
            ),
        };
        head.then(&body).then_text("\n")
    }

    /// The message when pip is missing.
    fn no_pip_message(&self) -> String {
        match (&self.executable, &self.env) {
            (Some(e), _) => format!("Unable to find any of {e} to use.  pip needs to be installed."),
            (None, Some(env)) => format!(
                "Unable to find pip in the virtualenv, {env}, under any of these names: pip3, pip. Make sure pip is present in the virtualenv."
            ),
            (None, None) => "Unable to find any of pip3 to use.  pip needs to be installed.".into(),
        }
    }

    /// The pip arguments after the state's: extra args, then the names or `-r`.
    fn tail_args(&self) -> Vec<String> {
        let mut v = self.extra.clone();
        if self.names.is_some() {
            v.extend(self.packages.iter().map(|p| p.text.clone()));
        } else if let Some(r) = &self.requirements {
            v.push("-r".into());
            v.push(r.clone());
        }
        v
    }

    /// `P ARGS` with the virtualenv's bin first in PATH.
    fn pip_call(&self, first: &[&str], dry: bool) -> Script {
        let mut s = if self.env.is_some() {
            Script::text("PATH=\"$env_dir/bin:$PATH\" P")
        } else {
            Script::text("P")
        };
        for a in first {
            s = s.arg(*a);
        }
        if dry {
            s = s.then_text(" --dry-run");
        }
        for a in self.tail_args() {
            s = s.arg(a.as_str());
        }
        s
    }

    /// The dry run predicts the install states.
    fn needs_dry_run(&self) -> bool {
        self.state != PipState::Absent
    }

    /// The commands that create the virtualenv (exit 90 with a message on failure).
    fn create_venv(&self) -> Script {
        let words = shlex::split(&self.venv_command).unwrap_or_default();
        let mut s = Script::text("set --");
        for w in &words {
            s = s.arg(w.as_str());
        }
        s = s.then_text(
            "\ncase \"$1\" in */*) ;; *) c=$(command -v \"$1\") || { echo \"Failed to find required executable \\\"$1\\\" in paths: $PATH\" >&2; exit 90; }; shift; set -- \"$c\" \"$@\";; esac\n",
        );
        if self.site_packages {
            s = s.then_text("set -- \"$@\" --system-site-packages\n");
        } else {
            s = s.then_text("h=$(\"$1\" --help 2>/dev/null) || { echo \"Could not get output from $1 --help\" >&2; exit 90; }\nif echo \"$h\" | tr -s '[:space:]' '\\n' | grep -qx -- --no-site-packages; then set -- \"$@\" --no-site-packages; fi\n");
        }
        if !is_venv_command(&words) {
            s = match &self.venv_python {
                Some(p) => s.then(&sh!("set -- \"$@\" {}\n", format!("-p{p}"))),
                None => s.then_text("set -- \"$@\" \"-p$(readlink -f \"$(command -v python3)\")\"\n"),
            };
        }
        s.then_text("\"$@\" \"$env_dir\" || exit 90\n")
    }
}

/// Ansible's `_is_venv_command`: `pyvenv`, or `-m venv` among the arguments.
pub fn is_venv_command(words: &[String]) -> bool {
    let Some(first) = words.first() else {
        return false;
    };
    if first == "pyvenv" {
        return true;
    }
    let mut m = None;
    let mut it = words[1..].iter();
    while let Some(w) = it.next() {
        if w == "-m" {
            m = it.next().cloned();
        } else if let Some(v) = w.strip_prefix("-m") {
            m = Some(v.to_owned());
        }
    }
    m.as_deref() == Some("venv")
}

/// The probe: the virtualenv, pip, its packages and the dry run.
pub struct PipFact<'a>(pub &'a Pip);

impl SectionedFact for PipFact<'_> {
    type Output = PipFound;

    fn name(&self) -> String {
        "pip packages".into()
    }

    fn prelude(&self) -> Script {
        let m = self.0;
        let mut s = m.prelude(false);
        s = if m.env.is_some() {
            s.then_text("go=; [ -e \"$env_dir/bin/activate\" ] && go=1\n")
        } else {
            s.then_text("go=1\n")
        };
        s.then_text("found=\nif [ -n \"$go\" ]; then\n")
            .then(&m.resolve_pip())
            .then_text("fi\n")
    }

    fn sections(&self) -> Vec<Section> {
        let m = self.0;
        let mut v = vec![
            Section::new("venv", Script::text("[ -n \"$go\" ] && echo yes; true")),
            Section::new(
                "pip",
                Script::text("[ -n \"$found\" ] && echo \"${pipmod:+$py -m pip}${pip}\"; true"),
            ),
            Section::new(
                "list",
                Script::text("if [ -n \"$found\" ]; then LANG=C LC_ALL=C LC_MESSAGES=C P list --format=freeze 2>/dev/null || P freeze 2>/dev/null; fi; true"),
            ),
        ];
        if m.needs_dry_run() {
            v.push(Section::new(
                "dry",
                Script::text("rc=none; if [ -n \"$found\" ]; then ")
                    .then(&m.pip_call(m.state.args(), true))
                    .then_text(" 2>&1; rc=$?; fi"),
            ));
            v.push(Section::new("dry_rc", Script::text("echo $rc")));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<PipFound, FactError> {
        let pip = s.get("pip")?.trim();
        let found = !pip.is_empty();
        Ok(PipFound {
            venv: s.flag("venv")?,
            pip: found.then(|| pip.to_owned()),
            list: found.then(|| s.get("list").map(str::to_owned)).transpose()?,
            dry: if self.0.needs_dry_run() {
                s.status_of("dry_rc")?
                    .map(|rc| Ok::<_, FactError>((s.get("dry")?.to_owned(), rc)))
                    .transpose()?
            } else {
                None
            },
        })
    }
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipPlan {
    /// Nothing changes.
    Unchanged,
    /// Create the virtualenv, then run pip.
    CreateAndRun,
    /// Run pip; the lines say what changes.
    Run(Vec<String>),
}

/// The planner: Ansible's `changed` for the probed state.
pub fn plan_pip(m: &Pip, f: &PipFound) -> Result<PipPlan, String> {
    // Ansible: "No valid name or requirements file found." (ok).
    if m.names.as_ref().is_none_or(|n| n.is_empty()) && m.requirements.is_none() {
        return Ok(PipPlan::Unchanged);
    }
    if !f.venv {
        if m.venv_python.is_some() && is_venv_command(&shlex::split(&m.venv_command).unwrap_or_default()) {
            return Err("virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command".into());
        }
        return Ok(PipPlan::CreateAndRun);
    }
    if f.pip.is_none() {
        return Err(m.no_pip_message());
    }
    let have = installed(f.list.as_deref().unwrap_or(""));
    if m.state == PipState::Absent {
        let gone: Vec<String> = m
            .packages
            .iter()
            .filter_map(|p| p.canonical.clone())
            .filter(|n| have.iter().any(|(h, _)| h == n))
            .map(|n| format!("uninstall {n}"))
            .collect();
        return Ok(if gone.is_empty() {
            PipPlan::Unchanged
        } else {
            PipPlan::Run(gone)
        });
    }
    let (out, rc) = f.dry.clone().unwrap_or_default();
    if rc != 0 && out.contains("no such option: --dry-run") {
        return Err("this pip has no `install --dry-run` (pip 22.2 and later have it): prov cannot predict what it would install".into());
    }
    if rc != 0 {
        return Err(format!("stdout: {out}"));
    }
    let mut would = would_install(&out);
    if m.requirements.is_some() || m.has_vcs {
        would.retain(|(n, v)| !have.iter().any(|(h, hv)| h == n && hv == v));
    }
    Ok(if would.is_empty() {
        PipPlan::Unchanged
    } else {
        PipPlan::Run(
            would
                .into_iter()
                .map(|(n, v)| format!("install {n} {v}"))
                .collect(),
        )
    })
}

/// Runs what was planned: the virtualenv if missing, then pip.
struct PipRun {
    m: Pip,
    create: bool,
}

#[async_trait]
impl Action for PipRun {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let m = &self.m;
        let mut s = m.prelude(true);
        if self.create {
            s = s.then(&m.create_venv());
        }
        s = s
            .then(&m.resolve_pip())
            .then(&sh!("[ -n \"$found\" ] || {{ echo {} >&2; exit 91; }}\n", m.no_pip_message()))
            .then(&m.pip_call(m.state.args(), false));
        let out = ctx.run(&s).await?;
        let (stdout, stderr) = (out.stdout_text(), out.stderr_text());
        let mut cmd: Vec<String> = vec!["pip".into()];
        cmd.extend(m.state.args().iter().map(|a| a.to_string()));
        cmd.extend(m.tail_args());
        let mut r = Map::new();
        r.insert("cmd".into(), json!(cmd));
        r.insert("stdout".into(), json!(stdout));
        r.insert("stderr".into(), json!(stderr));
        let not_installed = stdout.contains("not installed") || stderr.contains("not installed");
        let ok = out.status == 0
            || (out.status == 1 && m.state == PipState::Absent && not_installed);
        if !ok {
            let msg = if out.status >= 90 {
                stderr.trim().to_owned()
            } else {
                let mut msg = String::new();
                if !stdout.is_empty() {
                    msg.push_str(&format!("stdout: {stdout}"));
                }
                if !stderr.is_empty() {
                    msg.push_str(&format!("\n:stderr: {stderr}"));
                }
                msg
            };
            return Err(ModuleError::failed_with(msg, r));
        }
        Ok(Outcome { result: r })
    }
}

#[async_trait]
impl Module for Pip {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let f = ctx.fact(&Sectioned(PipFact(self))).await?;
        let base = Plan::unchanged()
            .with_result("name", json!(self.names))
            .with_result("version", json!(self.version))
            .with_result("state", json!(self.state.name()))
            .with_result("requirements", json!(self.requirements))
            .with_result("virtualenv", json!(self.env));
        let decided = plan_pip(self, &f)
            .map_err(|msg| ModuleError::failed_with(msg, base.result().clone()))?;
        let (summary, create) = match decided {
            PipPlan::Unchanged => return Ok(base),
            PipPlan::CreateAndRun => {
                let env = self.env.clone().unwrap_or_default();
                let what = self.tail_args().join(" ");
                (
                    vec![
                        format!("create virtualenv {env}"),
                        format!("pip {} {what}", self.state.args().join(" ")),
                    ],
                    true,
                )
            }
            PipPlan::Run(lines) => (lines, false),
        };
        let action = PipRun {
            m: self.clone(),
            create,
        };
        Ok(base.with_change(summary, vec![], action))
    }
}

fn no_expansion(field: &str, v: &Option<String>) -> Result<(), ModuleError> {
    match v {
        Some(p) if p.starts_with('~') || p.contains('$') => Err(ModuleError::arg(
            field,
            "prov does not expand `~` or `$` in paths: give the path itself",
        )),
        _ => Ok(()),
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: PipArgs = parse_args(args)?;
    let names = a
        .name
        .map(|n| {
            n.into_iter()
                .map(|x| x.ok_or_else(|| ModuleError::arg("name", "a package name is null")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    match (&names, &a.requirements) {
        (None, None) => {
            return Err(ModuleError::args(
                "one of the following is required: name, requirements",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ModuleError::args(
                "parameters are mutually exclusive: name|requirements",
            ));
        }
        _ => {}
    }
    if a.executable.is_some() && a.virtualenv.is_some() {
        return Err(ModuleError::args(
            "parameters are mutually exclusive: executable|virtualenv",
        ));
    }
    for (f, v) in [
        ("virtualenv", &a.virtualenv),
        ("chdir", &a.chdir),
        ("executable", &a.executable),
        ("requirements", &a.requirements),
    ] {
        no_expansion(f, v)?;
    }
    if let Some(u) = &a.umask
        && u32::from_str_radix(u, 8).is_err()
    {
        return Err(ModuleError::arg("umask", "umask must be an octal integer"));
    }
    if a.state == PipState::Latest && a.version.is_some() {
        return Err(ModuleError::args("version is incompatible with state=latest"));
    }
    let mut packages: Vec<Package> = names
        .as_ref()
        .filter(|n| !n.is_empty())
        .map(|n| recover_package_names(n).iter().map(|p| Package::parse(p)).collect())
        .unwrap_or_default();
    let has_vcs = names.iter().flatten().any(|n| {
        regex::Regex::new(r"^(svn|git|hg|bzr)\+")
            .expect("static regex")
            .is_match(n)
    });
    if let Some(v) = &a.version {
        if packages.len() > 1 {
            return Err(ModuleError::args("'version' argument is ambiguous when installing multiple package distributions. Please specify version restrictions next to each package in 'name' argument."));
        }
        if let Some(p) = packages.first_mut() {
            if p.has_specifier {
                return Err(ModuleError::args("The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument."));
            }
            *p = p.with_version(v);
        }
    }
    if a.state == PipState::Absent {
        if a.requirements.is_some() {
            return Err(ModuleError::arg(
                "requirements",
                "state=absent with a requirements file is not implemented by prov (it cannot tell which packages the file names)",
            ));
        }
        if let Some(p) = packages.iter().find(|p| p.canonical.is_none()) {
            return Err(ModuleError::arg(
                "name",
                format!("state=absent with `{}` (not a plain requirement) is not implemented by prov", p.text),
            ));
        }
    }
    let mut extra_text = a.extra_args.unwrap_or_default();
    if a.editable {
        let mut list: Vec<&str> = if extra_text.is_empty() {
            vec![]
        } else {
            extra_text.split(' ').collect()
        };
        if !list.contains(&"-e") {
            list.push("-e");
        }
        extra_text = list.join(" ");
    }
    let extra = shlex::split(&extra_text)
        .ok_or_else(|| ModuleError::arg("extra_args", "unbalanced quotes"))?;
    if shlex::split(&a.virtualenv_command).is_none_or(|w| w.is_empty()) {
        return Err(ModuleError::arg("virtualenv_command", "empty or unbalanced quotes"));
    }
    let env = match (&a.virtualenv, &a.chdir) {
        (Some(e), Some(c)) if !e.starts_with('/') => Some(format!("{}/{e}", c.trim_end_matches('/'))),
        (e, _) => e.clone(),
    };
    Ok(Box::new(Pip {
        state: a.state,
        names,
        packages,
        version: a.version,
        requirements: a.requirements,
        env,
        site_packages: a.virtualenv_site_packages,
        venv_command: a.virtualenv_command,
        venv_python: a.virtualenv_python,
        extra,
        chdir: a.chdir.unwrap_or_else(|| "/tmp".into()),
        executable: a.executable,
        umask: a.umask,
        break_system: a.break_system_packages,
        has_vcs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_are_regrouped_as_ansible_regroups_them() {
        assert_eq!(
            recover_package_names(&s(&["django>1.11.1", "<1.11.3", "ipaddress", "simpleproject>1.1.0", "<2.0.0"])),
            ["django>1.11.1,<1.11.3", "ipaddress", "simpleproject>1.1.0,<2.0.0"]
        );
        assert_eq!(
            recover_package_names(&s(&["django>1.11.1,<1.11.3,ipaddress", "simpleproject>1.1.0,<2.0.0"])),
            ["django>1.11.1,<1.11.3", "ipaddress", "simpleproject>1.1.0,<2.0.0"]
        );
        assert_eq!(recover_package_names(&s(&["a[x,y]>1", "b"])), ["a[x,y]>1", "b"]);
    }

    #[test]
    fn requirements_are_normalized() {
        let p = Package::parse("Foo_Bar >= 1.0 , <2");
        assert_eq!(p.canonical.as_deref(), Some("foo-bar"));
        assert_eq!(p.text, "Foo_Bar<2,>=1.0");
        assert!(p.has_specifier);
        let p = Package::parse("requests[socks, security]");
        assert_eq!(p.text, "requests[security,socks]");
        assert!(!p.has_specifier);
        let p = Package::parse("./dist/foo-1.0-py3-none-any.whl");
        assert_eq!(p.canonical, None);
        assert_eq!(p.text, "./dist/foo-1.0-py3-none-any.whl");
        assert_eq!(Package::parse("git+https://x/y.git").canonical, None);
        assert_eq!(Package::parse("foo").with_version("1.0").text, "foo==1.0");
        assert_eq!(Package::parse("foo").with_version(">=1.0").text, "foo>=1.0");
    }

    #[test]
    fn pip_outputs_are_read() {
        let list = "pip==23.0.1\nProv_Demo==1.0\nsetuptools==66.1.1\n";
        assert_eq!(installed(list)[1], ("prov-demo".to_owned(), "1.0".to_owned()));
        let dry = "Looking in links: /srv/w\nProcessing ./prov_demo-2.0-py3-none-any.whl\nWould install prov-demo-2.0 six-1.16.0\n";
        assert_eq!(
            would_install(dry),
            [("prov-demo".to_owned(), "2.0".to_owned()), ("six".to_owned(), "1.16.0".to_owned())]
        );
    }

    #[test]
    fn venv_commands_are_recognized() {
        assert!(is_venv_command(&s(&["python3", "-m", "venv"])));
        assert!(is_venv_command(&s(&["/usr/bin/python3", "-mvenv"])));
        assert!(is_venv_command(&s(&["pyvenv"])));
        assert!(!is_venv_command(&s(&["virtualenv"])));
        assert!(!is_venv_command(&s(&["python3", "-m", "virtualenv"])));
    }

    fn module(args: Value) -> Pip {
        let a: PipArgs = parse_args(args.clone()).unwrap();
        let names: Option<Vec<String>> = a.name.map(|n| n.into_iter().flatten().collect());
        let packages = names
            .as_ref()
            .map(|n| recover_package_names(n).iter().map(|p| Package::parse(p)).collect())
            .unwrap_or_default();
        Pip {
            state: a.state,
            names,
            packages,
            version: a.version,
            requirements: a.requirements,
            env: a.virtualenv,
            site_packages: a.virtualenv_site_packages,
            venv_command: a.virtualenv_command,
            venv_python: a.virtualenv_python,
            extra: shlex::split(&a.extra_args.unwrap_or_default()).unwrap(),
            chdir: a.chdir.unwrap_or_else(|| "/tmp".into()),
            executable: a.executable,
            umask: a.umask,
            break_system: a.break_system_packages,
            has_vcs: false,
        }
    }

    fn found(list: &str, dry: &str) -> PipFound {
        PipFound {
            venv: true,
            pip: Some("/v/bin/pip3".into()),
            list: Some(list.into()),
            dry: Some((dry.into(), 0)),
        }
    }

    #[test]
    fn the_planner_follows_the_real_run() {
        let m = module(json!({"name": ["prov-demo==1.0"], "virtualenv": "/v", "extra_args": "--no-index --find-links /w"}));
        let p = plan_pip(&m, &found("pip==23.0.1\n", "Would install prov-demo-1.0\n")).unwrap();
        assert_eq!(p, PipPlan::Run(vec!["install prov-demo 1.0".into()]));
        let p = plan_pip(&m, &found("prov-demo==1.0\n", "Requirement already satisfied: prov-demo==1.0\n"));
        assert_eq!(p, Ok(PipPlan::Unchanged));
        let mut f = found("", "");
        f.venv = false;
        assert_eq!(plan_pip(&m, &f), Ok(PipPlan::CreateAndRun));
        let empty = module(json!({"name": [], "virtualenv": "/v"}));
        assert_eq!(plan_pip(&empty, &found("", "")), Ok(PipPlan::Unchanged));
        let mut f = found("", "");
        f.pip = None;
        assert!(plan_pip(&m, &f).unwrap_err().contains("Unable to find pip in the virtualenv, /v"));
        let f = PipFound { dry: Some(("ERROR: No matching distribution".into(), 1)), ..found("", "") };
        assert!(plan_pip(&m, &f).unwrap_err().contains("No matching distribution"));
        let f = PipFound {
            dry: Some(("pip install: error: no such option: --dry-run".into(), 2)),
            ..found("", "")
        };
        assert!(plan_pip(&m, &f).unwrap_err().contains("pip 22.2"));
        // absent: any installed version of a named package.
        let m = module(json!({"name": ["Prov_Demo<1"], "state": "absent", "virtualenv": "/v"}));
        let p = plan_pip(&m, &found("prov-demo==2.0\n", "")).unwrap();
        assert_eq!(p, PipPlan::Run(vec!["uninstall prov-demo".into()]));
        assert_eq!(plan_pip(&m, &found("pip==23\n", "")), Ok(PipPlan::Unchanged));
        // requirements: only what changes the freeze counts.
        let m = module(json!({"requirements": "/r.txt", "state": "forcereinstall", "virtualenv": "/v"}));
        let p = plan_pip(&m, &found("prov-demo==1.0\n", "Would install prov-demo-1.0\n"));
        assert_eq!(p, Ok(PipPlan::Unchanged));
    }

    #[test]
    fn scripts_quote_every_value() {
        let m = module(json!({"name": ["a b"], "virtualenv": "/v w", "extra_args": "--find-links '/x y'", "virtualenv_command": "python3 -m venv"}));
        assert_eq!(
            m.pip_call(&["install"], true).as_str(),
            "PATH=\"$env_dir/bin:$PATH\" P install --dry-run --find-links '/x y' 'a b'"
        );
        let c = m.create_venv();
        assert!(c.as_str().starts_with("set -- python3 -m venv\n"), "{}", c.as_str());
        assert!(!c.as_str().contains("-p$("), "venv takes no -p");
        assert!(m.prelude(false).as_str().contains("env_dir='/v w'"));
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "flask", "virtualenv": "/v"})).is_ok());
        assert!(build(json!({"virtualenv": "/v"})).is_err());
        assert!(build(json!({"name": "a", "requirements": "r"})).is_err());
        assert!(build(json!({"name": "a", "executable": "pip3", "virtualenv": "/v"})).is_err());
        assert!(build(json!({"name": "a", "version": "1", "state": "latest"})).is_err());
        assert!(build(json!({"name": ["a", "b"], "version": "1"})).is_err());
        assert!(build(json!({"name": "a>1", "version": "1"})).is_err());
        assert!(build(json!({"requirements": "r", "state": "absent"})).is_err());
        assert!(build(json!({"name": "a", "virtualenv": "~/v"})).is_err());
        assert!(build(json!({"name": "a", "umask": "0z"})).is_err());
        assert!(build(json!({"name": "a", "bogus": 1})).is_err());
    }
}
