//! What a group's worker publishes for read-only observers (the dashboard)
//! beyond the handles' `Status`: the current term and, on the leader, how
//! far each follower's log matches.
//!
//! Kept apart from `Status` because `Status` is a `Copy` value compared on
//! every publish to wake `When` watchers; a follower list would make both
//! costlier for every user, while only an observer reads this.

// Read only by the dashboard; without it the samples are unused.
#![cfg_attr(not(feature = "dashboard"), allow(dead_code))]

use {
    super::{GroupConfig, bonds::BondSet, when::Status},
    crate::PeerId,
    std::sync::{Arc, Mutex, PoisonError},
    tokio::sync::watch,
};

/// The engine facts the worker refreshes after every step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Telemetry {
    /// The public term (ballot round) this member is in.
    pub(crate) term: u64,
    /// Whether this member is catching up (empty-log catch-up, snapshot
    /// transfer or log fetch in progress).
    pub(crate) syncing: bool,
    /// Per follower, the highest index known to match the leader's log;
    /// empty unless this member leads.
    pub(crate) matched: Vec<(PeerId, u64)>,
}

/// A shared, lock-protected [`Telemetry`]: written by the worker, read by
/// observers. A mutex, not a watch: nobody waits on it, readers sample.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedTelemetry(Arc<Mutex<Telemetry>>);

impl SharedTelemetry {
    /// Replaces the published facts if they changed.
    pub(crate) fn publish(&self, next: Telemetry) {
        let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if *current != next {
            *current = next;
        }
    }

    /// A copy of the latest facts.
    pub(crate) fn get(&self) -> Telemetry {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A type-erased, read-only view of one joined group, kept in the
/// registry. It holds receivers and shared cells only, so it never keeps a
/// group alive after its last handle dropped.
#[derive(Clone)]
pub(crate) struct GroupView {
    pub(crate) config: Arc<GroupConfig>,
    pub(crate) machine: &'static str,
    pub(crate) status: watch::Receiver<Status>,
    pub(crate) bonds: watch::Receiver<BondSet>,
    pub(crate) telemetry: SharedTelemetry,
}

/// One sample of a [`GroupView`], in plain values.
#[derive(Debug, Clone)]
pub(crate) struct GroupSample {
    pub(crate) id: crate::GroupId,
    pub(crate) machine: &'static str,
    pub(crate) leader: Option<PeerId>,
    pub(crate) is_leader: bool,
    pub(crate) online: bool,
    pub(crate) committed: u64,
    pub(crate) log_index: u64,
    pub(crate) term: u64,
    pub(crate) syncing: bool,
    pub(crate) reverts: u64,
    pub(crate) bonds: Vec<PeerId>,
    pub(crate) matched: Vec<(PeerId, u64)>,
}

impl GroupView {
    /// A view of a group being joined, and the telemetry its worker writes.
    pub(crate) fn new<M>(
        config: &Arc<GroupConfig>,
        status: &watch::Receiver<Status>,
        bonds: &watch::Receiver<BondSet>,
    ) -> (Self, SharedTelemetry) {
        let telemetry = SharedTelemetry::default();
        let view = Self {
            config: config.clone(),
            machine: core::any::type_name::<M>(),
            status: status.clone(),
            bonds: bonds.clone(),
            telemetry: telemetry.clone(),
        };
        (view, telemetry)
    }

    /// Reads every published fact once.
    pub(crate) fn sample(&self) -> GroupSample {
        let status = *self.status.borrow();
        let bonds = self.bonds.borrow().0.keys().copied().collect();
        let telemetry = self.telemetry.get();
        GroupSample {
            id: *self.config.group_id(),
            machine: self.machine,
            leader: status.leader,
            is_leader: status.is_leader,
            online: status.online,
            committed: status.committed.0,
            log_index: status.log.index().0,
            term: telemetry.term,
            syncing: telemetry.syncing,
            reverts: status.commit_reverts,
            bonds,
            matched: telemetry.matched,
        }
    }
}
