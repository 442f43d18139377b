//! B3 (stream throughput 1 -> N) and B4 (ping-pong round trip) on Zenoh, for
//! `mosaik-bench streams --zenoh` / `streams-rtt --zenoh`.
//!
//! Every Zenoh session of a run lives in this one process (as the nodes of
//! our streams bench do), in peer mode, linked over loopback TCP (the
//! default) or QUIC (`--transport quic`, the protocol our streams use): the
//! first session listens on a free `127.0.0.1` port and the others connect
//! to it.
//! Multicast and gossip scouting are off, so the sessions meet only through
//! those explicit endpoints and nothing leaves the loopback interface.
//!
//! Usage (one JSON record per run on stdout, errors on stderr):
//!
//! ```text
//! mosaik-bench-zenoh throughput --size S --subscribers N --messages M --window W [--transport tcp|quic]
//! mosaik-bench-zenoh rtt --size S --rounds R [--transport tcp|quic]
//! ```

mod link;

use {
    anyhow::Context,
    link::{Link, Transport},
    std::{
        sync::{
            Arc,
            atomic::{AtomicBool, AtomicU64, Ordering},
        },
        time::{Duration, Instant},
    },
    tokio::sync::Notify,
    zenoh::{bytes::ZBytes, handlers::FifoChannel, qos::CongestionControl},
};

/// Key expression of the throughput run's messages.
const DATA: &str = "mosaik-bench/b3";
/// Key expressions of the round-trip run's pings and pongs.
const PING: &str = "mosaik-bench/b4/ping";
const PONG: &str = "mosaik-bench/b4/pong";
/// How long the sessions get to find each other before a run gives up.
const MEET_TIMEOUT: Duration = Duration::from_secs(30);

/// Zenoh's errors are boxed trait objects, which `anyhow` does not take
/// through `?`.
fn z<T>(result: zenoh::Result<T>) -> anyhow::Result<T> {
    result.map_err(|e| anyhow::anyhow!("zenoh: {e}"))
}

/// The `per_mille`-th percentile of sorted samples (the same index rule as
/// the driver's `streams::percentile`).
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    sorted[(sorted.len() - 1) * per_mille / 1000]
}

/// B3: one publisher to `n` subscribers, `messages` of `size` bytes, at most
/// `window` messages ahead of the slowest subscriber. Returns the time from
/// the first put until every subscriber has received every message.
///
/// The publisher blocks rather than drops under congestion, and the window
/// keeps every subscriber's queue below its capacity, so nothing is lost;
/// each subscriber checks the count and the size of what it receives.
async fn throughput(
    link: &Link,
    size: usize,
    n: usize,
    messages: usize,
    window: u64,
) -> anyhow::Result<(Duration, Duration)> {
    anyhow::ensure!(size > 0, "an empty message is the warm-up marker");
    let publisher_session = link.session(true).await?;
    let progress = Arc::new(Notify::new());
    let mut sessions = Vec::new();
    let mut counters = Vec::new();
    let mut ready = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let subscriber_session = link.session(false).await?;
        // Room for twice the window: the receive path never waits for
        // space, so the window alone paces the run.
        let capacity = usize::try_from(window)?.saturating_mul(2);
        let subscriber = z(subscriber_session
            .declare_subscriber(DATA)
            .with(FifoChannel::new(capacity))
            .await)?;
        let count = Arc::new(AtomicU64::new(0));
        let warmed = Arc::new(AtomicBool::new(false));
        counters.push(count.clone());
        ready.push(warmed.clone());
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let total = messages as u64;
            let mut got = 0u64;
            while got < total {
                let sample = z(subscriber.recv_async().await).context("subscriber ended")?;
                let len = sample.payload().len();
                if len == 0 {
                    warmed.store(true, Ordering::Release);
                    continue;
                }
                anyhow::ensure!(len == size, "message of {len} bytes, expected {size}");
                got += 1;
                count.store(got, Ordering::Release);
                // Waking the publisher on every message would cost more
                // than the message; every 64th keeps it well inside the
                // window.
                if got.is_multiple_of(64) || got == total {
                    progress.notify_one();
                }
            }
            anyhow::Ok(Instant::now())
        }));
        sessions.push(subscriber_session);
    }
    let publisher = z(publisher_session
        .declare_publisher(DATA)
        .congestion_control(CongestionControl::Block)
        .await)?;
    // Subscriptions reach the publisher's session asynchronously: empty
    // warm-up messages go out until every subscriber has seen one, so no
    // measured message is sent before all of them are routed to.
    let deadline = Instant::now() + MEET_TIMEOUT;
    while !ready.iter().all(|r| r.load(Ordering::Acquire)) {
        anyhow::ensure!(Instant::now() < deadline, "subscribers did not connect");
        z(publisher.put(ZBytes::new()).await)?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let payload = ZBytes::from(vec![7u8; size]);
    let (started, cpu_at_start) = (Instant::now(), process_cpu());
    // A task, as every system's sending loop in B3 (`mosaik-bench`'s
    // `streams.rs`).
    let sender = tokio::spawn(async move {
        for sent in 0..messages as u64 {
            loop {
                let slowest = counters.iter().map(|c| c.load(Ordering::Acquire)).min();
                if sent - slowest.unwrap_or(sent) < window {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(5), progress.notified()).await;
            }
            z(publisher.put(payload.clone()).await)?;
        }
        anyhow::Ok(publisher)
    });
    let publisher = sender.await??;
    let mut finished = started;
    for task in tasks {
        finished = finished.max(task.await??);
    }
    let took = finished - started;
    let cpu = process_cpu().saturating_sub(cpu_at_start);
    drop(publisher);
    for s in sessions {
        z(s.close().await)?;
    }
    z(publisher_session.close().await)?;
    Ok((took, cpu))
}

/// CPU time this process (every session of the run) has used so far, for
/// the driver's CPU-seconds per million messages.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// B4: a ping put by one session, echoed on another key by a second
/// session; `rounds` round-trip times after a tenth as many unmeasured.
///
/// Both publishers are `express` (sent at once instead of waiting for a
/// batch to fill): the setting Zenoh offers for latency, as the NATS client
/// flushes after each ping.
async fn rtt(link: &Link, size: usize, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let pinger = link.session(true).await?;
    let echoer = link.session(false).await?;
    let pings = z(echoer.declare_subscriber(PING).await)?;
    let pong = z(echoer
        .declare_publisher(PONG)
        .congestion_control(CongestionControl::Block)
        .express(true)
        .await)?;
    let echo = tokio::spawn(async move {
        while let Ok(sample) = pings.recv_async().await {
            z(pong.put(sample.payload().clone()).await)?;
        }
        anyhow::Ok(())
    });
    let pongs = z(pinger.declare_subscriber(PONG).await)?;
    let ping = z(pinger
        .declare_publisher(PING)
        .congestion_control(CongestionControl::Block)
        .express(true)
        .await)?;
    // The path is up once a ping comes back; pings sent before the echo's
    // subscription arrived are simply not routed. Pongs of earlier tries
    // that arrive late are drained so they cannot answer a measured ping.
    let deadline = Instant::now() + MEET_TIMEOUT;
    loop {
        anyhow::ensure!(Instant::now() < deadline, "echo did not connect");
        z(ping.put(ZBytes::new()).await)?;
        if tokio::time::timeout(Duration::from_millis(100), pongs.recv_async())
            .await
            .is_ok()
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    while z(pongs.try_recv())?.is_some() {}
    let payload = ZBytes::from(vec![3u8; size]);
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + rounds / 10 {
        let started = Instant::now();
        z(ping.put(payload.clone()).await)?;
        let back = z(pongs.recv_async().await).context("pong subscriber ended")?;
        anyhow::ensure!(back.payload().len() == size, "pong of wrong size");
        // The first tenth warms up, as in the other systems' runs.
        if round >= rounds / 10 {
            samples.push(started.elapsed());
        }
    }
    echo.abort();
    drop((ping, pongs));
    z(pinger.close().await)?;
    z(echoer.close().await)?;
    Ok(samples)
}

/// `--name value` pairs after the subcommand, looked up by name.
struct Args(Vec<String>);

impl Args {
    /// The value after `--name`, if the flag is there.
    fn text(&self, name: &str) -> Option<String> {
        let flag = format!("--{name}");
        let at = self.0.iter().position(|a| *a == flag)?;
        self.0.get(at + 1).cloned()
    }

    fn get(&self, name: &str) -> anyhow::Result<usize> {
        let flag = format!("--{name}");
        let at = self
            .0
            .iter()
            .position(|a| *a == flag)
            .with_context(|| format!("missing {flag}"))?;
        let value = self
            .0
            .get(at + 1)
            .with_context(|| format!("{flag} needs a value"))?;
        value.parse().with_context(|| format!("{flag} {value}"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let args = Args(argv.collect());
    let transport = Transport::parse(&args.text("transport").unwrap_or_else(|| "tcp".into()))?;
    let link = Link::new(transport)?;
    let transport = transport.name();
    match command.as_str() {
        "throughput" => {
            let (size, n) = (args.get("size")?, args.get("subscribers")?);
            let (messages, window) = (args.get("messages")?, args.get("window")?);
            let (took, cpu) = throughput(&link, size, n, messages, window as u64).await?;
            println!(
                "{{\"system\":\"zenoh\",\"test\":\"throughput\",\"transport\":\"{transport}\",\"payload_bytes\":{size},\"subscribers\":{n},\"messages\":{messages},\"window\":{window},\"nanos\":{},\"cpu_ns\":{}}}",
                took.as_nanos(),
                cpu.as_nanos()
            );
        }
        "rtt" => {
            let (size, rounds) = (args.get("size")?, args.get("rounds")?);
            anyhow::ensure!(rounds > 0, "--rounds must be positive");
            let mut samples = rtt(&link, size, rounds).await?;
            samples.sort();
            println!(
                "{{\"system\":\"zenoh\",\"test\":\"rtt\",\"transport\":\"{transport}\",\"payload_bytes\":{size},\"rounds\":{rounds},\"p50_ns\":{},\"p99_ns\":{}}}",
                percentile(&samples, 500).as_nanos(),
                percentile(&samples, 990).as_nanos()
            );
        }
        _ => anyhow::bail!(
            "usage: mosaik-bench-zenoh throughput --size S --subscribers N --messages M --window W [--transport tcp|quic]\n       mosaik-bench-zenoh rtt --size S --rounds R [--transport tcp|quic]"
        ),
    }
    Ok(())
}
