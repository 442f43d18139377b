//! Close reasons of the streams protocol (SPEC §2.3, codes `10_xxx`).
//!
//! They live next to the protocol rather than in `network::close` because
//! the groups subsystem has its own `NotAllowed` with another code.

crate::network::close_reasons! {
    /// The consumer failed the producer's `require` predicates or tickets,
    /// or stopped satisfying them (including ticket expiry).
    NotAllowed = 10_403;
    /// The node has no producer for the requested stream id.
    StreamNotFound = 10_404;
    /// The consumer's queue was full and the producer disconnects laggards.
    TooSlow = 10_413;
    /// The producer already serves `max_consumers` subscribers.
    NoCapacity = 10_509;
}
