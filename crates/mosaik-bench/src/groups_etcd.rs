//! B1/B2 against etcd, same payloads and client counts, same run (see
//! `etcd.rs` for how the cluster is run and driven).

use {
    crate::{
        etcd::{Cluster, Http},
        groups::{PAYLOAD, Sample, closed_loop},
    },
    std::{
        path::Path,
        time::{Duration, Instant},
    },
};

/// B1 on etcd: `clients` concurrent clients on the leader's endpoint, each
/// putting 256 B keys with 1 KiB values sequentially; data on tmpfs, or
/// under `disk` when given. Returns the figures per client count.
pub async fn commits(
    clients: &[usize],
    total: usize,
    disk: Option<&Path>,
) -> anyhow::Result<Vec<Sample>> {
    let (cluster, what) = match disk {
        None => (
            Cluster::start("b1").await?,
            "3-member etcd (tmpfs data, HTTP gateway)",
        ),
        Some(base) => (
            Cluster::start_in("b1", base).await?,
            "3-member etcd (data on disk, HTTP gateway)",
        ),
    };
    let leader = cluster.clients[cluster.leader().await?];
    let value = vec![7u8; PAYLOAD - 256];
    let mut samples = Vec::new();
    for &n in clients {
        let per_client = (total / n).max(1);
        let sample = closed_loop(n, |c| {
            let value = value.clone();
            async move {
                let mut http = Http::connect(leader).await?;
                let mut latencies = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let key = format!("{:0>256}", c * per_client + i);
                    let t = Instant::now();
                    http.put(key.as_bytes(), &value).await?;
                    latencies.push(t.elapsed());
                }
                Ok(latencies)
            }
        })
        .await?;
        sample.report("B1-etcd", what, n);
        samples.push(sample);
    }
    Ok(samples)
}

/// B2 on etcd (its default timing: heartbeat 100 ms, election 1 s): SIGKILL
/// the leader while a client on a survivor puts continuously; time from
/// the kill to the first put acknowledged after it. Returns the p50.
pub async fn failover(runs: usize) -> anyhow::Result<Duration> {
    let value = vec![1u8; PAYLOAD - 256];
    let mut times = Vec::new();
    for run in 0..runs {
        let mut cluster = Cluster::start(&format!("b2-{run}")).await?;
        let dead = cluster.leader().await?;
        let survivor = cluster.clients[(dead + 1) % 3];
        let mut http = Http::connect(survivor).await?;
        http.put(b"warm", &value).await?;
        let killed = Instant::now();
        cluster.kill(dead);
        let deadline = killed + Duration::from_mins(1);
        let mut i = 0u64;
        loop {
            i += 1;
            let key = format!("{i:0>256}");
            // A short bound: a put stuck on the dead leader is retried
            // quickly, so the figure is etcd's, not our timeout's.
            let attempt =
                tokio::time::timeout(Duration::from_millis(100), http.put(key.as_bytes(), &value))
                    .await;
            match attempt {
                Ok(Ok(())) => break,
                // A timed-out or failed request leaves the connection in an
                // unknown state: start a fresh one.
                _ => http = Http::connect(survivor).await?,
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "etcd: no commit within 60 s of the kill"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        times.push(killed.elapsed());
    }
    times.sort();
    let p50 = times[times.len() / 2];
    println!("B2 etcd: leader SIGKILL to next commit p50 {p50:?} over {runs} runs {times:?}");
    println!(
        "{{\"scenario\":\"B2-etcd\",\"runs\":{runs},\"failover_p50_ms\":{}}}",
        p50.as_millis()
    );
    Ok(p50)
}
