//! One seed, start to finish: chaos, heal-and-quiesce (liveness and convergence), history check.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mosaik_raft::{Engine, Input, RequestId};

use super::{
    Clients, Cluster, Id, Mode, Profile, Request, RestartCounts, RestartFaults, Restarts,
    SeedReport, SimConfig, Style, TornCounts, TornWrites, UNFLUSHED_SEND, planted_bug,
};
use crate::checkers::linearizable::{Outcome, check_history};
use crate::checkers::{Checkers, Protection, Violation};
use crate::net::{FaultConfig, SimRng};

/// How often the harness acts (client requests, faults, pruning), in simulated milliseconds.
const TICK_MS: u64 = 10;
/// Runaway guard: no sane seed needs this many events.
const MAX_EVENTS: u64 = 3_000_000;

/// Runs one seed. An engine panic (a failed internal assertion) is reported as a violation.
pub fn run_seed(config: &SimConfig, seed: u64) -> SeedReport {
    match catch_unwind(AssertUnwindSafe(|| run(config, seed))) {
        Ok(report) => report,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "non-string panic".to_owned());
            SeedReport {
                seed,
                violation: Some(Violation {
                    checker: "engine-panic",
                    at_ms: 0,
                    detail,
                }),
                unknown: false,
                checked_history: false,
                operations: 0,
                events: 0,
                sim_ms: 0,
                log_fetch_threshold: None,
                fetches: 0,
                fetched_chunks: 0,
                fetched_entries: 0,
                restart_faults: None,
                restarts: RestartCounts::default(),
                torn: TornCounts::default(),
            }
        }
    }
}

fn run(config: &SimConfig, seed: u64) -> SeedReport {
    // Mix the mode and size in, so `--seed 7` differs between sweeps of different shapes.
    let mode_bit = u64::from(config.mode == Mode::Dynamic);
    let seed_mix = seed ^ (config.nodes as u64) << 56 ^ mode_bit << 63;
    let mut rng = SimRng::new(seed_mix);
    let bug = config.bug.as_deref().and_then(planted_bug);
    let mut profile = Profile::draw(&mut rng, config.mode, config.nodes, bug);
    profile.draw_log_fetch(seed_mix, bug);
    profile.draw_figure8(seed_mix);
    let configs = vec![profile.config.clone(); config.nodes];
    let clients = Clients::new(
        usize::try_from(rng.gen_range(2..=4)).unwrap_or(2),
        rng.gen_range(1..=4),
        1_000,
    );
    let mut cluster = Cluster::new(configs, profile.faults, clients, seed_mix);
    let restart_faults =
        RestartFaults::draw(seed_mix, config.restarts, election_timeout_ms(&profile));
    cluster.restarts = Restarts::new(seed_mix, restart_faults);
    let unflushed_send = config.bug.as_deref() == Some(UNFLUSHED_SEND);
    cluster.torn = TornWrites::draw(seed_mix, unflushed_send);
    // Dynamic mode protects majority-stored writes only where no member is ever alone by
    // construction: no partitions, and no stale bonds (a restarted member behind stale bonds
    // is a partition of one — it elects itself and commits alone, by design).
    cluster.checkers = Checkers::new(match config.mode {
        Mode::Strict => Protection::All,
        Mode::Dynamic if !profile.partitions && restart_faults.stale_bonds.is_none() => {
            Protection::MajorityStored
        }
        Mode::Dynamic => Protection::Off,
    });
    if cluster.trace {
        println!("profile: {profile:?}");
        println!("restart faults: {restart_faults:?}");
    }

    // Leader-crash chains (Figure 8 needs four in a row) are rare per second: run them longer.
    let chaos_ms = match profile.style {
        Style::LeaderCrashes | Style::Figure8 => config.chaos_ms * 3,
        Style::Mixed | Style::RebootStorm => config.chaos_ms,
    };
    chaos(&mut cluster, &profile, chaos_ms);
    if cluster.violation.is_none() {
        quiesce(&mut cluster, &profile);
    }
    let checked_history = cluster.strong();
    let mut unknown = false;
    if cluster.violation.is_none() && checked_history {
        match check_history(cluster.clients.history()) {
            Outcome::Linearizable => {}
            Outcome::Unknown(_) => unknown = true,
            Outcome::Violation(detail) => cluster.fail(Violation {
                checker: "linearizability",
                at_ms: cluster.now(),
                detail,
            }),
        }
    }
    if cluster.violation.is_none()
        && let Some(first) = cluster.clients.fabricated.first()
    {
        let detail = format!("weak read of a value never written: {first}");
        let at_ms = cluster.now();
        cluster.fail(Violation {
            checker: "weak-read",
            at_ms,
            detail,
        });
    }
    SeedReport {
        seed,
        violation: cluster.violation.take(),
        unknown,
        checked_history,
        operations: cluster.clients.history().len(),
        events: cluster.events,
        sim_ms: cluster.now(),
        log_fetch_threshold: profile.config.log_fetch_threshold,
        fetches: cluster.fetches.started,
        fetched_chunks: cluster.fetches.chunks,
        fetched_entries: cluster.fetches.appended,
        restart_faults: restart_faults.any().then_some(restart_faults),
        restarts: cluster.restarts.counts,
        torn: TornCounts {
            crashes: cluster.torn.torn,
            lost_writes: cluster.torn.lost_writes,
            mid_step: cluster.torn.mid_step,
            early_appends: cluster.torn.early_appends,
        },
    }
}

/// Runs network events until `end` (or a violation), acting every [`TICK_MS`]; with `faults`,
/// the profile's fault actions happen too.
fn drive(cluster: &mut Cluster, profile: &Profile, end: u64, faults: bool, rng: &mut SimRng) {
    let mut next_tick = cluster.now();
    let mut next_fault =
        cluster.now() + rng.gen_range(profile.fault_gap_ms.0..=profile.fault_gap_ms.1);
    while cluster.violation.is_none() && cluster.now() < end {
        if cluster.events > MAX_EVENTS {
            let at_ms = cluster.now();
            let detail = format!("more than {MAX_EVENTS} events: livelock?");
            cluster.fail(Violation {
                checker: "runaway",
                at_ms,
                detail,
            });
            return;
        }
        if cluster.step(next_tick.min(end)) {
            continue;
        }
        let now = cluster.now();
        if now < next_tick {
            continue;
        }
        next_tick = now + TICK_MS;
        if faults && now >= next_fault {
            profile.act(cluster, rng);
            next_fault = now + rng.gen_range(profile.fault_gap_ms.0..=profile.fault_gap_ms.1);
        }
        if faults {
            cluster.restart_faults();
        }
        issue_requests(cluster, rng);
        if profile.prune {
            prune(cluster);
        }
    }
}

fn chaos(cluster: &mut Cluster, profile: &Profile, chaos_ms: u64) {
    let mut rng = cluster.rng.fork();
    let end = cluster.now() + chaos_ms;
    drive(cluster, profile, end, true, &mut rng);
}

fn issue_requests(cluster: &mut Cluster, rng: &mut SimRng) {
    let up = cluster.up();
    let now = cluster.now();
    for (node, request_id, request) in cluster.clients.due(now, &up, rng) {
        match request {
            Request::Put(put) => {
                let commands = vec![put];
                cluster.input(
                    node,
                    Input::Propose {
                        request_id,
                        commands,
                    },
                );
            }
            Request::StrongGet(_) => cluster.read(node, request_id),
            Request::WeakGet(key) => {
                let store = &cluster.nodes[usize::try_from(node).unwrap_or(0)].store;
                cluster.clients.weak_get(node, key, store);
            }
        }
    }
}

/// The shell keeps its log short: prune to a little behind what it applied, so lagging followers
/// sometimes need a state sync.
fn prune(cluster: &mut Cluster) {
    for id in cluster.up() {
        let engine = cluster.nodes[usize::try_from(id).unwrap_or(0)].engine();
        let (applied, base) = (engine.applied_index(), engine.log().base().index);
        if applied.0 > base.0 + 40 {
            cluster.prune(id, applied - 20);
        }
    }
}

/// The longest election timeout any member can draw, in global milliseconds (drift included).
fn election_timeout_ms(profile: &Profile) -> u64 {
    let config = &profile.config;
    let local = config.election_timeout + config.election_timeout_jitter;
    let local = u64::try_from(local.as_millis()).unwrap_or(u64::MAX);
    // A clock running slow by `drift` stretches local durations by 1 / (1 - drift).
    local * 1_000_000 / (1_000_000 - profile.faults.max_drift_ppm) + 1
}

/// Heal-and-quiesce: faults stop, every member restarts and re-bonds. Then a leader everyone
/// follows must appear within 3 election timeouts, a fresh write must commit, and every member
/// must reach the same applied index and the same state soon after.
fn quiesce(cluster: &mut Cluster, profile: &Profile) {
    let mut rng = cluster.rng.fork();
    cluster.net.set_faults(FaultConfig {
        loss_probability: 0.0,
        duplicate_probability: 0.0,
        ..profile.faults
    });
    cluster.clients.active = false;
    cluster.torn.disarm_all();
    cluster.figure8.stop();
    cluster.end_restart_faults();
    cluster.heal();
    let timeout = election_timeout_ms(profile);
    let healed = cluster.now();
    // Randomized timeouts only break ties when the jitter spread exceeds a vote round trip
    // (Raft's "broadcast time << election timeout" condition). Schedules with tight jitter on a
    // slow network (chosen to provoke contested elections) get ten timeouts instead of three.
    let jitter = millis(profile.config.election_timeout_jitter);
    // A member still catching up does not vote, so after restart faults two voters may be all
    // that is left: every overlap of their timeouts within a round trip is a split vote.
    let elections = if jitter >= 4 * profile.faults.delay_max_ms {
        3
    } else {
        10
    };
    // Dynamic mode: merging histories may need a member that was outranked to yield (it stays
    // out of elections for up to `YIELD_TIMEOUTS` election timeouts) before the winning side
    // can elect.
    let yielding = if profile.config.min_quorum.is_none() {
        u64::from(mosaik_raft::YIELD_TIMEOUTS) * timeout
    } else {
        0
    };
    let deadline = healed + elections * timeout + yielding + millis(profile.config.bootstrap_delay);
    if run_until(cluster, profile, deadline, &mut rng, stable_leader).is_none() {
        liveness(cluster, healed, "no leader followed by every member");
        return;
    }
    // A marker write through the leader proves the group commits again. It is re-proposed at
    // the current leader every election timeout (a leader may step down just as it arrives);
    // applying it twice is harmless since every member ends with the same value.
    let marker = crate::kv::Put {
        key: u64::MAX,
        value: u64::MAX,
    };
    // "Soon after": while members are still catching up (logs or applied indexes move), the
    // deadline moves: catch-up with one-entry batches over a reordering network is legitimately
    // slow, and this phase checks that it ends, not how fast. Stalling for three election
    // timeouts plus a round trip, or exceeding a minute overall, fails the seed.
    let per_batch = 2 * profile.faults.delay_max_ms + millis(profile.config.heartbeat_interval);
    let stall = 3 * timeout + yielding + per_batch;
    let cap = cluster.now() + 60_000;
    // Progress = any member's applied index or log end moved (a revert, a snapshot install, an
    // apply, or log repair: nothing applies until the leader's noop reaches a quorum).
    let progress = |c: &Cluster| {
        let positions = c.nodes.iter().map(|n| {
            let engine = n.engine();
            (engine.applied_index(), engine.last_log())
        });
        positions.collect::<Vec<_>>()
    };
    let mut floor = progress(cluster);
    let mut deadline = cluster.now() + stall;
    let mut next_proposal = cluster.now();
    while cluster.violation.is_none() && converged(cluster, marker).is_none() {
        if progress(cluster) != floor {
            floor = progress(cluster);
            deadline = (cluster.now() + stall).min(cap);
        }
        if cluster.now() >= deadline {
            liveness(
                cluster,
                healed,
                "members did not converge on one applied state",
            );
            return;
        }
        let has_marker = cluster
            .nodes
            .iter()
            .any(|n| n.store.get(marker.key).is_some());
        if !has_marker
            && cluster.now() >= next_proposal
            && let Some(leader) = stable_leader(cluster)
        {
            let request_id = RequestId(u64::MAX);
            cluster.input(
                leader,
                Input::Propose {
                    request_id,
                    commands: vec![marker],
                },
            );
            next_proposal = cluster.now() + timeout;
        }
        let end = (cluster.now() + TICK_MS).min(deadline);
        drive(cluster, profile, end, false, &mut rng);
    }
    if cluster.violation.is_some() {
        return;
    }
    if !catch_ups_end(cluster, profile, (healed, stall), &mut rng) {
        return;
    }
    let now = cluster.now();
    if let Err(violation) = cluster.checkers.at_end(&cluster.nodes, now) {
        cluster.fail(violation);
    }
}

/// A catch-up the engine was told about must end once the member converged: within a stall's
/// time, since it ends only on a commit announcement that echoes the member's storage epoch,
/// which the leader echoes once an answer of the new life reached it (the answer and the next
/// heartbeat can come after everyone applied the same entries). False after a violation.
fn catch_ups_end(
    cluster: &mut Cluster,
    profile: &Profile,
    (healed, stall): (u64, u64),
    rng: &mut SimRng,
) -> bool {
    let catching_up = |c: &Cluster| {
        c.nodes
            .iter()
            .find(|n| n.catch_up.is_some_and(|c| c.begun))
            .map(|n| n.id)
    };
    let deadline = cluster.now() + stall;
    while cluster.violation.is_none() {
        let Some(id) = catching_up(cluster) else {
            return true;
        };
        if cluster.now() >= deadline {
            let what = format!("node {id} still catching up after converging");
            liveness(cluster, healed, &what);
            return false;
        }
        let end = (cluster.now() + TICK_MS).min(deadline);
        drive(cluster, profile, end, false, rng);
    }
    false
}

fn liveness(cluster: &mut Cluster, healed: u64, what: &str) {
    let states: Vec<String> = cluster
        .nodes
        .iter()
        .filter_map(|n| {
            let e = n.engine.as_ref()?;
            Some(format!(
                "n{}: {:?} {} leader {:?} commit {} applied {} last {}",
                n.id,
                e.role(),
                e.term(),
                e.leader(),
                e.commit_index(),
                e.applied_index(),
                e.last_log()
            ))
        })
        .collect();
    let at_ms = cluster.now();
    let detail = format!(
        "{what} {} ms after the heal; {}",
        at_ms - healed,
        states.join("; ")
    );
    cluster.fail(Violation {
        checker: "liveness",
        at_ms,
        detail,
    });
}

fn run_until<T>(
    cluster: &mut Cluster,
    profile: &Profile,
    deadline: u64,
    rng: &mut SimRng,
    done: impl Fn(&Cluster) -> Option<T>,
) -> Option<T> {
    while cluster.violation.is_none() {
        if let Some(value) = done(cluster) {
            return Some(value);
        }
        if cluster.now() >= deadline {
            return None;
        }
        let end = (cluster.now() + TICK_MS).min(deadline);
        drive(cluster, profile, end, false, rng);
    }
    None
}

/// The one leader every member follows, in its term.
fn stable_leader(cluster: &Cluster) -> Option<Id> {
    let [leader] = cluster.leaders()[..] else {
        return None;
    };
    let term = cluster.nodes[usize::try_from(leader).ok()?].engine().term();
    let follows = |n: &super::SimNode| {
        let e = n.engine();
        e.leader() == Some(leader) && e.term() == term
    };
    cluster.nodes.iter().all(follows).then_some(leader)
}

/// Every member applied the same index, holds identical state, and the marker is in it.
fn converged(cluster: &Cluster, marker: crate::kv::Put) -> Option<()> {
    let first = &cluster.nodes[0];
    let applied = first.engine().applied_index();
    let same = cluster.nodes.iter().all(|n| {
        n.engine().applied_index() == applied
            && n.engine().commit_index() == applied
            && n.store.values() == first.store.values()
    });
    let has_marker = first.store.get(marker.key) == Some(marker.value);
    (same
        && has_marker
        && cluster
            .nodes
            .iter()
            .all(|n| Engine::is_leader(n.engine()) || n.engine().leader().is_some()))
    .then_some(())
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
