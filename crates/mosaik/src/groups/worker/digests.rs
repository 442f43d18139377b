//! Content digests of held snapshots, provider side: computed off the
//! worker loop, one at a time, only for a peer that asks for one.
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
//! offered one and chased forever (B6 at 100,000 entries).
//!
//! So a snapshot is offered without its digest, and a digest runs only
//! for a peer that asks for it ([`SyncMessage::Digest`]): a joiner asks
//! the leader alone, whose digest its transfer is checked against, and
//! fetches from every holder meanwhile. Until 5 Dec 2026 every holder
//! digested before offering and the transfer waited for them: in B6 three
//! members hashing 117,000 items at once took 0.4–0.6 s before the first
//! range was asked for, a third of the catch-up. The snapshot being
//! digested is pinned for the peer that asked (as if offered: kept with
//! its log for `snapshot_ttl`). One runs at a time per group; the newest
//! wanted snapshot goes first.
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
    mosaik_raft::Cursor,
    std::collections::BTreeMap,
    tokio::sync::mpsc::{self, error::TrySendError},
};

/// A finished digest: the anchor it was computed for, and the result.
pub(super) type Digested = (Cursor<PeerId>, Result<Digest, InvalidSnapshot>);

/// The one digest computation a group runs at a time.
pub(super) struct Digests {
    /// A computation is running.
    running: bool,
    /// unbounded: at most one computation sends on it at a time.
    tx: mpsc::UnboundedSender<Digested>,
    /// Peers that asked for the digest of a held snapshot not digested
    /// yet: one entry per bonded peer (a new request replaces it),
    /// answered by an offer once it is. Digests run only for these.
    wanted: BTreeMap<PeerId, Cursor<PeerId>>,
}

impl Digests {
    /// unbounded: `tx` carries one result per computation, and at most
    /// one computation runs at a time (`running`).
    pub(super) fn new(tx: mpsc::UnboundedSender<Digested>) -> Self {
        Self {
            running: false,
            tx,
            wanted: BTreeMap::new(),
        }
    }
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Starts digesting the newest held snapshot a peer wants and that is
    /// still pending, unless a digest runs or the strategy transfers no
    /// snapshots. The snapshot is pinned for the peers that want it (see
    /// the module docs).
    pub(super) fn start_digest(&mut self) {
        if self.digests.running || self.digests.wanted.is_empty() || self.sync.transfer().is_none()
        {
            return;
        }
        let wanted = &self.digests.wanted;
        let Some(held) =
            self.held.iter_mut().rev().find(|h| {
                h.digest == DigestState::Pending && wanted.values().any(|a| *a == h.anchor)
            })
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
            let anchor = held.anchor;
            self.answer_wanted(anchor);
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

    /// `peer` asks for the digest of the snapshot at `anchor`. True if the
    /// answer is due at once (the digest is known, failed, or the snapshot
    /// is not held); otherwise the digest starts (or waits its turn) and
    /// `peer` is offered the snapshot once it is done.
    pub(super) fn await_digest(&mut self, peer: PeerId, anchor: Cursor<PeerId>) -> bool {
        let pending = self
            .held
            .iter()
            .any(|h| h.anchor == anchor && h.digest == DigestState::Pending);
        if !pending || self.sync.transfer().is_none() {
            self.digests.wanted.remove(&peer);
            return true;
        }
        // Pinned while it waits its turn, as an offered one is.
        self.pin(anchor);
        self.digests.wanted.insert(peer, anchor);
        self.start_digest();
        false
    }

    /// A digest finished: the snapshot is offered with it from now on (if
    /// still held), the peers that asked for it are offered it, and the
    /// next wanted one starts.
    pub(super) fn digested(&mut self, (anchor, result): Digested) {
        self.digests.running = false;
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
        self.answer_wanted(anchor);
        self.start_digest();
    }

    /// Offers to the peers that asked for the digest at `anchor`: with it
    /// if it was computed, without the anchor if it failed or the
    /// snapshot is gone (the asker then looks for another).
    fn answer_wanted(&mut self, anchor: Cursor<PeerId>) {
        let peers: Vec<PeerId> = self
            .digests
            .wanted
            .iter()
            .filter(|(_, a)| **a == anchor)
            .map(|(peer, _)| *peer)
            .collect();
        if peers.is_empty() {
            return;
        }
        let snapshots = self.offer_of(anchor);
        for peer in peers {
            self.digests.wanted.remove(&peer);
            let Some(bond) = self.bonds.get(&peer) else {
                continue;
            };
            let offer = BondMessage::Sync(SyncMessage::Offer {
                snapshots: snapshots.clone(),
            });
            // Waits for room rather than being dropped: the asker is
            // usually fetching ranges from us meanwhile, which fill the
            // bond's queue, and without this answer it installs nothing
            // until it asks again (`snapshot_request_timeout` later). One
            // task per asker of this digest; it ends when the bond does.
            if let Err(TrySendError::Full(offer)) = bond.out.try_send(offer) {
                let out = bond.out.clone();
                tokio::spawn(async move {
                    let _ = out.send(offer).await;
                });
            }
        }
    }

    /// A wanted snapshot expired before its digest ran: its askers get
    /// their answer (without it) instead of waiting for their timeout.
    pub(super) fn drop_unheld_wants(&mut self) {
        let gone: Vec<Cursor<PeerId>> = self
            .digests
            .wanted
            .values()
            .filter(|a| !self.held.iter().any(|h| h.anchor == **a))
            .copied()
            .collect();
        for anchor in gone {
            self.answer_wanted(anchor);
        }
    }
}
