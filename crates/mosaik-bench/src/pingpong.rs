//! B4's two ping-pong pairs, set up once and then driven round by round,
//! so the driver can interleave them: blocks of rounds on our streams and
//! on raw iroh take turns, and a drift of the machine (frequency, another
//! process waking up) lands on both sides of the ratio instead of on
//! whichever ran second.

use {
    crate::streams::{BenchPayload, RAW_ALPN, loopback_network, raw_endpoint},
    anyhow::Context,
    mosaik::{
        Network, StreamId,
        iroh::{
            Endpoint,
            endpoint::{RecvStream, SendStream},
        },
        streams::{Consumer, Producer},
    },
    std::time::{Duration, Instant},
    tokio::task::JoinHandle,
};

/// Ping-pong over two mosaik streams: `a` pings, `b` echoes.
pub(crate) struct StreamsPair<P: BenchPayload> {
    ping: Producer<P>,
    pongs: Consumer<P>,
    payload: P,
    echo: JoinHandle<()>,
    nodes: (Network, Network),
}

impl<P: BenchPayload> StreamsPair<P> {
    /// Two loopback nodes, a ping stream and a pong stream, and the echo.
    pub(crate) async fn new(size: usize) -> anyhow::Result<Self> {
        let name = format!("bench-rtt-{size}");
        let a = loopback_network(&name, None).await?;
        let b = loopback_network(&name, Some(&a)).await?;
        let (ping_id, pong_id) = (StreamId::from("bench-ping"), StreamId::from("bench-pong"));
        let ping = a
            .streams()
            .producer::<P>()
            .with_stream_id(ping_id)
            .build_or_existing();
        let pong = b
            .streams()
            .producer::<P>()
            .with_stream_id(pong_id)
            .build_or_existing();
        let mut pings = b.streams().consumer::<P>().with_stream_id(ping_id).build();
        let pongs = a.streams().consumer::<P>().with_stream_id(pong_id).build();
        let echo = tokio::spawn(async move {
            while let Some(datum) = pings.recv().await {
                if pong.send(datum).await.is_err() {
                    break;
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(30), ping.when().online())
            .await
            .context("ping not subscribed")?;
        Ok(Self {
            ping,
            pongs,
            payload: P::filled(size, 3),
            echo,
            nodes: (a, b),
        })
    }

    /// One ping and its pong.
    pub(crate) async fn round(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.ping
            .send(self.payload.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.pongs.recv().await.context("pong stream ended")?;
        Ok(started.elapsed())
    }

    /// Stops the echo and shuts both nodes down.
    pub(crate) async fn close(self) {
        self.echo.abort();
        drop((self.ping, self.pongs));
        self.nodes.0.shutdown().await;
        self.nodes.1.shutdown().await;
    }
}

/// Ping-pong over one raw iroh bidirectional stream: fixed-size frames
/// (length prefix and payload) echoed back whole.
pub(crate) struct RawPair {
    send: SendStream,
    recv: RecvStream,
    frame: Vec<u8>,
    back: Vec<u8>,
    echo: JoinHandle<anyhow::Result<()>>,
    endpoints: (Endpoint, Endpoint),
}

impl RawPair {
    /// Two raw endpoints, a connection and the echo.
    pub(crate) async fn new(size: usize) -> anyhow::Result<Self> {
        let a = raw_endpoint().await?;
        let b = raw_endpoint().await?;
        let accepting = b.clone();
        let frame_len = size + 4;
        let echo = tokio::spawn(async move {
            let conn = accepting.accept().await.context("no connection")?.await?;
            let (mut send, mut recv) = conn.accept_bi().await?;
            let mut buf = vec![0u8; frame_len];
            while recv.read_exact(&mut buf).await.is_ok() {
                send.write_all(&buf).await?;
            }
            anyhow::Ok(())
        });
        let conn = a.connect(b.addr(), RAW_ALPN).await?;
        let (send, recv) = conn.open_bi().await?;
        let mut frame = (u32::try_from(size)?).to_be_bytes().to_vec();
        frame.extend(std::iter::repeat_n(3u8, size));
        Ok(Self {
            send,
            recv,
            frame,
            back: vec![0u8; frame_len],
            echo,
            endpoints: (a, b),
        })
    }

    /// One frame there and back.
    pub(crate) async fn round(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.send.write_all(&self.frame).await?;
        self.recv.read_exact(&mut self.back).await?;
        Ok(started.elapsed())
    }

    /// Stops the echo and closes both endpoints.
    pub(crate) async fn close(self) {
        self.echo.abort();
        drop((self.send, self.recv));
        self.endpoints.0.close().await;
        self.endpoints.1.close().await;
    }
}

/// `rounds` round trips of raw iroh at `size` (after a tenth as warm-up).
pub(crate) async fn raw_rtt(size: usize, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let mut pair = RawPair::new(size).await?;
    for _ in 0..rounds / 10 {
        pair.round().await?;
    }
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        samples.push(pair.round().await?);
    }
    pair.close().await;
    Ok(samples)
}

/// Rounds per turn when both pairs take turns.
const TURN: usize = 100;

/// `rounds` round trips on each pair, in alternating turns of [`TURN`]
/// rounds, after a tenth of `rounds` on each as warm-up (connections,
/// the echo's producer): (streams, raw) samples.
pub(crate) async fn interleaved<P: BenchPayload>(
    size: usize,
    rounds: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut ours = StreamsPair::<P>::new(size).await?;
    let mut raw = RawPair::new(size).await?;
    for _ in 0..rounds / 10 {
        ours.round().await?;
        raw.round().await?;
    }
    let (mut a, mut b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    while a.len() < rounds {
        let turn = TURN.min(rounds - a.len());
        for _ in 0..turn {
            a.push(ours.round().await?);
        }
        for _ in 0..turn {
            b.push(raw.round().await?);
        }
    }
    ours.close().await;
    raw.close().await;
    Ok((a, b))
}
