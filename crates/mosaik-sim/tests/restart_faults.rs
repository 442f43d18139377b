//! The simulator really exercises the restart faults: on a short careful sweep, members are
//! restarted with empty storage (amnesia), lose their disk while down (wiped), and come back
//! behind stale bonds (asymmetric views), members that restarted empty catch up, and every
//! checker stays green.

use mosaik_sim::harness::{Mode, RestartCounts, RestartPolicy, SimConfig, run_seed};

/// Sums the restart faults of seeds `0..60`.
fn sweep(mode: Mode) -> (u64, RestartCounts) {
    let mut config = SimConfig::new(mode, 3);
    config.restarts = RestartPolicy::Careful;
    let (mut seeds, mut total) = (0, RestartCounts::default());
    for seed in 0..60 {
        let report = run_seed(&config, seed);
        assert!(
            report.violation.is_none(),
            "{}: {:?}",
            config.replay_command(seed),
            report.violation
        );
        seeds += u64::from(report.restart_faults.is_some());
        total.amnesia += report.restarts.amnesia;
        total.wiped += report.restarts.wiped;
        total.asymmetric += report.restarts.asymmetric;
        total.caught_up += report.restarts.caught_up;
    }
    println!(
        "{}: restart faults in {seeds} seeds: {total:?}",
        mode.name()
    );
    (seeds, total)
}

fn assert_exercised(mode: Mode) {
    let (seeds, total) = sweep(mode);
    let mode = mode.name();
    assert!(seeds >= 30, "{mode}: restart faults in {seeds} of 60 seeds");
    assert!(total.amnesia >= 20, "{mode}: {total:?}");
    assert!(total.wiped >= 10, "{mode}: {total:?}");
    assert!(total.asymmetric >= 20, "{mode}: {total:?}");
    assert!(total.caught_up >= 20, "{mode}: {total:?}");
}

#[test]
fn strict_seeds_restart_members_empty() {
    assert_exercised(Mode::Strict);
}

#[test]
fn dynamic_seeds_restart_members_empty() {
    assert_exercised(Mode::Dynamic);
}

#[test]
fn restart_faults_off_draw_nothing() {
    let config = SimConfig::new(Mode::Dynamic, 3);
    let mut off = config.clone();
    off.restarts = RestartPolicy::Off;
    for seed in 0..5 {
        let report = run_seed(&off, seed);
        assert_eq!(report.restart_faults, None);
        assert_eq!(report.restarts, RestartCounts::default());
    }
}

#[test]
fn crashes_tear_unflushed_writes_and_cut_steps() {
    let config = SimConfig::new(Mode::Strict, 3);
    let (mut torn, mut lost, mut mid_step) = (0, 0, 0);
    for seed in 0..60 {
        let report = run_seed(&config, seed);
        assert!(
            report.violation.is_none(),
            "{}: {:?}",
            config.replay_command(seed),
            report.violation
        );
        torn += report.torn.crashes;
        lost += report.torn.lost_writes;
        mid_step += report.torn.mid_step;
    }
    println!("torn crashes {torn}, lost writes {lost}, mid-step crashes {mid_step}");
    assert!(torn >= 3, "torn crashes: {torn}");
    assert!(lost >= 1, "lost unflushed writes: {lost}");
    assert!(mid_step >= 30, "mid-step crashes: {mid_step}");
}
