//! The `stream!` macro: every form, key and routing rule.

use {
    crate::util::{cluster, quick_backoff, within},
    mosaik::{
        ConsumerOf, ProducerOf, StreamConsumer, StreamId, StreamProducer, Tag,
        discovery::PeerInfo,
        stream,
        streams::{Criteria, StreamDef},
    },
};

stream!(
    /// Prices, both sides.
    pub Prices = u64, "macro-prices"
);
stream!(producer OnlyProducer = u32, "macro-limited", max_consumers: 1, buffer_size: 8, disconnect_lagging: false);
stream!(consumer OnlyConsumer = u32, "macro-limited", criteria: Criteria::default(), backoff: quick_backoff());
stream!(Generic<T> = Vec<T>);
const BY_EXPR: StreamId = mosaik::unique_id!("macro-by-expr");
stream!(ByExpr = String, BY_EXPR, require: |_: &PeerInfo| true, online_when: |c| c.minimum_of(1));
stream!(
    Vip = u8,
    "macro-vip",
    consumer require: |p: &PeerInfo| p.tags().contains(&Tag::from("vip")),
    producer online_when: |c| c.minimum_of(1),
);

#[tokio::test]
async fn declared_streams_route_keys_to_their_side() {
    let nodes = cluster("streams-macro", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);

    let producer: ProducerOf<Prices> = Prices::producer(p);
    assert_eq!(*producer.stream_id(), StreamId::from("macro-prices"));
    let mut consumer: ConsumerOf<Prices> = Prices::online_consumer(c).await;
    let producer = {
        drop(producer);
        Prices::online_producer(p).await
    };
    producer.send(42).await.unwrap();
    assert_eq!(within("prices", consumer.recv()).await, Some(42));

    let limited = OnlyProducer::producer(p);
    assert_eq!(limited.config().max_consumers, 1);
    assert_eq!(limited.config().buffer_size, 8);
    assert!(!limited.config().disconnect_lagging);
    let mut reader = OnlyConsumer::consumer(c);
    within("limited online", limited.when().online()).await;
    limited.send(5).await.unwrap();
    assert_eq!(within("limited", reader.recv()).await, Some(5));

    let generic = Generic::<u8>::producer(p);
    assert_eq!(
        *generic.stream_id(),
        StreamDef::<Vec<u8>>::new().stream_id(),
        "no id: type-derived"
    );
    assert_eq!(*ByExpr::producer(p).stream_id(), BY_EXPR);
    // An existing producer is returned as is.
    assert_eq!(Prices::producer(p).stream_id(), producer.stream_id());
}

#[tokio::test]
async fn side_prefix_names_who_must_satisfy_require() {
    let nodes = cluster("streams-macro-vip", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    // `consumer require` is installed on the producer: consumers need the
    // tag, the producer does not.
    let producer = Vip::producer(p);
    let _consumer = Vip::consumer(c);
    crate::util::until(c, |cat| {
        cat.get(&p.local().id())
            .is_some_and(|e| e.streams().contains(producer.stream_id()))
    })
    .await;
    assert!(!producer.is_online());
    c.discovery().add_tags([Tag::from("vip")]);
    within("vip consumer admitted", producer.when().online()).await;
}
