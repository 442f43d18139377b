//! What the simulated shell persists for one node.

use std::collections::BTreeMap;

use mosaik_raft::{Cursor, Entry, HardState, Index, Log, Output, Restored};

use super::{Cmd, Id, Out};

/// What the shell keeps durably for one node.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    pub hard: HardState<Id>,
    pub base: Cursor<Id>,
    pub entries: Vec<Entry<Id, Cmd>>,
    /// State machine at `base` (the snapshot the shell keeps when the log is pruned).
    pub snapshot: BTreeMap<Index, Cmd>,
}

impl Disk {
    fn offset(&self, index: Index) -> usize {
        usize::try_from(index.get() - self.base.index.get() - 1).unwrap()
    }

    pub(super) fn persist(&mut self, out: &Out, sm: &BTreeMap<Index, Cmd>) {
        match out {
            Output::PersistHardState(hard) => self.hard = *hard,
            Output::PersistLog {
                truncate_from,
                first_index,
                append,
            } => {
                if let Some(from) = truncate_from {
                    let keep = self.offset(*from);
                    self.entries.truncate(keep);
                }
                let expected = self.base.index + self.entries.len() as u64 + 1;
                assert_eq!(*first_index, expected, "PersistLog first_index");
                self.entries.extend(append.iter().cloned());
            }
            Output::PersistLogPrune { up_to, .. } => {
                let drop = usize::try_from(up_to.index.get() - self.base.index.get()).unwrap();
                self.entries.drain(..drop);
                self.base = *up_to;
                self.snapshot = sm.range(..=up_to.index).map(|(i, c)| (*i, *c)).collect();
            }
            Output::PersistLogReset { base } => {
                self.entries.clear();
                self.base = *base;
                self.snapshot = sm.range(..=base.index).map(|(i, c)| (*i, *c)).collect();
            }
            _ => {}
        }
    }

    pub fn restored(&self) -> Restored<Id, Cmd> {
        Restored {
            hard_state: self.hard,
            log: Log::from_parts(self.base, self.entries.clone()),
            applied: self.base.index,
        }
    }
}
