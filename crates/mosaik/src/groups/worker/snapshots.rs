//! Snapshots, provider side: log compaction at deterministic anchors and
//! serving snapshot ranges to lagging members.
//!
//! Anchors are the applied indexes that are multiples of the strategy's
//! `compaction_threshold`. The apply batch is split there, so every replica
//! that applies past an anchor snapshots its machine at exactly that index;
//! the machine is deterministic, so all those snapshots are identical and a
//! lagging member can fetch disjoint ranges of one snapshot from several
//! peers. (SPEC's alternative, a marker command the leader commits on
//! request, costs a consensus round per request and makes every member
//! snapshot on demand; fixed anchors cost nothing extra and are known
//! without coordination.)
//!
//! A held snapshot is the machine value itself (copied by `StateSync::clone_machine`,
//! O(1) for persistent structures); items are encoded only when a batch is
//! served, and once off the loop for its content digest when the leader is
//! asked for it (`digests.rs`).

use {
    super::Worker,
    crate::{
        PeerId,
        groups::{
            StateMachine, StateSync, Storage,
            messages::BondMessage,
            storage::StorageError,
            sync::wire::{MAX_HELD, SnapshotInfo, SyncMessage},
        },
        primitives::{
            Digest,
            background::{BACKGROUND_DROP_MIN, drop_in_background, runs_inline, spawn_background},
        },
    },
    core::sync::atomic::Ordering,
    mosaik_raft::{Cursor, Index, Input},
    tokio::time::Instant,
};

/// Held snapshots never expire below this many (the newest ones): the
/// second newest is the log base, kept for a revert's replay, and the two
/// make it likely that peers hold a common anchor while they apply at
/// different speeds.
const ALWAYS_HELD: usize = 2;
/// Upper bound of one served batch in bytes, whatever the frame size (a reply stops after the
/// item that reaches it; the requester asks for the rest). It bounds the work one reply costs
/// the requester's loop, which decodes and inserts it in one turn: with 4 MiB (2,000 items of
/// 1 KiB per reply) that turn took the runtime thread it ran on for milliseconds, and in B6,
/// where every member shares two cores, the leader's write p99 during a catch-up was 8.3 ms;
/// with 256 KiB it is 3.1 ms, for 182 against 194 MB/s (5 interleaved pairs, 5 Dec 2026).
const MAX_BATCH_BYTES: usize = 256 << 10;
/// Snapshot batches encoded off the worker loop at once, per group.
pub(super) const MAX_SERVING: usize = 4;

/// A snapshot this member holds: its machine after applying `anchor`.
pub(super) struct Held<M> {
    pub(super) anchor: Cursor<PeerId>,
    pub(super) machine: M,
    pub(super) items: u64,
    /// Its content digest, once computed (see `digests.rs`).
    pub(super) digest: DigestState,
    /// Last time a peer was offered or fetched it (keeps it alive for the
    /// strategy's `snapshot_ttl`).
    pub(super) served: Option<Instant>,
}

/// Where a held snapshot's content digest stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DigestState {
    /// Not computed (yet): offered without one.
    Pending,
    /// Offered with this digest.
    Ready(Digest),
    /// Could not be computed (logged): never offered, since its items
    /// cannot be encoded for a peer either. Still used locally (revert,
    /// storage).
    Failed,
}

impl<M> Held<M> {
    /// A snapshot just taken, restored or installed (`digest` known for
    /// an installed one: it was checked).
    pub(super) fn new(
        anchor: Cursor<PeerId>,
        machine: M,
        items: u64,
        digest: Option<Digest>,
    ) -> Self {
        Self {
            anchor,
            machine,
            items,
            digest: digest.map_or(DigestState::Pending, DigestState::Ready),
            served: None,
        }
    }

    /// What an offer says of it, with its digest if computed; `None` if
    /// its digest could not be computed: its items cannot be encoded for
    /// a peer either.
    fn info(&self) -> Option<SnapshotInfo> {
        let digest = match self.digest {
            DigestState::Ready(digest) => Some(digest),
            DigestState::Pending => None,
            DigestState::Failed => return None,
        };
        Some(SnapshotInfo {
            anchor: self.anchor,
            items: self.items,
            digest,
        })
    }
}

/// Takes out the held snapshots nobody fetched within `ttl` (keeping the
/// newest [`ALWAYS_HELD`]) and the oldest beyond [`MAX_HELD`], but never the
/// one at the log `base`: a dynamic-mode revert rebuilds the machine from
/// it. Until `compact()` has moved the base to a newer anchor, the base
/// snapshot can be the third newest; dropping it (it was never served) made
/// the next revert stop the group with a "storage" error. Returns the ones
/// taken out, for the caller to drop off its loop.
pub(super) fn expire<M>(
    held: &mut Vec<Held<M>>,
    base: Index,
    ttl: Option<core::time::Duration>,
) -> Vec<Held<M>> {
    let keep_from = held.len().saturating_sub(ALWAYS_HELD);
    let mut index = 0;
    let mut expired: Vec<Held<M>> = held
        .extract_if(.., |h| {
            let fresh = index >= keep_from
                || h.anchor.index == base
                || h.served
                    .zip(ttl)
                    .is_some_and(|(at, ttl)| at.elapsed() < ttl);
            index += 1;
            !fresh
        })
        .collect();
    let mut excess = held.len().saturating_sub(MAX_HELD);
    expired.extend(held.extract_if(.., |h| {
        if excess > 0 && h.anchor.index != base {
            excess -= 1;
            return true;
        }
        false
    }));
    expired
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// The anchor due once the machine reflects `applied`, if it is past
    /// the newest held one.
    pub(super) fn anchor_due(&self, applied: Index) -> Option<Index> {
        let threshold = self.sync.compaction_threshold()?.max(1);
        let anchor = applied.0 / threshold * threshold;
        let newest = self.held.last().map_or(0, |h| h.anchor.index.0);
        (anchor > newest).then_some(Index(anchor))
    }

    /// Snapshots the machine, which reflects exactly `index` now.
    pub(super) fn snapshot_at(&mut self, index: Index) {
        let Some(term) = self.engine.log().term_at(index) else {
            return;
        };
        let Some(machine) = self.sync.clone_machine(&self.machine) else {
            return;
        };
        let items = self.sync.snapshot_len(&self.machine);
        self.held
            .push(Held::new(Cursor::new(term, index), machine, items, None));
        self.expire_snapshots();
    }

    /// Drops snapshots nobody fetched within the TTL (keeping the newest
    /// [`ALWAYS_HELD`]), and the oldest beyond [`MAX_HELD`]; never the one
    /// at the log base (see [`expire`]).
    pub(super) fn expire_snapshots(&mut self) {
        let ttl = self.sync.transfer().map(|t| t.snapshot_ttl);
        let base = self.engine.log().base().index;
        let expired = expire(&mut self.held, base, ttl);
        // Dropping a snapshot frees every node the live state no longer
        // shares with it, about a compaction interval's changes: 2.4–6.6 ms
        // for B6's 116,000-item map 1,000 writes on, a stall of the write
        // path at every compaction when it ran on this loop
        // (docs/benchmarks.md).
        let interval = self.sync.compaction_threshold().unwrap_or(0);
        if !expired.is_empty() && interval >= BACKGROUND_DROP_MIN {
            drop_in_background("expired", expired);
        }
        self.drop_unheld_wants();
    }

    /// Takes the snapshot due at the applied index and prunes the log up to
    /// the second newest snapshot (or an older one a peer is fetching):
    /// followers a little behind the newest
    /// anchor still find their entries as log (at least one threshold of
    /// them) instead of needing a transfer. True if the engine got a
    /// `PruneLog` (its outputs must be drained).
    pub(super) fn compact(&mut self) -> bool {
        if let Some(anchor) = self.anchor_due(self.engine.applied_index()) {
            self.snapshot_at(anchor);
        }
        let Some(second) = self.held.iter().rev().nth(1).map(|h| h.anchor.index) else {
            return false;
        };
        // Keep the log after any snapshot a peer is still fetching: once it
        // installed that snapshot it needs the entries after it, and if
        // they were pruned meanwhile it would chase a newer snapshot.
        // Bounded: at most `MAX_HELD` snapshots, each for `snapshot_ttl`.
        let ttl = self.sync.transfer().map(|t| t.snapshot_ttl);
        let in_use = self
            .held
            .iter()
            .filter(|h| {
                h.served
                    .zip(ttl)
                    .is_some_and(|(at, ttl)| at.elapsed() < ttl)
            })
            .map(|h| h.anchor.index)
            .min();
        let older = in_use.map_or(second, |i| i.min(second));
        if older <= self.engine.log().base().index {
            return false;
        }
        self.engine
            .handle(self.now(), Input::PruneLog { up_to: older });
        true
    }

    /// Answers a peer's query, digest request or fetch from the held
    /// snapshots.
    pub(super) fn serve(&mut self, peer: PeerId, msg: SyncMessage) {
        let reply = match msg {
            SyncMessage::Query { base } => SyncMessage::Offer {
                snapshots: self.offer_from(base),
            },
            SyncMessage::Digest { anchor } => {
                if !self.await_digest(peer, anchor) {
                    // Offered once computed (see `digests.rs`).
                    return;
                }
                // Known, failed or not held: the offer says which, at once.
                SyncMessage::Offer {
                    snapshots: self.offer_of(anchor),
                }
            }
            SyncMessage::Fetch { anchor, range } => match self.serve_range(peer, anchor, range) {
                Some(reply) => reply,
                None => return,
            },
            SyncMessage::Offer { .. } | SyncMessage::Data { .. } => return,
        };
        if let Some(bond) = self.bonds.get(&peer) {
            // Best effort: a full queue loses the reply and the requester's
            // fetch timeout moves the range to another peer.
            let _ = bond.out.try_send(BondMessage::Sync(reply));
        }
    }

    /// The held snapshots at or after `base` that can be offered. The
    /// newest is kept alive for `snapshot_ttl` now that a peer knows of
    /// it: it is the one a joiner picks. Pinning every offered one made
    /// them outnumber `MAX_HELD` when anchors came fast, and the oldest
    /// pinned, the one being fetched, was dropped first
    /// (`collections::sync` test
    /// `joiner_catches_up_when_anchors_outpace_digests`).
    pub(super) fn offer_from(&mut self, base: Index) -> Vec<SnapshotInfo> {
        let snapshots: Vec<SnapshotInfo> = self
            .held
            .iter()
            .filter(|h| h.anchor.index >= base)
            .filter_map(Held::info)
            .collect();
        self.offered(snapshots)
    }

    /// The held snapshot at exactly `anchor`, if it can be offered.
    pub(super) fn offer_of(&mut self, anchor: Cursor<PeerId>) -> Vec<SnapshotInfo> {
        let snapshots: Vec<SnapshotInfo> = self
            .held
            .iter()
            .filter(|h| h.anchor == anchor)
            .filter_map(Held::info)
            .collect();
        self.offered(snapshots)
    }

    /// An offer of `snapshots` is about to go out: its newest is pinned,
    /// and the offer counted.
    fn offered(&mut self, snapshots: Vec<SnapshotInfo>) -> Vec<SnapshotInfo> {
        if let Some(newest) = snapshots.last() {
            self.pin(newest.anchor);
            // SPEC's name: snapshot sync is what collections use, and an
            // offer is where serving a catch-up starts.
            metrics::counter!("mosaik.collections.syncs.started", self.labels.as_ref())
                .increment(1);
        }
        snapshots
    }

    /// Keeps the held snapshot at `anchor` (and the log after it) for
    /// `snapshot_ttl` from now: a peer knows of it.
    pub(super) fn pin(&mut self, anchor: Cursor<PeerId>) {
        if let Some(held) = self.held.iter_mut().find(|h| h.anchor == anchor) {
            held.served = Some(Instant::now());
        }
    }

    /// Items of a held snapshot, clamped to the batch size and to a byte
    /// budget well below the link's frame size. Empty if not held (or the
    /// range is invalid): the requester drops us and asks someone else.
    ///
    /// Encoding a batch (megabytes) would stall the worker loop, and with it
    /// heartbeats and the group's writes, so it runs on a background thread
    /// (lower priority, `primitives/background.rs`) on a clone of the held
    /// machine (O(1) for persistent structures) and the reply is sent from
    /// there (`None` returned). At most `MAX_SERVING` encodes run at once
    /// per group; beyond that (a peer flooding fetches) the batch is
    /// encoded inline, which bounds threads.
    fn serve_range(
        &mut self,
        peer: PeerId,
        anchor: Cursor<PeerId>,
        range: core::ops::Range<u64>,
    ) -> Option<SyncMessage> {
        let batch = self.sync.transfer().map_or(1, |t| t.fetch_batch_size);
        let budget = (self.local.max_frame_size() / 4).clamp(1, MAX_BATCH_BYTES);
        let offset = range.start;
        let empty = SyncMessage::Data {
            anchor,
            offset,
            items: Vec::new(),
        };
        let Some(held) = self.held.iter_mut().find(|h| h.anchor == anchor) else {
            return Some(empty);
        };
        let end = range.end.min(held.items).min(offset.saturating_add(batch));
        if offset >= end {
            return Some(empty);
        }
        held.served = Some(Instant::now());
        let serving = self.serving.clone();
        let out = self.bonds.get(&peer).map(|b| b.out.clone());
        // The simulator encodes inline: its jobs must not finish at a
        // moment of real time (`primitives/background.rs`).
        if !runs_inline()
            && let Some(out) = out
            && let Some(machine) = self.sync.clone_machine(&held.machine)
        {
            // A slot is taken only here, so only a job gives it back (a
            // release without a take once wrapped the count and left every
            // later range encoded inline).
            if serving.fetch_add(1, Ordering::AcqRel) < MAX_SERVING {
                spawn_background("serve", move || {
                    let reply =
                        encode_reply(&machine.state_sync(), &machine, anchor, offset..end, budget);
                    // Wait for room rather than drop the reply: a lost batch
                    // costs the requester a whole `fetch_timeout`. This
                    // thread is free to wait; it ends when the bond does.
                    let _ = out.blocking_send(BondMessage::Sync(reply));
                    serving.fetch_sub(1, Ordering::AcqRel);
                });
                return None;
            }
            serving.fetch_sub(1, Ordering::AcqRel);
        }
        Some(encode_reply(
            &self.sync,
            &held.machine,
            anchor,
            offset..end,
            budget,
        ))
    }

    /// Resets the machine to its state at `at` for a replay: the initial
    /// value at index 0, else the held snapshot at exactly that point.
    /// Snapshots after `to` reflect discarded entries and are dropped.
    pub(super) fn restore_to(&mut self, to: Index, at: Cursor<PeerId>) -> Result<(), StorageError> {
        self.held.retain(|h| h.anchor.index <= to);
        if at.index == Index::ZERO {
            let pristine = self.pristine.as_ref();
            self.machine = pristine
                .and_then(|p| self.sync.clone_machine(p))
                .ok_or_else(|| {
                    tracing::error!(
                        "cannot rebuild the state machine after a revert: it cannot be copied \
                         (StateMachine::try_clone returns None)"
                    );
                    StorageError::new("no copy of the initial state machine to replay onto")
                })?;
            return Ok(());
        }
        // Without the state at `at` the replay would apply the log onto a
        // machine that does not match it: stop the group instead.
        let held = self.held.iter().find(|h| h.anchor == at).ok_or_else(|| {
            tracing::error!(
                at = at.index.0,
                "cannot rebuild the state machine after a revert: no snapshot held there"
            );
            StorageError::new(format!("no snapshot at {} to replay from", at.index))
        })?;
        self.machine = self
            .sync
            .clone_machine(&held.machine)
            .ok_or_else(|| StorageError::new("the held snapshot cannot be copied"))?;
        Ok(())
    }
}

/// A `Data` reply with the encoded items `range` of `machine` (empty if
/// they cannot be encoded).
fn encode_reply<M: StateMachine>(
    sync: &M::StateSync,
    machine: &M,
    anchor: Cursor<PeerId>,
    range: core::ops::Range<u64>,
    budget: usize,
) -> SyncMessage {
    let offset = range.start;
    let items = sync
        .encode_items(machine, range, budget)
        .unwrap_or_else(|err| {
            tracing::warn!(%err, "cannot serve a snapshot range");
            Vec::new()
        });
    SyncMessage::Data {
        anchor,
        offset,
        items,
    }
}

#[cfg(test)]
mod tests {
    use {super::*, mosaik_raft::Term};

    fn held(anchors: &[u64]) -> Vec<Held<()>> {
        anchors
            .iter()
            .map(|&a| Held::new(Cursor::new(Term::zero(), Index(a)), (), 0, None))
            .collect()
    }

    fn anchors(held: &[Held<()>]) -> Vec<u64> {
        held.iter().map(|h| h.anchor.index.0).collect()
    }

    /// Issue 16, bug 7: a new anchor was snapshotted but `compact()` has
    /// not moved the base yet (base = the third newest, never served): the
    /// base snapshot stays, older unserved ones go.
    #[test]
    fn the_snapshot_at_the_log_base_never_expires() {
        let mut snapshots = held(&[100, 200, 300, 400]);
        let expired = expire(
            &mut snapshots,
            Index(200),
            Some(core::time::Duration::from_secs(10)),
        );
        assert_eq!(anchors(&snapshots), [200, 300, 400]);
        assert_eq!(anchors(&expired), [100], "handed back to be dropped");
        // Over `MAX_HELD` (all served recently): the oldest non-base ones go.
        let mut snapshots = held(&[100, 200, 300, 400, 500, 600]);
        for h in &mut snapshots {
            h.served = Some(Instant::now());
        }
        let expired = expire(
            &mut snapshots,
            Index(100),
            Some(core::time::Duration::from_secs(10)),
        );
        assert_eq!(anchors(&snapshots), [100, 400, 500, 600]);
        assert_eq!(anchors(&expired), [200, 300]);
    }
}
