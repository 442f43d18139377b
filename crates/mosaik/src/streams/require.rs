//! Access rules shared by producers and consumers: `require` predicates
//! (AND-composed) and ticket validators (all must pass).

use {
    crate::{
        discovery::PeerInfo,
        tickets::{Expiration, InvalidTicket, TicketValidator, validate_all},
    },
    core::time::Duration,
    std::{sync::Arc, time::Instant},
};

/// A `require` predicate on the remote peer.
pub(crate) type PeerRule = Arc<dyn Fn(&PeerInfo) -> bool + Send + Sync>;

/// Why a peer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// A `require` predicate returned false.
    #[error("peer does not satisfy a require predicate")]
    Predicate,
    /// A ticket validator refused the peer.
    #[error("ticket refused: {0}")]
    Ticket(String),
}

/// Predicates and validators of one producer or consumer.
#[derive(Clone, Default)]
pub(crate) struct Requirements {
    pub(crate) predicates: Vec<PeerRule>,
    pub(crate) validators: Vec<Arc<dyn TicketValidator>>,
}

impl core::fmt::Debug for Requirements {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Requirements")
            .field("predicates", &self.predicates.len())
            .field("validators", &self.validators.len())
            .finish()
    }
}

impl Requirements {
    /// Checks `peer`; on success the deadline at which its tickets expire
    /// (`None`: never).
    pub(crate) fn check(&self, peer: &PeerInfo) -> Result<Option<Instant>, Denied> {
        if !self.predicates.iter().all(|p| p(peer)) {
            return Err(Denied::Predicate);
        }
        let expiry = validate_all(self.validators.iter().map(|v| &**v as _), peer)
            .map_err(|InvalidTicket(reason)| Denied::Ticket(reason))?;
        Ok(deadline(expiry))
    }
}

/// When an expiration falls due, as a monotonic instant.
fn deadline(expiry: Expiration) -> Option<Instant> {
    match expiry {
        Expiration::Never => None,
        // Already past: due now (validate_all refuses expired tickets, so
        // this only happens on a clock edge).
        other @ Expiration::At(_) => {
            Some(Instant::now() + other.remaining().unwrap_or(Duration::ZERO))
        }
    }
}
