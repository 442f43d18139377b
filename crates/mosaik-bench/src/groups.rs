//! B1 (3-member group commit path) and B2 (leader failover).

use {
    mosaik::{
        Network, UniqueId,
        discovery::Config,
        groups::{
            ApplyContext, ConsensusConfig, DurableStore, Group, GroupKey, LogReplaySync,
            StateMachine,
        },
    },
    std::{
        path::PathBuf,
        time::{Duration, Instant},
    },
};

/// Counts applied bytes; commands are opaque payloads (256 B key + 1 KiB
/// value, as in BENCHMARKS.md).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sink {
    bytes: u64,
}

impl StateMachine for Sink {
    /// A copy lets the group rebuild this machine after a dynamic-mode revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    type Command = Vec<u8>;
    type Query = ();
    type QueryResult = u64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik-bench-sink-v1")
    }

    fn apply(&mut self, command: Vec<u8>, _: &dyn ApplyContext) {
        self.bytes += command.len() as u64;
    }

    fn query(&self, (): ()) -> u64 {
        self.bytes
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

pub(crate) const PAYLOAD: usize = 256 + 1024;

pub(crate) async fn node(
    network: &str,
    bootstrap: Option<mosaik::iroh::EndpointAddr>,
) -> anyhow::Result<Network> {
    let mut config = Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1));
    if let Some(addr) = bootstrap {
        config = config.with_bootstrap([addr]);
    }
    Ok(crate::loopback_node(network)
        .with_discovery(config)
        .build()
        .await?)
}

/// Where the members of a benchmark group keep their logs.
#[derive(Debug, Clone)]
pub(crate) enum Logs {
    /// The default in-memory store.
    Memory,
    /// A `DurableStore` per member in `<dir>/m<i>`.
    Durable(PathBuf),
}

/// Three members with one agreed leader and a full mesh of bonds.
pub(crate) async fn trio(
    name: &str,
    consensus: &ConsensusConfig,
    logs: &Logs,
) -> anyhow::Result<(Vec<Network>, Vec<Group<Sink>>)> {
    let first = node(name, None).await?;
    let addr = first.local().addr();
    let mut nets = vec![first];
    for _ in 1..3 {
        nets.push(node(name, Some(addr.clone())).await?);
    }
    let key = GroupKey::from_secret(name);
    let mut groups = Vec::new();
    for (i, n) in nets.iter().enumerate() {
        let builder = n
            .groups()
            .with_key(key)
            .with_state_machine(Sink::default())
            .with_consensus_config(consensus.clone());
        groups.push(match logs {
            Logs::Memory => builder.join(),
            Logs::Durable(dir) => builder
                .with_log_storage(DurableStore::open(dir.join(format!("m{i}")))?)
                .join(),
        });
    }
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let leader = groups[0].leader();
        let agreed = leader.is_some()
            && groups
                .iter()
                .all(|g| g.leader() == leader && g.bonds().len() == 2);
        if agreed {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "no agreed leader within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((nets, groups))
}

/// The `p` quantile (0..=1) of sorted samples; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // `rank` is within 0..len by construction.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

/// B1: `clients` concurrent clients on the leader, `per_client` sequential
/// `execute`s each. Returns the figures per client count.
pub async fn commits(
    clients: &[usize],
    total: usize,
    consensus: ConsensusConfig,
    logs: &Logs,
) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    let what = match logs {
        Logs::Memory => "3-member group, in-memory log",
        Logs::Durable(_) => "3-member group, durable log",
    };
    let (nets, groups) = trio("bench-b1", &consensus, logs).await?;
    let leader = groups
        .iter()
        .find(|g| g.is_leader())
        .expect("a leader")
        .clone();
    for &n in clients {
        let per_client = (total / n).max(1);
        let sample = closed_loop(n, |_| {
            let group = leader.clone();
            async move {
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    group
                        .execute(vec![7u8; PAYLOAD])
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    latencies.push(t.elapsed());
                }
                Ok(latencies)
            }
        })
        .await?;
        sample.report("B1", what, n);
        samples.push(sample);
    }
    // Members shut down before the caller removes their directories.
    drop((leader, groups));
    for net in nets {
        net.shutdown().await;
    }
    Ok(samples)
}

/// Latency figures of one closed-loop load.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) count: usize,
    pub(crate) rate: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

impl Sample {
    /// Prints the summary line and the JSON record.
    pub(crate) fn report(&self, scenario: &str, what: &str, clients: usize) {
        let Self {
            count,
            rate,
            p50,
            p99,
        } = self;
        println!(
            "{scenario}: {what}, {clients} clients: {rate:.0} commits/s, p50 {p50:?}, p99 {p99:?} ({count} commits)"
        );
        println!(
            "{{\"scenario\":\"{scenario}\",\"clients\":{clients},\"commits\":{count},\"commits_per_s\":{rate:.1},\"p50_us\":{},\"p99_us\":{}}}",
            p50.as_micros(),
            p99.as_micros()
        );
    }
}

/// Runs `n` clients at once (`client(i)` does its whole sequence and returns
/// its latencies) and sums them up.
pub(crate) async fn closed_loop<F, Fut>(n: usize, client: F) -> anyhow::Result<Sample>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<Duration>>> + Send + 'static,
{
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        tasks.spawn(client(i));
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(!all.is_empty(), "no operation completed");
    all.sort();
    #[allow(clippy::cast_precision_loss)]
    let rate = all.len() as f64 / elapsed.as_secs_f64();
    Ok(Sample {
        count: all.len(),
        rate,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    })
}

/// B2: drop the leader's network while a survivor's client commits
/// continuously; time from the drop to the first commit acknowledged after
/// it. Returns the p50.
pub async fn failover(
    runs: usize,
    label: &str,
    consensus: ConsensusConfig,
) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for run in 0..runs {
        let name = format!("bench-b2-{label}-{run}");
        let (mut nets, groups) = trio(&name, &consensus, &Logs::Memory).await?;
        let leader = groups[0].leader().expect("agreed leader");
        let dead = nets
            .iter()
            .position(|n| n.local().id() == leader)
            .expect("leader is a member");
        let survivor = groups
            .iter()
            .enumerate()
            .find(|(i, _)| *i != dead)
            .map(|(_, g)| g.clone())
            .expect("two survivors");
        survivor
            .execute(vec![1; PAYLOAD])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let killed = Instant::now();
        drop(nets.remove(dead));
        let deadline = killed + Duration::from_mins(1);
        loop {
            let attempt =
                tokio::time::timeout(Duration::from_secs(1), survivor.execute(vec![2; PAYLOAD]))
                    .await;
            if matches!(attempt, Ok(Ok(_))) && survivor.leader().is_some_and(|l| l != leader) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no commit within 60 s of the failover"
            );
            if attempt.is_ok() {
                // Offline/superseded answers come back at once; do not spin.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        times.push(killed.elapsed());
        drop(groups);
        for net in nets {
            net.shutdown().await;
        }
    }
    times.sort();
    let p50 = times[times.len() / 2];
    println!(
        "B2: leader failover ({label}): drop to next commit p50 {p50:?} over {runs} runs {times:?}"
    );
    println!(
        "{{\"scenario\":\"B2\",\"timing\":\"{label}\",\"runs\":{runs},\"failover_p50_ms\":{}}}",
        p50.as_millis()
    );
    Ok(p50)
}

/// Heartbeat 100 ms, election 1 s (the matched timing of BENCHMARKS.md).
pub fn matched_timing() -> ConsensusConfig {
    ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_election_timeout(Duration::from_secs(1))
        .with_election_timeout_jitter(Duration::from_millis(250))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()
        .expect("infallible")
}
