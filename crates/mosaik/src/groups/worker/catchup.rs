//! Glue between the engine's `NeedStateSync`, the bonds and a snapshot
//! [`Transfer`]: starting, feeding and finishing a catch-up episode.

use {
    super::{
        Worker,
        snapshots::Held,
        transfer::{Progress, Sends, Transfer},
    },
    crate::{
        PeerId,
        groups::{
            StateMachine, StateSync, Storage, messages::BondMessage, storage::StorageError,
            sync::wire::SyncMessage, types::engine as map,
        },
        primitives::background::drop_in_background,
    },
    mosaik_raft::{Cursor, Input},
};

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// The engine needs state its leader no longer holds as log.
    pub(super) fn need_state_sync(&mut self, leader: PeerId, base: Cursor<PeerId>) {
        let Some(settings) = self.sync.transfer() else {
            tracing::warn!("state sync needed, but the strategy has no snapshots");
            return;
        };
        self.sync_target = Some(base);
        if let Some(transfer) = &mut self.transfer {
            let mut sends = transfer.set_leader(leader);
            if base.index < transfer.base {
                // A leader whose log base is older than the one this
                // transfer asked for may hold no anchor that far (a new
                // leader after a dynamic-mode heal, its history shorter):
                // waiting for one stalled the catch-up for good (runtime
                // simulator, dynamic `vec` seed 6100605). Its anchors from
                // its own base on are asked for instead.
                let peers: Vec<PeerId> = self.bonds.keys().copied().collect();
                sends.extend(transfer.rebase(base.index, peers));
                self.send_sync(sends);
                return;
            }
            // A transfer of an anchor at or past the new base still helps.
            if transfer.base == base.index
                || transfer.anchor().is_some_and(|a| a.index >= base.index)
            {
                self.send_sync(sends);
                return;
            }
        }
        let peers: Vec<PeerId> = self.bonds.keys().copied().collect();
        let (transfer, sends) = Transfer::start(base.index, leader, settings, peers);
        self.transfer = Some(transfer);
        self.send_sync(sends);
    }

    /// A state-sync message from a bond.
    pub(super) async fn sync_message(
        &mut self,
        peer: PeerId,
        msg: SyncMessage,
    ) -> Result<(), StorageError> {
        match msg {
            SyncMessage::Query { .. } | SyncMessage::Digest { .. } | SyncMessage::Fetch { .. } => {
                self.serve(peer, msg);
                Ok(())
            }
            SyncMessage::Offer { snapshots } => {
                let Some(transfer) = &mut self.transfer else {
                    return Ok(());
                };
                let sync = &self.sync;
                let step = transfer.offer(peer, snapshots, || sync.snapshot_builder());
                self.progress(step).await
            }
            SyncMessage::Data {
                anchor,
                offset,
                items,
            } => {
                let Some(transfer) = &mut self.transfer else {
                    return Ok(());
                };
                let step = transfer.data(peer, anchor, offset, &items);
                self.progress(step).await
            }
        }
    }

    /// Periodic: transfer timeouts and snapshot expiry.
    pub(super) async fn sync_tick(&mut self) -> Result<(), StorageError> {
        self.expire_snapshots();
        if self.drop_obsolete_transfer() {
            return Ok(());
        }
        let Some(transfer) = &mut self.transfer else {
            return Ok(());
        };
        let peers: Vec<PeerId> = self.bonds.keys().copied().collect();
        let sync = &self.sync;
        let step = transfer.tick(peers, || sync.snapshot_builder());
        self.progress(step).await
    }

    /// True if this member reflects `target` (a `NeedStateSync` base): its
    /// log holds exactly that position, or it holds a snapshot there, and
    /// it applied at least that far. Log matching makes the position stand
    /// for the whole prefix. Comparing indexes alone is wrong in dynamic
    /// mode: a member on the losing side of a healed partition may have
    /// applied *past* the target's index a history the leader does not
    /// share (its snapshot base conflicts with the leader's log), and would
    /// take itself for caught up and never install the snapshot it needs.
    fn reflects(&self, target: Cursor<PeerId>) -> bool {
        self.engine.applied_index() >= target.index
            && (self.engine.log().term_at(target.index) == Some(target.term)
                || self.held.iter().any(|h| h.anchor == target))
    }

    /// Ends the transfer if this member caught up some other way (e.g. a
    /// new leader still had the log). Checked after every drained step,
    /// before compaction can prune the target position out of the log
    /// (after which it could no longer be recognised). True if dropped.
    pub(super) fn drop_obsolete_transfer(&mut self) -> bool {
        let Some(target) = self.sync_target else {
            return false;
        };
        if self.transfer.is_none() || !self.reflects(target) {
            return false;
        }
        tracing::debug!(
            base = target.index.0,
            "caught up without the snapshot transfer"
        );
        self.transfer = None;
        self.sync_target = None;
        true
    }

    /// A bond formed: asked as well while a transfer collects offers.
    pub(super) fn sync_bonded(&mut self, peer: PeerId) {
        if let Some(transfer) = &mut self.transfer {
            let sends = transfer.bonded(peer);
            self.send_sync(sends);
        }
    }

    /// A bond went down: its ranges go to the other sources.
    pub(super) async fn sync_unbonded(&mut self, peer: PeerId) -> Result<(), StorageError> {
        let Some(transfer) = &mut self.transfer else {
            return Ok(());
        };
        let step = transfer.unbonded(peer);
        self.progress(step).await
    }

    async fn progress(
        &mut self,
        (sends, progress): (Sends, Progress<M>),
    ) -> Result<(), StorageError> {
        self.send_sync(sends);
        if let Some(dropped) = self.transfer.as_mut().map(Transfer::take_dropped)
            && dropped > 0
        {
            metrics::counter!("mosaik.groups.sync.peers_dropped", self.labels.as_ref())
                .increment(dropped);
        }
        let hostile = self
            .transfer
            .as_mut()
            .map(Transfer::take_hostile)
            .unwrap_or_default();
        for peer in hostile {
            self.close_hostile(peer, "undecodable snapshot data");
        }
        if let Some(mismatches) = self.transfer.as_mut().map(Transfer::take_mismatches)
            && mismatches > 0
        {
            metrics::counter!("mosaik.groups.sync.digest_mismatches", self.labels.as_ref())
                .increment(mismatches);
        }
        let Progress::Done {
            anchor,
            digest,
            builder,
        } = progress
        else {
            return Ok(());
        };
        self.transfer = None;
        let target = self.sync_target.take();
        if target.is_none_or(|t| self.reflects(t)) {
            // Nothing to install: already there. A member that diverged
            // installs even an anchor below its applied index; the engine
            // then discards its conflicting suffix (`Reverted`), and the
            // machine restarts from the snapshot.
            return Ok(());
        }
        let copy = self
            .pristine
            .as_ref()
            .and_then(|p| self.sync.clone_machine(p));
        let Some(mut machine) = copy else {
            tracing::warn!("refused a snapshot: the state machine cannot be copied");
            return Ok(());
        };
        if let Err(err) = builder.install(&mut machine) {
            tracing::warn!(%err, "refused a snapshot");
            return Ok(());
        }
        tracing::debug!(anchor = anchor.index.0, "snapshot installed");
        #[cfg(feature = "runtime-sim")]
        crate::groups::sim::snapshot_installed();
        let items = self.sync.snapshot_len(&machine);
        // The digest was checked against the received items: offered as is.
        let held = self
            .sync
            .clone_machine(&machine)
            .map(|copy| Held::new(anchor, copy, items, Some(digest)))
            .into_iter()
            .collect();
        // The replaced state and snapshots can be a whole diverged
        // history: freed off the loop (see `expire_snapshots`).
        let replaced = (
            core::mem::replace(&mut self.held, held),
            core::mem::replace(&mut self.machine, machine),
        );
        drop_in_background("replaced", replaced);
        self.committed = map::cursor(anchor);
        self.engine
            .handle(self.now(), Input::SnapshotInstalled { cursor: anchor });
        self.drain().await
    }

    fn send_sync(&self, sends: Sends) {
        for (peer, msg) in sends {
            if let Some(bond) = self.bonds.get(&peer) {
                // Best effort: a lost request times out and is reassigned.
                let _ = bond.out.try_send(BondMessage::Sync(msg));
            }
        }
    }
}
