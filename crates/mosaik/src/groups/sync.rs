//! State sync strategies.
//!
//! Catch-up of a lagging member is done inside the consensus engine by log
//! repair (the leader streams missing entries, at most
//! `4 × max_append_entries` in flight per follower), as long as the leader
//! still holds them. A [`StateSync`] strategy is what a member would use
//! when the entries it needs were pruned; its signature is part of the group
//! id so all members agree on it.

use {
    super::StateMachine,
    crate::{UniqueId, primitives::Datum},
    bytes::Bytes,
    core::{marker::PhantomData, num::NonZero, time::Duration},
};

/// A catch-up strategy for one state machine type.
///
/// The snapshot hooks have defaults that disable snapshots (log replay
/// only). A strategy that implements them lets the driver compact the log
/// and bring a member whose needed entries are gone up to date by copying a
/// snapshot from the leader.
pub trait StateSync: Send + Sync + 'static {
    /// The machine it syncs.
    type Machine: StateMachine;

    /// Identifies the strategy and its settings; part of the group id.
    fn signature(&self) -> UniqueId;

    /// Take a snapshot and prune the log once this many applied entries
    /// follow the last snapshot. `None` (the default): never prune.
    fn compaction_threshold(&self) -> Option<u64> {
        None
    }

    /// The machine's state as bytes (called right after an apply batch).
    fn snapshot(&self, machine: &Self::Machine) -> Option<Bytes> {
        let _ = machine;
        None
    }

    /// Replaces `machine`'s state with a snapshot made by
    /// [`StateSync::snapshot`] (possibly on another member).
    fn install(&self, machine: &mut Self::Machine, snapshot: &[u8]) -> Result<(), InvalidSnapshot> {
        let _ = (machine, snapshot);
        Err(InvalidSnapshot(
            "snapshots are not supported by this strategy".into(),
        ))
    }
}

/// A snapshot that could not be installed (it comes from a peer, so this is
/// an error, never a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid snapshot: {0}")]
pub struct InvalidSnapshot(pub String);

/// One element of a [`Snapshot`]: what is sent over the wire in batches.
pub trait SnapshotItem: Datum + Clone + Send + Sync + 'static {}
impl<T: Datum + Clone + Send + Sync + 'static> SnapshotItem for T {}

/// A machine's state as a sequence of items, so it can be transferred in
/// batches (possibly from several peers at once) instead of one frame.
///
/// `iter_range` must yield the items in the same order for the same
/// snapshot on every member: a receiver assembles ranges fetched from
/// different peers holding equal snapshots.
pub trait Snapshot: Default + Clone + Send + Sync + 'static {
    /// One element.
    type Item: SnapshotItem;

    /// Number of items.
    fn len(&self) -> u64;

    /// True when there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items `range` in the snapshot's deterministic order; `None` when the
    /// range reaches past the end.
    fn iter_range(
        &self,
        range: core::ops::Range<u64>,
    ) -> Option<impl Iterator<Item = Self::Item> + '_>;

    /// Appends items (a receiver rebuilding a snapshot batch by batch).
    fn append(&mut self, items: impl IntoIterator<Item = Self::Item>);
}

/// A machine whose whole state can be copied: what [`SnapshotSync`] needs.
/// Collections implement it with persistent (`imbl`) structures, so a
/// snapshot is cheap to take.
pub trait SnapshotStateMachine: StateMachine {
    /// The state as items.
    type Snapshot: Snapshot;

    /// Copies the current state (should be O(1) with persistent
    /// structures).
    fn create_snapshot(&self) -> Self::Snapshot;

    /// Replaces the state.
    fn install_snapshot(&mut self, snapshot: Self::Snapshot);
}

/// Catch-up by snapshot: the log is compacted every `compaction_threshold`
/// entries; a member that needs pruned entries receives a snapshot and
/// replays the log after it.
///
/// Settings (SPEC §1.6 `SyncConfig`): `fetch_batch_size` items per fetch
/// request (2000), `snapshot_ttl` how long a served snapshot is kept after
/// its last fetch (10 s), `snapshot_request_timeout` before a snapshot
/// request is repeated (15 s), `fetch_timeout` before a silent peer is
/// dropped from a transfer (5 s). All are part of the signature.
#[derive(Debug)]
pub struct SnapshotSync<M> {
    compaction_threshold: u64,
    fetch_batch_size: NonZero<u64>,
    snapshot_ttl: Duration,
    snapshot_request_timeout: Duration,
    fetch_timeout: Duration,
    _machine: PhantomData<fn() -> M>,
}

impl<M> Clone for SnapshotSync<M> {
    fn clone(&self) -> Self {
        Self {
            _machine: PhantomData,
            ..*self
        }
    }
}

impl<M> Default for SnapshotSync<M> {
    fn default() -> Self {
        Self {
            compaction_threshold: 2000,
            fetch_batch_size: NonZero::new(2000).expect("non-zero"),
            snapshot_ttl: Duration::from_secs(10),
            snapshot_request_timeout: Duration::from_secs(15),
            fetch_timeout: Duration::from_secs(5),
            _machine: PhantomData,
        }
    }
}

impl<M> SnapshotSync<M> {
    /// Applied entries between snapshots (at least 1).
    #[must_use]
    pub fn with_compaction_threshold(mut self, entries: u64) -> Self {
        self.compaction_threshold = entries.max(1);
        self
    }

    /// Items per fetch request.
    #[must_use]
    pub fn with_fetch_batch_size(mut self, items: NonZero<u64>) -> Self {
        self.fetch_batch_size = items;
        self
    }

    /// How long a served snapshot is kept after its last fetch.
    #[must_use]
    pub fn with_snapshot_ttl(mut self, ttl: Duration) -> Self {
        self.snapshot_ttl = ttl;
        self
    }

    /// How long to wait for a snapshot offer before asking again.
    #[must_use]
    pub fn with_snapshot_request_timeout(mut self, timeout: Duration) -> Self {
        self.snapshot_request_timeout = timeout;
        self
    }

    /// How long one fetch may take before the peer is dropped.
    #[must_use]
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Applied entries between snapshots.
    pub fn compaction_threshold(&self) -> u64 {
        self.compaction_threshold
    }

    /// Items per fetch request.
    pub fn fetch_batch_size(&self) -> NonZero<u64> {
        self.fetch_batch_size
    }

    /// How long a served snapshot is kept after its last fetch.
    pub fn snapshot_ttl(&self) -> Duration {
        self.snapshot_ttl
    }

    /// How long to wait for a snapshot offer before asking again.
    pub fn snapshot_request_timeout(&self) -> Duration {
        self.snapshot_request_timeout
    }

    /// How long one fetch may take before the peer is dropped.
    pub fn fetch_timeout(&self) -> Duration {
        self.fetch_timeout
    }
}

impl<M: SnapshotStateMachine> StateSync for SnapshotSync<M> {
    type Machine = M;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik_snapshot_sync")
            .derive(core::any::type_name::<M>())
            .derive(self.compaction_threshold.to_le_bytes())
            .derive(self.fetch_batch_size.get().to_le_bytes())
            .derive(self.snapshot_ttl.as_millis().to_le_bytes())
            .derive(self.snapshot_request_timeout.as_millis().to_le_bytes())
            .derive(self.fetch_timeout.as_millis().to_le_bytes())
    }

    fn compaction_threshold(&self) -> Option<u64> {
        Some(self.compaction_threshold)
    }

    fn snapshot(&self, machine: &M) -> Option<Bytes> {
        let snapshot = machine.create_snapshot();
        // Each item keeps its own (possibly custom) encoding.
        let items = snapshot
            .iter_range(0..snapshot.len())?
            .map(|item| item.encode().map(|b| b.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        items.encode().ok()
    }

    fn install(&self, machine: &mut M, snapshot: &[u8]) -> Result<(), InvalidSnapshot> {
        let encoded =
            <Vec<Vec<u8>>>::decode(snapshot).map_err(|e| InvalidSnapshot(e.to_string()))?;
        let items = encoded
            .iter()
            .map(|b| <M::Snapshot as Snapshot>::Item::decode(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| InvalidSnapshot(e.to_string()))?;
        let mut state = M::Snapshot::default();
        state.append(items);
        machine.install_snapshot(state);
        Ok(())
    }
}

/// Catch-up by replaying the log (the default for custom machines). The
/// log is never pruned, so the engine's log repair always has the entries.
#[derive(Debug)]
pub struct LogReplaySync<M> {
    batch_size: NonZero<u64>,
    fetch_timeout: Duration,
    _machine: PhantomData<fn() -> M>,
}

impl<M> Clone for LogReplaySync<M> {
    fn clone(&self) -> Self {
        Self {
            batch_size: self.batch_size,
            fetch_timeout: self.fetch_timeout,
            _machine: PhantomData,
        }
    }
}

impl<M> Default for LogReplaySync<M> {
    fn default() -> Self {
        Self {
            batch_size: NonZero::new(2000).expect("non-zero"),
            fetch_timeout: Duration::from_secs(25),
            _machine: PhantomData,
        }
    }
}

impl<M> LogReplaySync<M> {
    /// Entries per fetch.
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: NonZero<u64>) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// How long one fetch may take.
    #[must_use]
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Entries per fetch.
    pub fn batch_size(&self) -> NonZero<u64> {
        self.batch_size
    }

    /// How long one fetch may take.
    pub fn fetch_timeout(&self) -> Duration {
        self.fetch_timeout
    }
}

impl<M: StateMachine> StateSync for LogReplaySync<M> {
    type Machine = M;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik_log_replay_sync")
            .derive(core::any::type_name::<M>())
            .derive(self.batch_size.get().to_le_bytes())
            .derive(self.fetch_timeout.as_secs().to_le_bytes())
    }
}
