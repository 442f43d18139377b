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

use mosaik_raft::{CommittedRank, Output};

use super::{Checker, View};
use crate::harness::{Id, Out};

/// The leader whose `AppendEntries` a member is handling, and the two committed ranks the
/// merge rule compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cause {
    /// The leader that sent the message.
    pub leader: Id,
    /// The rank the leader sent with it.
    pub leader_rank: CommittedRank<Id>,
    /// The member's rank before it handled the message.
    pub rank_before: CommittedRank<Id>,
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
        if let Some(cause) = view.cause
            && cause.leader_rank < cause.rank_before
        {
            return Err(format!(
                "reverted {discarded} committed entries after {to} to follow {} of rank {}, \
                 below its own rank {}",
                cause.leader, cause.leader_rank, cause.rank_before
            ));
        }
        let winner = view.cause.map(|c| c.leader).or(view.node.engine().leader());
        let Some(winner) = winner else {
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
