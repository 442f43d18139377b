//! State sync strategies.
//!
//! Catch-up of a lagging member is done inside the consensus engine by log
//! repair (the leader streams missing entries) as long as the leader still
//! holds them. A [`StateSync`] strategy says what happens beyond that:
//! [`LogReplaySync`] never prunes, so log repair always works;
//! [`SnapshotSync`] compacts the log at deterministic anchors and moves a
//! member whose needed entries are gone by a chunked, multi-peer snapshot
//! transfer (see `worker/transfer.rs`). The strategy's signature is part of
//! the group id so all members agree on it.
//!
//! The driver talks to a strategy only through the type-erased hooks of
//! [`StateSync`]: item counts, encoded item ranges and a
//! [`SnapshotBuilder`]. That keeps the worker generic over any
//! `StateMachine` while a snapshot stays the machine value itself (cheap to
//! clone for persistent structures) until a batch is actually served.

mod log_replay;
mod snapshot;
pub(crate) mod wire;

pub use {
    log_replay::LogReplaySync,
    snapshot::{Snapshot, SnapshotItem, SnapshotStateMachine, SnapshotSync},
};

use {super::StateMachine, crate::UniqueId, bytes::Bytes, core::time::Duration};

/// A catch-up strategy for one state machine type.
///
/// Every hook but [`StateSync::signature`] has a default that disables
/// snapshots (log replay only).
pub trait StateSync: Send + Sync + 'static {
    /// The machine it syncs.
    type Machine: StateMachine;

    /// Identifies the strategy and its settings; part of the group id.
    fn signature(&self) -> UniqueId;

    /// Take a snapshot and prune the log at every applied index that is a
    /// multiple of this. `None` (the default): never prune.
    fn compaction_threshold(&self) -> Option<u64> {
        None
    }

    /// How snapshots are transferred; `None` (the default) when this
    /// strategy has no snapshots.
    fn transfer(&self) -> Option<TransferSettings> {
        None
    }

    /// Number of items in a snapshot of `machine`.
    fn snapshot_len(&self, machine: &Self::Machine) -> u64 {
        let _ = machine;
        0
    }

    /// Items `range` of a snapshot of `machine`, each in its own encoding.
    /// Stops early (after at least one item) once `max_bytes` are reached,
    /// so a response always fits a frame; the receiver asks for the rest.
    fn encode_items(
        &self,
        machine: &Self::Machine,
        range: core::ops::Range<u64>,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>, InvalidSnapshot> {
        let _ = (machine, range, max_bytes);
        Err(InvalidSnapshot::unsupported())
    }

    /// A receiver that rebuilds a snapshot from encoded item ranges.
    fn snapshot_builder(&self) -> Option<Box<dyn SnapshotBuilder<Self::Machine>>> {
        None
    }
}

/// Rebuilds a snapshot from encoded ranges fetched from several peers.
pub trait SnapshotBuilder<M>: Send {
    /// Items starting at `offset`, in any order of ranges (ranges never
    /// overlap). Garbage is an error, never a panic: the sender is dropped.
    fn insert(&mut self, offset: u64, items: &[Bytes]) -> Result<(), InvalidSnapshot>;

    /// Installs the rebuilt snapshot into `machine` (a fresh one). Fails if
    /// ranges are missing.
    fn install(self: Box<Self>, machine: &mut M) -> Result<(), InvalidSnapshot>;
}

/// The settings a snapshot transfer runs with (SPEC's `SyncConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferSettings {
    /// Items per fetch request.
    pub fetch_batch_size: u64,
    /// How long a served snapshot is kept after its last fetch.
    pub snapshot_ttl: Duration,
    /// How long to wait for offers before asking again.
    pub snapshot_request_timeout: Duration,
    /// How long one fetch may take before the peer is dropped.
    pub fetch_timeout: Duration,
}

/// A snapshot that could not be built or installed (it comes from a peer,
/// so this is an error, never a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid snapshot: {0}")]
pub struct InvalidSnapshot(pub String);

impl InvalidSnapshot {
    fn unsupported() -> Self {
        Self("snapshots are not supported by this strategy".into())
    }
}
