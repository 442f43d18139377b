//! Against an in-process Mainline testnet.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_nodes_find_each_other_through_the_slots() {
    let (testnet, _serial) = testnet(5).await;
    let network = NetworkId::random();
    let alive = Arc::default();
    let hosts: Vec<Arc<FakeHost>> = (0..5).map(|_| FakeHost::new(&alive)).collect();
    let cancel = CancellationToken::new();
    let tasks: Vec<_> = hosts
        .iter()
        .map(|host| spawn(config(network, &testnet), host.clone(), cancel.clone()))
        .collect();

    for host in &hosts {
        let others: BTreeSet<PeerId> = hosts
            .iter()
            .map(|h| h.id())
            .filter(|id| *id != host.id())
            .collect();
        host.wait_discovered(|seen| others.is_subset(seen)).await;
        assert!(
            !host.discovered.borrow().contains(&host.id()),
            "never discovers itself"
        );
    }

    // Every node holds exactly one slot.
    let client = client(&testnet).await;
    let slots = wait_slots(&client, network, |slots| holders(slots).len() == 5).await;
    let mut peers = holders(&slots);
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), 5);

    cancel.cancel();
    for task in tasks {
        timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// What occupies the one slot a newcomer may take.
enum Occupant {
    /// A record of a peer whose probe fails.
    Dead,
    /// A DHT value that is not a pkarr record.
    Garbage,
}

/// Fills slots 0..15 with healthy peers and slot 15 with `occupant`, then
/// checks that a newcomer discovers the healthy peers and takes slot 15.
async fn newcomer_takes_the_only_free_slot(occupant: Occupant) {
    let (testnet, _serial) = testnet(5).await;
    let network = NetworkId::random();
    let alive: Arc<Mutex<BTreeSet<PeerId>>> = Arc::default();
    let client = client(&testnet).await;

    let healthy: Vec<EndpointAddr> = (0..15)
        .map(|i| fake_addr(SecretKey::generate().public(), 2000 + i))
        .collect();
    alive
        .lock()
        .unwrap()
        .extend(healthy.iter().map(|addr| addr.id));
    let plants = healthy
        .iter()
        .enumerate()
        .map(|(slot, addr)| plant(&client, network, slot, addr));
    futures::future::join_all(plants).await;
    let dead = fake_addr(SecretKey::generate().public(), 3000);
    match occupant {
        Occupant::Dead => plant(&client, network, 15, &dead).await,
        Occupant::Garbage => {
            let raw = mainline::Dht::builder()
                .bootstrap(&testnet.bootstrap)
                .build()
                .unwrap()
                .as_async();
            let signer = mainline::SigningKey::from_bytes(slot_ids(network)[15].as_bytes());
            let garbage = mainline::MutableItem::new(signer, b"garbage", 1, None);
            raw.put_mutable(garbage, None).await.unwrap();
            assert_eq!(
                client.lookup(&slot_public_keys(network)[15]).await,
                Lookup::Malformed { seq: 1 }
            );
        }
    }

    // The fixture is in place before the newcomer starts.
    let dead_planted = matches!(occupant, Occupant::Dead);
    wait_slots(&client, network, |slots| {
        slots[..15].iter().all(Option::is_some) && slots[15].is_some() == dead_planted
    })
    .await;

    let host = FakeHost::new(&alive);
    let cancel = CancellationToken::new();
    let task = spawn(config(network, &testnet), host.clone(), cancel.clone());

    let expected: BTreeSet<PeerId> = healthy.iter().map(|addr| addr.id).collect();
    host.wait_discovered(|seen| expected.is_subset(seen)).await;
    let slots = wait_slots(&client, network, |slots| {
        slots[15]
            .as_ref()
            .is_some_and(|record| record.peer == host.id())
    })
    .await;
    for (slot, addr) in healthy.iter().enumerate() {
        let holder = slots[slot].as_ref().map(|record| record.peer);
        assert_eq!(holder, Some(addr.id), "healthy slot {slot} kept");
    }
    assert!(
        !host.discovered.borrow().contains(&dead.id),
        "dead peers are not fed to discovery"
    );

    cancel.cancel();
    timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_record_is_overwritten_and_healthy_ones_kept() {
    newcomer_takes_the_only_free_slot(Occupant::Dead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_value_is_overwritten() {
    newcomer_takes_the_only_free_slot(Occupant::Garbage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_own_record_is_rewritten_in_place() {
    let (testnet, _serial) = testnet(5).await;
    let network = NetworkId::random();
    let client = client(&testnet).await;
    let host = FakeHost::new(&Arc::default());

    // Our record with an old address sits in slot 7.
    plant(&client, network, 7, &fake_addr(host.id(), 9)).await;

    let cancel = CancellationToken::new();
    let task = spawn(config(network, &testnet), host.clone(), cancel.clone());
    let me = host.local_addr();
    let slots = wait_slots(&client, network, |slots| {
        slots[7].as_ref().is_some_and(|record| record.matches(&me))
    })
    .await;
    assert_eq!(
        holders(&slots),
        vec![host.id()],
        "rewritten in place, not duplicated"
    );

    cancel.cancel();
    timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publish_with_an_outdated_cas_loses_the_race() {
    let (testnet, _serial) = testnet(5).await;
    let network = NetworkId::random();
    let client = client(&testnet).await;
    let first = fake_addr(SecretKey::generate().public(), 4000);
    plant(&client, network, 0, &first).await;
    let slots = wait_slots(&client, network, |slots| slots[0].is_some()).await;
    let current = slots[0].as_ref().unwrap().timestamp;

    let keypair = slot_keypair(slot_ids(network)[0]);
    let ttl = Duration::from_mins(10);
    let record = |port| {
        let addr = fake_addr(SecretKey::generate().public(), port);
        SlotRecord::from_endpoint_addr(&addr, pkarr::Timestamp::now().as_u64())
    };
    let stale = i64::try_from(current).unwrap() - 1;
    assert_eq!(
        client
            .publish(&keypair, &record(4001), ttl, Some(stale))
            .await,
        Err(PublishError::Lost)
    );
    let fresh = i64::try_from(current).unwrap();
    assert_eq!(
        client
            .publish(&keypair, &record(4002), ttl, Some(fresh))
            .await,
        Ok(())
    );
}
