//! Round trips through reopen: append, truncate, hard state, rotation,
//! prune, reset, contract violations.

mod common;

use {
    common::{TestDir, append_range, assert_entries, entry, open, open_small, segments},
    mosaik_wal::{Wal, WalError, WalOptions},
};

#[test]
fn a_new_log_is_empty_and_durable() {
    let dir = TestDir::new("new");
    let (wal, rec) = open(dir.path());
    assert_eq!(
        (rec.base_index, rec.last_index, rec.hard_state, rec.snapshot),
        (0, 0, None, None)
    );
    assert_eq!((wal.first_index(), wal.last_index()), (1, 0));
    drop(wal);
    let (_, rec) = open(dir.path());
    assert_eq!((rec.last_index, rec.torn_tail), (0, None));
}

#[test]
fn synced_entries_and_hard_state_survive_reopen() {
    let dir = TestDir::new("roundtrip");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 10);
    wal.append(11, &[entry(11)]).unwrap();
    wal.set_hard_state(b"term 1").unwrap();
    append_range(&mut wal, 12, 40);
    // Reads see buffered writes before any sync.
    assert_eq!(wal.entry(7).unwrap(), Some(entry(7)));
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(dir.path());
    assert_eq!((rec.base_index, rec.last_index), (0, 40));
    assert_eq!(rec.hard_state.as_deref(), Some(&b"term 1"[..]));
    assert_entries(&wal, 1, 40);
    assert_eq!(wal.entry(41).unwrap(), None);
    assert_eq!(wal.entries(5..8).unwrap().len(), 3);
}

#[test]
fn hard_state_last_writer_wins() {
    let dir = TestDir::new("hard");
    let (mut wal, _) = open_small(dir.path(), 512);
    for round in 0..50u32 {
        wal.set_hard_state(format!("state {round}").as_bytes())
            .unwrap();
        wal.append(u64::from(round) + 1, &[entry(u64::from(round) + 1)])
            .unwrap();
        wal.sync().unwrap();
    }
    drop(wal);
    let (wal, rec) = open_small(dir.path(), 512);
    assert_eq!(rec.hard_state.as_deref(), Some(&b"state 49"[..]));
    assert_entries(&wal, 1, 50);
}

#[test]
fn truncation_then_append_replaces_the_suffix() {
    let dir = TestDir::new("truncate");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 20);
    wal.truncate_from(15).unwrap();
    assert_eq!(wal.last_index(), 14);
    wal.append(15, &[b"new 15".to_vec(), b"new 16".to_vec()])
        .unwrap();
    wal.truncate_from(100).unwrap(); // past the end: nothing to drop
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(dir.path());
    assert_eq!(rec.last_index, 16);
    assert_eq!(wal.entry(14).unwrap(), Some(entry(14)));
    assert_eq!(wal.entry(15).unwrap().as_deref(), Some(&b"new 15"[..]));
    assert_eq!(wal.entry(16).unwrap().as_deref(), Some(&b"new 16"[..]));
}

#[test]
fn contract_violations_are_typed_and_write_nothing() {
    let dir = TestDir::new("contract");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 5);
    for first in [0, 5, 7] {
        let err = wal.append(first, &[b"x"]).unwrap_err();
        assert!(
            matches!(err, WalError::ContractViolation { op: "append", .. }),
            "{err}"
        );
    }
    assert!(matches!(
        wal.truncate_from(0),
        Err(WalError::ContractViolation { .. })
    ));
    assert!(matches!(
        wal.prune_to(9, b""),
        Err(WalError::ContractViolation { .. })
    ));
    // Still writable: violations do not poison.
    wal.append(6, &[entry(6)]).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, _) = open(dir.path());
    assert_entries(&wal, 1, 6);
}

#[test]
fn segments_rotate_and_replay_in_order() {
    let dir = TestDir::new("rotate");
    let (mut wal, _) = open_small(dir.path(), 1024);
    for i in 1..=300 {
        wal.append(i, &[entry(i)]).unwrap();
        if i % 7 == 0 {
            wal.set_hard_state(&i.to_le_bytes()).unwrap();
            wal.sync().unwrap();
        }
    }
    wal.truncate_from(290).unwrap();
    append_range(&mut wal, 290, 310);
    wal.sync().unwrap();
    let count = segments(dir.path()).len();
    assert!(count > 10, "only {count} segments");
    drop(wal);
    let (wal, rec) = open_small(dir.path(), 1024);
    assert_entries(&wal, 1, 310);
    assert_eq!(rec.hard_state, Some(294u64.to_le_bytes().to_vec()));
}

#[test]
fn a_large_batch_spans_records_and_segments() {
    let dir = TestDir::new("large");
    let (mut wal, _) = open_small(dir.path(), 1 << 20);
    let batch: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| vec![u8::try_from(i % 251).unwrap(); 4096])
        .collect();
    wal.append(1, &batch).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open_small(dir.path(), 1 << 20);
    assert_eq!(rec.last_index, 3000);
    assert!(segments(dir.path()).len() >= 3);
    for (index, bytes) in wal.entries(..).unwrap() {
        assert_eq!(bytes, batch[usize::try_from(index - 1).unwrap()]);
    }
}

#[test]
fn prune_needs_a_durable_snapshot_and_frees_whole_segments() {
    let dir = TestDir::new("prune");
    let (mut wal, _) = open_small(dir.path(), 2048);
    for first in (1..=200).step_by(10) {
        append_range(&mut wal, first, first + 9);
    }
    wal.set_hard_state(b"hs").unwrap();
    wal.sync().unwrap();
    let before = segments(dir.path()).len();

    let err = wal.prune_to(120, b"m120").unwrap_err();
    assert!(
        matches!(
            err,
            WalError::NoSnapshot {
                index: 120,
                newest: None
            }
        ),
        "{err}"
    );
    wal.save_snapshot(100, b"s100", b"state at 100").unwrap();
    let err = wal.prune_to(120, b"m120").unwrap_err();
    assert!(
        matches!(
            err,
            WalError::NoSnapshot {
                index: 120,
                newest: Some(100)
            }
        ),
        "{err}"
    );
    wal.save_snapshot(150, b"s150", b"state at 150").unwrap();
    wal.prune_to(120, b"m120").unwrap();
    assert_eq!(
        (wal.base(), wal.entry(120).unwrap()),
        ((120, &b"m120"[..]), None)
    );
    wal.sync().unwrap();
    let after = segments(dir.path()).len();
    assert!(after < before, "{before} -> {after} segments");
    // A snapshot may not fall behind the base.
    assert!(matches!(
        wal.save_snapshot(119, b"", b""),
        Err(WalError::ContractViolation { .. })
    ));
    append_range(&mut wal, 201, 210);
    wal.sync().unwrap();
    drop(wal);

    let (mut wal, rec) = open_small(dir.path(), 2048);
    assert_eq!(
        (rec.base_index, rec.base_meta.as_slice(), rec.last_index),
        (120, &b"m120"[..], 210)
    );
    assert_eq!(rec.hard_state.as_deref(), Some(&b"hs"[..]));
    assert_eq!(
        rec.snapshot.map(|s| (s.index, s.meta)),
        Some((150, b"s150".to_vec()))
    );
    assert_entries(&wal, 121, 210);
    let snap = wal.load_snapshot().unwrap().unwrap();
    assert_eq!(
        (snap.index, snap.data.as_slice()),
        (150, &b"state at 150"[..])
    );
    // Pruning below the base is a no-op; a truncation there is refused.
    wal.prune_to(100, b"").unwrap();
    assert!(matches!(
        wal.truncate_from(120),
        Err(WalError::ContractViolation { .. })
    ));
}

#[test]
fn reset_drops_everything_and_restarts_after_the_snapshot() {
    let dir = TestDir::new("reset");
    let (mut wal, _) = open_small(dir.path(), 1024);
    append_range(&mut wal, 1, 100);
    wal.sync().unwrap();
    assert!(matches!(
        wal.reset_to(500, b"m"),
        Err(WalError::NoSnapshot { .. })
    ));
    wal.save_snapshot(500, b"snap", b"data").unwrap();
    wal.reset_to(500, b"base 500").unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (501, 500));
    assert_eq!(wal.entry(50).unwrap(), None);
    append_range(&mut wal, 501, 505);
    wal.sync().unwrap();
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "older segments are reclaimed"
    );
    drop(wal);
    let (wal, rec) = open_small(dir.path(), 1024);
    assert_eq!(
        (rec.base_index, rec.base_meta.as_slice()),
        (500, &b"base 500"[..])
    );
    assert_entries(&wal, 501, 505);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = TestDir::new("lock");
    let (_wal, _) = open(dir.path());
    let err = Wal::open(dir.path(), WalOptions::default()).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
}

#[test]
fn unsynced_writes_may_be_lost_synced_ones_never() {
    let dir = TestDir::new("crash");
    let (mut wal, _) = open_small(dir.path(), 64 << 10);
    append_range(&mut wal, 1, 50);
    wal.sync().unwrap();
    // Enough unsynced data that part of it reaches the OS (and a new segment).
    let batch: Vec<Vec<u8>> = (51..=2000).map(|_| vec![7u8; 1024]).collect();
    wal.append(51, &batch).unwrap();
    wal.set_hard_state(b"unsynced").unwrap();
    drop(wal); // a crash: no sync
    let (wal, rec) = open_small(dir.path(), 64 << 10);
    assert!(rec.last_index >= 50);
    for (index, bytes) in wal.entries(..=50).unwrap() {
        assert_eq!(bytes, entry(index));
    }
    for (_, bytes) in wal.entries(51..).unwrap() {
        assert_eq!(bytes, vec![7u8; 1024]);
    }
}
