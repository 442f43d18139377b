//! [`Core`]: what all local handles of one store share — the group handle,
//! the `watch` of the latest applied state, and the write path.
//!
//! One group per store per node: joining the same group id twice returns
//! the same group, so a second handle must also share the first one's
//! state watch (the second machine is discarded by the groups builder). A
//! process-wide registry (`registry.rs`) maps (node, network, group id) to
//! the live core.
//!
//! Roles: readers join as `Observer` (never lead, never count toward
//! quorum), writers as `Normal`. The preference of a group is fixed when it
//! is joined, so the node's role is the strongest of its handles: when a
//! writer opens a store that only readers had open on this node, the core
//! leaves the observer group and rejoins as a writer (its handles keep
//! their state: the new machine publishes only once it is past what they
//! saw). A node never downgrades while its core lives.
//!
//! Storage (`CollectionConfig::with_storage`) belongs to the replica, not
//! to one group: the first handle's config chooses it, and a durable store
//! opened then is lent to each group in turn (`storage.rs`). A rejoin as a
//! writer therefore waits (in a task; writes wait for it, reads do not)
//! until the observer group's worker has ended and given the store back.

use {
    super::{
        CollectionConfig, Error, Version, When,
        machine::{CollectionState, Machine},
        registry::{self, CollectionSample, Registered},
        storage::{HANDOVER_TIMEOUT, Home, ReplicaStorage, group_dir, home_for},
    },
    crate::{
        GroupId, Network, PeerId, StoreId,
        groups::{self, CommandError, Group, GroupBuilder, Groups, InMemoryLogStore, StorageError},
    },
    core::{
        any::Any,
        sync::atomic::{AtomicU64, Ordering},
        time::Duration,
    },
    std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock},
    tokio::sync::watch,
};

/// How long a write waits for the local replica to show its own command
/// after the commit was reported (normally immediate: both happen in the
/// same driver step).
const APPLY_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct Core<S: CollectionState> {
    store: StoreId,
    group_id: GroupId,
    /// `None` only while the group is being replaced (under the write
    /// lock, or while a durable store is handed over: then `ready` is
    /// false).
    group: RwLock<Option<Group<Machine<S>>>>,
    /// False while a rejoin waits for the durable store; writes wait on it.
    ready: watch::Sender<bool>,
    /// The committed index of the replaced group (the version while there
    /// is none).
    seen: AtomicU64,
    writer: Mutex<bool>,
    /// The replica's durable store between groups (`with_storage`).
    home: Option<Arc<Home<S::Command>>>,
    /// Why the replica has no usable storage; set once, never cleared.
    storage_error: OnceLock<StorageError>,
    state: watch::Receiver<S>,
    publish: Arc<watch::Sender<S>>,
    whens: watch::Sender<groups::When>,
    when: When,
}

impl<S: CollectionState> Core<S> {
    /// The core of `store` on this node: the existing one if any handle of
    /// it lives, else a new one joined with `writer`'s role.
    pub(crate) fn open(
        network: &Network,
        store: StoreId,
        config: &CollectionConfig,
        writer: bool,
    ) -> Arc<Self> {
        let mut registry = registry::lock();
        let (publish, state) = watch::channel(S::default());
        let publish = Arc::new(publish);
        let machine = Machine::new(
            store,
            writer,
            config.sync().snapshot_sync(),
            publish.clone(),
            0,
        );
        let builder = builder(network.groups(), store, config, machine);
        let group_id = builder.group_id();
        let key = (network.local().id(), *network.network_id(), group_id);
        if let Some(core) = registry.get::<Self>(&key) {
            if config.storage().is_some() && core.home.is_none() {
                tracing::warn!(
                    store = %store,
                    "collection storage ignored: this node's replica of the store is already open without it"
                );
            }
            if writer {
                core.become_writer(network.groups(), config);
            }
            return core;
        }
        let storage_error = OnceLock::new();
        let home = match open_storage(config, group_id) {
            Ok(home) => home,
            Err(err) => {
                let _ = storage_error.set(err);
                None
            }
        };
        let lease = home.as_ref().map(Home::lend);
        let storage = match (&lease, storage_error.get()) {
            (_, Some(err)) => Some(ReplicaStorage::Failed(err.clone())),
            (None, None) => Some(ReplicaStorage::Memory(InMemoryLogStore::positions_only())),
            (Some(Some(_)), None) => lease.flatten().map(ReplicaStorage::Durable),
            // Lent to the group of a previous replica in this process.
            (Some(None), None) => None,
        };
        let group = storage.map(|storage| builder.with_log_storage(storage).join());
        let when = group
            .as_ref()
            .map_or_else(groups::When::detached, |g| g.when().clone());
        let (whens, current) = watch::channel(when);
        let core = Arc::new(Self {
            store,
            group_id,
            ready: watch::Sender::new(group.is_some()),
            group: RwLock::new(group),
            seen: AtomicU64::new(0),
            writer: Mutex::new(writer),
            home,
            storage_error,
            state,
            publish,
            whens,
            when: When::new(current),
        });
        if !*core.ready.borrow() {
            core.join_when_returned(network.groups(), config);
        }
        let erased: Arc<dyn Registered> = core.clone();
        registry.insert(key, &erased);
        core
    }

    /// A core around `group`, joined elsewhere (the runtime simulation's
    /// `SimNet::join`): no registry entry, no durable home, and a role
    /// that never changes.
    #[cfg(feature = "runtime-sim")]
    pub(crate) fn from_group(
        store: StoreId,
        group: Group<Machine<S>>,
        writer: bool,
        publish: Arc<watch::Sender<S>>,
        state: watch::Receiver<S>,
    ) -> Arc<Self> {
        let (whens, current) = watch::channel(group.when().clone());
        Arc::new(Self {
            store,
            group_id: *group.id(),
            ready: watch::Sender::new(true),
            group: RwLock::new(Some(group)),
            seen: AtomicU64::new(0),
            writer: Mutex::new(writer),
            home: None,
            storage_error: OnceLock::new(),
            state,
            publish,
            whens,
            when: When::new(current),
        })
    }

    /// Rejoins as a writer if this node only observed so far. Called with
    /// the registry locked, so no other handle opens meanwhile.
    fn become_writer(self: &Arc<Self>, groups: &Groups, config: &CollectionConfig) {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if *writer {
            return;
        }
        *writer = true;
        drop(writer);
        let mut slot = self.group.write().unwrap_or_else(PoisonError::into_inner);
        let Some(group) = slot.take() else {
            // Still waiting for the store: the pending join reads the role.
            return;
        };
        self.seen.store(group.committed().0, Ordering::Release);
        // The observer group must be gone (its last handle dropped) before
        // joining again, or `join` would hand it back.
        drop(group);
        if self.home.is_none() {
            let storage = match self.storage_error.get() {
                Some(err) => ReplicaStorage::Failed(err.clone()),
                None => ReplicaStorage::Memory(InMemoryLogStore::default()),
            };
            let group = self
                .builder(groups, config)
                .with_log_storage(storage)
                .join();
            self.install(&mut slot, group);
            return;
        }
        // The durable store is still lent to the observer group, whose
        // worker ends at its next turn; join once it is back.
        self.ready.send_replace(false);
        drop(slot);
        self.join_when_returned(groups, config);
    }

    /// Joins (in a task) once the durable store came home: writes wait
    /// until then, reads see the state so far.
    fn join_when_returned(self: &Arc<Self>, groups: &Groups, config: &CollectionConfig) {
        let Some(home) = self.home.clone() else {
            return;
        };
        let core = self.clone();
        let groups = groups.clone();
        let config = config.clone();
        tokio::spawn(async move {
            let storage = if let Some(lease) = home.reclaim(HANDOVER_TIMEOUT).await {
                ReplicaStorage::Durable(lease)
            } else {
                let err = StorageError::new(format!(
                    "the store's previous group did not release it within {HANDOVER_TIMEOUT:?}"
                ));
                tracing::error!(store = %core.store, %err, "collection cannot join its group");
                let _ = core.storage_error.set(err.clone());
                ReplicaStorage::Failed(err)
            };
            // The role is read under the slot lock: a `become_writer`
            // meanwhile either finds no group (and this join reads its
            // flag) or finds this group and rejoins.
            let mut slot = core.group.write().unwrap_or_else(PoisonError::into_inner);
            let group = core
                .builder(&groups, &config)
                .with_log_storage(storage)
                .join();
            core.install(&mut slot, group);
            drop(slot);
            core.ready.send_replace(true);
        });
    }

    /// The builder of this replica's group in its current role: its
    /// machine publishes only past what the handles already saw.
    fn builder<'g>(
        &self,
        groups: &'g Groups,
        config: &CollectionConfig,
    ) -> GroupBuilder<'g, InMemoryLogStore<S::Command>, Machine<S>> {
        let writer = *self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let machine = Machine::new(
            self.store,
            writer,
            config.sync().snapshot_sync(),
            self.publish.clone(),
            self.seen.load(Ordering::Acquire),
        );
        builder(groups, self.store, config, machine)
    }

    fn install(&self, slot: &mut Option<Group<Machine<S>>>, group: Group<Machine<S>>) {
        self.whens.send_replace(group.when().clone());
        *slot = Some(group);
    }

    /// The current group, waiting while a rejoin hands the durable store
    /// over; `None` if there is none after that.
    async fn current(&self) -> Option<Group<Machine<S>>> {
        let mut ready = self.ready.subscribe();
        // The sender lives in `self`: `wait_for` cannot fail here.
        let _ = ready.wait_for(|ready| *ready).await;
        self.group
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Why this replica has no usable storage, if it has none: the open
    /// error, or the error that stopped its group while running (a full
    /// disk, an I/O error).
    pub(crate) fn storage_error(&self) -> Option<StorageError> {
        self.storage_error.get().cloned().or_else(|| {
            let group = self.group.read().unwrap_or_else(PoisonError::into_inner);
            group.as_ref().and_then(Group::storage_error)
        })
    }

    /// The latest applied state (an O(1) clone).
    pub(crate) fn state(&self) -> S {
        self.state.borrow().clone()
    }

    /// Reads the latest applied state in place.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.state.borrow())
    }

    pub(crate) fn when(&self) -> &When {
        &self.when
    }

    pub(crate) fn version(&self) -> Version {
        let slot = self.group.read().unwrap_or_else(PoisonError::into_inner);
        Version(slot.as_ref().map_or_else(
            || groups::Index(self.seen.load(Ordering::Acquire)),
            Group::committed,
        ))
    }

    pub(crate) fn group_id(&self) -> GroupId {
        self.group_id
    }

    /// The leader as known here (none while the group is replaced).
    pub(crate) fn leader(&self) -> Option<PeerId> {
        let slot = self.group.read().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().and_then(Group::leader)
    }

    /// Submits `command` and resolves with its version once it committed
    /// and the local replica applied it (so the writer reads its write), or
    /// `APPLY_WAIT` after the commit if the replica never applies it (its
    /// group stopped meanwhile).
    /// Errors hand back the caller's inputs, recovered by `back` from the
    /// returned command.
    pub(crate) async fn write<T>(
        &self,
        command: S::Command,
        back: impl FnOnce(S::Command) -> Option<T>,
    ) -> Result<Version, Error<T>> {
        // `storage_error()`, not only the open error: a store that failed
        // while running stopped its group, and the caller should hear why.
        let group = match self.current().await {
            Some(group) if self.storage_error().is_none() => group,
            Some(_) | None => {
                return match (self.storage_error(), back(command)) {
                    (Some(err), Some(inputs)) => Err(Error::Storage(inputs, err)),
                    _ => Err(Error::NetworkDown),
                };
            }
        };
        match group.execute(command).await {
            Ok(index) => {
                // Bounded: if the group stops meanwhile the watcher would
                // pend forever; the commit itself is already certain.
                let applied = group.when().committed().reaches(index);
                if tokio::time::timeout(APPLY_WAIT, applied).await.is_err() {
                    tracing::debug!(
                        index = index.0,
                        "committed write not applied locally in time"
                    );
                }
                Ok(Version(index))
            }
            Err(CommandError::GroupTerminated) => Err(Error::NetworkDown),
            // The group hands back exactly the command we sent; `back`
            // cannot fail for it, `NetworkDown` is only the type's fallback.
            Err(CommandError::Encoding(mut commands, reason)) => {
                match commands.pop().and_then(back) {
                    Some(inputs) => Err(Error::Encoding(inputs, reason)),
                    None => Err(Error::NetworkDown),
                }
            }
            Err(CommandError::TooLarge {
                mut commands,
                bytes,
                limit,
            }) => match commands.pop().and_then(back) {
                Some(inputs) => Err(Error::TooLarge {
                    inputs,
                    bytes,
                    limit,
                }),
                None => Err(Error::NetworkDown),
            },
            Err(other) => match other.into_commands().pop().and_then(back) {
                Some(inputs) => Err(Error::Offline(inputs)),
                None => Err(Error::NetworkDown),
            },
        }
    }
}

impl<S: CollectionState> Registered for Core<S> {
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn sample(&self) -> CollectionSample {
        CollectionSample {
            store: self.store,
            group: self.group_id,
            // The signature's kind of a priority queue is `depq` (it is
            // double-ended); observers show the handle's name.
            kind: match S::KIND {
                "depq" => "pq",
                kind => kind,
            },
            size: self.read(CollectionState::len),
            version: self.version().0.0,
            writer: *self.writer.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

/// The store's group with `machine`, storage still to choose.
fn builder<'g, S: CollectionState>(
    groups: &'g Groups,
    store: StoreId,
    config: &CollectionConfig,
    machine: Machine<S>,
) -> GroupBuilder<'g, InMemoryLogStore<S::Command>, Machine<S>> {
    let mut builder = groups
        .with_key(config.key(store))
        .with_state_machine(machine);
    if let Some(consensus) = config.consensus() {
        builder = builder.with_consensus_config(consensus.clone());
    }
    for validator in config.tickets() {
        builder = builder.require_ticket(validator.clone());
    }
    builder
}

/// The home of the durable store of `config` for `group`, if it asks for
/// one. An error is logged here, once per replica.
fn open_storage<C>(
    config: &CollectionConfig,
    group: GroupId,
) -> Result<Option<Arc<Home<C>>>, StorageError>
where
    C: crate::primitives::Datum + Clone + Send + Sync + 'static,
{
    let Some(base) = config.storage() else {
        return Ok(None);
    };
    let dir = group_dir(base, group);
    home_for(&dir).map(Some).map_err(|err| {
        tracing::error!(
            dir = %dir.display(),
            %err,
            "collection storage did not open: this replica stays stopped"
        );
        err
    })
}
