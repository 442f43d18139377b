//! [`Error`]: why a collection write failed. Every variant that can be
//! retried hands the caller's inputs back.

use {crate::groups::StorageError, core::fmt};

/// Why a write failed; `T` is what the caller passed in.
#[non_exhaustive]
pub enum Error<T> {
    /// No leader accepted the write in time (or it was superseded by a
    /// leader change). The inputs come back for a retry; a retry is
    /// at-least-once.
    Offline(T),
    /// The inputs could not be encoded.
    Encoding(T, String),
    /// The store's group stopped: the node shut down, or its store failed
    /// while this write was under way (later writes then fail with
    /// [`Error::Storage`], and `storage_error()` says why).
    NetworkDown,
    /// The write can never be replicated: its command encodes to `bytes`,
    /// more than one proposal may carry (`limit`, from
    /// `groups::Config::max_append_bytes` less a message's overhead). Nothing
    /// was submitted; the inputs come back, to be written in smaller parts
    /// (beyond SPEC: it was reported as `Offline`, which a retry never
    /// cures).
    TooLarge {
        /// The caller's inputs.
        inputs: T,
        /// The write's encoded size.
        bytes: usize,
        /// The most one proposal may take.
        limit: usize,
    },
    /// This node's replica has no usable storage: the directory of
    /// `CollectionConfig::with_storage` did not open (beyond SPEC). The
    /// write was not submitted; the inputs come back.
    Storage(T, StorageError),
}

impl<T> Error<T> {
    /// The caller's inputs, if the error carries them.
    pub fn into_inner(self) -> Option<T> {
        match self {
            Self::Offline(t)
            | Self::Encoding(t, _)
            | Self::Storage(t, _)
            | Self::TooLarge { inputs: t, .. } => Some(t),
            Self::NetworkDown => None,
        }
    }
}

impl<T> fmt::Display for Error<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offline(_) => f.write_str("collection offline, write not committed"),
            Self::Encoding(_, e) => write!(f, "collection write encoding failed: {e}"),
            Self::NetworkDown => f.write_str("collection stopped, network down"),
            Self::Storage(_, e) => write!(f, "collection replica has no storage: {e}"),
            Self::TooLarge { bytes, limit, .. } => write!(
                f,
                "collection write of {bytes} bytes exceeds the {limit}-byte limit of one \
                 proposal (groups::Config::max_append_bytes): write it in smaller parts"
            ),
        }
    }
}

impl<T> fmt::Debug for Error<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "collections::Error({self})")
    }
}

impl<T> core::error::Error for Error<T> {}
