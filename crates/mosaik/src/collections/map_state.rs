//! `Map` state: a fixed-seed `imbl` hash map and its commands.

use {
    super::{HashMap, Key, Value, machine::CollectionState, order::Order, same_encoding},
    crate::{
        groups::{EncodeItemError, encode_each},
        primitives::{Datum, Encoded, encoding::append_encoded},
    },
    core::ops::ControlFlow,
    serde::{Deserialize, Serialize},
};

/// Log entries of a `Map` (SPEC §2.4, without the snapshot marker).
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum MapCommand<K: Datum, V: Datum> {
    Clear,
    Insert {
        key: Encoded<K>,
        value: Encoded<V>,
    },
    CompareExchange {
        key: Encoded<K>,
        expected: Option<Encoded<V>>,
        new: Option<Encoded<V>>,
    },
    RemoveMany {
        keys: std::vec::Vec<Encoded<K>>,
    },
    Extend {
        entries: std::vec::Vec<(Encoded<K>, Encoded<V>)>,
    },
}

/// The replicated map.
pub(crate) struct MapState<K, V> {
    pub(crate) map: HashMap<K, V>,
    /// The keys in `map`'s iteration order, for snapshot ranges that start
    /// past the first item (`collections/order.rs`). Every change to `map`
    /// calls `order.changed()` first.
    order: Order<K>,
}

impl<K: Clone, V: Clone> Clone for MapState<K, V> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            order: self.order.clone(),
        }
    }
}

impl<K, V> Default for MapState<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
            order: Order::default(),
        }
    }
}

impl<K: Key, V: Value> CollectionState for MapState<K, V> {
    type Command = MapCommand<K, V>;
    type Item = (Encoded<K>, Encoded<V>);
    const KIND: &'static str = "map";
    const SIZE_METRIC: &'static str = "mosaik.collections.map.size";

    fn apply(&mut self, command: MapCommand<K, V>) {
        self.order.changed();
        match command {
            MapCommand::Clear => self.map.clear(),
            MapCommand::Insert { key, value } => {
                self.map.insert(key.0, value.0);
            }
            MapCommand::CompareExchange { key, expected, new } => {
                let current = self.map.get(&key.0);
                if same_encoding(current, expected.as_deref()) {
                    match new {
                        Some(value) => {
                            self.map.insert(key.0, value.0);
                        }
                        None => {
                            self.map.remove(&key.0);
                        }
                    }
                }
            }
            MapCommand::RemoveMany { keys } => {
                for key in keys {
                    self.map.remove(&key.0);
                }
            }
            MapCommand::Extend { entries } => {
                // In order: later duplicates win.
                for (key, value) in entries {
                    self.map.insert(key.0, value.0);
                }
            }
        }
    }

    fn len(&self) -> u64 {
        self.map.len() as u64
    }

    fn items_from(&self, skip: usize) -> impl Iterator<Item = Self::Item> + '_ {
        self.entries_from(skip)
            .map(|(k, v)| (Encoded(k.clone()), Encoded(v.clone())))
    }

    fn encode_from(
        &self,
        skip: usize,
        take: usize,
        each: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<(), EncodeItemError> {
        // The item `(Encoded<K>, Encoded<V>)`, written from references.
        let entries = self.entries_from(skip).take(take);
        encode_each(
            entries,
            |(k, v), buf| {
                append_encoded(k, buf)?;
                append_encoded(v, buf)
            },
            each,
        )
    }

    fn push_item(&mut self, (key, value): Self::Item) {
        self.order.changed();
        self.map.insert(key.0, value.0);
    }
}

impl<K: Key, V: Value> MapState<K, V> {
    /// The entries after the first `skip`, in the map's walk order.
    fn entries_from(&self, skip: usize) -> impl Iterator<Item = (&K, &V)> + '_ {
        // From the start (a digest, the first range) a plain walk; past it,
        // the keys in walk order, looked up (no walk over the skipped part).
        let (walk, looked_up) = if skip == 0 {
            (Some(self.map.iter()), None)
        } else {
            let keys = self.order.keys(|| self.map.keys().cloned().collect());
            (None, Some(keys.get(skip..).unwrap_or_default()))
        };
        let looked_up = looked_up
            .into_iter()
            .flatten()
            .filter_map(|key| self.map.get_key_value(key));
        walk.into_iter().flatten().chain(looked_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(state: &mut MapState<u32, String>, command: MapCommand<u32, String>) {
        state.apply(command);
    }

    fn v(s: &str) -> Encoded<String> {
        Encoded(s.to_string())
    }

    #[test]
    fn compare_exchange_by_encoding() {
        let mut state = MapState::default();
        // Absent → expected None inserts.
        apply(
            &mut state,
            MapCommand::CompareExchange {
                key: Encoded(1),
                expected: None,
                new: Some(v("a")),
            },
        );
        assert_eq!(state.map.get(&1).map(String::as_str), Some("a"));
        // Mismatch is a no-op.
        apply(
            &mut state,
            MapCommand::CompareExchange {
                key: Encoded(1),
                expected: Some(v("x")),
                new: Some(v("b")),
            },
        );
        assert_eq!(state.map.get(&1).map(String::as_str), Some("a"));
        // Match with None deletes.
        apply(
            &mut state,
            MapCommand::CompareExchange {
                key: Encoded(1),
                expected: Some(v("a")),
                new: None,
            },
        );
        assert!(state.map.is_empty());
    }

    #[test]
    fn extend_later_duplicates_win_and_snapshot_round_trips() {
        let mut state = MapState::default();
        apply(
            &mut state,
            MapCommand::Extend {
                entries: vec![
                    (Encoded(1), Encoded("a".into())),
                    (Encoded(1), Encoded("b".into())),
                    (Encoded(2), Encoded("c".into())),
                ],
            },
        );
        assert_eq!(state.map.get(&1).map(String::as_str), Some("b"));
        let mut copy = MapState::<u32, String>::default();
        for item in state.items() {
            copy.push_item(item);
        }
        assert_eq!(copy.map, state.map);
        apply(
            &mut state,
            MapCommand::RemoveMany {
                keys: vec![Encoded(2), Encoded(9)],
            },
        );
        assert_eq!(state.len(), 1);
        apply(&mut state, MapCommand::Clear);
        assert_eq!(state.len(), 0);
    }

    /// A value that counts its clones (per thread: tests run in parallel).
    #[derive(Serialize, Deserialize)]
    struct Counted(u32);

    thread_local! {
        static CLONES: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }

    impl Clone for Counted {
        fn clone(&self) -> Self {
            CLONES.with(|c| c.set(c.get() + 1));
            Self(self.0)
        }
    }

    #[test]
    fn ranges_past_the_start_follow_the_walk_and_see_changes() {
        fn read(state: &MapState<u32, u32>, from: usize, n: usize) -> std::vec::Vec<(u32, u32)> {
            state
                .items_from(from)
                .take(n)
                .map(|(k, v)| (k.0, v.0))
                .collect()
        }
        let mut live = MapState::<u32, u32>::default();
        live.apply(MapCommand::Extend {
            entries: (0..1000).map(|i| (Encoded(i), Encoded(i))).collect(),
        });
        let held = live.clone();
        let walk = read(&held, 0, usize::MAX);
        // Ranges served from fresh clones of the held state, as a provider
        // does, stitch into the walk.
        let ranges: std::vec::Vec<(u32, u32)> = (0..1000)
            .step_by(70)
            .flat_map(|start| read(&held.clone(), start, 70))
            .collect();
        assert_eq!(ranges, walk);
        // The live state changes after the held one wrote its order down:
        // each reads its own items.
        live.apply(MapCommand::Insert {
            key: Encoded(5000),
            value: Encoded(1),
        });
        live.apply(MapCommand::RemoveMany {
            keys: vec![Encoded(walk[500].0)],
        });
        let live_walk = read(&live, 0, usize::MAX);
        assert_eq!(live_walk.len(), 1000);
        assert_eq!(read(&live, 400, usize::MAX), live_walk[400..]);
        assert_eq!(read(&held, 400, usize::MAX), walk[400..]);
        assert_eq!(read(&held, 1000, 5), [], "past the end: nothing");
    }

    #[test]
    fn a_range_clones_only_its_own_items() {
        let mut state = MapState::<u32, Counted>::default();
        for i in 0..100 {
            state.map.insert(i, Counted(i));
        }
        let all: std::vec::Vec<u32> = state.items().map(|(k, _)| k.0).collect();
        CLONES.with(|c| c.set(0));
        let range: std::vec::Vec<u32> = state.items_from(90).take(5).map(|(_, v)| v.0.0).collect();
        // Same items as skipping the whole iteration, in the same order...
        assert_eq!(range, all[90..95]);
        // ...but the 90 skipped values were passed over, not cloned.
        assert_eq!(CLONES.with(core::cell::Cell::get), 5);
    }
}
