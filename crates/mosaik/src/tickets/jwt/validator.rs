//! The [`Jwt`] ticket validator.

use {
    super::{
        JwtRejection, VerifyingKey,
        claims::Claims,
        compact::{Compact, decode_part},
        verified::Verified,
    },
    crate::{
        PeerId,
        discovery::PeerEntry,
        primitives::{Digest, TicketClass, UniqueId},
        tickets::{Expiration, InvalidTicket, TicketValidator},
        unique_id,
    },
    chrono::{TimeDelta, Utc},
    core::time::Duration,
    serde_json::Value,
    std::collections::{BTreeMap, BTreeSet},
};

/// Validates JWT tickets (JWS compact form) against a set of keys and
/// rules.
///
/// Built with [`Jwt::with_key`] and refined with the other builder methods.
/// Validation follows this order, stopping at the first failure: size bound
/// → UTF-8 → three parts → base64url JSON header → `alg` names a configured
/// key's algorithm (never `none`) → signature verified by one such key →
/// claims decode → issuer → subject → `nbf` → `exp` → maximum lifetime →
/// maximum age → audience → required claims.
///
/// [`TicketValidator::signature`] fingerprints the whole configuration
/// (key fingerprints included), so validators with different rules put
/// groups under different ids.
///
/// Validation does no I/O. Tokens whose signature verified are remembered
/// (by hash, bounded, shared between clones) so re-checking the same ticket
/// on every entry update costs a hash and the claim checks, not a
/// signature verification.
#[derive(Clone, Debug)]
pub struct Jwt {
    keys: Vec<VerifyingKey>,
    issuers: BTreeSet<String>,
    audiences: BTreeSet<String>,
    subject: Option<String>,
    claims: BTreeMap<String, Value>,
    non_expiring: bool,
    max_lifetime: Option<Duration>,
    max_age: Option<Duration>,
    verified: Verified,
}

impl Jwt {
    /// The ticket class of JWT tickets.
    pub const CLASS: TicketClass = unique_id!("mosaik.tickets.jwt.v1");

    /// Tokens longer than this are refused before any parsing.
    pub const MAX_TOKEN_LEN: usize = 8 * 1024;

    /// A validator accepting tokens signed by `key`.
    #[must_use]
    pub fn with_key(key: impl Into<VerifyingKey>) -> Self {
        Self {
            keys: Vec::new(),
            issuers: BTreeSet::new(),
            audiences: BTreeSet::new(),
            subject: None,
            claims: BTreeMap::new(),
            non_expiring: false,
            max_lifetime: None,
            max_age: None,
            verified: Verified::default(),
        }
        .add_key(key)
    }

    /// Also accepts tokens signed by `key` (key rotation: any configured
    /// key whose algorithm is the header's may verify). A key whose bytes
    /// are invalid is kept (it is part of the configuration) but verifies
    /// nothing; check keys up front with [`VerifyingKey::check`].
    #[must_use]
    pub fn add_key(mut self, key: impl Into<VerifyingKey>) -> Self {
        let key = key.into();
        if let Err(e) = key.check() {
            tracing::warn!(error = %e, "jwt validator configured with an unusable key");
        }
        let id = (key.algorithm().to_owned(), key.fingerprint());
        if self
            .keys
            .iter()
            .any(|k| (k.algorithm(), k.fingerprint()) == (id.0.as_str(), id.1))
        {
            return self; // already configured: no second verification try
        }
        self.keys.push(key);
        // Verdicts were for the old key set; a clone keeps its own.
        self.verified = Verified::default();
        self
    }

    /// Accepts tokens whose `iss` is `issuer` (repeatable: any of them).
    /// With none configured, `iss` is not checked.
    #[must_use]
    pub fn allow_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.insert(issuer.into());
        self
    }

    /// Accepts tokens with `aud` equal to (or, for an array, containing)
    /// `audience` (repeatable: any of them). With none configured, `aud` is
    /// not checked.
    #[must_use]
    pub fn allow_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.insert(audience.into());
        self
    }

    /// Requires `sub` to be exactly `subject`. By default `sub` must be the
    /// presenting peer's id (its lower-case string form), which binds a
    /// ticket to the entry of the peer it was issued to.
    #[must_use]
    pub fn require_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Requires claim `name` to equal `value` exactly.
    #[must_use]
    pub fn require_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Accepts tokens without `exp` (they validate as
    /// [`Expiration::Never`]). Off by default.
    #[must_use]
    pub const fn allow_non_expiring(mut self) -> Self {
        self.non_expiring = true;
        self
    }

    /// Refuses tokens whose `exp` lies more than `max` in the future (and,
    /// when set, tokens without `exp` even if non-expiring is allowed).
    #[must_use]
    pub const fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    /// Refuses tokens issued (`iat`) more than `max` ago; tokens without
    /// `iat` are refused when this is set.
    #[must_use]
    pub const fn max_age(mut self, max: Duration) -> Self {
        self.max_age = Some(max);
        self
    }

    /// The configured keys.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// Validates `token` as presented by `peer`, naming the rule that
    /// refused it. [`TicketValidator::validate`] is this with the reason
    /// turned into an [`InvalidTicket`].
    pub fn check(&self, token: &[u8], peer: &PeerId) -> Result<Expiration, JwtRejection> {
        let raw = token;
        let token = Compact::parse(raw, Self::MAX_TOKEN_LEN)?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.algorithm() == token.alg)
            .peekable();
        if candidates.peek().is_none() {
            return Err(JwtRejection::UnknownAlgorithm(token.alg));
        }
        let hash = *blake3::hash(raw).as_bytes();
        if !self.verified.contains(&hash) {
            let signature = decode_part(token.signature).map_err(|_| JwtRejection::BadSignature)?;
            let message = token.signing_input.as_bytes();
            let valid = candidates.any(|key| match key.verify(message, &signature) {
                Ok(valid) => valid,
                Err(e) => {
                    tracing::debug!(error = %e, "jwt key cannot verify");
                    false
                }
            });
            if !valid {
                return Err(JwtRejection::BadSignature);
            }
            self.verified.insert(hash);
        }

        let claims = Claims::decode(token.payload)?;
        self.check_claims(&claims, peer)
    }

    fn check_claims(&self, claims: &Claims, peer: &PeerId) -> Result<Expiration, JwtRejection> {
        if !self.issuers.is_empty()
            && !claims
                .iss
                .as_ref()
                .is_some_and(|i| self.issuers.contains(i))
        {
            return Err(JwtRejection::Issuer);
        }
        let subject_ok = match &self.subject {
            Some(required) => claims.sub.as_ref() == Some(required),
            None => claims.sub.as_ref() == Some(&peer.to_string().to_lowercase()),
        };
        if !subject_ok {
            return Err(JwtRejection::Subject);
        }

        let now = Utc::now();
        if claims.nbf.is_some_and(|nbf| nbf > now) {
            return Err(JwtRejection::NotYetValid);
        }
        match claims.exp {
            None if !self.non_expiring => return Err(JwtRejection::NoExpiry),
            Some(exp) if exp <= now => return Err(JwtRejection::Expired),
            _ => {}
        }
        if let Some(max) = self.max_lifetime {
            match claims.exp {
                Some(exp) if exp - now <= delta(max) => {}
                _ => return Err(JwtRejection::LifetimeTooLong),
            }
        }
        if let Some(max) = self.max_age {
            let iat = claims.iat.ok_or(JwtRejection::NoIssuedAt)?;
            if now - iat > delta(max) {
                return Err(JwtRejection::TooOld);
            }
        }
        if !self.audiences.is_empty() && !claims.aud.iter().any(|a| self.audiences.contains(a)) {
            return Err(JwtRejection::Audience);
        }
        for (name, value) in &self.claims {
            if claims.all.get(name) != Some(value) {
                return Err(JwtRejection::Claim(name.clone()));
            }
        }
        Ok(claims.exp.map_or(Expiration::Never, Expiration::At))
    }
}

/// A std duration as chrono's, saturating: a maximum too large for chrono
/// is as good as no maximum.
fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// The canonical, length-prefixed (postcard) form of a configuration that
/// [`TicketValidator::signature`] hashes. Sets are sorted, so the order of
/// builder calls does not change a group id; a `Jwt` with the same rules on
/// every member yields the same id everywhere.
#[derive(serde::Serialize)]
struct Fingerprint<'a> {
    keys: Vec<(&'a str, Digest)>,
    non_expiring: bool,
    issuers: &'a BTreeSet<String>,
    audiences: &'a BTreeSet<String>,
    subject: Option<&'a str>,
    max_lifetime_secs: Option<u64>,
    max_age_secs: Option<u64>,
    claims: Vec<(&'a str, String)>,
}

impl TicketValidator for Jwt {
    fn class(&self) -> TicketClass {
        Self::CLASS
    }

    fn signature(&self) -> UniqueId {
        let mut keys: Vec<_> = self
            .keys
            .iter()
            .map(|k| (k.algorithm(), k.fingerprint()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let fingerprint = Fingerprint {
            keys,
            non_expiring: self.non_expiring,
            issuers: &self.issuers,
            audiences: &self.audiences,
            subject: self.subject.as_deref(),
            max_lifetime_secs: self.max_lifetime.map(|d| d.as_secs()),
            max_age_secs: self.max_age.map(|d| d.as_secs()),
            claims: self
                .claims
                .iter()
                .map(|(name, value)| (name.as_str(), value.to_string()))
                .collect(),
        };
        Self::CLASS.derive(crate::primitives::encoding::serialize(&fingerprint))
    }

    fn validate(&self, ticket: &[u8], peer: &PeerEntry) -> Result<Expiration, InvalidTicket> {
        self.check(ticket, peer.id()).map_err(Into::into)
    }
}
