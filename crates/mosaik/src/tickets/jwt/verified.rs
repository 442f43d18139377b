//! A bounded memory of tokens whose signature already verified.
//!
//! Streams and groups re-validate a peer's tickets on every entry update
//! and at every expiry check; the signature (the costly part, about a
//! millisecond for ECDSA in a debug build) only depends on the token bytes
//! and the key set, which is fixed once a [`Jwt`](super::Jwt) is built.
//! Claims and times are still checked on every call.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
};

/// Token hashes whose signature verified under one key set. Shared by
/// clones of a validator; replaced (never shared) when keys change.
#[derive(Clone, Default)]
pub(crate) struct Verified(Arc<Mutex<HashSet<[u8; 32]>>>);

impl Verified {
    /// At most this many tokens are remembered; when full the set is
    /// cleared, so memory stays bounded and a flood of distinct valid tokens
    /// only costs re-verification.
    pub const CAPACITY: usize = 1024;

    /// Whether the token with this hash verified before.
    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(hash)
    }

    /// Remembers that the token with this hash verified.
    pub fn insert(&self, hash: [u8; 32]) {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if set.len() >= Self::CAPACITY {
            set.clear();
        }
        set.insert(hash);
    }

    /// How many tokens are remembered (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl core::fmt::Debug for Verified {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        write!(f, "Verified({n} tokens)")
    }
}

#[cfg(test)]
mod tests {
    use super::Verified;

    #[test]
    fn bounded_and_shared_by_clones() {
        let v = Verified::default();
        let clone = v.clone();
        for i in 0..Verified::CAPACITY + 10 {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            v.insert(h);
        }
        assert!(clone.len() <= Verified::CAPACITY);
        let mut last = [0u8; 32];
        last[..8].copy_from_slice(&((Verified::CAPACITY + 9) as u64).to_le_bytes());
        assert!(clone.contains(&last));
        assert!(!Verified::default().contains(&last));
    }
}
