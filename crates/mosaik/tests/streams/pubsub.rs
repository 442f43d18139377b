//! Basic publish/subscribe: defaults, ids, encodings, fan-out.

use {
    crate::util::{cluster, eventually, within},
    futures::{SinkExt, StreamExt},
    mosaik::{
        Bytes, Datum, StreamId,
        streams::{StreamDef, producer::BuilderError},
    },
    serde::{Deserialize, Serialize},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tick {
    seq: u64,
    note: String,
}

#[tokio::test]
async fn default_producer_reaches_default_consumer_in_order() {
    let nodes = cluster("streams-basic", 2).await;
    let producer = nodes[0].streams().produce::<Tick>();
    assert!(!producer.is_online(), "offline without subscribers");
    assert!(matches!(
        producer.try_send(Tick {
            seq: 0,
            note: String::new()
        }),
        Err(mosaik::streams::producer::Error::Offline(_))
    ));
    let mut consumer = nodes[1].streams().consume::<Tick>();
    within("producer online", producer.when().online()).await;
    for seq in 0..100 {
        producer
            .send(Tick {
                seq,
                note: format!("n{seq}"),
            })
            .await
            .unwrap();
    }
    for seq in 0..100 {
        let tick = within("datum", consumer.recv()).await.unwrap();
        assert_eq!(tick.seq, seq);
    }
    assert_eq!(consumer.stats().datums(), 100);
    assert!(consumer.stats().bytes() > 100);
    assert!(consumer.stats().uptime().is_some());
    let producers: Vec<_> = consumer.producers().collect();
    assert_eq!(producers.len(), 1);
    assert_eq!(producers[0].producer_id(), nodes[0].local().id());
    assert_eq!(producers[0].stats().datums(), 100);
    let consumers: Vec<_> = producer.consumers().collect();
    assert_eq!(consumers.len(), 1);
    assert_eq!(consumers[0].consumer_id(), nodes[1].local().id());
    eventually("producer-side stats", || {
        consumers[0].stats().datums() == 100
    })
    .await;
    assert!(consumers[0].stats().to_string().starts_with("100 datums"));
}

#[tokio::test]
async fn sink_and_stream_impls_and_custom_stream_id() {
    const ID: StreamId = mosaik::unique_id!("custom-ticks");
    let nodes = cluster("streams-sink", 2).await;
    let def = StreamDef::<u32>::with_stream_id(ID);
    let mut producer = nodes[0].streams().producer_of(def).build().unwrap();
    assert_eq!(*producer.stream_id(), ID);
    let mut consumer = nodes[1].streams().consumer_of(def).build();
    assert_eq!(*consumer.stream_id(), ID);
    // A consumer of the type-derived id gets nothing from this stream.
    let derived = nodes[1].streams().consume::<u32>();
    within("sink send", producer.send(7u32)).await.unwrap();
    within("sink send", SinkExt::send(&mut producer, 8u32))
        .await
        .unwrap();
    assert_eq!(within("stream next", consumer.next()).await, Some(7));
    assert_eq!(within("stream next", consumer.next()).await, Some(8));
    assert_eq!(derived.stats().datums(), 0);
    assert_eq!(derived.producers().count(), 0);
}

/// A datum with a hand-written wire format (not a serde type).
#[derive(Debug, PartialEq, Eq)]
struct Raw(Vec<u8>);

impl Datum for Raw {
    type DecodeError = std::io::Error;
    type EncodeError = std::io::Error;

    fn encode(&self) -> Result<Bytes, Self::EncodeError> {
        let mut out = vec![0xAB];
        out.extend_from_slice(&self.0);
        Ok(Bytes::from(out))
    }

    fn decode(bytes: &[u8]) -> Result<Self, Self::DecodeError> {
        match bytes.split_first() {
            Some((0xAB, rest)) => Ok(Self(rest.to_vec())),
            _ => Err(std::io::Error::other("missing magic byte")),
        }
    }
}

#[tokio::test]
async fn custom_datum_encoding_travels_verbatim() {
    let nodes = cluster("streams-raw", 2).await;
    let producer = nodes[0].streams().produce::<Raw>();
    let mut consumer = nodes[1].streams().consume::<Raw>();
    within("online", producer.when().online()).await;
    producer.send(Raw(b"hello".to_vec())).await.unwrap();
    assert_eq!(
        within("raw", consumer.recv()).await,
        Some(Raw(b"hello".to_vec()))
    );
    // One magic byte plus five payload bytes, no framing.
    assert_eq!(consumer.stats().bytes(), 6);
}

#[tokio::test]
async fn one_fanout_per_stream_id_and_type_mismatch_is_an_error() {
    let nodes = cluster("streams-registry", 1).await;
    let streams = nodes[0].streams();
    let first = streams
        .producer::<u64>()
        .with_buffer_size(7)
        .build()
        .unwrap();
    let Err(BuilderError::AlreadyExists(again)) = streams.producer::<u64>().build() else {
        panic!("second build must return the existing producer");
    };
    assert_eq!(again.config().buffer_size, 7, "original config retained");
    assert_eq!(streams.produce::<u64>().config().buffer_size, 7);
    let id = first.stream_id();
    let mismatch = streams.producer::<String>().with_stream_id(id).build();
    assert!(matches!(
        mismatch,
        Err(BuilderError::TypeMismatch { existing, .. }) if existing == "u64"
    ));
    let closed = streams
        .producer::<String>()
        .with_stream_id(id)
        .build_or_existing();
    assert!(matches!(
        closed.try_send("x".into()),
        Err(mosaik::streams::producer::Error::Closed(Some(_)))
    ));
    assert!(nodes[0].discovery().me().streams().contains(id));
}

#[tokio::test]
async fn every_consumer_gets_a_full_copy() {
    let nodes = cluster("streams-fanout", 3).await;
    let producer = nodes[0]
        .streams()
        .producer::<u64>()
        .online_when(|c| c.minimum_of(3))
        .build()
        .unwrap();
    let mut a = nodes[1].streams().consume::<u64>();
    let mut b = nodes[2].streams().consume::<u64>();
    // Two independent consumers on one node each get everything too.
    let mut c = nodes[2].streams().consume::<u64>();
    within("three subscribers", producer.when().online()).await;
    for i in 0..50u64 {
        producer.send(i).await.unwrap();
    }
    for consumer in [&mut a, &mut b, &mut c] {
        for i in 0..50u64 {
            assert_eq!(within("copy", consumer.recv()).await, Some(i));
        }
    }
}

/// Small encodings share a producer's chunk and large ones get their own
/// buffer; the last subscriber gets the encoding itself and the others a
/// copy. Datums of every size, across many chunks, must reach every
/// subscriber intact.
#[tokio::test]
async fn datums_of_every_size_reach_every_subscriber_intact() {
    let nodes = cluster("streams-sizes", 3).await;
    let producer = nodes[0]
        .streams()
        .producer::<Vec<u8>>()
        .online_when(|c| c.minimum_of(2))
        .build()
        .unwrap();
    let mut a = nodes[1].streams().consume::<Vec<u8>>();
    let mut b = nodes[2].streams().consume::<Vec<u8>>();
    within("two subscribers", producer.when().online()).await;
    // Small datums are copied into runs of frames (up to 4 KiB each, runs
    // of up to 16 KiB); larger ones are shared, and from 16 KiB written
    // without a copy; past the 256 KiB a scratch buffer keeps, the
    // encoding's own buffer is what is shared. The sizes cross each limit,
    // and small and large ones alternate, so runs and large datums
    // interleave in one queue.
    let datum = |i: usize| -> Vec<u8> { (0..i).map(|j| (i * 31 + j).to_le_bytes()[0]).collect() };
    let large = [
        4095, 4096, 4097, 8000, 16_379, 16_380, 16_384, 16_385, 70_000, 262_140, 300_000, 600_000,
    ];
    let sizes: Vec<usize> = (0..=600)
        .chain(large.iter().flat_map(|&n| [n, 3, n, 64]))
        .collect();
    for &i in &sizes {
        producer.send(datum(i)).await.unwrap();
    }
    for consumer in [&mut a, &mut b] {
        for &i in &sizes {
            assert_eq!(within("datum", consumer.recv()).await, Some(datum(i)));
        }
    }
}

/// Receivers hand datums over in batches (up to 64, or the buffer size):
/// bursts must still arrive whole and in order, through every way of
/// reading, with a delivery channel smaller than one burst.
#[tokio::test]
async fn bursts_arrive_whole_and_in_order_through_a_small_delivery_channel() {
    let nodes = cluster("streams-bursts", 2).await;
    let producer = nodes[0].streams().producer::<u64>().build().unwrap();
    let mut consumer = nodes[1]
        .streams()
        .consumer::<u64>()
        .with_buffer_size(10)
        .build();
    within("producer online", producer.when().online()).await;
    let (window, windows) = (500u64, 6u64);
    let mut next = 0u64;
    for w in 0..windows {
        // A whole window queued before anything is read: the receiver
        // meets a full delivery channel and waits on it.
        for seq in w * window..(w + 1) * window {
            producer.send(seq).await.unwrap();
        }
        while next < (w + 1) * window {
            let got = match next % 3 {
                0 => within("recv", consumer.recv()).await,
                1 => match consumer.try_recv() {
                    Some(datum) => Some(datum),
                    None => within("recv", consumer.recv()).await,
                },
                _ => within("next", consumer.next()).await,
            };
            assert_eq!(got, Some(next), "datum {next}");
            next += 1;
        }
    }
    assert_eq!(consumer.try_recv(), None, "nothing beyond what was sent");
    assert_eq!(
        consumer.stats().datums(),
        usize::try_from(window * windows).unwrap()
    );
}
