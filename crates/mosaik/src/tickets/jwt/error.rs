//! Why a key or a token was refused.
//!
//! [`JwtRejection`] names each step of the validation order, so tests and
//! logs can tell *which* rule refused a token; it converts into the generic
//! [`InvalidTicket`](crate::tickets::InvalidTicket) at the validator boundary.

use crate::tickets::InvalidTicket;

/// Key bytes that do not form a usable key of their algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {algorithm} key: {reason}")]
pub struct InvalidKey {
    /// The JOSE algorithm name of the key (`ES256`, `EdDSA`, ...).
    pub algorithm: String,
    /// What is wrong with the bytes.
    pub reason: String,
    /// The rejected public bytes, handed back to the caller. Empty for
    /// secret keys: the caller still holds those and we do not copy secrets
    /// into errors that may end up in logs.
    pub bytes: Vec<u8>,
}

impl InvalidKey {
    pub(crate) fn public(algorithm: &str, reason: impl Into<String>, bytes: &[u8]) -> Self {
        Self {
            algorithm: algorithm.to_owned(),
            reason: reason.into(),
            bytes: bytes.to_vec(),
        }
    }

    pub(crate) fn secret(algorithm: &str, reason: impl Into<String>) -> Self {
        Self {
            algorithm: algorithm.to_owned(),
            reason: reason.into(),
            bytes: Vec::new(),
        }
    }
}

/// The step of the validation order at which a JWT ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtRejection {
    /// The token is longer than [`Jwt::MAX_TOKEN_LEN`](super::Jwt::MAX_TOKEN_LEN).
    #[error("token is {0} bytes, over the limit")]
    TooLarge(usize),
    /// The bytes are not UTF-8.
    #[error("token is not utf-8")]
    NotUtf8,
    /// Not three dot-separated parts.
    #[error("token is not three dot-separated parts")]
    Malformed,
    /// The header is not base64url JSON with a string `alg`, or uses a
    /// feature we refuse (`crit`, a non-JWT `typ`).
    #[error("bad header: {0}")]
    BadHeader(String),
    /// `alg: none` (unsigned tokens are never accepted).
    #[error("unsigned token (alg none)")]
    Unsigned,
    /// No configured key has the header's algorithm.
    #[error("no key for algorithm {0}")]
    UnknownAlgorithm(String),
    /// No key with the header's algorithm verified the signature.
    #[error("bad signature")]
    BadSignature,
    /// The payload is not a JSON object of well-typed claims.
    #[error("bad claims: {0}")]
    BadClaims(String),
    /// `iss` missing or not allowed.
    #[error("issuer not allowed")]
    Issuer,
    /// `sub` missing or not the required subject.
    #[error("subject mismatch")]
    Subject,
    /// `nbf` lies in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `exp` missing and non-expiring tokens are not allowed.
    #[error("token has no expiry")]
    NoExpiry,
    /// `exp` lies in the past.
    #[error("token expired")]
    Expired,
    /// `exp` is further away than the configured maximum lifetime.
    #[error("token lifetime over the maximum")]
    LifetimeTooLong,
    /// `iat` missing while a maximum age is configured.
    #[error("token has no issued-at")]
    NoIssuedAt,
    /// `iat` is older than the configured maximum age.
    #[error("token too old")]
    TooOld,
    /// `aud` missing or not allowed.
    #[error("audience not allowed")]
    Audience,
    /// A required claim is missing or has another value.
    #[error("claim {0} missing or different")]
    Claim(String),
}

impl From<JwtRejection> for InvalidTicket {
    fn from(rejection: JwtRejection) -> Self {
        Self::new(format!("jwt: {rejection}"))
    }
}
