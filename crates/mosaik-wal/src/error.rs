//! [`WalError`]: every way a WAL operation can fail.

use std::{io, path::PathBuf};

/// A WAL failure.
///
/// I/O failures carry the path and the operation so a log line alone tells
/// the operator what broke. A failed write or sync also poisons the [`Wal`]
/// (later writes return [`WalError::Poisoned`]): after a failed `fsync` the
/// kernel may already have dropped the dirty pages, so retrying could report
/// success for data that never reached the disk.
///
/// [`Wal`]: crate::Wal
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O operation failed.
    #[error("wal: {op} {path}: {source}")]
    Io {
        /// What was being done (`"open"`, `"write"`, `"fdatasync"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The device is full (`ENOSPC`). Kept apart from [`WalError::Io`] so the
    /// caller can tell the operator exactly what to fix.
    #[error("wal: no space left on device: {op} {path}")]
    NoSpace {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Stored data failed a check that a crash cannot explain; the log
    /// refuses to open rather than guess.
    #[error("wal: corrupt data in {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first bad record (or header) in `file`.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The caller broke the contract (an index that does not continue the
    /// log, an entry too large to frame, ...). Nothing was written.
    #[error("wal: {op}: {reason}")]
    ContractViolation {
        /// The refused operation.
        op: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Entries up to `index` may only be dropped once a durable snapshot
    /// covers them.
    #[error("wal: no durable snapshot at or after index {index} (newest: {newest:?})")]
    NoSnapshot {
        /// The index the caller wanted to drop up to.
        index: u64,
        /// The newest durable snapshot's index, if any.
        newest: Option<u64>,
    },
    /// Another [`Wal`](crate::Wal) (in this or another process) has the
    /// directory open.
    #[error("wal: {dir} is locked by another open log")]
    Locked {
        /// The log directory.
        dir: PathBuf,
    },
    /// An earlier write or sync failed; the log refuses further writes.
    /// Reopening it recovers what is durable.
    #[error("wal: refusing writes after an earlier failure: {0}")]
    Poisoned(String),
}

impl WalError {
    /// Wraps an I/O error, giving `ENOSPC` its own variant.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if source.kind() == io::ErrorKind::StorageFull {
            Self::NoSpace { op, path, source }
        } else {
            Self::Io { op, path, source }
        }
    }

    /// A [`WalError::ContractViolation`].
    pub(crate) fn contract(op: &'static str, reason: impl Into<String>) -> Self {
        Self::ContractViolation {
            op,
            reason: reason.into(),
        }
    }

    /// A [`WalError::Corrupt`].
    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Self::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// True for [`WalError::NoSpace`].
    pub fn is_no_space(&self) -> bool {
        matches!(self, Self::NoSpace { .. })
    }
}

/// Attaches an operation and a path to an [`io::Result`].
pub(crate) trait IoContext<T> {
    /// Maps the error with [`WalError::io`].
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T, WalError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T, WalError> {
        self.map_err(|e| WalError::io(op, path, e))
    }
}
