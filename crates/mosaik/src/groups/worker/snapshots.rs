//! Snapshots: log compaction and catch-up of members whose needed entries
//! were pruned, for state sync strategies that support snapshots
//! ([`SnapshotSync`](crate::groups::SnapshotSync)).
//!
//! After every drain the driver checks whether `compaction_threshold`
//! entries were applied since the last snapshot; if so it snapshots the
//! machine (which reflects exactly the engine's applied index at that
//! point) and lets the engine prune up to it. A member told to state-sync
//! asks the leader for its latest snapshot, installs it into a fresh copy of
//! the initial machine and reports `SnapshotInstalled`.

use {
    super::Worker,
    crate::{
        PeerId,
        groups::{
            StateMachine, StateSync, Storage, messages::BondMessage, storage::StorageError,
            types::engine as map,
        },
    },
    bytes::Bytes,
    mosaik_raft::{Cursor, Input},
};

/// The latest local snapshot: machine state after applying `cursor`.
pub(super) struct Snapshot {
    pub(super) cursor: Cursor<PeerId>,
    pub(super) data: Bytes,
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Takes a snapshot and prunes the log if enough entries were applied
    /// since the last one. True if the engine got a `PruneLog` (its outputs
    /// must be drained).
    pub(super) fn compact(&mut self) -> bool {
        let Some(threshold) = self.sync.compaction_threshold() else {
            return false;
        };
        let applied = self.engine.applied_index();
        let last = self
            .snapshot
            .as_ref()
            .map_or(mosaik_raft::Index::ZERO, |s| s.cursor.index);
        if applied.0.saturating_sub(last.0) < threshold {
            return false;
        }
        let Some(term) = self.engine.log().term_at(applied) else {
            return false;
        };
        let Some(data) = self.sync.snapshot(&self.machine) else {
            return false;
        };
        self.snapshot = Some(Snapshot {
            cursor: Cursor::new(term, applied),
            data,
        });
        self.engine
            .handle(self.now(), Input::PruneLog { up_to: applied });
        true
    }

    /// The engine needs state this member's leader no longer holds as log.
    pub(super) fn request_snapshot(&mut self, leader: PeerId) {
        match self.bonds.get(&leader) {
            Some(bond) => {
                let _ = bond.out.try_send(BondMessage::SnapshotRequest);
            }
            None => {
                tracing::debug!(leader = %leader.fmt_short(), "state sync needed, leader not bonded");
            }
        }
    }

    /// A peer asks for our latest snapshot.
    pub(super) fn serve_snapshot(&mut self, peer: PeerId) {
        let (Some(snapshot), Some(bond)) = (&self.snapshot, self.bonds.get(&peer)) else {
            return;
        };
        let _ = bond.out.try_send(BondMessage::Snapshot {
            cursor: snapshot.cursor,
            data: snapshot.data.clone(),
        });
    }

    /// A snapshot arrived: install it if it moves us forward.
    pub(super) fn install_snapshot(
        &mut self,
        peer: PeerId,
        cursor: Cursor<PeerId>,
        data: Bytes,
    ) -> Result<(), StorageError> {
        if cursor.index <= self.engine.applied_index() {
            return Ok(());
        }
        let mut machine = self.pristine.clone();
        if let Err(err) = self.sync.install(&mut machine, &data) {
            tracing::warn!(peer = %peer.fmt_short(), %err, "refused a snapshot");
            return Ok(());
        }
        self.machine = machine;
        self.snapshot = Some(Snapshot { cursor, data });
        self.committed = map::cursor(cursor);
        self.engine
            .handle(self.now(), Input::SnapshotInstalled { cursor });
        self.drain()
    }

    /// Resets the machine to its state at `at` for a replay: the initial
    /// value at index 0, else the local snapshot at exactly that point.
    pub(super) fn restore_to(&mut self, at: Cursor<PeerId>) -> Result<(), StorageError> {
        if at.index == mosaik_raft::Index::ZERO {
            self.machine = self.pristine.clone();
            return Ok(());
        }
        let snapshot = self
            .snapshot
            .as_ref()
            .filter(|s| s.cursor == at)
            .ok_or_else(|| {
                StorageError::new(format!("no snapshot at {} to replay from", at.index))
            })?;
        let mut machine = self.pristine.clone();
        self.sync
            .install(&mut machine, &snapshot.data)
            .map_err(|e| StorageError::new(format!("local snapshot: {e}")))?;
        self.machine = machine;
        Ok(())
    }
}
