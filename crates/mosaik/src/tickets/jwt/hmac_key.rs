//! HMAC keys (HS256 / HS384 / HS512): one shared secret signs and verifies.

use {
    crate::primitives::const_hex,
    core::fmt,
    hmac::{Hmac, KeyInit, Mac},
    sha2::{Sha256, Sha384, Sha512},
};

macro_rules! hmac_key {
    ($(#[$doc:meta])* $name:ident, $len:literal, $hash:ty, $alg:literal) => {
        $(#[$doc])*
        ///
        /// The same value is both the verifying and the signing key. Its
        /// `Debug` output is redacted.
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The JOSE `alg` name.
            pub const ALG: &'static str = $alg;

            /// A key from its secret bytes.
            pub const fn new(secret: [u8; $len]) -> Self {
                Self(secret)
            }

            /// A key from hex text; usable in `const` items (panics at
            /// compile time on bad hex, which is the caller's literal).
            pub const fn hex(secret: &str) -> Self {
                Self(const_hex::<$len>(secret))
            }

            /// A fresh random secret.
            pub fn random() -> Self {
                Self(rand::random())
            }

            /// The secret bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The MAC of `message` under this secret.
            pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
                // HMAC takes keys of any length, so this never fails.
                let mut mac = <Hmac<$hash> as KeyInit>::new_from_slice(&self.0)
                    .expect("hmac accepts keys of any length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

hmac_key!(
    /// An HS256 (HMAC-SHA-256) secret of 32 bytes.
    Hs256, 32, Sha256, "HS256"
);
hmac_key!(
    /// An HS384 (HMAC-SHA-384) secret of 48 bytes.
    Hs384, 48, Sha384, "HS384"
);
hmac_key!(
    /// An HS512 (HMAC-SHA-512) secret of 64 bytes.
    Hs512, 64, Sha512, "HS512"
);
