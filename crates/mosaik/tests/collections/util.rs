//! Helpers: loopback nodes, fast consensus timing, condition waits.

use {
    core::time::Duration,
    mosaik::{
        Network, SecretKey, collections::CollectionConfig, discovery::ConfigBuilder,
        groups::ConsensusConfig, iroh::RelayMode,
    },
};

/// Upper bound of any single wait (generous: the machine is shared).
pub const TIMEOUT: Duration = Duration::from_secs(30);

fn fast() -> ConfigBuilder {
    mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
        .with_rtt_probe_interval(Duration::from_secs(1))
}

async fn node(network: &str, config: ConfigBuilder) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

/// A lone node with a given identity (the same peer id after a restart).
pub async fn keyed(network: &str, key: SecretKey) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_secret_key(key)
        .with_discovery(fast())
        .build()
        .await
        .expect("network starts")
}

/// A node that bootstraps from `first`.
pub async fn joiner(network: &str, first: &Network) -> Network {
    node(network, fast().with_bootstrap([first.local().addr()])).await
}

/// `n` loopback nodes; all but the first bootstrap from the first.
pub async fn cluster(network: &str, n: usize) -> Vec<Network> {
    let first = node(network, fast()).await;
    let mut nodes = vec![];
    for _ in 1..n {
        nodes.push(joiner(network, &first).await);
    }
    nodes.insert(0, first);
    nodes
}

/// Short consensus timing so tests run in seconds.
pub fn timing() -> ConsensusConfig {
    ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_max_missed_heartbeats(10)
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// The collection config every test store uses.
pub fn config() -> CollectionConfig {
    CollectionConfig::default().with_consensus(timing())
}

/// Awaits `fut` under [`TIMEOUT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
