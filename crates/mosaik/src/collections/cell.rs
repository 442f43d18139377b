//! [`Cell`]: one replicated value, like a `watch` (SPEC §1.6).

use {
    super::{
        Error, Value, Version,
        cell_state::{CellCommand, CellState},
        handle_common,
        shared::Core,
    },
    crate::primitives::Encoded,
    std::sync::Arc,
};

/// A replicated optional value of `T`.
pub struct Cell<T: Value, const IS_WRITER: bool = true> {
    core: Arc<Core<CellState<T>>>,
}

/// A cell handle that can write.
pub type CellWriter<T> = Cell<T, true>;
/// A cell handle that only reads.
pub type CellReader<T> = Cell<T, false>;

handle_common!(Cell [T: Value] [T] CellState<T>);

impl<T: Value, const IS_WRITER: bool> Cell<T, IS_WRITER> {
    /// The value.
    pub fn read(&self) -> Option<T> {
        self.core.read(|s| s.value.clone())
    }

    /// Same as [`Self::read`].
    pub fn get(&self) -> Option<T> {
        self.read()
    }

    /// True when no value is set.
    pub fn is_empty(&self) -> bool {
        self.core.read(|s| s.value.is_none())
    }

    /// Same as [`Self::is_empty`].
    pub fn is_none(&self) -> bool {
        self.is_empty()
    }

    /// True when a value is set.
    pub fn is_some(&self) -> bool {
        !self.is_empty()
    }
}

impl<T: Value> Cell<T, true> {
    /// Replaces the value.
    pub async fn write(&self, value: T) -> Result<Version, Error<T>> {
        self.core
            .write(CellCommand::Write(Encoded(value)), |c| match c {
                CellCommand::Write(v) => Some(v.0),
                _ => None,
            })
            .await
    }

    /// Same as [`Self::write`].
    pub async fn set(&self, value: T) -> Result<Version, Error<T>> {
        self.write(value).await
    }

    /// Sets `new` (`None` clears) iff the value encodes to the same bytes
    /// as `current` (`None` = empty). A mismatch still commits.
    pub async fn compare_exchange(
        &self,
        current: Option<T>,
        new: Option<T>,
    ) -> Result<Version, Error<(Option<T>, Option<T>)>> {
        let command = CellCommand::CompareExchange {
            current: current.map(Encoded),
            new: new.map(Encoded),
        };
        self.core
            .write(command, |c| match c {
                CellCommand::CompareExchange { current, new } => {
                    Some((current.map(|c| c.0), new.map(|n| n.0)))
                }
                _ => None,
            })
            .await
    }

    /// Empties the cell.
    pub async fn clear(&self) -> Result<Version, Error<()>> {
        self.core.write(CellCommand::Clear, |_| Some(())).await
    }
}
