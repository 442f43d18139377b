//! The simulated network: one event queue for message deliveries and node timers.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Debug;

use super::event::{Pending, Scheduled};
use super::{BlockedLinks, Event, FaultConfig, NetStats, NodeClock, SimRng};

/// A deterministic discrete-event network with seeded faults and drifting node clocks.
///
/// Time is virtual (milliseconds) and only moves when an event is taken from the queue, so a run
/// is a pure function of the seed and of the calls made on the network. Faults and clocks are
/// drawn from a private [`SimRng`] stream; [`SimNetwork::rng`] hands the harness a second stream
/// derived from the same seed, so the harness's own draws never shift which messages are lost.
#[derive(Debug)]
pub struct SimNetwork<N, M> {
    now: u64,
    next_seq: u64,
    queue: BinaryHeap<Reverse<Scheduled<N, M>>>,
    /// Decides faults and clocks.
    fault_rng: SimRng,
    /// Lent to the harness.
    rng: SimRng,
    faults: FaultConfig,
    blocked: BlockedLinks<N>,
    down: BTreeSet<N>,
    clocks: BTreeMap<N, NodeClock>,
    /// The generation of each node's latest timer; queue entries of older generations are stale.
    timer_generation: BTreeMap<N, u64>,
    stats: NetStats,
}

impl<N: Copy + Ord + Debug, M: Clone + Debug> SimNetwork<N, M> {
    /// An empty network at global time zero whose every random choice derives from `seed`.
    ///
    /// # Panics
    ///
    /// If `faults` is invalid (see [`FaultConfig::validate`]).
    pub fn new(seed: u64, faults: FaultConfig) -> Self {
        faults.validate();
        let mut rng = SimRng::new(seed);
        Self {
            now: 0,
            next_seq: 0,
            queue: BinaryHeap::new(),
            fault_rng: rng.fork(),
            rng,
            faults,
            blocked: BlockedLinks::new(),
            down: BTreeSet::new(),
            clocks: BTreeMap::new(),
            timer_generation: BTreeMap::new(),
            stats: NetStats::default(),
        }
    }

    /// Registers `node` with a random clock drawn from the fault configuration's drift bounds.
    pub fn add_node(&mut self, node: N) -> NodeClock {
        let clock = NodeClock::random(
            &mut self.fault_rng,
            self.faults.max_drift_ppm,
            self.faults.max_clock_offset_ms,
        );
        self.add_node_with_clock(node, clock);
        clock
    }

    /// Registers `node` with the given clock (replacing any earlier one).
    pub fn add_node_with_clock(&mut self, node: N, clock: NodeClock) {
        self.clocks.insert(node, clock);
    }

    /// The registered nodes in order.
    pub fn nodes(&self) -> impl Iterator<Item = N> + '_ {
        self.clocks.keys().copied()
    }

    /// The current global time in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The clock of `node`.
    ///
    /// # Panics
    ///
    /// If `node` was never registered (a harness bug worth failing loudly on).
    pub fn clock(&self, node: N) -> NodeClock {
        *self
            .clocks
            .get(&node)
            .unwrap_or_else(|| panic!("unknown node {node:?}"))
    }

    /// What `node`'s own clock reads now.
    pub fn local_time(&self, node: N) -> u64 {
        self.clock(node).local_time(self.now)
    }

    /// The global time at which `node`'s clock first reads `local_deadline`.
    pub fn local_to_global(&self, node: N, local_deadline: u64) -> u64 {
        self.clock(node).to_global(local_deadline)
    }

    /// A random stream for the harness (workloads, fault schedules), derived from the seed but
    /// separate from the one deciding message faults. Fork it per purpose for the same reason.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// The current fault configuration.
    pub fn faults(&self) -> FaultConfig {
        self.faults
    }

    /// Replaces the fault configuration for messages sent from now on (e.g. to stop faults
    /// before a liveness phase).
    pub fn set_faults(&mut self, faults: FaultConfig) {
        faults.validate();
        self.faults = faults;
    }

    /// The message counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Sends `msg` from `from` to `to`, applying loss, duplication, delay and partitions.
    ///
    /// Faults are decided now; partitions and crashes are checked again on delivery, so a link
    /// cut while a message is in flight loses it, as a real network would.
    pub fn send(&mut self, from: N, to: N, msg: M) {
        self.stats.sent += 1;
        let copies = if self.fault_rng.gen_bool(self.faults.duplicate_probability) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        // Draw loss and delay for every copy, even blocked ones, so that the random stream does
        // not depend on the partition state (a heal then replays the same faults).
        let mut arrivals = [0; 2];
        let mut carried = 0;
        for _ in 0..copies {
            let lost = self.fault_rng.gen_bool(self.faults.loss_probability);
            let delay = self
                .fault_rng
                .gen_range(self.faults.delay_min_ms..=self.faults.delay_max_ms);
            if lost || !self.can_carry(from, to) {
                self.stats.dropped += 1;
            } else {
                arrivals[carried] = self.now.saturating_add(delay);
                carried += 1;
            }
        }
        self.stats.in_flight += carried as u64;
        if let Some((&last, rest)) = arrivals[..carried].split_last() {
            for &at in rest {
                let msg = msg.clone();
                self.schedule(at, Pending::Deliver { from, to, msg });
            }
            self.schedule(last, Pending::Deliver { from, to, msg });
        }
    }

    /// Makes `node`'s only pending timer fire at global time `at_global` (or now, if that has
    /// passed). Any earlier timer of the node is cancelled.
    pub fn set_timer(&mut self, node: N, at_global: u64) {
        let generation = self.bump_timer_generation(node);
        let at = at_global.max(self.now);
        self.schedule(at, Pending::Timer { node, generation });
    }

    /// Like [`SimNetwork::set_timer`], with the deadline read on `node`'s own clock.
    pub fn set_local_timer(&mut self, node: N, at_local: u64) {
        let at_global = self.local_to_global(node, at_local);
        self.set_timer(node, at_global);
    }

    /// Cancels `node`'s pending timer, if any.
    pub fn cancel_timer(&mut self, node: N) {
        self.bump_timer_generation(node);
    }

    /// Takes the next event, advancing global time to it. Stale timers and messages dropped on
    /// arrival are skipped. Returns `None` once nothing is pending.
    pub fn next_event(&mut self) -> Option<Event<N, M>> {
        self.pop_until(u64::MAX)
    }

    /// Takes the next event due at or before `deadline`. If there is none, global time advances to
    /// `deadline` (if it is later) and `None` is returned; the harness uses this to interleave its
    /// own scheduled actions (client requests, fault changes) with network events.
    pub fn next_event_until(&mut self, deadline: u64) -> Option<Event<N, M>> {
        let event = self.pop_until(deadline);
        if event.is_none() {
            self.now = self.now.max(deadline);
        }
        event
    }

    /// The time of the earliest queued entry. No event fires before it (the entry itself may turn
    /// out to be a stale timer or a dropped message).
    pub fn peek_time(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(s)| s.at)
    }

    /// Whether `node` is crashed.
    pub fn is_down(&self, node: N) -> bool {
        self.down.contains(&node)
    }

    /// Crashes `node`: messages to or from it are dropped and its pending timer is cancelled.
    pub fn crash(&mut self, node: N) {
        self.down.insert(node);
        self.cancel_timer(node);
    }

    /// Brings a crashed `node` back. It must set a new timer; the old one stays cancelled.
    pub fn restart(&mut self, node: N) {
        self.down.remove(&node);
    }

    /// The currently blocked links.
    pub fn blocked_links(&self) -> &BlockedLinks<N> {
        &self.blocked
    }

    /// Mutable access to the blocked links, for one-way blocks and partial heals.
    pub fn blocked_links_mut(&mut self) -> &mut BlockedLinks<N> {
        &mut self.blocked
    }

    /// Splits the network into `groups` (both directions blocked between groups).
    pub fn partition(&mut self, groups: &[Vec<N>]) {
        self.blocked.split(groups);
    }

    /// Cuts `node` off from every other registered node, both ways.
    pub fn isolate(&mut self, node: N) {
        let peers: Vec<N> = self.nodes().collect();
        self.blocked.isolate(node, peers);
    }

    /// Removes every partition and one-way block.
    pub fn heal(&mut self) {
        self.blocked.heal_all();
    }

    fn can_carry(&self, from: N, to: N) -> bool {
        !self.down.contains(&from) && !self.down.contains(&to) && !self.blocked.is_blocked(from, to)
    }

    fn schedule(&mut self, at: u64, work: Pending<N, M>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq, work }));
    }

    fn bump_timer_generation(&mut self, node: N) -> u64 {
        let generation = self.timer_generation.entry(node).or_insert(0);
        *generation += 1;
        *generation
    }

    fn pop_until(&mut self, deadline: u64) -> Option<Event<N, M>> {
        while self.peek_time().is_some_and(|at| at <= deadline) {
            let Reverse(entry) = self.queue.pop().expect("peeked");
            self.now = self.now.max(entry.at);
            match entry.work {
                Pending::Timer { node, generation } => {
                    let current = self.timer_generation.get(&node) == Some(&generation);
                    if current && !self.down.contains(&node) {
                        return Some(Event::Timer { node });
                    }
                }
                Pending::Deliver { from, to, msg } => {
                    self.stats.in_flight -= 1;
                    // A message already on the wire survives its sender crashing, but not a cut
                    // link or a dead receiver.
                    if self.down.contains(&to) || self.blocked.is_blocked(from, to) {
                        self.stats.dropped += 1;
                    } else {
                        self.stats.delivered += 1;
                        return Some(Event::Deliver { from, to, msg });
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reliable() -> SimNetwork<u8, &'static str> {
        let mut net = SimNetwork::new(1, FaultConfig::RELIABLE);
        for node in 0..3 {
            net.add_node(node);
        }
        net
    }

    #[test]
    fn messages_arrive_after_their_delay() {
        let mut net = reliable();
        net.send(0, 1, "hello");
        assert_eq!(net.peek_time(), Some(1));
        let event = net.next_event();
        assert_eq!(
            event,
            Some(Event::Deliver {
                from: 0,
                to: 1,
                msg: "hello"
            })
        );
        assert_eq!(net.now(), 1);
        assert_eq!(net.next_event(), None);
    }

    #[test]
    fn only_the_latest_timer_fires() {
        let mut net = reliable();
        net.set_timer(0, 10);
        net.set_timer(0, 20);
        net.set_timer(1, 15);
        assert_eq!(net.next_event(), Some(Event::Timer { node: 1 }));
        assert_eq!(net.now(), 15);
        assert_eq!(net.next_event(), Some(Event::Timer { node: 0 }));
        assert_eq!(net.now(), 20);
        assert_eq!(net.next_event(), None);
    }

    #[test]
    fn timers_in_the_past_fire_now_and_cancelled_timers_never_fire() {
        let mut net = reliable();
        net.next_event_until(100);
        net.set_timer(0, 5);
        net.set_timer(1, 150);
        net.cancel_timer(1);
        assert_eq!(net.next_event(), Some(Event::Timer { node: 0 }));
        assert_eq!(net.now(), 100);
        assert_eq!(net.next_event(), None);
    }

    #[test]
    fn next_event_until_stops_at_the_deadline() {
        let mut net = reliable();
        net.set_timer(0, 50);
        assert_eq!(net.next_event_until(40), None);
        assert_eq!(net.now(), 40);
        assert_eq!(net.next_event_until(60), Some(Event::Timer { node: 0 }));
        assert_eq!(net.now(), 50);
    }

    #[test]
    fn local_timers_fire_when_the_node_clock_reaches_the_deadline() {
        let mut net: SimNetwork<u8, ()> = SimNetwork::new(1, FaultConfig::RELIABLE);
        net.add_node_with_clock(0, NodeClock::new(1_100_000, 1_000)); // fast, 1 s ahead
        net.add_node_with_clock(1, NodeClock::new(900_000, 0)); // slow
        net.set_local_timer(0, 1_000 + 110);
        net.set_local_timer(1, 90);
        assert_eq!(net.next_event(), Some(Event::Timer { node: 0 }));
        assert_eq!(net.now(), 100);
        assert_eq!(net.local_time(0), 1_110);
        assert_eq!(net.next_event(), Some(Event::Timer { node: 1 }));
        assert_eq!(net.now(), 100);
        assert_eq!(net.local_time(1), 90);
    }

    #[test]
    #[should_panic(expected = "unknown node")]
    fn local_time_of_an_unknown_node_panics() {
        reliable().local_time(9);
    }
}
