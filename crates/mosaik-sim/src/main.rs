//! Deterministic simulator for the mosaik consensus core.
//!
//! `mosaik-sim --seeds N --mode strict|dynamic [--nodes K] [--seed S] [--plant-bug NAME]` runs
//! seeds `S..S+N` (S defaults to 0) and ends with exactly `seeds: N, violations: V`. Every
//! violation prints its seed and the command that replays it.
//!
//! `mosaik-sim runtime ...` runs the real group runtime instead (see `runtime_cli.rs`).

mod runtime_cli;

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use mosaik_sim::harness::{
    Mode, RestartPolicy, SeedReport, SimConfig, UNFLUSHED_SEND, planted_bug, run_seed,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    Strict,
    Dynamic,
}

/// How the simulated operator restarts members (restart faults).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum RestartsArg {
    /// No restart faults: the schedules from before they existed.
    Off,
    /// Empty restarts one member at a time (none while another still catches up), stale bonds.
    Careful,
    /// Empty restarts without that discipline, and wipes with whole-group outages.
    Reckless,
}

/// Runs seeded fault schedules against K consensus engines and checks every safety property.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Consensus mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Strict)]
    mode: ModeArg,
    /// Number of members (3–7).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(3..=7))]
    nodes: u8,
    /// First seed (to replay one: `--seed S --seeds 1`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Re-introduce a known engine bug: prior-term-commit, double-vote, stale-read,
    /// bonded-quorum, fetch-skips-prev-check, amnesiac-voter, higher-round-wins, stale-catch-up.
    #[arg(long)]
    plant_bug: Option<String>,
    /// Restart faults: empty restarts (amnesia, wiped disks) and stale bonds.
    #[arg(long, value_enum, default_value_t = RestartsArg::Careful)]
    restarts: RestartsArg,
    /// Print one line per seed.
    #[arg(long)]
    verbose: bool,
}

/// Log fetch figures summed over a sweep.
#[derive(Default)]
struct FetchTotals {
    /// Seeds with log fetch on.
    enabled: u64,
    /// Seeds in which some member fetched.
    seeds: u64,
    fetches: u64,
    chunks: u64,
    entries: u64,
}

/// Restart fault figures summed over a sweep.
#[derive(Default)]
struct RestartTotals {
    /// Seeds with some restart fault.
    seeds: u64,
    amnesia: u64,
    wiped: u64,
    asymmetric: u64,
    caught_up: u64,
    /// Seeds where a crash tore unflushed writes.
    torn_seeds: u64,
    torn: u64,
    lost_writes: u64,
    mid_step: u64,
    early_appends: u64,
}

impl RestartTotals {
    fn add(&mut self, report: &SeedReport) {
        self.seeds += u64::from(report.restart_faults.is_some());
        self.amnesia += report.restarts.amnesia;
        self.wiped += report.restarts.wiped;
        self.asymmetric += report.restarts.asymmetric;
        self.caught_up += report.restarts.caught_up;
        self.torn_seeds += u64::from(report.torn.crashes > 0);
        self.torn += report.torn.crashes;
        self.lost_writes += report.torn.lost_writes;
        self.mid_step += report.torn.mid_step;
        self.early_appends += report.torn.early_appends;
    }
}

impl FetchTotals {
    fn add(&mut self, report: &SeedReport) {
        self.enabled += u64::from(report.log_fetch_threshold.is_some());
        self.seeds += u64::from(report.fetches > 0);
        self.fetches += report.fetches;
        self.chunks += report.fetched_chunks;
        self.entries += report.fetched_entries;
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("runtime") {
        return runtime_cli::main(argv.skip(1));
    }
    let args = Args::parse();
    if let Some(bug) = &args.plant_bug
        && planted_bug(bug).is_none()
        && bug != UNFLUSHED_SEND
    {
        eprintln!(
            "unknown planted bug {bug:?} (prior-term-commit, double-vote, stale-read, \
             bonded-quorum, fetch-skips-prev-check, amnesiac-voter, higher-round-wins, \
             stale-catch-up, unflushed-send)"
        );
        return ExitCode::from(2);
    }
    let mode = match args.mode {
        ModeArg::Strict => Mode::Strict,
        ModeArg::Dynamic => Mode::Dynamic,
    };
    let mut config = SimConfig::new(mode, usize::from(args.nodes));
    config.bug.clone_from(&args.plant_bug);
    config.restarts = match args.restarts {
        RestartsArg::Off => RestartPolicy::Off,
        RestartsArg::Careful => RestartPolicy::Careful,
        RestartsArg::Reckless => RestartPolicy::Reckless,
    };
    // Engine panics are reported as violations with their seed; the default hook would only
    // repeat them without it.
    std::panic::set_hook(Box::new(|_| {}));

    let started = Instant::now();
    let (mut violations, mut unknown, mut checked, mut operations) = (0_u64, 0_u64, 0_u64, 0_u64);
    let mut fetch = FetchTotals::default();
    let mut restarts = RestartTotals::default();
    for seed in args.seed..args.seed + args.seeds {
        let report = run_seed(&config, seed);
        operations += report.operations as u64;
        checked += u64::from(report.checked_history);
        unknown += u64::from(report.unknown);
        fetch.add(&report);
        restarts.add(&report);
        if args.verbose {
            println!(
                "seed {seed}: {} ops, {} events, {} ms simulated, {}",
                report.operations,
                report.events,
                report.sim_ms,
                report
                    .violation
                    .as_ref()
                    .map_or("ok".to_owned(), ToString::to_string)
            );
        }
        if let Some(violation) = &report.violation {
            violations += 1;
            println!("VIOLATION seed {seed}: {violation}");
            println!("  replay: {}", config.replay_command(seed));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_minute = if elapsed > 0.0 {
        f64::from(u32::try_from(args.seeds).unwrap_or(u32::MAX)) * 60.0 / elapsed
    } else {
        0.0
    };
    println!(
        "mode {}, {} nodes{}: {per_minute:.0} seeds/minute, {operations} client operations, \
         {checked} histories checked, unknown linearizability verdicts: {unknown}",
        mode.name(),
        args.nodes,
        args.plant_bug
            .as_ref()
            .map_or(String::new(), |b| format!(", planted bug {b}")),
    );
    // Before the last line: `.ci/sim-sweep` greps the last line's exact format.
    println!(
        "log fetch: on in {} seeds, fetched in {} ({} fetches, {} chunks, {} entries appended)",
        fetch.enabled, fetch.seeds, fetch.fetches, fetch.chunks, fetch.entries
    );
    println!(
        "restarts ({}): in {} seeds, amnesia {}, wiped {}, asymmetric {}, caught up {}",
        config.restarts.name(),
        restarts.seeds,
        restarts.amnesia,
        restarts.wiped,
        restarts.asymmetric,
        restarts.caught_up
    );
    println!(
        "torn writes: in {} seeds, {} torn crashes lost {} unflushed writes, {} mid-step crashes, \
         {} appends sent before the leader's flush",
        restarts.torn_seeds,
        restarts.torn,
        restarts.lost_writes,
        restarts.mid_step,
        restarts.early_appends
    );
    println!("seeds: {}, violations: {violations}", args.seeds);
    if violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
