//! Quorum arithmetic, kept pure so it can be table-tested.

use crate::types::Index;

/// Smallest strict majority of `voters`.
pub const fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

/// The quorum rule of one engine: majority of the current voters, and in strict mode at least
/// `min_quorum` (self included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumRule {
    min_quorum: Option<usize>,
}

impl QuorumRule {
    /// Dynamic mode when `min_quorum` is `None`.
    pub const fn new(min_quorum: Option<usize>) -> Self {
        QuorumRule { min_quorum }
    }

    /// How many votes or acknowledgements are needed among `voters` current voters. May exceed
    /// `voters` (strict mode on a minority side), in which case no quorum is possible.
    pub fn required(&self, voters: usize) -> usize {
        majority(voters).max(self.min_quorum.unwrap_or(0))
    }

    /// True when `acks` votes among `voters` form a quorum.
    pub fn is_quorum(&self, acks: usize, voters: usize) -> bool {
        acks >= self.required(voters)
    }

    /// Highest index acknowledged by a quorum, given the match index of every voter (self
    /// included); `None` when the voters cannot form a quorum at all.
    pub fn quorum_index(&self, mut match_indexes: Vec<Index>) -> Option<Index> {
        let required = self.required(match_indexes.len());
        if required > match_indexes.len() {
            return None;
        }
        match_indexes.sort_unstable_by(|a, b| b.cmp(a));
        Some(match_indexes[required - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_table() {
        let cases = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 2),
            (4, 3),
            (5, 3),
            (6, 4),
            (7, 4),
        ];
        for (voters, expected) in cases {
            assert_eq!(majority(voters), expected, "majority({voters})");
        }
    }

    #[test]
    fn strict_mode_adds_minimum() {
        // (min_quorum, voters, acks, is_quorum)
        let cases = [
            (None, 1, 1, true),
            (None, 3, 2, true),
            (None, 4, 2, false),
            (Some(3), 5, 3, true),
            (Some(3), 2, 2, false), // minority side of a 5-node strict group
            (Some(3), 3, 2, false),
            (Some(3), 3, 3, true),
            (Some(2), 7, 3, false), // majority still applies
            (Some(1), 1, 1, true),
        ];
        for (min, voters, acks, expected) in cases {
            let rule = QuorumRule::new(min);
            assert_eq!(
                rule.is_quorum(acks, voters),
                expected,
                "{min:?} {voters} {acks}"
            );
        }
    }

    #[test]
    fn quorum_index_table() {
        let idx = |v: &[u64]| v.iter().copied().map(Index).collect::<Vec<_>>();
        // (min_quorum, match indexes, expected)
        let cases: [(Option<usize>, &[u64], Option<u64>); 6] = [
            (None, &[5], Some(5)),
            (None, &[5, 3, 1], Some(3)),
            (None, &[5, 3, 1, 0], Some(1)),
            (Some(3), &[9, 9], None),
            (Some(3), &[9, 7, 2, 1, 0], Some(2)),
            (None, &[], None),
        ];
        for (min, matches, expected) in cases {
            let got = QuorumRule::new(min).quorum_index(idx(matches));
            assert_eq!(got, expected.map(Index), "{min:?} {matches:?}");
        }
    }
}
