//! `SyncBytes`: the bytes of state-sync replies queued on one bond.
//!
//! A bond's outbound queue is bounded in messages ([`OUTBOUND_QUEUE`]), and a
//! state-sync reply can be megabytes (a log-replay batch takes up to a
//! quarter of the frame limit). A member that sends a thousand tiny fetch
//! requests for one range would make this node build, encode and queue a
//! thousand such replies: gigabytes, and seconds of the worker loop. So the
//! replies queued on one bond are counted in bytes and held to
//! [`MAX_QUEUED_SYNC_BYTES`]; a provider asks [`SyncBytes::has_room`] before
//! it builds a reply, and a reply over the budget is dropped like any
//! message a full queue refuses (the asker times out and asks again). One
//! reply always fits while none is queued, so a frame limit set above the
//! budget never stalls a catch-up.
//!
//! [`OUTBOUND_QUEUE`]: super::bond::OUTBOUND_QUEUE

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// Most bytes of state-sync replies queued on one bond at once (beyond the
/// one reply always allowed when none is queued). An honest catch-up keeps
/// one request in flight per peer; this leaves room for several.
pub(crate) const MAX_QUEUED_SYNC_BYTES: usize = 32 * 1024 * 1024;

/// Bytes of state-sync messages in one bond's outbound queue: taken by the
/// worker when it queues one, given back by the bond's writer when it takes
/// the message off the queue.
#[derive(Clone, Debug, Default)]
pub(crate) struct SyncBytes(Arc<AtomicUsize>);

impl SyncBytes {
    /// Whether another reply may be built now (under the budget).
    pub(crate) fn has_room(&self) -> bool {
        self.0.load(Ordering::Acquire) < MAX_QUEUED_SYNC_BYTES
    }

    /// Takes `len` bytes if they fit the budget, or if nothing is queued.
    pub(crate) fn try_take(&self, len: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                (queued == 0 || queued.saturating_add(len) <= MAX_QUEUED_SYNC_BYTES)
                    .then(|| queued.saturating_add(len))
            })
            .is_ok()
    }

    /// Gives back `len` bytes (the message left the queue, or never
    /// entered it).
    pub(crate) fn give_back(&self, len: usize) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                Some(queued.saturating_sub(len))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_held_to_the_budget_and_one_always_fits() {
        let bytes = SyncBytes::default();
        // Alone, even a reply larger than the budget goes.
        assert!(bytes.try_take(MAX_QUEUED_SYNC_BYTES + 1));
        assert!(!bytes.has_room());
        assert!(!bytes.try_take(1), "nothing more while it is queued");
        bytes.give_back(MAX_QUEUED_SYNC_BYTES + 1);
        assert!(bytes.has_room());

        // Many small ones: up to the budget, then refused.
        let chunk = 4 * 1024 * 1024;
        let fit = MAX_QUEUED_SYNC_BYTES / chunk;
        for _ in 0..fit {
            assert!(bytes.try_take(chunk));
        }
        assert!(!bytes.try_take(chunk), "over the budget");
        assert!(!bytes.has_room());
        // The writer takes one off the queue: room for one more.
        bytes.give_back(chunk);
        assert!(bytes.has_room());
        assert!(bytes.try_take(chunk));
        assert!(!bytes.try_take(chunk));
    }
}
