//! The apt-get command lines of the apt backend. A simulation (`apt-get -s`) and the real run
//! are built by the same function, so a prediction uses exactly the options of the command
//! that follows it; the options are the ones Ansible's `apt` passes for each operation.

use prov_core::{Script, sh};

use super::{PkgRequest, PkgState, UpgradeMode};

/// The one apt-get operation of a task (besides the index refresh and the cache cleaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AptVerb {
    /// `install` of names or `.deb` files.
    Install,
    /// `remove` of names.
    Remove,
    /// `upgrade --with-new-pkgs` or `dist-upgrade`.
    Upgrade(UpgradeMode),
    /// `autoremove`, the task's only operation.
    AutoRemove,
}

impl AptVerb {
    /// The operation of `req`, in Ansible's order: `upgrade`, then `deb`, then the names (by
    /// `state`), then `autoremove` alone when the task names no package.
    pub fn of(req: &PkgRequest) -> Option<AptVerb> {
        if let Some(mode) = req.apt.upgrade {
            Some(AptVerb::Upgrade(mode))
        } else if !req.apt.debs.is_empty() {
            Some(AptVerb::Install)
        } else if !req.names.is_empty() {
            Some(match req.state {
                PkgState::Absent => AptVerb::Remove,
                PkgState::Present | PkgState::Latest => AptVerb::Install,
            })
        } else if req.apt.autoremove {
            Some(AptVerb::AutoRemove)
        } else {
            None
        }
    }

    /// The apt-get command, for messages.
    pub fn word(self) -> &'static str {
        match self {
            AptVerb::Install => "install",
            AptVerb::Remove => "remove",
            AptVerb::Upgrade(UpgradeMode::Safe) => "upgrade",
            AptVerb::Upgrade(UpgradeMode::Dist) => "dist-upgrade",
            AptVerb::AutoRemove => "autoremove",
        }
    }
}

/// Options of every command: `-y -q`, the lock timeout, the dpkg options and `-t`.
fn common_opts(req: &PkgRequest) -> Script {
    let mut s = sh!("-y -q -o DPkg::Lock::Timeout={}", req.lock_timeout);
    for o in &req.apt.dpkg_options {
        s = s.then_text(" -o").arg(format!("Dpkg::Options::=--{o}"));
    }
    match &req.default_release {
        Some(r) => s.then_text(" -t").arg(r),
        None => s,
    }
}

/// Appends `flag` when `on`.
fn flag(s: Script, on: bool, flag: &'static str) -> Script {
    if on { s.then_text(flag) } else { s }
}

/// The arguments of apt-get for `verb` on `targets` (names, pins or `.deb` paths).
pub fn op_args(req: &PkgRequest, verb: AptVerb, targets: &[String]) -> Script {
    let a = &req.apt;
    let mut s = common_opts(req);
    match verb {
        AptVerb::Install => {
            match req.install_recommends {
                Some(true) => s = s.then_text(" --install-recommends"),
                Some(false) => s = s.then_text(" --no-install-recommends"),
                None => {}
            }
            s = flag(s, req.allow_downgrade, " --allow-downgrades");
            s = flag(s, a.allow_unauthenticated, " --allow-unauthenticated");
            s = flag(
                s,
                a.allow_change_held_packages,
                " --allow-change-held-packages",
            );
            s = flag(s, a.fail_on_autoremove, " --no-remove");
            // Ansible installs a `.deb`'s dependencies without these two.
            if a.debs.is_empty() {
                s = flag(s, a.only_upgrade, " --only-upgrade");
                s = flag(s, a.autoremove, " --auto-remove");
            }
            s = s.then_text(" install");
        }
        AptVerb::Remove => {
            s = s.then_text(" remove");
            s = flag(s, req.purge, " --purge");
            s = flag(s, a.autoremove, " --auto-remove");
            s = flag(
                s,
                a.allow_change_held_packages,
                " --allow-change-held-packages",
            );
        }
        AptVerb::Upgrade(mode) => {
            s = flag(s, a.fail_on_autoremove, " --no-remove");
            s = flag(s, a.allow_unauthenticated, " --allow-unauthenticated");
            s = flag(s, req.allow_downgrade, " --allow-downgrades");
            s = s.then_text(match mode {
                UpgradeMode::Safe => " upgrade --with-new-pkgs",
                UpgradeMode::Dist => " dist-upgrade",
            });
            return flag(s, a.autoremove, " --auto-remove");
        }
        AptVerb::AutoRemove => {
            return flag(s, req.purge, " --purge").then_text(" autoremove");
        }
    }
    targets.iter().fold(s.then_text(" --"), |s, t| s.arg(t))
}

/// The arguments of `apt-get autoclean`.
pub fn autoclean_args(req: &PkgRequest) -> Script {
    common_opts(req).then_text(" autoclean")
}

/// What `apt-get -s ARGS` prints (stderr too), leaving its exit status in `$rc`.
pub fn simulation(args: &Script) -> Script {
    sh!(
        "DEBIAN_FRONTEND=noninteractive apt-get -s -o Debug::NoLocking=1 {} 2>&1; rc=$?",
        args
    )
}

/// The real `apt-get ARGS`, under the task's `policy_rc_d`.
pub fn real(req: &PkgRequest, args: &Script) -> Script {
    with_policy_rc_d(req, sh!("DEBIAN_FRONTEND=noninteractive apt-get {}", args))
}

/// Runs `cmd` with `/usr/sbin/policy-rc.d` exiting `policy_rc_d` (as Ansible: an existing one
/// is moved aside and put back afterwards, a new one removed), and exits with `cmd`'s status.
pub fn with_policy_rc_d(req: &PkgRequest, cmd: Script) -> Script {
    let Some(code) = req.apt.policy_rc_d else {
        return cmd;
    };
    sh!(
        "p=/usr/sbin/policy-rc.d; b=\nif [ -e $p ] || [ -L $p ]; then b=$(mktemp -d) && mv $p \"$b\"/ || exit 1; fi\nrestore() {{ if [ -n \"$b\" ]; then mv \"$b\"/policy-rc.d $p && rmdir \"$b\"; else rm -f $p; fi; }}\nif ! {{ printf '#!/bin/sh\\nexit %d\\n' {} >$p && chmod 0755 $p; }}; then restore; echo \"cannot write $p\" >&2; exit 1; fi",
        code
    )
    .then(&cmd)
    .then_text("\nrc=$?\nrestore || { echo \"cannot restore $p\" >&2; exit 1; }\nexit $rc")
}

/// `apt-get update` with Ansible's retries: `update_cache_retries` attempts, pausing 2^attempt
/// seconds (at most `update_cache_retry_max_delay`) after each failure; the success stamp is
/// touched as apt's periodic job does, so `cache_valid_time` sees the refresh.
pub fn update(req: &PkgRequest) -> Script {
    sh!(
        "n={}; max={}; i=0; out=\nwhile [ $i -lt $n ]; do\n  if out=$(DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout={} 2>&1); then\n    printf '%s\\n' \"$out\"; mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp; exit $?\n  fi\n  i=$((i + 1)); [ $i -ge $n ] && break\n  d=$((1 << (i - 1))); [ $d -gt $max ] && d=$max\n  sleep $d\ndone\nprintf 'Failed to update apt cache after %s retries: %s\\n' \"$n\" \"$(printf '%s\\n' \"$out\" | grep '^E:' | tr '\\n' ' ')\" >&2\nexit 1",
        req.apt.update_cache_retries,
        req.apt.update_cache_retry_max_delay,
        req.lock_timeout
    )
}

/// The files `apt-get clean` deletes (downloaded packages, partial downloads; its binary
/// caches are rebuilt by any apt command, so they do not count), one per line.
pub fn clean_probe() -> Script {
    Script::text(
        "find /var/cache/apt/archives /var/cache/apt/archives/partial /var/lib/apt/lists/partial -maxdepth 1 -type f ! -name lock 2>/dev/null; true",
    )
}

/// `apt-get clean`.
pub fn clean() -> Script {
    Script::text("apt-get clean")
}

/// For each `.deb` file, one line: `same|new|other NAME VERSION INSTALLED` (`-` when not
/// installed; `same` when dpkg compares the versions equal), or `error MESSAGE`.
pub fn deb_probe(debs: &[String]) -> Script {
    let probe = Script::text(
        "deb() { i=$(dpkg-deb -W --showformat='${Package} ${Version}' -- \"$1\" 2>&1) || { printf 'error %s\\n' \"$(printf %s \"$i\" | tr '\\n' ' ')\"; return; }\n  n=${i%% *}; v=${i#* }\n  iv=$(dpkg-query -W -f='${db:Status-Status} ${Version}\\n' -- \"$n\" 2>/dev/null | sed -n 's/^installed //p' | head -n 1)\n  s=new; if [ -n \"$iv\" ]; then s=other; dpkg --compare-versions \"$v\" eq \"$iv\" && s=same; fi\n  printf '%s %s %s %s\\n' \"$s\" \"$n\" \"$v\" \"${iv:--}\"; }",
    );
    debs.iter()
        .fold(probe, |s, d| s.then(&Script::text("deb").arg(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(names: &[&str], state: PkgState) -> PkgRequest {
        PkgRequest::new(names.iter().map(|n| n.to_string()).collect(), state)
    }

    #[test]
    fn the_verb_follows_ansibles_order() {
        let mut r = req(&[], PkgState::Present);
        assert_eq!(AptVerb::of(&r), None);
        r.apt.autoremove = true;
        assert_eq!(AptVerb::of(&r), Some(AptVerb::AutoRemove));
        r.names = vec!["x".into()];
        r.state = PkgState::Absent;
        assert_eq!(AptVerb::of(&r), Some(AptVerb::Remove));
        r.apt.debs = vec!["/tmp/x.deb".into()];
        assert_eq!(AptVerb::of(&r), Some(AptVerb::Install));
        r.apt.upgrade = Some(UpgradeMode::Dist);
        assert_eq!(AptVerb::of(&r).unwrap().word(), "dist-upgrade");
    }

    #[test]
    fn each_operation_gets_ansibles_options() {
        let mut r = req(&["redis-tools"], PkgState::Present);
        let defaults = op_args(&r, AptVerb::Install, &r.names).to_string();
        assert_eq!(
            defaults,
            "-y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -- redis-tools"
        );
        r.apt.dpkg_options = vec![
            "force-confnew".into(),
            "path-exclude=/usr/share/doc/*".into(),
        ];
        r.apt.autoremove = true;
        r.apt.only_upgrade = true;
        r.apt.fail_on_autoremove = true;
        r.apt.allow_unauthenticated = true;
        r.apt.allow_change_held_packages = true;
        let all = op_args(&r, AptVerb::Install, &r.names).to_string();
        assert_eq!(
            all,
            "-y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confnew -o 'Dpkg::Options::=--path-exclude=/usr/share/doc/*' --allow-unauthenticated --allow-change-held-packages --no-remove --only-upgrade --auto-remove install -- redis-tools"
        );
        // A `.deb`: its dependencies come without --only-upgrade and --auto-remove.
        r.apt.debs = vec!["/tmp/a b.deb".into()];
        let deb = op_args(&r, AptVerb::Install, &r.apt.debs).to_string();
        assert!(
            deb.ends_with("--allow-change-held-packages --no-remove install -- '/tmp/a b.deb'"),
            "{deb}"
        );
        r.purge = true;
        assert!(op_args(&r, AptVerb::Remove, &r.names).as_str().ends_with(
            " remove --purge --auto-remove --allow-change-held-packages -- redis-tools"
        ));
        assert!(
            op_args(&r, AptVerb::AutoRemove, &[])
                .as_str()
                .ends_with(" --purge autoremove")
        );
        r.allow_downgrade = true;
        r.default_release = Some("bookworm".into());
        assert!(
            op_args(&r, AptVerb::Upgrade(UpgradeMode::Safe), &[])
                .as_str()
                .ends_with(" -t bookworm --no-remove --allow-unauthenticated --allow-downgrades upgrade --with-new-pkgs --auto-remove")
        );
        assert!(
            op_args(&r, AptVerb::Upgrade(UpgradeMode::Dist), &[])
                .as_str()
                .ends_with(" dist-upgrade --auto-remove")
        );
        assert!(
            autoclean_args(&r)
                .as_str()
                .ends_with(" -t bookworm autoclean")
        );
        r.apt.dpkg_options.clear();
        assert!(
            !op_args(&r, AptVerb::AutoRemove, &[])
                .as_str()
                .contains("Dpkg::")
        );
    }

    #[test]
    fn the_update_retries_with_backoff_then_reports_apts_errors() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let fake = dir.path().join("apt-get");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho x >> {}\necho 'Get:1 file:/repo'\necho 'E: Failed to fetch file:/gone' >&2\nexit 100\n",
                count.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut r = req(&[], PkgState::Present);
        r.apt.update_cache_retries = 3;
        r.apt.update_cache_retry_max_delay = 0;
        let out = crate::server_util::testing::sh(&update(&r), Some(dir.path()));
        assert_eq!(out.status, 1);
        assert_eq!(
            out.stderr_text().trim(),
            "Failed to update apt cache after 3 retries: E: Failed to fetch file:/gone"
        );
        let attempts = std::fs::read_to_string(&count).unwrap();
        assert_eq!(attempts.lines().count(), 3);
        let s = update(&r).to_string();
        assert!(s.starts_with("n=3; max=0;"), "{s}");
    }

    #[test]
    fn policy_rc_d_wraps_the_real_command_only_when_asked() {
        let mut r = req(&["x"], PkgState::Present);
        let args = op_args(&r, AptVerb::Install, &r.names);
        assert_eq!(
            real(&r, &args).to_string(),
            format!("DEBIAN_FRONTEND=noninteractive apt-get {args}")
        );
        r.apt.policy_rc_d = Some(101);
        let s = real(&r, &args).to_string();
        assert!(s.contains("exit %d\\n' 101 >$p"), "{s}");
        assert!(s.ends_with("exit $rc"), "{s}");
    }
}
