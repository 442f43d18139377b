//! Log catch-up: a late joiner of a 3-member `LogReplaySync` group replays
//! `entries` × 1 KiB commands, once fetched from every member in parallel
//! (the log fetch session) and once streamed by the leader alone (log
//! repair, the session turned off), in the same run.

use {
    crate::sync::node,
    bytes::Bytes,
    core::time::Duration,
    mosaik::{
        Network, PeerId, UniqueId,
        groups::{
            ApplyContext, ConsensusConfig, GroupKey, Index, LogReplayProvider, LogReplaySession,
            LogReplaySync, LogReplaySyncMessage, StateMachine, StateSync, StateSyncProvider,
            SyncContext, SyncSessionContext, Weak,
        },
    },
    std::{
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        },
        time::Instant,
    },
};

const VALUE: usize = 1024;

/// Counts and checksums 1 KiB commands. `fetch` picks the catch-up path
/// (node-local configuration, also part of the signature).
#[derive(Debug, Clone, Default)]
struct Blobs {
    count: u64,
    sum: u64,
    fetch: bool,
    /// Fetch requests this member's provider answered (instrumentation).
    served: Arc<AtomicU64>,
}

impl StateMachine for Blobs {
    /// A copy lets the group rebuild this machine after a dynamic-mode revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    type Command = Bytes;
    type Query = ();
    type QueryResult = (u64, u64);
    type StateSync = Catchup;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik-bench-log-sync-v1").derive([u8::from(self.fetch)])
    }

    fn apply(&mut self, command: Bytes, _: &dyn ApplyContext) {
        self.count += 1;
        let key = command
            .get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
        self.sum = self.sum.wrapping_add(key);
    }

    fn query(&self, (): ()) -> (u64, u64) {
        (self.count, self.sum)
    }

    fn state_sync(&self) -> Catchup {
        Catchup {
            inner: LogReplaySync::default(),
            fetch: self.fetch,
            served: self.served.clone(),
        }
    }
}

/// `LogReplaySync`, with its log fetch session on or off.
struct Catchup {
    inner: LogReplaySync<Blobs>,
    fetch: bool,
    served: Arc<AtomicU64>,
}

/// `LogReplayProvider`, counting the fetches it answers.
struct Counting {
    inner: LogReplayProvider,
    served: Arc<AtomicU64>,
}

impl StateSyncProvider<Catchup> for Counting {
    fn receive(
        &mut self,
        msg: LogReplaySyncMessage,
        sender: PeerId,
        ctx: &mut dyn SyncContext<Catchup>,
    ) -> Result<(), LogReplaySyncMessage> {
        if matches!(msg, LogReplaySyncMessage::FetchEntriesRequest(_)) {
            self.served.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.receive(msg, sender, ctx)
    }
}

impl StateSync for Catchup {
    type Machine = Blobs;
    type Message = LogReplaySyncMessage;
    type Provider = Counting;
    type Session = LogReplaySession;

    fn signature(&self) -> UniqueId {
        self.inner.signature().derive([u8::from(self.fetch)])
    }

    fn create_provider(&self, _: &dyn SyncContext<Self>) -> Counting {
        Counting {
            inner: self.inner.provider(),
            served: self.served.clone(),
        }
    }

    fn log_fetch_threshold(&self) -> Option<u64> {
        self.fetch.then(|| self.inner.batch_size().get())
    }

    fn create_session(
        &self,
        ctx: &mut dyn SyncSessionContext<Self>,
        target: Index,
    ) -> Option<LogReplaySession> {
        Some(
            self.inner
                .session(ctx.log_position().index().next(), target),
        )
    }
}

fn command(key: u64) -> Bytes {
    let mut v = vec![0u8; VALUE];
    v[..8].copy_from_slice(&key.to_le_bytes());
    Bytes::from(v)
}

/// What one catch-up measured.
struct Measured {
    secs: f64,
    /// Fetches answered by the leader, and by everyone.
    by_leader: u64,
    fetches: u64,
    /// The leader's write latency p99 (ms) before the joiner came, and
    /// while it caught up.
    idle_p99: f64,
    busy_p99: f64,
}

/// The p99 of `latencies`, in ms.
fn p99(mut latencies: Vec<Duration>) -> f64 {
    latencies.sort();
    crate::groups::percentile(&latencies, 0.99).as_secs_f64() * 1e3
}

/// Sequential single writes to `group` until `stop` is set; their latencies.
async fn probe<M>(
    group: mosaik::groups::Group<M>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    make: impl Fn(u64) -> M::Command,
) -> Vec<Duration>
where
    M: StateMachine,
{
    let mut latencies = Vec::new();
    let mut key = u64::MAX / 2;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        key += 1;
        let at = Instant::now();
        if group.execute(make(key)).await.is_ok() {
            latencies.push(at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    latencies
}

/// One catch-up of `entries` by a fourth member while the leader takes
/// single writes.
async fn run(entries: u64, fetch: bool) -> anyhow::Result<Measured> {
    let consensus = ConsensusConfig::builder()
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()?;
    let first = node(None).await?;
    let addr = first.local().addr();
    let mut nets = vec![first];
    for _ in 1..3 {
        nets.push(node(Some(addr.clone())).await?);
    }
    let key = GroupKey::from_secret(if fetch {
        "log-sync-fetch"
    } else {
        "log-sync-leader"
    });
    let machines: Vec<Blobs> = (0..4)
        .map(|_| Blobs {
            fetch,
            ..Blobs::default()
        })
        .collect();
    let join = |n: &Network, machine: &Blobs| {
        n.groups()
            .with_key(key)
            .with_state_machine(machine.clone())
            .with_consensus_config(consensus.clone())
            .join()
    };
    let groups: Vec<_> = nets
        .iter()
        .zip(&machines)
        .map(|(n, m)| join(n, m))
        .collect();
    let leader: PeerId = groups[0].when().leader_elected().await;
    for g in &groups {
        g.when().leader_is(leader).await;
    }
    let writer = groups.iter().find(|g| g.is_leader()).expect("a leader");
    let mut last = Index(0);
    for start in (0..entries).step_by(1000) {
        let batch: Vec<Bytes> = (start..(start + 1000).min(entries)).map(command).collect();
        last = *writer.execute_many(batch).await?.end();
    }
    for g in &groups {
        g.when().committed().reaches(last).await;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let idle = tokio::spawn(probe(writer.clone(), stop.clone(), command));
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let idle_p99 = p99(idle.await?);

    let late = node(Some(addr)).await?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = tokio::spawn(probe(writer.clone(), stop.clone(), command));
    let started = Instant::now();
    let joiner = join(&late, &machines[3]);
    joiner.when().committed().reaches(last).await;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let busy_p99 = p99(busy.await?);
    let reached = joiner.committed();
    let expected = writer.query((), Weak).await?;
    joiner
        .when()
        .committed()
        .reaches(expected.state_position())
        .await;
    let got = joiner.query((), Weak).await?.result;
    anyhow::ensure!(
        got.0 >= expected.result.0 && reached >= last,
        "joiner state behind: {got:?} vs {:?}",
        expected.result
    );
    let served: Vec<u64> = machines
        .iter()
        .map(|m| m.served.load(Ordering::Relaxed))
        .collect();
    let at = groups
        .iter()
        .position(mosaik::groups::Group::is_leader)
        .unwrap_or(0);
    Ok(Measured {
        secs,
        by_leader: served[at],
        fetches: served.iter().sum(),
        idle_p99,
        busy_p99,
    })
}

/// Both catch-up paths, `runs` times each, interleaved.
pub async fn catch_up(entries: u64, runs: usize) -> anyhow::Result<()> {
    #[allow(clippy::cast_precision_loss)]
    let mb = entries as f64 * VALUE as f64 / 1e6;
    let mut fetched = Vec::new();
    let mut streamed = Vec::new();
    for _ in 0..runs.max(1) {
        fetched.push(run(entries, true).await?);
        streamed.push(run(entries, false).await?);
    }
    for (name, runs) in [
        ("fetch from all members", &fetched),
        ("leader streams", &streamed),
    ] {
        let mut times: Vec<f64> = runs.iter().map(|m| m.secs).collect();
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let detail: Vec<String> = runs
            .iter()
            .map(|m| {
                format!(
                    "{:.2}s p99 {:.1}/{:.1}ms fetches {}/{}",
                    m.secs, m.idle_p99, m.busy_p99, m.by_leader, m.fetches
                )
            })
            .collect();
        println!(
            "log-sync: {name}: {entries} entries ({mb:.1} MB) median {median:.2} s ({:.1} MB/s); \
             runs (catch-up, leader write p99 idle/during, fetches by leader/all) {detail:?}",
            mb / median
        );
    }
    Ok(())
}
