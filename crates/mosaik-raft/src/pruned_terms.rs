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
use core::marker::PhantomData;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::records::MAX_COMMIT_RECORDS;
use crate::types::{Index, Term};

/// Up to [`MAX_COMMIT_RECORDS`] `(index, term)` pairs, ascending by index: the term of the entry
/// at a commit record position at or below the log's base. Stored inline, so a
/// [`HardState`](crate::HardState) stays `Copy`; serialised as a sequence of the pairs in use
/// and refused when longer than the bound.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrunedTerms<Id> {
    len: u8,
    items: [(Index, Term<Id>); MAX_COMMIT_RECORDS],
}

impl<Id: Copy> PrunedTerms<Id> {
    /// None known.
    pub const fn new() -> Self {
        PrunedTerms {
            len: 0,
            items: [(Index::ZERO, Term::zero()); MAX_COMMIT_RECORDS],
        }
    }

    /// The last [`MAX_COMMIT_RECORDS`] of `terms` (ascending by index).
    pub fn from_slice(terms: &[(Index, Term<Id>)]) -> Self {
        let kept = &terms[terms.len().saturating_sub(MAX_COMMIT_RECORDS)..];
        let mut out = Self::new();
        out.items[..kept.len()].copy_from_slice(kept);
        out.len = u8::try_from(kept.len()).unwrap_or(u8::MAX);
        out
    }
}

impl<Id> PrunedTerms<Id> {
    /// The pairs in use, ascending by index.
    pub fn as_slice(&self) -> &[(Index, Term<Id>)] {
        &self.items[..usize::from(self.len)]
    }
}

impl<Id: Copy> Default for PrunedTerms<Id> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Id: fmt::Debug> fmt::Debug for PrunedTerms<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<Id: Serialize> Serialize for PrunedTerms<Id> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(usize::from(self.len)))?;
        for pair in self.as_slice() {
            seq.serialize_element(pair)?;
        }
        seq.end()
    }
}

impl<'de, Id: Copy + Deserialize<'de>> Deserialize<'de> for PrunedTerms<Id> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(TermsVisitor(PhantomData))
    }
}

struct TermsVisitor<Id>(PhantomData<Id>);

impl<'de, Id: Copy + Deserialize<'de>> Visitor<'de> for TermsVisitor<Id> {
    type Value = PrunedTerms<Id>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {MAX_COMMIT_RECORDS} pruned record terms")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PrunedTerms<Id>, A::Error> {
        let mut out = PrunedTerms::new();
        while let Some(pair) = seq.next_element::<(Index, Term<Id>)>()? {
            let slot = out
                .items
                .get_mut(usize::from(out.len))
                .ok_or_else(|| de::Error::invalid_length(MAX_COMMIT_RECORDS + 1, &self))?;
            *slot = pair;
            out.len += 1;
        }
        Ok(out)
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
