//! A distributed rate limiter on a replicated collection.
//!
//! ```sh
//! cargo run --example rate-limiter -- --nodes 3 --limit 10 --seconds 3
//! ```
//!
//! Several nodes (in this process, on loopback) serve requests for the
//! same clients and must together grant at most `--limit` requests per
//! client per one-second window — no coordinator, no sticky routing.
//!
//! The shared state is one replicated [`Vec`] used as an append-only
//! ledger of requests. A node asks for a slot by appending a `Request`;
//! the write returns once it committed, and then every replica holds the
//! same ledger in the same order. The rule is deterministic: a request is
//! granted iff fewer than `limit` earlier entries of the same client and
//! window precede it. So every node reaches the same verdict for every
//! request, and the cluster as a whole never grants more than the limit.
//! Old windows are trimmed from the front, which never changes a verdict
//! of a newer window.
//!
//! The window is chosen by the asking node's clock: with skewed clocks a
//! request counts in the window its node believed in.

use {
    clap::Parser,
    mosaik::{Network, NetworkId, collections::Vec as Ledger, discovery},
    serde::{Deserialize, Serialize},
    std::{
        collections::BTreeMap,
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        },
        time::{Duration, SystemTime, UNIX_EPOCH},
    },
};

#[derive(Parser)]
#[command(about = "A rate limiter shared by several mosaik nodes")]
struct Args {
    /// Nodes sharing the limit.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Requests granted per client per second, cluster-wide.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// How long the nodes keep sending requests.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Request {
    client: String,
    window: u64,
    /// Unique per request: which node asked, and its sequence number.
    node: usize,
    seq: u64,
}

/// The rate limiter one node runs.
struct Limiter {
    node: usize,
    limit: usize,
    ledger: Ledger<Request>,
    seq: AtomicU64,
}

impl Limiter {
    /// Asks for one slot for `client` in the current window; returns the
    /// window and the verdict.
    async fn acquire(&self, client: &str) -> anyhow::Result<(u64, bool)> {
        let window = now_window();
        let request = Request {
            client: client.to_owned(),
            window,
            node: self.node,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        };
        self.ledger
            .push_back(request.clone())
            .await
            .map_err(|e| anyhow::anyhow!("ledger write failed: {e}"))?;
        // Our entry is applied locally now; its rank decides.
        let earlier = self
            .ledger
            .iter()
            .take_while(|r| *r != request)
            .filter(|r| r.client == request.client && r.window == window)
            .count();
        Ok((window, earlier < self.limit))
    }

    /// Drops ledger entries of windows that are over.
    async fn trim(&self) -> anyhow::Result<()> {
        let current = now_window();
        while self.ledger.front().is_some_and(|r| r.window + 1 < current) {
            self.ledger
                .pop_front()
                .await
                .map_err(|e| anyhow::anyhow!("ledger trim failed: {e}"))?;
        }
        Ok(())
    }
}

fn now_window() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    let network_id = NetworkId::from("mosaik-example-rate-limiter");

    // A loopback cluster: the first node is everyone's bootstrap peer.
    let mut nodes = std::vec::Vec::new();
    for i in 0..args.nodes {
        let mut config = discovery::Config::builder();
        if let Some(first) = nodes.first() {
            let first: &Network = first;
            config = config.with_bootstrap([first.local().addr()]);
        }
        let node = Network::builder(network_id)
            .with_relay_mode(mosaik::iroh::RelayMode::Disabled)
            .with_addresses(["127.0.0.1:0".parse()?])
            .with_discovery(config.no_dht_bootstrap())
            .build()
            .await?;
        println!("node {i}: {}", node.local().id());
        nodes.push(node);
    }

    let limiters: std::vec::Vec<Arc<Limiter>> = nodes
        .iter()
        .enumerate()
        .map(|(node, network)| {
            Arc::new(Limiter {
                node,
                limit: args.limit,
                ledger: Ledger::writer(network, "rate-limiter/ledger"),
                seq: AtomicU64::new(0),
            })
        })
        .collect();
    for limiter in &limiters {
        limiter.ledger.when().online().await;
    }
    println!("ledger online on {} nodes", limiters.len());

    // Every node hammers the same two clients for `seconds`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for limiter in &limiters {
        for client in ["alice", "bob"] {
            let limiter = limiter.clone();
            tasks.spawn(async move {
                let mut verdicts = std::vec::Vec::new();
                while tokio::time::Instant::now() < deadline {
                    let (window, granted) = limiter.acquire(client).await?;
                    verdicts.push((client, window, granted));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                limiter.trim().await?;
                anyhow::Ok(verdicts)
            });
        }
    }
    let mut granted: BTreeMap<(&str, u64), usize> = BTreeMap::new();
    let mut denied = 0usize;
    while let Some(result) = tasks.join_next().await {
        for (client, window, ok) in result?? {
            if ok {
                *granted.entry((client, window)).or_default() += 1;
            } else {
                denied += 1;
            }
        }
    }

    let mut over = 0;
    for ((client, window), count) in &granted {
        let mark = if *count > args.limit {
            over += 1;
            "  OVER LIMIT"
        } else {
            ""
        };
        println!("{client:>6} window {window}: {count} granted{mark}");
    }
    println!("denied: {denied}");
    for node in nodes {
        node.shutdown().await;
    }
    anyhow::ensure!(over == 0, "{over} windows granted more than the limit");
    println!("every window stayed within {} requests", args.limit);
    Ok(())
}
