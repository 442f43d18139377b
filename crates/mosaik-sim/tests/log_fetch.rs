//! The simulator really exercises log fetch: on a short sweep some seeds turn it on, lagging
//! members fetch, chunks from peers extend their logs, and every checker stays green. Restart
//! faults are off here (`tests/restart_faults.rs` covers them), so these are the schedules
//! log fetch was tuned on.

use mosaik_sim::harness::{Mode, RestartPolicy, SimConfig, run_seed};

fn sweep(mode: Mode) {
    let mut config = SimConfig::new(mode, 3);
    config.restarts = RestartPolicy::Off;
    let (mut enabled, mut fetched, mut entries) = (0, 0, 0);
    for seed in 0..60 {
        let report = run_seed(&config, seed);
        assert!(
            report.violation.is_none(),
            "{}: {:?}",
            config.replay_command(seed),
            report.violation
        );
        enabled += u64::from(report.log_fetch_threshold.is_some());
        fetched += u64::from(report.fetches > 0);
        entries += report.fetched_entries;
    }
    let mode = mode.name();
    println!("{mode}: log fetch on in {enabled} seeds, fetched in {fetched}, {entries} entries");
    assert!(
        enabled >= 15,
        "{mode}: log fetch on in {enabled} of 60 seeds"
    );
    assert!(fetched >= 5, "{mode}: only {fetched} seeds fetched");
    assert!(entries > 0, "{mode}: no fetched entry was ever appended");
}

#[test]
fn strict_seeds_fetch_and_stay_correct() {
    sweep(Mode::Strict);
}

#[test]
fn dynamic_seeds_fetch_and_stay_correct() {
    sweep(Mode::Dynamic);
}
