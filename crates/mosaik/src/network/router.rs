//! ALPN routing: one iroh endpoint shared by every subsystem.
//!
//! We run our own accept loop (rather than iroh's `Router`) so that every
//! accept step is bounded by a timeout and all of it stops with the
//! network's cancellation token.

use {
    super::{LinkConfig, close::InvalidAlpn},
    core::time::Duration,
    iroh::{Endpoint, endpoint::Connection},
    std::{collections::HashMap, sync::Mutex},
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
    routes: Mutex<HashMap<Vec<u8>, mpsc::Sender<Connection>>>,
}

impl Router {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            routes: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a listener for `alpn`; `None` if one is already registered
    /// and still alive.
    pub(crate) fn register(&self, alpn: &[u8]) -> Option<mpsc::Receiver<Connection>> {
        let mut routes = self.routes.lock().expect("router lock poisoned");
        if routes.get(alpn).is_some_and(|tx| !tx.is_closed()) {
            return None;
        }
        let (tx, rx) = mpsc::channel(LISTENER_BACKLOG);
        routes.insert(alpn.to_vec(), tx);
        self.endpoint.set_alpns(routes.keys().cloned().collect());
        Some(rx)
    }

    fn route(&self, alpn: &[u8]) -> Option<mpsc::Sender<Connection>> {
        let routes = self.routes.lock().expect("router lock poisoned");
        routes.get(alpn).filter(|tx| !tx.is_closed()).cloned()
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
            let router = self.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = router.handshake(incoming, config.accept_timeout) => {}
                }
            });
        }
    }

    async fn handshake(&self, incoming: iroh::endpoint::Incoming, timeout: Duration) {
        let Ok(accepting) = incoming.accept() else {
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
        metrics::counter!("mosaik.network.connections.opened").increment(1);
        let Some(route) = self.route(conn.alpn()) else {
            tracing::debug!(alpn = %String::from_utf8_lossy(conn.alpn()), "no listener for alpn");
            conn.close(
                iroh::endpoint::VarInt::from_u32(InvalidAlpn::CODE),
                b"InvalidAlpn",
            );
            return;
        };
        if tokio::time::timeout(timeout, route.send(conn))
            .await
            .is_err()
        {
            tracing::warn!("listener backlog full; dropping incoming connection");
        }
    }
}
