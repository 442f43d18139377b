//! [`Core`]: what all local handles of one store share — the group handle,
//! the `watch` of the latest applied state, and the write path.
//!
//! One group per store per node: joining the same group id twice returns
//! the same group, so a second handle must also share the first one's
//! state watch (the second machine is discarded by the groups builder). A
//! process-wide registry maps (node, network, group id) to the live core.
//!
//! Roles: readers join as `Observer` (never lead, never count toward
//! quorum), writers as `Normal`. The preference of a group is fixed when it
//! is joined, so the node's role is the strongest of its handles: when a
//! writer opens a store that only readers had open on this node, the core
//! leaves the observer group and rejoins as a writer (its handles keep
//! their state: the new machine publishes only once it is past what they
//! saw). A node never downgrades while its core lives.

use {
    super::{
        CollectionConfig, Error, Version, When,
        machine::{CollectionState, Machine},
    },
    crate::{
        GroupId, Network, NetworkId, PeerId, StoreId,
        groups::{self, CommandError, Group},
    },
    core::{any::Any, time::Duration},
    std::{
        collections::HashMap,
        sync::{Arc, LazyLock, Mutex, PoisonError, RwLock, Weak},
    },
    tokio::sync::watch,
};

type RegistryKey = (PeerId, NetworkId, GroupId);

/// Live cores of this process. Entries of dropped cores are pruned on every
/// insert, so the map holds at most the live stores plus the last batch of
/// dead ones.
static REGISTRY: LazyLock<Mutex<HashMap<RegistryKey, Weak<dyn Any + Send + Sync>>>> =
    LazyLock::new(Mutex::default);

/// How long a write waits for the local replica to show its own command
/// after the commit was reported (normally immediate: both happen in the
/// same driver step).
const APPLY_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct Core<S: CollectionState> {
    store: StoreId,
    /// `None` only while the group is being replaced (under the write
    /// lock), so readers never observe it.
    group: RwLock<Option<Group<Machine<S>>>>,
    writer: Mutex<bool>,
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
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        let (publish, state) = watch::channel(S::default());
        let publish = Arc::new(publish);
        let machine = Machine::new(
            store,
            writer,
            config.sync().snapshot_sync(),
            publish.clone(),
            0,
        );
        let group = join(network, store, config, machine);
        let key = (network.local().id(), *network.network_id(), *group.id());
        let existing = registry
            .get(&key)
            .and_then(Weak::upgrade)
            .and_then(|core| core.downcast::<Self>().ok());
        if let Some(core) = existing {
            drop(group);
            if writer {
                core.become_writer(network, config);
            }
            return core;
        }
        let (whens, current) = watch::channel(group.when().clone());
        let core = Arc::new(Self {
            store,
            group: RwLock::new(Some(group)),
            writer: Mutex::new(writer),
            state,
            publish,
            whens,
            when: When::new(current),
        });
        registry.retain(|_, weak| weak.strong_count() > 0);
        let erased: Arc<dyn Any + Send + Sync> = core.clone();
        registry.insert(key, Arc::downgrade(&erased));
        core
    }

    /// Rejoins as a writer if this node only observed so far. Called with
    /// the registry locked, so no other handle opens meanwhile.
    fn become_writer(&self, network: &Network, config: &CollectionConfig) {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if *writer {
            return;
        }
        *writer = true;
        let mut slot = self.group.write().unwrap_or_else(PoisonError::into_inner);
        let seen = slot.as_ref().map_or(0, |g| g.committed().0);
        // The observer group must be gone (its last handle dropped) before
        // joining again, or `join` would hand it back.
        drop(slot.take());
        let machine = Machine::new(
            self.store,
            true,
            config.sync().snapshot_sync(),
            self.publish.clone(),
            seen,
        );
        let group = join(network, self.store, config, machine);
        self.whens.send_replace(group.when().clone());
        *slot = Some(group);
    }

    /// The current group handle.
    pub(crate) fn group(&self) -> Group<Machine<S>> {
        self.group
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .expect("the group is only absent inside become_writer's write lock")
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
        Version(self.group().committed())
    }

    pub(crate) fn group_id(&self) -> GroupId {
        *self.group().id()
    }

    /// Submits `command` and resolves with its version once it committed
    /// and the local replica applied it (so the writer reads its write).
    /// Errors hand back the caller's inputs, recovered by `back` from the
    /// returned command.
    pub(crate) async fn write<T>(
        &self,
        command: S::Command,
        back: impl FnOnce(S::Command) -> Option<T>,
    ) -> Result<Version, Error<T>> {
        let group = self.group();
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
            Err(other) => match other.into_commands().pop().and_then(back) {
                Some(inputs) => Err(Error::Offline(inputs)),
                None => Err(Error::NetworkDown),
            },
        }
    }
}

/// Joins the store's group with `machine`.
fn join<S: CollectionState>(
    network: &Network,
    store: StoreId,
    config: &CollectionConfig,
    machine: Machine<S>,
) -> Group<Machine<S>> {
    let mut builder = network
        .groups()
        .with_key(config.key(store))
        .with_state_machine(machine);
    if let Some(consensus) = config.consensus() {
        builder = builder.with_consensus_config(consensus.clone());
    }
    for validator in config.tickets() {
        builder = builder.require_ticket(validator.clone());
    }
    builder.join()
}
