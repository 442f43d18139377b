//! The replicated state machine of the simulation: a tiny key-value store.
//!
//! The store keeps every applied command by log index, not just the current values, because the
//! checkers compare replicas index by index (state machine safety) and a dynamic-mode
//! [`Reverted`](mosaik_raft::Output::Reverted) must rewind the store to an earlier index exactly.

use std::collections::BTreeMap;

use mosaik_raft::Index;

/// The only command: set `key` to `value`. The harness gives every put a fresh `value`, so a
/// value read identifies the write that produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Put {
    /// The key written.
    pub key: u64,
    /// The value written (unique per simulated run).
    pub value: u64,
}

/// One replica's state machine: the applied commands by index and the resulting key values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    applied: BTreeMap<Index, Put>,
    values: BTreeMap<u64, u64>,
    /// The index the store reflects (noops leave gaps in `applied`, so it is kept separately).
    last: Index,
}

impl KvStore {
    /// An empty store at index zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `put` at `index`.
    ///
    /// # Errors
    ///
    /// If `index` is not after the last index applied: the engine applied an entry twice (or
    /// out of order) without a revert in between.
    pub fn apply(&mut self, index: Index, put: Put) -> Result<(), String> {
        if index <= self.last {
            return Err(format!(
                "applied index {index} again (store is at {})",
                self.last
            ));
        }
        self.applied.insert(index, put);
        self.values.insert(put.key, put.value);
        self.last = index;
        Ok(())
    }

    /// Rewinds to the state right after `index` (dynamic-mode revert, or restoring a snapshot).
    pub fn revert_to(&mut self, index: Index) {
        self.applied.retain(|i, _| *i <= index);
        self.values.clear();
        for put in self.applied.values() {
            self.values.insert(put.key, put.value);
        }
        self.last = index;
    }

    /// A copy of the state right after `index` (what a snapshot at `index` holds). The caller
    /// knows the engine applied through `index`; entries after the last command are noops.
    #[must_use]
    pub fn prefix(&self, index: Index) -> Self {
        let mut copy = self.clone();
        copy.revert_to(index);
        copy
    }

    /// The current value of `key`.
    pub fn get(&self, key: u64) -> Option<u64> {
        self.values.get(&key).copied()
    }

    /// The index the store reflects.
    pub fn last_index(&self) -> Index {
        self.last
    }

    /// The applied commands by index.
    pub fn applied(&self) -> &BTreeMap<Index, Put> {
        &self.applied
    }

    /// The current key values.
    pub fn values(&self) -> &BTreeMap<u64, u64> {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revert_rebuilds_values_from_the_kept_prefix() {
        let mut store = KvStore::new();
        store.apply(Index(1), Put { key: 1, value: 10 }).unwrap();
        store.apply(Index(3), Put { key: 1, value: 11 }).unwrap();
        store.apply(Index(4), Put { key: 2, value: 12 }).unwrap();
        assert!(store.apply(Index(4), Put { key: 2, value: 13 }).is_err());
        let snapshot = store.prefix(Index(2));
        store.revert_to(Index(2));
        assert_eq!(store, snapshot);
        assert_eq!(store.get(1), Some(10));
        assert_eq!(store.get(2), None);
        assert_eq!(store.last_index(), Index(2));
    }
}
