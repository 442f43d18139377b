//! JWT tickets: the [`Jwt`] validator, its key types and
//! [`JwtTicketBuilder`].
//!
//! Supported algorithms: HS256, HS384, HS512, ES256, ES384, ES512, ES256K,
//! `EdDSA` (Ed25519), plus caller-supplied ones through
//! [`VerifyingKey::custom`] / [`SigningKey::custom`]. `alg: none` is never
//! accepted, and a token is only checked with keys of the algorithm its
//! header names, so an HMAC token cannot be verified with a public key's
//! bytes used as the secret (algorithm confusion).
//!
//! Signature checks use maintained libraries: the `jsonwebtoken` crate's
//! `RustCrypto` backend for HS*, ES256, ES384 and `EdDSA`, and the `RustCrypto`
//! `p521` / `k256` crates for ES512 / ES256K, which `jsonwebtoken` lacks.

mod builder;
mod claims;
mod compact;
mod ec_key;
mod ed_key;
mod error;
mod hmac_key;
mod signing;
mod validator;
mod verified;
mod verifying;

pub use {
    builder::JwtTicketBuilder,
    ec_key::{
        Es256, Es256SigningKey, Es256k, Es256kSigningKey, Es384, Es384SigningKey, Es512,
        Es512SigningKey,
    },
    ed_key::{EdDsa, EdDsaSigningKey},
    error::{InvalidKey, JwtRejection},
    hmac_key::{Hs256, Hs384, Hs512},
    signing::{CustomSigner, CustomSigningKey, SigningKey},
    validator::Jwt,
    verifying::{CustomVerifier, CustomVerifyingKey, VerifyingKey},
};
