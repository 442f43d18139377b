//! The link framing: 4-byte big-endian length + payload, with a frame
//! limit and, until the peer is admitted, a node-wide byte budget.
//!
//! `LengthDelimitedCodec` reserves the announced length as soon as it has
//! read a frame's header. For a peer that is not admitted yet, those bytes
//! are first taken from the node's budget of unauthenticated bytes; a frame
//! that does not fit is refused before anything is reserved, so N hostile
//! connections announcing almost-complete large frames hold at most the
//! budget, not N × the frame limit.

use {
    super::throttle::IngressRate,
    bytes::{Buf, Bytes, BytesMut},
    std::sync::Arc,
    tokio::sync::{OwnedSemaphorePermit, Semaphore},
    tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec},
};

/// The byte budget shared by every unadmitted link of a node.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    permits: Arc<Semaphore>,
    capacity: usize,
    /// The read rate the same links share (`throttle.rs`).
    rate: Arc<IngressRate>,
}

impl ByteBudget {
    pub(crate) fn new(capacity: usize, rate: u64) -> Arc<Self> {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            rate: Arc::new(IngressRate::new(rate)),
        })
    }

    /// The read rate of the links drawing on this budget.
    pub(crate) fn rate(&self) -> Arc<IngressRate> {
        self.rate.clone()
    }

    /// Bytes currently held by frames in flight.
    pub(crate) fn in_use(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    fn take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(bytes).ok()?;
        let permit = self.permits.clone().try_acquire_many_owned(n).ok();
        self.report();
        permit
    }

    fn report(&self) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("mosaik.network.budget.unauthenticated.bytes").set(self.in_use() as f64);
    }
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
    held: Option<OwnedSemaphorePermit>,
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

    /// The peer is admitted: later frames no longer draw on the budget.
    pub(crate) fn admit(&mut self) {
        self.release();
        self.budget = None;
    }

    fn release(&mut self) {
        if let Some(permit) = self.held.take() {
            drop(permit);
            if let Some(budget) = &self.budget {
                budget.report();
            }
        }
    }
}

impl Drop for FrameCodec {
    fn drop(&mut self) {
        self.release();
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        if self.held.is_none()
            && src.len() >= 4
            && let Some(budget) = &self.budget
        {
            let announced = (&src[..4]).get_u32() as usize;
            // Above the limit: the inner codec refuses it without
            // reserving anything, so nothing is taken from the budget.
            if announced > 0 && announced <= self.inner.max_frame_length() {
                match budget.take(announced) {
                    Some(permit) => self.held = Some(permit),
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
    fn oversized_frames_are_refused_without_budget() {
        let budget = ByteBudget::new(100, 0);
        let mut a = FrameCodec::new(10, Some(budget.clone()));
        assert!(a.decode(&mut frame(4_000_000_000)).is_err());
        assert_eq!(budget.in_use(), 0);
    }
}
