//! Helpers: fast-discovery loopback nodes and condition waits.

use {
    core::time::Duration,
    mosaik::{
        Network,
        discovery::{Catalog, ConfigBuilder, GracefulDeparture, PeerEntry},
        iroh::{RelayMode, Signature},
    },
    std::time::Instant,
};

/// The entries of a catalog snapshot, built by hand so they can include
/// entries an honest node would never produce.
pub type RawSnapshot = Vec<(PeerEntry, Signature)>;

/// The wire shape of a catalog snapshot: entries and departure notices.
pub type Wire = (RawSnapshot, Vec<GracefulDeparture>);

/// Upper bound of any single wait.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Discovery settings for tests: quick re-announce, no DHT.
pub fn fast() -> ConfigBuilder {
    mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
        .with_rtt_probe_interval(Duration::from_secs(1))
}

/// A loopback node on `network` with discovery settings `config`.
pub async fn node(network: &str, config: ConfigBuilder) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

/// `n` nodes; all but the first bootstrap from the first.
pub async fn cluster(network: &str, n: usize) -> Vec<Network> {
    let first = node(network, fast()).await;
    let addr = first.local().addr();
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(node(network, fast().with_bootstrap([addr.clone()])).await);
    }
    nodes
}

/// Waits until `pred` holds for `net`'s catalog.
pub async fn until(net: &Network, pred: impl Fn(&Catalog) -> bool) {
    let mut watch = net.discovery().catalog_watch();
    tokio::time::timeout(TIMEOUT, watch.wait_for(|c| pred(c)))
        .await
        .expect("condition not reached in time")
        .expect("discovery stopped");
}

/// Waits until every node lists every other; returns the time it took.
pub async fn converged(nodes: &[Network]) -> Duration {
    let started = Instant::now();
    let n = nodes.len();
    for net in nodes {
        until(net, |c| c.signed_peers_count() == n - 1).await;
    }
    started.elapsed()
}
