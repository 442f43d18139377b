//! State machine safety: no two replicas apply different commands at the same index, and each
//! replica applies an index at most once (except when the engine says it rewinds).

use std::collections::BTreeMap;

use mosaik_raft::{Index, Output, Term};

use super::{Checker, View};
use crate::harness::{Id, Out};
use crate::kv::Put;

/// Every command applied anywhere, by index, and each node's last applied index.
#[derive(Default)]
pub struct StateMachineSafety {
    applied: BTreeMap<Index, (Term<Id>, Put, Id)>,
    last: BTreeMap<Id, Index>,
}

impl Checker for StateMachineSafety {
    fn name(&self) -> &'static str {
        "state-machine-safety"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let id = view.node.id;
        match out {
            Output::Apply { entries } => {
                for (index, term, put) in entries {
                    let last = self.last.entry(id).or_default();
                    if *index <= *last {
                        return Err(format!("applied {index} again (last applied {last})"));
                    }
                    *last = *index;
                    let seen = *self.applied.entry(*index).or_insert((*term, *put, id));
                    if (seen.0, seen.1) != (*term, *put) {
                        if view.strong {
                            return Err(format!(
                                "applied {put:?} (term {term}) at {index}; node {} applied {:?} (term {})",
                                seen.2, seen.1, seen.0
                            ));
                        }
                        self.applied.insert(*index, (*term, *put, id));
                    }
                }
            }
            Output::Reverted { replay_from, .. } => {
                self.last.insert(id, replay_from.index);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_reset(&mut self, view: &View<'_>) {
        self.last
            .insert(view.node.id, view.node.engine().applied_index());
    }
}
