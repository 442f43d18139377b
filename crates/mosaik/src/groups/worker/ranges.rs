//! One thread per held snapshot that peers fetch, answering their range
//! requests in turn through `StateSync::serve_ranges`, so the strategy
//! keeps its place in the snapshot between ranges (see `sync::ranges`:
//! read from the start for each range, serving a 100,000-item map walked
//! it 50 times).

use {
    crate::groups::{RangeRequest, StateMachine, StateSync},
    core::sync::atomic::{AtomicUsize, Ordering},
    std::sync::{
        Arc,
        mpsc::{SyncSender, TrySendError, sync_channel},
    },
};

/// Ranges served off the worker loop at once, per group: queued for a
/// snapshot's thread, being encoded, or encoded and waiting for room in
/// the requester's bond queue. Beyond them the worker encodes a range
/// inline and drops the reply if the bond queue is full, which bounds the
/// memory a peer that fetches and never reads can hold (4 MiB a batch).
pub(super) const MAX_SERVING: usize = 4;

/// One of the group's [`MAX_SERVING`] places, given back when dropped
/// (the reply was sent, or the request was dropped unanswered).
pub(super) struct ServingSlot(Arc<AtomicUsize>);

impl ServingSlot {
    /// A place, if one of the group's `serving` is free.
    pub(super) fn take(serving: &Arc<AtomicUsize>) -> Option<Self> {
        if serving.fetch_add(1, Ordering::AcqRel) < MAX_SERVING {
            Some(Self(serving.clone()))
        } else {
            serving.fetch_sub(1, Ordering::AcqRel);
            None
        }
    }
}

impl Drop for ServingSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The sending side of a held snapshot's serving thread. The thread ends
/// when this is dropped (with the held snapshot) and its queue drains.
pub(super) struct RangeServer {
    requests: SyncSender<RangeRequest>,
}

impl RangeServer {
    /// Starts serving `machine`, a copy of the held snapshot's machine.
    pub(super) fn start<M: StateMachine>(machine: M) -> Self {
        let (requests, queue) = sync_channel(MAX_SERVING);
        tokio::task::spawn_blocking(move || {
            machine
                .state_sync()
                .serve_ranges(&machine, &mut queue.into_iter());
        });
        Self { requests }
    }

    /// Queues `request`; hands it back when the queue is full or the
    /// thread is gone.
    pub(super) fn try_serve(&self, request: RangeRequest) -> Result<(), RangeRequest> {
        self.requests.try_send(request).map_err(|e| match e {
            TrySendError::Full(r) | TrySendError::Disconnected(r) => r,
        })
    }
}
