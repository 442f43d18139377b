//! mosaik patch: an ACK_FREQUENCY frame is written only into a packet with room for it.
//!
//! When a new ACK_FREQUENCY frame was due, the packet builder wrote it without checking
//! the room left in the packet. A packet that starts with little room (a 1-RTT packet
//! coalesced behind a handshake packet, or one after several ACK frames) then ran past its
//! end and the builder panicked ("advance out of bounds"), aborting the application that
//! enabled ACK frequency. With the patch the frame waits for a packet with room.

use core::time::Duration;

use crate::frame::AckFrequency;

/// The encoding of the frame this connection sends: its 2-byte type, a 1-byte sequence
/// number and ack-eliciting threshold (10), the 4-byte 30 ms delay in microseconds and a
/// 1-byte reordering threshold.
const FRAME_LEN: usize = 2 + 1 + 1 + 4 + 1;

#[test]
fn ack_frequency_waits_for_a_packet_with_room() {
    let _guard = super::subscribe();
    let (mut pair, client_ch, _server_ch) =
        super::setup_ack_frequency_test(Duration::from_millis(30));
    let now = pair.time;
    let conn = pair.client_conn_mut(client_ch);

    let mut rooms_too_small = 0;
    let mut written = 0;
    // Datagrams from barely a packet to one with room for the frame; before the patch
    // the first of them panicked inside the builder.
    for datagram_size in 32..=80 {
        let (room, sent) = conn.populate_small_packet(now, datagram_size);
        if room < AckFrequency::SIZE_BOUND {
            assert!(!sent, "ACK_FREQUENCY written with {room} bytes of room");
            if room < FRAME_LEN {
                rooms_too_small += 1;
            }
        } else {
            assert!(sent, "ACK_FREQUENCY not written with {room} bytes of room");
            written += 1;
        }
    }
    assert!(
        rooms_too_small > 0,
        "no packet had less room than the frame: the test covers nothing"
    );
    assert!(written > 0, "no packet had room for the frame's bound");
}
