//! Listeners: incoming connections of one protocol.

use {
    super::{AcceptError, Link, LinkConfig, Protocol, admission::Admission, link::frame_limits},
    core::marker::PhantomData,
    iroh::endpoint::Connection,
    std::sync::Arc,
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
    admission: Arc<Admission>,
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
        admission: Arc<Admission>,
    ) -> Self {
        Self {
            rx,
            cancel,
            config,
            admission,
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
    /// network's frame limits, accept timeout and cancellation).
    ///
    /// Until the acceptor calls [`Link::admit`], the link reads frames of
    /// at most the protocol's handshake size that draw on the node's
    /// budget of unauthenticated bytes, and all unadmitted links of the
    /// node together are read at most at
    /// [`Limits::max_unauthenticated_rate`](super::Limits::max_unauthenticated_rate)
    /// (16 MiB/s by default): admit a link as soon as the peer is known,
    /// or bulk transfers on it crawl. A peer the catalog does not know
    /// gets the short `unknown_accept_timeout` to send its first frame.
    ///
    /// The returned future does not borrow the listener, so it can run in a
    /// task of its own.
    pub fn accept_link(
        &self,
        conn: Connection,
    ) -> impl Future<Output = Result<Link<P>, AcceptError>> + Send + 'static {
        let cancel = self.cancel.child_token();
        let limits = frame_limits::<P>(self.config.max_frame_size);
        let budget = Some(self.admission.budget().clone());
        let timeout = self.first_frame_timeout(&conn);
        async move { Link::accept_with(conn, cancel, limits, budget, timeout).await }
    }

    /// How long `conn`'s peer gets for its first frame: the accept timeout
    /// if the catalog knows it, the short unknown-peer slot otherwise.
    pub fn first_frame_timeout(&self, conn: &Connection) -> core::time::Duration {
        if self.admission.is_known(&conn.remote_id()) {
            self.config.accept_timeout
        } else {
            self.config
                .accept_timeout
                .min(self.admission.limits().unknown_accept_timeout)
        }
    }

    /// Waits for the next connection and accepts its link.
    pub async fn accept(&mut self) -> Option<Result<Link<P>, AcceptError>> {
        let conn = self.next_connection().await?;
        Some(self.accept_link(conn).await)
    }
}
