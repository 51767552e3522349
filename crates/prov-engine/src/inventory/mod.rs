//! The inventory: hosts, groups and their variables, read from Ansible inventories unchanged.
//!
//! # Sources
//!
//! [`Inventory::load`] takes any number of `-i` sources and merges them in order:
//!
//! - a YAML inventory (`.yml`, `.yaml`, `.json`): `all: {hosts, children, vars}` with nested
//!   children, host variables, `host:port` and host ranges such as `web[01:03]`;
//! - an INI inventory (`.ini`, no extension, or anything else that parses): `[group]`,
//!   `host key=value ...` (values parsed like Ansible: `22` is a number, `True` a boolean,
//!   `"'0755'"` a string), `[group:vars]`, `[group:children]`;
//! - the JSON of a dynamic inventory script or `ansible-inventory --list` (`_meta.hostvars`,
//!   groups with `hosts` / `children` lists), saved to a `.json` file;
//! - an inventory directory: every inventory file in it (sub-directories included) in name
//!   order; `group_vars/`, `host_vars/`, hidden files and `*.md`, `*.txt`, `*.cfg`, ... skipped;
//! - a comma-separated host list (`web1,web2:2222,`), whose hosts are `ungrouped`.
//!
//! [`Inventory::parse_str`] parses one YAML or INI inventory held in a string (no files read).
//!
//! `group_vars/NAME` and `host_vars/NAME` next to each source (inside a source directory, or in
//! the directory of a source file) are read: `NAME.yml`, `NAME.yaml`, `NAME.json`, `NAME`
//! without extension, or a folder `NAME/` whose files are merged in name order. Vault-encrypted
//! files and `!vault` values are decrypted through the [`SecretResolver`].
//!
//! # Variable precedence
//!
//! The variables of a host are merged from these layers, lowest first; a later layer replaces
//! a variable of an earlier one as a whole (no deep merge). This is Ansible's order (its
//! default `VARIABLE_PRECEDENCE`, inventory part):
//!
//! 1. inventory-file vars of group `all` (`all: vars:` in YAML, `[all:vars]` in INI);
//! 2. inventory-file vars of every other group of the host, in *group order*;
//! 3. `group_vars/all` files;
//! 4. `group_vars/<group>` files of every other group of the host, in group order;
//! 5. inventory-file vars of the host itself (`host: {vars}` in YAML, `host key=value` in INI;
//!    a `host:port` suffix sets `ansible_port` here);
//! 6. `host_vars/<host>` files.
//!
//! *Group order* puts parent groups before child groups: groups are sorted by depth (the
//! longest chain of `children` from `all`), then by `ansible_group_priority` (default 1;
//! higher wins; only read from inventory files, not from `group_vars`), then alphabetically by
//! name, and later groups win. So a child group's value beats its parent's, and of two
//! unrelated groups at the same depth the alphabetically later one wins unless priorities say
//! otherwise. Within one layer, later definitions win: a host or group defined in several
//! sources gets the later source's values, and `group_vars/<group>/` folder files and the
//! `group_vars` of several sources are applied in order. Note that every inventory-file group
//! variable (layers 1-2) loses to every `group_vars` file (layers 3-4), even `group_vars/all`.
//!
//! Play, role, task and extra variables are layered on top of these by the engine.
//!
//! # Connection variables
//!
//! [`Inventory::connection`] resolves how to reach a host from its merged variables, taking
//! prov's names (`host`, `port`, `user`, `become`, `become_user`, `become_password`,
//! `ssh_private_key_file`, `connection`, `known_hosts_file`) and Ansible's (`ansible_host`,
//! `ansible_port`, `ansible_user`, ...; see [`HostConnection`]); prov's names win.
//!
//! # Host patterns
//!
//! [`Inventory::select`] and [`Inventory::limit`] take Ansible host patterns; see the
//! `pattern` module documentation for the grammar.

mod connection;
mod dir;
mod hostrange;
mod ini_format;
mod model;
mod pattern;
mod pyliteral;
mod yaml_format;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};

pub use connection::{ConnectionKind, ConnectionVarError, HostConnection};

use crate::error::{EngineError, Location};
use crate::yaml::SecretResolver;
use model::{ALL_IDX, Builder, GroupData, HostData, Vars};
use pattern::LOCALHOST_NAMES;

/// The text format of an inventory given to [`Inventory::parse_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryFormat {
    /// A YAML inventory (or the JSON of `ansible-inventory --list`).
    Yaml,
    /// An INI inventory.
    Ini,
}

/// A loaded inventory: hosts, groups, variables. Cheap to query, safe to share across threads.
#[derive(Debug)]
pub struct Inventory {
    groups: Vec<GroupData>,
    group_index: HashMap<String, usize>,
    hosts: Vec<HostData>,
    host_index: HashMap<String, usize>,
    /// `host_vars` files for the implicit local host names (`localhost`, ...) when the
    /// inventory does not define them.
    implicit_files: HashMap<String, Vars>,
    sources: Vec<PathBuf>,
    warnings: Mutex<Vec<String>>,
}

impl Clone for Inventory {
    fn clone(&self) -> Self {
        Self {
            groups: self.groups.clone(),
            group_index: self.group_index.clone(),
            hosts: self.hosts.clone(),
            host_index: self.host_index.clone(),
            implicit_files: self.implicit_files.clone(),
            sources: self.sources.clone(),
            warnings: Mutex::new(self.warnings()),
        }
    }
}

impl Inventory {
    /// Loads and merges the inventory sources `paths` (files, directories or host lists), in
    /// order, with the `group_vars/` and `host_vars/` next to them.
    pub fn load(paths: &[PathBuf], secrets: &dyn SecretResolver) -> Result<Inventory, EngineError> {
        let mut b = Builder::new();
        let mut bases: Vec<PathBuf> = Vec::new();
        let mut seen_bases: HashSet<PathBuf> = HashSet::new();
        for p in paths {
            if let Some(base) = dir::load_source(p, &mut b, secrets)? {
                let key = std::fs::canonicalize(&base).unwrap_or_else(|_| base.clone());
                if seen_bases.insert(key) {
                    bases.push(base);
                }
            }
        }
        let mut b = b.finish()?;

        let mut implicit_files: HashMap<String, Vars> = HashMap::new();
        for base in &bases {
            for g in 0..b.groups.len() {
                for f in dir::vars_files(base, "group_vars", &b.groups[g].name) {
                    let vars = dir::load_vars_file(&f, secrets)?;
                    b.groups[g].file_vars.merge(&vars);
                }
            }
            for h in 0..b.hosts.len() {
                for f in dir::vars_files(base, "host_vars", &b.hosts[h].name) {
                    let vars = dir::load_vars_file(&f, secrets)?;
                    b.hosts[h].file_vars.merge(&vars);
                }
            }
            for name in LOCALHOST_NAMES {
                if b.host_index.contains_key(*name) {
                    continue;
                }
                for f in dir::vars_files(base, "host_vars", name) {
                    let vars = dir::load_vars_file(&f, secrets)?;
                    implicit_files
                        .entry((*name).to_owned())
                        .or_default()
                        .merge(&vars);
                }
            }
        }

        Ok(Self::assemble(b, implicit_files, paths.to_vec()))
    }

    /// Parses one inventory from `text` in `format`, as if read from a file named `origin`.
    /// `origin` only names the source in locations and errors: nothing is read from disk, so
    /// no `group_vars/` or `host_vars/` apply. A whole-file vault-encrypted text is decrypted
    /// through `secrets`, like [`Inventory::load`] does. Meant for tests and fuzzing.
    pub fn parse_str(
        text: &str,
        format: InventoryFormat,
        origin: &Path,
        secrets: &dyn SecretResolver,
    ) -> Result<Inventory, EngineError> {
        let mut b = Builder::new();
        let yaml = format == InventoryFormat::Yaml;
        dir::load_text(text.to_owned(), origin, yaml, &mut b, secrets)?;
        let b = b.finish()?;
        Ok(Self::assemble(
            b,
            HashMap::new(),
            vec![origin.to_path_buf()],
        ))
    }

    /// The inventory of a finished builder, with warnings for ignored connection variables.
    fn assemble(
        mut b: Builder,
        implicit_files: HashMap<String, Vars>,
        sources: Vec<PathBuf>,
    ) -> Inventory {
        let mut warnings = std::mem::take(&mut b.warnings);
        let mut warned: HashSet<String> = HashSet::new();
        let layers = b
            .groups
            .iter()
            .flat_map(|g| [&g.vars, &g.file_vars])
            .chain(b.hosts.iter().flat_map(|h| [&h.vars, &h.file_vars]))
            .chain(implicit_files.values());
        for vars in layers {
            for (var, why) in connection::WARN_IGNORED_VARS {
                if vars.map.contains_key(*var) {
                    let at = vars
                        .origin
                        .get(*var)
                        .map(|l| format!("{l}: "))
                        .unwrap_or_default();
                    let msg = format!("{at}`{var}` is ignored: {why}");
                    if warned.insert(msg.clone()) {
                        warnings.push(msg);
                    }
                }
            }
        }

        Inventory {
            groups: b.groups,
            group_index: b.group_index,
            hosts: b.hosts,
            host_index: b.host_index,
            implicit_files,
            sources,
            warnings: Mutex::new(warnings),
        }
    }

    /// The sources this inventory was loaded from (as given).
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    /// All host names, in the order they were first defined.
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// All group names: `all`, `ungrouped`, then the others in the order they were defined.
    pub fn groups(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.name.clone()).collect()
    }

    /// True when the inventory defines host `name`.
    pub fn has_host(&self, name: &str) -> bool {
        self.host_index.contains_key(name)
    }

    /// True when the inventory defines group `name` (`all` and `ungrouped` always exist).
    pub fn has_group(&self, name: &str) -> bool {
        self.group_index.contains_key(name)
    }

    /// True when `name` is `localhost`, `127.0.0.1` or `::1` and the inventory does not
    /// define it: the control machine, reached with a local connection (as in Ansible).
    pub fn is_implicit_localhost(&self, name: &str) -> bool {
        LOCALHOST_NAMES.contains(&name) && !self.host_index.contains_key(name)
    }

    /// Where host `name` was first defined (its `inventory_file` is the file of this location).
    pub fn host_location(&self, name: &str) -> Option<Location> {
        self.host_index
            .get(name)
            .map(|&h| self.hosts[h].defined_at.clone())
    }

    /// The merged layers of `host` (see the module documentation for the order).
    fn resolve(&self, host: &str) -> Option<Vars> {
        let mut out = Vars::default();
        if let Some(&h) = self.host_index.get(host) {
            let hd = &self.hosts[h];
            for &g in &hd.sorted_groups {
                out.merge(&self.groups[g].vars);
            }
            for &g in &hd.sorted_groups {
                out.merge(&self.groups[g].file_vars);
            }
            out.merge(&hd.vars);
            out.merge(&hd.file_vars);
            return Some(out);
        }
        if !self.is_implicit_localhost(host) {
            return None;
        }
        let all = &self.groups[ALL_IDX];
        out.merge(&all.vars);
        out.merge(&all.file_vars);
        out.set(
            "ansible_connection".into(),
            Value::String("local".into()),
            None,
        );
        if let Some(files) = self.implicit_files.get(host) {
            out.merge(files);
        }
        Some(out)
    }

    /// The inventory variables of `host`, merged in precedence order (empty for an unknown
    /// host; the implicit `localhost` gets `all`'s variables and `ansible_connection: local`).
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        self.resolve(host).map(|v| v.map).unwrap_or_default()
    }

    /// Where each of [`Inventory::host_vars`]'s values for `host` was set (for messages about
    /// a value that cannot be rendered).
    pub fn host_var_origins(&self, host: &str) -> crate::playbook::VarLocations {
        self.resolve(host)
            .map(|v| v.origin.into_iter().collect())
            .unwrap_or_default()
    }

    /// Where the value [`Inventory::host_vars`] gives for `var` of `host` was set.
    pub fn var_origin(&self, host: &str, var: &str) -> Option<Location> {
        self.resolve(host).and_then(|v| v.origin.get(var).cloned())
    }

    /// Ansible's `group_names`: the groups `host` belongs to (directly or through children),
    /// sorted, without `all`. As in Ansible, a host in no other group gets `["ungrouped"]`.
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let Some(&h) = self.host_index.get(host) else {
            return Vec::new();
        };
        let mut names: Vec<String> = self.hosts[h]
            .sorted_groups
            .iter()
            .filter(|&&g| g != ALL_IDX)
            .map(|&g| self.groups[g].name.clone())
            .collect();
        names.sort();
        names
    }

    /// Ansible's `groups`: every group (`all` and `ungrouped` included) to the names of all its
    /// hosts (children's hosts included), in inventory order.
    pub fn groups_map(&self) -> Map<String, Value> {
        self.groups
            .iter()
            .map(|g| {
                let hosts = g
                    .all_hosts
                    .iter()
                    .map(|&h| Value::String(self.hosts[h].name.clone()))
                    .collect();
                (g.name.clone(), Value::Array(hosts))
            })
            .collect()
    }

    /// The hosts matching an Ansible host pattern, in inventory order, without duplicates. An
    /// empty match is not an error; parts that match nothing are reported by
    /// [`Inventory::warnings`]. Errors: an empty pattern, an invalid regex, an out-of-range
    /// subscript.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, EngineError> {
        let parts = pattern::split_pattern(pattern);
        self.evaluate(pattern, &parts)
    }

    /// `--limit`: the members of `hosts` that match `pattern` (which may name `@file`s
    /// holding one pattern per line), in the order of `hosts`.
    pub fn limit(&self, hosts: &[String], pattern: &str) -> Result<Vec<String>, EngineError> {
        let parts = pattern::expand_files(pattern::split_pattern(pattern))?;
        let allowed: HashSet<String> = self.evaluate(pattern, &parts)?.into_iter().collect();
        Ok(hosts
            .iter()
            .filter(|h| allowed.contains(*h))
            .cloned()
            .collect())
    }

    fn evaluate(&self, pattern: &str, parts: &[String]) -> Result<Vec<String>, EngineError> {
        let mut new_warnings = Vec::new();
        let result = pattern::evaluate(self, pattern, parts, &mut new_warnings);
        if !new_warnings.is_empty()
            && let Ok(mut w) = self.warnings.lock()
        {
            for msg in new_warnings {
                if !w.contains(&msg) {
                    w.push(msg);
                }
            }
        }
        result
    }

    /// Warnings so far: from loading (ignored variables, skipped files, duplicate INI entries,
    /// unexpected YAML keys) and from patterns that matched nothing.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Returns the warnings so far and forgets them.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// How to reach `host`, from its merged variables (see [`HostConnection`]). The implicit
    /// `localhost` is local. Errors name the variable and where it was set.
    pub fn connection(&self, host: &str) -> Result<HostConnection, EngineError> {
        let Some(vars) = self.resolve(host) else {
            return Err(EngineError::Pattern {
                pattern: host.to_owned(),
                message: "no such host in the inventory".into(),
            });
        };
        HostConnection::from_vars(host, &vars.map).map_err(|e| {
            let at = vars
                .origin
                .get(&e.var)
                .cloned()
                .or_else(|| self.host_location(host))
                .unwrap_or_else(|| Location::new(Path::new("<inventory>"), 1, 1));
            EngineError::invalid(at, format!("host `{host}`: {e}"))
        })
    }

    /// Like `ansible-inventory --graph`: the tree below `all`, child groups and hosts sorted
    /// by name, e.g.
    ///
    /// ```text
    /// @all:
    ///   |--@ungrouped:
    ///   |--@web:
    ///   |  |--web1
    /// ```
    pub fn graph(&self) -> String {
        self.graph_from("all").unwrap_or_default()
    }

    /// The `--graph` tree below group `group` (`None` if there is no such group).
    pub fn graph_from(&self, group: &str) -> Option<String> {
        let &g = self.group_index.get(group)?;
        let mut lines = Vec::new();
        self.graph_group(g, 0, &mut lines);
        Some(lines.join("\n"))
    }

    fn graph_group(&self, g: usize, depth: usize, lines: &mut Vec<String>) {
        let gd = &self.groups[g];
        lines.push(graph_line(&format!("@{}:", gd.name), depth));
        let mut children: Vec<usize> = gd.children.iter().map(|(c, _)| *c).collect();
        children.sort_by(|a, b| self.groups[*a].name.cmp(&self.groups[*b].name));
        for c in children {
            self.graph_group(c, depth + 1, lines);
        }
        if g != ALL_IDX {
            let mut hosts: Vec<&str> = gd
                .hosts
                .iter()
                .map(|&h| self.hosts[h].name.as_str())
                .collect();
            hosts.sort_unstable();
            for h in hosts {
                lines.push(graph_line(h, depth + 1));
            }
        }
    }

    /// Like `ansible-inventory --list`: `_meta.hostvars` (hosts with variables, resolved) and
    /// every non-empty group with its direct `hosts` and `children`.
    pub fn to_list_json(&self) -> Value {
        let mut out = Map::new();
        let mut hostvars = Map::new();
        for h in &self.hosts {
            let vars = self.host_vars(&h.name);
            if !vars.is_empty() {
                hostvars.insert(h.name.clone(), Value::Object(vars));
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Value::Object(hostvars));
        out.insert("_meta".into(), Value::Object(meta));
        for (g, gd) in self.groups.iter().enumerate() {
            let mut entry = Map::new();
            if g != ALL_IDX && !gd.hosts.is_empty() {
                let hosts = gd
                    .hosts
                    .iter()
                    .map(|&h| Value::String(self.hosts[h].name.clone()))
                    .collect();
                entry.insert("hosts".into(), Value::Array(hosts));
            }
            if !gd.children.is_empty() {
                let children = gd
                    .children
                    .iter()
                    .map(|(c, _)| Value::String(self.groups[*c].name.clone()))
                    .collect();
                entry.insert("children".into(), Value::Array(children));
            }
            if !entry.is_empty() || g == ALL_IDX {
                out.insert(gd.name.clone(), Value::Object(entry));
            }
        }
        Value::Object(out)
    }

    /// Like `ansible-inventory --host HOST`: the resolved variables as a JSON object (`null`
    /// for an unknown host).
    pub fn host_json(&self, host: &str) -> Value {
        match self.resolve(host) {
            Some(v) => Value::Object(v.map),
            None => Value::Null,
        }
    }
}

fn graph_line(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_owned()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}
