//! B6 against etcd, the peer the benchmark plan names for it: a new member
//! catches up a 3-member etcd cluster holding `entries` keys of
//! `value_size` bytes while a client keeps writing through the leader, as
//! `collections.rs` does with a late member of a replicated `Map`.
//!
//! The new member is an etcd learner (`member add --learner`), its way of
//! adding a member without touching the quorum, like our late member,
//! which catches up before it votes. The members take a snapshot every
//! 1,000 entries (`--snapshot-count 1000`, our bench's compaction
//! interval) and pad writes push the leader's retained log (5,000 entries
//! past its snapshot, fixed in etcd) beyond the fill, so the learner gets
//! the data as a snapshot, as ours does, not as a replay of the log. The
//! pad writes carry 1-byte values and are not counted in the megabytes:
//! the figure favours etcd slightly. Data on tmpfs, as in B1.
//!
//! Caught up means the learner's store revision reached the leader's at
//! the moment the learner was added, read from the learner's metrics
//! listener (its client port opens only later, see
//! [`Cluster::start_learner`]); the run fails unless the leader's metrics
//! count a snapshot sent.

use {
    crate::{
        collections::{CatchUp, summary},
        etcd::{Cluster, Http},
    },
    std::{
        net::SocketAddr,
        path::Path,
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::{Duration, Instant},
    },
};

/// Keys written in one fill transaction (etcd's `--max-txn-ops` default).
const FILL_BATCH: u64 = 128;

/// Single writes after the fill: more than the 5,000 entries etcd keeps
/// behind a snapshot plus one snapshot interval, so the fill's entries are
/// out of the log by the time the learner asks.
const PAD_WRITES: u64 = 7_000;

/// Clients the pad writes are spread over (only to finish them sooner).
const PAD_CLIENTS: u64 = 8;

fn key(k: u64) -> Vec<u8> {
    k.to_be_bytes().to_vec()
}

/// Puts 1 KiB values to `leader` until `stop`, returning each put's latency.
fn write_loop(
    leader: SocketAddr,
    stop: Arc<AtomicBool>,
    first_key: u64,
    value_size: usize,
) -> tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>> {
    tokio::spawn(async move {
        let mut http = Http::connect(leader).await?;
        let value = vec![1u8; value_size];
        let mut latencies = Vec::new();
        let mut k = first_key;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            http.put(&key(k), &value).await?;
            latencies.push(started.elapsed());
            k += 1;
        }
        Ok(latencies)
    })
}

/// Fills the cluster, measures the leader's idle write latency for two
/// seconds, then adds a learner while the same write loop runs, and
/// times until the learner's store revision reaches the leader's at the
/// moment it was added.
pub async fn catch_up(entries: u64, value_size: usize) -> anyhow::Result<()> {
    let mut cluster =
        Cluster::start_with("b6", Path::new("/dev/shm"), &["--snapshot-count", "1000"]).await?;
    let leader = cluster.clients[cluster.leader().await?];
    let mut http = Http::connect(leader).await?;
    let mut k = 0;
    while k < entries {
        let end = (k + FILL_BATCH).min(entries);
        let pairs: Vec<_> = (k..end)
            .map(|k| (key(k), vec![(k % 251) as u8; value_size]))
            .collect();
        http.put_all(&pairs).await?;
        k = end;
    }
    let pads: Vec<_> = (0..PAD_CLIENTS)
        .map(|c| {
            tokio::spawn(async move {
                let mut http = Http::connect(leader).await?;
                for i in 0..PAD_WRITES / PAD_CLIENTS {
                    http.put(&key(entries + c * PAD_WRITES + i), &[0]).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for pad in pads {
        pad.await??;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let idle = write_loop(leader, stop.clone(), u64::MAX / 4, value_size);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let idle = summary(idle.await??);

    let stop = Arc::new(AtomicBool::new(false));
    let load = write_loop(leader, stop.clone(), u64::MAX / 2, value_size);
    // Not timed: etcd may refuse a member until its cluster is 5 s old.
    let learner = cluster.add_learner(leader).await?;
    let started = Instant::now();
    let target = http.revision().await?;
    let learner_metrics = cluster.start_learner(&learner)?;
    let deadline = started + Duration::from_mins(10);
    loop {
        // Refused until the process listens; its store starts empty.
        let reached = match Http::connect(learner_metrics).await {
            Ok(mut http) => http
                .metric("etcd_debugging_mvcc_current_revision")
                .await
                .is_ok_and(|r| r >= target as f64),
            Err(_) => false,
        };
        if reached {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the etcd learner did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let busy = summary(load.await??);
    // The learner must have been sent a snapshot, not the log.
    let snapshots = http.metric("etcd_network_snapshot_send_success").await?;
    anyhow::ensure!(
        snapshots >= 1.0,
        "the etcd leader sent no snapshot: the learner replayed the log"
    );
    CatchUp {
        entries,
        value_size,
        elapsed,
        idle,
        busy,
    }
    .report(
        &format!(
            "B6 etcd: learner of a 3-member etcd (tmpfs, HTTP gateway) holding {entries} x {value_size} B"
        ),
        &format!("{snapshots} snapshot(s) sent"),
        "\"system\":\"etcd\",\"members\":3",
    );
    Ok(())
}
