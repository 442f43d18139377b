//! mosaik patch (n0-computer/noq#367): a closing packet never overflows with ACKs.
//!
//! Before the CONNECTION_CLOSE, a closing endpoint writes an ACK (with multipath, a
//! PATH_ACK) for every path that still has packets to acknowledge. Each path keeps up to
//! 64 ranges and a peer decides how far apart they are (it picks its packet numbers), so
//! those frames can exceed a whole packet; writing them unchecked panicked inside the
//! packet builder. With the patch an ACK that does not fit is left out (the peer is
//! closing anyway) and the close is always written.

use alloc::{vec, vec::Vec};

use assert_matches::assert_matches;
use testresult::TestResult;

use super::util::ConnPair;
use crate::{Event, FourTuple, PathStatus, Side::*};

/// Packet numbers with gaps of 2^32 between them: every gap and the largest number take
/// an 8-byte varint, so one path's ACK frame is close to 600 bytes.
fn spread_packet_numbers(base: u64) -> Vec<u64> {
    (0..64u64).map(|i| base + (i << 32)).collect()
}

/// A multipath connection with three paths whose client holds 64 widely spread
/// packet numbers to acknowledge on each of them.
fn pair_with_wide_acks() -> Result<(ConnPair, Vec<crate::PathId>), testresult::TestError> {
    let mut builder = ConnPair::builder().with_mtu(1200).enable_multipath();
    builder.server_transport_cfg.max_idle_timeout = None;
    builder.client_transport_cfg.max_idle_timeout = None;
    let mut pair = builder.connect();

    // Two more paths next to PathId::ZERO.
    let server_addr = pair.routes.public_server_addr();
    let mut paths = vec![crate::PathId::ZERO];
    for _ in 0..2 {
        let id = pair.open_path(
            Client,
            FourTuple::from_remote(server_addr),
            PathStatus::Available,
        )?;
        pair.drive();
        assert_matches!(
            pair.poll(Client),
            Some(Event::Path(crate::PathEvent::Established { id: got })) if got == id
        );
        paths.push(id);
    }
    while pair.poll(Server).is_some() {}

    let now = pair.time;
    for (i, &path) in paths.iter().enumerate() {
        let base = (1 << 40) + (i as u64) * (1 << 45);
        pair.conn_mut(Client)
            .insert_pending_acks(path, &spread_packet_numbers(base), now);
    }

    Ok((pair, paths))
}

#[test]
fn closing_with_wide_acks_on_every_path_writes_the_close() -> TestResult {
    let _guard = super::subscribe();
    let (mut pair, paths) = pair_with_wide_acks()?;
    let before = pair.stats(Client).frame_tx;
    // Before the patch this panicked inside the packet builder ("advance out of bounds").
    pair.close(Client, 42, b"done");
    pair.drive();
    assert!(pair.is_closed(Client));
    let after = pair.stats(Client).frame_tx;
    assert!(after.connection_close > before.connection_close, "no CONNECTION_CLOSE sent");
    // The first path's ACK fits next to the close; the other two are left out.
    assert!(after.path_acks > before.path_acks, "no PATH_ACK in the closing packet");
    assert!(
        after.path_acks - before.path_acks < paths.len() as u64,
        "every wide PATH_ACK was written: the packet would have overflowed"
    );
    // The server got the packet. It reports the ACKs of packet numbers it never sent (the
    // test made them up), or the close when it reads that first: either way, it is gone.
    assert_matches!(pair.poll(Server), Some(Event::ConnectionLost { .. }));
    Ok(())
}

#[test]
fn wide_acks_on_every_path_spread_over_packets() -> TestResult {
    let _guard = super::subscribe();
    let (mut pair, paths) = pair_with_wide_acks()?;
    let sent = pair.stats(Client).udp_tx.datagrams;
    let before = pair.stats(Client).frame_tx;
    // Ordinary packets: an ACK that does not fit waits for the next one.
    pair.drive_client();
    let after = pair.stats(Client).frame_tx;
    assert!(
        after.path_acks - before.path_acks >= paths.len() as u64,
        "some path's ACK was never sent"
    );
    assert!(
        pair.stats(Client).udp_tx.datagrams - sent >= 2,
        "three wide ACKs fit in one 1200-byte packet?"
    );
    Ok(())
}
