//! `Set` state: a fixed-seed `imbl` hash set and its commands.

use {
    super::{HashSet, Key, machine::CollectionState, order::Order},
    crate::{
        groups::{EncodeItemError, encode_each},
        primitives::{Datum, Encoded, encoding::append_encoded},
    },
    core::ops::ControlFlow,
    serde::{Deserialize, Serialize},
};

/// Log entries of a `Set` (SPEC §2.4, without the snapshot marker).
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum SetCommand<T: Datum> {
    Clear,
    Insert(Encoded<T>),
    RemoveMany(std::vec::Vec<Encoded<T>>),
    Extend(std::vec::Vec<Encoded<T>>),
}

/// The replicated set.
pub(crate) struct SetState<T> {
    pub(crate) set: HashSet<T>,
    /// The elements in `set`'s iteration order, for snapshot ranges that
    /// start past the first item (`collections/order.rs`). Every change to
    /// `set` calls `order.changed()` first.
    order: Order<T>,
}

impl<T: Clone> Clone for SetState<T> {
    fn clone(&self) -> Self {
        Self {
            set: self.set.clone(),
            order: self.order.clone(),
        }
    }
}

impl<T> Default for SetState<T> {
    fn default() -> Self {
        Self {
            set: HashSet::default(),
            order: Order::default(),
        }
    }
}

impl<T: Key> CollectionState for SetState<T> {
    type Command = SetCommand<T>;
    type Item = Encoded<T>;
    const KIND: &'static str = "set";
    const SIZE_METRIC: &'static str = "mosaik.collections.set.size";

    fn apply(&mut self, command: SetCommand<T>) {
        self.order.changed();
        match command {
            SetCommand::Clear => self.set.clear(),
            SetCommand::Insert(value) => {
                self.set.insert(value.0);
            }
            SetCommand::RemoveMany(values) => {
                for value in values {
                    self.set.remove(&value.0);
                }
            }
            SetCommand::Extend(values) => {
                for value in values {
                    self.set.insert(value.0);
                }
            }
        }
    }

    fn len(&self) -> u64 {
        self.set.len() as u64
    }

    fn items_from(&self, skip: usize) -> impl Iterator<Item = Encoded<T>> + '_ {
        self.values_from(skip).cloned().map(Encoded)
    }

    fn encode_from(
        &self,
        skip: usize,
        take: usize,
        each: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<(), EncodeItemError> {
        // The item `Encoded<T>`, written from a reference.
        encode_each(self.values_from(skip).take(take), append_encoded, each)
    }

    fn push_item(&mut self, item: Encoded<T>) {
        self.order.changed();
        self.set.insert(item.0);
    }
}

impl<T: Key> SetState<T> {
    /// The values after the first `skip`, in the set's walk order.
    fn values_from(&self, skip: usize) -> impl Iterator<Item = &T> + '_ {
        // From the start a plain walk; past it, the written-down order (no
        // walk over the skipped part).
        let (walk, ordered) = if skip == 0 {
            (Some(self.set.iter()), None)
        } else {
            let order = self.order.keys(|| self.set.iter().cloned().collect());
            (None, Some(order.get(skip..).unwrap_or_default()))
        };
        walk.into_iter()
            .flatten()
            .chain(ordered.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        let mut s = SetState::<u8>::default();
        s.apply(SetCommand::Extend(vec![Encoded(1), Encoded(2), Encoded(2)]));
        s.apply(SetCommand::Insert(Encoded(3)));
        assert_eq!(s.len(), 3);
        s.apply(SetCommand::RemoveMany(vec![Encoded(1), Encoded(9)]));
        assert!(!s.set.contains(&1) && s.set.contains(&2));
        s.apply(SetCommand::Clear);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn ranges_past_the_start_follow_the_walk_and_see_changes() {
        fn read(state: &SetState<u32>, from: usize) -> std::vec::Vec<u32> {
            state.items_from(from).map(|e| e.0).collect()
        }
        let mut live = SetState::<u32>::default();
        live.apply(SetCommand::Extend((0..300).map(Encoded).collect()));
        let held = live.clone();
        let walk = read(&held, 0);
        assert_eq!(read(&held.clone(), 120), walk[120..]);
        live.apply(SetCommand::RemoveMany(vec![Encoded(walk[200])]));
        let live_walk = read(&live, 0);
        assert_eq!(live_walk.len(), 299);
        assert_eq!(read(&live, 120), live_walk[120..]);
        assert_eq!(read(&held, 120), walk[120..]);
    }
}
