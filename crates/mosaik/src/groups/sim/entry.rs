//! Signed catalog entries with versions the simulation chooses.
//!
//! A real entry's version is wall-clock time (`now_ms`), which would make
//! a run depend on when it ran. The driver compares versions (a later
//! process start replaces a bond), so the simulation stamps entries with
//! its own counter instead. `PeerEntry` has no constructor taking a
//! version, so the entry is built through its wire form, field for field.

use {
    crate::{
        GroupId, NetworkId, StreamId, Tag, UniqueId,
        discovery::{PeerEntry, PeerEntryVersion, SignedPeerEntry},
        primitives::encoding,
        tickets::Ticket,
    },
    iroh::{EndpointAddr, SecretKey},
    serde::Serialize,
    std::collections::{BTreeMap, BTreeSet},
};

/// Far in the future, so the catalog's staleness check (against the real
/// clock) never purges a simulated entry.
const EPOCH_MS: i64 = 4_102_444_800_000;

/// `PeerEntry`'s wire shape (same fields, same order).
#[derive(Serialize)]
struct Wire<'a> {
    protocol: semver::Version,
    network: NetworkId,
    version: PeerEntryVersion,
    address: EndpointAddr,
    tags: BTreeSet<Tag>,
    streams: BTreeSet<StreamId>,
    groups: &'a BTreeSet<GroupId>,
    tickets: BTreeMap<UniqueId, Ticket>,
}

/// The entry of incarnation `incarnation` of `key`'s machine, update
/// `update` of it, advertising `groups`.
pub(super) fn entry(
    key: &SecretKey,
    network: NetworkId,
    incarnation: u64,
    update: u64,
    groups: &BTreeSet<GroupId>,
) -> SignedPeerEntry {
    let address = EndpointAddr::new(key.public());
    let protocol = PeerEntry::new(network, address.clone())
        .protocol_version()
        .clone();
    let started = EPOCH_MS + i64::try_from(incarnation).unwrap_or(i64::MAX / 4) * 1_000_000;
    let wire = Wire {
        protocol,
        network,
        version: PeerEntryVersion(started, started + i64::try_from(update).unwrap_or(0)),
        address,
        tags: BTreeSet::new(),
        streams: BTreeSet::new(),
        groups,
        tickets: BTreeMap::new(),
    };
    let bytes = encoding::serialize(&wire);
    let entry: PeerEntry = encoding::deserialize(&bytes).expect("same shape as PeerEntry");
    entry.sign(key).expect("signed with its own key")
}
