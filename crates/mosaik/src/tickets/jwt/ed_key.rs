//! `EdDSA` (Ed25519) keys.

use {super::InvalidKey, crate::primitives::const_hex, core::fmt, ed25519_dalek::Signer};

/// An `EdDSA` (Ed25519) public key, 32 bytes. Kept as bytes (so it can be a
/// constant); bytes that are not a curve point fail [`check`](Self::check)
/// and every verification.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EdDsa(pub [u8; 32]);

impl EdDsa {
    /// The JOSE `alg` name.
    pub const ALG: &'static str = "EdDSA";

    /// A key from its 32 public bytes (not checked here).
    pub const fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    /// A key from hex text; usable in `const` items.
    pub const fn hex(key: &str) -> Self {
        Self(const_hex::<32>(key))
    }

    /// The public bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether the bytes are a valid Ed25519 public key.
    pub fn check(&self) -> Result<(), InvalidKey> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0)
            .map(|_| ())
            .map_err(|_| InvalidKey::public(Self::ALG, "not a curve point", &self.0))
    }
}

impl fmt::Debug for EdDsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EdDsa({})", hex::encode(self.0))
    }
}

/// An `EdDSA` (Ed25519) signing key (32-byte seed).
#[derive(Clone)]
pub struct EdDsaSigningKey(ed25519_dalek::SigningKey);

impl EdDsaSigningKey {
    /// A key from its 32-byte seed (every seed is valid).
    pub fn from_bytes(seed: [u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// A fresh random key.
    pub fn random() -> Self {
        Self::from_bytes(rand::random())
    }

    /// The seed bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> EdDsa {
        EdDsa(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).to_bytes().to_vec()
    }
}

impl fmt::Debug for EdDsaSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EdDsaSigningKey(<redacted>)")
    }
}
