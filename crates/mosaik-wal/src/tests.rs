//! Unit tests that need the test-only fault hook.

use {
    crate::{Wal, WalError, WalOptions},
    std::{io::ErrorKind, path::PathBuf},
};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mosaik-wal-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_failed_sync_poisons_the_log_and_reopen_recovers_what_was_synced() {
    let dir = temp_dir("poison");
    let (mut wal, _) = Wal::open(&dir, WalOptions::default()).unwrap();
    wal.append(1, &[b"one"]).unwrap();
    wal.sync().unwrap();
    wal.append(2, &[b"two"]).unwrap();
    wal.fail_next_sync = Some(ErrorKind::Other);
    let err = wal.sync().unwrap_err();
    assert!(
        matches!(
            err,
            WalError::Io {
                op: "fdatasync",
                ..
            }
        ),
        "{err}"
    );
    // No retry: the kernel may have dropped the dirty pages already.
    for result in [
        wal.sync(),
        wal.append(3, &[b"three"]),
        wal.set_hard_state(b"h"),
    ] {
        assert!(matches!(result, Err(WalError::Poisoned(_))), "{result:?}");
    }
    // Reads still work.
    assert_eq!(wal.entry(1).unwrap().as_deref(), Some(&b"one"[..]));
    drop(wal);
    let (wal, rec) = Wal::open(&dir, WalOptions::default()).unwrap();
    assert!(rec.last_index >= 1);
    assert_eq!(wal.entry(1).unwrap().as_deref(), Some(&b"one"[..]));
    drop(wal);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn enospc_gets_its_own_variant() {
    let dir = temp_dir("enospc-kind");
    let (mut wal, _) = Wal::open(&dir, WalOptions::default()).unwrap();
    wal.append(1, &[b"one"]).unwrap();
    wal.fail_next_sync = Some(ErrorKind::StorageFull);
    let err = wal.sync().unwrap_err();
    assert!(err.is_no_space(), "{err}");
    assert!(err.to_string().contains("no space left"), "{err}");
    drop(wal);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A payload writer.
type Body<'a> = &'a dyn Fn(&mut Vec<u8>);
/// Records to craft, the one that must be refused, and the reason's words.
type Case<'a> = (&'a [(crate::record::Kind, Body<'a>)], usize, &'a str);

/// Writes segment 1 of `dir` from `records` (kind, payload writer), after
/// its header; returns each record's offset.
fn craft(dir: &std::path::Path, records: &[(crate::record::Kind, Body<'_>)]) -> Vec<u64> {
    use crate::record::{segment_header, write_frame};
    std::fs::create_dir_all(dir).unwrap();
    let mut bytes = segment_header(1).to_vec();
    let mut offsets = Vec::new();
    for (kind, body) in records {
        let at = bytes.len() as u64;
        offsets.push(at);
        write_frame(&mut bytes, 1, at, *kind, body);
    }
    std::fs::write(dir.join(crate::segment::Segment::file_name(1)), bytes).unwrap();
    offsets
}

#[test]
fn valid_records_that_break_the_log_are_corruption() {
    use crate::record::{Kind, payload};
    let checkpoint: Body<'_> = &|o| payload::checkpoint(o, 0, b"", 1, None);
    let gap: Body<'_> = &|o| {
        payload::entries_head(o, 5, 1);
        payload::put_bytes(o, b"x");
    };
    let truncate: Body<'_> = &|o| payload::index_and(o, 9, &[]);
    let cases: [Case<'_>; 3] = [
        (
            &[(Kind::Checkpoint, checkpoint), (Kind::Entries, gap)],
            1,
            "entries start at 5",
        ),
        (
            &[(Kind::Entries, gap)],
            0,
            "does not start with a checkpoint",
        ),
        (
            &[(Kind::Checkpoint, checkpoint), (Kind::Truncate, truncate)],
            1,
            "outside the log",
        ),
    ];
    for (i, (records, bad, expected)) in cases.into_iter().enumerate() {
        let dir = temp_dir(&format!("logical-{i}"));
        let offsets = craft(&dir, records);
        match Wal::open(&dir, WalOptions::default()) {
            Err(WalError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, offsets[bad], "{reason}");
                assert!(reason.contains(expected), "{reason}");
            }
            other => panic!("case {i}: {:?}", other.map(|(_, r)| r)),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
