//! Restart safety: the catch-up of a member that lost its storage (no amnesiac voter), and the
//! dynamic-mode merge rule (no history erased by the smaller side). See [`CommittedRank`].

use std::fmt::Debug;

use super::{Engine, RoleState};
use crate::config::PlantedBug;
use crate::io::Output;
use crate::rank::CommittedRank;
use crate::types::{Cursor, Index, Instant, NodeId};

/// A catch-up in progress ([`Input::BeginCatchUp`](crate::Input::BeginCatchUp)).
#[derive(Clone, Copy, Debug)]
pub(super) struct CatchUp<Id> {
    /// The leader whose announcements count: only the current one (a leader of a history that
    /// later lost may have announced a commit index nobody reaches again).
    leader: Option<Id>,
    /// The highest commit index that leader announced; `None` until we hear from one.
    target: Option<Index>,
}

impl<Id> Default for CatchUp<Id> {
    fn default() -> Self {
        CatchUp {
            leader: None,
            target: None,
        }
    }
}

/// The conflict index reported when the divergence lies in a pruned prefix (our snapshot base
/// conflicts with the leader's log): nobody knows where the histories split, so no side may
/// claim the other's committed history is a prefix of its own; the ranks alone decide.
pub(super) const UNKNOWN_CONFLICT: Index = Index::ZERO;

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
        self.config.preference.is_voter() && self.catch_up.is_none()
    }

    /// True while a catch-up begun by `Input::BeginCatchUp` runs (this node acts as an observer).
    pub fn is_catching_up(&self) -> bool {
        self.catch_up.is_some()
    }

    /// This node's committed rank (see [`CommittedRank`]): what decides a conflict over committed
    /// entries in dynamic mode.
    pub fn committed_rank(&self) -> CommittedRank<Id> {
        let commit = self.known_commit();
        let term = self
            .log
            .term_at(commit)
            .unwrap_or_else(|| self.log.base().term);
        CommittedRank {
            weight: self.commit_weight,
            commit: Cursor::new(term, commit),
        }
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
        self.persist_hard_state(); // a crash during the catch-up resumes it
        self.membership_changed();
    }

    pub(super) fn on_end_catch_up(&mut self) {
        if self.catch_up.take().is_some() {
            self.finish_catch_up();
        }
    }

    /// The leader we accepted announced `leader_commit`: it raises the catch-up target (a new
    /// leader starts a new target).
    pub(super) fn note_leader_commit(&mut self, leader: Id, leader_commit: Index) {
        if let Some(catch_up) = &mut self.catch_up {
            let target = match catch_up.target {
                Some(target) if catch_up.leader == Some(leader) => target.max(leader_commit),
                _ => leader_commit,
            };
            *catch_up = CatchUp {
                leader: Some(leader),
                target: Some(target),
            };
        }
    }

    /// Ends the catch-up once our commit index reached what our current leader announced **and**
    /// the entry there is of the leader's own term: a leader that committed an entry of its term
    /// holds every entry committed before it (leader completeness), so we then hold every entry
    /// committed before we lost our storage, and our vote is as informed as any member's. (The
    /// announced index alone is not enough: a new leader, or one restarted from disk, announces a
    /// commit index that may lag what was committed.)
    pub(super) fn check_caught_up(&mut self) {
        let Some(CatchUp {
            leader: Some(leader),
            target: Some(target),
        }) = self.catch_up
        else {
            return;
        };
        if self.leader == Some(leader)
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

    /// Dynamic mode, as a follower: whether we refuse entries of a leader of rank `leader` that
    /// would discard our committed entries from index `conflict` on. Strict mode never gets
    /// here (its quorums intersect: discarding a committed entry is a bug and panics).
    ///
    /// We refuse when [`follower_wins`] says our history wins, unless we yield to a history and
    /// this leader belongs to it: then we are the loser and accept the repair.
    pub(super) fn refuses(&mut self, leader: &CommittedRank<Id>, conflict: Index) -> bool {
        if self.config.is_strict() || self.config.has_bug(PlantedBug::HigherRoundWins) {
            return false;
        }
        if let Some(to) = self.yields_to()
            && belongs_to(leader, &to)
        {
            self.yielding = None;
            return false;
        }
        follower_wins(&self.committed_rank(), leader, conflict)
    }

    /// A follower reported `Diverged` at `conflict`: if its committed history wins (the same
    /// rule it applied), step down and yield until a leader of that history repairs us.
    pub(super) fn on_outranked(&mut self, rank: CommittedRank<Id>, conflict: Index) {
        if self.config.is_strict() || !follower_wins(&rank, &self.committed_rank(), conflict) {
            return; // stale: we have committed past it since, and now win
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

/// The merge rule, evaluated the same way by the follower (to refuse) and the leader (to yield):
/// the follower's committed history wins over the leader's entries from index `conflict` on when
/// the leader has not even committed up to `conflict` (its committed history is a prefix of the
/// follower's, which committed more on top of it) or the follower's [`CommittedRank`] is higher.
pub(super) fn follower_wins<Id: Ord>(
    follower: &CommittedRank<Id>,
    leader: &CommittedRank<Id>,
    conflict: Index,
) -> bool {
    leader.commit.index < conflict || follower > leader
}

/// Whether a member of rank `rank` belongs to (or has moved on from) the history of rank `to`
/// that we yield to: at least as strong, and committed at least as far in at least as late a
/// term. A lagging member of our own losing history, or of a third history, does not qualify
/// just because its weight or ballot is higher: granting it our vote would let it erase our
/// committed entries without the winner's history ever being adopted.
fn belongs_to<Id: Ord>(rank: &CommittedRank<Id>, to: &CommittedRank<Id>) -> bool {
    rank >= to && rank.commit.index >= to.commit.index && rank.commit.term >= to.commit.term
}
