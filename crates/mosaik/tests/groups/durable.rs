//! Durable groups: every member on a `DurableStore`, the whole group
//! stopped and restarted on the same directories with the same keys, and
//! every committed value is back.

use {
    crate::util::{Counter, SnapCounter, fast, keyed, timing, within},
    core::time::Duration,
    mosaik::{
        Network,
        groups::{
            Ballot, CommandError, DurableStore, Group, GroupKey, InMemoryLogStore, LogCursor,
            LogEntry, LogIndex, StateMachine, Storage, StorageError, StoredSnapshot, Weak,
        },
        iroh::SecretKey,
    },
    std::path::{Path, PathBuf},
};

/// A fresh directory under the workspace's `target` (not `/tmp`).
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-storage")
        .join(format!(
            "{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Opens the store, waiting while a stopped group's worker still winds
/// down and holds the directory's lock.
pub(crate) async fn open<C: mosaik::Datum + Clone>(dir: &Path) -> DurableStore<C> {
    within("the store's lock", async {
        loop {
            match DurableStore::open(dir) {
                Ok(store) => return store,
                Err(StorageError::Io { detail, .. }) if detail.contains("locked") => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => panic!("cannot open {}: {err}", dir.display()),
            }
        }
    })
    .await
}

/// Starts three networks with `keys` (the first bootstraps the others).
pub(crate) async fn networks(name: &str, keys: &[SecretKey]) -> Vec<Network> {
    let first = keyed(name, fast(), keys[0].clone()).await;
    let mut nodes = vec![];
    for key in &keys[1..] {
        let config = fast().with_bootstrap([first.local().addr()]);
        nodes.push(keyed(name, config, key.clone()).await);
    }
    nodes.insert(0, first);
    nodes
}

/// Joins `machine`'s group on every network, each on its own directory.
async fn join<M>(nets: &[Network], dirs: &[PathBuf], key: GroupKey, machine: &M) -> Vec<Group<M>>
where
    M: StateMachine + Clone,
    M::Command: Clone,
{
    let mut groups = vec![];
    for (net, dir) in nets.iter().zip(dirs) {
        let store = open(dir).await;
        groups.push(
            net.groups()
                .with_key(key)
                .with_state_machine(machine.clone())
                .with_log_storage(store)
                .with_consensus_config(timing())
                .join(),
        );
    }
    groups
}

/// Waits until every group answers `expected` to a weak `query`.
async fn converge<M: StateMachine>(groups: &[Group<M>], query: &M::Query, expected: &M::QueryResult)
where
    M::Query: Clone,
    M::QueryResult: PartialEq + core::fmt::Debug,
{
    for group in groups {
        within("the restored state", async {
            loop {
                if let Ok(got) = group.query(query.clone(), Weak).await
                    && got.result == *expected
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_group_restarts_with_every_committed_value() {
    let name = "groups-durable-restart";
    let key = GroupKey::from_secret("durable-restart");
    let keys: Vec<_> = (0..3).map(|_| SecretKey::generate()).collect();
    let root = temp_dir("restart");
    let dirs: Vec<_> = (0..3).map(|i| root.join(i.to_string())).collect();
    let nets = networks(name, &keys).await;
    let groups = join(&nets, &dirs, key, &Counter::default()).await;
    for g in &groups {
        within("leader", g.when().leader_elected()).await;
    }
    let mut sum = 0;
    let mut last = mosaik::groups::Index(0);
    for (i, group) in (1..=20_i64).zip(groups.iter().cycle()) {
        last = within("execute", group.execute(i)).await.expect("commits");
        sum += i;
    }
    for g in &groups {
        within("applied", g.when().committed().reaches(last)).await;
    }
    converge(&groups, &(), &sum).await;
    drop(groups);
    drop(nets);

    let nets = networks(name, &keys).await;
    let groups = join(&nets, &dirs, key, &Counter::default()).await;
    converge(&groups, &(), &sum).await;
    within("leader", groups[0].when().leader_elected()).await;
    // The log is back, too: the group goes on from where it stopped.
    let next = within("execute after the restart", groups[0].execute(1000))
        .await
        .expect("commits");
    assert!(next > last, "new entries follow the restored log");
    converge(&groups, &(), &(sum + 1000)).await;
    drop(groups);
    drop(nets);
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_on_its_directory_catches_up_from_its_log() {
    let name = "groups-durable-member";
    let key = GroupKey::from_secret("durable-member");
    let keys: Vec<_> = (0..3).map(|_| SecretKey::generate()).collect();
    let root = temp_dir("member");
    let dirs: Vec<_> = (0..3).map(|i| root.join(i.to_string())).collect();
    let mut nets = networks(name, &keys).await;
    let mut groups = join(&nets, &dirs, key, &Counter::default()).await;
    for g in &groups {
        within("leader", g.when().leader_elected()).await;
    }
    let mut sum = 0;
    for i in 1..=10_i64 {
        within("execute", groups[0].execute(i))
            .await
            .expect("commits");
        sum += i;
    }
    converge(&groups, &(), &sum).await;
    // Member 2 stops; the others go on without it (under a leader of
    // theirs: it may have led).
    let gone = nets[2].local().id();
    drop(groups.remove(2));
    drop(nets.remove(2));
    crate::util::until("a leader among the others", || {
        let leader = groups[0].leader();
        leader.is_some_and(|l| l != gone) && groups[1].leader() == leader
    })
    .await;
    for i in 11..=20_i64 {
        within("execute", groups[0].execute(i))
            .await
            .expect("commits");
        sum += i;
    }
    let config = fast().with_bootstrap([nets[0].local().addr()]);
    nets.push(keyed(name, config, keys[2].clone()).await);
    let store = open(&dirs[2]).await;
    groups.push(
        nets[2]
            .groups()
            .with_key(key)
            .with_state_machine(Counter::default())
            .with_log_storage(store)
            .with_consensus_config(timing())
            .join(),
    );
    converge(&groups, &(), &sum).await;
    drop(groups);
    drop(nets);
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_log_restarts_from_its_snapshot() {
    let name = "groups-durable-snapshot";
    let key = GroupKey::from_secret("durable-snapshot");
    let keys: Vec<_> = (0..3).map(|_| SecretKey::generate()).collect();
    let root = temp_dir("snapshot");
    let dirs: Vec<_> = (0..3).map(|i| root.join(i.to_string())).collect();
    let nets = networks(name, &keys).await;
    let groups = join(&nets, &dirs, key, &SnapCounter::default()).await;
    within("leader", groups[0].when().leader_elected()).await;
    // 350 commands with compaction every 100: the log is pruned (to the
    // second newest anchor) on every member.
    let commands = 350_i64;
    let mut last = mosaik::groups::Index(0);
    for chunk in (1..=commands).collect::<Vec<_>>().chunks(50) {
        last = *within("execute", groups[0].execute_many(chunk.to_vec()))
            .await
            .expect("commits")
            .end();
    }
    let sum: i64 = (1..=commands).sum();
    for g in &groups {
        within("applied", g.when().committed().reaches(last)).await;
    }
    converge(&groups, &false, &sum).await;
    drop(groups);
    drop(nets);

    let nets = networks(name, &keys).await;
    let groups = join(&nets, &dirs, key, &SnapCounter::default()).await;
    converge(&groups, &false, &sum).await;
    for g in &groups {
        let replayed = within("query", g.query(true, Weak))
            .await
            .expect("query")
            .result;
        assert!(
            replayed < commands,
            "the state came from the stored snapshot, not a replay of all {commands} \
             commands (replayed {replayed})"
        );
    }
    drop(groups);
    drop(nets);
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn a_pruned_log_without_a_usable_snapshot_refuses_to_start() {
    let net = crate::util::node("groups-durable-refuse", fast()).await;
    let term = Ballot::new(1, net.local().id());
    let mut store = InMemoryLogStore::<i64>::default();
    let entries: Vec<_> = (1..=4).map(|i| LogEntry::command(term, i)).collect();
    store.append_entries(LogIndex(1), &entries).unwrap();
    let at = LogCursor::new(term, LogIndex(2));
    // The counter has no snapshots: whatever is stored cannot rebuild the
    // pruned prefix.
    store
        .save_snapshot(StoredSnapshot {
            at,
            data: bytes::Bytes::from_static(b"not a snapshot"),
        })
        .unwrap();
    store.prune_prefix(at).unwrap();
    let group = net
        .groups()
        .with_key(GroupKey::from_secret("durable-refuse"))
        .with_state_machine(Counter::default())
        .with_log_storage(store)
        .with_consensus_config(timing())
        .join();
    within("refused", async {
        loop {
            if let Err(CommandError::GroupTerminated) = group.execute(1).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
