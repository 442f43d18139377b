//! [`Storage`]: where a member keeps its replicated log and hard state, and
//! the [`InMemoryLogStore`] default.
//!
//! Entries are stored with the engine's **ballot** terms ([`Ballot`] =
//! `(round, owner)`): a restarted member must get back exactly the terms it
//! acknowledged, or log matching breaks. The public [`Term`](super::Term) is
//! the ballot's round.
//!
//! Every operation is fallible (a disk can fail); an error stops the group
//! cleanly (handles then report `GroupTerminated`), it never panics.

use {crate::PeerId, core::ops::RangeInclusive};

/// An engine term: `(round, owner)`.
pub type Ballot = mosaik_raft::Term<PeerId>;
/// A position in the engine's log (ballot term + index).
pub type LogCursor = mosaik_raft::Cursor<PeerId>;
/// An engine log index.
pub type LogIndex = mosaik_raft::Index;
/// A stored entry: a ballot term and either a command or a leader's noop.
pub type LogEntry<C> = mosaik_raft::Entry<PeerId, C>;
/// Durable term and vote.
pub type HardState = mosaik_raft::HardState<PeerId>;

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StorageError(pub String);

impl StorageError {
    /// An error with a message.
    pub fn new(message: impl core::fmt::Display) -> Self {
        Self(message.to_string())
    }
}

/// A member's durable log and hard state.
///
/// Contract (checked by [`conformance::run`]): indexes are 1-based and
/// contiguous after the base; index 0 / the base is a sentinel holding no
/// entry; pruning keeps indexes stable; `reset_to` drops everything.
pub trait Storage<C>: Send + 'static {
    /// The persisted hard state (default state when never written).
    fn hard_state(&self) -> Result<HardState, StorageError>;

    /// Durably replaces the hard state.
    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError>;

    /// Appends one entry right after the last one; returns its index.
    fn append(&mut self, entry: LogEntry<C>) -> Result<LogIndex, StorageError>;

    /// Indexes currently held: `first ..= last` (empty, i.e. `last + 1 ..=
    /// last`, when nothing is held).
    fn available(&self) -> RangeInclusive<LogIndex>;

    /// The entry at `index`, if held.
    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError>;

    /// Entries in `range` that are held (others skipped), in order.
    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError>;

    /// Removes the entries at `at` and after.
    fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError>;

    /// The base: the position before the first held entry (zero for a log
    /// that was never pruned).
    fn base(&self) -> LogCursor;

    /// The last position (the base when empty).
    fn last(&self) -> LogCursor;

    /// The term at `index`: the base's term at the base, `None` if not held.
    fn term_at(&self, index: LogIndex) -> Result<Option<Ballot>, StorageError> {
        if index == self.base().index {
            return Ok(Some(self.base().term));
        }
        Ok(self.get(index)?.map(|e| e.term))
    }

    /// Drops entries up to and including `up_to.index`; the base becomes
    /// `up_to`. Indexes of the remaining entries do not change.
    fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError>;

    /// Drops every entry; the log restarts right after `base` (snapshot
    /// install).
    fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError>;
}

/// The default storage: a vector in memory (lost on restart).
#[derive(Debug, Clone)]
pub struct InMemoryLogStore<C> {
    hard: HardState,
    base: LogCursor,
    entries: Vec<LogEntry<C>>,
}

impl<C> Default for InMemoryLogStore<C> {
    fn default() -> Self {
        Self {
            hard: HardState::default(),
            base: LogCursor::zero(),
            entries: Vec::new(),
        }
    }
}

impl<C> InMemoryLogStore<C> {
    fn offset(&self, index: LogIndex) -> Option<usize> {
        if index <= self.base.index {
            return None;
        }
        let offset = usize::try_from(index.0 - self.base.index.0 - 1).ok()?;
        (offset < self.entries.len()).then_some(offset)
    }
}

impl<C: Clone + Send + 'static> Storage<C> for InMemoryLogStore<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        Ok(self.hard)
    }

    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError> {
        self.hard = state;
        Ok(())
    }

    fn append(&mut self, entry: LogEntry<C>) -> Result<LogIndex, StorageError> {
        self.entries.push(entry);
        Ok(self.last().index)
    }

    fn available(&self) -> RangeInclusive<LogIndex> {
        self.base.index.next()..=self.last().index
    }

    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError> {
        Ok(self.offset(index).map(|i| self.entries[i].clone()))
    }

    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError> {
        let start = (*range.start()).max(self.base.index.next());
        let end = (*range.end()).min(self.last().index);
        let mut out = Vec::new();
        let mut index = start;
        while index <= end {
            if let Some(i) = self.offset(index) {
                out.push((index, self.entries[i].clone()));
            }
            index = index.next();
        }
        Ok(out)
    }

    fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError> {
        if at <= self.base.index {
            return Err(StorageError::new(format!(
                "cannot truncate at {at}: entries up to {} are pruned",
                self.base.index
            )));
        }
        if let Some(offset) = self.offset(at) {
            self.entries.truncate(offset);
        }
        Ok(())
    }

    fn base(&self) -> LogCursor {
        self.base
    }

    fn last(&self) -> LogCursor {
        match self.entries.last() {
            Some(entry) => LogCursor::new(entry.term, self.base.index + self.entries.len() as u64),
            None => self.base,
        }
    }

    fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError> {
        if up_to.index <= self.base.index {
            return Ok(());
        }
        let drop = usize::try_from(up_to.index.0 - self.base.index.0)
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        self.entries.drain(..drop);
        self.base = up_to;
        Ok(())
    }

    fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError> {
        self.entries.clear();
        self.base = base;
        Ok(())
    }
}

/// The behaviour every [`Storage`] implementation must show. Call
/// [`run`](conformance::run) from a test of your storage with a factory of
/// empty stores.
pub mod conformance {
    use super::{Ballot, HardState, LogCursor, LogEntry, LogIndex, Storage};

    fn ballot(round: u64) -> Ballot {
        Ballot::new(round, crate::SecretKey::from_bytes(&[7; 32]).public())
    }

    fn idx(i: u64) -> LogIndex {
        mosaik_raft::Index(i)
    }

    /// Runs every check against stores made by `make` (each must start
    /// empty). Panics with a description on the first violation.
    pub fn run<S: Storage<u64>>(mut make: impl FnMut() -> S) {
        fresh_store_is_empty(&mut make());
        append_get_and_range(&mut make());
        truncate_drops_the_suffix(&mut make());
        prune_keeps_indexes(&mut make());
        reset_restarts_after_base(&mut make());
        hard_state_round_trips(&mut make());
    }

    fn fill<S: Storage<u64>>(store: &mut S, n: u64, round: u64) {
        for i in 0..n {
            let at = store
                .append(LogEntry::command(ballot(round), i))
                .expect("append");
            assert_eq!(at, store.last().index, "append returns the new last index");
        }
    }

    fn fresh_store_is_empty<S: Storage<u64>>(store: &mut S) {
        assert_eq!(store.last(), LogCursor::zero(), "fresh store is empty");
        assert_eq!(store.base(), LogCursor::zero());
        assert!(store.available().is_empty(), "nothing available");
        assert_eq!(store.get(idx(1)).unwrap(), None);
        assert_eq!(store.term_at(idx(0)).unwrap(), Some(Ballot::zero()));
        assert_eq!(store.hard_state().unwrap(), HardState::default());
    }

    fn append_get_and_range<S: Storage<u64>>(store: &mut S) {
        fill(store, 5, 1);
        assert_eq!(store.last(), LogCursor::new(ballot(1), idx(5)));
        assert_eq!(store.available(), idx(1)..=idx(5));
        let third = store.get(idx(3)).unwrap().expect("entry 3");
        assert_eq!(third, LogEntry::command(ballot(1), 2));
        assert_eq!(store.get(idx(6)).unwrap(), None);
        let range = store.get_range(&(idx(4)..=idx(9))).unwrap();
        let got: Vec<_> = range.iter().map(|(i, _)| i.0).collect();
        assert_eq!(got, vec![4, 5], "out-of-range indexes are skipped");
        store.append(LogEntry::noop(ballot(2))).unwrap();
        assert_eq!(store.term_at(idx(6)).unwrap(), Some(ballot(2)));
    }

    fn truncate_drops_the_suffix<S: Storage<u64>>(store: &mut S) {
        fill(store, 5, 1);
        store.truncate(idx(3)).unwrap();
        assert_eq!(store.last().index, idx(2));
        assert_eq!(store.get(idx(3)).unwrap(), None);
        store.truncate(idx(10)).unwrap();
        assert_eq!(
            store.last().index,
            idx(2),
            "truncating past the end is a no-op"
        );
        fill(store, 1, 3);
        assert_eq!(store.last(), LogCursor::new(ballot(3), idx(3)));
    }

    fn prune_keeps_indexes<S: Storage<u64>>(store: &mut S) {
        fill(store, 6, 1);
        let up_to = LogCursor::new(ballot(1), idx(4));
        store.prune_prefix(up_to).unwrap();
        assert_eq!(store.base(), up_to);
        assert_eq!(store.available(), idx(5)..=idx(6));
        assert_eq!(store.get(idx(4)).unwrap(), None);
        assert_eq!(
            store.get(idx(5)).unwrap(),
            Some(LogEntry::command(ballot(1), 4))
        );
        assert_eq!(
            store.term_at(idx(4)).unwrap(),
            Some(ballot(1)),
            "base term is known"
        );
        assert!(
            store.truncate(idx(3)).is_err(),
            "cannot truncate into the pruned prefix"
        );
        fill(store, 1, 2);
        assert_eq!(store.last().index, idx(7));
    }

    fn reset_restarts_after_base<S: Storage<u64>>(store: &mut S) {
        fill(store, 3, 1);
        let base = LogCursor::new(ballot(4), idx(100));
        store.reset_to(base).unwrap();
        assert_eq!(store.last(), base);
        assert!(store.available().is_empty());
        fill(store, 1, 5);
        assert_eq!(store.last().index, idx(101));
        assert_eq!(store.get(idx(3)).unwrap(), None);
    }

    fn hard_state_round_trips<S: Storage<u64>>(store: &mut S) {
        let owner = ballot(9).owner();
        // Every field round-trips, the catch-up marker included: a crash
        // during a catch-up must resume it.
        let state = HardState {
            term: ballot(9),
            vote: owner,
            commit: idx(7),
            commit_weight: 3,
            peak: (idx(5), 4),
            catching_up: true,
        };
        store.set_hard_state(state).unwrap();
        assert_eq!(store.hard_state().unwrap(), state);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn in_memory_store_conforms() {
        super::conformance::run(super::InMemoryLogStore::<u64>::default);
    }
}
