//! The physical floor a durable commit is judged against, measured in the
//! same run: the file system under the data directory (it must be a disk,
//! not tmpfs), the disk's `fdatasync` latency for one commit-sized write,
//! the loopback round trip (QUIC through iroh, as the members talk, and
//! plain TCP for reference) and the cost of one `apply` of the bench's
//! state machine.

use {
    crate::{
        groups::{PAYLOAD, Sink, percentile},
        pingpong::raw_rtt,
    },
    mosaik::{
        GroupId, NetworkId,
        groups::{ApplyContext, Cursor, StateMachine, Term},
    },
    std::{
        fs::{File, OpenOptions},
        io::Write as _,
        path::Path,
        time::{Duration, Instant},
    },
    tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    },
};

/// Samples of each floor measurement.
const SAMPLES: usize = 200;

/// What one durable commit cannot beat, on this machine, now.
#[derive(Debug, Clone)]
pub(crate) struct Floor {
    /// File system type of the data directory (from `/proc/mounts`).
    pub(crate) fs: String,
    pub(crate) fsync_p50: Duration,
    pub(crate) fsync_p99: Duration,
    /// 64 B ping-pong over one raw iroh QUIC stream.
    pub(crate) quic_rtt_p50: Duration,
    /// 64 B ping-pong over loopback TCP.
    pub(crate) tcp_rtt_p50: Duration,
    /// One `Sink::apply` of a B1 command.
    pub(crate) apply: Duration,
}

impl Floor {
    /// Measures everything next to `dir` (created if needed). Fails when
    /// `dir` is on a memory file system: the figures would mean nothing.
    pub(crate) async fn measure(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let fs = ensure_disk(dir)?;
        let probe = dir.join("fdatasync-probe");
        let mut syncs = tokio::task::spawn_blocking(move || fdatasync_samples(&probe)).await??;
        syncs.sort();
        let mut quic = raw_rtt(64, SAMPLES * 5).await?;
        quic.sort();
        let mut tcp = tcp_rtt(SAMPLES * 5).await?;
        tcp.sort();
        Ok(Self {
            fs,
            fsync_p50: percentile(&syncs, 0.5),
            fsync_p99: percentile(&syncs, 0.99),
            quic_rtt_p50: percentile(&quic, 0.5),
            tcp_rtt_p50: percentile(&tcp, 0.5),
            apply: apply_cost(),
        })
    }

    /// The 1-client goal: one `fdatasync` + 2 loopback round trips (the
    /// transport's) + one apply.
    pub(crate) fn budget(&self) -> Duration {
        self.fsync_p50 + 2 * self.quic_rtt_p50 + self.apply
    }

    /// Prints the summary line and the JSON record.
    pub(crate) fn report(&self) {
        let Self {
            fs,
            fsync_p50,
            fsync_p99,
            quic_rtt_p50,
            tcp_rtt_p50,
            apply,
        } = self;
        println!(
            "floor: {fs} disk: fdatasync of {PAYLOAD} B p50 {fsync_p50:?} p99 {fsync_p99:?}; loopback RTT p50 QUIC {quic_rtt_p50:?}, TCP {tcp_rtt_p50:?}; apply {apply:?}; 1-client budget {:?}",
            self.budget()
        );
        println!(
            "{{\"scenario\":\"floor\",\"fs\":\"{fs}\",\"fdatasync_p50_us\":{},\"fdatasync_p99_us\":{},\"quic_rtt_p50_us\":{},\"tcp_rtt_p50_us\":{},\"apply_ns\":{},\"budget_us\":{}}}",
            fsync_p50.as_micros(),
            fsync_p99.as_micros(),
            quic_rtt_p50.as_micros(),
            tcp_rtt_p50.as_micros(),
            apply.as_nanos(),
            self.budget().as_micros()
        );
    }
}

/// The file system type of the mount holding `dir` (the longest mount
/// point that is a prefix of its canonical path); an error for tmpfs and
/// ramfs.
pub(crate) fn ensure_disk(dir: &Path) -> anyhow::Result<String> {
    let path = dir.canonicalize()?;
    let mounts = std::fs::read_to_string("/proc/mounts")?;
    let fs = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, fs) = (fields.next()?, fields.next()?, fields.next()?);
            // `/proc/mounts` escapes spaces as `\040`.
            let point = point.replace("\\040", " ");
            path.starts_with(&point)
                .then(|| (point.len(), fs.to_string()))
        })
        .max()
        .map(|(_, fs)| fs)
        .ok_or_else(|| anyhow::anyhow!("no mount holds {}", path.display()))?;
    anyhow::ensure!(
        !matches!(fs.as_str(), "tmpfs" | "ramfs"),
        "{} is on {fs}: pick a directory on a disk (--dir)",
        path.display()
    );
    Ok(fs)
}

/// Appends one B1-sized record and `fdatasync`s it, `SAMPLES` times (what
/// one durable batch of one command costs at least).
fn fdatasync_samples(probe: &Path) -> anyhow::Result<Vec<Duration>> {
    let mut file: File = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(probe)?;
    // The first sync also settles the file's creation.
    file.sync_all()?;
    let record = vec![5u8; PAYLOAD];
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        samples.push(t.elapsed());
    }
    drop(file);
    std::fs::remove_file(probe)?;
    Ok(samples)
}

/// 64 B ping-pong over loopback TCP (nodelay).
async fn tcp_rtt(rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        while stream.read_exact(&mut buf).await.is_ok() {
            stream.write_all(&buf).await?;
        }
        anyhow::Ok(())
    });
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut buf = [9u8; 64];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + rounds / 10 {
        let t = Instant::now();
        stream.write_all(&buf).await?;
        stream.read_exact(&mut buf).await?;
        if round >= rounds / 10 {
            samples.push(t.elapsed());
        }
    }
    drop(stream);
    echo.await??;
    Ok(samples)
}

/// A context for applying outside a group.
struct Bare;

impl ApplyContext for Bare {
    fn committed(&self) -> Cursor {
        Cursor::default()
    }
    fn log_position(&self) -> Cursor {
        Cursor::default()
    }
    fn current_term(&self) -> Term {
        Term::default()
    }
    fn group_id(&self) -> GroupId {
        GroupId::from("bench")
    }
    fn network_id(&self) -> NetworkId {
        NetworkId::from("bench")
    }
}

/// The mean time of one `Sink::apply` of a fresh B1 command (the copy a
/// decode makes included).
fn apply_cost() -> Duration {
    const ROUNDS: u32 = 100_000;
    let mut sink = Sink::default();
    let command = vec![7u8; PAYLOAD];
    let t = Instant::now();
    for _ in 0..ROUNDS {
        sink.apply(std::hint::black_box(command.clone()), &Bare);
    }
    std::hint::black_box(sink.query(()));
    t.elapsed() / ROUNDS
}
