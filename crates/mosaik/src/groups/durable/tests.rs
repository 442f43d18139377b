//! `DurableStore` against the storage conformance suite, and what survives
//! a reopen.

use {
    super::DurableStore,
    crate::groups::{HardState, LogCursor, LogEntry, LogIndex, Storage, StoredSnapshot, storage},
    std::path::PathBuf,
};

/// A fresh directory under the workspace's `target` (not `/tmp`).
fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-storage")
        .join(format!(
            "{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn durable_store_conforms() {
    let root = temp_dir("conformance");
    let mut n = 0;
    storage::conformance::run(|| {
        n += 1;
        DurableStore::<u64>::open(root.join(n.to_string())).expect("open")
    });
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn everything_flushed_survives_a_reopen() {
    let dir = temp_dir("reopen");
    let term = crate::groups::Ballot::new(3, crate::SecretKey::from_bytes(&[1; 32]).public());
    let hard = HardState {
        term,
        vote: term.owner(),
        commit: LogIndex(4),
        commit_weight: 2,
        peak: (LogIndex(4), 3),
        catching_up: false,
        lost_storage: true,
        epoch: 9,
        records: mosaik_raft::CommitRecords::from_slice(&[(LogIndex(2), 3), (LogIndex(4), 2)]),
        pruned_terms: mosaik_raft::PrunedTerms::from_slice(&[(LogIndex(2), term)]),
    };
    let snapshot = StoredSnapshot {
        at: LogCursor::new(term, LogIndex(2)),
        data: bytes::Bytes::from_static(b"two"),
    };
    {
        let mut store = DurableStore::<String>::open(&dir).expect("open");
        let entries: Vec<_> = (1..=5)
            .map(|i| LogEntry::command(term, format!("e{i}")))
            .collect();
        store.append_entries(LogIndex(1), &entries).unwrap();
        store
            .append_entries(LogIndex(6), &[LogEntry::noop(term)])
            .unwrap();
        store.set_hard_state(hard).unwrap();
        store.save_snapshot(snapshot.clone()).unwrap();
        store
            .prune_prefix(LogCursor::new(term, LogIndex(2)))
            .unwrap();
        futures::executor::block_on(store.flush()).expect("flush");
    }
    let store = DurableStore::<String>::open(&dir).expect("reopen");
    assert_eq!(store.hard_state().unwrap(), hard);
    assert_eq!(store.base(), LogCursor::new(term, LogIndex(2)));
    assert_eq!(store.last(), LogCursor::new(term, LogIndex(6)));
    assert_eq!(
        store.get(LogIndex(3)).unwrap(),
        Some(LogEntry::command(term, "e3".to_string()))
    );
    assert_eq!(store.get(LogIndex(6)).unwrap(), Some(LogEntry::noop(term)));
    assert_eq!(store.snapshot().unwrap(), Some(snapshot));
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_disk_failure_poisons_the_store() {
    let dir = temp_dir("poison");
    let term = crate::groups::Ballot::new(1, crate::SecretKey::from_bytes(&[1; 32]).public());
    let mut store = DurableStore::<u64>::open(&dir).expect("open");
    store
        .append_entries(LogIndex(1), &[LogEntry::command(term, 1)])
        .unwrap();
    futures::executor::block_on(store.flush()).expect("a healthy flush");
    // The snapshot's temporary file cannot be created: a real I/O error on
    // the store's thread.
    std::fs::create_dir(dir.join("snapshot.tmp")).expect("obstacle");
    let at = LogCursor::new(term, LogIndex(1));
    store
        .save_snapshot(StoredSnapshot {
            at,
            data: bytes::Bytes::from_static(b"one"),
        })
        .expect("queued");
    let err = futures::executor::block_on(store.flush()).expect_err("the flush reports it");
    assert!(
        matches!(err, crate::groups::StorageError::Io { .. }),
        "the disk's error, typed: {err:?}"
    );
    let later = store
        .append_entries(LogIndex(2), &[LogEntry::command(term, 2)])
        .expect_err("writes after the failure are refused");
    assert!(
        matches!(later, crate::groups::StorageError::Poisoned(_)),
        "{later:?}"
    );
    assert!(store.hard_state().is_err(), "reads too");
    assert!(
        futures::executor::block_on(store.flush()).is_err(),
        "and flushes"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

/// The term cache of `open` gives every entry exactly the ballot the full
/// decode gives: interleaved owners, rounds, noops and unowned terms.
#[test]
fn cached_ballots_match_the_full_decode() {
    use {super::TermCache, crate::groups::Ballot};
    let a = crate::SecretKey::from_bytes(&[1; 32]).public();
    let b = crate::SecretKey::from_bytes(&[2; 32]).public();
    let terms = [
        Ballot::zero(),
        Ballot::new(1, a),
        Ballot::new(1, a),
        Ballot::new(2, b),
        Ballot::new(2, a),
        Ballot::new(3, a),
        Ballot::new(3, a),
        Ballot::zero(),
    ];
    let mut cache = TermCache::default();
    for (i, term) in terms.into_iter().enumerate() {
        let entry = if i % 3 == 0 {
            LogEntry::noop(term)
        } else {
            LogEntry::command(term, format!("c{i}"))
        };
        let bytes = super::encode_entry(&entry).unwrap();
        assert_eq!(super::decode_entry::<String>(&bytes).unwrap(), entry);
        assert_eq!(cache.decode::<String>(&bytes).unwrap(), entry, "entry {i}");
    }
    // A damaged owner key is still refused on first sight.
    let mut bytes = super::encode_entry(&LogEntry::command(Ballot::new(9, b), 1u64))
        .unwrap()
        .to_vec();
    let bad = (0u8..=255)
        .map(|x| [x; 32])
        .find(|key| crate::PeerId::from_bytes(key).is_err())
        .expect("some byte pattern is no curve point");
    // Round 9 (one byte), the option tag (one byte), then the key.
    bytes[2..34].copy_from_slice(&bad);
    assert!(cache.decode::<u64>(&bytes).is_err());
}

/// A hard state written before `lost_storage` and `epoch` existed still
/// decodes, with both at their defaults, and so do one written before
/// `records` existed (no records) and one written before `pruned_terms`
/// existed (none); the current layout round-trips.
#[test]
fn a_hard_state_of_the_earlier_layout_still_decodes() {
    #[derive(serde::Serialize)]
    struct Earlier {
        term: crate::groups::Ballot,
        vote: Option<crate::PeerId>,
        commit: LogIndex,
        commit_weight: u64,
        peak: (LogIndex, u64),
        catching_up: bool,
    }
    let term = crate::groups::Ballot::new(5, crate::SecretKey::from_bytes(&[2; 32]).public());
    let earlier = Earlier {
        term,
        vote: term.owner(),
        commit: LogIndex(9),
        commit_weight: 3,
        peak: (LogIndex(8), 4),
        catching_up: true,
    };
    let bytes = crate::primitives::encoding::serialize(&earlier);
    let decoded = super::decode_hard_state(&bytes).expect("the earlier layout decodes");
    let expected = HardState {
        term,
        vote: term.owner(),
        commit: LogIndex(9),
        commit_weight: 3,
        peak: (LogIndex(8), 4),
        catching_up: true,
        lost_storage: false,
        epoch: 0,
        records: mosaik_raft::CommitRecords::new(),
        pruned_terms: mosaik_raft::PrunedTerms::new(),
    };
    assert_eq!(decoded, expected);
    // The layout written before `records` existed: the current one without
    // them and without `pruned_terms` (two empty sequences, a length byte each).
    let without_records = HardState {
        lost_storage: true,
        epoch: 12_345,
        ..expected
    };
    assert_decodes_cut_short(&without_records, 2, "the layout without records");
    // The layout written before `pruned_terms` existed.
    let without_pruned_terms = HardState {
        records: mosaik_raft::CommitRecords::from_slice(&[(LogIndex(8), 4), (LogIndex(9), 3)]),
        ..without_records
    };
    assert_decodes_cut_short(&without_pruned_terms, 1, "the layout without pruned terms");
    let current = HardState {
        pruned_terms: mosaik_raft::PrunedTerms::from_slice(&[(LogIndex(8), term)]),
        ..without_pruned_terms
    };
    let bytes = crate::primitives::encoding::serialize(&current);
    assert_eq!(super::decode_hard_state(&bytes).expect("decodes"), current);
    assert!(super::decode_hard_state(&bytes[..bytes.len() - 1]).is_err());
}

/// `state` encoded, its last `cut` bytes (the length bytes of trailing empty
/// sequences) dropped as an older layout lacks those fields, decodes as `state`.
fn assert_decodes_cut_short(state: &HardState, cut: usize, layout: &str) {
    let bytes = crate::primitives::encoding::serialize(state);
    assert!(
        bytes[bytes.len() - cut..].iter().all(|b| *b == 0),
        "{layout}: not empty"
    );
    let decoded = super::decode_hard_state(&bytes[..bytes.len() - cut]);
    assert_eq!(decoded.expect(layout), *state, "{layout}");
}

/// A dynamic-mode start over empties the log and drops the stored snapshot
/// for good: a reopen finds neither, so the discarded history is not
/// restored as the member's state.
#[test]
fn a_reset_to_the_initial_state_survives_a_reopen() {
    let dir = temp_dir("initial");
    let term = crate::groups::Ballot::new(3, crate::SecretKey::from_bytes(&[1; 32]).public());
    {
        let mut store = DurableStore::<String>::open(&dir).expect("open");
        let entries: Vec<_> = (1..=4)
            .map(|i| LogEntry::command(term, format!("e{i}")))
            .collect();
        store.append_entries(LogIndex(1), &entries).unwrap();
        let at = LogCursor::new(term, LogIndex(3));
        let data = bytes::Bytes::from_static(b"three");
        store.save_snapshot(StoredSnapshot { at, data }).unwrap();
        store.prune_prefix(at).unwrap();
        storage::reset_to_initial::<String, _>(&mut store).unwrap();
        futures::executor::block_on(store.flush()).expect("flush");
    }
    let store = DurableStore::<String>::open(&dir).expect("reopen");
    assert_eq!(store.base(), LogCursor::zero());
    assert_eq!(store.last(), LogCursor::zero());
    let snapshot = store.snapshot().unwrap();
    assert!(
        snapshot
            .as_ref()
            .is_none_or(|s| s.at == LogCursor::zero() && s.data.is_empty()),
        "{snapshot:?}"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
