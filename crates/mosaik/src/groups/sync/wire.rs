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
/// Equal infos are interchangeable sources of one snapshot; `digest` is
/// part of that equality, so holders of an anchor whose content differs
/// are never mixed in one transfer (see `sync/digest.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct SnapshotInfo {
    pub(crate) anchor: mosaik_raft::Cursor<PeerId>,
    pub(crate) items: u64,
    /// The content's digest: the receiver refuses an assembled snapshot
    /// that does not match it.
    pub(crate) digest: Digest,
}

/// State-sync traffic of one group, both directions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum SyncMessage {
    /// Which snapshots at or after `base` do you hold?
    Query { base: mosaik_raft::Index },
    /// The answer to a query (possibly empty): the held snapshots whose
    /// digest is computed.
    Offer { snapshots: Vec<SnapshotInfo> },
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
