//! Helpers: loopback nodes, a counter state machine, fast consensus timing
//! and condition waits.

use {
    core::time::Duration,
    mosaik::{
        Network, UniqueId,
        discovery::ConfigBuilder,
        groups::{ApplyContext, ConsensusConfig, LogReplaySync, StateMachine},
        iroh::{RelayMode, SecretKey},
    },
};

/// Upper bound of any single wait.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Discovery settings for tests: quick re-announce, no DHT.
pub fn fast() -> ConfigBuilder {
    mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1))
        .with_rtt_probe_interval(Duration::from_secs(1))
}

/// A loopback node on `network` with discovery settings `config`.
pub async fn node(network: &str, config: ConfigBuilder) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .build()
        .await
        .expect("network starts")
}

/// A loopback node with the given secret key (so a restart keeps the peer
/// id).
pub async fn keyed(network: &str, config: ConfigBuilder, key: SecretKey) -> Network {
    Network::builder(network)
        .with_relay_mode(RelayMode::Disabled)
        .with_addresses(["127.0.0.1:0".parse().unwrap()])
        .with_discovery(config)
        .with_secret_key(key)
        .build()
        .await
        .expect("network starts")
}

/// A node on a runtime of its own, so a test can kill it the way `SIGKILL`
/// kills a process: [`Doomed::kill`] shuts the runtime down at once, every
/// task of the node (endpoint, discovery, group workers, bond tasks) stops
/// where it is, and no departure, bond close or QUIC close is ever sent.
/// Peers only notice through their liveness timeouts.
pub struct Doomed {
    runtime: tokio::runtime::Runtime,
    network: Network,
}

impl Doomed {
    /// Starts the node (its tasks run on its own runtime).
    pub async fn start(network: &str, config: ConfigBuilder, key: SecretKey) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let name = network.to_string();
        let network = runtime
            .spawn(async move { keyed(&name, config, key).await })
            .await
            .expect("node starts");
        Self { runtime, network }
    }

    /// Runs `f` on the node's runtime (e.g. `join`, whose worker must be
    /// spawned there to die with it).
    pub fn on<T>(&self, f: impl FnOnce(&Network) -> T) -> T {
        let _guard = self.runtime.enter();
        f(&self.network)
    }

    /// Kills the node. `keep` (handles made on its runtime) is leaked with
    /// it: dropping them would try to reach the dead tasks.
    pub fn kill<T>(self, keep: T) {
        self.runtime.shutdown_background();
        core::mem::forget(self.network);
        core::mem::forget(keep);
    }
}

/// A node that bootstraps from `first`.
pub async fn joiner(network: &str, first: &Network) -> Network {
    node(network, fast().with_bootstrap([first.local().addr()])).await
}

/// `n` nodes; all but the first bootstrap from the first.
pub async fn cluster(network: &str, n: usize) -> Vec<Network> {
    let first = node(network, fast()).await;
    let mut nodes = vec![];
    for _ in 1..n {
        nodes.push(joiner(network, &first).await);
    }
    nodes.insert(0, first);
    nodes
}

/// Short timing so tests run in seconds.
pub fn timing() -> ConsensusConfig {
    ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_heartbeat_jitter(Duration::from_millis(30))
        .with_max_missed_heartbeats(10)
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// Awaits `fut` under [`TIMEOUT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Like [`until`], and a timeout's message ends with `state()`: what the
/// members were doing when the wait gave up.
pub async fn until_or_show(what: &str, pred: impl FnMut() -> bool, state: impl Fn() -> String) {
    let waited = tokio::time::timeout(TIMEOUT, holds(pred)).await;
    assert!(waited.is_ok(), "timed out waiting for {what}; {}", state());
}

/// Returns once `pred` holds, checking every 20 ms.
async fn holds(mut pred: impl FnMut() -> bool) {
    while !pred() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Each member's view, for a timeout's message: leader, last log position
/// and commit index.
pub fn members_state<M: StateMachine>(groups: &[mosaik::groups::Group<M>]) -> String {
    let views: Vec<String> = (groups.iter().enumerate())
        .map(|(i, g)| {
            let leader = g.leader().map(|id| id.fmt_short().to_string());
            format!(
                "m{i}: leads {}, leader {leader:?}, log {:?}, committed {:?}",
                g.is_leader(),
                g.log_position(),
                g.committed()
            )
        })
        .collect();
    views.join("; ")
}

/// Polls `pred` until it holds (every 20 ms, under [`TIMEOUT`]).
pub async fn until(what: &str, pred: impl FnMut() -> bool) {
    within(what, holds(pred)).await;
}

/// A replicated integer: commands add to it, the query reads it.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    pub value: i64,
    pub applied: u64,
}

impl StateMachine for Counter {
    /// A copy lets the group rebuild this machine after a dynamic-mode revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = LogReplaySync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-counter-v1")
    }

    fn apply(&mut self, command: i64, _: &dyn ApplyContext) {
        self.value += command;
        self.applied += 1;
    }

    fn query(&self, (): ()) -> i64 {
        self.value
    }

    fn state_sync(&self) -> Self::StateSync {
        LogReplaySync::default()
    }
}

/// A counter that compacts its log every 100 entries and catches members
/// up by snapshot. `query(true)` answers how many commands this replica
/// applied itself (not part of the snapshot), `query(false)` the value.
#[derive(Debug, Clone, Default)]
pub struct SnapCounter {
    pub value: i64,
    pub applied_here: i64,
}

impl StateMachine for SnapCounter {
    type Command = i64;
    type Query = bool;
    type QueryResult = i64;
    type StateSync = mosaik::groups::SnapshotSync<Self>;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-snap-counter-v1")
    }

    fn apply(&mut self, command: i64, _: &dyn ApplyContext) {
        self.value += command;
        self.applied_here += 1;
    }

    fn query(&self, applied: bool) -> i64 {
        if applied {
            self.applied_here
        } else {
            self.value
        }
    }

    fn state_sync(&self) -> Self::StateSync {
        mosaik::groups::SnapshotSync::default().with_compaction_threshold(100)
    }
}

/// The counter's snapshot: zero or one value.
#[derive(Clone, Default)]
pub struct CounterSnapshot(Option<i64>);

impl mosaik::groups::Snapshot for CounterSnapshot {
    type Item = i64;

    fn len(&self) -> u64 {
        u64::from(self.0.is_some())
    }

    fn iter_range(&self, range: core::ops::Range<u64>) -> Option<impl Iterator<Item = i64> + '_> {
        // At most one item: it is included iff the range covers index 0.
        let hit = range.start == 0 && range.end >= 1;
        (range.end <= self.len()).then(|| self.0.filter(|_| hit).into_iter())
    }

    fn append(&mut self, items: impl IntoIterator<Item = i64>) {
        if let Some(value) = items.into_iter().last() {
            self.0 = Some(value);
        }
    }
}

impl mosaik::groups::SnapshotStateMachine for SnapCounter {
    type Snapshot = CounterSnapshot;

    fn create_snapshot(&self) -> CounterSnapshot {
        CounterSnapshot(Some(self.value))
    }

    fn install_snapshot(&mut self, snapshot: CounterSnapshot) {
        self.value = snapshot.0.unwrap_or_default();
    }
}
