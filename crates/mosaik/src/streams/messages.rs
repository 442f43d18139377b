//! Wire messages of `/mosaik/streams/1.0` and the `Criteria` placeholder.

use {
    crate::{NetworkId, StreamId, network::Protocol},
    serde::{Deserialize, Serialize},
};

/// The streams ALPN.
pub const STREAMS_ALPN: &[u8] = b"/mosaik/streams/1.0";

/// Marker protocol of stream subscriptions.
#[derive(Debug)]
pub struct StreamsProtocol;

impl Protocol for StreamsProtocol {
    const ALPN: &'static [u8] = STREAMS_ALPN;
    /// A `ConsumerHandshake` is about 70 bytes; datums after the handshake
    /// may be as large as the node's frame limit.
    const HANDSHAKE_FRAME_SIZE: usize = 4 * 1024;
}

/// Which part of a stream a consumer wants.
///
/// A placeholder for future range filtering: it matches every datum, but it
/// is already carried in the handshake so adding filters later does not
/// change the protocol's shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Criteria {}

impl Criteria {
    /// Whether a datum's encoding matches (always true today).
    pub fn matches(&self, _encoded: &[u8]) -> bool {
        true
    }
}

/// First frame of a subscription, sent by the consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerHandshake {
    /// The consumer's network.
    pub network_id: NetworkId,
    /// The stream it subscribes to.
    pub stream_id: StreamId,
    /// What it wants from the stream.
    pub criteria: Criteria,
}

/// The producer's answer: raw datum frames follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartStream(pub NetworkId, pub StreamId);
