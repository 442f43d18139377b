//! [`Set`]: a replicated unordered set (SPEC §1.6).

use {
    super::{
        Error, Key, Version, handle_common,
        set_state::{SetCommand, SetState},
        shared::Core,
    },
    crate::primitives::Encoded,
    core::{borrow::Borrow, hash::Hash},
    std::sync::Arc,
};

/// A replicated set of `T`.
pub struct Set<T: Key, const IS_WRITER: bool = true> {
    core: Arc<Core<SetState<T>>>,
}

/// A set handle that can write.
pub type SetWriter<T> = Set<T, true>;
/// A set handle that only reads.
pub type SetReader<T> = Set<T, false>;

handle_common!(Set [T: Key] [T] SetState<T>);

impl<T: Key, const IS_WRITER: bool> Set<T, IS_WRITER> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.core.read(|s| s.set.len())
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.core.read(|s| s.set.is_empty())
    }

    /// True if `value` is present.
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.core.read(|s| s.set.contains(value))
    }

    /// True if every element of this set is in `other` (local replicas).
    pub fn is_subset<const W: bool>(&self, other: &Set<T, W>) -> bool {
        let other = other.core.state();
        self.core.read(|s| s.set.is_subset(&other.set))
    }

    /// All elements, in the replicas' common (hash) order.
    pub fn iter(&self) -> impl Iterator<Item = T> + use<T, IS_WRITER> {
        self.core.state().set.into_iter()
    }
}

impl<T: Key> Set<T, true> {
    /// Adds `value`.
    pub async fn insert(&self, value: T) -> Result<Version, Error<T>> {
        self.core
            .write(SetCommand::Insert(Encoded(value)), |c| match c {
                SetCommand::Insert(v) => Some(v.0),
                _ => None,
            })
            .await
    }

    /// Adds all `values`. Empty input resolves at once.
    pub async fn extend(
        &self,
        values: impl IntoIterator<Item = T>,
    ) -> Result<Version, Error<std::vec::Vec<T>>> {
        let values: std::vec::Vec<_> = values.into_iter().map(Encoded).collect();
        if values.is_empty() {
            return Ok(self.version());
        }
        self.core
            .write(SetCommand::Extend(values), |c| match c {
                SetCommand::Extend(v) => Some(v.into_iter().map(|e| e.0).collect()),
                _ => None,
            })
            .await
    }

    /// Removes `value` (a committed no-op if absent).
    pub async fn remove(&self, value: &T) -> Result<Version, Error<T>> {
        self.core
            .write(
                SetCommand::RemoveMany(vec![Encoded(value.clone())]),
                |c| match c {
                    SetCommand::RemoveMany(mut v) => v.pop().map(|e| e.0),
                    _ => None,
                },
            )
            .await
    }

    /// Removes all `values`. Empty input resolves at once.
    pub async fn remove_many(
        &self,
        values: impl IntoIterator<Item = T>,
    ) -> Result<Version, Error<std::vec::Vec<T>>> {
        let values: std::vec::Vec<_> = values.into_iter().map(Encoded).collect();
        if values.is_empty() {
            return Ok(self.version());
        }
        self.core
            .write(SetCommand::RemoveMany(values), |c| match c {
                SetCommand::RemoveMany(v) => Some(v.into_iter().map(|e| e.0).collect()),
                _ => None,
            })
            .await
    }

    /// Removes every element.
    pub async fn clear(&self) -> Result<Version, Error<()>> {
        self.core.write(SetCommand::Clear, |_| Some(())).await
    }
}
