//! Discovery's cost, read from its own counters: a swarm converges with
//! fewer catalog exchanges than it has pairs of nodes (each newcomer syncs
//! with its bootstrap peer, with gossip neighbors it holds no entry of, and
//! is synced by about `CONTACT_FANOUT` others), where syncing with every
//! peer heard of costs at least one exchange per pair.

use {
    crate::{TIMEOUT, counter, node_with, scrape, scrape_until},
    core::time::Duration,
    mosaik::{
        Network,
        iroh::{EndpointAddr, RelayMode, SecretKey, TransportAddr},
        primitives::ShortFmtExt as _,
    },
    std::net::SocketAddr,
};

/// A node whose periodic re-announce (and anti-entropy sync) does not fire
/// during the test: only first contacts are counted.
async fn quiet_node(network: &str, bootstrap: Option<&Network>, prometheus: bool) -> Network {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_mins(10))
        .with_rtt_probe_interval(Duration::from_mins(10));
    if let Some(first) = bootstrap {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    node_with(network, discovery, prometheus).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_converges_with_fewer_exchanges_than_pairs() {
    const N: usize = 20;
    const PAIRS: u64 = (N * (N - 1) / 2) as u64;
    let first = quiet_node("metrics-disc-fanout", None, true).await;
    let addr = first.prometheus_addr().expect("exporter bound");
    let mut nodes = vec![first];
    for _ in 1..N {
        let node = quiet_node("metrics-disc-fanout", Some(&nodes[0]), false).await;
        nodes.push(node);
    }
    for node in &nodes {
        let mut watch = node.discovery().catalog_watch();
        tokio::time::timeout(TIMEOUT, watch.wait_for(|c| c.signed_peers_count() == N - 1))
            .await
            .expect("the swarm converges")
            .expect("discovery runs");
    }
    let net = nodes[0].network_id().short().to_string();
    let body = scrape(addr).await;
    // Both sides of an exchange count one merge.
    let merges = counter(&body, "mosaik_discovery_catalog_syncs", &net);
    let exchanges = merges / 2;
    eprintln!("{N} nodes converged after {exchanges} exchanges ({PAIRS} pairs)");
    assert!(
        exchanges >= N as u64 - 1,
        "every newcomer syncs with its bootstrap peer"
    );
    // Measured: 76 to 127 exchanges (the unknown-neighbor syncs vary with
    // the overlay's churn); syncing with every peer heard of made at least
    // one per pair.
    assert!(
        exchanges < PAIRS,
        "{exchanges} exchanges for {N} nodes: not below one per pair ({PAIRS})"
    );
    for node in nodes {
        node.shutdown().await;
    }
}

/// A node started before its bootstrap peer (a common start order) keeps
/// dialing it, every 0.5 s (jittered) while it knows no peer, and
/// finds it once it is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_before_its_bootstrap_peer_finds_it() {
    let key = SecretKey::generate();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let at = SocketAddr::from(([127, 0, 0, 1], port));
    let addr = EndpointAddr::from_parts(key.public(), [TransportAddr::Ip(at)]);
    let fast = || {
        mosaik::discovery::Config::builder()
            .no_dht_bootstrap()
            .with_announce_interval(Duration::from_millis(300))
            .with_exchange_timeout(Duration::from_millis(250))
    };
    let early = node_with("metrics-disc-early", fast().with_bootstrap([addr]), true).await;
    // Its first exchange fails: nobody listens on the bootstrap address.
    let scrape_at = early.prometheus_addr().expect("exporter bound");
    let net = early.network_id().short().to_string();
    // The counter appears with its first increment.
    let failed = format!("mosaik_discovery_catalog_syncs_failed{{network=\"{net}\"}}");
    scrape_until(scrape_at, &[failed.as_str()]).await;
    let late = Network::builder("metrics-disc-early")
        .with_relay_mode(RelayMode::Disabled)
        .with_secret_key(key)
        .with_addresses([at])
        .with_discovery(fast())
        .build()
        .await
        .expect("the bootstrap peer starts on its address");
    for (node, other) in [(&early, late.local().id()), (&late, early.local().id())] {
        let mut watch = node.discovery().catalog_watch();
        tokio::time::timeout(TIMEOUT, watch.wait_for(|c| c.get_signed(&other).is_some()))
            .await
            .expect("the two find each other")
            .expect("discovery runs");
    }
}
