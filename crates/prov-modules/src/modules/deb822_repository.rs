//! `deb822_repository`: an apt source in deb822 format, `/etc/apt/sources.list.d/NAME.sources`,
//! written exactly as Ansible's module writes it.
//!
//! ```yaml
//! deb822_repository:
//!   name: docker
//!   uris: https://download.docker.com/linux/debian
//!   suites: bookworm
//!   components: stable
//!   signed_by: /etc/apt/keyrings/docker.asc
//! ```
//!
//! The file name is the slug of `name` (lower case, runs of `_` and white space become `-`,
//! anything but `a-z0-9-` dropped). The fields are the given arguments in the order of their
//! names, one `Field: value` line each (`X-Repolib-Name` for `name`, `URIs`, the others in
//! title case: `Signed-By`, `Check-Valid-Until`), booleans `yes`/`no`, lists joined by spaces,
//! a value with line breaks (an inline key in `signed_by`) on indented lines after `Field:`,
//! blank lines written as `.`. `mode` (default 0644) is enforced on every run. `absent`
//! removes the file and the key files `/etc/apt/keyrings/SLUG.asc` and `.gpg`. apt's cache is
//! not updated (Ansible's module does not either). Returns `repo` (the text), `dest` and
//! `key_filename` (`signed_by` when it names a file on the host).
//!
//! Refused: a `signed_by` URL (Ansible downloads it; prov has no network access to give it).

use async_trait::async_trait;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Mode, Presence, StringList, de_opt_bool, de_opt_int};
use crate::remote_file::{mode_str, resolve_mode};
use crate::textfiles::{FileWrite, Probe, TextFiles, TextFilesFact, WriteFiles, py_space};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("deb822_repository", build);

/// Where Ansible puts downloaded keys.
pub const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

/// The `deb822_repository` module's arguments (Ansible's names).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Deb822Args {
    pub name: String,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub allow_downgrade_to_insecure: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub allow_insecure: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub allow_weak: Option<bool>,
    #[serde(default)]
    pub architectures: Option<StringList>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub by_hash: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub check_date: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub check_valid_until: Option<bool>,
    #[serde(default)]
    pub components: Option<StringList>,
    #[serde(default, deserialize_with = "de_opt_int")]
    pub date_max_future: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub inrelease_path: Option<String>,
    #[serde(default)]
    pub languages: Option<StringList>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub pdiffs: Option<bool>,
    #[serde(default)]
    pub signed_by: Option<String>,
    #[serde(default)]
    pub suites: Option<StringList>,
    #[serde(default)]
    pub targets: Option<StringList>,
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub trusted: Option<bool>,
    #[serde(default)]
    pub types: Option<StringList>,
    #[serde(default)]
    pub uris: Option<StringList>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub state: Presence,
}

/// Ansible's slug of a repository name.
pub fn slug(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut dashed = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if c == '_' || py_space(c) {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

fn format_multiline(v: &str) -> String {
    let lines: Vec<String> = py_strip_lines(v)
        .into_iter()
        .map(|l| {
            let t = crate::textfiles::py_strip(l);
            format!("    {}", if t.is_empty() { "." } else { t })
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

fn py_strip_lines(v: &str) -> Vec<&str> {
    crate::textfiles::py_lines(crate::textfiles::py_strip(v))
}

/// The fields in Ansible's order (sorted argument names) with their values as text.
pub fn fields(a: &Deb822Args) -> Vec<(&'static str, String)> {
    let b = |v: Option<bool>| v.map(|b| if b { "yes" } else { "no" }.to_owned());
    let l = |v: &Option<StringList>| v.as_ref().map(|l| l.0.join(" "));
    let all = [
        ("Allow-Downgrade-To-Insecure", b(a.allow_downgrade_to_insecure)),
        ("Allow-Insecure", b(a.allow_insecure)),
        ("Allow-Weak", b(a.allow_weak)),
        ("Architectures", l(&a.architectures)),
        ("By-Hash", b(a.by_hash)),
        ("Check-Date", b(a.check_date)),
        ("Check-Valid-Until", b(a.check_valid_until)),
        ("Components", l(&a.components)),
        ("Date-Max-Future", a.date_max_future.map(|d| d.to_string())),
        ("Enabled", b(a.enabled)),
        ("Inrelease-Path", a.inrelease_path.clone()),
        ("Languages", l(&a.languages)),
        ("X-Repolib-Name", Some(a.name.clone())),
        ("Pdiffs", b(a.pdiffs)),
        ("Signed-By", a.signed_by.clone()),
        ("Suites", l(&a.suites)),
        ("Targets", l(&a.targets)),
        ("Trusted", b(a.trusted)),
        (
            "Types",
            Some(a.types.as_ref().map_or("deb".into(), |t| t.0.join(" "))),
        ),
        ("URIs", l(&a.uris)),
    ];
    all.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .map(|(k, v)| {
            let v = if v.contains('\n') {
                format_multiline(&v)
            } else {
                v
            };
            (k, v)
        })
        .collect()
}

/// The file's text (python-debian's `Deb822.dump`).
pub fn render(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            if v.is_empty() || v.starts_with('\n') {
                format!("{k}:{v}\n")
            } else {
                format!("{k}: {v}\n")
            }
        })
        .collect()
}

/// True when Python's `urlparse` finds a scheme (Ansible then downloads the key).
fn has_url_scheme(v: &str) -> bool {
    let Some((scheme, _)) = v.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// The `deb822_repository` module.
#[derive(Debug)]
pub struct Deb822Repository {
    dest: String,
    slug: String,
    /// `None` for absent.
    content: Option<String>,
    mode: Mode,
    signed_by: Option<String>,
}

fn key_files(slug: &str) -> [String; 2] {
    ["asc", "gpg"].map(|ext| format!("{KEYRINGS_DIR}/{slug}.{ext}"))
}

impl Deb822Repository {
    fn fact(&self) -> TextFilesFact {
        let mut probes = vec![Probe::File(self.dest.clone())];
        let exists = |name: &str, path: &str| Probe::Command {
            name: name.into(),
            script: sh!("test -f {}", path),
        };
        if let Some(s) = &self.signed_by {
            probes.push(exists("signed_by", s));
        }
        for (i, k) in key_files(&self.slug).iter().enumerate() {
            probes.push(exists(["asc", "gpg"][i], k));
        }
        TextFilesFact::new(format!("deb822 source {}", self.dest), probes)
    }

    fn plan_absent(&self, found: &TextFiles) -> Plan {
        let mut writes = Vec::new();
        let mut summary = Vec::new();
        let mut diffs = Vec::new();
        if let Some(f) = found.file(&self.dest) {
            writes.push(FileWrite::remove(&self.dest));
            summary.push(format!("remove {}", self.dest));
            diffs.push(Diff::new(self.dest.clone(), f.content.clone(), ""));
        }
        for (ext, path) in ["asc", "gpg"].iter().zip(key_files(&self.slug)) {
            if found.command(ext).is_some_and(|c| c.status == 0) {
                summary.push(format!("remove {path}"));
                writes.push(FileWrite::remove(path));
            }
        }
        let [_, gpg] = key_files(&self.slug);
        Plan::unchanged()
            .with_result("repo", Value::Null)
            .with_result("dest", json!(self.dest))
            .with_result("key_filename", json!(gpg))
            .with_change(summary, diffs, WriteFiles { writes, ..WriteFiles::default() })
    }
}

#[async_trait]
impl Module for Deb822Repository {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let found = ctx.fact(&self.fact()).await?;
        let Some(content) = &self.content else {
            return Ok(self.plan_absent(&found));
        };
        let key_file = found
            .command("signed_by")
            .filter(|c| c.status == 0)
            .and(self.signed_by.clone());
        let plan = Plan::unchanged()
            .with_result("repo", json!(content))
            .with_result("dest", json!(self.dest))
            .with_result("key_filename", json!(key_file));
        let current = found.file(&self.dest);
        let want_mode = resolve_mode(&self.mode, current.map_or(0o644, |f| f.mode), false)?;
        let mut summary = Vec::new();
        let mut diffs = Vec::new();
        let mut action = WriteFiles::default();
        match current {
            Some(f) if f.content == *content => {
                if f.mode != want_mode {
                    summary.push(format!(
                        "{}: mode {} -> {}",
                        self.dest,
                        mode_str(f.mode),
                        mode_str(want_mode)
                    ));
                    action.then = Some(sh!("chmod {} {}", mode_str(want_mode), self.dest));
                }
            }
            _ => {
                let verb = if current.is_some() { "update" } else { "create" };
                summary.push(format!("{verb} {}", self.dest));
                diffs.push(Diff::new(
                    self.dest.clone(),
                    current.map_or("", |f| f.content.as_str()),
                    content.as_str(),
                ));
                action.writes.push(
                    FileWrite::write(&self.dest, content.clone())
                        .with_mode(Some(mode_str(want_mode))),
                );
            }
        }
        Ok(plan.with_change(summary, diffs, action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: Deb822Args = parse_args(args)?;
    if let Some(t) = &a.types
        && let Some(bad) = t.0.iter().find(|t| *t != "deb" && *t != "deb-src")
    {
        return Err(ModuleError::arg(
            "types",
            format!("value of types must be one or more of: deb, deb-src. Got no match for: {bad}"),
        ));
    }
    if let Some(s) = &a.signed_by
        && has_url_scheme(s)
    {
        return Err(ModuleError::arg(
            "signed_by",
            "a URL: Ansible downloads the key, prov does not fetch from the network; copy the key to the host (or give it inline) instead",
        ));
    }
    let slug = slug(&a.name);
    let dest = format!("/etc/apt/sources.list.d/{slug}.sources");
    let content = match a.state {
        Presence::Absent => None,
        Presence::Present => {
            let f = fields(&a);
            if let Some((k, _)) = f.iter().find(|(_, v)| v.ends_with('\n')) {
                return Err(ModuleError::args(format!(
                    "the value of {k} is empty lines only (python-debian refuses it)"
                )));
            }
            Some(render(&f))
        }
    };
    Ok(Box::new(Deb822Repository {
        dest,
        slug,
        content,
        mode: a.mode.unwrap_or(Mode::Octal(0o644)),
        signed_by: a.signed_by.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Deb822Args {
        parse_args(v).unwrap()
    }

    #[test]
    fn slugs_as_ansible() {
        assert_eq!(slug("Docker CE_stable  repo"), "docker-ce-stable-repo");
        assert_eq!(slug("nginx.org (mainline)"), "nginxorg-mainline");
    }

    #[test]
    fn the_file_is_formatted_as_ansible_does() {
        let a = args(json!({
            "name": "example", "uris": "https://x.example/apt", "suites": ["stable"],
            "components": ["main", "contrib"], "signed_by": "/etc/apt/keyrings/x.asc",
            "enabled": true, "check_valid_until": false, "architectures": "amd64,arm64",
            "date_max_future": 10
        }));
        assert_eq!(
            render(&fields(&a)),
            "Architectures: amd64 arm64\nCheck-Valid-Until: no\nComponents: main contrib\n\
             Date-Max-Future: 10\nEnabled: yes\nX-Repolib-Name: example\n\
             Signed-By: /etc/apt/keyrings/x.asc\nSuites: stable\nTypes: deb\n\
             URIs: https://x.example/apt\n"
        );
        let key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n  abc\n-----END PGP PUBLIC KEY BLOCK-----\n";
        let a = args(json!({"name": "k", "signed_by": key, "types": ["deb", "deb-src"], "components": []}));
        assert_eq!(
            render(&fields(&a)),
            "Components:\nX-Repolib-Name: k\nSigned-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    abc\n    -----END PGP PUBLIC KEY BLOCK-----\nTypes: deb deb-src\n"
        );
    }

    #[test]
    fn refused_arguments() {
        let e = |v: Value| build(v).map(|_| ()).unwrap_err().to_string();
        assert!(e(json!({"name": "x", "signed_by": "https://x/k.asc"})).contains("signed_by"));
        assert!(e(json!({"name": "x", "types": ["rpm"]})).contains("types"));
        assert!(e(json!({"name": "x", "uris": "u", "gpgkey": "k"})).contains("gpgkey"));
        assert!(build(json!({"name": "x", "signed_by": "/etc/k.gpg", "mode": "0600"})).is_ok());
        assert!(!has_url_scheme("-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: 1"));
        assert!(has_url_scheme("file:///k.asc"));
    }
}
