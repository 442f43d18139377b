//! What the simulated shell keeps durably for one node across crashes, through the same
//! contract as the real shell's storage (`groups::storage`): writes are buffered until a
//! durability barrier (`flush`), which the shell awaits before anything that depends on them
//! leaves the member. A crash keeps what was flushed plus a prefix of what was not (a
//! write-ahead log that truncates its torn tail on open keeps exactly such a prefix), and a
//! snapshot is cut when the prune that needs it is written.

use mosaik_raft::{Cursor, Entry, HardState, Index, Log, Output, Restored, Term};

use super::{Id, Out};
use crate::kv::{KvStore, Put};

/// A node's durable storage: hard state, the log after its base, and the state machine snapshot
/// at the base (kept when the log is pruned or reset by a state sync). The public fields are
/// what is durable; writes since the last flush wait in a buffer.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// Term and vote as last persisted.
    pub hard: HardState<Id>,
    /// The durable log.
    pub log: StoredLog,
    /// The state machine at the durable log's base.
    pub snapshot: KvStore,
    /// The shell's catch-up marker: this storage replaces one that was lost (the member had
    /// been a member before and restarted with nothing), and the member has not caught up
    /// since. Stored with the rest, so a crash during the catch-up does not end it: a member
    /// that restarted with a partial log must not vote on it either.
    pub lost: bool,
    /// The log as written: the durable log with the unflushed writes applied (what the
    /// member's next read of its own storage would see).
    written: StoredLog,
    /// Writes since the last flush, in order: not durable yet.
    unflushed: Vec<Write>,
    /// The hard state last written (`None` after a crash, before the first).
    hard_written: Option<HardState<Id>>,
    /// A write since the last flush that the next barrier must make durable; writes that
    /// only move a strict-mode commit record wait for a later one (as the runtime's driver).
    must_sync: bool,
}

/// A stored log: the position it starts after, and the entries after it.
#[derive(Clone, Debug, Default)]
pub struct StoredLog {
    /// The position the log starts after.
    pub base: Cursor<Id>,
    /// Entries at `base.index + 1 ..`.
    pub entries: Vec<Entry<Id, Put>>,
}

impl StoredLog {
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

    /// Applies one log write (other outputs leave the log alone).
    fn apply(&mut self, out: &Out) -> Result<(), String> {
        match out {
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
            Output::PersistLogPrune { up_to, .. } => {
                if up_to.index < self.base.index || up_to.index > self.last_index() {
                    return Err(format!("prune to {up_to} outside the stored log"));
                }
                let drop = usize::try_from(up_to.index.0 - self.base.index.0).unwrap_or(0);
                self.entries.drain(..drop);
                self.base = *up_to;
            }
            Output::PersistLogReset { base } => {
                self.entries.clear();
                self.base = *base;
            }
            _ => {}
        }
        Ok(())
    }
}

/// One buffered write: a `Persist*` output, with the state machine snapshot cut when it was
/// written if it moves the base.
#[derive(Clone, Debug)]
struct Write {
    out: Out,
    cut: Option<KvStore>,
}

impl Disk {
    /// A disk that replaces a lost one: empty, marked [`lost`](Self::lost).
    pub fn wiped() -> Self {
        Self {
            lost: true,
            ..Self::default()
        }
    }

    /// The last durable index.
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// The term of the durable entry at `index` (`base.term` at the base itself).
    pub fn term_at(&self, index: Index) -> Option<Term<Id>> {
        self.log.term_at(index)
    }

    /// The term of the entry at `index` as written, flushed or not.
    pub fn written_term_at(&self, index: Index) -> Option<Term<Id>> {
        self.written.term_at(index)
    }

    /// Writes one `Persist*` output (durable at the next [`flush`](Self::flush)). `store` is
    /// the state machine now, from which the snapshot at a new base is cut.
    ///
    /// # Errors
    ///
    /// If the write does not fit the stored log (an ordering-contract violation by the engine).
    pub fn persist(&mut self, out: &Out, store: &KvStore, strict: bool) -> Result<(), String> {
        self.written.apply(out)?;
        self.must_sync |= !self.is_commit_record_only(out, strict);
        if let Output::PersistHardState(hard) = out {
            self.hard_written = Some(*hard);
        }
        let cut = match out {
            Output::PersistLogPrune { up_to, .. } => Some(store.prefix(up_to.index)),
            Output::PersistLogReset { base } => Some(store.prefix(base.index)),
            _ => None,
        };
        self.unflushed.push(Write {
            out: out.clone(),
            cut,
        });
        Ok(())
    }

    /// Whether `out` is a strict-mode hard state that moves only the commit knowledge (durable
    /// with the next sync, nothing waits for it: see `mosaik` `worker/outputs.rs`).
    pub fn is_commit_record_only(&self, out: &Out, strict: bool) -> bool {
        strict
            && matches!(out, Output::PersistHardState(hard)
                if self.hard_written.is_some_and(|w| hard.moves_only_commit(&w)))
    }

    /// The last index written, flushed or not.
    pub fn written_last(&self) -> Index {
        self.written.last_index()
    }

    /// How many writes wait for the next flush.
    pub fn unflushed(&self) -> usize {
        self.unflushed.len()
    }

    /// Whether a write since the last flush must be durable before the next dependent output
    /// (a strict-mode commit record alone need not: see `mosaik` `worker/outputs.rs`).
    pub fn must_sync(&self) -> bool {
        self.must_sync
    }

    /// The durability barrier: every buffered write becomes durable.
    pub fn flush(&mut self) {
        self.must_sync = false;
        for write in std::mem::take(&mut self.unflushed) {
            self.make_durable(write);
        }
    }

    /// A crash: the first `keep` buffered writes reached the disk, the rest are lost.
    pub fn tear(&mut self, keep: usize) {
        self.must_sync = false;
        self.hard_written = None;
        for write in std::mem::take(&mut self.unflushed).into_iter().take(keep) {
            self.make_durable(write);
        }
        self.written = self.log.clone();
    }

    /// Makes one buffered write durable (it fitted the written log, so it fits here too).
    fn make_durable(&mut self, write: Write) {
        match write.out {
            Output::PersistHardState(hard) => self.hard = hard,
            ref out => {
                let fitted = self.log.apply(out);
                debug_assert!(fitted.is_ok(), "the written log accepted it: {fitted:?}");
                if let Some(cut) = write.cut {
                    self.snapshot = cut;
                }
            }
        }
    }

    /// What a restarted engine is built from.
    pub fn restored(&self) -> Restored<Id, Put> {
        Restored {
            hard_state: self.hard,
            log: Log::from_parts(self.log.base, self.log.entries.clone()),
            applied: self.log.base.index,
        }
    }
}

#[cfg(test)]
mod tests {
    use mosaik_raft::{Entry, HardState, Index, Output, Term};

    use super::Disk;
    use crate::kv::{KvStore, Put};

    fn append(first: u64, terms: &[u64]) -> super::Out {
        Output::PersistLog {
            truncate_from: None,
            first_index: Index(first),
            append: terms
                .iter()
                .map(|&t| Entry::command(Term::new(t, 0), Put { key: t, value: t }))
                .collect(),
        }
    }

    fn hard(round: u64) -> super::Out {
        Output::PersistHardState(HardState {
            term: Term::new(round, 0),
            ..HardState::default()
        })
    }

    /// Strict mode: a hard state that only moves the commit record needs no barrier of its
    /// own (it becomes durable with the next one, or is lost by a crash before it).
    #[test]
    fn a_strict_commit_record_alone_needs_no_barrier() {
        let mut disk = Disk::default();
        let store = KvStore::new();
        let commit = |round, index| {
            Output::PersistHardState(HardState {
                term: Term::new(round, 0),
                commit: Index(index),
                ..HardState::default()
            })
        };
        disk.persist(&commit(1, 0), &store, true).unwrap();
        assert!(disk.must_sync(), "the first hard state after a start");
        disk.flush();
        disk.persist(&commit(1, 3), &store, true).unwrap();
        assert!(!disk.must_sync(), "only the commit moved");
        assert_eq!(disk.unflushed(), 1, "written all the same");
        disk.persist(&commit(1, 3), &store, false).unwrap();
        assert!(disk.must_sync(), "dynamic mode: every hard state");
        disk.flush();
        disk.persist(&commit(2, 3), &store, true).unwrap();
        assert!(disk.must_sync(), "a new term");
        disk.flush();
        disk.persist(&commit(2, 4), &store, true).unwrap();
        disk.tear(0);
        assert_eq!(disk.hard.commit, Index(3), "the crash lost the lazy record");
        disk.persist(&commit(2, 5), &store, true).unwrap();
        assert!(disk.must_sync(), "the first hard state after a crash");
        disk.flush();
        disk.persist(
            &Output::PersistHardState(HardState {
                term: Term::new(2, 0),
                commit: Index(5),
                epoch: 7,
                ..HardState::default()
            }),
            &store,
            true,
        )
        .unwrap();
        assert!(disk.must_sync(), "a new storage epoch");
    }

    #[test]
    fn writes_are_durable_only_after_the_barrier() {
        let mut disk = Disk::default();
        let store = KvStore::new();
        disk.persist(&hard(1), &store, false).unwrap();
        disk.persist(&append(1, &[1, 1]), &store, false).unwrap();
        // Written, so the next write continues after it; not durable yet.
        assert_eq!(disk.written_term_at(Index(2)), Some(Term::new(1, 0)));
        assert_eq!(disk.last_index(), Index(0));
        assert_eq!(disk.hard.term.round(), 0);
        disk.flush();
        assert_eq!(disk.last_index(), Index(2));
        assert_eq!(disk.hard.term.round(), 1);
        assert_eq!(disk.unflushed(), 0);
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_the_unflushed_writes() {
        let mut disk = Disk::default();
        let store = KvStore::new();
        disk.persist(&append(1, &[1]), &store, false).unwrap();
        disk.flush();
        disk.persist(&hard(2), &store, false).unwrap();
        disk.persist(&append(2, &[2]), &store, false).unwrap();
        disk.persist(&append(3, &[2]), &store, false).unwrap();
        disk.tear(2);
        assert_eq!(disk.hard.term.round(), 2);
        assert_eq!(disk.last_index(), Index(2));
        // The written view starts over from what survived: the lost write is gone.
        assert_eq!(disk.written_term_at(Index(3)), None);
        assert!(disk.persist(&append(4, &[2]), &store, false).is_err());
        disk.persist(&append(3, &[3]), &store, false).unwrap();
        disk.tear(0);
        assert_eq!(disk.last_index(), Index(2));
    }

    #[test]
    fn a_write_that_does_not_fit_is_refused_when_written() {
        let mut disk = Disk::default();
        let store = KvStore::new();
        assert!(disk.persist(&append(2, &[1]), &store, false).is_err());
        assert_eq!(disk.unflushed(), 0);
    }
}
