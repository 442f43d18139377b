//! Tickets: credentials carried in a peer's signed discovery entry, and the
//! validators that decide whether a peer may subscribe, publish or bond.
//!
//! A [`Ticket`] is opaque bytes of some [`TicketClass`]. A
//! [`TicketValidator`] of that class checks the bytes against the peer entry
//! that carries them and answers with the ticket's [`Expiration`]. Every
//! place that takes validators (producers, consumers, groups, collections)
//! requires *every* configured validator to accept at least one ticket of its
//! class, and tears the connection down at the earliest expiry.

mod expiration;
pub mod jwt;
mod ticket;
mod validator;

pub use {
    crate::primitives::TicketClass,
    expiration::Expiration,
    jwt::{
        CustomSigner, CustomSigningKey, CustomVerifier, CustomVerifyingKey, EdDsa, EdDsaSigningKey,
        Es256, Es256SigningKey, Es256k, Es256kSigningKey, Es384, Es384SigningKey, Es512,
        Es512SigningKey, Hs256, Hs384, Hs512, InvalidKey, Jwt, JwtRejection, JwtTicketBuilder,
        SigningKey, VerifyingKey,
    },
    ticket::Ticket,
    validator::{InvalidTicket, TicketValidator, validate_all},
};
