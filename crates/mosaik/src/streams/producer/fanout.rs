//! `Fanout<D>`: the subscriber queues, shared by every producer handle.
//!
//! A send encodes the datum once in the caller's task and pushes the same
//! bytes straight into every matching subscriber's bounded queue
//! (`queue.rs`) without waiting. No task hop sits between the handle and
//! the subscriber's sender task (that hop cost a wake-up per datum and
//! showed up in both throughput and round-trip time); the worker only
//! admits, re-checks and removes subscribers. A full queue disconnects its
//! subscriber (`TooSlow`) or drops the datum for it alone, per
//! `disconnect_lagging`; the caller is
//! never made to wait on a consumer.

use {
    super::{
        Error,
        queue::{Encoded, Filler, MAX_COPIED, Refused},
    },
    crate::{
        Datum, StreamId,
        primitives::encoding::{scratch_into_bytes, with_scratch},
        streams::{Criteria, TooSlow, close_now},
    },
    iroh::endpoint::Connection,
    std::sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    tokio::sync::mpsc,
};

/// One subscriber's end of the fan-out.
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) queue: Filler,
    pub(super) criteria: Criteria,
    pub(super) conn: Connection,
}

struct Slots {
    /// False once the worker stopped: every send fails with `Closed`.
    open: bool,
    list: Vec<Slot>,
}

pub(crate) struct Fanout<D> {
    stream_id: StreamId,
    disconnect_lagging: bool,
    slots: Mutex<Slots>,
    /// The links' frame limit: larger encodings are not copied into runs
    /// of frames but left to the link, which refuses them.
    max_frame: usize,
    /// `slots.list.len()`, readable without the lock: a send with no
    /// subscriber skips encoding (SPEC: encode only if someone may take it).
    subscribers: AtomicUsize,
    // unbounded: the sink is the caller's own channel (SPEC §1.4 `with_undelivered_sink` takes an
    // `UnboundedSender`); it holds only datums the caller chose to collect, and draining it is theirs.
    undelivered: Option<mpsc::UnboundedSender<D>>,
    dropped: metrics::Counter,
    /// Totals for observers (the metric above is process-wide and may
    /// have no recorder): datums taken, datums nobody took.
    pub(crate) sent_total: AtomicU64,
    pub(crate) dropped_total: AtomicU64,
}

impl<D: Datum> Fanout<D> {
    pub(super) fn new(
        stream_id: StreamId,
        disconnect_lagging: bool,
        max_frame: usize,
        // unbounded: the caller's sink, see `Builder::with_undelivered_sink`.
        undelivered: Option<mpsc::UnboundedSender<D>>,
        labels: Vec<metrics::Label>,
    ) -> Self {
        Self {
            stream_id,
            disconnect_lagging,
            slots: Mutex::new(Slots {
                open: true,
                list: Vec::new(),
            }),
            max_frame,
            subscribers: AtomicUsize::new(0),
            undelivered,
            dropped: metrics::counter!("mosaik.streams.producer.items.dropped", labels),
            sent_total: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
        }
    }

    /// A fan-out that refuses every datum (a detached producer).
    pub(super) fn closed(stream_id: StreamId) -> Self {
        let fanout = Self::new(stream_id, true, 0, None, Vec::new());
        fanout.close();
        fanout
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Nothing user-supplied runs under the lock (encoding happens
        // before it), so a poisoned lock still holds consistent slots.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn is_closed(&self) -> bool {
        !self.lock().open
    }

    /// Encodes `datum` once and queues it for every matching subscriber.
    ///
    /// Datums nobody took go to the undelivered sink. Only a stopped
    /// producer or a failed encoding hands the datum back.
    pub(super) fn push(&self, datum: D) -> Result<(), Error<D>> {
        self.encode_and_deliver(datum, false).map(|_| ())
    }

    /// Like [`Self::push`], but hands `datum` back untouched when a
    /// subscriber that would take it has no room left. An async send then
    /// yields once and pushes it (encoding it again, which only happens to
    /// a datum that met a full queue), so the subscriber's task gets a
    /// turn to drain (it matters on a current-thread runtime, where a send
    /// loop that never yields would fill every queue before any sender
    /// task ran).
    pub(super) fn push_unless_full(&self, datum: D) -> Result<Option<D>, Error<D>> {
        self.encode_and_deliver(datum, true)
    }

    /// Whether any subscriber's queue is full (the sink checks before it
    /// has the datum).
    pub(super) fn is_any_queue_full(&self) -> bool {
        self.lock().list.iter().any(|slot| slot.queue.is_full())
    }

    /// Encodes `datum` if anyone may take it (SPEC: lazily, only with a
    /// subscriber) into this thread's scratch buffer, and delivers it from
    /// there: small encodings are copied straight into each queue's run of
    /// frames, larger ones into one buffer that the queues share.
    fn encode_and_deliver(&self, datum: D, hold_if_full: bool) -> Result<Option<D>, Error<D>> {
        if self.subscribers.load(Ordering::Acquire) == 0 {
            if self.is_closed() {
                return Err(Error::Closed(Some(datum)));
            }
            // Counted as sent whether or not anyone takes it.
            self.sent_total.fetch_add(1, Ordering::Relaxed);
            self.undeliverable(datum);
            return Ok(None);
        }
        with_scratch(|buf| {
            if let Err(err) = datum.encode_into(buf) {
                tracing::warn!(stream = %self.stream_id, error = %err, "refusing unencodable datum");
                return Err(Error::Encoding(datum, Box::new(err)));
            }
            if buf.len() <= MAX_COPIED.min(self.max_frame) {
                self.deliver(datum, Encoded::Copy(buf), hold_if_full)
            } else {
                // Past the scratch pool's size the buffer itself is shared.
                let shared = scratch_into_bytes(buf);
                self.deliver(datum, Encoded::Share(&shared), hold_if_full)
            }
        })
    }

    /// Queues `encoded` for every matching subscriber; a full queue
    /// disconnects its subscriber or misses the datum, per
    /// `disconnect_lagging` (or, with `hold_if_full`, hands the datum back
    /// before anyone took it).
    fn deliver(
        &self,
        datum: D,
        encoded: Encoded<'_>,
        hold_if_full: bool,
    ) -> Result<Option<D>, Error<D>> {
        let bytes = encoded.as_slice();
        let mut slots = self.lock();
        if !slots.open {
            return Err(Error::Closed(Some(datum)));
        }
        if hold_if_full {
            let mut takers = slots.list.iter().filter(|s| s.criteria.matches(bytes));
            // One taker: its push says whether it is full, with one lock of
            // its queue instead of two.
            if let (Some(only), None) = (takers.next(), takers.next()) {
                let pushed = only.queue.try_push(encoded);
                if pushed == Err(Refused::Full) {
                    return Ok(Some(datum));
                }
                self.sent_total.fetch_add(1, Ordering::Relaxed);
                drop(slots);
                if pushed.is_err() {
                    self.undeliverable(datum);
                }
                return Ok(None);
            }
            if slots
                .list
                .iter()
                .any(|s| s.criteria.matches(bytes) && s.queue.is_full())
            {
                return Ok(Some(datum));
            }
        }
        self.sent_total.fetch_add(1, Ordering::Relaxed);
        let mut delivered = false;
        let mut lagging = false;
        // One lock for the whole loop: concurrent clones cannot interleave
        // their datums differently on different subscribers.
        slots.list.retain(|slot| {
            if !slot.criteria.matches(bytes) {
                return true;
            }
            match slot.queue.try_push(encoded) {
                Ok(()) => {
                    delivered = true;
                    true
                }
                Err(Refused::Full) if self.disconnect_lagging => {
                    // Dropping the slot closes its queue; the sender task
                    // ends and tells the worker, which updates the status.
                    tracing::debug!(
                        stream = %self.stream_id,
                        consumer = %slot.conn.remote_id().fmt_short(),
                        "disconnecting lagging subscriber"
                    );
                    close_now(&slot.conn, &TooSlow);
                    lagging = true;
                    false
                }
                Err(Refused::Full) => {
                    self.dropped.increment(1);
                    self.dropped_total.fetch_add(1, Ordering::Relaxed);
                    true
                }
                // Its task ended; the worker removes the slot on its event.
                Err(Refused::Closed) => true,
            }
        });
        if lagging {
            self.subscribers.store(slots.list.len(), Ordering::Release);
        }
        drop(slots);
        if !delivered {
            self.undeliverable(datum);
        }
        Ok(None)
    }

    fn undeliverable(&self, datum: D) {
        self.dropped.increment(1);
        self.dropped_total.fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = &self.undelivered {
            let _ = sink.send(datum);
        }
    }

    /// Starts delivering to a new subscriber.
    pub(super) fn add(&self, slot: Slot) {
        let mut slots = self.lock();
        if slots.open {
            slots.list.push(slot);
            self.subscribers.store(slots.list.len(), Ordering::Release);
        }
    }

    /// Stops delivering to subscriber `id`; its queue closes once the
    /// slot is dropped. Returns the slot's connection if it was present.
    pub(super) fn remove(&self, id: u64) -> Option<Connection> {
        let mut slots = self.lock();
        let at = slots.list.iter().position(|s| s.id == id)?;
        let slot = slots.list.swap_remove(at);
        self.subscribers.store(slots.list.len(), Ordering::Release);
        Some(slot.conn)
    }

    /// Refuses every later datum and drops every queue (each sender task
    /// then writes what it holds and closes with `GracefulShutdown`).
    pub(super) fn close(&self) {
        let list = {
            let mut slots = self.lock();
            slots.open = false;
            self.subscribers.store(0, Ordering::Release);
            core::mem::take(&mut slots.list)
        };
        drop(list);
    }
}
