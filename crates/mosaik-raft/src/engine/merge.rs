//! The dynamic-mode merge rule (no history erased by the smaller side): commit records and
//! committed ranks, the contest and its verdict, yielding, and votes by rank. See
//! [`CommittedRank`].

use std::fmt::Debug;

use super::{Engine, RoleState};
use crate::config::PlantedBug;
use crate::message::{AppendResult, Overrule};
use crate::rank::CommittedRank;
use crate::records::MAX_COMMIT_RECORDS;
use crate::types::{Cursor, Index, Instant, NodeId};

/// How long a member that learned its committed history was outranked keeps yielding (refusing
/// to campaign, voting only for the stronger history), in election timeouts. Long enough for
/// the winning side to elect a leader that then repairs us; short enough that a winner that
/// vanished does not leave us leaderless for good.
///
/// Longer is not better: 8 let the leaders a stronger history deposed in a 7-member group
/// overlap enough to elect it where 4 did not, but in 5-member groups yielders split between two
/// strong candidates sat out longer and new stalls appeared (simulator, dynamic mode, seeds
/// 41000254 and 34059129); not kept.
pub const YIELD_TIMEOUTS: u32 = 4;

/// A member yielding to a stronger committed history it conflicts with.
#[derive(Clone, Copy, Debug)]
pub(super) struct Yield<Id> {
    /// The rank of the history that outranked ours.
    to: CommittedRank<Id>,
    /// When yielding ends if no leader of that rank repaired us by then.
    until: Instant,
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// This node's committed rank (see [`CommittedRank`]): the weight of its latest commit and
    /// its last committed position. Candidates send it: a yielding member votes by it, and so does
    /// a dynamic-mode voter whose conflicting history it outranks (`outranked_by`).
    pub fn committed_rank(&self) -> CommittedRank<Id> {
        let weight = self.commit_weights.last().map_or(0, |(_, w)| *w);
        self.rank_with(weight)
    }

    /// The rank of our committed history from index `conflict` on, as the merge rule compares
    /// it: the largest weight with which anything at or after `conflict` was committed (zero
    /// when we committed nothing there), and our last committed position.
    pub fn committed_rank_at(&self, conflict: Index) -> CommittedRank<Id> {
        CommittedRank::from_records(&self.commit_weights, conflict, self.committed_rank().commit)
    }

    /// The commit records `(up to index, weight)` behind [`Engine::committed_rank_at`], oldest
    /// first.
    pub fn commit_records(&self) -> &[(Index, u64)] {
        &self.commit_weights
    }

    fn rank_with(&self, weight: u64) -> CommittedRank<Id> {
        let commit = self.known_commit();
        let term = self
            .log
            .term_at(commit)
            .unwrap_or_else(|| self.log.base().term);
        CommittedRank {
            weight,
            commit: Cursor::new(term, commit),
        }
    }

    /// The commit index advanced to `index` with `weight` voters counted: entries up to it are
    /// backed by that many (a run of equal weights is one record; at most
    /// `MAX_COMMIT_RECORDS` are kept, the oldest merged conservatively upwards).
    pub(super) fn record_commit_weight(&mut self, index: Index, weight: u64) {
        match self.commit_weights.last_mut() {
            Some((last, w)) if *w == weight => *last = (*last).max(index),
            _ => self.commit_weights.push((index, weight)),
        }
        if self.commit_weights.len() > MAX_COMMIT_RECORDS {
            let (_, first) = self.commit_weights.remove(0);
            let (_, second) = &mut self.commit_weights[0];
            *second = (*second).max(first);
        }
    }

    /// Committed entries after `to` were discarded: their weights go too.
    pub(super) fn forget_commit_weights_after(&mut self, to: Index) {
        let keep = self
            .commit_weights
            .iter()
            .position(|(index, _)| *index > to)
            .unwrap_or(self.commit_weights.len());
        let covers_to = keep < self.commit_weights.len()
            && keep
                .checked_sub(1)
                .is_none_or(|k| self.commit_weights[k].0 < to);
        let clamped = covers_to.then(|| (to, self.commit_weights[keep].1));
        self.commit_weights.truncate(keep);
        self.commit_weights
            .extend(clamped.filter(|(i, _)| *i > Index::ZERO));
    }

    /// The last record with the highest weight (persisted with the latest one: a restart
    /// defends with both).
    pub(super) fn peak_commit_weight(&self) -> (Index, u64) {
        let max = self
            .commit_weights
            .iter()
            .map(|(_, w)| *w)
            .max()
            .unwrap_or(0);
        (self.commit_weights.iter().rev())
            .find(|(_, w)| *w == max)
            .copied()
            .unwrap_or((Index::ZERO, 0))
    }

    /// Dynamic mode, as a follower: the leader's entries would discard our committed entries
    /// from `conflict` on. `None` lets them (the leader already decided exactly this conflict for
    /// itself: `overrule`; or strict mode, which never gets here — its quorums intersect and discarding a
    /// committed entry panics); otherwise we keep our log and contest with `Diverged`: the
    /// leader decides, so both sides always apply the same verdict.
    pub(super) fn contest(
        &self,
        conflict: Index,
        overrule: Option<Overrule>,
    ) -> Option<AppendResult<Id>> {
        if self.config.is_strict() || self.config.has_bug(PlantedBug::HigherRoundWins) {
            return None;
        }
        let rank = self.committed_rank_at(conflict);
        let judged = overrule.is_some_and(|o| {
            o.conflict == conflict && rank.weight <= o.weight && rank.commit.index <= o.commit
        });
        (!judged).then_some(AppendResult::Diverged { rank, conflict })
    }

    /// As leader: follower `from` contested our entries from `conflict` on with its history's
    /// `rank` there. **The merge rule:** the history backed by the larger weight from the
    /// conflict on wins, then the more recent last commit, then the longer one. Outranked, we
    /// step down and yield until a leader of that history repairs us; otherwise we overrule the
    /// follower.
    pub(super) fn on_contested(&mut self, from: Id, rank: CommittedRank<Id>, conflict: Index) {
        if self.config.is_strict() {
            return;
        }
        if rank <= self.committed_rank_at(conflict) {
            if let RoleState::Leader(leader) = &mut self.state
                && let Some(progress) = leader.progress.get_mut(&from)
            {
                // Only this conflict: if the follower's history changes, it contests anew.
                progress.overrule = Some(Overrule {
                    conflict,
                    weight: rank.weight,
                    commit: rank.commit.index,
                });
                progress.probe_sent = false; // tell it at once
            }
            return;
        }
        let until = self.now + self.config.election_timeout * YIELD_TIMEOUTS;
        let to = match self.yields_to() {
            Some(current) if current >= rank => current,
            _ => rank,
        };
        self.yielding = Some(Yield { to, until });
        if !matches!(self.state, RoleState::Follower) {
            self.become_follower();
        }
        self.set_leader(None);
        self.leader_heard_at = None;
    }

    /// The history we yield to, while yielding.
    pub(super) fn yields_to(&self) -> Option<CommittedRank<Id>> {
        self.yielding.filter(|y| self.now < y.until).map(|y| y.to)
    }

    /// Voting override while yielding: `Some(true)` grants a candidate that belongs to the
    /// history that outranked ours, whatever our log (ours is the losing history and will be
    /// repaired), `Some(false)` denies any other; `None` when not yielding (the
    /// normal election restriction decides).
    pub(super) fn yield_vote(&self, candidate: &CommittedRank<Id>) -> Option<bool> {
        self.yields_to().map(|to| belongs_to(candidate, &to))
    }

    /// Dynamic mode: whether a candidate of committed rank `candidate` would win the merge rule
    /// against us wherever our logs conflict, so our vote may go to it even though its log is
    /// behind ours (the election restriction would deny it).
    ///
    /// Without this, only a member that once led and was contested yields to a stronger
    /// history; every other member votes by log position. A member holding the strongest
    /// history with a short or low-round log (a lone survivor of a large quorum, while
    /// amnesiacs jumped their rounds) then never gathers a quorum, and the weaker histories take
    /// turns leading and losing the same contest to it (simulator, dynamic 5-member seed
    /// 34002461: no convergence a minute after the heal).
    ///
    /// Granting is safe only where it erases nothing the merge rule would keep, so both sides
    /// are bounded conservatively: our entry at the candidate's last committed index differs
    /// from the candidate's, so the logs conflict at or before it, where the candidate's rank
    /// is at least the one it sent (the weight of its latest commit, which covers that index);
    /// ours there is at most our largest recorded weight with our last committed position.
    /// Once the candidate leads, the follower's contest then always ends in an overrule.
    pub(super) fn outranked_by(&self, candidate: &CommittedRank<Id>) -> bool {
        if self.config.is_strict() || candidate.commit.index == Index::ZERO {
            return false;
        }
        let conflicts = self
            .log
            .term_at(candidate.commit.index)
            .is_some_and(|term| term != candidate.commit.term);
        if !conflicts {
            return false;
        }
        *candidate > self.rank_with(self.peak_commit_weight().1)
    }
}

/// Whether a member of rank `rank` belongs to (or has moved on from) the history of rank `to`
/// that we yield to: it committed at least as far, in at least as late a term. A lagging member of our own losing history, or of a third history, does not qualify
/// just because its weight or ballot is higher: granting it our vote would let it erase our
/// committed entries without the winner's history ever being adopted.
fn belongs_to<Id: Ord>(rank: &CommittedRank<Id>, to: &CommittedRank<Id>) -> bool {
    rank.commit.index >= to.commit.index && rank.commit.term >= to.commit.term
}
