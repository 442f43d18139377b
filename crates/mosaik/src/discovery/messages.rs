//! Discovery wire messages and protocol ALPNs.

use {
    super::{PeerEntryVersion, entry::UnverifiedEntry},
    crate::{PeerId, network::Protocol, primitives::Digest},
    chrono::{DateTime, Utc},
    iroh::{SecretKey, Signature},
    serde::{Deserialize, Serialize},
};

/// ALPN of the gossip announce protocol.
pub const ANNOUNCE_ALPN: &[u8] = b"/mosaik/discovery/announce/1.0";

/// Largest encoded peer entry we accept anywhere: the frame limit of a
/// gossip message and a ping reply, and a check on every entry merged from
/// anywhere else (catalog snapshots and single wire entries before their
/// signatures are verified; bond handshakes and updates and
/// `Discovery::feed` in `Shared::merge`). An entry with a few tickets fits easily; without the check a
/// snapshot could carry entries of megabytes each (one throwaway key per
/// entry), which the catalog would hold and copy into every snapshot it
/// serves.
pub(crate) const MAX_ENTRY_SIZE: usize = 64 * 1024;

/// Full catalog exchange: one snapshot each way, up to
/// `max_snapshot_entries` entries, so it keeps the node's frame limit; its
/// frames draw on the budget of unauthenticated bytes.
#[derive(Debug)]
pub struct SyncProtocol;

impl Protocol for SyncProtocol {
    /// 1.1: snapshots carry recent departure notices.
    const ALPN: &'static [u8] = b"/mosaik/discovery/sync/1.1";
}

/// Liveness and entry fetch.
#[derive(Debug)]
pub struct PingProtocol;

impl Protocol for PingProtocol {
    const ALPN: &'static [u8] = b"/mosaik/discovery/ping/1.0";
    /// The reply is one entry.
    const MAX_FRAME_SIZE: usize = MAX_ENTRY_SIZE;
    /// The request is empty.
    const HANDSHAKE_FRAME_SIZE: usize = 64;
}

/// Direct departure notice (backs up the gossip broadcast).
#[derive(Debug)]
pub struct DepartProtocol;

impl Protocol for DepartProtocol {
    const ALPN: &'static [u8] = b"/mosaik/discovery/depart/1.0";
    /// One `GracefulDeparture` (about 130 bytes).
    const MAX_FRAME_SIZE: usize = 1024;
    const HANDSHAKE_FRAME_SIZE: usize = 1024;
}

/// A catalog snapshot: every non-stale signed entry including the sender's,
/// and the departure notices the sender took within the last
/// `max_time_drift` (a node that missed a departure's broadcast learns it
/// at its next exchange; older notices would be refused as replays).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CatalogSnapshot(
    pub(crate) Vec<UnverifiedEntry>,
    pub(crate) Vec<GracefulDeparture>,
);

/// Gossip payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum AnnouncementMessage {
    /// The sender's current entry.
    OwnEntryUpdate(UnverifiedEntry),
    /// The sender is leaving.
    GracefulDeparture(GracefulDeparture),
}

/// A signed notice that a peer is leaving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GracefulDeparture {
    /// Who leaves.
    pub peer_id: PeerId,
    /// The last version of its entry.
    pub last_version: PeerEntryVersion,
    /// When it left.
    pub timestamp: DateTime<Utc>,
    /// Signature over `blake3(peer_id ‖ v.0 BE ‖ v.1 BE ‖ ts_ms BE)`.
    pub signature: Signature,
}

impl GracefulDeparture {
    fn message(peer: &PeerId, version: PeerEntryVersion, timestamp: DateTime<Utc>) -> Digest {
        Digest::from_parts(&[
            peer.as_bytes().as_slice(),
            &version.0.to_be_bytes(),
            &version.1.to_be_bytes(),
            &timestamp.timestamp_millis().to_be_bytes(),
        ])
    }

    /// Signs a departure for `key`'s peer.
    pub fn new(key: &SecretKey, last_version: PeerEntryVersion) -> Self {
        let peer_id = key.public();
        let timestamp = Utc::now();
        let signature = key.sign(Self::message(&peer_id, last_version, timestamp).as_bytes());
        Self {
            peer_id,
            last_version,
            timestamp,
            signature,
        }
    }

    /// Whether the signature is the peer's.
    pub fn verify(&self) -> bool {
        let msg = Self::message(&self.peer_id, self.last_version, self.timestamp);
        self.peer_id.verify(msg.as_bytes(), &self.signature).is_ok()
    }
}

/// The discovery decoders under fuzzing (see `crate::fuzzing`).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) const FUZZ_TARGETS: &[crate::fuzzing::Target] = {
    use crate::{
        discovery::SignedPeerEntry,
        fuzzing::{Target, decodes, enc, entry},
    };
    fn departure() -> GracefulDeparture {
        GracefulDeparture::new(&SecretKey::generate(), PeerEntryVersion(1, 2))
    }
    &[
        Target {
            name: "signed_entry",
            decode: decodes::<SignedPeerEntry>,
            seeds: || vec![enc(&entry("n")), enc(&entry("n"))],
        },
        Target {
            name: "catalog_snapshot",
            decode: decodes::<CatalogSnapshot>,
            seeds: || {
                vec![enc(&CatalogSnapshot(
                    vec![entry("n").into(), entry("n").into()],
                    vec![departure()],
                ))]
            },
        },
        Target {
            name: "announcement",
            decode: decodes::<AnnouncementMessage>,
            seeds: || {
                vec![
                    enc(&AnnouncementMessage::OwnEntryUpdate(entry("n").into())),
                    enc(&AnnouncementMessage::GracefulDeparture(departure())),
                ]
            },
        },
        Target {
            name: "departure",
            decode: decodes::<GracefulDeparture>,
            seeds: || vec![enc(&departure())],
        },
        Target {
            name: "unverified_entry",
            decode: decodes::<UnverifiedEntry>,
            seeds: || vec![enc(&UnverifiedEntry::from(entry("n")))],
        },
    ]
};

#[cfg(test)]
mod tests {
    use {super::*, crate::network::fuzz::fuzz_all};

    #[test]
    fn departure_signature_binds_fields() {
        let key = SecretKey::generate();
        let d = GracefulDeparture::new(&key, PeerEntryVersion(1, 2));
        assert!(d.verify());
        let mut tampered = d.clone();
        tampered.last_version = PeerEntryVersion(1, 3);
        assert!(!tampered.verify());
    }

    #[test]
    fn discovery_decoders() {
        fuzz_all(FUZZ_TARGETS);
    }
}
