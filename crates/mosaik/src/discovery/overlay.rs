//! Keeping a node in the gossip overlay without flooding it with joins.
//!
//! A gossip `Join` is expensive for the swarm: the peer that takes it adds
//! us to its active view (evicting one of its neighbors if full) and sends
//! a `ForwardJoin` random walk through each of its other neighbors, each
//! walk ending in a new neighborship somewhere, which may evict someone
//! else. `HyParView` already refills an active view that lost a neighbor from
//! its passive view, one `Neighbor` request at a time.
//!
//! A node whose last neighbor went down used to join every peer it knew at
//! once. While 40 nodes joined one bootstrap peer the overlay churned
//! constantly, each churned-out node joined ~39 peers, and their walks
//! evicted more nodes: 672 joins and about 1,800 gossip connections (each a
//! QUIC handshake) for one convergence, the largest share of its CPU. Now
//! such a node first leaves `HyParView` [`REJOIN_DELAY`] to refill from its
//! passive view, then joins [`REJOIN_FANOUT`] random known peers, again
//! every [`REJOIN_DELAY`] while it still has no neighbor.
//!
//! Fewer joins mean less churn, but broadcasts still get lost while the
//! overlay forms or churns (a message sent to a neighbor being swapped out
//! is gone, and a node that joins later never sees it). Without the join
//! flood, whose first-contact syncs used to repair that by accident, a
//! newcomer's entry missed 8 of 20 nodes for 33 s (until the next
//! anti-entropy exchange, one per announce interval). [`Repair`] makes the
//! anti-entropy exchange frequent exactly when such losses happen: the
//! first comes [`REPAIR_FIRST`] after start, each later one after twice the
//! previous gap up to the announce interval, and a neighbor going down
//! starts the sequence over.

use {
    crate::PeerId,
    core::time::Duration,
    rand::{RngExt, seq::IteratorRandom},
    tokio::time::Instant,
};

/// How many random known peers a node without gossip neighbors joins at a
/// time. One would do if it answered; three make it unlikely that all are
/// gone at once, and cost three random-walk rounds instead of one per
/// known peer.
pub(super) const REJOIN_FANOUT: usize = 3;

/// How long a node that lost its last gossip neighbor waits (jittered by
/// half) before joining known peers itself: `HyParView`'s own refill from the
/// passive view gets the first chance (its neighbor request times out after
/// 500 ms). Also the pace of further joins while no neighbor comes up.
pub(super) const REJOIN_DELAY: Duration = Duration::from_millis(500);

/// The first anti-entropy exchange after a node starts or loses a gossip
/// neighbor (jittered by half); the gap then doubles up to the announce
/// interval.
pub(super) const REPAIR_FIRST: Duration = Duration::from_millis(250);

/// When the next anti-entropy exchange is due.
#[derive(Debug)]
pub(super) struct Repair {
    next: Instant,
    gap: Duration,
    max: Duration,
}

impl Repair {
    /// The schedule of a node started at `now`, settling at one exchange
    /// per `max` (the announce interval).
    pub(super) fn new(now: Instant, max: Duration) -> Self {
        let gap = REPAIR_FIRST.min(max);
        Self {
            next: now + jittered(gap),
            gap,
            max,
        }
    }

    /// When the next exchange is due.
    pub(super) fn due(&self) -> Instant {
        self.next
    }

    /// An exchange starts now: the next one comes after twice the gap.
    pub(super) fn fired(&mut self, now: Instant) {
        self.gap = (self.gap * 2).min(self.max);
        self.next = now + jittered(self.gap);
    }

    /// A gossip neighbor went down (broadcasts may have been lost): start
    /// the sequence over, keeping an exchange that is due sooner.
    pub(super) fn churned(&mut self, now: Instant) {
        self.gap = REPAIR_FIRST.min(self.max);
        self.next = self.next.min(now + jittered(self.gap));
    }
}

/// When, if at all, the node should next join known peers.
#[derive(Debug, Default)]
pub(super) struct Rejoin {
    due: Option<Instant>,
}

impl Rejoin {
    /// The last neighbor went down: schedule a join unless one is pending.
    pub(super) fn lost_all(&mut self, now: Instant) {
        if self.due.is_none() {
            self.due = Some(now + jittered(REJOIN_DELAY));
        }
    }

    /// A neighbor came up: nothing to rejoin.
    pub(super) fn neighbor_up(&mut self) {
        self.due = None;
    }

    /// The scheduled join time, if any.
    pub(super) fn due(&self) -> Option<Instant> {
        self.due
    }

    /// The join is being made now: schedule the next one, in case it does
    /// not bring a neighbor either.
    pub(super) fn fired(&mut self, now: Instant) {
        self.due = Some(now + jittered(REJOIN_DELAY));
    }
}

/// `base`, give or take half of it.
fn jittered(base: Duration) -> Duration {
    let base = base.as_secs_f64();
    Duration::from_secs_f64(rand::rng().random_range(base * 0.5..=base * 1.5))
}

/// Up to [`REJOIN_FANOUT`] peers of `known`, picked at random.
pub(super) fn sample(known: impl Iterator<Item = PeerId>) -> Vec<PeerId> {
    known.sample(&mut rand::rng(), REJOIN_FANOUT)
}

#[cfg(test)]
mod tests {
    use {super::*, iroh::SecretKey};

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| SecretKey::generate().public()).collect()
    }

    #[test]
    fn a_sample_is_at_most_the_fanout_and_drawn_from_the_known() {
        let known = peers(39);
        let picked = sample(known.iter().copied());
        assert_eq!(picked.len(), REJOIN_FANOUT);
        assert!(picked.iter().all(|p| known.contains(p)));
        let mut unique = picked.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), picked.len(), "no peer twice");
        assert_eq!(sample(peers(2).into_iter()).len(), 2);
        assert!(sample(core::iter::empty()).is_empty());
    }

    #[test]
    fn a_join_waits_for_the_overlay_and_repeats_until_a_neighbor_is_up() {
        let now = Instant::now();
        let mut rejoin = Rejoin::default();
        assert_eq!(rejoin.due(), None);
        rejoin.lost_all(now);
        let first = rejoin.due().expect("scheduled");
        assert!(first >= now + REJOIN_DELAY / 2 && first <= now + REJOIN_DELAY * 3 / 2);
        // Losing neighbors again does not push the join back.
        rejoin.lost_all(now + Duration::from_millis(100));
        assert_eq!(rejoin.due(), Some(first));
        rejoin.fired(first);
        let second = rejoin.due().expect("rescheduled");
        assert!(second >= first + REJOIN_DELAY / 2);
        rejoin.neighbor_up();
        assert_eq!(rejoin.due(), None);
    }

    #[test]
    fn repairs_back_off_to_the_interval_and_churn_starts_them_over() {
        let start = Instant::now();
        let max = Duration::from_secs(4);
        let mut repair = Repair::new(start, max);
        assert!(repair.due() <= start + REPAIR_FIRST * 3 / 2);
        let mut now = start;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            now = repair.due();
            repair.fired(now);
            gaps.push(repair.due() - now);
        }
        // 500 ms, 1 s, 2 s, then the 4 s interval (each give or take half).
        assert!(gaps[0] >= Duration::from_millis(250) && gaps[0] <= Duration::from_millis(750));
        assert!(gaps[7] >= max / 2 && gaps[7] <= max * 3 / 2, "{gaps:?}");
        repair.churned(now);
        assert!(
            repair.due() <= now + REPAIR_FIRST * 3 / 2,
            "churn pulls the next one in"
        );
        // An exchange due sooner is kept.
        let soon = repair.due();
        repair.churned(now);
        assert!(repair.due() <= soon);
        // Constant churn (a neighbor lost every millisecond) still spaces
        // the exchanges at least `REPAIR_FIRST / 2` apart: whoever causes
        // the churn gets at most eight exchanges a second out of a node.
        let mut fired = Vec::new();
        let mut now = soon;
        while fired.len() < 100 {
            now += Duration::from_millis(1);
            repair.churned(now);
            if repair.due() <= now {
                fired.push(now);
                repair.fired(now);
            }
        }
        assert!(
            fired.windows(2).all(|w| w[1] - w[0] >= REPAIR_FIRST / 2),
            "exchanges closer than REPAIR_FIRST / 2 under churn"
        );
        // A short interval caps the first gap too.
        let quick = Repair::new(start, Duration::from_millis(100));
        assert!(quick.due() <= start + Duration::from_millis(150));
    }
}
