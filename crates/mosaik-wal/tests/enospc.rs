//! A full disk: `ENOSPC` is `WalError::NoSpace`, poisons the log, and a
//! reopen still recovers everything that was synced.

mod common;

use {
    common::{TestDir, append_range, assert_entries, entry, open},
    mosaik_wal::{Wal, WalError, WalOptions},
    std::{fs, path::Path, process::Command},
};

#[test]
fn a_snapshot_write_to_a_full_device_is_no_space() {
    if !Path::new("/dev/full").exists() {
        println!("note: /dev/full is missing; skipping");
        return;
    }
    let dir = TestDir::new("devfull");
    let (mut wal, _) = open(dir.path());
    append_range(&mut wal, 1, 5);
    wal.sync().unwrap();
    // The temporary snapshot file is opened by name: aim it at /dev/full.
    std::os::unix::fs::symlink("/dev/full", dir.path().join("snapshot.tmp")).unwrap();
    let err = wal.save_snapshot(5, b"m", &vec![1u8; 1 << 16]).unwrap_err();
    assert!(err.is_no_space(), "{err}");
    assert!(matches!(wal.append(6, &[b"x"]), Err(WalError::Poisoned(_))));
    drop(wal);
    let (wal, rec) = open(dir.path());
    assert_eq!(rec.snapshot, None);
    assert_entries(&wal, 1, 5);
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

/// A mounted tmpfs, unmounted on drop.
struct Tmpfs(TestDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        if !is_root() {
            println!("note: not root; skipping the tmpfs ENOSPC test");
            return None;
        }
        let dir = TestDir::new("tmpfs");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        if status.is_ok_and(|s| s.success()) {
            Some(Self(dir))
        } else {
            println!("note: mounting a tmpfs failed; skipping the tmpfs ENOSPC test");
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn filling_a_small_filesystem_is_no_space_and_synced_entries_survive() {
    let Some(fs) = Tmpfs::mount("256k") else {
        return;
    };
    let dir = fs.0.path().join("wal");
    let options = WalOptions::default().with_segment_bytes(32 << 10);
    let (mut wal, _) = Wal::open(&dir, options).unwrap();
    let mut synced = 0;
    let err = loop {
        let index = synced + 1;
        if let Err(e) = wal.append(index, &[kib(index)]).and_then(|()| wal.sync()) {
            break e;
        }
        synced = index;
        assert!(synced < 10_000, "the filesystem never filled");
    };
    assert!(synced > 100, "filled after {synced} entries");
    assert!(err.is_no_space(), "{err}");
    assert!(err.to_string().contains("no space left on device"), "{err}");
    assert!(matches!(wal.sync(), Err(WalError::Poisoned(_))));
    drop(wal);
    let (wal, rec) = Wal::open(&dir, options).unwrap();
    assert!(rec.last_index >= synced, "{} < {synced}", rec.last_index);
    for (index, bytes) in wal.entries(..=synced).unwrap() {
        assert_eq!(bytes, kib(index));
    }
    drop(wal);
}

/// A 1 KiB entry that names its index.
fn kib(index: u64) -> Vec<u8> {
    let mut bytes = entry(index);
    bytes.resize(1024, 0xee);
    bytes
}
