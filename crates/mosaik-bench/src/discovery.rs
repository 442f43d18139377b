//! B5: discovery convergence from one bootstrap peer, and graceful
//! departure propagation.

use {
    mosaik::{Network, discovery::Config, iroh::RelayMode},
    std::time::{Duration, Instant},
};

async fn node(
    network: &str,
    bootstrap: Option<mosaik::iroh::EndpointAddr>,
) -> anyhow::Result<Network> {
    let mut config = Config::builder().no_dht_bootstrap();
    if let Some(addr) = bootstrap {
        config = config.with_bootstrap([addr]);
    }
    Ok(Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse()?])
        .with_discovery(config)
        .build()
        .await?)
}

async fn wait_all(
    nodes: &[Network],
    pred: impl Fn(&mosaik::discovery::Catalog) -> bool + Copy,
) -> anyhow::Result<()> {
    for net in nodes {
        let mut watch = net.discovery().catalog_watch();
        if tokio::time::timeout(Duration::from_mins(1), watch.wait_for(|c| pred(c)))
            .await
            .is_err()
        {
            let counts: Vec<usize> = nodes
                .iter()
                .map(|n| n.discovery().catalog().signed_peers_count())
                .collect();
            anyhow::bail!("condition not reached within 60 s; catalog sizes: {counts:?}");
        }
    }
    Ok(())
}

/// One trial: start `n` nodes (all bootstrapping from the first), time
/// until every catalog lists all others, then time a graceful departure.
async fn trial(n: usize, run: usize) -> anyhow::Result<(Duration, Duration)> {
    let name = format!("bench-b5-{n}-{run}");
    let first = node(&name, None).await?;
    let addr = first.local().addr();
    let started = Instant::now();
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(node(&name, Some(addr.clone())).await?);
    }
    wait_all(&nodes, |c| c.signed_peers_count() == n - 1).await?;
    let converged = started.elapsed();
    let leaving = nodes.pop().expect("n >= 2");
    let id = leaving.local().id();
    let started = Instant::now();
    let shutdown = tokio::spawn(leaving.shutdown());
    wait_all(&nodes, |c| c.get_signed(&id).is_none()).await?;
    let departed = started.elapsed();
    shutdown.await?;
    for net in nodes {
        net.shutdown().await;
    }
    Ok((converged, departed))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `runs` trials for each size in `sizes`.
pub async fn convergence(sizes: &[usize], runs: usize) -> anyhow::Result<()> {
    for &n in sizes {
        let mut conv = Vec::new();
        let mut dep = Vec::new();
        for run in 0..runs {
            let (c, d) = trial(n, run).await?;
            conv.push(c);
            dep.push(d);
        }
        let (c, d) = (median(conv), median(dep));
        println!(
            "B5: {n} nodes from one bootstrap peer: converged p50 {c:?}, graceful departure seen by all p50 {d:?} ({runs} runs)"
        );
        println!(
            "{{\"scenario\":\"B5\",\"nodes\":{n},\"runs\":{runs},\"convergence_ms\":{},\"departure_ms\":{}}}",
            c.as_millis(),
            d.as_millis()
        );
    }
    Ok(())
}
