//! The fetching state of a snapshot transfer: which ranges are out, to
//! whom, and which come next.

use {
    crate::{
        PeerId,
        groups::{
            InvalidSnapshot,
            sync::{
                SnapshotBuilder,
                digest::Verifier,
                wire::{SnapshotInfo, SyncMessage},
            },
        },
        primitives::Digest,
    },
    bytes::Bytes,
    core::ops::Range,
    mosaik_raft::Cursor,
    std::collections::{BTreeMap, BTreeSet, VecDeque},
    tokio::time::Instant,
};

/// One snapshot being fetched from its holders.
pub(super) struct Fetch<M> {
    pub(super) info: SnapshotInfo,
    /// Bonds formed after the choice, asked whether they hold it.
    pub(super) late: BTreeSet<PeerId>,
    pub(super) batch: u64,
    pub(super) sources: BTreeSet<PeerId>,
    pub(super) in_flight: BTreeMap<PeerId, (Range<u64>, Instant)>,
    /// Ranges handed back (a dropped peer's, or a partial answer's rest):
    /// at most one per source plus one per answer, so bounded by the
    /// number of bonds.
    pub(super) retry: VecDeque<Range<u64>>,
    /// Start of the first range never handed out; ranges are made lazily
    /// so an offered item count cannot make us allocate.
    pub(super) fresh: u64,
    pub(super) builder: Box<dyn SnapshotBuilder<M>>,
    /// Hashes the accepted ranges in item order, for the digest check
    /// before the snapshot is handed out for install.
    pub(super) verifier: Verifier,
    /// Peers whose ranges were accepted: the suspects if the digest does
    /// not match (bounded by the number of bonds).
    pub(super) contributors: BTreeSet<PeerId>,
    /// When the leader was last asked for its digest (`info.digest` is
    /// `None` until it answers).
    pub(super) digest_asked: Option<Instant>,
}

impl<M> Fetch<M> {
    /// Nothing to fetch (a stand-in while a real fetch is moved).
    pub(super) fn empty() -> Self {
        Self {
            info: SnapshotInfo {
                anchor: Cursor::zero(),
                items: 0,
                digest: None,
            },
            late: BTreeSet::new(),
            batch: 1,
            sources: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            retry: VecDeque::new(),
            fresh: 0,
            builder: Box::new(Unbuildable),
            verifier: Verifier::default(),
            contributors: BTreeSet::new(),
            digest_asked: None,
        }
    }

    /// A fetch of `info` from `sources`, nothing received yet.
    pub(super) fn new(
        info: SnapshotInfo,
        batch: u64,
        sources: BTreeSet<PeerId>,
        builder: Box<dyn SnapshotBuilder<M>>,
    ) -> Self {
        Self {
            info,
            late: BTreeSet::new(),
            batch: batch.max(1),
            sources,
            in_flight: BTreeMap::new(),
            retry: VecDeque::new(),
            fresh: 0,
            builder,
            verifier: Verifier::default(),
            contributors: BTreeSet::new(),
            digest_asked: None,
        }
    }

    /// Items accepted from `peer` at `offset` (already inserted into the
    /// builder): hashed towards the digest check.
    pub(super) fn accepted(&mut self, peer: PeerId, offset: u64, items: &[Bytes]) {
        self.verifier.insert(offset, items);
        self.contributors.insert(peer);
    }

    /// The leader's digest, once every item arrived and they match it.
    pub(super) fn verified(&self) -> Option<Digest> {
        let digest = self.info.digest?;
        (self.verifier.finish(self.info.items) == Some(digest)).then_some(digest)
    }

    /// A request for `leader`'s digest of this snapshot.
    pub(super) fn ask_digest(&mut self, leader: PeerId) -> (PeerId, SyncMessage) {
        self.digest_asked = Some(Instant::now());
        (
            leader,
            SyncMessage::Digest {
                anchor: self.info.anchor,
            },
        )
    }

    /// Every peer this fetch knows holds (or held) its snapshot: sources,
    /// late bonds asked about it, and contributors of accepted ranges.
    pub(super) fn known_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.sources
            .iter()
            .chain(&self.late)
            .chain(&self.contributors)
            .copied()
    }

    pub(super) fn drop_source(&mut self, peer: PeerId) {
        self.sources.remove(&peer);
        if let Some((range, _)) = self.in_flight.remove(&peer) {
            self.retry.push_front(range);
        }
    }

    /// Ranges not yet handed out.
    pub(super) fn remaining(&self) -> u64 {
        let fresh = self
            .info
            .items
            .saturating_sub(self.fresh)
            .div_ceil(self.batch);
        self.retry.len() as u64 + fresh
    }

    pub(super) fn next_range(&mut self) -> Option<Range<u64>> {
        if let Some(range) = self.retry.pop_front() {
            return Some(range);
        }
        if self.fresh >= self.info.items {
            return None;
        }
        let start = self.fresh;
        self.fresh = start.saturating_add(self.batch).min(self.info.items);
        Some(start..self.fresh)
    }
}

/// The builder of [`Fetch::empty`]; never used.
struct Unbuildable;

impl<M> SnapshotBuilder<M> for Unbuildable {
    fn insert(&mut self, _: u64, _: &[Bytes]) -> Result<(), InvalidSnapshot> {
        Err(InvalidSnapshot("no transfer".into()))
    }

    fn install(self: Box<Self>, _: &mut M) -> Result<(), InvalidSnapshot> {
        Err(InvalidSnapshot("no transfer".into()))
    }
}
