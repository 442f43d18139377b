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

pub(crate) mod digest;
mod framework;
mod log_replay;
mod log_replay_session;
mod snapshot;
pub(crate) mod wire;

pub(crate) use {
    framework::Sealed,
    snapshot::{encode_each, encode_item},
};
pub use {
    framework::{
        AppendError, Idle, LogSlice, StateSyncProvider, StateSyncSession, SyncContext,
        SyncSessionContext,
    },
    log_replay::LogReplaySync,
    log_replay_session::{LogReplayProvider, LogReplaySession, LogReplaySyncMessage},
    snapshot::{EncodeItemError, Snapshot, SnapshotItem, SnapshotStateMachine, SnapshotSync},
};

use {
    super::{Index, StateMachine},
    crate::UniqueId,
    bytes::Bytes,
    core::time::Duration,
    serde::{Serialize, de::DeserializeOwned},
};

/// A catch-up strategy for one state machine type.
///
/// Two mechanisms, both optional:
/// - **sessions** (SPEC §1.5): a member more than
///   [`StateSync::log_fetch_threshold`] entries behind its leader runs a
///   [`StateSyncSession`] that fetches committed entries from peers, whose
///   [`StateSyncProvider`]s serve them ([`LogReplaySync`] does this);
/// - **snapshots**: the log is compacted at deterministic anchors and a
///   member whose entries are gone everywhere receives a chunked,
///   multi-peer snapshot transfer ([`SnapshotSync`] does this through the
///   snapshot hooks below).
///
/// Every hook but the associated types, [`StateSync::signature`] and
/// [`StateSync::create_provider`] has a default that disables it.
pub trait StateSync: Send + Sync + 'static {
    /// The machine it syncs.
    type Machine: StateMachine;
    /// What providers and sessions of this strategy send each other (in a
    /// bond message; one that does not decode closes the bond).
    type Message: Clone + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Runs on every member ([`Idle`] when there is nothing to serve).
    type Provider: StateSyncProvider<Self>;
    /// Runs on a lagging member ([`Idle`] when there are no sessions).
    type Session: StateSyncSession<Self>;

    /// Identifies the strategy and its settings; part of the group id.
    fn signature(&self) -> UniqueId;

    /// The provider of this member, made once when the group starts.
    fn create_provider(&self, ctx: &dyn SyncContext<Self>) -> Self::Provider;

    /// A follower further behind its leader than this many entries runs a
    /// session (made by [`StateSync::create_session`]); the leader holds
    /// back its own entries meanwhile and streams only what is left when
    /// the session ends. `None` (the default): no sessions, the leader
    /// streams everything.
    fn log_fetch_threshold(&self) -> Option<u64> {
        None
    }

    /// A session for one catch-up episode towards the leader's position
    /// `target`; the local log's end is `ctx.log_position()`. `None` (the
    /// default) declines: the leader then streams the entries.
    fn create_session(
        &self,
        ctx: &mut dyn SyncSessionContext<Self>,
        target: Index,
    ) -> Option<Self::Session> {
        let _ = (ctx, target);
        None
    }

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

    /// A copy of `machine`, for the initial value the group rebuilds from
    /// after a revert and for held snapshots. The default asks the machine
    /// ([`StateMachine::try_clone`]); strategies whose machines are `Clone`
    /// ([`SnapshotSync`]) copy directly.
    fn clone_machine(&self, machine: &Self::Machine) -> Option<Self::Machine> {
        machine.try_clone()
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

    /// Calls `each` with the encoding of every item in `range`, in order:
    /// the same bytes [`StateSync::encode_items`] returns, without keeping
    /// them (digests hash each item as it is encoded).
    ///
    /// The default calls `encode_items` in batches of 16 MiB (the memory
    /// it holds at once); strategies that can encode one item at
    /// a time into a reused buffer override it.
    ///
    /// # Errors
    /// As `encode_items`, and when it yields nothing before `range` ends.
    fn encode_each(
        &self,
        machine: &Self::Machine,
        range: core::ops::Range<u64>,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<(), InvalidSnapshot> {
        let mut next = range.start;
        while next < range.end {
            let batch = self.encode_items(machine, next..range.end, ENCODE_EACH_BATCH_BYTES)?;
            if batch.is_empty() {
                return Err(InvalidSnapshot(format!(
                    "none yielded from {next}, though the range ends at {}",
                    range.end
                )));
            }
            for item in &batch {
                each(item);
            }
            next += batch.len() as u64;
        }
        Ok(())
    }

    /// A receiver that rebuilds a snapshot from encoded item ranges.
    fn snapshot_builder(&self) -> Option<Box<dyn SnapshotBuilder<Self::Machine>>> {
        None
    }
}

/// Bytes the default [`StateSync::encode_each`] encodes per `encode_items`
/// call: bounds the memory it holds at once.
pub(crate) const ENCODE_EACH_BATCH_BYTES: usize = 16 << 20;

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
