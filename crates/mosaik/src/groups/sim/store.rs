//! [`SimStore`]: the storage contract with a simulated disk and its crash
//! semantics.

use {
    crate::groups::storage::{
        HardState, InMemoryLogStore, LogCursor, LogEntry, LogIndex, Storage, StorageError,
        StoredSnapshot,
    },
    core::{ops::RangeInclusive, time::Duration},
    std::sync::{Arc, Mutex, PoisonError},
    tokio_util::sync::CancellationToken,
};

/// How long a simulated `fsync` takes (long enough for writes of other
/// requests to queue behind it: group commit).
const FSYNC: Duration = Duration::from_millis(1);

/// A machine's simulated disk: what survives its process. Cheap to clone
/// (clones share the disk).
#[derive(Debug)]
pub struct Disk<C>(Arc<Mutex<InMemoryLogStore<C>>>);

impl<C> Clone for Disk<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> Default for Disk<C> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(InMemoryLogStore::default())))
    }
}

impl<C: Clone> Disk<C> {
    /// Loses everything (a wiped or replaced disk).
    pub fn wipe(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = InMemoryLogStore::default();
    }

    fn load(&self) -> InMemoryLogStore<C> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One process's view of its [`Disk`]: writes are visible at once and
/// reach the disk only through a completed `flush`; a flush that has not
/// completed when the process crashes (`dead`) writes nothing.
#[derive(Debug)]
pub struct SimStore<C> {
    working: InMemoryLogStore<C>,
    disk: Disk<C>,
    dead: CancellationToken,
}

impl<C: Clone> SimStore<C> {
    /// Opens `disk` for a process whose crash cancels `dead`.
    pub(crate) fn open(disk: &Disk<C>, dead: CancellationToken) -> Self {
        Self {
            working: disk.load(),
            disk: disk.clone(),
            dead,
        }
    }
}

impl<C: Clone + Send + Sync + 'static> Storage<C> for SimStore<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        self.working.hard_state()
    }

    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError> {
        self.working.set_hard_state(state)
    }

    fn append_entries(
        &mut self,
        first: LogIndex,
        entries: &[LogEntry<C>],
    ) -> Result<LogIndex, StorageError> {
        self.working.append_entries(first, entries)
    }

    fn append_owned(
        &mut self,
        first: LogIndex,
        entries: Vec<LogEntry<C>>,
    ) -> Result<LogIndex, StorageError> {
        self.working.append_owned(first, entries)
    }

    fn available(&self) -> RangeInclusive<LogIndex> {
        self.working.available()
    }

    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError> {
        self.working.get(index)
    }

    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError> {
        self.working.get_range(range)
    }

    fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError> {
        self.working.truncate(at)
    }

    fn base(&self) -> LogCursor {
        self.working.base()
    }

    fn last(&self) -> LogCursor {
        self.working.last()
    }

    fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError> {
        self.working.prune_prefix(up_to)
    }

    fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError> {
        self.working.reset_to(base)
    }

    fn save_snapshot(&mut self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
        self.working.save_snapshot(snapshot)
    }

    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        self.working.snapshot()
    }

    async fn flush(&mut self) -> Result<(), StorageError> {
        tokio::time::sleep(FSYNC).await;
        if self.dead.is_cancelled() {
            return Err(StorageError::new("simulated process crashed"));
        }
        let copy = self.working.clone();
        *self.disk.0.lock().unwrap_or_else(PoisonError::into_inner) = copy;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use {
        super::{Disk, SimStore},
        crate::groups::storage::{HardState, Storage},
        tokio_util::sync::CancellationToken,
    };

    /// A hard state told apart by its `commit_weight`.
    fn hard(weight: u64) -> HardState {
        HardState {
            commit_weight: weight,
            ..HardState::default()
        }
    }

    #[test]
    fn only_completed_flushes_survive_a_crash() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let disk = Disk::<u8>::default();
            let alive = CancellationToken::new();
            let mut store = SimStore::open(&disk, alive.clone());
            store.set_hard_state(hard(1)).expect("write");
            store.flush().await.expect("flush");
            store.set_hard_state(hard(2)).expect("write");
            // Visible at once to the process that wrote it...
            assert_eq!(store.hard_state().expect("read"), hard(2));
            // ...but the crash comes before the next flush completes.
            alive.cancel();
            assert!(store.flush().await.is_err());
            let reopened = SimStore::open(&disk, CancellationToken::new());
            assert_eq!(reopened.hard_state().expect("read"), hard(1));
            disk.wipe();
            let wiped = SimStore::open(&disk, CancellationToken::new());
            assert_eq!(wiped.hard_state().expect("read"), HardState::default());
        });
    }
}
