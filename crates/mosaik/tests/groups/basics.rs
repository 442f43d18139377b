//! Election, replication, commands and queries.

use {
    crate::util::{Counter, cluster, fast, joiner, node, timing, until, within},
    mosaik::groups::{GroupKey, Index, Strong, Weak},
};

#[tokio::test]
async fn lone_member_self_elects_after_bootstrap_delay() {
    let net = node("groups-lone", fast()).await;
    let started = std::time::Instant::now();
    let group = net
        .groups()
        .with_key(GroupKey::from_secret("lone"))
        .with_consensus_config(timing())
        .join();
    let leader = within("self-election", group.when().leader_elected()).await;
    assert_eq!(leader, net.local().id());
    assert!(group.is_leader());
    assert!(
        started.elapsed() >= timing().bootstrap_delay,
        "elected before the bootstrap delay"
    );
    within("online", group.when().online()).await;
}

#[tokio::test]
async fn later_joiners_follow_the_leader_without_a_new_election() {
    let first = node("groups-join", fast()).await;
    let key = GroupKey::from_secret("join");
    let a = first
        .groups()
        .with_key(key)
        .with_consensus_config(timing())
        .join();
    within("a leads", a.when().is_leader()).await;
    let term = a.log_position().term();

    let others = [
        joiner("groups-join", &first).await,
        joiner("groups-join", &first).await,
    ];
    let groups: Vec<_> = others
        .iter()
        .map(|n| {
            n.groups()
                .with_key(key)
                .with_consensus_config(timing())
                .join()
        })
        .collect();
    for g in &groups {
        within("joiner sees leader", g.when().leader_is(first.local().id())).await;
        within("joiner follows", g.when().is_follower()).await;
    }
    until("full mesh", || groups.iter().all(|g| g.bonds().len() == 2)).await;
    assert!(a.is_leader());
    assert_eq!(a.log_position().term(), term, "no new election");
    assert_eq!(a.bonds().len(), 2);
}

#[tokio::test]
async fn execute_feed_and_queries_across_members() {
    let nodes = cluster("groups-exec", 3).await;
    let key = GroupKey::from_secret("exec");
    let groups: Vec<_> = nodes
        .iter()
        .map(|n| {
            n.groups()
                .with_key(key)
                .with_state_machine(Counter::default())
                .with_consensus_config(timing())
                .join()
        })
        .collect();
    let leader = within("leader", groups[0].when().leader_elected()).await;
    for g in &groups {
        within("all agree", g.when().leader_is(leader)).await;
    }
    let follower = groups.iter().find(|g| !g.is_leader()).expect("a follower");

    // execute from a follower: committed and applied locally on return.
    let index = within("execute", follower.execute(5))
        .await
        .expect("executes");
    assert!(follower.committed() >= index);
    let weak = within("weak query", follower.query((), Weak))
        .await
        .expect("weak");
    assert_eq!(*weak, 5);

    // feed returns an assigned index; committed().reaches waits for it.
    let range = within("feed", follower.feed_many([1, 2, 3]))
        .await
        .expect("feeds");
    assert_eq!(range.end().get() - range.start().get(), 2);
    within("reaches", follower.when().committed().reaches(&range)).await;
    let one = within("feed one", groups[0].feed(10)).await.expect("feeds");

    // Strong queries reflect everything committed before them, everywhere.
    for g in &groups {
        let strong = within("strong query", g.query((), Strong))
            .await
            .expect("strong");
        assert!(strong.state_position() >= one);
        assert_eq!(strong, 21);
    }
    let empty = groups[0].execute_many(Vec::<i64>::new()).await;
    assert!(matches!(
        empty,
        Err(mosaik::groups::CommandError::NoCommands)
    ));
    assert!(groups[0].committed() > Index(0));
}

#[tokio::test]
async fn late_joiner_catches_up_ten_thousand_entries() {
    let first = node("groups-late", fast()).await;
    let key = GroupKey::from_secret("late");
    let a = first
        .groups()
        .with_key(key)
        .with_state_machine(Counter::default())
        .with_consensus_config(timing())
        .join();
    within("a leads", a.when().is_leader()).await;
    let mut last = Index(0);
    for chunk in 0..10 {
        let batch = (0..1000).map(|i| i64::from(chunk * 1000 + i));
        last = *within("batch", a.execute_many(batch))
            .await
            .expect("commits")
            .end();
    }
    let expected: i64 = (0..10_000).sum();
    assert_eq!(*a.query((), Weak).await.unwrap(), expected);

    let second = joiner("groups-late", &first).await;
    let b = second
        .groups()
        .with_key(key)
        .with_state_machine(Counter::default())
        .with_consensus_config(timing())
        .join();
    within("catch up", b.when().committed().reaches(last)).await;
    assert_eq!(*b.query((), Weak).await.unwrap(), expected);
    assert_eq!(b.leader(), Some(first.local().id()));
}

#[tokio::test]
async fn late_joiner_catches_up_by_snapshot_after_compaction() {
    let first = node("groups-snap", fast()).await;
    let key = GroupKey::from_secret("snap");
    let join = |n: &mosaik::Network| {
        n.groups()
            .with_key(key)
            .with_state_machine(crate::util::SnapCounter::default())
            .with_consensus_config(timing())
            .join()
    };
    let a = join(&first);
    within("a leads", a.when().is_leader()).await;
    let mut last = Index(0);
    for chunk in 0..20 {
        let batch = (0..50).map(|i| i64::from(chunk * 50 + i));
        last = *within("batch", a.execute_many(batch))
            .await
            .expect("commits")
            .end();
    }
    let expected: i64 = (0..1000).sum();

    let second = joiner("groups-snap", &first).await;
    let b = join(&second);
    within("catch up", b.when().committed().reaches(last)).await;
    assert_eq!(*b.query(false, Weak).await.unwrap(), expected);
    let replayed = *b.query(true, Weak).await.unwrap();
    assert!(
        replayed < 1000,
        "b replayed {replayed} entries: no snapshot was installed"
    );
    // The group keeps working after the install.
    let index = within("execute after sync", b.execute(1))
        .await
        .expect("commits");
    within("a applied", a.when().committed().reaches(index)).await;
    assert_eq!(*a.query(false, Strong).await.unwrap(), expected + 1);
    assert_eq!(*b.query(false, Strong).await.unwrap(), expected + 1);
}
