//! `durability::map`: a `collections::Map` kept on disk with
//! `CollectionConfig::with_storage` survives the loss of every member at
//! once.
//!
//! Three member processes (`member --map`, strict mode) insert unique
//! values, each in the store's sub-directory of its own data directory.
//! The map snapshots every [`COMPACTION`] commands
//! (`map_member::COMPACTION`), so its log is pruned and a restart must
//! restore the stored snapshot, then replay the rest. [`CRASHES`] times:
//! once at least [`ACKS_BEFORE_CRASH`] more inserts were acknowledged, all
//! three are killed (SIGKILL) at once and restarted on their directories. Then the
//! writers stop and every acknowledged insert must be in every replica, the
//! replicas identical (`check.rs`). Each data directory must hold exactly
//! one store directory (named by the group id) with a snapshot file in it.

use {
    crate::{
        check::{self, Outcome},
        cluster::{Cluster, Mode},
        map_member::COMPACTION,
        scenario::whole_group_crash,
        wait::{Deadline, same_committed, writes_acknowledged},
    },
    anyhow::{Context as _, anyhow},
    std::{
        path::{Path, PathBuf},
        time::Instant,
    },
};

/// Members in the group.
const MEMBERS: usize = 3;

/// Full-cluster crashes.
const CRASHES: usize = 2;

/// Inserts acknowledged between two crashes: four compactions' worth
/// ([`COMPACTION`] is 50).
const ACKS_BEFORE_CRASH: usize = 200;
const _: () = assert!(ACKS_BEFORE_CRASH as u64 >= 4 * COMPACTION);

/// Runs the scenario and checks its outcome.
pub async fn run(mode: Mode) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("durability-map-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    println!("{}: data directories under {}", mode.name(), root.display());

    let mut cluster = Cluster::start_durable(mode, MEMBERS, &root)?;
    let mut problems = Vec::new();
    for i in 0..MEMBERS {
        writes_acknowledged(&cluster, i).await?;
    }
    for crash in 0..CRASHES {
        if let Err(err) = more_acks(&cluster, ACKS_BEFORE_CRASH).await {
            problems.push(format!("before crash {crash}: {err:#}"));
        }
        println!(
            "{}: crash {crash}: killing all {MEMBERS} members at once ({} inserts acknowledged)",
            mode.name(),
            cluster.acks().len()
        );
        if let Err(err) = whole_group_crash(&mut cluster).await {
            problems.push(format!("after crash {crash}: {err:#}"));
        }
    }

    for i in 0..MEMBERS {
        cluster.stop_writing(i).await?;
    }
    if let Err(err) = same_committed(&mut cluster).await {
        problems.push(format!("members did not converge: {err:#}"));
    }
    for i in 0..MEMBERS {
        let dir = cluster
            .data_dir(i)
            .ok_or_else(|| anyhow!("m{i} has no data directory"))?;
        if let Err(err) = one_store_with_snapshot(dir) {
            problems.push(format!("m{i}: {err:#}"));
        }
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

/// Waits until `more` inserts were acknowledged beyond those so far.
async fn more_acks(cluster: &Cluster, more: usize) -> anyhow::Result<()> {
    let target = cluster.acks().len() + more;
    let deadline = Deadline::new(format!("{target} acknowledged inserts"));
    while cluster.acks().len() < target {
        deadline.tick().await?;
    }
    Ok(())
}

/// `dir` holds one store directory, named by the 64-hex-digit group id,
/// with a snapshot file: the map's pruned log restarted from it.
fn one_store_with_snapshot(dir: &Path) -> anyhow::Result<()> {
    let stores: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    let [store] = stores.as_slice() else {
        anyhow::bail!(
            "expected one store directory in {}, found {stores:?}",
            dir.display()
        );
    };
    let name = store.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!("store directory {name:?} is not a group id");
    }
    if !store.join("snapshot").is_file() {
        anyhow::bail!("no snapshot in {}", store.display());
    }
    Ok(())
}
