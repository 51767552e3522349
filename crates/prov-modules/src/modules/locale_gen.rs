//! `locale_gen` (community.general): locales generated from `/etc/locale.gen`, as the
//! collection's module (11.x) manages them on Debian.
//!
//! ```yaml
//! locale_gen: { name: [de_DE.UTF-8, en_US.UTF-8] }
//! ```
//!
//! The module's algorithm, step for step: `/etc/locale.gen` must exist (the `glibc` mechanism);
//! every name must be a locale of `/usr/share/i18n/SUPPORTED` (a line `NAME CHARSET`, maybe
//! commented out) or already be listed by `locale -a`, else the task fails naming the missing
//! ones. The locales are *present* when every name is listed by `locale -a` (compared with the
//! encodings normalized: `de_DE.utf8` is `de_DE.UTF-8`). Nothing happens when that matches
//! `state` (so `absent` acts only when every name is present). Otherwise every line
//! `#? NAME CHARSET` of `/etc/locale.gen` is rewritten `NAME CHARSET` (present) or
//! `# NAME CHARSET` (absent), the file is written in place and `locale-gen` runs; the task is
//! changed when the presence of the names flipped. The result carries `name`, `mechanism` and
//! `ubuntu_mode`.
//!
//! Check mode predicts the real run (which locales `locale-gen` will leave: the enabled lines
//! of the new file, plus the locales kept as directories in `/usr/lib/locale`, such as
//! `C.utf8`). Ansible's own check mode always reports `ok` here, a bug of the collection.
//!
//! Refused: the `ubuntu_legacy` mechanism (`/var/lib/locales/supported.d` without
//! `/etc/locale.gen`: deprecated upstream and absent from Debian and current Ubuntu).

use async_trait::async_trait;
use prov_core::{
    Action, Diff, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::Presence;
use crate::server_util::{Section, Sectioned, SectionedFact, Sections};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("locale_gen", build);

/// The glibc mechanism's file.
pub const ETC_LOCALE_GEN: &str = "/etc/locale.gen";
/// The locales glibc can generate.
pub const SUPPORTED: &str = "/usr/share/i18n/SUPPORTED";
/// The legacy Ubuntu mechanism's directory.
pub const VAR_LIB_LOCALES: &str = "/var/lib/locales/supported.d";

/// The `locale_gen` module's arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleGenArgs {
    /// The locales (a list, or a string split on commas).
    #[serde(deserialize_with = "crate::args::de_opt_string_list")]
    pub name: Option<Vec<Option<String>>>,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
}

const NORMALIZATION: [(&str, &str); 10] = [
    (".utf8", ".UTF-8"),
    (".eucjp", ".EUC-JP"),
    (".iso885915", ".ISO-8859-15"),
    (".cp1251", ".CP1251"),
    (".koi8r", ".KOI8-R"),
    (".armscii8", ".ARMSCII-8"),
    (".euckr", ".EUC-KR"),
    (".gbk", ".GBK"),
    (".gb18030", ".GB18030"),
    (".euctw", ".EUC-TW"),
];

/// The module's `fix_case`: `locale -a`'s lower-case encodings written as in locale.gen.
pub fn fix_case(name: &str) -> String {
    NORMALIZATION
        .iter()
        .fold(name.to_owned(), |n, (s, r)| n.replace(s, r))
}

/// Python's `readlines`: the lines with their newline.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The locales of a `SUPPORTED`-style file (`assert_available`'s regular expression).
pub fn available(supported: &str) -> Vec<String> {
    let re = regex::Regex::new(r"^\s*#?\s*(?P<locale>\S+[\._\S]+) (?P<charset>\S+)\s*$")
        .expect("static regex");
    lines(supported)
        .into_iter()
        .filter_map(|l| re.captures(l).map(|c| c["locale"].to_owned()))
        .collect()
}

/// The names not listed by `locale -a` (normalized comparison).
pub fn not_present<'a>(names: &'a [String], locale_a: &str) -> Vec<&'a str> {
    let have: Vec<String> = locale_a.lines().map(fix_case).collect();
    names
        .iter()
        .filter(|n| !have.contains(&fix_case(n)))
        .map(String::as_str)
        .collect()
}

/// `set_locale_glibc`: every line `#? NAME CHARSET` enabled or disabled.
pub fn edit_locale_gen(text: &str, names: &[String], enable: bool) -> String {
    let res: Vec<(regex::Regex, &String)> = names
        .iter()
        .map(|n| {
            let re = format!(r"^#?\s*{} (?P<charset>.+)", regex::escape(n));
            (regex::Regex::new(&re).expect("escaped name"), n)
        })
        .collect();
    let mut out = String::new();
    for line in lines(text) {
        let mut line = line.to_owned();
        for (re, name) in &res {
            if let Some(c) = re.captures(&line) {
                let end = c.get(0).expect("match").end();
                let prefix = if enable { "" } else { "# " };
                line = format!("{prefix}{name} {}{}", &c["charset"], &line[end..]);
            }
        }
        out.push_str(&line);
    }
    out
}

/// The locales `locale-gen` generates from a locale.gen text (normalized).
fn enabled(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(fix_case)
        .collect()
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocaleState {
    /// `/etc/locale.gen`, if it exists.
    pub locale_gen: Option<String>,
    /// `/var/lib/locales/supported.d` exists.
    pub legacy: bool,
    /// `/usr/share/i18n/SUPPORTED`, if it exists.
    pub supported: Option<String>,
    /// `locale -a`, or `None` when it failed.
    pub locale_a: Option<String>,
    /// The locales kept as directories of `/usr/lib/locale` (they survive `locale-gen`).
    pub dirs: Vec<String>,
}

/// The probe.
pub struct LocaleFact;

impl SectionedFact for LocaleFact {
    type Output = LocaleState;

    fn name(&self) -> String {
        "locales".into()
    }

    fn sections(&self) -> Vec<Section> {
        vec![
            Section::file("gen", ETC_LOCALE_GEN),
            Section::new(
                "legacy",
                Script::text("[ -e /var/lib/locales/supported.d ] && echo yes; true"),
            ),
            Section::file("supported", SUPPORTED),
            Section::new("locale_a", Script::text("locale -a 2>/dev/null; rc=$?")),
            Section::new("rc", Script::text("echo $rc")),
            Section::new(
                "dirs",
                Script::text(
                    "for d in /usr/lib/locale/*/; do [ -d \"$d\" ] && basename \"$d\"; done; true",
                ),
            ),
        ]
    }

    fn parse_sections(&self, s: &Sections) -> Result<LocaleState, FactError> {
        Ok(LocaleState {
            locale_gen: s.file("gen")?,
            legacy: s.flag("legacy")?,
            supported: s.file("supported")?,
            locale_a: (s.status_of("rc")? == Some(0)).then(|| s.get("locale_a").map(str::to_owned)).transpose()?,
            dirs: s.get("dirs")?.lines().map(fix_case).collect(),
        })
    }
}

/// The planner's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalePlan {
    /// The names are as wanted.
    Unchanged,
    /// Write `/etc/locale.gen` and run `locale-gen`; `changed` is whether the names' presence
    /// flips (Ansible's `changed`).
    Apply {
        /// The file before.
        before: String,
        /// The file after.
        after: String,
        /// The presence of the names flips.
        changed: bool,
    },
}

/// The planner: the module's `__init_module__` and `__state_fallback__` on the probed state.
pub fn plan_locales(
    names: &[String],
    state: Presence,
    st: &LocaleState,
) -> Result<LocalePlan, String> {
    let Some(gen_text) = &st.locale_gen else {
        return Err(if st.legacy {
            format!("{VAR_LIB_LOCALES} without {ETC_LOCALE_GEN}: the ubuntu_legacy mechanism (deprecated upstream) is not implemented by prov")
        } else {
            format!("{VAR_LIB_LOCALES} and {ETC_LOCALE_GEN} are missing. Is the package \"locales\" installed?")
        });
    };
    let Some(supported) = &st.supported else {
        return Err(format!("[Errno 2] No such file or directory: '{SUPPORTED}'"));
    };
    let locale_a = st.locale_a.as_deref().ok_or("`locale -a` failed")?;
    let avail = available(supported);
    let unlisted: Vec<String> = names.iter().filter(|n| !avail.contains(n)).cloned().collect();
    let missing = not_present(&unlisted, locale_a);
    if !missing.is_empty() {
        return Err(format!(
            "The following locales you have entered are not available on your system: {}",
            missing.join(", ")
        ));
    }
    let present = not_present(names, locale_a).is_empty();
    if present == (state == Presence::Present) {
        return Ok(LocalePlan::Unchanged);
    }
    let after = edit_locale_gen(gen_text, names, state == Presence::Present);
    let generated: Vec<String> = enabled(&after).into_iter().chain(st.dirs.clone()).collect();
    let present_after = names.iter().all(|n| generated.contains(&fix_case(n)));
    Ok(LocalePlan::Apply {
        before: gen_text.clone(),
        after,
        changed: present_after != present,
    })
}

/// Writes `/etc/locale.gen` in place (as Python's `open('w')`) and runs `locale-gen`.
struct WriteAndGenerate {
    content: String,
}

#[async_trait]
impl Action for WriteAndGenerate {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let script = Script::text("cat > /etc/locale.gen && locale-gen");
        let out = ctx.run_with_input(&script, self.content.as_bytes()).await?;
        crate::server_util::check_output("locale-gen", &out)?;
        Ok(Outcome::default())
    }
}

/// The `locale_gen` module.
#[derive(Debug)]
pub struct LocaleGen {
    names: Vec<String>,
    state: Presence,
}

#[async_trait]
impl Module for LocaleGen {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let st = ctx.fact(&Sectioned(LocaleFact)).await?;
        let base = Plan::unchanged()
            .with_result("name", json!(self.names))
            .with_result("mechanism", json!("glibc"))
            .with_result("ubuntu_mode", json!(false));
        let plan = plan_locales(&self.names, self.state, &st).map_err(|m| {
            ModuleError::failed_with(m, base.result().clone())
        })?;
        let LocalePlan::Apply {
            before,
            after,
            changed,
        } = plan
        else {
            return Ok(base);
        };
        let verb = match self.state {
            Presence::Present => "enable",
            Presence::Absent => "disable",
        };
        let summary = vec![
            format!("{verb} {} in {ETC_LOCALE_GEN}", self.names.join(", ")),
            "locale-gen".into(),
        ];
        let diff = Diff::new(ETC_LOCALE_GEN, before, after.clone());
        let action = WriteAndGenerate { content: after };
        let result = base.into_result();
        let mut plan = if changed {
            Plan::changes(summary, vec![diff], action)
        } else {
            Plan::refresh("locale-gen (the locales stay as they are)", action)
        };
        *plan.result_mut() = result;
        Ok(plan)
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: LocaleGenArgs = parse_args(args)?;
    let Some(names) = a.name else {
        return Err(ModuleError::arg("name", "required"));
    };
    let names = names
        .into_iter()
        .map(|n| n.ok_or_else(|| ModuleError::arg("name", "a locale name is null")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(LocaleGen {
        names,
        state: a.state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN: &str = "# This file lists locales\n#\n# C.UTF-8 UTF-8\n# de_DE ISO-8859-1\n# de_DE.UTF-8 UTF-8\n# de_DE@euro ISO-8859-15\nen_US.UTF-8 UTF-8\n";
    const SUP: &str = "aa_DJ.UTF-8 UTF-8\nC.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\nde_DE ISO-8859-1\nde_DE@euro ISO-8859-15\nen_US.UTF-8 UTF-8\n";

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn st(locale_a: &str) -> LocaleState {
        LocaleState {
            locale_gen: Some(GEN.into()),
            legacy: false,
            supported: Some(SUP.into()),
            locale_a: Some(locale_a.into()),
            dirs: vec!["C.UTF-8".into()],
        }
    }

    #[test]
    fn names_compare_with_encodings_normalized() {
        assert_eq!(fix_case("de_DE.utf8"), "de_DE.UTF-8");
        assert_eq!(fix_case("en_US.iso885915"), "en_US.ISO-8859-15");
        let n = names(&["de_DE.UTF-8", "en_US.UTF-8", "C.UTF-8"]);
        assert_eq!(not_present(&n, "C\nC.utf8\nen_US.utf8\nPOSIX\n"), ["de_DE.UTF-8"]);
        assert_eq!(available(SUP)[3], "de_DE");
        assert!(available("# de_DE.UTF-8 UTF-8\n").contains(&"de_DE.UTF-8".to_owned()));
    }

    #[test]
    fn the_file_is_edited_as_the_module_edits_it() {
        let on = edit_locale_gen(GEN, &names(&["de_DE.UTF-8", "de_DE"]), true);
        assert!(on.contains("\nde_DE ISO-8859-1\nde_DE.UTF-8 UTF-8\n# de_DE@euro"), "{on}");
        let off = edit_locale_gen(&on, &names(&["de_DE.UTF-8", "en_US.UTF-8"]), false);
        assert!(off.contains("\nde_DE ISO-8859-1\n# de_DE.UTF-8 UTF-8\n"), "{off}");
        assert!(off.ends_with("# en_US.UTF-8 UTF-8\n"), "{off}");
        // A name is a prefix up to a space: en_US does not touch en_US.UTF-8.
        assert_eq!(edit_locale_gen(GEN, &names(&["en_US"]), false), GEN);
        // Odd spacing and a tab charset separator.
        assert_eq!(
            edit_locale_gen("#   de_DE.UTF-8 UTF-8  \n", &names(&["de_DE.UTF-8"]), true),
            "de_DE.UTF-8 UTF-8  \n"
        );
    }

    #[test]
    fn the_planner_covers_every_case() {
        let de = names(&["de_DE.UTF-8"]);
        let p = plan_locales(&de, Presence::Present, &st("C\nC.utf8\nPOSIX\n")).unwrap();
        let LocalePlan::Apply { after, changed, .. } = p else {
            panic!("{p:?}")
        };
        assert!(changed);
        assert!(after.contains("\nde_DE.UTF-8 UTF-8\n"));
        let with = st("C\nC.utf8\nde_DE.utf8\nPOSIX\n");
        assert_eq!(
            plan_locales(&de, Presence::Present, &with),
            Ok(LocalePlan::Unchanged)
        );
        let p = plan_locales(&de, Presence::Absent, &with).unwrap();
        assert!(matches!(p, LocalePlan::Apply { changed: true, .. }), "{p:?}");
        // absent acts only when every name is present.
        let two = names(&["de_DE.UTF-8", "en_US.UTF-8"]);
        assert_eq!(
            plan_locales(&two, Presence::Absent, &with),
            Ok(LocalePlan::Unchanged)
        );
        // C.UTF-8 lives in /usr/lib/locale: locale-gen runs, nothing flips.
        let c = names(&["C.UTF-8"]);
        let p = plan_locales(&c, Presence::Absent, &with).unwrap();
        assert!(matches!(p, LocalePlan::Apply { changed: false, .. }), "{p:?}");
    }

    #[test]
    fn the_planner_fails_as_the_module_fails() {
        let e = plan_locales(&names(&["xx_YY", "de_DE"]), Presence::Present, &st("C\n"))
            .unwrap_err();
        assert_eq!(
            e,
            "The following locales you have entered are not available on your system: xx_YY"
        );
        let mut s = st("C\n");
        s.locale_gen = None;
        let e = plan_locales(&names(&["de_DE"]), Presence::Present, &s).unwrap_err();
        assert!(e.contains("Is the package \"locales\" installed?"), "{e}");
        s.legacy = true;
        assert!(plan_locales(&names(&["de_DE"]), Presence::Present, &s).is_err());
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "de_DE.UTF-8,en_US.UTF-8"})).is_ok());
        assert!(build(json!({"name": ["de_DE.UTF-8"], "state": "absent"})).is_ok());
        assert!(build(json!({"state": "absent"})).is_err());
        assert!(build(json!({"name": "x", "purge": true})).is_err());
    }
}
