//! The on-disk framing: segment headers and records.
//!
//! A segment is a 32-byte header followed by records, each aligned to 8 bytes:
//!
//! ```text
//! header: magic "MOSAIKWL" | version u32 | 0u32 | seq u64 | crc u32 | 0u32
//! record: len u32 | kind u8 | 0u8 ×3 | crc u32 | payload (len bytes) | zero padding to 8
//! ```
//!
//! All integers are little-endian. A record's CRC-32C covers the segment's
//! sequence number, the record's file offset, its first 8 bytes and the
//! payload with its padding. Mixing in the position means a record copied
//! elsewhere (a stale sector, a log stored inside an entry) never passes as a
//! record there, which makes "is there a valid record after this bad one?"
//! during recovery a trustworthy question.

use crc::{CRC_32_ISCSI, Crc, Table};

/// CRC-32C, slice-by-16: recovery checksums every byte of the log, and the
/// one-byte table is several times slower.
static CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// Segment header size.
pub(crate) const HEADER_LEN: usize = 32;
/// Record header size (`len`, `kind`, reserved, `crc`).
pub(crate) const FRAME_HEADER: usize = 12;
/// Records start at multiples of this (recovery scans only these offsets).
pub(crate) const ALIGN: usize = 8;
/// The largest payload one record may carry.
pub(crate) const MAX_PAYLOAD: usize = (u32::MAX as usize) - 64;

const MAGIC: [u8; 8] = *b"MOSAIKWL";
const VERSION: u32 = 1;

/// A record's type tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// First record of every segment: the state before it.
    Checkpoint = 1,
    /// A run of consecutive entries.
    Entries = 2,
    /// Drop entries from an index on.
    Truncate = 3,
    /// The newest hard state.
    HardState = 4,
    /// Drop entries up to an index; the base moves there.
    Prune = 5,
    /// Drop every entry; the log restarts after an index.
    Reset = 6,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Checkpoint,
            2 => Self::Entries,
            3 => Self::Truncate,
            4 => Self::HardState,
            5 => Self::Prune,
            6 => Self::Reset,
            _ => return None,
        })
    }
}

/// A decoded record; byte slices borrow the segment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// State at the start of a segment, so older segments can be deleted:
    /// the base, the index the segment's first entry will have, the hard state.
    Checkpoint {
        base: u64,
        base_meta: &'a [u8],
        next: u64,
        hard_state: Option<&'a [u8]>,
    },
    /// `count` entries from index `first`; `body` is `(len u32 | bytes)*`
    /// and starts at byte `body_offset` of the file.
    Entries {
        first: u64,
        count: u32,
        body: &'a [u8],
        body_offset: u64,
    },
    /// Entries at `from` and after are dropped.
    Truncate { from: u64 },
    /// The hard state.
    HardState(&'a [u8]),
    /// Entries up to `index` are dropped; the base becomes `(index, meta)`.
    Prune { index: u64, base_meta: &'a [u8] },
    /// Every entry is dropped; the base becomes `(index, meta)`.
    Reset { index: u64, base_meta: &'a [u8] },
}

/// Rounds `n` up to the record alignment.
pub(crate) const fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// The segment header for sequence number `seq`.
pub(crate) fn segment_header(seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    let crc = CRC32C.checksum(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header against the sequence number from the file name.
pub(crate) fn check_header(bytes: &[u8], seq: u64) -> Result<(), &'static str> {
    let h = bytes.get(..HEADER_LEN).ok_or("incomplete segment header")?;
    if h[..8] != MAGIC {
        return Err("not a segment (bad magic)");
    }
    if CRC32C.checksum(&h[..24]).to_le_bytes() != h[24..28] {
        return Err("segment header checksum mismatch");
    }
    if h[8..12] != VERSION.to_le_bytes() {
        return Err("unsupported segment version");
    }
    if h[16..24] != seq.to_le_bytes() {
        return Err("segment header names another sequence number");
    }
    Ok(())
}

fn frame_crc(seq: u64, offset: u64, head: &[u8], rest: &[u8]) -> u32 {
    let mut digest = CRC32C.digest();
    digest.update(&seq.to_le_bytes());
    digest.update(&offset.to_le_bytes());
    digest.update(head);
    digest.update(rest);
    digest.finalize()
}

/// Appends one framed record to `out`; `offset` is where `out`'s end lies in
/// segment `seq`. `body` writes the payload (at most [`MAX_PAYLOAD`] bytes —
/// callers check sizes before encoding).
pub(crate) fn write_frame(
    out: &mut Vec<u8>,
    seq: u64,
    offset: u64,
    kind: Kind,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    body(out);
    let len = u32::try_from(out.len() - start - FRAME_HEADER)
        .expect("payload size checked by the caller");
    out.resize(start + align(out.len() - start), 0);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4] = kind as u8;
    let crc = frame_crc(
        seq,
        offset,
        &out[start..start + 8],
        &out[start + FRAME_HEADER..],
    );
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// A record whose framing and checksum are valid (its payload not yet decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) kind: Kind,
    pub(crate) payload: &'a [u8],
    /// File offset of the payload's first byte.
    pub(crate) payload_offset: u64,
    /// Total length including header and padding.
    pub(crate) len: usize,
}

impl<'a> Frame<'a> {
    /// Decodes the payload; `None` when it does not match its kind's layout.
    /// The checksum already passed, so that is damage or a bug, never a torn write.
    pub(crate) fn decode(&self) -> Option<Record<'a>> {
        decode(self.kind, self.payload, self.payload_offset)
    }
}

/// Reads the frame at `offset` of segment `seq`'s bytes `buf`, or says why
/// there is no valid record there.
pub(crate) fn read_frame(buf: &[u8], seq: u64, offset: usize) -> Result<Frame<'_>, &'static str> {
    let head = buf
        .get(offset..offset + FRAME_HEADER)
        .ok_or("incomplete record header")?;
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let kind = Kind::from_byte(head[4]).ok_or("unknown record kind")?;
    if head[5..8] != [0, 0, 0] {
        return Err("bad record header");
    }
    let total = align(FRAME_HEADER + len);
    let frame = buf
        .get(offset..offset + total)
        .ok_or("record runs past the end of the file")?;
    let crc = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if frame_crc(seq, offset as u64, &frame[..8], &frame[FRAME_HEADER..]) != crc {
        return Err("checksum mismatch");
    }
    Ok(Frame {
        kind,
        payload: &frame[FRAME_HEADER..FRAME_HEADER + len],
        payload_offset: (offset + FRAME_HEADER) as u64,
        len: total,
    })
}

/// A little-endian reader over a payload; `None` when it runs short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.0)
    }
    fn done(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

fn decode(kind: Kind, payload: &[u8], payload_offset: u64) -> Option<Record<'_>> {
    let mut r = Reader(payload);
    let record = match kind {
        Kind::Checkpoint => {
            let base = r.u64()?;
            let next = r.u64()?;
            let hard_state = match r.u8()? {
                0 => None,
                1 => Some(r.bytes()?),
                _ => return None,
            };
            let base_meta = r.bytes()?;
            Record::Checkpoint {
                base,
                base_meta,
                next,
                hard_state,
            }
        }
        Kind::Entries => {
            let first = r.u64()?;
            let count = r.u32()?;
            let body = r.rest();
            // Validate the framing now so replay can walk it without checks.
            let mut walk = Reader(body);
            for _ in 0..count {
                walk.bytes()?;
            }
            walk.done()?;
            Record::Entries {
                first,
                count,
                body,
                body_offset: payload_offset + 12,
            }
        }
        Kind::Truncate => Record::Truncate { from: r.u64()? },
        Kind::HardState => Record::HardState(r.rest()),
        Kind::Prune => Record::Prune {
            index: r.u64()?,
            base_meta: r.rest(),
        },
        Kind::Reset => Record::Reset {
            index: r.u64()?,
            base_meta: r.rest(),
        },
    };
    r.done()?;
    Some(record)
}

/// Walks an [`Record::Entries`] body: `(file offset, len)` of each entry.
pub(crate) fn entry_spans(body: &[u8], body_offset: u64) -> impl Iterator<Item = (u64, u32)> + '_ {
    let mut at = 0usize;
    core::iter::from_fn(move || {
        let len_bytes = body.get(at..at + 4)?;
        let len = u32::from_le_bytes(len_bytes.try_into().expect("4 bytes"));
        let span = (body_offset + at as u64 + 4, len);
        at += 4 + len as usize;
        Some(span)
    })
}

/// Payload writers, one per record kind.
pub(crate) mod payload {
    /// Appends `bytes` with a `u32` length prefix.
    pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("size checked by the caller");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(bytes);
    }

    /// A checkpoint payload.
    pub(crate) fn checkpoint(
        out: &mut Vec<u8>,
        base: u64,
        base_meta: &[u8],
        next: u64,
        hard_state: Option<&[u8]>,
    ) {
        out.extend_from_slice(&base.to_le_bytes());
        out.extend_from_slice(&next.to_le_bytes());
        match hard_state {
            None => out.push(0),
            Some(state) => {
                out.push(1);
                put_bytes(out, state);
            }
        }
        put_bytes(out, base_meta);
    }

    /// The fixed part of an entries payload; entries follow via [`put_bytes`].
    pub(crate) fn entries_head(out: &mut Vec<u8>, first: u64, count: u32) {
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }

    /// An index followed by opaque bytes (truncate, prune, reset).
    pub(crate) fn index_and(out: &mut Vec<u8>, index: u64, rest: &[u8]) {
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bind_their_position() {
        let mut out = vec![0u8; HEADER_LEN];
        write_frame(&mut out, 7, HEADER_LEN as u64, Kind::Prune, |o| {
            payload::index_and(o, 42, b"meta");
        });
        assert_eq!(out.len() % ALIGN, 0);
        let frame = read_frame(&out, 7, HEADER_LEN).unwrap();
        assert_eq!(frame.len, out.len() - HEADER_LEN);
        assert_eq!(
            frame.decode(),
            Some(Record::Prune {
                index: 42,
                base_meta: b"meta"
            })
        );
        // The same bytes in another segment or at another offset do not pass.
        assert_eq!(read_frame(&out, 8, HEADER_LEN), Err("checksum mismatch"));
        let mut moved = vec![0u8; HEADER_LEN + ALIGN];
        moved.extend_from_slice(&out[HEADER_LEN..]);
        assert_eq!(
            read_frame(&moved, 7, HEADER_LEN + ALIGN),
            Err("checksum mismatch")
        );
    }

    #[test]
    fn entries_spans_point_at_the_entry_bytes() {
        let mut out = Vec::new();
        write_frame(&mut out, 1, 0, Kind::Entries, |o| {
            payload::entries_head(o, 5, 2);
            payload::put_bytes(o, b"abc");
            payload::put_bytes(o, b"");
        });
        let Some(Record::Entries {
            first,
            count,
            body,
            body_offset,
        }) = read_frame(&out, 1, 0).unwrap().decode()
        else {
            panic!("not entries");
        };
        assert_eq!((first, count), (5, 2));
        let spans: Vec<_> = entry_spans(body, body_offset).collect();
        let start = usize::try_from(spans[0].0).unwrap();
        assert_eq!(&out[start..start + 3], b"abc");
        assert_eq!(spans[1].1, 0);
    }

    #[test]
    fn headers_check_magic_crc_and_sequence() {
        let h = segment_header(3);
        assert_eq!(check_header(&h, 3), Ok(()));
        assert!(check_header(&h, 4).is_err());
        assert!(check_header(&h[..10], 3).is_err());
        let mut bad = h;
        bad[17] ^= 1;
        assert_eq!(
            check_header(&bad, 3),
            Err("segment header checksum mismatch")
        );
    }
}
