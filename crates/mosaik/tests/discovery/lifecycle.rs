//! Departures, purging of crashed peers, events, RTT.

use {
    crate::util::{TIMEOUT, cluster, converged, exchange, fast, node, notify, until},
    core::time::Duration,
    mosaik::{
        Tag,
        discovery::{Event, GracefulDeparture},
    },
    std::time::Instant,
};

/// Bound for a graceful departure to reach every peer in tests. The 2 s
/// target holds for the bench (B5); a loaded 2-core CI machine gets more.
/// Either way it is far below `purge_after` (5 min by default), so only the
/// departure itself can have removed the entry.
const DEPARTURE_BOUND: Duration = Duration::from_secs(10);

#[tokio::test]
async fn graceful_departure_reaches_every_peer_quickly() {
    let mut nodes = cluster("disc-depart", 5).await;
    converged(&nodes).await;
    let leaving = nodes.pop().unwrap();
    let id = leaving.local().id();
    let started = Instant::now();
    // Shutdown also closes the endpoint gracefully, which takes longer than
    // the departure itself: measure what the peers see, concurrently.
    let shutdown = tokio::spawn(leaving.shutdown());
    for net in &nodes {
        until(net, |c| c.get_signed(&id).is_none()).await;
    }
    let took = started.elapsed();
    eprintln!("graceful departure seen by all in {took:?}");
    assert!(took < DEPARTURE_BOUND, "departure took {took:?}");
    shutdown.await.unwrap();
}

/// A departure that reached a single peer (the leaver's gossip broadcast
/// lost, its other notices never sent) still reaches everyone: the peer that
/// accepted the direct notice relays it over gossip. Fails without the relay
/// (only the notified peer would drop the entry).
///
/// The "leaver" stays up, so the gossip overlay is intact while the relay
/// travels (a real leaver's links close cleanly and the overlay reshapes;
/// a broadcast made while a peer is between neighbours is the purge timer's
/// case). Its departure still sticks: the tombstone refuses its later
/// announcements of the same incarnation.
#[tokio::test]
async fn a_departure_told_to_one_peer_reaches_all() {
    let mut nodes = cluster("disc-relay", 5).await;
    converged(&nodes).await;
    let leaver = nodes.pop().unwrap();
    let leaver_id = leaver.local().id();
    let departure = GracefulDeparture::new(
        leaver.local().secret_key(),
        leaver.discovery().me().update_version(),
    );
    let started = Instant::now();
    // Hand the notice to nodes[0] only; the sender (nodes[3]) does not
    // apply what it sends, so it too must learn it by relay.
    notify(&nodes[3], &nodes[0], &departure).await;
    for net in &nodes {
        until(net, |c| c.get_signed(&leaver_id).is_none()).await;
    }
    let took = started.elapsed();
    assert!(took < DEPARTURE_BOUND, "relayed departure took {took:?}");
    drop(leaver);
}

/// A node that missed a departure's broadcast learns it at its next
/// catalog exchange with a node that took it: the snapshot of a node that
/// took a departure carries the signed notice (the receiving side, and its
/// bounds, are checked in `hostile::oversized_departure_lists_*`). End to
/// end, a latecomer that heard of the leaver from the leaver itself drops
/// it after an exchange with that node, and the leaver's own snapshot does
/// not bring it back.
#[tokio::test]
async fn a_missed_departure_arrives_with_the_next_exchange() {
    let a = node("disc-missed", fast()).await;
    let leaver = node("disc-missed", fast().with_bootstrap([a.local().addr()])).await;
    let leaver_id = leaver.local().id();
    until(&a, |c| c.get_signed(&leaver_id).is_some()).await;
    let departure = GracefulDeparture::new(
        leaver.local().secret_key(),
        leaver.discovery().me().update_version(),
    );
    notify(&leaver, &a, &departure).await;
    until(&a, |c| c.get_signed(&leaver_id).is_none()).await;
    let late = node("disc-missed", fast()).await;
    // What A sends in an exchange: the notice, signed by the leaver.
    let (_, notices) = exchange(&late, &a, &(Vec::new(), Vec::new()))
        .await
        .expect("A answers");
    assert!(
        notices.iter().any(|n| n.peer_id == leaver_id && n.verify()),
        "A's snapshot carries the departure: {notices:?}"
    );
    late.discovery()
        .sync_with(leaver.local().addr())
        .await
        .unwrap();
    late.discovery().sync_with(a.local().addr()).await.unwrap();
    until(&late, |c| c.get_signed(&leaver_id).is_none()).await;
    // The notice sticks: the leaver's announcements do not bring it back.
    late.discovery()
        .sync_with(leaver.local().addr())
        .await
        .unwrap();
    assert!(late.discovery().catalog().get_signed(&leaver_id).is_none());
}

#[test]
fn crashed_peer_is_purged_after_purge_after() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let purge = Duration::from_secs(3);
    let survivor = rt.block_on(node("disc-crash", fast().with_purge_after(purge)));
    let addr = survivor.local().addr();
    // The victim runs on its own runtime so it can die without a word.
    let victim_rt = tokio::runtime::Runtime::new().unwrap();
    let victim = victim_rt.block_on(node("disc-crash", fast().with_bootstrap([addr])));
    let victim_id = victim.local().id();
    rt.block_on(until(&survivor, |c| c.get_signed(&victim_id).is_some()));
    std::mem::forget(victim);
    victim_rt.shutdown_background();
    let crashed_at = Instant::now();
    rt.block_on(until(&survivor, |c| c.get_signed(&victim_id).is_none()));
    let took = crashed_at.elapsed();
    assert!(
        took >= purge.saturating_sub(Duration::from_secs(1)),
        "purged too early: {took:?}"
    );
    assert!(
        took <= purge + Duration::from_secs(3),
        "purged too late: {took:?}"
    );
}

async fn next(events: &mut tokio::sync::broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(TIMEOUT, events.recv())
        .await
        .unwrap()
        .unwrap()
}

/// `Network::shutdown` with peers that crashed: its departure notice fails
/// within the exchange timeout and it does not wait for the dead peers to
/// acknowledge the closing of their connections (QUIC would retry for
/// about 3 s): it returns after at most `CLOSE_DRAIN_WAIT` of that.
#[test]
fn shutdown_does_not_wait_for_crashed_peers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exchange = Duration::from_millis(300);
    let survivor = rt.block_on(node("disc-gone", fast().with_exchange_timeout(exchange)));
    let addr = survivor.local().addr();
    let victim_rt = tokio::runtime::Runtime::new().unwrap();
    let victim = victim_rt.block_on(node("disc-gone", fast().with_bootstrap([addr])));
    let victim_id = victim.local().id();
    rt.block_on(until(&survivor, |c| c.get_signed(&victim_id).is_some()));
    std::mem::forget(victim);
    victim_rt.shutdown_background();
    let started = Instant::now();
    rt.block_on(survivor.shutdown());
    let took = started.elapsed();
    eprintln!("shutdown with a crashed peer took {took:?}");
    assert!(
        took < exchange + mosaik::network::CLOSE_DRAIN_WAIT + Duration::from_millis(700),
        "shutdown took {took:?}"
    );
}

#[tokio::test]
async fn events_and_catalog_watch_fire_as_documented() {
    let a = node("disc-events", fast()).await;
    let mut events = a.discovery().events();
    let mut watch = a.discovery().catalog_watch();
    let b = node("disc-events", fast().with_bootstrap([a.local().addr()])).await;
    let b_id = b.local().id();
    loop {
        if let Event::PeerDiscovered(entry) = next(&mut events).await {
            assert_eq!(*entry.id(), b_id);
            break;
        }
    }
    assert!(watch.has_changed().unwrap());
    watch.mark_unchanged();
    b.discovery().add_tags([Tag::from("new-tag")]);
    loop {
        if let Event::PeerUpdated(entry) = next(&mut events).await
            && entry.tags().contains(&Tag::from("new-tag"))
        {
            break;
        }
    }
    b.shutdown().await;
    loop {
        if let Event::PeerDeparted(peer) = next(&mut events).await {
            assert_eq!(peer, b_id);
            break;
        }
    }
}

#[tokio::test]
async fn rtt_is_measured_and_max_rtt_hides_slow_peers() {
    let nodes = cluster("disc-rtt", 2).await;
    converged(&nodes).await;
    let b = nodes[1].local().id();
    let (entry, rtt) = nodes[0]
        .discovery()
        .ping(nodes[1].local().addr())
        .await
        .unwrap();
    assert_eq!(*entry.id(), b);
    assert!(rtt < Duration::from_secs(1));
    let cat = nodes[0].discovery().catalog();
    assert!(cat.rtt(&b).is_some());
    assert!(cat.get(&b).unwrap().rtt().is_some());

    // A node whose limit no real RTT can meet hides the peer once measured.
    let strict = node(
        "disc-rtt",
        fast()
            .with_max_rtt(Duration::from_nanos(1))
            .with_bootstrap([nodes[0].local().addr()]),
    )
    .await;
    until(&strict, |c| c.signed_peers_count() == 2).await;
    strict
        .discovery()
        .ping(nodes[1].local().addr())
        .await
        .unwrap();
    let cat = strict.discovery().catalog();
    assert!(cat.get(&b).is_none(), "slow peer must be hidden");
    assert!(cat.peers().all(|p| *p.id() != b));
    assert!(cat.get_signed(&b).is_some(), "signed_peers ignores max_rtt");
}
