//! Log positions of the public API: [`Index`], [`Term`], [`Cursor`].
//!
//! The engine (`mosaik-raft`) uses *ballot* terms `(round, owner)` so that
//! two sides of a dynamic-mode partition never create different entries
//! with the same term. The public API keeps mosaik's plain `u64` terms: a
//! public [`Term`] is the ballot's **round**. Within one round only one
//! leader can exist except during a dynamic-mode split brain, so the round
//! is what users reason about; the owner is an engine detail.

use {
    core::{
        fmt,
        ops::{Add, AddAssign, RangeInclusive, Sub},
    },
    serde::{Deserialize, Serialize},
};

macro_rules! position {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        pub struct $name(pub u64);

        impl $name {
            /// The zero value (the empty-log sentinel).
            pub const fn zero() -> Self {
                Self(0)
            }

            /// One.
            pub const fn one() -> Self {
                Self(1)
            }

            /// The previous value (saturating at zero).
            #[must_use]
            pub const fn prev(self) -> Self {
                Self(self.0.saturating_sub(1))
            }

            /// The next value.
            #[must_use]
            pub const fn next(self) -> Self {
                Self(self.0.saturating_add(1))
            }

            /// Absolute distance between two values.
            pub const fn distance(self, other: Self) -> u64 {
                self.0.abs_diff(other.0)
            }

            /// The raw number.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                Self(value)
            }
        }

        impl From<$name> for u64 {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl Add<u64> for $name {
            type Output = Self;
            fn add(self, rhs: u64) -> Self {
                Self(self.0.saturating_add(rhs))
            }
        }

        impl AddAssign<u64> for $name {
            fn add_assign(&mut self, rhs: u64) {
                self.0 = self.0.saturating_add(rhs);
            }
        }

        impl Sub<u64> for $name {
            type Output = Self;
            fn sub(self, rhs: u64) -> Self {
                Self(self.0.saturating_sub(rhs))
            }
        }

        impl PartialEq<u64> for $name {
            fn eq(&self, other: &u64) -> bool {
                self.0 == *other
            }
        }

        impl PartialOrd<u64> for $name {
            fn partial_cmp(&self, other: &u64) -> Option<core::cmp::Ordering> {
                Some(self.0.cmp(other))
            }
        }

        /// `range.start() == 3`: a reference compares with an integer too.
        impl PartialEq<u64> for &$name {
            fn eq(&self, other: &u64) -> bool {
                self.0 == *other
            }
        }

        impl PartialOrd<u64> for &$name {
            fn partial_cmp(&self, other: &u64) -> Option<core::cmp::Ordering> {
                Some(self.0.cmp(other))
            }
        }

        impl PartialEq<$name> for u64 {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialOrd<$name> for u64 {
            fn partial_cmp(&self, other: &$name) -> Option<core::cmp::Ordering> {
                Some(self.cmp(&other.0))
            }
        }
    };
}

position! {
    /// A log index; 0 is the empty-log sentinel, the first entry is 1.
    Index
}

position! {
    /// A term: the election round of the leader that created an entry
    /// (the round of the engine's ballot term).
    Term
}

/// An inclusive range of log indexes.
pub type IndexRange = RangeInclusive<Index>;

/// A log position: term, then index. Ordered by term first (Raft's
/// "up-to-date" order).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor(pub Term, pub Index);

impl Cursor {
    /// A cursor at `term`, `index`.
    pub const fn new(term: Term, index: Index) -> Self {
        Self(term, index)
    }

    /// The zero cursor (empty log).
    pub const fn zero() -> Self {
        Self(Term(0), Index(0))
    }

    /// The term.
    pub const fn term(&self) -> Term {
        self.0
    }

    /// The index.
    pub const fn index(&self) -> Index {
        self.1
    }

    /// True if this position is strictly behind `other`.
    pub fn is_behind(&self, other: &Cursor) -> bool {
        self < other
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.1, self.0)
    }
}

/// Internal mapping from the engine's positions.
pub(crate) mod engine {
    use super::{Cursor, Index, Term};
    use crate::PeerId;

    pub(crate) fn index(index: mosaik_raft::Index) -> Index {
        Index(index.0)
    }

    pub(crate) fn term(term: mosaik_raft::Term<PeerId>) -> Term {
        Term(term.round())
    }

    pub(crate) fn cursor(cursor: mosaik_raft::Cursor<PeerId>) -> Cursor {
        Cursor(term(cursor.term), index(cursor.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_and_ordering() {
        assert_eq!(Index(3).prev(), Index(2));
        assert_eq!(Index(0).prev(), Index(0));
        assert_eq!(Index(3) + 2, Index(5));
        assert_eq!(Index(3).distance(Index(7)), 4);
        assert!(Index(3) > 2);
        assert!(&Index(3) == 3);
        assert!(&Index(3) > 2);
        assert!(3 == Index(3));
        let range = Index(2)..=Index(4);
        assert!(range.start() == 2 && range.end() == 4);
        assert!(Cursor(Term(2), Index(1)) > Cursor(Term(1), Index(9)));
        assert!(Cursor::zero().is_behind(&Cursor(Term(0), Index(1))));
    }
}
