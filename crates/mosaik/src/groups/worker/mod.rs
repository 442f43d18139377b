//! The group driver: a thin async loop around `mosaik_raft::Engine`.
//!
//! Inputs: API requests from handles, consensus messages and bond changes
//! from bond tasks, new bonds from dial/accept tasks, catalog changes,
//! and the engine's next deadline. Outputs are carried out strictly in
//! poll order; `Persist*` outputs are written to [`Storage`] without
//! waiting and made durable by one `flush` before the next output that
//! depends on them (group commit, see `outputs.rs`), as the engine's
//! contract requires. Applies go through `apply_batch`, one batch per term.
//! When no input is ready, the loop feeds the engine `Input::Idle`, so the
//! commit notices a leader holds back (for the next entries to carry) go
//! out before it waits.

mod catchup;
mod compaction;
mod digests;
mod fetch;
mod intake;
mod membership;
mod outputs;
mod rejoin;
mod restore;
mod sessions;
mod snapshots;
mod transfer;

use {
    super::{
        CommandError, Consistency, Cursor, IndexRange, QueryError, QueryResultAt, StateMachine,
        Storage,
        bond::{Acceptor, BondEvent, BondHandle, Incoming},
        bonds::BondSet,
        messages::{BondMessage, Cmd},
        proposals::Proposals,
        storage::StorageError,
        transport::{Local, Members},
        when::Status,
    },
    crate::PeerId,
    crate::primitives::{
        ShortFmtExt as _,
        gate::{Gate, Stop, next_change},
    },
    core::time::Duration,
    intake::{queued_behind, top_up},
    mosaik_raft::{Engine, Input, RequestId},
    std::{
        collections::{BTreeMap, BTreeSet},
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
/// How often the catalog is rescanned for members to dial, besides on
/// every catalog change (retries failed dials).
const RESCAN: Duration = Duration::from_secs(1);
/// How often a running snapshot transfer checks its timeouts.
const SYNC_TICK: Duration = Duration::from_millis(100);

type QueryReply<M> = oneshot::Sender<Result<QueryResultAt<M>, QueryError<M>>>;

/// Everything a worker starts with.
pub(crate) struct Setup<S, M: StateMachine> {
    pub(crate) local: Local,
    pub(crate) discovery: Members,
    pub(crate) acceptor: Acceptor,
    pub(crate) handshake_timeout: Duration,
    /// Byte budget of one consensus message (`groups::Config::
    /// max_append_bytes`, capped by the link's frame size).
    pub(crate) append_budget: usize,
    pub(crate) storage: S,
    pub(crate) machine: M,
    pub(crate) requests: mpsc::Receiver<Request<M>>,
    pub(crate) incoming: mpsc::Receiver<Incoming>,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) bonds: watch::Sender<BondSet>,
    /// The standing our handshakes announce (`Acceptor::standing`).
    pub(crate) standing: watch::Sender<super::messages::Standing>,
    pub(crate) cancel: CancellationToken,
    /// Where a storage failure that stops the group is reported to the
    /// handles (`Group::storage_error`), before their pending requests
    /// are dropped.
    pub(crate) failure: Arc<std::sync::OnceLock<StorageError>>,
    /// Term and followers' match indexes for observers (the dashboard).
    pub(crate) telemetry: super::telemetry::SharedTelemetry,
}

pub(crate) struct Worker<S, M: StateMachine> {
    local: Local,
    discovery: Members,
    acceptor: Acceptor,
    handshake_timeout: Duration,
    /// See `Setup::append_budget`.
    append_budget: usize,
    storage: S,
    machine: M,
    /// A copy of the machine's initial value, for rebuilding after a revert
    /// (`None` when the machine cannot be copied: see `StateMachine`).
    pristine: Option<M>,
    sync: M::StateSync,
    /// Snapshots held for compaction, reverts and serving (oldest first,
    /// at most `MAX_HELD`).
    held: Vec<snapshots::Held<M>>,
    /// Snapshot batches being encoded off the loop (at most
    /// `snapshots::MAX_SERVING`).
    serving: Arc<core::sync::atomic::AtomicUsize>,
    /// The running snapshot catch-up episode, if any.
    transfer: Option<transfer::Transfer<M>>,
    /// The position the engine's latest `NeedStateSync` asked to reach
    /// (`None` once reached or installed).
    sync_target: Option<mosaik_raft::Cursor<PeerId>>,
    /// This member's state-sync provider (set right after start).
    provider: Option<<M::StateSync as super::StateSync>::Provider>,
    /// The running log-fetch session, if any.
    session: Option<<M::StateSync as super::StateSync>::Session>,
    /// Wakes the loop to poll `provider` and `session`.
    sync_wake: Arc<sessions::SyncWaker>,
    engine: Engine<PeerId, Cmd<M::Command>>,
    origin: Instant,
    status: watch::Sender<Status>,
    telemetry: super::telemetry::SharedTelemetry,
    bonds_tx: watch::Sender<BondSet>,
    /// Ordered, so broadcasts to the bonds go out in the same order on
    /// every run (the runtime simulation replays seeds).
    bonds: BTreeMap<PeerId, BondHandle<M::Command>>,
    dialing: BTreeSet<PeerId>,
    /// When each peer's bond was last replaced by a new handshake (entries
    /// older than `membership::REPLACE_INTERVAL` are dropped).
    replaced: BTreeMap<PeerId, Instant>,
    /// Lower-id members we are not bonded with, and since when we wait for
    /// their dial (see `membership::REVERSE_DIAL_AFTER`).
    awaiting: BTreeMap<PeerId, Instant>,
    events_tx: mpsc::Sender<BondEvent<M::Command>>,
    next_request: u64,
    proposals: Proposals<M>,
    reads: BTreeMap<RequestId, (M::Query, QueryReply<M>)>,
    committed: Cursor,
    /// Version of our own entry last pushed to the bonds.
    pushed: Option<crate::discovery::PeerEntryVersion>,
    /// The machine's leadership preference (the engine's configured one).
    preference: super::LeadershipPreference,
    /// The standing our handshakes announce and our bonds were told
    /// (see `rejoin.rs`).
    advertised: watch::Sender<super::messages::Standing>,
    /// While catching up after starting with empty storage: from when the
    /// catch-up may end for want of anyone to catch up from.
    catch_up_from: Option<Instant>,
    /// Storage writes since the last `flush` that something must wait for
    /// (see `outputs.rs`).
    unflushed: bool,
    /// The hard state last handed to storage (`None` before the first).
    written_hard: Option<super::HardState>,
    /// A storage prune waiting for its snapshot's encode.
    deferred: compaction::Deferred,
    /// The digest of a held snapshot being computed off the loop.
    digests: digests::Digests,
    labels: Arc<[(&'static str, String); 2]>,
    /// `mosaik.groups.raft.committed`, registered once: it is set on every
    /// commit advance, and a labelled `gauge!` builds its key on each call.
    committed_gauge: metrics::Gauge,
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Restores the engine from storage and runs the loop until cancelled
    /// or storage fails.
    // One select loop over every input source; splitting it would only
    // scatter the loop's shape.
    #[allow(clippy::too_many_lines)]
    pub(crate) async fn run(setup: Setup<S, M>) {
        let Setup {
            local,
            discovery,
            acceptor,
            handshake_timeout,
            append_budget,
            storage,
            machine,
            mut requests,
            mut incoming,
            status,
            bonds,
            standing: advertised,
            cancel,
            failure,
            telemetry,
        } = setup;
        let group_id = *acceptor.config.group_id();
        let labels: Arc<[(&'static str, String); 2]> = Arc::new([
            ("network", local.network_id().short().to_string()),
            ("group", group_id.short().to_string()),
        ]);
        let mut storage = storage;
        let empty = starts_empty(&storage);
        let sync = machine.state_sync();
        let (restored, snapshot) = match restore::restore(&mut storage, &sync, &machine).await {
            Ok(restored) => restored,
            Err(err) => {
                tracing::error!(group = %group_id.short(), %err, "group stopped: cannot restore from storage");
                let _ = failure.set(err);
                discovery.remove_groups([group_id]);
                return;
            }
        };
        let preference = machine.leadership_preference();
        let config = acceptor
            .config
            .consensus()
            .engine(preference)
            .with_log_fetch_threshold(super::StateSync::log_fetch_threshold(&sync));
        let origin = Instant::now();
        let engine = Engine::new(
            local.id(),
            config,
            restored,
            mosaik_raft::Instant::ZERO,
            local.engine_seed(),
        )
        .with_life_epoch(local.life_epoch());
        let (events_tx, mut events) = mpsc::channel(EVENT_QUEUE);
        // unbounded: one snapshot encode runs per generation and a generation
        // ends only with a snapshot install (a whole transfer), so it holds at
        // most a few results (see `compaction.rs`).
        let (encoded_tx, mut encoded) = mpsc::unbounded_channel();
        // unbounded: at most one digest runs at a time (see `digests.rs`).
        let (digested_tx, mut digested) = mpsc::unbounded_channel();
        let pristine = super::StateSync::clone_machine(&sync, &machine);
        let (machine, held, committed) = match snapshot {
            Some((anchor, restored_machine)) => {
                let items = super::StateSync::snapshot_len(&sync, &restored_machine);
                let held = super::StateSync::clone_machine(&sync, &restored_machine)
                    .map(|machine| snapshots::Held::new(anchor, machine, items, None))
                    .into_iter()
                    .collect();
                (restored_machine, held, super::types::engine::cursor(anchor))
            }
            None => (machine, Vec::new(), Cursor::zero()),
        };
        let mut worker = Worker {
            pristine,
            sync,
            held,
            serving: Arc::default(),
            transfer: None,
            sync_target: None,
            provider: None,
            session: None,
            sync_wake: Arc::default(),
            local,
            discovery,
            acceptor,
            handshake_timeout,
            append_budget,
            storage,
            machine,
            engine,
            origin,
            status,
            telemetry,
            bonds_tx: bonds,
            bonds: BTreeMap::new(),
            dialing: BTreeSet::new(),
            replaced: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            events_tx,
            next_request: 0,
            proposals: Proposals::new(append_budget),
            reads: BTreeMap::new(),
            committed,
            pushed: None,
            preference,
            advertised,
            catch_up_from: None,
            unflushed: false,
            written_hard: None,
            deferred: compaction::Deferred::new(encoded_tx),
            digests: digests::Digests::new(digested_tx),
            committed_gauge: metrics::gauge!("mosaik.groups.raft.committed", labels.as_ref()),
            labels,
        };
        if empty {
            worker.engine.handle(worker.now(), Input::BeginCatchUp);
        }
        // Also a catch-up the hard state says a crash interrupted.
        if worker.engine.is_catching_up() {
            worker.begin_catch_up();
        }
        worker.start_provider();
        // The loop's long-lived sources, gated (see `primitives::gate`):
        // polled only when they woke, not on every pass.
        let mut sync_woken = Gate::new(worker.sync_wake.clone().woken());
        let mut catalog = Gate::new(next_change(worker.discovery.catalog_watch()));
        let mut stopped = Stop::new(&cancel);
        let mut network_down = Stop::new(worker.local.termination());
        // One timer for the engine's deadline, moved when it moves.
        let mut tick = Box::pin(tokio::time::sleep_until(worker.deadline()));
        let mut rescan = tokio::time::interval(RESCAN);
        let mut sync_tick = tokio::time::interval(SYNC_TICK);
        // Only polled during a transfer: skip, never burst, the ticks
        // missed while idle.
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Fair scheduling: which source goes first rotates every pass (see
        // `Turn`), so a flood of requests cannot starve bond events (the
        // leader's acks and heartbeat answers: it would lose check-quorum)
        // and neither can starve the rest.
        let mut turn = Turn::Requests;
        // Whether the last run of requests held more than one: clients
        // are submitting concurrently (see `top_up`).
        let mut concurrent = false;
        let result: Result<(), StorageError> = loop {
            turn = turn.next();
            // A source whose turn it is goes first if it has work ready.
            let first = match turn {
                Turn::Requests => requests
                    .try_recv()
                    .ok()
                    .map(|req| First::Requests(queued_behind(req, &mut requests))),
                Turn::Events => events
                    .try_recv()
                    .ok()
                    .map(|event| First::Events(queued_behind(event, &mut events))),
                Turn::Rest => None,
            };
            if let Some(first) = first {
                let step = match first {
                    First::Requests(mut batch) => {
                        top_up(&mut batch, &mut requests, &mut concurrent).await;
                        worker.requests(batch).await
                    }
                    First::Events(batch) => worker.bond_events(batch).await,
                };
                if let Err(err) = step {
                    break Err(err);
                }
                continue;
            }
            let deadline = worker.deadline();
            if deadline != tick.deadline() {
                tick.as_mut().reset(deadline);
            }
            let step = tokio::select! {
                biased;
                () = &mut stopped => break Ok(()),
                () = &mut network_down => break Ok(()),
                Some(new) = incoming.recv() => worker.incoming(new).await,
                Some(done) = encoded.recv() => worker.snapshot_encoded(done).await,
                Some(done) = digested.recv() => {
                    worker.digested(done);
                    Ok(())
                }
                (watch, changed) = &mut catalog => {
                    if !changed {
                        // Discovery is gone; the gate stays pending.
                        continue;
                    }
                    catalog.set(next_change(watch));
                    worker.push_local_entry();
                    worker.catalog_changed().await
                }
                _ = rescan.tick() => {
                    worker.expire_snapshots();
                    worker.catalog_changed().await
                }
                _ = sync_tick.tick(), if worker.transfer.is_some() => worker.sync_tick().await,
                () = tokio::time::sleep_until(worker.catch_up_from.unwrap_or(deadline)),
                    if worker.catch_up_from.is_some_and(|at| at > Instant::now()) =>
                {
                    worker.check_catch_up().await
                }
                () = &mut sync_woken => {
                    sync_woken.set(worker.sync_wake.clone().woken());
                    worker.poll_sync().await
                }
                () = &mut tick => {
                    worker.engine.handle(worker.now(), Input::Tick);
                    worker.drain().await
                }
                Some(req) = requests.recv() => {
                    let mut batch = queued_behind(req, &mut requests);
                    top_up(&mut batch, &mut requests, &mut concurrent).await;
                    worker.requests(batch).await
                }
                Some(event) = events.recv() => {
                    worker.bond_events(queued_behind(event, &mut events)).await
                }
                // Last, so anything else ready goes first: one yield lets the
                // clients a commit woke queue their next proposals, whose
                // entries then carry the commit index the engine holds back.
                () = tokio::task::yield_now(), if worker.engine.holds_commit_notices() => {
                    worker.engine.handle(worker.now(), Input::Idle);
                    worker.drain().await
                }
            };
            if let Err(err) = step {
                break Err(err);
            }
        };
        if let Err(err) = &result {
            tracing::error!(group = %group_id.short(), %err, "group stopped: storage failed");
            let _ = failure.set(err.clone());
            // The handles still exist (so no re-join can race this).
            worker.discovery.remove_groups([group_id]);
        }
        worker.leave();
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
            None => Instant::now() + Duration::from_hours(1),
        }
    }

    /// Tells every bonded peer we leave. (Advertising is done by `join`
    /// and the last handle's drop, synchronously, so a quick re-join is
    /// never un-advertised by a worker that is still winding down.)
    fn leave(&mut self) {
        for bond in core::mem::take(&mut self.bonds).into_values() {
            // Dropping the sender afterwards lets the writer drain the
            // queue (Departure last) and close the link gracefully.
            let _ = bond.out.try_send(BondMessage::Departure);
        }
        self.publish_bonds();
        metrics::gauge!("mosaik.groups.bonds.active", self.labels.as_ref()).set(0.0);
    }

    /// Handles a run of queued requests: proposals are merged into one
    /// engine proposal (group commit), queries answered or started.
    async fn requests(&mut self, batch: Vec<Request<M>>) -> Result<(), StorageError> {
        let mut proposals = Vec::new();
        for req in batch {
            match req {
                Request::Propose {
                    commands,
                    wait_commit,
                    reply,
                } => proposals.push((commands, wait_commit, reply)),
                Request::Query {
                    query,
                    consistency,
                    reply,
                } => self.query(query, consistency, reply),
            }
        }
        // One engine proposal per message-sized run (see `Proposals::merge`).
        let mut proposals = std::collections::VecDeque::from(proposals);
        while !proposals.is_empty() {
            let request_id = self.request_id();
            if let Some(commands) = self.proposals.merge(request_id, &mut proposals) {
                let input = Input::Propose {
                    request_id,
                    commands,
                };
                self.engine.handle(self.now(), input);
            }
        }
        self.drain().await
    }

    /// Weak queries are answered from the local machine at once; strong
    /// ones wait for the engine's read index (`ReadReady`).
    fn query(&mut self, query: M::Query, consistency: Consistency, reply: QueryReply<M>) {
        match super::transport::served_consistency(consistency) {
            Consistency::Weak => {
                let result = self.machine.query(query);
                let _ = reply.send(Ok(QueryResultAt {
                    result,
                    at_position: self.committed.1,
                }));
            }
            Consistency::Strong => {
                let request_id = self.request_id();
                self.reads.insert(request_id, (query, reply));
                self.engine.handle(self.now(), Input::Read { request_id });
            }
        }
    }

    /// Handles a run of bond events in order.
    async fn bond_events(&mut self, batch: Vec<BondEvent<M::Command>>) -> Result<(), StorageError> {
        for event in batch {
            self.bond_event(event).await?;
        }
        Ok(())
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }
}

/// Which input source the worker loop polls first on a pass. Each pass
/// handles one run of one source (requests or bond events: at most
/// `MAX_MERGED` each; other sources one item), and each source is first
/// every third pass, so whatever floods, every source is served within
/// three passes and events keep pace with requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Handle requests first.
    Requests,
    /// Bond events first.
    Events,
    /// Everything else (new bonds, catalog, timers, sync) first.
    Rest,
}

impl Turn {
    fn next(self) -> Self {
        match self {
            Self::Requests => Self::Events,
            Self::Events => Self::Rest,
            Self::Rest => Self::Requests,
        }
    }
}

/// Work a source had ready on its turn.
enum First<M: StateMachine> {
    Requests(Vec<Request<M>>),
    Events(Vec<BondEvent<M::Command>>),
}

/// Gauges are floats; exact below 2^53, which covers every count here.
#[allow(clippy::cast_precision_loss)]
pub(super) fn gauge(value: u64) -> f64 {
    value as f64
}

/// True if `storage` holds nothing: term zero, an empty log from index
/// zero. Such a member may have been a member before and lost what it
/// stored (an in-memory store on every restart), so it catches up before
/// it votes (see `rejoin.rs`). A storage error counts as not empty: the
/// worker stops on it anyway.
pub(crate) fn starts_empty<C, S: Storage<C>>(storage: &S) -> bool {
    storage
        .hard_state()
        .is_ok_and(|h| h.term == mosaik_raft::Term::zero())
        && storage.base().index == mosaik_raft::Index::ZERO
        && storage.last().index == mosaik_raft::Index::ZERO
}

/// True if the worker will start catching up: its storage is empty, or
/// its hard state says a catch-up was interrupted by a crash (the engine
/// resumes it).
pub(crate) fn starts_catching_up<C, S: Storage<C>>(storage: &S) -> bool {
    starts_empty(storage) || storage.hard_state().is_ok_and(|h| h.catching_up)
}
