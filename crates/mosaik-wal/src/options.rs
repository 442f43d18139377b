//! [`WalOptions`]: tuning knobs of a [`Wal`](crate::Wal).

/// Options for [`Wal::open`](crate::Wal::open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalOptions {
    /// A segment is closed and a new one started once it reaches this size
    /// (a segment may exceed it by one record). Space is reclaimed in whole
    /// segments, so smaller segments free space sooner after a prune; each
    /// rotation costs one extra `fdatasync` of the closed segment.
    /// Default: 64 MiB.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
        }
    }
}

impl WalOptions {
    /// Sets [`WalOptions::segment_bytes`].
    #[must_use]
    pub fn with_segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }
}
