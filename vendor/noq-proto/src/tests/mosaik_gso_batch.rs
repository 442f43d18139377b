//! mosaik patch: a GSO batch never exceeds what one UDP send can carry.
//!
//! A batch of datagrams from `poll_transmit` (a GSO batch) leaves in one `sendmsg`, whose
//! payload the kernel caps at 65,507 bytes. The driver offers 10 datagrams per batch, so
//! once MTU discovery grows packets past about 6.5 KB an unbounded batch exceeds that
//! limit; the kernel rejects it with EMSGSIZE, which the send path ignores (as it must
//! for MTU probes), and every datagram of the batch is lost. With the patch the
//! connection puts fewer datagrams into a batch instead.
//!
//! The simulated network here splits any batch into its datagrams and delivers them, so
//! an oversize batch would arrive anyway: the size of every transmit is what is checked.

use alloc::{vec, vec::Vec};
use core::num::NonZeroUsize;

use bytes::Bytes;
use testresult::TestResult;

use super::util::ConnPair;
use crate::{Dir, EndpointConfig, MtuDiscoveryConfig, PathId, Side::*, Transmit};

/// The largest UDP payload one send may carry: a 65,535-byte IPv4 datagram less its
/// 20-byte IP header and the 8-byte UDP header.
const UDP_SEND_LIMIT: usize = 65_507;

/// The datagrams per batch noq's driver offers `poll_transmit`.
const DRIVER_BATCH: NonZeroUsize = NonZeroUsize::new(10).expect("known");

/// A link like loopback: it carries datagrams of 16 KiB, and both sides may discover that.
const LINK_MTU: u16 = 16_384;

/// The largest datagram without MTU discovery past the Ethernet default.
const ETHERNET_DATAGRAM: usize = 1_452;

/// What the checked sends of the client produced.
#[derive(Default)]
struct Sent {
    /// Datagrams in all transmits.
    datagrams: u64,
    /// The largest transmit, in bytes.
    largest_transmit: usize,
    /// Transmits holding more than one datagram.
    batches: u64,
    /// Datagrams larger than [`ETHERNET_DATAGRAM`].
    jumbo_datagrams: u64,
}

/// A connected pair on a 16 KiB link whose MTU discovery has finished.
fn jumbo_pair() -> ConnPair {
    let mut mtud = MtuDiscoveryConfig::default();
    mtud.upper_bound(LINK_MTU);
    let mut builder = ConnPair::builder().with_mtu(LINK_MTU.into());
    builder
        .client_transport_cfg
        .mtu_discovery_config(Some(mtud.clone()));
    builder
        .server_transport_cfg
        .mtu_discovery_config(Some(mtud));
    let mut pair = builder.connect();
    pair.drive();
    pair
}

/// Polls the client's connection as noq's driver does (10 datagrams offered per call),
/// checking every transmit, and queues its datagrams for [`ConnPair::drive_client`] to
/// deliver. Incoming datagrams, timers and endpoint events are handled first, the way
/// `TestEndpoint::drive` does it, so the endpoint's own poll finds nothing left to send.
fn send_from_client(pair: &mut ConnPair, sent: &mut Sent) {
    let now = pair.time;
    pair.client.drive_incoming(now);
    let ch = *pair
        .client
        .connections
        .keys()
        .next()
        .expect("one connection");
    let events: Vec<_> = pair
        .client
        .conn_events
        .drain()
        .flat_map(|(_, events)| events)
        .collect();
    for event in events {
        pair.conn_mut(Client).handle_event(event);
    }
    if pair.conn(Client).poll_timeout().is_some_and(|t| t <= now) {
        pair.conn_mut(Client).handle_timeout(now);
    }
    while let Some(event) = pair.conn_mut(Client).poll_endpoint_events() {
        if let Some(event) = pair.client.handle_event(ch, event) {
            pair.conn_mut(Client).handle_event(event);
        }
    }

    let mut buf = Vec::new();
    while let Some(transmit) = pair
        .conn_mut(Client)
        .poll_transmit(now, DRIVER_BATCH, &mut buf)
    {
        assert!(
            transmit.size <= UDP_SEND_LIMIT,
            "a transmit of {} bytes ({} datagrams of {:?} bytes) exceeds one UDP send \
             ({UDP_SEND_LIMIT} bytes): the kernel would drop the whole batch",
            transmit.size,
            transmit
                .size
                .div_ceil(transmit.segment_size.unwrap_or(transmit.size)),
            transmit.segment_size,
        );
        sent.largest_transmit = sent.largest_transmit.max(transmit.size);
        let datagram_size = transmit.segment_size.unwrap_or(transmit.size);
        for datagram in buf[..transmit.size].chunks(datagram_size) {
            sent.datagrams += 1;
            if datagram.len() > ETHERNET_DATAGRAM {
                sent.jumbo_datagrams += 1;
            }
            pair.client.outbound.push_back((
                Transmit {
                    size: datagram.len(),
                    segment_size: None,
                    ..transmit
                },
                Bytes::copy_from_slice(datagram),
            ));
        }
        if transmit
            .segment_size
            .is_some_and(|size| size < transmit.size)
        {
            sent.batches += 1;
        }
        buf.clear();
    }
}

#[test]
fn a_gso_batch_never_exceeds_one_udp_send() -> TestResult {
    let _guard = super::subscribe();
    // The endpoints announce that they accept datagrams this large (mosaik's default);
    // otherwise discovery would stop at what the peer accepts.
    assert_eq!(
        EndpointConfig::default().get_max_udp_payload_size(),
        u64::from(LINK_MTU)
    );
    let mut pair = jumbo_pair();

    // Discovery went well past the Ethernet size; past about 6.5 KB, 10 datagrams no
    // longer fit in one send.
    let mtu = pair
        .path_stats(Client, PathId::ZERO)
        .expect("path zero")
        .current_mtu;
    assert!(
        usize::from(mtu) * DRIVER_BATCH.get() > UDP_SEND_LIMIT,
        "MTU discovery stopped at {mtu} bytes: 10 datagrams fit in one send, the test covers nothing"
    );

    // 1 MiB: enough for slow start to open the congestion window to many datagrams at once,
    // and within the default stream and connection flow-control windows.
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let stream = pair.streams(Client).open(Dir::Uni).expect("a stream");
    let written = pair.send_stream(Client, stream).write(&data)?;
    assert_eq!(written, data.len(), "the stream took only part of the data");
    pair.send_stream(Client, stream).finish()?;

    let mut sent = Sent::default();
    let mut received = vec![];
    for _ in 0..10_000 {
        let before = pair.stats(Client).udp_tx.datagrams;
        let checked = sent.datagrams;
        send_from_client(&mut pair, &mut sent);
        pair.drive_client();
        assert_eq!(
            pair.stats(Client).udp_tx.datagrams - before,
            sent.datagrams - checked,
            "the client sent datagrams outside the checked poll"
        );
        pair.drive_server();
        // Read what arrived, so the server keeps extending flow-control credit. Before the
        // stream's first frame and after its end is read, there is no stream to read.
        let mut recv = pair.recv_stream(Server, stream);
        if let Ok(mut chunks) = recv.read(true) {
            while let Ok(Some(chunk)) = chunks.next(usize::MAX) {
                received.extend_from_slice(&chunk.bytes);
            }
            let _ = chunks.finalize();
        }
        if pair.client.is_idle() && pair.server.is_idle() {
            break;
        }
        pair.advance_time();
    }

    assert!(
        received.len() == data.len() && received == data,
        "the server received {} of {} bytes",
        received.len(),
        data.len()
    );
    assert!(sent.batches > 0, "no transmit held more than one datagram");
    assert!(
        sent.jumbo_datagrams > 0,
        "no datagram was larger than {ETHERNET_DATAGRAM} bytes"
    );
    assert!(
        sent.largest_transmit > usize::from(mtu),
        "no batch of datagrams larger than the MTU of {mtu} bytes"
    );
    Ok(())
}
