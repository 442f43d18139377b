//! Restart faults (issue 14: restart safety): members that come back with EMPTY storage, and
//! peers whose view of a restarted member's bond lags behind.
//!
//! * **Amnesia**: a running member (an in-memory store) is killed and restarted at once with
//!   nothing stored — no hard state, no log, no snapshot. Its peers never noticed it was gone:
//!   their bonds to it survive (or turn stale, below), and the group has barely moved on, so
//!   log repair brings it back.
//! * **Wiped disk**: a member crashes, its peers' bonds to it time out (they unbond it: in
//!   dynamic mode the voters shrink), it stays down for 1–3 s — many election timeouts, while
//!   the group commits and prunes — and its disk is lost meanwhile, so it restarts empty with
//!   no stale bond anywhere but far behind: its catch-up usually needs a snapshot (state sync).
//!   Under the reckless policy a wipe sometimes comes with a whole-group outage and the wiped
//!   member restarts first: its shell finds no live member and ends the catch-up at once
//!   (`Input::EndCatchUp`), as a brand-new group would.
//! * **Asymmetric bond views** (stale bonds): after any restart whose bonds survived the crash
//!   (a quick reboot or an amnesia), each peer's shell keeps its bond to the OLD incarnation
//!   for a while: it never got `PeerUnbonded`, its messages to the member go to a dead
//!   connection, and it refuses the new incarnation's handshake, so the restarted member has
//!   no bond to it and both directions are dropped. Then the peer's shell replaces the bond
//!   (`PeerUnbonded`, then `PeerBonded` on both sides). [`StaleBonds`] picks how long that
//!   takes: the current shell replaces a stale bond as soon as the new handshake arrives (tens
//!   of milliseconds), the old one only when the liveness timeout fires (one to three election
//!   timeouts) — the shape of issue 14, where the restarted member elected itself alone.
//!
//! Everything here draws from a random stream of its own, so a seed whose profile has no
//! restart fault replays exactly the schedule it had before these faults existed.

use std::collections::{BTreeMap, BTreeSet};

use super::{Cluster, Disk, Id};
use crate::net::SimRng;

/// How the simulated operator restarts members (CLI `--restarts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// No restart faults (the schedules from before they existed).
    Off,
    /// One member at a time: no new empty restart while a member is still catching up or a
    /// wiped member is still down, and never the last running member.
    Careful,
    /// No such discipline: several members may be catching up at once, and a wipe may come with
    /// a whole-group outage after which the wiped member restarts first, alone.
    Reckless,
}

impl RestartPolicy {
    /// The CLI's default.
    pub const DEFAULT: Self = RestartPolicy::Careful;

    /// The CLI spelling.
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::Off => "off",
            RestartPolicy::Careful => "careful",
            RestartPolicy::Reckless => "reckless",
        }
    }
}

/// The current shell replaces one peer's stale bond at most this often (its
/// `REPLACE_INTERVAL`), so two processes sharing a key cannot churn the engine.
pub const REPLACE_INTERVAL_MS: u64 = 2_000;

/// How a peer's shell gets rid of a stale bond to a restarted member's old incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaleBonds {
    /// As soon as the new incarnation's handshake arrives (the current shell): tens of ms — but
    /// at most once per [`REPLACE_INTERVAL_MS`] per peer; a restart sooner after the last
    /// replacement keeps the stale bond until the liveness timeout.
    Replace,
    /// Only when the liveness timeout fires (the old shell): one to three election timeouts.
    Timeout,
}

/// Which restart faults a seed has, drawn from a stream of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartFaults {
    /// The operator's discipline.
    pub policy: RestartPolicy,
    /// Whether running members are restarted with empty storage.
    pub amnesia: bool,
    /// Whether members lose their disk while down for long.
    pub wiped: bool,
    /// Whether restarted members' peers keep stale bonds, and how they get rid of them.
    pub stale_bonds: Option<StaleBonds>,
    /// Range of a stale bond's lifetime when the shell replaces it at once (the new
    /// incarnation's handshake), in milliseconds.
    pub replace_ms: (u64, u64),
    /// Range of a stale bond's lifetime when it lasts until the liveness timeout (the old shell,
    /// or the current one within `REPLACE_INTERVAL` of its last replacement), in milliseconds.
    pub timeout_ms: (u64, u64),
    /// Pause between two amnesia or wipe actions, in milliseconds.
    pub gap_ms: (u64, u64),
    /// How long a wiped member stays down, in milliseconds.
    pub down_ms: (u64, u64),
}

impl RestartFaults {
    /// Draws the restart faults of the seed whose mixed seed is `seed`; `election_timeout_ms`
    /// scales the old shell's stale bonds.
    pub fn draw(seed: u64, policy: RestartPolicy, election_timeout_ms: u64) -> Self {
        let mut rng = SimRng::new(seed ^ 0x0e57_a47e_0000_0002);
        let on = policy != RestartPolicy::Off;
        let amnesia = on && rng.gen_bool(0.5);
        let wiped = on && rng.gen_bool(0.35);
        let stale_bonds = (on && rng.gen_bool(0.5)).then(|| {
            if rng.gen_bool(0.5) {
                StaleBonds::Replace
            } else {
                StaleBonds::Timeout
            }
        });
        Self {
            policy,
            amnesia,
            wiped,
            stale_bonds,
            replace_ms: (5, 60),
            timeout_ms: (election_timeout_ms, 3 * election_timeout_ms),
            gap_ms: (400, 1_500),
            down_ms: (1_000, 3_000),
        }
    }

    /// Whether the seed has any restart fault.
    pub fn any(&self) -> bool {
        self.amnesia || self.wiped || self.stale_bonds.is_some()
    }
}

/// Restart faults carried out during one seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestartCounts {
    /// Members killed and restarted at once with empty storage.
    pub amnesia: u64,
    /// Members whose disk was lost while they were down.
    pub wiped: u64,
    /// Restarts after which peers kept a stale bond for a while.
    pub asymmetric: u64,
    /// Catch-ups that ended (caught up, or ended by the shell).
    pub caught_up: u64,
}

/// The restart faults' runtime state, held by the [`Cluster`].
pub struct Restarts {
    /// The seed's restart faults.
    pub faults: RestartFaults,
    /// What was done so far.
    pub counts: RestartCounts,
    pub(super) rng: SimRng,
    /// Stale bonds: `(holder, restarted member)` → global ms when the holder's shell replaces
    /// it. The holder's engine still counts the member as bonded; messages both ways are lost.
    pub(super) stale: BTreeMap<(Id, Id), u64>,
    /// When each `(holder, member)` stale bond was last replaced (global ms).
    pub(super) replaced: BTreeMap<(Id, Id), u64>,
    /// Down members the operator brings back at the given global ms.
    pub(super) scheduled: BTreeMap<Id, u64>,
    /// Down members whose disk was lost.
    pub(super) wiped: BTreeSet<Id>,
    /// Members whose end of catch-up their shells must still announce to their peers.
    pub(super) announce: Vec<Id>,
    next_action: u64,
    /// Whether new faults happen (off in the heal-and-quiesce phase).
    pub(super) active: bool,
}

impl Restarts {
    /// No restart faults.
    pub fn off(seed: u64) -> Self {
        let faults = RestartFaults::draw(seed, RestartPolicy::Off, 0);
        Self::new(seed, faults)
    }

    /// Runtime state for `faults`, drawing from a stream of its own.
    pub fn new(seed: u64, faults: RestartFaults) -> Self {
        Self {
            faults,
            counts: RestartCounts::default(),
            rng: SimRng::new(seed ^ 0x0e57_a47e_0000_0003),
            stale: BTreeMap::new(),
            replaced: BTreeMap::new(),
            scheduled: BTreeMap::new(),
            wiped: BTreeSet::new(),
            announce: Vec::new(),
            next_action: faults.gap_ms.0,
            active: true,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Amnesia,
    Wipe,
}

impl Cluster {
    /// The operator's restart faults, called on every harness tick of the chaos phase: brings
    /// back wiped members whose time is up, and now and then restarts a member empty.
    pub fn restart_faults(&mut self) {
        let faults = self.restarts.faults;
        if !self.restarts.active || faults.policy == RestartPolicy::Off {
            return;
        }
        let careful = faults.policy == RestartPolicy::Careful;
        let now = self.now();
        let due: Vec<Id> = (self.restarts.scheduled.iter())
            .filter(|&(_, at)| *at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if careful && self.restarts.wiped.contains(&id) && self.up().is_empty() {
                self.restarts.scheduled.insert(id, now + 100);
            } else {
                self.restart(id);
            }
        }
        if now < self.restarts.next_action {
            return;
        }
        let rng = &mut self.restarts.rng;
        self.restarts.next_action = now + rng.gen_range(faults.gap_ms.0..=faults.gap_ms.1);
        let kinds: Vec<Kind> = [(faults.amnesia, Kind::Amnesia), (faults.wiped, Kind::Wipe)]
            .into_iter()
            .filter_map(|(on, kind)| on.then_some(kind))
            .collect();
        let Some(&kind) = rng.choose(&kinds) else {
            return;
        };
        // A member is still "amnesiac" from its storage loss until it caught up, even while
        // down.
        let busy = self.nodes.iter().any(|n| n.disk.lost);
        let up = self.up();
        if (careful && busy) || up.len() < 2 {
            return;
        }
        // Aim at the leader a third of the time: it holds the newest acknowledged entries.
        let leader = self.leaders().first().copied();
        let rng = &mut self.restarts.rng;
        let victim = match leader {
            Some(leader) if rng.gen_bool(0.33) => leader,
            _ => *rng.choose(&up).expect("two members up"),
        };
        match kind {
            Kind::Amnesia => {
                self.restarts.counts.amnesia += 1;
                self.crash(victim, false);
                self.wipe(victim);
                self.restart(victim);
            }
            Kind::Wipe => {
                self.restarts.counts.wiped += 1;
                self.crash(victim, true);
                self.wipe(victim);
                let rng = &mut self.restarts.rng;
                let back = now + rng.gen_range(faults.down_ms.0..=faults.down_ms.1);
                self.restarts.scheduled.insert(victim, back);
                if !careful && self.restarts.rng.gen_bool(0.3) {
                    self.outage(back);
                }
            }
        }
    }

    /// A whole-group outage: every running member goes down (its peers notice) and comes back
    /// after `first`, the time the wiped member is back, so the wiped one restarts alone.
    fn outage(&mut self, first: u64) {
        for id in self.up() {
            self.crash(id, true);
            let back = first + self.restarts.rng.gen_range(100..=1_000);
            self.restarts.scheduled.insert(id, back);
        }
    }

    /// The disk of down member `id` is lost.
    fn wipe(&mut self, id: Id) {
        let node = self.node_mut(id);
        debug_assert!(!node.is_up(), "only a down member's disk is wiped");
        node.disk = Disk::wiped();
        if self.trace {
            println!("{:>7} n{id} disk wiped", self.now());
        }
        self.restarts.wiped.insert(id);
    }

    /// Stops new restart faults and brings every member back: those with a disk first, so a
    /// wiped member never comes back alone (heal-and-quiesce phase).
    pub fn end_restart_faults(&mut self) {
        self.restarts.active = false;
        for id in self.ids() {
            if !self.restarts.wiped.contains(&id) {
                self.restart(id);
            }
        }
        for id in self.ids() {
            self.restart(id);
        }
        self.replace_stale_bonds();
    }
}
