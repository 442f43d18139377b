//! The dynamic-mode merge rule: which of two conflicting committed histories survives.
//!
//! In dynamic mode the voters are whoever is bonded, so two sides of a partition (or a member
//! that restarted with an empty disk and found nobody) can each elect leaders and commit. When
//! they meet, Raft alone would let the higher ballot round win: the side that held more
//! elections, which is usually the *smaller* one (a lone member re-elects itself every time its
//! bonds flap). That erased whole acknowledged histories. Instead, every member carries the
//! [`CommittedRank`] of its committed prefix and a conflict over committed entries is decided by
//! it, not by the round.

use core::cmp::Ordering;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::types::{Cursor, Index};

/// How strongly a member's committed history is backed, compared when two committed histories
/// conflict in dynamic mode.
///
/// * `weight`: how many voters backed the history — for the merge rule, the largest number of
///   voters a leader counted when committing anything from the conflicting index on
///   ([`Engine::committed_rank_at`](crate::Engine::committed_rank_at); 0 if the member
///   committed nothing there); in a vote request, the weight of the member's latest commit.
///   A lone member commits with weight 1, a member that restarted empty has 0.
/// * `commit`: the position (term, index) of the member's last committed entry.
///
/// Ordered by weight, then the term (ballot) of the last committed entry, then the committed
/// index: **the history committed by the larger quorum wins; between equal quorums the one that
/// committed most recently wins (its leader was elected after the other's, by a quorum of the
/// same size); between those, the longer committed log.** The ballot never decides alone: an
/// empty or restarted member (weight 0, commit 0) can never revert anything, and a lone member
/// (weight 1) never reverts what two or more members committed, whatever its round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommittedRank<Id> {
    /// Voters counted by the leader at the last commit this member knows of.
    pub weight: u64,
    /// The member's last committed position.
    pub commit: Cursor<Id>,
}

impl<Id: Copy> CommittedRank<Id> {
    /// The rank of an empty member: loses every conflict.
    pub const fn zero() -> Self {
        CommittedRank {
            weight: 0,
            commit: Cursor::zero(),
        }
    }

    /// The committed index.
    pub fn index(&self) -> Index {
        self.commit.index
    }

    /// The rank of a history from index `from` on: the largest weight among the commit records
    /// `(up to index, weight)` that cover an entry at or after `from` (zero if none), with the
    /// last committed position `commit`. What the merge rule compares at a conflict.
    pub fn from_records(records: &[(Index, u64)], from: Index, commit: Cursor<Id>) -> Self {
        let weight = weight_from(records, from);
        CommittedRank { weight, commit }
    }
}

/// The largest weight among the commit records `(up to index, weight)` that cover an entry at
/// or after `from` (zero if none): how many voters back a history from `from` on.
pub(crate) fn weight_from(records: &[(Index, u64)], from: Index) -> u64 {
    records
        .iter()
        .filter(|(index, _)| *index >= from)
        .map(|(_, w)| *w)
        .max()
        .unwrap_or(0)
}

impl<Id: Copy> Default for CommittedRank<Id> {
    fn default() -> Self {
        Self::zero()
    }
}

impl<Id: Ord> PartialOrd for CommittedRank<Id> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<Id: Ord> Ord for CommittedRank<Id> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.weight
            .cmp(&other.weight)
            .then_with(|| self.commit.term.cmp(&other.commit.term))
            .then_with(|| self.commit.index.cmp(&other.commit.index))
    }
}

impl<Id: fmt::Debug> fmt::Display for CommittedRank<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "weight {} at {}", self.weight, self.commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Term;

    fn rank(weight: u64, round: u64, index: u64) -> CommittedRank<u64> {
        CommittedRank {
            weight,
            commit: Cursor::new(Term::new(round, 1), Index(index)),
        }
    }

    #[test]
    fn larger_quorum_beats_longer_log_and_higher_round() {
        assert!(rank(3, 2, 10) > rank(1, 90, 500));
        assert!(rank(2, 1, 1) > rank(1, 7, 2));
    }

    #[test]
    fn equal_quorums_compare_the_latest_commit_then_length() {
        assert!(rank(2, 9, 10) > rank(2, 1, 11));
        assert!(rank(2, 9, 11) > rank(2, 9, 10));
        assert_eq!(rank(2, 9, 10).cmp(&rank(2, 9, 10)), Ordering::Equal);
    }

    #[test]
    fn an_empty_member_loses_to_everything_committed() {
        assert!(CommittedRank::<u64>::zero() < rank(1, 1, 1));
        assert!(CommittedRank::<u64>::zero() <= CommittedRank::zero());
    }
}
