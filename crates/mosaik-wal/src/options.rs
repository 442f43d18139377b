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
    /// How far ahead of the writes a segment's file is filled with zeros.
    /// An append that stays inside the file's size leaves its `fdatasync`
    /// only data to flush; one that grows the file also has the new size
    /// committed to the file system's journal, which costs about a third
    /// more per sync on ext4 (118 against 80 µs measured on the project's
    /// benchmark machine). Recovery reads an all-zero tail as the clean end
    /// of a segment. 0 turns it off, as on a copy-on-write file system,
    /// where an overwrite allocates anyway. A failed fill (a full disk) is
    /// not an error: the writes go on growing the file. Default: 1 MiB.
    pub preallocate_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            preallocate_bytes: 1 << 20,
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

    /// Sets [`WalOptions::preallocate_bytes`].
    #[must_use]
    pub fn with_preallocate_bytes(mut self, bytes: u64) -> Self {
        self.preallocate_bytes = bytes;
        self
    }
}
