//! How the worker loop takes runs of queued requests and bond events.
//!
//! A pass handles one run of one source, at most [`MAX_MERGED`] items: a
//! run of requests becomes one engine proposal (group commit), and a run
//! of bond events is as long as a run of requests may be, so
//! acknowledgements keep pace with the proposals that cause them.

use tokio::sync::mpsc;

/// Most requests (or bond events) taken in one pass; a run of requests is
/// one engine step (group commit).
pub(super) const MAX_MERGED: usize = 256;

/// `first` and the items queued behind it, at most [`MAX_MERGED`].
pub(super) fn queued_behind<T>(first: T, queue: &mut mpsc::Receiver<T>) -> Vec<T> {
    let mut batch = vec![first];
    take_queued(&mut batch, queue);
    batch
}

/// Moves queued items into `batch` until it holds [`MAX_MERGED`] or the
/// queue is empty; never waits.
fn take_queued<T>(batch: &mut Vec<T>, queue: &mut mpsc::Receiver<T>) {
    while batch.len() < MAX_MERGED {
        let Ok(more) = queue.try_recv() else { break };
        batch.push(more);
    }
}

/// Lets the clients a commit just woke queue their next requests before a
/// run of them becomes one proposal, when clients submit concurrently
/// (`concurrent`: the last run held more than one request).
///
/// A commit's replies wake every client it completed at once, but their
/// next requests reach the queue one by one, and the loop took the first
/// alone: an append round, with its messages and acknowledgements, for
/// every one or two commands (B1 at 8 clients: about two `sendmsg` calls
/// per commit). One yield puts the loop behind the woken clients on the
/// runtime's queues. A lone client never pays it: its commit waits for a
/// round trip anyway, and the yield only added to that (B1 at 1 client
/// fell by about 14 % with a yield on every run, 3 pairs).
pub(super) async fn top_up<T>(
    batch: &mut Vec<T>,
    requests: &mut mpsc::Receiver<T>,
    concurrent: &mut bool,
) {
    if *concurrent && batch.len() < MAX_MERGED {
        tokio::task::yield_now().await;
        take_queued(batch, requests);
    }
    *concurrent = batch.len() > 1;
}

#[cfg(test)]
mod tests {
    use {super::*, core::pin::pin, futures::FutureExt};

    fn merged() -> u32 {
        u32::try_from(MAX_MERGED).expect("small")
    }

    /// A lone request after a lone one goes on at once (no yield), and
    /// does not mark the clients as concurrent.
    #[tokio::test]
    async fn a_lone_client_is_never_held_back() {
        let (_tx, mut rx) = mpsc::channel::<u32>(16);
        let mut concurrent = false;
        let mut batch = vec![1];
        let done = top_up(&mut batch, &mut rx, &mut concurrent).now_or_never();
        assert!(done.is_some(), "completed on its first poll");
        assert_eq!(batch, [1]);
        assert!(!concurrent);
    }

    /// After a run of several, the loop yields once, and what was queued
    /// meanwhile joins the run; the queue behind `MAX_MERGED` stays.
    #[tokio::test]
    async fn concurrent_clients_queue_their_requests_into_the_run() {
        let (tx, mut rx) = mpsc::channel::<u32>(2 * MAX_MERGED);
        let mut concurrent = true;
        let mut batch = vec![0];
        {
            let mut topping = pin!(top_up(&mut batch, &mut rx, &mut concurrent));
            assert!(
                (&mut topping).now_or_never().is_none(),
                "the first poll yields"
            );
            // The clients the commit woke, running while the loop yields.
            for i in 1..=merged() {
                tx.try_send(i).expect("room");
            }
            topping.await;
        }
        assert_eq!(batch.len(), MAX_MERGED);
        assert_eq!(batch[..3], [0, 1, 2]);
        assert!(concurrent);
        assert_eq!(rx.try_recv().ok(), Some(merged()), "left queued");
    }

    /// A full run needs no top-up; a run of one ends the concurrent mode.
    #[tokio::test]
    async fn a_full_run_or_a_lone_request_does_not_yield() {
        let (_tx, mut rx) = mpsc::channel::<u32>(16);
        let mut concurrent = true;
        let mut full: Vec<u32> = (0..merged()).collect();
        assert!(
            top_up(&mut full, &mut rx, &mut concurrent)
                .now_or_never()
                .is_some()
        );
        assert!(concurrent);
        let mut lone = vec![7];
        {
            let mut topping = pin!(top_up(&mut lone, &mut rx, &mut concurrent));
            assert!((&mut topping).now_or_never().is_none(), "yields once");
            topping.await;
        }
        assert!(!concurrent, "nobody else queued: a lone client from now on");
    }
}
