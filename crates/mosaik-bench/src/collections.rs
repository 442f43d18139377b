//! B6: a late joiner catches up a large `Map` by snapshot while the writer
//! keeps writing. Reports catch-up time, MB/s of map payload and the
//! writer's per-write p99 during the catch-up.

use {
    mosaik::{
        Network,
        collections::{CollectionConfig, MapReader, MapWriter, SyncConfig},
        discovery::Config,
        iroh::RelayMode,
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
    Ok(Network::builder("mosaik-bench-collections")
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse()?])
        .with_discovery(config)
        .build()
        .await?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at]
}

/// Fills `entries` × `value_size` bytes, then times a late reader's
/// catch-up while a writer loop runs.
pub async fn catch_up(entries: u64, value_size: usize) -> anyhow::Result<()> {
    let config = || {
        CollectionConfig::default().with_sync(SyncConfig::default().with_compaction_threshold(100))
    };
    let first = node(None).await?;
    let writer = MapWriter::<u64, Vec<u8>>::writer_with_config(&first, "b6", config());
    tokio::time::timeout(Duration::from_secs(30), writer.when().online()).await?;
    let batch = (4 * 1024 * 1024 / value_size.max(1)).max(1) as u64;
    let mut key = 0;
    while key < entries {
        let end = (key + batch).min(entries);
        writer
            .extend((key..end).map(|k| (k, vec![(k % 251) as u8; value_size])))
            .await
            .map_err(|e| anyhow::anyhow!("fill: {e}"))?;
        key = end;
    }
    // More commands than the compaction threshold: the log is pruned, the
    // joiner must take a snapshot.
    for k in 0..2100 {
        writer
            .insert(entries + k, vec![0; value_size])
            .await
            .map_err(|e| anyhow::anyhow!("pad: {e}"))?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (writer, stop) = (writer.clone(), stop.clone());
        async move {
            let mut latencies = Vec::new();
            let mut k = u64::MAX / 2;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if let Err(e) = writer.insert(k, vec![1; value_size]).await {
                    eprintln!("B6: write failed during catch-up: {e}");
                    break;
                }
                latencies.push(started.elapsed());
                k += 1;
            }
            latencies
        }
    });

    let started = Instant::now();
    let late = node(Some(first.local().addr())).await?;
    let reader = MapReader::<u64, Vec<u8>>::reader_with_config(&late, "b6", config());
    let target = writer.version();
    tokio::time::timeout(Duration::from_mins(10), reader.when().reaches(target)).await?;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = load.await?;
    latencies.sort();
    let megabytes = (entries as f64 * (value_size + 8) as f64) / 1e6;
    let rate = megabytes / elapsed.as_secs_f64();
    let p50 = percentile(&latencies, 0.5);
    let p99 = percentile(&latencies, 0.99);
    let max = latencies.last().copied().unwrap_or_default();
    println!(
        "B6 collections: late joiner of {entries} x {value_size} B map: catch-up {:.2} s, \
         {rate:.1} MB/s; writer p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms over {} writes; reader has {} entries",
        elapsed.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        latencies.len(),
        reader.len(),
    );
    println!(
        "{{\"bench\":\"B6\",\"entries\":{entries},\"value_size\":{value_size},\
         \"catch_up_s\":{:.3},\"mb_per_s\":{rate:.2},\"write_p50_ms\":{:.3},\
         \"write_p99_ms\":{:.3},\"write_max_ms\":{:.1},\"writes\":{}}}",
        elapsed.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        latencies.len(),
    );
    Ok(())
}
