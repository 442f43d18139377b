//! `PriorityQueue` state: keys to (priority, value) plus priority buckets,
//! and the bounded-capacity eviction rule.

use {
    super::{HashMap, Key, OrderedKey, Value, machine::CollectionState, same_encoding},
    crate::primitives::{Datum, Encoded},
    core::ops::Bound,
    serde::{Deserialize, Serialize},
};

/// A serializable range bound.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum SerBound<P: Datum> {
    Included(Encoded<P>),
    Excluded(Encoded<P>),
    Unbounded,
}

impl<P: Datum + Clone> SerBound<P> {
    pub(crate) fn from_bound(bound: Bound<&P>) -> Self {
        match bound {
            Bound::Included(p) => Self::Included(Encoded(p.clone())),
            Bound::Excluded(p) => Self::Excluded(Encoded(p.clone())),
            Bound::Unbounded => Self::Unbounded,
        }
    }

    fn as_bound(&self) -> Bound<&P> {
        match self {
            Self::Included(p) => Bound::Included(&p.0),
            Self::Excluded(p) => Bound::Excluded(&p.0),
            Self::Unbounded => Bound::Unbounded,
        }
    }
}

/// Log entries of a `PriorityQueue` (SPEC §2.4, without the snapshot
/// marker).
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum PqCommand<P: Datum, K: Datum, V: Datum> {
    Clear,
    Insert {
        priority: Encoded<P>,
        key: Encoded<K>,
        value: Encoded<V>,
    },
    Extend(std::vec::Vec<(Encoded<P>, Encoded<K>, Encoded<V>)>),
    UpdatePriority {
        key: Encoded<K>,
        priority: Encoded<P>,
    },
    UpdateValue {
        key: Encoded<K>,
        value: Encoded<V>,
    },
    CompareExchangeValue {
        key: Encoded<K>,
        expected: Encoded<V>,
        new: Option<Encoded<V>>,
    },
    RemoveKeys(std::vec::Vec<Encoded<K>>),
    RemoveRange {
        start: SerBound<P>,
        end: SerBound<P>,
    },
}

/// The replicated queue; `CAP` bounds its length.
pub(crate) struct PqState<P, K, V, const CAP: u64> {
    pub(crate) by_key: HashMap<K, (P, V)>,
    pub(crate) by_priority: imbl::OrdMap<P, HashMap<K, V>>,
}

impl<P: Clone + Ord, K: Clone, V: Clone, const CAP: u64> Clone for PqState<P, K, V, CAP> {
    fn clone(&self) -> Self {
        Self {
            by_key: self.by_key.clone(),
            by_priority: self.by_priority.clone(),
        }
    }
}

impl<P: Ord, K, V, const CAP: u64> Default for PqState<P, K, V, CAP> {
    fn default() -> Self {
        Self {
            by_key: HashMap::default(),
            by_priority: imbl::OrdMap::new(),
        }
    }
}

impl<P: OrderedKey, K: Key, V: Value, const CAP: u64> PqState<P, K, V, CAP> {
    /// Removes `key`; its (priority, value) if it was present.
    fn take(&mut self, key: &K) -> Option<(P, V)> {
        let (priority, value) = self.by_key.remove(key)?;
        if let Some(bucket) = self.by_priority.get_mut(&priority) {
            bucket.remove(key);
            if bucket.is_empty() {
                self.by_priority.remove(&priority);
            }
        }
        Some((priority, value))
    }

    fn put(&mut self, priority: P, key: K, value: V) {
        self.take(&key);
        self.by_key
            .insert(key.clone(), (priority.clone(), value.clone()));
        self.by_priority
            .entry(priority)
            .or_default()
            .insert(key, value);
    }

    /// While over capacity, drops one entry of the lowest-priority bucket
    /// (the bucket's first key in hash order: deterministic).
    fn evict(&mut self) {
        while self.by_key.len() as u64 > CAP {
            let Some(key) = self
                .by_priority
                .get_min()
                .and_then(|(_, bucket)| bucket.keys().next().cloned())
            else {
                return;
            };
            self.take(&key);
        }
    }

    /// Upsert followed by eviction (may evict the new entry itself).
    fn insert(&mut self, priority: P, key: K, value: V) {
        self.put(priority, key, value);
        self.evict();
    }
}

impl<P: OrderedKey, K: Key, V: Value, const CAP: u64> CollectionState for PqState<P, K, V, CAP> {
    type Command = PqCommand<P, K, V>;
    type Item = (Encoded<P>, Encoded<K>, Encoded<V>);
    const KIND: &'static str = "depq";
    const SIZE_METRIC: &'static str = "mosaik.collections.depq.size";

    fn apply(&mut self, command: PqCommand<P, K, V>) {
        match command {
            PqCommand::Clear => *self = Self::default(),
            PqCommand::Insert {
                priority,
                key,
                value,
            } => self.insert(priority.0, key.0, value.0),
            PqCommand::Extend(entries) => {
                for (p, k, v) in entries {
                    self.insert(p.0, k.0, v.0);
                }
            }
            PqCommand::UpdatePriority { key, priority } => {
                if let Some((_, value)) = self.take(&key.0) {
                    self.insert(priority.0, key.0, value);
                }
            }
            PqCommand::UpdateValue { key, value } => {
                if let Some((priority, _)) = self.take(&key.0) {
                    self.put(priority, key.0, value.0);
                }
            }
            PqCommand::CompareExchangeValue { key, expected, new } => {
                let matches = self
                    .by_key
                    .get(&key.0)
                    .is_some_and(|(_, v)| same_encoding(Some(v), Some(&expected.0)));
                if matches
                    && let Some((priority, _)) = self.take(&key.0)
                    && let Some(new) = new
                {
                    self.put(priority, key.0, new.0);
                }
            }
            PqCommand::RemoveKeys(keys) => {
                for key in keys {
                    self.take(&key.0);
                }
            }
            PqCommand::RemoveRange { start, end } => {
                // A filter instead of `OrdMap::range`, which may reject
                // inverted bounds: replicated input must never panic.
                let range = (start.as_bound(), end.as_bound());
                let doomed: std::vec::Vec<K> = self
                    .by_priority
                    .iter()
                    .filter(|(p, _)| core::ops::RangeBounds::contains(&range, *p))
                    .flat_map(|(_, bucket)| bucket.keys().cloned())
                    .collect();
                for key in doomed {
                    self.take(&key);
                }
            }
        }
    }

    fn len(&self) -> u64 {
        self.by_key.len() as u64
    }

    fn items_from(&self, skip: usize) -> impl Iterator<Item = Self::Item> + '_ {
        self.by_priority
            .iter()
            .flat_map(|(p, bucket)| bucket.iter().map(move |(k, v)| (p, k, v)))
            .skip(skip)
            .map(|(p, k, v)| (Encoded(p.clone()), Encoded(k.clone()), Encoded(v.clone())))
    }

    fn push_item(&mut self, (p, k, v): Self::Item) {
        self.put(p.0, k.0, v.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Q = PqState<u8, u8, u8, 2>;

    fn insert(q: &mut Q, p: u8, k: u8) {
        q.apply(PqCommand::Insert {
            priority: Encoded(p),
            key: Encoded(k),
            value: Encoded(k),
        });
    }

    fn keys(q: &Q) -> std::vec::Vec<u8> {
        q.items().map(|(_, k, _)| k.0).collect()
    }

    #[test]
    fn eviction_and_bucket_moves() {
        let mut q = Q::default();
        insert(&mut q, 5, 1);
        insert(&mut q, 6, 2);
        insert(&mut q, 4, 3); // lowest: evicted itself
        assert_eq!(keys(&q), [1, 2]);
        insert(&mut q, 9, 3); // evicts key 1 (bucket 5)
        assert_eq!(keys(&q), [2, 3]);
        insert(&mut q, 1, 2); // upsert: moves, never evicts
        assert_eq!(keys(&q), [2, 3]);
        assert_eq!(q.by_priority.len(), 2, "the emptied bucket is gone");
        q.apply(PqCommand::UpdatePriority {
            key: Encoded(7),
            priority: Encoded(1),
        });
        assert_eq!(q.len(), 2, "absent key: no-op");
    }

    #[test]
    fn ranges_never_panic() {
        let mut q = PqState::<u8, u8, u8, { u64::MAX }>::default();
        for p in 0..10 {
            q.apply(PqCommand::Insert {
                priority: Encoded(p),
                key: Encoded(p),
                value: Encoded(p),
            });
        }
        let range = |start, end| PqCommand::RemoveRange { start, end };
        q.apply(range(
            SerBound::Excluded(Encoded(5)),
            SerBound::Excluded(Encoded(5)),
        ));
        q.apply(range(
            SerBound::Included(Encoded(8)),
            SerBound::Excluded(Encoded(2)),
        ));
        assert_eq!(q.len(), 10);
        q.apply(range(SerBound::Excluded(Encoded(7)), SerBound::Unbounded));
        q.apply(range(SerBound::Unbounded, SerBound::Included(Encoded(1))));
        let left: std::vec::Vec<u8> = q.items().map(|(p, _, _)| p.0).collect();
        assert_eq!(left, [2, 3, 4, 5, 6, 7]);
        q.apply(PqCommand::CompareExchangeValue {
            key: Encoded(2),
            expected: Encoded(2),
            new: None,
        });
        q.apply(PqCommand::RemoveKeys(vec![Encoded(3), Encoded(99)]));
        assert_eq!(q.len(), 4);
        q.apply(PqCommand::Clear);
        assert_eq!(q.len(), 0);
    }
}
