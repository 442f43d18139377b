//! What the simulated network hands back, and how it keeps pending work in order.

use std::cmp::Ordering;

/// Something that happens to a node at the current simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<N, M> {
    /// `msg`, sent by `from`, arrives at `to`.
    Deliver {
        /// The sender.
        from: N,
        /// The receiver.
        to: N,
        /// The message.
        msg: M,
    },
    /// The latest timer set for `node` fires.
    Timer {
        /// The node whose timer fired.
        node: N,
    },
}

/// Message counters, for reports and for checking that faults really happened.
///
/// Every copy put in flight ends up either delivered or dropped:
/// `sent + duplicated == delivered + dropped + in_flight`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Calls to `send`.
    pub sent: u64,
    /// Message copies handed to their receiver.
    pub delivered: u64,
    /// Message copies lost, blocked by a partition or addressed to or from a crashed node.
    pub dropped: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Message copies scheduled but not yet delivered or dropped.
    pub in_flight: u64,
}

/// A unit of work in the event queue.
#[derive(Debug)]
pub(super) enum Pending<N, M> {
    Deliver { from: N, to: N, msg: M },
    Timer { node: N, generation: u64 },
}

/// A queue entry, ordered by `(at, seq)` alone.
///
/// The sequence number is unique and increases with every schedule call, so two entries never
/// compare equal and same-time entries pop in the order they were scheduled: the order of events
/// depends only on the seed and the calls made, never on the heap's internals.
#[derive(Debug)]
pub(super) struct Scheduled<N, M> {
    pub(super) at: u64,
    pub(super) seq: u64,
    pub(super) work: Pending<N, M>,
}

impl<N, M> Scheduled<N, M> {
    fn key(&self) -> (u64, u64) {
        (self.at, self.seq)
    }
}

impl<N, M> PartialEq for Scheduled<N, M> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<N, M> Eq for Scheduled<N, M> {}

impl<N, M> PartialOrd for Scheduled<N, M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<N, M> Ord for Scheduled<N, M> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn queue_pops_by_time_then_schedule_order() {
        let mut heap = BinaryHeap::new();
        for (seq, at) in [(0, 5), (1, 3), (2, 5), (3, 3), (4, 0)] {
            heap.push(Reverse(Scheduled::<u8, ()> {
                at,
                seq,
                work: Pending::Timer {
                    node: 0,
                    generation: 0,
                },
            }));
        }
        let order: Vec<(u64, u64)> =
            std::iter::from_fn(|| heap.pop().map(|Reverse(s)| s.key())).collect();
        assert_eq!(order, [(0, 4), (3, 1), (3, 3), (5, 0), (5, 2)]);
    }
}
