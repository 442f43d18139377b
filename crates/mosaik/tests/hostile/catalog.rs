//! Sybil catalog flood: snapshots full of fresh, correctly signed entries.

use {
    crate::{
        attacks::{push_snapshot, sybils},
        util::{attacker, fast, node, until, within},
    },
    core::time::Duration,
    std::time::Instant,
};

const NET: &str = "hostile-sybil";
const CAP: usize = 100;
const PER_SYNC: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sybil_flood_keeps_the_catalog_bounded_and_service_running() {
    let config = || {
        fast()
            .with_max_catalog_entries(CAP)
            .with_max_new_entries_per_sync(PER_SYNC)
    };
    let victim = node(NET, config()).await;
    let honest = node(NET, config().with_bootstrap([victim.local().addr()])).await;
    until("honest peer known", || {
        victim
            .discovery()
            .catalog()
            .get_signed(&honest.local().id())
            .is_some()
    })
    .await;
    let producer = victim.streams().produce::<u64>();
    let mut consumer = honest.streams().consume::<u64>();
    within("subscribed", producer.when().online()).await;

    let attacker = attacker().await;
    for round in 0..3 {
        let started = Instant::now();
        assert!(push_snapshot(&attacker, victim.local().addr(), &sybils(NET, 2_000)).await);
        let size = victim.discovery().catalog().signed_peers_count();
        println!(
            "sybil push {round}: 2000 entries, victim catalog {size} (cap {CAP}), exchange {:?}",
            started.elapsed()
        );
        assert!(size <= CAP, "catalog grew past its cap: {size}");
        assert!(
            size <= 1 + PER_SYNC * (round + 1),
            "one source added more than its share"
        );
        // The stream keeps flowing during the flood.
        producer.send(round as u64).await.unwrap();
        let got = within("datum during flood", consumer.recv()).await;
        assert_eq!(got, Some(round as u64));
    }
    let catalog = victim.discovery().catalog();
    assert!(
        catalog.get_signed(&honest.local().id()).is_some(),
        "the honest peer was evicted"
    );

    // An honest newcomer still gets in (its own entry is proven, so it
    // replaces an unmeasured stranger).
    let started = Instant::now();
    let newcomer = node(NET, config().with_bootstrap([victim.local().addr()])).await;
    let took = until("newcomer known", || {
        victim
            .discovery()
            .catalog()
            .get_signed(&newcomer.local().id())
            .is_some()
    })
    .await;
    println!(
        "newcomer known to the victim after {took:?} ({:?} incl. start)",
        started.elapsed()
    );
    assert!(took < Duration::from_secs(2), "newcomer took {took:?}");
    assert!(victim.discovery().catalog().signed_peers_count() <= CAP);
}

/// Peer entries are at most `MAX_ENTRY_SIZE` (64 KiB) encoded, wherever they
/// arrive: a snapshot whose entry carries 4,000 tags (32 bytes each: about
/// 125 KiB, correctly signed by a throwaway key) has that entry refused and
/// the rest merged; the catalog never holds it, so it is never copied into
/// the snapshots the victim serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_entries_in_a_snapshot_are_refused() {
    use mosaik::{NetworkId, SecretKey, Tag, discovery::PeerEntry, iroh::EndpointAddr};
    let victim = node("hostile-big-entry", fast()).await;
    let signed = |tags: usize| {
        let key = SecretKey::generate();
        let entry = PeerEntry::new(
            NetworkId::from("hostile-big-entry"),
            EndpointAddr::new(key.public()),
        )
        .add_tags((0..tags).map(|i| Tag::from(format!("tag-{i}").as_str())))
        .sign(&key)
        .unwrap();
        (entry.clone().into_unsigned(), *entry.signature())
    };
    let (big, small) = (signed(4_000), signed(3));
    let (big_id, small_id) = (*big.0.id(), *small.0.id());
    let attacker = attacker().await;
    let snapshot = (vec![big, small], Vec::new());
    assert!(push_snapshot(&attacker, victim.local().addr(), &snapshot).await);
    until("the small entry is merged", || {
        victim.discovery().catalog().get_signed(&small_id).is_some()
    })
    .await;
    assert!(
        victim.discovery().catalog().get_signed(&big_id).is_none(),
        "a 125 KiB entry reached the catalog"
    );
}
