//! The tasks of a simulated bond: the same contract as `groups::bond`'s
//! reader and writer (events to the worker, pings, the liveness timeout,
//! departure), over a [`SimLink`] instead of a QUIC connection. Messages
//! cross the simulated wire in their real encoding.

use {
    super::{
        SimLink,
        link::{Closer, Wire},
    },
    crate::{
        Digest, PeerId,
        discovery::SignedPeerEntry,
        groups::{
            bond::{BondEvent, BondHandle, Heartbeat, OUTBOUND_QUEUE},
            messages::{BondMessage, Standing},
            transport::{Conn, Members},
            wire_id::{self, PeerIds, WireId},
        },
        primitives::Datum,
    },
    bytes::Bytes,
    core::time::Duration,
    std::sync::{Arc, Mutex, PoisonError},
    tokio::{sync::mpsc, time::Instant},
    tokio_util::sync::CancellationToken,
};

/// Starts the reader and writer of a simulated bond.
pub(crate) fn spawn_bond<C: Datum + Sync>(
    link: SimLink,
    entry: SignedPeerEntry,
    standing: Standing,
    events: mpsc::Sender<BondEvent<C>>,
    members: Members,
    heartbeat: &Heartbeat,
) -> BondHandle<C> {
    let SimLink {
        wire,
        rx,
        peer,
        id,
        dead,
        draw,
    } = link;
    let (out, out_rx) = mpsc::channel::<BondMessage<C>>(OUTBOUND_QUEUE);
    let c = &heartbeat.consensus;
    let liveness = Liveness {
        heard: Arc::new(Mutex::new(Instant::now())),
        dead_after: (c.heartbeat_interval + c.heartbeat_jitter) * c.max_missed_heartbeats.max(1),
        // `ConsensusConfig::heartbeat_tick` draws its jitter from OS
        // randomness; the simulation draws it from its seed.
        tick: c
            .heartbeat_interval
            .saturating_sub(Duration::from_millis(
                draw % u64::try_from(c.heartbeat_jitter.as_millis())
                    .unwrap_or(0)
                    .max(1),
            ))
            .max(Duration::from_millis(1)),
    };
    let closer = Closer(wire.closed.clone());
    let sync_bytes = crate::groups::sync_budget::SyncBytes::default();
    tokio::spawn(write(
        wire.clone(),
        out_rx,
        liveness.clone(),
        dead.clone(),
        sync_bytes.clone(),
    ));
    let reader = Reader {
        peer,
        id,
        pong: out.clone(),
        events,
        members,
        liveness,
    };
    tokio::spawn(reader.run(rx, wire.closed, dead));
    BondHandle {
        out,
        id,
        entry,
        conn: Conn::Sim(closer),
        reverse: false,
        standing,
        sync_bytes,
    }
}

/// When the peer was last heard of, and when that is too long ago.
#[derive(Clone)]
struct Liveness {
    heard: Arc<Mutex<Instant>>,
    dead_after: Duration,
    tick: Duration,
}

/// Writer: queued messages, pings when idle, the liveness timeout.
async fn write<C: Datum + Sync>(
    wire: Wire,
    mut out_rx: mpsc::Receiver<BondMessage<C>>,
    liveness: Liveness,
    dead: CancellationToken,
    sync_bytes: crate::groups::sync_budget::SyncBytes,
) {
    let mut ticks = tokio::time::interval(liveness.tick);
    loop {
        // `biased`: tokio's unbiased select draws from an RNG the
        // simulation cannot seed.
        tokio::select! {
            biased;
            () = dead.cancelled() => return,
            () = wire.closed.cancelled() => return,
            msg = out_rx.recv() => {
                let Some(msg) = msg else {
                    wire.closed.cancel();
                    return;
                };
                if let BondMessage::StateSync(bytes) = &msg {
                    sync_bytes.give_back(bytes.len());
                }
                let departing = matches!(msg, BondMessage::Departure);
                let consensus = matches!(msg, BondMessage::Raft(_));
                // Encoded as the real writer encodes (`wire_id.rs`).
                if let Ok(bytes) = wire_id::encode(&msg) {
                    wire.send(&bytes, consensus);
                }
                if departing {
                    return;
                }
            }
            _ = ticks.tick() => {
                let silent = Instant::now().duration_since(*lock(&liveness.heard));
                if silent > liveness.dead_after {
                    wire.closed.cancel();
                    return;
                }
                if out_rx.is_empty()
                    && let Ok(bytes) = BondMessage::<C>::Ping.encode()
                {
                    wire.send(&bytes, false);
                }
            }
        }
    }
}

/// Reader: decodes and forwards to the worker; reports the bond down.
struct Reader<C> {
    peer: PeerId,
    id: Digest,
    pong: mpsc::Sender<BondMessage<C>>,
    events: mpsc::Sender<BondEvent<C>>,
    members: Members,
    liveness: Liveness,
}

impl<C: Datum + Sync> Reader<C> {
    async fn run(
        self,
        mut rx: mpsc::UnboundedReceiver<Bytes>,
        closed: CancellationToken,
        dead: CancellationToken,
    ) {
        let (peer, id) = (self.peer, self.id);
        // Decoded as the real reader decodes (`wire_id.rs`).
        let mut ids = PeerIds::default();
        loop {
            let bytes = tokio::select! {
                biased;
                // A crashed process reports nothing: its worker is gone.
                () = dead.cancelled() => return,
                () = closed.cancelled() => break,
                bytes = rx.recv() => match bytes {
                    Some(bytes) => bytes,
                    None => break,
                },
            };
            *lock(&self.liveness.heard) = Instant::now();
            let Ok(msg) = BondMessage::<C, WireId>::decode(&bytes) else {
                closed.cancel();
                break;
            };
            let event = match msg {
                BondMessage::Ping => {
                    let _ = self.pong.try_send(BondMessage::Pong);
                    continue;
                }
                BondMessage::Pong => continue,
                BondMessage::Departure => {
                    closed.cancel();
                    break;
                }
                BondMessage::PeerEntryUpdate(update) => {
                    if *update.id() == peer {
                        self.members.feed(*update);
                    }
                    continue;
                }
                BondMessage::BondFormed(formed) => {
                    self.members.feed(*formed);
                    continue;
                }
                BondMessage::Raft(msg) => {
                    let Ok(msg) = ids.message(msg) else {
                        closed.cancel();
                        break;
                    };
                    BondEvent::Raft { peer, msg }
                }
                BondMessage::Sync(msg) => BondEvent::Sync { peer, msg },
                BondMessage::StateSync(bytes) => BondEvent::StateSync { peer, bytes },
                BondMessage::Standing(standing) => BondEvent::Standing { peer, id, standing },
            };
            if self.events.send(event).await.is_err() {
                break;
            }
        }
        let _ = self.events.send(BondEvent::Down { peer, id }).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The simulated wire has no handshake round trips of its own; a dial
/// costs this many one-way delays.
pub(super) const DIAL_LEGS: u32 = 2;
