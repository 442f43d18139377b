//! The I/O thread of a [`DurableStore`](super::DurableStore): it owns the
//! [`Wal`] and carries out writes in the order they were made; a `Flush`
//! runs `wal.sync()` and answers over a oneshot. The first failure is
//! remembered: every later write is skipped and every flush fails.

use {
    crate::groups::StorageError,
    bytes::Bytes,
    mosaik_wal::{Wal, WalError},
    std::{
        sync::{Arc, Mutex, PoisonError, mpsc},
        thread::JoinHandle,
    },
    tokio::sync::oneshot,
};

/// One write (or the barrier), in the order the store made them.
pub(super) enum Op {
    Append {
        first: u64,
        entries: Vec<Bytes>,
    },
    Truncate(u64),
    HardState(Bytes),
    Prune {
        index: u64,
        meta: Bytes,
    },
    Reset {
        index: u64,
        meta: Bytes,
    },
    Snapshot {
        index: u64,
        meta: Bytes,
        data: Bytes,
    },
    Flush(oneshot::Sender<Result<(), StorageError>>),
}

/// The store's side of the thread.
pub(super) struct Io {
    tx: Option<mpsc::Sender<Op>>,
    thread: Option<JoinHandle<()>>,
    /// The thread's first failure (shared, so writes fail at once after it).
    failed: Arc<Mutex<Option<StorageError>>>,
}

impl Io {
    /// Starts the thread that owns `wal`.
    pub(super) fn start(wal: Wal, name: String) -> Result<Self, StorageError> {
        let (tx, rx) = mpsc::channel();
        let failed = Arc::new(Mutex::new(None));
        let shared = failed.clone();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(wal, &rx, &shared))
            .map_err(|err| StorageError::Io {
                op: "spawn the storage thread".into(),
                detail: err.to_string(),
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            failed,
        })
    }

    /// Fails if the thread failed earlier.
    pub(super) fn check(&self) -> Result<(), StorageError> {
        match &*self.failed.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(err) => Err(StorageError::Poisoned(err.to_string())),
            None => Ok(()),
        }
    }

    /// Hands a write to the thread.
    pub(super) fn send(&self, op: Op) -> Result<(), StorageError> {
        self.tx
            .as_ref()
            .ok_or(StorageError::Closed)?
            .send(op)
            .map_err(|_| StorageError::Closed)
    }
}

impl Drop for Io {
    /// Lets the thread finish the queued writes, sync them and close the
    /// log (releasing its directory lock) before the store is gone.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut wal: Wal, rx: &mpsc::Receiver<Op>, failed: &Mutex<Option<StorageError>>) {
    let mut error: Option<StorageError> = None;
    while let Ok(op) = rx.recv() {
        if let Op::Flush(reply) = op {
            let result = match &error {
                Some(err) => Err(err.clone()),
                None => wal.sync().map_err(from_wal),
            };
            if let Err(err) = &result {
                fail(&mut error, failed, err);
            }
            let _ = reply.send(result);
            continue;
        }
        if error.is_some() {
            continue;
        }
        if let Err(err) = write(&mut wal, op) {
            let err = from_wal(err);
            tracing::error!(dir = %wal.dir().display(), %err, "storage write failed");
            fail(&mut error, failed, &err);
        }
    }
    if error.is_none()
        && let Err(err) = wal.sync()
    {
        tracing::error!(dir = %wal.dir().display(), %err, "final storage sync failed");
    }
}

fn fail(
    error: &mut Option<StorageError>,
    failed: &Mutex<Option<StorageError>>,
    err: &StorageError,
) {
    if error.is_none() {
        *error = Some(err.clone());
        *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(err.clone());
    }
}

fn write(wal: &mut Wal, op: Op) -> Result<(), WalError> {
    match op {
        Op::Append { first, entries } => wal.append(first, &entries),
        Op::Truncate(at) => wal.truncate_from(at),
        Op::HardState(state) => wal.set_hard_state(&state),
        Op::Prune { index, meta } => wal.prune_to(index, &meta),
        Op::Reset { index, meta } => wal.reset_to(index, &meta),
        Op::Snapshot { index, meta, data } => wal.save_snapshot(index, &meta, &data),
        Op::Flush(_) => Ok(()),
    }
}

/// The storage error for a WAL error.
pub(super) fn from_wal(err: WalError) -> StorageError {
    match err {
        WalError::Io { op, path, source } => StorageError::Io {
            op: op.into(),
            detail: format!("{}: {source}", path.display()),
        },
        WalError::NoSpace { op, path, source } => StorageError::NoSpace {
            detail: format!("{op} {}: {source}", path.display()),
        },
        WalError::Corrupt {
            file,
            offset,
            reason,
        } => StorageError::Corrupt {
            file: file.display().to_string(),
            offset,
            reason,
        },
        WalError::NoSnapshot { index, newest } => StorageError::NoSnapshot {
            up_to: index,
            newest,
        },
        WalError::Poisoned(why) => StorageError::Poisoned(why),
        WalError::Locked { dir } => StorageError::Io {
            op: "lock the log directory".into(),
            detail: format!("{} is locked by another open log", dir.display()),
        },
        other @ WalError::ContractViolation { .. } => {
            StorageError::ContractViolation(other.to_string())
        }
    }
}
