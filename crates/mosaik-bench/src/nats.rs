//! NATS for B3/B4: a `nats-server` (Debian's `nats-server` package) started
//! on a free loopback port and stopped by PID, and just enough of the NATS
//! client protocol (text commands over TCP: `CONNECT`, `PUB`, `SUB`, `MSG`,
//! `PING`/`PONG`) to publish, subscribe and answer the server's pings. No
//! client crate: the protocol is a few lines and the bench measures the
//! server and the wire, not a client library's extras.
//!
//! The publisher paces itself on the subscribers' counters with the same
//! credit window as our streams, so the server never drops a subscriber as
//! a slow consumer.

use {
    anyhow::Context,
    std::{
        process::{Child, Command, Stdio},
        sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        },
        time::{Duration, Instant},
    },
    tokio::{
        io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter},
        net::{
            TcpStream,
            tcp::{OwnedReadHalf, OwnedWriteHalf},
        },
        sync::Notify,
    },
};

/// A running `nats-server`, killed when dropped.
pub struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts `nats-server` on a free loopback port and waits until it
    /// accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let port = crate::etcd::free_port()?;
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nats-server (Debian package nats-server)")?;
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    async fn client(&self) -> anyhow::Result<(Reader, BufWriter<OwnedWriteHalf>)> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let mut reader = Reader(BufReader::with_capacity(256 * 1024, read));
        let mut writer = BufWriter::with_capacity(256 * 1024, write);
        let info = reader.line().await?;
        anyhow::ensure!(info.starts_with("INFO"), "unexpected greeting {info:?}");
        writer
            .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
            .await?;
        writer.flush().await?;
        loop {
            if reader.line().await? == "PONG" {
                break;
            }
        }
        Ok((reader, writer))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reader(BufReader<OwnedReadHalf>);

impl Reader {
    async fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        anyhow::ensure!(self.0.read_line(&mut line).await? > 0, "nats closed");
        Ok(line.trim_end().to_owned())
    }

    /// The next `MSG` payload's length; answers the server's `PING`s on
    /// `writer`'s behalf through `pongs`.
    async fn next_msg(&mut self, payload: &mut Vec<u8>, pongs: &mut u32) -> anyhow::Result<()> {
        loop {
            let line = self.line().await?;
            if line == "PING" {
                *pongs += 1;
                continue;
            }
            let Some(rest) = line.strip_prefix("MSG ") else {
                continue;
            };
            let len: usize = rest
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .context("MSG without a length")?;
            payload.resize(len + 2, 0);
            self.0.read_exact(payload).await?;
            payload.truncate(len);
            return Ok(());
        }
    }
}

async fn publish(
    w: &mut BufWriter<OwnedWriteHalf>,
    subject: &str,
    data: &[u8],
) -> anyhow::Result<()> {
    w.write_all(format!("PUB {subject} {}\r\n", data.len()).as_bytes())
        .await?;
    w.write_all(data).await?;
    w.write_all(b"\r\n").await?;
    Ok(())
}

async fn subscribe(w: &mut BufWriter<OwnedWriteHalf>, subject: &str) -> anyhow::Result<()> {
    w.write_all(format!("SUB {subject} 1\r\nPING\r\n").as_bytes())
        .await?;
    w.flush().await?;
    Ok(())
}

/// B3 on NATS: 1 publisher to `n` subscribers, `messages` of `size` bytes;
/// returns the time until every subscriber has all of them.
pub async fn throughput(
    size: usize,
    n: usize,
    messages: usize,
    window: u64,
) -> anyhow::Result<crate::cpu::Measured> {
    let server = NatsServer::start().await?;
    let progress = Arc::new(Notify::new());
    let mut counters = Vec::new();
    let mut subscribers = Vec::new();
    for _ in 0..n {
        let (mut reader, mut writer) = server.client().await?;
        subscribe(&mut writer, "b3").await?;
        // The PONG confirms the subscription is registered.
        while reader.line().await? != "PONG" {}
        let count = Arc::new(AtomicU64::new(0));
        counters.push(count.clone());
        let progress = progress.clone();
        subscribers.push(tokio::spawn(async move {
            let (mut payload, mut pongs) = (Vec::new(), 0);
            for _ in 0..messages {
                reader.next_msg(&mut payload, &mut pongs).await?;
                count.fetch_add(1, Ordering::Relaxed);
                progress.notify_one();
                if pongs > 0 {
                    writer.write_all(b"PONG\r\n").await?;
                    writer.flush().await?;
                    pongs = 0;
                }
            }
            anyhow::Ok(())
        }));
    }
    let (_reader, mut writer) = server.client().await?;
    let data = vec![7u8; size];
    // Both sides of the broker: our clients here and the server process.
    let cpu = crate::cpu::CpuWatch::start(Some(server.child.id()))?;
    let started = Instant::now();
    // A task, as every system's sending loop in B3 (see `streams.rs`).
    let publisher = tokio::spawn(async move {
        for sent in 0..messages as u64 {
            while sent
                >= window
                    + counters
                        .iter()
                        .map(|c| c.load(Ordering::Relaxed))
                        .min()
                        .unwrap_or(0)
            {
                writer.flush().await?;
                progress.notified().await;
            }
            publish(&mut writer, "b3", &data).await?;
        }
        writer.flush().await?;
        anyhow::Ok(writer)
    });
    let _writer = publisher.await??;
    for subscriber in subscribers {
        subscriber.await??;
    }
    let wall = started.elapsed();
    Ok(crate::cpu::Measured {
        wall,
        cpu: cpu.used()?,
    })
}

/// B4 on NATS: a ping on one subject answered on another by a second
/// client; `rounds` round-trip times.
pub async fn rtt(size: usize, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let server = NatsServer::start().await?;
    let (mut echo_reader, mut echo_writer) = server.client().await?;
    subscribe(&mut echo_writer, "b4.ping").await?;
    while echo_reader.line().await? != "PONG" {}
    let (mut reader, mut writer) = server.client().await?;
    subscribe(&mut writer, "b4.pong").await?;
    while reader.line().await? != "PONG" {}
    let total = rounds + rounds / 10;
    let echo = tokio::spawn(async move {
        let (mut payload, mut pongs) = (Vec::new(), 0);
        for _ in 0..total {
            echo_reader.next_msg(&mut payload, &mut pongs).await?;
            publish(&mut echo_writer, "b4.pong", &payload).await?;
            echo_writer.flush().await?;
        }
        anyhow::Ok(())
    });
    let data = vec![7u8; size];
    let (mut payload, mut pongs) = (Vec::new(), 0);
    let mut samples = Vec::with_capacity(rounds);
    // The first tenth warms up and is not counted.
    for round in 0..total {
        let started = Instant::now();
        publish(&mut writer, "b4.ping", &data).await?;
        writer.flush().await?;
        reader.next_msg(&mut payload, &mut pongs).await?;
        if round >= rounds / 10 {
            samples.push(started.elapsed());
        }
    }
    echo.await??;
    Ok(samples)
}
