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

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::inline::{InlineList, InlineVisitor};
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
pub struct CommitRecords(InlineList<(Index, u64), MAX_COMMIT_RECORDS>);

/// What fills the unused slots.
const NO_RECORD: (Index, u64) = (Index::ZERO, 0);

impl CommitRecords {
    /// No records.
    pub const fn new() -> Self {
        CommitRecords(InlineList::new(NO_RECORD))
    }

    /// The last [`MAX_COMMIT_RECORDS`] of `records` (the engine never keeps more).
    pub fn from_slice(records: &[(Index, u64)]) -> Self {
        CommitRecords(InlineList::from_slice(NO_RECORD, records))
    }

    /// The records in use, oldest first.
    pub fn as_slice(&self) -> &[(Index, u64)] {
        self.0.as_slice()
    }

    /// True when there are none (a brand-new member, or a hard state written before records
    /// were persisted).
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl Default for CommitRecords {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CommitRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for CommitRecords {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CommitRecords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = InlineVisitor::new(NO_RECORD, "commit records");
        deserializer.deserialize_seq(visitor).map(CommitRecords)
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
