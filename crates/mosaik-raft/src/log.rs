//! The in-memory replicated log, with an offset for a pruned (snapshotted) prefix.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::types::{Cursor, Index, NodeId, Term};

/// What an entry carries. Leaders append a `Noop` at the start of their term so that entries of
/// earlier terms can be committed (Raft §5.4.2) and reads can be served (read index); noops take
/// an index like any entry but are never handed to the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload<C> {
    /// Leader's term-start marker.
    Noop,
    /// A client command.
    Command(C),
}

/// One log entry: the term of the leader that created it plus its payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<Id, C> {
    /// Term in which a leader appended this entry.
    pub term: Term<Id>,
    /// The payload.
    pub payload: Payload<C>,
}

impl<Id, C> Entry<Id, C> {
    /// A command entry.
    pub fn command(term: Term<Id>, command: C) -> Self {
        Entry {
            term,
            payload: Payload::Command(command),
        }
    }

    /// A noop entry.
    pub fn noop(term: Term<Id>) -> Self {
        Entry {
            term,
            payload: Payload::Noop,
        }
    }
}

/// The log: entries `base.index + 1 ..= last` preceded by a `base` cursor that stands for the
/// pruned or snapshotted prefix (the empty log has base `(0, 0)`).
///
/// Invariant (asserted): terms never decrease along the log. The engine relies on it for the
/// binary-searched conflict hints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log<Id, C> {
    base: Cursor<Id>,
    entries: VecDeque<Entry<Id, C>>,
}

impl<Id: NodeId, C> Default for Log<Id, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Id: NodeId, C> Log<Id, C> {
    /// The empty log.
    pub fn new() -> Self {
        Self::with_base(Cursor::zero())
    }

    /// An empty log whose prefix up to and including `base` was pruned (snapshot install or
    /// restart from a pruned store).
    pub fn with_base(base: Cursor<Id>) -> Self {
        Log {
            base,
            entries: VecDeque::new(),
        }
    }

    /// A log restored from storage: `base` followed by `entries`.
    pub fn from_parts(base: Cursor<Id>, entries: impl IntoIterator<Item = Entry<Id, C>>) -> Self {
        let mut log = Self::with_base(base);
        for entry in entries {
            log.append(entry);
        }
        log
    }

    /// The cursor of the last pruned entry (`(0, 0)` when nothing was pruned).
    pub fn base(&self) -> Cursor<Id> {
        self.base
    }

    /// Index of the first entry held in memory.
    pub fn first_index(&self) -> Index {
        self.base.index.next()
    }

    /// Position of the last entry (the base when the log holds no entries).
    pub fn last(&self) -> Cursor<Id> {
        match self.entries.back() {
            Some(entry) => Cursor::new(entry.term, self.last_index()),
            None => self.base,
        }
    }

    /// Index of the last entry.
    pub fn last_index(&self) -> Index {
        self.base.index + self.entries.len() as u64
    }

    /// Number of entries held (excluding the pruned prefix).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entries are held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, index: Index) -> Option<usize> {
        if index <= self.base.index || index > self.last_index() {
            return None;
        }
        usize::try_from(index.get() - self.base.index.get() - 1).ok()
    }

    /// Term of the entry at `index`: known for the base and every held entry, `None` for pruned
    /// indexes below the base and for indexes past the end.
    pub fn term_at(&self, index: Index) -> Option<Term<Id>> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        self.position(index).map(|pos| self.entries[pos].term)
    }

    /// The entry at `index`, if held.
    pub fn get(&self, index: Index) -> Option<&Entry<Id, C>> {
        self.position(index).map(|pos| &self.entries[pos])
    }

    /// Iterates over `(index, entry)` from `from` (clamped to the first held index) to the end.
    pub fn iter_from(&self, from: Index) -> impl Iterator<Item = (Index, &Entry<Id, C>)> {
        let start = from.max(self.first_index());
        let skip = usize::try_from(start.get() - self.first_index().get()).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .skip(skip)
            .enumerate()
            .map(move |(i, entry)| (start + i as u64, entry))
    }

    /// Up to `max` entries starting at `from`, cloned (for `AppendEntries` and persistence).
    pub fn entries(&self, from: Index, max: usize) -> Vec<Entry<Id, C>>
    where
        C: Clone,
    {
        self.iter_from(from)
            .take(max)
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// Appends an entry at `last + 1` and returns its index. Panics if its term is lower than the
    /// last entry's (a leader never appends behind a newer term).
    pub fn append(&mut self, entry: Entry<Id, C>) -> Index {
        assert!(
            entry.term >= self.last().term,
            "log terms must not decrease: appending {:?} after {:?}",
            entry.term,
            self.last().term
        );
        self.entries.push_back(entry);
        self.last_index()
    }

    /// Removes every entry at index `from` and after. Panics if that would cut into the pruned
    /// prefix (pruned entries are committed and applied; they are never truncated).
    pub fn truncate(&mut self, from: Index) {
        assert!(
            from > self.base.index,
            "cannot truncate at {from}: entries up to {} are pruned",
            self.base.index
        );
        if let Some(pos) = self.position(from) {
            self.entries.truncate(pos);
        }
    }

    /// Takes out the entries up to and including `up_to` (which becomes the new base) and
    /// returns them, for the caller to free where it costs least. Empty if `up_to` is not after
    /// the current base; panics if it is past the last entry.
    pub fn prune_prefix(&mut self, up_to: Index) -> Vec<Entry<Id, C>> {
        if up_to <= self.base.index {
            return Vec::new();
        }
        let term = self
            .term_at(up_to)
            .expect("cannot prune past the end of the log");
        let count = usize::try_from(up_to.get() - self.base.index.get()).unwrap_or(usize::MAX);
        let pruned = self.entries.drain(..count).collect();
        self.base = Cursor::new(term, up_to);
        pruned
    }

    /// Discards every entry and restarts the log right after `base` (snapshot install).
    pub fn reset_to(&mut self, base: Cursor<Id>) {
        self.entries.clear();
        self.base = base;
    }

    /// First held index whose term is at least `term` (used as a conflict hint: skip the whole
    /// run of a conflicting term in one round trip). Binary search, relying on monotonic terms.
    pub fn first_index_with_term_at_least(&self, term: Term<Id>) -> Index {
        let pos = self.entries.partition_point(|entry| entry.term < term);
        self.first_index() + pos as u64
    }

    /// The last index at or before `at_most` whose entry has exactly `term` (the base counts),
    /// if this log still holds one. Binary search, relying on monotonic terms.
    pub fn last_index_of_term(&self, term: Term<Id>, at_most: Index) -> Option<Index> {
        let pos = self.entries.partition_point(|entry| entry.term <= term);
        // `pos` entries after the base have a term <= `term`; the last of them (or the base) is
        // the only candidate at or below the bound whose term can be exactly `term`.
        let index = (self.base.index + pos as u64).min(at_most);
        (self.term_at(index) == Some(term)).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type L = Log<u8, &'static str>;

    fn t(round: u64) -> Term<u8> {
        Term::new(round, 1)
    }

    fn log_with_terms(terms: &[u64]) -> L {
        Log::from_parts(
            Cursor::zero(),
            terms.iter().map(|&round| Entry::command(t(round), "x")),
        )
    }

    #[test]
    fn cursors_and_terms() {
        let log = log_with_terms(&[1, 1, 2, 3]);
        assert_eq!(log.last(), Cursor::new(t(3), Index(4)));
        let cases = [
            (0, Some(Term::zero())),
            (1, Some(t(1))),
            (3, Some(t(2))),
            (5, None),
        ];
        for (index, expected) in cases {
            assert_eq!(log.term_at(Index(index)), expected, "term_at({index})");
        }
        assert_eq!(L::new().last(), Cursor::zero());
    }

    #[test]
    fn truncate_and_append() {
        let mut log = log_with_terms(&[1, 1, 2, 3]);
        log.truncate(Index(3));
        assert_eq!(log.last(), Cursor::new(t(1), Index(2)));
        assert_eq!(log.append(Entry::noop(t(4))), Index(3));
        log.truncate(Index(10));
        assert_eq!(log.last_index(), Index(3));
    }

    #[test]
    #[should_panic(expected = "log terms must not decrease")]
    fn append_rejects_decreasing_term() {
        let mut log = log_with_terms(&[2]);
        log.append(Entry::noop(t(1)));
    }

    #[test]
    fn prune_and_reset() {
        let mut log = log_with_terms(&[1, 1, 2, 3]);
        let pruned = log.prune_prefix(Index(2));
        let terms: Vec<_> = pruned.iter().map(|e| e.term).collect();
        assert_eq!(terms, [t(1), t(1)], "the pruned entries are handed back");
        assert!(log.prune_prefix(Index(2)).is_empty(), "nothing twice");
        assert_eq!(log.base(), Cursor::new(t(1), Index(2)));
        assert_eq!(log.first_index(), Index(3));
        assert_eq!(
            log.term_at(Index(1)),
            None,
            "pruned entries have no known term"
        );
        assert_eq!(log.term_at(Index(2)), Some(t(1)), "the base term is known");
        assert_eq!(log.entries(Index(1), 10).len(), 2);
        assert_eq!(
            log.iter_from(Index(4)).next().map(|(i, _)| i),
            Some(Index(4))
        );
        log.reset_to(Cursor::new(t(5), Index(9)));
        assert!(log.is_empty());
        assert_eq!(log.last(), Cursor::new(t(5), Index(9)));
        assert_eq!(log.append(Entry::noop(t(6))), Index(10));
    }

    #[test]
    #[should_panic(expected = "pruned")]
    fn truncate_never_cuts_pruned_prefix() {
        let mut log = log_with_terms(&[1, 1, 2]);
        log.prune_prefix(Index(2));
        log.truncate(Index(2));
    }

    #[test]
    fn conflict_hint_skips_whole_term() {
        let log = log_with_terms(&[1, 1, 2, 2, 2, 4]);
        let cases = [(1, 1), (2, 3), (3, 6), (4, 6), (5, 7)];
        for (round, expected) in cases {
            assert_eq!(
                log.first_index_with_term_at_least(t(round)),
                Index(expected),
                "round {round}"
            );
        }
    }

    #[test]
    fn last_index_of_term_respects_the_bound_and_the_base() {
        let mut log = log_with_terms(&[1, 1, 2, 2, 2, 4]);
        let cases = [
            (1, 9, Some(2)),
            (2, 9, Some(5)),
            (2, 4, Some(4)),
            (2, 2, None),
        ];
        for (round, at_most, expected) in cases {
            let found = log.last_index_of_term(t(round), Index(at_most));
            assert_eq!(
                found,
                expected.map(Index),
                "round {round} at most {at_most}"
            );
        }
        assert_eq!(log.last_index_of_term(t(3), Index(9)), None, "absent term");
        assert_eq!(log.last_index_of_term(t(4), Index(9)), Some(Index(6)));
        let zero = Term::zero();
        assert_eq!(
            log.last_index_of_term(zero, Index(9)),
            Some(Index(0)),
            "empty base"
        );
        log.prune_prefix(Index(3));
        assert_eq!(log.last_index_of_term(t(1), Index(9)), None, "pruned away");
        assert_eq!(
            log.last_index_of_term(t(2), Index(3)),
            Some(Index(3)),
            "the base"
        );
        assert_eq!(log.last_index_of_term(t(2), Index(9)), Some(Index(5)));
    }
}
