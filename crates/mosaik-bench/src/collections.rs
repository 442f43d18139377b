//! B6: a late member catches up a large `Map` by snapshot (fetched from
//! every member in parallel) while the leader keeps writing. Reports
//! catch-up time, MB/s of map payload, and the leader's write latency
//! idle and during the catch-up.
//!
//! The value type is selectable as in B3 (`--payload`): `mosaik::Bytes`
//! (default) is one byte string to serde, `Vec<u8>` a sequence, which
//! mosaik writes and reads in one piece (the same bytes; until 6 Dec 2026
//! serde's path, one call per byte, was 8.6 % of the transfer's CPU
//! encoding and 10.5 % decoding in a profile).

use {
    crate::streams::{BenchPayload, Payload},
    mosaik::{
        Network,
        collections::{CollectionConfig, MapWriter, SyncConfig},
        discovery::Config,
    },
    std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::{Duration, Instant},
    },
};

async fn node(bootstrap: Option<mosaik::iroh::EndpointAddr>) -> anyhow::Result<Network> {
    let mut config = Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1));
    if let Some(addr) = bootstrap {
        config = config.with_bootstrap([addr]);
    }
    Ok(crate::loopback_node("mosaik-bench-collections")
        .with_discovery(config)
        .build()
        .await?)
}

/// Commands between snapshots. Much smaller than the writes landing during
/// a catch-up makes the joiner chase: the members prune past the snapshot
/// it is installing, and it must fetch a newer one.
const COMPACTION: u64 = 1000;

/// Runs writes on `writer` until `stop`, returning each write's latency.
fn write_loop<V: BenchPayload>(
    writer: MapWriter<u64, V>,
    stop: Arc<AtomicBool>,
    first_key: u64,
    value_size: usize,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut latencies = Vec::new();
        let mut k = first_key;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if let Err(e) = writer.insert(k, V::filled(value_size, 1)).await {
                eprintln!("B6: write failed: {e}");
                break;
            }
            latencies.push(started.elapsed());
            k += 1;
        }
        latencies
    })
}

/// A write loop's latencies, in milliseconds.
pub(crate) struct Latencies {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    count: usize,
}

/// p50, p99 and max of `latencies`.
pub(crate) fn summary(mut latencies: Vec<Duration>) -> Latencies {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Latencies {
        p50: ms(crate::groups::percentile(&latencies, 0.5)),
        p99: ms(crate::groups::percentile(&latencies, 0.99)),
        p999: ms(crate::groups::percentile(&latencies, 0.999)),
        max: ms(latencies.last().copied().unwrap_or_default()),
        count: latencies.len(),
    }
}

/// A finished catch-up, as both B6 runs (ours and etcd's) report it.
pub(crate) struct CatchUp {
    pub(crate) entries: u64,
    pub(crate) value_size: usize,
    pub(crate) elapsed: Duration,
    /// The leader's writes with nobody joining.
    pub(crate) idle: Latencies,
    /// The leader's writes during the catch-up.
    pub(crate) busy: Latencies,
}

impl CatchUp {
    /// Prints the summary line (`what` first, `after` last) and the JSON
    /// record (`tags`, its first fields after `"bench"`).
    pub(crate) fn report(&self, what: &str, after: &str, tags: &str) {
        let Self {
            entries,
            value_size,
            elapsed,
            idle,
            busy,
        } = self;
        let megabytes = (*entries as f64 * (value_size + 8) as f64) / 1e6;
        let rate = megabytes / elapsed.as_secs_f64();
        let elapsed = elapsed.as_secs_f64();
        println!(
            "{what}: catch-up {elapsed:.2} s, {rate:.1} MB/s; leader writes idle p50 {:.2} ms \
             p99 {:.2} ms p99.9 {:.2} ms max {:.1} ms ({} writes), during catch-up p50 {:.2} ms \
             p99 {:.2} ms max {:.0} ms ({} writes); {after}",
            idle.p50,
            idle.p99,
            idle.p999,
            idle.max,
            idle.count,
            busy.p50,
            busy.p99,
            busy.max,
            busy.count,
        );
        println!(
            "{{\"bench\":\"B6\",{tags},\"entries\":{entries},\"value_size\":{value_size},\
             \"catch_up_s\":{elapsed:.3},\"mb_per_s\":{rate:.2},\"idle_p99_ms\":{:.3},\
             \"idle_p999_ms\":{:.3},\"idle_max_ms\":{:.2},\"write_p50_ms\":{:.3},\"write_p99_ms\":{:.3},\
             \"write_max_ms\":{:.1},\"writes\":{}}}",
            idle.p99, idle.p999, idle.max, busy.p50, busy.p99, busy.max, busy.count,
        );
    }
}

/// Fills `entries` × `value_size` bytes into a store of `members` writer
/// members, measures the leader's idle write latency, then times a late
/// member's catch-up (a writer, so it joins the voters) while the same
/// write loop runs.
pub async fn catch_up(
    entries: u64,
    value_size: usize,
    members: usize,
    payload: Payload,
) -> anyhow::Result<()> {
    match payload {
        Payload::Bytes => catch_up_with::<mosaik::Bytes>(entries, value_size, members).await,
        Payload::Vec => catch_up_with::<Vec<u8>>(entries, value_size, members).await,
    }
}

async fn catch_up_with<V: BenchPayload>(
    entries: u64,
    value_size: usize,
    members: usize,
) -> anyhow::Result<()> {
    let config = || {
        CollectionConfig::default()
            .with_sync(SyncConfig::default().with_compaction_threshold(COMPACTION))
    };
    let first = node(None).await?;
    let mut nodes = vec![first];
    for _ in 1..members.max(1) {
        nodes.push(node(Some(nodes[0].local().addr())).await?);
    }
    let handles: Vec<_> = nodes
        .iter()
        .map(|n| MapWriter::<u64, V>::writer_with_config(n, "b6", config()))
        .collect();
    for handle in &handles {
        tokio::time::timeout(Duration::from_secs(30), handle.when().online()).await?;
    }
    // Write through the leader, so latencies are the leader's.
    let leader = handles[0].leader();
    let writer = handles
        .iter()
        .zip(&nodes)
        .find(|(_, n)| leader == Some(n.local().id()))
        .map_or(&handles[0], |(h, _)| h)
        .clone();
    // Half of one proposal's limit (`max_append_bytes`, 4 MiB) per batch:
    // a full 4 MiB of values plus their framing would be refused `TooLarge`.
    let batch = (2 * 1024 * 1024 / value_size.max(1)).max(1) as u64;
    let mut key = 0;
    while key < entries {
        let end = (key + batch).min(entries);
        writer
            .extend((key..end).map(|k| (k, V::filled(value_size, (k % 251) as u8))))
            .await
            .map_err(|e| anyhow::anyhow!("fill: {e}"))?;
        key = end;
    }
    // Three compaction intervals of commands: the log is pruned (members
    // keep the two newest snapshots), the
    // joiner must take a snapshot.
    for k in 0..3 * COMPACTION {
        writer
            .insert(entries + k, V::filled(value_size, 0))
            .await
            .map_err(|e| anyhow::anyhow!("pad: {e}"))?;
    }

    // Idle baseline: the same write loop for two seconds, nobody joining.
    let stop = Arc::new(AtomicBool::new(false));
    let idle = write_loop(writer.clone(), stop.clone(), u64::MAX / 4, value_size);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let idle = summary(idle.await?);

    let stop = Arc::new(AtomicBool::new(false));
    let load = write_loop(writer.clone(), stop.clone(), u64::MAX / 2, value_size);
    let started = Instant::now();
    let late = node(Some(nodes[0].local().addr())).await?;
    let joiner = MapWriter::<u64, V>::writer_with_config(&late, "b6", config());
    let target = writer.version();
    tokio::time::timeout(Duration::from_mins(10), joiner.when().reaches(target)).await?;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let busy = summary(load.await?);
    let value = core::any::type_name::<V>();
    CatchUp {
        entries,
        value_size,
        elapsed,
        idle,
        busy,
    }
    .report(
        &format!(
            "B6 collections: {members} members, late member of a {entries} x {value_size} B map ({value})"
        ),
        &format!("joiner has {} entries", joiner.len()),
        &format!("\"value\":\"{value}\",\"members\":{members}"),
    );
    Ok(())
}
