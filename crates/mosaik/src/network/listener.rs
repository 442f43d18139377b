//! Listeners: incoming connections of one protocol.

use {
    super::{AcceptError, Link, LinkConfig, Protocol},
    core::marker::PhantomData,
    iroh::endpoint::Connection,
    tokio::sync::mpsc,
    tokio_util::sync::CancellationToken,
};

/// Incoming connections for one protocol's ALPN.
///
/// Subsystems take connections with [`Listener::next_connection`] and
/// accept the link in a task of their own, so one silent peer never blocks
/// the next one.
pub struct Listener<P> {
    rx: mpsc::Receiver<Connection>,
    cancel: CancellationToken,
    config: LinkConfig,
    _protocol: PhantomData<fn() -> P>,
}

impl<P> core::fmt::Debug for Listener<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Listener")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> Listener<P> {
    pub(crate) fn new(
        rx: mpsc::Receiver<Connection>,
        cancel: CancellationToken,
        config: LinkConfig,
    ) -> Self {
        Self {
            rx,
            cancel,
            config,
            _protocol: PhantomData,
        }
    }

    /// The next handshaken connection; `None` once the network shut down.
    pub async fn next_connection(&mut self) -> Option<Connection> {
        tokio::select! {
            () = self.cancel.cancelled() => None,
            conn = self.rx.recv() => conn,
        }
    }

    /// Accepts a link on a connection taken from this listener (with the
    /// network's frame limit, accept timeout and cancellation).
    ///
    /// The returned future does not borrow the listener, so it can run in a
    /// task of its own.
    pub fn accept_link(
        &self,
        conn: Connection,
    ) -> impl Future<Output = Result<Link<P>, AcceptError>> + Send + 'static {
        let cancel = self.cancel.child_token();
        let config = self.config;
        async move { Link::accept(conn, cancel, config.max_frame_size, config.accept_timeout).await }
    }

    /// Waits for the next connection and accepts its link.
    pub async fn accept(&mut self) -> Option<Result<Link<P>, AcceptError>> {
        let conn = self.next_connection().await?;
        Some(self.accept_link(conn).await)
    }
}
