//! The dashboard's JSON API and event stream over loopback against a
//! 3-node cluster (`cargo test -p mosaik --test dashboard`): peers, a
//! stream's rate, a group's leader and lag, the change when the leader's
//! node is dropped, the token and the client cap; `stores.rs` the
//! collection stores, tag names, gossip neighbours and update latency.

mod client;
mod stores;

use {
    client::{Events, TIMEOUT, get, snapshot, snapshot_until},
    core::time::Duration,
    mosaik::{
        Network, UniqueId,
        dashboard::DashboardConfig,
        groups::{ApplyContext, ConsensusConfig, Group, GroupKey, LogReplaySync, StateMachine},
        iroh::RelayMode,
    },
    serde_json::Value,
    std::net::SocketAddr,
};

#[derive(Debug, Clone, Default)]
struct Counter(i64);

impl StateMachine for Counter {
    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("dashboard-counter-v1")
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

/// Fast elections, so the leader change takes about a second.
fn timing() -> ConsensusConfig {
    ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()
        .expect("valid timing")
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

async fn node(network: &str, dashboard: DashboardConfig, bootstrap: Option<&Network>) -> Network {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1));
    if let Some(first) = bootstrap {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses([loopback()])
        .with_discovery(discovery)
        .with_dashboard_config(dashboard)
        .build()
        .await
        .expect("network starts")
}

fn fast() -> DashboardConfig {
    DashboardConfig::new(loopback()).with_interval(Duration::from_millis(100))
}

fn the_group(snapshot: &Value) -> &Value {
    &snapshot["groups"][0]
}

fn peer_count(snapshot: &Value) -> usize {
    snapshot["peers"].as_array().map_or(0, Vec::len)
}

/// A stream from the first node to the other two, fed steadily: its rate
/// shows at the producer and at a consumer.
async fn stream_rate_shows(nodes: &[Network]) {
    // A stream from a to b and c, fed steadily: its rate shows on a.
    let producer = nodes[0].streams().produce::<u64>();
    let _consumers = [
        nodes[1].streams().consume::<u64>(),
        nodes[2].streams().consume::<u64>(),
    ];
    let feeder = {
        let producer = producer.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for i in 0_u64.. {
                tick.tick().await;
                let _ = producer.try_send(i);
            }
        })
    };
    let a_addr = nodes[0].dashboard_addr().expect("bound");
    let streams = snapshot_until(a_addr, "a stream rate with 2 consumers", |s| {
        let p = &s["producers"][0];
        p["rate"].as_f64().unwrap_or(0.0) > 0.0
            && p["consumers"].as_array().map_or(0, Vec::len) == 2
    })
    .await;
    assert!(streams["producers"][0]["sent"].as_u64() > Some(0));
    snapshot_until(
        nodes[1].dashboard_addr().expect("bound"),
        "consumer rate",
        |s| s["consumers"][0]["rate"].as_f64().unwrap_or(0.0) > 0.0,
    )
    .await;
    feeder.abort();
}

fn join_all(nodes: &[Network], key: GroupKey) -> Vec<Group<Counter>> {
    nodes
        .iter()
        .map(|n| {
            n.groups()
                .with_key(key)
                .with_state_machine(Counter::default())
                .with_consensus_config(timing())
                .join()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_view_follows_streams_groups_and_a_leader_change() {
    let a = node("dash-net", fast(), None).await;
    let b = node("dash-net", fast(), Some(&a)).await;
    let c = node("dash-net", fast(), Some(&a)).await;
    let nodes = [a, b, c];

    // Peers: every node sees itself and the other two.
    for n in &nodes {
        let addr = n.dashboard_addr().expect("dashboard bound");
        snapshot_until(addr, "3 peers", |s| peer_count(s) == 3).await;
    }

    stream_rate_shows(&nodes).await;

    // A group of the three: the leader's dashboard shows it leading, with
    // each member's match index and lag.
    let key = GroupKey::from_secret("dashboard-group");
    let groups = join_all(&nodes, key);
    let leader = tokio::time::timeout(TIMEOUT, groups[0].when().leader_elected())
        .await
        .expect("a leader in time");
    tokio::time::timeout(TIMEOUT, groups[0].execute(1))
        .await
        .expect("in time")
        .expect("commits");
    let at = nodes
        .iter()
        .position(|n| n.local().id() == leader)
        .expect("the leader is one of the nodes");
    let leader_hex = leader.to_string();
    let view = snapshot_until(
        nodes[at].dashboard_addr().expect("bound"),
        "the leader with 3 members' lag",
        |s| {
            let g = the_group(s);
            g["leader"] == leader_hex.as_str()
                && g["is_leader"] == true
                && g["term"].as_u64() > Some(0)
                && g["members"]
                    .as_array()
                    .is_some_and(|m| m.len() == 3 && m.iter().all(|m| m["lag"].is_u64()))
        },
    )
    .await;
    assert!(
        the_group(&view)["committed"].as_u64() >= Some(1),
        "{view:#}"
    );
    let elections = the_group(&view)["elections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        elections.last().map(|e| e["leader"].clone()),
        Some(Value::from(leader_hex.as_str())),
        "{view:#}"
    );

    // A survivor's event stream: it shows the leader once the survivor
    // heard from it (the commit above needed only a majority, so the
    // survivor may still be behind); the leader's node leaves and a later
    // event, pushed without asking, shows a new leader, a new election and
    // two peers.
    let survivor = (at + 1) % 3;
    let survivor_addr = nodes[survivor].dashboard_addr().expect("bound");
    let mut events = Events::open(survivor_addr, "/api/events").await;
    assert_eq!(events.status, 200);
    let first = events
        .next_until("the survivor following the leader", |s| {
            the_group(s)["leader"] == leader_hex.as_str()
        })
        .await;
    let mut nodes = Vec::from(nodes);
    let mut groups = groups;
    drop(groups.remove(at));
    nodes.remove(at).shutdown().await;
    let changed = events
        .next_until("a new leader among 2 peers", |s| {
            let g = the_group(s);
            peer_count(s) == 2
                && g["leader"].is_string()
                && g["leader"] != leader_hex.as_str()
                && g["elections"].as_array().map_or(0, Vec::len) >= 2
        })
        .await;
    assert!(
        changed["version"].as_u64() > first["version"].as_u64(),
        "{changed:#}"
    );
}

#[tokio::test]
async fn a_token_is_required_when_set() {
    let n = node(
        "dash-token",
        DashboardConfig::new(loopback()).with_token("s3cret"),
        None,
    )
    .await;
    let addr = n.dashboard_addr().expect("bound");
    for path in [
        "/",
        "/api/snapshot",
        "/api/events",
        "/api/snapshot?token=wrong",
    ] {
        assert_eq!(get(addr, path, "").await.0, 401, "{path}");
    }
    let (status, body) = get(addr, "/api/snapshot?token=s3cret", "").await;
    assert_eq!(status, 200);
    let view: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(view["node"], n.local().id().to_string().as_str());
    let bearer = "authorization: Bearer s3cret\r\n";
    assert_eq!(get(addr, "/api/snapshot", bearer).await.0, 200);
    let mut events = Events::open(addr, "/api/events?token=s3cret").await;
    assert_eq!(events.status, 200);
    assert_eq!(events.next().await["node"], view["node"]);
}

#[tokio::test]
async fn one_client_over_the_cap_is_refused() {
    let n = node("dash-cap", fast().with_max_clients(2), None).await;
    let addr = n.dashboard_addr().expect("bound");
    let mut first = Events::open(addr, "/api/events").await;
    let mut second = Events::open(addr, "/api/events").await;
    assert_eq!((first.status, second.status), (200, 200));
    first.next().await;
    second.next().await;
    let third = Events::open(addr, "/api/events").await;
    assert_eq!(third.status, 503);
    // Plain requests are not event streams and still answer.
    assert_eq!(
        snapshot(addr).await["node"],
        n.local().id().to_string().as_str()
    );

    // A client that leaves frees its slot once a write to it fails; new
    // tags make new snapshots, so writes happen.
    drop(first);
    let mut tag = 0_u32;
    let reopened = tokio::time::timeout(TIMEOUT, async {
        loop {
            tag += 1;
            n.discovery().add_tags(format!("t{tag}").as_str());
            second.next().await;
            let again = Events::open(addr, "/api/events").await;
            if again.status == 200 {
                return again;
            }
        }
    })
    .await
    .expect("the slot is freed");
    assert_eq!(reopened.status, 200);
}

#[tokio::test]
async fn the_page_is_self_contained() {
    let n = node("dash-page", DashboardConfig::default(), None).await;
    let addr = n.dashboard_addr().expect("bound");
    assert!(addr.ip().is_loopback(), "loopback by default");
    let (status, page) = get(addr, "/", "").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<svg id=\"graph\""),
        "the graph is in the page"
    );
    assert!(
        page.contains("/api/events"),
        "the page follows the event stream"
    );
    for kind in ["edge-known", "edge-gossip", "edge-bond", "edge-stream"] {
        assert!(page.contains(kind), "the graph styles {kind} edges");
    }
    assert!(
        page.contains("id=\"collections\""),
        "the page lists collections"
    );
    for external in ["src=\"http", "href=\"http", "@import", "//cdn"] {
        assert!(
            !page.contains(external),
            "the page loads nothing from elsewhere: {external}"
        );
    }
    assert_eq!(get(addr, "/nope", "").await.0, 404);
}
