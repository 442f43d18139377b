//! Bonds: the authenticated link between two members of one group.
//!
//! [`dial`] runs the initiator side of the handshake, [`accept`] the
//! acceptor side; both run in their own task under `handshake_timeout`,
//! never on the group worker. A formed bond becomes two tasks
//! ([`spawn`]): a reader that forwards consensus messages to the worker and
//! a writer that drains the bounded outbound queue and sends heartbeats.

use {
    super::{
        Error, GroupConfig,
        close::{
            AlreadyBonded, GroupNotFound, InvalidHandshake, InvalidProof, NotAllowed, Timeout,
        },
        messages::{
            BondMessage, GroupsProtocol, HandshakeEnd, HandshakeStart, RaftMessage, Standing,
        },
    },
    crate::{
        Digest, PeerId,
        discovery::{Discovery, SignedPeerEntry},
        network::{
            CloseReason, DifferentNetwork, GracefulShutdown, Link, LocalNode, RecvError,
            UnknownPeer,
        },
        primitives::Datum,
        tickets::Expiration,
    },
    core::time::Duration,
    iroh::endpoint::{Connection, ConnectionError},
    std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    tokio::{sync::mpsc, time::Instant},
};

/// Outbound queue per bond. Consensus messages are best effort: when the
/// queue is full they are dropped (the engine retransmits), so it is
/// bounded without ever blocking the worker.
pub(crate) const OUTBOUND_QUEUE: usize = 1024;

/// Label of the TLS exporter that names a bond (same on both sides).
const BOND_ID_LABEL: &str = "mosaik.group.bond.id";

/// A handshaken link, ready to become a bond.
pub(crate) struct NewBond {
    pub(crate) link: super::transport::BondLink,
    pub(crate) entry: SignedPeerEntry,
    /// The peer's standing, as its handshake announced it.
    pub(crate) standing: Standing,
    /// Ours, as our handshake announced it (the worker corrects it with a
    /// `BondMessage::Standing` if it changed meanwhile).
    pub(crate) advertised: Standing,
    pub(crate) expires: Expiration,
}

/// What the acceptor needs to know about a local group (type-erased).
#[derive(Clone)]
pub(crate) struct Acceptor {
    pub(crate) config: Arc<GroupConfig>,
    /// The standing our handshakes announce (the worker holds the sender;
    /// see `worker/rejoin.rs`).
    pub(crate) standing: tokio::sync::watch::Receiver<Standing>,
    pub(crate) bonds: tokio::sync::watch::Receiver<super::bonds::BondSet>,
    pub(crate) incoming: mpsc::Sender<Incoming>,
}

/// A finished handshake (or a failed dial) reported to the worker.
pub(crate) struct Incoming {
    pub(crate) peer: PeerId,
    pub(crate) bond: Option<NewBond>,
    pub(crate) dialed: bool,
}

/// Closes a connection at once with `reason` (no flush: used on paths where
/// nothing is pending).
pub(crate) fn close_now(conn: &Connection, reason: &dyn CloseReason) {
    conn.close(
        iroh::endpoint::VarInt::from_u32(reason.code()),
        reason.name().as_bytes(),
    );
}

fn closed_with(err: &RecvError, reason: &dyn CloseReason) -> bool {
    matches!(err, RecvError::Io(ConnectionError::ApplicationClosed(c)) if reason.matches(c))
}

/// Initiator side: authorize, connect, prove, verify the acceptor's proof.
pub(crate) async fn dial(
    local: &LocalNode,
    discovery: &Discovery,
    acceptor: &Acceptor,
    entry: SignedPeerEntry,
    timeout: Duration,
) -> Result<NewBond, Error> {
    let config = &acceptor.config;
    let group_id = *config.group_id();
    let expires = config.authorize_peer(&entry).map_err(Error::Unauthorized)?;
    let advertised = *acceptor.standing.borrow();
    let run = async {
        let mut link = local
            .connect::<GroupsProtocol>(entry.address().clone())
            .await
            .map_err(|e| Error::Link(e.to_string()))?;
        let start = HandshakeStart {
            network_id: local.network_id(),
            group_id,
            proof: config.key().generate_proof(&link, local.id(), group_id),
            bonds: acceptor.bonds.borrow().entries(),
            standing: advertised,
            entry: discovery.me(),
        };
        link.send(&start)
            .await
            .map_err(|e| Error::Link(e.to_string()))?;
        match link.recv::<HandshakeEnd>().await {
            Ok(end) => Ok((link, end)),
            Err(err) if closed_with(&err, &UnknownPeer) => {
                // The acceptor does not know us yet: give it our entry so the
                // next attempt passes.
                discovery
                    .sync_with(entry.address().clone())
                    .await
                    .map_err(|e| Error::Discovery(e.to_string()))?;
                Err(Error::Discovery("acceptor did not know us; synced".into()))
            }
            Err(err) if closed_with(&err, &AlreadyBonded) => Err(Error::AlreadyBonded),
            Err(err) if closed_with(&err, &InvalidProof) => Err(Error::InvalidGroupKeyProof),
            Err(err) => Err(Error::Link(err.to_string())),
        }
    };
    let (link, end) = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| Error::Link("handshake timed out".into()))??;
    if !config.key().validate_proof(&link, end.proof, group_id) {
        close_now(link.connection(), &InvalidProof);
        return Err(Error::InvalidGroupKeyProof);
    }
    // The acceptor's own entry names the process we reached; it is newer
    // than the one we dialed if the peer restarted since we learned of it.
    let (entry, expires) = match newer_entry(discovery, entry, end.entry) {
        (entry, false) => (entry, expires),
        (entry, true) => match config.authorize_peer(&entry) {
            Ok(expires) => (entry, expires),
            Err(err) => {
                close_now(link.connection(), &NotAllowed);
                return Err(Error::Unauthorized(err));
            }
        },
    };
    for peer in end.bonds {
        discovery.feed(peer);
    }
    Ok(NewBond {
        link: super::transport::BondLink::Iroh(link),
        entry,
        standing: end.standing,
        advertised,
        expires,
    })
}

/// The entry to bond with: `ours` (what we dialed), or the peer's own
/// entry from the handshake if it is newer and discovery accepted it (the
/// catalog then holds it). True if it changed.
fn newer_entry(
    discovery: &Discovery,
    ours: SignedPeerEntry,
    theirs: SignedPeerEntry,
) -> (SignedPeerEntry, bool) {
    if theirs.id() != ours.id() || theirs.update_version() <= ours.update_version() {
        return (ours, false);
    }
    discovery.feed(theirs);
    match discovery.catalog().get_signed(&ours.id()) {
        Some(newest) if newest.update_version() > ours.update_version() => (newest.clone(), true),
        _ => (ours, false),
    }
}

/// Acceptor side of one connection, run in its own task. `lookup` finds the
/// local group by id.
pub(crate) async fn accept(
    mut link: Link<GroupsProtocol>,
    local: LocalNode,
    discovery: Discovery,
    timeout: Duration,
    lookup: impl FnOnce(&Digest) -> Option<Acceptor>,
) {
    let conn = link.connection().clone();
    let start = match tokio::time::timeout(timeout, link.recv::<HandshakeStart>()).await {
        Ok(Ok(start)) => start,
        Ok(Err(_)) => return close_now(&conn, &InvalidHandshake),
        Err(_) => return close_now(&conn, &Timeout),
    };
    let peer = link.remote_id();
    // The dialer's own entry first: a restarted peer is not in our catalog
    // yet (or only as its previous process).
    if start.entry.id() == peer {
        discovery.feed(start.entry.clone());
    }
    let Some(entry) = discovery.catalog().get_signed(&peer).cloned() else {
        return close_now(&conn, &UnknownPeer);
    };
    if start.network_id != local.network_id() {
        return close_now(&conn, &DifferentNetwork);
    }
    let Some(acceptor) = lookup(&start.group_id) else {
        return close_now(&conn, &GroupNotFound);
    };
    let Ok(expires) = acceptor.config.authorize_peer(&entry) else {
        super::metrics::bond_rejected(&local, "not_allowed");
        return close_now(&conn, &NotAllowed);
    };
    // A peer we consider bonded is not refused here: with one dialer per
    // pair it only dials when it has no bond with us (it restarted, or saw
    // the old bond die first), so ours is stale. The worker replaces it once
    // the proof below passed (rate-limited per peer, see
    // `worker::membership::REPLACE_INTERVAL`).
    let key = acceptor.config.key();
    if !key.validate_proof(&link, start.proof, start.group_id) {
        super::metrics::bond_rejected(&local, "invalid_proof");
        return close_now(&conn, &InvalidProof);
    }
    let advertised = *acceptor.standing.borrow();
    let end = HandshakeEnd {
        proof: key.generate_proof(&link, local.id(), start.group_id),
        bonds: acceptor.bonds.borrow().entries(),
        standing: advertised,
        entry: discovery.me(),
    };
    let sent = tokio::time::timeout(timeout, link.send(&end)).await;
    if !matches!(sent, Ok(Ok(()))) {
        return close_now(&conn, &Timeout);
    }
    for peer in start.bonds {
        discovery.feed(peer);
    }
    let bond = NewBond {
        link: super::transport::BondLink::Iroh(link),
        entry,
        standing: start.standing,
        advertised,
        expires,
    };
    let incoming = Incoming {
        peer,
        bond: Some(bond),
        dialed: false,
    };
    // Bounded, and awaited here in the accept task, never on the worker.
    let _ = acceptor.incoming.send(incoming).await;
}

/// Events a bond reports to its group worker.
pub(crate) enum BondEvent<C> {
    Raft {
        peer: PeerId,
        msg: RaftMessage<C>,
    },
    Sync {
        peer: PeerId,
        msg: super::sync::wire::SyncMessage,
    },
    StateSync {
        peer: PeerId,
        bytes: bytes::Bytes,
    },
    /// The peer announced a new standing (`BondMessage::Standing`).
    Standing {
        peer: PeerId,
        id: Digest,
        standing: Standing,
    },
    Down {
        peer: PeerId,
        id: Digest,
    },
}

/// The worker's side of a live bond.
pub(crate) struct BondHandle<C> {
    pub(crate) out: mpsc::Sender<BondMessage<C>>,
    pub(crate) id: Digest,
    pub(crate) entry: SignedPeerEntry,
    /// For `Bond::close`: closing the connection ends both bond tasks.
    pub(crate) conn: super::transport::Conn,
    /// Dialed by the higher peer id, against the pair's rule (the lower
    /// one could not reach it); see `Worker::supersedes`.
    pub(crate) reverse: bool,
    /// The peer's current standing (handshake, then its
    /// `BondMessage::Standing` announcements).
    pub(crate) standing: Standing,
}

/// Timing of one bond.
#[derive(Clone)]
pub(crate) struct Heartbeat {
    pub(crate) consensus: super::ConsensusConfig,
}

impl Heartbeat {
    /// No inbound traffic for this long ⇒ the bond is dead.
    fn dead_after(&self) -> Duration {
        let c = &self.consensus;
        (c.heartbeat_interval + c.heartbeat_jitter) * c.max_missed_heartbeats.max(1)
    }
}

/// Milliseconds since a bond started; the reader stores the time of the
/// last inbound frame, the writer checks it on every heartbeat tick.
#[derive(Clone)]
struct Liveness {
    origin: Instant,
    last_seen: Arc<AtomicU64>,
}

impl Liveness {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn heard(&self) {
        self.last_seen.store(self.elapsed_ms(), Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        Duration::from_millis(
            self.elapsed_ms()
                .saturating_sub(self.last_seen.load(Ordering::Relaxed)),
        )
    }
}

type Labels = Arc<[(&'static str, String); 2]>;

/// Starts the reader and writer tasks of a bond over `link` (the rest of
/// its `NewBond`: the peer's entry, standing and ticket expiry).
pub(crate) fn spawn<C: Datum + Sync>(
    link: Link<GroupsProtocol>,
    (entry, standing, expires): (SignedPeerEntry, Standing, Expiration),
    events: mpsc::Sender<BondEvent<C>>,
    discovery: Discovery,
    config: Arc<GroupConfig>,
    heartbeat: Heartbeat,
    labels: Labels,
) -> BondHandle<C> {
    let id = link.shared_random(BOND_ID_LABEL);
    let peer = link.remote_id();
    let conn = link.connection().clone();
    let handle_conn = conn.clone();
    let (sender, receiver) = link.split();
    let (out, out_rx) = mpsc::channel::<BondMessage<C>>(OUTBOUND_QUEUE);
    let liveness = Liveness {
        origin: Instant::now(),
        last_seen: Arc::new(AtomicU64::new(0)),
    };
    let reader = Reader {
        receiver,
        conn: conn.clone(),
        peer,
        id,
        pong: out.clone(),
        events,
        discovery: discovery.clone(),
        config: config.clone(),
        liveness: liveness.clone(),
        labels: labels.clone(),
    };
    tokio::spawn(reader.run());
    let writer = Writer {
        sender,
        conn,
        out_rx,
        heartbeat,
        expires,
        liveness,
        labels,
        renewal: Renewal {
            peer,
            discovery,
            config,
        },
    };
    tokio::spawn(writer.run());
    BondHandle {
        out,
        id,
        entry,
        conn: super::transport::Conn::Iroh(handle_conn),
        reverse: false,
        standing,
    }
}

struct Reader<C> {
    receiver: crate::network::LinkReceiver<GroupsProtocol>,
    conn: Connection,
    peer: PeerId,
    id: Digest,
    pong: mpsc::Sender<BondMessage<C>>,
    events: mpsc::Sender<BondEvent<C>>,
    discovery: Discovery,
    config: Arc<GroupConfig>,
    liveness: Liveness,
    labels: Labels,
}

impl<C: Datum + Sync> Reader<C> {
    /// Hands an event to the worker (waiting for room); false once the
    /// worker is gone.
    async fn forward(&self, event: BondEvent<C>) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Reads until the link fails or the peer departs; then reports the bond
    /// down (the worker ignores reports of bonds it already replaced).
    async fn run(mut self) {
        let peer = self.peer;
        while let Ok((msg, size)) = self.receiver.recv_with_size::<BondMessage<C>>().await {
            self.liveness.heard();
            let labels = self.labels.as_ref();
            metrics::counter!("mosaik.groups.bonds.messages.received", labels).increment(1);
            metrics::counter!("mosaik.groups.bonds.bytes.received", labels).increment(size as u64);
            match msg {
                BondMessage::Ping => {
                    // Dropped when the queue is full: it has traffic then.
                    let _ = self.pong.try_send(BondMessage::Pong);
                }
                BondMessage::Pong => {}
                BondMessage::Departure => {
                    close_now(&self.conn, &GracefulShutdown);
                    break;
                }
                BondMessage::PeerEntryUpdate(update) => {
                    if update.id() != peer {
                        continue;
                    }
                    // Tickets are re-checked on every update: a revoked or
                    // replaced ticket ends the bond.
                    if self.config.authorize_peer(&update).is_err() {
                        close_now(&self.conn, &NotAllowed);
                        break;
                    }
                    self.discovery.feed(*update);
                }
                BondMessage::BondFormed(formed) => {
                    self.discovery.feed(*formed);
                }
                BondMessage::Raft(msg) => {
                    if !self.forward(BondEvent::Raft { peer, msg }).await {
                        break;
                    }
                }
                BondMessage::Sync(msg) => {
                    if !self.forward(BondEvent::Sync { peer, msg }).await {
                        break;
                    }
                }
                BondMessage::StateSync(bytes) => {
                    if !self.forward(BondEvent::StateSync { peer, bytes }).await {
                        break;
                    }
                }
                BondMessage::Standing(standing) => {
                    let id = self.id;
                    let event = BondEvent::Standing { peer, id, standing };
                    if !self.forward(event).await {
                        break;
                    }
                }
            }
        }
        let _ = self
            .events
            .send(BondEvent::Down { peer, id: self.id })
            .await;
    }
}

struct Writer<C> {
    sender: crate::network::LinkSender<GroupsProtocol>,
    conn: Connection,
    out_rx: mpsc::Receiver<BondMessage<C>>,
    heartbeat: Heartbeat,
    expires: Expiration,
    liveness: Liveness,
    labels: Labels,
    renewal: Renewal,
}

/// Re-checks the peer's tickets when the ones the bond was admitted with
/// expire: a refreshed ticket published meanwhile (by gossip or a
/// `PeerEntryUpdate`, both land in the catalog) moves the deadline.
struct Renewal {
    peer: PeerId,
    discovery: Discovery,
    config: Arc<GroupConfig>,
}

impl Renewal {
    /// The peer's current expiry if its entry (as the catalog has it now)
    /// still passes every validator.
    fn current(&self) -> Option<Expiration> {
        let entry = self.discovery.catalog().get_signed(&self.peer)?.clone();
        self.config.authorize_peer(&entry).ok()
    }
}

/// When `expires` falls due (`None`: never). Already past means due now.
fn deadline(expires: Expiration) -> Option<Instant> {
    match expires {
        Expiration::Never => None,
        at @ Expiration::At(_) => Some(Instant::now() + at.remaining().unwrap_or_default()),
    }
}

impl<C: Datum + Sync> Writer<C> {
    /// Sends queued messages and heartbeats; closes the link when the worker
    /// drops the queue (after draining it), the peer falls silent, a send
    /// stalls, or the peer's ticket expires.
    async fn run(mut self) {
        let mut expiry_at = deadline(self.expires);
        let reason: Box<dyn CloseReason> = loop {
            let tick = tokio::time::sleep(self.heartbeat.consensus.heartbeat_tick());
            let expired = async {
                match expiry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => core::future::pending().await,
                }
            };
            tokio::select! {
                msg = self.out_rx.recv() => {
                    let Some(msg) = msg else { break Box::new(GracefulShutdown) };
                    let departing = matches!(msg, BondMessage::Departure);
                    if !self.send(&msg).await {
                        break Box::new(Timeout);
                    }
                    if departing {
                        break Box::new(GracefulShutdown);
                    }
                }
                () = tick => {
                    if self.liveness.silent_for() > self.heartbeat.dead_after() {
                        break Box::new(Timeout);
                    }
                    if self.out_rx.is_empty() && !self.send(&BondMessage::Ping).await {
                        break Box::new(Timeout);
                    }
                }
                () = expired => match self.renewal.current() {
                    Some(later) => expiry_at = deadline(later),
                    None => break Box::new(NotAllowed),
                },
                _ = self.conn.closed() => break Box::new(GracefulShutdown),
            }
        };
        let _ = self.sender.close(ReasonRef(reason)).await;
    }

    /// Sends one message; false if the link failed or stalled.
    async fn send(&mut self, msg: &BondMessage<C>) -> bool {
        let Ok(bytes) = msg.encode() else {
            // Commands were checked to encode when submitted; a message that
            // still fails is skipped rather than killing the bond.
            return true;
        };
        let size = bytes.len();
        let sent = tokio::time::timeout(self.heartbeat.dead_after(), self.sender.send_raw(bytes));
        if !matches!(sent.await, Ok(Ok(()))) {
            return false;
        }
        let labels = self.labels.as_ref();
        metrics::counter!("mosaik.groups.bonds.messages.sent", labels).increment(1);
        metrics::counter!("mosaik.groups.bonds.bytes.sent", labels).increment(size as u64);
        true
    }
}

/// A boxed close reason usable where `impl CloseReason` is required.
#[derive(Debug)]
struct ReasonRef(Box<dyn CloseReason>);

impl CloseReason for ReasonRef {
    fn code(&self) -> u32 {
        self.0.code()
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
}
