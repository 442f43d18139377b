//! [`JwtTicketBuilder`]: issues JWT tickets (mostly for issuers and tests).

use {
    super::{Jwt, SigningKey, compact::encode_part},
    crate::{
        PeerId,
        tickets::{Expiration, Ticket},
    },
    chrono::{DateTime, Utc},
    serde_json::{Map, Value},
};

/// Builds and signs a JWT ticket for one peer.
///
/// Claims are kept in one map, so [`claim`](Self::claim) with a registered
/// name (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`) sets the same
/// field as the dedicated setter.
#[derive(Clone, Debug)]
pub struct JwtTicketBuilder {
    key: SigningKey,
    claims: Map<String, Value>,
}

impl JwtTicketBuilder {
    /// A builder signing with `key`. By default the token never expires,
    /// `iat` is the build time and `sub` the peer id.
    pub fn new(key: impl Into<SigningKey>) -> Self {
        Self {
            key: key.into(),
            claims: Map::new(),
        }
    }

    /// Sets `iss`.
    #[must_use]
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", issuer.into())
    }

    /// Sets `sub` (default: the peer id, lower-case).
    #[must_use]
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", subject.into())
    }

    /// Sets `aud` (a single string).
    #[must_use]
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", audience.into())
    }

    /// Sets `exp`; [`Expiration::Never`] removes it.
    #[must_use]
    pub fn expires_at(mut self, expiration: Expiration) -> Self {
        match expiration {
            Expiration::At(at) => self.claim("exp", at.timestamp()),
            Expiration::Never => {
                self.claims.remove("exp");
                self
            }
        }
    }

    /// Sets `exp` to now plus `duration`.
    #[must_use]
    pub fn expires_in(self, duration: chrono::Duration) -> Self {
        self.expires_at(Expiration::after(duration))
    }

    /// Sets `iat` (default: the build time).
    #[must_use]
    pub fn issued_at(self, at: DateTime<Utc>) -> Self {
        self.claim("iat", at.timestamp())
    }

    /// Sets `nbf`.
    #[must_use]
    pub fn not_before(self, at: DateTime<Utc>) -> Self {
        self.claim("nbf", at.timestamp())
    }

    /// Sets `jti`.
    #[must_use]
    pub fn token_id(self, jti: impl Into<String>) -> Self {
        self.claim("jti", jti.into())
    }

    /// Sets claim `name` to `value` (registered names included).
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// The signed compact token for `peer`.
    pub fn token(&self, peer: &PeerId) -> String {
        #[derive(serde::Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'static str,
        }
        let header = Header {
            alg: self.key.algorithm(),
            typ: "JWT",
        };
        let mut claims = self.claims.clone();
        claims
            .entry("sub")
            .or_insert_with(|| peer.to_string().to_lowercase().into());
        claims
            .entry("iat")
            .or_insert_with(|| Utc::now().timestamp().into());

        // Serialising a struct of strings and a map of JSON values cannot
        // fail (all keys are strings).
        let header = serde_json::to_vec(&header).expect("header serialises");
        let payload = serde_json::to_vec(&claims).expect("claims serialise");
        let mut token = format!("{}.{}", encode_part(&header), encode_part(&payload));
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&encode_part(&signature));
        token
    }

    /// The signed ticket for `peer`, of class [`Jwt::CLASS`].
    pub fn build(&self, peer: &PeerId) -> Ticket {
        Ticket::new(Jwt::CLASS, self.token(peer).into_bytes().into())
    }
}
