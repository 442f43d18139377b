//! Typed links between two real networks.

use {
    crate::util::{Echo, Lazy, Other, loopback, loopback_limited, within},
    mosaik::{
        iroh::endpoint::ConnectionError,
        network::{
            AcceptError, InvalidAlpn, Link, LinkSender, ProtocolViolation, RecvError, Success,
        },
    },
    serde::{Deserialize, Serialize},
    tokio_util::sync::CancellationToken,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Hello { name: String, n: u32 },
    Bye,
}

#[tokio::test]
async fn typed_messages_flow_both_ways() {
    let a = loopback("links-both-ways").await;
    let b = loopback("links-both-ways").await;
    let mut listener = b.listen::<Echo>().unwrap();
    let server = tokio::spawn(async move {
        let mut link = listener.accept().await.unwrap().unwrap();
        for _ in 0..3 {
            let msg: Msg = link.recv().await.unwrap();
            let Msg::Hello { name, n } = msg else {
                panic!("unexpected")
            };
            link.send(&Msg::Hello {
                name: name.to_uppercase(),
                n: n + 1,
            })
            .await
            .unwrap();
        }
        assert_eq!(link.recv::<Msg>().await.unwrap(), Msg::Bye);
        // The initiator closes with Success once done.
        within(link.closed()).await.unwrap();
        listener
    });

    let mut link = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    assert_eq!(link.remote_id(), b.local().id());
    for n in 0..3 {
        link.send(&Msg::Hello {
            name: format!("x{n}"),
            n,
        })
        .await
        .unwrap();
        let reply: Msg = within(link.recv()).await.unwrap();
        assert_eq!(
            reply,
            Msg::Hello {
                name: format!("X{n}"),
                n: n + 1
            }
        );
    }
    link.send(&Msg::Bye).await.unwrap();
    link.close(Success).await.unwrap();
    within(server).await.unwrap();
}

#[tokio::test]
async fn split_halves_work_from_separate_tasks_and_share_randomness() {
    let a = loopback("links-split").await;
    let b = loopback("links-split").await;
    let mut listener = b.listen::<Echo>().unwrap();
    let mut link = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    link.send(&0u64).await.unwrap();
    let remote = within(listener.accept()).await.unwrap().unwrap();
    assert_eq!(link.shared_random("label"), remote.shared_random("label"));
    assert_ne!(link.shared_random("label"), link.shared_random("other"));

    let (mut tx, mut rx) = remote.split();
    let echo = tokio::spawn(async move {
        assert_eq!(rx.recv::<u64>().await.unwrap(), 0);
        loop {
            match rx.recv::<u64>().await {
                Ok(v) => tx.send(&(v * 2)).await.unwrap(),
                Err(_) => return Link::join(tx, rx),
            }
        }
    });
    for v in 1..=100u64 {
        link.send(&v).await.unwrap();
    }
    for v in 1..=100u64 {
        assert_eq!(within(link.recv::<u64>()).await.unwrap(), v * 2);
    }
    link.close(Success).await.unwrap();
    let joined = within(echo).await.unwrap();
    assert_eq!(joined.remote_id(), a.local().id());
}

#[tokio::test]
async fn wrong_alpn_is_refused_with_invalid_alpn() {
    let a = loopback("links-alpn").await;
    let b = loopback("links-alpn").await;
    let mut listener = b.listen::<Echo>().unwrap();
    let mut link = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    link.send(&1u8).await.unwrap();
    let conn = within(listener.next_connection()).await.unwrap();
    // The connection speaks Echo; accepting it as Other must fail.
    let err = Link::<Other>::accept(conn, CancellationToken::new(), 1024, crate::util::TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, AcceptError::InvalidAlpn { .. }), "{err:?}");
    let err = within(link.recv::<u8>()).await.unwrap_err();
    let close = err.close_reason().expect("closed with a reason");
    assert_eq!(*close, InvalidAlpn);
}

#[tokio::test]
async fn oversized_frame_closes_without_allocating() {
    let a = loopback("links-oversize").await;
    let b = loopback("links-oversize").await;
    let mut listener = b.listen::<Echo>().unwrap();
    // Raw QUIC: announce a 4 GiB frame (length prefix 0xffffffff).
    let conn = within(a.local().endpoint().connect(b.local().addr(), Echo::ALPN))
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    let mut link = within(listener.accept()).await.unwrap().unwrap();
    let err = within(link.recv::<Vec<u8>>()).await.unwrap_err();
    assert!(
        matches!(err, RecvError::FrameTooLarge { limit } if limit == 16 << 20),
        "{err:?}"
    );
    match within(conn.closed()).await {
        ConnectionError::ApplicationClosed(close) => assert_eq!(close, ProtocolViolation),
        other => panic!("unexpected close: {other:?}"),
    }
}

use mosaik::network::Protocol as _;

#[tokio::test]
async fn garbage_bytes_close_with_protocol_violation() {
    let a = loopback("links-garbage").await;
    let b = loopback("links-garbage").await;
    let mut listener = b.listen::<Echo>().unwrap();
    let conn = within(a.local().endpoint().connect(b.local().addr(), Echo::ALPN))
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    // A well-formed frame whose payload is not a valid `Msg`.
    send.write_all(&[0, 0, 0, 3, 0xfe, 0xfe, 0xfe])
        .await
        .unwrap();
    let mut link = within(listener.accept()).await.unwrap().unwrap();
    let err = within(link.recv::<Msg>()).await.unwrap_err();
    assert!(matches!(err, RecvError::Decode(_)), "{err:?}");
    match within(conn.closed()).await {
        ConnectionError::ApplicationClosed(close) => assert_eq!(close, ProtocolViolation),
        other => panic!("unexpected close: {other:?}"),
    }
    // The node is still fine: a fresh, well-behaved link works.
    let mut good = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    good.send(&Msg::Bye).await.unwrap();
    let mut server_side = within(listener.accept()).await.unwrap().unwrap();
    assert_eq!(within(server_side.recv::<Msg>()).await.unwrap(), Msg::Bye);
}

#[tokio::test]
async fn configured_frame_limit_applies_to_both_directions() {
    let a = loopback("links-limit").await;
    let b = loopback_limited("links-limit", Some(64)).await;
    let mut listener = b.listen::<Echo>().unwrap();
    let mut link = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    link.send(&vec![7u8; 200]).await.unwrap();
    let mut server = within(listener.accept()).await.unwrap().unwrap();
    let err = within(server.recv::<Vec<u8>>()).await.unwrap_err();
    assert!(
        matches!(err, RecvError::FrameTooLarge { limit: 64 }),
        "{err:?}"
    );
    // The sender side refuses to send frames over its own limit.
    let _a_listener = a.listen::<Echo>().unwrap();
    let mut small = within(b.local().connect::<Echo>(a.local().addr()))
        .await
        .unwrap();
    let err = small.send(&vec![0u8; 100]).await.unwrap_err();
    assert!(
        matches!(
            err,
            mosaik::network::SendError::FrameTooLarge {
                size: 101,
                limit: 64
            }
        ),
        "{err:?}"
    );
    // Within the limit still works.
    small.send(&vec![0u8; 10]).await.unwrap();
}

/// Frames of 16 KiB and more go to the stream without the codec's buffer
/// (`DIRECT_WRITE_BYTES`); mixed with small buffered ones they still
/// arrive whole and in order.
#[tokio::test]
async fn large_frames_written_directly_keep_their_order() {
    let a = loopback("links-large-frames").await;
    let b = loopback("links-large-frames").await;
    let mut listener = b.listen::<Echo>().unwrap();
    let link = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    let sizes = [10usize, 20_000, 5, 70_000, 16 * 1024, 3, 16 * 1024 - 1];
    let frames = sizes
        .iter()
        .zip(1u8..)
        .map(|(&len, fill)| bytes::Bytes::from(vec![fill; len]));
    let (mut tx, _rx) = link.split();
    let mut batch: Vec<_> = frames.clone().take(4).collect();
    tx.feed_raw_all(&mut batch).await.unwrap();
    for frame in frames.clone().skip(4) {
        tx.feed_raw(frame).await.unwrap();
    }
    tx.flush().await.unwrap();
    let mut remote = within(listener.accept()).await.unwrap().unwrap();
    for want in frames {
        let got = within(remote.recv_frame_raw()).await.unwrap();
        assert_eq!(got.len(), want.len());
        assert_eq!(&got[..], &want[..]);
    }
}

/// A batch with one frame over the limit is refused whole: the error names
/// that frame, the batch is left as it was, and nothing of it reaches the
/// peer (the next frame sent is the first one it receives).
#[tokio::test]
async fn a_batch_with_one_oversized_frame_takes_nothing() {
    let a = loopback_limited("links-batch-limit", Some(64)).await;
    let b = loopback_limited("links-batch-limit", Some(64)).await;
    let (link, mut remote) = opened_and_accepted(&a, &b).await;
    let (mut tx, _rx) = link.split();
    let frames = [vec![1u8; 10], vec![2u8; 65], vec![3u8; 10]].map(bytes::Bytes::from);
    let mut batch = frames.to_vec();
    let err = tx.feed_raw_all(&mut batch).await.unwrap_err();
    assert!(
        matches!(
            err,
            mosaik::network::SendError::FrameTooLarge {
                size: 65,
                limit: 64
            }
        ),
        "{err:?}"
    );
    assert_eq!(batch, frames, "the batch is handed back untouched");
    tx.flush().await.unwrap();
    tx.send_raw(bytes::Bytes::from_static(b"after"))
        .await
        .unwrap();
    let first = within(remote.recv_frame_raw()).await.unwrap();
    assert_eq!(
        &first[..],
        b"after",
        "no frame of the refused batch was sent"
    );
}

/// `a` opens a link to `b`, which accepts it once the opener's first
/// frame arrives: (the opener's end, the acceptor's end).
async fn opened_and_accepted(a: &mosaik::Network, b: &mosaik::Network) -> (Link<Echo>, Link<Echo>) {
    let mut listener = b.listen::<Echo>().unwrap();
    let mut link = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    // QUIC announces the stream to the acceptor once data arrives on it.
    link.send_raw(bytes::Bytes::from_static(b"hi"))
        .await
        .unwrap();
    let mut remote = within(listener.accept()).await.unwrap().unwrap();
    assert_eq!(&within(remote.recv_frame_raw()).await.unwrap()[..], b"hi");
    (link, remote)
}

/// Writes `frames` and flushes them.
async fn send_all(tx: &mut LinkSender<Echo>, mut frames: Vec<bytes::Bytes>) {
    tx.feed_raw_all(&mut frames).await.unwrap();
    tx.flush().await.unwrap();
}

/// Appends every frame `link` can hand out in place to `got`.
fn take_all(link: &mut Link<Echo>, got: &mut Vec<Vec<u8>>) -> usize {
    link.take_buffered(usize::MAX, |payload| {
        got.push(payload.to_vec());
        true
    })
}

/// Frames the link already read can be taken in place, in order, right
/// after a received frame; the next receive carries on after them.
#[tokio::test]
async fn buffered_frames_are_taken_in_place_in_order() {
    let a = loopback("links-in-place").await;
    let b = loopback("links-in-place").await;
    let (mut link, remote) = opened_and_accepted(&a, &b).await;
    let frame = |n: usize| -> Vec<u8> { (0..n % 50).map(|i| (n + i).to_le_bytes()[0]).collect() };
    let total = 300;
    let (mut tx, _rx) = remote.split();
    send_all(&mut tx, (0..total).map(|n| frame(n).into()).collect()).await;
    // Nothing received yet: the buffer's start is not known to be a frame.
    assert_eq!(link.take_buffered(usize::MAX, |_| true), 0);
    let mut got = Vec::new();
    let mut in_place = 0;
    while got.len() < total {
        got.push(within(link.recv_frame_raw()).await.unwrap().to_vec());
        // At most `max`, and `each` returning false stops it.
        let mut seen = 0;
        let taken = link.take_buffered(2, |payload| {
            seen += 1;
            got.push(payload.to_vec());
            true
        });
        assert!(taken <= 2 && taken == seen);
        let stopped = link.take_buffered(usize::MAX, |payload| {
            got.push(payload.to_vec());
            false
        });
        assert!(stopped <= 1);
        in_place += taken + stopped + take_all(&mut link, &mut got);
    }
    assert_eq!(got, (0..total).map(frame).collect::<Vec<_>>());
    assert!(in_place > 0, "every frame came through a receive");
}

/// Reading in place stops at a frame above the limit: the next receive
/// refuses it as usual, and nothing after it is handed out.
#[tokio::test]
async fn frames_taken_in_place_stop_at_one_above_the_limit() {
    let a = loopback_limited("links-in-place-limit", Some(64)).await;
    let b = loopback("links-in-place-limit").await;
    let (mut link, remote) = opened_and_accepted(&a, &b).await;
    let (mut tx, _rx) = remote.split();
    let small = |n: u8| bytes::Bytes::from(vec![n; 10]);
    let mut frames: Vec<_> = (1..=5).map(small).collect();
    frames.push(bytes::Bytes::from(vec![0; 200]));
    frames.push(small(6));
    send_all(&mut tx, frames).await;
    let mut got = Vec::new();
    let err = loop {
        match within(link.recv_frame_raw()).await {
            Ok(frame) => got.push(frame.to_vec()),
            Err(err) => break err,
        }
        take_all(&mut link, &mut got);
    };
    assert!(
        matches!(err, RecvError::FrameTooLarge { limit: 64 }),
        "{err:?}"
    );
    assert_eq!(got, (1..=5).map(|n| vec![n; 10]).collect::<Vec<_>>());
}

/// An acceptor reads nothing in place until it admits the peer: until
/// then every frame must go through the budget of unauthenticated bytes.
#[tokio::test]
async fn frames_are_not_taken_in_place_before_admission() {
    let a = loopback("links-in-place-admit").await;
    let b = loopback("links-in-place-admit").await;
    // Accepted, and not admitted: `accept` leaves that to the acceptor.
    let (link, mut remote) = opened_and_accepted(&a, &b).await;
    let (mut tx, _rx) = link.split();
    send_all(&mut tx, (1..=40u8).map(|n| vec![n; 8].into()).collect()).await;
    let mut got = vec![within(remote.recv_frame_raw()).await.unwrap().to_vec()];
    // Wait until more than the first frame has been read, so that an
    // in-place read would have something to take.
    while got.len() < 3 {
        got.push(within(remote.recv_frame_raw()).await.unwrap().to_vec());
        assert_eq!(remote.take_buffered(usize::MAX, |_| true), 0);
    }
    remote.admit();
    while got.len() < 40 {
        take_all(&mut remote, &mut got);
        if got.len() < 40 {
            got.push(within(remote.recv_frame_raw()).await.unwrap().to_vec());
        }
    }
    assert_eq!(got, (1..=40u8).map(|n| vec![n; 8]).collect::<Vec<_>>());
}

/// How many `ACK_FREQUENCY` frames (a peer asking for fewer acknowledgements)
/// each end of a fresh link of `P` received once `rounds` messages went
/// back and forth: (dialer, acceptor).
async fn ack_frequency_requests<P: mosaik::network::Protocol>(
    name: &str,
    rounds: u32,
) -> (u64, u64) {
    let a = loopback(name).await;
    let b = loopback(name).await;
    let mut listener = b.listen::<P>().unwrap();
    let mut dialer = within(a.local().connect::<P>(b.local().addr()))
        .await
        .unwrap();
    dialer.send(&0u32).await.unwrap();
    let mut acceptor = within(listener.accept()).await.unwrap().unwrap();
    for n in 0..rounds {
        assert_eq!(within(acceptor.recv::<u32>()).await.unwrap(), n);
        acceptor.send(&n).await.unwrap();
        assert_eq!(within(dialer.recv::<u32>()).await.unwrap(), n);
        dialer.send(&(n + 1)).await.unwrap();
    }
    let received =
        |link: &mosaik::network::Link<P>| link.connection().stats().frame_rx.ack_frequency;
    (received(&dialer), received(&acceptor))
}

/// A protocol with `ACK_ELICITING_THRESHOLD` has both ends of its links ask
/// for fewer acknowledgements: the dialer through its connect options, the
/// acceptor through the settings its router picks from the ALPN of the
/// TLS client hello. A protocol without keeps QUIC's default at both ends.
#[tokio::test]
async fn a_protocol_asks_both_ends_for_fewer_acknowledgements() {
    // Sent once the connection has a round-trip estimate: a few rounds.
    let (dialer, acceptor) = ack_frequency_requests::<Lazy>("links-lazy-acks", 20).await;
    assert!(dialer >= 1, "the acceptor asked the dialer: {dialer}");
    assert!(acceptor >= 1, "the dialer asked the acceptor: {acceptor}");
    let (dialer, acceptor) = ack_frequency_requests::<Echo>("links-default-acks", 20).await;
    assert_eq!((dialer, acceptor), (0, 0), "nobody asked");
}
