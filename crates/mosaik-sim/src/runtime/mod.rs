//! `mosaik-sim runtime`: the real group runtime of `mosaik` (its driver,
//! group commit, sync sessions, storage path, restore and revert) under
//! deterministic simulation.
//!
//! One seed = one run on a current-thread tokio runtime with paused
//! (virtual) time: three members on `mosaik::groups::sim`'s in-memory,
//! fault-injecting bond transport and crash-faithful disks, clients on the
//! public `Group` API, a seeded fault schedule (isolations, asymmetric
//! blocks, crashes and restarts, the leader's too), then healing and the
//! checks of [`checks`].

pub mod checks;
pub mod clients;
pub mod cluster;
pub mod faults;
pub mod machine;
pub mod vec;

pub use clients::Resubmit;
use cluster::Cluster;
use core::hash::{Hash, Hasher};
use core::time::Duration;
use machine::{Answer, Query};
use mosaik::groups::{
    ConsensusConfig, Consistency,
    sim::{Faults, SimNet},
};
use std::hash::DefaultHasher;
use std::sync::{Mutex, PoisonError};
use tokio::time::{Instant, sleep};

/// Consensus mode of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `with_min_quorum(2)` of 3: linearizable, nothing acknowledged lost.
    Strict,
    /// The default: replicas converge after healing.
    Dynamic,
}

/// What the clients of a run use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A key-value machine of the simulation's own (`machine.rs`) on the
    /// `Group` API: `execute`, `execute_many`, `feed`, Strong and Weak
    /// queries; catch-up by log replay.
    Registers,
    /// A `mosaik::collections::Vec<u64>` on its public API, snapshotting
    /// every few dozen commands: catch-up by snapshot transfer.
    Vec,
}

/// Members per run.
pub const MEMBERS: usize = 3;
/// Simulated time with clients and faults.
const ACTIVE: Duration = Duration::from_secs(20);
/// Simulated time allowed for replicas to converge after healing.
const SETTLE: Duration = Duration::from_mins(1);
/// Clients per run.
const CLIENTS: u64 = 4;

/// What one seed found.
#[derive(Debug, Default)]
pub struct Report {
    /// The first property violated, if any.
    pub violation: Option<String>,
    /// The linearizability check ran out of budget.
    pub unknown: bool,
    /// Client operations recorded.
    pub operations: usize,
    /// Puts acknowledged by `execute`/`execute_many`.
    pub acknowledged: usize,
    /// Resubmissions of commands answered `Superseded`.
    pub superseded: u64,
    /// Resubmissions of commands answered `Offline`.
    pub offline: u64,
    /// Puts refused on every attempt (`Superseded`/`Offline`; feeds refused
    /// `Offline`): never applied.
    pub refused: usize,
    /// Faults injected.
    pub faults: faults::FaultCounts,
    /// Snapshots installed by catch-ups (snapshot transfers completed).
    pub snapshots_installed: u64,
    /// A hash of the run as its clients and replicas saw it: every
    /// operation with its call and return times and its outcome, and each
    /// replica's final contents. Two runs of one seed with the same
    /// fingerprint ran alike (`tests/runtime.rs` replays seeds with it).
    pub fingerprint: u64,
}

/// The fingerprint of a run (see [`Report::fingerprint`]): std's default
/// hasher, whose keys are fixed, so equal runs hash equal in one build.
pub(crate) fn fingerprint(operations: &impl Hash, replicas: &[(usize, Vec<u64>)]) -> u64 {
    let mut hasher = DefaultHasher::new();
    operations.hash(&mut hasher);
    replicas.hash(&mut hasher);
    hasher.finish()
}

/// Panics of any task of the current run (a worker panic is a failure
/// even when no client notices it).
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records panic messages instead of printing them; call once.
pub fn capture_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(ToString::to_string).unwrap_or_default();
        PANICS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{message} at {at}"));
    }));
}

/// Runs seed `seed` in `mode` with the `registers` workload.
pub fn run_seed(seed: u64, mode: Mode) -> Report {
    run_seed_with(seed, mode, Workload::Registers)
}

/// Runs seed `seed` in `mode` with `workload`.
pub fn run_seed_with(seed: u64, mode: Mode, workload: Workload) -> Report {
    run_seed_resubmitting(seed, mode, workload, Resubmit::Refused)
}

/// Runs seed `seed` in `mode` with `workload`, its clients resubmitting
/// what `resubmit` says (the `registers` workload's clients; the `vec`
/// workload's never resubmit).
pub fn run_seed_resubmitting(
    seed: u64,
    mode: Mode,
    workload: Workload,
    resubmit: Resubmit,
) -> Report {
    PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let installed_before = mosaik::groups::sim::snapshots_installed();
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time().start_paused(true);
    // tokio's own RNG picks the wait list of every `watch` waiter, and so
    // the order in which waiters of one change wake: seeded, a seed replays
    // exactly (`.cargo/config.toml` sets `tokio_unstable` for this call).
    #[cfg(tokio_unstable)]
    builder.rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()));
    let runtime = builder.build().expect("a current-thread runtime builds");
    let mut report = match workload {
        Workload::Registers => runtime.block_on(scenario(seed, mode, resubmit)),
        Workload::Vec => runtime.block_on(vec::scenario(seed, mode, ACTIVE, SETTLE)),
    };
    drop(runtime);
    // Other runs in this process (parallel tests) can only add to it.
    report.snapshots_installed =
        mosaik::groups::sim::snapshots_installed().saturating_sub(installed_before);
    let panics = core::mem::take(&mut *PANICS.lock().unwrap_or_else(PoisonError::into_inner));
    if report.violation.is_none()
        && let Some(first) = panics.first()
    {
        report.violation = Some(format!("panic: {first}"));
    }
    report
}

async fn scenario(seed: u64, mode: Mode, resubmit: Resubmit) -> Report {
    let strict = mode == Mode::Strict;
    let consensus = if strict {
        ConsensusConfig::builder().with_min_quorum(2)
    } else {
        ConsensusConfig::builder()
    };
    let consensus = consensus.build().unwrap_or_else(|never| match never {});
    let net = SimNet::new(seed, MEMBERS, Faults::default());
    let cluster = Cluster::new(net, consensus);
    for slot in 0..MEMBERS {
        cluster.start(slot);
    }
    let origin = Instant::now();
    let until = origin + ACTIVE;
    let recorder = clients::Recorder::new(origin);
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let client = clients::run(
            id,
            cluster.clone(),
            recorder.clone(),
            strict,
            until,
            resubmit,
        );
        tasks.push(tokio::spawn(client));
    }
    let faults = faults::run(cluster.clone(), until).await;
    for task in tasks {
        let _ = task.await;
    }
    let record = recorder.take();
    let mut report = Report {
        operations: record.history.len(),
        acknowledged: record.acknowledged.len(),
        superseded: record.superseded,
        offline: record.offline,
        refused: record.refused.len(),
        faults,
        ..Report::default()
    };
    let (replicas, led) = settle(&cluster, SETTLE, |slot| applied(&cluster, slot)).await;
    report.fingerprint = fingerprint(&(&record.history, &record.refused), &replicas);
    report.violation = checks::exactly_once(&replicas)
        .or_else(|| checks::refused_absent(&record, &replicas))
        .or_else(|| checks::converged(&replicas));
    if report.violation.is_none() && !led {
        // Equal replicas without a leader may all be short of what was
        // committed (restarted members apply only once a leader tells them
        // the commit index): a durability verdict would be meaningless.
        report.violation = Some(format!(
            "liveness: no leader within {} s of healing (every member up, no faults)",
            SETTLE.as_secs()
        ));
    }
    if strict && report.violation.is_none() {
        let final_history = replicas.first().map_or(&[][..], |(_, h)| h.as_slice());
        report.violation = checks::acknowledged_kept(&record, final_history);
        if report.violation.is_none() {
            match checks::linearizable(&record) {
                Ok(violation) => report.violation = violation,
                Err(_) => report.unknown = true,
            }
        }
    }
    report
}

/// Waits (simulated time) until a leader is elected and every replica
/// applied the same history, at most `limit`; returns the last histories
/// read (`read` gives one running machine's, `None` for a machine that
/// is down or did not answer) and whether a leader was seen.
pub(crate) async fn settle<F, Fut>(
    cluster: &impl cluster::Members,
    limit: Duration,
    read: F,
) -> (Vec<(usize, Vec<u64>)>, bool)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Option<Vec<u64>>>,
{
    let deadline = Instant::now() + limit;
    // Settled = the same histories on two polls in a row (a leader that was
    // just elected may not have applied everything committed yet).
    let mut previous = Vec::new();
    loop {
        let mut replicas = Vec::new();
        for slot in 0..cluster.size() {
            if let Some(history) = read(slot).await {
                replicas.push((slot, history));
            }
        }
        let same = replicas.windows(2).all(|w| w[0].1 == w[1].1);
        let led = cluster.leader().is_some();
        let settled = led && same && replicas.len() == cluster.size() && replicas == previous;
        if settled || Instant::now() >= deadline {
            return (replicas, led);
        }
        previous = replicas;
        sleep(Duration::from_millis(500)).await;
    }
}

/// The history machine `slot` of the `registers` workload applied, if it
/// runs and answers.
async fn applied(cluster: &Cluster, slot: usize) -> Option<Vec<u64>> {
    let group = cluster.group(slot)?;
    match group.query(Query::Applied, Consistency::Weak).await {
        Ok(result) => match result.result {
            Answer::Applied(applied) => Some(applied),
            Answer::Value(_) => None,
        },
        Err(_) => None,
    }
}
