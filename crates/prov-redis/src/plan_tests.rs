//! Unit tests of the planner on synthetic `CLUSTER NODES` output.

use std::collections::BTreeSet;

use crate::layout::{Drift, FailoverMode, LayoutPolicy, LayoutRepair, PlanOptions, plan_with};
use crate::nodes::Role;
use crate::plan::{ClusterPlan, PlanError, Step, even_slot_ranges, plan, plan_fresh};
use crate::spec::{ClusterSpec, NodeSpec, SlotRange, count_slots, ranges_from_slots};
use crate::state::{ClusterState, NodeState};

/// Ground truth of a simulated cluster, rendered into each node's `CLUSTER NODES`.
#[derive(Clone)]
pub(crate) struct Sim {
    pub(crate) spec: ClusterSpec,
    pub(crate) ids: Vec<String>,
    pub(crate) role: Vec<Role>,
    pub(crate) master_of: Vec<Option<usize>>,
    pub(crate) slots: Vec<Vec<SlotRange>>,
    pub(crate) knows: Vec<BTreeSet<usize>>,
    pub(crate) keys: Vec<u64>,
    pub(crate) epoch: Vec<u64>,
    pub(crate) migrating: Vec<Vec<(u16, usize)>>,
    pub(crate) importing: Vec<Vec<(u16, usize)>>,
    pub(crate) foreign: Option<(usize, String)>,
}

pub(crate) fn layout(hosts: &[&str], per_host: u16, replicas: usize) -> ClusterSpec {
    let mut nodes = Vec::new();
    for (h, host) in hosts.iter().enumerate() {
        for p in 0..per_host {
            nodes.push(NodeSpec::new(*host, format!("10.0.0.{}", h + 1), 7000 + p));
        }
    }
    ClusterSpec {
        nodes,
        replicas_per_master: replicas,
        password: Some("hunter2-secret".into()),
    }
}

impl Sim {
    pub(crate) fn fresh(spec: &ClusterSpec) -> Self {
        let n = spec.nodes.len();
        Sim {
            spec: spec.clone(),
            ids: (0..n).map(|i| format!("{:040x}", 0xabc000 + i)).collect(),
            role: vec![Role::Master; n],
            master_of: vec![None; n],
            slots: vec![Vec::new(); n],
            knows: vec![BTreeSet::new(); n],
            keys: vec![0; n],
            epoch: vec![0; n],
            migrating: vec![Vec::new(); n],
            importing: vec![Vec::new(); n],
            foreign: None,
        }
    }

    /// The cluster a plan leads to, with every node knowing every other.
    pub(crate) fn from_plan(spec: &ClusterSpec, p: &ClusterPlan) -> Self {
        let mut sim = Sim::fresh(spec);
        for (k, m) in p.masters.iter().enumerate() {
            let mi = spec.index_of(&m.node).unwrap();
            sim.slots[mi] = m.slots.clone();
            sim.epoch[mi] = k as u64 + 1;
            sim.keys[mi] = 1000;
            for r in &m.replicas {
                let ri = spec.index_of(r).unwrap();
                sim.role[ri] = Role::Replica;
                sim.master_of[ri] = Some(mi);
                sim.keys[ri] = 1000;
            }
        }
        sim.meet_all();
        sim
    }

    pub(crate) fn meet_all(&mut self) {
        let n = self.ids.len();
        for i in 0..n {
            self.knows[i] = (0..n).filter(|&j| j != i).collect();
        }
    }

    /// Adds new empty nodes (a spec that grew).
    fn grow(&self, spec: &ClusterSpec) -> Self {
        let mut s = Sim::fresh(spec);
        let old = self.ids.len();
        s.ids[..old].clone_from_slice(&self.ids);
        s.role[..old].copy_from_slice(&self.role);
        s.master_of[..old].clone_from_slice(&self.master_of);
        s.slots[..old].clone_from_slice(&self.slots);
        s.knows[..old].clone_from_slice(&self.knows);
        s.keys[..old].copy_from_slice(&self.keys);
        s.epoch[..old].copy_from_slice(&self.epoch);
        s
    }

    pub(crate) fn line(&self, i: usize, myself: bool) -> String {
        let n = &self.spec.nodes[i];
        let mut flags = Vec::new();
        if myself {
            flags.push("myself");
        }
        flags.push(if self.role[i] == Role::Master {
            "master"
        } else {
            "slave"
        });
        let master = self.master_of[i].map_or("-".to_string(), |m| self.ids[m].clone());
        let epoch = self.master_of[i].map_or(self.epoch[i], |m| self.epoch[m]);
        let mut l = format!(
            "{} {}:{}@{} {} {} 0 0 {} connected",
            self.ids[i],
            n.addr,
            n.port,
            u32::from(n.port) + 10000,
            flags.join(","),
            master,
            epoch
        );
        for r in &self.slots[i] {
            l.push(' ');
            l.push_str(&r.to_string());
        }
        if myself {
            for (s, t) in &self.migrating[i] {
                l.push_str(&format!(" [{s}->-{}]", self.ids[*t]));
            }
            for (s, f) in &self.importing[i] {
                l.push_str(&format!(" [{s}-<-{}]", self.ids[*f]));
            }
        }
        l
    }

    pub(crate) fn state(&self) -> ClusterState {
        let nodes = (0..self.ids.len())
            .map(|i| {
                let mut text = self.line(i, true);
                for &j in &self.knows[i] {
                    text.push('\n');
                    text.push_str(&self.line(j, false));
                }
                if let Some((at, id)) = &self.foreign
                    && *at == i
                {
                    text.push_str(&format!(
                        "\n{id} 10.9.9.9:7000@17000 master - 0 0 9 connected"
                    ));
                }
                let epoch = self.epoch.iter().max().copied().unwrap_or(0);
                let assigned: usize = self.slots.iter().map(|s| count_slots(s)).sum();
                let info = format!(
                    "cluster_state:ok\r\ncluster_current_epoch:{epoch}\r\n\
                     cluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{assigned}\r\n\
                     cluster_known_nodes:{}\r\n",
                    self.knows[i].len() + 1
                );
                let mut st =
                    NodeState::from_replies(&self.spec.nodes[i], &info, &text, self.keys[i])
                        .unwrap();
                if self.role[i] == Role::Replica {
                    st.master_link_up = Some(true);
                }
                st
            })
            .collect();
        ClusterState {
            nodes,
            departed: Vec::new(),
        }
    }
}

pub(crate) fn node<'a>(spec: &'a ClusterSpec, host: &str, port: u16) -> &'a NodeSpec {
    spec.nodes
        .iter()
        .find(|n| n.host == host && n.port == port)
        .unwrap()
}

/// Checks invariants every plan must satisfy.
pub(crate) fn check_invariants(spec: &ClusterSpec, p: &ClusterPlan) {
    let mut all: Vec<u16> = p
        .masters
        .iter()
        .flat_map(|m| m.slots.iter().flat_map(SlotRange::slots))
        .collect();
    all.sort_unstable();
    assert_eq!(all.len(), 16384, "every slot exactly once");
    assert_eq!(ranges_from_slots(all), vec![SlotRange::new(0, 16383)]);
    let mut roles = 0;
    for m in &p.masters {
        roles += 1 + m.replicas.len();
        assert_eq!(m.replicas.len(), spec.replicas_per_master);
        for r in &m.replicas {
            assert_ne!(
                r.host, m.node.host,
                "replica {r} on the host of its master {}",
                m.node
            );
        }
    }
    assert_eq!(roles, spec.nodes.len());
    let text = p.to_string();
    assert!(!text.contains("hunter2"), "{text}");
}

pub(crate) fn count_steps(p: &ClusterPlan, f: impl Fn(&Step) -> bool) -> usize {
    p.steps.iter().filter(|s| f(s)).count()
}

#[test]
fn even_ranges_match_redis_cli() {
    assert_eq!(
        even_slot_ranges(3),
        vec![
            SlotRange::new(0, 5460),
            SlotRange::new(5461, 10922),
            SlotRange::new(10923, 16383)
        ]
    );
    for m in 1..=17 {
        let r = even_slot_ranges(m);
        assert_eq!(r.len(), m);
        assert_eq!(count_slots(&r), 16384);
        let (min, max) = (
            r.iter().map(SlotRange::len).min().unwrap(),
            r.iter().map(SlotRange::len).max().unwrap(),
        );
        assert!(max - min <= 1, "{m}: {r:?}");
        for w in r.windows(2) {
            assert_eq!(w[0].end + 1, w[1].start);
        }
    }
}

#[test]
fn fresh_three_hosts() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let p = plan(&spec, &Sim::fresh(&spec).state()).unwrap();
    check_invariants(&spec, &p);
    let masters: Vec<(String, Vec<SlotRange>)> = p
        .masters
        .iter()
        .map(|m| (format!("{}:{}", m.node.host, m.node.port), m.slots.clone()))
        .collect();
    assert_eq!(
        masters,
        vec![
            ("a:7000".to_string(), vec![SlotRange::new(0, 5460)]),
            ("b:7000".to_string(), vec![SlotRange::new(5461, 10922)]),
            ("c:7000".to_string(), vec![SlotRange::new(10923, 16383)]),
        ]
    );
    // Replica on host i+1 follows the master on host i.
    assert_eq!(
        p.master_of(node(&spec, "b", 7001)),
        Some(node(&spec, "a", 7000))
    );
    assert_eq!(
        p.master_of(node(&spec, "c", 7001)),
        Some(node(&spec, "b", 7000))
    );
    assert_eq!(
        p.master_of(node(&spec, "a", 7001)),
        Some(node(&spec, "c", 7000))
    );
    assert_eq!(count_steps(&p, |s| matches!(s, Step::AddSlots { .. })), 3);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Meet { .. })), 5);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Replicate { .. })), 3);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::MoveSlots { .. })), 0);
    assert_eq!(plan_fresh(&spec).unwrap(), p);
    let text = p.to_string();
    assert!(
        text.contains("master a[10.0.0.1:7000] on host a: slots 0-5460 (5461 slots)"),
        "{text}"
    );
    assert!(
        text.contains("replica b[10.0.0.2:7001] on host b"),
        "{text}"
    );
    assert!(text.contains("assign slots 5461-10922"), "{text}");
}

#[test]
fn fresh_four_hosts() {
    let spec = layout(&["a", "b", "c", "d"], 2, 1);
    let p = plan(&spec, &Sim::fresh(&spec).state()).unwrap();
    check_invariants(&spec, &p);
    assert_eq!(p.masters.len(), 4);
    for (k, m) in p.masters.iter().enumerate() {
        assert_eq!(m.node.port, 7000);
        assert_eq!(
            m.slots,
            vec![SlotRange::new(k as u16 * 4096, k as u16 * 4096 + 4095)]
        );
    }
    assert_eq!(
        p.master_of(node(&spec, "a", 7001)),
        Some(node(&spec, "d", 7000))
    );
}

#[test]
fn two_replicas_per_master_on_three_hosts() {
    let spec = layout(&["a", "b", "c"], 3, 2);
    let p = plan_fresh(&spec).unwrap();
    check_invariants(&spec, &p);
    for m in &p.masters {
        let hosts: BTreeSet<&str> = m.replicas.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(
            hosts.len(),
            2,
            "replicas of {} spread over both other hosts",
            m.node
        );
    }
}

#[test]
fn one_host_is_refused() {
    let spec = layout(&["solo"], 2, 1);
    let err = plan(&spec, &Sim::fresh(&spec).state()).unwrap_err();
    assert!(matches!(err, PlanError::SameHostUnavoidable(_)), "{err}");
    assert!(err.to_string().contains("single host solo"), "{err}");
    assert!(plan_fresh(&spec).is_err());
    // Without replicas one host is fine.
    let spec = layout(&["solo"], 3, 0);
    check_invariants(&spec, &plan_fresh(&spec).unwrap());
}

#[test]
fn bad_specs_are_refused() {
    let spec = layout(&["a", "b", "c"], 1, 1);
    assert!(matches!(plan_fresh(&spec), Err(PlanError::InvalidSpec(_))));
    let mut spec = layout(&["a", "b"], 2, 1);
    spec.nodes[3] = spec.nodes[0].clone();
    assert!(matches!(plan_fresh(&spec), Err(PlanError::InvalidSpec(_))));
    let empty = ClusterSpec {
        nodes: vec![],
        replicas_per_master: 1,
        password: None,
    };
    assert!(plan_fresh(&empty).is_err());
}

#[test]
fn healthy_cluster_is_a_noop() {
    for hosts in [&["a", "b", "c"][..], &["a", "b", "c", "d", "e"][..]] {
        let spec = layout(hosts, 2, 1);
        let p = plan_fresh(&spec).unwrap();
        let healthy = Sim::from_plan(&spec, &p);
        let again = plan(&spec, &healthy.state()).unwrap();
        assert!(again.is_noop(), "{again}");
        assert_eq!(again.masters, p.masters);
        assert!(again.to_string().contains("Steps: none"));
    }
}

#[test]
fn half_formed_missing_slots_and_replicas() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let target = plan_fresh(&spec).unwrap();
    // Met, only the first master got its slots, no replica attached yet.
    let mut sim = Sim::fresh(&spec);
    sim.meet_all();
    let a0 = spec.index_of(node(&spec, "a", 7000)).unwrap();
    sim.slots[a0] = vec![SlotRange::new(0, 5460)];
    sim.epoch = (1..=6).collect();
    sim.keys[a0] = 42;
    let p = plan(&spec, &sim.state()).unwrap();
    check_invariants(&spec, &p);
    assert_eq!(p.masters, target.masters, "{p}");
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Meet { .. })), 0);
    assert_eq!(
        count_steps(&p, |s| matches!(s, Step::SetConfigEpoch { .. })),
        0
    );
    assert_eq!(count_steps(&p, |s| matches!(s, Step::MoveSlots { .. })), 0);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::AddSlots { .. })), 2);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Replicate { .. })), 3);

    // Slots added everywhere but nodes never met: only meets and replicas are left.
    let mut sim = Sim::fresh(&spec);
    for m in &target.masters {
        sim.slots[spec.index_of(&m.node).unwrap()] = m.slots.clone();
    }
    let p = plan(&spec, &sim.state()).unwrap();
    check_invariants(&spec, &p);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Meet { .. })), 5);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::AddSlots { .. })), 0);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Replicate { .. })), 3);

    // One replica already attached: kept, the two others are added.
    let mut sim = Sim::from_plan(&spec, &target);
    let c1 = spec.index_of(node(&spec, "c", 7001)).unwrap();
    let a1 = spec.index_of(node(&spec, "a", 7001)).unwrap();
    for r in [c1, a1] {
        sim.role[r] = Role::Master;
        sim.master_of[r] = None;
        sim.keys[r] = 0;
    }
    let p = plan(&spec, &sim.state()).unwrap();
    assert_eq!(p.masters, target.masters);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Replicate { .. })), 2);
    assert_eq!(p.steps.len(), 2, "{p}");
}

#[test]
fn half_formed_open_migration_is_finished() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let target = plan_fresh(&spec).unwrap();
    let mut sim = Sim::from_plan(&spec, &target);
    let (a0, b0) = (0, 2);
    sim.migrating[a0].push((100, b0));
    sim.importing[b0].push((100, a0));
    let p = plan(&spec, &sim.state()).unwrap();
    check_invariants(&spec, &p);
    assert_eq!(
        p.steps,
        vec![Step::MoveSlots {
            from: spec.nodes[a0].clone(),
            to: spec.nodes[b0].clone(),
            slots: vec![SlotRange::new(100, 100)],
            resume: true
        }]
    );
    // A marker pointing at a node that does not serve the slot is refused.
    let mut sim = Sim::from_plan(&spec, &target);
    sim.importing[b0].push((9000, a0));
    assert!(matches!(
        plan(&spec, &sim.state()),
        Err(PlanError::OpenSlot { slot: 9000, .. })
    ));
}

#[test]
fn scale_out_three_to_four_hosts() {
    let spec3 = layout(&["a", "b", "c"], 2, 1);
    let old = Sim::from_plan(&spec3, &plan_fresh(&spec3).unwrap());
    let spec4 = layout(&["a", "b", "c", "d"], 2, 1);
    let sim = old.grow(&spec4);
    let p = plan(&spec4, &sim.state()).unwrap();
    check_invariants(&spec4, &p);
    // Existing masters stay masters, d's first node becomes the fourth master.
    let masters: Vec<String> = p
        .masters
        .iter()
        .map(|m| format!("{}:{}", m.node.host, m.node.port))
        .collect();
    assert_eq!(masters, ["a:7000", "b:7000", "c:7000", "d:7000"]);
    for m in &p.masters {
        assert_eq!(count_slots(&m.slots), 4096, "{p}");
    }
    let moved = p.slots_moved();
    assert_eq!(moved, 4096, "about a quarter of the slots move");
    // Slots only move towards the new master, and each old master keeps a prefix of its range.
    for s in &p.steps {
        if let Step::MoveSlots { to, resume, .. } = s {
            assert_eq!(to, node(&spec4, "d", 7000));
            assert!(!resume);
        }
    }
    assert_eq!(p.masters[0].slots, vec![SlotRange::new(0, 4095)]);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Meet { .. })), 2);
    assert_eq!(
        count_steps(&p, |s| matches!(
            s,
            Step::AddSlots { .. } | Step::SetConfigEpoch { .. }
        )),
        0
    );
    // d:7001 needs a master on another host, which needs one re-pointed replica at most.
    let reps = count_steps(&p, |s| matches!(s, Step::Replicate { .. }));
    assert!((1..=2).contains(&reps), "{p}");
    assert!(p.to_string().contains("with key migration"));

    // Once done, the grown cluster plans nothing.
    let done = Sim::from_plan(&spec4, &p);
    assert!(plan(&spec4, &done.state()).unwrap().is_noop());
}

#[test]
fn never_resets_a_node_with_slots_or_data() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    // Someone made a:7001 a single master with all slots and data.
    let mut sim = Sim::fresh(&spec);
    sim.meet_all();
    let a1 = spec.index_of(node(&spec, "a", 7001)).unwrap();
    sim.slots[a1] = vec![SlotRange::new(0, 16383)];
    sim.keys[a1] = 5000;
    sim.epoch[a1] = 1;
    let p = plan(&spec, &sim.state()).unwrap();
    check_invariants(&spec, &p);
    assert!(p.masters.iter().any(|m| m.node == spec.nodes[a1]), "{p}");
    for s in &p.steps {
        if let Step::Replicate { replica, .. } = s {
            assert_ne!(
                replica, &spec.nodes[a1],
                "a node with data is never made a replica"
            );
        }
        if let Step::MoveSlots { from, .. } = s {
            assert_eq!(from, &spec.nodes[a1]);
        }
    }
    // a:7001 is the first master in spec order and keeps its 5461-slot share.
    assert_eq!(p.slots_moved(), 16384 - 5461);

    // Keys without slots and without master: refuse rather than flush.
    let mut sim = Sim::from_plan(&spec, &plan_fresh(&spec).unwrap());
    let c1 = spec.index_of(node(&spec, "c", 7001)).unwrap();
    sim.role[c1] = Role::Master;
    sim.master_of[c1] = None;
    sim.keys[c1] = 7;
    let err = plan(&spec, &sim.state()).unwrap_err();
    assert!(matches!(err, PlanError::StrayData { keys: 7, .. }), "{err}");

    // Too many slot-holding masters: refuse rather than demote.
    let spec6 = layout(&["a", "b", "c"], 2, 1);
    let mut sim = Sim::fresh(&spec6);
    for (i, r) in even_slot_ranges(6).into_iter().enumerate() {
        sim.slots[i] = vec![r];
    }
    sim.meet_all();
    assert!(matches!(
        plan(&spec6, &sim.state()),
        Err(PlanError::TooManyMasters {
            have: 6,
            want: 3,
            ..
        })
    ));
}

#[test]
fn foreign_conflicting_and_unreachable_states_are_refused() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let healthy = Sim::from_plan(&spec, &plan_fresh(&spec).unwrap());

    let mut sim = healthy.clone();
    sim.foreign = Some((1, format!("{:040x}", 0xdead)));
    let err = plan(&spec, &sim.state()).unwrap_err();
    assert!(matches!(err, PlanError::Departed { .. }), "{err}");
    assert!(err.to_string().contains("10.9.9.9:7000"));

    let mut sim = healthy.clone();
    sim.slots[2].push(SlotRange::new(0, 0));
    assert!(matches!(
        plan(&spec, &sim.state()),
        Err(PlanError::SlotConflict { slot: 0, .. })
    ));

    let mut state = healthy.state();
    state.nodes[3] = NodeState::unreachable(&spec.nodes[3], "connection refused");
    let err = plan(&spec, &state).unwrap_err();
    assert!(
        matches!(err, PlanError::Unreachable(ref v) if v.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("connection refused"));

    let mut state = healthy.state();
    state.nodes.pop();
    assert!(matches!(
        plan(&spec, &state),
        Err(PlanError::StateMismatch(_))
    ));
}

#[test]
fn same_host_replica_is_repointed() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let target = plan_fresh(&spec).unwrap();
    let mut sim = Sim::from_plan(&spec, &target);
    // a:7001 follows a:7000 (same host) — must be fixed by re-pointing replicas.
    let (a0, a1) = (0, 1);
    let b1 = spec.index_of(node(&spec, "b", 7001)).unwrap();
    sim.master_of[a1] = Some(a0);
    sim.master_of[b1] = Some(spec.index_of(node(&spec, "c", 7000)).unwrap());
    let p = plan(&spec, &sim.state()).unwrap();
    check_invariants(&spec, &p);
    assert!(
        count_steps(&p, |s| matches!(
            s,
            Step::Replicate {
                previous: Some(_),
                ..
            }
        )) >= 1
    );
    assert_eq!(count_steps(&p, |s| matches!(s, Step::MoveSlots { .. })), 0);
}

#[test]
fn convergence_check_names_the_disagreeing_node() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let p = plan_fresh(&spec).unwrap();
    let sim = Sim::from_plan(&spec, &p);
    let ids = sim.ids.clone();
    assert_eq!(
        crate::apply::disagreements(&spec, &p, &ids, &sim.state().nodes),
        Vec::<String>::new()
    );

    // c:7001 still follows a:7000 instead of b:7000 in everybody's view.
    let mut wrong = sim.clone();
    let c1 = spec.index_of(node(&spec, "c", 7001)).unwrap();
    wrong.master_of[c1] = Some(0);
    let d = crate::apply::disagreements(&spec, &p, &ids, &wrong.state().nodes);
    assert_eq!(d.len(), 6, "{d:#?}");
    assert!(d[0].starts_with("a[10.0.0.1:7000]: sees c[10.0.0.3:7001] as a replica of a[10.0.0.1:7000], expected a replica of b[10.0.0.2:7000]"), "{d:#?}");

    // One node lags behind on a config epoch and a slot range.
    let mut states = sim.state().nodes;
    let b0 = spec.index_of(node(&spec, "b", 7000)).unwrap();
    let lag = states[4]
        .nodes
        .iter_mut()
        .find(|n| n.id == ids[b0])
        .unwrap();
    lag.config_epoch = 0;
    lag.slots = vec![SlotRange::new(5461, 5461)];
    let d = crate::apply::disagreements(&spec, &p, &ids, &states);
    assert_eq!(d.len(), 2, "{d:#?}");
    assert!(
        d.iter()
            .any(|l| l.contains("sees b[10.0.0.2:7000] serving slots 5461, expected 5461-10922")),
        "{d:#?}"
    );
    assert!(
        d.iter()
            .any(|l| l.contains("sees config epoch 0 for b[10.0.0.2:7000], which reports 2")),
        "{d:#?}"
    );
}

#[test]
fn health_summary_flags_same_host_replicas() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let sim = Sim::from_plan(&spec, &plan_fresh(&spec).unwrap());
    let h = crate::health::summarize(&spec, &sim.state());
    assert!(h.ok, "{h}");
    assert_eq!(h.masters.len(), 3);
    assert_eq!(h.total_keys, Some(3000));
    assert_eq!(h.slots_served, 16384);

    let mut bad = sim.clone();
    bad.master_of[1] = Some(0); // a:7001 follows a:7000
    let h = crate::health::summarize(&spec, &bad.state());
    assert!(!h.ok);
    assert!(
        h.problems
            .iter()
            .any(|p| p
                .contains("a[10.0.0.1:7001] is on the same host as its master a[10.0.0.1:7000]")),
        "{h}"
    );

    let mut state = sim.state();
    state.nodes[2] = NodeState::unreachable(&spec.nodes[2], "refused");
    let h = crate::health::summarize(&spec, &state);
    assert!(!h.ok);
    assert_eq!(h.reachable, 5);
    assert_eq!(h.slots_served, 16384 - 5462);
}

/// `DBSIZE` failing on node `i`, recorded the way `inspect` records it.
fn dbsize_fails(state: &mut ClusterState, i: usize) {
    state.nodes[i].record_dbsize(Err("LOADING Redis is loading the dataset in memory".into()));
}

fn assert_key_count_unknown(res: Result<ClusterPlan, PlanError>, who: &NodeSpec) {
    let err = match res {
        Ok(p) => panic!("an unknown key count must refuse, got a plan:\n{p}"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, PlanError::KeyCountUnknown { node, .. } if *node == who.to_string()),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&who.to_string()), "{text}");
    assert!(text.contains("DBSIZE failed: LOADING"), "{text}");
}

#[test]
fn unknown_key_count_is_never_taken_for_empty() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let target = plan_fresh(&spec).unwrap();

    // Building: a brand-new node whose DBSIZE failed may hold data; it gets no role.
    for who in [node(&spec, "a", 7000), node(&spec, "c", 7001)] {
        let mut state = Sim::fresh(&spec).state();
        dbsize_fails(&mut state, spec.index_of(who).unwrap());
        assert_key_count_unknown(plan(&spec, &state), who);
    }

    // Completing: a detached node (master, no slots) whose count is unknown is neither
    // re-attached as a replica nor promoted (with keys known it is StrayData).
    let mut sim = Sim::from_plan(&spec, &target);
    let c1 = spec.index_of(node(&spec, "c", 7001)).unwrap();
    sim.role[c1] = Role::Master;
    sim.master_of[c1] = None;
    sim.keys[c1] = 7;
    let mut state = sim.state();
    dbsize_fails(&mut state, c1);
    assert_key_count_unknown(plan(&spec, &state), &spec.nodes[c1]);

    // Extending: a new host's node that cannot report its key count does not become a
    // master (empty masters only) nor a replica.
    let spec4 = layout(&["a", "b", "c", "d"], 2, 1);
    let grown = Sim::from_plan(&spec, &target).grow(&spec4);
    for who in [node(&spec4, "d", 7000), node(&spec4, "d", 7001)] {
        let mut state = grown.state();
        dbsize_fails(&mut state, spec4.index_of(who).unwrap());
        assert_key_count_unknown(plan(&spec4, &state), who);
    }
    // The same growth with every count known is planned.
    assert!(!plan(&spec4, &grown.state()).unwrap().is_noop());

    // A node whose role does not change keeps its data whatever DBSIZE says: a healthy
    // cluster with a loading replica and a master that failed DBSIZE is still a no-op.
    let healthy = Sim::from_plan(&spec, &target);
    let mut state = healthy.state();
    let a0 = spec.index_of(node(&spec, "a", 7000)).unwrap();
    let replica = spec.index_of(&target.masters[0].replicas[0]).unwrap();
    dbsize_fails(&mut state, a0);
    dbsize_fails(&mut state, replica);
    let again = plan(&spec, &state).unwrap();
    assert!(again.is_noop(), "{again}");
}

#[test]
fn unknown_current_epoch_is_not_fresh() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let mut state = Sim::fresh(&spec).state();
    let p = plan(&spec, &state).unwrap();
    assert_eq!(
        count_steps(&p, |s| matches!(s, Step::SetConfigEpoch { .. })),
        3
    );
    // One node's CLUSTER INFO lacks cluster_current_epoch: the cluster is not known to be
    // brand new, so no SET-CONFIG-EPOCH is planned.
    state.nodes[4].info = crate::nodes::ClusterInfo::parse("cluster_state:fail\r\n");
    let p = plan(&spec, &state).unwrap();
    check_invariants(&spec, &p);
    assert_eq!(
        count_steps(&p, |s| matches!(s, Step::SetConfigEpoch { .. })),
        0,
        "{p}"
    );
}

#[test]
fn health_reports_unknown_key_counts_and_links() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let target = plan_fresh(&spec).unwrap();
    let sim = Sim::from_plan(&spec, &target);
    let a0 = spec.index_of(node(&spec, "a", 7000)).unwrap();
    let mut state = sim.state();
    dbsize_fails(&mut state, a0);
    let h = crate::health::summarize(&spec, &state);
    assert!(!h.ok, "{h}");
    assert_eq!(h.total_keys, None, "{h}");
    let m = h.masters.iter().find(|m| m.node == spec.nodes[a0]).unwrap();
    assert_eq!(m.keys, None);
    let text = h.to_string();
    assert!(text.contains("key count unknown"), "{text}");
    assert!(
        h.problems
            .iter()
            .any(|p| p.contains("a[10.0.0.1:7000]: key count unknown (DBSIZE failed: LOADING")),
        "{h}"
    );

    let replica = spec.index_of(&target.masters[0].replicas[0]).unwrap();
    let mut state = sim.state();
    state.nodes[replica].master_link_up = None;
    let h = crate::health::summarize(&spec, &state);
    assert!(!h.ok, "{h}");
    assert!(
        h.problems
            .iter()
            .any(|p| p.contains("link to its master is unknown")),
        "{h}"
    );
}

impl Sim {
    /// What `CLUSTER FAILOVER` on replica `x` leaves: `x` serves its master's slots with a new
    /// epoch, the old master and its other replicas follow `x`.
    pub(crate) fn fail_over(&mut self, x: usize) {
        let y = self.master_of[x].expect("x is a replica");
        self.slots[x] = std::mem::take(&mut self.slots[y]);
        self.role[x] = Role::Master;
        self.master_of[x] = None;
        self.epoch[x] = self.epoch.iter().max().unwrap() + 1;
        for i in 0..self.ids.len() {
            if self.master_of[i] == Some(y) {
                self.master_of[i] = Some(x);
            }
        }
        self.role[y] = Role::Replica;
        self.master_of[y] = Some(x);
    }
}

fn enforce() -> PlanOptions {
    PlanOptions {
        layout: LayoutPolicy::Enforce,
        ..PlanOptions::default()
    }
}

/// The intended roles (masters and their replicas) of a plan, without slots.
fn roles_of(p: &ClusterPlan) -> Vec<(NodeSpec, Vec<NodeSpec>)> {
    p.masters
        .iter()
        .map(|m| (m.node.clone(), m.replicas.clone()))
        .collect()
}

#[test]
fn failover_drift_is_reported_then_repaired_by_a_plain_failover() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let target = plan_fresh(&spec).unwrap();
    let mut sim = Sim::from_plan(&spec, &target);
    let (a0, b1) = (0, 3);
    assert_eq!(sim.master_of[b1], Some(a0), "b:7001 replicates a:7000");
    sim.fail_over(b1);
    let state = sim.state();

    // The old planner alone sees nothing to do; plan_with reports the drift and changes nothing.
    assert!(plan(&spec, &state).unwrap().drift.is_empty());
    let report = plan_with(&spec, &state, &PlanOptions::default()).unwrap();
    assert!(report.is_noop(), "{report}");
    assert_eq!(report.layout, LayoutRepair::Reported);
    let demoted = Drift::MasterDemoted {
        intended: spec.nodes[a0].clone(),
        acting: spec.nodes[b1].clone(),
    };
    assert_eq!(report.drift, vec![demoted]);
    let text = report.to_string();
    assert!(text.contains("Layout drift (1)"), "{text}");
    assert!(text.contains("a[10.0.0.1:7000] should be master"), "{text}");
    assert!(text.contains("host b carries 2 masters"), "{text}");
    assert!(text.contains("reported only"), "{text}");

    // Enforced: one plain failover on a:7000, the planned topology is the intended one.
    let fix = plan_with(&spec, &state, &enforce()).unwrap();
    check_invariants(&spec, &fix);
    assert_eq!(fix.layout, LayoutRepair::Planned);
    assert_eq!(
        fix.steps,
        vec![Step::Failover {
            node: spec.nodes[a0].clone(),
            master: spec.nodes[b1].clone(),
            mode: FailoverMode::Default,
        }]
    );
    assert_eq!(
        fix.masters, target.masters,
        "slots move back with the failover"
    );
    assert!(fix.to_string().contains("(CLUSTER FAILOVER)"), "{fix}");

    // After the failover: no drift, nothing to do.
    sim.fail_over(a0);
    let again = plan_with(&spec, &sim.state(), &enforce()).unwrap();
    assert!(again.is_noop() && again.drift.is_empty(), "{again}");
    assert_eq!(again.layout, LayoutRepair::NotNeeded);
}

#[test]
fn plain_failover_needs_the_replication_link_and_force_is_explicit() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let mut sim = Sim::from_plan(&spec, &plan_fresh(&spec).unwrap());
    sim.fail_over(3);
    let mut state = sim.state();
    state.nodes[0].master_link_up = Some(false);
    let err = plan_with(&spec, &state, &enforce()).unwrap_err();
    assert!(
        matches!(&err, PlanError::FailoverBlocked { node, .. } if node.contains(":7000")),
        "{err}"
    );
    assert!(err.to_string().contains("failover_mode: force"), "{err}");
    // Reporting never needs the link.
    assert!(plan_with(&spec, &state, &PlanOptions::default()).is_ok());
    let force = PlanOptions {
        failover: FailoverMode::Force,
        ..enforce()
    };
    let p = plan_with(&spec, &state, &force).unwrap();
    assert!(
        matches!(
            p.steps.as_slice(),
            [Step::Failover {
                mode: FailoverMode::Force,
                ..
            }]
        ),
        "{p}"
    );
    assert!(p.to_string().contains("CLUSTER FAILOVER FORCE"), "{p}");
}

#[test]
fn draining_a_host_fails_its_masters_over_and_enforce_brings_them_back() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let target = plan_fresh(&spec).unwrap();
    let mut sim = Sim::from_plan(&spec, &target);
    let drain = PlanOptions {
        drain_host: Some("a".into()),
        ..enforce()
    };
    let p = plan_with(&spec, &sim.state(), &drain).unwrap();
    check_invariants(&spec, &p);
    assert_eq!(
        p.steps,
        vec![Step::Failover {
            node: spec.nodes[3].clone(),
            master: spec.nodes[0].clone(),
            mode: FailoverMode::Default,
        }],
        "{p}"
    );
    assert!(p.masters.iter().all(|m| m.node.host != "a"), "{p}");
    sim.fail_over(3);
    let drained = plan_with(&spec, &sim.state(), &drain).unwrap();
    assert!(drained.is_noop(), "draining twice does nothing: {drained}");
    let back = plan_with(&spec, &sim.state(), &enforce()).unwrap();
    assert_eq!(back.steps.len(), 1, "{back}");
    assert_eq!(roles_of(&back), roles_of(&target));
}

#[test]
fn draining_needs_enforce_and_a_cluster_host() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let state = Sim::from_plan(&spec, &plan_fresh(&spec).unwrap()).state();
    let report_only = PlanOptions {
        drain_host: Some("a".into()),
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan_with(&spec, &state, &report_only),
        Err(PlanError::InvalidSpec(_))
    ));
    let unknown = PlanOptions {
        drain_host: Some("zz".into()),
        ..enforce()
    };
    let err = plan_with(&spec, &state, &unknown).unwrap_err().to_string();
    assert!(
        err.contains("zz is not one of the cluster's hosts"),
        "{err}"
    );
}

#[test]
fn replicas_following_other_masters_are_reported_and_repointed() {
    let spec = layout(&["a", "b", "c", "d"], 2, 1);
    let target = plan_fresh(&spec).unwrap();
    let mut sim = Sim::from_plan(&spec, &target);
    let idx = |h: &str, p: u16| spec.index_of(node(&spec, h, p)).unwrap();
    // Intended: b:7001 -> a:7000 and d:7001 -> c:7000; swapped (still on other hosts).
    sim.master_of[idx("b", 7001)] = Some(idx("c", 7000));
    sim.master_of[idx("d", 7001)] = Some(idx("a", 7000));
    let state = sim.state();
    assert!(
        plan(&spec, &state).unwrap().is_noop(),
        "valid, so no base step"
    );
    let report = plan_with(&spec, &state, &PlanOptions::default()).unwrap();
    assert_eq!(report.drift.len(), 2, "{report}");
    assert!(
        report
            .drift
            .iter()
            .all(|d| matches!(d, Drift::ReplicaMisplaced { .. }))
    );
    let fix = plan_with(&spec, &state, &enforce()).unwrap();
    check_invariants(&spec, &fix);
    assert_eq!(
        count_steps(&fix, |s| matches!(
            s,
            Step::Replicate {
                previous: Some(_),
                ..
            }
        )),
        2,
        "{fix}"
    );
    assert_eq!(roles_of(&fix), roles_of(&target));
}

#[test]
fn health_shows_roles_per_host_links_and_offsets() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let mut sim = Sim::from_plan(&spec, &plan_fresh(&spec).unwrap());
    sim.fail_over(3);
    let mut state = sim.state();
    let repl = |role: &str, off: u64| {
        crate::nodes::ClusterInfo::parse(&format!(
            "role:{role}\nmaster_link_status:up\nslave_repl_offset:{off}\nmaster_repl_offset:{off}\n"
        ))
    };
    state.nodes[3].record_replication(&repl("master", 5000));
    state.nodes[0].record_replication(&repl("slave", 4800));
    let h = crate::health::summarize(&spec, &state);
    assert!(h.ok, "failover drift is not a health problem: {h}");
    assert_eq!(h.cluster_state, "ok");
    let b = h.hosts.iter().find(|x| x.host == "b").unwrap();
    assert_eq!(
        (b.masters.clone(), b.replicas.clone()),
        (vec![7000, 7001], vec![])
    );
    let a = h.hosts.iter().find(|x| x.host == "a").unwrap();
    assert_eq!(
        (a.masters.clone(), a.replicas.clone()),
        (vec![], vec![7000, 7001])
    );
    let r = h.replica(&spec.nodes[0]).unwrap();
    assert_eq!(r.master.as_ref(), Some(&spec.nodes[3]));
    assert_eq!(
        (r.link_up, r.offset, r.lag),
        (Some(true), Some(4800), Some(200))
    );
    let text = h.to_string();
    assert!(text.contains("host b carries 2 masters"), "{text}");
    assert!(text.contains("link up, offset 4800, lag 200"), "{text}");

    state.nodes[5].info = crate::nodes::ClusterInfo::parse("cluster_state:fail\n");
    assert_eq!(
        crate::health::summarize(&spec, &state).cluster_state,
        "mixed"
    );
}

#[test]
fn sync_needs_links_up_and_replicas_at_their_masters_earlier_offset() {
    let spec = layout(&["a", "b", "c"], 2, 1);
    let sim = Sim::from_plan(&spec, &plan_fresh(&spec).unwrap());
    let with_offsets = |master: u64, replica: u64| {
        let mut st = sim.state();
        for n in &mut st.nodes {
            let (role, off) = if n.myself().unwrap().role() == Role::Master {
                ("master", master)
            } else {
                ("slave", replica)
            };
            n.record_replication(&crate::nodes::ClusterInfo::parse(&format!(
                "role:{role}\nmaster_link_status:up\nslave_repl_offset:{off}\nmaster_repl_offset:{off}\n"
            )));
        }
        st
    };
    let sync = crate::sync::sync_gaps;
    // Masters moved on to 900 after the first look, replicas have 800 of the earlier 800.
    assert!(sync(&spec, &with_offsets(800, 0), &with_offsets(900, 800)).is_empty());
    let gaps = sync(&spec, &with_offsets(800, 0), &with_offsets(900, 700));
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    assert!(
        gaps[0].contains("at offset 700") && gaps[0].contains("was at 800"),
        "{gaps:?}"
    );
    let mut down = with_offsets(800, 800);
    down.nodes[3].master_link_up = Some(false);
    let gaps = sync(&spec, &with_offsets(800, 0), &down);
    assert!(
        gaps.iter()
            .any(|g| g.contains("link to its master is down")),
        "{gaps:?}"
    );
}
