//! The simulated wire of one bond: two directions between two processes,
//! each message delivered by its own timer task after a seeded delay.

use {
    super::SimNet,
    crate::{Digest, PeerId},
    bytes::Bytes,
    core::time::Duration,
    std::{
        collections::VecDeque,
        sync::{Arc, Mutex, PoisonError},
    },
    tokio::{sync::mpsc, time::Instant},
    tokio_util::sync::CancellationToken,
};

/// One end of a handshaken simulated bond, before its tasks start.
pub(crate) struct SimLink {
    pub(super) wire: Wire,
    pub(super) rx: mpsc::UnboundedReceiver<Bytes>,
    pub(super) peer: PeerId,
    pub(super) id: Digest,
    /// Cancelled when this end's process crashes.
    pub(super) dead: CancellationToken,
    /// This end's own random draw (its heartbeat jitter).
    pub(super) draw: u64,
}

impl SimLink {
    /// Closes the bond (both ends see it at once, like a connection
    /// close).
    pub(crate) fn close(self) {
        self.wire.closed.cancel();
    }
}

/// Closes a running simulated bond.
#[derive(Debug, Clone)]
pub(crate) struct Closer(pub(super) CancellationToken);

impl Closer {
    pub(crate) fn close(&self) {
        self.0.cancel();
    }
}

/// The sending direction of one end.
#[derive(Clone)]
pub(super) struct Wire {
    net: SimNet,
    from: usize,
    to: usize,
    /// The other end's inbox.
    // unbounded: the simulated stand-in for a socket; what enters is what the
    // bond's writer sent from its bounded queue (`OUTBOUND_QUEUE`) during the
    // few milliseconds of simulated delay, and its reader drains it.
    tx: mpsc::UnboundedSender<Bytes>,
    /// Shared by both ends: the bond is closed.
    pub(super) closed: CancellationToken,
    /// The sending process crashed: it sends nothing more.
    sender_dead: CancellationToken,
    /// When the last in-order message of this direction arrives (a real
    /// bond is one reliable, ordered stream).
    fifo: Arc<Mutex<Instant>>,
    /// In-order messages sent while the direction was blocked, in order:
    /// a reliable stream retransmits them once the path works again (or
    /// loses them with the connection), it never drops one and goes on.
    // Unbounded: it grows only while a block lasts (the fault schedule lifts
    // every block within 4 s of simulated time) by what the writer sends then.
    held: Arc<Mutex<VecDeque<Bytes>>>,
}

/// How often a held direction checks whether its block was lifted.
const HELD_POLL: Duration = Duration::from_millis(5);

impl Wire {
    /// Sends `bytes`. Consensus messages (`consensus`) may be lost,
    /// duplicated and reordered, as the engine tolerates; everything else
    /// arrives in order and is never lost while the bond lives: sent on a
    /// blocked direction, it waits until the block is lifted (a partition
    /// shorter than the liveness timeout delays a stream, it does not cut
    /// a hole in it). A blocked direction loses consensus messages.
    pub(super) fn send(&self, bytes: &Bytes, consensus: bool) {
        if self.closed.is_cancelled() || self.sender_dead.is_cancelled() {
            return;
        }
        if consensus {
            if !self.net.is_blocked(self.from, self.to) {
                self.deliver(bytes, true);
            }
            return;
        }
        let mut held = lock(&self.held);
        if held.is_empty() && !self.net.is_blocked(self.from, self.to) {
            drop(held);
            self.deliver(bytes, false);
            return;
        }
        held.push_back(bytes.clone());
        if held.len() == 1 {
            tokio::spawn(self.clone().release_held());
        }
    }

    /// Waits until the direction is open again, then sends what was held,
    /// in order (or drops it with the bond or the sending process).
    async fn release_held(self) {
        loop {
            tokio::time::sleep(HELD_POLL).await;
            if self.closed.is_cancelled() || self.sender_dead.is_cancelled() {
                lock(&self.held).clear();
                return;
            }
            if !self.net.is_blocked(self.from, self.to) {
                let held = core::mem::take(&mut *lock(&self.held));
                for bytes in &held {
                    self.deliver(bytes, false);
                }
                return;
            }
        }
    }

    /// Puts `bytes` on the wire with its drawn delay(s).
    fn deliver(&self, bytes: &Bytes, consensus: bool) {
        let now = Instant::now();
        for delay in self.net.draw_delays(consensus) {
            let at = if consensus {
                now + delay
            } else {
                let mut last = lock(&self.fifo);
                *last = (*last).max(now + delay);
                *last
            };
            let (tx, closed, bytes) = (self.tx.clone(), self.closed.clone(), bytes.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                if !closed.is_cancelled() {
                    let _ = tx.send(bytes);
                }
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One side of a bond: machine slot, peer id, and its process's crash
/// token.
pub(super) struct Side {
    pub(super) slot: usize,
    pub(super) id: PeerId,
    pub(super) dead: CancellationToken,
}

/// The two ends of a new bond between `a` and `b`.
pub(super) fn pair(net: &SimNet, a: &Side, b: &Side, id: Digest) -> (SimLink, SimLink) {
    // unbounded: see `Wire::tx`.
    let (a_tx, a_rx) = mpsc::unbounded_channel();
    let (b_tx, b_rx) = mpsc::unbounded_channel();
    let closed = CancellationToken::new();
    let now = Instant::now();
    let wire = |from: &Side, to: &Side, tx| Wire {
        net: net.clone(),
        from: from.slot,
        to: to.slot,
        tx,
        closed: closed.clone(),
        sender_dead: from.dead.clone(),
        fifo: Arc::new(Mutex::new(now)),
        held: Arc::new(Mutex::new(VecDeque::new())),
    };
    let a_end = SimLink {
        wire: wire(a, b, b_tx),
        rx: a_rx,
        peer: b.id,
        id,
        dead: a.dead.clone(),
        draw: net.random(),
    };
    let b_end = SimLink {
        wire: wire(b, a, a_tx),
        rx: b_rx,
        peer: a.id,
        id,
        dead: b.dead.clone(),
        draw: net.random(),
    };
    (a_end, b_end)
}
