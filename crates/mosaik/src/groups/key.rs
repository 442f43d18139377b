//! [`GroupKey`]: the shared secret that admits a member, and the bond proof
//! derived from it.

use {
    crate::{Digest, GroupId, PeerId, network::Link, tickets::TicketValidator},
    core::fmt,
};

/// The secret every member of a group knows. It never travels: bonds prove
/// knowledge of it with a digest bound to the TLS session (see
/// [`GroupKey::generate_proof`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupKey {
    secret: Digest,
}

impl GroupKey {
    /// A key with this secret.
    pub const fn new(secret: Digest) -> Self {
        Self { secret }
    }

    /// A key from anything that turns into a digest (strings are hashed).
    pub fn from_secret(secret: impl Into<Digest>) -> Self {
        Self::new(secret.into())
    }

    /// A fresh random key.
    pub fn random() -> Self {
        Self::new(Digest::random())
    }

    /// The secret.
    pub const fn secret(&self) -> &Digest {
        &self.secret
    }

    /// The proof `prover` presents on `link` for `group`:
    /// `derive(derive(secret, tls_exporter(label = group id, context = ALPN)),
    /// prover id)`. It binds the secret to this TLS session and to the
    /// prover's identity, so a recorded proof is useless on another
    /// connection or for another peer.
    pub fn generate_proof<P: crate::network::Protocol>(
        &self,
        link: &Link<P>,
        prover: PeerId,
        group: GroupId,
    ) -> Digest {
        let session = link.shared_random(group.as_bytes());
        self.secret
            .derive(session.as_bytes())
            .derive(prover.as_bytes())
    }

    /// Checks a proof the remote side of `link` presented for `group`.
    pub fn validate_proof<P: crate::network::Protocol>(
        &self,
        link: &Link<P>,
        proof: Digest,
        group: GroupId,
    ) -> bool {
        self.generate_proof(link, link.remote_id(), group) == proof
    }
}

impl From<Digest> for GroupKey {
    fn from(secret: Digest) -> Self {
        Self::new(secret)
    }
}

impl From<&Digest> for GroupKey {
    fn from(secret: &Digest) -> Self {
        Self::new(*secret)
    }
}

impl<V: TicketValidator> From<&V> for GroupKey {
    /// A key whose secret is the validator's signature: the group is keyed
    /// purely by its admission rules.
    fn from(validator: &V) -> Self {
        Self::new(validator.signature())
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.secret.to_hex();
        write!(f, "{}****{}", &hex[..2], &hex[hex.len() - 2..])
    }
}

impl fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_masks_the_secret() {
        let key = GroupKey::from_secret("hello");
        let shown = key.to_string();
        assert_eq!(shown.len(), 8);
        assert!(shown.contains("****"));
        assert!(!format!("{key:?}").contains(&key.secret().to_hex()));
    }
}
