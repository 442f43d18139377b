//! Every timeout closes with a named reason (`TimedOut`, 408), never the
//! bare code 0 of a dropped connection.

use {
    crate::util::{attacker, close_code, fast, node, raw},
    core::time::Duration,
    mosaik::network::{Protocol, TimedOut},
    std::time::Instant,
};

const NET: &str = "hostile-timeouts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_exchanges_close_with_timed_out() {
    let victim = node(NET, fast()).await;
    let attacker = attacker().await;
    let expected = Some(u64::from(TimedOut::CODE));
    // (alpn, what the attacker sends before it stalls)
    let cases: [(&[u8], Vec<u8>); 5] = [
        // Half a catalog snapshot: the sync exchange times out.
        (mosaik::discovery::SyncProtocol::ALPN, {
            let mut b = 100u32.to_be_bytes().to_vec();
            b.extend([0u8; 10]);
            b
        }),
        // Half a departure notice.
        (
            mosaik::discovery::DepartProtocol::ALPN,
            vec![0, 0, 0, 50, 1],
        ),
        // Half a consumer handshake.
        (mosaik::streams::StreamsProtocol::ALPN, vec![0, 0, 0, 50, 1]),
        // A stream opened but no frame.
        (mosaik::discovery::PingProtocol::ALPN, vec![0, 0]),
        // Nothing at all: no stream ever opened.
        (mosaik::streams::StreamsProtocol::ALPN, vec![]),
    ];
    for (alpn, bytes) in cases {
        let conn = raw(&attacker, &victim, alpn).await.expect("connects");
        let mut _streams = None;
        if !bytes.is_empty() {
            let (mut send, recv) = conn.open_bi().await.unwrap();
            send.write_all(&bytes).await.unwrap();
            _streams = Some((send, recv));
        }
        let started = Instant::now();
        let code = close_code(&conn, Duration::from_secs(5)).await;
        println!(
            "{} stalled after {} bytes: closed with {code:?} after {:?}",
            String::from_utf8_lossy(alpn),
            bytes.len(),
            started.elapsed()
        );
        assert_eq!(code, expected, "{}", String::from_utf8_lossy(alpn));
    }
}
