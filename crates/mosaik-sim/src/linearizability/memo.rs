//! The search's memory of configurations already explored.
//!
//! Lowe's observation: two search paths that linearized the same *set* of operations and reached
//! the same model state have identical futures, so each `(set, state)` pair needs exploring once.
//! That turns the exponential Wing–Gong search into one that is close to linear on typical
//! histories.
//!
//! Unobserved operations (timeouts) need one refinement, or they bring the exponential back:
//! each can be placed anywhere or nowhere, so the sets multiply. But placing one only ever
//! *removes* options — an unobserved operation constrains nothing and may always be left out — so
//! a configuration is dominated by any explored one with the same observed set and state and a
//! *subset* of its unobserved operations. The memo stores, per `(observed set, state)`, the
//! minimal unobserved sets seen, and prunes every superset of them.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// A set of operation positions, hashed incrementally.
///
/// Each position has a fixed pseudo-random 64-bit key and the hash is the XOR of the keys in the
/// set (Zobrist hashing), so adding or removing an element updates the hash in O(1) and a probe
/// hashes one word however large the history. Equality still compares the bits, so a collision
/// costs time but never a wrong verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Bits {
    words: Vec<u64>,
    hash: u64,
}

impl Bits {
    pub(super) fn new(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)],
            hash: 0,
        }
    }

    pub(super) fn flip(&mut self, index: usize) {
        self.words[index / 64] ^= 1 << (index % 64);
        self.hash ^= zobrist_key(index);
    }

    fn is_subset_of(&self, other: &Self) -> bool {
        self.words
            .iter()
            .zip(&other.words)
            .all(|(a, b)| a & !b == 0)
    }
}

impl Hash for Bits {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A well-mixed key per position (the splitmix64 finalizer).
fn zobrist_key(index: usize) -> u64 {
    let mut z = (index as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Configurations explored so far.
#[derive(Debug)]
pub(super) struct Memo<S> {
    seen: HashMap<Bits, HashMap<S, Vec<Bits>>>,
}

impl<S: Eq + Hash + Clone> Memo<S> {
    pub(super) fn new() -> Self {
        Self {
            seen: HashMap::new(),
        }
    }

    /// Records the configuration and returns `true` unless an explored one dominates it.
    pub(super) fn visit(&mut self, observed: &Bits, state: &S, unobserved: &Bits) -> bool {
        if !self.seen.contains_key(observed) {
            self.seen.insert(observed.clone(), HashMap::new());
        }
        let by_state = self.seen.get_mut(observed).expect("inserted above");
        let Some(minimal) = by_state.get_mut(state) else {
            by_state.insert(state.clone(), vec![unobserved.clone()]);
            return true;
        };
        if minimal.iter().any(|seen| seen.is_subset_of(unobserved)) {
            return false;
        }
        // The new set dominates any stored superset of it; dropping those keeps the list short.
        minimal.retain(|seen| !unobserved.is_subset_of(seen));
        minimal.push(unobserved.clone());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(len: usize, members: &[usize]) -> Bits {
        let mut bits = Bits::new(len);
        for &m in members {
            bits.flip(m);
        }
        bits
    }

    #[test]
    fn bits_hash_depends_only_on_the_set() {
        let a = bits(130, &[3, 64, 129]);
        let b = bits(130, &[129, 7, 3, 64, 7]);
        assert_eq!(a, b);
        assert_eq!(a.hash, b.hash);
        assert_ne!(a, bits(130, &[3, 64]));
    }

    #[test]
    fn subsets() {
        assert!(bits(70, &[1, 65]).is_subset_of(&bits(70, &[1, 2, 65])));
        assert!(!bits(70, &[1, 66]).is_subset_of(&bits(70, &[1, 2, 65])));
        assert!(Bits::new(70).is_subset_of(&bits(70, &[5])));
    }

    #[test]
    fn visits_are_pruned_exactly_when_dominated() {
        let mut memo = Memo::new();
        let observed = bits(10, &[0, 1]);
        let none = Bits::new(4);
        assert!(memo.visit(&observed, &7, &bits(4, &[1, 2])));
        assert!(!memo.visit(&observed, &7, &bits(4, &[1, 2])));
        assert!(!memo.visit(&observed, &7, &bits(4, &[1, 2, 3])));
        assert!(memo.visit(&observed, &7, &bits(4, &[1])));
        assert!(!memo.visit(&observed, &7, &bits(4, &[1, 2])));
        assert!(memo.visit(&observed, &8, &bits(4, &[1, 2])));
        assert!(memo.visit(&bits(10, &[0]), &7, &bits(4, &[1, 2])));
        assert!(memo.visit(&observed, &7, &none));
        assert!(!memo.visit(&observed, &7, &bits(4, &[3])));
    }
}
