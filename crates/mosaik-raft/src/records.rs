//! [`CommitRecords`]: the commit records a member persists with its hard state.
//!
//! The dynamic-mode merge rule compares two histories by the largest number of voters that
//! backed anything from their first conflicting index on ([`CommittedRank::from_records`]).
//! Members used to persist only two of their records (the peak and the latest), so a member
//! restarted from its disk judged a shared prefix differently from one that never restarted,
//! and a contest's verdict then depended on which of them answered. Such verdicts are not
//! transitive: after heals with many restarts the histories took turns deposing each other and
//! the group never converged (simulator, dynamic 5-node seeds 15012887 and 15023231). Every
//! record is persisted now; a restart keeps what the member knew.
//!
//! [`CommittedRank::from_records`]: crate::CommittedRank::from_records

use core::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::types::Index;

/// Most commit records a member keeps: a new one starts only when the number of voters at a
/// commit changes, and beyond this the two oldest are merged, keeping the larger weight (a
/// conservative upward merge). Small, because the records travel inside every
/// [`HardState`](crate::HardState) by value.
pub const MAX_COMMIT_RECORDS: usize = 16;

/// Up to [`MAX_COMMIT_RECORDS`] commit records `(up to index, weight)`, oldest first. Stored
/// inline, so a [`HardState`](crate::HardState) stays `Copy`; serialised as a sequence of the
/// records in use, and refused when longer than the bound.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitRecords {
    len: u8,
    items: [(Index, u64); MAX_COMMIT_RECORDS],
}

impl CommitRecords {
    /// No records.
    pub const fn new() -> Self {
        CommitRecords {
            len: 0,
            items: [(Index::ZERO, 0); MAX_COMMIT_RECORDS],
        }
    }

    /// The last [`MAX_COMMIT_RECORDS`] of `records` (the engine never keeps more).
    pub fn from_slice(records: &[(Index, u64)]) -> Self {
        let kept = &records[records.len().saturating_sub(MAX_COMMIT_RECORDS)..];
        let mut out = Self::new();
        out.items[..kept.len()].copy_from_slice(kept);
        out.len = u8::try_from(kept.len()).unwrap_or(u8::MAX);
        out
    }

    /// The records in use, oldest first.
    pub fn as_slice(&self) -> &[(Index, u64)] {
        &self.items[..usize::from(self.len)]
    }

    /// True when there are none (a brand-new member, or a hard state written before records
    /// were persisted).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for CommitRecords {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CommitRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl Serialize for CommitRecords {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(usize::from(self.len)))?;
        for record in self.as_slice() {
            seq.serialize_element(record)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for CommitRecords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(RecordsVisitor)
    }
}

struct RecordsVisitor;

impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = CommitRecords;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {MAX_COMMIT_RECORDS} commit records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommitRecords, A::Error> {
        let mut out = CommitRecords::new();
        while let Some(record) = seq.next_element::<(Index, u64)>()? {
            let slot = out
                .items
                .get_mut(usize::from(out.len))
                .ok_or_else(|| de::Error::invalid_length(MAX_COMMIT_RECORDS + 1, &self))?;
            *slot = record;
            out.len += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: u64) -> Vec<(Index, u64)> {
        (1..=n).map(|i| (Index::new(i * 10), i % 3 + 1)).collect()
    }

    #[test]
    fn round_trips_what_it_holds() {
        for n in [0, 1, 5, MAX_COMMIT_RECORDS as u64] {
            let held = CommitRecords::from_slice(&records(n));
            assert_eq!(held.as_slice(), records(n).as_slice());
            let bytes = postcard::to_allocvec(&held).unwrap();
            let back: CommitRecords = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, held);
        }
    }

    #[test]
    fn keeps_the_newest_when_given_more() {
        let all = records(MAX_COMMIT_RECORDS as u64 + 3);
        let held = CommitRecords::from_slice(&all);
        assert_eq!(held.as_slice(), &all[3..]);
    }

    #[test]
    fn refuses_more_than_the_bound() {
        let too_many = records(MAX_COMMIT_RECORDS as u64 + 1);
        let bytes = postcard::to_allocvec(&too_many).unwrap();
        let err = postcard::from_bytes::<CommitRecords>(&bytes).unwrap_err();
        assert!(matches!(err, postcard::Error::SerdeDeCustom), "{err:?}");
    }
}
