//! [`InlineList`]: a short list stored inline, behind [`CommitRecords`](crate::CommitRecords)
//! and [`PrunedTerms`](crate::PrunedTerms).
//!
//! Both travel inside every [`HardState`](crate::HardState) by value, which stays `Copy`; both
//! are read back from disk, so decoding refuses a list longer than the bound before storing
//! an item past it.

use core::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

/// Up to `N` items in order, stored inline; serialised as a sequence of the items in use.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct InlineList<T, const N: usize> {
    len: u8,
    items: [T; N],
}

impl<T: Copy, const N: usize> InlineList<T, N> {
    /// No items; `fill` only occupies the unused slots.
    pub(crate) const fn new(fill: T) -> Self {
        InlineList {
            len: 0,
            items: [fill; N],
        }
    }

    /// The last `N` of `items`.
    pub(crate) fn from_slice(fill: T, items: &[T]) -> Self {
        let kept = &items[items.len().saturating_sub(N)..];
        let mut out = Self::new(fill);
        out.items[..kept.len()].copy_from_slice(kept);
        out.len = u8::try_from(kept.len()).unwrap_or(u8::MAX);
        out
    }
}

impl<T, const N: usize> InlineList<T, N> {
    /// The items in use, in order.
    pub(crate) fn as_slice(&self) -> &[T] {
        &self.items[..usize::from(self.len)]
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for InlineList<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Serialize, const N: usize> Serialize for InlineList<T, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(usize::from(self.len)))?;
        for item in self.as_slice() {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

/// Decodes an [`InlineList`] whose unused slots hold `fill`.
pub(crate) struct InlineVisitor<T, const N: usize> {
    fill: T,
    what: &'static str,
}

impl<T, const N: usize> InlineVisitor<T, N> {
    /// A visitor for a list of at most `N` `what`s.
    pub(crate) const fn new(fill: T, what: &'static str) -> Self {
        InlineVisitor { fill, what }
    }
}

impl<'de, T: Copy + Deserialize<'de>, const N: usize> Visitor<'de> for InlineVisitor<T, N> {
    type Value = InlineList<T, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {N} {}", self.what)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = InlineList::new(self.fill);
        while let Some(item) = seq.next_element::<T>()? {
            let slot = out
                .items
                .get_mut(usize::from(out.len))
                .ok_or_else(|| de::Error::invalid_length(N + 1, &self))?;
            *slot = item;
            out.len += 1;
        }
        Ok(out)
    }
}
