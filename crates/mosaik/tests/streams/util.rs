//! Helpers: loopback nodes with fast discovery and bounded waits.

use {
    core::time::Duration,
    mosaik::{
        Network,
        discovery::{Catalog, ConfigBuilder},
        iroh::RelayMode,
        streams::ExponentialBackoff,
    },
};

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
pub async fn node_with(network: &str, config: ConfigBuilder) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

/// A loopback node bootstrapping from `peer` (if any).
pub async fn node(network: &str, peer: Option<&Network>) -> Network {
    let config = match peer {
        Some(p) => fast().with_bootstrap([p.local().addr()]),
        None => fast(),
    };
    node_with(network, config).await
}

/// `n` nodes; all but the first bootstrap from the first. Waits until
/// every node lists every other.
pub async fn cluster(network: &str, n: usize) -> Vec<Network> {
    let first = node(network, None).await;
    let mut nodes = vec![first];
    for _ in 1..n {
        let next = node(network, Some(&nodes[0])).await;
        nodes.push(next);
    }
    for net in &nodes {
        until(net, |c| c.signed_peers_count() == n - 1).await;
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

/// Runs `fut` under [`TIMEOUT`], panicking with `what` if it does not end.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Polls `check` (cheap, local state) until it holds, under [`TIMEOUT`].
/// For state that has no change notification (e.g. counters).
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    within(what, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A quick reconnect policy for tests.
pub fn quick_backoff() -> ExponentialBackoff {
    ExponentialBackoff::new(Duration::from_millis(50), Duration::from_millis(200))
        .with_max_elapsed_time(Some(Duration::from_secs(30)))
}
