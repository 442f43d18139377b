//! Peers that met through an explicit `Discovery::sync_with` or `dial`
//! are gossip neighbours at once, so their later announcements (joining a
//! group) reach each other in milliseconds and they bond well within a
//! second, not after the first periodic RTT probe (15 s or more).

use {
    crate::util::{Counter, node, timing, within},
    core::time::Duration,
    mosaik::{
        Network,
        groups::{Group, GroupKey},
    },
    std::time::Instant,
};

/// Default announce and probe intervals (45 s, 30 s) and no bootstrap
/// peers: only the explicit meeting can carry the announcements.
fn quiet() -> mosaik::discovery::ConfigBuilder {
    mosaik::discovery::Config::builder().no_dht_bootstrap()
}

async fn bonded(group: &Group<Counter>) {
    loop {
        // Armed before the check, so a change in between is not missed.
        let changed = group.bonds().changed();
        if !group.bonds().is_empty() {
            return;
        }
        changed.await;
    }
}

/// `from` changes its tags; returns how long until `to` sees the change.
/// Two rounds (one per side) before a measurement ensure the one-off
/// first-contact syncs that follow an explicit meeting are over, so only
/// gossip can carry what is measured.
async fn time_to_see_tag(from: &Network, to: &Network, tag: &str) -> Duration {
    let started = Instant::now();
    from.discovery().add_tags(tag);
    let (id, tag) = (from.local().id(), mosaik::Tag::from(tag));
    let mut watch = to.discovery().catalog_watch();
    within(
        "the tag spreads",
        watch.wait_for(|c| c.get_signed(&id).is_some_and(|e| e.tags().contains(&tag))),
    )
    .await
    .expect("discovery runs");
    started.elapsed()
}

/// Both join one group; returns how long until both sides hold the bond.
async fn time_to_bond(a: &Network, b: &Network) -> Duration {
    let key = GroupKey::random();
    let started = Instant::now();
    let join = |n: &Network| {
        n.groups()
            .with_key(key)
            .with_state_machine(Counter::default())
            .with_consensus_config(timing())
            .join()
    };
    let (ga, gb) = (join(a), join(b));
    within("bonds", async { tokio::join!(bonded(&ga), bonded(&gb)) }).await;
    started.elapsed()
}

#[tokio::test]
async fn sync_with_bonds_within_a_second() {
    let a = node("groups-meet-sync", quiet()).await;
    let b = node("groups-meet-sync", quiet()).await;
    b.discovery()
        .sync_with(a.local().addr())
        .await
        .expect("catalog exchange");
    for round in 0..2 {
        let took = time_to_see_tag(&a, &b, &format!("a-{round}")).await;
        assert!(
            took < Duration::from_secs(1),
            "a's change reached b after {took:?}"
        );
        let took = time_to_see_tag(&b, &a, &format!("b-{round}")).await;
        assert!(
            took < Duration::from_secs(1),
            "b's change reached a after {took:?}"
        );
    }
    let took = time_to_bond(&a, &b).await;
    assert!(took < Duration::from_secs(1), "bonded after {took:?}");
}

#[tokio::test]
async fn dial_bonds_within_a_second() {
    let a = node("groups-meet-dial", quiet()).await;
    let b = node("groups-meet-dial", quiet()).await;
    b.discovery().dial(a.local().addr()).await;
    let (a_id, b_id) = (a.local().id(), b.local().id());
    within("both catalogs list the other", async {
        let mut wa = a.discovery().catalog_watch();
        let mut wb = b.discovery().catalog_watch();
        let _ = wa.wait_for(|c| c.get_signed(&b_id).is_some()).await;
        let _ = wb.wait_for(|c| c.get_signed(&a_id).is_some()).await;
    })
    .await;
    for round in 0..2 {
        let took = time_to_see_tag(&a, &b, &format!("a-{round}")).await;
        assert!(
            took < Duration::from_secs(1),
            "a's change reached b after {took:?}"
        );
        let took = time_to_see_tag(&b, &a, &format!("b-{round}")).await;
        assert!(
            took < Duration::from_secs(1),
            "b's change reached a after {took:?}"
        );
    }
    let took = time_to_bond(&a, &b).await;
    assert!(took < Duration::from_secs(1), "bonded after {took:?}");
}
