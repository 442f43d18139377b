//! The checkers can fail: each planted bug is caught by the harness under random faults in
//! strict mode (where every safety property must hold), while the same runs without the bug
//! pass. This is what the simulator's own planted-bug self-test does at scale.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::{Cluster, fast_config};
use mosaik_raft::{Config, PlantedBug};

/// Strict-mode chaos with every check on; panics on any violation.
#[derive(Clone, Copy, Debug)]
enum Schedule {
    /// Splits, link cuts, crashes, reads.
    Network,
    /// Nodes reboot (crash and restart at once) during contested elections.
    Crashes,
    /// Leaders crash mid-replication on a very lossy network.
    LeaderCrashes,
}

fn strict_run(bug: Option<PlantedBug>, seed: u64, schedule: Schedule) {
    let mut config = fast_config()
        .with_min_quorum(Some(3))
        .with_max_append_entries(1);
    config.planted_bug = bug;
    if !matches!(schedule, Schedule::Network) {
        // Crash-heavy runs with little timeout jitter: many contested elections.
        config = config.with_election_timeout_jitter(Duration::from_millis(20));
    }
    let mut cluster = Cluster::new(5, &config, seed);
    cluster.loss_percent = 10;
    cluster.latency_jitter_ms = 30;
    match schedule {
        Schedule::Network => cluster.chaos_with_partitions(150, 60),
        Schedule::Crashes => reboots(&mut cluster, 300),
        Schedule::LeaderCrashes => {
            // Heavy loss leaves entries on minorities when leaders fail (~7% of seeds catch it).
            cluster.loss_percent = 35;
            leader_crashes(&mut cluster, 300);
        }
    }
    cluster.calm();
    cluster.run_for(Duration::from_secs(2));
    cluster.check_log_matching();
    cluster.check_state_machines();
    cluster.check_one_leader_per_round();
}

/// Crash-heavy schedule aimed at leaders (the Figure 8 shape needs several leaders to fail
/// mid-replication): each round crashes the leader, restarts a node, or proposes.
fn leader_crashes(cluster: &mut Cluster, rounds: u64) {
    let mut rng = common::Rng::new(cluster.seed);
    for _ in 0..rounds {
        let down: Vec<u64> = cluster
            .ids()
            .into_iter()
            .filter(|id| !cluster.node(*id).is_up())
            .collect();
        match rng.below(10) {
            0..=2 if down.len() < 2 => {
                if let Some(leader) = cluster.leaders().first().copied() {
                    cluster.crash(leader);
                }
            }
            0..=5 if !down.is_empty() => {
                let id = down[usize::try_from(rng.below(down.len() as u64)).unwrap()];
                cluster.restart(id);
            }
            _ => {
                let id = 1 + rng.below(5);
                cluster.propose(id, vec![rng.next() >> 8]);
            }
        }
        cluster.run_for(Duration::from_millis(40));
    }
}

/// Each round reboots a random node (in-memory state lost, disk kept) or proposes.
fn reboots(cluster: &mut Cluster, rounds: u64) {
    let mut rng = common::Rng::new(cluster.seed);
    for _ in 0..rounds {
        let id = 1 + rng.below(5);
        if rng.percent(30) {
            cluster.crash(id);
            cluster.restart(id);
        } else {
            cluster.propose(id, vec![rng.next() >> 8]);
        }
        cluster.run_for(Duration::from_millis(20 + rng.below(40)));
    }
}

/// Number of seeds (out of `seeds`) on which a violation was detected.
fn detections(bug: Option<PlantedBug>, seeds: u64, schedule: Schedule) -> u64 {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // expected panics: keep the output readable
    let caught = (0..seeds)
        .filter(|seed| {
            catch_unwind(AssertUnwindSafe(|| strict_run(bug, 1000 + seed, schedule))).is_err()
        })
        .count() as u64;
    std::panic::set_hook(hook);
    caught
}

fn assert_caught(bug: PlantedBug, schedule: Schedule, default_seeds: u64) {
    let seeds = common::seeds(default_seeds);
    let caught = detections(Some(bug), seeds, schedule);
    assert!(caught > 0, "{bug:?} went undetected in {seeds} seeds");
    println!("{bug:?}: caught in {caught}/{seeds} seeds");
}

#[test]
fn correct_engine_passes_the_same_runs() {
    let seeds = common::seeds(40);
    for seed in 0..seeds {
        for schedule in [
            Schedule::Network,
            Schedule::Crashes,
            Schedule::LeaderCrashes,
        ] {
            strict_run(None, 1000 + seed, schedule);
        }
    }
}

#[test]
fn planted_bonded_quorum_is_caught() {
    assert_caught(PlantedBug::BondedQuorum, Schedule::Network, 40);
}

#[test]
fn planted_stale_read_is_caught() {
    assert_caught(PlantedBug::StaleRead, Schedule::Network, 40);
}

#[test]
fn planted_double_vote_is_caught() {
    assert_caught(PlantedBug::DoubleVote, Schedule::Crashes, 100);
}

#[test]
fn planted_prior_term_commit_is_caught() {
    assert_caught(PlantedBug::PriorTermCommit, Schedule::LeaderCrashes, 100);
}

#[test]
fn planted_bugs_are_off_by_default() {
    assert_eq!(Config::default().planted_bug, None);
}
