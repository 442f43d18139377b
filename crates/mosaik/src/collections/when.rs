//! [`Version`] (a committed log index) and [`When`], the observers of a
//! collection handle.
//!
//! A handle's group can be replaced once: when a writer opens a store that
//! a reader on the same node already joined as an observer, the node
//! rejoins as a writer (see `core.rs`). `When` therefore follows a `watch`
//! of the current group's observers instead of holding one group's.

use {
    crate::groups::{self, Index},
    core::{fmt, future::Future},
    futures::future::{Either, select},
    tokio::sync::watch,
};

/// A position in a collection's history: the log index of a committed
/// command. Writes return the version of their own command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub Index);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::ops::Deref for Version {
    type Target = Index;
    fn deref(&self) -> &Index {
        &self.0
    }
}

impl From<Index> for Version {
    fn from(index: Index) -> Self {
        Self(index)
    }
}

/// Observers of one collection handle (`handle.when()`). Futures are
/// `Send + Sync + 'static`; if the node shuts down they never resolve.
#[derive(Debug, Clone)]
pub struct When {
    current: watch::Receiver<groups::When>,
}

impl When {
    pub(crate) fn new(current: watch::Receiver<groups::When>) -> Self {
        Self { current }
    }

    /// Resolves when the store is online here: a leader is known (or this
    /// node leads), so writes can commit.
    pub fn online(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        follow(self.current.clone(), |w| async move { w.online().await })
    }

    /// Resolves when the store is offline here (no leader known).
    pub fn offline(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        follow(self.current.clone(), |w| async move { w.offline().await })
    }

    /// Resolves with the version after the next change of the committed
    /// index applied here.
    pub fn updated(&self) -> impl Future<Output = Version> + Send + Sync + 'static {
        let start = self.current.borrow().committed().current();
        follow(self.current.clone(), move |w| async move {
            let committed = w.committed();
            if committed.current() != start {
                return Version(committed.current());
            }
            Version(committed.changed().await)
        })
    }

    /// Resolves once the local replica applied `version` (at once if it
    /// did already).
    pub fn reaches(
        &self,
        version: Version,
    ) -> impl Future<Output = Version> + Send + Sync + 'static {
        follow(self.current.clone(), move |w| async move {
            let committed = w.committed();
            Version(committed.reaches(version.0).await)
        })
    }
}

/// Runs `make`'s future on the current group, starting over on the new one
/// if the group is replaced; pends forever once the handle is gone.
async fn follow<T, F>(
    mut current: watch::Receiver<groups::When>,
    make: impl Fn(groups::When) -> F + Send + Sync + 'static,
) -> T
where
    F: Future<Output = T> + Send + Sync + 'static,
{
    loop {
        let when = current.borrow_and_update().clone();
        let fut = Box::pin(make(when));
        let replaced = Box::pin(current.changed());
        match select(fut, replaced).await {
            Either::Left((value, _)) => return value,
            Either::Right((Ok(()), _)) => {}
            Either::Right((Err(_), _)) => core::future::pending::<()>().await,
        }
    }
}
