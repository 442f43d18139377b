//! [`InMemoryLogStore`]: the default storage, a vector in memory. Also the
//! read mirror of [`DurableStore`](crate::groups::DurableStore).

use {
    super::{HardState, LogCursor, LogEntry, LogIndex, Storage, StorageError, StoredSnapshot},
    core::ops::RangeInclusive,
};

/// The default storage: a vector in memory, lost on restart (a restarted
/// member then catches up before it votes). `flush` is immediately ready.
#[derive(Debug, Clone)]
pub struct InMemoryLogStore<C> {
    hard: HardState,
    base: LogCursor,
    entries: Vec<LogEntry<C>>,
    snapshot: Option<StoredSnapshot>,
}

impl<C> Default for InMemoryLogStore<C> {
    fn default() -> Self {
        Self {
            hard: HardState::default(),
            base: LogCursor::zero(),
            entries: Vec::new(),
            snapshot: None,
        }
    }
}

impl<C> InMemoryLogStore<C> {
    /// A store holding what a durable store recovered.
    pub(crate) fn from_parts(
        hard: HardState,
        base: LogCursor,
        entries: Vec<LogEntry<C>>,
        snapshot: Option<StoredSnapshot>,
    ) -> Self {
        Self {
            hard,
            base,
            entries,
            snapshot,
        }
    }

    fn offset(&self, index: LogIndex) -> Option<usize> {
        if index <= self.base.index {
            return None;
        }
        let offset = usize::try_from(index.0 - self.base.index.0 - 1).ok()?;
        (offset < self.entries.len()).then_some(offset)
    }

    fn last_cursor(&self) -> LogCursor {
        match self.entries.last() {
            Some(entry) => LogCursor::new(entry.term, self.base.index + self.entries.len() as u64),
            None => self.base,
        }
    }

    /// Checks an append without storing anything.
    pub(crate) fn check_append(&self, first: LogIndex) -> Result<(), StorageError> {
        let next = self.last_cursor().index.next();
        if first == next {
            Ok(())
        } else {
            Err(StorageError::contract(format!(
                "append at {first} does not continue the log (next index is {next})"
            )))
        }
    }

    /// Checks a truncation without changing anything.
    pub(crate) fn check_truncate(&self, at: LogIndex) -> Result<(), StorageError> {
        if at <= self.base.index {
            return Err(StorageError::contract(format!(
                "cannot truncate at {at}: entries up to {} are pruned",
                self.base.index
            )));
        }
        Ok(())
    }

    /// Checks a prune: true if it changes anything, an error without a
    /// snapshot covering it.
    pub(crate) fn check_prune(&self, up_to: LogCursor) -> Result<bool, StorageError> {
        if up_to.index <= self.base.index {
            return Ok(false);
        }
        let newest = self.snapshot.as_ref().map(|s| s.at.index);
        if newest.is_none_or(|at| at < up_to.index) {
            return Err(StorageError::NoSnapshot {
                up_to: up_to.index.0,
                newest: newest.map(|i| i.0),
            });
        }
        if up_to.index > self.last_cursor().index {
            return Err(StorageError::contract(format!(
                "cannot prune up to {}: past the last entry {} (use reset_to)",
                up_to.index,
                self.last_cursor().index
            )));
        }
        Ok(true)
    }

    /// Checks a reset: past index 0 it needs a snapshot covering the base.
    pub(crate) fn check_reset(&self, base: LogCursor) -> Result<(), StorageError> {
        let newest = self.snapshot.as_ref().map(|s| s.at.index);
        if base.index > LogIndex::ZERO && newest.is_none_or(|at| at < base.index) {
            return Err(StorageError::NoSnapshot {
                up_to: base.index.0,
                newest: newest.map(|i| i.0),
            });
        }
        Ok(())
    }

    /// Checks a snapshot save.
    pub(crate) fn check_snapshot(&self, at: LogCursor) -> Result<(), StorageError> {
        if at.index < self.base.index {
            return Err(StorageError::contract(format!(
                "snapshot at {} is before the base {}",
                at.index, self.base.index
            )));
        }
        Ok(())
    }
}

impl<C: Clone + Send + 'static> Storage<C> for InMemoryLogStore<C> {
    fn hard_state(&self) -> Result<HardState, StorageError> {
        Ok(self.hard)
    }

    fn set_hard_state(&mut self, state: HardState) -> Result<(), StorageError> {
        self.hard = state;
        Ok(())
    }

    fn append_entries(
        &mut self,
        first: LogIndex,
        entries: &[LogEntry<C>],
    ) -> Result<LogIndex, StorageError> {
        self.check_append(first)?;
        self.entries.extend_from_slice(entries);
        Ok(self.last_cursor().index)
    }

    fn append_owned(
        &mut self,
        first: LogIndex,
        entries: Vec<LogEntry<C>>,
    ) -> Result<LogIndex, StorageError> {
        self.check_append(first)?;
        self.entries.extend(entries);
        Ok(self.last_cursor().index)
    }

    fn available(&self) -> RangeInclusive<LogIndex> {
        self.base.index.next()..=self.last_cursor().index
    }

    fn get(&self, index: LogIndex) -> Result<Option<LogEntry<C>>, StorageError> {
        Ok(self.offset(index).map(|i| self.entries[i].clone()))
    }

    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError> {
        let start = (*range.start()).max(self.base.index.next());
        let end = (*range.end()).min(self.last_cursor().index);
        let mut out = Vec::new();
        let mut index = start;
        while index <= end {
            if let Some(i) = self.offset(index) {
                out.push((index, self.entries[i].clone()));
            }
            index = index.next();
        }
        Ok(out)
    }

    fn truncate(&mut self, at: LogIndex) -> Result<(), StorageError> {
        self.check_truncate(at)?;
        if let Some(offset) = self.offset(at) {
            self.entries.truncate(offset);
        }
        Ok(())
    }

    fn base(&self) -> LogCursor {
        self.base
    }

    fn last(&self) -> LogCursor {
        self.last_cursor()
    }

    fn prune_prefix(&mut self, up_to: LogCursor) -> Result<(), StorageError> {
        if !self.check_prune(up_to)? {
            return Ok(());
        }
        let drop = usize::try_from(up_to.index.0 - self.base.index.0)
            .unwrap_or(usize::MAX)
            .min(self.entries.len());
        self.entries.drain(..drop);
        self.base = up_to;
        Ok(())
    }

    fn reset_to(&mut self, base: LogCursor) -> Result<(), StorageError> {
        self.check_reset(base)?;
        self.entries.clear();
        self.base = base;
        Ok(())
    }

    fn save_snapshot(&mut self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
        self.check_snapshot(snapshot.at)?;
        self.snapshot = Some(snapshot);
        Ok(())
    }

    fn snapshot(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        Ok(self.snapshot.clone())
    }

    fn is_durable(&self) -> bool {
        false
    }

    fn flush(&mut self) -> impl Future<Output = Result<(), StorageError>> + Send {
        core::future::ready(Ok(()))
    }
}
