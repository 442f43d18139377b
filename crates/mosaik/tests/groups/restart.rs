//! Restarts: a member killed without any goodbye comes back with the same
//! secret key and empty storage (in-memory stores lose everything).

use {
    crate::util::{Counter, Doomed, fast, keyed, timing, until, within},
    core::time::Duration,
    futures::FutureExt,
    mosaik::{
        Network, PeerId,
        groups::{ConsensusConfig, Group, GroupKey, Weak},
        iroh::SecretKey,
    },
};

/// Bonds die after `max_missed_heartbeats` × (interval + jitter) =
/// 100 × 130 ms = 13 s of silence here, longer than any wait below, so a
/// stale bond can only go away by being replaced.
fn long_lived_bonds() -> ConsensusConfig {
    ConsensusConfig {
        max_missed_heartbeats: 100,
        ..timing()
    }
}

/// How long the restarted member may take to bond with every survivor:
/// well under the 13 s after which the survivors would drop the dead bond
/// on their own.
const REBOND_BOUND: Duration = Duration::from_secs(8);

/// Three secret keys, sorted by peer id, so a test can place the
/// restarted member between the survivors (it is then the dialer of one
/// pair and the acceptor of the other).
fn sorted_keys() -> [SecretKey; 3] {
    let mut keys = [
        SecretKey::generate(),
        SecretKey::generate(),
        SecretKey::generate(),
    ];
    keys.sort_by_key(SecretKey::public);
    keys
}

fn join(net: &Network, key: GroupKey) -> Group<Counter> {
    net.groups()
        .with_key(key)
        .with_state_machine(Counter::default())
        .with_consensus_config(long_lived_bonds())
        .join()
}

/// Polls `pred` until it holds, failing after `bound`.
async fn until_within(bound: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    tokio::time::timeout(bound, async {
        while !pred() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} not within {bound:?}"));
}

#[tokio::test]
async fn a_restarted_member_replaces_its_stale_bonds_at_once() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let name = "groups-restart-bonds";
    let key = GroupKey::from_secret("restart-bonds");
    let [low, middle, high] = sorted_keys();
    let a = keyed(name, fast(), low).await;
    let bootstrap = || fast().with_bootstrap([a.local().addr()]);
    let c = keyed(name, bootstrap(), high).await;
    let doomed = Doomed::start(name, bootstrap(), middle.clone()).await;
    let b_id: PeerId = middle.public();
    let (ga, gc) = (join(&a, key), join(&c, key));
    let gb = doomed.on(|b| join(b, key));
    let groups = [&ga, &gb, &gc];
    until("mesh", || groups.iter().all(|g| g.bonds().len() == 2)).await;
    let leader = within("leader", ga.when().leader_elected()).await;
    for g in groups {
        within("agree", g.when().leader_is(leader)).await;
    }
    let index = within("execute", ga.execute(1)).await.expect("commits");
    within("b applied", gb.when().committed().reaches(index)).await;
    let stale = [&ga, &gc].map(|g| g.bonds().get(&b_id).expect("bonded with b").id());
    let (a_committed, c_committed) = (ga.when().committed(), gc.when().committed());
    let reverted = [a_committed.reverted(), c_committed.reverted()];

    // b dies without a word and comes back with its key and empty storage.
    doomed.kill(gb);
    let b = keyed(name, bootstrap(), middle).await;
    let gb = join(&b, key);
    let replaced = |g: &Group<Counter>, old| g.bonds().get(&b_id).is_some_and(|n| n.id() != old);
    until_within(REBOND_BOUND, "b's bonds replaced", || {
        replaced(&ga, stale[0]) && replaced(&gc, stale[1]) && gb.bonds().len() == 2
    })
    .await;

    // The replaced bonds carry the group on: b catches up on what it lost.
    let index = within("execute after the restart", ga.execute(2))
        .await
        .expect("commits");
    within("b caught up", gb.when().committed().reaches(index)).await;
    assert_eq!(*gb.query((), Weak).await.unwrap(), 3);
    // The empty member never took anything away from the survivors.
    for reverted in reverted {
        assert!(reverted.now_or_never().is_none(), "a survivor reverted");
    }
}

/// A member that starts with empty storage does not vote or campaign while
/// the catalog shows other members of its group: it might be the only
/// voter of a group whose history it lost. Once every member it knows of
/// is bonded and none of them can lead (they restarted empty too), it
/// stops waiting, so a group that restarted as a whole re-forms.
#[tokio::test]
async fn an_empty_member_waits_for_the_members_it_knows_of() {
    let name = "groups-restart-wait";
    let key = GroupKey::from_secret("restart-wait");
    let secret = SecretKey::generate();
    // `x` leads alone and dies without a word; `d` (no group) keeps its
    // catalog entry, as every peer does until it is purged.
    let d = keyed(name, fast(), SecretKey::generate()).await;
    let doomed = Doomed::start(
        name,
        fast().with_bootstrap([d.local().addr()]),
        secret.clone(),
    )
    .await;
    let x_id: PeerId = secret.public();
    let gx = doomed.on(|x| join(x, key));
    within("x leads", gx.when().is_leader()).await;
    within("x commits", gx.execute(1)).await.expect("commits");
    let group_id = *gx.id();
    until("d sees x in the group", || {
        d.discovery()
            .catalog()
            .get_signed(&x_id)
            .is_some_and(|e| e.groups().contains(&group_id))
    })
    .await;
    doomed.kill(gx);

    // `r` starts empty and learns of `x` from `d`'s catalog.
    let r = keyed(
        name,
        fast().with_bootstrap([d.local().addr()]),
        SecretKey::generate(),
    )
    .await;
    let gr = join(&r, key);
    until("r sees x", || {
        r.discovery().catalog().get_signed(&x_id).is_some()
    })
    .await;
    // Alone, a fresh member would elect itself after the bootstrap delay
    // and one election timeout (~1.1–1.4 s here); it must not while `x`
    // may come back with the history.
    let elected = tokio::time::timeout(Duration::from_secs(3), gr.when().leader_elected()).await;
    assert!(
        elected.is_err(),
        "an empty member elected a leader while x is listed"
    );

    // `x` comes back empty as well: nobody holds a history any more, both
    // stop waiting and the group re-forms.
    let x = keyed(name, fast().with_bootstrap([d.local().addr()]), secret).await;
    let gx = join(&x, key);
    let leader = within("a leader again", gr.when().leader_elected()).await;
    within("x agrees", gx.when().leader_is(leader)).await;
    let index = within("execute", gr.execute(5)).await.expect("commits");
    within("x applied", gx.when().committed().reaches(index)).await;
    assert_eq!(*gx.query((), Weak).await.unwrap(), 5);
}
