//! `Order`: a hash collection's iteration order, kept so a snapshot range
//! can start in the middle without walking from the start.
//!
//! A snapshot is served in ranges (`fetch_batch_size` items each), every
//! range from a fresh read of the held snapshot. `imbl`'s hash maps and
//! sets can only be walked from their first item, so range `k` cost a walk
//! over all items before it: quadratic in the snapshot's size, and the
//! largest single cost of a 100,000-entry catch-up (24 % of its CPU in the
//! B6 profile). A cursor kept between ranges would borrow the snapshot, so
//! instead the first range read past the start writes down the keys in
//! iteration order, and every later range looks its keys up.
//!
//! The keys are shared by every clone of one state (held snapshots are O(1)
//! clones, and each served range reads another clone), and dropped by the
//! first change to a state that shares them or has them: a state changed
//! after a clone was taken never reads the clone's order. Memory: one copy
//! of the keys per held snapshot that was served past its first range (a
//! member holds at most four).

use std::sync::{Arc, OnceLock};

/// The iteration order of one unchanged hash collection, built on first
/// use (see the module docs).
pub(crate) struct Order<K>(Arc<OnceLock<Vec<K>>>);

impl<K> Default for Order<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K> Clone for Order<K> {
    /// Shares the order: a clone holds the same items.
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K> Order<K> {
    /// The collection is about to change: an order built for (or shared
    /// with) the unchanged items no longer applies. Cheap when nothing is
    /// shared or built (the common case for every write after the first
    /// one following a snapshot).
    pub(crate) fn changed(&mut self) {
        if Arc::strong_count(&self.0) > 1 || self.0.get().is_some() {
            self.0 = Arc::default();
        }
    }

    /// The keys in iteration order, from `build` on the first call after a
    /// change. Concurrent first calls (two ranges served at once) build it
    /// once; the other waits.
    pub(crate) fn keys(&self, build: impl FnOnce() -> Vec<K>) -> &[K] {
        self.0.get_or_init(build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_once_shared_by_clones_and_dropped_by_a_change() {
        let mut live = Order::<u32>::default();
        let mut builds = 0;
        live.changed();
        let held = live.clone();
        let served = held.clone();
        assert_eq!(
            served.keys(|| {
                builds += 1;
                vec![3, 1, 2]
            }),
            &[3, 1, 2]
        );
        // Another clone of the held state reads the same order, unbuilt.
        assert_eq!(held.keys(|| unreachable!("built already")), &[3, 1, 2]);
        assert_eq!(builds, 1);
        // The live state changes: it must not read the held order.
        live.changed();
        assert_eq!(live.keys(|| vec![9]), &[9]);
        assert_eq!(held.keys(|| unreachable!()), &[3, 1, 2]);
        // Built on the live state itself, then changed again: rebuilt.
        live.changed();
        assert_eq!(live.keys(|| vec![4, 5]), &[4, 5]);
    }
}
