//! One subscriber's queue: bounded, filled by the fan-out, drained by the
//! subscriber's sender task.
//!
//! Small encodings are not queued one by one. The fan-out writes each one
//! as a finished wire frame (4-byte big-endian length, then the bytes) at
//! the end of a *run*, a buffer of consecutive frames, and the sender task
//! hands whole runs to the QUIC stream as they are. Per datum that is one
//! copy of a few bytes under a short lock, where it used to be an
//! allocation (or a carve from a shared chunk), reference counting on two
//! threads, a channel slot and a second copy into the link's write buffer.
//! Large encodings are shared between subscribers instead of copied, and
//! go out through the link's own framing (which writes the largest ones
//! without a copy).
//!
//! The bound is in datums, as before: at most `capacity` queued, whatever
//! their size. A run grows by doubling from [`RUN_START`] bytes and takes
//! no frame past [`RUN_BYTES`], so a run that holds `n` datums holds at
//! most twice their frames' bytes, or `RUN_START`.
//!
//! The sender task is woken only when the queue goes from empty to
//! non-empty; a tokio `mpsc` channel (used before) also locked its
//! semaphore's waiter list once for every datum taken off it.

use {
    crate::network::Outgoing,
    bytes::{BufMut, Bytes, BytesMut},
    std::{
        collections::VecDeque,
        sync::{Arc, Mutex, MutexGuard, PoisonError},
    },
    tokio::sync::Notify,
};

/// Encodings of at most this many bytes are copied into runs; larger
/// ones are shared (and the link writes those of 16 KiB and more without
/// copying them).
pub(super) const MAX_COPIED: usize = 4096;

/// A new run's first allocation.
pub(super) const RUN_START: usize = 1024;

/// A run takes no frame that would make it longer than this.
pub(super) const RUN_BYTES: usize = 16 * 1024;

/// A datum's encoding, as the fan-out hands it to each queue.
#[derive(Clone, Copy)]
pub(super) enum Encoded<'a> {
    /// Small: copied into the queue's current run.
    Copy(&'a [u8]),
    /// Large: shared by every queue that takes it.
    Share(&'a Bytes),
}

impl Encoded<'_> {
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Copy(bytes) => bytes,
            Self::Share(bytes) => bytes,
        }
    }
}

/// Datums and payload bytes taken by one drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Taken {
    pub(super) datums: usize,
    pub(super) bytes: usize,
}

enum Item {
    Run {
        frames: BytesMut,
        datums: usize,
        bytes: usize,
    },
    Large(Bytes),
}

/// Why a push was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// The queue holds its capacity.
    Full,
    /// The sender task is gone.
    Closed,
}

struct State {
    items: VecDeque<Item>,
    /// Datums in `items`.
    datums: usize,
    /// The filling end was dropped: drain what is left, then stop.
    done: bool,
    /// The draining end was dropped: refuse every push.
    gone: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the draining task. `notify_one` keeps a permit when nobody
    /// waits, so a push between the drain's check and its wait is not lost.
    ready: Notify,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock: a poisoned one is consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queue of at most `capacity` (at least 1) encoded datums.
pub(super) fn queue(capacity: usize) -> (Filler, Drainer) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            datums: 0,
            done: false,
            gone: false,
        }),
        ready: Notify::new(),
        capacity: capacity.max(1),
    });
    (Filler(shared.clone()), Drainer(shared))
}

/// The fan-out's end. Dropping it lets the drainer finish what is queued.
pub(super) struct Filler(Arc<Shared>);

impl Filler {
    /// Queues one datum unless the queue is full or its drainer is gone.
    pub(super) fn try_push(&self, encoded: Encoded<'_>) -> Result<(), Refused> {
        let mut state = self.0.lock();
        if state.gone {
            return Err(Refused::Closed);
        }
        if state.datums >= self.0.capacity {
            return Err(Refused::Full);
        }
        let was_empty = state.datums == 0;
        state.datums += 1;
        match encoded {
            Encoded::Copy(bytes) => append(&mut state.items, bytes),
            Encoded::Share(bytes) => state.items.push_back(Item::Large(bytes.clone())),
        }
        drop(state);
        // A non-empty queue has a wake-up pending or a drainer at work.
        if was_empty {
            self.0.ready.notify_one();
        }
        Ok(())
    }

    /// Whether a push would be refused as full now.
    pub(super) fn is_full(&self) -> bool {
        self.0.lock().datums >= self.0.capacity
    }
}

/// Frames `bytes` at the end of the last run, or of a new one.
fn append(items: &mut VecDeque<Item>, bytes: &[u8]) {
    let frame = 4 + bytes.len();
    if let Some(Item::Run {
        frames,
        datums,
        bytes: total,
    }) = items.back_mut()
        && frames.len() + frame <= RUN_BYTES
    {
        put_frame(frames, bytes);
        *datums += 1;
        *total += bytes.len();
        return;
    }
    let mut frames = BytesMut::with_capacity(RUN_START.max(frame));
    put_frame(&mut frames, bytes);
    items.push_back(Item::Run {
        frames,
        datums: 1,
        bytes: bytes.len(),
    });
}

/// One wire frame: the 4-byte big-endian length, then the bytes.
fn put_frame(frames: &mut BytesMut, bytes: &[u8]) {
    // Callers copy at most `MAX_COPIED` bytes: the length fits in four.
    #[allow(clippy::cast_possible_truncation)]
    frames.put_u32(bytes.len() as u32);
    frames.extend_from_slice(bytes);
}

impl Drop for Filler {
    fn drop(&mut self) {
        self.0.lock().done = true;
        self.0.ready.notify_one();
    }
}

/// The sender task's end. Dropping it makes every later push fail.
pub(super) struct Drainer(Arc<Shared>);

impl Drainer {
    /// Moves up to `max` queued items (runs or large datums) into `out`,
    /// waiting while the queue is empty, and says how many datums and
    /// payload bytes they hold. Nothing taken (`datums == 0`) means the
    /// filler is gone and everything was drained. Cancel-safe: items leave
    /// the queue only in the poll that returns them.
    pub(super) async fn recv_many(&mut self, out: &mut Vec<Outgoing>, max: usize) -> Taken {
        loop {
            {
                let mut state = self.0.lock();
                if state.datums > 0 {
                    let mut taken = Taken::default();
                    let n = state.items.len().min(max.max(1));
                    for item in state.items.drain(..n) {
                        out.push(match item {
                            Item::Run {
                                frames,
                                datums,
                                bytes,
                            } => {
                                taken.datums += datums;
                                taken.bytes += bytes;
                                Outgoing::Framed(frames.freeze())
                            }
                            Item::Large(bytes) => {
                                taken.datums += 1;
                                taken.bytes += bytes.len();
                                Outgoing::Frame(bytes)
                            }
                        });
                    }
                    state.datums -= taken.datums;
                    return taken;
                }
                if state.done {
                    return Taken::default();
                }
            }
            self.0.ready.notified().await;
        }
    }

    /// Whether nothing is queued now.
    pub(super) fn is_empty(&self) -> bool {
        self.0.lock().datums == 0
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.gone = true;
        // What is left can never be sent; free it now, not with the filler.
        state.items = VecDeque::new();
        state.datums = 0;
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
