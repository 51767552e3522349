//! `apt_key`: an OpenPGP key in apt's keyring (`apt-key`), as Ansible's deprecated module
//! manages it.
//!
//! ```yaml
//! apt_key: { file: /tmp/vendor.asc, keyring: /etc/apt/trusted.gpg.d/vendor.gpg }
//! ```
//!
//! Ansible's algorithm, step for step: without `id`, the key id is the first `pub`/`sub` of
//! `gpg --with-colons` on the `file` or the `data` (in the C locale); the id must be 8, 16 or
//! more than 16 hexadecimal digits (an optional `0x`); the keys present are the `pub`/`sub`
//! lines not marked `expired` of `apt-key [--keyring K] adv --list-public-keys
//! --keyid-format=long`, cut to their last 8 digits when the id has 8. `present` adds the key
//! (`apt-key add FILE` or the data on stdin) when the id (its last 16 digits) is not among
//! them, then lists again and fails when it is still missing; `absent` runs `apt-key del` with
//! the last 8 digits when it is there, and fails when it is still listed. The result carries
//! `id`, `short_id`, `fp`, `key_id`, `before` and, after a change, `after`. Without `apt-key`
//! the task fails; without `gpg` (Debian 12 has no gnupg by default) Ansible ends the task `ok`
//! with a message, and so does prov.
//!
//! Refused: `url` and `keyserver` (they fetch the key over the network; fetch it with
//! `get_url` first and pass it as `file`). `validate_certs` only matters for `url`.

use async_trait::async_trait;
use prov_core::{
    Action, Diff, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{Presence, de_opt_string};
use crate::server_util::{Section, Sectioned, SectionedFact, Sections};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("apt_key", build);

/// The `apt_key` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptKeyArgs {
    /// The key id (8, 16 or more hex digits).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub id: Option<String>,
    /// Refused: a URL to download the key from.
    #[serde(default)]
    pub url: Option<String>,
    /// The key itself (armored text).
    #[serde(default, deserialize_with = "de_opt_string")]
    pub data: Option<String>,
    /// A key file on the host.
    #[serde(default)]
    pub file: Option<String>,
    /// The keyring to add to or remove from (`apt-key --keyring`).
    #[serde(default)]
    pub keyring: Option<String>,
    /// Only for `url` (refused).
    #[serde(default, deserialize_with = "crate::args::de_opt_bool")]
    pub validate_certs: Option<bool>,
    /// Refused: a key server to fetch the key from.
    #[serde(default)]
    pub keyserver: Option<String>,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
}

/// Where the key comes from (present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file on the host.
    File(String),
    /// The key text.
    Data(String),
    /// Nothing (only an id: enough for absent).
    None,
}

/// The key ids Ansible's `parse_key_id` derives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIds {
    /// The last 8 digits (for `apt-key del`).
    pub short: String,
    /// The last 16 digits (compared with the listing).
    pub fp: String,
    /// The whole id, upper case, without `0x`.
    pub key_id: String,
}

/// Ansible's `parse_key_id`: `None` for an invalid id.
pub fn parse_key_id(id: &str) -> Option<KeyIds> {
    let digits = id
        .strip_prefix("0x")
        .or_else(|| id.strip_prefix("0X"))
        .unwrap_or(id);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let key_id = digits.to_ascii_uppercase();
    let n = key_id.len();
    if n != 8 && n != 16 && n <= 16 {
        return None;
    }
    Some(KeyIds {
        short: key_id[n - 8..].to_owned(),
        fp: key_id[n.saturating_sub(16)..].to_owned(),
        key_id,
    })
}

/// Ansible's `parse_output_for_keys`: the ids of the `pub`/`sub` lines not marked expired, in
/// apt-key's format (`pub   rsa4096/ID ...`) or gpg's colons (`pub:u:3072:1:ID:...`).
pub fn parse_keys(output: &str, short: bool) -> Vec<String> {
    let mut found = Vec::new();
    for line in output.split('\n') {
        if !(line.starts_with("pub") || line.starts_with("sub")) || line.contains("expired") {
            continue;
        }
        let apt_format = line.split_whitespace().nth(1).and_then(|code| {
            let parts: Vec<&str> = code.split('/').collect();
            (parts.len() == 2).then(|| parts[1].to_owned())
        });
        let code = apt_format.or_else(|| line.split(':').nth(4).map(str::to_owned));
        if let Some(c) = code {
            found.push(c);
        }
    }
    if short {
        found = found
            .into_iter()
            .map(|k| {
                let n = k.chars().count();
                k.chars().skip(n.saturating_sub(8)).collect()
            })
            .collect();
    }
    found
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// `apt-key` is installed.
    pub apt_key: bool,
    /// `gpg` is installed.
    pub gpg: bool,
    /// The host's `PATH` (for the message when a program is missing).
    pub path: String,
    /// `gpg --with-colons` of the file or data, with its exit status (when there is no id).
    pub derived: Option<(String, i32)>,
    /// `apt-key adv --list-public-keys` and its exit status.
    pub listing: Option<(String, i32)>,
}

/// The probe: the programs, the key id of the file or data when there is no `id`, the listing.
pub struct AptKeyFact<'a> {
    /// The module.
    pub m: &'a AptKey,
}

const PRELUDE: &str = "ok=; command -v apt-key >/dev/null && command -v gpg >/dev/null && ok=1\n";

/// `apt-key [--keyring K] ARGS`.
fn apt_key(keyring: Option<&str>) -> Script {
    match keyring {
        Some(k) => sh!("apt-key --keyring {}", k),
        None => Script::text("apt-key"),
    }
}

/// The listing command, as Ansible runs it.
pub fn list_script(keyring: Option<&str>) -> Script {
    apt_key(keyring).then_text(" adv --list-public-keys --keyid-format=long")
}

impl AptKeyFact<'_> {
    fn derive_script(&self) -> Option<Script> {
        if self.m.id.is_some() {
            return None;
        }
        let env = "LANG=C LC_ALL=C LC_MESSAGES=C LANGUAGE=C";
        match &self.m.source {
            KeySource::File(f) => Some(sh!("{} gpg --with-colons {}", Script::text(env), f)),
            KeySource::Data(d) => Some(sh!(
                "printf '%s\\n' {} | {} gpg --with-colons -",
                d,
                Script::text(env)
            )),
            KeySource::None => None,
        }
    }
}

impl SectionedFact for AptKeyFact<'_> {
    type Output = KeyState;

    fn name(&self) -> String {
        "apt-key keys".into()
    }

    fn prelude(&self) -> Script {
        Script::text(PRELUDE)
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = vec![
            Section::new(
                "bins",
                Script::text(
                    "command -v apt-key >/dev/null && echo apt-key; command -v gpg >/dev/null && echo gpg; echo \"$PATH\"",
                ),
            ),
            Section::new(
                "list",
                Script::text("rc=none; if [ -n \"$ok\" ]; then ")
                    .then(&list_script(self.m.keyring.as_deref()))
                    .then_text(" 2>/dev/null; rc=$?; fi"),
            ),
            Section::new("list_rc", Script::text("echo $rc")),
        ];
        if let Some(d) = self.derive_script() {
            v.push(Section::new(
                "derived",
                Script::text("rc=none; if [ -n \"$ok\" ]; then ")
                    .then(&d)
                    .then_text(" 2>/dev/null; rc=$?; fi"),
            ));
            v.push(Section::new("derived_rc", Script::text("echo $rc")));
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<KeyState, FactError> {
        let bins = s.get("bins")?;
        let lines: Vec<&str> = bins.lines().collect();
        let with_rc = |name: &str, rc: &str| -> Result<Option<(String, i32)>, FactError> {
            Ok(s.status_of(rc)?.map(|st| (s.get(name).unwrap_or("").to_owned(), st)))
        };
        Ok(KeyState {
            apt_key: lines.contains(&"apt-key"),
            gpg: lines.contains(&"gpg"),
            path: lines.last().copied().unwrap_or("").to_owned(),
            listing: with_rc("list", "list_rc")?,
            derived: if self.derive_script().is_some() {
                with_rc("derived", "derived_rc")?
            } else {
                None
            },
        })
    }
}

/// The `apt_key` module.
#[derive(Debug, Clone)]
pub struct AptKey {
    id: Option<String>,
    source: KeySource,
    keyring: Option<String>,
    state: Presence,
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPlan {
    /// Nothing to do, with the result fields.
    Unchanged(Map<String, Value>),
    /// Add the key.
    Add(Map<String, Value>, KeyIds),
    /// Remove the key.
    Remove(Map<String, Value>, KeyIds),
}

fn fail(msg: impl Into<String>, r: &Map<String, Value>) -> ModuleError {
    ModuleError::failed_with(msg, r.clone())
}

/// The planner: Ansible's `main` on the probed state.
pub fn plan_key(m: &AptKey, st: &KeyState) -> Result<KeyPlan, ModuleError> {
    let mut r = Map::new();
    if !st.apt_key {
        return Err(ModuleError::failed(format!(
            "Failed to find required executable \"apt-key\" in paths: {}. Apt-key has been deprecated. See the deb822_repository as an alternative.",
            st.path
        )));
    }
    if !st.gpg {
        r.insert(
            "msg".into(),
            json!(format!(
                "Failed to find required executable \"gpg\" in paths: {}",
                st.path
            )),
        );
        return Ok(KeyPlan::Unchanged(r));
    }
    let id = match (&m.id, &st.derived) {
        (Some(id), _) => Some(id.clone()),
        (None, Some((out, 0))) => parse_keys(out, false).into_iter().next(),
        (None, Some(_)) => {
            let what = match &m.source {
                KeySource::File(f) => f.clone(),
                _ => "inline data".into(),
            };
            return Err(fail(format!("Unable to extract key from '{what}'"), &r));
        }
        (None, None) => None,
    };
    r.insert("id".into(), json!(id));
    let Some(ids) = id.as_deref().and_then(parse_key_id) else {
        return Err(fail("Invalid key_id", &r));
    };
    r.insert("short_id".into(), json!(ids.short));
    r.insert("fp".into(), json!(ids.fp));
    r.insert("key_id".into(), json!(ids.key_id));
    let short = ids.key_id.len() == 8;
    let keys = match &st.listing {
        Some((out, 0)) => parse_keys(out, short),
        _ => return Err(fail("Unable to list public keys", &r)),
    };
    r.insert("before".into(), json!(keys));
    let present = keys.contains(&ids.fp);
    Ok(match (m.state, present) {
        (Presence::Present, false) => {
            if m.source == KeySource::None {
                return Err(fail("No key to add ... how did i get here?!?!", &r));
            }
            KeyPlan::Add(r, ids)
        }
        (Presence::Absent, true) => KeyPlan::Remove(r, ids),
        _ => KeyPlan::Unchanged(r),
    })
}

/// Adds or removes the key, then lists again and checks, as Ansible does.
struct KeyAction {
    m: AptKey,
    ids: KeyIds,
    add: bool,
    result: Map<String, Value>,
}

impl KeyAction {
    fn script(&self) -> (Script, String) {
        let k = self.m.keyring.as_deref();
        if !self.add {
            let msg = format!("Unable to remove a key with id {}", self.ids.short);
            return (apt_key(k).then_text(" del").arg(self.ids.short.as_str()), msg);
        }
        match &self.m.source {
            KeySource::File(f) => (
                apt_key(k).then_text(" add").arg(f.as_str()),
                format!("Unable to add a key from file {f}"),
            ),
            _ => {
                let data = match &self.m.source {
                    KeySource::Data(d) => d.as_str(),
                    _ => "",
                };
                (
                    sh!("printf '%s' {} | ", data)
                        .then(&apt_key(k))
                        .then_text(" add -"),
                    "Unable to add a key from binary data".into(),
                )
            }
        }
    }
}

#[async_trait]
impl Action for KeyAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let (script, msg) = self.script();
        let mut r = self.result.clone();
        let out = ctx.run(&script).await?;
        if !out.success() {
            r.insert("rc".into(), json!(out.status));
            r.insert("stdout".into(), json!(out.stdout_text()));
            r.insert("stderr".into(), json!(out.stderr_text()));
            return Err(fail(msg, &r));
        }
        let list = ctx.run(&list_script(self.m.keyring.as_deref())).await?;
        if !list.success() {
            return Err(fail("Unable to list public keys", &r));
        }
        let after = parse_keys(&list.stdout_text(), self.ids.key_id.len() == 8);
        let there = after.contains(&self.ids.fp);
        r.insert("after".into(), json!(after));
        if there != self.add {
            let what = if self.add {
                "failed to add the key"
            } else {
                "the key was not removed"
            };
            return Err(fail(
                format!("apt-key did not return an error, but {what} (check that the id is correct and *not* a subkey)"),
                &r,
            ));
        }
        let mut result = Map::new();
        result.insert("after".into(), r["after"].clone());
        Ok(Outcome { result })
    }
}

#[async_trait]
impl Module for AptKey {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let st = ctx.fact(&Sectioned(AptKeyFact { m: self })).await?;
        let (result, ids, add) = match plan_key(self, &st)? {
            KeyPlan::Unchanged(r) => {
                let mut p = Plan::unchanged();
                *p.result_mut() = r;
                return Ok(p);
            }
            KeyPlan::Add(r, ids) => (r, ids, true),
            KeyPlan::Remove(r, ids) => (r, ids, false),
        };
        let ring = self.keyring.as_deref().unwrap_or("apt's keyrings");
        let (verb, before, after) = if add {
            ("add", "", format!("{}\n", ids.key_id))
        } else {
            ("remove", "", String::new())
        };
        let before = if add {
            before.to_owned()
        } else {
            format!("{}\n", ids.key_id)
        };
        let summary = format!("{verb} key {} in {ring}", ids.key_id);
        let diff = Diff::new(format!("apt key {} ({ring})", ids.key_id), before, after);
        let action = KeyAction {
            m: self.clone(),
            ids,
            add,
            result: result.clone(),
        };
        let mut p = Plan::unchanged();
        *p.result_mut() = result;
        Ok(p.with_change(vec![summary], vec![diff], action))
    }
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: AptKeyArgs = parse_args(args)?;
    if a.url.is_some() {
        return Err(ModuleError::arg(
            "url",
            "prov does not download keys: fetch the key with get_url first and pass it as `file`",
        ));
    }
    if a.keyserver.is_some() {
        return Err(ModuleError::arg(
            "keyserver",
            "prov does not fetch keys from key servers (network): fetch the key with get_url first and pass it as `file`",
        ));
    }
    let source = match (a.data, a.file) {
        (Some(_), Some(_)) => {
            return Err(ModuleError::args(
                "parameters are mutually exclusive: data|file|keyserver|url",
            ));
        }
        (Some(d), None) => KeySource::Data(d),
        (None, Some(f)) => KeySource::File(f),
        (None, None) => KeySource::None,
    };
    Ok(Box::new(AptKey {
        id: a.id.filter(|s| !s.is_empty()),
        source,
        keyring: a.keyring,
        state: a.state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APT_LIST: &str = "/tmp/apt-key-gpghome.x/pubring.gpg\n---\npub   rsa4096/B7C5D7D6350947F8 2023-01-21 [SC] [expires: 2031-01-19]\n      B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8\nuid                 [ unknown] Debian\nsub   rsa4096/6ED0E7B82643E131 2023-01-21 [S] [expires: 2031-01-19]\n\npub   rsa2048/0123456789ABCDEF 2010-01-01 [SC] [expired: 2012-01-01]\n";
    const COLONS: &str = "pub:u:3072:1:65FE0B857166CE32:1796619388:::u:\nuid:::::::::Prov Test <t@example.invalid>:\nsub:u:3072:1:BC58280726402BD3:1796619388::::\n";

    #[test]
    fn key_ids_are_parsed_as_ansible_parses_them() {
        let ids = parse_key_id("0x65fe0b857166ce32").unwrap();
        assert_eq!(ids.short, "7166CE32");
        assert_eq!(ids.fp, "65FE0B857166CE32");
        assert_eq!(ids.key_id, "65FE0B857166CE32");
        let long = parse_key_id("64175E3220F42ACE3E7C0AF765FE0B857166CE32").unwrap();
        assert_eq!(long.fp, "65FE0B857166CE32");
        assert_eq!(parse_key_id("7166ce32").unwrap().fp, "7166CE32");
        assert_eq!(parse_key_id("7166CE3"), None);
        assert_eq!(parse_key_id("7166CE32AB"), None);
        assert_eq!(parse_key_id("XYZ66CE3"), None);
        assert_eq!(parse_key_id("None"), None);
    }

    #[test]
    fn listings_give_the_unexpired_keys() {
        assert_eq!(
            parse_keys(APT_LIST, false),
            ["B7C5D7D6350947F8", "6ED0E7B82643E131"]
        );
        assert_eq!(parse_keys(APT_LIST, true), ["350947F8", "2643E131"]);
        assert_eq!(
            parse_keys(COLONS, false),
            ["65FE0B857166CE32", "BC58280726402BD3"]
        );
        assert!(parse_keys("pub\n", false).is_empty());
    }

    fn module(args: Value) -> AptKey {
        let a: AptKeyArgs = parse_args(args).unwrap();
        AptKey {
            id: a.id,
            source: match (a.data, a.file) {
                (Some(d), _) => KeySource::Data(d),
                (_, Some(f)) => KeySource::File(f),
                _ => KeySource::None,
            },
            keyring: a.keyring,
            state: a.state,
        }
    }

    fn state(derived: Option<(&str, i32)>, listing: &str) -> KeyState {
        KeyState {
            apt_key: true,
            gpg: true,
            path: "/usr/bin".into(),
            derived: derived.map(|(o, r)| (o.to_owned(), r)),
            listing: Some((listing.to_owned(), 0)),
        }
    }

    #[test]
    fn the_planner_adds_a_missing_key_and_keeps_a_present_one() {
        let m = module(json!({"file": "/tmp/k.asc"}));
        let p = plan_key(&m, &state(Some((COLONS, 0)), APT_LIST)).unwrap();
        let KeyPlan::Add(r, ids) = p else {
            panic!("{p:?}")
        };
        assert_eq!(ids.fp, "65FE0B857166CE32");
        assert_eq!(r["id"], json!("65FE0B857166CE32"));
        assert_eq!(r["before"], json!(["B7C5D7D6350947F8", "6ED0E7B82643E131"]));
        let with = format!("{APT_LIST}pub   rsa3072/65FE0B857166CE32 2026-12-07 [SC]\n");
        let p = plan_key(&m, &state(Some((COLONS, 0)), &with)).unwrap();
        assert!(matches!(p, KeyPlan::Unchanged(_)), "{p:?}");
        // A short id compares short ids.
        let m = module(json!({"id": "7166CE32", "data": "x"}));
        let p = plan_key(&m, &state(None, &with)).unwrap();
        let KeyPlan::Unchanged(r) = p else {
            panic!("{p:?}")
        };
        assert_eq!(r["before"][2], json!("7166CE32"));
    }

    #[test]
    fn the_planner_removes_a_present_key() {
        let m = module(json!({"id": "B7C5D7D6350947F8", "state": "absent"}));
        let p = plan_key(&m, &state(None, APT_LIST)).unwrap();
        let KeyPlan::Remove(_, ids) = p else {
            panic!("{p:?}")
        };
        assert_eq!(ids.short, "350947F8");
        let m = module(json!({"id": "65FE0B857166CE32", "state": "absent"}));
        assert!(matches!(
            plan_key(&m, &state(None, APT_LIST)).unwrap(),
            KeyPlan::Unchanged(_)
        ));
    }

    #[test]
    fn the_planner_fails_as_ansible_fails() {
        let m = module(json!({"data": "junk"}));
        let e = plan_key(&m, &state(Some(("", 2)), APT_LIST)).unwrap_err();
        assert!(e.to_string().contains("Unable to extract key from 'inline data'"));
        let e = plan_key(&m, &state(Some(("", 0)), APT_LIST)).unwrap_err();
        assert!(e.to_string().contains("Invalid key_id"), "{e}");
        let m = module(json!({"id": "65FE0B857166CE32"}));
        let e = plan_key(&m, &state(None, APT_LIST)).unwrap_err();
        assert!(e.to_string().contains("No key to add"), "{e}");
        let mut st = state(None, APT_LIST);
        st.gpg = false;
        let KeyPlan::Unchanged(r) = plan_key(&m, &st).unwrap() else {
            panic!()
        };
        assert!(r["msg"].as_str().unwrap().contains("\"gpg\""));
        st.apt_key = false;
        assert!(plan_key(&m, &st).is_err());
    }

    #[test]
    fn scripts_quote_every_value() {
        let m = module(json!({"file": "/tmp/a b.asc", "keyring": "/etc/apt/trusted.gpg.d/x.gpg"}));
        let ids = parse_key_id("65FE0B857166CE32").unwrap();
        let a = KeyAction {
            m: m.clone(),
            ids: ids.clone(),
            add: true,
            result: Map::new(),
        };
        assert_eq!(
            a.script().0.as_str(),
            "apt-key --keyring /etc/apt/trusted.gpg.d/x.gpg add '/tmp/a b.asc'"
        );
        let a = KeyAction {
            m,
            ids,
            add: false,
            result: Map::new(),
        };
        assert_eq!(
            a.script().0.as_str(),
            "apt-key --keyring /etc/apt/trusted.gpg.d/x.gpg del 7166CE32"
        );
        let f = AptKeyFact {
            m: &module(json!({"data": "-----BEGIN x'y"})),
        };
        assert!(
            f.derive_script()
                .unwrap()
                .as_str()
                .starts_with(r"printf '%s\n' '-----BEGIN x'\''y' |")
        );
    }

    #[test]
    fn args() {
        assert!(build(json!({"id": "7166CE32", "state": "absent"})).is_ok());
        let e = build(json!({"url": "https://x/key", "id": "7166CE32"})).err().unwrap();
        assert!(e.to_string().contains("get_url"), "{e}");
        assert!(build(json!({"keyserver": "keys.example", "id": "7166CE32"})).is_err());
        assert!(build(json!({"data": "a", "file": "b"})).is_err());
        assert!(build(json!({"id": "7166CE32", "bogus": 1})).is_err());
    }
}
