//! The group driver: a thin async loop around `mosaik_raft::Engine`.
//!
//! Inputs: API requests from handles, consensus messages and bond changes
//! from bond tasks, new bonds from dial/accept tasks, catalog changes,
//! and the engine's next deadline. Outputs are carried out strictly in
//! poll order, each `Persist*` completed (through [`Storage`]) before the
//! next output, as the engine's contract requires. Applies go through
//! `apply_batch`, one batch per term.

use {
    super::{
        CommandError, Consistency, Cursor, IndexRange, QueryError, QueryResultAt, StateMachine,
        Storage,
        bond::{self, Acceptor, BondEvent, BondHandle, Heartbeat, Incoming},
        bonds::{BondInfo, BondSet},
        machine::BatchContext,
        messages::{BondMessage, Cmd},
        proposals::Proposals,
        storage::{LogEntry, StorageError},
        types::engine as map,
        when::Status,
    },
    crate::primitives::ShortFmtExt as _,
    crate::{PeerId, discovery::Discovery, network::LocalNode},
    core::time::Duration,
    mosaik_raft::{Engine, Input, Output, RequestId, Restored, Role},
    std::{
        collections::{HashMap, HashSet},
        sync::Arc,
    },
    tokio::{
        sync::{mpsc, oneshot, watch},
        time::Instant,
    },
    tokio_util::sync::CancellationToken,
};

/// Requests from handles. The channel is bounded; handles wait for room.
pub(crate) enum Request<M: StateMachine> {
    Propose {
        commands: Vec<M::Command>,
        wait_commit: bool,
        reply: oneshot::Sender<Result<IndexRange, CommandError<M>>>,
    },
    Query {
        query: M::Query,
        consistency: Consistency,
        reply: oneshot::Sender<Result<QueryResultAt<M>, QueryError<M>>>,
    },
}

/// Capacity of the request queue from handles.
pub(crate) const REQUEST_QUEUE: usize = 1024;
/// Capacity of the bond event queue (bond readers wait for room: back
/// pressure on the peer, never unbounded growth).
const EVENT_QUEUE: usize = 4096;
/// Most requests merged into one engine step (group commit).
const MAX_MERGED: usize = 256;
/// How often the catalog is rescanned for members to dial, besides on
/// every catalog change (retries failed dials).
const RESCAN: Duration = Duration::from_secs(1);

type QueryReply<M> = oneshot::Sender<Result<QueryResultAt<M>, QueryError<M>>>;

/// Everything a worker starts with.
pub(crate) struct Setup<S, M: StateMachine> {
    pub(crate) local: LocalNode,
    pub(crate) discovery: Discovery,
    pub(crate) acceptor: Acceptor,
    pub(crate) handshake_timeout: Duration,
    pub(crate) storage: S,
    pub(crate) machine: M,
    pub(crate) requests: mpsc::Receiver<Request<M>>,
    pub(crate) incoming: mpsc::Receiver<Incoming>,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) bonds: watch::Sender<BondSet>,
    pub(crate) cancel: CancellationToken,
}

pub(crate) struct Worker<S, M: StateMachine> {
    local: LocalNode,
    discovery: Discovery,
    acceptor: Acceptor,
    handshake_timeout: Duration,
    storage: S,
    machine: M,
    /// The machine's initial value, for rebuilding after a revert.
    pristine: M,
    engine: Engine<PeerId, Cmd<M::Command>>,
    origin: Instant,
    status: watch::Sender<Status>,
    bonds_tx: watch::Sender<BondSet>,
    bonds: HashMap<PeerId, BondHandle<M::Command>>,
    dialing: HashSet<PeerId>,
    events_tx: mpsc::Sender<BondEvent<M::Command>>,
    next_request: u64,
    proposals: Proposals<M>,
    reads: HashMap<RequestId, (M::Query, QueryReply<M>)>,
    committed: Cursor,
    /// Version of our own entry last pushed to the bonds.
    pushed: Option<crate::discovery::PeerEntryVersion>,
    labels: Arc<[(&'static str, String); 2]>,
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Restores the engine from storage and runs the loop until cancelled
    /// or storage fails.
    pub(crate) async fn run(setup: Setup<S, M>) {
        let Setup {
            local,
            discovery,
            acceptor,
            handshake_timeout,
            storage,
            machine,
            mut requests,
            mut incoming,
            status,
            bonds,
            cancel,
        } = setup;
        let group_id = *acceptor.config.group_id();
        let labels: Arc<[(&'static str, String); 2]> = Arc::new([
            ("network", local.network_id().short().to_string()),
            ("group", group_id.short().to_string()),
        ]);
        let restored = match restore(&storage) {
            Ok(restored) => restored,
            Err(err) => {
                tracing::error!(group = %group_id.short(), %err, "group stopped: storage");
                return;
            }
        };
        let preference = machine.leadership_preference();
        let config = acceptor.config.consensus().engine(preference);
        let origin = Instant::now();
        let engine = Engine::new(
            local.id(),
            config,
            restored,
            mosaik_raft::Instant::ZERO,
            rand::random(),
        );
        let (events_tx, mut events) = mpsc::channel(EVENT_QUEUE);
        let mut worker = Worker {
            pristine: machine.clone(),
            local,
            discovery,
            acceptor,
            handshake_timeout,
            storage,
            machine,
            engine,
            origin,
            status,
            bonds_tx: bonds,
            bonds: HashMap::new(),
            dialing: HashSet::new(),
            events_tx,
            next_request: 0,
            proposals: Proposals::default(),
            reads: HashMap::new(),
            committed: Cursor::zero(),
            pushed: None,
            labels,
        };
        worker.discovery.add_groups([group_id]);
        let mut catalog = worker.discovery.catalog_watch();
        let mut rescan = tokio::time::interval(RESCAN);
        let network_down = worker.local.termination().clone();
        let result: Result<(), StorageError> = loop {
            let deadline = worker.deadline();
            let step = tokio::select! {
                biased;
                () = cancel.cancelled() => break Ok(()),
                () = network_down.cancelled() => break Ok(()),
                Some(req) = requests.recv() => {
                    let mut batch = vec![req];
                    while batch.len() < MAX_MERGED {
                        let Ok(more) = requests.try_recv() else { break };
                        batch.push(more);
                    }
                    worker.requests(batch)
                }
                Some(event) = events.recv() => worker.bond_event(event),
                Some(new) = incoming.recv() => {
                    worker.incoming(new);
                    Ok(())
                }
                Ok(()) = catalog.changed() => {
                    worker.push_local_entry();
                    worker.scan();
                    Ok(())
                }
                _ = rescan.tick() => {
                    worker.scan();
                    Ok(())
                }
                () = tokio::time::sleep_until(deadline) => {
                    worker.engine.handle(worker.now(), Input::Tick);
                    worker.drain()
                }
            };
            if let Err(err) = step {
                break Err(err);
            }
        };
        if let Err(err) = &result {
            tracing::error!(group = %group_id.short(), %err, "group stopped: storage failed");
        }
        worker.leave(group_id);
    }

    fn now(&self) -> mosaik_raft::Instant {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        mosaik_raft::Instant::from_millis(ms)
    }

    fn deadline(&self) -> Instant {
        match self.engine.next_deadline() {
            Some(at) => {
                let at_ms = at.as_millis();
                self.origin + Duration::from_millis(at_ms)
            }
            None => Instant::now() + Duration::from_secs(3600),
        }
    }

    /// Un-advertises the group and tells every bonded peer we leave.
    fn leave(&mut self, group_id: crate::GroupId) {
        self.discovery.remove_groups([group_id]);
        for (_, bond) in self.bonds.drain() {
            // Dropping the sender afterwards lets the writer drain the
            // queue (Departure last) and close the link gracefully.
            let _ = bond.out.try_send(BondMessage::Departure);
        }
        self.publish_bonds();
        let network = [self.labels[0].clone()];
        metrics::gauge!("mosaik.groups.active", &network).decrement(1.0);
        metrics::gauge!("mosaik.groups.bonds.active", self.labels.as_ref()).set(0.0);
    }

    /// Handles a run of queued requests: proposals are merged into one
    /// engine proposal (group commit), queries answered or started.
    fn requests(&mut self, batch: Vec<Request<M>>) -> Result<(), StorageError> {
        let mut proposals = Vec::new();
        for req in batch {
            match req {
                Request::Propose {
                    commands,
                    wait_commit,
                    reply,
                } => proposals.push((commands, wait_commit, reply)),
                query => self.query(query),
            }
        }
        if !proposals.is_empty() {
            let request_id = self.request_id();
            if let Some(commands) = self.proposals.merge(request_id, proposals) {
                let input = Input::Propose {
                    request_id,
                    commands,
                };
                self.engine.handle(self.now(), input);
            }
        }
        self.drain()
    }

    fn query(&mut self, req: Request<M>) {
        match req {
            Request::Propose { .. } => {}
            Request::Query {
                query,
                consistency: Consistency::Weak,
                reply,
            } => {
                let result = self.machine.query(query);
                let _ = reply.send(Ok(QueryResultAt {
                    result,
                    at_position: self.committed.1,
                }));
            }
            Request::Query { query, reply, .. } => {
                let request_id = self.request_id();
                self.reads.insert(request_id, (query, reply));
                self.engine.handle(self.now(), Input::Read { request_id });
            }
        }
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn bond_event(&mut self, event: BondEvent<M::Command>) -> Result<(), StorageError> {
        match event {
            BondEvent::Raft { peer, msg } => {
                if !self.bonds.contains_key(&peer) {
                    return Ok(());
                }
                self.engine
                    .handle(self.now(), Input::Message { from: peer, msg });
            }
            BondEvent::Down { peer, id } => {
                if self.bonds.get(&peer).is_none_or(|b| b.id != id) {
                    return Ok(());
                }
                self.bonds.remove(&peer);
                self.publish_bonds();
                tracing::debug!(peer = %peer.fmt_short(), "bond down");
                self.engine.handle(self.now(), Input::PeerUnbonded { peer });
            }
        }
        self.drain()
    }

    fn incoming(&mut self, new: Incoming) {
        if new.dialed {
            self.dialing.remove(&new.peer);
        }
        let Some(bond) = new.bond else { return };
        if self.bonds.contains_key(&new.peer) {
            let link = bond.link;
            tokio::spawn(async move {
                let _ = link.close(super::close::AlreadyBonded).await;
            });
            return;
        }
        let preference = bond.preference;
        let heartbeat = Heartbeat {
            consensus: self.acceptor.config.consensus().clone(),
        };
        let entry = bond.entry.clone();
        let handle = bond::spawn(
            bond,
            self.events_tx.clone(),
            self.discovery.clone(),
            self.acceptor.config.clone(),
            heartbeat,
            self.labels.clone(),
        );
        for other in self.bonds.values() {
            let _ = other
                .out
                .try_send(BondMessage::BondFormed(Box::new(entry.clone())));
        }
        tracing::debug!(peer = %new.peer.fmt_short(), "bond formed");
        self.bonds.insert(new.peer, handle);
        self.publish_bonds();
        self.engine.handle(
            self.now(),
            Input::PeerBonded {
                peer: new.peer,
                preference,
            },
        );
        if let Err(err) = self.drain() {
            tracing::error!(%err, "storage failed after bonding");
        }
    }

    /// Pushes our own entry to every bond when it changed, so members see
    /// new tickets or addresses at once (and re-check our tickets).
    fn push_local_entry(&mut self) {
        let me = self.discovery.me();
        let version = me.update_version();
        if self.pushed == Some(version) {
            return;
        }
        self.pushed = Some(version);
        for bond in self.bonds.values() {
            let _ = bond
                .out
                .try_send(BondMessage::PeerEntryUpdate(Box::new(me.clone())));
        }
    }

    fn publish_bonds(&self) {
        let set = BondSet(
            self.bonds
                .iter()
                .map(|(peer, b)| {
                    let info = BondInfo {
                        entry: b.entry.clone(),
                        id: b.id,
                    };
                    (*peer, info)
                })
                .collect(),
        );
        metrics::gauge!("mosaik.groups.bonds.active", self.labels.as_ref())
            .set(gauge(set.0.len() as u64));
        self.bonds_tx.send_replace(set);
    }

    /// Dials every member we should initiate a bond with: exactly one side
    /// of each pair dials (the lower peer id), so a pair never races into
    /// two bonds; the other side learns of us through the catalog, the
    /// handshake's peer lists and `BondFormed`.
    fn scan(&mut self) {
        let me = self.local.id();
        let group = *self.acceptor.config.group_id();
        let candidates: Vec<_> = self
            .discovery
            .catalog()
            .signed_peers()
            .filter(|e| e.groups().contains(&group))
            .filter(|e| me < e.id())
            .filter(|e| !self.bonds.contains_key(&e.id()) && !self.dialing.contains(&e.id()))
            .cloned()
            .collect();
        for entry in candidates {
            let peer = entry.id();
            self.dialing.insert(peer);
            let local = self.local.clone();
            let discovery = self.discovery.clone();
            let acceptor = self.acceptor.clone();
            let timeout = self.handshake_timeout;
            tokio::spawn(async move {
                let bond = match bond::dial(&local, &discovery, &acceptor, entry, timeout).await {
                    Ok(bond) => Some(bond),
                    Err(err) => {
                        tracing::debug!(peer = %peer.fmt_short(), %err, "bond dial failed");
                        None
                    }
                };
                let incoming = Incoming {
                    peer,
                    bond,
                    dialed: true,
                };
                let _ = acceptor.incoming.send(incoming).await;
            });
        }
    }

    /// Carries out the engine's outputs in order.
    fn drain(&mut self) -> Result<(), StorageError> {
        while let Some(output) = self.engine.poll_output() {
            self.output(output)?;
        }
        self.publish_status();
        Ok(())
    }

    fn output(&mut self, output: Output<PeerId, Cmd<M::Command>>) -> Result<(), StorageError> {
        match output {
            Output::PersistHardState(state) => self.storage.set_hard_state(state)?,
            Output::PersistLog {
                truncate_from,
                first_index,
                append,
            } => {
                if let Some(at) = truncate_from {
                    self.storage.truncate(at)?;
                }
                if !append.is_empty() && self.storage.last().index.next() != first_index {
                    self.storage.truncate(first_index)?;
                }
                for entry in append {
                    let entry = LogEntry {
                        term: entry.term,
                        payload: match entry.payload {
                            mosaik_raft::Payload::Noop => mosaik_raft::Payload::Noop,
                            mosaik_raft::Payload::Command(Cmd(c)) => {
                                mosaik_raft::Payload::Command(c)
                            }
                        },
                    };
                    self.storage.append(entry)?;
                }
            }
            Output::PersistLogPrune { up_to } => self.storage.prune_prefix(up_to)?,
            Output::PersistLogReset { base } => self.storage.reset_to(base)?,
            Output::Send { to, msg } => {
                if let Some(bond) = self.bonds.get(&to) {
                    // Best effort: a full queue drops the message and the
                    // engine retransmits.
                    let _ = bond.out.try_send(BondMessage::Raft(msg));
                }
            }
            Output::Apply { entries } => self.apply(entries),
            Output::Reverted {
                to,
                discarded,
                replay_from,
            } => {
                if replay_from.index != mosaik_raft::Index::ZERO {
                    return Err(StorageError::new(format!(
                        "revert to {} needs a snapshot this group does not keep",
                        replay_from.index
                    )));
                }
                tracing::warn!(
                    to = to.0,
                    discarded,
                    "committed entries discarded after a partition healed"
                );
                metrics::counter!("mosaik.groups.raft.discarded", self.labels.as_ref())
                    .increment(discarded);
                self.machine = self.pristine.clone();
                self.committed = map::cursor(replay_from);
                self.status.send_modify(|s| {
                    s.committed = self.committed.1;
                    s.commit_reverts += 1;
                });
            }
            Output::CommitAdvanced(index) => {
                self.committed.1 = map::index(index);
                metrics::gauge!("mosaik.groups.raft.committed", self.labels.as_ref())
                    .set(gauge(index.0));
            }
            Output::RoleChanged(role) => {
                if role == Role::Candidate {
                    metrics::counter!("mosaik.groups.raft.elections", self.labels.as_ref())
                        .increment(1);
                }
            }
            Output::LeaderChanged(_) => {
                metrics::counter!("mosaik.groups.raft.leader.changes", self.labels.as_ref())
                    .increment(1);
            }
            Output::ProposeResult { request_id, result } => {
                self.proposals.assigned(request_id, result)
            }
            Output::Committed { request_id, result } => {
                self.proposals.committed(request_id, result)
            }
            Output::ReadReady { request_id, .. } => {
                if let Some((query, reply)) = self.reads.remove(&request_id) {
                    let result = self.machine.query(query);
                    let _ = reply.send(Ok(QueryResultAt {
                        result,
                        at_position: self.committed.1,
                    }));
                }
            }
            Output::ReadFailed { request_id } => {
                if let Some((query, reply)) = self.reads.remove(&request_id) {
                    let _ = reply.send(Err(QueryError::Offline(query)));
                }
            }
            Output::NeedStateSync { leader, base } => {
                tracing::warn!(
                    leader = %leader.fmt_short(),
                    base = base.index.0,
                    "leader pruned entries this member needs; state sync is not available for this group"
                );
            }
        }
        Ok(())
    }

    /// Applies committed entries, one `apply_batch` per run of equal terms.
    fn apply(
        &mut self,
        entries: Vec<(
            mosaik_raft::Index,
            mosaik_raft::Term<PeerId>,
            Cmd<M::Command>,
        )>,
    ) {
        let log_position = map::cursor(self.engine.last_log());
        let group_id = *self.acceptor.config.group_id();
        let network_id = self.local.network_id();
        let mut iter = entries.into_iter().peekable();
        while let Some((index, term, Cmd(first))) = iter.next() {
            let mut batch = vec![first];
            let mut last = index;
            while let Some((next, _, Cmd(command))) = iter.next_if(|(_, t, _)| *t == term) {
                batch.push(command);
                last = next;
            }
            let ctx = BatchContext {
                committed: self.committed,
                log_position,
                term: map::term(term),
                group_id,
                network_id,
            };
            self.machine.apply_batch(batch, &ctx);
            self.committed = Cursor(map::term(term), map::index(last));
        }
    }

    fn publish_status(&self) {
        let leader = self.engine.leader();
        let is_leader = self.engine.is_leader();
        let next = Status {
            leader,
            is_leader,
            online: is_leader || (self.engine.role() == Role::Follower && leader.is_some()),
            committed: self.committed.1,
            log: map::cursor(self.engine.last_log()),
            commit_reverts: 0,
            log_reverts: 0,
        };
        self.status.send_if_modified(|s| {
            let log_reverts = s.log_reverts + u64::from(next.log < s.log);
            let updated = Status {
                commit_reverts: s.commit_reverts,
                log_reverts,
                ..next
            };
            let changed = *s != updated;
            *s = updated;
            changed
        });
    }
}

/// Gauges are floats; exact below 2^53, which covers every count here.
#[allow(clippy::cast_precision_loss)]
fn gauge(value: u64) -> f64 {
    value as f64
}

/// Rebuilds the engine's durable state from storage. The state machine
/// starts empty, so `applied` is the log base (0 unless pruned).
fn restore<C: Clone, S: Storage<C>>(storage: &S) -> Result<Restored<PeerId, Cmd<C>>, StorageError> {
    let hard_state = storage.hard_state()?;
    let base = storage.base();
    let entries = storage
        .get_range(&storage.available())?
        .into_iter()
        .map(|(_, e)| mosaik_raft::Entry {
            term: e.term,
            payload: match e.payload {
                mosaik_raft::Payload::Noop => mosaik_raft::Payload::Noop,
                mosaik_raft::Payload::Command(c) => mosaik_raft::Payload::Command(Cmd(c)),
            },
        });
    Ok(Restored {
        hard_state,
        log: mosaik_raft::Log::from_parts(base, entries),
        applied: base.index,
    })
}
