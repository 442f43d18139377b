//! Zenoh for B3/B4: the separate crate `bench/zenoh` (not a workspace
//! member, so the gate never builds Zenoh's dependency tree) is built on
//! first use and run as a child process per measurement. Its sessions are
//! in peer mode with scouting off, linked over loopback TCP (Zenoh's usual
//! link) or QUIC (the protocol our streams run on, so both pay for the
//! same transport); it paces its publisher on the same credit window as
//! our streams and prints one JSON record, which this module reads.
//!
//! The first build compiles Zenoh from crates.io (a few minutes on two
//! cores); later runs only check that it is up to date.

use {
    anyhow::Context,
    serde_json::Value,
    std::{
        io::Read,
        path::PathBuf,
        process::{Child, Command, Stdio},
        sync::OnceLock,
        thread::JoinHandle,
        time::{Duration, Instant},
    },
};

/// Longest a single helper run may take before it is killed: the largest
/// B3 run moves 200,000 messages to each subscriber, well inside this on
/// loopback.
const RUN_LIMIT: Duration = Duration::from_mins(5);

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/zenoh")
}

/// Builds `bench/zenoh` once per process (cargo's own no-op when it is up
/// to date); the helper's binary.
fn binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    if let Some(bin) = BUILT.get() {
        return Ok(bin.clone());
    }
    let dir = crate_dir();
    // An explicit target dir: a `CARGO_TARGET_DIR` inherited from the
    // caller's cargo would otherwise put the binary somewhere else.
    let target = dir.join("target");
    let bin = target.join("release/mosaik-bench-zenoh");
    if !bin.exists() {
        println!("zenoh: building bench/zenoh (the first build takes a few minutes)");
    }
    let status = crate::all::cargo()
        .args([
            "build",
            "--release",
            "--quiet",
            "--locked",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .context("running cargo for bench/zenoh")?;
    anyhow::ensure!(status.success(), "building bench/zenoh failed");
    Ok(BUILT.get_or_init(|| bin).clone())
}

/// A helper process, killed (by its PID, through its handle) and reaped
/// if dropped before it exits.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on
/// a full pipe while we wait for it.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs the helper with `args` and returns its one JSON record.
async fn run(args: &[String]) -> anyhow::Result<Value> {
    let bin = binary()?;
    let mut child = Command::new(&bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let out = drain(child.stdout.take().context("no stdout")?);
    let err = drain(child.stderr.take().context("no stderr")?);
    let mut helper = Helper(child);
    let pid = helper.0.id();
    let deadline = Instant::now() + RUN_LIMIT;
    // Polled rather than waited on a blocking thread, so a hung helper is
    // killed at the deadline; the helper times itself, so the poll period
    // does not enter the figures.
    let status = loop {
        if let Some(status) = helper.0.try_wait()? {
            break status;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "zenoh helper (pid {pid}) still running after {RUN_LIMIT:?}; killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    anyhow::ensure!(
        status.success(),
        "zenoh helper {args:?} failed ({status}): {}",
        err.trim()
    );
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("no record from the zenoh helper {args:?}"))?;
    Ok(serde_json::from_str(line)?)
}

/// The link between the helper's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Loopback TCP.
    Tcp,
    /// Loopback QUIC (Zenoh's `quic/` link, TLS with a throwaway
    /// certificate authority).
    Quic,
}

impl Link {
    /// Both links in the order the bench runs them, or none when Zenoh
    /// was not asked for.
    pub fn when(asked: bool) -> &'static [Link] {
        if asked { &[Link::Tcp, Link::Quic] } else { &[] }
    }

    /// The helper's `--transport` value, also the record's `transport`.
    fn arg(self) -> &'static str {
        match self {
            Link::Tcp => "tcp",
            Link::Quic => "quic",
        }
    }

    /// The `system` of this link's records (`zenoh` for TCP, as before
    /// there was a choice, so older records still plot).
    pub fn system(self) -> &'static str {
        match self {
            Link::Tcp => "zenoh",
            Link::Quic => "zenoh_quic",
        }
    }

    /// The name in summary lines.
    pub fn label(self) -> &'static str {
        match self {
            Link::Tcp => "zenoh (peer, tcp)",
            Link::Quic => "zenoh (peer, quic)",
        }
    }
}

/// Runs the helper with `args` over `link`; its record, checked to be of
/// that link.
async fn run_on(link: Link, mut args: Vec<String>) -> anyhow::Result<Value> {
    args.extend(["--transport".to_owned(), link.arg().to_owned()]);
    let record = run(&args).await?;
    anyhow::ensure!(
        record["transport"].as_str() == Some(link.arg()),
        "zenoh ran over another link: {record}"
    );
    Ok(record)
}

fn num(record: &Value, key: &str) -> anyhow::Result<u64> {
    record[key]
        .as_u64()
        .with_context(|| format!("zenoh record without {key}: {record}"))
}

/// B3 on Zenoh: 1 publisher to `n` subscribers, `messages` of `size` bytes,
/// at most `window` ahead of the slowest; the time until every subscriber
/// has all of them.
pub async fn throughput(
    link: Link,
    size: usize,
    n: usize,
    messages: usize,
    window: u64,
) -> anyhow::Result<crate::cpu::Measured> {
    let args = vec![
        "throughput".to_owned(),
        "--size".to_owned(),
        size.to_string(),
        "--subscribers".to_owned(),
        n.to_string(),
        "--messages".to_owned(),
        messages.to_string(),
        "--window".to_owned(),
        window.to_string(),
    ];
    let record = run_on(link, args).await?;
    anyhow::ensure!(
        num(&record, "messages")? == messages as u64,
        "zenoh ran another message count: {record}"
    );
    // The helper's own CPU over the timed part, all its sessions together.
    Ok(crate::cpu::Measured {
        wall: Duration::from_nanos(num(&record, "nanos")?),
        cpu: Duration::from_nanos(num(&record, "cpu_ns")?),
    })
}

/// B4 on Zenoh: `rounds` ping-pongs of `size` bytes between two sessions;
/// the p50 and p99 round trips.
pub async fn rtt(link: Link, size: usize, rounds: usize) -> anyhow::Result<(Duration, Duration)> {
    let args = vec![
        "rtt".to_owned(),
        "--size".to_owned(),
        size.to_string(),
        "--rounds".to_owned(),
        rounds.to_string(),
    ];
    let record = run_on(link, args).await?;
    Ok((
        Duration::from_nanos(num(&record, "p50_ns")?),
        Duration::from_nanos(num(&record, "p99_ns")?),
    ))
}

/// Builds the helper now and says whether it could be (the first build
/// needs crates.io or a filled cargo cache); prints why not when it fails.
pub fn available() -> bool {
    let started = Instant::now();
    match binary() {
        Ok(_) => {
            println!(
                "zenoh: bench/zenoh ready in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            true
        }
        Err(err) => {
            println!("zenoh: {err:#} (skipped)");
            false
        }
    }
}
