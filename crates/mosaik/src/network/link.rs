//! `Link<P>`: typed, length-delimited frames over one QUIC bi-stream.

use {
    super::{
        AcceptError, CloseError, CloseReason, OpenError, RecvError, SendError,
        close::{Cancelled, ConnectionLimit, ProtocolViolation, Success, UnexpectedClose},
        frame::{ByteBudget, FrameCodec, OverBudget},
        link_error::close_of,
        throttle::Throttled,
    },
    crate::primitives::{Datum, Digest},
    bytes::{Buf, Bytes, BytesMut},
    core::{marker::PhantomData, time::Duration},
    futures::{FutureExt, SinkExt, StreamExt},
    iroh::{
        EndpointId,
        endpoint::{Connection, ConnectionError, RecvStream, SendStream},
    },
    std::sync::Arc,
    tokio_util::{
        codec::{FramedRead, FramedWrite, LengthDelimitedCodecError},
        sync::CancellationToken,
    },
};

/// Default maximum frame size: large enough for a catalog snapshot or a
/// batch of log entries, small enough that a hostile peer cannot make us
/// allocate gigabytes.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// How long a graceful close waits for the peer to acknowledge the data we
/// sent before tearing the connection down.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A protocol spoken over links, identified by its ALPN.
pub trait Protocol: Send + Sync + 'static {
    /// The ALPN identifying this protocol on the QUIC handshake.
    const ALPN: &'static [u8];

    /// Largest frame this protocol's messages need. Links use the smaller
    /// of this and the node's maximum frame size (default: no protocol
    /// limit, only the node's).
    const MAX_FRAME_SIZE: usize = usize::MAX;

    /// Largest frame an acceptor reads before it admitted the peer (its
    /// first message, a handshake). Sized to the handshake, so an
    /// unauthenticated peer cannot make us buffer a large frame.
    const HANDSHAKE_FRAME_SIZE: usize = usize::MAX;
}

/// The frame limits of one link of protocol `P` on a node whose maximum
/// frame size is `node_max`: (before admission, after).
pub(crate) fn frame_limits<P: Protocol>(node_max: usize) -> (usize, usize) {
    let full = node_max.min(P::MAX_FRAME_SIZE);
    (full.min(P::HANDSHAKE_FRAME_SIZE), full)
}

/// A typed, framed, bidirectional link to one peer over one QUIC connection
/// carrying exactly one bidirectional stream.
///
/// Frames are a 4-byte big-endian length followed by the payload (a
/// [`Datum`] encoding). Frames larger than the link's maximum are refused
/// before anything is allocated and close the link with
/// [`ProtocolViolation`], as do undecodable frames. Every operation races
/// the link's cancellation token; on cancellation the connection is closed
/// with [`Cancelled`].
///
/// The opener must send the first frame: QUIC only tells the acceptor about
/// a stream once data arrives on it.
pub struct Link<P> {
    sender: LinkSender<P>,
    receiver: LinkReceiver<P>,
}

/// The sending half of a [`Link`].
pub struct LinkSender<P> {
    conn: Connection,
    cancel: CancellationToken,
    max_frame_size: usize,
    writer: FramedWrite<SendStream, FrameCodec>,
    /// `mosaik.network.egress.bytes`, registered once per link: with a
    /// recorder installed, `counter!` looks its series up in the registry
    /// (a process-wide lock) on every call, and this one counts every
    /// write. Series go to the recorder installed when the link opened.
    egress: metrics::Counter,
    _protocol: PhantomData<fn() -> P>,
}

/// The receiving half of a [`Link`].
pub struct LinkReceiver<P> {
    conn: Connection,
    cancel: CancellationToken,
    /// The frame limit once the peer is admitted.
    admitted_frame_size: usize,
    reader: FramedRead<Throttled<RecvStream>, FrameCodec>,
    /// `mosaik.network.ingress.bytes`, registered once per link (it counts
    /// every frame; see `LinkSender::egress`).
    ingress: metrics::Counter,
    /// The codec just handed out a whole frame and the reader was not
    /// polled since: its buffer starts at a frame boundary, so complete
    /// frames can be read from it in place (`take_buffered`).
    at_boundary: bool,
    _protocol: PhantomData<fn() -> P>,
}

impl<P> core::fmt::Debug for Link<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Link")
            .field("remote", &self.sender.conn.remote_id())
            .finish_non_exhaustive()
    }
}

impl<P> core::fmt::Debug for LinkSender<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkSender")
            .field("remote", &self.conn.remote_id())
            .finish_non_exhaustive()
    }
}

impl<P> core::fmt::Debug for LinkReceiver<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkReceiver")
            .field("remote", &self.conn.remote_id())
            .finish_non_exhaustive()
    }
}

fn close_with(conn: &Connection, reason: &dyn CloseReason) {
    conn.close(
        iroh::endpoint::VarInt::from_u32(reason.code()),
        reason.name().as_bytes(),
    );
}

impl<P: Protocol> Link<P> {
    /// Opens the link's stream on an established outgoing connection.
    pub async fn open(
        conn: Connection,
        cancel: CancellationToken,
        max_frame_size: usize,
    ) -> Result<Self, OpenError> {
        let opened = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                close_with(&conn, &Cancelled);
                return Err(OpenError::Cancelled);
            }
            opened = conn.open_bi() => opened,
        };
        let (send, recv) = opened?;
        let max = max_frame_size.min(P::MAX_FRAME_SIZE);
        Ok(Self::from_parts(conn, send, recv, cancel, (max, max), None))
    }

    /// Accepts the link's stream on an incoming connection, verifying that
    /// the connection speaks this protocol's ALPN.
    ///
    /// Waits at most `timeout` for the opener's first frame; a peer that
    /// connects and goes silent cannot hold an accept slot forever. The
    /// link is admitted at once: its frames may be as large as
    /// `max_frame_size` (and the protocol's limit).
    pub async fn accept(
        conn: Connection,
        cancel: CancellationToken,
        max_frame_size: usize,
        timeout: Duration,
    ) -> Result<Self, AcceptError> {
        let max = max_frame_size.min(P::MAX_FRAME_SIZE);
        Self::accept_with(conn, cancel, (max, max), None, timeout).await
    }

    /// Accepts with separate frame limits before and after admission and,
    /// until [`admit`](Self::admit), frames drawing on `budget`.
    pub(crate) async fn accept_with(
        conn: Connection,
        cancel: CancellationToken,
        limits: (usize, usize),
        budget: Option<Arc<ByteBudget>>,
        timeout: Duration,
    ) -> Result<Self, AcceptError> {
        if conn.alpn() != P::ALPN {
            close_with(&conn, &super::close::InvalidAlpn);
            return Err(AcceptError::InvalidAlpn {
                expected: String::from_utf8_lossy(P::ALPN).into_owned(),
                actual: String::from_utf8_lossy(conn.alpn()).into_owned(),
            });
        }
        let accepted = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                close_with(&conn, &Cancelled);
                return Err(AcceptError::Cancelled);
            }
            accepted = tokio::time::timeout(timeout, conn.accept_bi()) => accepted,
        };
        let Ok(accepted) = accepted else {
            close_with(&conn, &super::close::TimedOut);
            return Err(AcceptError::Timeout);
        };
        let (send, recv) = accepted?;
        Ok(Self::from_parts(conn, send, recv, cancel, limits, budget))
    }

    fn from_parts(
        conn: Connection,
        send: SendStream,
        recv: RecvStream,
        cancel: CancellationToken,
        (first, full): (usize, usize),
        budget: Option<Arc<ByteBudget>>,
    ) -> Self {
        let sender = LinkSender {
            conn: conn.clone(),
            cancel: cancel.clone(),
            max_frame_size: full,
            writer: FramedWrite::new(send, FrameCodec::new(full, None)),
            egress: metrics::counter!("mosaik.network.egress.bytes"),
            _protocol: PhantomData,
        };
        let receiver = LinkReceiver {
            conn,
            cancel,
            admitted_frame_size: full,
            reader: FramedRead::new(
                Throttled::new(recv, budget.as_ref().map(|b| b.rate())),
                FrameCodec::new(first, budget),
            ),
            ingress: metrics::counter!("mosaik.network.ingress.bytes"),
            at_boundary: false,
            _protocol: PhantomData,
        };
        Self { sender, receiver }
    }

    /// Marks the peer as admitted (the acceptor checked who it is): frames
    /// may now be as large as the protocol's limit and no longer draw on
    /// the node's budget of unauthenticated bytes.
    pub fn admit(&mut self) {
        self.receiver.admit();
    }

    /// Encodes and sends one value.
    pub async fn send<D: Datum>(&mut self, datum: &D) -> Result<(), SendError> {
        self.sender.send(datum).await
    }

    /// Sends one pre-encoded frame (used to fan out one encoding to many
    /// links).
    pub async fn send_raw(&mut self, bytes: Bytes) -> Result<(), SendError> {
        self.sender.send_raw(bytes).await
    }

    /// Receives and decodes one value.
    pub async fn recv<D: Datum>(&mut self) -> Result<D, RecvError> {
        self.receiver.recv().await
    }

    /// Receives one value and the size of its frame payload.
    pub async fn recv_with_size<D: Datum>(&mut self) -> Result<(D, usize), RecvError> {
        self.receiver.recv_with_size().await
    }

    /// Receives one raw frame payload, undecoded.
    pub async fn recv_frame_raw(&mut self) -> Result<BytesMut, RecvError> {
        self.receiver.recv_frame().await
    }

    /// A raw frame payload already buffered, without waiting (see
    /// [`LinkReceiver::try_recv_frame`]).
    pub fn try_recv_frame_raw(&mut self) -> Option<Result<BytesMut, RecvError>> {
        self.receiver.try_recv_frame()
    }

    /// Frames already buffered, read in place (see
    /// [`LinkReceiver::take_buffered`]).
    pub fn take_buffered(&mut self, max: usize, each: impl FnMut(&[u8]) -> bool) -> usize {
        self.receiver.take_buffered(max, each)
    }

    /// Splits the link into halves that can be used from different tasks.
    pub fn split(self) -> (LinkSender<P>, LinkReceiver<P>) {
        (self.sender, self.receiver)
    }

    /// Joins halves produced by [`Link::split`].
    ///
    /// # Panics
    /// If the halves come from different links.
    pub fn join(sender: LinkSender<P>, receiver: LinkReceiver<P>) -> Self {
        assert_eq!(
            sender.conn.stable_id(),
            receiver.conn.stable_id(),
            "halves of different links"
        );
        Self { sender, receiver }
    }

    /// Closes the link with `reason`, after the peer acknowledged what we
    /// sent (bounded wait).
    pub async fn close(self, reason: impl CloseReason) -> Result<(), CloseError> {
        self.sender.close(reason).await
    }

    /// Resolves when the link is closed: `Ok` for a local close or a remote
    /// [`Success`], an error otherwise.
    pub async fn closed(&self) -> Result<(), CloseError> {
        wait_closed(&self.sender.conn, &self.sender.cancel).await
    }

    /// Replaces the token whose cancellation closes this link.
    pub fn replace_cancel_token(&mut self, cancel: CancellationToken) {
        self.sender.cancel = cancel.clone();
        self.receiver.cancel = cancel;
    }

    /// The peer's id.
    pub fn remote_id(&self) -> EndpointId {
        self.sender.conn.remote_id()
    }

    /// The underlying QUIC connection.
    pub fn connection(&self) -> &Connection {
        &self.sender.conn
    }

    /// The link's maximum frame size in bytes.
    pub fn max_frame_size(&self) -> usize {
        self.sender.max_frame_size
    }

    /// 32 bytes both ends derive identically from this TLS session (RFC
    /// 5705 exporter with `label`, context = the ALPN). Binds handshake
    /// proofs to this connection so they cannot be replayed on another.
    pub fn shared_random(&self, label: impl AsRef<[u8]>) -> Digest {
        shared_random(&self.sender.conn, label.as_ref())
    }
}

/// See [`Link::shared_random`].
pub(crate) fn shared_random(conn: &Connection, label: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    conn.export_keying_material(&mut out, label, conn.alpn())
        .expect("32 bytes is a valid exporter length");
    Digest::from_bytes(out)
}

async fn wait_closed(conn: &Connection, cancel: &CancellationToken) -> Result<(), CloseError> {
    let reason = tokio::select! {
            biased;
        () = cancel.cancelled() => return Err(CloseError::Cancelled),
        reason = conn.closed() => reason,
    };
    match reason {
        ConnectionError::LocallyClosed => Ok(()),
        ConnectionError::ApplicationClosed(close) if close == Success => Ok(()),
        ConnectionError::ApplicationClosed(close) => Err(CloseError::UnexpectedReason(close)),
        other => Err(CloseError::AlreadyClosed(other)),
    }
}

/// Frames of at least this many bytes are handed to the QUIC stream
/// without a copy into the codec's write buffer (smaller ones are gathered
/// there, many to one stream write).
const DIRECT_WRITE_BYTES: usize = 16 * 1024;

/// One piece of what [`LinkSender::feed_all`] writes.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// One frame's payload: the link frames it (and checks its size).
    Frame(Bytes),
    /// Frames already made (length and payload, back to back, each within
    /// the limit): handed to the QUIC stream as they are, without a copy.
    Framed(Bytes),
}

impl<P: Protocol> LinkSender<P> {
    /// Encodes and sends one value.
    pub async fn send<D: Datum>(&mut self, datum: &D) -> Result<(), SendError> {
        let bytes = datum.encode().map_err(|e| SendError::Encode(Box::new(e)))?;
        self.send_raw(bytes).await
    }

    /// Sends one pre-encoded frame (buffers and flushes it).
    pub async fn send_raw(&mut self, bytes: Bytes) -> Result<(), SendError> {
        self.write_one(bytes, true).await
    }

    /// Buffers one pre-encoded frame without flushing it. The buffer is
    /// bounded: once it holds more than the codec's backpressure boundary
    /// (8 KiB) it is written out before the frame is taken, so a run of
    /// `feed_raw` costs one write to the QUIC stream per ~8 KiB instead of
    /// one per frame. Call [`flush`](Self::flush) when no more frames are
    /// ready, or the last ones may wait.
    pub async fn feed_raw(&mut self, bytes: Bytes) -> Result<(), SendError> {
        self.write_one(bytes, false).await
    }

    /// Buffers every frame of `frames` as [`feed_raw`](Self::feed_raw)
    /// does one, with one cancellation check for the lot: a sender that
    /// drains a queue in batches pays it per batch, not per frame. If one
    /// frame is over the limit, none is taken.
    pub async fn feed_raw_all(&mut self, frames: &mut Vec<Bytes>) -> Result<(), SendError> {
        let mut total = 0;
        for frame in frames.iter() {
            self.check_size(frame.len())?;
            total += frame.len() + 4;
        }
        self.write(frames.drain(..).map(Outgoing::Frame), false, total)
            .await
    }

    /// Buffers and writes `items` in order, with one cancellation check
    /// for the lot (see [`feed_raw_all`](Self::feed_raw_all)). Runs of
    /// ready-made frames go to the stream after what is buffered, without
    /// a copy. If one frame is over the limit, none is taken.
    pub(crate) async fn feed_all(&mut self, items: &mut Vec<Outgoing>) -> Result<(), SendError> {
        let mut total = 0;
        for item in items.iter() {
            total += match item {
                Outgoing::Frame(frame) => {
                    self.check_size(frame.len())?;
                    frame.len() + 4
                }
                Outgoing::Framed(frames) => frames.len(),
            };
        }
        self.write(items.drain(..), false, total).await
    }

    /// Writes every buffered frame to the stream.
    pub async fn flush(&mut self) -> Result<(), SendError> {
        self.write(core::iter::empty(), true, 0).await
    }

    /// One frame, checked against the limit, then flushed if asked.
    async fn write_one(&mut self, bytes: Bytes, flush: bool) -> Result<(), SendError> {
        self.check_size(bytes.len())?;
        let total = bytes.len() + 4;
        self.write(core::iter::once(Outgoing::Frame(bytes)), flush, total)
            .await
    }

    fn check_size(&self, size: usize) -> Result<(), SendError> {
        if size > self.max_frame_size {
            return Err(SendError::FrameTooLarge {
                size,
                limit: self.max_frame_size,
            });
        }
        Ok(())
    }

    /// Feeds `frames` (of `total` bytes on the wire, checked against the
    /// frame limit by the caller), then flushes if asked.
    async fn write(
        &mut self,
        frames: impl Iterator<Item = Outgoing> + Send,
        flush: bool,
        total: usize,
    ) -> Result<(), SendError> {
        let writer = &mut self.writer;
        let work = async move {
            for item in frames {
                let bytes = match item {
                    Outgoing::Frame(bytes) => bytes,
                    Outgoing::Framed(frames) => {
                        // After what is buffered, in order.
                        if !writer.write_buffer().is_empty() {
                            SinkExt::<Bytes>::flush(writer).await?;
                        }
                        writer.get_mut().write_chunk(frames).await?;
                        continue;
                    }
                };
                if bytes.len() < DIRECT_WRITE_BYTES {
                    writer.feed(bytes).await?;
                    continue;
                }
                // A large frame skips the codec's buffer: its length goes
                // out with what is buffered, its bytes to the stream as
                // they are (one copy of the whole frame fewer).
                let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
                writer
                    .write_buffer_mut()
                    .extend_from_slice(&len.to_be_bytes());
                SinkExt::<Bytes>::flush(writer).await?;
                writer.get_mut().write_chunk(bytes).await?;
            }
            if flush {
                SinkExt::<Bytes>::flush(writer).await?;
            }
            Ok::<(), std::io::Error>(())
        };
        let result = tokio::select! {
            biased;
            () = self.cancel.cancelled() => {
                close_with(&self.conn, &Cancelled);
                return Err(SendError::Cancelled);
            }
            result = work => result,
        };
        match result {
            Ok(()) => {
                if total > 0 {
                    self.egress.increment(total as u64);
                }
                Ok(())
            }
            Err(err) => Err(match self.conn.close_reason() {
                Some(reason) => SendError::Io(reason),
                None => SendError::Unknown(err),
            }),
        }
    }

    /// Finishes the stream, waits (bounded) until the peer has acknowledged
    /// everything, then closes the connection with `reason`.
    pub async fn close(mut self, reason: impl CloseReason) -> Result<(), CloseError> {
        if let Some(existing) = self.conn.close_reason() {
            return match existing {
                ConnectionError::ApplicationClosed(close) if close == Success => Ok(()),
                ConnectionError::ApplicationClosed(close) => {
                    Err(CloseError::UnexpectedReason(close))
                }
                other => Err(CloseError::AlreadyClosed(other)),
            };
        }
        // Frames fed but not yet flushed go out before the stream ends
        // (bounded like the wait below).
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, self.flush()).await;
        let stream = self.writer.get_mut();
        if stream.finish().is_ok() {
            let flushed = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, stream.stopped());
            tokio::select! {
            biased;
                () = self.cancel.cancelled() => {}
                _ = flushed => {}
            }
        }
        close_with(&self.conn, &reason);
        Ok(())
    }

    /// The peer's id.
    pub fn remote_id(&self) -> EndpointId {
        self.conn.remote_id()
    }
}

impl<P: Protocol> LinkReceiver<P> {
    /// See [`Link::admit`].
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
            () = self.cancel.cancelled() => {
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
        while taken < max && buf.len() >= 4 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
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
