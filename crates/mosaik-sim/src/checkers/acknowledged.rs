//! Acknowledged writes survive: once a client was told its write committed (`Committed(Ok)`),
//! no member ever commits another entry at its index, and at the end every member holds it.
//!
//! Which writes are protected depends on the mode ([`Protection`]):
//!
//! * **Strict mode: every acknowledged write**, under every fault — including members restarted
//!   with empty storage. Quorums of `min_quorum` intersect only if a member's promises survive
//!   it: a member that lost its log must not vote before it caught up (see
//!   [`CatchUpDiscipline`](super::CatchUpDiscipline)), or a quorum of it and a stale member
//!   elects a leader without the write.
//! * **Dynamic mode: writes that a majority of ALL members (every member that ever existed:
//!   the simulation's fixed membership) had stored when the write was acknowledged, not
//!   counting members still catching up after losing their storage (observers), in seeds
//!   without partitions** (no split, isolation or one-way cut, so crashes never unbond either).
//!   Dynamic mode by design lets a shrunken voter set commit — a partition side, the survivors
//!   of crashes that unbonded, a member alone behind stale bonds — and lose those commits on
//!   heal; a write on a minority of disks is such a commit and is not protected. Why the
//!   regime: without partitions the voters shrink only through the restart faults, and with
//!   the careful policy by at most one member at a time (a wiped member is unbonded, a member
//!   catching up is an observer), which still leaves a majority of all members; the one
//!   exception is a member alone behind stale bonds, which elects itself and commits with
//!   weight 1. So every competing history is either backed by a majority (and then contains
//!   the write: its quorums intersect the write's copies, leader completeness) or is a lone
//!   member's weight-1 history, which the merge rule ([`CommittedRank`](mosaik_raft::CommittedRank))
//!   makes yield to any member that committed the write with a larger weight. With partitions,
//!   two sides each commit with several voters and the heavier side wins even where the
//!   lighter side held a majority-stored write (e.g. 5 members: a write on {A, B, C}, then
//!   {A, B} | {C, D, E}; D wins with D and E, lacking it), so nothing is protected there.
//!   The argument needs every member that committed the write to keep its rank: one that
//!   restarts from its disk starts at rank zero (commit index and weight are not persisted), so
//!   a lone member's higher-round entries win its vote and truncate its copy without a revert —
//!   the failures this checker reports with today's engine in reboot-heavy seeds.
//!
//! Loss is detected incrementally and at the end of the run (a converged member's state lacks
//! the write: e.g. the group went back below it without committing anything else there).
//! Incrementally, in strict mode a member committing another entry at a protected index is a
//! loss. In dynamic mode it is not yet one — a member alone behind stale bonds commits its own
//! entries and is repaired later — but a member that had committed the protected write and
//! then discards it (`Reverted`) followed a history without it.

use std::collections::{BTreeMap, BTreeSet};

use mosaik_raft::{Index, Output, Payload, Term, majority};

use super::{Checker, View};
use crate::harness::{Id, Out, SimNode};
use crate::kv::Put;

/// Which acknowledged writes must never be lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Every acknowledged write (strict mode).
    All,
    /// Writes stored on a majority of all members' disks when acknowledged (dynamic mode
    /// without partitions).
    MajorityStored,
    /// None (dynamic mode with partitions).
    Off,
}

/// A protected write.
#[derive(Clone, Copy, Debug)]
struct Acked {
    term: Term<Id>,
    put: Put,
    at_ms: u64,
    node: Id,
    copies: usize,
}

impl Acked {
    fn describe(&self, index: Index, members: usize) -> String {
        format!(
            "write {:?} at {index} (term {}), acknowledged by node {} at {} ms while {} of {members} voters' disks held it,",
            self.put, self.term, self.node, self.at_ms, self.copies
        )
    }
}

/// The protected writes by index, the commit index each member was checked up to, and which
/// members committed which protected writes.
pub struct AcknowledgedWrites {
    protection: Protection,
    acked: BTreeMap<Index, Acked>,
    recorded: BTreeMap<Id, Index>,
    held: BTreeSet<(Id, Index)>,
}

impl AcknowledgedWrites {
    /// Protects the writes `protection` says.
    pub fn new(protection: Protection) -> Self {
        Self {
            protection,
            acked: BTreeMap::new(),
            recorded: BTreeMap::new(),
            held: BTreeSet::new(),
        }
    }

    fn on_acknowledged(&mut self, view: &View<'_>, index: Index) -> Result<(), String> {
        let log = view.node.engine().log();
        let Some(entry) = log.get(index) else {
            return Ok(()); // already folded into a snapshot: cannot be told apart any more
        };
        let Payload::Command(put) = entry.payload else {
            return Ok(());
        };
        let term = entry.term;
        // A member catching up after losing its storage is an observer: its copy counts for no
        // commit and no contest, so it protects nothing (a lone leader's weight-1 commit stored
        // on its disk too is still the lone member's history, which yields).
        let copies = (view.nodes.iter())
            .filter(|n| !n.disk.lost && n.disk.term_at(index) == Some(term))
            .count();
        let protected = match self.protection {
            Protection::All => true,
            Protection::MajorityStored => copies >= majority(view.nodes.len()),
            Protection::Off => false,
        };
        if !protected {
            return Ok(());
        }
        let acked = Acked {
            term,
            put,
            at_ms: view.now,
            node: view.node.id,
            copies,
        };
        match self.acked.get(&index) {
            Some(earlier) if earlier.term != term => Err(format!(
                "{} and {} both acknowledged",
                earlier.describe(index, view.nodes.len()),
                acked.describe(index, view.nodes.len())
            )),
            Some(_) => Ok(()),
            None => {
                self.acked.insert(index, acked);
                Ok(())
            }
        }
    }

    fn on_commit(&mut self, view: &View<'_>, commit: Index) -> Result<(), String> {
        let id = view.node.id;
        let log = view.node.engine().log();
        let from = self.recorded.get(&id).copied().unwrap_or_default().next();
        let from = from.max(log.base().index.next());
        self.recorded.insert(id, commit);
        if from > commit {
            return Ok(());
        }
        for (index, acked) in self.acked.range(from..=commit) {
            let term = log.term_at(*index);
            if term == Some(acked.term) {
                self.held.insert((id, *index));
            } else if self.protection == Protection::All {
                return Err(format!(
                    "{} lost: committed {term:?} there",
                    acked.describe(*index, view.nodes.len())
                ));
            }
        }
        Ok(())
    }

    /// `id` discarded its committed entries after `to`.
    fn on_revert(&mut self, view: &View<'_>, to: Index) -> Result<(), String> {
        let id = view.node.id;
        self.recorded.insert(id, to);
        let discarded: Vec<Index> = (self.held.range((id, to.next())..=(id, Index(u64::MAX))))
            .map(|(_, index)| *index)
            .collect();
        for index in &discarded {
            self.held.remove(&(id, *index));
        }
        match discarded
            .first()
            .and_then(|i| Some((i, self.acked.get(i)?)))
        {
            Some((index, acked)) => Err(format!(
                "{} lost: discarded by a revert to {to} after it was committed here",
                acked.describe(*index, view.nodes.len())
            )),
            None => Ok(()),
        }
    }
}

impl Checker for AcknowledgedWrites {
    fn name(&self) -> &'static str {
        "acknowledged-writes"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        match out {
            Output::Committed {
                result: Ok(range), ..
            } => {
                let mut index = *range.start();
                while index <= *range.end() {
                    self.on_acknowledged(view, index)?;
                    index = index.next();
                }
                Ok(())
            }
            Output::CommitAdvanced(commit) => self.on_commit(view, *commit),
            Output::Reverted { to, .. } => self.on_revert(view, *to),
            _ => Ok(()),
        }
    }

    fn on_reset(&mut self, view: &View<'_>) {
        let id = view.node.id;
        let commit = view.node.engine().commit_index();
        self.recorded.insert(id, commit);
        // What it knows committed starts over: entries past its commit index are no longer
        // known committed here (and may be truncated without a revert).
        let forgotten: Vec<(Id, Index)> =
            (self.held.range((id, commit.next())..=(id, Index(u64::MAX))))
                .copied()
                .collect();
        for key in forgotten {
            self.held.remove(&key);
        }
    }

    fn at_end(&mut self, nodes: &[SimNode]) -> Result<(), String> {
        for (index, acked) in &self.acked {
            for node in nodes {
                let held = node.store.applied().get(index);
                if held != Some(&acked.put) {
                    return Err(format!(
                        "{} lost: node {} ends with {held:?} there (applied up to {})",
                        acked.describe(*index, nodes.len()),
                        node.id,
                        node.store.last_index()
                    ));
                }
            }
        }
        Ok(())
    }
}
