//! [`SigningKey`]: any key a [`JwtTicketBuilder`](super::JwtTicketBuilder)
//! signs tokens with.

use {
    super::{
        EdDsaSigningKey, Es256SigningKey, Es256kSigningKey, Es384SigningKey, Es512SigningKey,
        Hs256, Hs384, Hs512, VerifyingKey,
    },
    core::fmt,
    std::sync::Arc,
};

/// Signing for an algorithm this crate does not ship.
pub trait CustomSigner: Send + Sync + 'static {
    /// The signature bytes of `message` (`header.payload`).
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

/// A key that signs JWT tickets.
#[derive(Clone)]
#[non_exhaustive]
pub enum SigningKey {
    /// HMAC-SHA-256 shared secret.
    Hs256(Hs256),
    /// HMAC-SHA-384 shared secret.
    Hs384(Hs384),
    /// HMAC-SHA-512 shared secret.
    Hs512(Hs512),
    /// ECDSA P-256.
    Es256(Es256SigningKey),
    /// ECDSA P-384.
    Es384(Es384SigningKey),
    /// ECDSA P-521.
    Es512(Es512SigningKey),
    /// ECDSA secp256k1.
    Es256k(Es256kSigningKey),
    /// Ed25519.
    EdDsa(EdDsaSigningKey),
    /// A caller-supplied algorithm.
    Custom(CustomSigningKey),
}

/// A caller-supplied signer with its `alg` name.
#[derive(Clone)]
pub struct CustomSigningKey {
    signer: Arc<dyn CustomSigner>,
    alg: String,
}

impl SigningKey {
    /// A signer for a custom algorithm named `alg_name` in headers.
    pub fn custom(algo: impl CustomSigner, alg_name: impl Into<String>) -> Self {
        Self::Custom(CustomSigningKey {
            signer: Arc::new(algo),
            alg: alg_name.into(),
        })
    }

    /// The JOSE `alg` name this key writes into headers.
    pub fn algorithm(&self) -> &str {
        match self {
            Self::Hs256(_) => Hs256::ALG,
            Self::Hs384(_) => Hs384::ALG,
            Self::Hs512(_) => Hs512::ALG,
            Self::Es256(_) => super::Es256::ALG,
            Self::Es384(_) => super::Es384::ALG,
            Self::Es512(_) => super::Es512::ALG,
            Self::Es256k(_) => super::Es256k::ALG,
            Self::EdDsa(_) => super::EdDsa::ALG,
            Self::Custom(c) => &c.alg,
        }
    }

    /// The key that verifies this key's tokens (`None` for custom keys).
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        Some(match self {
            Self::Hs256(k) => (*k).into(),
            Self::Hs384(k) => (*k).into(),
            Self::Hs512(k) => (*k).into(),
            Self::Es256(k) => k.verifying_key().into(),
            Self::Es384(k) => k.verifying_key().into(),
            Self::Es512(k) => k.verifying_key().into(),
            Self::Es256k(k) => k.verifying_key().into(),
            Self::EdDsa(k) => k.verifying_key().into(),
            Self::Custom(_) => return None,
        })
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Hs256(k) => k.sign(message),
            Self::Hs384(k) => k.sign(message),
            Self::Hs512(k) => k.sign(message),
            Self::Es256(k) => k.sign(message),
            Self::Es384(k) => k.sign(message),
            Self::Es512(k) => k.sign(message),
            Self::Es256k(k) => k.sign(message),
            Self::EdDsa(k) => k.sign(message),
            Self::Custom(c) => c.signer.sign(message),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.algorithm())
    }
}

macro_rules! from_key {
    ($($variant:ident($ty:ident)),*) => {$(
        impl From<$ty> for SigningKey {
            fn from(key: $ty) -> Self {
                Self::$variant(key)
            }
        }
    )*};
}

from_key!(
    Hs256(Hs256),
    Hs384(Hs384),
    Hs512(Hs512),
    Es256(Es256SigningKey),
    Es384(Es384SigningKey),
    Es512(Es512SigningKey),
    Es256k(Es256kSigningKey),
    EdDsa(EdDsaSigningKey)
);
