//! State sync: a late joiner of a `SnapshotSync` group catches up a
//! snapshot of `items` × 1 KiB values fetched in chunks from 3 members.

use {
    bytes::Bytes,
    core::ops::Range,
    mosaik::{
        Network, UniqueId,
        discovery::Config,
        groups::{
            ApplyContext, ConsensusConfig, GroupKey, Snapshot, SnapshotStateMachine, SnapshotSync,
            StateMachine, Weak,
        },
    },
    std::{
        sync::Arc,
        time::{Duration, Instant},
    },
};

const VALUE: usize = 1024;

/// An append-only key/value log; each command is a key, its 1 KiB value is
/// derived from it (so setting up 100 MB of state needs no 100 MB of log).
#[derive(Debug, Clone, Default)]
struct Kv {
    entries: Arc<Vec<(u64, Bytes)>>,
}

fn value(key: u64) -> Bytes {
    let mut v = vec![0u8; VALUE];
    v[..8].copy_from_slice(&key.to_le_bytes());
    Bytes::from(v)
}

impl StateMachine for Kv {
    type Command = u64;
    type Query = ();
    type QueryResult = (usize, u64);
    type StateSync = SnapshotSync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("mosaik-bench-kv-v1")
    }

    fn apply(&mut self, key: u64, _: &dyn ApplyContext) {
        Arc::make_mut(&mut self.entries).push((key, value(key)));
    }

    fn query(&self, (): ()) -> (usize, u64) {
        let sum = self
            .entries
            .iter()
            .map(|(k, _)| *k)
            .fold(0u64, u64::wrapping_add);
        (self.entries.len(), sum)
    }

    fn state_sync(&self) -> SnapshotSync<Self> {
        SnapshotSync::default().with_compaction_threshold(10_000)
    }
}

#[derive(Debug, Clone, Default)]
struct KvSnapshot {
    shared: Arc<Vec<(u64, Bytes)>>,
    appended: Vec<(u64, Bytes)>,
}

impl Snapshot for KvSnapshot {
    type Item = (u64, Bytes);

    fn len(&self) -> u64 {
        (self.shared.len() + self.appended.len()) as u64
    }

    fn iter_range(&self, range: Range<u64>) -> Option<impl Iterator<Item = (u64, Bytes)> + '_> {
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        self.shared.get(start..end).map(|s| s.iter().cloned())
    }

    fn append(&mut self, items: impl IntoIterator<Item = (u64, Bytes)>) {
        self.appended.extend(items);
    }
}

impl SnapshotStateMachine for Kv {
    type Snapshot = KvSnapshot;

    fn create_snapshot(&self) -> KvSnapshot {
        KvSnapshot {
            shared: self.entries.clone(),
            appended: Vec::new(),
        }
    }

    fn install_snapshot(&mut self, snapshot: KvSnapshot) {
        let mut entries = (*snapshot.shared).clone();
        entries.extend(snapshot.appended);
        self.entries = Arc::new(entries);
    }
}

pub(crate) async fn node(bootstrap: Option<mosaik::iroh::EndpointAddr>) -> anyhow::Result<Network> {
    let mut config = Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1));
    if let Some(addr) = bootstrap {
        config = config.with_bootstrap([addr]);
    }
    Ok(crate::loopback_node("mosaik-bench-sync")
        .with_discovery(config)
        .build()
        .await?)
}

/// Three members build `items` entries; a fourth joins and catches up.
pub async fn catch_up(items: u64) -> anyhow::Result<()> {
    let consensus = ConsensusConfig::builder()
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()?;
    let first = node(None).await?;
    let addr = first.local().addr();
    let mut nets = vec![first];
    for _ in 1..3 {
        nets.push(node(Some(addr.clone())).await?);
    }
    let key = GroupKey::from_secret("mosaik-bench-sync");
    let join = |n: &Network| {
        n.groups()
            .with_key(key)
            .with_state_machine(Kv::default())
            .with_consensus_config(consensus.clone())
            .join()
    };
    let groups: Vec<_> = nets.iter().map(join).collect();
    let leader = groups[0].when().leader_elected().await;
    for g in &groups {
        g.when().leader_is(leader).await;
    }
    let writer = groups.iter().find(|g| g.is_leader()).expect("a leader");
    let mut last = mosaik::groups::Index(0);
    let setup = Instant::now();
    for start in (0..items).step_by(1000) {
        let keys: Vec<u64> = (start..(start + 1000).min(items)).collect();
        last = *writer.execute_many(keys).await?.end();
    }
    for g in &groups {
        g.when().committed().reaches(last).await;
    }
    let expected = writer.query((), Weak).await?.result;
    println!(
        "sync: {items} items x {VALUE} B built on 3 members in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

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
    #[allow(clippy::cast_precision_loss)]
    let mb = (items as f64) * (VALUE as f64) / 1e6;
    println!(
        "sync: late joiner caught up {mb:.1} MB in {secs:.2} s ({:.1} MB/s, join to applied)",
        mb / secs
    );
    Ok(())
}
