//! The Raft paper's Figure 8, scripted: the fault schedule that exposes a leader committing an
//! entry of an earlier term by counting replicas.
//!
//! With members A, B and C (any three of the group):
//!
//! 1. A leads; its replication is cut (its `AppendEntries` are lost, votes still pass) until it
//!    holds an entry X at index i that nobody else has. A crashes.
//! 2. B is elected by the others; replication is cut (everyone's until B is known) until it holds its own entry at i
//!    (or beyond), of a later term than X. B crashes.
//! 3. A restarts and is elected with C's vote (A's last term beats C's). Its replication to C
//!    passes only up to index i, so C receives X but not A's entry of the new term. A correct
//!    leader cannot commit X this way; a leader that counts replicas of an earlier term's entry
//!    commits it. A crashes as soon as its commit index reaches i (or after a while).
//! 4. B restarts: its last term beats C's, so it is elected and overwrites index i everywhere.
//!    If A had committed X, a committed entry is lost: the checkers report it.
//!
//! Then everyone is restarted and healed, and the script starts over. Each phase gives up after
//! [`PHASE_MS`] (and heals), so a script that does not line up never wedges the seed.

use mosaik_raft::{Cursor, Index, Message};

use super::{Cluster, Id, Msg};

/// How long one phase may wait for its condition before the script heals and starts over.
pub const PHASE_MS: u64 = 3_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a stable leader A with a quiet log.
    Start,
    /// A's replication is cut; waiting for it to hold an entry nobody else has.
    IsolatedA { a: Id },
    /// A crashed; waiting for another leader B, whose replication is cut as soon as it leads.
    ElectB { a: Id, i: Index },
    /// B leads, cut; waiting for it to hold an entry at `i` or beyond.
    IsolatedB { a: Id, b: Id, i: Index },
    /// B crashed, A restarted; A may replicate only up to `i`. Waiting for A's commit to reach
    /// `i`, or for a while.
    ReplicateX { a: Id, b: Id, i: Index },
    /// A crashed, B restarted: B overwrites `i`. Waiting for a while, then everyone returns.
    Overwrite,
}

/// The script's state (see the module docs).
#[derive(Clone, Debug)]
pub struct Figure8 {
    phase: Phase,
    since: u64,
    /// Rounds of the script that reached their last phase.
    pub completed: u64,
}

impl Default for Figure8 {
    fn default() -> Self {
        Self::new()
    }
}

impl Figure8 {
    /// The script, at its start.
    pub fn new() -> Self {
        Self {
            phase: Phase::Start,
            since: 0,
            completed: 0,
        }
    }

    /// What passes of `msg` from `from`: `None` if the script drops it (replication it cuts);
    /// in the `ReplicateX` phase A's appends are cut down to the entries up to `i` (an append
    /// that only probes the follower's log still passes, so A can find where C's log ends).
    /// `holds` tells whether the receiver's log holds a position: an append cut down to nothing
    /// passes only as a probe the receiver will refuse (so A backs off to where C's log ends);
    /// one it would accept is dropped, or the two would ping-pong empty appends forever.
    pub fn pass(&self, from: Id, msg: Msg, holds: impl Fn(Cursor<Id>) -> bool) -> Option<Msg> {
        match (self.phase, msg) {
            (Phase::IsolatedA { a }, msg) if from == a => Self::passes_cut(&msg).then_some(msg),
            // Nobody's replication passes until the script sees who leads: B's first appends
            // must not reach C.
            (Phase::ElectB { .. }, msg) => Self::passes_cut(&msg).then_some(msg),
            (Phase::IsolatedB { b, .. }, msg) if from == b => Self::passes_cut(&msg).then_some(msg),
            (Phase::ReplicateX { a, i, .. }, mut msg @ Message::AppendEntries { .. })
                if from == a =>
            {
                if let Message::AppendEntries {
                    prev_log_position,
                    entries,
                    ..
                } = &mut msg
                {
                    let room = i.0.saturating_sub(prev_log_position.index.0);
                    if room == 0 && !entries.is_empty() && holds(*prev_log_position) {
                        return None;
                    }
                    entries.truncate(usize::try_from(room).unwrap_or(usize::MAX));
                }
                Some(msg)
            }
            (Phase::ReplicateX { a, .. }, Message::StateSyncRequired { .. }) if from == a => None,
            (_, msg) => Some(msg),
        }
    }

    /// Whether `msg` is not replication (votes and the rest pass a cut).
    fn passes_cut(msg: &Msg) -> bool {
        !matches!(
            msg,
            Message::AppendEntries { .. } | Message::StateSyncRequired { .. }
        )
    }

    /// Stops cutting replication (faults stop); the rounds completed stay counted.
    pub fn stop(&mut self) {
        self.phase = Phase::Start;
    }

    fn enter(&mut self, phase: Phase, now: u64) {
        self.phase = phase;
        self.since = now;
    }
}

impl Cluster {
    /// One action of the Figure 8 script (called every fault tick of a `Figure8` seed).
    pub fn figure8_act(&mut self) {
        let now = self.now();
        let mut script = self.figure8.clone();
        let waited = now.saturating_sub(script.since);
        let last = |c: &Self, id: Id| c.node(id).engine.as_ref().map(|e| e.last_log().index);
        match script.phase {
            Phase::Start => {
                let lasts: Vec<_> = self.ids().into_iter().map(|id| last(self, id)).collect();
                let quiet = lasts.windows(2).all(|w| w[0] == w[1]) && lasts[0].is_some();
                if let [a] = self.leaders()[..]
                    && quiet
                    && waited > PHASE_MS / 3
                {
                    script.enter(Phase::IsolatedA { a }, now);
                }
            }
            Phase::IsolatedA { a } => {
                let mine = last(self, a);
                let others = self.ids().into_iter().filter(|&id| id != a);
                let theirs = others.filter_map(|id| last(self, id)).max();
                if let (Some(mine), Some(theirs)) = (mine, theirs)
                    && mine > theirs
                {
                    self.crash(a, false);
                    script.enter(Phase::ElectB { a, i: mine }, now);
                } else if waited > PHASE_MS || mine.is_none() {
                    self.figure8_reset(&mut script, now);
                }
            }
            Phase::ElectB { a, i } => match self.leaders().first() {
                Some(&b) if b != a => script.enter(Phase::IsolatedB { a, b, i }, now),
                _ if waited > PHASE_MS => self.figure8_reset(&mut script, now),
                _ => {}
            },
            Phase::IsolatedB { a, b, i } => {
                let leads = self
                    .node(b)
                    .engine
                    .as_ref()
                    .is_some_and(mosaik_raft::Engine::is_leader);
                if leads && last(self, b).is_some_and(|l| l >= i) {
                    self.crash(b, false);
                    self.restart(a);
                    script.enter(Phase::ReplicateX { a, b, i }, now);
                } else if waited > PHASE_MS || !leads {
                    self.figure8_reset(&mut script, now);
                }
            }
            Phase::ReplicateX { a, b, i } => {
                let commit = self
                    .node(a)
                    .engine
                    .as_ref()
                    .map(mosaik_raft::Engine::commit_index);
                if commit.is_some_and(|c| c >= i) || waited > PHASE_MS / 3 || commit.is_none() {
                    self.crash(a, false);
                    self.restart(b);
                    script.enter(Phase::Overwrite, now);
                }
            }
            Phase::Overwrite => {
                if waited > PHASE_MS / 3 {
                    script.completed += 1;
                    self.figure8_reset(&mut script, now);
                }
            }
        }
        if self.trace && script.phase != self.figure8.phase {
            println!("{now:>7} figure 8: {:?}", script.phase);
        }
        self.figure8 = script;
    }

    /// Ends a round of the script: everyone back, and the next round starts later.
    fn figure8_reset(&mut self, script: &mut Figure8, now: u64) {
        for id in self.ids() {
            self.restart(id);
        }
        script.enter(Phase::Start, now);
    }
}
