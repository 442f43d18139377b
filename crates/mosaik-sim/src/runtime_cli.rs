//! `mosaik-sim runtime --seeds N --mode strict|dynamic [--seed S] [--plant-bug B]
//! [--check-replay]`: the group runtime under simulation (see `mosaik_sim::runtime`). Ends with
//! exactly `seeds: N, violations: V`.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use mosaik_sim::runtime::{self, Mode, Resubmit, Workload};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    Strict,
    Dynamic,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum WorkloadArg {
    /// The simulation's key-value machine on the `Group` API (log replay).
    Registers,
    /// A `collections::Vec` on its public API (snapshot transfer).
    Vec,
}

/// Runs the real group runtime on a simulated network and disks, one seed at a time.
#[derive(Parser, Debug)]
#[command(name = "mosaik-sim runtime")]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Consensus mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Strict)]
    mode: ModeArg,
    /// What the clients use.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Registers)]
    workload: WorkloadArg,
    /// First seed (to replay one: `--seed S --seeds 1`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Re-introduce a known runtime bug (see `mosaik::groups::sim::PlantedBug`).
    #[arg(long)]
    plant_bug: Option<String>,
    /// Clients give up on `Offline` instead of resubmitting it: the clients
    /// of before 7 Dec 2026, to replay a seed found then exactly.
    #[arg(long)]
    no_offline_retry: bool,
    /// Print one line per seed.
    #[arg(long)]
    verbose: bool,
    /// Run every seed twice: a second run that differs (fingerprint,
    /// operation count or verdict) is a violation, since a seed that does
    /// not replay cannot be debugged.
    #[arg(long)]
    check_replay: bool,
}

impl Args {
    /// What the `registers` clients resubmit.
    fn resubmit(&self) -> Resubmit {
        if self.no_offline_retry {
            Resubmit::SupersededOnly
        } else {
            Resubmit::Refused
        }
    }
}

/// Log timestamps on the simulation's virtual clock (seconds since the
/// process started; each seed's runtime starts the clock anew from there).
struct VirtualTime(tokio::time::Instant);

impl tracing_subscriber::fmt::time::FormatTime for VirtualTime {
    fn format_time(
        &self,
        w: &mut tracing_subscriber::fmt::format::Writer<'_>,
    ) -> core::fmt::Result {
        let at = tokio::time::Instant::now().saturating_duration_since(self.0);
        write!(w, "{:>9.3}", at.as_secs_f64())
    }
}

/// Runs `seed` again: a description of the difference if the second run
/// differs from `first` (fingerprint, operation count or verdict).
fn replay_differs(
    first: &runtime::Report,
    seed: u64,
    mode: Mode,
    workload: Workload,
    resubmit: Resubmit,
) -> Option<String> {
    let again = runtime::run_seed_resubmitting(seed, mode, workload, resubmit);
    let same = (again.fingerprint, again.operations, &again.violation)
        == (first.fingerprint, first.operations, &first.violation);
    (!same).then(|| {
        format!(
            "nondeterminism: a second run differed (fingerprint {:016x} against {:016x}, {} \
             against {} operations, verdict {:?})",
            first.fingerprint,
            again.fingerprint,
            first.operations,
            again.operations,
            again.violation
        )
    })
}

/// Entry point of the subcommand; `args` excludes the word `runtime`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let args = Args::parse_from(std::iter::once("mosaik-sim runtime".to_owned()).chain(args));
    let mode = match args.mode {
        ModeArg::Strict => Mode::Strict,
        ModeArg::Dynamic => Mode::Dynamic,
    };
    let mode_name = format!("{:?}", args.mode).to_lowercase();
    let workload = match args.workload {
        WorkloadArg::Registers => Workload::Registers,
        WorkloadArg::Vec => Workload::Vec,
    };
    let resubmit = args.resubmit();
    let workload_arg = match workload {
        Workload::Registers => String::new(),
        Workload::Vec => " --workload vec".to_owned(),
    };
    if let Some(bug) = &args.plant_bug
        && !mosaik::groups::sim::plant_bug(bug)
    {
        eprintln!(
            "unknown planted bug {bug:?} ({})",
            mosaik::groups::sim::PLANTED_BUGS.join(", ")
        );
        return ExitCode::from(2);
    }
    if let Ok(filter) = std::env::var("MOSAIK_SIM_LOG") {
        // Debugging a seed: the runtime's own tracing (e.g. `mosaik=debug`)
        // on stderr; off by default, sweeps print only their verdicts.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_timer(VirtualTime(tokio::time::Instant::now()))
            .init();
    }
    runtime::capture_panics();
    let started = Instant::now();
    let (mut violations, mut unknown, mut operations, mut acknowledged) = (0u64, 0u64, 0, 0);
    let (mut superseded, mut offline, mut refused, mut snapshots) = (0, 0, 0, 0);
    for seed in args.seed..args.seed + args.seeds {
        let mut report = runtime::run_seed_resubmitting(seed, mode, workload, resubmit);
        if args.check_replay && report.violation.is_none() {
            report.violation = replay_differs(&report, seed, mode, workload, resubmit);
        }
        operations += report.operations;
        acknowledged += report.acknowledged;
        superseded += report.superseded;
        offline += report.offline;
        refused += report.refused;
        snapshots += report.snapshots_installed;
        unknown += u64::from(report.unknown);
        if args.verbose {
            println!(
                "seed {seed}: {} ops, {} acknowledged puts, faults {:?}, {} snapshots installed, \
                 fingerprint {:016x}, {}",
                report.operations,
                report.acknowledged,
                report.faults,
                report.snapshots_installed,
                report.fingerprint,
                report.violation.as_deref().unwrap_or("ok")
            );
        }
        if let Some(violation) = &report.violation {
            violations += 1;
            println!("VIOLATION seed {seed}: {violation}");
            let bug = args
                .plant_bug
                .as_ref()
                .map_or(String::new(), |b| format!(" --plant-bug {b}"));
            println!(
                "  replay: cargo run --release -p mosaik-sim -- runtime --seeds 1 --seed {seed} \
                 --mode {mode_name}{workload_arg}{bug}"
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let per_minute = if elapsed > 0.0 {
        args.seeds as f64 * 60.0 / elapsed
    } else {
        0.0
    };
    println!(
        "runtime, mode {mode_name}, workload {:?}, {} members{}: {per_minute:.0} seeds/minute, {operations} \
         client operations, {acknowledged} acknowledged puts, {superseded} superseded and \
         resubmitted, {offline} offline and resubmitted, {refused} puts refused on every \
         attempt, {snapshots} snapshots installed by catch-ups, unknown linearizability \
         verdicts: {unknown}",
        workload,
        runtime::MEMBERS,
        args.plant_bug
            .as_ref()
            .map_or(String::new(), |b| format!(", planted bug {b}")),
    );
    println!("seeds: {}, violations: {violations}", args.seeds);
    if violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
