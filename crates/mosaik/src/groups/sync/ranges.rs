//! Serving many ranges of one snapshot without walking it from the start
//! for each.
//!
//! A provider serves a snapshot in `fetch_batch_size` ranges. Reading each
//! with [`Snapshot::iter_range`] walks the structure from its first item
//! (an `imbl` map cannot seek), so serving all of a snapshot costs a walk
//! quadratic in its size: in B6 (100,000 items) the walk alone was 6 % of
//! all CPU during a catch-up. [`serve_in_order`] keeps a few open
//! iterators (cursors) over the snapshot and continues the one just before
//! each requested range, so ranges requested in increasing order (what one
//! joiner does, and several joiners each do) cost one pass per cursor.

use {
    super::{InvalidSnapshot, Snapshot},
    crate::primitives::Datum,
    bytes::Bytes,
    core::ops::Range,
};

/// Open cursors per served snapshot: one per joiner fetching it at once
/// is enough; a further one replaces the cursor furthest behind.
pub(crate) const MAX_CURSORS: usize = 4;

/// Ranges that start before this item are read afresh with
/// [`Snapshot::iter_range`], as `encode_items` does: the walk to them is
/// short, and a snapshot whose `iter_range` does work per range (a custom
/// one) sees exactly the ranges its peers fetch. Cursors serve the rest.
pub(crate) const CURSOR_FROM: u64 = 8_192;

/// One range to encode, and where its items go.
pub struct RangeRequest {
    /// Item indexes.
    pub range: Range<u64>,
    /// Stop after the item that reaches this many encoded bytes.
    pub max_bytes: usize,
    /// Called once with the encoded items (what
    /// [`super::StateSync::encode_items`] would return for the range).
    pub reply: Box<dyn FnOnce(Result<Vec<Bytes>, InvalidSnapshot>) + Send>,
}

impl core::fmt::Debug for RangeRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RangeRequest")
            .field("range", &self.range)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Answers `requests` from `snapshot`, continuing open cursors where the
/// requested range starts at or after one (see the module docs).
pub(crate) fn serve_in_order<S: Snapshot>(
    snapshot: &S,
    requests: &mut dyn Iterator<Item = RangeRequest>,
) {
    let len = snapshot.len();
    let mut cursors = Vec::new();
    for request in requests {
        let reply = read(
            snapshot,
            len,
            &mut cursors,
            request.range,
            request.max_bytes,
        );
        (request.reply)(reply);
    }
}

/// An open iterator over a snapshot and the index of its next item.
type Cursor<'a, T> = (u64, Box<dyn Iterator<Item = T> + 'a>);

/// One range, from the cursor nearest before it (or a new one).
fn read<'a, S: Snapshot>(
    snapshot: &'a S,
    len: u64,
    cursors: &mut Vec<Cursor<'a, S::Item>>,
    range: Range<u64>,
    max_bytes: usize,
) -> Result<Vec<Bytes>, InvalidSnapshot> {
    if range.end > len || range.start > range.end {
        return Err(InvalidSnapshot("range past the end".into()));
    }
    if range.start < CURSOR_FROM {
        let items = snapshot
            .iter_range(range)
            .ok_or_else(|| InvalidSnapshot("range past the end".into()))?;
        return encode(items, max_bytes);
    }
    let nearest = cursors
        .iter()
        .enumerate()
        .filter(|(_, (next, _))| *next <= range.start)
        .max_by_key(|(_, (next, _))| *next)
        .map(|(i, _)| i);
    let slot = if let Some(i) = nearest {
        i
    } else {
        let fresh: Box<dyn Iterator<Item = S::Item> + 'a> = Box::new(
            snapshot
                .iter_range(range.start..len)
                .ok_or_else(|| InvalidSnapshot("range past the end".into()))?,
        );
        if cursors.len() < MAX_CURSORS {
            cursors.push((range.start, fresh));
            cursors.len() - 1
        } else {
            let behind = cursors
                .iter()
                .enumerate()
                .min_by_key(|(_, (next, _))| *next)
                .map_or(0, |(i, _)| i);
            cursors[behind] = (range.start, fresh);
            behind
        }
    };
    let (next, items) = &mut cursors[slot];
    if *next < range.start {
        let gap = usize::try_from(range.start - *next)
            .map_err(|_| InvalidSnapshot("range past the end".into()))?;
        items.by_ref().take(gap).for_each(drop);
        *next = range.start;
    }
    let wanted = usize::try_from(range.end - range.start)
        .map_err(|_| InvalidSnapshot("range past the end".into()))?;
    match encode(items.by_ref().take(wanted), max_bytes) {
        Ok(out) => {
            *next += out.len() as u64;
            Ok(out)
        }
        Err(err) => {
            // Where it stopped is unknown: a later range opens a new one.
            drop(cursors.swap_remove(slot));
            Err(err)
        }
    }
}

/// Encodes `items`, stopping after the item that reaches `max_bytes`.
pub(crate) fn encode<T: Datum>(
    items: impl Iterator<Item = T>,
    max_bytes: usize,
) -> Result<Vec<Bytes>, InvalidSnapshot> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for item in items {
        let encoded = item
            .encode()
            .map_err(|e| InvalidSnapshot(format!("encoding an item: {e}")))?;
        bytes += encoded.len();
        out.push(encoded);
        if bytes >= max_bytes {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        core::sync::atomic::{AtomicU64, Ordering},
        std::sync::{Arc, Mutex},
    };

    /// Items 0..n; counts every item its iterators yield (walked).
    #[derive(Clone, Default)]
    struct Counted {
        items: Vec<u32>,
        walked: Arc<AtomicU64>,
    }

    impl Snapshot for Counted {
        type Item = u32;

        fn len(&self) -> u64 {
            self.items.len() as u64
        }

        fn iter_range(&self, range: Range<u64>) -> Option<impl Iterator<Item = u32> + '_> {
            // Walks from the start like an `imbl` map.
            let (start, end) = (
                usize::try_from(range.start).ok()?,
                usize::try_from(range.end).ok()?,
            );
            (start <= end && end <= self.items.len()).then(|| {
                self.items
                    .iter()
                    .inspect(|_| {
                        self.walked.fetch_add(1, Ordering::Relaxed);
                    })
                    .skip(start)
                    .take(end - start)
                    .copied()
            })
        }

        fn append(&mut self, items: impl IntoIterator<Item = u32>) {
            self.items.extend(items);
        }
    }

    fn snapshot(n: u32) -> Counted {
        Counted {
            items: (0..n).collect(),
            walked: Arc::default(),
        }
    }

    /// What `SnapshotSync::encode_items` answers for the range.
    fn expected(s: &Counted, range: Range<u64>, max_bytes: usize) -> Option<Vec<Bytes>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in s.iter_range(range)? {
            let encoded = item.encode().unwrap();
            bytes += encoded.len();
            out.push(encoded);
            if bytes >= max_bytes {
                break;
            }
        }
        Some(out)
    }

    fn serve(s: &Counted, ranges: &[(Range<u64>, usize)]) -> Vec<Option<Vec<Bytes>>> {
        let replies = Arc::new(Mutex::new(Vec::new()));
        let mut requests = ranges.iter().cloned().map(|(range, max_bytes)| {
            let replies = replies.clone();
            RangeRequest {
                range,
                max_bytes,
                reply: Box::new(move |r| replies.lock().unwrap().push(r.ok())),
            }
        });
        serve_in_order(s, &mut requests);
        Arc::try_unwrap(replies).unwrap().into_inner().unwrap()
    }

    #[test]
    fn every_reply_is_what_encode_items_gives_whatever_the_order() {
        let s = snapshot(10_000);
        let c = CURSOR_FROM;
        let mut ranges = vec![
            (0..10, usize::MAX), // read afresh
            (c..c + 10, usize::MAX),
            (c + 10..c + 20, usize::MAX),
            (c + 40..c + 60, usize::MAX), // a gap
            (c + 5..c + 15, usize::MAX),  // backwards: a second cursor
            (c + 60..c + 80, 3),          // stops at the byte budget
            (c + 62..c + 70, 1),          // at least one item
            (c + 80..c + 80, usize::MAX), // empty
            (9_990..10_001, usize::MAX),  // past the end
            (c - 5..c + 5, usize::MAX),   // across the line
        ];
        ranges.push((
            Range {
                start: c + 30,
                end: c + 20,
            },
            usize::MAX,
        )); // inverted
        // More interleaved readers than cursors.
        for i in 0..10u64 {
            for reader in 0..(MAX_CURSORS as u64 + 2) {
                let start = c + 100 + reader * 60 + i * 5;
                ranges.push((start..start + 5, usize::MAX));
            }
        }
        let replies = serve(&s, &ranges);
        for ((range, max), reply) in ranges.iter().zip(&replies) {
            assert_eq!(
                reply,
                &expected(&s, range.clone(), *max),
                "range {range:?} budget {max}"
            );
        }
    }

    #[test]
    fn ranges_in_order_walk_the_snapshot_once() {
        let n = CURSOR_FROM + 10_000;
        let s = snapshot(u32::try_from(n).unwrap());
        let ranges: Vec<_> = (0..100u64)
            .map(|i| {
                let start = CURSOR_FROM + i * 100;
                (start..start + 100, usize::MAX)
            })
            .collect();
        let replies = serve(&s, &ranges);
        assert!(
            replies
                .iter()
                .all(|r| r.as_ref().is_some_and(|v| v.len() == 100))
        );
        // One walk from the start; read afresh, each of the 100 ranges
        // would walk from the start again (about 1.3 million items).
        assert_eq!(s.walked.load(Ordering::Relaxed), n);
    }
}
