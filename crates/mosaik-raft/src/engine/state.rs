//! Shared state transitions: outputs, roles, terms, commit, apply and revert.

use std::fmt::Debug;

use super::{Engine, RoleState};
use crate::config::PlantedBug;
use crate::io::Output;
use crate::log::Payload;
use crate::message::{Message, Vote};
use crate::pruned_terms::PrunedTerms;
use crate::quorum::QuorumRule;
use crate::records::CommitRecords;
use crate::types::{Index, NodeId, Role, Term};

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    pub(super) fn emit(&mut self, output: Output<Id, C>) {
        self.outputs.push_back(output);
    }

    pub(super) fn send(&mut self, to: Id, msg: Message<Id, C>) {
        self.emit(Output::Send { to, msg });
    }

    pub(super) fn quorum(&self) -> QuorumRule {
        self.quorum
    }

    /// How this node answers in replication acknowledgements.
    pub(super) fn ack_vote(&self) -> Vote {
        // Strict mode: acknowledgements for a leader past the voter cap (in our view) do not
        // count, so it cannot commit with a quorum another leader's quorum misses.
        let leader_placed = self
            .leader
            .is_none_or(|leader| self.holds_voter_place(leader));
        // While catching up, our acknowledgements count for the sole survivor we elected: no
        // other member holds anything committed, and its noop must commit for us to catch up.
        let counts = self.is_voter()
            || self
                .leader
                .is_some_and(|leader| self.sole_survivor() == Some(leader));
        if counts && leader_placed {
            Vote::Granted
        } else {
            Vote::Abstained
        }
    }

    /// Persists term, vote, commit knowledge and the catch-up and lost-storage markers.
    pub(super) fn persist_hard_state(&mut self) {
        self.persist_hard_state_capped(Index(u64::MAX));
    }

    /// Like `persist_hard_state`, with the persisted commit index at most `cap` (before a
    /// truncation of committed entries is persisted, so a crash in between never leaves a commit
    /// index pointing into entries that replaced them).
    pub(super) fn persist_hard_state_capped(&mut self, cap: Index) {
        self.hard.commit = self.known_commit().min(cap);
        self.hard.commit_weight = self.commit_weights.last().map_or(0, |(_, w)| *w);
        self.hard.peak = self.peak_commit_weight();
        self.hard.catching_up = self.catch_up.is_some();
        self.hard.lost_storage = self.lost_storage;
        self.hard.records = CommitRecords::from_slice(&self.commit_weights);
        self.retain_pruned_terms();
        self.hard.pruned_terms = PrunedTerms::from_slice(&self.pruned_terms);
        let mut hard = self.hard;
        if self.config.has_bug(PlantedBug::DoubleVote) {
            hard.vote = None;
        }
        self.emit(Output::PersistHardState(hard));
    }

    pub(super) fn set_leader(&mut self, leader: Option<Id>) {
        if self.leader != leader {
            // A fetch serves the leader that asked for it; the next one decides afresh.
            self.fetch = None;
            self.leader = leader;
            self.emit(Output::LeaderChanged(leader));
        }
    }

    pub(super) fn set_state(&mut self, state: RoleState<Id>) {
        let before = self.role();
        self.state = state;
        let after = self.role();
        if before != after {
            // Candidates and leaders are never repaired by fetched entries.
            self.fetch = None;
            self.emit(Output::RoleChanged(after));
        }
    }

    /// Moves to another term as a follower of `leader` (if known). Normally a higher round; within
    /// the current round it switches to the ballot of the round's winner (or of a candidate we
    /// vote for). The vote is kept within a round (one vote per round). Persisted first.
    pub(super) fn observe_term(&mut self, term: Term<Id>, leader: Option<Id>) {
        assert!(
            term.round() >= self.hard.term.round(),
            "rounds only move forward"
        );
        if term.round() > self.hard.term.round() {
            self.hard.vote = None;
        }
        self.hard.term = term;
        self.persist_hard_state();
        self.become_follower();
        self.set_leader(leader);
    }

    /// Steps down to follower (same term), failing leader-only work.
    pub(super) fn become_follower(&mut self) {
        if matches!(self.state, RoleState::Follower) {
            return;
        }
        if self.is_leader() {
            self.fail_leader_reads();
        }
        self.set_state(RoleState::Follower);
        self.reset_election_timer();
    }

    /// Fires every expired timer.
    pub(super) fn fire_timers(&mut self) {
        if self.election_due.is_some_and(|due| due <= self.now) && self.role() != Role::Leader {
            self.on_election_timeout();
        }
        match &self.state {
            RoleState::Leader(_) => self.on_leader_timers(),
            RoleState::Candidate { retry_due, .. } if *retry_due <= self.now => {
                self.request_votes();
            }
            _ => {}
        }
        self.query_terms();
        self.expire_requests();
    }

    /// Advances the commit index (monotonically) and applies the newly committed entries.
    pub(super) fn commit_to(&mut self, index: Index) {
        if index <= self.commit {
            return;
        }
        assert!(
            index <= self.log.last_index(),
            "commit index {index} past the end of the log ({})",
            self.log.last_index()
        );
        self.commit = index;
        if index > self.durable_commit {
            self.persist_hard_state();
        }
        self.apply_committed();
        self.emit(Output::CommitAdvanced(index));
        self.committed_changed();
    }

    /// Work that depends on the commit/applied index: proposal outcomes and waiting reads.
    pub(super) fn committed_changed(&mut self) {
        self.resolve_watches();
        self.check_remote_reads();
        self.process_leader_reads();
    }

    /// Hands `(applied, commit]` to the state machine (noops are skipped but counted).
    pub(super) fn apply_committed(&mut self) {
        if self.applied >= self.commit {
            return;
        }
        assert!(
            self.applied >= self.log.base().index,
            "entries {}..={} to apply were pruned",
            self.applied.next(),
            self.log.base().index
        );
        let commit = self.commit;
        let entries: Vec<_> = self
            .log
            .iter_from(self.applied.next())
            .take_while(|(index, _)| *index <= commit)
            .filter_map(|(index, entry)| match &entry.payload {
                Payload::Command(command) => Some((index, entry.term, command.clone())),
                Payload::Noop => None,
            })
            .collect();
        self.applied = commit;
        if !entries.is_empty() {
            self.emit(Output::Apply { entries });
        }
    }

    /// Panics in strict mode: a committed entry is about to be discarded, which strict mode's
    /// quorum intersection makes impossible unless something is badly wrong — crashing beats
    /// diverging. With a planted bug the violation is let through so checkers can observe it.
    pub(super) fn assert_may_discard_committed(&self, index: Index) {
        assert!(
            !self.config.is_strict() || self.config.any_bug(),
            "strict mode safety violation on {:?}: committed entry at {index} would be discarded \
             (commit index {})",
            self.id,
            self.commit
        );
    }

    /// Dynamic mode: the commit index moves back to `to` because committed entries after it
    /// were overwritten. The state machine is rebuilt from the log base and re-applied.
    pub(super) fn revert_commit(&mut self, to: Index) {
        debug_assert!(to < self.commit);
        self.assert_may_discard_committed(to.next());
        let discarded = self.commit.get() - to.get();
        self.commit = to;
        self.forget_commit_weights_after(to);
        self.applied = self.log.base().index;
        let replay_from = self.log.base();
        self.emit(Output::Reverted {
            to,
            discarded,
            replay_from,
        });
        self.apply_committed();
    }
}
