//! [`Wal`]: the write-ahead log and snapshot store of one group member —
//! opening and the write path; reads are in `read.rs`, segment rotation
//! and reclaiming in `space.rs`.

mod read;
mod space;

use {
    crate::{
        WalOptions,
        error::{IoContext, WalError},
        record::{FRAME_HEADER, Kind, MAX_PAYLOAD, payload},
        recover::{self, Recovered},
        segment::Segment,
        snapshot::SnapshotStore,
        state::{Loc, LogState},
        sync_dir,
    },
    std::{
        collections::VecDeque,
        fs::{self, File, TryLockError},
        path::{Path, PathBuf},
        time::{Duration, Instant},
    },
};

/// An entries record is closed once its payload passes this size, so
/// recovery never holds more than this much of a batch in one record.
const RECORD_TARGET: usize = 4 << 20;
/// The largest entry, hard state or metadata accepted.
const MAX_BLOB: usize = MAX_PAYLOAD / 4;

/// A member's durable log: entries at `u64` indexes after a base, a hard
/// state and one snapshot, all opaque bytes.
///
/// Writes (`append`, `truncate_from`, `set_hard_state`, `prune_to`,
/// `reset_to`) are buffered and visible to reads at once; [`Wal::sync`] makes
/// everything before it durable with one `fdatasync`, so many writes share
/// one disk flush. Snapshot saves are durable when they return.
///
/// Dropping a `Wal` without `sync` is a crash: buffered writes may or may not
/// survive (some may already have been handed to the OS). A failed write or
/// sync poisons the log ([`WalError::Poisoned`]); reopen it to continue from
/// what is durable.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    /// Held for the `Wal`'s life: one writer per directory.
    _lock: File,
    /// Consecutive sequence numbers; the last one is written to.
    segments: VecDeque<Segment>,
    state: LogState,
    snapshots: SnapshotStore,
    /// A segment was created since the last directory sync.
    dir_dirty: bool,
    poisoned: Option<String>,
    /// Test hook: the next sync fails with this error.
    #[cfg(test)]
    pub(crate) fail_next_sync: Option<std::io::ErrorKind>,
}

impl Wal {
    /// Opens (creating if needed) the log in `dir` and recovers it.
    ///
    /// A torn write at the end of the log is cut off (reported in
    /// [`Recovered::torn_tail`]); any other damage is [`WalError::Corrupt`].
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<(Self, Recovered), WalError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).ctx("create directory", &dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock = lock_dir(&dir)?;
        let snapshots = SnapshotStore::open(&dir)?;
        let mut wal = Self {
            dir,
            options,
            _lock: lock,
            segments: VecDeque::new(),
            state: LogState::default(),
            snapshots,
            dir_dirty: false,
            poisoned: None,
            #[cfg(test)]
            fail_next_sync: None,
        };
        let snapshot = wal.snapshots.info().cloned();
        let torn_tail = if let Some(replayed) =
            recover::replay(&wal.dir, snapshot.as_ref().map(|s| s.index), wal.fill())?
        {
            wal.state = replayed.state;
            wal.segments = replayed.segments;
            replayed.torn_tail
        } else {
            // A new log: its first segment is durable before `open` returns,
            // so recovery can rely on one existing.
            wal.start_segment(1)?;
            wal.sync()?;
            None
        };
        let recovered = Recovered {
            hard_state: wal.state.hard_state.clone(),
            snapshot,
            base_index: wal.state.base,
            base_meta: wal.state.base_meta.clone(),
            last_index: wal.state.last(),
            torn_tail,
        };
        Ok((wal, recovered))
    }

    /// Appends `entries` at `first_index, first_index + 1, ...`.
    ///
    /// `first_index` must be `last_index() + 1`: the log never truncates
    /// implicitly, so an off-by-one in the caller is an error rather than lost
    /// entries. Truncate first with [`Wal::truncate_from`] to overwrite.
    ///
    /// Does not wait for the disk, except when a segment fills: the closed
    /// segment is synced before the next one is created (once per
    /// `segment_bytes`).
    pub fn append<E: AsRef<[u8]>>(
        &mut self,
        first_index: u64,
        entries: &[E],
    ) -> Result<(), WalError> {
        self.writable()?;
        let next = self.state.last() + 1;
        if first_index != next {
            return Err(WalError::contract(
                "append",
                format!("first index {first_index} does not continue the log (next is {next})"),
            ));
        }
        if next
            .checked_add(entries.len() as u64)
            .is_none_or(|end| end == u64::MAX)
        {
            return Err(WalError::contract("append", "index overflow"));
        }
        if let Some(big) = entries
            .iter()
            .map(|e| e.as_ref().len())
            .find(|&len| len > MAX_BLOB)
        {
            return Err(WalError::contract(
                "append",
                format!("entry of {big} bytes exceeds {MAX_BLOB}"),
            ));
        }
        let result = self.append_unchecked(first_index, entries);
        self.poison(result)
    }

    fn append_unchecked<E: AsRef<[u8]>>(
        &mut self,
        mut index: u64,
        mut rest: &[E],
    ) -> Result<(), WalError> {
        while !rest.is_empty() {
            // One record per ~RECORD_TARGET bytes, at least one entry each.
            let mut size = 0;
            let count = rest
                .iter()
                .take_while(|e| {
                    size += 4 + e.as_ref().len();
                    size == 4 + e.as_ref().len() || size <= RECORD_TARGET
                })
                .count();
            let (chunk, tail) = rest.split_at(count);
            let segment = self.room_for_record()?;
            let n = u32::try_from(count).expect("a record holds at most RECORD_TARGET / 4 entries");
            let offset = segment.append(Kind::Entries, |out| {
                payload::entries_head(out, index, n);
                for entry in chunk {
                    payload::put_bytes(out, entry.as_ref());
                }
            });
            let seg = segment.seq;
            // The first entry's length prefix follows the frame header and
            // the 12 bytes of `first` and `count`.
            let mut at = offset + (FRAME_HEADER + 12) as u64;
            for entry in chunk {
                let len = u32::try_from(entry.as_ref().len()).expect("checked against MAX_BLOB");
                self.state.push(Loc {
                    seg,
                    offset: at + 4,
                    len,
                });
                at += 4 + u64::from(len);
            }
            index += u64::from(n);
            rest = tail;
            self.flush_if_large()?;
        }
        Ok(())
    }

    /// Drops the entries at `index` and after (a no-op past the last entry).
    /// Entries at or before the base cannot be truncated.
    pub fn truncate_from(&mut self, index: u64) -> Result<(), WalError> {
        self.writable()?;
        if index <= self.state.base {
            return Err(WalError::contract(
                "truncate_from",
                format!("index {index} is at or before the base {}", self.state.base),
            ));
        }
        if index > self.state.last() {
            return Ok(());
        }
        let result = self.write_record(Kind::Truncate, |out| payload::index_and(out, index, &[]));
        self.poison(result)?;
        self.state.truncate_from(index).expect("checked above");
        Ok(())
    }

    /// Replaces the hard state (the last one written wins).
    pub fn set_hard_state(&mut self, state: &[u8]) -> Result<(), WalError> {
        self.writable()?;
        check_blob("set_hard_state", state)?;
        let result = self.write_record(Kind::HardState, |out| out.extend_from_slice(state));
        self.poison(result)?;
        self.state.hard_state = Some(state.to_vec());
        Ok(())
    }

    /// The durability barrier: every write before it is on disk when it
    /// returns. One `fdatasync` of the current segment (plus a directory sync
    /// after a new segment was started); a no-op when nothing was written.
    /// Segments holding only pruned or dead entries are deleted afterwards.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.writable()?;
        let result = self.sync_now();
        self.poison(result)?;
        self.reclaim();
        Ok(())
    }

    fn sync_now(&mut self) -> Result<(), WalError> {
        let segment = self
            .segments
            .back_mut()
            .expect("a log always has a segment");
        #[cfg(test)]
        if let Some(kind) = self.fail_next_sync.take() {
            return Err(WalError::io("fdatasync", &segment.path, kind.into()));
        }
        segment.sync()?;
        if self.dir_dirty {
            sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Durably stores a snapshot covering entries up to `index`, replacing
    /// the previous one (written to a temporary file, synced, renamed).
    /// `index` may not be before the base: the entries between would be lost.
    pub fn save_snapshot(&mut self, index: u64, meta: &[u8], data: &[u8]) -> Result<(), WalError> {
        self.writable()?;
        if index < self.state.base {
            return Err(WalError::contract(
                "save_snapshot",
                format!("index {index} is before the log's base {}", self.state.base),
            ));
        }
        check_blob("save_snapshot", meta)?;
        let result = self.snapshots.save(index, meta, data);
        self.poison(result)
    }

    /// Drops the entries up to `index`, which becomes the base with
    /// `base_meta`. Requires a durable snapshot at `index` or later
    /// ([`WalError::NoSnapshot`] otherwise); a no-op at or before the base.
    /// Whole segments are deleted by the next [`Wal::sync`].
    pub fn prune_to(&mut self, index: u64, base_meta: &[u8]) -> Result<(), WalError> {
        self.writable()?;
        if index <= self.state.base {
            return Ok(());
        }
        if index > self.state.last() {
            return Err(WalError::contract(
                "prune_to",
                format!(
                    "index {index} is past the last entry {}; use reset_to",
                    self.state.last()
                ),
            ));
        }
        self.require_snapshot(index)?;
        check_blob("prune_to", base_meta)?;
        let result =
            self.write_record(Kind::Prune, |out| payload::index_and(out, index, base_meta));
        self.poison(result)?;
        self.state
            .prune_to(index, base_meta)
            .expect("checked above");
        Ok(())
    }

    /// Drops every entry; the log restarts after `index` with `base_meta`
    /// (installing a snapshot). Requires a durable snapshot at `index` or
    /// later unless `index` is 0.
    pub fn reset_to(&mut self, index: u64, base_meta: &[u8]) -> Result<(), WalError> {
        self.writable()?;
        if index == u64::MAX {
            return Err(WalError::contract("reset_to", "index overflow"));
        }
        if index > 0 {
            self.require_snapshot(index)?;
        }
        check_blob("reset_to", base_meta)?;
        let result =
            self.write_record(Kind::Reset, |out| payload::index_and(out, index, base_meta));
        self.poison(result)?;
        self.state.reset_to(index, base_meta);
        Ok(())
    }

    fn writable(&self) -> Result<(), WalError> {
        match &self.poisoned {
            Some(why) => Err(WalError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// Remembers the first I/O failure; the log refuses writes after it.
    fn poison<T>(&mut self, result: Result<T, WalError>) -> Result<T, WalError> {
        if let Err(e) = &result {
            self.poisoned.get_or_insert_with(|| e.to_string());
        }
        result
    }

    fn require_snapshot(&self, index: u64) -> Result<(), WalError> {
        let newest = self.snapshots.info().map(|s| s.index);
        match newest {
            Some(at) if at >= index => Ok(()),
            _ => Err(WalError::NoSnapshot { index, newest }),
        }
    }
}

/// How long `open` waits for the directory lock. A lock can outlive its
/// `Wal` for a moment: a child process being spawned by another thread holds
/// a copy of the descriptor until it calls `exec`.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Takes the directory's `LOCK` file (`flock`): one open log per directory.
fn lock_dir(dir: &Path) -> Result<File, WalError> {
    let path = dir.join("LOCK");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ctx("open", &path)?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(WalError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(WalError::io("lock", path, e)),
        }
    }
}

fn check_blob(op: &'static str, bytes: &[u8]) -> Result<(), WalError> {
    if bytes.len() > MAX_BLOB {
        return Err(WalError::contract(
            op,
            format!("{} bytes exceed {MAX_BLOB}", bytes.len()),
        ));
    }
    Ok(())
}
