//! [`DurableStore`]: a [`Storage`] on disk, over the `mosaik-wal`
//! write-ahead log.
//!
//! Reads come from an in-memory copy of the log (the WAL keeps only an
//! index in memory; a second copy keeps reads free of disk I/O on the
//! worker loop). Writes update the copy at once and go, in order, to one
//! dedicated thread that owns the WAL; [`Storage::flush`] asks that thread
//! for one `fdatasync` and resolves when it is done, so the async runtime
//! never waits on the disk. The first disk failure (`ENOSPC`, an I/O error)
//! makes every later call fail, and the group stops with that error.
//!
//! Encodings (postcard): the hard state; each entry as its ballot plus the
//! command's [`Datum`] encoding (none for a noop); the base's and the
//! snapshot's position as a [`LogCursor`]. The snapshot data is stored as
//! the driver hands it over.

mod io;

pub use mosaik_wal::WalOptions;

use {
    super::{
        Ballot, HardState, InMemoryLogStore, LogCursor, LogEntry, LogIndex, Storage, StorageError,
        StoredSnapshot,
    },
    crate::primitives::{Datum, encoding},
    bytes::Bytes,
    core::ops::RangeInclusive,
    io::{Io, Op, from_wal},
    mosaik_wal::Wal,
    std::path::{Path, PathBuf},
};

/// A member's log, hard state and snapshot in a directory on disk
/// (one directory per group member; it is locked while open).
///
/// ```no_run
/// # async fn f(network: mosaik::Network, key: mosaik::groups::GroupKey) -> Result<(), mosaik::groups::StorageError> {
/// use mosaik::groups::{DurableStore, NoOp};
/// let group = network
///     .groups()
///     .with_key(key)
///     .with_state_machine(NoOp)
///     .with_log_storage(DurableStore::open("/var/lib/member/group")?)
///     .join();
/// # Ok(()) }
/// ```
pub struct DurableStore<C> {
    mirror: InMemoryLogStore<C>,
    io: Io,
    dir: PathBuf,
}

impl<C> core::fmt::Debug for DurableStore<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DurableStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl<C: Datum + Clone> DurableStore<C> {
    /// Opens (creating if needed) the store in `dir` and recovers what is
    /// durable. Reads the whole log once (blocking; call it before
    /// joining). Fails on damaged data ([`StorageError::Corrupt`]) or when
    /// another store has the directory open.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::open_with(dir, WalOptions::default())
    }

    /// [`DurableStore::open`] with WAL options (segment size).
    pub fn open_with(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        let (wal, recovered) = Wal::open(&dir, options).map_err(from_wal)?;
        if let Some(torn) = &recovered.torn_tail {
            tracing::warn!(
                file = %torn.file.display(),
                offset = torn.offset,
                "storage: cut off a torn write at the end of the log"
            );
        }
        let corrupt = |what: String| StorageError::Corrupt {
            file: dir.display().to_string(),
            offset: 0,
            reason: what,
        };
        let hard = match wal.hard_state() {
            Some(bytes) => decode_hard_state(bytes)
                .map_err(|err| corrupt(format!("hard state does not decode: {err}")))?,
            None => HardState::default(),
        };
        let (base_index, base_meta) = wal.base();
        let base = decode_cursor(base_index, base_meta)
            .map_err(|err| corrupt(format!("base does not decode: {err}")))?;
        let snapshot = match wal.load_snapshot().map_err(from_wal)? {
            Some(s) => {
                let at = decode_cursor(s.index, &s.meta)
                    .map_err(|err| corrupt(format!("snapshot position does not decode: {err}")))?;
                Some(StoredSnapshot {
                    at,
                    data: Bytes::from(s.data),
                })
            }
            None => None,
        };
        let mut terms = TermCache::default();
        let entries = wal
            .entries(..)
            .map_err(from_wal)?
            .into_iter()
            .map(|(index, bytes)| {
                terms
                    .decode(&bytes)
                    .map_err(|err| corrupt(format!("entry {index} does not decode: {err}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mirror = InMemoryLogStore::from_parts(&hard, base, entries, snapshot);
        let io = Io::start(wal, "mosaik-storage".into())?;
        Ok(Self { mirror, io, dir })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks an append and queues its entries for the log; the caller then
    /// adds them to the mirror.
    fn write_append(
        &mut self,
        first: LogIndex,
        entries: &[LogEntry<C>],
    ) -> Result<(), StorageError> {
        self.io.check()?;
        self.mirror.check_append(first)?;
        if entries.is_empty() {
            return Ok(());
        }
        let encoded = entries
            .iter()
            .map(encode_entry)
            .collect::<Result<Vec<_>, _>>()?;
        self.io.send(Op::Append {
            first: first.0,
            entries: encoded,
        })
    }
}

fn decode_cursor(index: u64, meta: &[u8]) -> Result<LogCursor, String> {
    if meta.is_empty() {
        if index == 0 {
            return Ok(LogCursor::zero());
        }
        return Err(format!("no term stored for index {index}"));
    }
    let cursor: LogCursor = encoding::deserialize(meta).map_err(|err| err.to_string())?;
    if cursor.index.0 == index {
        Ok(cursor)
    } else {
        Err(format!("stored position {} at index {index}", cursor.index))
    }
}

fn encode_entry<C: Datum>(entry: &LogEntry<C>) -> Result<Bytes, StorageError> {
    let command =
        match &entry.payload {
            mosaik_raft::Payload::Noop => None,
            mosaik_raft::Payload::Command(c) => Some(c.encode().map_err(|err| {
                StorageError::contract(format!("a command does not encode: {err}"))
            })?),
        };
    encoding::try_serialize(&(entry.term, command))
        .map_err(|err| StorageError::contract(format!("an entry does not encode: {err}")))
}

fn decode_entry<C: Datum>(bytes: &[u8]) -> Result<LogEntry<C>, String> {
    let (term, command): (Ballot, Option<Bytes>) =
        encoding::deserialize(bytes).map_err(|err| err.to_string())?;
    Ok(match command {
        None => LogEntry::noop(term),
        Some(bytes) => LogEntry::command(term, C::decode(&bytes).map_err(|err| err.to_string())?),
    })
}

/// An entry's encoding read without validating its ballot's owner: a
/// peer id is a curve point, and checking one costs tens of microseconds
/// (measured: most of the time of opening a log of 1 M entries).
type RawEntry = ((u64, Option<[u8; 32]>), Option<Bytes>);

/// Decodes stored entries, validating each distinct ballot once: entries
/// of one term are consecutive, so the last ballot seen is reused while
/// its encoded round and owner match.
#[derive(Default)]
struct TermCache {
    last: Option<((u64, [u8; 32]), Ballot)>,
}

impl TermCache {
    fn decode<C: Datum>(&mut self, bytes: &[u8]) -> Result<LogEntry<C>, String> {
        let ((round, owner), command): RawEntry =
            encoding::deserialize(bytes).map_err(|err| err.to_string())?;
        let cached = match (owner, &self.last) {
            (Some(owner), Some((key, term))) if *key == (round, owner) => Some(*term),
            _ => None,
        };
        let Some(term) = cached else {
            // First entry of a term (or an unowned one): the full decode
            // validates it.
            let entry = decode_entry::<C>(bytes)?;
            if let Some(owner) = owner {
                self.last = Some(((round, owner), entry.term));
            }
            return Ok(entry);
        };
        Ok(match command {
            None => LogEntry::noop(term),
            Some(bytes) => {
                LogEntry::command(term, C::decode(&bytes).map_err(|err| err.to_string())?)
            }
        })
    }
}

/// A stored hard state, in the current layout or in one of the three written
/// by earlier builds: without `pruned_terms` (its last field), also without
/// `records` (the one before), or also without `lost_storage` and `epoch`
/// (the two before that). Each older layout is the current one cut short, so
/// a log written by an earlier build still opens; the missing fields take
/// their defaults (no records: a restart keeps the peak and the latest, as
/// those builds did; no pruned terms: a contest below the snapshot's base is
/// judged at the latest the split can be, as those builds judged it).
fn decode_hard_state(bytes: &[u8]) -> Result<HardState, encoding::DecodeError> {
    /// The layout without `lost_storage`, `epoch`, `records` and `pruned_terms`.
    #[derive(serde::Deserialize)]
    struct WithoutLostStorage {
        term: crate::groups::Ballot,
        vote: Option<crate::PeerId>,
        commit: LogIndex,
        commit_weight: u64,
        peak: (LogIndex, u64),
        catching_up: bool,
    }
    /// The layout without `records` and `pruned_terms` (the encoding has no
    /// framing, so the shorter layout nests).
    #[derive(serde::Deserialize)]
    struct WithoutRecords {
        first: WithoutLostStorage,
        lost_storage: bool,
        epoch: u64,
    }
    /// The layout without `pruned_terms`.
    #[derive(serde::Deserialize)]
    struct WithoutPrunedTerms {
        first: WithoutRecords,
        records: mosaik_raft::CommitRecords,
    }
    let older = |old: WithoutLostStorage, lost_storage, epoch, records| HardState {
        term: old.term,
        vote: old.vote,
        commit: old.commit,
        commit_weight: old.commit_weight,
        peak: old.peak,
        catching_up: old.catching_up,
        lost_storage,
        epoch,
        records,
        pruned_terms: mosaik_raft::PrunedTerms::new(),
    };
    let none = mosaik_raft::CommitRecords::new();
    encoding::deserialize::<HardState>(bytes).or_else(|err| {
        if let Ok(old) = encoding::deserialize::<WithoutPrunedTerms>(bytes) {
            let WithoutRecords {
                first,
                lost_storage,
                epoch,
            } = old.first;
            return Ok(older(first, lost_storage, epoch, old.records));
        }
        if let Ok(old) = encoding::deserialize::<WithoutRecords>(bytes) {
            return Ok(older(old.first, old.lost_storage, old.epoch, none));
        }
        let old = encoding::deserialize::<WithoutLostStorage>(bytes).map_err(|_| err)?;
        // `lost_storage` was unknown then; the catch-up marker still implies it on restore.
        Ok(older(old, false, 0, none))
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Bytes, StorageError> {
    encoding::try_serialize(value).map_err(|err| StorageError::contract(err.to_string()))
}

impl<C: Datum + Clone + Sync> Storage<C> for DurableStore<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        self.io.check()?;
        self.mirror.hard_state()
    }

    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError> {
        self.io.check()?;
        self.io.send(Op::HardState(encode(&state)?))?;
        self.mirror.set_hard_state(state)
    }

    fn append_entries(
        &mut self,
        first: LogIndex,
        entries: &[LogEntry<C>],
    ) -> Result<LogIndex, StorageError> {
        self.write_append(first, entries)?;
        self.mirror.append_entries(first, entries)
    }

    fn append_owned(
        &mut self,
        first: LogIndex,
        entries: Vec<LogEntry<C>>,
    ) -> Result<LogIndex, StorageError> {
        self.write_append(first, &entries)?;
        self.mirror.append_owned(first, entries)
    }

    fn available(&self) -> RangeInclusive<LogIndex> {
        self.mirror.available()
    }

    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError> {
        self.io.check()?;
        self.mirror.get(index)
    }

    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError> {
        self.io.check()?;
        self.mirror.get_range(range)
    }

    fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError> {
        self.io.check()?;
        self.mirror.check_truncate(at)?;
        if at <= self.mirror.last().index {
            self.io.send(Op::Truncate(at.0))?;
        }
        self.mirror.truncate(at)
    }

    fn base(&self) -> LogCursor {
        self.mirror.base()
    }

    fn last(&self) -> LogCursor {
        self.mirror.last()
    }

    fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError> {
        self.io.check()?;
        if !self.mirror.check_prune(up_to)? {
            return Ok(());
        }
        self.io.send(Op::Prune {
            index: up_to.index.0,
            meta: encode(&up_to)?,
        })?;
        self.mirror.prune_prefix(up_to)
    }

    fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError> {
        self.io.check()?;
        self.mirror.check_reset(base)?;
        let meta = if base.index == LogIndex::ZERO {
            Bytes::new()
        } else {
            encode(&base)?
        };
        self.io.send(Op::Reset {
            index: base.index.0,
            meta,
        })?;
        self.mirror.reset_to(base)
    }

    fn save_snapshot(&mut self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
        self.io.check()?;
        self.mirror.check_snapshot(snapshot.at)?;
        self.io.send(Op::Snapshot {
            index: snapshot.at.index.0,
            meta: encode(&snapshot.at)?,
            data: snapshot.data.clone(),
        })?;
        self.mirror.save_snapshot(snapshot)
    }

    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        self.io.check()?;
        self.mirror.snapshot()
    }

    fn is_durable(&self) -> bool {
        true
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), StorageError>> + Send {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // No early check: after a failure the thread answers with the
        // original, typed error (`NoSpace`, `Io`), not `Poisoned`.
        let sent = self.io.send(Op::Flush(tx));
        async move {
            sent?;
            rx.await.unwrap_or(Err(StorageError::Closed))
        }
    }
}

#[cfg(test)]
mod tests;
