//! Replayed and stale departure notices are refused: a signed notice
//! removes only the incarnation it names (or an older one), and only while
//! it is within `max_time_drift` of our clock (`messages::CatalogSnapshot`:
//! "older notices would be refused as replays").

use {
    crate::util::{Wire, exchange, fast, node, node_with_key, notify, until},
    chrono::Utc,
    core::time::Duration,
    mosaik::{
        NetworkId,
        discovery::{Catalog, Event, GracefulDeparture, PeerEntry},
        iroh::{EndpointAddr, SecretKey},
    },
};

/// A peer restarted with the same key is a new incarnation: the departure
/// notice of its previous run, recorded from a victim's catalog exchange
/// (what anyone who can dial the victim gets) and replayed to the victim
/// over the direct departure protocol and inside a catalog snapshot, leaves
/// the new incarnation in the victim's catalog.
#[tokio::test]
async fn a_replayed_departure_of_an_earlier_run_is_refused() {
    const NET: &str = "disc-replay";
    let victim = node(NET, fast()).await;
    let key = SecretKey::generate();
    let peer = key.public();
    let bootstrap = || fast().with_bootstrap([victim.local().addr()]);

    let first = node_with_key(NET, bootstrap(), key.clone()).await;
    until(&victim, |c| c.get_signed(&peer).is_some()).await;
    // It must know the victim too, or its departure has nobody to go to.
    let victim_id = victim.local().id();
    until(&first, |c| c.get_signed(&victim_id).is_some()).await;
    let first_run = first.discovery().me().update_version().0;
    first.shutdown().await;
    until(&victim, |c| c.get_signed(&peer).is_none()).await;

    // The attacker, of another network, records the notice: the victim
    // passes it on in every exchange for `max_time_drift`.
    let attacker = node("disc-replay-attacker", fast()).await;
    let (_, notices) = exchange(&attacker, &victim, &(Vec::new(), Vec::new()))
        .await
        .expect("the victim answers");
    let old = notices
        .into_iter()
        .find(|n| n.peer_id == peer)
        .expect("the victim's snapshot carries the departure");
    assert!(old.verify());
    assert_eq!(old.last_version.0, first_run, "it names the first run");

    let second = node_with_key(NET, bootstrap(), key).await;
    let second_run = second.discovery().me().update_version().0;
    assert!(second_run > first_run);
    let second_held = |c: &Catalog| {
        c.get_signed(&peer)
            .is_some_and(|e| e.update_version().0 == second_run)
    };
    until(&victim, &second_held).await;
    let mut events = victim.discovery().events();

    // Replay 1: the direct departure protocol. The victim closes the link
    // once it has applied (here: refused) the notice.
    notify(&attacker, &victim, &old).await;
    assert!(
        second_held(&victim.discovery().catalog()),
        "a direct replay removed the new run"
    );

    // Replay 2: inside a catalog snapshot, followed by a marker: a fresh
    // identity's entry and its own valid notice. The victim applies a
    // snapshot's notices in order, so once the marker has departed the
    // replay was handled.
    let marker = SecretKey::generate();
    let entry = PeerEntry::new(NetworkId::from(NET), EndpointAddr::new(marker.public()))
        .sign(&marker)
        .unwrap();
    let goodbye = GracefulDeparture::new(&marker, entry.update_version());
    let wire: Wire = (
        vec![(entry.clone().into_unsigned(), *entry.signature())],
        vec![old.clone(), goodbye],
    );
    exchange(&attacker, &victim, &wire)
        .await
        .expect("the victim answers");
    let departed = tokio::time::timeout(crate::util::TIMEOUT, async {
        let mut departed = Vec::new();
        loop {
            if let Event::PeerDeparted(id) = events.recv().await.expect("events flow") {
                departed.push(id);
                if id == marker.public() {
                    return departed;
                }
            }
        }
    })
    .await
    .expect("the marker's notice is applied");
    assert_eq!(departed, vec![marker.public()], "only the marker departed");
    assert!(
        second_held(&victim.discovery().catalog()),
        "a replay in a snapshot removed the new run"
    );
    // Both replays ran while the notice was fresh: only its incarnation
    // refused it, not the time check.
    let drift = mosaik::discovery::Config::default().max_time_drift;
    assert!(Utc::now() - old.timestamp < chrono::Duration::from_std(drift).unwrap());
    drop(second);
}

/// A notice of the incarnation the victim holds, signed by the peer, but
/// stamped further than `max_time_drift` from the victim's clock, is
/// refused; the same notice freshly signed is taken.
#[tokio::test]
async fn a_departure_notice_outside_the_time_drift_is_refused() {
    const NET: &str = "disc-stale-notice";
    const DRIFT: Duration = Duration::from_secs(1);
    let victim = node(NET, fast().with_max_time_drift(DRIFT)).await;
    let peer = node(NET, fast().with_bootstrap([victim.local().addr()])).await;
    let id = peer.local().id();
    until(&victim, |c| c.get_signed(&id).is_some()).await;
    let notice = || {
        GracefulDeparture::new(
            peer.local().secret_key(),
            peer.discovery().me().update_version(),
        )
    };
    let stale = notice();
    // Wait until it is older than the victim's drift allows.
    let limit = chrono::Duration::from_std(DRIFT + Duration::from_millis(100)).unwrap();
    while Utc::now() - stale.timestamp <= limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sender = node("disc-stale-notice-sender", fast()).await;
    notify(&sender, &victim, &stale).await;
    assert!(
        victim.discovery().catalog().get_signed(&id).is_some(),
        "a notice stamped outside max_time_drift removed the peer"
    );
    notify(&sender, &victim, &notice()).await;
    until(&victim, |c| c.get_signed(&id).is_none()).await;
}
