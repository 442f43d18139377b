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
}

impl Checker for ElectionSafety {
    fn name(&self) -> &'static str {
        "election-safety"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let Output::RoleChanged(Role::Leader) = out else {
            return Ok(());
        };
        let id = view.node.id;
        let term = view.node.engine().term();
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
