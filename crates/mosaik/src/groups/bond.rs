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
            BOND_WIRE, BondMessage, GroupsProtocol, HandshakeBonds, HandshakeEnd, HandshakeStart,
            RaftMessage, Standing,
        },
        wire_id::{PeerIds, WireId},
    },
    crate::primitives::gate::Gate,
    crate::{
        Digest, PeerId,
        discovery::{Discovery, SignedPeerEntry},
        network::{
            CloseReason, DifferentNetwork, GracefulShutdown, Link, LocalNode, ProtocolViolation,
            RecvError, UnknownPeer,
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
    let expires = config.authorize_peer(&entry).map_err(|err| {
        super::metrics::bond_rejected(local, "not_allowed");
        Error::Unauthorized(err)
    })?;
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
            bonds: HandshakeBonds::of(acceptor.bonds.borrow().entries()),
            standing: advertised,
            entry: discovery.me().into(),
            wire: BOND_WIRE,
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
    if end.wire != BOND_WIRE {
        close_now(link.connection(), &InvalidHandshake);
        return Err(Error::Link(format!(
            "the acceptor speaks bond form {}, we speak {BOND_WIRE}",
            end.wire
        )));
    }
    if !config.key().validate_proof(&link, end.proof, group_id) {
        close_now(link.connection(), &InvalidProof);
        return Err(Error::InvalidGroupKeyProof);
    }
    let Ok(theirs) = end.entry.verify() else {
        close_now(link.connection(), &ProtocolViolation);
        return Err(Error::Link("acceptor sent a forged entry".into()));
    };
    // The acceptor's own entry names the process we reached; it is newer
    // than the one we dialed if the peer restarted since we learned of it.
    let (entry, expires) = match newer_entry(discovery, entry, theirs) {
        (entry, false) => (entry, expires),
        (entry, true) => match config.authorize_peer(&entry) {
            Ok(expires) => (entry, expires),
            Err(err) => {
                close_now(link.connection(), &NotAllowed);
                return Err(Error::Unauthorized(err));
            }
        },
    };
    let remote = link.remote_id();
    for peer in end.bonds.0 {
        discovery.feed_unverified(peer, remote);
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
    match discovery.catalog().get_signed(ours.id()) {
        Some(newest) if newest.update_version() > ours.update_version() => (newest.clone(), true),
        _ => (ours, false),
    }
}

/// Acceptor side of one connection, run in its own task. `lookup` finds the
/// local group by id.
///
/// Cheap checks come first and signatures last: the handshake decodes
/// without verifying any entry (its bond list is capped before decoding),
/// then network, group and the key proof (a keyed hash) are checked, and
/// only a peer that proved it holds the key gets its entries verified and
/// the link admitted (full frame limit, off the unauthenticated budget).
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
    if start.wire != BOND_WIRE {
        return close_now(&conn, &InvalidHandshake);
    }
    if start.network_id != local.network_id() {
        return close_now(&conn, &DifferentNetwork);
    }
    let Some(acceptor) = lookup(&start.group_id) else {
        return close_now(&conn, &GroupNotFound);
    };
    let key = acceptor.config.key();
    if !key.validate_proof(&link, start.proof, start.group_id) {
        super::metrics::bond_rejected(&local, "invalid_proof");
        return close_now(&conn, &InvalidProof);
    }
    // The dialer's own entry first: a restarted peer is not in our catalog
    // yet (or only as its previous process).
    if *start.entry.0.id() == peer {
        discovery.feed_unverified(start.entry, peer);
    }
    let Some(entry) = discovery.catalog().get_signed(&peer).cloned() else {
        return close_now(&conn, &UnknownPeer);
    };
    let Ok(expires) = acceptor.config.authorize_peer(&entry) else {
        super::metrics::bond_rejected(&local, "not_allowed");
        return close_now(&conn, &NotAllowed);
    };
    // A peer we consider bonded is not refused here: with one dialer per
    // pair it only dials when it has no bond with us (it restarted, or saw
    // the old bond die first), so ours is stale. The worker replaces it once
    // the proof above passed (rate-limited per peer, see
    // `worker::membership::REPLACE_INTERVAL`).
    link.admit();
    let advertised = *acceptor.standing.borrow();
    let end = HandshakeEnd {
        proof: key.generate_proof(&link, local.id(), start.group_id),
        bonds: HandshakeBonds::of(acceptor.bonds.borrow().entries()),
        standing: advertised,
        entry: discovery.me().into(),
        wire: BOND_WIRE,
    };
    let sent = tokio::time::timeout(timeout, link.send(&end)).await;
    if !matches!(sent, Ok(Ok(()))) {
        return close_now(&conn, &Timeout);
    }
    for bonded in start.bonds.0 {
        discovery.feed_unverified(bonded, peer);
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
    /// Bytes of state-sync replies in `out` (see `sync_budget.rs`).
    pub(crate) sync_bytes: super::sync_budget::SyncBytes,
}

/// Timing of one bond.
#[derive(Clone)]
pub(crate) struct Heartbeat {
    pub(crate) consensus: super::ConsensusConfig,
    /// Byte budget of one consensus message (see [`encode_within`]).
    pub(crate) append_budget: usize,
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

/// A bond direction's message and byte counters, registered once when the
/// bond starts: `metrics::counter!` with labels builds its key (a vector
/// and a copy of each label) on every call, which was a tenth of all
/// allocations on B1's commit path. As everywhere else (streams do the
/// same), series are recorded by the recorder installed when the bond
/// starts.
struct Traffic {
    messages: metrics::Counter,
    bytes: metrics::Counter,
}

impl Traffic {
    fn new(messages: &'static str, bytes: &'static str, labels: &Labels) -> Self {
        Self {
            messages: metrics::counter!(messages, labels.as_ref()),
            bytes: metrics::counter!(bytes, labels.as_ref()),
        }
    }

    /// One message of `size` bytes.
    fn record(&self, size: usize) {
        self.messages.increment(1);
        self.bytes.increment(size as u64);
    }
}

/// Starts the reader and writer tasks of a bond over `link` (the rest of
/// its `NewBond`: the peer's entry, standing and ticket expiry).
pub(crate) fn spawn<C: Datum + Sync + Clone>(
    link: Link<GroupsProtocol>,
    (entry, standing, expires): (SignedPeerEntry, Standing, Expiration),
    events: mpsc::Sender<BondEvent<C>>,
    discovery: Discovery,
    config: Arc<GroupConfig>,
    heartbeat: Heartbeat,
    labels: &Labels,
) -> BondHandle<C> {
    let id = link.shared_random(BOND_ID_LABEL);
    let peer = link.remote_id();
    let conn = link.connection().clone();
    let handle_conn = conn.clone();
    let (sender, receiver) = link.split();
    let (out, out_rx) = mpsc::channel::<BondMessage<C>>(OUTBOUND_QUEUE);
    let sync_bytes = super::sync_budget::SyncBytes::default();
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
        traffic: Traffic::new(
            "mosaik.groups.bonds.messages.received",
            "mosaik.groups.bonds.bytes.received",
            labels,
        ),
    };
    tokio::spawn(reader.run());
    let writer = Writer {
        sender,
        conn,
        out_rx,
        heartbeat,
        expires,
        liveness,
        traffic: Traffic::new(
            "mosaik.groups.bonds.messages.sent",
            "mosaik.groups.bonds.bytes.sent",
            labels,
        ),
        renewal: Renewal {
            peer,
            discovery,
            config,
        },
        frames: Vec::new(),
        sync_bytes: sync_bytes.clone(),
    };
    tokio::spawn(writer.run());
    BondHandle {
        out,
        id,
        entry,
        conn: super::transport::Conn::Iroh(handle_conn),
        reverse: false,
        standing,
        sync_bytes,
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
    traffic: Traffic,
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
        let mut ids = PeerIds::default();
        while let Ok((msg, size)) = self
            .receiver
            .recv_with_size::<BondMessage<C, WireId>>()
            .await
        {
            self.liveness.heard();
            self.traffic.record(size);
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
                    if *update.id() != peer {
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
                    let msg = match ids.message(msg) {
                        Ok(msg) => msg,
                        Err(err) => {
                            // As any undecodable frame: the link closes.
                            tracing::warn!(peer = %peer.fmt_short(), %err, "closing bond");
                            close_now(&self.conn, &ProtocolViolation);
                            break;
                        }
                    };
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
    traffic: Traffic,
    renewal: Renewal,
    /// The frames of the message being sent (empty between messages).
    frames: Vec<bytes::Bytes>,
    /// Given back as state-sync replies leave the queue.
    sync_bytes: super::sync_budget::SyncBytes,
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

impl<C: Datum + Sync + Clone> Writer<C> {
    /// Sends queued messages and heartbeats; closes the link when the worker
    /// drops the queue (after draining it), the peer falls silent, a send
    /// stalls, or the peer's ticket expires.
    async fn run(mut self) {
        let mut expiry_at = deadline(self.expires);
        // Kept across messages (see `primitives::gate`): the connection's
        // `closed` takes its lock on every poll, and a timer made per
        // message registers and unregisters each time.
        let mut expiry = Box::pin(tokio::time::sleep_until(
            expiry_at.unwrap_or_else(|| Instant::now() + Duration::from_hours(1)),
        ));
        let conn = self.conn.clone();
        let mut closed = Gate::new(async move { conn.closed().await });
        let mut beat = Beat::new(self.heartbeat.consensus.clone());
        let reason: Box<dyn CloseReason> = loop {
            tokio::select! {
                msg = self.out_rx.recv() => {
                    let Some(msg) = msg else { break Box::new(GracefulShutdown) };
                    if let BondMessage::StateSync(bytes) = &msg {
                        self.sync_bytes.give_back(bytes.len());
                    }
                    let departing = matches!(msg, BondMessage::Departure);
                    if !self.send(&msg).await {
                        break Box::new(Timeout);
                    }
                    if departing {
                        break Box::new(GracefulShutdown);
                    }
                }
                () = beat.wait() => {
                    if self.liveness.silent_for() > self.heartbeat.dead_after() {
                        break Box::new(Timeout);
                    }
                    if self.out_rx.is_empty() && !self.send(&BondMessage::Ping).await {
                        break Box::new(Timeout);
                    }
                }
                () = &mut expiry, if expiry_at.is_some() => match self.renewal.current() {
                    Some(later) => {
                        expiry_at = deadline(later);
                        if let Some(at) = expiry_at {
                            expiry.as_mut().reset(at);
                        }
                    }
                    None => break Box::new(NotAllowed),
                },
                _ = &mut closed => break Box::new(GracefulShutdown),
            }
        };
        let _ = self.sender.close(ReasonRef(reason)).await;
    }

    /// Sends one message (an oversized `AppendEntries` as several, see
    /// [`encode_within`]); false if the link failed or stalled.
    async fn send(&mut self, msg: &BondMessage<C>) -> bool {
        // The list is kept between messages: one allocation less per message.
        let mut frames = core::mem::take(&mut self.frames);
        // Commands were checked to encode when submitted; a message that
        // still fails is skipped rather than killing the bond.
        encode_within(msg, self.heartbeat.append_budget, &mut frames);
        let mut sent_all = true;
        for bytes in frames.drain(..) {
            let size = bytes.len();
            let sent =
                tokio::time::timeout(self.heartbeat.dead_after(), self.sender.send_raw(bytes));
            if !matches!(sent.await, Ok(Ok(()))) {
                sent_all = false;
                break;
            }
            self.traffic.record(size);
        }
        // Empty again: `drain` removes what a failed send left.
        self.frames = frames;
        sent_all
    }
}

/// Encodes `msg` into `out`. An `AppendEntries` over `budget` bytes
/// (`groups::Config::max_append_bytes`) goes as consecutive ones, halved
/// until each fits: the follower handles them one after another exactly as
/// the whole (each chunk's `prev` is the previous chunk's last entry, and
/// it commits at most through the entries it received), acknowledging each.
/// Without this, 1024 large entries (the engine's batch limit) exceed the
/// peer's frame limit on every retransmission and the bond flaps forever.
/// A single entry always fits: proposals are refused over the budget
/// (`CommandError::TooLarge`).
fn encode_within<C: Datum + Clone + Sync>(
    msg: &BondMessage<C>,
    budget: usize,
    out: &mut Vec<bytes::Bytes>,
) {
    // As it travels: each message names its ids once (`wire_id.rs`).
    let Ok(bytes) = super::wire_id::encode(msg) else {
        return;
    };
    if bytes.len() > budget
        && let BondMessage::Raft(raft) = msg
        && let Some((head, tail)) = split_append(raft)
    {
        encode_within(&BondMessage::Raft(head), budget, out);
        encode_within(&BondMessage::Raft(tail), budget, out);
        return;
    }
    out.push(bytes);
}

/// An `AppendEntries` with two or more entries as two consecutive halves.
fn split_append<C: Clone>(msg: &RaftMessage<C>) -> Option<(RaftMessage<C>, RaftMessage<C>)> {
    let mosaik_raft::Message::AppendEntries {
        term,
        leader,
        prev_log_position,
        entries,
        leader_commit,
        rank,
        overrule,
        seq,
        epoch,
    } = msg
    else {
        return None;
    };
    if entries.len() < 2 {
        return None;
    }
    let half = entries.len() / 2;
    let (head, tail) = entries.split_at(half);
    let middle =
        mosaik_raft::Cursor::new(head[half - 1].term, prev_log_position.index + half as u64);
    let part = |prev, entries: &[_]| mosaik_raft::Message::AppendEntries {
        term: *term,
        leader: *leader,
        prev_log_position: prev,
        entries: entries.to_vec(),
        leader_commit: *leader_commit,
        rank: *rank,
        overrule: *overrule,
        seq: *seq,
        epoch: *epoch,
    };
    Some((part(*prev_log_position, head), part(middle, tail)))
}

/// The writer's heartbeat: one deadline kept across loop passes, so it
/// falls due under steady traffic too. (A sleep made anew on every pass
/// restarted with each outbound message: a bond carrying a message every
/// few hundred milliseconds never checked its peer's silence or pinged.)
struct Beat {
    sleep: core::pin::Pin<Box<tokio::time::Sleep>>,
    consensus: super::ConsensusConfig,
}

impl Beat {
    fn new(consensus: super::ConsensusConfig) -> Self {
        let sleep = Box::pin(tokio::time::sleep(consensus.heartbeat_tick()));
        Self { sleep, consensus }
    }

    /// Resolves at the next beat, then arms the one after. Cancel-safe: a
    /// `select!` that drops it early keeps the deadline.
    async fn wait(&mut self) {
        self.sleep.as_mut().await;
        let next = Instant::now() + self.consensus.heartbeat_tick();
        self.sleep.as_mut().reset(next);
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

#[cfg(test)]
mod tests {
    use {super::*, crate::groups::ConsensusConfig};

    /// Issue 16, bug 6: under steady traffic (a message every quarter
    /// heartbeat, as the writer's `select!` sees it) the heartbeat still
    /// falls due every interval, so the silence check and pings run.
    #[tokio::test(start_paused = true)]
    async fn heartbeat_fires_under_steady_traffic() {
        let consensus = ConsensusConfig::default();
        let interval = consensus.heartbeat_interval;
        let (tx, mut rx) = mpsc::channel::<u32>(16);
        tokio::spawn(async move {
            let mut traffic = tokio::time::interval(interval / 4);
            for n in 0.. {
                traffic.tick().await;
                if tx.send(n).await.is_err() {
                    break;
                }
            }
        });
        let mut beat = Beat::new(consensus);
        let (mut beats, mut messages) = (0, 0);
        let start = Instant::now();
        let steady = async {
            while beats < 3 {
                tokio::select! {
                    Some(_) = rx.recv() => messages += 1,
                    () = beat.wait() => beats += 1,
                }
            }
        };
        tokio::time::timeout(interval * 4, steady)
            .await
            .expect("three heartbeats within four intervals of steady traffic");
        assert!(messages >= 8, "traffic kept flowing: {messages}");
        assert!(start.elapsed() <= interval * 3 + Duration::from_millis(1));
    }
}

#[cfg(test)]
mod split_tests {
    use {
        super::*,
        mosaik_raft::{CommittedRank, Cursor, Entry, Index, Message, Term},
    };

    /// Issue 16, bug 4: 1024 entries of 2 KiB (2 MiB) against a 64 KiB
    /// budget go out as consecutive `AppendEntries` that each fit, chain
    /// (`prev` = the previous chunk's last entry) and carry every entry once.
    #[test]
    fn oversized_append_entries_are_split_into_chained_chunks() {
        let leader = iroh::SecretKey::from_bytes(&[7; 32]).public();
        let term = Term::new(3, leader);
        let entries: Vec<_> = (0..1024u32)
            .map(|i| {
                Entry::command(
                    term,
                    crate::groups::messages::Cmd::new(vec![i.to_le_bytes()[0]; 2048]),
                )
            })
            .collect();
        let msg: BondMessage<Vec<u8>> = BondMessage::Raft(Message::AppendEntries {
            term,
            leader,
            prev_log_position: Cursor::new(term, Index(10)),
            entries,
            leader_commit: Index(9),
            rank: CommittedRank::default(),
            overrule: None,
            seq: 5,
            epoch: 0,
        });
        let budget = 64 * 1024;
        let mut frames = Vec::new();
        encode_within(&msg, budget, &mut frames);
        assert!(frames.len() >= 32, "split: {} frames", frames.len());
        let mut next = Index(10);
        let mut total = 0;
        let mut ids = PeerIds::default();
        for frame in &frames {
            assert!(frame.len() <= budget, "a frame over the budget");
            let Ok(BondMessage::Raft(wire)) = BondMessage::<Vec<u8>, WireId>::decode(frame) else {
                panic!("not a consensus message");
            };
            let Ok(Message::AppendEntries {
                term: got,
                leader: from,
                prev_log_position,
                entries,
                seq,
                ..
            }) = ids.message(wire)
            else {
                panic!("not an AppendEntries with known ids");
            };
            assert_eq!((got, from), (term, leader));
            assert_eq!(prev_log_position.index, next, "chunks chain");
            assert_eq!(seq, 5);
            next = next + entries.len() as u64;
            total += entries.len();
        }
        assert_eq!(total, 1024);
    }
}
