//! [`PriorityQueue`]: a replicated double-ended keyed priority queue,
//! optionally bounded (SPEC §1.6).

use {
    super::{
        Error, Key, OrderedKey, Value, Version, handle_common,
        pq_state::{PqCommand, PqState, SerBound},
        shared::Core,
    },
    crate::primitives::Encoded,
    core::{borrow::Borrow, hash::Hash, ops::RangeBounds},
    std::sync::Arc,
};

/// A replicated queue of keyed values ordered by priority `P`. With a
/// finite `CAP`, every insert or priority change that makes it longer than
/// `CAP` evicts from the lowest-priority bucket (possibly the new entry).
pub struct PriorityQueue<
    P: OrderedKey,
    K: Key,
    V: Value,
    const CAP: u64 = { u64::MAX },
    const IS_WRITER: bool = true,
> {
    core: Arc<Core<PqState<P, K, V, CAP>>>,
}

/// A queue handle that can write.
pub type PriorityQueueWriter<P, K, V, const CAP: u64 = { u64::MAX }> =
    PriorityQueue<P, K, V, CAP, true>;
/// A queue handle that only reads.
pub type PriorityQueueReader<P, K, V, const CAP: u64 = { u64::MAX }> =
    PriorityQueue<P, K, V, CAP, false>;
/// An unbounded queue.
pub type UnboundedPriorityQueue<P, K, V, const IS_WRITER: bool = true> =
    PriorityQueue<P, K, V, { u64::MAX }, IS_WRITER>;
/// A queue bounded to `CAP` entries.
pub type BoundedPriorityQueue<P, K, V, const CAP: u64, const IS_WRITER: bool = true> =
    PriorityQueue<P, K, V, CAP, IS_WRITER>;

handle_common!(PriorityQueue [P: OrderedKey, K: Key, V: Value, const CAP: u64] [P, K, V, CAP] PqState<P, K, V, CAP>);

impl<P: OrderedKey, K: Key, V: Value, const CAP: u64, const IS_WRITER: bool>
    PriorityQueue<P, K, V, CAP, IS_WRITER>
{
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.core.read(|s| s.by_key.len())
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.core.read(|s| s.by_key.is_empty())
    }

    /// The bound (`u64::MAX` when unbounded).
    pub fn capacity(&self) -> u64 {
        CAP
    }

    /// True if `key` is queued.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.core.read(|s| s.by_key.contains_key(key))
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.core
            .read(|s| s.by_key.get(key).map(|(_, v)| v.clone()))
    }

    /// The priority of `key`.
    pub fn get_priority<Q>(&self, key: &Q) -> Option<P>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.core
            .read(|s| s.by_key.get(key).map(|(p, _)| p.clone()))
    }

    /// An entry of the lowest priority (deterministic within its bucket).
    pub fn get_min(&self) -> Option<(P, K, V)> {
        self.core.read(|s| {
            let (p, bucket) = s.by_priority.get_min()?;
            let (k, v) = bucket.iter().next()?;
            Some((p.clone(), k.clone(), v.clone()))
        })
    }

    /// An entry of the highest priority (deterministic within its bucket).
    pub fn get_max(&self) -> Option<(P, K, V)> {
        self.core.read(|s| {
            let (p, bucket) = s.by_priority.get_max()?;
            let (k, v) = bucket.iter().next()?;
            Some((p.clone(), k.clone(), v.clone()))
        })
    }

    /// The lowest priority.
    pub fn min_priority(&self) -> Option<P> {
        self.core
            .read(|s| s.by_priority.get_min().map(|(p, _)| p.clone()))
    }

    /// The highest priority.
    pub fn max_priority(&self) -> Option<P> {
        self.core
            .read(|s| s.by_priority.get_max().map(|(p, _)| p.clone()))
    }

    /// All entries by ascending priority (same as [`Self::iter_asc`]).
    pub fn iter(&self) -> impl Iterator<Item = (P, K, V)> + use<P, K, V, CAP, IS_WRITER> {
        self.iter_asc()
    }

    /// All entries by ascending priority.
    pub fn iter_asc(&self) -> impl Iterator<Item = (P, K, V)> + use<P, K, V, CAP, IS_WRITER> {
        self.core
            .state()
            .by_priority
            .into_iter()
            .flat_map(|(p, bucket)| bucket.into_iter().map(move |(k, v)| (p.clone(), k, v)))
    }

    /// All entries by descending priority.
    pub fn iter_desc(&self) -> impl Iterator<Item = (P, K, V)> + use<P, K, V, CAP, IS_WRITER> {
        let all: std::vec::Vec<_> = self.iter_asc().collect();
        all.into_iter().rev()
    }
}

impl<P: OrderedKey, K: Key, V: Value, const CAP: u64> PriorityQueue<P, K, V, CAP, true> {
    async fn keyed(&self, command: PqCommand<P, K, V>) -> Result<Version, Error<K>> {
        self.core
            .write(command, |c| match c {
                PqCommand::UpdatePriority { key, .. } | PqCommand::UpdateValue { key, .. } => {
                    Some(key.0)
                }
                PqCommand::RemoveKeys(mut keys) => keys.pop().map(|k| k.0),
                _ => None,
            })
            .await
    }

    /// Inserts or moves `key` to `priority` with `value`.
    pub async fn insert(&self, priority: P, key: K, value: V) -> Result<Version, Error<(P, K, V)>> {
        let command = PqCommand::Insert {
            priority: Encoded(priority),
            key: Encoded(key),
            value: Encoded(value),
        };
        self.core
            .write(command, |c| match c {
                PqCommand::Insert {
                    priority,
                    key,
                    value,
                } => Some((priority.0, key.0, value.0)),
                _ => None,
            })
            .await
    }

    /// Inserts all entries in order. Empty input resolves at once.
    pub async fn extend(
        &self,
        entries: impl IntoIterator<Item = (P, K, V)>,
    ) -> Result<Version, Error<std::vec::Vec<(P, K, V)>>> {
        let entries: std::vec::Vec<_> = entries
            .into_iter()
            .map(|(p, k, v)| (Encoded(p), Encoded(k), Encoded(v)))
            .collect();
        if entries.is_empty() {
            return Ok(self.version());
        }
        self.core
            .write(PqCommand::Extend(entries), |c| match c {
                PqCommand::Extend(e) => {
                    Some(e.into_iter().map(|(p, k, v)| (p.0, k.0, v.0)).collect())
                }
                _ => None,
            })
            .await
    }

    /// Moves `key` to `priority` (no-op if absent).
    pub async fn update_priority(&self, key: &K, priority: P) -> Result<Version, Error<K>> {
        self.keyed(PqCommand::UpdatePriority {
            key: Encoded(key.clone()),
            priority: Encoded(priority),
        })
        .await
    }

    /// Replaces `key`'s value, keeping its priority (no-op if absent).
    pub async fn update_value(&self, key: &K, value: V) -> Result<Version, Error<K>> {
        self.keyed(PqCommand::UpdateValue {
            key: Encoded(key.clone()),
            value: Encoded(value),
        })
        .await
    }

    /// Replaces `key`'s value with `new` (`None` removes it), keeping its
    /// priority, iff the current value encodes like `expected`. A missing
    /// key or a mismatch is a committed no-op.
    pub async fn compare_exchange_value(
        &self,
        key: &K,
        expected: V,
        new: Option<V>,
    ) -> Result<Version, Error<(K, V, Option<V>)>> {
        let command = PqCommand::CompareExchangeValue {
            key: Encoded(key.clone()),
            expected: Encoded(expected),
            new: new.map(Encoded),
        };
        self.core
            .write(command, |c| match c {
                PqCommand::CompareExchangeValue { key, expected, new } => {
                    Some((key.0, expected.0, new.map(|n| n.0)))
                }
                _ => None,
            })
            .await
    }

    /// Removes `key` (no-op if absent).
    pub async fn remove(&self, key: &K) -> Result<Version, Error<K>> {
        self.keyed(PqCommand::RemoveKeys(vec![Encoded(key.clone())]))
            .await
    }

    /// Removes all `keys`. Empty input resolves at once.
    pub async fn remove_keys(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Version, Error<std::vec::Vec<K>>> {
        let keys: std::vec::Vec<_> = keys.into_iter().map(Encoded).collect();
        if keys.is_empty() {
            return Ok(self.version());
        }
        self.core
            .write(PqCommand::RemoveKeys(keys), |c| match c {
                PqCommand::RemoveKeys(k) => Some(k.into_iter().map(|k| k.0).collect()),
                _ => None,
            })
            .await
    }

    /// Removes every entry whose priority lies in `range` (any std range
    /// form; `..` clears).
    pub async fn remove_range(&self, range: impl RangeBounds<P>) -> Result<Version, Error<()>> {
        let command = PqCommand::RemoveRange {
            start: SerBound::from_bound(range.start_bound()),
            end: SerBound::from_bound(range.end_bound()),
        };
        self.core.write(command, |_| Some(())).await
    }

    /// Removes every entry.
    pub async fn clear(&self) -> Result<Version, Error<()>> {
        self.core.write(PqCommand::Clear, |_| Some(())).await
    }
}
