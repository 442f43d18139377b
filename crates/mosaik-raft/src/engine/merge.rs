//! The dynamic-mode merge rule (no history erased by the smaller side): commit records and
//! committed ranks, the contest and its verdict, yielding, and votes by rank. See
//! [`CommittedRank`].

use std::fmt::Debug;

use super::{Engine, RoleState};
use crate::config::PlantedBug;
use crate::message::{AppendResult, Overrule};
use crate::rank::{self, CommittedRank};
use crate::records::MAX_COMMIT_RECORDS;
use crate::types::{Cursor, Index, Instant, NodeId, Term};

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

    /// The term of our entry at `index`: from the log, or, for a record position the log
    /// pruned, as remembered then (`PrunedTerms`).
    pub(super) fn record_term(&self, index: Index) -> Option<Term<Id>> {
        self.log.term_at(index).or_else(|| {
            (self.pruned_terms.iter())
                .find(|(at, _)| *at == index)
                .map(|(_, term)| *term)
        })
    }

    /// The log is about to prune its prefix up to `up_to`: remember the terms of our entries at
    /// the record positions it drops.
    pub(super) fn remember_pruned_terms(&mut self, up_to: Index) {
        let base = self.log.base().index;
        for (index, _) in &self.commit_weights {
            if *index > base
                && *index <= up_to
                && let Some(term) = self.log.term_at(*index)
            {
                self.pruned_terms.push((*index, term));
            }
        }
        self.pruned_terms.sort_by_key(|(index, _)| *index);
        self.pruned_terms.dedup_by_key(|(index, _)| *index);
    }

    /// Keeps only the remembered terms of current record positions (at most one per record).
    pub(super) fn retain_pruned_terms(&mut self) {
        let records = &self.commit_weights;
        self.pruned_terms
            .retain(|(at, _)| records.iter().any(|(index, _)| index == at));
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
        self.contest_with(conflict, overrule, Vec::new())
    }

    /// A contest; `records` (ours, with their terms) go along when `conflict` is only the
    /// latest the split can be, so the leader can locate it.
    fn contest_with(
        &self,
        conflict: Index,
        overrule: Option<Overrule>,
        records: Vec<(Cursor<Id>, u64)>,
    ) -> Option<AppendResult<Id>> {
        if self.config.is_strict() || self.config.has_bug(PlantedBug::HigherRoundWins) {
            return None;
        }
        if self.catch_up.is_some() {
            // An observer catching up after losing its storage takes the leader's history: its
            // copies were never counted in any commit's weight (its acknowledgements abstain),
            // so the voters that did count them defend that history themselves. Its contest
            // could only depose a leader for a history no voter may hold any more, and it
            // cannot lead that history itself (simulator, dynamic seed 54009666: a wiped member
            // that had caught a lone leader's weight-1 commits deposed every leader the two
            // voters elected).
            return None;
        }
        let rank = self.committed_rank_at(conflict);
        let judged = overrule.is_some_and(|o| {
            o.conflict == conflict && rank.weight <= o.weight && rank.commit.index <= o.commit
        });
        (!judged).then_some(AppendResult::Diverged {
            rank,
            conflict,
            records,
        })
    }

    /// Like [`Engine::contest`], for a split we cannot locate: the leader's log departs from our
    /// snapshot's history somewhere at or before our snapshot base, where we hold no entries.
    /// `departs` is only the latest the split can be. With nothing recorded as committed from
    /// there on (a snapshot install records no weights) our rank there is a bare commit term,
    /// and it would be compared with the leader's at a point past the real split, where the
    /// leader may have committed nothing either: the later commit term then deposed leaders whose
    /// history outranks ours at the real split (simulator, dynamic 5-member seed 40023399).
    /// So we only contest with a recorded weight; otherwise we take the leader's history.
    pub(super) fn contest_unlocated(
        &self,
        departs: Index,
        overrule: Option<Overrule>,
    ) -> Option<AppendResult<Id>> {
        if self.committed_rank_at(departs).weight == 0 {
            return None;
        }
        self.contest_with(departs, overrule, self.records_with_terms())
    }

    /// As leader: follower `from` contested our entries from `conflict` on with its history's
    /// `rank` there. **The merge rule:** the history backed by the larger weight from the
    /// conflict on wins, then the more recent last commit, then the longer one. Outranked, we
    /// step down and yield until a leader of that history repairs us; otherwise we overrule the
    /// follower.
    ///
    /// A follower that cannot locate the split (`records` not empty: it lies below its log's
    /// base) sends `conflict` as the latest it can be and its commit records with their terms.
    /// The split comes after every record position where we hold an entry of the same term
    /// (log matching): our rank counts from right after the last such position
    /// (`shared_until`), the follower's from `conflict`, as a voter bounds a candidate's split
    /// (`outranked_by`): the follower wins only where it outranks us wherever the split can
    /// be. Judged at `conflict` alone, a history that committed little past it lost to a
    /// follower that outranks it only there, while the voters, which bound the split, never
    /// elected that follower either: no leader after the heal (simulator, dynamic 7-member
    /// seeds 48003534 and 48006640). Judged with both ranks from the shared index, followers
    /// won contests their voters' bounds denied them (5- and 3-member seeds 15019005 and
    /// 36001117).
    pub(super) fn on_contested(
        &mut self,
        from: Id,
        rank: CommittedRank<Id>,
        conflict: Index,
        records: &[(Cursor<Id>, u64)],
    ) {
        if self.config.is_strict() {
            return;
        }
        let ours_from = self
            .shared_until(records, conflict)
            .map_or(conflict, Index::next);
        if rank <= self.committed_rank_at(ours_from) {
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

    /// The last index before `conflict` up to which a contesting follower's history and ours
    /// agree, by its record positions and their terms (`None` when none tells, or the list is
    /// longer than any member sends). Log matching: where we hold an entry of the same term at
    /// a record position, both agree up to it; where our last entry of that term comes earlier,
    /// both agree up to that one (both follow that term's leader, whose log only grew). Without
    /// the latter the shared index could lie far below the split, where our rank counts the
    /// shared prefix's weight, and we erased a stronger history (5-member seed 45010618).
    fn shared_until(&self, records: &[(Cursor<Id>, u64)], conflict: Index) -> Option<Index> {
        if records.len() > MAX_COMMIT_RECORDS + 1 {
            return None;
        }
        (records.iter())
            .filter(|(at, _)| at.term != Term::zero())
            .filter_map(|(at, _)| {
                if self.record_term(at.index) == Some(at.term) {
                    Some(at.index)
                } else {
                    self.log.last_index_of_term(at.term, at.index)
                }
            })
            .filter(|agreed| *agreed < conflict)
            .max()
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

    /// Our commit records as a candidate (or a contest at a split we cannot locate) sends
    /// them: each with the term of our entry at its index (remembered where the log pruned it;
    /// the zero term where we do not know it), so a voter (or the leader) can tell how far our
    /// logs agree (`outranked_by`, `on_contested`).
    ///
    /// The last record is also split where its term's run begins (while there is room for
    /// one more record): a run of equal weight is one record, so a last commit right after a
    /// long shared prefix committed with the same weight gave voters one position only, of a
    /// term they do not hold; they could not tell that they share the prefix, counted it
    /// against us and denied us (simulator, dynamic 7-member seed 44005277). Splitting a record
    /// changes no weight a voter computes from them: both halves carry the same weight.
    pub(super) fn records_with_terms(&self) -> Vec<(Cursor<Id>, u64)> {
        let at = |index| Cursor::new(self.record_term(index).unwrap_or_else(Term::zero), index);
        let mut records: Vec<(Cursor<Id>, u64)> = (self.commit_weights.iter())
            .map(|(index, weight)| (at(*index), *weight))
            .collect();
        if records.len() < MAX_COMMIT_RECORDS
            && let Some(&(last, weight)) = records.last()
            && last.term != Term::zero()
        {
            let before_run = self.log.first_index_with_term_at_least(last.term).prev();
            let previous = records
                .len()
                .checked_sub(2)
                .map_or(Index::ZERO, |i| records[i].0.index);
            if before_run > previous
                && before_run < last.index
                && self.log.term_at(before_run).is_some()
            {
                records.insert(records.len() - 1, (at(before_run), weight));
            }
        }
        records
    }

    /// Dynamic mode: whether a candidate of committed rank `candidate`, whose commit records
    /// with the terms of its entries there are `records`, would win the merge rule against us
    /// wherever our logs split, so our vote may go to it even though its log is behind ours
    /// (the election restriction would deny it).
    ///
    /// Without this, only a member that once led and was contested yields to a stronger
    /// history; every other member votes by log position. A member holding the strongest
    /// history with a short or low-round log (a lone survivor of a large quorum, while
    /// amnesiacs jumped their rounds) then never gathers a quorum, and the weaker histories take
    /// turns leading and losing the same contest to it (simulator, dynamic 5-member seed
    /// 34002461: no convergence a minute after the heal).
    ///
    /// Granting is safe only where it erases nothing the merge rule would keep, so the split
    /// `s` is bounded from both sides. The candidate's entry at its last commit `c` has term
    /// `T`. Our entry at `c` differs (or our log ends before `c` on a term above `T`), so
    /// `s <= c`; terms never decrease along a log and the
    /// candidate's are at most `T` up to `c`, so our first entry of a term above `T` is at or
    /// past `s` too, and so is each record position where we hold an entry of another term
    /// (`upper`). Two logs holding an entry of the same term at an index agree up
    /// to it (log matching), and an entry of the same term at different indexes up to the lower
    /// one (both follow that term's leader): so `s` comes after every record position of the
    /// candidate's that we hold, and after our last entry of `T` (`lower`). The candidate's
    /// rank at `s` is then at least its records' weight from `upper` on, ours at most our
    /// weight from `lower` on, and the candidate must win with those. Once it leads, our
    /// contest always ends in an overrule.
    pub(super) fn outranked_by(
        &self,
        candidate: &CommittedRank<Id>,
        records: &[(Cursor<Id>, u64)],
    ) -> bool {
        let (term, commit) = (candidate.commit.term, candidate.commit.index);
        if self.config.is_strict() || commit == Index::ZERO || records.len() > MAX_COMMIT_RECORDS {
            return false;
        }
        // Our entry at its last commit differs; or our log ends before that commit with an entry
        // of a later term than its last committed one (its entries up to the commit are of that
        // term or earlier, so the logs already differ at our end: an amnesiac's short log of
        // jumped rounds denied by round the candidate whose history outranks it, simulator,
        // dynamic 5-member seed 40007099).
        let conflicts = match self.log.term_at(commit) {
            Some(ours) => ours != term,
            None => commit > self.log.last_index() && self.log.last().term > term,
        };
        if !conflicts {
            return false;
        }
        let our_run_of_term = self.log.last_index_of_term(term, commit);
        let past_term = match our_run_of_term {
            Some(last) => last.next(),
            None => self.log.first_index_with_term_at_least(term),
        };
        // A record position where we hold an entry of another term: the logs differ there.
        // (A record the candidate no longer holds comes with the zero term and says nothing.)
        let differs = (records.iter())
            .filter(|(at, _)| at.term != Term::zero())
            .filter(|(at, _)| {
                self.log
                    .term_at(at.index)
                    .is_some_and(|ours| ours != at.term)
            })
            .map(|(at, _)| at.index)
            .min();
        let upper = (past_term.min(commit))
            .min(differs.unwrap_or(commit))
            .max(Index(1));
        let agreed = (records.iter())
            .filter(|(at, _)| at.index < commit && self.log.term_at(at.index) == Some(at.term))
            .map(|(at, _)| at.index)
            .chain(our_run_of_term)
            .max();
        let lower = agreed.map_or(Index(1), Index::next).min(upper);
        let weights: Vec<(Index, u64)> = records.iter().map(|(at, w)| (at.index, *w)).collect();
        let theirs = CommittedRank {
            weight: rank::weight_from(&weights, upper),
            commit: candidate.commit,
        };
        theirs > self.rank_with(rank::weight_from(&self.commit_weights, lower))
    }
}

/// Whether a member of rank `rank` belongs to (or has moved on from) the history of rank `to`
/// that we yield to: it committed at least as far, in at least as late a term. A lagging member of our own losing history, or of a third history, does not qualify
/// just because its weight or ballot is higher: granting it our vote would let it erase our
/// committed entries without the winner's history ever being adopted.
fn belongs_to<Id: Ord>(rank: &CommittedRank<Id>, to: &CommittedRank<Id>) -> bool {
    rank.commit.index >= to.commit.index && rank.commit.term >= to.commit.term
}
