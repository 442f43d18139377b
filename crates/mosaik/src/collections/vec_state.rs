//! `Vec` state: an `imbl` vector and its commands. Every index command is
//! a committed no-op when out of range (SPEC C3: never a panic).

use {
    super::{Value, machine::CollectionState},
    crate::{
        groups::{EncodeItemError, encode_each},
        primitives::{Datum, Encoded, encoding::append_encoded},
    },
    core::ops::ControlFlow,
    serde::{Deserialize, Serialize},
};

/// Log entries of a `Vec` (SPEC §2.4, without the snapshot marker).
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum VecCommand<T: Datum> {
    Clear,
    Swap { i: u64, j: u64 },
    Insert { index: u64, value: Encoded<T> },
    PushBack(Encoded<T>),
    PushFront(Encoded<T>),
    PopBack,
    PopFront,
    Remove { index: u64 },
    Truncate { len: u64 },
    Extend { entries: std::vec::Vec<Encoded<T>> },
}

/// The replicated vector.
pub(crate) struct VecState<T: Clone> {
    pub(crate) items: imbl::Vector<T>,
}

impl<T: Clone> Clone for VecState<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

impl<T: Clone> Default for VecState<T> {
    fn default() -> Self {
        Self {
            items: imbl::Vector::new(),
        }
    }
}

impl<T: Clone> VecState<T> {
    /// `index` as a position inside the vector (`len` allowed if `end`).
    fn position(&self, index: u64, end: bool) -> Option<usize> {
        let index = usize::try_from(index).ok()?;
        let len = self.items.len();
        (index < len || (end && index == len)).then_some(index)
    }
}

impl<T: Value> CollectionState for VecState<T> {
    type Command = VecCommand<T>;
    type Item = Encoded<T>;
    const KIND: &'static str = "vec";
    const SIZE_METRIC: &'static str = "mosaik.collections.vec.size";

    fn apply(&mut self, command: VecCommand<T>) {
        match command {
            VecCommand::Clear => self.items.clear(),
            VecCommand::Swap { i, j } => {
                if let (Some(i), Some(j)) = (self.position(i, false), self.position(j, false)) {
                    self.items.swap(i, j);
                }
            }
            VecCommand::Insert { index, value } => {
                if let Some(index) = self.position(index, true) {
                    self.items.insert(index, value.0);
                }
            }
            VecCommand::PushBack(value) => self.items.push_back(value.0),
            VecCommand::PushFront(value) => self.items.push_front(value.0),
            VecCommand::PopBack => {
                self.items.pop_back();
            }
            VecCommand::PopFront => {
                self.items.pop_front();
            }
            VecCommand::Remove { index } => {
                if let Some(index) = self.position(index, false) {
                    self.items.remove(index);
                }
            }
            VecCommand::Truncate { len } => {
                if let Some(len) = self.position(len, false) {
                    self.items.truncate(len);
                }
            }
            VecCommand::Extend { entries } => self.items.extend(entries.into_iter().map(|e| e.0)),
        }
    }

    fn len(&self) -> u64 {
        self.items.len() as u64
    }

    fn items_from(&self, skip: usize) -> impl Iterator<Item = Encoded<T>> + '_ {
        // `skip` splits the persistent vector in O(log n); iterating and
        // skipping walked every item before the range.
        self.items
            .skip(skip.min(self.items.len()))
            .into_iter()
            .map(Encoded)
    }

    fn encode_from(
        &self,
        skip: usize,
        take: usize,
        each: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) -> Result<(), EncodeItemError> {
        // The item `Encoded<T>`, written from a reference.
        let tail = self.items.skip(skip.min(self.items.len()));
        encode_each(tail.iter().take(take), append_encoded, each)
    }

    fn push_item(&mut self, item: Encoded<T>) {
        self.items.push_back(item.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(values: &[u32]) -> VecState<u32> {
        let mut state = VecState::default();
        state.apply(VecCommand::Extend {
            entries: values.iter().copied().map(Encoded).collect(),
        });
        state
    }

    fn values(state: &VecState<u32>) -> std::vec::Vec<u32> {
        state.items.iter().copied().collect()
    }

    #[test]
    fn out_of_range_commands_are_no_ops() {
        let mut s = state(&[1, 2, 3]);
        s.apply(VecCommand::Insert {
            index: 4,
            value: Encoded(9),
        });
        s.apply(VecCommand::Insert {
            index: u64::MAX,
            value: Encoded(9),
        });
        s.apply(VecCommand::Remove { index: 3 });
        s.apply(VecCommand::Swap { i: 0, j: 3 });
        s.apply(VecCommand::Truncate { len: 3 });
        s.apply(VecCommand::Truncate { len: 7 });
        assert_eq!(values(&s), [1, 2, 3]);
        let mut empty = state(&[]);
        empty.apply(VecCommand::PopBack);
        empty.apply(VecCommand::PopFront);
        assert_eq!(empty.len(), 0);
    }

    #[test]
    fn in_range_commands() {
        let mut s = state(&[1, 2, 3]);
        s.apply(VecCommand::Insert {
            index: 3,
            value: Encoded(4),
        });
        s.apply(VecCommand::Insert {
            index: 0,
            value: Encoded(0),
        });
        assert_eq!(values(&s), [0, 1, 2, 3, 4]);
        s.apply(VecCommand::Swap { i: 0, j: 4 });
        s.apply(VecCommand::Remove { index: 1 });
        assert_eq!(values(&s), [4, 2, 3, 0]);
        s.apply(VecCommand::PushFront(Encoded(7)));
        s.apply(VecCommand::PopBack);
        s.apply(VecCommand::Truncate { len: 2 });
        assert_eq!(values(&s), [7, 4]);
    }
}
