//! `LinkSender<P>`: the sending half of a [`Link`](super::Link): frames
//! buffered by the codec and written to the QUIC stream in batches, large
//! frames and runs of ready-made frames without a copy.

use {
    super::{
        CloseError, CloseReason, SendError,
        close::{Cancelled, Success},
        frame::FrameCodec,
        link::{CLOSE_FLUSH_TIMEOUT, Protocol, close_with},
    },
    crate::primitives::{Datum, gate::Stop},
    bytes::Bytes,
    core::marker::PhantomData,
    futures::SinkExt,
    iroh::{
        EndpointId,
        endpoint::{Connection, ConnectionError, SendStream},
    },
    tokio_util::{codec::FramedWrite, sync::CancellationToken},
};

/// The sending half of a [`Link`](super::Link).
pub struct LinkSender<P> {
    pub(super) conn: Connection,
    pub(super) cancel: CancellationToken,
    /// `cancel`'s signal, cheap to poll on every write.
    pub(super) stop: Stop,
    pub(super) max_frame_size: usize,
    pub(super) writer: FramedWrite<SendStream, FrameCodec>,
    /// `mosaik.network.egress.bytes`, registered once per link: with a
    /// recorder installed, `counter!` looks its series up in the registry
    /// (a process-wide lock) on every call, and this one counts every
    /// write. Series go to the recorder installed when the link opened.
    pub(super) egress: metrics::Counter,
    pub(super) _protocol: PhantomData<fn() -> P>,
}

impl<P> core::fmt::Debug for LinkSender<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkSender")
            .field("remote", &self.conn.remote_id())
            .finish_non_exhaustive()
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
            () = &mut self.stop => {
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
                () = &mut self.stop => {}
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
