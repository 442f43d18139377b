//! `LinkReceiver<P>`: the receiving half of a [`Link`](super::Link):
//! frames through the codec (limit, budget of unauthenticated bytes), and
//! the complete frames already read, in place.

use {
    super::{
        RecvError,
        close::{Cancelled, ConnectionLimit, ProtocolViolation, UnexpectedClose},
        frame::{FrameCodec, OverBudget, announced_len},
        link::{Protocol, close_with},
        link_error::close_of,
        throttle::Throttled,
    },
    crate::primitives::{Datum, gate::Stop},
    bytes::{Buf, BytesMut},
    core::marker::PhantomData,
    futures::{FutureExt, StreamExt},
    iroh::{
        EndpointId,
        endpoint::{Connection, ConnectionError, RecvStream},
    },
    tokio_util::codec::{FramedRead, LengthDelimitedCodecError},
};

/// The receiving half of a [`Link`](super::Link).
pub struct LinkReceiver<P> {
    pub(super) conn: Connection,
    /// The link's cancellation token, as a signal cheap to poll on every
    /// frame.
    pub(super) stop: Stop,
    /// The frame limit once the peer is admitted.
    pub(super) admitted_frame_size: usize,
    pub(super) reader: FramedRead<Throttled<RecvStream>, FrameCodec>,
    /// `mosaik.network.ingress.bytes`, registered once per link (it counts
    /// every frame; see `LinkSender::egress`).
    pub(super) ingress: metrics::Counter,
    /// The codec just handed out a whole frame and the reader was not
    /// polled since: its buffer starts at a frame boundary, so complete
    /// frames can be read from it in place (`take_buffered`).
    pub(super) at_boundary: bool,
    pub(super) _protocol: PhantomData<fn() -> P>,
}

impl<P> core::fmt::Debug for LinkReceiver<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkReceiver")
            .field("remote", &self.conn.remote_id())
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> LinkReceiver<P> {
    /// See [`Link::admit`](super::Link::admit).
    pub fn admit(&mut self) {
        let codec = self.reader.decoder_mut();
        codec.set_max_frame_size(self.admitted_frame_size);
        codec.admit();
        self.reader.get_mut().admit();
    }

    /// The frame limit in force now (the handshake limit until the peer is
    /// admitted).
    pub fn max_frame_size(&self) -> usize {
        self.reader.decoder().max_frame_size()
    }

    /// Receives and decodes one value.
    pub async fn recv<D: Datum>(&mut self) -> Result<D, RecvError> {
        self.recv_with_size().await.map(|(datum, _)| datum)
    }

    /// Receives one value and its frame payload size.
    pub async fn recv_with_size<D: Datum>(&mut self) -> Result<(D, usize), RecvError> {
        let frame = self.recv_frame().await?;
        match D::decode(&frame) {
            Ok(datum) => Ok((datum, frame.len())),
            Err(err) => {
                tracing::warn!(
                    peer = %self.conn.remote_id().fmt_short(),
                    error = %err,
                    "closing link: undecodable frame"
                );
                metrics::counter!("mosaik.network.frames.rejected", "reason" => "undecodable")
                    .increment(1);
                close_with(&self.conn, &ProtocolViolation);
                Err(RecvError::Decode(Box::new(err)))
            }
        }
    }

    /// Receives one raw frame payload.
    pub async fn recv_frame(&mut self) -> Result<BytesMut, RecvError> {
        self.at_boundary = false;
        let next = tokio::select! {
            biased;
            () = &mut self.stop => {
                close_with(&self.conn, &Cancelled);
                return Err(RecvError::Cancelled);
            }
            next = self.reader.next() => next,
        };
        self.frame_or_end(next)
    }

    /// A frame already buffered (or an end already seen), without waiting:
    /// `None` when receiving would have to wait. Lets a reader drain a burst
    /// after one `recv_frame` without a wake-up per frame. It skips the
    /// cancellation check, so call it only between awaits that make it.
    pub fn try_recv_frame(&mut self) -> Option<Result<BytesMut, RecvError>> {
        self.at_boundary = false;
        let next = self.reader.next().now_or_never()?;
        Some(self.frame_or_end(next))
    }

    /// Hands `each` the payload of every complete frame the link has
    /// already read, in order and in place (no split, no allocation), up
    /// to `max` frames or until `each` returns false; returns how many it
    /// was given. Only right after a frame was received, while the read
    /// buffer starts at a frame boundary, and only once the peer is
    /// admitted; otherwise it takes nothing, as it does at a frame above
    /// the limit or one not yet complete, which the next receive handles
    /// (and refuses) the usual way. It waits for nothing and skips the
    /// cancellation check, like [`try_recv_frame`](Self::try_recv_frame).
    pub fn take_buffered(&mut self, max: usize, mut each: impl FnMut(&[u8]) -> bool) -> usize {
        if !self.at_boundary || !self.reader.decoder().is_admitted() {
            return 0;
        }
        let limit = self.reader.decoder().max_frame_size();
        let buf = self.reader.read_buffer_mut();
        let (mut taken, mut bytes) = (0, 0);
        while taken < max
            && let Some(len) = announced_len(buf)
        {
            if len > limit || buf.len() - 4 < len {
                break;
            }
            let more = each(&buf[4..4 + len]);
            buf.advance(4 + len);
            taken += 1;
            bytes += 4 + len;
            if !more {
                break;
            }
        }
        if bytes > 0 {
            self.ingress.increment(bytes as u64);
        }
        taken
    }

    fn frame_or_end(
        &mut self,
        next: Option<Result<BytesMut, std::io::Error>>,
    ) -> Result<BytesMut, RecvError> {
        match next {
            Some(Ok(frame)) => {
                self.ingress.increment(frame.len() as u64 + 4);
                self.at_boundary = true;
                Ok(frame)
            }
            Some(Err(err)) => Err(self.classify(err)),
            None => {
                // The peer finished its stream without closing the
                // connection: the protocol gave it no reason to.
                close_with(&self.conn, &UnexpectedClose);
                Err(match self.conn.close_reason() {
                    Some(reason @ ConnectionError::ApplicationClosed(_))
                        if close_of(&reason).is_some_and(|c| *c != UnexpectedClose) =>
                    {
                        RecvError::Io(reason)
                    }
                    _ => RecvError::UnexpectedEnd,
                })
            }
        }
    }

    fn classify(&self, err: std::io::Error) -> RecvError {
        if let Some(over) = err.get_ref().and_then(|e| e.downcast_ref::<OverBudget>()) {
            tracing::debug!(
                peer = %self.conn.remote_id().fmt_short(),
                bytes = over.0,
                "closing link: budget of unauthenticated bytes spent"
            );
            metrics::counter!("mosaik.network.frames.rejected", "reason" => "over_budget")
                .increment(1);
            close_with(&self.conn, &ConnectionLimit);
            return RecvError::OverBudget { bytes: over.0 };
        }
        let too_large = err
            .get_ref()
            .is_some_and(<dyn std::error::Error + Send + Sync>::is::<LengthDelimitedCodecError>);
        if too_large {
            tracing::warn!(
                peer = %self.conn.remote_id().fmt_short(),
                limit = self.max_frame_size(),
                "closing link: peer announced a frame above the limit"
            );
            metrics::counter!("mosaik.network.frames.rejected", "reason" => "too_large")
                .increment(1);
            close_with(&self.conn, &ProtocolViolation);
            return RecvError::FrameTooLarge {
                limit: self.max_frame_size(),
            };
        }
        match self.conn.close_reason() {
            Some(reason) => RecvError::Io(reason),
            None => RecvError::Unknown(err),
        }
    }

    /// The peer's id.
    pub fn remote_id(&self) -> EndpointId {
        self.conn.remote_id()
    }
}
