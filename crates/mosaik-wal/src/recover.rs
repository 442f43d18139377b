//! Recovery: replaying segments into a [`LogState`], and what it reports
//! ([`Recovered`]).
//!
//! Rules (the reasons are in the crate docs):
//! - segments are replayed in sequence order from the one after the last
//!   gap (older ones were being deleted when the process stopped);
//! - every segment starts with a header and a checkpoint record; a later
//!   segment's checkpoint must agree with the state replay reached;
//! - zeros after a segment's last record (filled ahead by the writer) are
//!   its clean end, in any segment;
//! - a bad record at the end of the **last** segment with no valid record
//!   after it is a torn write: the file is cut back to the last valid record;
//! - any other bad record — in an earlier segment, or followed by a valid
//!   record — is [`WalError::Corrupt`];
//! - entries must continue the log exactly; operations must stay inside it;
//!   after replay every entry after the base must be present.

use {
    crate::{
        error::{IoContext, WalError},
        record::{self, ALIGN, HEADER_LEN, Record},
        segment::Segment,
        snapshot::SnapshotInfo,
        state::{Loc, LogState},
    },
    std::{
        collections::VecDeque,
        fs::{self, File, OpenOptions},
        io::Read,
        path::{Path, PathBuf},
    },
};

/// What [`Wal::open`](crate::Wal::open) found on disk.
///
/// The entries themselves stay on disk; read them with
/// [`Wal::entries`](crate::Wal::entries)`(base_index + 1..=last_index)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The newest hard state written, if any ever was.
    pub hard_state: Option<Vec<u8>>,
    /// The stored snapshot's index and metadata (load its data with
    /// [`Wal::load_snapshot`](crate::Wal::load_snapshot)).
    pub snapshot: Option<SnapshotInfo>,
    /// The index before the first entry: 0 for a log never pruned or reset.
    pub base_index: u64,
    /// The metadata given with the base (empty for base 0).
    pub base_meta: Vec<u8>,
    /// The last entry's index (`base_index` when the log is empty).
    pub last_index: u64,
    /// A torn write that was cut off the end of the log, if any.
    pub torn_tail: Option<TornTail>,
}

/// A torn record removed from the end of the last segment during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub file: PathBuf,
    /// Where the file now ends (the first byte that did not form a valid record).
    pub offset: u64,
    /// How many bytes were cut.
    pub dropped_bytes: u64,
    /// Why the bytes at `offset` were not a record.
    pub reason: &'static str,
}

/// The replayed log: state, open segments (the last one writable), torn tail.
pub(crate) struct Replayed {
    pub(crate) state: LogState,
    pub(crate) segments: VecDeque<Segment>,
    pub(crate) torn_tail: Option<TornTail>,
}

/// One replayed segment: where its valid records end, how many follow the
/// checkpoint, and the torn tail to cut (if any).
struct Outcome {
    seq: u64,
    valid_len: u64,
    /// The file's size once a torn tail is cut (zeros written ahead follow
    /// `valid_len` otherwise).
    size: u64,
    records: u64,
    torn: Option<TornTail>,
}

/// Replays the segments in `dir`; `None` when there are none (a new log).
/// `snapshot` is the stored snapshot's index: a base above it is damage.
/// The files are changed (torn tails cut, leftovers removed) only after every
/// check passed, so a refused log is left exactly as it was found.
pub(crate) fn replay(
    dir: &Path,
    snapshot: Option<u64>,
    fill: (u64, u64),
) -> Result<Option<Replayed>, WalError> {
    let seqs = list_segments(dir)?;
    // Segments are deleted oldest first, but the deletions may reach the disk
    // in any order: anything before a gap is a leftover. If it was not, the
    // hole check below refuses the log.
    let start = seqs
        .windows(2)
        .rposition(|w| w[1] != w[0] + 1)
        .map_or(0, |i| i + 1);
    let (stale, run) = seqs.split_at(start);
    let Some(&last_seq) = run.last() else {
        return Ok(None);
    };
    let mut state: Option<LogState> = None;
    let mut outcomes = Vec::with_capacity(run.len());
    let mut buf = Vec::new();
    for &seq in run {
        outcomes.push(replay_segment(
            dir,
            seq,
            seq == last_seq,
            &mut buf,
            &mut state,
        )?);
    }
    let torn_tail = outcomes.last().and_then(|o| o.torn.clone());
    let mut headless = None;
    if outcomes.last().is_some_and(|o| o.records == 0) {
        // Not even the checkpoint survived: the segment was created and
        // never synced (rotation syncs its predecessor first, so it is not
        // the only one — unless the log's very first `open` never returned).
        let torn = outcomes
            .pop()
            .and_then(|o| o.torn)
            .expect("a segment without checkpoint is torn");
        if outcomes.is_empty() && last_seq != 1 {
            return Err(WalError::corrupt(
                torn.file,
                torn.offset,
                "the only segment has no checkpoint",
            ));
        }
        headless = Some(torn);
    }
    let Some(state) = state else {
        if let Some(torn) = headless {
            remove_headless(&torn)?;
        }
        return Ok(None);
    };
    let first_path = dir.join(Segment::file_name(outcomes[0].seq));
    if state.has_hole() {
        return Err(WalError::corrupt(
            first_path,
            HEADER_LEN as u64,
            format!(
                "entries {}..={} are missing (a segment holding them was deleted)",
                state.base + 1,
                state.first() - 1
            ),
        ));
    }
    if state.base > 0 && snapshot.is_none_or(|at| at < state.base) {
        return Err(WalError::corrupt(
            dir.join("snapshot"),
            0,
            format!("no snapshot covers the log's base {}", state.base),
        ));
    }
    if let Some(torn) = &headless {
        remove_headless(torn)?;
    } else if let Some(torn) = outcomes.last().and_then(|o| o.torn.as_ref()) {
        warn_torn(torn);
        let file = OpenOptions::new()
            .write(true)
            .open(&torn.file)
            .ctx("open", &torn.file)?;
        file.set_len(torn.offset).ctx("truncate", &torn.file)?;
        file.sync_all().ctx("fsync", &torn.file)?;
    }
    for &seq in stale {
        let path = dir.join(Segment::file_name(seq));
        tracing::warn!(file = %path.display(), "wal: removing a segment left over from reclaiming space");
        fs::remove_file(&path).ctx("remove", &path)?;
    }
    let last_kept = outcomes.last().map(|o| o.seq);
    let segments = outcomes
        .into_iter()
        .map(|o| {
            let path = dir.join(Segment::file_name(o.seq));
            Segment::open(
                path,
                o.seq,
                (o.valid_len, o.size),
                o.records - 1,
                Some(o.seq) == last_kept,
                fill,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Replayed {
        state,
        segments,
        torn_tail,
    }))
}

/// Sequence numbers of the segment files in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir).ctx("read directory", dir)? {
        let entry = entry.ctx("read directory", dir)?;
        if let Some(seq) = entry.file_name().to_str().and_then(Segment::parse_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Reads segment `seq` into `buf` and applies its records to `state`.
fn replay_segment(
    dir: &Path,
    seq: u64,
    is_last: bool,
    buf: &mut Vec<u8>,
    state: &mut Option<LogState>,
) -> Result<Outcome, WalError> {
    let path = dir.join(Segment::file_name(seq));
    buf.clear();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(buf))
        .ctx("read", &path)?;
    let mut records = 0u64;
    let (valid_len, mut torn) = scan(&path, seq, buf, is_last, |offset, record| {
        records += 1;
        apply(state, seq, record, records == 1)
            .map_err(|reason| WalError::corrupt(&path, offset, reason))
    })?;
    let mut valid_len = valid_len;
    if records == 0 && torn.is_none() {
        // A bare header: the checkpoint written with it did not make it.
        let reason = "segment ends before its checkpoint";
        if !is_last {
            return Err(WalError::corrupt(&path, HEADER_LEN as u64, reason));
        }
        valid_len = HEADER_LEN.min(buf.len()) as u64;
        torn = Some(reason);
    }
    let size = buf.len() as u64;
    Ok(Outcome {
        seq,
        valid_len,
        // A torn tail is cut off: the file then ends at the valid bytes.
        size: if torn.is_some() { valid_len } else { size },
        records,
        torn: torn.map(|reason| TornTail {
            file: path.clone(),
            offset: valid_len,
            dropped_bytes: size - valid_len,
            reason,
        }),
    })
}

/// Removes a last segment that lost even its checkpoint.
fn remove_headless(torn: &TornTail) -> Result<(), WalError> {
    warn_torn(torn);
    fs::remove_file(&torn.file).ctx("remove", &torn.file)
}

fn warn_torn(torn: &TornTail) {
    tracing::warn!(
        file = %torn.file.display(),
        offset = torn.offset,
        dropped = torn.dropped_bytes,
        reason = torn.reason,
        "wal: cutting a torn write off the end of the log"
    );
}

/// Walks the records of one segment; returns where its valid records end
/// and, when the bytes after them are neither nothing nor zeros written
/// ahead, why they are a torn tail.
fn scan<'a>(
    path: &Path,
    seq: u64,
    buf: &'a [u8],
    is_last: bool,
    mut visit: impl FnMut(u64, Record<'a>) -> Result<(), WalError>,
) -> Result<(u64, Option<&'static str>), WalError> {
    if let Err(reason) = record::check_header(buf, seq) {
        let torn = torn_or_corrupt(path, seq, buf, 0, reason, is_last)?;
        return Ok((0, Some(torn)));
    }
    let mut at = HEADER_LEN;
    while at < buf.len() {
        match record::read_frame(buf, seq, at) {
            Ok(frame) => {
                let record = frame.decode().ok_or_else(|| {
                    WalError::corrupt(path, at as u64, "malformed record payload")
                })?;
                visit(at as u64, record)?;
                at += frame.len;
            }
            // No record starts with zeros (its kind is never 0): what the
            // writer filled ahead, in any segment.
            Err(_) if buf[at..].iter().all(|&b| b == 0) => return Ok((at as u64, None)),
            Err(reason) => {
                let torn = torn_or_corrupt(path, seq, buf, at, reason, is_last)?;
                return Ok((at as u64, Some(torn)));
            }
        }
    }
    Ok((buf.len() as u64, None))
}

/// Decides about a bad record at `at`: torn if it is in the last segment and
/// no valid record follows it (a torn write leaves a prefix of what was
/// written plus garbage, never a valid record after the garbage; the CRC
/// binds records to their offset, so none can appear by accident).
fn torn_or_corrupt(
    path: &Path,
    seq: u64,
    buf: &[u8],
    at: usize,
    reason: &'static str,
    is_last: bool,
) -> Result<&'static str, WalError> {
    if !is_last {
        return Err(WalError::corrupt(
            path,
            at as u64,
            format!("{reason} (not in the last segment)"),
        ));
    }
    let mut probe = record::align(at + 1).max(HEADER_LEN);
    while probe < buf.len() {
        if record::read_frame(buf, seq, probe).is_ok() {
            return Err(WalError::corrupt(
                path,
                at as u64,
                format!("{reason}, but a valid record follows at offset {probe}"),
            ));
        }
        probe += ALIGN;
    }
    Ok(reason)
}

/// Applies one replayed record; `segment_start` is true for a segment's
/// first record.
fn apply(
    state: &mut Option<LogState>,
    seg: u64,
    record: Record<'_>,
    segment_start: bool,
) -> Result<(), String> {
    if let Record::Checkpoint {
        base,
        base_meta,
        next,
        hard_state,
    } = record
    {
        if !segment_start {
            return Err("checkpoint in the middle of a segment".into());
        }
        if next <= base || next == u64::MAX {
            return Err(format!(
                "checkpoint says the log after base {base} starts at {next}"
            ));
        }
        let Some(state) = state else {
            *state = Some(LogState::from_checkpoint(base, base_meta, next, hard_state));
            return Ok(());
        };
        if (
            state.base,
            state.base_meta.as_slice(),
            state.last() + 1,
            state.hard_state.as_deref(),
        ) != (base, base_meta, next, hard_state)
        {
            return Err("checkpoint disagrees with the segments before it".into());
        }
        return Ok(());
    }
    let Some(state) = state.as_mut().filter(|_| !segment_start) else {
        return Err("segment does not start with a checkpoint".into());
    };
    match record {
        Record::Checkpoint { .. } => unreachable!("handled above"),
        Record::Entries {
            first,
            count,
            body,
            body_offset,
        } => {
            if first != state.last() + 1 || first.checked_add(u64::from(count)).is_none() {
                return Err(format!(
                    "entries start at {first}, the log ends at {}",
                    state.last()
                ));
            }
            for (offset, len) in record::entry_spans(body, body_offset) {
                state.push(Loc { seg, offset, len });
            }
        }
        Record::Truncate { from } => state
            .truncate_from(from)
            .map_err(|e| format!("{e}: truncate from {from}"))?,
        Record::HardState(bytes) => state.hard_state = Some(bytes.to_vec()),
        Record::Prune { index, base_meta } => state
            .prune_to(index, base_meta)
            .map_err(|e| format!("{e}: prune to {index}"))?,
        Record::Reset { index, base_meta } => {
            if index == u64::MAX {
                return Err("reset to the largest index".into());
            }
            state.reset_to(index, base_meta);
        }
    }
    Ok(())
}
