//! `LocalNode`: this node's identity and endpoint, cheap to clone.

use {
    super::{Link, LinkConfig, OpenError, Protocol},
    crate::primitives::NetworkId,
    iroh::{Endpoint, EndpointAddr, SecretKey, Watcher, address_lookup::MemoryLookup},
    std::sync::Arc,
    tokio_util::sync::CancellationToken,
};

/// This node: its identity, its endpoint and the network it belongs to.
#[derive(Debug, Clone)]
pub struct LocalNode(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    network_id: NetworkId,
    endpoint: Endpoint,
    memory: MemoryLookup,
    cancel: CancellationToken,
    config: LinkConfig,
}

impl LocalNode {
    pub(crate) fn new(
        network_id: NetworkId,
        endpoint: Endpoint,
        memory: MemoryLookup,
        cancel: CancellationToken,
        config: LinkConfig,
    ) -> Self {
        Self(Arc::new(Inner {
            network_id,
            endpoint,
            memory,
            cancel,
            config,
        }))
    }

    /// The largest frame a link of this node accepts (state sync sizes
    /// its batches by it).
    pub(crate) fn max_frame_size(&self) -> usize {
        self.0.config.max_frame_size
    }

    /// The network this node belongs to.
    pub fn network_id(&self) -> NetworkId {
        self.0.network_id
    }

    /// The network this node belongs to, by reference.
    pub(crate) fn network_id_ref(&self) -> &NetworkId {
        &self.0.network_id
    }

    /// The iroh endpoint shared by every subsystem.
    pub fn endpoint(&self) -> &Endpoint {
        &self.0.endpoint
    }

    /// This node's current address (id plus the addresses it is reachable
    /// on).
    pub fn addr(&self) -> EndpointAddr {
        self.0.endpoint.addr()
    }

    /// This node's peer id (its ed25519 public key).
    pub fn id(&self) -> crate::PeerId {
        self.0.endpoint.id()
    }

    /// This node's secret key.
    pub fn secret_key(&self) -> &SecretKey {
        self.0.endpoint.secret_key()
    }

    /// The link limits this node uses.
    pub fn link_config(&self) -> LinkConfig {
        self.0.config
    }

    /// Resolves once the endpoint has at least one address peers can dial
    /// (a bound IP address or a connected relay). It never waits for a relay
    /// or the internet when a local address exists.
    pub async fn online(&self) {
        let mut watcher = self.0.endpoint.watch_addr();
        loop {
            if !watcher.get().is_empty() {
                return;
            }
            if watcher.updated().await.is_err() {
                // The endpoint is gone; it will never come online.
                core::future::pending::<()>().await;
            }
        }
    }

    /// The token cancelled when the network shuts down.
    pub fn termination(&self) -> &CancellationToken {
        &self.0.cancel
    }

    /// Publishes peer addresses into the endpoint's address book, so dialing
    /// them needs no relay or DNS lookup.
    pub fn observe(&self, addrs: impl IntoIterator<Item = EndpointAddr>) {
        for addr in addrs {
            if addr.id != self.id() && !addr.is_empty() {
                self.0.memory.add_endpoint_info(addr);
            }
        }
    }

    /// Opens a link of protocol `P` to `addr`.
    pub async fn connect<P: Protocol>(
        &self,
        addr: impl Into<EndpointAddr>,
    ) -> Result<Link<P>, OpenError> {
        self.connect_with_cancel(addr, self.0.cancel.child_token())
            .await
    }

    /// Opens a link of protocol `P` to `addr`, closed when `cancel` fires.
    ///
    /// Pass a child of [`LocalNode::termination`] so the link also closes
    /// when the network shuts down.
    pub async fn connect_with_cancel<P: Protocol>(
        &self,
        addr: impl Into<EndpointAddr>,
        cancel: CancellationToken,
    ) -> Result<Link<P>, OpenError> {
        let addr = addr.into();
        self.observe([addr.clone()]);
        // As `Endpoint::connect`, with `P`'s transport settings.
        let mut options = iroh::endpoint::ConnectOptions::new();
        if let Some(transport) =
            super::transport::transport_config::<P>(self.0.config.max_datagram_size)
        {
            options = options.with_transport_config(transport);
        }
        let connecting = async {
            let connecting = self
                .0
                .endpoint
                .connect_with_opts(addr, P::ALPN, options)
                .await?;
            Ok::<_, iroh::endpoint::ConnectError>(connecting.await?)
        };
        let conn = tokio::select! {
            () = cancel.cancelled() => return Err(OpenError::Cancelled),
            () = self.0.cancel.cancelled() => return Err(OpenError::Cancelled),
            conn = connecting => conn?,
        };
        metrics::counter!("mosaik.network.connections.opened").increment(1);
        Link::open(conn, cancel, self.0.config.max_frame_size).await
    }
}
