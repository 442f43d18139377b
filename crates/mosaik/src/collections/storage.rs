//! Where a collection's group keeps its log: [`ReplicaStorage`], the one
//! [`Storage`] type every collection group is joined with — in memory (the
//! default), a [`DurableStore`] under the directory given to
//! `CollectionConfig::with_storage`, or a store that failed to open.
//!
//! A durable store is opened once per replica and lent to its group
//! ([`Lease`]). When the node's role changes (a reader-only replica gets a
//! writer, see `shared.rs`) the old group must give the store back before
//! the new group starts: the directory is locked while open, and two groups
//! writing one log would corrupt it. Dropping the lease (the old worker
//! ending) returns the open store to its [`Home`], where the next group
//! picks it up — never a second `open` of a locked directory.
//!
//! The same holds across handles' lifetimes within one process: open
//! stores are listed by directory ([`home_for`]). A replica opened on a
//! directory whose previous replica (a node shut down and started again in
//! this process, as the demo does) still has its group running waits for
//! that group to give the store back, instead of failing on the lock.

use {
    crate::{
        GroupId,
        groups::{
            Ballot, DurableStore, HardState, InMemoryLogStore, LogCursor, LogEntry, LogIndex,
            Storage, StorageError, StoredSnapshot,
        },
        primitives::Datum,
    },
    core::{any::Any, ops::RangeInclusive, time::Duration},
    std::{
        collections::HashMap,
        path::{Path, PathBuf},
        sync::{Arc, LazyLock, Mutex, PoisonError, Weak},
        time::Instant,
    },
    tokio::sync::Notify,
};

/// The durable stores of this process by directory. An entry whose home is
/// gone is a store still closing: its `Drop` removes the entry once the
/// directory is unlocked.
static HOMES: LazyLock<Mutex<HashMap<PathBuf, Weak<dyn Any + Send + Sync>>>> =
    LazyLock::new(Mutex::default);

/// How long an open waits for a store of this process that is closing
/// (its I/O thread drains and syncs: normally milliseconds).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long a role change waits for the previous group to give its durable
/// store back. The old worker stops at its next loop turn (at most one
/// flush away), so this is only reached if it hangs; the replica then
/// reports a storage error instead of waiting forever.
pub(crate) const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// The sub-directory of `base` that holds one group's store: the group id
/// in hex, so collections (and their reader/writer handles) sharing a base
/// directory never share a log.
pub(crate) fn group_dir(base: &Path, group: GroupId) -> PathBuf {
    base.join(group.to_hex())
}

/// The home of the durable store in `dir`: the one this process already
/// has (its store may be lent out: [`Home::reclaim`]), else the store
/// opened now. Blocks while it reads the log, or while a store of this
/// process in `dir` finishes closing (at most [`CLOSE_WAIT`]).
pub(crate) fn home_for<C>(dir: &Path) -> Result<Arc<Home<C>>, StorageError>
where
    C: Datum + Clone + Send + Sync + 'static,
{
    let deadline = Instant::now() + CLOSE_WAIT;
    loop {
        let mut homes = HOMES.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(weak) = homes.get(dir) else {
            let home = Arc::new(Home {
                slot: Mutex::new(Some(DurableStore::open(dir)?)),
                returned: Notify::new(),
                dir: dir.to_path_buf(),
            });
            let erased: Arc<dyn Any + Send + Sync> = home.clone();
            homes.insert(dir.to_path_buf(), Arc::downgrade(&erased));
            return Ok(home);
        };
        if let Some(home) = weak.upgrade() {
            // Unlocked first: if this was the last handle after all, the
            // home's drop takes the lock.
            drop(homes);
            return home.downcast::<Home<C>>().map_err(|_| {
                StorageError::new(format!(
                    "{} is in use by a collection of another type",
                    dir.display()
                ))
            });
        }
        drop(homes);
        if Instant::now() >= deadline {
            return Err(StorageError::new(format!(
                "{} is still being closed after {CLOSE_WAIT:?}",
                dir.display()
            )));
        }
        // The closing store's drop runs on another thread right now.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where an open durable store rests between two groups of one replica.
pub(crate) struct Home<C> {
    slot: Mutex<Option<DurableStore<C>>>,
    returned: Notify,
    dir: PathBuf,
}

impl<C> Drop for Home<C> {
    fn drop(&mut self) {
        // Close first (drains, syncs, unlocks), then let openers in.
        let store = self
            .slot
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(store);
        let mut homes = HOMES.lock().unwrap_or_else(PoisonError::into_inner);
        if homes.get(&self.dir).is_some_and(|w| w.strong_count() == 0) {
            homes.remove(&self.dir);
        }
    }
}

impl<C> Home<C> {
    /// Lends the store to a group, if it is home.
    pub(crate) fn lend(self: &Arc<Self>) -> Option<Lease<C>> {
        let store = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        Some(Lease {
            store: Some(store),
            home: self.clone(),
        })
    }

    /// Waits (at most `timeout`) until the store is home again and lends
    /// it out.
    pub(crate) async fn reclaim(self: &Arc<Self>, timeout: Duration) -> Option<Lease<C>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(lease) = self.lend() {
                return Some(lease);
            }
            // `notify_one` keeps a permit when nobody waits, so a return
            // between `lend` and here is not missed.
            if tokio::time::timeout_at(deadline, self.returned.notified())
                .await
                .is_err()
            {
                return self.lend();
            }
        }
    }
}

/// A durable store lent to one group; dropping it (the group's worker
/// ending) sends the store home instead of closing it.
pub(crate) struct Lease<C> {
    /// Always `Some` until `drop`.
    store: Option<DurableStore<C>>,
    home: Arc<Home<C>>,
}

impl<C> Lease<C> {
    fn get(&self) -> &DurableStore<C> {
        self.store
            .as_ref()
            .expect("a lease holds its store until dropped")
    }

    fn get_mut(&mut self) -> &mut DurableStore<C> {
        self.store
            .as_mut()
            .expect("a lease holds its store until dropped")
    }
}

impl<C> Drop for Lease<C> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            *self
                .home
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(store);
            self.home.returned.notify_one();
        }
    }
}

/// The storage of one collection replica's group.
pub(crate) enum ReplicaStorage<C> {
    /// The default: forgotten on restart.
    Memory(InMemoryLogStore<C>),
    /// `CollectionConfig::with_storage`: a [`DurableStore`] lent by the
    /// replica.
    Durable(Lease<C>),
    /// The durable store could not be opened: every call fails with the
    /// open error, so the group stops at once (it never runs in memory
    /// instead).
    Failed(StorageError),
}

/// Runs `$body` with `$s` bound to the store behind `$self`, or returns the
/// open error of a failed one.
macro_rules! with_store {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            ReplicaStorage::Memory($s) => $body,
            ReplicaStorage::Durable(lease) => {
                let $s = lease.get();
                $body
            }
            ReplicaStorage::Failed(err) => Err(err.clone()),
        }
    };
    (mut $self:expr, $s:ident => $body:expr) => {
        match $self {
            ReplicaStorage::Memory($s) => $body,
            ReplicaStorage::Durable(lease) => {
                let $s = lease.get_mut();
                $body
            }
            ReplicaStorage::Failed(err) => Err(err.clone()),
        }
    };
}

impl<C: Datum + Clone + Sync + Send + 'static> Storage<C> for ReplicaStorage<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        with_store!(self, s => s.hard_state())
    }

    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError> {
        with_store!(mut self, s => s.set_hard_state(state))
    }

    fn append_entries(
        &mut self,
        first: LogIndex,
        entries: &[LogEntry<C>],
    ) -> Result<LogIndex, StorageError> {
        with_store!(mut self, s => s.append_entries(first, entries))
    }

    fn append_owned(
        &mut self,
        first: LogIndex,
        entries: Vec<LogEntry<C>>,
    ) -> Result<LogIndex, StorageError> {
        with_store!(mut self, s => s.append_owned(first, entries))
    }

    fn available(&self) -> RangeInclusive<LogIndex> {
        match self {
            Self::Memory(s) => s.available(),
            Self::Durable(lease) => lease.get().available(),
            // Nothing held: `last + 1 ..= last` with last = 0.
            Self::Failed(_) => LogIndex(1)..=LogIndex::ZERO,
        }
    }

    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError> {
        with_store!(self, s => s.get(index))
    }

    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError> {
        with_store!(self, s => s.get_range(range))
    }

    fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError> {
        with_store!(mut self, s => s.truncate(at))
    }

    fn base(&self) -> LogCursor {
        match self {
            Self::Memory(s) => s.base(),
            Self::Durable(lease) => lease.get().base(),
            Self::Failed(_) => LogCursor::zero(),
        }
    }

    fn last(&self) -> LogCursor {
        match self {
            Self::Memory(s) => s.last(),
            Self::Durable(lease) => lease.get().last(),
            Self::Failed(_) => LogCursor::zero(),
        }
    }

    fn term_at(&self, index: LogIndex) -> Result<Option<Ballot>, StorageError> {
        with_store!(self, s => s.term_at(index))
    }

    fn keeps_commands(&self) -> bool {
        match self {
            Self::Memory(s) => s.keeps_commands(),
            Self::Durable(_) | Self::Failed(_) => true,
        }
    }

    fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError> {
        with_store!(mut self, s => s.prune_prefix(up_to))
    }

    fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError> {
        with_store!(mut self, s => s.reset_to(base))
    }

    fn save_snapshot(&mut self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
        with_store!(mut self, s => s.save_snapshot(snapshot))
    }

    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        with_store!(self, s => s.snapshot())
    }

    fn is_durable(&self) -> bool {
        match self {
            Self::Memory(s) => s.is_durable(),
            Self::Durable(_) | Self::Failed(_) => true,
        }
    }

    async fn flush(&mut self) -> Result<(), StorageError> {
        match self {
            Self::Memory(s) => s.flush().await,
            Self::Durable(lease) => lease.get_mut().flush().await,
            Self::Failed(err) => Err(err.clone()),
        }
    }
}
