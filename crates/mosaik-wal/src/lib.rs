//! `mosaik-wal`: a crash-safe, synchronous write-ahead log and snapshot
//! store for one consensus group member.
//!
//! It knows nothing of Raft: entries are opaque bytes at `u64` indexes after
//! a *base* (the index a snapshot or prune left off at, with opaque
//! metadata), next to an opaque *hard state* and one opaque snapshot. The
//! async runtime drives a [`Wal`] from a dedicated thread.
//!
//! ```no_run
//! # fn main() -> Result<(), mosaik_wal::WalError> {
//! use mosaik_wal::{Wal, WalOptions};
//! let (mut wal, recovered) = Wal::open("/var/lib/member/wal", WalOptions::default())?;
//! let next = recovered.last_index + 1;
//! wal.append(next, &[b"entry".as_slice()])?;
//! wal.set_hard_state(b"term 3, voted for b")?;
//! wal.sync()?; // both are durable now, with one fdatasync
//! # Ok(()) }
//! ```
//!
//! # Format
//!
//! A directory holds `wal-<seq>.log` segments, a `snapshot` file and a
//! `LOCK` file. A segment is a header (magic, version, sequence number,
//! CRC) followed by 8-byte aligned records `len | kind | crc | payload`,
//! whose CRC-32C also covers the segment number and the record's offset.
//! Record kinds: checkpoint (first in every segment: base, hard state and
//! the next index, so older segments can be deleted), entries (a batch),
//! truncate, hard state, prune and reset. A segment is closed at
//! [`WalOptions::segment_bytes`] and synced before the next one is created.
//! Each file is filled with zeros ahead of its writes
//! ([`WalOptions::preallocate_bytes`], never past the rotation size), so a
//! sync of an append flushes data and not a new file size as well.
//!
//! # Recovery
//!
//! Segments are replayed in order. Zeros after a segment's last record
//! are its clean end (no record starts with a zero byte: kinds start at
//! 1). A bad record at the end of the last
//! segment with no valid record after it is a torn write (a crash during an
//! unsynced write leaves a prefix of the data and possibly garbage) and is
//! cut off. Anything else that fails a check — a bad record followed by a
//! valid one, damage in an earlier segment, entries that do not continue the
//! log, a base no snapshot covers — is [`WalError::Corrupt`] naming the file
//! and offset: the log never opens on data it cannot vouch for. (One cost of
//! that rule: a power loss that persists the pages of an unsynced write out
//! of order can leave a valid record after garbage, and the log then refuses
//! to open although nothing synced was lost.)

mod error;
mod options;
mod record;
mod recover;
mod segment;
mod snapshot;
mod state;
mod wal;

#[cfg(test)]
mod tests;

pub use {
    error::WalError,
    options::WalOptions,
    recover::{Recovered, TornTail},
    snapshot::{Snapshot, SnapshotInfo},
    wal::Wal,
};

use {error::IoContext, std::path::Path};

/// `fsync`s a directory, making file creations, renames and deletions in it
/// durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}
