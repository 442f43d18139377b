//! The read side of [`Wal`]: entries, base, hard state, snapshot.

use {
    super::Wal,
    crate::{
        error::WalError,
        snapshot::{Snapshot, SnapshotInfo},
        state::Loc,
    },
    std::{
        ops::{Bound, RangeBounds},
        path::Path,
    },
};

impl Wal {
    /// The stored snapshot's index and metadata.
    pub fn snapshot(&self) -> Option<&SnapshotInfo> {
        self.snapshots.info()
    }

    /// Reads the stored snapshot back (checksums verified).
    pub fn load_snapshot(&self) -> Result<Option<Snapshot>, WalError> {
        self.snapshots.load()
    }

    /// The base: the index before the first entry and its metadata.
    pub fn base(&self) -> (u64, &[u8]) {
        (self.state.base, &self.state.base_meta)
    }

    /// The first entry's index (`base + 1`; past `last_index` when empty).
    pub fn first_index(&self) -> u64 {
        self.state.base + 1
    }

    /// The last entry's index (the base's when empty).
    pub fn last_index(&self) -> u64 {
        self.state.last()
    }

    /// The newest hard state.
    pub fn hard_state(&self) -> Option<&[u8]> {
        self.state.hard_state.as_deref()
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry at `index`, if held.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, WalError> {
        self.state.get(index).map(|loc| self.read(loc)).transpose()
    }

    /// The held entries in `range`, in order (indexes outside the log are skipped).
    pub fn entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<(u64, Vec<u8>)>, WalError> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(self.first_index());
        let end = match range.end_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_sub(1),
            Bound::Unbounded => u64::MAX,
        }
        .min(self.last_index());
        (start..=end)
            .map(|index| {
                let loc = self.state.get(index).expect("inside the log");
                Ok((index, self.read(loc)?))
            })
            .collect()
    }

    fn read(&self, loc: Loc) -> Result<Vec<u8>, WalError> {
        let front = self
            .segments
            .front()
            .expect("a log always has a segment")
            .seq;
        let at = usize::try_from(loc.seg - front).expect("segment index fits usize");
        self.segments[at].read(loc)
    }
}
