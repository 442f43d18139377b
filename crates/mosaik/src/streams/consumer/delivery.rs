//! The delivery channel between a consumer's receivers and its handle.
//!
//! It carries batches, not single datums: a receiver decodes every frame
//! its link already holds and hands them over in one push, and the handle
//! serves them from its own buffer. Per datum that saves a channel push,
//! a pop and, whenever the reader was waiting, a task wake-up; at 64-byte
//! datums those hand-offs were most of a stream's cost. A batch is never
//! held back to fill up (the receiver sends what it has as soon as its
//! link has nothing more buffered), so batching adds no latency.
//!
//! The bound stays in datums: a batch holds at most `min(MAX_BATCH,
//! buffer_size)` datums and the channel `ceil(buffer_size / batch)`
//! batches, so it never holds more than `buffer_size` rounded up to a
//! whole batch, plus the one batch the handle is serving from.

use {
    core::task::{Context, Poll},
    tokio::sync::mpsc,
};

/// Most datums in one batch.
pub(super) const MAX_BATCH: usize = 64;

/// A bounded channel of batches holding about `buffer_size` datums.
pub(super) fn channel<D>(buffer_size: usize) -> (Deliver<D>, Delivered<D>) {
    let batch = buffer_size.clamp(1, MAX_BATCH);
    let (tx, rx) = mpsc::channel(buffer_size.max(1).div_ceil(batch));
    (
        Deliver { tx, batch },
        Delivered {
            rx,
            ready: Vec::new().into_iter(),
        },
    )
}

/// The receivers' end.
pub(super) struct Deliver<D> {
    tx: mpsc::Sender<Vec<D>>,
    batch: usize,
}

impl<D> Clone for Deliver<D> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            batch: self.batch,
        }
    }
}

impl<D> Deliver<D> {
    /// Most datums a batch may hold.
    pub(super) fn batch_limit(&self) -> usize {
        self.batch
    }

    /// Queues `batch` if there is room.
    #[cfg(test)]
    pub(super) fn try_send(&self, batch: Vec<D>) -> Result<(), mpsc::error::TrySendError<Vec<D>>> {
        debug_assert!(batch.len() <= self.batch, "oversized batch");
        self.tx.try_send(batch)
    }

    /// Queues `batch`, waiting for room; fails once the handle is gone.
    pub(super) async fn send(&self, batch: Vec<D>) -> Result<(), mpsc::error::SendError<Vec<D>>> {
        debug_assert!(batch.len() <= self.batch, "oversized batch");
        self.tx.send(batch).await
    }
}

/// The handle's end: yields the datums one by one, in order.
pub(super) struct Delivered<D> {
    rx: mpsc::Receiver<Vec<D>>,
    /// The rest of the batch being served.
    ready: std::vec::IntoIter<D>,
}

// Nothing in it is ever pinned (a datum is moved out, never polled in
// place), so the handle stays `Unpin` whatever `D` is.
impl<D> Unpin for Delivered<D> {}

impl<D> Delivered<D> {
    /// The next datum; `None` once every receiver is gone and all was
    /// served. Cancel-safe: a batch moves into `ready` in the same poll
    /// that takes it off the channel.
    pub(super) async fn recv(&mut self) -> Option<D> {
        core::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next datum if one is waiting.
    pub(super) fn try_recv(&mut self) -> Option<D> {
        loop {
            if let Some(datum) = self.ready.next() {
                return Some(datum);
            }
            self.ready = self.rx.try_recv().ok()?.into_iter();
        }
    }

    /// Polls for the next datum.
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<D>> {
        loop {
            if let Some(datum) = self.ready.next() {
                return Poll::Ready(Some(datum));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(batch)) => self.ready = batch.into_iter(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_arrive_in_order_one_by_one() {
        let (tx, mut rx) = channel::<u32>(1024);
        assert_eq!(tx.batch_limit(), MAX_BATCH);
        tx.try_send(vec![1, 2, 3]).unwrap();
        tx.send(vec![]).await.unwrap();
        tx.send(vec![4]).await.unwrap();
        assert_eq!(rx.try_recv(), Some(1));
        for want in 2..=4 {
            assert_eq!(rx.recv().await, Some(want));
        }
        assert_eq!(rx.try_recv(), None);
        drop(tx);
        assert_eq!(rx.recv().await, None);
    }

    #[test]
    fn the_bound_is_buffer_size_rounded_up_to_whole_batches() {
        for (buffer, batch, batches) in [(1, 1, 1), (10, 10, 1), (64, 64, 1), (100, 64, 2)] {
            let (tx, rx) = channel::<u8>(buffer);
            assert_eq!(tx.batch_limit(), batch, "buffer {buffer}");
            let mut queued = 0;
            while tx.try_send(vec![0; tx.batch_limit()]).is_ok() {
                queued += 1;
            }
            assert_eq!(queued, batches, "buffer {buffer}");
            drop(rx);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_recv_loses_nothing() {
        let (tx, mut rx) = channel::<u32>(8);
        tx.try_send(vec![1, 2]).unwrap();
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.try_recv(), Some(2));
        // Nothing queued: this recv waits and is dropped unfinished.
        let waited = tokio::time::timeout(core::time::Duration::from_secs(1), rx.recv()).await;
        assert!(waited.is_err(), "nothing was sent");
        tx.try_send(vec![3, 4]).unwrap();
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, Some(4));
    }
}
