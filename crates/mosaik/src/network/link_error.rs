//! Errors of [`Link`](super::Link) operations.

use iroh::endpoint::{ApplicationClose, ConnectionError};

/// The close reason carried by a connection error, if the peer (or we)
/// closed it with an application code.
pub(crate) fn close_of(err: &ConnectionError) -> Option<&ApplicationClose> {
    match err {
        ConnectionError::ApplicationClosed(close) => Some(close),
        _ => None,
    }
}

/// Opening a link failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The QUIC connection could not be established.
    #[error("connect failed: {0}")]
    Connect(#[from] iroh::endpoint::ConnectError),
    /// The connection was established but the stream could not be opened.
    #[error("open stream failed: {0}")]
    Io(#[from] ConnectionError),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Accepting a link failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// The connection failed before the first frame arrived.
    #[error("accept failed: {0}")]
    Io(#[from] ConnectionError),
    /// The connection's ALPN is not the expected protocol's.
    #[error("invalid alpn: expected {expected:?}, got {actual:?}")]
    InvalidAlpn {
        /// The protocol's ALPN.
        expected: String,
        /// The connection's ALPN.
        actual: String,
    },
    /// The peer did not open its stream in time.
    #[error("peer did not open a stream within the accept timeout")]
    Timeout,
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Receiving a frame failed; the link is closed afterwards.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The connection was closed (by the peer or locally).
    #[error("link closed: {0}")]
    Io(ConnectionError),
    /// The stream ended (FIN) without a close.
    #[error("stream ended unexpectedly")]
    UnexpectedEnd,
    /// A frame announced more bytes than the link's maximum.
    #[error("frame too large: limit is {limit} bytes")]
    FrameTooLarge {
        /// The maximum frame size of this link.
        limit: usize,
    },
    /// A frame from a peer not admitted yet did not fit into the node's
    /// budget of unauthenticated bytes (the link is closed with
    /// `ConnectionLimit`).
    #[error("frame of {bytes} bytes refused: budget of unauthenticated bytes spent")]
    OverBudget {
        /// The frame's announced size.
        bytes: usize,
    },
    /// A frame could not be decoded into the expected type.
    #[error("undecodable frame: {0}")]
    Decode(Box<dyn std::error::Error + Send + Sync>),
    /// Another read error.
    #[error("read error: {0}")]
    Unknown(std::io::Error),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Sending a frame failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The value could not be encoded.
    #[error("encode failed: {0}")]
    Encode(Box<dyn std::error::Error + Send + Sync>),
    /// The frame is larger than the link's maximum.
    #[error("frame too large: {size} bytes, limit is {limit}")]
    FrameTooLarge {
        /// The encoded size.
        size: usize,
        /// The maximum frame size of this link.
        limit: usize,
    },
    /// The connection was closed.
    #[error("link closed: {0}")]
    Io(ConnectionError),
    /// Another write error.
    #[error("write error: {0}")]
    Unknown(std::io::Error),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Closing a link failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The link was already closed, by the peer or locally.
    #[error("already closed: {0}")]
    AlreadyClosed(ConnectionError),
    /// The peer closed with a reason we did not expect.
    #[error("closed by peer with unexpected reason: {0}")]
    UnexpectedReason(ApplicationClose),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Any link error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// See [`OpenError`].
    #[error(transparent)]
    Open(#[from] OpenError),
    /// See [`AcceptError`].
    #[error(transparent)]
    Accept(#[from] AcceptError),
    /// See [`RecvError`].
    #[error(transparent)]
    Recv(#[from] RecvError),
    /// See [`SendError`].
    #[error(transparent)]
    Write(#[from] SendError),
    /// See [`CloseError`].
    #[error(transparent)]
    Close(#[from] CloseError),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

macro_rules! close_reason_accessors {
    ($($ty:ident { $($io:ident),* }),*) => {$(
        impl $ty {
            /// The application close reason behind this error, if any.
            pub fn close_reason(&self) -> Option<&ApplicationClose> {
                match self {
                    $(Self::$io(err) => close_of(err),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// Whether the operation was cancelled locally.
            pub fn is_cancelled(&self) -> bool {
                matches!(self, Self::Cancelled)
            }
        }
    )*};
}

close_reason_accessors!(
    OpenError { Io },
    AcceptError { Io },
    RecvError { Io },
    SendError { Io },
    CloseError { AlreadyClosed }
);

impl CloseError {
    /// The unexpected reason, when the peer closed with one.
    pub fn unexpected_reason(&self) -> Option<&ApplicationClose> {
        match self {
            Self::UnexpectedReason(close) => Some(close),
            _ => None,
        }
    }
}

impl LinkError {
    /// The application close reason behind this error, if any.
    pub fn close_reason(&self) -> Option<&ApplicationClose> {
        match self {
            Self::Open(e) => e.close_reason(),
            Self::Accept(e) => e.close_reason(),
            Self::Recv(e) => e.close_reason(),
            Self::Write(e) => e.close_reason(),
            Self::Close(e) => e.close_reason().or(e.unexpected_reason()),
            Self::Cancelled => None,
        }
    }

    /// Whether the operation was cancelled locally.
    pub fn is_cancelled(&self) -> bool {
        match self {
            Self::Open(e) => e.is_cancelled(),
            Self::Accept(e) => e.is_cancelled(),
            Self::Recv(e) => e.is_cancelled(),
            Self::Write(e) => e.is_cancelled(),
            Self::Close(e) => e.is_cancelled(),
            Self::Cancelled => true,
        }
    }
}
