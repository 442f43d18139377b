//! Close reasons: QUIC application error codes with a name.
//!
//! Every reason is a unit type carrying a numeric code (sent as the QUIC
//! application error code) and its type name (sent as the reason bytes).
//! Received closes are compared by code only, since the reason text is for
//! humans.

use {core::fmt, iroh::endpoint::ApplicationClose};

/// A reason for closing a link, sent to the peer.
pub trait CloseReason: fmt::Debug + Send + Sync + 'static {
    /// The numeric QUIC application error code.
    fn code(&self) -> u32;

    /// The reason's name, sent as the human-readable reason.
    fn name(&self) -> &'static str;

    /// Whether a received close carries this reason (by code).
    fn matches(&self, close: &ApplicationClose) -> bool {
        close.error_code.into_inner() == u64::from(self.code())
    }
}

/// Declares close-reason unit types; crate-wide so every subsystem can add
/// its own codes next to its protocol.
macro_rules! close_reasons {
    ($($(#[$meta:meta])* $name:ident = $code:expr;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name;

        impl $name {
            /// The numeric code of this reason.
            pub const CODE: u32 = $code;
        }

        impl $crate::network::CloseReason for $name {
            fn code(&self) -> u32 {
                $code
            }

            fn name(&self) -> &'static str {
                stringify!($name)
            }
        }

        impl PartialEq<::iroh::endpoint::ApplicationClose> for $name {
            fn eq(&self, other: &::iroh::endpoint::ApplicationClose) -> bool {
                $crate::network::CloseReason::matches(self, other)
            }
        }

        impl PartialEq<$name> for ::iroh::endpoint::ApplicationClose {
            fn eq(&self, other: &$name) -> bool {
                $crate::network::CloseReason::matches(other, self)
            }
        }
    )*};
}

pub(crate) use close_reasons;

close_reasons! {
    /// The connection used an ALPN the acceptor did not expect.
    InvalidAlpn = 100;
    /// The peer belongs to another network.
    DifferentNetwork = 101;
    /// The link was cancelled locally (shutdown).
    Cancelled = 102;
    /// The stream ended without a close, or an unknown I/O error happened.
    UnexpectedClose = 103;
    /// The protocol completed normally.
    Success = 200;
    /// The peer is shutting down.
    GracefulShutdown = 204;
    /// The peer sent a frame that could not be decoded or was too large.
    ProtocolViolation = 400;
    /// The initiator is not in the acceptor's catalog; sync and retry.
    UnknownPeer = 401;
    /// An exchange (first frame, handshake, sync, ping, departure notice)
    /// took longer than its timeout.
    TimedOut = 408;
    /// A connection or frame was refused by the node's limits (too many
    /// connections of the protocol or from the peer, or the budget of
    /// unauthenticated bytes is spent); retry later.
    ConnectionLimit = 429;
}

/// Builds the wire form of a close reason (for tests and diagnostics).
pub fn application_close(reason: &dyn CloseReason) -> ApplicationClose {
    ApplicationClose {
        error_code: iroh::endpoint::VarInt::from_u32(reason.code()),
        reason: bytes::Bytes::from_static(reason.name().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_compare_by_code_only() {
        let mut close = application_close(&ProtocolViolation);
        assert_eq!(close, ProtocolViolation);
        close.reason = bytes::Bytes::from_static(b"something else");
        assert_eq!(ProtocolViolation, close);
        assert_ne!(close, Success);
        assert_eq!(InvalidAlpn.name(), "InvalidAlpn");
        assert_eq!(UnknownPeer::CODE, 401);
    }
}
