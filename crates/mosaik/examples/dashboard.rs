//! A 3-node loopback cluster with the dashboard on its first node, for a
//! person or a script to look at: `cargo run --example dashboard --
//! 127.0.0.1:8080`. A stream flows from the first node to the others, the
//! three run a counter group and share a replicated map, and each carries
//! a role tag (the dashboard knows two of the names: the third shows as
//! its digest).
//!
//! Reads commands on stdin, one per line, so a script can drive it:
//! `leave` shuts down one node other than the first (the group's leader
//! when it is not the first node, so the page shows a new election);
//! `quit` stops. Prints `dashboard: http://<addr>/` once serving and
//! `left <peer id>` after a node left.

use {
    core::time::Duration,
    mosaik::{
        Network, UniqueId,
        collections::Map,
        dashboard::DashboardConfig,
        groups::{ApplyContext, ConsensusConfig, Group, GroupKey, LogReplaySync, StateMachine},
        iroh::RelayMode,
    },
    std::net::SocketAddr,
    tokio::io::{AsyncBufReadExt, BufReader},
};

/// A counter every member applies in the same order.
#[derive(Debug, Clone, Default)]
struct Counter(i64);

impl StateMachine for Counter {
    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("dashboard-example-counter")
    }

    fn apply(&mut self, add: i64, _: &dyn ApplyContext) {
        self.0 += add;
    }

    fn query(&self, (): ()) -> i64 {
        self.0
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }

    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }
}

async fn node(
    tag: &str,
    dashboard: Option<SocketAddr>,
    bootstrap: Option<&Network>,
) -> anyhow::Result<Network> {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_tags(tag)
        .with_announce_interval(Duration::from_secs(1))
        .with_rtt_probe_interval(Duration::from_secs(1));
    if let Some(first) = bootstrap {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    let mut builder = Network::builder("dashboard-example")
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse()?])
        .with_discovery(discovery);
    if let Some(addr) = dashboard {
        builder = builder.with_dashboard_config(
            DashboardConfig::new(addr).with_tag_names(["sequencer", "prover"]),
        );
    }
    Ok(builder.build().await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    let first = node("sequencer", Some(addr), None).await?;
    let mut nodes = vec![
        node("prover", None, Some(&first)).await?,
        node("canary", None, Some(&first)).await?,
    ];
    nodes.insert(0, first);

    let timing = ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_election_timeout(Duration::from_millis(600))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()?;
    let key = GroupKey::from_secret("dashboard-example");
    let mut groups: Vec<Group<Counter>> = nodes
        .iter()
        .map(|n| {
            n.groups()
                .with_key(key)
                .with_state_machine(Counter::default())
                .with_consensus_config(timing.clone())
                .join()
        })
        .collect();

    // A map every node writes; the first node's replica shows on the page.
    let stores: Vec<Map<String, u64>> = nodes
        .iter()
        .map(|n| {
            Map::writer_with_config(
                n,
                "prices",
                mosaik::collections::CollectionConfig::default().with_consensus(timing.clone()),
            )
        })
        .collect();

    // A steady stream from the first node, a commit every 100 ms and a
    // map write every 500 ms, so rates and indexes move on the page.
    let producer = nodes[0].streams().produce::<u64>();
    let _consumers: Vec<_> = nodes[1..]
        .iter()
        .map(|n| n.streams().consume::<u64>())
        .collect();
    let writer = groups[0].clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in 0_u64.. {
            tick.tick().await;
            let _ = producer.try_send(i);
            if i % 5 == 0 {
                let _ = writer.feed(1).await;
            }
        }
    });
    // Its own task: a write waits while the map has no leader, and the
    // stream should keep flowing meanwhile.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        for i in 0_u64.. {
            tick.tick().await;
            let _ = stores[0].insert(format!("k{}", i % 40), i).await;
        }
    });

    let bound = nodes[0].dashboard_addr().expect("asked for");
    println!("dashboard: http://{bound}/");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match line.trim() {
            "leave" if nodes.len() > 1 => {
                let leader = groups[0].leader();
                let at = (1..nodes.len())
                    .find(|i| Some(nodes[*i].local().id()) == leader)
                    .unwrap_or(nodes.len() - 1);
                drop(groups.remove(at));
                let gone = nodes.remove(at);
                let id = gone.local().id();
                gone.shutdown().await;
                println!("left {id}");
            }
            "quit" => break,
            _ => {}
        }
    }
    for n in nodes {
        n.shutdown().await;
    }
    Ok(())
}
