//! Driving the state-sync framework (`sync/framework.rs`): the provider
//! every member runs, the session a lagging follower runs, their messages
//! and the context they see.
//!
//! Providers and sessions are polled like futures, but on the worker loop:
//! the waker they get wakes the loop (through [`SyncWaker`]), which then
//! polls both again. They are also polled after every state-sync message
//! and every bond change, so they never need a waker for those.

use {
    super::Worker,
    crate::{
        GroupId, NetworkId, PeerId,
        groups::{
            Cursor, Index, StateMachine, StateSync, Storage,
            bond::BondHandle,
            messages::{BondMessage, Cmd},
            storage::StorageError,
            sync::{
                AppendError, LogSlice, Sealed, StateSyncProvider, StateSyncSession, SyncContext,
                SyncSessionContext,
            },
            types::engine as map,
        },
        primitives::encoding,
    },
    bytes::Bytes,
    core::{ops::RangeInclusive, task::Context},
    mosaik_raft::{Engine, Entry, Input, Payload},
    std::{collections::BTreeMap, sync::Arc, task::Wake},
    tokio::sync::Notify,
};

/// Wakes the worker loop to poll the provider and the session again.
#[derive(Default)]
pub(crate) struct SyncWaker(pub(super) Notify);

impl SyncWaker {
    /// Until the next wake (an owned future, so the worker loop can keep
    /// one across passes).
    pub(super) async fn woken(self: Arc<Self>) {
        self.0.notified().await;
    }
}

impl Wake for SyncWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

type Message<M> = <<M as StateMachine>::StateSync as StateSync>::Message;

/// The context providers and sessions see: borrowed pieces of the worker.
struct Ctx<'a, M: StateMachine> {
    engine: &'a mut Engine<PeerId, Cmd<M::Command>>,
    machine: &'a M,
    bonds: &'a BTreeMap<PeerId, BondHandle<M::Command>>,
    local: &'a crate::groups::transport::Local,
    group: GroupId,
    committed: Cursor,
    now: mosaik_raft::Instant,
    labels: &'a [(&'static str, String); 2],
}

impl<M: StateMachine> Sealed for Ctx<'_, M> {}

impl<M: StateMachine> SyncContext<M::StateSync> for Ctx<'_, M> {
    fn state_machine(&self) -> &M {
        self.machine
    }

    fn committed(&self) -> Cursor {
        self.committed
    }

    fn log_position(&self) -> Cursor {
        map::cursor(self.engine.last_log())
    }

    fn log_slice(&self, range: RangeInclusive<Index>, max_bytes: usize) -> LogSlice {
        let log = self.engine.log();
        let start = mosaik_raft::Index(range.start().0.max(1));
        let end = mosaik_raft::Index(range.end().0).min(self.engine.commit_index());
        let Some(prev_term) = log.term_at(start.prev()).filter(|_| start <= end) else {
            return LogSlice::empty(mosaik_raft::Cursor::zero());
        };
        let mut slice = LogSlice::empty(mosaik_raft::Cursor::new(prev_term, start.prev()));
        let mut bytes = 0usize;
        for (index, entry) in log.iter_from(start) {
            if index > end || (bytes >= max_bytes && !slice.is_empty()) {
                break;
            }
            let payload = match &entry.payload {
                Payload::Noop => None,
                // Encoded once, when proposed or received: shared, not copied.
                Payload::Command(command) => match command.bytes() {
                    Ok(encoded) => Some(encoded),
                    // Ours did encode once (it is in the log); stop here.
                    Err(_) => break,
                },
            };
            // Term, tag and length prefix: a generous per-entry overhead.
            bytes += payload.as_ref().map_or(0, Bytes::len) + 48;
            slice.entries.push((entry.term, payload));
        }
        slice
    }

    fn max_message_size(&self) -> usize {
        self.local.max_frame_size()
    }

    fn local_id(&self) -> PeerId {
        self.local.id()
    }

    fn group_id(&self) -> GroupId {
        self.group
    }

    fn network_id(&self) -> NetworkId {
        self.local.network_id()
    }

    fn misbehaved(&self, peer: PeerId) {
        super::membership::close_hostile(self.bonds, self.labels, peer, "invalid state sync data");
    }

    fn may_send(&self, peer: PeerId) -> bool {
        self.bonds
            .get(&peer)
            .is_some_and(|bond| bond.sync_bytes.has_room())
    }

    fn send_to(&self, peer: PeerId, msg: Message<M>) -> bool {
        let Some(bond) = self.bonds.get(&peer) else {
            return false;
        };
        match encoding::try_serialize(&msg) {
            Ok(bytes) => {
                // Held to the bond's budget of queued sync bytes; dropped
                // over it, as a full queue drops it (the asker asks again).
                let len = bytes.len();
                if !bond.sync_bytes.try_take(len) {
                    return false;
                }
                let queued = bond.out.try_send(BondMessage::StateSync(bytes)).is_ok();
                if !queued {
                    bond.sync_bytes.give_back(len);
                }
                queued
            }
            Err(err) => {
                tracing::warn!(%err, "a state sync message does not encode");
                false
            }
        }
    }

    fn broadcast(&self, msg: Message<M>) -> Vec<PeerId> {
        self.bonds()
            .into_iter()
            .filter(|peer| self.send_to(*peer, msg.clone()))
            .collect()
    }

    fn bonds(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self.bonds.keys().copied().collect();
        peers.sort();
        peers
    }

    fn leader(&self) -> Option<PeerId> {
        self.engine.leader()
    }

    fn is_leader(&self) -> bool {
        self.engine.is_leader()
    }
}

impl<M: StateMachine> SyncSessionContext<M::StateSync> for Ctx<'_, M> {
    fn append(&mut self, slice: LogSlice) -> Result<Index, AppendError> {
        if self.engine.role() != mosaik_raft::Role::Follower || self.engine.leader().is_none() {
            return Err(AppendError::NotFollowing);
        }
        if self.engine.log().term_at(slice.prev.index) != Some(slice.prev.term) {
            return Err(AppendError::Mismatch);
        }
        let mut entries = Vec::with_capacity(slice.entries.len());
        for (term, payload) in slice.entries {
            let payload = match payload {
                None => Payload::Noop,
                Some(bytes) => {
                    Payload::Command(Cmd::decode(bytes).map_err(|_| AppendError::Undecodable)?)
                }
            };
            entries.push(Entry { term, payload });
        }
        let prev = slice.prev;
        self.engine
            .handle(self.now, Input::EntriesFetched { prev, entries });
        Ok(map::index(self.engine.last_log().index))
    }
}

/// A [`Ctx`] over `$worker`'s fields (a macro, so the borrows stay
/// disjoint from the provider and session fields).
macro_rules! ctx {
    ($worker:ident, $now:expr) => {
        Ctx::<M> {
            engine: &mut $worker.engine,
            machine: &$worker.machine,
            bonds: &$worker.bonds,
            local: &$worker.local,
            group: *$worker.acceptor.config.group_id(),
            committed: $worker.committed,
            now: $now,
            labels: &$worker.labels,
        }
    };
}

impl<S, M> Worker<S, M>
where
    S: Storage<M::Command>,
    M: StateMachine,
{
    /// Makes this member's provider (once, when the worker starts).
    pub(super) fn start_provider(&mut self) {
        let now = self.now();
        let ctx = ctx!(self, now);
        self.provider = Some(self.sync.create_provider(&ctx));
    }

    /// Polls the provider and the session; ends a finished session.
    pub(super) async fn poll_sync(&mut self) -> Result<(), StorageError> {
        self.poll_sync_now();
        self.drain().await
    }

    /// The synchronous part of [`Self::poll_sync`] (its `Context` must not
    /// live across the drain's `await`).
    fn poll_sync_now(&mut self) {
        let waker = std::task::Waker::from(self.sync_wake.clone());
        let mut cx = Context::from_waker(&waker);
        let now = self.now();
        let mut ctx = ctx!(self, now);
        if let Some(provider) = &mut self.provider {
            let _ = provider.poll(&mut cx, &mut ctx);
        }
        let done = self
            .session
            .as_mut()
            .is_some_and(|session| session.poll(&mut cx, &mut ctx).is_ready());
        if done {
            self.end_session();
        }
    }

    /// Ends the session (if any) and tells the engine, so the leader
    /// streams what is still missing.
    pub(super) fn end_session(&mut self) {
        if self.session.take().is_some() {
            tracing::debug!(
                last = self.engine.last_log().index.0,
                "log fetch session ended"
            );
            self.engine.handle(self.now(), Input::LogFetchDone);
        }
    }

    /// The engine wants the committed entries up to `up_to` fetched.
    pub(super) fn need_log_fetch(&mut self, up_to: mosaik_raft::Index) {
        let now = self.now();
        let mut ctx = ctx!(self, now);
        self.session = self.sync.create_session(&mut ctx, map::index(up_to));
        if self.session.is_some() {
            tracing::debug!(
                from = self.engine.last_log().index.0,
                up_to = up_to.0,
                "log fetch session started"
            );
            self.sync_wake.0.notify_one();
        } else {
            self.engine.handle(now, Input::LogFetchDone);
        }
    }

    /// A state-sync message of the strategy from `peer`.
    pub(super) async fn sync_custom(
        &mut self,
        peer: PeerId,
        bytes: &Bytes,
    ) -> Result<(), StorageError> {
        let msg: Message<M> = match encoding::deserialize(bytes) {
            Ok(msg) => msg,
            Err(err) => {
                tracing::debug!(%err, "undecodable state sync message");
                self.close_hostile(peer, "undecodable state sync message");
                return Ok(());
            }
        };
        let now = self.now();
        let mut ctx = ctx!(self, now);
        let rest = match &mut self.provider {
            Some(provider) => provider.receive(msg, peer, &mut ctx),
            None => Err(msg),
        };
        if let (Err(msg), Some(session)) = (rest, &mut self.session) {
            session.receive(msg, peer, &mut ctx);
        }
        self.poll_sync().await
    }

    /// The commit index advanced: the provider's hook.
    pub(super) fn sync_committed(&mut self) {
        let now = self.now();
        let mut ctx = ctx!(self, now);
        let committed = self.committed;
        if let Some(provider) = &mut self.provider {
            provider.committed(committed, &mut ctx);
        }
    }
}
