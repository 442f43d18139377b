//! `Limits`: what a remote peer may make this node hold at once.
//!
//! Every quantity a peer controls before it proved who it is (connections,
//! bytes of frames in flight, QUIC handshakes) is capped here, checked at
//! accept time before any frame is read (SPEC Part C §C4).

use core::time::Duration;

/// Default cap on incoming connections of one protocol (ALPN) from peers
/// the catalog knows.
pub const DEFAULT_MAX_CONNECTIONS_PER_PROTOCOL: usize = 256;

/// Default cap on incoming connections of one protocol from peers the
/// catalog does not know. A separate pool, so unknown peers can never take
/// the slots of known ones.
pub const DEFAULT_MAX_UNKNOWN_CONNECTIONS: usize = 32;

/// Default cap on incoming connections of one protocol from one remote
/// peer (a consumer opens one per stream, a member one per group).
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 64;

/// Default time a peer the catalog does not know gets to send its first
/// frame (known peers get the accept timeout).
pub const DEFAULT_UNKNOWN_ACCEPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Default node-wide cap on bytes of frames being received on links whose
/// peer is not admitted yet (handshakes, catalog snapshots).
pub const DEFAULT_MAX_UNAUTHENTICATED_BYTES: usize = 64 * 1024 * 1024;

/// Default node-wide rate, in bytes per second, at which links whose peer
/// is not admitted yet are read (a honest catalog snapshot of a few
/// megabytes is read in well under a second; a flood of large frames costs
/// the node at most this much decryption and copying per second).
pub const DEFAULT_MAX_UNAUTHENTICATED_RATE: u64 = 16 * 1024 * 1024;

/// Default cap on QUIC handshakes in progress at once.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 256;

/// Default rate of new incoming connections one source address may open
/// per second (checked before the TLS handshake).
pub const DEFAULT_MAX_CONNECTIONS_PER_SECOND: u32 = 32;

/// Default burst of new incoming connections one source address may open
/// at once.
pub const DEFAULT_MAX_CONNECTION_BURST: u32 = 128;

/// Caps on what remote peers may make this node hold, before and after
/// they are admitted. Set with `NetworkBuilder::with_limits`; every field
/// also has its own `with_*` builder method.
///
/// A new connection over its source's rate or over the cap on handshakes
/// in progress is refused before the TLS handshake (QUIC's stateless
/// `CONNECTION_REFUSED`, the cheapest answer there is). Over a connection
/// cap, a new connection is closed at once with
/// [`ConnectionLimit`](super::ConnectionLimit), and a frame that would
/// exceed the byte budget closes its link the same way. Every refusal is
/// counted in `mosaik.network.connections.refused{reason}`. The caps are
/// reported as gauges (`mosaik.network.limits.*`,
/// `mosaik.network.budget.unauthenticated.capacity`) next to their use
/// (`mosaik.network.connections.active{alpn}`,
/// `mosaik.network.budget.unauthenticated.bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Incoming connections of one protocol from known peers.
    pub max_connections_per_protocol: usize,
    /// Incoming connections of one protocol from unknown peers.
    pub max_unknown_connections: usize,
    /// Incoming connections of one protocol from one peer.
    pub max_connections_per_peer: usize,
    /// Time an unknown peer gets to send its first frame.
    pub unknown_accept_timeout: Duration,
    /// Node-wide bytes of frames in flight on links not admitted yet. The
    /// last quarter is kept for frames of at most 64 KiB (handshakes, a
    /// small catalog snapshot), so a flood of large frames cannot keep an
    /// honest newcomer out.
    pub max_unauthenticated_bytes: usize,
    /// Node-wide bytes per second read from links not admitted yet (0:
    /// unlimited).
    pub max_unauthenticated_rate: u64,
    /// QUIC handshakes in progress at once; more are refused.
    pub max_pending_handshakes: usize,
    /// New incoming connections one source address may open per second;
    /// more are refused before the TLS handshake. A source is an address
    /// and port (an endpoint sends from one) or, through a relay, a peer
    /// id. At most 4,096 sources are tracked at once, each with its own
    /// allowance; when that many are all spending, any other source shares
    /// one more allowance of the same rate and burst (counted in
    /// `mosaik.network.connections.rate_overflow`), so a flood of
    /// addresses costs a fixed amount of memory.
    pub max_connections_per_second: u32,
    /// Burst allowance of new connections per source address.
    pub max_connection_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections_per_protocol: DEFAULT_MAX_CONNECTIONS_PER_PROTOCOL,
            max_unknown_connections: DEFAULT_MAX_UNKNOWN_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            unknown_accept_timeout: DEFAULT_UNKNOWN_ACCEPT_TIMEOUT,
            max_unauthenticated_bytes: DEFAULT_MAX_UNAUTHENTICATED_BYTES,
            max_unauthenticated_rate: DEFAULT_MAX_UNAUTHENTICATED_RATE,
            max_pending_handshakes: DEFAULT_MAX_PENDING_HANDSHAKES,
            max_connections_per_second: DEFAULT_MAX_CONNECTIONS_PER_SECOND,
            max_connection_burst: DEFAULT_MAX_CONNECTION_BURST,
        }
    }
}
