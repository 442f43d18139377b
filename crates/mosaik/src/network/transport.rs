//! The QUIC transport settings of a node's connections: how large their
//! datagrams may grow, and how often a protocol's peers acknowledge.

use {
    super::{NetworkError, Protocol},
    core::time::Duration,
    iroh::endpoint::{AckFrequencyConfig, MtuDiscoveryConfig, QuicTransportConfig},
};

/// Default largest UDP payload a node's QUIC connections grow their
/// datagrams to, where the path carries them (see
/// [`NetworkBuilder::with_max_datagram_size`](super::NetworkBuilder::with_max_datagram_size)).
///
/// Also the largest a node accepts: mosaik's build of the QUIC stack
/// announces 16 KiB to its peers, so a larger setting changes nothing.
pub const DEFAULT_MAX_DATAGRAM_SIZE: u16 = 16_384;

/// The least maximum datagram size: every QUIC path carries 1,200 bytes.
pub const MIN_MAX_DATAGRAM_SIZE: u16 = 1_200;

/// How long an end that asked for fewer acknowledgements
/// (`Protocol::ACK_ELICITING_THRESHOLD`) lets its peer wait before
/// acknowledging what it received (QUIC's default: 25 ms). A sender whose
/// congestion window is full, or that waits to learn a packet was lost,
/// waits at most this long when fewer packets than the threshold arrive.
/// QUIC's timers count in whole milliseconds, so this is the least.
pub(crate) const MAX_ACK_DELAY: Duration = Duration::from_millis(1);

/// Checks a maximum datagram size before the endpoint is bound.
pub(crate) fn check_max_datagram_size(bytes: u16) -> Result<(), NetworkError> {
    if bytes < MIN_MAX_DATAGRAM_SIZE {
        return Err(NetworkError::InvalidDatagramSize(bytes));
    }
    Ok(())
}

/// The settings of every connection of the node: iroh's defaults, with
/// path-MTU discovery searching up to `max_datagram` bytes.
///
/// iroh keeps QUIC's search bound of 1,452 bytes, an Ethernet packet. Much
/// of a packet's CPU is per packet rather than per byte (building it,
/// tracking and acknowledging it, a share of a system call), so on loopback
/// and links with jumbo frames 16 KiB packets move a 1 KiB stream with less
/// than half the CPU per datum (docs/benchmarks.md). On an ordinary path
/// the search's larger probes are lost and it settles at what the path
/// carries; the probes do not count as congestion.
pub(crate) fn endpoint_transport_config(max_datagram: u16) -> QuicTransportConfig {
    builder(max_datagram).build()
}

/// The settings of `P`'s connections: the node's, plus `P`'s ACK frequency;
/// `None` when `P` keeps the node's.
pub(crate) fn transport_config<P: Protocol>(max_datagram: u16) -> Option<QuicTransportConfig> {
    let threshold = P::ACK_ELICITING_THRESHOLD?;
    let mut ack = AckFrequencyConfig::default();
    ack.ack_eliciting_threshold(threshold.into())
        .max_ack_delay(Some(MAX_ACK_DELAY));
    Some(
        builder(max_datagram)
            .ack_frequency_config(Some(ack))
            .build(),
    )
}

/// The search bound when the build's QUIC stack is not mosaik's patched
/// copy (crates.io's noq-proto, used by an application whose workspace
/// lacks mosaik's `[patch.crates-io]` entry): iroh's own, one Ethernet
/// frame. Past about 6,550 bytes that stack's batches of 10 datagrams
/// exceed one UDP send and are lost whole, and its search, started from
/// 1,200 bytes towards a far bound, loses a dozen probes before it reaches
/// what an ordinary path carries; a patched peer announcing 16 KiB would
/// expose both.
pub(crate) const UNPATCHED_MAX_DATAGRAM_SIZE: u16 = 1_452;

/// Whether the QUIC stack in this build is mosaik's patched copy, which
/// keeps every batch within one send. That copy, and only it, announces
/// 16 KiB by default.
fn patched_stack() -> bool {
    static PATCHED: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        noq_proto::EndpointConfig::new(std::sync::Arc::new(NoResetKey)).get_max_udp_payload_size()
            >= u64::from(DEFAULT_MAX_DATAGRAM_SIZE)
    });
    *PATCHED
}

/// A key that is never used: [`patched_stack`] only reads a default.
struct NoResetKey;

impl noq_proto::crypto::HmacKey for NoResetKey {
    fn sign(&self, _data: &[u8], _signature_out: &mut [u8]) {}

    fn signature_len(&self) -> usize {
        0
    }

    fn verify(
        &self,
        _data: &[u8],
        _signature: &[u8],
    ) -> Result<(), noq_proto::crypto::CryptoError> {
        Err(noq_proto::crypto::CryptoError)
    }
}

/// The search bound for a setting of `max_datagram` bytes in this build.
pub(crate) fn search_bound(max_datagram: u16) -> u16 {
    if patched_stack() {
        max_datagram
    } else {
        max_datagram.min(UNPATCHED_MAX_DATAGRAM_SIZE)
    }
}

fn builder(max_datagram: u16) -> iroh::endpoint::QuicTransportConfigBuilder {
    let mut mtu = MtuDiscoveryConfig::default();
    mtu.upper_bound(search_bound(max_datagram));
    QuicTransportConfig::builder().mtu_discovery_config(Some(mtu))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This workspace builds the patched stack, so the setting is the
    /// search bound; the clamp is for builds without it.
    #[test]
    fn the_workspace_builds_the_patched_stack() {
        assert!(patched_stack());
        assert_eq!(search_bound(DEFAULT_MAX_DATAGRAM_SIZE), 16_384);
        assert_eq!(search_bound(1_300), 1_300);
    }
}
