//! Producer drop and re-creation, node restart, the `UnknownPeer` path.

use {
    crate::util::{cluster, eventually, fast, node, node_with, quick_backoff, until, within},
    mosaik::SecretKey,
};

#[tokio::test]
async fn last_producer_drop_unadvertises_and_consumers_come_back() {
    let nodes = cluster("streams-drop", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let producer = p.streams().produce::<u64>();
    let id = *producer.stream_id();
    let copy = producer.clone();
    let mut consumer = c.streams().consume::<u64>();
    within("subscribed", producer.when().online()).await;
    drop(producer);
    assert!(
        p.discovery().me().streams().contains(&id),
        "a clone remains"
    );
    copy.send(1).await.unwrap();
    assert_eq!(within("datum", consumer.recv()).await, Some(1));
    drop(copy);
    assert!(!p.discovery().me().streams().contains(&id));
    assert!(p.streams().produced().is_empty());
    until(c, |cat| {
        cat.get(&p.local().id())
            .is_some_and(|e| !e.streams().contains(&id))
    })
    .await;
    eventually("consumer let go", || consumer.producers().count() == 0).await;

    let again = p.streams().produce::<u64>();
    within("re-subscribed", again.when().online()).await;
    again.send(2).await.unwrap();
    assert_eq!(
        within("datum after re-creation", consumer.recv()).await,
        Some(2)
    );
}

#[tokio::test]
async fn consumer_reconnects_when_the_producer_node_restarts() {
    let consumer_node = node("streams-restart", None).await;
    let key = SecretKey::generate();
    let start_producer = || {
        let key = key.clone();
        let addr = consumer_node.local().addr();
        async move {
            mosaik::Network::builder("streams-restart")
                .with_relay_mode(mosaik::iroh::RelayMode::Disabled)
                .with_addresses(["127.0.0.1:0".parse().unwrap()])
                .with_secret_key(key)
                .with_discovery(fast().with_bootstrap([addr]))
                .build()
                .await
                .unwrap()
        }
    };
    let p1 = start_producer().await;
    let mut consumer = consumer_node
        .streams()
        .consumer::<String>()
        .with_backoff(quick_backoff())
        .build();
    let producer = p1.streams().produce::<String>();
    within("first incarnation", producer.when().online()).await;
    producer.send("before".into()).await.unwrap();
    assert_eq!(
        within("before", consumer.recv()).await.as_deref(),
        Some("before")
    );
    drop(producer);
    p1.shutdown().await;

    let p2 = start_producer().await;
    let producer = p2.streams().produce::<String>();
    within("second incarnation", producer.when().online()).await;
    producer.send("after".into()).await.unwrap();
    assert_eq!(
        within("after", consumer.recv()).await.as_deref(),
        Some("after")
    );
}

#[tokio::test]
async fn unknown_peer_triggers_a_catalog_sync_and_retry() {
    // Two nodes that never met: the consumer learns the producer's entry
    // out of band, the producer knows nothing about the consumer.
    let p = node_with("streams-unknown", fast()).await;
    let c = node_with("streams-unknown", fast()).await;
    let producer = p.streams().produce::<u8>();
    assert!(p.discovery().catalog().get(&c.local().id()).is_none());
    let mut consumer = c
        .streams()
        .consumer::<u8>()
        .with_backoff(quick_backoff())
        .build();
    assert!(c.discovery().feed(p.discovery().me()));
    within("subscribed after sync", producer.when().online()).await;
    assert!(p.discovery().catalog().get(&c.local().id()).is_some());
    producer.send(9).await.unwrap();
    assert_eq!(within("datum", consumer.recv()).await, Some(9));
}
