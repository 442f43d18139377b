//! Five in-process nodes: three matchers in a Raft group running the
//! [`OrderBook`], two traders streaming orders and receiving fills.

use {
    super::book::{BookAnswer, BookCommand, BookQuery, Fill, Order, OrderBook, Side},
    core::time::Duration,
    mosaik::{
        Network, NetworkId, Strong, Weak,
        groups::{ConsensusConfig, Group, GroupKey},
        iroh::RelayMode,
    },
    std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// Upper bound of every wait.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What a run produced.
#[derive(Debug)]
pub struct Report {
    /// Orders executed by the leader.
    pub orders: u64,
    /// Fills, from the leader's `Strong` query.
    pub fills: Vec<Fill>,
    /// Fills each trader received on the `Fill` stream.
    pub fills_received: [u64; 2],
    /// Whether a follower's `Weak` read (after catching up) matched.
    pub follower_agrees: bool,
    /// Best bid and ask left in the book.
    pub top: (Option<u64>, Option<u64>),
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .map_err(|_| anyhow::anyhow!("timed out waiting for {what}"))
}

/// A loopback node: no relays, no DHT; bootstraps from `first`.
async fn node(network: NetworkId, first: Option<&Network>) -> anyhow::Result<Network> {
    let mut discovery = mosaik::discovery::Config::builder().no_dht_bootstrap();
    if let Some(first) = first {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    Ok(Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse()?])
        .with_discovery(discovery)
        .build()
        .await?)
}

/// Quick elections for a loopback cluster.
fn timing() -> ConsensusConfig {
    let Ok(config) = ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_election_timeout(Duration::from_millis(600))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build();
    config
}

/// `count` orders of one trader: a deterministic mix around price 100,
/// sellers slightly above, buyers slightly below, so some cross.
fn orders(trader: u8, count: u64) -> Vec<Order> {
    let mut state = u64::from(trader) * 7919 + 1;
    (1..=count)
        .map(|id| {
            // A tiny LCG: reproducible without a random number crate.
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let noise = (state >> 33) % 6;
            let side = if (state >> 40) % 2 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let price = match side {
                Side::Buy => 97 + noise,
                Side::Sell => 99 + noise,
            };
            Order {
                id,
                trader,
                side,
                price,
                qty: 1 + (state >> 50) % 10,
            }
        })
        .collect()
}

/// The matchers: one group, one `OrderBook` replica each; resolves once
/// they agree on a leader.
async fn join_matchers(matchers: &[Network]) -> anyhow::Result<Vec<Group<OrderBook>>> {
    let key = GroupKey::from_secret("orderbook-matchers");
    let books: Vec<Group<OrderBook>> = matchers
        .iter()
        .map(|n| {
            n.groups()
                .with_key(key)
                .with_state_machine(OrderBook::default())
                .with_consensus_config(timing())
                .join()
        })
        .collect();
    let leader = within("a leader", books[0].when().leader_elected()).await?;
    for book in &books {
        within("agreement on the leader", book.when().leader_is(leader)).await?;
    }
    Ok(books)
}

/// Every matcher consumes orders; only the leader turns them into
/// commands, so each order is placed once. Returns (orders executed,
/// highest committed index) counters.
fn spawn_matching(
    matchers: &[Network],
    books: &[Group<OrderBook>],
) -> (Arc<AtomicU64>, Arc<AtomicU64>) {
    let executed = Arc::new(AtomicU64::new(0));
    let last_index = Arc::new(AtomicU64::new(0));
    for (matcher, book) in matchers.iter().zip(books) {
        let mut incoming = matcher.streams().consume::<Order>();
        let (book, executed, last_index) = (book.clone(), executed.clone(), last_index.clone());
        tokio::spawn(async move {
            while let Some(order) = incoming.recv().await {
                if !book.is_leader() {
                    continue;
                }
                if let Ok(index) = book.execute(BookCommand::PlaceOrder(order)).await {
                    last_index.fetch_max(index.0, Ordering::Relaxed);
                    executed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    (executed, last_index)
}

/// The leader reads every fill with a `Strong` query and publishes them on
/// the `Fill` stream.
async fn publish_fills(
    matchers: &[Network],
    books: &[Group<OrderBook>],
) -> anyhow::Result<(Vec<Fill>, mosaik::streams::Producer<Fill>)> {
    let leader = books.iter().position(Group::is_leader).unwrap_or(0);
    let BookAnswer::Fills(fills) = books[leader].query(BookQuery::Fills, Strong).await?.result
    else {
        anyhow::bail!("unexpected answer");
    };
    let publisher = matchers[leader].streams().produce::<Fill>();
    within(
        "both traders subscribed",
        publisher.when().subscribed().minimum_of(2),
    )
    .await?;
    for fill in &fills {
        publisher
            .send(fill.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok((fills, publisher))
}

/// Runs the scenario with `count` orders per trader.
pub async fn run(count: u64) -> anyhow::Result<Report> {
    let network = NetworkId::from("mosaik-orderbook-example");
    let first = node(network, None).await?;
    let mut nodes = vec![];
    for _ in 1..5 {
        nodes.push(node(network, Some(&first)).await?);
    }
    nodes.insert(0, first);
    let (matchers, traders) = nodes.split_at(3);
    let books = join_matchers(matchers).await?;

    let (executed, last_index) = spawn_matching(matchers, &books);

    // The traders: an Order producer and a Fill consumer each.
    let fills_received: Arc<[AtomicU64; 2]> = Arc::default();
    for (i, trader) in traders.iter().enumerate() {
        let mut fills = trader.streams().consume::<Fill>();
        let received = fills_received.clone();
        tokio::spawn(async move {
            while fills.recv().await.is_some() {
                received[i].fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut senders = vec![];
    for (i, trader) in traders.iter().enumerate() {
        let producer = trader.streams().produce::<Order>();
        within(
            "three matchers subscribed",
            producer.when().subscribed().minimum_of(3),
        )
        .await?;
        let trader_id = u8::try_from(i + 1)?;
        senders.push(tokio::spawn(async move {
            for order in orders(trader_id, count) {
                producer
                    .send(order)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            // Keep the producer alive until the matchers read everything.
            tokio::time::sleep(TIMEOUT).await;
            anyhow::Ok(())
        }));
    }
    let total = 2 * count;
    within("every order executed", async {
        while executed.load(Ordering::Relaxed) < total {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    for sender in &senders {
        sender.abort();
    }

    // A linearizable read of the fills, published on the Fill stream.
    let (fills, publisher) = publish_fills(matchers, &books).await?;
    let sent = fills.len() as u64;
    within("fills delivered", async {
        while fills_received
            .iter()
            .any(|r| r.load(Ordering::Relaxed) < sent)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;

    // A follower reads locally once it has applied everything.
    let follower = books.iter().find(|b| !b.is_leader()).unwrap_or(&books[1]);
    let target = mosaik::groups::Index(last_index.load(Ordering::Relaxed));
    within(
        "the follower catching up",
        follower.when().committed().reaches(target),
    )
    .await?;
    let BookAnswer::Fills(seen) = follower.query(BookQuery::Fills, Weak).await?.result else {
        anyhow::bail!("unexpected answer");
    };
    let BookAnswer::Top(bid, ask) = follower.query(BookQuery::Top, Weak).await?.result else {
        anyhow::bail!("unexpected answer");
    };
    let report = Report {
        orders: executed.load(Ordering::Relaxed),
        follower_agrees: seen == fills,
        fills,
        fills_received: [0, 1].map(|i| fills_received[i].load(Ordering::Relaxed)),
        top: (bid, ask),
    };
    // Leave gracefully: peers see the departures, and no connection task
    // is still running when the runtime stops.
    drop((books, publisher));
    for node in nodes {
        node.shutdown().await;
    }
    Ok(report)
}
