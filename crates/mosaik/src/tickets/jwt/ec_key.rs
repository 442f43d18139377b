//! ECDSA keys: ES256 (P-256), ES384 (P-384), ES512 (P-521) and ES256K
//! (secp256k1). Public keys are SEC1-compressed points, kept as bytes and
//! decoded when used, so a constant can be built in a `const` item; bytes
//! that are not a point make [`check`](Es256::check) and every verification
//! fail with an error instead of panicking.

use {super::InvalidKey, crate::primitives::const_hex, core::fmt};

macro_rules! ec_keys {
    (
        $(#[$vdoc:meta])* $verify:ident, $pub_len:literal,
        $(#[$sdoc:meta])* $sign:ident, $sec_len:literal,
        $curve:ident, $alg:literal
    ) => {
        $(#[$vdoc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $verify(pub [u8; $pub_len]);

        impl $verify {
            /// The JOSE `alg` name.
            pub const ALG: &'static str = $alg;

            /// A key from SEC1-compressed point bytes (not checked here;
            /// see [`check`](Self::check)).
            pub const fn new(point: [u8; $pub_len]) -> Self {
                Self(point)
            }

            /// A key from hex text; usable in `const` items (panics at
            /// compile time on bad hex, which is the caller's literal).
            pub const fn hex(point: &str) -> Self {
                Self(const_hex::<$pub_len>(point))
            }

            /// A key from a byte slice, checked to be a point on the curve.
            pub fn from_slice(point: &[u8]) -> Result<Self, InvalidKey> {
                let bytes: [u8; $pub_len] = point.try_into().map_err(|_| {
                    InvalidKey::public($alg, concat!("expected ", $pub_len, " bytes"), point)
                })?;
                let key = Self(bytes);
                key.check()?;
                Ok(key)
            }

            /// The compressed point bytes.
            pub const fn as_bytes(&self) -> &[u8; $pub_len] {
                &self.0
            }

            /// Whether the bytes are a valid point on the curve.
            pub fn check(&self) -> Result<(), InvalidKey> {
                self.decode().map(|_| ())
            }

            pub(crate) fn decode(&self) -> Result<$curve::ecdsa::VerifyingKey, InvalidKey> {
                $curve::ecdsa::VerifyingKey::from_sec1_bytes(&self.0)
                    .map_err(|_| InvalidKey::public($alg, "not a point on the curve", &self.0))
            }

            /// Verifies a JWS (fixed-size `r || s`) signature with `RustCrypto`.
            #[allow(dead_code, reason = "ES256/ES384 verify through jsonwebtoken")]
            pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<bool, InvalidKey> {
                use $curve::ecdsa::signature::Verifier;
                let key = self.decode()?;
                let Ok(sig) = $curve::ecdsa::Signature::from_slice(signature) else {
                    return Ok(false);
                };
                // Accept either s; JWS does not require low-s, and some
                // ES256K signers do not normalise.
                Ok(key.verify(message, &sig.normalize_s()).is_ok())
            }
        }

        impl fmt::Debug for $verify {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($verify), "({})"), hex::encode(self.0))
            }
        }

        $(#[$sdoc])*
        #[derive(Clone)]
        pub struct $sign($curve::ecdsa::SigningKey);

        impl $sign {
            /// A key from its secret scalar; errors if the bytes are zero or
            /// not below the curve order.
            pub fn from_bytes(secret: [u8; $sec_len]) -> Result<Self, InvalidKey> {
                $curve::ecdsa::SigningKey::from_slice(&secret)
                    .map(Self)
                    .map_err(|_| InvalidKey::secret($alg, "secret scalar out of range"))
            }

            /// A fresh random key.
            pub fn random() -> Self {
                use $curve::elliptic_curve::Generate;
                Self($curve::ecdsa::SigningKey::generate_from_rng(&mut rand::rng()))
            }

            /// The secret scalar bytes.
            pub fn to_bytes(&self) -> [u8; $sec_len] {
                self.0.to_bytes().into()
            }

            /// The matching public key.
            pub fn verifying_key(&self) -> $verify {
                let point = self.0.verifying_key().to_sec1_point(true);
                let mut bytes = [0u8; $pub_len];
                bytes.copy_from_slice(point.as_bytes());
                $verify(bytes)
            }

            /// The JWS signature (`r || s`, deterministic per RFC 6979).
            pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
                use $curve::ecdsa::signature::Signer;
                let sig: $curve::ecdsa::Signature = self.0.sign(message);
                sig.to_bytes().to_vec()
            }
        }

        impl fmt::Debug for $sign {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($sign), "(<redacted>)"))
            }
        }
    };
}

ec_keys!(
    /// An ES256 public key: a SEC1-compressed P-256 point (33 bytes).
    Es256, 33,
    /// An ES256 signing key (P-256 scalar, 32 bytes).
    Es256SigningKey, 32,
    p256, "ES256"
);
ec_keys!(
    /// An ES384 public key: a SEC1-compressed P-384 point (49 bytes).
    Es384, 49,
    /// An ES384 signing key (P-384 scalar, 48 bytes).
    Es384SigningKey, 48,
    p384, "ES384"
);
ec_keys!(
    /// An ES512 public key: a SEC1-compressed P-521 point (67 bytes).
    Es512, 67,
    /// An ES512 signing key (P-521 scalar, 66 bytes).
    Es512SigningKey, 66,
    p521, "ES512"
);
ec_keys!(
    /// An ES256K public key: a SEC1-compressed secp256k1 point (33 bytes).
    Es256k, 33,
    /// An ES256K signing key (secp256k1 scalar, 32 bytes).
    Es256kSigningKey, 32,
    k256, "ES256K"
);
