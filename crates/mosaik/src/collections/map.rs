//! [`Map`]: a replicated unordered map (SPEC §1.6).

use {
    super::{
        Error, Key, Value, Version, handle_common,
        map_state::{MapCommand, MapState},
        shared::Core,
    },
    crate::primitives::Encoded,
    core::{borrow::Borrow, hash::Hash},
    std::sync::Arc,
};

/// A replicated map from `K` to `V`. `IS_WRITER` selects the writer (all
/// methods) or the reader (reads only) surface.
pub struct Map<K: Key, V: Value, const IS_WRITER: bool = true> {
    core: Arc<Core<MapState<K, V>>>,
}

/// A map handle that can write.
pub type MapWriter<K, V> = Map<K, V, true>;
/// A map handle that only reads.
pub type MapReader<K, V> = Map<K, V, false>;

handle_common!(Map [K: Key, V: Value] [K, V] MapState<K, V>);

impl<K: Key, V: Value, const IS_WRITER: bool> Map<K, V, IS_WRITER> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.core.read(|s| s.map.len())
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.core.read(|s| s.map.is_empty())
    }

    /// True if `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.core.read(|s| s.map.contains_key(key))
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.core.read(|s| s.map.get(key).cloned())
    }

    /// All entries, in the replicas' common (hash) order, of the state at
    /// the time of the call.
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + use<K, V, IS_WRITER> {
        self.core.state().map.into_iter()
    }

    /// All keys.
    pub fn keys(&self) -> impl Iterator<Item = K> + use<K, V, IS_WRITER> {
        self.iter().map(|(k, _)| k)
    }

    /// All values.
    pub fn values(&self) -> impl Iterator<Item = V> + use<K, V, IS_WRITER> {
        self.iter().map(|(_, v)| v)
    }
}

impl<K: Key, V: Value> Map<K, V, true> {
    /// Inserts or replaces `key`'s value.
    pub async fn insert(&self, key: K, value: V) -> Result<Version, Error<(K, V)>> {
        let command = MapCommand::Insert {
            key: Encoded(key),
            value: Encoded(value),
        };
        self.core
            .write(command, |c| match c {
                MapCommand::Insert { key, value } => Some((key.0, value.0)),
                _ => None,
            })
            .await
    }

    /// Inserts all entries in order (later duplicates win). Empty input
    /// resolves at once with the current version.
    pub async fn extend(
        &self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Version, Error<std::vec::Vec<(K, V)>>> {
        let entries: std::vec::Vec<_> = entries
            .into_iter()
            .map(|(k, v)| (Encoded(k), Encoded(v)))
            .collect();
        if entries.is_empty() {
            return Ok(self.version());
        }
        self.core
            .write(MapCommand::Extend { entries }, |c| match c {
                MapCommand::Extend { entries } => {
                    Some(entries.into_iter().map(|(k, v)| (k.0, v.0)).collect())
                }
                _ => None,
            })
            .await
    }

    /// Removes `key` (a committed no-op if absent).
    pub async fn remove(&self, key: &K) -> Result<Version, Error<K>> {
        let command = MapCommand::RemoveMany {
            keys: vec![Encoded(key.clone())],
        };
        self.core
            .write(command, |c| match c {
                MapCommand::RemoveMany { mut keys } => keys.pop().map(|k| k.0),
                _ => None,
            })
            .await
    }

    /// Removes all `keys`. Empty input resolves at once.
    pub async fn remove_many(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Version, Error<std::vec::Vec<K>>> {
        let keys: std::vec::Vec<_> = keys.into_iter().map(Encoded).collect();
        if keys.is_empty() {
            return Ok(self.version());
        }
        self.core
            .write(MapCommand::RemoveMany { keys }, |c| match c {
                MapCommand::RemoveMany { keys } => Some(keys.into_iter().map(|k| k.0).collect()),
                _ => None,
            })
            .await
    }

    /// Removes every entry.
    pub async fn clear(&self) -> Result<Version, Error<()>> {
        self.core.write(MapCommand::Clear, |_| Some(())).await
    }

    /// Sets `key` to `new` (`None` deletes) iff its current value encodes
    /// to the same bytes as `expected` (`None` = absent). A mismatch is a
    /// silent no-op that still commits and returns a version: read the map
    /// at that version to learn the outcome.
    pub async fn compare_exchange(
        &self,
        key: K,
        expected: Option<V>,
        new: Option<V>,
    ) -> Result<Version, Error<(K, Option<V>, Option<V>)>> {
        let command = MapCommand::CompareExchange {
            key: Encoded(key),
            expected: expected.map(Encoded),
            new: new.map(Encoded),
        };
        self.core
            .write(command, |c| match c {
                MapCommand::CompareExchange { key, expected, new } => {
                    Some((key.0, expected.map(|e| e.0), new.map(|n| n.0)))
                }
                _ => None,
            })
            .await
    }
}
