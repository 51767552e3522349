//! `mount` (`ansible.posix.mount`): a file system's line in `fstab` and its mount state, as
//! Ansible's module on Linux.
//!
//! ```yaml
//! mount: { path: /srv/cache, src: tmpfs, fstype: tmpfs, opts: size=64m, state: mounted }
//! ```
//!
//! `fstab` lines as Ansible writes them: `src path fstype opts dump passno` separated by single
//! spaces, with space, `&` and `\` escaped (`\040`, `\046`, `\134`); the line whose mount point
//! matches (for swap, whose `src` matches) is rewritten when a field differs (a line of four or
//! five fields always is, as in Ansible, and once one line changed every later matching line is
//! rewritten too), else a line is appended. `boot: no` adds `noauto`. States: `present`
//! (fstab only), `absent_from_fstab`, `absent` (the line removed — only lines of six fields, as
//! Ansible — then unmounted and the directory removed), `unmounted`, `mounted` (the directory
//! created (and removed again when the mount fails), the line written, then `mount [-T FSTAB] PATH`, or `mount -o remount` when the line
//! changed on a mounted path; a failed mount puts the old fstab back and fails with Ansible's
//! message), `remounted` (always a change). A path counts as mounted when
//! `/proc/self/mountinfo` lists it (`findmnt --mountpoint`). A missing fstab is created when
//! written. Returns Ansible's fields (`name`, `src`, `fstype`, `opts`, `dump`, `passno`,
//! `fstab`, `boot`, `backup_file`, `warnings`).
//!
//! Refused: `state: ephemeral`, `backup: true`, `opts_no_log`.

use async_trait::async_trait;
use prov_core::{Diff, Module, ModuleContext, ModuleError, Plan, RunScript, Script, sh};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::de_bool;
use crate::textfiles::{FileWrite, Probe, TextFilesFact, WriteFiles};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("mount", build);

/// The `mount` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountArgs {
    /// The mount point.
    #[serde(alias = "name")]
    pub path: String,
    /// The device or source.
    #[serde(default)]
    pub src: Option<String>,
    /// The file system type.
    #[serde(default)]
    pub fstype: Option<String>,
    /// Mount options (default `defaults`).
    #[serde(default)]
    pub opts: Option<String>,
    /// The dump field (default 0).
    #[serde(default, deserialize_with = "de_opt_text")]
    pub dump: Option<String>,
    /// The passno field (default 0).
    #[serde(default, deserialize_with = "de_opt_text")]
    pub passno: Option<String>,
    /// The fstab file (default `/etc/fstab`).
    #[serde(default)]
    pub fstab: Option<String>,
    /// Mount at boot (no: `noauto`).
    #[serde(default = "crate::args::yes", deserialize_with = "de_bool")]
    pub boot: bool,
    /// Only `false`.
    #[serde(default, deserialize_with = "de_bool")]
    pub backup: bool,
    /// Only `false`.
    #[serde(default, deserialize_with = "de_bool")]
    pub opts_no_log: bool,
    /// The state (required).
    pub state: MountState,
}

fn de_opt_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string, found {other}"))),
    }
}

/// The `state` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum MountState {
    Present,
    Absent,
    AbsentFromFstab,
    Mounted,
    Unmounted,
    Remounted,
    Ephemeral,
}

/// The fstab entry's fields (unescaped, as given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Source.
    pub src: String,
    /// Mount point.
    pub name: String,
    /// Type.
    pub fstype: String,
    /// Options.
    pub opts: String,
    /// dump.
    pub dump: String,
    /// passno.
    pub passno: String,
    /// Whether `src` was given (the swap rule).
    pub src_given: bool,
}

/// Ansible's `_escape_fstab`.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\134").replace(' ', "\\040").replace('&', "\\046")
}

fn is_other_line(ld_name: &str, ld_fstype: &str, ld_src: &str, e: &Entry) -> bool {
    ld_name != escape(&e.name)
        || (e.src_given && ld_name == "none" && ld_fstype == "swap" && ld_src != e.src)
}

/// Ansible's `_set_mount_save_old`: the new fstab and whether it changed.
pub fn set_mount(content: &str, e: &Entry) -> (String, bool) {
    let want = [escape(&e.src), escape(&e.fstype), escape(&e.opts), escape(&e.dump), escape(&e.passno)];
    let mut out = String::new();
    let (mut exists, mut changed) = (false, false);
    for raw in content.split_inclusive('\n') {
        let line = if raw.ends_with('\n') { raw.to_owned() } else { format!("{raw}\n") };
        let stripped = line.trim();
        let fields: Vec<&str> = line.split('#').next().unwrap_or("").split_whitespace().collect();
        if stripped.is_empty() || stripped.starts_with('#') || !(4..=6).contains(&fields.len()) {
            out.push_str(&line);
            continue;
        }
        if is_other_line(fields[1], fields[2], fields[0], e) {
            out.push_str(&line);
            continue;
        }
        exists = true;
        // A missing dump/passno is Python's integer 0: never equal to the string argument.
        let mut ld: Vec<Option<String>> = fields.iter().map(|f| Some((*f).to_owned())).collect();
        ld.resize(6, None);
        for (i, w) in [(0, &want[0]), (2, &want[1]), (3, &want[2]), (4, &want[3]), (5, &want[4])] {
            if ld[i].as_deref() != Some(w.as_str()) {
                ld[i] = Some(w.clone());
                changed = true;
            }
        }
        if changed {
            let f: Vec<String> = ld.into_iter().map(|x| x.unwrap_or_else(|| "0".into())).collect();
            out.push_str(&format!("{}\n", f.join(" ")));
        } else {
            out.push_str(&line);
        }
    }
    if !exists {
        let n = escape(&e.name);
        out.push_str(&format!("{} {n} {} {} {} {}\n", want[0], want[1], want[2], want[3], want[4]));
        changed = true;
    }
    (out, changed)
}

/// Ansible's `unset_mount`: the fstab without the path's six-field lines.
pub fn unset_mount(content: &str, e: &Entry) -> (String, bool) {
    let mut out = String::new();
    let mut changed = false;
    for line in content.split_inclusive('\n') {
        let f: Vec<&str> = line.split_whitespace().collect();
        let keep = line.trim().is_empty()
            || line.trim().starts_with('#')
            || f.len() != 6
            || is_other_line(f[1], f[2], f[0], e);
        if keep {
            out.push_str(line);
        } else {
            changed = true;
        }
    }
    (out, changed)
}

/// The `mount` module.
#[derive(Debug)]
pub struct Mount {
    entry: Entry,
    fstab: String,
    fstab_given: bool,
    state: MountState,
    boot: bool,
    warnings: Vec<String>,
}

impl Mount {
    fn fstab_args(&self) -> Script {
        if self.fstab_given && self.fstab != "/etc/fstab" {
            sh!(" -T {}", self.fstab)
        } else {
            Script::default()
        }
    }

    /// `mount` of the path, failing with Ansible's message.
    fn mount_script(&self) -> Script {
        let name = &self.entry.name;
        sh!(
            "c=; [ -e {} ] || c=1\nmkdir -p -- {}\no=$(mount{} {} 2>&1) || {{ [ -z \"$c\" ] || rmdir -- {}; printf 'Error mounting %s: %s' {} \"$o\" >&2; exit 1; }}",
            name,
            name,
            self.fstab_args(),
            name,
            name,
            name
        )
    }

    /// Ansible's `remount`: `mount -o remount[,OPTS]`, else unmount and mount.
    fn remount_script(&self) -> Script {
        let name = &self.entry.name;
        let opts = if self.state == MountState::Remounted && self.entry.opts != "defaults" {
            format!("remount,{}", self.entry.opts)
        } else {
            "remount".into()
        };
        let fallback = if self.state == MountState::Remounted && self.entry.opts != "defaults" {
            Script::text("{ echo 'Options were specified with remounted, but the remount command failed. Failing in order to prevent an unexpected mount result. Try replacing this command with a \"state: unmounted\" followed by a \"state: mounted\" using the full desired mount options instead.' >&2; exit 1; }")
        } else {
            sh!(
                "{{ o=$(umount {} 2>&1 && mount{} {} 2>&1) || {{ printf 'Error mounting %s: %s' {} \"$o\" >&2; exit 1; }}; }}",
                name,
                self.fstab_args(),
                name,
                name
            )
        };
        sh!("mount -o {}{} {} >/dev/null 2>&1 || {}", opts, self.fstab_args(), name, fallback)
    }

    fn result(&self, plan: Plan) -> Plan {
        let e = &self.entry;
        let mut plan = plan
            .with_result("name", json!(e.name))
            .with_result("opts", json!(e.opts))
            .with_result("dump", json!(e.dump))
            .with_result("passno", json!(e.passno))
            .with_result("fstab", json!(self.fstab))
            .with_result("boot", json!(if self.boot { "yes" } else { "no" }))
            .with_result("warnings", json!(self.warnings))
            .with_result("backup_file", json!(""));
        if e.src_given {
            plan = plan.with_result("src", json!(e.src));
        }
        if !e.fstype.is_empty() {
            plan = plan.with_result("fstype", json!(e.fstype));
        }
        plan
    }
}

#[async_trait]
impl Module for Mount {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let name = &self.entry.name;
        let probes = vec![
            Probe::File(self.fstab.clone()),
            Probe::Command {
                name: "mounted".into(),
                script: sh!("findmnt -n --mountpoint {} >/dev/null", name),
            },
            Probe::Command {
                name: "exists".into(),
                script: sh!("test -e {}", name),
            },
        ];
        let found = ctx.fact(&TextFilesFact::new(format!("mount {name}"), probes)).await?;
        let mounted = match found.command("mounted").map(|c| c.status) {
            Some(0) => true,
            Some(1) => false,
            other => {
                return Err(ModuleError::failed(format!(
                    "cannot tell whether {name} is mounted (findmnt exited {other:?})"
                )));
            }
        };
        let exists = found.command("exists").is_some_and(|c| c.status == 0);
        let old = found.file(&self.fstab).map(|f| f.content.clone());
        let before = old.clone().unwrap_or_default();
        let plan = self.result(Plan::unchanged());
        let fstab_diff = |after: &str| Diff::new(self.fstab.clone(), before.clone(), after.to_owned());
        let write = |after: String| FileWrite::write(self.fstab.clone(), after);
        let (summary, diffs, action): (Vec<String>, Vec<Diff>, WriteFiles) = match self.state {
            MountState::Present | MountState::AbsentFromFstab => {
                let (after, changed) = if self.state == MountState::Present {
                    set_mount(&before, &self.entry)
                } else {
                    unset_mount(&before, &self.entry)
                };
                if !changed {
                    return Ok(plan);
                }
                let s = format!("{}: {name}", self.fstab);
                (vec![s], vec![fstab_diff(&after)], WriteFiles { writes: vec![write(after)], ..Default::default() })
            }
            MountState::Absent => {
                let (after, changed) = unset_mount(&before, &self.entry);
                if !changed {
                    return Ok(plan);
                }
                let mut then = Script::text("set -e");
                let mut summary = vec![format!("{}: remove {name}", self.fstab)];
                if mounted {
                    then = then.then(&sh!("o=$(umount {} 2>&1) || {{ printf 'Error unmounting %s: %s' {} \"$o\" >&2; exit 1; }}", name, name));
                    summary.push(format!("unmount {name}"));
                }
                if exists {
                    then = then.then(&sh!("o=$(rmdir -- {} 2>&1) || {{ printf 'Error rmdir %s: %s' {} \"$o\" >&2; exit 1; }}", name, name));
                    summary.push(format!("remove directory {name}"));
                }
                (summary, vec![fstab_diff(&after)], WriteFiles { writes: vec![write(after)], then: Some(then), undo: Vec::new() })
            }
            MountState::Unmounted => {
                if !mounted {
                    return Ok(plan);
                }
                let script = sh!("o=$(umount {} 2>&1) || {{ printf 'Error unmounting %s: %s' {} \"$o\" >&2; exit 1; }}", name, name);
                return Ok(plan.with_change(vec![format!("unmount {name}")], Vec::new(), RunScript(script)));
            }
            MountState::Remounted => {
                return Ok(plan.with_change(vec![format!("remount {name}")], Vec::new(), RunScript(self.remount_script())));
            }
            MountState::Mounted => {
                let (after, changed) = set_mount(&before, &self.entry);
                if mounted && !changed {
                    return Ok(plan);
                }
                let mut summary = Vec::new();
                let mut writes = Vec::new();
                let mut diffs = Vec::new();
                if changed {
                    summary.push(format!("{}: {name}", self.fstab));
                    diffs.push(fstab_diff(&after));
                    writes.push(write(after));
                }
                let then = if mounted {
                    summary.push(format!("remount {name}"));
                    self.remount_script()
                } else {
                    summary.push(format!("mount {name}"));
                    self.mount_script()
                };
                let undo = match (&old, changed) {
                    (Some(o), true) => vec![write(o.clone())],
                    (None, true) => vec![FileWrite::remove(self.fstab.clone())],
                    _ => Vec::new(),
                };
                (summary, diffs, WriteFiles { writes, then: Some(then), undo })
            }
            MountState::Ephemeral => {
                return Err(ModuleError::failed("state: ephemeral is not supported by prov"));
            }
        };
        Ok(plan.with_change(summary, diffs, action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: MountArgs = parse_args(args)?;
    if a.state == MountState::Ephemeral {
        return Err(ModuleError::arg("state", "state: ephemeral is not supported by prov"));
    }
    if a.backup {
        return Err(ModuleError::arg("backup", "backup: true is not supported"));
    }
    if a.opts_no_log {
        return Err(ModuleError::arg("opts_no_log", "opts_no_log: true is not supported"));
    }
    let needs = matches!(a.state, MountState::Mounted | MountState::Present);
    for (field, v) in [("src", &a.src), ("fstype", &a.fstype)] {
        if needs && v.is_none() {
            return Err(ModuleError::arg(field, format!("state is {:?} but {field} is missing", a.state).to_lowercase()));
        }
    }
    // `none` is a swap entry's mount point (geerlingguy.swap: `name: none`, `fstype: swap`):
    // Ansible takes it, and finds the fstab line by its source; only the fstab states use it.
    let fstab_only = matches!(a.state, MountState::Present | MountState::Absent | MountState::AbsentFromFstab);
    let swap_none = a.path == "none" && fstab_only;
    if !a.path.starts_with('/') && !swap_none {
        return Err(ModuleError::arg("path", "an absolute path (or `none` with state present, absent or absent_from_fstab)"));
    }
    let texts = [Some(&a.path), a.src.as_ref(), a.fstype.as_ref(), a.opts.as_ref(), a.dump.as_ref(), a.passno.as_ref()];
    if texts.into_iter().flatten().any(|t| t.contains(['\n', '\t']) || t.is_empty()) {
        return Err(ModuleError::args("fstab fields must be non-empty and hold no tab or line end"));
    }
    let mut opts = a.opts.unwrap_or_else(|| "defaults".into());
    let mut warnings = Vec::new();
    let has_noauto = opts.split(',').any(|o| o == "noauto");
    if a.boot && has_noauto {
        warnings.push("Ignore the 'boot' due to 'opts' contains 'noauto'.".to_owned());
    } else if !a.boot {
        opts.push_str(",noauto");
    }
    let path = a.path;
    Ok(Box::new(Mount {
        entry: Entry {
            src_given: a.src.is_some(),
            src: a.src.unwrap_or_default(),
            name: path,
            fstype: a.fstype.unwrap_or_default(),
            opts,
            dump: a.dump.unwrap_or_else(|| "0".into()),
            passno: a.passno.unwrap_or_else(|| "0".into()),
        },
        fstab_given: a.fstab.is_some(),
        fstab: a.fstab.unwrap_or_else(|| "/etc/fstab".into()),
        state: a.state,
        boot: a.boot,
        warnings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    fn entry(name: &str, src: &str, opts: &str) -> Entry {
        Entry {
            src: src.into(),
            name: name.into(),
            fstype: "tmpfs".into(),
            opts: opts.into(),
            dump: "0".into(),
            passno: "0".into(),
            src_given: true,
        }
    }

    #[test]
    fn fstab_lines_as_ansible_writes_them() {
        let e = entry("/srv/my cache", "tmpfs", "size=1m");
        let (out, changed) = set_mount("# fstab\n", &e);
        assert!(changed);
        assert_eq!(out, "# fstab\ntmpfs /srv/my\\040cache tmpfs size=1m 0 0\n");
        assert_eq!(set_mount(&out, &e), (out.clone(), false));
        // A field differs: the line is rewritten with single spaces.
        let (out2, changed) = set_mount("tmpfs\t/srv/my\\040cache  tmpfs  size=2m 0 0 # c\n", &e);
        assert!(changed);
        assert_eq!(out2, "tmpfs /srv/my\\040cache tmpfs size=1m 0 0\n");
        // Four fields: always rewritten (Python's integer 0 never equals "0").
        let (out3, changed) = set_mount("tmpfs /srv/my\\040cache tmpfs size=1m", &e);
        assert!(changed);
        assert_eq!(out3, "tmpfs /srv/my\\040cache tmpfs size=1m 0 0\n");
        assert_eq!(escape("a&b\\c"), "a\\046b\\134c");
    }

    #[test]
    fn removal_only_takes_six_field_lines() {
        let e = entry("/srv/x", "tmpfs", "defaults");
        let f = "tmpfs /srv/x tmpfs defaults 0 0\ntmpfs /srv/x tmpfs defaults\n# /srv/x\n";
        assert_eq!(unset_mount(f, &e), ("tmpfs /srv/x tmpfs defaults\n# /srv/x\n".into(), true));
        assert!(!unset_mount("# none\n", &e).1);
    }

    #[test]
    fn swap_lines_match_by_source() {
        let mut e = entry("none", "/dev/sdb1", "sw");
        e.fstype = "swap".into();
        let f = "/dev/sda1 none swap sw 0 0\n";
        let (out, changed) = set_mount(f, &e);
        assert!(changed);
        assert_eq!(out, "/dev/sda1 none swap sw 0 0\n/dev/sdb1 none swap sw 0 0\n");
    }

    #[test]
    fn build_checks() {
        let field = |v: Value| refused_field(build(v));
        assert_eq!(field(json!({"path": "/m", "state": "mounted", "fstype": "tmpfs"})).as_deref(), Some("src"));
        assert_eq!(field(json!({"path": "/m", "state": "ephemeral", "src": "a", "fstype": "b"})).as_deref(), Some("state"));
        assert_eq!(field(json!({"path": "/m", "state": "absent", "backup": true})).as_deref(), Some("backup"));
        assert_eq!(field(json!({"path": "/m", "state": "unmounted"})), None);
        assert_eq!(field(json!({"name": "/m", "state": "present", "src": "a", "fstype": "b", "dump": 1})), None);
        // A swap entry: geerlingguy.swap's `name: none`.
        assert_eq!(field(json!({"name": "none", "state": "present", "src": "/swapfile", "fstype": "swap", "opts": "sw"})), None);
        assert_eq!(field(json!({"name": "none", "state": "absent", "src": "/swapfile"})), None);
        assert_eq!(field(json!({"name": "none", "state": "mounted", "src": "/swapfile", "fstype": "swap"})).as_deref(), Some("path"));
        assert_eq!(field(json!({"name": "m", "state": "present", "src": "a", "fstype": "b"})).as_deref(), Some("path"));
    }
}
