//! `modprobe` (community.general.modprobe): load or unload a kernel module, and persist it in
//! `/etc/modules-load.d/NAME.conf` and its options in `/etc/modprobe.d/NAME.conf`.
//!
//! ```yaml
//! modprobe: { name: br_netfilter, state: present, persistent: present }
//! ```
//!
//! One probe reads `/proc/modules`, `modules.builtin` of the running kernel, and every file
//! of both directories. As the collection's module: a module is loaded when `/proc/modules`
//! lists it or `modules.builtin` names it (either file missing fails the task with Python's
//! message); loading or unloading is first tried with `modprobe -n` while planning, so check
//! mode fails as Ansible's does and a real run fails before changing anything; persistence
//! writes files exactly as the module does, including its way of commenting lines out
//! (`'\n'.join` of lines that keep their newlines). Every argument is implemented.

use async_trait::async_trait;
use prov_core::{Action, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::textfiles::{FileWrite, Probe, TextFile, TextFiles, TextFilesFact, apply_writes};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("modprobe", build);

const MODULES_LOAD: &str = "/etc/modules-load.d";
const PARAMETERS: &str = "/etc/modprobe.d";
const BIN_PATHS: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn d_present() -> String {
    "present".into()
}
fn d_disabled() -> String {
    "disabled".into()
}

/// The `modprobe` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModprobeArgs {
    /// The kernel module.
    pub name: String,
    /// present (default) or absent.
    #[serde(default = "d_present")]
    pub state: String,
    /// Module parameters (`a=1 b=2`).
    #[serde(default, deserialize_with = "crate::args::de_opt_string")]
    pub params: Option<String>,
    /// disabled (default), present or absent.
    #[serde(default = "d_disabled")]
    pub persistent: String,
}

/// The line patterns the module matches, for one module name.
pub struct Patterns {
    module: Regex,
    params: Regex,
}

impl Patterns {
    /// The patterns for `name` (`re_find_module`, `re_find_params`/`re_get_params_and_values`).
    pub fn new(name: &str) -> Self {
        let n = regex::escape(name);
        Self {
            module: Regex::new(&format!(r"^ *{n} *(?:[#;].*)?\n?\z")).expect("regex"),
            params: Regex::new(&format!(r"^options {n} (\w+=\S+) *(?:[#;].*)?\n?\z"))
                .expect("regex"),
        }
    }
}

fn lines(content: &str) -> Vec<&str> {
    content.split_inclusive('\n').collect()
}

/// Whether any modules-load.d file lists the module.
pub fn persisted(p: &Patterns, files: &[TextFile]) -> bool {
    files
        .iter()
        .any(|f| lines(&f.content).iter().any(|l| p.module.is_match(l)))
}

/// The `key=value` options of the module set in modprobe.d files.
pub fn permanent_params(p: &Patterns, files: &[TextFile]) -> std::collections::BTreeSet<String> {
    files
        .iter()
        .flat_map(|f| lines(&f.content).into_iter().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|l| p.params.captures(&l).map(|c| c[1].to_owned()))
        .collect()
}

/// The file with every line matching `re` commented out, as the module writes it back
/// (`'\n'.join` of lines keeping their newline); `None` when no line matches.
pub fn comment_out(content: &str, re: &Regex) -> Option<String> {
    let mut changed = false;
    let out: Vec<String> = lines(content)
        .into_iter()
        .map(|l| {
            if re.is_match(l) {
                changed = true;
                format!("#{l}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    changed.then(|| out.join("\n"))
}

/// The options file's content for `params`.
pub fn options_content(name: &str, params: &str) -> String {
    let v: Vec<String> = params
        .split_whitespace()
        .map(|p| format!("options {name} {p}"))
        .collect();
    v.join("\n") + "\n"
}

/// What the probe read.
#[derive(Debug, Clone, Default)]
pub struct ModprobeState {
    /// The files of /etc/modules-load.d.
    pub load_files: Vec<TextFile>,
    /// The files of /etc/modprobe.d.
    pub option_files: Vec<TextFile>,
    /// /etc/modprobe.d exists (the module writes into it without creating it).
    pub options_dir: bool,
    /// /etc/modules-load.d exists.
    pub load_dir: bool,
}

/// The file writes persistence needs (`persistent: present|absent`), in the module's order.
pub fn plan_persistence(
    name: &str,
    params: &str,
    persistent: &str,
    st: &ModprobeState,
) -> Result<Vec<FileWrite>, String> {
    let p = Patterns::new(name);
    let is_persisted = persisted(&p, &st.load_files);
    let current = permanent_params(&p, &st.option_files);
    let wanted: std::collections::BTreeSet<String> =
        params.split_whitespace().map(str::to_owned).collect();
    let mut writes = Vec::new();
    let disable = |files: &[TextFile], re: &Regex, w: &mut Vec<FileWrite>| {
        for f in files {
            if let Some(c) = comment_out(&f.content, re) {
                w.push(FileWrite::write(f.path.clone(), c));
            }
        }
    };
    let missing = |dir: &str| format!("[Errno 2] No such file or directory: '{dir}/{name}.conf'");
    match persistent {
        "present" if !(is_persisted && wanted == current) => {
            if !is_persisted {
                if !st.load_dir {
                    return Err(missing(MODULES_LOAD));
                }
                writes.push(FileWrite::write(
                    format!("{MODULES_LOAD}/{name}.conf"),
                    format!("{name}\n"),
                ));
            }
            if wanted != current {
                disable(&st.option_files, &p.params, &mut writes);
                if !st.options_dir {
                    return Err(missing(PARAMETERS));
                }
                writes.push(FileWrite::write(
                    format!("{PARAMETERS}/{name}.conf"),
                    options_content(name, params),
                ));
            }
        }
        "absent" if is_persisted || !current.is_empty() => {
            if is_persisted {
                disable(&st.load_files, &p.module, &mut writes);
            }
            if !current.is_empty() {
                disable(&st.option_files, &p.params, &mut writes);
            }
        }
        _ => {}
    }
    Ok(writes)
}

/// Whether the module is loaded, as `module_loaded()` decides; `Err` is Python's message for
/// a file it cannot open.
pub fn loaded(name: &str, found: &TextFiles, release: &str) -> Result<bool, String> {
    let Some(modules) = found.file("/proc/modules") else {
        return Err("[Errno 2] No such file or directory: '/proc/modules'".into());
    };
    let prefix = format!("{} ", name.replace('-', "_"));
    if modules.content.lines().any(|l| l.starts_with(&prefix)) {
        return Ok(true);
    }
    let builtin = found.command("builtin").filter(|b| b.status == 0);
    let Some(b) = builtin else {
        return Err(format!(
            "[Errno 2] No such file or directory: '/lib/modules/{release}/modules.builtin'"
        ));
    };
    let file = format!("/{name}.ko");
    Ok(b.stdout.lines().any(|l| l.trim_end().ends_with(&file)))
}

/// The `modprobe` module.
#[derive(Debug)]
pub struct Modprobe {
    name: String,
    state: String,
    params: String,
    persistent: String,
}

impl Modprobe {
    fn result(&self, changed: bool) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("changed".into(), json!(changed));
        m.insert("name".into(), json!(self.name));
        m.insert("params".into(), json!(self.params));
        m.insert("state".into(), json!(self.state));
        m
    }

    /// The modprobe command: load (`-n` for a dry run) or unload.
    fn command(&self, load: bool, dry: bool) -> Script {
        let words: Vec<String> = shlex::split(&self.params).unwrap_or_default();
        let mut s = Script::text("PATH=$PATH:/usr/sbin:/sbin; modprobe");
        if load {
            if dry {
                s = s.then_text(" -n");
            }
            s = s.arg(self.name.as_str());
            words.iter().fold(s, |s, w| s.arg(w.as_str()))
        } else {
            s = s.then_text(" -r").arg(self.name.as_str());
            if dry { s.then_text(" -n") } else { s }
        }
    }

    async fn run_modprobe(
        &self,
        ctx: &ModuleContext<'_>,
        script: &Script,
    ) -> Result<(), ModuleError> {
        let out = ctx.run(script).await?;
        if out.success() {
            return Ok(());
        }
        let err = out.stderr_text();
        let mut r = self.result(false);
        r.insert("rc".into(), json!(out.status));
        r.insert("stdout".into(), json!(out.stdout_text()));
        r.insert("stderr".into(), json!(err));
        Err(ModuleError::failed_with(err, r))
    }
}

/// Loads or unloads, then writes the persistence files.
struct ModprobeAction {
    modprobe: Option<Script>,
    writes: Vec<FileWrite>,
    fail: Map<String, Value>,
}

#[async_trait]
impl Action for ModprobeAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        if let Some(s) = &self.modprobe {
            let out = ctx.run(s).await?;
            if !out.success() {
                let mut r = self.fail.clone();
                let err = out.stderr_text();
                r.insert("rc".into(), json!(out.status));
                r.insert("stdout".into(), json!(out.stdout_text()));
                r.insert("stderr".into(), json!(err));
                return Err(ModuleError::failed_with(err, r));
            }
        }
        apply_writes(ctx, &self.writes).await?;
        Ok(Outcome::default())
    }
}

fn probe() -> TextFilesFact {
    let cmd = |name: &str, script: Script| Probe::Command {
        name: name.into(),
        script,
    };
    TextFilesFact::new(
        "modprobe",
        vec![
            cmd(
                "bin",
                Script::text("PATH=$PATH:/usr/sbin:/sbin; command -v modprobe"),
            ),
            cmd("release", Script::text("uname -r")),
            Probe::File("/proc/modules".into()),
            cmd(
                "builtin",
                Script::text("cat \"/lib/modules/$(uname -r)/modules.builtin\""),
            ),
            cmd("load_dir", sh!("test -d {}", MODULES_LOAD)),
            cmd("options_dir", sh!("test -d {}", PARAMETERS)),
            Probe::Glob {
                dir: MODULES_LOAD.into(),
                suffix: String::new(),
            },
            Probe::Glob {
                dir: PARAMETERS.into(),
                suffix: String::new(),
            },
        ],
    )
}

fn state_of(found: &TextFiles) -> ModprobeState {
    let under = |dir: &str| -> Vec<TextFile> {
        let prefix = format!("{dir}/");
        found
            .files
            .iter()
            .filter(|f| f.path.starts_with(&prefix))
            .cloned()
            .collect()
    };
    let ok = |n: &str| found.command(n).is_some_and(|c| c.status == 0);
    ModprobeState {
        load_files: under(MODULES_LOAD),
        option_files: under(PARAMETERS),
        options_dir: ok("options_dir"),
        load_dir: ok("load_dir"),
    }
}

#[async_trait]
impl Module for Modprobe {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let found = ctx.fact(&probe()).await?;
        if found.command("bin").is_none_or(|c| c.status != 0) {
            return Err(ModuleError::failed(format!(
                "Failed to find required executable \"modprobe\" in paths: {BIN_PATHS}"
            )));
        }
        let release = found.command("release").map_or("", |c| c.stdout.trim());
        let is_loaded = loaded(&self.name, &found, release)
            .map_err(|e| ModuleError::failed_with(e, self.result(false)))?;
        let load = match self.state.as_str() {
            "present" if !is_loaded => Some(true),
            "absent" if is_loaded => Some(false),
            _ => None,
        };
        let mut lines = Vec::new();
        if let Some(l) = load {
            // The dry run the module's check mode runs: a failure fails the task here.
            self.run_modprobe(ctx, &self.command(l, true)).await?;
            let verb = if l { "load" } else { "unload" };
            lines.push(format!("{verb} kernel module {}", self.name));
        }
        let st = state_of(&found);
        let writes = plan_persistence(&self.name, &self.params, &self.persistent, &st)
            .map_err(|e| ModuleError::failed_with(e, self.result(!lines.is_empty())))?;
        for w in &writes {
            lines.push(format!("write {}", w.path));
        }
        let plan = Plan::unchanged()
            .with_result("name", json!(self.name))
            .with_result("params", json!(self.params))
            .with_result("state", json!(self.state));
        if lines.is_empty() {
            return Ok(plan);
        }
        let action = ModprobeAction {
            modprobe: load.map(|l| self.command(l, false)),
            writes,
            fail: self.result(false),
        };
        Ok(plan.with_change(lines, vec![], action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: ModprobeArgs = parse_args(args)?;
    for (field, v, choices) in [
        ("state", &a.state, &["absent", "present"][..]),
        ("persistent", &a.persistent, &["disabled", "present", "absent"][..]),
    ] {
        if !choices.contains(&v.as_str()) {
            return Err(ModuleError::arg(
                field,
                format!("value of {field} must be one of: {}, got: {v}", choices.join(", ")),
            ));
        }
    }
    if a.name.is_empty() || a.name.contains(['/', '\n']) {
        return Err(ModuleError::arg("name", "not a kernel module name"));
    }
    Ok(Box::new(Modprobe {
        name: a.name,
        state: a.state,
        params: a.params.unwrap_or_default(),
        persistent: a.persistent,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::textfiles::CommandAnswer;

    fn file(path: &str, content: &str) -> TextFile {
        TextFile {
            path: path.into(),
            link_target: None,
            mode: 0o644,
            content: content.into(),
        }
    }

    fn st(load: &[(&str, &str)], opts: &[(&str, &str)]) -> ModprobeState {
        ModprobeState {
            load_files: load.iter().map(|(p, c)| file(p, c)).collect(),
            option_files: opts.iter().map(|(p, c)| file(p, c)).collect(),
            options_dir: true,
            load_dir: true,
        }
    }

    fn writes(name: &str, params: &str, persistent: &str, s: &ModprobeState) -> Vec<(String, String)> {
        plan_persistence(name, params, persistent, s)
            .unwrap()
            .into_iter()
            .map(|w| (w.path, w.content.unwrap()))
            .collect()
    }

    #[test]
    fn persistence_writes_what_the_module_writes() {
        let empty = st(&[], &[]);
        assert_eq!(
            writes("dummy", "", "present", &empty),
            [("/etc/modules-load.d/dummy.conf".into(), "dummy\n".into())]
        );
        assert_eq!(
            writes("dummy", "numdummies=2  x=1", "present", &empty),
            [
                ("/etc/modules-load.d/dummy.conf".into(), "dummy\n".into()),
                (
                    "/etc/modprobe.d/dummy.conf".into(),
                    "options dummy numdummies=2\noptions dummy x=1\n".into()
                )
            ]
        );
        // Converged: nothing.
        let done = st(
            &[("/etc/modules-load.d/m.conf", "# x\n dummy  # mine\n")],
            &[("/etc/modprobe.d/dummy.conf", "options dummy numdummies=2\n")],
        );
        assert!(writes("dummy", "numdummies=2", "present", &done).is_empty());
        // Other params: the old line is commented out ('\n'.join keeps the newlines).
        assert_eq!(
            writes("dummy", "numdummies=3", "present", &done),
            [
                ("/etc/modprobe.d/dummy.conf".into(), "#options dummy numdummies=2\n".into()),
                ("/etc/modprobe.d/dummy.conf".into(), "options dummy numdummies=3\n".into())
            ]
        );
        assert_eq!(
            writes("dummy", "", "absent", &done),
            [
                ("/etc/modules-load.d/m.conf".into(), "# x\n\n# dummy  # mine\n".into()),
                ("/etc/modprobe.d/dummy.conf".into(), "#options dummy numdummies=2\n".into())
            ]
        );
        assert!(writes("dummy", "", "absent", &empty).is_empty());
        assert!(writes("dummy", "", "disabled", &empty).is_empty());
        let nodir = ModprobeState {
            options_dir: false,
            ..st(&[], &[])
        };
        assert_eq!(
            plan_persistence("dummy", "a=1", "present", &nodir).unwrap_err(),
            "[Errno 2] No such file or directory: '/etc/modprobe.d/dummy.conf'"
        );
    }

    #[test]
    fn patterns_match_as_the_modules_regexes() {
        let p = Patterns::new("dummy");
        assert!(p.module.is_match("dummy\n"));
        assert!(p.module.is_match("  dummy ;x\n"));
        assert!(!p.module.is_match("dummy2\n"));
        assert!(!p.module.is_match("#dummy\n"));
        assert!(p.params.is_match("options dummy a=1 # c\n"));
        assert!(!p.params.is_match("options dummy a=1 b=2\n"));
    }

    fn found(modules: Option<&str>, builtin: Option<&str>) -> TextFiles {
        TextFiles {
            files: modules.map(|m| file("/proc/modules", m)).into_iter().collect(),
            missing: vec![],
            commands: builtin
                .map(|b| {
                    let a = CommandAnswer {
                        status: 0,
                        stdout: b.into(),
                    };
                    ("builtin".to_string(), a)
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn loaded_reads_proc_modules_then_builtins() {
        let m = "nf_tables 1 0 - Live 0x0\nbr_netfilter 2 0 - Live 0x0\n";
        assert_eq!(loaded("br-netfilter", &found(Some(m), None), "6"), Ok(true));
        assert_eq!(
            loaded("dummy", &found(Some(m), Some("kernel/net/ipv4/dummy.ko\n")), "6"),
            Ok(true)
        );
        assert_eq!(loaded("dummy", &found(Some(m), Some("")), "6"), Ok(false));
        assert_eq!(
            loaded("dummy", &found(Some(m), None), "6.1").unwrap_err(),
            "[Errno 2] No such file or directory: '/lib/modules/6.1/modules.builtin'"
        );
        assert_eq!(
            loaded("dummy", &found(None, None), "6").unwrap_err(),
            "[Errno 2] No such file or directory: '/proc/modules'"
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "dummy", "persistent": "present", "params": "a=1"})).is_ok());
        assert!(build(json!({"name": "dummy", "persistent": "yes"})).is_err());
        assert!(build(json!({"name": "dummy", "force": true})).is_err());
        let m = Modprobe {
            name: "dummy".into(),
            state: "present".into(),
            params: "a=1 'b=x y'".into(),
            persistent: "disabled".into(),
        };
        assert_eq!(
            m.command(true, true).as_str(),
            "PATH=$PATH:/usr/sbin:/sbin; modprobe -n dummy a=1 'b=x y'"
        );
        assert_eq!(
            m.command(false, true).as_str(),
            "PATH=$PATH:/usr/sbin:/sbin; modprobe -r dummy -n"
        );
    }
}
