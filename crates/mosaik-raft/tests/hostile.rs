//! Messages no correct member sends, from a peer that holds the group key: dropped, never a
//! panic and never a broken log.

mod common;

use common::{Cluster, fast_config};
use mosaik_raft::{CommittedRank, Cursor, Entry, Index, Input, MAX_ROUND, Message, Term};

fn append_entries(
    term: Term<u64>,
    prev: Cursor<u64>,
    entries: Vec<Entry<u64, u64>>,
) -> Message<u64, u64> {
    Message::AppendEntries {
        term,
        leader: 2,
        prev_log_position: prev,
        entries,
        leader_commit: Index::ZERO,
        rank: CommittedRank::zero(),
        overrule: None,
        seq: 0,
        epoch: 0,
    }
}

#[test]
fn entries_with_decreasing_or_future_terms_are_dropped() {
    let mut cluster = Cluster::new(2, &fast_config(), 5);
    let term = Term::new(3, 2);
    let malformed = [
        // Terms go down along the entries.
        append_entries(
            term,
            Cursor::zero(),
            vec![Entry::noop(Term::new(3, 2)), Entry::noop(Term::new(1, 2))],
        ),
        // An entry newer than the leader's own term.
        append_entries(term, Cursor::zero(), vec![Entry::noop(Term::new(9, 2))]),
        // `prev` newer than the leader's term.
        append_entries(term, Cursor::new(Term::new(7, 2), Index(0)), vec![]),
    ];
    for msg in malformed {
        cluster.input(1, Input::Message { from: 2, msg });
        assert_eq!(
            cluster.engine(1).last_log(),
            Cursor::zero(),
            "nothing appended"
        );
    }
    // A well-formed one from the same peer still works.
    let good = append_entries(term, Cursor::zero(), vec![Entry::noop(term)]);
    cluster.input(1, Input::Message { from: 2, msg: good });
    assert_eq!(cluster.engine(1).last_log(), Cursor::new(term, Index(1)));
}

/// A round past `MAX_ROUND` is dropped from every message that carries one: adopting it would
/// push the member's next campaign past `u64::MAX`. The group keeps electing and committing.
#[test]
fn rounds_past_the_limit_are_dropped() {
    let mut cluster = Cluster::new(3, &fast_config(), 6);
    let leader = cluster.wait_for_leader();
    let victim = *cluster
        .ids()
        .iter()
        .find(|id| **id != leader)
        .expect("a follower");
    let peer = *cluster
        .ids()
        .iter()
        .find(|id| **id != leader && **id != victim)
        .expect("a third member");
    let huge = Term::new(u64::MAX - 1, peer);
    let messages = [
        Message::RequestVote {
            term: huge,
            candidate: peer,
            log_position: Cursor::zero(),
            rank: CommittedRank::zero(),
            records: Vec::new(),
            pre_vote: false,
        },
        Message::TermAnswer {
            term: huge,
            epoch: 0,
            voter: true,
            catching_up: false,
        },
        Message::AppendEntries {
            term: huge,
            leader: peer,
            prev_log_position: Cursor::zero(),
            entries: vec![],
            leader_commit: Index::ZERO,
            rank: CommittedRank::zero(),
            overrule: None,
            seq: 0,
            epoch: 0,
        },
    ];
    for msg in messages {
        cluster.input(victim, Input::Message { from: peer, msg });
        assert!(cluster.engine(victim).term().round() <= MAX_ROUND);
    }
    // Leadership moves on normally: the victim campaigns and wins when the leader goes.
    cluster.crash(leader);
    assert!(cluster.run_until(std::time::Duration::from_secs(5), |c| {
        c.leaders().iter().any(|id| *id != leader)
    }));
    let new_leader = cluster.leader().expect("a new leader");
    assert!(cluster.engine(new_leader).term().round() < 10);
}
