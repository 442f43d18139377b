//! The seeded fault schedule: a per-seed profile (how hostile the network is, which fault kinds
//! occur, engine tunables) and the random fault actions taken during the chaos phase.

use std::time::Duration;

use mosaik_raft::{Config, PlantedBug, majority};

use super::{Cluster, Id, Mode};
use crate::net::{FaultConfig, SimRng};

/// The kind of fault schedule a seed runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Every fault kind mixed: partitions, one-way cuts, crashes, reboots, loss changes.
    Mixed,
    /// Members reboot every few tens of milliseconds during contested elections (what exposes
    /// a vote that is not persisted).
    RebootStorm,
    /// Leaders crash mid-replication on a very lossy network and come back (the Figure 8 shape
    /// that exposes committing prior-term entries by counting).
    LeaderCrashes,
    /// The Raft paper's Figure 8, scripted (`figure8.rs`): drawn from a stream of its own in
    /// some seeds of three or more members.
    Figure8,
}

/// The shape of one seed's chaos, drawn from the seed.
#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools)] // independent switches of one schedule
pub struct Profile {
    /// The kind of schedule.
    pub style: Style,
    /// Message loss, duplication, delays and clock drift.
    pub faults: FaultConfig,
    /// Whether partitions, isolations and one-way link cuts happen.
    pub partitions: bool,
    /// Whether members crash.
    pub crashes: bool,
    /// Whether a crash breaks the peers' bonds to the crashed member (a real shell notices a dead
    /// peer). Off only in dynamic-mode seeds that keep membership stable, where a crash is a
    /// quick reboot the shells never notice — always in dynamic `LeaderCrashes` seeds: a broken
    /// bond shrinks the voters and turns off the committed-entry checks there, which hid the
    /// Figure 8 shape those seeds exist to provoke (dynamic mode covers unbonding crashes in
    /// `Mixed` seeds).
    pub crash_unbonds: bool,
    /// Pause between fault actions, in milliseconds.
    pub fault_gap_ms: (u64, u64),
    /// Whether the shell prunes logs (exercising state sync).
    pub prune: bool,
    /// The engine configuration every member gets.
    pub config: Config,
}

impl Profile {
    /// Draws a profile for `mode` with `nodes` members.
    pub fn draw(rng: &mut SimRng, mode: Mode, nodes: usize, bug: Option<PlantedBug>) -> Self {
        let pick = |rng: &mut SimRng, items: &[u64]| *rng.choose(items).expect("non-empty");
        let loss = pick(rng, &[0, 0, 2, 5, 10, 20, 35]);
        let faults = FaultConfig {
            loss_probability: f64::from(u32::try_from(loss).unwrap_or(0)) / 100.0,
            duplicate_probability: f64::from(u32::try_from(pick(rng, &[0, 1, 5])).unwrap_or(0))
                / 100.0,
            delay_min_ms: 1,
            delay_max_ms: pick(rng, &[2, 10, 30, 60]),
            max_drift_ppm: pick(rng, &[0, 20_000, 100_000]),
            max_clock_offset_ms: rng.gen_range(0..10_000),
        };
        let partitions = match mode {
            Mode::Strict => rng.gen_bool(0.7),
            Mode::Dynamic => rng.gen_bool(0.5),
        };
        let style = match rng.gen_range(0..10) {
            0..=4 => Style::Mixed,
            5 | 6 => Style::RebootStorm,
            _ => Style::LeaderCrashes,
        };
        let crashes = style != Style::Mixed || rng.gen_bool(0.8);
        // Little election jitter means many contested elections (split votes, double votes).
        let jitter = if style != Style::Mixed || rng.gen_bool(0.3) {
            20
        } else {
            150
        };
        let mut config = Config::default()
            .with_heartbeat_interval(Duration::from_millis(50))
            .with_election_timeout(Duration::from_millis(300))
            .with_election_timeout_jitter(Duration::from_millis(jitter))
            .with_bootstrap_delay(Duration::from_millis(200))
            .with_forward_timeout(Duration::from_millis(300))
            .with_query_timeout(Duration::from_millis(300))
            .with_state_sync_retry(Duration::from_millis(500))
            .with_max_append_entries(usize::try_from(pick(rng, &[1, 4, 64])).unwrap_or(1));
        if mode == Mode::Strict {
            config = config.with_min_quorum(Some(majority(nodes)));
        }
        config.planted_bug = bug;
        let gap = match style {
            Style::Mixed => pick(rng, &[50, 150, 400]),
            Style::RebootStorm | Style::LeaderCrashes | Style::Figure8 => 10,
        };
        let mut faults = faults;
        if style == Style::LeaderCrashes {
            faults.loss_probability = 0.35;
            config = config.with_max_append_entries(1);
        }
        Self {
            style,
            faults,
            partitions,
            crashes,
            crash_unbonds: mode == Mode::Strict || (partitions && style != Style::LeaderCrashes),
            fault_gap_ms: (gap / 2, gap * 2),
            prune: rng.gen_bool(0.5),
            config,
        }
    }

    /// Turns about one seed in five into a scripted Figure 8 (see `figure8.rs`), drawn from a
    /// stream of its own so other seeds keep their schedules: one-entry appends, quick fault
    /// ticks, no partitions of its own (the script cuts replication itself), crashes that do
    /// not unbond (quick reboots, as in `LeaderCrashes` seeds).
    pub fn draw_figure8(&mut self, seed: u64) {
        let mut rng = SimRng::new(seed ^ 0xf18e_0008_0000_0004);
        if !rng.gen_bool(0.2) {
            return;
        }
        self.style = Style::Figure8;
        self.partitions = false;
        self.crashes = true;
        self.crash_unbonds = false;
        self.fault_gap_ms = (5, 20);
        self.faults.loss_probability = self.faults.loss_probability.min(0.05);
        self.config = self.config.clone().with_max_append_entries(1);
    }

    /// Turns log fetch on for about half the seeds (always under the planted fetch bug), with a
    /// small threshold so lagging members fetch often. Drawn from a stream of its own, so the
    /// rest of every seed's schedule is what it was before log fetch existed.
    pub fn draw_log_fetch(&mut self, seed: u64, bug: Option<PlantedBug>) {
        let mut rng = SimRng::new(seed ^ 0x10f_fe7c_0000_0000);
        let forced = bug == Some(PlantedBug::FetchSkipsPrevCheck);
        if !(rng.gen_bool(0.5) || forced) {
            return;
        }
        let threshold = rng.gen_range(3..=10);
        let mut config = self
            .config
            .clone()
            .with_log_fetch_threshold(Some(threshold));
        // Big batches close most gaps before a fetch matters: shrink them half the time.
        if config.max_append_entries > 4 && rng.gen_bool(0.5) {
            config = config.with_max_append_entries(4);
        }
        self.config = config;
    }

    /// Takes one random fault action on `cluster`.
    pub fn act(&self, cluster: &mut Cluster, rng: &mut SimRng) {
        let voters = std::mem::take(&mut cluster.just_voted);
        let appenders = std::mem::take(&mut cluster.just_appended);
        match self.style {
            Style::Mixed => self.mixed(cluster, rng),
            Style::RebootStorm => {
                // Reboot members right after they voted, so a vote the disk lost can be granted
                // again to a rival candidate of the same round.
                for voter in voters {
                    if rng.gen_bool(0.5) {
                        cluster.crash(voter, false);
                        cluster.restart(voter);
                    }
                }
                if rng.gen_bool(0.05) {
                    let victim = *rng.choose(&cluster.ids()).expect("members");
                    cluster.crash(victim, false);
                    cluster.restart(victim);
                }
            }
            Style::Figure8 => cluster.figure8_act(),
            Style::LeaderCrashes => {
                // Crash leaders right after they appended (their entry reached few followers),
                // and bring members back after a while.
                let ids = cluster.ids();
                let down: Vec<Id> = ids
                    .iter()
                    .copied()
                    .filter(|id| !cluster.up().contains(id))
                    .collect();
                if let Some(&leader) = appenders.last()
                    && down.len() + 1 < ids.len()
                    && rng.gen_bool(0.2)
                {
                    // Half the time the leader's links die first, taking its messages in flight
                    // with them: its last entries then live on its own disk only.
                    if rng.gen_bool(0.5) {
                        cluster.net.isolate(leader);
                    }
                    cluster.crash_soon(leader, self.crash_unbonds);
                } else if !down.is_empty() && rng.gen_bool(0.07) {
                    let id = *rng.choose(&down).expect("non-empty");
                    cluster.net.blocked_links_mut().heal_node(id);
                    cluster.restart(id);
                }
            }
        }
    }

    fn mixed(&self, cluster: &mut Cluster, rng: &mut SimRng) {
        let ids = cluster.ids();
        let up = cluster.up();
        let down: Vec<Id> = ids.iter().copied().filter(|id| !up.contains(id)).collect();
        // Aim at the leader half the time: leader failures are where commit rules matter.
        let leader = cluster.leaders().first().copied();
        let target = |rng: &mut SimRng| match leader {
            Some(l) if rng.gen_bool(0.5) => l,
            _ => *rng.choose(&ids).expect("members"),
        };
        match rng.gen_range(0..12) {
            0 | 1 if self.partitions => {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for &id in &ids {
                    if rng.gen_bool(0.5) {
                        a.push(id);
                    } else {
                        b.push(id);
                    }
                }
                let unbond = rng.gen_bool(0.8);
                cluster.partition(&[a, b], unbond);
            }
            2 if self.partitions => {
                let victim = target(rng);
                let rest: Vec<Id> = ids.iter().copied().filter(|&id| id != victim).collect();
                let unbond = rng.gen_bool(0.8);
                cluster.partition(&[vec![victim], rest], unbond);
            }
            3 if self.partitions => {
                // One-way cuts: a real shell's bond needs both directions, so it may break.
                for _ in 0..rng.gen_range(1..=3) {
                    let (from, to) = (target(rng), *rng.choose(&ids).expect("members"));
                    if from != to {
                        cluster.net.blocked_links_mut().block(from, to);
                        if rng.gen_bool(0.5) {
                            cluster.unbond(from, to);
                        }
                    }
                }
            }
            4 | 5 => cluster.heal(),
            6 | 7 if self.crashes && up.len() > 1 => {
                let victim = target(rng);
                cluster.crash_soon(victim, self.crash_unbonds);
            }
            8 if self.crashes => {
                // Reboot: in-memory state lost, disk kept, back at once (bonds never break).
                let victim = target(rng);
                cluster.crash(victim, false);
                cluster.restart(victim);
            }
            9 | 10 if !down.is_empty() => {
                let id = *rng.choose(&down).expect("non-empty");
                cluster.restart(id);
            }
            11 => {
                let mut faults = cluster.net.faults();
                faults.loss_probability =
                    [0.0, 0.05, 0.2, 0.4][usize::try_from(rng.gen_range(0..4)).unwrap_or(0)];
                cluster.net.set_faults(faults);
            }
            _ => {}
        }
    }
}
