//! Snapshot transfer messages, carried in a bond message (SPEC §2.4
//! `SnapshotSyncMessage`, reshaped for deterministic anchors: a member asks
//! everyone which anchors they hold instead of asking the leader to mark
//! one).

use {
    crate::{PeerId, primitives::Digest},
    bytes::Bytes,
    core::ops::Range,
    serde::{Deserialize, Serialize},
};

/// Most anchors one offer may list (providers hold at most
/// [`MAX_HELD`]); a longer offer is invalid.
pub(crate) const MAX_OFFERED: usize = 8;
/// Most snapshots a provider holds at once per group.
pub(crate) const MAX_HELD: usize = 4;

/// A snapshot a provider holds: the machine state after `anchor`.
/// Offers with the same anchor and item count are interchangeable sources
/// of one snapshot unless both name a digest and the digests differ (see
/// `sync/digest.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct SnapshotInfo {
    pub(crate) anchor: mosaik_raft::Cursor<PeerId>,
    pub(crate) items: u64,
    /// The content's digest, if the holder has computed it: only a holder
    /// asked with [`SyncMessage::Digest`] does. The receiver installs an
    /// assembled snapshot only if it matches the leader's.
    pub(crate) digest: Option<Digest>,
}

impl SnapshotInfo {
    /// Whether `self` and `other` may be stitched into one snapshot: the
    /// same anchor and size, and no two known digests that differ.
    pub(crate) fn same_content(&self, other: &Self) -> bool {
        self.anchor == other.anchor
            && self.items == other.items
            && match (self.digest, other.digest) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// State-sync traffic of one group, both directions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum SyncMessage {
    /// Which snapshots at or after `base` do you hold?
    Query { base: mosaik_raft::Index },
    /// The answer to a query or a digest request (possibly empty): the
    /// held snapshots, each with its digest if computed.
    Offer { snapshots: Vec<SnapshotInfo> },
    /// Compute the digest of your snapshot at `anchor`: answered by an
    /// offer once it is known (at once if it was), or at once without the
    /// anchor if it is not held. Sent to the leader only: its digest is
    /// the one a transfer is checked against.
    Digest { anchor: mosaik_raft::Cursor<PeerId> },
    /// Items `range` of the snapshot at `anchor`.
    Fetch {
        anchor: mosaik_raft::Cursor<PeerId>,
        range: Range<u64>,
    },
    /// Items from `offset` (a prefix of the requested range: the provider
    /// stops at its byte budget). Empty when it no longer holds `anchor`.
    Data {
        anchor: mosaik_raft::Cursor<PeerId>,
        offset: u64,
        items: Vec<Bytes>,
    },
}
