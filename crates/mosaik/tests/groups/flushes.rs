//! The barriers a durable group's driver awaits: writes share them, in
//! strict mode a commit record does not take one of its own, and a leader
//! sends new entries while its own barrier runs.

use {
    crate::{
        durable::{networks, open, temp_dir},
        util::{Counter, fast, members_state, timing, until_or_show, within},
    },
    core::time::Duration,
    mosaik::{
        groups::{ConsensusConfig, DurableStore, GroupKey},
        iroh::SecretKey,
    },
    std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    tokio::sync::watch,
};

/// A `DurableStore` that counts the barriers the driver awaits and the
/// entries it appends; a barrier waits while its gate is closed (a stalled
/// disk).
struct Counting {
    inner: DurableStore<i64>,
    flushes: Arc<AtomicUsize>,
    appended: Arc<AtomicUsize>,
    gate: Arc<watch::Sender<bool>>,
}

impl Counting {
    async fn open(dir: &std::path::Path) -> Self {
        Self {
            inner: open(dir).await,
            flushes: Arc::default(),
            appended: Arc::default(),
            gate: Arc::new(watch::Sender::new(true)),
        }
    }
}

mod counting {
    use {
        super::Counting,
        core::ops::RangeInclusive,
        mosaik::groups::{
            HardState, LogCursor, LogEntry, LogIndex, Storage, StorageError, StoredSnapshot,
        },
        std::sync::atomic::Ordering,
    };

    impl Storage<i64> for Counting {
        fn hard_state(&self) -> Result<HardState, StorageError> {
            self.inner.hard_state()
        }
        fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError> {
            self.inner.set_hard_state(state)
        }
        fn append_entries(
            &mut self,
            first: LogIndex,
            entries: &[LogEntry<i64>],
        ) -> Result<LogIndex, StorageError> {
            self.appended.fetch_add(entries.len(), Ordering::Relaxed);
            self.inner.append_entries(first, entries)
        }
        fn available(&self) -> RangeInclusive<LogIndex> {
            self.inner.available()
        }
        fn get(&self, index: LogIndex) -> Result<Option<LogEntry<i64>>, StorageError> {
            self.inner.get(index)
        }
        fn get_range(
            &self,
            range: &RangeInclusive<LogIndex>,
        ) -> Result<Vec<(LogIndex, LogEntry<i64>)>, StorageError> {
            self.inner.get_range(range)
        }
        fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError> {
            self.inner.truncate(at)
        }
        fn base(&self) -> LogCursor {
            self.inner.base()
        }
        fn last(&self) -> LogCursor {
            self.inner.last()
        }
        fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError> {
            self.inner.prune_prefix(up_to)
        }
        fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError> {
            self.inner.reset_to(base)
        }
        fn save_snapshot(&mut self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
            self.inner.save_snapshot(snapshot)
        }
        fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
            self.inner.snapshot()
        }
        fn flush(&mut self) -> impl Future<Output = Result<(), StorageError>> + Send {
            self.flushes.fetch_add(1, Ordering::Relaxed);
            let mut open = self.gate.subscribe();
            let flushed = self.inner.flush();
            async move {
                open.wait_for(|open| *open)
                    .await
                    .map_err(|_| StorageError::Closed)?;
                flushed.await
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_disk_flushes() {
    let net = crate::util::node("groups-durable-commit", fast()).await;
    let root = temp_dir("group-commit");
    let store = Counting::open(&root).await;
    let (flushes, appended) = (store.flushes.clone(), store.appended.clone());
    let group = net
        .groups()
        .with_key(GroupKey::from_secret("durable-commit"))
        .with_state_machine(Counter::default())
        .with_log_storage(store)
        .with_consensus_config(timing())
        .join();
    within("leads", group.when().is_leader()).await;
    let before = (
        flushes.load(Ordering::Relaxed),
        appended.load(Ordering::Relaxed),
    );
    let writes = 200;
    let results = within(
        "writes",
        futures::future::join_all((0..writes).map(|i| group.execute(i))),
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "every write commits");
    let flushed = flushes.load(Ordering::Relaxed) - before.0;
    let entries = appended.load(Ordering::Relaxed) - before.1;
    assert_eq!(entries, 200, "every write appended once");
    assert!(
        flushed * 4 <= entries,
        "{entries} entries took {flushed} flushes: writes should share them"
    );
    drop(group);
    drop(net);
    let _ = std::fs::remove_dir_all(root);
}

/// A 3-member group on counting stores, its leader settled by one write.
struct Members {
    root: std::path::PathBuf,
    nets: Vec<mosaik::Network>,
    groups: Vec<mosaik::groups::Group<Counter>>,
    flushes: Vec<Arc<AtomicUsize>>,
    gates: Vec<Arc<watch::Sender<bool>>>,
    /// The leader's position in `groups`.
    leader: usize,
}

impl Members {
    async fn start(name: &str, config: &ConsensusConfig) -> Self {
        let keys: Vec<_> = (0..3).map(|_| SecretKey::generate()).collect();
        let root = temp_dir(name);
        let nets = networks(name, &keys).await;
        let (mut groups, mut flushes, mut gates) = (vec![], vec![], vec![]);
        for (i, net) in nets.iter().enumerate() {
            let store = Counting::open(&root.join(i.to_string())).await;
            flushes.push(store.flushes.clone());
            gates.push(store.gate.clone());
            groups.push(
                net.groups()
                    .with_key(GroupKey::from_secret(name))
                    .with_state_machine(Counter::default())
                    .with_log_storage(store)
                    .with_consensus_config(config.clone())
                    .join(),
            );
        }
        // The member that knows itself leader settles it with one write. On
        // a loaded machine leadership can still move during start-up (a
        // write then fails `Offline`): the next leader settles it instead.
        let settle = async {
            loop {
                let leading = groups.iter().map(|g| Box::pin(g.when().is_leader()));
                let ((), at, _) = futures::future::select_all(leading).await;
                if groups[at].execute(0).await.is_ok() {
                    break at;
                }
            }
        };
        let leader = within("settled", settle).await;
        Self {
            root,
            nets,
            groups,
            flushes,
            gates,
            leader,
        }
    }

    fn stop(self) {
        drop(self.groups);
        drop(self.nets);
        let _ = std::fs::remove_dir_all(self.root);
    }
}

/// Sequential writes through the leader of a 3-member group on counting
/// stores: the leader's barriers during [`WRITES`] writes.
async fn leader_flushes(name: &str, strict: bool) -> usize {
    let mut config = ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(100))
        .with_election_timeout(Duration::from_millis(600))
        .with_election_timeout_jitter(Duration::from_millis(300))
        .with_bootstrap_delay(Duration::from_millis(500));
    if strict {
        config = config.with_min_quorum(2);
    }
    let members = Members::start(name, &config.build().expect("config")).await;
    let at = members.leader;
    let before = members.flushes[at].load(Ordering::Relaxed);
    for i in 1..=WRITES {
        within("write", members.groups[at].execute(i))
            .await
            .expect("commits");
    }
    let flushes = members.flushes[at].load(Ordering::Relaxed) - before;
    members.stop();
    flushes
}

/// Writes [`leader_flushes`] counts the barriers of.
const WRITES: i64 = 40;

/// In strict mode a commit record alone waits for the next sync: the
/// leader answers a write after one barrier (its append), where dynamic
/// mode also syncs the commit record first (its merge rule reads it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_leader_answers_after_one_flush_per_write() {
    let writes = usize::try_from(WRITES).expect("positive");
    let strict = leader_flushes("groups-flushes-strict", true).await;
    let dynamic = leader_flushes("groups-flushes-dynamic", false).await;
    assert!(
        strict * 4 <= writes * 5,
        "strict: {strict} flushes for {writes} writes"
    );
    assert!(
        dynamic * 4 >= writes * 7,
        "dynamic: {dynamic} flushes for {writes} writes"
    );
}

/// A leader sends new entries while its own barrier runs (Raft thesis
/// §10.2.1), so its sync and a follower's overlap; its own copy counts for
/// the commit only once that barrier returned. With the leader's and one
/// follower's disks stalled, the other follower receives and syncs the
/// entry, and the write still waits for the leader's disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_sends_while_its_own_flush_runs_and_commits_after_it() {
    let members = Members::start("groups-flushes-early", &timing()).await;
    let (groups, gates, l) = (&members.groups, &members.gates, members.leader);
    let (stalled, holder) = ((l + 1) % 3, (l + 2) % 3);
    let target = groups[l].log_position().index().0 + 1;

    gates[l].send_replace(false);
    gates[stalled].send_replace(false);
    let write = tokio::spawn({
        let leader = groups[l].clone();
        async move { leader.execute(1).await }
    });
    // Only possible if the entry left before the leader's flush returned.
    // A member publishes its log position at the end of a drain, after it
    // synced the entry and queued its answer; with the leader's copy not
    // yet durable, the holder's is the only durable one: no majority.
    // Under heavy load this wait once timed out (unexplained; an election
    // while two disks are gated would do it): the message shows who led.
    until_or_show(
        "the holder holds the entry",
        || groups[holder].log_position().index().0 >= target,
        || {
            format!(
                "leader was m{l}, holder m{holder}; {}",
                members_state(groups)
            )
        },
    )
    .await;
    assert!(!write.is_finished(), "answered before the leader's flush");
    assert!(
        groups.iter().all(|g| g.committed().0 < target),
        "committed with one durable copy"
    );

    gates[l].send_replace(true);
    within("the write commits", write)
        .await
        .expect("task")
        .expect("commits");
    assert!(groups[l].committed().0 >= target);
    gates[stalled].send_replace(true);
    members.stop();
}
