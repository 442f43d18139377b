//! Handles: joining twice, dropping handles, future bounds.

use {
    crate::util::{Counter, cluster, fast, node, timing, until, within},
    mosaik::groups::{GroupKey, Weak},
};

fn assert_send_sync_static<T: Send + Sync + 'static>(_: &T) {}

#[tokio::test]
async fn joining_twice_returns_the_same_group_and_one_drop_keeps_it_alive() {
    let net = node("groups-twice", fast()).await;
    let key = GroupKey::from_secret("twice");
    let first = net
        .groups()
        .with_key(key)
        .with_state_machine(Counter::default())
        .with_consensus_config(timing())
        .join();
    let second = net
        .groups()
        .with_key(key)
        .with_state_machine(Counter::default())
        .with_consensus_config(timing())
        .join();
    assert_eq!(first.id(), second.id());
    within("leads", first.when().is_leader()).await;
    assert!(second.is_leader(), "both handles see one worker");

    let fut = second.execute(4);
    assert_send_sync_static(&fut);
    let when = second.when();
    assert_send_sync_static(&when.leader_elected());
    assert_send_sync_static(&when.leader_changed());
    assert_send_sync_static(&when.offline());
    assert_send_sync_static(&when.committed().reverted());
    assert_send_sync_static(&when.log().advanced());
    assert_send_sync_static(&second.query((), mosaik::Strong));
    assert_send_sync_static(&second.feed_many([1, 2]));
    assert_send_sync_static(&second.bonds().changed());
    let index = within("execute via second", fut).await.expect("commits");
    assert!(first.committed() >= index);
    assert_eq!(*first.query((), Weak).await.unwrap(), 4);

    drop(second);
    within("first still works", first.execute(1))
        .await
        .expect("commits after the other handle dropped");
    assert_eq!(*first.query((), Weak).await.unwrap(), 5);
}

#[tokio::test]
async fn dropping_the_last_handle_leaves_the_group() {
    let nodes = cluster("groups-leave", 2).await;
    let key = GroupKey::from_secret("leave");
    let a = nodes[0]
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    let b = nodes[1]
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    until("bonded", || a.bonds().len() == 1 && b.bonds().len() == 1).await;
    let gid = *b.id();
    drop(b);
    until("peer saw the departure", || a.bonds().is_empty()).await;
    let id = nodes[1].local().id();
    until("un-advertised", || {
        nodes[0]
            .discovery()
            .catalog()
            .get_signed(&id)
            .is_some_and(|e| !e.groups().contains(&gid))
    })
    .await;
    // Joining again after the drop starts a fresh group that bonds again.
    let b = nodes[1]
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    until("re-bonded", || a.bonds().len() == 1 && b.bonds().len() == 1).await;
}

#[test]
fn in_memory_store_passes_the_public_conformance_suite() {
    mosaik::groups::storage::conformance::run(mosaik::groups::InMemoryLogStore::<u64>::default);
}

/// In-memory storage whose disk "fails" after `budget` appends, or that
/// (with `lie`) reports a wrong index for every append.
struct FailingStore {
    inner: mosaik::groups::InMemoryLogStore<i64>,
    budget: usize,
    lie: bool,
}

mod failing {
    use {
        super::FailingStore,
        core::ops::RangeInclusive,
        mosaik::groups::{
            HardState, LogCursor, LogEntry, LogIndex, Storage, StorageError, StoredSnapshot,
        },
    };

    impl Storage<i64> for FailingStore {
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
            if self.budget < entries.len() {
                return Err(StorageError::new("disk full"));
            }
            self.budget -= entries.len();
            let last = self.inner.append_entries(first, entries)?;
            Ok(if self.lie { last + 7 } else { last })
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
            self.inner.flush()
        }
    }
}

#[tokio::test]
async fn a_storage_failure_stops_the_group_cleanly() {
    let net = node("groups-disk", fast()).await;
    let store = FailingStore {
        inner: mosaik::groups::InMemoryLogStore::default(),
        budget: 4,
        lie: false,
    };
    let group = net
        .groups()
        .with_key(GroupKey::from_secret("disk"))
        .with_state_machine(Counter::default())
        .with_log_storage(store)
        .with_consensus_config(timing())
        .join();
    within("leads", group.when().is_leader()).await;
    // The leader's noop and a few commands fit; then the disk fails.
    let mut outcome = Ok(mosaik::groups::Index(0));
    for _ in 0..8 {
        outcome = within("execute", group.execute(1)).await;
        if outcome.is_err() {
            break;
        }
    }
    assert!(
        matches!(outcome, Err(mosaik::groups::CommandError::GroupTerminated)),
        "expected GroupTerminated, got {outcome:?}"
    );
    let query = group.query((), Weak).await;
    assert!(matches!(
        query,
        Err(mosaik::groups::QueryError::GroupTerminated)
    ));
}

#[tokio::test]
async fn a_store_reporting_a_wrong_append_index_stops_the_group() {
    let net = node("groups-lying-disk", fast()).await;
    let store = FailingStore {
        inner: mosaik::groups::InMemoryLogStore::default(),
        budget: usize::MAX,
        lie: true,
    };
    let group = net
        .groups()
        .with_key(GroupKey::from_secret("lying-disk"))
        .with_state_machine(Counter::default())
        .with_log_storage(store)
        .with_consensus_config(timing())
        .join();
    // The leader's first append (its noop) is checked and refused: the
    // group stops instead of going on with a log it cannot trust.
    within("stopped", async {
        loop {
            if let Err(mosaik::groups::CommandError::GroupTerminated) = group.execute(1).await {
                return;
            }
            tokio::time::sleep(core::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn closing_a_bond_drops_it_on_both_sides() {
    let nodes = cluster("groups-close", 2).await;
    let key = GroupKey::from_secret("close");
    let a = nodes[0]
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    let b = nodes[1]
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    until("bonded", || a.bonds().len() == 1 && b.bonds().len() == 1).await;
    let bond = a.bonds().get(&nodes[1].local().id()).expect("bond with b");
    let id = bond.id();
    assert_eq!(
        b.bonds().get(&nodes[0].local().id()).unwrap().id(),
        id,
        "same bond id on both sides"
    );
    within("close", bond.close(mosaik::network::GracefulShutdown)).await;
    assert!(bond.is_terminated());
    // The group re-forms a fresh bond afterwards (close is not a ban).
    until("new bond", || {
        a.bonds()
            .get(&nodes[1].local().id())
            .is_some_and(|n| n.id() != id)
    })
    .await;
}

#[tokio::test]
async fn rejoining_right_after_the_last_drop_stays_advertised() {
    let net = node("groups-rejoin", fast()).await;
    let key = GroupKey::from_secret("rejoin");
    let first = net
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    let id = *first.id();
    within("leads", first.when().is_leader()).await;
    assert!(net.discovery().me().groups().contains(&id));
    drop(first);
    assert!(
        !net.discovery().me().groups().contains(&id),
        "un-advertised on the last drop"
    );
    let again = net
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    within("leads again", again.when().is_leader()).await;
    assert!(
        net.discovery().me().groups().contains(&id),
        "the old worker un-advertised the new group"
    );
}
