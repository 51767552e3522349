//! The inventory while it is being built: groups, hosts, edges, and variables with origins.
//!
//! Parsers (YAML, INI, host lists) feed a [`Builder`]; [`Builder::finish`] then checks the
//! structure (name clashes, cyclic children), links parentless groups to `all`, fills
//! `ungrouped`, and computes group depths and memberships the way Ansible's
//! `reconcile_inventory` does.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::error::{EngineError, Location};

/// The group every host and group belongs to.
pub(crate) const ALL: &str = "all";
/// The group of hosts that are in no other group.
pub(crate) const UNGROUPED: &str = "ungrouped";
/// Index of `all` in [`Builder::groups`].
pub(crate) const ALL_IDX: usize = 0;
/// Index of `ungrouped` in [`Builder::groups`].
pub(crate) const UNGROUPED_IDX: usize = 1;
/// Ansible's default group priority.
const DEFAULT_PRIORITY: i64 = 1;

/// Variables together with where each one was set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    /// The values.
    pub(crate) map: Map<String, Value>,
    /// Where each key was (last) set.
    pub(crate) origin: HashMap<String, Location>,
}

impl Vars {
    /// Sets `key` (a later set replaces an earlier one).
    pub(crate) fn set(&mut self, key: String, value: Value, at: Option<Location>) {
        match at {
            Some(at) => {
                self.origin.insert(key.clone(), at);
            }
            None => {
                self.origin.remove(&key);
            }
        }
        self.map.insert(key, value);
    }

    /// Overlays `other` on top of these variables (Ansible's `hash_behaviour = replace`).
    pub(crate) fn merge(&mut self, other: &Vars) {
        for (k, v) in &other.map {
            self.set(k.clone(), v.clone(), other.origin.get(k).cloned());
        }
    }
}

/// One group.
#[derive(Debug, Clone)]
pub(crate) struct GroupData {
    /// Its name.
    pub(crate) name: String,
    /// Where it was first defined (`None` for the built-in groups until a file names them).
    pub(crate) defined_at: Option<Location>,
    /// Direct member hosts, in the order they were added.
    pub(crate) hosts: Vec<usize>,
    /// Child groups, in the order they were added, with where each edge was written.
    pub(crate) children: Vec<(usize, Option<Location>)>,
    /// Parent groups.
    pub(crate) parents: Vec<usize>,
    /// Variables from inventory files.
    pub(crate) vars: Vars,
    /// Variables from `group_vars/` files.
    pub(crate) file_vars: Vars,
    /// `ansible_group_priority`.
    pub(crate) priority: i64,
    /// Longest distance from `all` (computed by `finish`).
    pub(crate) depth: usize,
    /// Every host in the group or its descendants, in inventory order (computed by `finish`).
    pub(crate) all_hosts: Vec<usize>,
}

impl GroupData {
    fn new(name: &str, defined_at: Option<Location>) -> Self {
        Self {
            name: name.to_owned(),
            defined_at,
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            vars: Vars::default(),
            file_vars: Vars::default(),
            priority: DEFAULT_PRIORITY,
            depth: 0,
            all_hosts: Vec::new(),
        }
    }
}

/// One host.
#[derive(Debug, Clone)]
pub(crate) struct HostData {
    /// Its inventory name.
    pub(crate) name: String,
    /// Where it was first defined.
    pub(crate) defined_at: Location,
    /// Groups it was put in directly.
    pub(crate) groups: Vec<usize>,
    /// Variables from inventory files.
    pub(crate) vars: Vars,
    /// Variables from `host_vars/` files.
    pub(crate) file_vars: Vars,
    /// Every group it belongs to (with ancestors and `all`), sorted the way Ansible merges
    /// group variables: by depth, then `ansible_group_priority`, then name (computed by `finish`).
    pub(crate) sorted_groups: Vec<usize>,
}

/// Collects groups and hosts from any number of inventory sources.
#[derive(Debug, Clone)]
pub(crate) struct Builder {
    pub(crate) groups: Vec<GroupData>,
    pub(crate) group_index: HashMap<String, usize>,
    pub(crate) hosts: Vec<HostData>,
    pub(crate) host_index: HashMap<String, usize>,
    pub(crate) warnings: Vec<String>,
}

impl Builder {
    /// An empty inventory with the built-in groups `all` and `ungrouped`.
    pub(crate) fn new() -> Self {
        let mut b = Self {
            groups: Vec::new(),
            group_index: HashMap::new(),
            hosts: Vec::new(),
            host_index: HashMap::new(),
            warnings: Vec::new(),
        };
        b.push_group(ALL, None);
        b.push_group(UNGROUPED, None);
        b.groups[ALL_IDX].children.push((UNGROUPED_IDX, None));
        b.groups[UNGROUPED_IDX].parents.push(ALL_IDX);
        b
    }

    fn push_group(&mut self, name: &str, at: Option<Location>) -> usize {
        let idx = self.groups.len();
        self.groups.push(GroupData::new(name, at));
        self.group_index.insert(name.to_owned(), idx);
        idx
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// True when a group of that name exists.
    pub(crate) fn group_exists(&self, name: &str) -> bool {
        self.group_index.contains_key(name)
    }

    /// The group called `name`, created when it does not exist yet.
    pub(crate) fn group(&mut self, name: &str, at: &Location) -> usize {
        match self.group_index.get(name) {
            Some(&idx) => {
                let g = &mut self.groups[idx];
                if g.defined_at.is_none() {
                    g.defined_at = Some(at.clone());
                }
                idx
            }
            None => self.push_group(name, Some(at.clone())),
        }
    }

    /// Adds host `name` to group `group` (creating the host when new). Returns the host's
    /// index and whether it already was a direct member of that group.
    pub(crate) fn add_host(&mut self, name: &str, group: usize, at: &Location) -> (usize, bool) {
        let h = match self.host_index.get(name) {
            Some(&h) => h,
            None => {
                let h = self.hosts.len();
                self.hosts.push(HostData {
                    name: name.to_owned(),
                    defined_at: at.clone(),
                    groups: Vec::new(),
                    vars: Vars::default(),
                    file_vars: Vars::default(),
                    sorted_groups: Vec::new(),
                });
                self.host_index.insert(name.to_owned(), h);
                h
            }
        };
        let already = self.groups[group].hosts.contains(&h);
        if !already {
            self.groups[group].hosts.push(h);
        }
        if !self.hosts[h].groups.contains(&group) {
            self.hosts[h].groups.push(group);
        }
        (h, already)
    }

    /// Sets an inventory-file variable on a host.
    pub(crate) fn set_host_var(&mut self, host: usize, key: String, value: Value, at: Location) {
        self.hosts[host].vars.set(key, value, Some(at));
    }

    /// Sets an inventory-file variable on a group (`ansible_group_priority` sets the priority).
    pub(crate) fn set_group_var(
        &mut self,
        group: usize,
        key: String,
        value: Value,
        at: Location,
    ) -> Result<(), EngineError> {
        if key == "ansible_group_priority" {
            let prio = match &value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            return match prio {
                Some(p) => {
                    self.groups[group].priority = p;
                    Ok(())
                }
                None => Err(EngineError::invalid(
                    at,
                    format!("ansible_group_priority must be an integer, got {value}"),
                )),
            };
        }
        self.groups[group].vars.set(key, value, Some(at));
        Ok(())
    }

    /// Makes `child` a child group of `parent` (the edge is written at `at`).
    pub(crate) fn add_child(
        &mut self,
        parent: usize,
        child: usize,
        at: &Location,
    ) -> Result<(), EngineError> {
        if child == ALL_IDX {
            return Err(EngineError::invalid(
                at.clone(),
                format!(
                    "group `all` cannot be a child group (of `{}`)",
                    self.groups[parent].name
                ),
            ));
        }
        if self.groups[parent]
            .children
            .iter()
            .any(|(c, _)| *c == child)
        {
            return Ok(());
        }
        self.groups[parent].children.push((child, Some(at.clone())));
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
        Ok(())
    }

    /// Checks the structure and computes memberships, depths and merge orders.
    pub(crate) fn finish(mut self) -> Result<Self, EngineError> {
        self.check_name_clashes()?;
        self.check_cycles()?;
        // Groups without a parent hang below `all`.
        for g in 0..self.groups.len() {
            if g != ALL_IDX && self.groups[g].parents.is_empty() {
                self.groups[ALL_IDX].children.push((g, None));
                self.groups[g].parents.push(ALL_IDX);
            }
        }
        self.fill_ungrouped();
        self.compute_depths();
        self.compute_memberships();
        Ok(self)
    }

    fn check_name_clashes(&self) -> Result<(), EngineError> {
        for host in &self.hosts {
            if let Some(&g) = self.group_index.get(&host.name) {
                let group_at = match &self.groups[g].defined_at {
                    Some(at) => format!(" (the group is defined at {at})"),
                    None => " (a built-in group)".to_owned(),
                };
                return Err(EngineError::invalid(
                    host.defined_at.clone(),
                    format!(
                        "`{}` is defined both as a host and as a group{group_at}; \
                         rename one of them",
                        host.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Depth-first search over the written child edges; a back edge is a cycle.
    fn check_cycles(&self) -> Result<(), EngineError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Gray,
            Black,
        }
        let n = self.groups.len();
        let mut color = vec![Color::White; n];
        for start in 0..n {
            if color[start] != Color::White {
                continue;
            }
            // (group, index of the next child edge to follow)
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            color[start] = Color::Gray;
            while let Some(top) = stack.last_mut() {
                let (g, next) = *top;
                if next >= self.groups[g].children.len() {
                    color[g] = Color::Black;
                    stack.pop();
                    continue;
                }
                top.1 += 1;
                let (child, at) = &self.groups[g].children[next];
                match color[*child] {
                    Color::White => {
                        color[*child] = Color::Gray;
                        stack.push((*child, 0));
                    }
                    Color::Gray => {
                        let from = stack.iter().position(|(s, _)| s == child).unwrap_or(0);
                        let mut names: Vec<&str> = stack[from..]
                            .iter()
                            .map(|(s, _)| self.groups[*s].name.as_str())
                            .collect();
                        names.push(&self.groups[*child].name);
                        let at = at
                            .clone()
                            .or_else(|| self.groups[g].defined_at.clone())
                            .unwrap_or_else(|| {
                                Location::new(std::path::Path::new("<inventory>"), 1, 1)
                            });
                        return Err(EngineError::invalid(
                            at,
                            format!("cyclic group children: {}", names.join(" -> ")),
                        ));
                    }
                    Color::Black => {}
                }
            }
        }
        Ok(())
    }

    /// Ansible's rule: a host that belongs to no group but `all` is in `ungrouped`; a host in
    /// `ungrouped` and in some other group is taken out of `ungrouped`.
    fn fill_ungrouped(&mut self) {
        for h in 0..self.hosts.len() {
            let ancestors = self.ancestors(&self.hosts[h].groups);
            let others = ancestors
                .iter()
                .any(|&g| g != ALL_IDX && g != UNGROUPED_IDX);
            let in_ungrouped = ancestors.contains(&UNGROUPED_IDX);
            if in_ungrouped && others {
                self.groups[UNGROUPED_IDX].hosts.retain(|&x| x != h);
                self.hosts[h].groups.retain(|&g| g != UNGROUPED_IDX);
            } else if !others && !in_ungrouped {
                self.groups[UNGROUPED_IDX].hosts.push(h);
                self.hosts[h].groups.push(UNGROUPED_IDX);
            }
        }
        self.groups[UNGROUPED_IDX].hosts.sort_unstable();
    }

    /// The given groups, their ancestors, and `all`.
    fn ancestors(&self, direct: &[usize]) -> HashSet<usize> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut todo: Vec<usize> = direct.to_vec();
        todo.push(ALL_IDX);
        while let Some(g) = todo.pop() {
            if seen.insert(g) {
                todo.extend(self.groups[g].parents.iter().copied());
            }
        }
        seen
    }

    /// Longest path from `all` (the structure is acyclic at this point).
    fn compute_depths(&mut self) {
        let n = self.groups.len();
        let mut indegree: Vec<usize> = self.groups.iter().map(|g| g.parents.len()).collect();
        let mut queue: Vec<usize> = (0..n).filter(|&g| indegree[g] == 0).collect();
        let mut depth = vec![0usize; n];
        while let Some(g) = queue.pop() {
            for &(c, _) in &self.groups[g].children {
                depth[c] = depth[c].max(depth[g] + 1);
                indegree[c] = indegree[c].saturating_sub(1);
                if indegree[c] == 0 {
                    queue.push(c);
                }
            }
        }
        for (g, d) in depth.into_iter().enumerate() {
            self.groups[g].depth = d;
        }
    }

    fn compute_memberships(&mut self) {
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); self.groups.len()];
        for h in 0..self.hosts.len() {
            let groups = self.ancestors(&self.hosts[h].groups);
            let mut sorted: Vec<usize> = groups.into_iter().collect();
            sorted.sort_by(|&a, &b| {
                let (ga, gb) = (&self.groups[a], &self.groups[b]);
                (ga.depth, ga.priority, &ga.name).cmp(&(gb.depth, gb.priority, &gb.name))
            });
            for &g in &sorted {
                members[g].push(h);
            }
            self.hosts[h].sorted_groups = sorted;
        }
        for (g, hosts) in members.into_iter().enumerate() {
            self.groups[g].all_hosts = hosts;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn at() -> Location {
        Location::new(Path::new("t.ini"), 1, 1)
    }

    fn finished(b: Builder) -> Builder {
        match b.finish() {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn depth_is_the_longest_chain_from_all() {
        let mut b = Builder::new();
        let a = b.group("a", &at());
        let c = b.group("c", &at());
        let d = b.group("d", &at());
        let z = b.group("z", &at());
        assert!(b.add_child(a, c, &at()).is_ok());
        assert!(b.add_child(c, d, &at()).is_ok());
        // `d` is also a direct child of `all`: its depth is still 3.
        assert!(b.add_child(ALL_IDX, d, &at()).is_ok());
        let (h, _) = b.add_host("h", d, &at());
        b.add_host("h", z, &at());
        let b = finished(b);
        let depths: Vec<usize> = [a, c, d, z].iter().map(|&g| b.groups[g].depth).collect();
        assert_eq!(depths, [1, 2, 3, 1]);
        let order: Vec<&str> = b.hosts[h]
            .sorted_groups
            .iter()
            .map(|&g| b.groups[g].name.as_str())
            .collect();
        assert_eq!(order, ["all", "a", "z", "c", "d"]);
        assert_eq!(b.groups[a].all_hosts, [h]);
    }

    #[test]
    fn ungrouped_membership() {
        let mut b = Builder::new();
        let web = b.group("web", &at());
        let (h1, _) = b.add_host("h1", UNGROUPED_IDX, &at());
        b.add_host("h1", web, &at());
        let (h2, _) = b.add_host("h2", ALL_IDX, &at());
        let (h3, _) = b.add_host("h3", UNGROUPED_IDX, &at());
        let b = finished(b);
        assert_eq!(b.groups[UNGROUPED_IDX].hosts, [h2, h3]);
        assert_eq!(b.groups[ALL_IDX].all_hosts, [h1, h2, h3]);
    }

    #[test]
    fn self_child_and_all_as_child() {
        let mut b = Builder::new();
        let a = b.group("a", &at());
        assert!(b.add_child(a, ALL_IDX, &at()).is_err());
        assert!(b.add_child(a, a, &at()).is_ok());
        let err = b.finish().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("cyclic group children: a -> a"), "{err}");
    }

    #[test]
    fn group_priority_must_be_an_integer() {
        let mut b = Builder::new();
        let a = b.group("a", &at());
        assert!(
            b.set_group_var(a, "ansible_group_priority".into(), Value::from("7"), at())
                .is_ok()
        );
        assert_eq!(b.groups[a].priority, 7);
        assert!(
            b.set_group_var(
                a,
                "ansible_group_priority".into(),
                Value::from("high"),
                at()
            )
            .is_err()
        );
        assert!(!b.groups[a].vars.map.contains_key("ansible_group_priority"));
    }
}
