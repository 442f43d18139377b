//! mDNS: two nodes on one host, no bootstrap peer and no DHT, find each
//! other through the local-network responder alone.

use {
    crate::util::{TIMEOUT, fast},
    mosaik::{Network, iroh::RelayMode},
};

async fn mdns_node(network: &str) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_mdns_discovery(true)
        .with_discovery(fast())
        .build()
        .await
        .expect("network with mdns starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_find_each_other_over_mdns() {
    // A network name of its own, so other tests' mDNS nodes stay out.
    let name = format!("disc-mdns-{}", std::process::id());
    let a = mdns_node(&name).await;
    let b = mdns_node(&name).await;
    for (net, other) in [(&a, &b), (&b, &a)] {
        let mut watch = net.discovery().catalog_watch();
        let other = other.local().id();
        tokio::time::timeout(TIMEOUT, watch.wait_for(|c| c.get_signed(&other).is_some()))
            .await
            .expect("peer found over mdns in time")
            .expect("discovery running");
    }
}
