//! The cap on QUIC handshakes in progress (`with_max_pending_handshakes`):
//! an attacker that starts handshakes and never finishes them holds at most
//! that many; the next ones are refused before any TLS work, and the slots
//! come back when the stalled handshakes time out.
//!
//! The attacker is a bare QUIC client (noq-proto, no iroh): it sends the
//! first packet of a handshake whose TLS client hello does not fit in one
//! packet (a long ALPN list) and nothing after it, so the victim can neither
//! finish nor fail the handshake until its accept timeout.

use {
    crate::util::{fast, node_with, within},
    core::{num::NonZeroUsize, time::Duration},
    mosaik::{Network, discovery::SyncProtocol},
    noq_proto::{
        ClientConfig, ConnectionError, ConnectionHandle, DatagramEvent, Endpoint, EndpointConfig,
        Event, TransportErrorCode,
    },
    std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Instant},
    tokio::net::UdpSocket,
};

const NET: &str = "hostile-handshakes";

/// Bare QUIC connections whose handshakes never go past their first packet.
struct Staller {
    socket: UdpSocket,
    endpoint: Endpoint,
    conns: HashMap<ConnectionHandle, noq_proto::Connection>,
    /// In the order they were started.
    order: Vec<ConnectionHandle>,
    victim: SocketAddr,
}

impl Staller {
    async fn new(victim: SocketAddr) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            endpoint: Endpoint::new(Arc::new(EndpointConfig::default()), None, false),
            conns: HashMap::new(),
            order: Vec::new(),
            victim,
        }
    }

    /// A client config whose hello spans two packets: twelve 200-byte
    /// protocol names.
    fn client_config() -> ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        tls.alpn_protocols = (0u8..12).map(|i| vec![b'a' + i; 200]).collect();
        let quic = noq_proto::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        ClientConfig::new(Arc::new(quic))
    }

    /// Starts one handshake and sends only its first packet.
    async fn start(&mut self) {
        let now = Instant::now();
        let (ch, mut conn) = self
            .endpoint
            .connect(now, Self::client_config(), self.victim, "victim")
            .unwrap();
        let mut buf = Vec::new();
        let first = conn
            .poll_transmit(now, NonZeroUsize::MIN, &mut buf)
            .expect("a first packet");
        // The premise: more of the hello is waiting to go (once the pacer
        // lets it), which the victim never gets.
        let mut rest = Vec::new();
        let later = now + Duration::from_secs(1);
        assert!(
            conn.poll_transmit(later, NonZeroUsize::MIN, &mut rest)
                .is_some(),
            "the hello spans more than one packet"
        );
        self.socket
            .send_to(&buf[..first.size], self.victim)
            .await
            .unwrap();
        self.conns.insert(ch, conn);
        self.order.push(ch);
    }

    /// Reads the victim's answers until the `n`th handshake started is
    /// refused; then which of the others were refused too.
    async fn until_refused(&mut self, n: usize) -> Vec<usize> {
        let mut refused = Vec::new();
        let mut data = vec![0u8; 65_536];
        while !refused.contains(&n) {
            let (len, from) = self.socket.recv_from(&mut data).await.unwrap();
            let mut buf = Vec::new();
            let packet = bytes::BytesMut::from(&data[..len]);
            let event = self
                .endpoint
                .handle(Instant::now(), from.into(), None, packet, &mut buf);
            let Some(DatagramEvent::ConnectionEvent(ch, event)) = event else {
                continue;
            };
            let Some(conn) = self.conns.get_mut(&ch) else {
                continue;
            };
            conn.handle_event(event);
            while let Some(event) = conn.poll() {
                if let Event::ConnectionLost {
                    reason: ConnectionError::ConnectionClosed(close),
                } = event
                    && close.error_code == TransportErrorCode::CONNECTION_REFUSED
                {
                    let at = self.order.iter().position(|c| *c == ch).unwrap();
                    refused.push(at);
                }
            }
        }
        refused
    }
}

async fn victim(max_pending: usize, accept_timeout: Duration) -> Network {
    node_with(NET, fast(), |b| {
        b.with_max_pending_handshakes(max_pending)
            .with_accept_timeout(accept_timeout)
    })
    .await
}

#[tokio::test]
async fn stalled_handshakes_hold_at_most_the_cap_and_free_it_on_timeout() {
    let accept_timeout = Duration::from_secs(3);
    let victim = victim(2, accept_timeout).await;
    let at = *victim.local().addr().ip_addrs().next().expect("an address");
    let mut staller = Staller::new(at).await;
    let started = Instant::now();
    for _ in 0..3 {
        staller.start().await;
    }
    // The third is refused; the two before it are held, not refused (their
    // answers come first: the victim handles the three in order).
    let refused = within("the third refused", staller.until_refused(2)).await;
    assert_eq!(refused, [2], "only the one over the cap is refused");

    // While both slots are held, an honest newcomer is refused as well.
    let honest = node_with(NET, fast(), |b| b).await;
    let refused_honest = honest
        .local()
        .connect::<SyncProtocol>(victim.local().addr())
        .await;
    assert!(
        started.elapsed() < accept_timeout,
        "the stalled handshakes were still held"
    );
    assert!(refused_honest.is_err(), "no slot left for the newcomer");

    // The stalled handshakes time out and free their slots: a newcomer gets
    // in.
    let link = within("a newcomer connects after the timeout", async {
        loop {
            if let Ok(link) = honest
                .local()
                .connect::<SyncProtocol>(victim.local().addr())
                .await
            {
                break link;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(started.elapsed() >= accept_timeout);
    drop(link);
    println!(
        "handshakes: 2 stalled held, the third refused, a newcomer in after {:?}",
        started.elapsed()
    );
}
