//! `Once` state: the first committed write wins.

use {
    super::{Value, machine::CollectionState},
    crate::primitives::{Datum, Encoded},
    serde::{Deserialize, Serialize},
};

/// Log entries of a `Once` (SPEC §2.4, without the snapshot marker).
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum OnceCommand<T: Datum> {
    Write(Encoded<T>),
}

/// The replicated write-once value.
pub(crate) struct OnceState<T> {
    pub(crate) value: Option<T>,
}

impl<T: Clone> Clone for OnceState<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
        }
    }
}

impl<T> Default for OnceState<T> {
    fn default() -> Self {
        Self { value: None }
    }
}

impl<T: Value> CollectionState for OnceState<T> {
    type Command = OnceCommand<T>;
    type Item = Encoded<T>;
    const KIND: &'static str = "once";
    const SIZE_METRIC: &'static str = "mosaik.collections.once.size";

    fn apply(&mut self, OnceCommand::Write(value): OnceCommand<T>) {
        // Later writes commit but change nothing.
        if self.value.is_none() {
            self.value = Some(value.0);
        }
    }

    fn len(&self) -> u64 {
        u64::from(self.value.is_some())
    }

    fn items_from(&self, skip: usize) -> impl Iterator<Item = Encoded<T>> + '_ {
        self.value.iter().skip(skip).cloned().map(Encoded)
    }

    fn push_item(&mut self, item: Encoded<T>) {
        self.value = Some(item.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_write_wins() {
        let mut s = OnceState::<u8>::default();
        s.apply(OnceCommand::Write(Encoded(1)));
        s.apply(OnceCommand::Write(Encoded(2)));
        assert_eq!(s.value, Some(1));
    }
}
