//! The node's table of joined groups: lets `join` return the existing
//! group and the acceptor find a group by id.

use {
    super::bond::Acceptor,
    crate::GroupId,
    std::{
        any::Any,
        collections::HashMap,
        sync::{
            Mutex,
            atomic::{AtomicU64, Ordering},
        },
    },
};

pub(crate) struct Registered {
    pub(crate) generation: u64,
    /// A `Weak<Inner<M>>` of the group's machine type.
    pub(crate) handle: Box<dyn Any + Send + Sync>,
    pub(crate) acceptor: Acceptor,
    /// Read-only facts for observers (the dashboard).
    pub(crate) view: super::telemetry::GroupView,
}

#[derive(Default)]
pub(crate) struct Registry {
    groups: Mutex<HashMap<GroupId, Registered>>,
    generations: AtomicU64,
}

impl Registry {
    pub(crate) fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs `f` with the table locked (join's check-then-insert is atomic).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut HashMap<GroupId, Registered>) -> T) -> T {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut groups)
    }

    pub(crate) fn acceptor(&self, id: &GroupId) -> Option<Acceptor> {
        self.with(|groups| groups.get(id).map(|g| g.acceptor.clone()))
    }

    /// Removes `id` if it is still the registration of `generation` (a
    /// newer join may have replaced it while the old group was dropping).
    pub(crate) fn remove(&self, id: &GroupId, generation: u64) {
        self.with(|groups| {
            if groups.get(id).is_some_and(|g| g.generation == generation) {
                groups.remove(id);
            }
        });
    }

    /// Read-only views of every joined group, for observers.
    pub(crate) fn views(&self) -> Vec<super::telemetry::GroupView> {
        self.with(|groups| groups.values().map(|g| g.view.clone()).collect())
    }

    pub(crate) fn len(&self) -> usize {
        self.with(|groups| groups.len())
    }
}
