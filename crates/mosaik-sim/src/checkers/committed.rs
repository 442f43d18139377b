//! Committed prefix: an entry, once committed anywhere, stays committed with the same term at
//! its index forever, and every later leader holds it (leader completeness).

use std::collections::BTreeMap;

use mosaik_raft::{Index, Output, Role, Term};

use super::{Checker, View};
use crate::harness::{Id, Out};

/// The term of every index ever committed (with the round in which it was first seen
/// committed), plus each node's commit index already recorded.
#[derive(Default)]
pub struct CommittedPrefix {
    committed: BTreeMap<Index, (Term<Id>, u64)>,
    recorded: BTreeMap<Id, Index>,
}

impl CommittedPrefix {
    fn record_commit(&mut self, view: &View<'_>, commit: Index) -> Result<(), String> {
        let id = view.node.id;
        let log = view.node.engine().log();
        let round = view.node.engine().term().round();
        let from = self.recorded.get(&id).copied().unwrap_or_default().next();
        // Entries folded into a snapshot are no longer in the log; they were recorded when the
        // node (or the snapshot's source) committed them.
        let mut index = from.max(log.base().index.next());
        while index <= commit {
            let term = log
                .term_at(index)
                .ok_or_else(|| format!("committed {index} is not in its log"))?;
            let (seen, _) = *self.committed.entry(index).or_insert((term, round));
            if seen != term {
                if view.strong {
                    return Err(format!(
                        "index {index} committed with term {term}, earlier with term {seen}"
                    ));
                }
                // Dynamic mode after a partition: the losing side's commits were reverted.
                self.committed.insert(index, (term, round));
            }
            index = index.next();
        }
        self.recorded.insert(id, commit);
        Ok(())
    }

    /// Leader completeness (Raft §5.4.1): a leader of round r holds every entry committed in an
    /// earlier round. An entry committed in round r or later may legitimately be missing: a
    /// candidate of a lower round can still collect votes cast before the voters moved on (it
    /// cannot commit anything, since those voters now reject its round).
    fn check_complete(&self, view: &View<'_>) -> Result<(), String> {
        let log = view.node.engine().log();
        let round = view.node.engine().term().round();
        for (index, (term, committed_in)) in self.committed.range(log.base().index.next()..) {
            if *committed_in < round && log.term_at(*index) != Some(*term) {
                return Err(format!(
                    "new leader of {} lacks committed entry {index} of term {term} (has {:?})",
                    view.node.engine().term(),
                    log.term_at(*index)
                ));
            }
        }
        Ok(())
    }
}

impl Checker for CommittedPrefix {
    fn name(&self) -> &'static str {
        "committed-prefix"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        match out {
            Output::CommitAdvanced(commit) => self.record_commit(view, *commit),
            Output::Reverted {
                to,
                discarded,
                replay_from,
            } => {
                if view.strong {
                    return Err(format!(
                        "reverted {discarded} committed entries after {to} (replay from {replay_from:?})"
                    ));
                }
                self.recorded.insert(view.node.id, *to);
                Ok(())
            }
            Output::RoleChanged(Role::Leader) if view.strong => self.check_complete(view),
            _ => Ok(()),
        }
    }

    fn on_reset(&mut self, view: &View<'_>) {
        let commit = view.node.engine().commit_index();
        self.recorded.insert(view.node.id, commit);
    }
}
