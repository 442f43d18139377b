//! [`Vec`]: a replicated ordered sequence (SPEC §1.6).

use {
    super::{
        Error, Value, Version, handle_common,
        machine::CollectionState,
        shared::Core,
        vec_state::{VecCommand, VecState},
    },
    crate::primitives::Encoded,
    std::sync::Arc,
};

/// A replicated vector of `T`. Index writes out of range are committed
/// no-ops on every replica (never a panic).
pub struct Vec<T: Value, const IS_WRITER: bool = true> {
    core: Arc<Core<VecState<T>>>,
}

/// A vector handle that can write.
pub type VecWriter<T> = Vec<T, true>;
/// A vector handle that only reads.
pub type VecReader<T> = Vec<T, false>;

handle_common!(Vec [T: Value] [T] VecState<T>);

impl<T: Value, const IS_WRITER: bool> Vec<T, IS_WRITER> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.core
            .read(|s| usize::try_from(CollectionState::len(s)).unwrap_or(usize::MAX))
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.core.read(|s| s.items.is_empty())
    }

    /// The last element.
    pub fn back(&self) -> Option<T> {
        self.core.read(|s| s.items.back().cloned())
    }

    /// Same as [`Self::back`].
    pub fn last(&self) -> Option<T> {
        self.back()
    }

    /// The first element.
    pub fn front(&self) -> Option<T> {
        self.core.read(|s| s.items.front().cloned())
    }

    /// Same as [`Self::front`].
    pub fn head(&self) -> Option<T> {
        self.front()
    }

    /// The element at `index`.
    pub fn get(&self, index: u64) -> Option<T> {
        let index = usize::try_from(index).ok()?;
        self.core.read(|s| s.items.get(index).cloned())
    }

    /// All elements in order, of the state at the time of the call.
    pub fn iter(&self) -> impl Iterator<Item = T> + use<T, IS_WRITER> {
        self.core.state().items.into_iter()
    }

    /// True if an element equals `value` (O(n)).
    pub fn contains(&self, value: &T) -> bool
    where
        T: PartialEq,
    {
        self.index_of(value).is_some()
    }

    /// The first position of `value` (O(n)).
    pub fn index_of(&self, value: &T) -> Option<u64>
    where
        T: PartialEq,
    {
        self.core
            .read(|s| s.items.iter().position(|v| v == value))
            .map(|i| i as u64)
    }
}

impl<T: Value> Vec<T, true> {
    async fn one(&self, command: VecCommand<T>) -> Result<Version, Error<()>> {
        self.core.write(command, |_| Some(())).await
    }

    async fn with_value(&self, command: VecCommand<T>) -> Result<Version, Error<T>> {
        self.core
            .write(command, |c| match c {
                VecCommand::PushBack(v) | VecCommand::PushFront(v) => Some(v.0),
                VecCommand::Insert { value, .. } => Some(value.0),
                _ => None,
            })
            .await
    }

    /// Appends `value`.
    pub async fn push_back(&self, value: T) -> Result<Version, Error<T>> {
        self.with_value(VecCommand::PushBack(Encoded(value))).await
    }

    /// Prepends `value`.
    pub async fn push_front(&self, value: T) -> Result<Version, Error<T>> {
        self.with_value(VecCommand::PushFront(Encoded(value))).await
    }

    /// Inserts `value` at `index`, shifting later elements right. Past the
    /// end it is a committed no-op (SPEC C3).
    pub async fn insert(&self, index: u64, value: T) -> Result<Version, Error<T>> {
        self.with_value(VecCommand::Insert {
            index,
            value: Encoded(value),
        })
        .await
    }

    /// Appends all `values`. Empty input resolves at once.
    pub async fn extend(
        &self,
        values: impl IntoIterator<Item = T>,
    ) -> Result<Version, Error<std::vec::Vec<T>>> {
        let entries: std::vec::Vec<_> = values.into_iter().map(Encoded).collect();
        if entries.is_empty() {
            return Ok(self.version());
        }
        self.core
            .write(VecCommand::Extend { entries }, |c| match c {
                VecCommand::Extend { entries } => Some(entries.into_iter().map(|e| e.0).collect()),
                _ => None,
            })
            .await
    }

    /// Removes the last element (no-op when empty).
    pub async fn pop_back(&self) -> Result<Version, Error<()>> {
        self.one(VecCommand::PopBack).await
    }

    /// Removes the first element (no-op when empty).
    pub async fn pop_front(&self) -> Result<Version, Error<()>> {
        self.one(VecCommand::PopFront).await
    }

    /// Removes the element at `index` (no-op if out of range).
    pub async fn remove(&self, index: u64) -> Result<Version, Error<()>> {
        self.one(VecCommand::Remove { index }).await
    }

    /// Swaps two elements (no-op if either is out of range).
    pub async fn swap(&self, i: u64, j: u64) -> Result<Version, Error<()>> {
        self.one(VecCommand::Swap { i, j }).await
    }

    /// Keeps the first `len` elements (no-op if `len` ≥ length).
    pub async fn truncate(&self, len: u64) -> Result<Version, Error<()>> {
        self.one(VecCommand::Truncate { len }).await
    }

    /// Removes every element.
    pub async fn clear(&self) -> Result<Version, Error<()>> {
        self.one(VecCommand::Clear).await
    }
}

#[cfg(feature = "runtime-sim")]
impl<T: Value> Vec<T, true> {
    /// A writer around a core built by the runtime simulation.
    pub(crate) fn from_core(core: Arc<Core<VecState<T>>>) -> Self {
        Self { core }
    }
}
