//! The leader's view of one follower's replication progress.

use crate::types::Index;

/// How the leader currently talks to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgressState {
    /// Match point unknown: one `AppendEntries` at a time, backing up on rejection.
    Probe,
    /// Matching: new entries are streamed optimistically (`next_index` advances on send).
    Replicate,
    /// The follower needs entries the leader pruned; it is told to state-sync instead.
    Snapshot,
    /// The follower fetches the missing entries from its peers: only empty heartbeats (whose
    /// `prev` is the leader's last position, so it sees the remaining gap) until it answers
    /// `Success` or `Conflict` again.
    Fetching,
}

/// Replication progress of one bonded peer, kept by the leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Highest index known to be replicated on the follower.
    pub match_index: Index,
    /// Next index to send.
    pub next_index: Index,
    /// Sending mode.
    pub state: ProgressState,
    /// In `Probe`, whether a probe is outstanding (avoids flooding a lagging follower).
    pub probe_sent: bool,
    /// Highest heartbeat round the follower echoed in this term (read index confirmation).
    pub acked_seq: u64,
    /// Heard from the follower since the last check-quorum pass.
    pub recent_active: bool,
    /// The follower answered `Abstained` (observer): never counted toward commit.
    pub abstains: bool,
    /// Commit index last sent, so commit advances reach followers without waiting a heartbeat:
    /// with the next entries, or in a commit notice when the shell is idle (`Input::Idle`).
    pub sent_commit: Index,
    /// Heartbeat round last sent.
    pub sent_seq: u64,
    /// Dynamic-mode merge rule: this follower contested our entries over its committed ones from
    /// this index on and our history won; the next `AppendEntries` tells it to give them up.
    pub overrule: Option<crate::message::Overrule>,
    /// The follower's storage epoch (`HardState::epoch`) we count answers of; `None` until it
    /// answered. Epochs grow from one life of a member to the next (see
    /// [`Engine::with_life_epoch`](crate::Engine::with_life_epoch)): an answer of a lower epoch
    /// is a late one of a life that has lost its storage since, and is ignored.
    pub epoch: Option<u64>,
}

impl Progress {
    /// Fresh progress for a follower when the leader's last index is `last`.
    pub fn new(last: Index) -> Self {
        Progress {
            match_index: Index::ZERO,
            next_index: last.next(),
            state: ProgressState::Probe,
            probe_sent: false,
            acked_seq: 0,
            recent_active: false,
            abstains: false,
            sent_commit: Index::ZERO,
            sent_seq: 0,
            overrule: None,
            epoch: None,
        }
    }

    /// An answer of storage epoch `epoch` arrived: whether it counts. A higher epoch than the
    /// one we count is a new life of the follower, which holds nothing of what we counted for
    /// the earlier one: its epoch counts from now on and the match point starts over. A lower
    /// one is a late answer of an earlier life, whose storage is gone.
    pub fn observe_epoch(&mut self, epoch: u64) -> bool {
        match self.epoch {
            Some(known) if epoch < known => return false,
            Some(known) if epoch > known => self.match_index = Index::ZERO,
            _ => {}
        }
        self.epoch = Some(epoch);
        true
    }

    /// Records a successful append up to `match_index`. Returns true if the match point moved.
    pub fn on_success(&mut self, match_index: Index) -> bool {
        self.state = ProgressState::Replicate;
        self.probe_sent = false;
        self.next_index = self.next_index.max(match_index.next());
        if match_index > self.match_index {
            self.match_index = match_index;
            true
        } else {
            false
        }
    }

    /// Records a `Fetching` answer: the follower repairs itself from its peers. The match point
    /// stays (only leader-verified positions count toward commit). An answer whose `last` is
    /// below the match point is older than a `Success` already seen and is ignored.
    pub fn on_fetching(&mut self, last: Index) {
        if last < self.match_index {
            return;
        }
        self.state = ProgressState::Fetching;
        self.probe_sent = false;
    }

    /// Records a rejection. Stale rejections (below the match point) are ignored. A rejection
    /// at or above the match point whose hint is not past it means the follower no longer holds
    /// what it acknowledged (possible in dynamic mode after a partition heal) or is a reordered
    /// old rejection: lowering the match point is always safe (commit never moves back), while
    /// keeping a wrong one would stall the follower forever.
    pub fn on_conflict(&mut self, rejected_prev: Index, hint: Index, last: Index) {
        if rejected_prev < self.match_index {
            return;
        }
        if hint <= self.match_index {
            self.match_index = hint.prev();
        }
        let next = hint.max(self.match_index.next()).min(last.next());
        let unchanged = next == self.next_index && self.state == ProgressState::Probe;
        self.next_index = next;
        self.state = ProgressState::Probe;
        if !unchanged {
            // Retry at once; an unchanged probe waits for the heartbeat instead of ping-ponging.
            self.probe_sent = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_backs_up_but_never_below_match() {
        let mut p = Progress::new(Index(10));
        assert_eq!(p.next_index, Index(11));
        p.on_conflict(Index(10), Index(4), Index(10));
        assert_eq!((p.next_index, p.state), (Index(4), ProgressState::Probe));
        assert!(p.on_success(Index(6)));
        assert_eq!(
            (p.next_index, p.state),
            (Index(7), ProgressState::Replicate)
        );
        // A stale rejection of an earlier probe changes nothing.
        p.on_conflict(Index(3), Index(1), Index(10));
        assert_eq!(p.next_index, Index(7));
        // A hint at or below the match point: the follower lost what it acknowledged.
        p.on_conflict(Index(8), Index(2), Index(10));
        assert_eq!((p.match_index, p.next_index), (Index(1), Index(2)));
        assert!(p.on_success(Index(6)));
        // A hint past the end is clamped too.
        p.on_conflict(Index(8), Index(50), Index(10));
        assert_eq!(p.next_index, Index(11));
        assert!(
            !p.on_success(Index(5)),
            "older success does not move the match point"
        );
    }

    #[test]
    fn fetching_keeps_the_match_point_and_ignores_stale_answers() {
        let mut p = Progress::new(Index(20));
        assert!(p.on_success(Index(8)));
        p.on_fetching(Index(3));
        assert_eq!(p.state, ProgressState::Replicate, "older than the success");
        p.on_fetching(Index(9));
        assert_eq!(
            (p.state, p.match_index),
            (ProgressState::Fetching, Index(8)),
            "unverified: the match point stays"
        );
        // The follower's normal answers take it back to leader repair.
        p.on_conflict(Index(20), Index(15), Index(20));
        assert_eq!((p.state, p.next_index), (ProgressState::Probe, Index(15)));
        p.on_fetching(Index(9));
        assert!(p.on_success(Index(20)));
        assert_eq!(p.state, ProgressState::Replicate);
    }
}
