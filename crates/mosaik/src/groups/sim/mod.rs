//! Deterministic simulation of the group runtime (feature `runtime-sim`).
//!
//! The real group driver (`groups::worker`: proposals and group commit,
//! sync sessions, snapshot transfer, the storage path, restore and
//! rebuild-on-revert) runs unchanged; what surrounds it is simulated:
//!
//! * [`SimNet`]: K simulated processes ("slots") with seeded keys, a
//!   perfect catalog (every process sees every other's latest entry) and
//!   an in-memory bond transport that drops, delays, reorders and
//!   duplicates consensus messages, keeps every other bond message in
//!   order (a real bond is one reliable stream), and blocks directions
//!   between slots (partitions, asymmetric ones too). A blocked direction
//!   loses consensus messages and holds the others until it opens again
//!   (a stream retransmits; it never skips a message and goes on). Bonds
//!   die the way real ones do: by the liveness timeout when the peer falls
//!   silent.
//! * [`SimStore`]: the storage contract with its crash semantics: writes
//!   are visible at once, only `flush` makes them durable; a crash loses
//!   everything written since the last completed flush.
//! * A crash ([`SimNet::crash`]) silences a process at once (no departure,
//!   nothing more reaches the network or its disk); [`SimNet::join`] on
//!   the slot afterwards starts a new incarnation from what its disk kept.
//!
//! Run it on a current-thread tokio runtime with paused time: every timer
//! is virtual, and the fault decisions come from one seeded stream, so a
//! seed replays the same run. What stays non-deterministic is listed in
//! `ARCHITECTURE.md` (hash map iteration orders inside the driver, blocking
//! snapshot encodes).

mod bond;
mod entry;
mod join;
mod link;
mod node;
mod planted;
mod rng;
mod stats;
mod store;

pub(crate) use {
    bond::spawn_bond, link::Closer, link::SimLink, node::Node, planted::planted,
    stats::snapshot_installed,
};
pub use {
    planted::{PLANTED_BUGS, plant_bug},
    rng::SimRng,
    stats::snapshots_installed,
    store::{Disk, SimStore},
};

use {
    crate::{NetworkId, PeerId, discovery::SignedPeerEntry},
    core::time::Duration,
    iroh::SecretKey,
    std::{
        collections::BTreeSet,
        sync::{Arc, Mutex, MutexGuard, PoisonError},
    },
};

/// The faults the transport injects.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Probability that a consensus message is lost.
    pub drop: f64,
    /// Probability that a consensus message is delivered twice.
    pub duplicate: f64,
    /// Shortest one-way delay.
    pub min_delay: Duration,
    /// Longest one-way delay (consensus messages draw each delay on its
    /// own, so they overtake each other: reordering).
    pub max_delay: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            drop: 0.02,
            duplicate: 0.02,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
        }
    }
}

/// A simulated network of group members. Cheap to clone.
#[derive(Clone)]
pub struct SimNet(Arc<Mutex<State>>);

/// One simulated machine: its key survives restarts, its process does not.
struct Slot {
    key: SecretKey,
    /// The latest entry of its latest process (stays after a crash).
    entry: Option<SignedPeerEntry>,
    /// The running process, `None` while crashed or never started.
    node: Option<Arc<Node>>,
    incarnation: u64,
}

struct State {
    network_id: NetworkId,
    rng: SimRng,
    faults: Faults,
    slots: Vec<Slot>,
    /// Blocked directions `(from, to)`.
    blocked: BTreeSet<(usize, usize)>,
}

impl SimNet {
    /// A network of `size` machines; `seed` decides their keys, every
    /// fault and the engines' randomness.
    pub fn new(seed: u64, size: usize, faults: Faults) -> Self {
        // The simulation's thread runs background jobs (served ranges,
        // digests, snapshot encodes) inline: finished on another thread
        // they landed at a moment of real time, and a seed did not always
        // replay the same run.
        crate::primitives::background::run_inline_on_this_thread();
        let mut rng = SimRng::new(seed);
        let slots = (0..size)
            .map(|_| {
                let mut bytes = [0u8; 32];
                for chunk in bytes.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
                }
                Slot {
                    key: SecretKey::from_bytes(&bytes),
                    entry: None,
                    node: None,
                    incarnation: 0,
                }
            })
            .collect();
        Self(Arc::new(Mutex::new(State {
            network_id: NetworkId::from_u64(seed),
            rng,
            faults,
            slots,
            blocked: BTreeSet::new(),
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of machines.
    pub fn size(&self) -> usize {
        self.state().slots.len()
    }

    /// The peer id of machine `slot` (the same across restarts).
    pub fn peer_id(&self, slot: usize) -> PeerId {
        self.state().slots[slot].key.public()
    }

    /// True while machine `slot` runs a process.
    pub fn is_up(&self, slot: usize) -> bool {
        self.state().slots[slot].node.is_some()
    }

    /// Kills machine `slot`'s process at once (`SIGKILL`): its bonds fall
    /// silent, its disk keeps only what was flushed. Its catalog entry
    /// stays with the others, as a killed process's does.
    pub fn crash(&self, slot: usize) {
        let node = self.state().slots[slot].node.take();
        if let Some(node) = node {
            node.kill();
        }
    }

    /// Blocks messages and dials from `from` to `to` (one direction).
    pub fn block(&self, from: usize, to: usize) {
        self.state().blocked.insert((from, to));
    }

    /// Blocks both directions between every member of `side` and everyone
    /// else.
    pub fn isolate(&self, side: &[usize]) {
        let n = self.size();
        let mut state = self.state();
        for &a in side {
            for b in (0..n).filter(|b| !side.contains(b)) {
                state.blocked.insert((a, b));
                state.blocked.insert((b, a));
            }
        }
    }

    /// Lifts every block.
    pub fn heal(&self) {
        self.state().blocked.clear();
    }

    /// A random number from the network's seeded stream (for schedules).
    pub fn random(&self) -> u64 {
        self.state().rng.next_u64()
    }

    /// Starts a new process on machine `slot` (crashing the running one,
    /// if any): a fresh incarnation whose catalog lists every machine's
    /// latest entry and whose own entry reaches every running process.
    pub(crate) fn start(&self, slot: usize) -> Arc<Node> {
        self.crash(slot);
        let node = {
            let mut state = self.state();
            let seed = state.rng.next_u64();
            let network_id = state.network_id;
            let others = state
                .slots
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != slot)
                .filter_map(|(_, s)| s.entry.clone())
                .collect();
            let s = &mut state.slots[slot];
            s.incarnation += 1;
            let node = Arc::new(Node::new(
                self.clone(),
                slot,
                s.key.clone(),
                network_id,
                s.incarnation,
                seed,
                others,
            ));
            s.node = Some(node.clone());
            node
        };
        self.publish(slot, node.catalog().local());
        node
    }

    /// `slot`'s new entry reaches every running process's catalog (the
    /// simulation's discovery is perfect and instant).
    pub(super) fn publish(&self, slot: usize, entry: &SignedPeerEntry) {
        let nodes: Vec<Arc<Node>> = {
            let mut state = self.state();
            state.slots[slot].entry = Some(entry.clone());
            state
                .slots
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != slot)
                .filter_map(|(_, s)| s.node.clone())
                .collect()
        };
        for node in nodes {
            node.feed(entry.clone());
        }
    }

    /// The running process of `peer` if `from` can handshake with it (both
    /// directions open).
    pub(super) fn reachable(&self, from: usize, peer: &PeerId) -> Option<Arc<Node>> {
        let state = self.state();
        let to = state.slots.iter().position(|s| s.key.public() == *peer)?;
        let from_up = state.slots[from]
            .node
            .as_ref()
            .is_some_and(|n| !n.is_dead());
        if !from_up || state.blocked.contains(&(from, to)) || state.blocked.contains(&(to, from)) {
            return None;
        }
        state.slots[to].node.clone().filter(|n| !n.is_dead())
    }

    pub(super) fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.state().blocked.contains(&(from, to))
    }

    /// One seeded one-way delay.
    pub(super) fn one_way_delay(&self) -> Duration {
        let mut state = self.state();
        let Faults {
            min_delay,
            max_delay,
            ..
        } = state.faults;
        delay(&mut state.rng, min_delay, max_delay)
    }

    /// The delays of the copies of one message that arrive: none if it is
    /// lost, two if duplicated. Only consensus messages are lost or
    /// duplicated.
    pub(super) fn draw_delays(&self, consensus: bool) -> Vec<Duration> {
        let mut state = self.state();
        let faults = state.faults;
        let rng = &mut state.rng;
        if consensus && rng.chance(faults.drop) {
            return Vec::new();
        }
        let copies = if consensus && rng.chance(faults.duplicate) {
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| delay(rng, faults.min_delay, faults.max_delay))
            .collect()
    }
}

impl core::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SimNet")
    }
}

/// Uniform in `min..=max`, in whole microseconds.
fn delay(rng: &mut SimRng, min: Duration, max: Duration) -> Duration {
    let span = u64::try_from(max.saturating_sub(min).as_micros()).unwrap_or(u64::MAX - 1);
    min + Duration::from_micros(rng.below(span + 1))
}
