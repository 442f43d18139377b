//! A ready-made model: a key-value register per key, checked one key at a time.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

use super::{Model, Operation};

/// A request to a key-value store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput<K, V> {
    /// Set `key` to `value`; answered with [`KvOutput::Ok`].
    Put {
        /// The key written.
        key: K,
        /// The value written.
        value: V,
    },
    /// Read `key`; answered with [`KvOutput::Value`].
    Get {
        /// The key read.
        key: K,
    },
    /// Set `key` to `new` if it currently holds `expected` (`None`: if it is absent); answered
    /// with [`KvOutput::Swapped`].
    Cas {
        /// The key compared and written.
        key: K,
        /// The value the key must hold for the swap to happen.
        expected: Option<V>,
        /// The value written if it does.
        new: V,
    },
}

impl<K, V> KvInput<K, V> {
    /// The key the request touches.
    pub fn key(&self) -> &K {
        match self {
            Self::Put { key, .. } | Self::Get { key } | Self::Cas { key, .. } => key,
        }
    }
}

/// A response from a key-value store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput<V> {
    /// A put was applied.
    Ok,
    /// A get saw this value (`None`: the key was absent).
    Value(Option<V>),
    /// Whether a compare-and-swap happened.
    Swapped(bool),
}

/// A linearizable key-value store: each key is an independent register.
///
/// Histories are partitioned by key (in key order), and the state of each partition is the
/// current value of its key. `K` is typically `u64` or `String`, and so is `V`.
pub struct KvModel<K, V> {
    // `fn() -> ...` keeps the model `Send + Sync + Copy`-friendly whatever K and V are.
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> KvModel<K, V> {
    /// The key-value model.
    pub fn new() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

// Manual impls: derives would needlessly demand `K: Clone` etc. of a type holding no K.
impl<K, V> Clone for KvModel<K, V> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<K, V> Default for KvModel<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Debug for KvModel<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvModel")
    }
}

impl<K, V> Model for KvModel<K, V>
where
    K: Clone + Debug + Ord,
    V: Clone + Debug + Eq + Hash,
{
    type Input = KvInput<K, V>;
    type Output = KvOutput<V>;
    /// The value of the partition's single key.
    type State = Option<V>;

    fn init(&self) -> Option<V> {
        None
    }

    fn step(
        &self,
        state: &Option<V>,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Option<V>> {
        match (input, output) {
            (KvInput::Put { value, .. }, KvOutput::Ok) => Some(Some(value.clone())),
            (KvInput::Get { .. }, KvOutput::Value(seen)) => (seen == state).then(|| state.clone()),
            (KvInput::Cas { expected, new, .. }, KvOutput::Swapped(true)) => {
                (expected == state).then(|| Some(new.clone()))
            }
            (KvInput::Cas { expected, .. }, KvOutput::Swapped(false)) => {
                (expected != state).then(|| state.clone())
            }
            // A response of the wrong kind is never possible.
            _ => None,
        }
    }

    fn step_unobserved(&self, state: &Option<V>, input: &Self::Input) -> Option<V> {
        match input {
            KvInput::Put { value, .. } => Some(value.clone()),
            KvInput::Cas { expected, new, .. } if expected == state => Some(new.clone()),
            // Reads and failing swaps leave the value alone.
            KvInput::Get { .. } | KvInput::Cas { .. } => state.clone(),
        }
    }

    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        let mut by_key: BTreeMap<&K, Vec<usize>> = BTreeMap::new();
        for (index, op) in history.iter().enumerate() {
            by_key.entry(op.input.key()).or_default().push(index);
        }
        by_key.into_values().collect()
    }

    /// Unobserved writes of values no operation reads or compares against, unless a failed
    /// compare-and-swap may depend on them (the argument is at `droppable_writes`).
    fn droppable(&self, part: &[&Operation<Self::Input, Self::Output>]) -> Vec<usize> {
        droppable_writes(part)
    }
}

/// Positions of unobserved operations that no observed outcome can depend on.
///
/// An unobserved write of a value nobody reads or compares against can be left out of any
/// linearization that places it: until the next write, no observed get can follow it (it would
/// have read the value) and no compare-and-swap can have expected it, so removing it changes
/// nothing anyone saw — except that an unobserved compare-and-swap might now succeed, and that one
/// can be left out too. The exception is a failed compare-and-swap, which may have failed
/// *because of* the write. It only matters if the key could hold its expected value at all (that
/// value is written somewhere, or is "absent") and if it could take effect after the write was
/// called, so writes called after every such failure stay droppable.
///
/// Without this, every timed-out write stays a candidate forever and proving a violation means
/// trying it at every point of the history.
fn droppable_writes<K, V: Eq + Hash>(
    part: &[&Operation<KvInput<K, V>, KvOutput<V>>],
) -> Vec<usize> {
    let mut mentioned = HashSet::new();
    let mut written = HashSet::new();
    for op in part {
        match &op.input {
            KvInput::Put { value, .. } => {
                written.insert(value);
            }
            KvInput::Cas { expected, new, .. } => {
                written.insert(new);
                mentioned.extend(expected.as_ref());
            }
            KvInput::Get { .. } => {
                if let Some(KvOutput::Value(Some(value))) = &op.output {
                    mentioned.insert(value);
                }
            }
        }
    }
    let failures_until = part
        .iter()
        .filter_map(|op| match (&op.input, &op.output) {
            (KvInput::Cas { expected, .. }, Some(KvOutput::Swapped(false)))
                if expected.as_ref().is_none_or(|e| written.contains(e)) =>
            {
                Some(op.deadline())
            }
            _ => None,
        })
        .max();
    let droppable = |op: &Operation<KvInput<K, V>, KvOutput<V>>| match &op.input {
        _ if op.is_observed() => false,
        KvInput::Get { .. } => true,
        KvInput::Put { value, .. } | KvInput::Cas { new: value, .. } => {
            !mentioned.contains(value) && failures_until.is_none_or(|until| until < op.call)
        }
    };
    (0..part.len()).filter(|&i| droppable(part[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Kv = KvModel<&'static str, u64>;

    fn put(value: u64) -> KvInput<&'static str, u64> {
        KvInput::Put { key: "k", value }
    }

    fn cas(expected: Option<u64>, new: u64) -> KvInput<&'static str, u64> {
        KvInput::Cas {
            key: "k",
            expected,
            new,
        }
    }

    #[test]
    fn step_table() {
        let get = KvInput::Get { key: "k" };
        let model = Kv::new();
        // (state, input, output, expected next state)
        let table = [
            (None, put(1), KvOutput::Ok, Some(Some(1))),
            (Some(3), put(1), KvOutput::Ok, Some(Some(1))),
            (Some(3), put(1), KvOutput::Swapped(true), None),
            (None, get.clone(), KvOutput::Value(None), Some(None)),
            (
                Some(2),
                get.clone(),
                KvOutput::Value(Some(2)),
                Some(Some(2)),
            ),
            (Some(2), get.clone(), KvOutput::Value(Some(1)), None),
            (Some(2), get, KvOutput::Value(None), None),
            (
                Some(2),
                cas(Some(2), 5),
                KvOutput::Swapped(true),
                Some(Some(5)),
            ),
            (Some(2), cas(Some(2), 5), KvOutput::Swapped(false), None),
            (
                Some(2),
                cas(Some(9), 5),
                KvOutput::Swapped(false),
                Some(Some(2)),
            ),
            (Some(2), cas(Some(9), 5), KvOutput::Swapped(true), None),
            (None, cas(None, 5), KvOutput::Swapped(true), Some(Some(5))),
            (None, cas(Some(1), 5), KvOutput::Swapped(false), Some(None)),
        ];
        for (state, input, output, expected) in table {
            assert_eq!(
                model.step(&state, &input, &output),
                expected,
                "{state:?} {input:?} -> {output:?}"
            );
        }
    }

    #[test]
    fn unobserved_steps_do_what_the_store_would_have_done() {
        let model = Kv::new();
        assert_eq!(model.step_unobserved(&Some(1), &put(2)), Some(2));
        assert_eq!(
            model.step_unobserved(&Some(1), &KvInput::Get { key: "k" }),
            Some(1)
        );
        assert_eq!(model.step_unobserved(&Some(1), &cas(Some(1), 3)), Some(3));
        assert_eq!(model.step_unobserved(&Some(1), &cas(None, 3)), Some(1));
    }

    #[test]
    fn partitions_group_operations_by_key_in_key_order() {
        let history: Vec<Operation<KvInput<String, u64>, KvOutput<u64>>> =
            ["b", "a", "b", "c", "a"]
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    let input = KvInput::Get {
                        key: (*key).to_owned(),
                    };
                    Operation::completed(0, input, i as u64, i as u64, KvOutput::Value(None))
                })
                .collect();
        let parts = KvModel::<String, u64>::new().partition(&history);
        assert_eq!(parts, [vec![1, 4], vec![0, 2], vec![3]]);
    }

    #[test]
    fn droppable_writes_are_unread_unobserved_and_clear_of_failed_swaps() {
        type Op = Operation<KvInput<&'static str, u64>, KvOutput<u64>>;
        let pending = |input, call| Op::pending(0, input, call);
        let seen = |value| {
            Op::completed(
                1,
                KvInput::Get { key: "k" },
                0,
                1,
                KvOutput::Value(Some(value)),
            )
        };
        let model = Kv::new();
        let droppable = |part: &[Op]| model.droppable(&part.iter().collect::<Vec<_>>());

        let part = [
            pending(put(5), 10),                    // never read: droppable
            pending(put(6), 10),                    // read below: needed
            seen(6),                                // observed: never dropped
            pending(KvInput::Get { key: "k" }, 10), // a read nobody saw: droppable
            pending(cas(Some(1), 7), 10),           // writes 7, never read: droppable
            pending(cas(Some(5), 8), 10),           // expects 5: makes put(5) needed
        ];
        assert_eq!(droppable(&part[..5]), [0, 3, 4]);
        assert_eq!(droppable(&part), [3, 4, 5]);

        // A failed swap whose expected value the key can hold may have failed because of a
        // write, so writes called before it returned stay.
        let failed = |expected| Op::completed(2, cas(expected, 9), 0, 50, KvOutput::Swapped(false));
        let part = [
            pending(put(5), 40),
            pending(put(6), 60),
            put_done(1),
            failed(Some(1)),
        ];
        assert_eq!(droppable(&part), [1]);
        let part = [pending(put(5), 40), failed(None)];
        assert_eq!(droppable(&part), Vec::<usize>::new());
        // ... unless it expected a value never written anywhere: then no write can matter.
        let part = [pending(put(5), 40), failed(Some(99))];
        assert_eq!(droppable(&part), [0]);
    }

    fn put_done(value: u64) -> Operation<KvInput<&'static str, u64>, KvOutput<u64>> {
        Operation::completed(3, put(value), 0, 1, KvOutput::Ok)
    }
}
