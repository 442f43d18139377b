//! Futures that are cheap to poll again and again.
//!
//! A loop that `select!`s over the same sources on every pass builds and
//! drops their futures each time, and polls every one of them whenever any
//! source wakes the task. For most sources that is a few atomics, but
//! `CancellationToken::cancelled`, `Notify::notified` and `watch::changed`
//! take a mutex on every poll and again on every drop, and a connection's
//! `closed` takes the connection's own lock, which its driver contends
//! for. On the consensus path (three group loops, and a bond reader and
//! writer per message) that was a measured share of B1's CPU.
//!
//! [`Gate`] keeps one such future alive across passes and polls it only
//! after its own waker fired; any other poll costs one atomic swap and a
//! waker registration. [`Stop`] is a gated cancellation token, and
//! [`next_change`] a watch receiver's next change as a future a gate owns.

use {
    core::{
        future::Future,
        pin::Pin,
        sync::atomic::{AtomicBool, Ordering},
        task::{Context, Poll, Waker},
    },
    futures::task::AtomicWaker,
    std::{sync::Arc, task::Wake},
    tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned},
};

/// Whether the inner future's waker fired since its last poll, and the
/// task to wake when it does.
#[derive(Default)]
struct Flag {
    woken: AtomicBool,
    outer: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Set before waking: the woken task's poll must see it.
        self.woken.store(true, Ordering::Release);
        self.outer.wake();
    }
}

/// A long-lived future, polled only when its waker fired since the last
/// poll (or when it is new). Fused: once it has completed it stays
/// pending until [`set`](Self::set) gives it a new future.
pub(crate) struct Gate<F> {
    inner: Option<Pin<Box<F>>>,
    flag: Arc<Flag>,
    /// The waker handed to the inner future (built once: `flag`).
    waker: Waker,
    /// Polled since it was set: later polls wait for the flag.
    primed: bool,
}

impl<F: Future> Gate<F> {
    /// Gates `inner`; its first poll goes through.
    pub(crate) fn new(inner: F) -> Self {
        let flag = Arc::new(Flag::default());
        let waker = Waker::from(flag.clone());
        Self {
            inner: Some(Box::pin(inner)),
            flag,
            waker,
            primed: false,
        }
    }

    /// Replaces the inner future (typically the next one of a source that
    /// just completed); its first poll goes through.
    pub(crate) fn set(&mut self, inner: F) {
        self.inner = Some(Box::pin(inner));
        self.primed = false;
    }
}

impl<F: Future> Future for Gate<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Pending;
        };
        // Registered before the flag is read: a wake between the two is
        // seen by the read, one after it wakes this waker.
        this.flag.outer.register(cx.waker());
        if this.primed && !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.primed = true;
        this.flag.woken.store(false, Ordering::Relaxed);
        let polled = inner.as_mut().poll(&mut Context::from_waker(&this.waker));
        if polled.is_ready() {
            this.inner = None;
        }
        polled
    }
}

// The inner future is boxed, so the gate itself never needs pinning.
impl<F> Unpin for Gate<F> {}

/// A cancellation token's `cancelled()`, gated: ready once the token is
/// cancelled and on every poll after that.
pub(crate) struct Stop {
    gate: Gate<WaitForCancellationFutureOwned>,
    stopped: bool,
}

impl Stop {
    /// Watches `token` (a clone of it is kept).
    pub(crate) fn new(token: &CancellationToken) -> Self {
        Self {
            gate: Gate::new(token.clone().cancelled_owned()),
            stopped: false,
        }
    }
}

impl Future for Stop {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stopped {
            return Poll::Ready(());
        }
        let polled = Pin::new(&mut self.gate).poll(cx);
        if polled.is_ready() {
            self.stopped = true;
        }
        polled
    }
}

/// The next change of a watched value, with the receiver handed back for
/// the one after it (a future a [`Gate`] can own); false once the sender
/// is gone.
pub(crate) async fn next_change<T>(
    mut watched: tokio::sync::watch::Receiver<T>,
) -> (tokio::sync::watch::Receiver<T>, bool) {
    let changed = watched.changed().await.is_ok();
    (watched, changed)
}

#[cfg(test)]
mod tests {
    use {
        super::*, core::sync::atomic::AtomicUsize, futures::FutureExt,
        std::sync::atomic::Ordering::SeqCst,
    };

    /// Counts its polls; ready once `ready` is set (and woken).
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Stored,
    }

    impl Future for Probe {
        type Output = u32;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls.fetch_add(1, SeqCst);
            if self.ready.load(SeqCst) {
                return Poll::Ready(7);
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// The waker a pending `Probe` left.
    type Stored = Arc<std::sync::Mutex<Option<Waker>>>;

    fn probe() -> (Probe, Arc<AtomicUsize>, Arc<AtomicBool>, Stored) {
        let polls = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(std::sync::Mutex::new(None));
        let probe = Probe {
            polls: polls.clone(),
            ready: ready.clone(),
            waker: waker.clone(),
        };
        (probe, polls, ready, waker)
    }

    #[test]
    fn the_inner_future_is_polled_only_after_its_waker_fired() {
        let (probe, polls, ready, waker) = probe();
        let mut gate = Gate::new(probe);
        for _ in 0..5 {
            assert!((&mut gate).now_or_never().is_none());
        }
        assert_eq!(polls.load(SeqCst), 1, "only the first poll reaches it");
        ready.store(true, SeqCst);
        assert!((&mut gate).now_or_never().is_none(), "not woken yet");
        assert_eq!(polls.load(SeqCst), 1);
        waker.lock().unwrap().take().unwrap().wake();
        assert_eq!((&mut gate).now_or_never(), Some(7));
        assert_eq!(polls.load(SeqCst), 2);
        // Fused: completed, it stays pending without touching the inner.
        assert!((&mut gate).now_or_never().is_none());
        assert_eq!(polls.load(SeqCst), 2);
    }

    #[test]
    fn a_wake_of_the_inner_future_wakes_the_polling_task() {
        let (probe, _, ready, waker) = probe();
        let mut gate = Gate::new(probe);
        let woken = Arc::new(Flag::default());
        let task = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&task);
        assert!(Pin::new(&mut gate).poll(&mut cx).is_pending());
        ready.store(true, SeqCst);
        waker.lock().unwrap().take().unwrap().wake();
        // The task's waker was the gate's registered outer waker.
        assert!(woken.woken.load(SeqCst), "the task was woken");
        assert_eq!(Pin::new(&mut gate).poll(&mut cx), Poll::Ready(7));
    }

    #[test]
    fn set_gives_a_completed_gate_a_new_future() {
        let (first, _, ready, _) = probe();
        ready.store(true, SeqCst);
        let mut gate = Gate::new(first);
        assert_eq!((&mut gate).now_or_never(), Some(7));
        let (second, polls, _, _) = probe();
        gate.set(second);
        assert!((&mut gate).now_or_never().is_none());
        assert_eq!(
            polls.load(SeqCst),
            1,
            "a new future's first poll goes through"
        );
    }

    #[tokio::test]
    async fn stop_is_ready_once_cancelled_and_stays_ready() {
        let token = CancellationToken::new();
        let mut stop = Stop::new(&token);
        assert!((&mut stop).now_or_never().is_none());
        let cancel = token.clone();
        tokio::spawn(async move { cancel.cancel() });
        tokio::time::timeout(core::time::Duration::from_secs(10), &mut stop)
            .await
            .expect("a cancel wakes the waiting task");
        assert_eq!((&mut stop).now_or_never(), Some(()));
        // A token cancelled before the first poll is seen by it.
        assert_eq!(Stop::new(&token).now_or_never(), Some(()));
    }
}
