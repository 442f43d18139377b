//! Crash semantics of the storage contract: what a crash keeps of the writes that were not
//! flushed yet, and crashes in the middle of a step.
//!
//! The real shell writes a run of `Persist*` outputs without waiting and awaits one durability
//! barrier before the first output that depends on them (group commit). A crash while that
//! barrier runs keeps what was flushed before plus some prefix of the buffered writes: the
//! write-ahead log truncates a torn last record on open, so what survives is always a prefix.
//! Nothing that depended on the lost writes has left the member, which is exactly what these
//! faults check: a member restarted on a torn disk must not contradict anything it said.
//!
//! * **Torn tail**: every crash of a seed with torn writes keeps a random prefix (possibly
//!   empty, possibly all) of the member's unflushed writes instead of all of them.
//! * **Mid-step crash**: some crashes are deferred to the member's next step and happen after a
//!   random number of that step's outputs were carried out (a process killed while its driver
//!   loop works through the engine's outputs), so the writes buffered since the step's last
//!   barrier are torn too.
//!
//! The planted shell bug `unflushed-send` skips the barrier before messages, which the
//! checkers must catch (an acknowledgement or a vote that the disk does not back).
//!
//! Draws from a random stream of its own, so seeds without torn writes keep their schedules.

use std::collections::BTreeMap;

use super::Id;
use crate::net::SimRng;

/// The seed's torn-write faults and their bookkeeping.
#[derive(Clone, Debug)]
pub struct TornWrites {
    /// Whether crashes in this seed lose unflushed writes (a random prefix survives).
    pub on: bool,
    /// The planted shell bug: messages leave before the writes they depend on are flushed.
    pub unflushed_send: bool,
    /// Members whose next step is cut: `(outputs carried out before the crash, unbond)`.
    doomed: BTreeMap<Id, (u64, bool)>,
    rng: SimRng,
    /// Crashes that found unflushed writes.
    pub torn: u64,
    /// Unflushed writes lost in those crashes.
    pub lost_writes: u64,
    /// Crashes carried out in the middle of a step.
    pub mid_step: u64,
    /// `AppendEntries` a leader sent before its own flush (counted here with the other
    /// storage-contract figures).
    pub early_appends: u64,
}

impl TornWrites {
    /// Draws the torn-write faults of the seed whose mixed seed is `seed`.
    pub fn draw(seed: u64, unflushed_send: bool) -> Self {
        let mut rng = SimRng::new(seed ^ 0x7042_0f1a_5e00_0003);
        Self {
            on: unflushed_send || rng.gen_bool(0.5),
            unflushed_send,
            doomed: BTreeMap::new(),
            rng,
            torn: 0,
            lost_writes: 0,
            mid_step: 0,
            early_appends: 0,
        }
    }

    /// No torn writes (a cluster built outside a seed run).
    pub fn off() -> Self {
        Self {
            on: false,
            unflushed_send: false,
            doomed: BTreeMap::new(),
            rng: SimRng::new(0),
            torn: 0,
            lost_writes: 0,
            mid_step: 0,
            early_appends: 0,
        }
    }

    /// How many of `unflushed` buffered writes a crash keeps.
    pub fn keep(&mut self, unflushed: usize) -> usize {
        if !self.on || unflushed == 0 {
            return unflushed;
        }
        let keep = usize::try_from(self.rng.gen_range(0..=unflushed as u64)).unwrap_or(unflushed);
        self.torn += 1;
        self.lost_writes += (unflushed - keep) as u64;
        keep
    }

    /// Whether a crash of `id` should rather cut its next step; if so it is armed.
    pub fn defer(&mut self, id: Id, unbond: bool) -> bool {
        if !self.on || self.doomed.contains_key(&id) || !self.rng.gen_bool(0.5) {
            return false;
        }
        let after = self.rng.gen_range(0..=4);
        self.doomed.insert(id, (after, unbond));
        true
    }

    /// Whether `id` must crash now, having carried out `carried` outputs of its step; `barrier`:
    /// the step is about to flush unflushed writes (a crash there tears them), `done`: the
    /// step has no more outputs. Returns the crash's `unbond`.
    pub fn due(&mut self, id: Id, carried: u64, barrier: bool, done: bool) -> Option<bool> {
        let &(after, unbond) = self.doomed.get(&id)?;
        if carried < after && !barrier && !done {
            return None;
        }
        self.doomed.remove(&id);
        self.mid_step += 1;
        Some(unbond)
    }

    /// Forgets every armed crash (faults stop).
    pub fn disarm_all(&mut self) {
        self.doomed.clear();
    }

    /// Forgets an armed crash (the member crashed or restarted otherwise).
    pub fn disarm(&mut self, id: Id) {
        self.doomed.remove(&id);
    }
}
