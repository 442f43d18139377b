//! The durable crash scenario, in strict mode, three members writing all
//! along:
//!
//! 1. [`ROUNDS`] times: SIGKILL one member (the leader in the first round,
//!    a random one after), restart it on its directory right away, wait
//!    until its new incarnation's writes are acknowledged and it reached
//!    what the others had committed.
//! 2. SIGKILL all three at once, restart all three on their directories,
//!    wait until each one's writes are acknowledged again.
//! 3. Wiped directory: kill a member, delete its directory, restart it: it
//!    comes back empty (an amnesiac, a non-voter until it caught up) and
//!    must catch up.
//! 4. Torn tail: kill a member, cut a few bytes off its last WAL segment,
//!    restart it: it must start and catch up.
//! 5. Damaged middle: kill a member, flip a byte in the middle of a WAL
//!    segment: the member must refuse to start (exit status
//!    [`EXIT_STORE`]) with an error naming the file and the offset. It is
//!    then restarted on a wiped directory, so the final check covers it.
//!
//! Then the writers stop and `check.rs` compares every replica with every
//! acknowledged write. Every wait is bounded and on a condition
//! (`wait.rs`); nothing sleeps a fixed time.

use {
    crate::{
        check::{self, Outcome},
        cluster::{Cluster, Mode},
        member::EXIT_STORE,
        wait::{
            agreed_leader, committed_at_least, committed_by_others, same_committed,
            writes_acknowledged,
        },
    },
    anyhow::{Context as _, anyhow},
    core::time::Duration,
    std::{
        fs::OpenOptions,
        os::unix::fs::FileExt,
        path::{Path, PathBuf},
        time::Instant,
    },
};

/// Members in the group.
const MEMBERS: usize = 3;

/// Single-member kill/restart rounds.
const ROUNDS: usize = 5;

/// Bytes cut off the last WAL segment in the torn-tail case.
const TORN_BYTES: u64 = 5;

/// How long a member on a damaged store may take to give up.
const REFUSE_WITHIN: Duration = Duration::from_secs(20);

/// Runs the scenario and checks its outcome. A step that does not complete
/// is recorded as a failure and the scenario goes on to the final
/// comparison; only a broken harness ends it early.
pub async fn run(mode: Mode) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    println!("{}: data directories under {}", mode.name(), root.display());

    let mut cluster = Cluster::start_durable(mode, MEMBERS, &root)?;
    let mut problems = Vec::new();
    for i in 0..MEMBERS {
        writes_acknowledged(&cluster, i).await?;
    }

    for round in 0..ROUNDS {
        let victim = if round == 0 {
            match agreed_leader(&mut cluster).await {
                Ok(leader) => leader,
                Err(err) => {
                    problems.push(format!("round 0: no leader to kill: {err:#}"));
                    0
                }
            }
        } else {
            rand::random_range(0..MEMBERS)
        };
        let role = if cluster.status(victim).await?.is_leader {
            "leader"
        } else {
            "follower"
        };
        println!("{}: round {round}: killing {role} m{victim}", mode.name());
        if let Err(err) = crash_and_restart(&mut cluster, victim, |_| Ok(())).await {
            problems.push(format!("round {round} (m{victim}): {err:#}"));
        }
    }

    println!("{}: killing all {MEMBERS} members at once", mode.name());
    if let Err(err) = whole_group_crash(&mut cluster).await {
        problems.push(format!("after the whole-group crash: {err:#}"));
    }

    let victim = rand::random_range(0..MEMBERS);
    println!("{}: wiping the directory of m{victim}", mode.name());
    if let Err(err) = crash_and_restart(&mut cluster, victim, wipe).await {
        problems.push(format!("wiped m{victim}: {err:#}"));
    }

    let victim = rand::random_range(0..MEMBERS);
    println!(
        "{}: cutting {TORN_BYTES} bytes off the WAL of m{victim}",
        mode.name()
    );
    if let Err(err) = crash_and_restart(&mut cluster, victim, tear_tail).await {
        problems.push(format!("torn tail of m{victim}: {err:#}"));
    }

    let victim = rand::random_range(0..MEMBERS);
    println!("{}: flipping a byte in the WAL of m{victim}", mode.name());
    match refuses_damaged_middle(&mut cluster, victim).await {
        Ok(()) => {}
        Err(err) => problems.push(format!("damaged middle of m{victim}: {err:#}")),
    }

    for i in 0..MEMBERS {
        cluster.stop_writing(i).await?;
    }
    if let Err(err) = same_committed(&mut cluster).await {
        problems.push(format!("members did not converge: {err:#}"));
    }
    let mut dumps = Vec::with_capacity(MEMBERS);
    for i in 0..MEMBERS {
        dumps.push(cluster.dump(i).await?);
    }
    let outcome = check::verify(
        mode,
        &cluster.acks(),
        &dumps,
        cluster.kills,
        problems,
        started.elapsed(),
    );
    if outcome.failures.is_empty() {
        drop(cluster);
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(outcome)
}

/// SIGKILLs member `i`, applies `damage` to its data directory, restarts
/// it right away on that directory with the same key and port, and waits
/// until it caught up: its new incarnation's writes are acknowledged and
/// its committed index reached what the others had committed meanwhile.
async fn crash_and_restart(
    cluster: &mut Cluster,
    i: usize,
    damage: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    cluster.kill(i).await?;
    damage(data_dir(cluster, i)?)?;
    cluster.restart(i)?;
    let target = committed_by_others(cluster, i).await?;
    writes_acknowledged(cluster, i).await?;
    committed_at_least(cluster, i, target).await
}

/// SIGKILLs every member at once, restarts them all on their directories
/// and waits until each one's writes are acknowledged again.
pub async fn whole_group_crash(cluster: &mut Cluster) -> anyhow::Result<()> {
    cluster.kill_all().await?;
    for i in 0..MEMBERS {
        cluster.restart(i)?;
    }
    for i in 0..MEMBERS {
        writes_acknowledged(cluster, i).await?;
    }
    Ok(())
}

/// Member `i` fails to start on a WAL with a flipped byte in its middle,
/// with an error naming the segment and the offset; it is then restarted
/// on a wiped directory and must catch up.
async fn refuses_damaged_middle(cluster: &mut Cluster, i: usize) -> anyhow::Result<()> {
    cluster.kill(i).await?;
    let dir = data_dir(cluster, i)?.to_owned();
    let (segment, len) = segments(&dir)?
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .ok_or_else(|| anyhow!("no WAL segment in {}", dir.display()))?;
    let at = len / 2;
    let file = OpenOptions::new().read(true).write(true).open(&segment)?;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at)?;
    file.write_all_at(&[byte[0] ^ 0xff], at)?;
    drop(file);
    println!(
        "durability::strict: flipped the byte at {at} of {} ({len} bytes)",
        segment.display()
    );

    let (status, stderr) = cluster.start_expecting_exit(i, REFUSE_WITHIN).await?;
    let name = segment
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let refused = status.code() == Some(EXIT_STORE)
        && stderr.contains("corrupt")
        && stderr.contains(name)
        && stderr.contains("offset");
    let first_line = stderr
        .lines()
        .find(|l| l.contains("cannot open"))
        .unwrap_or("");
    println!("durability::strict: m{i} exited with {status}: {first_line}");
    let refusal = if refused {
        Ok(())
    } else {
        Err(anyhow!(
            "m{i} did not refuse the damaged store as expected: {status}, stderr: {stderr}"
        ))
    };

    wipe(&dir)?;
    cluster.restart(i)?;
    let target = committed_by_others(cluster, i).await?;
    writes_acknowledged(cluster, i).await?;
    committed_at_least(cluster, i, target).await?;
    refusal
}

fn data_dir(cluster: &Cluster, i: usize) -> anyhow::Result<&Path> {
    cluster
        .data_dir(i)
        .ok_or_else(|| anyhow!("m{i} has no data directory"))
}

/// Deletes the directory (the member recreates it empty).
fn wipe(dir: &Path) -> anyhow::Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// Cuts [`TORN_BYTES`] off the records of the last WAL segment (and the
/// zeros after them), like a write torn by the crash.
fn tear_tail(dir: &Path) -> anyhow::Result<()> {
    let (last, len) = segments(dir)?
        .into_iter()
        .next_back()
        .ok_or_else(|| anyhow!("no WAL segment in {}", dir.display()))?;
    let file = OpenOptions::new().write(true).open(&last)?;
    file.set_len(len.saturating_sub(TORN_BYTES))?;
    file.sync_all()?;
    println!(
        "durability::strict: cut {} from {len} to {} bytes",
        last.display(),
        len.saturating_sub(TORN_BYTES)
    );
    Ok(())
}

/// The WAL segments (`wal-<seq>.log`) in `dir` with the length of their
/// records (the files go on with the zeros the WAL writes ahead), in
/// sequence order.
fn segments(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("wal-") && name.ends_with(".log") {
            let bytes = std::fs::read(entry.path())?;
            let records = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            found.push((entry.path(), records as u64));
        }
    }
    found.sort();
    Ok(found)
}
