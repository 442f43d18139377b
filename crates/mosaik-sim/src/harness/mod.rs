//! The simulation harness: K engines of `mosaik-raft` over a [`SimNetwork`](crate::net::SimNetwork),
//! with a key-value state machine per member, clients, a seeded fault schedule, and the
//! [`checkers`](crate::checkers) watching every step.
//!
//! One seed = one run: a chaos phase (faults and client traffic), then a heal-and-quiesce phase
//! (faults stop, everyone restarts and re-bonds) that checks liveness and convergence, then the
//! linearizability check of the client history. Everything is a pure function of
//! `(SimConfig, seed)`, so `--seed S` replays a failure exactly.

mod catch_up;
mod clients;
mod cluster;
mod disk;
mod fetch;
mod figure8;
mod membership;
mod node;
mod restarts;
mod run;
mod schedule;
mod stale_bonds;
mod torn;

use mosaik_raft::{Message, Output, PlantedBug};

pub use clients::{Clients, Request};
pub use cluster::Cluster;
pub use disk::Disk;
pub use fetch::Fetches;
pub use figure8::Figure8;
pub use node::{CatchUp, SimNode};
pub use restarts::{
    REPLACE_INTERVAL_MS, RestartCounts, RestartFaults, RestartPolicy, Restarts, StaleBonds,
};
pub use run::run_seed;
pub use schedule::{Profile, Style};
pub use torn::TornWrites;

use crate::checkers::Violation;
use crate::kv::Put;

/// Member ids in the simulation.
pub type Id = u64;
/// A message between simulated members.
pub type Msg = Message<Id, Put>;
/// An engine output in the simulation.
pub type Out = Output<Id, Put>;

/// Which consensus mode the members run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `min_quorum` = majority of all members: every safety property holds under any fault.
    Strict,
    /// Voters = bonded members: the strong properties hold only while every leader's quorum is
    /// a majority of all members;
    /// after partitions the group must reconverge.
    Dynamic,
}

impl Mode {
    /// The CLI spelling.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Dynamic => "dynamic",
        }
    }
}

/// A planted bug by its CLI name (`prior-term-commit`, `double-vote`, `stale-read`,
/// `bonded-quorum`, `fetch-skips-prev-check`, `amnesiac-voter`, `higher-round-wins`,
/// `stale-catch-up`).
pub fn planted_bug(name: &str) -> Option<PlantedBug> {
    Some(match name {
        "prior-term-commit" => PlantedBug::PriorTermCommit,
        "double-vote" => PlantedBug::DoubleVote,
        "stale-read" => PlantedBug::StaleRead,
        "bonded-quorum" => PlantedBug::BondedQuorum,
        "fetch-skips-prev-check" => PlantedBug::FetchSkipsPrevCheck,
        "amnesiac-voter" => PlantedBug::AmnesiacVoter,
        "higher-round-wins" => PlantedBug::HigherRoundWins,
        "stale-catch-up" => PlantedBug::StaleCatchUp,
        _ => return None,
    })
}

/// What every seed of a sweep shares.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Consensus mode.
    pub mode: Mode,
    /// Number of members (3–7).
    pub nodes: usize,
    /// The planted bug's CLI name, if any.
    pub bug: Option<String>,
    /// Length of the chaos phase in simulated milliseconds.
    pub chaos_ms: u64,
    /// How the simulated operator restarts members (restart faults; `Off` replays the
    /// schedules from before they existed).
    pub restarts: RestartPolicy,
}

impl SimConfig {
    /// Defaults for `mode` with `nodes` members and no planted bug.
    pub fn new(mode: Mode, nodes: usize) -> Self {
        Self {
            mode,
            nodes,
            bug: None,
            chaos_ms: 6_000,
            restarts: RestartPolicy::DEFAULT,
        }
    }

    /// The command that replays `seed` under this configuration.
    pub fn replay_command(&self, seed: u64) -> String {
        let mut command = format!(
            "cargo run -p mosaik-sim --release -- --seeds 1 --mode {} --nodes {} --seed {seed}",
            self.mode.name(),
            self.nodes
        );
        if let Some(bug) = &self.bug {
            command.push_str(" --plant-bug ");
            command.push_str(bug);
        }
        if self.restarts != RestartPolicy::DEFAULT {
            command.push_str(" --restarts ");
            command.push_str(self.restarts.name());
        }
        command
    }
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// The first property that failed, if any.
    pub violation: Option<Violation>,
    /// Whether the linearizability check ran out of budget (neither pass nor failure).
    pub unknown: bool,
    /// Whether the history was checked for linearizability (strict, or no membership churn).
    pub checked_history: bool,
    /// Client operations recorded.
    pub operations: usize,
    /// Network events processed.
    pub events: u64,
    /// Simulated time at the end, in milliseconds.
    pub sim_ms: u64,
    /// Log fetch threshold of the seed's members (`None`: log fetch off).
    pub log_fetch_threshold: Option<u64>,
    /// Log fetches the members started (`NeedLogFetch`).
    pub fetches: u64,
    /// Fetched chunks handed to members.
    pub fetched_chunks: u64,
    /// Entries members appended from fetched chunks.
    pub fetched_entries: u64,
    /// The seed's restart faults (`None` if it had none).
    pub restart_faults: Option<RestartFaults>,
    /// Restart faults carried out.
    pub restarts: RestartCounts,
    /// Torn-write faults carried out.
    pub torn: TornCounts,
}

/// Torn-write faults carried out during one seed (see [`TornWrites`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TornCounts {
    /// Crashes that found unflushed writes and kept only a prefix of them.
    pub crashes: u64,
    /// Unflushed writes those crashes lost.
    pub lost_writes: u64,
    /// Crashes in the middle of a step.
    pub mid_step: u64,
    /// `AppendEntries` sent before the leader's own flush.
    pub early_appends: u64,
}

/// The planted *shell* bug (not the engine's): messages leave before the writes they depend on
/// are flushed. The storage model must make the checkers catch it.
pub const UNFLUSHED_SEND: &str = "unflushed-send";
