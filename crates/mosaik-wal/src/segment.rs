//! [`Segment`]: one `wal-<seq>.log` file and its write buffer.

use {
    crate::{
        error::{IoContext, WalError},
        record::{self, Kind},
        state::Loc,
    },
    std::{
        fs::{File, OpenOptions},
        os::unix::fs::FileExt,
        path::{Path, PathBuf},
    },
};

/// One segment file. Records are encoded into `pending` and handed to the OS
/// by [`Segment::flush`] (when the buffer grows large, and at every sync), so
/// a group of appends costs one `write` and one `fdatasync`.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    file: File,
    /// Bytes already written to the file.
    flushed: u64,
    /// Encoded bytes that follow `flushed`, not yet written.
    pending: Vec<u8>,
    /// Written or buffered since the last `fdatasync`.
    dirty: bool,
    /// Records after the checkpoint: a segment holding only its checkpoint is
    /// never rotated (a checkpoint larger than `segment_bytes` would loop).
    records: u64,
    /// The file's size: bytes past `flushed` up to it are zeros written
    /// ahead ([`WalOptions::preallocate_bytes`](crate::WalOptions)).
    room: u64,
    /// How many zeros to write ahead when a write grows the file (0: none).
    preallocate: u64,
    /// Never filled past this size (the rotation size: the next record
    /// after it goes to a new segment).
    fill_cap: u64,
}

/// Zeros written ahead come from this buffer, a slice at a time.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

impl Segment {
    /// `wal-<seq, 20 digits>.log`: names sort like sequence numbers.
    pub(crate) fn file_name(seq: u64) -> String {
        format!("wal-{seq:020}.log")
    }

    /// The sequence number in a segment file name.
    pub(crate) fn parse_name(name: &str) -> Option<u64> {
        let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
        (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    }

    /// Creates a new segment file (it must not exist) with its header buffered.
    /// `fill` is ([`WalOptions::preallocate_bytes`](crate::WalOptions),
    /// the rotation size).
    pub(crate) fn create(dir: &Path, seq: u64, fill: (u64, u64)) -> Result<Self, WalError> {
        let path = dir.join(Self::file_name(seq));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        Ok(Self {
            seq,
            path,
            file,
            flushed: 0,
            pending: record::segment_header(seq).to_vec(),
            dirty: true,
            records: 0,
            room: 0,
            preallocate: fill.0,
            fill_cap: fill.1,
        })
    }

    /// An existing segment whose valid bytes end at `len` in a file of
    /// `size` bytes (zeros after `len`); `records` counts its records after
    /// the checkpoint; `fill` as in [`Segment::create`].
    pub(crate) fn open(
        path: PathBuf,
        seq: u64,
        (len, size): (u64, u64),
        records: u64,
        writable: bool,
        fill: (u64, u64),
    ) -> Result<Self, WalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&path)
            .ctx("open", &path)?;
        Ok(Self {
            seq,
            path,
            file,
            flushed: len,
            pending: Vec::new(),
            dirty: false,
            records,
            room: size.max(len),
            preallocate: fill.0,
            fill_cap: fill.1,
        })
    }

    /// The segment's length including buffered bytes.
    pub(crate) fn len(&self) -> u64 {
        self.flushed + self.pending.len() as u64
    }

    /// Records after the checkpoint.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Bytes buffered but not yet written.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Encodes a record at the end; returns its file offset.
    pub(crate) fn append(&mut self, kind: Kind, body: impl FnOnce(&mut Vec<u8>)) -> u64 {
        let offset = self.len();
        record::write_frame(&mut self.pending, self.seq, offset, kind, body);
        if kind != Kind::Checkpoint {
            self.records += 1;
        }
        self.dirty = true;
        offset
    }

    /// Writes buffered bytes to the file (no sync).
    pub(crate) fn flush(&mut self) -> Result<(), WalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all_at(&self.pending, self.flushed)
            .ctx("write", &self.path)?;
        self.flushed += self.pending.len() as u64;
        self.pending.clear();
        if self.flushed > self.room {
            self.room = self.flushed;
            self.fill_ahead();
        }
        Ok(())
    }

    /// This write grew the file: zeros after it, so the next appends land
    /// inside the file's size. Best effort: a failure (a full disk) stops
    /// the filling for this segment and is otherwise harmless, since the
    /// zeros lie past every record and the writes just grow the file.
    fn fill_ahead(&mut self) {
        let end = self
            .flushed
            .saturating_add(self.preallocate)
            .min(self.fill_cap);
        while self.room < end {
            let chunk = usize::try_from(end - self.room)
                .unwrap_or(usize::MAX)
                .min(ZEROS.len());
            if let Err(err) = self.file.write_all_at(&ZEROS[..chunk], self.room) {
                tracing::debug!(file = %self.path.display(), %err, "wal: stopped filling ahead");
                self.preallocate = 0;
                return;
            }
            self.room += chunk as u64;
        }
    }

    /// Flushes and `fdatasync`s: everything appended so far is durable.
    pub(crate) fn sync(&mut self) -> Result<(), WalError> {
        if !self.dirty {
            return Ok(());
        }
        self.flush()?;
        self.file.sync_data().ctx("fdatasync", &self.path)?;
        self.dirty = false;
        Ok(())
    }

    /// The bytes of the entry at `loc` (from the buffer if not yet written).
    pub(crate) fn read(&self, loc: Loc) -> Result<Vec<u8>, WalError> {
        let mut out = vec![0u8; loc.len as usize];
        if loc.offset >= self.flushed {
            // Buffers are flushed whole, so an entry never straddles `flushed`.
            let start =
                usize::try_from(loc.offset - self.flushed).expect("buffer offset fits usize");
            let len = out.len();
            out.copy_from_slice(&self.pending[start..start + len]);
        } else {
            self.file
                .read_exact_at(&mut out, loc.offset)
                .ctx("read", &self.path)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_lookalikes() {
        assert_eq!(Segment::file_name(42), "wal-00000000000000000042.log");
        assert_eq!(Segment::parse_name(&Segment::file_name(42)), Some(42));
        assert_eq!(Segment::parse_name("wal-42.log"), None);
        assert_eq!(Segment::parse_name("wal-0000000000000000004x.log"), None);
        assert_eq!(Segment::parse_name("snapshot"), None);
    }
}
