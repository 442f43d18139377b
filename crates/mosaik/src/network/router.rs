//! ALPN routing: one iroh endpoint shared by every subsystem.
//!
//! We run our own accept loop (rather than iroh's `Router`) so that every
//! accept step is bounded by a timeout and all of it stops with the
//! network's cancellation token. Right after the QUIC handshake the
//! connection passes admission (see `admission.rs`): its pools are taken
//! before it reaches its protocol and given back when it closes.

use {
    super::{
        LinkConfig,
        admission::{Admission, ConnPermit},
        close::{ConnectionLimit, InvalidAlpn},
        link::Protocol,
        transport::transport_config,
    },
    core::time::Duration,
    iroh::{
        Endpoint,
        endpoint::{Connection, ServerConfig},
    },
    std::{
        collections::HashMap,
        sync::{Arc, Mutex},
    },
    tokio::sync::mpsc,
    tokio_util::sync::CancellationToken,
};

/// How many handshaken connections may wait for their protocol's listener;
/// beyond this the accept path applies backpressure (and then gives up).
pub(crate) const LISTENER_BACKLOG: usize = 64;

/// Routes incoming connections to the listener registered for their ALPN.
#[derive(Debug)]
pub(crate) struct Router {
    endpoint: Endpoint,
    routes: Mutex<HashMap<Vec<u8>, Route>>,
    admission: std::sync::Arc<Admission>,
    /// The node's `LinkConfig::max_datagram_size`, for protocols with
    /// settings of their own.
    max_datagram_size: u16,
}

/// One protocol's listener.
#[derive(Debug)]
struct Route {
    listener: mpsc::Sender<Connection>,
    /// The protocol's own QUIC settings (`Protocol::ACK_ELICITING_THRESHOLD`),
    /// if it has any: its connections are accepted with them.
    server: Option<Arc<ServerConfig>>,
}

impl Router {
    pub(crate) fn new(
        endpoint: Endpoint,
        admission: std::sync::Arc<Admission>,
        max_datagram_size: u16,
    ) -> Self {
        Self {
            endpoint,
            routes: Mutex::new(HashMap::new()),
            admission,
            max_datagram_size,
        }
    }

    pub(crate) fn admission(&self) -> &std::sync::Arc<Admission> {
        &self.admission
    }

    /// Registers a listener for `P`; `None` if one is already registered
    /// and still alive.
    pub(crate) fn register<P: Protocol>(&self) -> Option<mpsc::Receiver<Connection>> {
        let mut routes = self.routes.lock().expect("router lock poisoned");
        if routes.get(P::ALPN).is_some_and(|r| !r.listener.is_closed()) {
            return None;
        }
        let (tx, rx) = mpsc::channel(LISTENER_BACKLOG);
        let server = transport_config::<P>(self.max_datagram_size).map(|transport| {
            let builder = self
                .endpoint
                .create_server_config_builder(vec![P::ALPN.to_vec()]);
            Arc::new(builder.set_transport_config(transport).build())
        });
        let route = Route {
            listener: tx,
            server,
        };
        routes.insert(P::ALPN.to_vec(), route);
        self.endpoint.set_alpns(routes.keys().cloned().collect());
        Some(rx)
    }

    fn route(&self, alpn: &[u8]) -> Option<mpsc::Sender<Connection>> {
        let routes = self.routes.lock().expect("router lock poisoned");
        routes
            .get(alpn)
            .map(|r| r.listener.clone())
            .filter(|tx| !tx.is_closed())
    }

    /// The QUIC settings to accept `incoming` with: its protocol's own, if
    /// the ALPN its TLS client hello offers (read before the handshake) names a
    /// protocol that has any. `None` (the endpoint's) otherwise, also when
    /// the client hello cannot be read: the ALPN is then checked after the
    /// handshake as always.
    fn server_config(&self, incoming: &iroh::endpoint::Incoming) -> Option<Arc<ServerConfig>> {
        let initial = incoming.decrypt()?;
        let routes = self.routes.lock().expect("router lock poisoned");
        let mut offered = initial.alpns()?;
        offered.find_map(|alpn| routes.get(alpn.ok()?.as_ref())?.server.clone())
    }

    /// Accepts connections until `cancel` fires. Each handshake runs in its
    /// own task so a slow peer never delays the others.
    pub(crate) async fn run(
        self: std::sync::Arc<Self>,
        cancel: CancellationToken,
        config: LinkConfig,
    ) {
        loop {
            let incoming = tokio::select! {
                () = cancel.cancelled() => break,
                incoming = self.endpoint.accept() => incoming,
            };
            let Some(incoming) = incoming else { break };
            if !self.admission.within_rate(&incoming.remote_addr()) {
                metrics::counter!("mosaik.network.connections.refused", "reason" => "rate")
                    .increment(1);
                incoming.refuse();
                continue;
            }
            // Bounded before any work: a flood of QUIC handshakes is
            // refused, not queued.
            let Some(slot) = self.admission.handshake_slot() else {
                metrics::counter!("mosaik.network.connections.refused", "reason" => "handshakes")
                    .increment(1);
                incoming.refuse();
                continue;
            };
            let router = self.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = router.handshake(incoming, config.accept_timeout, slot) => {}
                }
            });
        }
    }

    /// Completes the QUIC handshake, admits the connection and hands it to
    /// its listener; then holds its admission permit until it closes.
    async fn handshake(
        &self,
        incoming: iroh::endpoint::Incoming,
        timeout: Duration,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) {
        let accepted = match self.server_config(&incoming) {
            Some(server) => incoming.accept_with(server),
            None => incoming.accept(),
        };
        let Ok(accepting) = accepted else {
            return;
        };
        let conn = match tokio::time::timeout(timeout, accepting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "incoming handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("incoming handshake timed out");
                return;
            }
        };
        drop(slot);
        metrics::counter!("mosaik.network.connections.opened").increment(1);
        let Some(route) = self.route(conn.alpn()) else {
            tracing::debug!(alpn = %String::from_utf8_lossy(conn.alpn()), "no listener for alpn");
            conn.close(
                iroh::endpoint::VarInt::from_u32(InvalidAlpn::CODE),
                b"InvalidAlpn",
            );
            return;
        };
        let permit: ConnPermit = match self.admission.admit(conn.alpn(), conn.remote_id()) {
            Ok(permit) => permit,
            Err(refusal) => {
                tracing::debug!(
                    peer = %conn.remote_id().fmt_short(),
                    alpn = %String::from_utf8_lossy(conn.alpn()),
                    ?refusal,
                    "refusing connection: over the limits"
                );
                conn.close(
                    iroh::endpoint::VarInt::from_u32(ConnectionLimit::CODE),
                    b"ConnectionLimit",
                );
                return;
            }
        };
        let watched = conn.clone();
        if tokio::time::timeout(timeout, route.send(conn))
            .await
            .is_err()
        {
            tracing::warn!("listener backlog full; dropping incoming connection");
            watched.close(
                iroh::endpoint::VarInt::from_u32(ConnectionLimit::CODE),
                b"ConnectionLimit",
            );
            return;
        }
        // The slot is the connection's until it closes (the network's
        // shutdown closes every connection, so this ends too).
        watched.closed().await;
        drop(permit);
    }
}
