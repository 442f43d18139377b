//! Election safety: at most one leader per term (ballot) always, and at most one per round
//! where quorums intersect.

use std::collections::BTreeMap;

use mosaik_raft::{Output, Role, Term};

use super::{Checker, View};
use crate::harness::{Id, Out};

/// Records every node that became leader, by term and by round.
#[derive(Default)]
pub struct ElectionSafety {
    by_term: BTreeMap<Term<Id>, Id>,
    by_round: BTreeMap<u64, Id>,
    /// Each node's term as of its outputs so far: the last one it persisted.
    persisted: BTreeMap<Id, Term<Id>>,
}

impl Checker for ElectionSafety {
    fn name(&self) -> &'static str {
        "election-safety"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let id = view.node.id;
        if let Output::PersistHardState(hard) = out {
            self.persisted.insert(id, hard.term);
        }
        let Output::RoleChanged(Role::Leader) = out else {
            return Ok(());
        };
        // The term it leads is the one it persisted last before saying so, not the engine's
        // term now: outputs are read after the whole step, and one step may elect a member
        // and then, on the message that woke it, move it to a later ballot of the same round
        // (a lone member whose election timer was overdue when an `AppendEntries` arrived:
        // dynamic 5-node seed 30014683 reported it as leading a ballot it never led).
        let term = self
            .persisted
            .get(&id)
            .copied()
            .unwrap_or_else(|| view.node.engine().term());
        // Terms are ballots owned by one candidate: only the owner may lead its term.
        if term.owner() != Some(id) {
            return Err(format!("leads term {term} owned by {:?}", term.owner()));
        }
        if let Some(other) = self.by_term.insert(term, id).filter(|o| *o != id) {
            return Err(format!("two leaders in term {term}: {other} and {id}"));
        }
        // Partitioned dynamic-mode sides may both elect in one round (different ballots); with
        // intersecting quorums a round has one winner, and a second one means a double vote.
        let previous = *self.by_round.entry(term.round()).or_insert(id);
        if view.strong && previous != id {
            return Err(format!(
                "two leaders in round {}: {previous} and {id}",
                term.round()
            ));
        }
        Ok(())
    }
}
