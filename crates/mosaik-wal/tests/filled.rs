//! Segments filled with zeros ahead of the writes
//! (`WalOptions::preallocate_bytes`): appends land inside the file, an
//! all-zero tail is a clean end, and a write torn inside the filled space
//! (its bytes partly still zeros) never costs a synced entry.

mod common;

use {
    common::{
        TestDir, append_range, assert_entries, entry, file_len, open, open_small, records_end,
        segments,
    },
    mosaik_wal::{Wal, WalError, WalOptions},
    std::fs,
};

#[test]
fn appends_land_inside_the_space_filled_ahead() {
    let dir = TestDir::new("filled");
    let (mut wal, _) = open(dir.path());
    wal.append(1, &[entry(1)]).unwrap();
    wal.sync().unwrap();
    let seg = segments(dir.path()).remove(0);
    let size = file_len(&seg);
    let filled = WalOptions::default().preallocate_bytes;
    assert!(size >= filled, "{size} bytes: filled ahead by {filled}");
    for i in 2..=100 {
        wal.append(i, &[entry(i)]).unwrap();
        wal.sync().unwrap();
    }
    assert_eq!(file_len(&seg), size, "the appends did not grow the file");
    drop(wal);
    let (mut wal, rec) = open(dir.path());
    assert_eq!(rec.torn_tail, None, "the zeros ahead are a clean end");
    assert_entries(&wal, 1, 100);
    append_range(&mut wal, 101, 120);
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        file_len(&seg),
        size,
        "a reopened segment writes into its zeros"
    );
    let (wal, rec) = open(dir.path());
    assert_eq!(rec.torn_tail, None);
    assert_entries(&wal, 1, 120);
}

/// A write torn by a crash inside the filled space leaves a prefix of its
/// record, or pages of it, over zeros. Every such tear of the last record is
/// cut (or, when nothing of it reached the disk, is the clean end), and the
/// entries synced before it stay.
#[test]
fn a_write_torn_inside_the_filled_space_never_costs_a_synced_entry() {
    let dir = TestDir::new("filled-torn");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 10);
    wal.sync().unwrap();
    let seg = segments(dir.path()).remove(0);
    let before = fs::read(&seg).unwrap();
    append_range(&mut wal, 11, 13); // the last record: one batch
    wal.sync().unwrap();
    drop(wal);
    let after = fs::read(&seg).unwrap();
    assert_eq!(before.len(), after.len(), "written inside the filled space");
    let start = before
        .iter()
        .zip(&after)
        .position(|(a, b)| a != b)
        .expect("the last record changed the file");
    let end = records_end(&after);
    let tears = (start..=end)
        .map(|p| (p, end)) // a prefix reached the disk
        .chain([(start, start + 8), (start + 16, end - 8)]); // pages out of order
    for (from, to) in tears {
        let mut bytes = after.clone();
        bytes[from..to].fill(0);
        fs::write(&seg, &bytes).unwrap();
        let (mut wal, rec) = open(dir.path());
        let whole = from == to;
        assert_entries(&wal, 1, if whole { 13 } else { 10 });
        assert_eq!(
            rec.torn_tail.is_some(),
            !whole && bytes[start..end].iter().any(|&b| b != 0),
            "zeros {from}..{to}"
        );
        // The log goes on from there.
        let next = wal.last_index() + 1;
        wal.append(next, &[entry(next)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (wal, _) = open(dir.path());
        assert_entries(&wal, 1, next);
        drop(wal);
        fs::write(&seg, &after).unwrap();
    }
}

/// The filling never passes the rotation size, so a segment closed by
/// rotation holds no zeros; one closed after a reopen with a smaller
/// rotation size does, and ends cleanly in them. Damage there is still
/// corruption.
#[test]
fn a_closed_segment_ends_cleanly_in_its_zeros_and_damage_there_is_caught() {
    let dir = TestDir::new("filled-segments");
    let (mut wal, _) = open_small(dir.path(), 1024);
    for i in 1..=60 {
        wal.append(i, &[entry(i)]).unwrap();
        wal.sync().unwrap();
    }
    drop(wal);
    let rotated = segments(dir.path());
    assert!(rotated.len() >= 3, "{} segments", rotated.len());
    for seg in &rotated[..rotated.len() - 1] {
        let bytes = fs::read(seg).unwrap();
        assert!(
            bytes.len() <= 1024 + 256,
            "{}: filled past the rotation size",
            seg.display()
        );
        assert_eq!(
            records_end(&bytes).next_multiple_of(8),
            bytes.len(),
            "no zeros"
        );
    }

    let dir = TestDir::new("filled-closed");
    let (mut wal, _) = open_small(dir.path(), 64 << 10);
    append_range(&mut wal, 1, 40);
    wal.sync().unwrap();
    drop(wal);
    let (mut wal, _) = open_small(dir.path(), 1024);
    wal.append(41, &[entry(41)]).unwrap(); // rotates: the first segment is closed in its zeros
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open_small(dir.path(), 1024);
    assert_eq!(segments(dir.path()).len(), 2);
    assert_eq!(rec.torn_tail, None);
    assert_entries(&wal, 1, 41);
    drop(wal);
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    let end = records_end(&bytes);
    assert!(end + 64 < bytes.len(), "the closed segment ends in zeros");
    bytes[end.next_multiple_of(8) + 16] = 1;
    fs::write(&first, &bytes).unwrap();
    match Wal::open(dir.path(), WalOptions::default().with_segment_bytes(1024)) {
        Err(WalError::Corrupt { file, reason, .. }) => {
            assert_eq!(file, first);
            assert!(reason.contains("not in the last segment"), "{reason}");
        }
        other => panic!(
            "damage in a closed segment's zeros opened: {:?}",
            other.map(|(_, r)| r)
        ),
    }
}
