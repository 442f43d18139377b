//! `Set` state: a fixed-seed `imbl` hash set and its commands.

use {
    super::{HashSet, Key, machine::CollectionState},
    crate::primitives::{Datum, Encoded},
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
}

impl<T: Clone> Clone for SetState<T> {
    fn clone(&self) -> Self {
        Self {
            set: self.set.clone(),
        }
    }
}

impl<T> Default for SetState<T> {
    fn default() -> Self {
        Self {
            set: HashSet::default(),
        }
    }
}

impl<T: Key> CollectionState for SetState<T> {
    type Command = SetCommand<T>;
    type Item = Encoded<T>;
    const KIND: &'static str = "set";
    const SIZE_METRIC: &'static str = "mosaik.collections.set.size";

    fn apply(&mut self, command: SetCommand<T>) {
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
        self.set.iter().skip(skip).cloned().map(Encoded)
    }

    fn push_item(&mut self, item: Encoded<T>) {
        self.set.insert(item.0);
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
}
