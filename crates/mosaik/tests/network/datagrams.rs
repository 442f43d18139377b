//! How large a node's QUIC datagrams grow (`with_max_datagram_size`).

use {
    crate::util::{Echo, TIMEOUT, loopback, loopback_builder, within},
    bytes::Bytes,
    mosaik::{
        Network,
        network::{Link, NetworkError},
    },
};

/// 4 MiB in frames of 64 KiB: enough for path-MTU discovery, which starts
/// right after the handshake, to finish early in the transfer.
const FRAMES: usize = 64;
const FRAME: usize = 64 * 1024;

/// A loopback node whose datagrams grow to at most `max` bytes.
async fn loopback_with(network: &str, max: u16) -> Network {
    loopback_builder(network)
        .with_max_datagram_size(max)
        .build()
        .await
        .expect("network starts")
}

/// Sends [`FRAMES`] frames from `a` to `b` and returns the dialer's
/// (largest datagram seen, average UDP payload per datagram) on its
/// connection once the acceptor has read every byte.
async fn transfer(a: &Network, b: &Network) -> (u64, u64) {
    let mut listener = b.listen::<Echo>().unwrap();
    let mut dialer: Link<Echo> = within(a.local().connect::<Echo>(b.local().addr()))
        .await
        .unwrap();
    let payload = Bytes::from(vec![7u8; FRAME]);
    dialer.send_raw(payload.clone()).await.unwrap();
    let mut acceptor = within(listener.accept()).await.unwrap().unwrap();
    let reader = tokio::spawn(async move {
        for _ in 0..FRAMES {
            let frame = acceptor.recv_frame_raw().await.unwrap();
            assert_eq!(frame.len(), FRAME);
        }
        acceptor
    });
    for _ in 1..FRAMES {
        dialer.send_raw(payload.clone()).await.unwrap();
    }
    let acceptor = tokio::time::timeout(TIMEOUT, reader)
        .await
        .expect("the acceptor read every frame in time")
        .unwrap();
    let stats = dialer.connection().stats();
    let paths = dialer.connection().paths();
    let largest = paths
        .iter()
        .map(|path| u64::from(path.stats().current_mtu))
        .max()
        .unwrap_or(0);
    drop(acceptor);
    (largest, stats.udp_tx.bytes / stats.udp_tx.datagrams.max(1))
}

/// By default, loopback links grow their datagrams far past an Ethernet
/// packet (1,452 bytes of QUIC payload), up to the default bound.
#[tokio::test]
async fn loopback_datagrams_grow_past_an_ethernet_packet() {
    let a = loopback("datagrams-default").await;
    let b = loopback("datagrams-default").await;
    let (largest, average) = transfer(&a, &b).await;
    assert!(
        largest > 8_192 && largest <= 16_384,
        "the path's MTU after discovery: {largest}"
    );
    assert!(average > 4_096, "average datagram: {average} bytes");
}

/// A node set to 1,452 bytes keeps iroh's own bound: no datagram of its
/// grows past one Ethernet packet, even on loopback.
#[tokio::test]
async fn a_node_bound_to_an_ethernet_packet_keeps_its_datagrams_small() {
    let a = loopback_with("datagrams-small", 1_452).await;
    let b = loopback("datagrams-small").await;
    let (largest, average) = transfer(&a, &b).await;
    assert!(largest <= 1_452, "the path's MTU: {largest}");
    assert!(average <= 1_452, "average datagram: {average} bytes");
}

/// A bound below what every QUIC path carries is refused at start.
#[tokio::test]
async fn a_bound_below_the_quic_minimum_is_refused() {
    let err = loopback_builder("datagrams-refused")
        .with_max_datagram_size(1_000)
        .build()
        .await
        .expect_err("refused");
    assert!(
        matches!(err, NetworkError::InvalidDatagramSize(1_000)),
        "{err}"
    );
}
