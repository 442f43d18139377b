//! The dashboard's collection stores, tag names and gossip neighbours, and
//! the time from a change on the node to the event carrying it.

use {
    super::{
        client::{Events, snapshot_until},
        fast, loopback, peer_count, timing,
    },
    core::time::Duration,
    mosaik::{
        Network, Tag,
        collections::{CollectionConfig, Map, MapReader, MapWriter, Vec as StoreVec, VecReader},
        dashboard::DashboardConfig,
        iroh::RelayMode,
    },
    serde_json::Value,
    std::{net::SocketAddr, time::Instant},
};

/// Writes whose latency to the event stream is measured.
const SAMPLES: u64 = 20;

async fn tagged(tag: &str, dashboard: DashboardConfig, bootstrap: Option<&Network>) -> Network {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
        .with_tags(tag);
    if let Some(first) = bootstrap {
        discovery = discovery.with_bootstrap([first.local().addr()]);
    }
    Network::builder("dash-stores")
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses([loopback()])
        .with_discovery(discovery)
        .with_dashboard_config(dashboard)
        .build()
        .await
        .expect("network starts")
}

fn config() -> CollectionConfig {
    CollectionConfig::default().with_consensus(timing())
}

/// The collection row of `kind` in a snapshot, if listed.
fn store<'a>(snapshot: &'a Value, kind: &str) -> Option<&'a Value> {
    snapshot["collections"]
        .as_array()?
        .iter()
        .find(|c| c["kind"] == kind)
}

fn tag_names(peer: &Value) -> Vec<Value> {
    peer["tags"]
        .as_array()
        .map(|tags| tags.iter().map(|t| t["name"].clone()).collect())
        .unwrap_or_default()
}

/// Every node lists its gossip neighbours by id, each a known peer and a
/// `gossip` edge.
async fn gossip_neighbours_show(addrs: [SocketAddr; 3]) {
    for addr in addrs {
        let view = snapshot_until(addr, "a gossip neighbour", |s| {
            s["gossip_neighbors"]
                .as_array()
                .is_some_and(|n| !n.is_empty())
        })
        .await;
        let peers: Vec<&Value> = view["peers"].as_array().expect("peers").iter().collect();
        for neighbour in view["gossip_neighbors"].as_array().expect("listed") {
            assert!(peers.iter().any(|p| p["id"] == *neighbour), "{view:#}");
            let edge = serde_json::json!({
                "from": view["node"], "to": neighbour, "kind": "gossip"
            });
            assert!(
                view["edges"].as_array().expect("edges").contains(&edge),
                "{view:#}"
            );
        }
    }
}

/// Times each of [`SAMPLES`] writes from its commit to the first event
/// carrying its version, and prints the figures.
async fn write_to_event_latency(writer: &MapWriter<String, u64>, events: &mut Events) {
    // Each write's version, then the event that first carries it. Each
    // write follows an event at once, so it waits nearly a whole interval
    // for the next sample: this is the worst case. The push itself (the
    // event's sample time to its arrival, same clock) is measured apart.
    let mut latencies = Vec::new();
    let mut pushes = Vec::new();
    for i in 0_u64..SAMPLES {
        let version = writer
            .insert(format!("k{i}"), i)
            .await
            .expect("the write commits")
            .0
            .0;
        let written = Instant::now();
        let event = events
            .next_until("the written version", |s| {
                store(s, "map").is_some_and(|m| m["version"].as_u64() >= Some(version))
            })
            .await;
        latencies.push(written.elapsed());
        let sampled = event["at_ms"].as_i64().expect("sample time");
        pushes.push(chrono::Utc::now().timestamp_millis() - sampled);
    }
    latencies.sort();
    let at = |q: usize| latencies[(latencies.len() - 1) * q / 100];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "dashboard latency write -> SSE event over {SAMPLES} writes (interval {:?}): \
         median {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        mosaik::dashboard::DEFAULT_INTERVAL,
        ms(at(50)),
        ms(at(95)),
        ms(at(100)),
    );
    pushes.sort_unstable();
    eprintln!(
        "dashboard push sample -> event received: median {} ms, max {} ms",
        pushes[pushes.len() / 2],
        pushes[pushes.len() - 1],
    );
    // One interval plus scheduling on a loaded machine.
    assert!(at(100) < Duration::from_secs(3), "{latencies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_tag_names_and_gossip_neighbours_show() {
    // The first node's dashboard knows the name of its own tag only, and
    // samples at the default interval (the latency below is for it).
    let a = tagged(
        "sequencer",
        DashboardConfig::new(loopback()).with_tag_names(["sequencer"]),
        None,
    )
    .await;
    let b = tagged("prover", fast(), Some(&a)).await;
    let c = tagged("watcher", fast().with_max_collections(1), Some(&a)).await;
    let addrs = [&a, &b, &c].map(|n| n.dashboard_addr().expect("bound"));

    // Tags: by name where this node knows it, else only the digest.
    let view = snapshot_until(addrs[0], "3 peers", |s| peer_count(s) == 3).await;
    assert_eq!(tag_names(&view["peers"][0]), [Value::from("sequencer")]);
    let prover = Tag::from("prover").to_string();
    let other = view["peers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["tags"][0]["id"] == prover.as_str()))
        .expect("b's entry with its tag digest");
    assert_eq!(tag_names(other), [Value::Null], "{view:#}");

    gossip_neighbours_show(addrs).await;

    // Stores: a map written by a and b, read by c; a vec read by c too.
    let writers = [
        Map::<String, u64>::writer_with_config(&a, "prices", config()),
        Map::<String, u64>::writer_with_config(&b, "prices", config()),
    ];
    let reader = MapReader::<String, u64>::reader_with_config(&c, "prices", config());
    let _log = StoreVec::<u64>::writer_with_config(&a, "log", config());
    let _log_reader = VecReader::<u64>::reader_with_config(&c, "log", config());
    tokio::time::timeout(super::client::TIMEOUT, writers[0].when().online())
        .await
        .expect("the map is online in time");
    let mut events = Events::open(addrs[0], "/api/events").await;
    assert_eq!(events.status, 200);
    events.next().await;

    write_to_event_latency(&writers[0], &mut events).await;

    let view = snapshot_until(addrs[0], "the map and the vec on a", |s| {
        store(s, "map")
            .is_some_and(|m| m["size"] == SAMPLES && !m["syncing"].as_bool().unwrap_or(true))
            && store(s, "vec").is_some()
    })
    .await;
    let map = store(&view, "map").expect("listed");
    assert_eq!(map["role"], "writer", "{view:#}");
    assert_eq!(view["collections_total"], 2, "{view:#}");
    assert!(
        view["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["id"] == map["group"] && g["kind"] == "collection"),
        "the store's group is listed too: {view:#}"
    );

    // The reader's node lists one store of its two (its cap), read-only,
    // caught up with the writers.
    tokio::time::timeout(
        super::client::TIMEOUT,
        reader.when().reaches(writers[0].version()),
    )
    .await
    .expect("the reader catches up in time");
    let view = snapshot_until(addrs[2], "one of two stores, caught up", |s| {
        s["collections_total"] == 2
            && s["collections"].as_array().map_or(0, Vec::len) == 1
            && s["collections"][0]["syncing"] == false
    })
    .await;
    assert_eq!(view["collections"][0]["role"], "reader", "{view:#}");
}
