//! Content digests of held snapshots, provider side: computed off the
//! worker loop, one at a time, only once a peer asks for a snapshot.
//!
//! A digest encodes every item of the snapshot (`sync/digest.rs`), which
//! for a large state takes long enough to stall heartbeats if done on the
//! loop, so it runs on a background thread (lower priority,
//! `primitives/background.rs`) from an O(1) clone of the held machine.
//! Its cost grows with the whole state, and an anchor is due every
//! compaction interval: digesting every anchor as it was taken kept
//! one thread per member hashing without a pause at about 190,000 items
//! (1.7–2.1 s per digest, a new anchor every 1,000 commands), and each
//! digest finished after its snapshot had expired, so a joiner was never
//! offered one and chased forever (B6 at 100,000 entries). So a digest
//! runs only while some peer waits for an offer, and the snapshot being
//! digested is pinned for that peer (as if offered: kept with its log for
//! `snapshot_ttl`). One runs at a time per group; the newest pending
//! snapshot goes first, since it is the one a lagging member wants.
//!
//! A peer that queries while no snapshot it would want is digested gets
//! the digested ones at once (maybe none) and a second offer when the
//! newer one is done.
//!
//! A snapshot whose digest cannot be computed is not offered, and says
//! so: a warning with the reason and a metric, instead of quietly missing
//! from every offer (which looks like a transfer that never starts).

use {
    super::{Worker, snapshots::DigestState},
    crate::{
        PeerId,
        groups::{
            InvalidSnapshot, StateMachine, StateSync, Storage,
            messages::BondMessage,
            sync::{digest::digest_of, wire::SyncMessage},
        },
        primitives::{Digest, background::spawn_background},
    },
    mosaik_raft::{Cursor, Index},
    std::collections::HashMap,
    tokio::sync::mpsc,
};

/// A finished digest: the anchor it was computed for, and the result.
pub(super) type Digested = (Cursor<PeerId>, Result<Digest, InvalidSnapshot>);

/// The one digest computation a group runs at a time.
pub(super) struct Digests {
    /// A computation is running.
    running: bool,
    /// unbounded: at most one computation sends on it at a time.
    tx: mpsc::UnboundedSender<Digested>,
    /// Peers that queried from a base at or below a snapshot not digested
    /// yet: one entry per bonded peer (a new query replaces it), answered
    /// once by a second offer. Digests run only while this is not empty.
    waiting: HashMap<PeerId, Index>,
}

impl Digests {
    /// unbounded: `tx` carries one result per computation, and at most
    /// one computation runs at a time (`running`).
    pub(super) fn new(tx: mpsc::UnboundedSender<Digested>) -> Self {
        Self {
            running: false,
            tx,
            waiting: HashMap::new(),
        }
    }
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Starts digesting the newest held snapshot still pending, unless a
    /// digest runs, no peer waits for an offer, or the strategy transfers
    /// no snapshots. The snapshot is pinned for the waiting peers (see the
    /// module docs).
    pub(super) fn start_digest(&mut self) {
        if self.digests.running || self.digests.waiting.is_empty() || self.sync.transfer().is_none()
        {
            return;
        }
        let Some(held) = self
            .held
            .iter_mut()
            .rev()
            .find(|h| h.digest == DigestState::Pending)
        else {
            return;
        };
        let Some(machine) = self.sync.clone_machine(&held.machine) else {
            // `clone_machine` worked when the snapshot was taken; should it
            // fail now, retrying would fail the same way.
            held.digest = DigestState::Failed;
            tracing::warn!(
                anchor = held.anchor.index.0,
                "snapshot not offered: the held machine cannot be copied to digest it"
            );
            return;
        };
        // A peer is waiting for it: keep it (and the log after it) as an
        // offered one is kept, so it is still held when the digest is done.
        held.served = Some(tokio::time::Instant::now());
        let (anchor, items) = (held.anchor, held.items);
        let tx = self.digests.tx.clone();
        self.digests.running = true;
        // Off the loop and below the write path's priority (see
        // `primitives/background.rs`).
        spawn_background("digest", move || {
            let started = std::time::Instant::now();
            let digest = digest_of(&machine.state_sync(), &machine, items);
            tracing::debug!(
                anchor = anchor.index.0,
                items,
                ms = started.elapsed().as_millis(),
                "snapshot digested"
            );
            let _ = tx.send((anchor, digest));
        });
    }

    /// Remembers `peer`'s query from `base` if a held snapshot there is
    /// not digested yet, and starts digesting it.
    pub(super) fn await_digest(&mut self, peer: PeerId, base: Index) {
        let pending = self
            .held
            .iter()
            .any(|h| h.anchor.index >= base && h.digest == DigestState::Pending);
        if pending && self.sync.transfer().is_some() {
            self.digests.waiting.insert(peer, base);
            self.start_digest();
        } else {
            self.digests.waiting.remove(&peer);
        }
    }

    /// A digest finished: the snapshot is offered from now on (if still
    /// held), peers that queried for it meanwhile are offered it, and the
    /// next pending one starts.
    pub(super) fn digested(&mut self, (anchor, result): Digested) {
        self.digests.running = false;
        let ready = result.is_ok();
        // An anchor names one state (log matching): a result for an anchor
        // that was dropped and taken again is still right.
        if let Some(held) = self.held.iter_mut().find(|h| h.anchor == anchor) {
            held.digest = match result {
                Ok(digest) => DigestState::Ready(digest),
                Err(err) => {
                    tracing::warn!(
                        anchor = anchor.index.0,
                        items = held.items,
                        %err,
                        "snapshot not offered: its digest cannot be computed"
                    );
                    metrics::counter!(
                        "mosaik.groups.sync.undigestable_snapshots",
                        self.labels.as_ref()
                    )
                    .increment(1);
                    DigestState::Failed
                }
            };
        }
        if ready {
            self.offer_again(anchor.index);
        }
        self.start_digest();
    }

    /// Second offers to the peers waiting for a snapshot at `index`.
    fn offer_again(&mut self, index: Index) {
        let waiting: Vec<(PeerId, Index)> = self
            .digests
            .waiting
            .iter()
            .filter(|(_, base)| **base <= index)
            .map(|(peer, base)| (*peer, *base))
            .collect();
        for (peer, base) in waiting {
            self.digests.waiting.remove(&peer);
            let snapshots = self.offer_from(base);
            if let Some(bond) = self.bonds.get(&peer) {
                // Best effort, like every offer: the peer asks again.
                let _ = bond
                    .out
                    .try_send(BondMessage::Sync(SyncMessage::Offer { snapshots }));
            }
        }
    }
}
