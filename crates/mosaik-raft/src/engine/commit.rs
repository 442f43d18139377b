//! The leader's commit rule, and the weight it records with each commit (dynamic mode's
//! catch-up reads it: `rejoin.rs`).

use std::fmt::Debug;

use super::{Engine, RoleState, leader::LeaderState};
use crate::config::PlantedBug;
use crate::types::{Index, NodeId};

impl<Id: NodeId, C: Clone + Debug> Engine<Id, C> {
    /// The highest index a quorum of `voters` holds by the leader's progress (our own log
    /// counted; a follower catching up counts for nothing): what the commit rule commits, and
    /// what a reweigh needs to hold.
    fn quorum_match(
        &self,
        leader: &LeaderState<Id>,
        voters: impl IntoIterator<Item = Id>,
    ) -> Option<Index> {
        let matches = (voters.into_iter())
            .map(|voter| {
                if voter == self.id {
                    return self.log.last_index();
                }
                (leader.progress.get(&voter))
                    .filter(|p| !p.abstains)
                    .map_or(Index::ZERO, |p| p.match_index)
            })
            .collect();
        self.quorum().quorum_index(matches)
    }

    /// Commit rule (Raft §5.4.2): the highest index replicated on a quorum of current voters,
    /// and only if that entry belongs to the current term.
    pub(super) fn maybe_advance_commit(&mut self) {
        let RoleState::Leader(leader) = &self.state else {
            return;
        };
        // Computed once per call: it is a set built from the bonds, and this runs on every
        // acknowledgement.
        let voters = self.voters();
        let weight = voters.len() as u64;
        let Some(index) = self.quorum_match(leader, voters) else {
            return;
        };
        if index <= self.commit {
            return;
        }
        let current_term = self.log.term_at(index) == Some(self.hard.term);
        if current_term || self.config.has_bug(PlantedBug::PriorTermCommit) {
            self.record_commit_weight(index, weight);
            self.commit_to(index);
        }
    }

    /// Dynamic mode: a member catching up ends its catch-up only on a commit made with enough
    /// voters (`weight_suffices`), and a commit's weight is the size of the voter set when it
    /// was made. Once the voter set grew (a member finished its catch-up), an idle group's
    /// latest commit kept its old weight, and a second member catching up waited for the next
    /// write, for good in an idle group (simulator, dynamic seed 60000006 with reckless
    /// restarts). So on a heartbeat, while a follower abstains, a leader whose latest commit is
    /// held by a quorum of its grown voter set records that commit with the set's size: what
    /// the weight claims (a majority of a voter set of that size stores the entries) is true.
    /// No entry is appended, so the log and everything that follows it stay as they were.
    pub(super) fn refresh_commit_weight(&mut self) {
        if self.config.is_strict() {
            return;
        }
        let RoleState::Leader(leader) = &self.state else {
            return;
        };
        if !leader.progress.values().any(|p| p.abstains) {
            return;
        }
        let commit = self.commit;
        let weight = match self.commit_weights.last() {
            Some((index, weight)) if *index == commit => *weight,
            _ => return,
        };
        if self.log.term_at(commit) != Some(self.hard.term) {
            return; // only a commit of our own term, as the commit rule counts
        }
        let voters = self.voters();
        if weight >= voters.len() as u64 {
            return;
        }
        let grown = voters.len() as u64;
        if self.quorum_match(leader, voters) < Some(commit) {
            return;
        }
        self.commit_weights.pop();
        self.record_commit_weight(commit, grown);
        self.persist_hard_state();
    }
}
