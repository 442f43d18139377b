//! Messages no correct member sends, from a peer that holds the group key: dropped, never a
//! panic and never a broken log.

mod common;

use common::{Cluster, fast_config};
use mosaik_raft::{CommittedRank, Cursor, Entry, Index, Input, Message, Term};

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
