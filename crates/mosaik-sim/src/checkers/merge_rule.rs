//! The dynamic-mode merge rule: a revert of committed entries is caused by a history at least
//! as strong as the one it discards — in particular never by a member that restarted with
//! empty storage and is still catching up (it holds nothing the group committed, so following
//! it erases acknowledged history: issue 14).
//!
//! The cause of an `Output::Reverted` that discards entries is the leader whose
//! `AppendEntries` the reverting member is handling (the harness hands the checker that
//! leader and the [`CommittedRank`] it sent, with the member's own rank before the message:
//! [`Cause`]); the history it discards must not outrank the leader's. A revert outside such a
//! message (a rewind by an older snapshot) is judged only by its leader's catch-up state.
//!
//! A member that is itself catching up after losing its storage is an observer: it takes its
//! leader's history whatever it holds (its copies were never counted in a commit's weight; the
//! voters that were defend that history), so its reverts are judged only by the catch-up rule.

use mosaik_raft::{CommittedRank, Cursor, Engine, Index, Output};

use super::{Checker, View};
use crate::harness::{Id, Out};

/// The leader whose `AppendEntries` a member is handling, and what the merge rule compares:
/// both sides' commit records (`(up to index, weight)`) and last committed positions, taken
/// before the member handled the message (the leader's as it stands when it is delivered: a
/// leader's records only grow while it leads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// The leader that sent the message.
    pub leader: Id,
    leader_records: Vec<(Index, u64)>,
    leader_commit: Cursor<Id>,
    records_before: Vec<(Index, u64)>,
    commit_before: Cursor<Id>,
    /// The member's log base before the message: a revert to before it (a member starting over
    /// from its initial state) discards from a split inside the pruned prefix, as an install does.
    base_before: Index,
    /// A snapshot install: where the histories split is unknown (it lies in a pruned prefix),
    /// so the engine compares whole histories, and so does the checker.
    pub snapshot: bool,
    /// The member was catching up before the message (an observer: it does not contest).
    observer: bool,
}

impl Cause {
    /// The cause of a message from `leader` (engine `source`) to `member`.
    pub fn new<C: Clone + core::fmt::Debug>(
        leader: Id,
        source: &Engine<Id, C>,
        member: &Engine<Id, C>,
    ) -> Self {
        Cause {
            leader,
            leader_records: source.commit_records().to_vec(),
            leader_commit: source.committed_rank().commit,
            records_before: member.commit_records().to_vec(),
            commit_before: member.committed_rank().commit,
            base_before: member.log().base().index,
            snapshot: false,
            observer: member.is_catching_up(),
        }
    }

    /// The leader's and the member's ranks from index `from` on.
    fn ranks(&self, from: Index) -> (CommittedRank<Id>, CommittedRank<Id>) {
        (
            CommittedRank::from_records(&self.leader_records, from, self.leader_commit),
            CommittedRank::from_records(&self.records_before, from, self.commit_before),
        )
    }
}

/// Checks the cause of every revert that discards committed entries.
pub struct MergeRule;

impl Checker for MergeRule {
    fn name(&self) -> &'static str {
        "merge-rule"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let Output::Reverted { to, discarded, .. } = out else {
            return Ok(());
        };
        if *discarded == 0 {
            return Ok(());
        }
        // The discarded history starts right after `to`: that is where the ranks are compared
        // (a snapshot install that rewinds is judged on whole histories, from index 0).
        // (A snapshot install discards from where the histories split inside a pruned prefix,
        // which the engine bounds from the leader's terms and the checker cannot see: there only
        // the catch-up rule below is checked. So is a start over, a revert to before the pruned
        // prefix: the entries up to the split are shared and come back as they were.)
        let from = to.next();
        if let Some(cause) = view
            .cause
            .filter(|cause| !cause.snapshot && !cause.observer && *to >= cause.base_before)
            && let (leader_rank, own) = cause.ranks(from)
            && leader_rank < own
        {
            return Err(format!(
                "reverted {discarded} committed entries after {to} to follow {} of rank {} \
                 from {from} on, below its own rank {own} there",
                cause.leader, leader_rank
            ));
        }
        // Judged only with a known cause (a message from a sender that has since restarted is
        // not: its current state says nothing about the message).
        let Some(winner) = view.cause.map(|c| c.leader) else {
            return Ok(());
        };
        let Some(leader) = usize::try_from(winner).ok().and_then(|i| view.nodes.get(i)) else {
            return Ok(());
        };
        if let Some(catch_up) = leader.catch_up {
            return Err(format!(
                "reverted {discarded} committed entries after {to} to follow {winner}, which \
                 restarted empty at {} ms and has not caught up",
                catch_up.since
            ));
        }
        Ok(())
    }
}
