//! Unit tests of scale in (departed nodes) on the simulated cluster of `plan_tests`.

use std::collections::BTreeSet;

use crate::layout::{PlanOptions, plan_with};
use crate::nodes::Role;
use crate::plan::{ClusterPlan, PlanError, Step, plan, plan_fresh};
use crate::plan_tests::{Sim, check_invariants, count_steps, layout, node};
use crate::spec::{ClusterSpec, NodeSpec, SlotRange, count_slots};
use crate::state::{ClusterState, NodeState};

fn scale_in() -> PlanOptions {
    PlanOptions {
        remove_departed: true,
        ..PlanOptions::default()
    }
}

impl Sim {
    /// The state as seen with a spec that lists only `keep` (in the sim's order): the other
    /// nodes are departed, inspected through the first kept host (unreachable unless `reach`).
    fn state_without(&self, keep: &ClusterSpec, reach: bool) -> ClusterState {
        let full = self.state();
        let mut out = ClusterState::default();
        for (i, st) in full.nodes.into_iter().enumerate() {
            let n = &self.spec.nodes[i];
            if keep.nodes.contains(n) {
                out.nodes.push(st);
                continue;
            }
            let via = NodeSpec::new(&keep.nodes[0].host, &n.addr, n.port);
            let st = if reach {
                NodeState { spec: via, ..st }
            } else {
                NodeState::unreachable(&via, "connection refused")
            };
            out.departed.push(st);
        }
        out
    }

    fn idx(&self, host: &str, port: u16) -> usize {
        self.spec.index_of(node(&self.spec, host, port)).unwrap()
    }
}

/// A healthy 3-host cluster (a, b, c; masters on 7000, replica of host i's master on i+1),
/// and the spec without host c.
fn three_hosts() -> (Sim, ClusterSpec) {
    let spec3 = layout(&["a", "b", "c"], 2, 1);
    let sim = Sim::from_plan(&spec3, &plan_fresh(&spec3).unwrap());
    (sim, layout(&["a", "b"], 2, 1))
}

fn evacuated(p: &ClusterPlan) -> Vec<(String, u16, usize, bool)> {
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Evacuate {
                from,
                to,
                slots,
                resume,
            } => Some((from.addr.clone(), to.port, count_slots(slots), *resume)),
            _ => None,
        })
        .collect()
}

#[test]
fn departed_nodes_are_refused_unless_scale_in_is_asked() {
    let (sim, spec2) = three_hosts();
    let state = sim.state_without(&spec2, true);
    let err = plan(&spec2, &state).unwrap_err();
    assert!(matches!(err, PlanError::Departed { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("10.0.0.3:700") && msg.contains("remove_departed: true"),
        "{msg}"
    );
    let err = plan_with(&spec2, &state, &PlanOptions::default()).unwrap_err();
    assert!(matches!(err, PlanError::Departed { .. }), "{err}");
}

#[test]
fn scale_in_moves_slots_rehomes_replicas_and_forgets_departed_nodes() {
    let (sim, spec2) = three_hosts();
    let p = plan_with(&spec2, &sim.state_without(&spec2, true), &scale_in()).unwrap();
    check_invariants(&spec2, &p);
    let text = p.to_string();
    eprintln!("{text}");
    // c:7000's 5461 slots go to both remaining masters, evenly, in one piece each.
    assert_eq!(
        evacuated(&p),
        vec![
            ("10.0.0.3".into(), 7000, 2731, false),
            ("10.0.0.3".into(), 7000, 2730, false)
        ]
    );
    let to: BTreeSet<&str> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Evacuate { to, .. } => Some(to.host.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(to, BTreeSet::from(["a", "b"]));
    for m in &p.masters {
        assert_eq!(count_slots(&m.slots), 8192, "{text}");
    }
    assert_eq!(p.slots_moved(), 5461);
    // a:7001 followed c:7000: re-homed on b's master (replica of host i's master on i+1).
    let rehomed: Vec<(&NodeSpec, &NodeSpec)> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Replicate {
                replica, master, ..
            } => Some((replica, master)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rehomed,
        vec![(node(&spec2, "a", 7001), node(&spec2, "b", 7000))]
    );
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Forget { .. })), 2);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Reset { .. })), 2);
    assert_eq!(
        count_steps(&p, |s| matches!(
            s,
            Step::AddSlots { .. } | Step::MoveSlots { .. }
        )),
        0
    );
    // Order: slots first, then replicas, then forget, then reset.
    let kinds: Vec<u8> = p
        .steps
        .iter()
        .map(|s| match s {
            Step::Evacuate { .. } => 0,
            Step::Replicate { .. } => 1,
            Step::Forget { .. } => 2,
            Step::Reset { .. } => 3,
            _ => 9,
        })
        .collect();
    assert!(kinds.windows(2).all(|w| w[0] <= w[1]), "{text}");
    assert!(p.drift.is_empty(), "{text}");
    assert!(
        text.contains("Scale in: 2 departed node(s)")
            && text.contains("its replicas are re-homed: a[10.0.0.1:7001]")
            && text.contains("every remaining node forgets departed 10.0.0.3:7000"),
        "{text}"
    );
    assert_eq!(p.departed.len(), 2);
    assert!(p.departed.iter().all(|d| d.via == "a" && d.reachable));

    // Once done, a re-run (asked to scale in or not) has nothing to do.
    let done = Sim::from_plan(&spec2, &p);
    let again = plan_with(&spec2, &done.state(), &scale_in()).unwrap();
    assert!(again.is_noop() && again.departed.is_empty(), "{again}");
    assert!(plan(&spec2, &done.state()).unwrap().is_noop());
}

#[test]
fn scale_in_is_refused_when_anti_affinity_cannot_hold() {
    let (sim, _) = three_hosts();
    let spec1 = layout(&["a"], 2, 1);
    let err = plan_with(&spec1, &sim.state_without(&spec1, true), &scale_in()).unwrap_err();
    assert!(matches!(err, PlanError::ScaleInRefused(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("single host a") && msg.contains("at least 2 hosts"),
        "{msg}"
    );
}

#[test]
fn an_unreachable_departed_master_with_slots_is_refused() {
    let (sim, spec2) = three_hosts();
    let err = plan_with(&spec2, &sim.state_without(&spec2, false), &scale_in()).unwrap_err();
    assert!(
        matches!(err, PlanError::DepartedUnreachable { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("10923-16383") && msg.contains("connection refused"),
        "{msg}"
    );

    // Without slots (they were moved away before it went down), it is only forgotten.
    let (mut sim, spec2) = three_hosts();
    let (a0, b0, c0) = (sim.idx("a", 7000), sim.idx("b", 7000), sim.idx("c", 7000));
    let moved = std::mem::take(&mut sim.slots[c0]);
    sim.slots[a0].push(SlotRange::new(moved[0].start, moved[0].start + 2730));
    sim.slots[b0].push(SlotRange::new(moved[0].start + 2731, moved[0].end));
    let p = plan_with(&spec2, &sim.state_without(&spec2, false), &scale_in()).unwrap();
    check_invariants(&spec2, &p);
    assert_eq!(p.slots_moved(), 0, "{p}");
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Forget { .. })), 2);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Reset { .. })), 0);
    assert!(
        p.to_string().contains("unreachable: forgotten, not reset"),
        "{p}"
    );
}

#[test]
fn an_interrupted_scale_in_is_finished() {
    let (mut sim, spec2) = three_hosts();
    let (a0, c0) = (sim.idx("a", 7000), sim.idx("c", 7000));
    // Stopped while slot 10923 was moving from c:7000 to a:7000.
    sim.migrating[c0].push((10923, a0));
    sim.importing[a0].push((10923, c0));
    let p = plan_with(&spec2, &sim.state_without(&spec2, true), &scale_in()).unwrap();
    check_invariants(&spec2, &p);
    let ev = evacuated(&p);
    assert_eq!(ev[0], ("10.0.0.3".into(), 7000, 1, true), "{p}");
    assert_eq!(ev.iter().map(|e| e.2).sum::<usize>(), 5461, "{p}");
    for m in &p.masters {
        assert_eq!(count_slots(&m.slots), 8192, "{p}");
    }

    // Stopped after the slots moved (c:7000 became a replica of a:7000, as Redis does with
    // an emptied master, and so did a:7001): only replicas, forget and reset remain.
    let (mut sim, spec2) = three_hosts();
    let (a0, a1, b0, c0) = (
        sim.idx("a", 7000),
        sim.idx("a", 7001),
        sim.idx("b", 7000),
        sim.idx("c", 7000),
    );
    let moved = std::mem::take(&mut sim.slots[c0]);
    sim.slots[a0].push(SlotRange::new(moved[0].start, moved[0].start + 2730));
    sim.slots[b0].push(SlotRange::new(moved[0].start + 2731, moved[0].end));
    sim.role[c0] = Role::Replica;
    sim.master_of[c0] = Some(a0);
    sim.master_of[a1] = Some(a0);
    sim.keys[c0] = 0;
    let p = plan_with(&spec2, &sim.state_without(&spec2, true), &scale_in()).unwrap();
    check_invariants(&spec2, &p);
    assert_eq!(p.slots_moved(), 0, "{p}");
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Replicate { .. })), 1);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Forget { .. })), 2);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Reset { .. })), 2);

    // Stopped after the reset: the departed nodes answer with new ids; the spec nodes that
    // still know them forget them, nothing is reset.
    let mut state = sim.state_without(&spec2, true);
    for st in &mut state.departed {
        *st = NodeState::from_replies(
            &st.spec,
            "cluster_state:fail\r\ncluster_current_epoch:0\r\n",
            &format!(
                "{:040x} {}:{}@1{} myself,master - 0 0 0 connected",
                0xfeed, st.spec.addr, st.spec.port, st.spec.port
            ),
            0,
        )
        .unwrap();
    }
    sim.master_of[a1] = Some(b0);
    let mut fixed = sim.state_without(&spec2, true);
    fixed.departed = state.departed;
    let p = plan_with(&spec2, &fixed, &scale_in()).unwrap();
    assert_eq!(
        count_steps(&p, |s| matches!(s, Step::Forget { .. })),
        2,
        "{p}"
    );
    assert_eq!(
        count_steps(&p, |s| matches!(s, Step::Reset { .. })),
        0,
        "{p}"
    );
    assert_eq!(p.steps.len(), 2, "{p}");
}

#[test]
fn a_stale_id_at_a_spec_address_and_moves_to_departed_nodes_are_refused() {
    let (sim, spec2) = three_hosts();
    // A migration towards a departed node is not finished: it would move keys out.
    let mut s = sim.clone();
    let (a0, c0) = (s.idx("a", 7000), s.idx("c", 7000));
    s.migrating[a0].push((0, c0));
    s.importing[c0].push((0, a0));
    let err = plan_with(&spec2, &s.state_without(&spec2, true), &scale_in()).unwrap_err();
    assert!(matches!(err, PlanError::OpenSlot { slot: 0, .. }), "{err}");
    assert!(err.to_string().contains("which is leaving"), "{err}");

    // Another id at a spec node's address is no departed node.
    let spec3 = sim.spec.clone();
    let mut state = sim.state();
    let line = format!(
        "\n{:040x} 10.0.0.2:7001@17001 master - 0 0 9 connected",
        0xbeef
    );
    let text = format!(
        "{}{line}",
        state.nodes[0]
            .nodes
            .iter()
            .map(|n| format!(
                "{} {}:{}@{} {} {} 0 0 {} connected",
                n.id,
                n.ip,
                n.port,
                n.bus_port,
                n.flags.join(","),
                n.master_id.as_deref().unwrap_or("-"),
                n.config_epoch
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    state.nodes[0].nodes = crate::nodes::parse_cluster_nodes(&text).unwrap();
    let err = plan_with(&spec3, &state, &scale_in()).unwrap_err();
    assert!(matches!(err, PlanError::ForeignNode { .. }), "{err}");
    assert!(err.to_string().contains("10.0.0.2:7001"), "{err}");
}

#[test]
fn a_master_that_took_over_for_a_departed_one_hands_its_slots_back_and_becomes_a_replica() {
    // Host c died: c:7000 failed over to its replica a:7001, so host a carries two masters;
    // then c leaves the group.
    let (mut sim, spec2) = three_hosts();
    let a1 = sim.idx("a", 7001);
    sim.fail_over(a1);
    let state = sim.state_without(&spec2, false);
    let err = plan(&spec2, &state).unwrap_err();
    assert!(matches!(err, PlanError::Departed { .. }), "{err}");
    let p = plan_with(&spec2, &state, &scale_in()).unwrap();
    check_invariants(&spec2, &p);
    let moves: Vec<(&NodeSpec, &NodeSpec, usize)> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::MoveSlots {
                from, to, slots, ..
            } => Some((from, to, count_slots(slots))),
            _ => None,
        })
        .collect();
    let (a0, a1n, b0) = (
        node(&spec2, "a", 7000),
        node(&spec2, "a", 7001),
        node(&spec2, "b", 7000),
    );
    assert_eq!(moves, vec![(a1n, a0, 2731), (a1n, b0, 2730)], "{p}");
    assert_eq!(
        p.masters.iter().map(|m| &m.node).collect::<Vec<_>>(),
        vec![a0, b0]
    );
    assert_eq!(p.master_of(a1n), Some(b0), "{p}");
    let moved_at = p
        .steps
        .iter()
        .rposition(|s| matches!(s, Step::MoveSlots { .. }))
        .unwrap();
    let replicate_at = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Replicate { replica, .. } if replica == a1n))
        .unwrap();
    assert!(
        moved_at < replicate_at,
        "slots leave before it replicates:\n{p}"
    );
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Forget { .. })), 2);
    assert_eq!(count_steps(&p, |s| matches!(s, Step::Reset { .. })), 0);
    assert!(p.drift.is_empty(), "{p}");

    // Too many masters without departed nodes or scale in: still refused.
    let mut sim = Sim::from_plan(&spec2, &plan_fresh(&spec2).unwrap());
    let a1 = sim.idx("a", 7001);
    sim.role[a1] = Role::Master;
    sim.master_of[a1] = None;
    let moved = sim.slots[0].pop().unwrap();
    sim.slots[0].push(SlotRange::new(moved.start, moved.start + 99));
    sim.slots[a1] = vec![SlotRange::new(moved.start + 100, moved.end)];
    let err = plan(&spec2, &sim.state()).unwrap_err();
    assert!(matches!(err, PlanError::TooManyMasters { .. }), "{err}");
    assert!(err.to_string().contains("remove_departed: true"), "{err}");
    let p = plan_with(&spec2, &sim.state(), &scale_in()).unwrap();
    check_invariants(&spec2, &p);
    assert_eq!(p.slots_moved(), moved.len() - 100, "{p}");
}
