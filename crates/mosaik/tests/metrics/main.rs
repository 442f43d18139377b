//! The Prometheus exporter, scraped over HTTP from a small loopback
//! cluster. A separate test binary: the metrics recorder is process-global.

use {
    core::time::Duration,
    mosaik::{
        Network, UniqueId,
        groups::{ApplyContext, ConsensusConfig, GroupKey, LogReplaySync, StateMachine},
        iroh::RelayMode,
        primitives::ShortFmtExt as _,
    },
    std::net::SocketAddr,
    tokio::io::{AsyncReadExt, AsyncWriteExt},
};

/// The attacks' wire shapes (shared with the hostile suite).
#[path = "../hostile/attacks.rs"]
mod attacks;
mod discovery;
mod sync_queue;

const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Default)]
struct Counter(i64);

impl StateMachine for Counter {
    /// A copy lets the group rebuild this machine after a dynamic-mode revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("metrics-counter-v1")
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
}

fn timing() -> ConsensusConfig {
    let Ok(config) = ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build();
    config
}

async fn node(network: &str, prometheus: bool, bootstrap: Option<&Network>) -> Network {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1));
    if let Some(first) = bootstrap {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    node_with(network, discovery, prometheus).await
}

/// A loopback node with discovery settings `discovery`, serving the
/// exporter on a free port when `prometheus`.
pub(crate) async fn node_with(
    network: &str,
    discovery: mosaik::discovery::ConfigBuilder,
    prometheus: bool,
) -> Network {
    let mut builder = Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(discovery);
    if prometheus {
        builder = builder.with_prometheus_addr("127.0.0.1:0".parse::<SocketAddr>().unwrap());
    }
    builder.build().await.expect("network starts")
}

/// One HTTP GET; the response body.
pub(crate) async fn scrape(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// The value of `name{network="<net>"}` in a scrape (0 when absent).
pub(crate) fn counter(body: &str, name: &str, net: &str) -> u64 {
    let prefix = format!("{name}{{network=\"{net}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap_or(0))
}

/// Polls `pred` every 20 ms until it holds, at most [`TIMEOUT`].
pub(crate) async fn until(what: &str, mut pred: impl AsyncFnMut() -> bool) {
    let wait = async {
        while !pred().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// Scrapes until every name in `names` appears.
pub(crate) async fn scrape_until(addr: SocketAddr, names: &[&str]) -> String {
    let wait = async {
        loop {
            let body = scrape(addr).await;
            if names.iter().all(|n| body.contains(n)) {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("metrics {names:?} never appeared"))
}

#[tokio::test]
async fn scrape_shows_stream_and_group_metrics() {
    let a = node("metrics-net", true, None).await;
    let b = node("metrics-net", false, Some(&a)).await;
    let addr = a.prometheus_addr().expect("exporter bound");

    let producer = a.streams().produce::<u64>();
    let mut consumer = b.streams().consume::<u64>();
    tokio::time::timeout(TIMEOUT, producer.when().online())
        .await
        .expect("subscriber connects");
    producer.send(7).await.expect("sends");
    assert_eq!(
        tokio::time::timeout(TIMEOUT, consumer.recv())
            .await
            .unwrap(),
        Some(7)
    );

    let key = GroupKey::from_secret("metrics-group");
    let join = |n: &Network| {
        n.groups()
            .with_key(key)
            .with_state_machine(Counter::default())
            .with_consensus_config(timing())
            .join()
    };
    let (ga, gb) = (join(&a), join(&b));
    let leader = tokio::time::timeout(TIMEOUT, gb.when().leader_elected())
        .await
        .expect("leader");
    tokio::time::timeout(TIMEOUT, ga.when().leader_is(leader))
        .await
        .expect("both follow the leader");
    tokio::time::timeout(TIMEOUT, ga.execute(1))
        .await
        .expect("in time")
        .expect("commits");

    let network = a.network_id().short().to_string();
    let body = scrape_until(
        addr,
        &[
            "mosaik_streams_producer_items_sent",
            "mosaik_streams_consumer_items_received",
            "mosaik_streams_producers_active",
            "mosaik_groups_active",
            "mosaik_groups_raft_committed",
            "mosaik_groups_raft_elections",
            "mosaik_groups_raft_leader_changes",
            "mosaik_groups_raft_committee_voters",
            "mosaik_groups_bonds_active",
            "mosaik_discovery_catalog_size",
            "mosaik_network_ingress_bytes",
        ],
    )
    .await;
    assert!(
        body.contains("# TYPE mosaik_groups_raft_committed gauge"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE mosaik_streams_producer_items_sent counter"),
        "{body}"
    );
    // The global label on process-wide series.
    assert!(
        body.contains(&format!(
            "mosaik_network_ingress_bytes{{network=\"{network}\"}}"
        )),
        "{body}"
    );

    // A second network in the same process shares the recorder and gets
    // its own endpoint, showing only its own series.
    let c = node("metrics-other-net", true, None).await;
    let other = c.prometheus_addr().expect("second exporter bound");
    let own = format!(
        "mosaik_network_ingress_bytes{{network=\"{}\"}}",
        c.network_id().short()
    );
    let body = scrape_until(other, &[own.as_str()]).await;
    assert!(!body.contains(&network), "{body}");
    let _ = (ga, gb);
}

#[tokio::test]
async fn non_get_requests_are_refused() {
    let a = node("metrics-refuse", true, None).await;
    let addr = a.prometheus_addr().unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"POST / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
}
