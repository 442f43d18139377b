//! [`Storage`]: where a member keeps its replicated log, hard state and
//! latest snapshot; the [`InMemoryLogStore`] default and the
//! [`DurableStore`](super::DurableStore) on disk.
//!
//! Entries are stored with the engine's **ballot** terms ([`Ballot`] =
//! `(round, owner)`): a restarted member must get back exactly the terms it
//! acknowledged, or log matching breaks. The public [`Term`](super::Term) is
//! the ballot's round.
//!
//! # Contract (v2)
//!
//! - **Writes are visible at once, durable after [`Storage::flush`].** The
//!   driver carries out a run of consecutive writes, then awaits one
//!   `flush` before anything that depends on them leaves the member or is
//!   applied (group commit). A store may do its disk work on another
//!   thread; reads must already see every write made before them.
//! - **Appends never overwrite.** [`Storage::append_entries`] takes the
//!   index of the first entry, which must be `last + 1`; anything else is a
//!   [`StorageError::ContractViolation`] and stores nothing. To replace a
//!   suffix, [`Storage::truncate`] first. The driver calls
//!   [`Storage::append_owned`], the same append with the entries handed
//!   over; by default it lends them to `append_entries`.
//! - **Read back when the group starts.** The driver reads entries only to
//!   restore a member at its start; afterwards the engine's own log serves
//!   every read, and writes keep storage in step with it.
//! - **Pruning needs a snapshot.** [`Storage::prune_prefix`] is refused
//!   ([`StorageError::NoSnapshot`]) unless a snapshot at or after the prune
//!   point was saved; [`Storage::save_snapshot`] must reach the disk before
//!   any later write does, so a durable prune always has its snapshot.
//! - **Errors are final.** Every operation is fallible (a disk can fail);
//!   an error stops the group cleanly (handles then report
//!   `GroupTerminated`), it never panics. A store whose disk failed should
//!   refuse every later call.
//!
//! [`conformance::run`] checks all of this against any implementation.

pub mod conformance;
mod memory;

pub use memory::InMemoryLogStore;
use {crate::PeerId, bytes::Bytes, core::ops::RangeInclusive};

/// An engine term: `(round, owner)`.
pub type Ballot = mosaik_raft::Term<PeerId>;
/// A position in the engine's log (ballot term + index).
pub type LogCursor = mosaik_raft::Cursor<PeerId>;
/// An engine log index (`LogIndex(5)`; 0 is the empty log's sentinel).
pub use mosaik_raft::Index as LogIndex;
/// A stored entry: a ballot term and either a command or a leader's noop.
pub type LogEntry<C> = mosaik_raft::Entry<PeerId, C>;
/// What an entry carries: [`Payload::Command`] or a leader's
/// [`Payload::Noop`].
pub type Payload<C> = mosaik_raft::Payload<C>;
/// Durable term, vote, commit records and the catch-up marker.
pub type HardState = mosaik_raft::HardState<PeerId>;

/// A state-machine snapshot kept by the storage: the machine after applying
/// every entry up to and including `at`, in the state-sync strategy's item
/// encoding (opaque to the storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The last log position the snapshot reflects.
    pub at: LogCursor,
    /// The encoded machine.
    pub data: Bytes,
}

/// A storage failure. Every variant stops the group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A disk operation failed.
    #[error("storage: {op} failed: {detail}")]
    Io {
        /// What was being done.
        op: String,
        /// The operating system's error, with the path.
        detail: String,
    },
    /// The device is full.
    #[error("storage: no space left on device ({detail})")]
    NoSpace {
        /// The failed operation and path.
        detail: String,
    },
    /// Stored data is damaged (or does not decode); the store refuses to
    /// guess.
    #[error("storage: corrupt data in {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file (or the store's directory).
        file: String,
        /// Byte offset of the damage in `file` (0 when unknown).
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The caller broke the storage contract (an append that does not
    /// continue the log, a truncation into the pruned prefix, ...). Nothing
    /// was stored.
    #[error("storage contract violated: {0}")]
    ContractViolation(String),
    /// A prune without a saved snapshot at or after its index.
    #[error("storage: cannot prune up to {up_to} without a snapshot there (newest: {newest:?})")]
    NoSnapshot {
        /// The index the prune asked for.
        up_to: u64,
        /// The newest saved snapshot's index, if any.
        newest: Option<u64>,
    },
    /// The store failed earlier and refuses every call since.
    #[error("storage: refusing calls after an earlier failure: {0}")]
    Poisoned(String),
    /// The store's I/O thread is gone.
    #[error("storage: closed")]
    Closed,
    /// Anything else (see [`StorageError::new`]).
    #[error("storage failed: {0}")]
    Other(String),
}

impl StorageError {
    /// An [`StorageError::Other`] with a message.
    pub fn new(message: impl core::fmt::Display) -> Self {
        Self::Other(message.to_string())
    }

    /// A [`StorageError::ContractViolation`].
    pub fn contract(message: impl core::fmt::Display) -> Self {
        Self::ContractViolation(message.to_string())
    }
}

/// A member's durable log, hard state and snapshot. See the
/// [module docs](self) for the contract; [`conformance::run`] checks it.
///
/// Indexes are 1-based and contiguous after the base; index 0 / the base is
/// a sentinel holding no entry; pruning keeps indexes stable; `reset_to`
/// drops every entry.
pub trait Storage<C>: Send + 'static {
    /// The stored hard state (default state when never written).
    fn hard_state(&self) -> Result<HardState, StorageError>;

    /// Replaces the hard state.
    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError>;

    /// Stores `entries` at `first, first + 1, ...` and returns the new last
    /// index. `first` must be `last().index + 1` (a
    /// [`StorageError::ContractViolation`] otherwise, storing nothing).
    fn append_entries(
        &mut self,
        first: LogIndex,
        entries: &[LogEntry<C>],
    ) -> Result<LogIndex, StorageError>;

    /// [`append_entries`](Self::append_entries) with the entries handed
    /// over, which the driver uses: a store that keeps entries in memory
    /// can move them instead of copying each. The default lends them to
    /// `append_entries`.
    fn append_owned(
        &mut self,
        first: LogIndex,
        entries: Vec<LogEntry<C>>,
    ) -> Result<LogIndex, StorageError> {
        self.append_entries(first, &entries)
    }

    /// Indexes currently held: `first ..= last` (empty, i.e. `last + 1 ..=
    /// last`, when nothing is held).
    fn available(&self) -> RangeInclusive<LogIndex>;

    /// The entry at `index`, if held.
    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError>;

    /// Entries in `range` that are held (others skipped), in order.
    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError>;

    /// Removes the entries at `at` and after (a no-op past the end; an
    /// error at or before the base).
    fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError>;

    /// The base: the position before the first held entry (zero for a log
    /// that was never pruned).
    fn base(&self) -> LogCursor;

    /// The last position (the base when empty).
    fn last(&self) -> LogCursor;

    /// The term at `index`: the base's term at the base, `None` if not held.
    fn term_at(&self, index: LogIndex) -> Result<Option<Ballot>, StorageError> {
        if index == self.base().index {
            return Ok(Some(self.base().term));
        }
        Ok(self.get(index)?.map(|e| e.term))
    }

    /// Drops entries up to and including `up_to.index`; the base becomes
    /// `up_to`. Indexes of the remaining entries do not change. A no-op at
    /// or before the base; [`StorageError::NoSnapshot`] unless a snapshot
    /// at or after `up_to.index` was saved.
    fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError>;

    /// Drops every entry; the log restarts right after `base` (snapshot
    /// install: save the snapshot first).
    fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError>;

    /// Replaces the stored snapshot. It must reach the disk before any
    /// later write does (a prune relies on it).
    fn save_snapshot(&mut self, snapshot: StoredSnapshot) -> Result<(), StorageError>;

    /// The stored snapshot, if any.
    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError>;

    /// Whether the driver writes commands to this store (the default). Only
    /// the positions-only store a group builder starts with says no.
    #[doc(hidden)]
    fn keeps_commands(&self) -> bool {
        true
    }

    /// Whether what this store holds survives a restart (the default). For
    /// a store that forgets everything anyway (the in-memory one) the
    /// driver skips encoding the machine into the snapshots it saves
    /// before a prune: they then carry only their position.
    fn is_durable(&self) -> bool {
        true
    }

    /// The durability barrier: resolves once every earlier write is
    /// durable. Must not block the async runtime.
    fn flush(&mut self) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// Empties the log and drops the stored snapshot: the member is back at
/// the machine's initial state (a dynamic-mode member whose snapshot the
/// winning history disproved). The stored snapshot is replaced by an empty
/// one at 0, which a restart restores as no snapshot; kept, it would be
/// restored as the member's state. A crash between the two writes brings
/// the discarded history back, which the leader then disproves again.
pub(crate) fn reset_to_initial<C, S: Storage<C> + ?Sized>(
    storage: &mut S,
) -> Result<(), StorageError> {
    let initial = LogCursor::zero();
    storage.reset_to(initial)?;
    if storage
        .snapshot()?
        .is_some_and(|s| s.at.index > LogIndex::ZERO)
    {
        storage.save_snapshot(StoredSnapshot {
            at: initial,
            data: Bytes::new(),
        })?;
    }
    Ok(())
}
