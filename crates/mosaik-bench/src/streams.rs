//! B3 (stream throughput) and B4 (stream ping-pong RTT): our streams next to
//! raw iroh streams doing the same work in the same run, and optionally
//! next to NATS (`nats.rs`) and Zenoh (`zenoh.rs`).
//!
//! All nodes run in this process, so the throughput producer paces itself
//! on the consumers' received counters (a credit window no larger than the
//! subscriber queue): the default `disconnect_lagging` would otherwise
//! rightly throw out a consumer that falls a queue behind. The raw
//! baselines are paced by QUIC flow control alone. Every system's sending
//! loop runs as a spawned task, as the raw baselines' writers do.
//!
//! Two raw-iroh baselines: the byte stream (`raw`: the whole run is one
//! stream of bytes, written one message-sized chunk at a time and read in
//! 64 KiB reads, nothing parsed) and per message (`framed`: every message
//! is a length-prefixed frame handed to the stream on its own and parsed
//! back into one buffer per message on receive, as an application that
//! sends discrete messages over raw iroh would do).
//!
//! The payload type is selectable: `bytes` (default) is `mosaik::Bytes`,
//! which postcard writes as one byte string (a copy); `vec` is `Vec<u8>`,
//! a sequence to serde, which mosaik writes and reads in one piece (the
//! same bytes; until 6 Dec 2026 serde's path, one call per element, was
//! about 15 % of the CPU time at 1 KiB in a profile).

use {
    crate::cpu::{CpuWatch, Measured},
    anyhow::Context,
    mosaik::{
        Datum, Network, StreamId,
        iroh::{Endpoint, RelayMode, endpoint::presets},
    },
    std::{
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        },
        time::{Duration, Instant},
    },
    tokio::sync::Notify,
};

pub(crate) const RAW_ALPN: &[u8] = b"/mosaik/bench/raw-stream/1";
/// Datums in flight per consumer: the default subscriber queue of 1024.
/// A queue only ever holds datums in flight, so it cannot overflow (and
/// disconnect its consumer). With 512, both cores were about a quarter
/// idle at 64 B, the producer waiting for credit.
const WINDOW: u64 = 1024;
/// Most messages per throughput run: at 64 B, 1M messages take about
/// half a second (200k took 0.1 s, and single runs swung by ±30 %).
const MAX_MESSAGES: usize = 1_000_000;

/// What the benchmark streams carry.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Payload {
    /// `mosaik::Bytes`: encoded as one byte string.
    Bytes,
    /// `Vec<u8>`: a sequence to serde, written and read in one piece.
    Vec,
}

/// A payload type the benchmark can build.
pub(crate) trait BenchPayload: Datum + Clone + Sync {
    fn filled(size: usize, byte: u8) -> Self;
}

impl BenchPayload for Vec<u8> {
    fn filled(size: usize, byte: u8) -> Self {
        vec![byte; size]
    }
}

impl BenchPayload for mosaik::Bytes {
    fn filled(size: usize, byte: u8) -> Self {
        Self::from(vec![byte; size])
    }
}

pub(crate) async fn loopback_network(
    name: &str,
    peer: Option<&Network>,
) -> anyhow::Result<Network> {
    let mut discovery = mosaik::discovery::Config::builder()
        .no_dht_bootstrap()
        .with_announce_interval(Duration::from_secs(1));
    if let Some(peer) = peer {
        discovery = discovery.with_bootstrap([peer.local().addr()]);
    }
    Ok(crate::loopback_node(name)
        .with_discovery(discovery)
        .build()
        .await?)
}

pub(crate) async fn raw_endpoint() -> anyhow::Result<Endpoint> {
    Ok(Endpoint::builder(presets::Minimal)
        .relay_mode(RelayMode::Disabled)
        .alpns(vec![RAW_ALPN.to_vec()])
        .bind_addr("127.0.0.1:0")?
        .bind()
        .await?)
}

fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1_000_000.0 / d.as_secs_f64()
}

/// B3 for every payload size and consumer count.
pub async fn throughput(
    sizes: &[usize],
    consumers: &[usize],
    megabytes: usize,
    payload: Payload,
    nats: bool,
    zenoh: bool,
) -> anyhow::Result<()> {
    for &n in consumers {
        for &size in sizes {
            let messages = (megabytes * 1024 * 1024 / size).clamp(1, MAX_MESSAGES);
            let ours = match payload {
                Payload::Bytes => streams_throughput::<mosaik::Bytes>(size, n, messages).await?,
                Payload::Vec => streams_throughput::<Vec<u8>>(size, n, messages).await?,
            };
            let raw = raw_throughput(size, n, messages).await?;
            let framed = framed_throughput(size, n, messages).await?;
            let cpu = |m: &Measured| m.cpu_per_million(messages);
            let (ours_cpu, raw_cpu, framed_cpu) = (cpu(&ours), cpu(&raw), cpu(&framed));
            let (ours, raw, framed) = (ours.wall, raw.wall, framed.wall);
            let bytes = messages * size;
            let (ours_mb, raw_mb) = (mb_s(bytes, ours), mb_s(bytes, raw));
            let framed_mb = mb_s(bytes, framed);
            let ours_msgs = messages as f64 / ours.as_secs_f64();
            let raw_msgs = messages as f64 / raw.as_secs_f64();
            let framed_msgs = messages as f64 / framed.as_secs_f64();
            let ratio = ours_mb / raw_mb;
            let framed_ratio = ours_mb / framed_mb;
            println!(
                "streams: 1->{n}, {size} B x {messages} ({payload:?}): streams {ours_msgs:.0} msg/s {ours_mb:.1} MB/s per consumer, raw iroh per message {framed_msgs:.0} msg/s {framed_mb:.1} MB/s (ratio {framed_ratio:.2}), raw iroh byte stream {raw_msgs:.0} msg/s {raw_mb:.1} MB/s (ratio {ratio:.2}); CPU-seconds per million: streams {ours_cpu:.2}, raw per message {framed_cpu:.2}, raw byte stream {raw_cpu:.2}"
            );
            println!(
                "{{\"scenario\":\"B3\",\"consumers\":{n},\"payload_bytes\":{size},\"messages\":{messages},\"streams_msgs_s\":{ours_msgs:.0},\"streams_mb_s\":{ours_mb:.2},\"raw_iroh_msgs_s\":{raw_msgs:.0},\"raw_iroh_mb_s\":{raw_mb:.2},\"ratio\":{ratio:.3},\"raw_framed_msgs_s\":{framed_msgs:.0},\"raw_framed_mb_s\":{framed_mb:.2},\"framed_ratio\":{framed_ratio:.3},\"streams_cpu_s_per_m\":{ours_cpu:.3},\"raw_iroh_cpu_s_per_m\":{raw_cpu:.3},\"raw_framed_cpu_s_per_m\":{framed_cpu:.3}}}"
            );
            if nats {
                let took = crate::nats::throughput(size, n, messages, WINDOW).await?;
                report_peer("nats", "nats-server", (n, size, messages), took, ours_mb);
            }
            for &link in crate::zenoh::Link::when(zenoh) {
                let took = crate::zenoh::throughput(link, size, n, messages, WINDOW).await?;
                report_peer(
                    link.system(),
                    link.label(),
                    (n, size, messages),
                    took,
                    ours_mb,
                );
            }
        }
    }
    Ok(())
}

/// Prints a peer system's B3 result beside ours (`ours_mb`): a summary
/// line and a record whose fields are prefixed with `system`.
fn report_peer(
    system: &str,
    label: &str,
    (n, size, messages): (usize, usize, usize),
    took: Measured,
    ours_mb: f64,
) {
    let mb = mb_s(messages * size, took.wall);
    let msgs = messages as f64 / took.wall.as_secs_f64();
    let cpu = took.cpu_per_million(messages);
    let vs = ours_mb / mb;
    println!(
        "streams: 1->{n}, {size} B x {messages}: {label} {msgs:.0} msg/s {mb:.1} MB/s per subscriber, streams/{system} {vs:.2}; CPU-seconds per million {cpu:.2}"
    );
    println!(
        "{{\"scenario\":\"B3\",\"system\":\"{system}\",\"consumers\":{n},\"payload_bytes\":{size},\"messages\":{messages},\"{system}_msgs_s\":{msgs:.0},\"{system}_mb_s\":{mb:.2},\"streams_over_{system}\":{vs:.3},\"{system}_cpu_s_per_m\":{cpu:.3}}}"
    );
}

async fn streams_throughput<P: BenchPayload>(
    size: usize,
    n: usize,
    messages: usize,
) -> anyhow::Result<Measured> {
    let name = format!("bench-streams-{n}-{size}");
    let producer_node = loopback_network(&name, None).await?;
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(loopback_network(&name, Some(&producer_node)).await?);
    }
    let id = StreamId::from(name.as_str());
    let producer = producer_node
        .streams()
        .producer::<P>()
        .with_stream_id(id)
        .online_when(move |c| c.minimum_of(n))
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let counters: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let progress = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for (node, counter) in nodes.iter().zip(&counters) {
        let mut consumer = node.streams().consumer::<P>().with_stream_id(id).build();
        let (counter, progress) = (counter.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let total = messages as u64;
            let mut got = 0u64;
            while got < total {
                consumer.recv().await.context("consumer ended")?;
                got += 1;
                counter.store(got, Ordering::Release);
                if got.is_multiple_of(64) || got == total {
                    progress.notify_one();
                }
            }
            anyhow::Ok(Instant::now())
        }));
    }
    tokio::time::timeout(Duration::from_secs(30), producer.when().online())
        .await
        .context("consumers did not subscribe")?;
    let payload = P::filled(size, 7);
    let (started, cpu) = (Instant::now(), CpuWatch::start(None)?);
    // The sending loop runs as a task, like the raw baselines' writers (on
    // `main`'s own thread every hand-off to a worker was a cross-thread
    // wake-up the baselines never paid).
    let sender = tokio::spawn(async move {
        for sent in 0..messages as u64 {
            loop {
                let slowest = counters.iter().map(|c| c.load(Ordering::Acquire)).min();
                if sent - slowest.unwrap_or(sent) < WINDOW {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(5), progress.notified()).await;
            }
            producer
                .send(payload.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        anyhow::Ok(producer)
    });
    // Kept until every consumer is done: dropping it ends the stream.
    let _producer = sender.await??;
    let mut finished = started;
    for task in tasks {
        finished = finished.max(task.await??);
    }
    let cpu = cpu.used()?;
    Ok(Measured {
        wall: finished - started,
        cpu,
    })
}

async fn raw_throughput(size: usize, n: usize, messages: usize) -> anyhow::Result<Measured> {
    let sender = raw_endpoint().await?;
    let mut receivers = Vec::new();
    let total = (size + 4) * messages;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let ep = raw_endpoint().await?;
        let accepting = ep.clone();
        tasks.push(tokio::spawn(async move {
            let conn = accepting.accept().await.context("no connection")?.await?;
            let (_send, mut recv) = conn.accept_bi().await?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            while got < total {
                match recv.read(&mut buf).await? {
                    Some(k) => got += k,
                    None => break,
                }
            }
            anyhow::Ok((Instant::now(), conn))
        }));
        receivers.push(ep);
    }
    let mut frame = (u32::try_from(size)?).to_be_bytes().to_vec();
    frame.extend(std::iter::repeat_n(7u8, size));
    let frame = bytes::Bytes::from(frame);
    let mut writers = Vec::new();
    let (started, cpu) = (Instant::now(), CpuWatch::start(None)?);
    for ep in &receivers {
        let conn = sender.connect(ep.addr(), RAW_ALPN).await?;
        let frame = frame.clone();
        writers.push(tokio::spawn(async move {
            let (mut send, _recv) = conn.open_bi().await?;
            for _ in 0..messages {
                send.write_chunk(frame.clone()).await?;
            }
            anyhow::Ok((send, conn))
        }));
    }
    let mut finished = started;
    let mut keep = Vec::new();
    for task in tasks {
        let (at, conn) = task.await??;
        finished = finished.max(at);
        keep.push(conn);
    }
    let cpu = cpu.used()?;
    for writer in writers {
        drop(writer.await??);
    }
    drop(keep);
    sender.close().await;
    for ep in receivers {
        ep.close().await;
    }
    Ok(Measured {
        wall: finished - started,
        cpu,
    })
}

/// The per-message raw-iroh baseline: length-prefixed frames, each handed
/// to the stream on its own (`SinkExt::send`: encode, write, flush) and
/// parsed back one buffer per message on receive.
async fn framed_throughput(size: usize, n: usize, messages: usize) -> anyhow::Result<Measured> {
    use {
        futures::{SinkExt, StreamExt},
        tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec},
    };
    let codec = move || {
        LengthDelimitedCodec::builder()
            .max_frame_length(size.max(1024) + 64)
            .new_codec()
    };
    let sender = raw_endpoint().await?;
    let mut receivers = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let ep = raw_endpoint().await?;
        let accepting = ep.clone();
        tasks.push(tokio::spawn(async move {
            let conn = accepting.accept().await.context("no connection")?.await?;
            let (_send, recv) = conn.accept_bi().await?;
            let mut frames = FramedRead::new(recv, codec());
            let mut got = 0usize;
            while got < messages {
                let frame = frames.next().await.context("stream ended")??;
                anyhow::ensure!(frame.len() == size, "frame of {} bytes", frame.len());
                got += 1;
            }
            anyhow::Ok((Instant::now(), conn))
        }));
        receivers.push(ep);
    }
    let payload = bytes::Bytes::from(vec![7u8; size]);
    let mut writers = Vec::new();
    let (started, cpu) = (Instant::now(), CpuWatch::start(None)?);
    for ep in &receivers {
        let conn = sender.connect(ep.addr(), RAW_ALPN).await?;
        let payload = payload.clone();
        writers.push(tokio::spawn(async move {
            let (send, _recv) = conn.open_bi().await?;
            let mut frames = FramedWrite::new(send, codec());
            for _ in 0..messages {
                frames.send(payload.clone()).await?;
            }
            anyhow::Ok((frames, conn))
        }));
    }
    let mut finished = started;
    let mut keep = Vec::new();
    for task in tasks {
        let (at, conn) = task.await??;
        finished = finished.max(at);
        keep.push(conn);
    }
    let cpu = cpu.used()?;
    for writer in writers {
        drop(writer.await??);
    }
    drop(keep);
    sender.close().await;
    for ep in receivers {
        ep.close().await;
    }
    Ok(Measured {
        wall: finished - started,
        cpu,
    })
}

/// The `p`-th percentile (per mille) of sorted samples.
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    let idx = (sorted.len() - 1) * per_mille / 1000;
    sorted[idx]
}

/// B4: ping-pong RTT over two streams, next to a raw iroh echo.
pub async fn rtt(
    sizes: &[usize],
    rounds: usize,
    payload: Payload,
    nats: bool,
    zenoh: bool,
) -> anyhow::Result<()> {
    for &size in sizes {
        // Interleaved turns (see `pingpong.rs`): one ratio from the same
        // stretch of time.
        let (mut ours, mut raw) = match payload {
            Payload::Bytes => crate::pingpong::interleaved::<mosaik::Bytes>(size, rounds).await?,
            Payload::Vec => crate::pingpong::interleaved::<Vec<u8>>(size, rounds).await?,
        };
        ours.sort();
        raw.sort();
        let (o50, o99) = (percentile(&ours, 500), percentile(&ours, 990));
        let (r50, r99) = (percentile(&raw, 500), percentile(&raw, 990));
        let ratio = o50.as_secs_f64() / r50.as_secs_f64();
        println!(
            "streams-rtt: {size} B x {rounds} ({payload:?}): streams p50 {o50:?} p99 {o99:?}, raw iroh p50 {r50:?} p99 {r99:?}, p50 ratio {ratio:.2}"
        );
        println!(
            "{{\"scenario\":\"B4\",\"payload_bytes\":{size},\"rounds\":{rounds},\"streams_p50_us\":{},\"streams_p99_us\":{},\"raw_iroh_p50_us\":{},\"raw_iroh_p99_us\":{},\"p50_ratio\":{ratio:.3}}}",
            o50.as_micros(),
            o99.as_micros(),
            r50.as_micros(),
            r99.as_micros()
        );
        if nats {
            let mut n = crate::nats::rtt(size, rounds).await?;
            n.sort();
            let (n50, n99) = (percentile(&n, 500), percentile(&n, 990));
            let vs = o50.as_secs_f64() / n50.as_secs_f64();
            println!(
                "streams-rtt: {size} B x {rounds}: nats-server p50 {n50:?} p99 {n99:?}, streams/nats p50 {vs:.2}"
            );
            println!(
                "{{\"scenario\":\"B4\",\"system\":\"nats\",\"payload_bytes\":{size},\"rounds\":{rounds},\"nats_p50_us\":{},\"nats_p99_us\":{},\"streams_over_nats_p50\":{vs:.3}}}",
                n50.as_micros(),
                n99.as_micros()
            );
        }
        for &link in crate::zenoh::Link::when(zenoh) {
            let (z50, z99) = crate::zenoh::rtt(link, size, rounds).await?;
            let vs = o50.as_secs_f64() / z50.as_secs_f64();
            let (system, label) = (link.system(), link.label());
            println!(
                "streams-rtt: {size} B x {rounds}: {label} p50 {z50:?} p99 {z99:?}, streams/{system} p50 {vs:.2}"
            );
            println!(
                "{{\"scenario\":\"B4\",\"system\":\"{system}\",\"payload_bytes\":{size},\"rounds\":{rounds},\"{system}_p50_us\":{},\"{system}_p99_us\":{},\"streams_over_{system}_p50\":{vs:.3}}}",
                z50.as_micros(),
                z99.as_micros()
            );
        }
    }
    Ok(())
}
