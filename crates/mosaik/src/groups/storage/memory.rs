//! [`InMemoryLogStore`]: the default storage, a vector in memory. Also the
//! read mirror of [`DurableStore`](crate::groups::DurableStore).

use {
    super::{
        Ballot, HardState, LogCursor, LogEntry, LogIndex, Storage, StorageError, StoredSnapshot,
    },
    crate::primitives::background::drop_entries,
    core::ops::RangeInclusive,
};

/// The default storage: a vector in memory, lost on restart (a restarted
/// member then catches up before it votes). `flush` is immediately ready.
///
/// The store a group builder starts with (when no other is given) keeps
/// positions only: the group's engine holds the log in memory already and
/// reads storage only when the group starts, so a second copy of every
/// command would cost memory and nothing else. The driver then writes no
/// commands to it, and reading one back is an error. A store made with
/// [`Default`] keeps everything, as the contract says.
#[derive(Debug, Clone)]
pub struct InMemoryLogStore<C> {
    hard: HardState,
    base: LogCursor,
    entries: Vec<LogEntry<C>>,
    snapshot: Option<StoredSnapshot>,
    /// `false`: the positions-only store (see above).
    commands: bool,
}

impl<C> Default for InMemoryLogStore<C> {
    fn default() -> Self {
        Self {
            hard: HardState::default(),
            base: LogCursor::zero(),
            entries: Vec::new(),
            snapshot: None,
            commands: true,
        }
    }
}

impl<C> InMemoryLogStore<C> {
    /// A store holding what a durable store recovered.
    pub(crate) fn from_parts(
        hard: &HardState,
        base: LogCursor,
        entries: Vec<LogEntry<C>>,
        snapshot: Option<StoredSnapshot>,
    ) -> Self {
        Self {
            hard: *hard,
            base,
            entries,
            snapshot,
            commands: true,
        }
    }

    /// The store a group builder starts with: positions only (see the type's
    /// docs).
    pub(crate) fn positions_only() -> Self {
        Self {
            commands: false,
            ..Self::default()
        }
    }

    /// Entries are read back: an error for the positions-only store, which
    /// holds none worth reading.
    fn readable(&self) -> Result<(), StorageError> {
        if self.commands {
            Ok(())
        } else {
            Err(StorageError::new(
                "the group's default in-memory store keeps log positions only",
            ))
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
        let Some(i) = self.offset(index) else {
            return Ok(None);
        };
        self.readable()?;
        Ok(Some(self.entries[i].clone()))
    }

    fn get_range(
        &self,
        range: &RangeInclusive<LogIndex>,
    ) -> Result<Vec<(LogIndex, LogEntry<C>)>, StorageError> {
        let start = (*range.start()).max(self.base.index.next());
        let end = (*range.end()).min(self.last_cursor().index);
        if start <= end {
            self.readable()?;
        }
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

    fn term_at(&self, index: LogIndex) -> Result<Option<Ballot>, StorageError> {
        if index == self.base.index {
            return Ok(Some(self.base.term));
        }
        Ok(self.offset(index).map(|i| self.entries[i].term))
    }

    fn keeps_commands(&self) -> bool {
        self.commands
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
        let pruned: Vec<LogEntry<C>> = self.entries.drain(..drop).collect();
        // A compaction interval's commands, freed where the group's loop
        // calls this, would hold up its writes (the engine's own log hands
        // its pruned entries off the loop the same way); a few are freed
        // here.
        if self.commands {
            drop_entries("pruned", pruned);
        }
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

#[cfg(test)]
mod tests {
    use {
        super::*,
        crate::primitives::background::{BACKGROUND_DROP_MIN, DropTell},
    };

    fn ballot(round: u64) -> Ballot {
        Ballot::new(round, crate::SecretKey::from_bytes(&[1; 32]).public())
    }

    /// Saves an (empty) snapshot at `at` and prunes the log up to it.
    fn prune_behind_snapshot<C: Clone + Send + 'static>(
        store: &mut InMemoryLogStore<C>,
        at: LogCursor,
    ) {
        store
            .save_snapshot(StoredSnapshot {
                at,
                data: bytes::Bytes::new(),
            })
            .unwrap();
        store.prune_prefix(at).unwrap();
    }

    /// The builder's store keeps every position the driver checks (last,
    /// terms, truncation, prunes behind a snapshot) but refuses to hand back
    /// an entry: it holds placeholders, not commands.
    #[test]
    fn the_positions_only_store_keeps_positions_and_refuses_reads() {
        let mut store = InMemoryLogStore::<u64>::positions_only();
        assert!(!store.keeps_commands());
        assert!(InMemoryLogStore::<u64>::default().keeps_commands());
        let entries = (1..=5).map(|r| LogEntry::noop(ballot(r))).collect();
        assert_eq!(
            store.append_owned(LogIndex(1), entries).unwrap(),
            LogIndex(5)
        );
        assert_eq!(store.last(), LogCursor::new(ballot(5), LogIndex(5)));
        assert_eq!(store.term_at(LogIndex(3)).unwrap(), Some(ballot(3)));
        assert_eq!(store.term_at(LogIndex(0)).unwrap(), Some(Ballot::zero()));
        assert!(store.get(LogIndex(2)).is_err());
        assert!(store.get_range(&(LogIndex(1)..=LogIndex(2))).is_err());
        // Nothing held there: nothing to refuse (a fresh group's start).
        assert_eq!(store.get(LogIndex(9)).unwrap(), None);
        assert!(store.get_range(&store.available()).is_err());
        store.truncate(LogIndex(5)).unwrap();
        let at = LogCursor::new(ballot(2), LogIndex(2));
        prune_behind_snapshot(&mut store, at);
        assert_eq!(store.available(), LogIndex(3)..=LogIndex(4));
        assert_eq!(store.term_at(LogIndex(2)).unwrap(), Some(ballot(2)));
    }

    /// Pruning a compaction interval's commands frees them on a background
    /// thread, off the caller (the group's loop); a few stay inline.
    #[tokio::test]
    async fn a_large_prune_frees_its_commands_off_the_caller() {
        let count = usize::try_from(BACKGROUND_DROP_MIN).unwrap();
        for (n, off_caller) in [(count, true), (count - 1, false)] {
            let (tx, rx) = std::sync::mpsc::channel();
            let mut store = InMemoryLogStore::<DropTell>::default();
            let entries = (1..=n as u64)
                .map(|r| LogEntry::command(ballot(r), DropTell(tx.clone())))
                .collect();
            drop(tx);
            store.append_owned(LogIndex(1), entries).unwrap();
            let last = LogIndex(n as u64);
            let at = LogCursor::new(ballot(n as u64), last);
            prune_behind_snapshot(&mut store, at);
            assert_eq!(store.base(), at);
            let here = std::thread::current().name().map(str::to_owned);
            for _ in 0..n {
                let name = rx
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .expect("every pruned command is dropped");
                if off_caller {
                    assert_eq!(name.as_deref(), Some("mosaik-pruned"), "{n} entries");
                } else {
                    assert_eq!(name, here, "{n} entries");
                }
            }
        }
    }
}
