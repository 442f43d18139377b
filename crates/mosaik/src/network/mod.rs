//! The network: one iroh endpoint, ALPN routing, typed links.
//!
//! A [`Network`] binds one QUIC endpoint shared by every subsystem and
//! routes incoming connections by ALPN. Subsystems speak [`Link`]s: one
//! QUIC connection carrying one bidirectional stream of length-delimited,
//! size-limited frames.

mod admission;
mod builder;
mod close;
mod frame;
#[cfg(test)]
pub(crate) mod fuzz;
mod limits;
mod link;
mod link_error;
mod link_receiver;
mod link_sender;
mod listener;
mod local;
mod mdns;
mod rate;
mod router;
mod throttle;
mod transport;

pub use crate::primitives::NetworkId;
pub use {
    builder::{DEFAULT_ACCEPT_TIMEOUT, NetworkBuilder},
    close::{
        Cancelled, CloseReason, ConnectionLimit, DifferentNetwork, GracefulShutdown, InvalidAlpn,
        ProtocolViolation, Success, TimedOut, UnexpectedClose, UnknownPeer, application_close,
    },
    limits::{
        DEFAULT_MAX_CONNECTION_BURST, DEFAULT_MAX_CONNECTIONS_PER_PEER,
        DEFAULT_MAX_CONNECTIONS_PER_PROTOCOL, DEFAULT_MAX_CONNECTIONS_PER_SECOND,
        DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_MAX_UNAUTHENTICATED_BYTES,
        DEFAULT_MAX_UNKNOWN_CONNECTIONS, DEFAULT_UNKNOWN_ACCEPT_TIMEOUT, Limits,
    },
    link::{DEFAULT_MAX_FRAME_SIZE, Link, Protocol},
    link_error::{AcceptError, CloseError, LinkError, OpenError, RecvError, SendError},
    link_receiver::LinkReceiver,
    link_sender::LinkSender,
    listener::Listener,
    local::LocalNode,
    mdns::MDNS_SERVICE_NAME,
    transport::{DEFAULT_MAX_DATAGRAM_SIZE, MIN_MAX_DATAGRAM_SIZE},
};
/// A peer's identity: its ed25519 public key.
pub type PeerId = iroh::EndpointId;

#[allow(unused_imports)]
pub(crate) use close::close_reasons;
pub(crate) use {link::frame_limits, link_sender::Outgoing};

use {
    core::time::Duration,
    iroh::{address_lookup::MemoryLookup, endpoint::presets},
    router::Router,
    std::sync::Arc,
    tokio_util::sync::CancellationToken,
};

/// Limits applied to every link of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Largest frame payload accepted or sent, in bytes.
    pub max_frame_size: usize,
    /// Time an incoming connection gets to finish its handshake and open
    /// its stream.
    pub accept_timeout: Duration,
    /// Largest UDP payload, in bytes, the node's QUIC connections grow
    /// their datagrams to where the path carries them.
    pub max_datagram_size: u16,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            accept_timeout: DEFAULT_ACCEPT_TIMEOUT,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
        }
    }
}

/// Starting or running a network failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The builder was not given a network id.
    #[error("missing network id")]
    MissingNetworkId,
    /// The endpoint could not bind.
    #[error("bind failed: {0}")]
    Bind(String),
    /// The maximum datagram size was below what every QUIC path carries
    /// ([`MIN_MAX_DATAGRAM_SIZE`]).
    #[error(
        "maximum datagram size {0} is below the {MIN_MAX_DATAGRAM_SIZE} bytes every QUIC path carries"
    )]
    InvalidDatagramSize(u16),
    /// A bind address was invalid.
    #[error("invalid bind address: {0}")]
    InvalidAddress(String),
    /// The discovery configuration is invalid.
    #[error("discovery config: {0}")]
    DiscoveryConfig(String),
    /// The mDNS responder could not start (no usable IPv4/IPv6 socket).
    #[error("mdns discovery: {0}")]
    Mdns(String),
    /// The Prometheus exporter could not start.
    #[error("prometheus exporter: {0}")]
    Prometheus(String),
    /// The dashboard could not start (its address did not bind).
    #[error("dashboard: {0}")]
    Dashboard(String),
    /// A listener for this ALPN already exists.
    #[error("a listener for alpn {0:?} already exists")]
    AlreadyListening(String),
}

/// A running mosaik node: the entry point to every subsystem.
///
/// Dropping it shuts the node down: every worker and link is cancelled and
/// the endpoint closes.
#[derive(Debug)]
pub struct Network {
    local: LocalNode,
    router: Arc<Router>,
    accept_task: tokio::task::JoinHandle<()>,
    discovery: crate::discovery::Discovery,
    streams: crate::streams::Streams,
    groups: crate::groups::Groups,
    prometheus: Option<std::net::SocketAddr>,
    dashboard: Option<std::net::SocketAddr>,
}

impl Network {
    /// Starts a node with default settings on network `id`.
    ///
    /// Never waits for a relay or the internet: it returns as soon as the
    /// endpoint is bound.
    pub async fn new(id: impl Into<NetworkId>) -> Result<Self, NetworkError> {
        Self::builder(id).build().await
    }

    /// A builder for a node on network `id`.
    pub fn builder(id: impl Into<NetworkId>) -> NetworkBuilder {
        NetworkBuilder::default().with_network_id(id)
    }

    /// Binds the node's iroh endpoint: the configured addresses, relay
    /// mode and QUIC settings, with the in-memory address book (and mDNS)
    /// as its lookups.
    async fn bind(
        config: &NetworkBuilder,
        secret_key: iroh::SecretKey,
        memory: &MemoryLookup,
        mdns: Option<&iroh_mdns_address_lookup::MdnsAddressLookup>,
    ) -> Result<iroh::Endpoint, NetworkError> {
        transport::check_max_datagram_size(config.link.max_datagram_size)?;
        let mut builder = iroh::Endpoint::builder(presets::Minimal)
            .transport_config(transport::endpoint_transport_config(
                config.link.max_datagram_size,
            ))
            .secret_key(secret_key)
            .relay_mode(config.relay_mode.clone())
            .address_lookup(memory.clone());
        if let Some(mdns) = mdns {
            builder = builder.address_lookup(mdns.clone());
        }
        for addr in &config.addresses {
            builder = builder
                .bind_addr(*addr)
                .map_err(|e| NetworkError::InvalidAddress(format!("{addr}: {e}")))?;
        }
        builder
            .bind()
            .await
            .map_err(|e| NetworkError::Bind(e.to_string()))
    }

    async fn start(config: NetworkBuilder) -> Result<Self, NetworkError> {
        let network_id = config.network_id.ok_or(NetworkError::MissingNetworkId)?;
        let discovery_config = config
            .discovery
            .clone()
            .build()
            .map_err(|e| NetworkError::DiscoveryConfig(e.to_string()))?;
        let streams_config = config.streams.clone().build();
        let secret_key = config
            .secret_key
            .clone()
            .unwrap_or_else(iroh::SecretKey::generate);
        let memory = MemoryLookup::new();
        let mdns = config
            .mdns_discovery
            .then(|| mdns::lookup(secret_key.public()))
            .transpose()?;
        let endpoint = Self::bind(&config, secret_key, &memory, mdns.as_ref()).await?;
        let cancel = CancellationToken::new();
        let local = LocalNode::new(
            network_id,
            endpoint.clone(),
            memory,
            cancel.clone(),
            config.link,
        );
        // The recorder goes in before the subsystems start, so their metric
        // handles are live; the endpoint is bound once everything else is up.
        #[cfg(feature = "prometheus")]
        if config.prometheus.is_some() {
            crate::metrics_exporter::install()?;
        }
        let router = Arc::new(Router::new(
            endpoint,
            admission::Admission::new(config.limits),
            config.link.max_datagram_size,
        ));
        let accept_task = tokio::spawn(router.clone().run(cancel, config.link));
        let listeners = crate::discovery::Listeners {
            sync: listen(&router, &local)?,
            ping: listen(&router, &local)?,
            depart: listen(&router, &local)?,
            announce: listen(&router, &local)?,
        };
        let discovery = crate::discovery::Discovery::start(&local, discovery_config, listeners);
        // Admission asks the catalog who a connecting peer is.
        let known = discovery.clone();
        router
            .admission()
            .set_classifier(Box::new(move |peer| known.knows(peer)));
        if let Some(mdns) = &mdns {
            let cancel = local.termination().child_token();
            mdns::spawn_dialer(mdns, discovery.clone(), local.id(), cancel);
        }
        let streams = crate::streams::Streams::start(
            &local,
            &discovery,
            listen(&router, &local)?,
            streams_config,
        );
        let groups = crate::groups::Groups::start(
            &local,
            &discovery,
            config.groups.build(),
            listen::<crate::groups::Protocol>(&router, &local)?,
        );
        #[cfg(feature = "prometheus")]
        let prometheus = start_prometheus(config.prometheus, network_id, &local).await?;
        #[cfg(not(feature = "prometheus"))]
        let prometheus = None;
        #[cfg(feature = "dashboard")]
        let dashboard = start_dashboard(
            config.dashboard,
            &local,
            crate::dashboard::Sources::new(&discovery, &streams, &groups),
        )
        .await?;
        #[cfg(not(feature = "dashboard"))]
        let dashboard = None;
        Ok(Self {
            local,
            router,
            accept_task,
            discovery,
            streams,
            groups,
            prometheus,
            dashboard,
        })
    }

    /// The address of this node's Prometheus endpoint, if one was asked for
    /// with `NetworkBuilder::with_prometheus_addr`.
    pub fn prometheus_addr(&self) -> Option<std::net::SocketAddr> {
        self.prometheus
    }

    /// The address of this node's dashboard, if one was asked for with
    /// `NetworkBuilder::with_dashboard`.
    pub fn dashboard_addr(&self) -> Option<std::net::SocketAddr> {
        self.dashboard
    }

    /// The network this node belongs to.
    pub fn network_id(&self) -> &NetworkId {
        self.local.network_id_ref()
    }

    /// This node.
    pub fn local(&self) -> &LocalNode {
        &self.local
    }

    /// This node's discovery.
    pub fn discovery(&self) -> &crate::discovery::Discovery {
        &self.discovery
    }

    /// This node's streams.
    pub fn streams(&self) -> &crate::streams::Streams {
        &self.streams
    }

    /// The groups subsystem: join consensus groups with
    /// `network.groups().with_key(key)`.
    pub fn groups(&self) -> &crate::groups::Groups {
        &self.groups
    }

    /// Resolves once this node has an address peers can dial.
    pub async fn online(&self) {
        self.local.online().await;
    }

    /// Connections of the protocol with ALPN `alpn` this node holds now
    /// (also reported as `mosaik.network.connections.active{alpn}`).
    pub fn connections_of(&self, alpn: &[u8]) -> usize {
        self.router.admission().connections(alpn)
    }

    /// Bytes of frames being received from peers not admitted yet (also
    /// `mosaik.network.budget.unauthenticated.bytes`); at most
    /// [`Limits::max_unauthenticated_bytes`].
    pub fn unauthenticated_bytes(&self) -> usize {
        self.router.admission().budget().in_use()
    }

    /// The limits this node enforces on remote peers.
    pub fn limits(&self) -> Limits {
        *self.router.admission().limits()
    }

    /// Listens for incoming links of protocol `P`. Each protocol has one
    /// listener per node.
    pub fn listen<P: Protocol>(&self) -> Result<Listener<P>, NetworkError> {
        listen(&self.router, &self.local)
    }
}

fn listen<P: Protocol>(router: &Router, local: &LocalNode) -> Result<Listener<P>, NetworkError> {
    let rx = router.register::<P>().ok_or_else(|| {
        NetworkError::AlreadyListening(String::from_utf8_lossy(P::ALPN).into_owned())
    })?;
    Ok(Listener::new(
        rx,
        local.termination().child_token(),
        local.link_config(),
        router.admission().clone(),
    ))
}

impl Network {
    /// Shuts the node down: announces the departure (see
    /// `Discovery`), stops every worker and closes the endpoint. Waits at
    /// most [`CLOSE_DRAIN_WAIT`] for peers to acknowledge the closing of
    /// their connections; the rest of that drain (up to QUIC's probe
    /// timeout, about 3 s, when peers are already gone) continues in the
    /// background on the runtime. Dropping the network does all of this in
    /// the background.
    ///
    /// The last member of a group to shut down usually has that longer
    /// drain (its peers closed first). If the runtime ends before the drain
    /// does, iroh logs "Endpoint dropped without calling
    /// `Endpoint::close`": the close was called and every connection was
    /// already closed, only QUIC's wait for late packets is cut short.
    pub async fn shutdown(self) {
        self.discovery.depart().await;
        self.local.termination().cancel();
        self.accept_task.abort();
        let endpoint = self.local.endpoint().clone();
        let drain = tokio::spawn(async move { endpoint.close().await });
        let _ = tokio::time::timeout(CLOSE_DRAIN_WAIT, drain).await;
    }
}

/// Longest `Network::shutdown` waits for the endpoint's close to be
/// acknowledged before it returns (the drain goes on in the background).
pub const CLOSE_DRAIN_WAIT: Duration = Duration::from_millis(20);

impl Drop for Network {
    fn drop(&mut self) {
        if self.local.endpoint().is_closed() || self.local.termination().is_cancelled() {
            self.local.termination().cancel();
            return;
        }
        let endpoint = self.local.endpoint().clone();
        let cancel = self.local.termination().clone();
        let discovery = self.discovery.clone();
        // Departure and closing are async; without a runtime the endpoint's
        // own drop tears it down.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let window = crate::discovery::GRACEFUL_DEPARTURE_WINDOW * 2;
                let _ = tokio::time::timeout(window, discovery.depart()).await;
                cancel.cancel();
                endpoint.close().await;
            });
        } else {
            cancel.cancel();
            self.accept_task.abort();
        }
    }
}

/// Starts the dashboard if one was asked for; returns its bound address.
#[cfg(feature = "dashboard")]
async fn start_dashboard(
    config: Option<crate::dashboard::DashboardConfig>,
    local: &LocalNode,
    sources: crate::dashboard::Sources,
) -> Result<Option<std::net::SocketAddr>, NetworkError> {
    let Some(config) = config else {
        return Ok(None);
    };
    let cancel = local.termination().child_token();
    crate::dashboard::serve(config, sources, cancel)
        .await
        .map(Some)
}

/// Serves Prometheus metrics if asked for; returns the bound address.
#[cfg(feature = "prometheus")]
async fn start_prometheus(
    addr: Option<std::net::SocketAddr>,
    network_id: NetworkId,
    local: &LocalNode,
) -> Result<Option<std::net::SocketAddr>, NetworkError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let cancel = local.termination().child_token();
    crate::metrics_exporter::serve(addr, network_id, cancel)
        .await
        .map(Some)
}
