//! Restart safety: the catch-up of a member that lost its storage (no amnesiac voter), and the
//! dynamic-mode merge rule (no history erased by the smaller side). See [`CommittedRank`].

use std::fmt::Debug;

use super::term_query::TermQuery;
use super::{Engine, RoleState};
use crate::config::PlantedBug;
use crate::io::Output;
use crate::message::{AppendResult, Overrule};
use crate::rank::CommittedRank;
use crate::records::MAX_COMMIT_RECORDS;
use crate::rng::SplitMix64;
use crate::types::{Cursor, Index, Instant, NodeId, Term};

/// A catch-up in progress ([`Input::BeginCatchUp`](crate::Input::BeginCatchUp)).
#[derive(Debug)]
pub(super) struct CatchUp<Id> {
    /// The term (ballot) of the leader whose announcements count: only the current one. A
    /// leader of a history that later lost may have announced a commit index nobody reaches
    /// again, and that includes an earlier term of today's leader: in dynamic mode its commit
    /// index goes back when the merge reverts its history (simulator, dynamic seed 9411318: a
    /// member stayed an observer for good, waiting for index 26 its leader had announced before
    /// a merge took it back to 22).
    leader: Option<Term<Id>>,
    /// The highest commit index that leader announced; `None` until we hear from one.
    target: Option<Index>,
    /// Strict mode: the other voters' terms (see `term_query`).
    pub(super) terms: TermQuery<Id>,
}

impl<Id> Default for CatchUp<Id> {
    fn default() -> Self {
        CatchUp {
            leader: None,
            target: None,
            terms: TermQuery::default(),
        }
    }
}

/// What a leader's message says about its commit: its commit index, the weight it committed
/// with, and whether it overrules a conflict we contested.
#[derive(Clone, Copy, Debug)]
pub(super) struct LeaderCommit {
    pub(super) index: Index,
    pub(super) weight: u64,
    pub(super) overrule: Option<Overrule>,
    /// Our storage epoch as the leader knows it.
    pub(super) epoch: u64,
}

/// How far a member that lost its storage jumps its first ballot round at least (see
/// `Engine::round_skip`): far beyond any run of lone elections its earlier life can have had.
const AMNESIA_ROUND_SKIP: u64 = 1 << 20;

/// The range of the random part of that jump, drawn once per life (`Engine::amnesia_spread`).
/// A fixed jump is not enough: an earlier life that itself lost its storage jumped by the same
/// amount from the same rounds, so a second amnesia reused its ballot (simulator, dynamic mode,
/// seed 701286: both lives led round 2^20 + 3, each appending its own entries at the same
/// indexes). With a random part, two lives collide only if their draws land within each
/// other's run of lone elections: odds of about one in 2^40 per pair. Rounds stay far from
/// `u64::MAX` (2^23 such jumps fit).
pub(super) const AMNESIA_ROUND_SPREAD: u64 = 1 << 40;

/// Salt of the stream `amnesia_spread` is drawn from, so drawing it does not move the
/// election-timeout stream (the simulator's schedules stay what they were).
pub(super) const AMNESIA_SALT: u64 = 0xa3e5_1a00_5eed_0b11;

/// Salt of the stream the random part of this life's default storage epoch is drawn from.
const EPOCH_SALT: u64 = 0x5e0c_e90c_11fe_0a1b;

/// Bits of a default storage epoch below the clock reading.
const EPOCH_RANDOM_BITS: u32 = 20;

/// The storage epoch a life uses unless the shell sets one (`Engine::with_life_epoch`): the
/// engine's clock at its start in the high bits (a shell whose clock runs on across restarts —
/// the simulator's, a test's — gives each later life a higher epoch), a random part below.
pub(super) fn default_life_epoch(now: Instant, seed: u64) -> u64 {
    let random = SplitMix64::new(seed ^ EPOCH_SALT).next_u64() >> (64 - EPOCH_RANDOM_BITS);
    ((now.as_millis().saturating_add(1)) << EPOCH_RANDOM_BITS) | random
}

/// How long a member that learned its committed history was outranked keeps yielding (refusing
/// to campaign, voting only for the stronger history), in election timeouts. Long enough for
/// the winning side to elect a leader that then repairs us; short enough that a winner that
/// vanished does not leave us leaderless for good.
const YIELD_TIMEOUTS: u32 = 4;

/// A member yielding to a stronger committed history it conflicts with.
#[derive(Clone, Copy, Debug)]
pub(super) struct Yield<Id> {
    /// The rank of the history that outranked ours.
    to: CommittedRank<Id>,
    /// When yielding ends if no leader of that rank repaired us by then.
    until: Instant,
}

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// Whether this node votes, campaigns and counts itself: its preference allows it and it is
    /// not catching up after losing its storage.
    pub(super) fn is_voter(&self) -> bool {
        self.may_vote() && (self.config.max_voters().is_none() || self.voters().contains(&self.id))
    }

    /// A voter by configuration and catch-up state, before the strict-mode voter cap.
    pub(super) fn may_vote(&self) -> bool {
        self.config.preference.is_voter() && self.catch_up.is_none()
    }

    /// Sets the storage epoch this life gives storage it begins after a loss
    /// ([`Input::BeginCatchUp`](crate::Input::BeginCatchUp), `HardState::epoch`). **It must be
    /// higher than the epoch of every earlier life of this member**: a leader counts the
    /// highest epoch it heard from a follower and ignores lower ones as late answers of lives
    /// whose storage is gone. A clock reading at start does it (the shell uses microseconds
    /// since the Unix epoch). Without this call the epoch is the engine's clock at
    /// [`Engine::new`] in milliseconds, shifted up, with a random part: ordered for shells
    /// whose clock runs on across restarts (tests, simulators). 0 is raised to 1 (0 means
    /// storage that never replaced a lost one).
    #[must_use]
    pub fn with_life_epoch(mut self, epoch: u64) -> Self {
        self.life_epoch = epoch.max(1);
        self
    }

    /// True while a catch-up begun by `Input::BeginCatchUp` runs (this node acts as an observer).
    pub fn is_catching_up(&self) -> bool {
        self.catch_up.is_some()
    }

    /// This node's committed rank (see [`CommittedRank`]): the weight of its latest commit and
    /// its last committed position. Candidates send it (a yielding member votes by it).
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

    /// The highest index known committed: the commit index, or what a previous incarnation
    /// persisted if higher (not yet confirmed by a leader, so not applied yet).
    pub(super) fn known_commit(&self) -> Index {
        self.commit.max(self.durable_commit)
    }

    pub(super) fn on_begin_catch_up(&mut self) {
        if self.config.has_bug(PlantedBug::AmnesiacVoter) || self.catch_up.is_some() {
            return;
        }
        if !matches!(self.state, RoleState::Follower) {
            self.become_follower();
            self.set_leader(None);
        }
        self.catch_up = Some(CatchUp::default());
        self.lost_storage = true;
        self.hard.epoch = self.life_epoch;
        self.persist_hard_state(); // a crash during the catch-up resumes it
        self.query_terms();
        self.membership_changed();
    }

    /// Rounds to skip in our next campaign. A member that lost its storage may have used ballots
    /// `(round, us)` that nobody it caught up from has seen (a lone election, entries only on a
    /// member that is down): campaigning in such a round again would create a second history
    /// under the same ballot and break log matching. Until it has led once, it campaigns
    /// `AMNESIA_ROUND_SKIP` plus this life's random `amnesia_spread` rounds further than
    /// needed.
    pub(super) fn round_skip(&self) -> u64 {
        if self.lost_storage {
            AMNESIA_ROUND_SKIP + self.amnesia_spread
        } else {
            0
        }
    }

    pub(super) fn on_end_catch_up(&mut self) {
        if self.catch_up.take().is_some() {
            self.bootstrap_waited = true;
            self.finish_catch_up();
        }
    }

    /// The leader we accepted announced `commit`: it raises the catch-up target (a new leader
    /// starts a new target). Only an announcement to our own storage epoch counts: one sent
    /// before the leader heard from this life may lack commits that counted our earlier life's
    /// late acknowledgements, of entries we no longer hold (simulator, strict mode, seed
    /// 9206664).
    pub(super) fn note_leader_commit(&mut self, leader: Id, commit: &LeaderCommit) {
        let leader_commit = commit.index;
        if commit.epoch != self.hard.epoch {
            return;
        }
        // The follower took the leader's term before it notes the announcement.
        let term = self.hard.term;
        if term.owner() != Some(leader) {
            return;
        }
        if let Some(catch_up) = &mut self.catch_up {
            let target = match catch_up.target {
                Some(target) if catch_up.leader == Some(term) => target.max(leader_commit),
                _ => leader_commit,
            };
            catch_up.leader = Some(term);
            catch_up.target = Some(target);
        }
    }

    /// Ends the catch-up once our commit index reached what our current leader announced **and**
    /// the entry there is of the leader's own term: a leader that committed an entry of its term
    /// holds every entry committed before it (leader completeness), so we then hold every entry
    /// committed before we lost our storage, and our vote is as informed as any member's. (The
    /// announced index alone is not enough: a new leader, or one restarted from disk, announces a
    /// commit index that may lag what was committed.) In strict mode the other voters must also
    /// have told us their terms: the leader may be a stale one (see `term_query`).
    pub(super) fn check_caught_up(&mut self) {
        let Some(CatchUp {
            leader: Some(leader),
            target: Some(target),
            ..
        }) = self.catch_up
        else {
            return;
        };
        if self.terms_heard()
            && self.hard.term == leader
            && self.leader == leader.owner()
            && self.commit >= target
            && self.log.term_at(self.commit) == Some(self.hard.term)
        {
            self.catch_up = None;
            self.finish_catch_up();
        }
    }

    fn finish_catch_up(&mut self) {
        self.persist_hard_state(); // the marker goes before anyone hears our vote
        self.emit(Output::CaughtUp);
        self.reset_election_timer();
        self.membership_changed();
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
}

/// Whether a member of rank `rank` belongs to (or has moved on from) the history of rank `to`
/// that we yield to: it committed at least as far, in at least as late a term. A lagging member of our own losing history, or of a third history, does not qualify
/// just because its weight or ballot is higher: granting it our vote would let it erase our
/// committed entries without the winner's history ever being adopted.
fn belongs_to<Id: Ord>(rank: &CommittedRank<Id>, to: &CommittedRank<Id>) -> bool {
    rank.commit.index >= to.commit.index && rank.commit.term >= to.commit.term
}
