//! [`PrunedTerms`]: the terms of a member's entries at its commit record positions that its log
//! no longer holds.
//!
//! The merge rule compares two histories from the index where they split. A member whose log
//! was pruned to a snapshot cannot tell where a leader's log departs from its own below the
//! snapshot's base: it held entries there once and knows its commit records there, but not
//! which entries they were. It contested at the latest point the split can be, where the
//! leader's history may have committed little, and deposed leaders whose history outranks its
//! own at the real split, while those leaders' voters never elected it either (simulator,
//! dynamic 7-member seeds 48003534 and 48006640: no leader after the heal). Keeping the term of
//! the entry at each record position when the log prunes it lets a leader find, in a contest,
//! the last position both histories share (two logs holding an entry of the same term at an
//! index agree up to it).

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::inline::{InlineList, InlineVisitor};
use crate::records::MAX_COMMIT_RECORDS;
use crate::types::{Index, Term};

/// Up to [`MAX_COMMIT_RECORDS`] `(index, term)` pairs, ascending by index: the term of the entry
/// at a commit record position at or below the log's base. Stored inline, so a
/// [`HardState`](crate::HardState) stays `Copy`; serialised as a sequence of the pairs in use
/// and refused when longer than the bound.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrunedTerms<Id>(InlineList<(Index, Term<Id>), MAX_COMMIT_RECORDS>);

impl<Id: Copy> PrunedTerms<Id> {
    /// What fills the unused slots.
    const NONE: (Index, Term<Id>) = (Index::ZERO, Term::zero());

    /// None known.
    pub const fn new() -> Self {
        PrunedTerms(InlineList::new(Self::NONE))
    }

    /// The last [`MAX_COMMIT_RECORDS`] of `terms` (ascending by index).
    pub fn from_slice(terms: &[(Index, Term<Id>)]) -> Self {
        PrunedTerms(InlineList::from_slice(Self::NONE, terms))
    }
}

impl<Id> PrunedTerms<Id> {
    /// The pairs in use, ascending by index.
    pub fn as_slice(&self) -> &[(Index, Term<Id>)] {
        self.0.as_slice()
    }
}

impl<Id: Copy> Default for PrunedTerms<Id> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Id: fmt::Debug> fmt::Debug for PrunedTerms<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<Id: Serialize> Serialize for PrunedTerms<Id> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, Id: Copy + Deserialize<'de>> Deserialize<'de> for PrunedTerms<Id> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = InlineVisitor::new(Self::NONE, "pruned record terms");
        deserializer.deserialize_seq(visitor).map(PrunedTerms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(n: u64) -> Vec<(Index, Term<u8>)> {
        (1..=n)
            .map(|i| (Index::new(i * 10), Term::new(i, (i % 5) as u8)))
            .collect()
    }

    #[test]
    fn round_trips_what_it_holds() {
        for n in [0, 1, 5, MAX_COMMIT_RECORDS as u64] {
            let held = PrunedTerms::from_slice(&terms(n));
            assert_eq!(held.as_slice(), terms(n).as_slice());
            let bytes = postcard::to_allocvec(&held).unwrap();
            let back: PrunedTerms<u8> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, held);
        }
    }

    #[test]
    fn refuses_more_than_the_bound() {
        let too_many = terms(MAX_COMMIT_RECORDS as u64 + 1);
        let bytes = postcard::to_allocvec(&too_many).unwrap();
        let err = postcard::from_bytes::<PrunedTerms<u8>>(&bytes).unwrap_err();
        assert!(matches!(err, postcard::Error::SerdeDeCustom), "{err:?}");
    }
}
