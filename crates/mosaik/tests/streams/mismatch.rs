//! Consumer-side mismatches: a malformed handshake and a consumer whose
//! datum type does not match the producer's.

use {
    crate::util::{TIMEOUT, cluster, within},
    mosaik::{
        Bytes,
        network::{CloseError, ProtocolViolation},
        streams::{State, StreamsProtocol},
    },
};

#[tokio::test]
async fn malformed_consumer_handshake_is_a_protocol_violation() {
    let nodes = cluster("streams-bad-handshake", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let producer = p.streams().produce::<u8>();
    let mut link = c
        .local()
        .connect::<StreamsProtocol>(p.local().addr())
        .await
        .expect("connects");
    // Not a `ConsumerHandshake`: an unterminated varint.
    link.send_raw(Bytes::from_static(&[0xff, 0xff, 0xff]))
        .await
        .expect("frame sent");
    let close = match tokio::time::timeout(TIMEOUT, link.closed()).await {
        Ok(Err(CloseError::UnexpectedReason(close))) => close,
        other => panic!("expected an application close, got {other:?}"),
    };
    assert_eq!(close, ProtocolViolation);
    assert_eq!(producer.consumers().count(), 0, "never admitted");
}

#[tokio::test]
async fn consumer_of_another_datum_type_leaves_and_reports_it() {
    let nodes = cluster("streams-type-mismatch", 2).await;
    let (p, c) = (&nodes[0], &nodes[1]);
    let producer = p
        .streams()
        .producer::<u64>()
        .with_stream_id("shared-id")
        .build()
        .unwrap();
    // Same stream id, incompatible encoding: a postcard `u64` of 1_000_000
    // reads as a string length far beyond the frame.
    let mut consumer = c
        .streams()
        .consumer::<String>()
        .with_stream_id("shared-id")
        .build();
    within("subscribed", producer.when().online()).await;
    let ours = producer.consumers().next().expect("one subscriber");
    let theirs = within("consumer sees its channel", async {
        loop {
            if let Some(channel) = consumer.producers().next() {
                break channel;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    within("connected", async {
        let mut state = theirs.state_watcher();
        let _ = state.wait_for(|s| *s != State::Connecting).await;
    })
    .await;
    producer.send(1_000_000).await.unwrap();
    // The consumer closes the link itself (`ProtocolViolation`) and ends
    // that receiver for good instead of retrying on the same bytes.
    within("consumer ends its receiver", theirs.disconnected()).await;
    assert_eq!(theirs.state(), State::Terminated);
    assert_eq!(theirs.stats().datums(), 0, "nothing decoded");
    within("producer sees the consumer leave", ours.disconnected()).await;
    assert!(consumer.try_recv().is_none(), "nothing delivered");
}
