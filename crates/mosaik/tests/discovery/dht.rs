//! DHT bootstrap against a local Mainline testnet: nodes given no
//! bootstrap peer find each other through the DHT slots alone.

use {
    crate::util::{converged, node},
    core::time::Duration,
    mosaik::discovery::Config,
};

#[tokio::test]
async fn five_nodes_find_each_other_through_the_dht_alone() {
    let testnet = tokio::task::spawn_blocking(|| mainline::Testnet::builder(10).build())
        .await
        .unwrap()
        .expect("local testnet");
    let config = || {
        Config::builder()
            .with_dht_bootstrap_nodes(testnet.bootstrap.clone())
            .with_dht_poll_interval(Duration::from_millis(500))
            // Testnet lookups wait on the querying node itself; keep it short.
            .with_dht_request_timeout(Duration::from_millis(300))
            .with_announce_interval(Duration::from_secs(1))
    };
    let mut nodes = Vec::new();
    for _ in 0..5 {
        nodes.push(node("disc-dht", config()).await);
    }
    let took = converged(&nodes).await;
    eprintln!("5 nodes converged through the DHT in {took:?}");
}
