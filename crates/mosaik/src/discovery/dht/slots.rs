//! The 16-slot key chain a network's bootstrap records live under.
//!
//! Every slot is a pkarr key whose secret is derived from the network id
//! alone, so any node that knows the network id can find — and write — every
//! slot without coordination. Slots form a chain so that nodes agree on the
//! full set without exchanging anything.

use crate::{NetworkId, primitives::Digest};

/// Number of bootstrap slots per network.
pub const SLOT_COUNT: usize = 16;

/// The ids of a network's bootstrap slots.
///
/// Slot 0 is the network id itself; slot `i + 1` is
/// `slot_i.derive(slot_i)`, i.e. blake3 of the id concatenated with itself.
pub fn slot_ids(network: NetworkId) -> [Digest; SLOT_COUNT] {
    let mut ids = [network; SLOT_COUNT];
    for i in 1..SLOT_COUNT {
        let previous = ids[i - 1];
        ids[i] = previous.derive(previous.as_bytes());
    }
    ids
}

/// The pkarr keypair of one slot: the slot id bytes are the ed25519 secret.
///
/// Deliberately public knowledge: anyone who knows the network id can
/// publish into any of its slots, which is what lets strangers bootstrap.
pub fn slot_keypair(slot: Digest) -> pkarr::Keypair {
    pkarr::Keypair::from_secret_key(slot.as_bytes())
}

/// The public keys of all slots of a network, in slot order.
pub fn slot_public_keys(network: NetworkId) -> [pkarr::PublicKey; SLOT_COUNT] {
    slot_ids(network).map(|slot| slot_keypair(slot).public_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_zero_is_the_network_id() {
        let network = NetworkId::from("slots-test");
        assert_eq!(slot_ids(network)[0], network);
    }

    #[test]
    fn each_slot_derives_from_the_previous_one() {
        let network = NetworkId::from("slots-test");
        let ids = slot_ids(network);
        for pair in ids.windows(2) {
            let expected = Digest::from_parts(&[pair[0].as_bytes(), pair[0].as_bytes()]);
            assert_eq!(pair[1], expected);
        }
    }

    #[test]
    fn slots_are_distinct_and_network_specific() {
        let a = slot_ids(NetworkId::from("network-a"));
        let b = slot_ids(NetworkId::from("network-b"));
        let mut all: Vec<Digest> = a.iter().chain(b.iter()).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 2 * SLOT_COUNT);
    }

    #[test]
    fn slot_keypair_uses_the_slot_bytes_as_secret() {
        let slot = slot_ids(NetworkId::from("slots-test"))[3];
        let keypair = slot_keypair(slot);
        assert_eq!(keypair.secret_key(), *slot.as_bytes());
        // Deterministic: every node derives the same public key.
        assert_eq!(keypair.public_key(), slot_keypair(slot).public_key());
        assert_eq!(
            slot_public_keys(NetworkId::from("slots-test"))[3],
            keypair.public_key()
        );
    }
}
