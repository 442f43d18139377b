//! [`LogState`]: the in-memory view of the log — base, hard state and where
//! each live entry's bytes sit on disk.
//!
//! Writers and recovery apply the same operations, so the state after a
//! reopen is by construction the state before it. Entry bytes stay on disk;
//! memory holds 24 bytes per entry.

use std::collections::VecDeque;

/// Where one entry's bytes are: segment, file offset, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) seg: u64,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// Base, hard state and the locations of the entries after the base.
///
/// Invariant outside recovery: `first == base + 1` (entries are contiguous
/// after the base). Recovery may start from a segment whose predecessors
/// were deleted; its checkpoint then says the next entry is `next > base +
/// 1` and the entries in between (which lived in the deleted segments) form a
/// *hole* that a later prune or reset must close — see [`LogState::has_hole`].
#[derive(Debug, Clone)]
pub(crate) struct LogState {
    pub(crate) base: u64,
    pub(crate) base_meta: Vec<u8>,
    pub(crate) hard_state: Option<Vec<u8>>,
    /// Index of `locs[0]` (or of the next entry when `locs` is empty).
    first: u64,
    locs: VecDeque<Loc>,
}

impl Default for LogState {
    fn default() -> Self {
        Self {
            base: 0,
            base_meta: Vec::new(),
            hard_state: None,
            first: 1,
            locs: VecDeque::new(),
        }
    }
}

impl LogState {
    /// State as a segment's checkpoint describes it, entries before `next`
    /// not (yet) known.
    pub(crate) fn from_checkpoint(
        base: u64,
        base_meta: &[u8],
        next: u64,
        hard_state: Option<&[u8]>,
    ) -> Self {
        Self {
            base,
            base_meta: base_meta.to_vec(),
            hard_state: hard_state.map(<[u8]>::to_vec),
            first: next,
            locs: VecDeque::new(),
        }
    }

    /// The last index held (the base when no entry is).
    pub(crate) fn last(&self) -> u64 {
        self.first + self.locs.len() as u64 - 1
    }

    /// The index of the first entry known (`base + 1` outside recovery).
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// True while entries between the base and the first known entry are
    /// missing (only during recovery).
    pub(crate) fn has_hole(&self) -> bool {
        self.first != self.base + 1
    }

    /// Where entry `index` is, if held.
    pub(crate) fn get(&self, index: u64) -> Option<Loc> {
        let offset = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.locs.get(offset).copied()
    }

    /// The segment of the oldest live entry: segments before it hold nothing
    /// that is still needed.
    pub(crate) fn oldest_segment(&self) -> Option<u64> {
        self.locs.front().map(|loc| loc.seg)
    }

    /// Appends the next entry.
    pub(crate) fn push(&mut self, loc: Loc) {
        self.locs.push_back(loc);
    }

    /// Drops entries at `from` and after; `base < from <= last + 1`.
    pub(crate) fn truncate_from(&mut self, from: u64) -> Result<(), &'static str> {
        if from <= self.base || from > self.last() + 1 {
            return Err("truncation point outside the log");
        }
        if let Some(keep) = from.checked_sub(self.first) {
            self.locs
                .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
        } else {
            // Inside the recovery hole: everything known goes.
            self.locs.clear();
            self.first = from;
        }
        Ok(())
    }

    /// Drops entries up to `index`, which becomes the base; `base < index <= last`.
    pub(crate) fn prune_to(&mut self, index: u64, base_meta: &[u8]) -> Result<(), &'static str> {
        if index <= self.base || index > self.last() {
            return Err("prune point outside the log");
        }
        if let Some(drop) = (index + 1).checked_sub(self.first) {
            self.locs.drain(
                ..usize::try_from(drop)
                    .unwrap_or(usize::MAX)
                    .min(self.locs.len()),
            );
            self.first = index + 1;
        }
        self.base = index;
        base_meta.clone_into(&mut self.base_meta);
        Ok(())
    }

    /// Drops every entry; the log restarts after `index`.
    pub(crate) fn reset_to(&mut self, index: u64, base_meta: &[u8]) {
        self.locs.clear();
        self.base = index;
        self.first = index + 1;
        base_meta.clone_into(&mut self.base_meta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(seg: u64) -> Loc {
        Loc {
            seg,
            offset: 0,
            len: 0,
        }
    }

    #[test]
    fn truncate_prune_reset_keep_indexes_stable() {
        let mut s = LogState::default();
        for seg in [1, 1, 2, 2, 3] {
            s.push(loc(seg));
        }
        assert_eq!(s.last(), 5);
        s.truncate_from(5).unwrap();
        assert_eq!(s.last(), 4);
        s.prune_to(2, b"m").unwrap();
        assert_eq!((s.base, s.last(), s.get(3).map(|l| l.seg)), (2, 4, Some(2)));
        assert_eq!(s.get(2), None);
        assert_eq!(s.oldest_segment(), Some(2));
        assert!(s.prune_to(9, b"").is_err());
        assert!(s.truncate_from(2).is_err());
        s.reset_to(10, b"r");
        assert_eq!((s.base, s.last(), s.oldest_segment()), (10, 10, None));
        assert!(!s.has_hole());
    }

    #[test]
    fn a_recovery_hole_closes_only_by_prune_or_reset() {
        // Segment checkpoint: base 0, next entry 11 (1..=10 were in deleted segments).
        let mut s = LogState::from_checkpoint(0, b"", 11, None);
        assert!(s.has_hole());
        s.push(loc(4));
        s.truncate_from(8).unwrap(); // rewrites inside the hole
        s.push(loc(4));
        assert_eq!((s.last(), s.has_hole()), (8, true));
        s.prune_to(7, b"").unwrap();
        assert_eq!((s.base, s.last(), s.has_hole()), (7, 8, false));
        assert_eq!(s.get(8).map(|l| l.seg), Some(4));
    }
}
