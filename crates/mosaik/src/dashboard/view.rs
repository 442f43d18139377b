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
    /// producer–consumer channel of this node), `known` (in the catalog).
    pub(super) edges: Vec<Edge>,
    pub(super) producers: Vec<Producer>,
    pub(super) consumers: Vec<Consumer>,
    pub(super) groups: Vec<Group>,
    /// Gossip neighbours of this node (a count: iroh-gossip does not list
    /// them).
    pub(super) gossip_neighbors: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct Peer {
    pub(super) id: String,
    pub(super) local: bool,
    pub(super) tags: Vec<String>,
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
