//! [`When`]: futures that resolve on changes of a group's leader, role and
//! log positions. Every future is `Send + Sync + 'static` (it owns a clone
//! of the status receiver). If the group stops, pending futures never
//! resolve (the handle's own calls report `GroupTerminated`).

use {
    super::{Cursor, Index, IndexRange},
    crate::PeerId,
    core::future::Future,
    tokio::sync::watch,
};

/// A snapshot of the group driver's externally visible state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) leader: Option<PeerId>,
    pub(crate) is_leader: bool,
    pub(crate) online: bool,
    pub(crate) committed: Index,
    pub(crate) log: Cursor,
    /// Bumped on every dynamic-mode revert of the committed index, so
    /// `reverted()` fires even if the index advanced again before the
    /// watcher looked.
    pub(crate) commit_reverts: u64,
    /// Bumped whenever the log's last position moved backwards.
    pub(crate) log_reverts: u64,
}

impl Status {
    pub(crate) const fn initial() -> Self {
        Self {
            leader: None,
            is_leader: false,
            online: false,
            committed: Index(0),
            log: Cursor::zero(),
            commit_reverts: 0,
            log_reverts: 0,
        }
    }
}

/// Waits until `pred` holds on the status; `None` once the group stopped.
async fn wait<T>(
    mut rx: watch::Receiver<Status>,
    mut pred: impl FnMut(&Status) -> Option<T>,
) -> Option<T> {
    loop {
        let found = pred(&rx.borrow_and_update());
        if let Some(found) = found {
            return Some(found);
        }
        rx.changed().await.ok()?;
    }
}

/// Resolves with `pred`'s value, or never if the group stopped.
async fn wait_or_pend<T>(rx: watch::Receiver<Status>, pred: impl FnMut(&Status) -> Option<T>) -> T {
    match wait(rx, pred).await {
        Some(value) => value,
        None => core::future::pending().await,
    }
}

/// Observers of one group (`group.when()`).
#[derive(Debug, Clone)]
pub struct When {
    rx: watch::Receiver<Status>,
}

impl When {
    pub(crate) fn new(rx: watch::Receiver<Status>) -> Self {
        Self { rx }
    }

    /// Observers of no group: nothing ever resolves (a collection's
    /// placeholder until its group is joined).
    pub(crate) fn detached() -> Self {
        Self::new(watch::channel(Status::initial()).1)
    }

    /// Resolves with the leader as soon as one is known (at once if known).
    pub fn leader_elected(&self) -> impl Future<Output = PeerId> + Send + Sync + 'static {
        wait_or_pend(self.rx.clone(), |s| s.leader)
    }

    /// Resolves with the next leader different from the current one.
    pub fn leader_changed(&self) -> impl Future<Output = PeerId> + Send + Sync + 'static {
        let current = self.rx.borrow().leader;
        wait_or_pend(self.rx.clone(), move |s| {
            s.leader.filter(|l| Some(*l) != current)
        })
    }

    /// Resolves when `peer` is the leader.
    pub fn leader_is(&self, peer: PeerId) -> impl Future<Output = ()> + Send + Sync + 'static {
        wait_or_pend(self.rx.clone(), move |s| {
            (s.leader == Some(peer)).then_some(())
        })
    }

    /// Resolves when this node is the leader.
    pub fn is_leader(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        wait_or_pend(self.rx.clone(), |s| s.is_leader.then_some(()))
    }

    /// Resolves when this node follows a known leader.
    pub fn is_follower(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        wait_or_pend(self.rx.clone(), |s| {
            (!s.is_leader && s.leader.is_some()).then_some(())
        })
    }

    /// Resolves when the group is online here: this node leads, or follows a
    /// known leader.
    pub fn online(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        wait_or_pend(self.rx.clone(), |s| s.online.then_some(()))
    }

    /// Resolves when the group is offline here (no known leader).
    pub fn offline(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        wait_or_pend(self.rx.clone(), |s| (!s.online).then_some(()))
    }

    /// Watches the local log's last position.
    pub fn log(&self) -> CursorWatcher<Cursor> {
        CursorWatcher {
            rx: self.rx.clone(),
            get: |s| (s.log, s.log_reverts),
        }
    }

    /// Watches the committed index.
    pub fn committed(&self) -> CursorWatcher<Index> {
        CursorWatcher {
            rx: self.rx.clone(),
            get: |s| (s.committed, s.commit_reverts),
        }
    }
}

/// Something [`CursorWatcher::reaches`] can wait for: an index, or the end
/// of a range (by value or reference).
pub trait ReachTarget {
    /// The index to reach.
    fn target(self) -> Index;
}

impl ReachTarget for Index {
    fn target(self) -> Index {
        self
    }
}

impl ReachTarget for &Index {
    fn target(self) -> Index {
        *self
    }
}

impl ReachTarget for IndexRange {
    fn target(self) -> Index {
        *self.end()
    }
}

impl ReachTarget for &IndexRange {
    fn target(self) -> Index {
        *self.end()
    }
}

/// Integer targets: `committed().reaches(5)`; negative values are 0.
macro_rules! integer_targets {
    ($($ty:ty),*) => {$(
        impl ReachTarget for $ty {
            fn target(self) -> Index {
                Index(u64::try_from(self).unwrap_or(0))
            }
        }
    )*};
}

integer_targets!(u64, u32, usize, i32, i64);

/// Waits on one position (log or committed) of a group.
#[derive(Debug, Clone)]
pub struct CursorWatcher<T> {
    rx: watch::Receiver<Status>,
    get: fn(&Status) -> (T, u64),
}

impl<T> CursorWatcher<T>
where
    T: Copy + Ord + Send + Sync + 'static + Into<PositionIndex>,
{
    /// The current value.
    pub fn current(&self) -> T {
        (self.get)(&self.rx.borrow()).0
    }

    /// Resolves with the new value on any change (either direction).
    pub fn changed(&self) -> impl Future<Output = T> + Send + Sync + 'static {
        let get = self.get;
        let (start, _) = get(&self.rx.borrow());
        wait_or_pend(self.rx.clone(), move |s| {
            Some(get(s).0).filter(|v| *v != start)
        })
    }

    /// Resolves with the new value once it is strictly greater than now.
    pub fn advanced(&self) -> impl Future<Output = T> + Send + Sync + 'static {
        let get = self.get;
        let (start, _) = get(&self.rx.borrow());
        wait_or_pend(self.rx.clone(), move |s| {
            Some(get(s).0).filter(|v| *v > start)
        })
    }

    /// Resolves with the value after the next regression (dynamic-mode
    /// revert): the value became smaller than now, or a revert happened.
    pub fn reverted(&self) -> impl Future<Output = T> + Send + Sync + 'static {
        let get = self.get;
        let (start, reverts) = get(&self.rx.borrow());
        wait_or_pend(self.rx.clone(), move |s| {
            let (value, now) = get(s);
            (value < start || now != reverts).then_some(value)
        })
    }

    /// Resolves with the value once its index is at least `target`'s.
    pub fn reaches(
        &self,
        target: impl ReachTarget,
    ) -> impl Future<Output = T> + Send + Sync + 'static {
        let get = self.get;
        let target = target.target();
        wait_or_pend(self.rx.clone(), move |s| {
            let value = get(s).0;
            (value.into().0 >= target).then_some(value)
        })
    }
}

/// The index part of a watched position (for [`CursorWatcher::reaches`]).
#[derive(Debug, Clone, Copy)]
pub struct PositionIndex(pub Index);

impl From<Index> for PositionIndex {
    fn from(index: Index) -> Self {
        Self(index)
    }
}

impl From<Cursor> for PositionIndex {
    fn from(cursor: Cursor) -> Self {
        Self(cursor.1)
    }
}
