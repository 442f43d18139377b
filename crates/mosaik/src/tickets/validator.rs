//! The validator contract shared by streams, groups and collections.

use {
    super::Expiration,
    crate::{
        discovery::PeerEntry,
        primitives::{TicketClass, UniqueId},
    },
    std::sync::Arc,
};

/// Why a ticket was refused. The message is for logs; callers branch only on
/// "valid or not".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ticket: {0}")]
pub struct InvalidTicket(pub String);

impl InvalidTicket {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Checks tickets of one class.
pub trait TicketValidator: Send + Sync + 'static {
    /// The class of tickets this validator reads.
    fn class(&self) -> TicketClass;

    /// A fingerprint of this validator's configuration (keys, rules). It
    /// goes into group ids, so members with different rules never bond.
    fn signature(&self) -> UniqueId;

    /// Validates one ticket's bytes for the peer whose entry carries it.
    fn validate(&self, ticket: &[u8], peer: &PeerEntry) -> Result<Expiration, InvalidTicket>;
}

impl<T: TicketValidator + ?Sized> TicketValidator for Box<T> {
    fn class(&self) -> TicketClass {
        (**self).class()
    }
    fn signature(&self) -> UniqueId {
        (**self).signature()
    }
    fn validate(&self, ticket: &[u8], peer: &PeerEntry) -> Result<Expiration, InvalidTicket> {
        (**self).validate(ticket, peer)
    }
}

impl<T: TicketValidator + ?Sized> TicketValidator for Arc<T> {
    fn class(&self) -> TicketClass {
        (**self).class()
    }
    fn signature(&self) -> UniqueId {
        (**self).signature()
    }
    fn validate(&self, ticket: &[u8], peer: &PeerEntry) -> Result<Expiration, InvalidTicket> {
        (**self).validate(ticket, peer)
    }
}

/// Checks `peer` against every validator: each must accept at least one of
/// the peer's tickets of its class. Returns the earliest expiry over the
/// best (latest-expiring) ticket per validator, or the first refusal.
/// With no validators the answer is `Ok(Expiration::Never)`.
pub fn validate_all<'a>(
    validators: impl IntoIterator<Item = &'a dyn TicketValidator>,
    peer: &PeerEntry,
) -> Result<Expiration, InvalidTicket> {
    let mut earliest = Expiration::Never;
    for validator in validators {
        let mut best: Option<Expiration> = None;
        let mut last_error = None;
        for ticket in peer.tickets_of(validator.class()) {
            match validator.validate(ticket.data(), peer) {
                Ok(exp) if !exp.is_expired() => best = best.max(Some(exp)),
                Ok(_) => last_error = Some(InvalidTicket::new("ticket expired")),
                Err(e) => last_error = Some(e),
            }
        }
        match best {
            Some(exp) => earliest = earliest.min(exp),
            None => {
                return Err(last_error.unwrap_or_else(|| {
                    InvalidTicket::new(format!("no ticket of class {}", validator.class()))
                }));
            }
        }
    }
    Ok(earliest)
}

// The peer-entry side of SPEC §1.3, kept here next to `validate_all` so the
// rules live in one place.
impl PeerEntry {
    /// Validates this entry's tickets of `validator`'s class: Ok with the
    /// latest expiry among the unexpired valid ones, else the last refusal.
    pub fn validate_ticket(
        &self,
        validator: &dyn TicketValidator,
    ) -> Result<Expiration, InvalidTicket> {
        validate_all([validator], self)
    }

    /// Every validator must accept one of this entry's tickets: Ok with the
    /// earliest of their expiries, or `Ok(None)` when `validators` is empty.
    pub fn validate_tickets<V: TicketValidator>(
        &self,
        validators: &[V],
    ) -> Result<Option<Expiration>, InvalidTicket> {
        if validators.is_empty() {
            return Ok(None);
        }
        validate_all(validators.iter().map(|v| v as &dyn TicketValidator), self).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        crate::{NetworkId, tickets::Ticket},
        iroh::{EndpointAddr, SecretKey},
    };

    /// Accepts tickets whose data is `b"ok"` and expires them per `exp`.
    struct Fixed(TicketClass, Expiration);

    impl TicketValidator for Fixed {
        fn class(&self) -> TicketClass {
            self.0
        }
        fn signature(&self) -> UniqueId {
            self.0.derive(b"fixed")
        }
        fn validate(&self, ticket: &[u8], _: &PeerEntry) -> Result<Expiration, InvalidTicket> {
            if ticket == b"ok" {
                Ok(self.1)
            } else {
                Err(InvalidTicket::new("bad bytes"))
            }
        }
    }

    fn entry(tickets: &[(TicketClass, &'static [u8])]) -> PeerEntry {
        let key = SecretKey::generate();
        tickets.iter().fold(
            PeerEntry::new(NetworkId::from("net"), EndpointAddr::new(key.public())),
            |e, (class, data)| e.add_ticket(Ticket::new(*class, bytes::Bytes::from_static(data))),
        )
    }

    #[test]
    fn every_validator_must_pass_and_earliest_expiry_wins() {
        let (a, b) = (TicketClass::from("a"), TicketClass::from("b"));
        let soon = Expiration::in_1h();
        let va: Box<dyn TicketValidator> = Box::new(Fixed(a, Expiration::Never));
        let vb: Box<dyn TicketValidator> = Box::new(Fixed(b, soon));
        let both = [va, vb];
        let all = || both.iter().map(AsRef::as_ref);

        let peer = entry(&[(a, b"ok"), (b, b"ok")]);
        assert_eq!(validate_all(all(), &peer), Ok(soon));
        let peer = entry(&[(a, b"ok"), (b, b"no")]);
        assert!(validate_all(all(), &peer).is_err());
        let peer = entry(&[(a, b"ok")]);
        assert!(validate_all(all(), &peer).is_err());
        assert_eq!(validate_all([], &peer), Ok(Expiration::Never));
    }

    #[test]
    fn entry_helpers_match_validate_all() {
        let (a, b) = (TicketClass::from("a"), TicketClass::from("b"));
        let soon = Expiration::in_1h();
        let peer = entry(&[(a, b"ok"), (b, b"ok")]);
        let va = Fixed(a, Expiration::Never);
        assert_eq!(peer.validate_ticket(&va), Ok(Expiration::Never));
        let both: Vec<Box<dyn TicketValidator>> = vec![
            Box::new(Fixed(a, Expiration::Never)),
            Box::new(Fixed(b, soon)),
        ];
        assert_eq!(peer.validate_tickets(&both), Ok(Some(soon)));
        assert_eq!(peer.validate_tickets::<Fixed>(&[]), Ok(None));
        let missing = entry(&[(a, b"ok")]);
        assert!(missing.validate_tickets(&both).is_err());
        assert!(missing.validate_ticket(&Fixed(b, soon)).is_err());
    }

    #[test]
    fn expired_tickets_do_not_count() {
        let a = TicketClass::from("a");
        let v = Fixed(a, Expiration::already_expired());
        let peer = entry(&[(a, b"ok")]);
        assert!(validate_all([&v as &dyn TicketValidator], &peer).is_err());
    }
}
