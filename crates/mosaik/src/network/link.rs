//! `Link<P>`: typed, length-delimited frames over one QUIC bi-stream.

use {
    super::{
        AcceptError, CloseError, CloseReason, OpenError, RecvError, SendError,
        close::{Cancelled, Success},
        frame::{ByteBudget, FrameCodec},
        link_receiver::LinkReceiver,
        link_sender::LinkSender,
        throttle::Throttled,
    },
    crate::primitives::{Datum, Digest, gate::Stop},
    bytes::{Bytes, BytesMut},
    core::{marker::PhantomData, time::Duration},
    iroh::{
        EndpointId,
        endpoint::{Connection, ConnectionError, RecvStream, SendStream},
    },
    std::sync::Arc,
    tokio_util::{
        codec::{FramedRead, FramedWrite},
        sync::CancellationToken,
    },
};

/// Default maximum frame size: large enough for a catalog snapshot or a
/// batch of log entries, small enough that a hostile peer cannot make us
/// allocate gigabytes.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// How long a graceful close waits for the peer to acknowledge the data we
/// sent before tearing the connection down.
pub(super) const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

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

    /// Beyond the original: how many ack-eliciting QUIC packets each end of
    /// this protocol's connections may receive before it must acknowledge
    /// them (the QUIC ACK frequency extension; `None` keeps QUIC's default
    /// of every second one). The QUIC stack sends an acknowledgement as a
    /// packet of its own rather than inside the next data packet, so a
    /// protocol whose messages are answered pays an extra packet for every
    /// two it receives unless the threshold is raised. Both the dialing and
    /// the accepting end ask for it, and for an acknowledgement at most 1 ms
    /// after the first packet left unacknowledged.
    const ACK_ELICITING_THRESHOLD: Option<u32> = None;
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
/// [`ProtocolViolation`](super::ProtocolViolation), as do undecodable
/// frames. Every operation races
/// the link's cancellation token; on cancellation the connection is closed
/// with [`Cancelled`].
///
/// The opener must send the first frame: QUIC only tells the acceptor about
/// a stream once data arrives on it.
pub struct Link<P> {
    sender: LinkSender<P>,
    receiver: LinkReceiver<P>,
}

impl<P> core::fmt::Debug for Link<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Link")
            .field("remote", &self.sender.conn.remote_id())
            .finish_non_exhaustive()
    }
}

pub(super) fn close_with(conn: &Connection, reason: &dyn CloseReason) {
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
        let receiver_stop = Stop::new(&cancel);
        let sender = LinkSender {
            conn: conn.clone(),
            stop: Stop::new(&cancel),
            cancel,
            max_frame_size: full,
            writer: FramedWrite::new(send, FrameCodec::new(full, None)),
            egress: metrics::counter!("mosaik.network.egress.bytes"),
            _protocol: PhantomData,
        };
        let receiver = LinkReceiver {
            conn,
            stop: receiver_stop,
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
    /// the node's budget or rate of unauthenticated bytes.
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
        self.sender.stop = Stop::new(&cancel);
        self.receiver.stop = Stop::new(&cancel);
        self.sender.cancel = cancel;
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
