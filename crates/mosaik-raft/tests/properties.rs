//! Raft's safety properties under random faults (loss, duplication, reordering, crashes and
//! restarts; no partitions), in both modes. The harness asserts on every output that committed
//! entries never change, that leaders hold every committed entry when elected, that leaders never
//! truncate, and that no index is applied twice; these tests add whole-cluster checks.

mod common;

use std::time::Duration;

use common::{Cluster, fast_config};
use mosaik_raft::{Config, Entry, Index, Output};

fn chaotic_cluster(config: &Config, seed: u64) -> Cluster {
    let mut cluster = Cluster::new(5, config, seed);
    cluster.loss_percent = 10;
    cluster.dup_percent = 5;
    cluster.latency_jitter_ms = 30;
    cluster
}

/// Runs chaos, then calm, and checks the cluster is live and converged.
fn chaos_then_converge(cluster: &mut Cluster) {
    cluster.chaos(80, 100, 2);
    cluster.check_log_matching();
    cluster.check_state_machines();
    cluster.calm();
    let leader = cluster.wait_for_leader();
    let request = cluster.propose(leader, vec![u64::MAX]);
    let committed = cluster.run_until(Duration::from_secs(10), |c| {
        c.commit_result(leader, request).is_some()
    });
    assert!(
        committed,
        "liveness after faults stop (seed {})",
        cluster.seed
    );
    cluster.run_for(Duration::from_secs(1));
    cluster.check_log_matching();
    cluster.assert_converged();
}

/// A leader's log as seen at one point: (leader, entries, term).
type Observed = (u64, Vec<Entry<u64, u64>>, mosaik_raft::Term<u64>);

#[test]
fn leader_append_only() {
    for seed in 0..common::seeds(10) {
        let mut cluster = chaotic_cluster(&fast_config(), seed);
        let mut observed: Vec<Observed> = Vec::new();
        for _ in 0..40 {
            cluster.chaos(1, 100, 2);
            for id in cluster.leaders() {
                let engine = cluster.engine(id);
                let log = engine.log();
                let entries = log.entries(log.first_index(), usize::MAX);
                // Same leader, same term ⇒ the earlier log is a prefix of the current one.
                for (leader, earlier, term) in &observed {
                    if *leader == id && *term == engine.term() {
                        assert!(entries.starts_with(earlier), "leader {id} rewrote its log");
                    }
                }
                observed.push((id, entries, engine.term()));
            }
        }
    }
}

#[test]
fn log_matching() {
    for seed in 0..common::seeds(15) {
        let mut cluster = chaotic_cluster(&fast_config(), seed);
        for _ in 0..20 {
            cluster.chaos(4, 100, 2);
            cluster.check_log_matching();
        }
    }
}

#[test]
fn leader_completeness() {
    // The harness checks every new leader against every entry committed so far.
    for seed in 0..common::seeds(15) {
        let mut cluster = chaotic_cluster(&fast_config(), seed);
        chaos_then_converge(&mut cluster);
        assert!(cluster.leaders_by_term.len() > 1 || seed > 0);
    }
}

#[test]
fn state_machine_safety() {
    for seed in 0..common::seeds(15) {
        let mut cluster = chaotic_cluster(&fast_config(), seed);
        chaos_then_converge(&mut cluster);
        let applied = cluster.node(1).sm.len();
        assert!(
            applied > 10,
            "the run made progress (seed {seed}: {applied} applied)"
        );
    }
}

#[test]
fn strict_mode_safety_under_faults() {
    let config = fast_config().with_min_quorum(Some(3));
    for seed in 0..common::seeds(15) {
        let mut cluster = chaotic_cluster(&config, seed);
        chaos_then_converge(&mut cluster);
        cluster.check_one_leader_per_round();
    }
}

#[test]
fn acknowledged_commits_survive() {
    // Every proposal reported committed is applied, at its index, on every node at the end.
    for seed in 0..common::seeds(10) {
        let mut cluster = chaotic_cluster(&fast_config(), seed);
        chaos_then_converge(&mut cluster);
        let sm = cluster.node(1).sm.clone();
        for node in cluster.nodes.values() {
            for event in &node.events {
                if let Output::Committed {
                    result: Ok(range), ..
                } = event
                {
                    for index in range.start().get()..=range.end().get() {
                        assert!(
                            sm.contains_key(&Index(index)),
                            "committed {index} lost (seed {seed})"
                        );
                    }
                }
            }
        }
    }
}
