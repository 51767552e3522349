//! `firewall` (also `nftables`): a declarative nftables rule set in its own table.
//!
//! ```yaml
//! firewall:
//!   table: prov            # optional (family inet)
//!   policy: drop           # default policy of the managed input chain
//!   allow_established: yes
//!   allow_loopback: yes
//!   rules:
//!     - { port: 22, proto: tcp, from: "{{ admin_network }}" }
//!     - { port: [7000, 7001, 17000, 17001], proto: tcp, from: ["10.77.0.0/26"] }
//!     - { proto: icmp }
//!   allow_cutting_ssh: no
//! ```
//!
//! Only the managed table (`table inet prov`) is touched, so rules written by others stay. The
//! table is rendered in Rust ([`crate::nft`]), compared with the live one (both in nft's own
//! listing form: the rendered table is loaded into a private network namespace on the host and
//! listed there; see the [`crate::nft`] docs), replaced atomically by one `nft -f` transaction
//! (`table; delete table; table {...}`), and persisted to `/etc/nftables.d/<table>.nft`, included
//! from `/etc/nftables.conf`, with `nftables.service` enabled so a reboot keeps it. Either file
//! may be a symbolic link: the write goes through it to its target (`readlink -f`), the link stays.
//!
//! A rule set under which a new SSH connection from the controller (its address as the host sees
//! it: `facts.ssh_client_address`, else the `SSH_CONNECTION` of the remote session) to the SSH
//! port (`facts.ssh_port`, else the session's) would not be accepted is refused unless
//! `allow_cutting_ssh: yes`.

use prov_core::Script;
use std::net::IpAddr;

use async_trait::async_trait;
use prov_core::transfer::FileAttrs;
use prov_core::{Action, Diff, Module, ModuleContext, ModuleError, Outcome, Plan, quote};
use serde_json::{Value, json};

use crate::nft::{FirewallArgs, FirewallSpec, normalize_listing, parse_ssh_connection};
use crate::parse_args;
use crate::server_util::{self, section, sections};

/// The nftables main configuration read at boot by `nftables.service`.
pub const NFTABLES_CONF: &str = "/etc/nftables.conf";
/// The folder of persisted prov tables.
pub const NFTABLES_DIR: &str = "/etc/nftables.d";

/// The `firewall` module.
#[derive(Debug)]
pub struct Firewall {
    spec: FirewallSpec,
    present: bool,
    allow_cutting_ssh: bool,
    persist: bool,
    /// The main configuration ([`NFTABLES_CONF`]; another path only in tests).
    conf: String,
    /// The folder of persisted tables ([`NFTABLES_DIR`]; another path only in tests).
    dir: String,
}

impl Firewall {
    fn persist_path(&self) -> String {
        format!("{}/{}.nft", self.dir, self.spec.table)
    }

    fn include_line(&self) -> String {
        format!("include \"{}\"", self.persist_path())
    }

    fn persisted_content(&self) -> String {
        format!(
            "#!/usr/sbin/nft -f\n# Managed by prov (firewall module): table inet {}. Local changes are overwritten.\n{}",
            self.spec.table,
            self.spec.apply_text()
        )
    }

    fn read_script(&self) -> String {
        let t = &self.spec.table;
        let mut s = String::from("PATH=$PATH:/usr/sbin:/sbin\n");
        s.push_str(&section("nft"));
        s.push_str("command -v nft || true\n");
        s.push_str(&section("live"));
        s.push_str(&format!("nft -s list table inet {t} 2>/dev/null\n"));
        if self.present {
            s.push_str(&section("canon"));
            s.push_str(&format!(
                "if command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then\n\
                 unshare -n sh -c 'nft -f - && nft -s list table inet {t}' 2>&1; rc=$?\n\
                 else rc=none; fi\n"
            ));
            s.push_str(&section("canonrc"));
            s.push_str("echo \"$rc\"\n");
        }
        s.push_str(&section("persist"));
        s.push_str(&format!(
            "cat {} 2>/dev/null\n",
            quote(&self.persist_path())
        ));
        s.push_str(&section("persist_exists"));
        s.push_str(&format!(
            "[ -e {} ] && echo yes\n",
            quote(&self.persist_path())
        ));
        s.push_str(&server_util::resolve_section(
            "persist_target",
            &self.persist_path(),
        ));
        let conf = quote(&self.conf);
        s.push_str(&section("conf"));
        s.push_str(&format!("cat {conf} 2>/dev/null\n"));
        s.push_str(&section("conf_exists"));
        s.push_str(&format!("[ -e {conf} ] && echo yes\n"));
        s.push_str(&server_util::resolve_section("conf_target", &self.conf));
        s.push_str(&section("enabled"));
        s.push_str("command -v systemctl >/dev/null 2>&1 && systemctl is-enabled nftables.service 2>/dev/null\n");
        s.push_str(&section("ssh"));
        s.push_str(
            "if [ -n \"$SSH_CONNECTION\" ]; then echo \"$SSH_CONNECTION\"; else\n\
             p=$$\n\
             while [ -n \"$p\" ] && [ \"$p\" -gt 1 ] 2>/dev/null; do\n\
             c=$(tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n 1)\n\
             if [ -n \"$c\" ]; then echo \"$c\"; break; fi\n\
             p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null)\n\
             done\nfi\n",
        );
        s.push_str(&section("end"));
        s
    }

    /// The controller's address and the SSH port, from the facts or the session.
    fn ssh_endpoint(&self, facts: &Value, session: &str) -> (Option<IpAddr>, u16) {
        let from_session = parse_ssh_connection(session.lines().next().unwrap_or(""));
        let addr = facts
            .get("ssh_client_address")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<IpAddr>().ok())
            .or(from_session.map(|s| s.0));
        let port = facts
            .get("ssh_port")
            .and_then(|p| {
                p.as_u64()
                    .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            })
            .and_then(|p| u16::try_from(p).ok())
            .or(from_session.map(|s| s.1))
            .unwrap_or(22);
        (addr, port)
    }
}

/// What the firewall action does, in order.
#[derive(Debug, Default)]
struct FirewallAction {
    table: String,
    /// `nft -f` input replacing the table.
    replace: Option<String>,
    /// Delete the table.
    delete: bool,
    /// Write the persisted file (path, content).
    persist: Option<(String, String)>,
    /// Remove the persisted file.
    unpersist: Option<String>,
    /// New content of /etc/nftables.conf (the path written, content).
    conf: Option<(String, String)>,
    /// `systemctl enable nftables.service`.
    enable: bool,
}

#[async_trait]
impl Action for FirewallAction {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        if let Some(text) = &self.replace {
            let out = ctx
                .run_with_input(
                    &Script::__legacy("PATH=$PATH:/usr/sbin:/sbin; nft -f -"),
                    text.as_bytes(),
                )
                .await?;
            server_util::check_output(
                &format!("nft -f (replace table inet {})", self.table),
                &out,
            )?;
        }
        if self.delete {
            ctx.run_ok(&Script::__legacy(format!(
                "PATH=$PATH:/usr/sbin:/sbin; nft delete table inet {}",
                self.table
            )))
            .await?;
        }
        if let Some((path, content)) = &self.persist {
            ctx.run_ok(&Script::__legacy(format!(
                "mkdir -p -- {}",
                quote(&crate::remote_file::parent_of(path))
            )))
            .await?;
            let attrs = FileAttrs {
                mode: Some("0644".into()),
                ..FileAttrs::default()
            };
            server_util::write_text(ctx, path, content, &attrs).await?;
        }
        if let Some(path) = &self.unpersist {
            ctx.run_ok(&Script::__legacy(format!("rm -f -- {}", quote(path))))
                .await?;
        }
        if let Some((path, conf)) = &self.conf {
            server_util::write_text(ctx, path, conf, &FileAttrs::default()).await?;
        }
        if self.enable {
            ctx.run_ok(&Script::__legacy("systemctl enable nftables.service"))
                .await?;
        }
        Ok(Outcome::default())
    }
}

fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

#[async_trait]
impl Module for Firewall {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let rendered = self.spec.render();
        let out = ctx
            .run_with_input(&Script::__legacy(self.read_script()), rendered.as_bytes())
            .await?;
        let text = out.stdout_text();
        let secs = sections(&text);
        if !secs.contains_key("end") {
            server_util::check_output("firewall: read nftables state", &out)?;
            return Err(ModuleError::failed(
                "firewall: reading the nftables state failed",
            ));
        }
        // In check mode an earlier task may install nftables: predict from the rendered text,
        // as for a host whose nftables.service is still disabled (Debian's default).
        let nft_missing = server_util::get(&secs, "nft").trim().is_empty();
        if nft_missing && !(ctx.check_mode && self.present) {
            return Err(ModuleError::failed(
                "firewall: nft is not installed on the host (install the nftables package first)",
            ));
        }
        let table = &self.spec.table;
        let label = format!("nft table inet {table}");
        let live = server_util::get(&secs, "live");
        let live_exists = !live.trim().is_empty();
        let persist_path = self.persist_path();
        let persisted = server_util::get(&secs, "persist");
        let persist_exists = server_util::get(&secs, "persist_exists").trim() == "yes";
        let conf = server_util::get(&secs, "conf");
        let conf_exists = server_util::get(&secs, "conf_exists").trim() == "yes";
        let include = self.include_line();
        let conf_has_include = conf.lines().any(|l| l.trim() == include);
        // Symlinked files are written through (the target gets the content, the link stays).
        let persist_target =
            server_util::write_target("firewall", &secs, "persist_target", &persist_path)?;
        let conf_path = server_util::write_target("firewall", &secs, "conf_target", &self.conf)?;
        let enabled_state = if nft_missing {
            "disabled".to_owned()
        } else {
            server_util::get(&secs, "enabled").trim().to_owned()
        };

        let mut plan = Plan::unchanged().with_result("table", json!(format!("inet {table}")));
        let mut summary: Vec<String> = Vec::new();
        let mut diffs = Vec::new();
        let mut action = FirewallAction {
            table: table.clone(),
            ..FirewallAction::default()
        };

        if !self.present {
            if live_exists {
                action.delete = true;
                summary.push(format!("delete table inet {table}"));
                diffs.push(Diff::new(label, live, ""));
            }
            if persist_exists {
                action.unpersist = Some(persist_path.clone());
                summary.push(format!("remove {persist_path}"));
            }
            if conf_has_include {
                let new: String = conf
                    .lines()
                    .filter(|l| l.trim() != include)
                    .map(|l| format!("{l}\n"))
                    .collect();
                summary.push(format!(
                    "drop the include of {persist_path} from {conf_path}"
                ));
                diffs.push(Diff::new(conf_path.clone(), conf, new.clone()));
                action.conf = Some((conf_path.clone(), new));
            }
        } else {
            let (controller, ssh_port) =
                self.ssh_endpoint(ctx.facts, server_util::get(&secs, "ssh"));
            if let Some(a) = controller {
                plan = plan.with_result("controller_address", json!(a.to_string()));
            }
            if !self.allow_cutting_ssh {
                self.spec
                    .ssh_guard(controller, ssh_port)
                    .map_err(ModuleError::failed)?;
            }
            let canon_rc = if nft_missing {
                "none".to_owned()
            } else {
                server_util::get(&secs, "canonrc").trim().to_owned()
            };
            let canon = server_util::get(&secs, "canon");
            let (desired, method) = match canon_rc.as_str() {
                "0" => (
                    canon.to_owned(),
                    "nft listing of the rendered table in a scratch network namespace",
                ),
                "none" => (
                    rendered.clone(),
                    "rendered text (no network namespace available)",
                ),
                _ => {
                    return Err(ModuleError::failed(format!(
                        "firewall: nft rejects the rendered table: {}\n{rendered}",
                        canon.trim()
                    )));
                }
            };
            plan = plan
                .with_result("compared_with", json!(method))
                .with_result("rules", json!(rendered));
            if normalize_listing(live) != normalize_listing(&desired) {
                action.replace = Some(self.spec.apply_text());
                let d = Diff::new(label, live, desired.clone());
                let (added, removed) = d.line_counts();
                summary.push(if live_exists {
                    format!("replace table inet {table} (+{added} -{removed} lines)")
                } else {
                    format!(
                        "create table inet {table} ({} rules)",
                        self.spec.rules.len()
                    )
                });
                diffs.push(d);
            }
            if self.persist {
                let content = self.persisted_content();
                if persisted != content {
                    summary.push(format!("write {persist_target}"));
                    diffs.push(Diff::new(
                        persist_target.clone(),
                        persisted,
                        content.clone(),
                    ));
                    action.persist = Some((persist_target.clone(), content));
                }
                if !conf_has_include {
                    let new = if conf_exists {
                        format!("{}{include}\n", with_newline(conf))
                    } else {
                        format!("#!/usr/sbin/nft -f\n\n{include}\n")
                    };
                    summary.push(format!("include {persist_path} from {conf_path}"));
                    diffs.push(Diff::new(conf_path.clone(), conf, new.clone()));
                    action.conf = Some((conf_path.clone(), new));
                }
                if enabled_state == "disabled" {
                    summary.push("enable nftables.service".into());
                    action.enable = true;
                }
            }
        }
        Ok(plan.with_change(summary, diffs, action))
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("firewall", build)
    .aliases(&["nftables"]);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    let a: FirewallArgs = parse_args(args)?;
    let present = match a.state.as_deref() {
        None | Some("present") => true,
        Some("absent") => false,
        Some(o) => {
            return Err(ModuleError::args(format!(
                "state `{o}` is not present or absent"
            )));
        }
    };
    let spec = FirewallSpec::from_args(
        a.table,
        a.policy,
        a.allow_established,
        a.allow_loopback,
        a.allow_ipv6_nd,
        a.rules,
    )
    .map_err(|e| ModuleError::args(e.to_string()))?;
    Ok(Box::new(Firewall {
        spec,
        present,
        allow_cutting_ssh: a.allow_cutting_ssh,
        persist: a.persist,
        conf: NFTABLES_CONF.into(),
        dir: NFTABLES_DIR.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_script_runs_in_a_real_shell_without_nft() {
        // The script must be valid sh even where nft is missing.
        let fw = build(json!({"rules": [{"port": 22}]})).unwrap();
        let _ = fw;
        let f = Firewall {
            spec: FirewallSpec::from_args(None, None, true, true, true, vec![]).unwrap(),
            present: true,
            allow_cutting_ssh: false,
            persist: true,
            conf: NFTABLES_CONF.into(),
            dir: NFTABLES_DIR.into(),
        };
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(f.read_script())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(f.persist_path(), "/etc/nftables.d/prov.nft");
        assert_eq!(f.include_line(), "include \"/etc/nftables.d/prov.nft\"");
    }

    #[test]
    fn ssh_endpoint_prefers_facts() {
        let f = Firewall {
            spec: FirewallSpec::from_args(None, None, true, true, true, vec![]).unwrap(),
            present: true,
            allow_cutting_ssh: false,
            persist: true,
            conf: NFTABLES_CONF.into(),
            dir: NFTABLES_DIR.into(),
        };
        let (a, p) = f.ssh_endpoint(&json!({}), "10.77.0.1 5000 10.77.0.11 2222\n");
        assert_eq!(
            (a.map(|a| a.to_string()), p),
            (Some("10.77.0.1".into()), 2222)
        );
        let (a, p) = f.ssh_endpoint(
            &json!({"ssh_client_address": "10.0.0.9", "ssh_port": "22"}),
            "",
        );
        assert_eq!((a.map(|a| a.to_string()), p), (Some("10.0.0.9".into()), 22));
        assert_eq!(f.ssh_endpoint(&json!({}), ""), (None, 22));
    }

    struct NoFiles;

    impl prov_core::FileSource for NoFiles {
        fn find(
            &self,
            _kind: prov_core::FileKind,
            name: &str,
        ) -> Result<std::path::PathBuf, ModuleError> {
            Err(ModuleError::LocalFile(format!("no file {name}")))
        }

        fn render(&self, path: &std::path::Path) -> Result<String, ModuleError> {
            Err(ModuleError::Template(format!(
                "no template {}",
                path.display()
            )))
        }
    }

    struct NoPeers;

    impl prov_core::Peers for NoPeers {
        fn connection(&self, _host: &str) -> Option<std::sync::Arc<dyn prov_core::Connection>> {
            None
        }
    }

    /// Plans (and unless `check`, applies) `fw` on the local machine with `PATH` starting at
    /// `bin`, whose fake `nft` and `systemctl` keep the machine's own rule set and services
    /// untouched.
    async fn run_local(fw: &Firewall, bin: &std::path::Path, check: bool) -> prov_core::PlanReport {
        let conn = prov_transport::LocalConnection::new("localhost");
        let env = [(
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", bin.display()),
        )];
        let facts = json!({});
        let ctx = ModuleContext {
            host: "localhost",
            conn: &conn,
            become_: None,
            check_mode: check,
            facts: &facts,
            files: &NoFiles,
            peers: &NoPeers,
            timeout: Some(std::time::Duration::from_secs(30)),
            environment: &env,
        };
        let (report, action) = fw.plan(&ctx).await.expect("plan").split();
        if !check && let Some(action) = action {
            action.apply(&ctx).await.expect("apply");
        }
        report
    }

    #[tokio::test]
    async fn persisted_files_that_are_symlinks_are_written_through() {
        use std::os::unix::fs::{PermissionsExt as _, symlink};
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonicalize");
        let at = |n: &str| root.join(n);
        let bin = at("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        for (name, script) in [
            (
                "nft",
                "#!/bin/sh\n[ \"$1\" = -f ] && cat >/dev/null\nexit 0\n",
            ),
            ("systemctl", "#!/bin/sh\necho enabled\n"),
        ] {
            std::fs::write(bin.join(name), script).expect("write");
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        std::fs::create_dir_all(at("etc/nftables.d")).expect("mkdir");
        std::fs::create_dir_all(at("real")).expect("mkdir");
        std::fs::write(
            at("real/nftables.conf"),
            "#!/usr/sbin/nft -f\nflush ruleset\n",
        )
        .expect("write");
        std::fs::write(at("real/prov.nft"), "old\n").expect("write");
        symlink("../real/nftables.conf", at("etc/nftables.conf")).expect("symlink");
        symlink("../../real/prov.nft", at("etc/nftables.d/prov.nft")).expect("symlink");
        let path = |p: std::path::PathBuf| p.display().to_string();
        let mut fw = Firewall {
            spec: FirewallSpec::from_args(None, None, true, true, true, vec![]).unwrap(),
            present: true,
            allow_cutting_ssh: true,
            persist: true,
            conf: path(at("etc/nftables.conf")),
            dir: path(at("etc/nftables.d")),
        };
        let real_conf = path(at("real/nftables.conf"));
        let real_nft = path(at("real/prov.nft"));
        let include = fw.include_line();

        let check = run_local(&fw, &bin, true).await;
        let plan = run_local(&fw, &bin, false).await;
        assert_eq!(check.summary, plan.summary, "check mode predicts the run");
        assert_eq!(check.diffs, plan.diffs);
        assert_eq!(
            plan.summary,
            vec![
                format!("write {real_nft}"),
                format!("include {} from {real_conf}", fw.persist_path()),
            ],
            "the summary names the files written: the links' targets"
        );
        for link in ["etc/nftables.conf", "etc/nftables.d/prov.nft"] {
            assert!(
                std::fs::symlink_metadata(at(link))
                    .expect("lstat")
                    .file_type()
                    .is_symlink(),
                "{link} stays a link"
            );
        }
        assert_eq!(
            std::fs::read_to_string(at("real/nftables.conf")).unwrap(),
            format!("#!/usr/sbin/nft -f\nflush ruleset\n{include}\n")
        );
        assert_eq!(
            std::fs::read_to_string(at("real/prov.nft")).unwrap(),
            fw.persisted_content()
        );
        assert!(!run_local(&fw, &bin, false).await.changed, "converged");

        fw.present = false;
        let check = run_local(&fw, &bin, true).await;
        let plan = run_local(&fw, &bin, false).await;
        assert_eq!(check.summary, plan.summary);
        assert!(
            std::fs::symlink_metadata(at("etc/nftables.conf"))
                .expect("lstat")
                .file_type()
                .is_symlink(),
            "the conf link stays"
        );
        assert_eq!(
            std::fs::read_to_string(at("real/nftables.conf")).unwrap(),
            "#!/usr/sbin/nft -f\nflush ruleset\n"
        );
        assert!(
            std::fs::symlink_metadata(at("etc/nftables.d/prov.nft")).is_err(),
            "the persisted file's link is removed"
        );
        assert!(at("real/prov.nft").exists(), "its target is kept");
    }

    #[test]
    fn args() {
        assert!(build(json!({"state": "gone"})).is_err());
        assert!(build(json!({"rules": [{"port": 22}], "extra": 1})).is_err());
        assert!(build(json!({"table": "prov2", "policy": "accept"})).is_ok());
    }
}
