//! The fuzzing API (`mosaik::__fuzz`, feature `fuzzing`; always built for
//! tests): every peer-facing decoder as a named [`Target`] with a few valid
//! encodings as seeds. The cargo-fuzz targets in `fuzz/` and the bounded
//! property tests (`network/fuzz.rs`) run the same table, so a decoder added
//! here is fuzzed both ways. Not a stable API.

use {
    crate::{
        NetworkId, PeerId, StreamId,
        primitives::{TicketClass, encoding},
        streams::{ConsumerHandshake, Criteria, StartStream},
        tickets::{EdDsaSigningKey, Jwt, JwtTicketBuilder, Ticket},
    },
    serde::{Serialize, de::DeserializeOwned},
    std::sync::LazyLock,
};

/// One peer-facing decoder.
#[derive(Clone, Copy)]
pub struct Target {
    /// The cargo-fuzz target's name (also the corpus directory).
    pub name: &'static str,
    /// Decodes (and, for tickets, validates) one input; `true` if accepted.
    /// Must never panic, whatever the input.
    pub decode: fn(&[u8]) -> bool,
    /// Valid encodings: the seed corpus.
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every peer-facing decoder: discovery, bond protocol (handshakes, bond
/// and Raft messages, state sync), streams handshakes, tickets and JWTs.
pub fn targets() -> Vec<Target> {
    [
        crate::discovery::FUZZ_TARGETS,
        crate::groups::FUZZ_TARGETS,
        STREAMS_TARGETS,
        TICKETS_TARGETS,
    ]
    .concat()
}

/// The target named `name`.
///
/// # Panics
/// If there is none (a fuzz target and this table disagree).
pub fn target(name: &str) -> Target {
    targets()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
}

/// Whether `bytes` decode as a `T` with the wire encoding.
pub(crate) fn decodes<T: DeserializeOwned>(bytes: &[u8]) -> bool {
    encoding::deserialize::<T>(bytes).is_ok()
}

/// `value` in the wire encoding.
pub(crate) fn enc<T: Serialize>(value: &T) -> Vec<u8> {
    encoding::serialize(value).to_vec()
}

const STREAMS_TARGETS: &[Target] = &[
    Target {
        name: "consumer_handshake",
        decode: decodes::<ConsumerHandshake>,
        seeds: || {
            vec![enc(&ConsumerHandshake {
                network_id: NetworkId::from("n"),
                stream_id: StreamId::from("s"),
                criteria: Criteria::default(),
            })]
        },
    },
    Target {
        name: "start_stream",
        decode: decodes::<StartStream>,
        seeds: || vec![enc(&StartStream(NetworkId::from("n"), StreamId::from("s")))],
    },
];

const TICKETS_TARGETS: &[Target] = &[
    Target {
        name: "ticket",
        decode: decodes::<Ticket>,
        seeds: || {
            vec![enc(&Ticket::new(
                TicketClass::from("c"),
                bytes::Bytes::from_static(b"data"),
            ))]
        },
    },
    Target {
        name: "jwt",
        decode: |token| JWT.0.check(token, &JWT.1).is_ok(),
        seeds: || {
            let builder = JwtTicketBuilder::new(jwt_key())
                .issuer("fuzz")
                .audience("mosaik")
                .token_id("1");
            vec![
                builder.token(&JWT.1).into_bytes(),
                // No expiry: committed seeds must keep verifying.
                builder.claim("role", "member").token(&JWT.1).into_bytes(),
            ]
        },
    },
];

/// A fixed key, so committed JWT seeds keep verifying.
fn jwt_key() -> EdDsaSigningKey {
    EdDsaSigningKey::from_bytes([7; 32])
}

/// The JWT validator under fuzzing and the peer presenting the tokens.
static JWT: LazyLock<(Jwt, PeerId)> = LazyLock::new(|| {
    let peer = iroh::SecretKey::from_bytes(&[9; 32]).public();
    let jwt = Jwt::with_key(jwt_key().verifying_key()).allow_non_expiring();
    (jwt, peer)
});

/// A signed entry of network `net` with a tag, stream, group and ticket.
pub(crate) fn entry(net: &str) -> crate::discovery::SignedPeerEntry {
    let key = iroh::SecretKey::generate();
    crate::discovery::PeerEntry::new(NetworkId::from(net), iroh::EndpointAddr::new(key.public()))
        .add_tags([crate::Tag::from("t")])
        .add_streams([StreamId::from("s")])
        .add_groups([crate::GroupId::from("g")])
        .add_ticket(Ticket::new(
            TicketClass::from("c"),
            bytes::Bytes::from_static(b"ticket"),
        ))
        .sign(&key)
        .unwrap()
}
