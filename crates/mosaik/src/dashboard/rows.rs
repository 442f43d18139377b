//! Turns what the node holds into the view's rows: peers (with tag names
//! where known), edges, stream channels, collection stores. Plain
//! functions, kept apart from `sampler` (which holds the state across
//! samples: rates, elections, the last view).

use {
    super::view::{Channel, Collection, Edge, Peer, TagLabel},
    crate::{
        NetworkId, PeerId, Tag, collections::registry, discovery::PeerEntry,
        groups::telemetry::GroupSample, streams::observe::ChannelSample,
    },
    core::time::Duration,
    std::collections::BTreeMap,
};

/// Tag names known on this node, by digest.
pub(super) type TagNames = BTreeMap<Tag, String>;

/// One peer's row; `names` labels its tags where it can.
pub(super) fn peer(
    entry: &PeerEntry,
    local: bool,
    rtt: Option<Duration>,
    names: &TagNames,
) -> Peer {
    Peer {
        id: entry.id().to_string(),
        local,
        tags: entry
            .tags()
            .iter()
            .map(|tag| TagLabel {
                id: tag.to_string(),
                name: names.get(tag).cloned(),
            })
            .collect(),
        streams: entry.streams().iter().map(ToString::to_string).collect(),
        groups: entry.groups().iter().map(ToString::to_string).collect(),
        addresses: entry
            .address()
            .ip_addrs()
            .map(ToString::to_string)
            .collect(),
        relays: entry
            .address()
            .relay_urls()
            .map(ToString::to_string)
            .collect(),
        rtt_ms: rtt.map(|r| (r.as_secs_f64() * 10_000.0).round() / 10.0),
        started_ms: entry.started_at().timestamp_millis(),
    }
}

pub(super) fn edge(from: &str, to: &str, kind: &'static str) -> Edge {
    Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        kind,
    }
}

pub(super) fn channels(list: &[ChannelSample]) -> Vec<Channel> {
    list.iter()
        .map(|c| Channel {
            peer: c.peer.to_string(),
            state: c.state.to_string(),
            datums: c.datums,
        })
        .collect()
}

/// The collection stores `node` holds in `network` (at most `max`), each
/// marked syncing when its group's sample says so; and how many there are
/// in total.
pub(super) fn collections(
    node: PeerId,
    network: NetworkId,
    max: usize,
    groups: &[GroupSample],
) -> (Vec<Collection>, usize) {
    let (samples, total) = registry::samples(node, network, max);
    let rows = samples
        .into_iter()
        .map(|s| Collection {
            store: s.store.to_string(),
            group: s.group.to_string(),
            kind: s.kind,
            size: s.size,
            version: s.version,
            role: if s.writer { "writer" } else { "reader" },
            // A store whose group is being replaced (a reader becoming a
            // writer) has no sample meanwhile: not syncing as far as known.
            syncing: groups.iter().any(|g| g.id == s.group && g.syncing),
        })
        .collect();
    (rows, total)
}
