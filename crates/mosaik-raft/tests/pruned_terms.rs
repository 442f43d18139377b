//! The dynamic-mode merge rule below a snapshot's base: a member that pruned its log keeps the
//! terms of its entries at its commit record positions, and a contest it cannot locate is judged
//! where the histories split.

mod common;

use std::time::Duration;

use common::{Cluster, fast_config};
use mosaik_raft::{CommitRecords, Cursor, Entry, HardState, Index, Input, PrunedTerms, Role, Term};

/// A 5-member dynamic group after a heal, members 4 and 5 away. Leader-to-be 3 and member 1
/// hold 1–2 of the shared term, 3–5 of `4@3` (committed with a weight of 5) and 6–12 of `7@3`
/// (committed by 3 alone): records `[(2, 5), (5, 5), (12, 1)]`. Member 2 holds the other
/// history, 3–10 of `5@2` committed with a weight of 4, pruned to a snapshot at 10: records
/// `[(shared_to, 5), (10, 4)]`, and, with `remembered`, the term of its entry at record position
/// `shared_to` (2, or 4 where it held the shared term's 3–4 that the leader replaced), which its
/// log no longer holds. (Weights this high on both sides need members that lost
/// their storage in between; the engine compares whatever it is given.) Where the histories
/// split (3) the leader's weighs 5 and member 2's at most 5 (4 from 10 on); from 10 on, the
/// leader's weighs at most 3 (its first commit as leader).
fn cluster_with_a_snapshot_holder(remembered: bool, shared_to: u64) -> Cluster {
    let shared = Term::new(1, 1);
    let (strong, later) = (Term::new(4, 3), Term::new(7, 3));
    let theirs = Term::new(5, 2);
    let mut cluster = Cluster::new(5, &fast_config(), 7);
    cluster.check_committed = false; // member 2's committed entries are reverted on purpose
    for id in 1..=5 {
        cluster.crash(id);
    }
    for id in [4, 5] {
        for peer in 1..=5 {
            if peer != id {
                cluster.unbond(id, peer);
            }
        }
    }
    let leader_log: Vec<Entry<u64, u64>> = (1..=12u64)
        .map(|index| match index {
            1..=2 => Entry::command(shared, index),
            3..=5 => Entry::command(strong, index),
            _ => Entry::command(later, index),
        })
        .collect();
    let leader_records = [(Index::new(2), 5), (Index::new(5), 5), (Index::new(12), 1)];
    for id in [1, 3] {
        let disk = &mut cluster.nodes.get_mut(&id).unwrap().disk;
        disk.entries.clone_from(&leader_log);
        disk.hard = HardState {
            term: later,
            commit: Index::new(12),
            commit_weight: 1,
            peak: (Index::new(5), 5),
            records: CommitRecords::from_slice(&leader_records),
            ..HardState::default()
        };
    }
    let disk = &mut cluster.nodes.get_mut(&2).unwrap().disk;
    disk.base = Cursor::new(theirs, Index::new(10));
    disk.hard = HardState {
        term: theirs,
        commit: Index::new(10),
        commit_weight: 4,
        peak: (Index::new(2), 5),
        records: CommitRecords::from_slice(&[(Index::new(shared_to), 5), (Index::new(10), 4)]),
        pruned_terms: if remembered {
            PrunedTerms::from_slice(&[(Index::new(shared_to), shared)])
        } else {
            PrunedTerms::new()
        },
        ..HardState::default()
    };
    for id in 1..=3 {
        cluster.restart(id);
    }
    cluster
}

/// Dynamic mode: a member whose history splits from the leader's below its snapshot's base
/// contests at the latest point the split can be and sends its commit records with the terms
/// of its entries there, including those its log pruned. The leader finds the last position
/// both hold (2) and compares the histories from the real split (3), where its own outranks
/// the member's: it overrules, and the member takes its log. Compared at the member's
/// estimate (10), where the leader's history weighs at most 3 and the member's 4, the leader was
/// deposed by a history that its voters never elect (simulator, dynamic 7-member seeds
/// 48003534 and 48006640: no leader after the heal). Without the remembered term the split
/// cannot be located and the contest is judged as before.
#[test]
fn a_contest_below_a_snapshot_is_judged_where_the_histories_split() {
    // Member 2's record at 2 has the term the leader holds there; its record at 4 has the
    // term of the leader's entries up to 2 only: both agree up to 2 either way.
    for shared_to in [2, 4] {
        let mut cluster = cluster_with_a_snapshot_holder(true, shared_to);
        cluster.elect(3, &[1, 2]);
        let converged = cluster.run_until(Duration::from_secs(5), |c| {
            c.engine(2).log().term_at(Index::new(12)) == Some(Term::new(7, 3))
                && c.engine(2).committed_rank().commit.index >= Index::new(12)
        });
        assert!(
            converged,
            "member 2 took the leader's history ({shared_to})"
        );
        assert_eq!(cluster.engine(3).role(), Role::Leader, "never deposed");
    }

    let mut cluster = cluster_with_a_snapshot_holder(false, 2);
    cluster.elect(3, &[1, 2]);
    let deposed = cluster.run_until(Duration::from_secs(2), |c| {
        c.engine(3).role() != Role::Leader
    });
    assert!(deposed, "judged at the member's estimate, the member wins");
}

/// A member that prunes its log remembers the terms of its entries at the commit record
/// positions it drops, and persists them with its hard state.
#[test]
fn a_pruned_log_keeps_the_terms_of_its_record_positions() {
    let mut cluster = Cluster::new(3, &fast_config(), 11);
    cluster.elect(1, &[2, 3]);
    for command in 0..3 {
        assert!(common::commit_with_retries(&mut cluster, command));
    }
    // Two more commits without member 3: member 2's records get a second run.
    cluster.isolate(3, true);
    for command in 3..6 {
        assert!(common::commit_with_retries(&mut cluster, command));
    }
    let records = cluster.engine(2).commit_records().to_vec();
    assert!(records.len() >= 2, "two runs of weights: {records:?}");
    let applied = cluster.engine(2).applied_index();
    let expected: Vec<(Index, Term<u64>)> = (records.iter())
        .filter(|(at, _)| *at <= applied)
        .map(|(at, _)| (*at, cluster.engine(2).log().term_at(*at).expect("held")))
        .collect();
    assert!(expected.first().is_some_and(|(at, _)| *at < applied));
    cluster.input(2, Input::PruneLog { up_to: applied });
    assert_eq!(cluster.engine(2).log().base().index, applied);
    assert_eq!(
        cluster.engine(2).log().term_at(expected[0].0),
        None,
        "pruned"
    );
    let persisted = cluster.node(2).disk.hard.pruned_terms;
    assert_eq!(persisted.as_slice(), expected.as_slice());
}
