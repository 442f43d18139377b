//! Recovery: torn tails are cut, everything else that fails a check refuses
//! to open with `Corrupt` naming the file and offset.

mod common;

use {
    common::{TestDir, append_range, assert_entries, entry, file_len, segments, unfilled},
    mosaik_wal::{Recovered, Wal, WalError},
    std::{fs, path::Path},
};

// These tests cut and damage segments at their file's end, so they write
// no zeros ahead (`tests/filled.rs` covers segments filled ahead).
fn open(dir: &Path) -> (Wal, Recovered) {
    Wal::open(dir, unfilled()).unwrap()
}

fn open_small(dir: &Path, segment_bytes: u64) -> (Wal, Recovered) {
    Wal::open(dir, unfilled().with_segment_bytes(segment_bytes)).unwrap()
}

/// Opens and expects `Corrupt` at `file`/`offset`.
fn expect_corrupt(dir: &Path, file: &Path, offset: u64) -> String {
    match Wal::open(dir, unfilled().with_segment_bytes(1024)) {
        Err(WalError::Corrupt {
            file: f,
            offset: o,
            reason,
        }) => {
            assert_eq!((f.as_path(), o), (file, offset), "{reason}");
            reason
        }
        Err(e) => panic!("expected Corrupt at {offset}, got {e}"),
        Ok((_, rec)) => panic!(
            "expected Corrupt at {offset}, opened at last index {}",
            rec.last_index
        ),
    }
}

/// A one-segment log of entries 1..=5, one record (and one sync) each; the
/// segment's path and the offset where each record starts (plus the end).
fn five_records(dir: &Path) -> (std::path::PathBuf, Vec<u64>) {
    let (mut wal, _) = open(dir);
    let seg = segments(dir).remove(0);
    let mut bounds = vec![file_len(&seg)];
    for i in 1..=5 {
        wal.append(i, &[entry(i)]).unwrap();
        wal.sync().unwrap();
        bounds.push(file_len(&seg));
    }
    (seg, bounds)
}

#[test]
fn a_torn_last_record_is_cut_at_every_length() {
    let dir = TestDir::new("torn");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 10);
    wal.set_hard_state(b"hs").unwrap();
    wal.sync().unwrap();
    let seg = segments(dir.path()).remove(0);
    let synced = file_len(&seg);
    append_range(&mut wal, 11, 13); // the last record: one batch
    wal.sync().unwrap();
    drop(wal);
    let original = fs::read(&seg).unwrap();
    let full = original.len() as u64;
    for cut in synced..=full {
        fs::write(&seg, &original[..usize::try_from(cut).unwrap()]).unwrap();
        let (mut wal, rec) = open(dir.path());
        assert_eq!(rec.hard_state.as_deref(), Some(&b"hs"[..]));
        if cut == full {
            assert_eq!(rec.torn_tail, None);
            assert_entries(&wal, 1, 13);
            continue;
        }
        assert_entries(&wal, 1, 10);
        let torn = rec.torn_tail.clone();
        assert_eq!(torn.is_some(), cut > synced, "cut at {cut}: {torn:?}");
        if let Some(torn) = torn {
            assert_eq!(
                (torn.file.as_path(), torn.offset, torn.dropped_bytes),
                (seg.as_path(), synced, cut - synced)
            );
        }
        assert_eq!(
            file_len(&seg),
            synced,
            "the torn bytes are cut off the file"
        );
        // The log continues where the valid records end.
        wal.append(11, &[b"again"]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (wal, rec) = open(dir.path());
        assert_eq!((rec.last_index, rec.torn_tail), (11, None));
        assert_eq!(wal.entry(11).unwrap().as_deref(), Some(&b"again"[..]));
    }
}

#[test]
fn a_flipped_byte_in_a_middle_record_is_corruption_at_that_record() {
    let dir = TestDir::new("flip-middle");
    let (seg, bounds) = five_records(dir.path());
    let original = fs::read(&seg).unwrap();
    // Record 3 (every byte, including its header and padding).
    for at in bounds[2]..bounds[3] {
        let mut bytes = original.clone();
        bytes[usize::try_from(at).unwrap()] ^= 0x40;
        fs::write(&seg, &bytes).unwrap();
        expect_corrupt(dir.path(), &seg, bounds[2]);
    }
    // The segment header and the checkpoint.
    for (at, offset) in [(3, 0), (20, 0), (40, 32)] {
        let mut bytes = original.clone();
        bytes[at] ^= 1;
        fs::write(&seg, &bytes).unwrap();
        expect_corrupt(dir.path(), &seg, offset);
    }
    fs::write(&seg, &original).unwrap();
    let (wal, _) = open(dir.path());
    assert_entries(&wal, 1, 5);
}

#[test]
fn a_flipped_byte_in_the_last_record_is_a_torn_write() {
    // A crash during a write can leave any garbage in the unsynced tail, so a
    // bad last record with nothing valid after it cannot be told apart from
    // a torn write; the entries it held were never acknowledged by a sync
    // that completed... or, if they were, the disk lost them, which no
    // format can notice without a valid record after them.
    let dir = TestDir::new("flip-last");
    let (seg, bounds) = five_records(dir.path());
    let original = fs::read(&seg).unwrap();
    for at in bounds[4]..bounds[5] {
        let mut bytes = original.clone();
        bytes[usize::try_from(at).unwrap()] ^= 0x08;
        fs::write(&seg, &bytes).unwrap();
        let (wal, rec) = open(dir.path());
        assert_eq!(
            rec.torn_tail.map(|t| t.offset),
            Some(bounds[4]),
            "flip at {at}"
        );
        assert_entries(&wal, 1, 4);
    }
}

#[test]
fn corruption_display_names_file_and_offset() {
    let dir = TestDir::new("display");
    let (seg, bounds) = five_records(dir.path());
    let mut bytes = fs::read(&seg).unwrap();
    bytes[usize::try_from(bounds[1]).unwrap() + 14] ^= 1;
    fs::write(&seg, &bytes).unwrap();
    let err = Wal::open(dir.path(), unfilled()).unwrap_err().to_string();
    assert!(err.contains(&seg.display().to_string()), "{err}");
    assert!(err.contains(&format!("offset {}", bounds[1])), "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
}

#[test]
fn damage_in_an_earlier_segment_is_corruption_even_at_its_end() {
    let dir = TestDir::new("flip-sealed");
    let (mut wal, _) = open_small(dir.path(), 1024);
    for i in 1..=60 {
        wal.append(i, &[entry(i)]).unwrap();
        wal.sync().unwrap();
    }
    drop(wal);
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    let last_byte = bytes.len() - 9;
    bytes[last_byte] ^= 1;
    fs::write(&first, &bytes).unwrap();
    let reason = expect_corrupt_any_offset(dir.path(), &first);
    assert!(reason.contains("not in the last segment"), "{reason}");
}

fn expect_corrupt_any_offset(dir: &Path, file: &Path) -> String {
    match Wal::open(dir, unfilled().with_segment_bytes(1024)) {
        Err(WalError::Corrupt {
            file: f, reason, ..
        }) if f == file => reason,
        other => panic!(
            "expected Corrupt in {}, got {:?}",
            file.display(),
            other.map(|(_, r)| r)
        ),
    }
}

/// Garbage after the synced end is a torn tail and is cut; zeros there are
/// a clean end (what a writer fills ahead), kept, and written over next.
#[test]
fn garbage_after_the_synced_end_is_torn_and_zeros_are_a_clean_end() {
    let dir = TestDir::new("garbage");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 20);
    wal.sync().unwrap();
    drop(wal);
    let seg = segments(dir.path()).remove(0);
    let synced = fs::read(&seg).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let mut bytes = synced.clone();
    bytes.extend_from_slice(&garbage);
    fs::write(&seg, &bytes).unwrap();
    let (wal, rec) = open(dir.path());
    assert_eq!(rec.torn_tail.map(|t| t.dropped_bytes), Some(4096));
    assert_entries(&wal, 1, 20);
    drop(wal);

    let mut bytes = synced.clone();
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&seg, &bytes).unwrap();
    let (mut wal, rec) = open(dir.path());
    assert_eq!(rec.torn_tail, None, "zeros are no torn write");
    assert_entries(&wal, 1, 20);
    assert_eq!(file_len(&seg), bytes.len() as u64, "the zeros stay");
    wal.append(21, &[entry(21)]).unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        file_len(&seg),
        bytes.len() as u64,
        "written over, not after"
    );
    let (wal, rec) = open(dir.path());
    assert_eq!(rec.torn_tail, None);
    assert_entries(&wal, 1, 21);
}

#[test]
fn a_new_segment_torn_at_any_length_falls_back_to_the_previous_one() {
    let dir = TestDir::new("torn-rotation");
    let (mut wal, _) = open_small(dir.path(), 1024);
    let mut last = 0;
    while segments(dir.path()).len() < 3 {
        last += 1;
        wal.append(last, &[entry(last)]).unwrap();
        wal.sync().unwrap();
    }
    // `last` opened segment 3: header, checkpoint, one record.
    drop(wal);
    let newest = segments(dir.path()).pop().unwrap();
    let original = fs::read(&newest).unwrap();
    let mut clean_cuts = Vec::new();
    for cut in 0..=original.len() {
        fs::write(&newest, &original[..cut]).unwrap();
        let (mut wal, rec) = open_small(dir.path(), 1024);
        let expected = if cut == original.len() {
            last
        } else {
            last - 1
        };
        assert_entries(&wal, 1, expected);
        if rec.torn_tail.is_none() {
            clean_cuts.push(cut);
        }
        wal.append(expected + 1, &[entry(expected + 1)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (wal, _) = open_small(dir.path(), 1024);
        assert_entries(&wal, 1, expected + 1);
        drop(wal);
        // Back to the three-segment layout for the next cut.
        for extra in segments(dir.path()).into_iter().skip(3) {
            fs::remove_file(extra).unwrap();
        }
        fs::write(&newest, &original).unwrap();
        let (wal, _) = open_small(dir.path(), 1024);
        assert_eq!(wal.last_index(), last, "layout restored");
    }
    // Only two cuts leave no torn bytes: right after the checkpoint, and none.
    assert_eq!(clean_cuts.len(), 2, "{clean_cuts:?}");
    assert!(
        clean_cuts[0] > 32 && clean_cuts[1] == original.len(),
        "{clean_cuts:?}"
    );
}

#[test]
fn a_missing_segment_with_live_entries_is_corruption() {
    for missing in [0, 1] {
        let dir = TestDir::new("missing");
        let (mut wal, _) = open_small(dir.path(), 1024);
        for i in 1..=60 {
            wal.append(i, &[entry(i)]).unwrap();
            wal.sync().unwrap();
        }
        drop(wal);
        let all = segments(dir.path());
        fs::remove_file(&all[missing]).unwrap();
        let reason = expect_corrupt_any_offset(dir.path(), &all[missing + 1]);
        assert!(reason.contains("are missing"), "{reason}");
    }
}

#[test]
fn segments_left_over_from_reclaiming_are_removed_or_replayed() {
    let dir = TestDir::new("leftover");
    let (mut wal, _) = open_small(dir.path(), 1024);
    for i in 1..=60 {
        wal.append(i, &[entry(i)]).unwrap();
        wal.sync().unwrap();
    }
    let saved: Vec<_> = segments(dir.path())
        .into_iter()
        .map(|p| (fs::read(&p).unwrap(), p))
        .collect();
    wal.save_snapshot(50, b"s", b"d").unwrap();
    wal.prune_to(50, b"b50").unwrap();
    wal.sync().unwrap();
    let kept = segments(dir.path());
    assert!(kept.len() < saved.len());
    drop(wal);
    // The deletion of only the oldest segment was lost: a gap, then the log.
    fs::write(&saved[0].1, &saved[0].0).unwrap();
    let (wal, _) = open_small(dir.path(), 1024);
    assert_entries(&wal, 51, 60);
    assert!(!saved[0].1.exists(), "the leftover is removed");
    drop(wal);
    // No deletion reached the disk: the full history replays to the same state.
    for (bytes, path) in &saved {
        if !path.exists() {
            fs::write(path, bytes).unwrap();
        }
    }
    let (wal, rec) = open_small(dir.path(), 1024);
    assert_eq!(
        (rec.base_index, rec.base_meta.as_slice()),
        (50, &b"b50"[..])
    );
    assert_entries(&wal, 51, 60);
}

#[test]
fn snapshot_damage_is_reported() {
    let dir = TestDir::new("snapshot");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 10);
    wal.save_snapshot(8, b"meta", &[5u8; 1000]).unwrap();
    wal.prune_to(8, b"b8").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let path = dir.path().join("snapshot");
    let original = fs::read(&path).unwrap();

    // Data damage: found when the data is loaded.
    let mut bytes = original.clone();
    bytes[500] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let (wal, rec) = open(dir.path());
    assert_eq!(rec.snapshot.map(|s| s.index), Some(8));
    assert!(matches!(wal.load_snapshot(), Err(WalError::Corrupt { .. })));
    drop(wal);
    // Header damage or a short file: found at open.
    for bytes in [
        {
            let mut b = original.clone();
            b[17] ^= 1;
            b
        },
        original[..original.len() - 1].to_vec(),
    ] {
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Wal::open(dir.path(), unfilled()),
            Err(WalError::Corrupt { .. })
        ));
    }
    // No snapshot at all under a pruned log.
    fs::remove_file(&path).unwrap();
    let err = Wal::open(dir.path(), unfilled()).unwrap_err();
    assert!(
        err.to_string()
            .contains("no snapshot covers the log's base 8"),
        "{err}"
    );
    // A half-written snapshot.tmp is ignored and removed.
    fs::write(&path, &original).unwrap();
    fs::write(dir.path().join("snapshot.tmp"), b"half").unwrap();
    let (wal, _) = open(dir.path());
    assert_eq!(wal.load_snapshot().unwrap().unwrap().data, vec![5u8; 1000]);
    assert!(!dir.path().join("snapshot.tmp").exists());
}
