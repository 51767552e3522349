//! Small helpers shared by the server modules (`apt`, `service`, `firewall`, `user`, `sysctl`,
//! `timezone`, `service_facts`): the sectioned probe ([`Sectioned`], the one owner of the
//! `@@prov:` framing), and writing a text file through [`prov_core::transfer::put_file`].

use std::collections::{BTreeMap, HashMap};

use prov_core::transfer::{FileAttrs, put_file};
use prov_core::{CommandOutput, Fact, FactError, ModuleContext, ModuleError, Script, Stdin, sh};
use sha2::{Digest, Sha256};

/// The marker that starts a section in the output of a sectioned probe.
const MARK: &str = "@@prov:";

/// The section that closes every [`Sectioned`] probe: without it the answer was cut short.
const END: &str = "end";

/// One named part of a sectioned probe: the script whose output is the section's text.
pub struct Section {
    name: String,
    script: Script,
}

impl Section {
    /// Section `name`, holding what `script` prints.
    pub fn new(name: impl Into<String>, script: Script) -> Self {
        Self {
            name: name.into(),
            script,
        }
    }

    /// The section's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The script printing the section.
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// A section holding the content of the file at `path`, if it exists (read it back with
    /// [`Sections::file`]).
    pub fn file(name: impl Into<String>, path: &str) -> Self {
        Self::new(
            name,
            sh!(
                "if [ -e {} ]; then echo present; cat -- {} 2>/dev/null; fi",
                path,
                path
            ),
        )
    }

    /// A section holding the file a write to `path` must replace when `path` is a symbolic
    /// link (dangling or not): its target, resolved by `readlink -f`, or `!` when that fails (a
    /// loop, or a target inside a missing directory). Empty for any other path. Read it back
    /// with [`Sections::link`].
    pub fn link_target(name: impl Into<String>, path: &str) -> Self {
        Self::new(
            name,
            sh!(
                "if [ -L {} ]; then readlink -f -- {} 2>/dev/null || echo '!'; fi",
                path,
                path
            ),
        )
    }
}

/// A fact read by one probe made of named sections (several commands, one round trip). The
/// framing lives in [`Sectioned`]; an implementation only names its sections and parses them.
pub trait SectionedFact: Send + Sync {
    /// What the fact reads, typed.
    type Output;

    /// The fact's name for errors.
    fn name(&self) -> String;

    /// Script run before the first section (variables, `PATH`); prints nothing.
    fn prelude(&self) -> Script {
        Script::default()
    }

    /// The sections, in order.
    fn sections(&self) -> Vec<Section>;

    /// Parses the sections (every section named by [`SectionedFact::sections`] is present).
    fn parse_sections(&self, s: &Sections) -> Result<Self::Output, FactError>;
}

/// The [`Fact`] of a [`SectionedFact`]: the probe prints `@@prov:NAME` before each section
/// and `@@prov:end` last; an answer without every section and the end is a [`FactError`].
pub struct Sectioned<F>(pub F);

/// The shell line starting section `name` on a line of its own (the newline printed before the
/// marker is not part of the previous section's text: each section holds exactly its output).
fn marker(name: &str) -> Script {
    sh!("echo; echo {}", format!("{MARK}{name}"))
}

impl<F: SectionedFact> Fact for Sectioned<F> {
    type Output = F::Output;

    fn name(&self) -> String {
        self.0.name()
    }

    fn script(&self) -> Script {
        let mut s = self.0.prelude();
        for sec in self.0.sections() {
            s = s.then(&marker(&sec.name)).then(&sec.script);
        }
        s.then(&marker(END))
    }

    fn parse(&self, out: &CommandOutput) -> Result<Self::Output, FactError> {
        let text = out.stdout_text();
        let mut found = split_sections(&text);
        if found.remove(END).is_none() {
            return Err(self.probe_failed(out));
        }
        let sections = self.0.sections();
        if let Some(missing) = sections
            .iter()
            .map(|s| &s.name)
            .find(|n| !found.contains_key(*n))
        {
            return Err(self.error(format!("the answer has no section `{missing}`")));
        }
        let sections = Sections {
            fact: self.0.name(),
            text: found,
            status: out.status,
        };
        self.0.parse_sections(&sections)
    }
}

/// Splits a sectioned answer: each `@@prov:NAME` line starts a section, whose text is exactly
/// what its script printed (the newline printed before the next marker is removed). Text
/// before the first marker is dropped.
fn split_sections(text: &str) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.trim_end_matches(['\n', '\r']).strip_prefix(MARK) {
            if let Some(prev) = current.as_ref().and_then(|c| out.get_mut(c)) {
                prev.pop();
            }
            current = Some(name.to_owned());
            out.insert(name.to_owned(), String::new());
            continue;
        }
        if let Some(text) = current.as_ref().and_then(|c| out.get_mut(c)) {
            text.push_str(line);
        }
    }
    out
}

/// The sections of one answer, read by name.
#[derive(Debug)]
pub struct Sections {
    fact: String,
    text: HashMap<String, String>,
    status: i32,
}

impl Sections {
    /// A [`FactError`] for this answer.
    pub fn error(&self, detail: impl Into<String>) -> FactError {
        FactError {
            fact: self.fact.clone(),
            detail: detail.into(),
        }
    }

    /// The probe's exit status.
    pub fn status(&self) -> i32 {
        self.status
    }

    /// The text of section `name`, exactly as printed.
    pub fn get(&self, name: &str) -> Result<&str, FactError> {
        self.text
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| self.error(format!("the answer has no section `{name}`")))
    }

    /// A yes/no section: `yes` (one line) or nothing.
    pub fn flag(&self, name: &str) -> Result<bool, FactError> {
        match self.get(name)?.trim_end_matches('\n') {
            "yes" => Ok(true),
            "" => Ok(false),
            other => Err(self.error(format!(
                "section `{name}`: expected yes or nothing, found `{other}`"
            ))),
        }
    }

    /// A section of `key=value` lines (every line must have a `=`).
    pub fn pairs(&self, name: &str) -> Result<BTreeMap<String, String>, FactError> {
        self.get(name)?
            .lines()
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| self.error(format!("section `{name}`: `{l}` is not key=value")))
            })
            .collect()
    }

    /// An exit status printed by `echo $rc`, or `none` for a command that did not run.
    pub fn status_of(&self, name: &str) -> Result<Option<i32>, FactError> {
        match self.get(name)?.trim() {
            "none" => Ok(None),
            rc => rc
                .parse()
                .map(Some)
                .map_err(|_| self.error(format!("section `{name}`: `{rc}` is not an exit status"))),
        }
    }

    /// A [`Section::file`] section: the file's content when it exists.
    pub fn file(&self, name: &str) -> Result<Option<String>, FactError> {
        let text = self.get(name)?;
        if text.is_empty() {
            return Ok(None);
        }
        match text.strip_prefix("present\n") {
            Some(content) => Ok(Some(content.to_owned())),
            None => Err(self.error(format!("section `{name}` does not start with `present`"))),
        }
    }

    /// A [`Section::link_target`] section.
    pub fn link(&self, name: &str) -> Result<LinkTarget, FactError> {
        Ok(match self.get(name)?.trim_end_matches('\n') {
            "" => LinkTarget::NotALink,
            "!" => LinkTarget::Unresolvable,
            target if target.starts_with('/') && !target.contains('\n') => {
                LinkTarget::Target(target.to_owned())
            }
            other => {
                return Err(self.error(format!("section `{name}`: `{other}` is not a path")));
            }
        })
    }
}

/// What a path is for a write, from a [`Section::link_target`] section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// Not a symbolic link: the write replaces the path itself.
    NotALink,
    /// A symbolic link to this file.
    Target(String),
    /// A link that `readlink -f` cannot resolve (a loop, a target in a missing directory).
    Unresolvable,
}

impl LinkTarget {
    /// The path a write to `path` must go to: the link's resolved target when `path` is a
    /// symbolic link, so the write goes through the link and keeps it (as Ansible's
    /// `realpath`), else `path` itself.
    pub fn write_path(&self, module: &str, path: &str) -> Result<String, ModuleError> {
        match self {
            LinkTarget::NotALink => Ok(path.to_owned()),
            LinkTarget::Target(t) => Ok(t.clone()),
            LinkTarget::Unresolvable => Err(ModuleError::failed(format!(
                "{module}: {path} is a symbolic link that cannot be resolved (a loop, or its target's directory does not exist)"
            ))),
        }
    }
}

/// Reads a fact whose probe takes `input` on stdin (a secret to compare on the host, a
/// rendered file to check there).
pub async fn fact_with_input<F: Fact>(
    ctx: &ModuleContext<'_>,
    fact: &F,
    input: &[u8],
) -> Result<F::Output, ModuleError> {
    let out = ctx.run_with_input(&fact.script(), input).await?;
    Ok(fact.parse(&out)?)
}

/// Writes `content` to `path` on the host atomically (mode/owner per `attrs`). A link at `path`
/// is replaced: pass the [`LinkTarget::write_path`] of the path to write through it.
pub async fn write_text(
    ctx: &ModuleContext<'_>,
    path: &str,
    content: &str,
    attrs: &FileAttrs,
) -> Result<(), ModuleError> {
    let bytes = content.as_bytes();
    let sha = hex::encode(Sha256::digest(bytes));
    let out = put_file(
        ctx.conn,
        path,
        Stdin::Bytes(bytes),
        bytes.len() as u64,
        &sha,
        attrs,
        ctx.become_.cloned(),
    )
    .await?;
    if out.success() {
        Ok(())
    } else {
        Err(ModuleError::Remote {
            command: format!("write {path}"),
            status: out.status,
            stderr: out.stderr_text(),
        })
    }
}

/// Turns a command's output into a failure naming the command and its stderr (or stdout when
/// stderr is empty) unless it exited 0.
pub fn check_output(command: &str, out: &prov_core::CommandOutput) -> Result<(), ModuleError> {
    if out.success() {
        return Ok(());
    }
    let mut stderr = out.stderr_text();
    if stderr.is_empty() {
        stderr = out.stdout_text().trim().to_owned();
    }
    Err(ModuleError::Remote {
        command: command.to_owned(),
        status: out.status,
        stderr,
    })
}

/// Outputs for unit tests of facts: captured answers and real local shells.
#[cfg(test)]
pub(crate) mod testing {
    use prov_core::{CommandOutput, ModuleError, Script};

    /// The argument a module's builder refused (`None` when it built); any other failure is a
    /// test error.
    pub fn refused_field<T>(built: Result<T, ModuleError>) -> Option<String> {
        match built {
            Ok(_) => None,
            Err(ModuleError::Args(e)) => e.field,
            Err(e) => panic!("{e}"),
        }
    }

    /// A captured answer.
    pub fn output(status: i32, stdout: &str, stderr: &str) -> CommandOutput {
        CommandOutput {
            status,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    /// Runs `script` in a local `sh`, `PATH` starting at `bin` when given.
    pub fn sh(script: &Script, bin: Option<&std::path::Path>) -> CommandOutput {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(script.as_str());
        if let Some(b) = bin {
            cmd.env("PATH", format!("{}:/usr/bin:/bin", b.display()));
        }
        let out = cmd.output().expect("sh");
        CommandOutput {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe of three sections, the last one a link target.
    struct Probe(String);

    impl SectionedFact for Probe {
        type Output = (String, bool, String);

        fn name(&self) -> String {
            "probe".into()
        }

        fn sections(&self) -> Vec<Section> {
            vec![
                Section::new("a", Script::text("printf 'x\\ny'")),
                Section::new("b", Script::text("[ -d / ] && echo yes")),
                Section::link_target("t", &self.0),
                Section::file("f", "/proc/self/nonexistent"),
            ]
        }

        fn parse_sections(&self, s: &Sections) -> Result<Self::Output, FactError> {
            let t = s
                .link("t")?
                .write_path("m", &self.0)
                .map_err(|e| s.error(e.to_string()))?;
            assert_eq!(s.file("f")?, None);
            Ok((s.get("a")?.to_owned(), s.flag("b")?, t))
        }
    }

    fn run(script: &Script) -> CommandOutput {
        testing::sh(script, None)
    }

    fn answer(stdout: &str) -> CommandOutput {
        testing::output(0, stdout, "")
    }

    #[test]
    fn sections_hold_exactly_what_was_printed() {
        let f = Sectioned(Probe("/nonexistent".into()));
        let got = f.parse(&run(&f.script())).unwrap();
        assert_eq!(got, ("x\ny".into(), true, "/nonexistent".into()));
    }

    #[test]
    fn a_short_or_malformed_answer_names_the_fact() {
        let f = Sectioned(Probe("/x".into()));
        let cut = f
            .parse(&answer("\n@@prov:a\nx\n@@prov:b\nyes\n"))
            .unwrap_err();
        assert_eq!(cut.fact, "probe");
        let missing = f.parse(&answer("\n@@prov:a\nx\n@@prov:end\n")).unwrap_err();
        assert!(missing.detail.contains("no section `b`"), "{missing:?}");
        let bad = f
            .parse(&answer(
                "@@prov:a\n\n@@prov:b\nmaybe\n@@prov:t\n\n@@prov:f\n\n@@prov:end\n",
            ))
            .unwrap_err();
        assert!(bad.detail.contains("expected yes"), "{bad:?}");
    }

    #[test]
    fn pairs_and_files_refuse_malformed_text() {
        let s = Sections {
            fact: "f".into(),
            text: HashMap::from([
                ("p".to_owned(), "a=1\nb=\n".to_owned()),
                ("q".to_owned(), "a=1\nzz\n".to_owned()),
                ("f".to_owned(), "present\nx\n".to_owned()),
                ("g".to_owned(), "x\n".to_owned()),
            ]),
            status: 0,
        };
        let p = s.pairs("p").unwrap();
        assert_eq!((p["a"].as_str(), p["b"].as_str()), ("1", ""));
        assert!(s.pairs("q").unwrap_err().detail.contains("`zz`"));
        assert!(s.get("nope").is_err());
        assert_eq!(s.file("f").unwrap().as_deref(), Some("x\n"));
        assert!(s.file("g").is_err());
    }

    /// Runs a link-target section in a real shell on `path`.
    fn resolve(path: &str) -> Result<String, ModuleError> {
        let f = Sectioned(Probe(path.to_owned()));
        let out = run(&f.script());
        let secs = Sections {
            fact: "t".into(),
            text: split_sections(&out.stdout_text()),
            status: 0,
        };
        secs.link("t")?.write_path("m", path)
    }

    #[test]
    fn write_target_goes_through_links() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonicalize");
        let p = |n: &str| dir.path().join(n).display().to_string();
        let r = |n: &str| root.join(n).display().to_string();
        std::fs::write(dir.path().join("real.conf"), "x\n").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        symlink("../real.conf", dir.path().join("sub/link.conf")).expect("symlink");
        symlink("sub/link.conf", dir.path().join("chain.conf")).expect("symlink");
        symlink("missing.conf", dir.path().join("dangling.conf")).expect("symlink");
        symlink("nodir/x.conf", dir.path().join("deep.conf")).expect("symlink");
        symlink("loop.conf", dir.path().join("loop.conf")).expect("symlink");

        assert_eq!(resolve(&p("real.conf")).unwrap(), p("real.conf"));
        assert_eq!(resolve(&p("absent.conf")).unwrap(), p("absent.conf"));
        assert_eq!(resolve(&p("sub/link.conf")).unwrap(), r("real.conf"));
        assert_eq!(resolve(&p("chain.conf")).unwrap(), r("real.conf"));
        assert_eq!(resolve(&p("dangling.conf")).unwrap(), r("missing.conf"));
        for bad in ["deep.conf", "loop.conf"] {
            let e = resolve(&p(bad)).unwrap_err().to_string();
            assert!(e.contains("cannot be resolved"), "{e}");
        }
        let odd = p("it's $(x).conf");
        assert_eq!(resolve(&odd).unwrap(), odd);
    }
}
