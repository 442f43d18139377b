//! `Cell` and `Once` state: zero or one value, and their commands.

use {
    super::{Value, machine::CollectionState, same_encoding},
    crate::primitives::{Datum, Encoded},
    serde::{Deserialize, Serialize},
};

/// Log entries of a `Cell` (SPEC §2.4, without the snapshot marker).
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum CellCommand<T: Datum> {
    Write(Encoded<T>),
    CompareExchange {
        current: Option<Encoded<T>>,
        new: Option<Encoded<T>>,
    },
    Clear,
}

/// The replicated cell.
pub(crate) struct CellState<T> {
    pub(crate) value: Option<T>,
}

impl<T: Clone> Clone for CellState<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
        }
    }
}

impl<T> Default for CellState<T> {
    fn default() -> Self {
        Self { value: None }
    }
}

impl<T: Value> CollectionState for CellState<T> {
    type Command = CellCommand<T>;
    type Item = Encoded<T>;
    const KIND: &'static str = "cell";
    const SIZE_METRIC: &'static str = "mosaik.collections.cell.size";

    fn apply(&mut self, command: CellCommand<T>) {
        match command {
            CellCommand::Write(value) => self.value = Some(value.0),
            CellCommand::CompareExchange { current, new } => {
                if same_encoding(self.value.as_ref(), current.as_deref()) {
                    self.value = new.map(|n| n.0);
                }
            }
            CellCommand::Clear => self.value = None,
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
    fn compare_exchange() {
        let mut s = CellState::<u8>::default();
        // None ↔ None is allowed (a no-op that matches).
        s.apply(CellCommand::CompareExchange {
            current: None,
            new: None,
        });
        assert_eq!(s.value, None);
        s.apply(CellCommand::CompareExchange {
            current: None,
            new: Some(Encoded(1)),
        });
        assert_eq!(s.value, Some(1));
        s.apply(CellCommand::CompareExchange {
            current: Some(Encoded(2)),
            new: Some(Encoded(3)),
        });
        assert_eq!(s.value, Some(1));
        s.apply(CellCommand::CompareExchange {
            current: Some(Encoded(1)),
            new: None,
        });
        assert_eq!(s.len(), 0);
        s.apply(CellCommand::Write(Encoded(5)));
        assert_eq!(s.items().count(), 1);
        s.apply(CellCommand::Clear);
        assert_eq!(s.value, None);
    }
}
