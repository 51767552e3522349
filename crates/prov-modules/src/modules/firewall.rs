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

use std::net::IpAddr;

use async_trait::async_trait;
use prov_core::transfer::FileAttrs;
use prov_core::{
    Action, Diff, FactError, Module, ModuleContext, ModuleError, Outcome, Plan, Script, sh,
};
use serde_json::{Map, Value, json};

use crate::args::Presence;
use crate::nft::{FirewallArgs, FirewallSpec, TableName, normalize_listing, parse_ssh_connection};
use crate::parse_args;
use crate::server_util::{self, LinkTarget, Section, Sectioned, SectionedFact, Sections};

/// The nftables main configuration read at boot by `nftables.service`.
pub const NFTABLES_CONF: &str = "/etc/nftables.conf";
/// The folder of persisted prov tables.
pub const NFTABLES_DIR: &str = "/etc/nftables.d";

/// The `firewall` module.
#[derive(Debug)]
pub struct Firewall {
    spec: FirewallSpec,
    state: Presence,
    allow_cutting_ssh: bool,
    persist: bool,
    /// The main configuration ([`NFTABLES_CONF`]; another path only in tests).
    conf: String,
    /// The folder of persisted tables ([`NFTABLES_DIR`]; another path only in tests).
    dir: String,
}

impl Firewall {
    /// The module from its parsed arguments.
    pub fn from_args(a: FirewallArgs) -> Result<Firewall, ModuleError> {
        let spec = FirewallSpec::from_args(&a).map_err(ModuleError::args)?;
        Ok(Firewall {
            spec,
            state: a.state,
            allow_cutting_ssh: a.allow_cutting_ssh,
            persist: a.persist,
            conf: NFTABLES_CONF.into(),
            dir: NFTABLES_DIR.into(),
        })
    }

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

/// What the host has: the live table, the persisted files, nftables.service, the SSH session.
/// With `canonicalize`, the rendered table (on the probe's stdin) is also loaded into a
/// scratch network namespace and listed there.
pub struct FirewallFact<'a> {
    table: &'a TableName,
    persist_path: String,
    conf: &'a str,
    canonicalize: bool,
}

/// The rendered table as the host's nft lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canonical {
    /// nft's listing from the scratch namespace.
    Listed(String),
    /// The host cannot create a network namespace.
    Unavailable,
    /// nft refused the rendered table (its message).
    Rejected(String),
}

/// The [`FirewallFact`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallState {
    /// `nft` is installed.
    pub nft: bool,
    /// `nft -s list table inet T` (empty: no such table).
    pub live: String,
    /// The rendered table as listed by nft (only when asked).
    pub canonical: Option<Canonical>,
    /// The persisted table file's content, if it exists.
    pub persisted: Option<String>,
    /// Where a write of the persisted file goes.
    pub persist_target: LinkTarget,
    /// The main configuration's content, if it exists.
    pub conf: Option<String>,
    /// Where a write of the main configuration goes.
    pub conf_target: LinkTarget,
    /// `systemctl is-enabled nftables.service` (empty without systemd).
    pub enabled: String,
    /// The session's `SSH_CONNECTION` (empty when unknown).
    pub ssh: String,
}

/// Prints the session's `SSH_CONNECTION`, from the environment or an ancestor process.
const SSH_CONNECTION_SCRIPT: &str = r#"if [ -n "$SSH_CONNECTION" ]; then echo "$SSH_CONNECTION"; else
p=$$
while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
c=$(tr '\0' '\n' < /proc/$p/environ 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n 1)
if [ -n "$c" ]; then echo "$c"; break; fi
p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null)
done
fi"#;

impl SectionedFact for FirewallFact<'_> {
    type Output = FirewallState;

    fn name(&self) -> String {
        format!("nftables state of table inet {}", self.table)
    }

    fn prelude(&self) -> Script {
        Script::text("PATH=$PATH:/usr/sbin:/sbin")
    }

    fn sections(&self) -> Vec<Section> {
        let mut v = vec![
            Section::new("nft", Script::text("command -v nft || true")),
            Section::new(
                "live",
                sh!("nft -s list table inet {} 2>/dev/null", self.table),
            ),
        ];
        if self.canonicalize {
            v.push(Section::new(
                "canon",
                sh!(
                    "if command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then\n\
                     unshare -n sh -c 'nft -f - && nft -s list table inet \"$1\"' sh {} 2>&1; rc=$?\n\
                     else rc=none; fi",
                    self.table
                ),
            ));
            v.push(Section::new("canonrc", Script::text("echo \"$rc\"")));
        }
        v.push(Section::file("persist", &self.persist_path));
        v.push(Section::link_target("persist_target", &self.persist_path));
        v.push(Section::file("conf", self.conf));
        v.push(Section::link_target("conf_target", self.conf));
        v.push(Section::new(
            "enabled",
            Script::text(
                "command -v systemctl >/dev/null 2>&1 && systemctl is-enabled nftables.service 2>/dev/null",
            ),
        ));
        v.push(Section::new("ssh", Script::text(SSH_CONNECTION_SCRIPT)));
        v
    }

    fn parse_sections(&self, s: &Sections) -> Result<FirewallState, FactError> {
        let nft = !s.get("nft")?.trim().is_empty();
        let canonical = if self.canonicalize && nft {
            let text = s.get("canon")?;
            Some(match s.get("canonrc")?.trim() {
                "0" => Canonical::Listed(text.to_owned()),
                "none" => Canonical::Unavailable,
                rc if rc.parse::<i32>().is_ok() => Canonical::Rejected(text.trim().to_owned()),
                other => return Err(s.error(format!("canonrc `{other}` is not a status"))),
            })
        } else {
            None
        };
        Ok(FirewallState {
            nft,
            live: s.get("live")?.to_owned(),
            canonical,
            persisted: s.file("persist")?,
            persist_target: s.link("persist_target")?,
            conf: s.file("conf")?,
            conf_target: s.link("conf_target")?,
            enabled: s.get("enabled")?.trim().to_owned(),
            ssh: s.get("ssh")?.to_owned(),
        })
    }
}

/// What the firewall action does, in order.
#[derive(Debug)]
struct FirewallAction {
    table: TableName,
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
                    &Script::text("PATH=$PATH:/usr/sbin:/sbin; nft -f -"),
                    text.as_bytes(),
                )
                .await?;
            server_util::check_output(
                &format!("nft -f (replace table inet {})", self.table),
                &out,
            )?;
        }
        if self.delete {
            ctx.run_ok(&sh!(
                "PATH=$PATH:/usr/sbin:/sbin; nft delete table inet {}",
                self.table
            ))
            .await?;
        }
        if let Some((path, content)) = &self.persist {
            let dir = crate::remote_file::parent_of(path);
            ctx.run_ok(&sh!("mkdir -p -- {}", dir)).await?;
            let attrs = FileAttrs {
                mode: Some("0644".into()),
                ..FileAttrs::default()
            };
            server_util::write_text(ctx, path, content, &attrs).await?;
        }
        if let Some(path) = &self.unpersist {
            ctx.run_ok(&sh!("rm -f -- {}", path)).await?;
        }
        if let Some((path, conf)) = &self.conf {
            server_util::write_text(ctx, path, conf, &FileAttrs::default()).await?;
        }
        if self.enable {
            ctx.run_ok(&Script::text("systemctl enable nftables.service"))
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

/// The files a write of the persisted table and of the main configuration goes to.
struct Targets {
    persist: String,
    conf: String,
}

/// A plan being assembled: summary lines, diffs, result fields and the action.
struct Changes {
    summary: Vec<String>,
    diffs: Vec<Diff>,
    result: Map<String, Value>,
    action: FirewallAction,
}

impl Changes {
    fn new(table: &TableName) -> Self {
        Changes {
            summary: Vec::new(),
            diffs: Vec::new(),
            result: Map::new(),
            action: FirewallAction {
                table: table.clone(),
                replace: None,
                delete: false,
                persist: None,
                unpersist: None,
                conf: None,
                enable: false,
            },
        }
    }

    fn push(&mut self, summary: String, diff: Option<Diff>) {
        self.summary.push(summary);
        self.diffs.extend(diff);
    }
}

impl Firewall {
    /// state: absent: delete the live table, its persisted file and its include.
    fn plan_removal(&self, st: &FirewallState, conf_path: &str, ch: &mut Changes) {
        let table = &self.spec.table;
        let persist_path = self.persist_path();
        if !st.live.trim().is_empty() {
            ch.action.delete = true;
            let diff = Diff::new(format!("nft table inet {table}"), &st.live, "");
            ch.push(format!("delete table inet {table}"), Some(diff));
        }
        if st.persisted.is_some() {
            ch.action.unpersist = Some(persist_path.clone());
            ch.push(format!("remove {persist_path}"), None);
        }
        let include = self.include_line();
        let conf = st.conf.as_deref().unwrap_or("");
        if conf.lines().any(|l| l.trim() == include) {
            let new: String = conf
                .lines()
                .filter(|l| l.trim() != include)
                .map(|l| format!("{l}\n"))
                .collect();
            let diff = Diff::new(conf_path, conf, new.clone());
            ch.push(
                format!("drop the include of {persist_path} from {conf_path}"),
                Some(diff),
            );
            ch.action.conf = Some((conf_path.to_owned(), new));
        }
    }

    /// state: present: refuse to cut SSH, then replace the live table when it differs from
    /// the rendered one (compared in nft's own listing form when the host can list it).
    fn plan_table(
        &self,
        st: &FirewallState,
        rendered: &str,
        facts: &Value,
        ch: &mut Changes,
    ) -> Result<(), ModuleError> {
        let table = &self.spec.table;
        let (controller, ssh_port) = self.ssh_endpoint(facts, &st.ssh);
        if let Some(a) = controller {
            ch.result
                .insert("controller_address".into(), json!(a.to_string()));
        }
        if !self.allow_cutting_ssh {
            self.spec
                .ssh_guard(controller, ssh_port)
                .map_err(ModuleError::failed)?;
        }
        let (desired, method) = match st.canonical.as_ref().unwrap_or(&Canonical::Unavailable) {
            Canonical::Listed(text) => (
                text.clone(),
                "nft listing of the rendered table in a scratch network namespace",
            ),
            Canonical::Unavailable => (
                rendered.to_owned(),
                "rendered text (no network namespace available)",
            ),
            Canonical::Rejected(why) => {
                return Err(ModuleError::failed(format!(
                    "firewall: nft rejects the rendered table: {why}\n{rendered}"
                )));
            }
        };
        ch.result.insert("compared_with".into(), json!(method));
        ch.result.insert("rules".into(), json!(rendered));
        if normalize_listing(&st.live) == normalize_listing(&desired) {
            return Ok(());
        }
        ch.action.replace = Some(self.spec.apply_text());
        let d = Diff::new(format!("nft table inet {table}"), &st.live, desired);
        let (added, removed) = d.line_counts();
        let summary = if st.live.trim().is_empty() {
            let rules = self.spec.rules.len();
            format!("create table inet {table} ({rules} rules)")
        } else {
            format!("replace table inet {table} (+{added} -{removed} lines)")
        };
        ch.push(summary, Some(d));
        Ok(())
    }

    /// persist: the table's file, its include from the main configuration, and
    /// nftables.service enabled.
    fn plan_persist(&self, st: &FirewallState, targets: &Targets, ch: &mut Changes) {
        let persist_path = self.persist_path();
        let (persist_target, conf_path) = (&targets.persist, &targets.conf);
        let content = self.persisted_content();
        let persisted = st.persisted.as_deref().unwrap_or("");
        if persisted != content {
            let diff = Diff::new(persist_target.clone(), persisted, content.clone());
            ch.push(format!("write {persist_target}"), Some(diff));
            ch.action.persist = Some((persist_target.clone(), content));
        }
        let include = self.include_line();
        let conf = st.conf.as_deref().unwrap_or("");
        if !conf.lines().any(|l| l.trim() == include) {
            let new = match &st.conf {
                Some(conf) => format!("{}{include}\n", with_newline(conf)),
                None => format!("#!/usr/sbin/nft -f\n\n{include}\n"),
            };
            let diff = Diff::new(conf_path.clone(), conf, new.clone());
            ch.push(format!("include {persist_path} from {conf_path}"), Some(diff));
            ch.action.conf = Some((conf_path.clone(), new));
        }
        // In check mode an earlier task may install nftables: predict as for a host whose
        // nftables.service is still disabled (Debian's default).
        if !st.nft || st.enabled == "disabled" {
            ch.push("enable nftables.service".into(), None);
            ch.action.enable = true;
        }
    }
}

#[async_trait]
impl Module for Firewall {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        let rendered = self.spec.render();
        let present = self.state == Presence::Present;
        let fact = Sectioned(FirewallFact {
            table: &self.spec.table,
            persist_path: self.persist_path(),
            conf: &self.conf,
            canonicalize: present,
        });
        let st = server_util::fact_with_input(ctx, &fact, rendered.as_bytes()).await?;
        // In check mode an earlier task may install nftables: predict from the rendered text.
        let predictable = ctx.check_mode && present;
        if !st.nft && !predictable {
            return Err(ModuleError::failed(
                "firewall: nft is not installed on the host (install the nftables package first)",
            ));
        }
        // Symlinked files are written through (the target gets the content, the link stays).
        let targets = Targets {
            persist: st
                .persist_target
                .write_path("firewall", &self.persist_path())?,
            conf: st.conf_target.write_path("firewall", &self.conf)?,
        };
        let mut ch = Changes::new(&self.spec.table);
        if present {
            self.plan_table(&st, &rendered, ctx.facts, &mut ch)?;
            if self.persist {
                self.plan_persist(&st, &targets, &mut ch);
            }
        } else {
            self.plan_removal(&st, &targets.conf, &mut ch);
        }
        let mut plan = Plan::unchanged()
            .with_result("table", json!(format!("inet {}", self.spec.table)));
        plan.result_mut().extend(ch.result);
        Ok(plan.with_change(ch.summary, ch.diffs, ch.action))
    }
}

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("firewall", build)
    .aliases(&["nftables"]);

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(Firewall::from_args(parse_args(args)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The module with default arguments.
    fn firewall() -> Firewall {
        Firewall::from_args(parse_args(json!({})).unwrap()).unwrap()
    }

    fn fact(f: &Firewall) -> Sectioned<FirewallFact<'_>> {
        Sectioned(FirewallFact {
            table: &f.spec.table,
            persist_path: f.persist_path(),
            conf: &f.conf,
            canonicalize: true,
        })
    }

    #[test]
    fn the_probe_is_valid_sh_and_its_answer_is_checked() {
        use prov_core::Fact;
        let f = firewall();
        let probe = fact(&f).script();
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", probe.as_str()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(probe.as_str().contains("nft -s list table inet prov 2>/dev/null"));
        assert_eq!(f.persist_path(), "/etc/nftables.d/prov.nft");
        assert_eq!(f.include_line(), "include \"/etc/nftables.d/prov.nft\"");
        let answer = |canonrc: &str| {
            let stdout = format!(
                "\n@@prov:nft\n/usr/sbin/nft\n@@prov:live\n\n@@prov:canon\nx\n@@prov:canonrc\n{canonrc}\n\
                 @@prov:persist\n\n@@prov:persist_target\n\n\
                 @@prov:conf\npresent\nflush ruleset\n\n@@prov:conf_target\n\n\
                 @@prov:enabled\ndisabled\n\n@@prov:ssh\n\n@@prov:end\n"
            );
            crate::server_util::testing::output(0, &stdout, "")
        };
        let st = fact(&f).parse(&answer("0")).unwrap();
        assert_eq!(st.canonical, Some(Canonical::Listed("x".into())));
        assert_eq!(st.conf.as_deref(), Some("flush ruleset\n"));
        assert_eq!((st.persisted, st.enabled.as_str()), (None, "disabled"));
        assert_eq!(
            fact(&f).parse(&answer("1")).unwrap().canonical,
            Some(Canonical::Rejected("x".into()))
        );
        let e = fact(&f).parse(&answer("what")).unwrap_err();
        assert_eq!(e.fact, "nftables state of table inet prov");
    }

    #[test]
    fn ssh_endpoint_prefers_facts() {
        let f = firewall();
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
            allow_cutting_ssh: true,
            conf: path(at("etc/nftables.conf")),
            dir: path(at("etc/nftables.d")),
            ..firewall()
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

        fw.state = Presence::Absent;
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
