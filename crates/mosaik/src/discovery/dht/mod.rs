//! DHT bootstrap: strangers that share only a network id find each other
//! through pkarr records on the Mainline DHT.
//!
//! Each network owns a chain of 16 slots ([`slot_ids`]), each a pkarr key
//! derived from the network id. Nodes keep one record of theirs (peer id and
//! addresses, [`SlotRecord`]) in some slot and periodically read all slots;
//! every healthy foreign record is handed to discovery, which then syncs
//! catalogs with that peer. Dead or empty slots are overwritten with
//! compare-and-swap, so 16 slots are enough for any network size: once a
//! node is in the gossip mesh, it no longer needs to be in a slot itself.
//!
//! Running without internet is normal (tests, local clusters, air-gapped
//! machines): the task then retries with the poll interval, logs one line
//! per failure streak, and never delays anything else.

mod bootstrap;
mod client;
mod health;
mod record;
mod slots;
#[cfg(test)]
mod tests;

// The public surface for the `mosaik dht` inspection command.
use {
    crate::NetworkId, core::time::Duration, futures::future::BoxFuture, iroh::EndpointAddr,
    std::sync::Arc, tokio_util::sync::CancellationToken,
};
#[allow(
    unused_imports,
    reason = "the public surface of the future `mosaik dht` command"
)]
pub use {
    client::{ConnectError, Lookup, PublishError, SlotClient, resolve_slots},
    record::{EncodeError, MalformedRecord, SlotRecord},
    slots::{SLOT_COUNT, slot_ids, slot_keypair, slot_public_keys},
};

/// What the bootstrap needs from the rest of the node (discovery
/// implements it).
pub(crate) trait DhtHost: Send + Sync + 'static {
    /// Our current address (id, IP addresses, relay URLs). Published as is.
    fn local_addr(&self) -> EndpointAddr;

    /// Pings `peer`; `Some(rtt)` if it answered as a healthy member of our
    /// network. The host applies the timeout (5 s) and may record the RTT.
    fn probe(&self, peer: EndpointAddr) -> BoxFuture<'static, Option<Duration>>;

    /// A healthy foreign record: feed its address to discovery (which
    /// syncs catalogs with the peer). Called every cycle the peer is seen;
    /// the host de-duplicates.
    fn discovered(&self, peer: EndpointAddr);

    /// Current number of gossip neighbors; decides the poll interval.
    fn gossip_neighbors(&self) -> usize;
}

/// Settings of one bootstrap task.
#[derive(Clone, Debug)]
pub(crate) struct DhtConfig {
    /// The network whose slots are used.
    pub network_id: NetworkId,
    /// DHT bootstrap nodes as `host:port`: `None` = the public Mainline
    /// defaults, `Some` = e.g. a local testnet's nodes.
    pub bootstrap: Option<Vec<String>>,
    /// Timeout of a single DHT request.
    pub request_timeout: Duration,
    /// Poll interval while we have no gossip neighbors.
    pub poll_fast: Duration,
    /// Poll interval once we have gossip neighbors.
    pub poll_slow: Duration,
    /// DNS TTL of our record, and how long we wait before re-publishing a
    /// record we cannot see (DHT propagation lag).
    pub record_ttl: Duration,
}

impl DhtConfig {
    /// The defaults of the spec: public DHT, 5 s requests, 5 s / 60 s
    /// polling, 600 s record TTL.
    pub fn new(network_id: NetworkId) -> Self {
        Self {
            network_id,
            bootstrap: None,
            request_timeout: Duration::from_secs(5),
            poll_fast: Duration::from_secs(5),
            poll_slow: Duration::from_mins(1),
            record_ttl: Duration::from_mins(10),
        }
    }
}

/// Starts the bootstrap task of one network. Returns at once: the DHT
/// node is created inside the task (name resolution and socket binding
/// never block the caller). The task ends when `cancel` fires.
pub(crate) fn spawn(
    config: DhtConfig,
    host: Arc<dyn DhtHost>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let span = tracing::debug_span!("dht", network = %config.network_id);
    tokio::spawn(tracing::Instrument::instrument(
        bootstrap::Bootstrap::new(config, host).run(cancel),
        span,
    ))
}
