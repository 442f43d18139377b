//! The process-wide registry of live collection cores, keyed by (node,
//! network, group id), and the read-only sample the dashboard takes of a
//! node's cores.
//!
//! Entries are type-erased (`dyn Registered`): the registry serves both
//! `Core::open`, which downcasts to the concrete core to share it, and
//! observers that only need plain facts (kind, size, version) without
//! knowing any state type.

// Samples are read only by the dashboard; without it they are unused.
#![cfg_attr(not(feature = "dashboard"), allow(dead_code))]

use {
    crate::{GroupId, NetworkId, PeerId, StoreId},
    core::any::Any,
    std::{
        collections::HashMap,
        sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak},
    },
};

pub(super) type RegistryKey = (PeerId, NetworkId, GroupId);

/// What a registered core offers besides its concrete type.
pub(super) trait Registered: Send + Sync {
    /// The concrete core, for `downcast`.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;

    /// Plain facts about the replica, read without blocking its writers
    /// for longer than a lock read.
    fn sample(&self) -> CollectionSample;
}

/// One collection store held by a node, in plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CollectionSample {
    pub(crate) store: StoreId,
    pub(crate) group: GroupId,
    /// `map`, `vec`, `set`, `cell`, `once` or `pq`.
    pub(crate) kind: &'static str,
    /// Elements in the latest applied state.
    pub(crate) size: u64,
    /// The committed index the local replica applied (its `Version`).
    pub(crate) version: u64,
    /// Whether this node writes (else it only reads, as an observer).
    pub(crate) writer: bool,
}

/// Live cores of this process. Entries of dropped cores are pruned on every
/// insert, so the map holds at most the live stores plus the last batch of
/// dead ones.
static REGISTRY: LazyLock<Mutex<HashMap<RegistryKey, Weak<dyn Registered>>>> =
    LazyLock::new(Mutex::default);

/// The registry, locked: `Core::open` holds it while it looks up and
/// inserts, so two handles opened at once share one core.
pub(super) struct Locked(MutexGuard<'static, HashMap<RegistryKey, Weak<dyn Registered>>>);

pub(super) fn lock() -> Locked {
    Locked(REGISTRY.lock().unwrap_or_else(PoisonError::into_inner))
}

impl Locked {
    /// The live core under `key` as a `T`, if there is one of that type.
    pub(super) fn get<T: Send + Sync + 'static>(&self, key: &RegistryKey) -> Option<Arc<T>> {
        self.0
            .get(key)
            .and_then(Weak::upgrade)
            .and_then(|core| core.into_any().downcast::<T>().ok())
    }

    /// Registers `core` under `key`, pruning entries of dropped cores.
    pub(super) fn insert(&mut self, key: RegistryKey, core: &Arc<dyn Registered>) {
        self.0.retain(|_, weak| weak.strong_count() > 0);
        self.0.insert(key, Arc::downgrade(core));
    }
}

/// The stores `node` holds in `network`, ordered by store id, at most
/// `max` of them (the dashboard's cap; the rest are not sampled at all).
/// Also returns how many live stores there were in total.
pub(crate) fn samples(
    node: PeerId,
    network: NetworkId,
    max: usize,
) -> (Vec<CollectionSample>, usize) {
    // Collect the live cores first, so the registry lock is not held while
    // each core's state is read.
    let mut cores: Vec<(GroupId, Arc<dyn Registered>)> = {
        let registry = lock();
        registry
            .0
            .iter()
            .filter(|((peer, net, _), _)| *peer == node && *net == network)
            .filter_map(|((_, _, group), weak)| weak.upgrade().map(|core| (*group, core)))
            .collect()
    };
    let total = cores.len();
    cores.sort_by_key(|(group, _)| *group);
    let mut list: Vec<CollectionSample> = cores
        .into_iter()
        .take(max)
        .map(|(_, core)| core.sample())
        .collect();
    list.sort_by_key(|s| s.store);
    (list, total)
}
