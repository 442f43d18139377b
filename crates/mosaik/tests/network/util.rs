//! Shared helpers: loopback networks and a bounded wait.

use {
    core::time::Duration,
    mosaik::{
        Network,
        iroh::RelayMode,
        network::{NetworkBuilder, Protocol},
    },
};

/// Upper bound for any single wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A test protocol.
pub struct Echo;

impl Protocol for Echo {
    const ALPN: &'static [u8] = b"/mosaik/test/echo/1";
}

/// A test protocol that asks for fewer QUIC acknowledgements.
pub struct Lazy;

impl Protocol for Lazy {
    const ALPN: &'static [u8] = b"/mosaik/test/lazy/1";
    const ACK_ELICITING_THRESHOLD: Option<u32> = Some(8);
}

/// Another test protocol, to provoke ALPN mismatches.
pub struct Other;

impl Protocol for Other {
    const ALPN: &'static [u8] = b"/mosaik/test/other/1";
}

/// A node bound to loopback with relays disabled.
pub async fn loopback(network: &str) -> Network {
    loopback_limited(network, None).await
}

/// The builder of a node bound to loopback with relays disabled.
pub fn loopback_builder(network: &str) -> NetworkBuilder {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
}

/// [`loopback`], with frames of at most `max_frame` bytes when given.
pub async fn loopback_limited(network: &str, max_frame: Option<usize>) -> Network {
    let mut builder = loopback_builder(network);
    if let Some(max) = max_frame {
        builder = builder.with_max_frame_size(max);
    }
    builder.build().await.expect("network starts")
}

/// Awaits `fut` under [`TIMEOUT`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, fut).await.expect("timed out")
}
