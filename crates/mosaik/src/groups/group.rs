//! [`Group<M>`]: a handle to a group this node is a member of.
//!
//! Lifecycle (SPEC C3): the group lives while any handle lives. Handles
//! share one [`Inner`]; the last one dropped stops the worker, which tells
//! bonded peers it departs and un-advertises the group.

use {
    super::{
        Bonds, CommandError, Consistency, Cursor, GroupConfig, Index, IndexRange, QueryError,
        QueryResultAt, StateMachine, StorageError, When, bonds::BondSet, registry::Registry,
        when::Status, worker::Request,
    },
    crate::primitives::ShortFmtExt as _,
    crate::{GroupId, PeerId},
    std::sync::Arc,
    tokio::sync::{mpsc, oneshot, watch},
    tokio_util::sync::CancellationToken,
};

/// What all handles of one group share. Dropping it stops the group.
pub(crate) struct Inner<M: StateMachine> {
    pub(crate) config: Arc<GroupConfig>,
    pub(crate) requests: mpsc::Sender<Request<M>>,
    pub(crate) when: When,
    pub(crate) status: watch::Receiver<Status>,
    pub(crate) bonds: watch::Receiver<BondSet>,
    pub(crate) cancel: CancellationToken,
    pub(crate) registry: Arc<Registry>,
    pub(crate) generation: u64,
    pub(crate) discovery: super::transport::Members,
    pub(crate) network_label: String,
    /// A handle that never ran a worker (see [`Group::terminated`]): its
    /// drop leaves the registry, the advertisement and the gauge alone.
    pub(crate) detached: bool,
    /// Set once by the worker when storage failed and stopped the group.
    pub(crate) failure: Arc<std::sync::OnceLock<StorageError>>,
}

impl<M: StateMachine> Drop for Inner<M> {
    fn drop(&mut self) {
        let id = *self.config.group_id();
        self.cancel.cancel();
        if self.detached {
            return;
        }
        self.registry.remove(&id, self.generation);
        self.discovery.remove_groups([id]);
        let network = [("network", self.network_label.clone())];
        metrics::gauge!("mosaik.groups.active", &network).decrement(1.0);
    }
}

/// A handle to a joined group. Cheap to clone; the group stays alive while
/// any handle (clone or another `join` of the same group id) exists.
pub struct Group<M: StateMachine> {
    inner: Arc<Inner<M>>,
}

impl<M: StateMachine> Clone for Group<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: StateMachine> core::fmt::Debug for Group<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Group")
            .field("id", &self.id().short())
            .field("leader", &self.leader().map(|l| l.fmt_short().to_string()))
            .finish_non_exhaustive()
    }
}

/// `Group(<id>, leader=<id>|none, committed=<index>)`, ids shortened.
impl<M: StateMachine> core::fmt::Display for Group<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Group({}, leader=", self.id().short())?;
        match self.leader() {
            Some(leader) => write!(f, "{}", leader.fmt_short())?,
            None => f.write_str("none")?,
        }
        write!(f, ", committed={})", self.committed())
    }
}

impl<M: StateMachine> Group<M> {
    pub(crate) fn from_inner(inner: Arc<Inner<M>>) -> Self {
        Self { inner }
    }

    /// A handle to no running group: every request answers
    /// `GroupTerminated`. What `join` returns when it cannot join (another
    /// state machine type runs this group id here), as `produce` returns a
    /// closed producer.
    pub(crate) fn terminated(
        config: Arc<GroupConfig>,
        registry: Arc<Registry>,
        discovery: super::transport::Members,
    ) -> Self {
        let (requests, _) = mpsc::channel(1);
        let (_, status) = watch::channel(Status::initial());
        let (_, bonds) = watch::channel(BondSet::default());
        let cancel = CancellationToken::new();
        cancel.cancel();
        let inner = Inner {
            config,
            requests,
            when: When::new(status.clone()),
            status,
            bonds,
            cancel,
            registry,
            generation: 0,
            discovery,
            network_label: String::new(),
            detached: true,
            failure: Arc::default(),
        };
        Self::from_inner(Arc::new(inner))
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner<M>> {
        Arc::downgrade(&self.inner)
    }

    /// Why the group stopped, if its storage failed (a full disk, an I/O
    /// error, damaged data found while running): the first storage error,
    /// the same on every handle of the group. Once set, every `execute`,
    /// `feed` and `query` fails with `GroupTerminated`; nothing that was
    /// not durable had been acknowledged. `None` while the group runs or
    /// after it stopped for another reason (its last handle dropped, the
    /// network shut down).
    pub fn storage_error(&self) -> Option<StorageError> {
        self.inner.failure.get().cloned()
    }

    /// The group id.
    pub fn id(&self) -> &GroupId {
        self.inner.config.group_id()
    }

    /// The group's configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.inner.config
    }

    /// True if this node currently leads.
    pub fn is_leader(&self) -> bool {
        self.inner.status.borrow().is_leader
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<PeerId> {
        self.inner.status.borrow().leader
    }

    /// The live bonds.
    pub fn bonds(&self) -> Bonds<M> {
        Bonds::new(self.inner.bonds.clone())
    }

    /// Observers of leader, role and positions.
    pub fn when(&self) -> &When {
        &self.inner.when
    }

    /// The committed index applied locally.
    pub fn committed(&self) -> Index {
        self.inner.status.borrow().committed
    }

    /// The local log's last position.
    pub fn log_position(&self) -> Cursor {
        self.inner.status.borrow().log
    }

    /// Submits one command and waits until it committed (SPEC C1.4: `Ok`
    /// only if the entry committed at that index is this command).
    ///
    /// In dynamic mode (the default) a committed command can still be
    /// reverted when a partition heals and the other side's history wins
    /// (`when().committed().reverted()` shows it); in strict mode `Ok` is
    /// final. See [`CommandError`] for what each error says about whether
    /// the command was applied (`Indeterminate`: unknown).
    pub fn execute(
        &self,
        command: M::Command,
    ) -> impl Future<Output = Result<Index, CommandError<M>>> + Send + Sync + 'static {
        let fut = self.propose(vec![command], true);
        async move { fut.await.map(|range| *range.end()) }
    }

    /// Submits a batch and waits until all of it committed. If the leader
    /// lost its leadership after a prefix committed, the error is
    /// `PartlyCommitted`: the prefix is applied, only the rest comes back.
    /// One batch must fit in one message (`groups::Config::
    /// max_append_bytes`), or it is refused with `TooLarge`.
    pub fn execute_many(
        &self,
        commands: impl IntoIterator<Item = M::Command>,
    ) -> impl Future<Output = Result<IndexRange, CommandError<M>>> + Send + Sync + 'static {
        self.propose(commands.into_iter().collect(), true)
    }

    /// Submits one command; resolves once the leader assigned it an index
    /// (not yet committed).
    pub fn feed(
        &self,
        command: M::Command,
    ) -> impl Future<Output = Result<Index, CommandError<M>>> + Send + Sync + 'static {
        let fut = self.propose(vec![command], false);
        async move { fut.await.map(|range| *range.end()) }
    }

    /// Submits a batch; resolves with the assigned (contiguous) range.
    pub fn feed_many(
        &self,
        commands: impl IntoIterator<Item = M::Command>,
    ) -> impl Future<Output = Result<IndexRange, CommandError<M>>> + Send + Sync + 'static {
        self.propose(commands.into_iter().collect(), false)
    }

    fn propose(
        &self,
        commands: Vec<M::Command>,
        wait_commit: bool,
    ) -> impl Future<Output = Result<IndexRange, CommandError<M>>> + Send + Sync + 'static {
        let requests = self.inner.requests.clone();
        async move {
            if commands.is_empty() {
                return Err(CommandError::NoCommands);
            }
            let (reply, answer) = oneshot::channel();
            let request = Request::Propose {
                commands,
                wait_commit,
                reply,
            };
            if requests.send(request).await.is_err() {
                return Err(CommandError::GroupTerminated);
            }
            answer.await.unwrap_or(Err(CommandError::GroupTerminated))
        }
    }

    /// Evaluates a query: `Weak` on the local state, `Strong` after the
    /// leader confirmed its leadership with a quorum (read index), so the
    /// answer reflects every write its side committed before the call.
    /// Linearizable in strict mode only: in dynamic mode each side of a
    /// partition has its own quorum, so a `Strong` read there may miss
    /// writes the other side committed (and what it returns may be
    /// reverted when the partition heals).
    pub fn query(
        &self,
        query: M::Query,
        consistency: Consistency,
    ) -> impl Future<Output = Result<QueryResultAt<M>, QueryError<M>>> + Send + Sync + 'static {
        let requests = self.inner.requests.clone();
        async move {
            let (reply, answer) = oneshot::channel();
            let request = Request::Query {
                query,
                consistency,
                reply,
            };
            if requests.send(request).await.is_err() {
                return Err(QueryError::GroupTerminated);
            }
            answer.await.unwrap_or(Err(QueryError::GroupTerminated))
        }
    }
}
