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
            LogReplaySync, LogReplaySyncMessage, StateMachine, StateSync, SyncContext,
            SyncSessionContext, Weak,
        },
    },
    std::time::Instant,
};

const VALUE: usize = 1024;

/// Counts and checksums 1 KiB commands. `fetch` picks the catch-up path
/// (node-local configuration, also part of the signature).
#[derive(Debug, Clone, Default)]
struct Blobs {
    count: u64,
    sum: u64,
    fetch: bool,
}

impl StateMachine for Blobs {
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
        }
    }
}

/// `LogReplaySync`, with its log fetch session on or off.
struct Catchup {
    inner: LogReplaySync<Blobs>,
    fetch: bool,
}

impl StateSync for Catchup {
    type Machine = Blobs;
    type Message = LogReplaySyncMessage;
    type Provider = LogReplayProvider;
    type Session = LogReplaySession;

    fn signature(&self) -> UniqueId {
        self.inner.signature().derive([u8::from(self.fetch)])
    }

    fn create_provider(&self, _: &dyn SyncContext<Self>) -> LogReplayProvider {
        LogReplayProvider::new(self.inner.batch_size())
    }

    fn log_fetch_threshold(&self) -> Option<u64> {
        self.fetch.then(|| self.inner.batch_size().get())
    }

    fn create_session(
        &self,
        ctx: &mut dyn SyncSessionContext<Self>,
        target: Index,
    ) -> Option<LogReplaySession> {
        let start = ctx.log_position().index().next();
        Some(LogReplaySession::new(
            self.inner.batch_size(),
            self.inner.fetch_timeout(),
            start,
            target,
        ))
    }
}

fn command(key: u64) -> Bytes {
    let mut v = vec![0u8; VALUE];
    v[..8].copy_from_slice(&key.to_le_bytes());
    Bytes::from(v)
}

/// One catch-up of `entries` by a fourth member; returns seconds.
async fn run(entries: u64, fetch: bool) -> anyhow::Result<f64> {
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
    let machine = Blobs {
        fetch,
        ..Blobs::default()
    };
    let join = |n: &Network| {
        n.groups()
            .with_key(key)
            .with_state_machine(machine.clone())
            .with_consensus_config(consensus.clone())
            .join()
    };
    let groups: Vec<_> = nets.iter().map(join).collect();
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
    let expected = writer.query((), Weak).await?.result;

    let late = node(Some(addr)).await?;
    let started = Instant::now();
    let joiner = join(&late);
    joiner.when().committed().reaches(last).await;
    let secs = started.elapsed().as_secs_f64();
    let got = joiner.query((), Weak).await?.result;
    anyhow::ensure!(
        got == expected,
        "joiner state differs: {got:?} vs {expected:?}"
    );
    Ok(secs)
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
    for (name, times) in [
        ("fetch from all members", &fetched),
        ("leader streams", &streamed),
    ] {
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        println!(
            "log-sync: {name}: {entries} entries ({mb:.1} MB) median {median:.2} s ({:.1} MB/s); runs {:?}",
            mb / median,
            times.iter().map(|t| format!("{t:.2}")).collect::<Vec<_>>()
        );
    }
    Ok(())
}
