//! Shared helpers: peers, entries, and hand-made tokens.

use {
    base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD},
    chrono::Duration,
    mosaik::{
        NetworkId, PeerId, SecretKey,
        discovery::PeerEntry,
        iroh::EndpointAddr,
        tickets::{Expiration, Ticket, jwt::JwtRejection},
    },
};

/// A fresh peer id.
pub fn peer() -> PeerId {
    SecretKey::generate().public()
}

/// An unsigned entry of `id` carrying `tickets`.
pub fn entry(id: PeerId, tickets: impl IntoIterator<Item = Ticket>) -> PeerEntry {
    tickets.into_iter().fold(
        PeerEntry::new(NetworkId::from("tickets-test"), EndpointAddr::new(id)),
        PeerEntry::add_ticket,
    )
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes one base64url part.
pub fn unb64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(part)
        .expect("test token part is base64url")
}

/// The three parts of a compact token.
pub fn parts(token: &[u8]) -> [String; 3] {
    let text = std::str::from_utf8(token).expect("token is utf-8");
    let v: Vec<&str> = text.split('.').collect();
    assert_eq!(v.len(), 3, "token has three parts");
    [v[0].to_owned(), v[1].to_owned(), v[2].to_owned()]
}

/// Joins three parts back into token bytes.
pub fn join(parts: &[String; 3]) -> Vec<u8> {
    parts.join(".").into_bytes()
}

/// The lower-case subject a ticket for `peer` must carry by default.
pub fn subject(peer: &PeerId) -> String {
    peer.to_string().to_lowercase()
}

/// Asserts that `result` is the rejection `expected`.
#[track_caller]
pub fn assert_rejected<T: std::fmt::Debug>(
    result: Result<T, JwtRejection>,
    expected: &JwtRejection,
) {
    match result {
        Err(got) => assert_eq!(&got, expected, "rejected for another reason"),
        Ok(v) => panic!("accepted ({v:?}), expected {expected:?}"),
    }
}

/// A token with exactly this header and payload JSON text, HS256-signed
/// with `secret` by the `jsonwebtoken` crate.
pub fn hs256_raw(secret: &[u8], header: &str, payload: &str) -> Vec<u8> {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = jsonwebtoken::EncodingKey::from_secret(secret).unwrap();
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{input}.{sig}").into_bytes()
}

/// An expiry five minutes from now.
pub fn in_5_min() -> Expiration {
    Expiration::after(Duration::minutes(5))
}
