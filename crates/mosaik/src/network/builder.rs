//! `NetworkBuilder`: configures and starts a node.

use {
    super::{Limits, LinkConfig, Network, NetworkError},
    crate::primitives::NetworkId,
    core::time::Duration,
    iroh::{RelayMode, SecretKey},
    std::{collections::BTreeSet, net::SocketAddr},
};

/// Default time a peer gets to finish the QUIC handshake and open its
/// stream before an accept attempt is abandoned.
pub const DEFAULT_ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures a [`Network`] before starting it (owned builder pattern).
#[derive(Debug, Clone)]
#[must_use]
pub struct NetworkBuilder {
    pub(super) network_id: Option<NetworkId>,
    pub(super) relay_mode: RelayMode,
    pub(super) mdns_discovery: bool,
    pub(super) addresses: BTreeSet<SocketAddr>,
    pub(super) secret_key: Option<SecretKey>,
    pub(super) link: LinkConfig,
    pub(super) limits: Limits,
    pub(super) discovery: crate::discovery::ConfigBuilder,
    pub(super) streams: crate::streams::ConfigBuilder,
    pub(super) groups: crate::groups::ConfigBuilder,
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(super) prometheus: Option<SocketAddr>,
    #[cfg(feature = "dashboard")]
    pub(super) dashboard: Option<crate::dashboard::DashboardConfig>,
}

impl Default for NetworkBuilder {
    fn default() -> Self {
        Self {
            network_id: None,
            relay_mode: RelayMode::Default,
            mdns_discovery: false,
            addresses: BTreeSet::new(),
            secret_key: None,
            link: LinkConfig::default(),
            limits: Limits::default(),
            discovery: crate::discovery::ConfigBuilder::default(),
            streams: crate::streams::ConfigBuilder::default(),
            groups: crate::groups::ConfigBuilder::default(),
            prometheus: None,
            #[cfg(feature = "dashboard")]
            dashboard: None,
        }
    }
}

impl NetworkBuilder {
    /// Sets the network id (required).
    pub fn with_network_id(mut self, id: impl Into<NetworkId>) -> Self {
        self.network_id = Some(id.into());
        self
    }

    /// Sets the relay mode (default: iroh's public relays). Relays are only
    /// used to reach peers behind NATs; startup never waits for them.
    pub fn with_relay_mode(mut self, mode: RelayMode) -> Self {
        self.relay_mode = mode;
        self
    }

    /// Enables mDNS discovery of peers on the local network (default off).
    pub fn with_mdns_discovery(mut self, enabled: bool) -> Self {
        self.mdns_discovery = enabled;
        self
    }

    /// Sets the addresses to bind (default: all interfaces, random port).
    pub fn with_addresses(mut self, addresses: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.addresses = addresses.into_iter().collect();
        self
    }

    /// Sets the node's secret key (default: random, so a new peer id each run).
    pub fn with_secret_key(mut self, key: SecretKey) -> Self {
        self.secret_key = Some(key);
        self
    }

    /// Sets the maximum frame size of every link (default 16 MiB).
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.link.max_frame_size = bytes;
        self
    }

    /// Beyond the original: sets the largest UDP payload, in bytes, this
    /// node's QUIC connections grow their datagrams to (default
    /// [`DEFAULT_MAX_DATAGRAM_SIZE`](super::DEFAULT_MAX_DATAGRAM_SIZE),
    /// 16 KiB). Each connection's path-MTU discovery searches up to it and
    /// stops at what the path carries: on loopback and links with jumbo
    /// frames, large transfers then need a tenth of the packets, each of
    /// which costs CPU; on an ordinary path the search settles at about
    /// 1,450 bytes. 1,452 keeps iroh's own bound (one Ethernet packet).
    /// Below [`MIN_MAX_DATAGRAM_SIZE`](super::MIN_MAX_DATAGRAM_SIZE) the
    /// network refuses to start
    /// ([`NetworkError::InvalidDatagramSize`](super::NetworkError::InvalidDatagramSize)).
    pub fn with_max_datagram_size(mut self, bytes: u16) -> Self {
        self.link.max_datagram_size = bytes;
        self
    }

    /// Sets how long an incoming connection may take to complete its
    /// handshake and open its stream (default 10 s).
    pub fn with_accept_timeout(mut self, timeout: Duration) -> Self {
        self.link.accept_timeout = timeout;
        self
    }

    /// Sets every limit on remote peers at once (see [`Limits`] for the
    /// defaults).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Caps incoming connections of one protocol from peers the catalog
    /// knows (default 256).
    pub fn with_max_connections_per_protocol(mut self, n: usize) -> Self {
        self.limits.max_connections_per_protocol = n;
        self
    }

    /// Caps incoming connections of one protocol from peers the catalog
    /// does not know, a pool of its own (default 32).
    pub fn with_max_unknown_connections(mut self, n: usize) -> Self {
        self.limits.max_unknown_connections = n;
        self
    }

    /// Caps incoming connections of one protocol from one peer (default
    /// 64).
    pub fn with_max_connections_per_peer(mut self, n: usize) -> Self {
        self.limits.max_connections_per_peer = n;
        self
    }

    /// Sets how long a peer the catalog does not know gets to send its
    /// first frame (default 1 s).
    pub fn with_unknown_accept_timeout(mut self, timeout: Duration) -> Self {
        self.limits.unknown_accept_timeout = timeout;
        self
    }

    /// Caps the bytes of frames being received, node-wide, from peers not
    /// admitted yet (default 64 MiB).
    pub fn with_max_unauthenticated_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_unauthenticated_bytes = bytes;
        self
    }

    /// Caps the bytes per second read, node-wide, from peers not admitted
    /// yet (default 16 MiB/s; 0: unlimited). A slower reader stops the
    /// sender through QUIC flow control.
    pub fn with_max_unauthenticated_rate(mut self, bytes_per_second: u64) -> Self {
        self.limits.max_unauthenticated_rate = bytes_per_second;
        self
    }

    /// Caps the new incoming connections one source address may open per
    /// second, with a burst allowance (defaults 32/s, burst 128); more are
    /// refused before the TLS handshake.
    pub fn with_max_connections_per_second(mut self, per_second: u32, burst: u32) -> Self {
        self.limits.max_connections_per_second = per_second;
        self.limits.max_connection_burst = burst;
        self
    }

    /// Caps QUIC handshakes in progress at once (default 256).
    pub fn with_max_pending_handshakes(mut self, n: usize) -> Self {
        self.limits.max_pending_handshakes = n;
        self
    }

    /// Sets the discovery configuration.
    pub fn with_discovery(mut self, config: crate::discovery::ConfigBuilder) -> Self {
        self.discovery = config;
        self
    }

    /// Sets the streams configuration (e.g. the consumers' default
    /// reconnect backoff).
    pub fn with_streams(mut self, config: crate::streams::ConfigBuilder) -> Self {
        self.streams = config;
        self
    }

    /// Sets the groups configuration (the bond handshake timeout).
    pub fn with_groups(mut self, config: crate::groups::ConfigBuilder) -> Self {
        self.groups = config;
        self
    }

    /// Serves Prometheus metrics over HTTP on `addr` (default: none). Any
    /// `GET` is answered with the text exposition of this network's series
    /// (global label `network=<short id>`); port 0 picks a free port, see
    /// [`Network::prometheus_addr`]. The first call in a process installs
    /// mosaik's recorder as the global `metrics` recorder; later networks
    /// share it, each with its own endpoint.
    #[cfg(feature = "prometheus")]
    pub fn with_prometheus_addr(mut self, addr: impl Into<Option<SocketAddr>>) -> Self {
        self.prometheus = addr.into();
        self
    }

    /// Serves the live web view of this node on `addr` (default: none):
    /// a page, `GET /api/snapshot` (JSON) and `GET /api/events`
    /// (server-sent events). Port 0 picks a free port, see
    /// [`Network::dashboard_addr`]. No token and the default limits; use
    /// [`Self::with_dashboard_config`] for more. Prefer a loopback address.
    #[cfg(feature = "dashboard")]
    pub fn with_dashboard(self, addr: SocketAddr) -> Self {
        self.with_dashboard_config(crate::dashboard::DashboardConfig::new(addr))
    }

    /// Serves the live web view as `config` says (token, client limits,
    /// sampling interval); see [`crate::dashboard::DashboardConfig`].
    #[cfg(feature = "dashboard")]
    pub fn with_dashboard_config(mut self, config: crate::dashboard::DashboardConfig) -> Self {
        self.dashboard = Some(config);
        self
    }

    /// Binds the endpoint and starts the node.
    pub async fn build(self) -> Result<Network, NetworkError> {
        Network::start(self).await
    }
}
