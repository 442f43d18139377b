//! A leader sends `AppendEntries` while its own flush runs (Raft thesis
//! §10.2.1), and its own copy counts for commit only once that flush is
//! done: with the leader's and one follower's disk stalled, the other
//! follower already holds the new entry, yet nothing commits it until the
//! leader's flush completes.

use {
    crate::util::{Counter, cluster, timing, until, within},
    core::{ops::RangeInclusive, time::Duration},
    mosaik::groups::{
        GroupKey, HardState, InMemoryLogStore, LogCursor, LogEntry, LogIndex, Storage,
        StorageError, StoredSnapshot,
    },
    std::sync::Arc,
    tokio::sync::watch,
};

/// An in-memory store whose `flush` waits while its gate is closed (a
/// stalled disk).
struct Gated<C> {
    inner: InMemoryLogStore<C>,
    open: Arc<watch::Sender<bool>>,
}

impl<C: Clone + Send + Sync + 'static> Storage<C> for Gated<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        self.inner.hard_state()
    }
    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError> {
        self.inner.set_hard_state(state)
    }
    fn append_entries(
        &mut self,
        first: LogIndex,
        entries: &[LogEntry<C>],
    ) -> Result<LogIndex, StorageError> {
        self.inner.append_entries(first, entries)
    }
    fn available(&self) -> RangeInclusive<LogIndex> {
        self.inner.available()
    }
    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError> {
        self.inner.get(index)
    }
    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError> {
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
        let mut open = self.open.subscribe();
        async move {
            open.wait_for(|open| *open)
                .await
                .map_err(|_| StorageError::Closed)?;
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_replicates_during_its_flush_and_commits_after_it() {
    let nets = cluster("groups-early-append", 3).await;
    let gates: Vec<_> = (0..3).map(|_| Arc::new(watch::Sender::new(true))).collect();
    let key = GroupKey::from_secret("early-append");
    let groups: Vec<_> = nets
        .iter()
        .zip(&gates)
        .map(|(net, gate)| {
            net.groups()
                .with_key(key)
                .with_state_machine(Counter::default())
                .with_log_storage(Gated {
                    inner: InMemoryLogStore::default(),
                    open: gate.clone(),
                })
                .with_consensus_config(timing())
                .join()
        })
        .collect();
    until("one agreed leader with two bonds each", || {
        let leader = groups[0].leader();
        leader.is_some()
            && groups
                .iter()
                .all(|g| g.leader() == leader && g.bonds().len() == 2)
    })
    .await;
    let l = groups
        .iter()
        .position(mosaik::Group::is_leader)
        .expect("a leader");
    let (stalled, holder) = ((l + 1) % 3, (l + 2) % 3);
    let leader = groups[l].clone();
    within("a first write", leader.execute(1))
        .await
        .expect("commits");
    let done = leader.committed();
    until("every member committed the first write", || {
        groups.iter().all(|g| g.committed() >= done)
    })
    .await;

    // The leader's and one follower's disks stall.
    gates[l].send_replace(false);
    gates[stalled].send_replace(false);
    let target = leader.log_position().index().0 + 1;
    let write = tokio::spawn({
        let leader = leader.clone();
        async move { leader.execute(2).await }
    });
    // Only possible if the leader sent the entry before its flush ended.
    until("the other follower holds the new entry", || {
        groups[holder].log_position().index().0 >= target
    })
    .await;
    // One durable copy (the holder's) is no majority: nothing may commit
    // it. A short look is enough; the leader is stuck in its flush.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !write.is_finished(),
        "acknowledged before the leader's flush"
    );
    assert!(
        groups.iter().all(|g| g.committed().0 < target),
        "committed with only one durable copy"
    );

    // The leader's flush completes: leader + holder are a majority.
    gates[l].send_replace(true);
    within("the write commits", write)
        .await
        .expect("task")
        .expect("commits");
    assert!(leader.committed().0 >= target);
    gates[stalled].send_replace(true);
    drop(groups);
    drop(nets);
}
