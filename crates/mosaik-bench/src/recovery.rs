//! Recovery time of a durable member: a log of `entries` commands is
//! written straight through a `DurableStore` (consensus would take minutes
//! to produce it), then the member starts on that directory the way an
//! application restarts one: `DurableStore::open` (WAL replay, checksums,
//! decoding into the read copy), `join` (the worker's restore), election
//! (the member is alone, so it elects itself after one election timeout),
//! re-commit and apply of every entry. The check at the end asks the state
//! machine for the bytes it applied: recovery lost nothing.
//!
//! Each run is done warm (the files in the page cache, as right after a
//! crash) and cold (the files' cached pages dropped with
//! `posix_fadvise(DONTNEED)` through `dd`, which touches only this bench's files, so
//! other work on the machine keeps its cache).

use {
    crate::{
        floor::ensure_disk,
        groups::{Sink, node},
    },
    mosaik::{
        PeerId,
        groups::{
            Ballot, ConsensusConfig, DurableStore, GroupKey, HardState, Index, LogEntry, LogIndex,
            Storage, Strong,
        },
    },
    std::{
        path::Path,
        time::{Duration, Instant},
    },
};

/// Entries per append and flush while writing the log.
const BATCH: usize = 1024;

/// Phases of one recovery, each measured from the start of `open`.
struct Phases {
    open: Duration,
    leader: Duration,
    applied: Duration,
}

/// Writes `entries` × `size` B, then restarts a member on them `runs`
/// times warm and cold; prints the median of each phase.
pub async fn recovery(dir: &Path, entries: u64, size: usize, runs: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let fs = ensure_disk(dir)?;
    let base = dir.join(format!("recovery-{}", std::process::id()));
    let network = node("bench-recovery", None).await?;
    let me = network.local().id();
    let t = Instant::now();
    write_log(&base, me, entries, size).await?;
    let written = t.elapsed();
    let bytes: u64 = std::fs::read_dir(&base)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "recovery: wrote {entries} x {size} B through DurableStore in {written:?} ({} MiB on {fs})",
        bytes >> 20
    );
    let mut result = Ok(());
    for cold in [false, true] {
        let mut phases = Vec::new();
        for _ in 0..runs.max(1) {
            if cold {
                drop_cache(&base)?;
            }
            match restart(&network, &base, entries, size).await {
                Ok(p) => phases.push(p),
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
        }
        if result.is_err() {
            break;
        }
        report(cold, entries, size, &phases);
    }
    network.shutdown().await;
    let _ = std::fs::remove_dir_all(&base);
    result
}

/// A short election timeout: the member is alone and its recovery, not
/// the timeout, is what is measured (the timeout is reported as part of
/// "leader").
fn consensus() -> ConsensusConfig {
    ConsensusConfig::builder()
        .with_heartbeat_interval(Duration::from_millis(50))
        .with_heartbeat_jitter(Duration::from_millis(10))
        .with_election_timeout(Duration::from_millis(200))
        .with_election_timeout_jitter(Duration::from_millis(20))
        .with_bootstrap_delay(Duration::from_millis(100))
        .build()
        .expect("valid timing")
}

async fn write_log(dir: &Path, me: PeerId, entries: u64, size: usize) -> anyhow::Result<()> {
    let path = dir.to_path_buf();
    let mut store =
        tokio::task::spawn_blocking(move || DurableStore::<Vec<u8>>::open(path)).await??;
    let term = Ballot::new(1, me);
    store.set_hard_state(HardState {
        term,
        vote: Some(me),
        ..HardState::default()
    })?;
    let mut next = 1u64;
    while next <= entries {
        let n = (entries - next + 1).min(BATCH as u64);
        let batch: Vec<LogEntry<Vec<u8>>> = (0..n)
            .map(|_| LogEntry::command(term, vec![3u8; size]))
            .collect();
        store.append_entries(LogIndex(next), &batch)?;
        store.flush().await?;
        next += n;
    }
    // Dropping the store syncs and joins its I/O thread (frees the lock).
    tokio::task::spawn_blocking(move || drop(store)).await?;
    Ok(())
}

async fn restart(
    network: &mosaik::Network,
    dir: &Path,
    entries: u64,
    size: usize,
) -> anyhow::Result<Phases> {
    let path = dir.to_path_buf();
    let started = Instant::now();
    let store = tokio::task::spawn_blocking(move || DurableStore::<Vec<u8>>::open(path)).await??;
    let open = started.elapsed();
    let group = network
        .groups()
        .with_key(GroupKey::from_secret("bench-recovery"))
        .with_state_machine(Sink::default())
        .with_consensus_config(consensus())
        .with_log_storage(store)
        .join();
    let limit = Duration::from_mins(5);
    tokio::time::timeout(limit, group.when().leader_elected()).await?;
    let leader = started.elapsed();
    tokio::time::timeout(limit, group.when().committed().reaches(Index(entries))).await?;
    let applied = started.elapsed();
    let state = group
        .query((), Strong)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        *state == entries * size as u64,
        "recovered {} bytes of commands, expected {}",
        *state,
        entries * size as u64
    );
    // The last handle's drop stops the worker, which drops the store (sync,
    // join): wait for the directory lock to be free before the next run.
    drop(group);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let path = dir.to_path_buf();
        match tokio::task::spawn_blocking(move || DurableStore::<Vec<u8>>::open(path)).await? {
            Ok(store) => {
                tokio::task::spawn_blocking(move || drop(store)).await?;
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Phases {
        open,
        leader,
        applied,
    })
}

/// Drops this log's cached pages (only its own files): GNU `dd`'s
/// `iflag=nocache` with `count=0` is `posix_fadvise(DONTNEED)` on the whole
/// file (this crate has no `unsafe` to call it directly).
fn drop_cache(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let status = std::process::Command::new("dd")
            .arg(format!("if={}", path.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()?;
        anyhow::ensure!(status.success(), "dd nocache on {} failed", path.display());
    }
    Ok(())
}

fn report(cold: bool, entries: u64, size: usize, phases: &[Phases]) {
    let median = |f: fn(&Phases) -> Duration| {
        let mut v: Vec<_> = phases.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    let (open, leader, applied) = (
        median(|p| p.open),
        median(|p| p.leader),
        median(|p| p.applied),
    );
    let cache = if cold { "cold" } else { "warm" };
    let runs = phases.len();
    println!(
        "recovery ({cache}, median of {runs}): {entries} x {size} B: open {open:?}, leader elected {leader:?}, all applied (serving) {applied:?}"
    );
    println!(
        "{{\"scenario\":\"recovery\",\"cache\":\"{cache}\",\"entries\":{entries},\"entry_bytes\":{size},\"runs\":{runs},\"open_ms\":{},\"leader_ms\":{},\"applied_ms\":{}}}",
        open.as_millis(),
        leader.as_millis(),
        applied.as_millis()
    );
}
