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

use prov_core::Script;
use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use prov_core::{Action, Diff, Module, ModuleContext, ModuleError, Outcome, Plan, quote};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{StringList, de_bool, de_opt_bool, de_opt_int};
use crate::parse_args;
use crate::server_util::{self, section, sections};

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

/// The `user` module's arguments (Ansible's names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserArgs {
    /// The login name.
    #[serde(alias = "user")]
    pub name: String,
    /// present (default) or absent.
    #[serde(default)]
    pub state: Option<String>,
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
    pub update_password: Option<String>,
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
    /// Parses `getent passwd NAME`, `id -gn NAME` and `id -Gn NAME` output.
    pub fn parse(passwd: &str, primary: &str, all_groups: &str) -> Option<Account> {
        let line = passwd.lines().next()?;
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let group = primary.trim().to_owned();
        let groups = all_groups
            .split_whitespace()
            .filter(|g| *g != group)
            .map(str::to_owned)
            .collect();
        Some(Account {
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            group,
            comment: f[4].to_owned(),
            home: f[5].to_owned(),
            shell: f[6].to_owned(),
            groups,
        })
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
    /// Parses the `key=value` lines of the shadow section.
    pub fn parse(text: &str) -> Shadow {
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
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let num = v.trim().parse().unwrap_or(-1);
            match k {
                "found" => s.found = v == "1",
                "locked" => s.locked = v == "1",
                "same" => s.same_password = v == "1",
                "expire" => s.expire = num,
                "min" => s.min = num,
                "max" => s.max = num,
                "warn" => s.warn = num,
                _ => {}
            }
        }
        s
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

/// The SSH key file as the host reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    /// The key file's absolute path.
    pub path: String,
    /// The home directory the relative path is in exists (true for absolute paths).
    pub home_exists: bool,
    /// The key's directory exists.
    pub dir_exists: bool,
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
    present: bool,
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

/// The `usermod` options and summary lines that bring `cur` to `spec` (empty: nothing to do).
pub fn usermod_changes(spec: &UserSpec, cur: &Account) -> (Vec<String>, Vec<String>) {
    let mut opts = Vec::new();
    let mut summary = Vec::new();
    let n = &spec.name;
    if let Some(u) = spec.uid
        && u != cur.uid
    {
        opts.push(format!(
            "-u {u}{}",
            if spec.non_unique { " -o" } else { "" }
        ));
        summary.push(format!("user {n}: uid {} -> {u}", cur.uid));
    }
    let mut primary_after = cur.group.clone();
    if let Some(g) = &spec.group {
        let differs = match g.parse::<u32>() {
            Ok(gid) => gid != cur.gid,
            Err(_) => *g != cur.group,
        };
        if differs {
            opts.push(format!("-g {}", quote(g)));
            summary.push(format!("user {n}: primary group {} -> {g}", cur.group));
            if g.parse::<u32>().is_err() {
                primary_after = g.clone();
            }
        }
    }
    if let Some(want) = &spec.groups {
        let want: BTreeSet<String> = want
            .iter()
            .filter(|g| **g != primary_after)
            .cloned()
            .collect();
        if spec.append {
            let missing: Vec<String> = want.difference(&cur.groups).cloned().collect();
            if !missing.is_empty() {
                opts.push(format!("-a -G {}", quote(&missing.join(","))));
                summary.push(format!("user {n}: add to groups {}", missing.join(",")));
            }
        } else if want != cur.groups {
            let list: Vec<&str> = want.iter().map(String::as_str).collect();
            opts.push(format!("-G {}", quote(&list.join(","))));
            let old: Vec<&str> = cur.groups.iter().map(String::as_str).collect();
            summary.push(format!(
                "user {n}: groups {} -> {}",
                old.join(","),
                list.join(",")
            ));
        }
    }
    if let Some(h) = &spec.home
        && *h != cur.home
    {
        opts.push(format!(
            "-d {}{}",
            quote(h),
            if spec.move_home { " -m" } else { "" }
        ));
        summary.push(format!("user {n}: home {} -> {h}", cur.home));
    }
    if let Some(s) = &spec.shell
        && *s != cur.shell
    {
        opts.push(format!("-s {}", quote(s)));
        summary.push(format!("user {n}: shell {} -> {s}", cur.shell));
    }
    if let Some(c) = &spec.comment
        && *c != cur.comment
    {
        opts.push(format!("-c {}", quote(c)));
        summary.push(format!("user {n}: comment {:?} -> {c:?}", cur.comment));
    }
    (opts, summary)
}

/// What the shadow-related arguments change on an existing account: `usermod` options
/// (`-e`, `-L`, `-U`), summary lines, and the hash to set through `chpasswd -e` (Ansible's
/// `usermod -p`, which replaces `-L`/`-U`).
pub fn shadow_changes(spec: &UserSpec, sh: &Shadow) -> (Vec<String>, Vec<String>, Option<Secret>) {
    let n = &spec.name;
    let mut opts = Vec::new();
    let mut summary = Vec::new();
    if let Some(exp) = spec.expires {
        // Ansible reads a missing entry's expiry as 0.
        let cur = if sh.found { sh.expire } else { 0 };
        if exp < 0.0 {
            if cur >= 0 {
                opts.push("-e ''".to_owned());
                summary.push(format!("user {n}: expires {} -> never", expiry_text(cur)));
            }
        } else {
            let day = expiry_day(exp);
            if cur < 0 || cur != day {
                let date = date_of_day(day);
                opts.push(format!("-e {date}"));
                summary.push(format!("user {n}: expires {} -> {date}", expiry_text(cur)));
            }
        }
    }
    let lock = match spec.password_lock {
        Some(true) if !sh.locked => Some("-L"),
        Some(false) if sh.locked => Some("-U"),
        _ => None,
    };
    let same = if sh.found {
        sh.same_password
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
        summary.push(format!(
            "user {n}: set password{}",
            if spec.password_lock == Some(true) {
                " (locked)"
            } else {
                ""
            }
        ));
    } else if let Some(l) = lock {
        opts.push(l.to_owned());
        summary.push(format!(
            "user {n}: {} password",
            if l == "-L" { "lock" } else { "unlock" }
        ));
    }
    (opts, summary, password)
}

/// A password that is only a lock marker (`!`, `*`, `!!`): no secret, so it is set on the
/// `useradd`/`usermod` line as Ansible sets it, in the same write as the account (a hash goes
/// through `chpasswd -e` on stdin instead, one more write of /etc/shadow).
fn lock_marker(p: &Secret) -> Option<&str> {
    let m = p.0.as_str();
    (!m.is_empty() && m.chars().all(|c| c == '!' || c == '*')).then_some(m)
}

/// The hash to store: `!HASH` when `password_lock` is set (Ansible's `-p !HASH`).
fn locked_hash(spec: &UserSpec, p: &Secret) -> Secret {
    if spec.password_lock == Some(true) {
        Secret(format!("!{}", p.0))
    } else {
        p.clone()
    }
}

/// The `chage` command for the password ageing arguments, comparing with `sh` (`None`: a new
/// account, every given value is set). Ansible changes nothing when the entry is unreadable.
pub fn chage_command(spec: &UserSpec, sh: Option<&Shadow>) -> Option<(String, Vec<String>)> {
    if sh.is_some_and(|s| !s.found) {
        return None;
    }
    let mut opts = Vec::new();
    let mut summary = Vec::new();
    for (flag, label, want, cur) in [
        (
            "-m",
            "password_expire_min",
            spec.expire_min,
            sh.map(|s| s.min),
        ),
        (
            "-M",
            "password_expire_max",
            spec.expire_max,
            sh.map(|s| s.max),
        ),
        (
            "-W",
            "password_expire_warn",
            spec.expire_warn,
            sh.map(|s| s.warn),
        ),
    ] {
        let Some(w) = want else { continue };
        if cur == Some(w) {
            continue;
        }
        opts.push(format!("{flag} {w}"));
        summary.push(match cur {
            Some(c) => format!("user {}: {label} {c} -> {w}", spec.name),
            None => format!("user {}: {label} {w}", spec.name),
        });
    }
    if opts.is_empty() {
        return None;
    }
    Some((
        format!("chage {} -- {}", opts.join(" "), quote(&spec.name)),
        summary,
    ))
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
    if let Some(h) = &spec.home {
        a.home = h.clone();
    }
    if let Some(s) = &spec.shell {
        a.shell = s.clone();
    }
    if let Some(c) = &spec.comment {
        a.comment = c.clone();
    }
    a
}

/// The `useradd` command line creating the account (the password is set afterwards through
/// `chpasswd -e`, never on this line).
pub fn useradd_command(spec: &UserSpec) -> String {
    let mut s = String::from("useradd");
    if spec.system {
        s.push_str(" -r");
    }
    if let Some(u) = spec.uid {
        s.push_str(&format!(" -u {u}"));
        if spec.non_unique {
            s.push_str(" -o");
        }
    }
    if let Some(g) = &spec.group {
        s.push_str(&format!(" -g {}", quote(g)));
    }
    if let Some(gs) = &spec.groups
        && !gs.is_empty()
    {
        s.push_str(&format!(" -G {}", quote(&gs.join(","))));
    }
    if let Some(h) = &spec.home {
        s.push_str(&format!(" -d {}", quote(h)));
    }
    if spec.create_home {
        s.push_str(" -m");
        if let Some(k) = &spec.skeleton {
            s.push_str(&format!(" -k {}", quote(k)));
        }
        if let Some(u) = &spec.umask {
            s.push_str(&format!(" -K UMASK={u}"));
        }
    } else {
        s.push_str(" -M");
    }
    if let Some(sh) = &spec.shell {
        s.push_str(&format!(" -s {}", quote(sh)));
    }
    if let Some(c) = &spec.comment {
        s.push_str(&format!(" -c {}", quote(c)));
    }
    if let Some(e) = spec.expires {
        if e < 0.0 {
            s.push_str(" -e ''");
        } else {
            s.push_str(&format!(" -e {}", date_of_day(expiry_day(e))));
        }
    }
    s.push_str(&format!(" -- {}", quote(&spec.name)));
    s
}

/// The script creating a missing home directory as Ansible's `create_homedir`/`chown_homedir`
/// do: a copy of the skeleton (or an empty directory), mode from `/etc/login.defs`' `UMASK`,
/// everything owned by the user.
pub fn make_home_script(spec: &UserSpec, home: &str) -> String {
    let skel = spec.skeleton.as_deref().unwrap_or("/etc/skel");
    format!(
        "h={h}; k={k}\n\
         mkdir -p -- \"$(dirname -- \"$h\")\" || exit 1\n\
         if [ -e \"$k\" ] && [ \"$k\" != /dev/null ]; then cp -a -- \"$k\" \"$h\"; else mkdir -p -- \"$h\"; fi || exit 1\n\
         m=$(sed -n 's/^UMASK[[:space:]]\\{{1,\\}}\\([0-9]\\{{1,\\}}\\)$/\\1/p' /etc/login.defs 2>/dev/null | tail -n 1)\n\
         if [ -n \"$m\" ]; then chmod \"$(printf '%o' $((0777 & ~0$m)))\" -- \"$h\" || exit 1; fi\n\
         chown -R -- {n}: \"$h\"\n",
        h = quote(home),
        k = quote(skel),
        n = quote(&spec.name),
    )
}

/// The planned SSH key generation.
#[derive(Clone, PartialEq, Eq)]
pub struct SshStep {
    /// The script (no secret in it).
    pub script: String,
    /// Its stdin: the passphrase, or `y` to confirm an overwrite.
    pub input: Option<Secret>,
}

impl fmt::Debug for SshStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshStep")
            .field("script", &self.script)
            .field("input", &self.input)
            .finish()
    }
}

/// The `ssh-keygen` step for `key` (`None`: the key exists and is kept, as Ansible does unless
/// `force`; with a passphrase Ansible never overwrites, its prompt handling gives up).
pub fn ssh_step(name: &str, ssh: &SshSpec, key: &KeyState) -> Option<SshStep> {
    let overwrite = key.exists && ssh.force && ssh.passphrase.is_none();
    if key.exists && !overwrite {
        return None;
    }
    let n = quote(name);
    let mut s = format!("f={}\n", quote(&key.path));
    s.push_str(&format!(
        "d=$(dirname -- \"$f\")\nif [ ! -e \"$d\" ]; then mkdir -m 0700 -- \"$d\" && chown -- {n}: \"$d\" || exit 1; fi\n"
    ));
    let comment = ssh
        .comment
        .clone()
        .unwrap_or_else(|| format!("ansible-generated on {}", key.hostname));
    let mut keygen = format!("ssh-keygen -t {}", quote(&ssh.key_type));
    if ssh.bits > 0 {
        keygen.push_str(&format!(" -b {}", ssh.bits));
    }
    keygen.push_str(&format!(" -C {} -f \"$f\"", quote(&comment)));
    let input = if let Some(p) = &ssh.passphrase {
        // The passphrase arrives on stdin, goes to a 0600 file in a private directory, and
        // ssh-keygen asks for it (twice) through an askpass helper reading that file.
        s.push_str(
            "t=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$t\"' EXIT\n(umask 077; cat > \"$t/p\") || exit 1\n\
             printf '#!/bin/sh\\ncat \"%s/p\"\\n' \"$t\" > \"$t/a\" && chmod 700 \"$t/a\" || exit 1\n",
        );
        s.push_str(&format!(
            "SSH_ASKPASS=\"$t/a\" SSH_ASKPASS_REQUIRE=force {keygen} </dev/null || exit 1\n"
        ));
        Some(p.clone())
    } else if overwrite {
        s.push_str(&format!("{keygen} -N '' || exit 1\n"));
        Some(Secret("y\n".into()))
    } else {
        s.push_str(&format!("{keygen} -N '' </dev/null || exit 1\n"));
        None
    };
    s.push_str(&format!("chown -- {n}: \"$f\" \"$f.pub\"\n"));
    Some(SshStep { script: s, input })
}

/// Everything a `user` run changes, in Ansible's order.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Steps {
    /// `useradd`/`usermod`/`userdel`.
    pub account: Option<String>,
    /// The hash for `chpasswd -e` (fed on stdin).
    pub password: Option<Secret>,
    /// Creating a missing home directory.
    pub make_home: Option<String>,
    /// Generating the SSH key.
    pub ssh: Option<SshStep>,
    /// `chage`.
    pub chage: Option<String>,
    /// One line per change.
    pub summary: Vec<String>,
}

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steps")
            .field("account", &self.account)
            .field("password", &self.password)
            .field("make_home", &self.make_home)
            .field("ssh", &self.ssh)
            .field("chage", &self.chage)
            .field("summary", &self.summary)
            .finish()
    }
}

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
        v.extend(self.account.as_deref());
        if self.password.is_some() {
            v.push(CHPASSWD);
        }
        v.extend(self.make_home.as_deref());
        v.extend(self.ssh.as_ref().map(|s| s.script.as_str()));
        v.extend(self.chage.as_deref());
        v
    }
}

const CHPASSWD: &str = "chpasswd -e";

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

/// Plans a present account: pure function of the request and the host's state (`cur: None`
/// when the account does not exist). Fails when a relative SSH key would have no home.
pub fn plan_present(
    spec: &UserSpec,
    cur: Option<&Current>,
    key: Option<&KeyState>,
) -> Result<Steps, String> {
    let n = &spec.name;
    let mut st = Steps::default();
    let home_will_exist;
    match cur {
        None => {
            let mut useradd = useradd_command(spec);
            st.password = spec.password.as_ref().map(|p| locked_hash(spec, p));
            if let Some(marker) = st.password.as_ref().and_then(lock_marker) {
                // Not a secret: set with the account, in one write as Ansible does.
                useradd = useradd.replacen("useradd", &format!("useradd -p {}", quote(marker)), 1);
                st.password = None;
            }
            st.account = Some(useradd);
            st.summary.push(format!("create user {n}"));
            home_will_exist = spec.create_home;
        }
        Some(c) => {
            let (mut opts, mut summary) = usermod_changes(spec, &c.account);
            let (sopts, ssum, mut password) = shadow_changes(spec, &c.shadow);
            opts.extend(sopts);
            summary.extend(ssum);
            if let Some(marker) = password.as_ref().and_then(lock_marker) {
                opts.push(format!("-p {}", quote(marker)));
                password = None;
            }
            if !opts.is_empty() {
                st.account = Some(format!("usermod {} -- {}", opts.join(" "), quote(n)));
            }
            st.password = password;
            st.summary = summary;
            let target = spec.home.as_deref().unwrap_or(&c.account.home);
            let moved = spec.move_home && target != c.account.home && c.homes.current_exists;
            let exists = if spec.home.is_some() && target != c.account.home {
                c.homes.wanted_exists || moved
            } else {
                c.homes.current_exists
            };
            if !exists && spec.create_home {
                st.make_home = Some(make_home_script(spec, target));
                st.summary.push(format!("user {n}: create home {target}"));
            }
            home_will_exist = exists || spec.create_home;
        }
    }
    if let (Some(ssh), Some(key)) = (&spec.ssh, key) {
        if !key.home_exists && !home_will_exist {
            return Err(format!("User {n} home directory does not exist"));
        }
        if let Some(step) = ssh_step(n, ssh, key) {
            st.summary.push(format!(
                "user {n}: {} ssh key {}",
                if key.exists { "regenerate" } else { "generate" },
                key.path
            ));
            st.ssh = Some(step);
        }
    }
    if let Some((c, summary)) = chage_command(spec, cur.map(|c| &c.shadow)) {
        st.chage = Some(c);
        st.summary.extend(summary);
    }
    Ok(st)
}

/// The `user` module.
#[derive(Debug)]
pub struct User {
    spec: UserSpec,
}

/// The script reading the current state (the desired hash, if any, arrives on stdin and is
/// compared on the host: no hash is printed).
fn state_script(spec: &UserSpec, compare_hash: bool) -> String {
    let n = quote(&spec.name);
    let mut s = String::new();
    s.push_str(if compare_hash {
        "want=; IFS= read -r want || true\n"
    } else {
        "want=\n"
    });
    s.push_str(&format!(
        "{}getent passwd {n}\n{}id -gn {n} 2>/dev/null\n{}id -Gn {n} 2>/dev/null\n",
        section("passwd"),
        section("primary"),
        section("groups"),
    ));
    s.push_str(&section("shadow"));
    s.push_str(&SHADOW_SCRIPT.replace("NAME", &n));
    s.push_str(&section("homes"));
    s.push_str(&format!(
        "c=$(getent passwd {n} | cut -d: -f6)\nif [ -n \"$c\" ] && [ -e \"$c\" ]; then echo current=1; fi\n"
    ));
    if let Some(h) = &spec.home {
        s.push_str(&format!("if [ -e {} ]; then echo wanted=1; fi\n", quote(h)));
    }
    if let Some(ssh) = &spec.ssh {
        // The home a relative key file is in: `home`, else the current one, else useradd's
        // default for a new account.
        s.push_str(&section("ssh"));
        match &spec.home {
            Some(h) => s.push_str(&format!("b={}\n", quote(h))),
            None => s.push_str(&format!(
                "b=$c\nif [ -z \"$b\" ]; then d=$(useradd -D 2>/dev/null | sed -n 's/^HOME=//p'); b=${{d:-/home}}/{n}; fi\n"
            )),
        }
        if ssh.file.starts_with('/') {
            s.push_str(&format!("f={}\necho home=1\n", quote(&ssh.file)));
        } else {
            s.push_str(&format!(
                "case $b in */|'') f=$b{q};; *) f=$b/{q};; esac\nif [ -e \"$b\" ]; then echo home=1; fi\n",
                q = quote(&ssh.file)
            ));
        }
        s.push_str(
            "printf 'path=%s\\n' \"$f\"\nif [ -e \"$(dirname -- \"$f\")\" ]; then echo dir=1; fi\n\
             if [ -e \"$f\" ]; then echo exists=1; fi\nif [ -e \"$f.pub\" ]; then echo pub=1; fi\n\
             printf 'host=%s\\n' \"$(uname -n)\"\n",
        );
        s.push_str(&section("fingerprint"));
        s.push_str(FINGERPRINT_SCRIPT);
        s.push_str(&section("pub"));
        s.push_str("if [ -e \"$f.pub\" ]; then cat -- \"$f.pub\"; fi\n");
    }
    s.push_str(&section("end"));
    s
}

/// Reads the shadow entry of NAME with shell builtins only (the hash stays in a variable, never
/// in a command's arguments or output) and compares it with `$want`.
const SHADOW_SCRIPT: &str = r#"s=$(getent shadow NAME 2>/dev/null)
if [ -n "$s" ]; then
  set -f; IFS=:; set -- $s; unset IFS; set +f
  echo found=1
  h=$2
  case $h in '!'*) echo locked=1;; esac
  while :; do case $h in '!'*) h=${h#!};; *) break;; esac; done
  while :; do case $want in '!'*) want=${want#!};; *) break;; esac; done
  if [ "x$h" = "x$want" ]; then echo same=1; fi
  echo "min=${4:--1}"; echo "max=${5:--1}"; echo "warn=${6:--1}"; echo "expire=${8:--1}"
fi
"#;

/// Ansible's `ssh_fingerprint`: `ssh-keygen -l -f` stdout, or its stderr when it fails.
const FINGERPRINT_SCRIPT: &str = r#"if [ -e "$f" ]; then
  if o=$(ssh-keygen -l -f "$f" 2>/dev/null); then printf '%s\n' "$o"; else ssh-keygen -l -f "$f" 2>&1 >/dev/null; fi
fi
"#;

fn parse_key_state(secs: &std::collections::HashMap<String, String>) -> KeyState {
    let mut k = KeyState::default();
    let mut has_pub = false;
    for line in server_util::get(secs, "ssh").lines() {
        match line.split_once('=') {
            Some(("path", v)) => k.path = v.to_owned(),
            Some(("host", v)) => k.hostname = v.to_owned(),
            Some(("home", "1")) => k.home_exists = true,
            Some(("dir", "1")) => k.dir_exists = true,
            Some(("exists", "1")) => k.exists = true,
            Some(("pub", "1")) => has_pub = true,
            _ => {}
        }
    }
    k.fingerprint = server_util::get(secs, "fingerprint").trim().to_owned();
    if has_pub {
        k.public_key = Some(server_util::get(secs, "pub").trim().to_owned());
    }
    k
}

fn parse_homes(text: &str) -> HomeState {
    HomeState {
        current_exists: text.lines().any(|l| l == "current=1"),
        wanted_exists: text.lines().any(|l| l == "wanted=1"),
    }
}

#[async_trait]
impl Module for User {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let spec = &self.spec;
        let compare = spec.present && spec.update_password_always && spec.password.is_some();
        let script = state_script(spec, compare);
        let out = match (&spec.password, compare) {
            (Some(p), true) => {
                let mut input = p.0.clone().into_bytes();
                input.push(b'\n');
                ctx.run_with_input(&Script::__legacy(script), &input)
                    .await?
            }
            _ => ctx.run(&Script::__legacy(script)).await?,
        };
        let secs = sections(&out.stdout_text());
        if !secs.contains_key("end") {
            server_util::check_output("getent passwd", &out)?;
        }
        let acct = Account::parse(
            server_util::get(&secs, "passwd"),
            server_util::get(&secs, "primary"),
            server_util::get(&secs, "groups"),
        );
        let name = &spec.name;
        let n = quote(name);
        let mut plan = Plan::unchanged()
            .with_result("name", json!(name))
            .with_result(
                "state",
                json!(if spec.present { "present" } else { "absent" }),
            );
        if !spec.present {
            let Some(acct) = acct else {
                return Ok(plan);
            };
            let mut c = String::from("userdel");
            if spec.force {
                c.push_str(" -f");
            }
            if spec.remove {
                c.push_str(" -r");
            }
            c.push_str(&format!(" -- {n}"));
            let diff = Diff::new(format!("user {name}"), acct.describe(), "");
            let action = UserAction {
                name: name.clone(),
                steps: Steps {
                    account: Some(c),
                    ..Steps::default()
                },
                report: None,
            };
            return Ok(plan
                .with_result("force", json!(spec.force))
                .with_result("remove", json!(spec.remove))
                .with_change(vec![format!("remove user {name}")], vec![diff], action));
        }
        let cur = acct.clone().map(|account| Current {
            account,
            shadow: Shadow::parse(server_util::get(&secs, "shadow")),
            homes: parse_homes(server_util::get(&secs, "homes")),
        });
        let key = spec.ssh.as_ref().map(|_| parse_key_state(&secs));
        let steps = plan_present(spec, cur.as_ref(), key.as_ref()).map_err(ModuleError::failed)?;

        plan.result_mut()
            .extend(present_result(spec, acct.as_ref(), key.as_ref(), &steps));
        if let Some(w) = password_warning(spec) {
            plan = plan.with_result("warnings", json!([w]));
        }
        if steps.is_empty() {
            return Ok(plan);
        }
        let diff = match &acct {
            None => Diff::new(format!("user {name}"), "", self.describe_new()),
            Some(a) => Diff::new(
                format!("user {name}"),
                a.describe(),
                account_after(spec, a).describe(),
            ),
        };
        let summary = steps.summary.clone();
        let action = UserAction {
            name: name.clone(),
            report: Some(Report {
                key_path: key.map(|k| k.path),
                groups: spec.groups.as_ref().map(|g| g.join(",")),
            }),
            steps,
        };
        Ok(plan.with_change(summary, vec![diff], action))
    }
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
            m.insert("uid".into(), json!(a.uid));
            m.insert("group".into(), json!(a.gid));
            m.insert("comment".into(), json!(a.comment));
            m.insert("home".into(), json!(a.home));
            m.insert("shell".into(), json!(a.shell));
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
        m.insert(
            "ssh_fingerprint".into(),
            json!(if fresh { "" } else { k.fingerprint.as_str() }),
        );
        m.insert(
            "ssh_public_key".into(),
            if fresh {
                Value::Null
            } else {
                json!(k.public_key)
            },
        );
    }
    m
}

impl User {
    fn describe_new(&self) -> String {
        let s = &self.spec;
        let mut out = String::new();
        if let Some(u) = s.uid {
            out.push_str(&format!("uid: {u}\n"));
        }
        if let Some(g) = &s.group {
            out.push_str(&format!("group: {g}\n"));
        }
        if let Some(g) = &s.groups {
            out.push_str(&format!("groups: {}\n", g.join(",")));
        }
        if let Some(h) = &s.home {
            out.push_str(&format!("home: {h}\n"));
        }
        if let Some(sh) = &s.shell {
            out.push_str(&format!("shell: {sh}\n"));
        }
        if let Some(c) = &s.comment {
            out.push_str(&format!("comment: {c}\n"));
        }
        out.push_str(&format!(
            "system: {}\ncreate_home: {}\n",
            s.system, s.create_home
        ));
        out
    }
}

/// What to read back after applying (Ansible's result reflects the account after the change).
struct Report {
    key_path: Option<String>,
    groups: Option<String>,
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
        let st = self.steps;
        if let Some(c) = &st.account {
            run_checked(ctx, c, None).await?;
        }
        if let Some(p) = &st.password {
            let line = format!("{}:{}\n", self.name, p.0);
            run_checked(ctx, CHPASSWD, Some(line.as_bytes())).await?;
        }
        if let Some(c) = &st.make_home {
            run_checked(ctx, c, None).await?;
        }
        if let Some(s) = &st.ssh {
            let input = s.input.as_ref().map(|i| i.0.as_bytes());
            run_checked(ctx, &s.script, input).await?;
        }
        if let Some(c) = &st.chage {
            run_checked(ctx, c, None).await?;
        }
        let mut outcome = Outcome::default();
        let Some(report) = self.report else {
            return Ok(outcome);
        };
        let mut script = format!("{}getent passwd {}\n", section("passwd"), quote(&self.name));
        if let Some(p) = &report.key_path {
            script.push_str(&format!("f={}\n", quote(p)));
            script.push_str(&section("fingerprint"));
            script.push_str(FINGERPRINT_SCRIPT);
            script.push_str(&section("pub"));
            script.push_str("if [ -e \"$f.pub\" ]; then echo; cat -- \"$f.pub\"; fi\n");
        }
        let out = ctx.run(&Script::__legacy(script)).await?;
        let secs = sections(&out.stdout_text());
        if let Some(a) = Account::parse(server_util::get(&secs, "passwd"), "", "") {
            for (k, v) in [
                ("uid", json!(a.uid)),
                ("group", json!(a.gid)),
                ("comment", json!(a.comment)),
                ("home", json!(a.home)),
                ("shell", json!(a.shell)),
            ] {
                outcome.result.insert(k.into(), v);
            }
            if let Some(g) = report.groups {
                outcome.result.insert("groups".into(), json!(g));
            }
        }
        if report.key_path.is_some() {
            let fp = server_util::get(&secs, "fingerprint").trim();
            let public = server_util::get(&secs, "pub");
            outcome.result.insert("ssh_fingerprint".into(), json!(fp));
            outcome.result.insert(
                "ssh_public_key".into(),
                if public.is_empty() {
                    Value::Null
                } else {
                    json!(public.trim())
                },
            );
        }
        Ok(outcome)
    }
}

/// Runs `script` (with `input` on stdin) and fails with its stderr unless it exits 0. The
/// failure names the script's first line, which never holds a secret.
async fn run_checked(
    ctx: &ModuleContext<'_>,
    script: &str,
    input: Option<&[u8]>,
) -> Result<(), ModuleError> {
    let out = match input {
        Some(i) => {
            ctx.run_with_input(&Script::__legacy(script.to_owned()), i)
                .await?
        }
        None => ctx.run(&Script::__legacy(script.to_owned())).await?,
    };
    let first = script.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
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

fn plain_field(field: &str, v: &str) -> Result<(), ModuleError> {
    if v.contains([':', '\n']) {
        return Err(ModuleError::args(format!(
            "{field} must not contain `:` or newlines"
        )));
    }
    Ok(())
}

fn args_err(msg: impl Into<String>) -> ModuleError {
    ModuleError::args(msg)
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("user", build);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: UserArgs = parse_args(args)?;
    if !valid_account_name(&a.name) {
        return Err(args_err(format!("`{}` is not a valid user name", a.name)));
    }
    let present = match a.state.as_deref() {
        None | Some("present") => true,
        Some("absent") => false,
        Some(o) => return Err(args_err(format!("state `{o}` is not present or absent"))),
    };
    let refused: [(&str, &Option<Value>, &str); 7] = [
        (
            "seuser",
            &a.seuser,
            "sets an SELinux user (useradd -Z), which Debian hosts do not use; prov does not implement it",
        ),
        (
            "login_class",
            &a.login_class,
            "is a BSD login class: Ansible ignores it on Linux, prov refuses it rather than ignore it",
        ),
        (
            "hidden",
            &a.hidden,
            "is macOS only: Ansible ignores it on Linux, prov refuses it rather than ignore it",
        ),
        (
            "profile",
            &a.profile,
            "is Solaris only: Ansible ignores it on Linux, prov refuses it rather than ignore it",
        ),
        (
            "authorization",
            &a.authorization,
            "is Solaris only: Ansible ignores it on Linux, prov refuses it rather than ignore it",
        ),
        (
            "role",
            &a.role,
            "is Solaris only: Ansible ignores it on Linux, prov refuses it rather than ignore it",
        ),
        (
            "password_expire_account_disable",
            &a.password_expire_account_disable,
            "(useradd/usermod -f) is not implemented by prov",
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
    let group = match a.group {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(o) => {
            return Err(args_err(format!(
                "group must be a name or a gid, found {o}"
            )));
        }
    };
    let groups = a.groups.map(|g| g.0);
    for g in group.iter().chain(groups.iter().flatten()) {
        if !valid_account_name(g) {
            return Err(args_err(format!("`{g}` is not a valid group name")));
        }
    }
    for (f, v) in [
        ("home", &a.home),
        ("shell", &a.shell),
        ("comment", &a.comment),
        ("skeleton", &a.skeleton),
        ("ssh_key_file", &a.ssh_key_file),
        ("ssh_key_type", &a.ssh_key_type),
    ] {
        if let Some(v) = v {
            plain_field(f, v)?;
        }
    }
    if let Some(c) = &a.ssh_key_comment
        && c.contains('\n')
    {
        return Err(args_err("ssh_key_comment must not contain newlines"));
    }
    if let Some(p) = &a.password
        && p.0.contains(['\n', '\r'])
    {
        return Err(args_err("password must not contain newlines"));
    }
    let update_password_always = match a.update_password.as_deref() {
        None | Some("always") => true,
        Some("on_create") => false,
        Some(o) => {
            return Err(args_err(format!(
                "update_password `{o}` is not always or on_create"
            )));
        }
    };
    if let Some(e) = a.expires
        && !(e < 0.0 || (e.is_finite() && e < 253_402_300_800.0))
    {
        return Err(args_err(format!("Invalid value for 'expires' {e}")));
    }
    let umask = match a.umask {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(o) => return Err(args_err(format!("umask must be a string, found {o}"))),
    };
    if let Some(u) = &umask
        && (u.is_empty() || !u.chars().all(|c| ('0'..='7').contains(&c)))
    {
        return Err(args_err(format!("umask `{u}` is not an octal umask")));
    }
    let create_home = a.create_home.unwrap_or(true);
    if a.skeleton.is_some() && !create_home {
        return Err(args_err("skeleton requires create_home"));
    }
    let ssh = if a.generate_ssh_key == Some(true) {
        let key_type = a.ssh_key_type.unwrap_or_else(|| "rsa".into());
        let file = a
            .ssh_key_file
            .unwrap_or_else(|| format!(".ssh/id_{key_type}"));
        Some(SshSpec {
            bits: a.ssh_key_bits.unwrap_or(0),
            key_type,
            file,
            comment: a.ssh_key_comment,
            passphrase: a.ssh_key_passphrase,
            force: a.force,
        })
    } else {
        None
    };
    Ok(Box::new(User {
        spec: UserSpec {
            name: a.name,
            present,
            system: a.system,
            uid: a.uid,
            non_unique: a.non_unique,
            group,
            groups,
            append: a.append,
            home: a.home,
            move_home: a.move_home,
            create_home,
            skeleton: a.skeleton,
            umask,
            shell: a.shell,
            comment: a.comment,
            password: a.password,
            update_password_always,
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

    const HASH: &str = "$6$saltsalt$Vc3o7ZtSu2v7cJ1q0oNq0m6b0w5y4zP1M8rQm3q6iB1JQ0y1lQHqGZlN0pGzIYu5vP8b3N9Tt8c5xS0aWvYfG/";

    fn spec() -> UserSpec {
        UserSpec {
            name: "redis".into(),
            present: true,
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
            "redis\n",
            "redis adm\n",
        )
        .unwrap()
    }

    fn shadow() -> Shadow {
        Shadow::parse("found=1\nmin=0\nmax=99999\nwarn=7\nexpire=-1\n")
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
            dir_exists: exists,
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

    #[test]
    fn getent_output_parses() {
        let a = acct();
        assert_eq!((a.uid, a.gid, a.group.as_str()), (105, 110, "redis"));
        assert_eq!(a.home, "/var/lib/redis");
        assert_eq!(a.groups.iter().collect::<Vec<_>>(), ["adm"]);
        assert!(Account::parse("", "", "").is_none());
        let s =
            Shadow::parse("found=1\nlocked=1\nsame=1\nmin=0\nmax=99999\nwarn=7\nexpire=19000\n");
        assert!(s.found && s.locked && s.same_password);
        assert_eq!((s.min, s.max, s.warn, s.expire), (0, 99999, 7, 19000));
        assert!(!Shadow::parse("").found);
    }

    #[test]
    fn only_differences_are_modified() {
        let mut s = spec();
        s.shell = Some("/usr/sbin/nologin".into());
        s.home = Some("/var/lib/redis".into());
        s.group = Some("110".into());
        s.groups = Some(vec!["adm".into(), "redis".into()]);
        assert_eq!(usermod_changes(&s, &acct()).0, Vec::<String>::new());
        s.shell = Some("/bin/bash".into());
        s.groups = Some(vec!["disk".into()]);
        s.append = true;
        let (opts, summary) = usermod_changes(&s, &acct());
        assert_eq!(opts, ["-a -G disk", "-s /bin/bash"]);
        assert_eq!(summary.len(), 2);
        s.append = false;
        s.groups = Some(vec![]);
        assert_eq!(usermod_changes(&s, &acct()).0, ["-G ''", "-s /bin/bash"]);
        s.uid = Some(0);
        s.non_unique = true;
        assert_eq!(usermod_changes(&s, &acct()).0[0], "-u 0 -o");
    }

    #[test]
    fn useradd_line() {
        let mut s = spec();
        s.comment = Some("Redis Server".into());
        s.groups = Some(vec!["adm".into()]);
        assert_eq!(
            useradd_command(&s),
            "useradd -r -G adm -M -c 'Redis Server' -- redis"
        );
        s.create_home = true;
        s.skeleton = Some("/etc/skel.redis".into());
        s.umask = Some("0077".into());
        s.uid = Some(2001);
        s.non_unique = true;
        s.expires = Some(1_422_403_387.0);
        s.password = Some(Secret(HASH.into()));
        let line = useradd_command(&s);
        assert_eq!(
            line,
            "useradd -r -u 2001 -o -G adm -m -k /etc/skel.redis -K UMASK=0077 -c 'Redis Server' -e 2015-01-28 -- redis"
        );
        assert!(!line.contains("-p"));
        s.expires = Some(-1.0);
        assert!(useradd_command(&s).contains(" -e '' "));
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
        assert_eq!(st.account.as_deref(), Some("useradd -r -M -- redis"));
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
        assert_eq!(st.account.as_deref(), Some("usermod -L -- redis"));
        assert_eq!(st.summary, ["user redis: lock password"]);
        c.shadow.locked = true;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        s.password_lock = Some(false);
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(st.account.as_deref(), Some("usermod -U -- redis"));
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
            st.account.as_deref(),
            Some("usermod -e 2015-01-28 -- redis")
        );
        assert_eq!(st.summary, ["user redis: expires never -> 2015-01-28"]);
        c.shadow.expire = 16463;
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        s.expires = Some(-1.0);
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(st.account.as_deref(), Some("usermod -e '' -- redis"));
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
        assert_eq!(st.chage.as_deref(), Some("chage -M 90 -- redis"));
        assert_eq!(st.summary, ["user redis: password_expire_max 99999 -> 90"]);
        s.expire_max = Some(99999);
        assert!(plan_present(&s, Some(&c), None).unwrap().is_empty());
        // A new account: every given value.
        let st = plan_present(&s, None, None).unwrap();
        assert_eq!(st.chage.as_deref(), Some("chage -M 99999 -W 7 -- redis"));
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
        let script = st.make_home.unwrap();
        assert!(script.contains("cp -a -- \"$k\" \"$h\""), "{script}");
        assert!(script.contains("chown -R -- redis: \"$h\""), "{script}");
        // A moved home exists afterwards.
        c.homes.current_exists = true;
        s.home = Some("/srv/redis".into());
        s.move_home = true;
        let st = plan_present(&s, Some(&c), None).unwrap();
        assert_eq!(
            st.account.as_deref(),
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
            step.script.contains(
                "ssh-keygen -t rsa -C 'ansible-generated on lab4' -f \"$f\" -N '' </dev/null"
            ),
            "{}",
            step.script
        );
        assert!(
            step.script
                .contains("mkdir -m 0700 -- \"$d\" && chown -- redis: \"$d\"")
        );
        assert!(step.script.contains("chown -- redis: \"$f\" \"$f.pub\""));
        // Bits and comment.
        let mut o = ssh(false, None);
        o.bits = 4096;
        o.comment = Some("me@x".into());
        o.key_type = "ed25519".into();
        let step = ssh_step("redis", &o, &key(false)).unwrap();
        assert!(
            step.script
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
        assert!(step.script.contains("SSH_ASKPASS_REQUIRE=force"));
        assert!(!step.script.contains(" -N "));
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
                quote(entry),
                SHADOW_SCRIPT.replace("NAME", "u")
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
            Shadow::parse(&text)
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
        sh_syntax_ok(&state_script(&s, true));
        s.home = Some("/home/a b".into());
        s.ssh = Some(ssh(false, None));
        sh_syntax_ok(&state_script(&s, false));
        sh_syntax_ok(&make_home_script(&s, "/home/a b"));
        for step in [
            ssh_step("alice", &ssh(false, Some("pp")), &key(false)),
            ssh_step("alice", &ssh(true, None), &key(true)),
            ssh_step("alice", &ssh(false, None), &key(false)),
        ] {
            sh_syntax_ok(&step.unwrap().script);
        }
        if std::env::var_os("PROV_PRINT_SSH_SCRIPT").is_some() {
            let mut k = key(false);
            k.path = std::env::var("PROV_PRINT_SSH_SCRIPT").unwrap();
            println!(
                "{}",
                ssh_step("root", &ssh(false, Some("pp")), &k)
                    .unwrap()
                    .script
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
