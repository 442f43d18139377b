//! The dynamic-mode merge rule: a revert of committed entries is caused by a history at least
//! as strong as the one it discards — in particular never by a member that restarted with
//! empty storage and is still catching up (it holds nothing the group committed, so following
//! it erases acknowledged history: issue 14).
//!
//! The cause of an `Output::Reverted` that discards entries is the leader the reverting member
//! follows at that moment (its `AppendEntries` forced the truncation, or its snapshot the
//! rewind). Comparing the two histories' committed ranks needs the engine's
//! `committed_rank()`, which today's engine does not have.

use mosaik_raft::Output;

use super::{Checker, View};
use crate::harness::Out;

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
        let Some(winner) = view.node.engine().leader() else {
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
