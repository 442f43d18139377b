//! Errors of TDX tickets and of their validation.

/// Why a TDX ticket could not be produced, decoded or accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TdxTicketError {
    /// The bytes are not a TDX ticket (bad compression, over the
    /// decompression cap, bad encoding, not a TDX quote), or this host
    /// cannot produce one (no configfs-tsm / not in a TD).
    #[error("invalid TDX ticket format: {0}")]
    InvalidFormat(String),
    /// The quote did not verify through the DCAP chain to Intel's root CA
    /// (signature, QE report, PCK chain, CRLs, TCB info, QE identity), its
    /// TCB status is not accepted, it comes from a debug TD, or no
    /// collateral is configured.
    #[error("TDX quote verification failed: {0}")]
    QuoteVerificationFailed(String),
    /// The ticket's expiration lies in the past.
    #[error("TDX ticket expired")]
    TicketExpired,
    /// The quote's report data does not commit to the ticket's peer id,
    /// network id and times.
    #[error("TDX quote report data does not bind the ticket's claims")]
    InvalidReportData,
    /// The ticket is not of class `mosaik.tee.tdx.ticket.v1`.
    #[error("not a TDX ticket")]
    InvalidTicketType,
}

/// Why the [`Tdx`](super::Tdx) validator refused a ticket: a ticket-level
/// error or one of the validator's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TdxRejection {
    /// The ticket itself is bad.
    #[error(transparent)]
    Ticket(#[from] TdxTicketError),
    /// The measurements do not match the baseline criteria.
    #[error("TD measurements do not match the baseline")]
    BaselineMismatch,
    /// Variants are configured and none matches.
    #[error("TD measurements match no allowed variant")]
    NoVariantMatches,
    /// The ticket names another peer than the one presenting it.
    #[error("ticket issued to another peer")]
    WrongPeer,
    /// The ticket names another network.
    #[error("ticket issued for another network")]
    WrongNetwork,
    /// `now - quoted_at` exceeds `max_age`.
    #[error("quote older than the maximum age")]
    TooOld,
    /// `quoted_at` lies before `not_before`.
    #[error("quote produced before the not-before time")]
    QuotedTooEarly,
    /// `expiration - quoted_at` exceeds `max_lifetime` (or never expires).
    #[error("ticket lifetime exceeds the maximum")]
    LifetimeTooLong,
}
