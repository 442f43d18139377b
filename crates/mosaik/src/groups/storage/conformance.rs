//! The behaviour every [`Storage`] implementation must show. Call
//! [`run`] from a test of your storage with a factory of empty stores
//! (`run_async` for stores whose `flush` needs a runtime).

use {
    super::{
        Ballot, HardState, LogCursor, LogEntry, LogIndex, Storage, StorageError, StoredSnapshot,
    },
    bytes::Bytes,
};

fn ballot(round: u64) -> Ballot {
    Ballot::new(round, crate::SecretKey::from_bytes(&[7; 32]).public())
}

fn idx(i: u64) -> LogIndex {
    mosaik_raft::Index(i)
}

fn snapshot(round: u64, index: u64) -> StoredSnapshot {
    StoredSnapshot {
        at: LogCursor::new(ballot(round), idx(index)),
        data: Bytes::from(format!("state at {index}")),
    }
}

/// Runs every check against stores made by `make` (each must start
/// empty), awaiting `flush` where the contract needs it. Panics with a
/// description on the first violation.
pub async fn run_async<S: Storage<u64>>(mut make: impl FnMut() -> S) {
    fresh_store_is_empty(&mut make());
    append_get_and_range(&mut make());
    batched_appends(&mut make());
    contract_violations_store_nothing(&mut make());
    truncate_drops_the_suffix(&mut make());
    prune_needs_a_snapshot(&mut make());
    prune_keeps_indexes(&mut make());
    reset_restarts_after_base(&mut make());
    snapshot_round_trips(&mut make());
    hard_state_round_trips(&mut make());
    let mut store = make();
    fill(&mut store, 3, 1);
    store.flush().await.expect("flush after writes");
    store.flush().await.expect("flush with nothing to write");
    assert_eq!(store.last().index, idx(3), "flush keeps what was written");
}

/// [`run_async`] for stores whose `flush` resolves without a runtime
/// ([`InMemoryLogStore`](super::InMemoryLogStore)): polls it to completion
/// on this thread.
pub fn run<S: Storage<u64>>(make: impl FnMut() -> S) {
    futures::executor::block_on(run_async(make));
}

fn fill<S: Storage<u64>>(store: &mut S, n: u64, round: u64) {
    for i in 0..n {
        let first = store.last().index.next();
        let at = store
            .append_entries(first, &[LogEntry::command(ballot(round), i)])
            .expect("append");
        assert_eq!(at, first, "append returns the new last index");
        assert_eq!(at, store.last().index);
    }
}

fn fresh_store_is_empty<S: Storage<u64>>(store: &mut S) {
    assert_eq!(store.last(), LogCursor::zero(), "fresh store is empty");
    assert_eq!(store.base(), LogCursor::zero());
    assert!(store.available().is_empty(), "nothing available");
    assert_eq!(store.get(idx(1)).unwrap(), None);
    assert_eq!(store.term_at(idx(0)).unwrap(), Some(Ballot::zero()));
    assert_eq!(store.hard_state().unwrap(), HardState::default());
    assert_eq!(store.snapshot().unwrap(), None, "no snapshot");
}

fn append_get_and_range<S: Storage<u64>>(store: &mut S) {
    fill(store, 5, 1);
    assert_eq!(store.last(), LogCursor::new(ballot(1), idx(5)));
    assert_eq!(store.available(), idx(1)..=idx(5));
    let third = store.get(idx(3)).unwrap().expect("entry 3");
    assert_eq!(third, LogEntry::command(ballot(1), 2));
    assert_eq!(store.get(idx(6)).unwrap(), None);
    let range = store.get_range(&(idx(4)..=idx(9))).unwrap();
    let got: Vec<_> = range.iter().map(|(i, _)| i.0).collect();
    assert_eq!(got, vec![4, 5], "out-of-range indexes are skipped");
    store
        .append_entries(idx(6), &[LogEntry::noop(ballot(2))])
        .unwrap();
    assert_eq!(store.term_at(idx(6)).unwrap(), Some(ballot(2)));
    assert_eq!(store.get(idx(6)).unwrap(), Some(LogEntry::noop(ballot(2))));
}

fn batched_appends<S: Storage<u64>>(store: &mut S) {
    let batch: Vec<_> = (0..10).map(|i| LogEntry::command(ballot(1), i)).collect();
    let last = store.append_entries(idx(1), &batch).unwrap();
    assert_eq!(last, idx(10), "a batch returns its last index");
    let more = [LogEntry::noop(ballot(2)), LogEntry::command(ballot(2), 99)];
    assert_eq!(store.append_entries(idx(11), &more).unwrap(), idx(12));
    assert_eq!(store.append_entries(idx(13), &[]).unwrap(), idx(12));
    // Handed over, the same: stored at 13 and 14, nothing for none, and a
    // wrong first index stores nothing.
    let owned = vec![LogEntry::command(ballot(2), 100), LogEntry::noop(ballot(3))];
    assert_eq!(store.append_owned(idx(13), owned).unwrap(), idx(14));
    assert_eq!(store.append_owned(idx(15), Vec::new()).unwrap(), idx(14));
    let err = store
        .append_owned(idx(16), vec![LogEntry::noop(ballot(3))])
        .unwrap_err();
    assert!(matches!(err, StorageError::ContractViolation(_)), "{err:?}");
    assert_eq!(
        store.get(idx(13)).unwrap(),
        Some(LogEntry::command(ballot(2), 100))
    );
    assert_eq!(store.last(), LogCursor::new(ballot(3), idx(14)));
    let all = store.get_range(&(idx(1)..=idx(12))).unwrap();
    assert_eq!(all.len(), 12);
    assert_eq!(all[9], (idx(10), LogEntry::command(ballot(1), 9)));
    assert_eq!(all[11], (idx(12), LogEntry::command(ballot(2), 99)));
}

fn contract_violations_store_nothing<S: Storage<u64>>(store: &mut S) {
    fill(store, 3, 1);
    let entry = [LogEntry::command(ballot(1), 7)];
    for first in [0, 1, 3, 5] {
        let err = store.append_entries(idx(first), &entry).unwrap_err();
        assert!(
            matches!(err, StorageError::ContractViolation(_)),
            "append at {first} after 3 must be a contract violation, got {err:?}"
        );
    }
    assert_eq!(
        store.last(),
        LogCursor::new(ballot(1), idx(3)),
        "nothing stored"
    );
    assert_eq!(store.get(idx(4)).unwrap(), None);
}

fn truncate_drops_the_suffix<S: Storage<u64>>(store: &mut S) {
    fill(store, 5, 1);
    store.truncate(idx(3)).unwrap();
    assert_eq!(store.last().index, idx(2));
    assert_eq!(store.get(idx(3)).unwrap(), None);
    store.truncate(idx(10)).unwrap();
    assert_eq!(
        store.last().index,
        idx(2),
        "truncating past the end is a no-op"
    );
    fill(store, 1, 3);
    assert_eq!(store.last(), LogCursor::new(ballot(3), idx(3)));
}

fn prune_needs_a_snapshot<S: Storage<u64>>(store: &mut S) {
    fill(store, 6, 1);
    let up_to = LogCursor::new(ballot(1), idx(4));
    let err = store.prune_prefix(up_to).unwrap_err();
    assert!(
        matches!(err, StorageError::NoSnapshot { .. }),
        "prune without a snapshot must be refused, got {err:?}"
    );
    store.save_snapshot(snapshot(1, 3)).unwrap();
    let err = store.prune_prefix(up_to).unwrap_err();
    assert!(
        matches!(err, StorageError::NoSnapshot { .. }),
        "a snapshot before the prune point does not cover it, got {err:?}"
    );
    assert_eq!(store.base(), LogCursor::zero(), "nothing pruned");
    assert_eq!(store.available(), idx(1)..=idx(6));
    let err = store
        .reset_to(LogCursor::new(ballot(2), idx(50)))
        .unwrap_err();
    assert!(
        matches!(err, StorageError::NoSnapshot { .. }),
        "reset without a snapshot must be refused, got {err:?}"
    );
}

fn prune_keeps_indexes<S: Storage<u64>>(store: &mut S) {
    fill(store, 6, 1);
    let up_to = LogCursor::new(ballot(1), idx(4));
    store.save_snapshot(snapshot(1, 4)).unwrap();
    store.prune_prefix(up_to).unwrap();
    assert_eq!(store.base(), up_to);
    assert_eq!(store.available(), idx(5)..=idx(6));
    assert_eq!(store.get(idx(4)).unwrap(), None);
    assert_eq!(
        store.get(idx(5)).unwrap(),
        Some(LogEntry::command(ballot(1), 4))
    );
    assert_eq!(
        store.term_at(idx(4)).unwrap(),
        Some(ballot(1)),
        "base term is known"
    );
    assert!(
        store.truncate(idx(3)).is_err(),
        "cannot truncate into the pruned prefix"
    );
    store
        .prune_prefix(LogCursor::new(ballot(1), idx(2)))
        .unwrap();
    assert_eq!(store.base(), up_to, "pruning behind the base is a no-op");
    fill(store, 1, 2);
    assert_eq!(store.last().index, idx(7));
}

fn reset_restarts_after_base<S: Storage<u64>>(store: &mut S) {
    fill(store, 3, 1);
    let base = LogCursor::new(ballot(4), idx(100));
    store.save_snapshot(snapshot(4, 100)).unwrap();
    store.reset_to(base).unwrap();
    assert_eq!(store.last(), base);
    assert!(store.available().is_empty());
    fill(store, 1, 5);
    assert_eq!(store.last().index, idx(101));
    assert_eq!(store.get(idx(3)).unwrap(), None);
    assert_eq!(store.term_at(idx(100)).unwrap(), Some(ballot(4)));
}

fn snapshot_round_trips<S: Storage<u64>>(store: &mut S) {
    fill(store, 8, 1);
    store.save_snapshot(snapshot(1, 5)).unwrap();
    assert_eq!(store.snapshot().unwrap(), Some(snapshot(1, 5)));
    store.save_snapshot(snapshot(1, 8)).unwrap();
    assert_eq!(
        store.snapshot().unwrap(),
        Some(snapshot(1, 8)),
        "the newest wins"
    );
    store
        .prune_prefix(LogCursor::new(ballot(1), idx(6)))
        .unwrap();
    assert_eq!(store.snapshot().unwrap(), Some(snapshot(1, 8)));
    let err = store.save_snapshot(snapshot(1, 2)).unwrap_err();
    assert!(
        matches!(err, StorageError::ContractViolation(_)),
        "a snapshot behind the base is refused, got {err:?}"
    );
}

fn hard_state_round_trips<S: Storage<u64>>(store: &mut S) {
    let owner = ballot(9).owner();
    // Every field round-trips, the catch-up and lost-storage markers
    // included: a crash during a catch-up must resume it, and one after it
    // must keep the round jump.
    let state = HardState {
        term: ballot(9),
        vote: owner,
        commit: idx(7),
        commit_weight: 3,
        peak: (idx(5), 4),
        catching_up: true,
        lost_storage: true,
        epoch: 7,
        records: mosaik_raft::CommitRecords::from_slice(&[(idx(3), 5), (idx(5), 4), (idx(7), 3)]),
        pruned_terms: mosaik_raft::PrunedTerms::from_slice(&[(idx(3), ballot(2))]),
    };
    store.set_hard_state(state).unwrap();
    assert_eq!(store.hard_state().unwrap(), state);
    let later = HardState {
        catching_up: false,
        lost_storage: false,
        ..state
    };
    store.set_hard_state(later).unwrap();
    assert_eq!(store.hard_state().unwrap(), later, "the last one wins");
}

#[cfg(test)]
mod tests {
    #[test]
    fn in_memory_store_conforms() {
        super::run(super::super::InMemoryLogStore::<u64>::default);
    }
}
