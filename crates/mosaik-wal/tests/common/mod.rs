//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use {
    mosaik_wal::{Recovered, Wal, WalOptions},
    std::{
        fs,
        path::{Path, PathBuf},
        sync::atomic::{AtomicU64, Ordering},
    },
};

/// A fresh directory under cargo's test tmp dir (on the real disk), removed on drop.
pub struct TestDir(pub PathBuf);

impl TestDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("wal-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Entry `i`'s deterministic content (length varies with `i`).
pub fn entry(i: u64) -> Vec<u8> {
    let len = 10 + i * 37 % 90;
    (0..len)
        .map(|k| u8::try_from((i * 31 + k) % 256).unwrap())
        .collect()
}

pub fn open(dir: &Path) -> (Wal, Recovered) {
    Wal::open(dir, WalOptions::default()).unwrap()
}

pub fn open_small(dir: &Path, segment_bytes: u64) -> (Wal, Recovered) {
    Wal::open(dir, WalOptions::default().with_segment_bytes(segment_bytes)).unwrap()
}

/// Options without zeros written ahead: each segment's file ends at its
/// last record, so a test can cut or damage "the end" by file length.
pub fn unfilled() -> WalOptions {
    WalOptions::default().with_preallocate_bytes(0)
}

/// The last byte of `bytes` that is not zero, plus one: where the records
/// of a segment filled ahead end, give or take the last record's padding.
pub fn records_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// Appends entries `from..=to` in one batch.
pub fn append_range(wal: &mut Wal, from: u64, to: u64) {
    let batch: Vec<Vec<u8>> = (from..=to).map(entry).collect();
    wal.append(from, &batch).unwrap();
}

/// Asserts the log holds exactly `entry(i)` for `first..=last`.
pub fn assert_entries(wal: &Wal, first: u64, last: u64) {
    assert_eq!((wal.first_index(), wal.last_index()), (first, last));
    let got = wal.entries(..).unwrap();
    assert_eq!(got.len() as u64, last + 1 - first);
    for (index, bytes) in got {
        assert_eq!(bytes, entry(index), "entry {index}");
    }
}

/// Segment files in `dir`, sorted.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("wal-"))
        .collect();
    out.sort();
    out
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}
