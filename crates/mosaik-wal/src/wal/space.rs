//! How [`Wal`] uses segments: rotation, flushing, reclaiming space.

use {
    super::Wal,
    crate::{
        error::WalError,
        record::{Kind, payload},
        segment::Segment,
        sync_dir,
    },
    std::fs,
};

/// Buffered bytes are written to the OS (not synced) past this size.
const FLUSH_BYTES: usize = 1 << 20;

impl Wal {
    /// Writes one record (rotating first if the segment is full).
    pub(super) fn write_record(
        &mut self,
        kind: Kind,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), WalError> {
        self.room_for_record()?.append(kind, body);
        self.flush_if_large()
    }

    /// The segment to write the next record to, rotating first when the
    /// current one is full.
    pub(super) fn room_for_record(&mut self) -> Result<&mut Segment, WalError> {
        let current = self
            .segments
            .back_mut()
            .expect("a log always has a segment");
        if current.len() >= self.options.segment_bytes && current.records() > 0 {
            // The closed segment is synced before the next one exists, so
            // only the last segment can ever end in a torn write.
            current.sync()?;
            let seq = current.seq + 1;
            self.start_segment(seq)?;
        }
        Ok(self
            .segments
            .back_mut()
            .expect("a log always has a segment"))
    }

    /// Creates segment `seq` and buffers its checkpoint (the state so far),
    /// so every segment can be replayed without the ones before it.
    pub(super) fn start_segment(&mut self, seq: u64) -> Result<(), WalError> {
        let mut segment = Segment::create(&self.dir, seq, self.fill())?;
        let state = &self.state;
        segment.append(Kind::Checkpoint, |out| {
            payload::checkpoint(
                out,
                state.base,
                &state.base_meta,
                state.last() + 1,
                state.hard_state.as_deref(),
            );
        });
        self.segments.push_back(segment);
        self.dir_dirty = true;
        Ok(())
    }

    /// What a segment fills ahead: [`WalOptions::preallocate_bytes`]
    /// zeros, never past the rotation size.
    ///
    /// [`WalOptions::preallocate_bytes`]: crate::WalOptions::preallocate_bytes
    pub(crate) fn fill(&self) -> (u64, u64) {
        (self.options.preallocate_bytes, self.options.segment_bytes)
    }

    pub(super) fn flush_if_large(&mut self) -> Result<(), WalError> {
        let segment = self
            .segments
            .back_mut()
            .expect("a log always has a segment");
        if segment.pending_len() >= FLUSH_BYTES {
            segment.flush()?;
        }
        Ok(())
    }

    /// Deletes the oldest segments once no live entry is in them. Runs
    /// right after a sync, so the records that killed those entries are
    /// durable first. A failure only delays reclaiming (a stale segment left
    /// behind replays consistently), so it is logged, not returned.
    pub(super) fn reclaim(&mut self) {
        let active = self
            .segments
            .back()
            .expect("a log always has a segment")
            .seq;
        let keep_from = self.state.oldest_segment().unwrap_or(active);
        let mut removed = false;
        while let Some(oldest) = self.segments.front().filter(|s| s.seq < keep_from) {
            if let Err(e) = fs::remove_file(&oldest.path) {
                tracing::warn!(file = %oldest.path.display(), error = %e, "wal: could not delete a segment");
                break;
            }
            self.segments.pop_front();
            removed = true;
        }
        if removed && let Err(e) = sync_dir(&self.dir) {
            tracing::warn!(error = %e, "wal: directory sync after deleting segments failed");
        }
    }
}
