//! `Arena`: where a producer keeps the encodings of its small datums.
//!
//! Each send used to encode into a scratch buffer and copy the result
//! into an allocation of its own. At 64-byte datums that `malloc`, its
//! `free` on the subscriber's task (another thread, so glibc takes the
//! allocating arena's lock), and the reference-count header `Bytes`
//! allocates the first time a fresh buffer is shared, were most of the
//! allocator's share of a stream's CPU time (a `malloc` uprobe counted
//! three calls per datum). The arena carves small encodings out of one
//! shared chunk instead, so a chunk costs one allocation for every
//! [`CHUNK`] bytes of datums.
//!
//! The cost is memory held longer: a chunk is freed once the last datum
//! carved from it has been written to every subscriber. Every subscriber
//! takes every datum (criteria match all today), so a queue holds a run of
//! consecutive datums, and the chunks under it hold at most its datums'
//! bytes plus one chunk at each end. Whatever the queues hold, a queued
//! datum keeps at most one chunk alive: a queue of `n` datums never holds
//! more than `n × CHUNK` bytes. Datums larger than [`MAX_CARVED`] get their
//! own allocation, as before: their copy costs more than the `malloc`.

use {
    bytes::{Bytes, BytesMut},
    std::sync::{Mutex, PoisonError},
};

/// Bytes per chunk.
pub(super) const CHUNK: usize = 4096;

/// Largest encoding carved from a chunk.
pub(super) const MAX_CARVED: usize = 512;

/// A producer's chunk of encodings; shared by its handles' clones.
#[derive(Default)]
pub(super) struct Arena {
    chunk: Mutex<BytesMut>,
}

impl Arena {
    /// A shared copy of `encoded`: carved from the current chunk when it
    /// is small, in its own allocation otherwise.
    pub(super) fn copy(&self, encoded: &[u8]) -> Bytes {
        if encoded.len() > MAX_CARVED {
            return Bytes::copy_from_slice(encoded);
        }
        // Nothing can panic while the lock is held, and a chunk's content
        // is only ever appended to, so a poisoned lock is still usable.
        let mut chunk = self.chunk.lock().unwrap_or_else(PoisonError::into_inner);
        if chunk.capacity() - chunk.len() < encoded.len() {
            // The old chunk lives on in the datums carved from it.
            *chunk = BytesMut::with_capacity(CHUNK);
        }
        chunk.extend_from_slice(encoded);
        chunk.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_exact_and_independent() {
        let arena = Arena::default();
        let mut kept = Vec::new();
        for i in 0..3 * CHUNK / 10 {
            let datum: Vec<u8> = (0..10).map(|j| (i + j).to_le_bytes()[0]).collect();
            kept.push((arena.copy(&datum), datum));
        }
        // Spans several chunks; every copy still holds exactly its bytes.
        for (copy, datum) in &kept {
            assert_eq!(copy.as_ref(), datum.as_slice());
        }
        let large = vec![9u8; MAX_CARVED + 1];
        assert_eq!(arena.copy(&large).as_ref(), large.as_slice());
        assert!(arena.copy(&[]).is_empty());
    }

    #[test]
    fn small_copies_share_a_chunk() {
        let arena = Arena::default();
        let a = arena.copy(&[1; 64]);
        let b = arena.copy(&[2; 64]);
        // Carved back to back from one allocation.
        assert_eq!(a.as_ptr().wrapping_add(64), b.as_ptr());
        let large = arena.copy(&[3; MAX_CARVED + 1]);
        let c = arena.copy(&[4; 64]);
        assert_eq!(b.as_ptr().wrapping_add(64), c.as_ptr());
        assert_ne!(c.as_ptr().wrapping_add(64), large.as_ptr());
    }

    #[test]
    fn a_chunk_holds_at_most_chunk_bytes() {
        let arena = Arena::default();
        let per_chunk = CHUNK / 64;
        let copies: Vec<Bytes> = (0..3 * per_chunk).map(|_| arena.copy(&[5; 64])).collect();
        // Back to back within a chunk; a full chunk is left for a new one
        // (never grown), so no datum keeps more than CHUNK bytes alive.
        for (i, pair) in copies.windows(2).enumerate() {
            let adjacent = pair[0].as_ptr().wrapping_add(64) == pair[1].as_ptr();
            assert_eq!(adjacent, (i + 1) % per_chunk != 0, "copy {i}");
        }
    }
}
