//! Helpers: fast-discovery loopback nodes and condition waits.

use {
    core::time::Duration,
    mosaik::{
        Network,
        discovery::{
            Catalog, ConfigBuilder, DepartProtocol, GracefulDeparture, PeerEntry, SyncProtocol,
        },
        iroh::{RelayMode, SecretKey, Signature},
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
    node_with_key(network, config, SecretKey::generate()).await
}

/// A loopback node with identity `key`: a node started again with the key
/// of one that shut down is the same peer, a new incarnation.
pub async fn node_with_key(network: &str, config: ConfigBuilder, key: SecretKey) -> Network {
    Network::builder(network)
        .with_secret_key(key)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

/// One catalog exchange initiated by `from`: sends `wire` to `target` and
/// returns its snapshot (`None` if it refused ours before answering).
pub async fn exchange(from: &Network, target: &Network, wire: &Wire) -> Option<Wire> {
    let mut link = from
        .local()
        .connect::<SyncProtocol>(target.local().addr())
        .await
        .expect("sync link opens");
    link.send(wire).await.expect("snapshot sent");
    link.recv::<Wire>().await.ok()
}

/// Hands `notice` to `target` over the direct departure protocol and waits
/// until `target` has applied it (it closes the link afterwards).
pub async fn notify(from: &Network, target: &Network, notice: &GracefulDeparture) {
    let mut link = from
        .local()
        .connect::<DepartProtocol>(target.local().addr())
        .await
        .expect("depart link opens");
    link.send(notice).await.expect("notice sent");
    let _ = tokio::time::timeout(TIMEOUT, link.closed())
        .await
        .expect("the target closes the link once it applied the notice");
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
