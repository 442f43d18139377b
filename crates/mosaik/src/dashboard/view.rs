//! The JSON shape of one snapshot (`GET /api/snapshot`, each SSE event).
//! Ids are full hex strings; the page shortens them for display.

use serde::Serialize;

/// This node's view of the network.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(super) struct View {
    pub(super) network: String,
    /// This node's peer id.
    pub(super) node: String,
    /// This node first, then every signed catalog entry.
    pub(super) peers: Vec<Peer>,
    /// Graph edges: `bond` (a group bond of this node), `stream` (a
    /// producer–consumer channel of this node), `gossip` (a gossip
    /// neighbor of this node), `known` (in the catalog). Two peers may be
    /// joined by several edges, one per kind.
    pub(super) edges: Vec<Edge>,
    pub(super) producers: Vec<Producer>,
    pub(super) consumers: Vec<Consumer>,
    pub(super) groups: Vec<Group>,
    /// The collection stores this node holds (at most
    /// `DashboardConfig::max_collections`), ordered by store id.
    pub(super) collections: Vec<Collection>,
    /// How many collection stores this node holds, listed or not.
    pub(super) collections_total: usize,
    /// This node's gossip neighbors (the gossip active view), by id.
    pub(super) gossip_neighbors: Vec<String>,
}

/// A tag: its digest, and its name where this node knows it
/// (`DashboardConfig::with_tag_names`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct TagLabel {
    pub(super) id: String,
    pub(super) name: Option<String>,
}

/// One collection store held by this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Collection {
    pub(super) store: String,
    pub(super) group: String,
    /// `map`, `vec`, `set`, `cell`, `once` or `pq`.
    pub(super) kind: &'static str,
    /// Elements in the local replica's latest applied state.
    pub(super) size: u64,
    /// The committed index the local replica applied.
    pub(super) version: u64,
    /// `writer` or `reader` (an observer of the store's group).
    pub(super) role: &'static str,
    /// A catch-up (empty-log catch-up, snapshot transfer or log fetch) is
    /// in progress in the store's group.
    pub(super) syncing: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Peer {
    pub(super) id: String,
    pub(super) local: bool,
    pub(super) tags: Vec<TagLabel>,
    pub(super) streams: Vec<String>,
    pub(super) groups: Vec<String>,
    pub(super) addresses: Vec<String>,
    pub(super) relays: Vec<String>,
    pub(super) rtt_ms: Option<f64>,
    /// When the peer's process started (ms since the Unix epoch): the
    /// page derives the uptime, so a ticking clock changes no snapshot.
    pub(super) started_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(super) struct Edge {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Channel {
    pub(super) peer: String,
    pub(super) state: String,
    pub(super) datums: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Producer {
    pub(super) stream: String,
    pub(super) datum: &'static str,
    pub(super) sent: u64,
    pub(super) dropped: u64,
    /// Datums sent per second, averaged over about a second.
    pub(super) rate: f64,
    pub(super) consumers: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Consumer {
    pub(super) stream: String,
    pub(super) datum: &'static str,
    pub(super) received: u64,
    /// Datums received per second, averaged over about a second.
    pub(super) rate: f64,
    pub(super) producers: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Member {
    pub(super) peer: String,
    /// Highest index known to match the leader's log (known on the
    /// leader only; the leader's own entry is its log position).
    pub(super) matched: Option<u64>,
    /// Entries behind the leader's log (known on the leader only).
    pub(super) lag: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Election {
    pub(super) at_ms: i64,
    pub(super) term: u64,
    pub(super) leader: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Group {
    pub(super) id: String,
    /// `collection` for the groups behind `mosaik::collections`, else
    /// `group`.
    pub(super) kind: &'static str,
    pub(super) machine: &'static str,
    pub(super) leader: Option<String>,
    pub(super) is_leader: bool,
    pub(super) online: bool,
    pub(super) term: u64,
    /// This member is catching up (see [`Collection::syncing`]).
    pub(super) syncing: bool,
    pub(super) committed: u64,
    pub(super) log_index: u64,
    pub(super) reverts: u64,
    pub(super) members: Vec<Member>,
    /// Leader changes this node saw, newest last (at most
    /// `sampler::MAX_ELECTIONS`).
    pub(super) elections: Vec<Election>,
}

/// What `/api/snapshot` answers and each event carries.
#[derive(Debug, Serialize)]
pub(super) struct Envelope<'a> {
    /// Bumped whenever the view changed.
    pub(super) version: u64,
    pub(super) at_ms: i64,
    #[serde(flatten)]
    pub(super) view: &'a View,
}
