//! `user`: local accounts via `useradd`/`usermod`/`userdel`, `chpasswd -e` (password hashes,
//! fed on stdin), `chage` (password ageing) and `ssh-keygen`; current state from `getent`/`id`.
//!
//! ```yaml
//! user: { name: redis, system: yes, shell: /usr/sbin/nologin, home: /var/lib/redis,
//!         create_home: no, groups: [adm], append: yes, comment: "Redis" }
//! user: { name: alice, password: "$6$...", update_password: on_create, generate_ssh_key: yes }
//! ```
//!
//! Semantics follow Ansible's Linux `User` class (ansible.builtin.user): what it compares and
//! which commands it runs, in its order: `useradd`/`usermod`, the missing home directory, the
//! SSH key, then `chage`. Deviations, invisible in the host's end state but for the backup
//! `/etc/shadow-`:
//!
//! - a password hash is set with `chpasswd -e` reading `NAME:HASH` on stdin, never with
//!   `useradd -p`/`usermod -p` (a hash in a command line is visible in `ps`): one more write of
//!   /etc/shadow than Ansible, so its backup `/etc/shadow-` holds the account where Ansible's
//!   does not. A lock marker (`!`, `*`), no secret, goes on the `useradd`/`usermod` line as in
//!   Ansible. The current hash is compared on the host (the desired one is fed on stdin), so
//!   no hash ever travels back;
//! - an `ssh_key_passphrase` reaches `ssh-keygen` through `SSH_ASKPASS` (a helper reading a
//!   0600 file in a private temporary directory), not through a pseudo-terminal;
//! - a relative `ssh_key_file` whose home directory will not exist fails while planning, in
//!   check mode too (Ansible's check mode reports `changed` for a run that then fails).
//!
//! The module contract (docs/modules.md): arguments → [`UserFact`] (one sectioned probe) →
//! the pure planner [`plan_present`] → [`Steps`], every command a [`Script`] of quoted values.

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use prov_core::{
    Action, Diff, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{Presence, StringList, de_bool, de_opt_bool, de_opt_int};
use crate::server_util::{self, Section, Sectioned, SectionedFact, Sections};
use crate::{ModuleSpec, parse_args};

/// The module's name and builder, for the registry.
pub const SPEC: ModuleSpec = ModuleSpec::new("user", build);

/// What Ansible returns in place of a password.
pub const NOT_LOGGING_PASSWORD: &str = "NOT_LOGGING_PASSWORD";

/// A secret argument (a password hash, a passphrase): its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// `update_password`: when a `password` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePassword {
    /// Whenever the account's hash differs (the default).
    #[default]
    Always,
    /// Only when the account is created.
    OnCreate,
}

/// The `user` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserArgs {
    /// The login name.
    #[serde(alias = "user")]
    pub name: String,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Presence,
    /// Create a system account (only on creation).
    #[serde(default, deserialize_with = "de_bool")]
    pub system: bool,
    /// The user id.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub uid: Option<u32>,
    /// Allow a non-unique `uid` (`-o`).
    #[serde(default, deserialize_with = "de_bool")]
    pub non_unique: bool,
    /// The primary group (name or gid).
    #[serde(default)]
    pub group: Option<Value>,
    /// Supplementary groups (replace the list unless `append`).
    #[serde(default)]
    pub groups: Option<StringList>,
    /// Add to `groups` without removing others.
    #[serde(default, deserialize_with = "de_bool")]
    pub append: bool,
    /// The home directory.
    #[serde(default)]
    pub home: Option<String>,
    /// Move the old home's content when `home` changes.
    #[serde(default, deserialize_with = "de_bool")]
    pub move_home: bool,
    /// Create the home directory on creation, or when it is missing (default yes).
    #[serde(default, deserialize_with = "de_opt_bool", alias = "createhome")]
    pub create_home: Option<bool>,
    /// The skeleton directory for a new home (`useradd -k`).
    #[serde(default)]
    pub skeleton: Option<String>,
    /// The umask of a new home (`useradd -K UMASK=`).
    #[serde(default)]
    pub umask: Option<Value>,
    /// The login shell.
    #[serde(default)]
    pub shell: Option<String>,
    /// The GECOS field.
    #[serde(default)]
    pub comment: Option<String>,
    /// The password hash (`!` or `*` for a locked password).
    #[serde(default)]
    pub password: Option<Secret>,
    /// always (default) or on_create.
    #[serde(default)]
    pub update_password: UpdatePassword,
    /// Lock (`usermod -L`) or unlock (`usermod -U`) the password.
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub password_lock: Option<bool>,
    /// Account expiry in seconds since the epoch (negative: never).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub expires: Option<f64>,
    /// `chage -M`.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub password_expire_max: Option<i64>,
    /// `chage -m`.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub password_expire_min: Option<i64>,
    /// `chage -W`.
    #[serde(default, deserialize_with = "de_opt_int")]
    pub password_expire_warn: Option<i64>,
    /// Remove the home directory with the account (state absent).
    #[serde(default, deserialize_with = "de_bool")]
    pub remove: bool,
    /// Force removal (state absent); overwrite an existing SSH key (generate_ssh_key).
    #[serde(default, deserialize_with = "de_bool")]
    pub force: bool,
    /// Generate an SSH key unless the key file exists.
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub generate_ssh_key: Option<bool>,
    /// `ssh-keygen -b` (0: ssh-keygen's default).
    #[serde(default, deserialize_with = "de_opt_int")]
    pub ssh_key_bits: Option<i64>,
    /// `ssh-keygen -t` (default rsa).
    #[serde(default)]
    pub ssh_key_type: Option<String>,
    /// The private key file, relative to the home directory (default `.ssh/id_TYPE`).
    #[serde(default)]
    pub ssh_key_file: Option<String>,
    /// The key comment (default `ansible-generated on HOSTNAME`).
    #[serde(default)]
    pub ssh_key_comment: Option<String>,
    /// The key passphrase (default none).
    #[serde(default)]
    pub ssh_key_passphrase: Option<Secret>,
    /// `luseradd` and friends (only `false` is accepted).
    #[serde(default, deserialize_with = "de_opt_bool")]
    pub local: Option<bool>,
    /// Refused (SELinux user; see [`build`]).
    #[serde(default)]
    pub seuser: Option<Value>,
    /// Refused (BSD only).
    #[serde(default)]
    pub login_class: Option<Value>,
    /// Refused (macOS only).
    #[serde(default)]
    pub hidden: Option<Value>,
    /// Refused (Solaris only).
    #[serde(default)]
    pub profile: Option<Value>,
    /// Refused (Solaris only).
    #[serde(default)]
    pub authorization: Option<Value>,
    /// Refused (Solaris only).
    #[serde(default)]
    pub role: Option<Value>,
    /// Refused (not implemented).
    #[serde(default)]
    pub password_expire_account_disable: Option<Value>,
}

/// An account as `getent passwd` and `id` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Primary group name.
    pub group: String,
    /// GECOS.
    pub comment: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Supplementary groups (without the primary one).
    pub groups: BTreeSet<String>,
}

impl Account {
    /// Parses `getent passwd NAME` and `id -Gn NAME` output (the primary group first, as `id`
    /// prints it): `None` when getent printed nothing (no such account), an error for a line
    /// that is not a passwd entry.
    pub fn parse(passwd: &str, all_groups: &str) -> Result<Option<Account>, String> {
        let Some(line) = passwd.lines().next() else {
            return Ok(None);
        };
        let bad = || format!("unexpected getent passwd line `{line}`");
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return Err(bad());
        }
        let mut names = all_groups.split_whitespace();
        let group = names.next().unwrap_or_default().to_owned();
        let groups = names
            .filter(|g| *g != group)
            .map(str::to_owned)
            .collect();
        Ok(Some(Account {
            uid: f[2].parse().map_err(|_| bad())?,
            gid: f[3].parse().map_err(|_| bad())?,
            group,
            comment: f[4].to_owned(),
            home: f[5].to_owned(),
            shell: f[6].to_owned(),
            groups,
        }))
    }

    fn describe(&self) -> String {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        format!(
            "uid: {}\ngroup: {}\ngroups: {}\nhome: {}\nshell: {}\ncomment: {}\n",
            self.uid,
            self.group,
            groups.join(","),
            self.home,
            self.shell,
            self.comment
        )
    }
}

/// The account's `/etc/shadow` entry as the host reports it: never the hash itself, only how it
/// compares with the desired one (compared on the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// The entry exists (readable).
    pub found: bool,
    /// The hash starts with `!`.
    pub locked: bool,
    /// The hash equals the desired one, leading `!`s aside (Ansible's `lstrip('!')`).
    pub same_password: bool,
    /// Expiry in days since the epoch (-1: never).
    pub expire: i64,
    /// Minimum password age (-1: unset).
    pub min: i64,
    /// Maximum password age (-1: unset).
    pub max: i64,
    /// Warning period (-1: unset).
    pub warn: i64,
}

impl Shadow {
    /// Parses the `key=value` lines [`SHADOW_COMPARE`] prints (nothing: no entry). The errors
    /// name keys, never values.
    pub fn parse(text: &str) -> Result<Shadow, String> {
        let mut s = Shadow {
            found: false,
            locked: false,
            same_password: false,
            expire: -1,
            min: -1,
            max: -1,
            warn: -1,
        };
        for line in text.lines() {
            let (k, v) = line
                .split_once('=')
                .ok_or("a line of the shadow section is not key=value")?;
            let num = || v.parse().map_err(|_| format!("shadow `{k}` is not a number"));
            match (k, v) {
                ("found", "1") => s.found = true,
                ("locked", "1") => s.locked = true,
                ("same", "1") => s.same_password = true,
                ("expire", _) => s.expire = num()?,
                ("min", _) => s.min = num()?,
                ("max", _) => s.max = num()?,
                ("warn", _) => s.warn = num()?,
                _ => return Err(format!("unexpected shadow key `{k}`")),
            }
        }
        Ok(s)
    }
}

/// Home directories as the host reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HomeState {
    /// The account's current home exists.
    pub current_exists: bool,
    /// The `home` argument's directory exists.
    pub wanted_exists: bool,
}

impl HomeState {
    /// Parses the `current=1`/`wanted=1` lines of the homes section.
    pub fn parse(text: &str) -> Result<HomeState, String> {
        let mut h = HomeState::default();
        for line in text.lines() {
            match line {
                "current=1" => h.current_exists = true,
                "wanted=1" => h.wanted_exists = true,
                other => return Err(format!("unexpected homes line `{other}`")),
            }
        }
        Ok(h)
    }
}

/// The SSH key file as the host reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    /// The key file's absolute path.
    pub path: String,
    /// The home directory the relative path is in exists (true for absolute paths).
    pub home_exists: bool,
    /// The key file exists.
    pub exists: bool,
    /// `uname -n` (for the default comment).
    pub hostname: String,
    /// `ssh-keygen -l -f FILE` output (stripped; empty when there is no key).
    pub fingerprint: String,
    /// The public key file's content (stripped), if it exists.
    pub public_key: Option<String>,
}

/// The checked `generate_ssh_key` request.
#[derive(Debug, Clone)]
pub struct SshSpec {
    bits: i64,
    key_type: String,
    file: String,
    comment: Option<String>,
    passphrase: Option<Secret>,
    force: bool,
}

/// The checked `user` request.
#[derive(Debug, Clone)]
pub struct UserSpec {
    name: String,
    state: Presence,
    system: bool,
    uid: Option<u32>,
    non_unique: bool,
    group: Option<String>,
    groups: Option<Vec<String>>,
    append: bool,
    home: Option<String>,
    move_home: bool,
    create_home: bool,
    skeleton: Option<String>,
    umask: Option<String>,
    shell: Option<String>,
    comment: Option<String>,
    password: Option<Secret>,
    update_password_always: bool,
    password_lock: Option<bool>,
    expires: Option<f64>,
    expire_max: Option<i64>,
    expire_min: Option<i64>,
    expire_warn: Option<i64>,
    ssh: Option<SshSpec>,
    remove: bool,
    force: bool,
}

impl UserSpec {
    /// The desired hash when the host must compare it with the account's (fed on stdin).
    fn hash_to_compare(&self) -> Option<&Secret> {
        let compare = self.state == Presence::Present && self.update_password_always;
        self.password.as_ref().filter(|_| compare)
    }

    /// The attributes of an account to create (for the diff).
    fn describe_new(&self) -> String {
        let mut out = String::new();
        if let Some(u) = self.uid {
            out.push_str(&format!("uid: {u}\n"));
        }
        let fields = [
            ("group", self.group.clone()),
            ("groups", self.groups.as_ref().map(|g| g.join(","))),
            ("home", self.home.clone()),
            ("shell", self.shell.clone()),
            ("comment", self.comment.clone()),
        ];
        for (label, value) in fields {
            if let Some(v) = value {
                out.push_str(&format!("{label}: {v}\n"));
            }
        }
        out.push_str(&format!(
            "system: {}\ncreate_home: {}\n",
            self.system, self.create_home
        ));
        out
    }
}

/// The current state of a present account.
#[derive(Debug, Clone)]
pub struct Current {
    /// `getent passwd` and `id`.
    pub account: Account,
    /// `/etc/shadow` (compared on the host).
    pub shadow: Shadow,
    /// Home directories.
    pub homes: HomeState,
}

/// What [`UserFact`] reads.
#[derive(Debug, Clone)]
pub struct UserState {
    /// The account, `None` when the host has none.
    pub current: Option<Current>,
    /// The SSH key file (when `generate_ssh_key` asks for one).
    pub key: Option<KeyState>,
}

/// Reads an account, its shadow entry, its homes and its SSH key in one probe. With
/// `compare_hash`, the desired hash arrives on stdin (see [`server_util::fact_with_input`]) and
/// is compared with the account's on the host: no hash is ever printed.
pub struct UserFact<'a> {
    /// The request (the name, `home`, the key file).
    pub spec: &'a UserSpec,
    /// Read the desired hash from stdin.
    pub compare_hash: bool,
}

/// Reads the shadow entry (its name set by the line before) with shell builtins only (the hash
/// stays in a variable, never in a command's arguments or output) and compares it with `$want`.
const SHADOW_COMPARE: &str = r#"if [ -n "$s" ]; then
  set -f; IFS=:; set -- $s; unset IFS; set +f
  echo found=1
  h=$2
  case $h in '!'*) echo locked=1;; esac
  while :; do case $h in '!'*) h=${h#!};; *) break;; esac; done
  while :; do case $want in '!'*) want=${want#!};; *) break;; esac; done
  if [ "x$h" = "x$want" ]; then echo same=1; fi
  echo "min=${4:--1}"; echo "max=${5:--1}"; echo "warn=${6:--1}"; echo "expire=${8:--1}"
fi"#;

/// The shadow section of account `name`.
fn shadow_script(name: &str) -> Script {
    sh!("s=$(getent shadow {} 2>/dev/null)", name).then(&Script::text(SHADOW_COMPARE))
}

/// What the key section prints about `$f` once its path is set.
const KEY_PROBE: &str = r#"printf 'path=%s\n' "$f"
if [ -e "$f" ]; then echo exists=1; fi
printf 'host=%s\n' "$(uname -n)""#;

/// Ansible's `ssh_fingerprint` of `$f`: `ssh-keygen -l -f` stdout, or its stderr when it fails.
const FINGERPRINT_SCRIPT: &str = r#"if [ -e "$f" ]; then
  if o=$(ssh-keygen -l -f "$f" 2>/dev/null); then printf '%s\n' "$o"; else ssh-keygen -l -f "$f" 2>&1 >/dev/null; fi
fi"#;

/// The sections reading the key at `$f`: its fingerprint and its public key (read back with
/// [`key_readings`]).
fn key_sections() -> [Section; 2] {
    [
        Section::new("fingerprint", Script::text(FINGERPRINT_SCRIPT)),
        Section::new(
            "pub",
            Script::text("if [ -e \"$f.pub\" ]; then echo present; cat -- \"$f.pub\"; fi"),
        ),
    ]
}

/// The fingerprint and the public key of [`key_sections`].
fn key_readings(s: &Sections) -> Result<(String, Option<String>), FactError> {
    let public = s.file("pub")?.map(|p| p.trim().to_owned());
    Ok((s.get("fingerprint")?.trim().to_owned(), public))
}

/// The key section: sets `$f` to the key file (a relative one is in `home`, else the current
/// home `$c`, else useradd's default for a new account) and describes it.
fn key_section(spec: &UserSpec, ssh: &SshSpec) -> Script {
    let base = match &spec.home {
        Some(h) => sh!("b={}", h),
        None => sh!(
            "b=$c\nif [ -z \"$b\" ]; then d=$(useradd -D 2>/dev/null | sed -n 's/^HOME=//p'); b=${{d:-/home}}/{}; fi",
            spec.name
        ),
    };
    let file = if ssh.file.starts_with('/') {
        sh!("f={}\necho home=1", ssh.file)
    } else {
        sh!(
            "case $b in */|'') f=$b{};; *) f=$b/{};; esac\nif [ -e \"$b\" ]; then echo home=1; fi",
            ssh.file,
            ssh.file
        )
    };
    base.then(&file).then(&Script::text(KEY_PROBE))
}

impl SectionedFact for UserFact<'_> {
    type Output = UserState;

    fn name(&self) -> String {
        format!("user {}", self.spec.name)
    }

    fn prelude(&self) -> Script {
        Script::text(if self.compare_hash {
            "want=; IFS= read -r want || true"
        } else {
            "want="
        })
    }

    fn sections(&self) -> Vec<Section> {
        let n = &self.spec.name;
        // The current home is field 6 of the passwd line read once (`$p`), cut by the shell.
        let mut homes = Script::text(
            "c=${p#*:*:*:*:*:}; c=${c%%:*}\nif [ -n \"$p\" ] && [ -n \"$c\" ] && [ -e \"$c\" ]; then echo current=1; fi",
        );
        if let Some(h) = &self.spec.home {
            homes = homes.then(&sh!("if [ -e {} ]; then echo wanted=1; fi", h));
        }
        let mut v = vec![
            Section::new(
                "passwd",
                sh!("p=$(getent passwd {})\n[ -z \"$p\" ] || printf '%s\\n' \"$p\"", n),
            ),
            Section::new("groups", sh!("id -Gn {} 2>/dev/null", n)),
            Section::new("shadow", shadow_script(n)),
            Section::new("homes", homes),
        ];
        if let Some(ssh) = &self.spec.ssh {
            v.push(Section::new("ssh", key_section(self.spec, ssh)));
            v.extend(key_sections());
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<UserState, FactError> {
        let account = Account::parse(s.get("passwd")?, s.get("groups")?)
            .map_err(|e| s.error(e))?;
        let shadow = Shadow::parse(s.get("shadow")?).map_err(|e| s.error(e))?;
        let homes = HomeState::parse(s.get("homes")?).map_err(|e| s.error(e))?;
        let key = match self.spec.ssh {
            Some(_) => Some(parse_key_state(s)?),
            None => None,
        };
        Ok(UserState {
            current: account.map(|account| Current {
                account,
                shadow,
                homes,
            }),
            key,
        })
    }
}

/// The key section and the key's readings.
fn parse_key_state(s: &Sections) -> Result<KeyState, FactError> {
    let p = s.pairs("ssh")?;
    let flag = |k: &str| match p.get(k).map(String::as_str) {
        None => Ok(false),
        Some("1") => Ok(true),
        Some(o) => Err(s.error(format!("section `ssh`: {k}={o}"))),
    };
    let text = |k: &str| {
        p.get(k)
            .cloned()
            .ok_or_else(|| s.error(format!("section `ssh` has no {k}")))
    };
    if let Some(k) = p
        .keys()
        .find(|k| !["path", "host", "home", "exists"].contains(&k.as_str()))
    {
        return Err(s.error(format!("section `ssh`: unexpected key `{k}`")));
    }
    let (fingerprint, public_key) = key_readings(s)?;
    Ok(KeyState {
        path: text("path")?,
        home_exists: flag("home")?,
        exists: flag("exists")?,
        hostname: text("host")?,
        fingerprint,
        public_key,
    })
}

/// Reads an account back after a change, and its key's fingerprint and public key.
struct Readback<'a> {
    name: &'a str,
    key_path: Option<&'a str>,
}

impl SectionedFact for Readback<'_> {
    type Output = (Option<Account>, Option<(String, Option<String>)>);

    fn name(&self) -> String {
        format!("user {} after the change", self.name)
    }

    fn prelude(&self) -> Script {
        self.key_path.map(|p| sh!("f={}", p)).unwrap_or_default()
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = vec![Section::new("passwd", sh!("getent passwd {}", self.name))];
        if self.key_path.is_some() {
            v.extend(key_sections());
        }
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<Self::Output, FactError> {
        let account = Account::parse(s.get("passwd")?, "").map_err(|e| s.error(e))?;
        let key = match self.key_path {
            Some(_) => Some(key_readings(s)?),
            None => None,
        };
        Ok((account, key))
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01.
pub fn date_of_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day (since the epoch, UTC) of `expires` seconds, as Python's `time.gmtime` dates it.
fn expiry_day(expires: f64) -> i64 {
    (expires / 86400.0).floor() as i64
}

fn expiry_text(days: i64) -> String {
    if days < 0 {
        "never".into()
    } else {
        date_of_day(days)
    }
}

/// `CMD OPT... -- NAME`, the options already scripts.
fn command(cmd: &'static str, opts: &[Script], name: &str) -> Script {
    opts.iter()
        .fold(Script::text(cmd), |s, o| s.arg(o))
        .then_text(" --")
        .arg(name)
}

/// `-u UID`, with `-o` for a non-unique one.
fn uid_opt(uid: u32, non_unique: bool) -> Script {
    let o = sh!("-u {}", uid);
    if non_unique { o.then_text(" -o") } else { o }
}

/// `-e DATE`, or `-e ''` (never) for a negative `expires`.
fn expiry_opt(expires: f64) -> Script {
    if expires < 0.0 {
        Script::text("-e ''")
    } else {
        sh!("-e {}", date_of_day(expiry_day(expires)))
    }
}

/// Options and summary lines of a change being planned.
#[derive(Default)]
struct Changes {
    opts: Vec<Script>,
    summary: Vec<String>,
}

impl Changes {
    fn push(&mut self, opt: Script, summary: String) {
        self.opts.push(opt);
        self.summary.push(summary);
    }
}

/// The `usermod` options and summary lines that bring `cur` to `spec` (empty: nothing to do).
pub fn usermod_changes(spec: &UserSpec, cur: &Account) -> (Vec<Script>, Vec<String>) {
    let mut ch = Changes::default();
    let n = &spec.name;
    if let Some(u) = spec.uid
        && u != cur.uid
    {
        let summary = format!("user {n}: uid {} -> {u}", cur.uid);
        ch.push(uid_opt(u, spec.non_unique), summary);
    }
    let primary_after = primary_group_change(spec, cur, &mut ch);
    groups_change(spec, cur, &primary_after, &mut ch);
    if let Some(h) = &spec.home
        && *h != cur.home
    {
        let opt = sh!("-d {}", h);
        let opt = if spec.move_home { opt.then_text(" -m") } else { opt };
        ch.push(opt, format!("user {n}: home {} -> {h}", cur.home));
    }
    if let Some(s) = &spec.shell
        && *s != cur.shell
    {
        ch.push(sh!("-s {}", s), format!("user {n}: shell {} -> {s}", cur.shell));
    }
    if let Some(c) = &spec.comment
        && *c != cur.comment
    {
        let summary = format!("user {n}: comment {:?} -> {c:?}", cur.comment);
        ch.push(sh!("-c {}", c), summary);
    }
    (ch.opts, ch.summary)
}

/// `-g` when the primary group differs (a gid compared with the gid, a name with the name);
/// returns the primary group's name after the change.
fn primary_group_change(spec: &UserSpec, cur: &Account, ch: &mut Changes) -> String {
    let Some(g) = &spec.group else {
        return cur.group.clone();
    };
    let gid = g.parse::<u32>().ok();
    let differs = match gid {
        Some(gid) => gid != cur.gid,
        None => *g != cur.group,
    };
    if !differs {
        return cur.group.clone();
    }
    let summary = format!("user {}: primary group {} -> {g}", spec.name, cur.group);
    ch.push(sh!("-g {}", g), summary);
    match gid {
        Some(_) => cur.group.clone(),
        None => g.clone(),
    }
}

/// `-G` (or `-a -G` with `append`) when the supplementary groups differ.
fn groups_change(spec: &UserSpec, cur: &Account, primary: &str, ch: &mut Changes) {
    let Some(want) = &spec.groups else { return };
    let n = &spec.name;
    let want: BTreeSet<&str> = want
        .iter()
        .map(String::as_str)
        .filter(|g| *g != primary)
        .collect();
    let have: BTreeSet<&str> = cur.groups.iter().map(String::as_str).collect();
    if spec.append {
        let missing: Vec<&str> = want.difference(&have).copied().collect();
        if !missing.is_empty() {
            let list = missing.join(",");
            ch.push(sh!("-a -G {}", list), format!("user {n}: add to groups {list}"));
        }
    } else if want != have {
        let list = want.iter().copied().collect::<Vec<_>>().join(",");
        let old = have.iter().copied().collect::<Vec<_>>().join(",");
        ch.push(sh!("-G {}", list), format!("user {n}: groups {old} -> {list}"));
    }
}

/// `-e` when the expiry differs (Ansible reads a missing entry's expiry as 0).
fn expiry_change(spec: &UserSpec, shadow: &Shadow) -> Option<(Script, String)> {
    let exp = spec.expires?;
    let cur = if shadow.found { shadow.expire } else { 0 };
    let was = expiry_text(cur);
    if exp < 0.0 {
        let summary = format!("user {}: expires {was} -> never", spec.name);
        return (cur >= 0).then(|| (expiry_opt(exp), summary));
    }
    let day = expiry_day(exp);
    let summary = format!("user {}: expires {was} -> {}", spec.name, date_of_day(day));
    (cur < 0 || cur != day).then(|| (expiry_opt(exp), summary))
}

/// What the shadow-related arguments change on an existing account: `usermod` options
/// (`-e`, `-L`, `-U`), summary lines, and the hash to set through `chpasswd -e` (Ansible's
/// `usermod -p`, which replaces `-L`/`-U`).
pub fn shadow_changes(
    spec: &UserSpec,
    shadow: &Shadow,
) -> (Vec<Script>, Vec<String>, Option<Secret>) {
    let n = &spec.name;
    let mut ch = Changes::default();
    if let Some((opt, summary)) = expiry_change(spec, shadow) {
        ch.push(opt, summary);
    }
    let same = if shadow.found {
        shadow.same_password
    } else {
        // No entry: Ansible compares with an empty hash.
        spec.password
            .as_ref()
            .is_some_and(|p| p.0.trim_start_matches('!').is_empty())
    };
    let password = match &spec.password {
        Some(p) if spec.update_password_always && !same => Some(locked_hash(spec, p)),
        _ => None,
    };
    if password.is_some() {
        let locked = if spec.password_lock == Some(true) { " (locked)" } else { "" };
        ch.summary.push(format!("user {n}: set password{locked}"));
        return (ch.opts, ch.summary, password);
    }
    match spec.password_lock {
        Some(true) if !shadow.locked => {
            ch.push(Script::text("-L"), format!("user {n}: lock password"));
        }
        Some(false) if shadow.locked => {
            ch.push(Script::text("-U"), format!("user {n}: unlock password"));
        }
        _ => {}
    }
    (ch.opts, ch.summary, None)
}

/// A password that is only a lock marker (`!`, `*`, `!!`): no secret, so it is set on the
/// `useradd`/`usermod` line as Ansible sets it, in the same write as the account (a hash goes
/// through `chpasswd -e` on stdin instead, one more write of /etc/shadow).
fn lock_marker(p: &Secret) -> Option<&str> {
    let m = p.0.as_str();
    (!m.is_empty() && m.chars().all(|c| c == '!' || c == '*')).then_some(m)
}

/// Splits a password to set into a lock marker (for the command line) or a hash (for
/// `chpasswd -e`).
fn split_marker(password: Option<Secret>) -> (Option<String>, Option<Secret>) {
    match password {
        Some(p) if lock_marker(&p).is_some() => (Some(p.0), None),
        p => (None, p),
    }
}

/// The hash to store: `!HASH` when `password_lock` is set (Ansible's `-p !HASH`).
fn locked_hash(spec: &UserSpec, p: &Secret) -> Secret {
    if spec.password_lock == Some(true) {
        Secret(format!("!{}", p.0))
    } else {
        p.clone()
    }
}

/// The `chage` command for the password ageing arguments, comparing with `shadow` (`None`: a
/// new account, every given value is set). Ansible changes nothing when the entry is
/// unreadable.
pub fn chage_command(spec: &UserSpec, shadow: Option<&Shadow>) -> Option<(Script, Vec<String>)> {
    if shadow.is_some_and(|s| !s.found) {
        return None;
    }
    let mut ch = Changes::default();
    let ageing = [
        ("-m", "password_expire_min", spec.expire_min, shadow.map(|s| s.min)),
        ("-M", "password_expire_max", spec.expire_max, shadow.map(|s| s.max)),
        ("-W", "password_expire_warn", spec.expire_warn, shadow.map(|s| s.warn)),
    ];
    for (flag, label, want, cur) in ageing {
        let Some(w) = want else { continue };
        let summary = match cur {
            Some(c) if c == w => continue,
            Some(c) => format!("user {}: {label} {c} -> {w}", spec.name),
            None => format!("user {}: {label} {w}", spec.name),
        };
        ch.push(Script::text(flag).arg(w), summary);
    }
    if ch.opts.is_empty() {
        return None;
    }
    Some((command("chage", &ch.opts, &spec.name), ch.summary))
}

/// The account as it will be after `usermod` (for the diff).
fn account_after(spec: &UserSpec, cur: &Account) -> Account {
    let mut a = cur.clone();
    if let Some(u) = spec.uid {
        a.uid = u;
    }
    if let Some(g) = &spec.group {
        match g.parse::<u32>() {
            Ok(gid) if gid != cur.gid => a.group = format!("gid {gid}"),
            Ok(_) => {}
            Err(_) => a.group = g.clone(),
        }
    }
    if let Some(want) = &spec.groups {
        let want = want.iter().filter(|g| **g != a.group).cloned();
        if spec.append {
            a.groups.extend(want);
        } else {
            a.groups = want.collect();
        }
    }
    for (field, want) in [
        (&mut a.home, &spec.home),
        (&mut a.shell, &spec.shell),
        (&mut a.comment, &spec.comment),
    ] {
        if let Some(w) = want {
            field.clone_from(w);
        }
    }
    a
}

/// The before/after of the account's attributes.
fn account_diff(spec: &UserSpec, cur: Option<&Account>) -> Diff {
    let title = format!("user {}", spec.name);
    match cur {
        None => Diff::new(title, "", spec.describe_new()),
        Some(a) => Diff::new(title, a.describe(), account_after(spec, a).describe()),
    }
}

/// The `useradd` options for the home directory: `-m` (with the skeleton and umask) or `-M`.
fn home_opts(spec: &UserSpec) -> Vec<Script> {
    if !spec.create_home {
        return vec![Script::text("-M")];
    }
    let mut o = vec![Script::text("-m")];
    if let Some(k) = &spec.skeleton {
        o.push(sh!("-k {}", k));
    }
    if let Some(u) = &spec.umask {
        o.push(sh!("-K {}", format!("UMASK={u}")));
    }
    o
}

/// The `useradd` command line creating the account, with a lock marker (`-p '!'`, no secret)
/// when given: a hash is set afterwards through `chpasswd -e`, never on this line.
pub fn useradd_command(spec: &UserSpec, lock: Option<&str>) -> Script {
    let mut o: Vec<Script> = Vec::new();
    if let Some(m) = lock {
        o.push(sh!("-p {}", m));
    }
    if spec.system {
        o.push(Script::text("-r"));
    }
    if let Some(u) = spec.uid {
        o.push(uid_opt(u, spec.non_unique));
    }
    if let Some(g) = &spec.group {
        o.push(sh!("-g {}", g));
    }
    if let Some(gs) = spec.groups.as_ref().filter(|g| !g.is_empty()) {
        o.push(sh!("-G {}", gs.join(",")));
    }
    if let Some(h) = &spec.home {
        o.push(sh!("-d {}", h));
    }
    o.extend(home_opts(spec));
    if let Some(s) = &spec.shell {
        o.push(sh!("-s {}", s));
    }
    if let Some(c) = &spec.comment {
        o.push(sh!("-c {}", c));
    }
    if let Some(e) = spec.expires {
        o.push(expiry_opt(e));
    }
    command("useradd", &o, &spec.name)
}

/// The `userdel` command removing the account.
fn userdel_command(spec: &UserSpec) -> Script {
    let mut o = Vec::new();
    if spec.force {
        o.push(Script::text("-f"));
    }
    if spec.remove {
        o.push(Script::text("-r"));
    }
    command("userdel", &o, &spec.name)
}

/// The script creating a missing home directory as Ansible's `create_homedir`/`chown_homedir`
/// do: a copy of the skeleton (or an empty directory), mode from `/etc/login.defs`' `UMASK`,
/// everything owned by the user.
pub fn make_home_script(spec: &UserSpec, home: &str) -> Script {
    let skel = spec.skeleton.as_deref().unwrap_or("/etc/skel");
    sh!(
        "h={}; k={}\n\
         mkdir -p -- \"$(dirname -- \"$h\")\" || exit 1\n\
         if [ -e \"$k\" ] && [ \"$k\" != /dev/null ]; then cp -a -- \"$k\" \"$h\"; else mkdir -p -- \"$h\"; fi || exit 1\n\
         m=$(sed -n 's/^UMASK[[:space:]]\\{{1,\\}}\\([0-9]\\{{1,\\}}\\)$/\\1/p' /etc/login.defs 2>/dev/null | tail -n 1)\n\
         if [ -n \"$m\" ]; then chmod \"$(printf '%o' $((0777 & ~0$m)))\" -- \"$h\" || exit 1; fi\n\
         chown -R -- {}: \"$h\"",
        home,
        skel,
        spec.name
    )
}

/// The planned SSH key generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshStep {
    /// The script (no secret in it).
    pub script: Script,
    /// Its stdin: the passphrase, or `y` to confirm an overwrite.
    pub input: Option<Secret>,
}

/// Writes the passphrase read on stdin to a 0600 file in a private directory, and an askpass
/// helper printing it (ssh-keygen asks twice).
const ASKPASS_SETUP: &str = "t=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$t\"' EXIT\n(umask 077; cat > \"$t/p\") || exit 1\n\
     printf '#!/bin/sh\\ncat \"%s/p\"\\n' \"$t\" > \"$t/a\" && chmod 700 \"$t/a\" || exit 1";

/// The `ssh-keygen` command line writing `$f` (no passphrase option).
fn keygen_command(ssh: &SshSpec, key: &KeyState) -> Script {
    let comment = ssh
        .comment
        .clone()
        .unwrap_or_else(|| format!("ansible-generated on {}", key.hostname));
    let mut keygen = sh!("ssh-keygen -t {}", ssh.key_type);
    if ssh.bits > 0 {
        keygen = keygen.then_text(" -b").arg(ssh.bits);
    }
    keygen.then_text(" -C").arg(&comment).then_text(" -f \"$f\"")
}

/// The `ssh-keygen` step for `key` (`None`: the key exists and is kept, as Ansible does unless
/// `force`; with a passphrase Ansible never overwrites, its prompt handling gives up).
pub fn ssh_step(name: &str, ssh: &SshSpec, key: &KeyState) -> Option<SshStep> {
    let overwrite = key.exists && ssh.force && ssh.passphrase.is_none();
    if key.exists && !overwrite {
        return None;
    }
    let prepare = sh!(
        "f={}\nd=$(dirname -- \"$f\")\nif [ ! -e \"$d\" ]; then mkdir -m 0700 -- \"$d\" && chown -- {}: \"$d\" || exit 1; fi",
        key.path,
        name
    );
    let keygen = keygen_command(ssh, key);
    let (run, input) = if let Some(p) = &ssh.passphrase {
        let run = sh!(
            "{}\nSSH_ASKPASS=\"$t/a\" SSH_ASKPASS_REQUIRE=force {} </dev/null || exit 1",
            Script::text(ASKPASS_SETUP),
            keygen
        );
        (run, Some(p.clone()))
    } else if overwrite {
        (sh!("{} -N '' || exit 1", keygen), Some(Secret("y\n".into())))
    } else {
        (sh!("{} -N '' </dev/null || exit 1", keygen), None)
    };
    let own = sh!("chown -- {}: \"$f\" \"$f.pub\"", name);
    let script = Script::lines([&prepare, &run, &own]);
    Some(SshStep { script, input })
}

/// Everything a `user` run changes, in Ansible's order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Steps {
    /// `useradd`/`usermod`/`userdel`.
    pub account: Option<Script>,
    /// The hash for `chpasswd -e` (fed on stdin).
    pub password: Option<Secret>,
    /// Creating a missing home directory.
    pub make_home: Option<Script>,
    /// Generating the SSH key.
    pub ssh: Option<SshStep>,
    /// `chage`.
    pub chage: Option<Script>,
    /// One line per change.
    pub summary: Vec<String>,
}

const CHPASSWD: &str = "chpasswd -e";

impl Steps {
    /// True when nothing changes.
    pub fn is_empty(&self) -> bool {
        self.account.is_none()
            && self.password.is_none()
            && self.make_home.is_none()
            && self.ssh.is_none()
            && self.chage.is_none()
    }

    /// Every command line the steps run (none carries a secret: those go on stdin).
    pub fn command_lines(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        v.extend(self.account.as_ref().map(Script::as_str));
        if self.password.is_some() {
            v.push(CHPASSWD);
        }
        v.extend(self.make_home.as_ref().map(Script::as_str));
        v.extend(self.ssh.as_ref().map(|s| s.script.as_str()));
        v.extend(self.chage.as_ref().map(Script::as_str));
        v
    }

    /// Runs the steps in order; the hash and the passphrase go on stdin.
    async fn run(&self, ctx: &ModuleContext<'_>, name: &str) -> Result<(), ModuleError> {
        if let Some(c) = &self.account {
            run_checked(ctx, c, None).await?;
        }
        if let Some(p) = &self.password {
            let line = format!("{name}:{}\n", p.0);
            run_checked(ctx, &Script::text(CHPASSWD), Some(line.as_bytes())).await?;
        }
        if let Some(c) = &self.make_home {
            run_checked(ctx, c, None).await?;
        }
        if let Some(s) = &self.ssh {
            let input = s.input.as_ref().map(|i| i.0.as_bytes());
            run_checked(ctx, &s.script, input).await?;
        }
        if let Some(c) = &self.chage {
            run_checked(ctx, c, None).await?;
        }
        Ok(())
    }
}

/// Plans a present account: pure function of the request and the host's state (`cur: None`
/// when the account does not exist). Fails when a relative SSH key would have no home.
pub fn plan_present(
    spec: &UserSpec,
    cur: Option<&Current>,
    key: Option<&KeyState>,
) -> Result<Steps, String> {
    let mut st = Steps::default();
    let home_will_exist = match cur {
        None => plan_creation(spec, &mut st),
        Some(c) => {
            plan_modification(spec, c, &mut st);
            plan_home(spec, c, &mut st)
        }
    };
    if let (Some(ssh), Some(key)) = (&spec.ssh, key) {
        plan_key(spec, ssh, key, home_will_exist, &mut st)?;
    }
    if let Some((c, summary)) = chage_command(spec, cur.map(|c| &c.shadow)) {
        st.chage = Some(c);
        st.summary.extend(summary);
    }
    Ok(st)
}

/// `useradd` (a lock marker on its line, a hash through `chpasswd`); returns whether the home
/// will exist.
fn plan_creation(spec: &UserSpec, st: &mut Steps) -> bool {
    let (marker, password) = split_marker(spec.password.as_ref().map(|p| locked_hash(spec, p)));
    st.account = Some(useradd_command(spec, marker.as_deref()));
    st.password = password;
    st.summary.push(format!("create user {}", spec.name));
    spec.create_home
}

/// `usermod` for what differs, the hash through `chpasswd`.
fn plan_modification(spec: &UserSpec, c: &Current, st: &mut Steps) {
    let (mut opts, mut summary) = usermod_changes(spec, &c.account);
    let (shadow_opts, shadow_summary, password) = shadow_changes(spec, &c.shadow);
    opts.extend(shadow_opts);
    summary.extend(shadow_summary);
    let (marker, password) = split_marker(password);
    if let Some(m) = marker {
        opts.push(sh!("-p {}", m));
    }
    if !opts.is_empty() {
        st.account = Some(command("usermod", &opts, &spec.name));
    }
    st.password = password;
    st.summary = summary;
}

/// Creates a missing home when `create_home`; returns whether the home will exist.
fn plan_home(spec: &UserSpec, c: &Current, st: &mut Steps) -> bool {
    let current = &c.account.home;
    let target = spec.home.as_deref().unwrap_or(current);
    let moved = spec.move_home && target != current && c.homes.current_exists;
    let exists = if spec.home.is_some() && target != current {
        c.homes.wanted_exists || moved
    } else {
        c.homes.current_exists
    };
    if !exists && spec.create_home {
        st.make_home = Some(make_home_script(spec, target));
        st.summary
            .push(format!("user {}: create home {target}", spec.name));
    }
    exists || spec.create_home
}

/// Generates a missing key (or overwrites one with `force`).
fn plan_key(
    spec: &UserSpec,
    ssh: &SshSpec,
    key: &KeyState,
    home_will_exist: bool,
    st: &mut Steps,
) -> Result<(), String> {
    let n = &spec.name;
    if !key.home_exists && !home_will_exist {
        return Err(format!("User {n} home directory does not exist"));
    }
    if let Some(step) = ssh_step(n, ssh, key) {
        let verb = if key.exists { "regenerate" } else { "generate" };
        st.summary
            .push(format!("user {n}: {verb} ssh key {}", key.path));
        st.ssh = Some(step);
    }
    Ok(())
}

/// The `user` module.
#[derive(Debug)]
pub struct User {
    spec: UserSpec,
}

/// Reads the account's state; the desired hash, when it is to be compared, goes on stdin.
async fn read_state(ctx: &ModuleContext<'_>, spec: &UserSpec) -> Result<UserState, ModuleError> {
    let hash = spec.hash_to_compare();
    let fact = Sectioned(UserFact {
        spec,
        compare_hash: hash.is_some(),
    });
    match hash {
        Some(p) => {
            let input = format!("{}\n", p.0);
            server_util::fact_with_input(ctx, &fact, input.as_bytes()).await
        }
        None => Ok(ctx.fact(&fact).await?),
    }
}

#[async_trait]
impl Module for User {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let spec = &self.spec;
        let state = read_state(ctx, spec).await?;
        let word = match spec.state {
            Presence::Present => "present",
            Presence::Absent => "absent",
        };
        let plan = Plan::unchanged()
            .with_result("name", json!(spec.name))
            .with_result("state", json!(word));
        match spec.state {
            Presence::Absent => Ok(plan_absent(spec, state, plan)),
            Presence::Present => plan_present_change(spec, state, plan),
        }
    }
}

/// `userdel` when the account exists.
fn plan_absent(spec: &UserSpec, state: UserState, plan: Plan) -> Plan {
    let Some(cur) = state.current else {
        return plan;
    };
    let name = &spec.name;
    let diff = Diff::new(format!("user {name}"), cur.account.describe(), "");
    let action = UserAction {
        name: name.clone(),
        steps: Steps {
            account: Some(userdel_command(spec)),
            ..Steps::default()
        },
        report: None,
    };
    plan.with_result("force", json!(spec.force))
        .with_result("remove", json!(spec.remove))
        .with_change(vec![format!("remove user {name}")], vec![diff], action)
}

/// The steps of a present account, its result fields and its diff.
fn plan_present_change(
    spec: &UserSpec,
    state: UserState,
    mut plan: Plan,
) -> Result<Plan, ModuleError> {
    let steps = plan_present(spec, state.current.as_ref(), state.key.as_ref())
        .map_err(ModuleError::failed)?;
    let account = state.current.map(|c| c.account);
    let key = state.key;
    plan.result_mut()
        .extend(present_result(spec, account.as_ref(), key.as_ref(), &steps));
    if let Some(w) = password_warning(spec) {
        plan = plan.with_result("warnings", json!([w]));
    }
    if steps.is_empty() {
        return Ok(plan);
    }
    let diff = account_diff(spec, account.as_ref());
    let summary = steps.summary.clone();
    let action = UserAction {
        name: spec.name.clone(),
        report: Some(Report {
            key_path: key.map(|k| k.path),
            groups: spec.groups.as_ref().map(|g| g.join(",")),
        }),
        steps,
    };
    Ok(plan.with_change(summary, vec![diff], action))
}

/// Ansible's warning for a password that does not look hashed.
fn password_warning(spec: &UserSpec) -> Option<&'static str> {
    let p = &spec.password.as_ref()?.0;
    if p.is_empty() || ["*", "!", "*************"].contains(&p.as_str()) {
        return None;
    }
    let mut bad = p.contains([':', '*', '!']) || !p.contains('$');
    if !bad {
        let f: Vec<&str> = p.split('$').collect();
        if f.len() >= 3 {
            let last = f[f.len() - 1];
            bad |= last
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "./=".contains(c)));
            bad |= match f[1] {
                "1" => last.len() != 22,
                "5" | "y" => last.len() != 43,
                "6" => last.len() != 86,
                _ => false,
            };
        } else {
            bad = true;
        }
    }
    bad.then_some(
        "The input password appears not to have been hashed. The 'password' argument must be encrypted for this module to work properly.",
    )
}

/// The result fields known when planning a present account (a real run refreshes the account's
/// fields and the key's after applying).
fn present_result(
    spec: &UserSpec,
    acct: Option<&Account>,
    key: Option<&KeyState>,
    steps: &Steps,
) -> Map<String, Value> {
    let mut m = Map::new();
    match acct {
        None => {
            m.insert("system".into(), json!(spec.system));
            m.insert("create_home".into(), json!(spec.create_home));
        }
        Some(a) => {
            m.insert("append".into(), json!(spec.append));
            m.insert("move_home".into(), json!(spec.move_home));
            m.extend(account_fields(a));
            if let Some(g) = &spec.groups {
                m.insert("groups".into(), json!(g.join(",")));
            }
        }
    }
    if spec.password.is_some() {
        m.insert("password".into(), json!(NOT_LOGGING_PASSWORD));
    }
    if let Some(k) = key {
        let fresh = steps.ssh.is_some();
        m.insert("ssh_key_file".into(), json!(k.path));
        let (fingerprint, public) = match fresh {
            true => ("", Value::Null),
            false => (k.fingerprint.as_str(), json!(k.public_key)),
        };
        m.insert("ssh_fingerprint".into(), json!(fingerprint));
        m.insert("ssh_public_key".into(), public);
    }
    m
}

/// The result fields of an account: uid, group (the gid), comment, home, shell.
fn account_fields(a: &Account) -> Map<String, Value> {
    [
        ("uid", json!(a.uid)),
        ("group", json!(a.gid)),
        ("comment", json!(a.comment)),
        ("home", json!(a.home)),
        ("shell", json!(a.shell)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What to read back after applying (Ansible's result reflects the account after the change).
struct Report {
    key_path: Option<String>,
    groups: Option<String>,
}

impl Report {
    /// The result fields of the account and its key after the change.
    async fn read(&self, ctx: &ModuleContext<'_>, name: &str) -> Result<Outcome, ModuleError> {
        let fact = Sectioned(Readback {
            name,
            key_path: self.key_path.as_deref(),
        });
        let (account, key) = ctx.fact(&fact).await?;
        let mut outcome = Outcome::default();
        if let Some(a) = account {
            outcome.result.extend(account_fields(&a));
            if let Some(g) = &self.groups {
                outcome.result.insert("groups".into(), json!(g));
            }
        }
        if let Some((fingerprint, public)) = key {
            outcome
                .result
                .insert("ssh_fingerprint".into(), json!(fingerprint));
            outcome
                .result
                .insert("ssh_public_key".into(), json!(public));
        }
        Ok(outcome)
    }
}

/// Applies the planned [`Steps`], in order, then reads the account back.
struct UserAction {
    name: String,
    steps: Steps,
    report: Option<Report>,
}

#[async_trait]
impl Action for UserAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        self.steps.run(ctx, &self.name).await?;
        match &self.report {
            Some(report) => report.read(ctx, &self.name).await,
            None => Ok(Outcome::default()),
        }
    }
}

/// Runs `script` (with `input` on stdin) and fails with its stderr unless it exits 0. The
/// failure names the script's first line, which never holds a secret.
async fn run_checked(
    ctx: &ModuleContext<'_>,
    script: &Script,
    input: Option<&[u8]>,
) -> Result<(), ModuleError> {
    let out = match input {
        Some(i) => ctx.run_with_input(script, i).await?,
        None => ctx.run(script).await?,
    };
    let text = script.as_str();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    server_util::check_output(first, &out)
}

/// True for names useradd/groupadd accept.
pub(crate) fn valid_account_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && !n.starts_with('-')
        && n.trim_end_matches('$')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn args_err(msg: impl Into<String>) -> ModuleError {
    ModuleError::args(msg)
}

/// Why a value of this argument is no use on Linux.
const NOT_ON_LINUX: &str = "Ansible ignores it on Linux, prov refuses it rather than ignore it";

/// Refuses the arguments prov does not implement (rather than ignore them).
fn refuse_unsupported(a: &UserArgs) -> Result<(), ModuleError> {
    let refused: [(&str, &Option<Value>, String); 7] = [
        (
            "seuser",
            &a.seuser,
            "sets an SELinux user (useradd -Z), which Debian hosts do not use; prov does not implement it".into(),
        ),
        ("login_class", &a.login_class, format!("is a BSD login class: {NOT_ON_LINUX}")),
        ("hidden", &a.hidden, format!("is macOS only: {NOT_ON_LINUX}")),
        ("profile", &a.profile, format!("is Solaris only: {NOT_ON_LINUX}")),
        ("authorization", &a.authorization, format!("is Solaris only: {NOT_ON_LINUX}")),
        ("role", &a.role, format!("is Solaris only: {NOT_ON_LINUX}")),
        (
            "password_expire_account_disable",
            &a.password_expire_account_disable,
            "(useradd/usermod -f) is not implemented by prov".into(),
        ),
    ];
    for (field, v, why) in refused {
        if v.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(args_err(format!("`{field}` {why}")));
        }
    }
    if a.local == Some(true) {
        return Err(args_err(
            "`local: true` uses libuser's luseradd/lusermod/luserdel, which prov does not drive; \
             leave `local` unset or false (useradd/usermod/userdel)",
        ));
    }
    Ok(())
}

/// Refuses values useradd would misread: `:` or newlines in the passwd fields, a newline in
/// the key comment or the password, an expiry past year 9999, a skeleton without a home.
fn check_values(a: &UserArgs) -> Result<(), ModuleError> {
    if !valid_account_name(&a.name) {
        return Err(args_err(format!("`{}` is not a valid user name", a.name)));
    }
    let fields = [
        ("home", &a.home),
        ("shell", &a.shell),
        ("comment", &a.comment),
        ("skeleton", &a.skeleton),
        ("ssh_key_file", &a.ssh_key_file),
        ("ssh_key_type", &a.ssh_key_type),
    ];
    if let Some((f, _)) = fields
        .iter()
        .find(|(_, v)| v.as_ref().is_some_and(|v| v.contains([':', '\n'])))
    {
        return Err(args_err(format!("{f} must not contain `:` or newlines")));
    }
    if a.ssh_key_comment.as_ref().is_some_and(|c| c.contains('\n')) {
        return Err(args_err("ssh_key_comment must not contain newlines"));
    }
    if a.password.as_ref().is_some_and(|p| p.0.contains(['\n', '\r'])) {
        return Err(args_err("password must not contain newlines"));
    }
    if let Some(e) = a.expires
        && !(e < 0.0 || (e.is_finite() && e < 253_402_300_800.0))
    {
        return Err(args_err(format!("Invalid value for 'expires' {e}")));
    }
    if a.skeleton.is_some() && a.create_home == Some(false) {
        return Err(args_err("skeleton requires create_home"));
    }
    Ok(())
}

/// A scalar argument as a string (`group: 990`, `umask: "0077"`).
fn scalar(field: &str, what: &str, v: Option<Value>) -> Result<Option<String>, ModuleError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(o) => Err(args_err(format!("{field} must be {what}, found {o}"))),
    }
}

/// The primary and supplementary groups, every name valid.
fn group_args(a: &mut UserArgs) -> Result<(Option<String>, Option<Vec<String>>), ModuleError> {
    let group = scalar("group", "a name or a gid", a.group.take())?;
    let groups = a.groups.take().map(|g| g.0);
    if let Some(g) = group
        .iter()
        .chain(groups.iter().flatten())
        .find(|g| !valid_account_name(g))
    {
        return Err(args_err(format!("`{g}` is not a valid group name")));
    }
    Ok((group, groups))
}

/// The umask of a new home: octal digits.
fn umask_arg(a: &mut UserArgs) -> Result<Option<String>, ModuleError> {
    let umask = scalar("umask", "a string", a.umask.take())?;
    if let Some(u) = &umask
        && (u.is_empty() || !u.chars().all(|c| ('0'..='7').contains(&c)))
    {
        return Err(args_err(format!("umask `{u}` is not an octal umask")));
    }
    Ok(umask)
}

/// The key request when `generate_ssh_key` is on.
fn ssh_spec(a: &mut UserArgs) -> Option<SshSpec> {
    if a.generate_ssh_key != Some(true) {
        return None;
    }
    let key_type = a.ssh_key_type.take().unwrap_or_else(|| "rsa".into());
    let file = a
        .ssh_key_file
        .take()
        .unwrap_or_else(|| format!(".ssh/id_{key_type}"));
    Some(SshSpec {
        bits: a.ssh_key_bits.unwrap_or(0),
        key_type,
        file,
        comment: a.ssh_key_comment.take(),
        passphrase: a.ssh_key_passphrase.take(),
        force: a.force,
    })
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let mut a: UserArgs = parse_args(args)?;
    check_values(&a)?;
    refuse_unsupported(&a)?;
    let (group, groups) = group_args(&mut a)?;
    let umask = umask_arg(&mut a)?;
    let ssh = ssh_spec(&mut a);
    Ok(Box::new(User {
        spec: UserSpec {
            name: a.name,
            state: a.state,
            system: a.system,
            uid: a.uid,
            non_unique: a.non_unique,
            group,
            groups,
            append: a.append,
            home: a.home,
            move_home: a.move_home,
            create_home: a.create_home.unwrap_or(true),
            skeleton: a.skeleton,
            umask,
            shell: a.shell,
            comment: a.comment,
            password: a.password,
            update_password_always: a.update_password == UpdatePassword::Always,
            password_lock: a.password_lock,
            expires: a.expires,
            expire_max: a.password_expire_max,
            expire_min: a.password_expire_min,
            expire_warn: a.password_expire_warn,
            ssh,
            remove: a.remove,
            force: a.force,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing;
    use prov_core::Fact;

    fn texts(v: &[Script]) -> Vec<&str> {
        v.iter().map(Script::as_str).collect()
    }

    fn text(s: &Option<Script>) -> Option<&str> {
        s.as_ref().map(Script::as_str)
    }

    fn fact_script(s: &UserSpec, compare_hash: bool) -> String {
        let f = Sectioned(UserFact {
            spec: s,
            compare_hash,
        });
        f.script().as_str().to_owned()
    }

    const HASH: &str = "$6$saltsalt$Vc3o7ZtSu2v7cJ1q0oNq0m6b0w5y4zP1M8rQm3q6iB1JQ0y1lQHqGZlN0pGzIYu5vP8b3N9Tt8c5xS0aWvYfG/";

    fn spec() -> UserSpec {
        UserSpec {
            name: "redis".into(),
            state: Presence::Present,
            system: true,
            uid: None,
            non_unique: false,
            group: None,
            groups: None,
            append: false,
            home: None,
            move_home: false,
            create_home: false,
            skeleton: None,
            umask: None,
            shell: None,
            comment: None,
            password: None,
            update_password_always: true,
            password_lock: None,
            expires: None,
            expire_max: None,
            expire_min: None,
            expire_warn: None,
            ssh: None,
            remove: false,
            force: false,
        }
    }

    fn acct() -> Account {
        Account::parse(
            "redis:x:105:110:Redis Server:/var/lib/redis:/usr/sbin/nologin\n",
            "redis adm\n",
        )
        .unwrap()
        .unwrap()
    }

    fn shadow() -> Shadow {
        Shadow::parse("found=1\nmin=0\nmax=99999\nwarn=7\nexpire=-1\n").unwrap()
    }

    fn current() -> Current {
        Current {
            account: acct(),
            shadow: shadow(),
            homes: HomeState {
                current_exists: true,
                wanted_exists: false,
            },
        }
    }

    fn ssh(force: bool, passphrase: Option<&str>) -> SshSpec {
        SshSpec {
            bits: 0,
            key_type: "rsa".into(),
            file: ".ssh/id_rsa".into(),
            comment: None,
            passphrase: passphrase.map(|p| Secret(p.into())),
            force,
        }
    }

    fn key(exists: bool) -> KeyState {
        KeyState {
            path: "/var/lib/redis/.ssh/id_rsa".into(),
            home_exists: true,
            exists,
            hostname: "lab4".into(),
            fingerprint: if exists {
                "3072 SHA256:abc ansible-generated on lab4 (RSA)".into()
            } else {
                String::new()
            },
            public_key: exists.then(|| "ssh-rsa AAAA ansible-generated on lab4".into()),
        }
    }

    /// Every way a secret could leave: command lines, summary, Debug output.
    fn assert_secret_hidden(st: &Steps, secret: &str) {
        for line in st.command_lines() {
            assert!(!line.contains(secret), "secret in a command line: {line}");
        }
        for line in &st.summary {
            assert!(!line.contains(secret), "secret in the summary: {line}");
        }
        assert!(!format!("{st:?}").contains(secret), "secret in Debug");
    }

    /// A directory of fake `getent`, `id` and `ssh-keygen` for running the probes locally:
    /// `alice` exists with the home `home`, `bob` does not.
    fn fake_tools(home: &std::path::Path) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let bin = tempfile::tempdir().expect("tempdir");
        let tools = [
            (
                "getent",
                format!(
                    "case \"$1 $2\" in\n\
                     'passwd alice') echo 'alice:x:1001:1001:Alice:{}:/bin/bash';;\n\
                     'shadow alice') echo 'alice:{HASH}:20000:0:99999:7:::';;\n\
                     *) exit 2;;\nesac",
                    home.display()
                ),
            ),
            (
                "id",
                "[ \"$1 $2\" = '-Gn alice' ] || exit 1\necho alice adm"
                    .to_owned(),
            ),
            ("ssh-keygen", "echo '256 SHA256:abc k (ED25519)'".to_owned()),
        ];
        for (name, body) in tools {
            let path = bin.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        bin
    }

    #[test]
    fn the_fact_reads_account_shadow_homes_and_key_in_one_probe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("alice home");
        std::fs::create_dir_all(home.join(".ssh")).expect("mkdir");
        std::fs::write(home.join(".ssh/id_rsa"), "private").expect("write");
        std::fs::write(home.join(".ssh/id_rsa.pub"), "ssh-rsa AAAA k\n").expect("write");
        let bin = fake_tools(&home);
        let mut s = spec();
        s.name = "alice".into();
        s.home = Some(home.display().to_string());
        s.ssh = Some(ssh(false, None));
        s.password = Some(Secret(HASH.into()));
        let fact = Sectioned(UserFact {
            spec: &s,
            compare_hash: true,
        });
        assert!(!fact.script().as_str().contains(HASH), "the hash goes on stdin");
        let st = fact
            .parse(&testing::sh(&fact.script(), Some(bin.path())))
            .unwrap();
        let cur = st.current.expect("alice exists");
        assert_eq!((cur.account.uid, cur.account.group.as_str()), (1001, "alice"));
        assert_eq!(cur.account.groups.iter().collect::<Vec<_>>(), ["adm"]);
        // Nothing on stdin here: the empty hash differs.
        assert!(cur.shadow.found && !cur.shadow.same_password);
        assert_eq!((cur.shadow.max, cur.shadow.expire), (99999, -1));
        assert!(cur.homes.current_exists && cur.homes.wanted_exists);
        let key = st.key.expect("a key was asked for");
        assert_eq!(key.path, home.join(".ssh/id_rsa").display().to_string());
        assert!(key.exists && key.home_exists && !key.hostname.is_empty());
        assert_eq!(key.fingerprint, "256 SHA256:abc k (ED25519)");
        assert_eq!(key.public_key.as_deref(), Some("ssh-rsa AAAA k"));

        // No account: useradd's default home for a relative key.
        s.name = "bob".into();
        s.home = None;
        let fact = Sectioned(UserFact {
            spec: &s,
            compare_hash: false,
        });
        let st = fact
            .parse(&testing::sh(&fact.script(), Some(bin.path())))
            .unwrap();
        assert!(st.current.is_none());
        let key = st.key.expect("a key was asked for");
        assert!(key.path.ends_with("/bob/.ssh/id_rsa"), "{}", key.path);
        assert!(!key.exists && key.public_key.is_none());

        // After the change: the account and the key, read back.
        let back = Sectioned(Readback {
            name: "alice",
            key_path: Some(&key_path_of(&home)),
        });
        let (account, key) = back
            .parse(&testing::sh(&back.script(), Some(bin.path())))
            .unwrap();
        assert_eq!(account.map(|a| a.uid), Some(1001));
        let (fingerprint, public) = key.expect("key read back");
        assert_eq!(fingerprint, "256 SHA256:abc k (ED25519)");
        assert_eq!(public.as_deref(), Some("ssh-rsa AAAA k"));
    }

    fn key_path_of(home: &std::path::Path) -> String {
        home.join(".ssh/id_rsa").display().to_string()
    }

    #[test]
    fn a_malformed_answer_names_the_fact_and_never_a_value() {
        let s = spec();
        let fact = Sectioned(UserFact {
            spec: &s,
            compare_hash: false,
        });
        let answer = |passwd: &str, shadow: &str| {
            testing::output(
                0,
                &format!(
                    "@@prov:passwd\n{passwd}\n@@prov:groups\n\n\
                     @@prov:shadow\n{shadow}\n@@prov:homes\n\n@@prov:end\n"
                ),
                "",
            )
        };
        assert!(fact.parse(&answer("", "")).unwrap().current.is_none());
        let e = fact.parse(&answer("redis:x:lots", "")).unwrap_err();
        assert_eq!(e.fact, "user redis");
        assert!(e.detail.contains("redis:x:lots"), "{e:?}");
        let e = fact
            .parse(&answer("redis:x:1:2:::/bin/sh", "found=1\nmax=s3cret"))
            .unwrap_err();
        assert!(e.detail.contains("max") && !e.detail.contains("s3cret"), "{e:?}");
        let cut = testing::output(1, "@@prov:passwd\n", "getent: boom");
        assert!(fact.parse(&cut).unwrap_err().detail.contains("boom"));
    }

    #[test]
    fn getent_output_parses() {
        let a = acct();
        assert_eq!((a.uid, a.gid, a.group.as_str()), (105, 110, "redis"));
        assert_eq!(a.home, "/var/lib/redis");
        assert_eq!(a.groups.iter().collect::<Vec<_>>(), ["adm"]);
        assert_eq!(Account::parse("", ""), Ok(None));
        let s =
            Shadow::parse("found=1\nlocked=1\nsame=1\nmin=0\nmax=99999\nwarn=7\nexpire=19000\n")
                .unwrap();
        assert!(s.found && s.locked && s.same_password);
        assert_eq!((s.min, s.max, s.warn, s.expire), (0, 99999, 7, 19000));
        assert!(!Shadow::parse("").unwrap().found);
    }

    #[test]
    fn only_differences_are_modified() {
        let mut s = spec();
        s.shell = Some("/usr/sbin/nologin".into());
        s.home = Some("/var/lib/redis".into());
        s.group = Some("110".into());
        s.groups = Some(vec!["adm".into(), "redis".into()]);
        assert_eq!(texts(&usermod_changes(&s, &acct()).0), Vec::<&str>::new());
        s.shell = Some("/bin/bash".into());
        s.groups = Some(vec!["disk".into()]);
        s.append = true;
        let (opts, summary) = usermod_changes(&s, &acct());
        assert_eq!(texts(&opts), ["-a -G disk", "-s /bin/bash"]);
        assert_eq!(summary.len(), 2);
        s.append = false;
        s.groups = Some(vec![]);
        assert_eq!(
            texts(&usermod_changes(&s, &acct()).0),
            ["-G ''", "-s /bin/bash"]
        );
        s.uid = Some(0);
        s.non_unique = true;
        assert_eq!(usermod_changes(&s, &acct()).0[0].as_str(), "-u 0 -o");
    }

    #[test]
    fn useradd_line() {
        let mut s = spec();
        s.comment = Some("Redis Server".into());
        s.groups = Some(vec!["adm".into()]);
        assert_eq!(
            useradd_command(&s, None).as_str(),
            "useradd -r -G adm -M -c 'Redis Server' -- redis"
        );
        s.create_home = true;
        s.skeleton = Some("/etc/skel.redis".into());
        s.umask = Some("0077".into());
        s.uid = Some(2001);
        s.non_unique = true;
        s.expires = Some(1_422_403_387.0);
        s.password = Some(Secret(HASH.into()));
        let line = useradd_command(&s, None);
        assert_eq!(
            line.as_str(),
            "useradd -r -u 2001 -o -G adm -m -k /etc/skel.redis -K UMASK=0077 -c 'Redis Server' -e 2015-01-28 -- redis"
        );
        assert!(!line.as_str().contains("-p"));
        s.expires = Some(-1.0);
        assert!(useradd_command(&s, None).as_str().contains(" -e '' "));
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(date_of_day(16463), "2015-01-28");
        assert_eq!(date_of_day(19783), "2024-03-01");
        assert_eq!(expiry_day(1_422_403_387.0), 16463);
        assert_eq!(expiry_day(86_399.9), 0);
    }

    #[test]
    fn new_account_sets_the_hash_through_stdin_only() {
        let mut s = spec();
        s.password = Some(Secret(HASH.into()));
        let st = plan_present(&s, None, None).unwrap();
        assert_eq!(text(&st.account), Some("useradd -r -M -- redis"));
        assert_eq!(st.password, Some(Secret(HASH.into())));
        assert_eq!(
            st.command_lines(),
            ["useradd -r -M -- redis", "chpasswd -e"]
        );
        assert_eq!(st.summary, ["create user redis"]);
        assert_secret_hidden(&st, HASH);
        // on_create still sets it on creation; password_lock stores `!HASH`.
        s.update_password_always = false;
        s.password_lock = Some(true);
        let st = plan_present(&s, None, None).unwrap();
        assert_eq!(st.password, Some(Secret(format!("!{HASH}"))));
        assert_secret_hidden(&st, HASH);
    }

    #[test]
    fn a_lock_marker_is_set_with_the_account_as_ansible_does() {
        // `password: '!'` (the users role's default) is no secret: one write of /etc/shadow,
        // as Ansible's `useradd -p '!'`, so even /etc/shadow- comes out the same.
        let mut s = spec();
        s.password = Some(Secret("!".into()));
        let st = plan_present(&s, None, None).unwrap();
        assert_eq!(st.command_lines(), ["useradd -p '!' -r -M -- redis"]);
        assert_eq!(st.password, None);
        let st = plan_present(&s, Some(&current()), None).unwrap();
        assert_eq!(st.command_lines(), ["usermod -p '!' -- redis"]);
    }

    #[test]
    fn existing_password_compared_as_ansible_does() {
        let mut s = spec();
        s.password = Some(Secret(HASH.into()));
        let mut c = current();
        // Differs: set it (changed), only through chpasswd.
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(st.account, None);
        assert_eq!(st.password, Some(Secret(HASH.into())));
        assert_eq!(st.summary, ["user redis: set password"]);
        assert_secret_hidden(&st, HASH);
        // Same (leading `!` aside, as the host reports): nothing to do.
        c.shadow.same_password = true;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        // on_create never updates an existing account.
        c.shadow.same_password = false;
        s.update_password_always = false;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
    }

    #[test]
    fn password_lock_and_unlock() {
        let mut s = spec();
        let mut c = current();
        s.password_lock = Some(true);
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(text(&st.account), Some("usermod -L -- redis"));
        assert_eq!(st.summary, ["user redis: lock password"]);
        c.shadow.locked = true;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        s.password_lock = Some(false);
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(text(&st.account), Some("usermod -U -- redis"));
        // With a differing password, -L/-U give way to the (locked) hash, as with usermod -p.
        s.password = Some(Secret(HASH.into()));
        s.password_lock = Some(true);
        c.shadow.locked = false;
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(st.account, None);
        assert_eq!(st.password, Some(Secret(format!("!{HASH}"))));
        assert_eq!(st.summary, ["user redis: set password (locked)"]);
        // `password: '!'` on an account whose hash is `!`: the host says same, nothing to do.
        s.password = Some(Secret("!".into()));
        s.password_lock = None;
        c.shadow.same_password = true;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
    }

    #[test]
    fn expires_compares_days() {
        let mut s = spec();
        let mut c = current();
        s.expires = Some(1_422_403_387.0);
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(
            text(&st.account),
            Some("usermod -e 2015-01-28 -- redis")
        );
        assert_eq!(st.summary, ["user redis: expires never -> 2015-01-28"]);
        c.shadow.expire = 16463;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        s.expires = Some(-1.0);
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(text(&st.account), Some("usermod -e '' -- redis"));
        c.shadow.expire = -1;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
    }

    #[test]
    fn password_ageing_through_chage() {
        let mut s = spec();
        let c = current();
        s.expire_max = Some(90);
        s.expire_warn = Some(7);
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(text(&st.chage), Some("chage -M 90 -- redis"));
        assert_eq!(st.summary, ["user redis: password_expire_max 99999 -> 90"]);
        s.expire_max = Some(99999);
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        // A new account: every given value.
        let st = plan_present(&s, None, None).unwrap();
        assert_eq!(text(&st.chage), Some("chage -M 99999 -W 7 -- redis"));
    }

    #[test]
    fn missing_home_is_created_when_create_home() {
        let mut s = spec();
        let mut c = current();
        c.homes.current_exists = false;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        s.create_home = true;
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(st.summary, ["user redis: create home /var/lib/redis"]);
        let script = st.make_home.unwrap().as_str().to_owned();
        assert!(script.contains("cp -a -- \"$k\" \"$h\""), "{script}");
        assert!(script.contains("chown -R -- redis: \"$h\""), "{script}");
        // A moved home exists afterwards.
        c.homes.current_exists = true;
        s.home = Some("/srv/redis".into());
        s.move_home = true;
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(
            text(&st.account),
            Some("usermod -d /srv/redis -m -- redis")
        );
        assert!(st.make_home.is_none());
    }

    #[test]
    fn ssh_key_generated_only_when_missing() {
        let mut s = spec();
        s.ssh = Some(ssh(false, None));
        let c = current();
        assert!(
            plan_present(&s, Some(&c), Some(&key(true)))
                .unwrap()
                .is_empty()
        );
        let st = plan_present(&s, Some(&c), Some(&key(false))).unwrap();
        assert_eq!(
            st.summary,
            ["user redis: generate ssh key /var/lib/redis/.ssh/id_rsa"]
        );
        let step = st.ssh.unwrap();
        assert!(step.input.is_none());
        assert!(
            step.script.as_str().contains(
                "ssh-keygen -t rsa -C 'ansible-generated on lab4' -f \"$f\" -N '' </dev/null"
            ),
            "{}",
            step.script
                .as_str()
        );
        assert!(
            step.script
                .as_str()
                .contains("mkdir -m 0700 -- \"$d\" && chown -- redis: \"$d\"")
        );
        assert!(step.script.as_str().contains("chown -- redis: \"$f\" \"$f.pub\""));
        // Bits and comment.
        let mut o = ssh(false, None);
        o.bits = 4096;
        o.comment = Some("me@x".into());
        o.key_type = "ed25519".into();
        let step = ssh_step("redis", &o, &key(false)).unwrap();
        assert!(
            step.script
                .as_str()
                .contains("ssh-keygen -t ed25519 -b 4096 -C me@x -f")
        );
        // force overwrites (answering ssh-keygen's prompt); with a passphrase Ansible does not.
        let step = ssh_step("redis", &ssh(true, None), &key(true)).unwrap();
        assert_eq!(step.input, Some(Secret("y\n".into())));
        assert!(ssh_step("redis", &ssh(true, Some("pp")), &key(true)).is_none());
    }

    #[test]
    fn ssh_passphrase_goes_through_stdin() {
        let pass = "correct horse battery";
        let mut s = spec();
        s.ssh = Some(ssh(false, Some(pass)));
        let st = plan_present(&s, Some(&current()), Some(&key(false))).unwrap();
        assert_secret_hidden(&st, pass);
        let step = st.ssh.unwrap();
        assert_eq!(step.input, Some(Secret(pass.into())));
        assert!(step.script.as_str().contains("SSH_ASKPASS_REQUIRE=force"));
        assert!(!step.script.as_str().contains(" -N "));
    }

    #[test]
    fn relative_key_without_home_fails() {
        let mut s = spec();
        s.ssh = Some(ssh(false, None));
        let mut c = current();
        c.homes.current_exists = false;
        let mut k = key(false);
        k.home_exists = false;
        let e = plan_present(&s, Some(&c), Some(&k)).unwrap_err();
        assert_eq!(e, "User redis home directory does not exist");
        // A new account with create_home gets its home from useradd -m.
        s.create_home = true;
        assert!(plan_present(&s, None, Some(&k)).unwrap().ssh.is_some());
    }

    #[test]
    fn result_hides_the_password() {
        let mut s = spec();
        s.password = Some(Secret(HASH.into()));
        s.ssh = Some(ssh(false, None));
        let st = plan_present(&s, Some(&current()), Some(&key(true))).unwrap();
        let r = present_result(&s, Some(&acct()), Some(&key(true)), &st);
        assert_eq!(r["password"], json!(NOT_LOGGING_PASSWORD));
        assert_eq!(r["ssh_key_file"], json!("/var/lib/redis/.ssh/id_rsa"));
        assert_eq!(
            r["ssh_fingerprint"],
            json!("3072 SHA256:abc ansible-generated on lab4 (RSA)")
        );
        assert!(!Value::Object(r).to_string().contains(HASH));
        assert!(!format!("{s:?}").contains(HASH));
        // Check mode of a key to create: Ansible's empty fingerprint and no public key.
        let st = plan_present(&s, Some(&current()), Some(&key(false))).unwrap();
        let r = present_result(&s, Some(&acct()), Some(&key(false)), &st);
        assert_eq!(
            (&r["ssh_fingerprint"], &r["ssh_public_key"]),
            (&json!(""), &Value::Null)
        );
    }

    #[test]
    fn password_warning_as_ansible() {
        let mut s = spec();
        s.password = Some(Secret(HASH.into()));
        assert_eq!(password_warning(&s), None);
        s.password = Some(Secret("!".into()));
        assert_eq!(password_warning(&s), None);
        s.password = Some(Secret("hunter2".into()));
        assert!(password_warning(&s).is_some());
    }

    /// The shadow comparison runs on the host with shell builtins: check it with a real `sh`
    /// and a fake `getent`.
    #[test]
    fn shadow_script_compares_on_the_host() {
        let run = |entry: &str, want: &str| -> Shadow {
            let script = format!(
                "getent() {{ printf '%s\\n' {}; }}\nwant=; IFS= read -r want || true\n{}",
                prov_core::quote(entry),
                shadow_script("u")
            );
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("sh runs");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{want}\n").as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(!text.contains('$'), "no hash is printed: {text}");
            Shadow::parse(&text).unwrap()
        };
        let s = run(&format!("u:{HASH}:20000:0:99999:7:::"), HASH);
        assert!(s.found && s.same_password && !s.locked);
        assert_eq!((s.min, s.max, s.warn, s.expire), (0, 99999, 7, -1));
        let s = run(&format!("u:!!{HASH}:20000:::::16463:"), HASH);
        assert!(s.locked && s.same_password);
        assert_eq!((s.min, s.expire), (-1, 16463));
        assert!(!run(&format!("u:{HASH}:20000:0:99999:7:::"), "$6$x$y").same_password);
        // `*` is not globbed; `!` and `!` compare equal.
        assert!(!run("u:*:20000:0:99999:7:::", "!").same_password);
        assert!(run("u:!:20000:0:99999:7:::", "!").same_password);
    }

    fn sh_syntax_ok(script: &str) {
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn generated_scripts_are_valid_sh() {
        let mut s = spec();
        s.name = "alice$".into();
        s.password = Some(Secret(HASH.into()));
        s.ssh = Some(ssh(false, Some("pp")));
        sh_syntax_ok(&fact_script(&s, true));
        s.home = Some("/home/a b".into());
        s.ssh = Some(ssh(false, None));
        sh_syntax_ok(&fact_script(&s, false));
        sh_syntax_ok(make_home_script(&s, "/home/a b").as_str());
        for step in [
            ssh_step("alice", &ssh(false, Some("pp")), &key(false)),
            ssh_step("alice", &ssh(true, None), &key(true)),
            ssh_step("alice", &ssh(false, None), &key(false)),
        ] {
            sh_syntax_ok(step.unwrap().script.as_str());
        }
        if std::env::var_os("PROV_PRINT_SSH_SCRIPT").is_some() {
            let mut k = key(false);
            k.path = std::env::var("PROV_PRINT_SSH_SCRIPT").unwrap();
            println!(
                "{}",
                ssh_step("root", &ssh(false, Some("pp")), &k)
                    .unwrap()
                    .script
                .as_str()
            );
        }
    }

    #[test]
    fn args() {
        assert!(build(json!({"name": "redis", "system": "yes", "createhome": false})).is_ok());
        assert!(build(json!({"name": "-o"})).is_err());
        assert!(build(json!({"name": "x", "comment": "a:b"})).is_err());
        // As the users role passes them (strings everywhere).
        assert!(
            build(
                json!({"name": "alice", "group": "alice", "groups": "", "shell": "/bin/bash",
                "password": "!", "comment": "Alice", "uid": "2001", "home": "/home/alice",
                "createhome": "yes", "update_password": "on_create", "generate_ssh_key": "no",
                "append": "yes"})
            )
            .is_ok()
        );
        assert!(
            build(json!({"name": "x", "password": HASH, "expires": "-1",
            "password_expire_max": "90", "password_lock": "yes"}))
            .is_ok()
        );
        for bad in [
            json!({"name": "x", "local": true}),
            json!({"name": "x", "seuser": "user_u"}),
            json!({"name": "x", "login_class": "staff"}),
            json!({"name": "x", "hidden": true}),
            json!({"name": "x", "update_password": "sometimes"}),
            json!({"name": "x", "umask": "0o77"}),
            json!({"name": "x", "skeleton": "/etc/skel", "create_home": false}),
            json!({"name": "x", "password_expire_account_disable": 5}),
            json!({"name": "x", "password": "a\nb"}),
        ] {
            assert!(build(bad.clone()).is_err(), "{bad}");
        }
        let Err(e) = build(json!({"name": "x", "local": true})) else {
            panic!("local: true is refused")
        };
        let e = e.to_string();
        assert!(e.contains("luseradd"), "{e}");
        assert!(build(json!({"name": "x", "local": false})).is_ok());
    }
}
