//! `LogReplaySync`'s parallel log fetch, and the public state-sync
//! framework it is built on: a late joiner fetches the entries it misses
//! from several members at once, the leader last.

use {
    crate::util::{cluster, joiner, timing, until, within},
    core::{num::NonZero, time::Duration},
    mosaik::{
        PeerId, UniqueId,
        groups::{
            ApplyContext, GroupKey, Index, LogReplayProvider, LogReplaySession, LogReplaySync,
            LogReplaySyncMessage, StateMachine, StateSync, StateSyncProvider, SyncContext,
            SyncSessionContext, Weak,
        },
    },
    std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

const BATCH: u64 = 250;
const ENTRIES: i64 = 6000;

/// A counter whose sync strategy counts the fetches this replica served
/// (test instrumentation, not replicated state).
#[derive(Debug, Clone, Default)]
pub struct Counted {
    value: i64,
    served: Arc<AtomicU64>,
}

impl StateMachine for Counted {
    /// A copy lets the group rebuild this machine after a dynamic-mode revert.
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    type Command = i64;
    type Query = ();
    type QueryResult = i64;
    type StateSync = CountingSync;

    fn signature(&self) -> UniqueId {
        UniqueId::from("test-counted-v1")
    }

    fn apply(&mut self, command: i64, _: &dyn ApplyContext) {
        self.value += command;
    }

    fn query(&self, (): ()) -> i64 {
        self.value
    }

    fn state_sync(&self) -> CountingSync {
        CountingSync {
            inner: LogReplaySync::default()
                .with_batch_size(NonZero::new(BATCH).unwrap())
                .with_fetch_timeout(Duration::from_secs(5)),
            served: self.served.clone(),
        }
    }
}

/// `LogReplaySync`, composed from its public provider and session, with a
/// provider that counts the fetch requests it answers.
pub struct CountingSync {
    inner: LogReplaySync<Counted>,
    served: Arc<AtomicU64>,
}

impl StateSync for CountingSync {
    type Machine = Counted;
    type Message = LogReplaySyncMessage;
    type Provider = CountingProvider;
    type Session = LogReplaySession;

    fn signature(&self) -> UniqueId {
        self.inner.signature().derive("counting")
    }

    fn create_provider(&self, _: &dyn SyncContext<Self>) -> CountingProvider {
        CountingProvider {
            inner: self.inner.provider(),
            served: self.served.clone(),
        }
    }

    fn log_fetch_threshold(&self) -> Option<u64> {
        Some(BATCH)
    }

    fn create_session(
        &self,
        ctx: &mut dyn SyncSessionContext<Self>,
        target: Index,
    ) -> Option<LogReplaySession> {
        let start = ctx.log_position().index().next();
        Some(self.inner.session(start, target))
    }
}

pub struct CountingProvider {
    inner: LogReplayProvider,
    served: Arc<AtomicU64>,
}

impl StateSyncProvider<CountingSync> for CountingProvider {
    fn receive(
        &mut self,
        msg: LogReplaySyncMessage,
        sender: PeerId,
        ctx: &mut dyn SyncContext<CountingSync>,
    ) -> Result<(), LogReplaySyncMessage> {
        if matches!(msg, LogReplaySyncMessage::FetchEntriesRequest(_)) {
            self.served.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.receive(msg, sender, ctx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiner_fetches_the_log_from_several_members() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let nodes = cluster("groups-fetch", 3).await;
    let key = GroupKey::from_secret("fetch");
    let machines: Vec<Counted> = (0..3).map(|_| Counted::default()).collect();
    let groups: Vec<_> = nodes
        .iter()
        .zip(&machines)
        .map(|(n, m)| {
            n.groups()
                .with_key(key)
                .with_state_machine(m.clone())
                .with_consensus_config(timing())
                .join()
        })
        .collect();
    let leader = within("a leader", groups[0].when().leader_elected()).await;
    for g in &groups {
        within("agree", g.when().leader_is(leader)).await;
    }
    until("mesh", || groups.iter().all(|g| g.bonds().len() == 2)).await;
    let mut last = Index(0);
    for chunk in 0..ENTRIES / 1000 {
        let batch = (0..1000).map(|i| chunk * 1000 + i);
        last = *within("batch", groups[0].execute_many(batch))
            .await
            .expect("commits")
            .end();
    }
    for g in &groups {
        within("members applied", g.when().committed().reaches(last)).await;
    }

    let late = joiner("groups-fetch", &nodes[0]).await;
    let fetcher = Counted::default();
    let joined = late
        .groups()
        .with_key(key)
        .with_state_machine(fetcher.clone())
        .with_consensus_config(timing())
        .join();
    within("catch up", joined.when().committed().reaches(last)).await;
    let expected: i64 = (0..ENTRIES).sum();
    assert_eq!(*joined.query((), Weak).await.unwrap(), expected);

    let served: Vec<(PeerId, u64)> = nodes
        .iter()
        .zip(&machines)
        .map(|(n, m)| (n.local().id(), m.served.load(Ordering::Relaxed)))
        .collect();
    let serving = served.iter().filter(|(_, s)| *s > 0).count();
    let total: u64 = served.iter().map(|(_, s)| s).sum();
    let by_leader = served.iter().find(|(p, _)| *p == leader).map_or(0, |s| s.1);
    // 6000 entries in 250-entry ranges: the followers took them in
    // parallel; the leader serves only what they did not hold.
    assert!(serving >= 2, "fetched from {serving} member(s): {served:?}");
    assert!(
        total >= (ENTRIES as u64 / BATCH) / 2,
        "only {total} fetches: {served:?}"
    );
    assert!(
        by_leader * 4 <= total,
        "the leader served {by_leader} of {total} fetches"
    );
}
