//! [`VerifyingKey`]: any key a [`Jwt`](super::Jwt) validator may check
//! signatures with.
//!
//! HS*, ES256, ES384 and `EdDSA` signatures are checked by the `jsonwebtoken`
//! crate's `RustCrypto` backend; ES512 and ES256K, which it lacks, by the
//! `RustCrypto` curve crates directly. Either way no signature arithmetic is
//! written here.

use {
    super::{EdDsa, Es256, Es256k, Es384, Es512, Hs256, Hs384, Hs512, InvalidKey},
    crate::primitives::Digest,
    core::fmt,
    jsonwebtoken::{Algorithm, DecodingKey, crypto::rust_crypto::DEFAULT_PROVIDER},
    std::sync::Arc,
};

/// A signature check for an algorithm this crate does not ship.
pub trait CustomVerifier: Send + Sync + 'static {
    /// Whether `signature` (the decoded third token part) is valid for
    /// `message` (`header.payload` as sent).
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

/// A key a JWT validator checks signatures with.
#[derive(Clone)]
#[non_exhaustive]
pub enum VerifyingKey {
    /// HMAC-SHA-256 shared secret.
    Hs256(Hs256),
    /// HMAC-SHA-384 shared secret.
    Hs384(Hs384),
    /// HMAC-SHA-512 shared secret.
    Hs512(Hs512),
    /// ECDSA P-256 public key.
    Es256(Es256),
    /// ECDSA P-384 public key.
    Es384(Es384),
    /// ECDSA P-521 public key.
    Es512(Es512),
    /// ECDSA secp256k1 public key.
    Es256k(Es256k),
    /// Ed25519 public key.
    EdDsa(EdDsa),
    /// A caller-supplied algorithm.
    Custom(CustomVerifyingKey),
}

/// A caller-supplied verifier with its `alg` name and key fingerprint.
#[derive(Clone)]
pub struct CustomVerifyingKey {
    verifier: Arc<dyn CustomVerifier>,
    fingerprint: Digest,
    alg: String,
}

impl VerifyingKey {
    /// A key for a custom algorithm named `alg_name` in token headers; the
    /// fingerprint (part of the validator signature) is the hash of
    /// `key_material`.
    pub fn custom(
        algo: impl CustomVerifier,
        key_material: impl AsRef<[u8]>,
        alg_name: impl Into<String>,
    ) -> Self {
        Self::Custom(CustomVerifyingKey {
            verifier: Arc::new(algo),
            fingerprint: Digest::hash(key_material.as_ref()),
            alg: alg_name.into(),
        })
    }

    /// The JOSE `alg` name tokens for this key carry.
    pub fn algorithm(&self) -> &str {
        match self {
            Self::Hs256(_) => Hs256::ALG,
            Self::Hs384(_) => Hs384::ALG,
            Self::Hs512(_) => Hs512::ALG,
            Self::Es256(_) => Es256::ALG,
            Self::Es384(_) => Es384::ALG,
            Self::Es512(_) => Es512::ALG,
            Self::Es256k(_) => Es256k::ALG,
            Self::EdDsa(_) => EdDsa::ALG,
            Self::Custom(c) => &c.alg,
        }
    }

    /// A hash identifying the key material (never the material itself, so
    /// HMAC secrets do not leak into group ids).
    pub fn fingerprint(&self) -> Digest {
        match self {
            Self::Hs256(k) => Digest::hash(k.as_bytes()),
            Self::Hs384(k) => Digest::hash(k.as_bytes()),
            Self::Hs512(k) => Digest::hash(k.as_bytes()),
            Self::Es256(k) => Digest::hash(k.as_bytes()),
            Self::Es384(k) => Digest::hash(k.as_bytes()),
            Self::Es512(k) => Digest::hash(k.as_bytes()),
            Self::Es256k(k) => Digest::hash(k.as_bytes()),
            Self::EdDsa(k) => Digest::hash(k.as_bytes()),
            Self::Custom(c) => c.fingerprint,
        }
    }

    /// Whether the key bytes form a usable key (public points on their
    /// curve). A validator holding an invalid key refuses every token for
    /// that key with an error; it never panics.
    pub fn check(&self) -> Result<(), InvalidKey> {
        match self {
            Self::Es256(k) => k.check(),
            Self::Es384(k) => k.check(),
            Self::Es512(k) => k.check(),
            Self::Es256k(k) => k.check(),
            Self::EdDsa(k) => k.check(),
            Self::Hs256(_) | Self::Hs384(_) | Self::Hs512(_) | Self::Custom(_) => Ok(()),
        }
    }

    /// Whether `signature` is valid for `message` under this key.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<bool, InvalidKey> {
        match self {
            Self::Hs256(k) => by_hmac(Algorithm::HS256, k.as_bytes(), message, signature),
            Self::Hs384(k) => by_hmac(Algorithm::HS384, k.as_bytes(), message, signature),
            Self::Hs512(k) => by_hmac(Algorithm::HS512, k.as_bytes(), message, signature),
            Self::Es256(k) => {
                k.check()?;
                // `from_ec_der` takes the raw SEC1 point for this backend.
                let key = DecodingKey::from_ec_der(k.as_bytes());
                by_jsonwebtoken(Algorithm::ES256, &key, message, signature)
            }
            Self::Es384(k) => {
                k.check()?;
                let key = DecodingKey::from_ec_der(k.as_bytes());
                by_jsonwebtoken(Algorithm::ES384, &key, message, signature)
            }
            Self::EdDsa(k) => {
                k.check()?;
                let key = DecodingKey::from_ed_der(k.as_bytes());
                by_jsonwebtoken(Algorithm::EdDSA, &key, message, signature)
            }
            Self::Es512(k) => k.verify(message, signature),
            Self::Es256k(k) => k.verify(message, signature),
            Self::Custom(c) => Ok(c.verifier.verify(message, signature)),
        }
    }
}

/// HMAC through jsonwebtoken (its key constructor only refuses empty
/// secrets, which fixed-size keys never are).
fn by_hmac(
    alg: Algorithm,
    secret: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<bool, InvalidKey> {
    let key = DecodingKey::from_secret(secret)
        .map_err(|e| InvalidKey::secret(&format!("{alg:?}"), e.to_string()))?;
    by_jsonwebtoken(alg, &key, message, signature)
}

/// Verifies through jsonwebtoken's `RustCrypto` provider, called directly
/// rather than through the process-wide default so that another crate
/// enabling a second backend cannot make verification fail.
fn by_jsonwebtoken(
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, InvalidKey> {
    let verifier = (DEFAULT_PROVIDER.verifier_factory)(&alg, key)
        .map_err(|e| InvalidKey::public(&format!("{alg:?}"), e.to_string(), &[]))?;
    Ok(verifier.verify(message, &signature.to_vec()).is_ok())
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hs256(k) => k.fmt(f),
            Self::Hs384(k) => k.fmt(f),
            Self::Hs512(k) => k.fmt(f),
            Self::Es256(k) => k.fmt(f),
            Self::Es384(k) => k.fmt(f),
            Self::Es512(k) => k.fmt(f),
            Self::Es256k(k) => k.fmt(f),
            Self::EdDsa(k) => k.fmt(f),
            Self::Custom(c) => write!(f, "Custom({}, {})", c.alg, c.fingerprint),
        }
    }
}

macro_rules! from_key {
    ($($ty:ident),*) => {$(
        impl From<$ty> for VerifyingKey {
            fn from(key: $ty) -> Self {
                Self::$ty(key)
            }
        }
    )*};
}

from_key!(Hs256, Hs384, Hs512, Es256, Es384, Es512, Es256k, EdDsa);
