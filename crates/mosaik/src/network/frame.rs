//! The link framing: 4-byte big-endian length + payload, with a frame
//! limit and, until the peer is admitted, a node-wide byte budget.
//!
//! `LengthDelimitedCodec` reserves the announced length as soon as it has
//! read a frame's header. For a peer that is not admitted yet, those bytes
//! are first taken from the node's budget of unauthenticated bytes; a frame
//! that does not fit is refused before anything is reserved, so N hostile
//! connections announcing almost-complete large frames hold at most the
//! budget, not N × the frame limit.
//!
//! The last quarter of the budget is kept for small frames (at most
//! [`SMALL_FRAME`] bytes: every handshake, a small network's catalog
//! snapshot). A flood of large frames can fill the rest but never that
//! quarter, so an honest newcomer's handshake still fits while the flood
//! lasts (it was refused and retried for 2 s before). Small frames cannot
//! fill the reserve either: with the default caps, every unknown connection
//! of every protocol holding one almost-complete small frame is
//! `32 × 64 KiB` per protocol, far below the 16 MiB reserve.

use {
    super::throttle::IngressRate,
    bytes::{Bytes, BytesMut},
    std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec},
};

/// Frames of at most this many bytes may use the budget's reserve.
pub(crate) const SMALL_FRAME: usize = 64 * 1024;

/// The byte budget shared by every unadmitted link of a node.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: AtomicUsize,
    capacity: usize,
    /// Bytes only small frames may take (a quarter of the capacity).
    reserve: usize,
    /// The read rate the same links share (`throttle.rs`).
    rate: Arc<IngressRate>,
}

impl ByteBudget {
    pub(crate) fn new(capacity: usize, rate: u64) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            capacity,
            reserve: capacity / 4,
            rate: Arc::new(IngressRate::new(rate)),
        })
    }

    /// The read rate of the links drawing on this budget.
    pub(crate) fn rate(&self) -> Arc<IngressRate> {
        self.rate.clone()
    }

    /// Bytes currently held by frames in flight.
    pub(crate) fn in_use(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Takes `bytes` for one frame, or `None` if they do not fit (a large
    /// frame must leave the reserve free).
    fn take(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        let keep = if bytes <= SMALL_FRAME {
            0
        } else {
            self.reserve
        };
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let after = used.checked_add(bytes)?;
                (after.checked_add(keep)? <= self.capacity).then_some(after)
            })
            .is_ok();
        self.report();
        taken.then(|| Held {
            budget: self.clone(),
            bytes,
        })
    }

    fn report(&self) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("mosaik.network.budget.unauthenticated.bytes").set(self.in_use() as f64);
    }
}

/// Budget held by one frame in flight; given back when dropped.
#[derive(Debug)]
struct Held {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
        self.budget.report();
    }
}

/// The payload length announced by the frame `buf` starts with, once its
/// 4-byte big-endian header is there.
pub(crate) fn announced_len(buf: &[u8]) -> Option<usize> {
    let head: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(head) as usize)
}

/// A frame would exceed the node's budget of unauthenticated bytes.
#[derive(Debug, thiserror::Error)]
#[error("frame of {0} bytes exceeds the budget of unauthenticated bytes")]
pub(crate) struct OverBudget(pub(crate) usize);

/// Length-delimited frames with an adjustable limit and an optional budget.
#[derive(Debug)]
pub(crate) struct FrameCodec {
    inner: LengthDelimitedCodec,
    budget: Option<Arc<ByteBudget>>,
    /// Budget held by the frame being received (released once it is
    /// complete and handed out).
    held: Option<Held>,
}

impl FrameCodec {
    pub(crate) fn new(max_frame_size: usize, budget: Option<Arc<ByteBudget>>) -> Self {
        let inner = LengthDelimitedCodec::builder()
            .length_field_length(4)
            .big_endian()
            .max_frame_length(max_frame_size)
            .new_codec();
        Self {
            inner,
            budget,
            held: None,
        }
    }

    pub(crate) fn max_frame_size(&self) -> usize {
        self.inner.max_frame_length()
    }

    pub(crate) fn set_max_frame_size(&mut self, bytes: usize) {
        self.inner.set_max_frame_length(bytes);
    }

    /// Whether frames no longer draw on a budget (the peer was admitted,
    /// or this side opened the link).
    pub(crate) fn is_admitted(&self) -> bool {
        self.budget.is_none() && self.held.is_none()
    }

    /// The peer is admitted: later frames no longer draw on the budget.
    pub(crate) fn admit(&mut self) {
        self.release();
        self.budget = None;
    }

    fn release(&mut self) {
        self.held = None;
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        if self.held.is_none()
            && let Some(budget) = &self.budget
            && let Some(announced) = announced_len(src)
        {
            // Above the limit: the inner codec refuses it without
            // reserving anything, so nothing is taken from the budget.
            if announced > 0 && announced <= self.inner.max_frame_length() {
                match budget.take(announced) {
                    Some(held) => self.held = Some(held),
                    None => {
                        return Err(std::io::Error::other(OverBudget(announced)));
                    }
                }
            }
        }
        let frame = self.inner.decode(src)?;
        if frame.is_some() {
            self.release();
        }
        Ok(frame)
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        self.inner.encode(item, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> BytesMut {
        let mut b = BytesMut::new();
        b.extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        b
    }

    #[test]
    fn partial_frames_hold_budget_until_complete() {
        let budget = ByteBudget::new(100, 0);
        let mut a = FrameCodec::new(1000, Some(budget.clone()));
        let mut b = FrameCodec::new(1000, Some(budget.clone()));
        let mut src_a = frame(60);
        assert!(a.decode(&mut src_a).unwrap().is_none());
        assert_eq!(budget.in_use(), 60);
        // A second connection's frame does not fit into what is left.
        let err = b.decode(&mut frame(50)).unwrap_err();
        let inner = err.into_inner().expect("custom error");
        assert!(inner.is::<OverBudget>());
        src_a.extend_from_slice(&[7; 60]);
        assert_eq!(a.decode(&mut src_a).unwrap().unwrap().len(), 60);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn dropped_links_and_admission_release_budget() {
        let budget = ByteBudget::new(100, 0);
        let mut a = FrameCodec::new(1000, Some(budget.clone()));
        assert!(a.decode(&mut frame(80)).unwrap().is_none());
        assert_eq!(budget.in_use(), 80);
        drop(a);
        assert_eq!(budget.in_use(), 0);
        let mut b = FrameCodec::new(1000, Some(budget.clone()));
        assert!(b.decode(&mut frame(80)).unwrap().is_none());
        b.admit();
        assert_eq!(budget.in_use(), 0);
        // Admitted: large frames no longer draw on the budget.
        let mut c = FrameCodec::new(1000, Some(budget.clone()));
        c.admit();
        assert!(c.decode(&mut frame(500)).unwrap().is_none());
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn large_frames_leave_the_reserve_to_small_ones() {
        // 1 MiB budget: 256 KiB reserved for frames of at most 64 KiB.
        let budget = ByteBudget::new(1 << 20, 0);
        let large = 300 * 1024;
        let mut flood: Vec<FrameCodec> = Vec::new();
        loop {
            let mut link = FrameCodec::new(1 << 20, Some(budget.clone()));
            if link.decode(&mut frame(large)).is_err() {
                break;
            }
            flood.push(link);
        }
        // Two large frames fit (600 KiB); a third would eat the reserve.
        assert_eq!(flood.len(), 2);
        assert_eq!(budget.in_use(), 2 * large);
        // A handshake-sized frame still fits, several times over.
        let mut honest: Vec<FrameCodec> = Vec::new();
        for _ in 0..6 {
            let mut link = FrameCodec::new(1 << 20, Some(budget.clone()));
            assert!(link.decode(&mut frame(SMALL_FRAME)).unwrap().is_none());
            honest.push(link);
        }
        assert_eq!(budget.in_use(), 2 * large + 6 * SMALL_FRAME);
        // Until the whole budget is spent.
        let mut link = FrameCodec::new(1 << 20, Some(budget.clone()));
        assert!(link.decode(&mut frame(SMALL_FRAME)).is_err());
        drop((flood, honest));
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn oversized_frames_are_refused_without_budget() {
        let budget = ByteBudget::new(100, 0);
        let mut a = FrameCodec::new(10, Some(budget.clone()));
        assert!(a.decode(&mut frame(4_000_000_000)).is_err());
        assert_eq!(budget.in_use(), 0);
    }
}
