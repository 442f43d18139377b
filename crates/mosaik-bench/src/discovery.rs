//! B5: discovery convergence from one bootstrap peer, and graceful
//! departure propagation.

use {
    mosaik::{Network, discovery::Config},
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
    Ok(crate::loopback_node(network)
        .with_discovery(config)
        .build()
        .await?)
}

/// Waits until `pred` holds for every node's catalog (a minute at most).
/// With `B5_DEBUG` set, a node still waiting after 3 s makes every node
/// print which others its catalog lacks (how the 40-node stragglers were
/// found).
async fn wait_all(
    nodes: &[Network],
    pred: impl Fn(&mosaik::discovery::Catalog) -> bool + Copy,
) -> anyhow::Result<()> {
    for net in nodes {
        let mut watch = net.discovery().catalog_watch();
        if std::env::var_os("B5_DEBUG").is_some()
            && tokio::time::timeout(Duration::from_secs(3), watch.wait_for(|c| pred(c)))
                .await
                .is_err()
        {
            let ids: Vec<_> = nodes.iter().map(|n| n.local().id()).collect();
            for (i, n) in nodes.iter().enumerate() {
                let c = n.discovery().catalog();
                let missing: Vec<usize> = ids
                    .iter()
                    .enumerate()
                    .filter(|(j, id)| *j != i && c.get_signed(id).is_none())
                    .map(|(j, _)| j)
                    .collect();
                eprintln!(
                    "node {i}: {} peers, missing {missing:?}",
                    c.signed_peers_count()
                );
            }
        }
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

/// What one trial measured.
struct Trial {
    /// Until the last node's `Network::build` returned (part of
    /// `converged`: nodes join while the others start).
    started: Duration,
    converged: Duration,
    departed: Duration,
    /// `Network::shutdown` of a node leaving right after convergence (the
    /// other nodes, in this process, are still busy with first contacts).
    shutdown_busy: Duration,
    /// The same for a node leaving 2 s later.
    shutdown_settled: Duration,
}

/// Shuts `leaving` down; returns how long its `shutdown` took and how long
/// until every node in `nodes` dropped its entry.
async fn depart(nodes: &[Network], leaving: Network) -> anyhow::Result<(Duration, Duration)> {
    let id = leaving.local().id();
    let started = Instant::now();
    let shutdown = tokio::spawn(async move {
        let started = Instant::now();
        leaving.shutdown().await;
        started.elapsed()
    });
    wait_all(nodes, |c| c.get_signed(&id).is_none()).await?;
    let departed = started.elapsed();
    Ok((shutdown.await?, departed))
}

/// One trial: start `n` nodes (all bootstrapping from the first), time
/// until every catalog lists all others, then time two graceful
/// departures (at once, and after the cluster settled).
async fn trial(n: usize, run: usize) -> anyhow::Result<Trial> {
    let name = format!("bench-b5-{n}-{run}");
    let first = node(&name, None).await?;
    let addr = first.local().addr();
    let started = Instant::now();
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(node(&name, Some(addr.clone())).await?);
    }
    let all_started = started.elapsed();
    wait_all(&nodes, |c| c.signed_peers_count() == n - 1).await?;
    let converged = started.elapsed();
    let leaving = nodes.pop().expect("n >= 3");
    let (shutdown_busy, departed) = depart(&nodes, leaving).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let leaving = nodes.pop().expect("n >= 3");
    let (shutdown_settled, _) = depart(&nodes, leaving).await?;
    for net in nodes {
        net.shutdown().await;
    }
    Ok(Trial {
        started: all_started,
        converged,
        departed,
        shutdown_busy,
        shutdown_settled,
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `runs` trials for each size in `sizes`.
pub async fn convergence(sizes: &[usize], runs: usize, serf: bool) -> anyhow::Result<()> {
    for &n in sizes {
        let mut trials = Vec::new();
        for run in 0..runs {
            trials.push(trial(n.max(3), run).await?);
        }
        let p50 = |f: fn(&Trial) -> Duration| median(trials.iter().map(f).collect());
        let (c, d) = (p50(|t| t.converged), p50(|t| t.departed));
        let s = p50(|t| t.started);
        let (busy, settled) = (p50(|t| t.shutdown_busy), p50(|t| t.shutdown_settled));
        println!(
            "B5: {n} nodes from one bootstrap peer: converged p50 {c:?} (last node started at {s:?}), graceful departure seen by all p50 {d:?}, Network::shutdown p50 {busy:?} right after convergence, {settled:?} 2 s later ({runs} runs)"
        );
        println!(
            "{{\"scenario\":\"B5\",\"nodes\":{n},\"runs\":{runs},\"convergence_ms\":{},\"started_ms\":{},\"departure_ms\":{},\"shutdown_busy_ms\":{},\"shutdown_settled_ms\":{}}}",
            c.as_millis(),
            s.as_millis(),
            d.as_millis(),
            busy.as_millis(),
            settled.as_millis()
        );
        if serf {
            let mut times = Vec::new();
            for _ in 0..runs {
                times.push(crate::serf::convergence(n).await?);
            }
            let theirs = median(times);
            let vs = c.as_secs_f64() / theirs.as_secs_f64();
            println!(
                "B5: {n} serf agents joining one: converged p50 {theirs:?} ({runs} runs), mosaik/serf {vs:.2}"
            );
            println!(
                "{{\"scenario\":\"B5\",\"system\":\"serf\",\"nodes\":{n},\"runs\":{runs},\"convergence_ms\":{},\"mosaik_over_serf\":{vs:.3}}}",
                theirs.as_millis()
            );
        }
    }
    Ok(())
}
