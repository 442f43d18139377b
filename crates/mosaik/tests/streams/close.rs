//! Every close reason of the streams protocol, observed on a raw link.

use {
    crate::util::{TIMEOUT, cluster, node, within},
    mosaik::{
        Network, NetworkId, StreamId,
        iroh::endpoint::ApplicationClose,
        network::{CloseError, DifferentNetwork, GracefulShutdown, Link, UnknownPeer},
        streams::{
            ConsumerHandshake, Criteria, NoCapacity, NotAllowed, StartStream, StreamNotFound,
            StreamsProtocol, TooSlow,
        },
    },
};

/// Opens a raw subscription from `from` to `to`.
async fn subscribe(
    from: &Network,
    to: &Network,
    network_id: NetworkId,
    stream_id: StreamId,
) -> Link<StreamsProtocol> {
    let mut link = from
        .local()
        .connect::<StreamsProtocol>(to.local().addr())
        .await
        .expect("connects");
    link.send(&ConsumerHandshake {
        network_id,
        stream_id,
        criteria: Criteria::default(),
    })
    .await
    .expect("handshake sent");
    link
}

/// The application close the peer ended `link` with (not reading it).
async fn close_of(link: &Link<StreamsProtocol>) -> ApplicationClose {
    match tokio::time::timeout(TIMEOUT, link.closed()).await {
        Ok(Err(CloseError::UnexpectedReason(close))) => close,
        other => panic!("expected an application close, got {other:?}"),
    }
}

async fn started(link: &mut Link<StreamsProtocol>) -> StartStream {
    within("start stream", link.recv::<StartStream>())
        .await
        .expect("start stream")
}

#[tokio::test]
async fn handshake_refusals_carry_their_codes() {
    let nodes = cluster("streams-close", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let producer = p.streams().produce::<u8>();
    let id = *producer.stream_id();

    let wrong_net = subscribe(c, p, NetworkId::from("elsewhere"), id).await;
    assert_eq!(close_of(&wrong_net).await, DifferentNetwork);

    let missing = subscribe(c, p, *p.network_id(), StreamId::from("nope")).await;
    assert_eq!(close_of(&missing).await, StreamNotFound);

    // A node the producer has never heard of.
    let stranger = node("streams-close", None).await;
    let unknown = subscribe(&stranger, p, *p.network_id(), id).await;
    assert_eq!(close_of(&unknown).await, UnknownPeer);
    // Nor did it leave an RTT sample behind: the producer keeps samples
    // per peer id until the peer departs, which a stranger never does.
    assert_eq!(p.discovery().catalog().rtt(&stranger.local().id()), None);

    let mut ok = subscribe(c, p, *p.network_id(), id).await;
    assert_eq!(started(&mut ok).await, StartStream(*p.network_id(), id));
}

#[tokio::test]
async fn require_failure_is_not_allowed_and_capacity_is_enforced() {
    let nodes = cluster("streams-close-limits", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let denied = p
        .streams()
        .producer::<u8>()
        .with_stream_id("denied")
        .require(|_| false)
        .build()
        .unwrap();
    let link = subscribe(c, p, *p.network_id(), *denied.stream_id()).await;
    assert_eq!(close_of(&link).await, NotAllowed);

    let single = p
        .streams()
        .producer::<u8>()
        .with_stream_id("single")
        .with_max_consumers(1)
        .build()
        .unwrap();
    let mut first = subscribe(c, p, *p.network_id(), *single.stream_id()).await;
    started(&mut first).await;
    let second = subscribe(c, p, *p.network_id(), *single.stream_id()).await;
    assert_eq!(close_of(&second).await, NoCapacity);
}

#[tokio::test]
async fn lagging_subscriber_is_too_slow_and_shutdown_is_graceful() {
    let nodes = cluster("streams-close-slow", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let producer = p
        .streams()
        .producer::<Vec<u8>>()
        .with_buffer_size(2)
        .build()
        .unwrap();
    // Subscribes but never reads: flow control stalls its sender task.
    let mut stalled = subscribe(c, p, *p.network_id(), *producer.stream_id()).await;
    started(&mut stalled).await;
    within("online", producer.when().online()).await;
    let chunk = vec![0u8; 64 * 1024];
    within("producer drops the laggard", async {
        while producer.is_online() {
            let _ = producer.try_send(chunk.clone());
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(close_of(&stalled).await, TooSlow);

    let graceful = p.streams().produce::<u16>();
    let mut link = subscribe(c, p, *p.network_id(), *graceful.stream_id()).await;
    started(&mut link).await;
    within("online", graceful.when().online()).await;
    drop(graceful);
    assert_eq!(close_of(&link).await, GracefulShutdown);
}
