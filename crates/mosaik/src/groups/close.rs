//! Close reasons of bonds (SPEC §2.3, codes `30_xxx`).

use crate::network::close_reasons;

close_reasons! {
    /// The bond handshake could not be read or decoded.
    InvalidHandshake = 30_400;
    /// Ticket authorization failed, was revoked or expired.
    NotAllowed = 30_403;
    /// The acceptor is not a member of the requested group.
    GroupNotFound = 30_404;
    /// The group-key proof was wrong.
    InvalidProof = 30_405;
    /// Handshake timeout or heartbeat failure.
    Timeout = 30_408;
    /// A bond between the two peers exists already (and was replaced too
    /// recently to be replaced again).
    AlreadyBonded = 30_429;
    /// Beyond the original: the bond was replaced by a newer one with the
    /// same peer (a restarted process, or one that saw the old bond die
    /// first).
    Superseded = 30_409;
    /// Beyond the original: a strict-mode group (`min_quorum` n) has its
    /// most voters, `2n − 1`, bonded already; one more would let two
    /// disjoint quorums elect two leaders, so the new voter is refused.
    StrictGroupFull = 30_413;
}
