//! Snapshots on their way to storage: a prune of the log reaches storage
//! only after the snapshot at (or after) the prune point was saved, so a
//! restart finds the state the pruned entries built.
//!
//! For a durable store the snapshot is encoded (every item through the
//! strategy's `encode_items`) on a blocking thread from an O(1) clone of
//! the held machine, and the storage prune waits for it: the engine's log
//! is already pruned, storage merely holds a few more entries meanwhile
//! (harmless: a restart replays them after the stored snapshot). One encode
//! runs at a time; a newer prune point waits for it and then takes its
//! turn. A snapshot install (`PersistLogReset`) saves inline, as it must be
//! durable before the install's outputs, and makes any encode in flight
//! stale (it belongs to the history the install replaced). A store that is
//! not durable gets the position only, at once.

use {
    super::{Worker, snapshots::Held},
    crate::{
        PeerId,
        groups::{
            StateMachine, StateSync, Storage,
            storage::{StorageError, StoredSnapshot},
        },
        primitives::background::spawn_blocking_job,
    },
    bytes::Bytes,
    mosaik_raft::{Cursor, Index},
    tokio::sync::mpsc,
};

/// A finished encode: its generation, position and data.
pub(super) type Encoded = (u64, Cursor<PeerId>, Result<Bytes, StorageError>);

/// The deferred storage prune of a durable store.
pub(super) struct Deferred {
    /// The newest prune point storage has not carried out yet.
    prune: Option<Cursor<PeerId>>,
    /// An encode is running.
    encoding: bool,
    /// Bumped by every reset: results of older encodes are dropped.
    generation: u64,
    /// unbounded: at most one encode per generation sends on it.
    tx: mpsc::UnboundedSender<Encoded>,
}

impl Deferred {
    pub(super) fn new(tx: mpsc::UnboundedSender<Encoded>) -> Self {
        Self {
            prune: None,
            encoding: false,
            generation: 0,
            tx,
        }
    }
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// `PersistLogPrune`: prunes storage now if a saved snapshot covers
    /// `up_to` (or the store is not durable), else once the snapshot there
    /// is encoded and saved.
    pub(super) fn persist_prune(&mut self, up_to: Cursor<PeerId>) -> Result<(), StorageError> {
        if up_to.index <= self.storage.base().index {
            return Ok(());
        }
        let covered = self
            .storage
            .snapshot()?
            .is_some_and(|s| s.at.index >= up_to.index);
        if covered {
            return self.storage.prune_prefix(up_to);
        }
        if !self.storage.is_durable() {
            self.save_snapshot_at(up_to)?;
            return self.storage.prune_prefix(up_to);
        }
        self.deferred.prune = Some(up_to);
        self.start_encode()
    }

    /// `PersistLogReset`: the installed snapshot is saved first (inline),
    /// any deferred prune and encode are dropped.
    pub(super) fn persist_reset(&mut self, base: Cursor<PeerId>) -> Result<(), StorageError> {
        self.deferred.prune = None;
        self.deferred.encoding = false;
        self.deferred.generation += 1;
        if base.index == Index::ZERO {
            return crate::groups::storage::reset_to_initial(&mut self.storage);
        }
        // The snapshot must cover the new base before the reset; one behind
        // the current base can only be saved after it.
        if base.index >= self.storage.base().index {
            self.save_snapshot_at(base)?;
            self.storage.reset_to(base)
        } else {
            self.storage.reset_to(base)?;
            self.save_snapshot_at(base)
        }
    }

    /// Starts encoding the snapshot for the deferred prune, unless one runs.
    fn start_encode(&mut self) -> Result<(), StorageError> {
        let Some(up_to) = self.deferred.prune else {
            return Ok(());
        };
        if self.deferred.encoding {
            return Ok(());
        }
        let held = held_at(&self.held, up_to)?;
        let machine = self
            .sync
            .clone_machine(&held.machine)
            .ok_or_else(|| StorageError::new("the held snapshot cannot be copied"))?;
        let (anchor, items) = (held.anchor, held.items);
        let generation = self.deferred.generation;
        let tx = self.deferred.tx.clone();
        self.deferred.encoding = true;
        spawn_blocking_job(move || {
            let data = encode_snapshot(&machine.state_sync(), &machine, items);
            let _ = tx.send((generation, anchor, data));
        });
        Ok(())
    }

    /// An encode finished: save it, carry out the prune it covers, start
    /// the next one, and make it durable.
    pub(super) async fn snapshot_encoded(
        &mut self,
        (generation, at, data): Encoded,
    ) -> Result<(), StorageError> {
        if generation != self.deferred.generation {
            // Stale: a reset replaced that history.
            return Ok(());
        }
        self.deferred.encoding = false;
        let data = data?;
        let newest = self.storage.snapshot()?.map(|s| s.at.index);
        if at.index >= self.storage.base().index && newest.is_none_or(|n| n < at.index) {
            self.unflushed = true;
            self.storage.save_snapshot(StoredSnapshot { at, data })?;
        }
        if let Some(up_to) = self.deferred.prune {
            // A newer prune point than this snapshot prunes up to the
            // snapshot now and the rest after the next encode.
            let to = if up_to.index <= at.index {
                self.deferred.prune = None;
                up_to
            } else {
                at
            };
            if to.index > self.storage.base().index {
                self.unflushed = true;
                self.storage.prune_prefix(to)?;
            }
        }
        self.start_encode()?;
        self.flush().await
    }

    /// Saves the held snapshot at `at` (a prune point or an installed
    /// snapshot) to storage, encoded through the strategy's snapshot hooks,
    /// so a restart finds the state the pruned entries built. A prune may
    /// also land between anchors only if a later one is held; without any
    /// the group stops rather than lose the pruned prefix.
    pub(super) fn save_snapshot_at(&mut self, at: Cursor<PeerId>) -> Result<(), StorageError> {
        let held = held_at(&self.held, at)?;
        let data = if self.storage.is_durable() {
            encode_snapshot(&self.sync, &held.machine, held.items)?
        } else {
            bytes::Bytes::new()
        };
        let snapshot = StoredSnapshot {
            at: held.anchor,
            data,
        };
        let current = self.storage.snapshot()?.map(|s| s.at);
        if current.is_some_and(|c| c == snapshot.at) {
            return Ok(());
        }
        self.storage.save_snapshot(snapshot)
    }
}

/// The held snapshot at `at`, else the oldest after it (a prune lands on
/// anchors, so this is a fallback); none stops the group rather than lose
/// the pruned prefix.
fn held_at<M>(held: &[Held<M>], at: Cursor<PeerId>) -> Result<&Held<M>, StorageError> {
    held.iter()
        .find(|h| h.anchor == at)
        .or_else(|| held.iter().find(|h| h.anchor.index >= at.index))
        .ok_or_else(|| {
            StorageError::new(format!(
                "no snapshot held at {} to save before pruning the log",
                at.index
            ))
        })
}

/// Encodes every item of `machine`'s snapshot into one blob (a postcard
/// list of the items' own encodings), as [`StoredSnapshot::data`].
fn encode_snapshot<M: StateMachine>(
    sync: &M::StateSync,
    machine: &M,
    items: u64,
) -> Result<bytes::Bytes, StorageError> {
    let mut all = Vec::new();
    while (all.len() as u64) < items {
        let from = all.len() as u64;
        let batch = sync
            .encode_items(machine, from..items, usize::MAX)
            .map_err(|err| StorageError::new(format!("cannot encode a snapshot: {err}")))?;
        if batch.is_empty() {
            return Err(StorageError::new("cannot encode a snapshot: no items"));
        }
        all.extend(batch);
    }
    crate::primitives::encoding::try_serialize(&all)
        .map_err(|err| StorageError::new(format!("cannot encode a snapshot: {err}")))
}

/// Rebuilds a machine from [`encode_snapshot`]'s blob: a copy of
/// `pristine` with the snapshot installed through the strategy's
/// `SnapshotBuilder`.
pub(super) fn decode_snapshot<M: StateMachine>(
    sync: &M::StateSync,
    pristine: &M,
    data: &[u8],
) -> Result<M, String> {
    let items: Vec<bytes::Bytes> =
        crate::primitives::encoding::deserialize(data).map_err(|err| err.to_string())?;
    let mut builder = sync
        .snapshot_builder()
        .ok_or("the state sync strategy has no snapshots")?;
    if !items.is_empty() {
        builder.insert(0, &items).map_err(|err| err.to_string())?;
    }
    let mut machine = sync
        .clone_machine(pristine)
        .ok_or("the state machine cannot be copied")?;
    builder
        .install(&mut machine)
        .map_err(|err| err.to_string())?;
    Ok(machine)
}
