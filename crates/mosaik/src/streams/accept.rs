//! The acceptor side of `/mosaik/streams/1.0`.
//!
//! Each incoming connection is handled in its own task under the link
//! accept timeout (the short unknown-peer slot for peers the catalog does
//! not know): a consumer that connects and goes silent never holds the
//! loop or a producer, and is closed with `TimedOut`. How many such tasks
//! exist is bounded by the network's admission caps (per protocol, per
//! peer). The handshake frame is small (`HANDSHAKE_FRAME_SIZE`); the link
//! is admitted (full frame limit) only once the peer passed every check.

use {
    super::{
        ConsumerHandshake, NoCapacity, Shared, StreamNotFound, StreamsProtocol, registry::Incoming,
    },
    crate::{
        network::{CloseReason, DifferentNetwork, Link, Listener, TimedOut, UnknownPeer},
        primitives::ShortFmtExt,
    },
    std::sync::Arc,
    tokio::sync::mpsc::error::TrySendError,
};

pub(crate) async fn serve(shared: Arc<Shared>, mut listener: Listener<StreamsProtocol>) {
    while let Some(conn) = listener.next_connection().await {
        let timeout = listener.first_frame_timeout(&conn);
        let accept = listener.accept_link(conn.clone());
        let shared = shared.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(timeout, async {
                let mut link = accept.await.ok()?;
                match link.recv::<ConsumerHandshake>().await {
                    Ok(hs) => Some((link, hs)),
                    Err(_) => None,
                }
            })
            .await;
            match handshake {
                Ok(Some((link, hs))) => route(&shared, link, &hs),
                Ok(None) => count(&shared, "mosaik.streams.connections.rejected"),
                Err(_) => {
                    count(&shared, "mosaik.streams.connections.rejected");
                    super::close_now(&conn, &TimedOut);
                }
            }
        });
    }
}

fn count(shared: &Shared, name: &'static str) {
    let net = shared.local.network_id().short().to_string();
    metrics::counter!(name, "network" => net).increment(1);
}

fn reject(shared: &Shared, link: &Link<StreamsProtocol>, reason: &dyn CloseReason) {
    tracing::debug!(
        peer = %link.remote_id().fmt_short(),
        reason = reason.name(),
        "refusing stream subscription"
    );
    count(shared, "mosaik.streams.connections.rejected");
    super::close_now(link.connection(), reason);
}

/// The round-trip time of the connection's selected path (any path if none
/// is selected yet).
fn connection_rtt(conn: &iroh::endpoint::Connection) -> Option<core::time::Duration> {
    let paths = conn.paths();
    let mut any = None;
    for path in &paths {
        if path.is_selected() {
            return Some(path.rtt());
        }
        any = any.or(Some(path.rtt()));
    }
    any
}

/// Checks the handshake and hands the link to the stream's producer.
fn route(shared: &Shared, mut link: Link<StreamsProtocol>, hs: &ConsumerHandshake) {
    if hs.network_id != shared.local.network_id() {
        return reject(shared, &link, &DifferentNetwork);
    }
    // Only a peer the catalog knows gets an RTT sample: the samples are
    // kept per peer id until the peer departs or is evicted, which a fresh
    // key the catalog never listed would not, so sampling first let
    // unknown ids grow the table by one entry per connection.
    if !shared.discovery.catalog().lists(&link.remote_id()) {
        return reject(shared, &link, &UnknownPeer);
    }
    // RTT is sampled on stream accept (from the QUIC handshake's estimate of
    // the connection's selected path), before the producer evaluates its
    // `require` rules: `rtt_below` then judges this consumer by a real
    // sample rather than optimistically admitting it without one.
    if let Some(rtt) = connection_rtt(link.connection()) {
        shared.discovery.0.rtt_sample(link.remote_id(), rtt);
    }
    let Some(peer) = shared.discovery.catalog().get(&link.remote_id()) else {
        return reject(shared, &link, &UnknownPeer);
    };
    let Some(intake) = shared.registry.intake(&hs.stream_id) else {
        return reject(shared, &link, &StreamNotFound);
    };
    link.admit();
    let incoming = Incoming {
        link,
        peer,
        criteria: hs.criteria,
    };
    match intake.try_send(incoming) {
        Ok(()) => count(shared, "mosaik.streams.connections.accepted"),
        // The producer is busy admitting others: refuse rather than queue
        // without bound; the consumer retries after its backoff.
        Err(TrySendError::Full(incoming)) => reject(shared, &incoming.link, &NoCapacity),
        Err(TrySendError::Closed(incoming)) => {
            reject(shared, &incoming.link, &StreamNotFound);
        }
    }
}
