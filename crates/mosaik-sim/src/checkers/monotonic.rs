//! Monotonicity: a member's round never decreases below what it persisted, and within one engine
//! lifetime its commit and applied indexes never decrease except through `Reverted`.

use std::collections::BTreeMap;

use mosaik_raft::{Index, Output};

use super::{Checker, View};
use crate::harness::{Id, Out};

#[derive(Clone, Copy, Default)]
struct Seen {
    round: u64,
    commit: Index,
    applied: Index,
}

/// The last round, commit and applied index observed on each node.
#[derive(Default)]
pub struct Monotonic {
    seen: BTreeMap<Id, Seen>,
}

impl Checker for Monotonic {
    fn name(&self) -> &'static str {
        "monotonic"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        if let Output::Reverted {
            to, replay_from, ..
        } = out
        {
            // A revert is the one sanctioned way back: lower the floors to what it announces.
            let seen = self.seen.entry(view.node.id).or_default();
            seen.commit = seen.commit.min(*to);
            seen.applied = seen.applied.min(replay_from.index);
        }
        Ok(())
    }

    fn after_step(&mut self, view: &View<'_>) -> Result<(), String> {
        let engine = view.node.engine();
        let now = Seen {
            // Ballots may move to a lower owner within a round; rounds never go back.
            round: engine.term().round(),
            commit: engine.commit_index(),
            applied: engine.applied_index(),
        };
        let seen = self.seen.entry(view.node.id).or_default();
        let result = if now.round < seen.round {
            Err(format!(
                "round went back from {} to {}",
                seen.round, now.round
            ))
        } else if now.commit < seen.commit {
            Err(format!(
                "commit index went back from {} to {}",
                seen.commit, now.commit
            ))
        } else if now.applied < seen.applied {
            Err(format!(
                "applied index went back from {} to {}",
                seen.applied, now.applied
            ))
        } else {
            Ok(())
        };
        *seen = now;
        result
    }

    fn on_reset(&mut self, view: &View<'_>) {
        // Commit and applied are volatile: a restart starts them at the snapshot. The round
        // keeps its floor as far as it was durable: a round the member moved to but had not
        // flushed when it crashed is lost with the crash, like the message that moved it
        // (nothing that depended on it left the member). A lower round than the disk holds is
        // reported by the next `after_step`.
        let engine = view.node.engine();
        let durable = view.node.disk.hard.term.round();
        let seen = self.seen.entry(view.node.id).or_default();
        seen.round = seen.round.min(durable.max(engine.term().round()));
        seen.commit = engine.commit_index();
        seen.applied = engine.applied_index();
    }

    fn on_wipe(&mut self, view: &View<'_>) {
        // The persisted round is gone too: the member starts over from round zero.
        self.seen.remove(&view.node.id);
    }
}
