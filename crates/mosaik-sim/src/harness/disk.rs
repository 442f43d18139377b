//! What the simulated shell keeps durably for one node across crashes.

use mosaik_raft::{Cursor, Entry, HardState, Index, Log, Output, Restored, Term};

use super::{Id, Out};
use crate::kv::{KvStore, Put};

/// A node's durable storage: hard state, the log after its base, and the state machine snapshot
/// at the base (kept when the log is pruned or reset by a state sync).
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// Term and vote as last persisted.
    pub hard: HardState<Id>,
    /// The position the stored log starts after.
    pub base: Cursor<Id>,
    /// Stored entries at `base.index + 1 ..`.
    pub entries: Vec<Entry<Id, Put>>,
    /// The state machine at `base`.
    pub snapshot: KvStore,
    /// The shell's catch-up marker: this storage replaces one that was lost (the member had
    /// been a member before and restarted with nothing), and the member has not caught up
    /// since. Stored with the rest, so a crash during the catch-up does not end it: a member
    /// that restarted with a partial log must not vote on it either.
    pub lost: bool,
}

impl Disk {
    /// The last stored index.
    pub fn last_index(&self) -> Index {
        self.base.index + self.entries.len() as u64
    }

    /// The term of the stored entry at `index` (`base.term` at the base itself).
    pub fn term_at(&self, index: Index) -> Option<Term<Id>> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        let offset = index.0.checked_sub(self.base.index.0 + 1)?;
        self.entries
            .get(usize::try_from(offset).ok()?)
            .map(|entry| entry.term)
    }

    /// Carries out one `Persist*` output. `store` is the state machine now, from which the
    /// snapshot at a new base is cut.
    ///
    /// # Errors
    ///
    /// If the write does not fit the stored log (an ordering-contract violation by the engine).
    pub fn persist(&mut self, out: &Out, store: &KvStore) -> Result<(), String> {
        match out {
            Output::PersistHardState(hard) => self.hard = *hard,
            Output::PersistLog {
                truncate_from,
                first_index,
                append,
            } => {
                if let Some(from) = truncate_from {
                    if *from <= self.base.index {
                        return Err(format!("truncation at {from} below the base {}", self.base));
                    }
                    let keep = usize::try_from(from.0 - self.base.index.0 - 1).unwrap_or(0);
                    self.entries.truncate(keep);
                }
                let expected = self.last_index().next();
                if *first_index != expected {
                    return Err(format!(
                        "PersistLog at {first_index} but the stored log continues at {expected}"
                    ));
                }
                self.entries.extend(append.iter().cloned());
            }
            Output::PersistLogPrune { up_to } => {
                if up_to.index < self.base.index || up_to.index > self.last_index() {
                    return Err(format!("prune to {up_to} outside the stored log"));
                }
                let drop = usize::try_from(up_to.index.0 - self.base.index.0).unwrap_or(0);
                self.entries.drain(..drop);
                self.base = *up_to;
                self.snapshot = store.prefix(up_to.index);
            }
            Output::PersistLogReset { base } => {
                self.entries.clear();
                self.base = *base;
                self.snapshot = store.prefix(base.index);
            }
            _ => {}
        }
        Ok(())
    }

    /// What a restarted engine is built from.
    pub fn restored(&self) -> Restored<Id, Put> {
        Restored {
            hard_state: self.hard,
            log: Log::from_parts(self.base, self.entries.clone()),
            applied: self.base.index,
        }
    }
}
